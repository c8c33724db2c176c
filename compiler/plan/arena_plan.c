/* arena_plan.c — the activation arena: every intermediate tensor of one decode step or one prefill
 * chunk, with its lifetime, packed into one buffer by a lifetime-aware allocator, and a verifier. */
#include "plan.h"

#include "mixc_params.h"   /* PREFILL_ARGS_INTS: a batched prefill's table */

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the allocator */

static int max_op(const ArenaItem *items, int n) {
    int m = -1;
    for (int i = 0; i < n; i++)
        if (items[i].last > m) m = items[i].last;
    return m;
}

/* ---- the placement order: largest first; among equals, the longest lifetime, then the earliest,
 * then input order. A layout of 100,000 layers has millions of tensors but a few dozen distinct
 * (size, lifetime) classes, and a step lists its tensors in op order (`first` never decreases):
 * then the order is the classes sorted, each in input order, with no sort of the tensors. */
typedef struct {
    int64_t size;
    int len, first, idx;
} OrderKey;

static int by_order_key(const void *a, const void *b) {
    const OrderKey *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void order_by_sort(const ArenaItem *items, int n, int *order) {
    OrderKey *k = xmalloc(((size_t)n + 1) * sizeof *k);
    for (int i = 0; i < n; i++) k[i] = (OrderKey){items[i].size, items[i].last - items[i].first, items[i].first, i};
    qsort(k, (size_t)n, sizeof *k, by_order_key);
    for (int i = 0; i < n; i++) order[i] = k[i].idx;
    free(k);
}

static uint64_t mix_hash(uint64_t a, uint64_t b) {
    uint64_t h = a * 0x9E3779B97F4A7C15u ^ (b + 0x632BE59BD9B4E019u + (a << 6) + (a >> 2));
    return h ^ (h >> 29);
}

/* Open addressing over the classes found so far: doubled at half full (usually a few dozen), the
 * class array with it (it holds at most cap / 2 + 1). Nothing here is sized by the item count: a
 * calloc of millions of entries that stay unused would still be cleared byte by byte. */
typedef struct {
    int *slot;
    size_t cap;
    OrderKey *classes;
    int n;
} ClassTable;

static size_t class_slot(const ClassTable *t, int64_t size, int len) {
    size_t h = mix_hash((uint64_t)size, (uint64_t)len) & (t->cap - 1);
    while (t->slot[h] >= 0 && (t->classes[t->slot[h]].size != size || t->classes[t->slot[h]].len != len))
        h = (h + 1) & (t->cap - 1);
    return h;
}

static void class_table_grow(ClassTable *t) {
    t->cap = t->cap ? 2 * t->cap : 64;
    t->slot = xrealloc(t->slot, t->cap * sizeof *t->slot);
    t->classes = xrealloc(t->classes, (t->cap / 2 + 1) * sizeof *t->classes);
    memset(t->slot, -1, t->cap * sizeof *t->slot);
    for (int c = 0; c < t->n; c++) t->slot[class_slot(t, t->classes[c].size, t->classes[c].len)] = c;
}

static int class_id(ClassTable *t, int64_t size, int len) {
    size_t h = class_slot(t, size, len);
    if (t->slot[h] >= 0) return t->slot[h];
    t->classes[t->n] = (OrderKey){size, len, 0, t->n};
    t->slot[h] = t->n++;
    if (2 * (size_t)t->n > t->cap) class_table_grow(t);
    return t->n - 1;
}

/* Class ids of (size, lifetime length), in first-seen order, and the classes (*classes, the
 * caller frees); returns the number of classes. */
static int classify(const ArenaItem *items, int n, int *class_of, OrderKey **classes) {
    ClassTable t = {0};
    class_table_grow(&t);
    for (int i = 0; i < n; i++) class_of[i] = class_id(&t, items[i].size, items[i].last - items[i].first);
    free(t.slot);
    *classes = t.classes;
    return t.n;
}

static void placement_order(const ArenaItem *items, int n, int *order) {
    for (int i = 1; i < n; i++)
        if (items[i].first < items[i - 1].first) {
            order_by_sort(items, n, order);
            return;
        }
    int *class_of = xmalloc(((size_t)n + 1) * sizeof *class_of);
    OrderKey *classes;
    int nclasses = classify(items, n, class_of, &classes);
    qsort(classes, (size_t)nclasses, sizeof *classes, by_order_key);
    int *start = xcalloc((size_t)nclasses + 1, sizeof *start), *rank = xcalloc((size_t)nclasses + 1, sizeof *rank);
    for (int c = 0; c < nclasses; c++) rank[classes[c].idx] = c;
    for (int i = 0; i < n; i++) start[rank[class_of[i]] + 1]++;
    for (int c = 0; c < nclasses; c++) start[c + 1] += start[c];
    for (int i = 0; i < n; i++) order[start[rank[class_of[i]]]++] = i;
    free(rank);
    free(start);
    free(classes);
    free(class_of);
}

/* ---- where an item goes: the lowest offset free of its conflicts. Long-lived tensors conflict
 * with millions of others that sit at a few distinct places: those are deduplicated first. */
typedef struct {
    int64_t offset, end;
} Span;

static int by_span_offset(const void *a, const void *b) {
    const Span *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

static int distinct_spans(Span *s, int n) {
    if (n < 64) return n;
    size_t cap = 64;
    while (cap < 2 * (size_t)n) cap *= 2;
    int *slot = xmalloc(cap * sizeof *slot);
    memset(slot, -1, cap * sizeof *slot);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        size_t h = mix_hash((uint64_t)s[i].offset, (uint64_t)s[i].end) & (cap - 1);
        while (slot[h] >= 0 && (s[slot[h]].offset != s[i].offset || s[slot[h]].end != s[i].end)) h = (h + 1) & (cap - 1);
        if (slot[h] < 0) {
            s[kept] = s[i];
            slot[h] = kept++;
        }
    }
    free(slot);
    return kept;
}

/* The lowest offset where `size` bytes fit between the spans (any order; sorted here). */
static int64_t lowest_fit(Span *spans, int n, int64_t size) {
    n = distinct_spans(spans, n);
    qsort(spans, (size_t)n, sizeof *spans, by_span_offset);
    int64_t off = 0;
    for (int k = 0; k < n; k++) {
        if (off + size <= spans[k].offset) break;
        if (spans[k].end > off) off = spans[k].end;
    }
    return off;
}

/* A tensor live for more ops than this (the residual stream, token ids, positions) is kept out of
 * the per-op lists: it would sit in every op's list and be visited once per op of every other
 * tensor. The few of them are checked against each tensor directly. */
#define ARENA_LONG_LIFETIME 64

static bool long_lived(const ArenaItem *it) { return it->last - it->first > ARENA_LONG_LIFETIME; }

/* For each op, room for the ids of every short-lived item to be placed (not skipped) live at it,
 * in one pool: live[at[op] .. at[op] + n[op]). */
typedef struct {
    size_t *at;
    int *n;
    int *ids;
} LiveLists;

static void live_lists_init(LiveLists *l, const ArenaItem *items, int n, int nops, const bool *skip) {
    l->at = xmalloc(((size_t)nops + 1) * sizeof(size_t));
    l->n = xcalloc((size_t)nops + 1, sizeof(int));
    for (int i = 0; i < n; i++)
        if (!long_lived(&items[i]) && !(skip && skip[i]))
            for (int op = items[i].first; op <= items[i].last; op++) l->n[op]++;
    size_t total = 0;
    for (int op = 0; op < nops; op++) {
        l->at[op] = total;
        total += (size_t)l->n[op];
        l->n[op] = 0;
    }
    l->ids = xcalloc(total + 1, sizeof(int));
}

static void live_lists_free(LiveLists *l) {
    free(l->at);
    free(l->n);
    free(l->ids);
}

typedef struct {
    ArenaItem *items;
    LiveLists live;
    int *stamp;             /* stamp[id] == k + 1: already a conflict of the k-th placed item */
    int *longs, nlongs;     /* the long-lived items placed so far */
    Span *conflicts;
} Placer;

static Span span_of(const ArenaItem *it) { return (Span){it->offset, it->offset + it->size}; }

/* The placed items whose lifetimes overlap `it`'s, as spans; returns how many. */
static int collect_conflicts(Placer *p, const ArenaItem *it, int k) {
    int nc = 0;
    for (int j = 0; j < p->nlongs; j++) {
        const ArenaItem *o = &p->items[p->longs[j]];
        if (o->first <= it->last && it->first <= o->last) p->conflicts[nc++] = span_of(o);
    }
    for (int op = it->first; op <= it->last; op++)
        for (int j = 0; j < p->live.n[op]; j++) {
            int id = p->live.ids[p->live.at[op] + (size_t)j];
            if (p->stamp[id] != k + 1) {
                p->stamp[id] = k + 1;
                p->conflicts[nc++] = span_of(&p->items[id]);
            }
        }
    return nc;
}

static void mark_placed(Placer *p, int id) {
    const ArenaItem *it = &p->items[id];
    if (long_lived(it)) {
        p->longs[p->nlongs++] = id;
        return;
    }
    for (int op = it->first; op <= it->last; op++) p->live.ids[p->live.at[op] + (size_t)p->live.n[op]++] = id;
}

/* ---- repeated structure. Short-lived tensors fall into groups (a layer's tensors): runs in input
 * order whose lifetimes chain together, no two groups live at once. Two groups with the same
 * tensors (sizes, lifetimes relative to the group's first op) and the same long-lived tensors
 * around them get the same offsets from the greedy: a tensor's offset depends only on the tensors
 * placed before it that live with it, i.e. its own group's and the long-lived ones, and those are
 * the same (a long-lived tensor's class never equals a short one's, so the order between them is
 * the same in every group; and the spans a long-lived tensor avoids are the same set whether each
 * repeated group is counted once or every time). So the greedy runs on one group of each kind and
 * the long-lived tensors, and the other groups copy their representative's offsets.
 * Needs input in op order (`first` never decreasing); returns -1 otherwise. */
typedef struct {
    int start, count;       /* items [start, start + count) */
    int first, last;        /* ops */
    uint64_t hash;
    int rep;                /* the group whose offsets this one copies (itself when representative) */
} Group;

static uint64_t group_hash(const ArenaItem *items, const Group *g, const int *longs, int nlongs) {
    uint64_t h = (uint64_t)g->count;
    for (int i = g->start; i < g->start + g->count; i++) {
        const ArenaItem *it = &items[i];
        h = mix_hash(h, (uint64_t)it->size);
        h = mix_hash(h, ((uint64_t)(it->first - g->first) << 32) | (uint32_t)(it->last - g->first));
    }
    for (int j = 0; j < nlongs; j++) {
        const ArenaItem *L = &items[longs[j]];
        if (L->first > g->last || L->last < g->first) continue;
        int from = L->first < g->first ? -1 : L->first - g->first;
        int to = L->last > g->last ? -1 : L->last - g->first;
        h = mix_hash(h, (uint64_t)longs[j]);
        h = mix_hash(h, ((uint64_t)(uint32_t)from << 32) | (uint32_t)to);
    }
    return h;
}

/* Whether groups a and b have the same tensors and the same long-lived tensors around them. */
static bool same_group(const ArenaItem *items, const Group *a, const Group *b, const int *longs, int nlongs) {
    if (a->hash != b->hash || a->count != b->count || a->last - a->first != b->last - b->first) return false;
    for (int i = 0; i < a->count; i++) {
        const ArenaItem *x = &items[a->start + i], *y = &items[b->start + i];
        if (x->size != y->size || x->first - a->first != y->first - b->first || x->last - a->first != y->last - b->first)
            return false;
    }
    for (int j = 0; j < nlongs; j++) {
        const ArenaItem *L = &items[longs[j]];
        bool in_a = L->first <= a->last && L->last >= a->first, in_b = L->first <= b->last && L->last >= b->first;
        if (in_a != in_b) return false;
        if (in_a && ((L->first < a->first ? -1 : L->first - a->first) != (L->first < b->first ? -1 : L->first - b->first) ||
                     (L->last > a->last ? -1 : L->last - a->first) != (L->last > b->last ? -1 : L->last - b->first)))
            return false;
    }
    return true;
}

/* Splits the short-lived items into groups (*out, grown as found; the caller frees it); -1 when
 * the input is not in op order. */
static int find_groups(const ArenaItem *items, int n, Group **out) {
    int ngroups = 0, cap = 0;
    Group *groups = *out = NULL;
    for (int i = 0; i < n; i++) {
        if (i > 0 && items[i].first < items[i - 1].first) return -1;
        if (long_lived(&items[i])) continue;
        Group *g = ngroups ? &groups[ngroups - 1] : NULL;
        if (g && items[i].first <= g->last && g->start + g->count == i) {
            g->count++;
            if (items[i].last > g->last) g->last = items[i].last;
        } else if (g && items[i].first <= g->last) {
            return -1;      /* two groups live at once (long-lived items between): no shortcut */
        } else {
            if (ngroups == cap) *out = groups = xrealloc(groups, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *groups);
            groups[ngroups++] = (Group){i, 1, items[i].first, items[i].last, 0, 0};
        }
    }
    return ngroups;
}

/* Points every group at the first earlier group of the same kind (hash table of representatives). */
static void match_groups(const ArenaItem *items, Group *groups, int ngroups, const int *longs, int nlongs) {
    size_t cap = 64;
    while (cap < 2 * (size_t)ngroups) cap *= 2;
    int *slot = xmalloc(cap * sizeof *slot);
    memset(slot, -1, cap * sizeof *slot);
    for (int g = 0; g < ngroups; g++) {
        groups[g].hash = group_hash(items, &groups[g], longs, nlongs);
        groups[g].rep = g;
        size_t h = groups[g].hash & (cap - 1);
        while (slot[h] >= 0 && !same_group(items, &groups[slot[h]], &groups[g], longs, nlongs)) h = (h + 1) & (cap - 1);
        if (slot[h] < 0) slot[h] = g;
        else groups[g].rep = slot[h];
    }
    free(slot);
}

static int64_t greedy(ArenaItem *items, int n, const int *order, const bool *skip);

static int64_t assign_by_groups(ArenaItem *items, int n, const int *order) {
    Group *groups;
    int ngroups = find_groups(items, n, &groups);
    if (ngroups < 0) {
        free(groups);
        return -1;
    }
    int nlongs = 0;
    for (int i = 0; i < n; i++) nlongs += long_lived(&items[i]);
    int *longs = xmalloc(((size_t)nlongs + 1) * sizeof *longs);
    for (int i = 0, j = 0; i < n; i++)
        if (long_lived(&items[i])) longs[j++] = i;
    match_groups(items, groups, ngroups, longs, nlongs);
    bool *skip = xcalloc((size_t)n + 1, sizeof *skip);
    for (int g = 0; g < ngroups; g++)
        if (groups[g].rep != g) memset(skip + groups[g].start, 1, (size_t)groups[g].count);
    int64_t size = greedy(items, n, order, skip);
    for (int g = 0; g < ngroups; g++) {
        const Group *r = &groups[groups[g].rep];
        for (int i = 0; i < groups[g].count; i++) items[groups[g].start + i].offset = items[r->start + i].offset;
    }
    free(skip);
    free(longs);
    free(groups);
    return size;
}

/* The greedy over the items with skip[i] false (all when skip is NULL), in placement order. An
 * item's conflicts and the long-lived items are among the placed ones: their arrays are sized by
 * those, which the repeated-groups path keeps few. */
static int64_t greedy(ArenaItem *items, int n, const int *order, const bool *skip) {
    size_t placed = 0;
    for (int i = 0; i < n; i++) placed += !(skip && skip[i]);
    Placer p = {.items = items, .stamp = xcalloc((size_t)n + 1, sizeof(int)),
                .longs = xmalloc((placed + 1) * sizeof(int)), .conflicts = xmalloc((placed + 1) * sizeof(Span))};
    live_lists_init(&p.live, items, n, max_op(items, n) + 1, skip);
    int64_t size = 0;
    for (int k = 0; k < n; k++) {
        ArenaItem *it = &items[order[k]];
        if (skip && skip[order[k]]) continue;
        it->offset = 0;
        if (it->size == 0) continue;    /* occupies no byte, conflicts with nothing */
        int nc = collect_conflicts(&p, it, k);
        it->offset = lowest_fit(p.conflicts, nc, it->size);
        if (it->offset + it->size > size) size = it->offset + it->size;
        mark_placed(&p, order[k]);
    }
    live_lists_free(&p.live);
    free(p.conflicts);
    free(p.longs);
    free(p.stamp);
    return size;
}

int64_t arena_assign_reference(ArenaItem *items, int n) {
    int *order = xmalloc(((size_t)n + 1) * sizeof(int));
    order_by_sort(items, n, order);
    int64_t size = greedy(items, n, order, NULL);
    free(order);
    return size;
}

int64_t arena_assign(ArenaItem *items, int n) {
    int *order = xmalloc(((size_t)n + 1) * sizeof(int));
    placement_order(items, n, order);
    int64_t size = assign_by_groups(items, n, order);
    if (size < 0) size = greedy(items, n, order, NULL);
    free(order);
    return size;
}

int64_t arena_lower_bound(const ArenaItem *items, int n) {
    int nops = max_op(items, n) + 1;
    int64_t *delta = xcalloc((size_t)nops + 2, sizeof(int64_t));
    for (int i = 0; i < n; i++) {
        delta[items[i].first] += items[i].size;
        delta[items[i].last + 1] -= items[i].size;
    }
    int64_t live = 0, best = 0;
    for (int op = 0; op < nops; op++) {
        live += delta[op];
        if (live > best) best = live;
    }
    free(delta);
    return best;
}

/* qsort_r, not a global: the report plans the decode step and the prefill chunk on two threads. */
static int by_first(const void *a, const void *b, void *items) {
    const ArenaItem *x = &((const ArenaItem *)items)[*(const int *)a], *y = &((const ArenaItem *)items)[*(const int *)b];
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

/* Two lifetime-overlapping items share an op: at the later one's first op both are live, so
 * checking each item against every item live when it starts covers every overlapping pair. */
bool arena_verify(const ArenaItem *items, int n, int64_t size, FILE *err) {
    int *order = xmalloc(((size_t)n + 1) * sizeof(int));   /* both written before read: no clearing */
    int *active = xmalloc(((size_t)n + 1) * sizeof(int));
    int nactive = 0;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const ArenaItem *it = &items[i];
        order[i] = i;
        if (it->first > it->last || it->size < 0 || it->offset < 0 || it->offset > size - it->size) {
            if (err)
                fprintf(err, "arena: tensor %d (%lld bytes at %lld, ops %d..%d) is outside the arena of %lld bytes\n",
                        i, (long long)it->size, (long long)it->offset, it->first, it->last, (long long)size);
            ok = false;
        }
    }
    bool in_first_order = true;
    for (int i = 1; i < n && in_first_order; i++) in_first_order = items[i].first >= items[i - 1].first;
    if (ok && !in_first_order) qsort_r(order, (size_t)n, sizeof(int), by_first, (void *)items);
    for (int k = 0; k < n && ok; k++) {
        const ArenaItem *it = &items[order[k]];
        int kept = 0;
        for (int j = 0; j < nactive; j++)       /* drop the items dead before this one starts */
            if (items[active[j]].last >= it->first) active[kept++] = active[j];
        nactive = kept;
        for (int j = 0; j < nactive && ok; j++) {
            const ArenaItem *o = &items[active[j]];
            bool disjoint = it->offset + it->size <= o->offset || o->offset + o->size <= it->offset;
            if (!disjoint && it->size > 0 && o->size > 0) {
                if (err)
                    fprintf(err, "arena: tensors %d and %d are both live at op %d and share bytes [%lld, %lld)\n",
                            active[j], order[k], it->first,
                            (long long)(it->offset > o->offset ? it->offset : o->offset),
                            (long long)(it->offset + it->size < o->offset + o->size ? it->offset + it->size
                                                                                    : o->offset + o->size));
                ok = false;
            }
        }
        active[nactive++] = order[k];
    }
    free(active);
    free(order);
    return ok;
}

/* ---------------------------------------------------------------- the ops and tensors of one step */

typedef struct {
    ActTensor *t;
    ArenaItem *item;        /* the tensors' sizes and lifetimes, parallel to t: what the arena packs */
    int n, cap;
    bool arena_only;        /* items only: no names (t NULL) and no ops */
    PlanOp *ops;            /* NULL when only the arena is planned */
    int ops_cap;
    int op;                 /* the op being listed */
    bool in_ops;            /* an op has begun: new tensors are op outputs, no longer step inputs */
    bool ok;                /* false once a size overflowed */
} Builder;

/* Both arrays grow by doubling; reserve() sizes them for the whole step up front. */
static void grow_tensors(Builder *b, int cap) {
    b->cap = cap;
    if (!b->arena_only) b->t = xrealloc(b->t, (size_t)b->cap * sizeof(ActTensor));
    b->item = xrealloc(b->item, (size_t)b->cap * sizeof(ArenaItem));
}

/* Starts op b->op: what it does; use() and tensor_new() then add its inputs and outputs. */
static void begin(Builder *b, OpKind kind, int layer, WeightRef weight) {
    b->in_ops = true;
    if (!b->ops) return;
    if (b->op >= b->ops_cap) {
        b->ops_cap = b->ops_cap ? b->ops_cap * 2 : 64;
        b->ops = xrealloc(b->ops, (size_t)b->ops_cap * sizeof(PlanOp));
    }
    b->ops[b->op] = (PlanOp){.kind = kind, .layer = layer, .weight = weight, .kernel = -1};
}

/* The current op writes tensor t. */
static void add_out(Builder *b, int t) {
    if (!b->ops) return;
    PlanOp *o = &b->ops[b->op];
    if (o->nout == PLAN_OP_MAX_OUT) fatal("internal error: op %d writes too many tensors", b->op);
    o->out[o->nout++] = t;
}

/* A new tensor of elems elements of dtype, written by the current op (or, before the first op has
 * begun, a step input the host fills). */
static int tensor_new(Builder *b, const char *name, int layer, int64_t elems, DType dtype) {
    int64_t bytes = 0;
    if (!mul_ok(elems, dtype_bytes(dtype), &bytes) || !add_ok(bytes, PLAN_ARENA_ALIGN - 1, &bytes)) b->ok = false;
    bytes -= bytes % PLAN_ARENA_ALIGN;
    if (b->n == b->cap) grow_tensors(b, b->cap ? b->cap * 2 : 64);
    if (b->t) b->t[b->n] = (ActTensor){name, layer, dtype};
    b->item[b->n] = (ArenaItem){b->ok ? bytes : 0, b->op, b->op, 0};
    if (b->in_ops) add_out(b, b->n);
    return b->n++;
}

/* The current op reads (or updates in place) tensor t. */
static void use(Builder *b, int t) {
    b->item[t].last = b->op;
    if (!b->ops) return;
    PlanOp *o = &b->ops[b->op];
    if (o->nin == PLAN_OP_MAX_IN) fatal("internal error: op %d reads too many tensors", b->op);
    o->in[o->nin++] = t;
}
/* The current op reads tensor t and writes it in place. */
static void update(Builder *b, int t) {
    use(b, t);
    add_out(b, t);
}
/* The current op writes tensor t, made by an earlier op (of two ops writing it, one runs). */
static void writes(Builder *b, int t) {
    b->item[t].last = b->op;
    add_out(b, t);
}
static void next_op(Builder *b) { b->op++; }

typedef struct {
    int64_t tokens, rows, context;   /* tokens in the step; sequences (rows of logits); the context */
    int64_t hidden, q_row, kv_row, ffn, vocab;   /* elements of one token's row */
    DType act, logits;
    bool decode, kernel_args, scores;
    DecodeSplit split;
    int pos, seqs, chunk_args;  /* the step's int inputs (-1 when absent) */
} StepShape;

/* Row widths; false on overflow. */
static bool step_rows(const ModelHeader *m, StepShape *s) {
    s->hidden = m->hidden, s->ffn = m->ffn, s->vocab = m->vocab;
    return mul_ok(m->heads, m->head_dim, &s->q_row) && mul_ok(m->kv_heads, m->head_dim, &s->kv_row);
}

/* An op of one output: begin, read `a` (and `b2` when >= 0), write a new tensor. */
static int unary(Builder *b, OpKind kind, int layer, WeightRef w, int a, int b2, const char *name, int64_t elems,
                 DType dt) {
    begin(b, kind, layer, w);
    use(b, a);
    if (b2 >= 0) use(b, b2);
    int t = tensor_new(b, name, layer, elems, dt);
    next_op(b);
    return t;
}

static int64_t rows_x(Builder *b, int64_t rows, int64_t width) {
    int64_t n = 0;
    if (!mul_ok(rows, width, &n)) b->ok = false;
    return n;
}

/* A projection h x W^T into a new tensor, plus its bias when the model has one. */
static int projection(Builder *b, const Layout *l, int i, WeightRef w, WeightRef bias, int h, const char *name,
                      int64_t elems, DType dt) {
    int t = unary(b, OP_GEMM, i, w, h, -1, name, elems, dt);
    if (plan_layer_has_weight(l, i, bias)) {
        begin(b, OP_BIAS_ADD, i, bias);
        update(b, t);
        next_op(b);
    }
    return t;
}

/* Split-KV decode attention (the report's plan, where it splits by the context; the kernels' decode
 * step): fp32 partials merged by a reduce. The kernels' decode launch of one split writes attn itself,
 * so their partials and reduce are listed only where a launch can split
 * (plan_decode_max_launch_splits), the reduce marked to run only after one that did. Returns attn. */
static int split_decode(Builder *b, const Layout *l, const StepShape *s, int i, int q, WeightRef sinks, int64_t splits) {
    const bool kernels = s->split == SPLIT_ALWAYS;
    const bool may_split = !kernels || plan_decode_max_launch_splits(layer_history(&l->layer[i]), s->context, s->rows) > 1;
    int64_t part_rows = rows_x(b, rows_x(b, s->rows, l->model.heads), splits), attn_elems = rows_x(b, s->tokens, s->q_row);
    begin(b, OP_ATTN_DECODE, i, kernels ? sinks : WT_NONE);
    use(b, q);
    if (s->kernel_args) {   /* each row's position and cache block (the scheduler's slots) */
        use(b, s->pos);
        use(b, s->seqs);
    }
    int po = may_split ? tensor_new(b, "part_o", i, rows_x(b, part_rows, layer_model(l, i).head_dim), DT_FP32) : -1;
    int ps = may_split ? tensor_new(b, "part_stats", i, rows_x(b, part_rows, 2), DT_FP32) : -1;
    int attn = kernels ? tensor_new(b, "attn", i, attn_elems, s->act) : -1;
    next_op(b);
    if (!kernels) return unary(b, OP_ATTN_REDUCE, i, sinks, po, ps, "attn", attn_elems, s->act);
    if (!may_split) return attn;
    begin(b, OP_ATTN_REDUCE, i, sinks);
    use(b, po);
    use(b, ps);
    writes(b, attn);
    if (b->ops) b->ops[b->op].when_split = true;
    next_op(b);
    return attn;
}

/* attention through o-proj and the residual add: q is consumed, attn produced and consumed. */
static void list_attention(Builder *b, const Layout *l, const StepShape *s, int i, int q, int x) {
    const ModelHeader *m = &l->model;
    const WeightRef sinks = l->layer[i].sinks ? WT_SINKS : WT_NONE;   /* read by the attention's softmax */
    int64_t splits = s->decode && s->split != SPLIT_NEVER ? plan_decode_splits(layer_history(&l->layer[i]), s->context) : 1;
    int attn;
    if (splits > 1 || (s->decode && s->split == SPLIT_ALWAYS)) {
        attn = split_decode(b, l, s, i, q, sinks, splits);
    } else if (s->scores) {     /* the reference: one score per key a query sees, all it holds */
        int64_t history = layer_history(&l->layer[i]);
        int64_t visible = history && history < s->context ? history : s->context;
        begin(b, OP_ATTENTION, i, sinks);
        use(b, q);
        attn = tensor_new(b, "attn", i, rows_x(b, s->tokens, s->q_row), s->act);
        tensor_new(b, "scores", i, visible, DT_FP32);
        next_op(b);
    } else {
        attn = unary(b, OP_ATTENTION, i, sinks, q, s->kernel_args ? s->decode ? s->pos : s->chunk_args : -1,
                     "attn", rows_x(b, s->tokens, s->q_row), s->act);
    }
    int o = projection(b, l, i, WT_O, WT_O_BIAS, attn, "o", rows_x(b, s->tokens, s->hidden), s->act);
    if (m->sandwich_norms)
        o = unary(b, OP_RMSNORM, i, WT_NORM_ATTN_OUT, o, -1, "o_norm", rows_x(b, s->tokens, s->hidden), s->act);
    begin(b, OP_RESIDUAL_ADD, i, WT_NONE);  /* x += o */
    update(b, x);
    use(b, o);
    next_op(b);
}

/* A gated MLP of width `width` over `rows` rows of in: gate and up by `gemm` with weights w, w + 1
 * (their names), the gated activation, down by `gemm` with weight w_down. Returns down. */
static int gated_mlp(Builder *b, const ModelHeader *m, const StepShape *s, int i, OpKind gemm, const WeightRef w[3],
                     int in, int route, int64_t rows, int64_t width) {
    static const char *const names[3][4] = {{"gate", "up", "act", "down"},
                                            {"expert_gate", "expert_up", "expert_act", "expert_down"},
                                            {"shared_gate", "shared_up", "shared_act", "shared_down"}};
    const char *const *n = names[gemm == OP_MOE_GEMM ? 1 : w[0] == WT_SHARED_GATE ? 2 : 0];
    int64_t inner = rows_x(b, rows, width), out = rows_x(b, rows, s->hidden);
    int gate = unary(b, gemm, i, w[0], in, route, n[0], inner, s->act);
    int up = unary(b, gemm, i, w[1], in, route, n[1], inner, s->act);
    static const OpKind gated_ops[ACT_COUNT] = {OP_SILU_MUL, OP_GELU_TANH_MUL, OP_CLAMPED_SWIGLU_MUL};
    OpKind gated = gated_ops[m->activation];
    int act = unary(b, gated, i, WT_NONE, gate, up, n[2], inner, s->act);
    return unary(b, gemm, i, w[2], act, route, n[3], out, s->act);
}

/* A mixture of experts on h2 (docs/plan.md): the router, the route, the chosen experts' MLPs over
 * tokens x experts_per_token rows, their weighted sum, and the shared expert added to it. */
static int list_experts(Builder *b, const ModelHeader *m, const StepShape *s, int i, int h2) {
    int router = unary(b, OP_GEMM, i, WT_ROUTER, h2, -1, "router", rows_x(b, s->tokens, m->experts), DT_FP32);
    if (m->moe_bias) {
        begin(b, OP_BIAS_ADD, i, WT_ROUTER_BIAS);
        update(b, router);
        next_op(b);
    }
    int64_t rows = rows_x(b, s->tokens, m->experts_per_token);   /* (token, choice) pairs */
    int route = unary(b, OP_MOE_ROUTE, i, WT_NONE, router, -1, "route", rows_x(b, rows, 2), DT_FP32);
    static const WeightRef experts[3] = {WT_EXPERT_GATE, WT_EXPERT_UP, WT_EXPERT_DOWN};
    int down = gated_mlp(b, m, s, i, OP_MOE_GEMM, experts, h2, route, rows, s->ffn);
    int moe = unary(b, OP_MOE_COMBINE, i, WT_NONE, down, route, "moe", rows_x(b, s->tokens, s->hidden), s->act);
    if (!m->shared_expert_ffn) return moe;
    static const WeightRef shared[3] = {WT_SHARED_GATE, WT_SHARED_UP, WT_SHARED_DOWN};
    int sd = gated_mlp(b, m, s, i, OP_GEMM, shared, h2, -1, s->tokens, m->shared_expert_ffn);
    begin(b, OP_RESIDUAL_ADD, i, WT_NONE);  /* moe += the shared expert's */
    update(b, moe);
    use(b, sd);
    next_op(b);
    return moe;
}

static void list_mlp(Builder *b, const ModelHeader *m, const StepShape *s, int i, int x) {
    int64_t hidden = rows_x(b, s->tokens, s->hidden);
    int h2 = unary(b, OP_RMSNORM, i, WT_NORM_POST, x, -1, "h2", hidden, s->act);
    static const WeightRef dense[3] = {WT_GATE, WT_UP, WT_DOWN};
    int down = m->experts ? list_experts(b, m, s, i, h2) : gated_mlp(b, m, s, i, OP_GEMM, dense, h2, -1, s->tokens, s->ffn);
    if (m->sandwich_norms) down = unary(b, OP_RMSNORM, i, WT_NORM_MLP_OUT, down, -1, "down_norm", hidden, s->act);
    begin(b, OP_RESIDUAL_ADD, i, WT_NONE);  /* x += down */
    update(b, x);
    use(b, down);
    next_op(b);
}

/* qk_norm: each head of q (or k) normed in place, before RoPE; qk_l2_norm: the same without a weight
 * on the layers with RoPE (the op names WT_Q_NORM or WT_K_NORM for its heads; the layer has no such
 * weight). */
static void head_norm(Builder *b, const Layout *l, int i, WeightRef w, int t) {
    if (!l->model.qk_norm && !(l->model.qk_l2_norm && !l->layer[i].rope.nope)) return;
    begin(b, OP_HEAD_NORM, i, w);
    update(b, t);
    next_op(b);
}

static void list_layer(Builder *b, const Layout *l, const StepShape *step, int i, int x) {
    StepShape shaped = *step;   /* q, k, v and attn rows by the layer's own kv_heads and head_dim */
    const ModelHeader lm = layer_model(l, i);
    if (!step_rows(&lm, &shaped)) b->ok = false;
    const StepShape *s = &shaped;
    int64_t kv = rows_x(b, s->tokens, s->kv_row);
    int h = unary(b, OP_RMSNORM, i, WT_NORM_IN, x, -1, "h", rows_x(b, s->tokens, s->hidden), s->act);
    int q = projection(b, l, i, WT_Q, WT_Q_BIAS, h, "q", rows_x(b, s->tokens, s->q_row), s->act);
    head_norm(b, l, i, WT_Q_NORM, q);
    if (l->layer[i].reads == i) {   /* owner: K, V projections, RoPE, cache write */
        int k = projection(b, l, i, WT_K, WT_K_BIAS, h, "k", kv, s->act);
        head_norm(b, l, i, WT_K_NORM, k);
        int v = projection(b, l, i, WT_V, WT_V_BIAS, h, "v", kv, s->act);
        begin(b, OP_ROPE_APPEND, i, WT_NONE);
        update(b, q);
        update(b, k);
        use(b, v);
    } else {                        /* reader: RoPE on q only */
        begin(b, OP_ROPE_Q, i, WT_NONE);
        update(b, q);
    }
    use(b, s->pos);
    if (s->kernel_args) use(b, s->seqs);
    next_op(b);
    list_attention(b, l, s, i, q, x);
    list_mlp(b, &lm, s, i, x);   /* its FFN: the experts, or a dense MLP of dense_ffn (moe_step) */
}

/* The arena of the listed tensors: offsets, sizes and the verifier's word. */
static void pack(Builder *b, ActPlan *p) {
    for (int t = 0; t < b->n; t++) b->ok = b->ok && add_ok(p->naive_bytes, b->item[t].size, &p->naive_bytes);
    if (!b->ok) return;
    p->planned_bytes = arena_assign(b->item, b->n);
    p->lower_bound_bytes = arena_lower_bound(b->item, b->n);
    if (!arena_verify(b->item, b->n, p->planned_bytes, stderr))
        fatal("internal error: the activation arena plan overlaps live tensors");
}

/* Room for the tensors and ops of a step of nlayers layers at once (a layer lists at most ~22
 * tensors and ~20 ops): growing by doubling would copy, and touch, the arrays of a 100,000-layer
 * step several times. */
static void reserve(Builder *b, int nlayers) {
    grow_tensors(b, nlayers * 26 + 32);
    if (b->arena_only) return;
    b->ops_cap = nlayers * 23 + 16;
    b->ops = xmalloc((size_t)b->ops_cap * sizeof(PlanOp));
}

bool plan_step(const Layout *l, const StepOptions *o, ActPlan *out) {
    const ModelHeader *m = &l->model;
    memset(out, 0, sizeof *out);
    StepShape s = {.rows = o->batch, .decode = o->kind == STEP_DECODE, .context = o->context, .act = o->act_dtype,
                   .logits = o->logits_dtype, .kernel_args = o->kernel_args, .scores = o->attention_scores,
                   .split = o->split,
                   .seqs = -1, .chunk_args = -1};
    Builder b = {.ok = step_rows(m, &s)};
    if (s.decode)
        s.tokens = o->batch;
    else    /* a chunk never holds more tokens than the context */
        b.ok = b.ok && mul_ok(o->batch, o->chunk < o->context ? o->chunk : o->context, &s.tokens);
    if (!b.ok) return false;
    /* a part has a token at least, so no more parts than tokens */
    const int64_t parts = o->parts < 1 ? 1 : o->parts < s.tokens ? o->parts : s.tokens;
    b.arena_only = o->arena_only;
    reserve(&b, l->nlayers);
    int tokens = tensor_new(&b, "tokens", -1, s.tokens, DT_INT32);   /* step inputs: ids and positions */
    s.pos = tensor_new(&b, "positions", -1, s.tokens, DT_INT32);
    if (s.kernel_args) {   /* the chunk's triple only where the prefill kernel reads it */
        s.seqs = tensor_new(&b, "sequences", -1, s.tokens, DT_INT32);
        if (!s.decode) s.chunk_args = tensor_new(&b, "chunk_args", -1, PREFILL_ARGS_INTS(s.tokens, parts), DT_INT32);
    }
    int x = unary(&b, OP_EMBED, -1, WT_EMBED, tokens, -1, "x", rows_x(&b, s.tokens, s.hidden), s.act);
    for (int i = 0; i < l->nlayers && b.ok; i++) list_layer(&b, l, &s, i, x);
    int xf = unary(&b, OP_RMSNORM, -1, WT_NORM_FINAL, x, -1, "xf", rows_x(&b, s.tokens, s.hidden), s.act);
    /* logits of each sequence's last token only */
    int logits = unary(&b, OP_LOGITS, -1, WT_LM_HEAD, xf, -1, "logits", rows_x(&b, s.rows, s.vocab), s.logits);
    if (s.decode && s.kernel_args)   /* the greedy tokens on the device: a greedy step copies back only these */
        unary(&b, OP_ARGMAX, -1, WT_NONE, logits, -1, "token_ids", s.rows, DT_INT32);
    ActPlan p = {.kind = o->kind, .tokens = s.tokens, .rows = s.rows, .parts = s.chunk_args >= 0 ? parts : 0,
                 .nops = b.op, .op = b.ops,
                 .ntensors = b.n, .tensor = b.t, .item = b.item};
    pack(&b, &p);
    if (!b.ok) {
        act_plan_free(&p);
        return false;
    }
    *out = p;
    return true;
}

void act_plan_free(ActPlan *p) {
    free(p->tensor);
    free(p->item);
    free(p->op);
    memset(p, 0, sizeof *p);
}
