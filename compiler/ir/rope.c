/* rope.c — RoPE's inverse frequencies and cos/sin scale, computed once on the host from the layout
 * and handed to every backend as a table (the cpu backend, the emu and cuda kernels), so that no
 * backend re-derives the formulas.
 *
 * The formulas are transformers' (src/transformers/modeling_rope_utils.py): the default inv_freq,
 * _compute_linear_scaling_rope_parameters, _compute_llama3_parameters and _compute_yarn_parameters
 * (docs/model.md, "RoPE", writes them out). Computed in double, rounded once to fp32. */
#include "mixc.h"
#include "mixc_params.h"   /* mixc_nope_temperature: the kernels' formula */

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const scaling_names[ROPE_SCALING_COUNT] = {
    [ROPE_PLAIN] = "none", [ROPE_LINEAR] = "linear", [ROPE_LLAMA3] = "llama3", [ROPE_YARN] = "yarn"};

const char *rope_scaling_name(RopeScalingType t) {
    return (unsigned)t < ROPE_SCALING_COUNT ? scaling_names[t] : "?";
}

bool rope_equal(const LayerRope *a, const LayerRope *b) {
    return a->nope == b->nope && (a->nope || a->theta == b->theta);
}

const char *rope_text(const LayerRope *r, char *buf, size_t n) {
    if (r->nope)
        snprintf(buf, n, "nope");
    else if (r->theta)
        snprintf(buf, n, "rope_theta %.17g", r->theta);
    else
        snprintf(buf, n, "%s", "");
    return buf;
}

int rope_sharing_mismatch(const Layout *l, int from, char mine[64], char owners[64]) {
    for (int i = from; i < l->nlayers; i++) {
        const LayerRope *r = &l->layer[i].rope, *o = &l->layer[l->layer[i].reads].rope;
        if (rope_equal(r, o)) continue;
        if (!*rope_text(r, mine, 64)) snprintf(mine, 64, "the header's RoPE");
        if (!*rope_text(o, owners, 64)) snprintf(owners, 64, "the header's RoPE");
        return i;
    }
    return -1;
}

/* Llama 3.1: wavelengths longer than original / low_freq_factor are divided by factor, shorter than
 * original / high_freq_factor kept, and those between interpolated smoothly. With equal factors
 * (Llama 4) nothing lies strictly between; a wavelength exactly at the boundary divides 0 by 0 here as
 * in transformers (NaN, which the backends' finiteness checks report). */
static double llama3_inv_freq(const RopeScaling *s, double inv) {
    double wavelen = 2 * M_PI / inv, orig = (double)s->original_context;
    double low_wavelen = orig / s->low_freq_factor, high_wavelen = orig / s->high_freq_factor;
    if (wavelen > low_wavelen) return inv / s->factor;
    if (wavelen < high_wavelen) return inv;
    double smooth = (orig / wavelen - s->low_freq_factor) / (s->high_freq_factor - s->low_freq_factor);
    return (1 - smooth) * inv / s->factor + smooth * inv;
}

/* YaRN: the pair index where `rotations` full turns fit in the original context. */
static double yarn_correction_dim(double rotations, int64_t dim, double base, int64_t orig) {
    return (double)dim * log((double)orig / (rotations * 2 * M_PI)) / (2 * log(base));
}

/* YaRN: pairs below `low` keep their frequency (extrapolation), pairs above `high` are divided by
 * factor (interpolation), a linear ramp between; the bounds are whole pairs unless truncate is false. */
static void yarn_table(const RopeScaling *s, int64_t dim, double base, float *inv_freq) {
    double low = yarn_correction_dim(s->beta_fast, dim, base, s->original_context);
    double high = yarn_correction_dim(s->beta_slow, dim, base, s->original_context);
    if (s->truncate) low = floor(low), high = ceil(high);   /* gpt-oss publishes truncate false */
    if (low < 0) low = 0;
    if (high > (double)(dim - 1)) high = (double)(dim - 1);
    if (low == high) high += 0.001;   /* transformers' guard against a zero-width ramp */
    for (int64_t k = 0; k < dim / 2; k++) {
        double extrapolated = pow(base, -2.0 * (double)k / (double)dim), interpolated = extrapolated / s->factor;
        double ramp = ((double)k - low) / (high - low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        double keep = 1 - ramp;
        inv_freq[k] = (float)(interpolated * (1 - keep) + extrapolated * keep);
    }
}

/* Llama4TextAttention: log1p(floor((pos + 1.0) / floor_scale)) * attn_scale + 1.0, in float32. */
float model_nope_temperature(const ModelHeader *m, int64_t pos) {
    return mixc_nope_temperature(pos, m->nope_temperature_floor, (float)m->nope_temperature_scale);
}


bool rope_table(const ModelHeader *m, const LayerRope *r, float *inv_freq, float *scale) {
    if (r->nope) return false;
    const RopeScaling plain = {ROPE_PLAIN}, *s = r->theta ? &plain : &m->rope_scaling;
    double theta = r->theta ? r->theta : m->rope_theta;
    int64_t dim = m->head_dim;
    *scale = s->type == ROPE_YARN ? (float)s->attention_factor : 1.0f;
    if (s->type == ROPE_YARN) {
        yarn_table(s, dim, theta, inv_freq);
        return true;
    }
    for (int64_t k = 0; k < dim / 2; k++) {
        double inv = pow(theta, -2.0 * (double)k / (double)dim);
        if (s->type == ROPE_LINEAR) inv /= s->factor;
        if (s->type == ROPE_LLAMA3) inv = llama3_inv_freq(s, inv);
        inv_freq[k] = (float)inv;
    }
    return true;
}

void rope_tables(const Layout *l, RopeTables *t) {
    t->half = l->model.head_dim / 2;   /* the stride: the widest layer's pairs (a kind's own head_dim) */
    for (int i = 0; i < l->nlayers; i++)
        if (layer_model(l, i).head_dim / 2 > t->half) t->half = layer_model(l, i).head_dim / 2;
    t->inv_freq = xcalloc((size_t)(l->nlayers * t->half) + 1, sizeof(float));
    t->scale = xcalloc((size_t)l->nlayers + 1, sizeof(float));
    t->rotated = xcalloc((size_t)l->nlayers + 1, sizeof(bool));
    for (int i = 0; i < l->nlayers; i++)
        t->rotated[i] = rope_table((const ModelHeader[]){layer_model(l, i)}, &l->layer[i].rope, t->inv_freq + i * t->half,
                                   &t->scale[i]);
}

void rope_tables_free(RopeTables *t) {
    free(t->inv_freq);
    free(t->scale);
    free(t->rotated);
    memset(t, 0, sizeof *t);
}

const float *rope_layer_table(const RopeTables *t, int i) {
    return t->rotated[i] ? t->inv_freq + i * t->half : NULL;
}

/* ------------------------------------------------------------------ the parameters */

#define TYPE_BIT(t) (1u << (t))
#define PARAM(key, hf, member, type, takes, needs) {key, hf, offsetof(RopeScaling, member), type, takes, needs}
const RopeParam rope_params[] = {
    PARAM("rope_factor", "factor", factor, ROPE_PARAM_REAL, TYPE_BIT(ROPE_LINEAR) | TYPE_BIT(ROPE_LLAMA3) | TYPE_BIT(ROPE_YARN),
          TYPE_BIT(ROPE_LINEAR) | TYPE_BIT(ROPE_LLAMA3) | TYPE_BIT(ROPE_YARN)),
    PARAM("rope_low_freq_factor", "low_freq_factor", low_freq_factor, ROPE_PARAM_REAL, TYPE_BIT(ROPE_LLAMA3), TYPE_BIT(ROPE_LLAMA3)),
    PARAM("rope_high_freq_factor", "high_freq_factor", high_freq_factor, ROPE_PARAM_REAL, TYPE_BIT(ROPE_LLAMA3),
          TYPE_BIT(ROPE_LLAMA3)),
    PARAM("rope_original_context", "original_max_position_embeddings", original_context, ROPE_PARAM_INT,
          TYPE_BIT(ROPE_LLAMA3) | TYPE_BIT(ROPE_YARN), TYPE_BIT(ROPE_LLAMA3) | TYPE_BIT(ROPE_YARN)),
    PARAM("rope_beta_fast", "beta_fast", beta_fast, ROPE_PARAM_REAL, TYPE_BIT(ROPE_YARN), 0),
    PARAM("rope_beta_slow", "beta_slow", beta_slow, ROPE_PARAM_REAL, TYPE_BIT(ROPE_YARN), 0),
    PARAM("rope_attention_factor", "attention_factor", attention_factor, ROPE_PARAM_REAL, TYPE_BIT(ROPE_YARN), 0),
    PARAM("rope_truncate", "truncate", truncate, ROPE_PARAM_BOOL, TYPE_BIT(ROPE_YARN), 0),
};
const int rope_nparams = (int)(sizeof rope_params / sizeof rope_params[0]);

double rope_param_get(const RopeScaling *s, const RopeParam *p) {
    const char *at = (const char *)s + p->offset;
    return p->type == ROPE_PARAM_INT    ? (double)*(const int64_t *)at
           : p->type == ROPE_PARAM_BOOL ? (double)*(const bool *)at
                                        : *(const double *)at;
}

int64_t rope_param_int(const RopeScaling *s, const RopeParam *p) {
    return *(const int64_t *)((const char *)s + p->offset);
}

void rope_param_set(RopeScaling *s, const RopeParam *p, double v) {
    char *at = (char *)s + p->offset;
    if (p->type == ROPE_PARAM_INT)
        *(int64_t *)at = (int64_t)v;
    else if (p->type == ROPE_PARAM_BOOL)
        *(bool *)at = v != 0;
    else
        *(double *)at = v;
}

void rope_scaling_defaults(RopeScaling *s, const bool *given) {
    if (s->type != ROPE_YARN) return;
    for (int i = 0; i < rope_nparams; i++) {
        if (given[i]) continue;
        const RopeParam *p = &rope_params[i];
        if (p->offset == offsetof(RopeScaling, beta_fast)) s->beta_fast = 32;
        if (p->offset == offsetof(RopeScaling, beta_slow)) s->beta_slow = 1;
        if (p->offset == offsetof(RopeScaling, truncate)) s->truncate = true;
        if (p->offset == offsetof(RopeScaling, attention_factor))
            s->attention_factor = s->factor > 1 ? 0.1 * log(s->factor) + 1 : 1;
    }
}

bool rope_scaling_equal(const RopeScaling *a, const RopeScaling *b) {
    for (int i = 0; i < rope_nparams; i++)
        if (rope_param_get(a, &rope_params[i]) != rope_param_get(b, &rope_params[i])) return false;
    return a->type == b->type;
}

void rope_scaling_text(const RopeScaling *s, char *buf, size_t n) {
    size_t len = (size_t)snprintf(buf, n, "%s", rope_scaling_name(s->type));
    const char *sep = " (";
    for (int i = 0; i < rope_nparams && len < n; i++) {
        const RopeParam *p = &rope_params[i];
        if (!(p->takes & TYPE_BIT(s->type))) continue;
        const char *key = p->key + strlen("rope_");
        double v = rope_param_get(s, p);
        if (p->type == ROPE_PARAM_BOOL)
            len += (size_t)snprintf(buf + len, n - len, "%s%s %s", sep, key, v ? "true" : "false");
        else if (p->type == ROPE_PARAM_INT)
            len += (size_t)snprintf(buf + len, n - len, "%s%s %lld", sep, key, (long long)rope_param_int(s, p));
        else
            len += (size_t)snprintf(buf + len, n - len, "%s%s %.17g", sep, key, v);
        sep = ", ";
    }
    if (len < n && s->type != ROPE_PLAIN) snprintf(buf + len, n - len, ")");
}
