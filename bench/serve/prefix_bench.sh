#!/usr/bin/env bash
# prefix_bench.sh — what prefix caching saves (docs/serving.md, "Prefix caching"), on `mixrun serve`
# on the cpu backend (a model of 512 hidden, 8 heads, its sliding layers' window 1,024, chunk 256),
# against a server with --no-prefix-caching:
#  - a chat: one conversation of 5 turns sent in turn, a 1,000-token first prompt, then each turn's
#    prompt is the last one, its 16 generated tokens and 150 new ones (greedy);
#  - a system prompt: 8 requests sent at once, a shared 1,000-token prompt and a 20-token question
#    of their own each, 8 new tokens (greedy).
#  - a chat of 3 turns with long answers (600 prompt tokens, then 300 generated and 100 new a turn):
#    past the window the answers wrap the rings, and prefix caching of prompts alone takes nothing
#    of the third turn's prompt; --prefix-caching-generated takes the answers too;
#  - paged (mixrun --requests, pages of 16 tokens, a pool of 130 pages: two whole sequences): the same
#    8 requests (65 pages each) through 8 slots; prefix caching shares the system prompt's whole
#    pages, so more run at once.
# Prints both times of each, their ratio, the prompt tokens not prefilled, and whether the tokens are
# the same (they must be); paged, the sequences and pages in flight at most. Never fails on a figure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
T=$(mktemp -d)
MODEL=(--layout tests/mixrun/tiny.mix --set vocab=604 --set hidden=512 --set heads=8 --set head_dim=64 --set ffn=1024
       --set context=2048 --set window=1024 --set chunk=256 --random-weights 5 --backend cpu)
pid=
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$T"' EXIT
# chat NAME SERVER-ARGS...: the conversation on a fresh server (TURNS turns, a FIRST-token first prompt,
# ANSWER generated and NEW new tokens a turn; then, with SYSTEM=1, system_prompt); its seconds in
# $SECS, the turns' tokens in $T/NAME.tokens, the cached tokens in $CACHED
TURNS=5 FIRST=1000 ANSWER=16 NEW=150 SYSTEM=1
chat() {
  local name=$1 port= prompt t0 t1 k; shift
  "$BUILD/mixrun" serve "${MODEL[@]}" --port 0 --max-seqs 8 "$@" 2>"$T/$name.err" &
  pid=$!
  for _ in $(seq 300); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$T/$name.err")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "prefix_bench: the server did not start: $(tail -n 3 "$T/$name.err")"; exit 1; }
  prompt=$(seq 1 "$FIRST" | awk '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 7) % 600 }')
  : >"$T/$name.tokens"
  CACHED=0
  t0=$(date +%s.%N)
  for k in $(seq 1 "$TURNS"); do
    curl -s "http://127.0.0.1:$port/v1/completions" \
      -d "{\"prompt\": [$prompt], \"max_tokens\": $ANSWER, \"temperature\": 0, \"ignore_eos\": true}" >"$T/answer"
    jq -c '.choices[0].token_ids' "$T/answer" >>"$T/$name.tokens"
    CACHED=$((CACHED + $(jq '.usage.prompt_tokens_details.cached_tokens' "$T/answer")))
    prompt="$prompt,$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/answer"),$(seq 1 "$NEW" |
      awk -v k=$k '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 13 + k) % 600 }')"
  done
  t1=$(date +%s.%N)
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  [ "$SYSTEM" = 1 ] && system_prompt "$name" "$port"
  kill -TERM $pid; wait $pid
}
# system_prompt NAME PORT: the 8 requests at once; their seconds in $SYS_SECS, tokens in
# $T/NAME.sys, the cached tokens in $SYS_CACHED
system_prompt() {
  local name=$1 port=$2 system t0 t1 k
  system=$(seq 1 1000 | awk '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 11 + 3) % 600 }')
  t0=$(date +%s.%N)
  for k in 1 2 3 4 5 6 7 8; do
    curl -s "http://127.0.0.1:$port/v1/completions" -d "{\"prompt\": [$system,$(seq 1 20 |
      awk -v k=$k '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 17 + 31 * k) % 600 }')], \"max_tokens\": 8, \"temperature\": 0, \"ignore_eos\": true}" \
      >"$T/$name.sys$k" &
  done
  wait $(jobs -p | grep -vx "$pid")
  t1=$(date +%s.%N)
  SYS_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  SYS_CACHED=$(cat "$T/$name".sys[1-8] | jq -s 'map(.usage.prompt_tokens_details.cached_tokens) | add')
  cat "$T/$name".sys[1-8] | jq -c '.choices[0].token_ids' >"$T/$name.sys"
}
chat cached
with=$SECS cached=$CACHED sys_with=$SYS_SECS sys_cached=$SYS_CACHED
chat whole --no-prefix-caching
awk -v a="$with" -v b="$SECS" -v c="$cached" -v same="$(cmp -s "$T/cached.tokens" "$T/whole.tokens" && echo "the same tokens" || echo "OTHER TOKENS")" \
  'BEGIN { printf "a 5-turn chat, 1,000 to 1,664 prompt tokens a turn (cpu backend): prefix caching %.2f s (%d prompt tokens not prefilled), every prompt prefilled %.2f s (%.1fx); %s\n", a, c, b, b / a, same }'
awk -v a="$sys_with" -v b="$SYS_SECS" -v c="$sys_cached" -v same="$(cmp -s "$T/cached.sys" "$T/whole.sys" && echo "the same tokens" || echo "OTHER TOKENS")" \
  'BEGIN { printf "8 requests at once sharing a 1,000-token system prompt, 20 tokens of their own (cpu backend): prefix caching %.2f s (%d prompt tokens not prefilled), every prompt prefilled %.2f s (%.1fx); %s\n", a, c, b, b / a, same }'
TURNS=3 FIRST=600 ANSWER=300 NEW=100 SYSTEM=0
chat long-generated --prefix-caching-generated
gen=$SECS gen_cached=$CACHED
chat long-prompts
prompts=$SECS prompts_cached=$CACHED
chat long-whole --no-prefix-caching
awk -v g="$gen" -v gc="$gen_cached" -v p="$prompts" -v pc="$prompts_cached" -v w="$SECS" \
  -v same="$(cmp -s "$T/long-prompts.tokens" "$T/long-whole.tokens" && echo "prompts alone: the same tokens" || echo "prompts alone: OTHER TOKENS")" \
  -v gsame="$(cmp -s "$T/long-generated.tokens" "$T/long-whole.tokens" && echo "the same tokens" || echo "other tokens (the cpu backend should give the same)")" \
  'BEGIN { printf "a 3-turn chat, 300-token answers (600 to 1,400 prompt tokens; the rings wrap): --prefix-caching-generated %.2f s (%d prompt tokens not prefilled; %s), prompts alone %.2f s (%d; %s), every prompt prefilled %.2f s\n", g, gc, gsame, p, pc, same, w }'
# paged NAME ARGS...: the 8 system-prompt requests from a JSONL file through mixrun --requests;
# seconds in $SECS, the summary in $T/NAME.json
paged() {
  local name=$1 t0 t1 k system; shift
  system=$(seq 1 1000 | awk '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 11 + 3) % 600 }')
  for k in 1 2 3 4 5 6 7 8; do
    echo "{\"id\": \"q$k\", \"prompt_tokens\": [$system,$(seq 1 20 | awk -v k=$k '{ printf "%s%d", (NR > 1 ? "," : ""), ($1 * 17 + 31 * k) % 600 }')], \"max_new_tokens\": 8}"
  done >"$T/paged.jsonl"
  t0=$(date +%s.%N)
  "$BUILD/mixrun" "${MODEL[@]}" --requests "$T/paged.jsonl" --max-seqs 8 --page-tokens 16 --pool-pages 130 --json "$@" \
    >"$T/$name.json" 2>"$T/$name.err" || { echo "prefix_bench: paged: $(tail -n 2 "$T/$name.err")"; exit 1; }
  t1=$(date +%s.%N)
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}
paged shared
with=$SECS
paged copied --no-prefix-caching
jq -r -n --slurpfile a "$T/shared.json" --slurpfile b "$T/copied.json" --arg with "$with" --arg without "$SECS" '
  ($a[0].summary) as $s | ($b[0].summary) as $w |
  "paged, pages of 16, a pool of 130 (two whole sequences), the same 8 requests: prefix caching \($with) s, at most \($s.peak_sequences) sequences and \($s.pages_peak) pages in flight, \($s.pages_shared) pages taken shared; every prompt prefilled \($without) s, at most \($w.peak_sequences) sequences and \($w.pages_peak) pages; " +
  (if ($a[0].requests | map(.output_tokens)) == ($b[0].requests | map(.output_tokens)) then "the same tokens" else "OTHER TOKENS" end)'
