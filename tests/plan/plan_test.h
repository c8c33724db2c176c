/* plan_test.h — what the planner's test programs share (test_plan.c, test_fusion.c): the CHECK and
 * REPORT macros (tests/check.h) and layouts built in C, so the tests do not depend on the parser. */
#ifndef MIXC_TESTS_PLAN_TEST_H
#define MIXC_TESTS_PLAN_TEST_H

#include "plan.h"
#include "run_plan.h"

#include <stdio.h>
#include <string.h>

#include "../check.h"

/* ---------------------------------------------------------------- layouts built in C */

/* windows[i] (0 = global) and reads[i] (the owner; i for owners) for n layers. */
static inline void make_layout(Layout *l, int n, const int64_t *windows, const int *reads) {
    memset(l, 0, sizeof *l);
    model_header_defaults(&l->model);
    ModelHeader *m = &l->model;
    m->name = xstrdup("test");
    m->layers = n;
    m->hidden = 256;
    m->heads = 8;
    m->kv_heads = 2;
    m->head_dim = 32;
    m->ffn = 512;
    m->vocab = 1000;
    m->kv_dtype = DT_BF16;
    m->context = 4096;
    m->chunk = 256;
    l->nlayers = n;
    l->layer = xcalloc((size_t)n, sizeof(LayerInfo));
    for (int i = 0; i < n; i++) {
        l->layer[i].index = i;
        l->layer[i].window = windows[i];
        l->layer[i].reads = reads[i];
    }
    layout_build_caches(l);
}

#endif
