/* bench.c — mixrun's prefill in chunks and its --bench (tokens/s and memory, text or JSON). */
#include "bench.h"

#include "mixc_params.h"   /* mixc_argmax: the greedy pick */
#include "plan.h"
#include "progress.h"
#include "scheduler.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool prefill_all(Backend *b, int seq, const int32_t *t, int64_t n, float *logits, bool all, int32_t *pick,
                 Progress *progress) {
    int64_t chunk = run_plan_chunk(b->plan), vocab = b->layout->model.vocab;
    for (int64_t off = 0; off < n; off += chunk) {
        int64_t len = n - off < chunk ? n - off : chunk;
        PrefillPart part = {seq, t + off, len, all};
        float *out = !logits ? NULL : all ? logits + off * vocab : logits;
        bool ok = pick && off + len == n ? b->ops->prefill_argmax(b, &part, 1, pick, out)   /* the last chunk picks */
                                         : b->ops->prefill_batch(b, &part, 1, out);
        if (!ok) return false;
        if (progress) progress_add(progress, len);
    }
    return true;
}

/* ------------------------------------------------------------------ benchmark */

enum { BENCH_WARMUP_STEPS = 2 };   /* decode steps run before the timed ones (when G > 4) */

/* What the backend holds (its run plan's figures: --json's *_allocated), then the KV that `mixc report`
 * prints for the layout's own kv_dtype, which a backend holding another dtype does not hold. */
static void print_memory(const Backend *b) {
    KvPlan plan;
    const Layout *l = b->layout;
    int B = b->cfg.nseq;
    printf("memory: KV %s (%s caches, %d sequence%s), arena %s, weights %s (%s)", fmt_bytes((double)b->mem.kv_bytes),
           b->mem.kv_dtype ? b->mem.kv_dtype : "fp32", B, plural_s(B), fmt_bytes((double)b->mem.arena_bytes),
           fmt_bytes((double)b->mem.weights_bytes), b->mem.weights_dtype ? b->mem.weights_dtype : "fp32");
    if (plan_kv(l, b->cfg.context, l->model.chunk, &plan)) {
        printf("; the layout's KV in %s (mixc report): %s", dtype_name(l->model.kv_dtype),
               fmt_bytes((double)plan.kv_bytes * (double)B));
        kv_plan_free(&plan);
    }
    printf("\n");
}

/* What --bench measured. */
typedef struct {
    int64_t prompt, generated;  /* tokens per sequence */
    int64_t warmup;             /* of generated: the first decode steps, run but not timed */
    double prefill_s, decode_s;
    json_t *first_tokens;       /* each sequence's greedy token after its prefill (a check of the packing) */
} BenchFigures;

static double per_second(int64_t tokens, double s) { return tokens ? (double)tokens / (s > 0 ? s : 1e-9) : 0.0; }

static void print_bench_text(const Backend *b, const BenchFigures *f) {
    int B = b->cfg.nseq;
    printf("bench: %s backend, %d sequence%s x (%lld prompt + %lld new) tokens\n", b->name, B, plural_s(B),
           (long long)f->prompt, (long long)f->generated);
    printf("prefill: %lld tokens in %.3f s = %.1f tokens/s\n", (long long)(f->prompt * B), f->prefill_s,
           per_second(f->prompt * B, f->prefill_s));
    int64_t timed = (f->generated - f->warmup) * B;
    printf("decode: %lld tokens in %.3f s = %.1f tokens/s", (long long)timed, f->decode_s, per_second(timed, f->decode_s));
    if (f->warmup) printf(", after %lld warm-up steps (%lld tokens, untimed)", (long long)f->warmup, (long long)(f->warmup * B));
    printf("\n");
    print_memory(b);
}

/* --bench --json: the same figures, and the memory as planned (the run plan) and as allocated. */
static int print_bench_json(const Backend *b, const BenchFigures *f) {
    int64_t B = b->cfg.nseq;
    const BackendMemory *m = &b->mem;
#define JI(v) json_integer((json_int_t)(v))
    json_t *j = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:{s:o, s:f, s:f}, s:{s:o, s:f, s:f}, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, "
        "s:s}}",
        "backend", b->name, "sequences", JI(B), "prompt_tokens", JI(f->prompt), "new_tokens", JI(f->generated),
        "context", JI(b->cfg.context), "prefill", "tokens", JI(f->prompt * B), "seconds", f->prefill_s,
        "tokens_per_second", per_second(f->prompt * B, f->prefill_s), "decode", "tokens",
        JI((f->generated - f->warmup) * B), "seconds", f->decode_s, "tokens_per_second",
        per_second((f->generated - f->warmup) * B, f->decode_s), "memory",
        "kv_planned", JI(m->kv_planned), "kv_allocated", JI(m->kv_bytes), "arena_planned", JI(m->arena_planned),
        "arena_allocated", JI(m->arena_bytes), "weights_planned", JI(m->weights_planned), "weights_allocated",
        JI(m->weights_bytes), "workspace_planned", JI(m->workspace_planned), "workspace_allocated",
        JI(m->workspace_bytes), "kv_dtype", m->kv_dtype ? m->kv_dtype : "fp32", "weights_dtype",
        m->weights_dtype ? m->weights_dtype : "fp32");
#undef JI
    json_object_set(j, "first_tokens", f->first_tokens);
    json_object_set_new(json_object_get(j, "decode"), "warmup_steps", json_integer((json_int_t)f->warmup));
    return serve_print_json(j, "bench figures");
}

/* Prefills the B sequences of L tokens as a server would: each call (ops->prefill_argmax) packs up to
 * the plan's chunk of tokens, a chunk of each sequence in turn, so short prompts share a call.
 * next: [B], each sequence's greedy pick after its prompt (only the ids come back). */
static bool prefill_packed(Backend *b, const int32_t *prompt, int64_t L, int B, int32_t *next, double start) {
    int64_t chunk = run_plan_chunk(b->plan), off = 0;
    int most = B < chunk ? B : (int)chunk, s = 0;
    PrefillPart *parts = xcalloc((size_t)most, sizeof *parts);
    int32_t *picks = xcalloc((size_t)most, sizeof *picks);
    double last = start;
    bool ok = true;
    while (ok && s < B) {
        int n = 0, first = s;
        for (int64_t room = chunk; room > 0 && s < B;) {
            int64_t len = L - off < room ? L - off : room;
            parts[n++] = (PrefillPart){s, prompt + (int64_t)s * L + off, len, false};
            room -= len, off += len;
            if (off == L) s++, off = 0;
        }
        ok = b->ops->prefill_argmax(b, parts, n, picks, NULL);
        for (int i = 0; ok && i < n; i++)   /* a part that ends its prompt: that sequence's pick */
            if (parts[i].tokens + parts[i].n == prompt + (int64_t)parts[i].slot * L + L) next[parts[i].slot] = picks[i];
        if (s > first) progress_line(start, &last, "prefill: sequence", s, B);
    }
    free(parts);
    free(picks);
    return ok;
}

/* Each sequence's greedy pick (mixc_argmax's code): false with b->err when a row's logits hold a NaN
 * or an infinity (no greedy token). */
static bool picks_valid(Backend *b, const int32_t *next, int B) {
    for (int s = 0; s < B; s++)
        if (next[s] < 0) {
            snprintf(b->err, sizeof b->err, "the logits of sequence %d hold %s (the %s backend)", s,
                     next[s] == MIXC_ARGMAX_NAN ? "NaN" : "Inf", b->name);
            return false;
        }
    return true;
}

int bench(Backend *b, const int32_t *prompt, int64_t L, int64_t G, bool json) {
    int B = b->cfg.nseq;
    int32_t *next = xcalloc((size_t)B, sizeof *next), *fed = xcalloc((size_t)B, sizeof *fed);
    int *slots = xcalloc((size_t)B, sizeof *slots);
    double start = mono_seconds(), last = start;
    bool ok = prefill_packed(b, prompt, L, B, next, start);
    json_t *first = json_array();
    for (int s = 0; ok && s < B; s++) {
        json_array_append_new(first, json_integer(next[s]));
        slots[s] = s;
    }
    ok = ok && picks_valid(b, next, B);
    double t_prefill = mono_seconds() - start, start_decode = mono_seconds();
    /* The first steps pay the first launches (module loads, cuBLAS's heuristics, a graph's capture): run,
     * not timed, when enough steps remain to time. */
    int64_t warmup = G > 2 * BENCH_WARMUP_STEPS ? BENCH_WARMUP_STEPS : 0;
    for (int64_t g = 0; g < G && ok; g++) {   /* greedy steps as mixrun decodes: only the ids come back */
        if (g == warmup) start_decode = mono_seconds();
        memcpy(fed, next, (size_t)B * sizeof *fed);
        ok = b->ops->decode_argmax(b, slots, B, fed, next, NULL) && picks_valid(b, next, B);
        progress_line(start, &last, "decode: step", g + 1, G);
    }
    double t_decode = mono_seconds() - start_decode;
    free(next);
    free(fed);
    free(slots);
    int rc = 0;
    BenchFigures f = {L, G, warmup, t_prefill, t_decode, first};
    if (!ok)
        fprintf(stderr, "%s: %s\n", prog_name(), b->err), rc = 1;
    else if (json)
        rc = print_bench_json(b, &f);
    else
        print_bench_text(b, &f);
    json_decref(first);
    return rc;
}

/* Deterministic bench prompts: B x L ids (the --tokens prompt repeated, else splitmix-random). */
int32_t *bench_prompts(const int32_t *given, int64_t ngiven, int64_t B, int64_t L, int64_t vocab) {
    int32_t *t = xmalloc((size_t)(B * L) * sizeof *t);
    uint64_t state = 0x6d6978727563ull;
    for (int64_t i = 0; i < B * L; i++) {
        uint64_t z = splitmix64(&state);
        t[i] = given ? given[i % ngiven] : (int32_t)(z % (uint64_t)vocab);
    }
    return t;
}

