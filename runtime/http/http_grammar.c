/* http_grammar.c — structured_outputs' grammar: a GBNF grammar (llama.cpp's and xgrammar's EBNF) as
 * the raw-text grammar guided decoding follows (http_guide.h; docs/serving.md, "Structured outputs").
 *
 *   root   ::= answer ("\n" answer)*         # rules: a name, "::=", alternatives
 *   answer ::= ("yes" | "no") [.!]? [0-9]{1,3}
 *
 * Terms: "strings" (escapes \n \r \t \\ \" \xHH \uHHHH \UHHHHHHHH), [classes] of ASCII characters
 * (http_regex.c compiles them, as `.`), rule names, groups; each may be followed by *, +, ?, {m},
 * {m,} or {m,n}. A rule ends where the next `name ::=` begins; `#` comments to the line's end. The
 * answer is root's text, whole. Refused by name: an undefined or twice-defined rule, left recursion
 * (a rule that can reach itself before any byte: the guide would never stop entering it), a repetition
 * of what may be empty, and a rule that never finishes (every text of it goes on for ever), since the
 * guide must never reach a place it cannot end from. */
#include "http_guide.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define GRAMMAR_MAX_NODES 8192
#define GRAMMAR_MAX_REPEAT 10000
#define GRAMMAR_MAX_DEPTH 64     /* groups nested */

/* A rule: its name, its node (one of one, filled when defined), where it was first named and where
 * defined. */
typedef struct {
    const char *name;
    size_t len, first, def;
    GuideNode *node;
    bool defined;
} Rule;

typedef struct {
    Arena *A;
    const char *src;
    size_t len, at;
    Rule *rule;
    int nrule, cap;
    GuideNode **node;          /* every node made, for the analyses */
    size_t *node_at;           /* where each begins in the text */
    int nnode, depth;
    char why[300];
    bool failed;
} Gbnf;

static void *fail_at(Gbnf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *fail_at(Gbnf *p, const char *fmt, ...) {
    if (p->failed) return NULL;
    int line = 1, col = 1;
    for (size_t i = 0; i < p->at && i < p->len; i++) line += p->src[i] == '\n', col = p->src[i] == '\n' ? 1 : col + 1;
    char what[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->why, sizeof p->why, "line %d, column %d: %s", line, col, what);
    p->failed = true;
    return NULL;
}

static GuideNode *new_node(Gbnf *p, GuideKind k) {
    if (p->nnode == GRAMMAR_MAX_NODES) return fail_at(p, "the grammar is too large (past %d terms)", GRAMMAR_MAX_NODES);
    GuideNode *n = arena_alloc(p->A, sizeof *n);
    *n = (GuideNode){.k = k, .max_items = -1, .max_len = -1, .id = p->nnode};
    p->node_at[p->nnode] = p->at;
    return p->node[p->nnode++] = n;
}

/* White space, newlines and comments. */
static void skip(Gbnf *p) {
    while (p->at < p->len) {
        char c = p->src[p->at];
        if (c == '#') while (p->at < p->len && p->src[p->at] != '\n') p->at++;
        else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->at++;
        else break;
    }
}

static bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'; }

/* The name at p->at (its length; 0: none), not taken. */
static size_t name_at(const Gbnf *p, size_t at) {
    size_t n = 0;
    while (at + n < p->len && name_char(p->src[at + n]) && !(n == 0 && p->src[at] == '.')) n++;
    return n;
}

/* Whether a rule's definition starts at p->at: a name, then "::=". */
static bool rule_starts(Gbnf *p) {
    size_t n = name_at(p, p->at), save = p->at;
    if (!n) return false;
    p->at += n;
    skip(p);
    bool yes = p->len - p->at >= 3 && !memcmp(p->src + p->at, "::=", 3);
    p->at = save;
    return yes;
}

static Rule *rule_of(Gbnf *p, const char *name, size_t len) {
    for (int k = 0; k < p->nrule; k++)
        if (p->rule[k].len == len && !memcmp(p->rule[k].name, name, len)) return &p->rule[k];
    if (p->nrule == p->cap) p->cap = p->cap ? 2 * p->cap : 16, p->rule = xrealloc(p->rule, (size_t)p->cap * sizeof *p->rule);
    GuideNode *n = new_node(p, GN_ANYOF);
    if (!n) return NULL;
    n->alt = arena_alloc(p->A, sizeof *n->alt);
    n->nalt = 1;
    p->rule[p->nrule] = (Rule){name, len, p->at, p->at, n, false};
    return &p->rule[p->nrule++];
}

/* One character of a string after its backslash (p->at past it), UTF-8 into out; its bytes. */
static int escape_of(Gbnf *p, char *out) {
    char c = p->at < p->len ? p->src[p->at++] : 0;
    const char *from = "nrt\\\"[]-", *to = "\n\r\t\\\"[]-";
    const char *f = c ? strchr(from, c) : NULL;
    if (f) return out[0] = to[f - from], 1;
    int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (!digits) return fail_at(p, "the escape '\\%c' is not supported", c ? c : ' '), -1;
    uint32_t v = 0;
    for (int k = 0; k < digits; k++) {
        char h = p->at < p->len ? p->src[p->at++] : 0;
        int d = h >= '0' && h <= '9' ? h - '0' : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10 : -1;
        if (d < 0) return fail_at(p, "the escape '\\%c' needs %d hex digits", c, digits), -1;
        v = v * 16 + (uint32_t)d;
    }
    if (!v || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return fail_at(p, "the escape of U+%04X is not a character", (unsigned)v), -1;
    if (v < 0x80) return out[0] = (char)v, 1;
    if (v < 0x800) return out[0] = (char)(0xC0 | v >> 6), out[1] = (char)(0x80 | (v & 0x3F)), 2;
    if (v < 0x10000) return out[0] = (char)(0xE0 | v >> 12), out[1] = (char)(0x80 | (v >> 6 & 0x3F)), out[2] = (char)(0x80 | (v & 0x3F)), 3;
    out[0] = (char)(0xF0 | v >> 18), out[1] = (char)(0x80 | (v >> 12 & 0x3F)), out[2] = (char)(0x80 | (v >> 6 & 0x3F));
    return out[3] = (char)(0x80 | (v & 0x3F)), 4;
}

/* A "string" after its quote: a literal (the empty one: an empty sequence). */
static GuideNode *string_term(Gbnf *p) {
    size_t cap = 64, n = 0;
    char *text = xmalloc(cap);
    while (!p->failed) {
        if (p->at >= p->len || p->src[p->at] == '\n') {
            fail_at(p, "a string is not closed");
            break;
        }
        char c = p->src[p->at++], one[4];
        if (c == '"') break;
        int k = c == '\\' ? escape_of(p, one) : (one[0] = c, 1);
        if (n + 4 > cap) text = xrealloc(text, cap *= 2);
        if (k > 0) memcpy(text + n, one, (size_t)k), n += (size_t)k;
    }
    GuideNode *lit = p->failed ? NULL : new_node(p, n ? GN_LITERAL : GN_SEQ);
    if (lit && n) lit->text = arena_strndup(p->A, text, n), lit->len = n;
    if (lit && !n) lit->nullable = true;
    free(text);
    return lit;
}

/* A [class] or `.` (from p->at, which is at it), compiled by http_regex.c. */
static GuideNode *class_term(Gbnf *p) {
    size_t from = p->at;
    if (p->src[p->at++] == '[') {
        while (p->at < p->len && p->src[p->at] != ']' && p->src[p->at] != '\n') p->at += p->src[p->at] == '\\' ? 2 : 1;
        if (p->at >= p->len || p->src[p->at] != ']') return p->at = from, fail_at(p, "a class '[' is not closed");
        p->at++;
    }
    char why[200];
    GuideNode *n = new_node(p, GN_TEXT);
    if (n && !(n->dfa = guide_regex(p->A, p->src + from, p->at - from, false, why, sizeof why))) return p->at = from, fail_at(p, "%s", why);
    return n;
}

static GuideNode *parse_alt(Gbnf *p);

static GuideNode *parse_term(Gbnf *p) {
    char c = p->src[p->at];
    if (c == '"') return p->at++, string_term(p);
    if (c == '[' || c == '.') return class_term(p);
    if (c == '(') {
        if (++p->depth > GRAMMAR_MAX_DEPTH) return fail_at(p, "groups nested past %d", GRAMMAR_MAX_DEPTH);
        p->at++;
        GuideNode *n = parse_alt(p);
        skip(p);
        if (!p->failed && (p->at >= p->len || p->src[p->at] != ')')) return fail_at(p, "a group '(' is not closed");
        p->at++, p->depth--;
        return n;
    }
    size_t n = name_at(p, p->at);
    if (!n) return fail_at(p, "'%c' does not start a term (a \"string\", a [class], a rule's name or a group)", c);
    Rule *r = rule_of(p, p->src + p->at, n);
    p->at += n;
    return r ? r->node : NULL;
}

/* A term and its postfix operator: *, +, ?, {m}, {m,}, {m,n}. */
static GuideNode *parse_repeat(Gbnf *p) {
    GuideNode *t = parse_term(p);
    char why[100];
    int lo, hi, q = t ? guide_quantifier(p->src, p->len, &p->at, GRAMMAR_MAX_REPEAT, true, &lo, &hi, why, sizeof why) : 0;
    if (q <= 0) return q < 0 ? fail_at(p, "%s", why) : t;
    GuideNode *r = new_node(p, GN_REPEAT);
    if (r) r->items = t, r->min_items = lo, r->max_items = hi;
    return r;
}

/* Terms one after the other, up to '|', ')', the next rule or the end. */
static GuideNode *parse_seq(Gbnf *p) {
    GuideNode *parts[256];
    int n = 0;
    for (skip(p); !p->failed && p->at < p->len && !strchr("|)", p->src[p->at]) && !rule_starts(p); skip(p)) {
        if (n == 256) return fail_at(p, "a sequence of more than 256 terms");
        parts[n++] = parse_repeat(p);
    }
    if (n == 1 || p->failed) return p->failed ? NULL : parts[0];
    GuideNode *seq = new_node(p, GN_SEQ);   /* none: the empty text */
    if (!seq) return NULL;
    seq->alt = arena_array(p->A, (size_t)n + 1, sizeof *seq->alt);
    memcpy(seq->alt, parts, (size_t)n * sizeof *parts);
    seq->nalt = n;
    return seq;
}

static GuideNode *parse_alt(Gbnf *p) {
    GuideNode *alt[256];
    int n = 0;
    do {
        if (n == 256) return fail_at(p, "more than 256 alternatives");
        alt[n++] = parse_seq(p);
    } while (!p->failed && p->at < p->len && p->src[p->at] == '|' && ++p->at);
    if (p->failed || n == 1) return p->failed ? NULL : alt[0];
    GuideNode *any = new_node(p, GN_ANYOF);
    if (!any) return NULL;
    any->alt = arena_array(p->A, (size_t)n, sizeof *any->alt);
    memcpy(any->alt, alt, (size_t)n * sizeof *alt);
    any->nalt = n;
    return any;
}

/* ------------------------------------------------------------------ the rules and their analyses */

static void parse_rules(Gbnf *p) {
    for (skip(p); !p->failed && p->at < p->len; skip(p)) {
        size_t n = name_at(p, p->at);
        if (!n || !rule_starts(p)) return (void)fail_at(p, "a rule must start with its name and '::='");
        Rule *r = rule_of(p, p->src + p->at, n);
        if (r && r->defined) return (void)fail_at(p, "the rule '%.*s' is defined twice", (int)n, p->src + p->at);
        if (!r) return;
        int k = (int)(r - p->rule);   /* rule_of may move the table */
        r->defined = true, r->def = p->at;
        p->at += n;
        skip(p);
        p->at += 3;
        GuideNode *body = parse_alt(p);
        if (body) p->rule[k].node->alt[0] = body;
    }
}

/* Whether node n's text may be empty (kind by kind, from its parts' so far). */
static bool nullable_now(const GuideNode *n) {
    bool any = false, all = true;
    for (int k = 0; k < n->nalt; k++) any |= n->alt[k]->nullable, all &= n->alt[k]->nullable;
    return n->k == GN_TEXT ? n->dfa->accept[0] : n->k == GN_SEQ ? all : n->k == GN_ANYOF ? any
         : n->k == GN_REPEAT ? n->min_items == 0 || n->items->nullable : false;
}

/* Whether node n has a finite text, from its parts' so far (productive[id]). */
static bool finishes_now(const GuideNode *n, const bool *fin) {
    bool any = false, all = true;
    for (int k = 0; k < n->nalt; k++) any |= fin[n->alt[k]->id], all &= fin[n->alt[k]->id];
    return n->k == GN_SEQ ? all : n->k == GN_ANYOF ? any : n->k == GN_REPEAT ? n->min_items == 0 || fin[n->items->id] : true;
}

/* Left recursion: a node that reaches itself through the parts it begins with (each before them may
 * be empty). color: 0 new, 1 on the path, 2 done. */
static bool enters_itself(const GuideNode *n, uint8_t *color) {
    if (color[n->id]) return color[n->id] == 1;
    color[n->id] = 1;
    bool loop = false;
    if (n->k == GN_REPEAT) loop = enters_itself(n->items, color);
    for (int k = 0; k < n->nalt && !loop; k++) {
        loop = enters_itself(n->alt[k], color);
        if (n->k == GN_SEQ && !n->alt[k]->nullable) break;
    }
    color[n->id] = 2;
    return loop;
}

/* The analyses the guide needs: every rule defined and finishing, no left recursion, no repetition of
 * what may be empty; nullable set. */
static void analyse(Gbnf *p) {
    for (int k = 0; k < p->nrule && !p->failed; k++)
        if (!p->rule[k].defined) p->at = p->rule[k].first, fail_at(p, "the rule '%.*s' is not defined", (int)p->rule[k].len, p->rule[k].name);
    for (bool more = true; more && !p->failed;) {
        more = false;
        for (int k = 0; k < p->nnode; k++)
            if (!p->node[k]->nullable && nullable_now(p->node[k])) p->node[k]->nullable = more = true;
    }
    bool *fin = xcalloc((size_t)p->nnode + 1, sizeof *fin);
    for (bool more = true; more && !p->failed;) {
        more = false;
        for (int k = 0; k < p->nnode; k++)
            if (!fin[k] && finishes_now(p->node[k], fin)) fin[k] = more = true;
    }
    uint8_t *color = xcalloc((size_t)p->nnode + 1, 1);
    for (int k = 0; k < p->nrule && !p->failed; k++) {
        const Rule *r = &p->rule[k];
        p->at = r->def;
        if (!fin[r->node->id]) fail_at(p, "the rule '%.*s' never finishes (each of its texts goes on for ever)", (int)r->len, r->name);
        else if (enters_itself(r->node, color))
            fail_at(p, "left recursion through the rule '%.*s' (it can reach itself before any text)", (int)r->len, r->name);
    }
    for (int k = 0; k < p->nnode && !p->failed; k++)
        if (p->node[k]->k == GN_REPEAT && p->node[k]->items->nullable)
            p->at = p->node_at[p->node[k]->items->id], fail_at(p, "a repetition of what may be empty");
    free(fin);
    free(color);
}

GuideGrammar *guide_gbnf(const char *src, size_t len, char *why, size_t whylen) {
    GuideGrammar *g = xcalloc(1, sizeof *g);
    Gbnf p = {.A = &g->arena, .src = src, .len = len, .node = xmalloc(GRAMMAR_MAX_NODES * sizeof *p.node),
              .node_at = xmalloc(GRAMMAR_MAX_NODES * sizeof *p.node_at)};
    if (memchr(src, 0, len)) fail_at(&p, "a NUL byte");
    parse_rules(&p);
    Rule *root = NULL;
    for (int k = 0; k < p.nrule && !p.failed; k++)
        if (p.rule[k].len == 4 && !memcmp(p.rule[k].name, "root", 4)) root = &p.rule[k];
    if (!p.failed && !root) p.at = 0, fail_at(&p, "no rule 'root' (the answer's)");
    if (!p.failed) analyse(&p);
    GuideNode *top = p.failed ? NULL : new_node(&p, GN_SEQ);   /* root's text, then the end */
    if (top) {
        top->alt = arena_alloc(&g->arena, sizeof *top->alt);
        top->alt[0] = root->node, top->nalt = 1, top->nullable = root->node->nullable;
        g->root = top, g->bare = true;
    }
    if (p.failed) snprintf(why, whylen, "%s", p.why), guide_grammar_free(g), g = NULL;
    free(p.rule);
    free(p.node);
    free(p.node_at);
    return g;
}
