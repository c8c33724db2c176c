/* http_schema.c — a request's JSON Schema (response_format's, a forced tool's parameters) as the
 * grammar that guided decoding follows (http_guide.h; docs/serving.md, "Structured outputs").
 *
 * The grammar matches some of the JSON texts that validate, never one that does not: an object's
 * properties in the schema's order (the required ones always, no others), compact constants, integers
 * of at most 18 digits, numbers with at most 16 fraction and 2 exponent digits (with bounds: no exponent,
 * at most 18 digits), a string with a pattern or a format in ASCII. A keyword whose rule is not
 * computed here (a number's multipleOf, uniqueItems but of constants, a format but date, time,
 * date-time, uuid and ipv4, ...) is refused by name: the answer would otherwise look guided and not be. Annotations (title, description, default,
 * examples, ...) change nothing. */
#include "http_guide.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>


#define SCHEMA_MAX_DEPTH 64     /* schemas nested in schemas, $refs aside */

/* A schema compiled, and its node (found again by the schema: a $ref back to it). */
typedef struct Seen {
    const json_t *schema;
    GuideNode *node;
    struct Seen *next;
} Seen;

typedef struct {
    Arena *A;
    const json_t *root;
    json_t *owned;              /* the merged schemas made here (anyOf's branches with their schema's
                                 * keywords), kept while compiling: nodes are found by their schema */
    Seen *seen;                 /* in A */
    int depth;
    const char *field;          /* the request's field, for messages */
    ApiError *err;
    bool failed;
} Compile;

static const GuideNode *compile(Compile *c, const json_t *s);

static const GuideNode *refuse(Compile *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const GuideNode *refuse(Compile *c, const char *fmt, ...) {
    if (c->failed) return NULL;
    char what[500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    api_refuse(c->err, 400, "field '%s': %s", c->field, what);
    c->failed = true;
    return NULL;
}

static GuideNode *node_of(Compile *c, GuideKind k) {
    GuideNode *n = arena_alloc(c->A, sizeof *n);
    n->k = k;
    n->max_items = n->max_len = -1;
    return n;
}

/* A literal's node: v's compact JSON text. */
static const GuideNode *literal(Compile *c, const json_t *v) {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return refuse(c, "a constant JSON cannot write");
    GuideNode *n = node_of(c, GN_LITERAL);
    n->len = strlen(text);
    n->text = arena_strndup(c->A, text, n->len);
    free(text);
    return n;
}

/* n of the alternatives alt (copied). */
static GuideNode *any_of(Compile *c, const GuideNode **alt, int n) {
    GuideNode *a = node_of(c, GN_ANYOF);
    a->alt = arena_array(c->A, (size_t)(n ? n : 1), sizeof *a->alt);
    memcpy(a->alt, alt, (size_t)n * sizeof *alt);
    a->nalt = n;
    return a;
}

/* ------------------------------------------------------------------ keywords */

static const char *const ANNOTATIONS[] = {"title", "description", "default", "examples", "$schema", "$id", "$comment",
                                          "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "discriminator",
                                          "strict", NULL};
static const char *const KEYWORDS[] = {"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "required",
                                       "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength",
                                       "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "uniqueItems", "pattern",
                                       "format", "multipleOf", NULL};
static const char *const TYPES[] = {"null", "boolean", "object", "array", "number", "integer", "string", NULL};

/* Every keyword of s is one this compiler computes or an annotation. */
static bool keywords_known(Compile *c, const json_t *s) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)s, key, v) {
        if (str_listed(ANNOTATIONS, key) || str_listed(KEYWORDS, key)) continue;
        char shown[SHOWN_MAX];
        return refuse(c, "the schema keyword '%s' is not supported (docs/serving.md lists those that are)",
                      shown_text(key, strlen(key), shown)), false;
    }
    const json_t *u = json_object_get(s, "uniqueItems");
    if (u && !json_is_boolean(u)) return refuse(c, "'uniqueItems' must be a boolean"), false;
    return true;
}

/* A count keyword's value (a non-negative integer, 1.0 too); dflt when absent. */
static bool count_of(Compile *c, const json_t *s, const char *key, int64_t dflt, int64_t *out) {
    const json_t *v = json_object_get(s, key);
    if (!v) return *out = dflt, true;
    double x = json_number_value(v);
    if (!json_is_number(v) || x < 0 || x != floor(x) || x > 1e15) return refuse(c, "'%s' must be a non-negative integer", key), false;
    return *out = (int64_t)x, true;
}

/* Whether JSON value v is of JSON Schema type t. */
static bool of_type(const json_t *v, const char *t) {
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));   /* integer */
}

/* Whether v is of one of the types of s's "type" (any when it has none). */
static bool fits_type(const json_t *s, const json_t *v) {
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t)) return of_type(v, json_string_value(t));
    if (!json_is_array(t)) return true;
    size_t i;
    json_t *x;
    json_array_foreach((json_t *)t, i, x) if (of_type(v, json_string_value(x))) return true;
    return false;
}

/* enum or const: the values that also fit "type", each a literal. */
static const GuideNode *constants(Compile *c, const json_t *s) {
    const json_t *e = json_object_get(s, "enum"), *k = json_object_get(s, "const");
    if (e && !json_is_array(e)) return refuse(c, "'enum' must be an array");
    static const char *const WITH[] = {"enum", "const", "type", NULL};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)s, key, v)
        if (!str_listed(WITH, key) && !str_listed(ANNOTATIONS, key)) return refuse(c, "'%s' beside 'enum' or 'const' is not supported", key);
    size_t n = e ? json_array_size(e) : 1;
    const GuideNode **alt = arena_array(c->A, n + 1, sizeof *alt);
    int kept = 0;
    for (size_t i = 0; i < n && !c->failed; i++) {
        const json_t *x = e ? json_array_get(e, i) : k;
        if (fits_type(s, x) && (!k || !e || json_equal((json_t *)x, (json_t *)k))) alt[kept++] = literal(c, x);
    }
    if (c->failed) return NULL;
    if (!kept) return refuse(c, "no value of 'enum' or 'const' validates (none is of the schema's type)");
    return kept == 1 ? alt[0] : any_of(c, alt, kept);
}

/* ------------------------------------------------------------------ the types */

static const GuideNode *object_node(Compile *c, const json_t *s) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *extra = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return refuse(c, "'properties' must be an object");
    if (req && !json_is_array(req)) return refuse(c, "'required' must be an array of names");
    GuideNode *n = node_of(c, GN_OBJECT);
    size_t i;
    json_t *name;
    json_array_foreach((json_t *)req, i, name)
        if (!json_is_string(name) || !json_object_get(props, json_string_value(name)))
            return refuse(c, "'required' names %s, which 'properties' does not hold (not supported)",
                          json_is_string(name) ? json_string_value(name) : "a non-string");
    if (props) {   /* its properties and no others ({} alone for "properties": {}) */
        GuideProp *p = arena_array(c->A, json_object_size(props), sizeof *p);
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)props, key, v) {
            bool required = false;
            json_array_foreach((json_t *)req, i, name) required |= !strcmp(json_string_value(name), key);
            json_t *k = json_string(key);
            p[n->nprop] = (GuideProp){literal(c, k), compile(c, v), required};
            json_decref(k);
            if (c->failed) return NULL;
            n->nprop++;
        }
        n->prop = p;
        return n;
    }
    if (json_is_false(extra)) return n;   /* {} only */
    /* no "properties": any key, its value additionalProperties' (any value without it) */
    n->extra = json_is_object(extra) ? compile(c, extra) : &GUIDE_ANY;
    return c->failed ? NULL : n;
}

#define UNIQUE_MAX 63   /* the constants unique items may be: a bit each in the array's frame */

/* The constants node x may be (a literal, or any of them: enum, const, a boolean, null, one of one
 * through $refs) into list[*n], each text once; false where x may be something else, or a number with
 * a fraction or an exponent (1.0 and 1 are one value to a validator, not to their texts). */
static bool constants_of(const GuideNode *x, const GuideNode **list, int *n) {
    while (x->k == GN_ANYOF && x->nalt == 1) x = x->alt[0];
    if (x->k == GN_ANYOF) {
        for (int k = 0; k < x->nalt; k++)
            if (!constants_of(x->alt[k], list, n)) return false;
        return true;
    }
    if (x->k != GN_LITERAL || x->text[0] == '{' || x->text[0] == '[' || (strchr("-0123456789", x->text[0]) && strpbrk(x->text, ".eE"))) return false;
    for (int k = 0; k < *n; k++)
        if (list[k]->len == x->len && !memcmp(list[k]->text, x->text, x->len)) return true;
    if (*n == UNIQUE_MAX) return false;
    return list[(*n)++] = x, true;
}

/* uniqueItems true: the items are constants, each written at most once (n->alt). */
static bool unique_items(Compile *c, GuideNode *n) {
    const GuideNode *list[UNIQUE_MAX];
    int count = 0;
    if (!constants_of(n->items, list, &count))
        return refuse(c, "'uniqueItems' is supported for items that are constants (enum, const, booleans, null; numbers without "
                         "a fraction; at most %d)", UNIQUE_MAX), false;
    n->alt = arena_array(c->A, (size_t)count, sizeof *n->alt);
    memcpy(n->alt, list, (size_t)count * sizeof *list);
    n->nalt = count;
    if (n->min_items > count) return refuse(c, "'minItems' is above the %d constants the unique items may be", count), false;
    if (n->max_items < 0 || n->max_items > count) n->max_items = count;
    return true;
}

static const GuideNode *array_node(Compile *c, const json_t *s) {
    const json_t *items = json_object_get(s, "items");
    if (items && !json_is_object(items) && !json_is_boolean(items)) return refuse(c, "'items' as an array is not supported");
    GuideNode *n = node_of(c, GN_ARRAY);
    if (!count_of(c, s, "minItems", 0, &n->min_items) || !count_of(c, s, "maxItems", -1, &n->max_items)) return NULL;
    if (n->max_items >= 0 && n->max_items < n->min_items) return refuse(c, "'maxItems' is below 'minItems': nothing validates");
    if (json_is_false(items)) n->max_items = 0;
    if (json_is_false(items) && n->min_items) return refuse(c, "'items' is false and 'minItems' above 0: nothing validates");
    n->items = json_is_object(items) ? compile(c, items) : &GUIDE_ANY;
    if (!c->failed && json_is_true(json_object_get(s, "uniqueItems")) && !unique_items(c, n)) return NULL;
    return c->failed ? NULL : n;
}

/* The formats the guide writes, as regexes matched whole: each a part of what the format takes that
 * Python's and pydantic's readers take too (a year from 0001, no leap second, at most 6 fraction
 * digits, an offset always, lower-case hex, no leading zero in an address). A leap year's last two
 * digits are a multiple of 4 but 00, or its first two are and its last two 00 (Gregorian's, which
 * Python's proleptic calendar counts back to 0001). */
#define FMT_YEAR "(000[1-9]|00[1-9][0-9]|0[1-9][0-9][0-9]|[1-9][0-9][0-9][0-9])"
#define FMT_FOURS "(0[48]|[2468][048]|[13579][26])"
#define FMT_DATE "(" FMT_YEAR "-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))" \
                 "|([0-9][0-9]" FMT_FOURS "|" FMT_FOURS "00)-02-29)"
#define FMT_HOUR "([01][0-9]|2[0-3])"
#define FMT_TIME FMT_HOUR ":[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]" FMT_HOUR ":[0-5][0-9])"
#define FMT_OCTET "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
static const struct {
    const char *name, *re;
} FORMATS[] = {
    {"date", FMT_DATE},
    {"time", FMT_TIME},
    {"date-time", FMT_DATE "T" FMT_TIME},
    {"uuid", "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"},
    {"ipv4", FMT_OCTET "\\." FMT_OCTET "\\." FMT_OCTET "\\." FMT_OCTET},
};

#define NFORMATS (sizeof FORMATS / sizeof *FORMATS)

/* The formats' DFAs, compiled once for the process (their regexes are fixed; date-time's takes about
 * 2 ms), in an arena of their own that lives as long. */
static Arena format_arena;
static const GuideDfa *format_dfa[NFORMATS];
static pthread_once_t formats_compiled = PTHREAD_ONCE_INIT;

static void compile_formats(void) {
    char why[200];
    for (size_t k = 0; k < NFORMATS; k++) format_dfa[k] = guide_regex(&format_arena, FORMATS[k].re, strlen(FORMATS[k].re), false, why, sizeof why);
}

#define DFA_MIN_LENGTH_MAX 1024   /* a minLength beside a pattern or a format (its lengths' table grows with it) */

/* The lengths of the texts a string of n's DFA can still take from each state, within n's lengths
 * (n->lengths): a text from state s of L characters is accepted when one of L - 1 is from a state one
 * character leads to. Lengths up to min_len + states suffice: a longer accepted text holds a loop of
 * at most that many characters that can be left out. */
static bool dfa_lengths(Compile *c, GuideNode *n) {
    if (n->min_len == 0 && n->max_len < 0) return true;
    if (n->min_len > DFA_MIN_LENGTH_MAX)
        return refuse(c, "'minLength' beside a pattern or a format must be at most %d", DFA_MIN_LENGTH_MAX), false;
    const GuideDfa *d = n->dfa;
    int ns = d->nstates;
    n->len_cap = n->min_len + ns;
    if (n->max_len >= 0 && n->max_len < n->len_cap) n->len_cap = n->max_len;
    n->len_words = (int)(n->len_cap / 64 + 1);
    uint64_t *bits = arena_array(c->A, (size_t)ns * (size_t)n->len_words, sizeof *bits);
    int16_t *succ = xmalloc((size_t)ns * 128 * sizeof *succ);
    int *nsucc = xcalloc((size_t)ns, sizeof *nsucc);
    for (int st = 0; st < ns; st++) {   /* each state's successors, once each */
        for (int b = 0; b < 128; b++) {
            int16_t t = d->next[st * 128 + b];
            bool seen = t < 0;
            for (int k = 0; k < nsucc[st] && !seen; k++) seen = succ[st * 128 + k] == t;
            if (!seen) succ[st * 128 + nsucc[st]++] = t;
        }
        if (d->accept[st]) bits[(size_t)st * n->len_words] = 1;
    }
    for (int64_t L = 1; L <= n->len_cap; L++)
        for (int st = 0; st < ns; st++)
            for (int k = 0; k < nsucc[st]; k++) {
                const uint64_t *t = bits + (size_t)succ[st * 128 + k] * n->len_words;
                if (t[(L - 1) >> 6] >> ((L - 1) & 63) & 1) {
                    bits[(size_t)st * n->len_words + (L >> 6)] |= 1ull << (L & 63);
                    break;
                }
            }
    free(succ);
    free(nsucc);
    n->lengths = bits;
    if (!guide_dfa_room(n, 0, 0)) return refuse(c, "no text of the pattern or format has a length within 'minLength' and 'maxLength'"), false;
    return true;
}

/* A string's pattern or format as the DFA its text keeps to (n->dfa), with its lengths. */
static bool string_shape(Compile *c, const json_t *s, GuideNode *n) {
    const json_t *pattern = json_object_get(s, "pattern"), *format = json_object_get(s, "format");
    if (!pattern && !format) return true;
    if (pattern && format) return refuse(c, "'pattern' beside 'format' is not supported"), false;
    if (!json_is_string(pattern ? pattern : format)) return refuse(c, "'%s' must be a string", pattern ? "pattern" : "format"), false;
    char why[200], shown[SHOWN_MAX];
    const char *re = json_string_value(pattern ? pattern : format);
    if (pattern) {
        n->dfa = guide_regex(c->A, re, json_string_length(pattern), true, why, sizeof why);
        return n->dfa ? dfa_lengths(c, n) : (refuse(c, "'pattern' %s: %s", shown_text(re, strlen(re), shown), why), false);
    }
    pthread_once(&formats_compiled, compile_formats);
    for (size_t k = 0; k < NFORMATS && !n->dfa; k++)
        if (!strcmp(FORMATS[k].name, re)) n->dfa = format_dfa[k];   /* each compiles (test_guide's walks use them all) */
    if (!n->dfa) return refuse(c, "the format '%s' is not supported (only date, time, date-time, uuid and ipv4)",
                                shown_text(re, strlen(re), shown)), false;
    return dfa_lengths(c, n);
}

static const GuideNode *string_node(Compile *c, const json_t *s) {
    GuideNode *n = node_of(c, GN_STRING);
    if (!count_of(c, s, "minLength", 0, &n->min_len) || !count_of(c, s, "maxLength", -1, &n->max_len)) return NULL;
    if (n->max_len >= 0 && n->max_len < n->min_len) return refuse(c, "'maxLength' is below 'minLength': nothing validates");
    return string_shape(c, s, n) ? n : NULL;
}

#define INTEGER_BOUND 1e17      /* bounds beyond the 18 digits an integer has here are refused */

/* An integer bound: v rounded inward (exclusive: one step further), within INTEGER_BOUND. */
static bool bound_of(Compile *c, const json_t *s, const char *key, bool upper, bool exclusive, bool *has, int64_t *out) {
    const json_t *v = json_object_get(s, key);
    if (!v) return true;
    double x = json_number_value(v);
    if (!json_is_number(v) || fabs(x) > INTEGER_BOUND) return refuse(c, "'%s' must be a number within 1e17", key), false;
    double r = upper ? floor(x) : ceil(x);
    if (exclusive && r == x) r += upper ? -1 : 1;
    int64_t b = (int64_t)r;
    if (!*has || (upper ? b < *out : b > *out)) *out = b;
    *has = true;
    return true;
}

/* An integer's multipleOf (1 when absent): a positive integer within INTEGER_BOUND. Every integer is
 * a multiple of some fractions, yet validators divide in doubles (3 / 1e-05 is not whole to Python's
 * jsonschema), so a fraction is refused. */
static bool multiple_of(Compile *c, const json_t *s, int64_t *out) {
    const json_t *v = json_object_get(s, "multipleOf");
    double x = json_number_value(v);
    if (v && (!json_is_number(v) || x < 1 || x != floor(x) || x > INTEGER_BOUND))
        return refuse(c, "'multipleOf' of an integer must be a whole number from 1 to 1e17 (a fraction is not supported)"), false;
    return *out = v ? (int64_t)x : 1, true;
}

static const GuideNode *integer_node(Compile *c, const json_t *s) {
    GuideNode *n = node_of(c, GN_INTEGER);
    if (!multiple_of(c, s, &n->multiple) || !bound_of(c, s, "minimum", false, false, &n->has_lo, &n->lo) || !bound_of(c, s, "maximum", true, false, &n->has_hi, &n->hi) ||
        !bound_of(c, s, "exclusiveMinimum", false, true, &n->has_lo, &n->lo) ||
        !bound_of(c, s, "exclusiveMaximum", true, true, &n->has_hi, &n->hi))
        return NULL;
    if (n->has_lo && n->has_hi && (n->hi < n->lo || multiple_from(n->lo, n->multiple) > n->hi))
        return refuse(c, "the integer's bounds leave no value%s", n->multiple > 1 ? " that is a multiple of 'multipleOf'" : "");
    return n;
}

/* A number's bounds on the guide's grid of 10^-18 (http_guide.c), as the answer's client compares
 * them: the number it parses rounds to the nearest double (ties to even), which it compares with the
 * bound. So a bound x admits the text values that round to x or past it: those beyond the midpoint of
 * x and its neighbour on the other side, and the midpoint itself where it rounds to x. */

/* x = m * 2^e exactly, m of x's sign and at most 53 bits. */
static int64_t double_significand(double x, int *e) {
    double f = frexp(x, e);
    *e -= 53;
    return (int64_t)ldexp(f, 53);
}

/* The midpoint of x and its neighbour (nextafter x) on the grid, rounded down; *exact: it is a grid
 * point. */
static __int128 midpoint_grid(double x, double neighbour, bool *exact) {
    if (x == 0) return *exact = false, neighbour < 0 ? -1 : 0;   /* half the least subnormal */
    int ex, en;
    int64_t mx = double_significand(x, &ex), mn = double_significand(neighbour, &en);
    if (!mn) en = ex;   /* zero, beside the least subnormal */
    int e = ex < en ? ex : en;   /* the two differ by one binade at most */
    __int128 v = ((__int128)mx * ((__int128)1 << (ex - e)) + (__int128)mn * ((__int128)1 << (en - e))) * 1000000000000000000LL;
    e -= 1;   /* the sum's half */
    if (e >= 0) return *exact = true, v * ((__int128)1 << e);
    if (-e > 115) return *exact = v == 0, v < 0 ? -1 : 0;   /* |v| < 2^115: below one grid step */
    __int128 d = (__int128)1 << -e, q = v / d;
    if (q * d > v) q--;   /* C's division truncates: the floor */
    *exact = q * d == v;
    return q;
}

static bool even_significand(double x) {
    int e;
    return !(double_significand(x, &e) & 1);
}

/* The least grid value a bound admits from below (minimum x; exclusiveMinimum: the next double's). */
static __int128 grid_lower(double x) {
    bool exact;
    __int128 m = midpoint_grid(x, nextafter(x, -INFINITY), &exact);
    return exact && even_significand(x) ? m : m + 1;
}

/* The greatest grid value a bound admits from above (maximum x; exclusiveMaximum: the previous
 * double's). */
static __int128 grid_upper(double x) {
    bool exact;
    __int128 m = midpoint_grid(x, nextafter(x, INFINITY), &exact);
    return exact && !even_significand(x) ? m - 1 : m;
}

/* A number bound: the grid value it admits, within INTEGER_BOUND. */
static bool real_bound_of(Compile *c, const json_t *s, const char *key, bool upper, bool exclusive, GuideNode *n) {
    const json_t *v = json_object_get(s, key);
    if (!v) return true;
    double x = json_number_value(v);
    if (!json_is_number(v) || fabs(x) > INTEGER_BOUND) return refuse(c, "'%s' must be a number within 1e17", key), false;
    if (exclusive) x = nextafter(x, upper ? -INFINITY : INFINITY);
    __int128 g = upper ? grid_upper(x) : grid_lower(x);
    if (upper ? g < n->real_hi : g > n->real_lo) *(upper ? &n->real_hi : &n->real_lo) = g;
    return true;
}

static const GuideNode *number_node(Compile *c, const json_t *s) {
    static const char *const BOUNDS[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", NULL};
    if (json_object_get(s, "multipleOf")) return refuse(c, "'multipleOf' of a number is not supported (only of an integer)");
    GuideNode *n = node_of(c, GN_NUMBER);
    n->real_lo = -((__int128)1 << 126), n->real_hi = (__int128)1 << 126;
    for (int i = 0; BOUNDS[i]; i++) {
        n->real_bounded |= json_object_get(s, BOUNDS[i]) != NULL;
        if (!real_bound_of(c, s, BOUNDS[i], i % 2, i >= 2, n)) return NULL;
    }
    if (n->real_bounded && !guide_number_has_value(n))
        return refuse(c, "the number's bounds leave no value of at most 16 decimals (written without an exponent)");
    return n;
}

static const GuideNode *node_of_type(Compile *c, const json_t *s, const char *t) {
    if (!str_listed(TYPES, t)) return refuse(c, "the type '%s' is not a JSON Schema type", t);
    if (!strcmp(t, "null")) return literal(c, json_null());
    if (!strcmp(t, "boolean")) {
        const GuideNode *alt[2] = {literal(c, json_true()), literal(c, json_false())};
        return any_of(c, alt, 2);
    }
    if (!strcmp(t, "object")) return object_node(c, s);
    if (!strcmp(t, "array")) return array_node(c, s);
    if (!strcmp(t, "string")) return string_node(c, s);
    if (!strcmp(t, "integer")) return integer_node(c, s);
    return number_node(c, s);
}

/* Without "type": the type its keywords are of (object, array, string), else any value. */
static const GuideNode *untyped(Compile *c, const json_t *s) {
    static const char *const OBJECT[] = {"properties", "required", "additionalProperties", NULL};
    static const char *const ARRAY[] = {"items", "minItems", "maxItems", NULL};
    static const char *const STRING[] = {"minLength", "maxLength", "pattern", "format", NULL};
    static const char *const NUMBER[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", NULL};
    for (int i = 0; NUMBER[i]; i++)
        if (json_object_get(s, NUMBER[i])) return refuse(c, "'%s' without a 'type' is not supported", NUMBER[i]);
    for (int i = 0; OBJECT[i]; i++)
        if (json_object_get(s, OBJECT[i])) return object_node(c, s);
    for (int i = 0; ARRAY[i]; i++)
        if (json_object_get(s, ARRAY[i])) return array_node(c, s);
    if (json_is_true(json_object_get(s, "uniqueItems"))) return array_node(c, s);   /* else any array might repeat */
    for (int i = 0; STRING[i]; i++)
        if (json_object_get(s, STRING[i])) return string_node(c, s);
    return &GUIDE_ANY;
}

static const GuideNode *typed(Compile *c, const json_t *s) {
    const json_t *t = json_object_get(s, "type");
    if (!t) return untyped(c, s);
    if (json_is_string(t)) return node_of_type(c, s, json_string_value(t));
    if (!json_is_array(t) || !json_array_size(t)) return refuse(c, "'type' must be a type's name or an array of them");
    size_t n = json_array_size(t), i;
    const GuideNode **alt = arena_array(c->A, n, sizeof *alt);
    json_t *x;
    json_array_foreach((json_t *)t, i, x) {
        if (!json_is_string(x)) return refuse(c, "'type' must be a type's name or an array of them");
        if (!(alt[i] = node_of_type(c, s, json_string_value(x)))) return NULL;
    }
    return n == 1 ? alt[0] : any_of(c, alt, (int)n);
}

/* ------------------------------------------------------------------ combinators */

/* The schema a local $ref ("#", "#/$defs/Name", any "#/json/pointer") points at in the root. */
static const json_t *resolve(Compile *c, const char *ref) {
    if (ref[0] != '#') return NULL;
    const json_t *at = c->root;
    for (const char *p = ref + 1; *p == '/' && at;) {
        const char *end = strchr(p + 1, '/');
        size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1);
        char key[256];
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof key; i++) {   /* ~1 is '/', ~0 is '~' */
            char ch = p[1 + i];
            if (ch == '~' && i + 1 < n && (p[2 + i] == '0' || p[2 + i] == '1')) ch = p[2 + i++] == '0' ? '~' : '/';
            key[k++] = ch;
        }
        key[k] = 0;
        at = json_is_array(at) ? json_array_get(at, (size_t)strtoul(key, NULL, 10)) : json_object_get(at, key);
        p += 1 + n;
    }
    return at;
}

/* The keywords of s but `skip`, over those of branch b (a copy, kept in c->owned); a keyword both set
 * differently is refused (the branch's rule and its schema's would both hold). */
static const json_t *merged(Compile *c, const json_t *s, const json_t *b, const char *skip) {
    if (!json_is_object(b)) return refuse(c, "'%s' must hold schemas (objects)", skip), NULL;
    json_t *m = json_copy((json_t *)b);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)s, key, v) {
        if (!strcmp(key, skip) || str_listed(ANNOTATIONS, key)) continue;
        const json_t *there = json_object_get(m, key);
        if (there && !json_equal((json_t *)there, v)) {
            json_decref(m);
            return refuse(c, "'%s' and a branch of '%s' both set '%s' (not supported)", key, skip, key), NULL;
        }
        json_object_set(m, key, v);
    }
    json_array_append_new(c->owned, m);
    return m;
}

/* The JSON types a branch may be: bits of TYPES (integer within number); all when untyped. */
static unsigned type_bits(const json_t *s) {
    const json_t *t = json_object_get(s, "type");
    if (!t) return ~0u;
    unsigned bits = 0;
    size_t i;
    json_t *x;
    for (i = 0; TYPES[i]; i++)
        if (json_is_string(t) && !strcmp(json_string_value(t), TYPES[i])) bits |= 1u << i;
    json_array_foreach((json_t *)t, i, x)
        for (int k = 0; TYPES[k]; k++)
            if (json_is_string(x) && !strcmp(json_string_value(x), TYPES[k])) bits |= 1u << k;
    if (bits & (1u << 4 | 1u << 5)) bits |= 1u << 4 | 1u << 5;   /* an integer is a number */
    return bits;
}

/* anyOf, oneOf (its branches of types apart, where it is anyOf), allOf of one schema: each branch with
 * the keywords of its schema. */
static const GuideNode *combined(Compile *c, const json_t *s, const char *word) {
    const json_t *list = json_object_get(s, word);
    size_t n = json_array_size(list), i;
    if (!json_is_array(list) || !n) return refuse(c, "'%s' must be a non-empty array of schemas", word);
    if (!strcmp(word, "allOf") && n > 1) return refuse(c, "'allOf' of more than one schema is not supported");
    const GuideNode **alt = arena_array(c->A, n, sizeof *alt);
    unsigned seen = 0;
    for (i = 0; i < n; i++) {
        const json_t *b = merged(c, s, json_array_get(list, i), word);
        if (!b) return NULL;
        unsigned bits = type_bits(b);
        if (!strcmp(word, "oneOf") && (bits & seen))
            return refuse(c, "'oneOf' whose branches may hold values of one type is not supported (one of types apart, "
                             "each with its 'type', is; so is 'anyOf')");
        seen |= bits;
        if (!(alt[i] = compile(c, b))) return NULL;
    }
    return n == 1 ? alt[0] : any_of(c, alt, (int)n);
}

static const GuideNode *reference(Compile *c, const json_t *s) {
    const json_t *ref = json_object_get(s, "$ref");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)s, key, v)
        if (strcmp(key, "$ref") && !str_listed(ANNOTATIONS, key)) return refuse(c, "'%s' beside '$ref' is not supported", key);
    const json_t *to = json_is_string(ref) ? resolve(c, json_string_value(ref)) : NULL;
    if (!to) return refuse(c, "'$ref' must point into the schema (\"#/$defs/Name\"): %s", json_is_string(ref) ? json_string_value(ref) : "not a string");
    const GuideNode *one = compile(c, to);   /* memoized: a recursive schema points back at its node */
    return one ? any_of(c, &one, 1) : NULL;
}

/* ------------------------------------------------------------------ a schema */

/* s's node: made once (the node stands for the schema before it is filled, for $refs back to it). */
static const GuideNode *compile(Compile *c, const json_t *s) {
    if (c->failed) return NULL;
    if (json_is_true(s)) return &GUIDE_ANY;
    if (!json_is_object(s)) return refuse(c, "a schema must be an object or true");
    for (const Seen *k = c->seen; k; k = k->next)
        if (k->schema == s) return k->node;
    if (c->depth >= SCHEMA_MAX_DEPTH) return refuse(c, "schemas nested past %d levels", SCHEMA_MAX_DEPTH);
    GuideNode *n = node_of(c, GN_ANYOF);   /* filled below: one of one */
    n->alt = arena_alloc(c->A, sizeof *n->alt);
    n->nalt = 1;
    Seen *k = arena_alloc(c->A, sizeof *k);
    *k = (Seen){s, n, c->seen};
    c->seen = k;
    c->depth++;
    const GuideNode *got = !keywords_known(c, s)                              ? NULL
                         : json_object_get(s, "$ref")                        ? reference(c, s)
                         : json_object_get(s, "anyOf")                       ? combined(c, s, "anyOf")
                         : json_object_get(s, "oneOf")                       ? combined(c, s, "oneOf")
                         : json_object_get(s, "allOf")                       ? combined(c, s, "allOf")
                         : json_object_get(s, "enum") || json_object_get(s, "const") ? constants(c, s)
                                                                             : typed(c, s);
    c->depth--;
    if (!got) return NULL;
    n->alt[0] = got;
    return n;
}

GuideGrammar *guide_schema(const json_t *schema, const char *field, ApiError *err) {
    GuideGrammar *g = xcalloc(1, sizeof *g);
    Compile c = {.A = &g->arena, .root = schema, .owned = json_array(), .field = field, .err = err};
    g->root = compile(&c, schema);
    json_decref(c.owned);
    if (g->root) return g;
    if (!c.failed) api_refuse(err, 400, "field '%s': the schema is not supported", field);
    guide_grammar_free(g);
    return NULL;
}


