/* test_prefix_cache.c — prefix caching (docs/serving.md, "Prefix caching") against prompts prefilled
 * whole, on one backend (cpu, emu, or cuda under the stand-in driver with its kernels emulated).
 *
 * One slot. A request `base` writes h positions in the slot (its prompt, then generated tokens),
 * more than the ring caches hold (they wrap). Then a probe whose prompt is the first n of those
 * tokens and another takes the slot: the engine reuses the prompt tokens of base among them when
 * every ring still holds the keys the probe reads, else none (and never base's generated tokens: a
 * decode step may round their K and V rows otherwise than a prefill). For n from 1 to 3 and from h - 12
 * to h (where the rule turns: base run again before each probe), every logits row each request picks from (its prompt's last and each
 * decode's) must equal, bit for bit, the same request's on a second engine that prefills every
 * prompt whole (--no-prefix-caching). The rule is tight: let it reuse one token more past a wrapped
 * ring and a probe reads a key its ring lost, and its logits differ. The run must reuse somewhere
 * and refuse somewhere, so both sides of the rule are exercised. BACKEND-paged: the global caches in
 * pages of 4 tokens.
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
    float rows[MAX_NEW][1 << 12];
} Picks;

static int failures;

static void result(bool ok, const char *what, const char *detail) {
    printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", what, detail && *detail ? ": " : "", detail ? detail : "");
    failures += !ok;
}

static int32_t pick(void *user, const float *logits, int64_t vocab, int32_t code, int share) {
    (void)share;
    Picks *p = user;
    memcpy(p->rows[p->nrows++], logits, (size_t)vocab * sizeof *logits);
    return code;
}

/* Runs r alone on engine e to its end, its picks in p; res its tokens. false when the backend fails. */
static bool run_one(ServeEngine *e, const ServeRequest *r, ServeResult *res, Picks *p) {
    p->nrows = 0;
    free(res->output);
    if (serve_engine_admit(e, r, res, 0.0, p) != 1) return false;
    while (serve_engine_stats(e).busy)
        if (serve_engine_step(e) < 0) return false;
    return true;
}

/* Whether the two runs of r picked from the same logits, bit for bit; *worst the largest difference. */
static bool same_picks(const Picks *a, const Picks *b, double *worst) {
    *worst = 0;
    if (a->nrows != b->nrows) return false;
    for (int64_t i = 0; i < a->nrows; i++)
        for (int64_t v = 0; v < a->vocab; v++) {
            double d = fabs((double)a->rows[i][v] - (double)b->rows[i][v]);
            if (d > *worst) *worst = d;
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
    char backend[32], err[512] = "", what[256], detail[640] = "";
    snprintf(backend, sizeof backend, "%s", argv[1]);
    char *paged = strstr(backend, "-paged");
    int64_t ctx = l.model.context < 40 ? l.model.context : 40, vocab = l.model.vocab;
    BackendConfig cfg = {.nseq = 1, .context = ctx};
    if (paged) *paged = '\0', cfg.page_tokens = 4;
    Backend b = {0}, whole = {0};
    bool ok = backend_open(backend, &m, &cfg, &b, err, sizeof err) == 0 &&
              backend_open(backend, &m, &cfg, &whole, err, sizeof err) == 0;
    if (!ok) fprintf(stderr, "test_prefix_cache: %s\n", err);
    ServeOptions caching = {.context = ctx}, off = {.context = ctx, .no_prefix_caching = true};
    ServeHooks hooks = {.pick = pick};
    ServeEngine *e = ok ? serve_engine_open(&b, &caching, &hooks) : NULL, *w = ok ? serve_engine_open(&whole, &off, &hooks) : NULL;

    /* base: ctx - 8 prompt tokens; its slot then holds them and MAX_NEW - 1 generated ones */
    int64_t base_len = ctx - 8, h = base_len + MAX_NEW - 1;
    int32_t *tokens = xcalloc((size_t)ctx, sizeof *tokens);
    for (int64_t j = 0; j < base_len; j++) tokens[j] = (int32_t)((17 * j + 5) % vocab);
    ServeRequest base = {.id = "base", .prompt = tokens, .prompt_len = base_len, .max_new = MAX_NEW};
    ServeResult rb = {0}, rw = {0};
    Picks *pc = xcalloc(1, sizeof *pc), *pw = xcalloc(1, sizeof *pw);
    pc->vocab = pw->vocab = vocab;
    int reused = 0, refused = 0, compared = 0;
    int64_t cap = ok ? ring_capacity(&b) : 0;
    ok = ok && run_one(w, &base, &rw, pw);   /* base prefilled whole: the same every time */
    Picks *pbase = xcalloc(1, sizeof *pbase);
    if (ok) memcpy(pbase, pw, sizeof *pw);
    for (int64_t n = 1; ok && n <= h; n = n == 3 && h - 12 > 4 ? h - 12 : n + 1) {
        ok = run_one(e, &base, &rb, pc);
        if (!ok) break;
        double worst;
        ok = same_picks(pc, pbase, &worst);
        if (!ok) snprintf(detail, sizeof detail, "base (before the probe of %lld) differs (by %g at most)", (long long)n, worst);
        int32_t *probe = xcalloc((size_t)n + 1, sizeof *probe);
        memcpy(probe, tokens, (size_t)(n < base_len ? n : base_len) * sizeof *probe);
        if (n > base_len) memcpy(probe + base_len, rb.output, (size_t)(n - base_len) * sizeof *probe);
        probe[n] = (int32_t)((probe[n - 1] + 1) % vocab);   /* its last token is always prefilled: n reused at most */
        ServeRequest pr = {.id = "probe", .prompt = probe, .prompt_len = n + 1, .max_new = MAX_NEW};
        ServeResult sc = {0}, sw = {0};
        ok = ok && run_one(e, &pr, &sc, pc) && run_one(w, &pr, &sw, pw);
        if (ok && !same_picks(pc, pw, &worst)) {
            ok = false;
            snprintf(detail, sizeof detail, "the probe of %lld tokens (%lld reused, after %lld) differs (by %g at most)",
                     (long long)n, (long long)sc.cached_tokens, (long long)h, worst);
        }
        compared += ok;
        reused += ok && sc.cached_tokens > 0;
        refused += ok && sc.cached_tokens == 0;
        if (ok && sc.cached_tokens > (n < base_len ? n : base_len)) {
            ok = false;
            snprintf(detail, sizeof detail, "the probe of %lld tokens reused %lld, past base's prompt or its own",
                     (long long)n, (long long)sc.cached_tokens);
        }
        free(sc.output), free(sw.output), free(probe);
    }
    if (!ok && !detail[0]) snprintf(detail, sizeof detail, "%s", b.err[0] ? b.err : whole.err);
    snprintf(what, sizeof what, "%s: prompts that start with a slot's %lld tokens (rings of %lld, wrapped): every "
             "logits row = prefilled whole, bit for bit (%d probes; %d reused a prefix, %d not)",
             argv[1], (long long)h, (long long)cap, compared, reused, refused);
    result(ok && compared >= 6 && h > cap && reused > 0 && refused > 0, what, detail);
    serve_engine_close(e);
    serve_engine_close(w);
    free(rb.output), free(rw.output), free(pc), free(pw), free(pbase), free(tokens);
    if (b.ops) backend_close(&b);
    if (whole.ops) backend_close(&whole);
    model_free(&m);
    layout_free(&l);
    return ok && !failures ? 0 : 1;
}
