#!/usr/bin/env bash
# Hugging Face model folders: `-m DIR` and `jisu convert` against the fixtures (see hf_folders.py).
#   bash tests/e2e/hf_folders.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/hf_folders.py" "$1" "$2"
