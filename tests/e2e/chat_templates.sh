#!/usr/bin/env bash
# `jisu chat-template` against jinja2 (tests/chat_templates/compare_with_jinja2.py): every
# fixture template (and tests/chat_templates/templates) x every conversation in
# tests/chat_templates/conversations, generation prompt on and off, byte-identical output or
# the same failure.
#   bash tests/e2e/chat_templates.sh path/to/jisu path/to/source-dir
set -u

if [ $# -lt 2 ]; then
  echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2
  exit 2
fi
JISU=$1
SOURCE_DIR=$2
if [ -n "${JISU_SHARED_DIR:-}" ]; then
  FIXTURES=$JISU_SHARED_DIR/fixtures
else
  FIXTURES=$SOURCE_DIR/../shared/fixtures
fi

if [ ! -x "$JISU" ]; then
  echo "FAIL: $JISU is not an executable" >&2
  exit 1
fi
if [ ! -d "$FIXTURES/chat-templates" ]; then
  echo "FAIL: fixture directory $FIXTURES/chat-templates not found (set JISU_SHARED_DIR?)" >&2
  exit 1
fi
if ! python3 -c 'import jinja2' 2>/dev/null; then
  echo "FAIL: python3 with jinja2 is required (scripts/install_deps.sh installs it)" >&2
  exit 1
fi
JISU=$(cd "$(dirname "$JISU")" && pwd)/$(basename "$JISU")

# The fixture templates, plus tests/chat_templates/templates: jinja features and builtins the
# fixtures leave out, and templates on which jinja2 must fail.
exec python3 "$SOURCE_DIR/tests/chat_templates/compare_with_jinja2.py" "$JISU" \
  "$SOURCE_DIR/tests/chat_templates/conversations" "$FIXTURES/chat-templates" "$SOURCE_DIR/tests/chat_templates/templates"
