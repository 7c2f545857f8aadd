#!/usr/bin/env bash
# What a new user meets first in `jisu run`, `jisu chat` and `jisu bench`: --help shows every
# default; a bad value is one error line naming the flag typed (-n, not max_tokens), exit 1,
# before any model loads; -f FILE and -f - (standard input) give the same text as -p; the
# loading line gives the model's size; bench explains its columns.
#   bash tests/e2e/cli_first_hour.sh path/to/jisu path/to/source-dir
set -u
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
JISU=$1
MODEL=$2/models/demo-shakespeare.q8_0.gguf
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_flag_error FLAG ARGS...: one "error:" line that names FLAG and no field name.
expect_flag_error() {
  local flag=$1
  shift
  "$JISU" "$@" >"$work/out" 2>"$work/err"
  local status=$?
  local lines
  lines=$(wc -l <"$work/err")
  if [ $status -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -qE "^error: $flag[: ]" "$work/err" ||
     grep -qE 'max_tokens|temperature must|top_p|repetition_penalty' "$work/err"; then
    fail "jisu $*: exit $status, expected one error line naming $flag: $(cat "$work/err")"
  fi
  [ -s "$work/out" ] && fail "jisu $*: printed on stdout before failing: $(cat "$work/out")"
}
expect_flag_error -n run -n 0
expect_flag_error --temp run --temp -1
expect_flag_error --top-p run --top-p 1.5
expect_flag_error --min-p run --min-p 2
expect_flag_error --repeat-penalty run --repeat-penalty 0
expect_flag_error -n chat -n 0
expect_flag_error -f run -f "$work/no-such-file"
# CLI11's own checks, in one line with the short flag when that is what was typed.
expect_flag_error -t: run -t 5000
expect_flag_error --threads: run --threads 5000
expect_flag_error -p run -p a -f b

# --help: each default as SamplingParams and the commands define them.
"$JISU" run --help >"$work/help"
for default in "n-predict INT=128" "temp FLOAT=0.8" "top-k INT=40" "top-p FLOAT=0.95" "min-p FLOAT=0.05" \
               "repeat-penalty FLOAT=1" "repeat-last-n INT=64" "batch-size INT:INT in [1 - 65536]=256" \
               "model TEXT=the bundled demo model" "seed UINT"; do
  grep -qF -- "--$default" "$work/help" || fail "jisu run --help does not show --$default"
done
"$JISU" chat --help | grep -qF -- "--n-predict INT=256" || fail "jisu chat --help does not show -n's default 256"

# The prompt from a file and from standard input: the same greedy text as -p.
printf 'JULIET:\nO Romeo' >"$work/prompt.txt"
"$JISU" run -m "$MODEL" -p "$(cat "$work/prompt.txt")" -n 12 --temp 0 -q >"$work/from_p" 2>/dev/null
"$JISU" run -m "$MODEL" -f "$work/prompt.txt" -n 12 --temp 0 -q >"$work/from_f" 2>/dev/null
"$JISU" run -m "$MODEL" -f - -n 12 --temp 0 -q <"$work/prompt.txt" >"$work/from_stdin" 2>/dev/null
[ -s "$work/from_p" ] && head -c 7 "$work/from_p" | grep -q "JULIET:" || fail "jisu run -p did not echo its prompt"
cmp -s "$work/from_p" "$work/from_f" || fail "run -f FILE differs from -p: $(cat "$work/from_f")"
cmp -s "$work/from_p" "$work/from_stdin" || fail "run -f - differs from -p: $(cat "$work/from_stdin")"

# The loading line: file size as `ls` gives it (decimal MB), then the time.
"$JISU" run -m "$MODEL" -n 2 >/dev/null 2>"$work/err"
bytes=$(stat -c %s "$MODEL")
size=$(awk -v b="$bytes" 'BEGIN { printf "%.1f MB", b / 1e6 }')
grep -qE "^loaded .*demo-shakespeare.q8_0.gguf \($size\) in [0-9.]+ s: llama, 4 layers" "$work/err" ||
  fail "no loading line with the size $size: $(head -1 "$work/err")"

# bench: the columns explained under the table.
"$JISU" bench -m "$MODEL" -p 8 -n 4 -r 1 -t 1 --no-probe >"$work/bench"
grep -q "^| pp8 " "$work/bench" && grep -q "t/s: tokens per second" "$work/bench" && grep -q "roofline %:" "$work/bench" ||
  fail "bench does not explain its columns: $(cat "$work/bench")"

if [ $failures -gt 0 ]; then
  echo "cli first hour: $failures failure(s)" >&2
  exit 1
fi
echo "cli first hour: ok"
