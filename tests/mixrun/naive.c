/* naive.c — the independent reference of test_model (naive.h): the decoder of docs/model.md with
 * every variation of the header (biases, q/k norms, (1 + w) norms, sandwich norms, GELU, embedding
 * scale, soft-caps, query_pre_attn_scalar, a mixture of experts), each written out where the model
 * applies it. */
#include "naive.h"

#include <math.h>
#include <stdlib.h>

/* out = x / sqrt(mean(x^2) + eps) * (offset + w): offset 1 for norm = rms_plus_one. */
static void naive_rmsnorm(const ModelHeader *m, const double *x, const float *w, double *out, int64_t d) {
    double ss = 0, offset = m->norm == NORM_RMS_PLUS_ONE ? 1 : 0;
    for (int64_t i = 0; i < d; i++) ss += x[i] * x[i];
    double inv = 1 / sqrt(ss / d + m->norm_eps);
    for (int64_t i = 0; i < d; i++) out[i] = x[i] * inv * (offset + w[i]);
}

/* qk_norm: each of the n heads of x normed in place by w [head_dim]; nothing when w is NULL. */
static void naive_head_norm(const ModelHeader *m, double *x, const float *w, int64_t n) {
    for (int64_t h = 0; w && h < n; h++) naive_rmsnorm(m, x + h * m->head_dim, w, x + h * m->head_dim, m->head_dim);
}

static void naive_proj(const double *x, const float *w, double *y, int64_t in, int64_t out) {
    for (int64_t o = 0; o < out; o++) {
        double s = 0;
        for (int64_t i = 0; i < in; i++) s += x[i] * w[o * in + i];
        y[o] = s;
    }
}

/* RoPE's inverse frequency of pair k, straight from transformers' formulas (modeling_rope_utils.py),
 * independently of compiler/ir/rope.c: plain, linear, llama3, yarn; a kind's own theta is plain. */
static double naive_inv_freq(const ModelHeader *m, const LayerRope *r, int64_t k) {
    const RopeScaling *s = &m->rope_scaling;
    double theta = r->theta ? r->theta : m->rope_theta, hd = (double)m->head_dim, orig = (double)s->original_context;
    double inv = 1 / pow(theta, 2.0 * (double)k / hd);
    if (r->theta || s->type == ROPE_PLAIN) return inv;
    if (s->type == ROPE_LINEAR) return inv / s->factor;
    if (s->type == ROPE_LLAMA3) {
        double wavelen = 2 * M_PI / inv, smooth = (orig / wavelen - s->low_freq_factor) /
                                                  (s->high_freq_factor - s->low_freq_factor);
        if (wavelen < orig / s->high_freq_factor) return inv;
        if (wavelen > orig / s->low_freq_factor) return inv / s->factor;
        return (1 - smooth) * inv / s->factor + smooth * inv;
    }
    double lo = floor(hd * log(orig / (s->beta_fast * 2 * M_PI)) / (2 * log(theta)));
    double hi = ceil(hd * log(orig / (s->beta_slow * 2 * M_PI)) / (2 * log(theta)));
    lo = fmax(lo, 0), hi = fmin(hi, hd - 1);
    double ramp = fmin(fmax(((double)k - lo) / (hi == lo ? 0.001 : hi - lo), 0), 1);
    return inv / s->factor * ramp + inv * (1 - ramp);
}

static void naive_rope(double *x, int64_t nheads, const ModelHeader *m, const LayerRope *r, int64_t pos) {
    int64_t hd = m->head_dim;
    double scale = !r->theta && m->rope_scaling.type == ROPE_YARN ? m->rope_scaling.attention_factor : 1;
    for (int64_t h = 0; h < nheads && !r->nope; h++) {
        double *v = x + h * hd;
        for (int64_t k = 0; k < hd / 2; k++) {
            double a = (double)pos * naive_inv_freq(m, r, k), x1 = v[k], x2 = v[k + hd / 2];
            v[k] = (x1 * cos(a) - x2 * sin(a)) * scale;
            v[k + hd / 2] = (x2 * cos(a) + x1 * sin(a)) * scale;
        }
    }
}

/* The header with layer i's own kv_heads and head_dim where its kind gives them (read here from the
 * layer, not through layer_model). */
static ModelHeader shaped(const Layout *l, int i) {
    ModelHeader m = l->model;
    if (l->layer[i].kv_heads) m.kv_heads = l->layer[i].kv_heads;
    if (l->layer[i].head_dim) m.head_dim = l->layer[i].head_dim;
    return m;
}

/* c * tanh(s / c), or s when c is 0. */
static double softcap(double s, double c) { return c ? c * tanh(s / c) : s; }

/* sinks: the layer's sink logits (gpt-oss; NULL: none), one more term of each head's denominator. */
static void naive_attention(const Layout *l, int layer, const double *q, double **K, double **V, int64_t t,
                            const float *sinks, double *out) {
    const ModelHeader lm = shaped(l, layer), *m = &lm;   /* the owner's shape too (the checker's rule) */
    int64_t hd = m->head_dim, kvw = m->kv_heads * hd, w = l->layer[layer].window, c = l->layer[layer].chunked;
    int src = l->layer[layer].reads;
    double scale = 1 / sqrt(m->query_pre_attn_scalar ? m->query_pre_attn_scalar : (double)hd);
    double *p = xmalloc((size_t)(t + 1) * sizeof(double));
    for (int64_t h = 0; h < m->heads; h++) {
        int64_t g = h / (m->heads / m->kv_heads);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= t; j++) {
            /* chunked C: keys of t's own chunk [C * (t div C), t]; window W: (t - W, t] */
            bool visible = c ? j / c == t / c : w == 0 || j > t - w;
            double s = 0;
            for (int64_t d = 0; d < hd; d++) s += q[h * hd + d] * K[src][j * kvw + g * hd + d];
            p[j] = visible ? softcap(s * scale, m->attn_softcap) : -1e300;
            mx = p[j] > mx ? p[j] : mx;
        }
        if (sinks && sinks[h] > mx) mx = sinks[h];
        if (sinks) sum = exp(sinks[h] - mx);
        for (int64_t j = 0; j <= t; j++) sum += p[j] = p[j] <= -1e299 ? 0 : exp(p[j] - mx);
        for (int64_t d = 0; d < hd; d++) {
            double acc = 0;
            for (int64_t j = 0; j <= t; j++) acc += p[j] / sum * V[src][j * kvw + g * hd + d];
            out[h * hd + d] = acc;
        }
    }
    free(p);
}

/* y += b (qkv_bias), nothing when b is NULL. */
static void add_bias(double *y, const float *b, int64_t n) {
    for (int64_t i = 0; b && i < n; i++) y[i] += b[i];
}

/* The layer's q, and its K and V when it owns a cache, of every position. */
static void naive_projections(const Model *mo, int i, const double *x, int64_t T, double *q, double *K, double *V) {
    const ModelHeader lm = shaped(mo->layout, i), *m = &lm;
    const LayerWeights *w = &mo->layer[i];
    int64_t d = m->hidden, qw = m->heads * m->head_dim, kvw = m->kv_heads * m->head_dim;
    double *h = xcalloc((size_t)d, sizeof(double));
    for (int64_t t = 0; t < T; t++) {
        naive_rmsnorm(m, x + t * d, w->norm_in, h, d);
        naive_proj(h, w->wq, q + t * qw, d, qw);
        add_bias(q + t * qw, w->bq, qw);
        naive_head_norm(m, q + t * qw, w->q_norm, m->heads);
        naive_rope(q + t * qw, m->heads, m, &mo->layout->layer[i].rope, t);
        if (!K) continue;
        naive_proj(h, w->wk, K + t * kvw, d, kvw);
        naive_proj(h, w->wv, V + t * kvw, d, kvw);
        add_bias(K + t * kvw, w->bk, kvw);
        add_bias(V + t * kvw, w->bv, kvw);
        naive_head_norm(m, K + t * kvw, w->k_norm, m->kv_heads);
        naive_rope(K + t * kvw, m->kv_heads, m, &mo->layout->layer[i].rope, t);
    }
    free(h);
}

/* out += scale x the gated MLP of h with gate, up [F][d] and down [d][F] (biases when not NULL;
 * scale_input: h scaled instead, as Llama 4's router does). */
static void naive_gated(const ModelHeader *m, const double *h, const float *const w[3], const float *const b[3],
                        int64_t F, double scale, bool scale_input, double *out) {
    int64_t d = m->hidden;
    double *x = xcalloc((size_t)d, sizeof(double)), *o = xcalloc((size_t)d, sizeof(double));
    double *g = xcalloc((size_t)F, sizeof(double)), *u = xcalloc((size_t)F, sizeof(double));
    for (int64_t k = 0; k < d; k++) x[k] = scale_input ? h[k] * scale : h[k];
    naive_proj(x, w[0], g, d, F);
    naive_proj(x, w[1], u, d, F);
    add_bias(g, b[0], F);
    add_bias(u, b[1], F);
    for (int64_t k = 0; k < F; k++) {
        double L = m->swiglu_limit, gc = g[k] < L ? g[k] : L, uc = u[k] < -L ? -L : u[k] > L ? L : u[k];
        g[k] = m->activation == ACT_CLAMPED_SWIGLU ? gc / (1 + exp(-m->swiglu_alpha * gc)) * (uc + 1)
               : (m->activation == ACT_GELU_TANH
                      ? 0.5 * g[k] * (1 + tanh(sqrt(2 / M_PI) * (g[k] + 0.044715 * g[k] * g[k] * g[k])))
                      : g[k] / (1 + exp(-g[k]))) * u[k];
    }
    naive_proj(g, w[2], o, F, d);
    add_bias(o, b[2], d);
    for (int64_t k = 0; k < d; k++) out[k] += scale_input ? o[k] : scale * o[k];
    free(x), free(o), free(g), free(u);
}

static const double *sort_logits;
static int by_logit(const void *a, const void *b) {   /* descending, ties: the lower index first */
    int i = *(const int *)a, j = *(const int *)b;
    return sort_logits[i] > sort_logits[j] ? -1 : sort_logits[i] < sort_logits[j] ? 1 : i - j;
}

/* out = the mixture of experts of h (docs/model.md): router, the k best, their weights, the experts
 * and the shared expert. */
static void naive_experts(const ModelHeader *m, const LayerWeights *w, const double *h, double *out) {
    int64_t E = m->experts, k = m->experts_per_token, d = m->hidden, F = m->ffn;
    double *logit = xcalloc((size_t)E, sizeof(double)), all = 0, chosen = 0;
    int *order = xcalloc((size_t)E, sizeof(int));
    naive_proj(h, w->router, logit, d, E);
    add_bias(logit, w->router_bias, E);
    for (int e = 0; e < E; e++) order[e] = e, all += exp(logit[e]);
    sort_logits = logit;
    qsort(order, (size_t)E, sizeof(int), by_logit);
    for (int64_t j = 0; j < k; j++) chosen += exp(logit[order[j]]);
    for (int64_t j = 0; j < k; j++) {
        int e = order[j];
        double p = m->router == ROUTER_TOPK_SOFTMAX ? exp(logit[e]) / chosen
                   : m->router == ROUTER_SOFTMAX_TOPK ? exp(logit[e]) / all : 1 / (1 + exp(-logit[e]));
        const float *ew[3] = {w->experts_gate + e * F * d, w->experts_up + e * F * d, w->experts_down + e * d * F};
        const float *eb[3] = {w->experts_gate_bias ? w->experts_gate_bias + e * F : NULL,
                              w->experts_up_bias ? w->experts_up_bias + e * F : NULL,
                              w->experts_down_bias ? w->experts_down_bias + e * d : NULL};
        naive_gated(m, h, ew, eb, F, p, m->router == ROUTER_SIGMOID_INPUT, out);
    }
    const float *sw[3] = {w->shared_gate, w->shared_up, w->shared_down}, *none[3] = {NULL, NULL, NULL};
    if (m->shared_expert_ffn) naive_gated(m, h, sw, none, m->shared_expert_ffn, 1, false, out);
    free(logit), free(order);
}

/* x += layer i's MLP of x, dense or a mixture of experts (sandwich_norms: its output normed first);
 * with moe_step, the experts on layers moe_step-1, 2 moe_step-1, ... and dense_ffn wide dense MLPs on
 * the others, written out here rather than taken from layer_model. */
static void naive_mlp(const Model *mo, int i, const LayerWeights *w, double *x) {
    ModelHeader lm = mo->layout->model;
    const ModelHeader *m = &lm;
    if (lm.experts && lm.moe_step > 1 && (i + 1) % lm.moe_step != 0) lm.experts = 0, lm.ffn = lm.dense_ffn;
    int64_t d = m->hidden;
    double *h = xcalloc((size_t)d, sizeof(double)), *o = xcalloc((size_t)d, sizeof(double));
    naive_rmsnorm(m, x, w->norm_post, h, d);
    const float *dense[3] = {w->w_gate, w->w_up, w->w_down}, *none[3] = {NULL, NULL, NULL};
    if (m->experts) naive_experts(m, w, h, o);
    else naive_gated(m, h, dense, none, m->ffn, 1, false, o);
    if (w->norm_mlp_out) naive_rmsnorm(m, o, w->norm_mlp_out, o, d);
    for (int64_t k = 0; k < d; k++) x[k] += o[k];
    free(h), free(o);
}

void naive_logits(const Model *mo, const int32_t *tok, int64_t T, float *out) {
    const Layout *l = mo->layout;
    const ModelHeader *m = &l->model;
    int64_t d = m->hidden;
    double *x = xcalloc((size_t)(T * d), sizeof(double)), *h = xcalloc((size_t)d, sizeof(double));
    double *o = xcalloc((size_t)d, sizeof(double));
    double **K = xcalloc((size_t)l->nlayers, sizeof(double *)), **V = xcalloc((size_t)l->nlayers, sizeof(double *));
    float scale = m->embed_scale ? (float)sqrt((double)d) : 1.0f;   /* in the model dtype, as transformers has it */
    model_round_to_dtype(&scale, 1, m->dtype);   /* (the runtime's rounding, not model_embed_scale's) */
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < d; i++) x[t * d + i] = mo->embed[tok[t] * d + i] * (double)scale;
    for (int i = 0; i < l->nlayers; i++) {
        const LayerWeights *w = &mo->layer[i];
        const ModelHeader lm = shaped(l, i);   /* q, K, V and attn rows of this layer's shape */
        int64_t qw = lm.heads * lm.head_dim, kvw = lm.kv_heads * lm.head_dim;
        double *q = xcalloc((size_t)(T * qw), sizeof(double)), *att = xcalloc((size_t)qw, sizeof(double));
        if (w->wk) {
            K[i] = xcalloc((size_t)(T * kvw), sizeof(double));
            V[i] = xcalloc((size_t)(T * kvw), sizeof(double));
        }
        naive_projections(mo, i, x, T, q, K[i], V[i]);   /* of every position first */
        for (int64_t t = 0; t < T; t++) {
            naive_attention(l, i, q + t * qw, K, V, t, w->sinks, att);
            naive_proj(att, w->wo, o, qw, d);
            add_bias(o, w->bo, d);
            if (w->norm_attn_out) naive_rmsnorm(m, o, w->norm_attn_out, o, d);
            for (int64_t k = 0; k < d; k++) x[t * d + k] += o[k];
            naive_mlp(mo, i, w, x + t * d);
        }
        free(q), free(att);
    }
    double *lg = xcalloc((size_t)m->vocab, sizeof(double));
    for (int64_t t = 0; t < T; t++) {
        naive_rmsnorm(m, x + t * d, mo->norm_final, h, d);
        naive_proj(h, mo->lm_head, lg, d, m->vocab);
        for (int64_t k = 0; k < m->vocab; k++) out[t * m->vocab + k] = (float)softcap(lg[k], m->logit_softcap);
    }
    for (int i = 0; i < l->nlayers; i++) free(K[i]), free(V[i]);
    free(K), free(V), free(x), free(h), free(o), free(lg);
}
