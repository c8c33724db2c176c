#!/usr/bin/env bash
# The planner's unit and property tests (C; test_fusion: the fused projections and their loading), then an independent recomputation of every example's
# KV bytes from the layer list (kv_formula.py).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MIXC=${MIXC:-$BUILD/mixc}
rc=0
"$BUILD/tests/plan/test_plan" || rc=1
"$BUILD/tests/plan/test_fusion" || rc=1
python3 tests/plan/kv_formula.py "$MIXC" examples/*.mix tests/report/cases/*.mix || rc=1
exit $rc
