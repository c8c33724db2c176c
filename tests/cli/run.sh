#!/usr/bin/env bash
# The command line: exit statuses (0 ok, 1 input errors, 2 usage errors), where output goes (results
# on stdout, diagnostics on stderr), --help/--version, `mixc help CMD`, unknown commands and options,
# missing files and reading the layout from stdin ("-").
set -u
cd "$(dirname "$0")/../.."
MIXC=${MIXC:-${BUILD:-build}/mixc}
. tests/toolkit.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1
failed=0
OUT=$tmp/out ERR=$tmp/err

fail() { echo "FAIL cli/$1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'; failed=1; }

# run NAME EXPECTED_STATUS ARGS... : runs mixc (or $PROG) with stdout/stderr in $OUT/$ERR; false (and
# FAIL) on a wrong status. Input comes from $STDIN (default /dev/null).
run() {
  local name=$1 want=$2 rc
  shift 2
  "${PROG:-$MIXC}" "$@" <"${STDIN:-/dev/null}" >"$OUT" 2>"$ERR"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "$name" "${PROG:-mixc} $*: exit status $rc, expected $want" "stderr: $(head -n 5 "$ERR")"
    return 1
  fi
}
out_has() { grep -q -- "$1" "$OUT"; }
err_has() { grep -q -- "$1" "$ERR"; }
out_empty() { [ ! -s "$OUT" ]; }
err_empty() { [ ! -s "$ERR" ]; }
# check NAME CONDITION... : PASS when every condition (a shell command) holds.
check() {
  local name=$1 c
  shift
  for c in "$@"; do
    if ! eval "$c"; then
      fail "$name" "failed: $c" "stdout: $(head -n 5 "$OUT")" "stderr: $(head -n 5 "$ERR")"
      return
    fi
  done
  echo "PASS cli/$name"
}

# ---- version and help
run version 0 --version &&
  check version "grep -Eqx 'mixc [0-9]+\.[0-9]+\.[0-9]+' \$OUT" err_empty
run version-short 0 -V && check version-short "grep -Eqx 'mixc [0-9]+\.[0-9]+\.[0-9]+' \$OUT"
run help 0 --help &&
  check help "out_has '^usage: mixc <command>'" "out_has '^  check '" "out_has 'exit status'" err_empty
run help-short 0 -h && check help-short "out_has '^usage: mixc'"
run help-cmd 0 help && check help-cmd "out_has '^usage: mixc <command>'" err_empty
run no-args 2 && check no-args out_empty "err_has '^usage: mixc'"

run help-check 0 help check &&
  check help-check "out_has '^usage: mixc check'" "out_has -- '--dump=ast'" "out_has -- '--format=json'" err_empty
cp "$OUT" "$tmp/help-check"
run check-help 0 check --help &&
  check check-help "cmp -s \$OUT $tmp/help-check" err_empty
run check-help-short 0 check -h && check check-help-short "cmp -s \$OUT $tmp/help-check"
run help-unknown 2 help nosuch &&
  check help-unknown out_empty "err_has \"^mixc: unknown command 'nosuch'\"" "err_has 'hint: run .mixc --help.'"

# ---- usage errors: exit 2, nothing on stdout
run unknown-command 2 nosuch examples/ma.mix &&
  check unknown-command out_empty "err_has \"^mixc: unknown command 'nosuch'\"" "err_has 'hint: run .mixc --help.'"
run unknown-option 2 check --bogus examples/ma.mix &&
  check unknown-option out_empty "err_has \"unknown option '--bogus'\"" "err_has '^usage: mixc check'"
run unknown-dump 2 check --dump=nothing examples/ma.mix &&
  check unknown-dump out_empty "err_has \"^mixc check: --dump: bad value 'nothing' (ast, graph or plan)\""
run no-input-file 2 check && check no-input-file out_empty "err_has 'no input file'"
run two-files 2 check examples/ma.mix examples/swa.mix &&
  check two-files out_empty "err_has 'one file at a time'"
run missing-file 2 check "$tmp/no-such.mix" &&
  check missing-file out_empty "err_has \"^mixc check: cannot read '$tmp/no-such.mix': No such file or directory\$\""
run directory 2 check examples && check directory out_empty "err_has \"cannot read 'examples'\""

# ---- input errors: exit 1, diagnostics on stderr, nothing on stdout
run invalid-file 1 check tests/check/reads-later.mix &&
  check invalid-file out_empty "err_has '^tests/check/reads-later.mix:[0-9]*:[0-9]*: error: '"
run invalid-file-json 1 check --format=json tests/check/reads-later.mix &&
  check invalid-file-json out_empty "err_has 'error: '"
run warning-only 0 check tests/check/reads-chain.mix &&
  check warning-only "out_has '^layer  attention'" "err_has ': warning: '"

# ---- valid input: exit 0, nothing on stderr
run valid 0 check examples/ma.mix &&
  check valid "cmp -s \$OUT tests/examples/ma.out" err_empty
run quiet 0 check -q examples/ma.mix && check quiet out_empty err_empty
run quiet-long 0 check --quiet examples/ma.mix && check quiet-long out_empty err_empty
run json 0 check --format=json examples/ma.mix &&
  check json err_empty "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"model\"][\"layers\"]==24 and len(d[\"layers\"])==24 and len(d[\"caches\"])==9 and d[\"caches\"][0][\"readers\"]==[6,12,18]' \$OUT"
run dump-graph 0 check --dump=graph examples/ma.mix &&
  check dump-graph err_empty "out_has '^cache 0: owner 0 (global), retention unbounded, readers \[6 (global), 12 (global), 18 (global)\]'"
run dump-ast 0 check --dump=ast examples/ma.mix &&
  check dump-ast err_empty "out_has '^Model \"ma\"'" "out_has 'Field layers = int 24'"
run dump-ast-invalid 1 check --dump=ast tests/check/reads-itself.mix &&
  check dump-ast-invalid "out_has '^Model \"t\"'" "err_has 'reads its own cache'"

# ---- stdin
STDIN=examples/ma.mix run stdin 0 check - &&
  check stdin "cmp -s \$OUT tests/examples/ma.out" err_empty
STDIN=tests/check/reads-itself.mix run stdin-invalid 1 check - &&
  check stdin-invalid out_empty "err_has '^<stdin>:12:28: error: layer 3 reads its own cache'"
STDIN=examples/ma.mix run stdin-twice 2 compare - - &&
  check stdin-twice out_empty "err_has \"^mixc compare: '-' (standard input) given twice: it can be read once\$\""
STDIN=examples/ma.mix PROG=${MIXRUN:-$(dirname "$MIXC")/mixrun} run stdin-twice-mixrun 2 --layout - --random-weights 1 --prompts - &&
  check stdin-twice-mixrun out_empty "err_has \"^mixrun: '-' (standard input) given to --layout and --prompts: it can be read once\$\""
printf '' >"$tmp/empty"
STDIN=$tmp/empty run stdin-empty 1 check - &&
  check stdin-empty out_empty "err_has '^<stdin>:1:1: error: '"

# ---- standard output that cannot be written (a full disk, a closed descriptor): exit 1 and a message,
# never exit 0 with the output lost
MA=examples/ma.mix
for c in "check $MA" "check --format=json $MA" "check --dump=plan $MA" "report $MA" "compare $MA $MA" "export $MA" \
         "import tests/import/configs/mistral-7b.json" "--help" "--version" "help check"; do
  for how in full closed; do
    name="stdout-$how-$(tr -c 'a-z0-9\n' - <<<"${c%.mix}")"
    [ "$how" = full ] && [ ! -w /dev/full ] && continue
    if [ "$how" = full ]; then $MIXC $c >/dev/full 2>"$ERR"; else $MIXC $c >&- 2>"$ERR"; fi
    rc=$?
    if [ $rc = 1 ] && err_has "cannot write the output: "; then echo "PASS cli/$name ($c)"
    else fail "$name" "mixc $c: exit $rc" "$(head -n 3 "$ERR")"; fi
  done
done

# ---- one option parser: every command (and mixrun) parses the same way
MIXRUN=${MIXRUN:-$(dirname "$MIXC")/mixrun}
EX=examples/mistral-7b.mix TINY=tests/mixrun/tiny.mix
# The commands with an input file, as "NAME ARGS..." that make a valid run but for the option tested.
COMMANDS=("check $EX" "report $EX" "compare $EX" "export $EX" "import tests/import/configs/mistral-7b.json"
          "emit $EX -o $tmp/emit" "build $EX -o $tmp/bin")
for c in "${COMMANDS[@]}"; do
  set -- $c
  cmd=$1
  run "help-$cmd" 0 "$cmd" --help &&
    check "help-$cmd" "out_has '^usage: mixc $cmd'" "out_has '^  -h, --help '" err_empty
  run "unknown-option-$cmd" 2 "$@" --frobnicate &&
    check "unknown-option-$cmd" out_empty "err_has \"^mixc $cmd: unknown option '--frobnicate'\$\"" \
      "err_has '^usage: mixc $cmd'" "err_has \"^run 'mixc $cmd --help' for the options\$\""
  run "unknown-option-value-$cmd" 2 "$@" --frobnicate=3 &&
    check "unknown-option-value-$cmd" "err_has \"unknown option '--frobnicate'\$\""
  [ "$cmd" = compare ] || { run "two-files-$cmd" 2 "$@" "$EX" &&
    check "two-files-$cmd" out_empty "err_has '^mixc $cmd: one file at a time'"; }
  run "unreadable-$cmd" 2 "$cmd" "$tmp/no-such-file" "${@:3}" &&
    check "unreadable-$cmd" out_empty "err_has \"^mixc $cmd: cannot read '$tmp/no-such-file'\""
done
PROG=$MIXRUN run help-mixrun 0 --help && check help-mixrun "out_has '^usage: mixrun'" err_empty
PROG=$MIXRUN run unknown-option-mixrun 2 --layout $TINY --random-weights 1 --tokens 1 --frobnicate &&
  check unknown-option-mixrun out_empty "err_has \"^mixrun: unknown option '--frobnicate'\$\"" "err_has '^usage: mixrun'"
PROG=$MIXRUN run unreadable-mixrun 2 --layout "$tmp/no-such-file" --random-weights 1 --tokens 1 &&
  check unreadable-mixrun "err_has \"^mixrun: cannot read '$tmp/no-such-file'\""
PROG=$MIXRUN run argument-mixrun 2 --layout $TINY --random-weights 1 --tokens 1 stray &&
  check argument-mixrun "err_has \"^mixrun: unexpected argument 'stray'\$\""
# what the user typed is quoted with its control characters escaped (never sent raw to the terminal)
PROG=$MIXRUN run escaped-unknown-option 2 --layout $TINY --random-weights 1 --tokens 1 $'--x\e[31m' &&
  check escaped-unknown-option "grep -qF -- \"unknown option '--x\\\\u001b[31m'\" \"\$ERR\"" "! grep -q \$'\\e' \"\$ERR\""
run escaped-bad-value 2 report $EX --context $'4\x01K' &&
  check escaped-bad-value "grep -qF -- \"--context: bad value '4\\\\u0001K'\" \"\$ERR\"" "! grep -q \$'\\x01' \"\$ERR\""

# an option without its value, at the end of the line: exit 2, "--opt needs a value"
missing_value() {  # NAME OPTION ARGS...
  local name=$1 opt=$2; shift 2
  run "missing-value-$name" 2 "$@" "$opt" && check "missing-value-$name" out_empty "err_has -- '$opt needs a value\$'"
}
missing_value check --dump check $EX
missing_value report --context report $EX
missing_value compare --gpu compare $EX
missing_value export -o export $EX
missing_value import --name import tests/import/configs/mistral-7b.json
missing_value emit --arch emit $EX -o "$tmp/emit"
missing_value build --set build $EX -o "$tmp/bin"
PROG=$MIXRUN missing_value mixrun --max-new --layout $TINY --random-weights 1 --tokens 1

# a bad value: "PROG: --opt: bad value 'V' (what a good one is)", exit 2
ctx65=$(seq -s, 1024 1024 66560)   # 65 contexts: one more than a list takes
run too-many-contexts 2 report $EX --context "$ctx65" &&
  check too-many-contexts out_empty "err_has \"(a count >= 1, or up to 64 separated by commas\""
run bad-value-report 2 report $EX --context 4K,x &&
  check bad-value-report out_empty "err_has \"^mixc report: --context: bad value '4K,x' (a count >= 1, or up to 64 separated\""
run bad-value-emit 2 emit $EX -o "$tmp/emit" --context 12Q &&
  check bad-value-emit "err_has \"^mixc emit: --context: bad value '12Q' (a count >= 1; K, M, G suffixes)\$\""
run bad-value-import 2 import --lckv 0_1s --window 0 &&
  check bad-value-import "err_has \"^mixc import: --window: bad value '0' (a count >= 1; K, M, G suffixes)\$\""
run bad-value-build 2 build $EX -o "$tmp/bin" --arch sm_75 &&
  check bad-value-build "err_has \"^mixc build: --arch: bad value 'sm_75' (sm_80 or sm_90)\$\""
PROG=$MIXRUN run bad-value-mixrun 2 --layout $TINY --random-weights 1 --tokens 1 --batch 100K &&
  check bad-value-mixrun "err_has \"^mixrun: --batch: bad value '100K' (a count in 1..65536; K, M, G suffixes)\$\""
run flag-value 2 check --quiet=yes $EX && check flag-value "err_has '^mixc check: --quiet takes no value\$'"

# counts take K/M/G suffixes in every command that takes a count (a value too large for other,
# factual reasons may still be refused, but not by the option parser)
run kmg-report 0 report $EX --context 1G --chunk 1K --batch 2 --format json &&
  check kmg-report "python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"contexts\"][0][\"context\"]==1<<30' \$OUT"
run kmg-compare 0 compare $EX --context 1M,1G --format json &&
  check kmg-compare "grep -q '\"context\": 1073741824' \$OUT"
run kmg-emit 0 emit $EX -o "$tmp/emit-g" --context 1G --chunk 1K &&
  check kmg-emit "grep -q '1073741824' $tmp/emit-g/manifest.json"
run kmg-import 0 import --lckv 0_1s_1s --window 4K && check kmg-import "out_has 'window 4096'"
PROG=$MIXRUN run kmg-mixrun 0 --layout $TINY --random-weights 1K --save-weights "$tmp/w.safetensors" &&
  check kmg-mixrun "test -s $tmp/w.safetensors"
PROG=$MIXRUN run kmg-mixrun-context 1 --layout $TINY --random-weights 1 --tokens 1 --max-new 1M &&
  check kmg-mixrun-context "err_has 'more than the context'"

# --opt=value and --opt value are the same
run equals-report 0 report --context=4K --format=json $EX && cp "$OUT" "$tmp/eq1" &&
  run equals-report 0 report --context 4K --format json $EX && check equals-report "cmp -s \$OUT $tmp/eq1"
run equals-export 0 export --output="$tmp/x.json" $EX && check equals-export "test -s $tmp/x.json" out_empty
run equals-import 0 import --name=given tests/import/configs/mistral-7b.json &&
  check equals-import "out_has '^model \"given\"'"
run equals-emit 0 emit $EX --output="$tmp/emit-eq" --arch=sm_80 && check equals-emit "test -s $tmp/emit-eq/kernels.cu"
run equals-build 2 build $EX -o "$tmp/bin" --set=hidden && check equals-build "err_has \"^mixc build: --set needs key=value, not 'hidden'\""
PROG=$MIXRUN run equals-mixrun 0 --layout=$TINY --random-weights=3 --tokens=1,2 --max-new=2 &&
  check equals-mixrun "grep -Eqx '[0-9]+,[0-9]+' \$OUT"
run double-dash 0 check -q -- $EX && check double-dash out_empty err_empty

# Colors: on a terminal (script(1) gives one) a diagnostic is colored; NO_COLOR set to a value turns
# them off, set empty it does not (no-color.org). (Everywhere else this suite runs with NO_COLOR=1.)
if command -v script >/dev/null; then
  printf 'model "x" {\n  layers = 0\n}\n' >"$tmp/zero.mix"
  on=$(env -u NO_COLOR script -qec "$MIXC check $tmp/zero.mix" /dev/null | grep -c $'\e\\[1;31merror:')
  empty=$(NO_COLOR= script -qec "$MIXC check $tmp/zero.mix" /dev/null | grep -c $'\e\\[')
  off=$(NO_COLOR=1 script -qec "$MIXC check $tmp/zero.mix" /dev/null | grep -c $'\e\\[')
  [ "$on" -ge 1 ] && [ "$empty" -ge 1 ] && [ "$off" = 0 ] &&
    echo "PASS cli/colors: a terminal gets colored diagnostics; NO_COLOR=1 none, NO_COLOR= (empty) still colors" ||
    fail "colors" "colored error lines: $on (want >= 1); with NO_COLOR empty: $empty escapes (want >= 1), NO_COLOR=1: $off (want 0)"
else echo "SKIP colors: no script(1) to give a terminal"; fi

# ---- the run options several commands take (options.h: OPT_BATCH, OPT_PP, OPT_PAGE_TOKENS, OPT_POOL_PAGES):
# one range, and so one message, in every command; what a layout cannot take is refused by one check
# with one status: more pipeline stages than layers (pipeline_stages_fit) 2, the plan's page bounds 1.
# same_message NAME: every $tmp/msg.* holds the same text after its "PROG: " prefix; the messages are
# then removed, for the next group.
same_message() {
  local f first="" ok=1
  for f in "$tmp"/msg.*; do
    sed -E 's/^(mixc [a-z]+|mixrun): //; q' "$f" >"$f.cut"
    [ -z "$first" ] && first=$f.cut
    cmp -s "$first" "$f.cut" || { fail "$1" "$(cat "$first")" "differs from $(cat "$f.cut")"; ok=0; break; }
  done
  rm -f "$tmp"/msg.*
  [ $ok = 1 ] && echo "PASS cli/$1"
}
for c in "check $EX --target vllm" "export $EX --vllm $tmp/vx" "report $EX"; do
  set -- $c
  run "pp-range-$1" 2 "$@" --pp 0 && cp "$ERR" "$tmp/msg.$1" &&
    check "pp-range-$1" "err_has \"^mixc $1: --pp: bad value '0' (a count in 1..100000; K, M, G suffixes)\$\""
  run "pp-layers-$1" 2 "$@" --pp 33 &&
    check "pp-layers-$1" out_empty "err_has \"^mixc $1: '$EX': --pp 33 exceeds the 32 layers\$\""
done
same_message pp-range-same
PAGED=("report $EX --target cpu" "emit $EX -o $tmp/emit-paged")
for c in "${PAGED[@]}"; do
  set -- $c
  run "page-tokens-range-$1" 2 "$@" --page-tokens 0 && cp "$ERR" "$tmp/msg.$1"
  run "page-longer-$1" 1 "$@" --page-tokens 1G &&
    check "page-longer-$1" "err_has 'a page of 1073741824 tokens is longer than the context (32768 tokens)\$'"
done
check page-longer-emit-nothing-written "test ! -e $tmp/emit-paged"
PROG=$MIXRUN run page-tokens-range-mixrun 2 --layout $TINY --random-weights 1 --tokens 1 --page-tokens 0 &&
  cp "$ERR" "$tmp/msg.mixrun"
same_message page-tokens-range-same
for b in cpu emu; do
  if [ $b = emu ] && ! have_toolkit; then   # (the backend is refused first: it cannot run at all)
    PROG=$MIXRUN run "page-longer-mixrun-$b" 2 --layout $TINY --random-weights 1 --tokens 1 --backend $b --page-tokens 1K &&
      check "page-longer-mixrun-$b" "err_has '^mixrun: the emu backend needs the CUDA toolkit'"
    continue
  fi
  PROG=$MIXRUN run "page-longer-mixrun-$b" 1 --layout $TINY --random-weights 1 --tokens 1 --backend $b --page-tokens 1K &&
    check "page-longer-mixrun-$b" "err_has '^mixrun: a page of 1024 tokens is longer than the context (128 tokens)\$'"
done
run pool-pages-range-report 2 report $EX --target cpu --page-tokens 16 --pool-pages 16777217 && cp "$ERR" "$tmp/msg.report"
PROG=$MIXRUN run pool-pages-range-mixrun 2 --layout $TINY --random-weights 1 --tokens 1 --page-tokens 16 \
  --pool-pages 16777217 && cp "$ERR" "$tmp/msg.mixrun"
same_message pool-pages-range-same
run pool-pages-alone-report 2 report $EX --target cpu --pool-pages 7 && cp "$ERR" "$tmp/msg.report"
PROG=$MIXRUN run pool-pages-alone-mixrun 2 --layout $TINY --random-weights 1 --tokens 1 --pool-pages 7 &&
  cp "$ERR" "$tmp/msg.mixrun" && check pool-pages-alone-mixrun "err_has '^mixrun: --pool-pages goes with --page-tokens\$'"
same_message pool-pages-alone-same
# A --set value that a field does not take is bad input (exit 1), for window and chunked as for the
# header's fields, in every command that reads a layout: one message, naming the file. A malformed
# override is a usage error (exit 2). check takes --set as the others do.
for c in "check $TINY" "report $TINY" "compare $TINY" "export $TINY" "emit $TINY -o $tmp/emit-set" "build $TINY -o $tmp/bin-set"; do
  set -- $c
  run "set-window-0-$1" 1 "$@" --set window=0 && cp "$ERR" "$tmp/msg.$1" &&
    check "set-window-0-$1" out_empty "err_has \"^$TINY: error: 'window' must be at least 1, not 0\$\""
done
PROG=$MIXRUN run set-window-0-mixrun 1 --layout $TINY --random-weights 1 --tokens 1 --set window=0 && cp "$ERR" "$tmp/msg.mixrun"
same_message set-window-0-same
run set-chunked-word 1 report $TINY --set chunked=x &&
  check set-chunked-word out_empty "err_has \"^$TINY: error: 'chunked' must be an integer\$\""
run set-hidden-0 1 check $TINY --set hidden=0 && check set-hidden-0 out_empty "err_has \"^$TINY: error: 'hidden' must be at least 1, not 0\$\""
run set-malformed-check 2 check $TINY --set window && check set-malformed-check "err_has \"^mixc check: --set needs key=value, not 'window'\$\""
run set-check 0 check $TINY --set window=3 && check set-check "out_has ' window 3 '" "! out_has ' window 8 '"
for c in "report $EX" "compare $EX"; do
  set -- $c
  run "batch-range-$1" 2 "$@" --batch 100K && cp "$ERR" "$tmp/msg.$1"
done
PROG=$MIXRUN run batch-range-mixrun 2 --layout $TINY --random-weights 1 --bench --batch 100K && cp "$ERR" "$tmp/msg.mixrun"
same_message batch-range-same
# --chunk: one row in report, compare and emit; a context the kernels cannot take: the plan's one refusal
for c in "report $EX" "compare $EX" "emit $EX -o $tmp/emit-chunk"; do
  set -- $c
  run "chunk-range-$1" 2 "$@" --chunk 0 && cp "$ERR" "$tmp/msg.$1"
done
same_message chunk-range-same
run kernels-context-report 1 report $EX --target cuda --context 2G && cp "$ERR" "$tmp/msg.report"
run kernels-context-emit 1 emit $EX -o "$tmp/emit-2g" --context 2G && cp "$ERR" "$tmp/msg.emit" &&
  check kernels-context-emit "err_has \"^mixc emit: '$EX': a context of 2147483648 tokens is not supported by the kernels (at most 2^31 - 1)\$\"" \
    "test ! -e $tmp/emit-2g"
same_message kernels-context-same
# --set: every command that loads a layout takes it (one loader, load_layout_file)
run set-emit 0 emit $EX -o "$tmp/emit-set" --set hidden=512 --set window=64 &&
  check set-emit "jq -e '.hidden == 512 and ([.kernels[] | select(.window == 64)] | length > 0)' $tmp/emit-set/manifest.json >/dev/null"
run set-emit-bad 1 emit $EX -o "$tmp/emit-set-bad" --set frob=1 &&
  check set-emit-bad "err_has \"unknown header field 'frob'\"" "test ! -e $tmp/emit-set-bad"
run set-compare 0 compare $EX examples/ma.mix --set context=4K &&
  check set-compare "out_has 'KV/seq @4096'" "! out_has '@32768'"
run compare-warns-once 0 compare tests/kernels/kt-g.mix $EX &&
  check compare-warns-once "[ \$(grep -c 'warning:' \$ERR) = 1 ]"
run pool-default-too-large 1 report $EX --target cpu --page-tokens 1 --batch 1K &&
  check pool-default-too-large "err_has \"a pool of more than 2^24 pages (every sequence's whole context)\""

exit $failed
