/* hf_rope.c — a config's rope_scaling (or transformers 5's rope_parameters) as the layout's
 * RopeScaling: rope_type (or the older "type") default, linear, llama3 and yarn are mapped with
 * transformers' defaults (modeling_rope_utils.py); anything else is refused by hf_support.c naming
 * the field and its value. */
#include "hf_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The object that holds the scaling: rope_scaling, else rope_parameters (its full_attention entry
 * when it has one per layer type); NULL when the config has none. A class default (gpt-oss's yarn)
 * applies only when the file gives neither form (a null one is not given: transformers 5 takes the
 * class's default then). */
json_t *hf_rope_scaling_object(const HfConfig *c, const char **key) {
    bool given = hf_given(c, "rope_scaling") || hf_given(c, "rope_parameters");
    json_t *o = given ? hf_given(c, "rope_scaling") : c->defaults ? json_object_get(c->defaults, "rope_scaling") : NULL;
    *key = "rope_scaling";
    if (o) return o;
    o = hf_given(c, "rope_parameters");
    *key = "rope_parameters";
    json_t *full = json_is_object(o) ? json_object_get(o, "full_attention") : NULL;
    if (full) *key = "rope_parameters.full_attention";
    return full ? full : o;
}

static bool number(json_t *o, const char *key, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return false;
    *out = json_is_number(v) ? json_number_value(v) : NAN;
    return true;
}

/* A positive integer (original_max_position_embeddings) exactly: a JSON integer up to MIXC_MAX_VALUE, or
 * a real with an integer value below 2^53 (where a double is still exact). false when it is neither. */
static bool positive_integer(json_t *v, int64_t *out) {
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= MIXC_MAX_VALUE)
        return *out = json_integer_value(v), true;
    double d = json_is_real(v) ? json_real_value(v) : 0;
    if (!(d >= 1 && d < 0x1p53 && d == floor(d))) return false;
    *out = (int64_t)d;
    return true;
}

/* transformers' get_mscale */
static double yarn_mscale(double factor, double mscale) {
    return factor <= 1 ? 1 : 0.1 * mscale * log(factor) + 1;
}

/* yarn: factor, original_max_position_embeddings (default: max_position_embeddings = context, and
 * factor = context / original when absent), betas, and the attention factor as transformers derives it
 * (attention_factor, else mscale / mscale_all_dim, else get_mscale(factor)). */
static bool read_yarn(json_t *o, int64_t context, RopeScaling *s, char *why, size_t n) {
    double mscale = 0, mscale_all = 0;
    json_t *orig = json_object_get(o, "original_max_position_embeddings");
    s->original_context = context;
    if (orig && !json_is_null(orig) && !positive_integer(orig, &s->original_context))
        return snprintf(why, n, "mixc needs original_max_position_embeddings, a positive integer"), false;
    if (!number(o, "factor", &s->factor)) s->factor = (double)context / (double)s->original_context;
    json_t *truncate = json_object_get(o, "truncate");
    if (truncate && !json_is_boolean(truncate))
        return snprintf(why, n, "mixc needs yarn's truncate true or false"), false;
    s->truncate = !truncate || json_is_true(truncate);
    s->beta_fast = 32, s->beta_slow = 1;
    number(o, "beta_fast", &s->beta_fast);
    number(o, "beta_slow", &s->beta_slow);
    number(o, "mscale", &mscale);
    number(o, "mscale_all_dim", &mscale_all);
    if (!number(o, "attention_factor", &s->attention_factor))
        s->attention_factor = mscale && mscale_all ? yarn_mscale(s->factor, mscale) / yarn_mscale(s->factor, mscale_all)
                                                   : yarn_mscale(s->factor, 1);
    return true;
}

bool hf_rope_scaling(json_t *o, int64_t context, RopeScaling *s, char *why, size_t n) {
    *s = (RopeScaling){ROPE_PLAIN};
    json_t *t = json_object_get(o, "rope_type");
    if (!t) t = json_object_get(o, "type");
    const char *type = json_is_string(t) ? json_string_value(t) : t ? "?" : "default";
    bool ok = true;
    if (!strcmp(type, "default")) return true;
    if (!strcmp(type, "linear")) {
        s->type = ROPE_LINEAR;
        ok = number(o, "factor", &s->factor);
    } else if (!strcmp(type, "llama3")) {
        s->type = ROPE_LLAMA3;
        ok = number(o, "factor", &s->factor) && number(o, "low_freq_factor", &s->low_freq_factor) &&
             number(o, "high_freq_factor", &s->high_freq_factor) &&
             positive_integer(json_object_get(o, "original_max_position_embeddings"), &s->original_context);
        ok = ok && s->high_freq_factor >= s->low_freq_factor;
    } else if (!strcmp(type, "yarn")) {
        s->type = ROPE_YARN;
        if (!read_yarn(o, context, s, why, n)) return false;
    } else {
        return snprintf(why, n, "mixc computes RoPE scaling linear, llama3 and yarn"), false;
    }
    for (int i = 0; ok && i < rope_nparams; i++) {
        double v = rope_param_get(s, &rope_params[i]);
        ok = !(rope_params[i].takes & (1u << s->type)) || rope_params[i].type == ROPE_PARAM_BOOL || (v > 0 && real_value_ok(v));
    }
    if (!ok) snprintf(why, n, "mixc needs every parameter of %s scaling, each a positive number", type);
    return ok;
}

void hf_read_rope_scaling(const HfConfig *c, ModelHeader *m) {
    const char *key;
    json_t *o = hf_rope_scaling_object(c, &key);
    char why[128];
    RopeScaling s;
    if (json_is_object(o) && hf_rope_scaling(o, m->context, &s, why, sizeof why)) m->rope_scaling = s;
}

/* ------------------------------------------------------------------ per-layer RoPE */

bool hf_sliding_rope(const HfConfig *c, const ModelHeader *m, LayerRope *out, const char **key, json_t **value) {
    *out = (LayerRope){0};
    json_t *rp = hf_field(c, "rope_parameters"), *sub = json_is_object(rp) ? json_object_get(rp, "sliding_attention") : NULL;
    char why[128];
    RopeScaling s = {ROPE_PLAIN};
    double theta = m->rope_theta;
    *key = sub ? "rope_parameters.sliding_attention" : "rope_local_base_freq";
    *value = sub ? sub : hf_field(c, "rope_local_base_freq");
    if (!*value) return true;
    if (sub) {
        if (!json_is_object(sub) || !hf_rope_scaling(sub, m->context, &s, why, sizeof why)) return false;
        json_t *t = json_object_get(sub, "rope_theta");
        if (t) theta = json_is_number(t) ? json_number_value(t) : NAN;
    } else {
        theta = json_is_number(*value) ? json_number_value(*value) : NAN;
    }
    if (!(theta > 0) || !real_value_ok(theta)) return false;
    if (rope_scaling_equal(&s, &m->rope_scaling) && theta == m->rope_theta) return true;
    *out = (LayerRope){.theta = theta};
    return s.type == ROPE_PLAIN;   /* a kind's own base is plain RoPE */
}

json_t *hf_nope_list(const HfConfig *c) {
    json_t *list = hf_field(c, "no_rope_layers");
    return hf_is_llama4(c) && json_is_array(list) && json_array_size(list) == 0 ? NULL : list;
}

/* SmolLM3's and Llama 4's no_rope_layers: one 0 (NoPE) or 1 (RoPE) per layer; absent, both make
 * every no_rope_layer_interval-th layer NoPE (SmolLM3Config, Llama4TextConfig). NULL list: none. */
bool hf_nope_layer(const HfConfig *c, int64_t layers, int64_t i) {
    json_t *list = hf_nope_list(c), *interval = hf_field(c, "no_rope_layer_interval");
    if (json_is_array(list) && (int64_t)json_array_size(list) == layers)
        return json_is_integer(json_array_get(list, (size_t)i)) && json_integer_value(json_array_get(list, (size_t)i)) == 0;
    if (!list && json_is_integer(interval) && json_integer_value(interval) > 0 &&
        (!strcmp(c->model_type, "smollm3") || hf_is_llama4(c)))
        return (i + 1) % json_integer_value(interval) == 0;
    return false;
}

void hf_read_layer_ropes(const HfConfig *c, Layout *l) {
    const char *key;
    json_t *value;
    LayerRope sliding;
    bool mapped = hf_sliding_rope(c, &l->model, &sliding, &key, &value);
    for (int i = 0; i < l->nlayers; i++) {
        if (l->layer[i].window && mapped) l->layer[i].rope = sliding;
        if (hf_nope_layer(c, l->nlayers, i)) l->layer[i].rope = (LayerRope){.nope = true};
    }
}

/* ------------------------------------------------------------------ export */

/* The sliding layers' own base when every one has the same (rope_local_base_freq); 0 when none has
 * one; -1 when HF cannot say it (different bases, or a global layer with its own). */
static double local_base(const Layout *l) {
    double base = 0;
    for (int i = 0; i < l->nlayers; i++) {
        const LayerRope *r = &l->layer[i].rope;
        if (!r->theta) continue;
        if (!l->layer[i].window || (base && base != r->theta)) return -1;
        base = r->theta;
    }
    for (int i = 0; i < l->nlayers && base > 0; i++)   /* every sliding layer has it, or none */
        if (l->layer[i].window && !l->layer[i].rope.nope && l->layer[i].rope.theta != base) return -1;
    return base;
}

bool import_sharing_keeps_rope(const Layout *l, char *why, size_t n) {
    char a[64], b[64];
    int i = rope_sharing_mismatch(l, 0, a, b);
    if (i >= 0)
        snprintf(why, n, "its KV sharing makes layer %d (%s) read the cache of layer %d (%s), whose keys were rotated "
                         "with another RoPE", i, a, l->layer[l->layer[i].reads].index, b);
    return i < 0;
}

json_t *hf_rope_param_json(const RopeScaling *s, const RopeParam *p) {
    double v = rope_param_get(s, p);
    return p->type == ROPE_PARAM_BOOL ? json_boolean(v != 0)
           : p->type == ROPE_PARAM_INT ? json_integer((json_int_t)rope_param_int(s, p))
                                       : json_real(v);
}

void hf_export_rope(const Layout *l, json_t *o, FILE *err) {
    const ModelHeader *m = &l->model;
    if (m->rope_scaling.type != ROPE_PLAIN) {
        /* Defaults are left out: import derives them again exactly (the JSON keeps 15 digits). */
        json_t *rs = json_pack("{s:s}", "rope_type", rope_scaling_name(m->rope_scaling.type));
        RopeScaling defaults = m->rope_scaling;
        bool none_given[16] = {0};
        rope_scaling_defaults(&defaults, none_given);
        for (int i = 0; i < rope_nparams; i++) {
            const RopeParam *p = &rope_params[i];
            double v = rope_param_get(&m->rope_scaling, p);
            bool is_default = !(p->needs & (1u << m->rope_scaling.type)) && v == rope_param_get(&defaults, p);
            if ((p->takes & (1u << m->rope_scaling.type)) && !is_default)
                json_object_set_new(rs, p->hf_key, hf_rope_param_json(&m->rope_scaling, p));
        }
        json_object_set_new(o, "rope_scaling", rs);
    }

    double base = local_base(l);
    if (base > 0) json_object_set_new(o, "rope_local_base_freq", json_real(base));
    if (base < 0)
        fprintf(err, "mixc: warning: the layers' own RoPE bases differ beyond one for the sliding layers; HF's "
                     "rope_local_base_freq cannot carry them (not written)\n");
    json_t *nope = json_array();
    bool any = false;
    for (int i = 0; i < l->nlayers; i++) {
        any |= l->layer[i].rope.nope;
        json_array_append_new(nope, json_integer(!l->layer[i].rope.nope));
    }
    if (any) json_object_set_new(o, "no_rope_layers", nope);
    else json_decref(nope);
}
