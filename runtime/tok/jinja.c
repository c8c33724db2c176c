/* jinja.c — the render of a parsed template (jinja.h, jinja_ast.h), with Jinja's semantics: Python's
 * truth, `and`/`or` giving an operand, undefined printing as '', a loop body's sets undone at each
 * iteration's start and at its end, namespaces shared. Whatever Jinja would fail on, or the subset
 * does not compute, fails with its position: never another text. */
#include "jinja_render.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

Val jinja_as_str(Render *R, Val v, size_t pos) {
    if (v.k == V_STR) return v;
    Buf b = {0};
    if (!jinja_text(v, &b)) return buf_free(&b), fail(R, pos, "%s has no text here", KIND_NAME[v.k]);
    return jinja_take_text(&R->V, &b);
}

/* A name's value: the innermost scope's first; in a macro, its own names, then the template's top
 * level as it stands at the call (Jinja's: not a loop's names); then the macros, the arguments and
 * the globals. */
static Val lookup(Render *R, const char *name) {
    for (int i = R->nvars - 1; i >= R->base; i--)
        if (!strcmp(R->vars[i].name, name)) return R->vars[i].v;
    for (int i = (R->base ? R->top : 0) - 1; i >= 0; i--)
        if (!strcmp(R->vars[i].name, name)) return R->vars[i].v;
    for (int i = R->nmacros - 1; i >= 0; i--)
        if (!strcmp(R->macros[i]->name, name)) return (Val){.k = V_MACRO, .p = R->macros[i]};
    const JinjaContext *c = R->V.c;
    for (int i = 0; i < c->nkwargs; i++)
        if (!strcmp(c->kwargs[i].name, name)) return jinja_from_json(&R->V, c->kwargs[i].value);
    if (!strcmp(name, "messages")) return R->messages;
    if (!strcmp(name, "bos_token")) return c->bos_token ? str_val(c->bos_token, strlen(c->bos_token)) : UNDEF;
    if (!strcmp(name, "eos_token")) return c->eos_token ? str_val(c->eos_token, strlen(c->eos_token)) : UNDEF;
    if (!strcmp(name, "add_generation_prompt")) return int_val(V_BOOL, c->add_generation_prompt);
    if (!strcmp(name, "tools") && c->tools) return jinja_from_json(&R->V, c->tools);
    if (!strcmp(name, "documents") && c->documents) return jinja_from_json(&R->V, c->documents);
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

bool jinja_equal_at(Render *R, Val a, Val b, size_t pos) { return jinja_equal(&R->V, a, b, pos); }

Val jinja_eval(Render *R, const Expr *e);

/* The names Python's dict has as attributes: Jinja's obj.name gives the method, not the key. */
static bool dict_method(const char *key, size_t n) {
    static const char *const M[] = {"items", "keys", "values", "get", "pop", "update", "copy", "clear", "setdefault",
                                    "fromkeys", "popitem", NULL};
    for (int i = 0; M[i]; i++)
        if (strlen(M[i]) == n && !memcmp(M[i], key, n)) return true;
    return false;
}

/* A loop's state (V_LOOP's): where it is in the items it iterates. */
typedef struct {
    int64_t index0, length;
    Val items;
} Loop;

static Val loop_attr(Render *R, Val o, const char *key, size_t n, size_t pos) {
    const Loop *l = o.p;
    if ((n == 8 && !memcmp(key, "previtem", 8)) || (n == 8 && !memcmp(key, "nextitem", 8))) {
        int64_t k = l->index0 + (key[0] == 'n' ? 1 : -1);
        return k >= 0 && k < l->length ? jinja_item(l->items, k) : UNDEF;
    }
    /* JINJA_LOOP_ATTRS' first seven, in its order */
    int64_t i0 = l->index0, len = l->length, v[] = {i0, i0 + 1, i0 == 0, i0 == len - 1, len, len - i0, len - i0 - 1};
    for (int i = 0; i < 7; i++)
        if (strlen(JINJA_LOOP_ATTRS[i]) == n && !memcmp(JINJA_LOOP_ATTRS[i], key, n))
            return int_val(i == 2 || i == 3 ? V_BOOL : V_INT, v[i]);
    char names[256];
    jinja_name_list(names, sizeof names, JINJA_LOOP_ATTRS, "");
    return fail(R, pos, "the loop attribute '%.*s' is not supported (only %s)", (int)n, key, names);
}

/* obj.key (attr) and obj[key] with a string key. */
Val jinja_get_key(Render *R, Val o, const char *key, size_t n, bool attr, size_t pos) {
    if ((o.k == V_MSG || o.k == V_DICT) && attr && dict_method(key, n))
        return fail(R, pos, "'%.*s' of a dict is its method, not a key: ['%.*s'] reads the key", (int)n, key, (int)n, key);
    if (o.k == V_MSG) return jinja_msg_key(&R->V, o, key, n);
    if (o.k == V_DICT) {
        const json_t *x = json_object_getn(o.p, key, n);
        return x ? jinja_from_json(&R->V, x) : UNDEF;
    }
    if (o.k == V_NS) {
        const Ns *ns = o.p;
        for (int i = 0; i < ns->n; i++)
            if (strlen(ns->keys[i]) == n && !memcmp(ns->keys[i], key, n)) return ns->vals[i];
        return UNDEF;
    }
    if (o.k == V_LOOP) return loop_attr(R, o, key, n, pos);
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
    Val o = jinja_eval(R, e->a), k = jinja_eval(R, e->b);
    if (R->V.failed) return UNDEF;
    if (k.k == V_STR) return jinja_get_key(R, o, k.s, k.n, false, e->pos);
    if (o.k == V_LIST && o.n) return fail(R, e->pos, "indexing a generator (selectattr's: add | list)");
    if (o.k == V_LIST && (k.k == V_INT || k.k == V_BOOL)) {
        int64_t n = jinja_len(o), i = k.i < 0 ? k.i + n : k.i;
        return i >= 0 && i < n ? jinja_item(o, i) : UNDEF;
    }
    if (o.k == V_DICT && (k.k == V_INT || k.k == V_BOOL || k.k == V_NONE)) return UNDEF;   /* JSON keys are strings */
    if (o.k == V_NONE) return UNDEF;   /* Jinja: none[k] is undefined */
    return fail(R, e->pos, "indexing %s with %s is not supported", KIND_NAME[o.k], KIND_NAME[k.k]);
}

/* A Python slice bound (PySlice_AdjustIndices): none for the default dflt, negative from the end,
 * clamped to [0, n] (a negative step: [-1, n - 1]). */
static bool slice_bound(Render *R, const Expr *b, int64_t n, int64_t step, int64_t dflt, int64_t *out) {
    Val v = b ? jinja_eval(R, b) : (Val){.k = V_NONE};
    if (v.k == V_NONE) return *out = dflt, true;
    if (v.k != V_INT && v.k != V_BOOL) return fail(R, b->pos, "a slice bound must be an integer"), false;
    int64_t i = v.i < 0 ? v.i + n : v.i;
    if (i < 0) i = step < 0 ? -1 : 0;
    else if (i >= n) i = step < 0 ? n - 1 : n;
    *out = i;
    return true;
}

/* The byte offset of code point k of the UTF-8 string s[0, n). */
static size_t utf8_offset(const char *s, size_t n, int64_t k) {
    size_t b = 0;
    for (; k > 0 && b < n; k--)
        for (b++; b < n && ((unsigned char)s[b] & 0xC0) == 0x80; b++) {}
    return b;
}

/* s[lo:hi:step] of a string by code point (a step of 1: in place). */
static Val slice_str(Render *R, Val s, int64_t lo, int64_t hi, int64_t step, int64_t n) {
    if (step == 1) {
        size_t a = utf8_offset(s.s, s.n, lo), b = utf8_offset(s.s, s.n, hi > lo ? hi : lo);
        return str_val(s.s + a, b - a);
    }
    size_t *at = xmalloc((size_t)(n + 1) * sizeof *at);   /* each code point's offset, and the end */
    for (int64_t k = 0; k <= n; k++) at[k] = k ? utf8_offset(s.s + at[k - 1], s.n - at[k - 1], 1) + at[k - 1] : 0;
    Buf b = {0};
    for (int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) buf_append(&b, s.s + at[k], at[k + 1] - at[k]);
    free(at);
    return jinja_take_text(&R->V, &b);
}

static Val eval_slice(Render *R, const Expr *e) {
    Val o = jinja_eval(R, e->a), st = e->d ? jinja_eval(R, e->d) : (Val){.k = V_NONE};
    if (R->V.failed) return UNDEF;
    bool str = o.k == V_STR;
    if ((o.k != V_LIST || o.n) && !str)
        return fail(R, e->pos, "slicing %s is not supported (only lists and strings)", o.n ? "a generator" : KIND_NAME[o.k]);
    if (st.k != V_NONE && st.k != V_INT && st.k != V_BOOL) return fail(R, e->pos, "a slice step must be an integer");
    int64_t step = st.k == V_NONE ? 1 : st.i, n = str ? utf8_chars(o.s, o.n) : jinja_len(o), lo, hi;
    if (step == 0) return fail(R, e->pos, "a slice step of zero (Python's ValueError)");
    if (!slice_bound(R, e->b, n, step, step < 0 ? n - 1 : 0, &lo) || !slice_bound(R, e->c, n, step, step < 0 ? -1 : n, &hi))
        return UNDEF;
    if (str) return slice_str(R, o, lo, hi, step, n);
    if (step == 1) return (Val){.k = V_LIST, .i = o.i + lo, .hi = o.i + (hi > lo ? hi : lo), .p = o.p};
    Val *items = arena_alloc(&R->V.A, (size_t)(n + 1) * sizeof *items);
    int64_t kept = 0;
    for (int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) items[kept++] = jinja_item(o, k);
    return jinja_list(items, kept);
}

Val jinja_strip_val(Render *R, Val v, size_t pos) {
    v = jinja_as_str(R, v, pos);
    if (R->V.failed) return UNDEF;   /* no text to strip */
    size_t a, b;
    jinja_strip(v.s, v.n, true, true, &a, &b);
    return str_val(v.s + a, b - a);
}

/* Jinja's tests (of jinja_parse.c's list) on v. */
bool jinja_test_is(const char *name, Val v) {
    if (!strcmp(name, "defined")) return v.k != V_UNDEF;
    if (!strcmp(name, "undefined")) return v.k == V_UNDEF;
    if (!strcmp(name, "none")) return v.k == V_NONE;
    if (!strcmp(name, "string")) return v.k == V_STR;
    if (!strcmp(name, "mapping")) return v.k == V_MSG || v.k == V_DICT;
    if (!strcmp(name, "true") || !strcmp(name, "false")) return v.k == V_BOOL && v.i == (name[0] == 't');
    if (!strcmp(name, "boolean")) return v.k == V_BOOL;
    if (!strcmp(name, "integer")) return v.k == V_INT;
    if (!strcmp(name, "float")) return v.k == V_FLOAT;
    if (!strcmp(name, "number")) return v.k == V_INT || v.k == V_FLOAT || v.k == V_BOOL;
    if (!strcmp(name, "sequence"))   /* len() and [] both there (an undefined value has both, as Jinja's) */
        return v.k == V_STR || (v.k == V_LIST && !v.n) || v.k == V_DICT || v.k == V_MSG || v.k == V_UNDEF;
    /* iterable: iter() succeeds (an undefined value iterates as empty) */
    return v.k == V_STR || v.k == V_LIST || v.k == V_MSG || v.k == V_DICT || v.k == V_UNDEF || v.k == V_LOOP;
}

/* The values `for` iterates over: a list's items, a dict's keys (none for undefined). */
bool jinja_iterate(Render *R, Val v, size_t pos, Val *list) {
    if (v.k == V_UNDEF) return *list = jinja_list(NULL, 0), true;
    if (v.k == V_LIST) return *list = v, true;
    if (v.k != V_DICT) return fail(R, pos, "iterating over %s is not supported (only lists and dicts)", KIND_NAME[v.k]), false;
    size_t n = json_object_size(v.p), k = 0, klen;
    Val *keys = arena_alloc(&R->V.A, (n + 1) * sizeof *keys);
    const char *key;
    json_t *x;
    json_object_keylen_foreach((json_t *)v.p, key, klen, x) keys[k++] = str_val(key, klen);
    return *list = jinja_list(keys, (int64_t)n), true;
}

/* strftime_now(format): the clock's local time as Python's datetime.strftime writes it, for the
 * conversions whose text the C library writes the same in the C locale. */
static Val eval_now(Render *R, const Expr *e) {
    Val f = jinja_eval(R, e->args[0]);
    if (R->V.failed) return UNDEF;
    if (f.k != V_STR || memchr(f.s, 0, f.n)) return fail(R, e->pos, "strftime_now's format must be a string");
    for (size_t i = 0; i < f.n; i++)
        if (f.s[i] == '%' && (++i == f.n || !strchr("dbBYmyHMSaAjp%", f.s[i])))
            return fail(R, e->pos, "strftime_now: the conversion '%%%.1s' is not supported (only %%d %%b %%B %%Y %%m "
                        "%%y %%H %%M %%S %%a %%A %%j %%p %%%%)", i < f.n ? f.s + i : "");
    struct tm local;
    const struct tm *tm = R->V.c->now;
    if (!tm) {
        time_t t = time(NULL);
        if (!(tm = localtime_r(&t, &local))) return fail(R, e->pos, "strftime_now: the local time is not known");
    }
    char fmt[256], text[512];
    if (f.n >= sizeof fmt) return fail(R, e->pos, "strftime_now's format is longer than 255 bytes");
    memcpy(fmt, f.s, f.n);
    fmt[f.n] = 0;
    size_t n = f.n ? strftime(text, sizeof text, fmt, tm) : 0;
    return str_val(arena_strndup(&R->V.A, text, n), n);
}

static Val eval_namespace(Render *R, const Expr *e) {
    Ns *ns = arena_alloc(&R->V.A, sizeof *ns);
    for (int i = 0; i < e->nargs && !R->V.failed; i++) {
        Val v = jinja_eval(R, e->args[i]);
        int k = 0;
        while (k < ns->n && strcmp(ns->keys[k], e->keys[i])) k++;
        ns->keys[k] = e->keys[i];
        ns->vals[k] = v;
        if (k == ns->n) ns->n++;
    }
    return (Val){.k = V_NS, .p = ns};
}

static Val concat(Render *R, Val a, Val b) {
    char *s = arena_alloc(&R->V.A, a.n + b.n + 1);
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

/* What v is, for an error: a list's kind told apart (Python's list, tuple and generator). */
static const char *kind_name(Val v) {
    return v.k != V_LIST ? KIND_NAME[v.k] : v.n ? "a generator" : v.tuple ? "a tuple" : "a list";
}

/* Python's list + list (tuple + tuple): a new one of a's items then b's. */
static Val concat_lists(Render *R, Val a, Val b) {
    int64_t na = jinja_len(a), nb = jinja_len(b);
    Val *items = arena_alloc(&R->V.A, (size_t)(na + nb + 1) * sizeof *items);
    for (int64_t k = 0; k < na; k++) items[k] = jinja_item(a, k);
    for (int64_t k = 0; k < nb; k++) items[na + k] = jinja_item(b, k);
    Val v = jinja_list(items, na + nb);
    v.tuple = a.tuple;
    return v;
}

/* s as jinja2's Markup escapes a string joined to it: & < > ' " as HTML entities. */
static Val html_escape(Render *R, Val s) {
    if (s.markup) return s;
    Buf b = {0};
    for (size_t i = 0; i < s.n; i++) {
        const char *e = s.s[i] == '&' ? "&amp;" : s.s[i] == '<' ? "&lt;" : s.s[i] == '>' ? "&gt;" : s.s[i] == '\'' ? "&#39;"
                      : s.s[i] == '"' ? "&#34;" : NULL;
        if (e) buf_append(&b, e, strlen(e));
        else buf_append(&b, &s.s[i], 1);
    }
    return jinja_take_text(&R->V, &b);
}

/* string + string; with a Markup on either side (| safe's), jinja2's Markup of both, the other
 * escaped (the parser allows this only where the result is printed or joined by ~). */
static Val add_strings(Render *R, Val a, Val b) {
    if (!a.markup && !b.markup) return concat(R, a, b);
    Val v = concat(R, html_escape(R, a), html_escape(R, b));
    v.markup = true;
    return v;
}

static Val arith(Render *R, const Expr *e, Val a, Val b) {
    bool na = a.k == V_INT || a.k == V_BOOL, nb = b.k == V_INT || b.k == V_BOOL;
    if (e->op == OP_ADD && a.k == V_STR && b.k == V_STR) return add_strings(R, a, b);
    if (e->op == OP_ADD && a.k == V_LIST && b.k == V_LIST && !a.n && !b.n && a.tuple == b.tuple)   /* no generator */
        return concat_lists(R, a, b);
    if (e->op == OP_MUL && ((a.k == V_STR && nb) || (na && b.k == V_STR))) {   /* Python's repetition */
        Val str = a.k == V_STR ? a : b;
        int64_t k = a.k == V_STR ? b.i : a.i;
        if (k <= 0 || !str.n) return str_val("", 0);
        if (k > ((int64_t)1 << 24) / (int64_t)str.n) return fail(R, e->pos, "a string of more than 16 MiB");
        char *d = arena_alloc(&R->V.A, str.n * (size_t)k + 1);
        for (int64_t i = 0; i < k; i++) memcpy(d + (size_t)i * str.n, str.s, str.n);
        return str_val(d, str.n * (size_t)k);
    }
    if (!na || !nb)
        return fail(R, e->pos, "the operator '%s' on %s and %s is not supported", e->op == OP_ADD ? "+" : e->op == OP_SUB ? "-"
                    : e->op == OP_MUL ? "*" : "%", kind_name(a), kind_name(b));
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
    else if ((in.k == V_MSG || in.k == V_DICT) && x.k == V_STR) r = jinja_get_key(R, in, x.s, x.n, false, e->pos).k != V_UNDEF;
    else if (in.k == V_DICT && x.k != V_LIST && x.k != V_DICT && x.k != V_MSG) r = false;   /* JSON keys are strings */
    else if (in.k == V_UNDEF) r = false;   /* an undefined value iterates as empty */
    else if (in.k == V_LIST && !in.n)
        for (int64_t k = 0; k < jinja_len(in) && !r; k++) r = jinja_equal_at(R, x, jinja_item(in, k), e->pos);
    else return fail(R, e->pos, "'in' with %s and %s is not supported", KIND_NAME[x.k], in.n ? "a generator" : KIND_NAME[in.k]);
    return int_val(V_BOOL, r != (e->op == OP_NOTIN));
}

static Val compare(Render *R, const Expr *e, Val a, Val b) {
    bool na = a.k == V_INT || a.k == V_BOOL || a.k == V_FLOAT, nb = b.k == V_INT || b.k == V_BOOL || b.k == V_FLOAT;
    int c;
    if (na && nb && (a.k == V_FLOAT || b.k == V_FLOAT)) {
        double x = a.k == V_FLOAT ? a.f : (double)a.i, y = b.k == V_FLOAT ? b.f : (double)b.i;
        c = x < y ? -1 : x > y;
    } else if (na && nb) c = a.i < b.i ? -1 : a.i > b.i;
    else if (a.k == V_STR && b.k == V_STR) {
        c = memcmp(a.s, b.s, a.n < b.n ? a.n : b.n);
        if (!c) c = a.n < b.n ? -1 : a.n > b.n;
    } else return fail(R, e->pos, "ordering %s and %s is not supported", KIND_NAME[a.k], KIND_NAME[b.k]);
    bool r = e->op == OP_LT ? c < 0 : e->op == OP_GT ? c > 0 : e->op == OP_LE ? c <= 0 : c >= 0;
    return int_val(V_BOOL, r);
}

static Val eval_binary(Render *R, const Expr *e) {
    Val a = jinja_eval(R, e->a);
    if (R->V.failed) return UNDEF;
    if (e->op == OP_AND) return jinja_truthy(a) ? jinja_eval(R, e->b) : a;
    if (e->op == OP_OR) return jinja_truthy(a) ? a : jinja_eval(R, e->b);
    Val b = jinja_eval(R, e->b);
    if (R->V.failed) return UNDEF;
    switch (e->op) {
    case OP_CAT: {
        Val x = jinja_as_str(R, a, e->pos), y = jinja_as_str(R, b, e->pos);
        return R->V.failed ? UNDEF : concat(R, x, y);
    }
    case OP_EQ: return int_val(V_BOOL, jinja_equal_at(R, a, b, e->pos));
    case OP_NE: return int_val(V_BOOL, !jinja_equal_at(R, a, b, e->pos));
    case OP_IN: case OP_NOTIN: return member(R, e, a, b);
    case OP_LT: case OP_GT: case OP_LE: case OP_GE: return compare(R, e, a, b);
    default:
        if (a.k == V_UNDEF || b.k == V_UNDEF) return fail(R, e->pos, "an undefined value in an operation");
        return arith(R, e, a, b);
    }
}

static void exec(Render *R, const Stmt *s);

/* What body writes, as a string (a macro's value, a block set's). */
static Val exec_to_text(Render *R, const Stmt *body) {
    Buf text = {0}, *out = R->out;
    R->out = &text;
    exec(R, body);
    R->out = out;
    return jinja_take_text(&R->V, &text);
}

/* {key: value, ...}: a dict of JSON values (jinja_to_json), its keys strings. */
static Val eval_dict(Render *R, const Expr *e) {
    json_t *d = json_object();
    json_array_append_new(R->V.owned, d);   /* freed with the render */
    for (int k = 0; k + 1 < e->nargs && !R->V.failed; k += 2) {
        Val key = jinja_eval(R, e->args[k]), v = jinja_eval(R, e->args[k + 1]);
        if (R->V.failed) break;
        if (key.k != V_STR) return fail(R, e->args[k]->pos, "a dict literal's key must be a string (JSON's)");
        json_t *j = jinja_to_json(&R->V, v, e->args[k + 1]->pos);
        if (j) json_object_setn_new(d, key.s, key.n, j);
    }
    return R->V.failed ? UNDEF : (Val){.k = V_DICT, .p = d};
}

/* name(args): the macro's body rendered in a scope of its own holding its parameters (positional,
 * then by name, else their defaults, else undefined), as text. */
static Val call_macro(Render *R, const Expr *e) {
    Val m = lookup(R, e->s), args[16];
    if (m.k != V_MACRO) return fail(R, e->pos, "'%s' is not a macro defined before this call", e->s);
    const Stmt *mac = m.p;
    for (int k = 0; k < e->nargs && !R->V.failed; k++) args[k] = jinja_eval(R, e->args[k]);
    if (R->V.failed) return UNDEF;
    if (R->depth == 100) return fail(R, e->pos, "macro calls nested past 100");
    int saved_n = R->nvars, saved_frame = R->frame, saved_base = R->base, npos = 0;
    while (npos < e->nargs && !e->keys[npos]) npos++;
    if (npos > mac->nparams) return fail(R, e->pos, "the macro '%s' takes at most %d arguments", mac->name, mac->nparams);
    int saved_top = R->top;
    if (R->top < 0) R->top = R->nvars;   /* called at the top level: all before the call is its */
    R->base = R->frame = R->nvars;
    for (int i = 0; i < mac->nparams && !R->V.failed; i++) {
        Val v = i < npos ? args[i] : UNDEF;
        for (int k = npos; k < e->nargs; k++)
            if (!strcmp(e->keys[k], mac->params[i])) v = args[k];
        if (v.k == V_UNDEF && i >= npos && mac->defaults[i]) v = jinja_eval(R, mac->defaults[i]);
        assign(R, mac->params[i], v);
    }
    for (int k = npos; k < e->nargs && !R->V.failed; k++) {
        int i = 0;
        while (i < mac->nparams && strcmp(e->keys[k], mac->params[i])) i++;
        if (i == mac->nparams) fail(R, e->pos, "the macro '%s' has no parameter '%s'", mac->name, e->keys[k]);
        else if (i < npos) fail(R, e->pos, "the macro '%s' is given '%s' twice", mac->name, e->keys[k]);
    }
    R->depth++;
    Val v = exec_to_text(R, mac->body);
    R->depth--;
    R->nvars = saved_n, R->frame = saved_frame, R->base = saved_base, R->top = saved_top;
    return v;
}

/* d.get(key[, default]): Python's dict.get (a key not a string: no JSON key is one). */
static Val dict_get(Render *R, const Expr *e, Val d, const Val *args) {
    if ((d.k != V_DICT && d.k != V_MSG) || e->nargs < 1 || e->nargs > 2)
        return fail(R, e->pos, "get() of %s with %d arguments is not supported (only of a dict, with a key and a "
                    "default)", KIND_NAME[d.k], e->nargs);
    Val v = args[0].k == V_STR ? jinja_get_key(R, d, args[0].s, args[0].n, false, e->pos) : UNDEF;
    return v.k != V_UNDEF ? v : e->nargs > 1 ? args[1] : (Val){.k = V_NONE};
}

/* obj.name(args): a dict's items() and get(), or one of str's methods (jinja_str_method). */
static Val eval_method(Render *R, const Expr *e) {
    Val o = jinja_eval(R, e->a), args[16];
    for (int k = 0; k < e->nargs && !R->V.failed; k++) args[k] = jinja_eval(R, e->args[k]);
    if (R->V.failed) return UNDEF;
    if (!strcmp(e->s, "get")) return dict_get(R, e, o, args);
    if (strcmp(e->s, "items")) return jinja_str_method(&R->V, e->s, o, args, e->nargs, e->pos);
    if (o.k != V_DICT || e->nargs) return fail(R, e->pos, "items() of %s is not supported (only of a dict)", KIND_NAME[o.k]);
    return jinja_items_of(R, o, e->pos);
}

Val jinja_eval(Render *R, const Expr *e) {
    if (R->V.failed) return UNDEF;
    switch (e->k) {
    case E_STR: return str_val(e->s, e->n);
    case E_INT: return int_val(V_INT, e->i);
    case E_BOOL: return int_val(V_BOOL, e->i);
    case E_NONE: return (Val){.k = V_NONE};
    case E_NAME: return lookup(R, e->s);
    case E_ATTR: return jinja_get_key(R, jinja_eval(R, e->a), e->s, strlen(e->s), true, e->pos);
    case E_INDEX: return eval_index(R, e);
    case E_SLICE: return eval_slice(R, e);
    case E_FILTER: case E_TEST: return jinja_eval_filter(R, e);
    case E_BIN: return eval_binary(R, e);
    case E_NOT: return int_val(V_BOOL, !jinja_truthy(jinja_eval(R, e->a)));
    case E_COND: return jinja_truthy(jinja_eval(R, e->a)) ? jinja_eval(R, e->b) : e->c ? jinja_eval(R, e->c) : UNDEF;
    case E_NAMESPACE: return eval_namespace(R, e);
    case E_NOW: return eval_now(R, e);
    case E_METHOD: return eval_method(R, e);
    case E_DICT: return eval_dict(R, e);
    case E_CALL: return call_macro(R, e);
    case E_BLOCK: return R->block;
    case E_LIST: {   /* [a, b] and (a, b) */
        Val *items = arena_alloc(&R->V.A, (size_t)(e->nargs + 1) * sizeof *items);
        for (int k = 0; k < e->nargs; k++) items[k] = jinja_eval(R, e->args[k]);
        Val list = jinja_list(items, e->nargs);
        list.tuple = e->op;
        return list;
    }
    case E_NEG: {
        Val v = jinja_eval(R, e->a);
        if (!R->V.failed && v.k != V_INT && v.k != V_BOOL) return fail(R, e->pos, "'-' of %s", KIND_NAME[v.k]);
        if (v.i == INT64_MIN) return fail(R, e->pos, "an integer past 64 bits");
        return int_val(V_INT, -v.i);
    }
    case E_RAISE: {
        Val v = jinja_as_str(R, jinja_eval(R, e->a), e->pos);
        if (R->V.failed) return UNDEF;
        if (v.n) snprintf(R->V.err, R->V.errlen, "%.*s", (int)(v.n > 400 ? 400 : v.n), v.s);
        else snprintf(R->V.err, R->V.errlen, "raise_exception without a message");   /* a failure says why */
        R->V.failed = R->V.raised = true;
        return UNDEF;
    }
    }
    return UNDEF;
}

/* ------------------------------------------------------------------ statements */


/* Binds a loop's item to its variable, or (for a, b in) its two values to the two. */
static bool bind_item(Render *R, const Stmt *s, Val item) {
    if (!s->name2) return assign(R, s->name, item), true;
    if (item.k != V_LIST || item.n || jinja_len(item) != 2) {
        fail(R, s->pos, "unpacking %s into two loop variables is not supported (only a pair, as items() gives)",
             KIND_NAME[item.k]);
        return false;
    }
    assign(R, s->name, jinja_item(item, 0));
    assign(R, s->name2, jinja_item(item, 1));
    return true;
}

/* The items of `for x in it if cond`: those for which cond is true with x bound (Jinja's loop then
 * counts these only). */
static Val loop_filter(Render *R, const Stmt *s, Val it) {
    int64_t n = jinja_len(it), kept = 0;
    Val *items = arena_alloc(&R->V.A, (size_t)(n + 1) * sizeof *items);
    for (int64_t k = 0; k < n && !R->V.failed; k++) {
        R->nvars = R->frame;
        if (bind_item(R, s, jinja_item(it, k)) && jinja_truthy(jinja_eval(R, s->cond))) items[kept++] = jinja_item(it, k);
    }
    return jinja_list(items, kept);
}

static void exec_for(Render *R, const Stmt *s) {
    Val it = jinja_eval(R, s->e);
    if (R->V.failed || !jinja_iterate(R, it, s->e->pos, &it)) return;
    int saved_n = R->nvars, saved_frame = R->frame, saved_top = R->top;
    if (R->top < 0) R->top = R->nvars;   /* the outermost loop: the top level ends here */
    R->frame = R->nvars;
    if (s->cond) it = loop_filter(R, s, it);
    Loop *loop = arena_alloc(&R->V.A, sizeof *loop);
    *loop = (Loop){.length = jinja_len(it), .items = it};
    for (loop->index0 = 0; loop->index0 < loop->length && !R->V.failed; loop->index0++) {
        R->nvars = R->frame;   /* each iteration starts from the loop's outside */
        if (!bind_item(R, s, jinja_item(it, loop->index0))) break;
        assign(R, "loop", (Val){.k = V_LOOP, .p = loop});
        exec(R, s->body);
        JStmtKind jump = R->jump;
        R->jump = S_TEXT;
        if (jump == S_BREAK) break;
    }
    R->nvars = saved_n;
    R->frame = saved_frame;
    R->top = saved_top;
}

/* A block set's body rendered as a string, in a frame of its own as Jinja renders it: what the body
 * sets stays inside, and a macro it calls reads the top level as it stands. */
static Val block_text(Render *R, const Stmt *body) {
    int saved_n = R->nvars, saved_frame = R->frame, saved_top = R->top;
    if (R->top < 0) R->top = R->nvars;
    R->frame = R->nvars;
    Val v = exec_to_text(R, body);
    R->nvars = saved_n, R->frame = saved_frame, R->top = saved_top;
    return v;
}

static void exec_set(Render *R, const Stmt *s) {
    Val v = s->e ? jinja_eval(R, s->e) : block_text(R, s->body);   /* a block set has no expression (an empty body) */
    if (R->V.failed) return;
    if (!s->attr) {
        assign(R, s->name, v);
        return;
    }
    Val o = lookup(R, s->name);
    if (o.k != V_NS) {
        fail(R, s->pos, "setting an attribute of %s is not supported (only of a namespace)", KIND_NAME[o.k]);
        return;
    }
    Ns *ns = (Ns *)o.p;
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

/* {% filter %}: the body's text (its own scope) through the filters, which must give a string
 * (jinja2 writes the value as it is); {% generation %}: the body's text. */
static void exec_filter_block(Render *R, const Stmt *s) {
    Val v = block_text(R, s->body), saved = R->block;
    if (s->e && !R->V.failed) {
        R->block = v;
        v = jinja_eval(R, s->e);
        R->block = saved;
        if (!R->V.failed && v.k != V_STR)
            fail(R, s->pos, "the {%% filter %%} block gives %s, which jinja2 cannot write (only a string)", KIND_NAME[v.k]);
    }
    if (!R->V.failed) buf_append(R->out, v.s, v.n);
}

static void exec(Render *R, const Stmt *s) {
    for (; s && !R->V.failed && R->jump == S_TEXT; s = s->next) {
        switch (s->k) {
        case S_TEXT: buf_append(R->out, s->s, s->n); break;
        case S_PRINT: {
            Val v = jinja_eval(R, s->e);
            if (!R->V.failed && !jinja_text(v, R->out)) fail(R, s->e->pos, "printing %s is not supported", KIND_NAME[v.k]);
            break;
        }
        case S_IF: exec(R, jinja_truthy(jinja_eval(R, s->e)) ? s->body : s->els); break;
        case S_FOR: exec_for(R, s); break;
        case S_SET: exec_set(R, s); break;
        case S_FILTER: exec_filter_block(R, s); break;
        case S_BREAK: case S_CONTINUE: R->jump = s->k; break;   /* the parser saw a loop around it */
        case S_MACRO:   /* defined from here on (a later one of the same name wins) */
            if (R->nmacros == R->capmacros) {
                R->capmacros = R->capmacros ? 2 * R->capmacros : 8;
                R->macros = xrealloc(R->macros, (size_t)R->capmacros * sizeof *R->macros);
            }
            R->macros[R->nmacros++] = s;
            break;
        }
    }
}

bool jinja_render(const JinjaTemplate *t, const JinjaContext *c, Buf *out, bool *raised, char *err, size_t errlen) {
    Render R = {.V = {.t = t, .c = c, .err = err, .errlen = errlen}, .out = out, .top = -1};
    Val *msgs = arena_alloc(&R.V.A, (size_t)(c->nmessages + 1) * sizeof *msgs);
    for (int i = 0; i < c->nmessages; i++) msgs[i] = int_val(V_MSG, i);
    R.messages = jinja_list(msgs, c->nmessages);
    R.V.owned = json_array();
    exec(&R, t->body);
    free(R.vars);
    free(R.macros);
    json_decref(R.V.owned);
    arena_free(&R.V.A);
    if (raised) *raised = R.V.raised;
    return !R.V.failed;
}
