/* model.c — the model's weights: the tensor table of a layout, deterministic random weights, and
 * loading/saving them as safetensors. See model.h and docs/model.md. */
#include "model.h"
#include "plan.h"
#include "progress.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the tensor table */

static void add_tensor(ModelTensor *t, int *n, float **slot, int64_t rows, int64_t cols, bool is_norm,
                       const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void add_tensor(ModelTensor *t, int *n, float **slot, int64_t rows, int64_t cols, bool is_norm,
                       const char *fmt, ...) {
    ModelTensor *e = &t[(*n)++];
    memset(e, 0, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->slot = slot;
    e->alloc_elems = is_norm ? rows : rows * cols;
    if (is_norm) {
        e->ndim = 1;
        e->shape[0] = rows;
    } else {
        e->ndim = 2;
        e->shape[0] = rows;
        e->shape[1] = cols;
        e->fan_in = cols;
    }
}

float **model_layer_slot(LayerWeights *w, int ref) {
    switch ((WeightRef)ref) {
    case WT_NORM_IN: return &w->norm_in;
    case WT_Q: return &w->wq;
    case WT_K: return &w->wk;
    case WT_V: return &w->wv;
    case WT_O: return &w->wo;
    case WT_NORM_POST: return &w->norm_post;
    case WT_GATE: return &w->w_gate;
    case WT_UP: return &w->w_up;
    case WT_DOWN: return &w->w_down;
    case WT_Q_BIAS: return &w->bq;
    case WT_K_BIAS: return &w->bk;
    case WT_V_BIAS: return &w->bv;
    case WT_O_BIAS: return &w->bo;
    case WT_Q_NORM: return &w->q_norm;
    case WT_K_NORM: return &w->k_norm;
    case WT_NORM_ATTN_OUT: return &w->norm_attn_out;
    case WT_NORM_MLP_OUT: return &w->norm_mlp_out;
    case WT_ROUTER: return &w->router;
    case WT_ROUTER_BIAS: return &w->router_bias;
    case WT_EXPERT_GATE: return &w->experts_gate;
    case WT_EXPERT_GATE_BIAS: return &w->experts_gate_bias;
    case WT_EXPERT_UP: return &w->experts_up;
    case WT_EXPERT_UP_BIAS: return &w->experts_up_bias;
    case WT_EXPERT_DOWN: return &w->experts_down;
    case WT_EXPERT_DOWN_BIAS: return &w->experts_down_bias;
    case WT_SHARED_GATE: return &w->shared_gate;
    case WT_SHARED_UP: return &w->shared_up;
    case WT_SHARED_DOWN: return &w->shared_down;
    case WT_SINKS: return &w->sinks;
    default: return NULL;
    }
}

/* A layer weight's checkpoint name after "model.layers.{i}.". With sandwich_norms (Gemma 2/3),
 * post_attention_layernorm is the attention output's norm and the MLP's input norm is
 * pre_feedforward_layernorm. */
static const char *layer_tensor_name(const ModelHeader *h, WeightRef r) {
    static const char *const names[WT_COUNT] = {
        [WT_NORM_IN] = "input_layernorm.weight", [WT_Q] = "self_attn.q_proj.weight",
        [WT_K] = "self_attn.k_proj.weight", [WT_V] = "self_attn.v_proj.weight",
        [WT_O] = "self_attn.o_proj.weight", [WT_NORM_POST] = "post_attention_layernorm.weight",
        [WT_GATE] = "mlp.gate_proj.weight", [WT_UP] = "mlp.up_proj.weight", [WT_DOWN] = "mlp.down_proj.weight",
        [WT_Q_BIAS] = "self_attn.q_proj.bias", [WT_K_BIAS] = "self_attn.k_proj.bias",
        [WT_V_BIAS] = "self_attn.v_proj.bias", [WT_Q_NORM] = "self_attn.q_norm.weight",
        [WT_K_NORM] = "self_attn.k_norm.weight", [WT_NORM_ATTN_OUT] = "post_attention_layernorm.weight",
        [WT_NORM_MLP_OUT] = "post_feedforward_layernorm.weight", [WT_O_BIAS] = "self_attn.o_proj.bias",
        /* a mixture of experts, as Qwen3-MoE names it (expert e's: mlp.experts.{e}. + these) */
        [WT_ROUTER] = "mlp.gate.weight", [WT_ROUTER_BIAS] = "mlp.gate.bias",
        [WT_EXPERT_GATE] = "gate_proj.weight", [WT_EXPERT_GATE_BIAS] = "gate_proj.bias",
        [WT_EXPERT_UP] = "up_proj.weight", [WT_EXPERT_UP_BIAS] = "up_proj.bias",
        [WT_EXPERT_DOWN] = "down_proj.weight", [WT_EXPERT_DOWN_BIAS] = "down_proj.bias",
        [WT_SHARED_GATE] = "mlp.shared_expert.gate_proj.weight", [WT_SHARED_UP] = "mlp.shared_expert.up_proj.weight",
        [WT_SHARED_DOWN] = "mlp.shared_expert.down_proj.weight",
        [WT_SINKS] = "self_attn.sinks",   /* gpt-oss */
    };
    if (r == WT_NORM_POST && h->sandwich_norms) return "pre_feedforward_layernorm.weight";
    return names[r];
}

/* Whether r is stacked over the experts: one checkpoint tensor per expert. */
static bool per_expert(WeightRef r) { return r >= WT_EXPERT_GATE && r <= WT_EXPERT_DOWN_BIAS; }

/* Layer i's weight r: one tensor, or E (expert e's rows of the stacked one, named per expert). */
static void add_layer_weight(Model *m, int i, WeightRef r, ModelTensor *t, int *n) {
    const ModelHeader lm = layer_model(m->layout, i), *h = &lm;   /* q/k/v/o and head norms by its own shape */
    int64_t in, rows, experts = per_expert(r) ? h->experts : 1;
    plan_weight_shape(h, r, &in, &rows);
    bool vector = plan_weight_is_vector(r);
    if (vector) in /= experts;
    else rows /= experts;
    for (int64_t e = 0; e < experts; e++) {
        float **slot = model_layer_slot(&m->layer[i], r);
        if (per_expert(r))
            add_tensor(t, n, slot, vector ? in : rows, in, vector, "model.layers.%d.mlp.experts.%lld.%s", i,
                       (long long)e, layer_tensor_name(h, r));
        else
            add_tensor(t, n, slot, vector ? in : rows, in, vector, "model.layers.%d.%s", i, layer_tensor_name(h, r));
        ModelTensor *x = &t[*n - 1];
        x->part = i;
        x->offset = e * (vector ? in : rows * in);
        x->alloc_elems = e ? 0 : experts * (vector ? in : rows * in);
        if (plan_weight_is_bias(r)) x->fan_in = h->hidden;   /* drawn as its projection is */
        if (r == WT_SINKS) x->fan_in = 1;                      /* logits: uniform(-1, 1) */
    }
}

int model_tensors(Model *m, ModelTensor **out) {
    const Layout *l = m->layout;
    const ModelHeader *h = &l->model;
    int64_t d = h->hidden;
    int64_t per_layer = plan_layer_weight_count + 6 * h->experts;   /* the experts' 6 stacked refs */
    ModelTensor *t = xcalloc((size_t)(l->nlayers * per_layer + 4), sizeof *t);
    int n = 0;
    add_tensor(t, &n, &m->embed, h->vocab, d, false, "model.embed_tokens.weight");
    t[n - 1].part = PART_EMBED;
    for (int i = 0; i < l->nlayers; i++)
        for (int k = 0; k < plan_layer_weight_count; k++)
            if (plan_layer_has_weight(l, i, plan_layer_weight_order[k]))
                add_layer_weight(m, i, plan_layer_weight_order[k], t, &n);
    add_tensor(t, &n, &m->norm_final, d, 0, true, "model.norm.weight");
    t[n - 1].part = PART_NORM_FINAL;
    if (!h->tie_embeddings) {
        add_tensor(t, &n, &m->lm_head, h->vocab, d, false, "lm_head.weight");
        t[n - 1].part = PART_LM_HEAD;
    }
    *out = t;
    return n;
}

static int64_t tensor_elems(const ModelTensor *t) { return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1]; }

float *model_tensor_data(const ModelTensor *t) { return *t->slot + t->offset; }


/* A model of layout l without weights: its tensor table can be made, nothing is allocated for it. */
static void model_shell(Model *m, const Layout *l) {
    memset(m, 0, sizeof *m);
    m->layout = l;
    m->layer = xcalloc((size_t)l->nlayers + 1, sizeof(LayerWeights));
}

/* Allocates (zeroed) the tensors of the table t[0..n) that are of `part` (every part: INT_MIN). */
static void alloc_part(Model *m, const ModelTensor *t, int n, int part) {
    for (int i = 0; i < n; i++)
        if (t[i].offset == 0 && (part == INT_MIN || t[i].part == part))
            *t[i].slot = xcalloc((size_t)t[i].alloc_elems, sizeof(float));
    if (m->layout->model.tie_embeddings && (part == INT_MIN || part == PART_EMBED)) m->lm_head = m->embed;
}

/* Frees what alloc_part allocated for `part`, and leaves its pointers NULL. */
static void free_part(Model *m, const ModelTensor *t, int n, int part) {
    for (int i = 0; i < n; i++)
        if (t[i].offset == 0 && (part == INT_MIN || t[i].part == part)) {
            free(*t[i].slot);
            *t[i].slot = NULL;
        }
    if (m->layout->model.tie_embeddings && (part == INT_MIN || part == PART_EMBED)) m->lm_head = NULL;
}

static void alloc_tensors(Model *m, const Layout *l) {
    model_shell(m, l);
    ModelTensor *t;
    int n = model_tensors(m, &t);
    alloc_part(m, t, n, INT_MIN);
    free(t);
}

/* The parameters of the largest part of l's model (a streamed load holds one part at a time). */
static int64_t largest_part(const Layout *l) {
    Model shell;
    model_shell(&shell, l);
    ModelTensor *t;
    int n = model_tensors(&shell, &t);
    int64_t *params = xcalloc((size_t)l->nlayers - PART_LM_HEAD, sizeof *params), largest = 0;
    for (int i = 0; i < n; i++) {
        int64_t *p = &params[t[i].part - PART_LM_HEAD];
        *p += tensor_elems(&t[i]);
        if (*p > largest) largest = *p;
    }
    free(params);
    free(t);
    free(shell.layer);
    return largest;
}

/* The load holds the weights it reads in fp32 on the host (the cuda backend converts its device copy):
 * all of them, or streamed the largest part; times 4 bytes must fit in this machine's memory. */
bool model_check_size(const Layout *l, bool streamed, char *err, size_t errlen) {
    WeightsPlan w;
    int64_t bytes, memory = host_memory_bytes();
    if (!plan_weights(l, &w) || !mul_ok(w.params, (int64_t)sizeof(float), &bytes)) {
        snprintf(err, errlen, "the model's parameter count overflows 2^62");
        return false;
    }
    if (streamed) bytes = largest_part(l) * (int64_t)sizeof(float);
    if (memory > 0 && bytes > memory) {
        char need[32], have[32];
        snprintf(need, sizeof need, "%s", fmt_bytes((double)bytes));
        snprintf(have, sizeof have, "%s", fmt_bytes((double)memory));
        snprintf(err, errlen, "the model has %lld parameters: %s %s of host memory, and this machine has %s",
                 (long long)w.params, streamed ? "the fp32 copy of its largest part (a layer, or the embedding) needs"
                                               : "their fp32 copies need", need, have);
        return false;
    }
    return true;
}

static void model_stream_close(ModelStream *s);

void model_free(Model *m) {
    if (!m->layer) return;
    if (m->stream) model_stream_close(m->stream);
    ModelTensor *t;
    int n = model_tensors(m, &t);
    for (int i = 0; i < n; i++)
        if (t[i].offset == 0) free(*t[i].slot);
    free(t);
    free(m->layer);
    memset(m, 0, sizeof *m);
}

int64_t model_param_count(Model *m) {
    ModelTensor *t;
    int n = model_tensors(m, &t);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += tensor_elems(&t[i]);
    free(t);
    return total;
}

void model_round_to_dtype(float *x, int64_t n, DType t) {
    if (t == DT_BF16)
        for (int64_t i = 0; i < n; i++) x[i] = st_bf16_to_f32(st_f32_to_bf16(x[i]));
    else if (t == DT_FP16)
        for (int64_t i = 0; i < n; i++) x[i] = st_f16_to_f32(st_f32_to_f16(x[i]));
}

/* ------------------------------------------------------------------ random weights */

uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3u;
    return h;
}

/* uniform in [-1, 1): the top 24 bits of the generator */
static float uniform_pm1(uint64_t *state) { return (float)(splitmix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f; }

void model_init_random(Model *m, const Layout *l, uint64_t seed) {
    alloc_tensors(m, l);
    ModelTensor *t;
    int n = model_tensors(m, &t);
    for (int i = 0; i < n; i++) {
        /* a stream per tensor: the same name gets the same values whatever else the layout has */
        uint64_t state = seed ^ fnv1a(t[i].name);
        splitmix64(&state);
        float *x = model_tensor_data(&t[i]);
        int64_t count = tensor_elems(&t[i]);
        float scale = t[i].fan_in && strcmp(t[i].name, "model.embed_tokens.weight") != 0
                          ? 1.0f / sqrtf((float)t[i].fan_in) : 1.0f;
        for (int64_t k = 0; k < count; k++) x[k] = t[i].fan_in ? scale * uniform_pm1(&state) : 1.0f;
        model_round_to_dtype(x, count, l->model.dtype);
    }
    free(t);
}

/* ------------------------------------------------------------------ safetensors */

static bool shape_matches(const StTensor *s, const ModelTensor *t) {
    if (s->ndim != t->ndim) return false;
    for (int d = 0; d < t->ndim; d++)
        if (s->shape[d] != t->shape[d]) return false;
    return true;
}

void model_format_shape(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t pos = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < ndim && pos < n; d++)
        pos += (size_t)snprintf(out + pos, n - pos, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (pos < n) snprintf(out + pos, n - pos, "]");
}

/* NaN or Inf in a weight would only show up as NaN logits (or tokens 0,0,0): refused by name. */
static bool check_finite(const StFile *f, const ModelTensor *t, int64_t count, char *err, size_t errlen) {
    const float *x = model_tensor_data(t);
    for (int64_t i = 0; i < count; i++) {
        if (isfinite(x[i])) continue;
        int64_t cols = t->ndim == 1 ? count : t->shape[1];
        snprintf(err, errlen, "'%s': tensor '%s' holds %s at element %lld (row %lld, column %lld)", f->path,
                 t->name, isnan(x[i]) ? "NaN" : "Inf", (long long)i, (long long)(i / cols), (long long)(i % cols));
        return false;
    }
    return true;
}

/* The checkpoint's tensor for t, checked to be of t's shape and a dtype the loader reads; NULL with a
 * message. */
static const StTensor *find_tensor(const StCheckpoint *c, const ModelTensor *t, const StFile **f, char *err,
                                   size_t errlen) {
    const StTensor *s = st_checkpoint_find(c, t->name, f);
    if (!s) {
        snprintf(err, errlen, "'%s': tensor '%s' is missing%s", c->path, t->name,
                 t->part == PART_LM_HEAD ? "\n  hint: a checkpoint without it ties the LM head to the embedding: the "
                                           "layout's model says so with tie_embeddings = true" : "");
        return NULL;
    }
    if (s->dtype == ST_OTHER) {
        snprintf(err, errlen, "'%s': tensor '%s' has dtype %s; expected BF16, F16 or F32", (*f)->path, t->name,
                 s->dtype_name);
        return NULL;
    }
    if (!shape_matches(s, t)) {
        char got[128], want[64];
        model_format_shape(got, sizeof got, s->ndim, s->shape);
        model_format_shape(want, sizeof want, t->ndim, t->shape);
        snprintf(err, errlen, "'%s': tensor '%s' has shape %s; the layout needs %s", (*f)->path, t->name, got, want);
        return NULL;
    }
    return s;
}

/* Copies one expected tensor out of the checkpoint (checked by find_tensor), or says why it cannot. */
static bool read_tensor(const StCheckpoint *c, const ModelTensor *t, DType dtype, char *err, size_t errlen) {
    const StFile *f;
    const StTensor *s = find_tensor(c, t, &f, err, errlen);
    if (!s) return false;
    int64_t count = tensor_elems(t);
    st_to_f32(s, model_tensor_data(t), count);
    st_release(f, s);
    if (!check_finite(f, t, count, err, errlen)) return false;
    bool exact = (s->dtype == ST_BF16 && dtype == DT_BF16) || (s->dtype == ST_F16 && dtype == DT_FP16);
    if (!exact) model_round_to_dtype(model_tensor_data(t), count, dtype);   /* else rounding changes nothing */
    return true;
}

/* A reading layer must not come with K/V projections: the file was made for another layout. */
static bool check_reader_kv(const StCheckpoint *f, const Layout *l, const char *prefix, char *err, size_t errlen) {
    for (int i = 0; i < l->nlayers; i++) {
        if (l->layer[i].reads == i) continue;
        for (int k = 0; k < 2; k++) {
            char name[128];
            snprintf(name, sizeof name, "%smodel.layers.%d.self_attn.%c_proj.weight", prefix, i, k ? 'v' : 'k');
            if (st_checkpoint_find(f, name, NULL)) {
                snprintf(err, errlen,
                         "'%s': tensor '%s' is present, but layer %d reads layer %d's cache and has no K/V "
                         "projection (the weights do not match this layout)",
                         f->path, name, i, l->layer[i].reads);
                return false;
            }
        }
    }
    return true;
}

/* A layout that ties its LM head to the embedding reads no lm_head.weight, but a checkpoint may hold
 * one all the same: a copy some writers keep, of the embedding's dtype, shape and bytes. That one is
 * the model's; NULL otherwise (a head of its own is a tensor the layout does not use). */
static const StTensor *tied_head_copy(const StCheckpoint *c, const Layout *l, const char *prefix) {
    if (!l->model.tie_embeddings) return NULL;
    char name[96];
    const StFile *head_file, *embed_file;
    snprintf(name, sizeof name, "%slm_head.weight", prefix);
    const StTensor *head = st_checkpoint_find(c, name, &head_file);
    snprintf(name, sizeof name, "%smodel.embed_tokens.weight", prefix);
    const StTensor *embed = st_checkpoint_find(c, name, &embed_file);
    if (!head || !embed || head->dtype != embed->dtype || head->ndim != embed->ndim || head->nbytes != embed->nbytes ||
        memcmp(head->shape, embed->shape, sizeof head->shape) != 0)
        return NULL;
    bool copy = memcmp(head->data, embed->data, head->nbytes) == 0;
    st_release(head_file, head);
    st_release(embed_file, embed);
    return copy ? head : NULL;
}

/* Tensors of the file the model does not use (a bias, a q_norm, an expert, a tied layout's own LM head:
 * the checkpoint computes something this model does not): their count, and unless allowed an error
 * naming the first few. form: what the checkpoint holds beyond the table's names (fused experts, a
 * vision tower); head_copy: tied_head_copy's. */
static bool check_unused(const StCheckpoint *f, const ModelTensor *t, int n, const CheckpointForm *form, int nlayers,
                         const StTensor *head_copy, bool allow, int *unused, char *err, size_t errlen) {
    enum { NAMED = 3 };
    int count = 0;
    size_t pos = 0;
    for (int k = 0; k < f->nfiles; k++) {
        const StFile *file = &f->file[k];
        bool *used = xcalloc((size_t)file->ntensors + 1, sizeof(bool));
        for (int i = 0; i < n; i++) {
            const StTensor *s = st_find(file, t[i].name);
            if (s) used[s - file->tensor] = true;
        }
        for (int i = 0; i < file->ntensors; i++) {
            if (used[i] || &file->tensor[i] == head_copy || model_form_skips(form, file->tensor[i].name, nlayers)) continue;
            if (count < NAMED && !allow && pos < errlen)
                pos += (size_t)snprintf(err + pos, errlen - pos, "%s'%.100s'", count ? ", " : "", file->tensor[i].name);
            count++;
        }
        free(used);
    }
    *unused = count;
    if (allow || count == 0) return true;
    char names[512];
    snprintf(names, sizeof names, "%s%s", err, count > NAMED ? ", ..." : "");
    snprintf(err, errlen,
             "'%s': %d tensor%s not used by this layout (%s): the checkpoint computes something the model of "
             "docs/model.md does not\n  hint: --ignore-unused-tensors runs without them",
             f->path, count, count == 1 ? " is" : "s are", names);
    return false;
}

/* rope_interleaved (Llama 4): the checkpoint's q and k rows pair dimensions 2i and 2i + 1 of each head
 * for RoPE; mixc's kernels rotate i with i + D/2. Row j of a head in mixc's order is the checkpoint's
 * row 2j (j < D/2), else 2(j - D/2) + 1: rotate_half on those rows is the checkpoint's rotation, and
 * as q and k are permuted alike, q.k (the scores) and each head's RMS (qk_norm) are unchanged. The
 * biases and q/k norm weights of each head move with their rows. to_mixc: checkpoint -> mixc (load),
 * else back (save). */
static void permute_heads(float *x, int64_t heads, int64_t D, int64_t cols, bool to_mixc) {
    if (!x) return;
    float *tmp = xmalloc((size_t)(D * cols) * sizeof(float));
    for (int64_t h = 0; h < heads; h++) {
        float *head = x + h * D * cols;
        memcpy(tmp, head, (size_t)(D * cols) * sizeof(float));
        for (int64_t j = 0; j < D; j++) {
            int64_t c = j < D / 2 ? 2 * j : 2 * (j - D / 2) + 1;
            memcpy(to_mixc ? head + j * cols : head + c * cols, to_mixc ? tmp + c * cols : tmp + j * cols,
                   (size_t)cols * sizeof(float));
        }
    }
    free(tmp);
}

/* Layer i's q/k rows, biases and norm weights (rope_interleaved: model_permute_rope_pairs). */
static void permute_layer(Model *m, int i, bool to_mixc) {
    if (!m->layout->model.rope_interleaved) return;
    LayerWeights *w = &m->layer[i];
    const ModelHeader lm = layer_model(m->layout, i), *h = &lm;   /* its own kv_heads and head_dim */
    permute_heads(w->wq, h->heads, h->head_dim, h->hidden, to_mixc);
    permute_heads(w->wk, h->kv_heads, h->head_dim, h->hidden, to_mixc);
    permute_heads(w->bq, h->heads, h->head_dim, 1, to_mixc);
    permute_heads(w->bk, h->kv_heads, h->head_dim, 1, to_mixc);
    permute_heads(w->q_norm, 1, h->head_dim, 1, to_mixc);
    permute_heads(w->k_norm, 1, h->head_dim, 1, to_mixc);
}

void model_permute_rope_pairs(Model *m, bool to_mixc) {
    for (int i = 0; i < m->layout->nlayers; i++) permute_layer(m, i, to_mixc);
}

/* A checkpoint opened for a layout, read whole (model_load_safetensors) or a part at a time (a
 * streamed model's): the model whose tensors it fills, and that model's table under the
 * checkpoint's names. */
struct ModelStream {
    StCheckpoint ckpt;
    CheckpointForm form;   /* Llama 4's, Mixtral's names, fused experts, language_model. (fused_experts.c) */
    Model held;            /* streamed: the tensors of part `holding` (NO_PART: none) */
    ModelTensor *t;
    int n, holding;
    Progress loaded;
};
enum { NO_PART = INT_MIN + 1 };

/* Opens path for layout l into s and checks everything its headers tell (a streamed load reads the
 * values later): the K/V of reading layers, every tensor's presence, dtype and shape, the fused
 * experts', then the tensors the layout does not use (after what is missing). */
static bool stream_open(ModelStream *s, const Layout *l, const char *path, bool allow_unused, int *unused, char *err,
                        size_t errlen) {
    memset(s, 0, sizeof *s);
    s->holding = NO_PART;
    if (!st_checkpoint_open(path, &s->ckpt, err, errlen)) return false;
    model_checkpoint_form(&s->ckpt, &l->model, &s->form);
    model_shell(&s->held, l);   /* the layout ties the head or not, as the plan does: not the file */
    s->n = model_tensors(&s->held, &s->t);
    model_rename_tensors(&s->form, s->t, s->n);
    s->loaded = progress_start("loading weights: tensor", s->n);
    bool ok = check_reader_kv(&s->ckpt, l, s->form.prefix, err, errlen);
    const StFile *f;
    for (int i = 0; i < s->n && ok; i++)
        if (!s->form.fused || !model_fused_target(s->t[i].name)) ok = find_tensor(&s->ckpt, &s->t[i], &f, err, errlen);
    for (int i = 0; s->form.fused && i < l->nlayers && ok; i++)
        ok = model_check_fused_experts(&s->ckpt, &s->form, l, i, err, errlen);
    int extra = 0;
    ok = ok && check_unused(&s->ckpt, s->t, s->n, &s->form, l->nlayers, tied_head_copy(&s->ckpt, l, s->form.prefix),
                            allow_unused, &extra, err, errlen);
    if (ok && unused) *unused = extra;
    return ok;
}

/* Reads `part` of the model (INT_MIN: all of it) into s->held's tensors, allocated before. */
static bool stream_read(ModelStream *s, int part, char *err, size_t errlen) {
    const Layout *l = s->held.layout;
    bool ok = true;
    for (int i = 0; i < s->n && ok; i++)
        if (part == INT_MIN || s->t[i].part == part) {
            if (!s->form.fused || !model_fused_target(s->t[i].name))
                ok = read_tensor(&s->ckpt, &s->t[i], l->model.dtype, err, errlen);
            progress_add(&s->loaded, 1);
        }
    for (int i = 0; i < l->nlayers && ok; i++)
        if (part == INT_MIN || part == i) {
            if (s->form.fused) ok = model_load_fused_experts(&s->ckpt, &s->form, &s->held, i, err, errlen);
            if (ok) permute_layer(&s->held, i, true);
        }
    return ok;
}

static void model_stream_close(ModelStream *s) {
    model_free(&s->held);
    free(s->t);
    st_checkpoint_close(&s->ckpt);
    free(s);
}

bool model_load_safetensors(Model *m, const Layout *l, const char *path, bool allow_unused, int *unused, char *err,
                            size_t errlen) {
    memset(m, 0, sizeof *m);   /* on failure too: model_free may be called on it */
    ModelStream *s = xmalloc(sizeof *s);
    bool ok = stream_open(s, l, path, allow_unused, unused, err, errlen);
    if (ok) {
        alloc_part(&s->held, s->t, s->n, INT_MIN);
        ok = stream_read(s, INT_MIN, err, errlen);
    }
    if (ok) {   /* m takes the weights (the table's slots point into s->held: not used again) */
        *m = s->held;
        memset(&s->held, 0, sizeof s->held);
    }
    model_stream_close(s);
    return ok;
}

bool model_stream_safetensors(Model *m, const Layout *l, const char *path, bool allow_unused, int *unused, char *err,
                              size_t errlen) {
    memset(m, 0, sizeof *m);
    ModelStream *s = xmalloc(sizeof *s);
    if (!stream_open(s, l, path, allow_unused, unused, err, errlen)) {
        model_stream_close(s);
        return false;
    }
    model_shell(m, l);
    m->stream = s;
    return true;
}

/* The model holding `part`, read from the checkpoint unless it holds it already (letting go of the
 * part it held); NULL with a message. */
static const Model *stream_hold(ModelStream *s, int part, char *err, size_t errlen) {
    if (s->holding != part) {
        if (s->loaded.done == 0) s->loaded = progress_start(s->loaded.what, s->loaded.total);   /* timed from here */
        if (s->holding != NO_PART) free_part(&s->held, s->t, s->n, s->holding);
        s->holding = NO_PART;
        alloc_part(&s->held, s->t, s->n, part);
        if (!stream_read(s, part, err, errlen)) {
            free_part(&s->held, s->t, s->n, part);
            return NULL;
        }
        s->holding = part;
    }
    return &s->held;
}

bool model_stream_read_all(const Model *m, char *err, size_t errlen) {
    const Layout *l = m->layout;
    bool ok = m->stream && stream_hold(m->stream, PART_EMBED, err, errlen);
    for (int i = 0; i < l->nlayers && ok; i++) ok = stream_hold(m->stream, i, err, errlen);
    ok = ok && stream_hold(m->stream, PART_NORM_FINAL, err, errlen);
    return ok && (l->model.tie_embeddings || stream_hold(m->stream, PART_LM_HEAD, err, errlen));
}

bool model_save_safetensors(Model *m, const char *path, char *err, size_t errlen) {
    DType md = m->layout->model.dtype;
    StDType dt = md == DT_FP32 ? ST_F32 : md == DT_FP16 ? ST_F16 : ST_BF16;
    StWriter w = {0};
    ModelTensor *t;
    int n = model_tensors(m, &t);
    model_permute_rope_pairs(m, false);   /* written in the checkpoint's order, as loaded */
    for (int i = 0; i < n; i++) st_writer_add(&w, t[i].name, dt, t[i].ndim, t[i].shape, model_tensor_data(&t[i]));
    model_permute_rope_pairs(m, true);
    free(t);
    bool ok = st_writer_save(&w, path, err, errlen);
    st_writer_free(&w);
    return ok;
}

int32_t model_greedy_token(const float *logits, int64_t vocab) {
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; i++)
        if (logits[i] > logits[best]) best = i;
    return (int32_t)best;
}

const float *model_plan_weight(const Model *m, const WeightSlot *w) {
    float **slot = w->layer >= 0 ? model_layer_slot(&m->layer[w->layer], w->ref) : NULL;
    if (w->layer >= 0) return slot ? *slot : NULL;
    return w->ref == WT_EMBED ? m->embed : w->ref == WT_NORM_FINAL ? m->norm_final : m->lm_head;
}

/* The part of model m holding plan weight w: its layer, or its one global tensor (a tied head is the
 * embedding). */
static int slot_part(const Model *m, const WeightSlot *w) {
    if (w->layer >= 0) return w->layer;
    if (w->ref == WT_NORM_FINAL) return PART_NORM_FINAL;
    return w->ref == WT_EMBED || m->layout->model.tie_embeddings ? PART_EMBED : PART_LM_HEAD;
}

int model_plan_weight_parts(const Model *m, const WeightSlot *w, const float *part[3], int64_t count[3], char *err,
                            size_t errlen) {
    if (m->stream && !(m = stream_hold(m->stream, slot_part(m, w), err, errlen))) return 0;
    WeightRef refs[3];
    int n = w->layer >= 0 ? plan_fused_parts(w->ref, refs) : 0;
    int64_t at = 0;
    bool ok = true;
    if (!n) {
        part[0] = model_plan_weight(m, w), count[0] = w->rows * w->cols, n = 1;
        ok = part[0] != NULL;
    } else {
        const ModelHeader lm = layer_model(m->layout, w->layer);   /* the parts by the layer's own shape */
        for (int k = 0; k < n && ok; k++) {   /* each part's rows after the previous part's */
            int64_t in, out;
            plan_weight_shape(&lm, refs[k], &in, &out);
            part[k] = *model_layer_slot(&m->layer[w->layer], refs[k]), count[k] = in * out;
            ok = part[k] != NULL;
            at += count[k];
        }
        ok = ok && at == w->rows * w->cols;
    }
    return ok ? n : (errorf(err, errlen, "internal error: the model lacks the run plan's weight %s of layer %d",
                            weight_ref_name(w->ref), w->layer), 0);
}

bool model_fill_plan_weight(const Model *m, const WeightSlot *w, float *dst, char *err, size_t errlen) {
    const float *part[3];
    int64_t count[3];
    int n = model_plan_weight_parts(m, w, part, count, err, errlen);
    for (int k = 0; k < n; k++) {
        memcpy(dst, part[k], (size_t)count[k] * sizeof *dst);
        dst += count[k];
    }
    return n > 0;
}

bool model_matches_plan(const Model *m, const RunPlan *p) {
    ModelTensor *t = NULL;
    int n = model_tensors((Model *)m, &t);
    int64_t model = 0, plan = 0;
    for (int i = 0; i < n; i++) model += t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
    free(t);
    for (int i = 0; i < p->nweights; i++) plan += p->weight[i].rows * p->weight[i].cols;
    return model == plan;
}
