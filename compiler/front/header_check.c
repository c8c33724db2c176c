/* header_check.c — the checker's model header: each field's type and default, unknown keys with a
 * "did you mean", and the relations between fields (kv_heads divides heads, chunk <= context, ...).
 * check.c calls it before the attention kinds and layers. */
#include "mixc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ header fields */

typedef enum { F_INT, F_REAL, F_DTYPE, F_KV_DTYPE, F_BOOL, F_ENUM } FieldType;

typedef struct {
    const char *key;
    FieldType type;
    bool required;
    size_t offset;  /* into ModelHeader */
    const char *(*enum_name)(int);  /* F_ENUM: the value's name, "?" past the last */
} FieldSpec;

#define FIELD(k, t, req) {#k, t, req, offsetof(ModelHeader, k), NULL}
#define ENUM_FIELD(k, name_of) {#k, F_ENUM, false, offsetof(ModelHeader, k), (const char *(*)(int))name_of}
static const FieldSpec field_specs[] = {
    FIELD(layers, F_INT, true),        FIELD(hidden, F_INT, true),
    FIELD(heads, F_INT, true),         FIELD(kv_heads, F_INT, false),
    FIELD(head_dim, F_INT, false),     FIELD(ffn, F_INT, true),
    FIELD(vocab, F_INT, true),         FIELD(dtype, F_DTYPE, false),
    FIELD(kv_dtype, F_KV_DTYPE, false), FIELD(rope_theta, F_REAL, false),
    FIELD(norm_eps, F_REAL, false),    FIELD(context, F_INT, false),
    FIELD(chunk, F_INT, false),        FIELD(tie_embeddings, F_BOOL, false),
    FIELD(qkv_bias, F_BOOL, false),    FIELD(o_bias, F_BOOL, false),
    /* the families' variations (docs/language.md) */
    ENUM_FIELD(activation, activation_name), ENUM_FIELD(norm, norm_kind_name),
    FIELD(qk_norm, F_BOOL, false),     FIELD(sandwich_norms, F_BOOL, false),
    FIELD(rope_interleaved, F_BOOL, false), FIELD(qk_l2_norm, F_BOOL, false),
    FIELD(nope_temperature_floor, F_INT, false), FIELD(nope_temperature_scale, F_REAL, false),   /* rope_check.c */
    FIELD(embed_scale, F_BOOL, false), FIELD(attn_softcap, F_REAL, false),
    FIELD(logit_softcap, F_REAL, false), FIELD(query_pre_attn_scalar, F_REAL, false),
    FIELD(experts, F_INT, false),      FIELD(experts_per_token, F_INT, false),    /* moe_check.c */
    FIELD(shared_expert_ffn, F_INT, false), ENUM_FIELD(router, router_kind_name), FIELD(moe_bias, F_BOOL, false),
    FIELD(moe_step, F_INT, false),     FIELD(dense_ffn, F_INT, false),
    FIELD(swiglu_limit, F_REAL, false), FIELD(swiglu_alpha, F_REAL, false),
    /* RoPE scaling (rope_check.c checks which apply to which type): the keys of rope_params */
    {"rope_scaling", F_ENUM, false, offsetof(ModelHeader, rope_scaling.type), (const char *(*)(int))rope_scaling_name},
    {"rope_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.factor), NULL},
    {"rope_low_freq_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.low_freq_factor), NULL},
    {"rope_high_freq_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.high_freq_factor), NULL},
    {"rope_original_context", F_INT, false, offsetof(ModelHeader, rope_scaling.original_context), NULL},
    {"rope_beta_fast", F_REAL, false, offsetof(ModelHeader, rope_scaling.beta_fast), NULL},
    {"rope_beta_slow", F_REAL, false, offsetof(ModelHeader, rope_scaling.beta_slow), NULL},
    {"rope_attention_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.attention_factor), NULL},
    {"rope_truncate", F_BOOL, false, offsetof(ModelHeader, rope_scaling.truncate), NULL},
};
#define NFIELDS (int)(sizeof field_specs / sizeof field_specs[0])

void model_header_defaults(ModelHeader *m) {
    memset(m, 0, sizeof *m);
    m->dtype = DT_BF16;
    m->kv_dtype = DT_COUNT;     /* = dtype unless given */
    m->rope_theta = 10000.0;
    m->norm_eps = 1e-5;
    m->context = 8192;
    m->chunk = 0;               /* = min(512, context) unless given */
}

/* Levenshtein distance, for "did you mean" hints on short identifiers. */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

static const FieldSpec *find_field(const char *key) {
    for (int i = 0; i < NFIELDS; i++)
        if (strcmp(field_specs[i].key, key) == 0) return &field_specs[i];
    return NULL;
}

static const char *closest_field(const char *key) {
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < NFIELDS; i++) {
        int d = edit_distance(key, field_specs[i].key);
        if (d < best_d) best_d = d, best = field_specs[i].key;
    }
    return best;
}

static bool parse_dtype(const char *s, bool kv, DType *out) {
    for (int t = 0; t < DT_COUNT; t++) {
        if (!kv && dtype_quantized(t)) continue;
        if (strcmp(s, dtype_name((DType)t)) == 0) {
            *out = (DType)t;
            return true;
        }
    }
    return false;
}

/* An identifier among the names spec->enum_name gives; an error listing them otherwise. */
static void set_enum(Diag *d, const FieldSpec *spec, const AstField *f, void *slot) {
    const AstValue *v = &f->value;
    char names[128] = "";
    for (int k = 0; strcmp(spec->enum_name(k), "?") != 0; k++) {
        if (v->kind == AV_IDENT && strcmp(v->ident, spec->enum_name(k)) == 0) {
            *(int *)slot = k;
            return;
        }
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", spec->enum_name(k));
    }
    diag_at(d, DIAG_ERROR, v->loc, "'%s' must be one of %s", f->key, names);
}

static void set_field(Diag *d, const FieldSpec *spec, const AstField *f, ModelHeader *m) {
    const AstValue *v = &f->value;
    void *slot = (char *)m + spec->offset;
    switch (spec->type) {
    case F_INT:
        if (v->kind != AV_INT) {
            diag_at(d, DIAG_ERROR, v->loc, "'%s' must be an integer", f->key);
        } else if (v->i < 1) {
            diag_at(d, DIAG_ERROR, v->loc, "'%s' must be at least 1, not %lld", f->key, (long long)v->i);
        } else if (v->i >= MIXC_MAX_VALUE) {
            /* the scanner has reported it */
        } else {
            *(int64_t *)slot = v->i;
        }
        break;
    case F_REAL:
        if (v->kind != AV_INT && v->kind != AV_REAL)
            diag_at(d, DIAG_ERROR, v->loc, "'%s' must be a number", f->key);
        else if (isnan(v->r))
            ; /* out of range: the scanner has reported it */
        else if (!(v->r > 0) || !real_value_ok(v->r))
            diag_at(d, DIAG_ERROR, v->loc, "'%s' must be positive and finite", f->key);
        else
            *(double *)slot = v->r;
        break;
    case F_DTYPE:
    case F_KV_DTYPE: {
        bool kv = spec->type == F_KV_DTYPE;
        if (v->kind != AV_IDENT || !parse_dtype(v->ident, kv, (DType *)slot)) {
            diag_at(d, DIAG_ERROR, v->loc, "'%s' must be one of %s", f->key,
                    kv ? "bf16, fp16, fp8, int8" : "bf16, fp16");
        }
        break;
    }
    case F_BOOL:
        if (v->kind != AV_BOOL)
            diag_at(d, DIAG_ERROR, v->loc, "'%s' must be true or false", f->key);
        else
            *(bool *)slot = v->i != 0;
        break;
    case F_ENUM: set_enum(d, spec, f, slot); break;
    }
}

void check_header(const Ast *ast, Diag *d, ModelHeader *m) {
    model_header_defaults(m);
    m->name = xstrdup(ast->name ? ast->name : "");
    const AstField *seen[NFIELDS] = {0};
    for (const AstField *f = ast->fields; f; f = f->next) {
        const FieldSpec *spec = find_field(f->key);
        if (!spec) {
            diag_at(d, DIAG_ERROR, f->loc, "unknown header field '%s'", f->key);
            const char *near = closest_field(f->key);
            if (near) diag_hint(d, "did you mean '%s'?", near);
            continue;
        }
        int idx = (int)(spec - field_specs);
        if (seen[idx]) {
            diag_at(d, DIAG_ERROR, f->loc, "header field '%s' is given twice", f->key);
            diag_at(d, DIAG_NOTE, seen[idx]->loc, "first given here");
            continue;
        }
        seen[idx] = f;
        set_field(d, spec, f, m);
    }
    for (int i = 0; i < NFIELDS && ast->has_header && !ast->partial; i++) {
        if (field_specs[i].required && !seen[i]) {
            diag_at(d, DIAG_ERROR, ast->header_loc, "the header has no '%s'", field_specs[i].key);
            diag_hint(d, "add '%s = N' to the model block", field_specs[i].key);
        }
    }
}

/* Defaults that depend on other fields, then cross-field rules. Locations come from `fields`. */
SrcLoc header_field_loc(const Ast *ast, const char *key) {
    for (const AstField *f = ast->fields; f; f = f->next)
        if (strcmp(f->key, key) == 0) return f->value.loc;
    return ast->header_loc;
}

void check_header_relations(const Ast *ast, Diag *d, ModelHeader *m) {
    if (m->layers > MIXC_MAX_LAYERS) {
        diag_at(d, DIAG_ERROR, header_field_loc(ast, "layers"), "%lld layers is more than mixc supports (%d)",
                (long long)m->layers, MIXC_MAX_LAYERS);
        m->layers = 0;
    }
    if (m->kv_heads == 0) m->kv_heads = m->heads;
    if (m->heads && m->kv_heads && m->heads % m->kv_heads != 0) {
        diag_at(d, DIAG_ERROR, header_field_loc(ast, "kv_heads"),
                "heads (%lld) is not a multiple of kv_heads (%lld)", (long long)m->heads,
                (long long)m->kv_heads);
        diag_hint(d, "grouped-query attention needs every KV head to serve the same number of query heads");
    }
    if (m->head_dim == 0 && m->heads && m->hidden) {
        if (m->hidden % m->heads == 0) {
            m->head_dim = m->hidden / m->heads;
        } else {
            diag_at(d, DIAG_ERROR, header_field_loc(ast, "heads"),
                    "heads (%lld) does not divide hidden (%lld) and no head_dim is given",
                    (long long)m->heads, (long long)m->hidden);
            diag_hint(d, "add 'head_dim = N' to the model block");
        }
    }
    if (m->kv_dtype == DT_COUNT) m->kv_dtype = m->dtype;
    if (m->chunk == 0) m->chunk = m->context < 512 ? m->context : 512;
    if (m->chunk > m->context) {
        diag_at(d, DIAG_ERROR, header_field_loc(ast, "chunk"), "chunk (%lld) is larger than context (%lld)",
                (long long)m->chunk, (long long)m->context);
    }
    if (m->qk_norm && m->qk_l2_norm) {
        diag_at(d, DIAG_ERROR, header_field_loc(ast, "qk_l2_norm"), "qk_l2_norm and qk_norm both normalize queries and keys");
        diag_hint(d, "qk_norm is an RMSNorm with weights on every layer (Qwen3, Gemma 3); qk_l2_norm has no weights and "
                     "normalizes the layers with RoPE only (Llama 4): give one");
    }
    check_rope_scaling(ast, d, m);
    check_experts(ast, d, m);
    check_swiglu(ast, d, m);
}
