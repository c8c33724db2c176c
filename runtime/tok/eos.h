/* eos.h — the model's end-of-sequence tokens, read as transformers' generate() finds them
 * (docs/serving.md, "End of sequence"): in the directory of the tokenizer's tokenizer.json,
 *   1. generation_config.json's eos_token_id (an integer or a non-empty list of integers),
 *   2. else config.json's eos_token_id (GenerationConfig.from_model_config's source),
 *   3. else tokenizer_config.json's eos_token (a string or {"content": ...}), the special token of
 *      tokenizer.json with that text,
 *   4. else none: generation runs to its length or a stop string.
 * A file that holds an eos_token_id of another shape (a string, a float, a negative number, an
 * empty list, an id outside the tokenizer's vocabulary) is refused with its name: no end is
 * guessed. A null or absent eos_token_id goes on to the next file. */
#ifndef MIXC_EOS_H
#define MIXC_EOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

#define EOS_MAX 16

typedef struct {
    int32_t ids[EOS_MAX];
    int n;                  /* 0: no end-of-sequence token */
    char from[4200];        /* the file they came from ("" when none) */
} EosIds;

/* The end-of-sequence ids of t's checkpoint into e. false with a message naming the file in err. */
bool eos_ids_load(const Tokenizer *t, EosIds *e, char *err, size_t errlen);

/* Whether id is one of e's. */
bool eos_ids_has(const EosIds *e, int32_t id);

#endif
