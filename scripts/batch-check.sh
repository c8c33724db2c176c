#!/usr/bin/env bash
# batch-check — a batch of prompts decoded together against each prompt run alone on the cpu
# reference (docs/model.md, `mixrun --prompts`). Used by tests/cuda/run.sh (cuda backend under the
# stand-in driver) and scripts/gpu-check.sh (on a GPU), so the GPU check is the tested one.
#
#   batch-check.sh BACKEND TOL_ATOL TOL_RTOL NEW PROMPTS_FILE -- MIXRUN_ARGS...
#
# Runs `mixrun MIXRUN_ARGS --prompts PROMPTS_FILE --max-new NEW --backend BACKEND --dump-logits`, then
# each prompt alone with --backend cpu, and compares each sequence's rows (tests/mixrun/logitcmp
# --got-from) and its generated tokens (an unclear greedy margin excepted, as logitcmp rules).
# Environment: MIXRUN, LOGITCMP (the programs), BATCH_ENV (assignments for the batched run only,
# e.g. the stand-in driver's). Prints one summary line per prompt on stdout; the reasons of a
# failure on stderr. Exit 0 all match, 1 a mismatch, 2 a run failed.
set -u
[ $# -ge 6 ] && [ "$6" = "--" ] || { echo "usage: batch-check.sh BACKEND ATOL RTOL NEW PROMPTS -- MIXRUN_ARGS..." >&2; exit 2; }
backend=$1 atol=$2 rtol=$3 new=$4 prompts=$5
shift 6
RUN=${MIXRUN:?MIXRUN is not set}
CMP=${LOGITCMP:?LOGITCMP is not set}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# shellcheck disable=SC2086
if ! env ${BATCH_ENV:-} "$RUN" "$@" --prompts "$prompts" --max-new "$new" --backend "$backend" \
     --dump-logits "$T/batch.npy" >"$T/batch.out" 2>"$T/err" || grep -q "fake_cuda:" "$T/err"; then
  echo "batched $backend run failed: $(head -c 600 "$T/err")" >&2; exit 2
fi
rc=0; off=0; i=0
while IFS= read -r p; do
  [ -z "$(tr -d ' \t\r,' <<<"$p")" ] && continue
  i=$((i + 1)); n=$(tr ', \t\r' '\n\n\n\n' <<<"$p" | grep -c .)
  if ! "$RUN" "$@" --tokens "$p" --max-new "$new" --backend cpu --dump-logits "$T/alone.npy" >"$T/alone.out" 2>"$T/err"; then
    echo "cpu run of prompt $i failed: $(head -c 300 "$T/err")" >&2; exit 2
  fi
  if "$CMP" --got-from "$off" "$T/alone.npy" "$T/batch.npy" "$atol" "$rtol" "$n" >"$T/cmp" 2>&1; then
    if [ "$(cat "$T/alone.out")" = "$(sed -n "${i}p" "$T/batch.out")" ] || grep -q "greedy token" "$T/cmp"; then
      echo "prompt $i ($n tokens): $(tail -n 1 "$T/cmp" | sed 's/^ *//')"
    else
      echo "prompt $i: tokens alone (cpu) $(cat "$T/alone.out"), batched ($backend) $(sed -n "${i}p" "$T/batch.out")" >&2; rc=1
    fi
  else
    echo "prompt $i: $(head -n 4 "$T/cmp")" >&2; rc=1
  fi
  off=$((off + n + new))
done <"$prompts"
exit $rc
