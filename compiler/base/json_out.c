/* json_out.c — JSON written straight into a Buf, for outputs too large for a jansson tree (a
 * 100,000-layer report is a million values). The text is byte for byte what jansson's
 * json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) writes for the same values, so outputs can
 * move between the two without changing: members on their own lines indented by two spaces per
 * level, ": " after keys, empty containers as {} and [], strings escaped as jansson escapes them,
 * reals as jansson's "%.17g" form. tests/unit compares the two. */
#include "mixc.h"

#include <string.h>

void jw_init(JsonWriter *w, Buf *out) {
    *w = (JsonWriter){.out = out, .empty = true};
}

static void put(JsonWriter *w, const char *s, size_t n) { buf_append(w->out, s, n); }

static void newline_indent(JsonWriter *w, int depth) {
    static const char spaces[] = "\n                                                                ";
    size_t n = (size_t)depth * 2;
    put(w, spaces, 1);
    for (; n > sizeof spaces - 2; n -= sizeof spaces - 2) put(w, spaces + 1, sizeof spaces - 2);
    put(w, spaces + 1, n);
}

/* What comes before a member or an element: nothing after a key, else a comma after an earlier
 * one, then its own line. */
static void next_item(JsonWriter *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0) return;
    if (!w->empty) put(w, ",", 1);
    w->empty = false;
    newline_indent(w, w->depth);
}

static void open_container(JsonWriter *w, char bracket) {
    next_item(w);
    put(w, &bracket, 1);
    w->depth++;
    w->empty = true;
}

/* After a container closes, the one around it holds at least that container. */
static void close_container(JsonWriter *w, char bracket) {
    w->depth--;
    if (!w->empty) newline_indent(w, w->depth);
    put(w, &bracket, 1);
    w->empty = false;
}

void jw_object_begin(JsonWriter *w) { open_container(w, '{'); }
void jw_object_end(JsonWriter *w) { close_container(w, '}'); }
void jw_array_begin(JsonWriter *w) { open_container(w, '['); }
void jw_array_end(JsonWriter *w) { close_container(w, ']'); }

/* The two-character escape jansson writes for cp, or NULL. */
static const char *short_escape(uint32_t cp) {
    switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return NULL;
    }
}

/* s quoted and escaped as jansson does: \" \\ \b \f \n \r \t, other controls as \u00XX (upper-case
 * hex), everything else (UTF-8 included) as it is. Text that is not valid UTF-8 fails the writer. */
static void quoted(JsonWriter *w, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), start = 0;
    put(w, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int len = utf8_sequence(p + i, n - i, &cp);
        if (len == 0) {
            w->failed = true;
            return;
        }
        if (cp >= 0x20 && cp != '"' && cp != '\\') {
            i += (size_t)len;
            continue;
        }
        put(w, s + start, i - start);
        char esc[8];
        const char *e = short_escape(cp);
        if (!e) snprintf(esc, sizeof esc, "\\u%04X", (unsigned)cp), e = esc;
        put(w, e, strlen(e));
        start = ++i;
    }
    put(w, s + start, n - start);
    put(w, "\"", 1);
}

void jw_key(JsonWriter *w, const char *key) {
    next_item(w);
    quoted(w, key);
    put(w, ": ", 2);
    w->after_key = true;
}

void jw_string(JsonWriter *w, const char *s) {
    next_item(w);
    quoted(w, s);
}

void jw_int(JsonWriter *w, int64_t v) {
    char digits[24], *p = digits + sizeof digits;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    next_item(w);
    put(w, p, (size_t)(digits + sizeof digits - p));
}

/* jansson's form of a real: "%.17g", then ".0" when that reads as an integer, and the exponent
 * without its '+' and leading zeros ("1e300", "1e-5"). */
void jw_real(JsonWriter *w, double v) {
    char s[64];
    int n = snprintf(s, sizeof s - 2, "%.17g", v);
    if (!strchr(s, '.') && !strchr(s, 'e')) {
        memcpy(s + n, ".0", 3);
        n += 2;
    }
    char *exp = strchr(s, 'e');
    if (exp) {
        char *digits = exp + 1 + (exp[1] == '-'), *from = digits;
        if (*from == '+') from++;
        while (*from == '0') from++;
        memmove(digits, from, strlen(from) + 1);
        n = (int)strlen(s);
    }
    next_item(w);
    put(w, s, (size_t)n);
}

void jw_bool(JsonWriter *w, bool v) {
    next_item(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(JsonWriter *w) {
    next_item(w);
    put(w, "null", 4);
}

void jw_member_int(JsonWriter *w, const char *key, int64_t v) {
    jw_key(w, key);
    jw_int(w, v);
}

void jw_member_string(JsonWriter *w, const char *key, const char *s) {
    jw_key(w, key);
    jw_string(w, s);
}

void jw_member_bool(JsonWriter *w, const char *key, bool v) {
    jw_key(w, key);
    jw_bool(w, v);
}

void jw_int_members(JsonWriter *w, const JsonIntMember *members, size_t n) {
    for (size_t i = 0; i < n; i++) jw_member_int(w, members[i].key, members[i].value);
}
