# shellcheck shell=bash
# sdpa-run.sh — sourced by scripts/gpu-check.sh (on a GPU) and tests/cuda/sdpa-emu.sh (the kernel
# emulated): the prefill kernel against PyTorch SDPA over tests/cuda/sdpa-configs.txt.
# sdpa_all PREFILL PYTHON: for each configuration, `PREFILL DIR OPTIONS...` runs gpu_attn prefill into
# DIR (its JSON line on stdout, into DIR/prefill.json); then one PYTHON process compares them all
# (scripts/sdpa-check.py, torch imported once), and the caller's pass NAME DETAIL / fail NAME LINES...
# are called per configuration (the figures printed after a pass). Needs $T (a scratch folder); returns the configurations' count in
# SDPA_CONFIGS.
sdpa_all() {
  local prefill=$1 python=$2 cfg i=0 dirs=() cfgs=() line
  while read -r cfg; do
    [[ $cfg == "#"* || -z $cfg ]] && continue
    i=$((i + 1)); mkdir -p "$T/sdpa/$i"
    # shellcheck disable=SC2086
    if "$prefill" "$T/sdpa/$i" $cfg >"$T/sdpa/$i/prefill.json" 2>"$T/sdpa/$i/err"; then dirs+=("$T/sdpa/$i"); cfgs+=("$cfg")
    else fail "prefill vs SDPA ($cfg)" "$(head -n 5 "$T/sdpa/$i/err")"; fi
  done <tests/cuda/sdpa-configs.txt
  # shellcheck disable=SC2034  # read by the caller
  SDPA_CONFIGS=$i
  [ ${#dirs[@]} -eq 0 ] && return
  "$python" scripts/sdpa-check.py "${dirs[@]}" >"$T/sdpa/py" 2>&1
  for i in "${!dirs[@]}"; do
    line=$(grep -m 1 -F "${dirs[$i]} " "$T/sdpa/py" | cut -d' ' -f2-)
    if [[ $line == "ok "* ]]; then pass "prefill vs SDPA (${cfgs[$i]})" "${line#ok }"; echo "    ${line#ok }"
    else fail "prefill vs SDPA (${cfgs[$i]})" "${line:-$(tail -n 5 "$T/sdpa/py")}"; fi
  done
}
