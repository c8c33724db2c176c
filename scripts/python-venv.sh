#!/usr/bin/env bash
# Prints the path of a Python virtual environment that holds what the Python-based tests and the
# fixture refresh need (tests/hf/requirements.txt: torch, transformers, safetensors, numpy, openai), making it
# when needed. Reused as they are, in this order: $MIXC_VENV, then ../mixc-venv beside the clone (one
# venv for every clone of a machine: torch is large); otherwise build/venv is made and filled.
# Progress goes to stderr; exit 1 with the reason when a venv cannot be made, 3 when pip could not
# install the requirements (twice).
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/hf/requirements.txt
has_all() { "$1/bin/python" -c 'import torch, transformers, safetensors, numpy, openai' 2>/dev/null; }
# pip install -r $req into venv $1, tried twice; exit 3 when both fail (the package registry could not
# be reached or refused: .ci/run tells that apart from a failing test).
install_req() {
  "$1/bin/pip" install -q -r "$req" >&2 && return 0
  echo "python-venv: pip install -r $req into $1 failed; trying once more" >&2
  "$1/bin/pip" install -q -r "$req" >&2 && return 0
  echo "python-venv: pip install -r $req into $1 failed twice" >&2
  exit 3
}

for v in "${MIXC_VENV:-}" ../mixc-venv; do
  if [ -n "$v" ] && [ -x "$v/bin/python" ]; then
    if has_all "$v"; then (cd "$v" && pwd); exit 0; fi
    echo "python-venv: $v lacks some of $req; installing them there" >&2
    install_req "$v"
    (cd "$v" && pwd); exit 0
  fi
done

v=build/venv
if ! has_all "$v"; then
  command -v python3 >/dev/null || { echo "python-venv: python3 is needed" >&2; exit 1; }
  echo "python-venv: making $v (torch, transformers: a few GB, several minutes)" >&2
  python3 -m venv "$v" >&2 || { echo "python-venv: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  install_req "$v"
fi
(cd "$v" && pwd)
