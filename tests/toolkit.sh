# tests/toolkit.sh — sourced by the suites: was $BUILD built with the CUDA toolkit? (The Makefile
# writes yes or no into $BUILD/toolkit.) Without it mixc and mixrun run everything but what needs the
# toolkit (docs/jit.md, "Without the toolkit"), and the suites of that part skip, saying so.

# True when $BUILD holds the toolkit's part.
have_toolkit() { [ "$(cat "${BUILD:-build}/toolkit" 2>/dev/null)" = yes ]; }

# needs_toolkit WHAT: prints "SKIP WHAT: needs the CUDA toolkit ..." and exits 0 when $BUILD lacks it.
needs_toolkit() {
  have_toolkit && return 0
  echo "SKIP $1: needs the CUDA toolkit (${BUILD:-build} was built without it)"
  exit 0
}

# one_shape_layout FILE DIR: FILE, or for a layout whose kinds give their own kv_heads or head_dim
# (which the kernels do not take yet: emit, emu and cuda refuse them by name; the cpu backend runs
# them) a copy in DIR/one-shape with those properties removed, every layer of the header's shape.
one_shape_layout() {
  grep -qE '^\s*attention\s.*\s(kv_heads|head_dim)\s+[0-9]' "$1" || { echo "$1"; return; }
  mkdir -p "$2/one-shape"
  sed -E '/^\s*attention\s/ s/\s+(kv_heads|head_dim)\s+[0-9]+//g' "$1" >"$2/one-shape/$(basename "$1")"
  echo "$2/one-shape/$(basename "$1")"
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
# A layout with per-layer KV shapes is first made one-shaped (one_shape_layout).
# Prints the path to use.
comparable_layout() {
  set -- "$(one_shape_layout "$1" "$2")" "$2"
  grep -qE '^\s*experts\s*=' "$1" || { echo "$1"; return; }
  mkdir -p "$2"
  sed -E -e 's/^(\s*experts\s*=\s*)[0-9]+/\14/' -e 's/^(\s*experts_per_token\s*=\s*)[0-9]+/\14/' "$1" >"$2/$(basename "$1")"
  echo "$2/$(basename "$1")"
}
