/* jinja_parse.c — Jinja's statements and expressions, the subset of jinja.h; every other construct
 * refused by name (jinja_ast.h). */
#include "jinja_ast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Lex *L;
    int i;
    const char **macros;     /* the macros defined so far */
    int nmacros, capmacros;
    Expr **calls;            /* every E_CALL, checked at the end: each names a macro */
    int ncalls, capcalls;
    bool in_macro;
    int blocks;              /* if and for blocks being parsed (a macro is defined outside them) */
    int loops;               /* for loops being parsed, which break and continue leave (0 in a block set) */
    int set_loops;           /* the loops around the block set being parsed */
    const char **bound;      /* names that set and for bind */
    int nbound, capbound;
    Expr **names;            /* every E_NAME, checked at the end */
    int nnames, capnames;
    Expr **safes;            /* every | safe, checked at the end: each printed or joined by ~ (op 1) */
    int nsafes, capsafes;
    int depth;               /* of expressions and blocks being parsed */
} Parser;

#define MAX_DEPTH 500

static Tok *cur(Parser *P) { return &P->L->t[P->i]; }
static bool failed(Parser *P) { return P->L->failed; }
static bool is_name(Parser *P, const char *w) { return cur(P)->k == T_NAME && !strcmp(cur(P)->s, w); }
static bool is_op(Parser *P, const char *o) {
    return cur(P)->k == T_OP && cur(P)->n == strlen(o) && !strncmp(cur(P)->s, o, cur(P)->n);
}
static bool take_op(Parser *P, const char *o) { return is_op(P, o) ? (P->i++, true) : false; }
static bool take_name(Parser *P, const char *w) { return is_name(P, w) ? (P->i++, true) : false; }

static void fail_here(Parser *P, const char *what) {
    Tok *t = cur(P);
    if (t->k == T_EOF) lex_fail(P->L, t->pos, "%s, found the end of the template", what);
    else if (t->k == T_TEXT) lex_fail(P->L, t->pos, "%s, found text", what);
    else lex_fail(P->L, t->pos, "%s, found '%.*s'", what, (int)(t->n > 40 ? 40 : t->n), t->s);
}

static void expect_op(Parser *P, const char *o) {
    if (!take_op(P, o) && !failed(P)) {
        char m[64];
        snprintf(m, sizeof m, "expected '%s'", o);
        fail_here(P, m);
    }
}

static Expr *node(Parser *P, ExprKind k, Tok *at) {
    Expr *e = arena_alloc(P->L->A, sizeof *e);
    e->k = k;
    e->pos = at->pos;
    return e;
}

static void *grow(void *p, int n, int *cap, size_t size) {
    if (n < *cap) return p;
    *cap = *cap ? 2 * *cap : 16;
    return xrealloc(p, (size_t)*cap * size);
}

static Expr *parse_expr(Parser *P);
static Expr *parse_or(Parser *P);
static Expr *parse_unary(Parser *P, bool filters);

static const char *const REFUSED_STATEMENT_WORDS[] = {"call", "include", "import", "from",
    "extends", "block", "with", "do", "autoescape", "trans", NULL};

/* The arguments of e up to ')' (its '(' taken): expressions and key=value ones (only these when
 * named_only), into e->args and e->keys. */
static bool parse_args(Parser *P, Expr *e, bool named_only) {
    e->keys = arena_alloc(P->L->A, 16 * sizeof *e->keys);
    e->args = arena_alloc(P->L->A, 16 * sizeof *e->args);
    while (!failed(P) && !take_op(P, ")")) {
        if (e->nargs && !take_op(P, ",")) return fail_here(P, "expected ',' or ')'"), false;
        bool named = cur(P)->k == T_NAME && is_op(&(Parser){.L = P->L, .i = P->i + 1}, "=");
        if (named_only && !named) return fail_here(P, "namespace() takes key=value arguments only"), false;
        if (e->nargs == 16) return fail_here(P, "at most 16 arguments"), false;
        if (named) {
            e->keys[e->nargs] = cur(P)->s;
            P->i += 2;
        }
        e->args[e->nargs++] = parse_expr(P);
    }
    return !failed(P);
}

/* name(args) at a primary: raise_exception(msg), namespace(key=value, ...) and strftime_now(format). */
static Expr *parse_call(Parser *P, Tok *name) {
    Expr *e;
    if (!strcmp(name->s, "raise_exception")) {
        e = node(P, E_RAISE, name);
        e->a = parse_expr(P);
        expect_op(P, ")");
        return e;
    }
    if (!strcmp(name->s, "strftime_now")) {
        e = node(P, E_NOW, name);
        e->args = arena_alloc(P->L->A, sizeof *e->args);
        e->args[e->nargs++] = parse_expr(P);
        expect_op(P, ")");
        return e;
    }
    if (strcmp(name->s, "namespace")) {   /* a macro's call: checked at the end (check_calls) */
        e = node(P, E_CALL, name);
        e->s = name->s;
        P->calls = grow(P->calls, P->ncalls, &P->capcalls, sizeof *P->calls);
        P->calls[P->ncalls++] = e;
        return parse_args(P, e, false) ? e : NULL;
    }
    e = node(P, E_NAMESPACE, name);
    return parse_args(P, e, true) ? e : NULL;
}

/* The items of a list or tuple literal after its opening bracket (`first`, when parsed already), up
 * to `close` (a trailing comma allowed), into e->args (the arena's). */
static Expr *parse_items(Parser *P, Expr *e, Expr *first, const char *close) {
    Expr **items = NULL;
    int n = 0, cap = 0;
    bool more = true;
    if (first) {
        items = grow(items, n, &cap, sizeof *items);
        items[n++] = first;
        more = take_op(P, ",");
    }
    while (more && !failed(P) && !is_op(P, close)) {
        items = grow(items, n, &cap, sizeof *items);
        items[n++] = parse_expr(P);
        more = !failed(P) && take_op(P, ",");
    }
    expect_op(P, close);
    e->args = arena_alloc(P->L->A, (size_t)(n + 1) * sizeof *e->args);
    if (n) memcpy(e->args, items, (size_t)n * sizeof *items);
    e->nargs = n;
    free(items);
    return e;
}

/* A dict literal's items after its '{': key: value, ... up to '}' (a trailing comma allowed), into
 * e->args as key, value, key, value (the arena's). */
static Expr *parse_dict(Parser *P, Expr *e) {
    Expr **items = NULL;
    int n = 0, cap = 0;
    bool more = true;
    while (more && !failed(P) && !is_op(P, "}")) {
        items = grow(items, n + 1, &cap, sizeof *items);
        items[n++] = parse_expr(P);
        expect_op(P, ":");
        items[n++] = failed(P) ? NULL : parse_expr(P);
        more = !failed(P) && take_op(P, ",");
    }
    expect_op(P, "}");
    e->args = arena_alloc(P->L->A, (size_t)(n + 1) * sizeof *e->args);
    if (n) memcpy(e->args, items, (size_t)n * sizeof *items);
    e->nargs = n;
    free(items);
    return e;
}

static Expr *parse_primary(Parser *P) {
    Tok *t = cur(P);
    Expr *e = NULL;
    if (t->k == T_STR) {
        Buf b = {0};
        while (cur(P)->k == T_STR) buf_append(&b, cur(P)->s, cur(P)->n), P->i++;   /* 'a' 'b' is 'ab' */
        e = node(P, E_STR, t);
        e->s = arena_strndup(P->L->A, b.data ? b.data : "", b.len);
        e->n = b.len;
        buf_free(&b);
    } else if (t->k == T_INT) {
        P->i++;
        e = node(P, E_INT, t);
        e->i = t->i;
    } else if (t->k == T_NAME) {
        P->i++;
        const char *s = t->s;
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "false") || !strcmp(s, "False")) {
            e = node(P, E_BOOL, t);
            e->i = s[0] == 't' || s[0] == 'T';
        } else if (!strcmp(s, "none") || !strcmp(s, "None")) {
            e = node(P, E_NONE, t);
        } else if (take_op(P, "(")) {
            e = parse_call(P, t);
        } else {
            e = node(P, E_NAME, t);
            e->s = s;
            P->names = grow(P->names, P->nnames, &P->capnames, sizeof *P->names);
            P->names[P->nnames++] = e;
        }
    } else if (take_op(P, "[")) {
        e = parse_items(P, node(P, E_LIST, t), NULL, "]");
    } else if (take_op(P, "(")) {   /* (x), or a tuple: (), (x,), (x, y) */
        e = is_op(P, ")") ? NULL : parse_expr(P);
        if (!e || is_op(P, ",")) {
            Expr *tuple = node(P, E_LIST, t);
            tuple->op = 1;
            e = parse_items(P, tuple, e, ")");
        } else {
            expect_op(P, ")");
        }
    } else if (take_op(P, "{")) {
        e = parse_dict(P, node(P, E_DICT, t));
    } else {
        fail_here(P, "expected an expression");
    }
    return e;
}

/* The names a template may read without setting them. transformers' apply_chat_template gives it
 * messages, tools and documents (none unless given), add_generation_prompt, the tokenizer's special
 * tokens and its keyword arguments (vLLM's chat_template_kwargs: Llama 3.1's date_string, Qwen 3's
 * enable_thinking, Granite's controls, ...), and Jinja its globals. Any name is read from the
 * arguments, else undefined, but these: the special tokens mixc does not read from the tokenizer, and
 * Jinja's functions read as values (a call of them is refused as a call). */
static const char *const UNREADABLE[] = {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
                                         "additional_special_tokens", "range", "dict", "lipsum", "cycler", "joiner",
                                         "namespace", "raise_exception", NULL};

/* The filters jinja.c renders. */
static const char *const FILTERS[] = {"trim", "length", "string", "list", "tojson", "selectattr", "rejectattr",
                                      "items", "select", "reject", "join", "default", "d", "map", "upper", "lower",
                                      "dictsort", "format", "replace", "safe", "first", "last", "unique", "indent",
                                      NULL};
const char *const JINJA_LOOP_ATTRS[] = {"index0", "index", "first", "last", "length", "revindex", "revindex0",
                                         "previtem", "nextitem", NULL};
const char *const JINJA_TESTS[] = {"defined", "undefined", "none", "string", "mapping", "iterable", "true", "false",
                                    "boolean", "integer", "float", "number", "sequence", NULL};
/* The methods jinja.c calls: a dict's items(), and a string's, as Python's str has them. */
static const char *const METHODS[] = {"items", "get", "strip", "lstrip", "rstrip", "startswith", "endswith", "split",
                                      "replace", "upper", "lower", NULL};

/* Refuses the name n unless list has it: "WHAT 'n' is not supported (only a, b and c)", the names
 * written from the list itself so that the message cannot drift from what is parsed. */
static bool refuse_unlisted(Parser *P, const Tok *n, const char *const *list, const char *what, const char *suffix) {
    if (str_listed(list, n->s)) return false;
    char names[512];
    jinja_name_list(names, sizeof names, list, suffix);
    lex_fail(P->L, n->pos, "%s '%s' is not supported (only %s)", what, n->s, names);
    return true;
}

/* e[...]: an index or a slice [a:b:c]. */
static Expr *parse_subscript(Parser *P, Expr *obj, Tok *at) {
    Expr *lo = is_op(P, ":") ? NULL : parse_expr(P);
    if (!take_op(P, ":")) {
        expect_op(P, "]");
        Expr *e = node(P, E_INDEX, at);
        e->a = obj;
        e->b = lo;
        return e;
    }
    Expr *e = node(P, E_SLICE, at);
    e->a = obj;
    e->b = lo;
    e->c = is_op(P, "]") || is_op(P, ":") ? NULL : parse_expr(P);
    if (take_op(P, ":")) e->d = is_op(P, "]") ? NULL : parse_expr(P);
    expect_op(P, "]");
    return e;
}

static Expr *parse_postfix(Parser *P, Expr *e) {
    while (e && !failed(P)) {
        Tok *at = cur(P);
        if (take_op(P, "[")) {
            e = parse_subscript(P, e, at);
        } else if (take_op(P, ".")) {
            Tok *n = cur(P);
            if (n->k != T_NAME) return fail_here(P, "expected an attribute name after '.'"), NULL;
            P->i++;
            if (take_op(P, "(")) {
                if (refuse_unlisted(P, n, METHODS, "the method", "()")) return NULL;
                Expr *m = node(P, E_METHOD, n);
                m->a = e;
                m->s = n->s;
                if (!parse_args(P, m, false)) return NULL;
                for (int k = 0; k < m->nargs; k++)
                    if (m->keys[k]) return lex_fail(P->L, n->pos, "keyword arguments of a method are not supported"), NULL;
                e = m;
            } else {
                if (e->k == E_NAME && !strcmp(e->s, "loop") && refuse_unlisted(P, n, JINJA_LOOP_ATTRS, "the loop attribute", ""))
                    return NULL;
                Expr *a = node(P, E_ATTR, n);
                a->a = e;
                a->s = n->s;
                e = a;
            }
        } else if (is_op(P, "(")) {
            return fail_here(P, "calling this is not supported"), NULL;
        } else {
            break;
        }
    }
    return e;
}

/* e | filter and e is [not] test, in a row; inline: the first filter's name comes without its '|'
 * ({% filter name %}). */
static Expr *parse_filters(Parser *P, Expr *e, bool inline_first) {
    for (bool first = true; e && !failed(P); first = false) {
        bool pipe = is_op(P, "|") || (inline_first && first);
        if (!pipe && !is_name(P, "is")) break;
        if (!(inline_first && first)) P->i++;
        bool neg = !pipe && take_name(P, "not");
        Tok *n = cur(P);
        if (n->k != T_NAME) return fail_here(P, pipe ? "expected a filter name" : "expected a test name"), NULL;
        P->i++;
        if (refuse_unlisted(P, n, pipe ? FILTERS : JINJA_TESTS, pipe ? "the filter" : "the test", "")) return NULL;
        bool word_after = cur(P)->k == T_NAME && !is_name(P, "else") && !is_name(P, "or") && !is_name(P, "and");
        if (!pipe && (is_op(P, "(") || cur(P)->k == T_STR || cur(P)->k == T_INT || word_after))   /* Jinja's rule */
            return fail_here(P, "arguments to a test are not supported"), NULL;
        Expr *f = node(P, pipe ? E_FILTER : E_TEST, n);
        f->a = e;
        f->s = n->s;
        f->op = neg;
        if (pipe && !strcmp(n->s, "safe")) {
            P->safes = grow(P->safes, P->nsafes, &P->capsafes, sizeof *P->safes);
            P->safes[P->nsafes++] = f;
        }
        if (pipe && take_op(P, "(") && !parse_args(P, f, false)) return NULL;
        e = f;
    }
    return e;
}

static Expr *parse_unary(Parser *P, bool filters) {
    Tok *at = cur(P);
    Expr *e;
    if (take_op(P, "-")) {
        if (++P->depth > MAX_DEPTH) return fail_here(P, "the template nests too deeply"), NULL;
        e = node(P, E_NEG, at);
        e->a = parse_unary(P, false);
        P->depth--;
    } else if (is_op(P, "+")) {
        return fail_here(P, "the unary '+' is not supported"), NULL;
    } else {
        e = parse_postfix(P, parse_primary(P));
    }
    return filters ? parse_filters(P, e, false) : e;
}

/* e's text as it is where jinja2 joins or prints it: a | safe there, or in a sum of strings there
 * (jinja.c's add_strings: Markup's +), is allowed; elsewhere the filters and methods after it would
 * treat jinja2's Markup otherwise. */
static void markup_ok(Expr *e) {
    if (e && e->k == E_FILTER && !strcmp(e->s, "safe")) e->op = 1;
    if (e && e->k == E_BIN && e->op == OP_ADD) markup_ok(e->a), markup_ok(e->b);   /* Markup's + (jinja.c) */
}

static Expr *binary(Parser *P, Tok *at, int op, Expr *a, Expr *b) {
    if (op == OP_CAT) markup_ok(a), markup_ok(b);
    Expr *e = node(P, E_BIN, at);
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

static Expr *parse_math2(Parser *P) {
    Expr *e = parse_unary(P, true);
    while (!failed(P)) {
        Tok *at = cur(P);
        if (is_op(P, "/") || is_op(P, "//") || is_op(P, "**"))
            return fail_here(P, "the operators / // ** are not supported"), NULL;
        if (take_op(P, "*")) e = binary(P, at, OP_MUL, e, parse_unary(P, true));
        else if (take_op(P, "%")) e = binary(P, at, OP_MOD, e, parse_unary(P, true));
        else break;
    }
    return e;
}

/* next (tok next)*, left to right; tok a word (and, or) or an operator. */
static Expr *left_assoc(Parser *P, Expr *(*next)(Parser *), bool word, const char *tok, int op) {
    Expr *e = next(P);
    for (Tok *at = cur(P); !failed(P) && (word ? take_name(P, tok) : take_op(P, tok)); at = cur(P))
        e = binary(P, at, op, e, next(P));
    return e;
}

static Expr *parse_concat(Parser *P) { return left_assoc(P, parse_math2, false, "~", OP_CAT); }

static Expr *parse_math1(Parser *P) {
    Expr *e = parse_concat(P);
    while (!failed(P)) {
        Tok *at = cur(P);
        if (take_op(P, "+")) e = binary(P, at, OP_ADD, e, parse_concat(P));
        else if (take_op(P, "-")) e = binary(P, at, OP_SUB, e, parse_concat(P));
        else break;
    }
    return e;
}

static const char *const CMP[] = {"==", "!=", "<", ">", "<=", ">="};

static int compare_op(Parser *P) {
    for (int k = 0; k < 6; k++)
        if (is_op(P, CMP[k])) return OP_EQ + k;
    if (is_name(P, "in")) return OP_IN;
    if (is_name(P, "not") && P->L->t[P->i + 1].k == T_NAME && !strcmp(P->L->t[P->i + 1].s, "in")) return OP_NOTIN;
    return -1;
}

static Expr *parse_compare(Parser *P) {
    Expr *e = parse_math1(P);
    Tok *at = cur(P);
    int op = failed(P) ? -1 : compare_op(P);
    if (op < 0) return e;
    P->i += op == OP_NOTIN ? 2 : 1;
    e = binary(P, at, op, e, parse_math1(P));
    if (!failed(P) && compare_op(P) >= 0) return fail_here(P, "chained comparisons are not supported"), NULL;
    return e;
}

static Expr *parse_not(Parser *P) {
    Tok *at = cur(P);
    if (is_name(P, "not") && compare_op(P) != OP_NOTIN) {
        P->i++;
        if (++P->depth > MAX_DEPTH) return fail_here(P, "the template nests too deeply"), NULL;
        Expr *e = node(P, E_NOT, at);
        e->a = parse_not(P);
        P->depth--;
        return e;
    }
    return parse_compare(P);
}

static Expr *parse_and(Parser *P) { return left_assoc(P, parse_not, true, "and", OP_AND); }
static Expr *parse_or(Parser *P) { return left_assoc(P, parse_and, true, "or", OP_OR); }

/* B if A else C, Jinja's conditional expression (C may be absent: undefined). */
static Expr *parse_cond(Parser *P) {
    Expr *e = parse_or(P);
    while (!failed(P)) {
        Tok *at = cur(P);
        if (!take_name(P, "if")) break;
        Expr *c = node(P, E_COND, at);
        c->b = e;
        c->a = parse_or(P);
        c->c = take_name(P, "else") ? parse_expr(P) : NULL;
        e = c;
    }
    return e;
}

static Expr *parse_expr(Parser *P) {
    if (++P->depth > MAX_DEPTH) return fail_here(P, "the template nests too deeply"), NULL;
    Expr *e = parse_cond(P);
    P->depth--;
    return e;
}

/* ------------------------------------------------------------------ statements */

static Stmt *stmt(Parser *P, JStmtKind k, Tok *at) {
    Stmt *s = arena_alloc(P->L->A, sizeof *s);
    s->k = k;
    s->pos = at->pos;
    return s;
}

static void bind(Parser *P, const char *name) {
    P->bound = grow(P->bound, P->nbound, &P->capbound, sizeof *P->bound);
    P->bound[P->nbound++] = name;
}

/* The name at the cursor, taken; NULL (and the parse failed with WHAT) when it is not a name. */
static const char *take_ident(Parser *P, const char *what) {
    if (cur(P)->k != T_NAME) return fail_here(P, what), NULL;
    return P->L->t[P->i++].s;
}

static void expect_end(Parser *P, TokKind k) {
    if (failed(P)) return;
    if (cur(P)->k == k) P->i++;
    else fail_here(P, k == T_BEND ? "expected '%}'" : "expected '}}'");
}

static Stmt *parse_body(Parser *P, const char *const *stops, const char **stopped);

/* After {% if: the condition, the branches, {% endif %}. */
static Stmt *parse_if(Parser *P, Tok *at) {
    Stmt *s = stmt(P, S_IF, at);
    s->e = parse_expr(P);
    expect_end(P, T_BEND);
    static const char *const stops[] = {"elif", "else", "endif", NULL};
    const char *w = NULL;
    s->body = parse_body(P, stops, &w);
    if (failed(P)) return s;
    if (!strcmp(w, "elif")) return s->els = parse_if(P, at), s;
    expect_end(P, T_BEND);
    if (!strcmp(w, "else")) {
        static const char *const endif[] = {"endif", NULL};
        s->els = parse_body(P, endif, &w);
        expect_end(P, T_BEND);
    }
    return s;
}

static Stmt *parse_for(Parser *P, Tok *at) {
    Stmt *s = stmt(P, S_FOR, at);
    if (!(s->name = take_ident(P, "expected the loop variable"))) return s;
    bind(P, s->name);
    if (take_op(P, ",")) {   /* `for key, value in d.items()` (Mistral's tool branch) */
        if (!(s->name2 = take_ident(P, "expected the second loop variable"))) return s;
        bind(P, s->name2);
        if (is_op(P, ",")) return fail_here(P, "unpacking into more than two variables is not supported"), s;
    }
    if (!take_name(P, "in")) return fail_here(P, "expected 'in'"), s;
    s->e = parse_or(P);
    if (take_name(P, "if")) s->cond = parse_expr(P);
    if (is_name(P, "recursive")) return fail_here(P, "a for loop's 'recursive' is not supported"), s;
    expect_end(P, T_BEND);
    static const char *const stops[] = {"else", "endfor", NULL};
    const char *w = NULL;
    P->loops++;
    s->body = parse_body(P, stops, &w);
    P->loops--;
    if (!failed(P) && !strcmp(w, "else")) return lex_fail(P->L, P->L->t[P->i - 1].pos, "for ... else is not supported"), s;
    expect_end(P, T_BEND);
    return s;
}

/* The body of a block set or a {% filter %} block up to {% end %} (taken): a break there would leave
 * the loop before the block's text is used (jinja2's), which is not supported. */
static Stmt *parse_block_body(Parser *P, const char *end) {
    const char *const stops[] = {end, NULL};
    const char *w = NULL;
    int loops = P->loops, set_loops = P->set_loops;
    P->depth += 2, P->blocks++, P->set_loops = loops, P->loops = 0;   /* a block's body (no macro inside) */
    Stmt *body = parse_body(P, stops, &w);
    P->depth -= 2, P->blocks--, P->set_loops = set_loops, P->loops = loops;
    expect_end(P, T_BEND);
    return body;
}

/* {% filter f(args) | g %}...{% endfilter %}: the body's text through the filters (s->e, whose
 * innermost operand is E_BLOCK); transformers' {% generation %}...{% endgeneration %}: the body's text
 * as it is (s->e NULL: its assistant-token mask is not asked for). Either body is a scope of its own. */
static Stmt *parse_filter_block(Parser *P, Tok *at) {
    Stmt *s = stmt(P, S_FILTER, at);
    bool filter = !strcmp(at->s, "filter");
    if (filter) {
        s->e = parse_filters(P, node(P, E_BLOCK, at), true);
        for (Expr *f = s->e; f && f->k != E_BLOCK; f = f->a)
            if (f->k == E_TEST) return fail_here(P, "expected the end of the {% filter %} tag"), s;
        markup_ok(s->e);
    }
    expect_end(P, T_BEND);
    s->body = parse_block_body(P, filter ? "endfilter" : "endgeneration");
    return s;
}

static Stmt *parse_set(Parser *P, Tok *at) {
    Stmt *s = stmt(P, S_SET, at);
    if (!(s->name = take_ident(P, "expected a name to set"))) return s;
    if (take_op(P, ".")) {
        if (!(s->attr = take_ident(P, "expected an attribute name"))) return s;
    } else {
        bind(P, s->name);
    }
    if (cur(P)->k == T_BEND) {   /* {% set x %}...{% endset %}: x is the body's text */
        if (s->attr) return fail_here(P, "a block {% set %} of an attribute is not supported"), s;
        expect_end(P, T_BEND);
        s->body = parse_block_body(P, "endset");
        return s;
    }
    if (!take_op(P, "=")) return fail_here(P, "expected '=' (only one name is set at a time)"), s;
    s->e = parse_expr(P);
    expect_end(P, T_BEND);
    return s;
}


/* Whether name is one of the macros defined so far. */
static bool is_macro(const Parser *P, const char *name) {
    for (int i = 0; i < P->nmacros; i++)
        if (!strcmp(P->macros[i], name)) return true;
    return false;
}

/* {% macro name(a, b=default, ...) %}...{% endmacro %}, at the top level. */
static Stmt *parse_macro(Parser *P, Tok *at) {
    Stmt *s = stmt(P, S_MACRO, at);
    if (P->in_macro) return fail_here(P, "a macro inside a macro is not supported"), s;
    if (P->blocks) return fail_here(P, "a macro inside if or for is not supported (only at the top level)"), s;
    if (!(s->name = take_ident(P, "expected the macro's name"))) return s;
    P->macros = grow(P->macros, P->nmacros, &P->capmacros, sizeof *P->macros);
    P->macros[P->nmacros++] = s->name;
    s->params = arena_alloc(P->L->A, 16 * sizeof *s->params);
    s->defaults = arena_alloc(P->L->A, 16 * sizeof *s->defaults);
    expect_op(P, "(");
    while (!failed(P) && !take_op(P, ")")) {
        if (s->nparams && !take_op(P, ",")) return fail_here(P, "expected ',' or ')'"), s;
        if (s->nparams == 16) return fail_here(P, "at most 16 parameters"), s;
        if (!(s->params[s->nparams] = take_ident(P, "expected a parameter name"))) return s;
        bind(P, s->params[s->nparams]);
        s->defaults[s->nparams++] = take_op(P, "=") ? parse_expr(P) : NULL;
    }
    expect_end(P, T_BEND);
    static const char *const stops[] = {"endmacro", NULL};
    const char *w = NULL;
    P->in_macro = true;
    s->body = parse_body(P, stops, &w);
    P->in_macro = false;
    expect_end(P, T_BEND);
    return s;
}

/* {% break %} and {% continue %} (transformers' loopcontrols), inside a for loop's body. */
static Stmt *parse_loop_control(Parser *P, Tok *at) {
    Stmt *s = stmt(P, !strcmp(at->s, "break") ? S_BREAK : S_CONTINUE, at);
    if (!P->loops) {
        lex_fail(P->L, at->pos, "'%s' outside a for loop%s", at->s,
                 P->set_loops ? " (one in a block {% set %}, {% filter %} or {% generation %} is not supported)" : "");
        return s;
    }
    expect_end(P, T_BEND);
    return s;
}

/* One {% statement %} (its {% taken); NULL with *stopped set at a word of stops. */
static Stmt *parse_statement(Parser *P, const char *const *stops, const char **stopped) {
    Tok *w = cur(P);
    if (w->k != T_NAME) return fail_here(P, "expected a statement name"), NULL;
    for (int i = 0; stops && stops[i]; i++)
        if (!strcmp(w->s, stops[i])) return P->i++, *stopped = stops[i], NULL;
    P->i++;
    if (P->depth > MAX_DEPTH) return fail_here(P, "the template nests too deeply"), NULL;
    if (!strcmp(w->s, "if") || !strcmp(w->s, "for")) {
        P->depth += 2;   /* a block's body */
        P->blocks++;
        Stmt *s = !strcmp(w->s, "if") ? parse_if(P, w) : parse_for(P, w);
        P->blocks--;
        P->depth -= 2;
        return s;
    }
    if (!strcmp(w->s, "set")) return parse_set(P, w);
    if (!strcmp(w->s, "filter") || !strcmp(w->s, "generation")) return parse_filter_block(P, w);
    if (!strcmp(w->s, "break") || !strcmp(w->s, "continue")) return parse_loop_control(P, w);
    if (!strcmp(w->s, "macro")) {
        P->depth += 2;
        Stmt *s = parse_macro(P, w);
        P->depth -= 2;
        return s;
    }
    if (str_listed(REFUSED_STATEMENT_WORDS, w->s))
        lex_fail(P->L, w->pos, "the statement '%s' is not supported (only if, for, set, macro, filter, generation, break "
                 "and continue)", w->s);
    else lex_fail(P->L, w->pos, "unexpected '%s'", w->s);
    return NULL;
}

/* Statements up to a {% word %} of stops (*stopped, its %} not taken), or to the end when stops is NULL. */
static Stmt *parse_body(Parser *P, const char *const *stops, const char **stopped) {
    Stmt *head = NULL, **tail = &head;
    while (!failed(P)) {
        Tok *t = cur(P);
        Stmt *s = NULL;
        if (t->k == T_EOF) {
            if (stops) lex_fail(P->L, t->pos, "the template ends before {%% %s %%}", stops[0][0] == 'e' ? stops[0] : stops[1] ? stops[1] : stops[0]);
            break;
        }
        P->i++;
        if (t->k == T_TEXT) {
            s = stmt(P, S_TEXT, t);
            s->s = t->s;
            s->n = t->n;
        } else if (t->k == T_VBEGIN) {
            s = stmt(P, S_PRINT, t);
            s->e = parse_expr(P);
            markup_ok(s->e);
            expect_end(P, T_VEND);
        } else if (t->k == T_BBEGIN) {
            s = parse_statement(P, stops, stopped);
            if (!s && stopped && *stopped) break;
        } else {
            P->i--;
            fail_here(P, "unexpected");
        }
        if (s) *tail = s, tail = &s->next;
    }
    return head;
}



/* Whether the template sets name (a `set`, a `for`'s, a macro's argument) or defines it as a macro. */
static bool set_by_template(const Parser *P, const char *name) {
    for (int k = 0; k < P->nbound; k++)
        if (!strcmp(P->bound[k], name)) return true;
    return is_macro(P, name);
}

/* Every call is a macro's; no name read is one of UNREADABLE unless the template sets it. The names
 * it reads without setting them go to t (its caller's: jinja_reads_unset). */
static void check_names(Parser *P, JinjaTemplate *t) {
    for (int i = 0; i < P->nsafes && !failed(P); i++)
        if (!P->safes[i]->op)
            lex_fail(P->L, P->safes[i]->pos, "the filter 'safe' is supported only where its text is printed, joined by "
                     "'~' or added to with '+' there (jinja2's Markup escapes what other filters and methods give it)");
    for (int i = 0; i < P->ncalls && !failed(P); i++)
        if (!is_macro(P, P->calls[i]->s))
            lex_fail(P->L, P->calls[i]->pos, "the function '%s' is not supported (only raise_exception, namespace, "
                     "strftime_now and the template's macros)", P->calls[i]->s);
    t->unset = arena_alloc(P->L->A, (size_t)(P->nnames + 1) * sizeof *t->unset);
    for (int i = 0; i < P->nnames && !failed(P); i++) {
        const char *n = P->names[i]->s;
        if (set_by_template(P, n)) continue;
        t->unset[t->nunset++] = P->names[i];
        if (str_listed(UNREADABLE, n))
            lex_fail(P->L, P->names[i]->pos, "the variable '%s' is not supported (%s)", n,
                     strstr(n, "_token") ? "transformers gives it the tokenizer's special token, which mixc does not read"
                                         : "Jinja's function, read as a value");
    }
}

bool jinja_reads_unset(const JinjaTemplate *t, const char *name, const char *why, char *err, size_t errlen) {
    for (int i = 0; i < t->nunset; i++)
        if (!strcmp(t->unset[i]->s, name)) {
            jinja_error_at(t->src, t->unset[i]->pos, err, errlen, "the variable '%s' is not supported (%s)", name, why);
            return true;
        }
    return false;
}

JinjaTemplate *jinja_parse(const char *src, char *err, size_t errlen) {
    JinjaTemplate *t = xcalloc(1, sizeof *t);
    Lex L = {.A = &t->arena, .err = err, .errlen = errlen};
    Parser P = {.L = &L};
    if (jinja_lex(&L, src)) {
        t->body = parse_body(&P, NULL, NULL);
        check_names(&P, t);
    }
    t->src = L.src;
    free(L.t);
    free(P.bound);
    free(P.names);
    free(P.macros);
    free(P.calls);
    free(P.safes);
    if (L.failed) {
        jinja_free(t);
        return NULL;
    }
    return t;
}

void jinja_free(JinjaTemplate *t) {
    if (!t) return;
    arena_free(&t->arena);
    free(t);
}
