/* jinja.c — the render of a parsed template (jinja.h, jinja_ast.h), with Jinja's semantics: Python's
 * truth, `and`/`or` giving an operand, undefined printing as '', a loop body's sets undone at each
 * iteration's start and at its end, namespaces shared. Whatever Jinja would fail on, or the subset
 * does not compute, fails with its position: never another text. */
#include "jinja_ast.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

/* Python's str.isspace: bidirectional class WS, B or S, or category Zs. */
size_t jinja_space_len(const char *s, size_t len) {
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &c);
    if (n <= 0) return 0;
    const utf8proc_property_t *p = utf8proc_get_property(c);
    bool sp = p->bidi_class == UTF8PROC_BIDI_CLASS_WS || p->bidi_class == UTF8PROC_BIDI_CLASS_B ||
              p->bidi_class == UTF8PROC_BIDI_CLASS_S || p->category == UTF8PROC_CATEGORY_ZS;
    return sp ? (size_t)n : 0;
}

void jinja_strip(const char *s, size_t len, bool left, bool right, size_t *from, size_t *to) {
    size_t a = 0, b = len, w;
    while (left && a < b && (w = jinja_space_len(s + a, b - a))) a += w;
    while (right && b > a) {   /* back to the start of the last character */
        size_t k = b - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        if (jinja_space_len(s + k, b - k) != b - k) break;
        b = k;
    }
    *from = a;
    *to = b;
}

typedef enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_STR, V_LIST, V_MSG, V_NS, V_LOOP, V_FUNC } ValKind;
static const char *const KIND_NAME[] = {"undefined", "none", "a boolean", "an integer", "a string", "a list",
                                        "a message", "a namespace", "loop", "a function"};

typedef struct {
    ValKind k;
    int64_t i;          /* V_BOOL, V_INT, V_MSG (its index); V_LIST: its items [i, hi) */
    int64_t hi;
    const char *s;      /* V_STR: n bytes */
    size_t n;           /* V_LIST: 1 for a generator (selectattr's, before | list) */
    void *p;            /* V_NS: Ns; V_LOOP: int64_t[2] {index0, length}; V_LIST: int32_t message indices, or
                         * NULL when item k is messages[k] */
} Val;

/* The message index of a list's k-th item. */
static int64_t list_at(Val v, int64_t k) { return v.p ? ((const int32_t *)v.p)[v.i + k] : v.i + k; }

#define NS_MAX 32
typedef struct {
    const char *keys[NS_MAX];
    Val vals[NS_MAX];
    int n;
} Ns;

typedef struct {
    const char *name;
    Val v;
} Var;

typedef struct {
    const JinjaTemplate *t;
    const JinjaContext *c;
    Arena A;
    Buf *out;
    Var *vars;
    int nvars, cap, frame;     /* the innermost loop's variables start at frame */
    char *err;
    size_t errlen;
    bool failed, raised;
} Render;

static const Val UNDEF = {V_UNDEF};

static Val fail(Render *R, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static Val fail(Render *R, size_t pos, const char *fmt, ...) {
    if (R->failed) return UNDEF;
    va_list ap;
    va_start(ap, fmt);
    jinja_verror(R->t->src, pos, R->err, R->errlen, fmt, ap);
    va_end(ap);
    R->failed = true;
    return UNDEF;
}

static Val str_val(const char *s, size_t n) { return (Val){.k = V_STR, .s = s, .n = n}; }
static Val int_val(ValKind k, int64_t i) { return (Val){.k = k, .i = i}; }

static bool truthy(Val v) {
    switch (v.k) {
    case V_UNDEF: case V_NONE: return false;
    case V_BOOL: case V_INT: return v.i != 0;
    case V_STR: return v.n > 0;
    case V_LIST: return v.n || v.hi > v.i;   /* a generator is true, as in Python */
    default: return true;
    }
}

/* v as Jinja prints it (str()), into b; false for what has no text here. */
static bool text_of(Val v, Buf *b) {
    switch (v.k) {
    case V_UNDEF: return true;
    case V_NONE: return buf_puts(b, "None"), true;
    case V_BOOL: return buf_puts(b, v.i ? "True" : "False"), true;
    case V_INT: return buf_printf(b, "%lld", (long long)v.i), true;
    case V_STR: return buf_append(b, v.s, v.n), true;
    default: return false;
    }
}

static Val as_str(Render *R, Val v, size_t pos) {
    if (v.k == V_STR) return v;
    Buf b = {0};
    if (!text_of(v, &b)) return fail(R, pos, "%s has no text here", KIND_NAME[v.k]);
    Val s = str_val(arena_strndup(&R->A, b.data ? b.data : "", b.len), b.len);
    buf_free(&b);
    return s;
}

static Val lookup(Render *R, const char *name) {
    for (int i = R->nvars - 1; i >= 0; i--)
        if (!strcmp(R->vars[i].name, name)) return R->vars[i].v;
    const JinjaContext *c = R->c;
    for (int i = 0; i < c->nkwargs; i++)
        if (!strcmp(c->kwargs[i].name, name))
            return c->kwargs[i].boolean ? int_val(V_BOOL, c->kwargs[i].b) : str_val(c->kwargs[i].s, c->kwargs[i].len);
    if (!strcmp(name, "messages")) return (Val){.k = V_LIST, .i = 0, .hi = c->nmessages};
    if (!strcmp(name, "bos_token")) return c->bos_token ? str_val(c->bos_token, strlen(c->bos_token)) : UNDEF;
    if (!strcmp(name, "eos_token")) return c->eos_token ? str_val(c->eos_token, strlen(c->eos_token)) : UNDEF;
    if (!strcmp(name, "add_generation_prompt")) return int_val(V_BOOL, c->add_generation_prompt);
    if (!strcmp(name, "tools") && c->tools_empty) return (Val){.k = V_LIST};   /* [] */
    if (!strcmp(name, "tools") || !strcmp(name, "documents")) return (Val){.k = V_NONE};
    if (!strcmp(name, "strftime_now")) return (Val){.k = V_FUNC};
    return UNDEF;
}

/* name = v in the innermost scope. */
static void assign(Render *R, const char *name, Val v) {
    for (int i = R->nvars - 1; i >= R->frame; i--)
        if (!strcmp(R->vars[i].name, name)) {
            R->vars[i].v = v;
            return;
        }
    if (R->nvars == R->cap) {
        R->cap = R->cap ? 2 * R->cap : 32;
        R->vars = xrealloc(R->vars, (size_t)R->cap * sizeof *R->vars);
    }
    R->vars[R->nvars++] = (Var){name, v};
}

static bool equal(Render *R, Val a, Val b) {
    bool na = a.k == V_BOOL || a.k == V_INT, nb = b.k == V_BOOL || b.k == V_INT;
    if (na && nb) return a.i == b.i;
    if (a.k != b.k) return false;
    switch (a.k) {
    case V_UNDEF: case V_NONE: return true;
    case V_STR: return a.n == b.n && !memcmp(a.s, b.s, a.n);
    case V_MSG: {
        const ChatMessage *x = &R->c->messages[a.i], *y = &R->c->messages[b.i];
        return !strcmp(x->role, y->role) && x->len == y->len && !memcmp(x->content, y->content, x->len);
    }
    case V_LIST: {
        if (a.hi - a.i != b.hi - b.i) return false;
        for (int64_t k = 0; k < a.hi - a.i; k++)
            if (!equal(R, int_val(V_MSG, list_at(a, k)), int_val(V_MSG, list_at(b, k)))) return false;
        return true;
    }
    default: return a.p == b.p;
    }
}

static Val eval(Render *R, const Expr *e);

/* obj.key and obj[key] with a string key. */
static Val get_key(Render *R, Val o, const char *key, size_t n, size_t pos) {
    if (o.k == V_MSG) {
        const ChatMessage *m = &R->c->messages[o.i];
        if (n == 4 && !memcmp(key, "role", 4)) return str_val(m->role, strlen(m->role));
        if (n == 7 && !memcmp(key, "content", 7)) return str_val(m->content, m->len);
        return UNDEF;   /* a message has role and content only */
    }
    if (o.k == V_NS) {
        Ns *ns = o.p;
        for (int i = 0; i < ns->n; i++)
            if (strlen(ns->keys[i]) == n && !memcmp(ns->keys[i], key, n)) return ns->vals[i];
        return UNDEF;
    }
    if (o.k == V_LOOP) {
        const int64_t *l = o.p;
        static const char *const A[] = {"index0", "index", "first", "last", "length", "revindex", "revindex0"};
        int64_t v[] = {l[0], l[0] + 1, l[0] == 0, l[0] == l[1] - 1, l[1], l[1] - l[0], l[1] - l[0] - 1};
        for (int i = 0; i < 7; i++)
            if (strlen(A[i]) == n && !memcmp(A[i], key, n)) return int_val(i == 2 || i == 3 ? V_BOOL : V_INT, v[i]);
        return fail(R, pos, "loop.%.*s is not supported (only index0, index, first, last, length, revindex, "
                    "revindex0)", (int)n, key);
    }
    if (o.k == V_UNDEF) return fail(R, pos, "'%.*s' of an undefined value", (int)n, key);
    if (o.k == V_NONE) return UNDEF;   /* Jinja: no such attribute */
    if (o.k == V_STR || o.k == V_LIST) {   /* a string or a list has its methods as attributes, no other */
        static const char *const M[] = {"strip", "lstrip", "rstrip", "split", "startswith", "endswith", "lower",
                                        "upper", "replace", "format", "join", "title", "find", "count", "index",
                                        "append", "extend", "pop", "insert", "remove", "sort", "reverse", "copy", NULL};
        for (int i = 0; M[i]; i++)
            if (strlen(M[i]) == n && !memcmp(M[i], key, n))
                return fail(R, pos, "'%s' of %s is not supported", M[i], KIND_NAME[o.k]);
        return UNDEF;
    }
    return fail(R, pos, "'%.*s' of %s is not supported", (int)n, key, KIND_NAME[o.k]);
}

static Val eval_index(Render *R, const Expr *e) {
    Val o = eval(R, e->a), k = eval(R, e->b);
    if (R->failed) return UNDEF;
    if (k.k == V_STR) return get_key(R, o, k.s, k.n, e->pos);
    if (o.k == V_LIST && o.n) return fail(R, e->pos, "indexing a generator (selectattr's: add | list)");
    if (o.k == V_LIST && (k.k == V_INT || k.k == V_BOOL)) {
        int64_t n = o.hi - o.i, i = k.i < 0 ? k.i + n : k.i;
        return i >= 0 && i < n ? int_val(V_MSG, list_at(o, i)) : UNDEF;
    }
    return fail(R, e->pos, "indexing %s with %s is not supported", KIND_NAME[o.k], KIND_NAME[k.k]);
}

/* A Python slice bound: none for the default, negative from the end, clamped to [0, n]. */
static bool slice_bound(Render *R, const Expr *b, int64_t n, int64_t dflt, int64_t *out) {
    Val v = b ? eval(R, b) : (Val){.k = V_NONE};
    if (v.k == V_NONE) return *out = dflt, true;
    if (v.k != V_INT && v.k != V_BOOL) return fail(R, b->pos, "a slice bound must be an integer"), false;
    int64_t i = v.i < 0 ? v.i + n : v.i;
    *out = i < 0 ? 0 : i > n ? n : i;
    return true;
}

static Val eval_slice(Render *R, const Expr *e) {
    Val o = eval(R, e->a);
    if (R->failed) return UNDEF;
    if (o.k != V_LIST || o.n) return fail(R, e->pos, "slicing %s is not supported (only lists)", o.n ? "a generator" : KIND_NAME[o.k]);
    int64_t n = o.hi - o.i, lo, hi;
    if (!slice_bound(R, e->b, n, 0, &lo) || !slice_bound(R, e->c, n, n, &hi)) return UNDEF;
    return (Val){.k = V_LIST, .i = o.i + lo, .hi = o.i + (hi > lo ? hi : lo), .p = o.p};
}

static Val strip_val(Render *R, Val v, size_t pos) {
    v = as_str(R, v, pos);
    if (R->failed) return UNDEF;   /* no text to strip */
    size_t a, b;
    jinja_strip(v.s, v.n, true, true, &a, &b);
    return str_val(v.s + a, b - a);
}

/* Jinja's tests (of jinja_parse.c's list) on v. */
static bool test_is(const char *name, Val v) {
    if (!strcmp(name, "defined")) return v.k != V_UNDEF;
    if (!strcmp(name, "undefined")) return v.k == V_UNDEF;
    if (!strcmp(name, "none")) return v.k == V_NONE;
    if (!strcmp(name, "string")) return v.k == V_STR;
    if (!strcmp(name, "mapping")) return v.k == V_MSG;
    /* iterable: iter() succeeds (an undefined value iterates as empty) */
    return v.k == V_STR || v.k == V_LIST || v.k == V_MSG || v.k == V_UNDEF || v.k == V_LOOP;
}

/* The string argument k of filter e, or NULL when it is absent or not a string. */
static const char *str_arg(Render *R, const Expr *e, int k, size_t *n) {
    if (k >= e->nargs || e->keys[k]) return NULL;
    Val v = eval(R, e->args[k]);
    *n = v.n;
    return v.k == V_STR ? v.s : NULL;
}

/* selectattr / rejectattr(attr[, test[, value]]) of a list of messages: a generator. */
static Val select_attr(Render *R, const Expr *e, Val v) {
    size_t an = 0, tn = 0;
    const char *attr = str_arg(R, e, 0, &an), *test = e->nargs > 1 ? str_arg(R, e, 1, &tn) : "";
    if (R->failed) return UNDEF;
    if (!attr || !test || e->nargs > 3 || (v.k != V_LIST && v.k != V_UNDEF))
        return fail(R, e->pos, "%s of %s with these arguments is not supported", e->s, KIND_NAME[v.k]);
    static const char *const TESTS[] = {"defined", "undefined", "none", "string", "mapping", "iterable", NULL};
    bool eq = !strcmp(test, "equalto") || !strcmp(test, "eq") || !strcmp(test, "=="), known = !*test;
    for (int i = 0; TESTS[i]; i++) known |= !strcmp(TESTS[i], test);
    if (eq ? e->nargs != 3 : !known || e->nargs > 2)
        return fail(R, e->pos, "%s with the test '%.40s' and %d arguments is not supported", e->s, test, e->nargs);
    Val want = e->nargs > 2 ? eval(R, e->args[2]) : UNDEF;
    int64_t n = v.k == V_LIST ? v.hi - v.i : 0, kept = 0;
    int32_t *ix = arena_alloc(&R->A, (size_t)(n + 1) * sizeof *ix);
    for (int64_t k = 0; k < n && !R->failed; k++) {
        Val x = get_key(R, int_val(V_MSG, list_at(v, k)), attr, an, e->pos);
        bool hit = eq ? equal(R, x, want) : *test ? test_is(test, x) : truthy(x);
        if (hit == !strcmp(e->s, "selectattr")) ix[kept++] = (int32_t)list_at(v, k);
    }
    return (Val){.k = V_LIST, .i = 0, .hi = kept, .n = 1, .p = ix};
}

/* v as Python's json.dumps(v, ensure_ascii=False) writes it (transformers' tojson), for a string,
 * a number, a boolean or none. */
static Val to_json(Render *R, const Expr *e, Val v) {
    for (int k = 0; k < e->nargs; k++)
        if (!e->keys[k] || strcmp(e->keys[k], "indent"))   /* indent changes nothing of a scalar */
            return fail(R, e->pos, "tojson's arguments other than indent are not supported");
    Buf b = {0};
    if (v.k == V_NONE) buf_puts(&b, "null");
    else if (v.k == V_BOOL) buf_puts(&b, v.i ? "true" : "false");
    else if (v.k == V_INT) buf_printf(&b, "%lld", (long long)v.i);
    else if (v.k != V_STR) return fail(R, e->pos, "tojson of %s is not supported", KIND_NAME[v.k]);
    for (size_t i = 0; v.k == V_STR && i <= v.n; i++) {
        unsigned char c = i < v.n ? (unsigned char)v.s[i] : 0;
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                        : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (i == 0) buf_puts(&b, "\"");
        if (i == v.n) buf_puts(&b, "\"");
        else if (esc) buf_puts(&b, esc);
        else if (c < 0x20) buf_printf(&b, "\\u%04x", c);
        else buf_append(&b, (const char *)&c, 1);
    }
    Val out = str_val(arena_strndup(&R->A, b.data ? b.data : "", b.len), b.len);
    buf_free(&b);
    return out;
}

static Val eval_filter(Render *R, const Expr *e) {
    Val v = eval(R, e->a);
    if (R->failed) return UNDEF;
    if (e->k == E_TEST) return int_val(V_BOOL, test_is(e->s, v) != (e->op != 0));
    if (!strcmp(e->s, "trim")) return strip_val(R, v, e->pos);
    if (!strcmp(e->s, "string")) return as_str(R, v, e->pos);
    if (!strcmp(e->s, "tojson")) return to_json(R, e, v);
    if (!strcmp(e->s, "selectattr") || !strcmp(e->s, "rejectattr")) return select_attr(R, e, v);
    if (!strcmp(e->s, "list") && (v.k == V_LIST || v.k == V_UNDEF))
        return v.k == V_UNDEF ? (Val){.k = V_LIST} : (v.n = 0, v);
    if (strcmp(e->s, "length")) return fail(R, e->pos, "the filter '%s' of %s is not supported", e->s, KIND_NAME[v.k]);
    if (v.k == V_STR) return int_val(V_INT, utf8_chars(v.s, v.n));
    if (v.k == V_LIST && !v.n) return int_val(V_INT, v.hi - v.i);
    if (v.k == V_UNDEF) return int_val(V_INT, 0);
    return fail(R, e->pos, "the length of %s is not supported", v.n ? "a generator" : KIND_NAME[v.k]);
}

/* strftime_now(format): the clock's local time as Python's datetime.strftime writes it, for the
 * conversions whose text the C library writes the same in the C locale. */
static Val eval_now(Render *R, const Expr *e) {
    Val f = eval(R, e->args[0]);
    if (R->failed) return UNDEF;
    if (f.k != V_STR || memchr(f.s, 0, f.n)) return fail(R, e->pos, "strftime_now's format must be a string");
    for (size_t i = 0; i < f.n; i++)
        if (f.s[i] == '%' && (++i == f.n || !strchr("dbBYmyHMSaAjp%", f.s[i])))
            return fail(R, e->pos, "strftime_now: the conversion '%%%.1s' is not supported (only %%d %%b %%B %%Y %%m "
                        "%%y %%H %%M %%S %%a %%A %%j %%p %%%%)", i < f.n ? f.s + i : "");
    struct tm local;
    const struct tm *tm = R->c->now;
    if (!tm) {
        time_t t = time(NULL);
        if (!(tm = localtime_r(&t, &local))) return fail(R, e->pos, "strftime_now: the local time is not known");
    }
    char fmt[256], text[512];
    if (f.n >= sizeof fmt) return fail(R, e->pos, "strftime_now's format is longer than 255 bytes");
    memcpy(fmt, f.s, f.n);
    fmt[f.n] = 0;
    size_t n = f.n ? strftime(text, sizeof text, fmt, tm) : 0;
    return str_val(arena_strndup(&R->A, text, n), n);
}

static Val eval_namespace(Render *R, const Expr *e) {
    Ns *ns = arena_alloc(&R->A, sizeof *ns);
    for (int i = 0; i < e->nargs && !R->failed; i++) {
        Val v = eval(R, e->args[i]);
        int k = 0;
        while (k < ns->n && strcmp(ns->keys[k], e->keys[i])) k++;
        ns->keys[k] = e->keys[i];
        ns->vals[k] = v;
        if (k == ns->n) ns->n++;
    }
    return (Val){.k = V_NS, .p = ns};
}

static Val concat(Render *R, Val a, Val b) {
    char *s = arena_alloc(&R->A, a.n + b.n + 1);
    memcpy(s, a.s, a.n);
    memcpy(s + a.n, b.s, b.n);
    return str_val(s, a.n + b.n);
}

/* Python's integer % (the sign of the divisor). */
static int64_t py_mod(int64_t a, int64_t b) {
    if (b == -1) return 0;   /* INT64_MIN % -1 traps in C */
    int64_t m = a % b;
    return m && ((m < 0) != (b < 0)) ? m + b : m;
}

static Val arith(Render *R, const Expr *e, Val a, Val b) {
    bool na = a.k == V_INT || a.k == V_BOOL, nb = b.k == V_INT || b.k == V_BOOL;
    if (e->op == OP_ADD && a.k == V_STR && b.k == V_STR) return concat(R, a, b);
    if (e->op == OP_MUL && ((a.k == V_STR && nb) || (na && b.k == V_STR))) {   /* Python's repetition */
        Val str = a.k == V_STR ? a : b;
        int64_t k = a.k == V_STR ? b.i : a.i;
        if (k <= 0 || !str.n) return str_val("", 0);
        if (k > ((int64_t)1 << 24) / (int64_t)str.n) return fail(R, e->pos, "a string of more than 16 MiB");
        char *d = arena_alloc(&R->A, str.n * (size_t)k + 1);
        for (int64_t i = 0; i < k; i++) memcpy(d + (size_t)i * str.n, str.s, str.n);
        return str_val(d, str.n * (size_t)k);
    }
    if (!na || !nb)
        return fail(R, e->pos, "the operator '%s' on %s and %s is not supported", e->op == OP_ADD ? "+" : e->op == OP_SUB ? "-"
                    : e->op == OP_MUL ? "*" : "%", KIND_NAME[a.k], KIND_NAME[b.k]);
    if (e->op == OP_MOD && b.i == 0) return fail(R, e->pos, "modulo by zero");
    int64_t r = 0;
    bool over = e->op == OP_ADD ? __builtin_add_overflow(a.i, b.i, &r) : e->op == OP_SUB ? __builtin_sub_overflow(a.i, b.i, &r)
              : e->op == OP_MUL ? __builtin_mul_overflow(a.i, b.i, &r) : (r = py_mod(a.i, b.i), false);
    if (over) return fail(R, e->pos, "an integer past 64 bits");
    return int_val(V_INT, r);
}

static Val member(Render *R, const Expr *e, Val x, Val in) {
    bool r = false;
    if (in.k == V_STR && x.k == V_STR) r = x.n <= in.n && (x.n == 0 || memmem(in.s, in.n, x.s, x.n));
    else if (in.k == V_MSG && x.k == V_STR) r = get_key(R, in, x.s, x.n, e->pos).k != V_UNDEF;
    else if (in.k == V_UNDEF) r = false;   /* an undefined value iterates as empty */
    else if (in.k == V_LIST)
        for (int64_t k = 0; k < in.hi - in.i && !r; k++) r = equal(R, x, int_val(V_MSG, list_at(in, k)));
    else return fail(R, e->pos, "'in' with %s and %s is not supported", KIND_NAME[x.k], KIND_NAME[in.k]);
    return int_val(V_BOOL, r != (e->op == OP_NOTIN));
}

static Val compare(Render *R, const Expr *e, Val a, Val b) {
    bool na = a.k == V_INT || a.k == V_BOOL, nb = b.k == V_INT || b.k == V_BOOL;
    int c;
    if (na && nb) c = a.i < b.i ? -1 : a.i > b.i;
    else if (a.k == V_STR && b.k == V_STR) {
        c = memcmp(a.s, b.s, a.n < b.n ? a.n : b.n);
        if (!c) c = a.n < b.n ? -1 : a.n > b.n;
    } else return fail(R, e->pos, "ordering %s and %s is not supported", KIND_NAME[a.k], KIND_NAME[b.k]);
    bool r = e->op == OP_LT ? c < 0 : e->op == OP_GT ? c > 0 : e->op == OP_LE ? c <= 0 : c >= 0;
    return int_val(V_BOOL, r);
}

static Val eval_binary(Render *R, const Expr *e) {
    Val a = eval(R, e->a);
    if (R->failed) return UNDEF;
    if (e->op == OP_AND) return truthy(a) ? eval(R, e->b) : a;
    if (e->op == OP_OR) return truthy(a) ? a : eval(R, e->b);
    Val b = eval(R, e->b);
    if (R->failed) return UNDEF;
    switch (e->op) {
    case OP_CAT: {
        Val x = as_str(R, a, e->pos), y = as_str(R, b, e->pos);
        return R->failed ? UNDEF : concat(R, x, y);
    }
    case OP_EQ: return int_val(V_BOOL, equal(R, a, b));
    case OP_NE: return int_val(V_BOOL, !equal(R, a, b));
    case OP_IN: case OP_NOTIN: return member(R, e, a, b);
    case OP_LT: case OP_GT: case OP_LE: case OP_GE: return compare(R, e, a, b);
    default:
        if (a.k == V_UNDEF || b.k == V_UNDEF) return fail(R, e->pos, "an undefined value in an operation");
        return arith(R, e, a, b);
    }
}

static Val eval(Render *R, const Expr *e) {
    if (R->failed) return UNDEF;
    switch (e->k) {
    case E_STR: return str_val(e->s, e->n);
    case E_INT: return int_val(V_INT, e->i);
    case E_BOOL: return int_val(V_BOOL, e->i);
    case E_NONE: return (Val){.k = V_NONE};
    case E_NAME: return lookup(R, e->s);
    case E_ATTR: return get_key(R, eval(R, e->a), e->s, strlen(e->s), e->pos);
    case E_INDEX: return eval_index(R, e);
    case E_SLICE: return eval_slice(R, e);
    case E_FILTER: case E_TEST: return eval_filter(R, e);
    case E_BIN: return eval_binary(R, e);
    case E_NOT: return int_val(V_BOOL, !truthy(eval(R, e->a)));
    case E_COND: return truthy(eval(R, e->a)) ? eval(R, e->b) : e->c ? eval(R, e->c) : UNDEF;
    case E_NAMESPACE: return eval_namespace(R, e);
    case E_NOW: return eval_now(R, e);
    case E_METHOD: return eval(R, e->a), fail(R, e->pos, "the method '%s()' is not supported", e->s);
    case E_STRIP: {
        Val v = eval(R, e->a);
        if (!R->failed && v.k != V_STR) return fail(R, e->pos, "strip() of %s", KIND_NAME[v.k]);
        return strip_val(R, v, e->pos);
    }
    case E_NEG: {
        Val v = eval(R, e->a);
        if (!R->failed && v.k != V_INT && v.k != V_BOOL) return fail(R, e->pos, "'-' of %s", KIND_NAME[v.k]);
        if (v.i == INT64_MIN) return fail(R, e->pos, "an integer past 64 bits");
        return int_val(V_INT, -v.i);
    }
    case E_RAISE: {
        Val v = as_str(R, eval(R, e->a), e->pos);
        if (R->failed) return UNDEF;
        if (v.n) snprintf(R->err, R->errlen, "%.*s", (int)(v.n > 400 ? 400 : v.n), v.s);
        else snprintf(R->err, R->errlen, "raise_exception without a message");   /* a failure says why */
        R->failed = R->raised = true;
        return UNDEF;
    }
    }
    return UNDEF;
}

/* ------------------------------------------------------------------ statements */

static void exec(Render *R, const Stmt *s);

/* The items of `for x in it if cond`: those for which cond is true with x bound (Jinja's loop then
 * counts these only). */
static Val loop_filter(Render *R, const Stmt *s, Val it) {
    int64_t n = it.hi - it.i, kept = 0;
    int32_t *ix = arena_alloc(&R->A, (size_t)(n + 1) * sizeof *ix);
    for (int64_t k = 0; k < n && !R->failed; k++) {
        R->nvars = R->frame;
        assign(R, s->name, int_val(V_MSG, list_at(it, k)));
        if (truthy(eval(R, s->cond))) ix[kept++] = (int32_t)list_at(it, k);
    }
    return (Val){.k = V_LIST, .i = 0, .hi = kept, .p = ix};
}

static void exec_for(Render *R, const Stmt *s) {
    Val it = eval(R, s->e);
    if (R->failed || it.k == V_UNDEF) return;
    if (it.k != V_LIST) {
        fail(R, s->e->pos, "a for loop over %s is not supported (only lists)", KIND_NAME[it.k]);
        return;
    }
    if (s->name2) {
        fail(R, s->pos, "unpacking a message into two loop variables is not supported");
        return;
    }
    int saved_n = R->nvars, saved_frame = R->frame;
    R->frame = R->nvars;
    if (s->cond) it = loop_filter(R, s, it);
    int64_t *loop = arena_alloc(&R->A, 2 * sizeof *loop);
    loop[1] = it.hi - it.i;
    for (loop[0] = 0; loop[0] < loop[1] && !R->failed; loop[0]++) {
        R->nvars = R->frame;   /* each iteration starts from the loop's outside */
        assign(R, s->name, int_val(V_MSG, list_at(it, loop[0])));
        assign(R, "loop", (Val){.k = V_LOOP, .p = loop});
        exec(R, s->body);
    }
    R->nvars = saved_n;
    R->frame = saved_frame;
}

static void exec_set(Render *R, const Stmt *s) {
    Val v = eval(R, s->e);
    if (R->failed) return;
    if (!s->attr) {
        assign(R, s->name, v);
        return;
    }
    Val o = lookup(R, s->name);
    if (o.k != V_NS) {
        fail(R, s->pos, "setting an attribute of %s is not supported (only of a namespace)", KIND_NAME[o.k]);
        return;
    }
    Ns *ns = o.p;
    int k = 0;
    while (k < ns->n && strcmp(ns->keys[k], s->attr)) k++;
    if (k == NS_MAX) {
        fail(R, s->pos, "a namespace holds at most %d attributes", NS_MAX);
        return;
    }
    ns->keys[k] = s->attr;
    ns->vals[k] = v;
    if (k == ns->n) ns->n++;
}

static void exec(Render *R, const Stmt *s) {
    for (; s && !R->failed; s = s->next) {
        switch (s->k) {
        case S_TEXT: buf_append(R->out, s->s, s->n); break;
        case S_PRINT: {
            Val v = eval(R, s->e);
            if (!R->failed && !text_of(v, R->out)) fail(R, s->e->pos, "printing %s is not supported", KIND_NAME[v.k]);
            break;
        }
        case S_IF: exec(R, truthy(eval(R, s->e)) ? s->body : s->els); break;
        case S_FOR: exec_for(R, s); break;
        case S_SET: exec_set(R, s); break;
        }
    }
}

bool jinja_render(const JinjaTemplate *t, const JinjaContext *c, Buf *out, bool *raised, char *err, size_t errlen) {
    Render R = {.t = t, .c = c, .out = out, .err = err, .errlen = errlen};
    exec(&R, t->body);
    free(R.vars);
    arena_free(&R.A);
    if (raised) *raised = R.raised;
    return !R.failed;
}
