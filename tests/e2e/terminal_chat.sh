#!/usr/bin/env bash
# `jisu chat` driven through a pseudo-terminal: history, /reset, /system, Ctrl-C, Ctrl-D.
#   bash tests/e2e/terminal_chat.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/terminal_chat.py" "$1" "$2"
