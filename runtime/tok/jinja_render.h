/* jinja_render.h — a render's state and the functions its parts share (jinja.c renders statements and
 * expressions, jinja_filter.c the filters). */
#ifndef MIXC_JINJA_RENDER_H
#define MIXC_JINJA_RENDER_H

#include "jinja_value.h"

typedef struct {
    const char *name;
    Val v;
} Var;

/* A render: the values' context first (jinja_value.h), then the scopes. */
typedef struct {
    ValCtx V;
    Buf *out;
    Var *vars;
    int nvars, cap, frame;     /* the innermost loop's variables start at frame */
    int base;                  /* a macro's variables start at base: below, it reads only the top level's */
    int top;                   /* the top level's variables are [0, top) while a loop or a macro runs, else
                                * -1 (all of them) */
    int depth;                 /* macro calls in progress */
    const Stmt **macros;       /* the macros defined so far [nmacros] */
    int nmacros, capmacros;
    Val messages;              /* the context's messages, a list */
    Val block;                 /* the innermost {% filter %} block's text, which its filters take */
    JStmtKind jump;            /* S_BREAK or S_CONTINUE while statements are left for the innermost loop,
                                * else S_TEXT */
} Render;

#define UNDEF JINJA_UNDEF
#define KIND_NAME JINJA_KIND_NAME
#define fail(R, ...) jinja_fail(&(R)->V, __VA_ARGS__)
#define str_val jinja_str
#define int_val jinja_int

Val jinja_eval(Render *R, const Expr *e);
/* obj.key (attr) or obj[key] with a string key. */
Val jinja_get_key(Render *R, Val o, const char *key, size_t n, bool attr, size_t pos);
/* The values `for` iterates over: a list's items, a dict's keys (none for undefined). */
bool jinja_iterate(Render *R, Val v, size_t pos, Val *list);
/* v as a string (Python's str()), or a failure. */
Val jinja_as_str(Render *R, Val v, size_t pos);
Val jinja_strip_val(Render *R, Val v, size_t pos);
/* Jinja's test name of v. */
bool jinja_test_is(const char *name, Val v);
bool jinja_equal_at(Render *R, Val a, Val b, size_t pos);
/* jinja_filter.c: e | filter, or e is test. */
Val jinja_eval_filter(Render *R, const Expr *e);
/* d | items and d.items(): a list of [key, value] pairs. */
Val jinja_items_of(Render *R, Val d, size_t pos);

#endif
