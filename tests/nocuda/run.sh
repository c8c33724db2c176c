#!/usr/bin/env bash
# mixc without the CUDA toolkit (docs/jit.md, "Without the toolkit"). In a private mount namespace
# the toolkit ($CUDA_HOME) and every CUDA header or library found outside it are hidden under empty
# bind mounts; there `make all` builds into $BUILD/nocuda, and:
#  - the build holds no CUDA part ($BUILD/nocuda/toolkit says no) and links no CUDA library (ldd);
#  - mixc check, report, compare, import, export and emit (the source) work on an example;
#  - mixc emit --resources and mixc build exit 2 with a one-line "needs the CUDA toolkit";
#  - mixrun runs its cpu backend (also by default) and --backend emu / cuda exit 2 saying so;
#  - $BUILD's own mixc and mixrun, built with the toolkit, start there and say the same of what needs it.
#  - the other suites pass on that build, as `make test` runs them without the toolkit, saying what
#    they skip (all but http: see the end).
# Needs root, or user namespaces, for `unshare -m` (or `-rm`): otherwise prints SKIP.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}

if [ "$(cat "$BUILD/toolkit" 2>/dev/null)" = no ]; then
  echo "SKIP nocuda: $BUILD is itself a build without the toolkit"; exit 0
fi
if [ "${MIXC_NOCUDA_INSIDE:-0}" != 1 ]; then
  if ! command -v unshare >/dev/null 2>&1; then echo "SKIP nocuda: no unshare command"; exit 0; fi
  # As root a mount namespace; otherwise one inside a user namespace where this user is root.
  for how in -m -rm; do
    why=$(unshare $how --propagation private true 2>&1) &&
      exec unshare $how --propagation private env MIXC_NOCUDA_INSIDE=1 bash "$0"
  done
  echo "SKIP nocuda: cannot make a private mount namespace (unshare -rm: ${why:-failed})"; exit 0
fi

NB=$BUILD/nocuda
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS nocuda: $1"; }
fail() { echo "FAIL nocuda: $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }

# ---- hide the toolkit: the directory itself, then whatever of CUDA still shows outside it (copies
# or links in the system include and library directories); links into the toolkit now dangle.
mkdir -p "$T/empty"
hide() {   # PATH: an empty directory, or an empty file, over it
  if [ -d "$1" ]; then mount --bind "$T/empty" "$1"; else mount --bind /dev/null "$1"; fi
}
toolkit=$(realpath -e "$CUDA_HOME" 2>/dev/null) && hide "$toolkit"
CUDA_NAMES=(-name 'cuda.h' -o -name 'nvrtc.h' -o -name 'cublas*.h' -o -name 'cuda_runtime*.h' -o -name 'cuda_bf16.h'
            -o -name 'cuda_fp16.h' -o -name 'libcuda.so*' -o -name 'libnvrtc*' -o -name 'libcublas*' -o -name 'libcudart*')
while IFS= read -r f; do
  real=$(realpath -e "$f" 2>/dev/null) && hide "$real"
done < <(find /usr/include /usr/local/include -maxdepth 1 \( "${CUDA_NAMES[@]}" \) 2>/dev/null
         find /usr/lib /usr/lib64 /usr/local/lib /lib /lib64 /opt -maxdepth 3 \( "${CUDA_NAMES[@]}" \) 2>/dev/null)
hidden=1
for h in cuda.h nvrtc.h cublas_v2.h; do
  printf '#include <%s>\n' "$h" | cc -E -x c - -o /dev/null 2>/dev/null && hidden=0
done
[ -e "$CUDA_HOME/include/cuda.h" ] && hidden=0
if [ $hidden = 1 ]; then pass "the toolkit and the CUDA headers outside it are hidden"
else fail "the toolkit and the CUDA headers outside it are hidden"; exit 1; fi

# ---- the build: `make all` (the dependencies were checked by the normal build)
mkdir -p "$NB"
[ -f "$BUILD/.deps-ok" ] && touch "$NB/.deps-ok"
if make -s -j"$(nproc 2>/dev/null || echo 2)" BUILD="$NB" all >"$T/make.log" 2>&1; then pass "make all builds without the toolkit"
else fail "make all builds without the toolkit" "$(tail -n 20 "$T/make.log")"; exit 1; fi
MIXC=$NB/mixc
RUN=$NB/mixrun
[ "$(cat "$NB/toolkit")" = no ] && pass "the build records that it has no toolkit" || fail "the build records that it has no toolkit"
if ldd "$MIXC" "$RUN" | grep -qiE 'nvrtc|libcuda|cublas'; then fail "mixc and mixrun link no CUDA library" "$(ldd "$MIXC" "$RUN")"
else pass "mixc and mixrun link no CUDA library"; fi

# ---- mixc: everything but build and emit --resources
EX=examples/gemma3-27b.mix
ok() {   # NAME COMMAND...: exit 0
  local name=$1; shift
  if "$@" >"$T/out" 2>"$T/err"; then pass "$name"; else fail "$name" "exit $?: $*" "$(head -c 400 "$T/err")"; fi
}
ok "mixc check" "$MIXC" check "$EX"
ok "mixc report" "$MIXC" report "$EX" --context 32K --gpu h100
ok "mixc compare" "$MIXC" compare "$EX" examples/mistral-7b.mix
ok "mixc import" "$MIXC" import --allow-unsupported tests/import/configs/gemma3-27b.json -o "$T/imported.mix"
ok "mixc export" "$MIXC" export "$EX" --hf
ok "mixc emit (source and manifest)" "$MIXC" emit "$EX" -o "$T/emit"
[ -s "$T/emit/kernels.cu" ] && [ -s "$T/emit/manifest.json" ] && pass "mixc emit writes kernels.cu and manifest.json" ||
  fail "mixc emit writes kernels.cu and manifest.json"

# expect_needs_toolkit NAME PROGRAM ARGS...: exit 2 and one line on stderr, from the program, saying
# the toolkit is needed (after the layout's own warnings, if any).
expect_needs_toolkit() {
  local name=$1; shift
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  local said
  said=$(grep "needs the CUDA toolkit" "$T/err")
  if [ $rc -eq 2 ] && [ "$(grep -c . <<<"$said")" -eq 1 ] && grep -qE "^mix(c|run)\b" <<<"$said"; then
    pass "$name exits 2: $said"
  else fail "$name exits 2 saying the toolkit is needed" "exit $rc" "$(head -c 400 "$T/err")"; fi
}
expect_needs_toolkit "mixc emit --resources" "$MIXC" emit "$EX" -o "$T/emit2" --resources
expect_needs_toolkit "mixc build" "$MIXC" build "$EX" -o "$T/bin"
[ ! -e "$T/bin" ] && pass "mixc build writes nothing" || fail "mixc build writes nothing"

# ---- mixrun: the cpu backend runs; emu and cuda say they need the toolkit
RW=(--layout tests/mixrun/tiny.mix --random-weights 7 --tokens 5,6,7 --max-new 5)
ok "mixrun --backend cpu" "$RUN" "${RW[@]}" --backend cpu
cpu_tokens=$(cat "$T/out")
ok "mixrun with the default backend" "$RUN" "${RW[@]}"
[ -n "$cpu_tokens" ] && [ "$(cat "$T/out")" = "$cpu_tokens" ] && pass "the default backend is the cpu backend here" ||
  fail "the default backend is the cpu backend here" "cpu: $cpu_tokens" "default: $(cat "$T/out")"
expect_needs_toolkit "mixrun --backend emu" "$RUN" "${RW[@]}" --backend emu
expect_needs_toolkit "mixrun --backend cuda" "$RUN" "${RW[@]}" --backend cuda
# said before the weights are read: a checkpoint that does not exist is not what fails
expect_needs_toolkit "mixrun --backend emu --weights MISSING (before the weights)" "$RUN" --layout tests/mixrun/tiny.mix \
  --weights "$T/missing.safetensors" --tokens 5,6,7 --backend emu

# ---- the programs of the normal build (made with the toolkit) where it is gone: they start, since
# they link no CUDA library, and say what they need only when it is needed.
if [ "$(cat "$BUILD/toolkit" 2>/dev/null)" = yes ] && [ -x "$BUILD/mixc" ] && [ -x "$BUILD/mixrun" ]; then
  ok "mixc built with the toolkit: check runs without it" "$BUILD/mixc" check "$EX"
  MIXC_CACHE_DIR=$T/cache expect_needs_toolkit "mixc built with the toolkit: emit --resources" \
    "$BUILD/mixc" emit "$EX" -o "$T/emit3" --resources
  MIXC_CACHE_DIR=$T/cache expect_needs_toolkit "mixc built with the toolkit: build" "$BUILD/mixc" build "$EX" -o "$T/bin"
  ok "mixrun built with the toolkit: --backend cpu" "$BUILD/mixrun" "${RW[@]}" --backend cpu
  MIXC_CACHE_DIR=$T/cache expect_needs_toolkit "mixrun built with the toolkit: --backend emu" \
    "$BUILD/mixrun" "${RW[@]}" --set head_dim=64 --backend emu
else
  echo "SKIP nocuda: $BUILD has no mixc and mixrun built with the toolkit to run without it"
fi

# ---- the other suites on this build, as `make test` runs them without the toolkit (its normal pass).
# All but http by default: its code is the same in both builds and it takes as long as the rest
# together. MIXC_NOCUDA_SUITES=all runs it too; 0 none.
case "${MIXC_NOCUDA_SUITES:-most}" in
  0) echo "SKIP nocuda: the other suites on the build without the toolkit (MIXC_NOCUDA_SUITES=0)" ;;
  *)
    if make -s -j"$(nproc 2>/dev/null || echo 2)" BUILD="$NB" test-progs >"$T/make.log" 2>&1; then
      skip_suites=http
      [ "${MIXC_NOCUDA_SUITES:-most}" = all ] && skip_suites=
      # (JOBS=1: the suites run beside make test's own; their lines are indented, counted here)
      if out=$(JOBS=${NOCUDA_JOBS:-1} MIXC_SKIP_ASAN=1 MIXC_SKIP_FUZZ=1 MIXC_SKIP_SUITES=$skip_suites \
               MIXC_SKIP_SUITES_WHY="the same code in both builds (MIXC_NOCUDA_SUITES=all runs it)" BUILD="$NB" bash tests/run-all.sh 2>&1); then
        pass "the other suites pass on the build without the toolkit: $(tail -n 1 <<<"$out")"
        grep -E '^  SKIP' <<<"$out" | sed 's/^  SKIP /SKIP nocuda build: /'
      else fail "the other suites on the build without the toolkit" "$(grep -E -A6 '^  FAIL' <<<"$out" | head -n 40)" "$(tail -n 1 <<<"$out")"; fi
    else fail "make test-progs without the toolkit" "$(tail -n 20 "$T/make.log")"; fi ;;
esac
[ "$fails" -eq 0 ]
