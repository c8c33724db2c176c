/* yaml_subset.c — the part of YAML that `mixc export --foundry` writes and llm-foundry configs use
 * for a model: block mappings and sequences by indentation (spaces), `- key: value` items, plain and
 * quoted scalars (integers, reals, true/false, null, strings), comments and one leading `---`. Read
 * into a jansson tree; anything else (flow collections, anchors, tags, multi-line scalars, tabs) is
 * refused naming the file and line. No dependency: the project reads only what it writes. */
#include "yaml_subset.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int indent, line;
    char *text;             /* after the indentation, comment and trailing blanks removed */
} YLine;

typedef struct {
    const char *path;
    YLine *l;
    int n, at;
    json_t *lines;          /* "a.b[2].c" -> line */
    int depth;              /* of nested blocks, bounded: the recursion must not exhaust the stack */
    char err[300];
} YParser;

static bool yfail(YParser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool yfail(YParser *p, int line, const char *fmt, ...) {
    if (p->err[0]) return false;
    int k = snprintf(p->err, sizeof p->err, "%s:%d: ", p->path, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, sizeof p->err - (size_t)k, fmt, ap);
    va_end(ap);
    return false;
}

/* The comment starts at a '#' at the start or after a blank, outside quotes. */
static void strip_comment(char *s) {
    char quote = 0;
    for (char *c = s; *c; c++) {
        if (quote) { if (*c == quote) quote = 0; continue; }
        if (*c == '"' || *c == '\'') quote = *c;
        else if (*c == '#' && (c == s || c[-1] == ' ')) { *c = 0; break; }
    }
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r')) s[--n] = 0;
}

static bool split_lines(YParser *p, char *text) {
    int line = 0;
    for (char *s = text, *next; s && *s; s = next) {
        next = strchr(s, '\n');
        if (next) *next++ = 0;
        line++;
        int indent = 0;
        while (s[indent] == ' ') indent++;
        if (s[indent] == '\t') return yfail(p, line, "a tab in the indentation (YAML indents with spaces)");
        strip_comment(s + indent);
        if (!s[indent] || (p->n == 0 && !strcmp(s + indent, "---"))) continue;   /* one document start */
        p->l = xrealloc(p->l, (size_t)(p->n + 1) * sizeof *p->l);
        p->l[p->n++] = (YLine){indent, line, s + indent};
    }
    return true;
}

static json_t *scalar(YParser *p, const char *s, int line) {
    size_t n = strlen(s);
    if (strchr("[{&*!|>%@`", s[0]))
        return yfail(p, line, "'%s': flow collections, anchors, tags and block scalars are not read", s), NULL;
    if ((s[0] == '"' || s[0] == '\'') && n >= 2 && s[n - 1] == s[0]) {
        if (memchr(s + 1, '\\', n - 2)) return yfail(p, line, "escapes in quoted strings are not read"), NULL;
        return json_stringn(s + 1, n - 2);
    }
    if (!strcmp(s, "true")) return json_true();
    if (!strcmp(s, "false")) return json_false();
    if (!strcmp(s, "null") || !strcmp(s, "~")) return json_null();
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (!*end && end != s && !errno) return json_integer(i);
    double r = strtod(s, &end);
    if (!*end && end != s && isfinite(r)) return json_real(r);
    if (!utf8_valid(s, n)) return yfail(p, line, "a string that is not UTF-8"), NULL;
    return json_string(s);
}

static json_t *node(YParser *p, int indent, const char *path);

/* The value after "key:" or "- ": inline, or the block below (indented deeper), or null. */
static json_t *value_after(YParser *p, const char *rest, int indent, int line, const char *path) {
    while (*rest == ' ') rest++;
    if (*rest) return scalar(p, rest, line);
    if (p->at < p->n && p->l[p->at].indent > indent) return node(p, p->l[p->at].indent, path);
    if (p->at < p->n && p->l[p->at].indent == indent && p->l[p->at].text[0] == '-' &&
        (p->l[p->at].text[1] == ' ' || !p->l[p->at].text[1]))
        return node(p, indent, path);   /* a sequence may sit at its key's indentation */
    return json_null();
}

static json_t *sequence(YParser *p, int indent, const char *path) {
    json_t *a = json_array();
    while (p->at < p->n && p->l[p->at].indent == indent && p->l[p->at].text[0] == '-' &&
           (p->l[p->at].text[1] == ' ' || !p->l[p->at].text[1])) {
        YLine *l = &p->l[p->at];
        char sub[512];
        snprintf(sub, sizeof sub, "%s[%zu]", path, json_array_size(a));
        json_t *item;
        const char *rest = l->text + 1;
        while (*rest == ' ') rest++;
        if (*rest && strstr(rest, ": ") == NULL && rest[strlen(rest) - 1] != ':') {
            p->at++;
            item = scalar(p, rest, l->line);
        } else if (*rest) {   /* "- key: value": a mapping whose first entry is on this line */
            l->indent += (int)(rest - l->text);
            l->text = (char *)rest;
            item = node(p, l->indent, sub);
        } else {
            p->at++;
            item = value_after(p, "", indent, l->line, sub);
        }
        if (!item) return json_decref(a), NULL;
        json_array_append_new(a, item);
    }
    return a;
}

static json_t *mapping(YParser *p, int indent, const char *path) {
    json_t *o = json_object();
    while (p->at < p->n && p->l[p->at].indent == indent) {
        YLine *l = &p->l[p->at++];
        char *colon = strstr(l->text, ": ");
        if (!colon && l->text[strlen(l->text) - 1] == ':') colon = l->text + strlen(l->text) - 1;
        if (!colon || l->text[0] == '-')
            return json_decref(o), yfail(p, l->line, "'%s': expected 'key: value' at this indentation", l->text), NULL;
        *colon = 0;
        const char *key = l->text;
        if (!utf8_valid(key, strlen(key))) return json_decref(o), yfail(p, l->line, "a key that is not UTF-8"), NULL;
        if (json_object_get(o, key)) return json_decref(o), yfail(p, l->line, "'%s' is given twice", key), NULL;
        char sub[512];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        json_object_set_new(p->lines, sub, json_integer(l->line));
        json_t *v = value_after(p, colon + 1, indent, l->line, sub);
        if (!v) return json_decref(o), NULL;
        json_object_set_new(o, key, v);
    }
    return o;
}

#define YAML_MAX_DEPTH 64

static json_t *node(YParser *p, int indent, const char *path) {
    const char *t = p->l[p->at].text;
    if (p->depth >= YAML_MAX_DEPTH) return yfail(p, p->l[p->at].line, "blocks nest deeper than %d", YAML_MAX_DEPTH), NULL;
    p->depth++;
    json_t *v = t[0] == '-' && (t[1] == ' ' || !t[1]) ? sequence(p, indent, path) : mapping(p, indent, path);
    p->depth--;
    return v;
}

json_t *yaml_subset_read(const char *path, const char *text, json_t **lines, char *err, size_t errlen) {
    char *copy = xstrdup(text);
    YParser p = {.path = path, .lines = json_object()};
    json_t *root = NULL;
    if (split_lines(&p, copy)) {
        root = p.n ? node(&p, p.l[0].indent, "") : json_object();
        if (root && p.at < p.n) {
            yfail(&p, p.l[p.at].line, "'%s': indented less than its block, or more than the entries before it",
                  p.l[p.at].text);
            json_decref(root);
            root = NULL;
        }
    }
    if (!root) snprintf(err, errlen, "%s", p.err);
    free(p.l);
    free(copy);
    if (root) *lines = p.lines;
    else json_decref(p.lines);
    return root;
}
