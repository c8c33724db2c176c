/* bench.h — mixrun's prefill in chunks and its --bench (bench.c; docs/model.md). */
#ifndef MIXC_BENCH_H
#define MIXC_BENCH_H

#include "backend.h"
#include "progress.h"

/* Prefills sequence seq in chunks. logits (may be NULL): [n][vocab] when all, else [vocab] (the last).
 * pick (may be NULL): the greedy token after the prompt (mixc_argmax's code), by the last chunk's
 * prefill_argmax (on the cuda backend the device's argmax: 4 bytes back unless logits are asked).
 * progress (may be NULL) counts the tokens of each chunk done. */
bool prefill_all(Backend *b, int seq, const int32_t *t, int64_t n, float *logits, bool all, int32_t *pick,
                 Progress *progress);
/* --bench: B (the backend's slots) sequences of L prompt tokens, then G decode steps; prints the
 * tokens/s and memory (JSON with json). The exit status. */
int bench(Backend *b, const int32_t *prompt, int64_t L, int64_t G, bool json);
/* Deterministic bench prompts: B x L ids (the `given` prompt repeated, else splitmix-random). */
int32_t *bench_prompts(const int32_t *given, int64_t ngiven, int64_t B, int64_t L, int64_t vocab);

#endif
