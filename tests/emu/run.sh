#!/usr/bin/env bash
# The emulator's known-answer tests (test_emu), the C loading path (test_dl + kernels_so.so), in
# the sanitizer build proof that AddressSanitizer sees kernel overruns on fiber stacks, and in the
# normal build the race check (ThreadSanitizer over the fibers, $BUILD/tests/emu/race).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/toolkit.sh
needs_toolkit emu
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

# Race check: each run must end with ThreadSanitizer's verdict as expected. A run is "reported" when
# it exits with TSan's exit code and a data race report; "clean" when it exits 0 with no report at
# all. $1 = test name, $2 = reported|clean, $3 = text a report must contain, then the command.
race=$BUILD/tests/emu/race
race_expect() {
  local name=$1 want=$2 where=$3 out prc got
  shift 3
  # halt_on_error: the first report decides (symbolizing every report of a racy kernel is slow)
  out=$(TSAN_OPTIONS=exitcode=66:halt_on_error=1 "$@" 2>&1)
  prc=$?
  if grep -q 'FATAL: ThreadSanitizer' <<<"$out"; then   # e.g. a Linux whose address-space layout this TSan rejects
    echo "SKIP race_$name (ThreadSanitizer cannot run here: $(grep -m1 'FATAL: ThreadSanitizer' <<<"$out"))"
    return
  fi
  if [ $prc -eq 66 ] && grep -q 'WARNING: ThreadSanitizer: data race' <<<"$out"; then got=reported
  elif [ $prc -eq 0 ] && ! grep -q 'ThreadSanitizer' <<<"$out"; then got=clean
  else got="exit $prc"; fi
  if [ "$got" = "$want" ] && { [ "$want" = clean ] || grep -q -- "$where" <<<"$out"; }; then
    echo "PASS race_$name ($want)"
  else
    echo "FAIL race_$name: expected $want${where:+ naming '$where'}, got $got"
    grep -E 'WARNING|SUMMARY|^FAIL|failed' <<<"$out" | head -n 10 | sed 's/^/    /'; rc=1
  fi
}
if "$emu" --asan; then
  echo "SKIP race_check (ThreadSanitizer cannot be combined with AddressSanitizer)"
elif [ ! -x "$race/test_race" ] && [ -f "$race/unavailable" ]; then
  echo "SKIP race_check ($(cat "$race/unavailable"))"
elif [ ! -x "$race/test_race" ]; then
  echo "FAIL race_check (not built: $race/test_race; make test-progs)"; rc=1
else
  t0=$(date +%s)
  for c in smem:k_smem_pair run_ahead:k_run_ahead syncwarp_halves:k_syncwarp atomics:k_atomics \
           after_failure:k_smem_pair; do
    race_expect "${c%%:*}" reported "SUMMARY: ThreadSanitizer: data race .*test_race.cpp:[0-9]* in ${c#*:}" \
      "$race/test_race" "racy_${c%%:*}"
  done
  for c in smem run_ahead syncwarp atomics blocks after_failure; do
    race_expect "ordered_$c" clean "" "$race/test_race" "ordered_$c"
  done
  # The generated kernels of kt-a (every kernel: prefill, decode, small ones), unmodified: no
  # report. Then without the barriers of mk/emu.mk's RACE_DROP, prefill and decode separately:
  # each must be reported, in the kernel's own code.
  man=$BUILD/tests/kernels/kt-a/manifest.json
  race_expect kt_a_kernels clean "" "$race/kdiff" "$race/kt-a.so" "$man"
  race_expect kt_a_prefill_without_barrier reported "in attn_prefill_kernel\|attn_prefill_kernel<" \
    "$race/kdiff" "$race/kt-a-nobarrier.so" "$man" attn_prefill
  race_expect kt_a_decode_without_barrier reported "attn_decode_kernel<" \
    "$race/kdiff" "$race/kt-a-nobarrier.so" "$man" attn_decode
  # The same for kt-t's decode on tensor cores (decode_tc.cuh), and without the barrier between its
  # tensor-core scores and each head's softmax.
  man=$BUILD/tests/kernels/kt-t/manifest.json
  race_expect kt_t_decode clean "" "$race/kdiff" "$race/kt-t.so" "$man" attn_decode
  race_expect kt_t_decode_without_barrier reported "attn_decode_kernel<" \
    "$race/kdiff" "$race/kt-t-nobarrier.so" "$man" attn_decode
  race_expect kt_t_decode_without_scores_barrier reported "decode_tile<" \
    "$race/kdiff" "$race/kt-t-noscores.so" "$man" attn_decode
  echo "INFO race check: $(($(date +%s) - t0)) s"
fi
exit $rc
