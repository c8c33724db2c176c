#!/usr/bin/env bash
# Hostile and careless input (issue "Hostile and careless input"): each case runs one command on junk
# under a generous timeout (a bound, not a benchmark), in its own temporary directory, and asserts
# the exit status, the message, and that nothing outside that directory changed.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
MIXC=${MIXC:-${BUILD:-build}/mixc}
MIXC=$(cd "$(dirname "$MIXC")" && pwd)/$(basename "$MIXC")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1
failed=0

fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'; failed=1; }

# The repository's state, to see that a run wrote nothing outside its directory: what git sees
# changed (without letting git status rewrite its own index) and the names at the top level. Never
# times: `ls -la` would show the mtime of ".." and ".git", which other programs change (a CI
# harness writing beside the clone, git refreshing its index) and fail a case that wrote nothing.
tree_state() { (cd "$root" && GIT_OPTIONAL_LOCKS=0 git status --porcelain --ignored=no 2>/dev/null; ls -A "$root"); }

# run NAME WANT_RC SECONDS PATTERN -- command...: the command runs in $tmp/NAME; its stderr must
# match PATTERN (grep -E; empty: stderr must be empty), its exit status be WANT_RC, and it must end within SECONDS.
run() {
  local name=$1 want=$2 secs=$3 pattern=$4
  shift 5
  local dir=$tmp/$name before rc
  mkdir -p "$dir"
  before=$(tree_state)
  (cd "$dir" && timeout "$secs" "$@" >"$dir/.out" 2>"$dir/.err")
  rc=$?
  if [ "$rc" -eq 124 ]; then fail "hostile/$name" "did not finish within ${secs}s"; return; fi
  if [ "$rc" -ne "$want" ]; then fail "hostile/$name" "exit $rc, expected $want" "$(head -c 600 "$dir/.err")"; return; fi
  if { [ -z "$pattern" ] && [ -s "$dir/.err" ]; } || { [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$dir/.err"; }; then
    fail "hostile/$name" "stderr does not match /$pattern/:" "$(head -c 600 "$dir/.err")"; return
  fi
  if [ "$(tree_state)" != "$before" ]; then fail "hostile/$name" "the repository changed"; return; fi
  echo "PASS hostile/$name"
}

junk=$tmp/junk
mkdir -p "$junk"
head -c 10000 /dev/zero >"$junk/zeros.mix"
python3 - "$junk" <<'PY'
import sys, os
d = sys.argv[1]
head = 'model "m" {\n  layers = 2\n  hidden = 64\n  heads = 2\n  ffn = 128\n  vocab = 100\n}\n'
open(os.path.join(d, 'long-name.mix'), 'w').write(head + 'layer 0 : ' + 'a' * 10_000_000 + '\n')
open(os.path.join(d, 'parens.mix'), 'w').write('(' * 8192 + '\n')
open(os.path.join(d, 'many-bad.mix'), 'w').write(''.join('layer %d : bogus ]\n' % i for i in range(50000)))
open(os.path.join(d, 'invalid-utf8.mix'), 'wb').write(b'model "m" {\n' + bytes(range(0x80, 0xc0)) * 4 + b'\n}\n')
open(os.path.join(d, 'far-error.mix'), 'w').write(' ' * 5000 + '@\n')
PY
printf '\xEF\xBB\xBF' | cat - examples/ma.mix >"$junk/bom.mix"

run zeros 1 10 "does not look like a text layout \(a NUL byte at offset 0" -- "$MIXC" check "$junk/zeros.mix"
run binary-program 1 10 "does not look like a text layout" -- "$MIXC" check "$MIXC"
run invalid-utf8 1 10 "does not look like a text layout \(bytes that are not UTF-8 at offset 12" -- "$MIXC" check "$junk/invalid-utf8.mix"
run dev-zero 1 20 "larger than the 256 MiB a layout may take" -- "$MIXC" check /dev/zero
run long-name 1 10 "long-name.mix:8:11: error" -- "$MIXC" check "$junk/long-name.mix"
run parens 1 10 "too many errors \(20\); stopping" -- "$MIXC" check "$junk/parens.mix"
run many-bad-statements 1 10 "too many errors \(20\); stopping" -- "$MIXC" check "$junk/many-bad.mix"
run bom 0 10 "" -- "$MIXC" check -q "$junk/bom.mix"
cat >"$junk/overflow.mix" <<'MIX'
model "overflow" {
    layers = 2
    hidden = 4611686018427387
    heads = 1
    ffn = 4611686018427387
    vocab = 4611686018427387
    context = 4611686018427387
    chunk = 4611686018427387
}
default : global
MIX
run dump-plan-overflow 1 10 "mixc check: the layout's memory figures overflow 2\^62 bytes" -- "$MIXC" check --dump=plan "$junk/overflow.mix"

# Error counts and line widths of the flood cases: 20 errors shown, and no source line wider than
# the clip (120 columns of source, a message with words cut at 64 bytes).
for name in parens many-bad-statements long-name far-error; do
  [ -f "$tmp/$name/.err" ] || "$MIXC" check "$junk/$name.mix" 2>"$tmp/$name.err" >/dev/null
  f=$tmp/$name/.err; [ -f "$f" ] || f=$tmp/$name.err
  errors=$(grep -c ': error: ' "$f")
  widest=$(awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }' "$f")
  if [ "$errors" -gt 20 ]; then fail "hostile/$name-capped" "$errors errors shown"
  elif [ "$widest" -gt 220 ]; then fail "hostile/$name-clipped" "a line of $widest columns"
  else echo "PASS hostile/$name-capped-and-clipped"; fi
done
# The caret of a clipped line still points at the character.
"$MIXC" check "$junk/far-error.mix" 2>"$tmp/far.err" >/dev/null
src=$(grep -m1 '^ *1 | ' "$tmp/far.err"); caret=$(grep -m1 '^ *| *\^' "$tmp/far.err")
before_at=${src%%@*}
if [ "$before_at" != "$src" ] && [ "${#caret}" -eq $(( ${#before_at} + 1 )) ]; then echo "PASS hostile/clipped-caret"
else fail "hostile/clipped-caret" "$src" "$caret"; fi

# ---- scale: the largest layout mixc takes, in every report format, under a generous bound (the
# timing itself is bench-report's: make bench).
python3 - "$junk/layers-100000.mix" <<'PY'
import sys
open(sys.argv[1], 'w').write('model "big" {\n layers = 100000\n hidden = 4096\n heads = 32\n kv_heads = 8\n'
    ' ffn = 14336\n vocab = 32000\n context = 32K\n}\nattention local = window 1024\n'
    'layers 0..99999 : pattern [global, local, local reads prev, local, local reads 1, local reads 1]\n')
PY
for fmt in text json svg; do
  run "report-100000-layers-$fmt" 0 120 "" -- "$MIXC" report "$junk/layers-100000.mix" --context 32K,1M --format "$fmt" -o out
done

# ---- mixrun: bounded reads of every input, and no leak on a failed write (the ASan pass checks)
MIXRUN=$(dirname "$MIXC")/mixrun
if [ -x "$MIXRUN" ]; then
  cat >"$junk/tiny.mix" <<'MIX'
model "tiny" {
    layers = 2
    hidden = 64
    heads = 2
    kv_heads = 1
    ffn = 64
    vocab = 64
    context = 64
    chunk = 8
}
layer 0 : global
layer 1 : window 8 reads 0
MIX
  run mixrun-layout-dev-zero 1 20 "dev/zero.*(File too large|larger than)" -- "$MIXRUN" --layout /dev/zero --random-weights 1 --tokens 1
  run mixrun-tokens-dev-zero 1 20 "dev/zero" -- "$MIXRUN" --layout "$junk/tiny.mix" --random-weights 1 --tokens-file /dev/zero
  run mixrun-prompts-dev-zero 1 20 "dev/zero" -- "$MIXRUN" --layout "$junk/tiny.mix" --random-weights 1 --prompts /dev/zero
  run mixrun-save-weights-bad-path 1 20 "cannot write" -- "$MIXRUN" --layout "$junk/tiny.mix" --random-weights 1 \
    --save-weights /nonexistent-mixc/w.safetensors
  # An output that cannot be written fails before the run (it did after it: the ids printed, the work lost).
  run mixrun-dump-logits-missing-dir 1 20 "^mixrun: cannot write '/nonexistent-mixc/l.npy': directory '/nonexistent-mixc' does not exist" -- \
    "$MIXRUN" --layout "$junk/tiny.mix" --random-weights 1 --backend cpu --tokens 1 --dump-logits /nonexistent-mixc/l.npy
  if [ -s "$tmp/mixrun-dump-logits-missing-dir/.out" ]; then fail "hostile/mixrun-dump-logits-missing-dir-nothing-run" "$(cat "$tmp/mixrun-dump-logits-missing-dir/.out")"
  else echo "PASS hostile/mixrun-dump-logits-missing-dir-nothing-run"; fi
  run mixrun-dump-logits-directory 1 20 "cannot write '[^']*': it is a directory" -- \
    "$MIXRUN" --layout "$junk/tiny.mix" --random-weights 1 --backend cpu --tokens 1 --dump-logits "$junk"
  # Finite weights that overflow: the run fails naming the layer (cpu) or the position (any backend),
  # never tokens 0,0,0 from NaN logits.
  "$MIXRUN" --layout "$junk/tiny.mix" --random-weights 1 --save-weights "$junk/w.safetensors" 2>/dev/null
  huge_tensor() {   # SRC DST TENSOR: every element of TENSOR set to bf16 3.39e38, the largest finite value
    python3 - "$@" <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
header = json.loads(data[8:8 + n])
body = bytearray(data[8 + n:])
lo, hi = header[sys.argv[3]]['data_offsets']
body[lo:hi] = b'\x7f\x7f' * ((hi - lo) // 2)
open(sys.argv[2], 'wb').write(data[:8 + n] + bytes(body))
PY
  }
  huge_tensor "$junk/w.safetensors" "$junk/huge.safetensors" model.layers.1.mlp.up_proj.weight
  run mixrun-overflow-names-layer 1 20 "layer 1 produced (NaN|Inf) in the residual stream" -- \
    "$MIXRUN" --layout "$junk/tiny.mix" --weights "$junk/huge.safetensors" --tokens 1,2,3 --backend cpu
  huge_tensor "$junk/w.safetensors" "$junk/huge-head.safetensors" lm_head.weight
  run mixrun-overflow-in-logits 1 20 "the logits of sequence 0 at position 2 hold (NaN|Inf) \(the cpu backend\)" -- \
    "$MIXRUN" --layout "$junk/tiny.mix" --weights "$junk/huge-head.safetensors" --tokens 1,2,3 --backend cpu
fi

# ---- outputs: the one writer (docs/output.md)
out=$tmp/outputs
mkdir -p "$out"
ex=$root/examples/ma.mix
echo old >"$out/real.txt"; chmod 600 "$out/real.txt"; ln -s real.txt "$out/link.txt"
run out-symlink 0 10 "" -- "$MIXC" report "$ex" -o "$out/link.txt"
if [ -L "$out/link.txt" ] && grep -q '^model "ma"' "$out/real.txt" && [ "$(stat -c %a "$out/real.txt")" = 600 ]; then
  echo "PASS hostile/out-symlink-followed-mode-kept"
else fail "hostile/out-symlink-followed-mode-kept" "$(ls -la "$out")"; fi
ln -s new.txt "$out/dangling.txt"
run out-dangling-symlink 0 10 "" -- "$MIXC" report "$ex" -o "$out/dangling.txt"
if [ -L "$out/dangling.txt" ] && [ -f "$out/new.txt" ]; then echo "PASS hostile/out-dangling-symlink-creates-target"
else fail "hostile/out-dangling-symlink-creates-target" "$(ls -la "$out")"; fi
mkfifo "$out/fifo"
cat "$out/fifo" >"$out/fifo.read" &
reader=$!
run out-fifo 0 10 "" -- "$MIXC" report "$ex" -o "$out/fifo"
wait "$reader"
if [ -p "$out/fifo" ] && grep -q '^model "ma"' "$out/fifo.read"; then echo "PASS hostile/out-fifo-written-in-place"
else fail "hostile/out-fifo-written-in-place" "$(ls -la "$out")"; fi
if mknod "$out/null" c 1 3 2>/dev/null; then
  run out-device 0 10 "" -- "$MIXC" report "$ex" -o "$out/null"
  if [ -c "$out/null" ]; then echo "PASS hostile/out-device-not-replaced"
  else fail "hostile/out-device-not-replaced" "$(ls -la "$out/null")"; fi
else
  echo "SKIP hostile/out-device-not-replaced (mknod needs root)"
fi
if "$MIXC" report "$ex" -o /dev/stdout 2>"$tmp/stdout.err" | grep -q '^model "ma"'; then echo "PASS hostile/out-dev-stdout"
else fail "hostile/out-dev-stdout" "$(cat "$tmp/stdout.err")"; fi
leftover=$(cd "$out" && ls -A | grep -v -x -e real.txt -e link.txt -e dangling.txt -e new.txt -e fifo -e fifo.read -e null)
if [ -z "$leftover" ]; then echo "PASS hostile/out-no-temporaries-left"
else fail "hostile/out-no-temporaries-left" "$leftover"; fi
run out-missing-dir 1 10 "cannot write '[^']*/missing/r.txt'" -- "$MIXC" report "$ex" -o "$out/missing/r.txt"
if [ -x "$(dirname "$MIXC")/libmixcrt.a" ] || [ -f "$(dirname "$MIXC")/libmixcrt.a" ]; then
  run build-missing-dir-first 1 10 "cannot write '/nonexistent-mixc/dir/bin': directory '/nonexistent-mixc/dir' does not exist" -- \
    "$MIXC" build "$ex" -o /nonexistent-mixc/dir/bin
  if grep -q -e compiling -e linking "$tmp/build-missing-dir-first/.err"; then
    fail "hostile/build-checks-output-before-compiling" "$(cat "$tmp/build-missing-dir-first/.err")"
  else echo "PASS hostile/build-checks-output-before-compiling"; fi
fi

# An output that names an input, or two outputs that name one file (through another spelling, a
# symlink): refused before anything runs (exit 2), the inputs as they were. --save-weights over
# --weights rewrites them (atomically); "-" for a binary output where the run prints its ids is refused.
same=$out/same
mkdir -p "$same"
cp "$ex" "$same/in.mix"; cp tests/import/configs/mistral-7b.json "$same/config.json"; ln -s in.mix "$same/link.mix"
cp tests/foundry/character-ai.yaml "$same/f.yaml"
before_inputs=$(cd "$same" && cksum in.mix config.json f.yaml)
for c in report export build; do
  run "out-is-input-$c" 2 10 "mixc $c: --output '[^']*link.mix' would replace the input '[^']*in.mix'" -- \
    "$MIXC" "$c" "$same/in.mix" -o "$same/link.mix"
done
run out-is-input-compare 2 10 "would replace the input" -- "$MIXC" compare "$ex" "$same/in.mix" -o "$same/../same/in.mix"
run out-is-input-import 2 10 "would replace the input '[^']*config.json'" -- "$MIXC" import "$same/config.json" -o "$same/config.json"
run out-is-input-import-config 2 10 "would replace the input" -- \
  "$MIXC" import --lckv 0_1s --window 4 --config "$same/config.json" -o "$same/config.json"
run out-is-input-import-foundry 2 10 "would replace the input" -- "$MIXC" import --foundry "$same/f.yaml" -o "$same/f.yaml"
if [ -x "$MIXRUN" ]; then
  MR=("$MIXRUN" --layout "$junk/tiny.mix" --backend cpu)
  "${MR[@]}" --random-weights 1 --save-weights "$same/w.safetensors" 2>/dev/null
  printf '1 2 3\n' >"$same/tokens.txt"
  before_inputs="$before_inputs $(cd "$same" && cksum w.safetensors tokens.txt)"
  run mixrun-logits-over-weights 2 10 "mixrun: --dump-logits '[^']*' would replace the file of --weights" -- \
    "${MR[@]}" --weights "$same/w.safetensors" --tokens 1 --dump-logits "$same/w.safetensors"
  run mixrun-logits-over-tokens 2 10 "would replace the file of --tokens-file" -- \
    "${MR[@]}" --random-weights 1 --tokens-file "$same/tokens.txt" --dump-logits "$same/./tokens.txt"
  run mixrun-save-over-layout 2 10 "mixrun: --save-weights '[^']*link.mix' would replace the file of --layout" -- \
    "$MIXRUN" --layout "$same/in.mix" --random-weights 1 --save-weights "$same/link.mix"
  run mixrun-two-outputs-one-file 2 10 "mixrun: --dump-logits '[^']*new.npy' would replace the file of --save-weights" -- \
    "${MR[@]}" --random-weights 1 --tokens 1 --dump-logits "$same/new.npy" --save-weights "$same/../same/new.npy"
  run mixrun-logits-to-stdout 2 10 "mixrun: --dump-logits -: standard output holds the run's results" -- \
    "${MR[@]}" --random-weights 1 --tokens 1 --dump-logits -
  run mixrun-weights-to-stdout 2 10 "mixrun: --save-weights -: standard output holds" -- \
    "${MR[@]}" --random-weights 1 --tokens 1 --save-weights -
  run mixrun-weights-alone-to-stdout 0 10 "" -- "${MR[@]}" --random-weights 1 --save-weights -
  cp "$same/w.safetensors" "$same/w2.safetensors"
  run mixrun-save-over-weights 0 10 "" -- "${MR[@]}" --weights "$same/w2.safetensors" --save-weights "$same/w2.safetensors" --tokens 1
  if cmp -s "$same/w.safetensors" "$same/w2.safetensors" && cmp -s "$same/w.safetensors" "$tmp/mixrun-weights-alone-to-stdout/.out"
  then echo "PASS hostile/mixrun-save-over-weights-same-file"
  else fail "hostile/mixrun-save-over-weights-same-file" "$(ls -la "$same")"; fi
fi
if [ "$(cd "$same" && cksum in.mix config.json f.yaml) $( [ -x "$MIXRUN" ] && cd "$same" && cksum w.safetensors tokens.txt)" = \
     "$before_inputs" ] && [ ! -e "$same/new.npy" ]; then echo "PASS hostile/out-is-input-inputs-kept"
else fail "hostile/out-is-input-inputs-kept" "$(ls -la "$same")"; fi

# A signal while an output's temporary exists (SIGTERM or SIGHUP as it appears; 190 MB of weights
# take a while to write): the output is completed or absent, never a temporary left behind.
if [ -x "$MIXRUN" ]; then
  sig=$out/signal
  mkdir -p "$sig"
  sed -e 's/hidden = 64/hidden = 1024/' -e 's/ffn = 64/ffn = 4096/' -e 's/vocab = 64/vocab = 32000/' \
    -e 's/heads = 2/heads = 8/' "$junk/tiny.mix" >"$sig/big.mix"
  for s in TERM HUP; do
    "$MIXRUN" --layout "$sig/big.mix" --backend cpu --random-weights 1 --save-weights "$sig/w.safetensors" 2>/dev/null &
    pid=$!
    for i in $(seq 3000); do compgen -G "$sig/.w.safetensors.*" >/dev/null && break; sleep 0.01; done
    kill -"$s" "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
    left=$(cd "$sig" && ls -A | grep -v -x -e big.mix -e w.safetensors)
    size=$( [ -e "$sig/w.safetensors" ] && stat -c %s "$sig/w.safetensors" || echo absent)
    if [ -z "$left" ] && { [ "$size" = absent ] || [ "$size" -gt 180000000 ]; }; then echo "PASS hostile/signal-$s-while-writing"
    else fail "hostile/signal-$s-while-writing" "left: $left" "w.safetensors: $size bytes"; fi
    rm -f "$sig"/w.safetensors "$sig"/.w.safetensors.*
  done
fi

# mixc build killed while it compiles the emulator kernels (its workspace and the compile's, in a
# TMPDIR of its own), with the compiler it runs: the signal to its process group, as a terminal sends
# it, or to mixc alone, as kill does. mixc passes it on to the compiler's own process group and ends
# once that group has (run_in_own_group): nothing left in TMPDIR, not even the compiler's own
# temporaries (ccXXXXXX.s: it ran with TMPDIR inside mixc's workspace), no output, no entry or
# temporary in its (empty, own) kernels' cache but the entry's lock, and no process of the compile
# still running.
if [ -f "$(dirname "$MIXC")/libmixcrt.a" ]; then
  kb=$out/killed-build
  mkdir -p "$kb/tmp"
  sed 's/heads = 2/heads = 1/' "$junk/tiny.mix" >"$kb/hd64.mix"
  for how in TERM:group HUP:group TERM:mixc INT:mixc; do
    s=${how%%:*} to=${how#*:}
    # (env: a background job starts with SIGINT ignored, which mixc rightly keeps)
    TMPDIR=$kb/tmp MIXC_CACHE_DIR=$kb/cache setsid env --default-signal=INT "$MIXC" build "$kb/hd64.mix" -o "$kb/bin" 2>/dev/null &
    pid=$!
    for i in $(seq 3000); do { compgen -G "$kb/tmp/mixc-emu-*/tmp/cc*" || compgen -G "$kb/tmp/cc*"; } >/dev/null && break; sleep 0.01; done
    if [ "$to" = group ]; then kill -"$s" -- -"$pid" 2>/dev/null; else kill -"$s" "$pid" 2>/dev/null; fi
    { wait "$pid"; } 2>/dev/null
    rc=$?
    running=$(pgrep -f -- "$kb/tmp/mixc-emu-" || true)
    left=$(cd "$kb/tmp" && find . -mindepth 1) bin=$(ls -A "$kb" | grep bin)
    cached=$(find "$kb/cache" -maxdepth 1 -name 'emu-*' ! -name '*.lock' 2>/dev/null)
    if [ -z "$left" ] && [ -z "$cached" ] && [ -z "$bin" ] && [ -z "$running" ] && [ "$rc" -eq $((128 + $(kill -l "$s"))) ]; then
      echo "PASS hostile/build-killed-$s-to-$to-leaves-nothing"
    else fail "hostile/build-killed-$s-to-$to-leaves-nothing" "exit $rc; left in TMPDIR: $left; in the cache: $cached; $bin; still running: $running"; fi
    rm -rf "${kb:?}/tmp/"* "$kb/bin" "$kb/cache"
  done
  # A compiler that ignores the signal (a wrapper trapping TERM, then a long job): mixc waits 10 s for
  # its group, kills it, and ends: no hang, nothing left, nothing running.
  printf '#!/bin/sh\ntrap "" TERM\ntouch "$TMPDIR/stubborn.o"\nsleep 60\n' >"$kb/stubborn-cc"
  chmod +x "$kb/stubborn-cc"
  TMPDIR=$kb/tmp CC=$kb/stubborn-cc setsid "$MIXC" build "$kb/hd64.mix" -o "$kb/bin" --no-emu 2>/dev/null &
  pid=$!
  for i in $(seq 3000); do compgen -G "$kb/tmp/mixc-build-*/tmp/stubborn.o" >/dev/null && break; sleep 0.01; done
  start=$(date +%s)
  kill -TERM "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null
  rc=$? took=$(( $(date +%s) - start ))
  running=$(pgrep -f -- "$kb/stubborn-cc" || true)
  left=$(cd "$kb/tmp" && find . -mindepth 1) bin=$(ls -A "$kb" | grep -x bin)
  if [ -z "$left" ] && [ -z "$bin" ] && [ -z "$running" ] && [ "$rc" -eq 143 ] && [ "$took" -le 20 ]; then
    echo "PASS hostile/build-killed-compiler-ignores-TERM (ended after ${took} s)"
  else fail "hostile/build-killed-compiler-ignores-TERM" "exit $rc after $took s; left: $left; $bin; running: $running"; fi
  rm -rf "${kb:?}/tmp/"* "$kb/bin"
  # ^Z: SIGTSTP to mixc stops the compiler's group with it (a compiler that writes a tick every 50 ms
  # until told to go on); SIGCONT goes on with both, and the build finishes. mixc runs as a job of
  # its own (set -m), as a shell runs it: not in an orphaned group, where a stop is discarded.
  printf '#!/bin/sh\nwhile [ ! -e "%s/go" ]; do echo tick >>"%s/ticks"; sleep 0.05; done\nexec cc "$@"\n' \
    "$kb" "$kb" >"$kb/ticking-cc"
  chmod +x "$kb/ticking-cc"
  ticks() { wc -l <"$kb/ticks"; }
  verdict=$(
    set -m
    TMPDIR=$kb/tmp CC=$kb/ticking-cc "$MIXC" build "$kb/hd64.mix" -o "$kb/bin" --no-emu 2>/dev/null &
    pid=$!
    for i in $(seq 3000); do [ -s "$kb/ticks" ] && break; sleep 0.01; done
    kill -TSTP "$pid"
    for i in $(seq 500); do [ "$(ps -o stat= -p "$pid" | cut -c1)" = T ] && break; sleep 0.01; done
    state=$(ps -o stat= -p "$pid" | cut -c1)
    sleep 0.2; a=$(ticks); sleep 0.6; b=$(ticks)
    kill -CONT "$pid"
    for i in $(seq 500); do [ "$(ticks)" -gt "$b" ] && break; sleep 0.01; done
    c=$(ticks)
    touch "$kb/go"
    # bounded: a compiler left stopped would keep mixc waiting for ever
    for i in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- -"$pid"; pkill -KILL -f -- "$kb/ticking-cc"; }
    wait "$pid"
    echo "$state $a $b $c $?"
  )
  read -r state a b c rc <<<"$verdict"
  if [ "$state" = T ] && [ "$a" -eq "$b" ] && [ "$c" -gt "$b" ] && [ "$rc" -eq 0 ] && [ -x "$kb/bin" ]; then
    echo "PASS hostile/build-stopped-by-TSTP-stops-its-compiler"
  else fail "hostile/build-stopped-by-TSTP-stops-its-compiler" "mixc state '$state'; ticks $a, then $b while stopped, $c after SIGCONT; exit $rc"; fi
  rm -rf "${kb:?}/tmp/"* "$kb/bin" "$kb/go" "$kb/ticks"
fi

# emit -o DIR: two emits of different layouts racing into one directory leave one layout's
# kernels.cu beside the same layout's manifest.json, every time; no temporary is left.
mixed=0
for round in 1 2 3 4 5 6; do
  "$MIXC" emit "$root/examples/ma.mix" -o "$out/race" 2>>"$tmp/race.err" &
  "$MIXC" emit "$root/examples/mistral-7b.mix" -o "$out/race" 2>>"$tmp/race.err" &
  wait
  cu=$(sed -n '1s/.*for model "\([^"]*\)".*/\1/p' "$out/race/kernels.cu")
  mf=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["model"])' "$out/race/manifest.json")
  [ "$cu" = "$mf" ] || mixed=$((mixed + 1))
done
left=$(ls -A "$out" | grep '^\.race' || true)
if [ "$mixed" -eq 0 ] && [ -z "$left" ] && [ ! -s "$tmp/race.err" ]; then echo "PASS hostile/emit-dir-one-layout-or-the-other"
else fail "hostile/emit-dir-one-layout-or-the-other" "$mixed mixed sets; left: $left" "$(head -c 400 "$tmp/race.err")"; fi
mkdir -p "$out/shared"; echo keep >"$out/shared/notes.txt"
run emit-into-shared-dir 0 30 "" -- "$MIXC" emit "$root/examples/ma.mix" -o "$out/shared"
if [ "$(cat "$out/shared/notes.txt")" = keep ] && [ -f "$out/shared/kernels.cu" ] && [ -f "$out/shared/manifest.json" ]; then
  echo "PASS hostile/emit-keeps-other-files"
else fail "hostile/emit-keeps-other-files" "$(ls -la "$out/shared")"; fi

[ "$failed" -eq 0 ]
