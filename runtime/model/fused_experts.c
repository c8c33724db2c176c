/* fused_experts.c — gpt-oss's checkpoints keep a layer's experts in four fused tensors and name its
 * router differently (transformers' GptOssExperts, GptOssTopKRouter):
 *   model.layers.{i}.mlp.router.weight        [E, hidden]      and .bias [E]
 *   model.layers.{i}.mlp.experts.gate_up_proj [E, hidden, 2 ffn]   input-major; gate and up interleaved
 *                                                                   (gate = columns 0, 2, ..., up = 1, 3, ...)
 *   model.layers.{i}.mlp.experts.gate_up_proj_bias [E, 2 ffn]
 *   model.layers.{i}.mlp.experts.down_proj    [E, ffn, hidden]    input-major
 *   model.layers.{i}.mlp.experts.down_proj_bias    [E, hidden]
 * They are read here into the model's per-expert tensors (model.h), transposed and de-interleaved. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const FUSED[] = {"mlp.router.weight", "mlp.router.bias", "mlp.experts.gate_up_proj",
                                    "mlp.experts.gate_up_proj_bias", "mlp.experts.down_proj",
                                    "mlp.experts.down_proj_bias"};
enum { N_FUSED = sizeof FUSED / sizeof FUSED[0] };

bool model_fused_experts(const StCheckpoint *c) {
    return st_checkpoint_find(c, "model.layers.0.mlp.experts.gate_up_proj", NULL) != NULL;
}

bool model_fused_name(const char *name, int nlayers) {
    int layer, n = 0;
    if (sscanf(name, "model.layers.%d.%n", &layer, &n) != 1 || n == 0 || layer < 0 || layer >= nlayers) return false;
    for (int k = 0; k < N_FUSED; k++)
        if (!strcmp(name + n, FUSED[k])) return true;
    return false;
}

/* Tensor `what` of layer i, of the given shape, as fp32 (malloc'ed); NULL with a message. */
static float *read_fused(const StCheckpoint *c, int i, const char *what, int ndim, const int64_t *shape, char *err,
                         size_t errlen) {
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.%s", i, what);
    const StFile *f;
    const StTensor *s = st_checkpoint_find(c, name, &f);
    bool ok = s && s->dtype != ST_OTHER && s->ndim == ndim;
    int64_t n = 1;
    for (int d = 0; ok && d < ndim; d++) ok = s->shape[d] == shape[d], n *= shape[d];
    if (!ok) {
        char want[64], got[128] = "";
        model_format_shape(want, sizeof want, ndim, shape);
        if (s && s->dtype != ST_OTHER) model_format_shape(got, sizeof got, s->ndim, s->shape);
        snprintf(err, errlen, "'%s': tensor '%s' is %s%s; the layout needs %s", c->path, name,
                 !s ? "missing" : s->dtype == ST_OTHER ? "not BF16, F16 or F32" : "of shape ", got, want);
        return NULL;
    }
    float *x = xmalloc((size_t)n * sizeof(float));
    st_to_f32(s, x, n);
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(x[k])) {
            snprintf(err, errlen, "'%s': tensor '%s' holds %s at element %lld", f->path, name, isnan(x[k]) ? "NaN" : "Inf",
                     (long long)k);
            free(x);
            return NULL;
        }
    return x;
}

/* gate_up [E][H][2F] and its bias [E][2F] into the stacked gate and up ([E x F][H], [E x F]). */
static void split_gate_up(LayerWeights *w, const float *gu, const float *gub, int64_t E, int64_t H, int64_t F) {
    for (int64_t e = 0; e < E; e++)
        for (int64_t j = 0; j < F; j++) {
            for (int64_t i = 0; i < H; i++) {
                const float *col = gu + (e * H + i) * 2 * F + 2 * j;
                w->experts_gate[(e * F + j) * H + i] = col[0];
                w->experts_up[(e * F + j) * H + i] = col[1];
            }
            w->experts_gate_bias[e * F + j] = gub[e * 2 * F + 2 * j];
            w->experts_up_bias[e * F + j] = gub[e * 2 * F + 2 * j + 1];
        }
}

bool model_load_fused_experts(const StCheckpoint *c, Model *m, int i, char *err, size_t errlen) {
    const ModelHeader *h = &m->layout->model;
    LayerWeights *w = &m->layer[i];
    int64_t E = h->experts, H = h->hidden, F = h->ffn;
    if (!h->moe_bias) {
        snprintf(err, errlen, "'%s': its experts are gpt-oss's fused tensors, which have biases: the layout needs "
                              "moe_bias = true", c->path);
        return false;
    }
    const int64_t s_router[] = {E, H}, s_rbias[] = {E}, s_gu[] = {E, H, 2 * F}, s_gub[] = {E, 2 * F},
                  s_down[] = {E, F, H}, s_db[] = {E, H};
    float *r = read_fused(c, i, FUSED[0], 2, s_router, err, errlen), *rb = r ? read_fused(c, i, FUSED[1], 1, s_rbias, err, errlen) : NULL;
    float *gu = rb ? read_fused(c, i, FUSED[2], 3, s_gu, err, errlen) : NULL;
    float *gub = gu ? read_fused(c, i, FUSED[3], 2, s_gub, err, errlen) : NULL;
    float *dp = gub ? read_fused(c, i, FUSED[4], 3, s_down, err, errlen) : NULL;
    float *db = dp ? read_fused(c, i, FUSED[5], 2, s_db, err, errlen) : NULL;
    bool ok = db != NULL;
    if (ok) {
        memcpy(w->router, r, (size_t)(E * H) * sizeof(float));
        memcpy(w->router_bias, rb, (size_t)E * sizeof(float));
        split_gate_up(w, gu, gub, E, H, F);
        for (int64_t e = 0; e < E; e++)    /* down [E][F][H] -> [E x H][F] */
            for (int64_t j = 0; j < F; j++)
                for (int64_t o = 0; o < H; o++) w->experts_down[(e * H + o) * F + j] = dp[(e * F + j) * H + o];
        memcpy(w->experts_down_bias, db, (size_t)(E * H) * sizeof(float));
        float *const all[] = {w->router, w->router_bias, w->experts_gate, w->experts_gate_bias, w->experts_up,
                              w->experts_up_bias, w->experts_down, w->experts_down_bias};
        const int64_t n[] = {E * H, E, E * F * H, E * F, E * F * H, E * F, E * H * F, E * H};
        for (int k = 0; k < 8; k++) model_round_to_dtype(all[k], n[k], h->dtype);
    }
    free(r), free(rb), free(gu), free(gub), free(dp), free(db);
    return ok;
}
