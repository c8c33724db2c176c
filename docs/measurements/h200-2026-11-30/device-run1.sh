#!/usr/bin/env bash
# Device checks for the cuda backend: smoke, gpu-check, sanitizer, quick bench, mixc build.
set -u
B=.gpu/build
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
S=$(date +%s)
el() { echo "[t+$(( $(date +%s) - S ))s] $*"; }
{
el "env"; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
cat /etc/os-release | head -2; ldd --version | head -1
ldd $B/mixrun | grep -E "not found|nvrtc|jansson|cublas|stdc"
ls /usr/local/cuda/lib64/libcublas.so* /usr/local/cuda/lib64/libnvrtc.so* 2>&1 | head
el "smoke"
timeout 60 $B/mixrun --layout tests/mixrun/tiny.mix --set head_dim=64 --random-weights 1 --tokens 1,2 --max-new 1 --backend cuda 2>&1 | tail -40
echo "smoke rc=${PIPESTATUS[0]}"
} 2>&1 | tee $OUT/smoke.log
el "gpu-check" | tee -a $OUT/smoke.log
timeout ${CHECK_T:-160} env BUILD=$B MIXRUN=$B/mixrun bash scripts/gpu-check.sh > $OUT/check.log 2>&1; echo "gpu-check rc=$?" >> $OUT/check.log
cp $B/gpu-check.json $OUT/ 2>/dev/null
el "sanitizer" | tee -a $OUT/smoke.log
if [ "${SAN:-1}" = 1 ]; then
timeout 50 compute-sanitizer --tool memcheck --error-exitcode 9 $B/mixrun --layout examples/ma.mix --set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16 --random-weights 5 --tokens 3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4 --max-new 6 --backend cuda > $OUT/sanitizer.log 2>&1; echo "memcheck rc=$?" >> $OUT/sanitizer.log
fi
el "bench" | tee -a $OUT/smoke.log
timeout ${BENCH_T:-100} env BUILD=$B MIXRUN=$B/mixrun GPU_BENCH_QUICK=${QUICK:-1} GPU_BENCH_SCALE=${SCALE:-4} bash scripts/gpu-bench.sh > $OUT/bench.log 2>&1; echo "gpu-bench rc=$?" >> $OUT/bench.log
cp $B/gpu-bench.json $OUT/ 2>/dev/null
el "done" | tee -a $OUT/smoke.log
