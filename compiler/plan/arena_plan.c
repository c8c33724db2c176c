/* arena_plan.c — the activation arena: every intermediate tensor of one decode step or one prefill
 * chunk, with its lifetime, packed into one buffer by a lifetime-aware allocator, and a verifier. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the allocator */

static int max_op(const ArenaItem *items, int n) {
    int m = -1;
    for (int i = 0; i < n; i++)
        if (items[i].last > m) m = items[i].last;
    return m;
}

static const ArenaItem *sort_items;
/* Largest first; among equals, the longest lifetime, then the earliest, then input order. */
static int by_size_desc(const void *a, const void *b) {
    const ArenaItem *x = &sort_items[*(const int *)a], *y = &sort_items[*(const int *)b];
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    int lx = x->last - x->first, ly = y->last - y->first;
    if (lx != ly) return lx > ly ? -1 : 1;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static int by_offset(const void *a, const void *b) {
    const ArenaItem *x = &sort_items[*(const int *)a], *y = &sort_items[*(const int *)b];
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

/* The lowest offset where `size` bytes fit between the (offset-sorted) conflicting items. */
static int64_t lowest_fit(const ArenaItem *items, const int *conflicts, int n, int64_t size) {
    int64_t off = 0;
    for (int k = 0; k < n; k++) {
        const ArenaItem *c = &items[conflicts[k]];
        if (off + size <= c->offset) break;
        if (c->offset + c->size > off) off = c->offset + c->size;
    }
    return off;
}

/* For each op, room for the ids of every item live at it, in one pool: live[at[op] .. at[op] + n[op]). */
typedef struct {
    size_t *at;
    int *n;
    int *ids;
} LiveLists;

static void live_lists_init(LiveLists *l, const ArenaItem *items, int n, int nops) {
    l->at = xcalloc((size_t)nops + 1, sizeof(size_t));
    l->n = xcalloc((size_t)nops + 1, sizeof(int));
    for (int i = 0; i < n; i++)
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

int64_t arena_assign(ArenaItem *items, int n) {
    int nops = max_op(items, n) + 1;
    int *order = xcalloc((size_t)n + 1, sizeof(int));
    int *stamp = xcalloc((size_t)n + 1, sizeof(int));
    int *conflicts = xcalloc((size_t)n + 1, sizeof(int));
    LiveLists live;
    live_lists_init(&live, items, n, nops);
    for (int i = 0; i < n; i++) order[i] = i;
    sort_items = items;
    qsort(order, (size_t)n, sizeof(int), by_size_desc);
    int64_t size = 0;
    for (int k = 0; k < n; k++) {
        ArenaItem *it = &items[order[k]];
        it->offset = 0;
        if (it->size == 0) continue;    /* occupies no byte, conflicts with nothing */
        int nc = 0;
        for (int op = it->first; op <= it->last; op++)
            for (int j = 0; j < live.n[op]; j++) {
                int id = live.ids[live.at[op] + (size_t)j];
                if (stamp[id] != k + 1) {
                    stamp[id] = k + 1;
                    conflicts[nc++] = id;
                }
            }
        qsort(conflicts, (size_t)nc, sizeof(int), by_offset);
        it->offset = lowest_fit(items, conflicts, nc, it->size);
        if (it->offset + it->size > size) size = it->offset + it->size;
        for (int op = it->first; op <= it->last; op++) live.ids[live.at[op] + (size_t)live.n[op]++] = order[k];
    }
    live_lists_free(&live);
    free(conflicts);
    free(stamp);
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

static int by_first(const void *a, const void *b) {
    const ArenaItem *x = &sort_items[*(const int *)a], *y = &sort_items[*(const int *)b];
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

/* Two lifetime-overlapping items share an op: at the later one's first op both are live, so
 * checking each item against every item live when it starts covers every overlapping pair. */
bool arena_verify(const ArenaItem *items, int n, int64_t size, FILE *err) {
    int *order = xcalloc((size_t)n + 1, sizeof(int));
    int *active = xcalloc((size_t)n + 1, sizeof(int));
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
    sort_items = items;
    if (ok) qsort(order, (size_t)n, sizeof(int), by_first);
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

/* ---------------------------------------------------------------- the tensors of one step */

typedef struct {
    ActTensor *t;
    int n, cap;
    int op;                 /* the op being listed */
    bool ok;                /* false once a size overflowed */
} Builder;

/* A new tensor of elems x elem_bytes bytes, written by the current op. */
static int tensor_new(Builder *b, const char *name, int layer, int64_t elems, int64_t elem_bytes) {
    int64_t bytes = 0;
    if (!mul_ok(elems, elem_bytes, &bytes) || !add_ok(bytes, PLAN_ARENA_ALIGN - 1, &bytes)) b->ok = false;
    bytes -= bytes % PLAN_ARENA_ALIGN;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->t = xrealloc(b->t, (size_t)b->cap * sizeof(ActTensor));
    }
    b->t[b->n] = (ActTensor){name, layer, {b->ok ? bytes : 0, b->op, b->op, 0}};
    return b->n++;
}

/* The current op reads (or updates in place) tensor t. */
static void use(Builder *b, int t) { b->t[t].item.last = b->op; }
static void next_op(Builder *b) { b->op++; }

static int64_t decode_splits(int64_t window, int64_t context) {
    int64_t visible = window && window < context ? window : context;
    int64_t splits = (visible + PLAN_SPLIT_KEYS - 1) / PLAN_SPLIT_KEYS;
    return splits < 1 ? 1 : splits > PLAN_MAX_SPLITS ? PLAN_MAX_SPLITS : splits;
}

typedef struct {
    int64_t tokens, rows;   /* tokens in the step; sequences (rows of logits) */
    /* bytes of one token's row, in the model dtype */
    int64_t hidden_row, q_row, kv_row, ffn_row, vocab_row;
    bool decode;
    int64_t context;
} StepShape;

/* Row sizes in bytes; false on overflow. */
static bool step_rows(const ModelHeader *m, StepShape *s) {
    int64_t e = dtype_bytes(m->dtype), q, kv;
    return mul_ok(m->heads, m->head_dim, &q) && mul_ok(m->kv_heads, m->head_dim, &kv) &&
           mul_ok(q, e, &s->q_row) && mul_ok(kv, e, &s->kv_row) && mul_ok(m->hidden, e, &s->hidden_row) &&
           mul_ok(m->ffn, e, &s->ffn_row) && mul_ok(m->vocab, e, &s->vocab_row);
}

/* attention through o-proj: q is consumed, attn produced and consumed. */
static void list_attention(Builder *b, const Layout *l, const StepShape *s, int i, int q, int x) {
    const ModelHeader *m = &l->model;
    int64_t splits = s->decode ? decode_splits(l->layer[i].window, s->context) : 1;
    int attn;
    if (splits > 1) {   /* split-KV: fp32 partial outputs and (max, sum) per split, then combine */
        int64_t part_rows = 0;
        if (!mul_ok(s->rows, m->heads, &part_rows) || !mul_ok(part_rows, splits, &part_rows)) b->ok = false;
        int po = tensor_new(b, "part_o", i, part_rows, m->head_dim * 4);
        int ps = tensor_new(b, "part_stats", i, part_rows, 2 * 4);
        use(b, q);
        next_op(b);
        use(b, po);
        use(b, ps);
        attn = tensor_new(b, "attn", i, s->tokens, s->q_row);
    } else {
        use(b, q);
        attn = tensor_new(b, "attn", i, s->tokens, s->q_row);
    }
    next_op(b);
    use(b, attn);
    int o = tensor_new(b, "o", i, s->tokens, s->hidden_row);
    next_op(b);
    use(b, o);              /* x += o */
    use(b, x);
    next_op(b);
}

static void list_mlp(Builder *b, const StepShape *s, int i, int x) {
    use(b, x);
    int h2 = tensor_new(b, "h2", i, s->tokens, s->hidden_row);
    next_op(b);
    use(b, h2);
    int gate = tensor_new(b, "gate", i, s->tokens, s->ffn_row);
    next_op(b);
    use(b, h2);
    int up = tensor_new(b, "up", i, s->tokens, s->ffn_row);
    next_op(b);
    use(b, gate);
    use(b, up);
    int act = tensor_new(b, "act", i, s->tokens, s->ffn_row);
    next_op(b);
    use(b, act);
    int down = tensor_new(b, "down", i, s->tokens, s->hidden_row);
    next_op(b);
    use(b, down);           /* x += down */
    use(b, x);
    next_op(b);
}

static void list_layer(Builder *b, const Layout *l, const StepShape *s, int i, int x, int pos) {
    use(b, x);
    int h = tensor_new(b, "h", i, s->tokens, s->hidden_row);
    next_op(b);
    use(b, h);
    int q = tensor_new(b, "q", i, s->tokens, s->q_row);
    next_op(b);
    if (l->layer[i].reads == i) {   /* owner: K, V projections, RoPE, cache write */
        use(b, h);
        int k = tensor_new(b, "k", i, s->tokens, s->kv_row);
        next_op(b);
        use(b, h);
        int v = tensor_new(b, "v", i, s->tokens, s->kv_row);
        next_op(b);
        use(b, q);
        use(b, k);
        use(b, v);
        use(b, pos);
        next_op(b);
    } else {                        /* reader: RoPE on q only */
        use(b, q);
        use(b, pos);
        next_op(b);
    }
    list_attention(b, l, s, i, q, x);
    list_mlp(b, s, i, x);
}

bool plan_activations(const Layout *l, StepKind kind, int64_t batch, int64_t chunk, int64_t context,
                      ActPlan *out) {
    const ModelHeader *m = &l->model;
    memset(out, 0, sizeof *out);
    StepShape s = {.rows = batch, .decode = kind == STEP_DECODE, .context = context};
    Builder b = {.ok = step_rows(m, &s)};
    if (s.decode)
        s.tokens = batch;
    else    /* a chunk never holds more tokens than the context */
        b.ok = b.ok && mul_ok(batch, chunk < context ? chunk : context, &s.tokens);
    if (!b.ok) return false;
    int tokens = tensor_new(&b, "tokens", -1, s.tokens, 4);  /* int32 ids and positions */
    int pos = tensor_new(&b, "positions", -1, s.tokens, 4);
    use(&b, tokens);
    int x = tensor_new(&b, "x", -1, s.tokens, s.hidden_row);
    next_op(&b);
    for (int i = 0; i < l->nlayers && b.ok; i++) list_layer(&b, l, &s, i, x, pos);
    use(&b, x);
    int xf = tensor_new(&b, "xf", -1, s.tokens, s.hidden_row);
    next_op(&b);
    use(&b, xf);            /* logits of each sequence's last token only */
    tensor_new(&b, "logits", -1, s.rows, s.vocab_row);
    b.op++;
    ActPlan p = {.kind = kind, .tokens = s.tokens, .nops = b.op, .ntensors = b.n, .tensor = b.t};
    ArenaItem *items = xcalloc((size_t)b.n + 1, sizeof(ArenaItem));
    for (int t = 0; t < b.n; t++) {
        items[t] = b.t[t].item;
        b.ok = b.ok && add_ok(p.naive_bytes, items[t].size, &p.naive_bytes);
    }
    if (b.ok) {
        p.planned_bytes = arena_assign(items, b.n);
        p.lower_bound_bytes = arena_lower_bound(items, b.n);
        for (int t = 0; t < b.n; t++) b.t[t].item.offset = items[t].offset;
        if (!arena_verify(items, b.n, p.planned_bytes, stderr))
            fatal("internal error: the activation arena plan overlaps live tensors");
    }
    free(items);
    if (!b.ok) {
        free(b.t);
        return false;
    }
    *out = p;
    return true;
}

void act_plan_free(ActPlan *p) {
    free(p->tensor);
    memset(p, 0, sizeof *p);
}
