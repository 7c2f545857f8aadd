#!/usr/bin/env bash
# CLI commands on hostile input (issue 20): each must end with exit status 1 and one line on
# stderr starting with "error:" that names the problem -- not an abort or a crash.
#   bash tests/e2e/hostile_cli.sh path/to/jisu path/to/source-dir
set -u
[ $# -ge 2 ] || { echo "usage: $0 JISU_BINARY SOURCE_DIR" >&2; exit 2; }
JISU=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-hostile-cli.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0

# expect_error DESCRIPTION EXPECTED_TEXT COMMAND...
expect_error() {
  local what=$1 expected=$2
  shift 2
  "$@" >"$TMP/stdout" 2>"$TMP/stderr"
  local rc=$?
  local lines
  lines=$(wc -l <"$TMP/stderr")
  if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -q "^error: .*$expected" "$TMP/stderr"; then
    echo "FAIL: $what: exit $rc, stderr: $(head -c 300 "$TMP/stderr")" >&2
    failures=$((failures + 1))
  else
    echo "ok: $what"
  fi
}

# 11. Threads the system refuses (here: too little address space for their stacks). An
# AddressSanitizer build reserves terabytes of shadow address space at start, so no ulimit -v
# leaves it room to start at all: that build skips this check.
if grep -qa __asan_init "$JISU"; then
  echo "skip: jisu run -t 1024 under ulimit -v (AddressSanitizer build)"
else
  expect_error "jisu run -t 1024 without room for the threads" "cannot start 1024 threads" \
    bash -c "ulimit -v 1500000; exec '$JISU' run -t 1024 -p x -n 1"
fi

# 6. A messages file nested 100,000 deep aborted jisu chat-template.
python3 -c "print('[' * 100000 + ']' * 100000)" >deep.json
echo '{{ messages }}' >plain.jinja
expect_error "chat-template with messages nested 100,000 deep" "nests JSON deeper than 512" \
  "$JISU" chat-template --template plain.jinja --messages deep.json

# 2, 5. Template failures through the CLI: one line each.
echo '[{"role": "user", "content": "hi"}]' >messages.json
echo '{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}' >recursive.jinja
expect_error "recursive loop without end" "recursive loop nested" \
  "$JISU" chat-template --template recursive.jinja --messages messages.json
echo "{{ '%99999999999999999999s' % 'a' }}" >width.jinja
expect_error "format width past 64 bits" "format width too large" \
  "$JISU" chat-template --template width.jinja --messages messages.json

# KV cache types (issue 13): a type the cache cannot store, on each command that has one.
expect_error "run with an unknown key cache type" "cache-type-k: q5_0 not in" "$JISU" run --cache-type-k q5_0 -p x -n 1
expect_error "bench with an unknown value cache type" "cache-type-v: int8 not in" "$JISU" bench --cache-type-v int8 -p 0 -n 1
expect_error "bench at a negative depth" "-d must not be negative" "$JISU" bench -d -5 -p 0 -n 1 -r 1 --no-probe
printf 'To be, or not to be, that is the question.\n%.0s' $(seq 40) >text.txt
expect_error "perplexity with an unknown key cache type" "cache-type-k: q4_k not in" \
  "$JISU" perplexity -f text.txt -c 16 --cache-type-k q4_k

[ $failures -eq 0 ] || { echo "hostile_cli: $failures failure(s)" >&2; exit 1; }
echo "hostile_cli: all passed"
