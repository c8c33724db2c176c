#!/usr/bin/env bash
# gpu-stage — prepares the run on a lent GPU (scripts/gpu-device-run.sh, docs/gpu.md "On a lent GPU"):
# builds mixc, mixrun and the GPU scripts' programs into .gpu/build with this machine's toolkit (the
# device needs none of the build tools), copies those four programs into .gpu/b and the libraries they
# link into .gpu/lib (all but the C and C++ runtimes, which the device's image has, newer), and makes
# git ignore .gpu, so that only what the run's `carry` names travels.
set -eu
cd "$(dirname "$0")/.."
make -s -j"$(nproc)" BUILD=.gpu/build all test-progs
rm -rf .gpu/b .gpu/lib
mkdir -p .gpu/b/tests/mixrun .gpu/b/tests/cuda .gpu/lib
cp .gpu/build/mixrun .gpu/build/mixc .gpu/b/
cp .gpu/build/tests/mixrun/logitcmp .gpu/b/tests/mixrun/
cp .gpu/build/tests/cuda/gpu_attn .gpu/b/tests/cuda/
ldd .gpu/b/mixrun .gpu/b/mixc .gpu/b/tests/*/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libdl|libpthread|librt)\.so' |
  while read -r lib; do cp -L "$lib" .gpu/lib/; done
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >>"$exclude"
du -sh .gpu/b .gpu/lib
echo "staged: on the device, with carry [\".gpu/b\", \".gpu/lib\"]: bash scripts/gpu-device-run.sh"
