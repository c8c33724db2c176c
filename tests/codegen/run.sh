#!/usr/bin/env bash
# `mixc emit`: command line, golden kernel names and layer mapping, manifest consistency, and a
# compile of the emitted kernels with nvcc for sm_80 and sm_90 asserting zero spills (ptxas -v).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=$CUDA_HOME/bin/nvcc
. tests/toolkit.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
pass() { echo "PASS codegen/$1"; }
fail() { echo "FAIL codegen/$1"; shift; [ $# -gt 0 ] && printf '  %s\n' "$@"; rc=1; }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }

# ---------------------------------------------------------------- command line
out=$("$MIXC" emit --help 2>&1); st=$?
check help test $st -eq 0 -a -n "$(grep -e '--resources' <<<"$out")"

usage_case() {   # name, args...: exit 2 and a message on stderr
  local name=$1; shift
  "$MIXC" emit "$@" >"$tmp/out" 2>"$tmp/err"; local st=$?
  if [ $st -eq 2 ] && [ -s "$tmp/err" ] && [ ! -s "$tmp/out" ]; then pass "usage-$name"
  else fail "usage-$name" "exit $st" "$(cat "$tmp/err")"; fi
}
usage_case no-args
usage_case no-output examples/mistral-7b.mix
usage_case unknown-option examples/mistral-7b.mix -o "$tmp/u" --frobnicate
usage_case bad-arch examples/mistral-7b.mix -o "$tmp/u" --arch sm_75
usage_case bad-context examples/mistral-7b.mix -o "$tmp/u" --context 12Q
usage_case zero-chunk examples/mistral-7b.mix -o "$tmp/u" --chunk 0
usage_case two-inputs examples/mistral-7b.mix examples/swa.mix -o "$tmp/u"
usage_case missing-value examples/mistral-7b.mix -o
usage_case zero-page-tokens examples/mistral-7b.mix -o "$tmp/u" --page-tokens 0

input_error() {  # name, expected stderr substring, args...: exit 1 (or $WANT_STATUS), nothing written
  local name=$1 want=$2; shift 2
  rm -rf "$tmp/e"; mkdir "$tmp/e"
  "$MIXC" emit "$@" -o "$tmp/e" >"$tmp/out" 2>"$tmp/err"; local st=$?
  if [ $st -eq "${WANT_STATUS:-1}" ] && grep -qF -- "$want" "$tmp/err" && [ -z "$(ls -A "$tmp/e")" ]; then
    pass "error-$name"
  else fail "error-$name" "exit $st, files: $(ls -A "$tmp/e")" "$(cat "$tmp/err")"; fi
}
# an unreadable file exits 2, as in every command
WANT_STATUS=2 input_error missing-file "cannot read '$tmp/no-such.mix'" "$tmp/no-such.mix"
sed 's/kv_dtype = int8/kv_dtype = fp16/' examples/character-ai.mix >"$tmp/fp16kv.mix"
input_error fp16-kv-in-bf16 "kv_dtype fp16 is not supported by the kernels" "$tmp/fp16kv.mix"
printf 'model "x" {\n layers = 1\n hidden = 96\n heads = 1\n ffn = 8\n vocab = 8\n}\ndefault : global\n' \
  >"$tmp/hd96.mix"
input_error head-dim-96 "head_dim 96 is not supported" "$tmp/hd96.mix"
# per-kind KV shapes run (below), but a kind's head_dim the kernels cannot take is refused naming the
# first layer of that kind (gemma4-style's global kind at head_dim 1024, or 576: above 512)
sed 's/head_dim 512/head_dim 1024/' examples/gemma4-style.mix >"$tmp/g4-hd1024.mix"
input_error kind-head-dim-1024 "layer 5's head_dim 1024 is not supported by the kernels (a multiple of 64 up to 512)" \
  "$tmp/g4-hd1024.mix"
sed 's/head_dim 512/head_dim 576/' examples/gemma4-style.mix >"$tmp/g4-hd576.mix"
input_error kind-head-dim-576 "layer 5's head_dim 576 is not supported by the kernels (a multiple of 64 up to 512)" \
  "$tmp/g4-hd576.mix"
printf 'model "x" {\n layers = 1\n hidden = 128\n heads = 128\n kv_heads = 1\n head_dim = 256\n ffn = 8\n vocab = 8\n}\ndefault : global\n' \
  >"$tmp/g128.mix"
input_error group-too-large "GQA group 128 at head_dim 256 is too large" "$tmp/g128.mix"
printf 'model "x" {\n layers = 1\n hidden = 10\n heads = 1\n ffn = 8\n vocab = 8\n}\ndefault : global\n' \
  >"$tmp/bad.mix"
printf 'layer 7 : global\n' >>"$tmp/bad.mix"
input_error check-errors "error:" "$tmp/bad.mix"

# -o naming an existing regular file: cannot write, nothing left behind.
: >"$tmp/file"
"$MIXC" emit examples/mistral-7b.mix -o "$tmp/file" >/dev/null 2>"$tmp/err"; st=$?
check output-not-a-dir test $st -eq 1 -a -s "$tmp/err" -a ! -s "$tmp/file"
check output-not-a-dir-message grep -q "^mixc emit: cannot write '$tmp/file': Not a directory" "$tmp/err"

# ---------------------------------------------------------------- golden names and mapping
# One line per kernel: name, block, grid, dynamic smem; then one line per layer: its kernels.
summary() {
  jq -r '(.kernels[] | "kernel \(.name) block=\(.block[0]) grid=\(.grid|map(tostring)|join(","))"
            + " smem=\(.dynamic_smem) optin=\(.smem_optin)" + (if .splits then " splits=\(.splits)" else "" end)),
         (.caches[] | "cache \(.id) owner=\(.owner) capacity=\(.capacity) ring=\(.ring)"),
         (.layers[] | "layer \(.index) w=\(.window) cache=\(.cache) owner=\(.owner) \(.rope) \(.prefill)"
            + " \(.decode) \(.decode_reduce)" + (if .head_norm_q then " \(.head_norm_q) \(.head_norm_k // "-")" else "" end)
            + (if .bias_add_q or .bias_add_qkv then " \(.bias_add_qkv // .bias_add_q)" else "" end))' "$1"
}
for g in tests/codegen/golden/*.txt; do
  base=$(basename "$g" .txt)            # e.g. gemma3-27b or kt-a
  src=$(sed -n 's/^# source: //p' "$g"); args=$(sed -n 's/^# args: //p' "$g")
  # shellcheck disable=SC2086
  if "$MIXC" emit "$src" -o "$tmp/g-$base" $args 2>"$tmp/err"; then
    summary "$tmp/g-$base/manifest.json" >"$tmp/g-$base.txt"
    if diff <(grep -v '^#' "$g") "$tmp/g-$base.txt" >"$tmp/diff"; then pass "golden-$base"
    else fail "golden-$base" "$(head -20 "$tmp/diff")"; fi
  else fail "golden-$base" "$(cat "$tmp/err")"; fi
done

# gemma4-style as written: the attention, RoPE and k-norm kernels of each shape (4 KV heads of 256,
# group 2; 1 of 512, group 8: prefill's 8 warps, (64 + 4*16)*512*2 bytes), each layer on its own
# shape's, the readers (30..35) on their owners'.
if "$MIXC" emit examples/gemma4-style.mix -o "$tmp/g4" 2>"$tmp/err"; then
  check gemma4-style-per-shape-kernels jq -e '.layers as $l | ([.kernels[] | select(.kind == "attn_decode") | [.name, .kv_heads, .group]]
      == [["attn_decode_hd256_g2_w512_cap1023_bf16", 4, 2], ["attn_decode_hd512_g8_global_cap131072_bf16_tc", 1, 8]])
    and ([.kernels[] | select(.kind == "attn_prefill") | [.name, .block[0], .dynamic_smem]]
      == [["attn_prefill_hd256_g2_w512_cap1023_bf16", 128, 98304], ["attn_prefill_hd512_g8_global_cap131072_bf16", 256, 131072]])
    and $l[0].prefill == "attn_prefill_hd256_g2_w512_cap1023_bf16" and $l[0].head_norm_k == "head_norm_k_hd256_kv4_row4096_bf16"
    and $l[5].prefill == "attn_prefill_hd512_g8_global_cap131072_bf16" and $l[5].head_norm_k == "head_norm_k_hd512_kv1_row5120_bf16"
    and $l[5].rope == "rope_append_hd512_h8_kv1_cap131072_bf16" and $l[35].rope == "rope_q_hd512_h8_bf16"
    and $l[35].decode == "attn_decode_hd512_g8_global_cap131072_bf16_tc" and $l[30].decode == $l[0].decode' "$tmp/g4/manifest.json" >/dev/null
else fail gemma4-style-per-shape-kernels "$(cat "$tmp/err")"; fi

# Decode on tensor cores (decode_tc.cuh) is codegen's choice, spelled in the name: groups of 8 and more
# over bf16/fp16 caches (kt-t: group 16 at head_dim 128, q as 16 fp16 rows of 136: DECODE_TC_SMEM_BYTES =
# 4352 + 3 stages of 16896 + 2048 + 192); group 4 (kt-a) and an int8 cache at group 8 stay scalar.
sed 's/^\(model "[^"]*" {\)$/\1\n    kv_dtype = int8/' tests/kernels/kt-c.mix >"$tmp/kt-c-int8.mix"
if "$MIXC" emit tests/kernels/kt-t.mix -o "$tmp/tc-t" 2>"$tmp/err" && "$MIXC" emit tests/kernels/kt-a.mix -o "$tmp/tc-a" 2>>"$tmp/err" &&
   "$MIXC" emit "$tmp/kt-c-int8.mix" -o "$tmp/tc-q" 2>>"$tmp/err"; then
  check decode-tc-choice eval 'jq -e "[.kernels[] | select(.kind == \"attn_decode\") | [(.name | endswith(\"_tc\")), .dynamic_smem]]
      == [[true, 57280], [true, 57280], [true, 57280], [true, 57280]]" "$tmp/tc-t/manifest.json" >/dev/null &&
    jq -e "[.kernels[] | select(.name | test(\"_tc\"))] == []" "$tmp/tc-a/manifest.json" "$tmp/tc-q/manifest.json" >/dev/null &&
    grep -q "attn_decode_kernel<__half, 128, 16, 2, 40LL, 109LL, __half, 0LL, 0LL, true>" "$tmp/tc-t/kernels.cu"'
else fail decode-tc-choice "$(cat "$tmp/err")"; fi

# ---------------------------------------------------------------- manifest vs kernels.cu, all examples
consistent() {   # every manifest kernel defined exactly once, every layer's kernels in the list
  local d=$1 name n
  for name in $(jq -r '.kernels[].name' "$d/manifest.json"); do
    n=$(grep -c "^extern \"C\" __global__ void __launch_bounds__([0-9]*) $name(" "$d/kernels.cu")
    [ "$n" -eq 1 ] || { echo "  $name defined $n times"; return 1; }
    grep -q "^MIXC_EMU_ENTRY($name, " "$d/kernels.cu" || { echo "  $name: no MIXC_EMU_ENTRY"; return 1; }
  done
  [ "$(jq -r '.kernels[].name' "$d/manifest.json" | sort | uniq -d)" = "" ] || return 1
  jq -e '(.kernels | map(.name)) as $k | all(.layers[]; . as $l
           | [$l.rope, $l.prefill, $l.decode, $l.decode_reduce, $l.head_norm_q, $l.head_norm_k, $l.bias_add_q,
              $l.bias_add_qkv] | map(select(. != null)) | all(. as $n | $k | index($n)))
         and (.layers | length) > 0' "$d/manifest.json" >/dev/null || return 1
  # No #include of our own headers may remain: kernels.cu must compile alone.
  ! grep -q '^#include "' "$d/kernels.cu"
}
for ex in examples/*.mix; do
  base=$(basename "$ex" .mix)
  if "$MIXC" emit "$ex" -o "$tmp/ex-$base" 2>"$tmp/err"; then
    check "consistent-$base" consistent "$tmp/ex-$base"
  elif grep -qE '(is|are) not supported by the kernels' "$tmp/err"; then
    pass "consistent-$base (unsupported: $(sed 's/.*: //' "$tmp/err"))"
  else fail "consistent-$base" "$(cat "$tmp/err")"; fi
done

# 8-bit caches: the attention and append kernels are variants keyed by the cache's dtype (the name
# spells it, the template gets the code type; the JIT and emu caches key on the source), the manifest
# says it, and readers' rope_q and the small kernels are the model dtype's.
kv8_variants() {   # $1 dir, $2 int8|fp8, $3 the code type
  local d=$1
  jq -e --arg kv "$2" '.kv_dtype == $kv and
      ([.kernels[] | select(.kind == "attn_prefill" or .kind == "attn_decode" or .kind == "rope_append")
        | .name | endswith("_kv" + $kv)] | length > 0 and all) and
      ([.kernels[] | select(.kind == "rope_q" or .kind == "rmsnorm" or .kind == "attn_decode_reduce") | .name
        | test("_kv")] | any | not)' "$d/manifest.json" >/dev/null &&
  [ "$(grep -c "_kernel<.*, $3>(p" "$d/kernels.cu")" -eq "$(jq '[.kernels[] | select(.kind == "attn_prefill" or .kind == "attn_decode" or .kind == "rope_append")] | length' "$d/manifest.json")" ]
}
check kv8-int8-variants kv8_variants "$tmp/ex-character-ai" int8 MixcInt8Kv
sed 's/kv_dtype = int8/kv_dtype = fp8/' examples/character-ai.mix >"$tmp/cai-fp8.mix"
"$MIXC" emit "$tmp/cai-fp8.mix" -o "$tmp/cai-fp8" >/dev/null 2>&1
check kv8-fp8-variants kv8_variants "$tmp/cai-fp8" fp8 MixcE4m3Kv
check kv8-sources-differ eval '! cmp -s "$tmp/cai-fp8/kernels.cu" "$tmp/ex-character-ai/kernels.cu"'

# The run plan in the manifest (docs/plan.md): caches as the kernels', every op's kernel among the
# kernels with its block and smem, constant grids as given, every arena tensor inside the arena,
# caches inside the KV allocation, the arena = max of the steps; a manifest whose op names an unknown
# kernel is caught.
plan_consistent() {
  jq -e '. as $m | ($m.kernels | map({(.name): .}) | add) as $k | $m.memory as $mem |
    ([$m.caches[].capacity] == [$mem.kv.caches[].capacity]) and
    ($mem.arena.bytes == ([$mem.arena.prefill.bytes, $mem.arena.decode.bytes] | max)) and
    all($mem.arena.prefill.tensors[], $mem.arena.decode.tensors[]; .offset + .bytes <= $mem.arena.bytes) and
    all($mem.kv.caches[]; .v_offset + .seq_bytes * $mem.batch <= $mem.kv.bytes) and
    all($m.schedule.prefill[], $m.schedule.decode[]; if .kernel then ($k[.kernel] != null) and
        (.block == $k[.kernel].block) and (.smem == $k[.kernel].dynamic_smem) and
        (if ($k[.kernel].grid | all(type == "number")) then .grid == $k[.kernel].grid else true end)
      else (.op == "gemm" or .op == "logits") end) and
    ([$m.schedule.decode[] | select(.op == "attn_decode")] | length) == ($m.layers | length)' "$1" >/dev/null
}
check plan-in-manifest plan_consistent "$tmp/ex-gemma3-27b/manifest.json"
jq '.schedule.decode[1].kernel = "no_such_kernel"' "$tmp/ex-gemma3-27b/manifest.json" >"$tmp/bad-plan.json"
check plan-in-manifest-catches eval '! plan_consistent "$tmp/bad-plan.json"'

# Geometry constants and parameter structs are defined once, in templates/mixc_params.h: pasted once
# into kernels.cu, defined nowhere else in the tree, and the manifest's blocks are its values.
param() { sed -n "s/^#define $1 \([0-9]*\).*/\1/p" templates/mixc_params.h; }
# macro_value EXPR: an integer expression of mixc_params.h's macros, by the C preprocessor and bash
macro_value() { echo $(( $(printf '#include "mixc_params.h"\n%s\n' "$1" | cpp -P -Itemplates - | tail -n 1) )); }
# Every prefill kernel's block is PREFILL_THREADS of its head_dim (gemma3-27b: 128; gemma4-style: 256 and 512).
prefill_blocks() {
  local hd block
  while read -r hd block; do
    [ "$block" = "$(macro_value "PREFILL_THREADS($hd)")" ] || { echo "  head_dim $hd: prefill block $block"; return 1; }
  done < <(jq -r '.kernels[] | select(.kind == "attn_prefill") | "\(.head_dim) \(.block[0])"' "$@")
}
single_source() {
  local cu=$tmp/ex-gemma3-27b/kernels.cu man=$tmp/ex-gemma3-27b/manifest.json name
  for name in 'define PREFILL_BM' 'define DECODE_THREADS' 'define MIXC_SMALL_THREADS' 'struct PrefillParams {' \
              'struct DecodeParams {' 'struct RopeParams {' 'struct AddParams {'; do
    [ "$(grep -c "$name" "$cu")" = 1 ] || { echo "  kernels.cu: '$name' $(grep -c "$name" "$cu") times"; return 1; }
    [ -z "$(grep -rl --include='*.c' --include='*.h' --include='*.cuh' "$name" compiler runtime templates | grep -v templates/mixc_params.h)" ] ||
      { echo "  '$name' outside templates/mixc_params.h"; return 1; }
  done
  prefill_blocks "$man" "$tmp/g4/manifest.json" && [ "$(macro_value "PREFILL_THREADS(512)")" = 256 ] &&
  [ "$(jq '[.kernels[] | select(.kind == "attn_decode") | .block[0]] | unique' -c "$man")" = "[$(param DECODE_THREADS)]" ] &&
  [ "$(jq '[.kernels[] | select(.kind | test("rope")) | .block[0]] | unique' -c "$man")" = "[$(param ROPE_THREADS)]" ] &&
  [ "$(jq '[.kernels[] | select(.kind == "rmsnorm" or .kind == "silu_mul" or .kind == "embed") | .block[0]] | unique' -c "$man")" = "[$(param MIXC_SMALL_THREADS)]" ]
}
check geometry-single-source single_source

# A mixture of experts (gpt-oss-20b: 32 experts, 4 a token, moe_bias, the clamped SwiGLU): its kernels,
# named after their arguments, with the grids codegen computes, and no dense MLP's activation.
moe_kernels() {
  local man=$tmp/moe/manifest.json
  "$MIXC" emit examples/gpt-oss-20b.mix -o "$tmp/moe" >/dev/null || return 1
  jq -e '.model_kernels as $k | $k.router_bias_add == "router_bias_add_e32_bf16" and
      $k.moe_route == "moe_route_topk_softmax_e32_k4" and $k.moe_gate_up == "moe_gate_up_in2880_out2880_e32_k4_bf16" and
      $k.moe_down == "moe_down_in2880_out2880_e32_k4_bf16" and $k.expert_act == "expert_k4_f2880_clamped_swiglu_mul_bf16" and
      $k.moe_combine == "moe_combine_h2880_k4_bf16" and ($k | has("silu_mul") | not) and ($k | has("shared_act") | not) and
      ([.kernels[] | select(.name == $k.moe_gate_up)][0] | .grid == ["ceil(tokens*experts_per_token/1)", 23, 1] and
        .block == [128, 1, 1] and .moe == {"in": 2880, "out": 2880, "down": false}) and
      ([.kernels[] | select(.name == $k.moe_route)][0].grid == ["ceil(tokens/64)", 1, 1]) and
      .experts == {"experts": 32, "experts_per_token": 4, "router": "topk_softmax", "shared_expert_ffn": 0, "moe_bias": true} and
      .swiglu_limit == 7' "$man" >/dev/null &&
    grep -q "moe_gemm_kernel<__nv_bfloat16, 2880, 2880, 32, 4, false, false>(p);" "$tmp/moe/kernels.cu" &&
    grep -q "moe_route_kernel<32, 4, 0>(p);" "$tmp/moe/kernels.cu"
}
check moe-kernels moe_kernels

# Experts on every other layer (llama4-maverick: moe_step 2): the experts' kernels and, for the dense
# layers between, the dense MLP's activation over dense_ffn (16384, not the experts' 8192).
moe_step_kernels() {
  local man=$tmp/mav/manifest.json
  "$MIXC" emit examples/llama4-maverick.mix -o "$tmp/mav" >/dev/null || return 1
  jq -e '.model_kernels as $k | $k.silu_mul == "dense_f16384_silu_mul_bf16" and
      $k.expert_act == "expert_k1_f8192_silu_mul_bf16" and $k.shared_act == "shared_f8192_silu_mul_bf16" and
      $k.moe_gate_up == "moe_gate_up_in5120_out8192_e128_k1_scaled_bf16" and
      ([.kernels[] | select(.name == $k.silu_mul)][0].grid == ["ceil(tokens*dense_ffn/256)", 1, 1]) and
      .experts == {"experts": 128, "experts_per_token": 1, "router": "sigmoid_input", "shared_expert_ffn": 8192,
                   "moe_bias": false, "moe_step": 2, "dense_ffn": 16384}' "$man" >/dev/null
}
check moe-step-kernels moe_step_kernels

# Deterministic output, and --context/--chunk change the ring capacities as plan_cache_tokens says.
"$MIXC" emit examples/gemma3-27b.mix -o "$tmp/d1" && "$MIXC" emit examples/gemma3-27b.mix -o "$tmp/d2"
check deterministic cmp -s "$tmp/d1/kernels.cu" "$tmp/d2/kernels.cu"
"$MIXC" emit examples/gemma3-27b.mix -o "$tmp/c" --context 4K --chunk 256 >/dev/null
check context-chunk test "$(jq -c '[.caches[].capacity] | unique' "$tmp/c/manifest.json")" = '[1279,4096]'

# ---------------------------------------------------------------- paged caches (--page-tokens)
# ma's global layers' prefill, decode and append kernels are the _page16 variants (the template's PAGE
# argument spelled out), its sliding layers' (rings) and the reduce keep their names; the manifest
# gives their page and the block tables' bytes in the KV allocation (1 slot x 2048 pages x 4 bytes).
"$MIXC" emit examples/ma.mix -o "$tmp/p" --page-tokens 16 >/dev/null
"$MIXC" emit examples/ma.mix -o "$tmp/np" >/dev/null
paged=$(jq -r '[.kernels[] | select(.page_tokens == 16) | .name] | join(" ")' "$tmp/p/manifest.json" 2>/dev/null)
check paged-names test "$paged" = "attn_prefill_hd128_g2_global_cap32768_bf16_page16 attn_decode_hd128_g2_global_cap32768_bf16_page16 rope_append_hd128_h16_kv8_cap32768_bf16_page16"
check paged-names-otherwise-unchanged test "$(jq -c '[.kernels[].name | sub("_page16$"; "")]' "$tmp/p/manifest.json")" = \
  "$(jq -c '[.kernels[].name]' "$tmp/np/manifest.json")"
check paged-instantiation test "$(grep -c 'attn_decode_kernel<__nv_bfloat16, 128, 2, 8, 0LL, 32768LL, __nv_bfloat16, 0LL, 16LL>' "$tmp/p/kernels.cu")" = 1
check paged-tables test "$(jq -c '.memory.kv.pages | [.page_tokens, .table_pages, .table_bytes, .table_offset + .table_bytes <= ('"$(jq .memory.kv.bytes "$tmp/p/manifest.json")"')]' "$tmp/p/manifest.json")" = '[16,2048,8192,true]'

# Every key of every example's manifest, and of a paged one, is in its schema (docs/kernels.md,
# "manifest.json", and docs/plan.md for memory and schedule; tests/doc_keys.py).
manifest_keys() { python3 tests/doc_keys.py docs/kernels.md docs/plan.md -- "$tmp"/ex-*/manifest.json "$tmp/p/manifest.json"; }
check manifest-keys-documented manifest_keys

# ---------------------------------------------------------------- nvcc: zero spills, smem in limits
ptxas_clean() {  # ptxas -v log: every entry function reports 0 spill bytes, static smem <= 48 KiB
  local log=$1 n_fn n_zero
  n_fn=$(grep -c 'Compiling entry function' "$log")
  n_zero=$(grep -c ' 0 bytes spill stores, 0 bytes spill loads' "$log")
  if [ "$n_fn" -eq 0 ] || [ "$n_fn" -ne "$n_zero" ]; then
    echo "  $((n_fn - n_zero)) of $n_fn functions spill:"; grep 'bytes spill' "$log" | grep -v ' 0 bytes spill stores, 0 bytes spill loads' | head -5
    return 1
  fi
  ! grep -oE 'Used [0-9]+ registers.* [0-9]+ bytes smem' "$log" | awk '{ if ($(NF-2) > 49152) bad=1 } END { exit !bad }'
}
# The checker itself must catch a spill (a synthetic log).
printf "ptxas info    : Compiling entry function 'a' for 'sm_90'\n    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\nptxas info    : Compiling entry function 'b' for 'sm_90'\n    8 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads\n" >"$tmp/fake.log"
check ptxas-log-checker eval '! ptxas_clean "$tmp/fake.log" >/dev/null'

nvcc_clean() {   # arch, kernels.cu
  local log=$tmp/ptxas-$(basename "$(dirname "$2")")-$1.log
  "$NVCC" -cubin -arch="$1" -Xptxas -v -o "$log.cubin" "$2" >"$log" 2>&1 || { tail -20 "$log"; return 1; }
  ptxas_clean "$log"
}
# Distinct variants of four layouts (head_dim 64/128/256/192, groups 4/1/8/2, bf16 and fp16), of
# 8-bit caches: kt-q8 (int8, head_dim 64) and kt-c with an fp8 cache (head_dim 256: the most registers;
# sm_90 takes the hardware e4m3 conversions, sm_80 the software ones), of kt-e (the variations,
# attn_softcap among them) and of kt-c with a soft-cap (the tanh in the widest prefill and decode), of
# the per-kind shapes of shapes.mix and gemma4-style (256 and 512), and above head_dim 256 (prefill's
# two head-dimension slices, 8 warps): kt-i (512, group 8, soft-cap), kt-j (512, fp16, int8 cache),
# kt-k (320), kt-l (448) and kt-n (384), the tensor-core decode (kt-h, kt-t, kt-u); each compiled once per arch; the compiles run two
# at a time.
ASAN=0
sanitized "$MIXC" && ASAN=1
if [ "$ASAN" = 1 ]; then   # nvcc sees the same emitted source as in the normal pass, which runs it
  echo "SKIP codegen/nvcc: run in the normal pass only (the sanitizers do not change what mixc emits)"
elif [ -x "$NVCC" ]; then
  jobs_list=()
  sed 's/^\(model "[^"]*" {\)$/\1\n    kv_dtype = fp8/' tests/kernels/kt-c.mix >"$tmp/kt-c-fp8.mix"
  sed 's/^\(model "[^"]*" {\)$/\1\n    attn_softcap = 50/' tests/kernels/kt-c.mix >"$tmp/kt-c-softcap.mix"
  grep -q "attn_softcap = 50" "$tmp/kt-c-softcap.mix" || fail "nvcc-kt-c-softcap" "the test could not add attn_softcap"
  for lay in tests/kernels/kt-a.mix tests/kernels/kt-b.mix tests/kernels/kt-c.mix tests/kernels/kt-d.mix \
             tests/kernels/kt-q8.mix "$tmp/kt-c-fp8.mix" tests/kernels/kt-e.mix "$tmp/kt-c-softcap.mix" \
             tests/kernels/kt-m2.mix tests/kernels/kt-m3.mix tests/mixrun/shapes.mix examples/gemma4-style.mix \
             tests/kernels/kt-i.mix tests/kernels/kt-j.mix tests/kernels/kt-k.mix tests/kernels/kt-l.mix \
             tests/kernels/kt-n.mix tests/kernels/kt-h.mix tests/kernels/kt-t.mix tests/kernels/kt-u.mix; do
    base=$(basename "$lay" .mix)
    "$MIXC" emit "$lay" -o "$tmp/n-$base" >/dev/null || { fail "nvcc-$base" "emit failed"; continue; }
    # sm_90 for every layout; sm_80 too (its software e4m3 conversions, its smaller shared memory) for
    # the widest of each path: kt-a, kt-c (256) and its fp8 cache, kt-q8 (int8), kt-i and kt-j (512),
    # kt-t (the tensor-core decode); for all with MIXC_TEST_LONG=1.
    archs=sm_90
    case ${MIXC_TEST_LONG:-0}:$base in 1:*|*:kt-a|*:kt-c|*:kt-c-fp8|*:kt-q8|*:kt-i|*:kt-j|*:kt-t) archs="sm_80 sm_90";; esac
    for arch in $archs; do jobs_list+=("$base $arch"); done
  done
  # paged caches' kernels (_page{P}, docs/kernels.md): kt-c's (head_dim 256: the most registers) and kt-q8's (int8)
  for lp in "tests/kernels/kt-c.mix 48" "tests/kernels/kt-q8.mix 16"; do
    set -- $lp
    base=$(basename "$1" .mix)-p$2
    "$MIXC" emit "$1" --page-tokens "$2" -o "$tmp/n-$base" >/dev/null && grep -q "_page$2\"" "$tmp/n-$base/manifest.json" ||
      { fail "nvcc-$base" "emit --page-tokens failed"; continue; }
    for arch in sm_80 sm_90; do jobs_list+=("$base $arch"); done
  done
  for ((i = 0; i < ${#jobs_list[@]}; i += 2)); do
    for j in $i $((i + 1)); do
      [ $j -lt ${#jobs_list[@]} ] || continue
      set -- ${jobs_list[$j]}
      ( nvcc_clean "$2" "$tmp/n-$1/kernels.cu" >"$tmp/nv-$1-$2.out" 2>&1; echo $? >"$tmp/nv-$1-$2.rc" ) &
    done
    wait
  done
  for job in "${jobs_list[@]}"; do
    set -- $job
    if [ "$(cat "$tmp/nv-$1-$2.rc")" = 0 ]; then pass "nvcc-$1-$2"
    else fail "nvcc-$1-$2" "$(cat "$tmp/nv-$1-$2.out")"; fi
  done
else
  echo "SKIP codegen/nvcc (no $NVCC)"
fi

# ---------------------------------------------------------------- --resources through NVRTC (JIT)
# Without the toolkit: exit 2 with a one-line message, the source still written.
out=$(MIXC_CACHE_DIR="$tmp/cache" "$MIXC" emit tests/kernels/kt-a.mix -o "$tmp/r" --resources --arch sm_80 2>"$tmp/err"); st=$?
if have_toolkit; then
  check resources test $st -eq 0 -a -n "$(grep attn_prefill_hd64_g4_w5_cap74_bf16 <<<"$out")"
else
  check resources-no-toolkit test $st -eq 2 -a -s "$tmp/r/kernels.cu" -a "$(grep -c 'needs the CUDA toolkit' "$tmp/err")" = 1
fi

exit $rc
