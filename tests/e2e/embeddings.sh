#!/usr/bin/env bash
# Embeddings of a random-weight BERT (written into the build folder by tests/tools/bert_fixture.py)
# against a float64 numpy reference: `jisu embed` and POST /v1/embeddings (OpenAI's client).
#   bash tests/e2e/embeddings.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/embeddings.py" "$1" "$2"
