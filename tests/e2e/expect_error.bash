# Sourced by e2e scripts (not a test itself: ctest runs only *.sh): runs a command that must fail
# on bad input with exactly one "error:" line on stderr, exit status 1 and nothing left in out/.
# Needs fail() from the sourcing script and a writable current directory.
#   expect_error "description" "$JISU" command --flags out/x.gguf
expect_error() {
  local what=$1; shift
  mkdir -p out && rm -rf out/* out/.[!.]*
  "$@" > /dev/null 2> err.txt
  local status=$?
  [ $status -eq 1 ] || fail "$what: exit status $status"
  [ "$(wc -l < err.txt)" -eq 1 ] && grep -q '^error:' err.txt || fail "$what: stderr is not one error line: $(cat err.txt)"
  [ -z "$(ls -A out)" ] || fail "$what: left $(ls -A out)"
}
