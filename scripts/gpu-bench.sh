#!/usr/bin/env bash
# gpu-bench — timings of the cuda backend on a machine with a GPU (`make gpu-bench`).
#
#  1. Decode attention alone (tests/cuda/gpu_attn decode): median time of split-KV decode + reduce
#     against the time the K/V bytes take at the device's peak HBM bandwidth (memory clock x bus
#     width x 2), for global and sliding layers, several batches and lengths; each point with a bf16,
#     an int8 and an fp8 cache (codes + scales: ~0.52x the bytes), and the 8-bit times relative to
#     bf16's (expected ~0.55x where the K/V reads dominate).
#  2. mixrun --bench prefill and decode tokens/s, examples/standard.mix and examples/ma.mix at full
#     size (random weights), B sequences x L prompt + G new tokens.
#  3. The MixAttention paper's scenario, scaled: N prompts of 31K tokens then 1K new tokens each
#     (context 32K), for examples/standard.mix against every examples/ma*.mix: tokens/s and the KV
#     memory each layout holds.
#  4. The same scenario served as the paper served it (docs/serving.md): GPU_SERVE_N requests (300)
#     of 31K prompt and 1K new tokens through mixrun's continuous-batching scheduler, as many
#     sequences in flight as `mixc report --gpu` says fit, for standard, swa and every ma* layout:
#     output tokens/s (and the ratio to standard's), peak sequences against the report's maximum, p90
#     TPOT; then a load sweep (--rates) of standard and ma with its SVG chart.
# Results: printed, and $OUT/gpu-bench.json (+ $OUT/gpu-serve-LAYOUT.svg; OUT: $GPU_BENCH_OUT, default
# $BUILD). Exit 0, 1 when a run fails, 2 without a GPU.
# Knobs: GPU_BENCH_N (sequences of the scenario, default 4), GPU_BENCH_SCALE (divides the scenario's
# 31K + 1K tokens, default 1), GPU_BENCH_QUICK=1 (fewer decode-attention points, skip parts 3 and 4),
# GPU_BENCH_PARTS (which parts run, default "1 2 3 4"), GPU_BENCH_RUNS (part 2's "B L G" runs,
# comma-separated; default "1 1024 128,8 1024 128,32 1024 128"). Part 4: GPU_SERVE_N (300), GPU_SERVE_RATES
# (requests/s of the sweep, default 0.25,0.5,1,2), GPU_BENCH_GPU (the device memory as `mixc report
# --gpu` takes it; default: nvidia-smi's total), GPU_BENCH_LAYOUTS (names under examples/, default
# "standard swa ma*"), GPU_BENCH_SET (--set overrides for every run: a tiny scale under the stand-in
# driver, as tests/serve runs it).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUN=${MIXRUN:-$BUILD/mixrun}
ATTN=$BUILD/tests/cuda/gpu_attn
N=${GPU_BENCH_N:-4}
OUT=${GPU_BENCH_OUT:-$BUILD}   # where gpu-bench.json and the charts go
SCALE=${GPU_BENCH_SCALE:-1}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# shellcheck source=scripts/gpu-preflight.sh
. scripts/gpu-preflight.sh
gpu_preflight gpu-bench "$RUN" "$ATTN"

PARTS=" ${GPU_BENCH_PARTS:-1 2 3 4} "
[ "${GPU_BENCH_QUICK:-0}" = 1 ] && PARTS=${PARTS/ 3 / } && PARTS=${PARTS/ 4 / }
part() { [[ $PARTS == *" $1 "* ]]; }
fails=0
attn_json=(); bench_json=(); scen_json=(); serve_json=(); sweep_json=()
read -ra SETS <<<"${GPU_BENCH_SET:-}"
device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
echo "gpu-bench on ${device:-an unnamed GPU}"

# ---- 1. decode attention vs HBM bandwidth
part 1 && echo "== decode attention (split-KV + reduce), head_dim 128, 16 heads / 8 KV heads, bf16; bf16, int8 and fp8 caches"
part 1 && printf '%-5s %-8s %-7s %-7s %7s %10s %10s %9s %-8s %s\n' kv window batch len splits "us" "bound us" "GB/s" "of peak" "vs bf16"
# global and window-1024 layers, batches 1 to 128, lengths 4K, 32K and 128K (issue 16's targets: global
# at 32K with B >= 8, window at B >= 32, B = 1 at 4K)
points=()
for w in 0 1024; do for len in 4096 32768 131072; do for b in 1 8 32 128; do
  [ $w = 0 ] && [ $len = 131072 ] && [ $b = 128 ] && continue   # 64 GiB of bf16 K/V: 32 is enough there
  points+=("$w $b $len")
done; done; done
[ "${GPU_BENCH_QUICK:-0}" = 1 ] && points=("0 1 4096" "0 8 32768" "1024 32 32768" "0 8 131072")
part 1 || points=()
for pt in "${points[@]}"; do
  read -r w b len <<<"$pt"
  base_us=0
  for kv in bf16 int8 fp8; do
    if line=$("$ATTN" decode --window "$w" --batch "$b" --len "$len" --iters 50 --kv $kv 2>"$T/err"); then
      attn_json+=("$line")
      [ $kv = bf16 ] && base_us=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["us"])' "$line" 2>/dev/null || echo 0)
      python3 - "$line" "$base_us" <<'EOF' 2>/dev/null || echo "  $line"
import json, sys
r, base = json.loads(sys.argv[1]), float(sys.argv[2])
eff = r["bound_us"] / r["us"] if r["us"] > 0 else 0
rel = f'{r["us"] / base:.2f}x' if base > 0 and r["kv"] != "bf16" else ""
print(f'{r["kv"]:<5} {r["window"]:<8} {r["batch"]:<7} {r["len"]:<7} {r["splits"]:>7} {r["us"]:>10.1f} {r["bound_us"]:>10.1f} '
      f'{r["achieved_GBps"]:>9.0f} {eff:<8.0%} {rel}')
EOF
    else echo "FAIL decode attention $pt ($kv cache): $(head -n 3 "$T/err")"; fails=$((fails + 1)); fi
  done
done

# The peak HBM bandwidth (GB/s: memory clock x bus width x 2, as gpu_attn computes it), for the
# bounds of parts 2 and 3 (0: not asked for).
PEAK_GBPS=0
if part 2 || part 3; then
  PEAK_GBPS=$("$ATTN" decode --batch 1 --len 4096 --iters 1 2>/dev/null |
              python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["peak_GBps"])' 2>/dev/null || echo 0)
  echo "peak HBM bandwidth: $PEAK_GBPS GB/s"
fi

# bench NAME LAYOUT B L G [--set ...]: one mixrun --bench --json (its first decode steps a warm-up) and
# its row as JSON into $T/row: tokens/s; decode_ms_per_token, a decode step's time (one token of each
# sequence); bound_ms_per_token, the time that step's bytes take at the peak bandwidth: the weights
# (as allocated) + B x the KV a sequence holds at its mean decode length L + G/2 (mixc report
# --context L+G/2 --chunk 1: rings at window + 1 rows, about what a step reads).
bench() {
  local name=$1 layout=$2 b=$3 l=$4 g=$5; shift 5
  if ! "$RUN" --layout "$layout" "${SETS[@]}" "$@" --random-weights 1 --bench --json --batch "$b" --prompt-len "$l" \
       --max-new "$g" --backend cuda >"$T/bench.json" 2>"$T/err"; then
    echo "FAIL $name: $(grep -m 3 -v '^\s*$' "$T/err")"; fails=$((fails + 1)); return 1
  fi
  if ! "${MIXC:-$BUILD/mixc}" report "$layout" "${SETS[@]}" "$@" --context $((l + g / 2)) --chunk 1 --format json \
       >"$T/report.json" 2>"$T/err"; then
    echo "FAIL $name: mixc report: $(head -n 2 "$T/err")"; fails=$((fails + 1)); return 1
  fi
  python3 scripts/gpu-bench-row.py "$T/bench.json" "$T/report.json" "$name" "$PEAK_GBPS" >"$T/row" ||
    { echo "FAIL $name: unreadable figures"; fails=$((fails + 1)); return 1; }
}

# ---- 2. tokens/s of mixrun --bench
part 2 && echo "== mixrun --bench (full-size layouts, random weights): decode ms per step against the weights + KV read bound"
part 2 && for f in examples/standard.mix examples/ma.mix; do
  IFS=, read -ra runs <<<"${GPU_BENCH_RUNS:-1 1024 128,8 1024 128,32 1024 128}"
  for cfg in "${runs[@]}"; do
    read -r b l g <<<"$cfg"
    # eager steps (MIXC_CUDA_GRAPHS=0), then the decode step replayed as a CUDA graph (the default)
    MIXC_CUDA_GRAPHS=0 bench "$(basename "$f" .mix)" "$f" "$b" "$l" "$g" && bench_json+=("$(cat "$T/row")")
    bench "$(basename "$f" .mix)+graphs" "$f" "$b" "$l" "$g" && bench_json+=("$(cat "$T/row")")
  done
done

# ---- 3. the MixAttention scenario, scaled
if part 3; then
  L=$((31744 / SCALE)); G=$((1024 / SCALE))
  echo "== MixAttention scenario: $N prompts of $L tokens, then $G new tokens each"
  for f in examples/standard.mix examples/ma*.mix; do
    bench "$(basename "$f" .mix)" "$f" "$N" "$L" "$G" --set context=$((L + G)) && scen_json+=("$(cat "$T/row")")
  done
fi

# ---- 4. the scenario served: continuous batching under the exact KV budget, then a load sweep
# serve_one NAME LAYOUT ARGS...: mixrun --synthetic ... --json into $T/serve.json; 1 on failure.
serve_one() {
  local name=$1 layout=$2; shift 2
  "$RUN" --layout "$layout" "${SETS[@]}" --set context=$CTX --random-weights 1 --backend cuda --json "$@" \
    >"$T/serve.json" 2>"$T/err" && return 0
  echo "FAIL serve $name: $(grep -m 3 -v '^\s*$' "$T/err")"; fails=$((fails + 1)); return 1
}
# serve_row NAME MAX STANDARD_TPS: the table's row of $T/serve.json, then its JSON entry.
serve_row() {
  python3 - "$T/serve.json" "$@" <<'EOF'
import json, sys
s, name, mx, std = json.load(open(sys.argv[1]))["summary"], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
tps = s["output_tokens_per_s"]
vs = f"{tps / std:.2f}x" if std > 0 else "-"
print(f'{name:<16} {mx:>8} {s["peak_sequences"]:>8} {tps:>12.1f} {vs:>8} {s["tpot_s"]["p90"] * 1e3:>8.2f}ms {s["kv_peak_bytes"]:>12}')
print(json.dumps({"layout": name, "report_max_sequences": mx, "summary": s}))
EOF
}
if part 4; then
  SN=${GPU_SERVE_N:-300}; L=$((31744 / SCALE)); G=$((1024 / SCALE)); CTX=$((L + G))
  GPU=${GPU_BENCH_GPU:-$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null |
                         awk 'NR == 1 {printf "%.3f", $1 / 1024}')}
  echo "== MixAttention scenario served: $SN requests of $L prompt + $G new tokens (context $CTX), ${GPU:-?} GiB"
  printf '%-16s %8s %8s %12s %8s %10s %12s\n' layout "max seq" "peak" "output tok/s" "vs std" "p90 TPOT" "KV peak"
  std_tps=0
  for name in ${GPU_BENCH_LAYOUTS:-standard swa $(cd examples && ls ma*.mix | sed 's/\.mix$//')}; do
    f=examples/$name.mix
    max=$("${MIXC:-$BUILD/mixc}" report "$f" "${SETS[@]}" --context "$CTX" --gpu "$GPU" --format json 2>"$T/err" |
          python3 -c 'import json, sys; print(json.load(sys.stdin)["gpu"]["max_sequences"][0])') ||
      { echo "FAIL report $name: $(head -n 2 "$T/err")"; fails=$((fails + 1)); continue; }
    slots=$((max < SN ? max : SN))
    serve_one "$name" "$f" --synthetic "$SN,$L,$G" --max-seqs "$slots" || continue
    row=$(serve_row "$name" "$max" "$std_tps") || { echo "FAIL serve $name: unreadable JSON"; fails=$((fails + 1)); continue; }
    head -n 1 <<<"$row"; serve_json+=("$(tail -n 1 <<<"$row")")
    [ "$name" = standard ] &&
      std_tps=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["summary"]["output_tokens_per_s"])' "$T/serve.json")
  done
  for name in standard ma; do
    slots=$((SN < 64 ? SN : 64))
    serve_one "$name sweep" "examples/$name.mix" --synthetic "$SN,$L,$G" --max-seqs "$slots" \
      --rates "${GPU_SERVE_RATES:-0.25,0.5,1,2}" --svg "$OUT/gpu-serve-$name.svg" || continue
    sweep_json+=("{\"layout\": \"$name\", \"sweep\": $(python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["sweep"]))' "$T/serve.json")}")
    echo "$name: load sweep at ${GPU_SERVE_RATES:-0.25,0.5,1,2} requests/s: $OUT/gpu-serve-$name.svg"
  done
fi

join() { local IFS=,; echo "$*"; }
cat >"$OUT/gpu-bench.json" <<EOF
{"device": "$device",
 "decode_attention": [$(join "${attn_json[@]}")],
 "peak_GBps": $PEAK_GBPS,
 "mixrun_bench": [$(join "${bench_json[@]}")],
 "mixattention_scenario": {"sequences": $N, "prompt": $((31744 / SCALE)), "new": $((1024 / SCALE)), "runs": [$(join "${scen_json[@]}")]},
 "served_scenario": {"requests": ${SN:-0}, "gpu_gib": "${GPU:-}", "runs": [$(join "${serve_json[@]}")], "sweeps": [$(join "${sweep_json[@]}")]},
 "failed": $fails}
EOF
echo "gpu-bench: results in $OUT/gpu-bench.json"
[ $fails -eq 0 ]
