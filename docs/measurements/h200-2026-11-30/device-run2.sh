#!/usr/bin/env bash
# Device run 2: the mixc-built binary (sm_90 cubin, no JIT) against cpu; full decode-attention points
# and the MixAttention scenario (scaled by 2).
set -u
B=.gpu/build
export LD_LIBRARY_PATH=$PWD/.gpu/lib:/usr/local/cuda/lib64:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
S=$(date +%s); el() { echo "[t+$(( $(date +%s) - S ))s] $*"; }
EP=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3
SETS="--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16"
TIMEFORMAT='%R s wall'
{
el "built binary"
.gpu/ma-test --info
$B/mixrun --layout examples/ma.mix $SETS --random-weights 5 --tokens $EP --max-new 6 --backend cpu --dump-logits /tmp/c.npy
rm -rf /tmp/cacheA /tmp/cacheB
echo "built binary, cuda, empty JIT cache:"; time MIXC_CACHE_DIR=/tmp/cacheA .gpu/ma-test --random-weights 5 --tokens $EP --max-new 6 --backend cuda --dump-logits /tmp/b.npy
echo "built binary rc=$?; JIT cache entries written: $(find /tmp/cacheA -type f 2>/dev/null | wc -l)"
echo "mixrun, cuda, empty JIT cache:"; time MIXC_CACHE_DIR=/tmp/cacheB $B/mixrun --layout examples/ma.mix $SETS --random-weights 5 --tokens $EP --max-new 6 --backend cuda --dump-logits /tmp/m.npy
echo "mixrun rc=$?; JIT cache entries written: $(find /tmp/cacheB -type f 2>/dev/null | wc -l)"
echo "mixrun, cuda, warm JIT cache:"; time MIXC_CACHE_DIR=/tmp/cacheB $B/mixrun --layout examples/ma.mix $SETS --random-weights 5 --tokens $EP --max-new 6 --backend cuda >/dev/null
$B/tests/mixrun/logitcmp /tmp/c.npy /tmp/b.npy 0.125 0.015625 26; echo "built vs cpu logitcmp rc=$?"
$B/tests/mixrun/logitcmp /tmp/m.npy /tmp/b.npy 0 0 26; echo "built vs mixrun-cuda (exact) logitcmp rc=$?"
} > $OUT/built.log 2>&1
el "bench" >> $OUT/built.log
timeout ${BENCH_T:-330} env BUILD=$B MIXRUN=$B/mixrun GPU_BENCH_PARTS="1 3" GPU_BENCH_SCALE=${SCALE:-2} GPU_BENCH_N=4 bash scripts/gpu-bench.sh > $OUT/bench2.log 2>&1; echo "gpu-bench rc=$?" >> $OUT/bench2.log
cp $B/gpu-bench.json $OUT/gpu-bench2.json 2>/dev/null
el "done" >> $OUT/built.log
