#!/usr/bin/env bash
# The emulator's known-answer tests (test_emu), the C loading path (test_dl + kernels_so.so), and,
# in the sanitizer build, proof that AddressSanitizer sees kernel overruns on fiber stacks.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
rc=0
emu=$BUILD/tests/emu/test_emu
"$emu" || rc=1
"$BUILD/tests/emu/test_attention" || rc=1
"$BUILD/tests/emu/test_dl" "$BUILD/tests/emu/kernels_so.so" || rc=1

if "$emu" --asan; then
  for probe in oob-global oob-smem; do
    out=$(ASAN_OPTIONS=detect_leaks=0:exitcode=99 "$emu" --$probe 2>&1)
    prc=$?
    if [ $prc -eq 99 ] && grep -q 'heap-buffer-overflow' <<<"$out" && grep -q "k_${probe#oob-}\|k_oob_${probe#oob-}" <<<"$out"; then
      echo "PASS asan_catches_kernel_${probe//-/_}"
    else
      echo "FAIL asan_catches_kernel_${probe//-/_}"; echo "    exit $prc"; head -n 20 <<<"$out" | sed 's/^/    /'; rc=1
    fi
  done
else
  echo "SKIP asan_catches_kernel_oob (not a sanitizer build)"
fi
exit $rc
