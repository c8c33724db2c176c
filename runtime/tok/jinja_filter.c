/* jinja_filter.c — the filters of a render (jinja.c): trim, string, tojson, items, dictsort, join,
 * length, default, map, upper, lower, selectattr/rejectattr and select/reject, with Jinja's
 * semantics (jinja.h). */
#include "jinja_render.h"

#include <stdlib.h>
#include <string.h>

/* The string argument k of filter e, or NULL when it is absent or not a string. */
static const char *str_arg(Render *R, const Expr *e, int k, size_t *n) {
    if (k >= e->nargs || e->keys[k]) return NULL;
    Val v = jinja_eval(R, e->args[k]);
    *n = v.n;
    return v.k == V_STR ? v.s : NULL;
}

/* The name of filter e's argument k: its keyword, else the next of the n positional names params
 * (*at counts the positional arguments so far; "" past the names). */
static const char *arg_name(const Expr *e, int k, int *at, const char *const *params, int n) {
    if (e->keys[k]) return e->keys[k];
    return (*at)++ < n ? params[*at - 1] : "";
}

/* selectattr / rejectattr(attr[, test[, value]]) and select / reject([test[, value]]) of a list:
 * a generator. */
static Val select_items(Render *R, const Expr *e, Val v) {
    bool attr = !strcmp(e->s, "selectattr") || !strcmp(e->s, "rejectattr"), keep = !strcmp(e->s, "selectattr") ||
                                                                                      !strcmp(e->s, "select");
    int t = attr;   /* the test's argument */
    size_t an = 0, tn = 0;
    const char *name = attr ? str_arg(R, e, 0, &an) : "", *test = e->nargs > t ? str_arg(R, e, t, &tn) : "";
    if (R->V.failed) return UNDEF;
    if (!jinja_truthy(v)) return v = jinja_list(NULL, 0), v.n = 1, v;   /* jinja2's: nothing of a false value */
    if (!name || !test || e->nargs > t + 2 || (v.k != V_LIST && v.k != V_UNDEF))
        return fail(R, e->pos, "%s of %s with these arguments is not supported", e->s, KIND_NAME[v.k]);
    bool eq = !strcmp(test, "equalto") || !strcmp(test, "eq") || !strcmp(test, "=="), known = !*test;
    for (int i = 0; JINJA_TESTS[i]; i++) known |= !strcmp(JINJA_TESTS[i], test);
    if (eq ? e->nargs != t + 2 : !known || e->nargs > t + 1)
        return fail(R, e->pos, "%s with the test '%.40s' and %d arguments is not supported", e->s, test, e->nargs);
    Val want = eq ? jinja_eval(R, e->args[t + 1]) : UNDEF;
    int64_t n = v.k == V_LIST ? jinja_len(v) : 0, kept = 0;
    Val *items = arena_alloc(&R->V.A, (size_t)(n + 1) * sizeof *items);
    for (int64_t k = 0; k < n && !R->V.failed; k++) {
        Val x = attr ? jinja_get_key(R, jinja_item(v, k), name, an, true, e->pos) : jinja_item(v, k);
        bool hit = eq ? jinja_equal_at(R, x, want, e->pos) : *test ? jinja_test_is(test, x) : jinja_truthy(x);
        if (hit == keep) items[kept++] = jinja_item(v, k);
    }
    Val out = jinja_list(items, kept);
    out.n = 1;
    return out;
}

/* v as transformers' tojson writes it: Python's json.dumps(v, ensure_ascii=False, indent=N); its
 * ensure_ascii and sort_keys may be given at their defaults (false). */
static Val to_json(Render *R, const Expr *e, Val v) {
    int64_t indent = -1;
    for (int k = 0; k < e->nargs; k++) {
        const char *key = e->keys[k] ? e->keys[k] : "";
        Val a = jinja_eval(R, e->args[k]);
        if (R->V.failed) return UNDEF;
        if ((!strcmp(key, "ensure_ascii") || !strcmp(key, "sort_keys")) && (a.k == V_BOOL || a.k == V_INT || a.k == V_NONE) &&
            !jinja_truthy(a))
            continue;
        if (strcmp(key, "indent") || (a.k != V_INT && a.k != V_NONE) || (a.k == V_INT && (a.i < 0 || a.i > 64)))
            return fail(R, e->pos, "tojson takes only indent (an integer in [0, 64] or none), and ensure_ascii and "
                        "sort_keys false");
        if (a.k == V_INT) indent = a.i;
    }
    Buf b = {0};
    jinja_dump(&R->V, v, indent, &b, e->pos);   /* a failure: undefined */
    return jinja_take_text(&R->V, &b);
}

/* d | items and d.items(): a list of [key, value] pairs (none for undefined, as Jinja's filter). */
Val jinja_items_of(Render *R, Val d, size_t pos) {
    if (d.k == V_UNDEF) return jinja_list(NULL, 0);
    if (d.k != V_DICT) return fail(R, pos, "items of %s is not supported (only of a dict)", KIND_NAME[d.k]);
    size_t n = json_object_size(d.p), k = 0, klen;
    Val *pairs = arena_alloc(&R->V.A, (n + 1) * sizeof *pairs);
    const char *key;
    json_t *x;
    json_object_keylen_foreach((json_t *)d.p, key, klen, x) {
        Val *kv = arena_alloc(&R->V.A, 2 * sizeof *kv);
        kv[0] = str_val(key, klen);
        kv[1] = jinja_from_json(&R->V, x);
        pairs[k++] = jinja_list(kv, 2);
    }
    return jinja_list(pairs, (int64_t)n);
}

/* A dictsort pair: its key as compared, and where it stands in the dict. */
typedef struct {
    Val key;
    size_t at;
    bool reverse;
} SortKey;

/* Python's sorted() order of str keys (code points: UTF-8's byte order), equal keys in the dict's
 * order also when reversed. */
static int sort_key_cmp(const void *pa, const void *pb) {
    const SortKey *a = pa, *b = pb;
    int c = memcmp(a->key.s, b->key.s, a->key.n < b->key.n ? a->key.n : b->key.n);
    if (!c) c = (a->key.n > b->key.n) - (a->key.n < b->key.n);
    if (a->reverse) c = -c;
    return c ? c : (a->at > b->at) - (a->at < b->at);
}

/* d | dictsort(case_sensitive=false, by='key', reverse=false): d's (key, value) pairs sorted by key,
 * lower-cased unless case_sensitive (Jinja's; by='value' is refused). */
static Val dictsort(Render *R, const Expr *e, Val d) {
    bool case_sensitive = false, reverse = false;
    static const char *const PARAMS[] = {"case_sensitive", "by", "reverse"};
    for (int k = 0, at = 0; k < e->nargs && !R->V.failed; k++) {
        const char *key = arg_name(e, k, &at, PARAMS, 3);
        Val a = jinja_eval(R, e->args[k]);
        if (!strcmp(key, "case_sensitive")) case_sensitive = jinja_truthy(a);
        else if (!strcmp(key, "reverse")) reverse = jinja_truthy(a);
        else if (strcmp(key, "by") || a.k != V_STR || a.n != 3 || memcmp(a.s, "key", 3))
            return fail(R, e->pos, "dictsort takes case_sensitive, by='key' and reverse only");
    }
    if (R->V.failed) return UNDEF;
    if (d.k != V_DICT) return fail(R, e->pos, "dictsort of %s is not supported (only of a dict)", KIND_NAME[d.k]);
    Val pairs = jinja_items_of(R, d, e->pos);
    int64_t n = jinja_len(pairs);
    SortKey *keys = arena_alloc(&R->V.A, (size_t)(n + 1) * sizeof *keys);
    for (int64_t k = 0; k < n && !R->V.failed; k++) {
        Val key = jinja_item(jinja_item(pairs, k), 0);
        keys[k] = (SortKey){case_sensitive ? key : jinja_case(&R->V, key, false, e->pos), (size_t)k, reverse};
    }
    if (R->V.failed) return UNDEF;
    qsort(keys, (size_t)n, sizeof *keys, sort_key_cmp);
    Val *sorted = arena_alloc(&R->V.A, (size_t)(n + 1) * sizeof *sorted);
    for (int64_t k = 0; k < n; k++) {
        sorted[k] = jinja_item(pairs, (int64_t)keys[k].at);
        sorted[k].tuple = true;
    }
    return jinja_list(sorted, n);
}

/* value | upper and | lower: str(value) upper- or lower-cased. */
static Val case_of(Render *R, Val v, bool upper, size_t pos) {
    v = jinja_as_str(R, v, pos);
    return R->V.failed ? UNDEF : jinja_case(&R->V, v, upper, pos);
}

/* "fmt" | format(a, b, ...): Python's str(fmt) % (a, b, ...) with the conversions %s (str()), %d (an
 * integer or a boolean) and %%; others, flags and widths refused. */
static Val format_of(Render *R, const Expr *e, Val v) {
    v = jinja_as_str(R, v, e->pos);
    Buf b = {0};
    int next = 0;
    for (size_t i = 0; i < v.n && !R->V.failed; i++) {
        if (v.s[i] != '%') {
            buf_append(&b, &v.s[i], 1);
            continue;
        }
        char c = ++i < v.n ? v.s[i] : 0;
        Val a = c == 's' || c == 'd' ? (next < e->nargs && !e->keys[next] ? jinja_eval(R, e->args[next]) : UNDEF) : UNDEF;
        next += c == 's' || c == 'd';
        if (c == '%') buf_append(&b, "%", 1);
        else if (c != 's' && c != 'd') fail(R, e->pos, "format with '%%%c' is not supported (only %%s, %%d and %%%%)", c ? c : ' ');
        else if (next > e->nargs || e->keys[next - 1]) fail(R, e->pos, "format: not enough arguments for the format string");
        else if (c == 'd' && a.k != V_INT && a.k != V_BOOL) fail(R, e->pos, "format's %%d of %s is not supported", KIND_NAME[a.k]);
        else if (c == 'd') buf_printf(&b, "%lld", (long long)a.i);
        else if (!R->V.failed && !jinja_text(a, &b)) fail(R, e->pos, "format's %%s of %s is not supported", KIND_NAME[a.k]);
    }
    if (!R->V.failed && next < e->nargs) fail(R, e->pos, "format: not all arguments converted");
    return jinja_take_text(&R->V, &b);
}

/* list | join(sep): the items' str() between seps. */
static Val join(Render *R, const Expr *e, Val v) {
    size_t sn = 0;
    const char *sep = e->nargs ? str_arg(R, e, 0, &sn) : "";
    if (R->V.failed) return UNDEF;
    if (!sep || e->nargs > 1) return fail(R, e->pos, "join takes only a separator string");
    Val list;
    if (!jinja_iterate(R, v, e->pos, &list)) return UNDEF;
    Buf b = {0};
    for (int64_t k = 0; k < jinja_len(list); k++) {
        if (k) buf_append(&b, sep, sn);
        if (!jinja_text(jinja_item(list, k), &b)) {
            buf_free(&b);
            return fail(R, e->pos, "join of %s is not supported", KIND_NAME[jinja_item(list, k).k]);
        }
    }
    return jinja_take_text(&R->V, &b);
}

static Val length(Render *R, const Expr *e, Val v) {
    if (v.k == V_STR) return int_val(V_INT, utf8_chars(v.s, v.n));
    if (v.k == V_LIST && !v.n) return int_val(V_INT, jinja_len(v));
    if (v.k == V_DICT) return int_val(V_INT, (int64_t)json_object_size(v.p));
    if (v.k == V_UNDEF) return int_val(V_INT, 0);
    return fail(R, e->pos, "the length of %s is not supported", v.n ? "a generator" : KIND_NAME[v.k]);
}

/* value | default(default_value='', boolean=false) (and | d): the default for an undefined value,
 * or with boolean for any false one. */
static Val default_of(Render *R, const Expr *e, Val v) {
    Val dflt = str_val("", 0);
    bool boolean = false;
    static const char *const PARAMS[] = {"default_value", "boolean"};
    for (int k = 0, at = 0; k < e->nargs && !R->V.failed; k++) {
        const char *key = arg_name(e, k, &at, PARAMS, 2);
        Val a = jinja_eval(R, e->args[k]);
        if (!strcmp(key, "default_value")) dflt = a;
        else if (!strcmp(key, "boolean")) boolean = jinja_truthy(a);
        else return fail(R, e->pos, "default takes default_value and boolean only");
    }
    return v.k == V_UNDEF || (boolean && !jinja_truthy(v)) ? dflt : v;
}

/* One item of | map: its attribute path (parts split at '.', a number an index) or the filter
 * named (string, trim, length, tojson). */
static Val map_one(Render *R, const Expr *e, Val x, const char *path, size_t n, bool filter, Val dflt) {
    if (filter) {
        if (!strncmp(path, "string", n) && n == 6) return jinja_as_str(R, x, e->pos);
        if (!strncmp(path, "trim", n) && n == 4) return jinja_strip_val(R, x, e->pos);
        if (!strncmp(path, "length", n) && n == 6) return length(R, e, x);
        if ((!strncmp(path, "upper", n) || !strncmp(path, "lower", n)) && n == 5) return case_of(R, x, path[0] == 'u', e->pos);
        Buf b = {0};   /* tojson */
        jinja_dump(&R->V, x, -1, &b, e->pos);
        return jinja_take_text(&R->V, &b);
    }
    for (size_t a = 0, z; a <= n && !R->V.failed; a = z + 1) {
        for (z = a; z < n && path[z] != '.'; z++) {}
        bool index = z > a && strspn(path + a, "0123456789") >= z - a;
        if (index && x.k == V_LIST && !x.n) {
            int64_t i = strtoll(path + a, NULL, 10);
            x = i < jinja_len(x) ? jinja_item(x, i) : UNDEF;
        } else {
            x = jinja_get_key(R, x, path + a, z - a, false, e->pos);
        }
    }
    return x.k == V_UNDEF && dflt.k != V_UNDEF ? dflt : x;
}

/* list | map(attribute='a.b'[, default=x]) or | map('filter'): a generator of each item's. */
static Val map_items(Render *R, const Expr *e, Val v) {
    Val dflt = UNDEF, name = UNDEF;
    bool filter = false;
    for (int k = 0; k < e->nargs && !R->V.failed; k++) {
        Val a = jinja_eval(R, e->args[k]);
        if (!e->keys[k] && k == 0 && a.k == V_STR) name = a, filter = true;
        else if (e->keys[k] && !strcmp(e->keys[k], "attribute") && a.k == V_STR) name = a;
        else if (e->keys[k] && !strcmp(e->keys[k], "default")) dflt = a;
        else return fail(R, e->pos, "map takes attribute= (and default=) or the name of a filter only");
    }
    static const char *const FILTERS[] = {"string", "trim", "length", "tojson", "upper", "lower", NULL};
    bool known = !filter;
    for (int i = 0; filter && FILTERS[i]; i++) known |= name.n == strlen(FILTERS[i]) && !memcmp(name.s, FILTERS[i], name.n);
    if (R->V.failed || name.k != V_STR || !known || (filter && e->nargs > 1))
        return R->V.failed ? UNDEF : fail(R, e->pos, "map with these arguments is not supported (attribute=, default=, or "
                                                     "one of the filters string, trim, length, tojson, upper and lower)");
    Val list;
    if (!jinja_iterate(R, v, e->pos, &list)) return UNDEF;
    Val *items = arena_alloc(&R->V.A, (size_t)(jinja_len(list) + 1) * sizeof *items);
    for (int64_t k = 0; k < jinja_len(list) && !R->V.failed; k++)
        items[k] = map_one(R, e, jinja_item(list, k), name.s, name.n, filter, dflt);
    Val out = jinja_list(items, jinja_len(list));
    out.n = 1;
    return out;
}

/* s | replace(old, new, count=None): jinja2's without autoescape, Python's str(s).replace(str(old),
 * str(new), count). */
static Val replace_of(Render *R, const Expr *e, Val v) {
    static const char *const PARAMS[] = {"old", "new", "count"};
    Val args[3] = {UNDEF, UNDEF, UNDEF};
    for (int k = 0, at = 0; k < e->nargs && !R->V.failed; k++) {
        const char *key = arg_name(e, k, &at, PARAMS, 3);
        int i = !strcmp(key, "old") ? 0 : !strcmp(key, "new") ? 1 : !strcmp(key, "count") ? 2 : -1;
        if (i < 0 || args[i].k != V_UNDEF) return fail(R, e->pos, "replace takes old, new and count once each");
        args[i] = jinja_eval(R, e->args[k]);
        if (i < 2) args[i] = jinja_as_str(R, args[i], e->pos);
    }
    if (R->V.failed) return UNDEF;
    if (args[0].k == V_UNDEF || args[1].k == V_UNDEF) return fail(R, e->pos, "replace needs old and new");
    int n = args[2].k == V_UNDEF || args[2].k == V_NONE ? 2 : 3;   /* count None: all */
    Val s = jinja_as_str(R, v, e->pos);
    return R->V.failed ? UNDEF : jinja_str_method(&R->V, "replace", s, args, n, e->pos);
}

/* seq | first and seq | last: a list's item (not a generator's last: jinja2 cannot reverse it), a
 * string's character, a dict's key; undefined when there is none. */
static Val end_item(Render *R, const Expr *e, Val v, bool last) {
    if (e->nargs) return fail(R, e->pos, "%s takes no arguments", e->s);
    if (v.k == V_STR && !v.n) return UNDEF;
    if (v.k == V_STR) {   /* the first or the last code point */
        size_t at = last ? v.n - 1 : 0, end = last ? v.n : 1;
        while (last && at > 0 && ((unsigned char)v.s[at] & 0xC0) == 0x80) at--;
        while (!last && end < v.n && ((unsigned char)v.s[end] & 0xC0) == 0x80) end++;
        return str_val(v.s + at, end - at);
    }
    if (v.k == V_LIST && v.n && last) return fail(R, e->pos, "last of a generator is not supported (jinja2 cannot reverse it)");
    if (v.k != V_LIST && v.k != V_DICT && v.k != V_UNDEF)
        return fail(R, e->pos, "%s of %s is not supported", e->s, KIND_NAME[v.k]);
    Val list;
    if (!jinja_iterate(R, v, e->pos, &list)) return UNDEF;
    int64_t n = jinja_len(list);
    return n ? jinja_item(list, last ? n - 1 : 0) : UNDEF;
}

/* seq | unique(case_sensitive=false, attribute=none): a generator of the items whose key (the item,
 * or its attribute path; a string lower-cased unless case_sensitive) no item before had, by Python's
 * ==. Keys Python cannot hash (lists, dicts) are refused, as jinja2 fails on them. */
static Val unique_items(Render *R, const Expr *e, Val v) {
    static const char *const PARAMS[] = {"case_sensitive", "attribute"};
    bool case_sensitive = false;
    Val attr = {.k = V_NONE};
    for (int k = 0, at = 0; k < e->nargs && !R->V.failed; k++) {
        const char *key = arg_name(e, k, &at, PARAMS, 2);
        Val a = jinja_eval(R, e->args[k]);
        if (!strcmp(key, "case_sensitive")) case_sensitive = jinja_truthy(a);
        else if (!strcmp(key, "attribute") && (a.k == V_STR || a.k == V_NONE)) attr = a;
        else return fail(R, e->pos, "unique takes case_sensitive and attribute (a string) only");
    }
    Val list;
    if (R->V.failed || !jinja_iterate(R, v, e->pos, &list)) return UNDEF;
    int64_t n = jinja_len(list), kept = 0;
    Val *items = arena_alloc(&R->V.A, (size_t)(n + 1) * sizeof *items), *keys = arena_alloc(&R->V.A, (size_t)(n + 1) * sizeof *keys);
    for (int64_t k = 0; k < n && !R->V.failed; k++) {
        Val x = jinja_item(list, k);
        Val key = attr.k == V_STR ? map_one(R, e, x, attr.s, attr.n, false, UNDEF) : x;
        if (key.k == V_STR && !case_sensitive) key = jinja_case(&R->V, key, false, e->pos);
        if (key.k == V_LIST || key.k == V_DICT || key.k == V_MSG || key.k == V_NS)
            return fail(R, e->pos, "unique of items whose key is %s is not supported (Python cannot hash it)", KIND_NAME[key.k]);
        bool seen = false;
        for (int64_t j = 0; j < kept && !seen && !R->V.failed; j++) seen = jinja_equal_at(R, keys[j], key, e->pos);
        if (!seen) keys[kept] = key, items[kept++] = x;
    }
    Val out = jinja_list(items, kept);
    out.n = 1;
    return out;
}

/* The length of the line break at s[i, n) as Python's str.splitlines() finds them, or 0. */
static size_t line_break(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\r') return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
    if (c == '\n' || c == '\v' || c == '\f' || (c >= 0x1C && c <= 0x1E)) return 1;
    if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85) return 2;   /* U+0085 */
    if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 && ((unsigned char)s[i + 2] & 0xFE) == 0xA8)
        return 3;   /* U+2028, U+2029 */
    return 0;
}

/* s | indent(width=4, first=false, blank=false): jinja2's, whose lines are Python's splitlines() of
 * s + "\n" joined by "\n", each but the first (and with first, that too) after the indent, blank
 * ones too only with blank. width is a number of spaces or the indent's string. */
static Val indent_of(Render *R, const Expr *e, Val v) {
    static const char *const PARAMS[] = {"width", "first", "blank"};
    Val width = int_val(V_INT, 4);
    bool first = false, blank = false;
    for (int k = 0, at = 0; k < e->nargs && !R->V.failed; k++) {
        const char *key = arg_name(e, k, &at, PARAMS, 3);
        Val a = jinja_eval(R, e->args[k]);
        if (!strcmp(key, "width") && (a.k == V_INT || a.k == V_BOOL || a.k == V_STR) && (a.k != V_INT || a.i <= 1024)) width = a;
        else if (!strcmp(key, "first")) first = jinja_truthy(a);
        else if (!strcmp(key, "blank")) blank = jinja_truthy(a);
        else return fail(R, e->pos, "indent takes width (spaces up to 1024, or a string), first and blank only");
    }
    if (R->V.failed) return UNDEF;
    if (v.k != V_STR) return fail(R, e->pos, "indent of %s is not supported (only of a string)", KIND_NAME[v.k]);
    Buf ind = {0}, b = {0};
    if (width.k == V_STR) buf_append(&ind, width.s, width.n);
    for (int64_t k = 0; width.k != V_STR && k < width.i; k++) buf_append(&ind, " ", 1);
    if (first) buf_append(&b, ind.data, ind.len);
    for (size_t i = 0, line = 0;; line++) {   /* each line of v + "\n" */
        size_t end = i, w = 0;
        while (end < v.n && !(w = line_break(v.s, v.n, end))) end++;
        if (line) buf_append(&b, "\n", 1);
        if (line && (blank || end > i)) buf_append(&b, ind.data, ind.len);
        buf_append(&b, v.s + i, end - i);
        if (end == v.n || (w == 1 && v.s[end] == '\r' && end + 1 == v.n)) break;   /* "\r" + the "\n" added: one break */
        i = end + w;
    }
    buf_free(&ind);
    return jinja_take_text(&R->V, &b);
}

Val jinja_eval_filter(Render *R, const Expr *e) {
    Val v = jinja_eval(R, e->a);
    if (R->V.failed) return UNDEF;
    if (e->k == E_TEST) return int_val(V_BOOL, jinja_test_is(e->s, v) != (e->op != 0));
    if (!strcmp(e->s, "trim")) return jinja_strip_val(R, v, e->pos);
    if (!strcmp(e->s, "string")) return jinja_as_str(R, v, e->pos);
    if (!strcmp(e->s, "safe")) {   /* a Markup, where printed, joined by ~ or added to (the parser's check) */
        Val m = jinja_as_str(R, v, e->pos);
        m.markup = !R->V.failed;
        return m;
    }
    if (!strcmp(e->s, "tojson")) return to_json(R, e, v);
    if (!strcmp(e->s, "items")) return jinja_items_of(R, v, e->pos);
    if (!strcmp(e->s, "join")) return join(R, e, v);
    if (!strcmp(e->s, "length")) return length(R, e, v);
    if (!strcmp(e->s, "default") || !strcmp(e->s, "d")) return default_of(R, e, v);
    if (!strcmp(e->s, "map")) return map_items(R, e, v);
    if (!strcmp(e->s, "upper") || !strcmp(e->s, "lower"))
        return e->nargs ? fail(R, e->pos, "%s takes no arguments", e->s) : case_of(R, v, e->s[0] == 'u', e->pos);
    if (!strcmp(e->s, "dictsort")) return dictsort(R, e, v);
    if (!strcmp(e->s, "format")) return format_of(R, e, v);
    if (!strcmp(e->s, "replace")) return replace_of(R, e, v);
    if (!strcmp(e->s, "first") || !strcmp(e->s, "last")) return end_item(R, e, v, e->s[0] == 'l');
    if (!strcmp(e->s, "unique")) return unique_items(R, e, v);
    if (!strcmp(e->s, "indent")) return indent_of(R, e, v);
    if (strstr(e->s, "select") || strstr(e->s, "reject")) return select_items(R, e, v);
    Val list;   /* list */
    if (v.k == V_STR) return fail(R, e->pos, "the filter 'list' of a string is not supported");
    if (!jinja_iterate(R, v, e->pos, &list)) return UNDEF;
    return list.n = 0, list;
}

