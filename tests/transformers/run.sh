#!/usr/bin/env bash
# `mixc export --transformers DIR` and `--hf DIR` without torch (part of `make test`): for every example
# at test size and this suite's layouts, the export writes the package, its Python compiles, its
# config.json parses and carries the layout (windows, cache owners, RoPE per layer); `--hf DIR` picks
# the built-in family that computes the layout exactly, or the generated model; what the model does not
# compute is refused by name and nothing is written; usage errors. `make test-python` runs the models
# (run-python.sh). Prints PASS/FAIL lines; exits 1 on failure.
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

# The per-layer facts of config.json against the layout's own export: windows, owners (the fragment's
# kv_sharing_target), NoPE layers.
layout_matches() {   # DIR FRAGMENT
  jq -e --slurpfile f "$2" '
    (.mixc_windows | length) == .num_hidden_layers and
    ([.mixc_windows[] | if . == 0 then "full_attention" else "sliding_attention" end] == $f[0].layer_types) and
    ([.mixc_kv_owner | to_entries[] | if .value == .key then null else .value end] == $f[0].kv_sharing_target) and
    ([.mixc_rope[] | if . == null then 0 else 1 end] == ($f[0].no_rope_layers // [.mixc_rope[] | 1]))' \
    "$1/config.json" >/dev/null
}

. tests/transformers/refused.sh
n=0; bad=()
for f in examples/*.mix tests/transformers/*.mix; do
  name=$(basename "$f" .mix)
  sets=()
  [[ $f == examples/* ]] && sets=("${SIZE[@]}")
  d=$T/$name
  if [ -n "${EXPORT_REFUSED[$name]:-}" ]; then
    if ! "$MIXC" export "$f" --transformers "$d" "${sets[@]}" 2>"$T/err" && grep -qF "${EXPORT_REFUSED[$name]}" "$T/err" &&
       [ ! -e "$d" ]; then n=$((n + 1))
    else bad+=("$name: not refused naming ${EXPORT_REFUSED[$name]}: $(head -c 300 "$T/err")"); fi
    continue
  fi
  if ! "$MIXC" export "$f" --transformers "$d" "${sets[@]}" 2>"$T/err"; then bad+=("$name: export: $(head -c 300 "$T/err")"); continue; fi
  "$MIXC" export "$f" "${sets[@]}" >"$T/$name.fragment.json" 2>/dev/null
  if ! python3 -m py_compile "$d/configuration_mixc.py" "$d/modeling_mixc.py" 2>"$T/err"; then bad+=("$name: py_compile: $(head -c 300 "$T/err")")
  elif ! cmp -s "$d/modeling_mixc.py" templates/python/modeling_mixc.py || ! cmp -s "$d/configuration_mixc.py" templates/python/configuration_mixc.py; then
    bad+=("$name: the written Python differs from templates/python")
  elif ! jq -e '.model_type == "mixc" and .architectures == ["MixcForCausalLM"] and
                 .auto_map.AutoModelForCausalLM == "modeling_mixc.MixcForCausalLM"' "$d/config.json" >/dev/null; then
    bad+=("$name: config.json: $(head -c 200 "$d/config.json")")
  elif ! layout_matches "$d" "$T/$name.fragment.json"; then bad+=("$name: config.json's per-layer lists differ from the layout")
  else n=$((n + 1)); fi
done
[ ${#bad[@]} -eq 0 ] && pass "$n layouts (every example at test size): --transformers writes the package, its Python compiles, config.json carries the layout (or refuses naming what it does not compute)" ||
  fail "--transformers on every example" "${bad[@]}"

# Every variation of the header reaches config.json under its mixc_ name.
if jq -e '.mixc_activation == "gelu_tanh" and .mixc_norm == "rms_plus_one" and .mixc_qk_norm and .mixc_sandwich_norms and
          .mixc_embed_scale and .mixc_attn_softcap == 2 and .mixc_logit_softcap == 5 and .mixc_query_pre_attn_scalar == 24 and
          .mixc_rope_scaling.rope_type == "yarn" and .mixc_rope_scaling.factor == 4 and
          .mixc_rope_scaling.original_max_position_embeddings == 16 and .mixc_rope[0] == {"theta": 500, "scaled": false} and
          .mixc_rope[1].scaled and .mixc_rope[3] == null and .tie_word_embeddings' "$T/gemma-like/config.json" >/dev/null &&
   jq -e '.mixc_qkv_bias and .mixc_o_bias and .mixc_rope_scaling.rope_type == "llama3" and .mixc_kv_owner == [0, 1, 1, 0, 0] and
          .mixc_windows == [0, 5, 9, 3, 0] and (.tie_word_embeddings | not)' "$T/llama-like/config.json" >/dev/null; then
  pass "config.json carries every variation (gemma-like, llama-like)"
else fail "config.json carries every variation" "$(jq -c . "$T/gemma-like/config.json" | head -c 600)"; fi

# --hf DIR: a built-in family where it computes the layout exactly, else the generated model with a note.
hf_family() {   # NAME LAYOUT WANT_TYPE JQ_CHECK [NOTE]
  local out=$T/hf-$1
  if "$MIXC" export "$2" --hf "$out" "${SIZE[@]}" 2>"$T/err" && jq -e ".model_type == \"$3\" and ($4)" "$out/config.json" >/dev/null &&
     { [ -z "${5:-}" ] || grep -q "$5" "$T/err"; }; then pass "--hf DIR: $1 is written as $3"
  else fail "--hf DIR: $1 is written as $3" "$(cat "$T/err")" "$(head -c 300 "$out/config.json" 2>/dev/null)"; fi
}
hf_family standard examples/standard.mix llama '.architectures == ["LlamaForCausalLM"] and has("layer_types") == false and
  has("sliding_window") == false and .attention_bias == false and ([keys[] | select(startswith("mixc_"))] == [])'
hf_family swa examples/swa.mix mistral '.sliding_window == 8 and has("layer_types") == false and has("kv_sharing_target") == false'
hf_family gemma2-9b examples/gemma2-9b.mix ministral '.architectures == ["MistralForCausalLM"] and .sliding_window == 8 and
  (.layer_types | length) == 42'
hf_family llama-builtin tests/transformers/llama-builtin.mix llama '.attention_bias == true and .rope_scaling.rope_type == "llama3"'
hf_family mistral-yarn tests/transformers/mistral-yarn.mix mistral '.sliding_window == 8 and .rope_scaling.rope_type == "yarn"'
hf_family llama-yarn-no-truncate tests/transformers/llama-yarn-no-truncate.mix llama '.rope_scaling.rope_type == "yarn" and .rope_scaling.truncate == false'
hf_family llama-like tests/transformers/llama-like.mix mixc 'true' "layer 2 reads layer 1's cache"
hf_family ma examples/ma.mix mixc '.auto_map != null' "no transformers family computes this layout (layer 2 reads layer 1's cache"
hf_family gemma3-27b examples/gemma3-27b.mix mixc 'true' "layer 0 has its own RoPE"
if [ -f "$T/hf-ma/modeling_mixc.py" ] && [ ! -e "$T/hf-standard/modeling_mixc.py" ]; then
  pass "--hf DIR writes the Python files with the generated model only"
else fail "--hf DIR writes the Python files with the generated model only"; fi

# What the generated model does not compute: refused by name, exit 1, nothing written.
if "$MIXC" export examples/character-ai.mix --transformers "$T/q8" 2>"$T/err"; then fail "an 8-bit KV cache is refused" "exit 0"
elif [ $? -eq 1 ] && grep -q "'kv_dtype' int8 is not computed by the transformers model" "$T/err" && grep -q -- "--set kv_dtype=bf16" "$T/err" &&
     [ ! -e "$T/q8" ]; then pass "an 8-bit KV cache is refused by name (exit 1, hint, nothing written)"
else fail "an 8-bit KV cache is refused by name" "$(cat "$T/err")"; fi
if ! "$MIXC" export examples/character-ai.mix --hf "$T/q8" 2>"$T/err" && grep -q "'kv_dtype' int8" "$T/err" && [ ! -e "$T/q8" ]; then
  pass "--hf DIR refuses it too"
else fail "--hf DIR refuses an 8-bit KV cache" "$(cat "$T/err")"; fi
# A mixture of experts on an otherwise Llama layout: never written as a (dense) llama config.
if ! "$MIXC" export examples/standard.mix --hf "$T/moe" --set experts=4 --set experts_per_token=2 2>"$T/err" &&
   grep -q "'experts' 4 (a mixture of experts) is not computed" "$T/err" && [ ! -e "$T/moe" ]; then
  pass "--hf DIR refuses a mixture of experts by name, never a dense llama config"
else fail "--hf DIR refuses a mixture of experts" "$(cat "$T/err")"; fi

# Chunked attention and attention sinks: not in the generated model, refused naming the layer.
printf 'model "m" { layers = 2; hidden = 64; heads = 4; ffn = 64; vocab = 100; context = 64 }\nattention c = chunked 8\nattention s = global sinks\nlayers 0..1 : pattern [c, s]\n' >"$T/cs.mix"
if ! "$MIXC" export "$T/cs.mix" --transformers "$T/cs" 2>"$T/err" && grep -q "layer 0 has chunked attention, which the exported models do not compute" "$T/err" &&
   [ ! -e "$T/cs" ]; then pass "chunked attention is refused naming the layer"
else fail "chunked attention is refused naming the layer" "$(cat "$T/err")"; fi
sed -i 's/pattern \[c, s\]/pattern [s, s]/' "$T/cs.mix"
if ! "$MIXC" export "$T/cs.mix" --hf "$T/cs" 2>"$T/err" && grep -q "layer 0 has attention sinks, which the exported models do not compute" "$T/err" &&
   [ ! -e "$T/cs" ]; then pass "attention sinks are refused naming the layer (--hf DIR too)"
else fail "attention sinks are refused naming the layer" "$(cat "$T/err")"; fi

# Llama 4's variations: not in the generated model (its RoPE rotates half-split pairs, its q/k norms
# have weights), refused by name with nothing written.
for v in "rope_interleaved = true" "qk_l2_norm = true" "nope_temperature_floor = 8; nope_temperature_scale = 0.1"; do
  printf 'model "m" { layers = 2; hidden = 64; heads = 4; ffn = 64; vocab = 100; context = 64; %s }\ndefault : global\n' "$v" >"$T/l4.mix"
  if ! "$MIXC" export "$T/l4.mix" --transformers "$T/l4" 2>"$T/err" && grep -q "'${v%% =*}' (Llama 4's .*) is not computed" "$T/err" &&
     [ ! -e "$T/l4" ]; then pass "${v%% =*} is refused by name, nothing written"
  else fail "${v%% =*} is refused by name" "$(cat "$T/err")"; fi
done

# Into a directory that holds the weights: they stay, the package is added.
mkdir -p "$T/w" && echo weights >"$T/w/model.safetensors"
if "$MIXC" export examples/ma.mix --transformers "$T/w" 2>"$T/err" && [ "$(cat "$T/w/model.safetensors")" = weights ] &&
   [ -f "$T/w/modeling_mixc.py" ]; then pass "--transformers into a directory holding the weights keeps them"
else fail "--transformers into a directory holding the weights keeps them" "$(cat "$T/err")"; fi
if "$MIXC" export examples/ma.mix --transformers /proc/no/such 2>"$T/err"; then fail "an unwritable directory fails" "exit 0"
elif grep -q "^mixc export: cannot write '/proc/no/such'" "$T/err"; then pass "an unwritable directory: exit 1 naming it"
else fail "an unwritable directory: exit 1 naming it" "$(cat "$T/err")"; fi

# --vllm DIR: the plugin package, checked statically (no vLLM here): the Python compiles, the entry point
# registers the model class the model file defines; vLLM's rules for sharing are checked first.
if "$MIXC" export examples/ma.mix --vllm "$T/vllm" 2>"$T/err" &&
   python3 -m py_compile "$T/vllm/mixc_vllm.py" "$T/vllm/mixc_vllm_model.py" 2>>"$T/err" &&
   python3 - "$T/vllm" <<'PY' 2>>"$T/err"
import ast, sys, tomllib
d = sys.argv[1]
meta = tomllib.load(open(d + "/pyproject.toml", "rb"))
assert meta["project"]["entry-points"]["vllm.general_plugins"] == {"mixc": "mixc_vllm:register"}, meta
assert set(meta["tool"]["setuptools"]["py-modules"]) == {"mixc_vllm", "mixc_vllm_model"}
init = open(d + "/mixc_vllm.py").read()
assert 'register_model("MixcForCausalLM", "mixc_vllm_model:MixcForCausalLM")' in init
classes = {n.name for n in ast.walk(ast.parse(open(d + "/mixc_vllm_model.py").read())) if isinstance(n, ast.ClassDef)}
assert "MixcForCausalLM" in classes, classes
PY
then pass "--vllm DIR writes the plugin: it compiles, its entry point registers MixcForCausalLM"
else fail "--vllm DIR writes the plugin" "$(cat "$T/err")"; fi
vllm_refused() {   # NAME WANT ARGS...
  local name=$1 want=$2; shift 2
  if "$MIXC" export "$@" --vllm "$T/vr" 2>"$T/err"; then fail "vLLM rule: $name" "exit 0"
  elif grep -qF -- "$want" "$T/err" && [ ! -e "$T/vr" ]; then pass "vLLM rule: $name"
  else fail "vLLM rule: $name" "$(cat "$T/err")"; fi
}
vllm_refused "a reader with another window than its owner's" \
  "mixc: layer 2 (window 9) reads layer 1's cache (window 5): vLLM shares a cache only between layers of the same attention type and window" \
  tests/transformers/llama-like.mix
vllm_refused "a sharing group across pipeline stages" \
  "mixc: layer 6 reads layer 0's cache, which vLLM places in pipeline stage 0 of 4, not stage 1" examples/ma.mix --pp 4
"$MIXC" export examples/ma-noshare.mix --vllm "$T/pp4" --pp 4 2>"$T/err" && pass "vLLM rule: ma-noshare's groups fit four pipeline stages" ||
  fail "vLLM rule: ma-noshare's groups fit four pipeline stages" "$(cat "$T/err")"
vllm_refused "an 8-bit cache" "'kv_dtype' int8" examples/character-ai.mix
vllm_refused "a context past the positions vLLM's yarn tabulates" \
  "mixc: context 128 is longer than the 64 positions vLLM's yarn RoPE covers (rope_original_context 16 x rope_factor 4)" \
  tests/transformers/mistral-yarn.mix --set context=128
# The same rules in the checker: mixc check --target vllm [--pp N].
"$MIXC" check --target vllm tests/transformers/llama-like.mix >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "layer 2 (window 9) reads layer 1's cache (window 5)" "$T/err" &&
  "$MIXC" check --target vllm examples/ma-noshare.mix --pp 4 >/dev/null 2>&1 &&
  ! "$MIXC" check --target vllm examples/ma.mix --pp 2 >/dev/null 2>&1 &&
  pass "mixc check --target vllm [--pp N] applies vLLM's rules" || fail "mixc check --target vllm (exit $rc)" "$(cat "$T/err")"

# Usage errors (exit 2).
usage() {   # NAME MESSAGE ARGS...
  local name=$1 msg=$2; shift 2
  "$MIXC" export "$@" >/dev/null 2>"$T/err"
  local rc=$?
  [ $rc -eq 2 ] && grep -q -- "$msg" "$T/err" && pass "usage: $name" || fail "usage: $name (exit $rc)" "$(cat "$T/err")"
}
usage "two forms" "give one of --hf, --lckv, --foundry, --transformers and --vllm" examples/ma.mix --lckv --transformers "$T/x"
usage "a directory without --hf" "a directory follows --hf only" examples/ma.mix "$T/x"
usage "-o with a directory" "-o goes with the text forms" examples/ma.mix --hf "$T/x" -o "$T/y"
usage "-o with --transformers" "-o goes with the text forms" examples/ma.mix --transformers "$T/x" -o "$T/y"
usage "--pp without --vllm" "--pp goes with --vllm" examples/ma.mix --transformers "$T/x" --pp 2
[ ! -e "$T/x" ] && [ ! -e "$T/y" ] && pass "usage errors write nothing" || fail "usage errors write nothing"

[ "$fails" -eq 0 ]
