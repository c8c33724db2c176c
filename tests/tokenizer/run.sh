#!/usr/bin/env bash
# runtime/tok against the Hugging Face tokenizers package, without Python: each
# tests/tokenizer/fixtures/FAMILY holds a tokenizer.json trained by the package on a small multilingual
# corpus and the ids and decoded text the package gives for each corpus line (make_fixtures.py,
# `make refresh-tokenizer-fixtures`). For each family: the ids equal on every line, the decoded text
# equal (with and without special tokens), and a long mixed text decodes back to itself. Each file of
# fixtures/refuse holds one thing runtime/tok does not support: loading it must fail naming it.
# Then mixrun --text against mixrun --tokens with the ids of the same text.
# MIXC_TOKENIZER_FIXTURES=DIR compares against fixtures made elsewhere (`make test-python` makes them fresh).
# Prints PASS/FAIL lines; exits 1 on failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
RUN=$BUILD/mixrun
TT=$BUILD/tests/tokenizer/test_tokenizer
FIX=${MIXC_TOKENIZER_FIXTURES:-tests/tokenizer/fixtures}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }

# expect_ok NAME CMD...: CMD exits 0.
expect_ok() {
  local name=$1 out; shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

families=0
for dir in "$FIX"/*/; do
  dir=${dir%/}
  [ -f "$dir/expected.json" ] || continue
  fam=$(basename "$dir")
  families=$((families + 1))
  expect_ok "tokenizer-$fam-ids-and-decode" "$TT" check "$dir"
  expect_ok "tokenizer-$fam-long-text-round-trip" "$TT" stress "$dir/tokenizer.json" 2
done
[ "$families" -ge 3 ] && pass tokenizer-families || fail tokenizer-families "only $families fixture families in $FIX"

# refuse.json: {"file name without .json": "the name its error must give"}.
while IFS=$'\t' read -r file name; do
  [ -n "$file" ] || continue
  expect_ok "tokenizer-refuses-$file" "$TT" refuse "$FIX/refuse/$file.json" "$name"
done < <(sed -n 's/^ *"\([a-z0-9_]*\)": "\([^"]*\)",\{0,1\}$/\1\t\2/p' "$FIX/refuse/refuse.json")
nrefuse=$(grep -c '": "' "$FIX/refuse/refuse.json")
[ "$nrefuse" -ge 7 ] && pass tokenizer-refusal-cases || fail tokenizer-refusal-cases "only $nrefuse refusal cases"

# Files that are not tokenizers at all.
printf '{"model": ' >"$T/truncated.json"
expect_ok tokenizer-refuses-bad-json "$TT" refuse "$T/truncated.json" "not valid JSON"
expect_ok tokenizer-refuses-missing-file "$TT" refuse "$T/none.json" "No such file"

[ "$fails" -eq 0 ]
