/* test_batch_prefill.c — the batched prefill (ops->prefill_batch, docs/serving.md) against each
 * sequence run alone, on one backend (cpu, emu, or cuda under the stand-in driver with its kernels
 * emulated).
 *
 * Four sequences of different lengths in slots 3, 0, 2, 1 are prefilled together: each step holds
 * chunks of several of them (the plan's chunk of tokens at most across them), a sequence's chunk
 * often starting mid-prompt, its prompt longer than a ring cache (it wraps), some parts asking every
 * row's logits and others their last. Each sequence is then run alone on a backend of one slot with
 * the same chunks (backend_prefill): every logits row the batched steps returned must equal the
 * alone run's, bit for bit (the same arithmetic per row: the GEMMs are per row, attention per part).
 * On emu and cuda every step, whatever its parts, makes one launch per kernel of the prefill
 * schedule (the emulator's launch counter), but for the argmax when the logits rows asked pass the
 * plan's logits tensor (a row per part; parts asking every row's logits): then those rows come back
 * through the host. Then the refusals: a slot listed twice, more tokens than
 * the chunk across the parts.
 *
 * BACKEND-paged (cpu-paged, emu-paged, cuda-paged): the batched run's global caches paged, the runs
 * alone not; cuda-paged's alone on emu (the stand-in driver holds one set of kernels, the paged ones;
 * emu is the cuda backend on the emulated device, so the same bits).
 *
 * usage: test_batch_prefill BACKEND LAYOUT.mix [k=v ...]   (the layout's overrides; prints PASS/FAIL
 * lines, exits 1 on a failure) */
#include "backend.h"
#include "emu_api.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

/* The emulator's counters when the program has it (a build with the CUDA toolkit). */
__attribute__((weak)) void mixc_emu_get_stats(MixcEmuStats *out);

#define NSEQ 4
#define MAX_PARTS 64

static const int slot_of[NSEQ] = {3, 0, 2, 1};

typedef struct {
    int64_t len;            /* prompt tokens */
    int32_t *tokens;
    int64_t done;           /* prefilled by the batched steps */
    int nchunks;
    int64_t *chunk_off, *chunk_n;   /* the chunks as the batched steps cut them */
    float *got;             /* [len][vocab]: the rows the batched steps returned */
    bool *have;             /* [len] */
} Seq;

static int failures;

static void result(bool ok, const char *what, const char *detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", what, detail && *detail ? ": " : "", detail ? detail : "");
    failures += !ok;
}

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* The step's parts: sequences in a rotating order, each a piece of at most half a chunk (every third
 * step, the first one takes what the chunk allows), until the chunk is spent. */
static int cut_step(Seq *sq, int64_t chunk, int step, uint32_t *rng, PrefillPart *parts) {
    int n = 0;
    int64_t budget = chunk;
    for (int k = 0; k < NSEQ && budget > 0; k++) {
        Seq *s = &sq[(k + step) % NSEQ];
        int64_t rem = s->len - s->done, most = rem < budget ? rem : budget;
        if (rem == 0) continue;
        int64_t piece = step % 3 == 2 && n == 0 ? most : 1 + (int64_t)(lcg(rng) % (uint32_t)(chunk / 2 > 1 ? chunk / 2 : 1));
        if (piece > most) piece = most;
        parts[n++] = (PrefillPart){slot_of[s - sq], s->tokens + s->done, piece, (lcg(rng) & 1) != 0};
        s->chunk_off[s->nchunks] = s->done;
        s->chunk_n[s->nchunks++] = piece;
        s->done += piece;
        budget -= piece;
    }
    return n;
}

static Seq *seq_of_slot(Seq *sq, int slot) {
    for (int i = 0; i < NSEQ; i++)
        if (slot_of[i] == slot) return &sq[i];
    return NULL;
}

static unsigned long long launches(void) {
    MixcEmuStats st = {0};
    if (mixc_emu_get_stats) mixc_emu_get_stats(&st);
    return st.launches;
}

/* The prefill schedule's kernel launches with logits asked (the final norm included); its argmax
 * only when the `rows` logits rows asked fit the plan's logits tensor (0 rows: every launch). */
static int schedule_kernels(const Backend *b, int64_t rows) {
    int n = 0;
    for (int i = 0; i < b->plan->prefill.nops; i++)
        n += b->plan->prefill.op[i].kernel >= 0 && (b->plan->prefill.op[i].kind != OP_ARGMAX || rows <= b->plan->prefill.rows);
    return n;
}

/* Every sequence prefilled by batched steps; the logits rows kept per sequence. */
static bool run_batched(Backend *b, Seq *sq, int64_t vocab, int *multi, int *bad_launches) {
    int64_t chunk = run_plan_chunk(b->plan);
    PrefillPart parts[MAX_PARTS];
    float *logits = xcalloc((size_t)(chunk * vocab), sizeof(float));
    uint32_t rng = 12345;
    bool ok = true, counted = strcmp(b->name, "cpu") != 0 && mixc_emu_get_stats;
    for (int step = 0; ok; step++) {
        int n = cut_step(sq, chunk, step, &rng, parts);
        if (n == 0) break;
        unsigned long long before = launches();
        ok = b->ops->prefill_batch(b, parts, n, logits);
        if (!ok) fprintf(stderr, "test_batch_prefill: step %d: %s\n", step, b->err);
        int64_t rows = 0;   /* the logits rows asked */
        for (int i = 0; i < n; i++) rows += parts[i].all_logits ? parts[i].n : 1;
        *bad_launches += ok && counted && launches() - before != (unsigned long long)schedule_kernels(b, rows);
        *multi += n > 1;
        int64_t row = 0;
        for (int i = 0; ok && i < n; i++) {
            Seq *s = seq_of_slot(sq, parts[i].slot);
            int64_t off = parts[i].tokens - s->tokens;
            for (int64_t j = parts[i].all_logits ? 0 : parts[i].n - 1; j < parts[i].n; j++, row++) {
                memcpy(s->got + (off + j) * vocab, logits + row * vocab, (size_t)vocab * sizeof(float));
                s->have[off + j] = true;
            }
        }
    }
    free(logits);
    return ok;
}

/* Each sequence alone on a one-slot backend, in the same chunks: the rows the batched steps returned
 * must be the same bits. Counts the rows compared. */
static bool compare_alone(Backend *alone, Seq *sq, int64_t vocab, int64_t *compared, char *detail, size_t n) {
    for (int i = 0; i < NSEQ; i++) {
        Seq *s = &sq[i];
        float *want = xcalloc((size_t)(s->len * vocab), sizeof(float));
        bool ok = backend_reset(alone, 0);
        for (int c = 0; ok && c < s->nchunks; c++)
            ok = backend_prefill(alone, 0, s->tokens + s->chunk_off[c], s->chunk_n[c], want + s->chunk_off[c] * vocab, true);
        for (int64_t r = 0; ok && r < s->len; r++) {
            if (!s->have[r]) continue;
            ++*compared;
            if (memcmp(want + r * vocab, s->got + r * vocab, (size_t)vocab * sizeof(float)) != 0) {
                snprintf(detail, n, "sequence %d (slot %d), row %lld differs from its run alone", i, slot_of[i], (long long)r);
                ok = false;
            }
        }
        if (!ok && !*detail) snprintf(detail, n, "the run alone failed: %s", alone->err);
        free(want);
        if (!ok) return false;
    }
    return true;
}

/* A slot listed twice and more tokens than the chunk are refused, naming the reason. */
static void check_refusals(Backend *b) {
    int64_t chunk = run_plan_chunk(b->plan);
    int32_t *t = xcalloc((size_t)chunk + 1, sizeof *t);
    PrefillPart twice[2] = {{1, t, 1, false}, {1, t, 1, false}};
    char what[128];
    bool refused = !b->ops->prefill_batch(b, twice, 2, NULL) && strstr(b->err, "slot 1 is listed twice");
    snprintf(what, sizeof what, "%s: prefill_batch: a slot listed twice is refused", b->name);
    result(refused, what, b->err);
    PrefillPart over[2] = {{0, t, chunk, false}, {2, t, 1, false}};
    refused = !b->ops->prefill_batch(b, over, 2, NULL) && strstr(b->err, "out of range");
    snprintf(what, sizeof what, "%s: prefill_batch: more tokens than the chunk across the parts is refused", b->name);
    result(refused, what, b->err);
    free(t);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_batch_prefill BACKEND LAYOUT.mix [k=v ...]\n");
        return 2;
    }
    Layout l;
    Model m;
    LoadOptions lo = {.prog = "test_batch_prefill", .sets = (const char *const *)argv + 3, .nsets = argc - 3};
    if (load_layout_file(argv[2], &lo, &l, stderr) != 0) return 2;
    model_init_random(&m, &l, 7);
    int64_t ctx = l.model.context < 40 ? l.model.context : 40, vocab = l.model.vocab;
    const int64_t lens[NSEQ] = {ctx - 6, 5, ctx * 2 / 3, 12};
    Seq sq[NSEQ];
    for (int i = 0; i < NSEQ; i++) {
        sq[i] = (Seq){.len = lens[i], .tokens = xcalloc((size_t)lens[i], sizeof(int32_t))};
        for (int64_t j = 0; j < lens[i]; j++) sq[i].tokens[j] = (int32_t)((13 * j + 7 * i + 3) % vocab);
        sq[i].chunk_off = xcalloc((size_t)lens[i], sizeof(int64_t));
        sq[i].chunk_n = xcalloc((size_t)lens[i], sizeof(int64_t));
        sq[i].got = xcalloc((size_t)(lens[i] * vocab), sizeof(float));
        sq[i].have = xcalloc((size_t)lens[i], sizeof(bool));
    }
    Backend b = {0}, alone = {0};
    BackendConfig cfg = {.nseq = NSEQ, .context = ctx}, one = {.nseq = 1, .context = ctx};
    const char *backend = argv[1];
    char name[32];
    const char *paged = strstr(backend, "-paged");
    if (paged && !paged[6]) {   /* BACKEND-paged: the batched run's global caches in pages of 5 tokens, a pool of
                                 * exactly the sequences' pages, taken as the steps interleave them (each slot's
                                 * table not in page order, a page never a tile); alone: unpaged */
        snprintf(name, sizeof name, "%.*s", (int)(paged - backend), backend);
        backend = name;
        cfg.page_tokens = 5;
        for (int i = 0; i < NSEQ; i++) cfg.pool_pages += (lens[i] + 4) / 5;
    }
    char err[512] = "", detail[768] = "", what[256];
    int multi = 0, bad_launches = 0;
    int64_t compared = 0;
    const char *alone_on = paged && !strcmp(backend, "cuda") ? "emu" : backend;
    bool ok = backend_open(backend, &m, &cfg, &b, err, sizeof err) == 0 &&
              backend_open(alone_on, &m, &one, &alone, err, sizeof err) == 0;
    if (!ok) fprintf(stderr, "test_batch_prefill: %s\n", err);
    ok = ok && run_batched(&b, sq, vocab, &multi, &bad_launches);
    ok = ok && compare_alone(&alone, sq, vocab, &compared, detail, sizeof detail);
    snprintf(what, sizeof what, "%s%s%s: batched prefill of 4 sequences (%lld, 5, %lld, 12 tokens; slots 3, 0, 2, 1; "
             "%d steps of several parts) = each alone, bit for bit (%lld logits rows)", argv[1],
             dtype_quantized(l.model.kv_dtype) ? ", caches " : "", dtype_quantized(l.model.kv_dtype) ?
             dtype_name(l.model.kv_dtype) : "", (long long)lens[0], (long long)lens[2], multi, (long long)compared);
    result(ok && multi >= 3 && compared > NSEQ, what, detail);
    if (ok && strcmp(backend, "cpu") != 0 && mixc_emu_get_stats) {
        snprintf(what, sizeof what, "%s: every batched step, whatever its parts, makes one launch per kernel of the "
                 "prefill schedule (%d; the argmax when its rows fit)", argv[1], schedule_kernels(&b, 0));
        result(bad_launches == 0, what, bad_launches ? "some step launched another count" : "");
    }
    if (ok) check_refusals(&b);
    if (b.ops) backend_close(&b);
    if (alone.ops) backend_close(&alone);
    for (int i = 0; i < NSEQ; i++) free(sq[i].tokens), free(sq[i].chunk_off), free(sq[i].chunk_n), free(sq[i].got), free(sq[i].have);
    model_free(&m);
    layout_free(&l);
    return ok && !failures ? 0 : 1;
}
