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
[ "$families" -ge 8 ] && pass tokenizer-families || fail tokenizer-families "only $families fixture families in $FIX"

# refuse.json: {"file name without .json": "the name its error must give"}.
while IFS=$'\t' read -r file name; do
  [ -n "$file" ] || continue
  expect_ok "tokenizer-refuses-$file" "$TT" refuse "$FIX/refuse/$file.json" "$name"
done < <(sed -n 's/^ *"\([a-z0-9_]*\)": "\([^"]*\)",\{0,1\}$/\1\t\2/p' "$FIX/refuse/refuse.json")
nrefuse=$(grep -c '": "' "$FIX/refuse/refuse.json")
[ "$nrefuse" -ge 8 ] && pass tokenizer-refusal-cases || fail tokenizer-refusal-cases "only $nrefuse refusal cases"

# Files that are not tokenizers at all.
printf '{"model": ' >"$T/truncated.json"
expect_ok tokenizer-refuses-bad-json "$TT" refuse "$T/truncated.json" "not valid JSON"
expect_ok tokenizer-refuses-missing-file "$TT" refuse "$T/none.json" "No such file"
# Broken files: each refused with what is wrong in it.
BL='"decoder":{"type":"ByteLevel"},"pre_tokenizer":{"type":"ByteLevel"}'
bad_file() {   # bad_file NAME MESSAGE JSON
  printf '%s' "$3" >"$T/$1.json"
  expect_ok "tokenizer-refuses-$1" "$TT" refuse "$T/$1.json" "$2"
}
bad_file empty-sequence "Sequence is empty" \
  '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"ByteLevel"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[]}}'
bad_file byte-level-first "'ByteLevel' is not supported here" \
  '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"ByteLevel"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"ByteLevel"},{"type":"Split","pattern":{"Regex":"a"},"behavior":"Isolated"}]}}'
bad_file bad-regex "does not compile" \
  '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"ByteLevel"},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"(a"},"behavior":"Isolated"},{"type":"ByteLevel"}]}}'
bad_file no-vocab "model.vocab is not an object" '{"model":{"type":"BPE","merges":[]},'"$BL"'}'
bad_file huge-id "is not in [0, 16777216)" '{"model":{"type":"BPE","vocab":{"a":16777216},"merges":[]},'"$BL"'}'
bad_file negative-id "the id of 'b'" '{"model":{"type":"BPE","vocab":{"a":0,"b":-1},"merges":[]},'"$BL"'}'
bad_file merge-unknown "model.merges[0]" '{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]},'"$BL"'}'
bad_file duplicate-key "duplicate" '{"model":{"type":"BPE","vocab":{"a":0},"vocab":{"a":0},"merges":[]},'"$BL"'}'
bad_file no-decoder "the decoder '(no type)'" '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"}}'
bad_file unknown-field "the field 'chat_template'" '{"chat_template":"x","model":{"type":"BPE","vocab":{"a":0},"merges":[]},'"$BL"'}'
# Flags that are not booleans: refused, never read as another value than the package reads.
bad_file special-number "special and normalized must be booleans" \
  '{"added_tokens":[{"id":0,"content":"a","special":1.5}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]},'"$BL"'}'
bad_file prefix-space-string "add_prefix_space and use_regex must be booleans" \
  '{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"ByteLevel"},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":"x"}}'
bad_file lstrip-number "lstrip is not a boolean" \
  '{"added_tokens":[{"id":0,"content":"a","lstrip":0}],"model":{"type":"BPE","vocab":{"a":0},"merges":[]},'"$BL"'}'

# Chat templates (runtime/tok/jinja.c) against jinja2's renderings, as transformers sets it up
# (fixtures/chat_templates.json, make_chat_fixtures.py): one PASS/FAIL line per case; then its limits
# (fixtures/chat_limits.json, by hand: deep nesting and long tags refused, 64-bit integers).
TJ=$BUILD/tests/tokenizer/test_jinja
while IFS= read -r line; do
  case "$line" in
    PASS*) echo "$line" ;;
    FAIL*) echo "$line"; fails=$((fails + 1)) ;;
    *) echo "$line" ;;
  esac
done < <("$TJ" tests/tokenizer/fixtures/chat_templates.json 2>&1 || echo "FAIL chat-templates (test_jinja exited $?)"
         "$TJ" tests/tokenizer/fixtures/chat_limits.json 2>&1 || echo "FAIL chat-limits (test_jinja exited $?)")
njinja=$(grep -c '"name":' tests/tokenizer/fixtures/chat_templates.json)
[ "$njinja" -ge 100 ] && pass chat-template-cases || fail chat-template-cases "only $njinja cases"

# ------------------------------------------------------------------ mixrun --text
# mixrun FAM ARGS...: tests/mixrun/tiny.mix with FAM's tokenizer's vocabulary size and random weights on the cpu
# backend; stdout in $T/out, stderr in $T/err, the exit status in $rc.
mixrun() {
  local fam=$1; shift
  local vocab; vocab=$("$TT" vocab "$FIX/$fam/tokenizer.json")
  "$RUN" --layout tests/mixrun/tiny.mix --set vocab=$vocab --backend cpu --max-new 6 "$@" >"$T/out" 2>"$T/err"
  rc=$?
}
TEXT="Héllo, wörld: 中文 😀 <|endoftext|> 12345"
for fam in gpt2 llama3 llama2 gemma; do
  ids=$("$TT" encode "$FIX/$fam/tokenizer.json" "$TEXT")
  mixrun $fam --random-weights 5 --tokens "$ids"; want=$(cat "$T/out")
  mixrun $fam --random-weights 5 --tokenizer "$FIX/$fam" --text "$TEXT" --print-ids
  got_ids=$(head -n 1 "$T/out")
  if [ "$rc" -eq 0 ] && [ -n "$want" ] && [ "$got_ids" = "$want" ] && [ "$(wc -l <"$T/out")" -ge 2 ]; then   # the ids, then the text (which may hold newlines)
    pass "mixrun-text-equals-tokens-$fam"
  else
    fail "mixrun-text-equals-tokens-$fam" "rc $rc, --tokens gave '$want', --text gave:" "$(cat "$T/out" "$T/err")"
  fi
  want_text=$(tail -n +2 "$T/out")
  printf '%s' "$TEXT" >"$T/prompt.txt"
  mixrun $fam --random-weights 5 --tokenizer "$FIX/$fam/tokenizer.json" --text-file "$T/prompt.txt"
  [ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = "$want_text" ] && pass "mixrun-text-file-$fam" ||
    fail "mixrun-text-file-$fam" "rc $rc, got '$(cat "$T/out" "$T/err")', want '$want_text'"
done

# The tokenizer beside --weights: tokenizer.json in the weights' directory.
mkdir -p "$T/ckpt"
mixrun gpt2 --random-weights 5 --save-weights "$T/ckpt/model.safetensors"
cp "$FIX/gpt2/tokenizer.json" "$T/ckpt/"
mixrun gpt2 --random-weights 5 --tokenizer "$FIX/gpt2" --text "$TEXT"; want=$(cat "$T/out")
mixrun gpt2 --weights "$T/ckpt" --text "$TEXT"
[ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = "$want" ] && pass mixrun-tokenizer-beside-weights ||
  fail mixrun-tokenizer-beside-weights "rc $rc: $(cat "$T/out" "$T/err")"

# expect_rc NAME RC MESSAGE ARGS...: mixrun (gpt2 vocabulary) exits RC with MESSAGE on stderr.
expect_rc() {
  local name=$1 want_rc=$2 msg=$3; shift 3
  mixrun gpt2 "$@"
  if [ "$rc" -eq "$want_rc" ] && grep -qF -- "$msg" "$T/err"; then pass "$name"
  else fail "$name" "rc $rc (want $want_rc), stderr:" "$(head -n 3 "$T/err")"; fi
}
expect_rc mixrun-text-and-tokens 2 "give one of --tokens, --tokens-file, --prompts, --text and --text-file" \
  --random-weights 1 --tokenizer "$FIX/gpt2" --text hi --tokens 1
expect_rc mixrun-print-ids-alone 2 "--tokenizer and --print-ids go with --text" --random-weights 1 --tokens 1 --print-ids
expect_rc mixrun-text-no-tokenizer 2 "--text needs --tokenizer or --weights" --random-weights 1 --text hi
expect_rc mixrun-text-bench 2 "--text does not go with --bench" --random-weights 1 --tokenizer "$FIX/gpt2" --text hi --bench
expect_rc mixrun-text-not-utf8 1 "not UTF-8" --random-weights 1 --tokenizer "$FIX/gpt2" --text $'bad \xff byte'
expect_rc mixrun-text-empty 1 "the text makes no tokens" --random-weights 1 --tokenizer "$FIX/gpt2" --text-file /dev/null
expect_rc mixrun-tokenizer-refused 1 "the normalizer 'NFKC' is not supported" \
  --random-weights 1 --tokenizer "$FIX/refuse/normalizer_nfkc.json" --text hi
rm "$T/ckpt/tokenizer.json"
expect_rc mixrun-tokenizer-missing 1 "'$T/ckpt/tokenizer.json': No such file" --weights "$T/ckpt/model.safetensors" --text hi
expect_rc mixrun-no-tokenizer-beside-weights 1 "give --tokenizer" --weights "$T/ckpt" --text hi

[ "$fails" -eq 0 ]
