/* test_prefix_cache.c — prefix caching (docs/serving.md, "Prefix caching") against prompts prefilled
 * whole, on one backend (cpu, emu, or cuda under the stand-in driver with its kernels emulated).
 *
 * A request `base` writes h positions (its prompt, then generated tokens), more than the ring caches
 * hold (they wrap). A probe's prompt is the first n of those tokens and another one, for n from 1
 * to 3 and from h - 8 to h (where the rule turns on the test models), and (one slot) h + 1: every
 * token base made, its last never written.
 *  - One slot: base runs to its end, then the probe takes the slot and reuses base's prompt tokens
 *    among its own when every ring still holds the keys the probe reads, else none (never base's
 *    generated tokens: a decode step may round their K and V rows otherwise than a prefill). Base
 *    runs again before each probe, itself reusing what the last probe kept.
 *  - Two slots: base's prompt is prefilled, then the probe is admitted beside it and takes a copy of
 *    its rows where that is more than the free slot kept (backend_copy_prefix); both run to the end.
 *    The rings' rows then stand for the positions of the slot's longest sequence since it was last
 *    emptied, not its current one: base's slot was cut back to what the last base kept.
 *  - Two slots, base and the probe admitted together: the probe waits for base's prefill to pass
 *    the tokens they share, then takes a copy of their rows.
 *  - Two slots, forks: after base, its prompt again with one new token and a second choice (a fork:
 *    a copy of the first choice's caches, whose slot was cut back to what base kept); then the probe
 *    takes the slot holding the most of it, the fork's rings no newer than its parent's.
 *  - Random traffic on three slots (paged: a pool of two whole sequences): prompts that start with
 *    part of one of three stems, admitted as room frees, some a second choice (a fork), some
 *    cancelled; every request that ends is compared. It catches what the others do not: a pool run
 *    dry by the pages free slots keep.
 *  - Paged only, two slots: a prompt's whole pages taken shared from another sequence, not copied; a
 *    write into a shared page copied first (the other slot's rows untouched); two sequences that
 *    share all but one of their pages at once in a pool that holds one unshared (shared_pages).
 * Every logits row each request picks from (its prompt's last and each decode's) must equal, bit for
 * bit, the same request's on an engine that prefills every prompt whole (--no-prefix-caching). The
 * rule is tight: let it reuse one token more past a wrapped ring, and a probe reads a key its ring
 * lost: its logits differ. Each phase must reuse somewhere and (one slot) refuse somewhere.
 * BACKEND-paged: the global caches in pages of 4 tokens. BACKEND+generated (after -paged, if both):
 * ServeOptions.cache_generated, the slots' generated tokens reused too: the probes past base's
 * prompt must reuse some of them; on cpu still bit for bit (its decode writes a row as its prefill
 * does), elsewhere within GENERATED_TOLERANCE of the whole prefill (the kernels round a decode's
 * rows otherwise), the largest difference printed.
 *
 * usage: test_prefix_cache BACKEND LAYOUT.mix [k=v ...]   (prints PASS/FAIL lines, exits 1 on a
 * failure) */
#include "backend.h"
#include "engine.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NEW = 3 };

/* One request's logits rows, as its picks saw them. */
typedef struct {
    int64_t vocab, nrows;
    bool done;              /* it ended (not cancelled) */
    float rows[MAX_NEW][1 << 12];
} Picks;

static int failures;
static double tolerance;      /* 0: bit for bit */

/* A PASS or FAIL line; with a tolerance, its "bit for bit" says what was compared instead. */
static void result(bool ok, const char *what, const char *detail) {
    const char *exact = strstr(what, "bit for bit");
    int head = exact && tolerance > 0 ? (int)(exact - what) : (int)strlen(what);
    printf("%s %.*s", ok ? "PASS" : "FAIL", head, what);
    if (head < (int)strlen(what)) printf("within %g%s", tolerance, what + head + strlen("bit for bit"));
    printf("%s%s\n", detail && *detail ? ": " : "", detail ? detail : "");
    failures += !ok;
}

static int32_t pick(void *user, const float *logits, int64_t vocab, int32_t code, int share) {
    (void)share;
    Picks *p = user;
    memcpy(p->rows[p->nrows++], logits, (size_t)vocab * sizeof *logits);
    return code;
}

static void finished(void *user) { ((Picks *)user)->done = true; }

/* Steps engine e until no sequence is in flight; false when the backend fails. */
static bool drain(ServeEngine *e) {
    while (serve_engine_stats(e).busy)
        if (serve_engine_step(e) < 0) return false;
    return true;
}

/* An empty Picks of logits rows of vocab values (free). */
static Picks *new_picks(int64_t vocab) {
    Picks *p = xcalloc(1, sizeof *p);
    p->vocab = vocab;
    return p;
}

/* Runs r alone on engine e to its end, its picks in p; res its tokens. false when the backend fails. */
static bool run_one(ServeEngine *e, const ServeRequest *r, ServeResult *res, Picks *p) {
    p->nrows = 0;
    free(res->output);
    return serve_engine_admit(e, r, res, 0.0, p) == 1 && drain(e);
}

/* The largest logits difference a run reusing generated tokens' rows may show on emu and cuda (their
 * decode rounds a row otherwise than a prefill: 0.024 on the emu test model). */
#define GENERATED_TOLERANCE 0.05
static double worst_within;   /* the largest difference allowed by tolerance so far */

/* Whether the two runs of r picked from the same logits, bit for bit (or within `tolerance`); *worst
 * the largest difference. */
static bool same_picks(const Picks *a, const Picks *b, double *worst) {
    *worst = 0;
    if (a->nrows != b->nrows) return false;
    for (int64_t i = 0; i < a->nrows; i++)
        for (int64_t v = 0; v < a->vocab; v++) {
            double d = fabs((double)a->rows[i][v] - (double)b->rows[i][v]);
            if (d > *worst) *worst = d;
        }
    if (tolerance > 0) {
        if (*worst > worst_within) worst_within = *worst;
        return *worst <= tolerance;
    }
    for (int64_t i = 0; i < a->nrows; i++)
        if (memcmp(a->rows[i], b->rows[i], (size_t)a->vocab * sizeof(float))) return false;
    return true;
}

/* The longest ring's capacity of b's plan (0: none). */
static int64_t ring_capacity(const Backend *b) {
    int64_t most = 0;
    for (int c = 0; c < b->plan->ncaches; c++)
        if (b->plan->cache[c].ring && b->plan->cache[c].capacity > most) most = b->plan->cache[c].capacity;
    return most;
}

/* A request w ran, and its picks. */
typedef struct {
    int32_t *prompt;
    int64_t prompt_len, max_new;
    Picks *picks;
} WholeRun;

/* The probes of one engine against the engine w that prefills every prompt whole. */
typedef struct {
    ServeEngine *w;
    WholeRun *whole;                /* the requests w ran (whole_picks) */
    int nwhole;
    int64_t vocab, base_len, h;     /* h: the positions base writes */
    const ServeRequest *base;
    Picks *pbase;                   /* base's picks on w */
    int64_t ctx;
    int nreq;                       /* random_traffic's requests */
    char detail[640];
    int reused, refused, compared, copied;
    int generated;                  /* probes that reused generated tokens (ServeOptions.cache_generated) */
    bool cache_generated;
    int64_t shared;                 /* shared_pages: the pages b and d took shared */
    Backend *b;                     /* shared_pages' backend */
    ServeEngineStats st;            /* random_traffic's engine's, after */
} Probes;

/* r's picks on p->w, which prefills every prompt whole; NULL when the backend fails. Each prompt runs
 * there once: w's answer to a request is the same every time (it keeps nothing between requests), and
 * the phases probe the same prompts again (an emulated run takes about a second). */
static const Picks *whole_picks(Probes *p, const ServeRequest *r) {
    for (int i = 0; i < p->nwhole; i++) {
        const WholeRun *w = &p->whole[i];
        if (w->prompt_len == r->prompt_len && w->max_new == r->max_new &&
            !memcmp(w->prompt, r->prompt, (size_t)r->prompt_len * sizeof *r->prompt))
            return w->picks;
    }
    ServeResult rw = {0};
    Picks *pk = new_picks(p->vocab);
    bool ok = run_one(p->w, r, &rw, pk);
    free(rw.output);
    if (!ok) {
        free(pk);
        return NULL;
    }
    p->whole = xrealloc(p->whole, (size_t)(p->nwhole + 1) * sizeof *p->whole);
    int32_t *copy = xcalloc((size_t)r->prompt_len, sizeof *copy);
    memcpy(copy, r->prompt, (size_t)r->prompt_len * sizeof *copy);
    p->whole[p->nwhole++] = (WholeRun){copy, r->prompt_len, r->max_new, pk};
    return pk;
}

/* The probe of n tokens: base's first n (its prompt's, then its generated ones: out) and one more. */
static ServeRequest probe_request(const Probes *p, int64_t n, const int32_t *out) {
    int32_t *probe = xcalloc((size_t)n + 1, sizeof *probe);
    memcpy(probe, p->base->prompt, (size_t)(n < p->base_len ? n : p->base_len) * sizeof *probe);
    if (n > p->base_len) memcpy(probe + p->base_len, out, (size_t)(n - p->base_len) * sizeof *probe);
    probe[n] = (int32_t)((probe[n - 1] + 1) % p->vocab);   /* its last token is always prefilled: n reused at most */
    return (ServeRequest){.id = "probe", .prompt = probe, .prompt_len = n + 1, .max_new = MAX_NEW};
}

/* Whether base's picks (got) and the probe's (its result sc and picks pc) are those of w; counts the
 * probe. */
static bool judge(Probes *p, int64_t n, const Picks *got, const ServeRequest *pr, const ServeResult *sc,
                  const Picks *pc) {
    double worst;
    if (!same_picks(got, p->pbase, &worst)) {
        snprintf(p->detail, sizeof p->detail, "base (beside the probe of %lld) differs (by %g at most)", (long long)n, worst);
        return false;
    }
    const Picks *pw = whole_picks(p, pr);
    bool ok = pw != NULL;
    if (ok && !same_picks(pc, pw, &worst)) {
        snprintf(p->detail, sizeof p->detail, "the probe of %lld tokens (%lld reused, after %lld) differs (by %g at "
                 "most)", (long long)n, (long long)sc->cached_tokens, (long long)p->h, worst);
        return false;
    }
    int64_t most = p->cache_generated ? p->h : p->base_len;   /* the rows base wrote that may be reused */
    if (ok && sc->cached_tokens > (n < most ? n : most)) {
        snprintf(p->detail, sizeof p->detail, "the probe of %lld tokens reused %lld, past base's %s or its own",
                 (long long)n, (long long)sc->cached_tokens, p->cache_generated ? "written rows" : "prompt");
        return false;
    }
    p->compared++;
    p->generated += sc->cached_tokens > p->base_len;
    p->reused += sc->cached_tokens > 0;
    p->refused += sc->cached_tokens == 0;
    return ok;
}

/* The next n of the probes: 1 to 3, then from h - 8 on (where the rule turns on the test models). */
static int64_t next_n(const Probes *p, int64_t n) { return n == 3 && p->h - 8 > 4 ? p->h - 8 : n + 1; }

/* One slot: base runs to its end, then the probe takes its slot and what it kept. */
static bool kept_probes(Probes *p, ServeEngine *e) {
    ServeResult rb = {0};
    Picks *pb = new_picks(p->vocab), *pc = new_picks(p->vocab);
    bool ok = true;
    for (int64_t n = 1; ok && n <= p->h + 1; n = next_n(p, n)) {   /* h + 1: every token base made */
        ServeResult sc = {0};
        ok = run_one(e, p->base, &rb, pb);
        ServeRequest pr = probe_request(p, n, rb.output);
        ok = ok && run_one(e, &pr, &sc, pc) && judge(p, n, pb, &pr, &sc, pc);
        free(sc.output), free(pr.prompt);
    }
    free(rb.output), free(pb), free(pc);
    return ok;
}

/* Two slots: base's prompt is prefilled (its first token chosen), then the probe is admitted beside
 * it, takes a copy of its rows (backend_copy_prefix) where that is more than the free slot kept, and
 * both run to their end. */
static bool copy_probes(Probes *p, ServeEngine *e) {
    ServeResult rb = {0};
    Picks *pb = new_picks(p->vocab), *pc = new_picks(p->vocab);
    bool ok = true;
    for (int64_t n = 1; ok && n <= p->base_len; n = next_n(p, n)) {
        ServeResult sc = {0};
        ServeRequest pr = probe_request(p, n, NULL);
        free(rb.output);
        pb->nrows = pc->nrows = 0;
        int64_t copies = serve_engine_stats(e).copies;
        ok = serve_engine_admit(e, p->base, &rb, 0.0, pb) == 1;
        while (ok && rb.noutput == 0) ok = serve_engine_step(e) >= 0;
        ok = ok && serve_engine_admit(e, &pr, &sc, 0.0, pc) == 1;
        ok = ok && drain(e);
        p->copied += ok && serve_engine_stats(e).copies > copies;
        ok = ok && judge(p, n, pb, &pr, &sc, pc);
        free(sc.output), free(pr.prompt);
    }
    free(rb.output), free(pb), free(pc);
    return ok;
}

/* Two slots, admitted together: base, then the probe, before a step runs (two unrelated requests ran
 * first on both slots, so none keeps base's prompt). The probe waits for base's prefill to pass the
 * tokens they share and takes a copy of them then (copy_waiters). */
static bool wait_probes(Probes *p, ServeEngine *e) {
    ServeResult rb = {0}, rf[2] = {{0}};
    Picks *pb = new_picks(p->vocab), *pc = new_picks(p->vocab);
    int32_t other[2][2] = {{(int32_t)p->vocab - 1, 1}, {(int32_t)p->vocab - 2, 2}};
    ServeRequest flush[2] = {{.id = "other", .prompt = other[0], .prompt_len = 2, .max_new = 1},
                             {.id = "other", .prompt = other[1], .prompt_len = 2, .max_new = 1}};
    bool ok = true;
    for (int64_t n = 1; ok && n <= p->base_len; n = next_n(p, n)) {
        ServeResult sc = {0};
        ServeRequest pr = probe_request(p, n, NULL);
        pc->nrows = 0;   /* the two fill two of its rows */
        for (int k = 0; k < 2 && ok; k++) free(rf[k].output), ok = serve_engine_admit(e, &flush[k], &rf[k], 0.0, pc) == 1;
        ok = ok && drain(e);
        free(rb.output);
        pb->nrows = pc->nrows = 0;
        int64_t copies = serve_engine_stats(e).copies;
        ok = ok && serve_engine_admit(e, p->base, &rb, 0.0, pb) == 1 && serve_engine_admit(e, &pr, &sc, 0.0, pc) == 1;
        ok = ok && drain(e);
        p->copied += ok && serve_engine_stats(e).copies > copies;
        ok = ok && judge(p, n, pb, &pr, &sc, pc);
        free(sc.output), free(pr.prompt);
    }
    free(rb.output), free(rf[0].output), free(rf[1].output), free(pb), free(pc);
    return ok;
}

/* Two slots, forks: base runs to its end; then base's prompt again, one new token, with a second
 * choice that takes a copy of its caches when that prompt ends (serve_engine_admit_fork): the first
 * choice starts from what base kept, so both slots' rings hold rows of base's later positions; then
 * the probe takes whichever slot holds more of it. */
static bool fork_probes(Probes *p, ServeEngine *e) {
    ServeResult rb = {0}, r1 = {0}, r2 = {0};
    Picks *pb = new_picks(p->vocab), *pc = new_picks(p->vocab), *pk = new_picks(p->vocab);
    ServeRequest one = *p->base;
    one.max_new = 1;
    bool ok = true;
    for (int64_t n = 1; ok && n <= p->base_len; n = next_n(p, n)) {
        ServeResult sc = {0};
        ServeRequest pr = probe_request(p, n, NULL);
        free(r1.output), free(r2.output);
        pc->nrows = pk->nrows = 0;
        ok = run_one(e, p->base, &rb, pb) && serve_engine_admit(e, &one, &r1, 0.0, pc) == 1 &&
             serve_engine_admit_fork(e, &one, &r2, 0.0, pk, pc) == 1;
        ok = ok && drain(e);
        ok = ok && run_one(e, &pr, &sc, pc) && judge(p, n, pb, &pr, &sc, pc);
        free(sc.output), free(pr.prompt);
    }
    free(rb.output), free(r1.output), free(r2.output), free(pb), free(pc), free(pk);
    return ok;
}

enum { NREQ = 48, NREQ_KERNELS = 16 };   /* the emulator runs the kernels far slower: fewer there */

static uint32_t lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Paged: once no sequence is in flight and the free slots let their kept pages go, every page of the
 * pool is free again, each once (none lost to a count of its holders, none given twice). The engine
 * keeps no prefix after it (its slots' Held say otherwise): the phase's last use of it. */
static bool pages_all_back(Probes *p) {
    Backend *b = p->b;
    if (!b->plan->page_tokens) return true;
    for (int q = 0; q < b->cfg.nseq; q++) backend_pages_release(b, q);
    unsigned char *seen = xcalloc((size_t)b->plan->pool_pages, 1);
    bool ok = b->nfree_pages == b->plan->pool_pages;
    for (int64_t i = 0; ok && i < b->nfree_pages; i++) ok = !seen[b->free_pages[i]]++;
    free(seen);
    if (!ok) snprintf(p->detail, sizeof p->detail, "after the traffic, %lld of the pool's %lld pages are free (or one "
                      "twice)", (long long)b->nfree_pages, (long long)b->plan->pool_pages);
    return ok;
}

/* Random traffic on an engine of 3 slots: p->nreq requests whose prompts start with part of one of three
 * stems (or none) and go on a few tokens, admitted as room frees, some the second choice of the one
 * before (a fork), now and then one cancelled. Every request that ends must pick from the logits the
 * same request gets alone on p->w, bit for bit; p->st the engine's figures after. Paged, every page
 * comes back (pages_all_back). */
static bool random_traffic(Probes *p, ServeEngine *e) {
    const int NREQ = p->nreq;
    int64_t ctx = p->ctx;
    uint32_t rng = 2026;
    int32_t stems[3][64];
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 64; j++) stems[k][j] = (int32_t)(lcg(&rng) % (uint32_t)p->vocab);
    ServeRequest *rq = xcalloc(NREQ, sizeof *rq);
    ServeResult *res = xcalloc(NREQ, sizeof *res);
    Picks *pk = xcalloc(NREQ, sizeof *pk);
    for (int i = 0; i < NREQ; i++) {
        bool fork = i > 0 && lcg(&rng) % 6 == 0;
        int stem = (int)(lcg(&rng) % 4);
        int64_t max_new = 1 + lcg(&rng) % MAX_NEW, len = ctx - max_new - (int64_t)(lcg(&rng) % (uint32_t)(ctx / 2));
        if (fork) len = rq[i - 1].prompt_len, max_new = rq[i - 1].max_new;
        int32_t *t = xcalloc((size_t)len, sizeof *t);
        for (int64_t j = 0; j < len; j++)
            t[j] = fork ? rq[i - 1].prompt[j]
                 : stem < 3 && j < len - 1 - (int64_t)(lcg(&rng) % 4) ? stems[stem][j]
                                                                       : (int32_t)(lcg(&rng) % (uint32_t)p->vocab);
        rq[i] = (ServeRequest){.id = fork ? "fork" : "traffic", .prompt = t, .prompt_len = len, .max_new = max_new};
        pk[i].vocab = p->vocab;
    }
    bool ok = true;
    for (int next = 0; ok && (next < NREQ || serve_engine_stats(e).busy);) {
        for (int got = 1; ok && got == 1 && next < NREQ; next += got == 1) {
            bool fork = rq[next].id[0] == 'f';
            got = fork ? serve_engine_admit_fork(e, &rq[next], &res[next], 0.0, &pk[next], &pk[next - 1])
                       : serve_engine_admit(e, &rq[next], &res[next], 0.0, &pk[next]);
            ok = got >= 0;
        }
        if (ok && next > 0 && lcg(&rng) % 9 == 0) serve_engine_cancel(e, &pk[lcg(&rng) % (uint32_t)next]);
        ok = ok && serve_engine_step(e) >= 0;
    }
    p->st = serve_engine_stats(e);
    ok = ok && pages_all_back(p);
    for (int i = 0; ok && i < NREQ; i++) {
        if (!pk[i].done) continue;
        double worst;
        const Picks *pw = whole_picks(p, &rq[i]);
        ok = pw != NULL;
        if (ok && !same_picks(&pk[i], pw, &worst)) {
            ok = false;
            snprintf(p->detail, sizeof p->detail, "request %d (%lld tokens, %lld reused) differs (by %g at most)", i,
                     (long long)rq[i].prompt_len, (long long)res[i].cached_tokens, worst);
        }
        p->compared += ok;
    }
    for (int i = 0; i < NREQ; i++) free(rq[i].prompt), free(res[i].output);
    free(rq), free(res), free(pk);
    return ok;
}

/* S's first n tokens, then `last` (free). */
static int32_t *stem_then(const int32_t *S, int64_t n, int32_t last) {
    int32_t *t = xcalloc((size_t)n + 1, sizeof *t);
    memcpy(t, S, (size_t)n * sizeof *t);
    t[n] = last;
    return t;
}

/* Runs r on engine e from its admission and compares its picks with r's alone on p->w; counts it. */
static bool same_as_whole(Probes *p, const ServeRequest *r, const Picks *got, const char *what) {
    double worst;
    const Picks *pw = whole_picks(p, r);
    bool ok = pw != NULL;
    if (ok && !same_picks(got, pw, &worst)) {
        snprintf(p->detail, sizeof p->detail, "%s differs from its prompt prefilled whole (by %g at most)", what, worst);
        return false;
    }
    p->compared += ok;
    return ok;
}

/* The stem of shared_pages: L tokens, L % 4 == 1 (L - 1 fills whole pages of 4), L + MAX_NEW within
 * the context; S[L] filled. */
enum { STEM_MAX = 33 };
static int64_t shared_stem(const Probes *p, int32_t S[STEM_MAX]) {
    int64_t L = p->ctx - MAX_NEW < STEM_MAX ? p->ctx - MAX_NEW : STEM_MAX;
    L -= (L + 3) % 4;
    for (int j = 0; j < STEM_MAX; j++) S[j] = (int32_t)((29 * j + 3) % p->vocab);
    return L;
}

/* Paged, pages of 4, two slots (a fresh engine): a prompt's whole pages shared, not copied, and one
 * written into copied first. With L = 33 (a context of 36 or more; less: the largest L % 4 == 1):
 *  - a (33 tokens of a stem S) and b (S's first 32, then another) admitted together: b waits for a's
 *    prefill to pass 32 tokens and takes its 8 whole pages shared; both end (their slots keep them).
 *  - c (S's first 30, then another) starts in a kept slot from 30 tokens: its first write falls in
 *    page 7, which both slots hold: the slot takes a copy of its own first (else c's row at 30 would
 *    be the other slot's). d (b's prompt again) then reuses 32 tokens of the slot c did not take:
 *    its rows 28..31 must be untouched. (30: the rings still hold what c reads, on the test models.)
 *  - (shared_room) a pool of 10 pages: e (S's 33 tokens, 3 new: 9 pages) runs; f (S's first 32,
 *    another, 3 new) arrives once e's prompt is in: it shares e's 8 whole pages and needs 1 more, so
 *    both run at once in a pool that holds one sequence unshared.
 * Every logits row = the prompt prefilled whole, bit for bit. */
static bool shared_pages(Probes *p, ServeEngine *e) {
    Backend *b = p->b;
    int32_t S[STEM_MAX];
    int64_t L = shared_stem(p, S);
    int32_t other = (int32_t)((S[L - 1] + 1) % p->vocab), *ta = stem_then(S, L - 1, S[L - 1]),
            *tb = stem_then(S, L - 1, other), *tc = stem_then(S, L - 3, other);
    ServeRequest a = {.id = "a", .prompt = ta, .prompt_len = L, .max_new = 1}, bq = a, c = a, d;
    bq.id = "b", bq.prompt = tb;
    c.id = "c", c.prompt = tc, c.prompt_len = L - 2;
    d = bq, d.id = "d";
    ServeResult r[4] = {{0}};
    Picks *pk[4];
    for (int i = 0; i < 4; i++) pk[i] = new_picks(p->vocab);
    int64_t shared = b->pages_shared, copied = b->pages_copied;
    bool ok = serve_engine_admit(e, &a, &r[0], 0.0, pk[0]) == 1 && serve_engine_admit(e, &bq, &r[1], 0.0, pk[1]) == 1 &&
              drain(e) && r[1].cached_tokens == L - 1;
    p->shared = b->pages_shared - shared;
    ok = ok && run_one(e, &c, &r[2], pk[2]) && r[2].cached_tokens == L - 3;
    p->copied = (int)(b->pages_copied - copied);
    ok = ok && run_one(e, &d, &r[3], pk[3]) && r[3].cached_tokens == L - 1;
    if (!ok && !p->detail[0])
        snprintf(p->detail, sizeof p->detail, "prompt tokens reused: b %lld of %lld, c %lld of %lld, d %lld of %lld (%s)",
                 (long long)r[1].cached_tokens, (long long)L - 1, (long long)r[2].cached_tokens, (long long)L - 3,
                 (long long)r[3].cached_tokens, (long long)L - 1, b->err);
    const ServeRequest *rq[4] = {&a, &bq, &c, &d};
    for (int i = 0; i < 4 && ok; i++) ok = same_as_whole(p, rq[i], pk[i], rq[i]->id);
    for (int i = 0; i < 4; i++) free(r[i].output), free(pk[i]);
    free(ta), free(tb), free(tc);
    return ok;
}

/* The pages of e in shared_room (its L prompt tokens and MAX_NEW), and those f shares with it. */
static int64_t room_pages(int64_t L) { return (L + MAX_NEW + 3) / 4; }
static int64_t room_shared(int64_t L) { return (L - 1) / 4; }

/* The last part of shared_pages: e and f at once in a pool of room_pages + 1 pages (engine e of 2
 * slots). */
static bool shared_room(Probes *p, ServeEngine *e) {
    int32_t S[STEM_MAX];
    int64_t L = shared_stem(p, S);
    int32_t *te = stem_then(S, L - 1, S[L - 1]), *tf = stem_then(S, L - 1, (int32_t)((S[L - 1] + 1) % p->vocab));
    ServeRequest re = {.id = "e", .prompt = te, .prompt_len = L, .max_new = MAX_NEW}, rf = re;
    rf.id = "f", rf.prompt = tf;
    ServeResult r[2] = {{0}};
    Picks *pk[2] = {new_picks(p->vocab), new_picks(p->vocab)};
    bool ok = serve_engine_admit(e, &re, &r[0], 0.0, pk[0]) == 1;
    while (ok && r[0].noutput == 0) ok = serve_engine_step(e) >= 0;
    int got = ok ? serve_engine_admit(e, &rf, &r[1], 0.0, pk[1]) : -1;
    p->st = serve_engine_stats(e);
    ok = got == 1 && drain(e);
    if (got == 0) snprintf(p->detail, sizeof p->detail, "f was not admitted beside e (%lld pages in flight of %lld)",
                           (long long)p->st.pages_used, (long long)room_pages(L) + 1);
    ok = ok && same_as_whole(p, &re, pk[0], "e") && same_as_whole(p, &rf, pk[1], "f");
    free(r[0].output), free(r[1].output), free(pk[0]), free(pk[1]), free(te), free(tf);
    return ok;
}

/* Runs one phase on e (its counts reset); false with p->detail on a failure. */
static bool phase(Probes *p, bool (*run)(Probes *, ServeEngine *), ServeEngine *e, const Backend *b) {
    p->compared = p->reused = p->refused = p->copied = p->generated = 0;
    p->shared = 0;
    p->detail[0] = '\0';
    bool ok = p->w && e && run(p, e);
    if (!ok && !p->detail[0]) snprintf(p->detail, sizeof p->detail, "%s", b->err[0] ? b->err : "the backend did not open");
    return ok;
}

/* An engine with prefix caching on a backend of nseq slots. */
static ServeEngine *open_engine(const char *backend, const Model *m, BackendConfig cfg, int nseq, Backend *b,
                                const ServeOptions *o, const ServeHooks *hooks, char *err, size_t errlen) {
    cfg.nseq = nseq;
    if (backend_open(backend, m, &cfg, b, err, errlen) != 0) return NULL;
    return serve_engine_open(b, o, hooks);
}

/* A paged run's shared_pages and shared_room, each on a fresh engine of 2 slots (the second's pool
 * room_pages + 1 pages of 4). */
static bool shared_phases(Probes *p, const char *backend, const Model *m, BackendConfig cfg, const ServeOptions *o,
                          const ServeHooks *hooks, const char *name) {
    char err[512] = "", what[400];
    int32_t S[STEM_MAX];
    int64_t L = shared_stem(p, S), pages = room_pages(L), shares = room_shared(L);
    Backend b = {0}, b2 = {0};
    ServeEngine *e = open_engine(backend, m, cfg, 2, &b, o, hooks, err, sizeof err);
    p->b = &b;
    bool shared = phase(p, shared_pages, e, &b);
    snprintf(what, sizeof what, "%s: a prompt's whole pages taken shared (%lld of %lld), and the shared page a prompt "
             "writes into copied first (%d): every logits row of the 4 = prefilled whole, bit for bit", name,
             (long long)p->shared, (long long)shares, p->copied);
    result(shared && p->compared == 4 && p->shared == shares && p->copied == 1, what, p->detail[0] ? p->detail : err);
    cfg.pool_pages = pages + 1;
    ServeEngine *e2 = open_engine(backend, m, cfg, 2, &b2, o, hooks, err, sizeof err);
    bool room = phase(p, shared_room, e2, &b2);
    snprintf(what, sizeof what, "%s: two sequences of %lld pages each at once in a pool of %lld, sharing %lld (%lld "
             "pages in flight): each = prefilled whole, bit for bit", name, (long long)pages, (long long)pages + 1,
             (long long)shares, (long long)p->st.pages_used);
    result(room && p->compared == 2 && p->st.pages_used == pages + 1, what, p->detail[0] ? p->detail : err);
    serve_engine_close(e), serve_engine_close(e2);
    if (b.ops) backend_close(&b);
    if (b2.ops) backend_close(&b2);
    return shared && room;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_prefix_cache BACKEND LAYOUT.mix [k=v ...]\n");
        return 2;
    }
    Layout l;
    Model m;
    LoadOptions lo = {.prog = "test_prefix_cache", .sets = (const char *const *)argv + 3, .nsets = argc - 3};
    if (load_layout_file(argv[2], &lo, &l, stderr) != 0) return 2;
    if (l.model.vocab > (1 << 12)) {
        fprintf(stderr, "test_prefix_cache: a vocabulary of at most 4096\n");
        return 2;
    }
    model_init_random(&m, &l, 11);
    char backend[32], err[512] = "", what[320], name[64];
    snprintf(backend, sizeof backend, "%s", argv[1]);
    snprintf(name, sizeof name, "%s%s%s", argv[1], dtype_quantized(l.model.kv_dtype) ? ", caches " : "",
             dtype_quantized(l.model.kv_dtype) ? dtype_name(l.model.kv_dtype) : "");
    char *generated = strstr(backend, "+generated"), *paged = strstr(backend, "-paged");
    if (generated) *generated = '\0';
    if (generated && strcmp(backend, "cpu") && strcmp(backend, "cpu-paged")) tolerance = GENERATED_TOLERANCE;
    int64_t ctx = l.model.context < 40 ? l.model.context : 40, vocab = l.model.vocab, base_len = ctx - 8;
    BackendConfig cfg = {.context = ctx};
    if (paged) *paged = '\0', cfg.page_tokens = 4;
    Backend b = {0}, b2 = {0}, whole = {0};
    ServeOptions caching = {.context = ctx, .cache_generated = generated != NULL},
                 off = {.context = ctx, .no_prefix_caching = true};
    ServeHooks hooks = {.pick = pick, .finished = finished};
    ServeEngine *e = open_engine(backend, &m, cfg, 1, &b, &caching, &hooks, err, sizeof err);
    ServeEngine *e2 = e ? open_engine(backend, &m, cfg, 2, &b2, &caching, &hooks, err, sizeof err) : NULL;
    ServeEngine *w = e2 ? open_engine(backend, &m, cfg, 1, &whole, &off, &hooks, err, sizeof err) : NULL;
    if (!w) fprintf(stderr, "test_prefix_cache: %s\n", err);

    /* base: ctx - 8 prompt tokens; it writes them and MAX_NEW - 1 generated ones */
    int32_t *tokens = xcalloc((size_t)ctx, sizeof *tokens);
    for (int64_t j = 0; j < base_len; j++) tokens[j] = (int32_t)((17 * j + 5) % vocab);
    ServeRequest base = {.id = "base", .prompt = tokens, .prompt_len = base_len, .max_new = MAX_NEW};
    ServeResult rw = {0};
    Probes p = {.w = w, .vocab = vocab, .base_len = base_len, .h = base_len + MAX_NEW - 1, .base = &base,
                .pbase = new_picks(vocab)};
    p.ctx = ctx;
    p.cache_generated = generated != NULL;
    p.nreq = strcmp(backend, "cpu") ? NREQ_KERNELS : NREQ;
    bool ok = w && run_one(w, &base, &rw, p.pbase);   /* base prefilled whole: the same every time */
    int64_t cap = ok ? ring_capacity(&b) : 0;
    bool kept = ok && phase(&p, kept_probes, e, &b);
    snprintf(what, sizeof what, "%s: prompts that start with what a slot kept, %lld positions written (rings of %lld, "
             "wrapped): every logits row = prefilled whole, bit for bit (%d probes; %d reused a prefix, %d not)",
             name, (long long)p.h, (long long)cap, p.compared, p.reused, p.refused);
    result(kept && p.compared >= 6 && p.h > cap && p.reused > 0 && p.refused > 0, what, p.detail);
    if (generated) {
        snprintf(what, sizeof what, "%s: probes past base's prompt reuse its generated tokens' rows (%d of %d)", name,
                 p.generated, p.compared);
        result(kept && p.generated > 0, what, NULL);
    }
    bool copied = ok && phase(&p, copy_probes, e2, &b2);
    snprintf(what, sizeof what, "%s: prompts admitted beside a running one that starts them: every logits row of "
             "both = prefilled whole, bit for bit (%d probes; %d took a copy of its rows)", name, p.compared, p.copied);
    result(copied && p.compared >= 6 && p.copied > 0, what, p.detail);
    bool waited = ok && phase(&p, wait_probes, e2, &b2);
    snprintf(what, sizeof what, "%s: prompts admitted with one that starts them, before it ran: every logits row of "
             "both = prefilled whole, bit for bit (%d probes; %d waited for its rows and took a copy)", name,
             p.compared, p.copied);
    result(waited && p.compared >= 6 && p.copied > 0, what, p.detail);
    int64_t forks = e2 ? serve_engine_stats(e2).forks : 0;
    bool forked = ok && phase(&p, fork_probes, e2, &b2);
    snprintf(what, sizeof what, "%s: prompts that start with what a fork's slot kept (its rings copied from a slot "
             "cut back): every logits row = prefilled whole, bit for bit (%d probes; %d reused a prefix, %d not)",
             name, p.compared, p.reused, p.refused);
    result(forked && p.compared >= 6 && p.reused > 0 && p.refused > 0 && serve_engine_stats(e2).forks > forks, what,
           p.detail);
    Backend b3 = {0};
    BackendConfig tight = cfg;   /* paged: a pool of 2 whole sequences for 3 slots */
    tight.pool_pages = cfg.page_tokens ? 2 * ((ctx + cfg.page_tokens - 1) / cfg.page_tokens) : 0;
    ServeEngine *e3 = ok ? open_engine(backend, &m, tight, 3, &b3, &caching, &hooks, err, sizeof err) : NULL;
    p.b = &b3;
    bool traffic = ok && phase(&p, random_traffic, e3, &b3);
    snprintf(what, sizeof what, "%s: random traffic on 3 slots%s (%d requests ended: %lld prompt tokens reused, "
             "%lld copies, %lld forks, cancels): each = alone, bit for bit", name,
             cfg.page_tokens ? ", a pool of 2 sequences" : "", p.compared, (long long)p.st.cached_tokens,
             (long long)p.st.copies, (long long)p.st.forks);
    result(traffic && p.compared > p.nreq / 2 && p.st.cached_tokens > 0 && p.st.copies > 0 && p.st.forks > 0, what,
           p.detail);
    ok = ok && kept && copied && waited && forked && traffic;
    if (tolerance > 0) {
        snprintf(what, sizeof what, "%s: the largest logits difference from a whole prefill, of every run above: %g",
                 name, worst_within);
        result(ok && worst_within <= tolerance, what, NULL);
    }
    serve_engine_close(e3);
    if (b3.ops) backend_close(&b3);
    if (cfg.page_tokens && ok) ok = shared_phases(&p, backend, &m, cfg, &caching, &hooks, name);
    serve_engine_close(e), serve_engine_close(e2), serve_engine_close(w);
    for (int i = 0; i < p.nwhole; i++) free(p.whole[i].prompt), free(p.whole[i].picks);
    free(rw.output), free(p.whole), free(p.pbase), free(tokens);
    if (b.ops) backend_close(&b);
    if (b2.ops) backend_close(&b2);
    if (whole.ops) backend_close(&whole);
    model_free(&m);
    layout_free(&l);
    return ok && !failures ? 0 : 1;
}
