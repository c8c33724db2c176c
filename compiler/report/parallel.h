/* parallel.h — `mixc report --tp N --pp M`: what one GPU holds when the model is split across
 * several, as vLLM splits a Llama-style model (docs/report.md, "Several GPUs"). */
#ifndef MIXC_PARALLEL_H
#define MIXC_PARALLEL_H

#include "plan.h"

/* floor((memory - weights - arena) / per_sequence), 0 when nothing fits: the most sequences one
 * GPU holds (the single-GPU report and each stage here). */
int64_t gpu_max_sequences(int64_t memory, int64_t weights, int64_t arena, int64_t per_sequence);

typedef struct {
    int first_layer, end_layer; /* [first_layer, end_layer) */
    int ncaches;                /* caches whose owner is on this stage */
    WeightsPlan weights;        /* per rank */
    int64_t *kv_bytes;          /* [ncontexts]: per sequence, per rank */
    int64_t *max_sequences;     /* [ncontexts]: per GPU of the stage; -1 without a GPU or without KV */
} StagePlan;

typedef struct {                /* a layer reading a cache that lives on an earlier stage */
    int cache, owner, owner_stage, reader, reader_stage;
} CrossStageRead;

typedef struct {
    int64_t tp, pp;
    int64_t heads, kv_heads, kv_replicas, ffn, vocab_padded, vocab_rows;   /* per rank */
    int ncontexts;
    const int64_t *contexts;
    int nstages;
    StagePlan *stage;
    int ncross;
    CrossStageRead *cross;
    const char *gpu_name;       /* NULL without --gpu */
    int64_t gpu_bytes;
    int64_t *max_sequences;     /* [ncontexts]: the least over the stages (with a GPU) */
    int *binding;               /* [ncontexts]: the stage that sets it */
} ParallelPlan;

/* Plans every stage at each context. 0 ok; 2 when tp or pp cannot split this model (err says
 * why, naming the numbers); 1 when a figure overflows 2^62. Free with parallel_free in every case. */
int parallel_plan(const Layout *l, int64_t tp, int64_t pp, int64_t chunk, const int64_t *contexts, int ncontexts,
                  ParallelPlan *out, char *err, size_t errsize);
/* The GPU fit of each stage, with the arena at each context (counted whole on every GPU). */
void parallel_fit(ParallelPlan *p, const char *gpu_name, int64_t gpu_bytes, const int64_t *arena_bytes);
void parallel_text(Buf *b, const Layout *l, const ParallelPlan *p);
/* A WeightsPlan as the report's JSON writes it (its "weights", and each stage's). */
void weights_json(JsonWriter *w, const WeightsPlan *p);
/* The value of the report's member "parallel". */
void parallel_json(JsonWriter *w, const ParallelPlan *p);
void parallel_free(ParallelPlan *p);

#endif
