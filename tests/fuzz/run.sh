#!/usr/bin/env bash
# Builds the libFuzzer targets (under ASan + UBSan + LeakSanitizer) into $BUILD/fuzz/ and runs each:
#   fuzz_check       parse + check of .mix text (dictionary tests/fuzz/mix.dict), seeds: examples/
#                    and tests/check/, for MIXC_FUZZ_SECONDS (default 30);
#   fuzz_import      HF config.json import (+ LCKV strings), seeds tests/import/, half as long;
#   fuzz_safetensors the weights reader, seeds made here;
#   fuzz_jinja       chat templates (runtime/tok/jinja.c), seeds: the chat fixtures' templates;
#   fuzz_tokenizer   texts through the fixture tokenizers, and tokenizer.json files;
#   fuzz_foundry     llm-foundry YAML import (the YAML subset), seeds: tests/import's YAML files;
#   each of the last five a fifth as long as fuzz_check (MIXC_FUZZ_SECONDS, default 30): make test's
#   run is a smoke test beside the sanitizer pass; `make fuzz` runs them for longer.
# First replays tests/fuzz/crashes/* (reproducers of fixed bugs: they must stay fixed) with the
# target their name starts with (import-*, safetensors-*, jinja-*, ..., else check).
# Prints "PASS fuzz... (N runs)" or "FAIL fuzz..." with the reproducer and the sanitizer's report.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECONDS_TO_RUN=${MIXC_FUZZ_SECONDS:-30}
FUZZ_CC=${FUZZ_CC:-clang}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
out=$BUILD/fuzz
bin=$out/fuzz_check
TARGETS="check import safetensors jinja tokenizer foundry"
mkdir -p "$out/gen" "$out/obj" "$out/corpus" "$out/seed" "$out/artifacts"

if ! command -v "$FUZZ_CC" >/dev/null; then
  echo "FAIL fuzz: $FUZZ_CC not found (set FUZZ_CC to a clang with libFuzzer)"
  exit 1
fi

build() {
  local flags="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  local inc="-Icompiler -Itemplates $(for d in compiler/*/ runtime/*/; do printf -- '-I%s ' "${d%/}"; done)-I$out/gen -Iruntime"
  [ "$out/gen/lexer.c" -nt grammar/lexer.l ] ||
    flex --header-file="$out/gen/lexer.h" -o "$out/gen/lexer.c" grammar/lexer.l || return 1
  [ "$out/gen/parser.c" -nt grammar/parser.y ] ||
    bison -Wall -Werror --defines="$out/gen/parser.h" -o "$out/gen/parser.c" grammar/parser.y || return 1
  local objs=() src obj
  # Every compiler source but the driver: each must build; the archive lets the linker take only
  # what parse + check need.
  for src in $(ls compiler/*/*.c | grep -vE '^compiler/cli/(main|build|emit)\.c$') runtime/model/safetensors.c \
             runtime/tok/*.c "$out/gen/lexer.c" "$out/gen/parser.c"; do
    obj=$out/obj/$(basename "$src" .c).o
    if [ ! "$obj" -nt "$src" ] || [ compiler/mixc.h -nt "$obj" ] || [ -n "$(find compiler -name '*.h' -newer "$obj")" ] || [ "$out/gen/parser.h" -nt "$obj" ]; then
      "$FUZZ_CC" $flags -Wno-unused-function $inc -c -o "$obj" "$src" || return 1
    fi
    objs+=("$obj")
  done
  rm -f "$out/libmixc-fuzz.a"
  ar rcs "$out/libmixc-fuzz.a" "${objs[@]}" || return 1
  local t
  for t in $TARGETS; do
    "$FUZZ_CC" $flags -fsanitize=fuzzer $inc -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" "$out/libmixc-fuzz.a" \
      -ljansson -lpcre2-8 -lutf8proc -lm || return 1
  done
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
  grep -E 'ERROR:|SUMMARY:|runtime error|internal error|Test unit written| in .*(compiler|runtime|gen|tests/fuzz)/' "$1" |
    grep -v 'fuzzer::' | head -n 25 | cut -c1-220 | sed 's/^/    /'
}

# Reproducers of past crashes must run clean.
status=0
for f in tests/fuzz/crashes/*; do
  [ -f "$f" ] || continue
  t=$(basename "$f")
  t=${t%%-*}
  case " $TARGETS " in *" $t "*) ;; *) t=check ;; esac
  if ! "$out/fuzz_$t" "$f" >"$out/replay.log" 2>&1; then
    echo "FAIL fuzz-replay/$(basename "$f")"
    report "$out/replay.log"
    echo "    replay: $out/fuzz_$t $f"
    status=1
  else
    echo "PASS fuzz-replay/$(basename "$f")"
  fi
done

# Seeds: the examples and check corpus; the import configs; small safetensors files; the chat
# templates; texts and small tokenizer.json files (the first byte picks, fuzz_tokenizer.c); YAML.
for t in $TARGETS; do mkdir -p "$out/seed-$t"; done
cp examples/*.mix tests/check/*.mix "$out/seed-check/"
cp tests/check/pending/*.mix "$out/seed-check/" 2>/dev/null
find tests/import -name '*.json' -exec cp {} "$out/seed-import/" \;
printf '0_0_1s_1s_3s_3s' >"$out/seed-import/lckv.txt"
python3 - "$out/seed-safetensors" <<'PY'
import json, struct, sys, os
def write(name, tensors):
    header, data = {}, b''
    for tname, dtype, shape, raw in tensors:
        header[tname] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    open(os.path.join(sys.argv[1], name), 'wb').write(struct.pack('<Q', len(h)) + h + data)
write('two.st', [("a", "F32", [2, 2], struct.pack('<4f', 1, 2, 3, 4)), ("b", "BF16", [3], b'\x80\x3f' * 3)])
write('f16.st', [("w", "F16", [1, 4], b'\x00\x3c' * 4), ("e", "F32", [0], b'')])
PY
python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
def write(target, name, data):
    open(os.path.join(out, 'seed-' + target, name), 'wb').write(data)
chat = json.load(open('tests/tokenizer/fixtures/chat_templates.json'))['templates']
for name, src in chat.items():
    write('jinja', name, src.encode())
for path in glob.glob('tests/tokenizer/fixtures/chat/*.jinja'):
    write('jinja', os.path.basename(path), open(path, 'rb').read())
texts = [b'Hello, world!', 'caf\u00e9 \u4e2d\u6587 \U0001f600'.encode(), b'<|endoftext|> x  \n\n 12345', b'\xff\xfe bad']
for i in range(32):   # every family (first byte / 4), with and without special tokens (first byte % 4)
    write('tokenizer', 'text%d' % i, bytes([(i // 2) * 4 + i % 2]) + texts[i % len(texts)])
for path in glob.glob('tests/tokenizer/fixtures/refuse/*.json'):
    write('tokenizer', os.path.basename(path), b'\x03' + open(path, 'rb').read())
accepted = json.load(open('tests/tokenizer/fixtures/refuse/dropout.json'))
accepted['model']['dropout'] = None
write('tokenizer', 'accepted.json', b'\x03' + json.dumps(accepted).encode())
PY
cp tests/foundry/*.yaml "$out/seed-foundry/"
for f in examples/*.mix; do   # the YAML of every example MPT can say
  [ -x "$BUILD/mixc" ] && "$BUILD/mixc" export --foundry "$f" -o "$out/seed-foundry/$(basename "$f" .mix).yaml" 2>/dev/null
done

# fuzz_one TARGET SECONDS DICT_FLAG...: one bounded run; the corpus grows in $out/corpus-TARGET.
fuzz_one() {
  local t=$1 secs=$2 rc runs cov
  shift 2
  mkdir -p "$out/corpus-$t"
  "$out/fuzz_$t" -max_total_time="$secs" "$@" -max_len=4096 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t-" \
    "$out/corpus-$t" "$out/seed-$t" >"$out/fuzz-$t.log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz-$t.log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$out/fuzz-$t.log" | tail -n 1)
  local name=fuzz
  [ "$t" = check ] || name=fuzz-$t
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $name (exit $rc after ${runs:-?} runs)"
    report "$out/fuzz-$t.log"
    echo "    reproducer: $(ls -t "$out"/artifacts/"$t"-* 2>/dev/null | head -n 1)   log: $out/fuzz-$t.log"
    status=1
    return
  fi
  echo "PASS $name (${runs:-?} runs, $cov, ${secs}s)"
}

fifth=$(( (SECONDS_TO_RUN + 4) / 5 ))
fuzz_one check "$SECONDS_TO_RUN" -dict=tests/fuzz/mix.dict
fuzz_one import "${MIXC_FUZZ_IMPORT_SECONDS:-$fifth}" -dict=tests/fuzz/json.dict
fuzz_one safetensors "${MIXC_FUZZ_SAFETENSORS_SECONDS:-$fifth}" -dict=tests/fuzz/json.dict
fuzz_one jinja "${MIXC_FUZZ_JINJA_SECONDS:-$fifth}" -dict=tests/fuzz/jinja.dict
fuzz_one tokenizer "${MIXC_FUZZ_TOKENIZER_SECONDS:-$fifth}" -dict=tests/fuzz/json.dict
fuzz_one foundry "${MIXC_FUZZ_FOUNDRY_SECONDS:-$fifth}"
exit $status
