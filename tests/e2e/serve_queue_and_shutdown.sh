#!/usr/bin/env bash
# `jisu serve`: a full queue (429) and SIGTERM with requests in flight.
#   bash tests/e2e/serve_queue_and_shutdown.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/serve_queue_and_shutdown.py" "$1" "$2"
