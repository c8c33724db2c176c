/* test_mixwriter.c — the .mix writer and the LCKV parser, in C.
 *
 * Property: for random layouts (random windows, random sharing, random header values), the written
 * text checks and re-parses to the identical Layout (every header field, every layer, every cache).
 * Plus fixed cases whose compact form is known, the LCKV parser's errors, and the writer's speed on
 * a large layout. Prints PASS/FAIL lines. */
#include "interop.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;

static void report(bool ok, const char *name, const char *detail) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (!ok) {
        failures++;
        if (detail) printf("%s\n", detail);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int rnd_below(int n) { return (int)(rnd() % (uint64_t)n); }

/* Field-by-field equality; writes the first difference into why. */
static bool layouts_equal(const Layout *a, const Layout *b, char *why, size_t n) {
    const ModelHeader *x = &a->model, *y = &b->model;
#define DIFF(cond, ...) do { if (cond) { snprintf(why, n, __VA_ARGS__); return false; } } while (0)
    DIFF(strcmp(x->name, y->name), "name '%s' vs '%s'", x->name, y->name);
    DIFF(x->layers != y->layers || x->hidden != y->hidden || x->heads != y->heads || x->kv_heads != y->kv_heads ||
         x->head_dim != y->head_dim || x->ffn != y->ffn || x->vocab != y->vocab, "dimensions differ");
    DIFF(x->dtype != y->dtype || x->kv_dtype != y->kv_dtype, "dtypes differ");
    DIFF(x->rope_theta != y->rope_theta, "rope_theta %.17g vs %.17g", x->rope_theta, y->rope_theta);
    DIFF(x->norm_eps != y->norm_eps, "norm_eps %.17g vs %.17g", x->norm_eps, y->norm_eps);
    DIFF(x->context != y->context || x->chunk != y->chunk, "context/chunk differ");
    DIFF(x->tie_embeddings != y->tie_embeddings, "tie_embeddings differs");
    DIFF(x->qkv_bias != y->qkv_bias || x->activation != y->activation || x->norm != y->norm ||
         x->qk_norm != y->qk_norm || x->sandwich_norms != y->sandwich_norms || x->embed_scale != y->embed_scale,
         "the variations differ");
    DIFF(x->qk_l2_norm != y->qk_l2_norm || x->rope_interleaved != y->rope_interleaved ||
         x->nope_temperature_floor != y->nope_temperature_floor || x->nope_temperature_scale != y->nope_temperature_scale,
         "Llama 4's variations differ");
    DIFF(x->attn_softcap != y->attn_softcap || x->logit_softcap != y->logit_softcap ||
         x->query_pre_attn_scalar != y->query_pre_attn_scalar, "soft-caps or query_pre_attn_scalar differ");
    DIFF(a->nlayers != b->nlayers || a->ncaches != b->ncaches, "counts differ");
    for (int i = 0; i < a->nlayers; i++) {
        const LayerInfo *p = &a->layer[i], *q = &b->layer[i];
        DIFF(p->index != q->index || p->window != q->window || p->reads != q->reads || p->cache != q->cache,
             "layer %d: window %lld reads %d cache %d vs window %lld reads %d cache %d", i, (long long)p->window,
             p->reads, p->cache, (long long)q->window, q->reads, q->cache);
        DIFF(p->chunked != q->chunked, "layer %d: chunked %lld vs %lld", i, (long long)p->chunked, (long long)q->chunked);
        DIFF(p->sinks != q->sinks, "layer %d: sinks differ", i);
        DIFF(p->kv_heads != q->kv_heads || p->head_dim != q->head_dim, "layer %d: kv_heads %lld head_dim %lld vs %lld %lld",
             i, (long long)p->kv_heads, (long long)p->head_dim, (long long)q->kv_heads, (long long)q->head_dim);
        DIFF(!rope_equal(&p->rope, &q->rope), "layer %d: RoPE differs", i);
    }
    DIFF(!rope_scaling_equal(&x->rope_scaling, &y->rope_scaling), "rope_scaling differs");
    for (int k = 0; k < a->ncaches; k++) {
        const CacheInfo *p = &a->cache[k], *q = &b->cache[k];
        DIFF(p->owner != q->owner || p->nreaders != q->nreaders || p->retention != q->retention, "cache %d differs", k);
        for (int r = 0; r < p->nreaders; r++) DIFF(p->readers[r] != q->readers[r], "cache %d reader %d differs", k, r);
    }
#undef DIFF
    return true;
}

/* Writes l, parses it back, compares. */
static bool round_trip(const Layout *l, char *why, size_t n, Buf *text) {
    mix_write(l, "test layout\nsecond comment line", text);
    Layout back;
    char *diag = NULL;
    size_t dlen = 0;
    FILE *mem = open_memstream(&diag, &dlen);
    bool ok = load_layout_text("<written>", text->data, text->len, NULL, &back, mem) == 0;
    fclose(mem);
    if (!ok) {
        snprintf(why, n, "does not check:\n%s", diag);
    } else {
        ok = layouts_equal(l, &back, why, n);
        layout_free(&back);
    }
    free(diag);
    return ok;
}

static void random_header(ModelHeader *m, int n) {
    model_header_defaults(m);
    static const char *names[] = {"r", "gemma-3", "x/y", "model with spaces"};
    m->name = xstrdup(names[rnd_below(4)]);
    m->layers = n;
    m->heads = 1 + rnd_below(64);
    m->kv_heads = m->heads;
    int g = 1 + rnd_below(4);
    if (m->heads % g == 0) m->kv_heads = m->heads / g;
    m->hidden = m->heads * (1 + rnd_below(256));
    m->head_dim = rnd_below(2) ? m->hidden / m->heads : 1 + rnd_below(512);
    m->ffn = 1 + rnd_below(100000);
    m->vocab = 1 + rnd_below(300000);
    m->dtype = rnd_below(2) ? DT_BF16 : DT_FP16;
    m->kv_dtype = (DType)rnd_below(DT_COUNT);
    static const double thetas[] = {10000, 1e6, 150000, 500000.5, 1.234567890123e7, 3.3};
    static const double eps[] = {1e-5, 1e-6, 1e-05, 3.14159e-7, 0.001, 1.0 / 3.0};
    m->rope_theta = thetas[rnd_below(6)];
    m->norm_eps = eps[rnd_below(6)];
    m->context = 1 + rnd_below(4) * 32768 + rnd_below(3) * 1000;
    m->chunk = rnd_below(2) ? (m->context < 512 ? m->context : 512) : 1 + rnd_below((int)m->context);
    m->tie_embeddings = rnd_below(2);
    m->qkv_bias = rnd_below(2), m->qk_norm = rnd_below(2), m->sandwich_norms = rnd_below(2);
    m->embed_scale = rnd_below(2);
    m->qk_l2_norm = !m->qk_norm && rnd_below(2), m->rope_interleaved = rnd_below(2);   /* Llama 4's */
    if (rnd_below(3) == 0) m->nope_temperature_floor = 1 + rnd_below(16384), m->nope_temperature_scale = 0.1 + 1.0 / 3.0;
    m->activation = (Activation)rnd_below(ACT_COUNT), m->norm = (NormKind)rnd_below(NORM_COUNT);
    static const double caps[] = {0, 0, 50, 30.0, 0.1 + 1.0 / 3.0, 168};
    m->attn_softcap = caps[rnd_below(6)], m->logit_softcap = caps[rnd_below(6)];
    m->query_pre_attn_scalar = caps[rnd_below(6)];
    if (m->activation == ACT_CLAMPED_SWIGLU) m->swiglu_limit = 7, m->swiglu_alpha = caps[2 + rnd_below(4)];
    if (rnd_below(3) == 0) {   /* a mixture of experts, every field */
        m->experts = 2 + rnd_below(64), m->experts_per_token = 1 + rnd_below((int)m->experts);
        m->router = (RouterKind)rnd_below(ROUTER_COUNT), m->moe_bias = rnd_below(2);
        m->shared_expert_ffn = rnd_below(2) ? 0 : 1 + rnd_below(4096);
    }
}

/* Some owners with their own kv_heads (a divisor of heads) or an even head_dim, as the checker
 * stores them (0 where equal to the header's); their readers share the owner's, as it wants. */
static void random_shapes(Layout *l) {
    const ModelHeader *m = &l->model;
    for (int i = 0; i < l->nlayers; i++) {
        LayerInfo *li = &l->layer[i];
        if (rnd_below(2)) continue;
        int64_t kv = 1 + rnd_below((int)m->heads), dim = 2 * (1 + rnd_below(256));
        while (m->heads % kv) kv--;
        li->kv_heads = rnd_below(2) && kv != m->kv_heads ? kv : 0;
        li->head_dim = rnd_below(2) && dim != m->head_dim ? dim : 0;
    }
    for (int i = 0; i < l->nlayers; i++) {
        l->layer[i].kv_heads = l->layer[l->layer[i].reads].kv_heads;
        l->layer[i].head_dim = l->layer[l->layer[i].reads].head_dim;
    }
}

/* Random layers, biased toward structure (few windows and chunk sizes, short distances, periodic bits). */
static void random_layout(Layout *l, int n) {
    ModelHeader m;
    random_header(&m, n);
    int64_t windows[3] = {0, 128 + rnd_below(4096), 1 + rnd_below(100)};
    /* one in four layouts has chunked layers (of one or two sizes), in place of the second window */
    int64_t chunk_sizes[2] = {rnd_below(4) ? 0 : 1 + rnd_below(8192), rnd_below(2) ? 1 + rnd_below(64) : 0};
    int64_t *w = xcalloc((size_t)n, sizeof(int64_t)), *chunked = xcalloc((size_t)n, sizeof(int64_t));
    int *reads = xcalloc((size_t)n, sizeof(int));
    int period = 1 + rnd_below(7);
    int64_t *unit_w = xcalloc((size_t)period, sizeof(int64_t));
    int *unit_d = xcalloc((size_t)period, sizeof(int));
    for (int j = 0; j < period; j++) {
        unit_w[j] = windows[rnd_below(3)];
        unit_d[j] = rnd_below(3) ? 0 : 1 + rnd_below(3);
    }
    bool periodic = rnd_below(2);
    for (int i = 0; i < n; i++) {
        int j = i % period;
        w[i] = periodic && rnd_below(10) ? unit_w[j] : windows[rnd_below(3)];
        int d = periodic && rnd_below(10) ? unit_d[j] : (rnd_below(2) ? 0 : 1 + rnd_below(i + 1));
        int t = d > i ? i : i - d;
        reads[i] = reads[t];   /* resolve to the owner, as the checker does */
        if (d == 0) reads[i] = i;
    }
    for (int i = 0; chunk_sizes[0] && i < n; i++)
        if (w[i] == windows[2]) w[i] = 0, chunked[i] = chunk_sizes[(i / 3) % 2] ? chunk_sizes[(i / 3) % 2] : chunk_sizes[0];
    layout_from_arrays(l, &m, n, w, chunked, reads);
    /* Some owners with their own RoPE (a base, or none); their readers share it, as the checker wants. */
    static const LayerRope ropes[] = {{0}, {0}, {.nope = true}, {.theta = 10000}, {.theta = 2.5e5}};
    for (int i = 0; i < n; i++) l->layer[i].rope = ropes[rnd_below(5)];
    for (int i = 0; i < n; i++) l->layer[i].rope = l->layer[l->layer[i].reads].rope;
    bool sinks = rnd_below(3) == 0;   /* attention sinks are each layer's own: no sharing rule */
    for (int i = 0; sinks && i < n; i++) l->layer[i].sinks = rnd_below(2);
    if (rnd_below(3) == 0) random_shapes(l);
    if (rnd_below(3) == 0)
        l->model.rope_scaling = (RopeScaling){ROPE_YARN, .factor = 4, .original_context = 4096, .beta_fast = 32,
                                              .beta_slow = 1, .attention_factor = 1.25, .truncate = rnd_below(2) == 0};
    free(w);
    free(chunked);
    free(reads);
    free(unit_w);
    free(unit_d);
}

static void test_random_round_trips(void) {
    char why[512] = "";
    int bad = 0, cases = 400;
    Buf failing = {0};
    for (int c = 0; c < cases && !bad; c++) {
        Layout l;
        random_layout(&l, 1 + rnd_below(c < 300 ? 40 : 300));
        Buf text = {0};
        if (!round_trip(&l, why, sizeof why, &text)) {
            bad++;
            buf_printf(&failing, "case %d: %s\n%s", c, why, text.data);
        }
        buf_free(&text);
        layout_free(&l);
    }
    report(bad == 0, "writer: 400 random layouts re-parse to the identical layout", failing.data);
    buf_free(&failing);
}

/* Builds a layout from an LCKV string with a fixed header. */
static bool lckv_layout(const char *s, int64_t window, Layout *l) {
    int n;
    int64_t *w;
    int *reads;
    FILE *devnull = fopen("/dev/null", "w");
    bool ok = lckv_parse(s, window, devnull, &n, &w, &reads);
    fclose(devnull);
    if (!ok) return false;
    ModelHeader m;
    model_header_defaults(&m);
    m.name = xstrdup("t");
    m.layers = n, m.hidden = 1024, m.heads = 8, m.kv_heads = 8, m.head_dim = 128, m.ffn = 4096, m.vocab = 1000;
    m.kv_dtype = m.dtype, m.chunk = 512;
    layout_from_arrays(l, &m, n, w, NULL, reads);
    free(w);
    free(reads);
    return true;
}

/* The layer statements of the written text (after the header and kinds). */
static bool body_is(const char *lckv, int64_t window, const char *want) {
    Layout l;
    if (!lckv_layout(lckv, window, &l)) return false;
    Buf text = {0};
    mix_write(&l, NULL, &text);
    const char *body = strstr(text.data, "}\n");
    body = body ? body + 2 : text.data;
    while (*body == '\n' || !strncmp(body, "attention", 9)) body = strchr(body, '\n') + 1;
    bool ok = strcmp(body, want) == 0;
    if (!ok) printf("  wanted:\n%s  got:\n%s", want, body);
    buf_free(&text);
    layout_free(&l);
    return ok;
}

static void test_compact_forms(void) {
    report(body_is("0_1_2_3_4_5", 0, "default : global\n"), "writer: all alike -> default", NULL);
    report(body_is("0s_1s_2s_3s_4s_5_6s_7s_8s_9s_10s_11_12s_13s", 1024,
                   "layers 0..13 : pattern [local * 5, global]\n"),
           "writer: period 6 with a partial last period -> one pattern with a run", NULL);
    report(body_is("0_0_2_2_4_4_6_6", 0, "layers 0..7 : pattern [global, global reads prev]\n"),
           "writer: CLA pairs -> reads prev", NULL);
    report(body_is("0_1s_1s_3s_3s_3s_0_7s_7s_9s_9s_9s_0", 1024,
                   "layer 0      : global\n"
                   "layers 1..12 : pattern [local, local reads prev, local, local reads prev, local reads -2, global reads 0]\n"),
           "writer: Character.AI unit -> prefix + pattern, absolute global reads", NULL);
    report(body_is("0s_1s_2s_3s_4_5s_6s_7s_8s_9_7s_7s_7s_7s_9_7s_7s_7s_7s_9", 512,
                   "layers 0..9   : pattern [local * 4, global]\n"
                   "layers 10..19 : pattern [local reads 7 * 4, global reads 9]\n"),
           "writer: Gemma 3n-style shared tail -> two patterns", NULL);
    report(body_is("0s_1s_2s_3s_4s_5s_6s_7s_8s_9s_10s_11s_12s_13s_14s_15s_16s_17s_18s_19s_20s_21s_22s_23s_24s", 64,
                   "default : local\n"),
           "writer: all sliding -> default", NULL);
    report(body_is("0_1s_2s_3_4s_5s_6s_7s_8s_9s_10s_11_12s_13s", 64,
                   "layers 0, 3, 11 : global\n"
                   "default         : local\n"),
           "writer: scattered global layers -> an index set and default", NULL);
    report(body_is("0_1s_2s_3s_4s_5_6s_7s_8s_9s_10_11s_12s_13s_14s_15_16s_17s_18s_19s_20_21s_22s_23s_24s_25s_26s_27s_28_29s", 100,
                   "layers 0..20 step 5, 28 : global\n"
                   "default                 : local\n"),
           "writer: strided exceptions", NULL);
}

static bool lckv_fails(const char *s, int64_t window, const char *needle) {
    char *msg = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&msg, &len);
    int n;
    int64_t *w = NULL;
    int *reads = NULL;
    bool ok = lckv_parse(s, window, mem, &n, &w, &reads);
    fclose(mem);
    bool good = !ok && msg && strstr(msg, needle);
    if (!good) printf("  '%s': %s\n", s, msg ? msg : "(no message)");
    if (ok) free(w), free(reads);
    free(msg);
    return good;
}

static void test_lckv_parser(void) {
    Layout l;
    bool ok = lckv_layout("0_1s_1s_3s_3s_3s_0_7s_7s_9s_9s_9s_12_13s_13s_15s_15s_15s_12_19s_19s_19s", 1024, &l);
    ok = ok && l.nlayers == 22 && l.layer[6].reads == 0 && l.layer[6].window == 0 && l.layer[2].reads == 1 &&
         l.layer[2].window == 1024 && l.layer[18].reads == 12 && l.ncaches == 9;
    if (ok || l.layer) layout_free(&l);
    report(ok, "lckv: the 22-layer MA-Pairs string", NULL);
    ok = lckv_layout("0_0_1", 0, &l) && l.layer[2].reads == 0;
    if (l.layer) layout_free(&l);
    report(ok, "lckv: a chain resolves to its owner", NULL);
    report(lckv_fails("0_2_1", 0, "runs after it"), "lckv: reading a later layer is an error", NULL);
    report(lckv_fails("0_1s", 0, "--window"), "lckv: 's' without a window is an error", NULL);
    report(lckv_fails("0__1", 0, "entry 1"), "lckv: an empty entry is an error", NULL);
    report(lckv_fails("0_1x", 64, "entry 1"), "lckv: a stray letter is an error", NULL);
    report(lckv_fails("", 64, "entry 0"), "lckv: an empty string is an error", NULL);
    report(lckv_fails("0_99999999999999999999", 64, "entry 1"), "lckv: a huge index is an error", NULL);
}

static void test_name_sanitized(void) {
    Layout l;
    bool ok = lckv_layout("0", 0, &l);
    free(l.model.name);
    l.model.name = xstrdup("a\"b\\c\nd");
    Buf text = {0};
    mix_write(&l, NULL, &text);
    Layout back;
    FILE *devnull = fopen("/dev/null", "w");
    ok = ok && load_layout_text("<t>", text.data, text.len, NULL, &back, devnull) == 0 && !strcmp(back.model.name, "a_b_c_d");
    fclose(devnull);
    if (ok) layout_free(&back);
    buf_free(&text);
    layout_free(&l);
    report(ok, "writer: quotes, backslashes and newlines in a name become '_'", NULL);
}

static void test_export_json(void) {
    Layout l;
    bool ok = lckv_layout("0_1s_1s_3s_4_3s", 512, &l);
    json_t *j = ok ? export_hf_json(&l, stderr) : NULL;
    json_t *t = json_object_get(j, "kv_sharing_target"), *types = json_object_get(j, "layer_types");
    ok = j && json_array_size(t) == 6 && json_is_null(json_array_get(t, 0)) &&
         json_integer_value(json_array_get(t, 2)) == 1 && json_integer_value(json_array_get(t, 5)) == 3 &&
         !strcmp(json_string_value(json_array_get(types, 4)), "full_attention") &&
         json_integer_value(json_object_get(j, "sliding_window")) == 512 && !json_object_get(j, "mixc_sliding_windows");
    char *s = ok ? export_lckv(&l, stderr) : NULL;
    ok = ok && s && !strcmp(s, "0_1s_1s_3s_4_3s");
    free(s);
    json_decref(j);
    if (l.layer) layout_free(&l);
    report(ok, "export: kv_sharing_target, layer_types, sliding_window and the LCKV string", NULL);
}

/* A 100000-layer layout (the language's maximum) must be written fast and read back the same. */
static void test_large(void) {
    Layout l;
    int n = MIXC_MAX_LAYERS;
    ModelHeader m;
    model_header_defaults(&m);
    m.name = xstrdup("large");
    m.layers = n, m.hidden = 1024, m.heads = 8, m.kv_heads = 8, m.head_dim = 128, m.ffn = 4096, m.vocab = 1000;
    m.kv_dtype = m.dtype, m.chunk = 512;
    int64_t *w = xcalloc((size_t)n, sizeof(int64_t));
    int *reads = xcalloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        /* Two regimes, then noise: the slow cases for a naive period search. */
        if (i < n / 2) w[i] = i % 6 == 5 ? 0 : 1024, reads[i] = i % 2 && w[i] ? i - 1 : i;
        else w[i] = (i * 7919) % 3 ? 4096 : 0, reads[i] = i;
        if (reads[i] != i && w[reads[i]] != w[i]) reads[i] = i;
    }
    layout_from_arrays(&l, &m, n, w, NULL, reads);
    free(w);
    free(reads);
    clock_t t0 = clock();
    Buf text = {0};
    char why[256] = "";
    bool ok = round_trip(&l, why, sizeof why, &text);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("  100000 layers written and re-read in %.2f s, %zu bytes of text\n", secs, text.len);
    report(ok && secs < 20, "writer: 100000 layers round trip in bounded time", why);
    buf_free(&text);
    layout_free(&l);
}

/* Layers alike but for sinks: the writer declares two kinds, and each reader reads back the owner
 * with its own sinks, not a nearer owner without them. */
static void test_sinks_last(void) {
    enum { N = 15 };
    ModelHeader m;
    random_header(&m, N);
    int64_t w[N], chunked[N] = {0};
    int reads[N];
    Layout l;
    /* period 5: owner A (sinks), owner B (none), then three readers of A (sinks) */
    for (int i = 0; i < N; i++) w[i] = 8, reads[i] = i % 5 < 2 ? i : i - i % 5;
    layout_from_arrays(&l, &m, N, w, chunked, reads);
    for (int i = 0; i < N; i++) l.layer[i].sinks = i % 5 != 1;
    char why[256] = "";
    Buf text = {0};
    bool ok = round_trip(&l, why, sizeof why, &text);
    report(ok, "writer: kinds that differ only in sinks, and their readers", why);
    buf_free(&text);
    layout_free(&l);
}

/* Layers alike but for their shape: the writer declares two kinds, and each reader reads back the
 * owner of its own shape, not a nearer owner of the header's. */
static void test_shapes_last(void) {
    enum { N = 15 };
    ModelHeader m;
    random_header(&m, N);
    m.heads = 8, m.kv_heads = 4, m.head_dim = 64;
    int64_t w[N], chunked[N] = {0};
    int reads[N];
    Layout l;
    for (int i = 0; i < N; i++) w[i] = 0, reads[i] = i % 5 < 2 ? i : i - i % 5;
    layout_from_arrays(&l, &m, N, w, chunked, reads);
    for (int i = 0; i < N; i++)
        if (i % 5 != 1) l.layer[i].kv_heads = 2, l.layer[i].head_dim = 256;
    char why[256] = "";
    Buf text = {0};
    bool ok = round_trip(&l, why, sizeof why, &text) && strstr(text.data, "kv_heads 2 head_dim 256");
    report(ok, "writer: kinds that differ only in kv_heads and head_dim, and their readers", why);
    buf_free(&text);
    layout_free(&l);
}

int main(void) {
    test_compact_forms();
    test_lckv_parser();
    test_export_json();
    test_name_sanitized();
    test_random_round_trips();
    test_sinks_last();
    test_shapes_last();
    test_large();
    return failures ? 1 : 0;
}
