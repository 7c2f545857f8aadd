#!/usr/bin/env bash
# `jisu serve` through OpenAI's Python client: json_schema outputs checked by `jsonschema`,
# grammar, a tool-call round trip, n > 1, logit_bias, include_usage, echo, --alias, bad input.
#   bash tests/e2e/serve_openai_surface.sh path/to/jisu path/to/source-dir
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
exec timeout 300 python3 "$(dirname "$0")/serve_openai_surface.py" "$1" "$2"
