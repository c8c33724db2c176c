/* check.c — the checker: Ast -> Layout.
 *
 * Validates the header (header_check.c), the attention kinds and the layer statements, resolves every `reads`
 * reference to the layer that owns the cache, and reports every problem in one run. Floods are
 * capped: one diagnostic per statement element and kind of problem, then a count. */
#include "mixc.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ attention kinds */

/* A resolved attention: global (both 0), window W or chunked C; window < 0 when invalid (reported). */
typedef struct {
    int64_t window, chunked;
} Mask;
static const Mask INVALID_MASK = {-1, 0};

static bool mask_equal(Mask a, Mask b) {
    return a.window == b.window && a.chunked == b.chunked;
}

typedef struct {
    const char *name;
    Mask mask;
    SrcLoc loc;
    LayerRope rope;
    bool sinks;
    KindShape shape;
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

/* The size of a window W or a chunked C (`what`); -1 when invalid (reported). */
static int64_t check_mask_size(Diag *d, const char *what, int64_t w, SrcLoc loc, const ModelHeader *m) {
    if (w < 1) {
        diag_at(d, DIAG_ERROR, loc, "%s must be at least 1, not %lld", what, (long long)w);
        if (strcmp(what, "window") == 0)
            diag_hint(d, "window W lets a query see the W most recent keys, itself included");
        else
            diag_hint(d, "chunked C cuts the sequence into aligned chunks of C tokens; a query sees the keys of its "
                         "own chunk up to itself");
        return -1;
    }
    if (w >= MIXC_MAX_VALUE) return -1;  /* the scanner has reported it */
    if (m->context && w >= m->context) {
        diag_at(d, DIAG_WARNING, loc, "%s %lld is not smaller than the context (%lld): the layer is effectively global",
                what, (long long)w, (long long)m->context);
    }
    return w;
}

static bool loc_before(SrcLoc a, SrcLoc b) {
    return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/* Resolves an attention to its mask; INVALID_MASK when invalid (reported). */
static Mask resolve_attn(Diag *d, const KindTable *kinds, const AstAttn *a, const ModelHeader *m,
                            const char **kind_name) {
    *kind_name = NULL;
    switch (a->syntax) {
    case ATTN_GLOBAL: return (Mask){0, 0};
    case ATTN_WINDOW: return (Mask){check_mask_size(d, "window", a->window, a->loc, m), 0};
    case ATTN_CHUNKED: {
        int64_t c = check_mask_size(d, "chunked", a->chunked, a->loc, m);
        return c < 0 ? INVALID_MASK : (Mask){0, c};
    }
    case ATTN_NAMED: {
        const Kind *k = find_kind(kinds, a->name);
        if (!k && kinds->lost) return INVALID_MASK;  /* its declaration may be the statement that was lost */
        if (!k) {
            diag_at(d, DIAG_ERROR, a->loc, "unknown attention kind '%s'", a->name);
            if (kinds->n)
                diag_hint(d, "declared kinds: %s%s%s%s", kinds->v[0].name, kinds->n > 1 ? ", " : "",
                          kinds->n > 1 ? kinds->v[1].name : "", kinds->n > 2 ? ", ..." : "");
            else
                diag_hint(d, "declare it first: 'attention %s = window 1024' or 'attention %s = global'",
                          a->name, a->name);
            return INVALID_MASK;
        }
        if (loc_before(a->loc, k->loc)) {
            diag_at(d, DIAG_ERROR, a->loc, "attention kind '%s' is used before it is declared", a->name);
            diag_at(d, DIAG_NOTE, k->loc, "'%s' is declared here", a->name);
            diag_hint(d, "move the 'attention %s' line above its first use", a->name);
        }
        *kind_name = k->name;
        return k->mask;
    }
    }
    return INVALID_MASK;
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
                t->v[t->n++] = (Kind){s->name, INVALID_MASK, s->name_loc, {0}, false, {0, 0}};
                continue;
            }
            LayerRope rope = check_kind_rope(d, s->props, alias->rope);
            t->v[t->n++] = (Kind){s->name, alias->mask, s->name_loc, rope, check_kind_sinks(d, s->props, alias->sinks),
                                  check_kind_shape(d, s->props, m, rope.nope, alias->shape)};
            continue;
        }
        const char *unused;
        Mask mask = resolve_attn(d, t, &s->attn, m, &unused);
        LayerRope rope = check_kind_rope(d, s->props, (LayerRope){0});
        t->v[t->n++] = (Kind){s->name, mask, s->name_loc, rope, check_kind_sinks(d, s->props, false),
                              check_kind_shape(d, s->props, m, rope.nope, (KindShape){0})};
    }
}

/* ------------------------------------------------------------------ layer definitions */

typedef struct {
    bool defined;
    Mask mask;             /* window -1: invalid */
    const char *kind_name;
    LayerRope rope;        /* its kind's */
    bool sinks;            /* its kind's */
    KindShape shape;       /* its kind's (0: the header's) */
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
    Mask *elem_mask;        /* per element id: resolved mask (window -1: invalid) */
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
static Mask elem_mask(Checker *c, int id, const char **kind_name) {
    if (!c->elem_resolved[id]) {
        c->elem_resolved[id] = true;
        c->elem_mask[id] = resolve_attn(c->d, c->kinds, &c->elems[id]->attn, c->m, &c->elem_kind[id]);
    }
    *kind_name = c->elem_kind[id];
    return c->elem_mask[id];
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
    Mask mask = elem_mask(c, id, &kind_name);
    const Kind *k = kind_name ? find_kind(c->kinds, kind_name) : NULL;
    *def = (LayerDef){.defined = true, .mask = mask, .kind_name = kind_name, .rope = k ? k->rope : (LayerRope){0},
                      .sinks = k && k->sinks, .shape = k ? k->shape : (KindShape){0},
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
        elem_mask(c, base + j, &kind_name);
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
        diag_at(c->d, DIAG_ERROR, header_field_loc(ast, "layers"), "%s %s %s never defined",
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
            if (reads[j] == j && mask_equal(c->defs[j].mask, def->mask) && rope_equal(&c->defs[j].rope, &def->rope) &&
                c->defs[j].sinks == def->sinks && c->defs[j].shape.kv_heads == def->shape.kv_heads &&
                c->defs[j].shape.head_dim == def->shape.head_dim)   /* the same attention, as the .mix writer compares them */
                return j;
        if (elem_may_report(c, id)) {
            char a[ATTN_TEXT_MAX];
            diag_at(c->d, DIAG_ERROR, ref->loc, "layer %d reads 'last', but no earlier layer with %s attention owns a cache",
                    i, attn_text(def->mask.window, def->mask.chunked, a));
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
        const LayerInfo *owner = &l->layer[ci->owner];
        int64_t own = layer_history(owner);
        if (own == 0 || (ci->retention != 0 && ci->retention <= own)) continue;
        /* The reader that forces it: a global one, else the one reaching furthest back. */
        int forcer = -1;
        for (int r = 0; r < ci->nreaders; r++) {
            int64_t w = layer_history(&l->layer[ci->readers[r]]);
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
        ModelHeader om = layer_model(l, ci->owner);
        double extra = plan_token_bytes(&om, &data, &scales) ? (double)(after - before) * (double)(data + scales) : 0;
        char a[ATTN_TEXT_MAX], b[ATTN_TEXT_MAX];
        int id = c->defs[forcer].elem_id;
        if (!elem_may_report(c, id)) continue;
        diag_at(c->d, DIAG_WARNING, c->defs[forcer].elem->ref.loc,
                "layer %d (%s) reads the cache of layer %d (%s): that cache must keep %s history",
                forcer, attn_text(l->layer[forcer].window, l->layer[forcer].chunked, a), ci->owner,
                attn_text(owner->window, owner->chunked, b), ci->retention == 0 ? "the whole" : "a longer");
        diag_at(c->d, DIAG_NOTE, c->defs[ci->owner].loc,
                "layer %d's cache grows from %lld to %lld tokens at context %lld: %s more per sequence",
                ci->owner, (long long)before, (long long)after, (long long)L, fmt_bytes(extra));
        if (l->layer[forcer].chunked)
            diag_hint(c->d, "a chunked %lld query reaches back to its chunk's first key, up to %lld keys before it",
                      (long long)l->layer[forcer].chunked, (long long)l->layer[forcer].chunked - 1);
    }
}

/* The layout of a checked AST: reads[] resolved, every layer defined with a valid window. */
static void build_layout(Checker *c, const ModelHeader *m, const int *reads, Layout *out) {
    int64_t *window = xcalloc((size_t)c->nlayers + 1, sizeof(int64_t));
    int64_t *chunked = xcalloc((size_t)c->nlayers + 1, sizeof(int64_t));
    for (int i = 0; i < c->nlayers; i++) window[i] = c->defs[i].mask.window, chunked[i] = c->defs[i].mask.chunked;
    layout_from_arrays(out, m, c->nlayers, window, chunked, reads);
    for (int i = 0; i < c->nlayers; i++) {
        out->layer[i].kind_name = c->defs[i].kind_name ? xstrdup(c->defs[i].kind_name) : NULL;
        out->layer[i].loc = c->defs[i].loc;
        out->layer[i].rope = c->defs[i].rope;
        out->layer[i].sinks = c->defs[i].sinks;
        out->layer[i].kv_heads = c->defs[i].shape.kv_heads;
        out->layer[i].head_dim = c->defs[i].shape.head_dim;
    }
    free(window);
    free(chunked);
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
    c->elem_mask = xcalloc((size_t)n + 1, sizeof(Mask));
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
        if (c.defs[i].defined && c.defs[i].mask.window >= 0) reads[i] = resolve_ref(&c, i, reads);
    }
    bool ok = d->errors == errors_before && c.nlayers > 0 && !ast->partial && ast->errors == 0;
    if (ok) {
        build_layout(&c, &m, reads, out);
        m.name = NULL;
        warn_longer_history(&c, out);
        if (!verify_layout(out, d->out)) ok = false;
        else if (!check_rope_sharing(d, out) + !check_shape_sharing(d, out)) ok = false;   /* both reported */
    }
    report_suppressed(&c);
    free(m.name);
    free(reads);
    free(c.defs);
    free(c.named_in_error);
    free(c.elems);
    free(c.elem_diags);
    free(c.elem_suppressed);
    free(c.elem_mask);
    free(c.elem_kind);
    free(c.elem_resolved);
    free(kinds.v);
    if (!ok) layout_free(out);
    return ok;
}
