/* fused_experts.c — the checkpoint forms of the feed forward beyond Qwen3-MoE's names (docs/model.md,
 * "Checkpoint forms"): where a family's checkpoints name the MLP, the router and the experts
 * differently, or keep a layer's experts in fused tensors, they are read here into the model's
 * tensors (model.h).
 *
 * Names (model_checkpoint_names, renaming the model's tensor table before the load):
 *   Llama 4 (Llama4TextMoe, Llama4TextMLP):  model.layers.{i}.feed_forward.* for mlp.*
 *     (the dense feed_forward.{gate,up,down}_proj, the shared expert feed_forward.shared_expert.*)
 *   Mixtral (MixtralSparseMoeBlock):  block_sparse_moe.gate for the router mlp.gate,
 *     block_sparse_moe.experts.{e}.w1 / w3 / w2 for expert e's gate_proj / up_proj / down_proj
 * Fused experts (model_load_fused_experts; transformers' GptOssExperts, Llama4TextExperts):
 *   P.router.weight        [E, hidden]       (and .bias [E] with biases)
 *   P.experts.gate_up_proj [E, hidden, 2 ffn]   input-major: gpt-oss interleaves gate and up
 *                          (gate = columns 0, 2, ..., up = 1, 3, ...), Llama 4 concatenates them
 *                          (gate = columns 0..ffn-1, up = ffn..2 ffn-1: gate_up.chunk(2, dim=-1))
 *   P.experts.gate_up_proj_bias [E, 2 ffn]   gpt-oss only, as its gate_up_proj
 *   P.experts.down_proj    [E, ffn, hidden]   input-major
 *   P.experts.down_proj_bias    [E, hidden]   gpt-oss only
 * with P = model.layers.{i}.mlp (gpt-oss) or model.layers.{i}.feed_forward (Llama 4), read
 * transposed (and de-interleaved) into the per-expert tensors.
 * A multimodal Llama 4 checkpoint (Llama4ForConditionalGeneration, the published ones) holds the text
 * model under language_model. (every name above with that prefix) beside its vision tower
 * (vision_model.*, multi_modal_projector.*), which text tokens never reach: those are not counted as
 * unused. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct FusedForm {
    const char *prefix;         /* after "model.layers.{i}." */
    bool interleaved;           /* gate and up columns alternate (gpt-oss), else halves (Llama 4) */
    bool biases;                /* the router and the experts have biases (gpt-oss) */
    const char *family;
};

static const FusedForm FUSED_FORMS[] = {
    {"mlp.", true, true, "gpt-oss"},
    {"feed_forward.", false, false, "Llama 4"},
};

static const char *const FUSED[] = {"router.weight", "router.bias", "experts.gate_up_proj",
                                    "experts.gate_up_proj_bias", "experts.down_proj", "experts.down_proj_bias"};
enum { N_FUSED = sizeof FUSED / sizeof FUSED[0] };

/* Whether any tensor of c is named `prefix...`. */
static bool has_prefix(const StCheckpoint *c, const char *prefix) {
    size_t n = strlen(prefix);
    for (int k = 0; k < c->nfiles; k++)
        for (int i = 0; i < c->file[k].ntensors; i++)
            if (!strncmp(c->file[k].tensor[i].name, prefix, n)) return true;
    return false;
}

/* The fused form of c's experts (names after `prefix`), NULL when they are not fused. */
static const FusedForm *fused_form(const StCheckpoint *c, const char *prefix, int64_t layer) {
    for (size_t k = 0; k < sizeof FUSED_FORMS / sizeof FUSED_FORMS[0]; k++) {
        char name[128];
        snprintf(name, sizeof name, "%smodel.layers.%lld.%sexperts.gate_up_proj", prefix, (long long)layer,
                 FUSED_FORMS[k].prefix);
        if (st_checkpoint_find(c, name, NULL)) return &FUSED_FORMS[k];
    }
    return NULL;
}

void model_checkpoint_form(const StCheckpoint *c, const ModelHeader *m, CheckpointForm *form) {
    int64_t moe_layer = model_first_moe_layer(m);
    form->model = m;
    form->prefix = st_checkpoint_find(c, "language_model.model.embed_tokens.weight", NULL) ? "language_model." : "";
    char head[64];
    snprintf(head, sizeof head, "%smodel.layers.0.feed_forward.", form->prefix);
    form->names = has_prefix(c, head) ? CKPT_LLAMA4 : CKPT_HF;
    snprintf(head, sizeof head, "%smodel.layers.0.block_sparse_moe.", form->prefix);
    if (has_prefix(c, head)) form->names = CKPT_MIXTRAL;
    form->fused = moe_layer >= 0 ? fused_form(c, form->prefix, moe_layer) : NULL;
}

bool model_form_skips(const CheckpointForm *form, const char *name, int nlayers) {
    size_t p = strlen(form->prefix);
    if (p && (!strncmp(name, "vision_model.", 13) || !strncmp(name, "multi_modal_projector.", 22))) return true;
    int layer, n = 0;
    const FusedForm *f = form->fused;
    if (!f || strncmp(name, form->prefix, p) || sscanf(name + p, "model.layers.%d.%n", &layer, &n) != 1 || n == 0 ||
        layer < 0 || layer >= nlayers || !model_layer_moe(form->model, layer))   /* a dense layer's: unused */
        return false;
    size_t fp = strlen(f->prefix);
    if (strncmp(name + p + n, f->prefix, fp)) return false;
    for (int k = 0; k < N_FUSED; k++)
        if (!strcmp(name + p + n + fp, FUSED[k])) return true;
    return false;
}

bool model_fused_target(const char *name) {
    const char *mlp = strstr(name, ".mlp.");
    if (!mlp) mlp = strstr(name, ".feed_forward.");
    if (!mlp) return false;
    const char *rest = strchr(mlp + 1, '.') + 1;
    return !strncmp(rest, "experts.", 8) || !strncmp(rest, "gate.", 5);
}

/* ------------------------------------------------------------------ names */

/* One tensor name of the model in the Mixtral form: mlp.gate -> block_sparse_moe.gate, and an
 * expert's gate_proj / up_proj / down_proj -> w1 / w3 / w2. */
static void mixtral_name(const char *rest, char *out, size_t n, const char *head) {
    static const char *const experts[][2] = {{"gate_proj.", "w1."}, {"up_proj.", "w3."}, {"down_proj.", "w2."}};
    int e = 0, k = 0;
    if (sscanf(rest, "experts.%d.%n", &e, &k) == 1 && k > 0)
        for (size_t j = 0; j < 3; j++)
            if (!strncmp(rest + k, experts[j][0], strlen(experts[j][0]))) {
                snprintf(out, n, "%sblock_sparse_moe.experts.%d.%s%s", head, e, experts[j][1], rest + k + strlen(experts[j][0]));
                return;
            }
    snprintf(out, n, "%sblock_sparse_moe.%s", head, rest);
}

void model_rename_tensors(const CheckpointForm *form, ModelTensor *t, int n) {
    for (int i = 0; i < n; i++) {
        char *mlp = strstr(t[i].name, ".mlp."), head[sizeof t[i].name], out[2 * sizeof t[i].name];
        if (form->names == CKPT_HF || !mlp) snprintf(out, sizeof out, "%s%s", form->prefix, t[i].name);
        else {
            snprintf(head, sizeof head, "%s%.*s.", form->prefix, (int)(mlp - t[i].name), t[i].name);
            if (form->names == CKPT_LLAMA4) snprintf(out, sizeof out, "%sfeed_forward.%s", head, mlp + 5);
            else mixtral_name(mlp + 5, out, sizeof out, head);
        }
        size_t len = strlen(out);   /* "language_model.model.layers.{i}.feed_forward.shared_expert.gate_proj.weight": below */
        if (len < sizeof t[i].name) memcpy(t[i].name, out, len + 1);
    }
}

/* ------------------------------------------------------------------ fused experts */

/* Tensor `what` of layer i, checked to be of the given shape and a dtype the loader reads; NULL with a
 * message. */
static const StTensor *find_fused(const StCheckpoint *c, const CheckpointForm *form, int i, const char *what, int ndim,
                                  const int64_t *shape, const StFile **file, char *err, size_t errlen) {
    char name[160];
    snprintf(name, sizeof name, "%smodel.layers.%d.%s%s", form->prefix, i, form->fused->prefix, what);
    const StTensor *s = st_checkpoint_find(c, name, file);
    bool ok = s && s->dtype != ST_OTHER && s->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = s->shape[d] == shape[d];
    if (ok) return s;
    char want[64], got[128] = "";
    model_format_shape(want, sizeof want, ndim, shape);
    if (s && s->dtype != ST_OTHER) model_format_shape(got, sizeof got, s->ndim, s->shape);
    snprintf(err, errlen, "'%s': tensor '%s' is %s%s; the layout needs %s", c->path, name,
             !s ? "missing" : s->dtype == ST_OTHER ? "not BF16, F16 or F32" : "of shape ", got, want);
    return NULL;
}

/* Elements [first, first + n) of tensor s (of file) as fp32 into out; false with a message naming a
 * NaN or Inf by its element in s. A fused tensor is read a row at a time: the host never holds an fp32
 * copy of it besides the layer's own tensors. */
static bool read_slice(const StFile *file, const StTensor *s, int64_t first, int64_t n, float *out, char *err,
                       size_t errlen) {
    StTensor slice = *s;
    slice.data += first * st_dtype_size(s->dtype);
    st_to_f32(&slice, out, n);
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(out[k]))
            return errorf(err, errlen, "'%s': tensor '%s' holds %s at element %lld", file->path, s->name,
                          isnan(out[k]) ? "NaN" : "Inf", (long long)(first + k));
    return true;
}

/* A gate_up row of 2F values (one input of an expert, or its bias) into gate and up, value j at
 * j x stride: gate j is column 2j and up j column 2j + 1 (interleaved), else columns j and F + j. */
static void split_gate_up(const float *row, float *gate, float *up, int64_t F, int64_t stride, bool interleaved) {
    int64_t g0 = 0, u0 = interleaved ? 1 : F, step = interleaved ? 2 : 1;
    for (int64_t j = 0; j < F; j++) {
        gate[j * stride] = row[g0 + step * j];
        up[j * stride] = row[u0 + step * j];
    }
}

/* The shapes of a layer's fused tensors, in FUSED's order (a form without biases has none of the odd
 * ones). */
typedef struct {
    int64_t shape[N_FUSED][3];
    int ndim[N_FUSED];
} FusedShapes;

static void fused_shapes(const ModelHeader *h, FusedShapes *s) {
    int64_t E = h->experts, H = h->hidden, F = h->ffn;
    const FusedShapes all = {{{E, H}, {E}, {E, H, 2 * F}, {E, 2 * F}, {E, F, H}, {E, H}}, {2, 1, 3, 2, 3, 2}};
    *s = all;
}

/* Whether the form's biases are the layout's (moe_bias); false with a message. */
static bool biases_match(const StCheckpoint *c, const FusedForm *f, const ModelHeader *h, char *err, size_t errlen) {
    if (h->moe_bias == f->biases) return true;
    snprintf(err, errlen, "'%s': its experts are %s's fused tensors, which have %sbiases: the layout needs "
                          "moe_bias = %s", c->path, f->family, f->biases ? "" : "no ", f->biases ? "true" : "false");
    return false;
}

bool model_check_fused_experts(const StCheckpoint *c, const CheckpointForm *form, const Layout *l, int i, char *err,
                               size_t errlen) {
    const FusedForm *f = form->fused;
    const ModelHeader *h = &l->model;
    if (!model_layer_moe(h, i)) return true;
    if (!biases_match(c, f, h, err, errlen)) return false;
    FusedShapes s;
    fused_shapes(h, &s);
    const StFile *file;
    for (int k = 0; k < N_FUSED; k++)
        if ((f->biases || k % 2 == 0) && !find_fused(c, form, i, FUSED[k], s.ndim[k], s.shape[k], &file, err, errlen))
            return false;
    return true;
}

bool model_load_fused_experts(const StCheckpoint *c, const CheckpointForm *form, Model *m, int i, char *err,
                              size_t errlen) {
    const FusedForm *f = form->fused;
    const ModelHeader *h = &m->layout->model;
    LayerWeights *w = &m->layer[i];
    if (!model_layer_moe(h, i)) return true;   /* a dense layer between the experts' (moe_step) */
    if (!biases_match(c, f, h, err, errlen)) return false;
    int64_t E = h->experts, H = h->hidden, F = h->ffn;
    FusedShapes s;
    fused_shapes(h, &s);
    const StTensor *t[N_FUSED] = {0};
    const StFile *file[N_FUSED] = {0};
    for (int k = 0; k < N_FUSED; k++)
        if ((f->biases || k % 2 == 0) && !(t[k] = find_fused(c, form, i, FUSED[k], s.ndim[k], s.shape[k], &file[k], err, errlen)))
            return false;
    float *row = xmalloc((size_t)(2 * F > H ? 2 * F : H) * sizeof *row);
    bool ok = read_slice(file[0], t[0], 0, E * H, w->router, err, errlen) &&
              (!f->biases || read_slice(file[1], t[1], 0, E, w->router_bias, err, errlen));
    for (int64_t e = 0; e < E && ok; e++) {
        for (int64_t in = 0; in < H && ok; in++)   /* gate_up [E][H][2F]: a row an input */
            if ((ok = read_slice(file[2], t[2], (e * H + in) * 2 * F, 2 * F, row, err, errlen)))
                split_gate_up(row, w->experts_gate + e * F * H + in, w->experts_up + e * F * H + in, F, H, f->interleaved);
        if (ok && f->biases && (ok = read_slice(file[3], t[3], e * 2 * F, 2 * F, row, err, errlen)))
            split_gate_up(row, w->experts_gate_bias + e * F, w->experts_up_bias + e * F, F, 1, f->interleaved);
        for (int64_t j = 0; j < F && ok; j++)   /* down [E][F][H] -> [E x H][F] */
            if ((ok = read_slice(file[4], t[4], (e * F + j) * H, H, row, err, errlen)))
                for (int64_t o = 0; o < H; o++) w->experts_down[(e * H + o) * F + j] = row[o];
    }
    ok = ok && (!f->biases || read_slice(file[5], t[5], 0, E * H, w->experts_down_bias, err, errlen));
    free(row);
    for (int k = 0; k < N_FUSED; k++)
        if (t[k]) st_release(file[k], t[k]);
    if (ok) {
        float *const all[] = {w->router, w->router_bias, w->experts_gate, w->experts_gate_bias, w->experts_up,
                              w->experts_up_bias, w->experts_down, w->experts_down_bias};
        const int64_t n[] = {E * H, E, E * F * H, E * F, E * F * H, E * F, E * H * F, E * H};
        for (int k = 0; k < 8; k++)
            if (all[k]) model_round_to_dtype(all[k], n[k], h->dtype);
    }
    return ok;
}
