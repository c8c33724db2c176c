#!/usr/bin/env bash
# `mixc import` / `mixc export`: HF configs of the published models (tests/import/configs, sources in
# its README) import to the published architecture and to the golden .mix; imports agree with the
# hand-written examples/*.mix; round trips (import -> export -> import, .mix -> export -> import,
# LCKV -> .mix -> LCKV) reproduce the layout; malformed configs fail with a message naming the field.
# Run from anywhere; BUILD and MIXC as set by tests/run-all.sh.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
T=tests/import
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && printf '  %s\n' "$@"; fails=$((fails + 1)); }

# The writer's round-trip property and the LCKV parser, in C.
if "$BUILD/tests/import/test_mixwriter" >"$tmp/unit.out" 2>&1; then cat "$tmp/unit.out"
else cat "$tmp/unit.out"; grep -q '^FAIL' "$tmp/unit.out" || fail "test_mixwriter exited non-zero"; fails=$((fails + 1)); fi

# The layer table and summary of `mixc check` (what a report is built from), without the header.
layers_of() { "$MIXC" check "$1" | sed -n '3,$p'; }

# ---- what mixc does not compute is refused, or with --allow-unsupported warned about and recorded
# expect_refused CONFIG EXPECTED_STDERR: without the flag exit 1, no output and exactly that stderr;
# with --allow-unsupported each refusal becomes a warning on stderr and an "# unsupported:" line of the
# .mix, which checks (exit 0, unless the expected stderr also holds errors that are not refusals).
# The .mix is left in $tmp/NAME.mix.
expect_refused() {
  local cfg=$1 want=$2 name; name=$(basename "$1" .json)
  local out rc; "$MIXC" import "$cfg" >"$tmp/r.out" 2>"$tmp/r.err"; rc=$?
  if [ "$rc" = 1 ] && [ ! -s "$tmp/r.out" ] && diff -u "$want" "$tmp/r.err" >"$tmp/r.diff"; then pass "refused: $name"
  else fail "refused: $name (rc $rc)" "$(head -20 "$tmp/r.diff")"; fi
  local refusals=" is not supported (" want_rc=0
  grep -v "$refusals" "$want" | grep -v '^mixc: [^:]*: warning: ' | grep -q '^mixc: ' && want_rc=1
  sed -n "s/^\(mixc: [^:]*: \)\(.*$refusals.*\)\$/\1warning: \2; imported anyway (--allow-unsupported)/p" "$want" >"$tmp/want.warn"
  sed -n "s/^mixc: [^:]*: \(.*\)$refusals\(.*\))\$/# unsupported: \1 ignored (\2)/p" "$want" >"$tmp/want.note"
  "$MIXC" import --allow-unsupported "$cfg" >"$tmp/$name.mix" 2>"$tmp/a.err"; rc=$?
  if [ "$rc" = "$want_rc" ] && diff "$tmp/want.warn" <(grep "$refusals" "$tmp/a.err") >"$tmp/a.diff" &&
     { [ "$want_rc" = 1 ] || { diff "$tmp/want.note" <(grep '^# unsupported: ' "$tmp/$name.mix") >>"$tmp/a.diff" &&
                               "$MIXC" check -q "$tmp/$name.mix" 2>>"$tmp/a.diff"; }; }; then
    pass "--allow-unsupported: $name (rc $want_rc; refusals warned and recorded in the .mix: $(wc -l <"$tmp/want.warn"))"
  else fail "--allow-unsupported: $name (rc $rc)" "$(head -20 "$tmp/a.diff")"; fi
}
for cfg in $T/unsupported/*.json; do expect_refused "$cfg" "${cfg%.json}.err"; done

# ---- every fixture imports (the published models mixc does not compute with --allow-unsupported,
# after their refusal, golden/NAME.refused), checks, and matches its golden .mix
for cfg in $T/configs/*.json; do
  name=$(basename "$cfg" .json)
  if [ -f "$T/golden/$name.refused" ]; then
    expect_refused "$cfg" "$T/golden/$name.refused"
  elif ! "$MIXC" import "$cfg" >"$tmp/$name.mix" 2>"$tmp/$name.err"; then
    fail "import $name" "$(cat "$tmp/$name.err")"; continue
  fi
  if ! "$MIXC" check -q "$tmp/$name.mix" 2>"$tmp/$name.chk"; then
    fail "import $name: mixc check rejects it" "$(cat "$tmp/$name.chk")"; continue
  fi
  if diff -u "$T/golden/$name.mix" "$tmp/$name.mix" >"$tmp/$name.diff"; then pass "import $name: golden .mix"
  else fail "import $name: differs from golden" "$(head -30 "$tmp/$name.diff")"; fi
done

# ---- a mixture of experts: the imported header reports the published sizes (Qwen3-30B-A3B's model
# card: 30.5B parameters; gpt-oss-20b's: 20.9B in tests/report); other families' experts are refused
if "$MIXC" report "$tmp/qwen3-30b-a3b.mix" --format json 2>/dev/null |
   jq -e '.weights.parameters == 30532122624 and .weights.active_parameters == 3353032704 and .model.router == "topk_softmax"' >/dev/null
then pass "import qwen3_moe: experts, norm_topk_prob, 30.5B parameters"
else fail "import qwen3_moe: experts and sizes"; fi
sed 's/"norm_topk_prob": true/"norm_topk_prob": false/' $T/configs/qwen3-30b-a3b.json >"$tmp/q3f.json"
"$MIXC" import "$tmp/q3f.json" 2>/dev/null | grep -q '^ *router *= softmax_topk$' &&
  pass "import qwen3_moe without norm_topk_prob: router softmax_topk" || fail "import qwen3_moe without norm_topk_prob"
sed 's/"mlp_only_layers": \[\]/"mlp_only_layers": [0]/' $T/configs/qwen3-30b-a3b.json >"$tmp/q3d.json"
"$MIXC" import "$tmp/q3d.json" 2>&1 | grep -q "'mlp_only_layers' \[0\] is not supported (mixc's moe_step puts the experts on every s-th layer, none left out)" &&
  pass "import qwen3_moe with mlp_only_layers: refused by name" || fail "import qwen3_moe with mlp_only_layers: refused by name"

# ---- a field a config omits takes its transformers config class's default (docs/interop.md). The
# configs/*-minimal.json give model_type, num_hidden_layers 6, hidden_size 1024, num_attention_heads 32
# and vocab_size; the values below are transformers 5.24's classes' (make test-python compares with the
# classes themselves: tests/import/class_defaults.py).
expect_defaults() {  # name, what, jq test on `mixc report --format json`
  local name=$1 what=$2 test=$3
  if "$MIXC" import $T/configs/$name.json >"$tmp/d.mix" 2>"$tmp/d.err" &&
     "$MIXC" report "$tmp/d.mix" --format json >"$tmp/d.json" 2>>"$tmp/d.err" && jq -e "$test" "$tmp/d.json" >/dev/null
  then pass "class defaults of $name: $what"
  else fail "class defaults of $name: $what" "$(cat "$tmp/d.err")"; fi
}
expect_defaults qwen3-minimal "Qwen3Config: head_dim 128, kv_heads 32, rms_norm_eps 1e-6, ffn 22016, context 32768" \
  '.model | .head_dim == 128 and .kv_heads == 32 and .norm_eps == 1e-6 and .ffn == 22016 and .context == 32768 and .qk_norm'
expect_defaults qwen2-minimal "Qwen2Config: kv_heads 32, rms_norm_eps 1e-6, q/k/v biases, head_dim hidden/heads" \
  '.model | .kv_heads == 32 and .norm_eps == 1e-6 and .qkv_bias and .head_dim == 32 and .context == 32768'
expect_defaults qwen3-moe-minimal "Qwen3MoeConfig: rms_norm_eps 1e-6, kv_heads 4, 128 experts of 768, 8 per token" \
  '.model | .norm_eps == 1e-6 and .kv_heads == 4 and .experts == 128 and .experts_per_token == 8 and .ffn == 768 and .router == "softmax_topk"'
expect_defaults mistral-minimal "MistralConfig: kv_heads 8, window 4096 on every layer, context 131072" \
  '(.model | .kv_heads == 8 and .context == 131072 and .norm_eps == 1e-6) and ([.layers[].window] | unique) == [4096]'
expect_defaults mixtral-minimal "MixtralConfig: rope_theta 1e6, kv_heads 8, 8 experts, 2 per token, no window" \
  '(.model | .rope_theta == 1000000 and .kv_heads == 8 and .experts == 8 and .experts_per_token == 2) and ([.layers[].window] | unique) == [null]'
expect_defaults gpt-oss-minimal "GptOssConfig: rope_theta 150000, window 128 on even layers, attention_bias true, head_dim 64" \
  '(.model | .rope_theta == 150000 and .qkv_bias and .o_bias and .head_dim == 64 and .kv_heads == 8 and .rope_scaling.type == "yarn") and [.layers[].window] == [128, null, 128, null, 128, null]'
expect_defaults gemma2-minimal "Gemma2Config: window 4096 on even layers, kv_heads 4, head_dim 256, soft-caps 50 and 30" \
  '(.model | .kv_heads == 4 and .head_dim == 256 and .attn_softcap == 50 and .logit_softcap == 30) and [.layers[].window] == [4096, null, 4096, null, 4096, null]'
expect_defaults llama4-text-minimal "Llama4TextConfig: 16 experts (1 per token, shared), kv_heads 8, chunked 8192 but every 4th layer" \
  '(.model | .experts == 16 and .experts_per_token == 1 and .shared_expert_ffn == 8192 and .kv_heads == 8 and .head_dim == 128) and [.layers[].chunk_size] == [8192, 8192, 8192, null, 8192, 8192]'
# a file's rope_parameters.rope_theta wins over the class's default rope_theta (SmolLM3Config: 2e6)
echo '{"model_type": "smollm3", "num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4, "vocab_size": 100,
  "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0}}' >"$tmp/smol-rp.json"
"$MIXC" import "$tmp/smol-rp.json" 2>/dev/null | grep -q '^ *rope_theta *= 100000$' &&
  pass "smollm3: rope_parameters.rope_theta over the class's default" || fail "smollm3: rope_parameters.rope_theta over the class's default"
# transformers 5 takes a null rope_scaling / rope_parameters as absent: gpt-oss's class yarn
echo '{"model_type": "gpt_oss", "num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 8, "vocab_size": 100,
  "rope_scaling": null, "rope_parameters": null}' >"$tmp/oss-null-rope.json"
"$MIXC" import "$tmp/oss-null-rope.json" 2>/dev/null | grep -q '^ *rope_scaling *= yarn$' &&
  pass "gpt_oss: a null rope_scaling is the class's yarn" || fail "gpt_oss: a null rope_scaling is the class's yarn"
# Llama4TextConfig: attention_chunk_size null makes every layer full_attention
echo '{"model_type": "llama4_text", "num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 8, "vocab_size": 100,
  "moe_layers": [], "attention_chunk_size": null}' >"$tmp/l4-nochunk.json"
"$MIXC" import "$tmp/l4-nochunk.json" 2>/dev/null | grep -q '^layer 3 *: global_nope$' &&
  ! "$MIXC" import "$tmp/l4-nochunk.json" 2>/dev/null | grep -q chunked &&
  pass "llama4: attention_chunk_size null: no chunked layer" || fail "llama4: attention_chunk_size null: no chunked layer"
# Llama4TextConfig: an empty no_rope_layers is its default (every 4th layer NoPE, and global)
echo '{"model_type": "llama4_text", "num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 8, "vocab_size": 100,
  "moe_layers": [], "no_rope_layers": []}' >"$tmp/l4-nope.json"
"$MIXC" import "$tmp/l4-nope.json" 2>/dev/null | grep -q '^layer 3 *: global_nope$' &&
  pass "llama4: no_rope_layers [] is the class's default" || fail "llama4: no_rope_layers [] is the class's default"

# ---- the imported layouts against the published architectures
# header line of `mixc check` (dimensions from the published config.json files) and layer summary
expect_arch() {  # name, expected header line, expected summary line
  local out; out=$("$MIXC" check "$tmp/$1.mix" 2>&1)
  local head sum; head=$(sed -n 1p <<<"$out"); sum=$(sed -n 3p <<<"$out")
  if [ "$head" = "$2" ] && [ "$sum" = "$3" ]; then pass "architecture $1"
  else fail "architecture $1" "want: $2" "got:  $head" "want: $3" "got:  $sum"; fi
}
expect_arch mistral-7b 'model "mistral-7b": 32 layers, hidden 4096, heads 32, kv_heads 8, head_dim 128, ffn 14336, vocab 32000' \
  '32 layers (0 global, 32 sliding), 32 caches (0 global, 32 sliding)'
expect_arch llama-3.1-8b 'model "llama-3.1-8b": 32 layers, hidden 4096, heads 32, kv_heads 8, head_dim 128, ffn 14336, vocab 128256' \
  '32 layers (32 global, 0 sliding), 32 caches (32 global, 0 sliding)'
expect_arch gemma2-9b 'model "gemma2-9b": 42 layers, hidden 3584, heads 16, kv_heads 8, head_dim 256, ffn 14336, vocab 256000' \
  '42 layers (21 global, 21 sliding), 42 caches (21 global, 21 sliding)'
expect_arch gemma3-1b 'model "gemma3-1b": 26 layers, hidden 1152, heads 4, kv_heads 1, head_dim 256, ffn 6912, vocab 262144' \
  '26 layers (4 global, 22 sliding), 26 caches (4 global, 22 sliding)'
expect_arch gemma3-27b 'model "gemma3-27b": 62 layers, hidden 5376, heads 32, kv_heads 16, head_dim 128, ffn 21504, vocab 262208' \
  '62 layers (10 global, 52 sliding), 62 caches (10 global, 52 sliding)'
expect_arch gemma3n-e4b 'model "gemma3n-e4b": 35 layers, hidden 2048, heads 8, kv_heads 2, head_dim 256, ffn 16384, vocab 262400' \
  '35 layers (7 global, 28 sliding), 20 caches (4 global, 16 sliding)'
expect_arch gpt-oss-20b 'model "gpt-oss-20b": 24 layers, hidden 2880, heads 64, kv_heads 8, head_dim 64, ffn 2880, vocab 201088' \
  '24 layers (12 global, 12 sliding), 24 caches (12 global, 12 sliding)'
expect_arch command-r7b 'model "command-r7b": 32 layers, hidden 4096, heads 32, kv_heads 8, head_dim 128, ffn 14336, vocab 256000' \
  '32 layers (8 global, 24 sliding), 32 caches (8 global, 24 sliding)'
expect_arch qwen2-7b-instruct 'model "qwen2-7b-instruct": 28 layers, hidden 3584, heads 28, kv_heads 4, head_dim 128, ffn 18944, vocab 152064' \
  '28 layers (28 global, 0 sliding), 28 caches (28 global, 0 sliding)'
expect_arch qwen3-8b 'model "qwen3-8b": 36 layers, hidden 4096, heads 32, kv_heads 8, head_dim 128, ffn 12288, vocab 151936' \
  '36 layers (36 global, 0 sliding), 36 caches (36 global, 0 sliding)'
expect_arch qwen3-0.6b 'model "qwen3-0.6b": 28 layers, hidden 1024, heads 16, kv_heads 8, head_dim 128, ffn 3072, vocab 151936' \
  '28 layers (28 global, 0 sliding), 28 caches (28 global, 0 sliding)'
expect_arch gemma2-2b-it 'model "gemma2-2b-it": 26 layers, hidden 2304, heads 8, kv_heads 4, head_dim 256, ffn 9216, vocab 256000' \
  '26 layers (13 global, 13 sliding), 26 caches (13 global, 13 sliding)'
expect_arch gemma3-4b 'model "gemma3-4b": 34 layers, hidden 2560, heads 8, kv_heads 4, head_dim 256, ffn 10240, vocab 262208' \
  '34 layers (5 global, 29 sliding), 34 caches (5 global, 29 sliding)'
expect_arch qwen2-swa-synthetic 'model "qwen2-swa-synthetic": 28 layers, hidden 3584, heads 28, kv_heads 4, head_dim 128, ffn 18944, vocab 152064' \
  '28 layers (21 global, 7 sliding), 28 caches (21 global, 7 sliding)'
expect_arch hymba-1.5b 'model "hymba-1.5b": 32 layers, hidden 1600, heads 25, kv_heads 5, head_dim 64, ffn 5504, vocab 32001' \
  '32 layers (3 global, 29 sliding), 17 caches (3 global, 14 sliding)'
# Llama 4: every 4th layer global (NoPE), the others chunked 8192; ffn one expert's width (MoE refused)
expect_arch llama4-scout 'model "llama4-scout": 48 layers, hidden 5120, heads 40, kv_heads 8, head_dim 128, ffn 8192, vocab 202048' \
  '48 layers (12 global, 0 sliding, 36 chunked), 48 caches (12 global, 0 sliding, 36 chunked)'
expect_arch llama4-dense-synthetic 'model "llama4-dense-synthetic": 8 layers, hidden 512, heads 8, kv_heads 2, head_dim 64, ffn 1024, vocab 1000' \
  '8 layers (2 global, 0 sliding, 6 chunked), 8 caches (2 global, 0 sliding, 6 chunked)'

# Exact per-layer facts of the published layouts (REFERENCES / configs): who is global, who reads whom.
row() { "$MIXC" check "$tmp/$1.mix" | awk -v i="$2" '$1 == i { print $2 == "global" ? "global" : $2 " " $3, "reads", $(NF-1) }'; }
expect_row() {  # name layer expected
  local got; got=$(row "$1" "$2")
  if [ "$got" = "$3" ]; then pass "layer $2 of $1: $3"; else fail "layer $2 of $1" "want: $3" "got:  $got"; fi
}
expect_row gemma3-27b 5 "global reads 5"
expect_row gemma3-27b 6 "window 1024 reads 6"
expect_row gemma2-9b 0 "window 4096 reads 0"
expect_row gpt-oss-20b 0 "window 128 reads 0"
expect_row gpt-oss-20b 23 "global reads 23"
expect_row command-r7b 3 "global reads 3"
expect_row gemma3n-e4b 20 "window 512 reads 18"
expect_row gemma3n-e4b 24 "global reads 19"
expect_row gemma3n-e4b 34 "global reads 19"
expect_row hymba-1.5b 15 "global reads 15"
expect_row hymba-1.5b 18 "window 1024 reads 16"
expect_row hymba-1.5b 30 "window 1024 reads 29"
expect_row gemma2-2b-it 0 "window 4096 reads 0"
expect_row gemma2-2b-it 1 "global reads 1"
expect_row gemma3-4b 5 "global reads 5"
expect_row gemma3-4b 4 "window 1024 reads 4"
expect_row qwen2-swa-synthetic 20 "global reads 20"
expect_row qwen2-swa-synthetic 21 "window 4096 reads 21"
expect_row llama4-scout 0 "chunked 8192 reads 0"
expect_row llama4-scout 3 "global reads 3"
expect_row llama4-scout 46 "chunked 8192 reads 46"
expect_row llama4-layer-types-synthetic 3 "global reads 3"
# Llama 4's KV per sequence at 32K: 12 full caches + 36 rings of 8192 + 512 - 1 tokens, against 48
# full ones when its chunked layers were global (2.23x; the issue's over-count)
if "$MIXC" report "$tmp/llama4-scout.mix" --context 32K --format json 2>/dev/null |
   jq -e '.contexts[0].kv_bytes_per_sequence == (12 * 32768 + 36 * 8703) * 4096 and .contexts[0].standard_kv_bytes_per_sequence == 48 * 32768 * 4096' >/dev/null; then
  pass "llama4-scout: KV per sequence at 32K counts its chunked layers as rings"
else fail "llama4-scout: KV per sequence at 32K" "$("$MIXC" report "$tmp/llama4-scout.mix" --context 32K --format json 2>&1 | head -c 400)"; fi

# Llama 4 Maverick: experts on the odd layers (moe_layers 1, 3, ..., 47 and interleave_moe_layer_step
# 2) import as moe_step 2 and dense_ffn = intermediate_size_mlp; the import's weights equal the
# example's (400.7B, 17.2B active); Qwen3-MoE's decoder_sparse_step 3: dense_ffn = intermediate_size.
params_of() { "$MIXC" report "$1" --format json 2>/dev/null | jq -c '.weights | [.parameters, .active_parameters, .mlp_dense_layers]'; }
if grep -qE '^ *moe_step *= 2$' "$tmp/llama4-maverick.mix" && grep -qE '^ *dense_ffn *= 16384$' "$tmp/llama4-maverick.mix" &&
   [ "$(params_of "$tmp/llama4-maverick.mix")" = "$(params_of examples/llama4-maverick.mix)" ] &&
   [ "$(params_of "$tmp/llama4-maverick.mix")" = "[400711848960,17184691200,6039797760]" ]; then
  pass "llama4-maverick: moe_step 2, dense_ffn 16384; the example's parameters $(params_of examples/llama4-maverick.mix)"
else fail "llama4-maverick: moe_step import" "$(params_of "$tmp/llama4-maverick.mix") vs $(params_of examples/llama4-maverick.mix)"; fi
if grep -qE '^ *moe_step *= 3$' "$tmp/qwen3-moe-sparse-step-synthetic.mix" &&
   grep -qE '^ *dense_ffn *= 1536$' "$tmp/qwen3-moe-sparse-step-synthetic.mix" &&
   grep -qE '^ *ffn *= 256$' "$tmp/qwen3-moe-sparse-step-synthetic.mix"; then
  pass "qwen3_moe decoder_sparse_step 3: moe_step 3, dense_ffn = intermediate_size, ffn = moe_intermediate_size"
else fail "qwen3_moe decoder_sparse_step" "$(cat "$tmp/qwen3-moe-sparse-step-synthetic.mix")"; fi
"$MIXC" export "$tmp/qwen3-moe-sparse-step-synthetic.mix" --hf -o "$tmp/qs.json" 2>/dev/null
if [ "$(jq -c '[.interleave_moe_layer_step, .intermediate_size_mlp, .intermediate_size]' "$tmp/qs.json")" = "[3,1536,256]" ] &&
   diff <("$MIXC" check "$tmp/qwen3-moe-sparse-step-synthetic.mix" | tail -n +2) <("$MIXC" import "$tmp/qs.json" 2>/dev/null |
                                                                               "$MIXC" check - | tail -n +2) >/dev/null; then
  pass "export --hf writes moe_step and dense_ffn (interleave_moe_layer_step, intermediate_size_mlp); import reads them back"
else fail "export --hf moe_step" "$(jq -c . "$tmp/qs.json" | head -c 600)"; fi

# ---- imports agree with the hand-written examples (layer tables of `mixc check`)
for pair in mistral-7b gemma2-9b gemma3-27b gemma3n-e4b gpt-oss-20b hymba-1.5b llama4-scout llama4-maverick; do
  if [ ! -f "examples/$pair.mix" ]; then echo "SKIP example $pair (examples/$pair.mix absent)"; continue; fi
  if diff <(layers_of "examples/$pair.mix") <(layers_of "$tmp/$pair.mix") >"$tmp/ex.diff"; then
    pass "import $pair has the layers of examples/$pair.mix"
  else fail "import $pair vs examples/$pair.mix" "$(head -20 "$tmp/ex.diff")"; fi
done

# ---- round trips
# config -> .mix -> --hf -> .mix: the same normalized layout, header included
for cfg in $T/configs/*.json; do
  name=$(basename "$cfg" .json)
  [ -f "$tmp/$name.mix" ] || continue
  if "$MIXC" export "$tmp/$name.mix" --hf -o "$tmp/$name.hf.json" 2>"$tmp/e.err" &&
     "$MIXC" import "$tmp/$name.hf.json" >"$tmp/$name.back.mix" 2>"$tmp/i.err" &&
     diff <("$MIXC" check "$tmp/$name.mix") <("$MIXC" check "$tmp/$name.back.mix") >"$tmp/rt.diff"; then
    pass "round trip $name: import, export --hf, import"
  else fail "round trip $name (hf)" "$(cat "$tmp/e.err" "$tmp/i.err" "$tmp/rt.diff" 2>/dev/null | head -20)"; fi
done
# every example: .mix -> --hf -> .mix (names, kv_dtype and chunk included) and, with one window, --lckv
for ex in examples/*.mix; do
  name=$(basename "$ex" .mix)
  if "$MIXC" check "$ex" | grep -q ' kv_heads [0-9]* head_dim [0-9]* '; then   # per-layer shapes: no form says them
    first=$("$MIXC" check "$ex" | awk '/ kv_heads [0-9]* head_dim [0-9]* / {print $1; exit}')
    refused=0
    for form in --hf --lckv --foundry "--transformers $tmp/tx" "--vllm $tmp/vl"; do
      # shellcheck disable=SC2086
      ! "$MIXC" export "$ex" $form >/dev/null 2>"$tmp/e.err" && [ ! -e "$tmp/tx" ] && [ ! -e "$tmp/vl" ] &&
        grep -q "^mixc: layer $first has its own kv_heads [0-9]* and head_dim [0-9]* (header: [0-9]* and [0-9]*): .* cannot say per-layer KV shapes$" "$tmp/e.err" &&
        refused=$((refused + 1))
    done
    [ "$refused" = 5 ] && pass "export examples/$name: every form refuses per-layer KV shapes, naming layer $first" ||
      fail "export examples/$name: per-layer shapes not refused by every form" "$(cat "$tmp/e.err")"
    continue
  fi
  if "$MIXC" export "$ex" -o "$tmp/x.json" 2>"$tmp/e.err" && "$MIXC" import "$tmp/x.json" >"$tmp/x.mix" 2>"$tmp/i.err" &&
     diff <("$MIXC" check "$ex") <("$MIXC" check "$tmp/x.mix") >"$tmp/rt.diff"; then
    pass "round trip examples/$name: export --hf, import"
  else fail "round trip examples/$name (hf)" "$(cat "$tmp/e.err" "$tmp/i.err" "$tmp/rt.diff" | head -20)"; fi
  if "$MIXC" check "$ex" | grep -q ' chunked [0-9]\| sinks '; then   # an LCKV string cannot say these
    if ! "$MIXC" export "$ex" --lckv >/dev/null 2>"$tmp/e.err" &&
       grep -qx "mixc: layer [0-9]* \(is chunked [0-9]*: an LCKV string cannot say chunked attention\|has attention sinks: an LCKV string cannot say them\)" "$tmp/e.err"; then
      pass "export --lckv examples/$name: refused, naming the chunked layer or the one with sinks"
    else fail "export --lckv examples/$name: not refused" "$(cat "$tmp/e.err")"; fi
    continue
  fi
  lckv=$("$MIXC" export "$ex" --lckv 2>"$tmp/e.err") || { fail "export --lckv examples/$name" "$(cat "$tmp/e.err")"; continue; }
  win=$(sed -n 's/.*--window \([0-9]*\).*/\1/p' "$tmp/e.err")
  if "$MIXC" import --lckv "$lckv" ${win:+--window $win} --config "$tmp/x.json" >"$tmp/l.mix" 2>"$tmp/i.err" &&
     diff <("$MIXC" check "$ex") <("$MIXC" check "$tmp/l.mix") >"$tmp/rt.diff" &&
     [ "$("$MIXC" export "$tmp/l.mix" --lckv 2>/dev/null)" = "$lckv" ]; then
    pass "round trip examples/$name: export --lckv, import --lckv, export --lckv"
  else fail "round trip examples/$name (lckv)" "$lckv" "$(cat "$tmp/i.err" "$tmp/rt.diff" | head -20)"; fi
done
# The MA-Pairs string of the MixAttention paper (REFERENCES): import, then export gives it back.
ma=0_1s_1s_3s_3s_3s_0_7s_7s_9s_9s_9s_12_13s_13s_15s_15s_15s_12_19s_19s_19s
if "$MIXC" import --lckv "$ma" --window 1024 >"$tmp/ma.mix" 2>"$tmp/ma.err" &&
   [ "$("$MIXC" export "$tmp/ma.mix" --lckv 2>/dev/null)" = "$ma" ] &&
   "$MIXC" check "$tmp/ma.mix" | sed -n 3p | grep -qx '22 layers (4 global, 18 sliding), 9 caches (2 global, 7 sliding)'; then
  pass "lckv: MA-Pairs string round trip and cache count"
else fail "lckv: MA-Pairs" "$(cat "$tmp/ma.err" "$tmp/ma.mix")"; fi

# ---- pipes and output files
if "$MIXC" import --allow-unsupported $T/configs/gemma3-1b.json 2>/dev/null | "$MIXC" check - >/dev/null 2>&1; then pass "import | check -"
else fail "import | check -"; fi
if "$MIXC" import --allow-unsupported $T/configs/gpt-oss-20b.json -o "$tmp/out.mix" 2>/dev/null && cmp -s "$tmp/out.mix" "$T/golden/gpt-oss-20b.mix"; then
  pass "import -o writes the file"; else fail "import -o writes the file"; fi
if ! "$MIXC" import --allow-unsupported $T/configs/gpt-oss-20b.json -o "$tmp/no/such/dir/out.mix" 2>"$tmp/o.err" && [ ! -e "$tmp/no/such/dir/out.mix" ] &&
   grep -q "cannot write" "$tmp/o.err"; then pass "import -o to an unwritable place fails cleanly"
else fail "import -o to an unwritable place" "$(cat "$tmp/o.err")"; fi
if ! "$MIXC" import $T/bad/heads-kv.json -o "$tmp/bad.mix" 2>/dev/null && [ ! -e "$tmp/bad.mix" ]; then
  pass "a failed import writes nothing"; else fail "a failed import writes nothing"; fi
if ! "$MIXC" import $T/configs/command-r7b.json -o "$tmp/refused.mix" 2>/dev/null && [ ! -e "$tmp/refused.mix" ]; then
  pass "a refused import writes nothing"; else fail "a refused import writes nothing"; fi

# attention_bias in a llama config: q, k, v and o biases (LlamaAttention), imported as qkv_bias and
# o_bias and exported back as mixc's own fields; in a qwen3 config it stays refused (unsupported/).
if "$MIXC" import $T/llama-attention-bias.json -o "$tmp/lab.mix" 2>"$tmp/lab.err" &&
   grep -qE '^ *qkv_bias *= true$' "$tmp/lab.mix" && grep -qE '^ *o_bias *= true$' "$tmp/lab.mix" && [ ! -s "$tmp/lab.err" ] &&
   "$MIXC" export "$tmp/lab.mix" --hf | jq -e '.mixc_qkv_bias == true and .mixc_o_bias == true' >/dev/null; then
  pass "llama attention_bias imports as qkv_bias + o_bias and exports back"
else fail "llama attention_bias imports as qkv_bias + o_bias" "$(cat "$tmp/lab.err")"; fi

# ---- errors name the field (exit 1), usage errors exit 2
expect_err() {  # file rc message-fragment
  local out rc; out=$("$MIXC" import "$1" 2>&1 >/dev/null); rc=$?
  if [ "$rc" = "$2" ] && grep -qF -- "$3" <<<"$out"; then pass "error: $(basename "$1"): $3"
  else fail "error: $1" "want rc $2 and: $3" "got rc $rc: $out"; fi
}
B=$T/bad
expect_err $B/types-length.json 1 "mixc: $B/types-length.json: 'layer_types' has 30 entries but num_hidden_layers is 26"
expect_err $B/null-window.json 1 "'layer_types' makes layer 0 sliding but 'sliding_window' is null"
expect_err $B/unknown-type-entry.json 1 "'layer_types' entry 0 is 'linear_attention'"
expect_err $B/shared-too-many.json 1 "'num_kv_shared_layers' is 10 but num_hidden_layers is 10"
expect_err $B/shared-no-earlier.json 1 "'num_kv_shared_layers' is 6: layer 4 is global, but no layer before 4 is"
expect_err $B/reuse-backwards.json 1 "'kv_reuse_group' group 1: layer 3 would reuse the cache of layer 4, which runs after it"
expect_err $B/reuse-twice.json 1 "'kv_reuse_group': layer 2 is in two groups"
# a reader's RoPE must be its owner's (no_rope_layers makes layer 3 nope; found by fuzz_import, which
# met the checker's refusal of the written .mix: an 'internal error')
expect_err $B/reuse-across-rope.json 1 "its KV sharing makes layer 3 (nope) read the cache of layer 0 (the header's RoPE)"
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); del c["kv_reuse_group"]; json.dump(c, open(sys.argv[2], "w"))' \
  $B/reuse-across-rope.json "$tmp/nope-layer-3.json"
out=$("$MIXC" import --lckv 0_0_0_0 --config "$tmp/nope-layer-3.json" 2>&1 >/dev/null); rc=$?
if [ $rc = 1 ] && grep -qF "the LCKV string with $tmp/nope-layer-3.json's per-layer RoPE: its KV sharing makes layer 3 (nope) read the cache of layer 0" <<<"$out"; then
  pass "error: an LCKV string whose sharing crosses the config's per-layer RoPE"
else fail "error: LCKV sharing across RoPE" "rc $rc: $out"; fi
expect_err $B/target-forward.json 1 "'kv_sharing_target' entry 1 is 2"
expect_err $B/pattern-disagrees.json 1 "'layer_types' and 'sliding_window_pattern' (6) disagree at layer 1"
expect_err $B/heads-kv.json 1 "'num_attention_heads' (32) is not a multiple of 'num_key_value_heads' (5)"
expect_err $B/missing-hidden.json 1 "missing required field 'hidden_size'"
expect_err $B/qwen-null-window.json 1 "'use_sliding_window' is true but 'sliding_window' is null"
expect_err $B/two-sharings.json 1 "more than one of 'kv_sharing_target', 'kv_reuse_group' and 'num_kv_shared_layers'"
expect_err $B/not-object.json 1 "the top level is not a JSON object"
expect_err $B/bad-int.json 1 "'num_hidden_layers' must be an integer"
expect_err $B/invalid.json 1 "$B/invalid.json:3:23: error: invalid JSON:"
expect_err $B/duplicate-key.json 1 "error: invalid JSON: duplicate object key"
expect_err $B/llama4-chunk-size.json 1 "'attention_chunk_size' must be a positive integer"
expect_err $B/chunked-no-size.json 1 "'attention_chunk_size' must be a positive integer (chunked layers need it)"
expect_err $B/sinks-length.json 1 "'mixc_sinks' must be a list of 2 booleans (true: the layer has attention sinks)"
# HF has one attention_chunk_size: two chunk sizes are refused by --hf, naming the layer
printf 'model "two" {\n layers = 3\n hidden = 256\n heads = 4\n ffn = 512\n vocab = 100\n}\nlayer 0 : chunked 64\nlayer 1 : global\nlayer 2 : chunked 128\n' >"$tmp/two.mix"
if ! "$MIXC" export "$tmp/two.mix" --hf >"$tmp/two.json" 2>"$tmp/two.err" && [ ! -s "$tmp/two.json" ] &&
   grep -qx "mixc: layer 2 is chunked 128 but an earlier layer chunked 64: an HF config has one attention_chunk_size" "$tmp/two.err"; then
  pass "export --hf refuses chunked layers of two sizes, naming the layer"
else fail "export --hf with two chunk sizes" "$(cat "$tmp/two.err")"; fi
expect_err $T/no-such-config.json 2 "mixc import: cannot read '$T/no-such-config.json': No such file or directory"

expect_warn() {  # file message-fragment [options]: exit 0 with the warning on stderr
  local f=$1 msg=$2; shift 2
  local out rc; out=$("$MIXC" import "$@" "$f" 2>&1 >"$tmp/w.mix"); rc=$?
  if [ "$rc" = 0 ] && grep -qF -- "$msg" <<<"$out" && "$MIXC" check -q "$tmp/w.mix"; then pass "warning: $(basename "$f"): $msg"
  else fail "warning: $f" "want rc 0 and: $msg" "got rc $rc: $out"; fi
}
# fields a family's transformers code never reads are ignored, as there: Mistral's layer_types
# (MistralAttention reads sliding_window alone: every layer slides), Gemma 2's sliding_window_pattern
expect_warn $T/warn/mistral-layer-types.json "'layer_types' is not read by transformers' mistral: ignored, as it is there"
"$MIXC" import $T/warn/mistral-layer-types.json 2>/dev/null | grep -q '^default : local$' &&
  pass "mistral's layer_types ignored: every layer in sliding_window" || fail "mistral's layer_types ignored: every layer in sliding_window"
expect_warn $T/warn/gemma2-pattern.json "'sliding_window_pattern' is not read by transformers' gemma2: ignored, as it is there"
"$MIXC" import $T/warn/gemma2-pattern.json 2>/dev/null | grep -q '^layers 0..3 : pattern \[local, global\]$' &&
  pass "gemma2's sliding_window_pattern ignored: its alternation" || fail "gemma2's sliding_window_pattern ignored: its alternation"
expect_err $T/warn/unknown-model.json 1 "'model_type' \"olmo9\" is not supported (a model mixc does not know;"
expect_warn $T/warn/unknown-model.json "warning: 'model_type' \"olmo9\" is not supported" --allow-unsupported
expect_warn $T/warn/odd-field.json "warning: ignoring 'swa_layers_every'"
# transformers' llama never reads sliding_window: every layer global, as the model computes
expect_warn $T/warn/llama-window.json "warning: 'sliding_window' is not read by transformers' llama: ignored, as it is there"
expect_warn $T/warn/llama-window.json "  hint: every layer is imported as global; model_type mistral attends in a window of 2048"
if "$MIXC" import $T/warn/llama-window.json 2>/dev/null | "$MIXC" check - 2>/dev/null | grep -q "4 layers (4 global"; then
  pass "llama's sliding_window: imported as 4 global layers"; else fail "llama's sliding_window: imported as global"; fi
expect_warn $T/configs/gemma2-9b.json "warning: 'torch_dtype' \"float32\" is not supported" --allow-unsupported
expect_err $T/bad/null-window.json 1 "'layer_types' makes layer 0 sliding but 'sliding_window' is null"
# Gemma2Config's alternation with sliding_window null: transformers cannot build its sliding mask either
expect_err $T/bad/gemma2-null-window.json 1 "the family's default pattern makes layer 0 sliding but 'sliding_window' is null"
if "$MIXC" import $T/bad/null-window.json 2>&1 | grep -q "hint: "; then fail "no --allow-unsupported hint when it would not help"
else pass "no --allow-unsupported hint when another error remains"; fi
# Hymba's kv_reuse_every_i_layer with no window: groups of 3 global layers; rope_parameters; dtype.
"$MIXC" import --allow-unsupported $T/warn/every-i.json >"$tmp/ev.mix" 2>/dev/null
if [ "$("$MIXC" export "$tmp/ev.mix" --lckv 2>/dev/null)" = "0_0_0_3_3_3" ]; then pass "kv_reuse_every_i_layer 3"
else fail "kv_reuse_every_i_layer 3" "$(cat "$tmp/ev.mix")"; fi
"$MIXC" import --allow-unsupported $T/warn/rope-parameters.json >"$tmp/rp.mix" 2>/dev/null
if grep -q 'rope_theta *= 1000000$' "$tmp/rp.mix" && grep -q 'dtype *= fp16' "$tmp/rp.mix"; then
  pass "rope_parameters.full_attention.rope_theta and dtype"; else fail "rope_parameters" "$(cat "$tmp/rp.mix")"; fi
# RoPE scaling: yarn with transformers' defaults and attention factor (get_mscale(factor), or
# mscale / mscale_all_dim), from rope_scaling and from transformers 5's rope_parameters; each imports
# exactly, checks, and survives export --hf and import again.
rope_lines() { grep '^ *rope_' "$1" | tr -s ' '; }
expect_rope() {  # config, expected rope_* lines (one per line)
  local cfg=$1 name; name=$(basename "$1" .json); shift
  "$MIXC" import "$cfg" >"$tmp/$name.mix" 2>"$tmp/$name.err" &&
    "$MIXC" export "$tmp/$name.mix" --hf -o "$tmp/$name.hf.json" 2>>"$tmp/$name.err" &&
    "$MIXC" import "$tmp/$name.hf.json" >"$tmp/$name.rt.mix" 2>>"$tmp/$name.err"
  if [ "$(rope_lines "$tmp/$name.mix")" = "$(printf '%s\n' "$@")" ] &&
     [ "$(rope_lines "$tmp/$name.rt.mix")" = "$(printf '%s\n' "$@")" ] && "$MIXC" check -q "$tmp/$name.mix"; then
    pass "rope scaling of $name imported, checked and round-tripped through export --hf"
  else fail "rope scaling of $name" "$(cat "$tmp/$name.err")" "$(rope_lines "$tmp/$name.mix")"; fi
}
expect_rope $T/warn/qwen2.5-yarn.json " rope_theta = 1000000" " rope_scaling = yarn" " rope_factor = 4" \
  " rope_original_context = 32768" " rope_beta_fast = 32" " rope_beta_slow = 1" " rope_attention_factor = 1.138629436111989" " rope_truncate = true"
expect_rope $T/warn/deepseek-yarn-mscale.json " rope_theta = 10000" " rope_scaling = yarn" " rope_factor = 40" \
  " rope_original_context = 4096" " rope_beta_fast = 32" " rope_beta_slow = 1" " rope_attention_factor = 1" " rope_truncate = true"
expect_rope $T/warn/rope-parameters-yarn.json " rope_theta = 500000" " rope_scaling = yarn" " rope_factor = 4" \
  " rope_original_context = 1024" " rope_beta_fast = 32" " rope_beta_slow = 1" " rope_attention_factor = 1.138629436111989" " rope_truncate = true"
# yarn's truncate false (gpt-oss: the ramp's bounds not floored and ceiled), given and as gpt_oss's default
expect_rope $T/warn/yarn-no-truncate.json " rope_theta = 150000" " rope_scaling = yarn" " rope_factor = 32" \
  " rope_original_context = 4096" " rope_beta_fast = 32" " rope_beta_slow = 1" " rope_attention_factor = 1.3465735902799727" \
  " rope_truncate = false"
expect_rope $T/warn/gpt-oss-default-rope.json " rope_theta = 150000" " rope_scaling = yarn" " rope_factor = 32" \
  " rope_original_context = 4096" " rope_beta_fast = 32" " rope_beta_slow = 1" " rope_attention_factor = 1.3465735902799727" \
  " rope_truncate = false"
# original_max_position_embeddings past 2^53 (found by fuzz_import: it was read as a double and written
# as 9.9e15, which the .mix checker refuses): exactly, through import, export --hf and import again; a
# real there is exact only below 2^53, so 1e16 is refused
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["rope_scaling"]["original_max_position_embeddings"] = 9900001333891459
json.dump(c, open(sys.argv[2], "w"))' $T/warn/qwen2.5-yarn.json "$tmp/yarn-orig-2p53.json"
expect_rope "$tmp/yarn-orig-2p53.json" " rope_theta = 1000000" " rope_scaling = yarn" " rope_factor = 4" \
  " rope_original_context = 9900001333891459" " rope_beta_fast = 32" " rope_beta_slow = 1" " rope_attention_factor = 1.138629436111989" " rope_truncate = true"
sed 's/9900001333891459/1e16/' "$tmp/yarn-orig-2p53.json" >"$tmp/yarn-orig-real.json"
if "$MIXC" import "$tmp/yarn-orig-real.json" 2>&1 >/dev/null | grep -q "original_max_position_embeddings.*a positive integer"; then
  pass "original_max_position_embeddings 1e16 (a real past 2^53) is refused"
else fail "original_max_position_embeddings 1e16" "$("$MIXC" import "$tmp/yarn-orig-real.json" 2>&1 | head -3)"; fi
# Per-layer RoPE: SmolLM3's no_rope_layers (and its no_rope_layer_interval default) as a nope kind;
# Gemma 3's rope_local_base_freq as the sliding kind's own, unscaled, base beside a linear-scaled header.
nope_mix() { "$MIXC" import "$1" 2>&1 | grep -E '^(attention|layers?) '; }
if [ "$(nope_mix $T/warn/smollm3-3b.json)" = "$(printf '%s\n' 'attention global_nope = global nope' 'layers 0..35 : pattern [global * 3, global_nope]')" ] &&
   [ "$(nope_mix $T/warn/smollm3-interval.json)" = "$(printf '%s\n' 'attention global_nope = global nope' 'layers 0..7 : pattern [global * 3, global_nope]')" ]; then
  pass "smollm3: no_rope_layers (and no_rope_layer_interval 4) import as a nope kind"
else fail "smollm3 no_rope_layers" "$(nope_mix $T/warn/smollm3-3b.json)"; fi
"$MIXC" import --allow-unsupported $T/warn/gemma3-local-base-linear.json >"$tmp/g3.mix" 2>/dev/null
if grep -q '^attention local_theta10000 = window 512 rope_theta 10000$' "$tmp/g3.mix" && grep -q '^layer 5 *: global$' "$tmp/g3.mix" &&
   grep -q 'rope_scaling *= linear' "$tmp/g3.mix" && "$MIXC" check -q "$tmp/g3.mix" &&
   "$MIXC" export "$tmp/g3.mix" --hf -o "$tmp/g3.json" && [ "$(jq -c '[.rope_local_base_freq, .rope_scaling.rope_type]' "$tmp/g3.json")" = '[10000,"linear"]' ] &&
   "$MIXC" import --allow-unsupported "$tmp/g3.json" 2>/dev/null | grep -q '^attention local_theta10000 = window 512 rope_theta 10000$'; then
  pass "gemma3: rope_local_base_freq on the sliding kind (unscaled), linear scaling on the global layers; export --hf round trip"
else fail "gemma3 rope_local_base_freq" "$(cat "$tmp/g3.mix")"; fi
"$MIXC" export tests/check/rope-kinds-ok.mix --hf -o "$tmp/nope.json" 2>/dev/null
if [ "$(jq -c .no_rope_layers "$tmp/nope.json")" = "[0,1,1,0,1,1]" ] &&
   "$MIXC" import "$tmp/nope.json" 2>/dev/null | grep -q '^layer 3 *: global_nope reads 0$'; then
  pass "export --hf writes no_rope_layers; import reads them back (a nope reader of a nope owner)"
else fail "export no_rope_layers" "$(cat "$tmp/nope.json")"; fi
expect_rope $T/configs/llama-3.1-8b.json " rope_theta = 500000" " rope_scaling = llama3" " rope_factor = 8" \
  " rope_low_freq_factor = 1" " rope_high_freq_factor = 4" " rope_original_context = 8192"

expect_usage() {  # rc, args...
  local want=$1; shift
  "$MIXC" "$@" >"$tmp/u.out" 2>"$tmp/u.err"; local rc=$?
  if [ "$rc" = "$want" ]; then pass "usage: mixc $* -> $want"; else fail "usage: mixc $*" "rc $rc, want $want: $(cat "$tmp/u.err")"; fi
}
expect_usage 0 import --help
expect_usage 0 export --help
expect_usage 2 import
expect_usage 2 import --bogus x.json
expect_usage 2 import a.json b.json
expect_usage 2 import --lckv 0_1s --window 0
expect_usage 2 import $T/configs/mistral-7b.json --window 64
expect_usage 1 import --lckv 0_2 --window 64
expect_usage 2 import --lckv 0_1s --window 64 --allow-unsupported
expect_usage 0 import --lckv 0_0_0_0 --config $T/unsupported/gemma3-local-base.json --allow-unsupported
expect_usage 1 import --lckv 0_0_0_0 --config $T/unsupported/qwen3-attention-bias.json
if "$MIXC" import --lckv 0_0_0_0 --config $T/unsupported/qwen3-attention-bias.json --allow-unsupported 2>/dev/null |
   grep -qx "# unsupported: 'attention_bias' true ignored (mixc computes attention_bias (q, k, v and o biases) in llama and gpt_oss configs only)"; then
  pass "--lckv --config --allow-unsupported records the config's unsupported fields"
else fail "--lckv --config --allow-unsupported records the config's unsupported fields"; fi
if "$MIXC" import --help | grep -q -- '--allow-unsupported'; then pass "--help lists --allow-unsupported"
else fail "--help lists --allow-unsupported"; fi
expect_usage 2 export
expect_usage 2 export --bogus examples/standard.mix
expect_usage 2 export $T/no-such.mix
if "$MIXC" import --help | grep -q '^usage: mixc import' && "$MIXC" export --help | grep -q '^usage: mixc export'; then
  pass "--help prints usage on stdout"; else fail "--help prints usage on stdout"; fi
# export --hf with two different windows: the extension field, and the import gives them back
cat >"$tmp/two.mix" <<'EOF'
model "two" {
    layers = 4
    hidden = 256
    heads = 4
    ffn = 512
    vocab = 1000
}
layers 0..3 : pattern [window 64, window 128 reads prev]
EOF
if "$MIXC" export "$tmp/two.mix" >"$tmp/two.json" 2>"$tmp/two.err" && grep -q mixc_sliding_windows "$tmp/two.json" &&
   grep -q "different windows" "$tmp/two.err" && "$MIXC" import "$tmp/two.json" >"$tmp/two.back.mix" 2>/dev/null &&
   diff <("$MIXC" check "$tmp/two.mix" 2>/dev/null) <("$MIXC" check "$tmp/two.back.mix" 2>/dev/null) >/dev/null; then
  pass "export --hf with two windows round trips through mixc_sliding_windows"
else fail "two windows" "$(cat "$tmp/two.err" "$tmp/two.json")"; fi

[ "$fails" -eq 0 ]
