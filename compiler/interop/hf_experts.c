/* hf_experts.c — a Hugging Face config's mixture of experts as the header's experts fields
 * (docs/interop.md, "Mixture of experts"). Each family routes in its own way (its modeling code, not
 * a field, says how), so only the families below are mapped; any other config with experts is
 * reported. A family whose config puts the experts on every s-th layer (Llama 4's
 * interleave_moe_layer_step, Qwen3-MoE's decoder_sparse_step) imports as moe_step and dense_ffn. */
#include "hf_config.h"

#include <string.h>

/* How a family routes, where its expert width is, and (step_key) which layers have experts. */
typedef struct {
    const char *model_type;
    RouterKind router;
    const char *width_key;      /* each routed expert's width */
    const char *shared_key;     /* an ungated shared expert's width, or NULL */
    bool moe_bias;              /* router and expert biases (gpt-oss) */
    const char *step_key;       /* experts on layers s-1, 2s-1, ... (moe_step), or NULL: every layer */
    const char *dense_key;      /* the other layers' dense MLP width (dense_ffn) */
} MoeFamily;

static const MoeFamily MOE_FAMILIES[] = {
    {"", ROUTER_TOPK_SOFTMAX, "intermediate_size", NULL, false,    /* `mixc export --hf`: mixc_ fields */
     "interleave_moe_layer_step", "intermediate_size_mlp"},
    {"mixtral", ROUTER_TOPK_SOFTMAX, "intermediate_size", NULL, false, NULL, NULL},
    {"qwen3_moe", ROUTER_SOFTMAX_TOPK, "moe_intermediate_size", NULL, false,   /* norm_topk_prob: topk_softmax */
     "decoder_sparse_step", "intermediate_size"},
    {"gpt_oss", ROUTER_TOPK_SOFTMAX, "intermediate_size", NULL, true, NULL, NULL},
    {"llama4", ROUTER_SIGMOID_INPUT, "intermediate_size", "intermediate_size", false, "interleave_moe_layer_step",
     "intermediate_size_mlp"},
    {"llama4_text", ROUTER_SIGMOID_INPUT, "intermediate_size", "intermediate_size", false, "interleave_moe_layer_step",
     "intermediate_size_mlp"},
};

/* Expert counts: above 1, a mixture of experts (one expert computes a dense MLP). */
static const char *const EXPERT_COUNTS[] = {"num_local_experts", "num_experts", "n_routed_experts"};

static bool positive_int(json_t *v, int64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 1) return false;
    *out = json_integer_value(v);
    return true;
}

/* Reports field `key` of value v; returns false, for the callers' returns. */
static bool refuse_field(const char *key, json_t *v, const char *why, HfRefuse refuse, void *ctx) {
    char what[192];
    hf_describe(key, v, what, sizeof what);
    refuse(ctx, what, why);
    return false;
}

/* Whether Llama 4's moe_layers (when given) lists layers step-1, 2 step-1, ... below `layers`, as
 * Llama4TextConfig derives it from interleave_moe_layer_step; *step is the list's step. */
static bool moe_layers_stepped(json_t *list, int64_t layers, int64_t *step) {
    if (!json_is_array(list) || json_array_size(list) == 0 || !json_is_integer(json_array_get(list, 0))) return false;
    *step = json_integer_value(json_array_get(list, 0)) + 1;
    if (*step < 1 || *step > layers || (int64_t)json_array_size(list) != layers / *step) return false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *x = json_array_get(list, i);
        if (!json_is_integer(x) || json_integer_value(x) != (int64_t)(i + 1) * *step - 1) return false;
    }
    return true;
}

/* Which layers have experts: every layer, or (the family's step_key: Llama 4's interleave_moe_layer_step
 * or moe_layers, Qwen3-MoE's decoder_sparse_step) every s-th, the others a dense MLP of its dense_key,
 * into moe_step and dense_ffn. Refused: another family's step, Qwen3-MoE's mlp_only_layers, a list
 * of MoE layers that is not such a step. */
static bool map_moe_layers(const HfConfig *c, const MoeFamily *f, ModelHeader *m, HfRefuse refuse, void *ctx) {
    static const char *const steps[] = {"decoder_sparse_step", "interleave_moe_layer_step"};
    static const char why[] = "mixc computes a mixture of experts in every layer or in every s-th (moe_step)";
    int64_t step = 1;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        json_t *v = hf_field(c, steps[i]);
        bool own = f->step_key && !strcmp(steps[i], f->step_key);
        if (v && own && !(positive_int(v, &step) && step <= m->layers))
            return refuse_field(steps[i], v, "mixc reads a step from 1 to the layer count", refuse, ctx);
        if (v && !own && !(json_is_integer(v) && json_integer_value(v) == 1)) return refuse_field(steps[i], v, why, refuse, ctx);
    }
    json_t *dense = hf_field(c, "mlp_only_layers"), *list = hf_field(c, "moe_layers");
    if (dense && !(json_is_array(dense) && json_array_size(dense) == 0))
        return refuse_field("mlp_only_layers", dense, "mixc's moe_step puts the experts on every s-th layer, none left out",
                            refuse, ctx);
    if (list && f->step_key && !strcmp(f->step_key, "interleave_moe_layer_step") && !moe_layers_stepped(list, m->layers, &step))
        return refuse_field("moe_layers", list, "mixc's moe_step puts the experts on layers s-1, 2s-1, ...", refuse, ctx);
    if (step == 1) return true;
    json_t *w = hf_field(c, f->dense_key);
    if (!positive_int(w, &m->dense_ffn) || m->dense_ffn >= MIXC_MAX_VALUE)
        return refuse_field(f->dense_key, w, "the dense layers' MLP width must be a positive integer", refuse, ctx);
    m->moe_step = step;
    return true;
}

/* What `mixc export --hf` writes beside the counts for mixc's own decoder (no model_type). */
static bool map_own_fields(const HfConfig *c, ModelHeader *m, HfRefuse refuse, void *ctx) {
    json_t *router = json_object_get(c->root, "mixc_router"), *bias = json_object_get(c->root, "mixc_moe_bias");
    json_t *shared = json_object_get(c->root, "mixc_shared_expert_ffn");
    bool ok = true;
    int r = 0;
    while (router && r < ROUTER_COUNT && !(json_is_string(router) && !strcmp(json_string_value(router), router_kind_name(r))))
        r++;
    if (r == ROUTER_COUNT) ok = refuse_field("mixc_router", router, "it must name a router of docs/language.md", refuse, ctx);
    else if (router) m->router = (RouterKind)r;
    if (shared && !positive_int(shared, &m->shared_expert_ffn))
        ok = refuse_field("mixc_shared_expert_ffn", shared, "it must be a positive integer", refuse, ctx);
    if (bias && !json_is_boolean(bias)) ok = refuse_field("mixc_moe_bias", bias, "it must be true or false", refuse, ctx);
    m->moe_bias = json_is_true(bias);
    return ok;
}

/* The family's router, expert width, shared expert and biases into m; false (reported) when the
 * config asks for more than mixc computes. */
static bool map_family(const HfConfig *c, const MoeFamily *f, ModelHeader *m, HfRefuse refuse, void *ctx) {
    int64_t width = 0, shared = 0;
    json_t *w = hf_field(c, f->width_key);
    if (!positive_int(w, &width) || (f->shared_key && !positive_int(hf_field(c, f->shared_key), &shared)))
        return refuse_field(f->width_key, w, "mixc needs each expert's width as a positive integer", refuse, ctx);
    m->router = f->router;
    if (!strcmp(f->model_type, "qwen3_moe") && json_is_true(hf_field(c, "norm_topk_prob")))
        m->router = ROUTER_TOPK_SOFTMAX;
    m->ffn = width, m->shared_expert_ffn = shared, m->moe_bias = f->moe_bias;
    return map_moe_layers(c, f, m, refuse, ctx) && (*f->model_type || map_own_fields(c, m, refuse, ctx));
}

static const MoeFamily *moe_family(const char *model_type) {
    for (size_t j = 0; j < sizeof MOE_FAMILIES / sizeof MOE_FAMILIES[0]; j++)
        if (!strcmp(model_type, MOE_FAMILIES[j].model_type)) return &MOE_FAMILIES[j];
    return NULL;
}

void hf_map_experts(const HfConfig *c, ModelHeader *m, HfRefuse refuse, void *ctx) {
    for (size_t i = 0; i < sizeof EXPERT_COUNTS / sizeof EXPERT_COUNTS[0]; i++) {
        const char *key = EXPERT_COUNTS[i];
        json_t *v = hf_field(c, key), *k = hf_field(c, "num_experts_per_tok");
        int64_t experts = 0, per_token = 0;
        if (!v || (json_is_number(v) && json_number_value(v) <= 1)) continue;   /* a dense MLP */
        const MoeFamily *f = moe_family(c->model_type);
        if (!f)
            refuse_field(key, v, "mixc maps the experts of mixtral, qwen3_moe, gpt_oss and llama4 configs only", refuse, ctx);
        else if (!positive_int(v, &experts))
            refuse_field(key, v, "mixc needs the expert count as an integer", refuse, ctx);
        else if (!positive_int(k, &per_token) || per_token > experts)
            refuse_field("num_experts_per_tok", k, "mixc needs 1 <= num_experts_per_tok <= the expert count", refuse, ctx);
        else if (map_family(c, f, m, refuse, ctx))
            m->experts = experts, m->experts_per_token = per_token;
        return;
    }
}
