/* hf_attention.c — which attention each layer of a Hugging Face config computes, where a config
 * lists it (layer_types: sliding_attention, full_attention, chunked_attention), and Llama 4 text
 * configs (model_type llama4, with text_config, or llama4_text), as transformers' Llama4TextConfig
 * and modeling_llama4 read them:
 *
 * - no_rope_layers: one per layer, 1 where the layer uses RoPE; absent, every
 *   no_rope_layer_interval-th layer (4: layers 3, 7, ...) has no RoPE (NoPE). hf_rope.c reads it.
 * - layer_types, when the config has it, names each layer "chunked_attention" or "full_attention";
 *   absent, the RoPE layers are chunked and the NoPE layers global (Llama4TextConfig's default).
 * - attention_chunk_size C: a chunked layer's query at i sees keys j with j // C == i // C
 *   (transformers' chunked causal mask), which is mixc's `chunked C`.
 * - moe_layers, else interleave_moe_layer_step s (layers s-1, 2s-1, ...): the layers whose feed
 *   forward is a mixture of num_local_experts experts of intermediate_size each (and a shared one);
 *   the others are a dense MLP of intermediate_size_mlp. A config with experts in every layer imports
 *   as a mixture of experts, one with experts on layers s-1, 2s-1, ... as moe_step s and dense_ffn
 *   (hf_experts.c; another list of MoE layers is refused by name there); a dense config imports with
 *   ffn = intermediate_size_mlp.
 */
#include "hf_config.h"

#include <stdio.h>
#include <string.h>

bool hf_is_llama4(const HfConfig *c) {
    return !strcmp(c->model_type, "llama4") || !strcmp(c->model_type, "llama4_text");
}

/* How many layers route to experts, from moe_layers or interleave_moe_layer_step; *key names the
 * field that said so. -1 when the field is malformed. */
static int64_t moe_layer_count(const HfConfig *c, int64_t layers, const char **key) {
    json_t *list = hf_field(c, "moe_layers"), *x;
    size_t i;
    if (list) {
        *key = "moe_layers";
        if (!json_is_array(list)) return -1;
        json_array_foreach(list, i, x) if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                                           json_integer_value(x) >= layers) return -1;
        return (int64_t)json_array_size(list);
    }
    *key = "interleave_moe_layer_step";
    json_t *step = hf_field(c, "interleave_moe_layer_step");
    if (!step) return 0;
    if (!json_is_integer(step) || json_integer_value(step) < 0) return -1;
    int64_t s = json_integer_value(step);
    return s == 0 ? 0 : layers / s;   /* layers s-1, 2s-1, ... below `layers` */
}

void hf_llama4_support(const HfConfig *c, ModelHeader *m, HfRefuse refuse, void *ctx) {
    const char *key;
    int64_t moe = moe_layer_count(c, m->layers, &key);
    char what[192];
    if (moe > 0) {     /* every layer, or every s-th (moe_step, dense_ffn): the experts (hf_experts.c) */
        hf_map_experts(c, m, refuse, ctx);
        return;
    }
    if (moe < 0) {
        hf_describe(key, hf_field(c, key), what, sizeof what);
        refuse(ctx, what, "mixc reads a list of layer indices or a step >= 0");
        return;
    }
    json_t *mlp = hf_field(c, "intermediate_size_mlp");   /* the dense layers' width */
    if (json_is_integer(mlp) && json_integer_value(mlp) >= 1 && json_integer_value(mlp) < MIXC_MAX_VALUE)
        m->ffn = json_integer_value(mlp);
    else if (mlp) {
        hf_describe("intermediate_size_mlp", mlp, what, sizeof what);
        refuse(ctx, what, "the dense MLP's width must be a positive integer");
    }
}

/* attention_chunk_size: a positive integer, else 0 with a message in err. */
static int64_t chunk_size(const HfConfig *c, char *err, size_t errlen) {
    json_t *size = hf_field(c, "attention_chunk_size");
    int64_t C = json_is_integer(size) ? json_integer_value(size) : 0;
    if (C >= 1 && C < MIXC_MAX_VALUE) return C;
    snprintf(err, errlen, "'attention_chunk_size' must be a positive integer%s", size ? "" : " (chunked layers need it)");
    return 0;
}

bool hf_llama4_chunked(const HfConfig *c, int n, int64_t *chunked, char *err, size_t errlen) {
    if (!hf_field(c, "attention_chunk_size")) return true;   /* null: Llama4TextConfig's layer types are all full */
    int64_t C = chunk_size(c, err, errlen);
    for (int i = 0; C && i < n; i++) chunked[i] = hf_nope_layer(c, n, i) ? 0 : C;
    return C != 0;
}

bool hf_read_layer_sinks(const HfConfig *c, Layout *l, char *err, size_t errlen) {
    if (!strcmp(c->model_type, "gpt_oss")) {   /* GptOssAttention: sinks in every layer */
        for (int i = 0; i < l->nlayers; i++) l->layer[i].sinks = true;
        return true;
    }
    json_t *v = json_object_get(c->root, "mixc_sinks"), *x;
    size_t i;
    if (!v) return true;
    bool ok = json_is_array(v) && (int)json_array_size(v) == l->nlayers;
    json_array_foreach(ok ? v : NULL, i, x) ok = ok && json_is_boolean(x);
    if (!ok) {
        snprintf(err, errlen, "'mixc_sinks' must be a list of %d booleans (true: the layer has attention sinks)", l->nlayers);
        return false;
    }
    json_array_foreach(v, i, x) l->layer[i].sinks = json_is_true(x);
    return true;
}

bool hf_layer_types(const HfConfig *c, json_t *v, int n, bool *sliding, int64_t *chunked, char *err, size_t errlen) {
    if (!json_is_array(v)) {
        snprintf(err, errlen, "'layer_types' must be a list of strings");
        return false;
    }
    if ((int)json_array_size(v) != n) {
        snprintf(err, errlen, "'layer_types' has %zu entries but num_hidden_layers is %d", json_array_size(v), n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, (size_t)i));
        sliding[i] = s && !strcmp(s, "sliding_attention");
        if (s && !strcmp(s, "chunked_attention")) {
            if (!(chunked[i] = chunk_size(c, err, errlen))) return false;
        } else if (!sliding[i] && !(s && !strcmp(s, "full_attention"))) {
            snprintf(err, errlen, "'layer_types' entry %d is %s%.40s%s; mixc knows sliding_attention, full_attention "
                     "and chunked_attention", i, s ? "'" : "", s ? s : "not a string", s ? "'" : "");
            return false;
        }
    }
    return true;
}
