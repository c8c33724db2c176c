#!/usr/bin/env bash
# `make test-python`: every example (at test size) and this suite's layouts exported with `mixc export
# --transformers`, loaded by transformers with mixrun's random weights, compared with mixrun's cpu
# backend in fp32 (logits, greedy generation, a left-padded batch) and trained one step (check.py). The examples that a
# built-in family computes are also exported with `--hf DIR` and loaded without remote code.
# Needs torch and transformers: PYTHON, else the venv of scripts/python-venv.sh. MIXC_PY_LAYOUTS="A.mix
# B.mix" checks only those layouts.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
RUN=$BUILD/mixrun
PYTHON=${PYTHON:-$(bash scripts/python-venv.sh)/bin/python} || exit 1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }

PROMPT=3,14,15,92,65,35,89,79,32,38,46,26,43,38,32,79,50,28,84,19   # longer than every test window
SHORT=27,18,28,18,28,45,90,45,23,53,60,28,74                         # batched with it: left-padded by 7
. tests/example-size.sh
. tests/transformers/refused.sh
SIZE=("${EXAMPLE_TEST_SIZE[@]}")
dirs=()
# prepare DIR LAYOUT SETS...: mixrun's weights, logits and greedy tokens into DIR
prepare() {
  local d=$1 f=$2; shift 2
  echo "$PROMPT" >"$d/prompt.txt"
  printf '%s\n%s\n' "$PROMPT" "$SHORT" >"$d/batch.txt"
  "$RUN" --layout "$f" "$@" --random-weights 1 --dtype fp32 --save-weights "$d/model.safetensors" 2>"$T/err" &&
    "$RUN" --layout "$f" "$@" --weights "$d/model.safetensors" --dtype fp32 --backend cpu --tokens $PROMPT \
      --max-new 6 --dump-logits "$d/ref.npy" >"$d/tokens.txt" 2>>"$T/err" &&
    "$RUN" --layout "$f" "$@" --weights "$d/model.safetensors" --dtype fp32 --backend cpu --prompts "$d/batch.txt" \
      --max-new 6 >"$d/batch-tokens.txt" 2>>"$T/err"
}
for f in ${MIXC_PY_LAYOUTS:-examples/*.mix tests/transformers/*.mix}; do
  name=$(basename "$f" .mix)
  [ -n "${EXPORT_REFUSED[$name]:-}" ] && continue   # refused by name (run.sh checks it)
  sets=()
  [[ $f == examples/* ]] && sets=("${SIZE[@]}")
  if ! "$MIXC" export "$f" --transformers "$T/$name" "${sets[@]}" 2>"$T/err" || ! prepare "$T/$name" "$f" "${sets[@]}"; then
    fail "$name: export and mixrun" "$(head -c 400 "$T/err")"; continue
  fi
  dirs+=("$T/$name")
  "$MIXC" export "$f" --hf "$T/$name-hf" "${sets[@]}" 2>/dev/null || { fail "$name: export --hf DIR"; continue; }
  if ! grep -q '"model_type": "mixc"' "$T/$name-hf/config.json"; then
    cp "$T/$name"/{model.safetensors,ref.npy,prompt.txt,tokens.txt,batch.txt,batch-tokens.txt} "$T/$name-hf/" &&
      dirs+=("$T/$name-hf")
  fi
done
"$PYTHON" tests/transformers/check.py "${dirs[@]}" || fails=$((fails + 1))

# The vLLM plugin against an installed vLLM (in $PYTHON's environment, or MIXC_VLLM_PYTHON's: vLLM
# pins its own torch). check_vllm.py builds the plugin's model on vLLM's CPU platform for layouts with
# windows, KV sharing, Gemma's variations and each RoPE scaling (VLLM_LAYOUTS, examples at test size),
# loads mixrun's weights, checks each Attention's window and KV owner and each RoPE against mixrun's,
# and compares the model's logits with mixrun's (attention by a reference: vLLM's kernels need a GPU
# or vllm._C). Pip-installed, vLLM's plugin loader finds its entry point and registers MixcForCausalLM.
VLLM_PYTHON=${MIXC_VLLM_PYTHON:-$PYTHON}
VLLM_LAYOUTS="examples/ma.mix tests/transformers/gemma-like.mix tests/transformers/mistral-yarn.mix
              tests/transformers/llama-yarn-no-truncate.mix tests/transformers/llama-builtin.mix"
if "$VLLM_PYTHON" -c 'import vllm' 2>/dev/null; then
  vdirs=()
  mkdir -p "$T/vllm-models"
  if "$MIXC" export examples/ma.mix --vllm "$T/vllm" 2>"$T/err"; then
    for f in $VLLM_LAYOUTS; do
      name=$(basename "$f" .mix) sets=()
      [[ $f == examples/* ]] && sets=("${SIZE[@]}")
      "$MIXC" export "$f" --transformers "$T/vllm-models/$name" "${sets[@]}" 2>"$T/err" &&
        prepare "$T/vllm-models/$name" "$f" "${sets[@]}" && vdirs+=("$T/vllm-models/$name") ||
        fail "vLLM: $name: export and mixrun" "$(head -c 400 "$T/err")"
    done
    # vLLM logs to stdout: only the check's own lines are shown.
    PYTHONPATH="$T/vllm" "$VLLM_PYTHON" tests/transformers/check_vllm.py "${vdirs[@]}" >"$T/vllm-out" 2>"$T/vllm-err"
    rc=$?
    grep -E '^(PASS|FAIL|    )' "$T/vllm-out"
    [ "$rc" -eq 0 ] || fail "the vLLM plugin's model against mixrun (check_vllm.py, exit $rc)" "$(tail -n 5 "$T/vllm-err")"
  else
    fail "mixc export --vllm" "$(cat "$T/err")"
  fi
  "$VLLM_PYTHON" -m pip install -q --no-deps --target "$T/vllm-site" "$T/vllm" >>"$T/err" 2>&1 &&
    PYTHONPATH="$T/vllm-site" "$VLLM_PYTHON" -c '
from vllm.plugins import load_general_plugins
from vllm import ModelRegistry
load_general_plugins()
assert "MixcForCausalLM" in ModelRegistry.get_supported_archs(), "not registered"' >>"$T/err" 2>&1 &&
    echo "PASS the vLLM plugin, pip-installed, is loaded by vLLM's plugin loader (vllm.general_plugins)" ||
    fail "the pip-installed vLLM plugin is loaded by vLLM's plugin loader" "$(tail -n 5 "$T/err")"
else
  echo "SKIP the vLLM plugin against vLLM: vLLM is not installed in $VLLM_PYTHON's environment (MIXC_VLLM_PYTHON)"
fi
[ "$fails" -eq 0 ]
