#!/usr/bin/env bash
# gpu-check — the cuda backend against the references, on a machine with a GPU (`make gpu-check`).
#
#  1. cuda vs cpu logits (tests/mixrun/logitcmp) for every example at test size: prompts of 26 tokens
#     (> window 8 + chunk 8: rings wrap, chunks of 8, 8, 8, 2), 6 decode steps; plus a larger case
#     (head_dim 128, 300-token prompt, chunk 64, window 100: multi-tile prefill, split-KV decode) in
#     bf16 and fp16, a batch of 3 prompts of different lengths decoded together against each alone
#     (scripts/batch-check.sh), and a 3-sequence --bench that must run. Each cuda run is also made
#     without --dump-logits (greedy steps copy back only the device argmax's ids): the same tokens.
#  2. prefill attention (tests/cuda/gpu_attn) against PyTorch's scaled_dot_product_attention in fp32
#     with the same causal / sliding-window mask, when torch can be imported (else skipped, said so).
#  3. 8-bit KV caches (docs/kernels.md): decode attention over bf16, int8 and fp8 caches against an
#     fp64 host reference over the values the cache holds (gpu_attn decode-check, 1e-2); the
#     RoPE+append kernel's codes against the cpu quantizer's (gpu_attn append-check: V bit for bit,
#     which on sm_89+ checks the hardware e4m3 conversions); character-ai as written (int8) and with
#     fp8, cuda vs cpu logits within the 8-bit tolerances of tests/mixrun.
#  4. a checkpoint streamed onto the GPU (--weights) against the same weights made in memory.
#  5. CUDA graphs (the default) against the eager decode step (MIXC_CUDA_GRAPHS=0), alone and batched.
#  6. prefix caching (tests/serve/test_prefix_cache, ma at test size): paged, every logits row of a
#     prompt that starts from kept, copied or shared caches = its whole prefill, bit for bit (rings
#     copied, whole pages shared, a shared page copied on write: cuMemcpyDtoD, the block tables
#     uploaded); unpaged with generated tokens reused too, within the test's tolerance. One result
#     a run, its lines in the detail.
# GPU_CHECK_PARTS picks parts by name: logits (1), sdpa (2), kv8 (3), streamed (4), graphs (5),
# prefix (6).
# GPU_CHECK_JOBS (default 4): the examples of part 1 checked at once; GPU_CHECK_EXAMPLES (default
# examples/*.mix): which. tests/cuda runs this script under the stand-in driver (nothing computed, so
# the comparisons fail): every part runs to its end and gives its results.
# Results: printed, and $BUILD/gpu-check.json. Exit 0 all passed, 1 a failure, 2 no GPU here.
#
# Tolerances (docs/gpu.md): logits |cuda - cpu| <= ATOL * rms(row) + RTOL * |cpu| with bf16
# ATOL 2^-3, RTOL 2^-6: the same backend with its kernels run in the CPU emulator and its GEMMs on the
# host (tests/cuda) measured at most 0.064 x rms over every example (bf16 rounding of every kernel
# input and output, and the bf16 residual stream), while one key more per window gives 0.5 x rms;
# fp16 eight times tighter. Override: GPU_CHECK_TOL="ATOL RTOL", GPU_CHECK_TOL_FP16.
# SDPA: |out - ref| <= 2^-7 (P and the output are rounded to bf16, |v| <= 1: each rounding costs
# at most 2^-9; 2^-7 leaves a factor 2 over their sum).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUN=${MIXRUN:-$BUILD/mixrun}
CMP=$BUILD/tests/mixrun/logitcmp
ATTN=$BUILD/tests/cuda/gpu_attn
PC=$BUILD/tests/serve/test_prefix_cache
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# shellcheck source=scripts/gpu-preflight.sh
. scripts/gpu-preflight.sh
gpu_preflight gpu-check "$RUN" "$CMP" "$ATTN" "$PC"

BF16_TOL=${GPU_CHECK_TOL:-"0.125 0.015625"}
FP16_TOL=${GPU_CHECK_TOL_FP16:-"0.015625 0.001953125"}
fails=0; results=()
esc() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; printf '%s' "${s//$'\t'/ }"; }
pass() { echo "PASS $1"; results+=("{\"name\": \"$(esc "$1")\", \"pass\": true, \"detail\": \"$(esc "${2:-}")\"}"); }
fail() { local name=$1; shift; echo "FAIL $name"; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1))
         results+=("{\"name\": \"$(esc "$name")\", \"pass\": false, \"detail\": \"$(esc "$*")\"}"); }

# compare NAME TOL PROMPT_LEN ARGS...: cpu and cuda logits of the same run. REPLAY=1 (a layout with
# experts): the cpu backend runs the experts the cuda backend chose (MIXC_ROUTE_LOG, MIXC_ROUTE_REPLAY;
# docs/model.md), as tests/mixrun does: two router logits closer than the bf16 roundings may order
# two experts the other way on the GPU, and another expert is another function.
compare() {
  local name=$1 tol=$2 plen=$3 log=() replay=(); shift 3
  [ "${REPLAY:-0}" = 1 ] && log=(MIXC_ROUTE_LOG="$T/routes") && replay=(MIXC_ROUTE_REPLAY="$T/routes")
  if ! env "${log[@]}" "$RUN" "$@" --backend cuda --dump-logits "$T/g.npy" >"$T/gpu.out" 2>"$T/err"; then fail "$name: cuda run" "$(head -c 600 "$T/err")"; return; fi
  # greedy steps copy back only the device argmax's ids: the same tokens as the run bringing the logits
  if ! "$RUN" "$@" --backend cuda >"$T/ids.out" 2>"$T/err" || ! cmp -s "$T/ids.out" "$T/gpu.out"; then
    fail "$name: cuda ids-only run = the --dump-logits run's tokens" "$(cat "$T/ids.out")" "$(head -c 300 "$T/err")"; return; fi
  if ! env "${replay[@]}" "$RUN" "$@" --backend cpu --dump-logits "$T/c.npy" >"$T/cpu.out" 2>"$T/err"; then fail "$name: cpu run" "$(head -c 300 "$T/err")"; return; fi
  [ "${REPLAY:-0}" = 1 ] && echo "    $(grep '^mixrun: route replay' "$T/err")"
  # shellcheck disable=SC2086
  if "$CMP" "$T/c.npy" "$T/g.npy" $tol "$plen" >"$T/cmp" 2>&1; then
    pass "$name" "$(tail -n 1 "$T/cmp" | sed 's/^ *//')"
    echo "    $(tail -n 1 "$T/cmp")  tokens cpu $(cat "$T/cpu.out") cuda $(cat "$T/gpu.out")"
  else fail "$name" "$(head -n 8 "$T/cmp")"; fi
}

EP=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3
printf '%s\n' "$EP" "7 7 7 1 2" "10,20,30,40,50,60,70,80,90,100,110,120,5,6,7,8,9,10,11,12,13" >"$T/prompts"
# Each part is a function; GPU_CHECK_PARTS (default: all, "logits streamed graphs sdpa kv8 prefix")
# picks which run, so that a short lease can rerun one.
PARTS=${GPU_CHECK_PARTS:-logits streamed graphs sdpa kv8 prefix}
for part in $PARTS; do
  [[ " logits streamed graphs sdpa kv8 prefix " == *" $part "* ]] ||
    { echo "gpu-check: no part '$part' (logits streamed graphs sdpa kv8 prefix)" >&2; exit 2; }
done
# example_check F: compare's cpu/cuda check of example F at test size, in a subshell with its own
# folder; its printed lines go to $T/ex/NAME.out and its results (JSON, one a line) to NAME.res.
example_check() {
  local f=$1 n kv hd replay
  n=$(basename "$f" .mix)
  kv=2; grep -qE '^\s*kv_heads\s*=\s*1\b' "$f" && kv=1
  hd=64; grep -qE '^\s*head_dim\s*=\s*(128|192|256)\b' "$f" && hd=128
  replay=0; grep -qE '^\s*experts\s*=' "$f" && replay=1
  mkdir -p "$T/ex/$n"
  (
    T=$T/ex/$n; results=()
    REPLAY=$replay compare "cuda vs cpu: $n (test size, head_dim $hd, kv_heads $kv)" "$BF16_TOL" 26 --layout "$f" \
      --set hidden=128 --set heads=4 --set kv_heads=$kv --set head_dim=$hd --set ffn=128 --set vocab=128 \
      --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16 --random-weights 5 --tokens $EP --max-new 6
    printf '%s\n' "${results[@]}" >"$T.res"
  ) >"$T/ex/$n.out" 2>&1
}

part_logits() {
# every example, GPU_CHECK_JOBS (default 4) at a time (small runs: the GPU has room, the JIT cache is
# safe between processes), printed and counted in the examples' order
local f n r examples
read -ra examples <<<"${GPU_CHECK_EXAMPLES:-$(echo examples/*.mix)}"
for f in "${examples[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "${GPU_CHECK_JOBS:-4}" ]; do wait -n; done
  example_check "$f" &
done
wait
for f in "${examples[@]}"; do
  n=$(basename "$f" .mix)
  cat "$T/ex/$n.out"
  [ -s "$T/ex/$n.res" ] || { fail "cuda vs cpu: $n: the check wrote no result"; continue; }
  while IFS= read -r r; do
    results+=("$r")
    [[ $r == *'"pass": false'* ]] && fails=$((fails + 1))
  done <"$T/ex/$n.res"
done

P300=$(seq -s, 7 306 | tr -d '\n')
for dt in bf16 fp16; do
  tol=$BF16_TOL; [ $dt = fp16 ] && tol=$FP16_TOL
  compare "cuda vs cpu: ma, head_dim 128, 300-token prompt, chunk 64, window 100, $dt" "$tol" 300 \
    --layout examples/ma.mix --set hidden=256 --set heads=4 --set kv_heads=2 --set head_dim=128 --set ffn=256 \
    --set vocab=512 --set context=320 --set chunk=64 --set window=100 --set dtype=$dt --set kv_dtype=$dt \
    --random-weights 9 --tokens "$P300" --max-new 20
done

# Batched decode on the GPU, numerically: three prompts of 26, 5 and 21 tokens decoded together, each
# against the cpu backend running it alone (scripts/batch-check.sh, tested by tests/cuda under the
# stand-in driver).
# shellcheck disable=SC2086
if MIXRUN=$RUN LOGITCMP=$CMP bash scripts/batch-check.sh cuda $BF16_TOL 6 "$T/prompts" -- --layout examples/ma.mix \
     --set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32 \
     --set chunk=8 --set window=8 --set kv_dtype=bf16 --random-weights 5 >"$T/bc" 2>"$T/bc.err"; then
  pass "cuda batched decode of 3 prompts (26, 5, 21 tokens) = cpu running each alone" "$(tr '\n' ';' <"$T/bc")"
  sed 's/^/    /' "$T/bc"
else fail "cuda batched decode of 3 prompts vs cpu" "$(head -c 800 "$T/bc.err")"; fi


if "$RUN" --layout examples/character-ai.mix --set hidden=256 --set heads=4 --set kv_heads=1 --set head_dim=64 \
     --set ffn=256 --set vocab=512 --set context=96 --set chunk=16 --set window=16 --set kv_dtype=bf16 --random-weights 3 \
     --bench --batch 3 --prompt-len 40 --max-new 8 --backend cuda >"$T/out" 2>"$T/err"; then
  pass "cuda --bench: 3 sequences, batched decode runs" "$(grep '^decode' "$T/out")"
else fail "cuda --bench: 3 sequences" "$(head -c 600 "$T/err")"; fi
}

part_streamed() {
# A checkpoint streamed onto the GPU (docs/model.md, "Streamed loads": read a layer at a time, converted
# from where it lies): the logits of the same weights made in memory, bit for bit.
SW=(--layout examples/ma.mix --set hidden=256 --set heads=4 --set kv_heads=2 --set head_dim=128 --set ffn=256
    --set vocab=512 --set context=96 --set chunk=16 --set window=16 --set kv_dtype=bf16 --tokens "$EP" --max-new 8
    --backend cuda)
if "$RUN" "${SW[@]}" --random-weights 4 --save-weights "$T/sw.safetensors" --dump-logits "$T/sw1.npy" >"$T/out" 2>"$T/err" &&
   "$RUN" "${SW[@]}" --weights "$T/sw.safetensors" --dump-logits "$T/sw2.npy" >"$T/out" 2>"$T/err"; then
  cmp -s "$T/sw1.npy" "$T/sw2.npy" && pass "cuda: a streamed checkpoint gives the logits of the same weights in memory" "bit for bit" ||
    fail "cuda: a streamed checkpoint gives the logits of the same weights in memory" "the logits differ"
else fail "cuda: a streamed checkpoint" "$(head -c 600 "$T/err")"; fi
}

# CUDA graphs (the default; MIXC_CUDA_GRAPHS=0: eager steps, docs/gpu.md): the decode step replayed as a graph must give the eager
# step's tokens and its logits within the bf16 tolerance (bit for bit expected: the same kernels and
# GEMMs on the same stream; the detail says which), for a shared ring, an int8 cache and experts.
# graphs_check NAME ARGS...
graphs_check() {
  local name=$1; shift
  if ! MIXC_CUDA_GRAPHS=0 "$RUN" "$@" --backend cuda --dump-logits "$T/e.npy" >"$T/e.out" 2>"$T/err" ||
     ! "$RUN" "$@" --backend cuda --dump-logits "$T/gr.npy" >"$T/gr.out" 2>"$T/err"; then
    fail "$name" "$(head -c 600 "$T/err")"; return; fi
  if ! cmp -s "$T/e.out" "$T/gr.out"; then fail "$name" "tokens: eager $(cat "$T/e.out"), graphs $(cat "$T/gr.out")"; return; fi
  # shellcheck disable=SC2086
  if cmp -s "$T/e.npy" "$T/gr.npy"; then pass "$name" "bit for bit"; echo "    bit for bit"
  elif "$CMP" "$T/e.npy" "$T/gr.npy" $BF16_TOL 26 >"$T/cmp" 2>&1; then
    pass "$name" "not bit for bit: $(tail -n 1 "$T/cmp" | sed 's/^ *//')"; echo "    not bit for bit: $(tail -n 1 "$T/cmp")"
  else fail "$name" "$(head -n 8 "$T/cmp")"; fi
}
TS=(--set hidden=128 --set heads=4 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32 --set chunk=8
    --set window=8 --random-weights 5 --tokens "$EP" --max-new 6)
part_graphs() {
graphs_check "cuda graphs = eager: ma (test size)" --layout examples/ma.mix --set kv_heads=2 --set kv_dtype=bf16 "${TS[@]}"
graphs_check "cuda graphs = eager: character-ai (int8 cache)" --layout examples/character-ai.mix --set kv_heads=1 "${TS[@]}"
graphs_check "cuda graphs = eager: gpt-oss-20b (experts)" --layout examples/gpt-oss-20b.mix --set kv_heads=2 --set kv_dtype=bf16 "${TS[@]}"
# shellcheck disable=SC2086
if MIXC_CUDA_GRAPHS=0 MIXRUN=$RUN LOGITCMP=$CMP bash scripts/batch-check.sh cuda $BF16_TOL 6 "$T/prompts" -- \
     --layout examples/ma.mix --set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 \
     --set vocab=128 --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16 --random-weights 5 >"$T/bc" 2>"$T/bc.err"; then
  pass "cuda eager steps (MIXC_CUDA_GRAPHS=0): batched decode of 3 prompts = cpu running each alone" "$(tr '\n' ';' <"$T/bc")"
  sed 's/^/    /' "$T/bc"
else fail "cuda eager steps (MIXC_CUDA_GRAPHS=0): batched decode of 3 prompts vs cpu" "$(head -c 800 "$T/bc.err")"; fi
}

# ---- prefill attention against PyTorch SDPA (scripts/sdpa-run.sh)
# shellcheck source=scripts/sdpa-run.sh
. scripts/sdpa-run.sh
attn_prefill() { "$ATTN" prefill "$@"; }
part_sdpa() {
if ! python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "SKIP prefill vs PyTorch SDPA: torch (and numpy) cannot be imported by python3"; return
fi
sdpa_all attn_prefill python3
}

part_kv8() {
# ---- 8-bit KV caches
Q8_TOL=${GPU_CHECK_TOL_INT8:-"0.15625 0.0390625"}
F8_TOL=${GPU_CHECK_TOL_FP8:-"0.5625 0.140625"}
for kv in bf16 int8 fp8; do
  for cfg in "--len 4096 --batch 4 --head-dim 128 --heads 16 --kv-heads 8" \
             "--len 3000 --batch 3 --head-dim 64 --heads 8 --kv-heads 1 --window 1024 --chunk 128" \
             "--len 700 --batch 2 --head-dim 256 --heads 8 --kv-heads 2 --chunk 64"; do
    # shellcheck disable=SC2086
    if "$ATTN" decode-check $cfg --kv $kv >"$T/attn" 2>&1; then pass "decode over a $kv cache ($cfg)" "$(tail -n 1 "$T/attn")"
    else fail "decode over a $kv cache ($cfg)" "$(head -n 5 "$T/attn")"; fi
  done
  [ $kv = bf16 ] && continue
  for cfg in "--len 300 --chunk 64 --head-dim 128 --heads 16 --kv-heads 8" "--len 200 --chunk 64 --head-dim 64 --heads 4 --kv-heads 1"; do
    # shellcheck disable=SC2086
    if "$ATTN" append-check $cfg --kv $kv >"$T/attn" 2>&1; then pass "append into a $kv cache ($cfg)" "$(tail -n 1 "$T/attn")"
    else fail "append into a $kv cache ($cfg)" "$(head -n 5 "$T/attn")"; fi
  done
done
CAI=(--layout examples/character-ai.mix --set hidden=128 --set heads=4 --set kv_heads=1 --set head_dim=64 --set ffn=128
     --set vocab=128 --set context=32 --set chunk=8 --set window=8 --random-weights 5 --tokens $EP --max-new 6)
compare "cuda vs cpu: character-ai as written (int8 cache)" "$Q8_TOL" 26 "${CAI[@]}"
compare "cuda vs cpu: character-ai with an fp8 cache" "$F8_TOL" 26 "${CAI[@]}" --set kv_dtype=fp8
}

part_prefix() {
local mode
for mode in cuda-paged cuda+generated; do
  "$PC" "$mode" examples/ma.mix hidden=128 heads=4 kv_heads=2 head_dim=64 ffn=128 vocab=128 context=32 chunk=8 \
    window=8 kv_dtype=bf16 >"$T/pc" 2>"$T/pc.err"
  local rc=$? lines
  lines=$(grep -E '^(PASS|FAIL) ' "$T/pc" | cut -c1-160 | paste -sd';' -)
  sed 's/^/    /' "$T/pc"
  if [ $rc -eq 0 ] && [ -n "$lines" ]; then pass "prefix caching on cuda: test_prefix_cache $mode" "$lines"
  else fail "prefix caching on cuda: test_prefix_cache $mode" "exit $rc: ${lines:-$(head -c 400 "$T/pc.err")}"; fi
done
}

for part in $PARTS; do "part_$part"; done

{
  echo "{\"device\": \"$(esc "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)")\", \"results\": ["
  for i in "${!results[@]}"; do [ "$i" -gt 0 ] && echo ","; printf '  %s' "${results[$i]}"; done
  echo; echo "], \"failed\": $fails}"
} >"$BUILD/gpu-check.json"
echo "gpu-check: $((${#results[@]} - fails)) passed, $fails failed; $BUILD/gpu-check.json"
[ $fails -eq 0 ]
