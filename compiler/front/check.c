/* check.c — the checker: Ast -> Layout.
 *
 * Validates the header, the attention kinds and the layer statements, resolves every `reads`
 * reference to the layer that owns the cache, and reports every problem in one run. Floods are
 * capped: one diagnostic per statement element and kind of problem, then a count. */
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
    FIELD(embed_scale, F_BOOL, false), FIELD(attn_softcap, F_REAL, false),
    FIELD(logit_softcap, F_REAL, false), FIELD(query_pre_attn_scalar, F_REAL, false),
    FIELD(experts, F_INT, false),      FIELD(experts_per_token, F_INT, false),    /* moe_check.c */
    FIELD(shared_expert_ffn, F_INT, false), ENUM_FIELD(router, router_kind_name), FIELD(moe_bias, F_BOOL, false),
    /* RoPE scaling (rope_check.c checks which apply to which type): the keys of rope_params */
    {"rope_scaling", F_ENUM, false, offsetof(ModelHeader, rope_scaling.type), (const char *(*)(int))rope_scaling_name},
    {"rope_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.factor), NULL},
    {"rope_low_freq_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.low_freq_factor), NULL},
    {"rope_high_freq_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.high_freq_factor), NULL},
    {"rope_original_context", F_INT, false, offsetof(ModelHeader, rope_scaling.original_context), NULL},
    {"rope_beta_fast", F_REAL, false, offsetof(ModelHeader, rope_scaling.beta_fast), NULL},
    {"rope_beta_slow", F_REAL, false, offsetof(ModelHeader, rope_scaling.beta_slow), NULL},
    {"rope_attention_factor", F_REAL, false, offsetof(ModelHeader, rope_scaling.attention_factor), NULL},
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

static void check_header(const Ast *ast, Diag *d, ModelHeader *m) {
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
static SrcLoc field_loc(const Ast *ast, const char *key) {
    for (const AstField *f = ast->fields; f; f = f->next)
        if (strcmp(f->key, key) == 0) return f->value.loc;
    return ast->header_loc;
}

static void check_header_relations(const Ast *ast, Diag *d, ModelHeader *m) {
    if (m->layers > MIXC_MAX_LAYERS) {
        diag_at(d, DIAG_ERROR, field_loc(ast, "layers"), "%lld layers is more than mixc supports (%d)",
                (long long)m->layers, MIXC_MAX_LAYERS);
        m->layers = 0;
    }
    if (m->kv_heads == 0) m->kv_heads = m->heads;
    if (m->heads && m->kv_heads && m->heads % m->kv_heads != 0) {
        diag_at(d, DIAG_ERROR, field_loc(ast, "kv_heads"),
                "heads (%lld) is not a multiple of kv_heads (%lld)", (long long)m->heads,
                (long long)m->kv_heads);
        diag_hint(d, "grouped-query attention needs every KV head to serve the same number of query heads");
    }
    if (m->head_dim == 0 && m->heads && m->hidden) {
        if (m->hidden % m->heads == 0) {
            m->head_dim = m->hidden / m->heads;
        } else {
            diag_at(d, DIAG_ERROR, field_loc(ast, "heads"),
                    "heads (%lld) does not divide hidden (%lld) and no head_dim is given",
                    (long long)m->heads, (long long)m->hidden);
            diag_hint(d, "add 'head_dim = N' to the model block");
        }
    }
    if (m->kv_dtype == DT_COUNT) m->kv_dtype = m->dtype;
    if (m->chunk == 0) m->chunk = m->context < 512 ? m->context : 512;
    if (m->chunk > m->context) {
        diag_at(d, DIAG_ERROR, field_loc(ast, "chunk"), "chunk (%lld) is larger than context (%lld)",
                (long long)m->chunk, (long long)m->context);
    }
    check_rope_scaling(ast, d, m);
    check_experts(ast, d, m);
}

/* ------------------------------------------------------------------ attention kinds */

typedef struct {
    const char *name;
    int64_t window;  /* 0 = global, < 0 = invalid (already reported) */
    SrcLoc loc;
    LayerRope rope;
} Kind;

typedef struct {
    Kind *v;
    int n;
    bool lost;  /* a statement lost to a syntax error may have declared a kind */
} KindTable;

static const Kind *find_kind(const KindTable *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->v[i].name, name) == 0) return &t->v[i];
    return NULL;
}

static int64_t check_window_value(Diag *d, int64_t w, SrcLoc loc, const ModelHeader *m) {
    if (w < 1) {
        diag_at(d, DIAG_ERROR, loc, "window must be at least 1, not %lld", (long long)w);
        diag_hint(d, "window W lets a query see the W most recent keys, itself included");
        return -1;
    }
    if (w >= MIXC_MAX_VALUE) return -1;  /* the scanner has reported it */
    if (m->context && w >= m->context) {
        diag_at(d, DIAG_WARNING, loc, "window %lld is not smaller than the context (%lld): the layer is effectively global",
                (long long)w, (long long)m->context);
    }
    return w;
}

static bool loc_before(SrcLoc a, SrcLoc b) {
    return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* Resolves an attention to a window (0 = global); -1 when invalid (reported). */
static int64_t resolve_attn(Diag *d, const KindTable *kinds, const AstAttn *a, const ModelHeader *m,
                            const char **kind_name) {
    *kind_name = NULL;
    switch (a->syntax) {
    case ATTN_GLOBAL: return 0;
    case ATTN_WINDOW: return check_window_value(d, a->window, a->loc, m);
    case ATTN_NAMED: {
        const Kind *k = find_kind(kinds, a->name);
        if (!k && kinds->lost) return -1;  /* its declaration may be the statement that was lost */
        if (!k) {
            diag_at(d, DIAG_ERROR, a->loc, "unknown attention kind '%s'", a->name);
            if (kinds->n)
                diag_hint(d, "declared kinds: %s%s%s%s", kinds->v[0].name, kinds->n > 1 ? ", " : "",
                          kinds->n > 1 ? kinds->v[1].name : "", kinds->n > 2 ? ", ..." : "");
            else
                diag_hint(d, "declare it first: 'attention %s = window 1024' or 'attention %s = global'",
                          a->name, a->name);
            return -1;
        }
        if (loc_before(a->loc, k->loc)) {
            diag_at(d, DIAG_ERROR, a->loc, "attention kind '%s' is used before it is declared", a->name);
            diag_at(d, DIAG_NOTE, k->loc, "'%s' is declared here", a->name);
            diag_hint(d, "move the 'attention %s' line above its first use", a->name);
        }
        *kind_name = k->name;
        return k->window;
    }
    }
    return -1;
}

static void collect_kinds(const Ast *ast, Diag *d, const ModelHeader *m, KindTable *t) {
    int n = 0;
    for (const AstStmt *s = ast->stmts; s; s = s->next) n += s->kind == STMT_KIND;
    t->v = xcalloc((size_t)n + 1, sizeof(Kind));
    t->n = 0;
    t->lost = ast->kinds_lost;
    for (const AstStmt *s = ast->stmts; s; s = s->next) {
        if (s->kind != STMT_KIND) continue;
        const Kind *prev = find_kind(t, s->name);
        if (prev) {
            diag_at(d, DIAG_ERROR, s->name_loc, "attention kind '%s' is declared twice", s->name);
            diag_at(d, DIAG_NOTE, prev->loc, "first declared here");
            continue;
        }
        if (s->attn.syntax == ATTN_NAMED) {
            const Kind *alias = find_kind(t, s->attn.name);
            if (!alias) {
                if (!t->lost) diag_at(d, DIAG_ERROR, s->attn.loc, "unknown attention kind '%s'", s->attn.name);
                /* declared, but invalid: its uses are not reported again */
                t->v[t->n++] = (Kind){s->name, -1, s->name_loc, {0}};
                continue;
            }
            t->v[t->n++] = (Kind){s->name, alias->window, s->name_loc, check_kind_rope(d, s->props, alias->rope)};
            continue;
        }
        const char *unused;
        int64_t w = resolve_attn(d, t, &s->attn, m, &unused);
        t->v[t->n++] = (Kind){s->name, w, s->name_loc, check_kind_rope(d, s->props, (LayerRope){0})};
    }
}

/* ------------------------------------------------------------------ layer definitions */

typedef struct {
    bool defined;
    int64_t window;        /* -1 invalid */
    const char *kind_name;
    LayerRope rope;        /* its kind's */
    const AstElem *elem;   /* the element that defined the layer (its ref, its location) */
    int elem_id;           /* for flood control */
    SrcLoc loc;            /* the set item (or default statement) that named the layer */
    bool from_default;
} LayerDef;

typedef struct {
    Diag *d;
    const ModelHeader *m;
    const KindTable *kinds;
    bool partial;           /* the AST lost statements to syntax errors */
    LayerDef *defs;
    bool *named_in_error;   /* named by a set item or statement already reported: not "never defined" */
    int nlayers;
    int *elem_diags;        /* per element id: diagnostics reported */
    int *elem_suppressed;   /* per element id: diagnostics not shown */
    const AstElem **elems;  /* element id -> element (in statement order) */
    int nelems;
    int64_t *elem_window;   /* per element id: resolved window (-1 invalid) */
    const char **elem_kind; /* per element id: kind name or NULL */
    bool *elem_resolved;
} Checker;

/* The first diagnostic of each element is shown; the rest are counted and summarized. */
static bool elem_may_report(Checker *c, int id) {
    if (id < 0) return true;
    if (c->elem_diags[id]++ == 0) return true;
    c->elem_suppressed[id]++;
    return false;
}

/* The pattern element (its position in the statement) that applies to the p-th layer of a
 * statement's set: cum[j] is the number of layers covered by elements 0..j-1 of one period. */
static int pattern_index(const int64_t *cum, int nelems, int64_t period, int64_t p) {
    int64_t r = p % period;
    int lo = 0, hi = nelems - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (cum[mid] <= r)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static bool pattern_period(Checker *c, const AstStmt *s, int64_t *period) {
    int64_t total = 0;
    bool ok = true;
    for (const AstElem *e = s->elems; e; e = e->next) {
        if (e->repeat < 1) {
            diag_at(c->d, DIAG_ERROR, e->loc, "repeat count must be at least 1, not %lld", (long long)e->repeat);
            ok = false;
        } else if (!add_ok(total, e->repeat, &total)) {
            diag_at(c->d, DIAG_ERROR, e->loc, "pattern is too long");
            ok = false;
        }
    }
    *period = total;
    return ok && total > 0;
}

/* Resolves an element's attention once (so its diagnostics appear once, not once per layer). */
static int64_t elem_window(Checker *c, int id, const char **kind_name) {
    if (!c->elem_resolved[id]) {
        c->elem_resolved[id] = true;
        c->elem_window[id] = resolve_attn(c->d, c->kinds, &c->elems[id]->attn, c->m, &c->elem_kind[id]);
    }
    *kind_name = c->elem_kind[id];
    return c->elem_window[id];
}

static void define_layer(Checker *c, int64_t idx, int id, SrcLoc item_loc, int *dup_count, int64_t *first_dup) {
    LayerDef *def = &c->defs[idx];
    if (def->defined) {
        if ((*dup_count)++ == 0) {
            *first_dup = idx;
            diag_at(c->d, DIAG_ERROR, item_loc, "layer %lld is defined twice", (long long)idx);
            diag_at(c->d, DIAG_NOTE, def->loc, "layer %lld is first defined here", (long long)idx);
        }
        return;
    }
    const char *kind_name;
    int64_t w = elem_window(c, id, &kind_name);
    const Kind *k = kind_name ? find_kind(c->kinds, kind_name) : NULL;
    *def = (LayerDef){.defined = true, .window = w, .kind_name = kind_name, .rope = k ? k->rope : (LayerRope){0},
                      .elem = c->elems[id], .elem_id = id, .loc = item_loc};
}

/* The layers an erroneous item or statement meant to define (between its two bounds, whichever is
 * lower) are not reported again as never defined. */
static void mark_named_in_error(Checker *c, const AstSetItem *it) {
    int64_t lo = it->lo < it->hi ? it->lo : it->hi, hi = it->lo < it->hi ? it->hi : it->lo;
    if (lo < 0) lo = 0;
    for (int64_t i = lo; i <= hi && i < c->nlayers; i++) c->named_in_error[i] = true;
}

/* Validates a set item; returns the highest index to visit (clipped to the model), or -1. */
static int64_t item_last_index(Checker *c, const AstSetItem *it) {
    if (it->step < 1) {
        diag_at(c->d, DIAG_ERROR, it->loc, "step must be at least 1, not %lld", (long long)it->step);
        mark_named_in_error(c, it);
        return -1;
    }
    if (it->hi < it->lo) {
        diag_at(c->d, DIAG_ERROR, it->loc, "range %lld..%lld is empty: its end is below its start",
                (long long)it->lo, (long long)it->hi);
        diag_hint(c->d, "ranges are inclusive and increasing, e.g. 0..11");
        mark_named_in_error(c, it);
        return -1;
    }
    if (it->hi >= c->nlayers) {
        if (it->lo == it->hi)
            diag_at(c->d, DIAG_ERROR, it->loc, "layer %lld is out of range", (long long)it->lo);
        else
            diag_at(c->d, DIAG_ERROR, it->loc, "range %lld..%lld goes past the last layer",
                    (long long)it->lo, (long long)it->hi);
        diag_hint(c->d, "the model has %d layers, numbered 0..%d", c->nlayers, c->nlayers - 1);
    }
    return it->hi < c->nlayers ? it->hi : c->nlayers - 1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Collects the (valid) indices of a set, each with the location of the item that named it,
 * sorted ascending (stable for equal indices: duplicates are caught when defining). */
typedef struct {
    int64_t idx;
    int64_t order;
    const AstSetItem *item;
} SetEntry;

static int cmp_entry(const void *a, const void *b) {
    const SetEntry *x = a, *y = b;
    if (x->idx != y->idx) return (x->idx > y->idx) - (x->idx < y->idx);
    return cmp_i64(&x->order, &y->order);
}

static SetEntry *expand_set(Checker *c, const AstSetItem *set, int64_t *count) {
    int64_t n = 0, cap = 16;
    SetEntry *v = xmalloc((size_t)cap * sizeof *v);
    for (const AstSetItem *it = set; it; it = it->next) {
        int64_t last = item_last_index(c, it);
        for (int64_t i = it->lo; last >= 0 && i <= last; i += it->step) {
            /* More entries than layers means a duplicate is among them: no need to keep expanding
             * (a set of many overlapping ranges would otherwise take unbounded memory). */
            if (n > c->nlayers) break;
            if (n == cap) v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
            v[n] = (SetEntry){i, n, it};
            n++;
            if (i > MIXC_MAX_VALUE - it->step) break;
        }
    }
    qsort(v, (size_t)n, sizeof *v, cmp_entry);
    *count = n;
    return v;
}

/* Every element of a pattern is checked, also those past the end of its set (an unknown kind or a
 * window 0 there is as wrong as anywhere); an element no layer takes gets a warning (a pattern
 * longer than its set would otherwise drop, say, its global layer without a word). n < 0: the set
 * had errors, so which elements are used is not known. */
static void check_unused_elems(Checker *c, const AstStmt *s, int base, const int64_t *cum, int64_t n) {
    const AstElem *first_unused = NULL;
    int j = 0, unused = 0, first_j = 0;
    for (const AstElem *e = s->elems; e; e = e->next, j++) {
        const char *kind_name;
        elem_window(c, base + j, &kind_name);
        if (n < 0 || cum[j] < n) continue;
        if (!unused++) first_unused = e, first_j = j;
    }
    if (!unused) return;
    if (unused == 1)
        diag_at(c->d, DIAG_WARNING, first_unused->loc, "this pattern element is never used: the statement has %lld %s",
                (long long)n, n == 1 ? "layer" : "layers");
    else
        diag_at(c->d, DIAG_WARNING, first_unused->loc,
                "this pattern element and the %d after it are never used: the statement has %lld %s", unused - 1,
                (long long)n, n == 1 ? "layer" : "layers");
    diag_hint(c->d, "the first %d %s of the pattern %s the statement's layers; remove the rest or widen the set",
              first_j, first_j == 1 ? "element" : "elements", first_j == 1 ? "covers" : "cover");
}

static void apply_layer_stmt(Checker *c, const AstStmt *s, int base) {
    int64_t period = 1;
    if (s->is_pattern && !pattern_period(c, s, &period)) {
        for (const AstSetItem *it = s->set; it; it = it->next) mark_named_in_error(c, it);
        return;
    }
    int nelems = 0;
    for (const AstElem *e = s->elems; e; e = e->next) nelems++;
    int64_t *cum = xcalloc((size_t)nelems + 1, sizeof(int64_t));
    int j = 0;
    for (const AstElem *e = s->elems; e; e = e->next, j++) cum[j + 1] = cum[j] + (s->is_pattern ? e->repeat : 1);
    int64_t n;
    int errors_before = c->d->errors;
    SetEntry *v = expand_set(c, s->set, &n);
    bool set_ok = c->d->errors == errors_before;
    int dups = 0;
    int64_t first_dup = -1;
    for (int64_t p = 0; p < n; p++) {
        int id = base + (s->is_pattern ? pattern_index(cum, nelems, period, p) : 0);
        define_layer(c, v[p].idx, id, v[p].item->loc, &dups, &first_dup);
    }
    if (s->is_pattern) check_unused_elems(c, s, base, cum, set_ok ? n : -1);
    if (dups > 1)
        diag_at(c->d, DIAG_NOTE, s->loc, "%d more %s of this statement after layer %lld %s defined twice", dups - 1,
                dups - 1 == 1 ? "layer" : "layers", (long long)first_dup, dups - 1 == 1 ? "is" : "are");
    free(v);
    free(cum);
}

/* Lists up to a few index runs: "3..5, 9, 11..20". */
static void format_index_runs(const bool *mask, int n, char *out, size_t outlen) {
    size_t len = 0;
    int runs = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!mask[i]) continue;
        int j = i;
        while (j + 1 < n && mask[j + 1]) j++;
        if (runs == 6) {
            snprintf(out + len, outlen - len, ", ...");
            return;
        }
        int w = j > i ? snprintf(out + len, outlen - len, "%s%d..%d", runs ? ", " : "", i, j)
                      : snprintf(out + len, outlen - len, "%s%d", runs ? ", " : "", i);
        if (w < 0 || (size_t)w >= outlen - len) return;
        len += (size_t)w;
        runs++;
        i = j;
    }
}

static void apply_default(Checker *c, const AstStmt *def_stmt, int def_base, const Ast *ast) {
    bool *missing = xcalloc((size_t)c->nlayers, sizeof(bool));
    int nmissing = 0;
    for (int i = 0; i < c->nlayers; i++) {
        if (c->defs[i].defined) continue;
        if (def_stmt) {
            int dups = 0;
            int64_t first;
            define_layer(c, i, def_base, def_stmt->loc, &dups, &first);
            c->defs[i].from_default = true;
        } else if (!c->named_in_error[i]) {
            missing[i] = true;
            nmissing++;
        }
    }
    if (nmissing && !c->partial) {
        char runs[256];
        format_index_runs(missing, c->nlayers, runs, sizeof runs);
        diag_at(c->d, DIAG_ERROR, field_loc(ast, "layers"), "%s %s %s never defined",
                nmissing == 1 ? "layer" : "layers", runs, nmissing == 1 ? "is" : "are");
        diag_hint(c->d, "define %s with a 'layers' statement, or add 'default : ATTENTION'",
                  nmissing == 1 ? "it" : "them");
    }
    free(missing);
}

/* ------------------------------------------------------------------ references */

/* Resolves layer i's reference to the owning layer; -1 on error (reported). */
static int resolve_ref(Checker *c, int i, const int *reads) {
    const LayerDef *def = &c->defs[i];
    const AstRef *ref = &def->elem->ref;
    int id = def->elem_id;
    int64_t target;
    switch (ref->kind) {
    case REF_NONE: return i;
    case REF_ABS: target = ref->n; break;
    case REF_REL: target = (int64_t)i - ref->n; break;
    case REF_LAST:
        for (int j = i - 1; j >= 0; j--)
            if (reads[j] == j && c->defs[j].window == def->window && rope_equal(&c->defs[j].rope, &def->rope)) return j;
        if (elem_may_report(c, id)) {
            char a[ATTN_TEXT_MAX];
            diag_at(c->d, DIAG_ERROR, ref->loc, "layer %d reads 'last', but no earlier layer with %s attention owns a cache",
                    i, attn_text(def->window, a));
            diag_hint(c->d, "'last' means the nearest earlier layer with the same attention that owns its cache");
        }
        return -1;
    default: return -1;
    }
    if (target == i) {
        if (elem_may_report(c, id)) {
            diag_at(c->d, DIAG_ERROR, ref->loc, "layer %d reads its own cache", i);
            diag_hint(c->d, "a layer that owns its cache needs no 'reads'; remove it");
        }
        return -1;
    }
    if (target < 0 || target >= c->nlayers) {
        if (elem_may_report(c, id)) {
            diag_at(c->d, DIAG_ERROR, ref->loc, "layer %d reads layer %lld, which does not exist", i,
                    (long long)target);
            diag_hint(c->d, "the model has %d layers, numbered 0..%d", c->nlayers, c->nlayers - 1);
        }
        return -1;
    }
    if (target > i) {
        if (elem_may_report(c, id)) {
            diag_at(c->d, DIAG_ERROR, ref->loc, "layer %d reads layer %lld, which runs after it", i, (long long)target);
            diag_at(c->d, DIAG_NOTE, c->defs[target].loc, "layer %lld is defined here", (long long)target);
            diag_hint(c->d, "a layer can only reuse the cache of an earlier layer: its cache does not exist yet");
        }
        return -1;
    }
    int t = (int)target;
    if (reads[t] < 0) return -1;  /* the target is itself in error */
    if (reads[t] != t) {
        if (elem_may_report(c, id)) {
            diag_at(c->d, DIAG_WARNING, ref->loc,
                    "layer %d reads layer %d, which itself reads layer %d: resolved to the owner, layer %d", i, t,
                    reads[t], reads[t]);
            diag_at(c->d, DIAG_NOTE, c->defs[t].loc, "layer %d is defined here", t);
            diag_hint(c->d, "write 'reads %d' to say so directly", reads[t]);
        }
        return reads[t];
    }
    return t;
}

static void report_suppressed(Checker *c) {
    for (int id = 0; id < c->nelems; id++)
        if (c->elem_suppressed[id])
            diag_at(c->d, DIAG_NOTE, c->elems[id]->loc, "%d more %s of this statement %s the same problem",
                    c->elem_suppressed[id], c->elem_suppressed[id] == 1 ? "layer" : "layers",
                    c->elem_suppressed[id] == 1 ? "has" : "have");
}

/* Warns when a reader needs more history than the cache's owner would keep for itself. */
static void warn_longer_history(Checker *c, const Layout *l) {
    const ModelHeader *m = c->m;
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        int64_t own = l->layer[ci->owner].window;
        if (own == 0 || (ci->retention != 0 && ci->retention <= own)) continue;
        /* The reader that forces it: a global one, else the widest window. */
        int forcer = -1;
        for (int r = 0; r < ci->nreaders; r++) {
            int64_t w = l->layer[ci->readers[r]].window;
            if (w == ci->retention) {
                forcer = ci->readers[r];
                break;
            }
        }
        if (forcer < 0) continue;
        int64_t L = m->context, C = m->chunk;
        int64_t before = own + C - 1 < L ? own + C - 1 : L;
        int64_t after = plan_cache_tokens(l, k, L, C);
        if (after <= before) continue;  /* at this context the owner keeps every token anyway */
        int64_t data, scales;
        double extra = plan_token_bytes(m, &data, &scales) ? (double)(after - before) * (double)(data + scales) : 0;
        char a[ATTN_TEXT_MAX], b[ATTN_TEXT_MAX];
        int id = c->defs[forcer].elem_id;
        if (!elem_may_report(c, id)) continue;
        diag_at(c->d, DIAG_WARNING, c->defs[forcer].elem->ref.loc,
                "layer %d (%s) reads the cache of layer %d (%s): that cache must keep %s history",
                forcer, attn_text(l->layer[forcer].window, a), ci->owner,
                attn_text(own, b), ci->retention == 0 ? "the whole" : "a longer");
        diag_at(c->d, DIAG_NOTE, c->defs[ci->owner].loc,
                "layer %d's cache grows from %lld to %lld tokens at context %lld: %s more per sequence",
                ci->owner, (long long)before, (long long)after, (long long)L, fmt_bytes(extra));
    }
}

/* The layout of a checked AST: reads[] resolved, every layer defined with a valid window. */
static void build_layout(Checker *c, const ModelHeader *m, const int *reads, Layout *out) {
    int64_t *window = xcalloc((size_t)c->nlayers + 1, sizeof(int64_t));
    for (int i = 0; i < c->nlayers; i++) window[i] = c->defs[i].window;
    layout_from_arrays(out, m, c->nlayers, window, reads);
    for (int i = 0; i < c->nlayers; i++) {
        out->layer[i].kind_name = c->defs[i].kind_name ? xstrdup(c->defs[i].kind_name) : NULL;
        out->layer[i].loc = c->defs[i].loc;
        out->layer[i].rope = c->defs[i].rope;
    }
    free(window);
}

static void check_layers(Checker *c, const Ast *ast) {
    const AstStmt *def_stmt = NULL;
    int base = 0, def_base = 0;
    for (const AstStmt *s = ast->stmts; s; s = s->next) {
        if (s->kind == STMT_LAYERS) {
            apply_layer_stmt(c, s, base);
        } else if (s->kind == STMT_DEFAULT) {
            if (def_stmt) {
                diag_at(c->d, DIAG_ERROR, s->loc, "a second 'default' statement");
                diag_at(c->d, DIAG_NOTE, def_stmt->loc, "the first one is here");
            } else {
                def_stmt = s;
                def_base = base;
            }
        }
        for (const AstElem *e = s->elems; e; e = e->next) base++;
    }
    apply_default(c, def_stmt, def_base, ast);
}

static void number_elems(Checker *c, const Ast *ast) {
    int n = 0;
    for (const AstStmt *s = ast->stmts; s; s = s->next)
        for (const AstElem *e = s->elems; e; e = e->next) n++;
    c->elems = xcalloc((size_t)n + 1, sizeof *c->elems);
    c->elem_diags = xcalloc((size_t)n + 1, sizeof(int));
    c->elem_suppressed = xcalloc((size_t)n + 1, sizeof(int));
    c->elem_window = xcalloc((size_t)n + 1, sizeof(int64_t));
    c->elem_kind = xcalloc((size_t)n + 1, sizeof(char *));
    c->elem_resolved = xcalloc((size_t)n + 1, sizeof(bool));
    for (const AstStmt *s = ast->stmts; s; s = s->next)
        for (const AstElem *e = s->elems; e; e = e->next) c->elems[c->nelems++] = e;
}

bool check_ast(const Ast *ast, Diag *d, Layout *out) {
    memset(out, 0, sizeof *out);
    int errors_before = d->errors;
    ModelHeader m;
    check_header(ast, d, &m);
    check_header_relations(ast, d, &m);
    KindTable kinds;
    collect_kinds(ast, d, &m, &kinds);

    Checker c = {.d = d, .m = &m, .kinds = &kinds, .nlayers = (int)m.layers, .partial = ast->partial};
    number_elems(&c, ast);
    c.defs = xcalloc((size_t)c.nlayers + 1, sizeof(LayerDef));
    c.named_in_error = xcalloc((size_t)c.nlayers + 1, sizeof(bool));
    if (c.nlayers > 0) check_layers(&c, ast);

    int *reads = xcalloc((size_t)c.nlayers + 1, sizeof(int));
    for (int i = 0; i < c.nlayers; i++) {
        reads[i] = -1;
        if (c.defs[i].defined && c.defs[i].window >= 0) reads[i] = resolve_ref(&c, i, reads);
    }
    bool ok = d->errors == errors_before && c.nlayers > 0 && !ast->partial && ast->errors == 0;
    if (ok) {
        build_layout(&c, &m, reads, out);
        m.name = NULL;
        warn_longer_history(&c, out);
        if (!verify_layout(out, d->out) || !check_rope_sharing(d, out)) ok = false;
    }
    report_suppressed(&c);
    free(m.name);
    free(reads);
    free(c.defs);
    free(c.named_in_error);
    free(c.elems);
    free(c.elem_diags);
    free(c.elem_suppressed);
    free(c.elem_window);
    free(c.elem_kind);
    free(c.elem_resolved);
    free(kinds.v);
    if (!ok) layout_free(out);
    return ok;
}
