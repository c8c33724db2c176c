# tests/toolkit.sh — sourced by the suites: was $BUILD built with the CUDA toolkit? (The Makefile
# writes yes or no into $BUILD/toolkit.) Without it mixc and mixrun run everything but what needs the
# toolkit (docs/jit.md, "Without the toolkit"), and the suites of that part skip, saying so.

# The kernels' cache of the suites' cuda-backend runs and of the emulated kernels they share
# (tests/cuda with its --emu-so builds, serve, mixrun's example checks): $BUILD's, or the one
# tests/run-all.sh names for both its passes. Entries are keyed by the kernels' source, options and
# compiler (the sanitizer build's emulated kernels are compiled with its flags: entries of their
# own); the cold path has suites of its own (jit, build), each in an empty cache.
TEST_JIT_CACHE=${MIXC_TEST_JIT_CACHE:-${BUILD:-build}/tests/cuda/jit-cache}

# True when $BUILD holds the toolkit's part.
have_toolkit() { [ "$(cat "${BUILD:-build}/toolkit" 2>/dev/null)" = yes ]; }

# needs_toolkit WHAT: prints "SKIP WHAT: needs the CUDA toolkit ..." and exits 0 when $BUILD lacks it.
needs_toolkit() {
  have_toolkit && return 0
  echo "SKIP $1: needs the CUDA toolkit (${BUILD:-build} was built without it)"
  exit 0
}

# sanitized BIN: BIN was built with AddressSanitizer (the sanitizer pass of tests/run-all.sh), where
# the suites leave out some of their slowest repeats, each saying so.
sanitized() { nm "$1" 2>/dev/null | grep -q __asan_init; }

# has_own_shapes FILE: some kind of FILE gives its own kv_heads or head_dim (per-layer KV shapes).
has_own_shapes() { grep -qE '^\s*attention\s.*\s(kv_heads|head_dim)\s+[0-9]' "$1"; }

# kernel_shapes FILE DIR: FILE, or for a layout with a kind's own head_dim above 512 (the kernels'
# largest, PREFILL_MAX_HD: emit, emu and cuda refuse it by name, the cpu backend runs it) a copy in
# DIR/kernel-shapes with that head_dim 512: the kinds keep shapes of their own (their kv_heads,
# groups), now ones the kernels take. Every example's shapes are the kernels' today.
kernel_shapes() {
  has_own_shapes "$1" || { echo "$1"; return; }
  mkdir -p "$2/kernel-shapes"
  local out=$2/kernel-shapes/$(basename "$1")
  perl -pe 's/(\shead_dim\s+)(\d+)/$1 . ($2 > 512 ? 512 : $2)/ge if /^\s*attention\s/' "$1" >"$out"
  if cmp -s "$1" "$out"; then echo "$1"; else echo "$out"; fi
}

# moe_test_sets FILE [EXPERTS]: the test size of the other MLPs of a layout with experts: for a shared
# expert, its width (shared_expert_ffn 128, the experts' ffn at test size: Llama 4's 8192 would make it
# 64 times the routed experts' work in every layer); for experts on some layers only (moe_step), its
# dense layers' width (dense_ffn 192) and, given, the number of its experts (Maverick's 128 at test
# size would still be 600 MB of fp32 weights); nothing otherwise.
moe_test_sets() {
  grep -qE '^\s*shared_expert_ffn\s*=' "$1" && echo --set shared_expert_ffn=128
  grep -qE '^\s*moe_step\s*=' "$1" || return 0
  echo --set dense_ffn=192 ${2:+--set experts=$2}
}
# comparable_layout FILE DIR: FILE, or for a layout with a mixture of experts a copy in DIR in which
# every token runs every expert (experts = experts_per_token = 4), for the suites that compare the
# emu or cuda backend's logits with the cpu backend's through every layer of an example. With fewer
# experts chosen than there are, two router logits closer than the bf16 roundings (about 1 in 100
# choices at test size) pick another expert on one side, and another expert is another function: the
# logits then differ by far more than any rounding tolerance. The top-k choice itself is checked on
# the same logits (tests/kernels, kt-m*), end to end over two layers (tests/mixrun, moe.mix), and on
# the examples as they are with the cpu backend replaying emu's choices (tests/mixrun,
# MIXC_ROUTE_REPLAY).
# A layout with per-layer KV shapes keeps them, at head_dims the kernels take (kernel_shapes).
# Prints the path to use.
comparable_layout() {
  set -- "$(kernel_shapes "$1" "$2")" "$2"
  grep -qE '^\s*experts\s*=' "$1" || { echo "$1"; return; }
  mkdir -p "$2"
  sed -E -e 's/^(\s*experts\s*=\s*)[0-9]+/\14/' -e 's/^(\s*experts_per_token\s*=\s*)[0-9]+/\14/' "$1" >"$2/$(basename "$1")"
  echo "$2/$(basename "$1")"
}
