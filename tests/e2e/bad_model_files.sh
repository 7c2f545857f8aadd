#!/usr/bin/env bash
# `jisu info` on files that are not valid models: each must fail cleanly, with exit status 1
# (not a signal), nothing on stdout and exactly one line on stderr starting with "error:".
# A good fixture must still work.
#   bash tests/e2e/bad_model_files.sh path/to/jisu path/to/source-dir
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
GOOD=$FIXTURES/models/tiny-llama-s1.q4_k_m.gguf
VOCAB=$FIXTURES/tokenizers/ggml-vocab-gpt-2.gguf

if [ ! -x "$JISU" ]; then
  echo "FAIL: $JISU is not an executable" >&2
  exit 1
fi
if [ ! -f "$GOOD" ]; then
  echo "FAIL: fixture $GOOD not found (set JISU_SHARED_DIR?)" >&2
  exit 1
fi
JISU=$(cd "$(dirname "$JISU")" && pwd)/$(basename "$JISU")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-bad-model-files.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1  # a core dump, if any, would land here

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_clean_error DESCRIPTION ARGS...: runs `jisu info ARGS...`.
expect_clean_error() {
  local what=$1
  shift
  "$JISU" info "$@" >"$TMP/stdout" 2>"$TMP/stderr"
  local rc=$?
  if [ $rc -eq 0 ]; then
    fail "$what: exit status 0, expected an error"
  elif [ $rc -ge 128 ]; then
    fail "$what: killed by signal $((rc - 128)) (exit status $rc)"
  elif [ $rc -ne 1 ]; then
    fail "$what: exit status $rc, expected 1"
  fi
  local lines
  lines=$(wc -l <"$TMP/stderr")
  if [ "$lines" -ne 1 ] || [ -n "$(tail -c 1 "$TMP/stderr" | tr -d '\n')" ]; then
    fail "$what: expected exactly one line on stderr, got:"
    sed 's/^/    | /' "$TMP/stderr" | head -20 >&2
  elif [ "$(head -c 6 "$TMP/stderr")" != "error:" ]; then
    fail "$what: stderr does not start with 'error:': $(cat "$TMP/stderr")"
  fi
  if [ -s "$TMP/stdout" ]; then
    fail "$what: unexpected output on stdout:"
    head -5 "$TMP/stdout" | sed 's/^/    | /' >&2
  fi
  echo "ok: $what -> $(head -c 300 "$TMP/stderr" | head -1)"
}

# Bad inputs.
expect_clean_error "missing file" "$TMP/does-not-exist.gguf"
: >"$TMP/empty.gguf"
expect_clean_error "empty file" "$TMP/empty.gguf"
printf 'This is a text file.\nIt is not a model.\n' >"$TMP/text.gguf"
expect_clean_error "text file" "$TMP/text.gguf"
mkdir "$TMP/a-directory.gguf"
expect_clean_error "a directory" "$TMP/a-directory.gguf"
printf 'GGUF' >"$TMP/magic-only.gguf"
expect_clean_error "magic only" "$TMP/magic-only.gguf"

size=$(wc -c <"$GOOD")
for cut in 100 600 5000 12000 13460 20000 $((size / 2)) $((size - 1)); do
  head -c "$cut" "$GOOD" >"$TMP/truncated-$cut.gguf"
  expect_clean_error "fixture truncated to $cut of $size bytes" "$TMP/truncated-$cut.gguf"
done

# Corrupted headers: bad magic, version 1, huge metadata count.
{ printf 'GGUX'; tail -c +5 "$GOOD"; } >"$TMP/bad-magic.gguf"
expect_clean_error "bad magic" "$TMP/bad-magic.gguf"
{ head -c 4 "$GOOD"; printf '\001\000\000\000'; tail -c +9 "$GOOD"; } >"$TMP/version1.gguf"
expect_clean_error "GGUF version 1" "$TMP/version1.gguf"
{ head -c 16 "$GOOD"; printf '\377\377\377\377\377\377\377\177'; tail -c +25 "$GOOD"; } >"$TMP/huge-count.gguf"
expect_clean_error "huge metadata count" "$TMP/huge-count.gguf"

# The same bad file through -m.
expect_clean_error "truncated file via -m" -m "$TMP/truncated-5000.gguf"

# A good fixture works.
"$JISU" info "$GOOD" >"$TMP/stdout" 2>"$TMP/stderr"
rc=$?
if [ $rc -ne 0 ]; then
  fail "good fixture: exit status $rc: $(head -5 "$TMP/stderr")"
elif ! grep -q llama "$TMP/stdout"; then
  fail "good fixture: output does not mention llama"
elif [ -s "$TMP/stderr" ]; then
  fail "good fixture: unexpected stderr: $(head -5 "$TMP/stderr")"
else
  echo "ok: good fixture"
fi
"$JISU" info --tensors "$GOOD" >"$TMP/stdout" 2>"$TMP/stderr"
rc=$?
if [ $rc -ne 0 ] || ! grep -q 'blk.2.ffn_down.weight' "$TMP/stdout" || ! grep -q 'q6_K' "$TMP/stdout"; then
  fail "good fixture --tensors: exit status $rc, tensor list missing"
else
  echo "ok: good fixture --tensors"
fi
if [ -f "$VOCAB" ]; then
  if "$JISU" info "$VOCAB" >"$TMP/stdout" 2>"$TMP/stderr" && grep -q 'vocab size 50257' "$TMP/stdout"; then
    echo "ok: vocab-only file"
  else
    fail "vocab-only file: $(head -5 "$TMP/stderr")"
  fi
fi

if compgen -G "$TMP/core*" >/dev/null; then
  fail "core dump left in $TMP"
fi

if [ $failures -ne 0 ]; then
  echo "bad_model_files: $failures failure(s)" >&2
  exit 1
fi
echo "bad_model_files: all passed"
