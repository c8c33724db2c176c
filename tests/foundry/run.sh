#!/usr/bin/env bash
# llm-foundry YAML: `mixc export --foundry` and `mixc import --foundry` (compiler/interop/foundry.c,
# yaml_subset.c). Every example at test size goes .mix -> YAML -> .mix to the same layout and header
# (compared through `mixc export --hf`), or is refused naming what an MPT config cannot say; llm-foundry's
# own documented example imports to Character.AI's layout; what the reader does not read is refused
# with file:line. Prints PASS/FAIL lines; exits 1 on failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }
. tests/example-size.sh
SIZE=("${EXAMPLE_TEST_SIZE[@]}")
# Examples whose header an MPT config cannot say, and the field named in the refusal.
declare -A REFUSED=([gemma3-27b]="'rope_scaling'" [gemma3n-e4b]="an attention kind's own RoPE" [gpt-oss-20b]="'experts'"
                    [llama4-scout]="chunked attention" [llama4-maverick]="chunked attention" [gemma4-style]="per-layer KV shapes")

# The layout and header as the HF fragment says them (the name and the chunk are not carried).
fragment() { "$MIXC" export "$@" 2>/dev/null | jq -S 'del(._name_or_path, .mixc_chunk)'; }

n=0; bad=()
for f in examples/*.mix; do
  name=$(basename "$f" .mix)
  if [ -n "${REFUSED[$name]:-}" ]; then
    if ! "$MIXC" export "$f" --foundry "${SIZE[@]}" -o "$T/$name.yaml" 2>"$T/err" && grep -q "cannot say ${REFUSED[$name]}" "$T/err" &&
       [ ! -e "$T/$name.yaml" ]; then n=$((n + 1))
    else bad+=("$name: not refused naming ${REFUSED[$name]}: $(head -c 300 "$T/err")"); fi
    continue
  fi
  if ! "$MIXC" export "$f" --foundry "${SIZE[@]}" -o "$T/$name.yaml" 2>"$T/err" ||
     ! "$MIXC" import --foundry "$T/$name.yaml" -o "$T/$name.mix" 2>>"$T/err"; then
    bad+=("$name: $(head -c 300 "$T/err")"); continue
  fi
  if [ "$(fragment "$f" "${SIZE[@]}")" = "$(fragment "$T/$name.mix")" ] && [ -n "$(fragment "$T/$name.mix")" ]; then n=$((n + 1))
  else bad+=("$name: the layout read back differs: $(diff <(fragment "$f" "${SIZE[@]}") <(fragment "$T/$name.mix") | head -5)"); fi
done
[ ${#bad[@]} -eq 0 ] && pass "$n examples: export --foundry, import --foundry gives the same layout and header (or a named refusal)" ||
  fail "round trip of every example" "${bad[@]}"

# The YAML's shape: nested order with repeat, relative reuse_kv_layer_idx, no block_overrides when none.
"$MIXC" export examples/character-ai.mix --foundry "${SIZE[@]}" >"$T/cai.yaml" 2>/dev/null
if grep -q "^    - repeat: 2$" "$T/cai.yaml" && grep -q "^          reuse_kv_layer_idx: -6$" "$T/cai.yaml" &&
   grep -q "^          sliding_window_size: 8$" "$T/cai.yaml" && grep -q "^    - name: default$" "$T/cai.yaml"; then
  pass "export --foundry writes order/repeat and overrides with relative reuse_kv_layer_idx"
else fail "export --foundry writes order/repeat and overrides" "$(cat "$T/cai.yaml")"; fi
if "$MIXC" export examples/standard.mix --foundry 2>/dev/null | grep -q "^  block_overrides:"; then
  fail "a layout without windows or sharing has no block_overrides"
else pass "a layout without windows or sharing has no block_overrides"; fi

# llm-foundry's documented example (its MPTConfig docstring).
if "$MIXC" import --foundry tests/foundry/character-ai.yaml >"$T/doc.mix" 2>"$T/err" &&
   grep -q "^layers 1..12 : pattern \[local, local reads prev, local, local reads prev, local reads -2, global reads 0\]$" "$T/doc.mix" &&
   grep -q "^attention local = window 1024$" "$T/doc.mix" && grep -q "ffn            = 128" "$T/doc.mix"; then
  pass "llm-foundry's documented block_overrides import as Character.AI's layout (a reader of a reader reads the owner)"
else fail "llm-foundry's documented example" "$(cat "$T/err" "$T/doc.mix")"; fi

# Refusals with file:line (exit 1, nothing written).
bad_yaml() {   # NAME WANT (EDIT: a sed script on the documented example)
  sed "$3" tests/foundry/character-ai.yaml >"$T/bad.yaml"
  if "$MIXC" import --foundry "$T/bad.yaml" -o "$T/bad.mix" 2>"$T/err"; then fail "refused: $1" "exit 0"
  elif [ $? -eq 1 ] && grep -qF -- "$2" "$T/err" && [ ! -e "$T/bad.mix" ]; then pass "refused: $1"
  else fail "refused: $1" "wanted: $2" "$(cat "$T/err")"; fi
}
bad_yaml "a key mixc does not read" "bad.yaml:19: 'model.attn_config.qk_ln' value given is not what mixc computes" 's/^    rope: true$/    rope: true\n    qk_ln: true/'
bad_yaml "an unknown key" "bad.yaml:12: 'model.hidden_act' is not read" 's/^  no_bias: true$/  no_bias: true\n  hidden_act: gelu/'
bad_yaml "MPT's default LayerNorm" "'model.norm_type' default \"low_precision_layernorm\" is not what mixc computes" '/norm_type/d'
bad_yaml "a GELU MLP" "'model.ffn_config.ffn_type' value given" 's/mptglu/mptmlp/'
bad_yaml "too few layers" "'model.block_overrides.order' gives 13 layers but n_layers is 14" 's/n_layers: 13/n_layers: 14/'
bad_yaml "too many layers" "bad.yaml:27: 'model.block_overrides.order[1].order' gives more layers than n_layers (12)" 's/n_layers: 13/n_layers: 12/'
bad_yaml "a reuse before layer 0" "reads before layer 0" 's/reuse_kv_layer_idx: -6/reuse_kv_layer_idx: -60/'
bad_yaml "a positive reuse_kv_layer_idx" "reuse_kv_layer_idx' must be an integer in" 's/reuse_kv_layer_idx: -6/reuse_kv_layer_idx: 2/'
bad_yaml "an undefined override" "names 'sliding_window_layer', which overrides does not define" 's/^      sliding_window_layer:$/      other:/'
bad_yaml "a flow collection" "bad.yaml:21: '{name: silu}': flow collections" '/^      name: silu$/d; s/^    ffn_act_fn:$/    ffn_act_fn: {name: silu}/'
bad_yaml "a tab" "bad.yaml:10: a tab in the indentation" 's/^  vocab_size: 256$/\tvocab_size: 256/'
bad_yaml "a duplicate key" "'d_model' is given twice" 's/^  d_model: 64$/  d_model: 64\n  d_model: 32/'
bad_yaml "no model" "'model' is missing or not a mapping" 's/^model:$/modle:/'

# Hostile YAML: deep nesting is bounded (no stack exhaustion), a key must be UTF-8, a huge repeat of a
# nested order that adds nothing ends at once.
hostile() {   # NAME WANT (the YAML on stdin)
  cat >"$T/h.yaml"
  if timeout 10 "$MIXC" import --foundry "$T/h.yaml" >/dev/null 2>"$T/err"; then fail "hostile: $1" "exit 0"
  elif [ $? -eq 1 ] && grep -qF -- "$2" "$T/err"; then pass "hostile: $1"
  else fail "hostile: $1" "wanted: $2" "$(head -c 300 "$T/err")"; fi
}
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "%*sk%d:\n", i, "", i }' | hostile "5000 nested blocks" "h.yaml:65: blocks nest deeper than 64"
printf 'model:\n  \xff: 1\n' | hostile "a key that is not UTF-8" "h.yaml:2: a key that is not UTF-8"
{ cat tests/foundry/character-ai.yaml; printf '\0  n_layers: 9\n'; } | hostile "a NUL byte (the text would end there)" "h.yaml: a NUL byte at offset 1297: not a YAML text"
sed 's/^      - name: reuse_kv_layer$/      - repeat: 3\n        order:\n        - repeat: 13\n          order:\n          - name: default\n            repeat: 0/' \
  tests/foundry/character-ai.yaml | hostile "repeats of an order that adds no layer" "gives 11 layers but n_layers is 13"

"$MIXC" import --foundry tests/foundry/character-ai.yaml tests/import/configs/mistral-7b.json >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "one input at a time" "$T/err" && pass "usage: --foundry with a config.json" || fail "usage: --foundry with a config.json" "$(cat "$T/err")"
"$MIXC" export examples/ma.mix --foundry --lckv >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q "give one of" "$T/err" && pass "usage: --foundry with --lckv" || fail "usage: --foundry with --lckv" "$(cat "$T/err")"

[ "$fails" -eq 0 ]
