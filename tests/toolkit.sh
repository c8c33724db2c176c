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

# runnable_layout FILE DIR: FILE (one_shape_layout's), or for a layout with a mixture of experts (which the emu and cuda
# backends do not run yet: they refuse `experts` by name) a copy in DIR without the experts fields, so
# that the suites that run every example on them still run its attention layout, with a dense MLP.
# Prints the path to use.
runnable_layout() {
  set -- "$(one_shape_layout "$1" "$2")" "$2"
  grep -qE '^\s*experts\s*=' "$1" || { echo "$1"; return; }
  mkdir -p "$2"
  sed -E '/^\s*(experts|experts_per_token|router|shared_expert_ffn|moe_bias)\s*=/d' "$1" >"$2/$(basename "$1")"
  echo "$2/$(basename "$1")"
}
