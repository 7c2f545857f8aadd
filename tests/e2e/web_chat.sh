#!/usr/bin/env bash
# The web chat at / of `jisu serve`, driven in headless Chromium (skipped, exit 77, without it).
#   bash tests/e2e/web_chat.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/web_chat.py" "$1" "$2"
