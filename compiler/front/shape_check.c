/* shape_check.c — the checker's rules for a kind's own KV shape (docs/language.md, "Per-kind
 * shapes"): `kv_heads K` and `head_dim D` after an attention kind, each at most once, a positive
 * integer; heads a multiple of K; an even D on a layer with RoPE (it rotates pairs); and a reader's
 * shape equal to its cache owner's (the cache holds the owner's K and V rows). */
#include "mixc.h"

#include <stdlib.h>
#include <string.h>

/* One of the two properties; false when it is not one. */
static bool shape_prop(const AstField *f, int *which) {
    if (!strcmp(f->key, "kv_heads")) return *which = 0, true;
    if (!strcmp(f->key, "head_dim")) return *which = 1, true;
    return false;
}

bool is_kind_shape_prop(const char *key) {
    int which;
    return shape_prop(&(AstField){.key = key}, &which);
}

KindShape check_kind_shape(Diag *d, const AstField *props, const ModelHeader *m, bool nope, KindShape base) {
    const AstField *seen[2] = {NULL, NULL};
    for (const AstField *f = props; f; f = f->next) {
        int w;
        if (!shape_prop(f, &w)) continue;
        if (seen[w]) {
            diag_at(d, DIAG_ERROR, f->loc, "'%s' is given twice", f->key);
            diag_at(d, DIAG_NOTE, seen[w]->loc, "first given here");
            continue;
        }
        if (f->value.kind == AV_BOOL) {
            diag_at(d, DIAG_ERROR, f->loc, "'%s' needs a value", f->key);
            diag_hint(d, "write '%s N' after the attention, e.g. 'attention full = global kv_heads 2 head_dim 256'", f->key);
        } else if (f->value.kind != AV_INT || f->value.i < 1) {
            diag_at(d, DIAG_ERROR, f->value.loc, "'%s' of an attention kind must be a positive integer", f->key);
        } else {
            seen[w] = f;
        }
    }
    KindShape s = base;
    if (seen[0]) s.kv_heads = seen[0]->value.i;
    if (seen[1]) s.head_dim = seen[1]->value.i;
    int64_t kv = s.kv_heads ? s.kv_heads : m->kv_heads, dim = s.head_dim ? s.head_dim : m->head_dim;
    if (seen[0] && m->heads && m->heads % kv) {
        diag_at(d, DIAG_ERROR, seen[0]->value.loc, "heads (%lld) is not a multiple of this kind's kv_heads (%lld)",
                (long long)m->heads, (long long)kv);
        diag_hint(d, "grouped-query attention needs every KV head to serve the same number of query heads");
        s.kv_heads = 0;
    }
    if (seen[1] && !nope && dim % 2) {
        diag_at(d, DIAG_ERROR, seen[1]->value.loc, "head_dim %lld is odd, but RoPE rotates pairs of dimensions",
                (long long)dim);
        diag_hint(d, "an odd head_dim needs a kind without RoPE: add 'nope'");
    }
    if (s.kv_heads == m->kv_heads) s.kv_heads = 0;   /* the header's: written and planned as such */
    if (s.head_dim == m->head_dim) s.head_dim = 0;
    return s;
}

/* "kv_heads K, head_dim D" of layer i, its effective values. */
static const char *shape_text(const Layout *l, int i, char *buf, size_t n) {
    ModelHeader m = layer_model(l, i);
    snprintf(buf, n, "kv_heads %lld, head_dim %lld", (long long)m.kv_heads, (long long)m.head_dim);
    return buf;
}

bool check_shape_sharing(Diag *d, const Layout *l) {
    bool ok = true, *reported = xcalloc((size_t)l->nlayers + 1, sizeof(bool));   /* one error per cache */
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *r = &l->layer[i], *o = &l->layer[r->reads];
        ModelHeader rm = layer_model(l, i), om = layer_model(l, r->reads);
        if ((rm.kv_heads == om.kv_heads && rm.head_dim == om.head_dim) || reported[r->reads]) continue;
        reported[r->reads] = true;
        char a[80], b[80];
        diag_at(d, DIAG_ERROR, r->loc, "layer %d (%s) reads the cache of layer %d (%s), whose rows have another shape", i,
                shape_text(l, i, a, sizeof a), o->index, shape_text(l, o->index, b, sizeof b));
        diag_at(d, DIAG_NOTE, o->loc, "layer %d is defined here", o->index);
        diag_hint(d, "a cache holds its owner's K and V rows: a reader's kind must have its owner's kv_heads and head_dim");
        ok = false;
    }
    free(reported);
    return ok;
}
