/* tok_prompt.h — text prompts and text output of mixrun (--text, --text-file, --tokenizer,
 * --print-ids): the tokenizer found, the prompt encoded, the generated ids decoded. */
#ifndef MIXC_TOK_PROMPT_H
#define MIXC_TOK_PROMPT_H

#include <stdbool.h>
#include <stdint.h>

#include "gen_config.h"
#include "tokenizer.h"

/* The tokenizer of a run: `tokenizer` (a file or a directory) when given, else tokenizer.json in
 * `weights` when that is a directory, or beside it when it is a file. NULL with "mixrun: ..." on
 * stderr. */
Tokenizer *text_tokenizer_open(const char *tokenizer, const char *weights);
/* Whether a tokenizer.json lies where text_tokenizer_open looks for one beside `weights`. */
bool text_tokenizer_beside(const char *weights);
/* The prompt ids of --text `text` or of the whole file `text_file` (one of the two), with the
 * tokenizer's special tokens. false with "mixrun: ..." on stderr (unreadable file, text that is not
 * UTF-8, no ids). */
bool text_prompt(const Tokenizer *t, const char *text, const char *text_file, int32_t **ids, int64_t *n);
/* Prints the generated ids (with print_ids, as a comma-separated line) and then their text and a
 * newline; a last id that is one of eos's is not in the text (as the server's). false with
 * "mixrun: ..." on stderr when an id is not in the tokenizer's vocabulary. */
bool text_print_generated(const Tokenizer *t, const int32_t *ids, int64_t n, bool print_ids, const EosIds *eos);

#endif
