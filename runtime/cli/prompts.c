/* prompts.c — mixrun's prompts as token ids: --tokens, --tokens-file and --prompts (docs/model.md). */
#include "prompts.h"
#include "mixc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_id_separator(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* One id: decimal digits only (no sign, no spaces) and at most INT32_MAX. */
static bool parse_token_id(const char *p, size_t len, int32_t *id) {
    if (len == 0 || len > 10) return false;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (p[i] - '0');
    }
    if (v > INT32_MAX) return false;
    *id = (int32_t)v;
    return true;
}

/* Parses token ids separated by white space and/or one comma: "1,2, 3 4". A comma with no id on
 * one side of it is refused, since it most likely stands for an id that was lost. false with a
 * message on stderr. */
bool parse_tokens(const char *text, const char *what, int32_t **out, int64_t *n) {
    int64_t cap = 16, count = 0;
    int32_t *t = xmalloc((size_t)cap * sizeof *t);
    const char *p = text, *problem = NULL;
    bool after_comma = false;
    for (;;) {
        while (is_id_separator(*p) && *p != ',') p++;
        if (*p == ',') {
            if (count == 0 || after_comma) {
                problem = count == 0 ? "a comma before the first id" : "two commas without an id between them";
                break;
            }
            after_comma = true;
            p++;
            continue;
        }
        if (!*p) {
            if (after_comma) problem = "a comma after the last id";
            break;
        }
        size_t len = 0;
        while (p[len] && !is_id_separator(p[len])) len++;
        if (count == cap) t = xrealloc(t, (size_t)(cap *= 2) * sizeof *t);
        if (!parse_token_id(p, len, &t[count])) {
            fprintf(stderr, "%s: %s: '%s' is not a token id\n", prog_name(), what, shown_text(p, len, (char[SHOWN_MAX]){0}));
            free(t);
            return false;
        }
        count++;
        after_comma = false;
        p += len;
    }
    if (!problem && count == 0) problem = "no token ids";
    if (problem) {
        fprintf(stderr, "%s: %s: %s\n", prog_name(), what, problem);
        free(t);
        return false;
    }
    *out = t;
    *n = count;
    return true;
}

/* which: the prompt's number (from 1) in a --prompts file, 0 for the only prompt. */
bool check_vocab(const int32_t *t, int64_t n, int64_t vocab, int64_t which) {
    for (int64_t i = 0; i < n; i++) {
        if (t[i] >= vocab) {
            char where[48] = "";
            if (which) snprintf(where, sizeof where, "prompt %lld, ", (long long)which);
            fprintf(stderr, "%s: token %d (%sposition %lld) is outside the vocabulary [0, %lld)\n", prog_name(), t[i], where,
                    (long long)i, (long long)vocab);
            return false;
        }
    }
    return true;
}

void prompts_free(Prompts *p) {
    free(p->ids);
    free(p->offset);
    memset(p, 0, sizeof *p);
}

int64_t prompts_longest(const Prompts *p) {
    int64_t longest = 0;
    for (int64_t s = 0; s < p->count; s++)
        if (prompt_len(p, s) > longest) longest = prompt_len(p, s);
    return longest;
}

void prompts_uniform(Prompts *p, int32_t *ids, int64_t count, int64_t n) {
    p->count = count;
    p->ids = ids;
    p->offset = xcalloc((size_t)count + 1, sizeof *p->offset);
    for (int64_t s = 0; s <= count; s++) p->offset[s] = s * n;
}

/* cap: the prompts offset has room for (its entries less one). */
static void prompts_append(Prompts *p, int64_t *cap, const int32_t *t, int64_t n) {
    if (p->count == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        p->offset = xrealloc(p->offset, (size_t)(*cap + 1) * sizeof *p->offset);
        if (p->count == 0) p->offset[0] = 0;
    }
    int64_t at = p->offset[p->count];
    p->ids = xrealloc(p->ids, (size_t)(at + n + 1) * sizeof *p->ids);
    memcpy(p->ids + at, t, (size_t)n * sizeof *t);
    p->offset[++p->count] = at + n;
}

/* (prompts.h) A line of commas alone is refused, not skipped as blank: it stands for a prompt. */
bool read_prompts_file(const char *path, int64_t vocab, Prompts *out) {
    char *text = read_text_file(prog_name(), path), *cursor = text, *line;
    bool ok = text != NULL;
    int64_t cap = 0, line_no = 0;
    while (ok && (line = next_text_line(&cursor, " \t\r", &line_no))) {
        if (out->count == MIXC_MAX_BATCH) {
            fprintf(stderr, "%s: '%s': more than %d prompts\n", prog_name(), path, MIXC_MAX_BATCH);
            ok = false;
            break;
        }
        char what[64 + 24];
        snprintf(what, sizeof what, "%.64s:%lld", path, (long long)line_no);
        int32_t *t = NULL;   /* parse_tokens leaves it NULL on failure */
        int64_t n = 0;
        ok = parse_tokens(line, what, &t, &n) && check_vocab(t, n, vocab, out->count + 1);
        if (ok) prompts_append(out, &cap, t, n);
        free(t);
    }
    if (ok && out->count == 0) {
        fprintf(stderr, "%s: '%s' holds no prompt\n", prog_name(), path);
        ok = false;
    }
    free(text);
    if (!ok) prompts_free(out);
    return ok;
}
