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
# of their sums (dot products of 64-128 terms, softmax over at most 26 keys, two layers, llama4 four),
# a few fp32 ulps (2^-24 = 6e-8) per operation; measured 2.2e-6 to 3.5e-6 of a row's rms (llama4 and
# mixtral: 4.2e-6), and a float64 model is as far from transformers as mixc is. Chosen 2^-16 (1.5e-5,
# 3.6x the largest) for both parts; one key more in a window exceeds it by orders (checked below).
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
sanitized "$RUN" && EMU_ONLY=qwen2

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
  if ! grep -qE '^\s*experts\s*=' "$T/$fam.mix"; then
    if "$RUN" "${common[@]}" --backend emu --dump-logits "$T/$fam-emu.npy" >"$T/out" 2>"$T/err"; then
      cmp_logits "$fam: emu bf16 = transformers fp32 within the bf16 tolerance" "$dir/logits.npy" "$T/$fam-emu.npy" "$BF16_TOL"
    else fail "$fam: mixrun emu" "$(head -c 400 "$T/err")"; fi
    continue
  fi
  # Experts: a bf16 router may pick another expert where two logits nearly tie (a far larger change
  # than the kernels' rounding). The cpu fp32 run replays the experts emu chose (MIXC_ROUTE_REPLAY,
  # docs/model.md), each weighed by its own logits: emu within the bf16 tolerance of that, and every
  # choice that differs from the cpu's own lies within 2^-4 of its k-th logit.
  if MIXC_ROUTE_LOG=$T/$fam.routes "$RUN" "${common[@]}" --backend emu --dump-logits "$T/$fam-emu.npy" >"$T/out" 2>"$T/err" &&
     MIXC_ROUTE_REPLAY=$T/$fam.routes "$RUN" "${common[@]}" --backend cpu --dtype fp32 --dump-logits "$T/$fam-replay.npy" \
       >"$T/out" 2>"$T/err"; then
    cmp_logits "$fam: emu bf16 = cpu fp32 replaying emu's expert choices, within the bf16 tolerance" \
      "$T/$fam-replay.npy" "$T/$fam-emu.npy" "$BF16_TOL"
    gap=$(sed -n 's/.*the farthest \([0-9.e+-]*\) below.*/\1/p' "$T/err")
    if [ -n "$gap" ] && awk -v g="$gap" 'BEGIN { exit !(g <= 0.0625) }'; then
      pass "$fam: emu's expert choices differ from the cpu's only at near ties ($(grep -o '[0-9]* of [0-9]* choices differ' "$T/err"), the farthest $gap below the k-th logit)"
    else fail "$fam: emu's expert choices differ from the cpu's only at near ties" "$(grep 'route replay' "$T/err")"; fi
  else fail "$fam: mixrun emu with its route log, cpu replaying it" "$(head -c 400 "$T/err")"; fi
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
# Llama 4: what the import maps from its config is what matches. Without each of them (rotate_half on
# the q/k rows as stored instead of rope_interleaved's permutation at load, no L2 q/k norm, no
# attention temperature on the NoPE layer) the same weights must fail the tolerance.
if [ -f "$FIX/llama4/config.json" ] && [ -f "$T/llama4.mix" ]; then
  dir=$FIX/llama4
  for field in rope_interleaved qk_l2_norm nope_temperature_floor; do   # the floor with its scale
    grep -vE "^ *($field|${field/%floor/scale}) *=" "$T/llama4.mix" >"$T/l4-no.mix"
    if grep -q "^ *$field *= " "$T/llama4.mix" &&
       "$RUN" --layout "$T/l4-no.mix" --set chunk=8 --set context=32 --weights "$dir" --tokens "$(cat "$dir/prompt.txt")" \
         --max-new 0 --backend cpu --dtype fp32 --dump-logits "$T/l4.npy" >"$T/out" 2>"$T/err" &&
       ! "$CMP" "$dir/logits.npy" "$T/l4.npy" $CPU_TOL 26 >"$T/cmp" 2>&1; then
      pass "llama4: imported with $field, which the logits need ($(tail -n 1 "$T/cmp" | sed 's/^ *//') without)"
    else fail "llama4: $field is what matches" "$(head -c 400 "$T/err")" "$(tail -n 2 "$T/cmp")"; fi
  done
  # --save-weights writes the q/k rows back in the checkpoint's order (and mixc's names): reloaded,
  # they give the same logits bit for bit
  l4=(--layout "$T/llama4.mix" --set chunk=8 --set context=32 --tokens "$(cat "$dir/prompt.txt")" --max-new 0 --backend cpu --dtype fp32)
  if "$RUN" "${l4[@]}" --weights "$dir" --save-weights "$T/l4-saved.safetensors" --dump-logits "$T/l4a.npy" >"$T/out" 2>"$T/err" &&
     "$RUN" "${l4[@]}" --weights "$T/l4-saved.safetensors" --dump-logits "$T/l4b.npy" >"$T/out" 2>>"$T/err" &&
     cmp -s "$T/l4a.npy" "$T/l4b.npy"; then pass "llama4: --save-weights then --weights: the same logits (rope_interleaved rows written back)"
  else fail "llama4: --save-weights round trip" "$(head -c 400 "$T/err")"; fi
fi
# gpt-oss's published yarn has truncate false: the same weights with the ramp's bounds rounded to whole
# pairs (truncate true) must fail the tolerance.
if [ -f "$FIX/gpt-oss-yarn/config.json" ] && [ -f "$T/gpt-oss-yarn.mix" ]; then
  dir=$FIX/gpt-oss-yarn
  if grep -q '^ *rope_truncate *= *false' "$T/gpt-oss-yarn.mix" &&
     "$RUN" --layout "$T/gpt-oss-yarn.mix" --set rope_truncate=true --set chunk=8 --set context=32 --weights "$dir" \
       --tokens "$(cat "$dir/prompt.txt")" --max-new 0 --backend cpu --dtype fp32 --dump-logits "$T/yt.npy" >"$T/out" 2>"$T/err" &&
     ! "$CMP" "$dir/logits.npy" "$T/yt.npy" $CPU_TOL 26 >"$T/cmp" 2>&1; then
    pass "gpt-oss-yarn: imported with rope_truncate false, which the logits need ($(tail -n 1 "$T/cmp" | sed 's/^ *//') with true)"
  else fail "gpt-oss-yarn: rope_truncate false is what matches" "$(head -c 400 "$T/err")" "$(tail -n 2 "$T/cmp")"; fi
fi
# An expert width other than the checkpoint's is refused, naming the tensor and both shapes: gpt-oss's
# and Llama 4's fused tensors, Mixtral's block_sparse_moe names.
width_refused() {   # FAMILY FFN MESSAGE WHAT
  [ -f "$FIX/$1/config.json" ] && [ -f "$T/$1.mix" ] || return 0
  if ! "$RUN" --layout "$T/$1.mix" --set ffn="$2" --set context=32 --weights "$FIX/$1" --tokens 1,2 --max-new 0 \
       --backend cpu >"$T/out" 2>"$T/err" && grep -qF "$3" "$T/err"
  then pass "$1: $4"; else fail "$1: $4" "$(head -c 400 "$T/err")"; fi
}
width_refused gpt-oss 32 "tensor 'model.layers.0.mlp.experts.gate_up_proj' is of shape [4, 128, 128]; the layout needs [4, 128, 64]" \
  "a fused expert tensor of another shape is refused, naming it"
width_refused llama4 16 "tensor 'model.layers.0.feed_forward.experts.gate_up_proj' is of shape [4, 128, 64]; the layout needs [4, 128, 32]" \
  "a fused expert tensor of another shape is refused, naming it"
width_refused mixtral 16 "tensor 'model.layers.0.block_sparse_moe.experts.0.w1.weight' has shape [32, 128]; the layout needs [16, 128]" \
  "an expert of another width is refused, naming its block_sparse_moe tensor"
# Llama 4 Maverick's form (moe_step 2): the dense layers' width is the checkpoint's intermediate_size_mlp
# (another dense_ffn is refused, naming layer 0's dense tensor), and the same weights with experts in
# every layer are refused (layer 0 has no router), never run with other logits.
if [ -f "$FIX/llama4-maverick/config.json" ] && [ -f "$T/llama4-maverick.mix" ]; then
  lm=(--set context=32 --weights "$FIX/llama4-maverick" --tokens 1,2 --max-new 0 --backend cpu)
  if grep -q '^ *moe_step *= 2$' "$T/llama4-maverick.mix" && grep -q '^ *dense_ffn *= 64$' "$T/llama4-maverick.mix" &&
     ! "$RUN" --layout "$T/llama4-maverick.mix" --set dense_ffn=32 "${lm[@]}" >"$T/out" 2>"$T/err" &&
     grep -qF "tensor 'model.layers.0.feed_forward.gate_proj.weight' has shape [64, 128]; the layout needs [32, 128]" "$T/err"
  then pass "llama4-maverick: imported as moe_step 2, dense_ffn 64; another dense width is refused, naming the tensor"
  else fail "llama4-maverick: moe_step and dense_ffn" "$(head -c 400 "$T/err")"; fi
  sed -E '/^ *(moe_step|dense_ffn) *=/d' "$T/llama4-maverick.mix" >"$T/l4m-every.mix"
  if ! "$RUN" --layout "$T/l4m-every.mix" "${lm[@]}" >"$T/out" 2>"$T/err" &&
     grep -qF "tensor 'model.layers.0.feed_forward.gate.weight' is missing" "$T/err"
  then pass "llama4-maverick: the checkpoint with experts in every layer is refused (layer 0's router is missing)"
  else fail "llama4-maverick: experts in every layer refused" "$(head -c 400 "$T/err")"; fi
fi

[ "$n_fam" -ge 16 ] && pass "$n_fam families have fixtures" || fail "fixtures: $n_fam families in $FIX, expected 16"

[ "$fails" -eq 0 ]
