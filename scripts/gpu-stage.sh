#!/usr/bin/env bash
# gpu-stage — prepares the run on a lent GPU (scripts/gpu-device-run.sh, docs/gpu.md "On a lent GPU"):
# builds mixc, mixrun and the GPU scripts' programs into .gpu/build with this machine's toolkit (the
# device needs none of the build tools), copies those four programs into .gpu/b and the libraries they
# link into .gpu/lib (all but the C and C++ runtimes, which the device's image has, newer), and makes
# git ignore .gpu, so that only what the run's `carry` names travels.
# The 8-bit decode A/B (GPU_STAGE_AB=1, the default; docs/gpu.md "On a lent GPU"): gpu_attn built
# again from a copy of the tree whose decode keeps twice the stages for 8-bit caches (so as many bytes
# in flight as bf16's), into .gpu/b8, after its decode-check passes here under the stand-in with its
# kernels emulated. Carry .gpu/b8 too and gpu-device-run.sh times both builds.
set -eu
cd "$(dirname "$0")/.."
make -s -j"$(nproc)" BUILD=.gpu/build all test-progs
rm -rf .gpu/b .gpu/b8 .gpu/lib
mkdir -p .gpu/b/tests/mixrun .gpu/b/tests/cuda .gpu/b/tests/serve .gpu/lib
cp .gpu/build/mixrun .gpu/build/mixc .gpu/b/
cp .gpu/build/tests/mixrun/logitcmp .gpu/b/tests/mixrun/
cp .gpu/build/tests/cuda/gpu_attn .gpu/b/tests/cuda/
cp .gpu/build/tests/serve/test_prefix_cache .gpu/b/tests/serve/
ldd .gpu/b/mixrun .gpu/b/mixc .gpu/b/tests/*/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libdl|libpthread|librt)\.so' |
  while read -r lib; do cp -L "$lib" .gpu/lib/; done
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
carry='".gpu/b", ".gpu/lib"'
if [ "${GPU_STAGE_AB:-1}" = 1 ]; then
  v=.gpu/ab-src
  rm -rf "$v" .gpu/b8
  mkdir -p "$v" .gpu/b8/tests/cuda
  # the working tree as the device gets it: tracked files as they are here, untracked ones git does
  # not ignore (a new file not yet committed), not the tracked ones deleted here
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -f "$f" ] && printf '%s\0' "$f"
  done | xargs -0 cp --parents -t "$v"
  stages='#define DECODE_STAGES(HD, ESIZE) (((ESIZE) == 1 ? 2 : 1) * ((HD) * (ESIZE) <= 256 ? 3 : 2))'
  sed -i "s/^#define DECODE_STAGES(HD, ESIZE) .*/$stages/" "$v/templates/mixc_params.h"
  grep -qF "$stages" "$v/templates/mixc_params.h"
  make -s -C "$v" -j"$(nproc)" BUILD=build build/tests/cuda/gpu_attn build/tests/cuda/fake/libcuda.so.1 \
    build/tests/cuda/fake/libcublas.so.13
  for kv in int8 fp8; do   # the variant's decode, emulated, against the fp64 reference
    a=(--len 300 --chunk 64 --head-dim 128 --heads 4 --kv-heads 2 --batch 2 --kv $kv)
    "$v/build/tests/cuda/gpu_attn" emu-so "$v/k-$kv.so" "${a[@]}" >/dev/null
    FAKE_CUDA=full FAKE_CUDA_EMU_SO=$v/k-$kv.so LD_LIBRARY_PATH=$v/build/tests/cuda/fake \
      "$v/build/tests/cuda/gpu_attn" decode-check "${a[@]}" | grep -q '"pass": true'
  done
  cp "$v/build/tests/cuda/gpu_attn" .gpu/b8/tests/cuda/
  carry='".gpu/b", ".gpu/lib", ".gpu/b8"'
fi
du -sh .gpu/b .gpu/lib $( [ -d .gpu/b8 ] && echo .gpu/b8)
echo "staged: on the device, with carry [$carry]: bash scripts/gpu-device-run.sh"
