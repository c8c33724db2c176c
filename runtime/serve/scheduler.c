/* scheduler.c — a run of many requests by arrival time on the serving engine (scheduler.h, engine.h). */
#include "scheduler.h"

#include "engine.h"

#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The batch of a run: its requests by arrival, fed to the engine. */
typedef struct {
    ServeEngine *e;
    const ServeRequests *rq;
    const ServeOptions *o;
    ServeRun *run;
    int head;               /* the next request to admit (FIFO); with priority, the next to arrive */
    int *waiting;           /* with priority: the arrived requests not yet admitted, a heap by (priority, index) */
    int nwaiting;
    int refused;
    double start;
} Sched;

void serve_backend_config(const ServeRequests *rq, int64_t model_context, int max_seqs, BackendConfig *cfg) {
    cfg->nseq = max_seqs > 0 ? max_seqs : rq->n < SERVE_DEFAULT_MAX_SEQS ? rq->n : SERVE_DEFAULT_MAX_SEQS;
    cfg->context = 1;   /* when every request is refused: the least backend */
    for (int i = 0; i < rq->n; i++) {
        int64_t need = rq->v[i].prompt_len + rq->v[i].max_new;
        if (need <= model_context && need > cfg->context) cfg->context = need;
    }
}

/* The requests that can never run, refused up front with a message. */
static void refuse_impossible(Sched *s, const Backend *b) {
    for (int i = 0; i < s->rq->n; i++) {
        const ServeRequest *r = &s->rq->v[i];
        ServeResult *res = &s->run->result[i];
        int64_t cost = serve_request_cost(b, r), pages = serve_request_pages(b, r);
        if (r->prompt_len + r->max_new > s->o->context)
            snprintf(res->refused, sizeof res->refused, "%lld prompt + %lld new tokens is more than the context (%lld)",
                     (long long)r->prompt_len, (long long)r->max_new, (long long)s->o->context);
        else if (cost < 0 || cost > s->run->kv_budget_bytes)
            snprintf(res->refused, sizeof res->refused, "its KV caches take %lld bytes, more than the budget (%lld)",
                     (long long)cost, (long long)s->run->kv_budget_bytes);
        else if (pages > b->plan->pool_pages)
            snprintf(res->refused, sizeof res->refused, "its KV caches take %lld pages, more than the pool (%lld)",
                     (long long)pages, (long long)b->plan->pool_pages);
        if (!res->refused[0]) continue;
        fprintf(stderr, "%s: request '%s' refused: %s\n", prog_name(), r->id, res->refused);
        s->run->refused++;
    }
}

/* The head past the refused requests: they are never admitted, nor waited for. */
static void skip_refused(Sched *s) {
    while (s->head < s->rq->n && s->run->result[s->head].refused[0]) s->head++;
}

/* Whether request a goes before b: the lesser priority, then the earlier (arrival order). */
static bool before(const Sched *s, int a, int b) {
    int64_t pa = s->rq->v[a].priority, pb = s->rq->v[b].priority;
    return pa < pb || (pa == pb && a < b);
}

/* The waiting heap's element at k moved up, or down, to its place. */
static void sift(Sched *s, int k) {
    int *h = s->waiting;
    for (; k > 0 && before(s, h[k], h[(k - 1) / 2]); k = (k - 1) / 2) {
        int t = h[k];
        h[k] = h[(k - 1) / 2], h[(k - 1) / 2] = t;
    }
    for (int c; (c = 2 * k + 1) < s->nwaiting; k = c) {
        if (c + 1 < s->nwaiting && before(s, h[c + 1], h[c])) c++;
        if (!before(s, h[c], h[k])) break;
        int t = h[k];
        h[k] = h[c], h[c] = t;
    }
}

/* With priority: the requests that arrived join the waiting heap; its least is admitted while the
 * engine takes it, and is never overtaken (a request that must wait for memory holds back the rest). */
static bool admit_by_priority(Sched *s, double now) {
    const ServeRequests *rq = s->rq;
    for (skip_refused(s); s->head < rq->n && now - s->start >= rq->v[s->head].arrival_s; s->head++, skip_refused(s))
        s->waiting[s->nwaiting++] = s->head, sift(s, s->nwaiting - 1);
    while (s->nwaiting) {
        int i = s->waiting[0];
        int got = serve_engine_admit(s->e, &rq->v[i], &s->run->result[i], s->start + rq->v[i].arrival_s, NULL);
        if (got <= 0) return got == 0;
        s->waiting[0] = s->waiting[--s->nwaiting];
        sift(s, 0);
    }
    return true;
}

/* Admits requests in order while the head has arrived and the engine takes it. The head is never
 * overtaken: a request that must wait for memory holds back those behind it. */
static bool admit(Sched *s, double now) {
    const ServeRequests *rq = s->rq;
    if (s->o->priority) return admit_by_priority(s, now);
    for (skip_refused(s); s->head < rq->n; s->head++, skip_refused(s)) {
        const ServeRequest *r = &rq->v[s->head];
        if (now - s->start < r->arrival_s) break;
        int got = serve_engine_admit(s->e, r, &s->run->result[s->head], s->start + r->arrival_s, NULL);
        if (got < 0) return false;
        if (got == 0) break;
    }
    return true;
}

/* Waits for the next arrival when nothing runs or waits and the head has not arrived. */
static void wait_for_arrival(Sched *s) {
    skip_refused(s);
    if (serve_engine_stats(s->e).busy || s->nwaiting || s->head >= s->rq->n) return;
    double wait = s->rq->v[s->head].arrival_s - (mono_seconds() - s->start);
    if (wait <= 0) return;
    struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
}

bool serve_run(Backend *b, const ServeRequests *rq, const ServeOptions *o, ServeRun *out) {
    memset(out, 0, sizeof *out);
    Sched s = {.rq = rq, .o = o, .run = out, .e = serve_engine_open(b, o, NULL), .waiting = xcalloc((size_t)rq->n + 1, sizeof(int))};
    out->result = xcalloc((size_t)rq->n + 1, sizeof *out->result);
    out->kv_budget_bytes = serve_engine_budget(s.e);
    refuse_impossible(&s, b);
    s.start = mono_seconds();
    double last_progress = s.start;
    bool ok = true;
    ServeEngineStats st = serve_engine_stats(s.e);
    while (ok && st.finished + out->refused < rq->n) {
        wait_for_arrival(&s);
        ok = admit(&s, mono_seconds()) && serve_engine_step(s.e) >= 0;
        st = serve_engine_stats(s.e);
        if (o->progress) progress_line(s.start, &last_progress, "serve: requests done", (int)st.finished + out->refused, rq->n);
    }
    out->elapsed_s = mono_seconds() - s.start;
    out->peak_sequences = st.peak_sequences;
    out->kv_peak_bytes = st.kv_peak;
    out->pool_pages = b->plan->pool_pages;
    out->pages_peak = st.pages_peak;
    out->pages_shared = st.pages_shared;
    out->steps = st.steps;
    out->mixed_steps = st.mixed_steps;
    out->cached_tokens = st.cached_tokens;
    serve_engine_close(s.e);
    free(s.waiting);
    return ok;
}

void serve_run_free(ServeRun *r, int n) {
    for (int i = 0; r->result && i < n; i++) free(r->result[i].output);
    free(r->result);
    memset(r, 0, sizeof *r);
}
