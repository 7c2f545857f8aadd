#!/usr/bin/env bash
# Quick start, command 1: install the Debian packages the build needs when missing, build the
# `jisu` binary only, and generate text with the bundled model. Arguments are passed to
# `jisu run` (e.g. -p "JULIET:" -n 200).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
JISU_BUILD_TARGET=jisu scripts/build.sh
exec build/jisu run "$@"
