#!/usr/bin/env bash
# Unit tests of the compiler core (arena, files, arithmetic, layout builder and verifier).
set -u
BUILD=${BUILD:-build}
exec "$BUILD/tests/unit/test_core"
