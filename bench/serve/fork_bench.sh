#!/usr/bin/env bash
# fork_bench.sh — what a prompt's n choices save by sharing its prefill (docs/serving.md, "Several
# choices"): `mixrun serve` on the cpu backend (a model of 512 hidden, 8 heads), one request with
# n = 8 against the 8 requests it stands for (the same prompt, seeds 1..8) sent at once, a prompt of
# 1,500 tokens and 8 new ones. Prints both times, their ratio, and whether the tokens are the same
# (they must be). Never fails on a figure. Without prefix caching: the 8 requests would take the
# prompt's caches from the slots the n = 8 request left.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
T=$(mktemp -d)
MODEL=(--layout tests/mixrun/tiny.mix --set vocab=604 --set hidden=512 --set heads=8 --set head_dim=64 --set ffn=1024
       --set context=2048 --random-weights 5 --backend cpu)
"$BUILD/mixrun" serve "${MODEL[@]}" --port 0 --max-seqs 8 --no-prefix-caching 2>"$T/err" &
pid=$!
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$T"' EXIT
port=
for _ in $(seq 300); do
  port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$T/err")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "fork_bench: the server did not start: $(tail -n 3 "$T/err")"; exit 1; }
prompt=$(seq 1 1500 | awk '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 7) % 600 }')
ask() { curl -s "http://127.0.0.1:$port/v1/completions" -d "{\"prompt\": [$prompt], \"max_tokens\": 8, \"temperature\": 1, $1}"; }
t0=$(date +%s.%N)
ask '"seed": 1, "n": 8' >"$T/n8"
t1=$(date +%s.%N)
for k in 1 2 3 4 5 6 7 8; do ask "\"seed\": $k" >"$T/alone$k" & done
wait $(jobs -p | grep -vx "$pid")
t2=$(date +%s.%N)
forked=$(jq -c '[.choices[].token_ids]' "$T/n8")
alone=$(for k in 1 2 3 4 5 6 7 8; do jq -c '.choices[0].token_ids' "$T/alone$k"; done | jq -sc .)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v same="$([ "$forked" = "$alone" ] && echo "the same tokens" || echo "OTHER TOKENS")" \
  'BEGIN { printf "a 1,500-token prompt, 8 choices of 8 tokens (cpu backend): n = 8 %.2f s, 8 requests at once %.2f s (%.1fx); %s\n", b - a, c - b, (c - b) / (b - a), same }'
kill -TERM $pid; wait $pid
