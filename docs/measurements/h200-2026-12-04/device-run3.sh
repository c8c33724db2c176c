#!/usr/bin/env bash
# Device run 3 of 2026-12-04: CUDA graphs under the continuous-batching scheduler (a new capture each
# time the decode rows or a layer's split count change): the served scenario scaled by 8 (32 requests
# of 3968 prompt + 128 new tokens, 32 slots), standard and ma, eager against MIXC_CUDA_GRAPHS=1; then
# the same at 16 requests/s (rows change as requests arrive and leave).
set -u
B=.gpu/b
export LD_LIBRARY_PATH=$PWD/.gpu/lib:/usr/local/cuda/lib64:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export MIXC_CACHE_DIR=/tmp/mixc-jit
S=$(date +%s)
for rate in all 16; do
  for name in standard ma; do
    for g in 0 1; do
      [ $(( $(date +%s) - S )) -gt 150 ] && { echo "time is up"; exit 0; }
      extra=(); [ $rate != all ] && extra=(--rates "$rate")
      MIXC_CUDA_GRAPHS=$g timeout 60 $B/mixrun --layout examples/$name.mix --set context=4096 --random-weights 1 \
        --backend cuda --json --synthetic 32,3968,128 --max-seqs 32 "${extra[@]}" >"$OUT/serve-$name-g$g-$rate.json" 2>"$OUT/err"
      rc=$?
      python3 - "$OUT/serve-$name-g$g-$rate.json" "$name" "$g" "$rate" "$rc" "$(( $(date +%s) - S ))" <<'PY' || tail -3 "$OUT/err"
import json, sys
p, name, g, rate, rc, t = sys.argv[1:]
d = json.load(open(p)); s = d["sweep"][0]["summary"] if "sweep" in d else d["summary"]
print(f'[t+{t}s] {name:<9} graphs={g} arrivals={rate:<4} rc={rc} output {s["output_tokens_per_s"]:.1f} tok/s  '
      f'p50 TPOT {s["tpot_s"]["p50"]*1e3:.2f} ms  p90 TPOT {s["tpot_s"]["p90"]*1e3:.2f} ms  peak seqs {s["peak_sequences"]}')
PY
    done
  done
done
