# gpu-preflight.sh — sourced by scripts/gpu-check.sh and scripts/gpu-bench.sh (not run alone).
# gpu_preflight NAME PROGRAM...: each program must be built; then the cuda backend must run the
# smallest layout. Exits 2 (no GPU: skipped, or a program missing) or 1 (the backend fails there)
# for the caller; returns when there is a GPU to use. Needs $RUN, $BUILD and a scratch folder $T.
gpu_preflight() {
  local name=$1 p rc; shift
  for p in "$@"; do
    [ -x "$p" ] || { echo "$name: $p is missing; run 'make BUILD=$BUILD $name'" >&2; exit 2; }
  done
  "$RUN" --layout tests/mixrun/tiny.mix --set head_dim=64 --random-weights 1 --tokens 1,2 --max-new 1 --backend cuda \
    >"$T/out" 2>"$T/err"
  rc=$?
  if [ $rc -eq 2 ]; then
    echo "$name: no GPU: skipped ($(grep -m 1 '^mixrun: ' "$T/err" | sed 's/^mixrun: //'))" >&2
    exit 2
  elif [ $rc -ne 0 ]; then
    echo "$name: the cuda backend fails on the smallest layout:" >&2; cat "$T/err" >&2; exit 1
  fi
}
