#!/usr/bin/env bash
# The code tree's own rules (docs/architecture.md):
#  - no file of compiler/, runtime/, grammar/ or templates/ over 800 lines, no function over 80
#    (tests/tree/limits.py, itself checked first on made-up files it must flag and must pass);
#  - dependencies point one way: no file of the library (compiler/) includes a runtime header, and
#    libmixc.a needs no symbol of the runtime's libraries, but for the one hook docs/architecture.md
#    names (emit's jit_print_resources, which each program takes from the JIT or from no_toolkit.c;
#    compiler/cli/build_cmd.c and build.c, `mixc build`, are mixc's and not in the library);
#  - docs/architecture.md names every source file of compiler/, runtime/ and grammar/;
#  - every option that a command's --help lists (mixc's commands, mixrun, mixrun serve) is named in
#    README.md or docs/, and every capitalized NAME_LIKE_THIS it prints is an environment variable
#    the code reads (not a macro left unexpanded).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }
command -v python3 >/dev/null || { echo "SKIP tree: python3 is not installed"; exit 0; }

# ---- the limits checker on made-up files
# body N: a function of N lines in all (signature and closing brace included).
body() {
  echo "static int f$1(int a)"; echo "{"
  for ((i = 0; i < $1 - 4; i++)); do echo "    a += $i; /* { */ if (a) { a--; }"; done
  echo '    return a ? "}" [0] : '"'{'"';'; echo "}"
}
{ body 80; echo "struct S { int x; };"; echo "namespace n {"; body 81; echo "}"; body 81 | sed 's/f81/g81/'
  echo "static const int table[] = {"; for ((i = 0; i < 90; i++)); do echo "  $i,"; done; echo "};"; } >"$T/made.c"
python3 tests/tree/limits.py "$T/made.c" >"$T/out"; rc=$?
want="$T/made.c:83: function f81, 81 lines (the limit: 80)
$T/made.c:165: function g81, 81 lines (the limit: 80)"
[ "$rc" = 1 ] && [ "$(cat "$T/out")" = "$want" ] && pass "tree: limits.py flags the functions of 81 lines (one in a namespace), not the one of 80 nor a long table" ||
  fail "tree: limits.py flags the functions of 81 lines" "exit $rc" "$(cat "$T/out")"
seq 801 | sed 's/^/int x/;s/$/;/' >"$T/long.c"
python3 tests/tree/limits.py "$T/long.c" >"$T/out"; rc=$?
[ "$rc" = 1 ] && grep -qx "$T/long.c: 801 lines (the limit: 800)" "$T/out" && pass "tree: limits.py flags a file of 801 lines" ||
  fail "tree: limits.py flags a file of 801 lines" "exit $rc" "$(cat "$T/out")"

# ---- the tree itself
mapfile -t sources < <(git ls-files compiler runtime grammar templates 2>/dev/null | grep -E '\.(c|h|cpp|cuh|inc|y|l)$')
[ ${#sources[@]} -gt 0 ] || mapfile -t sources < <(find compiler runtime grammar templates -regextype egrep -regex '.*\.(c|h|cpp|cuh|inc|y|l)$')
if python3 tests/tree/limits.py "${sources[@]}" >"$T/out"; then
  pass "tree: ${#sources[@]} files, none over 800 lines, no function over 80"
else fail "tree: files over 800 lines or functions over 80" "$(head -n 20 "$T/out")"; fi

# The library's includes of runtime headers, as FILE:HEADER lines.
runtime_headers=$(find runtime -name '*.h' -printf '%f\n' | sort -u | paste -sd'|')
got=$(grep -rHoE "^\s*#\s*include\s+\"($runtime_headers)\"" compiler | sed -E 's/:\s*#\s*include\s+"/:/;s/"$//' | sort)
want="compiler/cli/build.c:emu_backend.h
compiler/cli/build.c:jit.h
compiler/cli/emit.c:jit.h"
[ "$got" = "$want" ] && pass "tree: compiler/ includes no runtime header but emit.c's jit.h (jit_print_resources) and build.c's (mixc build)" ||
  fail "tree: compiler/ includes runtime headers" "got:" $got "want:" $want

# libmixc.a's undefined symbols that the runtime's libraries define.
if [ -f "$BUILD/libmixc.a" ] && [ -f "$BUILD/libmixcrt.a" ]; then
  nm -g --defined-only "$BUILD/libmixc.a" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u >"$T/lib-defined"
  nm -u "$BUILD/libmixc.a" 2>/dev/null | awk '{ print $NF }' | sort -u | comm -23 - "$T/lib-defined" >"$T/lib-needs"
  runtime_libs=("$BUILD/libmixcrt.a"); [ -f "$BUILD/libmixcemu.a" ] && runtime_libs+=("$BUILD/libmixcemu.a")
  nm -g --defined-only "${runtime_libs[@]}" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u >"$T/rt-defined"
  got=$(comm -12 "$T/lib-needs" "$T/rt-defined" | paste -sd' ')
  [ "$got" = jit_print_resources ] && [ -s "$T/lib-needs" ] &&
    pass "tree: libmixc.a needs nothing of the runtime's libraries but jit_print_resources" ||
    fail "tree: libmixc.a needs symbols of the runtime" "got: ${got:-none} (want: jit_print_resources)"
else echo "SKIP tree: libmixc.a's symbols ($BUILD/libmixc.a or libmixcrt.a not built)"; fi

# docs/architecture.md names every source file.
missing=()
for f in $(git ls-files compiler runtime grammar 2>/dev/null | grep -E '\.(c|cpp|y|l)$'); do
  grep -qF "$(basename "$f")" docs/architecture.md || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] && pass "tree: docs/architecture.md names every source file of compiler/, runtime/ and grammar/" ||
  fail "tree: docs/architecture.md does not name" "${missing[@]}"

# Every option of every command's --help is documented (README.md or docs/): the tables make --help,
# and this keeps the prose from falling behind them.
if [ -x "$BUILD/mixc" ] && [ -x "$BUILD/mixrun" ]; then
  helps=$({ for c in check report compare import export emit build; do "$BUILD/mixc" "$c" --help; done
            "$BUILD/mixrun" --help; "$BUILD/mixrun" serve --help; } 2>&1)
  options=$(grep -oE '^ +(-[a-zA-Z], )?--[a-z0-9-]+' <<<"$helps" | grep -oE -- '--[a-z0-9-]+' | sort -u)
  missing=()
  for o in $options; do grep -rqF -- "$o" README.md docs || missing+=("$o"); done
  [ "$(wc -w <<<"$options")" -gt 40 ] && [ ${#missing[@]} -eq 0 ] &&
    pass "tree: README.md or docs/ names each of the $(wc -w <<<"$options") options the commands' --help lists" ||
    fail "tree: options of --help named nowhere in README.md or docs/ (of $(wc -w <<<"$options"))" "${missing[@]}"
else echo "SKIP tree: the options' documentation ($BUILD/mixc or $BUILD/mixrun not built)"; fi

# Every NAME_OF_CAPITALS a --help prints is an environment variable the code reads ("NAME" in a
# source): a default written as a macro that was never defined there (MIXC_STR(SOME_DEFAULT) without
# its header) prints its name instead of its value.
if [ -n "${helps:-}" ]; then
  names=$({ grep -oE '\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b' <<<"$helps"; "$BUILD/mixc" --help 2>&1 | grep -oE '\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b'; } | sort -u)
  unread=()
  for n in $names; do grep -rqF "\"$n\"" compiler runtime || unread+=("$n"); done
  [ -n "$names" ] && [ ${#unread[@]} -eq 0 ] &&
    pass "tree: each of the $(wc -w <<<"$names") capitalized names the --help texts print is an environment variable the code reads" ||
    fail "tree: --help prints names no code reads (a macro's name instead of its value?)" "${unread[@]}"
fi

[ "$fails" -eq 0 ]
