/* http_pythonic.c — the pythonic tool-call parsers' reading (--tool-call-parser pythonic and
 * llama4_pythonic; docs/serving.md, "Tool calling"): an answer that is a Python list of calls,
 *   [get_weather(city="Paris", days=2), now()]
 * read as vLLM's parsers read it (Python's ast): each call's name and its keyword arguments, each a
 * literal (a string, a number, True/False/None, a list or a dict of such). Whatever this reader does
 * not take exactly is no call, and the answer stays text: a positional argument (vLLM drops it), a
 * negative number or any other expression (vLLM refuses those too), hexadecimal and other integer
 * forms, comments, a bracket's trailing text. */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    const char *s;
    size_t n, at;
} Src;

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f'; }   /* (a \r is left out) */

/* White space and comments: inside brackets, Python joins lines. */
static void space(Src *p) {
    while (p->at < p->n && (is_space(p->s[p->at]) || p->s[p->at] == '#'))
        if (p->s[p->at++] == '#')
            while (p->at < p->n && p->s[p->at] != '\n') p->at++;
}

static bool take(Src *p, char c) {
    space(p);
    if (p->at < p->n && p->s[p->at] == c) return p->at++, true;
    return false;
}

static bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_name_start(char c) { return is_letter(c) || c == '_'; }
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

/* A name [A-Za-z_][A-Za-z0-9_]* (ASCII: Python takes more) into out, not one of Python's keywords;
 * false when none. */
static bool name(Src *p, char *out, size_t cap) {
    static const char *const KEYWORDS[] = {"False", "None", "True", "and", "as", "assert", "async", "await", "break",
                                           "class", "continue", "def", "del", "elif", "else", "except", "finally", "for",
                                           "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not",
                                           "or", "pass", "raise", "return", "try", "while", "with", "yield", NULL};
    space(p);
    size_t from = p->at;
    if (p->at >= p->n || !is_name_start(p->s[p->at])) return false;
    while (p->at < p->n && is_name_char(p->s[p->at])) p->at++;
    size_t len = p->at - from;
    if (len >= cap) return false;
    memcpy(out, p->s + from, len);
    out[len] = 0;
    for (int i = 0; KEYWORDS[i]; i++)
        if (!strcmp(out, KEYWORDS[i])) return false;
    return true;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Code point c as UTF-8 into b; false for a surrogate (JSON text cannot hold one alone). */
static bool put_code_point(Buf *b, uint32_t c) {
    char u[4];
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) return false;
    size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (k == 1) u[0] = (char)c;
    else {
        for (size_t i = k - 1; i > 0; i--, c >>= 6) u[i] = (char)(0x80 | (c & 0x3F));
        u[0] = (char)((k == 2 ? 0xC0 : k == 3 ? 0xE0 : 0xF0) | c);
    }
    buf_append(b, u, k);
    return true;
}

/* The escape after a backslash at p->at (Python's string escapes) into b. */
static bool escape(Src *p, Buf *b) {
    static const char SIMPLE[] = "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v";
    char c = p->s[p->at++];
    if (c == '\n') return true;   /* a line continued */
    for (int i = 0; SIMPLE[i]; i += 2)
        if (SIMPLE[i] == c) return buf_append(b, &SIMPLE[i + 1], 1), true;
    uint32_t v = 0;
    if (c >= '0' && c <= '7') {   /* up to three octal digits */
        v = (uint32_t)(c - '0');
        for (int k = 0; k < 2 && p->at < p->n && p->s[p->at] >= '0' && p->s[p->at] <= '7'; k++) v = v * 8 + (uint32_t)(p->s[p->at++] - '0');
        return put_code_point(b, v);
    }
    int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (c == 'N') return false;   /* \N{name}: Unicode's names are not here */
    if (!digits) return buf_append(b, "\\", 1), buf_append(b, &c, 1), true;   /* Python keeps an unknown one */
    for (int k = 0; k < digits; k++) {
        int h = p->at < p->n ? hex_digit(p->s[p->at++]) : -1;
        if (h < 0) return false;
        v = v * 16 + (uint32_t)h;
    }
    return put_code_point(b, v);
}

/* One string literal ('...', "...", triple-quoted; u or r prefixed) appended to b. */
static bool string_piece(Src *p, Buf *b) {
    bool raw = false;
    char c = p->s[p->at];
    if (c == 'r' || c == 'R' || c == 'u' || c == 'U') raw = c == 'r' || c == 'R', p->at++;
    if (p->at >= p->n || (p->s[p->at] != '\'' && p->s[p->at] != '"')) return false;
    char q = p->s[p->at];
    bool triple = p->at + 2 < p->n && p->s[p->at + 1] == q && p->s[p->at + 2] == q;
    p->at += triple ? 3 : 1;
    while (p->at < p->n) {
        c = p->s[p->at];
        if (c == q && (!triple || (p->at + 2 < p->n && p->s[p->at + 1] == q && p->s[p->at + 2] == q)))
            return p->at += triple ? 3 : 1, true;
        if (c == '\r' || (c == '\n' && !triple) || !c) return false;   /* a line end closes no string; \r is Python's to translate */
        p->at++;
        if (c != '\\') buf_append(b, &c, 1);
        else if (p->at >= p->n) return false;
        else if (raw) buf_append(b, &c, 1), buf_append(b, &p->s[p->at++], 1);   /* both kept */
        else if (!escape(p, b)) return false;
    }
    return false;
}

static bool starts_string(const Src *p) {
    size_t a = p->at;
    if (a < p->n && strchr("rRuU", p->s[a])) a++;
    return a < p->n && (p->s[a] == '\'' || p->s[a] == '"');
}

/* Adjacent string literals, joined as Python joins them. */
static json_t *string_value(Src *p) {
    Buf b = {0};
    bool ok = true;
    do {
        ok = string_piece(p, &b);
        space(p);
    } while (ok && starts_string(p));
    json_t *v = ok ? json_stringn(b.data ? b.data : "", b.len) : NULL;   /* NULL too for text that is not UTF-8 */
    buf_free(&b);
    return v;
}

/* An integer 0x.., 0o.. or 0b.. ('_' between digits and after the prefix), or NULL. */
static json_t *based_int(Src *p) {
    char c = (char)(p->s[p->at + 1] | 0x20);
    int base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
    p->at += 2;
    int64_t v = 0;
    bool any = false;
    for (; p->at < p->n; p->at++) {
        char d = p->s[p->at];
        int x = hex_digit(d);
        if (d == '_' && p->at + 1 < p->n && hex_digit(p->s[p->at + 1]) >= 0 && hex_digit(p->s[p->at + 1]) < base) continue;
        if (x < 0 || x >= base) break;
        if (v > (INT64_MAX - x) / base) return NULL;
        v = v * base + x, any = true;
    }
    if (!any || (p->at < p->n && (is_name_char(p->s[p->at]) || p->s[p->at] == '.'))) return NULL;
    return json_integer(v);
}

/* A decimal integer or float literal (digits, '.', an exponent; '_' between digits). */
static json_t *number_value(Src *p) {
    if (p->s[p->at] == '0' && p->at + 1 < p->n && strchr("xXoObB", p->s[p->at + 1])) return based_int(p);
    char text[64];
    size_t k = 0, from = p->at;
    bool is_float = false;
    while (p->at < p->n && k + 1 < sizeof text) {
        char c = p->s[p->at];
        bool sign = (c == '+' || c == '-') && k && (text[k - 1] == 'e' || text[k - 1] == 'E');
        if (!(c >= '0' && c <= '9') && c != '.' && c != 'e' && c != 'E' && c != '_' && !sign) break;
        is_float |= c == '.' || c == 'e' || c == 'E';
        if (c == '_' && (p->at == from || p->at + 1 >= p->n || !(p->s[p->at + 1] >= '0' && p->s[p->at + 1] <= '9') ||
                         !(p->s[p->at - 1] >= '0' && p->s[p->at - 1] <= '9')))
            return NULL;
        if (c != '_') text[k++] = c;
        p->at++;
    }
    text[k] = 0;
    if (p->at < p->n && (is_name_char(p->s[p->at]) || p->s[p->at] == '.')) return NULL;   /* 1j, 0x1, 1.2.3 */
    char *end;
    errno = 0;
    if (is_float) {
        double d = strtod(text, &end);
        return *end || !isfinite(d) ? NULL : json_real(d);
    }
    if (text[0] == '0' && text[strspn(text, "0")]) return NULL;   /* Python refuses 01 (00 is 0) */
    long long v = strtoll(text, &end, 10);
    return *end || errno ? NULL : json_integer(v);
}

json_t *pythonic_number(const char *text, size_t len) {
    Src p = {text, len, 0};
    if (!len || !((text[0] >= '0' && text[0] <= '9') || text[0] == '.')) return NULL;
    json_t *v = number_value(&p);
    if (v && p.at != len) json_decref(v), v = NULL;
    return v;
}

static json_t *value(Src *p, int depth);

/* [v, ...] or {"k": v, ...}: the items up to close, a trailing ',' allowed. */
static json_t *container(Src *p, char close, int depth) {
    json_t *out = close == ']' ? json_array() : json_object();
    while (!take(p, close)) {
        json_t *key = NULL;
        if (close == '}') {
            space(p);
            key = starts_string(p) ? string_value(p) : NULL;
            if (!key || !take(p, ':')) return json_decref(key), json_decref(out), NULL;
        }
        json_t *v = value(p, depth + 1);
        if (!v) return json_decref(key), json_decref(out), NULL;
        if (key) json_object_setn_new(out, json_string_value(key), json_string_length(key), v);
        else json_array_append_new(out, v);
        json_decref(key);
        if (!take(p, ',') && !take(p, close)) return json_decref(out), NULL;
        if (p->s[p->at - 1] == close) break;
    }
    return out;
}

/* A literal: a string, a number, True, False, None, a list or a dict. */
static json_t *value(Src *p, int depth) {
    space(p);
    if (p->at >= p->n || depth > 64) return NULL;
    char c = p->s[p->at], word[8];
    if (starts_string(p)) return string_value(p);
    if ((c >= '0' && c <= '9') || c == '.') return number_value(p);
    if (take(p, '[')) return container(p, ']', depth);
    if (take(p, '{')) return container(p, '}', depth);
    size_t from = p->at;
    while (p->at < p->n && is_name_char(p->s[p->at]) && p->at - from < sizeof word - 1) p->at++;
    memcpy(word, p->s + from, p->at - from);
    word[p->at - from] = 0;
    if (p->at < p->n && is_name_char(p->s[p->at])) return NULL;
    return !strcmp(word, "True") ? json_true() : !strcmp(word, "False") ? json_false() : !strcmp(word, "None") ? json_null() : NULL;
}

/* Whether vLLM's pattern, which an answer must match before Python reads it, lets the call named
 * s[name_start, name_end) through (the answer is a Python list of calls). Its pattern is
 *   \[(NAME\((NAME=.*,\s*)*(NAME=.*\s)?\),\s*)*(NAME\((NAME=.*,\s*)*(NAME=.*\s*)?\)\s*)+\]
 * with NAME [a-zA-Z]+\w*, `.` any character: a call's name starts with a letter and meets its '('
 * (the first call's the '['); a call whose '(' is met by a keyword meeting its '=' frees the rest
 * (the pattern's .* reaches the last ')'); a call without arguments is met by ',' and white space
 * then the next call's name, or white space and the list's end. *free when freed. */
static bool pattern_lets(const Src *p, size_t name_start, size_t name_end, bool *free) {
    const char *s = p->s;
    size_t at = name_end;
    if (!is_letter(s[name_start]) || at >= p->n || s[at] != '(') return false;
    size_t k = ++at;
    while (k < p->n && is_name_char(s[k])) k++;
    if (k > at && is_letter(s[at]) && k < p->n && s[k] == '=') return *free = true;
    if (at >= p->n || s[at] != ')') return false;
    bool comma = ++at < p->n && s[at] == ',';
    at += comma;
    while (at < p->n && is_space(s[at])) at++;   /* \s*: no comment */
    return comma ? at < p->n && is_letter(s[at]) : at < p->n && s[at] == ']';
}

/* name(key=literal, ...) as {"name", "arguments": {key: value}}: a key given twice keeps its place and
 * its last value (Python's parser lets it through, and vLLM makes a dict of them). */
static json_t *call(Src *p, bool *pattern, bool *free) {
    char fn[256], key[256];
    space(p);
    size_t start = p->at;
    if (!name(p, fn, sizeof fn)) return NULL;
    if (*pattern && !*free) *pattern = pattern_lets(p, start, p->at, free);
    if (!take(p, '(')) return NULL;
    json_t *args = json_object();
    while (!take(p, ')')) {
        json_t *v = NULL;
        if (!name(p, key, sizeof key) || !take(p, '=') || !(v = value(p, 0))) return json_decref(args), NULL;
        json_object_set_new(args, key, v);
        if (!take(p, ',') && !take(p, ')')) return json_decref(args), NULL;
        if (p->s[p->at - 1] == ')') break;
    }
    return json_pack("{s:s, s:o}", "name", fn, "arguments", args);
}

json_t *pythonic_calls(const char *text, size_t len) {
    Src p = {text, len, 1};
    /* vLLM's pattern: '[' and a call's name first; Python reads no NUL */
    if (len < 2 || text[0] != '[' || !is_name_start(text[1]) || memchr(text, 0, len)) return NULL;
    json_t *calls = json_array(), *c;
    bool pattern = true, free = false;
    do {
        if (!(c = call(&p, &pattern, &free)) || !pattern) return json_decref(c), json_decref(calls), NULL;
        json_array_append_new(calls, c);
    } while (take(&p, ','));
    if (!take(&p, ']')) return json_decref(calls), NULL;
    space(&p);
    if (p.at != len) return json_decref(calls), NULL;
    return calls;
}
