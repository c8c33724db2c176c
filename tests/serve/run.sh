#!/usr/bin/env bash
# The serving scheduler (runtime/serve, docs/serving.md) through `mixrun --requests/--synthetic`:
#  - malformed request files and option misuse give clear errors (file:line and the field);
#  - every request's tokens equal its prompt run alone (`mixrun --tokens ... --max-new N`), with slots
#    reused and prefill chunks split differently, on the cpu backend, on emu, and on cuda under the
#    stand-in driver (kernels in the emulator, GEMMs on the host);
#  - batched prefill: a step's chunks of several sequences in one prefill_batch call (the trace shows
#    them), each request = alone; tests/serve/test_batch_prefill: every logits row of batched steps
#    (ring caches wrapping, chunks starting mid-prompt, slots out of order) = its sequence alone, bit
#    for bit, and one launch per kernel per step, on cpu, emu and cuda (stand-in driver);
#  - admission by the exact KV budget (peak sequences = what the budget allows, kv_peak <= budget);
#  - prefill chunks mixed into decode steps (a long prompt does not stall running sequences);
#  - a request that can never fit is refused by id, the others still run, exit status 1;
#  - FIFO admission: a big request at the head is not overtaken;
#  - prefix caching: a prompt starts from the caches a slot kept (rings permitting), each request =
#    alone; tests/serve/test_prefix_cache: every logits row = the prompt prefilled whole, bit for bit;
#  - --json is the issue's object; --synthetic is deterministic.
# Prints PASS/FAIL lines and "N passed, N failed"; exits 1 on failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUN=$BUILD/mixrun
. tests/toolkit.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passes=0 fails=0
pass() { echo "PASS $1"; passes=$((passes + 1)); }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }
ASAN=0
sanitized "$RUN" && ASAN=1

TINY=(--layout tests/mixrun/tiny.mix --random-weights 3)

# run NAME EXPECTED_RC ARGS...: mixrun, stdout in $T/out, stderr in $T/err; checks the status (a run
# that waits for an arrival it should have refused ends at the bound: exit 124).
run() {
  local name=$1 want=$2; shift 2
  timeout 600 "$RUN" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  [ "$rc" -eq "$want" ] && return 0
  fail "$name" "exit $rc, expected $want: mixrun $*" "$(grep -v '^ \|warning:\|note:' "$T/err" | head -c 600)"
  return 1
}
expect_err() {
  if grep -qF -- "$2" "$T/err"; then pass "$1"; else fail "$1" "stderr lacks '$2':" "$(grep -v '^ \|warning:\|note:' "$T/err" | head -c 600)"; fi
}

# ---- malformed request files: exit 1, file:line and the field named
bad() {   # bad NAME LINE2 MESSAGE: a good first line, then LINE2
  printf '%s\n%s\n' '{"id": "ok", "prompt_tokens": [1, 2], "max_new_tokens": 2}' "$2" >"$T/bad.jsonl"
  run "requests: $1" 1 "${TINY[@]}" --requests "$T/bad.jsonl" && expect_err "requests: $1" "bad.jsonl:2: $3"
}
bad "unknown field" '{"id": "r", "prompt_tokens": [1], "max_new_tokens": 2, "temperature": 0.7}' "unknown field 'temperature'"
bad "max_new_tokens of the wrong type" '{"id": "r", "prompt_tokens": [1], "max_new_tokens": "8"}' "field 'max_new_tokens' must be an integer >= 1"
bad "max_new_tokens 0" '{"id": "r", "prompt_tokens": [1], "max_new_tokens": 0}' "field 'max_new_tokens' must be an integer >= 1"
bad "id of the wrong type" '{"id": 7, "prompt_tokens": [1], "max_new_tokens": 2}' "field 'id' must be a non-empty string"
bad "a prompt token that is not an id" '{"id": "r", "prompt_tokens": [1, "x"], "max_new_tokens": 2}' "field 'prompt_tokens': element 1 is not a token id"
bad "an empty prompt" '{"id": "r", "prompt_tokens": [], "max_new_tokens": 2}' "field 'prompt_tokens' must be a non-empty array"
bad "a token outside the vocabulary" '{"id": "r", "prompt_tokens": [1, 256], "max_new_tokens": 2}' "field 'prompt_tokens': token 256 (position 1) is outside the vocabulary [0, 256)"
bad "a negative arrival" '{"id": "r", "prompt_tokens": [1], "max_new_tokens": 2, "arrival_s": -1}' "field 'arrival_s' must be a number >= 0"
bad "an arrival past a day (the run would wait for it)" '{"id": "r", "prompt_tokens": [1], "max_new_tokens": 2, "arrival_s": 1e300}' \
  "field 'arrival_s' must be a number >= 0 and <= 86400 (a day)"
bad "an id with a newline (its output line would read as two requests)" '{"id": "a\nb: 1,2", "prompt_tokens": [1], "max_new_tokens": 2}' \
  "field 'id' must be a non-empty string without control characters"
bad "an id with an escape sequence" '{"id": "\u001b[2J", "prompt_tokens": [1], "max_new_tokens": 2}' "field 'id' must be a non-empty string without control"
bad "an id with a C1 control (U+0085: a line break to some readers)" '{"id": "a\u0085b", "prompt_tokens": [1], "max_new_tokens": 2}' \
  "field 'id' must be a non-empty string without control characters"
bad "an unknown field with control characters (shown escaped: one line, no terminal sequence)" \
  '{"id": "r", "a\nb\u001b[2J": 1}' "unknown field 'a\\u000ab\\u001b[2J'"
bad "not JSON, near a control character (shown escaped)" "$(printf '{"id": "r", \033[2J}')" "not JSON: string or '}' expected near '\\u001b'"
bad "an id with U+2028 (a line separator: Python's splitlines() ends a line there)" '{"id": "a\u2028b", "prompt_tokens": [1], "max_new_tokens": 2}' \
  "field 'id' must be a non-empty string without control characters or line separators"
bad "a missing field" '{"id": "r", "max_new_tokens": 2}' "missing field 'prompt_tokens'"
bad "not JSON" '{"id": "r", "prompt_tokens": [1' "not JSON"
bad "not an object" '[1, 2]' "not a JSON object"
bad "a duplicate id" '{"id": "ok", "prompt_tokens": [1], "max_new_tokens": 2}' "id 'ok' was already used on line 1"
# 200000 requests, the last reusing the first's id: read in O(n log n) (a check of every pair of ids
# took minutes here, most of an hour at SERVE_MAX_REQUESTS)
awk 'BEGIN { for (i = 0; i <= 200000; i++) printf "{\"id\": \"r%d\", \"prompt_tokens\": [1], \"max_new_tokens\": 1}\n", i % 200000 }' >"$T/long.jsonl"
timeout 60 "$RUN" "${TINY[@]}" --requests "$T/long.jsonl" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] && expect_err "requests: 200000 lines read at once, a repeated id found" "long.jsonl:200001: id 'r0' was already used on line 1" ||
  fail "requests: 200000 lines read at once, a repeated id found" "exit $rc (124: past 60 s)"
printf '\n \n' >"$T/empty.jsonl"
run "requests: an empty file" 1 "${TINY[@]}" --requests "$T/empty.jsonl" && expect_err "requests: an empty file" "no request in the file"
run "requests: a missing file" 1 "${TINY[@]}" --requests "$T/none.jsonl" && expect_err "requests: a missing file" "cannot read '$T/none.jsonl'"
# usage errors: exit 2
run "usage: --requests with --tokens" 2 "${TINY[@]}" --requests "$T/empty.jsonl" --tokens 1 &&
  expect_err "usage: --requests with --tokens" "--requests and --synthetic do not go with --tokens"
run "usage: --kv-budget alone" 2 "${TINY[@]}" --tokens 1 --kv-budget 1M &&
  expect_err "usage: --kv-budget without serving" "go with --requests or --synthetic"
run "usage: --no-prefix-caching alone" 2 "${TINY[@]}" --tokens 1 --no-prefix-caching &&
  expect_err "usage: --no-prefix-caching without serving" "--trace, --no-prefix-caching and --prefix-caching-generated go with --requests or --synthetic"
run "usage: --prefix-caching-generated alone" 2 "${TINY[@]}" --tokens 1 --prefix-caching-generated &&
  expect_err "usage: --prefix-caching-generated without serving" "--prefix-caching-generated go with --requests or --synthetic"
run "usage: --prefix-caching-generated and --no-prefix-caching" 2 "${TINY[@]}" --synthetic 2,4,2 --prefix-caching-generated \
    --no-prefix-caching &&
  expect_err "usage: --prefix-caching-generated with --no-prefix-caching" "--prefix-caching-generated does not go with --no-prefix-caching"
for r in "--synthetic 2,2,2,1e-300" "--synthetic 2,2,2 --rates 1e-300"; do
  timeout 30 "$RUN" "${TINY[@]}" $r >"$T/out" 2>"$T/err"
  rc=$?
  [ $rc = 1 ] && expect_err "synthetic: a rate that puts an arrival past a day is refused ($r)" \
    "past the 86400 s (a day) a run waits for" ||
    fail "synthetic: a rate that puts an arrival past a day is refused ($r)" "exit $rc"
done
run "usage: bad --synthetic" 2 "${TINY[@]}" --synthetic 3,x,2 && expect_err "usage: bad --synthetic" "(N,PROMPT,NEW[,RATE])"
run "usage: --synthetic with a negative rate" 2 "${TINY[@]}" --synthetic 3,4,2,-1 && expect_err "usage: --synthetic rate" "--synthetic: bad value"

# ---- every request = its prompt alone
# same_as_alone NAME JSON REQUESTS BACKEND_ARGS...: each request's output_tokens in JSON equal
# `mixrun --tokens PROMPT --max-new N` with the same arguments.
same_as_alone() {
  local name=$1 json=$2 req=$3 id p g want got bad=(); shift 3
  while IFS=$'\t' read -r id p g; do
    "$RUN" "$@" --tokens "$p" --max-new "$g" >"$T/alone" 2>/dev/null || { bad+=("$id: the run alone failed"); continue; }
    want=$(cat "$T/alone")
    got=$(jq -r --arg id "$id" '.requests[] | select(.id == $id) | .output_tokens | map(tostring) | join(",")' "$json")
    [ "$want" = "$got" ] || bad+=("$id: served $got, alone $want")
  done < <(jq -r '[.id, (.prompt_tokens | map(tostring) | join(",")), .max_new_tokens] | @tsv' "$req")
  if [ ${#bad[@]} -eq 0 ]; then pass "$name"; else fail "$name" "${bad[@]}"; fi
}
EP=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3
cat >"$T/mixed.jsonl" <<EOF
{"id": "a", "prompt_tokens": [3,1,4,1,5,9,2,6,5,3], "max_new_tokens": 6}
{"id": "b", "prompt_tokens": [$EP], "max_new_tokens": 6}
{"id": "c", "prompt_tokens": [7,7,7,1,2], "max_new_tokens": 8}
{"id": "d", "prompt_tokens": [9,8,7,6,5,4,3,2,1,0,11,12,13,14,15,16,17], "max_new_tokens": 4, "arrival_s": 0.0}
{"id": "e", "prompt_tokens": [42], "max_new_tokens": 3}
EOF
if run "cpu: served" 0 "${TINY[@]}" --requests "$T/mixed.jsonl" --max-seqs 2 --step-tokens 5 --json --backend cpu; then
  cp "$T/out" "$T/cpu.json"
  same_as_alone "cpu: 5 requests on 2 slots (reused), step 5 tokens: each one's tokens = its prompt run alone" \
    "$T/cpu.json" "$T/mixed.jsonl" "${TINY[@]}" --backend cpu
fi
if run "cpu: served, one slot" 0 "${TINY[@]}" --requests "$T/mixed.jsonl" --max-seqs 1 --step-tokens 3 --json; then
  same_as_alone "cpu: 5 requests through one slot, 3-token steps: each = alone" "$T/out" "$T/mixed.jsonl" "${TINY[@]}" --backend cpu
fi

# ---- batched prefill: several sequences' chunks in one step
# (the 5 requests on 4 slots, steps of 6 tokens, chunk 4: a step's prefill holds up to 4 tokens
# across the sequences still prefilling: "prefill a@8+2 prefill b@0+2")
if run "cpu: batched prefill, served" 0 "${TINY[@]}" --requests "$T/mixed.jsonl" --max-seqs 4 --step-tokens 6 --json --trace; then
  cp "$T/out" "$T/batched.json"
  if grep -Eq "prefill [a-e]@[1-9][0-9]*\+[0-9]+ prefill [a-e]@0\+" "$T/err" && [ "$(grep -c "prefill .* prefill " "$T/err")" -ge 3 ]; then
    same_as_alone "cpu: batched prefill (steps with several sequences' chunks, one mid-prompt): each = alone" \
      "$T/batched.json" "$T/mixed.jsonl" "${TINY[@]}" --backend cpu
  else fail "cpu: a step prefills chunks of several sequences, one starting mid-prompt" "$(grep step "$T/err" | head -n 8)"; fi
fi
BP=$BUILD/tests/serve/test_batch_prefill
# bp NAME ENV... -- ARGS: test_batch_prefill's (or test_prefix_cache's) PASS/FAIL lines counted here
bp() {
  local name=$1 line; shift
  if "$@" >"$T/bp" 2>"$T/bperr"; then :; fi
  grep -q '^PASS\|^FAIL' "$T/bp" || { fail "$name: test_batch_prefill" "$(grep -v '^ \|warning:\|note:' "$T/bperr" | head -c 600)"; return; }
  while IFS= read -r line; do
    case $line in PASS\ *) pass "${line#PASS }" ;; FAIL\ *) fail "${line#FAIL }" "$(grep -v '^ \|warning:\|note:' "$T/bperr" | head -c 600)" ;; esac
  done <"$T/bp"
}
bp cpu "$BP" cpu tests/mixrun/tiny.mix
bp cpu-paged "$BP" cpu-paged tests/mixrun/tiny.mix
# prefix caching: every logits row of prompts that start from a slot's caches = prefilled whole
PC=$BUILD/tests/serve/test_prefix_cache
bp prefix-cpu "$PC" cpu tests/mixrun/tiny.mix
bp prefix-cpu-paged "$PC" cpu-paged tests/mixrun/tiny.mix
bp prefix-cpu-int8 "$PC" cpu tests/mixrun/tiny.mix kv_dtype=int8
bp prefix-cpu-paged-int8 "$PC" cpu-paged tests/mixrun/tiny.mix kv_dtype=int8
# generated tokens reused too (--prefix-caching-generated): on cpu still bit for bit
bp prefix-cpu-generated "$PC" cpu+generated tests/mixrun/tiny.mix
bp prefix-cpu-paged-generated-int8 "$PC" cpu-paged+generated tests/mixrun/tiny.mix kv_dtype=int8

# ---- paged global caches (docs/plan.md, "Paged caches"): the requests need 4+8+4+6+1 = 23 pages of 4
# tokens; a pool of 16 makes later requests reuse the pages earlier ones returned, and holds 3
# sequences in flight in less KV memory than 3 unpaged slots of the whole context.
if run "cpu: paged, served" 0 "${TINY[@]}" --requests "$T/mixed.jsonl" --max-seqs 4 --page-tokens 4 --pool-pages 16 \
     --step-tokens 6 --json --backend cpu; then
  cp "$T/out" "$T/paged.json"
  same_as_alone "cpu: paged caches, a pool of 16 pages reused across 5 requests: each = its prompt alone (unpaged)" \
    "$T/paged.json" "$T/mixed.jsonl" "${TINY[@]}" --backend cpu
  if run "cpu: 3 unpaged slots" 0 "${TINY[@]}" --requests "$T/mixed.jsonl" --max-seqs 3 --json --backend cpu; then
    unpaged=$(jq .summary.kv_budget_bytes "$T/out")
    jq -e --argjson u "$unpaged" '.summary | .peak_sequences == 3 and .kv_budget_bytes < $u and .pool_pages == 16 and
        .pages_peak == 16 and .kv_peak_bytes <= .kv_budget_bytes' "$T/paged.json" >/dev/null &&
      pass "paged: 3 sequences in flight in a smaller KV allocation than 3 unpaged slots', pages peak = the pool" ||
      fail "paged admission" "$(jq -c '.summary' "$T/paged.json") against unpaged $unpaged"
  fi
  # the budget the scheduler admits under is the report's plan for the same options (context 32: the
  # longest request, 26 + 6)
  if "${MIXC:-$BUILD/mixc}" report tests/mixrun/tiny.mix --target cpu --context 32 --batch 4 --page-tokens 4 --pool-pages 16 \
       --format json >"$T/report.json" 2>"$T/err"; then
    jq -n -e --slurpfile s "$T/paged.json" --slurpfile r "$T/report.json" '$s[0].summary as $m | $r[0].run[0] as $p |
        $m.kv_budget_bytes == $p.kv_bytes and $m.pool_pages == $p.pool_pages and $p.pages_per_sequence == 8' >/dev/null &&
      pass "paged: the scheduler's budget and pool = mixc report --target cpu --page-tokens 4 --pool-pages 16" ||
      fail "paged: budget = report" "served $(jq -c .summary "$T/paged.json"), report $(jq -c '.run[0]' "$T/report.json")"
  else fail "paged: mixc report --page-tokens" "$(head -c 600 "$T/err")"; fi
fi
# an idle slot holds no pages: a, b and c take slots 0-2; b and c leave, d takes slot 1 (the lowest
# free), and a (8 pages) and d (4) grow in a pool of 15 while slot 2 is idle. Had c's 4 pages stayed
# with slot 2 until it was next taken, the pool (counted for the sequences in flight alone) would run
# dry and the run fail.
cat >"$T/idle.jsonl" <<EOF
{"id": "a", "prompt_tokens": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20], "max_new_tokens": 12}
{"id": "b", "prompt_tokens": [5,6,7,8], "max_new_tokens": 1}
{"id": "c", "prompt_tokens": [30,31,32,33,34,35,36,37,38,39,40,41], "max_new_tokens": 4}
{"id": "d", "prompt_tokens": [50,51,52,53,54,55,56,57,58,59,60,61], "max_new_tokens": 4}
EOF
if run "paged: an idle slot's pages" 0 "${TINY[@]}" --requests "$T/idle.jsonl" --max-seqs 3 --page-tokens 4 --pool-pages 15 \
     --step-tokens 6 --json --trace --backend cpu; then
  if grep -q 'finish c' "$T/err" && grep -q 'admit d' "$T/err"; then
    same_as_alone "paged: a sequence's pages go back to the pool when it leaves, not when its slot is next taken (each = alone)" \
      "$T/out" "$T/idle.jsonl" "${TINY[@]}" --backend cpu
  else fail "paged: an idle slot's pages" "the trace lacks 'finish c' or 'admit d'"; fi
fi
run "paged: a request beyond the pool" 1 "${TINY[@]}" --requests "$T/mixed.jsonl" --page-tokens 4 --pool-pages 7 --json &&
  expect_err "paged: a request needing more pages than the pool is refused by id" \
    "request 'b' refused: its KV caches take 8 pages, more than the pool (7)"
run "paged: --pool-pages alone" 2 "${TINY[@]}" --requests "$T/mixed.jsonl" --pool-pages 7 &&
  expect_err "paged: --pool-pages without --page-tokens is refused" "mixrun: --pool-pages goes with --page-tokens"

# ---- prefix caching (docs/serving.md, "Prefix caching"): one slot, requests in turn; a slot keeps
# its sequence's prompt (not its generated tokens). a: 20 prompt tokens, 4 new; b: a's prompt, a's
# first 3 tokens, then 2 more (the next turn of a chat): b takes a's 20 and prefills 5. tiny.mix's
# ring (window 12) holds 15 positions here: a prompt may take n tokens from a slot whose sequence
# wrote h positions when the keys its first query reads, from n - 11, are still there (n - 11 >=
# h - 15). b2: b's first 24 tokens then another, after b's 27 positions: 24 (13 >= 12). b3: b's
# first 21 then another, after b2's 26: none (10 < 11). c: a's first 10 then another: none; d: c's
# first 6 then two more, after c's 12 (the ring never wrapped): 6. Each = its prompt alone; the same
# tokens with --no-prefix-caching, nothing cached.
# prefix_requests FILE MODEL-ARGS...: writes the six requests (a's tokens from a run alone).
prefix_requests() {
  local out=$1 a=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20 gen b; shift
  gen=$("$RUN" "$@" --tokens $a --max-new 4 2>/dev/null) || return 1
  b=$a,$(cut -d, -f1-3 <<<"$gen"),7,7
  cat >"$out" <<EOF
{"id": "a", "prompt_tokens": [$a], "max_new_tokens": 4}
{"id": "b", "prompt_tokens": [$b], "max_new_tokens": 3}
{"id": "b2", "prompt_tokens": [$(cut -d, -f1-24 <<<"$b"),88], "max_new_tokens": 2}
{"id": "b3", "prompt_tokens": [$(cut -d, -f1-21 <<<"$b"),77], "max_new_tokens": 2}
{"id": "c", "prompt_tokens": [1,2,3,4,5,6,7,8,9,10,99], "max_new_tokens": 2}
{"id": "d", "prompt_tokens": [1,2,3,4,5,6,50,51], "max_new_tokens": 2}
EOF
}
# prefix_cached NAME JSON: the trace and the cached_tokens of the requests are those above.
prefix_cached() {
  local got
  got=$(jq -c '[.requests[].cached_tokens, .summary.cached_tokens]' "$2")
  if [ "$got" = "[0,20,24,0,0,6,50]" ] && grep -q 'admit b@20 prefill b@20+4 prefill b@24+1' "$T/err" &&
     grep -q 'admit b2@24 prefill b2@24+1' "$T/err" && grep -q 'admit b3 prefill b3@0+' "$T/err" &&
     grep -q 'admit c prefill c@0+' "$T/err" && grep -q 'admit d@6 prefill d@6+2' "$T/err"; then pass "$1"
  else fail "$1" "cached $got" "$(grep -o 'admit [a-d0-9]*[@0-9]* prefill [a-d0-9]*@[0-9]*+[0-9]*' "$T/err" | paste -sd' ')"; fi
}
if prefix_requests "$T/prefix.jsonl" "${TINY[@]}" --backend cpu &&
   run "prefix caching" 0 "${TINY[@]}" --requests "$T/prefix.jsonl" --max-seqs 1 --json --trace --backend cpu; then
  cp "$T/out" "$T/prefix.json"
  prefix_cached "prefix caching: b takes a's 20 prompt tokens, b2 24 of b's, b3 and c none (the ring lost keys they read), d 6" \
    "$T/prefix.json"
  same_as_alone "prefix caching: each request's tokens = its prompt run alone" "$T/prefix.json" "$T/prefix.jsonl" \
    "${TINY[@]}" --backend cpu
  if run "--no-prefix-caching" 0 "${TINY[@]}" --requests "$T/prefix.jsonl" --max-seqs 1 --json --trace --backend cpu \
       --no-prefix-caching; then
    jq -e -n --slurpfile a "$T/prefix.json" --slurpfile b "$T/out" '($b[0].requests | map(.cached_tokens) == [0,0,0,0,0,0]) and
        $b[0].summary.cached_tokens == 0 and ($a[0].requests | map(.output_tokens)) == ($b[0].requests | map(.output_tokens))' \
        >/dev/null && ! grep -q 'admit [a-d]@' "$T/err" &&
      pass "--no-prefix-caching: every prompt prefilled whole, the same tokens" ||
      fail "--no-prefix-caching" "$(jq -c '[.requests[].cached_tokens]' "$T/out")"
  fi
  # --prefix-caching-generated: b takes a's 20 prompt tokens and the 3 generated ones a's decode wrote
  if run "--prefix-caching-generated" 0 "${TINY[@]}" --requests "$T/prefix.jsonl" --max-seqs 1 --json --backend cpu \
       --prefix-caching-generated; then
    got=$(jq -c '[.requests[].cached_tokens]' "$T/out")
    if [ "$got" = "[0,23,24,0,0,6]" ]; then
      same_as_alone "--prefix-caching-generated: b takes a's answer too ([0,23,24,0,0,6]); each = alone on cpu" \
        "$T/out" "$T/prefix.jsonl" "${TINY[@]}" --backend cpu
    else fail "--prefix-caching-generated" "cached $got"; fi
  fi
  run "prefix caching, text" 0 "${TINY[@]}" --requests "$T/prefix.jsonl" --max-seqs 1 --backend cpu &&
    grep -qx 'prefix caching: 50 prompt tokens not prefilled (their slots held their caches)' "$T/out" &&
    pass "prefix caching: the text's line" || fail "prefix caching: the text's line" "$(tail -n 2 "$T/out")"
  # paged, a pool of 12 pages of 4 tokens (each request needs at most 8): a leaving sequence's pages
  # stay with its slot for the next prompt, b takes a's 20 tokens again
  if run "prefix caching, paged" 0 "${TINY[@]}" --requests "$T/prefix.jsonl" --max-seqs 1 --page-tokens 4 --pool-pages 12 \
       --json --trace --backend cpu; then
    prefix_cached "prefix caching, paged: a slot keeps its pages for the next prompt (the same tokens reused)" "$T/out"
    same_as_alone "prefix caching, paged: each = alone" "$T/out" "$T/prefix.jsonl" "${TINY[@]}" --backend cpu
  fi
fi
# Requests that share a prompt's start, arriving together (a system prompt): s2 and s3 wait for s1's
# prefill to pass their shared 20 tokens (13 for s3: it shares only those) and take a copy of them.
STEM=40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59
cat >"$T/shared.jsonl" <<EOF
{"id": "s1", "prompt_tokens": [$STEM,1,2], "max_new_tokens": 3}
{"id": "s2", "prompt_tokens": [$STEM,3,4], "max_new_tokens": 3}
{"id": "s3", "prompt_tokens": [$(cut -d, -f1-13 <<<"$STEM"),9,9], "max_new_tokens": 2}
EOF
if run "prefix caching: a shared start" 0 "${TINY[@]}" --requests "$T/shared.jsonl" --max-seqs 3 --json --trace --backend cpu; then
  got=$(jq -c '[.requests[].cached_tokens]' "$T/out")
  if [ "$got" = "[0,20,13]" ] && grep -q 'admit s1 admit s2 after s1 admit s3 after s1' "$T/err" &&
     grep -q 'copy s2@20 from s1' "$T/err" && grep -q 'copy s3@13 from s1' "$T/err"; then
    same_as_alone "prefix caching: requests arriving together wait for the first's prefill of their shared start, copy it ([0,20,13]), each = alone" \
      "$T/out" "$T/shared.jsonl" "${TINY[@]}" --backend cpu
  else fail "prefix caching: a shared start" "cached $got" "$(grep -o 'admit [a-z0-9 ]*\|copy [a-z0-9@ ]*' "$T/err" | paste -sd' ')"; fi
fi
# Paged (pages of 4): s2 takes s1's 5 whole pages of their 20 tokens shared, s3 its 3 of 13; no row
# of them copied. A pool of 19 pages holds the three (7 + 7 + 5, reserved whole while they wait).
if run "prefix caching: a shared start, paged" 0 "${TINY[@]}" --requests "$T/shared.jsonl" --max-seqs 3 --page-tokens 4 \
     --pool-pages 19 --json --backend cpu; then
  got=$(jq -c '[[.requests[].cached_tokens], .summary.pages_shared, .summary.peak_sequences]' "$T/out")
  if [ "$got" = "[[0,20,13],8,3]" ]; then
    same_as_alone "prefix caching, paged: the shared start's whole pages taken shared (8 pages), each = alone" \
      "$T/out" "$T/shared.jsonl" "${TINY[@]}" --backend cpu
  else fail "prefix caching: a shared start, paged" "cached, pages shared, peak sequences: $got"; fi
  run "prefix caching: a shared start, paged, text" 0 "${TINY[@]}" --requests "$T/shared.jsonl" --max-seqs 3 \
      --page-tokens 4 --pool-pages 19 --backend cpu &&
    grep -qx 'pages: peak 19 of a pool of 19; 8 taken shared (prefix caching)' "$T/out" &&
    pass "paged: the text's pages line counts the pages taken shared" ||
    fail "paged: the text's pages line" "$(grep '^pages' "$T/out")"
fi
# What mixc report --shared-prefix says a pool holds is what runs: 12 requests of 29 prompt tokens (the
# first 20 alike) and 3 new (2 pages of 16 each) in a pool of 10 pages: 9 at once (the first's 2
# pages, then 1 each beside its shared one), 5 without prefix caching.
STEM=$(seq 100 119 | paste -sd,)
for k in $(seq 1 12); do
  echo "{\"id\": \"q$k\", \"prompt_tokens\": [$STEM,$(seq $((k * 9)) $((k * 9 + 8)) | paste -sd,)], \"max_new_tokens\": 3}"
done >"$T/stem.jsonl"
want=$("$BUILD/mixc" report tests/mixrun/tiny.mix --target cpu --context 32 --page-tokens 16 --pool-pages 10 \
  --shared-prefix 20 --format json 2>/dev/null | jq '.run[0].shared_prefix_sequences')
if run "paged, a shared start: the report's figure" 0 "${TINY[@]}" --requests "$T/stem.jsonl" --max-seqs 12 --page-tokens 16 \
     --pool-pages 10 --json --backend cpu; then
  cp "$T/out" "$T/stem.json"
  if run "paged, a shared start, no prefix caching" 0 "${TINY[@]}" --requests "$T/stem.jsonl" --max-seqs 12 --page-tokens 16 \
       --pool-pages 10 --json --backend cpu --no-prefix-caching &&
     [ "$want" = 9 ] && [ "$(jq .summary.peak_sequences "$T/stem.json")" = "$want" ] &&
     [ "$(jq .summary.peak_sequences "$T/out")" = 5 ]; then
    same_as_alone "paged, a shared start: $want sequences at once in a pool of 10 pages, as mixc report --shared-prefix says (5 without prefix caching); each = alone" \
      "$T/stem.json" "$T/stem.jsonl" "${TINY[@]}" --backend cpu
  else fail "paged, a shared start: the report's figure" "report $want, served $(jq .summary.peak_sequences "$T/stem.json"), without prefix caching $(jq .summary.peak_sequences "$T/out")"; fi
fi
# Two slots: a prompt takes the slot that holds the most of it. x and y run at once; z (arriving
# later) starts with y's prompt and 2 of its tokens and takes y's slot (y's 9); w starts with x's
# prompt and takes x's slot (6); v starts with z's prompt and first token. Paged (a pool of 9 pages
# of 4 tokens): w's admission reserves 7 pages, so the free slots may keep 2: z's slot gives its 3
# back and v finds nothing kept; unpaged, v takes z's 11.
X=11,12,13,14,15,16 Y=21,22,23,24,25,26,27,28,29
Z=$Y,$(cut -d, -f1-2 <<<"$("$RUN" "${TINY[@]}" --tokens $Y --max-new 2 --backend cpu 2>/dev/null)")
V=$Z,$(cut -d, -f1 <<<"$("$RUN" "${TINY[@]}" --tokens "$Z" --max-new 1 --backend cpu 2>/dev/null)")
cat >"$T/two.jsonl" <<EOF
{"id": "x", "prompt_tokens": [$X], "max_new_tokens": 3}
{"id": "y", "prompt_tokens": [$Y], "max_new_tokens": 3}
{"id": "z", "prompt_tokens": [$Z], "max_new_tokens": 2, "arrival_s": 0.3}
{"id": "w", "prompt_tokens": [$X,$Y,1,2,3,4,5,6,7,8], "max_new_tokens": 4, "arrival_s": 0.6}
{"id": "v", "prompt_tokens": [$V,5], "max_new_tokens": 2, "arrival_s": 0.9}
EOF
for mode in unpaged paged; do
  args=(--max-seqs 2 --json --trace --backend cpu) want='[0,0,9,6,11]'
  [ $mode = paged ] && args+=(--page-tokens 4 --pool-pages 9) want='[0,0,9,6,0]'
  if run "prefix caching, two slots ($mode)" 0 "${TINY[@]}" --requests "$T/two.jsonl" "${args[@]}"; then
    got=$(jq -c '[.requests[].cached_tokens]' "$T/out")
    if [ "$got" = "$want" ]; then
      same_as_alone "prefix caching, two slots ($mode): each prompt takes the slot holding most of it ($want cached), each = alone" \
        "$T/out" "$T/two.jsonl" "${TINY[@]}" --backend cpu
    else fail "prefix caching, two slots ($mode)" "cached $got, expected $want" "$(grep -o 'admit [a-z@0-9]*' "$T/err" | paste -sd' ')"; fi
  fi
done

# emu and cuda (stand-in driver, kernels emulated): the longest request needs 26 + 6 = 32 tokens =
# the model's context, as tests/cuda plans; 3 slots, so d takes a as it leaves (slots out of order).
TS=(--layout examples/ma.mix --set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128
    --set vocab=128 --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16 --random-weights 5)
if ! have_toolkit; then
  echo "SKIP serve on emu and cuda: needs the CUDA toolkit ($BUILD was built without it)"
elif [ "$ASAN" = 1 ]; then
  echo "SKIP serve on emu and cuda: the emulator is ~10x slower under the sanitizers (the normal pass runs it)"
else
  export MIXC_CACHE_DIR=${MIXC_CACHE_DIR:-$TEST_JIT_CACHE}
  mkdir -p "$MIXC_CACHE_DIR"
  head -n 4 "$T/mixed.jsonl" >"$T/four.jsonl"
  if run "emu: served" 0 "${TS[@]}" --requests "$T/four.jsonl" --max-seqs 3 --step-tokens 7 --json --backend emu --trace; then
    cp "$T/out" "$T/emu.json"
    if grep -q "admit d decode 2" "$T/err" && grep -q "prefill [a-d]@[0-9]*+[0-9]* prefill [a-d]@" "$T/err"; then
      same_as_alone "emu: 4 requests on 3 slots (d reuses a's slot, decoded out of slot order; batched prefill steps): each = alone" \
        "$T/emu.json" "$T/four.jsonl" "${TS[@]}" --backend emu
    else fail "emu: d admitted into a freed slot and decoded with the others, steps prefilling several sequences" "$(grep step "$T/err")"; fi
  fi
  # prefix caching on the kernels: the requests above through one slot (b takes a's 20 tokens; ma's ring
  # of window 8 holds 15 positions: b3 takes 21 of b2's 26, 14 >= 11)
  if prefix_requests "$T/prefix-emu.jsonl" "${TS[@]}" --backend emu &&
     run "emu: prefix caching" 0 "${TS[@]}" --requests "$T/prefix-emu.jsonl" --max-seqs 1 --json --trace --backend emu; then
    if grep -q 'admit b@20 prefill b@20+5' "$T/err" && grep -q 'admit b3@21 prefill b3@21+1' "$T/err"; then
      same_as_alone "emu: prefix caching (b prefills 5 of its 25 tokens, b3 1 of 22): each = alone" "$T/out" "$T/prefix-emu.jsonl" \
        "${TS[@]}" --backend emu
    else fail "emu: prefix caching: b takes a's 20 tokens, b3 21 of b2's" "$(grep -o 'admit [a-d0-9]*[@0-9]*' "$T/err" | paste -sd' ')"; fi
  fi
  # --bench on emu: three 5-token prompts packed into prefill calls of the chunk (8): first tokens = alone
  if "$RUN" "${TS[@]}" --bench --json --batch 3 --prompt-len 5 --tokens 11,12,13,14,15,16,17 --max-new 1 --backend emu \
       >"$T/bench.json" 2>"$T/err"; then
    alone=$(for p in 11,12,13,14,15 16,17,11,12,13 14,15,16,17,11; do
      "$RUN" "${TS[@]}" --tokens $p --max-new 1 --backend emu 2>/dev/null; done | paste -sd,)
    [ -n "$alone" ] && [ "$(jq -r '.first_tokens | map(tostring) | join(",")' "$T/bench.json")" = "$alone" ] &&
      pass "emu: --bench packs prompts into prefill calls: first tokens = alone ($alone)" ||
      fail "emu: --bench first tokens = alone" "bench $(jq -c .first_tokens "$T/bench.json"), alone $alone"
  else fail "emu: --bench" "$(grep -v '^ \|warning:\|note:' "$T/err" | head -c 400)"; fi
  # paged global caches on the kernels (ma's global layers paged, its sliding ones rings): the 5
  # requests' 23 pages of 4 tokens through a pool of 16, as on cpu above; the budget = mixc report's
  PAGED=(--max-seqs 4 --page-tokens 4 --pool-pages 16 --step-tokens 6 --json)
  if run "emu: paged, served" 0 "${TS[@]}" --requests "$T/mixed.jsonl" "${PAGED[@]}" --backend emu; then
    cp "$T/out" "$T/emu-paged.json"
    same_as_alone "emu: paged caches, a pool of 16 pages reused across 5 requests: each = its prompt alone (unpaged)" \
      "$T/emu-paged.json" "$T/mixed.jsonl" "${TS[@]}" --backend emu
    if "${MIXC:-$BUILD/mixc}" report "${TS[@]:1:21}" --target emu --context 32 --batch 4 --page-tokens 4 --pool-pages 16 \
         --format json >"$T/report.json" 2>"$T/err"; then
      jq -n -e --slurpfile s "$T/emu-paged.json" --slurpfile r "$T/report.json" '$s[0].summary as $m | $r[0].run[0] as $p |
          $m.kv_budget_bytes == $p.kv_bytes and $m.pool_pages == 16 and $p.pool_pages == 16 and $m.pages_peak == 16 and
          $p.pages_per_sequence == 8' >/dev/null &&
        pass "emu: paged: the pages peak at the pool, the budget = mixc report --target emu --page-tokens 4 --pool-pages 16" ||
        fail "emu: paged: budget = report" "served $(jq -c .summary "$T/emu-paged.json"), report $(jq -c '.run[0]' "$T/report.json")"
    else fail "emu: paged: mixc report --target emu --page-tokens" "$(head -c 600 "$T/err")"; fi
  fi
  BPSETS=(hidden=128 heads=4 kv_heads=2 head_dim=64 ffn=128 vocab=128 context=32 chunk=8 window=8 kv_dtype=bf16)
  bp emu "$BP" emu examples/ma.mix "${BPSETS[@]}"
  bp emu-paged "$BP" emu-paged examples/ma.mix "${BPSETS[@]}"
  bp emu-paged-int8 "$BP" emu-paged examples/ma.mix "${BPSETS[@]}" kv_dtype=int8
  # paged (bit for bit): rings copied, whole pages shared and their copies on write through the
  # device's copy of the block tables (paged int8 copies: cpu-paged above, the same host code)
  bp prefix-emu-paged "$PC" emu-paged examples/ma.mix "${BPSETS[@]}"
  # unpaged, generated tokens reused too: global caches' rows copied; the logits within the tolerance
  bp prefix-emu-generated "$PC" emu+generated examples/ma.mix "${BPSETS[@]}"
  if "$BUILD/tests/cuda/plan_check" examples/ma.mix - "${TS[@]:2:20}" --emu-so "$T/k.so" >"$T/pc" 2>&1; then
    FAKE=(env FAKE_CUDA=full FAKE_CUDA_EMU_SO="$T/k.so" FAKE_CUBLAS_COMPUTE=1
          LD_LIBRARY_PATH="$BUILD/tests/cuda/fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    bp cuda "${FAKE[@]}" "$BP" cuda examples/ma.mix "${BPSETS[@]}"
    if "${FAKE[@]}" "$RUN" "${TS[@]}" --requests "$T/four.jsonl" --max-seqs 3 --step-tokens 7 --json --backend cuda \
         >"$T/cuda.json" 2>"$T/err" && ! grep -q "fake_cuda:" "$T/err"; then
      # alone on emu: the stand-in runs the emulator's kernels, planned for context 32 only, and emu is
      # the cuda backend on the emulated device with those kernels
      same_as_alone "cuda (stand-in driver, kernels emulated): 4 requests on 3 slots: each = its prompt alone (emu)" \
        "$T/cuda.json" "$T/four.jsonl" "${TS[@]}" --backend emu
    else fail "cuda (stand-in driver): served" "$(grep -v '^ \|warning:\|note:' "$T/err" | head -c 600)"; fi
  else fail "cuda (stand-in driver): the emulator's kernels" "$(head -c 600 "$T/pc")"; fi
  # ... and paged, the stand-in running the kernels planned for pages of 4 (served) and 5 (batched prefill)
  if "$BUILD/tests/cuda/plan_check" examples/ma.mix - "${TS[@]:2:20}" --emu-so "$T/k4.so" --page-tokens 4 >"$T/pc" 2>&1 &&
     "$BUILD/tests/cuda/plan_check" examples/ma.mix - "${TS[@]:2:20}" --emu-so "$T/k5.so" --page-tokens 5 >"$T/pc" 2>&1; then
    FAKE=(env FAKE_CUDA=full FAKE_CUDA_EMU_SO="$T/k5.so" FAKE_CUBLAS_COMPUTE=1
          LD_LIBRARY_PATH="$BUILD/tests/cuda/fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    bp cuda-paged "${FAKE[@]}" "$BP" cuda-paged examples/ma.mix "${BPSETS[@]}"
    FAKE[2]=FAKE_CUDA_EMU_SO="$T/k4.so"
    if "${FAKE[@]}" "$RUN" "${TS[@]}" --requests "$T/mixed.jsonl" "${PAGED[@]}" --backend cuda \
         >"$T/cuda-paged.json" 2>"$T/err" && ! grep -q "fake_cuda:" "$T/err"; then
      jq -e '.summary | .pool_pages == 16 and .pages_peak == 16' "$T/cuda-paged.json" >/dev/null &&
        same_as_alone "cuda (stand-in driver): paged caches, a pool of 16 pages reused across 5 requests: each = its prompt alone (emu, unpaged)" \
          "$T/cuda-paged.json" "$T/mixed.jsonl" "${TS[@]}" --backend emu ||
        fail "cuda (stand-in driver): paged: the pages peak at the pool" "$(jq -c .summary "$T/cuda-paged.json")"
    else fail "cuda (stand-in driver): paged, served" "$(grep -v '^ \|warning:\|note:' "$T/err" | head -c 600)"; fi
  else fail "cuda (stand-in driver): the emulator's paged kernels" "$(head -c 600 "$T/pc")"; fi
  # make gpu-bench's mixrun --bench rows (part 2: eager and as graphs, the byte bound) and its served
  # scenario (part 4) at a tiny scale under the stand-in driver (every launch, copy and GEMM checked,
  # nothing computed: the figures mean nothing, the script's path runs whole)
  mkdir -p "$T/gb"
  if env FAKE_CUDA=full LD_LIBRARY_PATH="$BUILD/tests/cuda/fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
       GPU_BENCH_PARTS="2 4" GPU_BENCH_RUNS="2 16 6" GPU_SERVE_N=6 GPU_BENCH_SCALE=512 GPU_BENCH_GPU=0.5 GPU_BENCH_LAYOUTS="standard swa ma" \
       GPU_SERVE_RATES=50,500 GPU_BENCH_OUT="$T/gb" BUILD=$BUILD MIXRUN=$RUN MIXC="${MIXC:-$BUILD/mixc}" \
       GPU_BENCH_SET="--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128 --set window=8 --set chunk=8" \
       bash scripts/gpu-bench.sh >"$T/gb/out" 2>&1 && ! grep -q 'fake_cuda:\|^FAIL' "$T/gb/out" &&
     jq -e '.peak_GBps as $peak | .served_scenario as $s | $s.requests == 6 and ($s.runs | length) == 3 and
            all($s.runs[]; .summary.peak_sequences >= 1 and .summary.peak_sequences <= .report_max_sequences and
                .summary.peak_sequences <= 6 and .summary.output_tokens_per_s > 0) and
            ($s.sweeps | length) == 2 and all($s.sweeps[]; (.sweep | length) == 2) and .failed == 0 and
            ([.mixrun_bench[].layout] == ["standard", "standard+graphs", "ma", "ma+graphs"]) and
            all(.mixrun_bench[]; .batch == 2 and .prompt == 16 and .new == 6 and .decode_warmup_steps == 2 and
                .decode_ms_per_token > 0 and .step_bytes > .memory.weights_allocated and
                $peak > 0 and ((.bound_ms_per_token - .step_bytes / (1e6 * $peak)) | fabs) < 1e-6 * .bound_ms_per_token)' \
       "$T/gb/gpu-bench.json" >/dev/null && [ -s "$T/gb/gpu-serve-standard.svg" ] && [ -s "$T/gb/gpu-serve-ma.svg" ]
  then pass "make gpu-bench's bench rows (standard, ma; eager and graphs; their byte bound) and served scenario under the stand-in driver (6 requests of 62 + 2 tokens; standard, swa, ma; a 2-rate sweep and its charts)"
  else fail "gpu-bench served scenario under the stand-in driver" "$(tail -n 12 "$T/gb/out")"; fi
fi

# ---- admission by the exact KV budget: one sequence's bytes (kv_peak with one slot) sets it
SYN=(--synthetic 6,10,4 --json)
if run "budget: one sequence's bytes" 0 "${TINY[@]}" "${SYN[@]}" --max-seqs 1; then
  SYN+=(--max-seqs 6)
  one=$(jq .summary.kv_peak_bytes "$T/out")
  for k in 1 2 3; do
    budget=$((k * one + one / 2))
    if run "budget $k" 0 "${TINY[@]}" "${SYN[@]}" --kv-budget $budget; then
      if jq -e --argjson k $k --argjson b $budget --argjson one "$one" '.summary | .peak_sequences == $k and
           .kv_peak_bytes == $k * $one and .kv_peak_bytes <= $b and .kv_budget_bytes == $b' "$T/out" >/dev/null
      then pass "budget of $k.5 sequences' bytes ($budget): peak $k sequences in flight, KV peak $((k * one)) <= budget"
      else fail "budget $k: peak sequences and bytes" "$(jq -c .summary "$T/out")"; fi
    fi
  done
  if run "budget: G suffix" 0 "${TINY[@]}" "${SYN[@]}" --kv-budget 1G && jq -e '.summary | .peak_sequences == 6 and
       .kv_budget_bytes < 1073741824' "$T/out" >/dev/null
  then pass "--kv-budget 1G above the slots' allocation: the allocation is the budget, all 6 slots in flight"
  else fail "--kv-budget 1G" "$(jq -c .summary "$T/out" 2>/dev/null)"; fi
fi

# A request of the whole context costs what the run plan gives one slot (at context 32 no padding
# between the caches' halves), the bytes `mixc report --target cpu --batch 1` prints: ma (fp32 caches
# on cpu) and character-ai (int8 caches: codes and scales).
SMALL=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128
       --set context=32 --set chunk=8 --set window=8)
echo "{\"id\": \"whole\", \"prompt_tokens\": [$(seq -s, 1 26)], \"max_new_tokens\": 6}" >"$T/whole.jsonl"
for ex in ma character-ai; do
  if run "budget: a whole-context request ($ex)" 0 --layout examples/$ex.mix "${SMALL[@]}" --random-weights 1 \
       --requests "$T/whole.jsonl" --json --backend cpu &&
     "${MIXC:-$BUILD/mixc}" report "${SMALL[@]}" --target cpu --context 32 --batch 1 --format json examples/$ex.mix \
       >"$T/report.json" 2>/dev/null; then
    want=$(jq '.run[0].kv_bytes' "$T/report.json")
    if [ "$(jq .summary.kv_peak_bytes "$T/out")" = "$want" ]; then
      pass "$ex: a request of the whole context costs one slot's planned KV bytes ($want, $(jq -r '.run[0].dtypes.kv' "$T/report.json") caches = mixc report --batch 1)"
    else fail "$ex: a whole-context request's bytes" "served $(jq .summary.kv_peak_bytes "$T/out"), report $want"; fi
  fi
done

# ---- chunked prefill mixed with decode: a long prompt arrives while a short one decodes
printf '%s\n' '{"id": "short", "prompt_tokens": [5, 6, 7], "max_new_tokens": 12}' \
  "{\"id\": \"long\", \"prompt_tokens\": [$(seq -s, 1 100)], \"max_new_tokens\": 2}" >"$T/long.jsonl"
if run "mixed steps" 0 "${TINY[@]}" --requests "$T/long.jsonl" --step-tokens 5 --trace --json; then
  steps=$(grep -c 'decode 1 prefill long@' "$T/err")
  finish_short=$(grep -n 'finish short' "$T/err" | cut -d: -f1)
  last_long=$(grep -n 'prefill long@' "$T/err" | tail -n 1 | cut -d: -f1)
  if [ "$steps" -ge 10 ] && [ -n "$finish_short" ] && [ "$finish_short" -lt "$last_long" ]; then
    pass "a 100-token prompt prefills in chunks beside the running sequence's decodes ($steps mixed steps; short finishes first)"
  else fail "mixed steps" "$(grep step "$T/err" | head -n 20)"; fi
  same_as_alone "mixed steps: both = alone" "$T/out" "$T/long.jsonl" "${TINY[@]}" --backend cpu
fi

# --step-tokens above the chunk (4): a step runs several prefill calls of at most a chunk each
if run "step tokens above the chunk" 0 "${TINY[@]}" --requests "$T/long.jsonl" --step-tokens 13 --trace --json; then
  if grep -Eq 'step [0-9]+:.* prefill long@[0-9]+\+4 prefill long@[0-9]+\+4 prefill long@[0-9]+\+4' "$T/err"; then
    same_as_alone "a step of 13 tokens prefills three chunks of the long prompt; both = alone" "$T/out" "$T/long.jsonl" "${TINY[@]}" --backend cpu
  else fail "a step of 13 tokens prefills three chunks" "$(grep step "$T/err" | head -n 6)"; fi
fi

# ---- refusal of what can never fit: named by id, the others run, exit 1
cp "$T/mixed.jsonl" "$T/refuse.jsonl"
echo "{\"id\": \"huge\", \"prompt_tokens\": [$(seq -s, 1 120)], \"max_new_tokens\": 20}" >>"$T/refuse.jsonl"
if run "refusal: context" 1 "${TINY[@]}" --requests "$T/refuse.jsonl" --json --max-seqs 2 --step-tokens 5; then
  expect_err "refusal: a request beyond the context is named" "request 'huge' refused: 120 prompt + 20 new tokens is more than the context (128)"
  if jq -e '(.requests[] | select(.id == "huge") | .output_tokens == [] and (.refused | length > 0)) and
       ([.requests[] | select(.id != "huge") | .output_tokens | length] == [6, 6, 8, 4, 3])' "$T/out" >/dev/null
  then same_as_alone "refusal: the other requests still run, each = alone" "$T/out" "$T/mixed.jsonl" "${TINY[@]}" --backend cpu
  else fail "refusal: the output" "$(jq -c '.requests[] | [.id, .output_tokens, .refused]' "$T/out")"; fi
fi
if run "refusal: budget" 1 "${TINY[@]}" --requests "$T/mixed.jsonl" --kv-budget 100; then
  expect_err "refusal: a request beyond the KV budget is named" "request 'a' refused: its KV caches take"
fi

# ---- logits holding NaN or Inf (every lm_head element the largest bf16): no token is picked from
# them (the backend's argmax gives a code), the step fails naming the request and the position
NF=(--layout tests/mixrun/tiny.mix --set head_dim=64)   # a head_dim the kernels take: emu runs it too
if command -v python3 >/dev/null && "$RUN" "${NF[@]}" --random-weights 3 --save-weights "$T/w.safetensors" >/dev/null 2>&1 &&
   python3 - "$T/w.safetensors" "$T/head.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
lo, hi = json.loads(data[8:8 + n])['lm_head.weight']['data_offsets']
body = bytearray(data[8 + n:])
body[lo:hi] = b'\x7f\x7f' * ((hi - lo) // 2)
open(sys.argv[2], 'wb').write(data[:8 + n] + bytes(body))
PY
then
  for be in cpu emu; do
    if [ $be = emu ] && ! have_toolkit; then
      echo "SKIP non-finite logits (emu): needs the CUDA toolkit ($BUILD was built without it)"; continue
    fi
    if run "non-finite logits ($be)" 1 "${NF[@]}" --weights "$T/head.safetensors" --requests "$T/mixed.jsonl" --backend $be; then
      expect_err "non-finite logits ($be): the step fails naming the request, no token picked" "the logits of request 'a' at position 10 hold NaN (the $be backend)"
    fi
  done
else echo "SKIP non-finite logits: no python3 or the weights could not be written"; fi

# ---- FIFO: a big request at the head waits for memory; the small ones behind it do not pass it
printf '%s\n' '{"id": "s1", "prompt_tokens": [1, 2], "max_new_tokens": 3}' \
  '{"id": "s2", "prompt_tokens": [3, 4], "max_new_tokens": 9}' \
  "{\"id\": \"big\", \"prompt_tokens\": [$(seq -s, 1 40)], \"max_new_tokens\": 40}" \
  '{"id": "s3", "prompt_tokens": [5, 6], "max_new_tokens": 3}' \
  '{"id": "s4", "prompt_tokens": [7, 8], "max_new_tokens": 3}' >"$T/fifo.jsonl"
# the budget: big's bytes (alone on one slot), less than big + a small one
if run "fifo: big's bytes" 0 "${TINY[@]}" --requests <(sed -n 3p "$T/fifo.jsonl") --json; then
  big=$(jq .summary.kv_peak_bytes "$T/out")
  if run "fifo" 0 "${TINY[@]}" --requests "$T/fifo.jsonl" --kv-budget "$big" --max-seqs 4 --trace --json; then
    order=$(grep -o 'admit [a-z0-9]*' "$T/err" | cut -d' ' -f2 | tr '\n' ' ')
    if [ "$order" = "s1 s2 big s3 s4 " ] && jq -e '.summary.peak_sequences == 2' "$T/out" >/dev/null; then
      pass "FIFO: big waits at the head until s1 and s2 leave; s3 and s4 are not admitted before it"
    else fail "FIFO admission" "order: $order" "$(grep step "$T/err" | head -n 12)"; fi
  fi
fi

# ---- --scheduling-policy priority: of the requests that arrived, the least priority is admitted
# first, then by arrival (one slot, all at 0 s); each one's tokens as it runs alone. By arrival (the
# default), a file that gives priorities is refused, as vLLM refuses them without the policy
printf '%s\n' '{"id": "a", "prompt_tokens": [1, 2], "max_new_tokens": 3, "priority": 5}' \
  '{"id": "b", "prompt_tokens": [3, 4], "max_new_tokens": 3, "priority": -1}' \
  '{"id": "c", "prompt_tokens": [5, 6], "max_new_tokens": 3, "priority": 5}' \
  '{"id": "d", "prompt_tokens": [7, 8], "max_new_tokens": 3}' >"$T/prio.jsonl"
if run "priority" 0 "${TINY[@]}" --requests "$T/prio.jsonl" --max-seqs 1 --trace --scheduling-policy priority --json; then
  order=$(grep -o 'admit [a-z0-9]*' "$T/err" | cut -d' ' -f2 | paste -sd' ')
  got=$(jq -c '[.requests[] | .output_tokens]' "$T/out")
  want=$(for p in 1,2 3,4 5,6 7,8; do "$RUN" "${TINY[@]}" --tokens "$p" --max-new 3 2>/dev/null | tr ',' ' ' | jq -sc .; done | jq -sc .)
  if [ "$order" = "b d a c" ] && [ "$got" = "$want" ]; then pass "--scheduling-policy priority: admitted b d a c, each as alone"
  else fail "--scheduling-policy priority" "order: $order (want b d a c)" "tokens: $got" "alone:  $want"; fi
fi
run "priority by arrival" 1 "${TINY[@]}" --requests "$T/prio.jsonl" &&
  expect_err "priority needs its policy" "request 'a' has priority 5, but the run admits by arrival: give --scheduling-policy priority"
run "priority: usage" 2 "${TINY[@]}" --tokens 1 --scheduling-policy priority &&
  expect_err "priority: usage" "--scheduling-policy goes with mixrun serve, --requests or --synthetic"

# ---- --json: the issue's object, nothing more; --synthetic deterministic
if run "json" 0 "${TINY[@]}" --synthetic 4,6,3 --json; then
  cp "$T/out" "$T/syn1.json"
  if jq -e '(keys == ["requests", "summary"]) and
       (.summary | keys == ["cached_tokens", "e2e_s", "input_tokens_per_s", "kv_budget_bytes", "kv_peak_bytes",
                             "output_tokens_per_s", "peak_sequences", "requests_per_s", "tpot_s", "ttft_s"]) and
       ([.summary.ttft_s, .summary.tpot_s, .summary.e2e_s] | all(keys == ["mean", "p50", "p90", "p99"])) and
       (.requests | length == 4 and all(keys == ["cached_tokens", "e2e_s", "id", "output_tokens", "tpot_s", "ttft_s"])) and
       ([.requests[].id] == ["s1", "s2", "s3", "s4"]) and (.summary.ttft_s.p50 <= .summary.ttft_s.p99) and
       (.summary.output_tokens_per_s > 0)' "$T/out" >/dev/null
  then pass "--json: the issue's object (requests: id, output_tokens, cached_tokens, ttft_s, tpot_s, e2e_s; the summary's figures)"
  else fail "--json shape" "$(head -c 600 "$T/out")"; fi
  run "synthetic again" 0 "${TINY[@]}" --synthetic 4,6,3 --json &&
    if [ "$(jq -c '[.requests[].output_tokens]' "$T/out")" = "$(jq -c '[.requests[].output_tokens]' "$T/syn1.json")" ]
    then pass "--synthetic: the same seed gives the same requests and tokens"
    else fail "--synthetic is not deterministic"; fi
  run "synthetic seed" 0 "${TINY[@]}" --synthetic 4,6,3 --seed 99 --json &&
    if [ "$(jq -c '[.requests[].output_tokens]' "$T/out")" != "$(jq -c '[.requests[].output_tokens]' "$T/syn1.json")" ]
    then pass "--synthetic --seed: another seed, other prompts"
    else fail "--synthetic --seed changes nothing"; fi
fi
if run "text" 0 "${TINY[@]}" --synthetic 3,5,2,1000 && grep -q '^s1: [0-9]*,[0-9]* (ttft ' "$T/out" &&
   grep -q '^serve: 3 requests in .* (0 refused): .* requests/s, .* input tokens/s, .* output tokens/s$' "$T/out" &&
   grep -q '^tpot: mean .* s, p50 .* s, p90 .* s, p99 .* s$' "$T/out" && grep -q '^in flight: peak [0-9] sequences\?,' "$T/out"
then pass "text output: each request's tokens and latencies, throughput, the latency quantiles, peaks"
else fail "text output" "$(head -c 600 "$T/out")"; fi

# ---- a load sweep: the same requests at each offered load, the figures and the chart
if run "sweep" 0 "${TINY[@]}" --synthetic 6,6,3 --rates 40,400 --json --svg "$T/sweep.svg"; then
  cp "$T/out" "$T/sweep.json"
  if jq -e '(.sweep | length == 2) and ([.sweep[].offered_requests_per_s] == [40, 400]) and
       (.sweep | all(.summary.output_tokens_per_s > 0 and .summary.peak_sequences >= 1 and (.summary.e2e_s | has("p90"))))' \
       "$T/out" >/dev/null && head -c 5 "$T/sweep.svg" | grep -q '^<svg' && [ "$(grep -c '<polyline' "$T/sweep.svg")" -eq 3 ] &&
     { ! command -v xmllint >/dev/null || xmllint --noout "$T/sweep.svg" 2>/dev/null; }
  then pass "--rates 40,400: one summary per offered load; --svg: throughput and the p90 latencies against the load"
  else fail "--rates sweep" "$(head -c 400 "$T/out")"; fi
fi
if run "sweep text" 0 "${TINY[@]}" --synthetic 3,4,2 --rates 100,1000 &&
   [ "$(grep -c '^offered [0-9]* requests/s: .* output tokens/s, p90 ttft .* p90 e2e .* peak [0-9]* sequences\?$' "$T/out")" -eq 2 ]
then pass "--rates: a text line per offered load"
else fail "--rates text" "$(head -c 400 "$T/out")"; fi
run "sweep: an unwritable --svg" 1 "${TINY[@]}" --synthetic 2,2,2 --rates 1 --svg "$T/no/such/dir/s.svg" &&
  if grep -q "cannot write '$T/no/such/dir/s.svg'" "$T/err" && ! grep -q '^offered' "$T/out"; then
    pass "--svg that cannot be written: exit 1 before the sweep runs"
  else fail "--svg unwritable" "$(head -c 300 "$T/err")"; fi
run "usage: --rates without --synthetic" 2 "${TINY[@]}" --requests "$T/mixed.jsonl" --rates 1 &&
  expect_err "usage: --rates without --synthetic" "--seed and --rates go with --synthetic"
run "usage: --svg without --rates" 2 "${TINY[@]}" --synthetic 2,2,2 --svg "$T/x.svg" &&
  expect_err "usage: --svg without --rates" "--svg goes with --rates"
run "usage: a rate of 0" 2 "${TINY[@]}" --synthetic 2,2,2 --rates 1,0 && expect_err "usage: a rate of 0" "--rates: bad value '1,0'"

# Every key of the serving JSON (--requests, paged, --rates) is in docs/serving.md (tests/doc_keys.py).
if python3 tests/doc_keys.py docs/serving.md -- "$T/cpu.json" "$T/paged.json" "$T/sweep.json" >"$T/keys.out" 2>&1; then
  pass "serving --json and --rates --json: every key is in docs/serving.md"
else fail "serving --json and --rates --json: every key is in docs/serving.md" "$(head -n 10 "$T/keys.out")"; fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
