/* manifest.json — what `mixc emit` writes beside kernels.cu: every kernel variant with its launch
 * rules (block, grid formula, shared memory), the caches, each layer's kernels, and the constants
 * the small kernels bake in. The plan's memory map and schedule come in through `extra`.
 */
#include "codegen.h"

#include <jansson.h>
#include <stdlib.h>

#include "plan.h"

static json_t *grid_json(const KernelVariant *v) {
    json_t *a = json_array();
    for (int d = 0; d < 3; d++) {
        char f[64];
        bool is_const;
        kernel_grid_formula(v, d, f, sizeof f, &is_const);
        json_array_append_new(a, is_const ? json_integer(v->grid[d].mul) : json_string(f));
    }
    return a;
}

static json_t *kernel_json(const KernelVariant *v) {
    json_t *k = json_object();
    json_object_set_new(k, "name", json_string(v->name));
    json_object_set_new(k, "kind", json_string(kernel_kind_name(v->kind)));
    json_object_set_new(k, "params", json_string(kernel_params_name(v->kind)));
    if (v->head_dim) json_object_set_new(k, "head_dim", json_integer(v->head_dim));
    if (v->group) json_object_set_new(k, "group", json_integer(v->group));
    if (v->kv_heads) json_object_set_new(k, "kv_heads", json_integer(v->kv_heads));
    if (v->heads) json_object_set_new(k, "heads", json_integer(v->heads));
    if (v->kind == KV_ATTN_PREFILL || v->kind == KV_ATTN_DECODE)
        json_object_set_new(k, "window", json_integer(v->window));
    if (v->chunked) json_object_set_new(k, "chunked", json_integer(v->chunked));   /* absent: not chunked */
    if (v->capacity) json_object_set_new(k, "capacity", json_integer(v->capacity));
    if (v->page) json_object_set_new(k, "page_tokens", json_integer(v->page));
    if (v->width) json_object_set_new(k, "width", json_integer(v->width));
    if (v->row) json_object_set_new(k, "row", json_integer(v->row));
    if (v->kind == KV_MOE_GEMM)
        json_object_set_new(k, "moe", json_pack("{s:I, s:I, s:b}", "in", (json_int_t)v->moe_in, "out",
                                                (json_int_t)v->moe_out, "down", v->moe_down));
    json_t *block = json_pack("[iii]", v->block, 1, 1);
    json_object_set_new(k, "block", block);
    if (v->min_blocks) json_object_set_new(k, "min_blocks_per_sm", json_integer(v->min_blocks));
    json_object_set_new(k, "grid", grid_json(v));
    json_object_set_new(k, "dynamic_smem", json_integer(v->dynamic_smem));
    /* Above 48 KiB the launcher must raise cudaFuncAttributeMaxDynamicSharedMemorySize first. */
    json_object_set_new(k, "smem_optin", json_boolean(v->dynamic_smem > CODEGEN_STATIC_SMEM_LIMIT));
    if (v->splits) json_object_set_new(k, "splits", json_integer(v->splits));
    return k;
}

/* A mixture of experts: what its kernels bake in (the kernel tests read it) and their names. */
static void moe_manifest(const Layout *l, const Codegen *cg, json_t *root, json_t *model) {
    const ModelHeader *m = &l->model;
    if (!m->experts) return;
    json_object_set_new(root, "experts", json_pack("{s:I, s:I, s:s, s:I, s:b}", "experts", (json_int_t)m->experts,
                                                   "experts_per_token", (json_int_t)m->experts_per_token, "router",
                                                   router_kind_name(m->router), "shared_expert_ffn",
                                                   (json_int_t)m->shared_expert_ffn, "moe_bias", m->moe_bias));
    if (m->moe_step > 1) {   /* experts on layers moe_step-1, 2 moe_step-1, ...; the others dense of dense_ffn */
        json_t *e = json_object_get(root, "experts");
        json_object_set_new(e, "moe_step", json_integer(m->moe_step));
        json_object_set_new(e, "dense_ffn", json_integer(m->dense_ffn));
    }
    const struct {
        const char *key;
        int k;
    } names[] = {{"router_bias_add", cg->router_bias}, {"moe_route", cg->moe_route}, {"moe_gate_up", cg->moe_gate_up},
                 {"moe_down", cg->moe_down}, {"expert_act", cg->expert_act}, {"shared_act", cg->shared_act},
                 {"moe_combine", cg->moe_combine}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].k >= 0) json_object_set_new(model, names[i].key, json_string(cg->kernel[names[i].k].name));
}

static json_t *layer_json(const Layout *l, const Codegen *cg, int i) {
    const LayerInfo *li = &l->layer[i];
    const LayerKernels *lk = &cg->layer[i];
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(li->index));
    json_object_set_new(o, "window", json_integer(li->window));
    if (li->chunked) json_object_set_new(o, "chunked", json_integer(li->chunked));
    json_object_set_new(o, "cache", json_integer(li->cache));
    json_object_set_new(o, "owner", json_boolean(li->reads == li->index));
    json_object_set_new(o, "reads", json_integer(li->reads));
    json_object_set_new(o, "rope", json_string(cg->kernel[lk->rope].name));
    json_object_set_new(o, "prefill", json_string(cg->kernel[lk->prefill].name));
    json_object_set_new(o, "decode", json_string(cg->kernel[lk->decode].name));
    json_object_set_new(o, "decode_reduce", json_string(cg->kernel[lk->decode_reduce].name));
    const struct {   /* those of the layer's shape (model_kernels names layer 0's) */
        const char *key;
        int k;
    } shaped[] = {{"bias_add_q", lk->bias_q}, {"bias_add_qkv", lk->bias_qkv}, {"head_norm_q", lk->head_norm_q},
                  {"head_norm_k", lk->head_norm_k}};
    for (size_t k = 0; k < sizeof shaped / sizeof shaped[0]; k++)
        if (shaped[k].k >= 0) json_object_set_new(o, shaped[k].key, json_string(cg->kernel[shaped[k].k].name));
    return o;
}

char *codegen_manifest(const Layout *l, const Codegen *cg, json_t *extra) {
    const ModelHeader *m = &l->model;
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f}",
                             "mixc_version", MIXC_VERSION, "model", m->name, "arch", cg->arch, "dtype",
                             dtype_name(m->dtype), "kv_dtype", dtype_name(m->kv_dtype), "context", (json_int_t)cg->context, "chunk",
                             (json_int_t)cg->chunk, "heads", (json_int_t)m->heads, "kv_heads",
                             (json_int_t)m->kv_heads, "head_dim", (json_int_t)m->head_dim, "hidden",
                             (json_int_t)m->hidden, "ffn", (json_int_t)m->ffn, "vocab", (json_int_t)m->vocab,
                             "rope_theta", m->rope_theta, "norm_eps", m->norm_eps, "softmax_scale",
                             model_attention_scale(m));
    if (!root) fatal("out of memory");  /* the name was checked as UTF-8 when the layout was read */
    /* what the small kernels bake in beside the sizes (the emulator tests read them) */
    json_object_set_new(root, "norm_weight_offset", json_real(m->norm == NORM_RMS_PLUS_ONE ? 1.0 : 0.0));
    json_object_set_new(root, "embed_scale", json_real(model_embed_scale(m)));
    json_object_set_new(root, "attn_softcap", json_real(m->attn_softcap));
    json_object_set_new(root, "logit_softcap", json_real(m->logit_softcap));
    if (m->activation == ACT_CLAMPED_SWIGLU) {   /* the gated activation's constants */
        json_object_set_new(root, "swiglu_limit", json_real(m->swiglu_limit));
        json_object_set_new(root, "swiglu_alpha", json_real(m->swiglu_alpha));
    }
    json_t *kernels = json_array();
    for (int i = 0; i < cg->nkernels; i++) json_array_append_new(kernels, kernel_json(&cg->kernel[i]));
    json_object_set_new(root, "kernels", kernels);
    json_t *model = json_object();
    json_object_set_new(model, "rmsnorm", json_string(cg->kernel[cg->rmsnorm].name));
    if (cg->silu_mul >= 0) json_object_set_new(model, "silu_mul", json_string(cg->kernel[cg->silu_mul].name));
    json_object_set_new(model, "add_rmsnorm", json_string(cg->kernel[cg->add_rmsnorm].name));
    if (cg->residual_add >= 0)   /* the shared expert's down added to the experts' */
        json_object_set_new(model, "residual_add", json_string(cg->kernel[cg->residual_add].name));
    json_object_set_new(model, "embed", json_string(cg->kernel[cg->embed].name));
    json_object_set_new(model, "argmax", json_string(cg->kernel[cg->argmax].name));
    if (cg->bias_qkv >= 0) json_object_set_new(model, "bias_add_qkv", json_string(cg->kernel[cg->bias_qkv].name));
    if (cg->bias_o >= 0) json_object_set_new(model, "bias_add_o", json_string(cg->kernel[cg->bias_o].name));
    if (cg->head_norm_q >= 0) {
        json_object_set_new(model, "head_norm_q", json_string(cg->kernel[cg->head_norm_q].name));
        json_object_set_new(model, "head_norm_k", json_string(cg->kernel[cg->head_norm_k].name));
    }
    moe_manifest(l, cg, root, model);
    json_object_set_new(root, "model_kernels", model);
    json_t *caches = json_array();
    for (int c = 0; c < l->ncaches; c++) {
        const CacheInfo *ci = &l->cache[c];
        json_t *readers = json_array();
        for (int r = 0; r < ci->nreaders; r++) json_array_append_new(readers, json_integer(ci->readers[r]));
        json_array_append_new(caches, json_pack("{s:i, s:i, s:I, s:b, s:I, s:o}", "id", ci->id, "owner",
                                                ci->owner, "capacity", (json_int_t)cg->capacity[c],
                                                "ring", cg->capacity[c] < cg->context, "retention",
                                                (json_int_t)ci->retention, "readers", readers));
    }
    json_object_set_new(root, "caches", caches);
    json_t *layers = json_array();
    for (int i = 0; i < l->nlayers; i++) json_array_append_new(layers, layer_json(l, cg, i));
    json_object_set_new(root, "layers", layers);
    if (extra) {
        json_object_update(root, extra);
        json_decref(extra);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) fatal("out of memory");
    Buf with_nl = {0};
    buf_printf(&with_nl, "%s\n", text);
    free(text);
    return with_nl.data;
}
