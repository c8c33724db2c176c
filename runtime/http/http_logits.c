/* http_logits.c — a request's fields that shape its picks' logits beyond OpenAI's: vLLM's
 * allowed_token_ids and bad_words (docs/serving.md, "The HTTP server"; the picks: http_gen.c). */
#include "http_parse.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* vLLM's allowed_token_ids: the only tokens a pick may take (the others' logits -inf; the
 * log-probabilities stay the model's, as vLLM's raw ones do). */
bool api_allowed_token_ids(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    if (!json_is_array(v) || !json_array_size(v)) return api_refuse(err, 400, "field 'allowed_token_ids' must be a non-empty array of token ids");
    int32_t *ids = NULL;
    int64_t n = 0;
    bool ok = api_take_ids(p, v, "allowed_token_ids", &ids, &n, err);
    free(p->g->allowed);
    p->g->allowed = ok ? xcalloc((size_t)p->s->vocab + 1, 1) : NULL;
    for (int64_t k = 0; ok && k < n; k++) p->g->allowed[ids[k]] = 1;
    p->g->allowed_ids = ok;
    free(ids);
    return ok;
}

/* Python's str.isspace() of code point c (str.lstrip's white space). */
static bool python_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* One bad word's token sequence: the tokenizer's ids of text[len] (no special tokens) appended to g's. */
static bool bad_sequence(Parse *p, const char *text, size_t len, ApiError *err) {
    int32_t *ids = NULL;
    int64_t n = 0;
    char e[200];
    Gen *g = p->g;
    if (!tokenizer_encode(p->s->tok, text, len, false, &ids, &n, e, sizeof e) || !n)
        return free(ids), api_refuse(err, 400, "field 'bad_words': %s", n ? e : "a word makes no tokens");
    for (int64_t k = 0; k < n; k++)
        if (ids[k] >= p->s->vocab) {   /* a tokenizer larger than the model: no logit to ban */
            int32_t id = ids[k];
            free(ids);
            return api_refuse(err, 400, "field 'bad_words': a word makes token %d, past the model's vocabulary (%lld)", id,
                              (long long)p->s->vocab);
        }
    g->bad_off = xrealloc(g->bad_off, ((size_t)g->nbad + 2) * sizeof *g->bad_off);
    g->bad_off[0] = 0;
    g->bad_ids = xrealloc(g->bad_ids, ((size_t)g->bad_off[g->nbad] + (size_t)n) * sizeof *g->bad_ids);
    memcpy(g->bad_ids + g->bad_off[g->nbad], ids, (size_t)n * sizeof *ids);
    g->bad_off[g->nbad + 1] = g->bad_off[g->nbad] + (int32_t)n;
    g->nbad++;
    free(ids);
    return true;
}

/* vLLM's bad_words: each word's ids as the tokenizer writes it, and those of " " + the word (its
 * leading white space stripped, as str.lstrip does): a pick may not end either sequence. */
bool api_bad_words(Parse *p, json_t *v, ApiError *err) {
    size_t i;
    json_t *w;
    if (json_is_null(v)) return true;
    if (!json_is_array(v) || json_array_size(v) > HTTP_MAX_BAD_WORDS)
        return api_refuse(err, 400, "field 'bad_words' must be an array of at most %d strings", HTTP_MAX_BAD_WORDS);
    if (!p->s->tok) return api_refuse(err, 400, "field 'bad_words' needs a tokenizer, and this server has none");
    free(p->g->bad_ids), free(p->g->bad_off);   /* the body's words replace the server's defaults' */
    p->g->bad_ids = NULL, p->g->bad_off = NULL, p->g->nbad = 0;
    json_array_foreach(v, i, w) {
        if (!json_is_string(w) || !json_string_length(w)) return api_refuse(err, 400, "field 'bad_words': element %zu is not a non-empty string", i);
        const char *t = json_string_value(w);
        size_t len = json_string_length(w), at = 0;
        for (utf8proc_int32_t c; at < len;) {
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t + at, (utf8proc_ssize_t)(len - at), &c);
            if (k <= 0 || !python_space((uint32_t)c)) break;
            at += (size_t)k;
        }
        if (at == len) return api_refuse(err, 400, "field 'bad_words': element %zu is white space alone", i);
        char *spaced = xmalloc(len - at + 2);
        spaced[0] = ' ';
        memcpy(spaced + 1, t + at, len - at);
        bool ok = bad_sequence(p, t + at, len - at, err) && bad_sequence(p, spaced, len - at + 1, err);
        free(spaced);
        if (!ok) return false;
    }
    return true;
}
