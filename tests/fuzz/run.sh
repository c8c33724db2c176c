#!/usr/bin/env bash
# Builds the libFuzzer target (parse + check, under ASan + UBSan + LeakSanitizer) into $BUILD/fuzz/
# and runs it for MIXC_FUZZ_SECONDS (default 30) from a seed corpus of examples/ and tests/check/.
# First replays tests/fuzz/crashes/* (reproducers of fixed bugs: they must stay fixed).
# Prints "PASS fuzz (N runs)" or "FAIL fuzz" with the reproducer and the sanitizer's report.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECONDS_TO_RUN=${MIXC_FUZZ_SECONDS:-30}
FUZZ_CC=${FUZZ_CC:-clang}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
out=$BUILD/fuzz
bin=$out/fuzz_check
mkdir -p "$out/gen" "$out/obj" "$out/corpus" "$out/seed" "$out/artifacts"

if ! command -v "$FUZZ_CC" >/dev/null; then
  echo "FAIL fuzz: $FUZZ_CC not found (set FUZZ_CC to a clang with libFuzzer)"
  exit 1
fi

build() {
  local flags="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  local inc="-Icompiler $(for d in compiler/*/ runtime/*/; do printf -- '-I%s ' "${d%/}"; done)-I$out/gen -Iruntime -I$CUDA_HOME/include"
  [ "$out/gen/lexer.c" -nt grammar/lexer.l ] ||
    flex --header-file="$out/gen/lexer.h" -o "$out/gen/lexer.c" grammar/lexer.l || return 1
  [ "$out/gen/parser.c" -nt grammar/parser.y ] ||
    bison -Wall -Werror --defines="$out/gen/parser.h" -o "$out/gen/parser.c" grammar/parser.y || return 1
  local objs=() src obj
  # Every compiler source but the driver: each must build; the archive lets the linker take only
  # what parse + check need.
  for src in $(ls compiler/*/*.c | grep -v '^compiler/cli/') "$out/gen/lexer.c" "$out/gen/parser.c"; do
    obj=$out/obj/$(basename "$src" .c).o
    if [ ! "$obj" -nt "$src" ] || [ compiler/mixc.h -nt "$obj" ] || [ -n "$(find compiler -name '*.h' -newer "$obj")" ] || [ "$out/gen/parser.h" -nt "$obj" ]; then
      "$FUZZ_CC" $flags -Wno-unused-function $inc -c -o "$obj" "$src" || return 1
    fi
    objs+=("$obj")
  done
  rm -f "$out/libmixc-fuzz.a"
  ar rcs "$out/libmixc-fuzz.a" "${objs[@]}" || return 1
  "$FUZZ_CC" $flags -fsanitize=fuzzer $inc -o "$bin" tests/fuzz/fuzz_check.c "$out/libmixc-fuzz.a" \
    -ljansson -lm || return 1
}

if ! build >"$out/build.log" 2>&1; then
  echo "FAIL fuzz: the target does not build"
  tail -n 30 "$out/build.log" | sed 's/^/    /'
  exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The sanitizer's verdict and the project's own stack frames, without libFuzzer's.
report() {
  grep -E 'ERROR:|SUMMARY:|runtime error|internal error|Test unit written| in .*(compiler|gen|tests/fuzz)/' "$1" |
    grep -v 'fuzzer::' | head -n 25 | cut -c1-220 | sed 's/^/    /'
}

# Reproducers of past crashes must run clean.
status=0
for f in tests/fuzz/crashes/*; do
  [ -f "$f" ] || continue
  if ! "$bin" "$f" >"$out/replay.log" 2>&1; then
    echo "FAIL fuzz-replay/$(basename "$f")"
    report "$out/replay.log"
    echo "    replay: $bin $f"
    status=1
  else
    echo "PASS fuzz-replay/$(basename "$f")"
  fi
done

cp examples/*.mix tests/check/*.mix "$out/seed/"
cp tests/check/pending/*.mix "$out/seed/" 2>/dev/null
"$bin" -max_total_time="$SECONDS_TO_RUN" -dict=tests/fuzz/mix.dict -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
  "$out/corpus" "$out/seed" >"$out/fuzz.log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log" | tail -n 1)
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$out/fuzz.log" | tail -n 1)
if [ "$rc" -ne 0 ]; then
  echo "FAIL fuzz (exit $rc after ${runs:-?} runs)"
  report "$out/fuzz.log"
  echo "    reproducer: $(ls -t "$out"/artifacts/* 2>/dev/null | head -n 1)   log: $out/fuzz.log"
  exit 1
fi
echo "PASS fuzz (${runs:-?} runs, $cov, ${SECONDS_TO_RUN}s)"
exit $status
