#!/usr/bin/env bash
# `jisu chat-template` against jinja2 (tests/chat_templates/compare_with_jinja2.py): every
# fixture template (and tests/chat_templates/templates: jinja features and builtins the fixtures
# leave out, templates on which jinja2 must fail) x every conversation in
# tests/chat_templates/conversations, generation prompt on and off, plus the one-line templates
# of tests/chat_templates/expressions.txt: byte-identical output or the same failure.
#   bash tests/e2e/chat_templates.sh path/to/jisu path/to/source-dir
set -u
JISU=${1:?usage: $0 JISU_BINARY SOURCE_DIR}
SOURCE_DIR=${2:?usage: $0 JISU_BINARY SOURCE_DIR}
FIXTURES=${JISU_SHARED_DIR:-$SOURCE_DIR/../shared}/fixtures

if ! python3 -c 'import jinja2' 2>/dev/null; then
  echo "FAIL: python3 with jinja2 is required (scripts/install_deps.sh installs it)" >&2
  exit 1
fi
# The driver fails, naming them, on a missing binary or template directory.
exec python3 "$SOURCE_DIR/tests/chat_templates/compare_with_jinja2.py" "$JISU" \
  "$SOURCE_DIR/tests/chat_templates/conversations" "$FIXTURES/chat-templates" "$SOURCE_DIR/tests/chat_templates/templates" \
  --expressions "$SOURCE_DIR/tests/chat_templates/expressions.txt"
