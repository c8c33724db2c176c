#!/usr/bin/env bash
# The device run of 2026-12-04 (one H200 lent for 15 minutes): binaries built on the CPU machine
# (`make BUILD=.gpu/build all test-progs`) and carried in .gpu/b with their libraries in .gpu/lib.
# Phases, each under its own timeout so the whole ends inside the lease: smoke, gpu-check (now with
# the streamed checkpoint and CUDA graphs), compute-sanitizer memcheck, gpu-bench parts 1-2 (quick:
# decode attention over bf16/int8/fp8 caches; mixrun --bench eager and with graphs), part 4 (the
# scenario served, scaled down). Logs under $OUT; JSON and charts in $OUT/results.tgz.
set -u
B=.gpu/b
NVLIBS=$(python3 - <<'PY' 2>/dev/null
import importlib, os
out = []
for m in ("nvidia.cublas", "nvidia.cuda_nvrtc", "nvidia.cu13"):
    try:
        p = importlib.import_module(m); d = os.path.join(list(p.__path__)[0], "lib")
        if os.path.isdir(d): out.append(d)
    except Exception: pass
print(":".join(out))
PY
)
export LD_LIBRARY_PATH=$PWD/.gpu/lib:/usr/local/cuda/lib64:/usr/local/nvidia/lib64:${NVLIBS}:${LD_LIBRARY_PATH:-}
export MIXC_CACHE_DIR=/tmp/mixc-jit PATH=$PATH:/usr/local/cuda/bin
S=$(date +%s)
el() { echo "[t+$(( $(date +%s) - S ))s] $*" | tee -a "$OUT/timeline.log"; }
R=$OUT/r; mkdir -p "$R"
{
el "env"; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
head -2 /etc/os-release; ldd --version | head -1; nproc
ldd $B/mixrun | grep -E "not found|jansson|microhttpd|utf8proc"
el "smoke"
timeout 60 $B/mixrun --layout tests/mixrun/tiny.mix --set head_dim=64 --random-weights 1 --tokens 1,2 --max-new 1 --backend cuda 2>&1 | tail -20
echo "smoke rc=${PIPESTATUS[0]}"
} > "$OUT/smoke.log" 2>&1
grep -q "smoke rc=0" "$OUT/smoke.log" || { el "smoke failed: stop"; exit 1; }

el "gpu-check"
timeout "${CHECK_T:-190}" env BUILD=$B MIXRUN=$B/mixrun bash scripts/gpu-check.sh > "$OUT/check.log" 2>&1
echo "gpu-check rc=$?" >> "$OUT/check.log"; cp $B/gpu-check.json "$R/" 2>/dev/null

el "memcheck"
SAN=(--layout examples/ma.mix --set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128
     --set vocab=128 --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16 --random-weights 5
     --tokens 3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4 --max-new 6 --backend cuda)
{
for mode in eager graphs int8; do
  args=("${SAN[@]}"); envs=()
  [ $mode = graphs ] && envs=(MIXC_CUDA_GRAPHS=1)
  [ $mode = int8 ] && args=(--layout examples/ma.mix --set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64
    --set ffn=128 --set vocab=128 --set context=32 --set chunk=8 --set window=8 --set kv_dtype=int8 --random-weights 5
    --tokens 3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4 --max-new 6 --backend cuda)
  echo "== memcheck $mode"
  timeout 30 env "${envs[@]}" compute-sanitizer --tool memcheck --error-exitcode 9 $B/mixrun "${args[@]}" 2>&1 | tail -6
  echo "memcheck $mode rc=${PIPESTATUS[0]}"
done
} > "$OUT/sanitizer.log" 2>&1

el "bench 1-2"
timeout "${BENCH_T:-125}" env BUILD=$B MIXRUN=$B/mixrun MIXC=$B/mixc GPU_BENCH_OUT=$R GPU_BENCH_QUICK=1 \
  GPU_BENCH_RUNS="1 1024 128,8 1024 128" bash scripts/gpu-bench.sh > "$OUT/bench.log" 2>&1
echo "gpu-bench rc=$?" >> "$OUT/bench.log"

el "bench 4 (served, scaled by 8)"
mkdir -p "$R/serve"
timeout "${SERVE_T:-105}" env BUILD=$B MIXRUN=$B/mixrun MIXC=$B/mixc GPU_BENCH_OUT=$R/serve GPU_BENCH_PARTS=4 \
  GPU_BENCH_SCALE=8 GPU_SERVE_N=32 GPU_BENCH_LAYOUTS="standard swa ma" GPU_SERVE_RATES=8,32 \
  bash scripts/gpu-bench.sh > "$OUT/serve.log" 2>&1
echo "gpu-bench serve rc=$?" >> "$OUT/serve.log"
el "done"
tar -C "$OUT" -czf "$OUT/results.tgz" r && rm -rf "$R"
