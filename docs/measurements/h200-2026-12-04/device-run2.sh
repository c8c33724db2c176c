#!/usr/bin/env bash
# Device run 2 of 2026-12-04: what run 1 left (its gpu-check reached its time limit inside the 8-bit part,
# whose append checks failed on a stale harness, now fixed: tests/cuda/gpu_attn.c passes the fused qkv
# rows and q_out as the backend does), then gpu-bench part 2 (mixrun --bench eager and with CUDA graphs).
set -u
B=.gpu/b
export LD_LIBRARY_PATH=$PWD/.gpu/lib:/usr/local/cuda/lib64:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export MIXC_CACHE_DIR=/tmp/mixc-jit PATH=$PATH:/usr/local/cuda/bin
S=$(date +%s)
el() { echo "[t+$(( $(date +%s) - S ))s] $*" | tee -a "$OUT/timeline2.log"; }
el "gpu-check kv8"
timeout "${CHECK_T:-90}" env BUILD=$B MIXRUN=$B/mixrun GPU_CHECK_PARTS=kv8 bash scripts/gpu-check.sh > "$OUT/check2.log" 2>&1
echo "gpu-check rc=$?" >> "$OUT/check2.log"; cp $B/gpu-check.json "$OUT/gpu-check2.json" 2>/dev/null
el "bench 2"
timeout "${BENCH_T:-170}" env BUILD=$B MIXRUN=$B/mixrun MIXC=$B/mixc GPU_BENCH_OUT=$OUT GPU_BENCH_PARTS=2 \
  GPU_BENCH_RUNS="1 1024 128,8 1024 128" bash scripts/gpu-bench.sh > "$OUT/bench2.log" 2>&1
echo "gpu-bench rc=$?" >> "$OUT/bench2.log"
el "done"
