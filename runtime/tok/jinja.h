/* jinja.h — a Jinja2 subset, enough to render the chat templates of tokenizer_config.json exactly as
 * Hugging Face transformers does (jinja2 with trim_blocks and lstrip_blocks; docs/tokenizer.md,
 * "Chat templates", lists it). What the subset lacks is refused when the template is read, naming the
 * construct: a template is never rendered as another text.
 *
 * Supported, in short: text, {{ }}, if/elif/else, for (with `if`, two loop variables, loop.index0 ...
 * loop.previtem/nextitem), set (block sets too, and namespace attributes), top-level macros and their calls (reading
 * only their arguments, their own names, the globals and the macros), white-space control; string,
 * integer, boolean, none, list, tuple and dict literals; Python's operators on integers and strings,
 * comparisons, and/or/not, in, x if c else y, indexing and slices with steps; the filters trim,
 * length, string, list, tojson, selectattr/rejectattr, select/reject, items, dictsort, join, default,
 * map, upper, lower and format (%s, %d); the tests defined, undefined, none, string, mapping, iterable, true, false,
 * boolean, integer, float, number, sequence; str's strip/lstrip/rstrip/startswith/endswith/split/
 * replace/upper/lower, dict's items/get; raise_exception, namespace, strftime_now. JSON values (the
 * tools, a message's tool_calls, chat_template_kwargs) are Python's dicts and lists; floats print as
 * Python's repr. A name the template reads without setting it is the caller's kwarg, else
 * undefined, but for the special tokens transformers adds and mixc does not read (refused). */
#ifndef MIXC_JINJA_H
#define MIXC_JINJA_H

#include "mixc.h"

#include <jansson.h>
#include <time.h>

typedef struct {
    const char *role;       /* UTF-8, NUL-terminated */
    const char *content;    /* UTF-8, len bytes */
    size_t len;
    const json_t *extra;    /* NULL, or an object: the message's other keys after role and content, in
                             * order (tool_calls, tool_call_id, name: what vLLM hands the template) */
} ChatMessage;

/* A value a caller gives the template by name (transformers' apply_chat_template keyword arguments:
 * vLLM's chat_template_kwargs): any JSON value. */
typedef struct {
    const char *name;
    const json_t *value;
} JinjaKwarg;

typedef struct {
    const ChatMessage *messages;
    int nmessages;
    const char *bos_token, *eos_token;   /* NULL: undefined */
    bool add_generation_prompt;
    const struct tm *now;   /* strftime_now's clock; NULL: the local time when rendered (transformers') */
    const json_t *tools;    /* the tools (a list, [] too, as transformers passes it); NULL: none */
    const JinjaKwarg *kwargs;   /* [nkwargs] names bound before the template runs (over the others') */
    int nkwargs;
    const json_t *documents;    /* the documents (a list of objects, as transformers passes them); NULL: none */
} JinjaContext;

typedef struct JinjaTemplate JinjaTemplate;

/* The template src (NUL-terminated), or NULL with "LINE:COL: what" in err: a syntax error, or a
 * construct of Jinja the subset does not render, named. */
JinjaTemplate *jinja_parse(const char *src, char *err, size_t errlen);

/* Appends the rendering to out. false with a message in err: raise_exception's message (*raised
 * true), or an operation Jinja would fail on or the subset does not do (adding a string to a
 * number, printing a list, ...). */
bool jinja_render(const JinjaTemplate *t, const JinjaContext *c, Buf *out, bool *raised, char *err, size_t errlen);

/* Whether t reads name without ever setting it (a name its caller would have to give: a special
 * token of the tokenizer's); then "LINE:COL: the variable 'name' is not supported (why)" in err. */
bool jinja_reads_unset(const JinjaTemplate *t, const char *name, const char *why, char *err, size_t errlen);

void jinja_free(JinjaTemplate *t);

/* j as Python's json.dumps(j, ensure_ascii=False) writes it (", " and ": " between items, floats as
 * repr()), appended to b: what vLLM writes of JSON it read. */
void jinja_json_text(const json_t *j, Buf *b);
/* j as Python's str() writes the value json.loads reads of it (a string itself; others their repr():
 * ['a', None], {'k': 1.5}), appended to b; false for a string that is not UTF-8. */
bool jinja_py_str(const json_t *j, Buf *b);

/* s[*from, *to) without Python's str.strip() white space at the ends (left and/or right). */
void jinja_strip(const char *s, size_t len, bool left, bool right, size_t *from, size_t *to);

#endif
