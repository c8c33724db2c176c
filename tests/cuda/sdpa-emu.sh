#!/usr/bin/env bash
# The prefill kernel against PyTorch's scaled_dot_product_attention without a GPU (`make test-python`):
# gpu-check's SDPA part (tests/cuda/sdpa-configs.txt, scripts/sdpa-check.py) with gpu_attn run under the
# stand-in driver and its kernels in the CUDA emulator (gpu_attn emu-so). PyTorch is a reference
# independent of mixc's own cpu one; the emulated kernel computes what the GPU does (on 2026-12-04 the
# H200 and this check printed the same 0.00293 for the window-100 configuration).
# Usage: PYTHON=venv/bin/python BUILD=build bash tests/cuda/sdpa-emu.sh
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
ATTN=$BUILD/tests/cuda/gpu_attn
FAKE=$BUILD/tests/cuda/fake
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; failed=$((failed + 1)); }
i=0 dirs=() cfgs=()
while read -r cfg; do
  [[ $cfg == "#"* || -z $cfg ]] && continue
  i=$((i + 1)); mkdir -p "$T/$i"
  # shellcheck disable=SC2086
  if "$ATTN" emu-so "$T/$i.so" $cfg >"$T/err" 2>&1 &&
     FAKE_CUDA=full FAKE_CUDA_EMU_SO=$T/$i.so LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
       "$ATTN" prefill "$T/$i" $cfg >"$T/$i/prefill.json" 2>"$T/err"; then
    dirs+=("$T/$i"); cfgs+=("$cfg")
  else fail "prefill (emulated) vs SDPA ($cfg): gpu_attn" "$(head -n 5 "$T/err")"; fi
done <tests/cuda/sdpa-configs.txt
if [ ${#dirs[@]} -gt 0 ]; then
  "$PYTHON" scripts/sdpa-check.py "${dirs[@]}" >"$T/py" 2>&1
  for k in "${!dirs[@]}"; do
    line=$(grep -m 1 -F "${dirs[$k]} " "$T/py" | cut -d' ' -f2-)
    if [[ $line == "ok "* ]]; then pass "prefill (emulated) vs SDPA (${cfgs[$k]}): ${line#ok }"
    else fail "prefill (emulated) vs SDPA (${cfgs[$k]})" "${line:-$(tail -n 5 "$T/py")}"; fi
  done
fi
[ "$i" -ge 5 ] || fail "tests/cuda/sdpa-configs.txt: $i configurations, 5 expected"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
