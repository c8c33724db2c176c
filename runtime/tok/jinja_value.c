/* jinja_value.c — what a template's values do on their own (jinja_value.h): JSON read as Python's
 * json.loads gives it, Python's truth and ==, str() and json.dumps (transformers' tojson). */
#include "jinja_value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char *const JINJA_KIND_NAME[] = {"undefined", "none", "a boolean", "an integer", "a float", "a string", "a list",
                                       "a dict", "a message", "a namespace", "loop", "a function", "a macro"};
const Val JINJA_UNDEF = {V_UNDEF};

Val jinja_fail(ValCtx *R, size_t pos, const char *fmt, ...) {
    if (R->failed) return JINJA_UNDEF;
    va_list ap;
    va_start(ap, fmt);
    jinja_verror(R->t->src, pos, R->err, R->errlen, fmt, ap);
    va_end(ap);
    R->failed = true;
    return JINJA_UNDEF;
}

Val jinja_str(const char *s, size_t n) { return (Val){.k = V_STR, .s = s, .n = n}; }

Val jinja_take_text(ValCtx *R, Buf *b) {
    Val v = R->failed ? JINJA_UNDEF : jinja_str(arena_strndup(&R->A, b->data ? b->data : "", b->len), b->len);
    buf_free(b);
    return v;
}
Val jinja_int(ValKind k, int64_t i) { return (Val){.k = k, .i = i}; }
Val jinja_list(const Val *items, int64_t n) { return (Val){.k = V_LIST, .i = 0, .hi = n, .p = items}; }

Val jinja_from_json(ValCtx *R, const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return (Val){.k = V_DICT, .p = j};
    case JSON_STRING: return jinja_str(json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return jinja_int(V_INT, (int64_t)json_integer_value(j));
    case JSON_REAL: return (Val){.k = V_FLOAT, .f = json_real_value(j)};
    case JSON_TRUE: case JSON_FALSE: return jinja_int(V_BOOL, json_is_true(j));
    case JSON_NULL: return (Val){.k = V_NONE};
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        Val *items = arena_alloc(&R->A, (n + 1) * sizeof *items);
        for (size_t k = 0; k < n; k++) items[k] = jinja_from_json(R, json_array_get(j, k));
        return jinja_list(items, (int64_t)n);
    }
    }
    return JINJA_UNDEF;
}

Val jinja_msg_key(ValCtx *R, Val msg, const char *key, size_t n) {
    const ChatMessage *m = &R->c->messages[msg.i];
    if (n == 4 && !memcmp(key, "role", 4)) return jinja_str(m->role, strlen(m->role));
    if (n == 7 && !memcmp(key, "content", 7)) return jinja_str(m->content, m->len);
    const json_t *x = m->extra ? json_object_getn(m->extra, key, n) : NULL;
    return x ? jinja_from_json(R, x) : JINJA_UNDEF;
}

bool jinja_truthy(Val v) {
    switch (v.k) {
    case V_UNDEF: case V_NONE: return false;
    case V_BOOL: case V_INT: return v.i != 0;
    case V_FLOAT: return v.f != 0;
    case V_STR: return v.n > 0;
    case V_LIST: return v.n || v.hi > v.i;   /* a generator is true, as in Python */
    case V_DICT: return json_object_size(v.p) > 0;
    default: return true;
    }
}

static bool is_number(Val v) { return v.k == V_BOOL || v.k == V_INT || v.k == V_FLOAT; }
static double number(Val v) { return v.k == V_FLOAT ? v.f : (double)v.i; }

static bool dict_equal(ValCtx *R, const json_t *a, const json_t *b, size_t pos) {
    if (json_object_size(a) != json_object_size(b)) return false;
    const char *key;
    size_t klen;
    json_t *x;
    json_object_keylen_foreach((json_t *)a, key, klen, x) {
        const json_t *y = json_object_getn(b, key, klen);
        if (!y || !jinja_equal(R, jinja_from_json(R, x), jinja_from_json(R, y), pos)) return false;
    }
    return true;
}

bool jinja_equal(ValCtx *R, Val a, Val b, size_t pos) {
    if (is_number(a) && is_number(b))
        return a.k == V_FLOAT || b.k == V_FLOAT ? number(a) == number(b) : a.i == b.i;
    if ((a.k == V_MSG && b.k == V_DICT) || (a.k == V_DICT && b.k == V_MSG))
        return jinja_fail(R, pos, "comparing a message with a dict is not supported"), false;
    if (a.k != b.k) return false;
    switch (a.k) {
    case V_UNDEF: case V_NONE: return true;
    case V_STR: return a.n == b.n && !memcmp(a.s, b.s, a.n);
    case V_MSG: {
        const ChatMessage *x = &R->c->messages[a.i], *y = &R->c->messages[b.i];
        return !strcmp(x->role, y->role) && x->len == y->len && !memcmp(x->content, y->content, x->len) &&
               (x->extra && y->extra ? dict_equal(R, x->extra, y->extra, pos) : !x->extra == !y->extra);
    }
    case V_DICT: return dict_equal(R, a.p, b.p, pos);
    case V_LIST: {
        if (a.tuple != b.tuple) return false;
        if (a.n || b.n)   /* Python compares generators by identity */
            return jinja_fail(R, pos, "comparing a generator is not supported (selectattr's: add | list)"), false;
        if (jinja_len(a) != jinja_len(b)) return false;
        for (int64_t k = 0; k < jinja_len(a); k++)
            if (!jinja_equal(R, jinja_item(a, k), jinja_item(b, k), pos)) return false;
        return true;
    }
    default: return a.p == b.p;
    }
}

/* Python's repr() of a finite float: the shortest digits that read back the same, in exponent form
 * when the point falls outside [-4, 16) digits, else with a ".0" when whole. */
static void float_repr(double d, Buf *b) {
    if (!isfinite(d)) {
        buf_puts(b, isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, d);
        if (strtod(tmp, NULL) == d) break;
    }
    char digits[24];
    int nd = 0, exp10 = 0;
    const char *s = tmp;
    if (*s == '-') buf_puts(b, "-"), s++;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    if (*s == 'e') exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    int decpt = exp10 + 1;   /* the value is 0.DIGITS x 10^decpt */
    if (decpt <= -4 || decpt > 16) {
        buf_append(b, digits, 1);
        if (nd > 1) buf_puts(b, "."), buf_append(b, digits + 1, (size_t)nd - 1);
        buf_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (decpt <= 0) {
        buf_puts(b, "0.");
        for (int k = 0; k < -decpt; k++) buf_puts(b, "0");
        buf_append(b, digits, (size_t)nd);
    } else if (decpt >= nd) {
        buf_append(b, digits, (size_t)nd);
        for (int k = nd; k < decpt; k++) buf_puts(b, "0");
        buf_puts(b, ".0");
    } else {
        buf_append(b, digits, (size_t)decpt);
        buf_puts(b, ".");
        buf_append(b, digits + decpt, (size_t)(nd - decpt));
    }
}

/* Whether Python's str.isprintable() holds for a code point past ASCII: it is no control, format,
 * surrogate, private-use or unassigned one, nor a separator (utf8proc's Unicode; Python's own
 * version may have fewer code points assigned). */
static bool py_printable(utf8proc_int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k != UTF8PROC_CATEGORY_CC && k != UTF8PROC_CATEGORY_CF && k != UTF8PROC_CATEGORY_CS && k != UTF8PROC_CATEGORY_CO &&
           k != UTF8PROC_CATEGORY_CN && k != UTF8PROC_CATEGORY_ZL && k != UTF8PROC_CATEGORY_ZP && k != UTF8PROC_CATEGORY_ZS;
}

/* Python's repr() of a str: single quotes unless it holds one and no double quote; \\, the quote,
 * \t, \n, \r escaped, other controls and what is not printable as \x, \u or \U. false for bytes
 * that are not UTF-8. */
static bool repr_string(const char *s, size_t n, Buf *b) {
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    buf_append(b, &q, 1);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) return false;
        if (c == q || c == '\\') buf_printf(b, "\\%c", (char)c);
        else if (c == '\t' || c == '\n' || c == '\r') buf_puts(b, c == '\t' ? "\\t" : c == '\n' ? "\\n" : "\\r");
        else if (c < 0x20 || c == 0x7f || (c > 0x7f && c <= 0xff && !py_printable(c))) buf_printf(b, "\\x%02x", (unsigned)c);
        else if (c < 0x7f || py_printable(c)) buf_append(b, s + i, (size_t)k);
        else buf_printf(b, c <= 0xffff ? "\\u%04x" : "\\U%08x", (unsigned)c);
        i += (size_t)k;
    }
    buf_append(b, &q, 1);
    return true;
}

static bool repr_val(Val v, Buf *b);

/* Python's repr() of a JSON value read as json.loads reads it. */
static bool repr_json(const json_t *j, Buf *b) {
    const char *key;
    json_t *x;
    size_t i, k = 0;
    switch (json_typeof(j)) {
    case JSON_STRING: return repr_string(json_string_value(j), json_string_length(j), b);
    case JSON_INTEGER: return buf_printf(b, "%lld", (long long)json_integer_value(j)), true;
    case JSON_REAL: return float_repr(json_real_value(j), b), true;
    case JSON_TRUE: case JSON_FALSE: return buf_puts(b, json_is_true(j) ? "True" : "False"), true;
    case JSON_NULL: return buf_puts(b, "None"), true;
    case JSON_ARRAY:
        buf_puts(b, "[");
        json_array_foreach(j, i, x) if ((i && (buf_puts(b, ", "), false)) || !repr_json(x, b)) return false;
        return buf_puts(b, "]"), true;
    default:
        buf_puts(b, "{");
        json_object_foreach((json_t *)j, key, x) {
            if (k++) buf_puts(b, ", ");
            if (!repr_string(key, strlen(key), b)) return false;
            buf_puts(b, ": ");
            if (!repr_json(x, b)) return false;
        }
        return buf_puts(b, "}"), true;
    }
}

/* Python's repr() of an item of a list or tuple: a string quoted, a list, tuple or dict in brackets. */
static bool repr_val(Val v, Buf *b) {
    if (v.k == V_STR) return repr_string(v.s, v.n, b);
    if (v.k == V_DICT) return repr_json(v.p, b);
    if (v.k != V_LIST) return v.k != V_UNDEF && jinja_text(v, b);   /* Undefined's repr is not its text */
    if (v.n) return false;   /* a generator: Python prints where it lies in memory */
    buf_puts(b, v.tuple ? "(" : "[");
    for (int64_t k = 0; k < jinja_len(v); k++)
        if ((k && (buf_puts(b, ", "), false)) || !repr_val(jinja_item(v, k), b)) return false;
    return buf_puts(b, v.tuple ? (jinja_len(v) == 1 ? ",)" : ")") : "]"), true;
}

bool jinja_py_str(const json_t *j, Buf *b) {
    if (json_is_string(j)) return buf_append(b, json_string_value(j), json_string_length(j)), true;
    return repr_json(j, b);
}

bool jinja_text(Val v, Buf *b) {
    switch (v.k) {
    case V_UNDEF: return true;
    case V_NONE: return buf_puts(b, "None"), true;
    case V_BOOL: return buf_puts(b, v.i ? "True" : "False"), true;
    case V_INT: return buf_printf(b, "%lld", (long long)v.i), true;
    case V_FLOAT: return float_repr(v.f, b), true;
    case V_STR: return buf_append(b, v.s, v.n), true;
    case V_LIST: case V_DICT: return repr_val(v, b);   /* str() of a list or dict: its repr() */
    default: return false;
    }
}

/* A JSON string as json.dumps(ensure_ascii=False) writes it. */
static void dump_string(const char *s, size_t n, Buf *b) {
    buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                        : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (esc) buf_puts(b, esc);
        else if (c < 0x20) buf_printf(b, "\\u%04x", c);
        else buf_append(b, (const char *)&c, 1);
    }
    buf_puts(b, "\"");
}

/* The break before an item (or the closing bracket) at depth, as json.dumps(indent=) writes it. */
static void dump_break(int64_t indent, int depth, bool first, Buf *b) {
    if (!first) buf_puts(b, indent < 0 ? ", " : ",");
    if (indent < 0) return;
    buf_puts(b, "\n");
    for (int64_t k = 0; k < indent * depth; k++) buf_puts(b, " ");
}

static bool dump(ValCtx *R, Val v, int64_t indent, int depth, Buf *b, size_t pos);

static bool dump_pair(ValCtx *R, const char *key, size_t klen, Val v, int64_t indent, int depth, bool first, Buf *b,
                      size_t pos) {
    dump_break(indent, depth, first, b);
    dump_string(key, klen, b);
    buf_puts(b, ": ");
    return dump(R, v, indent, depth, b, pos);
}

static bool dump(ValCtx *R, Val v, int64_t indent, int depth, Buf *b, size_t pos) {
    switch (v.k) {
    case V_NONE: return buf_puts(b, "null"), true;
    case V_BOOL: return buf_puts(b, v.i ? "true" : "false"), true;
    case V_INT: case V_FLOAT: return jinja_text(v, b);
    case V_STR: return dump_string(v.s, v.n, b), true;
    case V_LIST: {
        if (v.n) return jinja_fail(R, pos, "tojson of a generator (selectattr's: add | list)"), false;
        buf_puts(b, "[");
        for (int64_t k = 0; k < jinja_len(v); k++) {
            dump_break(indent, depth + 1, k == 0, b);
            if (!dump(R, jinja_item(v, k), indent, depth + 1, b, pos)) return false;
        }
        if (jinja_len(v)) dump_break(indent, depth, true, b);
        return buf_puts(b, "]"), true;
    }
    case V_DICT: case V_MSG: {
        buf_puts(b, "{");
        bool first = true;
        if (v.k == V_MSG) {
            const ChatMessage *m = &R->c->messages[v.i];
            if (!dump_pair(R, "role", 4, jinja_str(m->role, strlen(m->role)), indent, depth + 1, true, b, pos) ||
                !dump_pair(R, "content", 7, jinja_str(m->content, m->len), indent, depth + 1, false, b, pos))
                return false;
            first = false;
        }
        const json_t *o = v.k == V_DICT ? v.p : R->c->messages[v.i].extra;
        const char *key;
        size_t klen;
        json_t *x;
        if (o) json_object_keylen_foreach((json_t *)o, key, klen, x) {
                if (!dump_pair(R, key, klen, jinja_from_json(R, x), indent, depth + 1, first, b, pos)) return false;
                first = false;
            }
        if (!first) dump_break(indent, depth, true, b);
        return buf_puts(b, "}"), true;
    }
    default: return jinja_fail(R, pos, "tojson of %s is not supported", JINJA_KIND_NAME[v.k]), false;
    }
}

bool jinja_dump(ValCtx *R, Val v, int64_t indent, Buf *b, size_t pos) { return dump(R, v, indent, 0, b, pos); }

json_t *jinja_to_json(ValCtx *R, Val v, size_t pos) {
    switch (v.k) {
    case V_NONE: return json_null();
    case V_BOOL: return json_boolean(v.i);
    case V_INT: return json_integer((json_int_t)v.i);
    case V_FLOAT: return json_real(v.f);
    case V_STR: return json_stringn(v.s, v.n);
    case V_DICT: return json_incref((json_t *)v.p);
    case V_LIST: {
        if (v.n) return jinja_fail(R, pos, "a generator in a dict literal (add | list)"), NULL;
        if (v.tuple)   /* JSON would make it a list, which Python prints and compares otherwise */
            return jinja_fail(R, pos, "a tuple in a dict literal is not supported"), NULL;
        json_t *a = json_array();
        for (int64_t k = 0; k < jinja_len(v); k++) {
            json_t *x = jinja_to_json(R, jinja_item(v, k), pos);
            if (!x) return json_decref(a), NULL;
            json_array_append_new(a, x);
        }
        return a;
    }
    default: return jinja_fail(R, pos, "%s in a dict literal is not supported", JINJA_KIND_NAME[v.k]), NULL;
    }
}

void jinja_json_text(const json_t *j, Buf *b) {
    JinjaTemplate none = {.src = ""};
    ValCtx R = {.t = &none};
    jinja_dump(&R, jinja_from_json(&R, j), -1, b, 0);   /* JSON has no value it cannot write */
    arena_free(&R.A);
}

/* ------------------------------------------------------------------ str's methods */

/* The code point at s[0, n) and its bytes in *len (1 for a stray byte). */
static int32_t code_point(const char *s, size_t n, size_t *len) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &c);
    *len = k > 0 ? (size_t)k : 1;
    return k > 0 ? c : -1;
}

/* Whether the code point c is one of chars[0, n). */
static bool among_chars(int32_t c, const char *chars, size_t n) {
    for (size_t i = 0, len; i < n; i += len)
        if (code_point(chars + i, n - i, &len) == c) return true;
    return false;
}

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

/* Python's str.upper() (or lower()) of s. ASCII letters are mapped; another character is kept where
 * Unicode gives it no case (utf8proc: assigned, not a cased letter, no mapping either way). A cased
 * character beyond ASCII is refused rather than guessed: Python maps some of them to several
 * characters (ß → SS) or by context (a final Σ), from tables of its own Unicode version. */
Val jinja_case(ValCtx *R, Val s, bool upper, size_t pos) {
    char *out = arena_alloc(&R->A, s.n + 1);
    for (size_t i = 0, len; i < s.n; i += len) {
        int32_t c = code_point(s.s + i, s.n - i, &len);
        memcpy(out + i, s.s + i, len);
        if (c >= 'a' && c <= 'z' && upper) out[i] = (char)(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'Z' && !upper) out[i] = (char)(c - 'A' + 'a');
        if (c < 0x80) continue;
        const utf8proc_property_t *p = utf8proc_get_property(c);
        if (p->category == UTF8PROC_CATEGORY_LU || p->category == UTF8PROC_CATEGORY_LL ||
            p->category == UTF8PROC_CATEGORY_LT || p->category == UTF8PROC_CATEGORY_CN ||
            utf8proc_toupper(c) != c || utf8proc_tolower(c) != c)
            return jinja_fail(R, pos, "%s() of a string holding '%.*s' is not supported (only of ASCII letters and "
                              "characters without case)", upper ? "upper" : "lower", (int)len, s.s + i);
    }
    out[s.n] = 0;
    return jinja_str(out, s.n);
}

/* The bytes of the character at s[0, n) when strip removes it (one of chars[0, nchars), or with
 * chars NULL Python's white space), else 0. */
static size_t stripped_len(const char *s, size_t n, const char *chars, size_t nchars) {
    size_t len;
    if (!chars) return jinja_space_len(s, n);
    return among_chars(code_point(s, n, &len), chars, nchars) ? len : 0;
}

/* s[*from, *to) without the characters strip removes at its left and/or right. */
static void strip_span(const char *s, size_t n, const char *chars, size_t nchars, bool left, bool right, size_t *from,
                       size_t *to) {
    size_t a = 0, b = n, w;
    while (left && a < b && (w = stripped_len(s + a, b - a, chars, nchars))) a += w;
    while (right && b > a) {   /* back to the start of the last character */
        size_t k = b - 1;
        while (k > a && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
        if (stripped_len(s + k, b - k, chars, nchars) != b - k) break;
        b = k;
    }
    *from = a;
    *to = b;
}

void jinja_strip(const char *s, size_t len, bool left, bool right, size_t *from, size_t *to) {
    strip_span(s, len, NULL, 0, left, right, from, to);
}

/* s without the code points of chars (none: Python's white space) at its left and/or right. */
static Val strip_chars(Val s, const Val *chars, bool left, bool right) {
    size_t a, b;
    bool space = !chars || chars->k == V_NONE;
    strip_span(s.s, s.n, space ? NULL : chars->s, space ? 0 : chars->n, left, right, &a, &b);
    return jinja_str(s.s + a, b - a);
}

/* A list of the n pieces [at[k], at[k] + len[k]) of s (the arena's). */
static Val pieces(ValCtx *R, const char *s, const size_t *at, const size_t *len, int64_t n) {
    Val *items = arena_alloc(&R->A, (size_t)(n + 1) * sizeof *items);
    for (int64_t k = 0; k < n; k++) items[k] = jinja_str(s + at[k], len[k]);
    return jinja_list(items, n);
}

/* Python's str.split(sep, maxsplit) (sep NULL: runs of white space, none at the ends). */
static Val split(ValCtx *R, Val s, const Val *sep, int64_t maxsplit) {
    size_t cap = s.n + 2, *at = xmalloc(cap * sizeof *at), *len = xmalloc(cap * sizeof *len), i = 0, w;
    int64_t n = 0;
    if (sep) {
        for (size_t from = 0;; ) {
            const char *hit = maxsplit < 0 || n < maxsplit ? memmem(s.s + from, s.n - from, sep->s, sep->n) : NULL;
            size_t end = hit ? (size_t)(hit - s.s) : s.n;
            at[n] = from, len[n++] = end - from;
            if (!hit) break;
            from = end + sep->n;
        }
    } else {
        while (i < s.n) {
            while (i < s.n && (w = jinja_space_len(s.s + i, s.n - i))) i += w;
            if (i == s.n) break;
            size_t start = i;
            if (maxsplit >= 0 && n == maxsplit) {   /* the rest, its trailing white space kept */
                at[n] = start, len[n++] = s.n - start;
                break;
            }
            while (i < s.n && !jinja_space_len(s.s + i, s.n - i)) {
                code_point(s.s + i, s.n - i, &w);
                i += w;
            }
            at[n] = start, len[n++] = i - start;
        }
    }
    Val out = pieces(R, s.s, at, len, n);
    free(at);
    free(len);
    return out;
}

/* Python's str.replace(old, new, count): an empty old goes before every code point and at the end. */
static Val replace(ValCtx *R, Val s, Val old, Val new, int64_t count) {
    Buf b = {0};
    size_t i = 0, len;
    for (int64_t done = 0; i <= s.n && (count < 0 || done < count); done++) {
        const char *hit = old.n ? memmem(s.s + i, s.n - i, old.s, old.n) : s.s + i;
        if (!hit) break;
        buf_append(&b, s.s + i, (size_t)(hit - (s.s + i)));
        buf_append(&b, new.s, new.n);
        i = (size_t)(hit - s.s) + old.n;
        if (!old.n) {   /* past the code point the empty match stood before */
            if (i == s.n) { i++; break; }
            code_point(s.s + i, s.n - i, &len);
            buf_append(&b, s.s + i, len);
            i += len;
        }
    }
    if (i < s.n) buf_append(&b, s.s + i, s.n - i);
    Val out = jinja_str(arena_strndup(&R->A, b.data ? b.data : "", b.len), b.len);
    buf_free(&b);
    return out;
}

/* The string argument k of a method (none: when allowed), or a failure. */
static bool str_argument(ValCtx *R, const char *name, const Val *args, int nargs, int k, bool none_ok, size_t pos) {
    if (k >= nargs) return true;
    if (args[k].k == V_STR || (none_ok && args[k].k == V_NONE)) return true;
    jinja_fail(R, pos, "%s()'s argument %d must be a string%s", name, k + 1, none_ok ? " or none" : "");
    return false;
}

Val jinja_str_method(ValCtx *R, const char *name, Val s, const Val *args, int nargs, size_t pos) {
    if (s.k == V_STR && (!strcmp(name, "upper") || !strcmp(name, "lower")))
        return nargs ? jinja_fail(R, pos, "%s() takes no arguments", name) : jinja_case(R, s, name[0] == 'u', pos);
    bool strip = strstr(name, "strip") != NULL, starts = !strcmp(name, "startswith"), ends = !strcmp(name, "endswith");
    int most = strip ? 1 : starts || ends ? 1 : !strcmp(name, "split") ? 2 : 3;
    if (s.k != V_STR) return jinja_fail(R, pos, "%s() of %s is not supported", name, JINJA_KIND_NAME[s.k]);
    if (nargs > most || ((starts || ends || !strcmp(name, "replace")) && nargs < (starts || ends ? 1 : 2)))
        return jinja_fail(R, pos, "%s() with %d arguments is not supported", name, nargs);
    if (!str_argument(R, name, args, nargs, 0, strip || !strcmp(name, "split"), pos) ||
        (strcmp(name, "split") && !str_argument(R, name, args, nargs, 1, false, pos)))
        return JINJA_UNDEF;
    if (strip) return strip_chars(s, nargs ? &args[0] : NULL, name[0] != 'r', name[0] != 'l');
    if (starts) return jinja_int(V_BOOL, args[0].n <= s.n && !memcmp(s.s, args[0].s, args[0].n));
    if (ends) return jinja_int(V_BOOL, args[0].n <= s.n && !memcmp(s.s + s.n - args[0].n, args[0].s, args[0].n));
    int limit = !strcmp(name, "split") ? 1 : 2;   /* the count's argument */
    if (nargs > limit && args[limit].k != V_INT && args[limit].k != V_BOOL)
        return jinja_fail(R, pos, "%s()'s argument %d must be an integer", name, limit + 1);
    int64_t count = nargs > limit ? args[limit].i : -1;
    if (!strcmp(name, "replace")) return replace(R, s, args[0], args[1], count);
    const Val *sep = nargs && args[0].k == V_STR ? &args[0] : NULL;
    if (sep && !sep->n) return jinja_fail(R, pos, "split() with an empty separator (Python's ValueError)");
    return split(R, s, sep, count);
}
