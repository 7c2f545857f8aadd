#!/usr/bin/env bash
# scripts/serve_replicas.sh: 3 replicas behind HAProxy survive kill -9 and a rolling restart
# without a failed request, and keep a session on one replica.
#   bash tests/e2e/serve_replicas.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 600 python3 "$(dirname "$0")/serve_replicas.py" "$1" "$2"
