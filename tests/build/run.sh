#!/usr/bin/env bash
# `mixc build`: a specialized binary runs like mixrun on the cpu and emu paths, with nothing
# JIT-compiled at start-up; errors leave nothing behind.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
. tests/toolkit.sh
needs_toolkit build
MIXC=${MIXC:-$BUILD/mixc}
MIXRUN=${MIXRUN:-$BUILD/mixrun}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for l in "$@"; do echo "  $l"; done; fails=$((fails + 1)); }
expect_rc() {  # $1 = name, $2 = expected status, rest = command
  local name=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name" "exit $rc, expected $want" "$(tail -n 5 "$tmp/err")"; fi
}

# A test-size model of the Character.AI layout: sharing, rings smaller than the prompt, GQA 2, and its
# int8 KV cache as written.
ex=examples/character-ai.mix
SETS=(--set hidden=128 --set heads=4 --set kv_heads=2 --set head_dim=64 --set ffn=160 --set vocab=96
      --set context=128 --set chunk=16 --set window=8)
PROMPT=3,1,4,1,5,9,2,6,5,3,5,8,9,7,9,3,2,3,8,4,6,2,6,4,3,3,8,3,2,7,9,5

# ---- command line
expect_rc "build --help exits 0" 0 "$MIXC" build --help
grep -q '^usage: mixc build' "$tmp/out" || fail "build --help prints its usage on stdout"
expect_rc "build: no output is a usage error" 2 "$MIXC" build "$ex"
expect_rc "build: no file is a usage error" 2 "$MIXC" build -o "$tmp/x"
expect_rc "build: unknown arch is a usage error" 2 "$MIXC" build "$ex" -o "$tmp/x" --arch sm_75
expect_rc "build: a malformed --set is a usage error" 2 "$MIXC" build "$ex" -o "$tmp/x" --set hidden
printf 'model "m" {\n layers = 2\n hidden = 64\n heads = 3\n ffn = 8\n vocab = 8\n}\ndefault : global\n' >"$tmp/bad.mix"
expect_rc "build: an invalid layout exits 1" 1 "$MIXC" build "$tmp/bad.mix" -o "$tmp/bad"
grep -q "bad.mix:.*error:" "$tmp/err" && [ ! -e "$tmp/bad" ] && pass "build: located diagnostics, no output" ||
  fail "build: invalid layout" "$(head -n 3 "$tmp/err")"
expect_rc "build: kernels that cannot be generated exit 1" 1 "$MIXC" build "$ex" -o "$tmp/fp16kv" --set kv_dtype=fp16 --no-emu
grep -q "kv_dtype fp16 is not supported by the kernels" "$tmp/err" && [ ! -e "$tmp/fp16kv" ] &&
  pass "build: says why (an fp16 cache in a bf16 model), no output" || fail "build: fp16 cache" "$(head -n 3 "$tmp/err")"
MIXC_LIBDIR=$tmp/nowhere "$MIXC" build "$ex" "${SETS[@]}" -o "$tmp/nolib" --no-emu >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "cannot find the runtime library" "$tmp/err" && [ ! -e "$tmp/nolib" ] &&
  pass "build: a missing runtime library is a clear error" || fail "build: missing runtime library" "exit $rc" "$(cat "$tmp/err")"
CC=false "$MIXC" build "$ex" "${SETS[@]}" -o "$tmp/nocc" --no-emu >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q "failed" "$tmp/err" && [ -z "$(ls "$tmp" | grep nocc)" ] &&
  pass "build: a failing compiler leaves nothing behind" || fail "build: failing compiler" "exit $rc" "$(ls "$tmp")"

# The compilers run in a process group of their own (compiler/base/child.c), not the terminal's
# foreground one: with SIGTTOU ignored, a compiler that writes to a terminal set to `tostop` is not
# stopped (else mixc would wait for ever). Under a pseudo-terminal from script(1).
printf '#!/bin/sh\necho "cc-wrapper: a warning of the C compiler" >&2\nexec cc "$@"\n' >"$tmp/noisy-cc"
chmod +x "$tmp/noisy-cc"
if script -qec true /dev/null >/dev/null 2>&1; then
  CC=$tmp/noisy-cc timeout 120 script -qec "stty tostop; '$MIXC' build '$ex' ${SETS[*]} -o '$tmp/tty' --no-emu" \
    /dev/null >"$tmp/tty.out" 2>&1 </dev/null
  rc=$?
  [ $rc -eq 0 ] && [ -x "$tmp/tty" ] && [ "$(grep -c 'cc-wrapper: a warning' "$tmp/tty.out")" -eq 2 ] &&
    pass "build: on a tostop terminal, the compilers' output is shown and nothing stops" ||
    fail "build: tostop terminal" "exit $rc" "$(tail -n 5 "$tmp/tty.out")"
  rm -f "$tmp/tty"
else
  echo "SKIP build: tostop terminal (script(1) cannot make a pseudo-terminal here)"
fi

# ---- a binary without emulator kernels: the cpu path
bin=$tmp/cai
if "$MIXC" build "$ex" "${SETS[@]}" -o "$bin" --no-emu 2>"$tmp/build.err" && [ -x "$bin" ]; then
  pass "build --no-emu writes an executable"
else
  fail "build --no-emu" "$(tail -n 5 "$tmp/build.err")"
fi
expect_rc "built binary: --info" 0 "$bin" --info
grep -q 'overrides: hidden=128 ' "$tmp/out" && grep -q 'cuda kernels: sm_90 cubin, [1-9][0-9]* bytes' "$tmp/out" &&
  pass "built binary: --info names the overrides and the cubin" || fail "built binary --info" "$(cat "$tmp/out")"
expect_rc "built binary: --help" 0 "$bin" --help
head -n 1 "$tmp/out" | grep -q '^usage: cai (--weights F | --random-weights SEED)$' && grep -q '^       cai --info$' "$tmp/out" &&
  ! grep -q -- '^  --layout\|^  --set' "$tmp/out" && grep -q -- '^  --info' "$tmp/out" &&
  pass "built binary: --help shows its own name, --info, and no --layout or --set" ||
  fail "built binary: --help" "$(head -n 20 "$tmp/out")"
expect_rc "built binary: --layout is refused" 2 "$bin" --layout "$ex" --random-weights 1 --tokens 1
grep -q "^cai: unknown option '--layout'" "$tmp/err" && pass "built binary: --layout is an unknown option of its own" ||
  fail "built binary: --layout message" "$(cat "$tmp/err")"
expect_rc "built binary: a bad token id" 1 "$bin" --random-weights 1 --tokens 1,x
grep -q "^cai: --tokens: 'x' is not a token id" "$tmp/err" && pass "built binary: its errors begin with its own name, not mixrun's" ||
  fail "built binary: error prefix" "$(cat "$tmp/err")"
expect_rc "built binary: --set is refused" 2 "$bin" --set hidden=64 --random-weights 1 --tokens 1
expect_rc "built binary: no emulator kernels, --backend emu exits 2" 2 "$bin" --random-weights 1 --tokens 1 --backend emu
grep -q -- "--no-emu" "$tmp/err" && pass "built binary: says it was built with --no-emu" || fail "built binary emu message" "$(cat "$tmp/err")"

run_pair() {  # $1 = name, $2 = backend, rest: env for the built binary; mixrun takes REF_ARGS too
  local name=$1 backend=$2
  shift 2
  "$MIXRUN" --layout "$ex" "${SETS[@]}" --random-weights 7 --tokens $PROMPT --max-new 12 --backend "$backend" \
    --dump-logits "$tmp/ref.npy" "${REF_ARGS[@]}" >"$tmp/ref.out" 2>"$tmp/ref.err"
  env "$@" "$bin" --random-weights 7 --tokens $PROMPT --max-new 12 --backend "$backend" \
    --dump-logits "$tmp/got.npy" >"$tmp/got.out" 2>"$tmp/got.err"
  if [ -s "$tmp/ref.out" ] && cmp -s "$tmp/ref.out" "$tmp/got.out" && cmp -s "$tmp/ref.npy" "$tmp/got.npy"; then
    pass "$name: the same tokens and bit-identical logits as mixrun"
  else
    fail "$name" "mixrun: $(cat "$tmp/ref.out" "$tmp/ref.err" | head -n 3)" "built: $(cat "$tmp/got.out" "$tmp/got.err" | head -n 3)"
  fi
}
REF_ARGS=()
run_pair "built binary, cpu" cpu

# The built binary serves HTTP as `mixrun serve` does (runtime/http; tests/http covers the server).
if command -v curl >/dev/null && command -v jq >/dev/null; then
  "$bin" serve --random-weights 7 --backend cpu --port 0 2>"$tmp/serve.err" &
  spid=$!
  port=
  for _ in $(seq 300); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$tmp/serve.err" 2>/dev/null)
    [ -n "$port" ] || ! kill -0 $spid 2>/dev/null && break
    sleep 0.1
  done
  want=$("$MIXRUN" --layout "$ex" "${SETS[@]}" --random-weights 7 --tokens $PROMPT --max-new 12 --backend cpu 2>/dev/null)
  got=$(curl -s --max-time 60 "http://127.0.0.1:$port/v1/completions" \
    -d "{\"prompt\": [$PROMPT], \"max_tokens\": 12, \"temperature\": 0}" | jq -r '.choices[0].token_ids | map(tostring) | join(",")')
  kill -TERM $spid
  wait $spid
  rc=$?
  [ -n "$want" ] && [ "$got" = "$want" ] && [ $rc -eq 0 ] && pass "built binary: serve answers as mixrun runs, exits 0 on SIGTERM" ||
    fail "built binary: serve" "served '$got', mixrun '$want', exit $rc" "$(tail -n 3 "$tmp/serve.err")"
fi

# ---- with emulator kernels: the emu path, no compiler and no JIT cache at start-up
bin=$tmp/cai-emu
mkdir -p "$tmp/build-cache"
if MIXC_CACHE_DIR=$tmp/build-cache "$MIXC" build "$ex" "${SETS[@]}" -o "$bin" 2>"$tmp/build.err" && [ -x "$bin" ]; then
  pass "build writes an executable with emulator kernels"
  # a second build takes them from the cache entry the first compiled them into, as a run would
  if MIXC_CACHE_DIR=$tmp/build-cache "$MIXC" build "$ex" "${SETS[@]}" -o "$tmp/cai-emu-2" 2>"$tmp/build2.err" &&
     grep -q "^mixc build: emulator kernels: [0-9]* bytes (from the cache)$" "$tmp/build2.err" &&
     ! grep -q "(from the cache)" "$tmp/build.err" && cmp -s "$bin" "$tmp/cai-emu-2"; then
    pass "build: a second build of the layout copies the emulator kernels from the cache, the same binary"
  else fail "build: the emulator kernels from the cache" "$(tail -n 4 "$tmp/build2.err")"; fi
  # a damaged entry is compiled again into the cache, not copied into the binary
  for so in "$tmp/build-cache"/emu-*.so; do echo "not a shared object" >"$so"; done
  if MIXC_CACHE_DIR=$tmp/build-cache "$MIXC" build "$ex" "${SETS[@]}" -o "$tmp/cai-emu-3" 2>"$tmp/build3.err" &&
     grep -q "warning: emu cache entry '.*' is damaged (checksum mismatch); recompiling" "$tmp/build3.err" &&
     ! grep -q "(from the cache)" "$tmp/build3.err" &&
     MIXC_CACHE_DIR=$tmp/build-cache "$MIXC" build "$ex" "${SETS[@]}" -o "$tmp/cai-emu-4" 2>"$tmp/build4.err" &&
     grep -q "(from the cache)" "$tmp/build4.err" && cmp -s "$tmp/cai-emu-3" "$tmp/cai-emu-4"; then
    pass "build: a damaged cache entry of the emulator kernels is compiled again, into the cache"
  else fail "build: a damaged emulator kernels' entry" "$(tail -n 4 "$tmp/build3.err")"; fi
  mkdir -p "$tmp/cache"
  run_pair "built binary, emu (no compiler, empty cache)" emu MIXC_CXX=/bin/false CXX=/bin/false \
    MIXC_CACHE_DIR="$tmp/cache"
  [ -z "$(ls -A "$tmp/cache")" ] && pass "built binary, emu: nothing compiled or cached at start-up" ||
    fail "built binary wrote to the JIT cache" "$(ls -A "$tmp/cache")"
  # its prebuilt kernels are unpaged: --page-tokens is refused by name (the cpu backend pages)
  expect_rc "built binary, emu: --page-tokens with the prebuilt kernels exits 2" 2 "$bin" --random-weights 1 --tokens 1 \
    --backend emu --page-tokens 4
  grep -q -- "--page-tokens is not supported with the emu backend's prebuilt kernels" "$tmp/err" &&
    pass "built binary, emu: says its prebuilt kernels are unpaged" || fail "built binary, emu: --page-tokens message" "$(cat "$tmp/err")"
else
  fail "build with emulator kernels" "$(tail -n 5 "$tmp/build.err")"
fi

# ---- paged kernels (--page-tokens 8): the binary runs paged by default, on every backend, as mixrun
# --page-tokens 8 does; other pages are refused on the backends of its prebuilt kernels
bin=$tmp/cai-paged
expect_rc "build: pages longer than the context exit 1" 1 "$MIXC" build "$ex" "${SETS[@]}" -o "$bin" --page-tokens 129 --no-emu
grep -q "mixc build: --page-tokens 129: a page of 129 tokens is longer than the context (128 tokens)" "$tmp/err" &&
  [ ! -e "$bin" ] && pass "build: says why the pages do not fit, no output" || fail "build: long pages" "$(cat "$tmp/err")"
if "$MIXC" build "$ex" "${SETS[@]}" -o "$bin" --page-tokens 8 2>"$tmp/build.err" && [ -x "$bin" ]; then
  expect_rc "built binary, paged: --info" 0 "$bin" --info
  grep -qx 'paged caches: pages of 8 tokens (the kernels'"'"', the default --page-tokens)' "$tmp/out" &&
    pass "built binary, paged: --info names its pages" || fail "built binary, paged: --info" "$(cat "$tmp/out")"
  REF_ARGS=(--page-tokens 8)
  run_pair "built binary, paged kernels, emu (paged by default)" emu MIXC_CXX=/bin/false CXX=/bin/false \
    MIXC_CACHE_DIR="$tmp/cache"
  run_pair "built binary, paged kernels, cpu (paged by default)" cpu
  REF_ARGS=()
  expect_rc "built binary, paged: other pages on emu exit 2" 2 "$bin" --random-weights 1 --tokens 1 --backend emu \
    --page-tokens 16
  grep -q "the emu backend's prebuilt kernels take pages of 8 tokens (built so), not 16" "$tmp/err" &&
    pass "built binary, paged: says which pages its kernels take" || fail "built binary, paged: other pages" "$(cat "$tmp/err")"
  printf '{"id": "a", "prompt_tokens": [%s], "max_new_tokens": 4}\n{"id": "b", "prompt_tokens": [%s,7], "max_new_tokens": 4}\n' \
    "$PROMPT" "$PROMPT" >"$tmp/req.jsonl"
  expect_rc "built binary, paged: serves requests in a pool given alone (--pool-pages)" 0 "$bin" --random-weights 7 \
    --requests "$tmp/req.jsonl" --pool-pages 12 --json --backend emu
  jq -e '.summary | .pool_pages == 12 and .pages_shared == 4' "$tmp/out" >/dev/null &&
    pass "built binary, paged: a pool of 12 pages, b takes a's 4 whole pages shared" ||
    fail "built binary, paged: served" "$(jq -c .summary "$tmp/out" 2>&1 | head -c 400)"
  expect_rc "built binary, paged: serves on cpu" 0 "$bin" --random-weights 7 --requests "$tmp/req.jsonl" --json --backend cpu
  jq -e '.summary.pool_pages > 0' "$tmp/out" >/dev/null && pass "built binary, paged: the cpu backend pages too by default" ||
    fail "built binary, paged: cpu default" "$(jq -c .summary "$tmp/out" 2>&1 | head -c 400)"
else
  fail "build --page-tokens 8" "$(tail -n 5 "$tmp/build.err")"
fi

[ $fails -eq 0 ]
