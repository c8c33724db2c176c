#!/usr/bin/env bash
# The cuda backend without a GPU (runtime/cuda/cuda_backend.c, docs/gpu.md):
#  - mixrun links without libcuda/libcublas and `--backend cuda` exits 2 with a clear message when
#    there is no driver, no device, or a GPU older than sm_80 (a stand-in driver, tests/cuda/fake_cuda.c);
#  - with the stand-in driver of an sm_90 device (host memory, kernels and GEMMs checked but not run)
#    every example at test size opens, prefills in chunks, decodes and closes: exit 0, no out-of-bounds
#    copy or GEMM operand, nothing leaked, and the launches made are the launch plan it prints;
#  - the same stand-in running the generated kernels in the CPU emulator and the GEMMs on the host:
#    the backend's logits against the cpu backend's, within the bf16 tolerance, for several examples;
#  - decode split counts chosen per launch, and the decode step as a CUDA graph (the default)
#    replayed by the stand-in through the emulator: the same logits as the eager step, bit for bit,
#    and a graph kept per key while serving (one capture per batch size);
#  - gpu_attn, the harness of gpu-check's attention checks, runs its decode and append checks here
#    with the kernels emulated;
#  - the launch plan (kernel, grid, block, smem) agrees with `mixc emit`'s manifest for every example,
#    and a manifest with one changed value is caught;
#  - the backend's source compiles with NVRTC for sm_80 and sm_90 (through the JIT cache), and its
#    C mirrors of the parameter structs match the templates (host C++ compile of static_asserts).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/toolkit.sh
needs_toolkit cuda
MIXC=${MIXC:-$BUILD/mixc}
RUN=$BUILD/mixrun
CHECK=$BUILD/tests/cuda/plan_check
FAKE=$BUILD/tests/cuda/fake
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# NVRTC output is reused between runs (tests/toolkit.sh).
export MIXC_CACHE_DIR=${MIXC_CACHE_DIR:-$TEST_JIT_CACHE}
mkdir -p "$MIXC_CACHE_DIR"
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }
ASAN=0
sanitized "$RUN" && ASAN=1

TS=(--set hidden=128 --set heads=4 --set ffn=128 --set vocab=128 --set context=32 --set chunk=8 --set window=8
    --set kv_dtype=bf16)
EP=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3   # 26 tokens > window 8 + chunk 8

# run_fake NAME MODE RC ARGS...: mixrun under the stand-in driver; stdout $T/out, stderr $T/err.
run_fake() {
  local name=$1 mode=$2 want=$3; shift 3
  rm -f "$T/log"
  FAKE_CUDA=$mode FAKE_CUDA_LOG=$T/log LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    "$RUN" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$name" "exit $rc, expected $want: mixrun $*" "$(head -c 800 "$T/err")"; return 1; fi
  return 0
}
expect_err() {
  if grep -qF -- "$2" "$T/err"; then pass "$1"; else fail "$1" "stderr lacks '$2':" "$(head -c 600 "$T/err")"; fi
}

# ---- linking and no driver
if ldd "$RUN" "$MIXC" | grep -qiE 'libcuda|libcublas|nvrtc'; then
  fail "mixc and mixrun link no NVRTC, libcuda or cuBLAS (all dlopen'ed)" "$(ldd "$RUN" "$MIXC")"
else pass "mixc and mixrun link no NVRTC, libcuda or cuBLAS (all dlopen'ed)"; fi
if nm "$RUN" | grep -qE ' [TW] cuda_backend_open$'; then pass "mixrun holds the cuda backend (cuda_backend_open defined)"
else fail "mixrun holds the cuda backend (cuda_backend_open defined)"; fi
if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
  echo "SKIP --backend cuda without a driver: this machine has libcuda.so.1"
else
  "$RUN" --layout examples/ma.mix "${TS[@]}" --set kv_heads=2 --set head_dim=64 --random-weights 1 --tokens 1,2,3 --backend cuda >"$T/out" 2>"$T/err"
  rc=$?
  if [ $rc -eq 2 ] && grep -qF "mixrun: no CUDA device available (no CUDA driver found (libcuda.so.1)" "$T/err" && [ ! -s "$T/out" ]
  then pass "--backend cuda without a driver: exit 2, 'no CUDA device available'"
  else fail "--backend cuda without a driver: exit 2, 'no CUDA device available'" "exit $rc" "$(head -c 400 "$T/err")"; fi
  # said before any weights are read or made: a missing checkpoint is not the error, and a full-size
  # layout's random weights (1.5 B parameters, ~10 s and 6 GB here) are not made first
  "$RUN" --layout examples/standard.mix --weights "$T/missing.safetensors" --tokens 1,2,3 --backend cuda >"$T/out" 2>"$T/err"
  rc=$?
  if [ $rc -eq 2 ] && grep -qF "mixrun: no CUDA device available" "$T/err" && ! grep -q missing "$T/err"
  then pass "--backend cuda without a driver says so before reading the weights (a missing checkpoint is not the error)"
  else fail "--backend cuda without a driver says so before reading the weights" "exit $rc" "$(head -c 400 "$T/err")"; fi
fi

# ---- the stand-in driver: no device, an old GPU, --full-caches
run_fake "fake nodevice" nodevice 2 --layout examples/ma.mix "${TS[@]}" --set kv_heads=2 --set head_dim=64 --random-weights 1 --tokens 1,2,3 --backend cuda &&
  expect_err "--backend cuda with a driver but no device: exit 2" "mixrun: no CUDA device available (the CUDA driver sees no device)"
run_fake "fake old" old 2 --layout examples/ma.mix "${TS[@]}" --set kv_heads=2 --set head_dim=64 --random-weights 1 --tokens 1,2,3 --backend cuda &&
  expect_err "--backend cuda on a compute capability 7.5 GPU: exit 2" "compute capability 7.5; the kernels need 8.0 or newer"
run_fake "fake full-caches" full 2 --layout examples/ma.mix "${TS[@]}" --set kv_heads=2 --set head_dim=64 --random-weights 1 --tokens 1,2,3 --backend cuda --full-caches &&
  expect_err "--backend cuda --full-caches is refused (exit 2)" "--full-caches is not supported by the cuda backend"
MIXC_CUDA_GRAPHS=1 MIXC_ROUTE_LOG=$T/routes run_fake "fake route log graphs" full 2 --layout examples/gpt-oss-20b.mix "${TS[@]}" \
    --set kv_heads=2 --set head_dim=64 --random-weights 1 --tokens 1,2,3 --backend cuda &&
  expect_err "MIXC_ROUTE_LOG with MIXC_CUDA_GRAPHS=1 asked is refused (exit 2)" "MIXC_ROUTE_LOG: not with MIXC_CUDA_GRAPHS=1"
run_fake "fake hd16" full 1 --layout examples/ma.mix "${TS[@]}" --set kv_heads=2 --set head_dim=16 --random-weights 1 --tokens 1,2,3 --backend cuda &&
  expect_err "--backend cuda with a head_dim the kernels lack: exit 1, says why" "head_dim 16"

# decode_tail_ok ND: the last decode step's launches in $T/launches are the ND of the printed plan
# ($T/pd), the final RMSNorm of the logits rows (not listed: grid = its rows, 1 or more; fused with the
# last layer's residual add, add_rmsnorm) just before the last one, the argmax (the decode step's last
# kernel).
decode_tail_ok() {
  tail -n $(($1 + 1)) "$T/launches" >"$T/tail"
  cmp -s <(head -n $(($1 - 1)) "$T/tail"; tail -n 1 "$T/tail") "$T/pd" && grep -q '^argmax_' <(tail -n 1 "$T/tail") &&
    sed -n "$1p" "$T/tail" | grep -q '^add_rmsnorm_h'
}

# plan_lines PHASE: the launches of the plan printed by MIXC_CUDA_PLAN=1, as the stand-in logs them.
plan_lines() {
  awk -v phase="$1" '/^mixrun: cuda: .*prefill chunk/ {on = phase == "prefill"; next}
                     /^mixrun: cuda: decode of/ {on = phase == "decode"; next}
                     on && $4 == "grid" {print $3, $5, $6, $7, $9, $10, $11, $13}' "$T/err"
}

# ---- every example at test size under the stand-in sm_90: open, 4 prefill chunks, 6 decode steps
# (one sequence), then --bench with 3 sequences; launches as planned, nothing out of bounds or leaked.
# The examples with experts run as they are (route, expert GEMMs and combine launched as planned).
examples=(examples/*.mix)
[ "$ASAN" = 1 ] && examples=(examples/character-ai.mix examples/gemma3-27b.mix examples/yoco.mix examples/ma.mix)
# (per-kind KV shapes as written; a head_dim above the kernels' 512 would run at 512: kernel_shapes)
for i in "${!examples[@]}"; do examples[i]=$(kernel_shapes "${examples[i]}" "$T/src"); done
ex_fail=()
for f in "${examples[@]}"; do
  n=$(basename "$f" .mix)
  kv=2; grep -qE '^\s*kv_heads\s*=\s*1\b' "$f" && kv=1
  hd=64; grep -qE '^\s*head_dim\s*=\s*(128|192|256)\b' "$f" && hd=128
  S=(--layout "$f" "${TS[@]}" --set kv_heads=$kv --set head_dim=$hd --random-weights 5)
  if ! MIXC_CUDA_PLAN=1 run_fake "fake $n" full 0 "${S[@]}" --tokens $EP --max-new 6 --backend cuda; then
    ex_fail+=("$n: exit status"); continue
  fi
  if grep -q "fake_cuda:" "$T/err"; then ex_fail+=("$n: $(grep -m1 fake_cuda: "$T/err")"); continue; fi
  # the plan's cuBLAS workspace (sm_90: 32 MiB), given to the handle once, before any launch
  if [ "$(head -n 1 "$T/log")" != "cublas_workspace 33554432" ] || [ "$(grep -c '^cublas_workspace' "$T/log")" != 1 ]; then
    ex_fail+=("$n: the cuBLAS workspace is not the plan's 32 MiB, set once first: $(grep -m2 cublas_workspace "$T/log")"); continue
  fi
  grep -v '^gemm \|^cublas_workspace \|^copy_dtoh ' "$T/log" >"$T/launches"
  plan_lines prefill >"$T/pp"
  plan_lines decode >"$T/pd"
  np=$(wc -l <"$T/pp"); nd=$(wc -l <"$T/pd")
  # 26 tokens = chunks of 8, 8, 8, 2: the first chunk's launches are the plan's; the last step is a
  # decode of 1 sequence, its final RMSNorm of its logits row before its argmax.
  if [ "$np" -lt 3 ] || ! cmp -s <(head -n "$np" "$T/launches") "$T/pp"; then ex_fail+=("$n: prefill launches differ from the plan"); continue; fi
  if [ "$nd" -lt 3 ] || ! decode_tail_ok "$nd"; then ex_fail+=("$n: decode launches differ from the plan"); continue; fi
  ng=$(grep -c '^gemm ' "$T/log")
  [ "$ng" -gt 0 ] || { ex_fail+=("$n: no GEMM"); continue; }
done
[ ${#ex_fail[@]} -eq 0 ] && pass "fake sm_90: ${#examples[@]} examples at test size run, launches = the printed plan, the plan's cuBLAS workspace set once, no out-of-bounds copy/GEMM, nothing leaked" ||
  fail "fake sm_90: examples at test size" "${ex_fail[@]}"

if MIXC_CUDA_PLAN=1 run_fake "fake bench" full 0 --layout examples/character-ai.mix "${TS[@]}" --set kv_heads=1 --set head_dim=64 \
     --random-weights 2 --bench --batch 3 --prompt-len 20 --max-new 4 --backend cuda; then
  grep -v '^gemm \|^cublas_workspace \|^copy_dtoh ' "$T/log" >"$T/launches"
  plan_lines prefill >"$T/pp"
  plan_lines decode >"$T/pd"
  nd=$(wc -l <"$T/pd")
  if grep -q "fake_cuda:" "$T/err"; then fail "fake sm_90: --bench of 3 sequences" "$(grep -m1 fake_cuda: "$T/err")"
  elif [ "$nd" -lt 3 ] || ! decode_tail_ok "$nd" || ! grep -qE '^attn_decode_\S+ [0-9]+ [0-9]+ 3 ' "$T/pd"; then
    fail "fake sm_90: --bench of 3 sequences: batched decode launches = the plan" "$(diff "$T/tail" "$T/pd" | head -8)"
  else pass "fake sm_90: --bench of 3 sequences: batched decode launches = the plan, in bounds"; fi
  # The memory line names what the GPU holds: caches and weights in the model dtype, not fp32.
  if grep -qE '^memory: KV .* \(bf16 caches, 3 sequences\), arena .*, weights .* \(bf16\); the layout.s KV in bf16 \(mixc report\): ' "$T/out"
  then pass "fake sm_90: --bench memory line: bf16 caches and bf16 weights"
  else fail "fake sm_90: --bench memory line: bf16 caches and bf16 weights" "$(grep '^memory' "$T/out")"; fi
fi

# ---- the backend computing for real on the CPU: the stand-in driver runs the generated kernels in
# the emulator (FAKE_CUDA_EMU_SO) and computes the GEMMs (FAKE_CUBLAS_COMPUTE=1); cuda logits against
# the cpu backend's. Context = prompt + new = 32, so the emulator's kernels (planned for the model's
# context) are the ones the backend plans. Tolerance (docs/gpu.md): ATOL 2^-3 * rms(row) + 2^-6 * |ref|
# (measured at most 0.064 * rms over all examples: the bf16 residual stream; one key more per window
# gives 0.5 * rms).
CMP=$BUILD/tests/mixrun/logitcmp
CUDA_TOL="0.125 0.015625"
# llama4-scout (48 layers of experts, ~50 s here) with MIXC_TEST_LONG=1 only: llama4-maverick runs the
# same chunked and NoPE layers and experts, and gpt-oss-20b experts on every layer.
real=(character-ai gemma3-27b yoco ma hymba-1.5b gpt-oss-20b llama4-maverick mistral-7b)
[ "${MIXC_TEST_LONG:-0}" = 1 ] && real+=(llama4-scout)
[ "$ASAN" = 1 ] && real=(character-ai yoco)
# real_run NAME WINDOW_CPU ARGS...: cpu (window WINDOW_CPU) and emulated cuda (window 8) logits of the
# prompt $PROMPT_TOKENS (default $EP) and $MAX_NEW (default 6) new tokens.
real_run() {
  local n=$1 wcpu=$2 p=${PROMPT_TOKENS:-$EP} g=${MAX_NEW:-6} ex; shift 2
  ex=$(comparable_layout "${LAYOUT:-examples/$n.mix}" "$T/comparable")
  "$CHECK" "$ex" - "$@" --set window=8 --emu-so "$T/k.so" >"$T/pc" 2>&1 || { cat "$T/pc"; return 1; }
  "$RUN" --layout "$ex" "$@" --set window="$wcpu" --random-weights 5 --tokens $p --max-new $g --backend cpu     --dump-logits "$T/c.npy" >"$T/cpu.out" 2>"$T/err" || { cat "$T/err"; return 1; }
  FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/k.so FAKE_CUBLAS_COMPUTE=1 LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    "$RUN" --layout "$ex" "$@" --set window=8 --random-weights 5 --tokens $p --max-new $g --backend cuda \
    --dump-logits "$T/g.npy" >"$T/gpu.out" 2>"$T/err" || { cat "$T/err"; return 1; }
  ! grep -q "fake_cuda:" "$T/err" || { cat "$T/err"; return 1; }
}
for n in "${real[@]}"; do
  f=examples/$n.mix
  kv=2; grep -qE '^\s*kv_heads\s*=\s*1\b' "$f" && kv=1
  hd=64; grep -qE '^\s*head_dim\s*=\s*(128|192|256)\b' "$f" && hd=128
  R=(--set hidden=128 --set heads=4 --set kv_heads=$kv --set head_dim=$hd --set ffn=128 --set vocab=128 --set context=32
     --set chunk=8 --set kv_dtype=bf16 $(moe_test_sets "$f"))
  if ! real_run "$n" 8 "${R[@]}" >"$T/why" 2>&1; then fail "cuda (emulated) vs cpu: $n runs" "$(head -c 600 "$T/why")"; continue; fi
  # shellcheck disable=SC2086
  if "$CMP" "$T/c.npy" "$T/g.npy" $CUDA_TOL 26 >"$T/cmp" 2>&1; then
    if [ "$(cat "$T/cpu.out")" = "$(cat "$T/gpu.out")" ] || grep -q "greedy token" "$T/cmp"; then
      pass "cuda (kernels emulated, GEMMs on the host) vs cpu: $n ($(tail -n 1 "$T/cmp" | sed 's/^ *//'))"
    else fail "cuda (emulated) vs cpu: $n greedy tokens" "cpu $(cat "$T/cpu.out")" "cuda $(cat "$T/gpu.out")"; fi
  else fail "cuda (emulated) vs cpu: $n" "$(head -n 8 "$T/cmp")"; fi
done
# Per-kind KV shapes, each layer on its shape's kernels and widths: gemma4-style (its global kind's
# 1 KV head of 512 as written), tests/mixrun/shapes.mix (three shapes, shared caches, per-shape head
# norms and biases) and tests/mixrun/hd512.mix (Gemma 4's shapes: 256 window, 512 global): the cuda
# backend under the stand-in driver gives the emu backend's logits bit for bit (the same kernels, GEMMs
# on the host), and the cpu's within the tolerance.
R=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=128 --set ffn=128 --set vocab=128 --set context=32
   --set chunk=8 --set kv_dtype=bf16)
shape_cases=(gemma4-style shapes hd512)
# under the sanitizers shapes.mix alone: the same host code, ~45 s less (the normal pass runs all three)
[ "$ASAN" = 1 ] && shape_cases=(shapes) && echo "SKIP cuda (stand-in driver) = emu: gemma4-style, hd512 under the sanitizers (the normal pass runs them)"
for n in "${shape_cases[@]}"; do
  lay=examples/$n.mix sets=("${R[@]}")
  [ $n != gemma4-style ] && lay=tests/mixrun/$n.mix sets=()
  if ! LAYOUT=$lay real_run "$n" 8 "${sets[@]}" >"$T/why" 2>&1 ||
     ! "$RUN" --layout "$(comparable_layout "$lay" "$T/comparable")" "${sets[@]}" --set window=8 --random-weights 5 --tokens $EP \
       --max-new 6 --backend emu --dump-logits "$T/e.npy" >"$T/emu.out" 2>>"$T/why"; then
    fail "cuda (emulated) and emu: $n (per-kind KV shapes) run" "$(head -c 600 "$T/why")"; continue
  fi
  if cmp -s "$T/e.npy" "$T/g.npy" && [ "$(cat "$T/emu.out")" = "$(cat "$T/gpu.out")" ]; then pass "cuda (stand-in driver) = emu, bit for bit: $n (per-kind KV shapes)"
  else fail "cuda (stand-in driver) = emu: $n (per-kind KV shapes)" "$("$CMP" "$T/e.npy" "$T/g.npy" 0 0 26 2>&1 | tail -n 3)"; fi
  # shellcheck disable=SC2086
  if "$CMP" "$T/c.npy" "$T/g.npy" $CUDA_TOL 26 >"$T/cmp" 2>&1; then pass "cuda (emulated) vs cpu: $n (per-kind KV shapes; $(tail -n 1 "$T/cmp" | sed 's/^ *//'))"
  else fail "cuda (emulated) vs cpu: $n (per-kind KV shapes)" "$(head -n 8 "$T/cmp")"; fi
done
# The tolerance sees one key more per window: cpu with window 9 against cuda with 8 must fail it.
R=(--set hidden=128 --set heads=4 --set kv_heads=1 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32
   --set chunk=8 --set kv_dtype=bf16)
if real_run character-ai 9 "${R[@]}" >"$T/why" 2>&1; then
  # shellcheck disable=SC2086
  if "$CMP" "$T/c.npy" "$T/g.npy" $CUDA_TOL 26 >"$T/cmp" 2>&1; then fail "cuda vs cpu: window 9 vs 8 must differ beyond the tolerance" "$(tail -n 1 "$T/cmp")"
  else pass "cuda vs cpu: window 9 vs 8 differ beyond the tolerance (the check can fail)"; fi
else fail "cuda (emulated) vs cpu: window 9 run" "$(head -c 600 "$T/why")"; fi

# A last prefill chunk of one token runs the prefill kernel, as the schedule says: 25 = 8 + 8 + 8 + 1.
R=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=128 --set ffn=128 --set vocab=128 --set context=32
   --set chunk=8 --set kv_dtype=bf16)
if PROMPT_TOKENS=${EP%,*} MAX_NEW=7 real_run gemma3-27b 8 "${R[@]}" >"$T/why" 2>&1; then
  # shellcheck disable=SC2086
  if "$CMP" "$T/c.npy" "$T/g.npy" $CUDA_TOL 25 >"$T/cmp" 2>&1 && [ "$(cat "$T/cpu.out")" = "$(cat "$T/gpu.out")" ]; then
    pass "cuda (emulated) vs cpu: a prefill chunk of 1 token on the prefill kernel ($(tail -n 1 "$T/cmp" | sed 's/^ *//'))"
  else fail "cuda (emulated) vs cpu: a prefill chunk of 1 token" "$(head -n 8 "$T/cmp")"; fi
else fail "cuda (emulated) vs cpu: a prefill chunk of 1 token runs" "$(head -c 600 "$T/why")"; fi

# Batched decode computed for real: three prompts of 26, 5 and 21 tokens (--prompts) decoded together
# (one launch per kernel for the 3 sequences, each at its own length and ring offset) against the cpu
# backend running each prompt alone (scripts/batch-check.sh, which gpu-check runs on a GPU).
# longest + new = 32 = the model's context, as above.
printf '%s\n' "$EP" "7 7 7 1 2" "10,20,30,40,50,60,70,80,90,100,110,120,5,6,7,8,9,10,11,12,13" >"$T/prompts"
R=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32
   --set chunk=8 --set kv_dtype=bf16 --set window=8)
if "$CHECK" examples/ma.mix - "${R[@]}" --emu-so "$T/k.so" >"$T/pc" 2>&1; then
  # shellcheck disable=SC2086
  if MIXRUN=$RUN LOGITCMP=$CMP BATCH_ENV="FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/k.so FAKE_CUBLAS_COMPUTE=1 LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
       bash scripts/batch-check.sh cuda $CUDA_TOL 6 "$T/prompts" -- --layout examples/ma.mix "${R[@]}" --random-weights 5 \
       >"$T/bc" 2>"$T/bc.err"
  then pass "cuda (emulated) batched decode of 3 prompts (26, 5, 21 tokens) = cpu running each alone ($(sed 's/ rows compared.*rms(row) \([^,]*\),.*/: \1·rms/' "$T/bc" | tr '\n' ';'))"
  else fail "cuda (emulated) batched decode of 3 prompts vs cpu" "$(head -c 800 "$T/bc.err")"; fi
else fail "cuda (emulated) batched decode: emulator kernels" "$(head -c 600 "$T/pc")"; fi

# The decode split count chosen per launch (plan_decode_launch_splits, docs/kernels.md): one request of
# 126 tokens (+ 4 new = the context, so a run alone plans the same kernels) served on 3 slots decodes
# alone, so the partials the plan reserved for 3 rows (1 split each at context 130) hold more splits
# of its global layer: ceil(keys / 64), 2 at 127 and 128 keys, 3 at 129 and 130; alone on 1 slot it
# has 1. On the emulated kernels: the same greedy tokens, and the launches logged say so. Served again
# as a CUDA graph (MIXC_CUDA_GRAPHS=1): captured again when the split count changes (2 captures).
# (Not under the sanitizers: the emulator is ~10x slower there; the normal pass runs it.)
R=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=130
   --set chunk=32 --set kv_dtype=bf16 --set window=8)
LONG=$(seq -s, 1 126 | awk -v RS=, -v ORS=, '{print ($1 * 7) % 128}' | sed 's/,*$//')
printf '{"id": "long", "prompt_tokens": [%s], "max_new_tokens": 4}\n' "$LONG" >"$T/long.jsonl"
FAKE_RUN=(env FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/k130.so FAKE_CUBLAS_COMPUTE=1 FAKE_CUDA_LOG=$T/log
          LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$RUN" --layout examples/ma.mix "${R[@]}" --random-weights 5)
SERVE=(--requests "$T/long.jsonl" --max-seqs 3 --json --backend cuda)
global_splits() { grep -E '^attn_decode_\S*global' "$T/log" | cut -d' ' -f3 | uniq | tr '\n' ' '; }
# "REDUCES/LAUNCHES OF 2+ SPLITS": a reduce runs exactly after each decode launch that split
reduces() { echo "$(grep -c '^attn_decode_reduce_' "$T/log")/$(grep -cE '^attn_decode_hd\S* [0-9]+ ([2-9]|[1-9][0-9]+) ' "$T/log")"; }
if [ "$ASAN" = 1 ]; then echo "SKIP cuda (emulated): decode splits per launch (under the sanitizers)"
elif rm -f "$T/log" && "$CHECK" examples/ma.mix - "${R[@]}" --emu-so "$T/k130.so" >"$T/pc" 2>&1 &&
   "${FAKE_RUN[@]}" "${SERVE[@]}" >"$T/served.json" 2>"$T/err" && served=$(global_splits) && served_r=$(reduces) &&
   rm -f "$T/log" && "${FAKE_RUN[@]}" --tokens "$LONG" --max-new 4 --backend cuda >"$T/alone" 2>>"$T/err" &&
   alone=$(global_splits) && alone_r=$(reduces) &&
   rm -f "$T/log" && MIXC_CUDA_GRAPHS=1 "${FAKE_RUN[@]}" "${SERVE[@]}" >"$T/graph.json" 2>>"$T/err"; then
  got=$(jq -r '.requests[0].output_tokens | map(tostring) | join(",")' "$T/served.json")
  captures=$(grep -c '^graph_instantiate' "$T/log")
  if grep -q "fake_cuda:" "$T/err"; then fail "cuda (emulated): decode splits per launch" "$(grep -m1 fake_cuda: "$T/err")"
  elif [ "$served" != "2 3 " ] || [ "$alone" != "1 " ]; then
    fail "cuda (emulated): decode splits per launch: 2 then 3 on 3 slots, 1 alone" "served: $served" "alone: $alone"
  elif [ "${served_r%/*}" != "${served_r#*/}" ] || [ "${served_r%/*}" = 0 ] || [ "$alone_r" != "0/0" ]; then
    fail "cuda (emulated): a reduce after each split launch only (none at one split)" "served: $served_r" "alone: $alone_r"
  elif [ "$got" != "$(cat "$T/alone")" ]; then fail "cuda (emulated): 2-3 splits and 1 split give the same tokens" "served $got" "alone $(cat "$T/alone")"
  elif [ "$captures" != 2 ] || ! cmp -s <(jq .requests[0].output_tokens "$T/served.json") <(jq .requests[0].output_tokens "$T/graph.json"); then
    fail "cuda (emulated): served as a graph: captured again when the splits change, same tokens" "$captures captures"
  else pass "cuda (emulated): a 126-token request alone on 3 slots decodes its global layer in 2 then 3 splits (1 alone), same tokens, a reduce after each split launch only (served $served_r, alone $alone_r); as a graph, 2 captures"; fi
else fail "cuda (emulated): decode splits per launch runs" "$(head -c 600 "$T/pc")" "$(head -c 600 "$T/err")"; fi

# CUDA graphs (the default; MIXC_CUDA_GRAPHS=0 runs eager steps, docs/gpu.md): the decode step captured
# on the backend's stream and replayed by the stand-in driver through the emulator. Over 6 new tokens of
# 1 and of 3 prompts: the logits equal the eager run's bit for bit, every decode step is a replay of one
# capture (the rows and split counts do not change), and nothing is allocated, freed or copied
# synchronously while capturing (the stand-in refuses it: "fake_cuda: ... during stream capture"). A
# route log (MIXC_ROUTE_LOG, which copies each route to the host) runs eager steps.
R=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32
   --set chunk=8 --set kv_dtype=bf16 --set window=8)
printf '%s\n' "$EP" "7 7 7 1 2" "10,20,30,40,50,60,70,80,90,100,110,120,5,6,7,8,9,10,11,12,13" >"$T/prompts3"
head -n 1 "$T/prompts3" >"$T/prompts1"
if "$CHECK" examples/ma.mix - "${R[@]}" --emu-so "$T/k.so" >"$T/pc" 2>&1; then
  graph_prompts=(1 3)
  [ "$ASAN" = 1 ] && graph_prompts=(3) && echo "SKIP cuda graphs (1 prompt) under the sanitizers (3 prompts run; the normal pass runs both)"
  for np in "${graph_prompts[@]}"; do
    G=(env FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/k.so FAKE_CUBLAS_COMPUTE=1 FAKE_CUDA_LOG=$T/glog
       LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$RUN" --layout examples/ma.mix "${R[@]}"
       --random-weights 5 --prompts "$T/prompts$np" --max-new 6 --backend cuda)
    rm -f "$T/glog"
    if MIXC_CUDA_GRAPHS=0 "${G[@]}" --dump-logits "$T/eager.npy" >"$T/eager.out" 2>"$T/err" && ! grep -q graph_ "$T/glog" &&
       MIXC_ROUTE_LOG=$T/rlog "${G[@]}" --dump-logits "$T/rlog.npy" >"$T/rlog.out" 2>>"$T/err" && ! grep -q graph_ "$T/glog" &&
       rm -f "$T/glog" && "${G[@]}" --dump-logits "$T/graph.npy" >"$T/graph.out" 2>>"$T/err"; then
      made=$(grep -c '^graph_instantiate' "$T/glog"); ran=$(grep -c '^graph_launch' "$T/glog")
      if grep -q "fake_cuda:" "$T/err"; then fail "cuda graphs ($np prompts): replayed" "$(grep -m1 fake_cuda: "$T/err")"
      elif ! cmp -s "$T/eager.npy" "$T/rlog.npy"; then fail "cuda graphs ($np prompts): a route log runs eager steps, same logits" "$(cmp "$T/eager.npy" "$T/rlog.npy")"
      elif [ "$made" != 1 ] || [ "$ran" -lt 5 ]; then fail "cuda graphs ($np prompts): one capture, a replay per decode step" "$made captures, $ran replays"
      elif ! cmp -s "$T/eager.npy" "$T/graph.npy" || ! cmp -s "$T/eager.out" "$T/graph.out"; then
        fail "cuda graphs ($np prompts): replayed logits = eager logits bit for bit" "$(cmp "$T/eager.npy" "$T/graph.npy")"
      else pass "cuda graphs by default ($np prompts, kernels emulated): $ran decode steps replayed from 1 capture, logits = the eager run's (MIXC_CUDA_GRAPHS=0, or a route log) bit for bit, nothing allocated or copied while capturing"; fi
    else fail "cuda graphs ($np prompts) run" "$(head -c 600 "$T/err")"; fi
  done
  # Served on 2 slots, a long request beside short ones admitted in turn: the decode steps go back and
  # forth between 1 and 2 rows (one split each at context 32, ids asked: the key is the rows). A graph
  # is kept per key (CUDA_STEP_GRAPHS), so there are as many captures as distinct row counts, not one
  # per change; the tokens are the eager run's. The steps are read from the log: each begins with the
  # embedding (grid x: its rows), and one with prefill attention is not a decode step (not replayed).
  for i in 1 2 3 4; do printf '{"id": "s%d", "prompt_tokens": [%d, 2, 3, 4], "max_new_tokens": 3}\n' "$i" "$i"; done |
    cat <(echo '{"id": "long", "prompt_tokens": [1, 2, 3, 4, 5, 6, 7, 8], "max_new_tokens": 24}') - >"$T/turns.jsonl"
  decode_rows() { awk '/^embed_/ { if (n && !pre) print rows; n = 1; rows = $2; pre = 0; next }
                       /^attn_prefill/ { pre = 1 } END { if (n && !pre) print rows }' "$1"; }
  SERVE_FAKE=(env FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/k.so FAKE_CUBLAS_COMPUTE=1 FAKE_CUDA_LOG=$T/glog
              LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$RUN" --layout examples/ma.mix "${R[@]}"
              --random-weights 5 --json --backend cuda)
  TURNS=("${SERVE_FAKE[@]}" --requests "$T/turns.jsonl" --max-seqs 2)
  if rm -f "$T/glog" && MIXC_CUDA_GRAPHS=0 "${TURNS[@]}" >"$T/turns-eager.json" 2>"$T/err" &&
     rows=$(decode_rows "$T/glog") && rm -f "$T/glog" && "${TURNS[@]}" >"$T/turns-graph.json" 2>>"$T/err"; then
    made=$(grep -c '^graph_instantiate' "$T/glog")
    keys=$(sort -u <<<"$rows" | grep -c .) changes=$(uniq <<<"$rows" | grep -c .)
    if grep -q "fake_cuda:" "$T/err"; then fail "cuda graphs kept per key" "$(grep -m1 fake_cuda: "$T/err")"
    elif [ "$keys" != 2 ] || [ "$changes" -le 2 ]; then fail "cuda graphs kept per key: the steps go back and forth" "decode rows: $(echo $rows)"
    elif [ "$made" != "$keys" ]; then fail "cuda graphs kept per key: one capture per row count" "$made captures; decode rows: $(echo $rows)"
    elif ! cmp -s <(jq -c '[.requests[].output_tokens]' "$T/turns-eager.json") <(jq -c '[.requests[].output_tokens]' "$T/turns-graph.json"); then
      fail "cuda graphs kept per key: the eager run's tokens" "$(jq -c '[.requests[].output_tokens]' "$T/turns-eager.json" "$T/turns-graph.json")"
    else pass "cuda graphs kept per key: decode steps of 1 and 2 rows in $changes turns, $made captures (one per row count), the eager run's tokens"; fi
    # A device with room for one graph (the stand-in's FAKE_CUDA_GRAPHS_MAX=1: a second instantiation
    # fails for memory): the other graphs are dropped and the capture is instantiated again, so the
    # run goes on as with one graph, a capture per change, and the same tokens.
    if rm -f "$T/glog" && FAKE_CUDA_GRAPHS_MAX=1 "${TURNS[@]}" >"$T/turns-one.json" 2>>"$T/err"; then
      made=$(grep -c '^graph_instantiate ' "$T/glog") refused=$(grep -c '^graph_instantiate_oom' "$T/glog")
      if [ "$made" != "$changes" ] || [ "$refused" != $((changes - 1)) ] ||
         ! cmp -s <(jq -c '[.requests[].output_tokens]' "$T/turns-eager.json") <(jq -c '[.requests[].output_tokens]' "$T/turns-one.json"); then
        fail "cuda graphs: no memory for a second graph" "$made captures, $refused refused, $changes turns"
      else pass "cuda graphs: with no memory for a second graph, the others are dropped: $made captures in $changes turns, the eager run's tokens"; fi
    else fail "cuda graphs: no memory for a second graph: runs" "$(head -c 600 "$T/err")"; fi
  else fail "cuda graphs kept per key: runs" "$(head -c 600 "$T/err")"; fi
  # More keys than graphs kept: 10 requests on 10 slots, ending one or two steps apart, decode in 9
  # row counts, so the graph replayed longest ago is replaced once; still a capture per row count,
  # and the eager run's tokens. (Not under the sanitizers: the normal pass runs it.)
  for i in 1 2 3 4 5 6 7 8 9; do printf '{"id": "r%d", "prompt_tokens": [%d, 2, 3, 4], "max_new_tokens": %d}\n' "$i" "$i" $((2 * i)); done |
    cat - <(echo '{"id": "r10", "prompt_tokens": [10, 2, 3, 4], "max_new_tokens": 28}') >"$T/many.jsonl"
  MANY=("${SERVE_FAKE[@]}" --requests "$T/many.jsonl" --max-seqs 10)
  if [ "$ASAN" = 1 ]; then echo "SKIP cuda graphs: more keys than kept (under the sanitizers)"
  elif rm -f "$T/glog" && MIXC_CUDA_GRAPHS=0 "${MANY[@]}" >"$T/many-eager.json" 2>"$T/err" &&
     rows=$(decode_rows "$T/glog") && rm -f "$T/glog" && "${MANY[@]}" >"$T/many-graph.json" 2>>"$T/err"; then
    made=$(grep -c '^graph_instantiate' "$T/glog") keys=$(sort -u <<<"$rows" | grep -c .)
    kept=$(sed -n 's/^#define CUDA_STEP_GRAPHS \([0-9]*\).*/\1/p' runtime/cuda/cuda_state.h)
    if grep -q "fake_cuda:" "$T/err"; then fail "cuda graphs: more keys than kept" "$(grep -m1 fake_cuda: "$T/err")"
    elif [ "$keys" -le "$kept" ] || [ "$made" != "$keys" ]; then
      fail "cuda graphs: more keys than kept: a capture per row count" "$made captures; decode rows: $(echo $rows)"
    elif ! cmp -s <(jq -c '[.requests[].output_tokens]' "$T/many-eager.json") <(jq -c '[.requests[].output_tokens]' "$T/many-graph.json"); then
      fail "cuda graphs: more keys than kept: the eager run's tokens" "$(jq -c '[.requests[].output_tokens]' "$T/many-eager.json" "$T/many-graph.json")"
    else pass "cuda graphs: $keys row counts, more than the $kept graphs kept: $made captures, the eager run's tokens"; fi
  else fail "cuda graphs: more keys than kept: runs" "$(head -c 600 "$T/err")"; fi
else fail "cuda graphs: emulator kernels" "$(head -c 600 "$T/pc")"; fi

# What a decode step copies back (docs/gpu.md): greedy steps pick on the device (the argmax kernel)
# and copy back only the token ids, 4 bytes a sequence, into page-locked memory; --dump-logits gets
# the logits too, through the same pinned buffer, equal bit for bit to the emu backend's (the same
# backend on the emulated device). A prompt of 26 tokens: 4 prefill chunks, the first 3 copying
# nothing, the last its greedy pick (the prefill's argmax: 4 bytes), then 5 greedy decode steps (the
# 6th token needs none).
if [ -f "$T/k.so" ]; then
  C=(env FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/k.so FAKE_CUBLAS_COMPUTE=1 FAKE_CUDA_LOG=$T/clog
     LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$RUN" --layout examples/ma.mix "${R[@]}"
     --random-weights 5 --max-new 6 --backend cuda)
  copies() { grep '^copy_dtoh' "$T/clog" | sort | uniq -c | awk '{print $1 "x" $3 " " $4}' | tr '\n' ' '; }
  rm -f "$T/clog"
  if "${C[@]}" --prompts "$T/prompts1" >"$T/c1.out" 2>"$T/err" && one=$(copies) && rm -f "$T/clog" &&
     "${C[@]}" --prompts "$T/prompts3" >"$T/c3.out" 2>>"$T/err" && three=$(copies) && rm -f "$T/clog" &&
     "${C[@]}" --prompts "$T/prompts3" --dump-logits "$T/cd.npy" >"$T/cd.out" 2>>"$T/err" && dumped=$(copies) &&
     "$RUN" --layout examples/ma.mix "${R[@]}" --random-weights 5 --max-new 6 --backend emu --prompts "$T/prompts3" \
       --dump-logits "$T/ed.npy" >"$T/ed.out" 2>>"$T/err"; then
    # 3 prompts: 26 + 5 + 21 tokens = 4 + 1 + 3 chunks; a step of 3 rows: 12 bytes of ids, 1536 of logits
    if grep -q "fake_cuda:" "$T/err"; then fail "cuda decode copies" "$(grep -m1 fake_cuda: "$T/err")"
    elif [ "$one" != "6x4 pinned " ] || [ "$three" != "5x12 pinned 3x4 pinned " ]; then
      fail "cuda greedy prefills and decode steps copy back only the token ids (4 bytes a sequence), pinned" "1 prompt: $one" "3 prompts: $three"
    # and the prompts' 52 rows: a chunk's rows 3 at a time (the plan's prefill logits: a row per slot),
    # a chunk of 8 as 3 + 3 + 2, of 5 as 3 + 2, of 2 at once; their picks on the host (every row asked)
    elif [ "$dumped" != "8x1024 pinned 6x12 pinned 18x1536 pinned " ]; then
      fail "cuda --dump-logits: 6 decode steps bring ids and logits (3 rows), pinned" "$dumped"
    elif ! cmp -s "$T/cd.npy" "$T/ed.npy" || ! cmp -s "$T/cd.out" "$T/c3.out" || ! cmp -s "$T/cd.out" "$T/ed.out"; then
      fail "cuda --dump-logits through the pinned buffer = the emu backend's logits bit for bit" "$(cmp "$T/cd.npy" "$T/ed.npy")"
    else pass "cuda (kernels emulated): greedy prefills and decode steps copy back only the ids (1 prompt: $one; 3 prompts: $three), --dump-logits through the pinned buffer = the emu backend's bit for bit, same tokens"; fi
  else fail "cuda decode copies: runs" "$(head -c 600 "$T/err")"; fi
fi

# ---- the launch plan against the manifest of `mixc emit`, every example at its real size
pc_fail=()
# and ma with q/k/v/o biases (qkv_bias, o_bias: the bias_add launches after the projections)
mkdir -p "$T/src"   # apart from $T, where the loop writes each layout it checks
sed 's/^\(model "[^"]*" {\)$/\1\n    qkv_bias = true\n    o_bias = true/' examples/ma.mix >"$T/src/ma-qkv-bias.mix"
grep -q "o_bias = true" "$T/src/ma-qkv-bias.mix" || pc_fail+=("ma-qkv-bias: the test could not add qkv_bias, o_bias")
# and ma with Gemma 3's variations (the head_norm launches, the sandwich norms', gelu_tanh_mul)
sed 's/^\(model "[^"]*" {\)$/\1\n    qk_norm = true\n    sandwich_norms = true\n    norm = rms_plus_one\n    activation = gelu_tanh\n    embed_scale = true/' \
  examples/ma.mix >"$T/src/ma-gemma3.mix"
grep -q "sandwich_norms = true" "$T/src/ma-gemma3.mix" || pc_fail+=("ma-gemma3: the test could not add the variations")
for e in examples/*.mix "$T/src/ma-qkv-bias.mix" "$T/src/ma-gemma3.mix" tests/mixrun/shapes.mix; do
  n=$(basename "$e" .mix)
  f=$T/$n.mix   # the example as written (character-ai: its int8 cache; per-kind shapes: kernel_shapes')
  cp "$(kernel_shapes "$e" "$T/src")" "$f"
  if ! "$MIXC" emit "$f" -o "$T/emit-$n" --context 4096 >/dev/null 2>"$T/emit-err"; then pc_fail+=("$n: mixc emit failed: $(head -c 200 "$T/emit-err")"); continue; fi
  if ! "$CHECK" "$f" "$T/emit-$n/manifest.json" --context 4096 --batch 5 >"$T/pc" 2>&1; then pc_fail+=("$n: $(head -n 3 "$T/pc")"); fi
done
[ ${#pc_fail[@]} -eq 0 ] && pass "launch plan = manifest (grid, block, smem, names) for every example, ma with qkv_bias and o_bias, ma with Gemma 3's variations and tests/mixrun/shapes.mix (per-kind shapes) at context 4096 (prefill 1/37/chunk, decode of 5)" ||
  fail "launch plan = manifest" "${pc_fail[@]}"

# The check can fail: one decode split, one smem and one layer's kernel changed in the manifest.
m=$T/emit-ma/manifest.json
if [ -f "$m" ]; then
  python_free_edit() {   # $1 = sed expression applied once; checks that plan_check now fails
    sed "$1" "$m" >"$T/bad.json"
    cmp -s "$m" "$T/bad.json" && return 2
    "$CHECK" "$T/ma.mix" "$T/bad.json" --context 4096 --batch 5 >"$T/pc" 2>&1 && return 1
    return 0
  }
  caught=0; tried=0
  for e in '0,/"dynamic_smem": 81920/s//"dynamic_smem": 81936/' \
           '0,/"rope": "rope_q_hd128_h16_bf16"/s//"rope": "rope_append_hd128_h16_kv8_cap4096_bf16"/' \
           '0,/"ceil(max_chunk_tokens\/64)"/s//"ceil(max_chunk_tokens\/32)"/'; do
    python_free_edit "$e"; r=$?
    [ $r -ne 2 ] && tried=$((tried + 1))
    [ $r -eq 0 ] && caught=$((caught + 1))
  done
  [ $tried -eq 3 ] && [ $caught -eq 3 ] && pass "plan_check catches a changed smem, layer kernel and grid formula in the manifest" ||
    fail "plan_check catches changed manifests" "$caught of $tried edits caught (3 expected)"
fi

# ---- the GPU-only harness (tests/cuda/gpu_attn: gpu-check's 8-bit decode and append checks) under the
# stand-in driver, its kernels run in the emulator (gpu_attn emu-so): the harness passes the kernels
# their parameters as the backend does, or it fails here rather than on a lent GPU (on 2026-12-04 a
# stale append harness was found only there). Each cache type once; a window and a global layer.
ATTN=$BUILD/tests/cuda/gpu_attn
for cfg in "bf16 --window 100" "int8" "fp8 --window 100"; do
  read -r kv opts <<<"$cfg"
  # shellcheck disable=SC2206
  A=(--len 200 --chunk 64 --head-dim 64 --heads 4 --kv-heads 2 --batch 2 --kv "$kv" $opts)
  if ! "$ATTN" emu-so "$T/attn-$kv.so" "${A[@]}" >"$T/attn" 2>&1; then
    fail "gpu_attn emu-so ($kv cache)" "$(head -n 4 "$T/attn")"; continue; fi
  checks=(decode-check); [ "$kv" != bf16 ] && checks+=(append-check)
  for c in "${checks[@]}"; do
    FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/attn-$kv.so LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
      "$ATTN" "$c" "${A[@]}" >"$T/attn" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q '"pass": true' "$T/attn"; then
      pass "gpu_attn $c over a $kv cache (${opts:-global}) under the stand-in driver, kernels emulated: $(tail -n 1 "$T/attn" | cut -c1-120)"
    else fail "gpu_attn $c over a $kv cache (${opts:-global}) under the stand-in driver: exit $rc" "$(tail -n 4 "$T/attn")"; fi
  done
done
# gpu-bench's timing mode (gpu_attn decode): 2 sequences of 4096 tokens, so that its caches' rows past
# the first 4096 (of a sequence's 8192: 2 KV heads) and the second sequence repeat the fresh ones
A=(--len 4096 --chunk 64 --head-dim 64 --heads 4 --kv-heads 2 --batch 2 --kv fp8)
if "$ATTN" emu-so "$T/attn-time.so" "${A[@]}" >"$T/attn" 2>&1 &&
   FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/attn-time.so LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
     "$ATTN" decode "${A[@]}" --iters 2 >"$T/attn" 2>&1 && grep -q '"kernel": "attn_decode_.*"us": ' "$T/attn"; then
  pass "gpu_attn decode (gpu-bench's timing) runs under the stand-in driver, kernels emulated: $(cut -c1-100 "$T/attn")"
else fail "gpu_attn decode (gpu-bench's timing) under the stand-in driver" "$(tail -n 4 "$T/attn")"; fi

# ---- scripts/gpu-check.sh under the stand-in (kernels not run, so its comparisons fail: exit 1): every
# part runs to its end, each check gives one result in gpu-check.json, and bash reports no error. Two
# examples, not 20 (the plumbing is the same); the sanitizer pass skips it (the script's programs are
# checked above).
if [ "$ASAN" = 0 ]; then
  mkdir -p "$T/gc"
  rm -f "$BUILD/gpu-check.json"   # a stale one must not count
  FAKE_CUDA=full LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    GPU_CHECK_EXAMPLES="examples/ma.mix examples/gpt-oss-20b.mix" BUILD=$BUILD MIXRUN=$RUN \
    bash scripts/gpu-check.sh >"$T/gc/out" 2>&1
  rc=$?
  n=$(jq '.results | length' "$BUILD/gpu-check.json" 2>/dev/null)
  lines=$(grep -c '^PASS\|^FAIL' "$T/gc/out")
  # logits: 2 examples, ma at head_dim 128 in bf16 and fp16, the batch, --bench; streamed 1; graphs 4;
  # kv8 15; prefix 2 (sdpa: skipped without torch, or 5)
  want=28; grep -q '^SKIP prefill vs PyTorch SDPA' "$T/gc/out" || want=33
  if [ $rc -eq 1 ] && [ "$n" = "$want" ] && [ "$lines" = "$want" ] &&
     ! grep -qE 'command not found|syntax error|unbound variable|No such file' "$T/gc/out"; then
    pass "gpu-check.sh under the stand-in: every part runs to its end, $want results (exit 1: nothing is computed)"
  else fail "gpu-check.sh under the stand-in: $want results, exit 1" "exit $rc, $n results, $lines lines" \
    "$(grep -E 'command not found|syntax error|unbound variable|No such file' "$T/gc/out" | head -n 3)"; fi
fi

# ---- NVRTC: the backend's source for sm_80 and sm_90 (cached), and the parameter-struct mirrors
for arch in sm_80 sm_90; do
  for n in standard character-ai; do
    f=$T/$n.mix
    if "$CHECK" "$f" "$T/emit-$n/manifest.json" --context 4096 --compile $arch >"$T/pc" 2>&1; then
      pass "NVRTC compiles the backend's kernels of $n for $arch ($(grep -o 'compiled for.*' "$T/pc"))"
    else fail "NVRTC compiles the backend's kernels of $n for $arch" "$(head -n 6 "$T/pc")"; fi
  done
done

CXX=${CXX:-c++}
if command -v "$CXX" >/dev/null; then
  cxx_check() { "$CXX" -std=c++17 -fsyntax-only -w -DMIXC_EMU -include runtime/emu/mixc_emu.h -Iruntime/emu \
                  -I"$CUDA_HOME/include" -x c++ "$1" >"$T/cxx" 2>&1; }
  if "$CHECK" "$T/ma.mix" "$T/emit-ma/manifest.json" --context 4096 --asserts "$T/asserts.cu" >/dev/null 2>&1 &&
     cxx_check "$T/asserts.cu"; then
    pass "the backend's C mirrors of the parameter structs match the templates (offsets, sizes)"
    sed 's/static_assert(offsetof(DecodeParams, scale) == \([0-9]*\)/static_assert(offsetof(DecodeParams, scale) == 1\1/' \
      "$T/asserts.cu" >"$T/asserts-bad.cu"
    if ! cmp -s "$T/asserts.cu" "$T/asserts-bad.cu" && ! cxx_check "$T/asserts-bad.cu"; then
      pass "a wrong mirror offset fails that compile"
    else fail "a wrong mirror offset fails that compile"; fi
  else fail "the backend's C mirrors of the parameter structs match the templates" "$(grep -m3 error "$T/cxx")"; fi
else
  echo "SKIP parameter-struct mirrors: no C++ compiler ($CXX)"
fi

[ "$fails" -eq 0 ]
