/* sample_bench.c — what `mixrun serve` spends on the host per token at a real vocabulary (Llama 3's
 * 128,256 ids), measured in one run. These run on the engine thread, between the backend's steps:
 * a draw for each sampled sequence, a token's log-probabilities for each generated id that asks
 * them and for each row of an echoed prompt's. Each figure is the median of 31 rows of random
 * logits, in ms and as a ratio to one pass of argmax over the row; then an echoed prompt's chunk of
 * 256 rows, by token_logprobs_rows (the cores' threads) against one row after another; and a
 * decode step's 8 draws, in shares over the threads (the engine's picks) against one after another.
 * Never fails on a figure.
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
    printf("an echoed prompt's %d rows: %.1f ms a row after another, %.1f ms split over %d threads (%.1fx)%s\n", N,
           one * 1e3, split * 1e3, sample_threads(), split > 0 ? one / split : 0, bad >= 0 ? " (a row failed)" : "");
    free(out);
    free(rows);
}

/* A decode step's draws (top_p 0.9), each with a scratch of its share's. */
typedef struct {
    const float *rows;
    int64_t vocab;
    SampleScratch *scratch;
    uint64_t *state;
    int32_t *tok;
} Draws;

static void draws_share(void *ctx, int64_t lo, int64_t hi, int share) {
    Draws *d = ctx;
    SampleParams p = {.temperature = 1, .top_p = 0.9};
    for (int64_t i = lo; i < hi; i++) d->tok[i] = sample_token(&d->scratch[share], d->rows + i * d->vocab, &p, &d->state[i]);
}

/* A decode step of 8 sampled sequences (the engine's picks): one after another against in shares
 * over the threads (sample_shares, as serve_engine_step does), the median of ROWS steps each; the
 * tokens must be the same. */
static void step(int64_t vocab) {
    enum { N = 8 };
    int threads = sample_threads() < N ? sample_threads() : N;
    float *rows = xcalloc((size_t)N * (size_t)vocab, sizeof *rows);
    SampleScratch scratch[SAMPLE_MAX_THREADS];
    for (int k = 0; k < threads; k++) sample_scratch_init(&scratch[k], vocab);
    uint64_t fill_state = 5, a_state[N], b_state[N];
    int32_t a_tok[N], b_tok[N];
    double one[ROWS], split[ROWS];
    bool same = true;
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < N; i++) fill(rows + i * vocab, vocab, &fill_state), a_state[i] = b_state[i] = (uint64_t)(r * N + i);
        Draws a = {rows, vocab, scratch, a_state, a_tok}, b = {rows, vocab, scratch, b_state, b_tok};
        double t0 = mono_seconds();
        draws_share(&a, 0, N, 0);
        one[r] = mono_seconds() - t0;
        t0 = mono_seconds();
        sample_shares(N, threads, draws_share, &b);
        split[r] = mono_seconds() - t0;
        for (int i = 0; i < N; i++) same = same && a_tok[i] == b_tok[i];
    }
    qsort(one, ROWS, sizeof *one, by_value);
    qsort(split, ROWS, sizeof *split, by_value);
    printf("a decode step's %d draws (top_p 0.9): %.2f ms one after another, %.2f ms in shares over %d threads (%.1fx)%s\n",
           N, one[ROWS / 2] * 1e3, split[ROWS / 2] * 1e3, threads, split[ROWS / 2] > 0 ? one[ROWS / 2] / split[ROWS / 2] : 0,
           same ? "" : " (the tokens differ)");
    for (int k = 0; k < threads; k++) sample_scratch_free(&scratch[k]);
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
        {"logprobs, no alternative", {.temperature = 0}, 0},
        {"logprobs, 20 alternatives", {.temperature = 0}, 20},
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
    step(vocab);
    return 0;
}
