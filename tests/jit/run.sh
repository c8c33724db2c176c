#!/usr/bin/env bash
# The NVRTC JIT: cache hit/miss, damaged entries, concurrent writers, compile errors, resources
# (tests/jit/test_jit.c). Then, once `mixc emit` works, every emitted kernel of one example must
# compile for sm_80 and sm_90 with no spills and shared memory within the arch limit, and `mixc emit
# --resources` must find every decode kernel of four layouts within its designed occupancy.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/toolkit.sh
needs_toolkit jit
MIXC=${MIXC:-$BUILD/mixc}
rc=0
"$BUILD/tests/jit/test_jit" || rc=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# What NVRTC and ptxas make of the kernels does not depend on the sanitizers: under them one arch and
# one layout of the resource check run mixc's own code (the normal pass runs them all).
archs=(sm_80 sm_90) res_files=(examples/character-ai.mix examples/gemma2-9b.mix examples/gemma3-27b.mix
                               tests/kernels/kt-h.mix tests/mixrun/hd512.mix)
if sanitized "$BUILD/tests/jit/test_jit"; then
  echo "SKIP jit: sm_80, and the resources of all but character-ai, under the sanitizers (the normal pass runs them)"
  archs=(sm_90) res_files=(examples/character-ai.mix)
fi
example=examples/gemma3-27b.mix
if "$MIXC" emit --help >/dev/null 2>&1 && "$MIXC" emit "$example" -o "$tmp/out" >"$tmp/emit.log" 2>&1; then
  mapfile -t kernels < <(find "$tmp/out" -name '*.cu' | sort)
  if [ "${#kernels[@]}" -eq 0 ]; then
    echo "FAIL emitted kernels: mixc emit wrote no .cu file"; rc=1
  else
    for arch in "${archs[@]}"; do
      MIXC_CACHE_DIR="$tmp/cache" "$BUILD/tests/jit/test_jit" kernels "$arch" "${kernels[@]}" || rc=1
    done
  fi
else
  echo "SKIP emitted kernels: mixc emit is not available yet"
fi

# The static check of the cubin (`mixc emit --resources`): no kernel spills, and every decode kernel's
# registers allow its designed blocks per SM (DECODE_MIN_BLOCKS: GQA groups 2 to 32, head_dim 64 to
# 512 (hd512: Gemma 4's 256 and 512), int8 and bf16 caches), on sm_80 and sm_90.
for f in "${res_files[@]}"; do
  for arch in "${archs[@]}"; do
    MIXC_CACHE_DIR="$tmp/cache" "$MIXC" emit "$f" -o "$tmp/res" --resources --arch "$arch" >"$tmp/res.out" 2>"$tmp/res.err"
    st=$?
    rows=$(awk '$1 ~ /^attn_decode_hd/ && $9 ~ /^[0-9]+$/ && $11 ~ /^[0-9]+$/ && $10 >= $11' "$tmp/res.out" | wc -l)
    if [ $st -eq 0 ] && [ "$rows" -gt 0 ] && ! grep -q 'resources unknown' "$tmp/res.out"; then
      echo "PASS resources $(basename "$f" .mix) $arch: no spills, $rows decode kernels within their designed occupancy (blocks/SM: $(awk '$1 ~ /^attn_decode_hd/ {print $9 ", registers allow " $10 " >= " $11}' "$tmp/res.out" | sort -u | paste -sd';'))"
    else
      echo "FAIL resources $(basename "$f" .mix) $arch: exit $st, $rows decode rows"; head -n 5 "$tmp/res.err"; rc=1
    fi
  done
done
exit $rc
