/* cpu_backend.c — the reference backend: the model of docs/model.md in plain C, fp32.
 *
 * Weights are fp32 already rounded to the model dtype (model.c); activations and KV caches are fp32
 * (so this backend is the numerical reference the GPU kernels are compared with, not a copy of
 * their bf16 rounding). Caches are sized exactly as the planner sizes them (plan_cache_tokens): one
 * per owning layer, a ring of retention + chunk - 1 tokens when the retention is bounded
 * (slot = position % capacity). */
#include "backend.h"
#include "plan.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ reference kernels */

static void ref_rmsnorm(void *ctx, float *out, const float *x, const float *w, int64_t n, int64_t width, float eps) {
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * width;
        double ss = 0;
        for (int64_t i = 0; i < width; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)width + eps));
        for (int64_t i = 0; i < width; i++) out[r * width + i] = xr[i] * inv * w[i];
    }
}

/* Rotates one head vector in place (rotate_half convention). */
static void rope_head(float *x, int64_t head_dim, int64_t pos, double theta) {
    int64_t half = head_dim / 2;
    for (int64_t k = 0; k < half; k++) {
        double angle = (double)pos * pow(theta, -2.0 * (double)k / (double)head_dim);
        float c = (float)cos(angle), s = (float)sin(angle);
        float a = x[k], b = x[k + half];
        x[k] = a * c - b * s;
        x[k + half] = b * c + a * s;
    }
}

static void ref_rope_append(void *ctx, const RopeAppendArgs *a) {
    int64_t qw = a->heads * a->head_dim, kvw = a->kv_heads * a->head_dim;
    for (int64_t i = 0; i < a->n; i++) {
        int64_t pos = a->p0 + i;
        for (int64_t h = 0; h < a->heads; h++) rope_head(a->q + i * qw + h * a->head_dim, a->head_dim, pos, a->theta);
        if (!a->k) continue;
        for (int64_t h = 0; h < a->kv_heads; h++) rope_head(a->k + i * kvw + h * a->head_dim, a->head_dim, pos, a->theta);
        int64_t slot = pos % a->cap;
        memcpy(a->cache_k + slot * kvw, a->k + i * kvw, (size_t)kvw * sizeof(float));
        memcpy(a->cache_v + slot * kvw, a->v + i * kvw, (size_t)kvw * sizeof(float));
    }
}

static float dot(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

/* One query head against keys [lo, hi] of a cache. */
static void attend_one(const AttentionArgs *a, const float *q, float *out, int64_t kv_head, int64_t lo, int64_t hi,
                       float *scores) {
    int64_t kvw = a->kv_heads * a->head_dim;
    float max = -INFINITY;
    for (int64_t j = lo; j <= hi; j++) {
        const float *k = a->cache_k + (j % a->cap) * kvw + kv_head * a->head_dim;
        scores[j - lo] = dot(q, k, a->head_dim) * a->scale;
        if (scores[j - lo] > max) max = scores[j - lo];
    }
    double sum = 0;
    for (int64_t j = lo; j <= hi; j++) sum += scores[j - lo] = expf(scores[j - lo] - max);
    float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)a->head_dim * sizeof(float));
    for (int64_t j = lo; j <= hi; j++) {
        const float *v = a->cache_v + (j % a->cap) * kvw + kv_head * a->head_dim;
        float p = scores[j - lo] * inv;
        for (int64_t d = 0; d < a->head_dim; d++) out[d] += p * v[d];
    }
}

static bool ref_attention(void *ctx, const AttentionArgs *a) {
    int64_t qw = a->heads * a->head_dim, group = a->heads / a->kv_heads;
    int64_t oldest = a->written > a->cap ? a->written - a->cap : 0;   /* the ring still holds [oldest, written) */
    float *scores = xmalloc((size_t)a->cap * sizeof(float));
    bool ok = true;
    for (int64_t i = 0; i < a->n && ok; i++) {
        int64_t pos = a->p0 + i;
        int64_t lo = a->window && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
        if (lo < oldest || pos >= a->written) {
            ok = false;
            break;
        }
        for (int64_t h = 0; h < a->heads; h++)
            attend_one(a, a->q + i * qw + h * a->head_dim, a->out + i * qw + h * a->head_dim, h / group, lo, pos,
                       scores);
    }
    free(scores);
    return ok;
}

static void ref_silu_mul(void *ctx, float *gate, const float *up, int64_t count) {
    for (int64_t i = 0; i < count; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

const CpuKernels cpu_reference_kernels = {NULL, ref_rmsnorm, ref_rope_append, ref_attention, ref_silu_mul, NULL};

/* ------------------------------------------------------------------ the forward pass */

typedef struct {
    CpuKernels k;
    int64_t rows;               /* activation rows: max(chunk, nseq) */
    float **cache_k, **cache_v; /* [nseq * ncaches] */
    float *x, *h, *q, *kk, *vv, *att, *gate, *up;
} CpuState;

/* Rows of one sequence at consecutive positions. */
typedef struct {
    int seq;
    int64_t p0, n, row0;
} Segment;

/* y[r][o] = x[r] . W[o] : W is [out][in], as checkpoints store projections. */
static void matmul(float *y, const float *x, const float *w, int64_t rows, int64_t in, int64_t out) {
    for (int64_t o = 0; o < out; o++)
        for (int64_t r = 0; r < rows; r++) y[r * out + o] = dot(x + r * in, w + o * in, in);
}

static void add_into(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

static bool run_attention(Backend *b, int layer, const Segment *seg, int nseg) {
    CpuState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    const LayerInfo *li = &b->layout->layer[layer];
    bool owner = li->reads == layer;
    int64_t qw = m->heads * m->head_dim, kvw = m->kv_heads * m->head_dim;
    for (int g = 0; g < nseg; g++) {
        const Segment *sg = &seg[g];
        int ci = sg->seq * b->layout->ncaches + li->cache;
        RopeAppendArgs ra = {s->q + sg->row0 * qw, owner ? s->kk + sg->row0 * kvw : NULL,
                             owner ? s->vv + sg->row0 * kvw : NULL, sg->n, sg->p0, m->heads, m->kv_heads,
                             m->head_dim, m->rope_theta, s->cache_k[ci], s->cache_v[ci], b->cache_tokens[li->cache]};
        s->k.rope_append(s->k.ctx, &ra);
        AttentionArgs aa = {s->q + sg->row0 * qw, s->att + sg->row0 * qw, sg->n, sg->p0, m->heads, m->kv_heads,
                            m->head_dim, li->window, (float)(1.0 / sqrt((double)m->head_dim)),
                            s->cache_k[ci], s->cache_v[ci], b->cache_tokens[li->cache], sg->p0 + sg->n};
        if (!s->k.attention(s->k.ctx, &aa)) {
            snprintf(b->err, sizeof b->err,
                     "internal error: layer %d (sequence %d, positions %lld..%lld) needs keys that cache %d "
                     "(%lld tokens) no longer holds",
                     layer, sg->seq, (long long)sg->p0, (long long)(sg->p0 + sg->n - 1), li->cache,
                     (long long)b->cache_tokens[li->cache]);
            return false;
        }
    }
    return true;
}

static bool run_layer(Backend *b, int layer, int64_t R, const Segment *seg, int nseg) {
    CpuState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    const LayerWeights *w = &b->model->layer[layer];
    int64_t d = m->hidden, qw = m->heads * m->head_dim, kvw = m->kv_heads * m->head_dim;
    float eps = (float)m->norm_eps;
    s->k.rmsnorm(s->k.ctx, s->h, s->x, w->norm_in, R, d, eps);
    matmul(s->q, s->h, w->wq, R, d, qw);
    if (w->wk) {
        matmul(s->kk, s->h, w->wk, R, d, kvw);
        matmul(s->vv, s->h, w->wv, R, d, kvw);
    }
    if (!run_attention(b, layer, seg, nseg)) return false;
    matmul(s->h, s->att, w->wo, R, qw, d);
    add_into(s->x, s->h, R * d);
    s->k.rmsnorm(s->k.ctx, s->h, s->x, w->norm_post, R, d, eps);
    matmul(s->gate, s->h, w->w_gate, R, d, m->ffn);
    matmul(s->up, s->h, w->w_up, R, d, m->ffn);
    s->k.silu_mul(s->k.ctx, s->gate, s->up, R * m->ffn);
    matmul(s->h, s->gate, w->w_down, R, m->ffn, d);
    add_into(s->x, s->h, R * d);
    return true;
}

/* Runs rows [0, R) (tokens[r]) through the model; logits of rows [first_logit, R) go to logits. */
static bool forward(Backend *b, const int32_t *tokens, int64_t R, const Segment *seg, int nseg, float *logits,
                    int64_t first_logit) {
    CpuState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    int64_t d = m->hidden;
    for (int64_t r = 0; r < R; r++) memcpy(s->x + r * d, b->model->embed + tokens[r] * d, (size_t)d * sizeof(float));
    for (int i = 0; i < b->layout->nlayers; i++)
        if (!run_layer(b, i, R, seg, nseg)) return false;
    if (logits) {
        int64_t n = R - first_logit;
        s->k.rmsnorm(s->k.ctx, s->h, s->x + first_logit * d, b->model->norm_final, n, d, (float)m->norm_eps);
        matmul(logits, s->h, b->model->lm_head, n, d, m->vocab);
    }
    return true;
}

static bool check_tokens(Backend *b, const int32_t *tokens, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= b->layout->model.vocab) {
            snprintf(b->err, sizeof b->err, "token %d is outside the vocabulary [0, %lld)", tokens[i],
                     (long long)b->layout->model.vocab);
            return false;
        }
    }
    return true;
}

int backend_check_config(const Model *m, const BackendConfig *cfg, char *err, size_t errlen) {
    const ModelHeader *h = &m->layout->model;
    if (cfg->nseq < 1 || cfg->nseq > 1 << 20)
        return backend_open_error(err, errlen, 1, "%d sequences: out of range", cfg->nseq);
    if (cfg->context < 1 || cfg->context > h->context)
        return backend_open_error(err, errlen, 1, "%lld tokens per sequence do not fit the model's context (%lld)",
                                  (long long)cfg->context, (long long)h->context);
    return 0;
}

bool backend_check_prefill(Backend *b, int seq, const int32_t *tokens, int64_t n, int64_t chunk) {
    if (seq < 0 || seq >= b->cfg.nseq || n < 1 || n > chunk) {
        snprintf(b->err, sizeof b->err, "prefill of %lld tokens for sequence %d: out of range (chunk %lld)",
                 (long long)n, seq, (long long)chunk);
        return false;
    }
    if (b->seq_len[seq] + n > b->cfg.context) {
        snprintf(b->err, sizeof b->err, "sequence %d would pass the context of %lld tokens", seq,
                 (long long)b->cfg.context);
        return false;
    }
    return check_tokens(b, tokens, n);
}

bool backend_check_decode(Backend *b, const int32_t *tokens) {
    for (int q = 0; q < b->cfg.nseq; q++) {
        if (b->seq_len[q] + 1 > b->cfg.context) {
            snprintf(b->err, sizeof b->err, "sequence %d would pass the context of %lld tokens", q,
                     (long long)b->cfg.context);
            return false;
        }
    }
    return check_tokens(b, tokens, b->cfg.nseq);
}

static bool cpu_prefill(Backend *b, int seq, const int32_t *tokens, int64_t n, float *logits, bool all_logits) {
    if (!backend_check_prefill(b, seq, tokens, n, b->layout->model.chunk)) return false;
    Segment sg = {seq, b->seq_len[seq], n, 0};
    if (!forward(b, tokens, n, &sg, 1, logits, all_logits ? 0 : n - 1)) return false;
    b->seq_len[seq] += n;
    return true;
}

static bool cpu_decode(Backend *b, const int32_t *tokens, float *logits) {
    int nseq = b->cfg.nseq;
    if (!backend_check_decode(b, tokens)) return false;
    Segment *seg = xcalloc((size_t)nseq, sizeof *seg);
    for (int q = 0; q < nseq; q++) seg[q] = (Segment){q, b->seq_len[q], 1, q};
    bool ok = forward(b, tokens, nseq, seg, nseq, logits, 0);
    free(seg);
    if (ok)
        for (int q = 0; q < nseq; q++) b->seq_len[q]++;
    return ok;
}

static void cpu_close(Backend *b) {
    CpuState *s = b->impl;
    if (s) {
        for (int i = 0; i < b->cfg.nseq * b->layout->ncaches; i++) {
            free(s->cache_k[i]);
            free(s->cache_v[i]);
        }
        free(s->cache_k);
        free(s->cache_v);
        float *bufs[] = {s->x, s->h, s->q, s->kk, s->vv, s->att, s->gate, s->up};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
        if (s->k.release) s->k.release(s->k.ctx);
        free(s);
    }
    backend_release(b);
}

void backend_release(Backend *b) {
    free(b->seq_len);
    free(b->cache_tokens);
    memset(b, 0, sizeof *b);
}

static const BackendOps cpu_ops = {"cpu", cpu_prefill, cpu_decode, cpu_close};

/* ------------------------------------------------------------------ opening */

int backend_open_error(char *err, size_t errlen, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

/* Allocates rows x width floats, counted into *bytes. */
static float *alloc_rows(int64_t rows, int64_t width, int64_t *bytes) {
    *bytes += rows * width * (int64_t)sizeof(float);
    return xcalloc((size_t)(rows * width), sizeof(float));
}

static void alloc_state(Backend *b, CpuState *s) {
    const Layout *l = b->layout;
    const ModelHeader *m = &l->model;
    int64_t kvw = m->kv_heads * m->head_dim, qw = m->heads * m->head_dim;
    int n = b->cfg.nseq * l->ncaches;
    s->cache_k = xcalloc((size_t)n + 1, sizeof(float *));
    s->cache_v = xcalloc((size_t)n + 1, sizeof(float *));
    for (int i = 0; i < n; i++) {
        int64_t cap = b->cache_tokens[i % l->ncaches];
        s->cache_k[i] = alloc_rows(cap, kvw, &b->mem.kv_bytes);
        s->cache_v[i] = alloc_rows(cap, kvw, &b->mem.kv_bytes);
    }
    s->rows = m->chunk > b->cfg.nseq ? m->chunk : b->cfg.nseq;
    int64_t *ab = &b->mem.arena_bytes;
    s->x = alloc_rows(s->rows, m->hidden, ab);
    s->h = alloc_rows(s->rows, m->hidden, ab);
    s->q = alloc_rows(s->rows, qw, ab);
    s->att = alloc_rows(s->rows, qw, ab);
    s->kk = alloc_rows(s->rows, kvw, ab);
    s->vv = alloc_rows(s->rows, kvw, ab);
    s->gate = alloc_rows(s->rows, m->ffn, ab);
    s->up = alloc_rows(s->rows, m->ffn, ab);
}

/* Everything the cpu backend needs of a layout and configuration; the exit status on failure. */
static int validate(const Model *m, const BackendConfig *cfg, char *err, size_t errlen) {
    const Layout *l = m->layout;
    const ModelHeader *h = &l->model;
    int rc = backend_check_config(m, cfg, err, errlen);
    if (rc) return rc;
    if (h->head_dim % 2)
        return backend_open_error(err, errlen, 1, "head_dim %lld is odd; RoPE needs an even head_dim",
                                  (long long)h->head_dim);
    if (!model_check_size(l, err, errlen)) return 1;
    int64_t total = 0, per, kvw = h->kv_heads * h->head_dim;
    for (int k = 0; k < l->ncaches; k++) total += plan_cache_tokens(l, k, cfg->context, h->chunk);
    if (!mul_ok(total, kvw * 8, &per) || !mul_ok(per, cfg->nseq, &per) || per > (INT64_C(1) << 38))
        return backend_open_error(err, errlen, 1, "the KV caches would take more than 256 GiB");
    return 0;
}

int cpu_backend_open_with(const CpuKernels *k, const Model *m, const BackendConfig *cfg, Backend *b, char *err,
                          size_t errlen) {
    memset(b, 0, sizeof *b);
    int rc = validate(m, cfg, err, errlen);
    if (rc) return rc;
    b->ops = &cpu_ops;
    b->name = "cpu";
    b->model = m;
    b->layout = m->layout;
    b->cfg = *cfg;
    b->seq_len = xcalloc((size_t)cfg->nseq, sizeof(int64_t));
    b->cache_tokens = xcalloc((size_t)b->layout->ncaches + 1, sizeof(int64_t));
    for (int c = 0; c < b->layout->ncaches; c++)
        b->cache_tokens[c] = cfg->full_caches ? cfg->context
                                              : plan_cache_tokens(b->layout, c, cfg->context, b->layout->model.chunk);
    CpuState *s = xcalloc(1, sizeof *s);
    s->k = cpu_reference_kernels;
    if (k) {
        s->k.ctx = k->ctx;
        s->k.release = k->release;
        if (k->rmsnorm) s->k.rmsnorm = k->rmsnorm;
        if (k->rope_append) s->k.rope_append = k->rope_append;
        if (k->attention) s->k.attention = k->attention;
        if (k->silu_mul) s->k.silu_mul = k->silu_mul;
    }
    b->impl = s;
    alloc_state(b, s);
    b->mem.weights_bytes = model_param_count((Model *)m) * (int64_t)sizeof(float);
    return 0;
}

int cpu_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    return cpu_backend_open_with(NULL, m, cfg, b, err, errlen);
}
