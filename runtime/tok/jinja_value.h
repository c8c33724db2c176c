/* jinja_value.h — the values a template computes with (jinja.c renders, jinja_value.c holds what
 * values do on their own: Python's truth, ==, str() and json.dumps). JSON values come in as Python's
 * dicts and lists would (a JSON object stays one, read in place; an array becomes a list). */
#ifndef MIXC_JINJA_VALUE_H
#define MIXC_JINJA_VALUE_H

#include "jinja_ast.h"

typedef enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_MSG, V_NS, V_LOOP, V_FUNC, V_MACRO } ValKind;
extern const char *const JINJA_KIND_NAME[];

typedef struct Val {
    ValKind k;
    int64_t i;          /* V_BOOL, V_INT; V_MSG: the message's index; V_LIST: its items [i, hi) of p */
    int64_t hi;
    double f;           /* V_FLOAT */
    const char *s;      /* V_STR: n bytes */
    size_t n;           /* V_LIST: 1 for a generator (selectattr's, before | list) */
    bool tuple;         /* V_LIST: a tuple literal's (Python: never equal to a list) */
    bool markup;        /* V_STR: jinja2's Markup (| safe's, and what + makes of it), where printed */
    const void *p;      /* V_LIST: const Val[]; V_DICT: a json_t object; V_NS: Ns; V_LOOP: jinja.c's Loop;
                         * V_MACRO: its Stmt */
} Val;

#define NS_MAX 32
typedef struct {
    const char *keys[NS_MAX];
    Val vals[NS_MAX];
    int n;
} Ns;

/* What the values' functions need of a render: its arena, its messages, and where a failure goes
 * (jinja.c's Render starts with this). */
typedef struct {
    const JinjaTemplate *t;
    const JinjaContext *c;
    Arena A;
    char *err;
    size_t errlen;
    bool failed, raised;
    json_t *owned;      /* the dicts the render made (dict literals), freed with it */
} ValCtx;

extern const Val JINJA_UNDEF;

/* b's text as a string in R's arena, b freed (undefined when R failed). */
Val jinja_take_text(ValCtx *R, Buf *b);

Val jinja_fail(ValCtx *R, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
Val jinja_str(const char *s, size_t n);
Val jinja_int(ValKind k, int64_t i);
/* A list of the n values at items (kept: the arena's, or the caller's for the render). */
Val jinja_list(const Val *items, int64_t n);
/* j as Python's json.loads gives it: an object stays read in place, an array becomes a list. */
Val jinja_from_json(ValCtx *R, const json_t *j);
/* Item k of a list. */
static inline Val jinja_item(Val list, int64_t k) { return ((const Val *)list.p)[list.i + k]; }
static inline int64_t jinja_len(Val list) { return list.hi - list.i; }

bool jinja_truthy(Val v);
/* Python's ==; false with a failure where Python and this subset could differ (a message and a
 * dict). */
bool jinja_equal(ValCtx *R, Val a, Val b, size_t pos);
/* v as Python's str() writes it, into b; false for what has no text here (a list, a dict). */
bool jinja_text(Val v, Buf *b);
/* v as Python's json.dumps(v, ensure_ascii=False, indent=indent) writes it (indent < 0: none) into
 * b (transformers' tojson); false with a failure for what JSON has no form of. */
bool jinja_dump(ValCtx *R, Val v, int64_t indent, Buf *b, size_t pos);
/* Python's str method `name` (strip, lstrip, rstrip, startswith, endswith, split, replace, upper, lower) of s with
 * its nargs arguments; a failure for another value or other arguments. */
Val jinja_str_method(ValCtx *R, const char *name, Val s, const Val *args, int nargs, size_t pos);
/* Python's str.upper() (upper) or str.lower() of s: a failure where s holds a cased character
 * beyond ASCII. */
Val jinja_case(ValCtx *R, Val s, bool upper, size_t pos);
/* v as JSON (a dict literal's value): NULL with a failure for what JSON has no form of. */
json_t *jinja_to_json(ValCtx *R, Val v, size_t pos);
/* The message as the dict a template reads: its key `key` (n bytes), or undefined. */
Val jinja_msg_key(ValCtx *R, Val msg, const char *key, size_t n);

#endif
