/* hf_support.c — which parts of a Hugging Face config mixc computes exactly (docs/interop.md, "What
 * is refused").
 *
 * mixc runs one decoder (docs/model.md): RMSNorm times its weight, a SiLU-gated dense MLP, plain RoPE
 * over the whole head with one rope_theta, no biases, scores scaled by 1/sqrt(head_dim), no
 * soft-capping, softmax attention on every layer. A config asking for anything else would import to a
 * layout that runs and gives other logits than the model's, so every such field is reported here by
 * name and value (hf_import.c refuses it, or under --allow-unsupported warns and records it in the
 * .mix). What a family's modeling code does that no config field states is reported by model_type. */
#include "hf_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A model_type or a field, and what about it mixc does not compute. */
typedef struct {
    const char *name, *why;
} Rule;

typedef struct {
    const HfConfig *c;
    const ModelHeader *m;
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
#define SANDWICH ", and each layer also normalizes its attention and MLP outputs"

/* What each family computes that no config field states (transformers' modeling code); NULL where
 * mixc computes the family's decoder once its fields pass the checks below. */
static const Rule FAMILIES[] = {
    {"", NULL},              /* no model_type: what `mixc export --hf` writes, mixc's own decoder */
    {"llama", NULL},
    {"mistral", NULL},
    {"ministral", NULL},
    {"mixtral", NULL},       /* Mistral with experts: refused by 'num_local_experts' */
    {"smollm3", NULL},       /* Llama with NoPE layers: no_rope_layers, no_rope_layer_interval */
    {"qwen2", NULL},         /* q, k, v biases always (Qwen2Attention): imported as qkv_bias */
    {"qwen2_moe", "its q_proj, k_proj and v_proj always have biases and a shared expert runs beside the routed ones"},
    {"qwen3", "it normalizes each head's queries and keys with q_norm and k_norm; mixc does not"},
    {"qwen3_moe", "it normalizes each head's queries and keys with q_norm and k_norm; mixc does not"},
    {"gemma", GEMMA_NORMS "; mixc scales by the weight and not at all"},
    {"gemma2", GEMMA_NORMS SANDWICH},
    {"gemma3", GEMMA_NORMS SANDWICH ", its queries and its keys"},
    {"gemma3_text", GEMMA_NORMS SANDWICH ", its queries and its keys"},
    {"gemma3n", "Gemma 3n's AltUp, LAuReL, per-layer embeddings and q/k/v norms; mixc computes none of them"},
    {"gemma3n_text", "Gemma 3n's AltUp, LAuReL, per-layer embeddings and q/k/v norms; mixc computes none of them"},
    {"gpt_oss", "attention sinks, biases on every projection and a clamped SwiGLU; mixc computes none of them"},
    {"cohere2", "LayerNorm, attention and MLP in parallel, and no RoPE on global layers; mixc computes RMSNorm, "
                "one after the other, RoPE everywhere"},
    {"hymba", "Mamba heads beside attention, and meta tokens; mixc computes attention only"},
    {"olmo3", "norms after attention and MLP instead of before, and q/k norms; mixc computes pre-norms only"},
};

static void check_family(const Checker *k) {
    json_t *type = hf_field(k->c, "model_type");
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
        if (strcmp(k->c->model_type, FAMILIES[i].name) || (!*FAMILIES[i].name && type)) continue;
        if (FAMILIES[i].why) report(k, "model_type", type, FAMILIES[i].why);
        return;
    }
    report(k, "model_type", type, "a model mixc does not know; it computes the decoder of llama, mistral and ministral configs");
}

/* ------------------------------------------------------------------ fields */

/* Fields whose every value but null, false, 0 or [] asks for something mixc does not compute. */
static const Rule MUST_BE_OFF[] = {
    {"attention_bias", "mixc's attention projections have no biases"},
    {"qkv_bias", "mixc's attention projections have no biases"},
    {"mlp_bias", "mixc's MLP projections have no biases"},
    {"use_qk_norm", "mixc does not normalize queries and keys"},
    {"attn_logit_softcapping", "mixc does not soft-cap attention scores"},
    {"final_logit_softcapping", "mixc does not soft-cap the logits"},
    {"attention_chunk_size", "mixc computes global or sliding-window attention, not chunked attention"},
    {"attn_layer_period", "mixc computes attention on every layer, with no Mamba layers"},
    {"attn_layer_offset", "mixc computes attention on every layer, with no Mamba layers"},
    {"layers_block_type", "mixc computes attention on every layer, with no Mamba layers"},
    {"full_attention_interval", "mixc computes softmax attention on every layer, no linear attention"},
};

/* Expert counts: above 1, a mixture of experts (one expert computes a dense MLP). */
static const char *const EXPERTS[] = {"num_local_experts", "num_experts", "n_routed_experts"};

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

static void check_switches(const Checker *k) {
    for (size_t i = 0; i < sizeof MUST_BE_OFF / sizeof MUST_BE_OFF[0]; i++) {
        json_t *v = hf_field(k->c, MUST_BE_OFF[i].name);
        if (!is_off(v)) report(k, MUST_BE_OFF[i].name, v, MUST_BE_OFF[i].why);
    }
    for (size_t i = 0; i < sizeof MUST_BE_ONE / sizeof MUST_BE_ONE[0]; i++) {
        json_t *v = hf_field(k->c, MUST_BE_ONE[i].name);
        if (v && !(json_is_number(v) && json_number_value(v) == 1)) report(k, MUST_BE_ONE[i].name, v, MUST_BE_ONE[i].why);
    }
    for (size_t i = 0; i < sizeof EXPERTS / sizeof EXPERTS[0]; i++) {
        json_t *v = hf_field(k->c, EXPERTS[i]);
        if (v && !(json_is_number(v) && json_number_value(v) <= 1))
            report(k, EXPERTS[i], v, "mixc computes a dense MLP, not a mixture of experts");
    }
}

/* Gemma's hidden_activation wins over hidden_act, as in its config class. */
static void check_activation(const Checker *k) {
    const char *key = hf_field(k->c, "hidden_activation") ? "hidden_activation" : "hidden_act";
    json_t *v = hf_field(k->c, key);
    const char *s = json_string_value(v);
    if (v && !(s && (!strcmp(s, "silu") || !strcmp(s, "swish")))) report(k, key, v, "mixc computes SiLU");
}

static void check_scale(const Checker *k) {
    json_t *v = hf_field(k->c, "query_pre_attn_scalar");
    if (!v || (json_is_number(v) && json_number_value(v) == (double)k->m->head_dim)) return;
    char why[96];
    snprintf(why, sizeof why, "mixc scales scores by 1/sqrt(head_dim), head_dim %lld", (long long)k->m->head_dim);
    report(k, "query_pre_attn_scalar", v, why);
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
    json_t *v = hf_field(k->c, "no_rope_layers"), *x;
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

void hf_check_support(const HfConfig *c, const ModelHeader *m, HfRefuse refuse, void *ctx) {
    Checker k = {c, m, refuse, ctx};
    check_family(&k);
    check_activation(&k);
    check_rope(&k);
    check_scale(&k);
    check_switches(&k);
}
