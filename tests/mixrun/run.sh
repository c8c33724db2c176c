#!/usr/bin/env bash
# The model runtime's tests: the C tests of tests/mixrun/test_model, then the mixrun program end to
# end (options, --set, safetensors round trips and bad files, --dump-logits, ring caches, examples at
# test size, --backend cuda without a GPU, --bench). Prints PASS/FAIL lines; exits 1 on failure.
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
run "bad backend" 2 --layout $TINY --random-weights 1 --tokens 1 --backend tpu && expect_err "usage error: unknown backend" "unknown backend 'tpu'"
run "missing value" 2 --layout $TINY --random-weights 1 --tokens && expect_err "usage error: option without its value" "--tokens needs a value"
run "bad set" 2 --layout $TINY --random-weights 1 --tokens 1 --set hidden && expect_err "usage error: --set without =" "--set needs key=value"
run "bad tokens" 1 --layout $TINY --random-weights 1 --tokens 1,x,3 && expect_err "input error: a token that is not a number" "'x' is not a token id"
run "vocab" 1 --layout $TINY --random-weights 1 --tokens 1,256 && expect_err "input error: a token outside the vocabulary" "token 256 (position 1) is outside the vocabulary [0, 256)"
run "context" 1 --layout $TINY --random-weights 1 --tokens 1,2 --max-new 127 && expect_err "input error: prompt + new tokens beyond the context" "more than the context (128)"
run "layout" 1 --layout "$T/none.mix" --random-weights 1 --tokens 1 && expect_err "input error: unreadable layout" "none.mix"

# ---- --backend cuda on a machine without a GPU (or without the cuda backend) exits 2
if run "cuda" 2 --layout $TINY --random-weights 1 --tokens 1,2 --backend cuda; then
  if grep -q "^mixrun: no CUDA device available (" "$T/err" || grep -q "^mixrun: the cuda backend is not part" "$T/err"; then
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
# weights of a layout where layer 1 owns its cache, loaded into one where layer 1 reads layer 0's
sed 's/^layer 1 : global reads 0/layer 1 : global/' $TINY >"$T/own.mix"
if run "save own" 0 --layout "$T/own.mix" --random-weights 1 --save-weights "$T/own.safetensors"; then
  run "reader kproj" 1 --layout $TINY --weights "$T/own.safetensors" --tokens 1 &&
    expect_err "bad weights (cli): a reading layer with k_proj is an error" "'model.layers.1.self_attn.k_proj.weight' is present, but layer 1 reads layer 0's cache"
  run "missing kproj" 1 --layout "$T/own.mix" --weights "$T/w.safetensors" --tokens 1 &&
    expect_err "bad weights (cli): a missing tensor is named" "tensor 'model.layers.1.self_attn.k_proj.weight' is missing"
fi
run "absent" 1 --layout $TINY --weights "$T/absent.safetensors" --tokens 1 && expect_err "bad weights (cli): no such file" "absent.safetensors': cannot open"

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

# ---- every example layout runs at test size
ex_fail=""
for f in examples/*.mix; do
  "$RUN" --layout "$f" --random-weights 1 --set hidden=64 --set heads=4 --set kv_heads=2 --set head_dim=16 \
    --set ffn=64 --set vocab=256 --set context=64 --set chunk=8 --set window=8 --tokens $PROMPT --max-new 4 \
    >"$T/out" 2>"$T/err" || ex_fail="$ex_fail $f"
done
[ -z "$ex_fail" ] && pass "every example runs at test size with --set" || fail "every example runs at test size with --set" "$ex_fail"

# ---- bench
if run "bench" 0 --layout $TINY --random-weights 1 --bench --batch 3 --prompt-len 20 --max-new 10; then
  if grep -q "^prefill: 60 tokens in .* tokens/s" "$T/out" && grep -q "^decode: 30 tokens in .* tokens/s" "$T/out" &&
     grep -q "^memory: KV .*arena .*weights" "$T/out"; then pass "--bench prints prefill, decode and memory"
  else fail "--bench prints prefill, decode and memory" "$(cat "$T/out")"; fi
fi

[ "$fails" -eq 0 ]
