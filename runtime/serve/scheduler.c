/* scheduler.c — continuous batching with chunked prefill mixed into decode steps (scheduler.h). */
#include "scheduler.h"

#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A slot of the backend: the request it serves (-1: free) and how far that request is. */
typedef struct {
    int req;
    int64_t prefilled;      /* prompt tokens appended */
    int32_t next;           /* the last generated token, appended by the next decode */
    int64_t cost;           /* its KV bytes (serve_request_cost) */
    double first_token_at;
} Slot;

typedef struct {
    Backend *b;
    const ServeRequests *rq;
    const ServeOptions *o;
    ServeRun *run;
    Slot *slot;
    int *order;             /* [nslots] the busy slots in admission order */
    int busy;
    int head;               /* the next request to admit (FIFO) */
    int finished;           /* requests that left (or were refused) */
    int64_t kv_used, chunk, vocab, step_tokens;
    double start;
    float *logits;          /* [nslots][vocab] */
    int32_t *tokens;
    int *slots;
    int *pending;           /* [nslots] the busy slots as a prefill began (emit may drop one from order) */
    Buf trace;
} Sched;

int64_t serve_request_cost(const Backend *b, const ServeRequest *r) {
    return run_plan_seq_kv_bytes(b->plan, r->prompt_len + r->max_new);
}

void serve_backend_config(const ServeRequests *rq, int64_t model_context, int max_seqs, BackendConfig *cfg) {
    cfg->nseq = max_seqs > 0 ? max_seqs : rq->n < 16 ? rq->n : 16;
    cfg->context = 1;   /* when every request is refused: the least backend */
    for (int i = 0; i < rq->n; i++) {
        int64_t need = rq->v[i].prompt_len + rq->v[i].max_new;
        if (need <= model_context && need > cfg->context) cfg->context = need;
    }
}

/* The requests that can never run, refused up front with a message. */
static void refuse_impossible(Sched *s) {
    for (int i = 0; i < s->rq->n; i++) {
        const ServeRequest *r = &s->rq->v[i];
        ServeResult *res = &s->run->result[i];
        int64_t cost = serve_request_cost(s->b, r);
        if (r->prompt_len + r->max_new > s->o->context)
            snprintf(res->refused, sizeof res->refused, "%lld prompt + %lld new tokens is more than the context (%lld)",
                     (long long)r->prompt_len, (long long)r->max_new, (long long)s->o->context);
        else if (cost < 0 || cost > s->run->kv_budget_bytes)
            snprintf(res->refused, sizeof res->refused, "its KV caches take %lld bytes, more than the budget (%lld)",
                     (long long)cost, (long long)s->run->kv_budget_bytes);
        if (!res->refused[0]) continue;
        fprintf(stderr, "mixrun: request '%s' refused: %s\n", r->id, res->refused);
        s->run->refused++;
        s->finished++;
    }
}

/* The head past the refused requests: they are never admitted, nor waited for. */
static void skip_refused(Sched *s) {
    while (s->head < s->rq->n && s->run->result[s->head].refused[0]) s->head++;
}

/* Admits requests in order while the head has arrived, a slot is free and the budget allows it. The
 * head is never overtaken: a request that must wait for memory holds back those behind it. */
static bool admit(Sched *s, double now) {
    const ServeRequests *rq = s->rq;
    for (skip_refused(s); s->head < rq->n; s->head++, skip_refused(s)) {
        const ServeRequest *r = &rq->v[s->head];
        int64_t cost = serve_request_cost(s->b, r);
        if (now - s->start < r->arrival_s || s->busy == s->b->cfg.nseq || s->kv_used + cost > s->run->kv_budget_bytes)
            break;
        int q = 0;
        while (s->slot[q].req >= 0) q++;
        if (!backend_reset(s->b, q)) return false;
        s->slot[q] = (Slot){.req = s->head, .cost = cost};
        s->run->result[s->head].output = xcalloc((size_t)r->max_new, sizeof(int32_t));   /* bounded by the context */
        s->order[s->busy++] = q;
        s->kv_used += cost;
        if (s->o->trace) buf_printf(&s->trace, " admit %s", r->id);
    }
    if (s->busy > s->run->peak_sequences) s->run->peak_sequences = s->busy;
    if (s->kv_used > s->run->kv_peak_bytes) s->run->kv_peak_bytes = s->kv_used;
    return true;
}

/* The sequence in slot q generated tok: it leaves with max_new tokens, else decodes it next. */
static void emit(Sched *s, int q, int32_t tok, double now) {
    Slot *sl = &s->slot[q];
    const ServeRequest *r = &s->rq->v[sl->req];
    ServeResult *res = &s->run->result[sl->req];
    if (res->noutput == 0) {
        sl->first_token_at = now;
        res->ttft_s = now - s->start - r->arrival_s;
    }
    res->output[res->noutput++] = tok;
    sl->next = tok;
    if (res->noutput < r->max_new) return;
    res->e2e_s = now - s->start - r->arrival_s;
    res->tpot_s = res->noutput > 1 ? (now - sl->first_token_at) / (double)(res->noutput - 1) : 0.0;
    if (s->o->trace) buf_printf(&s->trace, " finish %s", r->id);
    s->kv_used -= sl->cost;
    sl->req = -1;
    int k = 0;
    while (s->order[k] != q) k++;
    memmove(s->order + k, s->order + k + 1, (size_t)(s->busy - k - 1) * sizeof *s->order);
    s->busy--;
    s->finished++;
}

/* One decode step over every sequence past its prefill; the count decoded, -1 on failure. */
static int decode_running(Sched *s) {
    int n = 0;
    for (int k = 0; k < s->busy; k++) {
        const Slot *sl = &s->slot[s->order[k]];
        if (sl->prefilled < s->rq->v[sl->req].prompt_len) continue;
        s->slots[n] = s->order[k];
        s->tokens[n++] = sl->next;
    }
    if (n == 0) return 0;
    if (s->o->trace) buf_printf(&s->trace, " decode %d", n);
    if (!s->b->ops->decode_slots(s->b, s->slots, n, s->tokens, s->logits)) return -1;
    double now = mono_seconds();
    for (int i = 0; i < n; i++) emit(s, s->slots[i], model_greedy_token(s->logits + (int64_t)i * s->vocab, s->vocab), now);
    return n;
}

/* Prefill chunks of the sequences still prefilling, in admission order, up to `budget` tokens;
 * the tokens run, -1 on failure. */
static int64_t prefill_some(Sched *s, int64_t budget) {
    int64_t spent = 0;
    int npending = s->busy;
    memcpy(s->pending, s->order, (size_t)npending * sizeof *s->order);
    for (int k = 0; k < npending && spent < budget; k++) {
        int q = s->pending[k];
        Slot *sl = &s->slot[q];
        if (sl->req < 0) continue;
        const ServeRequest *r = &s->rq->v[sl->req];
        while (sl->prefilled < r->prompt_len && spent < budget) {
            int64_t n = r->prompt_len - sl->prefilled, room = budget - spent;
            if (n > s->chunk) n = s->chunk;
            if (n > room) n = room;
            if (s->o->trace) buf_printf(&s->trace, " prefill %s@%lld+%lld", r->id, (long long)sl->prefilled, (long long)n);
            if (!s->b->ops->prefill(s->b, q, r->prompt + sl->prefilled, n, s->logits, false)) return -1;
            sl->prefilled += n;
            spent += n;
            if (sl->prefilled == r->prompt_len) emit(s, q, model_greedy_token(s->logits, s->vocab), mono_seconds());
        }
    }
    return spent;
}

/* Waits for the next arrival when nothing runs and the head has not arrived. */
static void wait_for_arrival(Sched *s) {
    skip_refused(s);
    if (s->busy || s->head >= s->rq->n) return;
    double wait = s->rq->v[s->head].arrival_s - (mono_seconds() - s->start);
    if (wait <= 0) return;
    struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    nanosleep(&ts, NULL);
}

static bool step(Sched *s, double *last_progress) {
    wait_for_arrival(s);
    if (!admit(s, mono_seconds())) return false;
    int decoded = decode_running(s);
    if (decoded < 0) return false;
    int64_t budget = s->step_tokens - decoded, prefilled = budget > 0 ? prefill_some(s, budget) : 0;
    if (prefilled < 0) return false;
    s->run->steps++;
    s->run->mixed_steps += decoded > 0 && prefilled > 0;
    if (s->o->trace) {
        fprintf(stderr, "mixrun: step %lld:%s\n", (long long)s->run->steps, s->trace.data ? s->trace.data : "");
        s->trace.len = 0;
        if (s->trace.data) s->trace.data[0] = '\0';
    }
    if (s->o->progress) progress_line(s->start, last_progress, "serve: requests done", s->finished, s->rq->n);
    return true;
}

bool serve_run(Backend *b, const ServeRequests *rq, const ServeOptions *o, ServeRun *out) {
    memset(out, 0, sizeof *out);
    int nslots = b->cfg.nseq;
    Sched s = {.b = b, .rq = rq, .o = o, .run = out, .vocab = b->layout->model.vocab, .chunk = run_plan_chunk(b->plan)};
    out->result = xcalloc((size_t)rq->n + 1, sizeof *out->result);
    s.step_tokens = o->step_tokens > 0 ? o->step_tokens : s.chunk + nslots;
    out->kv_budget_bytes = o->kv_budget > 0 && o->kv_budget < b->plan->kv_bytes ? o->kv_budget : b->plan->kv_bytes;
    s.slot = xcalloc((size_t)nslots, sizeof *s.slot);
    for (int q = 0; q < nslots; q++) s.slot[q].req = -1;
    s.order = xcalloc((size_t)nslots, sizeof *s.order);
    s.slots = xcalloc((size_t)nslots, sizeof *s.slots);
    s.pending = xcalloc((size_t)nslots, sizeof *s.pending);
    s.tokens = xcalloc((size_t)nslots, sizeof *s.tokens);
    s.logits = xcalloc((size_t)(nslots * s.vocab), sizeof(float));
    refuse_impossible(&s);
    s.start = mono_seconds();
    double last_progress = s.start;
    bool ok = true;
    while (ok && s.finished < rq->n) ok = step(&s, &last_progress);
    out->elapsed_s = mono_seconds() - s.start;
    free(s.slot);
    free(s.order);
    free(s.slots);
    free(s.pending);
    free(s.tokens);
    free(s.logits);
    buf_free(&s.trace);
    return ok;
}

void serve_run_free(ServeRun *r, int n) {
    for (int i = 0; r->result && i < n; i++) free(r->result[i].output);
    free(r->result);
    memset(r, 0, sizeof *r);
}
