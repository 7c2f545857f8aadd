#!/usr/bin/env bash
# Installs what the test suite needs besides the build's packages, when missing: GoogleTest,
# Google Benchmark, the Python references (numpy, jinja2, OpenAI's client), HAProxy for the
# replicas' test and Chromium for the web chat's test. Only scripts/test.sh runs this; scripts/run.sh never changes your Python.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy python3-jinja2 curl haproxy chromium

# The chat-template tests compare against Python's jinja2; the python3 first on PATH may not
# be Debian's (pyenv, venv), so make sure that one has it.
if ! python3 -c 'import jinja2' 2>/dev/null; then
  echo "installing jinja2 for $(command -v python3)"
  python3 -m pip install --quiet jinja2 || echo "warning: could not install jinja2; chat-template comparisons will be skipped"
fi

# The server tests also stream a chat completion through OpenAI's own client when it is
# importable; without it that one check is skipped.
if ! python3 -c 'import openai' 2>/dev/null; then
  echo "installing openai for $(command -v python3)"
  python3 -m pip install --quiet openai || echo "warning: could not install openai; its client check will be skipped"
fi
