/* http_regex.c — the regular expressions of guided decoding: a schema's "pattern", the formats
 * written as ones, and structured_outputs' regex (http_schema.c), a subset of ECMAScript's syntax
 * compiled to a DFA over the ASCII bytes of a string's decoded text (or of the answer's text, for a
 * regex), its states from which no text the guide writes is accepted cut (http_guide.h;
 * docs/serving.md, "Structured outputs"). Over those bytes the subset means the same in Python's re,
 * which vLLM's regex follows: the differences (Python's \s also holds \x1c-\x1f, ECMAScript's `.`
 * leaves out \r) lie in bytes the guide never writes or make the guide's texts fewer, never others.
 *
 * The subset: literals, `.`, classes (`[a-z_]`, `[^...]`), the escapes \d \D \w \W \s \S, \t \n \r
 * \f \v, \xhh and \uhhhh of ASCII, a punctuation character escaped; groups `(...)` and `(?:...)`,
 * `|`, and `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` (lazy ones too: for a whole match they are the
 * same). `^` may only start the pattern and `$` only end it. Anything else (backreferences,
 * lookarounds, \b, non-ASCII, named groups, ...) is refused by name. The strings the guide writes are
 * ASCII, so the classes need no Unicode: \s, \W and `.` are exact over them. */
#include "http_guide.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RE_MAX_NODES 1200     /* NFA nodes; a pattern past them is refused */
#define RE_MAX_STATES 400     /* DFA states */
#define RE_MAX_REPEAT 64      /* {n,m}'s bounds */
#define RE_MAX_DEPTH 64       /* groups nested */
#define RE_WORDS ((RE_MAX_NODES + 63) / 64)

/* A Thompson NFA node: on a byte of cls to out; an epsilon node (!has_cls) to out and out2 (-1: none). */
typedef struct {
    uint64_t cls[2];
    bool has_cls;
    int out, out2;
} ReNode;

/* A fragment of the NFA: its start, and its end (an epsilon node whose out is still -1). */
typedef struct {
    int start, end;
} Frag;

typedef struct {
    ReNode *node;
    int n;
    const char *re;
    size_t len, at;
    int depth;
    char *why;
    size_t whylen;
    bool failed;
} Re;

static Frag fail_re(Re *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static Frag fail_re(Re *r, const char *fmt, ...) {
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, r->whylen, fmt, ap);
        va_end(ap);
    }
    r->failed = true;
    return (Frag){0, 0};
}

static int new_node(Re *r, const uint64_t *cls) {
    if (r->n >= RE_MAX_NODES) return fail_re(r, "the pattern is too large (past %d states)", RE_MAX_NODES), 0;
    ReNode *x = &r->node[r->n];
    *x = (ReNode){.out = -1, .out2 = -1, .has_cls = cls != NULL};
    if (cls) x->cls[0] = cls[0], x->cls[1] = cls[1];
    return r->n++;
}

static void cls_add(uint64_t *cls, int lo, int hi) {
    for (int b = lo; b <= hi; b++) cls[b >> 6] |= 1ull << (b & 63);
}

/* A fragment matching one byte of cls. */
static Frag byte_frag(Re *r, const uint64_t *cls) {
    int a = new_node(r, cls), e = new_node(r, NULL);
    if (!r->failed) r->node[a].out = e;
    return (Frag){a, e};
}

static Frag empty_frag(Re *r) {
    int e = new_node(r, NULL);
    return (Frag){e, e};
}

static Frag concat(Re *r, Frag a, Frag b) {
    if (!r->failed) r->node[a.end].out = b.start;
    return (Frag){a.start, b.end};
}

/* a or b (b.start < 0: a or nothing); loop: a again after a (a+), with or: a* or a?. */
static Frag alternate(Re *r, Frag a, Frag b) {
    int s = new_node(r, NULL), e = new_node(r, NULL);
    if (r->failed) return a;
    r->node[s].out = a.start, r->node[s].out2 = b.start;
    r->node[a.end].out = e, r->node[b.end].out = e;
    return (Frag){s, e};
}

static Frag optional(Re *r, Frag a) { return alternate(r, a, empty_frag(r)); }

static Frag plus(Re *r, Frag a) {
    int e = new_node(r, NULL);
    if (r->failed) return a;
    r->node[a.end].out = a.start, r->node[a.end].out2 = e;
    return (Frag){a.start, e};
}

/* \d \w \s and their negations, into cls; false for another letter. */
static bool class_escape(int c, uint64_t *cls) {
    uint64_t k[2] = {0, 0};
    int lower = c | 0x20;
    if (lower == 'd') cls_add(k, '0', '9');
    else if (lower == 'w') cls_add(k, '0', '9'), cls_add(k, 'a', 'z'), cls_add(k, 'A', 'Z'), cls_add(k, '_', '_');
    else if (lower == 's') cls_add(k, '\t', '\r'), cls_add(k, ' ', ' ');
    else return false;
    if (c != lower) k[0] = ~k[0], k[1] = ~k[1];   /* \D \W \S: the ASCII bytes but those */
    cls[0] |= k[0], cls[1] |= k[1];
    return true;
}

/* The byte of a single-character escape after its backslash (at r->at, taken), or -1 refused. */
static int char_escape(Re *r) {
    int c = r->at < r->len ? (unsigned char)r->re[r->at++] : 0;
    const char *from = "tnrfv0", *to = "\t\n\r\f\v";
    const char *f = strchr(from, c);
    if (c && f) return f - from < 5 ? to[f - from] : (fail_re(r, "the escape '\\0' is not supported"), -1);
    if (c == 'x' || c == 'u') {
        int n = c == 'x' ? 2 : 4, v = 0;
        for (int k = 0; k < n; k++) {
            int h = r->at < r->len ? r->re[r->at] : 0;
            int d = h >= '0' && h <= '9' ? h - '0' : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10 : -1;
            if (d < 0) return fail_re(r, "the escape '\\%c' needs %d hex digits", c, n), -1;
            v = v * 16 + d, r->at++;
        }
        return v < 0x80 ? v : (fail_re(r, "the escape of U+%04X is not supported (only ASCII)", (unsigned)v), -1);
    }
    if (c && c < 0x80 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')) return c;
    return fail_re(r, "the escape '\\%c' is not supported", c ? c : ' '), -1;
}

/* [...] after its '[' (taken) into cls. */
static void bracket(Re *r, uint64_t *cls) {
    bool negate = r->at < r->len && r->re[r->at] == '^';
    r->at += negate;
    uint64_t k[2] = {0, 0};
    for (bool first = true; !r->failed; first = false) {
        if (r->at >= r->len) return (void)fail_re(r, "a class '[' is not closed");
        int c = (unsigned char)r->re[r->at++];
        if (c == ']' && first) return (void)fail_re(r, "an empty class '[]' or '[^]' is not supported");
        if (c == ']') break;
        if (c >= 0x80) return (void)fail_re(r, "a non-ASCII character in the pattern is not supported");
        if (c == '\\' && r->at < r->len && class_escape((unsigned char)r->re[r->at], k)) {
            r->at++;
            continue;
        }
        if (c == '\\') c = char_escape(r);
        if (c < 0) return;
        int hi = c;
        if (r->at + 1 < r->len && r->re[r->at] == '-' && r->re[r->at + 1] != ']') {
            r->at++;
            hi = (unsigned char)r->re[r->at++];
            if (hi == '\\') hi = char_escape(r);
            if (hi < 0) return;
            if (hi >= 0x80 || hi < c) return (void)fail_re(r, "a class's range is out of order or not ASCII");
        }
        cls_add(k, c, hi);
    }
    if (negate) k[0] = ~k[0], k[1] = ~k[1];
    cls[0] = k[0], cls[1] = k[1];
}

static Frag parse_alt(Re *r);

/* One atom: a group, a class, '.', an escape or a literal. */
static Frag parse_atom(Re *r) {
    int c = (unsigned char)r->re[r->at++];
    uint64_t cls[2] = {0, 0};
    if (c == '(') {
        if (r->at + 1 < r->len && r->re[r->at] == '?' && r->re[r->at + 1] == ':') r->at += 2;
        else if (r->at < r->len && r->re[r->at] == '?') return fail_re(r, "a group '(?' other than '(?:' is not supported (lookarounds, named groups, flags)");
        if (++r->depth > RE_MAX_DEPTH) return fail_re(r, "groups nested past %d", RE_MAX_DEPTH);
        Frag f = parse_alt(r);
        r->depth--;
        if (r->at >= r->len || r->re[r->at] != ')') return fail_re(r, "a group '(' is not closed");
        r->at++;
        return f;
    }
    if (c == '[') return bracket(r, cls), byte_frag(r, cls);
    if (c == '.') return cls_add(cls, 0, 127), cls[0] &= ~((1ull << '\n') | (1ull << '\r')), byte_frag(r, cls);
    if (c == '\\' && r->at < r->len && class_escape((unsigned char)r->re[r->at], cls)) return r->at++, byte_frag(r, cls);
    if (c == '\\' && r->at < r->len && strchr("bB123456789k", r->re[r->at]))
        return fail_re(r, "the escape '\\%c' is not supported (word boundaries and backreferences)", r->re[r->at]);
    if (c == '\\') c = char_escape(r);
    else if (c >= 0x80) return fail_re(r, "a non-ASCII character in the pattern is not supported");
    else if (strchr("^$", c)) return fail_re(r, "'%c' is supported only at the pattern's start ('^') or end ('$')", c);
    else if (strchr("*+?{})]|", c)) return fail_re(r, "'%c' has nothing to repeat or close here", c);
    if (c < 0) return (Frag){0, 0};
    cls_add(cls, c, c);
    return byte_frag(r, cls);
}

int guide_quantifier(const char *s, size_t len, size_t *at, int max, bool spaces, int *lo, int *hi, char *why, size_t whylen) {
    size_t i = *at;
    char q = i < len ? s[i] : 0;
    if (q == '*' || q == '+' || q == '?') return *lo = q == '+', *hi = q == '?' ? 1 : -1, *at = i + 1, 1;
    if (q != '{') return 0;
    int v[2] = {-1, -1}, k = 0;
    for (i++;; i++, k = 1) {   /* m, then after a comma n */
        while (spaces && i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if ((v[k] = (v[k] < 0 ? 0 : v[k]) * 10 + (s[i] - '0')) > max) return snprintf(why, whylen, "a repeat count past %d", max), -1;
        while (spaces && i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (k || i >= len || s[i] != ',') break;
    }
    int m = v[0], n = k ? v[1] : v[0];
    if (m < 0 || i >= len || s[i] != '}' || (n >= 0 && n < m))
        return snprintf(why, whylen, "a repeat '{' is not {m}, {m,} or {m,n} with m <= n"), -1;
    return *lo = m, *hi = n, *at = i + 1, 1;
}

/* The atom at from again, a fresh copy (r->at left after it). */
static Frag atom_copy(Re *r, size_t from) {
    r->at = from;
    return parse_atom(r);
}

/* An atom and its quantifier: *, +, ?, {n}, {n,}, {n,m} (n mandatory copies, then more optional
 * ones or any number); a copy past the first is its text parsed again. */
static Frag parse_repeat(Re *r) {
    size_t from = r->at;
    Frag f = parse_atom(r);
    if (r->failed || r->at >= r->len) return f;
    int lo, hi, q = guide_quantifier(r->re, r->len, &r->at, RE_MAX_REPEAT, false, &lo, &hi, r->why, r->whylen);   /* hi -1: no most */
    if (q < 0) return r->failed = true, f;
    if (!q) return f;
    if (r->at < r->len && r->re[r->at] == '?') r->at++;   /* lazy: the same for a whole match */
    size_t after = r->at;
    Frag out = empty_frag(r);
    for (int k = 0; k < lo && !r->failed; k++) out = concat(r, out, k ? atom_copy(r, from) : f);
    if (hi < 0) out = concat(r, out, optional(r, plus(r, lo ? atom_copy(r, from) : f)));
    for (int k = lo; k < hi && !r->failed; k++) out = concat(r, out, optional(r, k ? atom_copy(r, from) : f));
    r->at = after;
    return out;
}

static Frag parse_concat(Re *r) {
    Frag f = empty_frag(r);
    while (!r->failed && r->at < r->len && r->re[r->at] != '|' && r->re[r->at] != ')') {
        if (r->re[r->at] == '$' && r->at + 1 == r->len && r->depth == 0) break;   /* the end's anchor */
        f = concat(r, f, parse_repeat(r));
    }
    return f;
}

static Frag parse_alt(Re *r) {
    Frag f = parse_concat(r);
    while (!r->failed && r->at < r->len && r->re[r->at] == '|') {
        r->at++;
        f = alternate(r, f, parse_concat(r));
    }
    return f;
}

/* ------------------------------------------------------------------ the DFA */

static bool has(const uint64_t *set, int i) { return set[i >> 6] >> (i & 63) & 1; }

/* The epsilon closure of set (RE_WORDS words) in place; stack holds RE_MAX_NODES. */
static void closure(const Re *r, uint64_t *set, int *stack) {
    int top = 0;
    for (int i = 0; i < r->n; i++)
        if (has(set, i)) stack[top++] = i;
    while (top) {
        const ReNode *x = &r->node[stack[--top]];
        int outs[2] = {x->has_cls ? -1 : x->out, x->has_cls ? -1 : x->out2};
        for (int k = 0; k < 2; k++)
            if (outs[k] >= 0 && !has(set, outs[k])) set[outs[k] >> 6] |= 1ull << (outs[k] & 63), stack[top++] = outs[k];
    }
}

/* The bytes a string's decoded text may hold as the guide writes it: printable ASCII (with '"' and
 * '\\' escaped) and the control characters of JSON's short escapes. */
static bool writable(int b) { return (b >= 0x20 && b < 0x80) || b == '\b' || b == '\t' || b == '\n' || b == '\f' || b == '\r'; }

typedef struct {
    uint64_t (*set)[RE_WORDS];
    uint64_t *hash;
    int n;
} States;

/* The state of set (added when new), or -1 past RE_MAX_STATES. */
static int state_of(States *st, const uint64_t *set) {
    uint64_t h = 1469598103934665603ull;
    for (int w = 0; w < RE_WORDS; w++) h = (h ^ set[w]) * 1099511628211ull;
    for (int k = 0; k < st->n; k++)
        if (st->hash[k] == h && !memcmp(st->set[k], set, sizeof st->set[k])) return k;
    if (st->n == RE_MAX_STATES) return -1;
    memcpy(st->set[st->n], set, sizeof st->set[0]);
    st->hash[st->n] = h;
    return st->n++;
}

/* The subset construction from start, accepting where node end is; next [RE_MAX_STATES * 128]. */
static int subsets(Re *r, int start, int end, int16_t *next, uint8_t *accept) {
    States st = {xcalloc(RE_MAX_STATES, sizeof *st.set), xcalloc(RE_MAX_STATES, sizeof *st.hash), 0};
    int *stack = xmalloc(RE_MAX_NODES * sizeof *stack);
    uint64_t set[RE_WORDS] = {0};
    set[start >> 6] |= 1ull << (start & 63);
    closure(r, set, stack);
    state_of(&st, set);
    for (int s = 0; s < st.n && !r->failed; s++) {
        accept[s] = has(st.set[s], end);
        for (int b = 0; b < 128; b++) {
            memset(set, 0, sizeof set);
            bool any = false;
            for (int i = 0; writable(b) && i < r->n; i++) {
                const ReNode *x = &r->node[i];
                if (x->has_cls && has(st.set[s], i) && has(x->cls, b)) set[x->out >> 6] |= 1ull << (x->out & 63), any = true;
            }
            if (any) closure(r, set, stack);
            int t = any ? state_of(&st, set) : -1;
            if (any && t < 0) fail_re(r, "the pattern needs more than %d states", RE_MAX_STATES);
            next[s * 128 + b] = (int16_t)t;
        }
    }
    int n = st.n;
    free(st.set);
    free(st.hash);
    free(stack);
    return n;
}

/* Cuts every transition into a state from which no accepting one is reached; false when the start is
 * such a state. */
static bool cut_dead(int n, int16_t *next, const uint8_t *accept) {
    uint8_t *live = xcalloc((size_t)n, 1);
    for (bool more = true; more;) {
        more = false;
        for (int s = 0; s < n; s++) {
            bool l = accept[s];
            for (int b = 0; b < 128 && !l; b++) l = next[s * 128 + b] >= 0 && live[next[s * 128 + b]];
            if (l && !live[s]) live[s] = 1, more = true;
        }
    }
    for (int k = 0; k < n * 128; k++)
        if (next[k] >= 0 && !live[next[k]]) next[k] = -1;
    bool start = live[0];
    free(live);
    return start;
}

const GuideDfa *guide_regex(Arena *A, const char *re, size_t len, bool search, char *why, size_t whylen) {
    Re r = {.node = xmalloc(RE_MAX_NODES * sizeof *r.node), .re = re, .len = len, .why = why, .whylen = whylen};
    bool first = len && re[0] == '^', last = false;   /* matched whole, '^' and '$' there add nothing */
    r.at = first;
    Frag f = parse_alt(&r);
    if (!r.failed && r.at < len && re[r.at] == '$' && r.at + 1 == len) last = search, r.at++;
    if (!r.failed && r.at < len) fail_re(&r, "'%c' is not matched here", re[r.at]);
    for (size_t i = first, depth = 0; search && (first || last) && i < len && !r.failed; i++) {   /* ^a|b$: per branch */
        if (re[i] == '\\') i++;
        else if (re[i] == '[') while (i + 1 < len && re[++i] != ']') i += re[i] == '\\';
        else depth += re[i] == '(', depth -= re[i] == ')';
        if (i < len && re[i] == '|' && !depth) fail_re(&r, "'|' beside '^' or '$' outside a group is not supported");
    }
    uint64_t all[2] = {~0ull, ~0ull};
    if (search && !first) f = concat(&r, optional(&r, plus(&r, byte_frag(&r, all))), f);   /* a match anywhere */
    if (search && !last) f = concat(&r, f, optional(&r, plus(&r, byte_frag(&r, all))));
    int16_t *next = xmalloc(RE_MAX_STATES * 128 * sizeof *next);
    uint8_t *accept = xcalloc(RE_MAX_STATES, 1);
    int n = r.failed ? 0 : subsets(&r, f.start, f.end, next, accept);
    if (!r.failed && !cut_dead(n, next, accept)) fail_re(&r, "no string the guide writes (ASCII) matches it");
    GuideDfa *d = NULL;
    if (!r.failed) {
        d = arena_alloc(A, sizeof *d);
        d->nstates = n;
        d->next = arena_array(A, (size_t)n * 128, sizeof *d->next);
        memcpy(d->next, next, (size_t)n * 128 * sizeof *next);
        d->accept = arena_array(A, (size_t)n, 1);
        memcpy(d->accept, accept, (size_t)n);
    }
    free(next);
    free(accept);
    free(r.node);
    return d;
}
