#!/usr/bin/env bash
# The command line: exit statuses (0 ok, 1 input errors, 2 usage errors), where output goes (results
# on stdout, diagnostics on stderr), --help/--version, `mixc help CMD`, unknown commands and options,
# missing files and reading the layout from stdin ("-").
set -u
cd "$(dirname "$0")/../.."
MIXC=${MIXC:-${BUILD:-build}/mixc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1
failed=0
OUT=$tmp/out ERR=$tmp/err

fail() { echo "FAIL cli/$1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'; failed=1; }

# run NAME EXPECTED_STATUS ARGS... : runs mixc with stdout/stderr in $OUT/$ERR; false (and FAIL) on
# a wrong status. Input comes from $STDIN (default /dev/null).
run() {
  local name=$1 want=$2 rc
  shift 2
  "$MIXC" "$@" <"${STDIN:-/dev/null}" >"$OUT" 2>"$ERR"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    fail "$name" "mixc $*: exit status $rc, expected $want" "stderr: $(head -n 5 "$ERR")"
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
  check help-unknown out_empty "err_has \"^mixc: unknown command 'nosuch'\""

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
  check missing-file out_empty "err_has \"^mixc: cannot read '$tmp/no-such.mix': No such file or directory\$\""
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
printf '' >"$tmp/empty"
STDIN=$tmp/empty run stdin-empty 1 check - &&
  check stdin-empty out_empty "err_has '^<stdin>:1:1: error: '"

exit $failed
