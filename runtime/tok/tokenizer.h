/* tokenizer.h — Hugging Face tokenizers read from a tokenizer.json (docs/tokenizer.md).
 *
 * Supported: the BPE model with the byte-level pre-tokenizer and decoder (GPT-2, Llama 3, Qwen2,
 * gpt-oss), or with byte fallback and a Metaspace pre-tokenizer or Prepend/Replace normalizers and
 * the Replace/ByteFallback/Fuse/Strip/Metaspace decoders (Llama 2, Mistral v0.1, Gemma); the NFC
 * normalizer (utf8proc), the Split pre-tokenizer with a regex (PCRE2, Unicode properties),
 * ignore_merges, added and special tokens matched before pre-tokenization, TemplateProcessing for
 * single sequences.
 * Everything else a tokenizer.json may hold is refused at load, by name: a file is never read as a
 * different tokenization. */
#ifndef MIXC_TOKENIZER_H
#define MIXC_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of what is read and tokenized. */
#define TOK_MAX_FILE  ((size_t)256 << 20)   /* bytes of a tokenizer.json */
#define TOK_MAX_VOCAB (1 << 24)             /* token ids are below this */
#define TOK_MAX_TEXT  ((size_t)16 << 20)    /* bytes of one text to encode */

typedef struct Tokenizer Tokenizer;

/* Reads path: a tokenizer.json, or a directory holding one. NULL with a message naming the file
 * (and what is refused in it) in err. */
Tokenizer *tokenizer_load(const char *path, char *err, size_t errlen);
void tokenizer_free(Tokenizer *t);

/* Token ids of text (len bytes of UTF-8), with the post-processor's special tokens when
 * add_special. false with a message in err (text that is not UTF-8, or too long). *ids is malloc'd. */
bool tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_special, int32_t **ids,
                      int64_t *n, char *err, size_t errlen);

/* The text of n ids (malloc'd, NUL-terminated, *len bytes), special tokens left out when
 * skip_special. Bytes that are not UTF-8 become U+FFFD, as the tokenizers package does. NULL with
 * a message in err for an id outside the vocabulary. */
char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, int64_t n, bool skip_special, size_t *len,
                       char *err, size_t errlen);

/* The bytes id adds to a text in the middle of it (tokenizer_decode's decoders, but bytes that do not
 * make a character alone kept as they are, and no step that acts at a text's start or end): malloc'd,
 * *len bytes; *special: a special added token (its content). NULL when no token has the id. */
char *tokenizer_piece(const Tokenizer *t, int32_t id, size_t *len, bool *special);

/* The token string of id, as the tokenizers package's id_to_token gives it: an added token's content,
 * else the model's vocabulary string (in its byte-level alphabet: "Ġthe"); *len bytes, not
 * NUL-terminated. NULL when no token has the id. */
const char *tokenizer_id_to_token(const Tokenizer *t, int32_t id, size_t *len);

/* One more than the largest token id. */
int64_t tokenizer_vocab_size(const Tokenizer *t);
/* The id of the special added token whose text is content, -1 when there is none. */
int32_t tokenizer_special_id(const Tokenizer *t, const char *content);
/* The file it was read from. */
const char *tokenizer_path(const Tokenizer *t);
/* `name` in the directory of t's tokenizer.json (tokenizer_config.json, generation_config.json, ...):
 * malloc'ed. */
char *tokenizer_file_beside(const Tokenizer *t, const char *name);

#endif
