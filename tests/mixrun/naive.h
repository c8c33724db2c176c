/* naive.h — the model of docs/model.md written the plainest way, in double precision: no caches,
 * every layer's K/V kept for all positions, masks applied directly. test_model compares the cpu
 * backend with it. */
#ifndef MIXC_TESTS_NAIVE_H
#define MIXC_TESTS_NAIVE_H

#include "model.h"

/* Logits [T][vocab] of every position of tok[0..T). */
void naive_logits(const Model *mo, const int32_t *tok, int64_t T, float *out);

#endif
