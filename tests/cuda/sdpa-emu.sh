#!/usr/bin/env bash
# The prefill kernel against PyTorch's scaled_dot_product_attention without a GPU (`make test-python`):
# gpu-check's SDPA part (scripts/sdpa-run.sh over tests/cuda/sdpa-configs.txt) with gpu_attn run under
# the stand-in driver and its kernels in the CUDA emulator (gpu_attn emu-so). PyTorch is a reference
# independent of mixc's own cpu one; the emulated kernel computes what the GPU does (on 2026-12-04 the
# H200 and this check printed the same 0.00293 for the window-100 configuration).
# Usage: PYTHON=venv/bin/python BUILD=build bash tests/cuda/sdpa-emu.sh
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
ATTN=$BUILD/tests/cuda/gpu_attn
FAKE=$BUILD/tests/cuda/fake
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
pass() { echo "PASS $1 (emulated)"; passed=$((passed + 1)); }
fail() { echo "FAIL $1 (emulated)"; shift; for l in "$@"; do echo "    $l"; done; failed=$((failed + 1)); }
# emulated_prefill DIR OPTIONS...: the configuration's kernels for the emulator, then the stand-in runs them
emulated_prefill() {
  local dir=$1; shift
  "$ATTN" emu-so "$dir/k.so" "$@" >&2 &&
    FAKE_CUDA=full FAKE_CUDA_EMU_SO=$dir/k.so LD_LIBRARY_PATH=$FAKE${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
      "$ATTN" prefill "$dir" "$@"
}
# shellcheck source=scripts/sdpa-run.sh
. scripts/sdpa-run.sh
sdpa_all emulated_prefill "${PYTHON:-python3}"
[ "$SDPA_CONFIGS" -ge 5 ] || fail "tests/cuda/sdpa-configs.txt: $SDPA_CONFIGS configurations, 5 expected"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
