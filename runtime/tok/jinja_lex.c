/* jinja_lex.c — the template's text cut into Jinja's tokens, with Jinja's white-space control as
 * transformers sets it up: trim_blocks (a block's first newline after it dropped), lstrip_blocks
 * (spaces from a line's start to a block dropped), keep_trailing_newline off (jinja_ast.h). */
#include "jinja_ast.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <utf8proc.h>

/* The position after the white space at s[i...]. */
static size_t skip_space(const char *s, size_t len, size_t i) {
    size_t w;
    while (i < len && (w = jinja_space_len(s + i, len - i))) i += w;
    return i;
}

void jinja_verror(const char *src, size_t pos, char *err, size_t errlen, const char *fmt, va_list ap) {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && src[i]; i++) {
        if (src[i] == '\n') line++, col = 1;
        else if (((unsigned char)src[i] & 0xC0) != 0x80) col++;
    }
    int k = snprintf(err, errlen, "%d:%d: ", line, col);
    if (k >= 0 && (size_t)k < errlen) vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
}

void jinja_error_at(const char *src, size_t pos, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    jinja_verror(src, pos, err, errlen, fmt, ap);
    va_end(ap);
}

void jinja_name_list(char *buf, size_t n, const char *const *list, const char *suffix) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; list[i] && used < n; i++) {
        const char *sep = i == 0 ? "" : list[i + 1] ? ", " : " and ";
        int k = snprintf(buf + used, n - used, "%s%s%s", sep, list[i], suffix);
        if (k < 0) break;
        used += (size_t)k;
    }
}

void lex_fail(Lex *L, size_t pos, const char *fmt, ...) {
    if (L->failed) return;
    va_list ap;
    va_start(ap, fmt);
    jinja_verror(L->src, pos, L->err, L->errlen, fmt, ap);
    va_end(ap);
    L->failed = true;
}

static Tok *push(Lex *L, TokKind k, size_t pos, const char *s, size_t n) {
    if (L->nt == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 64;
        L->t = xrealloc(L->t, (size_t)L->cap * sizeof *L->t);
    }
    Tok *t = &L->t[L->nt++];
    *t = (Tok){.k = k, .s = s, .n = n, .pos = pos};
    return t;
}

/* The value of the hex digits at s[i, i + n), or -1 when one is not. */
static int64_t hex_digits(const char *s, size_t len, size_t i, int n) {
    int64_t v = 0;
    for (int k = 0; k < n; k++) {
        char c = i + k < len ? s[i + k] : 0;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The escape at src[i] (after its backslash) as jinja2 decodes it (the literal encoded to ASCII with
 * backslashreplace, then Python's unicode-escape codec) appended to v; the position of its last
 * character, or 0 with a failure. */
static size_t lex_escape(Lex *L, size_t i, Buf *v) {
    const char *s = L->src;
    char e = s[i];
    const char *from = "\\'\"abfnrtv", *to = "\\'\"\a\b\f\n\r\t\v";
    const char *f = e ? strchr(from, e) : NULL;
    if (f) return buf_append(v, &to[f - from], 1), i;
    if (e == '\n') return i;   /* a line continued */
    int64_t cp = -1;
    size_t last = i;
    if (e >= '0' && e <= '7') {   /* one to three octal digits */
        cp = 0;
        for (; last < L->len && last < i + 3 && s[last] >= '0' && s[last] <= '7'; last++) cp = cp * 8 + (s[last] - '0');
        last--;
    } else if (e == 'x' || e == 'u' || e == 'U') {
        int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        cp = hex_digits(s, L->len, i + 1, n), last = i + (size_t)n;
        if (cp < 0 || cp > 0x10FFFF) return lex_fail(L, i - 1, "the string escape '\\%c' is truncated or out of range", e), 0;
    } else if (e == 'N') {
        return lex_fail(L, i - 1, "the string escape '\\N{...}' is not supported"), 0;
    } else if ((unsigned char)e < 0x80) {   /* unknown: kept as written */
        return buf_printf(v, "\\%c", e), i;
    } else {   /* backslashreplace's own escape, whose backslash the written one escapes */
        utf8proc_int32_t c;
        utf8proc_ssize_t w = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(L->len - i), &c);
        if (w <= 0) return lex_fail(L, i, "a string that is not UTF-8"), 0;
        buf_printf(v, c < 0x100 ? "\\x%02x" : c < 0x10000 ? "\\u%04x" : "\\U%08x", (unsigned)c);
        return i + (size_t)w - 1;
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return lex_fail(L, i - 1, "the string escape of U+%04llX is not supported (NUL or a surrogate)", (long long)cp), 0;
    utf8proc_uint8_t u[4];
    buf_append(v, (const char *)u, (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, u));
    return last;
}

/* A string literal at s[pos] (its quote), its value decoded as jinja2 decodes it; the position after it. */
static size_t lex_string(Lex *L, size_t pos) {
    char q = L->src[pos];
    Buf v = {0};
    size_t i = pos + 1;
    for (; i < L->len && L->src[i] != q && !L->failed; i++) {
        if (L->src[i] == '\\' && i + 1 < L->len) i = lex_escape(L, i + 1, &v);
        else buf_append(&v, &L->src[i], 1);
    }
    if (i >= L->len) lex_fail(L, pos, "a string is not closed");
    push(L, T_STR, pos, arena_strndup(L->A, v.data ? v.data : "", v.len), v.len);
    buf_free(&v);
    return i + 1;
}

static const char *const OPS2[] = {"==", "!=", "<=", ">=", "//", "**"};

/* One token inside a tag at pos; the position after it. */
static size_t lex_one(Lex *L, size_t pos) {
    const char *s = L->src;
    char c = s[pos];
    size_t i = pos;
    if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        while (i < L->len && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                              (s[i] >= '0' && s[i] <= '9')))
            i++;
        push(L, T_NAME, pos, arena_strndup(L->A, s + pos, i - pos), i - pos);
        return i;
    }
    if (c >= '0' && c <= '9') {
        int64_t v = 0;
        while (i < L->len && s[i] >= '0' && s[i] <= '9' && v < 1000000000000LL) v = v * 10 + (s[i++] - '0');
        if (i < L->len && (s[i] == '.' || s[i] == 'e' || s[i] == '_' || (s[i] >= '0' && s[i] <= '9')))
            lex_fail(L, pos, "this number is not supported (only integers below 10^12)");
        push(L, T_INT, pos, s + pos, i - pos)->i = v;
        return i;
    }
    if (c == '\'' || c == '"') return lex_string(L, pos);
    for (size_t k = 0; k < sizeof OPS2 / sizeof *OPS2; k++)
        if (!strncmp(s + pos, OPS2[k], 2)) return push(L, T_OP, pos, OPS2[k], 2), pos + 2;
    if (c && strchr("+-*/%~()[]{}.,:|=<>", c)) return push(L, T_OP, pos, s + pos, 1), pos + 1;
    lex_fail(L, pos, "unexpected character '%c'", c);
    return pos + 1;
}

/* The tokens of a {{ or {% tag whose body starts at pos; the position after its end. */
static size_t lex_tag(Lex *L, size_t pos, bool block) {
    const char *s = L->src, *end = block ? "%}" : "}}";
    int open = 0;   /* brackets open: Jinja reads "}}" within them as two '}' (its balancing stack) */
    for (int n = 0;; n++) {
        if (n == 1000) {   /* an expression's depth is at most its tokens: the render's recursion stays small */
            lex_fail(L, pos, "a tag of more than 1000 tokens");
            return pos;
        }
        pos = skip_space(s, L->len, pos);
        if (pos >= L->len) {
            lex_fail(L, pos, "the tag is not closed with '%s'", end);
            return pos;
        }
        char sign = (s[pos] == '-' || (block && s[pos] == '+')) ? s[pos] : 0;
        if (!open && !strncmp(s + pos + (sign != 0), end, 2)) {
            push(L, block ? T_BEND : T_VEND, pos, end, 2);
            pos += 2 + (sign != 0);
            if (sign == '-') return skip_space(s, L->len, pos);
            if (block && !sign && pos < L->len && s[pos] == '\n') pos++;   /* trim_blocks */
            return pos;
        }
        pos = lex_one(L, pos);
        if (L->failed) return pos;
        const Tok *t = &L->t[L->nt - 1];
        if (t->k == T_OP && t->n == 1 && strchr("([{", t->s[0])) open++;
        else if (t->k == T_OP && t->n == 1 && strchr(")]}", t->s[0]) && open) open--;
    }
}

/* The source with \r\n and \r made \n and one newline at the end dropped, as Jinja does. */
static char *normalize(Arena *A, const char *src, size_t *len) {
    size_t n = strlen(src), k = 0;
    char *d = arena_alloc(A, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\r') {
            d[k++] = '\n';
            if (i + 1 < n && src[i + 1] == '\n') i++;
        } else {
            d[k++] = src[i];
        }
    }
    if (k && d[k - 1] == '\n') k--;
    d[k] = 0;
    *len = k;
    return d;
}

/* The text src[pos, q) before a tag at q, as Jinja keeps it: all white space at its end dropped
 * before {%- {{- {#-; with lstrip_blocks, the white space between a line's start and {% or {#. */
static void push_text(Lex *L, size_t pos, size_t q, char kind, char sign, bool line_starting) {
    const char *s = L->src;
    size_t end = q;
    if (sign == '-') {
        size_t a, b;
        jinja_strip(s + pos, q - pos, false, true, &a, &b);
        end = pos + b;
    } else if (sign != '+' && kind != '{') {
        size_t l = q;
        while (l > pos && s[l - 1] != '\n') l--;
        if ((l > pos || line_starting) && l < q && skip_space(s, q, l) == q) end = l;
    }
    if (end > pos) push(L, T_TEXT, pos, s + pos, end - pos);
}

/* A {# comment #} whose body starts at p; the position after it. */
static size_t lex_comment(Lex *L, size_t p) {
    const char *e = strstr(L->src + p, "#}");
    if (!e) {
        lex_fail(L, p, "a comment is not closed with '#}'");
        return L->len;
    }
    size_t end = (size_t)(e - L->src);
    char sign = end > p && (e[-1] == '-' || e[-1] == '+') ? e[-1] : 0;
    end += 2;
    if (sign == '-') return skip_space(L->src, L->len, end);
    if (!sign && end < L->len && L->src[end] == '\n') end++;
    return end;
}

bool jinja_lex(Lex *L, const char *src) {
    L->src = normalize(L->A, src, &L->len);
    const char *s = L->src;
    size_t pos = 0;
    bool line_starting = true;
    while (pos < L->len && !L->failed) {
        size_t q = pos;
        while (q + 1 < L->len && !(s[q] == '{' && strchr("{%#", s[q + 1]))) q++;
        if (q + 1 >= L->len) {
            push(L, T_TEXT, pos, s + pos, L->len - pos);
            break;
        }
        char kind = s[q + 1], sign = s[q + 2] == '-' || s[q + 2] == '+' ? s[q + 2] : 0;
        push_text(L, pos, q, kind, sign, line_starting);
        size_t p = q + 2 + (sign != 0);
        if (kind == '#') {
            pos = lex_comment(L, p);
        } else {
            push(L, kind == '%' ? T_BBEGIN : T_VBEGIN, q, s + q, 2);
            size_t w = skip_space(s, L->len, p);
            if (kind == '%' && !strncmp(s + w, "raw", 3) && !strchr("_abcdefghijklmnopqrstuvwxyz0123456789", s[w + 3] | 0x20))
                lex_fail(L, w, "the statement 'raw' is not supported");
            pos = lex_tag(L, p, kind == '%');
        }
        line_starting = pos > 0 && s[pos - 1] == '\n';
    }
    push(L, T_EOF, L->len, "", 0);
    return !L->failed;
}
