/* http_qwen3_coder.c — --tool-call-parser qwen3_coder (vLLM's; docs/serving.md, "Tool calling"):
 * Qwen3-Coder's calls, written in XML,
 *
 *   <tool_call>
 *   <function=get_weather>
 *   <parameter=city>
 *   Paris
 *   </parameter>
 *   </function>
 *   </tool_call>
 *
 * read as vLLM's Qwen3CoderToolParser reads a whole answer: its patterns (emulated here, Python's `$`
 * included: it also meets a last newline), each parameter's text with one newline dropped at each
 * end, and the text turned into a value by the type the request's tool gives the parameter (a string,
 * an integer, a number, a boolean, JSON, or Python's literal_eval). Where vLLM turns a text into a
 * value by Python rules this reader does not compute exactly (text beyond ASCII for a number,
 * literal_eval of anything but a plain word, JSON jansson does not read), or "degenerates" a bad one
 * (a boolean that is neither true nor false), the answer stays text, as a call that does not parse
 * does with every parser here. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#define TOOL_OPEN "<tool_call>"
#define TOOL_CLOSE "</tool_call>"
#define FUNCTION_OPEN "<function="
#define FUNCTION_CLOSE "</function>"
#define PARAMETER_OPEN "<parameter="
#define PARAMETER_CLOSE "</parameter>"


/* Where Python's `$` (no MULTILINE) first meets s[from, len): before a last newline, else at the end. */
static size_t dollar(const char *s, size_t len, size_t from) {
    return len > from && s[len - 1] == '\n' ? len - 1 : len;
}

static bool starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* Whether tag stands at s[k] (s is len bytes). */
static bool at_tag(const char *s, size_t len, size_t k, const char *tag) {
    size_t n = strlen(tag);
    return len - k >= n && !memcmp(s + k, tag, n);
}

/* ------------------------------------------------------------------ values */

typedef enum { VALUE_OK, VALUE_TEXT, VALUE_REFUSED } ValueKind;


static bool ascii_only(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

/* s[0, n) equal to word, ASCII letters in any case. */
static bool same_word(const char *s, size_t n, const char *word) { return n == strlen(word) && !strncasecmp(s, word, n); }

/* Digits with single '_' between them, from *at: how many digits (0: none). */
static size_t digits(const char *s, size_t n, size_t *at) {
    size_t count = 0;
    while (*at < n && s[*at] >= '0' && s[*at] <= '9') {
        count++, (*at)++;
        if (*at + 1 < n && s[*at] == '_' && s[*at + 1] >= '0' && s[*at + 1] <= '9') (*at)++;
    }
    return count;
}

/* s[0, n) without the white space Python's str.strip(), int() and float() pass over (jinja_strip's). */
static void py_strip(const char **s, size_t *n) {
    size_t from, to;
    jinja_strip(*s, *n, true, true, &from, &to);
    *s += from, *n = to - from;
}

/* Python's int(text): an integer, else (not one) the text; past 64 bits refused. */
static ValueKind int_value(const char *s, size_t n, json_t **out) {
    py_strip(&s, &n);
    if (!n) return VALUE_TEXT;
    size_t at = s[0] == '+' || s[0] == '-' ? 1 : 0;
    if (!digits(s, n, &at) || at != n) return VALUE_TEXT;
    char text[32];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof text; i++)
        if (s[i] != '_' && s[i] != '+') text[k++] = s[i];
    text[k] = 0;
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (k + 1 >= sizeof text || errno || *end) return VALUE_REFUSED;
    return *out = json_integer(v), VALUE_OK;
}

/* Python's float(text), then vLLM's: a whole number as an integer; inf, nan and overflow (int() of
 * them fails) and a text that is no number stay text; an integer past 64 bits is refused. */
static ValueKind float_value(const char *s, size_t n, json_t **out) {
    py_strip(&s, &n);
    if (!n) return VALUE_TEXT;
    size_t at = s[0] == '+' || s[0] == '-' ? 1 : 0;
    if (same_word(s + at, n - at, "inf") || same_word(s + at, n - at, "infinity") || same_word(s + at, n - at, "nan"))
        return VALUE_TEXT;
    size_t whole = digits(s, n, &at), frac = 0;
    if (at < n && s[at] == '.') at++, frac = digits(s, n, &at);
    if (!whole && !frac) return VALUE_TEXT;
    if (at < n && (s[at] == 'e' || s[at] == 'E')) {
        at += at + 1 < n && (s[at + 1] == '+' || s[at + 1] == '-') ? 2 : 1;
        if (!digits(s, n, &at)) return VALUE_TEXT;
    }
    if (at != n) return VALUE_TEXT;
    Buf b = {0};
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_') buf_append(&b, s + i, 1);
    buf_append(&b, "", 1);
    double d = strtod(b.data, NULL);
    buf_free(&b);
    if (!isfinite(d)) return VALUE_TEXT;
    if (d != trunc(d)) return *out = json_real(d), VALUE_OK;
    if (!(fabs(d) < 9223372036854775808.0)) return VALUE_REFUSED;
    return *out = json_integer((json_int_t)d), VALUE_OK;
}

/* A number literal of Python's, with one sign before it and white space after it, as literal_eval
 * reads it (pythonic_number): an integer (leading zeros are Python's SyntaxError: text), or a float
 * (kept a float). A form this reader does not take (0x10, 1j, "- 5", text after it, more than 62
 * characters) is refused. */
static ValueKind number_literal(const char *s, size_t n, json_t **out) {
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n')) n--;
    bool minus = s[0] == '-';
    size_t sign = minus || s[0] == '+', whole = 0;
    const char *d = s + sign;
    size_t dn = n - sign;
    size_t kept = minus;   /* the characters but '_' and '+' */
    for (size_t i = 0; i < dn; i++) kept += d[i] != '_';
    if (kept > 62 || (dn > 1 && d[0] == '0' && strchr("xXoObB", d[1]))) return VALUE_REFUSED;
    if (dn && d[0] == '0' && digits(d, dn, &whole) && whole == dn && strspn(d, "0_") < dn) return VALUE_TEXT;   /* 01 */
    json_t *v = pythonic_number(d, dn);
    if (!v) return VALUE_REFUSED;   /* past 64 bits, or inf (vLLM writes Infinity, not JSON) */
    *out = !minus ? v : json_is_real(v) ? json_real(-json_real_value(v)) : json_integer(-json_integer_value(v));
    if (*out != v) json_decref(v);
    return VALUE_OK;
}

/* Python's ast.literal_eval(text) where this reader is sure of it: None, True or False alone; a
 * number; a text led by a name (but those three and string prefixes before a quote: r'', b'', ...)
 * or by a character no expression starts with fails there, and stays text. Anything else is
 * refused. */
static ValueKind literal_value(const char *s, size_t n, json_t **out) {
    while (n && (*s == ' ' || *s == '\t')) s++, n--;   /* literal_eval's lstrip(" \t") */
    if (!n || (unsigned char)*s >= 0x80 || strchr("/*%&|^<>=,)]}:;!?$`@~", *s)) return VALUE_TEXT;
    if (isdigit((unsigned char)*s) || strchr("+-.", *s)) return number_literal(s, n, out);
    if (!isalpha((unsigned char)*s) && *s != '_') return VALUE_REFUSED;
    size_t k = 0;
    while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_')) k++;
    bool name_goes_on = k < n && (unsigned char)s[k] >= 0x80;   /* a name may go on past ASCII */
    static const char *const CONSTANTS[] = {"None", "True", "False"};
    for (int c = 0; c < 3 && !name_goes_on; c++)
        if (k == strlen(CONSTANTS[c]) && !memcmp(s, CONSTANTS[c], k))
            return k == n ? (*out = c ? json_boolean(c == 1) : json_null(), VALUE_OK) : VALUE_REFUSED;
    bool prefix = k <= 2 && k < n && (s[k] == '\'' || s[k] == '"');   /* r'', b'', rb'', ... */
    for (size_t i = 0; i < k && prefix; i++) prefix = strchr("rRbBuUfF", s[i]) != NULL;
    return prefix ? VALUE_REFUSED : VALUE_TEXT;
}

/* The type vLLM reads for a parameter: str() of its schema's "type", stripped and lower-cased (NULL:
 * "string", the schema has none); false when that text is beyond ASCII. */
static bool param_type(const json_t *schema, Buf *type) {
    const json_t *t = json_is_object(schema) ? json_object_get(schema, "type") : NULL;
    if (!t) return buf_puts(type, "string"), true;
    if (!jinja_py_str(t, type) || !ascii_only(type->data, type->len)) return false;
    buf_append(type, "", 1);
    type->len--;
    const char *s = type->data;
    size_t n = type->len;
    py_strip(&s, &n);
    memmove(type->data, s, n);
    type->len = n;
    for (size_t i = 0; i < n; i++) type->data[i] = (char)tolower((unsigned char)type->data[i]);
    buf_append(type, "", 1);   /* a C string, "" too */
    type->len--;
    return true;
}

/* The kinds of value a parameter's type asks (vLLM's _convert_param_value). */
static bool is_text_type(const char *t) {
    static const char *const TEXTS[] = {"string", "str", "text", "varchar", "char", "enum", NULL};
    for (int i = 0; TEXTS[i]; i++)
        if (!strcmp(t, TEXTS[i])) return true;
    return false;
}
static bool is_int_type(const char *t) {
    return starts(t, "int") || starts(t, "uint") || starts(t, "long") || starts(t, "short") || starts(t, "unsigned");
}
static bool is_json_type(const char *t) {
    return !strcmp(t, "object") || !strcmp(t, "array") || !strcmp(t, "arr") || starts(t, "dict") || starts(t, "list");
}

/* vLLM's _convert_param_value of the text of parameter `name` by config (the tool's properties): a
 * parameter config does not name, or of a text type, stays text. */
static ValueKind param_value(const char *s, size_t n, const char *name, const json_t *config, json_t **out) {
    if (same_word(s, n, "null")) return *out = json_null(), VALUE_OK;
    const json_t *schema = json_object_get(config, name);
    if (!schema) return VALUE_TEXT;
    Buf type = {0};
    if (!param_type(schema, &type)) return buf_free(&type), VALUE_REFUSED;
    const char *t = type.data;
    ValueKind k;
    bool number = is_int_type(t) || starts(t, "num") || starts(t, "float");
    if (is_text_type(t)) k = VALUE_TEXT;
    else if (number && !ascii_only(s, n)) k = VALUE_REFUSED;   /* Python reads digits and spaces beyond ASCII */
    else if (is_int_type(t)) k = int_value(s, n, out);
    else if (number) k = float_value(s, n, out);
    else if (!strcmp(t, "boolean") || !strcmp(t, "bool") || !strcmp(t, "binary"))   /* vLLM: any other is false */
        k = same_word(s, n, "true") || same_word(s, n, "false") ? (*out = json_boolean(n == 4), VALUE_OK) : VALUE_REFUSED;
    else if (is_json_type(t)) k = (*out = json_loadb(s, n, JSON_DECODE_ANY, NULL)) ? VALUE_OK : VALUE_REFUSED;
    else k = literal_value(s, n, out);
    buf_free(&type);
    return k;
}

/* ------------------------------------------------------------------ calls */

/* The tool's parameters as vLLM's _get_arguments_config finds them: its "properties", else the
 * parameters object itself, else none. */
static const json_t *arguments_config(const json_t *tools, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *f = json_object_get(t, "function");
        if (!api_is_str(json_object_get(t, "type"), "function") || !api_is_str(json_object_get(f, "name"), name)) continue;
        const json_t *params = json_object_get(f, "parameters"), *props = json_object_get(params, "properties");
        return props ? props : json_is_object(params) ? params : NULL;
    }
    return NULL;
}

/* One parameter's text [from, to): the group of vLLM's pattern
 *   <parameter=(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|$)
 * after *at; false when none is left. *at moves past the match. */
static bool next_parameter(const char *s, size_t len, size_t *at, size_t *from, size_t *to) {
    const char *open = api_find(s, len, *at, PARAMETER_OPEN);
    if (!open) return false;
    *from = (size_t)(open - s) + strlen(PARAMETER_OPEN);
    size_t end = dollar(s, len, *from);
    for (size_t k = *from; k <= len; k++) {
        bool close = at_tag(s, len, k, PARAMETER_CLOSE);
        if (close || at_tag(s, len, k, PARAMETER_OPEN) || at_tag(s, len, k, FUNCTION_CLOSE) || k == end) {
            *to = k;
            *at = k + (close ? strlen(PARAMETER_CLOSE) : 0);
            return true;
        }
    }
    return false;
}

/* A call from the text after "<function=" ([from, to)): its name up to the first '>', its parameters
 * (a name given again keeps its place and takes the last value, a Python dict's). NULL when vLLM's
 * reading fails (no '>') or a value is refused. */
static json_t *read_call(const char *s, size_t from, size_t to, const json_t *tools) {
    const char *gt = memchr(s + from, '>', to - from);
    if (!gt) return NULL;
    char *name = xstrndup(s + from, (size_t)(gt - (s + from)));
    const json_t *config = arguments_config(tools, name);
    json_t *args = json_object();
    size_t at = (size_t)(gt - s) + 1, pfrom, pto;
    bool ok = true;
    while (ok && next_parameter(s, to, &at, &pfrom, &pto)) {
        const char *pgt = memchr(s + pfrom, '>', pto - pfrom);
        if (!(ok = pgt != NULL)) break;
        size_t vfrom = (size_t)(pgt - s) + 1, vto = pto;
        if (vfrom < vto && s[vfrom] == '\n') vfrom++;
        if (vto > vfrom && s[vto - 1] == '\n') vto--;
        char *key = xstrndup(s + pfrom, (size_t)(pgt - (s + pfrom)));
        json_t *v = NULL;
        ValueKind k = param_value(s + vfrom, vto - vfrom, key, config, &v);
        if (k == VALUE_TEXT) v = json_stringn(s + vfrom, vto - vfrom);
        ok = k != VALUE_REFUSED && v && !json_object_set_new(args, key, v);   /* v taken; a key not UTF-8 fails */
        free(key);
    }
    json_t *jname = ok ? json_stringn(name, strlen(name)) : NULL, *call = jname ? json_object() : NULL;   /* NULL: not UTF-8 */
    if (call) json_object_set_new(call, "name", jname), json_object_set_new(call, "arguments", args);
    else json_decref(args);
    free(name);
    return call;
}

/* The calls of one <tool_call> group [from, to): every <function=...</function>, the last perhaps
 * unclosed (to the end). false when one fails. */
static bool read_functions(const char *s, size_t from, size_t to, const json_t *tools, json_t *calls) {
    for (const char *open; (open = api_find(s, to, from, FUNCTION_OPEN));) {
        size_t body = (size_t)(open - s) + strlen(FUNCTION_OPEN);
        const char *close = api_find(s, to, body, FUNCTION_CLOSE);
        size_t end = close ? (size_t)(close - s) : to;   /* greedy (.*)$: all of the rest */
        json_t *call = read_call(s, body, end, tools);
        if (!call) return false;
        json_array_append_new(calls, call);
        from = close ? end + strlen(FUNCTION_CLOSE) : to;
    }
    return true;
}

json_t *qwen3_coder_calls(const char *text, size_t len, const json_t *tools, size_t *content) {
    if (!text || !api_find(text, len, 0, FUNCTION_OPEN) || memchr(text, 0, len)) return NULL;
    json_t *calls = json_array();
    bool ok = true, grouped = false;
    for (size_t at = 0; ok;) {   /* <tool_call>(.*?)</tool_call>|<tool_call>(.*?)$ */
        const char *open = api_find(text, len, at, TOOL_OPEN);
        if (!open) break;
        size_t body = (size_t)(open - text) + strlen(TOOL_OPEN);
        const char *close = api_find(text, len, body, TOOL_CLOSE);
        size_t end = close ? (size_t)(close - text) : dollar(text, len, body);
        ok = read_functions(text, body, end, tools, calls);
        grouped = true;
        at = close ? end + strlen(TOOL_CLOSE) : len;
    }
    if (ok && !grouped) ok = read_functions(text, 0, len, tools, calls);   /* no <tool_call>: the whole answer */
    if (!ok || !json_array_size(calls)) return json_decref(calls), NULL;
    const char *first = api_find(text, len, 0, TOOL_OPEN);
    *content = (size_t)((first ? first : api_find(text, len, 0, FUNCTION_OPEN)) - text);
    return calls;
}
