#!/usr/bin/env bash
# gpu-device-run — the prepared run for a lent GPU (docs/gpu.md, "On a lent GPU"): every check and a
# quick bench, each phase under its own time limit so that a call ends inside the device's limits and
# what it wrote comes back. Run scripts/gpu-stage.sh here first (it builds the programs into .gpu/b,
# the 8-bit decode variant into .gpu/b8, and copies the libraries they link into .gpu/lib), then on
# the device machine, carrying .gpu/b, .gpu/b8 and .gpu/lib:
#     PHASES="kv8 bench check" bash scripts/gpu-device-run.sh     (about 9.5 minutes at most)
#     PHASES="san serve" bash scripts/gpu-device-run.sh           (about 5.5 minutes at most)
# (OUT: where the logs go; the device tool sets it; one call may run 10 minutes). A smoke run (60 s)
# comes first in every call and stops it when the cuda backend does not run. The phases, in this
# order whatever PHASES says (default: all; seconds each, overridable):
#   kv8    the 8-bit decode questions: this build against .gpu/b8 (twice the decode stages for 8-bit
#          caches) on three points (AB_T=60), then Nsight Compute's view of the decode kernel over
#          bf16, int8 and fp8 caches when ncu is there (NCU_T=120);
#   bench  gpu-bench parts 1-2 quick (BENCH_T=130);
#   check  gpu-check (CHECK_T=200; GPU_CHECK_PARTS picks its parts);
#   san    compute-sanitizer memcheck with graphs, eager and with an int8 cache (SAN_T=30 each);
#   serve  gpu-bench part 4 served and scaled by 8 (SERVE_T=100), then graphs against eager steps while
#          serving at 16 requests/s (GRAPHS_T=80).
# Logs: $OUT/{timeline,smoke,kv8,bench,check,sanitizer,serve}.log; JSON and charts in
# $OUT/results.tgz (at most 8 files come back from the device).
# Run 1 of 2026-12-04 was this script as of commit 4713c11 (docs/measurements/h200-2026-12-04).
set -u
cd "$(dirname "$0")/.." || exit 2
B=${GPU_STAGE:-.gpu/b}
OUT=${OUT:?OUT: the folder for the logs}
export LD_LIBRARY_PATH=$PWD/.gpu/lib:/usr/local/cuda/lib64:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export MIXC_CACHE_DIR=${MIXC_CACHE_DIR:-/tmp/mixc-jit} PATH=$PATH:/usr/local/cuda/bin
S=$(date +%s)
el() { echo "[t+$(( $(date +%s) - S ))s] $*" | tee -a "$OUT/timeline.log"; }
R=$OUT/r; mkdir -p "$R"
PHASES=${PHASES:-kv8 bench check san serve}
phase() { [[ " $PHASES " == *" $1 "* ]]; }
[ -x "$B/mixrun" ] || { el "$B/mixrun is missing: run scripts/gpu-stage.sh and carry .gpu/b and .gpu/lib"; exit 2; }
{
el "env"; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
head -2 /etc/os-release; ldd --version | head -1; nproc
ldd "$B/mixrun" | grep -E "not found|\.gpu/lib"
el "smoke"
timeout 60 "$B/mixrun" --layout tests/mixrun/tiny.mix --set head_dim=64 --random-weights 1 --tokens 1,2 --max-new 1 --backend cuda 2>&1 | tail -20
echo "smoke rc=${PIPESTATUS[0]}"
} > "$OUT/smoke.log" 2>&1
grep -q "smoke rc=0" "$OUT/smoke.log" || { el "smoke failed: stop (see smoke.log)"; exit 1; }

# 8-bit decode: the same points timed by this build and by .gpu/b8 (twice the stages for 8-bit caches)
if phase kv8 && [ -x .gpu/b8/tests/cuda/gpu_attn ]; then
  el "8-bit decode A/B (stages)"
  # each point's last line and its exit status; "ab rc" counts the points that failed (124: timed out)
  timeout "${AB_T:-60}" bash -c '
    failed=0
    for pt in "0 8 32768" "1024 32 32768" "0 1 4096"; do
      read -r w b len <<<"$pt"
      for kv in bf16 int8 fp8; do for build in "$0" .gpu/b8; do
        out=$("$build/tests/cuda/gpu_attn" decode --window "$w" --batch "$b" --len "$len" --iters 50 --kv "$kv" 2>&1)
        rc=$?
        echo "$build $kv window=$w batch=$b len=$len: $(tail -n 1 <<<"$out") (rc=$rc)"
        [ "$rc" -eq 0 ] || failed=$((failed + 1))
      done; done
    done
    exit "$failed"' "$B" >> "$OUT/kv8.log" 2>&1
  echo "ab rc=$?" >> "$OUT/kv8.log"
fi
# What bounds the decode kernel (memory, issue, conversions): one launch per cache type under ncu
if phase kv8 && command -v ncu >/dev/null; then
  el "ncu: decode attention (batch 8, 32K, global)"
  for kv in bf16 int8 fp8; do
    echo "== ncu $kv"
    timeout $(( ${NCU_T:-120} / 3 )) ncu --kernel-name regex:'^attn_decode_hd' --launch-skip 2 --launch-count 1 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats \
      --section ComputeWorkloadAnalysis "$B/tests/cuda/gpu_attn" decode --window 0 --batch 8 --len 32768 --iters 3 \
      --kv "$kv" 2>&1 | tail -n 120
    echo "ncu $kv rc=${PIPESTATUS[0]}"
  done >> "$OUT/kv8.log" 2>&1
fi

if phase bench; then
  el "bench 1-2"
  timeout "${BENCH_T:-130}" env BUILD="$B" MIXRUN="$B/mixrun" MIXC="$B/mixc" GPU_BENCH_OUT="$R" GPU_BENCH_QUICK=1 \
    GPU_BENCH_RUNS="${GPU_BENCH_RUNS:-1 1024 128,8 1024 128}" bash scripts/gpu-bench.sh > "$OUT/bench.log" 2>&1
  echo "gpu-bench rc=$?" >> "$OUT/bench.log"
fi

if phase check; then
  el "gpu-check"
  timeout "${CHECK_T:-200}" env BUILD="$B" MIXRUN="$B/mixrun" bash scripts/gpu-check.sh > "$OUT/check.log" 2>&1
  echo "gpu-check rc=$?" >> "$OUT/check.log"; cp "$B/gpu-check.json" "$R/" 2>/dev/null
fi

if phase san; then
  el "memcheck"
  # shellcheck disable=SC2054
  SAN_ARGS=(--layout examples/ma.mix --set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128
            --set vocab=128 --set context=32 --set chunk=8 --set window=8 --random-weights 5
            --tokens 3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4 --max-new 6 --backend cuda)
  for mode in graphs eager int8; do
    kv=bf16; [ $mode = int8 ] && kv=int8
    graphs=1; [ $mode = eager ] && graphs=0
    echo "== memcheck $mode"
    MIXC_CUDA_GRAPHS=$graphs timeout "${SAN_T:-30}" compute-sanitizer --tool memcheck --error-exitcode 9 "$B/mixrun" \
      "${SAN_ARGS[@]}" --set kv_dtype=$kv 2>&1 | tail -6
    echo "memcheck $mode rc=${PIPESTATUS[0]}"
  done > "$OUT/sanitizer.log" 2>&1
fi

if phase serve; then
  el "bench 4 (served, scaled by 8)"
  mkdir -p "$R/serve"
  timeout "${SERVE_T:-100}" env BUILD="$B" MIXRUN="$B/mixrun" MIXC="$B/mixc" GPU_BENCH_OUT="$R/serve" GPU_BENCH_PARTS=4 \
    GPU_BENCH_SCALE=8 GPU_SERVE_N=32 GPU_BENCH_LAYOUTS="standard swa ma" GPU_SERVE_RATES=8,32 \
    bash scripts/gpu-bench.sh > "$OUT/serve.log" 2>&1
  echo "gpu-bench serve rc=$?" >> "$OUT/serve.log"
  # graphs while serving, where the decode rows change as requests arrive and leave (a graph is kept
  # per key since 2026-12-04's run 3, which found no change with one graph): eager against graphs
  el "graphs while serving (A/B)"
  G0=$(date +%s)
  for name in standard ma; do for g in 0 1; do
    [ $(( $(date +%s) - G0 )) -gt "${GRAPHS_T:-80}" ] && { echo "graphs A/B: time is up"; break 2; }
    MIXC_CUDA_GRAPHS=$g timeout 40 "$B/mixrun" --layout "examples/$name.mix" --set context=2048 --random-weights 1 \
      --backend cuda --json --synthetic 48,1024,128,16 --max-seqs 16 >"$R/serve-$name-g$g.json" 2>"$R/err"
    echo "$name graphs=$g rc=$? $(jq -c '.summary | {tok_s: .output_tokens_per_s, tpot_p50: .tpot_s.p50, tpot_p90: .tpot_s.p90}' \
      "$R/serve-$name-g$g.json" 2>/dev/null || tail -n 2 "$R/err")"
  done; done >> "$OUT/serve.log" 2>&1
fi

el "done"
tar -C "$OUT" -czf "$OUT/results.tgz" r && rm -rf "$R"
