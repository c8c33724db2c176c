/* tok_steps.h — the normalizers and decoders of a tokenizer.json (internal to runtime/tok):
 * NFC, Prepend and Replace (a String pattern) normalizers, alone or in a Sequence; ByteLevel, Replace,
 * ByteFallback, Fuse, Strip and Metaspace decoders, alone or in a Sequence. Each is read with every
 * field checked (an unknown one is refused by name) and applied as the tokenizers package does. */
#ifndef MIXC_TOK_STEPS_H
#define MIXC_TOK_STEPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mixc.h"

#define TOK_MAX_STEPS 8

typedef enum { NORM_NFC, NORM_PREPEND, NORM_REPLACE } TokNormKind;
typedef struct {
    TokNormKind kind;
    char *text, *content;   /* Prepend: text; Replace: text (the pattern) -> content */
} NormStep;

typedef enum { DEC_BYTE_LEVEL, DEC_REPLACE, DEC_BYTE_FALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE } TokDecKind;
/* Metaspace's prepend_scheme (the pre-tokenizer's and the decoder's) */
typedef enum { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS } TokPrepend;
typedef struct {
    TokDecKind kind;
    char *text, *content;   /* Replace: text -> content; Strip: content (one character); Metaspace: text */
    int64_t start, stop;    /* Strip */
    TokPrepend scheme;   /* Metaspace */
} DecStep;

typedef struct {
    NormStep norm[TOK_MAX_STEPS];
    int nnorm;
    DecStep dec[TOK_MAX_STEPS];
    int ndec;
} TokSteps;

/* The "type" of a tokenizer.json object, or "(no type)". */
const char *tok_type(json_t *o);

/* normalizer (null, one, or a Sequence) into s; false with what is refused named in err. */
bool tok_load_normalizer(TokSteps *s, json_t *normalizer, char *err, size_t errlen);
/* decoder (one, or a Sequence) into s; false with what is refused named in err. */
bool tok_load_decoder(TokSteps *s, json_t *decoder, char *err, size_t errlen);
/* Metaspace's "prepend_scheme" of o (first when absent, as the package's default). */
bool tok_prepend_scheme(json_t *o, TokPrepend *out);
void tok_steps_free(TokSteps *s);

/* The normalizers applied to text (valid UTF-8, NUL-terminated; replaced by the result). */
void tok_normalize(const TokSteps *s, char **text, size_t *len);
/* The decoders applied to the tokens' strings; the text (their concatenation at the end) into out.
 * piece: the bytes the tokens add inside a text, as they are (no U+FFFD for bytes that do not make a
 * character, no Strip or Metaspace step that acts at a text's start or end). */
void tok_decode_strings(const TokSteps *s, char **tokens, size_t *lens, int64_t n, bool piece, Buf *out);

/* Every occurrence of from (non-empty) in s[0..n) replaced by to, into out. */
void tok_replace_all(const char *s, size_t n, const char *from, const char *to, Buf *out);

#endif
