/* sample_bench.c — what `mixrun serve` spends on the host per token at a real vocabulary (Llama 3's
 * 128,256 ids), measured in one run. These run on the engine thread, between the backend's steps:
 * a draw for each sampled sequence, a token's log-probabilities for each generated id that asks
 * them and for each row of an echoed prompt's. Each figure is the median of 31 rows of random
 * logits, in ms and as a ratio to one pass of argmax over the row; then an echoed prompt's chunk of
 * 256 rows, by token_logprobs_rows (the cores' threads) against one row after another. Never fails
 * on a figure.
 *
 *   sample_bench [VOCAB]
 */
#include "model.h"
#include "progress.h"
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { ROWS = 31 };

typedef struct {
    const char *name;
    SampleParams draw;      /* temperature 0: token_logprobs with `top` alternatives instead */
    int top;
} Case;

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Logits about normal (a sum of four uniforms), spread over [-12, 12]. */
static void fill(float *logits, int64_t vocab, uint64_t *state) {
    for (int64_t i = 0; i < vocab; i++) {
        double u = 0;
        for (int k = 0; k < 4; k++) u += (double)(splitmix64(state) >> 11) * 0x1.0p-53;
        logits[i] = (float)((u - 2) * 6);
    }
}

/* The median ms of one case over ROWS rows (c NULL: argmax). */
static double measure(const Case *c, SampleScratch *s, float *logits, int64_t vocab) {
    double ms[ROWS];
    uint64_t state = 1, draws = 2;
    volatile int64_t sink = 0;
    for (int r = 0; r < ROWS; r++) {
        fill(logits, vocab, &state);
        TokenLogprobs lp;
        double t0 = mono_seconds();
        if (!c) sink += model_greedy_token(logits, vocab);
        else if (c->draw.temperature > 0) sink += sample_token(s, logits, &c->draw, &draws);
        else token_logprobs(logits, vocab, r, c->top, &lp), sink += lp.ntop;
        ms[r] = (mono_seconds() - t0) * 1e3;
    }
    qsort(ms, ROWS, sizeof *ms, by_value);
    return ms[ROWS / 2];
}

/* 256 rows' log-probabilities with 5 alternatives: token_logprobs_rows against a loop. */
static void chunk(int64_t vocab) {
    enum { N = 256 };
    float *rows = xcalloc((size_t)N * (size_t)vocab, sizeof *rows);
    uint64_t state = 3;
    for (int r = 0; r < N; r++) fill(rows + r * vocab, vocab, &state);
    int32_t ids[N];
    for (int r = 0; r < N; r++) ids[r] = (int32_t)(r * 7 % vocab);
    TokenLogprobs *out = xcalloc(N, sizeof *out);
    double t0 = mono_seconds();
    for (int r = 0; r < N; r++) token_logprobs(rows + r * vocab, vocab, ids[r], 5, &out[r]);
    double one = mono_seconds() - t0;
    bool nan;
    t0 = mono_seconds();
    int64_t bad = token_logprobs_rows(rows, N, vocab, ids, 5, out, &nan);
    double split = mono_seconds() - t0;
    printf("an echoed prompt's %d rows: %.1f ms a row after another, %.1f ms split over %ld cores (%.1fx)%s\n", N,
           one * 1e3, split * 1e3, sysconf(_SC_NPROCESSORS_ONLN), split > 0 ? one / split : 0, bad >= 0 ? " (a row failed)" : "");
    free(out);
    free(rows);
}

int main(int argc, char **argv) {
    int64_t vocab = argc > 1 ? strtoll(argv[1], NULL, 10) : 128256;
    if (vocab < 2 || vocab > (1 << 24)) {
        fprintf(stderr, "usage: sample_bench [VOCAB in 2..2^24]\n");
        return 2;
    }
    static const Case cases[] = {
        {"draw, temperature 1", {.temperature = 1, .top_p = 1}, 0},
        {"draw, top_p 0.9", {.temperature = 1, .top_p = 0.9}, 0},
        {"draw, top_k 50", {.temperature = 1, .top_k = 50, .top_p = 1}, 0},
        {"draw, min_p 0.05", {.temperature = 1, .min_p = 0.05, .top_p = 1}, 0},
        {"logprobs, no alternative", {0}, 0},
        {"logprobs, 20 alternatives", {0}, 20},
    };
    float *logits = xcalloc((size_t)vocab, sizeof *logits);
    SampleScratch s;
    sample_scratch_init(&s, vocab);
    double argmax = measure(NULL, &s, logits, vocab);
    printf("host costs a token at vocab %lld (median of %d rows)\n", (long long)vocab, ROWS);
    printf("  %-28s %8.3f ms\n", "argmax", argmax);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double t = measure(&cases[i], &s, logits, vocab);
        printf("  %-28s %8.3f ms  %6.1fx argmax\n", cases[i].name, t, argmax > 0 ? t / argmax : 0);
    }
    sample_scratch_free(&s);
    free(logits);
    chunk(vocab);
    return 0;
}
