/* jinja_ast.h — the parsed template of jinja_parse.c, which jinja.c renders (jinja.h). */
#ifndef MIXC_JINJA_AST_H
#define MIXC_JINJA_AST_H

#include <stdarg.h>

#include "jinja.h"

/* The length of the Python white-space character at s[0, len), or 0 (jinja.c). */
size_t jinja_space_len(const char *s, size_t len);

/* jinja_lex.c: the template's tokens. T_TEXT is text with Jinja's white-space control applied. */
typedef enum { T_TEXT, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STR, T_INT, T_OP, T_EOF } TokKind;
typedef struct {
    TokKind k;
    const char *s;           /* T_TEXT, T_STR: n bytes (T_STR decoded); T_NAME, T_OP: the text */
    size_t n;
    int64_t i;               /* T_INT */
    size_t pos;              /* in the normalized source */
} Tok;
typedef struct {
    Arena *A;
    const char *src;         /* newlines normalized, as Jinja's lexer does */
    size_t len;
    Tok *t;
    int nt, cap;
    char *err;
    size_t errlen;
    bool failed;
} Lex;
/* L->A, L->err and L->errlen set: the tokens of src in L (ending in T_EOF), or false with
 * "LINE:COL: what" in L->err. */
bool jinja_lex(Lex *L, const char *src);
/* "LINE:COL: what" at src[pos] into err. */
void jinja_verror(const char *src, size_t pos, char *err, size_t errlen, const char *fmt, va_list ap);
/* "LINE:COL: what" at src[pos] into err. */
void jinja_error_at(const char *src, size_t pos, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* An error "LINE:COL: what" at src[pos] into L->err (the first one only). */
void lex_fail(Lex *L, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The tests of `x is name` the subset has (jinja_parse.c; jinja.c's jinja_test_is computes them, and
 * selectattr/select take them by name). */
extern const char *const JINJA_TESTS[];
/* The attributes of `loop` the subset has (jinja.c's loop_attr computes them). */
extern const char *const JINJA_LOOP_ATTRS[];
/* The NULL-ended names of list as "a(), b() and c()" (each followed by suffix) into buf. */
void jinja_name_list(char *buf, size_t n, const char *const *list, const char *suffix);

typedef enum {
    E_STR, E_INT, E_BOOL, E_NONE, E_NAME, E_ATTR, E_INDEX, E_SLICE, E_FILTER, E_TEST, E_BIN, E_NOT, E_NEG,
    E_COND, E_RAISE, E_NAMESPACE, E_NOW, E_METHOD, E_LIST, E_DICT, E_CALL, E_BLOCK
} ExprKind;

/* Binary operators of E_BIN. */
enum { OP_ADD, OP_SUB, OP_MUL, OP_MOD, OP_CAT, OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_IN, OP_NOTIN, OP_AND, OP_OR };

typedef struct Expr {
    ExprKind k;
    int op;                  /* E_BIN: OP_*; E_TEST: 1 when negated; E_LIST: 1 for a tuple */
    const char *s;           /* E_STR (n bytes), E_NAME, E_ATTR, E_FILTER and E_TEST names */
    size_t n;
    int64_t i;               /* E_INT, E_BOOL */
    struct Expr *a, *b, *c;  /* operands; E_SLICE: a[b:c:d] (b, c, d may be NULL); E_COND: b if a else c;
                              * E_METHOD: a.s(args) */
    struct Expr *d;
    const char **keys;       /* E_NAMESPACE: keys[i] = args[i]; E_FILTER: a keyword argument's name or NULL */
    struct Expr **args;      /* E_NAMESPACE, E_FILTER, E_METHOD and E_CALL (their arguments; keys: a keyword
                              * argument's name or NULL), E_NOW (args[0] the format), E_LIST (its items),
                              * E_DICT (key, value, key, value, ...) */
    int nargs;
    size_t pos;              /* in the normalized source */
} Expr;

typedef enum { S_TEXT, S_PRINT, S_IF, S_FOR, S_SET, S_MACRO, S_BREAK, S_CONTINUE, S_FILTER } JStmtKind;

typedef struct Stmt {
    JStmtKind k;
    const char *s;           /* S_TEXT: n bytes */
    size_t n;
    Expr *e;                 /* S_PRINT, S_SET value, S_IF condition, S_FOR iterable, S_FILTER its filters
                              * (on E_BLOCK: the body's text; NULL: none) */
    const char *name, *attr; /* S_SET target name[.attr], S_FOR variable, S_MACRO name */
    const char *name2;       /* S_FOR: the second variable of `for a, b in` (not rendered) */
    struct Expr *cond;       /* S_FOR: the `if` filter of its items, or NULL */
    struct Stmt *body, *els; /* S_IF, S_FOR, S_MACRO, S_SET and S_FILTER (body) */
    const char **params;     /* S_MACRO: its parameters [nparams], each with its default or NULL */
    struct Expr **defaults;
    int nparams;
    struct Stmt *next;
    size_t pos;              /* in the normalized source */
} Stmt;

struct JinjaTemplate {
    Arena arena;
    const char *src;         /* normalized, for the positions of errors */
    Stmt *body;
    const Expr **unset;      /* [nunset] the names read that the template never sets */
    int nunset;
};

#endif
