#!/usr/bin/env bash
# mixc against Hugging Face transformers, without torch: each tests/hf/fixtures/FAMILY holds a tiny
# random checkpoint written by transformers' save_pretrained, a prompt and the logits transformers
# computed for it in fp32 (tests/hf/make_fixtures.py, `make refresh-hf-fixtures`). For each family:
# `mixc import config.json`, then `mixrun --weights DIR` on the cpu backend in fp32 and on the emu
# backend in bf16, compared with the fixture's logits (tests/mixrun/logitcmp). A family mixc does not
# compute yet must be refused at import, naming the field (never run with other logits).
# MIXC_HF_FIXTURES=DIR compares against fixtures made elsewhere (`make test-python` makes them fresh).
# Prints PASS/FAIL lines; exits 1 on failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
RUN=$BUILD/mixrun
CMP=$BUILD/tests/mixrun/logitcmp
FIX=${MIXC_HF_FIXTURES:-tests/hf/fixtures}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }

# Tolerances (logitcmp: |got - ref| <= ATOL * rms(ref row) + RTOL * |ref|).
# cpu, fp32 from the same bf16-rounded weights: both sides compute in fp32 and differ only in the order
# of their sums (dot products of 64-128 terms, softmax over at most 26 keys, two layers), a few fp32
# ulps (2^-24 = 6e-8) per operation; measured 2.2e-6 to 3.5e-6 of a row's rms (and a float64 model
# is as far from transformers as mixc is). Chosen 2^-16 (1.5e-5, 5x) for both parts; one key more in
# a window exceeds it by orders (checked below).
CPU_TOL="0.0000152587890625 0.0000152587890625"
# emu, bf16: the kernels' tolerance against the fp32 cpu backend (derived in tests/mixrun/run.sh and
# docs/kernels.md: bf16 roundings of each kernel's inputs and outputs).
BF16_TOL="0.0625 0.015625"

# Families the model description cannot express yet: the import must refuse them naming this field
# (none today: every family of tests/hf/make_fixtures.py is computed).
declare -A REFUSED_FIELD=()

. tests/toolkit.sh
have_emu=1
have_toolkit || have_emu=0
# Under the sanitizers the emulator is ~10x slower: emu runs one family (qwen2: biases, GQA).
EMU_ONLY=
nm "$RUN" 2>/dev/null | grep -q __asan_init && EMU_ONLY=qwen2

cmp_logits() {   # NAME REF GOT TOL: every row is a prompt row (teacher-forced), argmax checked on the last
  if "$CMP" "$2" "$3" $4 "$(jq -r .prompt_len "$dir/made_with.json")" >"$T/cmp" 2>&1; then pass "$1 ($(tail -n 1 "$T/cmp" | sed 's/^ *//'))"
  else fail "$1" "$(head -n 8 "$T/cmp")"; fi
}

n_fam=0
for dir in "$FIX"/*/; do
  fam=$(basename "$dir")
  [ -f "$dir/config.json" ] || continue
  n_fam=$((n_fam + 1))
  if [ -n "${REFUSED_FIELD[$fam]:-}" ]; then
    want=${REFUSED_FIELD[$fam]}
    if "$MIXC" import "$dir/config.json" -o "$T/$fam.mix" >"$T/out" 2>"$T/err"; then
      fail "$fam: import refuses '$want' (mixc does not compute it yet)" "import exited 0"
    elif grep -q "$want" "$T/err" && [ ! -e "$T/$fam.mix" ]; then
      pass "$fam: import refuses it, naming '$want', and writes nothing"
    else fail "$fam: import refuses it naming '$want'" "$(head -c 400 "$T/err")"; fi
    continue
  fi
  if ! "$MIXC" import "$dir/config.json" -o "$T/$fam.mix" 2>"$T/err"; then
    fail "$fam: import" "$(head -c 400 "$T/err")"; continue
  fi
  prompt=$(cat "$dir/prompt.txt")
  common=(--layout "$T/$fam.mix" --set chunk=8 --set context=32 --weights "$dir" --tokens "$prompt" --max-new 0)
  if "$RUN" "${common[@]}" --backend cpu --dtype fp32 --dump-logits "$T/$fam-cpu.npy" >"$T/out" 2>"$T/err"; then
    cmp_logits "$fam: cpu fp32 = transformers fp32" "$dir/logits.npy" "$T/$fam-cpu.npy" "$CPU_TOL"
  else fail "$fam: mixrun cpu fp32" "$(head -c 400 "$T/err")"; fi
  if [ "$have_emu" = 0 ]; then echo "SKIP $fam: emu (built without the CUDA toolkit)"; continue; fi
  [ -n "$EMU_ONLY" ] && [ "$fam" != "$EMU_ONLY" ] && continue
  if "$RUN" "${common[@]}" --backend emu --dump-logits "$T/$fam-emu.npy" >"$T/out" 2>"$T/err"; then
    cmp_logits "$fam: emu bf16 = transformers fp32 within the bf16 tolerance" "$dir/logits.npy" "$T/$fam-emu.npy" "$BF16_TOL"
  else fail "$fam: mixrun emu" "$(head -c 400 "$T/err")"; fi
done
# The cpu tolerance sees a single key more in a window: mistral with window 9 instead of 8 must fail.
if [ -f "$FIX/mistral/config.json" ] && [ -f "$T/mistral.mix" ]; then
  dir=$FIX/mistral
  if "$RUN" --layout "$T/mistral.mix" --set chunk=8 --set context=32 --set window=9 --weights "$dir" \
       --tokens "$(cat "$dir/prompt.txt")" --max-new 0 --backend cpu --dtype fp32 --dump-logits "$T/w9.npy" >"$T/out" 2>"$T/err" &&
     ! "$CMP" "$dir/logits.npy" "$T/w9.npy" $CPU_TOL 26 >"$T/cmp" 2>&1; then
    pass "the cpu tolerance sees one key more in a window (mistral, window 9: $(tail -n 1 "$T/cmp" | sed 's/^ *//'))"
  else fail "the cpu tolerance sees one key more in a window" "$(head -c 400 "$T/err")" "$(tail -n 2 "$T/cmp")"; fi
fi
# gpt-oss's fused expert tensors are checked against the layout: another expert width is refused,
# naming the tensor and both shapes.
if [ -f "$FIX/gpt-oss/config.json" ] && [ -f "$T/gpt-oss.mix" ]; then
  if ! "$RUN" --layout "$T/gpt-oss.mix" --set ffn=32 --set context=32 --weights "$FIX/gpt-oss" --tokens 1,2 --max-new 0 \
       --backend cpu >"$T/out" 2>"$T/err" &&
     grep -q "tensor 'model.layers.0.mlp.experts.gate_up_proj' is of shape \[4, 128, 128\]; the layout needs \[4, 128, 64\]" "$T/err"
  then pass "gpt-oss: a fused expert tensor of another shape is refused, naming it"
  else fail "gpt-oss: a fused expert tensor of another shape is refused" "$(head -c 400 "$T/err")"; fi
fi

[ "$n_fam" -ge 9 ] && pass "$n_fam families have fixtures" || fail "fixtures: $n_fam families in $FIX, expected 9"

[ "$fails" -eq 0 ]
