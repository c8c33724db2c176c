/* hf_support.c — which parts of a Hugging Face config mixc computes exactly (docs/interop.md, "What
 * is refused" and "What is read").
 *
 * mixc runs one decoder (docs/model.md): plain RoPE over the whole head with one rope_theta, a gated
 * dense MLP, softmax attention on every layer, and the header's variations (q/k/v biases, q/k norms,
 * Gemma's (1 + w) and sandwich norms, GELU, the embedding scale, soft-caps, query_pre_attn_scalar).
 * What a config asks for among the variations is mapped into the header here; anything else would
 * import to a layout that runs and gives other logits than the model's, so every such field is
 * reported by name and value (hf_import.c refuses it, or under --allow-unsupported warns and records
 * it in the .mix). What a family's modeling code does that no config field states is mapped, or
 * reported, by model_type. */
#include "hf_config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A model_type or a field, and what about it mixc does not compute. */
typedef struct {
    const char *name, *why;
} Rule;

typedef struct {
    const HfConfig *c;
    ModelHeader *m;
    HfRefuse refuse;
    void *ctx;
} Checker;

static void report(const Checker *k, const char *key, json_t *v, const char *why) {
    char what[192];
    hf_describe(key, v, what, sizeof what);
    /* A value the config omits and its class supplies (hf_import.c's family_defaults) says so. */
    const HfConfig *c = k->c;
    if (!json_object_get(c->cfg, key) && !json_object_get(c->root, key) && c->defaults && json_object_get(c->defaults, key))
        snprintf(what + strlen(what), sizeof what - strlen(what), " (the default of model_type %.40s)", c->model_type);
    k->refuse(k->ctx, what, why);
}

void hf_describe(const char *key, json_t *v, char *out, size_t n) {
    enum { LONGEST = 60 };
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    const char *shown = text ? text : "?";
    size_t len = strlen(shown);
    char name[64];   /* a key from the file, made safe for one line of a .mix comment */
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof name; i++) name[i] = key[i] >= ' ' && key[i] <= '~' ? key[i] : '?';
    name[i] = '\0';
    key = name;
    if (len <= LONGEST) {
        snprintf(out, n, "'%s' %s", key, shown);
    } else {
        /* Cut after the last complete item that fits, so the value still reads as JSON. */
        size_t cut = LONGEST;
        while (cut > 1 && strncmp(shown + cut, ", ", 2)) cut--;
        if (cut <= 1) cut = LONGEST;
        snprintf(out, n, "'%s' %.*s, ...%s", key, (int)cut, shown, shown[0] == '[' ? "]" : shown[0] == '{' ? "}" : "");
    }
    free(text);
}

/* ------------------------------------------------------------------ families */

#define GEMMA_NORMS "Gemma's RMSNorm scales by 1 + weight and its embedding by sqrt(hidden_size)"

/* What each family computes that no config field states (transformers' modeling code); NULL where
 * mixc computes the family's decoder once its fields pass the checks below. */
static const Rule FAMILIES[] = {
    {"", NULL},              /* no model_type: what `mixc export --hf` writes, mixc's own decoder */
    {"llama", NULL},
    {"mistral", NULL},
    {"ministral", NULL},
    {"mixtral", NULL},       /* Mistral with experts (hf_experts.c) */
    {"smollm3", NULL},       /* Llama with NoPE layers: no_rope_layers, no_rope_layer_interval */
    {"qwen2", NULL},         /* q, k, v biases always (Qwen2Attention): imported as qkv_bias */
    {"qwen2_moe", "its q_proj, k_proj and v_proj always have biases and a shared expert runs beside the routed ones"},
    {"qwen3", NULL},         /* q/k norms: qk_norm (FAMILY_VARIATIONS) */
    {"qwen3_moe", NULL},     /* Qwen3 with experts (hf_experts.c) */
    {"gemma", GEMMA_NORMS ", and Gemma 1's activation depends on the transformers version"},
    {"gemma2", NULL},        /* FAMILY_VARIATIONS */
    {"gemma3", NULL},
    {"gemma3_text", NULL},
    {"gemma3n", "Gemma 3n's AltUp, LAuReL, per-layer embeddings and q/k/v norms; mixc computes none of them"},
    {"gemma3n_text", "Gemma 3n's AltUp, LAuReL, per-layer embeddings and q/k/v norms; mixc computes none of them"},
    {"gpt_oss", NULL},       /* sinks, biases, experts (hf_experts.c) and its clamped SwiGLU (map_activation) */
    {"cohere2", "LayerNorm, attention and MLP in parallel, and no RoPE on global layers; mixc computes RMSNorm, "
                "one after the other, RoPE everywhere"},
    {"hymba", "Mamba heads beside attention, and meta tokens; mixc computes attention only"},
    {"olmo3", "norms after attention and MLP instead of before, and q/k norms; mixc computes pre-norms only"},
    {"llama4", NULL},        /* chunked and NoPE layers (hf_attention.c); experts in every layer or every s-th (hf_experts.c) */
    {"llama4_text", NULL},
};

static void check_family(const Checker *k) {
    json_t *type = hf_field(k->c, "model_type");
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
        if (strcmp(k->c->model_type, FAMILIES[i].name) || (!*FAMILIES[i].name && type)) continue;
        if (FAMILIES[i].why) report(k, "model_type", type, FAMILIES[i].why);
        else if ((!strcmp(k->c->model_type, "gemma3") || !strcmp(k->c->model_type, "llama4")) && k->c->cfg == k->c->root)
            report(k, "model_type", type, "its config class reads the text model from text_config, which this config "
                                          "lacks; the top-level fields are not the model's");
        return;
    }
    Buf why = {0};   /* the families whose decoder mixc computes, from the table */
    buf_puts(&why, "a model mixc does not know; it computes the decoder of");
    size_t n = sizeof FAMILIES / sizeof FAMILIES[0], last = n;
    while (last && FAMILIES[last - 1].why) last--;
    for (size_t i = 0, listed = 0; i < n; i++) {
        if (!*FAMILIES[i].name || FAMILIES[i].why) continue;
        buf_printf(&why, "%s %s", !listed++ ? "" : i + 1 == last ? " and" : ",", FAMILIES[i].name);
    }
    buf_puts(&why, " configs");
    report(k, "model_type", type, why.data);
    buf_free(&why);
}

/* What the families compute beyond Llama's decoder that the header states (transformers' modeling
 * code): Qwen3Attention's and Gemma3Attention's q_norm/k_norm; Gemma2/3's RMSNorm (1 + w), their
 * sandwich norms (post_attention, pre_ and post_feedforward_layernorm) and their embedding scale. */
static const struct {
    const char *type;
    bool qk_norm, gemma;
} FAMILY_VARIATIONS[] = {
    {"qwen3", true, false}, {"qwen3_moe", true, false}, {"gemma2", false, true}, {"gemma3", true, true}, {"gemma3_text", true, true},
};

/* The family's variations, and those `mixc export --hf` writes under mixc_ names (its own decoder
 * has no model_type to imply them). */
static void map_family(const Checker *k) {
    ModelHeader *m = k->m;
    for (size_t i = 0; i < sizeof FAMILY_VARIATIONS / sizeof FAMILY_VARIATIONS[0]; i++) {
        if (strcmp(k->c->model_type, FAMILY_VARIATIONS[i].type)) continue;
        m->qk_norm = FAMILY_VARIATIONS[i].qk_norm;
        if (FAMILY_VARIATIONS[i].gemma) m->norm = NORM_RMS_PLUS_ONE, m->sandwich_norms = m->embed_scale = true;
    }
    m->rope_interleaved = hf_is_llama4(k->c);   /* apply_rotary_emb: complex products of adjacent pairs */
    static const struct { const char *key; size_t offset; } flags[] = {
        {"mixc_qk_norm", offsetof(ModelHeader, qk_norm)}, {"mixc_sandwich_norms", offsetof(ModelHeader, sandwich_norms)},
        {"mixc_embed_scale", offsetof(ModelHeader, embed_scale)},
        {"mixc_rope_interleaved", offsetof(ModelHeader, rope_interleaved)},
        {"mixc_qk_l2_norm", offsetof(ModelHeader, qk_l2_norm)},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        json_t *v = json_object_get(k->c->root, flags[i].key);
        if (json_is_true(v)) *(bool *)((char *)m + flags[i].offset) = true;
        else if (v && !json_is_false(v)) report(k, flags[i].key, v, "it must be true or false");
    }
    json_t *norm = json_object_get(k->c->root, "mixc_norm");
    if (norm && json_is_string(norm) && !strcmp(json_string_value(norm), norm_kind_name(NORM_RMS_PLUS_ONE)))
        m->norm = NORM_RMS_PLUS_ONE;
    else if (norm && !(json_is_string(norm) && !strcmp(json_string_value(norm), norm_kind_name(NORM_RMS))))
        report(k, "mixc_norm", norm, "mixc computes rms and rms_plus_one");
}

/* A positive number into *out (soft-caps, query_pre_attn_scalar); false, and reported, otherwise. */
static bool positive(const Checker *k, const char *key, json_t *v, double *out) {
    if (json_is_number(v) && json_number_value(v) > 0 && real_value_ok(json_number_value(v))) {
        *out = json_number_value(v);
        return true;
    }
    report(k, key, v, "mixc takes a positive number here");
    return false;
}

/* attn_logit_softcapping, final_logit_softcapping (null or 0: none) and query_pre_attn_scalar (its
 * -1/2 power scales the scores: written only when it is not head_dim). */
static void map_scales(const Checker *k) {
    ModelHeader *m = k->m;
    json_t *v = hf_field(k->c, "attn_logit_softcapping");
    if (v && !(json_is_number(v) && json_number_value(v) == 0)) positive(k, "attn_logit_softcapping", v, &m->attn_softcap);
    v = hf_field(k->c, "final_logit_softcapping");
    if (v && !(json_is_number(v) && json_number_value(v) == 0)) positive(k, "final_logit_softcapping", v, &m->logit_softcap);
    double s;
    v = hf_field(k->c, "query_pre_attn_scalar");
    if (v && positive(k, "query_pre_attn_scalar", v, &s) && s != (double)m->head_dim) m->query_pre_attn_scalar = s;
}

/* ------------------------------------------------------------------ fields */

/* Fields whose every value but null, false, 0 or [] asks for something mixc does not compute. */
static const Rule MUST_BE_OFF[] = {
    {"attention_bias", "mixc computes attention_bias (q, k, v and o biases) in llama and gpt_oss configs only"},
    {"qkv_bias", "mixc's attention projections have no biases"},
    {"mlp_bias", "mixc's MLP projections have no biases"},
    {"use_qk_norm", "transformers reads it in llama4 configs only; other families' q/k norms come with their model_type"},
    {"attention_chunk_size", "transformers reads chunked attention in llama4 configs only (model_type llama4 or llama4_text)"},
    {"attn_temperature_tuning", "transformers reads it in llama4 configs only (model_type llama4 or llama4_text)"},
    {"attn_layer_period", "mixc computes attention on every layer, with no Mamba layers"},
    {"attn_layer_offset", "mixc computes attention on every layer, with no Mamba layers"},
    {"layers_block_type", "mixc computes attention on every layer, with no Mamba layers"},
    {"full_attention_interval", "mixc computes softmax attention on every layer, no linear attention"},
    {"use_bidirectional_attention", "mixc computes causal attention"},
};


/* Factors mixc computes as 1. */
static const Rule MUST_BE_ONE[] = {
    {"partial_rotary_factor", "mixc rotates the whole head"},
    {"logit_scale", "mixc does not scale the logits"},
    {"logits_scaling", "mixc does not scale the logits"},
    {"embedding_multiplier", "mixc does not scale the embedding"},
    {"residual_multiplier", "mixc does not scale the residual branches"},
};

static bool is_off(json_t *v) {
    return !v || json_is_false(v) || (json_is_number(v) && json_number_value(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

/* attention_bias in LlamaAttention (and GptOssAttention): one switch for the q, k, v and o
 * projections' biases, which qkv_bias and o_bias compute (checked against transformers in tests/hf
 * for llama); true elsewhere is refused. */
static bool map_attention_bias(const Checker *k) {
    json_t *v = hf_field(k->c, "attention_bias");
    if (!json_is_true(v) || (strcmp(k->c->model_type, "llama") && strcmp(k->c->model_type, "gpt_oss"))) return false;
    k->m->qkv_bias = k->m->o_bias = true;
    return true;
}

/* attn_temperature_tuning (Llama4TextAttention): floor_scale, a positive integer, and attn_scale. */
static void map_temperature(const Checker *k) {
    json_t *floor = hf_field(k->c, "floor_scale"), *scale = hf_field(k->c, "attn_scale");
    if (!json_is_integer(floor) || json_integer_value(floor) < 1 || json_integer_value(floor) > MIXC_MAX_VALUE)
        report(k, "floor_scale", floor, "mixc needs Llama 4's floor_scale as a positive integer");
    else if (!json_is_number(scale) || !real_value_ok(json_number_value(scale)))
        report(k, "attn_scale", scale, "mixc needs Llama 4's attn_scale as a number");
    else
        k->m->nope_temperature_floor = json_integer_value(floor), k->m->nope_temperature_scale = json_number_value(scale);
}

static void check_switches(const Checker *k) {
    bool biases = map_attention_bias(k);
    for (size_t i = 0; i < sizeof MUST_BE_OFF / sizeof MUST_BE_OFF[0]; i++) {
        json_t *v = hf_field(k->c, MUST_BE_OFF[i].name);
        if (biases && !strcmp(MUST_BE_OFF[i].name, "attention_bias")) continue;   /* mapped */
        if ((hf_is_llama4(k->c) || !*k->c->model_type) && !strcmp(MUST_BE_OFF[i].name, "attention_chunk_size"))
            continue;   /* their chunked layers (mixc's own export has no model_type) */
        if ((hf_is_llama4(k->c) || !*k->c->model_type) && !strcmp(MUST_BE_OFF[i].name, "attn_temperature_tuning")) {
            if (!is_off(v)) map_temperature(k);   /* its NoPE layers' (mixc's own export writes these names) */
            continue;
        }
        if (hf_is_llama4(k->c) && !strcmp(MUST_BE_OFF[i].name, "use_qk_norm")) {
            k->m->qk_l2_norm = !is_off(v);   /* Llama4TextL2Norm on the RoPE layers */
            continue;
        }
        if (!is_off(v)) report(k, MUST_BE_OFF[i].name, v, MUST_BE_OFF[i].why);
    }
    for (size_t i = 0; i < sizeof MUST_BE_ONE / sizeof MUST_BE_ONE[0]; i++) {
        json_t *v = hf_field(k->c, MUST_BE_ONE[i].name);
        if (v && !(json_is_number(v) && json_number_value(v) == 1)) report(k, MUST_BE_ONE[i].name, v, MUST_BE_ONE[i].why);
    }
    if (hf_is_llama4(k->c)) hf_llama4_support(k->c, k->m, k->refuse, k->ctx);   /* its MoE layers, by moe_layers */
    else hf_map_experts(k->c, k->m, k->refuse, k->ctx);
}

/* A positive real field of the config (its class's default `dflt` when absent) into *out. */
static void positive_real(const Checker *k, const char *key, double dflt, double *out) {
    json_t *v = hf_field(k->c, key);
    *out = v ? (json_is_number(v) ? json_number_value(v) : -1) : dflt;
    if (!(*out > 0) || !isfinite(*out)) report(k, key, v, "it must be a positive number"), *out = dflt;
}

/* gpt-oss's experts (GptOssExperts._apply_gate) compute the clamped SwiGLU whatever hidden_act says;
 * `mixc export --hf` writes it as mixc_activation. */
static void map_clamped_swiglu(const Checker *k) {
    json_t *own = json_object_get(k->c->root, "mixc_activation");
    if (own && !(json_is_string(own) && !strcmp(json_string_value(own), activation_name(ACT_CLAMPED_SWIGLU)))) {
        report(k, "mixc_activation", own, "mixc_activation names clamped_swiglu only (hidden_act says the others)");
        return;
    }
    k->m->activation = ACT_CLAMPED_SWIGLU;
    positive_real(k, "swiglu_limit", 7.0, &k->m->swiglu_limit);   /* GptOssConfig's defaults */
    positive_real(k, "swiglu_alpha", 1.702, &k->m->swiglu_alpha);
}

/* Gemma's hidden_activation wins over hidden_act, as in its config class. gelu_pytorch_tanh and
 * gelu_new are both GELU's tanh approximation in transformers (activations.py); gelu is the exact one. */
static void map_activation(const Checker *k) {
    if (!strcmp(k->c->model_type, "gpt_oss") || json_object_get(k->c->root, "mixc_activation")) {
        map_clamped_swiglu(k);
        return;
    }
    const char *key = hf_field(k->c, "hidden_activation") ? "hidden_activation" : "hidden_act";
    json_t *v = hf_field(k->c, key);
    const char *s = json_string_value(v);
    if (!v || (s && (!strcmp(s, "silu") || !strcmp(s, "swish")))) return;
    if (s && (!strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_new")))
        k->m->activation = ACT_GELU_TANH;
    else
        report(k, key, v, "mixc computes SiLU and GELU's tanh approximation (gelu_pytorch_tanh)");
}

/* ------------------------------------------------------------------ RoPE */

/* The scaling a rope_scaling / rope_parameters object asks for; false (reported) when mixc does not
 * compute it. */
static bool scaling_of(const Checker *k, const char *key, json_t *o, RopeScaling *s) {
    char why[128];
    if (!json_is_object(o)) return report(k, key, o, "mixc reads RoPE parameters from an object"), false;
    if (hf_rope_scaling(o, k->m->context, s, why, sizeof why)) return true;
    report(k, key, o, why);
    return false;
}

/* no_rope_layers: one 0 or 1 per layer. */
static void check_nope_layers(const Checker *k) {
    json_t *v = hf_nope_list(k->c), *x;
    size_t i;
    bool ok = !v || (json_is_array(v) && (int64_t)json_array_size(v) == k->m->layers);
    json_array_foreach(ok ? v : NULL, i, x) ok = ok && json_is_integer(x) && (json_integer_value(x) >> 1) == 0;
    if (!ok) report(k, "no_rope_layers", v, "mixc reads one 0 (no RoPE) or 1 (RoPE) per layer");
}

static void check_rope(const Checker *k) {
    const char *key;
    json_t *o = hf_rope_scaling_object(k->c, &key), *value;
    RopeScaling s;
    LayerRope sliding;
    if (o) scaling_of(k, key, o, &s);
    if (!hf_sliding_rope(k->c, k->m, &sliding, &key, &value))
        report(k, key, value, "mixc gives a second RoPE base plain RoPE, unscaled");
    check_nope_layers(k);
}

/* One q/k norm at most: the weighted RMSNorms of a family (qk_norm: Qwen3, Gemma 3) or mixc_qk_norm,
 * and Llama 4's unweighted one (qk_l2_norm: use_qk_norm, or mixc_qk_l2_norm) both on is a model mixc
 * does not compute (the .mix checker refuses it too, found by fuzz_import). */
static void check_qk_norms(const Checker *k) {
    if (!k->m->qk_norm || !k->m->qk_l2_norm) return;
    json_t *root = k->c->root;
    const char *l2 = json_object_get(root, "mixc_qk_l2_norm") ? "mixc_qk_l2_norm" : "use_qk_norm";
    json_t *value = json_object_get(root, l2) ? json_object_get(root, l2) : hf_field(k->c, l2);
    char weighted[64], why[160];
    if (json_is_true(json_object_get(root, "mixc_qk_norm"))) snprintf(weighted, sizeof weighted, "mixc_qk_norm");
    else snprintf(weighted, sizeof weighted, "model_type %.40s", k->c->model_type);
    snprintf(why, sizeof why, "the layers already have weighted q/k RMSNorms (%s); mixc computes one q/k norm, not both",
             weighted);
    report(k, l2, value, why);
    k->m->qk_l2_norm = false;   /* refused, or with --allow-unsupported ignored as the report says */
}

void hf_check_support(const HfConfig *c, ModelHeader *m, HfRefuse refuse, void *ctx) {
    Checker k = {c, m, refuse, ctx};
    check_family(&k);
    map_family(&k);
    map_activation(&k);
    check_rope(&k);
    map_scales(&k);
    check_switches(&k);
    check_qk_norms(&k);
}
