/* mixwriter.c — renders a Layout as readable .mix text, choosing compact forms.
 *
 * Every layer is a token: its attention (window, 0 = global), whether it owns its cache and, for a
 * reader, the ways its reference can be written: `reads -D` (D = distance to the owner), `reads N`
 * (the owner's index) or `reads last` (when the owner is the nearest earlier owner with the same
 * attention). A dynamic program cuts the layer sequence into periodic segments (a period-1 segment
 * is a plain statement), each position of a period keeping the reference forms its layers share.
 * Statements with identical bodies are then merged into one index set (ranges and strides), and the
 * largest plain one may become `default`. The text is checked by re-parsing in the tests. */
#include "interop.h"

#include <limits.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FORM_REL = 1, FORM_ABS = 2, FORM_LAST = 4 };

#define MAX_PERIOD 64          /* longest pattern searched for */
#define FULL_DP_LAYERS 256     /* up to this many layers every segment end is tried */

typedef struct {
    int64_t window;
    bool owner;
    int rel, abs;              /* reader: distance to the owner, owner index */
    bool last_ok;              /* reader: `reads last` names its owner */
} LayerTok;

/* What one position of a period requires of every layer it covers. */
typedef struct {
    int64_t window;
    bool owner;
    int forms;                 /* reader: forms valid for every member so far */
    int rel, abs;
    int members;
} ClassState;

/* One element of a written statement: an attention and a reference in one chosen form. */
typedef struct {
    int64_t window;
    int form;                  /* 0 = owner (no reads) */
    int value;                 /* FORM_REL: distance; FORM_ABS: index */
    int64_t repeat;
} Elem;

typedef struct {
    int *idx;                  /* layer indices, ascending */
    int nidx, cap;
    Elem *elems;
    int nelems;
    int period;                /* sum of repeats */
    bool merged_away;
} Stmt;

/* ------------------------------------------------------------------ tokens and classes */

/* `key` is each layer's attention as the writer compares them (Kinds.key): `window` below. */
static LayerTok *make_tokens(const Layout *l, const int64_t *key) {
    int n = l->nlayers;
    LayerTok *t = xcalloc((size_t)n + 1, sizeof *t);
    for (int i = 0; i < n; i++) {
        const LayerInfo *li = &l->layer[i];
        t[i].window = key[i];
        t[i].owner = li->reads == i;
        if (t[i].owner) continue;
        t[i].rel = i - li->reads;
        t[i].abs = li->reads;
        int last = -1;
        for (int j = i - 1; j >= 0; j--)
            if (l->layer[j].reads == j && key[j] == key[i]) {
                last = j;
                break;
            }
        t[i].last_ok = last == li->reads;
    }
    return t;
}

static int token_forms(const LayerTok *t) {
    return FORM_REL | FORM_ABS | (t->last_ok ? FORM_LAST : 0);
}

static void class_init(ClassState *c, const LayerTok *t) {
    c->window = t->window;
    c->owner = t->owner;
    c->forms = t->owner ? 0 : token_forms(t);
    c->rel = t->rel;
    c->abs = t->abs;
    c->members = 1;
}

/* Adds a layer to a class; false when no single element can describe all of them. */
static bool class_add(ClassState *c, const LayerTok *t) {
    if (t->window != c->window || t->owner != c->owner) return false;
    c->members++;
    if (c->owner) return true;
    int f = c->forms;
    if (t->rel != c->rel) f &= ~FORM_REL;
    if (t->abs != c->abs) f &= ~FORM_ABS;
    if (!t->last_ok) f &= ~FORM_LAST;
    c->forms = f;
    return f != 0;
}

/* The form a class is written in: short relative references, the owner's index, then relative or
 * `last` where the owner differs across the class's layers. */
static Elem class_elem(const ClassState *c) {
    Elem e = {c->window, 0, 0, 1};
    if (c->owner) return e;
    bool rel = c->forms & FORM_REL, abs = c->forms & FORM_ABS;
    if (rel && (c->rel <= 2 || (c->members > 1 && !abs)))
        e.form = FORM_REL, e.value = c->rel;
    else if (abs)
        e.form = FORM_ABS, e.value = c->abs;
    else if (rel)
        e.form = FORM_REL, e.value = c->rel;
    else
        e.form = FORM_LAST;
    return e;
}

/* ------------------------------------------------------------------ segmentation */

/* The last index b such that layers a..b repeat with period p (classes stay consistent). Used to
 * build one statement; the search below uses the incremental form. */
static int periodic_extent(const LayerTok *t, int n, int a, int p, ClassState *cls) {
    int b = a;
    for (; b < n; b++) {
        int j = (b - a) % p;
        if (b - a < p)
            class_init(&cls[j], &t[b]);
        else if (!class_add(&cls[j], &t[b]))
            break;
    }
    return b - 1;
}

/* The forms under which layers u and v could be the same element (all of them for two owners). */
static int pair_agree(const LayerTok *u, const LayerTok *v) {
    if (u->window != v->window || u->owner != v->owner) return 0;
    if (u->owner) return FORM_REL | FORM_ABS | FORM_LAST;
    return (u->rel == v->rel ? FORM_REL : 0) | (u->abs == v->abs ? FORM_ABS : 0) |
           (u->last_ok && v->last_ok ? FORM_LAST : 0);
}

/* The extent of period p for increasing starts a, in O(n) over all starts. For layer x, run_f(x) is
 * how many consecutive steps of p back from x agree under form f; the chain of x is consistent from
 * a start s when x - p * max_f run_f(x) <= s. A segment starting at a covers x when that earliest
 * start is below a + p; the first x it fails at only moves forward as a grows. */
typedef struct {
    int p;
    int x;                     /* first layer not yet known to be covered */
    int computed;              /* run_f known for layers < computed */
    int *run;                  /* ring of p entries x 3 forms */
    int earliest;              /* earliest consistent start of layer x (when computed > x) */
} PeriodScan;

static void scan_compute(PeriodScan *s, const LayerTok *t) {
    int x = s->x, p = s->p, slot = (x % p) * 3, best = 0;
    for (int f = 0; f < 3; f++) {
        int r = 0;
        if (x >= p && (pair_agree(&t[x - p], &t[x]) & (1 << f))) r = s->run[slot + f] + 1;
        s->run[slot + f] = r;
        if (r > best) best = r;
    }
    s->earliest = x - p * best;
    s->computed = x + 1;
}

/* The last layer a segment of period p starting at a can cover. */
static int scan_extent(PeriodScan *s, const LayerTok *t, int n, int a) {
    if (s->x < a) s->x = a;   /* never happens after a = 0: x only moves forward */
    while (s->x < n) {
        if (s->computed <= s->x) scan_compute(s, t);
        if (s->earliest >= a + s->p) break;
        s->x++;
    }
    return s->x - 1;
}

typedef struct {
    long cost;
    int from, period;
} Step;

/* Whether neighbours u, v certainly need two pattern elements (an estimate: the form is chosen later). */
static bool tokens_differ(const LayerTok *u, const LayerTok *v) {
    if (u->window != v->window || u->owner != v->owner) return true;
    return !u->owner && u->rel != v->rel && u->abs != v->abs && !(u->last_ok && v->last_ok);
}

/* A statement costs its line plus two per element after run-length encoding, so long patterns lose
 * to a few short statements that later merge. `runs` counts runs among layers a..a+k-1 through the
 * prefix sums of tokens_differ. */
static long segment_cost(const int *diff_prefix, int a, int p, int len) {
    int k = p < len ? p : len;
    int runs = 1 + diff_prefix[a + k - 1] - diff_prefix[a];
    /* Doubled, plus one for a partial last period: among equal plans, whole periods merge later. */
    return 2 * (3 + 2 * runs) + (len % p != 0);
}

static void relax(Step *best, const int *diff_prefix, int a, int b, int p) {
    long c = best[a].cost + segment_cost(diff_prefix, a, p, b - a + 1);
    if (c < best[b + 1].cost) best[b + 1] = (Step){c, a, p};
}

/* Cuts 0..n-1 into periodic segments of least total cost; returns how many, with their starts and
 * periods in order. Small layouts try every segment end; larger ones the ends that matter most (the
 * longest extent, its last whole period, the first period). */
static int segment(const LayerTok *t, int n, int **starts, int **periods) {
    Step *best = xcalloc((size_t)n + 1, sizeof *best);
    for (int i = 1; i <= n; i++) best[i].cost = -1UL >> 1;
    int *diff_prefix = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 1; i < n; i++) diff_prefix[i] = diff_prefix[i - 1] + tokens_differ(&t[i - 1], &t[i]);
    int maxp = n < MAX_PERIOD ? n : MAX_PERIOD;
    PeriodScan scan[MAX_PERIOD + 1];
    for (int p = 1; p <= maxp; p++) scan[p] = (PeriodScan){p, 0, 0, xcalloc((size_t)p * 3, sizeof(int)), 0};
    for (int a = 0; a < n; a++) {
        for (int p = 1; p <= maxp && p <= n - a; p++) {
            /* The computation must advance for every start, so do it before skipping. */
            int e = scan_extent(&scan[p], t, n, a);
            /* A pattern must repeat at least one and a half times: a pattern seen once hides nothing
             * that plain statements would not say more plainly. */
            int min_len = p > 1 ? p + (p + 1) / 2 : 1;
            if (e - a + 1 < min_len) continue;
            if (n <= FULL_DP_LAYERS) {
                for (int b = a + min_len - 1; b <= e; b++) relax(best, diff_prefix, a, b, p);
            } else {
                relax(best, diff_prefix, a, e, p);
                int whole = a + (e - a + 1) / p * p - 1;
                if (p > 1 && whole != e && whole >= a + min_len - 1) relax(best, diff_prefix, a, whole, p);
                if (p == 1 && a < e) relax(best, diff_prefix, a, a, p);
            }
        }
    }
    for (int p = 1; p <= maxp; p++) free(scan[p].run);
    free(diff_prefix);
    int count = 0;
    for (int i = n; i > 0; i = best[i].from) count++;
    *starts = xcalloc((size_t)count + 1, sizeof(int));
    *periods = xcalloc((size_t)count + 1, sizeof(int));
    int k = count;
    for (int i = n; i > 0; i = best[i].from) {
        k--;
        (*starts)[k] = best[i].from;
        (*periods)[k] = best[i].period;
    }
    free(best);
    return count;
}

/* ------------------------------------------------------------------ statements */

static bool elem_eq(const Elem *a, const Elem *b) {
    return a->window == b->window && a->form == b->form && a->value == b->value;
}

static void stmt_add_index(Stmt *s, int i) {
    if (s->nidx == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->idx = xrealloc(s->idx, (size_t)s->cap * sizeof(int));
    }
    s->idx[s->nidx++] = i;
}

/* The statement for layers a..b with period p: one element per position, equal neighbours run-length
 * encoded. */
static void build_stmt(const LayerTok *t, int n, int a, int b, int p, Stmt *s) {
    ClassState cls[MAX_PERIOD];
    int e = periodic_extent(t, b + 1 < n ? b + 1 : n, a, p, cls);
    (void)e;
    int k = b - a + 1 < p ? b - a + 1 : p;
    memset(s, 0, sizeof *s);
    s->elems = xcalloc((size_t)k, sizeof(Elem));
    for (int j = 0; j < k; j++) {
        Elem el = class_elem(&cls[j]);
        if (s->nelems && elem_eq(&s->elems[s->nelems - 1], &el))
            s->elems[s->nelems - 1].repeat++;
        else
            s->elems[s->nelems++] = el;
    }
    s->period = k;
    for (int i = a; i <= b; i++) stmt_add_index(s, i);
}

static bool body_eq(const Stmt *x, const Stmt *y) {
    if (x->nelems != y->nelems) return false;
    for (int j = 0; j < x->nelems; j++)
        if (!elem_eq(&x->elems[j], &y->elems[j]) || x->elems[j].repeat != y->elems[j].repeat) return false;
    return true;
}

/* Merges later statements into earlier ones with the same body. A pattern counts its layers across
 * the whole set, so a pattern merges only after a whole number of periods. */
static void merge_stmts(Stmt *s, int count) {
    for (int i = 1; i < count; i++)
        for (int j = 0; j < i; j++) {
            if (s[j].merged_away || !body_eq(&s[j], &s[i]) || s[j].nidx % s[j].period != 0) continue;
            for (int k = 0; k < s[i].nidx; k++) stmt_add_index(&s[j], s[i].idx[k]);
            s[i].merged_away = true;
            break;
        }
}

/* Writes a set of ascending indices as ranges, strides and single indices. */
static int write_set(const int *idx, int n, Buf *out) {
    int items = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && idx[j + 1] == idx[j] + 1) j++;
        if (items) buf_puts(out, ", ");
        items++;
        if (j > i) {
            buf_printf(out, "%d..%d", idx[i], idx[j]);
            i = j + 1;
            continue;
        }
        /* A stride of single indices: at least 3 members, each not part of a consecutive run. */
        int step = i + 1 < n ? idx[i + 1] - idx[i] : 0, k = i;
        while (step > 1 && k + 1 < n && idx[k + 1] - idx[k] == step && (k + 2 >= n || idx[k + 2] != idx[k + 1] + 1))
            k++;
        if (k - i >= 2) {
            buf_printf(out, "%d..%d step %d", idx[i], idx[k], step);
            i = k + 1;
        } else {
            buf_printf(out, "%d", idx[i]);
            i++;
        }
    }
    return items;
}

/* ------------------------------------------------------------------ text */

/* A layer's attention, as the writer compares and names them: its window when it is global or
 * sliding with the header's RoPE and shape (so such layouts are written as before), else -(1 + v), v
 * its (window, chunked, RoPE, sinks, shape) variant. */
typedef struct {
    int64_t *windows;          /* distinct sliding windows, ascending */
    int n;
    int64_t chunked;           /* a chunked layer's C; -1 when layers are chunked with different Cs */
    int64_t *key;              /* [nlayers] */
    const LayerInfo **variant; /* a layer of each variant */
    int nvariants;
} Kinds;

static const char *window_name(const Kinds *k, int64_t window, char *buf, size_t len) {
    if (window == 0) return "global";
    if (k->n == 1) return "local";
    snprintf(buf, len, "local_%lld", (long long)window);
    return buf;
}

/* "local" when every bounded layer is chunked with one C, else "chunked_C" ("chunked" is a keyword). */
static const char *chunked_name(const Kinds *k, int64_t chunked, char *buf, size_t len) {
    if (k->n == 0 && k->chunked == chunked) return "local";
    snprintf(buf, len, "chunked_%lld", (long long)chunked);
    return buf;
}

static const char *attn_name(const Kinds *k, int64_t key, char *buf, size_t len) {
    if (key >= 0) return window_name(k, key, buf, len);
    int v = (int)(-key - 1);
    const LayerInfo *li = k->variant[v];
    char base[48], shape[48] = "";
    if (li->kv_heads || li->head_dim)   /* its own shape: "_kvK" and "_dD", each where it has its own */
        snprintf(shape, sizeof shape, "%s%.0lld%s%.0lld", li->kv_heads ? "_kv" : "", (long long)li->kv_heads,
                 li->head_dim ? "_d" : "", (long long)li->head_dim);
    const char *b = li->chunked ? chunked_name(k, li->chunked, base, sizeof base)
                                : window_name(k, li->window, base, sizeof base);
    const char *sinks = li->sinks ? "_sinks" : "";
    if (!li->rope.nope && !li->rope.theta)   /* a chunked layer, sinks or a shape with the header's RoPE */
        snprintf(buf, len, "%s%s%s", b, sinks, shape);
    else if (li->rope.nope)
        snprintf(buf, len, "%s_nope%s%s", b, sinks, shape);
    else if (li->rope.theta == floor(li->rope.theta) && li->rope.theta < 1e15)
        snprintf(buf, len, "%s_theta%.0f%s%s", b, li->rope.theta, sinks, shape);
    else
        snprintf(buf, len, "%s_rope%d", b, v);   /* v alone tells the variants apart */
    return buf;
}

static void write_elem(const Kinds *k, const Elem *e, Buf *out) {
    char name[48];
    buf_puts(out, attn_name(k, e->window, name, sizeof name));
    if (e->form == FORM_REL && e->value == 1)
        buf_puts(out, " reads prev");
    else if (e->form == FORM_REL)
        buf_printf(out, " reads -%d", e->value);
    else if (e->form == FORM_ABS)
        buf_printf(out, " reads %d", e->value);
    else if (e->form == FORM_LAST)
        buf_puts(out, " reads last");
    if (e->repeat > 1) buf_printf(out, " * %lld", (long long)e->repeat);
}

static void collect_kinds(const Layout *l, Kinds *k) {
    k->windows = xcalloc((size_t)l->nlayers + 1, sizeof(int64_t));
    k->n = 0;
    for (int i = 0; i < l->nlayers; i++) {
        int64_t w = l->layer[i].window;
        if (w == 0) continue;
        int j = 0;
        while (j < k->n && k->windows[j] < w) j++;
        if (j < k->n && k->windows[j] == w) continue;
        memmove(&k->windows[j + 1], &k->windows[j], (size_t)(k->n - j) * sizeof(int64_t));
        k->windows[j] = w;
        k->n++;
    }
    k->chunked = 0;
    for (int i = 0; i < l->nlayers; i++) {
        int64_t c = l->layer[i].chunked;
        if (c) k->chunked = k->chunked == 0 || k->chunked == c ? c : -1;
    }
    k->key = xcalloc((size_t)l->nlayers + 1, sizeof(int64_t));
    k->variant = xcalloc((size_t)l->nlayers + 1, sizeof *k->variant);
    k->nvariants = 0;
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        k->key[i] = li->window;
        if (!li->chunked && !li->sinks && !li->rope.nope && !li->rope.theta && !li->kv_heads && !li->head_dim) continue;
        int v = 0;
        while (v < k->nvariants && !(k->variant[v]->window == li->window && k->variant[v]->chunked == li->chunked &&
                                     k->variant[v]->sinks == li->sinks && rope_equal(&k->variant[v]->rope, &li->rope) &&
                                     k->variant[v]->kv_heads == li->kv_heads && k->variant[v]->head_dim == li->head_dim))
            v++;
        if (v == k->nvariants) k->variant[k->nvariants++] = li;
        k->key[i] = -1 - v;
    }
}

/* The kind declarations: a sliding window's when a layer with the header's RoPE has it, each variant's. */
static void write_kinds(const Layout *l, const Kinds *k, Buf *out) {
    char name[64], attn[ATTN_TEXT_MAX];
    for (int j = 0; j < k->n; j++) {
        bool used = false;
        for (int i = 0; i < l->nlayers && !used; i++) used = k->key[i] == k->windows[j];
        if (used) buf_printf(out, "attention %s = %s\n", attn_name(k, k->windows[j], name, sizeof name),
                             attn_text(k->windows[j], 0, attn));
    }
    for (int v = 0; v < k->nvariants; v++) {
        const LayerInfo *li = k->variant[v];
        buf_printf(out, "attention %s = %s", attn_name(k, -1 - v, name, sizeof name),
                   attn_text(li->window, li->chunked, attn));
        if (li->rope.nope) buf_puts(out, " nope");
        else if (li->rope.theta) buf_puts(out, " rope_theta "), mix_write_real(li->rope.theta, out);
        if (li->sinks) buf_puts(out, " sinks");
        if (li->kv_heads) buf_printf(out, " kv_heads %lld", (long long)li->kv_heads);
        if (li->head_dim) buf_printf(out, " head_dim %lld", (long long)li->head_dim);
        buf_puts(out, "\n");
    }
}

/* Picks the plain statement written as `default`: the only statement, or the plain statement
 * covering the most layers, at least half of them, when its set needs several items. -1 for none. */
static int pick_default(const Stmt *s, int count) {
    int live = 0, best = -1;
    for (int i = 0; i < count; i++) {
        if (s[i].merged_away) continue;
        live++;
        if (s[i].nelems == 1 && s[i].elems[0].repeat == 1 && (best < 0 || s[i].nidx > s[best].nidx)) best = i;
    }
    if (best < 0) return -1;
    if (live == 1) return best;
    int layers = 0;
    for (int i = 0; i < count; i++)
        if (!s[i].merged_away) layers += s[i].nidx;
    Buf tmp = {0};
    int items = write_set(s[best].idx, s[best].nidx, &tmp);
    buf_free(&tmp);
    return items >= 2 && 2 * s[best].nidx >= layers ? best : -1;
}

typedef struct {
    Stmt *s;
    int count, cap;
} StmtList;

static Stmt *list_push(StmtList *L) {
    if (L->count == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 8;
        L->s = xrealloc(L->s, (size_t)L->cap * sizeof(Stmt));
    }
    memset(&L->s[L->count], 0, sizeof(Stmt));
    return &L->s[L->count++];
}

static void list_free(StmtList *L) {
    for (int k = 0; k < L->count; k++) {
        free(L->s[k].idx);
        free(L->s[k].elems);
    }
    free(L->s);
    memset(L, 0, sizeof *L);
}

/* Segments the layers idx[0..m-1] (ascending) as one sequence and appends a statement per segment. */
static void plan_segments(const LayerTok *t, const int *idx, int m, StmtList *L) {
    if (m == 0) return;
    LayerTok *sub = xcalloc((size_t)m, sizeof *sub);
    for (int k = 0; k < m; k++) sub[k] = t[idx[k]];
    int *starts, *periods;
    int count = segment(sub, m, &starts, &periods);
    for (int k = 0; k < count; k++) {
        int b = k + 1 < count ? starts[k + 1] - 1 : m - 1;
        Stmt *st = list_push(L);
        build_stmt(sub, m, starts[k], b, periods[k], st);
        for (int j = 0; j < st->nidx; j++) st->idx[j] = idx[st->idx[j]];
    }
    free(starts);
    free(periods);
    free(sub);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Renders the layer statements of a plan: merges, picks `default`, aligns the colons. Returns its
 * size: two per statement plus its set items and its elements. */
static int first_index(const Stmt *s) {
    return s->nidx ? s->idx[0] : INT_MAX;
}

static int render_plan(const Kinds *kinds, StmtList *L, Buf *out) {
    Stmt *stmts = L->s;
    int count = L->count;
    merge_stmts(stmts, count);
    for (int k = 0; k < count; k++) qsort(stmts[k].idx, (size_t)stmts[k].nidx, sizeof(int), cmp_int);
    int def = pick_default(stmts, count);
    char **heads = xcalloc((size_t)count + 1, sizeof(char *));
    int width = def >= 0 ? 7 : 0, size = 0;
    for (int k = 0; k < count; k++) {
        if (stmts[k].merged_away || k == def) continue;
        Buf h = {0};
        buf_puts(&h, stmts[k].nidx == 1 ? "layer " : "layers ");
        size += write_set(stmts[k].idx, stmts[k].nidx, &h);
        heads[k] = h.data;
        if ((int)h.len > width) width = (int)h.len;
    }
    /* In index order of each statement's first layer, `default` last. */
    int *order = xcalloc((size_t)count + 1, sizeof(int));
    for (int k = 0; k < count; k++) {
        int j = k;
        for (; j > 0 && first_index(&stmts[order[j - 1]]) > first_index(&stmts[k]); j--) order[j] = order[j - 1];
        order[j] = k;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int o = 0; o < count; o++) {
            int k = order[o];
            if (stmts[k].merged_away || (k == def) != (pass == 1)) continue;
            size += 2 + stmts[k].nelems;
            for (int j = 0; j < stmts[k].nelems; j++) size += stmts[k].elems[j].form == FORM_LAST;  /* less plain */
            buf_printf(out, "%-*s : ", width, k == def ? "default" : heads[k]);
            const Stmt *s = &stmts[k];
            bool pattern = s->nelems > 1 || s->elems[0].repeat > 1;
            if (pattern) buf_puts(out, "pattern [");
            for (int j = 0; j < s->nelems; j++) {
                if (j) buf_puts(out, ", ");
                write_elem(kinds, &s->elems[j], out);
            }
            buf_puts(out, pattern ? "]\n" : "\n");
        }
    for (int k = 0; k < count; k++) free(heads[k]);
    free(heads);
    free(order);
    return size;
}

/* A key grouping layers that one plain statement could cover: attention, ownership, reader's owner. */
static bool same_key(const LayerTok *a, const LayerTok *b) {
    return a->window == b->window && a->owner == b->owner && (a->owner || a->abs == b->abs);
}

/* The plan with the layers of one key pulled out into their own statement (exceptions such as a few
 * global layers among sliding pairs) and the rest segmented as one sequence. false when that key's
 * layers cannot share one element. */
static bool plan_with_exception(const LayerTok *t, int n, int key, StmtList *L) {
    int *rest = xcalloc((size_t)n, sizeof(int)), m = 0;
    Stmt *ex = list_push(L);
    ClassState c;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (!same_key(&t[i], &t[key])) {
            rest[m++] = i;
        } else {
            if (ex->nidx == 0) class_init(&c, &t[i]);
            else ok = ok && class_add(&c, &t[i]);
            stmt_add_index(ex, i);
        }
    }
    if (ok) {
        ex->elems = xcalloc(1, sizeof(Elem));
        ex->elems[0] = class_elem(&c);
        ex->nelems = 1;
        ex->period = 1;
        plan_segments(t, rest, m, L);
    }
    free(rest);
    return ok;
}

#define MAX_EXCEPTION_SCAN 64   /* keys are looked for among the first layers */
#define EXCEPTION_LAYERS 4096   /* above this, only the plain segmentation is tried */

/* Tries the plain segmentation and the plans with one key pulled out; keeps the smallest in *best. */
static void try_plans(const LayerTok *t, int n, const Kinds *kinds, Buf *best, int *best_size) {
    int *all = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) all[i] = i;
    StmtList L = {0};
    for (int key = -1; key < n; key++) {
        Buf text = {0};
        int size = -1;
        if (key < 0) {
            plan_segments(t, all, n, &L);
            size = render_plan(kinds, &L, &text);
        } else {
            /* Candidate keys: the first layer of a distinct key covering at most half of the layers. */
            if (n > EXCEPTION_LAYERS || key >= MAX_EXCEPTION_SCAN) break;
            int first = -1, members = 0;
            for (int j = 0; j < n; j++)
                if (same_key(&t[j], &t[key])) {
                    if (first < 0) first = j;
                    members++;
                }
            if (first == key && 2 * members <= n && plan_with_exception(t, n, key, &L))
                size = render_plan(kinds, &L, &text);
        }
        list_free(&L);
        if (size > 0 && (*best_size < 0 || size < *best_size || (size == *best_size && text.len < best->len))) {
            buf_free(best);
            *best = text;
            *best_size = size;
        } else {
            buf_free(&text);
        }
    }
    free(all);
}

/* Renders the layer statements of the most compact plan: smallest size, then shortest text. `reads
 * last` is tried with and without, as it can hide a plainer plan behind a shorter segmentation. */
static void write_layers(const Layout *l, const Kinds *kinds, Buf *out) {
    int n = l->nlayers;
    LayerTok *t = make_tokens(l, kinds->key);
    Buf best = {0};
    int best_size = -1;
    try_plans(t, n, kinds, &best, &best_size);
    bool any_last = false;
    for (int i = 0; i < n; i++) any_last |= t[i].last_ok, t[i].last_ok = false;
    if (any_last) try_plans(t, n, kinds, &best, &best_size);
    buf_puts(out, best.data ? best.data : "");
    buf_free(&best);
    free(t);
}

void mix_write(const Layout *l, const char *comment, Buf *out) {
    mix_write_comment(comment, out);
    mix_write_header(&l->model, out);
    Kinds kinds;
    collect_kinds(l, &kinds);
    if (kinds.n || kinds.nvariants) buf_puts(out, "\n");
    write_kinds(l, &kinds, out);
    buf_puts(out, "\n");
    if (l->nlayers > 0) write_layers(l, &kinds, out);
    free(kinds.windows);
    free(kinds.key);
    free(kinds.variant);
}
