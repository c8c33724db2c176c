/* test_model.c — tests of the model runtime: fp16/bf16 rounding, the cpu backend against an
 * independent naive forward pass, reading layers using their owner's K/V, chunked prefill against
 * token-by-token decode, ring caches against full-length caches, safetensors round trips and every
 * kind of bad weights file, the .npy writer, and 8-bit KV caches (codes, quantizer, attention).
 *
 * usage: test_model TMPDIR      (prints PASS/FAIL lines; exit 1 if anything failed) */
#include "backend.h"
#include "kv_quant.h"
#include "model.h"
#include "naive.h"
#include "safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static const char *tmpdir;

static void result(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void result(bool ok, const char *name, const char *fmt, ...) {
    printf("%s %s", ok ? "PASS" : "FAIL", name);
    if (!ok) {
        failures++;
        va_list ap;
        va_start(ap, fmt);
        printf(": "), vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
}

static char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* ------------------------------------------------------------------ layouts and runs */

/* A tiny model (hidden 64, 4 query heads / 2 KV heads of 16, ffn 96, vocab 256) with the given
 * per-layer windows (0 = global) and owners. */
static void make_layout_chunked(Layout *l, int n, const int64_t *window, const int64_t *chunked, const int *reads,
                                int64_t chunk, int64_t context) {
    memset(l, 0, sizeof *l);
    model_header_defaults(&l->model);
    ModelHeader *m = &l->model;
    m->name = xstrdup("test");
    m->layers = n;
    m->hidden = 64, m->heads = 4, m->kv_heads = 2, m->head_dim = 16, m->ffn = 96, m->vocab = 256;
    m->kv_dtype = m->dtype;
    m->context = context;
    m->chunk = chunk;
    l->nlayers = n;
    l->layer = xcalloc((size_t)n, sizeof(LayerInfo));
    for (int i = 0; i < n; i++)
        l->layer[i] = (LayerInfo){.index = i, .window = window[i], .chunked = chunked ? chunked[i] : 0, .reads = reads[i]};
    layout_build_caches(l);
    if (!verify_layout(l, stderr)) abort();
}

static void make_layout(Layout *l, int n, const int64_t *window, const int *reads, int64_t chunk, int64_t context) {
    make_layout_chunked(l, n, window, NULL, reads, chunk, context);
}

static int32_t *test_tokens(int64_t n, uint32_t seed) {
    int32_t *t = xmalloc((size_t)n * sizeof *t);
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        t[i] = (int32_t)(seed >> 24);
    }
    return t;
}

typedef enum { BY_CHUNKS, BY_TOKENS } RunMode;

/* Logits [T][vocab] of every position, by chunked prefill or token-by-token decode.
 * Returns false (message in err) when the backend fails. */
static bool run_logits(const Model *m, const int32_t *t, int64_t T, RunMode mode, bool full, float *out, char *err,
                       size_t errlen) {
    const Layout *l = m->layout;
    BackendConfig cfg = {.nseq = 1, .context = T, .full_caches = full};
    Backend b;
    if (cpu_backend_open_with(NULL, m, &cfg, &b, err, errlen) != 0) return false;
    int64_t V = l->model.vocab, step = mode == BY_CHUNKS ? l->model.chunk : 1;
    bool ok = true;
    for (int64_t off = 0; off < T && ok; off += step) {
        int64_t n = T - off < step ? T - off : step;
        if (mode == BY_TOKENS && off > 0)
            ok = b.ops->decode(&b, t + off, out + off * V);
        else
            ok = backend_prefill(&b, 0, t + off, n, out + off * V, true);
    }
    if (!ok) snprintf(err, errlen, "%s", b.err);
    backend_close(&b);
    return ok;
}

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static double max_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m;
}

/* ------------------------------------------------------------------ tests */

static void test_conversions(void) {
    int bad16 = 0, badbf = 0;
    uint32_t s = 12345;
    for (int i = 0; i < 2000000; i++) {
        s = s * 1664525u + 1013904223u;
        uint32_t bits = i < 1000 ? (uint32_t)i << 20 : s;
        float f;
        memcpy(&f, &bits, 4);
        if (isnan(f)) continue;
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        if (st_f32_to_f16(f) != hb || (float)h != st_f16_to_f32(hb)) bad16++;
        /* bf16: the float nearest to f among those with 16 low zero bits (ties to even) */
        float back = st_bf16_to_f32(st_f32_to_bf16(f));
        uint32_t bb;
        memcpy(&bb, &back, 4);
        double err = fabs((double)back - f), ulp = f == 0 ? 0 : ldexp(1.0, ilogb(f) - 7);
        if (ulp < ldexp(1.0, -133)) ulp = ldexp(1.0, -133);   /* bf16 subnormal spacing */
        if ((bb & 0xffff) || (isfinite(back) && err > ulp / 2 * (1 + 1e-12) && fabs(f) < 3e38)) badbf++;
    }
    result(bad16 == 0, "fp16 rounding matches _Float16", "%d mismatches", bad16);
    result(badbf == 0, "bf16 rounding to nearest", "%d mismatches", badbf);
}

/* Norm weights away from 1 (random weights make them 1), so that q/k norms, (1 + w) and the
 * sandwich norms each change the logits visibly. */
static void vary_norms(Model *m) {
    ModelTensor *t;
    int n = model_tensors(m, &t);
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; t[i].ndim == 1 && !t[i].fan_in && k < t[i].shape[0]; k++)
            (*t[i].slot)[k] = 0.75f + 0.5f * (float)((k * 7919 + i * 31) % 13) / 13.0f;
    free(t);
}

/* The cpu backend against the naive reference on the 6-layer GQA / windows / sharing / ring model,
 * with the header changed by `vary` (NULL: Llama's); a variation must also change the logits. */
static void test_against_naive(const char *what, void (*vary)(Layout *)) {
    int64_t win[] = {0, 0, 5, 9, 5, 0};
    int reads[] = {0, 0, 2, 2, 4, 0};
    Layout l;
    make_layout(&l, 6, win, reads, 4, 64);
    int64_t T = 23, V = l.model.vocab;
    int32_t *t = test_tokens(T, 3);
    float *a = xcalloc((size_t)(T * V), sizeof(float)), *b = xcalloc((size_t)(T * V), sizeof(float));
    float *plain = xcalloc((size_t)(T * V), sizeof(float));
    char err[512] = "";
    Model m;
    model_init_random(&m, &l, 7);
    if (vary) vary_norms(&m);
    bool ok = !vary || run_logits(&m, t, T, BY_CHUNKS, false, plain, err, sizeof err);
    model_free(&m);
    if (vary) vary(&l);
    model_init_random(&m, &l, 7);
    if (vary) vary_norms(&m);
    ok = ok && run_logits(&m, t, T, BY_CHUNKS, false, a, err, sizeof err);
    naive_logits(&m, t, T, b);
    double d = max_diff(a, b, T * V), scale = max_abs(b, T * V), change = vary ? max_diff(a, plain, T * V) : 1;
    result(ok && d <= 1e-4 * scale && scale > 0.1 && change > 1e-2 * scale, what,
           "%s max diff %.3g of %.3g (the variation changes the logits by %.3g)", err, d, scale, change);
    free(a), free(b), free(plain), free(t);
    model_free(&m);
    layout_free(&l);
}

/* The largest |difference| between the cpu backend's logits (23 positions, by `mode`) and the naive
 * pass's on random weights of `seed`, with the naive logits' largest magnitude in *scale; -1 when the
 * run fails (err says why). */
static double naive_max_diff(const Layout *l, RunMode mode, uint64_t seed, double *scale, char *err, size_t n) {
    int64_t T = 23, V = l->model.vocab;
    int32_t *t = test_tokens(T, 5);
    float *got = xcalloc((size_t)(T * V), sizeof(float)), *want = xcalloc((size_t)(T * V), sizeof(float));
    Model m;
    model_init_random(&m, l, seed);
    bool ok = run_logits(&m, t, T, mode, false, got, err, n);
    naive_logits(&m, t, T, want);
    double d = ok ? max_diff(got, want, T * V) : -1;
    *scale = max_abs(want, T * V);
    free(got), free(want), free(t);
    model_free(&m);
    return d;
}

/* Chunked layers at sizes below, at and across the prefill chunk of 4 (chunks of 3 start inside a
 * prefill chunk, 6 across two), one reading a window-5 owner and a window reading a chunked owner,
 * with rings: the cpu backend against the naive mask, by chunks and token by token. */
static void test_chunked_against_naive(void) {
    int64_t win[] = {0, 5, 0, 0, 2, 0}, chunked[] = {3, 0, 6, 6, 0, 0};
    int reads[] = {0, 1, 1, 3, 3, 5};
    Layout l;
    make_layout_chunked(&l, 6, win, chunked, reads, 4, 64);
    char err[512] = "";
    double scale;
    double d = naive_max_diff(&l, BY_CHUNKS, 11, &scale, err, sizeof err);
    double dt = d < 0 ? -1 : naive_max_diff(&l, BY_TOKENS, 11, &scale, err, sizeof err);
    bool rings = l.cache[0].retention == 3 && l.cache[1].retention == 6 && l.cache[2].retention == 6;
    result(rings && d >= 0 && dt >= 0 && d <= 1e-4 * scale && dt <= 1e-4 * scale && scale > 0.1,
           "cpu backend equals a naive forward pass (chunked layers, shared with windows, rings)",
           "%s max diff %.3g (by tokens %.3g) of %.3g, retentions %lld %lld %lld", err, d, dt, scale,
           (long long)l.cache[0].retention, (long long)l.cache[1].retention, (long long)l.cache[2].retention);
    layout_free(&l);
}

static void with_qkv_bias(Layout *l) { l->model.qkv_bias = true; }
static void with_o_bias(Layout *l) { l->model.o_bias = true; }
static void with_qk_norm(Layout *l) { l->model.qk_norm = true; }
static void with_gelu(Layout *l) { l->model.activation = ACT_GELU_TANH; }
/* a limit the random gates and ups pass: the clamp matters */
static void with_clamped_swiglu(Layout *l) {
    l->model.activation = ACT_CLAMPED_SWIGLU, l->model.swiglu_limit = 0.25, l->model.swiglu_alpha = 1.702;
}
static void with_plus_one(Layout *l) { l->model.norm = NORM_RMS_PLUS_ONE; }
static void with_sandwich(Layout *l) { l->model.sandwich_norms = true; }
static void with_embed_scale(Layout *l) { l->model.embed_scale = true; }
static void with_attn_softcap(Layout *l) { l->model.attn_softcap = 1.0; }
static void with_logit_softcap(Layout *l) { l->model.logit_softcap = 1.5; }
static void with_scalar(Layout *l) { l->model.query_pre_attn_scalar = 3; }
/* attention sinks on a global owner, a window reader and a window owner */
static void with_sinks(Layout *l) { l->layer[1].sinks = l->layer[3].sinks = l->layer[4].sinks = true; }
/* Per-kind shapes (header: 2 KV heads of 16): layers 0, 5 one KV head of 32; 2, 3 (a ring) heads of 8;
 * 4 four KV heads of 16 (a reader has its owner's shape, the checker's rule). */
static void with_shapes(Layout *l) {
    l->layer[0].kv_heads = l->layer[5].kv_heads = 1, l->layer[0].head_dim = l->layer[5].head_dim = 32;
    l->layer[2].head_dim = l->layer[3].head_dim = 8, l->layer[4].kv_heads = 4;
}
/* Gemma 2 and Gemma 3 (without Gemma 3's per-kind rope theta) at once. */
static void like_gemma2(Layout *m) {
    with_gelu(m), with_plus_one(m), with_sandwich(m), with_embed_scale(m), with_attn_softcap(m);
    with_logit_softcap(m), with_scalar(m);
}
static void like_gemma3(Layout *m) {
    with_gelu(m), with_plus_one(m), with_sandwich(m), with_embed_scale(m), with_qk_norm(m), with_scalar(m);
}
static void like_gemma3_shapes(Layout *l) { like_gemma3(l), l->model.query_pre_attn_scalar = 0, with_shapes(l); }

/* A mixture of experts: 6 of width 32 (ffn), 2 per token, each router; a shared expert of 48 and gpt-oss's
 * biases; Llama 4's top-1 sigmoid on the input, also on layers 1, 3, 5 only (moe_step 2, dense_ffn 40). */
static void with_experts(Layout *l) { l->model.experts = 6, l->model.experts_per_token = 2; }
static void with_softmax_topk(Layout *l) { with_experts(l), l->model.router = ROUTER_SOFTMAX_TOPK; }
static void with_moe_bias_shared(Layout *l) { with_experts(l), l->model.moe_bias = true, l->model.shared_expert_ffn = 48; }
static void like_llama4_moe(Layout *l) {
    with_experts(l), l->model.experts_per_token = 1, l->model.router = ROUTER_SIGMOID_INPUT, l->model.shared_expert_ffn = 32;
}
static void like_maverick(Layout *l) { like_llama4_moe(l), l->model.moe_step = 2, l->model.dense_ffn = 40; }

/* Scalings with a short original context (64), so that the 23 positions and head_dim 64 meet every
 * region: llama3's kept, smoothed and divided wavelengths, yarn's ramp. */
static void with_linear(Layout *l) { l->model.rope_scaling = (RopeScaling){ROPE_LINEAR, .factor = 4}; }
static void with_llama3(Layout *l) {
    l->model.rope_scaling = (RopeScaling){ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1, .high_freq_factor = 4,
                                          .original_context = 64};
}
static void with_yarn(Layout *l) {
    l->model.rope_scaling = (RopeScaling){ROPE_YARN, .factor = 8, .original_context = 64, .beta_fast = 32,
                                          .beta_slow = 1, .attention_factor = 1.2079441541679836, .truncate = true};
}
/* layers 0 and 5 (one cache) NoPE, layer 4 its kind's own rope_theta 500 (unscaled) */
static void with_rope_kinds(Layout *l) {
    with_linear(l);
    l->layer[0].rope.nope = l->layer[5].rope.nope = true, l->layer[4].rope.theta = 500;
}
/* Per-kind shapes token by token too (decode steps read caches of three row widths). */
static void test_shapes_by_tokens(void) {
    int64_t win[] = {0, 0, 5, 9, 5, 0};
    int reads[] = {0, 0, 2, 2, 4, 0};
    Layout l;
    char err[512] = "";
    make_layout(&l, 6, win, reads, 4, 64), with_shapes(&l);
    double scale, d = naive_max_diff(&l, BY_TOKENS, 13, &scale, err, sizeof err);
    result(d >= 0 && d <= 1e-4 * scale && scale > 0.1, "cpu backend equals a naive pass token by token (per-kind shapes)",
           "%s max diff %.3g of %.3g", err, d, scale);
    layout_free(&l);
}

static void test_variations_against_naive(void) {
    test_shapes_by_tokens();
    test_against_naive("cpu backend equals a naive forward pass (GQA, windows, sharing, ring)", NULL);
    test_chunked_against_naive();
    test_against_naive("cpu backend equals a naive forward pass with q/k/v biases (owners' k/v only)", with_qkv_bias);
    test_against_naive("... with an o projection bias (o_bias)", with_o_bias);
    test_against_naive("... with q/k norms per head (qk_norm; k_norm in owners only)", with_qk_norm);
    test_against_naive("... with activation gelu_tanh", with_gelu);
    test_against_naive("... with activation clamped_swiglu (limit 0.25)", with_clamped_swiglu);
    test_against_naive("... with norm rms_plus_one", with_plus_one);
    test_against_naive("... with sandwich_norms", with_sandwich);
    test_against_naive("... with embed_scale", with_embed_scale);
    test_against_naive("... with attn_softcap", with_attn_softcap);
    test_against_naive("... with logit_softcap", with_logit_softcap);
    test_against_naive("... with query_pre_attn_scalar", with_scalar);
    test_against_naive("... with attention sinks (a logit per head in the denominator)", with_sinks);
    test_against_naive("... with per-kind kv_heads and head_dim (caches of three shapes, shared, a ring)", with_shapes);
    test_against_naive("... with per-kind shapes and Gemma 3's variations (q/k norms of each head_dim)", like_gemma3_shapes);
    test_against_naive("... as Gemma 2 computes (all of its variations)", like_gemma2);
    test_against_naive("... as Gemma 3 computes (all of its variations)", like_gemma3);
    test_against_naive("... with rope_scaling linear", with_linear);
    test_against_naive("... with rope_scaling llama3", with_llama3);
    test_against_naive("... with rope_scaling yarn (attention factor on cos/sin)", with_yarn);
    test_against_naive("... with NoPE layers and a kind's own rope_theta (unscaled)", with_rope_kinds);
    test_against_naive("... with experts (router topk_softmax, 2 of 6)", with_experts);
    test_against_naive("... with experts (router softmax_topk)", with_softmax_topk);
    test_against_naive("... with experts, their biases (moe_bias) and a shared expert", with_moe_bias_shared);
    test_against_naive("... with experts as Llama 4 routes (top-1 sigmoid on the input, shared expert)", like_llama4_moe);
    test_against_naive("... with experts on every other layer, dense MLPs of dense_ffn between", like_maverick);
}

/* Logits of a 2-layer model whose layer 0 adds nothing to the residual stream (Wo = 0, down = 0):
 * layer 0's Wk can then matter only through a cache another layer reads. */
static void two_layer_logits(const int *reads, float wk_scale, float *out, int64_t T, bool *reader_has_no_kv) {
    int64_t win[] = {0, 0};
    Layout l;
    make_layout(&l, 2, win, reads, 4, 32);
    Model m;
    model_init_random(&m, &l, 11);
    int64_t d = l.model.hidden, qw = l.model.heads * l.model.head_dim, kvw = l.model.kv_heads * l.model.head_dim;
    memset(m.layer[0].wo, 0, (size_t)(d * qw) * sizeof(float));
    memset(m.layer[0].w_down, 0, (size_t)(d * l.model.ffn) * sizeof(float));
    for (int64_t i = 0; i < kvw * d; i++) m.layer[0].wk[i] *= wk_scale;
    if (reader_has_no_kv) {
        ModelTensor *t;
        int n = model_tensors(&m, &t);
        bool named = false;
        for (int i = 0; i < n; i++) named |= strstr(t[i].name, "layers.1.self_attn.k_proj") != NULL;
        *reader_has_no_kv = m.layer[1].wk == NULL && m.layer[1].wv == NULL && !named;
        free(t);
    }
    int32_t *tok = test_tokens(T, 5);
    char err[256];
    if (!run_logits(&m, tok, T, BY_CHUNKS, false, out, err, sizeof err)) fprintf(stderr, "%s\n", err);
    free(tok);
    model_free(&m);
    layout_free(&l);
}

static void test_reader_uses_owner(void) {
    int64_t T = 10, V = 256;
    float *base = xcalloc((size_t)(T * V), sizeof(float)), *changed = xcalloc((size_t)(T * V), sizeof(float));
    int shared[] = {0, 0}, separate[] = {0, 1};
    bool no_kv = false;
    two_layer_logits(shared, 1.0f, base, T, &no_kv);
    two_layer_logits(shared, 1.5f, changed, T, NULL);
    double d_shared = max_diff(base, changed, T * V);
    two_layer_logits(separate, 1.0f, base, T, NULL);
    two_layer_logits(separate, 1.5f, changed, T, NULL);
    double d_separate = max_diff(base, changed, T * V);
    result(no_kv, "a reading layer has no Wk/Wv tensors", "layer 1 has K/V weights");
    /* the first position attends to one key only, so its output does not depend on K: skip it */
    result(d_shared > 1e-3, "changing the owner's Wk changes the reader's output", "max diff %.3g", d_shared);
    result(d_separate == 0, "without sharing, the owner's Wk does not reach layer 1", "max diff %.3g", d_separate);
    free(base), free(changed);
}

static void test_chunks_vs_tokens(void) {
    int64_t win[] = {0, 6, 0, 6, 10};
    int reads[] = {0, 1, 0, 1, 1};
    Layout l;
    make_layout(&l, 5, win, reads, 8, 64);
    Model m;
    model_init_random(&m, &l, 21);
    int64_t T = 37, V = 256;
    int32_t *t = test_tokens(T, 9);
    float *a = xcalloc((size_t)(T * V), sizeof(float)), *b = xcalloc((size_t)(T * V), sizeof(float));
    char err[256] = "";
    bool ok = run_logits(&m, t, T, BY_CHUNKS, false, a, err, sizeof err) &&
              run_logits(&m, t, T, BY_TOKENS, false, b, err, sizeof err);
    double d = max_diff(a, b, T * V), s = max_abs(a, T * V);
    result(ok && d <= 1e-5 * s, "chunked prefill equals token-by-token decode", "%s max diff %.3g of %.3g", err, d, s);
    free(a), free(b), free(t);
    model_free(&m);
    layout_free(&l);
}

static void test_ring(void) {
    /* layer 3 (window 12) reads layer 2 (window 4): the checker's retention keeps 12, ring 12 + 4 - 1 */
    int64_t win[] = {0, 4, 4, 12};
    int reads[] = {0, 1, 2, 2};
    Layout l;
    make_layout(&l, 4, win, reads, 4, 128);
    Model m;
    model_init_random(&m, &l, 5);
    int64_t T = 61, V = 256;
    BackendConfig cfg = {.nseq = 1, .context = T};
    Backend b;
    char err[512] = "";
    bool opened = cpu_backend_open_with(NULL, &m, &cfg, &b, err, sizeof err) == 0;
    result(opened && b.cache_tokens[0] == T && b.cache_tokens[1] == 4 + 4 - 1 && b.cache_tokens[2] == 12 + 4 - 1,
           "cache capacities follow the planner (a reader's wider window enlarges the ring)", "%s caps %lld %lld %lld",
           err, opened ? (long long)b.cache_tokens[0] : -1LL, opened ? (long long)b.cache_tokens[1] : -1LL,
           opened ? (long long)b.cache_tokens[2] : -1LL);
    if (opened) backend_close(&b);
    int32_t *t = test_tokens(T, 17);
    float *a = xcalloc((size_t)(T * V), sizeof(float)), *c = xcalloc((size_t)(T * V), sizeof(float));
    bool ok = run_logits(&m, t, T, BY_CHUNKS, false, a, err, sizeof err) &&
              run_logits(&m, t, T, BY_CHUNKS, true, c, err, sizeof err);
    double d = max_diff(a, c, T * V);
    result(ok && d == 0, "ring caches (wrapped many times) equal full-length caches", "%s max diff %.3g", err, d);
    ok = run_logits(&m, t, T, BY_TOKENS, false, a, err, sizeof err);
    d = max_diff(a, c, T * V);
    result(ok && d <= 1e-5 * max_abs(c, T * V), "ring caches in decode equal full-length caches", "%s max diff %.3g",
           err, d);
    /* Without the enlarged retention the ring would lose keys the reader needs: the backend must
     * refuse rather than attend to overwritten slots. */
    l.cache[2].retention = 4;
    ok = run_logits(&m, t, T, BY_CHUNKS, false, a, err, sizeof err);
    result(!ok && strstr(err, "no longer holds"), "a ring too short for a reader is detected, not read",
           "ok=%d err=%s", ok, err);
    free(a), free(c), free(t);
    model_free(&m);
    layout_free(&l);
}

/* The kernel table: a replaced entry is what runs (the emu backend's mechanism), with the table's
 * ctx, which the backend releases when it closes. */
typedef struct {
    int attention_calls, releases;
} CountingCtx;
static bool counting_attention(void *ctx, const AttentionArgs *a) {
    ((CountingCtx *)ctx)->attention_calls++;
    return cpu_reference_kernels.attention(NULL, a);
}
static void counting_release(void *ctx) {
    ((CountingCtx *)ctx)->releases++;
}

/* Finite weights that overflow (a projection of 3e38s) make NaN mid-model: the step fails, naming
 * the layer, instead of returning NaN logits. */
static void test_nan_names_layer(void) {
    int64_t win[] = {0, 0, 8};
    int reads[] = {0, 0, 2};
    Layout l;
    make_layout(&l, 3, win, reads, 4, 32);
    Model m;
    model_init_random(&m, &l, 21);
    int64_t nw = l.model.ffn * l.model.hidden;
    for (int64_t i = 0; i < nw; i++) m.layer[1].w_up[i] = 3e38f;
    int64_t T = 10;
    int32_t *t = test_tokens(T, 5);
    float *out = xcalloc((size_t)(T * l.model.vocab), sizeof(float));
    char err[512] = "";
    bool ok = run_logits(&m, t, T, BY_CHUNKS, false, out, err, sizeof err);
    result(!ok && strstr(err, "layer 1 produced") && strstr(err, "in the residual stream (sequence 0, position"),
           "NaN or Inf in the residual stream fails the step, naming the layer", "%s", ok ? "the step succeeded" : err);
    free(out);
    free(t);
    model_free(&m);
    layout_free(&l);
}

static void test_kernel_table(void) {
    int64_t win[] = {0, 4, 4};
    int reads[] = {0, 1, 1};
    Layout l;
    make_layout(&l, 3, win, reads, 4, 32);
    Model m;
    model_init_random(&m, &l, 2);
    int32_t *t = test_tokens(10, 1);
    float *a = xcalloc(10 * 256, sizeof(float)), *b = xcalloc(10 * 256, sizeof(float));
    char err[256] = "";
    bool ok = run_logits(&m, t, 10, BY_CHUNKS, false, a, err, sizeof err);
    CountingCtx counts = {0, 0};
    CpuKernels k = {.ctx = &counts, .attention = counting_attention, .release = counting_release};
    BackendConfig cfg = {.nseq = 1, .context = 10};
    Backend be;
    ok = ok && cpu_backend_open_with(&k, &m, &cfg, &be, err, sizeof err) == 0;
    for (int64_t off = 0; off < 10 && ok; off += 4) ok = backend_prefill(&be, 0, t + off, off + 4 <= 10 ? 4 : 2, b + off * 256, true);
    if (be.ops) backend_close(&be);
    /* 3 chunks x 3 layers; the ctx released once, on close */
    result(ok && counts.attention_calls == 9 && counts.releases == 1 && max_diff(a, b, 10 * 256) == 0,
           "a replaced kernel-table entry runs in place of the reference", "%s calls %d releases %d", err,
           counts.attention_calls, counts.releases);
    free(a), free(b), free(t);
    model_free(&m);
    layout_free(&l);
}

/* ------------------------------------------------------------------ safetensors */

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

/* A file with a hand-written JSON header (and data_len zero bytes after it). */
static void write_st(const char *path, const char *json, size_t data_len, uint64_t claimed_len) {
    size_t hl = strlen(json), total = 8 + hl + data_len;
    unsigned char *buf = xcalloc(total, 1);
    uint64_t L = claimed_len ? claimed_len : hl;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(L >> (8 * i));
    memcpy(buf + 8, json, hl);
    write_bytes(path, buf, total);
    free(buf);
}

static Layout st_layout;

/* The run plan of layout l for target t (its weights: what a backend asks a streamed model for). */
static bool plan_for(const Layout *l, RunTarget t, RunPlan *p) {
    RunOptions o;
    run_options_init(l, t, &o);
    char err[256];
    if (plan_run(l, &o, p, err, sizeof err)) return true;
    printf("  plan_run: %s\n", err);
    return false;
}

/* Fills every weight of p from m, one after the other, into a buffer each (*filled, malloc'ed; NULL
 * entries after a failure); false with the message in err. */
static bool fill_all(const Model *m, const RunPlan *p, float ***filled, char *err, size_t errlen) {
    *filled = xcalloc((size_t)p->nweights + 1, sizeof **filled);
    for (int i = 0; i < p->nweights; i++) {
        (*filled)[i] = xmalloc((size_t)(p->weight[i].rows * p->weight[i].cols) * sizeof(float));
        if (!model_fill_plan_weight(m, &p->weight[i], (*filled)[i], err, errlen)) return false;
    }
    return true;
}

static void free_filled(float **filled, int n) {
    for (int i = 0; filled && i < n; i++) free(filled[i]);
    free(filled);
}

/* The streamed load of path for st_layout: false with the error of its open (the headers), or else of
 * the first weight a backend would ask for that fails (a value). */
static bool stream_all(const char *path, char *err, size_t errlen) {
    Model m;
    if (!model_stream_safetensors(&m, &st_layout, path, false, NULL, err, errlen)) return false;
    RunPlan p = {0};
    float **filled = NULL;
    bool ok = plan_for(&st_layout, RUN_TARGET_CPU, &p) && fill_all(&m, &p, &filled, err, errlen);
    free_filled(filled, p.nweights);
    run_plan_free(&p);
    model_free(&m);
    return ok;
}

/* Both loads, whole and streamed, refuse path with the same message naming it and the needles. */
static void expect_load_error(const char *name, const char *path, const char *needle1, const char *needle2) {
    Model m;
    char err[1024] = "", streamed[1024] = "";
    bool ok = model_load_safetensors(&m, &st_layout, path, false, NULL, err, sizeof err);
    if (ok) model_free(&m);
    bool stream_ok = stream_all(path, streamed, sizeof streamed);
    bool good = !ok && strstr(err, needle1) && (!needle2 || strstr(err, needle2)) && strstr(err, path);
    result(good && !stream_ok && strcmp(err, streamed) == 0, name, "ok=%d message: %s; streamed ok=%d: %s", ok, err,
           stream_ok, streamed);
}

/* A streamed model gives the cuda backend the values of a whole load, weight by weight (the fused QKV
 * and gate-up slots included), and holds none of them itself. */
static void test_streamed_weights(void) {
    int64_t win[] = {0, 0, 8};
    int reads[] = {0, 0, 2};
    Layout l;
    make_layout(&l, 3, win, reads, 4, 32);
    l.model.head_dim = 64;   /* the kernels' least */
    Model random, whole, streamed;
    model_init_random(&random, &l, 5);
    char err[1024] = "", path[512];
    snprintf(path, sizeof path, "%s", tmp_path("streamed.safetensors"));
    bool ok = model_save_safetensors(&random, path, err, sizeof err);
    model_free(&random);
    RunPlan p = {0};
    ok = ok && plan_for(&l, RUN_TARGET_CUDA, &p) && model_load_safetensors(&whole, &l, path, false, NULL, err, sizeof err);
    if (ok && !model_stream_safetensors(&streamed, &l, path, false, NULL, err, sizeof err)) {
        model_free(&whole);
        ok = false;
    }
    float **a = NULL, **b = NULL;
    bool same = ok && fill_all(&whole, &p, &a, err, sizeof err) && fill_all(&streamed, &p, &b, err, sizeof err);
    int fused = 0;
    for (int i = 0; same && i < p.nweights; i++) {
        same = memcmp(a[i], b[i], (size_t)(p.weight[i].rows * p.weight[i].cols) * sizeof(float)) == 0;
        fused += p.weight[i].ref == WT_QKV || p.weight[i].ref == WT_GATE_UP;
    }
    for (int i = 0; same && i < p.nweights; i++) {   /* the parts, where they lie, hold the filled values */
        const float *part[3];
        int64_t count[3], at = 0;
        int n = model_plan_weight_parts(&streamed, &p.weight[i], part, count, err, sizeof err);
        for (int k = 0; k < n && same; at += count[k++]) same = !memcmp(part[k], b[i] + at, (size_t)count[k] * sizeof(float));
        same = same && n > 0 && at == p.weight[i].rows * p.weight[i].cols;
    }
    bool empty = ok && !streamed.embed && !streamed.layer[0].wq && streamed.stream;
    free_filled(a, p.nweights);
    free_filled(b, p.nweights);
    if (ok) model_free(&whole), model_free(&streamed);
    run_plan_free(&p);
    layout_free(&l);
    result(same && fused >= 2 && empty, "a streamed model fills every plan weight as the whole load does, holding none itself",
           "%s (fused slots %d)", err, fused);
}

/* Rewrites a valid saved file with its JSON header edited (old -> new, same length or not). */
static void edit_header(const char *src, const char *dst, const char *old, const char *new) {
    size_t len;
    char *buf = read_file(src, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)buf[i];
    char *json = xcalloc(hl + 1, 1);
    memcpy(json, buf + 8, hl);
    char *at = strstr(json, old);
    if (!at) abort();
    size_t nl = hl - strlen(old) + strlen(new);
    char *out = xcalloc(8 + nl + (len - 8 - hl), 1);
    for (int i = 0; i < 8; i++) out[i] = (char)(nl >> (8 * i));
    size_t pre = (size_t)(at - json);
    memcpy(out + 8, json, pre);
    memcpy(out + 8 + pre, new, strlen(new));
    memcpy(out + 8 + pre + strlen(new), at + strlen(old), hl - pre - strlen(old));
    memcpy(out + 8 + nl, buf + 8 + hl, len - 8 - hl);
    write_bytes(dst, out, 8 + nl + (len - 8 - hl));
    free(out), free(json), free(buf);
}

/* A weight holding NaN or Inf is refused by name, with where it is. */
static void test_nonfinite_weights(void) {
    const float bad[2] = {NAN, -INFINITY};
    const char *what[2] = {"NaN", "Inf"};
    for (int k = 0; k < 2; k++) {
        Model m;
        model_init_random(&m, &st_layout, 7);
        m.layer[2].w_up[3 * st_layout.model.hidden + 5] = bad[k];
        char err[1024] = "", path[512], want[128], name[64];
        snprintf(path, sizeof path, "%s", tmp_path(k ? "inf.st" : "nan.st"));
        bool saved = model_save_safetensors(&m, path, err, sizeof err);
        model_free(&m);
        snprintf(want, sizeof want, "'model.layers.2.mlp.up_proj.weight' holds %s at element %lld (row 3, column 5)",
                 what[k], (long long)(3 * st_layout.model.hidden + 5));
        snprintf(name, sizeof name, "bad weights: %s in a tensor", what[k]);
        if (!saved) result(false, name, "cannot save: %s", err);
        else expect_load_error(name, path, want, NULL);
    }
}

/* The layout decides whether the LM head is the embedding (tie_embeddings), as the plan does, not the
 * file: a tied layout refuses a checkpoint's own head as a tensor it does not use (a copy of the
 * embedding, byte for byte, is the head it means), an untied one a checkpoint without it, with a hint. */
static void test_tied_head(void) {
    Layout tied = st_layout;   /* the same layers (not freed: st_layout owns them) */
    tied.model.tie_embeddings = true;
    Model own, copy, loaded;
    model_init_random(&own, &st_layout, 3);
    model_init_random(&copy, &st_layout, 3);
    int64_t n = st_layout.model.vocab * st_layout.model.hidden;
    memcpy(copy.lm_head, copy.embed, (size_t)n * sizeof(float));
    char err[1024] = "", own_path[512], copy_path[512], tied_path[512];
    snprintf(own_path, sizeof own_path, "%s", tmp_path("own-head.st"));
    snprintf(copy_path, sizeof copy_path, "%s", tmp_path("copied-head.st"));
    snprintf(tied_path, sizeof tied_path, "%s", tmp_path("tied.st"));
    Model t;
    model_init_random(&t, &tied, 3);
    bool saved = model_save_safetensors(&own, own_path, err, sizeof err) &&
                 model_save_safetensors(&copy, copy_path, err, sizeof err) && model_save_safetensors(&t, tied_path, err, sizeof err);
    model_free(&own), model_free(&copy), model_free(&t);
    Layout keep = st_layout;
    st_layout = tied;   /* expect_load_error loads for st_layout */
    if (saved) expect_load_error("tied layout: a checkpoint's own LM head is a tensor it does not use", own_path,
                                 "1 tensor is not used by this layout ('lm_head.weight')", NULL);
    bool ok = saved && model_load_safetensors(&loaded, &tied, copy_path, false, NULL, err, sizeof err);
    result(ok && loaded.lm_head == loaded.embed, "tied layout: an LM head that copies the embedding byte for byte is taken",
           "%s", err);
    if (ok) model_free(&loaded);
    st_layout = keep;
    if (saved) expect_load_error("untied layout: a checkpoint without an LM head is refused, with a hint", tied_path,
                                 "tensor 'lm_head.weight' is missing", "hint: a checkpoint without it ties the LM head");
}

static void test_safetensors(void) {
    int64_t win[] = {0, 0, 8};
    int reads[] = {0, 0, 2};
    make_layout(&st_layout, 3, win, reads, 4, 32);
    Model a, b;
    model_init_random(&a, &st_layout, 99);
    char err[1024] = "";
    char good[512];
    snprintf(good, sizeof good, "%s", tmp_path("good.safetensors"));
    bool ok = model_save_safetensors(&a, good, err, sizeof err) &&
              model_load_safetensors(&b, &st_layout, good, false, NULL, err, sizeof err);
    bool same = ok;
    if (ok) {
        ModelTensor *ta, *tb;
        int na = model_tensors(&a, &ta), nb = model_tensors(&b, &tb);
        same = na == nb && b.lm_head != b.embed;
        for (int i = 0; i < na && same; i++) {
            int64_t n = ta[i].ndim == 1 ? ta[i].shape[0] : ta[i].shape[0] * ta[i].shape[1];
            same = memcmp(*ta[i].slot, *tb[i].slot, (size_t)n * sizeof(float)) == 0;
        }
        free(ta), free(tb);
        model_free(&b);
    }
    result(same, "safetensors round trip keeps every weight exactly", "%s", err);
    model_free(&a);
    test_streamed_weights();

    StFile f;
    ok = st_open(good, &f, err, sizeof err);
    const StTensor *t = ok ? st_find(&f, "model.layers.1.self_attn.q_proj.weight") : NULL;
    result(t && t->dtype == ST_BF16 && t->ndim == 2 && t->shape[0] == 64 && t->shape[1] == 64 &&
               !st_find(&f, "model.layers.1.self_attn.k_proj.weight"),
           "saved file: bf16, HF names and shapes, no k_proj for the reader", "%s", err);
    if (ok) st_close(&f);

    edit_header(good, tmp_path("missing.st"), "model.layers.2.mlp.up_proj.weight", "model.layers.2.mlp.up_proj.weigh_");
    expect_load_error("bad weights: missing tensor", tmp_path("missing.st"), "'model.layers.2.mlp.up_proj.weight' is missing", NULL);
    edit_header(good, tmp_path("shape.st"), "\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[64]",
                "\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[32,2]");
    expect_load_error("bad weights: wrong shape", tmp_path("shape.st"), "'model.norm.weight' has shape [32, 2]", "[64]");
    edit_header(good, tmp_path("dtype.st"), "\"model.norm.weight\":{\"dtype\":\"BF16\"",
                "\"model.norm.weight\":{\"dtype\":\"I16\"");
    expect_load_error("bad weights: wrong dtype", tmp_path("dtype.st"), "'model.norm.weight' has dtype I16", NULL);
    edit_header(good, tmp_path("dtype2.st"), "\"model.norm.weight\":{\"dtype\":\"BF16\"",
                "\"model.norm.weight\":{\"dtype\":\"F32\"");
    expect_load_error("bad weights: size not matching dtype x shape", tmp_path("dtype2.st"), "'model.norm.weight'",
                      "data bytes for a F32 tensor");
    edit_header(good, tmp_path("reader.st"), "model.layers.0.self_attn.k_proj", "model.layers.1.self_attn.k_proj");
    expect_load_error("bad weights: a reading layer with k_proj", tmp_path("reader.st"),
                      "'model.layers.1.self_attn.k_proj.weight' is present", "reads layer 0");

    size_t len;
    char *buf = read_file(good, &len);
    write_bytes(tmp_path("truncated.st"), buf, len - 100);
    expect_load_error("bad weights: truncated file", tmp_path("truncated.st"), "past the end of the file", "'lm_head.weight'");
    write_bytes(tmp_path("short.st"), buf, 5);
    expect_load_error("bad weights: shorter than the header length", tmp_path("short.st"), "truncated", NULL);
    free(buf);
    write_st(tmp_path("hlen.st"), "{}", 0, 1u << 20);
    expect_load_error("bad weights: header length beyond the file", tmp_path("hlen.st"), "beyond the end of the file", NULL);
    write_st(tmp_path("garbage.st"), "{\"model.norm.weight\": {\"dtype\": BF16", 0, 0);
    expect_load_error("bad weights: garbage JSON", tmp_path("garbage.st"), "not valid JSON", NULL);
    write_st(tmp_path("array.st"), "[1, 2]", 0, 0);
    expect_load_error("bad weights: header not an object", tmp_path("array.st"), "not a JSON object", NULL);
    write_st(tmp_path("overlap.st"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, 0);
    expect_load_error("bad weights: overlapping tensors", tmp_path("overlap.st"), "overlap", NULL);
    /* An empty tensor between two overlapping ones must not hide the overlap. */
    write_st(tmp_path("overlap-empty.st"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20, 0);
    expect_load_error("bad weights: overlap around an empty tensor", tmp_path("overlap-empty.st"), "'a' and 'b' overlap", NULL);
    /* The tensors fill the data bytes (the safetensors library's rule): a gap, bytes after the last
     * tensor, or a header length short of its padding (the data read 4 bytes early) are refused. */
    write_st(tmp_path("gap.st"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20, 0);
    expect_load_error("bad weights: a gap between tensors", tmp_path("gap.st"), "tensor 'b' begins at data byte 12",
                      "after a gap of 4 bytes");
    write_st(tmp_path("tail.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, 0);
    expect_load_error("bad weights: bytes after the last tensor", tmp_path("tail.st"),
                      "the tensors end at data byte 8 but 12 data bytes follow the header", NULL);
    static const char padded[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}    ";
    write_st(tmp_path("hlen-short.st"), padded, 8, sizeof padded - 1 - 4);
    expect_load_error("bad weights: a header length short of its padding", tmp_path("hlen-short.st"),
                      "12 data bytes follow the header (a wrong header length?)", NULL);
    test_nonfinite_weights();
    test_tied_head();
    write_st(tmp_path("offsets.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0);
    expect_load_error("bad weights: reversed data_offsets", tmp_path("offsets.st"), "tensor 'a': bad data_offsets", NULL);
    write_st(tmp_path("huge.st"),
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", 0, 0);
    expect_load_error("bad weights: a shape whose size overflows", tmp_path("huge.st"), "tensor 'a'", NULL);
    expect_load_error("bad weights: no such file", tmp_path("absent.st"), "cannot open", NULL);
    layout_free(&st_layout);
}

static void test_npy(void) {
    float data[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    const char *path = tmp_path("x.npy");
    bool ok = npy_write_f32(path, data, 2, 3);
    size_t len = 0;
    char *buf = ok ? read_file(path, &len) : NULL;
    bool good = buf && len == 128 + 24 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0 &&
                (unsigned char)buf[8] + 256 * (unsigned char)buf[9] == 118 && buf[127] == '\n' &&
                strstr(buf + 10, "'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)") &&
                memcmp(buf + 128, data, 24) == 0;
    result(good, "npy: version 1.0 header, 64-byte aligned data, <f4 values", "len %zu", len);
    free(buf);
}

/* ---- 8-bit KV caches */

static void test_kv_codes(void) {
    float e4m3[256];
    kv_code_values(DT_FP8, e4m3);
    bool table = e4m3[0x38] == 1.0f && e4m3[0x7e] == 448.0f && e4m3[0x08] == ldexpf(1, -6) &&
                 e4m3[0x01] == ldexpf(1, -9) && e4m3[0xb8] == -1.0f && isnan(e4m3[0x7f]) && isnan(e4m3[0xff]);
    bool round_trip = true;
    for (int c = 0; c < 256; c++)
        if (!isnan(e4m3[c]) && e4m3[kv_encode(DT_FP8, e4m3[c])] != e4m3[c]) round_trip = false;
    /* halfway between neighbours: to the even code; beyond 448: 448 */
    bool ties = kv_encode(DT_FP8, 1.0625f) == 0x38 && kv_encode(DT_FP8, 1.1875f) == 0x3a &&
                kv_encode(DT_FP8, -1.0625f) == 0xb8 && kv_encode(DT_FP8, 1000.0f) == 0x7e &&
                kv_encode(DT_FP8, 1.06f) == 0x38 && kv_encode(DT_FP8, 1.07f) == 0x39;
    bool int8 = kv_encode(DT_INT8, 2.5f) == 2 && kv_encode(DT_INT8, 3.5f) == 4 &&
                (int8_t)kv_encode(DT_INT8, -2.5f) == -2 && kv_encode(DT_INT8, 200.0f) == 127 &&
                (int8_t)kv_encode(DT_INT8, -200.0f) == -127;
    result(table && round_trip && ties && int8, "kv codes: e4m3 values, every code round-trips, ties to even, saturation",
           "table %d round trip %d ties %d int8 %d", table, round_trip, ties, int8);
}

/* The shared e4m3 encoder (templates/mixc_kv8.h: integer rounding on the float's bits, as the kernels
 * run it in the emulator and on GPUs without e4m3 conversions) gives, for every float in [0, 512) a
 * stride apart and for the codes' values and midpoints +-1 ulp, the code a search over the 255 values
 * finds nearest (ties to the even code; 448 beyond). */
static uint8_t e4m3_nearest_by_search(const float values[256], float a) {
    int best = 0;
    for (int c = 1; c <= 0x7e; c++) {
        float d = fabsf(values[c] - a), db = fabsf(values[best] - a);
        if (d < db || (d == db && (c & 1) == 0)) best = c;
    }
    return (uint8_t)best;
}

static void test_e4m3_encoder(void) {
    float values[256];
    kv_code_values(DT_FP8, values);
    long checked = 0, wrong = 0;
    float first_wrong = 0;
    for (uint32_t bits = 0; bits < 0x44000000u; bits += 4099) {   /* 0 .. 512, every exponent */
        float a;
        memcpy(&a, &bits, sizeof a);
        float probes[2] = {a, -a};
        for (int k = 0; k < 2; k++) {
            uint8_t want = e4m3_nearest_by_search(values, fabsf(probes[k]));
            if (probes[k] < 0 && want) want |= 0x80;
            checked++;
            if (kv_encode(DT_FP8, probes[k]) != want && !wrong++) first_wrong = probes[k];
        }
    }
    for (int c = 0; c < 0x7e; c++) {   /* each midpoint, and one ulp either side of it */
        float mid = (values[c] + values[c + 1]) / 2, probes[3] = {mid, nextafterf(mid, 0), nextafterf(mid, 1000)};
        for (int k = 0; k < 3; k++, checked++)
            if (kv_encode(DT_FP8, probes[k]) != e4m3_nearest_by_search(values, probes[k]) && !wrong++) first_wrong = probes[k];
    }
    result(wrong == 0, "kv codes: the shared e4m3 encoder = the nearest code by search (sweep, midpoints +-1 ulp)",
           "%ld of %ld wrong, first at %.9g", wrong, checked, first_wrong);
}

/* Random K and V rows quantized into the layout of docs/model.md; attention over them equals
 * attention over an fp32 cache holding their dequantized values, and each value is within half a
 * step (int8) of what was stored. */
enum { QCAP = 12, QKVH = 2, QHD = 16, QHEADS = 4 };
static bool quantized_attention_matches(DType dt, double *worst_store) {
    uint8_t codes[2][QCAP * QKVH * QHD], scales[2][QCAP * QKVH * sizeof(float)];
    float deq[2][QCAP * QKVH * QHD], values[256], x[QHD], q[3 * QHEADS * QHD], o8[3 * QHEADS * QHD],
        o32[3 * QHEADS * QHD], sc[QCAP + 4];
    kv_code_values(dt, values);
    uint32_t seed = 7;
    *worst_store = 0;
    for (int kv = 0; kv < 2; kv++)
        for (int slot = 0; slot < QCAP * QKVH; slot++) {
            for (int d = 0; d < QHD; d++) x[d] = (float)((seed = seed * 1664525u + 1013904223u) >> 8) / (1 << 24) * 4 - 2;
            float sc1 = kv_quantize_head(dt, x, QHD, codes[kv] + slot * QHD);
            memcpy(scales[kv] + slot * sizeof(float), &sc1, sizeof sc1);
            for (int d = 0; d < QHD; d++) {
                deq[kv][slot * QHD + d] = values[codes[kv][slot * QHD + d]] * sc1;
                double err = fabs(deq[kv][slot * QHD + d] - x[d]) / sc1;
                if (err > *worst_store) *worst_store = err;
            }
        }
    for (int i = 0; i < 3 * QHEADS * QHD; i++) q[i] = (float)((seed = seed * 1664525u + 1013904223u) >> 8) / (1 << 24) - 0.5f;
    AttentionArgs a = {q, o8, 3, 20, QHEADS, QKVH, QHD, 6, 0.25f, {codes[0], scales[0], dt, NULL, 0}, {codes[1], scales[1], dt, NULL, 0},
                       QCAP, 23, sc, QCAP + 4, 0, 0, NULL};
    AttentionArgs f = a;
    f.out = o32, f.cache_k = (KvRows){deq[0], NULL, DT_FP32, NULL, 0}, f.cache_v = (KvRows){deq[1], NULL, DT_FP32, NULL, 0};
    if (!cpu_reference_kernels.attention(NULL, &a) || !cpu_reference_kernels.attention(NULL, &f)) return false;
    return max_diff(o8, o32, 3 * QHEADS * QHD) <= 1e-5 * (max_abs(o32, 3 * QHEADS * QHD) + 1e-3);
}

static void test_kv_attention(void) {
    double int8_err, fp8_err;
    bool i8 = quantized_attention_matches(DT_INT8, &int8_err), f8 = quantized_attention_matches(DT_FP8, &fp8_err);
    /* int8: half a step; e4m3 (3 mantissa bits): at most 1/16 of a value, i.e. 448/16 steps of the scale */
    result(i8 && f8 && int8_err <= 0.5 + 1e-6 && fp8_err <= 28.0 + 1e-6,
           "kv attention: int8 and fp8 caches = attention over their dequantized values; stored within half a code",
           "int8 %d (store error %.3g steps), fp8 %d (%.3g)", i8, int8_err, f8, fp8_err);
}

/* The size check counts the model's parameters exactly: a 1M-token vocabulary on a small model
 * (335M parameters, tied) runs, where a bound of widest x hidden x 9 per layer refused it; a
 * 405B-parameter model is refused for this machine's memory, naming the figures. */
static void test_size_check(void) {
    enum { N = 64 };
    int64_t win[N] = {0};
    int reads[N];
    for (int i = 0; i < N; i++) reads[i] = i;
    Layout l;
    make_layout(&l, N, win, reads, 4, 32);
    l.model.vocab = 1 << 20, l.model.hidden = 256, l.model.ffn = 1024, l.model.tie_embeddings = true;
    char err[256] = "";
    bool small = model_check_size(&l, false, err, sizeof err);
    l.model.vocab = 128256, l.model.hidden = 16384, l.model.ffn = 53248, l.model.heads = 128, l.model.kv_heads = 8;
    l.model.head_dim = 128, l.model.tie_embeddings = false;
    bool huge = model_check_size(&l, false, err, sizeof err);
    result(small && !huge && strstr(err, "parameters: their fp32 copies need") && strstr(err, "host memory"),
           "the size check: exact parameters, refused for this machine's memory with the figures", "%s", err);
    layout_free(&l);
}

/* A streamed load holds one part (a layer, the embedding) at a time: 100,000 layers of 16M parameters
 * (6.4 TB in fp32) are refused whole but fit streamed (64 MB a layer); a layer beyond memory is refused
 * streamed too. */
static void test_size_check_streamed(void) {
    enum { N = MIXC_MAX_LAYERS };
    int64_t *win = xcalloc(N, sizeof *win);
    int *reads = xmalloc(N * sizeof *reads);
    for (int i = 0; i < N; i++) reads[i] = i;
    Layout l;
    make_layout(&l, N, win, reads, 8, 128);
    l.model.vocab = 1024, l.model.hidden = 1024, l.model.ffn = 4096;
    char err[256] = "", whole_err[256] = "";
    bool whole = model_check_size(&l, false, whole_err, sizeof whole_err);
    bool streamed = model_check_size(&l, true, err, sizeof err);
    l.model.hidden = 1 << 20, l.model.ffn = 1 << 20;   /* a layer of 2^42 parameters */
    bool wide = model_check_size(&l, true, err, sizeof err);
    result(!whole && streamed && !wide && strstr(err, "the fp32 copy of its largest part"),
           "the size check, streamed: the largest part must fit, not the whole model", "%s / %s", whole_err, err);
    layout_free(&l);
    free(win);
    free(reads);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_model TMPDIR\n");
        return 2;
    }
    tmpdir = argv[1];
    test_conversions();
    test_variations_against_naive();
    test_reader_uses_owner();
    test_chunks_vs_tokens();
    test_ring();
    test_kernel_table();
    test_nan_names_layer();
    test_safetensors();
    test_npy();
    test_kv_codes();
    test_e4m3_encoder();
    test_kv_attention();
    test_size_check();
    test_size_check_streamed();
    return failures ? 1 : 0;
}
