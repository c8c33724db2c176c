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
