#!/usr/bin/env bash
# Installs what the test suite needs besides the build's packages, when missing: GoogleTest,
# Google Benchmark, the Python references (numpy, jinja2, OpenAI's client, gguf), HAProxy for the
# replicas' test, Chromium for the web chat's test, and clang with its libFuzzer runtime for the
# fuzz targets. Only scripts/test.sh runs this; scripts/run.sh never changes your Python.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_deps.sh libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy python3-jinja2 python3-jsonschema curl haproxy chromium clang

# The fuzz targets (tests/fuzz) link clang's libFuzzer runtime, packaged per clang version.
clang_major=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
if [[ -n $clang_major ]] && ! ls /usr/lib/llvm-"$clang_major"/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "installing libclang-rt-$clang_major-dev (libFuzzer)"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "libclang-rt-$clang_major-dev" >/dev/null
fi

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

# The structured-output test judges outputs with the `jsonschema` package.
if ! python3 -c 'import jsonschema' 2>/dev/null; then
  echo "installing jsonschema for $(command -v python3)"
  python3 -m pip install --quiet jsonschema || echo "warning: could not install jsonschema; serve_openai_surface will fail"
fi

# The embeddings' test writes its random-weight BERT and reads it back for the numpy reference
# with the gguf package (llama.cpp's own GGUF reader and writer); without it that test is skipped.
if ! python3 -c 'import gguf' 2>/dev/null; then
  echo "installing gguf for $(command -v python3)"
  python3 -m pip install --quiet gguf || echo "warning: could not install gguf; the embeddings test will be skipped"
fi
