/* cpu_backend.c — the reference backend: the model of docs/model.md in plain C, fp32.
 *
 * Weights are fp32 already rounded to the model dtype (model.c); activations and KV caches are fp32
 * (so this backend is the numerical reference the GPU kernels are compared with, not a copy of
 * their bf16 rounding). Memory and program are the run plan's (compiler/plan/run_plan.h, target cpu):
 * one KV block (a cache per owning layer and sequence, a ring of retention + chunk - 1 tokens when
 * the retention is bounded, slot = position % capacity) and one arena, each step its schedule's ops. */
#include "backend.h"
#include "kv_quant.h"
#include "mixc_params.h"   /* mixc_first_key: the masks; mixc_route_token: the experts' route */
#include "run_plan.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ reference kernels */

static void ref_rmsnorm(void *ctx, float *out, const float *x, const float *w, float offset, int64_t n, int64_t width,
                        float eps) {
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * width;
        double ss = 0;
        for (int64_t i = 0; i < width; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)width + eps));
        for (int64_t i = 0; i < width; i++) out[r * width + i] = xr[i] * inv * (offset + w[i]);
    }
}

/* Rotates one head vector in place (rotate_half convention); a NoPE layer (no table) keeps it. */
static void rope_head(float *x, int64_t head_dim, int64_t pos, const float *inv_freq, float scale) {
    int64_t half = head_dim / 2;
    for (int64_t k = 0; inv_freq && k < half; k++) {
        double angle = (double)pos * inv_freq[k];
        float c = (float)cos(angle) * scale, s = (float)sin(angle) * scale;
        float a = x[k], b = x[k + half];
        x[k] = a * c - b * s;
        x[k + half] = b * c + a * s;
    }
}

/* ---- the KV cache rows: fp32, or 8-bit codes and a scale per token per KV head */

/* The row of slot `slot`: itself, or in a paged cache the pool row its block table gives. */
static int64_t kv_row(const KvRows *c, int64_t slot) {
    return c->pages ? MIXC_PAGED_ROW(c->pages, c->page_tokens, slot) : slot;
}

static float kv_scale(const KvRows *c, int64_t slot, int64_t kv_heads, int64_t h) {
    float s;
    memcpy(&s, c->scales + (size_t)(slot * kv_heads + h) * sizeof(float), sizeof s);
    return s;
}

/* Writes one token's row (kv_heads x head_dim values) at slot, quantized when the cache is 8-bit. */
static void kv_store(const KvRows *c, int64_t slot, const float *row, int64_t kv_heads, int64_t head_dim) {
    int64_t kvw = kv_heads * head_dim;
    if (c->dtype == DT_FP32) {
        memcpy((float *)c->data + slot * kvw, row, (size_t)kvw * sizeof(float));
        return;
    }
    for (int64_t h = 0; h < kv_heads; h++) {
        float s = kv_quantize_head(c->dtype, row + h * head_dim, head_dim, (uint8_t *)c->data + slot * kvw + h * head_dim);
        memcpy(c->scales + (size_t)(slot * kv_heads + h) * sizeof(float), &s, sizeof s);
    }
}

static void ref_rope_append(void *ctx, const RopeAppendArgs *a) {
    int64_t qw = a->heads * a->head_dim, kvw = a->kv_heads * a->head_dim;
    for (int64_t i = 0; i < a->n; i++) {
        int64_t pos = a->p0 + i;
        for (int64_t h = 0; h < a->heads; h++) rope_head(a->q + i * qw + h * a->head_dim, a->head_dim, pos, a->inv_freq, a->scale);
        if (!a->k) continue;
        for (int64_t h = 0; h < a->kv_heads; h++) rope_head(a->k + i * kvw + h * a->head_dim, a->head_dim, pos, a->inv_freq, a->scale);
        int64_t slot = kv_row(&a->cache_k, pos % a->cap);
        kv_store(&a->cache_k, slot, a->k + i * kvw, a->kv_heads, a->head_dim);
        kv_store(&a->cache_v, slot, a->v + i * kvw, a->kv_heads, a->head_dim);
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

/* q . K[slot] of one KV head; an 8-bit key's scale multiplies the score, not each element. */
static float key_score(const AttentionArgs *a, const float *values, const float *q, int64_t slot, int64_t kv_head) {
    int64_t at = slot * a->kv_heads * a->head_dim + kv_head * a->head_dim;
    if (a->cache_k.dtype == DT_FP32) return dot(q, (const float *)a->cache_k.data + at, a->head_dim);
    const uint8_t *k = (const uint8_t *)a->cache_k.data + at;
    float s = 0;
    for (int64_t d = 0; d < a->head_dim; d++) s += q[d] * values[k[d]];
    return s * kv_scale(&a->cache_k, slot, a->kv_heads, kv_head);
}

/* out += p . V[slot] of one KV head; an 8-bit value's scale multiplies the probability. */
static void add_value(const AttentionArgs *a, const float *values, float *out, float p, int64_t slot, int64_t kv_head) {
    int64_t at = slot * a->kv_heads * a->head_dim + kv_head * a->head_dim;
    if (a->cache_v.dtype == DT_FP32) {
        const float *v = (const float *)a->cache_v.data + at;
        for (int64_t d = 0; d < a->head_dim; d++) out[d] += p * v[d];
        return;
    }
    const uint8_t *v = (const uint8_t *)a->cache_v.data + at;
    p *= kv_scale(&a->cache_v, slot, a->kv_heads, kv_head);
    for (int64_t d = 0; d < a->head_dim; d++) out[d] += p * values[v[d]];
}

/* One query head against keys [lo, hi] of a cache (values: the 8-bit codes' values); `sink` is its
 * sink logit (-INFINITY: none), in the denominator only. */
static void attend_one(const AttentionArgs *a, const float *values, const float *q, float *out, int64_t kv_head,
                       int64_t lo, int64_t hi, float sink) {
    float *scores = a->scores, max = sink;
    for (int64_t j = lo; j <= hi; j++) {
        scores[j - lo] = key_score(a, values, q, kv_row(&a->cache_k, j % a->cap), kv_head) * a->scale;
        if (a->softcap) scores[j - lo] = tanhf(scores[j - lo] / a->softcap) * a->softcap;
        if (scores[j - lo] > max) max = scores[j - lo];
    }
    double sum = sink == -INFINITY ? 0 : exp((double)sink - max);
    for (int64_t j = lo; j <= hi; j++) sum += scores[j - lo] = expf(scores[j - lo] - max);
    float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)a->head_dim * sizeof(float));
    for (int64_t j = lo; j <= hi; j++) add_value(a, values, out, scores[j - lo] * inv, kv_row(&a->cache_v, j % a->cap), kv_head);
}

static bool ref_attention(void *ctx, const AttentionArgs *a) {
    int64_t qw = a->heads * a->head_dim, group = a->heads / a->kv_heads;
    int64_t oldest = a->written > a->cap ? a->written - a->cap : 0;   /* the ring still holds [oldest, written) */
    float values[256];
    if (a->cache_k.dtype != DT_FP32) kv_code_values(a->cache_k.dtype, values);
    for (int64_t i = 0; i < a->n; i++) {
        int64_t pos = a->p0 + i;
        int64_t lo = mixc_first_key(pos, a->window, a->chunked);
        if (lo < oldest || pos >= a->written || pos - lo + 1 > a->scores_len) return false;
        for (int64_t h = 0; h < a->heads; h++)
            attend_one(a, values, a->q + i * qw + h * a->head_dim, a->out + i * qw + h * a->head_dim, h / group, lo,
                       pos, a->sinks ? a->sinks[h] : -INFINITY);
    }
    return true;
}

static void ref_silu_mul(void *ctx, float *gate, const float *up, int64_t count) {
    for (int64_t i = 0; i < count; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* GELU, tanh approximation (PyTorch's approximate="tanh"), in fp32. */
static void ref_gelu_tanh_mul(void *ctx, float *gate, const float *up, int64_t count) {
    const float k = 0.7978845608028654f;   /* sqrt(2 / pi) */
    for (int64_t i = 0; i < count; i++) {
        float x = gate[i];
        gate[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * up[i];
    }
}

const CpuKernels cpu_reference_kernels = {NULL,         ref_rmsnorm, ref_rope_append, ref_attention,
                                          ref_silu_mul, ref_gelu_tanh_mul, NULL};

/* ------------------------------------------------------------------ the forward pass */

/* The run plan (compiler/plan/run_plan.c, fp32 throughout) is the memory and the program: one KV
 * block and one arena of its sizes, every tensor at its offset, and a step is its schedule's ops in
 * order. */
typedef struct {
    CpuKernels k;
    RunPlan plan;
    RopeTables rope;
    unsigned char *kv, *arena;
    float *ones;            /* qk_l2_norm: [head_dim] of 1, the weight of its unweighted head norms */
    /* MIXC_ROUTE_REPLAY (replay_route): the file, a step's routes, and what the replay found */
    FILE *route_replay;
    float *replayed;
    long long replay_choices, replay_differ;
    float replay_gap;
} CpuState;

/* Rows of one sequence at consecutive positions. */
typedef struct {
    int seq;
    int64_t p0, n, row0;
} Segment;

/* One step being run: its plan, rows, sequences, and which logits the caller wants. */
typedef struct {
    const ActPlan *a;
    int64_t rows;
    const Segment *seg;
    int nseg;
    float *logits;
    const LogitRows *lr;    /* the rows whose logits go to `logits` (backend_logit_rows) */
    int nlr;
    int64_t first_logit;    /* the first of them: the final norm starts there */
} StepRun;

/* y[r][o] = x[r] . W[o] : W is [out][in], as checkpoints store projections. */
static void matmul(float *y, const float *x, const float *w, int64_t rows, int64_t in, int64_t out) {
    for (int64_t o = 0; o < out; o++)
        for (int64_t r = 0; r < rows; r++) y[r * out + o] = dot(x + r * in, w + o * in, in);
}

static void add_into(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

static void *tensor(const Backend *b, const StepRun *st, int t) {
    const CpuState *s = b->impl;
    return s->arena + st->a->item[t].offset;
}
static float *in_f(const Backend *b, const StepRun *st, const PlanOp *op, int k) { return tensor(b, st, op->in[k]); }
static float *out_f(const Backend *b, const StepRun *st, const PlanOp *op, int k) { return tensor(b, st, op->out[k]); }

/* Sequence seq's K (or V) rows of cache c: the plan's seq_bytes hold capacity rows of codes (or
 * fp32 values), then, for an 8-bit cache, capacity rows of scales (CacheMap.scale_row_bytes); a
 * paged cache's pool holds pool_pages x page_tokens rows likewise, seq's through its block table. */
static KvRows cache_rows(const Backend *b, int c, int seq, bool v) {
    const CpuState *s = b->impl;
    const CacheMap *cm = &s->plan.cache[c];
    DType dt = s->plan.opt.kv_dtype;
    int64_t rows = cm->paged ? s->plan.pool_pages * s->plan.page_tokens : cm->capacity;
    unsigned char *base = s->kv + (v ? cm->v_offset : cm->k_offset) + (cm->paged ? 0 : seq * cm->seq_bytes);
    unsigned char *scales = base + rows * (cm->row_bytes - cm->scale_row_bytes);   /* the plan's layout */
    return (KvRows){base, dt == DT_FP32 ? NULL : scales, dt, cm->paged ? backend_page_table(b, seq) : NULL,
                    s->plan.page_tokens};
}

/* The weight an op names, and its shape (plan_weight_shape). */
static const float *weight(const Backend *b, const PlanOp *op, int64_t *in, int64_t *out) {
    const Model *md = b->model;
    const ModelHeader lm = layer_model(b->layout, op->layer);   /* the layer's own shape (the header's for -1) */
    plan_weight_shape(&lm, op->weight, in, out);
    switch (op->weight) {
    case WT_EMBED: return md->embed;
    case WT_NORM_FINAL: return md->norm_final;
    case WT_LM_HEAD: return md->lm_head;
    case WT_NONE: return NULL;
    default: return *model_layer_slot(&md->layer[op->layer], op->weight);
    }
}

static bool run_rope(Backend *b, const StepRun *st, const PlanOp *op) {
    CpuState *s = b->impl;
    const ModelHeader lm = layer_model(b->layout, op->layer), *m = &lm;   /* its kv_heads and head_dim */
    const LayerInfo *li = &b->layout->layer[op->layer];
    bool owner = op->kind == OP_ROPE_APPEND;
    int64_t qw = m->heads * m->head_dim, kvw = m->kv_heads * m->head_dim, cap = s->plan.cache[li->cache].capacity;
    for (int g = 0; g < st->nseg; g++) {
        const Segment *sg = &st->seg[g];
        RopeAppendArgs ra = {in_f(b, st, op, 0) + sg->row0 * qw, owner ? in_f(b, st, op, 1) + sg->row0 * kvw : NULL,
                             owner ? in_f(b, st, op, 2) + sg->row0 * kvw : NULL, sg->n, sg->p0, m->heads,
                             m->kv_heads, m->head_dim, rope_layer_table(&s->rope, op->layer), s->rope.scale[op->layer],
                             cache_rows(b, li->cache, sg->seq, false),
                             cache_rows(b, li->cache, sg->seq, true), cap};
        s->k.rope_append(s->k.ctx, &ra);
        for (int64_t i = 0; li->rope.nope && m->nope_temperature_floor && i < sg->n; i++) {   /* Llama 4's */
            float t = model_nope_temperature(m, sg->p0 + i), *q = ra.q + i * qw;
            for (int64_t j = 0; j < qw; j++) q[j] *= t;
        }
    }
    return true;
}

static bool run_attention(Backend *b, const StepRun *st, const PlanOp *op) {
    CpuState *s = b->impl;
    const ModelHeader lm = layer_model(b->layout, op->layer), *m = &lm;   /* its kv_heads and head_dim */
    const LayerInfo *li = &b->layout->layer[op->layer];
    int64_t qw = m->heads * m->head_dim, cap = s->plan.cache[li->cache].capacity;
    for (int g = 0; g < st->nseg; g++) {
        const Segment *sg = &st->seg[g];
        AttentionArgs aa = {in_f(b, st, op, 0) + sg->row0 * qw, out_f(b, st, op, 0) + sg->row0 * qw, sg->n, sg->p0,
                            m->heads, m->kv_heads, m->head_dim, li->window, (float)model_attention_scale(m),
                            cache_rows(b, li->cache, sg->seq, false), cache_rows(b, li->cache, sg->seq, true), cap,
                            sg->p0 + sg->n, out_f(b, st, op, 1), st->a->item[op->out[1]].size / (int64_t)sizeof(float),
                            (float)m->attn_softcap, li->chunked, b->model->layer[op->layer].sinks};
        if (!s->k.attention(s->k.ctx, &aa)) {
            snprintf(b->err, sizeof b->err,
                     "internal error: layer %d (sequence %d, positions %lld..%lld) needs keys that cache %d "
                     "(%lld tokens) no longer holds, or more than its scores row holds (%lld)",
                     op->layer, sg->seq, (long long)sg->p0, (long long)(sg->p0 + sg->n - 1), li->cache,
                     (long long)cap, (long long)aa.scores_len);
            return false;
        }
    }
    return true;
}

/* The logits the caller asked for: each range of rows of xf, as many rows at a time as the plan's
 * logits tensor holds (one per sequence). */
static void run_logits(Backend *b, const StepRun *st, const PlanOp *op) {
    int64_t in, out;
    const float *w = weight(b, op, &in, &out);
    float *lt = out_f(b, st, op, 0), *xf = in_f(b, st, op, 0);
    int64_t per = st->a->rows;
    for (int g = 0; g < st->nlr; g++)
        for (int64_t done = 0, n = st->lr[g].n; done < n; done += per) {
            int64_t k = n - done < per ? n - done : per;
            matmul(lt, xf + (st->lr[g].from + done) * in, w, k, in, out);
            model_softcap_logits(&b->layout->model, lt, k * out);
            memcpy(st->logits + (st->lr[g].to + done) * out, lt, (size_t)(k * out) * sizeof(float));
        }
}

/* NaN or Inf in the residual stream would only surface as NaN logits (and tokens 0, 0, 0): the
 * step fails at the layer that produced it, naming the sequence and position. */
static bool residual_finite(Backend *b, const StepRun *st, const PlanOp *op) {
    const float *x = in_f(b, st, op, 0);
    int64_t d = b->layout->model.hidden, n = st->rows * d;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(x[i])) continue;
        int64_t row = i / d;
        const Segment *sg = st->seg;
        for (int g = 0; g < st->nseg; g++)
            if (row >= st->seg[g].row0 && row < st->seg[g].row0 + st->seg[g].n) sg = &st->seg[g];
        snprintf(b->err, sizeof b->err, "layer %d produced %s in the residual stream (sequence %d, position %lld)",
                 op->layer, isnan(x[i]) ? "NaN" : "Inf", sg->seq, (long long)(sg->p0 + row - sg->row0));
        return false;
    }
    return true;
}

/* ---- a mixture of experts (docs/model.md): route holds (expert, weight) pairs as fp32, row t * k + j
 * for token t's j-th choice */

/* MIXC_ROUTE_REPLAY=FILE, a test aid (docs/model.md): every token runs the experts another backend chose
 * (its MIXC_ROUTE_LOG: each route op's (expert, weight) rows, in order), weighed by this backend's own
 * router logits; cpu_close says how many choices differ from this backend's own and how far the
 * farthest lies below its own k-th logit. */
static bool replay_route(Backend *b, const StepRun *st, const PlanOp *op) {
    CpuState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    int64_t E = m->experts, K = m->experts_per_token;
    size_t n = (size_t)(st->rows * K * 2);
    s->replayed = xrealloc(s->replayed, n * sizeof(float));
    if (fread(s->replayed, sizeof(float), n, s->route_replay) != n) {
        snprintf(b->err, sizeof b->err, "MIXC_ROUTE_REPLAY: the routes end before layer %d's", op->layer);
        return false;
    }
    for (int64_t t = 0; t < st->rows; t++) {
        const float *l = in_f(b, st, op, 0) + t * E, *given = s->replayed + t * 2 * K;
        float *r = out_f(b, st, op, 0) + t * 2 * K;
        mixc_route_choose(l, r, E, K);
        for (int64_t j = 0; j < K; j++) {
            int64_t e = (int64_t)given[2 * j];
            bool own = false;
            for (int64_t i = 0; i < K; i++) own = own || (int64_t)r[2 * i] == e;
            if (e < 0 || e >= E) {
                snprintf(b->err, sizeof b->err, "MIXC_ROUTE_REPLAY: layer %d: expert %lld of %lld", op->layer,
                         (long long)e, (long long)E);
                return false;
            }
            s->replay_choices++;
            if (!own) s->replay_differ++, s->replay_gap = fmaxf(s->replay_gap, r[2 * K - 1] - l[e]);
        }
        for (int64_t j = 0; j < K; j++) r[2 * j] = given[2 * j], r[2 * j + 1] = l[(int64_t)given[2 * j]];
        mixc_route_weigh(l, r, E, K, (int)m->router);
    }
    return true;
}

/* The bias of a stacked expert weight (moe_bias), or NULL. */
static const float *expert_bias(const Backend *b, const PlanOp *op) {
    return b->layout->model.moe_bias ? *model_layer_slot(&b->model->layer[op->layer], plan_expert_bias(op->weight)) : NULL;
}

/* Row (t, j) = the input row (h2's t, or the expert rows' (t, j)) x the chosen expert's weight. */
static void run_moe_gemm(Backend *b, const StepRun *st, const PlanOp *op) {
    const ModelHeader *m = &b->layout->model;
    int64_t in, out, k = m->experts_per_token;
    const float *w = weight(b, op, &in, &out), *x = in_f(b, st, op, 0), *route = in_f(b, st, op, 1);
    const float *bias = expert_bias(b, op);
    float *y = out_f(b, st, op, 0);
    bool down = op->weight == WT_EXPERT_DOWN, scale_input = !down && m->router == ROUTER_SIGMOID_INPUT;
    out /= m->experts;  /* one expert's rows */
    for (int64_t r = 0; r < st->rows * k; r++) {
        int64_t e = (int64_t)route[2 * r];
        matmul(y + r * out, x + (down ? r : r / k) * in, w + e * out * in, 1, in, out);
        for (int64_t o = 0; bias && o < out; o++) y[r * out + o] += bias[e * out + o];
        for (int64_t o = 0; scale_input && o < out; o++) y[r * out + o] *= route[2 * r + 1];
    }
}

/* Row t = the sum of its k expert rows, each times its weight (sigmoid_input: weighted already). */
static void run_moe_combine(Backend *b, const StepRun *st, const PlanOp *op) {
    const ModelHeader *m = &b->layout->model;
    int64_t d = m->hidden, k = m->experts_per_token;
    const float *x = in_f(b, st, op, 0), *route = in_f(b, st, op, 1);
    float *y = out_f(b, st, op, 0);
    for (int64_t t = 0; t < st->rows; t++)
        for (int64_t o = 0; o < d; o++) {
            float sum = 0;
            for (int64_t j = 0; j < k; j++)
                sum += (m->router == ROUTER_SIGMOID_INPUT ? 1.0f : route[2 * (t * k + j) + 1]) * x[(t * k + j) * d + o];
            y[t * d + o] = sum;
        }
}

/* What every RMSNorm adds to its weight: 1 for Gemma's (1 + w), else 0. */
static float norm_offset(const ModelHeader *m) { return m->norm == NORM_RMS_PLUS_ONE ? 1.0f : 0.0f; }

static bool run_op(Backend *b, const StepRun *st, const PlanOp *op) {
    CpuState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    int64_t R = st->rows, in, out;
    const float *w = weight(b, op, &in, &out);
    switch (op->kind) {
    case OP_EMBED: {
        const int32_t *ids = tensor(b, st, op->in[0]);
        float *x = out_f(b, st, op, 0), scale = model_embed_scale(m);
        for (int64_t r = 0; r < R; r++) memcpy(x + r * in, w + ids[r] * in, (size_t)in * sizeof(float));
        for (int64_t i = 0; scale != 1.0f && i < R * in; i++) x[i] *= scale;
        return true;
    }
    case OP_RMSNORM: {
        int64_t r0 = op->weight == WT_NORM_FINAL ? st->first_logit : 0;
        s->k.rmsnorm(s->k.ctx, out_f(b, st, op, 0) + r0 * in, in_f(b, st, op, 0) + r0 * in, w, norm_offset(m), R - r0,
                     in, (float)m->norm_eps);
        return true;
    }
    case OP_HEAD_NORM: {   /* qk_norm: every head_dim slice of q (or k) in place; qk_l2_norm: no weight */
        float *x = in_f(b, st, op, 0);
        int64_t heads = op->weight == WT_Q_NORM ? m->heads : layer_model(b->layout, op->layer).kv_heads;
        s->k.rmsnorm(s->k.ctx, x, x, w ? w : s->ones, w ? norm_offset(m) : 0.0f, R * heads, in, (float)m->norm_eps);
        return true;
    }
    case OP_GEMM: matmul(out_f(b, st, op, 0), in_f(b, st, op, 0), w, R, in, out); return true;
    case OP_ROPE_APPEND:
    case OP_ROPE_Q: return run_rope(b, st, op);
    case OP_ATTENTION: return run_attention(b, st, op);
    case OP_RESIDUAL_ADD:
        add_into(in_f(b, st, op, 0), in_f(b, st, op, 1), R * m->hidden);
        return residual_finite(b, st, op);
    case OP_SILU_MUL:   /* the kernel works in place: act = gate, then act = silu(act) * up */
    case OP_GELU_TANH_MUL: {
        int64_t n = R * plan_gated_width(b->layout, op->layer, st->a->tensor[op->out[0]].name);
        memcpy(out_f(b, st, op, 0), in_f(b, st, op, 0), (size_t)n * sizeof(float));
        (op->kind == OP_SILU_MUL ? s->k.silu_mul : s->k.gelu_tanh_mul)(s->k.ctx, out_f(b, st, op, 0), in_f(b, st, op, 1), n);
        return true;
    }
    case OP_CLAMPED_SWIGLU_MUL: {
        int64_t n = R * plan_gated_width(b->layout, op->layer, st->a->tensor[op->out[0]].name);
        const float *gate = in_f(b, st, op, 0), *up = in_f(b, st, op, 1);
        float *act = out_f(b, st, op, 0);   /* may alias gate or up: each element read before written */
        for (int64_t i = 0; i < n; i++) act[i] = model_gated_activation(m, gate[i], up[i]);
        return true;
    }
    case OP_MOE_ROUTE:
        if (s->route_replay) return replay_route(b, st, op);
        for (int64_t t = 0; t < R; t++)
            mixc_route_token(in_f(b, st, op, 0) + t * m->experts, out_f(b, st, op, 0) + 2 * t * m->experts_per_token,
                             m->experts, m->experts_per_token, (int)m->router);
        return true;
    case OP_MOE_GEMM: run_moe_gemm(b, st, op); return true;
    case OP_MOE_COMBINE: run_moe_combine(b, st, op); return true;
    case OP_BIAS_ADD:   /* every row of the projection plus the bias */
        for (int64_t r = 0; r < R; r++) add_into(in_f(b, st, op, 0) + r * in, w, in);
        return true;
    case OP_LOGITS: run_logits(b, st, op); return true;
    default:
        snprintf(b->err, sizeof b->err, "internal error: the cpu backend cannot run a %s op", op_kind_name(op->kind));
        return false;
    }
}

/* Runs rows [0, R) (tokens[r]) through the step's schedule; the logits of the rows in lr go to
 * logits (the final norm and the logits are skipped when logits is NULL). */
static bool forward(Backend *b, bool decode, const int32_t *tokens, int64_t R, const Segment *seg, int nseg,
                    float *logits, const LogitRows *lr, int nlr) {
    CpuState *s = b->impl;
    StepRun st = {run_plan_step(&s->plan, decode), R, seg, nseg, logits, lr, nlr, lr[0].from};
    const PlanOp *first = &st.a->op[0];
    memcpy(tensor(b, &st, first->in[0]), tokens, (size_t)R * sizeof(int32_t));   /* embed's ids */
    for (int i = 0; i < st.a->nops; i++) {
        const PlanOp *op = &st.a->op[i];
        if (!logits && op->layer < 0 && op->kind != OP_EMBED) continue;
        if (!run_op(b, &st, op)) return false;
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
    if (cfg->nseq < 1 || cfg->nseq > MIXC_MAX_BATCH)
        return backend_open_error(err, errlen, 1, "%d sequences: out of range", cfg->nseq);
    if (cfg->context < 1 || cfg->context > h->context)
        return backend_open_error(err, errlen, 1, "%lld tokens per sequence do not fit the model's context (%lld)",
                                  (long long)cfg->context, (long long)h->context);
    return 0;   /* the pages: the plan's bounds (plan_run) */
}

/* Slot q appended `add` tokens by a step of `what` (listed: the slots seen so far in the call): in
 * range, listed once, within the context. */
static bool check_slot(Backend *b, bool *listed, int q, int64_t add, const char *what) {
    if (q < 0 || q >= b->cfg.nseq || listed[q]) {
        snprintf(b->err, sizeof b->err, "%s: slot %d is %s", what, q,
                 q < 0 || q >= b->cfg.nseq ? "out of range" : "listed twice");
        return false;
    }
    if (b->seq_len[q] + add > b->cfg.context) {
        snprintf(b->err, sizeof b->err, "sequence %d would pass the context of %lld tokens", q,
                 (long long)b->cfg.context);
        return false;
    }
    listed[q] = true;
    return true;
}

bool backend_check_prefill(Backend *b, const PrefillPart *parts, int n) {
    int64_t chunk = run_plan_chunk(b->plan), total = 0;
    if (n < 1 || n > b->cfg.nseq) {
        snprintf(b->err, sizeof b->err, "prefill of %d sequences: out of range (%d held)", n, b->cfg.nseq);
        return false;
    }
    bool *listed = xcalloc((size_t)b->cfg.nseq, sizeof *listed);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const PrefillPart *p = &parts[i];
        total += p->n > 0 && p->n <= chunk ? p->n : chunk + 1;
        if (p->n < 1 || total > chunk) {
            snprintf(b->err, sizeof b->err, "prefill of %lld tokens for sequence %d: out of range (%lld tokens of "
                     "the chunk of %lld left)", (long long)p->n, p->slot, (long long)(chunk - (total - p->n)),
                     (long long)chunk);
            ok = false;
        }
        ok = ok && check_slot(b, listed, p->slot, p->n, "prefill") && check_tokens(b, p->tokens, p->n);
    }
    free(listed);
    return ok;
}

bool backend_check_decode(Backend *b, const int *slots, int n, const int32_t *tokens) {
    if (n < 1 || n > b->cfg.nseq) {
        snprintf(b->err, sizeof b->err, "decode of %d sequences: out of range (%d held)", n, b->cfg.nseq);
        return false;
    }
    bool *listed = xcalloc((size_t)b->cfg.nseq, sizeof *listed);
    bool ok = true;
    for (int i = 0; i < n && ok; i++) ok = check_slot(b, listed, slots[i], 1, "decode");
    free(listed);
    return ok && check_tokens(b, tokens, n);
}

bool backend_prefill(Backend *b, int seq, const int32_t *tokens, int64_t n, float *logits, bool all_logits) {
    PrefillPart part = {seq, tokens, n, all_logits};
    return b->ops->prefill_batch(b, &part, 1, logits);
}

int backend_logit_rows(const PrefillPart *parts, int n, LogitRows *out) {
    int k = 0;
    for (int64_t i = 0, row = 0, to = 0; i < n; row += parts[i].n, i++) {
        int64_t first = parts[i].all_logits ? row : row + parts[i].n - 1, count = row + parts[i].n - first;
        if (k > 0 && out[k - 1].from + out[k - 1].n == first) out[k - 1].n += count;
        else out[k++] = (LogitRows){first, count, to};
        to += count;
    }
    return k;
}

bool backend_decode_all(Backend *b, const int32_t *tokens, float *logits) {
    int *slots = xcalloc((size_t)b->cfg.nseq, sizeof *slots);
    for (int q = 0; q < b->cfg.nseq; q++) slots[q] = q;
    bool ok = b->ops->decode_slots(b, slots, b->cfg.nseq, tokens, logits);
    free(slots);
    return ok;
}

static bool cpu_copy_kv(Backend *b, int64_t to, int64_t from, int64_t n) {
    CpuState *s = b->impl;
    memcpy(s->kv + to, s->kv + from, (size_t)n);
    return true;
}

static bool cpu_upload_kv(Backend *b, int64_t to, const void *host, int64_t n) {
    CpuState *s = b->impl;
    memcpy(s->kv + to, host, (size_t)n);
    return true;
}

/* The parts' chunks as segments of one step: rows packed in order, at each slot's length. */
static bool cpu_prefill_batch(Backend *b, const PrefillPart *parts, int n, float *logits) {
    if (!backend_check_prefill(b, parts, n)) return false;
    Segment *seg = xcalloc((size_t)n, sizeof *seg);
    int32_t *tokens = xcalloc((size_t)run_plan_chunk(b->plan), sizeof *tokens);
    LogitRows *lr = xcalloc((size_t)n, sizeof *lr);
    int64_t rows = 0;
    bool ok = true;
    for (int i = 0; i < n; rows += parts[i].n, i++) {
        ok = ok && backend_pages_grow(b, parts[i].slot, b->seq_len[parts[i].slot] + parts[i].n);
        seg[i] = (Segment){parts[i].slot, b->seq_len[parts[i].slot], parts[i].n, rows};
        memcpy(tokens + rows, parts[i].tokens, (size_t)parts[i].n * sizeof *tokens);
    }
    int nlr = backend_logit_rows(parts, n, lr);
    ok = ok && forward(b, false, tokens, rows, seg, n, logits, lr, nlr);
    for (int i = 0; i < n && ok; i++) b->seq_len[parts[i].slot] += parts[i].n;
    free(seg);
    free(tokens);
    free(lr);
    return ok;
}

static bool cpu_decode_slots(Backend *b, const int *slots, int n, const int32_t *tokens, float *logits) {
    if (!backend_check_decode(b, slots, n, tokens)) return false;
    Segment *seg = xcalloc((size_t)n, sizeof *seg);
    bool ok = true;
    for (int i = 0; i < n; i++) {
        seg[i] = (Segment){slots[i], b->seq_len[slots[i]], 1, i};
        ok = ok && backend_pages_grow(b, slots[i], b->seq_len[slots[i]] + 1);
    }
    LogitRows all = {0, n, 0};
    ok = ok && forward(b, true, tokens, n, seg, n, logits, &all, 1);
    free(seg);
    for (int i = 0; i < n && ok; i++) b->seq_len[slots[i]]++;
    return ok;
}

static void cpu_close(Backend *b) {
    CpuState *s = b->impl;
    if (s) {
        free(s->kv);
        free(s->arena);
        run_plan_free(&s->plan);
        rope_tables_free(&s->rope);
        free(s->ones);
        if (s->k.release) s->k.release(s->k.ctx);
        if (s->route_replay) {
            fprintf(stderr, "%s: route replay: %lld of %lld choices differ from the cpu backend's own, the "
                    "farthest %.6g below its k-th logit%s\n", prog_name(), s->replay_differ, s->replay_choices, s->replay_gap,
                    fgetc(s->route_replay) == EOF ? "" : " (routes left unread)");
            fclose(s->route_replay);
        }
        free(s->replayed);
        free(s);
    }
    backend_release(b);
}

static const BackendOps cpu_ops = {"cpu", cpu_prefill_batch, backend_decode_all, cpu_decode_slots, cpu_close,
                                   backend_decode_argmax_host, backend_prefill_argmax_host, cpu_copy_kv, cpu_upload_kv};

/* ------------------------------------------------------------------ opening */

int backend_open_error(char *err, size_t errlen, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

/* Everything the cpu backend needs of a layout and configuration, and its plan; the exit status
 * on failure. */
static int validate(const Model *m, const BackendConfig *cfg, RunPlan *plan, char *err, size_t errlen) {
    const Layout *l = m->layout;
    const ModelHeader *h = &l->model;
    int rc = backend_check_config(m, cfg, err, errlen);
    if (rc) return rc;
    if (h->head_dim % 2)
        return backend_open_error(err, errlen, 1, "head_dim %lld is odd; RoPE needs an even head_dim",
                                  (long long)h->head_dim);
    if (!model_check_size(l, false, err, errlen)) return 1;
    RunOptions o;
    run_options_init(l, RUN_TARGET_CPU, &o);
    o.context = cfg->context;
    o.batch = cfg->nseq;
    o.full_caches = cfg->full_caches;
    o.page_tokens = cfg->page_tokens;
    o.pool_pages = cfg->pool_pages;
    char why[256];
    if (!plan_run(l, &o, plan, why, sizeof why)) return backend_open_error(err, errlen, 1, "%s", why);
    if (plan->kv_bytes > (INT64_C(1) << 38) || plan->arena_bytes > (INT64_C(1) << 38)) {
        run_plan_free(plan);
        return backend_open_error(err, errlen, 1, "the KV caches or the activations would take more than 256 GiB");
    }
    return 0;
}

int cpu_backend_open_with(const CpuKernels *k, const Model *m, const BackendConfig *cfg, Backend *b, char *err,
                          size_t errlen) {
    memset(b, 0, sizeof *b);
    RunPlan plan;
    int rc = validate(m, cfg, &plan, err, errlen);
    if (rc) return rc;
    backend_init(b, &cpu_ops, "cpu", m, cfg);
    CpuState *s = xcalloc(1, sizeof *s);
    s->plan = plan;
    rope_tables(b->layout, &s->rope);
    if (b->layout->model.qk_l2_norm) {
        int64_t kv_row, q_row, dim;   /* the widest layer's head_dim */
        layout_widest_rows(b->layout, &kv_row, &q_row);
        dim = q_row / b->layout->model.heads;
        s->ones = xmalloc((size_t)dim * sizeof(float));
        for (int64_t i = 0; i < dim; i++) s->ones[i] = 1.0f;
    }
    s->k = cpu_reference_kernels;
    if (k) {
        s->k.ctx = k->ctx;
        s->k.release = k->release;
        if (k->rmsnorm) s->k.rmsnorm = k->rmsnorm;
        if (k->rope_append) s->k.rope_append = k->rope_append;
        if (k->attention) s->k.attention = k->attention;
        if (k->silu_mul) s->k.silu_mul = k->silu_mul;
        if (k->gelu_tanh_mul) s->k.gelu_tanh_mul = k->gelu_tanh_mul;
    }
    b->impl = s;
    backend_use_plan(b, &s->plan);
    const char *replay = getenv("MIXC_ROUTE_REPLAY");
    if (replay && *replay && !(s->route_replay = fopen(replay, "rb"))) {
        int rc = backend_open_error(err, errlen, 2, "MIXC_ROUTE_REPLAY: cannot read %s", replay);
        cpu_close(b);
        return rc;
    }
    /* Zeroed, as the kernels' caches are: no uninitialised byte is ever read. */
    s->kv = xcalloc((size_t)plan.kv_bytes + 1, 1);
    s->arena = xcalloc((size_t)plan.arena_bytes + 1, 1);
    b->mem = (BackendMemory){.kv_bytes = plan.kv_bytes, .arena_bytes = plan.arena_bytes,
                             .weights_bytes = model_param_count((Model *)m) * (int64_t)sizeof(float),
                             .kv_planned = plan.kv_bytes, .arena_planned = plan.arena_bytes,
                             .weights_planned = plan.weights_bytes, .kv_dtype = dtype_name(plan.opt.kv_dtype)};
    return 0;
}

int cpu_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    return cpu_backend_open_with(NULL, m, cfg, b, err, errlen);
}
