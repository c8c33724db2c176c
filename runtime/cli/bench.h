/* bench.h — mixrun's prefill in chunks and its --bench (bench.c; docs/model.md). */
#ifndef MIXC_BENCH_H
#define MIXC_BENCH_H

#include "backend.h"

/* Prefills sequence seq in chunks. logits: [n][vocab] when all, else [vocab] (the last). */
bool prefill_all(Backend *b, int seq, const int32_t *t, int64_t n, float *logits, bool all);
/* --bench: B (the backend's slots) sequences of L prompt tokens, then G decode steps; prints the
 * tokens/s and memory (JSON with json). The exit status. */
int bench(Backend *b, const int32_t *prompt, int64_t L, int64_t G, bool json);
/* Deterministic bench prompts: B x L ids (the `given` prompt repeated, else splitmix-random). */
int32_t *bench_prompts(const int32_t *given, int64_t ngiven, int64_t B, int64_t L, int64_t vocab);

#endif
