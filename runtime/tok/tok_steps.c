/* tok_steps.c — the normalizers and decoders of a tokenizer.json (tok_steps.h): read with every
 * field checked, applied as the tokenizers package applies them (its normalizers/ and decoders/
 * modules: Prepend on a non-empty text only, Replace of every occurrence, ByteFallback's <0xXX>
 * groups decoded as UTF-8 or one U+FFFD per byte, Strip per token, Metaspace's first token). */
#include "tok_steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_bpe.h"

const char *tok_type(json_t *o) {
    const char *t = json_string_value(json_object_get(o, "type"));
    return t ? t : "(no type)";
}

/* o holds no field outside known (NULL-terminated); else the first other one is named. */
static bool only_fields(json_t *o, const char *const *known, const char *what, char *err, size_t errlen) {
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        size_t i = 0;
        while (known[i] && strcmp(known[i], key)) i++;
        if (!known[i]) return errorf(err, errlen, "the %s '%s' has the field '%.40s', which is not supported", what,
                                     tok_type(o), key);
    }
    return true;
}

/* A Replace's pattern: a String (a Regex is refused by name). */
static bool string_pattern(json_t *o, const char *what, char **out, char *err, size_t errlen) {
    json_t *pattern = json_object_get(o, "pattern");
    const char *s = json_string_value(json_object_get(pattern, "String"));
    if (json_object_get(pattern, "Regex"))
        return errorf(err, errlen, "the %s Replace with a Regex pattern is not supported (only a String)", what);
    if (!s || !*s) return errorf(err, errlen, "the %s Replace has no String pattern", what);
    *out = xstrdup(s);
    return true;
}

/* A string field holding exactly one character (Strip's content, Metaspace's replacement). */
static bool one_char(json_t *o, const char *key, const char *what, char **out, char *err, size_t errlen) {
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || !*s || utf8_sequence_len((const unsigned char *)s, strlen(s)) != strlen(s))
        return errorf(err, errlen, "the %s's %s is not one character", what, key);
    *out = xstrdup(s);
    return true;
}

bool tok_prepend_scheme(json_t *o, TokPrepend *out) {
    json_t *v = json_object_get(o, "prepend_scheme");
    const char *s = json_string_value(v);
    if (!v) return *out = PREPEND_FIRST, true;
    if (!s) return false;
    static const char *const names[] = {"never", "first", "always"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) return *out = (TokPrepend)i, true;
    return false;
}

/* ------------------------------------------------------------------ normalizers */

static bool load_norm_step(TokSteps *s, json_t *n, char *err, size_t errlen) {
    const char *type = tok_type(n);
    if (s->nnorm == TOK_MAX_STEPS) return errorf(err, errlen, "more than %d normalizers", TOK_MAX_STEPS);
    NormStep *st = &s->norm[s->nnorm];
    static const char *const nfc_fields[] = {"type", NULL}, *const prepend_fields[] = {"type", "prepend", NULL},
                             *const replace_fields[] = {"type", "pattern", "content", NULL};
    if (!strcmp(type, "NFC")) {
        if (!only_fields(n, nfc_fields, "normalizer", err, errlen)) return false;
        *st = (NormStep){.kind = NORM_NFC};
    } else if (!strcmp(type, "Prepend")) {
        const char *p = json_string_value(json_object_get(n, "prepend"));
        if (!only_fields(n, prepend_fields, "normalizer", err, errlen)) return false;
        if (!p) return errorf(err, errlen, "the normalizer Prepend has no prepend string");
        *st = (NormStep){.kind = NORM_PREPEND, .text = xstrdup(p)};
    } else if (!strcmp(type, "Replace")) {
        const char *c = json_string_value(json_object_get(n, "content"));
        if (!only_fields(n, replace_fields, "normalizer", err, errlen)) return false;
        if (!c) return errorf(err, errlen, "the normalizer Replace has no content string");
        *st = (NormStep){.kind = NORM_REPLACE};
        if (!string_pattern(n, "normalizer", &st->text, err, errlen)) return false;
        st->content = xstrdup(c);
    } else {
        return errorf(err, errlen, "the normalizer '%s' is not supported (supported: NFC, Prepend, Replace of a "
                      "String, and a Sequence of them)", type);
    }
    s->nnorm++;
    return true;
}

/* o: one step, or a Sequence of them under key (not nested); each read by load. */
static bool load_sequence(TokSteps *s, json_t *o, const char *key, const char *what,
                          bool (*load)(TokSteps *, json_t *, char *, size_t), char *err, size_t errlen) {
    if (strcmp(tok_type(o), "Sequence")) return load(s, o, err, errlen);
    const char *const fields[] = {"type", key, NULL};
    if (!only_fields(o, fields, what, err, errlen)) return false;
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(o, key), i, step)
        if (!strcmp(tok_type(step), "Sequence") ? !errorf(err, errlen, "a %s Sequence in a Sequence is not supported", what)
                                                : !load(s, step, err, errlen))
            return false;
    return true;
}

bool tok_load_normalizer(TokSteps *s, json_t *normalizer, char *err, size_t errlen) {
    if (!normalizer || json_is_null(normalizer)) return true;
    return load_sequence(s, normalizer, "normalizers", "normalizer", load_norm_step, err, errlen);
}

void tok_replace_all(const char *s, size_t n, const char *from, const char *to, Buf *out) {
    const size_t k = strlen(from);
    size_t i = 0;
    while (i < n) {
        if (i + k <= n && !memcmp(s + i, from, k)) {
            buf_puts(out, to);
            i += k;
        } else {
            buf_append(out, s + i++, 1);
        }
    }
}

void tok_normalize(const TokSteps *s, char **text, size_t *len) {
    for (int i = 0; i < s->nnorm; i++) {
        const NormStep *st = &s->norm[i];
        Buf b = {0};
        if (st->kind == NORM_NFC) {
            char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)*text);
            if (!nfc) fatal("out of memory");   /* valid UTF-8 in: only allocation fails */
            buf_puts(&b, nfc);
            free(nfc);
        } else if (st->kind == NORM_PREPEND) {
            if (*len) buf_puts(&b, st->text);   /* the package prepends to a non-empty text only */
            buf_append(&b, *text, *len);
        } else {
            tok_replace_all(*text, *len, st->text, st->content, &b);
        }
        buf_append(&b, "", 0);
        free(*text);
        *text = b.data ? b.data : xstrdup("");
        *len = b.len;
    }
}

/* ------------------------------------------------------------------ decoders */

static bool load_dec_step(TokSteps *s, json_t *d, char *err, size_t errlen) {
    const char *type = tok_type(d);
    if (s->ndec == TOK_MAX_STEPS) return errorf(err, errlen, "more than %d decoders", TOK_MAX_STEPS);
    DecStep *st = &s->dec[s->ndec];
    *st = (DecStep){0};
    static const char *const byte_level[] = {"type", "add_prefix_space", "trim_offsets", "use_regex", NULL},
                             *const plain[] = {"type", NULL}, *const replace[] = {"type", "pattern", "content", NULL},
                             *const strip[] = {"type", "content", "start", "stop", NULL},
                             *const metaspace[] = {"type", "replacement", "prepend_scheme", "split", NULL};
    if (!strcmp(type, "ByteLevel")) {
        st->kind = DEC_BYTE_LEVEL;   /* its flags change offsets only */
        if (!only_fields(d, byte_level, "decoder", err, errlen)) return false;
    } else if (!strcmp(type, "ByteFallback") || !strcmp(type, "Fuse")) {
        st->kind = !strcmp(type, "Fuse") ? DEC_FUSE : DEC_BYTE_FALLBACK;
        if (!only_fields(d, plain, "decoder", err, errlen)) return false;
    } else if (!strcmp(type, "Replace")) {
        const char *c = json_string_value(json_object_get(d, "content"));
        st->kind = DEC_REPLACE;
        if (!only_fields(d, replace, "decoder", err, errlen) || !string_pattern(d, "decoder", &st->text, err, errlen))
            return false;
        if (!c) return errorf(err, errlen, "the decoder Replace has no content string");
        st->content = xstrdup(c);
    } else if (!strcmp(type, "Strip")) {
        json_t *a = json_object_get(d, "start"), *b = json_object_get(d, "stop");
        st->kind = DEC_STRIP;
        if (!only_fields(d, strip, "decoder", err, errlen) || !one_char(d, "content", "Strip decoder", &st->content, err, errlen))
            return false;
        if (!json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) < 0 || json_integer_value(b) < 0)
            return errorf(err, errlen, "the decoder Strip's start and stop must be counts");
        st->start = json_integer_value(a), st->stop = json_integer_value(b);
    } else if (!strcmp(type, "Metaspace")) {
        bool split;
        st->kind = DEC_METASPACE;
        if (!only_fields(d, metaspace, "decoder", err, errlen) ||
            !one_char(d, "replacement", "Metaspace decoder", &st->text, err, errlen))
            return false;
        if (!tok_prepend_scheme(d, &st->scheme) || !tok_optional_bool(d, "split", &split))
            return errorf(err, errlen, "the decoder Metaspace's prepend_scheme (never, first, always) or split is bad");
    } else {
        return errorf(err, errlen, "the decoder '%s' is not supported (supported: ByteLevel, Replace of a String, "
                      "ByteFallback, Fuse, Strip, Metaspace, and a Sequence of them)", type);
    }
    s->ndec++;
    return true;
}

bool tok_load_decoder(TokSteps *s, json_t *decoder, char *err, size_t errlen) {
    return load_sequence(s, decoder, "decoders", "decoder", load_dec_step, err, errlen);
}

void tok_steps_free(TokSteps *s) {
    for (int i = 0; i < s->nnorm; i++) free(s->norm[i].text), free(s->norm[i].content);
    for (int i = 0; i < s->ndec; i++) free(s->dec[i].text), free(s->dec[i].content);
    memset(s, 0, sizeof *s);
}

/* The list of strings a decoder works on. */
typedef struct {
    Buf *v;
    int64_t n;
} Strings;

static void strings_free(Strings *l) {
    for (int64_t i = 0; i < l->n; i++) buf_free(&l->v[i]);
    free(l->v);
}

/* The whole list joined into its only string (Fuse; ByteLevel after mapping each token: its bytes
 * as they are when raw, else as Rust's from_utf8_lossy gives them). */
static void fuse(Strings *l, bool byte_level, bool raw) {
    Buf joined = {0}, text = {0};
    for (int64_t i = 0; i < l->n; i++) {
        if (byte_level) byte_level_unmap(l->v[i].data ? l->v[i].data : "", l->v[i].len, &joined);
        else buf_append(&joined, l->v[i].data, l->v[i].len);
    }
    if (byte_level && !raw) utf8_lossy(joined.data ? joined.data : "", joined.len, &text), buf_free(&joined);
    else text = joined;
    strings_free(l);
    l->v = xcalloc(1, sizeof *l->v);
    l->v[0] = text;
    l->n = 1;
}

/* The byte a <0xXX> token stands for, or -1. */
static int fallback_byte(const Buf *t) {
    unsigned v;
    char c;
    if (t->len != 6 || memcmp(t->data, "<0x", 3) || t->data[5] != '>') return -1;
    return sscanf(t->data + 3, "%2x%c", &v, &c) == 2 && c == '>' ? (int)v : -1;
}

/* Runs of <0xXX> tokens become their bytes' text when that is UTF-8 (always when raw), else one
 * U+FFFD per token. */
static void byte_fallback(Strings *l, bool raw) {
    Strings out = {xcalloc((size_t)l->n + 1, sizeof *out.v), 0};
    Buf run = {0};
    int64_t run_tokens = 0;
    for (int64_t i = 0; i <= l->n; i++) {
        int b = i < l->n ? fallback_byte(&l->v[i]) : -1;
        if (b >= 0) {
            char byte = (char)b;
            buf_append(&run, &byte, 1);
            run_tokens++;
            continue;
        }
        if (run_tokens) {
            bool utf8 = true;
            for (size_t k = 0; k < run.len && utf8 && !raw;) {
                size_t n = utf8_sequence_len((const unsigned char *)run.data + k, run.len - k);
                utf8 = n > 0, k += n;
            }
            if (utf8) out.v[out.n++] = run, run = (Buf){0};
            else for (int64_t k = 0; k < run_tokens; k++) buf_puts(&out.v[out.n++], "\xEF\xBF\xBD");
            run.len = 0, run_tokens = 0;
        }
        if (i < l->n) out.v[out.n++] = l->v[i], l->v[i] = (Buf){0};
    }
    buf_free(&run);
    strings_free(l);
    *l = out;
}

/* Up to start leading and stop trailing copies of the character c off each string. */
static void strip(Strings *l, const char *c, int64_t start, int64_t stop) {
    const size_t k = strlen(c);
    for (int64_t i = 0; i < l->n; i++) {
        Buf *t = &l->v[i];
        size_t from = 0, to = t->len;
        for (int64_t j = 0; j < start && to - from >= k && !memcmp(t->data + from, c, k); j++) from += k;
        for (int64_t j = 0; j < stop && to - from >= k && !memcmp(t->data + to - k, c, k); j++) to -= k;
        Buf b = {0};
        buf_append(&b, t->data ? t->data + from : "", to - from);
        buf_free(t);
        *t = b;
    }
}

/* Each string with from replaced by to; Metaspace: in its first string, dropped instead (unless its
 * prepend_scheme is never). */
static void replace_each(Strings *l, const char *from, const char *to, bool drop_in_first) {
    for (int64_t i = 0; i < l->n; i++) {
        Buf b = {0};
        tok_replace_all(l->v[i].data ? l->v[i].data : "", l->v[i].len, from, i == 0 && drop_in_first ? "" : to, &b);
        buf_free(&l->v[i]);
        l->v[i] = b;
    }
}

void tok_decode_strings(const TokSteps *s, char **tokens, size_t *lens, int64_t n, bool piece, Buf *out) {
    Strings l = {xcalloc((size_t)n + 1, sizeof *l.v), n};
    for (int64_t i = 0; i < n; i++) buf_append(&l.v[i], tokens[i], lens[i]);
    for (int i = 0; i < s->ndec; i++) {
        const DecStep *d = &s->dec[i];
        switch (d->kind) {
        case DEC_BYTE_LEVEL: fuse(&l, true, piece); break;
        case DEC_FUSE: fuse(&l, false, piece); break;
        case DEC_BYTE_FALLBACK: byte_fallback(&l, piece); break;
        case DEC_STRIP: if (!piece) strip(&l, d->content, d->start, d->stop); break;   /* a text's ends only */
        case DEC_REPLACE: replace_each(&l, d->text, d->content, false); break;
        case DEC_METASPACE: replace_each(&l, d->text, " ", d->scheme != PREPEND_NEVER && !piece); break;
        }
    }
    for (int64_t i = 0; i < l.n; i++) buf_append(out, l.v[i].data, l.v[i].len);
    strings_free(&l);
}
