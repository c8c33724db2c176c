#!/usr/bin/env bash
# Runs every test suite: each tests/<suite>/run.sh prints "PASS name" / "FAIL name" lines.
# Suites run $JOBS at a time (default: the number of cores). Pass 1 uses the normal build; pass 2
# runs the suites again on a build with AddressSanitizer + UBSan (build/asan). That build, and the
# fuzz targets' (then their runs, bounded in time), start with pass 1 at a lower priority: they take
# the time its suites leave idle (a server's start, a pass's last suite running alone). Ends with
# "N passed, N failed, N skipped": a SKIP line is a suite or a part of one that cannot run here (the
# CUDA toolkit's part in a build without it, a tool this machine lacks), said with its reason.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# One NVRTC cache for both passes (tests/toolkit.sh): the sanitizer pass compiles no kernel again.
export MIXC_TEST_JIT_CACHE=${MIXC_TEST_JIT_CACHE:-$BUILD/tests/cuda/jit-cache}
log=$(mktemp -d)   # per suite LABEL-NAME.{out,rc,secs}; beside them sanitizer-build.* and fuzz.*
trap 'rm -rf "$log"' EXIT

pass=0; fail=0; skip=0

# summarize LABEL NAME: the suite's FAIL and SKIP lines, each FAIL with (up to 15 of) the detail
# lines its suite printed under it, and its counts; adds them to the totals.
summarize() {
  local label=$1 name=$2 out="$log/$1-$2.out" rc p f s
  rc=$(cat "$log/$label-$name.rc")
  echo "== $label: $name"
  awk '/^FAIL/ { detail = 15; print "  " $0; next } /^(PASS|SKIP)/ { detail = 0 }
       /^NOTE/ { detail = 3; print "  " $0; next } /^SKIP/ { print "  " $0; next } detail > 0 { detail--; print "    " $0 }' "$out"
  p=$(grep -c '^PASS' "$out"); f=$(grep -c '^FAIL' "$out"); s=$(grep -c '^SKIP' "$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "  FAIL $name: suite exited $rc"; tail -n 20 "$out" | sed 's/^/    /'; f=1
  fi
  echo "  $p passed, $f failed, $s skipped ($(cat "$log/$label-$name.secs") s)"
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

# run_suite BUILD_DIR LABEL NAME: runs tests/NAME/run.sh; its output, status and seconds into $log.
# LeakSanitizer's exit-time tracer sometimes dies itself ("Tracer caught signal 11", a known
# intermittent fault of the sanitizer under ptrace-restricted or loaded machines, not a leak nor a
# fault of the program): a suite whose output shows it runs once more, and says so; a real failure
# fails again.
run_suite() {
  local started=$SECONDS out="$log/$2-$3.out" rc
  BUILD=$1 MIXC=$1/mixc bash "tests/$3/run.sh" >"$out" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ] && grep -q 'Tracer caught signal' "$out" &&
     grep -q 'LeakSanitizer has encountered a fatal error' "$out"; then
    mv "$out" "$out.first"
    { echo "NOTE $3 ran twice: LeakSanitizer's tracer crashed in the first run (its lines below)"
      grep -A1 'Tracer caught signal' "$out.first" | head -n 3 | sed 's/^ */  /'; } >"$out"
    BUILD=$1 MIXC=$1/mixc bash "tests/$3/run.sh" >>"$out" 2>&1
    rc=$?
  fi
  echo $rc >"$log/$2-$3.rc.tmp"
  echo $((SECONDS - started)) >"$log/$2-$3.secs"
  mv "$log/$2-$3.rc.tmp" "$log/$2-$3.rc"
}

# The suites that take longest (on 2 cores, about 30-250 s each in one pass or the other): started
# before the short ones, so that the short ones fill the workers around them and no worker is left
# alone with a long suite at the end. (http, 122 s in the sanitizer pass, started last there and
# ran alone for its last 40 s.)
LONG_SUITES="mixrun cuda kernels codegen emu serve http nocuda jit"

# run_suites BUILD_DIR LABEL: every suite, $JOBS at a time (each suite is sequential inside, and
# none shares files with another: each works in its own temporary directory), LONG_SUITES first.
# Each suite's lines are printed together when it ends.
run_suites() {
  local b=$1 label=$2 name names=() reported=() seen=()
  for name in $LONG_SUITES $(ls tests/*/run.sh | xargs -n1 dirname | xargs -n1 basename); do
    [ -f "tests/$name/run.sh" ] || continue
    [ "$name" = fuzz ] && continue
    [[ " ${seen[*]} " == *" $name "* ]] && continue   # (a long suite is named twice)
    seen+=("$name")
    local why=
    if [ "$label" = asan ] && [ "$name" = nocuda ]; then why="run in the normal pass only"   # builds its own
    elif [[ " ${MIXC_SKIP_SUITES:-} " == *" $name "* ]]; then why=${MIXC_SKIP_SUITES_WHY:-left out (MIXC_SKIP_SUITES)}
    fi
    if [ -n "$why" ]; then
      echo "== $label: $name"; echo "  SKIP $name: $why"; skip=$((skip + 1)); continue
    fi
    names+=("$name")
  done
  report_ended() {
    local n
    for n in "${names[@]}"; do
      [ -f "$log/$label-$n.rc" ] && [[ " ${reported[*]} " != *" $n "* ]] || continue
      summarize "$label" "$n"; reported+=("$n")
    done
  }
  # suites started and not ended (the builds running beside are not counted)
  running() {
    local n k=0
    for n in "${pids[@]+"${!pids[@]}"}"; do [ -f "$log/$label-${names[n]}.rc" ] || k=$((k + 1)); done
    echo "$k"
  }
  local pids=() i
  for i in "${!names[@]}"; do
    while [ "$(running)" -ge "$JOBS" ]; do wait -n; report_ended; done
    run_suite "$b" "$label" "${names[i]}" &
    pids[i]=$!
  done
  wait "${pids[@]}"
  report_ended
}

asan_build_pid=
if [ "${MIXC_SKIP_ASAN:-0}" != 1 ]; then
  (nice -n 10 make -s -j"$JOBS" BUILD="$BUILD/asan" SANITIZE=1 all test-progs >"$log/sanitizer-build.out" 2>&1
   echo $? >"$log/sanitizer-build.rc") &
  asan_build_pid=$!
fi
# The fuzz run (its own clang build, then time-bounded runs) needs neither pass.
fuzz_pid=
if [ -f tests/fuzz/run.sh ] && [ "${MIXC_SKIP_FUZZ:-0}" != 1 ]; then
  (BUILD=$BUILD nice -n 10 bash tests/fuzz/run.sh >"$log/fuzz.out" 2>&1; echo $? >"$log/fuzz.rc") &
  fuzz_pid=$!
fi

pass_started=$SECONDS
run_suites "$BUILD" normal
echo "== normal pass: $((SECONDS - pass_started)) s"

if [ -n "$asan_build_pid" ]; then
  echo "== building with AddressSanitizer + UndefinedBehaviorSanitizer ($BUILD/asan)"
  pass_started=$SECONDS
  wait "$asan_build_pid" 2>/dev/null   # (a suite's `wait -n` may have reaped it: its status is in the file)
  echo "  (the build ran beside the normal pass; waited $((SECONDS - pass_started)) s for its end)"
  if [ "$(cat "$log/sanitizer-build.rc" 2>/dev/null)" = 0 ]; then
    pass_started=$SECONDS
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=98 \
      run_suites "$BUILD/asan" asan
    echo "== sanitizer pass: $((SECONDS - pass_started)) s"
  else
    echo "FAIL asan build"; tail -n 30 "$log/sanitizer-build.out"; fail=$((fail + 1))
  fi
fi

if [ -n "$fuzz_pid" ]; then
  echo "== fuzz"
  out="$log/fuzz.out"
  pass_started=$SECONDS
  wait "$fuzz_pid" 2>/dev/null   # (a suite's `wait -n` may have reaped it: its status is in fuzz.rc)
  echo "  (the fuzz run started with the normal pass; waited $((SECONDS - pass_started)) s for its end)"
  rc=$(cat "$log/fuzz.rc" 2>/dev/null || echo 1)
  grep -E '^(PASS|FAIL)' "$out" | sed 's/^/  /'
  p=$(grep -c '^PASS' "$out"); f=$(grep -c '^FAIL' "$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "  FAIL fuzz: exited $rc"; tail -n 30 "$out"; f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
fi

echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
