/* gen_config.h — what a checkpoint's generation config says: where generation ends, and the sampling
 * defaults of `mixrun serve`.
 *
 * The end-of-sequence tokens are read as transformers' generate() finds them (docs/serving.md, "End
 * of sequence"): in the directory of the tokenizer's tokenizer.json,
 *   1. generation_config.json's eos_token_id (an integer or a non-empty list of integers; the file
 *      --generation-config names, when it names one),
 *   2. else config.json's eos_token_id (GenerationConfig.from_model_config's source),
 *   3. else tokenizer_config.json's eos_token (a string or {"content": ...}), the special token of
 *      tokenizer.json with that text,
 *   4. else none: generation runs to its length or a stop string.
 * A file that holds an eos_token_id of another shape (a string, a float, a negative number, an
 * empty list, an id outside the tokenizer's vocabulary) is refused with its name: no end is
 * guessed. A null or absent eos_token_id goes on to the next file. */
#ifndef MIXC_GEN_CONFIG_H
#define MIXC_GEN_CONFIG_H

#include <jansson.h>
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

/* The end-of-sequence ids of t's checkpoint into e, the generation config read first being gen_config's
 * (NULL: the one beside t's tokenizer.json). false with a message naming the file in err. */
bool eos_ids_load(const Tokenizer *t, const char *gen_config, EosIds *e, char *err, size_t errlen);

/* Whether id is one of e's. */
bool eos_ids_has(const EosIds *e, int32_t id);

/* The generation config whose sampling defaults `mixrun serve` takes (vLLM's --generation-config):
 *   NULL or "auto": generation_config.json beside t's tokenizer.json, when there is one (none without
 *                   a tokenizer);
 *   "vllm":         none (the neutral defaults: the end of sequence is still read beside the tokenizer);
 *   else a path:    DIR/generation_config.json when it is a directory, else the file itself; it must
 *                   exist.
 * *path: that file, malloc'd, or NULL for none; *named: the path was given (its end of sequence is
 * read from it too). false with a message in err. */
bool gen_config_locate(const Tokenizer *t, const char *choice, char **path, bool *named, char *err, size_t errlen);

/* The sampling defaults of the generation config at path (NULL or a missing file: none), as vLLM takes
 * them (ModelConfig.get_diff_sampling_param): of repetition_penalty, temperature, top_k, top_p, min_p
 * and max_new_tokens those present and not null, as a JSON object in *defaults (NULL when none).
 * Their values are not checked here: the server checks them as a request's fields. false with a
 * message naming the file in err (not JSON, not an object). */
bool gen_defaults_load(const char *path, json_t **defaults, char *err, size_t errlen);

/* The JSON object text of --override-generation-config (vLLM's) over *defaults: each of its fields
 * (only those gen_defaults_load takes) set, or taken out when null, as vLLM merges it. The values
 * are not checked here. false with a message in err: not a JSON object, or another field. */
bool gen_defaults_override(const char *text, json_t **defaults, char *err, size_t errlen);

#endif
