/* engine.c — continuous batching with chunked prefill mixed into decode steps (engine.h). */
#include "engine.h"

#include "mixc_params.h"   /* mixc_argmax: the greedy pick */
#include "progress.h"
#include "sample.h"        /* sample_shares: a decode step's picks at once */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A slot of the backend: the request it serves (r NULL: free) and how far that request is. */
typedef struct {
    const ServeRequest *r;
    ServeResult *res;
    void *user;
    int64_t prefilled;      /* prompt tokens appended */
    int32_t next;           /* the last generated token, appended by the next decode */
    int64_t fixed;          /* its KV bytes outside the pool's pages (serve_request_cost less its pages') */
    int64_t pages;          /* its pages of a paged run's pool (serve_request_pages) */
    int64_t shares;         /* pages its admission's copy is about to share with the source (held then) */
    int parent;             /* a fork waiting for that slot's prompt to end (then its caches are copied
                             * and it picks from the same logits); -1: none */
    int after;              /* a prompt waiting for that slot's prefill to pass its first after_n tokens,
                             * the start of its own (then it takes a copy of their rows); -1: none */
    int64_t after_n;
    double arrived_at, first_token_at;
} Slot;

/* What a free slot's caches hold from the sequence that left it, for a later prompt that starts the
 * same (prefix caching): the prompt tokens it prefilled. Not the generated ones, unless
 * ServeOptions.cache_generated: a decode step may write a token's K and V rows otherwise rounded
 * than a prefill does (the kernels' GEMMs of one row against a chunk's), and a prompt must give what
 * it gives prefilled whole. */
typedef struct {
    int32_t *tokens;        /* [n] (malloc'd, cap) */
    int64_t n, cap;
    int64_t high;           /* the most positions the slot held since it was last emptied (a sequence cut
                             * back keeps the rows it wrote past the cut): its rings hold the positions
                             * from high - capacity on */
    int64_t left;           /* when it left (the engine's count of leaves): the oldest is taken first */
} Held;

struct ServeEngine {
    Backend *b;
    const ServeOptions *o;
    ServeHooks hooks;
    Arena mem;              /* the arrays below, freed in one call */
    Slot *slot;
    Held *held;             /* [nslots] */
    int64_t leaves;
    bool broken;            /* a step failed: no slot's caches are reused */
    int64_t fixed_used;     /* the Slot.fixed of the sequences in flight */
    int64_t page_bytes;     /* a pool page's KV bytes (0 unpaged) */
    unsigned char *seen;    /* [pool pages] scratch of backend_pages_distinct; NULL unpaged */
    int *order;             /* [nslots] the busy slots in admission order */
    int64_t kv_budget, chunk, vocab, step_tokens;
    float *logits;          /* [nslots][vocab] */
    float *rows;            /* [chunk + nslots][vocab]: a prefill's rows with every prompt token's (made at
                             * the first sequence that wants them) */
    int32_t *tokens, *ids;  /* [nslots] a decode step's tokens in, and its argmax codes out */
    int32_t *picked;        /* [nslots] a decode step's tokens chosen */
    int *slots;
    int *sampled;           /* [nslots] the rows of a decode step that pick from their logits */
    PrefillPart *parts;     /* [nslots] a prefill step's chunks, one per sequence */
    Buf trace;
    ServeEngineStats st;
};

int64_t serve_request_cost(const Backend *b, const ServeRequest *r) {
    return run_plan_seq_kv_bytes(b->plan, r->prompt_len + r->max_new);
}

int64_t serve_request_pages(const Backend *b, const ServeRequest *r) {
    return run_plan_seq_pages(b->plan, r->prompt_len + r->max_new);
}

ServeEngine *serve_engine_open(Backend *b, const ServeOptions *o, const ServeHooks *hooks) {
    ServeEngine *e = xcalloc(1, sizeof *e);
    int nslots = b->cfg.nseq;
    *e = (ServeEngine){.b = b, .o = o, .vocab = b->layout->model.vocab, .chunk = run_plan_chunk(b->plan)};
    if (hooks) e->hooks = *hooks;
    e->step_tokens = o->step_tokens > 0 ? o->step_tokens : e->chunk + nslots;
    e->kv_budget = o->kv_budget > 0 && o->kv_budget < b->plan->kv_bytes ? o->kv_budget : b->plan->kv_bytes;
    size_t n = (size_t)nslots;
    e->slot = arena_array(&e->mem, n, sizeof *e->slot);
    e->held = arena_array(&e->mem, n, sizeof *e->held);
    e->order = arena_array(&e->mem, n, sizeof *e->order);
    e->slots = arena_array(&e->mem, n, sizeof *e->slots);
    e->parts = arena_array(&e->mem, n, sizeof *e->parts);
    e->tokens = arena_array(&e->mem, n, sizeof *e->tokens);
    e->ids = arena_array(&e->mem, n, sizeof *e->ids);
    e->picked = arena_array(&e->mem, n, sizeof *e->picked);
    e->sampled = arena_array(&e->mem, n, sizeof *e->sampled);
    e->logits = arena_array(&e->mem, n * (size_t)e->vocab, sizeof *e->logits);
    e->page_bytes = run_plan_page_kv_bytes(b->plan);
    if (b->plan->page_tokens) e->seen = arena_array(&e->mem, (size_t)b->plan->pool_pages, 1);
    return e;
}

void serve_engine_close(ServeEngine *e) {
    if (!e) return;
    for (int q = 0; q < e->b->cfg.nseq; q++) free(e->held[q].tokens);
    arena_free(&e->mem);
    free(e->rows);
    buf_free(&e->trace);
    free(e);
}

int64_t serve_engine_budget(const ServeEngine *e) { return e->kv_budget; }

ServeEngineStats serve_engine_stats(const ServeEngine *e) {
    ServeEngineStats st = e->st;
    st.pages_shared = e->b->pages_shared;
    return st;
}

/* Whether ring cache c of a slot that held up to `high` positions still holds what a sequence of the
 * same first n tokens would need from them: the keys its readers see from position n on, back to
 * n - retention + 1. The ring keeps the positions from high - capacity on; one it no longer holds was
 * overwritten by a later one, which the new sequence's queries would never see (the first of them,
 * at n, reaches back only retention - 1 < capacity positions). */
static bool ring_holds(const Backend *b, int c, int64_t high, int64_t n) {
    int64_t retention = b->layout->cache[c].retention, first_seen = n - retention + 1;
    if (!retention) return high <= b->plan->cache[c].capacity;   /* unbounded: a ring only if it never wraps */
    return (first_seen > 0 ? first_seen : 0) >= high - b->plan->cache[c].capacity;
}

/* ring_holds of every ring cache. */
static bool rings_hold(const Backend *b, int64_t high, int64_t n) {
    for (int c = 0; c < b->plan->ncaches; c++)
        if (b->plan->cache[c].ring && !ring_holds(b, c, high, n)) return false;
    return true;
}

/* The tokens whose rows a slot's caches hold, in order: the first np of `prompt`, then the first ng
 * of `gen` (a running sequence's generated ids, with ServeOptions.cache_generated). */
typedef struct {
    const int32_t *prompt, *gen;
    int64_t np, ng;
} Rows;

/* The tokens of `rows` and r's prompt share from the start, short of the prompt's last token (whose
 * logits the prefill must give). */
static int64_t common_start(Rows rows, const ServeRequest *r) {
    int64_t n = rows.np + rows.ng, most = r->prompt_len - 1 < n ? r->prompt_len - 1 : n, k = 0;
    while (k < most && (k < rows.np ? rows.prompt[k] : rows.gen[k - rows.np]) == r->prompt[k]) k++;
    return k;
}

/* The tokens of r's prompt that caches holding `rows` (of a slot that held up to `high` positions)
 * stand for: their common_start, when every ring cache still holds the rows of that start the next
 * tokens read; else none. */
static int64_t shared_start(const ServeEngine *e, Rows rows, int64_t high, const ServeRequest *r) {
    int64_t k = common_start(rows, r);
    return rings_hold(e->b, high, k) ? k : 0;
}

/* The rows of running slot q that prefix caching may take: its prompt's prefilled, then (with
 * ServeOptions.cache_generated) the generated ids a decode wrote. */
static Rows running_rows(const ServeEngine *e, int q) {
    const Slot *sl = &e->slot[q];
    int64_t fed = e->b->seq_len[q] - sl->prefilled;
    return (Rows){sl->r->prompt, sl->res->output, sl->prefilled, e->o->cache_generated && fed > 0 ? fed : 0};
}

/* Held.high of slot q as it is now (a running sequence may have passed it). */
static int64_t slot_high(const ServeEngine *e, int q) {
    return e->b->seq_len[q] > e->held[q].high ? e->b->seq_len[q] : e->held[q].high;
}

/* Slot `to` takes a copy of slot `from`'s first n positions (backend_copy_prefix) and with them how
 * far back its rings' rows go (Held.high). false when the backend fails (b->err). */
static bool copy_rows(ServeEngine *e, int from, int to, int64_t n) {
    if (!backend_copy_prefix(e->b, from, to, n)) return false;
    e->held[to].high = slot_high(e, from);
    return true;
}

/* shared_start of what free slot q kept. */
static int64_t reusable(const ServeEngine *e, int q, const ServeRequest *r) {
    const Held *h = &e->held[q];
    return shared_start(e, (Rows){h->tokens, NULL, h->n, 0}, h->high, r);
}

/* The running sequence whose prompt rows (prefilled so far) start r's prompt the longest way, when
 * that is more than `than` tokens and the backend copies caches (backend_copy_prefix): its slot, the
 * tokens in *n. -1 otherwise. */
static int copy_source(const ServeEngine *e, const ServeRequest *r, int64_t than, int64_t *n) {
    int best = -1;
    if (!e->b->ops->copy_kv) return -1;
    for (int k = 0; k < e->st.busy; k++) {
        int64_t got = shared_start(e, running_rows(e, e->order[k]), slot_high(e, e->order[k]), r);
        if (got > than) best = e->order[k], than = *n = got;
    }
    return best;
}

/* The sequence still prefilling whose prompt starts r's further than `than` tokens and further than
 * it has prefilled, when the backend copies caches: r may wait for those rows rather than prefill
 * them too (requests that share a prompt admitted before its first chunk ran). Its slot, the tokens
 * in *n; -1 when none. The rings are checked when the rows are there (copy_waiters). */
static int wait_source(const ServeEngine *e, const ServeRequest *r, int64_t than, int64_t *n) {
    int best = -1;
    if (!e->b->ops->copy_kv) return -1;
    for (int k = 0; k < e->st.busy; k++) {
        const Slot *sl = &e->slot[e->order[k]];
        if (sl->parent >= 0 || sl->after >= 0) continue;   /* itself waiting */
        int64_t got = common_start((Rows){sl->r->prompt, NULL, sl->r->prompt_len, 0}, r);
        if (got > than && got > sl->prefilled) best = e->order[k], than = *n = got;
    }
    return best;
}

/* The free slot r takes, *reuse the prompt tokens whose caches it already holds: the slot that holds
 * the most, else (and among equals) one that holds nothing, else the one left longest ago. */
static int free_slot(const ServeEngine *e, const ServeRequest *r, bool may_reuse, int64_t *reuse) {
    int best = -1;
    for (int q = 0; q < e->b->cfg.nseq; q++) {
        if (e->slot[q].r) continue;
        int64_t n = may_reuse ? reusable(e, q, r) : 0, age = e->held[q].n ? e->held[q].left : 0;
        if (best < 0 || n > *reuse || (n == *reuse && age < (e->held[best].n ? e->held[best].left : 0))) {
            best = q;
            *reuse = n;
        }
    }
    return best;
}

/* ---- a paged run's pages: those the sequences in flight hold (a shared page once) and those they
 * may still take. Admission keeps the two within the pool; free slots keep pages (for a later prompt
 * that starts the same) only while the free pool covers what the sequences in flight may take. */

/* The pages slot q's sequence may still take from the pool: up to its prompt + max_new (less those
 * its admission's copy is about to share), and one for a copy of the shared page it writes into next
 * (backend_pages_copy_due). */
static int64_t pages_to_take(const ServeEngine *e, int q) {
    const Slot *sl = &e->slot[q];
    int64_t n = sl->pages - e->b->pages_held[q] - sl->shares;
    return (n > 0 ? n : 0) + backend_pages_copy_due(e->b, q, e->b->seq_len[q]);
}

/* The pages the sequences in flight may still take. */
static int64_t pages_wanted(const ServeEngine *e) {
    int64_t take = 0;
    for (int k = 0; k < e->st.busy; k++) take += pages_to_take(e, e->order[k]);
    return take;
}

/* The pages of the sequences in flight: those they hold, each once (marked in e->seen), and those
 * they may still take. 0 unpaged. */
static int64_t pages_in_flight(const ServeEngine *e) {
    if (!e->seen) return 0;
    return backend_pages_distinct(e->b, e->order, e->st.busy, e->seen) + pages_wanted(e);
}

/* The free slots' pages go back to the pool, the slot left longest ago first, until the free pool
 * covers what the sequences in flight may take: those always find their pages. */
static void trim_kept_pages(ServeEngine *e) {
    const Backend *b = e->b;
    while (e->seen && b->nfree_pages < pages_wanted(e)) {
        int oldest = -1;
        for (int q = 0; q < b->cfg.nseq; q++)
            if (!e->slot[q].r && b->pages_held[q] && (oldest < 0 || e->held[q].left < e->held[oldest].left)) oldest = q;
        if (oldest < 0) return;   /* admission counted the pages: not reached */
        backend_pages_release(e->b, oldest);
        e->held[oldest].n = 0;
    }
}

/* The engine's figures of what is in flight, after an admission or a leave: pages (paged) and KV
 * bytes, the pages' counted once however many sequences share them. */
static void count_in_flight(ServeEngine *e) {
    e->st.pages_used = pages_in_flight(e);
    e->st.kv_used = e->fixed_used + e->st.pages_used * e->page_bytes;
}

/* The slot of the sequence admitted with `parent` when r can be its fork: the same prompt, the
 * parent's not done (its caches hold the prompt alone when it ends), r wants no prompt logits (only
 * the parent would get them), and the backend copies caches. -1 otherwise. */
static int fork_parent(const ServeEngine *e, const ServeRequest *r, void *user, const void *parent) {
    if (!parent || !e->b->ops->copy_kv || (e->hooks.wants_prompt_logits && e->hooks.wants_prompt_logits(user)))
        return -1;
    for (int k = 0; k < e->st.busy; k++) {
        const Slot *p = &e->slot[e->order[k]];
        if (p->user == parent && p->parent < 0 && p->prefilled < p->r->prompt_len && p->r->prompt_len == r->prompt_len &&
            !memcmp(p->r->prompt, r->prompt, (size_t)r->prompt_len * sizeof *r->prompt))
            return e->order[k];
    }
    return -1;
}

/* Whether r's prompt may start from caches a slot kept: prefix caching is on, the engine's steps all
 * succeeded (a failed one may have written any slot's rings), and r wants no logits of its prompt
 * tokens (those the caches stand for are not computed). */
static bool may_reuse(const ServeEngine *e, void *user) {
    return !e->o->no_prefix_caching && !e->broken &&
           !(e->hooks.wants_prompt_logits && e->hooks.wants_prompt_logits(user));
}

/* Where a prompt starts (prefix caching): in slot q, with `reuse` tokens there already (kept in q, or
 * copied now from slot `source`), or waiting for slot `after`'s prefill to pass its first `wait_n`. */
typedef struct {
    int q, source, after;
    int64_t reuse, wait_n;
} Start;

/* The start that prefills the least of r's prompt: a free slot's kept tokens, else a copy of a
 * running sequence's prompt rows, else a wait for a prefilling one's; the slot whose caches matter
 * least when they come from elsewhere. reuse_ok false: the free slot free_slot gives, nothing reused. */
static Start choose_start(const ServeEngine *e, const ServeRequest *r, bool reuse_ok) {
    Start st = {.source = -1, .after = -1};
    int64_t copied = 0, unused;
    st.q = free_slot(e, r, reuse_ok, &st.reuse);
    if (!reuse_ok) return st;
    st.source = copy_source(e, r, st.reuse, &copied);
    st.after = wait_source(e, r, st.source >= 0 ? copied : st.reuse, &st.wait_n);
    if (st.after >= 0) st.source = -1;   /* more, later */
    if (st.source >= 0 || st.after >= 0) {
        st.q = free_slot(e, r, false, &unused);
        st.reuse = st.source >= 0 ? copied : 0;
    }
    return st;
}

/* The pages r adds to those in flight (pages_in_flight, whose e->seen it reads) when it starts as st
 * says: from a copy, all but the whole pages it shares with the source; in a free slot with tokens
 * kept there, the pages those fill that no sequence in flight holds, the rest, and one for a copy of
 * the last if shared (backend_pages_copy_due); else all. */
static int64_t pages_added(const ServeEngine *e, const ServeRequest *r, const Start *st) {
    const Backend *b = e->b;
    int64_t pages = serve_request_pages(b, r);
    if (st->source >= 0) return pages - st->reuse / b->plan->page_tokens;
    if (!st->reuse) return pages;
    int64_t kept = run_plan_seq_pages(b->plan, st->reuse), unseen = 0;
    const int32_t *table = backend_page_table(b, st->q);
    for (int64_t i = 0; i < kept; i++) unseen += !e->seen[table[i]];
    return unseen + pages - kept + backend_pages_copy_due(b, st->q, st->reuse);
}

/* Whether r, of KV bytes `fixed` outside the pool's pages, fits beside the sequences in flight when
 * it starts as st says: a slot free, the bytes within the budget and (paged) the pages within the
 * pool, each shared page counted once. */
static bool fits(const ServeEngine *e, const ServeRequest *r, const Start *st, int64_t fixed) {
    int64_t pages = pages_in_flight(e);   /* first: it marks e->seen, which pages_added reads */
    if (e->seen) pages += pages_added(e, r, st);
    return st->q >= 0 && e->fixed_used + fixed + pages * e->page_bytes <= e->kv_budget && pages <= e->b->plan->pool_pages;
}

/* serve_engine_admit(_fork): where choose_start says (what the slot holds is not prefilled again)
 * when that fits, else as a fork of parent's sequence or from nothing. */
static int admit(ServeEngine *e, const ServeRequest *r, ServeResult *res, double arrived_at, void *user,
                 const void *parent) {
    int64_t cost = serve_request_cost(e->b, r), pages = serve_request_pages(e->b, r), fixed = cost - pages * e->page_bytes;
    if (e->st.busy == e->b->cfg.nseq || cost < 0) return 0;
    int from = fork_parent(e, r, user, parent);
    Start st = choose_start(e, r, from < 0 && may_reuse(e, user));
    if (!fits(e, r, &st, fixed) && (st = choose_start(e, r, false), !fits(e, r, &st, fixed))) return 0;
    int q = st.q, source = st.source, after = st.after;
    int64_t reuse = st.reuse;
    if (!backend_rewind(e->b, q, source >= 0 ? 0 : reuse)) return -1;
    e->held[q].n = 0;   /* its caches are the new sequence's */
    e->held[q].high = source < 0 && reuse ? e->held[q].high : 0;   /* a copy brings its own (copy_rows) */
    e->slot[q] = (Slot){.r = r, .res = res, .user = user, .prefilled = reuse, .fixed = fixed, .pages = pages,
                        .shares = source >= 0 && e->seen ? reuse / e->b->plan->page_tokens : 0,
                        .parent = from, .after = after, .after_n = st.wait_n, .arrived_at = arrived_at};
    res->output = xcalloc((size_t)r->max_new, sizeof(int32_t));   /* bounded by the context */
    res->noutput = 0;
    res->cached_tokens = reuse;
    e->order[e->st.busy++] = q;
    e->fixed_used += fixed;
    e->st.cached_tokens += reuse;
    trim_kept_pages(e);   /* before the copy takes pages: the sequences in flight find theirs */
    if (source >= 0 && !copy_rows(e, source, q, reuse)) {
        e->broken = true;
        return -1;
    }
    e->slot[q].shares = 0;
    e->st.copies += source >= 0;
    count_in_flight(e);
    if (e->st.pages_used > e->st.pages_peak) e->st.pages_peak = e->st.pages_used;
    if (e->o->trace) {
        buf_printf(&e->trace, reuse ? " admit %s@%lld" : " admit %s", r->id, (long long)reuse);
        if (source >= 0) buf_printf(&e->trace, " from %s", e->slot[source].r->id);
        if (after >= 0) buf_printf(&e->trace, " after %s", e->slot[after].r->id);
    }
    if (e->st.busy > e->st.peak_sequences) e->st.peak_sequences = e->st.busy;
    if (e->st.kv_used > e->st.kv_peak) e->st.kv_peak = e->st.kv_used;
    return 1;
}

int serve_engine_admit(ServeEngine *e, const ServeRequest *r, ServeResult *res, double arrived_at, void *user) {
    return admit(e, r, res, arrived_at, user, NULL);
}

int serve_engine_admit_fork(ServeEngine *e, const ServeRequest *r, ServeResult *res, double arrived_at, void *user,
                            const void *parent) {
    return admit(e, r, res, arrived_at, user, parent);
}

/* Slot q's sequence leaves: its caches stay for a later prompt that starts with its prompt (Held), and
 * in a paged run its pages with them until admission needs them (trim_kept_pages). Without prefix
 * caching, or when the slot's length is not the engine's count (a failed step), nothing is kept and
 * the pages go back to the pool now: admission counts the pages of the sequences in flight alone. */
static void keep_caches(ServeEngine *e, int q) {
    const Slot *sl = &e->slot[q];
    Held *h = &e->held[q];
    int64_t fed = sl->res->noutput > 1 ? sl->res->noutput - 1 : 0, n = sl->prefilled;
    h->n = 0;
    if (e->o->no_prefix_caching || e->broken || n + fed != e->b->seq_len[q] || !n) {
        backend_pages_release(e->b, q);
        return;
    }
    Rows rows = running_rows(e, q);
    if (n + rows.ng > h->cap) {
        h->cap = n + rows.ng;
        h->tokens = xrealloc(h->tokens, (size_t)h->cap * sizeof *h->tokens);
    }
    memcpy(h->tokens, rows.prompt, (size_t)n * sizeof *h->tokens);
    if (rows.ng) memcpy(h->tokens + n, rows.gen, (size_t)rows.ng * sizeof *h->tokens);
    h->n = n + rows.ng;
    h->high = slot_high(e, q);
    h->left = ++e->leaves;
}

/* Slot q's sequence leaves: its slot and bytes are free (its caches kept: keep_caches); forks waiting
 * for it prefill their own. */
static void leave(ServeEngine *e, int q) {
    for (int c = 0; c < e->b->cfg.nseq; c++) {
        if (e->slot[c].r && e->slot[c].parent == q) e->slot[c].parent = -1;
        if (e->slot[c].r && e->slot[c].after == q) e->slot[c].after = -1;
    }
    keep_caches(e, q);
    e->fixed_used -= e->slot[q].fixed;
    e->slot[q].r = NULL;
    int k = 0;
    while (e->order[k] != q) k++;
    memmove(e->order + k, e->order + k + 1, (size_t)(e->st.busy - k - 1) * sizeof *e->order);
    e->st.busy--;
    count_in_flight(e);
}

bool serve_engine_cancel(ServeEngine *e, const void *user) {
    for (int k = 0; k < e->st.busy; k++) {
        int q = e->order[k];
        if (e->slot[q].user != user) continue;
        if (e->o->trace) buf_printf(&e->trace, " cancel %s", e->slot[q].r->id);
        leave(e, q);
        return true;
    }
    return false;
}

/* Whether slot q's sequence picks from its logits (else greedily, from the backend's argmax). */
static bool wants_logits(const ServeEngine *e, int q) {
    return e->hooks.pick && (!e->hooks.wants_logits || e->hooks.wants_logits(e->slot[q].user));
}

/* A greedy sequence's token: the argmax code (as its hook takes it). */
static int32_t greedy(const ServeEngine *e, int q, int32_t code) {
    return e->hooks.pick_greedy ? e->hooks.pick_greedy(e->slot[q].user, code) : code;
}

/* Slot q's token from its logits when it wants them, else the argmax code. */
static int32_t pick(const ServeEngine *e, int q, const float *logits, int32_t code) {
    return wants_logits(e, q) ? e->hooks.pick(e->slot[q].user, logits, e->vocab, code, 0) : greedy(e, q, code);
}

/* The sequence in slot q chose tok (from the logits of argmax code `code`): it leaves with max_new
 * tokens (or when the caller ends it), else decodes it next. false (b->err) for a code of non-finite
 * logits that no hook takes (tok < 0). */
static bool emit(ServeEngine *e, int q, int32_t tok, int32_t code, double now) {
    Slot *sl = &e->slot[q];
    ServeResult *res = sl->res;
    if (tok < 0) {
        snprintf(e->b->err, sizeof e->b->err, "the logits of request '%s' at position %lld hold %s (the %s backend)",
                 sl->r->id, (long long)(sl->r->prompt_len + res->noutput), code == MIXC_ARGMAX_NAN ? "NaN" : "Inf",
                 e->b->name);
        return false;
    }
    if (res->noutput == 0) {
        sl->first_token_at = now;
        res->ttft_s = now - sl->arrived_at;
    }
    res->output[res->noutput++] = tok;
    sl->next = tok;
    bool stop = e->hooks.emitted && e->hooks.emitted(sl->user, tok);
    if (!stop && res->noutput < sl->r->max_new) return true;
    res->e2e_s = now - sl->arrived_at;
    res->tpot_s = res->noutput > 1 ? (now - sl->first_token_at) / (double)(res->noutput - 1) : 0.0;
    if (e->o->trace) buf_printf(&e->trace, " finish %s", sl->r->id);
    void *user = sl->user;
    leave(e, q);
    e->st.finished++;
    if (e->hooks.finished) e->hooks.finished(user);
    return true;
}

/* Rows [lo, hi) of e->sampled's picks, on share `share`. */
static void pick_share(void *ctx, int64_t lo, int64_t hi, int share) {
    ServeEngine *e = ctx;
    for (int64_t k = lo; k < hi; k++) {
        int i = e->sampled[k];
        e->picked[i] = e->hooks.pick(e->slot[e->slots[i]].user, e->logits + (int64_t)i * e->vocab, e->vocab, e->ids[i], share);
    }
}

/* One decode step over every sequence past its prefill; the count decoded, -1 on failure. The rows
 * that pick from their logits pick at once, in shares over the hooks' threads (a pick touches only
 * its sequence's state, so each is what it would be alone); then each row's token is emitted in
 * turn. */
static int decode_running(ServeEngine *e) {
    int n = 0, nsampled = 0;
    for (int k = 0; k < e->st.busy; k++) {
        int q = e->order[k];
        const Slot *sl = &e->slot[q];
        if (sl->prefilled < sl->r->prompt_len) continue;
        if (wants_logits(e, q)) e->sampled[nsampled++] = n;
        e->slots[n] = q;
        e->tokens[n++] = sl->next;
    }
    if (n == 0) return 0;
    if (e->o->trace) buf_printf(&e->trace, " decode %d", n);
    /* the logits come back only when a sequence picks from them: else only the ids */
    if (!e->b->ops->decode_argmax(e->b, e->slots, n, e->tokens, e->ids, nsampled ? e->logits : NULL)) return -1;
    for (int i = 0, k = 0; i < n; i++) {
        if (k < nsampled && e->sampled[k] == i) k++;
        else e->picked[i] = greedy(e, e->slots[i], e->ids[i]);
    }
    sample_shares(nsampled, e->hooks.pick_threads, pick_share, e);
    double now = mono_seconds();
    for (int i = 0; i < n; i++)
        if (!emit(e, e->slots[i], e->picked[i], e->ids[i], now)) return -1;
    return n;
}

/* Whether slot q's sequence, or a fork waiting for it, picks from the logits of its prompt's end. */
static bool family_wants_logits(const ServeEngine *e, int q) {
    bool want = wants_logits(e, q);
    for (int c = 0; c < e->b->cfg.nseq && !want; c++) want = e->slot[c].r && e->slot[c].parent == q && wants_logits(e, c);
    return want;
}

/* Slot q's prompt has just ended (its caches hold it alone): each fork waiting for it gets a copy of
 * them (copy_rows) and picks its first token from the same logits (last, argmax code `code`).
 * false when the backend fails (b->err). */
static bool fork_children(ServeEngine *e, int q, const float *last, int32_t code, double now) {
    for (int c = 0; c < e->b->cfg.nseq; c++) {
        Slot *sl = &e->slot[c];
        if (!sl->r || sl->parent != q) continue;
        if (!copy_rows(e, q, c, e->b->seq_len[q])) return false;
        if (e->o->trace) buf_printf(&e->trace, " fork %s", sl->r->id);
        sl->parent = -1;
        sl->prefilled = sl->r->prompt_len;
        e->st.forks++;
        e->st.forked_tokens += sl->r->prompt_len;
        if (!emit(e, c, pick(e, c, last, code), code, now)) return false;
    }
    return true;
}

/* Where a prefill call of the parts returns logits: NULL when no part needs them (only the ids come
 * back); e->logits when only the last rows of parts that end their prompt and sample; e->rows when a
 * part wants every prompt token's (all_logits set on it). */
static float *prefill_logits(ServeEngine *e, int nparts) {
    bool last = false, every = false;
    for (int i = 0; i < nparts; i++) {
        PrefillPart *part = &e->parts[i];
        const Slot *sl = &e->slot[part->slot];
        part->all_logits = e->hooks.wants_prompt_logits && e->hooks.wants_prompt_logits(sl->user);
        every = every || part->all_logits;
        last = last || (sl->prefilled + part->n == sl->r->prompt_len && family_wants_logits(e, part->slot));
    }
    if (every && !e->rows) e->rows = xcalloc((size_t)(e->chunk + e->b->cfg.nseq) * (size_t)e->vocab, sizeof *e->rows);
    return every ? e->rows : last ? e->logits : NULL;
}

/* The prompts waiting for slot q's prefilled rows that are there now take a copy of them
 * (backend_copy_prefix), when q's rings still hold what they read; else (and when q leaves first)
 * they prefill their own. false when the backend fails (b->err). */
static bool copy_waiters(ServeEngine *e, int q) {
    for (int c = 0; c < e->b->cfg.nseq; c++) {
        Slot *sl = &e->slot[c];
        if (!sl->r || sl->after != q || sl->after_n > e->slot[q].prefilled) continue;
        int64_t n = sl->after_n;
        sl->after = -1;
        if (!rings_hold(e->b, slot_high(e, q), n)) continue;
        if (!copy_rows(e, q, c, n)) return false;
        sl->prefilled = sl->res->cached_tokens = n;
        e->st.cached_tokens += n;
        e->st.copies++;
        if (e->o->trace) buf_printf(&e->trace, " copy %s@%lld from %s", sl->r->id, (long long)n, e->slot[q].r->id);
    }
    return true;
}

/* One prefill call (ops->prefill_batch): a chunk of each sequence still prefilling, in admission
 * order, up to `budget` tokens (at most the plan's chunk across them); then the sequences whose prompt
 * is done choose their first token. The tokens run, -1 on failure. */
static int64_t prefill_batch(ServeEngine *e, int64_t budget) {
    int64_t spent = 0;
    int nparts = 0;
    for (int k = 0; k < e->st.busy && spent < budget; k++) {
        int q = e->order[k];
        const Slot *sl = &e->slot[q];
        const ServeRequest *r = sl->r;
        if (sl->prefilled == r->prompt_len || sl->parent >= 0 || sl->after >= 0) continue;   /* done, or waiting */
        int64_t n = r->prompt_len - sl->prefilled, room = budget - spent;
        if (n > room) n = room;
        if (e->o->trace) buf_printf(&e->trace, " prefill %s@%lld+%lld", r->id, (long long)sl->prefilled, (long long)n);
        e->parts[nparts++] = (PrefillPart){q, r->prompt + sl->prefilled, n, false};
        spent += n;
    }
    if (nparts == 0) return 0;
    float *logits = prefill_logits(e, nparts);
    if (!e->b->ops->prefill_argmax(e->b, e->parts, nparts, e->ids, logits)) return -1;
    double now = mono_seconds();
    int64_t row = 0;   /* the part's first row in logits */
    for (int i = 0; i < nparts; i++) {   /* the parts' slots, not e->order: an emit may finish a request */
        const PrefillPart *part = &e->parts[i];
        Slot *sl = &e->slot[part->slot];
        int64_t rows = part->all_logits ? part->n : 1;
        if (sl->r && part->all_logits)
            e->hooks.prompt_logits(sl->user, sl->prefilled, part->n, logits + row * e->vocab, e->vocab);
        row += rows;
        if (!sl->r) continue;   /* a hook of an earlier emit cancelled it */
        sl->prefilled += part->n;
        if (!copy_waiters(e, part->slot)) return -1;
        const float *last = logits ? logits + (row - 1) * e->vocab : NULL;
        if (sl->prefilled == sl->r->prompt_len &&
            (!fork_children(e, part->slot, last, e->ids[i], now) ||
             !emit(e, part->slot, pick(e, part->slot, last, e->ids[i]), e->ids[i], now)))
            return -1;
    }
    return spent;
}

/* The step's prefill: calls of at most the plan's chunk until `budget` tokens ran or no sequence is
 * left prefilling (a --step-tokens above the chunk runs several calls). */
static int64_t prefill_some(ServeEngine *e, int64_t budget) {
    int64_t spent = 0;
    while (spent < budget) {
        int64_t n = prefill_batch(e, budget - spent < e->chunk ? budget - spent : e->chunk);
        if (n <= 0) return n < 0 ? -1 : spent;
        spent += n;
    }
    return spent;
}

int64_t serve_engine_step(ServeEngine *e) {
    int decoded = decode_running(e);
    int64_t budget = e->step_tokens - decoded, prefilled = decoded < 0 ? -1 : budget > 0 ? prefill_some(e, budget) : 0;
    if (prefilled < 0) {
        e->broken = true;
        return -1;
    }
    e->st.steps++;
    e->st.mixed_steps += decoded > 0 && prefilled > 0;
    if (e->o->trace) {
        fprintf(stderr, "%s: step %lld:%s\n", prog_name(), (long long)e->st.steps, e->trace.data ? e->trace.data : "");
        e->trace.len = 0;
        if (e->trace.data) e->trace.data[0] = '\0';
    }
    return decoded + prefilled;
}
