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
# Results: printed, and $BUILD/gpu-bench.json. Exit 0, 1 when a run fails, 2 without a GPU.
# Knobs: GPU_BENCH_N (sequences of the scenario, default 4), GPU_BENCH_SCALE (divides the scenario's
# 31K + 1K tokens, default 1), GPU_BENCH_QUICK=1 (fewer decode-attention points, skip part 3),
# GPU_BENCH_PARTS (which parts run, default "1 2 3").
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUN=${MIXRUN:-$BUILD/mixrun}
ATTN=$BUILD/tests/cuda/gpu_attn
N=${GPU_BENCH_N:-4}
SCALE=${GPU_BENCH_SCALE:-1}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# shellcheck source=scripts/gpu-preflight.sh
. scripts/gpu-preflight.sh
gpu_preflight gpu-bench "$RUN" "$ATTN"

PARTS=" ${GPU_BENCH_PARTS:-1 2 3} "
[ "${GPU_BENCH_QUICK:-0}" = 1 ] && PARTS=${PARTS/ 3 / }
part() { [[ $PARTS == *" $1 "* ]]; }
fails=0
attn_json=(); bench_json=(); scen_json=()
device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
echo "gpu-bench on ${device:-an unnamed GPU}"

# ---- 1. decode attention vs HBM bandwidth
part 1 && echo "== decode attention (split-KV + reduce), head_dim 128, 16 heads / 8 KV heads, bf16; bf16, int8 and fp8 caches"
part 1 && printf '%-5s %-8s %-7s %-7s %7s %10s %10s %9s %-8s %s\n' kv window batch len splits "us" "bound us" "GB/s" "of peak" "vs bf16"
points=("0 1 4096" "0 8 4096" "0 32 4096" "0 8 32768" "0 32 32768" "1024 8 32768" "1024 32 32768" "1024 128 32768")
[ "${GPU_BENCH_QUICK:-0}" = 1 ] && points=("0 8 4096" "0 8 32768" "1024 32 32768")
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

# bench NAME LAYOUT B L G [--set ...]: one mixrun --bench, its figures as JSON into $T/row.
bench() {
  local name=$1 layout=$2 b=$3 l=$4 g=$5; shift 5
  if ! "$RUN" --layout "$layout" "$@" --random-weights 1 --bench --batch "$b" --prompt-len "$l" --max-new "$g" \
       --backend cuda >"$T/out" 2>"$T/err"; then
    echo "FAIL $name: $(grep -m 3 -v '^\s*$' "$T/err")"; fails=$((fails + 1)); return 1
  fi
  local pre dec mem
  pre=$(awk '/^prefill:/ {print $(NF-1)}' "$T/out"); dec=$(awk '/^decode:/ {print $(NF-1)}' "$T/out")
  mem=$(grep '^memory:' "$T/out" | sed 's/"/'\''/g')
  printf '%-16s B %-3s L %-6s G %-5s prefill %10s tok/s  decode %9s tok/s  %s\n' "$name" "$b" "$l" "$g" "$pre" "$dec" "$mem"
  echo "{\"layout\": \"$name\", \"batch\": $b, \"prompt\": $l, \"new\": $g, \"prefill_tps\": ${pre:-0}, \"decode_tps\": ${dec:-0}, \"memory\": \"$mem\"}" >"$T/row"
}

# ---- 2. tokens/s of mixrun --bench
part 2 && echo "== mixrun --bench (full-size layouts, random weights)"
part 2 && for f in examples/standard.mix examples/ma.mix; do
  for cfg in "1 1024 128" "8 1024 128" "32 512 64"; do
    read -r b l g <<<"$cfg"
    bench "$(basename "$f" .mix)" "$f" "$b" "$l" "$g" && bench_json+=("$(cat "$T/row")")
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

join() { local IFS=,; echo "$*"; }
cat >"$BUILD/gpu-bench.json" <<EOF
{"device": "$device",
 "decode_attention": [$(join "${attn_json[@]}")],
 "bench": [$(join "${bench_json[@]}")],
 "mixattention_scenario": {"sequences": $N, "prompt": $((31744 / SCALE)), "new": $((1024 / SCALE)), "runs": [$(join "${scen_json[@]}")]},
 "failed": $fails}
EOF
echo "gpu-bench: results in $BUILD/gpu-bench.json"
[ $fails -eq 0 ]
