#!/usr/bin/env bash
# `jisu serve`: concurrent greedy requests equal sequential ones; the prefix cache works.
#   bash tests/e2e/serve_concurrency.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/serve_concurrency.py" "$1" "$2"
