#!/usr/bin/env bash
# gpu-device-run — the prepared run for a lent GPU (docs/gpu.md, "On a lent GPU"): every check and a
# quick bench in one command, each phase under its own time limit so that the whole ends inside a
# short lease and what it wrote comes back. Run scripts/gpu-stage.sh here first (it builds the programs
# into .gpu/b and copies the libraries they link into .gpu/lib), then on the device machine, with
# .gpu/b and .gpu/lib carried:
#     bash scripts/gpu-device-run.sh            (OUT: where logs go; the device tool sets it)
# Phases (seconds, each overridable): smoke (60), gpu-check (CHECK_T=200; GPU_CHECK_PARTS picks
# parts), compute-sanitizer memcheck eager, with graphs disabled and with an int8 cache (SAN_T=30
# each; SAN=0 skips), gpu-bench parts 1-2 quick (BENCH_T=130), part 4 served and scaled by 8
# (SERVE_T=100; SERVE=0 skips). Logs: $OUT/{timeline,smoke,check,sanitizer,bench,serve}.log; JSON and
# charts in $OUT/results.tgz (at most 8 files come back from the device).
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

el "gpu-check"
timeout "${CHECK_T:-200}" env BUILD="$B" MIXRUN="$B/mixrun" bash scripts/gpu-check.sh > "$OUT/check.log" 2>&1
echo "gpu-check rc=$?" >> "$OUT/check.log"; cp "$B/gpu-check.json" "$R/" 2>/dev/null

if [ "${SAN:-1}" = 1 ]; then
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

el "bench 1-2"
timeout "${BENCH_T:-130}" env BUILD="$B" MIXRUN="$B/mixrun" MIXC="$B/mixc" GPU_BENCH_OUT="$R" GPU_BENCH_QUICK=1 \
  GPU_BENCH_RUNS="${GPU_BENCH_RUNS:-1 1024 128,8 1024 128}" bash scripts/gpu-bench.sh > "$OUT/bench.log" 2>&1
echo "gpu-bench rc=$?" >> "$OUT/bench.log"

if [ "${SERVE:-1}" = 1 ]; then
  el "bench 4 (served, scaled by 8)"
  mkdir -p "$R/serve"
  timeout "${SERVE_T:-100}" env BUILD="$B" MIXRUN="$B/mixrun" MIXC="$B/mixc" GPU_BENCH_OUT="$R/serve" GPU_BENCH_PARTS=4 \
    GPU_BENCH_SCALE=8 GPU_SERVE_N=32 GPU_BENCH_LAYOUTS="standard swa ma" GPU_SERVE_RATES=8,32 \
    bash scripts/gpu-bench.sh > "$OUT/serve.log" 2>&1
  echo "gpu-bench serve rc=$?" >> "$OUT/serve.log"
fi
el "done"
tar -C "$OUT" -czf "$OUT/results.tgz" r && rm -rf "$R"
