#!/usr/bin/env bash
# Golden tests of the examples: for every examples/NAME.mix, `mixc check` must exit 0, print exactly
# tests/examples/NAME.out on stdout, and print nothing on stderr (or exactly NAME.err when the
# example has warnings on purpose). UPDATE=1 rewrites the goldens from the current output; review
# them by hand before committing.
set -u
cd "$(dirname "$0")/../.."
MIXC=${MIXC:-${BUILD:-build}/mixc}
here=tests/examples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'; failed=1; }

for mix in examples/*.mix; do
  name=$(basename "$mix" .mix)
  "$MIXC" check "$mix" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "${UPDATE:-0}" = 1 ]; then
    cp "$tmp/out" "$here/$name.out"
    if [ -s "$tmp/err" ]; then cp "$tmp/err" "$here/$name.err"; else rm -f "$here/$name.err"; fi
  fi
  if [ "$rc" -ne 0 ]; then
    fail "examples/$name" "exit status $rc, expected 0" "$(head -n 20 "$tmp/err")"
    continue
  fi
  if [ ! -f "$here/$name.out" ]; then
    fail "examples/$name" "no golden $here/$name.out (run with UPDATE=1 and review it)"
    continue
  fi
  if ! diff -u "$here/$name.out" "$tmp/out" >"$tmp/diff"; then
    fail "examples/$name" "stdout differs from $here/$name.out:" "$(head -n 40 "$tmp/diff")"
    continue
  fi
  expected_err=/dev/null
  [ -f "$here/$name.err" ] && expected_err=$here/$name.err
  if ! diff -u "$expected_err" "$tmp/err" >"$tmp/diff"; then
    fail "examples/$name" "unexpected diagnostics:" "$(head -n 40 "$tmp/diff")"
    continue
  fi
  echo "PASS examples/$name"
done

# A golden without its example is stale.
for golden in "$here"/*.out; do
  [ -e "$golden" ] || continue
  name=$(basename "$golden" .out)
  [ -f "examples/$name.mix" ] || fail "examples/$name" "golden $golden has no examples/$name.mix"
done

# The same examples as JSON must parse and agree with the text form (one Python for all of them).
if command -v python3 >/dev/null; then
  for mix in examples/*.mix; do
    "$MIXC" check --format=json "$mix" >"$tmp/$(basename "$mix" .mix).json" 2>/dev/null
  done
  python3 - "$tmp"/*.json <<'PY' || failed=1
import json, os, sys
for path in sys.argv[1:]:
    name = os.path.basename(path)[:-5]
    try:
        d = json.load(open(path))
        assert len(d["layers"]) == d["model"]["layers"], "layer count"
        owners = [l["index"] for l in d["layers"] if l["reads"] == l["index"]]
        assert [c["owner"] for c in d["caches"]] == owners, "caches in owner order"
        for i, l in enumerate(d["layers"]):
            assert l["index"] == i, "index of layer %d" % i
            assert d["layers"][l["reads"]]["reads"] == l["reads"], "layer %d reads a non-owner" % i
            assert d["caches"][l["cache"]]["owner"] == l["reads"], "cache of layer %d" % i
        print("PASS examples-json/" + name)
    except Exception as e:
        print("FAIL examples-json/%s\n    %r" % (name, e))
        sys.exit(1)
PY
fi
exit $failed
