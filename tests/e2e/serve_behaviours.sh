#!/usr/bin/env bash
# `jisu serve`: routes, chat, errors (400/401/404), disconnects, SIGTERM while idle.
#   bash tests/e2e/serve_behaviours.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/serve_behaviours.py" "$1" "$2"
