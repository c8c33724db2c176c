#!/usr/bin/env bash
# Differential tests of the generated kernels on the CPU emulator against the fp32 references
# (tests/kernels/ref.c): every kernel of the layouts kt-a, kt-b, kt-c, kt-d (built by mk/codegen.mk into
# $BUILD/tests/kernels/kt-*/kernels.so, kt-long included), kt-q8 / kt-f8 with int8 / fp8 caches (against the cpu
# quantizer's codes, and against fp32 K/V within the derived bound), and kt-e / kt-f with the header's variations
# (norms, GELU, embedding scale, soft-capped scores), kt-g with chunked attention (and its prefill tile
# counts), kt-h with 32 query heads per KV head, kt-i and kt-j at head_dim 512 (group 8 with a soft-cap and head norms;
# group 1 in fp16 over an int8 cache), kt-k at 320 (group 2), kt-o at 192 (decode's P V in key groups), kt-l at 448 (group 4, fp16) and kt-n at
# 384 (group 6, chunked attention), kt-t and kt-u with decode on tensor cores (group 16 at head_dim 128 in
# fp16 with window and global layers; group 12, a partial m16 tile of query rows, and chunked attention), kt-m1, kt-m2 and kt-m3 with a mixture of experts (each
# router kind and each gated activation; kdiff_moe.cpp); kt-a's prefill with a wrong cp.async wait count
# must fail. Every decode kernel also runs at split counts 1 to 256
# (empty splits included: the count is chosen per launch). MIXC_TEST_LONG=1 adds kt-long (context 6000, chunks of
# 300 tokens, 12 decode splits) and longer prefill chunks everywhere.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/toolkit.sh
needs_toolkit kernels
MIXC=${MIXC:-$BUILD/mixc}
KT=$BUILD/tests/kernels
rc=0
layouts="kt-a kt-b kt-c kt-d kt-q8 kt-f8 kt-e kt-f kt-g kt-h kt-i kt-j kt-k kt-l kt-n kt-o kt-t kt-u kt-m1 kt-m2 kt-m3"
long=()
ASAN=0
sanitized "$KT/kdiff" && ASAN=1
if [ "$ASAN" = 1 ]; then   # mk/codegen.mk's KT_NOT_SANITIZED: kt-i's code at other head_dims
  echo "SKIP kernels/kt-k kt-l kt-n: under the sanitizers (head_dim 320, 448, 384 run kt-i's code; the normal pass runs them)"
  layouts=$(tr ' ' '\n' <<<"$layouts" | grep -vxE 'kt-k|kt-l|kt-n' | paste -sd' ')
fi
if [ "${MIXC_TEST_LONG:-0}" = 1 ]; then
  long=(--long)
  layouts="$layouts kt-long"
fi
for lay in $layouts; do
  so=$KT/$lay/kernels.so
  if [ ! -f "$so" ] || [ ! -x "$KT/kdiff" ]; then echo "FAIL kernels/$lay (not built: $so)"; rc=1; continue; fi
  # The manifest next to the .so is the one it was compiled from; the output must also match
  # what the current mixc emits (a stale .so would test old kernels).
  tmp=$(mktemp -d)
  "$MIXC" emit "tests/kernels/$lay.mix" -o "$tmp" >/dev/null 2>&1
  if ! cmp -s "$tmp/kernels.cu" "$KT/$lay/kernels.cu"; then
    echo "FAIL kernels/$lay (kernels.so is stale: rebuild with make test-progs)"; rc=1
  fi
  rm -rf "$tmp"
  "$KT/kdiff" "$so" "$KT/$lay/manifest.json" "" "${long[@]}" | sed "s/^\(PASS\|FAIL\|SKIP\) /\1 kernels\//"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
# Paged caches (docs/plan.md, "Paged caches"; mk/codegen.mk): kt-a's kernels emitted for pages of 16 and
# 48 rows (64-key tiles spanning pages, a page never a tile), kt-q8's for 48 (int8 pools) and kt-t's for 16
# (decode on tensor cores): every paged
# prefill, decode and append reads and writes through block tables that scramble the pool (pages out
# of order, not increasing; rows no table holds are NaN), against the same references as unpaged, and
# the prefill and decode outputs equal the unpaged kernels' (kt-a's, kt-q8's, kt-t's) on the same inputs bit for bit.
for lay in kt-a-p16 kt-a-p48 kt-q8-p48 kt-t-p16; do
  base=${lay%-p*} P=${lay##*-p} so=$KT/$lay/kernels.so
  if [ ! -f "$so" ]; then echo "FAIL kernels/$lay (not built: $so)"; rc=1; continue; fi
  tmp=$(mktemp -d)
  "$MIXC" emit "tests/kernels/$base.mix" --page-tokens "$P" -o "$tmp" >/dev/null 2>&1
  cmp -s "$tmp/kernels.cu" "$KT/$lay/kernels.cu" || { echo "FAIL kernels/$lay (kernels.so is stale: rebuild with make test-progs)"; rc=1; }
  rm -rf "$tmp"
  "$KT/kdiff" "$so" "$KT/$lay/manifest.json" "_page$P" --unpaged "$KT/$base/kernels.so" >"$KT/$lay.out" 2>&1
  p_rc=$? p_pass=$(grep -c '^PASS' "$KT/$lay.out")
  sed -n "s/^\(PASS\|FAIL\) /\1 kernels\/$lay: /p" "$KT/$lay.out"
  # the paged kernels: prefill (2 reports), decode (4) and the append (4 cases)
  if [ $p_rc -ne 0 ] || [ "$p_pass" -ne 10 ]; then
    echo "FAIL kernels/$lay: exit $p_rc, $p_pass of the 10 paged reports passed"; grep -v '^PASS' "$KT/$lay.out" | head -n 8; rc=1
  fi
done
# ... and kt-a-p16's with the table ignored (key j at pool row j; mk/codegen.mk) must fail every one.
# These mutants (and the wait-count ones below) show that the checks can fail: the normal pass runs
# them; under the sanitizers they would only repeat the memory accesses of the kernels they mutate.
if [ "$ASAN" = 1 ]; then
  echo "SKIP kernels/kt-a-p16-notable, kt-a-wait1, kt-t-wait1: mutants that must fail, under the sanitizers (the normal pass runs them)"
else
  "$KT/kdiff" "$KT/kt-a-p16-notable/kernels.so" "$KT/kt-a-p16/manifest.json" _page16 --unpaged "$KT/kt-a/kernels.so" \
    >"$KT/notable.out" 2>&1
  nt_rc=$? nt_fail=$(grep -c '^FAIL' "$KT/notable.out") nt_all=$(grep -c '^\(PASS\|FAIL\)' "$KT/notable.out")
  if [ $nt_rc -ne 0 ] && [ "$nt_all" -eq 10 ] && [ "$nt_fail" -eq "$nt_all" ]; then
    echo "PASS kernels/kt-a-p16 with the block table ignored fails ($nt_fail of $nt_all paged reports)"
  else echo "FAIL kernels/kt-a-p16 with the block table ignored: exit $nt_rc, $nt_fail of $nt_all reports failed"
    head -n 8 "$KT/notable.out"; rc=1; fi
fi
# cp.async copies land only at their wait (poisoned until then): kt-a's prefill and decode with a
# wait that leaves a tile in flight (mk/codegen.mk, kt-a-wait1) must fail on every such kernel
# (prefill's output shows the NaNs; decode's fmaxf skips them and its sum of NaNs writes 0); the same
# for kt-t's (kt-t-wait1: every decode kernel on tensor cores).
for lay in kt-a kt-t; do
  [ "$ASAN" = 1 ] && break
  for kind in attn_prefill attn_decode_hd; do
    "$KT/kdiff" "$KT/$lay-wait1/kernels.so" "$KT/$lay/manifest.json" $kind >"$KT/wait1.out" 2>&1
    w1_rc=$? w1_fail=$(grep -c '^FAIL' "$KT/wait1.out") w1_all=$(grep -c '^\(PASS\|FAIL\)' "$KT/wait1.out")
    if [ $w1_rc -ne 0 ] && [ "$w1_fail" -gt 0 ] && [ "$w1_fail" -eq "$w1_all" ] && grep -q "got $([ $kind = attn_prefill ] && echo nan)" "$KT/wait1.out"; then
      echo "PASS kernels/$lay $kind with a wrong cp.async wait count fails ($w1_fail of $w1_all kernels read poisoned tiles)"
    else echo "FAIL kernels/$lay $kind with a wrong cp.async wait count: exit $w1_rc, $w1_fail of $w1_all kernels failed"
      head -n 8 "$KT/wait1.out"; rc=1; fi
  done
done
# Race check: the same kernels with the fibers of every block scheduled in reverse order.
reverse_check() {   # layout, kernel-name filter
  if [ "$ASAN" = 1 ]; then echo "SKIP kernels/$1 reverse-schedule: a race check, run in the normal pass"; return; fi
  MIXC_EMU_SCHEDULE=reverse "$KT/kdiff" "$KT/$1/kernels.so" "$KT/$1/manifest.json" "$2" >"$KT/reverse-$1.out" 2>&1
  if [ $? -eq 0 ]; then echo "PASS kernels/$1 reverse-schedule ($(grep -c '^PASS' "$KT/reverse-$1.out") kernels)"
  else echo "FAIL kernels/$1 reverse-schedule"; grep -A5 '^FAIL' "$KT/reverse-$1.out" | head -20; rc=1; fi
}
reverse_check kt-a attn_
# the 8-bit paths (scales staged in shared memory, the warp-per-head quantized append)
reverse_check kt-q8 _kvint8
# head_dim 512's attention (prefill: two warps per row group, each with its half of the head dimension)
reverse_check kt-i attn_
# decode on tensor cores (scores, softmax and P V behind barriers of their own)
reverse_check kt-t attn_decode
exit $rc
