#!/usr/bin/env bash
# `jisu serve` against the requests and flags issue 20's audit broke it with.
#   bash tests/e2e/serve_hostile_clients.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 600 python3 "$(dirname "$0")/serve_hostile_clients.py" "$1" "$2"
