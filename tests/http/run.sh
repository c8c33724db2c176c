#!/usr/bin/env bash
# `mixrun serve` (runtime/http, docs/serving.md "The HTTP server") with curl on 127.0.0.1, a tiny
# random model and the llama3 tokenizer fixture with Llama 3's chat tokens added:
#  - /health, /v1/models, /metrics;
#  - greedy completions equal `mixrun --text` (text and ids) and `mixrun --tokens` (token-id prompts);
#  - streamed chunks concatenate to the answer, then `data: [DONE]`; chat with the Llama 3 template
#    equals the template's ids run alone, streamed and not; stop strings; seeded sampling; chat with
#    the template of a tokenizer_config.json (runtime/tok/jinja.c; ChatML, Llama 3.1 Instruct's with
#    its tool branches), its raise_exception and a template it refuses (400 naming the construct);
#  - the end of sequence (generation_config.json, tokenizer_config.json's eos_token), ignore_eos;
#  - the generation config's sampling defaults (--generation-config auto|vllm|DIR,
#    --override-generation-config), the max_new_tokens cap, refusals of bad ones;
#  - concurrent clients each get their request's run alone;
#  - several choices (a batch of prompts, n each): each equals its request alone with the seed + j,
#    streamed by index, the usage counting each prompt once;
#  - hostile clients: malformed JSON, wrong types, unknown fields, n past 128, prompts past the context,
#    huge bodies (413), a slow client, 200 idle connections, clients gone mid-stream (cancelled,
#    slot freed); servers without a tokenizer or a template refuse text and chat with 400;
#  - --api-key (and MIXC_API_KEY): the /v1 routes ask the key, the others stay open;
#  - --scheduling-policy priority: the queue's order by priority, then arrival; fcfs takes priority 0;
#  - return_tokens_as_token_ids (and --return-tokens-as-token-ids): log-probabilities' tokens by id;
#  - SIGTERM lets a stream in flight finish and exits 0;
#  - test_http: sampling (softmax draws, the top_p nucleus, seeds, greedy at 0) and the chat template.
# Prints PASS/FAIL lines; exits 1 on failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/toolkit.sh
RUN=$BUILD/mixrun
TT=$BUILD/tests/tokenizer/test_tokenizer
T=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }
check() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi; }

command -v curl >/dev/null || { echo "SKIP http: curl is not installed"; exit 0; }
command -v jq >/dev/null || { echo "SKIP http: jq is not installed"; exit 0; }

# The tokenizer: the llama3 fixture and Llama 3's chat tokens (ids 601..603).
mkdir -p "$T/tok"
jq '.added_tokens += [{"id":601,"content":"<|start_header_id|>"},{"id":602,"content":"<|end_header_id|>"},{"id":603,"content":"<|eot_id|>"}]
    | .added_tokens |= map({single_word:false,lstrip:false,rstrip:false,normalized:false,special:true} + .)' \
  tests/tokenizer/fixtures/llama3/tokenizer.json >"$T/tok/tokenizer.json"
# Sampling and the chat template below HTTP (test_http.c).
mkdir -p "$T/tok31"   # Llama 3.1's tokenizers add <|python_tag|>: their template is another
jq '.added_tokens += [{"id":604,"content":"<|python_tag|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}]' \
  "$T/tok/tokenizer.json" >"$T/tok31/tokenizer.json"
# A checkpoint's own template: tokenizer_config.json beside tokenizer.json (ChatML, Qwen2's, from the
# jinja2 fixtures, behind a raise_exception check), rendered by runtime/tok/jinja.c.
mkdir -p "$T/chatml"
jq '.added_tokens += [{"id":601,"content":"<|im_start|>"},{"id":602,"content":"<|im_end|>"}]
    | .added_tokens |= map({single_word:false,lstrip:false,rstrip:false,normalized:false,special:true} + .)' \
  tests/tokenizer/fixtures/llama3/tokenizer.json >"$T/chatml/tokenizer.json"
jq --arg check "{% if messages[-1]['role'] == 'assistant' %}{{ raise_exception('the last message must not be the assistant\\'s') }}{% endif %}" \
  '{chat_template: [{name: "tool_use", template: "{{ tools }}"}, {name: "default", template: ($check + .templates.qwen2_chatml)}],
    bos_token: null, eos_token: {content: "<|im_end|>"}}' tests/tokenizer/fixtures/chat_templates.json >"$T/chatml/tokenizer_config.json"
mkdir -p "$T/llama3cfg"   # Llama 3's template from a tokenizer_config.json: as the one by hand
cp "$T/tok/tokenizer.json" "$T/llama3cfg/"
jq '{chat_template: .templates.llama3, bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>"}' \
  tests/tokenizer/fixtures/chat_templates.json >"$T/llama3cfg/tokenizer_config.json"
mkdir -p "$T/jinjafile"   # chat_template.jinja beside: transformers prefers it to the config's template
cp "$T/chatml/tokenizer.json" "$T/jinjafile/"
jq -n '{chat_template: "{{ tools }}", eos_token: "<|im_end|>"}' >"$T/jinjafile/tokenizer_config.json"
jq -r '.templates.qwen2_chatml' tests/tokenizer/fixtures/chat_templates.json >"$T/jinjafile/chat_template.jinja"
mkdir -p "$T/jinjanul"   # the same with a NUL byte in the template's text
cp "$T/jinjafile/tokenizer.json" "$T/jinjafile/tokenizer_config.json" "$T/jinjanul/"
{ printf '{{ bos_token }}\0'; cat "$T/jinjafile/chat_template.jinja"; } >"$T/jinjanul/chat_template.jinja"
mkdir -p "$T/dropping" "$T/contentless"   # templates that drop the last message, and read no content
cp "$T/tok/tokenizer.json" "$T/dropping/"
cp "$T/tok/tokenizer.json" "$T/contentless/"
jq -n '{chat_template: "{% for m in messages %}{% if not loop.last %}{{ m.content }}{% endif %}{% endfor %}", eos_token: "<|eot_id|>"}' \
  >"$T/dropping/tokenizer_config.json"
jq -n '{chat_template: "{% for m in messages %}{{ m.role }}{% endfor %}", eos_token: "<|eot_id|>"}' >"$T/contentless/tokenizer_config.json"
"$BUILD/tests/http/test_tools" || fails=$((fails + 1))
"$BUILD/tests/http/test_reasoning" || fails=$((fails + 1))
# the guide's random walks: 60 a case, 20 under the sanitizers (four times slower there: 36 s)
walks=()
if sanitized "$BUILD/tests/http/test_guide"; then
  echo "SKIP test_guide: 20 walks a case, not 60, under the sanitizers (the normal pass runs 60)"
  walks=(--walks 20)
fi
"$BUILD/tests/http/test_guide" tests/tokenizer/fixtures/llama3/tokenizer.json "${walks[@]}" || fails=$((fails + 1))
"$BUILD/tests/http/test_http" "$T/tok" tests/tokenizer/fixtures/llama3 "$T/tok31" "$T/chatml" "$T/llama3cfg" "$T/jinjafile" "$T/jinjanul" \
  "$T/dropping" "$T/contentless" ||
  fails=$((fails + 1))
# the host's threads: the cores the process may run on (taskset: one), else MIXC_HOST_THREADS (capped at 16)
if command -v taskset >/dev/null; then
  env -u MIXC_HOST_THREADS taskset -c 0 "$BUILD/tests/http/test_http" --threads 1 || fails=$((fails + 1))
fi
MIXC_HOST_THREADS=3 "$BUILD/tests/http/test_http" --threads 3 || fails=$((fails + 1))
MIXC_HOST_THREADS=99 "$BUILD/tests/http/test_http" --threads 16 || fails=$((fails + 1))

MODEL=(--layout tests/mixrun/tiny.mix --set vocab=604 --set context=4096 --random-weights 5 --backend cpu)

# start NAME ARGS...: a server on a free port; its port in $PORT, its pid in $SPID.
start() {
  local name=$1; shift
  "$RUN" serve "${MODEL[@]}" --port 0 "$@" 2>"$T/$name.err" &
  SPID=$!
  pids+=("$SPID")
  PORT=
  for _ in $(seq 300); do
    PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$T/$name.err" 2>/dev/null)
    [ -n "$PORT" ] && return 0
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  fail "server $name started" "$(tail -n 5 "$T/$name.err")"
  return 1
}

# post PATH BODY: the answer's body in $T/body, its status in $CODE.
post() {
  CODE=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
    "http://127.0.0.1:$PORT$1" --data-binary "$2")
}
# refused NAME STATUS MESSAGE PATH BODY: answered STATUS with MESSAGE in its error.
refused() {
  post "$4" "$5"
  local msg; msg=$(jq -r '.error.message' "$T/body" 2>/dev/null)
  if [ "$CODE" = "$2" ] && [[ "$msg" == *"$3"* ]]; then pass "$1"
  else fail "$1" "status $CODE (want $2), message: $(head -c 300 "$T/body")" "want a message with: $3"; fi
}
# sse_text FILE FIELD: the concatenated FIELD (jq path) of every data: chunk.
sse_text() { sed -n 's/^data: \({.*\)$/\1/p' "$1" | jq -j "$2 // \"\""; }

# 4 host threads whatever the cores: a decode step's picks (sampled, with logprobs and penalties) run
# at once, each with a scratch of its own, and each still equals its request alone (below)
MIXC_HOST_THREADS=4 start main --tokenizer "$T/tok" --max-seqs 4 --max-body 64K || exit 1
MAIN=$SPID MAINPORT=$PORT
U="http://127.0.0.1:$PORT"
check health "$(curl -s "$U/health")" '{"status":"ok"}'
check models "$(curl -s "$U/v1/models" | jq -c '[.object, .data[0].id, .data[0].max_model_len]')" '["list","tiny",4096]'
check version "$(curl -s "$U/version")" "{\"version\":\"$("$RUN" --version | cut -d' ' -f2)\"}"
check mixrun-version "$("$RUN" --version)" "mixrun $("$BUILD/mixc" --version | cut -d' ' -f2)"

# ---- completions against mixrun --text / --tokens
PROMPT="Héllo, wörld: 中文 😀 12345"
"$RUN" "${MODEL[@]}" --tokenizer "$T/tok" --text "$PROMPT" --max-new 12 --print-ids >"$T/alone" 2>/dev/null
post /v1/completions "$(jq -nc --arg p "$PROMPT" '{model: "tiny", prompt: $p, max_tokens: 12, temperature: 0}')"
cp "$T/body" "$T/greedy"
check completion-status "$CODE" 200
check completion-ids-equal-mixrun-text "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/greedy")" "$(head -n 1 "$T/alone")"
check completion-text-equals-mixrun-text "$(jq -r '.choices[0].text' "$T/greedy")" "$(tail -n +2 "$T/alone")"
check completion-usage "$(jq -c '[.usage.prompt_tokens, .usage.completion_tokens, .usage.total_tokens, .choices[0].finish_reason, .object]' "$T/greedy")" \
  "[$("$TT" encode "$T/tok/tokenizer.json" "$PROMPT" | tr ',' '\n' | wc -l),12,$(($("$TT" encode "$T/tok/tokenizer.json" "$PROMPT" | tr ',' '\n' | wc -l) + 12)),\"length\",\"text_completion\"]"

"$RUN" "${MODEL[@]}" --tokens 5,17,300,42 --max-new 9 >"$T/alone" 2>/dev/null
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 9, "temperature": 0}'
check completion-token-ids-prompt "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body")" "$(cat "$T/alone")"

# ---- streaming: the chunks concatenate to the answer
curl -sN --max-time 60 "$U/v1/completions" -d "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 12, temperature: 0, stream: true, stream_options: {include_usage: true}}')" >"$T/sse"
check stream-text-concatenates "$(sse_text "$T/sse" '.choices[0].text')" "$(jq -r '.choices[0].text' "$T/greedy")"
check stream-ends-with-done "$(grep -c '^data: ' "$T/sse"):$(tail -n 2 "$T/sse" | head -n 1)" "$(grep -c '^data: ' "$T/sse"):data: [DONE]"
check stream-finish-and-usage "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -c 'select(.usage) | [.usage.completion_tokens, (.choices | length)]'):$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -r '.choices[0].finish_reason // empty')" "[12,0]:length"

# ---- stop strings: the text ends before the first occurrence, which is not in it
STOP=$(jq -r '.choices[0].text[3:5]' "$T/greedy")
post /v1/completions "$(jq -nc --arg p "$PROMPT" --arg s "$STOP" '{prompt: $p, max_tokens: 12, temperature: 0, stop: ["zzzz", $s]}')"
got=$(jq -r '.choices[0].text' "$T/body")
if jq -e --slurpfile full "$T/greedy" --arg s "$STOP" '.choices[0] as $c | $full[0].choices[0].text as $f |
     $c.finish_reason == "stop" and ($c.text | contains($s) | not) and ($f | startswith($c.text + $s))' "$T/body" >/dev/null; then
  pass stop-string
else fail stop-string "stop '$STOP', full $(jq .choices[0].text "$T/greedy"), got $(cat "$T/body")"; fi
curl -sN --max-time 60 "$U/v1/completions" -d "$(jq -nc --arg p "$PROMPT" --arg s "$STOP" '{prompt: $p, max_tokens: 12, temperature: 0, stop: $s, stream: true}')" >"$T/sse"
check stop-string-streamed "$(sse_text "$T/sse" '.choices[0].text')" "$got"
cp "$T/body" "$T/stopped"
post /v1/completions "$(jq -nc --arg p "$PROMPT" --arg s "$STOP" '{prompt: $p, max_tokens: 12, temperature: 0, stop: $s, include_stop_str_in_output: true}')"
check stop-string-included "$(jq --slurpfile cut "$T/stopped" --arg s "$STOP" '.choices[0] | .text == $cut[0].choices[0].text + $s and .finish_reason == "stop"' "$T/body")" true

# ---- sampling: seeded draws repeat; a tiny top_p is the greedy token
body='{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 1.3, "seed": 11}'
post /v1/completions "$body"; a=$(jq -c '.choices[0].token_ids' "$T/body")
post /v1/completions "$body"; b=$(jq -c '.choices[0].token_ids' "$T/body")
check sampling-seed-repeats "$a" "$b"
"$RUN" "${MODEL[@]}" --tokens 5,17,300 --max-new 16 >"$T/alone" 2>/dev/null
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 1, "top_p": 1e-9, "seed": 3}'
check sampling-top-p-tiny-is-greedy "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body")" "$(cat "$T/alone")"
# vLLM's allowed_token_ids: every draw among them; greedy, the most probable of them (of the model's
# log-probabilities, which stay unmasked: vLLM's raw ones)
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 24, "temperature": 1.5, "seed": 4, "ignore_eos": true, "allowed_token_ids": [7, 70, 300]}'
check sampling-allowed-token-ids "$(jq -c '.choices[0].token_ids | unique - [7, 70, 300]' "$T/body"):$(jq '.choices[0].token_ids | unique | length > 1' "$T/body")" "[]:true"
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 6, "temperature": 0, "ignore_eos": true, "allowed_token_ids": [7, 70, 300]}'
allowed=$(jq -c '.choices[0].token_ids' "$T/body")
post /v1/completions "$(jq -nc '{prompt: [5, 17, 300], max_tokens: 6, temperature: 0, ignore_eos: true,
  logit_bias: ([range(604)] - [7, 70, 300] | map({(tostring): -100}) | add)}')"
check sampling-allowed-token-ids-greedy "$allowed" "$(jq -c '.choices[0].token_ids' "$T/body")"
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 1, "temperature": 0, "ignore_eos": true, "logprobs": 5, "logit_bias": {"7": 0}}'
top5='[.choices[0].logprobs.top_logprobs[0] | to_entries | sort_by(-.value) | .[:5][] | .value]'
raw=$(jq -c "$top5" "$T/body")
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 1, "temperature": 0, "ignore_eos": true, "allowed_token_ids": [7, 70, 300], "logprobs": 5}'
check sampling-allowed-token-ids-greedy-raw-logprobs "$(jq -c "$top5" "$T/body"):$(jq '.choices[0].token_ids[0] | IN(7, 70, 300)' "$T/body")" "$raw:true"
# vLLM's bad_words: a pick never ends a word's token sequence, as written or after a space ("x":
# [89], " x": [591]; "hi": [73, 74], " hi": [222, 73, 74]); logit_bias makes the model want them
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 6, "temperature": 0, "ignore_eos": true, "logit_bias": {"89": 100, "591": 100}}'
wanted=$(jq -c '.choices[0].token_ids | map(select(. == 89 or . == 591)) | length' "$T/body")
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 6, "temperature": 0, "ignore_eos": true, "logit_bias": {"89": 100, "591": 100}, "bad_words": ["x"]}'
check bad-words-one-token "$wanted:$(jq -c '.choices[0].token_ids | map(select(. == 89 or . == 591)) | length' "$T/body")" "6:0"
body='{"prompt": [5, 17, 300], "max_tokens": 40, "temperature": 1, "seed": 2, "ignore_eos": true, "logit_bias": {"73": 60, "74": 60}}'
pairs='.choices[0].token_ids | [range(length - 1) as $i | select(.[$i] == 73 and .[$i + 1] == 74)] | length'
post /v1/completions "$body"
wanted=$(jq "$pairs > 0" "$T/body")
post /v1/completions "${body%\}}, \"bad_words\": [\"  hi\"]}"
check bad-words-sequence "$wanted:$(jq "$pairs" "$T/body"):$(jq '.choices[0].token_ids | map(select(. == 73 or . == 74)) | length' "$T/body")" "true:0:40"
refused bad-words-empty 400 "field 'bad_words': element 1 is not a non-empty string" /v1/completions '{"prompt": "x", "bad_words": ["a", ""]}'
refused bad-words-space 400 "field 'bad_words': element 0 is white space alone" /v1/completions '{"prompt": "x", "bad_words": [" \u3000"]}'
refused bad-words-guided 400 "field 'bad_words' cannot be given with guided decoding" /v1/completions \
  '{"prompt": "x", "bad_words": ["a"], "response_format": {"type": "json_object"}}'
# a tokenizer larger than the model (its vocabulary 300 here): a bad word whose ids pass the model's
# is refused (it has no logit to ban)
if start small-vocab --tokenizer "$T/tok" --set vocab=300; then
  refused bad-words-past-vocabulary 400 "field 'bad_words': a word makes token 590, past the model's vocabulary (300)" \
    /v1/completions '{"prompt": [5], "max_tokens": 2, "bad_words": ["a"]}'
  kill -TERM "$SPID"; wait "$SPID"
fi
PORT=$MAINPORT
# vLLM's truncate_prompt_tokens: the prompt's last k tokens run (-1: the context's worth)
post /v1/completions '{"prompt": [42, 9], "max_tokens": 6, "temperature": 0}'
short=$(jq -c '[.choices[0].token_ids, .usage.prompt_tokens]' "$T/body")
post /v1/completions '{"prompt": [5, 17, 300, 42, 9], "max_tokens": 6, "temperature": 0, "truncate_prompt_tokens": 2}'
check prompt-truncated "$(jq -c '[.choices[0].token_ids, .usage.prompt_tokens]' "$T/body")" "$short"
post /v1/completions '{"prompt": [42, 9], "max_tokens": 6, "temperature": 0, "truncate_prompt_tokens": -1}'
check prompt-truncated-to-context "$(jq -c '[.choices[0].token_ids, .usage.prompt_tokens]' "$T/body")" "$short"
refused prompt-truncated-zero 400 "field 'truncate_prompt_tokens' must be -1 (the model's context) or from 1 to the context (4096)" \
  /v1/completions '{"prompt": [42, 9], "truncate_prompt_tokens": 0}'
refused prompt-truncated-echo 400 "fields 'truncate_prompt_tokens' and 'echo' cannot both be given" /v1/completions \
  '{"prompt": [42, 9], "truncate_prompt_tokens": 1, "echo": true}'
refused sampling-allowed-token-ids-range 400 "field 'allowed_token_ids': element 1 is not a token id in [0, 604)" /v1/completions \
  '{"prompt": "x", "allowed_token_ids": [1, 604]}'
refused sampling-allowed-token-ids-empty 400 "field 'allowed_token_ids' must be a non-empty array of token ids" /v1/completions \
  '{"prompt": "x", "allowed_token_ids": []}'
refused sampling-allowed-token-ids-guided 400 "field 'allowed_token_ids' cannot be given with guided decoding" /v1/completions \
  '{"prompt": "x", "allowed_token_ids": [1], "response_format": {"type": "json_object"}}'
# vLLM's min_p, top_k (top_k 1 and min_p 1 are greedy; every draw of top_k 5 is among the 5 most
# probable, of min_p 0.5 at least half as probable as the most: the alternatives logprobs name; the
# same draws without them break both), stop_token_ids and min_tokens
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 1.3, "top_k": 1, "seed": 3}'
check sampling-top-k-1-is-greedy "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body")" "$(cat "$T/alone")"
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 1.3, "min_p": 1, "seed": 3}'
check sampling-min-p-1-is-greedy "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body")" "$(cat "$T/alone")"
cuts() {  # FIELDS: [all top_k 5 draws among the 5 most probable, all min_p 0.5 draws at least half the most probable]
  post /v1/completions "{\"prompt\": [5, 17, 300], \"max_tokens\": 24, \"temperature\": 1, \"seed\": 8, \"logprobs\": 5 $1}"
  jq -c '.choices[0].logprobs | [(.top_logprobs | map(length == 5) | all),
         ([.token_logprobs, (.top_logprobs | map([.[]] | max))] | transpose | map(.[0] >= .[1] - 0.6931472) | all)]' "$T/body"
}
check sampling-top-k-5-draws-in-the-top-5 "$(cuts ', "top_k": 5' | jq '.[0]')" true
check sampling-min-p-half-draws "$(cuts ', "min_p": 0.5' | jq '.[1]')" true
check sampling-without-cuts-breaks-both "$(cuts '')" '[false,false]'
stop_id=$(cut -d, -f4 "$T/alone")
post /v1/completions "{\"prompt\": [5, 17, 300], \"max_tokens\": 16, \"temperature\": 0, \"stop_token_ids\": [$stop_id], \"ignore_eos\": true}"
check stop-token-ids "$(jq -c '[.choices[0].token_ids, .choices[0].finish_reason, .usage.completion_tokens]' "$T/body")" \
  "[[$(cut -d, -f1-3 "$T/alone")],\"stop\",4]"
post /v1/completions "{\"prompt\": [5, 17, 300], \"max_tokens\": 16, \"temperature\": 0, \"stop_token_ids\": [$stop_id], \"min_tokens\": 6, \"logprobs\": 2}"
check min-tokens-bans-the-stop-id "$(jq -c --argjson x "$stop_id" '.choices[0] | [(.token_ids[0:3] | map(tostring) | join(",")), (.token_ids[0:6] | index($x)),
       (.token_ids | length >= 6), (.logprobs.token_logprobs[3] == (.logprobs.top_logprobs[3] | [.[]] | sort | .[-2]))]' "$T/body")" \
  "[\"$(cut -d, -f1-3 "$T/alone")\",null,true,true]"
post /v1/completions "$(jq -nc --arg p "$PROMPT" --arg s "$STOP" '{prompt: $p, max_tokens: 12, temperature: 0, stop: $s, min_tokens: 12}')"
check min-tokens-holds-off-stop-strings "$(jq -c '[.choices[0].text, .choices[0].finish_reason]' "$T/body")" "$(jq -c '[.choices[0].text, "length"]' "$T/greedy")"
# vLLM's skip_special_tokens: the text (and an echoed id prompt's) without the special tokens; the ids keep them
body='{"prompt": [601, 5], "max_tokens": 3, "temperature": 0, "logit_bias": {"601": 100}, "echo": true}'
post /v1/completions "$body"
check special-tokens-kept-by-default "$(jq -c '[.choices[0].text, .choices[0].token_ids]' "$T/body")" \
  "[\"<|start_header_id|>$("$TT" decode "$T/tok/tokenizer.json" 5)<|start_header_id|><|start_header_id|><|start_header_id|>\",[601,601,601]]"
post /v1/completions "$(jq -c '. + {skip_special_tokens: true}' <<<"$body")"
check skip-special-tokens "$(jq -c '[.choices[0].text, .choices[0].token_ids]' "$T/body")" "[\"$("$TT" decode "$T/tok/tokenizer.json" 5)\",[601,601,601]]"
curl -sN --max-time 60 "$U/v1/completions" -d "$(jq -c '. + {skip_special_tokens: true, stream: true}' <<<"$body")" >"$T/sse"
check skip-special-tokens-streamed "$(sse_text "$T/sse" '.choices[0].text')" "$(jq -r '.choices[0].text' "$T/body")"
refused top-k-below-minus-1 400 "field 'top_k' must be an integer >= -1 (-1 or 0: every token)" /v1/completions '{"prompt": [1], "top_k": -2}'
refused min-p-above-1 400 "field 'min_p' must be a number in [0, 1]" /v1/completions '{"prompt": [1], "min_p": 1.5}'
refused stop-token-id-past-vocab 400 "field 'stop_token_ids': element 1 is not a token id in [0, 604)" /v1/completions '{"prompt": [1], "stop_token_ids": [3, 604]}'
refused min-tokens-past-max-tokens 400 "field 'min_tokens' (9) must be at most max_tokens (8)" /v1/completions '{"prompt": [1], "max_tokens": 8, "min_tokens": 9}'

# ---- several choices: a batch of prompts and n each (choice i * n + j: prompt i's j-th draw, from
# the seed + j); each equals its request alone, the usage counts each prompt once
ids() { jq -c "[.choices[$1].token_ids, .choices[$1].text]" "$2"; }
post /v1/completions '{"prompt": [[5, 17, 300], [59, 413], "Héllo"], "max_tokens": 7, "temperature": 1.3, "seed": 11, "n": 2, "logprobs": 2, "top_p": 0.95, "repetition_penalty": 1.2}'
cp "$T/body" "$T/choices"
check choices-indexes "$(jq -c '[.choices[].index]' "$T/choices")" "[0,1,2,3,4,5]"
bad=() usage=(0 0)
for i in 0 1 2 3 4 5; do
  prompt=$(jq -c --argjson i $((i / 2)) '[[5, 17, 300], [59, 413], "Héllo"][$i]' <<<null)
  post /v1/completions "$(jq -nc --argjson p "$prompt" --argjson s $((11 + i % 2)) '{prompt: $p, max_tokens: 7, temperature: 1.3, seed: $s, logprobs: 2, top_p: 0.95, repetition_penalty: 1.2}')"
  [ "$(jq -c '.choices[0] | del(.index)' "$T/body")" = "$(jq -c ".choices[$i] | del(.index)" "$T/choices")" ] ||
    bad+=("choice $i: $(ids "$i" "$T/choices"), alone $(ids 0 "$T/body")")
  ((i % 2)) || usage[0]=$((usage[0] + $(jq .usage.prompt_tokens "$T/body")))
  usage[1]=$((usage[1] + $(jq .usage.completion_tokens "$T/body")))
done
[ ${#bad[@]} -eq 0 ] && pass choices-equal-alone-with-seed-plus-j || fail choices-equal-alone-with-seed-plus-j "${bad[@]}"
check choices-usage "$(jq -c '[.usage.prompt_tokens, .usage.completion_tokens, .usage.total_tokens]' "$T/choices")" \
  "[${usage[0]},${usage[1]},$((usage[0] + usage[1]))]"
check choices-n-draws-differ "$(jq '.choices[0].token_ids != .choices[1].token_ids' "$T/choices")" true
body='{"prompt": [[5, 17, 300], [59, 413]], "max_tokens": 7, "temperature": 1.3, "seed": 11, "n": 2, "stop": "zzzz"}'
post /v1/completions "$body"; cp "$T/body" "$T/choices"
curl -sN --max-time 60 "$U/v1/completions" -d "$(jq -c '. + {stream: true, stream_options: {include_usage: true}}' <<<"$body")" >"$T/sse"
got=$(for i in 0 1 2 3; do sse_text "$T/sse" "select(.choices[0].index == $i) | .choices[0].text"; echo; done)
check choices-streamed-texts "$got" "$(jq -r '.choices[].text' "$T/choices")"
check choices-streamed-finish-usage-done \
  "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -sc '[(map(.choices[0] | select(.finish_reason) | .index) | sort), (map(select(.usage)) | length), (.[-1].usage | del(.prompt_tokens_details)) == ($a[0].usage | del(.prompt_tokens_details))]' --slurpfile a "$T/choices"):$(tail -n 2 "$T/sse" | head -n 1)" \
  "[[0,1,2,3],1,true]:data: [DONE]"
# vLLM's continuous_usage_stats: each choice's chunks carry its usage so far (its prompt's tokens,
# its ids: non-decreasing, at its end all it made); the closing usage chunk as before
curl -sN --max-time 60 "$U/v1/completions" -d "$(jq -c '. + {stream: true, stream_options: {include_usage: true, continuous_usage_stats: true}}' <<<"$body")" >"$T/sse"
check stream-continuous-usage "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -sc --slurpfile a "$T/choices" '
  (map(select(.choices | length > 0)) | all(.usage)) as $every |
  [range(4) as $i | [.[] | select(.choices[0].index == $i)] | [
     all(.usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens),
     (map(.usage.prompt_tokens) | unique) == [if $i < 2 then 3 else 2 end],
     (map(.usage.completion_tokens) | . == sort), .[-1].usage.completion_tokens]] as $c |
  [$every, ($c | all(.[0] and .[1] and .[2])), ($c | map(.[3]) | add) == $a[0].usage.completion_tokens,
   (.[-1].choices | length), (.[-1].usage | del(.prompt_tokens_details)) == ($a[0].usage | del(.prompt_tokens_details))]')" \
  "[true,true,true,0,true]"
curl -sN --max-time 60 "$U/v1/completions" -d '{"prompt": [5, 17], "max_tokens": 3, "stream": true, "stream_options": {}}' >"$T/sse"
check stream-options-empty-includes-usage "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -sc '[map(select(.usage)) | length, .[-1].usage.completion_tokens]')" "[1,3]"
curl -sN --max-time 60 "$U/v1/completions" -d '{"prompt": [5, 17], "max_tokens": 3, "stream": true, "stream_options": {"include_usage": false, "continuous_usage_stats": true}}' >"$T/sse"
check stream-continuous-needs-include-usage "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -sc 'map(select(.usage)) | length')" 0
refused stream-options-continuous-type 400 "field 'stream_options' must be {\"include_usage\": true|false, \"continuous_usage_stats\": true|false}" \
  /v1/completions '{"prompt": [1], "stream": true, "stream_options": {"continuous_usage_stats": 1}}'
refused stream-options-without-stream 400 "field 'stream_options' goes with \"stream\": true" /v1/completions \
  '{"prompt": [1], "stream_options": {"include_usage": true}}'
refused stream-options-other-key 400 "field 'stream_options' must be" /v1/completions '{"prompt": [1], "stream": true, "stream_options": {"include_usage": true, "usage": true}}'
MSGS='[{"role": "user", "content": "Hi there"}]'
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 6, temperature: 1.3, seed: 4, n: 2}')"
cp "$T/body" "$T/choices"
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 6, temperature: 1.3, seed: 5}')"
check chat-choice-1-equals-seed-plus-1 "$(jq -c '.choices[0].message' "$T/body")" "$(jq -c '.choices[1].message' "$T/choices")"
check chat-choices-usage "$(jq -c '[.usage.prompt_tokens, .usage.completion_tokens]' "$T/choices")" \
  "[$(jq '.usage.prompt_tokens' "$T/body"),$(jq '[.choices[].token_ids | length] | add' "$T/choices")]"
curl -sN --max-time 60 "$U/v1/chat/completions" -d "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 6, temperature: 1.3, seed: 4, n: 2, stream: true}')" >"$T/sse"
check chat-choices-streamed "$(for i in 0 1; do sse_text "$T/sse" "select(.choices[0].index == $i) | .choices[0].delta.content"; echo; done)" \
  "$(jq -r '.choices[].message.content' "$T/choices")"
curl -sN --max-time 60 "$U/v1/chat/completions" -d "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 6, temperature: 1.3, seed: 4, n: 2, stream: true, stream_options: {continuous_usage_stats: true}}')" >"$T/sse2"
check chat-stream-continuous-usage "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse2" | jq -sc --slurpfile a "$T/choices" '. as $in |
  [(map(select(.choices | length > 0)) | all(.usage.prompt_tokens == $a[0].usage.prompt_tokens)),
   ([0, 1] | map(. as $i | [$in[] | select(.choices[0].index == $i)][-1].usage.completion_tokens) | add) == $a[0].usage.completion_tokens]')" \
  "[true,true]"
check chat-choices-role-first "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -sc '[0, 1] | map(. as $i | [$in[] | .choices[0] | select(.index == $i)][0].delta.role)' --null-input --slurpfile in /dev/stdin)" \
  '["assistant","assistant"]'
# a prompt's choices prefill it once: the others wait, then take a copy of its caches (backend_copy_prefix)
# and pick from the same logits (--trace: one prefill of the request's prompt, a fork a choice); each
# still equals its request alone with the seed + j, paged or not. Not for a choice that wants its
# prompt's logits (echo with logprobs): it prefills its own
FORKP='[5, 17, 300, 42, 7, 8, 9, 10, 11, 12, 13]'
forks() {   # forks NAME SERVER-ARGS...: the request's trace and choices against alone
  local name=$1; shift
  start "$name" --max-seqs 4 --trace "$@" || return
  post /v1/completions "$(jq -nc --argjson p "$FORKP" '{prompt: $p, max_tokens: 5, temperature: 1.2, seed: 21, n: 3, logprobs: 1}')"
  cp "$T/body" "$T/forks"
  local alone=() j
  for j in 0 1 2; do
    post /v1/completions "$(jq -nc --argjson p "$FORKP" --argjson s $((21 + j)) '{prompt: $p, max_tokens: 5, temperature: 1.2, seed: $s, logprobs: 1}')"
    alone+=("$(jq -c '.choices[0] | del(.index)' "$T/body")")
  done
  curl -s --max-time 60 "http://127.0.0.1:$PORT/metrics" >"$T/$name.metrics"
  FORKED=$(awk '$1 == "mixc_prompt_tokens_forked_total" { print $2 }' "$T/$name.metrics")
  # a paged server's pages: "pool in-use shared" (none printed unpaged)
  PAGES=$(awk '$1 ~ /^mixc_kv_pages_(pool|in_use|shared_total)$/ { printf "%s%s", sep, $2; sep = " " }' "$T/$name.metrics")
  kill -TERM "$SPID"; wait "$SPID"
  check "$name-choices-equal-alone" "$(jq -c '[.choices[] | del(.index)]' "$T/forks")" "[$(IFS=,; echo "${alone[*]}")]"
  # the request's prompt tokens prefilled, and its forks
  FORK_TRACE="$(grep -o "prefill $(jq -r .id "$T/forks")@[0-9]*+[0-9]*\|fork $(jq -r .id "$T/forks")" "$T/$name.err" |
    awk '/^prefill/ { split($2, a, "+"); n += a[2] } /^fork/ { f++ } END { printf "prefilled %d, forks %d", n, f }')"
}
forks forks
check forks-prefill-once "$FORK_TRACE" "prefilled $(jq length <<<"$FORKP"), forks 2"
check forks-metric "$FORKED" "$((2 * $(jq length <<<"$FORKP")))"   # mixc_prompt_tokens_forked_total
check forks-unpaged-no-page-metrics "$PAGES" ""
forks forks-int8 --set kv_dtype=int8   # 8-bit caches: codes and scales copied; 16 positions wrap the rings of 8 and 12
check forks-int8-prefill-once "$FORK_TRACE" "prefilled $(jq length <<<"$FORKP"), forks 2"
start forks-echo --max-seqs 4 --trace || exit 1
post /v1/completions "$(jq -nc --argjson p "$FORKP" '{prompt: $p, max_tokens: 2, temperature: 1.2, seed: 21, n: 2, echo: true, logprobs: 1}')"
kill -TERM "$SPID"; wait "$SPID"
check forks-not-for-prompt-logprobs "$(grep -o "prefill $(jq -r .id "$T/body")@[0-9]*+[0-9]*\|fork $(jq -r .id "$T/body")" "$T/forks-echo.err" |
  awk '/^prefill/ { split($2, a, "+"); n += a[2] } /^fork/ { f++ } END { printf "prefilled %d, forks %d", n, f }'):$(jq '[.choices[].logprobs.tokens | length]' -c "$T/body")" \
  "prefilled $((2 * $(jq length <<<"$FORKP"))), forks 0:[13,13]"
forks forks-paged --page-tokens 4   # each page's rows copied into the fork's own pages
check forks-paged-prefill-once "$FORK_TRACE" "prefilled $(jq length <<<"$FORKP"), forks 2"
# the metrics: a pool of 4 slots' whole contexts, nothing in flight at the end, and the choices' copies
# took the prompt's whole pages shared (2 forks x floor(prompt / 4))
check forks-paged-page-metrics "$(awk '{ print ($1 > 0), $2, $3 }' <<<"$PAGES")" "1 0 $((2 * ($(jq length <<<"$FORKP") / 4)))"
forks forks-paged-int8 --page-tokens 4 --set kv_dtype=int8   # the pool's codes, then its scales
check forks-paged-int8-prefill-once "$FORK_TRACE" "prefilled $(jq length <<<"$FORKP"), forks 2"
# prefix caching (docs/serving.md, "Prefix caching"): a chat's next turn takes the caches of the last
# turn's prompt from the slot it left: usage.prompt_tokens_details.cached_tokens = the tokens the two
# prompts share (/tokenize), short of the ring's loss (none here: 15 positions, the first turn writes
# fewer), and mixc_prompt_tokens_cached_total counts them; the answers = a server's that prefills
# every prompt whole (--no-prefix-caching), which caches none
turns() {   # turns NAME SERVER-ARGS...: two turns of a chat, their bodies in $T/NAME.1 and .2
  local name=$1 m1='[{"role": "user", "content": "Hi there"}]' m2; shift
  start "$name" --tokenizer "$T/tok" --max-seqs 2 --trace "$@" || return 1
  post /v1/chat/completions "$(jq -nc --argjson m "$m1" '{messages: $m, max_tokens: 3, temperature: 0}')"
  cp "$T/body" "$T/$name.1"
  m2=$(jq -c --argjson m "$m1" '$m + [.choices[0].message, {role: "user", content: "And then?"}]' "$T/body")
  post /v1/chat/completions "$(jq -nc --argjson m "$m2" '{messages: $m, max_tokens: 3, temperature: 0}')"
  cp "$T/body" "$T/$name.2"
  post /tokenize "$(jq -nc --argjson m "$m1" '{messages: $m}')"; cp "$T/body" "$T/$name.t1"
  post /tokenize "$(jq -nc --argjson m "$m2" '{messages: $m}')"; cp "$T/body" "$T/$name.t2"
  CACHED=$(curl -s --max-time 60 "http://127.0.0.1:$PORT/metrics" | awk '$1 == "mixc_prompt_tokens_cached_total" { print $2 }')
  kill -TERM "$SPID"; wait "$SPID"
}
if turns prefix; then
  shared=$(jq -n --slurpfile a "$T/prefix.t1" --slurpfile b "$T/prefix.t2" \
    '[$a[0].tokens, $b[0].tokens] as [$x, $y] | [range($x | length) | select($x[.] == $y[.])] as $same |
     [range($x | length) | select(. as $i | all($same[]; . != $i))][0] // ($x | length)')
  check prefix-turn-cached "$(jq '[.usage.prompt_tokens_details.cached_tokens] + [$c]' -c --argjson c "$CACHED" "$T/prefix.2")" \
    "[$shared,$shared]"
  check prefix-turn-trace "$(grep -c "admit $(jq -r .id "$T/prefix.2")@$shared " "$T/prefix.err")" 1
  check prefix-first-turn-none "$(jq .usage.prompt_tokens_details.cached_tokens "$T/prefix.1")" 0
  if turns prefix-off --no-prefix-caching; then
    check prefix-turn-answer-equals-whole "$(jq -c '.choices[0].message' "$T/prefix.2")" "$(jq -c '.choices[0].message' "$T/prefix-off.2")"
    check prefix-off-none "$(jq '[.usage.prompt_tokens_details.cached_tokens] + [$c]' -c --argjson c "$CACHED" "$T/prefix-off.2")" "[0,0]"
  fi
  # --prefix-caching-generated: the second turn also takes the rows the first turn's decode wrote
  # (its answer's ids but the last) where the second prompt has the same ids; the same answer (cpu)
  if turns prefix-gen --prefix-caching-generated; then
    written=$(jq -n --slurpfile a "$T/prefix-gen.t1" --slurpfile b "$T/prefix-gen.t2" --slurpfile r "$T/prefix-gen.1" \
      '[$a[0].tokens + $r[0].choices[0].token_ids[:-1], $b[0].tokens] as [$x, $y] |
       [range($x | length) | select($x[.] != $y[.])][0] // ($x | length)')
    check prefix-gen-turn-cached "$(jq -c '[.usage.prompt_tokens_details.cached_tokens, (.usage.prompt_tokens_details.cached_tokens > $s)]' \
      --argjson s "$shared" "$T/prefix-gen.2")" "[$written,true]"
    check prefix-gen-answer-equals-whole "$(jq -c '.choices[0].message' "$T/prefix-gen.2")" "$(jq -c '.choices[0].message' "$T/prefix.2")"
  fi
fi
PORT=$MAINPORT
refused n-zero 400 "field 'n' must be an integer in [1, 128]" /v1/completions '{"prompt": [1], "n": 0}'
refused n-above-128 400 "field 'n' must be an integer in [1, 128]" /v1/completions '{"prompt": [1], "n": 129}'
refused n-not-integer 400 "field 'n' must be an integer in [1, 128]" /v1/completions '{"prompt": [1], "n": 1.5}'
refused choices-above-128 400 "the request asks for 130 choices (65 prompts, n = 2); the most is 128" /v1/completions \
  "{\"prompt\": [$(seq -s, 65 | sed 's/[0-9]*/[1]/g')], \"n\": 2}"
refused best-of-below-n 400 "field 'best_of' must be at least n (2)" /v1/completions '{"prompt": [1], "n": 2, "best_of": 1}'
refused batch-element-names-its-prompt 400 "prompt[1]: field 'prompt' must be a string, a non-empty array of token ids, or an array of these" \
  /v1/completions '{"prompt": [[1], [], [2]]}'
refused batch-element-past-vocab 400 "prompt[2]: field 'prompt': element 1 is not a token id in [0, 604)" /v1/completions '{"prompt": [[1], [2], [3, 604]]}'
refused batch-element-past-context 400 "prompt[1]: this model's context is 4096 tokens; the request has 2 prompt tokens" /v1/completions '{"prompt": [[1], [2, 3]], "max_tokens": 4095}'

# ---- log-probabilities (docs/serving.md, "Log-probabilities"): a greedy request takes the same
# tokens as without them; each logprob is log_softmax of the logits `mixrun --dump-logits` gives at
# that position (the prompt and the generated ids run as one prompt), the alternatives are the most
# probable ones, in order, and a completion's always hold the chosen token
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 0, "logprobs": 3}'
cp "$T/body" "$T/lp-greedy"
check logprobs-greedy-same-tokens "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/lp-greedy")" "$(cat "$T/alone")"
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 1.3, "seed": 11, "logprobs": 5}'
cp "$T/body" "$T/lp-sampled"
check logprobs-sampled-same-draws "$(jq -c '.choices[0].token_ids' "$T/lp-sampled")" "$a"
# dump_alone ANSWER PROMPT NPY: the logits `mixrun --dump-logits` gives for the prompt (ids,
# comma-separated) and the answer's ids run alone, into NPY.
dump_alone() {
  local ids
  ids=$(jq -r --arg p "$2" '($p | split(",") | map(tonumber)) + .choices[0].token_ids | map(tostring) | join(",")' "$1")
  "$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 1 --dump-logits "$3" >/dev/null 2>"$3.err" || { cat "$3.err"; return 1; }
}
# logprobs_match ANSWER TOP PROMPT [echo]: the answer's logprobs against the logits of its prompt (ids,
# comma-separated) and generated ids run alone, within LP_TOL (default 1e-4); with echo, the prompt's
# entries first (the first without logprobs, each other one the logits of the position before it).
logprobs_match() {
  dump_alone "$1" "$3" "$T/lp.npy" || return 1
  python3 tests/http/logits_check.py logprobs "$1" "$T/lp.npy" "$2" "$3" "${4:-}" "${LP_TOL:-1e-4}"
}
if out=$(logprobs_match "$T/lp-greedy" 3 5,17,300 2>&1); then pass "logprobs: greedy, 3 alternatives = log_softmax of the logits run alone"
else fail "logprobs: greedy, 3 alternatives = log_softmax of the logits run alone" "$out"; fi
if out=$(logprobs_match "$T/lp-sampled" 5 5,17,300 2>&1); then pass "logprobs: sampled, 5 alternatives = log_softmax of the logits run alone"
else fail "logprobs: sampled, 5 alternatives = log_softmax of the logits run alone" "$out"; fi
curl -sN --max-time 60 "$U/v1/completions" -d '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 0, "logprobs": 3, "stream": true}' >"$T/sse"
check logprobs-stream-concatenates \
  "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -c '.choices[0].logprobs | select(.) | [.tokens, .token_logprobs, .text_offset]' | jq -sc 'transpose | map(add)')" \
  "$(jq -c '.choices[0].logprobs | [.tokens, .token_logprobs, .text_offset]' "$T/lp-greedy")"
check logprobs-none-asked "$(jq -c '.choices[0].logprobs' "$T/greedy")" null
# echo: the prompt before the generated text, as given; with logprobs, the prompt's ids' entries first
post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 2, temperature: 0, echo: true, logprobs: 2}')"
cp "$T/body" "$T/echo"
post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 2, temperature: 0}')"
check echo-text-is-the-prompt-then-the-generated "$(jq -r '.choices[0].text' "$T/echo")" "$PROMPT$(jq -r '.choices[0].text' "$T/body")"
PIDS=$("$TT" encode "$T/tok/tokenizer.json" "$PROMPT")
# echo streamed: each choice's first chunk carries the prompt's text and entries (vLLM's order), the
# chunks concatenate to the answer (the generated ids' text_offset after the prompt's in each chunk)
curl -sN --max-time 60 "$U/v1/completions" -d "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 2, temperature: 0, echo: true, logprobs: 2, stream: true}')" >"$T/sse"
check echo-stream-first-chunk-has-the-prompt "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | head -n 1 | jq -c --arg p "$PROMPT" '.choices[0] | [(.text | startswith($p)), .logprobs.token_logprobs[0], (.logprobs.tokens | length > 2)]')" '[true,null,true]'
check echo-stream-text "$(sse_text "$T/sse" '.choices[0].text')" "$(jq -r '.choices[0].text' "$T/echo")"
check echo-stream-logprobs \
  "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -c '.choices[0].logprobs | select(.) | [.tokens, .token_logprobs, .top_logprobs, .text_offset]' | jq -sc 'transpose | map(add)')" \
  "$(jq -c '.choices[0].logprobs | [.tokens, .token_logprobs, .top_logprobs, .text_offset]' "$T/echo")"
body='{"prompt": [[5, 17, 300], "Héllo"], "max_tokens": 3, "temperature": 0, "echo": true, "n": 2}'
post /v1/completions "$body"
curl -sN --max-time 60 "$U/v1/completions" -d "$(jq -c '. + {stream: true}' <<<"$body")" >"$T/sse"
check echo-stream-choices "$(for i in 0 1 2 3; do sse_text "$T/sse" "select(.choices[0].index == $i) | .choices[0].text"; echo; done)" \
  "$(jq -r '.choices[].text' "$T/body")"
if out=$(logprobs_match "$T/echo" 2 "$PIDS" echo 2>&1); then pass "echo + logprobs: the prompt's ids (the first without) and the generated = log_softmax of the logits run alone"
else fail "echo + logprobs: the prompt's ids (the first without) and the generated = log_softmax of the logits run alone" "$out"; fi
LONG=$(seq -s, 1 120 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), ($i * 37) % 600}')
post /v1/completions "{\"prompt\": [$LONG], \"max_tokens\": 2, \"temperature\": 0, \"echo\": true, \"logprobs\": 1}"
if out=$(logprobs_match "$T/body" 1 "$LONG" echo 2>&1); then pass "echo + logprobs: 120 prompt ids (rows split over threads) = log_softmax of the logits run alone"
else fail "echo + logprobs: 120 prompt ids (rows split over threads) = log_softmax of the logits run alone" "$out"; fi
# return_tokens_as_token_ids (vLLM's): the echo's and the answer's tokens and alternatives named
# "token_id:ID"; the log-probabilities and text_offset (the texts' code points) the same as without
post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 2, temperature: 0, echo: true, logprobs: 2, return_tokens_as_token_ids: true}')"
check completion-logprobs-tokens-as-ids "$(jq -c --slurpfile a "$T/echo" --arg pids "$PIDS" '.choices[0].logprobs as $l | $a[0].choices[0].logprobs as $w |
  [$l.tokens == (($pids | split(",")) + (.choices[0].token_ids | map(tostring)) | map("token_id:" + .)),
   $l.token_logprobs == $w.token_logprobs, $l.text_offset == $w.text_offset,
   ($l.top_logprobs[1:] | map(keys | all(test("^token_id:[0-9]+$")))) == ($w.top_logprobs[1:] | map(true)),
   ($l.top_logprobs | map(select(.) | [.[]] | sort)) == ($w.top_logprobs | map(select(.) | [.[]] | sort)),
   ([$l.tokens, $l.top_logprobs] | transpose | .[1:] | map(.[1][.[0]]) == $l.token_logprobs[1:])]' "$T/body")"   "[true,true,true,true,true,true]"
# prompt_logprobs (vLLM's): per prompt id but the first, the id (its log-softmax at the position before,
# its rank) and the most probable others; with echo and logprobs 1 beside it, the echo keeps to its one
# alternative; chat's at the answer's top level; refused when streamed (0 taken, nothing sent), -1, 21
post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 2, temperature: 0, prompt_logprobs: 3, echo: true, logprobs: 1}')"
cp "$T/body" "$T/plp"
if out=$(dump_alone "$T/plp" "$PIDS" "$T/plp.npy" && python3 tests/http/logits_check.py prompt "$T/plp" "$T/plp.npy" 3 "$PIDS" 1e-4 2>&1)
then pass "prompt_logprobs: each prompt id's log-softmax and rank, 3 others = the logits run alone"
else fail "prompt_logprobs: each prompt id's log-softmax and rank, 3 others = the logits run alone" "$out"; fi
check prompt-logprobs-echo-keeps-its-alternatives "$(jq -c '.choices[0].logprobs.top_logprobs | map(select(.) | length <= 2) | all' "$T/plp")" true
post /v1/completions '{"prompt": [[5, 17, 300], [42, 7]], "max_tokens": 2, "temperature": 0, "prompt_logprobs": 0, "n": 2}'
check prompt-logprobs-each-choice "$(jq -c '[(.choices[].prompt_logprobs | [length, (.[1:] | map(length) | unique)]),
  .choices[0].prompt_logprobs == .choices[1].prompt_logprobs, .choices[2].prompt_logprobs == .choices[3].prompt_logprobs,
  (.choices[2].prompt_logprobs[1] | keys)]' "$T/body")" '[[3,[1]],[3,[1]],[2,[1]],[2,[1]],true,true,["7"]]'
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 2, temperature: 0, prompt_logprobs: 1}')"
check chat-prompt-logprobs "$(jq -c '[(.prompt_logprobs | length) == .usage.prompt_tokens, .prompt_logprobs[0], (.prompt_logprobs[1:] | map(length <= 2 and length >= 1) | all), (.choices[0] | has("prompt_logprobs"))]' "$T/body")" \
  '[true,null,true,false]'
refused prompt-logprobs-stream 400 "field 'prompt_logprobs' cannot be given with \"stream\": true" /v1/completions '{"prompt": [1, 2], "prompt_logprobs": 1, "stream": true}'
post /v1/completions '{"prompt": [1, 2], "max_tokens": 1, "prompt_logprobs": 0, "stream": true}'
check prompt-logprobs-0-streamed "$CODE:$(grep -c prompt_logprobs "$T/body")" "200:0"
refused prompt-logprobs-all 400 "field 'prompt_logprobs': -1 (every token's) is more than the 20" /v1/completions '{"prompt": [1, 2], "prompt_logprobs": -1}'
refused prompt-logprobs-range 400 "field 'prompt_logprobs' must be an integer in [0, 20]" /v1/completions '{"prompt": [1, 2], "prompt_logprobs": 21}'
# return_token_ids (vLLM's): the prompt's ids as prompt_token_ids, each completion choice its prompt's
# (streamed: in its first chunk), a chat's at the answer's top level (the template's ids, as /tokenize
# gives them; streamed: in the first chunk); a 400 with echo
post /v1/completions '{"prompt": [[5, 17, 300], [42, 7]], "max_tokens": 2, "temperature": 0, "n": 2, "return_token_ids": true}'
check return-token-ids "$(jq -c '[.choices[] | .prompt_token_ids]' "$T/body")" '[[5,17,300],[5,17,300],[42,7],[42,7]]'
curl -sN --max-time 60 "$U/v1/completions" -d '{"prompt": [5, 17, 300], "max_tokens": 3, "temperature": 0, "return_token_ids": true, "stream": true}' >"$T/sse"
check return-token-ids-streamed "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -sc '[.[0].choices[0].prompt_token_ids, ([.[1:][] | .choices[0] | has("prompt_token_ids")] | any)]')" \
  '[[5,17,300],false]'
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 2, temperature: 0, return_token_ids: true}')"
cp "$T/body" "$T/rti"
post /tokenize "$(jq -nc --argjson m "$MSGS" '{messages: $m}')"
check chat-return-token-ids "$(jq -c '.prompt_token_ids' "$T/rti")" "$(jq -c '.tokens' "$T/body")"
curl -sN --max-time 60 "$U/v1/chat/completions" -d "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 2, temperature: 0, return_token_ids: true, stream: true}')" >"$T/sse"
check chat-return-token-ids-streamed "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -sc '[.[0].prompt_token_ids == $t, ([.[1:][] | has("prompt_token_ids")] | any)]' --argjson t "$(jq -c '.tokens' "$T/body")")" '[true,false]'
refused return-token-ids-echo 400 "fields 'return_token_ids' and 'echo' cannot both be given" /v1/completions '{"prompt": [1, 2], "echo": true, "return_token_ids": true}'
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 0, "echo": true}'
check echo-token-ids-decoded "$(jq -c '[.choices[0].token_ids, .choices[0].logprobs]' "$T/body")" "[$(jq -c '.choices[0].token_ids' "$T/lp-greedy"),null]"
check echo-token-ids-text "$(jq -r '.choices[0].text' "$T/body")" "$("$TT" decode "$T/tok/tokenizer.json" 5,17,300)$(jq -r '.choices[0].text' "$T/lp-greedy")"

# ---- logit_bias and the penalties (docs/serving.md, "Log-probabilities" and the request fields):
# each greedy id is the argmax of the logits `mixrun --dump-logits` gives at its position (the prompt
# and the ids run alone), divided by repetition_penalty when positive (else times it) for the prompt's
# and earlier ids, minus frequency x its earlier occurrences and presence once it occurred, plus the
# biases; and the ids differ from the plain greedy ones (the adjustment took effect)
adjust_match() {  # ANSWER REQUEST
  dump_alone "$1" 5,17,300 "$T/adj.npy" || return 1
  python3 tests/http/logits_check.py adjust "$1" "$T/adj.npy" "$2" "$(jq -c '.choices[0].token_ids' "$T/lp-greedy")"
}
for req in '{"frequency_penalty": -2}' '{"presence_penalty": -1.5, "frequency_penalty": 0.5}' \
           '{"logit_bias": {"42": 5.5, "74": -100}}' '{"frequency_penalty": 2, "logit_bias": {"42": 6}}' \
           '{"repetition_penalty": 0.4}' '{"repetition_penalty": 1.7, "frequency_penalty": -1, "logit_bias": {"42": 4}}'; do
  post /v1/completions "$(jq -nc --argjson r "$req" '{prompt: [5, 17, 300], max_tokens: 16, temperature: 0} + $r')"
  cp "$T/body" "$T/adj.json"
  if out=$(adjust_match "$T/adj.json" "$req" 2>&1); then pass "logits adjusted by $req: each id their argmax"
  else fail "logits adjusted by $req: each id their argmax" "$out"; fi
done
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 0, "frequency_penalty": 0, "presence_penalty": 0, "logit_bias": {}}'
check adjust-neutral-is-greedy "$(jq -c '.choices[0].token_ids' "$T/body")" "$(jq -c '.choices[0].token_ids' "$T/lp-greedy")"
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 16, "temperature": 0, "logprobs": 1, "logit_bias": {"42": 100}}'
check adjust-logprobs-are-the-models "$(jq -c '[(.choices[0].token_ids | unique), (.choices[0].logprobs.token_logprobs[0] < -1)]' "$T/body")" "[[42],true]"

# ---- chat with the Llama 3 template: the template's ids run alone, stopped at <|eot_id|>
refused chat-documents-by-hand 400 "field 'documents': the chat template (Llama 3's, by hand) does not read them" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "documents": []}'
MSGS='[{"role": "system", "content": "  Be brief. "}, {"role": "user", "content": [{"type": "text", "text": "Hi there"}]}]'
TEMPLATE=$'<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
ids=$("$TT" encode "$T/tok/tokenizer.json" "$TEMPLATE" | cut -d, -f2-)   # its own BOS is in the text
"$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 20 >"$T/alone" 2>/dev/null
want=$(tr ',' '\n' <"$T/alone" | awk '$1 == 603 { exit } { print }' | paste -sd,)
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{model: "tiny", messages: $m, max_tokens: 20, temperature: 0}')"
cp "$T/body" "$T/chat"
check chat-ids-equal-template-run-alone "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/chat")" "$want"
check chat-shape "$(jq -c '[.object, .choices[0].message.role, .usage.prompt_tokens]' "$T/chat")" "[\"chat.completion\",\"assistant\",$(tr ',' '\n' <<<"$ids" | wc -l)]"
curl -sN --max-time 60 "$U/v1/chat/completions" -d "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 20, temperature: 0, stream: true}')" >"$T/sse"
check chat-stream-concatenates "$(sse_text "$T/sse" '.choices[0].delta.content')" "$(jq -r '.choices[0].message.content' "$T/chat")"
check chat-stream-first-role "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | head -n 1 | jq -r '.object + " " + .choices[0].delta.role')" "chat.completion.chunk assistant"
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 20, temperature: 0, logprobs: true, top_logprobs: 4}')"
cp "$T/body" "$T/chat-lp"
check chat-logprobs-same-tokens "$(jq -c '.choices[0].token_ids' "$T/chat-lp")" "$(jq -c '.choices[0].token_ids' "$T/chat")"
# each generated id has an entry: its text, 4 alternatives in order (greedy: the first is the chosen),
# bytes that are the text's UTF-8 (null for a token that is part of a character, its text U+FFFD)
if python3 - "$T/chat-lp" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))['choices'][0]
entries = c['logprobs']['content']
assert len(entries) == len(c['token_ids']) > 0
for e in entries + [t for e in entries for t in e['top_logprobs']]:
    assert (e['bytes'] is None and '\ufffd' in e['token']) or bytes(e['bytes']).decode() == e['token'], e
for e in entries:
    tops = [t['logprob'] for t in e['top_logprobs']]
    assert len(tops) == 4 and tops == sorted(tops, reverse=True) and tops[0] == e['logprob'], e
PY
then pass "chat logprobs: an entry per generated id, its bytes, 4 alternatives in order, the first the greedy token"
else fail "chat logprobs: an entry per generated id, its bytes, 4 alternatives in order, the first the greedy token" "$(head -c 600 "$T/chat-lp")"; fi
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 3, temperature: 0, logprobs: true}')"
check chat-logprobs-without-top "$(jq -c '[.choices[0].logprobs.content[].top_logprobs | length]' "$T/body")" "[0,0,0]"
# return_tokens_as_token_ids (vLLM's): every entry's token is "token_id:ID", its bytes that string's,
# the log-probabilities the same as without
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 20, temperature: 0, logprobs: true, top_logprobs: 4, return_tokens_as_token_ids: true}')"
check chat-logprobs-tokens-as-ids "$(jq -c --slurpfile a "$T/chat-lp" '.choices[0] as $c | $a[0].choices[0] as $w |
  [(.choices[0].logprobs.content | map(.token)) == ($c.token_ids | map("token_id:\(.)")),
   (.choices[0].logprobs.content | map(.bytes == (.token | explode))) == ($c.token_ids | map(true)),
   ([$c.logprobs.content[] | [.logprob, (.top_logprobs | map(.logprob))]] == [$w.logprobs.content[] | [.logprob, (.top_logprobs | map(.logprob))]]),
   ($c.logprobs.content[0].top_logprobs[0].token | test("^token_id:[0-9]+$"))]' "$T/body")" "[true,true,true,true]"
# ---- /v1/responses (docs/serving.md, "The Responses API"): the chat request it asks for (instructions
# its system message, an input_text part the user's content), its answer that chat's as a message item
# and usage; streamed, its events named on their event: lines, numbered from 0, the text's deltas
# joining into the answer and the last event the whole response; what it cannot do refused by name
RESP='{"instructions": "  Be brief. ", "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi there"}]}],
       "max_output_tokens": 20, "temperature": 0, "skip_special_tokens": false}'
post /v1/responses "$RESP"
cp "$T/body" "$T/resp"
check responses-as-chat "$CODE:$(jq -c --slurpfile c "$T/chat" '$c[0] as $c | [.object, (.id | startswith("resp_")),
  .status == (if $c.choices[0].finish_reason == "length" then "incomplete" else "completed" end), (.output | map(.type)),
  .output[0].content[0].text == $c.choices[0].message.content, .usage.input_tokens == $c.usage.prompt_tokens,
  .usage.output_tokens == $c.usage.completion_tokens, .usage.output_tokens_details.reasoning_tokens, .instructions,
  .max_output_tokens, .temperature == 0, .store]' "$T/resp")" \
  '200:["response",true,true,["message"],true,true,true,0,"  Be brief. ",20,true,false]'
curl -sN --max-time 60 "$U/v1/responses" -d "$(jq -c '. + {stream: true}' <<<"$RESP")" >"$T/rsse"
check responses-streamed "$(sed -n 's/^data: //p' "$T/rsse" | jq -sc --slurpfile w "$T/resp" --arg names "$(sed -n 's/^event: //p' "$T/rsse" | paste -sd,)" '
  [(map(.sequence_number) == [range(length)]), (map(.type) | join(",")) == $names, (map(.type) | .[0:4]),
   .[-1].type == "response." + $w[0].status, ([.[] | select(.type == "response.output_text.delta") | .delta] | add) == $w[0].output[0].content[0].text,
   (.[-1].response.output | map(del(.id))) == ($w[0].output | map(del(.id))), .[-1].response.usage == $w[0].usage]')" \
  '[true,true,["response.created","response.in_progress","response.output_item.added","response.content_part.added"],true,true,true,true]'
post /v1/responses '{"input": "Hi there", "max_output_tokens": 4, "temperature": 0, "top_k": 1, "seed": 3, "metadata": {"k": "v"}}'
check responses-string-input "$CODE:$(jq -c '[.output[0].role, .metadata, .tools, .tool_choice, .text.format.type]' "$T/body")" \
  '200:["assistant",{"k":"v"},[],"none","text"]'
refused responses-store 400 "field 'store': this server keeps no responses (start it with --store-responses N)" /v1/responses '{"input": "hi", "store": true}'
refused responses-previous 400 "field 'previous_response_id': this server keeps no responses" /v1/responses '{"input": "hi", "previous_response_id": "resp_1"}'
check responses-get-none-kept "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/responses/resp_1")" 404
refused responses-builtin-tool 400 "field 'tools': tools[0] of type 'web_search' is not supported (function tools are)" \
  /v1/responses '{"input": "hi", "tools": [{"type": "web_search"}]}'
refused responses-unknown-field 400 "unknown field 'frobnicate'" /v1/responses '{"input": "hi", "frobnicate": 1}'
refused responses-no-input 400 "missing field 'input'" /v1/responses '{"model": "tiny"}'
refused responses-image 400 "input[0]: 'content' must be a string or one {\"type\": \"input_text\", \"text\": ...} part" \
  /v1/responses '{"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}'
refused responses-item-type 400 "input[1]: items of type 'web_search_call' are not supported" \
  /v1/responses '{"input": [{"role": "user", "content": "hi"}, {"type": "web_search_call"}]}'
refused responses-reasoning-alone 400 "field 'input': a reasoning item must come before an assistant's message or function_call" \
  /v1/responses '{"input": [{"role": "user", "content": "hi"}, {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "x"}]}]}'
refused responses-max-output-tokens 400 "field 'max_output_tokens' must be an integer >= 1" /v1/responses '{"input": "hi", "max_output_tokens": 0}'
refused responses-summary 400 "field 'reasoning.summary' is not supported" /v1/responses '{"input": "hi", "reasoning": {"summary": "auto"}}'
refused responses-format-renamed 400 "field 'text.format': json_schema needs its 'schema'" \
  /v1/responses '{"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}'
refused responses-context 400 "this model's context is 4096 tokens" /v1/responses '{"input": "hi", "max_output_tokens": 5000}'
refused responses-messages-renamed 400 "input (as the chat messages it makes) messages[0]: the role 'developer' is not supported" \
  /v1/responses '{"input": [{"role": "developer", "content": "hi"}]}'
check responses-get-405 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/responses")" 405
# include's message.output_text.logprobs (top_logprobs 3): the chat's log-probabilities of the same
# request, whole; streamed, the deltas' entries joining into the done event's and the answer's
LPREQ=$(jq -c '. + {include: ["message.output_text.logprobs"], top_logprobs: 3}' <<<"$RESP")
post /v1/responses "$LPREQ"
cp "$T/body" "$T/rlp"
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 20, temperature: 0, logprobs: true, top_logprobs: 3}')"
check responses-logprobs "$(jq -c --slurpfile c "$T/body" '[.output[0].content[0].logprobs == $c[0].choices[0].logprobs.content,
  (.output[0].content[0].logprobs | length) == .usage.output_tokens, .top_logprobs]' "$T/rlp")" '[true,true,3]'
curl -sN --max-time 60 "$U/v1/responses" -d "$(jq -c '. + {stream: true}' <<<"$LPREQ")" >"$T/rsse"
check responses-logprobs-streamed "$(sed -n 's/^data: //p' "$T/rsse" | jq -sc --slurpfile w "$T/rlp" '$w[0].output[0].content[0].logprobs as $want |
  [([.[] | select(.type == "response.output_text.delta") | .logprobs[]] == $want),
   ([.[] | select(.type == "response.output_text.done") | .logprobs][0] == $want), (.[-1].response.output[0].content[0].logprobs == $want)]')" \
  '[true,true,true]'
refused responses-include-other 400 "field 'include': only \"message.output_text.logprobs\" is supported" \
  /v1/responses '{"input": "hi", "include": ["reasoning.encrypted_content"]}'
refused responses-top-logprobs-alone 400 "field 'top_logprobs' needs 'include'" /v1/responses '{"input": "hi", "top_logprobs": 2}'
refused chat-role-refused 400 "the role 'tool' is not supported" /v1/chat/completions '{"messages": [{"role": "tool", "content": "x"}]}'
refused chat-content-parts-refused 400 "messages[0]: content in 2 parts is not supported" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": " there"}]}]}'
# add_generation_prompt false: no assistant header; continue_final_message: the last message left open
# (the template trims its content, so the text ends at it, without its white space, as transformers
# cuts it): each the text's ids run alone
# chat_alone FILE TEXT END: the greedy ids of TEXT's ids (without the post-processor's BOS) run alone,
# to the first END, then ":" and the prompt's count
chat_alone() {
  local ids; ids=$("$TT" encode "$1" "$2" | cut -d, -f2-)
  echo "$("$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 12 2>/dev/null | tr ',' '\n' | awk -v e="$3" '$1 == e { exit } { print }' | paste -sd,):$(tr ',' '\n' <<<"$ids" | wc -l)"
}
chat_got() { jq -r '(.choices[0].token_ids | map(tostring) | join(",")) + ":" + (.usage.prompt_tokens | tostring)' "$T/body"; }
OPEN='[{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "  Sure, the answer is "}]'
post /v1/chat/completions "$(jq -nc --argjson m "$OPEN" '{messages: $m, max_tokens: 12, temperature: 0, add_generation_prompt: false, continue_final_message: true}')"
check chat-continue-final-message "$(chat_got)" \
  "$(chat_alone "$T/tok/tokenizer.json" $'<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nSure, the answer is' 603)"
post /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 12, "temperature": 0, "add_generation_prompt": false}'
check chat-no-generation-prompt "$(chat_got)" \
  "$(chat_alone "$T/tok/tokenizer.json" $'<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>' 603)"
refused chat-continue-with-generation-prompt 400 "fields 'add_generation_prompt' and 'continue_final_message' cannot both be true" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi"}], "continue_final_message": true}'
refused chat-generation-prompt-type 400 "field 'add_generation_prompt' must be a boolean" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": "no"}'
refused chat-continue-not-in-completions 400 "unknown field 'continue_final_message'" /v1/completions '{"prompt": "Hi", "continue_final_message": true}'
# vLLM's /tokenize (a completion's prompt, with its BOS unless add_special_tokens is false; a chat's
# messages as the template renders them, the count its usage.prompt_tokens) and /detokenize; and
# add_special_tokens in completions and chat (one BOS fewer, one more)
post /tokenize "$(jq -nc --arg p "$PROMPT" '{prompt: $p}')"
check tokenize-prompt "$(jq -c '[.count, (.tokens | map(tostring) | join(",")), .max_model_len, .token_strs]' "$T/body")" \
  "[$("$TT" encode "$T/tok/tokenizer.json" "$PROMPT" | tr ',' '\n' | wc -l),\"$("$TT" encode "$T/tok/tokenizer.json" "$PROMPT")\",4096,null]"
post /tokenize "$(jq -nc --arg p "$PROMPT" '{model: "tiny", prompt: $p, add_special_tokens: false}')"
check tokenize-without-special "$(jq -r '.tokens | map(tostring) | join(",")' "$T/body")" "$("$TT" encode "$T/tok/tokenizer.json" "$PROMPT" | cut -d, -f2-)"
post /detokenize "$(jq -c '{tokens: .tokens}' "$T/body")"
check detokenize-round-trip "$(jq -r .prompt "$T/body")" "$PROMPT"
post /tokenize "$(jq -nc --argjson m "$MSGS" '{messages: $m}')"
check tokenize-chat "$(jq -r '(.tokens | map(tostring) | join(",")) + ":" + (.count | tostring)' "$T/body")" \
  "$("$TT" encode "$T/tok/tokenizer.json" "$TEMPLATE" | cut -d, -f2-):$(jq .usage.prompt_tokens "$T/chat")"
post /tokenize "$(jq -nc --argjson m "$OPEN" '{messages: $m, add_generation_prompt: false, continue_final_message: true}')"
check tokenize-chat-continue "$(jq -r '.tokens | map(tostring) | join(",")' "$T/body")" \
  "$("$TT" encode "$T/tok/tokenizer.json" $'<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nSure, the answer is' | cut -d, -f2-)"
post /detokenize '{"tokens": [601, 86, 272, 83, 602]}'
check detokenize-special-kept "$(jq -r .prompt "$T/body")" "<|start_header_id|>user<|end_header_id|>"
post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 1, add_special_tokens: false}')"
check completion-without-special-tokens "$(jq .usage.prompt_tokens "$T/body")" "$(("$(jq .usage.prompt_tokens "$T/greedy")" - 1))"
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 1, add_special_tokens: true}')"
check chat-with-special-tokens "$(jq .usage.prompt_tokens "$T/body")" "$(("$(jq .usage.prompt_tokens "$T/chat")" + 1))"
CODE=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 60 "$U/tokenize")
check tokenize-takes-post "$CODE:$(jq -r .error.message "$T/body")" "405:/tokenize takes POST"
post /tokenize "$(jq -nc --arg p "$PROMPT" '{prompt: $p, return_token_strs: true}')"
check tokenize-token-strs "$(jq -c '[(.token_strs | length) == .count, .token_strs[0], .token_strs[1]]' "$T/body")" \
  "[true,\"<|begin_of_text|>\",\"H\"]"   # the BOS's content, then the vocabulary's strings
refused tokenize-generation-field 400 "unknown field 'max_tokens'" /tokenize '{"prompt": "x", "max_tokens": 3}'
refused tokenize-no-prompt 400 "missing field 'prompt' (or 'messages')" /tokenize '{}'
refused detokenize-no-tokens 400 "missing field 'tokens'" /detokenize '{"model": "tiny"}'
refused detokenize-past-vocab 400 "field 'tokens': element 1 is not a token id in [0, 604)" /detokenize '{"tokens": [1, 604]}'
refused detokenize-other-model 404 "the model 'x' does not exist" /detokenize '{"model": "x", "tokens": [1]}'

# ---- chat with the checkpoint's own template ($T/chatml, above)
start chatml --tokenizer "$T/chatml" || exit 1
# documents that the template does not read would not reach the model: refused (here, and by hand below)
refused chat-documents-unread 400 "field 'documents': the chat template $T/chatml/tokenizer_config.json does not read them" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "documents": [{"text": "x"}]}'
CHATML=$'<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n'
ids=$("$TT" encode "$T/chatml/tokenizer.json" "$CHATML" | cut -d, -f2-)   # without the post-processor's BOS
"$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 20 >"$T/alone" 2>/dev/null
want=$(tr ',' '\n' <"$T/alone" | awk '$1 == 602 { exit } { print }' | paste -sd,)
post /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi there"}], "max_tokens": 20, "temperature": 0}'
check chat-config-template-ids-equal-run-alone "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body"):$(jq '.usage.prompt_tokens' "$T/body")" \
  "$want:$(tr ',' '\n' <<<"$ids" | wc -l)"
refused chat-config-template-raise-exception 400 "the chat template refuses the messages: the last message must not be the assistant's" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}'
# continue_final_message through a template that keeps the content as it is (the tag's space kept:
# the text is cut at the tag exactly, the content's trailing space kept)
post /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi the "}], "max_tokens": 12, "temperature": 0, "add_generation_prompt": false, "continue_final_message": true}'
check chat-config-template-continue "$(chat_got)" \
  "$(chat_alone "$T/chatml/tokenizer.json" $'<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi the ' 602)"
kill -TERM "$SPID"; wait "$SPID"
# Llama 3.1 Instruct's own template (tools, builtin_tools, date_string, namespace; rendered without
# tools, its "Cutting Knowledge Date" header with the fixed date): the template's ids run alone.
# llama_checkpoint NAME VERSION: $T/NAME, Llama 3.1's tokenizer and the Llama VERSION template, served.
llama_checkpoint() {
  mkdir -p "$T/$1"
  cp "$T/tok31/tokenizer.json" "$T/$1/"
  jq -n --rawfile t "tests/tokenizer/fixtures/chat/llama$2.jinja" \
    '{chat_template: $t, bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>"}' >"$T/$1/tokenizer_config.json"
  start "$1" --tokenizer "$T/$1"
}
llama_checkpoint llama31cfg 3.1 || exit 1
L31=$'<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'
ids=$("$TT" encode "$T/llama31cfg/tokenizer.json" "$L31" | cut -d, -f2-)
want=$("$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 20 2>/dev/null | tr ',' '\n' | awk '$1 == 603 { exit } { print }' | paste -sd,)
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 20, temperature: 0}')"
check chat-llama31-template-ids-equal-run-alone "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body"):$(jq '.usage.prompt_tokens' "$T/body")" \
  "$want:$(tr ',' '\n' <<<"$ids" | wc -l)"
check chat-llama31-template-no-warning "$(grep -c 'mixrun serve: warning' "$T/llama31cfg.err")" 0
# chat_template_kwargs (vLLM's): Llama 3.1's date_string replaces its "26 Jul 2024"; a name the
# template does not read is ignored (as vLLM's rendering ignores it); the names the server sets and
# wrong types are refused
post /tokenize "$(jq -nc --argjson m "$MSGS" '{messages: $m, chat_template_kwargs: {date_string: "01 Dec 2026", enable_thinking: false}}')"
check chat-template-kwargs-date "$(jq -r '.tokens | map(tostring) | join(",")' "$T/body")" \
  "$("$TT" encode "$T/llama31cfg/tokenizer.json" "${L31/26 Jul 2024/01 Dec 2026}" | cut -d, -f2-)"
count=$(jq .count "$T/body")
post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 1, chat_template_kwargs: {date_string: "01 Dec 2026", tools_in_user_message: false}}')"
check chat-template-kwargs-chat "$CODE:$(jq .usage.prompt_tokens "$T/body")" "200:$count"
refused chat-template-kwargs-set-by-server 400 "field 'chat_template_kwargs': 'bos_token' is not taken here" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"bos_token": "x"}}'
refused chat-template-kwargs-type 400 "fails at chat_template:32:20: the operator '+' on a string and an integer is not supported" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"date_string": 5}}'
refused chat-template-kwargs-not-object 400 "field 'chat_template_kwargs' must be an object" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": []}'
refused chat-template-kwargs-not-in-completions 400 "unknown field 'chat_template_kwargs'" /v1/completions '{"prompt": "hi", "chat_template_kwargs": {}}'
refused chat-tools-auto-needs-parser 400 'tool_choice "auto" (the default with tools) needs the server started with --tool-call-parser' \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}]}'
# "tools": [] reaches the template as [] (its "Environment: ipython" header), as jinja2 rendered it
jq -c '.cases[] | select(.name == "llama3.1-system-user-tools-empty")' tests/tokenizer/fixtures/chat_templates.json >"$T/case"
text=$(jq -j .expected "$T/case"; echo x)
ids=$("$TT" encode "$T/llama31cfg/tokenizer.json" "${text%x}" | cut -d, -f2-)
want=$("$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 8 2>/dev/null)
post /v1/chat/completions "$(jq -c '{messages: .messages, tools: [], max_tokens: 8, temperature: 0, ignore_eos: true}' "$T/case")"
check chat-llama31-tools-empty-as-jinja2 "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body"):$(jq '.usage.prompt_tokens' "$T/body")" \
  "$want:$(tr ',' '\n' <<<"$ids" | wc -l)"
# Tool calling's request side (docs/serving.md, "Tool calling"): the tools, an assistant's tool call
# and a tool's answer, sent as OpenAI clients send them (arguments as JSON text, description and
# parameters left out), render as jinja2 rendered vLLM's forms of them (tests/tokenizer fixtures);
# chat_template_kwargs of a list too (builtin_tools).
# tokenize_as_jinja2 NAME CASE TOKENIZER_DIR: /tokenize of the case's request (test_tools writes it,
# the tools with their nulls) equals its jinja2 text's ids; the request in $T/request. (Fields are
# added to it as text: jq 1.6 would write its -0.0 as -0.)
with_fields() { sed "s/}\$/, $1}/" "$T/request"; }
tokenize_as_jinja2() {
  "$BUILD/tests/http/test_tools" --request tests/tokenizer/fixtures/chat_templates.json "$2" >"$T/request"
  local text; text=$(jq -j --arg n "$2" '.cases[] | select(.name == $n) | .expected' tests/tokenizer/fixtures/chat_templates.json; echo x)
  text=${text//September 05, 2024/$(LC_ALL=C date '+%B %d, %Y')}   # the fixtures' strftime_now clock: the server's is now
  text=${text//Current date: 2024-09-05/Current date: $(date '+%Y-%m-%d')}   # gpt-oss' form of it
  post /tokenize "$(cat "$T/request")"
  check "$1" "$CODE:$(jq -r '.tokens | map(tostring) | join(",")' "$T/body")" \
    "200:$("$TT" encode "$3/tokenizer.json" "${text%x}" | cut -d, -f2-)"
}
tokenize_as_jinja2 chat-llama31-tool-call-as-jinja2 llama3.1-tool-call-tools "$T/llama31cfg"
tokenize_as_jinja2 chat-llama31-builtin-tools-kwargs-as-jinja2 llama3.1-tool-call-tools-builtin "$T/llama31cfg"
tokenize_as_jinja2 chat-llama31-tools-in-system-as-jinja2 llama3.1-tool-call-tools-user-tools "$T/llama31cfg"
# tool_choice "none": the tools rendered, the answer text (no parser on this server)
post /v1/chat/completions "$(with_fields '"max_tokens": 4, "tool_choice": "none"')"
check chat-tools-choice-none-runs "$CODE:$(jq -r '.choices[0].message | has("tool_calls")' "$T/body")" "200:false"
refused chat-tools-required-needs-tools 400 "field 'tool_choice': \"required\" needs 'tools'" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}], "tools": [], "tool_choice": "required"}'
refused chat-tools-named-needs-tools 400 "field 'tool_choice': a named function needs 'tools'" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}], "tools": [], "tool_choice": {"type": "function", "function": {"name": "f"}}}'
refused chat-tools-auto-needs-tools 400 "field 'tool_choice': \"auto\" needs 'tools'" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"}'
refused chat-tools-bad-tool 400 "field 'tools': tools[0] must be" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "retrieval"}], "tool_choice": "none"}'
refused chat-tools-strict-auto-refused 400 "a tool's \"strict\": true needs tool_choice \"required\" or a named function" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "strict": true}}], "tool_choice": "auto"}'
refused chat-tools-strict-not-bool 400 "'strict' a boolean" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "strict": 1}}], "tool_choice": "none"}'
post /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "strict": true}}], "tool_choice": "none", "max_tokens": 1}'
check chat-tools-strict-none-runs "$CODE" 200
refused chat-tools-parameters-not-object 400 "'parameters' an object" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}], "tools": [{"function": {"name": "f", "parameters": []}}], "tool_choice": "none"}'
refused chat-tool-calls-of-user 400 "messages[0]: 'tool_calls' is an array, of an assistant's message" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi", "tool_calls": []}]}'
refused chat-tool-call-arguments-not-json 400 "messages[1]: tool_calls[0].function.arguments is not JSON" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{x"}}]}, {"role": "user", "content": "ok"}]}'
refused chat-tool-call-id-of-user 400 "'tool_call_id' is a string, of a tool's message" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi", "tool_call_id": "x"}]}'
refused chat-message-unknown-field 400 "messages[0]: the field 'audio' is not supported" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "hi", "audio": {}}]}'
kill -TERM "$SPID"; wait "$SPID"
# chat_stream BODY: /v1/chat/completions streamed, its events in $T/sse.
chat_stream() {
  curl -s -N --max-time 60 -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/v1/chat/completions" \
    --data-binary "$1" >"$T/sse"
}
# call_tokenizer DIR TEXT: DIR/tokenizer.json, ChatML's with token 603 the added text TEXT (not special).
call_tokenizer() {
  mkdir -p "$1"
  jq --arg text "$2" '.added_tokens += [{"id": 603, "content": $text, "single_word": false, "lstrip": false,
                                        "rstrip": false, "normalized": false, "special": false}]' \
    "$T/chatml/tokenizer.json" >"$1/tokenizer.json"
}
# Tool calling's answer side (the parsers themselves: test_tools.c): Qwen 2.5's template with
# --tool-call-parser hermes. The tools render as jinja2 rendered them; tool_choice "auto" (the default
# with tools) reads the answer: this model's text holds no call, so the answer is its text, the same
# as tool_choice "none"'s, whole or streamed (the stream holds back nothing at the end). Token 603
# is a whole call as text (an added token, not special), which logit_bias makes the model write.
call_tokenizer "$T/qwen25" $'<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2.50}}\n</tool_call>'
jq -n --rawfile t tests/tokenizer/fixtures/chat/qwen2.5.jinja '{chat_template: $t, eos_token: "<|im_end|>"}' >"$T/qwen25/tokenizer_config.json"
start qwen25 --tokenizer "$T/qwen25" --tool-call-parser hermes || exit 1
tokenize_as_jinja2 chat-qwen25-parallel-calls-as-jinja2 qwen2.5-parallel-calls-tools "$T/qwen25"
fields='"max_tokens": 24, "temperature": 0, "ignore_eos": true'
post /v1/chat/completions "$(with_fields "$fields, \"tool_choice\": \"none\"")"
none=$(jq -r '.choices[0].message.content' "$T/body")
post /v1/chat/completions "$(with_fields "$fields")"
check chat-hermes-auto-text-as-none "$CODE:$(jq -r '.choices[0].message.content' "$T/body"):$(jq -r '.choices[0].finish_reason' "$T/body")" \
  "200:$none:length"
chat_stream "$(with_fields "$fields, \"stream\": true")"
check chat-hermes-auto-stream-text "$(sse_text "$T/sse" '.choices[0].delta.content'):$(grep -c tool_calls "$T/sse")" "$none:0"
# the model writes token 603 twice: two calls, their arguments as Python's json.dumps writes them,
# content null, finish_reason tool_calls, two ids; streamed, they come whole in the last chunk
fields='"max_tokens": 2, "temperature": 0, "logit_bias": {"603": 100}'
post /v1/chat/completions "$(with_fields "$fields")"
check chat-hermes-two-calls "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.content, [.message.tool_calls[] | .type, .function.name,
  .function.arguments], (.message.tool_calls | map(.id) | unique | length)]' "$T/body")" \
  '200:["tool_calls",null,["function","get_weather","{\"city\": \"Paris\", \"days\": 2.5}","function","get_weather","{\"city\": \"Paris\", \"days\": 2.5}"],2]'
chat_stream "$(with_fields "$fields, \"stream\": true")"
check chat-hermes-two-calls-streamed "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -c 'select(.choices[0].delta.tool_calls) | .choices[0] |
  [.finish_reason, [.delta.tool_calls[] | .index, .function.name, .function.arguments]]'):$(sse_text "$T/sse" '.choices[0].delta.content')" \
  '["tool_calls",[0,"get_weather","{\"city\": \"Paris\", \"days\": 2.5}",1,"get_weather","{\"city\": \"Paris\", \"days\": 2.5}"]]:'
# /v1/responses with function tools (the Responses shape: flat) on this server: the two calls as
# function_call items (logit_bias, vLLM's extension here too), whole and streamed (each call's
# arguments done, the last event's output the same); a conversation's function_call and
# function_call_output items render as the chat's assistant tool_calls and tool message
RT='{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}'
RBODY="{\"input\": \"Weather?\", \"tools\": [$RT], \"max_output_tokens\": 2, \"temperature\": 0, \"logit_bias\": {\"603\": 100}}"
post /v1/responses "$RBODY"
cp "$T/body" "$T/rcalls"
check responses-function-calls "$CODE:$(jq -c '[.status, [.output[] | .type, .name, .arguments, .status], (.output | map(.call_id) | unique | length),
  .tools[0].name, .tool_choice]' "$T/rcalls")" \
  '200:["completed",["function_call","get_weather","{\"city\": \"Paris\", \"days\": 2.5}","completed","function_call","get_weather","{\"city\": \"Paris\", \"days\": 2.5}","completed"],2,"get_weather","auto"]'
curl -sN --max-time 60 "http://127.0.0.1:$PORT/v1/responses" -d "${RBODY%\}}, \"stream\": true}" >"$T/rsse"
check responses-function-calls-streamed "$(sed -n 's/^data: //p' "$T/rsse" | jq -sc --slurpfile w "$T/rcalls" '[
  [.[] | select(.type == "response.function_call_arguments.done") | .arguments],
  (.[-1].response.output | map(del(.call_id, .id))) == ($w[0].output | map(del(.call_id, .id)))]')" \
  '[["{\"city\": \"Paris\", \"days\": 2.5}","{\"city\": \"Paris\", \"days\": 2.5}"],true]'
CONV='[{"role": "user", "content": "Weather?"}, {"type": "function_call", "call_id": "c1", "name": "get_weather",
        "arguments": "{\"city\": \"Paris\"}"}, {"type": "function_call_output", "call_id": "c1", "output": "sunny"}]'
post /v1/responses "$(jq -nc --argjson i "$CONV" --argjson t "[$RT]" '{input: $i, tools: $t, tool_choice: "none", max_output_tokens: 1, temperature: 0}')"
a=$(jq '.usage.input_tokens' "$T/body")
post /tokenize "$(jq -nc --argjson t "[$RT]" '{messages: [{role: "user", content: "Weather?"}, {role: "assistant", content: null,
  tool_calls: [{id: "c1", type: "function", function: {name: "get_weather", arguments: "{\"city\": \"Paris\"}"}}]},
  {role: "tool", tool_call_id: "c1", content: "sunny"}], tools: ($t | map({type: "function", function: del(.type)}))}')"
b=$(jq '.count' "$T/body")
post /tokenize "$(jq -nc '{messages: [{role: "user", content: "Weather?"}]}')"
check responses-conversation-items "$a:$([ "$a" -gt "$(jq .count "$T/body")" ] && echo longer)" "$b:longer"
refused responses-logprobs-with-tools 400 "field 'include': the message's log-probabilities need every generated token to be the message's" \
  /v1/responses "{\"input\": \"hi\", \"tools\": [$RT], \"include\": [\"message.output_text.logprobs\"]}"
# ---- structured outputs (docs/serving.md, "Structured outputs"): random weights sampling at
# temperature 1, yet each answer is JSON that its schema validates: response_format json_object and
# json_schema, tool_choice "required" (a list of calls: finish_reason tool_calls) and a named function
# (its arguments: finish_reason stop); a stream joins into the whole answer; what the guide cannot
# compute exactly is refused by name
W='{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city":
  {"type": "string", "maxLength": 12}, "days": {"type": "integer", "minimum": 1, "maximum": 14}}, "required": ["city", "days"]}}}'
NOW='{"type": "function", "function": {"name": "now"}}'
WEATHER='(.city | type == "string" and length <= 12) and (.days | type == "number" and floor == . and . >= 1 and . <= 14) and (keys - ["city", "days"] == [])'
guided() { printf '{"messages": [{"role": "user", "content": "Weather in Paris?"}], "max_tokens": 400, "temperature": 1, "seed": %s, %s}' "$1" "$2"; }
# (any object: its strings are as long as the model makes them, so some answers reach max_tokens)
got=
for seed in 1 2 3 4 5; do
  post /v1/chat/completions "$(guided $seed '"response_format": {"type": "json_object"}')"
  got+=$(jq -r '.choices[0] | if .finish_reason == "stop" then (.message.content | fromjson | type) else .finish_reason end' "$T/body" 2>&1)" "
done
[[ "$got" =~ ^((object|length)\ )+$ && "$got" == *object*object* ]] && pass guided-json-object ||
  fail guided-json-object "got: $got" "want: objects (at least two), or answers cut at max_tokens"
got=
for seed in 1 2 3 4 5; do
  post /v1/chat/completions "$(guided $seed "\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"w\", \"schema\": $(jq -c .function.parameters <<<"$W")}}")"
  got+=$(jq -r ".choices[0] | [.finish_reason, (.message.content | fromjson | $WEATHER)] | @tsv" "$T/body" 2>&1)" "
done
check guided-json-schema "$got" "$(printf 'stop\ttrue %.0s' 1 2 3 4 5)"
body=$(guided 3 "\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"w\", \"schema\": $(jq -c .function.parameters <<<"$W")}}")
post /v1/chat/completions "$body"
whole=$(jq -r '.choices[0].message.content' "$T/body")
chat_stream "${body%\}}, \"stream\": true}"
check guided-json-schema-streamed "$(sse_text "$T/sse" '.choices[0].delta.content')" "$whole"
# (the list may go on: some answers reach max_tokens, and stay text)
got=
for seed in 1 2 3 4 5; do
  post /v1/chat/completions "$(guided $seed "\"tools\": [$W, $NOW], \"tool_choice\": \"required\"")"
  got+=$(jq -r ".choices[0] | if .finish_reason == \"length\" then \"length\" else ([.finish_reason, .message.content,
    (.message.tool_calls | length > 0 and all(.[]; (.function.name == \"now\" and .function.arguments == \"{}\") or
    (.function.name == \"get_weather\" and (.function.arguments | fromjson | $WEATHER))))] | join(\",\")) end" "$T/body" 2>&1)" "
done
[[ "$got" =~ ^((tool_calls,,true|length)\ )+$ && "$got" == *tool_calls*tool_calls*tool_calls* ]] && pass guided-tool-choice-required ||
  fail guided-tool-choice-required "got: $got" "want: tool_calls,,true (at least three), or length"
body=$(guided 4 "\"tools\": [$W, $NOW], \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}")
post /v1/chat/completions "$body"
check guided-tool-choice-named "$(jq -r ".choices[0] | [.finish_reason, .message.content, (.message.tool_calls | length),
  .message.tool_calls[0].function.name, (.message.tool_calls[0].function.arguments | fromjson | $WEATHER)] | @tsv" "$T/body" 2>&1)" \
  "$(printf 'stop\t\t1\tget_weather\ttrue')"
# streamed (vLLM's): the call's arguments as they come, the first delta with its id, type and name,
# the others its arguments alone; joined, the whole answer's; no content; the end "stop"
whole=$(jq -c '.choices[0] | [.message.tool_calls[0].function.name, "function", "string", true,
  .message.tool_calls[0].function.arguments, true, .finish_reason, ""]' "$T/body")
chat_stream "${body%\}}, \"stream\": true}"
check guided-tool-choice-named-streamed "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -s -c '[.[] | .choices[0]? // empty] as $c |
  [$c[] | .delta.tool_calls // empty | .[0]] as $d | [$d[0].function.name, $d[0].type, ($d[0].id | type),
  ($d[1:] | all(has("id") or has("type") or (.function | has("name")) | not)), ([$d[].function.arguments] | join("")),
  ($d | length > 2 and all(.index == 0)), ($c | last | .finish_reason), ([$c[] | .delta.content // empty] | join(""))]')" "$whole"
# parallel_tool_calls false: "required" keeps to one call (under "auto" it is refused, below)
got=
for seed in 1 2 3 4 5; do
  post /v1/chat/completions "$(guided $seed "\"tools\": [$W, $NOW], \"tool_choice\": \"required\", \"parallel_tool_calls\": false")"
  got+=$(jq -r '.choices[0] | if .finish_reason == "length" then "length" else "\(.finish_reason),\(.message.tool_calls | length)" end' "$T/body")" "
done
[[ "$got" =~ ^((tool_calls,1|length)\ )+$ && "$got" == *tool_calls*tool_calls* ]] && pass guided-required-one-call ||
  fail guided-required-one-call "got: $got" "want: tool_calls,1 (at least twice), or length"
# cut at max_tokens: a required answer that is no list yet stays text (finish_reason length)
post /v1/chat/completions "$(guided 1 "\"tools\": [$W], \"tool_choice\": \"required\"" | sed 's/"max_tokens": 400/"max_tokens": 2/')"
check guided-required-cut "$(jq -r '.choices[0] | [.finish_reason, (.message.tool_calls | length), (.message.content | length > 0)] | @tsv' "$T/body")" \
  "$(printf 'length\t0\ttrue')"
post /v1/completions '{"prompt": "The weather:", "max_tokens": 400, "temperature": 1, "seed": 2, "response_format": {"type":
  "json_schema", "json_schema": {"name": "n", "schema": {"type": "array", "items": {"enum": ["sun", "rain", 3]}, "minItems": 2, "maxItems": 3}}}}'
check guided-completions "$(jq -r '.choices[0] | [.finish_reason, (.text | fromjson | length >= 2 and length <= 3 and all(.[]; . == "sun" or . == "rain" or . == 3))] | @tsv' "$T/body" 2>&1)" \
  "$(printf 'stop\ttrue')"
# with logprobs: of the logits the mask leaves (vLLM's), a token it takes out at -9999.0 (its stand-in for -inf)
post /v1/chat/completions "$(guided 2 '"response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": {"type": "boolean"}}}, "logprobs": true, "top_logprobs": 20')"
check guided-logprobs "$(jq -r '.choices[0] | [.finish_reason, (.message.content | fromjson | type), ([.logprobs.content[] | .logprob > -9999] | all),
  ([.logprobs.content[].top_logprobs[] | .logprob] | any(. == -9999))] | @tsv' "$T/body")" "$(printf 'stop\tboolean\ttrue\ttrue')"
# vLLM's structured_outputs: a choice (the answer one of the texts, as they are), json (an object or
# its JSON text), json_object
got=
for seed in 1 2 3 4; do
  post /v1/chat/completions "$(guided $seed '"structured_outputs": {"choice": ["sunny", "rainy day", "\u96ea", "sun"]}')"
  got+="$(jq -r '.choices[0] | [.finish_reason, .message.content] | @tsv' "$T/body")|"
done
[[ "$got" =~ ^((stop$'\t'(sunny|rainy\ day|雪|sun))\|)+$ ]] && pass guided-structured-outputs-choice ||
  fail guided-structured-outputs-choice "got: $got" "want: stop and one of the choices, each time"
post /v1/completions '{"prompt": "Sky:", "max_tokens": 20, "temperature": 1, "seed": 7, "structured_outputs": {"choice": ["blue", "grey"]}}'
check guided-structured-outputs-choice-completions "$(jq -r '.choices[0] | [.finish_reason, (.text == "blue" or .text == "grey")] | @tsv' "$T/body")" \
  "$(printf 'stop\ttrue')"
# n choices share the request's grammar, each its own guide
post /v1/completions '{"prompt": "Sky:", "max_tokens": 20, "temperature": 1, "seed": 8, "n": 3, "structured_outputs": {"regex": "(blue|grey)-[0-9]"}}'
check guided-structured-outputs-n-choices "$(jq -r '[.choices[] | .finish_reason == "stop" and (.text | test("^(blue|grey)-[0-9]$"))] | map(tostring) | join(" ")' "$T/body")" \
  "true true true"
post /v1/chat/completions "$(guided 2 "\"structured_outputs\": {\"json\": $(jq -c '.function.parameters | tojson' <<<"$W")}")"
check guided-structured-outputs-json-text "$(jq -r ".choices[0] | [.finish_reason, (.message.content | fromjson | $WEATHER)] | @tsv" "$T/body" 2>&1)" \
  "$(printf 'stop\ttrue')"
# structured_outputs' regex: the whole answer matches it (Python's fullmatch), streamed as it is made
got=
for seed in 1 2 3 4; do
  post /v1/chat/completions "$(guided $seed '"structured_outputs": {"regex": "[A-Z][a-z]{2,6}-\\d{3}( ok)?"}')"
  got+="$(jq -r '.choices[0] | [.finish_reason, .message.content] | @tsv' "$T/body")|"
done
[[ "$got" =~ ^((stop$'\t'[A-Z][a-z]{2,6}-[0-9]{3}(\ ok)?)\|)+$ ]] && pass guided-structured-outputs-regex ||
  fail guided-structured-outputs-regex "got: $got" "want: stop and a text the regex matches whole, each time"
body='{"prompt": "Answer:", "max_tokens": 60, "temperature": 1, "seed": 3, "structured_outputs": {"regex": "(yes|no)\\n[0-9]{1,3}"}}'
post /v1/completions "$body"
whole=$(jq -c '.choices[0] | [.finish_reason, .text]' "$T/body")
curl -sN --max-time 60 "http://127.0.0.1:$PORT/v1/completions" -d "${body%\}}, \"stream\": true}" >"$T/sse"
check guided-structured-outputs-regex-completions "$(jq -r '.[0] + " " + (.[1] | test("^(yes|no)\n[0-9]{1,3}$") | tostring)' <<<"$whole")" "stop true"
check guided-structured-outputs-regex-streamed "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -s -c '[[.[].choices[0]?.finish_reason // empty][0],
  ([.[].choices[0]?.text // empty] | join(""))]')" "$whole"
# structured_outputs' grammar (GBNF): the whole answer is its root rule's text
got=
for seed in 1 2 3; do
  post /v1/chat/completions "$(guided $seed '"structured_outputs": {"grammar": "root ::= answer (\"; \" answer){0,2}\nanswer ::= (\"yes\" | \"no\") \" \" [0-9]{1,3}"}')"
  got+="$(jq -r '.choices[0] | [.finish_reason, .message.content] | @tsv' "$T/body")|"
done
[[ "$got" =~ ^((stop$'\t'(yes|no)\ [0-9]{1,3}(\;\ (yes|no)\ [0-9]{1,3}){0,2})\|)+$ ]] && pass guided-structured-outputs-grammar ||
  fail guided-structured-outputs-grammar "got: $got" "want: stop and a text of the grammar, each time"
fmt() { printf '{"messages": [{"role": "user", "content": "hi"}], %s}' "$1"; }
refused guided-refused-structured-tag 400 "field 'structured_outputs': 'structural_tag' is not supported (only json, json_object, choice, regex and grammar)" \
  /v1/chat/completions "$(fmt '"structured_outputs": {"structural_tag": "{}"}')"
refused guided-refused-grammar-left-recursion 400 "field 'structured_outputs': 'grammar' line 1, column 1: left recursion through the rule 'root'" \
  /v1/chat/completions "$(fmt '"structured_outputs": {"grammar": "root ::= root \"a\" | \"b\""}')"
refused guided-refused-structured-regex-syntax 400 "field 'structured_outputs': 'regex' a(?i)b: a group '(?' other than '(?:'" \
  /v1/chat/completions "$(fmt '"structured_outputs": {"regex": "a(?i)b"}')"
refused guided-refused-structured-regex-type 400 "field 'structured_outputs': 'regex' must be a string" \
  /v1/chat/completions "$(fmt '"structured_outputs": {"regex": ["a"]}')"
refused guided-refused-structured-two 400 "'json' and 'choice' cannot both be given" \
  /v1/chat/completions "$(fmt '"structured_outputs": {"json": {}, "choice": ["a"]}')"
refused guided-refused-structured-and-format 400 "fields 'response_format' and 'structured_outputs' cannot both guide the answer" \
  /v1/chat/completions "$(fmt '"structured_outputs": {"json_object": true}, "response_format": {"type": "json_object"}')"
refused guided-refused-choice-empty 400 "'choice' must be a non-empty array of non-empty strings" \
  /v1/chat/completions "$(fmt '"structured_outputs": {"choice": ["a", ""]}')"
schema_of() { printf '"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": %s}}' "$1"; }
refused guided-refused-pattern 400 "other than '(?:' is not supported (lookarounds, named groups, flags)" \
  /v1/chat/completions "$(fmt "$(schema_of '{"type": "string", "pattern": "^(?=a)a+$"}')")"
refused guided-refused-format 400 "field 'response_format': the format 'email' is not supported" \
  /v1/chat/completions "$(fmt "$(schema_of '{"type": "string", "format": "email"}')")"
refused guided-refused-tool-multiple-of 400 "field 'tool_choice': 'multipleOf' of an integer must be a whole number from 1 to 1e17 (a fraction is not supported)" \
  /v1/chat/completions "$(with_fields '"tool_choice": "required"')"
refused guided-refused-named-unknown 400 "field 'tool_choice': the function 'nope' is not one of 'tools'" \
  /v1/chat/completions "$(fmt "\"tools\": [$W], \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"nope\"}}")"
refused guided-refused-required-no-tools 400 "field 'tool_choice': \"required\" needs 'tools'" \
  /v1/chat/completions "$(fmt '"tool_choice": "required"')"
refused guided-refused-one-call-auto 400 "field 'parallel_tool_calls': false is not supported with tool_choice \"auto\"" \
  /v1/chat/completions "$(fmt "\"tools\": [$W], \"parallel_tool_calls\": false")"
refused guided-refused-both 400 "cannot both guide the answer" \
  /v1/chat/completions "$(fmt "\"tools\": [$W], \"tool_choice\": \"required\", \"response_format\": {\"type\": \"json_object\"}")"
refused guided-refused-with-auto-tools 400 "field 'response_format': with tools, set tool_choice \"none\"" \
  /v1/chat/completions "$(fmt "\"tools\": [$W], \"response_format\": {\"type\": \"json_object\"}")"
refused guided-refused-min-tokens 400 "guided decoding with min_tokens is not supported" \
  /v1/chat/completions "$(fmt '"min_tokens": 2, "response_format": {"type": "json_object"}')"
refused guided-refused-ignore-eos 400 "not with ignore_eos" \
  /v1/chat/completions "$(fmt '"ignore_eos": true, "response_format": {"type": "json_object"}')"
refused guided-refused-shape 400 "field 'response_format' must be {\"type\": \"text\"}" \
  /v1/chat/completions "$(fmt '"response_format": {"type": "json_schema"}')"
refused guided-refused-no-name 400 "json_schema needs its 'name'" \
  /v1/chat/completions "$(fmt '"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}')"
refused guided-refused-tool-choice-shape 400 "field 'tool_choice' must be \"none\", \"auto\", \"required\"" \
  /v1/chat/completions "$(fmt "\"tools\": [$W], \"tool_choice\": {\"type\": \"function\"}")"
kill -TERM "$SPID"; wait "$SPID"
# Qwen 3's template (reasoning kept for the last query only; str's methods, a reversed slice):
# chat_template_kwargs' enable_thinking false writes the empty <think> block, as jinja2 rendered it
mkdir -p "$T/qwen3"
cp "$T/chatml/tokenizer.json" "$T/qwen3/"
jq -n --rawfile t tests/tokenizer/fixtures/chat/qwen3.jinja '{chat_template: $t, eos_token: "<|im_end|>"}' >"$T/qwen3/tokenizer_config.json"
start qwen3 --tokenizer "$T/qwen3" || exit 1
tokenize_as_jinja2 chat-qwen3-enable-thinking-false-as-jinja2 qwen3-thinking-tools-no-thinking "$T/qwen3"
tokenize_as_jinja2 chat-qwen3-enable-thinking-true-as-jinja2 qwen3-thinking-tools-thinking "$T/qwen3"
# an assistant's "reasoning" reaches the template as reasoning_content too (vLLM's): Qwen 3's renders it
tokenize_as_jinja2 chat-qwen3-reasoning-field-as-jinja2 qwen3-reasoning-field-tools "$T/qwen3"
refused chat-reasoning-content-field 400 "messages[1]: the field 'reasoning_content' is not supported (vLLM's is 'reasoning'" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a", "reasoning_content": "r"}]}'
refused chat-reasoning-of-user 400 "messages[0]: 'reasoning' is a string, of an assistant's message" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi", "reasoning": "r"}]}'
kill -TERM "$SPID"; wait "$SPID"
# --reasoning-parser end to end: token 603 a whole thought and answer, which logit_bias makes the
# model write; qwen3: the model opened the block (reasoning, then content), whole or streamed;
# deepseek_r1 with hermes: the template opened it, the content a tool call
call_tokenizer "$T/qwen3r" $'<think>\nplan\n</think>\n\nAnswer.'
cp "$T/qwen3/tokenizer_config.json" "$T/qwen3r/"
start qwen3r --tokenizer "$T/qwen3r" --reasoning-parser qwen3 || exit 1
body='{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "temperature": 0, "logit_bias": {"603": 100}}'
post /v1/chat/completions "$body"
check chat-reasoning-qwen3 "$CODE:$(jq -c '.choices[0].message | [.reasoning, .content]' "$T/body")" '200:["\nplan\n","\n\nAnswer."]'
chat_stream "${body%\}}, \"stream\": true}"
check chat-reasoning-qwen3-streamed "$(sse_text "$T/sse" '.choices[0].delta.reasoning' | jq -Rsc .):$(sse_text "$T/sse" '.choices[0].delta.content' | jq -Rsc .)" \
  '"\nplan\n":"\n\nAnswer."'
post /v1/chat/completions "${body%\}}, \"include_reasoning\": false}"   # vLLM's: the reasoning left out
check chat-reasoning-not-included "$CODE:$(jq -c '.choices[0].message | [.reasoning, .content]' "$T/body")" '200:[null,"\n\nAnswer."]'
chat_stream "${body%\}}, \"stream\": true, \"include_reasoning\": false}"
check chat-reasoning-not-included-streamed "$(sse_text "$T/sse" '.choices[0].delta.reasoning' | jq -Rsc .):$(sse_text "$T/sse" '.choices[0].delta.content' | jq -Rsc .)" \
  '"":"\n\nAnswer."'
refused chat-reasoning-effort-not-harmony 400 "field 'reasoning_effort' is read by gpt-oss' template" \
  /v1/chat/completions "${body%\}}, \"reasoning_effort\": \"low\"}"
refused chat-include-reasoning-not-bool 400 "include_reasoning" /v1/chat/completions "${body%\}}, \"include_reasoning\": 1}"
post /v1/completions '{"prompt": "Hi", "max_tokens": 1, "temperature": 0, "logit_bias": {"603": 100}}'
check completion-no-reasoning "$CODE:$(jq -c '.choices[0] | [.text, has("reasoning")]' "$T/body")" '200:["<think>\nplan\n</think>\n\nAnswer.",false]'
refused guided-refused-think-not-tokens 400 "guided decoding with --reasoning-parser needs <think> and </think> as tokens of their own" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}'
refused responses-think-not-tokens 400 "/v1/responses counts the reasoning's tokens by <think> and </think>, which this server's tokenizer does not have" \
  /v1/responses '{"input": "hi"}'
kill -TERM "$SPID"; wait "$SPID"
# guided decoding with a reasoning parser: the guide takes the content after </think> (its own token,
# 605; <think> 604); the reasoning may not end the answer. deepseek_r1 (the reasoning open from the
# start): logit_bias closes it at once, then the content is the schema's JSON; qwen3: the first
# token is <think> or the content's, either way the content ends as the schema's JSON
mkdir -p "$T/think"
jq '.added_tokens += [{"id": 604, "content": "<think>"}, {"id": 605, "content": "</think>"}]
    | .added_tokens |= map({single_word: false, lstrip: false, rstrip: false, normalized: false, special: false} + .)' \
  "$T/chatml/tokenizer.json" >"$T/think/tokenizer.json"
cp "$T/qwen3/tokenizer_config.json" "$T/think/"
BOOL='"response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": {"type": "boolean"}}}'
for parser in deepseek_r1 qwen3; do
  start "think-$parser" --tokenizer "$T/think" --reasoning-parser "$parser" --set vocab=606 || exit 1
  post /v1/chat/completions "{\"messages\": [{\"role\": \"user\", \"content\": \"Yes?\"}], \"max_tokens\": 40, \"temperature\": 0,
    \"logit_bias\": {\"605\": 100}, $BOOL}"
  check "guided-reasoning-$parser" "$(jq -r '.choices[0] | [.finish_reason, (.message.content | fromjson | type)] | @tsv' "$T/body" 2>&1)" \
    "$(printf 'stop\tboolean')"
  # /v1/responses: the reasoning item and usage.output_tokens_details.reasoning_tokens, told by the
  # tags' ids: deepseek_r1's answer of </think> alone has an empty reasoning (0), qwen3's of <think>
  # alone all reasoning after the first (2 of 3)
  post /v1/responses "{\"input\": \"Yes?\", \"max_output_tokens\": 3, \"temperature\": 0, \"logit_bias\": {\"$([ "$parser" = qwen3 ] && echo 604 || echo 605)\": 100}}"
  check "responses-reasoning-$parser" "$CODE:$(jq -c '[.status, (.output | map(.type)), .output[0].content[0].text, .usage.output_tokens_details.reasoning_tokens]' "$T/body")" \
    "$([ "$parser" = qwen3 ] && echo '200:["incomplete",["reasoning"],"<think><think>",2]' || echo '200:["incomplete",["reasoning","message"],"",0]')"
  kill -TERM "$SPID"; wait "$SPID"
done
# a model whose vocabulary leaves out the tags (a tokenizer larger than the model): refused, the
# masks would name a token it has no logit for
if start think-small --tokenizer "$T/think" --reasoning-parser qwen3 --set vocab=600; then
  refused guided-reasoning-tags-past-vocabulary 400 "field 'response_format': guided decoding needs the reasoning's tags among the model's ids, and token 605 is past its vocabulary (600)" \
    /v1/chat/completions "{\"messages\": [{\"role\": \"user\", \"content\": \"Yes?\"}], \"max_tokens\": 4, $BOOL}"
  kill -TERM "$SPID"; wait "$SPID"
fi
mkdir -p "$T/thinkspecial"   # a tokenizer whose <think> is special: its text would be dropped, so refused
jq '.added_tokens += [{"id": 603, "content": "<think>", "special": true}]' "$T/chatml/tokenizer.json" >"$T/thinkspecial/tokenizer.json"
"$RUN" serve "${MODEL[@]}" --port 0 --tokenizer "$T/thinkspecial" --reasoning-parser deepseek_r1 2>"$T/thinkspecial.err"
check serve-reasoning-special-tag "$?:$(grep -c "reasoning-parser: '<think>' is a special token of" "$T/thinkspecial.err")" "1:1"
call_tokenizer "$T/r1" $'plan</think><tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>'
cp "$T/qwen25/tokenizer_config.json" "$T/r1/"
start r1 --tokenizer "$T/r1" --reasoning-parser deepseek_r1 --tool-call-parser hermes || exit 1
post /v1/chat/completions "${body%\}}, \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"now\"}}]}"
check chat-reasoning-r1-tool-call "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.reasoning, .message.content, .message.tool_calls[0].function.name]' "$T/body")" \
  '200:["tool_calls","plan",null,"now"]'
kill -TERM "$SPID"; wait "$SPID"
# gpt-oss' harmony format (test_reasoning.c reads its answers): a tokenizer with harmony's special
# tokens (ids 604..610) and gpt-oss' template has every chat answer read by its channels, said at the
# start. This model writes no harmony, so each answer is content as written, special tokens and all
# (logit_bias makes it write one token again and again): two <|channel|> break a header; <|end|> ends
# a message, not the turn; <|return|> (the end of sequence) and <|call|> (harmony's) end an empty
# answer; a completion's text is read as ever (skip_special_tokens).
mkdir -p "$T/harmony"
jq '.added_tokens += ([["<|start|>", 604], ["<|channel|>", 605], ["<|constrain|>", 606], ["<|message|>", 607], ["<|end|>", 608],
                       ["<|call|>", 609], ["<|return|>", 610]] | map({id: .[1], content: .[0], single_word: false, lstrip: false,
                       rstrip: false, normalized: false, special: true}))' "$T/chatml/tokenizer.json" >"$T/harmony/tokenizer.json"
jq -n --rawfile t tests/tokenizer/fixtures/chat/gpt-oss.jinja '{chat_template: $t, eos_token: "<|return|>"}' >"$T/harmony/tokenizer_config.json"
start harmony --tokenizer "$T/harmony" --tool-call-parser openai --set vocab=611 || exit 1
check serve-harmony-said "$(grep -c "has gpt-oss' harmony tokens: chat answers are read by their channels" "$T/harmony.err")" 1
body='{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "temperature": 0, "logit_bias": {"605": 100}}'
post /v1/chat/completions "$body"
check chat-harmony-broken-header "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.reasoning, .message.content, .token_ids]' "$T/body")" \
  '200:["length",null,"<|channel|><|channel|><|channel|>",[605,605,605]]'
chat_stream "${body%\}}, \"stream\": true}"
check chat-harmony-broken-header-streamed "$(sse_text "$T/sse" '.choices[0].delta.content'):$(sse_text "$T/sse" '.choices[0].delta.reasoning')" \
  '<|channel|><|channel|><|channel|>:'
post /v1/chat/completions "${body/605/610}"
check chat-harmony-return-ends "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.reasoning, .message.content, .token_ids]' "$T/body")" \
  '200:["stop",null,null,[]]'
post /v1/chat/completions "${body/605/608}"   # <|end|> ends a message, not the turn (<|return|> and <|call|> do)
check chat-harmony-end-not-turn-end "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.content]' "$T/body")" \
  '200:["length","<|end|><|end|><|end|>"]'
post /v1/chat/completions "${body/605/609}"
check chat-harmony-call-ends "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.content, .message.tool_calls]' "$T/body")" \
  '200:["stop",null,null]'
post /v1/completions '{"prompt": "Hi", "max_tokens": 3, "temperature": 0, "logit_bias": {"605": 100}, "skip_special_tokens": true}'
check completion-harmony-text "$CODE:$(jq -c '.choices[0] | [.text, has("reasoning")]' "$T/body")" '200:["",false]'
# an assistant's reasoning reaches gpt-oss' template as thinking: the analysis before its tool call
post /tokenize '{"messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": null, "reasoning": "Need the tool.",
  "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"SF\"}"}}]},
  {"role": "tool", "tool_call_id": "c1", "content": "sunny"}], "add_generation_prompt": true}'
post /detokenize "{\"tokens\": $(jq -c .tokens "$T/body")}"
check tokenize-harmony-thinking "$CODE:$(jq -r .prompt "$T/body" | grep -c '<|channel|>analysis<|message|>Need the tool.<|end|><|start|>assistant to=functions.get_weather')" "200:1"
# reasoning_effort (OpenAI's field) reaches gpt-oss' template as its argument of that name
post /tokenize '{"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "high"}'
post /detokenize "{\"tokens\": $(jq -c .tokens "$T/body")}"
check tokenize-harmony-reasoning-effort "$CODE:$(jq -r .prompt "$T/body" | grep -c '^Reasoning: high$')" "200:1"
refused chat-harmony-reasoning-effort-value 400 "field 'reasoning_effort' must be \"low\", \"medium\" or \"high\"" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "max"}'
refused chat-harmony-reasoning-effort-twice 400 "give one" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "Hi"}], "reasoning_effort": "low", "chat_template_kwargs": {"reasoning_effort": "low"}}'
# the same with a tool: the ids of jinja2's rendering of the template given "thinking"
tokenize_as_jinja2 chat-harmony-thinking-as-jinja2 gpt-oss-reasoning-field-harmony-tools-one-tool "$T/harmony"
# guided decoding of gpt-oss' answer: harmony's format (analysis messages, then the final one's
# header) up to the final message, whose text the schema guides: its content JSON that validates,
# the analysis its reasoning (logit_bias makes <|end|> close an analysis sooner)
got=
for seed in 1 2 3 4; do
  post /v1/chat/completions "$(guided $seed "$(schema_of "$(jq -c .function.parameters <<<"$W")"), \"logit_bias\": {\"608\": 6}")"
  got+=$(jq -r ".choices[0] | if .finish_reason == \"length\" then \"length\" else [.finish_reason, (.message.content | fromjson | $WEATHER),
    (.message.reasoning | type)] | map(tostring) | join(\",\") end" "$T/body" 2>&1)" "
done
[[ "$got" =~ ^((stop,true,(string|null)|length)\ )+$ && "$got" == *stop*stop* ]] && pass chat-harmony-guided ||
  fail chat-harmony-guided "got: $got" "want: stop,true and the reasoning (at least twice), or length"
body=$(guided 2 "$(schema_of "$(jq -c .function.parameters <<<"$W")"), \"logit_bias\": {\"608\": 6}")
post /v1/chat/completions "$body"
whole=$(jq -c '.choices[0] | [.message.content, .message.reasoning, .finish_reason]' "$T/body")
ids=$(jq -c '.choices[0].token_ids' "$T/body")
chat_stream "${body%\}}, \"stream\": true}"
check chat-harmony-guided-streamed "$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -s -c '[.[].choices[0]?] | [([.[].delta.content // empty] | join("")),
  ([.[].delta.reasoning // empty] | join("") | if . == "" then null else . end), ([.[].finish_reason // empty][0])]')" "$whole"
post /detokenize "{\"tokens\": $ids}"
check chat-harmony-guided-format "$(jq -r '.prompt | test("^<\\|channel\\|>(analysis<\\|message\\|>[^<]*<\\|end\\|><\\|start\\|>assistant<\\|channel\\|>)*final<\\|message\\|>[^<]*$")' "$T/body")" true
refused chat-harmony-guided-required 400 "gpt-oss' calls are messages of harmony's format, which tool_choice \"required\"" \
  /v1/chat/completions "$(guided 1 "\"tools\": [$W], \"tool_choice\": \"required\"")"
refused chat-harmony-guided-no-generation-prompt 400 "guided decoding of gpt-oss' answer needs add_generation_prompt true" \
  /v1/chat/completions "$(guided 1 '"response_format": {"type": "json_object"}, "add_generation_prompt": false')"
kill -TERM "$SPID"; wait "$SPID"
"$RUN" serve "${MODEL[@]}" --port 0 --tokenizer "$T/harmony" --set vocab=611 --reasoning-parser qwen3 2>"$T/err"
check serve-harmony-other-parser "$?:$(grep -c "reasoning-parser: '.*' has gpt-oss' harmony tokens" "$T/err")" "1:1"
"$RUN" serve "${MODEL[@]}" --port 0 --tokenizer "$T/chatml" --reasoning-parser openai_gptoss 2>"$T/err"
check serve-harmony-needs-tokens "$?:$(grep -c "reasoning-parser openai_gptoss: '.*' has no special token '<|start|>' (gpt-oss' harmony format)" "$T/err")" "1:1"
# Granite 3.3's template reads names of its own (thinking, controls): chat_template_kwargs give them
mkdir -p "$T/granite"
cp "$T/chatml/tokenizer.json" "$T/granite/"
jq -n --rawfile t tests/tokenizer/fixtures/chat/granite-3.3.jinja '{chat_template: $t, eos_token: "<|im_end|>"}' >"$T/granite/tokenizer_config.json"
start granite --tokenizer "$T/granite" || exit 1
tokenize_as_jinja2 chat-granite-thinking-kwargs-as-jinja2 granite-3.3-user-kwargs-thinking "$T/granite"
tokenize_as_jinja2 chat-granite-controls-kwargs-as-jinja2 granite-3.3-system-user-kwargs-controls "$T/granite"
tokenize_as_jinja2 chat-granite-no-kwargs-as-jinja2 granite-3.3-user "$T/granite"
# vLLM's documents: Granite 3.3's template renders them, as jinja2 rendered them
tokenize_as_jinja2 chat-granite-documents-as-jinja2 granite-3.3-system-user-documents "$T/granite"
tokenize_as_jinja2 chat-granite-documents-tools-as-jinja2 granite-3.3-tool-call-documents "$T/granite"
refused chat-documents-not-strings 400 "field 'documents' must be an array of objects of strings" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "documents": [{"text": 1}]}'
refused chat-template-kwargs-tokenize 400 "field 'chat_template_kwargs': 'tokenize' is not taken here" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"tokenize": true}}'
refused chat-template-kwargs-too-many 400 "field 'chat_template_kwargs' has 65 names (at most 64 are taken)" \
  /v1/chat/completions "$(jq -nc '{messages: [{role: "user", content: "hi"}], chat_template_kwargs: ([range(65) | {key: "k\(.)", value: .}] | from_entries)}')"
kill -TERM "$SPID"; wait "$SPID"
# --tool-call-parser llama3_json end to end: token 603 a whole call as JSON; one written is the
# answer's call (content null), held back in the stream until the end (no chunk has text: the
# token's chunk carries its id with an empty content); two in a row are no call (no ';' between
# them): text
call_tokenizer "$T/llama3json" '{"name": "get_weather", "parameters": {"city": "Paris"}}'
cp "$T/qwen25/tokenizer_config.json" "$T/llama3json/"
start llama3json --tokenizer "$T/llama3json" --tool-call-parser llama3_json || exit 1
body='{"messages": [{"role": "user", "content": "Weather?"}], "tools": [{"type": "function", "function": {"name": "get_weather"}}], "temperature": 0, "logit_bias": {"603": 100}'
post /v1/chat/completions "$body, \"max_tokens\": 1}"
check chat-llama3-json-call "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.content, .message.tool_calls[0].function]' "$T/body")" \
  '200:["tool_calls",null,{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}]'
chat_stream "$body, \"max_tokens\": 1, \"stream\": true}"
check chat-llama3-json-call-streamed "$(grep -c '"content":"[^"]' "$T/sse"):$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -c 'select(.choices[0].delta.tool_calls) | .choices[0].delta.tool_calls[0].function.name')" \
  '0:"get_weather"'
post /v1/chat/completions "$body, \"max_tokens\": 2}"
check chat-llama3-json-two-objects-text "$(jq -r '.choices[0] | [.finish_reason, (.message | has("tool_calls")), .message.content] | join("|")' "$T/body")" \
  'length|false|{"name": "get_weather", "parameters": {"city": "Paris"}}{"name": "get_weather", "parameters": {"city": "Paris"}}'
kill -TERM "$SPID"; wait "$SPID"
# --tool-call-parser qwen3_coder end to end, Qwen3-Coder's own template: the tools render as jinja2
# rendered them (a JSON schema's lists printed as Python's str(), | replace, | safe); token 603 a whole
# call in its XML, which logit_bias makes the model write: read with each value by its parameter's
# type (days an integer, the city a string), whole and in the stream's last chunk; an integer past 64
# bits leaves the answer text.
call_tokenizer "$T/qwen3coder" $'<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>'
jq -n --rawfile t tests/tokenizer/fixtures/chat/qwen3-coder.jinja '{chat_template: $t, eos_token: "<|im_end|>"}' >"$T/qwen3coder/tokenizer_config.json"
start qwen3coder --tokenizer "$T/qwen3coder" --tool-call-parser qwen3_coder || exit 1
tokenize_as_jinja2 chat-qwen3-coder-tools-as-jinja2 qwen3-coder-tool-call-tools "$T/qwen3coder"
weather='{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}'
body="{\"messages\": [{\"role\": \"user\", \"content\": \"Weather?\"}], \"tools\": [$weather], \"temperature\": 0, \"logit_bias\": {\"603\": 100}, \"max_tokens\": 1"
post /v1/chat/completions "$body}"
check chat-qwen3-coder-call "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.content, .message.tool_calls[0].function]' "$T/body")" \
  '200:["tool_calls",null,{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"days\": 2}"}]'
chat_stream "$body, \"stream\": true}"
check chat-qwen3-coder-call-streamed "$(grep -c '"content":"[^"]' "$T/sse"):$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -c 'select(.choices[0].delta.tool_calls) | .choices[0].delta.tool_calls[0].function.arguments')" \
  '0:"{\"city\": \"Paris\", \"days\": 2}"'
post /v1/chat/completions "${body/\"integer\"/\"boolean\"}}"
check chat-qwen3-coder-bad-boolean-text "$CODE:$(jq -c '.choices[0] | [.finish_reason, (.message | has("tool_calls"))]' "$T/body")" '200:["length",false]'
kill -TERM "$SPID"; wait "$SPID"
# Mistral 7B Instruct v0.3's template with --tool-call-parser mistral ([TOOL_CALLS] a special token,
# as in its tokenizer): the tools render as jinja2 rendered them; with tool_choice "auto" the special
# tokens stay in the text whatever skip_special_tokens asks (vLLM's: [TOOL_CALLS] must be seen). An
# answer of [TOOL_CALLS] alone (logit_bias) holds no list of calls: it is text, whole, and streamed
# once the answer ends (held back until then).
mkdir -p "$T/mistral03"
jq '.added_tokens += [{"id":601,"content":"<s>"},{"id":602,"content":"</s>"},{"id":603,"content":"[TOOL_CALLS]"}]
    | .added_tokens |= map({single_word:false,lstrip:false,rstrip:false,normalized:false,special:true} + .)' \
  tests/tokenizer/fixtures/llama3/tokenizer.json >"$T/mistral03/tokenizer.json"
jq -n --rawfile t tests/tokenizer/fixtures/chat/mistral-v0.3.jinja '{chat_template: $t, bos_token: "<s>", eos_token: "</s>"}' \
  >"$T/mistral03/tokenizer_config.json"
start mistral03 --tokenizer "$T/mistral03" --tool-call-parser mistral || exit 1
tokenize_as_jinja2 chat-mistral03-parallel-calls-as-jinja2 mistral-v0.3-parallel-calls-tools "$T/mistral03"
fields='"max_tokens": 4, "temperature": 0, "ignore_eos": true, "skip_special_tokens": true, "logit_bias": {"603": 100}'
post /v1/chat/completions "$(with_fields "$fields")"
check chat-mistral-special-kept "$CODE:$(jq -r '.choices[0] | [.message.content, .finish_reason, (.message | has("tool_calls"))] | join(",")' "$T/body")" \
  "200:[TOOL_CALLS][TOOL_CALLS][TOOL_CALLS][TOOL_CALLS],length,false"
post /v1/chat/completions "$(with_fields "$fields, \"tool_choice\": \"none\"")"
check chat-mistral-none-skips-special "$CODE:$(jq -r '.choices[0].message.content' "$T/body")" "200:"
chat_stream "$(with_fields "$fields, \"stream\": true")"
check chat-mistral-held-then-text "$(sse_text "$T/sse" '.choices[0].delta.content'):$(grep -c '"content":"\[TOOL' "$T/sse")" \
  "[TOOL_CALLS][TOOL_CALLS][TOOL_CALLS][TOOL_CALLS]:1"
kill -TERM "$SPID"; wait "$SPID"
# --tool-call-parser llama4_pythonic end to end: token 603 Llama 4's call, a Python list between its
# tags; held back in a stream, the call in the last chunk
call_tokenizer "$T/pythonic" $'<|python_start|>[get_weather(city="Paris", days=2), now()]<|python_end|>'
cp "$T/qwen25/tokenizer_config.json" "$T/pythonic/"
start pythonic --tokenizer "$T/pythonic" --tool-call-parser llama4_pythonic || exit 1
body='{"messages": [{"role": "user", "content": "Weather?"}], "tools": [{"type": "function", "function": {"name": "get_weather"}}], "max_tokens": 1, "temperature": 0, "logit_bias": {"603": 100}}'
post /v1/chat/completions "$body"
check chat-llama4-pythonic "$CODE:$(jq -c '.choices[0] | [.finish_reason, .message.content, [.message.tool_calls[].function | .name, .arguments]]' "$T/body")" \
  '200:["tool_calls",null,["get_weather","{\"city\": \"Paris\", \"days\": 2}","now","{}"]]'
chat_stream "${body%\}}, \"stream\": true}"
check chat-llama4-pythonic-streamed "$(sse_text "$T/sse" '.choices[0].delta.content'):$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -c 'select(.choices[0].delta.tool_calls) | [.choices[0].delta.tool_calls[].function.name]')" \
  ':["get_weather","now"]'
kill -TERM "$SPID"; wait "$SPID"
"$RUN" serve "${MODEL[@]}" --tool-call-parser granite >/dev/null 2>"$T/err"
check serve-tool-call-parser-unknown "$?:$(grep -c 'hermes, llama3_json, mistral, pythonic, llama4_pythonic, openai or qwen3_coder' "$T/err")" "2:1"
"$RUN" serve "${MODEL[@]}" --reasoning-parser deepseek >/dev/null 2>"$T/err"
check serve-reasoning-parser-unknown "$?:$(grep -c "bad value 'deepseek' (deepseek_r1, qwen3 or openai_gptoss)" "$T/err")" "2:1"
"$RUN" "${MODEL[@]}" --tokens 5 --reasoning-parser qwen3 >/dev/null 2>"$T/err"
check reasoning-parser-needs-serve "$?:$(grep -c -- "--store-responses go with mixrun serve" "$T/err")" "2:1"
# Llama 3.2 Instruct's: its date is strftime_now("%d %b %Y"), the server's local time (as transformers').
llama_checkpoint llama32cfg 3.2 || exit 1
day1=$(LC_ALL=C date +'%d %b %Y')
post /v1/chat/completions '{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 12, "temperature": 0, "ignore_eos": true}'
day2=$(LC_ALL=C date +'%d %b %Y')
ids=$("$TT" encode "$T/llama32cfg/tokenizer.json" $'<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: '"$day1"$'\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n' | cut -d, -f2-)
want=$("$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 12 2>/dev/null)
if [ "$day1" = "$day2" ]; then
  check chat-llama32-strftime-now-today "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body"):$(jq '.usage.prompt_tokens' "$T/body")" \
    "$want:$(tr ',' '\n' <<<"$ids" | wc -l)"
else echo "SKIP chat-llama32-strftime-now-today (midnight passed)"; fi
kill -TERM "$SPID"; wait "$SPID"
# A template the subset does not render: the server starts, says so, and chat answers 400 naming it.
mkdir -p "$T/refusedtpl"
cp "$T/chatml/tokenizer.json" "$T/refusedtpl/"
jq -n '{chat_template: "{% for m in messages %}{{ m.content | wordcount }}{% endfor %}", eos_token: "<|im_end|>"}' >"$T/refusedtpl/tokenizer_config.json"
start refusedtpl --tokenizer "$T/refusedtpl" || exit 1
refused chat-config-template-refused 400 "chat_template:1:39: the filter 'wordcount' is not supported" \
  /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}]}'
check chat-config-template-refused-warned "$(grep -c "warning: .*the filter 'wordcount' is not supported" "$T/refusedtpl.err")" 1
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 3, "temperature": 0}'
check chat-config-template-refused-completions-served "$CODE" 200
kill -TERM "$SPID"; wait "$SPID"
# A template reading a special token transformers gives it and mixc does not read (tokenizer_config's
# extra_special_tokens, special_tokens_map.json's keys): refused the same way, never rendered empty
for src in extra map; do
  mkdir -p "$T/tok-$src"
  cp "$T/chatml/tokenizer.json" "$T/tok-$src/"
  jq -n --arg src "$src" '{chat_template: "{% for m in messages %}{{ m.content }}{% endfor %}{{ image_token }}", eos_token: "<|im_end|>"}
    + (if $src == "extra" then {extra_special_tokens: {image_token: "<image>"}} else {} end)' >"$T/tok-$src/tokenizer_config.json"
  [ "$src" = map ] && jq -n '{eos_token: "<|im_end|>", image_token: "<image>"}' >"$T/tok-$src/special_tokens_map.json"
  start "tok-$src" --tokenizer "$T/tok-$src" || exit 1
  refused "chat-template-special-token-$src-refused" 400 \
    "chat_template:1:54: the variable 'image_token' is not supported (transformers gives it the tokenizer's special token" \
    /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}]}'
  kill -TERM "$SPID"; wait "$SPID"
done
PORT=$MAINPORT

# ---- the end of sequence (runtime/tok/gen_config.c): generation_config.json's eos_token_id, else
# tokenizer_config.json's eos_token. The EOS is the token greedy decoding emits 4th for PROMPT (one
# not emitted before it): the completion stops there, "stop", its text without the EOS, the EOS
# counted in usage, and equal to `mixrun --text` (which prints the EOS among its ids).
"$RUN" "${MODEL[@]}" --tokenizer "$T/tok" --text "$PROMPT" --max-new 12 --print-ids 2>/dev/null | head -n 1 | tr ',' '\n' >"$T/greedy.ids"
EOS=$(sed -n 4p "$T/greedy.ids")
BEFORE=$(head -n 3 "$T/greedy.ids" | paste -sd,)
[ "$(head -n 3 "$T/greedy.ids" | grep -cx "$EOS")" = 0 ] || fail eos-fixture "the 4th greedy token $EOS came before"
mkdir -p "$T/eos-int" "$T/eos-list" "$T/eos-config" "$T/eos-bad" "$T/eos-empty" "$T/eos-cfg"
for d in eos-int eos-list eos-config eos-bad eos-empty eos-cfg; do cp "$T/tok/tokenizer.json" "$T/$d/"; done
echo "{\"eos_token_id\": $EOS, \"do_sample\": false}" >"$T/eos-int/generation_config.json"
echo "{\"bos_token_id\": 1, \"eos_token_id\": [599, $EOS]}" >"$T/eos-list/generation_config.json"
echo '{"eos_token_id": null}' >"$T/eos-config/generation_config.json"   # null: config.json's, before eos_token
echo "{\"model_type\": \"llama\", \"eos_token_id\": [$EOS]}" >"$T/eos-config/config.json"
jq -n '{eos_token: "<|start_header_id|>"}' >"$T/eos-config/tokenizer_config.json"
echo '{"eos_token_id": "</s>"}' >"$T/eos-bad/generation_config.json"
echo '{"eos_token_id": []}' >"$T/eos-empty/generation_config.json"
jq -n '{eos_token: {content: "<|eot_id|>"}}' >"$T/eos-cfg/tokenizer_config.json"   # id 603
"$RUN" "${MODEL[@]}" --tokenizer "$T/eos-int" --text "$PROMPT" --max-new 12 --print-ids >"$T/alone" 2>/dev/null
check eos-mixrun-text-stops "$(head -n 1 "$T/alone")" "$BEFORE,$EOS"
for d in eos-int eos-list eos-config; do
  start "$d" --tokenizer "$T/$d" || exit 1
  post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 12, temperature: 0}')"
  check "$d-completion" "$(jq -c '[.choices[0].finish_reason, (.choices[0].token_ids | map(tostring) | join(",")), .usage.completion_tokens]' "$T/body")" \
    "[\"stop\",\"$BEFORE\",4]"
  check "$d-text-equals-mixrun-text" "$(jq -r '.choices[0].text' "$T/body")" "$(tail -n +2 "$T/alone")"
  curl -sN --max-time 60 "http://127.0.0.1:$PORT/v1/completions" -d "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 12, temperature: 0, stream: true, stream_options: {include_usage: true}}')" >"$T/sse"
  check "$d-streamed" "$(sse_text "$T/sse" '.choices[0].text'):$(sed -n 's/^data: \({.*\)$/\1/p' "$T/sse" | jq -r '(.choices[0].finish_reason // empty), (.usage.completion_tokens // empty)' | paste -sd,)" \
    "$(tail -n +2 "$T/alone"):stop,4"
  post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 12, temperature: 0, ignore_eos: true}')"
  check "$d-ignore-eos" "$(jq -c '[.choices[0].finish_reason, .usage.completion_tokens]' "$T/body")" '["length",12]'
  ids=$("$TT" encode "$T/tok/tokenizer.json" "$TEMPLATE" | cut -d, -f2-)   # chat: the end of turn or the EOS
  want=$("$RUN" "${MODEL[@]}" --tokens "$ids" --max-new 20 2>/dev/null | tr ',' '\n' | awk -v e="$EOS" '$1 == 603 || $1 == e { exit } { print }' | paste -sd,)
  post /v1/chat/completions "$(jq -nc --argjson m "$MSGS" '{messages: $m, max_tokens: 20, temperature: 0}')"
  check "$d-chat" "$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/body")" "$want"
  kill -TERM "$SPID"; wait "$SPID"
done
PORT=$MAINPORT
refused ignore-eos-type 400 "field 'ignore_eos' must be a boolean" /v1/completions '{"prompt": [1], "ignore_eos": 1}'
start eos-cfg --tokenizer "$T/eos-cfg" || exit 1   # prompt [59, 413] makes 421,27,458,389,173,603,...
post /v1/completions '{"prompt": [59, 413], "max_tokens": 10, "temperature": 0}'
check eos-tokenizer-config-fallback "$(jq -c '[.choices[0].finish_reason, (.choices[0].token_ids | map(tostring) | join(",")), .usage.completion_tokens]' "$T/body")" \
  "[\"stop\",\"$("$RUN" "${MODEL[@]}" --tokens 59,413 --max-new 5 2>/dev/null)\",6]"
check eos-fixture-603 "$("$RUN" "${MODEL[@]}" --tokens 59,413 --max-new 6 2>/dev/null | cut -d, -f6)" 603
kill -TERM "$SPID"; wait "$SPID"
# the same end of sequence (603) past a model of 603 ids: it cannot end a generation, and min_tokens has
# no logit of it to ban (an id past the vocabulary is not gathered: under ASan, a write past the logits)
start eos-past-vocab --tokenizer "$T/eos-cfg" --set vocab=603 || exit 1
post /v1/completions '{"prompt": [59, 413], "max_tokens": 4, "min_tokens": 3, "temperature": 0}'
check eos-past-the-vocabulary "$CODE:$(jq -c '[.choices[0].finish_reason, .usage.completion_tokens]' "$T/body")" '200:["length",4]'
kill -TERM "$SPID"; wait "$SPID"

# ---- the generation config's sampling defaults (vLLM's --generation-config, runtime/tok/gen_config.c):
# repetition_penalty, temperature, top_k, top_p and min_p are a request's defaults, its own fields win;
# max_new_tokens caps every request. A seeded request without the fields equals the same request with
# them given on a server without defaults (--generation-config vllm).
mkdir -p "$T/gc" "$T/gc-greedy" "$T/gc-dir" "$T/gc-bad"
for d in gc gc-greedy gc-bad; do cp "$T/tok/tokenizer.json" "$T/$d/"; done
SAMPLING='{"temperature": 0.7, "top_p": 0.8, "top_k": 30, "min_p": 0.05, "repetition_penalty": 1.3}'
jq -c '. + {do_sample: true, eos_token_id: null, bos_token_id: 1}' <<<"$SAMPLING" >"$T/gc/generation_config.json"
start gc-vllm --tokenizer "$T/gc" --generation-config vllm || exit 1
check gc-vllm-says-nothing "$(grep -c 'sampling defaults' "$T/gc-vllm.err")" 0
post /v1/completions "$(jq -nc --argjson s "$SAMPLING" '{prompt: [5, 17, 300, 42], max_tokens: 10, seed: 3} + $s')"
WITH=$(jq -c '.choices[0].token_ids' "$T/body")
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 10, "seed": 3}'
WITHOUT=$(jq -c '.choices[0].token_ids' "$T/body")
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 10, "seed": 3, "temperature": 1.5}'
HOT=$(jq -c '.choices[0].token_ids' "$T/body")
kill -TERM "$SPID"; wait "$SPID"
[ "$WITH" != "$WITHOUT" ] || fail gc-fixture "the sampling fields change nothing for seed 3: $WITH"
start gc --tokenizer "$T/gc" || exit 1
check gc-says-its-defaults "$(sed -n "s|.*sampling defaults of '$T/gc/generation_config.json': \({.*}\) (a request's own fields win;.*|\1|p" "$T/gc.err" | jq -c -S .)" \
  "$(jq -c -S . <<<"$SAMPLING")"
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 10, "seed": 3}'
check gc-defaults-applied "$(jq -c '.choices[0].token_ids' "$T/body")" "$WITH"
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 10, "seed": 3, "temperature": null}'
check gc-null-field-takes-the-default "$(jq -c '.choices[0].token_ids' "$T/body")" "$WITH"
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 10, "seed": 3, "temperature": 1, "top_p": 1, "top_k": -1, "min_p": 0, "repetition_penalty": 1}'
check gc-request-fields-win "$(jq -c '.choices[0].token_ids' "$T/body")" "$WITHOUT"
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 10, "seed": 3, "temperature": 1.5, "top_p": 1, "top_k": 0, "min_p": 0, "repetition_penalty": 1}'
check gc-request-field-wins-one-by-one "$(jq -c '.choices[0].token_ids' "$T/body")" "$HOT"
kill -TERM "$SPID"; wait "$SPID"
# top_k 1 makes every request greedy; max_new_tokens 5 caps max_tokens (finish "length" at 5), also a
# chat's (whose max_tokens is the context's rest); null fields are not defaults
echo '{"top_k": 1, "max_new_tokens": 5, "temperature": null}' >"$T/gc-greedy/generation_config.json"
start gc-greedy --tokenizer "$T/gc-greedy" || exit 1
check gc-null-not-a-default "$(sed -n "s|.*sampling defaults of '[^']*': \({.*}\) (a request's own fields win, but max_new_tokens caps.*|\1|p" "$T/gc-greedy.err" | jq -c -S .)" \
  '{"max_new_tokens":5,"top_k":1}'
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 9, "temperature": 1.2}'
check gc-top-k-1-greedy-capped "$(jq -c '[(.choices[0].token_ids | map(tostring) | join(",")), .choices[0].finish_reason, .usage.completion_tokens]' "$T/body")" \
  "[\"$("$RUN" "${MODEL[@]}" --tokens 5,17,300,42 --max-new 5 2>/dev/null)\",\"length\",5]"
post /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}], "ignore_eos": true}'
check gc-cap-chat "$(jq -c '[.choices[0].finish_reason, .usage.completion_tokens]' "$T/body")" '["length",5]'
refused gc-cap-then-min-tokens 400 "field 'min_tokens' (6) must be at most max_tokens (5)" /v1/completions '{"prompt": [5], "max_tokens": 9, "min_tokens": 6}'
refused gc-context-before-cap 400 "this model's context is 4096 tokens" /v1/completions '{"prompt": [5], "max_tokens": 4096}'
kill -TERM "$SPID"; wait "$SPID"
# --generation-config DIR: its sampling defaults and its end of sequence (the 4th greedy token of PROMPT)
echo "{\"eos_token_id\": $EOS, \"top_k\": 1}" >"$T/gc-dir/generation_config.json"
start gc-dir --tokenizer "$T/tok" --generation-config "$T/gc-dir" || exit 1
post /v1/completions "$(jq -nc --arg p "$PROMPT" '{prompt: $p, max_tokens: 12}')"
check gc-dir-eos-and-top-k "$(jq -c '[.choices[0].finish_reason, (.choices[0].token_ids | map(tostring) | join(",")), .usage.completion_tokens]' "$T/body")" \
  "[\"stop\",\"$BEFORE\",4]"
kill -TERM "$SPID"; wait "$SPID"
start gc-file --tokenizer "$T/tok" --generation-config "$T/gc-greedy/generation_config.json" || exit 1
check gc-file "$(grep -c "sampling defaults of '$T/gc-greedy/generation_config.json'" "$T/gc-file.err")" 1
kill -TERM "$SPID"; wait "$SPID"
# refused before the model is loaded: each names the file and the field
gc_refused() {
  local name=$1 config=$2 want=$3; shift 3
  [ -z "$config" ] || echo "$config" >"$T/gc-bad/generation_config.json"
  "$RUN" serve "${MODEL[@]}" --port 0 --tokenizer "$T/gc-bad" "$@" >/dev/null 2>"$T/err"
  local rc=$?
  if [ "$rc" = 1 ] && grep -qF -- "$want" "$T/err" && ! grep -q listening "$T/err"; then pass "$name"
  else fail "$name" "exit $rc, stderr: $(tail -n 2 "$T/err")" "want: $want"; fi
}
gc_refused gc-refused-temperature '{"temperature": "hot"}' "'$T/gc-bad/generation_config.json': field 'temperature' must be a number in [0, 2]"
gc_refused gc-refused-top-k '{"top_k": 1.5}' "field 'top_k' must be an integer >= -1"
gc_refused gc-refused-top-p '{"top_p": 0}' "field 'top_p' must be a number in (0, 1]"
gc_refused gc-refused-repetition '{"repetition_penalty": -1}' "field 'repetition_penalty' must be a number > 0"
gc_refused gc-refused-max-new-tokens '{"max_new_tokens": 0}' "field 'max_new_tokens' must be an integer >= 1"
gc_refused gc-refused-not-json '{"top_k": 1' "'$T/gc-bad/generation_config.json':2:0: '}' expected"
gc_refused gc-refused-not-an-object '[1]' "'$T/gc-bad/generation_config.json' is not a JSON object"
gc_refused gc-refused-no-such-path '' "--generation-config '$T/nowhere': no such file or directory" --generation-config "$T/nowhere"
gc_refused gc-refused-dir-without-file '' "--generation-config '$T/tok': the directory holds no generation_config.json" --generation-config "$T/tok"
# --override-generation-config: its fields over the file's (null drops one), or alone with vllm; a
# file's bad value it replaces is not refused; its own bad values are, naming it
start gc-over --tokenizer "$T/gc" --override-generation-config '{"temperature": 0.2, "top_k": null, "max_new_tokens": 6}' || exit 1
check gc-override-merged "$(sed -n "s|.*sampling defaults of '$T/gc/generation_config.json' with --override-generation-config: \({.*}\) (a request.*|\1|p" "$T/gc-over.err" | jq -c -S .)" \
  "$(jq -c -S '. + {temperature: 0.2, max_new_tokens: 6} | del(.top_k)' <<<"$SAMPLING")"
kill -TERM "$SPID"; wait "$SPID"
start gc-over-vllm --tokenizer "$T/gc" --generation-config vllm --override-generation-config '{"top_k": 1, "max_new_tokens": 3}' || exit 1
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 9, "temperature": 1.2}'
check gc-override-alone-with-vllm "$(jq -c '[(.choices[0].token_ids | map(tostring) | join(",")), .choices[0].finish_reason]' "$T/body")" \
  "[\"$("$RUN" "${MODEL[@]}" --tokens 5,17,300,42 --max-new 3 2>/dev/null)\",\"length\"]"
kill -TERM "$SPID"; wait "$SPID"
gc_refused gc-override-unknown-field '{"top_k": 3}' "--override-generation-config: the field 'temprature' is not one of" \
  --override-generation-config '{"temprature": 1}'
gc_refused gc-override-bad-value '' "--override-generation-config: field 'top_p' must be a number in (0, 1]" --override-generation-config '{"top_p": 5}'
gc_refused gc-override-not-an-object '' "--override-generation-config: not a JSON object" --override-generation-config '[1]'
gc_refused gc-file-bad-value-not-overridden '{"temperature": "hot"}' "'$T/gc-bad/generation_config.json': field 'temperature'" \
  --override-generation-config '{"top_p": 0.5}'
if start gc-over-replaces-bad --tokenizer "$T/gc-bad" --override-generation-config '{"temperature": 0.5}'; then
  pass gc-override-replaces-a-bad-value
  kill -TERM "$SPID"; wait "$SPID"
fi
echo '{"temperature": "hot"}' >"$T/gc-bad/generation_config.json"   # vllm: its sampling fields are not read
if start gc-vllm-bad --tokenizer "$T/gc-bad" --generation-config vllm; then
  pass gc-vllm-reads-no-sampling-fields
  kill -TERM "$SPID"; wait "$SPID"
fi
for d in eos-bad eos-empty; do
  "$RUN" serve "${MODEL[@]}" --port 0 --tokenizer "$T/$d" >/dev/null 2>"$T/err"
  check "$d-refused-at-start" "$?:$(grep -c "mixrun serve: '$T/$d/generation_config.json': eos_token_id" "$T/err")" "1:1"
done
"$RUN" "${MODEL[@]}" --tokenizer "$T/eos-bad" --text hi >/dev/null 2>"$T/err"
check eos-bad-refused-by-mixrun-text "$?:$(grep -c "'$T/eos-bad/generation_config.json': eos_token_id must be a token id in \[0, 604)" "$T/err")" "1:1"
PORT=$MAINPORT

# ---- concurrency: 12 clients at once on 4 slots, each equal to its request run alone
for i in $(seq 12); do
  p="$((i * 7 % 600)),$((i * 13 % 600)),$((i * 29 % 600))"; n=$((4 + i % 9))
  curl -s --max-time 120 "$U/v1/completions" -d "{\"prompt\": [$p], \"max_tokens\": $n, \"temperature\": 0}" >"$T/par$i" &
done
wait_clients() { for j in $(jobs -p); do [ "$j" = "$MAIN" ] || wait "$j"; done; }
wait_clients
bad=()
for i in $(seq 12); do
  p="$((i * 7 % 600)),$((i * 13 % 600)),$((i * 29 % 600))"; n=$((4 + i % 9))
  want=$("$RUN" "${MODEL[@]}" --tokens "$p" --max-new $n 2>/dev/null)
  got=$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/par$i" 2>/dev/null)
  [ "$got" = "$want" ] || bad+=("client $i: got '$got', alone '$want'")
done
[ ${#bad[@]} -eq 0 ] && pass concurrent-clients-equal-alone || fail concurrent-clients-equal-alone "${bad[@]}"

# ---- bad requests: a clear 4xx each
refused malformed-json 400 "not valid JSON" /v1/completions '{"prompt": [1, 2'
refused nul-in-a-string 400 'a string of the body holds \u0000, which the server does not take (line 1, column' /v1/completions '{"prompt": "a\u0000b"}'
refused not-an-object 400 "not a JSON object" /v1/completions '[1, 2]'
refused unknown-field 400 "unknown field 'frobnicate'" /v1/completions '{"prompt": [1], "frobnicate": 1}'
refused wrong-type-max-tokens 400 "'max_tokens' must be an integer >= 1" /v1/completions '{"prompt": [1], "max_tokens": "8"}'
post /v1/chat/completions '{"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 2, "max_tokens": 5, "ignore_eos": true}'
check max-completion-tokens-wins "$(jq .usage.completion_tokens "$T/body")" 2
refused max-completion-tokens-named 400 "field 'max_completion_tokens' must be an integer >= 1" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0}'
refused wrong-type-temperature 400 "'temperature' must be a number in [0, 2]" /v1/completions '{"prompt": [1], "temperature": "hot"}'
refused token-outside-vocab 400 "element 1 is not a token id in [0, 604)" /v1/completions '{"prompt": [1, 604]}'
refused unsupported-value 400 "field 'best_of'" /v1/completions '{"prompt": [1], "best_of": 2}'
refused echo-not-boolean 400 "field 'echo' must be a boolean" /v1/completions '{"prompt": [1], "echo": 1}'
refused logit-bias-not-an-id 400 "field 'logit_bias': '042' is not a token id in [0, 604)" /v1/completions '{"prompt": [1], "logit_bias": {"042": 1}}'
refused logit-bias-past-vocab 400 "field 'logit_bias': '604' is not a token id in [0, 604)" /v1/completions '{"prompt": [1], "logit_bias": {"604": 1}}'
refused logit-bias-value 400 "field 'logit_bias': the value of '4' must be a number in [-100, 100]" /v1/completions '{"prompt": [1], "logit_bias": {"4": 101}}'
refused logit-bias-not-object 400 "field 'logit_bias' must be an object" /v1/completions '{"prompt": [1], "logit_bias": [1]}'
refused repetition-penalty-range 400 "field 'repetition_penalty' must be a number > 0" /v1/completions '{"prompt": [1], "repetition_penalty": 0}'
refused penalty-range 400 "field 'presence_penalty' must be a number in [-2, 2]" /v1/completions '{"prompt": [1], "presence_penalty": -2.5}'
refused logprobs-above-20 400 "field 'logprobs' must be an integer in [0, 20]" /v1/completions '{"prompt": [1], "logprobs": 21}'
refused logprobs-true-on-completions 400 "field 'logprobs' must be an integer in [0, 20]" /v1/completions '{"prompt": [1], "logprobs": true}'
refused chat-logprobs-not-boolean 400 "field 'logprobs' must be a boolean" /v1/chat/completions '{"messages": [{"role": "user", "content": "x"}], "logprobs": 2}'
refused top-logprobs-without-logprobs 400 "field 'top_logprobs' needs \"logprobs\": true" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}'
refused top-logprobs-above-20 400 "field 'top_logprobs' must be an integer in [0, 20]" /v1/chat/completions \
  '{"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21}'
refused prompt-past-context 400 "context is 4096 tokens; the request has 4100 prompt tokens and asks for 16 new ones" \
  /v1/completions "{\"prompt\": [$(seq -s, 4100 | sed 's/[0-9]*/1/g')]}"
refused max-tokens-past-context 400 "has 2 prompt tokens and asks for 5000 new ones (5002 in all)" /v1/completions '{"prompt": [1, 2], "max_tokens": 5000}'
refused other-model 404 "the model 'gpt-4' does not exist" /v1/completions '{"model": "gpt-4", "prompt": [1]}'
refused empty-messages 400 "'messages' must be a non-empty array" /v1/chat/completions '{"messages": []}'
head -c 100000 /dev/zero | tr '\0' 'a' >"$T/huge"
CODE=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 30 "$U/v1/completions" --data-binary @"$T/huge")
check huge-body-413 "$CODE:$(jq -r .error.message "$T/body")" "413:the body is larger than the server's limit (65536 bytes)"
CODE=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 30 -H 'Transfer-Encoding: chunked' "$U/v1/completions" --data-binary @"$T/huge")
check huge-chunked-body-413 "$CODE:$(jq -r .error.message "$T/body")" "413:the body is larger than the server's limit (65536 bytes)"
check unknown-route-404 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v2/nothing")" 404
CODE=$(curl -s -o "$T/body" -w '%{http_code}' "$U/%ff%fe$(printf '%%e4%%b8%%ad%.0s' $(seq 80))")
check bad-bytes-url-404 "$CODE:$(jq -r '.error.message[0:11]' "$T/body")" "404:no route /?"
refused cut-utf8-field-name 400 "unknown field '中中" /v1/completions "{\"prompt\": [1], \"$(printf '中%.0s' $(seq 60))\": 1}"
check wrong-method-405 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/completions")" 405

# ---- a slow client and 200 idle connections do not stop the others
exec {slow}<>/dev/tcp/127.0.0.1/"$PORT"
printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"prompt"' >&"$slow"
conns=()
for _ in $(seq 200); do exec {fd}<>/dev/tcp/127.0.0.1/"$PORT" && conns+=("$fd"); done
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 9, "temperature": 0}'
check served-beside-slow-and-200-idle "$CODE:${#conns[@]}" "200:200"
for fd in "${conns[@]}"; do exec {fd}>&-; done
exec {slow}>&-

# ---- clients gone mid-request: cancelled (every choice), their slots freed (a wider model: 4000
# tokens take seconds)
start wide --set hidden=512 --set ffn=2048 --max-seqs 2 || exit 1
W="http://127.0.0.1:$PORT"
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
curl -sN --max-time 0.5 "$W/v1/completions" -d '{"prompt": [1, 2, 3], "max_tokens": 4000, "stream": true}' >/dev/null
curl -s --max-time 0.5 "$W/v1/completions" -d '{"prompt": [1, 2, 3], "max_tokens": 4000}' >/dev/null
curl -sN --max-time 0.5 "$W/v1/completions" -d '{"prompt": [[1, 2, 3], [4]], "max_tokens": 4000, "n": 2, "stream": true}' >/dev/null
for _ in $(seq 100); do [ "$(metric "$W" mixc_generations_cancelled_total)" = 6 ] && [ "$(metric "$W" mixc_sequences_running)" = 0 ] && break; sleep 0.1; done
check disconnect-cancels "$(metric "$W" mixc_generations_cancelled_total):$(metric "$W" mixc_sequences_running):$(metric "$W" mixc_kv_bytes_in_use):$(metric "$W" mixc_generations_finished_total)" "6:0:0:0"
post /v1/completions '{"prompt": [1, 2, 3], "max_tokens": 2}'
check served-after-cancels "$CODE" 200
kill -TERM "$SPID"; wait "$SPID"
PORT=$MAINPORT

# ---- metrics
curl -s "$U/metrics" >"$T/metrics"
ok=1
for m in 'mixc_requests_total{code="2xx"}' 'mixc_requests_total{code="400"}' mixc_prompt_tokens_total mixc_generation_tokens_total \
         'mixc_time_to_first_token_seconds_bucket{le="+Inf"}' mixc_time_per_output_token_seconds_count mixc_kv_bytes_budget; do
  v=$(awk -v m="$m" '$1 == m { print $2 }' "$T/metrics")
  [ -n "$v" ] && [ "$v" != 0 ] || { ok=0; fail "metrics-$m" "missing or 0: '$v'"; }
done
[ $ok = 1 ] && pass metrics-prometheus

# ---- SIGTERM: the stream in flight finishes, then exit 0
curl -sN --max-time 60 "$U/v1/completions" -d '{"prompt": [1, 2, 3], "max_tokens": 3000, "temperature": 0, "stream": true}' >"$T/drain.sse" &
client=$!
for _ in $(seq 200); do grep -q '^data: {' "$T/drain.sse" 2>/dev/null && break; sleep 0.05; done   # in flight
kill -TERM "$MAIN"
wait "$client"
wait "$MAIN"
rc=$?
check sigterm-drains "$rc:$(tail -n 2 "$T/drain.sse" | head -n 1):$(sed -n 's/^data: \({.*\)$/\1/p' "$T/drain.sse" | jq -s 'map(.choices[0].token_ids | length) | add'):$(grep -c 'finishing 1 request in flight' "$T/main.err")" "0:data: [DONE]:3000:1"

# ---- --api-key (vLLM's): the /v1 routes answer 401 without "Authorization: Bearer KEY"; /health,
# /metrics, /tokenize stay open; MIXC_API_KEY gives the key when the option does not
auth() {   # auth PATH [HEADER]: "STATUS:ERROR TYPE" ("ok" without an error object)
  local data=() code
  case $1 in
    /v1/completions) data=(-d '{"prompt": [5, 17], "max_tokens": 1}') ;;
    /tokenize) data=(-d '{"prompt": [5, 17]}') ;;
  esac
  code=$(curl -s -o "$T/body" -w '%{http_code}' --max-time 60 ${2:+-H "$2"} "${data[@]}" "http://127.0.0.1:$PORT$1")
  echo "$code:$(jq -r '.error.type // "ok"' "$T/body" 2>/dev/null || echo ok)"
}
start keyed --api-key 's3cret key' || exit 1
check api-key-required "$(auth /v1/models):$(auth /v1/completions)" "401:authentication_error:401:authentication_error"
check api-key-wrong "$(auth /v1/models 'Authorization: Bearer s3cret'):$(auth /v1/models 'Authorization: Bearer s3cret keyX')" \
  "401:authentication_error:401:authentication_error"
check api-key-not-bearer "$(auth /v1/models 'Authorization: Basic s3cret key')" "401:authentication_error"
check api-key-given "$(auth /v1/models 'Authorization: Bearer s3cret key'):$(auth /v1/completions 'Authorization: Bearer s3cret key')" "200:ok:200:ok"
check api-key-open-routes "$(auth /health):$(auth /metrics):$(auth /tokenize)" "200:ok:200:ok:200:ok"
kill -TERM "$SPID"; wait "$SPID"
MIXC_API_KEY=envkey start keyed-env || exit 1
check api-key-from-environment "$(auth /v1/models):$(auth /v1/models 'Authorization: Bearer envkey')" "401:authentication_error:200:ok"
kill -TERM "$SPID"; wait "$SPID"
"$RUN" serve "${MODEL[@]}" --api-key '' >/dev/null 2>"$T/err"
check api-key-empty "$?:$(grep -c "api-key: bad value ''" "$T/err")" "2:1"
PORT=$MAINPORT

# ---- servers without a tokenizer, and with one that has no chat template
start notok || exit 1
refused no-tokenizer-text 400 "a text prompt needs a tokenizer" /v1/completions '{"prompt": "hi"}'
refused no-tokenizer-stop 400 "'stop' needs a tokenizer" /v1/completions '{"prompt": [1], "stop": "x"}'
refused no-tokenizer-chat 400 "chat needs a tokenizer" /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}]}'
refused no-tokenizer-tokenize 400 "a text prompt needs a tokenizer" /tokenize '{"prompt": "hi"}'
refused no-tokenizer-detokenize 400 "detokenizing needs a tokenizer" /detokenize '{"tokens": [1]}'
refused no-tokenizer-guided 400 "field 'response_format': guided decoding needs a tokenizer" /v1/completions \
  '{"prompt": [1], "response_format": {"type": "json_object"}}'
refused no-tokenizer-token-strs 400 "field 'return_token_strs' needs a tokenizer" /tokenize '{"prompt": [1], "return_token_strs": true}'
post /tokenize '{"prompt": [5, 17]}'
check no-tokenizer-tokenize-ids "$CODE:$(jq -c .tokens "$T/body")" "200:[5,17]"
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 9, "temperature": 0}'
check no-tokenizer-token-ids "$CODE:$(jq -r '.choices[0].token_ids | length' "$T/body")" "200:9"
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 3, "temperature": 0, "logprobs": 1, "echo": true}'
check no-tokenizer-echo "$(jq -c '.choices[0] | [.text, (.logprobs.tokens | length), .logprobs.tokens[0:4], .logprobs.token_logprobs[0]]' "$T/body")" \
  '["",7,["token_id:5","token_id:17","token_id:300","token_id:42"],null]'
post /v1/completions '{"prompt": [5, 17, 300, 42], "max_tokens": 3, "temperature": 0, "logprobs": 1}'
check no-tokenizer-logprobs-name-ids "$(jq -c '.choices[0] | [.logprobs.tokens == (.token_ids | map("token_id:\(.)")), .logprobs.text_offset]' "$T/body")" \
  "[true,[0,$(jq -r '.choices[0].token_ids[0] | "token_id:\(.)" | length' "$T/body"),$(jq -r '.choices[0].token_ids[0:2] | map("token_id:\(.)" | length) | add' "$T/body")]]"
post /v1/completions '{"prompt": [5, 17], "max_tokens": 1, "prompt_logprobs": 1}'
check prompt-logprobs-no-tokenizer "$(jq -c '.choices[0].prompt_logprobs[1] | [.[] | .decoded_token] | unique' "$T/body")" "[null]"
kill -INT "$SPID"; wait "$SPID"
check sigint-exits-0 "$?" 0

# ---- past --max-connections: the extra connections are dropped; once they close, all is served
start few --max-connections 8 || exit 1
conns=()
for _ in $(seq 12); do exec {fd}<>/dev/tcp/127.0.0.1/"$PORT" && conns+=("$fd"); done
sleep 0.2
check max-connections-drops "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/health")" 000
for fd in "${conns[@]}"; do exec {fd}>&-; done
ok=
for _ in $(seq 50); do ok=$(curl -s --max-time 10 "http://127.0.0.1:$PORT/health") && [ -n "$ok" ] && break; sleep 0.1; done
check max-connections-serves-after "$ok" '{"status":"ok"}'
kill -TERM "$SPID"; wait "$SPID"
start notemplate --tokenizer tests/tokenizer/fixtures/llama3 --timeout 1 || exit 1
exec {fd}<>/dev/tcp/127.0.0.1/"$PORT"
printf 'POST /v1/completions HTTP/1.1\r\nHost: x\r\n' >&"$fd"   # and then nothing
sleep 2.5
timeout 5 cat <&"$fd" >/dev/null
check timeout-closes-a-silent-client "$?" 0
exec {fd}>&-
refused chat-template-missing 400 "only the Llama 3 template is rendered" /v1/chat/completions '{"messages": [{"role": "user", "content": "hi"}]}'
kill -TERM "$SPID"; wait "$SPID"

# ---- weights that overflow (every element of a tensor the largest bf16): never tokens from NaN
if command -v python3 >/dev/null; then
  "$RUN" "${MODEL[@]}" --save-weights "$T/w.safetensors" 2>/dev/null
  huge_tensor() {   # DST TENSOR
    python3 - "$T/w.safetensors" "$1" "$2" <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
lo, hi = json.loads(data[8:8 + n])[sys.argv[3]]['data_offsets']
body = bytearray(data[8 + n:])
body[lo:hi] = b'\x7f\x7f' * ((hi - lo) // 2)
open(sys.argv[2], 'wb').write(data[:8 + n] + bytes(body))
PY
  }
  huge_tensor "$T/head.safetensors" lm_head.weight
  MODEL=(--layout tests/mixrun/tiny.mix --set vocab=604 --set context=4096 --weights "$T/head.safetensors" --backend cpu)
  start inf-logits || exit 1
  refused inf-logits-500 500 "the logits at position 3 hold NaN (the cpu backend)" /v1/completions '{"prompt": [1, 2, 3], "max_tokens": 4}'
  # greedy (temperature 0): the backend's argmax code of the logits, no logits looked at, the same 500
  refused inf-logits-greedy-500 500 "the logits at position 3 hold NaN (the cpu backend)" /v1/completions '{"prompt": [1, 2, 3], "max_tokens": 4, "temperature": 0}'
  # an echo's log-probabilities: the first prompt position's logits already hold NaN
  refused inf-logits-echo-500 500 "the logits at prompt position 0 hold NaN (the cpu backend)" /v1/completions \
    '{"prompt": [1, 2, 3], "max_tokens": 4, "echo": true, "logprobs": 1}'
  check inf-logits-server-still-healthy "$(curl -s "http://127.0.0.1:$PORT/health")" '{"status":"ok"}'
  kill -TERM "$SPID"; wait "$SPID"
  huge_tensor "$T/mlp.safetensors" model.layers.1.mlp.up_proj.weight
  MODEL[7]=$T/mlp.safetensors
  start backend-fails || exit 1
  refused backend-failure-500 500 "the cpu backend failed: layer 1 produced" /v1/completions '{"prompt": [1, 2, 3], "max_tokens": 4}'
  CODE=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/health")
  check backend-failure-health-503 "$CODE:$(jq -r '.error.message[0:22]' "$T/body")" "503:the cpu backend failed"
  refused backend-failure-then-503 503 "the cpu backend failed" /v1/completions '{"prompt": [1, 2, 3], "max_tokens": 4}'
  kill -TERM "$SPID"; wait "$SPID"
  check backend-failure-exit-0 "$?" 0
  MODEL=(--layout tests/mixrun/tiny.mix --set vocab=604 --set context=4096 --random-weights 5 --backend cpu)
else
  echo "SKIP http: weights that overflow (no python3 to write them)"
fi

# ---- --scheduling-policy priority: the queue admits the least priority first, then by arrival; a
# request's choices stay together. One slot, held by a long streamed answer (context 65536) while
# five requests queue (each waits in mixc_sequences_waiting before the next is sent); its client then
# leaves, and the trace's admissions give the order. fcfs (the default) takes priority 0 alone, as vLLM.
waiting() { curl -s --max-time 10 "http://127.0.0.1:$PORT/metrics" | awk '$1 == "mixc_sequences_waiting" { print $2 }'; }
wait_waiting() {   # wait_waiting N: until N generations wait (at most 10 s)
  for _ in $(seq 200); do [ "$(waiting)" = "$1" ] && return 0; sleep 0.05; done
  return 1
}
if start priority --max-seqs 1 --trace --scheduling-policy priority --set context=65536 --tokenizer "$T/tok"; then
  curl -sN --max-time 120 "http://127.0.0.1:$PORT/v1/completions" -d '{"prompt": [1, 2, 3], "max_tokens": 65000, "ignore_eos": true, "stream": true}' >/dev/null &
  hold=$!
  for _ in $(seq 200); do grep -q 'admit cmpl-1 ' "$T/priority.err" && break; sleep 0.05; done
  queued=0 qpids=()
  for body in '{"priority": 5}' '{"priority": -1, "n": 2}' '{"priority": 5}' '{"priority": 0}' '{}'; do
    curl -s --max-time 60 -o /dev/null "http://127.0.0.1:$PORT/v1/completions" \
      -d "$(jq -c '. + {prompt: [4, 5], max_tokens: 1}' <<<"$body")" &
    qpids+=($!)
    queued=$((queued + $(jq '.n // 1' <<<"$body")))
    wait_waiting "$queued" || break
  done
  check priority-all-queued "$(waiting)" 6
  # a streamed /v1/responses request queued behind them is created at once: its first events come
  # before its prefill (its client then leaves, and it leaves the queue)
  curl -sN --max-time 1 "http://127.0.0.1:$PORT/v1/responses" -d '{"input": "hi", "max_output_tokens": 1, "stream": true}' >"$T/rqueued"
  check responses-created-while-queued "$(sed -n 's/^event: //p' "$T/rqueued" | paste -sd,):$(wait_waiting 6 && echo dropped)" \
    "response.created,response.in_progress:dropped"
  kill "$hold"; wait "$hold" 2>/dev/null
  wait "${qpids[@]}"
  kill -TERM "$SPID"; wait "$SPID"
  # cmpl-2 (5), cmpl-3 (-1, two choices), cmpl-4 (5), cmpl-5 (0), cmpl-6 (none: 0); the response left
  check priority-admission-order "$(grep -o 'admit cmpl-[0-9]*' "$T/priority.err" | awk '{ printf "%s%s", sep, $2; sep = " " }')" \
    "cmpl-1 cmpl-3 cmpl-3 cmpl-5 cmpl-6 cmpl-2 cmpl-4"
fi
start fcfs --tokenizer "$T/tok" --return-tokens-as-token-ids || exit 1
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 3, "temperature": 0, "logprobs": 1}'
a=$(jq -c '.choices[0] | (.logprobs.tokens == (.token_ids | map("token_id:\(.)")))' "$T/body")
post /v1/completions '{"prompt": [5, 17, 300], "max_tokens": 3, "temperature": 0, "logprobs": 1, "return_tokens_as_token_ids": false}'
check server-tokens-as-ids-default "$a:$(jq -c '.choices[0].logprobs.tokens | map(startswith("token_id:")) | any' "$T/body")" "true:false"
refused priority-needs-policy 400 "field 'priority' is 1, but this server schedules first come, first served: start it with --scheduling-policy priority" \
  /v1/completions '{"prompt": [1, 2], "max_tokens": 1, "priority": 1}'
post /v1/completions '{"prompt": [1, 2], "max_tokens": 1, "priority": 0}'
check fcfs-priority-0 "$CODE" 200
refused priority-integer 400 "field 'priority' must be an integer" /v1/completions '{"prompt": [1, 2], "max_tokens": 1, "priority": 1.5}'
kill -TERM "$SPID"; wait "$SPID"
"$RUN" serve "${MODEL[@]}" --scheduling-policy lifo >/dev/null 2>"$T/err"
check usage-scheduling-policy-choice "$?:$(grep -c 'fcfs' "$T/err")" "2:1"

# ---- /v1/responses kept (--store-responses 2): a response continued by previous_response_id runs
# its conversation (the earlier input and output as chat messages, its instructions not carried, as
# OpenAI's), GET gives a kept response's object back (a stream's, its last event's), DELETE drops it,
# the oldest goes when a third comes; store false keeps none
if start store --tokenizer "$T/tok" --store-responses 2; then
  post /v1/responses '{"instructions": "Be brief.", "input": "Hi there", "max_output_tokens": 3, "temperature": 0}'
  cp "$T/body" "$T/kept1"
  post /v1/responses "{\"input\": \"And then?\", \"max_output_tokens\": 3, \"temperature\": 0, \"previous_response_id\": \"$(jq -r .id "$T/kept1")\"}"
  cp "$T/body" "$T/kept2"
  post /tokenize "$(jq -nc --slurpfile a "$T/kept1" '{messages: [{role: "user", content: "Hi there"}, {role: "assistant",
    content: $a[0].output[0].content[0].text}, {role: "user", content: "And then?"}]}')"
  check responses-previous-conversation "$(jq -c '[.store, .previous_response_id, .usage.input_tokens]' "$T/kept2")" \
    "[true,$(jq -c .id "$T/kept1"),$(jq .count "$T/body")]"
  CODE=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/responses/$(jq -r .id "$T/kept2")")
  check responses-get "$CODE:$(jq -S -c . "$T/body" | cmp -s - <(jq -S -c . "$T/kept2") && echo same)" "200:same"
  post /v1/responses '{"input": "Third", "max_output_tokens": 2, "temperature": 0}'
  CODE=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/responses/$(jq -r .id "$T/kept1")")
  check responses-oldest-dropped "$CODE:$(jq -r '.error.message' "$T/body")" \
    "404:no response '$(jq -r .id "$T/kept1")' is kept (never stored, deleted, or dropped for newer ones: this server keeps the last 2)"
  CODE=$(curl -s -X DELETE -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/responses/$(jq -r .id "$T/kept2")")
  check responses-delete "$CODE:$(jq -c . "$T/body"):$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/responses/$(jq -r .id "$T/kept2")")" \
    "200:{\"id\":$(jq -c .id "$T/kept2"),\"object\":\"response\",\"deleted\":true}:404"
  refused responses-previous-not-kept 404 "no response 'resp_99' is kept" /v1/responses '{"input": "x", "previous_response_id": "resp_99"}'
  curl -sN --max-time 60 "http://127.0.0.1:$PORT/v1/responses" -d '{"input": "Hi", "max_output_tokens": 3, "temperature": 0, "stream": true}' >"$T/rsse"
  sed -n 's/^data: //p' "$T/rsse" | tail -n 1 | jq -S -c .response >"$T/rlast"
  check responses-get-streamed "$(curl -s "http://127.0.0.1:$PORT/v1/responses/$(jq -r .id "$T/rlast")" | jq -S -c . | cmp -s - "$T/rlast" && echo same)" same
  post /v1/responses '{"input": "Hi", "max_output_tokens": 1, "store": false}'
  check responses-store-false "$(jq -c .store "$T/body"):$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/responses/$(jq -r .id "$T/body")")" "false:404"
  kill -TERM "$SPID"; wait "$SPID"
fi

# ---- a port in use: exit 1, saying so
start taken || exit 1
"$RUN" serve "${MODEL[@]}" --port "$PORT" >/dev/null 2>"$T/err"
check port-in-use "$?:$(grep -c "cannot listen on 127.0.0.1 port $PORT" "$T/err")" "1:1"
kill -TERM "$SPID"; wait "$SPID"

# ---- a backend holding its own weights (emu; cuda the same code): the fp32 model is freed once the
# backend has opened, so a server's memory is not its fp32 weights on top of the backend's copy. Here the
# fp32 embedding and head alone are 256 MiB (vocab 65536 x hidden 512, twice); the server, holding its
# bf16 copy (128 MiB), stays below that (it held ~400 MiB before). Not under the sanitizers, whose
# quarantine keeps freed memory resident.
if have_toolkit && ! sanitized "$RUN" && [ -r /proc/self/status ]; then
  MODEL=(--layout tests/mixrun/tiny.mix --set vocab=65536 --set hidden=512 --set heads=8 --set head_dim=64 --set ffn=256
         --random-weights 1 --backend emu)
  if MIXC_CACHE_DIR=$T/emu-cache start emu-weights --max-seqs 1; then
    rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$SPID/status")
    hwm=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$SPID/status")   # the peak: the fp32 model and the device's copy
    fp32=$((65536 * 512 * 2 * 4))
    [ "$rss" -lt "$fp32" ] && pass "emu server: resident $((rss >> 20)) MiB, below its fp32 weights' $((fp32 >> 20)) MiB (the model is freed once the backend holds its own)" ||
      fail "emu server: resident $((rss >> 20)) MiB, not below its fp32 weights' $((fp32 >> 20)) MiB"
    kill -TERM "$SPID"; wait "$SPID"
  fi
  # The same weights from a checkpoint, streamed (docs/model.md, "Streamed loads"): the server's peak
  # is the device's copy and one part (the embedding here), below the random-weights server's (which
  # made the whole fp32 model first), and it answers as mixrun does alone.
  EW=(--layout tests/mixrun/tiny.mix --set vocab=65536 --set hidden=512 --set heads=8 --set head_dim=64 --set ffn=256)
  if "$RUN" "${EW[@]}" --random-weights 1 --save-weights "$T/emu-w.safetensors" >/dev/null 2>&1; then
    MODEL=("${EW[@]}" --weights "$T/emu-w.safetensors" --backend emu)
    if MIXC_CACHE_DIR=$T/emu-cache start emu-streamed --max-seqs 1; then
      shwm=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$SPID/status")
      curl -s --max-time 60 "http://127.0.0.1:$PORT/v1/completions" -d '{"prompt": [5, 6, 7], "max_tokens": 4, "temperature": 0}' >"$T/sresp"
      got=$(jq -r '.choices[0].token_ids | map(tostring) | join(",")' "$T/sresp" 2>/dev/null)
      want=$(MIXC_CACHE_DIR=$T/emu-cache "$RUN" "${MODEL[@]}" --tokens 5,6,7 --max-new 4 2>/dev/null)
      [ -n "$want" ] && [ "$got" = "$want" ] && [ "$shwm" -lt "${hwm:-0}" ] &&
        pass "emu server from a streamed checkpoint: answers as mixrun alone ($got); peak $((shwm >> 20)) MiB, $((hwm >> 20)) MiB from random weights" ||
        fail "emu server from a streamed checkpoint" "tokens '$got', alone '$want'; peak $shwm, random weights' ${hwm:-}"
      # echo + logprobs: the prompt's rows come back from the device (all_logits) beside the argmax;
      # within 1e-2 of the logits run alone (the prompt rows equal them; the decoded ids' bf16 decode step
      # differs from a prefill by ~3e-3)
      curl -s --max-time 60 "http://127.0.0.1:$PORT/v1/completions" \
        -d '{"prompt": [5, 6, 7, 8, 9, 10], "max_tokens": 2, "temperature": 0, "echo": true, "logprobs": 2}' >"$T/secho"
      if out=$(MIXC_CACHE_DIR=$T/emu-cache LP_TOL=1e-2 logprobs_match "$T/secho" 2 5,6,7,8,9,10 echo 2>&1); then
        pass "emu server: echo + logprobs, every prompt row from the device, = log_softmax of the logits run alone"
      else fail "emu server: echo + logprobs, every prompt row from the device" "$out"; fi
      kill -TERM "$SPID"; wait "$SPID"
    fi
  else fail "emu server from a streamed checkpoint: --save-weights"; fi
  # The cuda backend under the stand-in driver (its kernels in the emulator): echo + logprobs, every
  # prompt row copied back beside the argmax, = the emu backend's logits run alone (the same kernels)
  CS=(--layout tests/mixrun/tiny.mix --set vocab=604 --set context=64 --set head_dim=64 --random-weights 5)
  if "$BUILD/tests/cuda/plan_check" tests/mixrun/tiny.mix - "${CS[@]:2:6}" --emu-so "$T/kc.so" >"$T/pc" 2>&1; then
    MODEL=("${CS[@]}" --backend cuda)
    if FAKE_CUDA=full FAKE_CUDA_EMU_SO="$T/kc.so" FAKE_CUBLAS_COMPUTE=1 MIXC_CACHE_DIR=$T/emu-cache \
       LD_LIBRARY_PATH="$BUILD/tests/cuda/fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" start cuda-echo --max-seqs 2 --trace; then
      curl -s --max-time 60 "http://127.0.0.1:$PORT/v1/completions" \
        -d '{"prompt": [5, 6, 7, 8, 9, 10, 11, 12, 13, 14], "max_tokens": 3, "temperature": 0, "echo": true, "logprobs": 3}' >"$T/cecho"
      # a prompt's choices forked on the device (cuMemcpyDtoD of the caches): each equals its request alone
      post /v1/completions '{"prompt": [5, 6, 7, 8, 9, 10, 11, 12, 13], "max_tokens": 4, "temperature": 1.1, "seed": 8, "n": 3}'
      got=$(jq -c '[.choices[].token_ids]' "$T/body")
      want=$(for j in 0 1 2; do post /v1/completions "{\"prompt\": [5, 6, 7, 8, 9, 10, 11, 12, 13], \"max_tokens\": 4, \"temperature\": 1.1, \"seed\": $((8 + j))}"; jq -c '.choices[0].token_ids' "$T/body"; done | jq -sc .)
      check cuda-forks-equal-alone "$got" "$want"
      check cuda-forked "$(grep -o ' fork cmpl-2' "$T/cuda-echo.err" | wc -l)" 1   # 2 slots: the third prefills its own
      MODEL=("${CS[@]}" --backend emu)
      if out=$(MIXC_CACHE_DIR=$T/emu-cache LP_TOL=1e-2 logprobs_match "$T/cecho" 3 5,6,7,8,9,10,11,12,13,14 echo 2>&1); then
        pass "cuda server (stand-in driver): echo + logprobs, every prompt row from the device, = emu's logits run alone"
      else fail "cuda server (stand-in driver): echo + logprobs" "$out" "$(grep fake_cuda "$T/cuda-echo.err" | head -3)"; fi
      kill -TERM "$SPID"; wait "$SPID"
    fi
  else fail "cuda server (stand-in driver): the emulator's kernels" "$(head -c 600 "$T/pc")"; fi
  # a prompt's choices forked on the kernels' int8 caches (emu), unpaged (the rows the prompt fills:
  # codes, then scales) and paged (the pages' rows copied, the fork's block table uploaded to the
  # kernels' copy); 3 choices of 12 tokens (the rings wrap) each = its request alone, 2 forks
  MODEL=("${CS[@]}" --set kv_dtype=int8 --backend emu)
  for paged in "" "--page-tokens 4"; do
    name=emu-forks-int8${paged:+-paged}
    MIXC_CACHE_DIR=$T/emu-cache start "$name" --max-seqs 4 --trace $paged || continue
    post /v1/completions '{"prompt": [5, 6, 7, 8, 9, 10, 11, 12, 13], "max_tokens": 12, "temperature": 1.1, "seed": 8, "n": 3}'
    got=$(jq -c '[.choices[].token_ids]' "$T/body")
    want=$(for j in 0 1 2; do post /v1/completions "{\"prompt\": [5, 6, 7, 8, 9, 10, 11, 12, 13], \"max_tokens\": 12, \"temperature\": 1.1, \"seed\": $((8 + j))}"; jq -c '.choices[0].token_ids' "$T/body"; done | jq -sc .)
    kill -TERM "$SPID"; wait "$SPID"
    check "$name-equal-alone" "$got:$(grep -o ' fork cmpl-1' "$T/$name.err" | wc -l)" "$want:2"
  done
  MODEL=(--layout tests/mixrun/tiny.mix --set vocab=604 --set context=4096 --random-weights 5 --backend cpu)
else
  echo "SKIP http: the emu server's memory (no toolkit, the sanitizers or no /proc)"
fi

# ---- usage errors
"$RUN" serve "${MODEL[@]}" --tokens 1 >/dev/null 2>"$T/err"
check usage-serve-with-tokens "$?:$(grep -c 'mixrun serve takes the model' "$T/err")" "2:1"
"$RUN" "${MODEL[@]}" --tokens 1 --port 1 >/dev/null 2>"$T/err"
check usage-port-without-serve "$?:$(grep -c 'go with mixrun serve' "$T/err")" "2:1"
"$RUN" "${MODEL[@]}" --tokens 1 --generation-config vllm >/dev/null 2>"$T/err"
check usage-generation-config-without-serve "$?:$(grep -c 'go with mixrun serve' "$T/err")" "2:1"
"$RUN" "${MODEL[@]}" --tokens 1 --override-generation-config '{}' >/dev/null 2>"$T/err"
check usage-override-generation-config-without-serve "$?:$(grep -c 'go with mixrun serve' "$T/err")" "2:1"
"$RUN" "${MODEL[@]}" --tokens 1 --api-key k >/dev/null 2>"$T/err"
check usage-api-key-without-serve "$?:$(grep -c 'go with mixrun serve' "$T/err")" "2:1"
"$RUN" "${MODEL[@]}" --tokens 1 --scheduling-policy fcfs >/dev/null 2>"$T/err"
check usage-scheduling-policy-without-serve "$?:$(grep -c -- '--scheduling-policy goes with mixrun serve, --requests or --synthetic' "$T/err")" "2:1"

[ "$fails" -eq 0 ]
