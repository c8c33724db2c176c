#!/usr/bin/env bash
# The model runtime's tests: the C tests of tests/mixrun/test_model, then the mixrun program end to
# end (options, --set, safetensors round trips and bad files, --dump-logits, ring caches, examples at
# test size, --backend cuda without a GPU, --bench), then the emu backend against the cpu backend on
# every example (a subset under the sanitizers). Prints PASS/FAIL lines; exits 1 on failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUN=$BUILD/mixrun
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }

# The C tests print their own PASS/FAIL lines.
if ! "$BUILD/tests/mixrun/test_model" "$T"; then fails=$((fails + 1)); fi
if ! "$BUILD/tests/mixrun/test_st_guard" "$T"; then fails=$((fails + 1)); fi

TINY=tests/mixrun/tiny.mix
PROMPT=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40

# run NAME EXPECTED_RC ARGS...: runs mixrun, stdout in $T/out, stderr in $T/err; checks the status.
run() {
  local name=$1 want=$2; shift 2
  "$RUN" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "$name" "exit $rc, expected $want: mixrun $*" "$(head -c 600 "$T/err")"
    return 1
  fi
  return 0
}
# expect_err NAME TEXT: the last run's stderr holds TEXT.
expect_err() {
  if grep -qF -- "$2" "$T/err"; then pass "$1"; else fail "$1" "stderr lacks '$2':" "$(head -c 600 "$T/err")"; fi
}
# npy_check FILE ROWS COLS: a version 1.0 '<f4' header with that shape and exactly the data after it.
npy_check() {
  local f=$1 rows=$2 cols=$3 hlen size
  [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 934e554d50590100 ] || return 1
  hlen=$(head -c 10 "$f" | tail -c 2 | od -An -tu2 | tr -d ' ')
  [ $(((10 + hlen) % 64)) -eq 0 ] || return 1
  head -c $((10 + hlen)) "$f" | grep -qF "{'descr': '<f4', 'fortran_order': False, 'shape': ($rows, $cols), }" || return 1
  size=$(stat -c %s "$f")
  [ "$size" -eq $((10 + hlen + rows * cols * 4)) ]
}

# ---- options
if run "help" 0 --help && grep -q "^usage: mixrun --layout" "$T/out"; then pass "--help prints usage, exit 0"; else fail "--help prints usage, exit 0"; fi
run "no layout" 2 --random-weights 1 --tokens 1 && expect_err "usage error: no --layout" "mixrun: no --layout given"
run "unknown option" 2 --layout $TINY --random-weights 1 --tokens 1 --frobnicate && expect_err "usage error: unknown option" "unknown option '--frobnicate'"
run "both weights" 2 --layout $TINY --random-weights 1 --weights x --tokens 1 && expect_err "usage error: two weight sources" "not both"
run "no weights" 2 --layout $TINY --tokens 1 && expect_err "usage error: no weights" "no weights"
run "bad backend" 2 --layout $TINY --random-weights 1 --tokens 1 --backend tpu && expect_err "usage error: unknown backend" "mixrun: --backend: bad value 'tpu' (cuda, cpu or emu)"
run "missing value" 2 --layout $TINY --random-weights 1 --tokens && expect_err "usage error: option without its value" "--tokens needs a value"
run "bad set" 2 --layout $TINY --random-weights 1 --tokens 1 --set hidden && expect_err "usage error: --set without =" "--set needs key=value"
run "bad tokens" 1 --layout $TINY --random-weights 1 --tokens 1,x,3 && expect_err "input error: a token that is not a number" "'x' is not a token id"
# An id is decimal digits alone; a comma with no id on one side most likely lost one
for bad in "+1|'+1' is not a token id" "1,,2|two commas without an id between them" ",1|a comma before the first id" \
           "1,2,|a comma after the last id" "2147483648|'2147483648' is not a token id" "1e3|'1e3' is not a token id"; do
  run "tokens ${bad%%|*}" 1 --layout $TINY --random-weights 1 --tokens "${bad%%|*}" &&
    expect_err "--tokens ${bad%%|*} is refused" "mixrun: --tokens: ${bad#*|}"
done
run "tokens control byte" 1 --layout $TINY --random-weights 1 --tokens $'1,2\x1b3' &&
  expect_err "a control byte of a bad id is shown as \\u00XX, not sent to the terminal" "'2\u001b3' is not a token id"
run "tokens spaced" 0 --layout $TINY --random-weights 1 --tokens " 1 , 2	3 " --max-new 2 && cp "$T/out" "$T/spaced.out"
run "tokens plain" 0 --layout $TINY --random-weights 1 --tokens 1,2,3 --max-new 2
if cmp -s "$T/out" "$T/spaced.out"; then pass "ids separated by white space and single commas read as the same ids"
else fail "ids separated by white space and single commas read as the same ids" "$(cat "$T/spaced.out")" "$(cat "$T/out")"; fi
# The defaults --help states are the ones that run: --max-new's (a prompt of 3 leaves room in tiny's
# context of 128) and --bench's prompt length (context 300 leaves room for it).
"$RUN" --help >"$T/help"
default_new=$(sed -n 's/.*--max-new N .*(default \([0-9]*\),.*/\1/p' "$T/help")
default_len=$(sed -n 's/^ *default \([0-9]*\) or the --tokens count.*/\1/p' "$T/help")
run "default max-new" 0 --layout $TINY --random-weights 1 --tokens 1,2,3 &&
  if [ -n "$default_new" ] && [ "$(tr ',' '\n' <"$T/out" | grep -c .)" = "$default_new" ]; then pass "a run without --max-new generates the $default_new ids --help says"
  else fail "a run without --max-new generates the ids --help says" "help: '$default_new'" "$(cat "$T/out")"; fi
run "default prompt-len" 0 --layout $TINY --set context=300 --random-weights 1 --bench --json --max-new 2 &&
  if [ -n "$default_len" ] && [ "$(jq .prompt_tokens "$T/out")" = "$default_len" ]; then pass "--bench without --prompt-len runs the $default_len prompt tokens --help says"
  else fail "--bench without --prompt-len runs the prompt tokens --help says" "help: '$default_len'" "$(cat "$T/out")"; fi
run "vocab" 1 --layout $TINY --random-weights 1 --tokens 1,256 && expect_err "input error: a token outside the vocabulary" "token 256 (position 1) is outside the vocabulary [0, 256)"
run "context" 1 --layout $TINY --random-weights 1 --tokens 1,2 --max-new 127 && expect_err "input error: prompt + new tokens beyond the context" "more than the context (128)"
run "batch without bench" 2 --layout $TINY --random-weights 1 --tokens 1 --batch 4 &&
  expect_err "usage error: --batch without --bench (it was ignored: one sequence ran)" "--batch and --prompt-len go with --bench"
run "prompt-len without bench" 2 --layout $TINY --random-weights 1 --prompts /dev/null --prompt-len 4 &&
  expect_err "usage error: --prompt-len without --bench" "--batch and --prompt-len go with --bench"
run "layout" 2 --layout "$T/none.mix" --random-weights 1 --tokens 1 && expect_err "unreadable layout: exit 2, as in every command" "mixrun: cannot read '$T/none.mix'"
# --prompts: one prompt per line, all in one batch
printf '1,2,3\n\n4 x 6\n' >"$T/bad-prompts"
run "prompts bad id" 1 --layout $TINY --random-weights 1 --prompts "$T/bad-prompts" &&
  expect_err "--prompts: a bad id is named with file:line" "bad-prompts:3: 'x' is not a token id"
printf '1,2\n , \n' >"$T/comma-prompts"
run "prompts comma line" 1 --layout $TINY --random-weights 1 --prompts "$T/comma-prompts" &&
  expect_err "--prompts: a line of a comma is a lost prompt, not a blank line" "comma-prompts:2: a comma before the first id"
printf '1,2,3\n4,300\n' >"$T/vocab-prompts"
run "prompts vocab" 1 --layout $TINY --random-weights 1 --prompts "$T/vocab-prompts" &&
  expect_err "--prompts: a token outside the vocabulary names its prompt" "token 300 (prompt 2, position 1) is outside the vocabulary"
printf '\n  \n' >"$T/empty-prompts"
run "prompts empty" 1 --layout $TINY --random-weights 1 --prompts "$T/empty-prompts" &&
  expect_err "--prompts: a file without a prompt is an error" "holds no prompt"
run "prompts and tokens" 2 --layout $TINY --random-weights 1 --prompts "$T/empty-prompts" --tokens 1 &&
  expect_err "usage error: --prompts with --tokens" "give one of --tokens, --tokens-file and --prompts"
printf '1,2\0,3\n' >"$T/nul-tokens"
run "tokens-file nul" 1 --layout $TINY --random-weights 1 --tokens-file "$T/nul-tokens" &&
  expect_err "--tokens-file: a NUL byte is refused (the ids would end there)" "mixrun: '$T/nul-tokens' holds a NUL byte"
printf '%s\n1,2\n' "$(seq -s, 1 120)" >"$T/long-prompts"
run "prompts context" 1 --layout $TINY --random-weights 1 --prompts "$T/long-prompts" --max-new 20 &&
  expect_err "--prompts: the longest prompt + new tokens beyond the context" "the longest prompt: 120 prompt + 20 new tokens is more than the context (128)"

# ---- --backend cuda on a machine without a GPU (or a mixrun built without the toolkit) exits 2
. tests/toolkit.sh
if run "cuda" 2 --layout $TINY --random-weights 1 --tokens 1,2 --backend cuda; then
  if { have_toolkit && grep -q "^mixrun: no CUDA device available (" "$T/err"; } ||
     { ! have_toolkit && grep -q "^mixrun: the cuda backend needs the CUDA toolkit" "$T/err"; }; then
    pass "--backend cuda without a GPU exits 2 with a clear message"
  else fail "--backend cuda without a GPU exits 2 with a clear message" "$(cat "$T/err")"; fi
fi

# ---- generation, determinism, --dump-logits
if run "gen" 0 --layout $TINY --random-weights 7 --tokens 5,6,7 --max-new 5 --dump-logits "$T/a.npy"; then
  gen=$(cat "$T/out")
  if [[ "$gen" =~ ^[0-9]+(,[0-9]+){4}$ ]]; then pass "greedy decoding prints 5 token ids"; else fail "greedy decoding prints 5 token ids" "$gen"; fi
  if npy_check "$T/a.npy" 8 256; then pass "--dump-logits writes a valid .npy [prompt + new, vocab]"; else fail "--dump-logits writes a valid .npy [prompt + new, vocab]" "$(head -c 128 "$T/a.npy" | strings)"; fi
  run "gen2" 0 --layout $TINY --random-weights 7 --tokens 5,6,7 --max-new 5 && [ "$(cat "$T/out")" = "$gen" ] &&
    pass "same seed, same tokens (with or without --dump-logits)" || fail "same seed, same tokens" "$gen / $(cat "$T/out")"
  run "gen3" 0 --layout $TINY --random-weights 8 --tokens 5,6,7 --max-new 5 --dump-logits "$T/c.npy" && ! cmp -s "$T/a.npy" "$T/c.npy" &&
    pass "another seed gives other logits" || fail "another seed gives other logits"
  printf '5 6\n7\n' >"$T/prompt.txt"
  run "tokens-file" 0 --layout $TINY --random-weights 7 --tokens-file "$T/prompt.txt" --max-new 5 && [ "$(cat "$T/out")" = "$gen" ] &&
    pass "--tokens-file reads the same prompt" || fail "--tokens-file reads the same prompt" "$(cat "$T/out")"
fi

# ---- safetensors round trip through the CLI, and bad files
if run "save" 0 --layout $TINY --random-weights 7 --save-weights "$T/w.safetensors" --tokens 5,6,7 --max-new 5 --dump-logits "$T/s1.npy" &&
   run "load" 0 --layout $TINY --weights "$T/w.safetensors" --tokens 5,6,7 --max-new 5 --dump-logits "$T/s2.npy"; then
  if cmp -s "$T/s1.npy" "$T/s2.npy" && cmp -s "$T/s1.npy" "$T/a.npy"; then pass "--save-weights then --weights: identical logits"
  else fail "--save-weights then --weights: identical logits"; fi
  head -c 20000 "$T/w.safetensors" >"$T/trunc.safetensors"
  run "trunc" 1 --layout $TINY --weights "$T/trunc.safetensors" --tokens 1 && expect_err "bad weights (cli): truncated file names the file and the tensor" "trunc.safetensors': tensor '"
  run "wrong layout" 1 --layout $TINY --set hidden=32 --weights "$T/w.safetensors" --tokens 1 && expect_err "bad weights (cli): wrong shape names the tensor" "'model.embed_tokens.weight' has shape [256, 64]; the layout needs [256, 32]"
fi
# Progress of long work: none in a run of less than 2 s; with MIXC_PROGRESS_AFTER=0 from the first
# piece: the write of --save-weights in MiB (8 MiB here: vocab 32768), the load of --weights by tensor,
# the prefill by token and the decode by step (then at most one line a second: the first only here).
PV=(--layout $TINY --set vocab=32768 --tokens 1,2 --max-new 1)
if run "progress save" 0 "${PV[@]}" --random-weights 7 --save-weights "$T/pv.safetensors" &&
   ! grep -q "MiB\|loading weights" "$T/err"; then pass "progress: a save of less than 2 s prints no progress line"
else fail "progress: a save of less than 2 s prints no progress line" "$(grep -v '^ \|note' "$T/err" | head -n 3)"; fi
if MIXC_PROGRESS_AFTER=0 run "progress save 0" 0 "${PV[@]}" --random-weights 7 --save-weights "$T/pv.safetensors"; then
  grep -qE "^mixrun: writing '$T/pv.safetensors': MiB [0-8]/8 \([0-9]+ s\)$" "$T/err" &&
    pass "progress: MIXC_PROGRESS_AFTER=0 shows --save-weights' write in MiB" ||
    fail "progress: MIXC_PROGRESS_AFTER=0 shows --save-weights' write in MiB" "$(grep -v '^ \|note\|warning' "$T/err" | head -n 3)"
fi
MIXC_PROGRESS_AFTER=0 run "progress load 0" 0 "${PV[@]}" --weights "$T/pv.safetensors" &&
  expect_err "progress: MIXC_PROGRESS_AFTER=0 shows --weights' load by tensor" "mixrun: loading weights: tensor 1/"
printf '1 2 3\n4 5\n' >"$T/pv.prompts"
if MIXC_PROGRESS_AFTER=0 run "progress generate 0" 0 --layout $TINY --random-weights 1 --prompts "$T/pv.prompts" --max-new 3; then
  grep -qE "^mixrun: prefill: token 3/5 \([0-9]+ s\)$" "$T/err" && grep -qE "^mixrun: decode: step 1/3 \([0-9]+ s\)$" "$T/err" &&
    pass "progress: MIXC_PROGRESS_AFTER=0 shows the prefill by token (both prompts' 5) and the decode by step" ||
    fail "progress: the prefill by token and the decode by step" "$(grep -v '^ \|note\|warning' "$T/err" | head -n 4)"
fi
MIXC_PROGRESS_AFTER=soon run "progress bad" 0 "${PV[@]}" --weights "$T/pv.safetensors" &&
  expect_err "progress: a MIXC_PROGRESS_AFTER that is not a count is said" "mixrun: warning: MIXC_PROGRESS_AFTER 'soon' is not a count of seconds"
# weights of a layout where layer 1 owns its cache, loaded into one where layer 1 reads layer 0's
sed 's/^layer 1 : global reads 0/layer 1 : global/' $TINY >"$T/own.mix"
if run "save own" 0 --layout "$T/own.mix" --random-weights 1 --save-weights "$T/own.safetensors"; then
  run "reader kproj" 1 --layout $TINY --weights "$T/own.safetensors" --tokens 1 &&
    expect_err "bad weights (cli): a reading layer with k_proj is an error" "'model.layers.1.self_attn.k_proj.weight' is present, but layer 1 reads layer 0's cache"
  run "missing kproj" 1 --layout "$T/own.mix" --weights "$T/w.safetensors" --tokens 1 &&
    expect_err "bad weights (cli): a missing tensor is named" "tensor 'model.layers.1.self_attn.k_proj.weight' is missing"
fi
run "absent" 1 --layout $TINY --weights "$T/absent.safetensors" --tokens 1 && expect_err "bad weights (cli): no such file" "absent.safetensors': cannot open"
mkfifo "$T/fifo.safetensors"   # no writer: opening it to read would wait forever
timeout 20 "$RUN" --layout $TINY --weights "$T/fifo.safetensors" --tokens 1 >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] && expect_err "bad weights (cli): a FIFO is refused at once, not waited on" "fifo.safetensors': not a regular file" ||
  fail "bad weights (cli): a FIFO is refused at once, not waited on" "exit $rc"
# qkv_bias (Qwen2): the bias tensors are saved and read back (same logits), a checkpoint without them
# is refused naming the first, and the kernels refuse the layout (cpu only for now).
sed 's/^\(model "[^"]*" {\)$/\1\n    qkv_bias = true/' $TINY >"$T/qb.mix"
QB=(--layout "$T/qb.mix" --tokens 5,6,7 --max-new 5)
if run "qkv_bias save" 0 "${QB[@]}" --random-weights 7 --save-weights "$T/qb.safetensors" --dump-logits "$T/qb1.npy" &&
   run "qkv_bias load" 0 "${QB[@]}" --weights "$T/qb.safetensors" --dump-logits "$T/qb2.npy"; then
  grep -q 'q_proj.bias' <(head -c 8000 "$T/qb.safetensors") && cmp -s "$T/qb1.npy" "$T/qb2.npy" && ! cmp -s "$T/qb1.npy" "$T/s1.npy" &&
    pass "qkv_bias: biases saved and read back, the same logits (and not the unbiased model's)" ||
    fail "qkv_bias: biases saved and read back"
  run "qkv_bias missing" 1 "${QB[@]}" --weights "$T/w.safetensors" &&
    expect_err "qkv_bias: a checkpoint without the biases is refused naming one" "tensor 'model.layers.0.self_attn.q_proj.bias' is missing"
fi

# The families' variations (Gemma 3's, with Gemma 2's soft-caps): the q/k norms and the sandwich norms
# are saved under their HF names and read back (same logits); a Llama checkpoint is refused naming
# the first missing norm, and these weights on the plain layout name the tensors it does not use.
sed 's/^\(model "[^"]*" {\)$/\1\n    qk_norm = true\n    sandwich_norms = true\n    norm = rms_plus_one\n    activation = gelu_tanh\n    embed_scale = true\n    attn_softcap = 20\n    logit_softcap = 30\n    query_pre_attn_scalar = 24/' $TINY >"$T/gm.mix"
GM=(--layout "$T/gm.mix" --tokens 5,6,7 --max-new 5)
if run "variations save" 0 "${GM[@]}" --random-weights 7 --save-weights "$T/gm.safetensors" --dump-logits "$T/gm1.npy" &&
   run "variations load" 0 "${GM[@]}" --weights "$T/gm.safetensors" --dump-logits "$T/gm2.npy"; then
  head -c 20000 "$T/gm.safetensors" >"$T/gm.head"
  grep -q 'layers.0.self_attn.q_norm.weight' "$T/gm.head" && grep -q 'layers.0.self_attn.k_norm.weight' "$T/gm.head" &&
    grep -q 'pre_feedforward_layernorm' "$T/gm.head" && grep -q 'post_feedforward_layernorm' "$T/gm.head" &&
    cmp -s "$T/gm1.npy" "$T/gm2.npy" && ! cmp -s "$T/gm1.npy" "$T/s1.npy" &&
    pass "variations: q/k and sandwich norms saved under HF names and read back, the same logits" ||
    fail "variations: q/k and sandwich norms saved and read back"
  run "variations missing" 1 "${GM[@]}" --weights "$T/w.safetensors" &&
    expect_err "variations: a Llama checkpoint is refused naming the first missing norm" "tensor 'model.layers.0.self_attn.q_norm.weight' is missing"
  run "variations unused" 1 --layout $TINY --tokens 5 --weights "$T/gm.safetensors" &&
    expect_err "variations: their tensors on the plain layout are refused as unused" "not used by this layout ('model.layers.0.self_attn.q_norm.weight'"
fi

# --dtype fp32: fp32 weights kept exact on the cpu backend (saved as F32 and read back bit for bit);
# the same file without it is rounded to the layout's bf16, exactly as the bf16 random weights are.
D32=(--layout $TINY --tokens 5,6,7 --max-new 5)
if run "fp32 save" 0 "${D32[@]}" --random-weights 7 --dtype fp32 --save-weights "$T/w32.safetensors" --dump-logits "$T/f1.npy" &&
   run "fp32 load" 0 "${D32[@]}" --weights "$T/w32.safetensors" --dtype fp32 --dump-logits "$T/f2.npy" &&
   run "fp32 file, bf16 run" 0 "${D32[@]}" --weights "$T/w32.safetensors" --dump-logits "$T/f3.npy"; then
  grep -q '"dtype":"F32"' <(head -c 2000 "$T/w32.safetensors") && cmp -s "$T/f1.npy" "$T/f2.npy" &&
    cmp -s "$T/f3.npy" "$T/s1.npy" && ! cmp -s "$T/f1.npy" "$T/s1.npy" &&
    pass "--dtype fp32: F32 weights kept exact; without it rounded to bf16 (= the bf16 run)" ||
    fail "--dtype fp32: F32 weights kept exact; without it rounded to bf16"
fi
if have_toolkit; then
  run "fp32 emu" 1 "${D32[@]}" --random-weights 7 --dtype fp32 --backend emu &&
    expect_err "--dtype fp32 on emu: refused, exit 1" "dtype fp32: the kernels take bf16 or fp16 (fp32 runs on the cpu backend)"
else   # (the backend is refused first: it cannot run at all)
  run "fp32 emu" 2 "${D32[@]}" --random-weights 7 --dtype fp32 --backend emu &&
    expect_err "--dtype fp32 on emu without the toolkit: the toolkit named, exit 2" "the emu backend needs the CUDA toolkit"
fi

# Sharded checkpoints (model.safetensors.index.json, as save_pretrained writes them): the same
# logits from the index or its directory as from the one file; an index that does not describe its
# shards exactly is refused, naming the tensor and the shard.
shard() {  # SRC DIR [MODE]: SRC split in two shards + index in DIR; MODE breaks the index one way
  python3 - "$@" <<'PY2'
import json, os, struct, sys
src, out = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else ""
os.makedirs(out, exist_ok=True)
data = open(src, 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
body = data[8 + n:]
names = sorted(k for k in header if k != "__metadata__")
shards, weight_map = [{}, {}], {}
for i, name in enumerate(names):
    shards[i % 2][name] = header[name]
for k, part in enumerate(shards):
    fname = "model-%05d-of-00002.safetensors" % (k + 1)
    h, blob = {}, b""
    for name, e in part.items():
        b, end = e["data_offsets"]
        h[name] = {"dtype": e["dtype"], "shape": e["shape"], "data_offsets": [len(blob), len(blob) + end - b]}
        blob += body[b:end]
        weight_map[name] = fname
    text = json.dumps(h).encode()
    open(os.path.join(out, fname), 'wb').write(struct.pack('<Q', len(text)) + text + blob)
if mode == "wrong-shard":
    weight_map[names[0]] = "model-00002-of-00002.safetensors"
elif mode == "unlisted":
    del weight_map[names[1]]
elif mode == "outside":
    weight_map[names[0]] = "../elsewhere.safetensors"
elif mode == "missing-shard":
    os.remove(os.path.join(out, "model-00002-of-00002.safetensors"))
json.dump({"metadata": {}, "weight_map": weight_map}, open(os.path.join(out, "model.safetensors.index.json"), 'w'))
PY2
}
if [ -f "$T/w.safetensors" ] && shard "$T/w.safetensors" "$T/sharded"; then
  if run "sharded index" 0 --layout $TINY --weights "$T/sharded/model.safetensors.index.json" --tokens 5,6,7 --max-new 5 --dump-logits "$T/sh1.npy" &&
     run "sharded dir" 0 --layout $TINY --weights "$T/sharded" --tokens 5,6,7 --max-new 5 --dump-logits "$T/sh2.npy" &&
     cmp -s "$T/s1.npy" "$T/sh1.npy" && cmp -s "$T/s1.npy" "$T/sh2.npy"; then
    pass "sharded checkpoint (index, or its directory): the one file's logits"
  else fail "sharded checkpoint: the one file's logits"; fi
  # A directory holding model.safetensors and an index: the one file, as from_pretrained takes it.
  shard "$T/w.safetensors" "$T/both"
  if run "both save" 0 --layout $TINY --random-weights 9 --save-weights "$T/both/model.safetensors" &&
     run "both dir" 0 --layout $TINY --weights "$T/both" --tokens 5,6,7 --max-new 5 --dump-logits "$T/both1.npy" &&
     run "both file" 0 --layout $TINY --weights "$T/both/model.safetensors" --tokens 5,6,7 --max-new 5 --dump-logits "$T/both2.npy" &&
     cmp -s "$T/both1.npy" "$T/both2.npy" && ! cmp -s "$T/both1.npy" "$T/sh1.npy"; then
    pass "a directory with model.safetensors and an index: model.safetensors, as from_pretrained"
  else fail "a directory with model.safetensors and an index: model.safetensors"; fi
  for m in wrong-shard:"is mapped to shard 'model-00002-of-00002.safetensors', which does not hold it" \
           unlisted:"which the index does not list" outside:"is not a file name beside the index" \
           missing-shard:"model-00002-of-00002.safetensors': cannot open"; do
    mode=${m%%:*}
    shard "$T/w.safetensors" "$T/bad-$mode" "$mode"
    run "sharded $mode" 1 --layout $TINY --weights "$T/bad-$mode" --tokens 1 &&
      expect_err "sharded checkpoint: $mode refused" "${m#*:}"
  done
fi

# Tensors the model does not use (a Qwen2-style q/k bias, a q_norm): the checkpoint computes something
# else, so they are refused by name unless --ignore-unused-tensors.
add_tensors() {  # SRC DST NAME...: SRC plus one F32 tensor [64] of ones per NAME
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst, names = sys.argv[1], sys.argv[2], sys.argv[3:]
data = open(src, 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
body = data[8 + n:]
for name in names:
    header[name] = {"dtype": "F32", "shape": [64], "data_offsets": [len(body), len(body) + 256]}
    body += struct.pack('<64f', *([1.0] * 64))
text = json.dumps(header).encode()
open(dst, 'wb').write(struct.pack('<Q', len(text)) + text + body)
PY
}
if [ -f "$T/w.safetensors" ] &&
   add_tensors "$T/w.safetensors" "$T/bias.safetensors" model.layers.0.self_attn.q_proj.bias &&
   add_tensors "$T/w.safetensors" "$T/extra.safetensors" model.layers.0.self_attn.q_proj.bias \
     model.layers.0.self_attn.k_proj.bias model.layers.0.self_attn.q_norm.weight model.layers.1.self_attn.k_norm.weight; then
  run "unused tensor" 1 --layout $TINY --weights "$T/bias.safetensors" --tokens 1 &&
    expect_err "unused tensors: refused, named" "bias.safetensors': 1 tensor is not used by this layout ('model.layers.0.self_attn.q_proj.bias')"
  expect_err "unused tensors: the hint names --ignore-unused-tensors" "hint: --ignore-unused-tensors runs without them"
  [ ! -s "$T/out" ] && pass "unused tensors: nothing runs" || fail "unused tensors: nothing runs" "$(head -c 300 "$T/out")"
  run "unused tensors" 1 --layout $TINY --weights "$T/extra.safetensors" --tokens 1 &&
    expect_err "unused tensors: the first three named, then ..." "4 tensors are not used by this layout ('model.layers.0.self_attn.q_proj.bias', 'model.layers.0.self_attn.k_proj.bias', 'model.layers.0.self_attn.q_norm.weight', ...)"
  if run "ignore unused" 0 --layout $TINY --weights "$T/extra.safetensors" --ignore-unused-tensors --tokens 5,6,7 --max-new 5 \
       --dump-logits "$T/s3.npy"; then
    expect_err "--ignore-unused-tensors: a warning with the count" "mixrun: warning: '$T/extra.safetensors': 4 tensors not used by this layout (--ignore-unused-tensors)"
    cmp -s "$T/s1.npy" "$T/s3.npy" && pass "--ignore-unused-tensors: the used tensors give the same logits" ||
      fail "--ignore-unused-tensors: the used tensors give the same logits"
  fi
  run "ignore unused random" 2 --layout $TINY --random-weights 1 --ignore-unused-tensors --tokens 1 &&
    expect_err "usage error: --ignore-unused-tensors without --weights" "--ignore-unused-tensors goes with --weights"
else
  fail "unused tensors: cannot write the test files"
fi

# ---- ring caches and chunking through the CLI (prompt of 40 tokens >> window 8 + chunk 4)
if run "ring" 0 --layout $TINY --random-weights 3 --tokens $PROMPT --max-new 20 --dump-logits "$T/r1.npy" &&
   run "full" 0 --layout $TINY --random-weights 3 --tokens $PROMPT --max-new 20 --dump-logits "$T/r2.npy" --full-caches; then
  cmp -s "$T/r1.npy" "$T/r2.npy" && pass "ring caches equal full-length caches (cli, 60 positions)" || fail "ring caches equal full-length caches (cli)"
  run "chunk1" 0 --layout $TINY --random-weights 3 --tokens $PROMPT --max-new 20 --dump-logits "$T/r3.npy" --set chunk=1
  cmp -s "$T/r1.npy" "$T/r3.npy" && pass "chunk 4 and chunk 1 give the same logits" || fail "chunk 4 and chunk 1 give the same logits"
fi

# ---- --set
run "set vocab" 0 --layout $TINY --random-weights 3 --tokens 1,2 --max-new 1 --set vocab=100 --set hidden=32 --dump-logits "$T/v.npy" &&
  { npy_check "$T/v.npy" 3 100 && pass "--set vocab/hidden resize the model" || fail "--set vocab/hidden resize the model"; }
run "set heads" 1 --layout $TINY --random-weights 3 --tokens 1 --set heads=3 && expect_err "--set goes through the header checks" "heads (3) is not a multiple of kv_heads (2)"
run "set unknown" 1 --layout $TINY --random-weights 3 --tokens 1 --set hiden=3 && expect_err "--set of an unknown field" "unknown header field 'hiden'"
run "set dtype" 1 --layout $TINY --random-weights 3 --tokens 1 --set dtype=int8 && expect_err "--set dtype is validated" "'dtype' must be one of bf16, fp16"
if run "set window" 0 --layout $TINY --random-weights 3 --tokens $PROMPT --max-new 1 --set window=2 --dump-logits "$T/w2.npy" &&
   run "set window full" 0 --layout $TINY --random-weights 3 --tokens $PROMPT --max-new 1 --set window=100 --dump-logits "$T/w100.npy" &&
   run "global" 0 --layout <(sed 's/window [0-9]*/global/' $TINY) --random-weights 3 --tokens $PROMPT --max-new 1 --dump-logits "$T/g.npy"; then
  if ! cmp -s "$T/w2.npy" "$T/w100.npy" && cmp -s "$T/w100.npy" "$T/g.npy"; then pass "--set window=N replaces every window (N >= context acts as global)"
  else fail "--set window=N replaces every window"; fi
fi
run "fp16" 0 --layout $TINY --random-weights 3 --tokens 1,2 --max-new 2 --set dtype=fp16 --save-weights "$T/h.safetensors" &&
  { head -c 300 "$T/h.safetensors" | grep -q '"dtype":"F16"' && pass "--set dtype=fp16 saves F16 weights" || fail "--set dtype=fp16 saves F16 weights"; }

# ---- every example layout runs at test size (under the sanitizers, ~3x slower there, 20 prompt
# tokens and 2 new: still past window 8 + chunk 8, so the rings wrap)
ex_fail="" ex_tokens=$PROMPT ex_new=4
sanitized "$RUN" && ex_tokens=$(cut -d, -f1-20 <<<"$PROMPT") ex_new=2
for f in examples/*.mix; do
  "$RUN" --layout "$f" --random-weights 1 --set hidden=64 --set heads=4 --set kv_heads=2 --set head_dim=16 \
    --set ffn=64 --set vocab=256 --set context=64 --set chunk=8 --set window=8 --set chunked=6 $(moe_test_sets "$f") --tokens $ex_tokens --max-new $ex_new \
    >"$T/out" 2>"$T/err" || ex_fail="$ex_fail $f"
done
[ -z "$ex_fail" ] && pass "every example runs at test size with --set" || fail "every example runs at test size with --set" "$ex_fail"

# ---- bench
if run "bench" 0 --layout $TINY --random-weights 1 --bench --batch 3 --prompt-len 20 --max-new 10; then
  if grep -q "^prefill: 60 tokens in .* tokens/s" "$T/out" && grep -q "^decode: 24 tokens in .* tokens/s, after 2 warm-up steps (6 tokens, untimed)" "$T/out" &&
     grep -q "^memory: KV .*arena .*weights" "$T/out"; then pass "--bench prints prefill, decode (8 of 10 steps timed, 2 warm-up) and memory"
  else fail "--bench prints prefill, decode and memory" "$(cat "$T/out")"; fi
fi

# --bench packs its sequences' prompts into prefill calls of up to the chunk (three 5-token prompts,
# chunk 8: sequence 1 split across two calls): each sequence's first token = its prompt run alone
# (the --tokens prompt repeated: 11..15, 16 17 11 12 13, 14..17 11)
if run "bench packed" 0 --layout $TINY --random-weights 1 --bench --json --batch 3 --prompt-len 5 \
     --tokens 11,12,13,14,15,16,17 --max-new 2 --set chunk=8; then
  alone=$(for p in 11,12,13,14,15 16,17,11,12,13 14,15,16,17,11; do
    "$RUN" --layout $TINY --random-weights 1 --tokens $p --max-new 1 --set chunk=8 2>/dev/null; done | paste -sd,)
  if [ -n "$alone" ] && [ "$(jq -c '.first_tokens | map(tostring) | join(",")' -r "$T/out")" = "$alone" ]; then
    pass "--bench packs prompts into prefill calls: each sequence's first token = alone ($alone)"
  else fail "--bench packs prompts: first tokens = alone" "bench $(jq -c .first_tokens "$T/out"), alone $alone"; fi
fi

# ---- without the toolkit: --backend emu exits 2 saying so; the rest of this suite needs it
if ! have_toolkit; then
  run "emu no toolkit" 2 --layout $TINY --random-weights 3 --tokens 1,2 --backend emu &&
    expect_err "--backend emu without the toolkit exits 2 saying so" "mixrun: the emu backend needs the CUDA toolkit"
  echo "SKIP mixrun emu backend: needs the CUDA toolkit ($BUILD was built without it)"
  [ "$fails" -eq 0 ]
  exit
fi

# ---- the emu backend: the generated kernels in the CPU emulator against the fp32 cpu backend
# Tolerance of the logits (tests/mixrun/logitcmp): |emu - cpu| <= ATOL * rms(row) + RTOL * |cpu|.
# The emu path rounds every kernel's inputs and outputs to the model dtype: about 8 roundings per
# layer (norm outputs, q, k, v, attention output, gate, up, silu output), each of relative error at
# most u = 2^-9 for bf16 (8-bit significand), 2^-12 for fp16; the residual stream and the matmuls stay
# fp32 on both sides. The perturbation of the final normed hidden state reaches every logit of a row
# through the same dot products, so the error follows the row's scale (rms), not each logit: measured
# max |diff|/rms 0.017-0.023 over all examples in bf16 (~10 u), 0.0015 in fp16 (~6 u). Chosen: bf16
# ATOL 2^-4 = 0.0625 (3x the worst measured), RTOL 2^-6 (4 bf16 ulps); fp16 eight times tighter.
# The test below that a window of 9 instead of 8 fails this check shows the tolerance still sees a
# single key more or less in a window.
CMP=$BUILD/tests/mixrun/logitcmp
BF16_TOL="0.0625 0.015625"
FP16_TOL="0.0078125 0.001953125"
# 8-bit caches (docs/kernels.md, "8-bit caches: the model-level tolerance"): the same count with K and
# V each off by r instead of u: r = absmax/(254 rms) ~ 3/254 ~ 6u for int8 (a head's absmax is ~3x its
# rms at head_dim 64-128), r = 2^-4 = 32u for e4m3's 3 mantissa bits. Against the bf16 run the two
# runs differ by 2r per layer plus up to 8 roundings of u landing differently: 20u (int8) and 72u
# (fp8) where the bf16 tolerance budgets 8u, so its ATOL and RTOL scaled by 20/8 and 72/8.
Q8_TOL="0.15625 0.0390625"
F8_TOL="0.5625 0.140625"
# The roundings add up over the layers: llama4-scout (48 plain layers, head_dim 128, the deepest
# example without sandwich norms) measured max |diff|/rms 0.061-0.080 over seeds 1, 2, 3, 5 and
# chunked 6, 8, 12 and 31 (31: every chunk is the whole run; then with its shared expert at its full
# 8192; at the test width of moe_test_sets seed 5 measures 0.065), against 0.056 for mistral-7b (32
# layers, head_dim 128); its chunked masks are checked at the bf16 tolerance in chunked.mix below and in
# tests/kernels. For it alone: ATOL 2^-3 (1.6x its worst), RTOL unchanged.
DEEP_BF16_TOL="0.125 0.015625"
export MIXC_CACHE_DIR=$T/emu-cache
mkdir -p "$MIXC_CACHE_DIR"
ASAN=0
sanitized "$RUN" && ASAN=1

# cmp_logits NAME REF GOT TOL PROMPT_LEN: the logits match within TOL, greedy tokens too.
cmp_logits() {
  local name=$1 ref=$2 got=$3 tol=$4 plen=$5
  if "$CMP" "$ref" "$got" $tol "$plen" >"$T/cmp" 2>&1; then pass "$name ($(tail -n 1 "$T/cmp" | sed 's/^ *//'))"
  else fail "$name" "$(head -n 8 "$T/cmp")"; fi
}

# tiny.mix with head_dim 64 (its default 16 is below the kernels' minimum)
TE=(--layout $TINY --set head_dim=64)
run "emu hd16" 1 --layout $TINY --random-weights 3 --tokens 1,2 --backend emu &&
  expect_err "emu: a layout the kernels cannot run is refused, exit 1" "mixrun: head_dim 16 is not supported by the kernels"

# Cold compile into an empty cache, then a hit; a run shorter than the model's context (50 positions,
# context 128): the emu backend's kernels and caches are planned for the model's context, the cpu
# backend's caches for the run's 50 tokens.
TP=$(seq -s, 1 40)
TE_SO=()   # the cache entry of these kernels (the only one then), damaged at the end of this suite
if MIXC_EMU_VERBOSE=1 run "emu cold" 0 "${TE[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend emu --dump-logits "$T/e1.npy"; then
  TE_SO=("$MIXC_CACHE_DIR"/emu-*.so)
  grep -q "emu: compiled the kernels in" "$T/err" && [ ${#TE_SO[@]} = 1 ] && [ -f "${TE_SO[0]}" ] &&
    pass "emu: kernels compiled at start-up into the cache" || fail "emu: kernels compiled at start-up into the cache" "$(head -c 600 "$T/err")"
  etok=$(cat "$T/out")
  if MIXC_EMU_VERBOSE=1 run "emu warm" 0 "${TE[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend emu --dump-logits "$T/e2.npy"; then
    grep -q "emu: kernels from the cache" "$T/err" && cmp -s "$T/e1.npy" "$T/e2.npy" &&
      pass "emu: second run loads the cached kernels, bit-identical logits" || fail "emu: cache hit" "$(head -c 600 "$T/err")"
  fi
  # Two runs of one layout starting together on an empty cache: the entry's lock lets one compile the
  # kernels while the other waits, then loads them.
  mkdir -p "$T/c-two"
  pids=()
  for i in 1 2; do
    MIXC_CACHE_DIR=$T/c-two MIXC_EMU_VERBOSE=1 "$RUN" "${TE[@]}" --random-weights 3 --tokens 1,2 --max-new 1 --backend emu \
      >/dev/null 2>"$T/two-$i.err" & pids+=($!)
  done
  wait "${pids[@]}"
  two_built=$(cat "$T/two-1.err" "$T/two-2.err" | grep -c "emu: compiled the kernels in")
  two_found=$(cat "$T/two-1.err" "$T/two-2.err" | grep -c "emu: kernels from the cache")
  [ "$two_built" = 1 ] && [ "$two_found" = 1 ] && pass "emu: two runs starting together compile the kernels once (the other waits for the entry)" ||
    fail "emu: two runs starting together compile the kernels once" "$two_built compiled, $two_found loaded from the cache"
  run "emu full" 2 "${TE[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend emu --full-caches &&
    expect_err "emu: --full-caches is refused, exit 2 (the caches are the kernels' rings, as on the GPU)" \
      "mixrun: --full-caches is not supported by the emu backend"
  if run "cpu tiny" 0 "${TE[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend cpu --dump-logits "$T/c1.npy"; then
    cmp_logits "emu vs cpu: tiny, bf16, a run shorter than the kernels' context" "$T/c1.npy" "$T/e1.npy" "$BF16_TOL" 40
    [ "$(cat "$T/out")" = "$etok" ] && pass "emu vs cpu: tiny, same greedy tokens" || fail "emu vs cpu: tiny, same greedy tokens" "cpu $(cat "$T/out")" "emu $etok"
  fi
fi
# ---- --weights on a backend that copies the weights (emu; cuda the same code) is streamed: read a
# layer at a time from the checkpoint, never the whole fp32 model on the host (docs/model.md, "Weights").
# character-ai's 12 layers at a width where the weights dominate: 166 MB in bf16, 332 MB in fp32.
SW=(--layout examples/character-ai.mix --set hidden=512 --set heads=8 --set head_dim=64 --set ffn=4096 --set vocab=1024
    --set context=64 --set chunk=8 --tokens 1,2,3 --max-new 2)
if run "streamed save" 0 "${SW[@]}" --random-weights 3 --save-weights "$T/sw.safetensors"; then
  # --save-weights needs the whole model: that run loads it whole, on the same backend
  if run "streamed emu" 0 "${SW[@]}" --weights "$T/sw.safetensors" --backend emu --dump-logits "$T/sw1.npy" &&
     run "whole emu" 0 "${SW[@]}" --weights "$T/sw.safetensors" --backend emu --save-weights "$T/sw2.safetensors" \
       --dump-logits "$T/sw2.npy"; then
    cmp -s "$T/sw1.npy" "$T/sw2.npy" && pass "streamed weights (emu): the logits of the whole load, bit for bit" ||
      fail "streamed weights (emu): the logits of the whole load, bit for bit"
  fi
  MIXC_PROGRESS_AFTER=0 run "streamed progress" 0 "${SW[@]}" --weights "$T/sw.safetensors" --backend emu &&
    expect_err "progress: a streamed load shows its tensors as the backend reads them" "mixrun: loading weights: tensor 1/"
  # Peak resident memory (ru_maxrss of the child): the streamed emu run holds the device's bf16 copy
  # and one layer in fp32 (205 MB measured; 526 MB when it loaded the whole fp32 model first); the cpu
  # run's whole fp32 load lets go of the checkpoint's mapped pages as it copies them (343 MB; 506 before).
  if sanitized "$RUN"; then
    echo "SKIP mixrun: the peak memory of a load (the sanitizers' shadow and quarantine)"
  else
    peak() { python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 if r.returncode == 0 else -1)' "$RUN" "$@"; }
    fp32=$((2 * $(stat -c %s "$T/sw.safetensors")))
    emu=$(peak "${SW[@]}" --weights "$T/sw.safetensors" --backend emu)
    [ "$emu" -gt 0 ] && [ "$emu" -lt "$fp32" ] &&
      pass "streamed weights (emu): peak resident $((emu >> 20)) MiB, below the fp32 model's $((fp32 >> 20)) MiB" ||
      fail "streamed weights (emu): peak resident memory below the fp32 model's" "peak $emu bytes, fp32 $fp32"
    check=$(peak "${SW[@]:0:16}" --weights "$T/sw.safetensors" --check-weights)
    [ "$check" -gt 0 ] && [ "$check" -lt $((fp32 / 4)) ] &&
      pass "--check-weights: peak resident $((check >> 20)) MiB, a quarter of the fp32 model's at most (a layer at a time)" ||
      fail "--check-weights: peak resident memory below a quarter of the fp32 model's" "peak $check bytes, fp32 $fp32"
    cpu=$(peak "${SW[@]}" --weights "$T/sw.safetensors" --backend cpu)
    [ "$cpu" -gt 0 ] && [ "$cpu" -lt $((fp32 * 5 / 4)) ] &&
      pass "whole load (cpu): peak resident $((cpu >> 20)) MiB, the fp32 model's $((fp32 >> 20)) MiB without the file's pages besides" ||
      fail "whole load (cpu): peak resident memory below 1.25 x the fp32 model's" "peak $cpu bytes, fp32 $fp32"
  fi
  # --check-weights: every value read a layer at a time, nothing run; the parameters mixc report counts
  if run "check weights" 0 "${SW[@]:0:16}" --weights "$T/sw.safetensors" --check-weights --json &&
     "$MIXC" report "${SW[@]:1:15}" --format json >"$T/swr.json" 2>/dev/null &&
     jq -e --slurpfile r "$T/swr.json" '.ok and .tensors == 97 and .parameters == $r[0].weights.parameters' "$T/out" >/dev/null; then
    cp "$T/out" "$T/keys-check-weights.json"
    pass "--check-weights: the checkpoint's $(jq .parameters "$T/out") parameters, as mixc report counts them"
  else fail "--check-weights --json: the parameters mixc report counts" "$(cat "$T/out")" "$(head -c 300 "$T/err")"; fi
  python3 - "$T/sw.safetensors" "$T/sw-nan.safetensors" <<'PY'
import json, struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
n = struct.unpack('<Q', data[:8])[0]
lo, _ = json.loads(data[8:8 + n])['model.layers.7.mlp.down_proj.weight']['data_offsets']
data[8 + n + lo + 2 * 5:8 + n + lo + 2 * 6] = b'\xc0\x7f'   # element 5: a bf16 NaN
open(sys.argv[2], 'wb').write(data)
PY
  run "check weights nan" 1 "${SW[@]:0:16}" --weights "$T/sw-nan.safetensors" --check-weights &&
    expect_err "--check-weights: a NaN is refused by tensor and element" "tensor 'model.layers.7.mlp.down_proj.weight' holds NaN at element 5 (row 0, column 5)"
  run "check weights with a prompt" 2 "${SW[@]}" --weights "$T/sw.safetensors" --check-weights &&
    expect_err "--check-weights with a prompt: a usage error" "--check-weights runs nothing"
  # A checkpoint's errors that its headers show come before the backend compiles anything
  if MIXC_EMU_VERBOSE=1 run "streamed shape" 1 "${SW[@]}" --set ffn=2048 --weights "$T/sw.safetensors" --backend emu; then
    grep -qF "'model.layers.0.mlp.gate_proj.weight' has shape [4096, 512]; the layout needs [2048, 512]" "$T/err" &&
      ! grep -q "emu:" "$T/err" && pass "streamed weights (emu): a wrong shape is refused at load, before any kernel" ||
      fail "streamed weights (emu): a wrong shape is refused at load, before any kernel" "$(head -c 600 "$T/err")"
  fi
fi

# A batch of prompts of different lengths (--prompts) decoded together gives every sequence exactly
# the logits and tokens of its prompt run alone, on cpu and emu: the batched decode keeps each
# sequence's length, ring offset and cache apart.
printf '%s\n%s\n%s\n' "$TP" "7 7 7 1 2" "$(seq -s, 50 70)" >"$T/prompts"
for be in cpu emu; do
  if run "$be batch" 0 "${TE[@]}" --random-weights 3 --prompts "$T/prompts" --max-new 10 --backend $be --dump-logits "$T/b.npy"; then
    cp "$T/out" "$T/b.out"; why=(); off=0; i=0
    while IFS= read -r p; do
      i=$((i + 1)); n=$(tr ', ' '\n\n' <<<"$p" | grep -c .)
      if run "$be alone $i" 0 "${TE[@]}" --random-weights 3 --tokens "$p" --max-new 10 --backend $be --dump-logits "$T/a.npy"; then
        [ "$(cat "$T/out")" = "$(sed -n ${i}p "$T/b.out")" ] || why+=("prompt $i: tokens alone $(cat "$T/out"), batched $(sed -n ${i}p "$T/b.out")")
        "$CMP" --got-from $off "$T/a.npy" "$T/b.npy" 0 0 >"$T/cmp" 2>&1 || why+=("prompt $i logits: $(head -n 3 "$T/cmp")")
      fi
      off=$((off + n + 10))
    done <"$T/prompts"
    if [ ${#why[@]} -eq 0 ] && npy_check "$T/b.npy" $off 256 && [ "$(wc -l <"$T/b.out")" -eq 3 ]
    then pass "$be: 3 prompts (40, 5, 21 tokens) batched = each alone, bit for bit ($off logits rows)"
    else fail "$be: 3 prompts batched = each alone" "${why[@]}"; fi
  fi
done
F16=(--set dtype=fp16 --set kv_dtype=fp16)
if run "cpu fp16" 0 "${TE[@]}" "${F16[@]}" --random-weights 3 --tokens $TP --max-new 10 --dump-logits "$T/c16.npy" &&
   run "emu fp16" 0 "${TE[@]}" "${F16[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend emu --dump-logits "$T/e16.npy"; then
  cmp_logits "emu vs cpu: tiny, fp16" "$T/c16.npy" "$T/e16.npy" "$FP16_TOL" 40
fi
# Chunked attention and sinks (tests/mixrun/chunked.mix): the kernels' masks, rings, sharing and sink
# terms against the cpu backend's at the bf16 tolerance, which sees one chunk size more (chunked 7 on
# cpu must fail it) and the sinks (the layout without them must fail it).
CP=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3
CH=(--layout tests/mixrun/chunked.mix --random-weights 5 --tokens $CP --max-new 6)
if run "cpu chunked" 0 "${CH[@]}" --dump-logits "$T/cch.npy" && run "emu chunked" 0 "${CH[@]}" --backend emu --dump-logits "$T/ech.npy" &&
   run "cpu chunked 7" 0 "${CH[@]}" --set chunked=7 --dump-logits "$T/cch7.npy"; then
  cmp_logits "emu vs cpu: chunked layers (chunks across prefill chunks, shared with windows, rings)" "$T/cch.npy" "$T/ech.npy" "$BF16_TOL" 26
  if ! "$CMP" "$T/cch7.npy" "$T/ech.npy" $BF16_TOL 26 >/dev/null 2>&1; then pass "emu vs cpu: chunked 7 on cpu fails the chunked 6 comparison"
  else fail "emu vs cpu: chunked 7 on cpu passes the chunked 6 comparison: the tolerance does not see the mask"; fi
  # its layer 5 has attention sinks: without them the cpu's logits are beyond the tolerance
  sed 's/ sinks$//' tests/mixrun/chunked.mix >"$T/nosinks.mix"
  if run "cpu no sinks" 0 --layout "$T/nosinks.mix" --random-weights 5 --tokens $CP --max-new 6 --dump-logits "$T/cns.npy" &&
     ! "$CMP" "$T/cns.npy" "$T/ech.npy" $BF16_TOL 26 >/dev/null 2>&1; then pass "emu: the attention sinks change the logits beyond the tolerance"
  else fail "emu: the attention sinks do not change the logits beyond the tolerance"; fi
fi

# Every example at test size: prompt of 26 tokens > window 8 + chunk 8 (rings of 15 wrap, chunks of
# 8, 8, 8 and 2, then 6 decode steps; chunked layers at chunked 6, whose chunks straddle the prefill
# chunks, in rings of 13), context = prompt + new so the caches are exactly the kernels';
# GQA group 2 (4 with kv_heads 1 where the example is MQA), head_dim 128 where the example's is >= 128;
# a kind's own kv_heads and head_dim as written (gemma4-style's global kind: 1 KV head of 512, group 4).
EP=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3
examples=(examples/*.mix)
if [ "$ASAN" = 1 ]; then   # the emulator is ~10x slower under the sanitizers: a sharing subset
  examples=(examples/character-ai.mix examples/gemma3-27b.mix examples/yoco.mix)
fi
for i in "${!examples[@]}"; do examples[i]=$(comparable_layout "${examples[i]}" "$T/comparable"); done
# gemma4-style runs there with its per-kind KV shapes as written (its global kind's head_dim 512, the
# kernels' largest); a kind's head_dim above it is refused by name (the cpu backend runs it).
sed 's/head_dim 512/head_dim 1024/' examples/gemma4-style.mix >"$T/g4-hd1024.mix"
run "gemma4-style at head_dim 1024: emu refuses it" 1 --layout "$T/g4-hd1024.mix" --random-weights 1 --tokens 1,2 --max-new 1 \
    --set hidden=64 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=64 --set vocab=256 --backend emu &&
  expect_err "gemma4-style with a global kind of head_dim 1024: emu refuses it by name, exit 1" \
    "mixrun: layer 5's head_dim 1024 is not supported by the kernels (a multiple of 64 up to 512)"
PAGED=()   # mem_check's report options beyond SETS: the paging the run was given
# mem_check NAME BACKEND ARGS...: `mixrun ARGS --bench --json --backend BACKEND` (stand-in driver for
# cuda): its memory planned = allocated for the KV caches, the arena and the weights, and equal to what
# `mixc report --target BACKEND --format json` plans for the same --set overrides, context and batch.
# SETS holds the overrides; prints why into $T/why on a mismatch.
mem_check() {
  local be=$1; shift
  if [ "$be" = cuda ]; then
    MIXC_CACHE_DIR=$TEST_JIT_CACHE FAKE_CUDA=full LD_LIBRARY_PATH=$BUILD/tests/cuda/fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
      "$RUN" "$@" --bench --json --backend "$be" >"$T/bench.json" 2>"$T/err"
  else "$RUN" "$@" --bench --json --backend "$be" >"$T/bench.json" 2>"$T/err"; fi || { echo "mixrun: $(head -c 300 "$T/err")" >"$T/why"; return 1; }
  local ctx batch
  ctx=$(jq .context "$T/bench.json"); batch=$(jq .sequences "$T/bench.json")
  "${MIXC:-$BUILD/mixc}" report "${SETS[@]}" "${PAGED[@]}" --target "$be" --context "$ctx" --batch "$batch" --format json "$f" \
    >"$T/report.json" 2>"$T/err" || { echo "mixc report: $(head -c 300 "$T/err")" >"$T/why"; return 1; }
  jq -n --arg be "$be" --slurpfile b "$T/bench.json" --slurpfile r "$T/report.json" -e '$b[0].memory as $m | $r[0].run[0] as $p |
      $m.kv_planned == $m.kv_allocated and $m.arena_planned == $m.arena_allocated and
      $m.weights_planned == $m.weights_allocated and $m.kv_allocated > 0 and $m.arena_allocated > 0 and
      $m.kv_planned == $p.kv_bytes and $m.arena_planned == $p.arena_bytes and $m.weights_planned == $p.weights_bytes and
      $m.workspace_planned == $m.workspace_allocated and $m.workspace_planned == $p.workspace_bytes and
      (($be == "cuda") == ($m.workspace_allocated > 0))' \
    >/dev/null || { echo "$be: bench $(jq -c .memory "$T/bench.json"), report $(jq -c '.run[0]' "$T/report.json")" >"$T/why"; return 1; }
  cp "$T/bench.json" "$T/keys-bench-$be.json"   # for the documented-keys check at the end
}

# A plan larger than the device's free memory is refused before anything is allocated or loaded, with
# the figures: the stand-in device told to have 1 MB; the emulated device, whose memory is the host's,
# given a context whose KV caches (512 bytes a token here) are twice this machine's memory.
MIXC_CACHE_DIR=$TEST_JIT_CACHE FAKE_CUDA=full FAKE_CUDA_MEM=1000000 LD_LIBRARY_PATH=$BUILD/tests/cuda/fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
  run "cuda too small" 1 --layout $TINY --set head_dim=64 --random-weights 1 --tokens 1,2 --backend cuda &&
  expect_err "cuda (stand-in): a plan beyond the device's free memory is refused with the figures" \
    "mixrun: the run plan needs 32.59 MiB of device memory (weights 578.25 KiB, KV caches 16.50 KiB, activations 7.25 KiB, cuBLAS workspace 32.00 MiB) and the cuda device has 976.56 KiB free of 976.56 KiB"
host=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null)   # KiB
if [ -n "$host" ]; then
  host=$((host * 1024))
  MIXC_EMU_VERBOSE=1 run "emu too small" 1 --layout $TINY --set head_dim=64 --set context=$((host * 2 / 512)) --random-weights 1 \
      --tokens 1,2 --backend emu &&
    { grep -q "mixrun: the run plan needs .* of device memory (.*) and the emu device has .* free of" "$T/err" &&
      ! grep -q "emu:" "$T/err"; } &&
    pass "emu: a plan beyond the host's memory is refused before the kernels are compiled" ||
    fail "emu: a plan beyond the host's memory is refused before the kernels are compiled" "$(head -c 600 "$T/err")"
fi

# The examples with experts, as they are (all their experts, a few chosen a token), on every backend:
# memory planned = allocated = report (the stacked expert weights, the router's fp32 logits, the route
# and the expert rows in the arena). Under the sanitizers (the emulator ~10x slower) cpu and cuda only,
# and not llama4-scout (~50 s there; llama4-maverick has the same layers, gpt-oss-20b experts everywhere).
moe_backends=(cpu emu cuda)
[ "$ASAN" = 1 ] && moe_backends=(cpu cuda)
for f in examples/*.mix; do
  grep -qE '^\s*experts\s*=' "$f" || continue
  [ "$ASAN" = 1 ] && [ "$f" = examples/llama4-scout.mix ] && { echo "SKIP llama4-scout (experts) memory: under the sanitizers (the normal pass runs it)"; continue; }
  SETS=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128
        --set context=32 --set chunk=8 --set window=8 --set chunked=6 --set kv_dtype=bf16 $(moe_test_sets "$f" 16))
  for be in "${moe_backends[@]}"; do
    mem_check $be --layout "$f" "${SETS[@]}" --random-weights 5 --batch 2 --prompt-len 10 --max-new 2 &&
      pass "$(basename "$f" .mix) (experts) on $be: memory planned = allocated = mixc report --target $be" ||
      fail "$(basename "$f" .mix) (experts) on $be: memory planned = allocated" "$(cat "$T/why")"
  done
done
# ... and those with per-layer KV shapes on the cpu backend, which runs them (caches, tensors and
# weights of each layer's own shape).
for f in examples/*.mix; do
  has_own_shapes "$f" || continue
  SETS=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128
        --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16)
  mem_check cpu --layout "$f" "${SETS[@]}" --random-weights 5 --batch 2 --prompt-len 10 --max-new 2 &&
    pass "$(basename "$f" .mix) (per-layer shapes) on cpu: memory planned = allocated = mixc report --target cpu" ||
    fail "$(basename "$f" .mix) (per-layer shapes) on cpu: memory planned = allocated" "$(cat "$T/why")"
done
# ... and paged global caches (docs/plan.md, "Paged caches"): the default pool and a smaller one, fp32
# and 8-bit caches (the pool's codes, then its scales).
SETS=(--set context=64)
f=tests/mixrun/tiny.mix
for PAGED in "--page-tokens 16" "--page-tokens 5 --pool-pages 9" "--page-tokens 8 --set kv_dtype=int8"; do
  read -ra PAGED <<<"$PAGED"
  mem_check cpu --layout "$f" "${SETS[@]}" "${PAGED[@]}" --random-weights 5 --batch 3 --prompt-len 10 --max-new 2 &&
    pass "tiny, paged (${PAGED[*]}) on cpu: memory planned = allocated = mixc report --target cpu" ||
    fail "tiny, paged (${PAGED[*]}) on cpu: memory planned = allocated" "$(cat "$T/why")"
done
# ... and on the kernels (emu; cuda under the stand-in driver): ma's global layers paged, its sliding
# ones rings, bf16 and int8 caches; the kernels' block tables are part of the KV allocation.
SETS=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=128 --set vocab=128
      --set context=32 --set chunk=8 --set window=8 --set kv_dtype=bf16)
f=examples/ma.mix
for be in "${moe_backends[@]}"; do
  [ "$be" = cpu ] && continue
  for PAGED in "--page-tokens 4" "--page-tokens 5 --pool-pages 9" "--page-tokens 6 --set kv_dtype=int8"; do
    read -ra PAGED <<<"$PAGED"
    mem_check $be --layout "$f" "${SETS[@]}" "${PAGED[@]}" --random-weights 5 --batch 3 --prompt-len 10 --max-new 2 &&
      pass "ma, paged (${PAGED[*]}) on $be: memory planned = allocated = mixc report --target $be" ||
      fail "ma, paged (${PAGED[*]}) on $be: memory planned = allocated" "$(cat "$T/why")"
  done
done
PAGED=()
run "paged: a pool too small for the batch" 1 --layout tests/mixrun/tiny.mix --page-tokens 5 --pool-pages 7 \
    --random-weights 5 --batch 3 --prompt-len 10 --max-new 2 --bench --backend cpu &&
  expect_err "paged: a batch that outgrows the pool stops with the slot and the pages named" \
    "mixrun: slot 1 needs 3 pages for 11 tokens; the pool of 7 has 0 free"

# Replayed expert choices (MIXC_ROUTE_REPLAY, docs/model.md) may differ from the cpu's own only where
# emu's router logits, off by the bf16 path's roundings, ordered two experts the other way: measured
# at most 0.037 below the cpu's k-th logit (router logits of order 1) over gpt-oss-20b, llama4-scout
# and llama4-maverick at test size (8 of 3072, 17 of 1536 and 11 of 768 choices). Chosen: the
# logits' ATOL, 2^-4.
ROUTE_GAP=0.0625
# route_gap_within: the last cpu run's route replay (its stderr line) found every choice that differs
# from its own within ROUTE_GAP of its own k-th logit, and read every route. route_gap_ok NAME: PASS/FAIL.
route_gap_within() {
  local line gap
  line=$(grep '^mixrun: route replay:' "$T/err")
  gap=$(sed -n 's/.*, the farthest \([^ ]*\) below.*/\1/p' <<<"$line")
  [ -n "$gap" ] && ! grep -q "left unread" <<<"$line" && awk -v g="$gap" -v b="$ROUTE_GAP" 'BEGIN {exit !(g <= b)}'
}
route_gap_ok() {
  local line
  line=$(grep '^mixrun: route replay:' "$T/err")
  if route_gap_within; then pass "$1 (${line#mixrun: route replay: })"; else fail "$1" "${line:-no route replay line}"; fi
}

# A mixture of experts on emu against cpu with the top-k choice in play (moe.mix: 2 layers, 8 experts),
# each router with one of the activations, a shared expert, moe_bias: the bf16 tolerance. Seed 5 makes
# no choice between two router logits closer than the roundings (seed 7 makes one, and its logits
# differ beyond any tolerance: see comparable_layout in tests/toolkit.sh). Another router on the cpu
# side (another function of the same logits) fails the check.
MOE=(--layout tests/mixrun/moe.mix --random-weights 5 --tokens $EP --max-new 6)
for v in "topk_softmax silu" "softmax_topk gelu_tanh --set shared_expert_ffn=64" \
         "sigmoid_input clamped_swiglu --set swiglu_limit=7 --set moe_bias=true --set experts_per_token=1"; do
  read -r router act extra <<<"$v"
  V=(--set router="$router" --set activation="$act" $extra)
  if run "moe cpu $router" 0 "${MOE[@]}" "${V[@]}" --dump-logits "$T/mc.npy" &&
     MIXC_ROUTE_LOG=$T/routes-$router run "moe emu $router" 0 "${MOE[@]}" "${V[@]}" --backend emu --dump-logits "$T/me-$router.npy"; then
    cmp_logits "emu vs cpu: experts, router $router, $act${extra:+ ($extra)}" "$T/mc.npy" "$T/me-$router.npy" "$BF16_TOL" 26
  fi
done
if run "moe cpu softmax_topk" 0 "${MOE[@]}" --set router=softmax_topk --dump-logits "$T/mc2.npy" &&
   run "moe emu topk_softmax" 0 "${MOE[@]}" --backend emu --dump-logits "$T/me2.npy"; then
  if "$CMP" "$T/mc2.npy" "$T/me2.npy" $BF16_TOL 26 >"$T/cmp" 2>&1; then fail "emu vs cpu: another router passes the experts' check"
  else pass "emu vs cpu: another router on cpu fails the experts' check (the check can fail)"; fi
fi
# The replay: emu's choices of seed 5 replayed on the cpu with seed 5 differ from its own nowhere; with
# seed 7's weights they are other experts, far from its own choice; a log too short is refused.
if MIXC_ROUTE_REPLAY=$T/routes-topk_softmax run "moe replay" 0 "${MOE[@]}" --max-new 6 --dump-logits "$T/mr.npy"; then
  if grep -qE '^mixrun: route replay: 0 of [0-9]+ choices differ' "$T/err" && route_gap_within; then
    cmp_logits "moe: the cpu replaying emu's choices, which are its own" "$T/mr.npy" "$T/me-topk_softmax.npy" "$BF16_TOL" 26
  else fail "moe: the cpu replaying emu's own choices" "$(grep 'route replay' "$T/err")"; fi
fi
M7=("${MOE[@]}")
M7[3]=7   # --random-weights 7
if MIXC_ROUTE_REPLAY=$T/routes-topk_softmax run "moe replay seed 7" 0 "${M7[@]}"; then
  if route_gap_within; then fail "moe: another model's choices replayed pass the gap check" "$(grep 'route replay' "$T/err")"
  else pass "moe: another model's choices replayed lie far from the cpu's own (the gap check can fail: $(sed -n 's/^mixrun: route replay: //p' "$T/err"))"; fi
fi
# Experts on layer 1 only (moe_step 2, Llama 4 Maverick's interleave): layer 0 a dense MLP of
# dense_ffn 128, not the experts' 96 (64 made a greedy near-tie at seed 5, emu and cpu then generate
# other tokens); emu against cpu, and the cpu replaying emu's choices (the route
# log holds the experts' layer only). The dense layer's width matters: another on the cpu fails.
MS=(--set moe_step=2 --set dense_ffn=128 --set router=sigmoid_input --set experts_per_token=1 --set shared_expert_ffn=64)
if run "moe_step cpu" 0 "${MOE[@]}" "${MS[@]}" --dump-logits "$T/msc.npy" &&
   MIXC_ROUTE_LOG=$T/routes-step run "moe_step emu" 0 "${MOE[@]}" "${MS[@]}" --backend emu --dump-logits "$T/mse.npy"; then
  cmp_logits "emu vs cpu: experts on every other layer (moe_step 2), dense_ffn between" "$T/msc.npy" "$T/mse.npy" "$BF16_TOL" 26
  if MIXC_ROUTE_REPLAY=$T/routes-step run "moe_step replay" 0 "${MOE[@]}" "${MS[@]}" --dump-logits "$T/msr.npy" &&
     grep -qE '^mixrun: route replay: 0 of [0-9]+ choices differ' "$T/err" && route_gap_within; then
    cmp_logits "moe_step: the cpu replaying emu's choices (layer 1's only)" "$T/msr.npy" "$T/mse.npy" "$BF16_TOL" 26
  else fail "moe_step: the cpu replaying emu's choices" "$(grep 'route replay' "$T/err")"; fi
  if run "moe_step cpu dense_ffn 64" 0 "${MOE[@]}" "${MS[@]}" --set dense_ffn=64 --dump-logits "$T/msc32.npy"; then
    if "$CMP" "$T/msc32.npy" "$T/mse.npy" $BF16_TOL 26 >"$T/cmp" 2>&1; then fail "emu vs cpu: another dense_ffn passes the check"
    else pass "emu vs cpu: another dense_ffn on cpu fails the moe_step check (the check can fail)"; fi
  fi
fi
head -c 100 "$T/routes-topk_softmax" >"$T/routes-short"
MIXC_ROUTE_REPLAY=$T/routes-short run "moe replay short" 1 "${MOE[@]}" &&
  expect_err "moe: a route log that ends early is refused by name" "MIXC_ROUTE_REPLAY: the routes end before layer"


# example_check FILE: one example's runs and comparisons (PASS/FAIL lines; MEMFAIL lines for the
# memory summary). Examples run $JOBS at a time, each in its own directory ($T is rebound); their
# lines are printed in order once all have ended.
example_check() {
  local f=$1 n kv hd ctok
  n=$(basename "$f" .mix)
  kv=2; grep -qE '^\s*kv_heads\s*=\s*1\b' "$f" && kv=1
  hd=64; grep -qE '^\s*head_dim\s*=\s*(128|192|256)\b' "$f" && hd=128
  SETS=(--set hidden=128 --set heads=4 --set kv_heads=$kv --set head_dim=$hd --set ffn=128 --set vocab=128
        --set context=32 --set chunk=8 --set window=8 --set chunked=6 --set kv_dtype=bf16 $(moe_test_sets "$f"))
  S=(--layout "$f" "${SETS[@]}" --tokens $EP --max-new 6)
  mem_check cpu --layout "$f" "${SETS[@]}" --random-weights 5 --batch 2 --prompt-len 10 --max-new 2 || echo "MEMFAIL $n: $(cat "$T/why")"
  run "cpu $n" 0 "${S[@]}" --random-weights 5 --backend cpu --dump-logits "$T/c-$n.npy" --save-weights "$T/w.safetensors" || return
  ctok=$(cat "$T/out")
  # cuda and emu read those weights from the file, streamed (docs/model.md, "Weights"): the random
  # ones exactly. cuda at context 26 + 6 = 32: the kernels tests/cuda compiles (its NVRTC cache).
  mem_check cuda --layout "$f" "${SETS[@]}" --weights "$T/w.safetensors" --batch 2 --prompt-len 26 --max-new 6 || echo "MEMFAIL $n: $(cat "$T/why")"
  run "emu $n" 0 "${S[@]}" --weights "$T/w.safetensors" --backend emu --dump-logits "$T/e-$n.npy" || return
  local tol=$BF16_TOL; [ "$n" = llama4-scout ] || [ "$n" = llama4-maverick ] && tol=$DEEP_BF16_TOL
  local shape="head_dim $hd, kv_heads $kv"
  has_own_shapes "$f" && shape+="; its kinds' own: $(grep -oE '^\s*attention\s+\S+\s*=.*\s(kv_heads|head_dim)\s+[0-9]+.*' "$f" |
                                                     grep -oE '(kv_heads|head_dim) [0-9]+' | paste -sd' ')"
  cmp_logits "emu vs cpu: $n ($shape)" "$T/c-$n.npy" "$T/e-$n.npy" "$tol" 26
  # Same tokens, unless the checker saw the greedy choice diverge on an unclear margin (and passed).
  if [ "$(cat "$T/out")" = "$ctok" ] || grep -q "greedy token" "$T/cmp"; then :; else fail "emu vs cpu: $n greedy tokens" "cpu $ctok" "emu $(cat "$T/out")"; fi
  mem_check emu --layout "$f" "${SETS[@]}" --random-weights 5 --batch 2 --prompt-len 10 --max-new 2 || echo "MEMFAIL $n: $(cat "$T/why")"
  # An example with experts as it is (all its experts, a few chosen a token): the cpu backend replays
  # the experts emu chose (MIXC_ROUTE_LOG, MIXC_ROUTE_REPLAY), each weighed by its own logits; the
  # logits within the same tolerance, and a choice differs from the cpu's own only between two logits
  # closer than $ROUTE_GAP.
  if grep -qE '^\s*experts\s*=' "examples/$n.mix"; then
    local R=(--layout "examples/$n.mix" "${SETS[@]}" $(moe_test_sets "examples/$n.mix" 16) --random-weights 5 --tokens $EP --max-new 6)
    if MIXC_ROUTE_LOG=$T/routes run "emu $n routes" 0 "${R[@]}" --backend emu --dump-logits "$T/er-$n.npy" &&
       MIXC_ROUTE_REPLAY=$T/routes run "cpu $n replay" 0 "${R[@]}" --backend cpu --dump-logits "$T/cr-$n.npy"; then
      cmp_logits "emu vs cpu: $n with its own experts, the cpu replaying emu's choices" "$T/cr-$n.npy" "$T/er-$n.npy" "$tol" 26
      route_gap_ok "$n: emu's expert choices differ from the cpu's only at near ties"
    fi
  fi
  # 8-bit caches on emu within their derived tolerance of the bf16 run: every example with
  # MIXC_TEST_LONG=1 (each dtype compiles its own kernels: ~30 s a run), else gemma3-27b (head_dim 128;
  # head_dim 64's are character-ai's, checked against the cpu in the 8-bit section above);
  # not under the sanitizers (10x slower there), where the 8-bit section below runs them on emu.
  [ "$ASAN" = 1 ] && return
  case "${MIXC_TEST_LONG:-0}:$n" in 1:*|*:gemma3-27b) ;; *) return ;; esac
  local q dt
  for q in int8:"$Q8_TOL" fp8:"$F8_TOL"; do
    dt=${q%%:*}
    run "emu $n $dt" 0 "${S[@]/kv_dtype=bf16/kv_dtype=$dt}" --weights "$T/w.safetensors" --backend emu --dump-logits "$T/e-$n-$dt.npy" || continue
    cmp_logits "emu: $n with kv_dtype $dt within its tolerance of bf16" "$T/e-$n.npy" "$T/e-$n-$dt.npy" "${q#*:}" 26
  done
}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
for f in "${examples[@]}"; do
  n=$(basename "$f" .mix)
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  # the kernels' cache of tests/cuda, which compiles the same examples at the same sizes
  (T=$T/example-$n; mkdir -p "$T"; export MIXC_CACHE_DIR=$TEST_JIT_CACHE; example_check "$f") >"$T/example-$n.log" 2>&1 &
done
wait
mem_fail=()
for f in "${examples[@]}"; do
  n=$(basename "$f" .mix)
  grep -v '^MEMFAIL ' "$T/example-$n.log"
  fails=$((fails + $(grep -c '^FAIL' "$T/example-$n.log")))
  while IFS= read -r line; do mem_fail+=("${line#MEMFAIL }"); done < <(grep '^MEMFAIL ' "$T/example-$n.log")
done
[ ${#mem_fail[@]} -eq 0 ] && pass "${#examples[@]} examples at test size on cpu, emu and cuda (stand-in driver): memory planned = allocated (kv, arena, weights, the cuBLAS workspace on cuda) = mixc report --target" ||
  fail "memory planned = allocated = mixc report --target" "${mem_fail[@]}"

# On emu (the cuda backend's bias_add kernels after the projections): the cpu backend's logits within
# the bf16 tolerance, the unbiased model's well beyond it; memory planned = allocated = report.
QE=(--layout "$T/qb.mix" --set head_dim=64 --random-weights 7 --tokens $(seq -s, 1 20) --max-new 6)
if run "qkv_bias cpu" 0 "${QE[@]}" --dump-logits "$T/qbc.npy" && run "qkv_bias emu" 0 "${QE[@]}" --backend emu --dump-logits "$T/qbe.npy" &&
   run "no bias cpu" 0 --layout $TINY "${QE[@]:2}" --dump-logits "$T/nbc.npy"; then
  cmp_logits "emu vs cpu: qkv_bias" "$T/qbc.npy" "$T/qbe.npy" "$BF16_TOL" 20
  if "$CMP" "$T/nbc.npy" "$T/qbe.npy" $BF16_TOL 20 >"$T/cmp" 2>&1; then fail "emu: the biases change the logits beyond the tolerance"
  else pass "emu: the biases change the logits beyond the tolerance (the check can fail)"; fi
  SETS=(--set head_dim=64)
  f=$T/qb.mix
  mem_check emu --layout "$f" "${SETS[@]}" --random-weights 5 --batch 2 --prompt-len 10 --max-new 2 &&
    pass "emu: qkv_bias memory planned = allocated = mixc report --target emu (bias weights included)" ||
    fail "emu: qkv_bias memory planned = allocated" "$(cat "$T/why")"
fi

# Per-kind KV shapes: each layer on its shape's kernels, emu's logits of the prompt and 6 decode steps
# within the bf16 tolerance of the cpu backend's; one kind's mask changed on the cpu must fail it (the
# comparison sees that shape's layers).
# shapes_case NAME LAYOUT WHAT FROM TO CHANGE: sed s/FROM/TO/ on LAYOUT is the cpu's changed layout.
shapes_case() {
  local n=$1 lay=$2 what=$3 from=$4 to=$5 change=$6
  local args=(--random-weights 5 --tokens $CP --max-new 6)
  sed "s/$from/$to/" "$lay" >"$T/$n-changed.mix"
  if run "cpu $n" 0 --layout "$lay" "${args[@]}" --dump-logits "$T/c-$n.npy" &&
     run "emu $n" 0 --layout "$lay" "${args[@]}" --backend emu --dump-logits "$T/e-$n.npy" &&
     run "cpu $n changed" 0 --layout "$T/$n-changed.mix" "${args[@]}" --dump-logits "$T/c-$n-changed.npy"; then
    cmp_logits "emu vs cpu: $what" "$T/c-$n.npy" "$T/e-$n.npy" "$BF16_TOL" 26
    if ! grep -q "$to" "$T/$n-changed.mix"; then fail "emu: $n: the test could not change the layout ($change)"
    elif "$CMP" "$T/c-$n-changed.npy" "$T/e-$n.npy" $BF16_TOL 26 >/dev/null 2>&1; then fail "emu: $n: $change on cpu passes the comparison"
    else pass "emu: $n: $change on cpu fails the comparison (the check can fail)"; fi
  fi
}
# tests/mixrun/shapes.mix: three shapes, each cache shared within its shape, the q/k norms and q/k/v
# biases of each shape's widths; the narrow kind's window 6 instead of 5.
shapes_case shapes tests/mixrun/shapes.mix "per-kind KV shapes (3 shapes, shared caches, per-shape head norms and biases)" \
  "window 5 kv_heads 4" "window 6 kv_heads 4" "the narrow kind's window 6 instead of 5"
# tests/mixrun/hd512.mix, Gemma 4's shapes: window layers of head_dim 256, global layers of 512 (the
# prefill kernel's two head-dimension slices); the global kind as a window of 20 (the last 12 of the 32
# positions see fewer keys, in the 512 layers only).
shapes_case hd512 tests/mixrun/hd512.mix "head_dim 512 global and 256 window kinds (Gemma 4's shapes, shared caches, head norms)" \
  "full  = global kv_heads 1" "full  = window 20 kv_heads 1" "the 512 kind as a window of 20"

# RoPE tables on emu (rope_scaling yarn, NoPE layers, a kind's own base; docs/model.md, "RoPE"): the
# cpu backend's logits within the bf16 tolerance; the same model without them well beyond it.
RE=(--set head_dim=64 --random-weights 7 --tokens $(seq -s, 1 20) --max-new 6)
sed '/^ *rope_/d; s/ rope_theta 500//; s/ nope$//' tests/mixrun/rope.mix >"$T/plain-rope.mix"
if run "rope cpu" 0 --layout tests/mixrun/rope.mix "${RE[@]}" --dump-logits "$T/rc.npy" &&
   run "rope emu" 0 --layout tests/mixrun/rope.mix "${RE[@]}" --backend emu --dump-logits "$T/re.npy" &&
   run "plain rope cpu" 0 --layout "$T/plain-rope.mix" "${RE[@]}" --dump-logits "$T/pc.npy"; then
  cmp_logits "emu vs cpu: rope_scaling yarn, NoPE layers and a kind's own rope_theta" "$T/rc.npy" "$T/re.npy" "$BF16_TOL" 20
  if "$CMP" "$T/pc.npy" "$T/re.npy" $BF16_TOL 20 >"$T/cmp" 2>&1; then fail "emu: the RoPE variants change the logits beyond the tolerance"
  else pass "emu: the RoPE variants change the logits beyond the tolerance (the check can fail)"; fi
fi

# The variations on emu (head_norm and gelu_tanh_mul kernels, (1 + w) norms, the sandwich norms'
# rmsnorm launches, the embedding scale, query_pre_attn_scalar's scale, the soft-capped scores in
# the attention kernels and the soft-capped logits): each alone within the bf16 tolerance of the cpu
# backend's logits (soft-caps small enough to bend this model's scores and logits), and all of
# Gemma 2's and 3's at once (without Gemma 3's local rope base) in fp16 within the fp16 tolerance:
# in bf16 their extra roundings with norm weights of 2 measured 0.075 of rms, past the tolerance
# measured on plain models. Memory planned = allocated = report.
VE=(--set head_dim=64 --random-weights 7 --tokens $(seq -s, 1 20) --max-new 6)
VARIATIONS=("o_bias = true" "qk_norm = true" "sandwich_norms = true" "norm = rms_plus_one" "activation = gelu_tanh"
            "embed_scale = true" "query_pre_attn_scalar = 24" "attn_softcap = 1" "logit_softcap = 1.5"
            "activation = clamped_swiglu; swiglu_limit = 0.5" "qk_l2_norm = true")
# Under the sanitizers each variation's emulated kernels compile ~10x slower: two that change kernel
# code (the normal pass checks them all).
[ "$ASAN" = 1 ] && VARIATIONS=("qk_norm = true" "activation = clamped_swiglu; swiglu_limit = 0.5")
for v in "${VARIATIONS[@]}"; do
  sed "s/^\(model \"[^\"]*\" {\)\$/\1\n    $v/" $TINY >"$T/var.mix"
  grep -q "^    $v\$" "$T/var.mix" || { fail "emu vs cpu: $v (the test could not add it)"; continue; }
  if run "$v cpu" 0 --layout "$T/var.mix" "${VE[@]}" --dump-logits "$T/varc.npy" &&
     run "$v emu" 0 --layout "$T/var.mix" "${VE[@]}" --backend emu --dump-logits "$T/vare.npy"; then
    cmp_logits "emu vs cpu: $v" "$T/varc.npy" "$T/vare.npy" "$BF16_TOL" 20
  fi
done
if run "gemma cpu" 0 --layout "$T/gm.mix" "${VE[@]}" --set dtype=fp16 --dump-logits "$T/g3c.npy" &&
   run "gemma emu" 0 --layout "$T/gm.mix" "${VE[@]}" --set dtype=fp16 --backend emu --dump-logits "$T/g3e.npy"; then
  cmp_logits "emu vs cpu: Gemma 2's and 3's variations at once (fp16)" "$T/g3c.npy" "$T/g3e.npy" "$FP16_TOL" 20
  SETS=(--set head_dim=64)
  f=$T/gm.mix
  mem_check emu --layout "$f" "${SETS[@]}" --random-weights 5 --batch 2 --prompt-len 10 --max-new 2 &&
    pass "emu: the variations' memory planned = allocated = mixc report --target emu (their norm weights included)" ||
    fail "emu: the variations' memory planned = allocated" "$(cat "$T/why")"
fi

# Llama 4's attention temperature on its NoPE layer: the cpu backend and the rope kernel
# (mixc_nope_temperature) compute it; emu equals cpu below the floor (every factor 1) and beyond
# (context 128 with a floor of 16: factors up to 1 + 0.5 ln 8 = 2.04 by the last tokens).
cat >"$T/temp.mix" <<'MIX'
model "temp" {
    layers   = 2
    hidden   = 64
    heads    = 2
    kv_heads = 1
    head_dim = 64
    ffn      = 128
    vocab    = 256
    context  = 128
    chunk    = 4
    nope_temperature_floor = 16
    nope_temperature_scale = 0.5
}
attention g = global nope
layer 0 : global
layer 1 : g
MIX
if run "temperature cpu" 0 --layout "$T/temp.mix" --random-weights 7 --tokens $(seq -s, 1 10) --max-new 5 --dump-logits "$T/tc.npy" &&
   run "temperature emu" 0 --layout "$T/temp.mix" --random-weights 7 --tokens $(seq -s, 1 10) --max-new 5 --backend emu --dump-logits "$T/te.npy"; then
  cmp_logits "emu vs cpu: nope_temperature below its floor (every factor 1)" "$T/tc.npy" "$T/te.npy" "$BF16_TOL" 10
fi
if run "temperature cpu beyond" 0 --layout "$T/temp.mix" --random-weights 7 --tokens $(seq -s, 1 60) --max-new 40 --dump-logits "$T/tcb.npy" &&
   run "temperature emu beyond" 0 --layout "$T/temp.mix" --random-weights 7 --tokens $(seq -s, 1 60) --max-new 40 --backend emu --dump-logits "$T/teb.npy"; then
  cmp_logits "emu vs cpu: nope_temperature beyond its floor (positions 0 to 99, factors 1 to 2.04)" "$T/tcb.npy" "$T/teb.npy" "$BF16_TOL" 60
fi
if run "temperature cpu 16" 0 --layout "$T/temp.mix" --random-weights 7 --tokens $(seq -s, 1 10) --max-new 6 --dump-logits "$T/t16.npy" &&
   run "no temperature cpu 16" 0 --layout "$T/temp.mix" --set nope_temperature_scale=0.001 --random-weights 7 --tokens $(seq -s, 1 10) --max-new 6 --dump-logits "$T/t16b.npy" &&
   ! cmp -s "$T/t16.npy" "$T/t16b.npy"; then pass "cpu: the NoPE layer's temperature changes the logits from position 15 on"
else fail "cpu: the NoPE layer's temperature changes the logits"; fi

# 8-bit KV caches (docs/model.md, "Quantized KV caches"): character-ai says kv_dtype = int8.
# The cpu backend quantizes as the model says (its logits differ from an fp32 cache's) and allocates
# the plan's codes and scales (= mixc report --target cpu); so do emu and cuda (stand-in driver), and
# emu's logits are within the derived 8-bit tolerance of the cpu's (both quantize, from inputs that
# differ by the bf16 path's roundings). The cpu-vs-fp32 bounds are sanity checks from measured runs
# (int8 0.019, fp8 0.080 of rms).
Q8=(--layout examples/character-ai.mix --set hidden=128 --set heads=4 --set kv_heads=1 --set head_dim=64 --set ffn=128
    --set vocab=128 --set context=32 --set chunk=8 --set window=8 --random-weights 5 --tokens $EP --max-new 6)
if run "cpu kv fp32" 0 "${Q8[@]}" --set kv_dtype=bf16 --dump-logits "$T/q-ref.npy"; then
  for q in int8:"0.0625 0.015625" fp8:"0.125 0.015625"; do
    dt=${q%%:*}
    run "cpu kv $dt" 0 "${Q8[@]}" --set kv_dtype=$dt --dump-logits "$T/q-$dt.npy" || continue
    if cmp -s "$T/q-ref.npy" "$T/q-$dt.npy"; then fail "cpu: kv_dtype $dt quantizes the cache" "logits identical to an fp32 cache's"
    else cmp_logits "cpu: kv_dtype $dt quantizes the cache, logits near an fp32 cache's" "$T/q-ref.npy" "$T/q-$dt.npy" "${q#*:}" 26; fi
    SETS=(--set hidden=128 --set heads=4 --set kv_heads=1 --set head_dim=64 --set ffn=128 --set vocab=128 --set context=32
          --set chunk=8 --set window=8 --set kv_dtype=$dt)
    f=examples/character-ai.mix
    run "cpu kv $dt bench" 0 "${Q8[@]:0:18}" --set kv_dtype=$dt --random-weights 5 --bench --prompt-len 10 --max-new 2 &&
      { grep -q "^memory: KV .* ($dt caches, 1 sequence), arena .*; the layout's KV in $dt (mixc report): " "$T/out" && pass "cpu: --bench says its caches are $dt" ||
        fail "cpu: --bench says its caches are $dt" "$(grep '^memory' "$T/out")"; }
    for be in cpu emu cuda; do
      mem_check $be --layout "$f" "${SETS[@]}" --random-weights 5 --batch 2 --prompt-len $([ $be = cuda ] && echo 26 || echo 10) --max-new $([ $be = cuda ] && echo 6 || echo 2) &&
        pass "$be: kv_dtype $dt memory planned = allocated = mixc report --target $be (codes and scales)" ||
        fail "$be: kv_dtype $dt memory planned = allocated" "$(cat "$T/why")"
    done
    tol=$Q8_TOL; [ $dt = fp8 ] && tol=$F8_TOL
    # int8 is the example's own kv_dtype: that run takes no --set
    run "emu kv $dt" 0 "${Q8[@]}" $([ $dt = fp8 ] && echo --set kv_dtype=fp8) --backend emu --dump-logits "$T/qe-$dt.npy" &&
      cmp_logits "emu vs cpu: character-ai with kv_dtype $dt" "$T/q-$dt.npy" "$T/qe-$dt.npy" "$tol" 26
  done
fi

# The tolerance is tight enough to see one key more in every window (cpu with window 9 vs emu 8).
n=character-ai
if [ -f "$T/example-$n/e-$n.npy" ] &&
   run "cpu w9" 0 --layout examples/$n.mix --set hidden=128 --set heads=4 --set kv_heads=1 --set head_dim=64 --set ffn=128 --set vocab=128 \
     --set context=32 --set chunk=8 --set window=9 --set kv_dtype=bf16 --random-weights 5 --tokens $EP --max-new 6 --dump-logits "$T/c9.npy"; then
  if "$CMP" "$T/c9.npy" "$T/example-$n/e-$n.npy" $BF16_TOL 26 >"$T/cmp" 2>&1; then fail "emu vs cpu: window 9 vs 8 must differ beyond the tolerance" "$(tail -n 1 "$T/cmp")"
  else pass "emu vs cpu: window 9 vs 8 differ beyond the tolerance (the check can fail)"; fi
fi

# A reading layer sees its owner's K/V under emu: layer 1 only reads layer 0's cache. The emu logits
# match the cpu's, and not those of a reader that sees only its own position (window 1).
printf 'model "share" {\n layers = 2\n hidden = 128\n heads = 4\n kv_heads = 2\n head_dim = 64\n ffn = 128\n vocab = 128\n context = 40\n chunk = 8\n}\nlayer 0 : global\nlayer 1 : global reads 0\n' >"$T/share.mix"
sed 's/^layer 1 : global reads 0/layer 1 : window 1 reads 0/' "$T/share.mix" >"$T/share1.mix"
SH=(--random-weights 11 --tokens $EP --max-new 14)
if run "share cpu" 0 --layout "$T/share.mix" "${SH[@]}" --dump-logits "$T/sc.npy" &&
   run "share emu" 0 --layout "$T/share.mix" "${SH[@]}" --backend emu --dump-logits "$T/se.npy" &&
   run "share1 cpu" 0 --layout "$T/share1.mix" "${SH[@]}" --dump-logits "$T/s1.npy"; then
  if "$CMP" "$T/sc.npy" "$T/se.npy" $BF16_TOL 26 >"$T/cmp" 2>&1 && ! "$CMP" "$T/s1.npy" "$T/se.npy" $BF16_TOL 26 >/dev/null 2>&1; then
    pass "emu: a reading layer sees its owner's K/V"
  else fail "emu: a reading layer sees its owner's K/V" "$(head -n 6 "$T/cmp")"; fi
fi

# Two layouts open on the emu backend in one process at once (each backend holds its own kernels):
# each gives the logits it gives alone, bit for bit (the program prints its PASS/FAIL line).
"$BUILD/tests/mixrun/test_emu_layouts" "$TINY" 2>"$T/err" || { grep -v "^ \|warning\|note" "$T/err" | head -n 5; fails=$((fails + 1)); }

# Errors: no compiler, a failed compile, a damaged cache entry.
mkdir -p "$T/c2"
if MIXC_CACHE_DIR=$T/c2 MIXC_CXX=/nonexistent/c++ run "no cxx" 1 "${TE[@]}" --random-weights 3 --tokens 1,2 --backend emu; then
  grep -q "^mixrun: cannot compile the kernels for the emulator: command not found (set MIXC_CXX .*: \`/nonexistent/c++ " "$T/err" && [ -z "$(ls -A "$T/c2")" ] &&
    pass "emu: a missing compiler is named, exit 1, nothing cached" || fail "emu: a missing compiler" "$(head -c 600 "$T/err")"
fi
if MIXC_CACHE_DIR=$T/c2 MIXC_EMU_CXXFLAGS="-DMIXC_EMU_BROKEN=1 -include $T/nonexistent.h" run "bad compile" 1 "${TE[@]}" --random-weights 3 --tokens 1,2 --backend emu; then
  grep -q "compiler log:" "$T/err" && grep -q "nonexistent.h" "$T/err" && grep -q "emulator: the compiler failed (its log is above): \`c++ " "$T/err" && [ -z "$(ls -A "$T/c2")" ] &&
    pass "emu: a failed compile shows the command and its log, exit 1, nothing cached" || fail "emu: a failed compile" "$(head -c 800 "$T/err")"
fi
for so in "${TE_SO[@]}"; do echo "not a shared object" >"$so"; done
if MIXC_EMU_VERBOSE=1 run "damaged" 0 "${TE[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend emu --dump-logits "$T/e4.npy"; then
  grep -q "warning: .*recompiling" "$T/err" && cmp -s "$T/e1.npy" "$T/e4.npy" && pass "emu: a damaged cache entry is recompiled" ||
    fail "emu: a damaged cache entry is recompiled" "$(head -c 600 "$T/err")"
fi
# A whole ELF file damaged in place would load and crash (SIGBUS, SIGILL): the checksum beside each
# entry catches it before dlopen; the entry is rebuilt once and the next run takes it quietly.
damage_so() {   # $1: truncate | scramble
  for so in "${TE_SO[@]}"; do
    python3 - "$so" "$1" <<'PY'
import os, sys
path, how = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
if how == 'truncate':
    os.truncate(path, size * 6 // 10)
else:
    with open(path, 'r+b') as f:
        f.seek(size // 2)
        f.write(b'\xff' * 4096)
PY
  done
}
for how in truncate scramble; do
  damage_so "$how"
  if run "damaged ($how)" 0 "${TE[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend emu --dump-logits "$T/e5.npy"; then
    [ "$(grep -c "warning: emu cache entry .* is damaged (checksum mismatch); recompiling" "$T/err")" = 1 ] &&
      cmp -s "$T/e1.npy" "$T/e5.npy" && pass "emu: a cache entry damaged in place ($how) is caught before loading and rebuilt" ||
      fail "emu: a cache entry damaged in place ($how)" "$(head -c 600 "$T/err")"
  fi
  if run "healed ($how)" 0 "${TE[@]}" --random-weights 3 --tokens $TP --max-new 10 --backend emu; then
    ! grep -q -e "damaged" -e "recompiling" "$T/err" && pass "emu: the rebuilt entry ($how) is taken without a warning" ||
      fail "emu: the rebuilt entry ($how)" "$(head -c 600 "$T/err")"
  fi
done

# Every key of --bench --json (each backend mem_check ran) and --check-weights --json is in
# docs/model.md (tests/doc_keys.py).
if python3 tests/doc_keys.py docs/model.md -- "$T"/keys-*.json >"$T/keys.out" 2>&1; then
  pass "--bench --json and --check-weights --json: every key is in docs/model.md ($(ls "$T"/keys-*.json | wc -l) outputs)"
else fail "--bench --json and --check-weights --json: every key is in docs/model.md" "$(head -n 10 "$T/keys.out")"; fi

[ "$fails" -eq 0 ]
