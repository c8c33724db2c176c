/* requests.c — reading and generating a serving run's requests (requests.h). */
#include "requests.h"

#include "model.h"
#include "options.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void serve_requests_free(ServeRequests *r) {
    for (ServeRequest *q = r->v; q && q < r->v + r->n; q++) free(q->id), free(q->prompt);
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* A line's problem: "mixrun: FILE:LINE: message" on stderr; returns false. */
static bool line_error(const char *path, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool line_error(const char *path, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: %s:%d: ", prog_name(), path, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return false;
}

/* A count field (max_new_tokens): an integer in [1, MIXC_MAX_VALUE). */
static bool count_field(json_t *v, const char *path, int line, const char *name, int64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) >= MIXC_MAX_VALUE)
        return line_error(path, line, "field '%s' must be an integer >= 1", name);
    *out = (int64_t)json_integer_value(v);
    return true;
}

static bool prompt_field(json_t *v, const char *path, int line, int64_t vocab, ServeRequest *r) {
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0 || n >= (size_t)MIXC_MAX_VALUE)
        return line_error(path, line, "field 'prompt_tokens' must be a non-empty array of token ids");
    r->prompt = xcalloc(n, sizeof *r->prompt);
    r->prompt_len = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(v, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0)
            return line_error(path, line, "field 'prompt_tokens': element %zu is not a token id", i);
        if (json_integer_value(t) >= vocab)
            return line_error(path, line, "field 'prompt_tokens': token %lld (position %zu) is outside the vocabulary [0, %lld)",
                              (long long)json_integer_value(t), i, (long long)vocab);
        r->prompt[i] = (int32_t)json_integer_value(t);
    }
    return true;
}

/* An id is printed as "ID: tokens" at the head of a line: a non-empty string without NUL or another
 * control character (Unicode's Cc: C0, DEL, and C1, U+0080..U+009F, which a byte test of C0 and DEL
 * let through: U+0085 is a line break to some readers, U+009B a terminal's CSI), nor U+2028 or
 * U+2029 (line and paragraph separators: Python's splitlines() ends a line at them, as at U+0085). */
static bool id_ok(json_t *v) {
    if (!json_is_string(v) || !json_string_length(v) || strlen(json_string_value(v)) != json_string_length(v))
        return false;
    for (const unsigned char *c = (const unsigned char *)json_string_value(v); *c; c++) {   /* UTF-8: jansson's */
        if (*c < 0x20 || *c == 0x7f || (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f)) return false;
        if (c[0] == 0xe2 && c[1] == 0x80 && (c[2] == 0xa8 || c[2] == 0xa9)) return false;
    }
    return true;
}

/* One line's object into r (its fields checked); false with a message. */
static bool parse_request(json_t *o, const char *path, int line, int64_t vocab, ServeRequest *r) {
    if (!json_is_object(o)) return line_error(path, line, "not a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool ok;
        if (!strcmp(key, "id")) {
            if (!(ok = id_ok(v))) return line_error(path, line, "field 'id' must be a non-empty string without control characters or line separators");
            r->id = xstrdup(json_string_value(v));
        } else if (!strcmp(key, "prompt_tokens")) {
            ok = prompt_field(v, path, line, vocab, r);
        } else if (!strcmp(key, "max_new_tokens")) {
            ok = count_field(v, path, line, key, &r->max_new);
        } else if (!strcmp(key, "arrival_s")) {
            ok = json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= SERVE_MAX_ARRIVAL_S;
            if (!ok) return line_error(path, line, "field 'arrival_s' must be a number >= 0 and <= %.0f (a day)",
                                       SERVE_MAX_ARRIVAL_S);
            r->arrival_s = json_number_value(v);
        } else if (!strcmp(key, "priority")) {
            if (!(ok = json_is_integer(v))) return line_error(path, line, "field 'priority' must be an integer");
            r->priority = (int64_t)json_integer_value(v);
        } else {
            return line_error(path, line, "unknown field '%s' (id, prompt_tokens, max_new_tokens, arrival_s, priority)",
                              shown_text(key, strlen(key), (char[SHOWN_MAX]){0}));
        }
        if (!ok) return false;
    }
    const char *missing = !r->id ? "id" : !r->prompt ? "prompt_tokens" : r->max_new < 1 ? "max_new_tokens" : NULL;
    if (missing) return line_error(path, line, "missing field '%s'", missing);
    return true;
}

/* A request and its index in the file, for the sorts below: both in O(n log n), a file of
 * SERVE_MAX_REQUESTS requests is read in seconds (a scan of every pair took most of an hour). */
typedef struct {
    const ServeRequest *r;
    int i;
} Placed;

static int by_index(const Placed *x, const Placed *y) { return (x->i > y->i) - (x->i < y->i); }

static int by_id(const void *a, const void *b) {
    int c = strcmp(((const Placed *)a)->r->id, ((const Placed *)b)->r->id);
    return c ? c : by_index(a, b);
}

static int by_arrival(const void *a, const void *b) {
    double x = ((const Placed *)a)->r->arrival_s, y = ((const Placed *)b)->r->arrival_s;
    return x < y ? -1 : x > y ? 1 : by_index(a, b);
}

/* r's requests sorted by `order`. */
static Placed *sorted(const ServeRequests *r, int (*order)(const void *, const void *)) {
    Placed *p = xcalloc((size_t)r->n, sizeof *p);
    for (int i = 0; i < r->n; i++) p[i] = (Placed){&r->v[i], i};
    qsort(p, (size_t)r->n, sizeof *p, order);
    return p;
}

/* Stable by arrival (ties in file order): the admission order (FIFO). */
static void sort_by_arrival(ServeRequests *r) {
    Placed *p = sorted(r, by_arrival);
    ServeRequest *v = xcalloc((size_t)r->n, sizeof *v);
    for (int k = 0; k < r->n; k++) v[k] = *p[k].r;
    free(p);
    free(r->v);
    r->v = v;
}

/* r in file order. Sorted by id, then index, an id used again follows its first use; the one
 * reported is the first repeat in the file (as a scan of the file in order finds it). */
static bool unique_ids(const char *path, const ServeRequests *r, const int *lines) {
    Placed *p = sorted(r, by_id);
    int repeat = -1, first = -1;
    for (int k = 1, start = 0; k < r->n; k++) {
        if (strcmp(p[k].r->id, p[k - 1].r->id)) start = k;
        else if (repeat < 0 || p[k].i < repeat) repeat = p[k].i, first = p[start].i;
    }
    free(p);
    return repeat < 0 || line_error(path, lines[repeat], "id '%s' was already used on line %d", r->v[repeat].id, lines[first]);
}

bool serve_read_requests(const char *path, int64_t vocab, ServeRequests *out) {
    memset(out, 0, sizeof *out);
    char *text = read_text_file(prog_name(), path), *cursor = text, *p;
    if (!text) return false;
    bool ok = true;
    int cap = 0, *lines = NULL;
    int64_t line = 0;
    while (ok && (p = next_text_line(&cursor, " \t\r", &line))) {
        if (out->n == SERVE_MAX_REQUESTS) {
            ok = line_error(path, line, "more than %d requests", SERVE_MAX_REQUESTS);
            break;
        }
        if (out->n == cap) {
            cap = cap ? 2 * cap : 16;
            out->v = xrealloc(out->v, (size_t)cap * sizeof *out->v);
            lines = xrealloc(lines, (size_t)cap * sizeof *lines);
        }
        ServeRequest *r = &out->v[out->n++];
        memset(r, 0, sizeof *r);
        lines[out->n - 1] = line;
        json_error_t je;
        json_t *o = json_loads(p, JSON_REJECT_DUPLICATES, &je);
        ok = o ? parse_request(o, path, line, vocab, r)
               : line_error(path, line, "not JSON: %s", shown_text(je.text, strlen(je.text), (char[SHOWN_MAX]){0}));
        json_decref(o);
    }
    if (ok && out->n == 0) ok = line_error(path, line ? line : 1, "no request in the file");
    ok = ok && unique_ids(path, out, lines);
    free(lines);
    free(text);
    if (!ok) serve_requests_free(out);
    else sort_by_arrival(out);
    return ok;
}

bool serve_parse_synthetic(const char *text, void *slot) {
    SyntheticSpec *s = slot;
    char buf[128];
    if (strlen(text) >= sizeof buf) return false;
    strcpy(buf, text);
    int64_t *counts[] = {&s->count, &s->prompt, &s->new_tokens};
    char *save = NULL, *part = strtok_r(buf, ",", &save);
    for (int i = 0; i < 3; i++, part = strtok_r(NULL, ",", &save))
        if (!part || !opt_parse_count(part, 1, i == 0 ? SERVE_MAX_REQUESTS : 1 << 24, counts[i])) return false;
    if (s->count * s->prompt > 1 << 28) return false;   /* the prompts are held at once: 1 GiB of ids at most */
    s->rate = 0;
    if (part) {
        char *end;
        errno = 0;
        s->rate = strtod(part, &end);
        if (errno || *end || end == part || !(s->rate >= 0) || !isfinite(s->rate)) return false;
        if (strtok_r(NULL, ",", &save)) return false;
    }
    return true;
}

bool serve_synthetic(const SyntheticSpec *spec, uint64_t seed, int64_t vocab, ServeRequests *out) {
    uint64_t state = seed ^ 0x73657276650aull;   /* its own stream, apart from the weights' */
    out->n = (int)spec->count;
    out->v = xcalloc((size_t)out->n, sizeof *out->v);
    double at = 0;
    for (int i = 0; i < out->n; i++) {
        ServeRequest *r = &out->v[i];
        char id[32];
        snprintf(id, sizeof id, "s%d", i + 1);
        r->id = xstrdup(id);
        r->prompt_len = spec->prompt;
        r->max_new = spec->new_tokens;
        r->prompt = xcalloc((size_t)spec->prompt, sizeof *r->prompt);
        for (int64_t t = 0; t < spec->prompt; t++) r->prompt[t] = (int32_t)(splitmix64(&state) % (uint64_t)vocab);
        if (spec->rate > 0 && i > 0) {   /* exponential gaps: u in (0, 1] */
            double u = (double)((splitmix64(&state) >> 11) + 1) / 9007199254740992.0;
            at += -log(u) / spec->rate;
        }
        r->arrival_s = at;
        if (!(at <= SERVE_MAX_ARRIVAL_S)) {
            fprintf(stderr, "%s: --synthetic at %g requests/s: request '%s' would arrive at %g s, past the %.0f s "
                    "(a day) a run waits for\n", prog_name(), spec->rate, r->id, at, SERVE_MAX_ARRIVAL_S);
            serve_requests_free(out);
            return false;
        }
    }
    return true;
}
