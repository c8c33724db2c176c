/* report.h — what `mixc report` and `mixc compare` hold of a layout (report.c plans the figures,
 * report_text.c writes the report's text). Private to compiler/report. */
#ifndef MIXC_REPORT_H
#define MIXC_REPORT_H

#include "parallel.h"
#include "plan.h"

typedef struct {
    const char *name;       /* "h100", or the number as given */
    int64_t memory_bytes;
} Gpu;

typedef struct {
    int64_t bytes;          /* the arena: one buffer serves decode steps and prefill chunks */
    int64_t lower_bound, naive;
    int64_t decode, decode_lb, decode_naive;
    int64_t prefill, prefill_lb, prefill_naive;
    int decode_tensors, prefill_tensors;
} ArenaFigures;

typedef struct {
    KvPlan kv;
    ArenaFigures arena, standard_arena;
    /* -1 without a GPU */
    int64_t max_sequences, standard_max_sequences, unexploited_max_sequences;
} ContextFigures;

typedef struct {
    const char *path;
    Layout l;
    int64_t chunk, batch;
    WeightsPlan weights, standard_weights;
    int ncontexts;
    int64_t *contexts;      /* points into Options or at l.model.context */
    ContextFigures *ctx;
    const Gpu *gpu;         /* NULL without --gpu */
    bool parallel;          /* --tp or --pp given: par is planned */
    ParallelPlan par;
} Report;

/* a / b, 0 when b is 0: the savings the report and compare print. */
static inline double ratio(int64_t a, int64_t b) {
    return b ? (double)a / (double)b : 0.0;
}

/* The report's text: the header, layers, caches, KV per sequence, weights, arena, the GPU's
 * sequences and, with --tp/--pp, each stage's. */
void report_text(Buf *b, const Report *r);

#endif
