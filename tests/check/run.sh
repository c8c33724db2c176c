#!/usr/bin/env bash
# The checker's corpus: every tests/check/NAME.mix is checked with `mixc check -q`; its stderr must
# equal NAME.err exactly and its exit status the one stated on the file's first line
# ("# expect: exit N"; 1 when absent). An exit-1 case must report an error, an exit-0 case a warning
# (and no error). UPDATE=1 rewrites the .err files: review every change by hand.
set -u
cd "$(dirname "$0")/../.."
MIXC=${MIXC:-${BUILD:-build}/mixc}
here=tests/check
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1
failed=0

fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'; failed=1; }

expected_exit() {
  local n
  n=$(head -n 1 "$1" | sed -n 's/^# expect: exit \([0-9]\)$/\1/p')
  echo "${n:-1}"
}

for mix in "$here"/*.mix; do
  name=$(basename "$mix" .mix)
  want=$(expected_exit "$mix")
  "$MIXC" check -q "$mix" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "${UPDATE:-0}" = 1 ] && cp "$tmp/err" "$here/$name.err"
  if [ "$rc" -ne "$want" ]; then
    fail "check/$name" "exit status $rc, expected $want" "$(head -n 30 "$tmp/err")"
    continue
  fi
  if [ -s "$tmp/out" ]; then
    fail "check/$name" "-q printed on stdout:" "$(head -n 5 "$tmp/out")"
    continue
  fi
  errors=$(grep -c ': error: ' "$tmp/err")
  warnings=$(grep -c ': warning: ' "$tmp/err")
  if [ "$want" -eq 1 ] && [ "$errors" -eq 0 ]; then
    fail "check/$name" "exit 1 without an error message"
    continue
  fi
  if [ "$want" -eq 0 ] && { [ "$warnings" -eq 0 ] || [ "$errors" -ne 0 ]; }; then
    fail "check/$name" "an exit-0 case must warn and not err ($warnings warnings, $errors errors)"
    continue
  fi
  if [ ! -f "$here/$name.err" ]; then
    fail "check/$name" "no expected output $here/$name.err (run with UPDATE=1 and review it)"
    continue
  fi
  if ! diff -u "$here/$name.err" "$tmp/err" >"$tmp/diff"; then
    fail "check/$name" "stderr differs from $here/$name.err:" "$(head -n 40 "$tmp/diff")"
    continue
  fi
  echo "PASS check/$name"
done

for err in "$here"/*.err; do
  [ -e "$err" ] || continue
  name=$(basename "$err" .err)
  [ -f "$here/$name.mix" ] || fail "check/$name" "$err has no $here/$name.mix"
done

# Without -q the layout of an exit-0 case goes to stdout, the diagnostics still to stderr only.
for mix in "$here"/*.mix; do
  [ "$(expected_exit "$mix")" = 0 ] || continue
  name=$(basename "$mix" .mix)
  "$MIXC" check "$mix" >"$tmp/out" 2>"$tmp/err"
  if grep -q '^layer  attention' "$tmp/out" && ! grep -q 'warning' "$tmp/out" && grep -q 'warning' "$tmp/err"; then
    echo "PASS check-streams/$name"
  else
    fail "check-streams/$name" "layout on stdout and warnings on stderr expected"
  fi
done
exit $failed
