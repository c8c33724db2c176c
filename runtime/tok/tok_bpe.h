/* tok_bpe.h — the BPE model of a tokenizer.json, the byte-level alphabet and UTF-8 helpers
 * (internal to runtime/tok). */
#ifndef MIXC_TOK_BPE_H
#define MIXC_TOK_BPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mixc.h"

typedef struct {
    int32_t *v;
    int64_t n, cap;
} IdList;
void idlist_push(IdList *l, int32_t id);

/* A slot of the merge table: (left id << 32 | right id) -> the merge's rank and the merged id. */
typedef struct {
    uint64_t key;
    int32_t rank;            /* -1: an empty slot */
    int32_t merged;
} BpeMerge;

typedef struct {
    Arena mem;               /* every array and string below, freed in one call */
    char **token;            /* id -> its string (NULL: no token has the id) */
    uint32_t *token_len;
    int64_t nids;            /* one more than the largest id */
    int32_t *slots;          /* open-addressing table of ids, keyed by their strings; -1 empty */
    size_t nslots;
    BpeMerge *merge;         /* open-addressing table of the merges */
    size_t npairs;           /* slots of the merge table (a power of two) */
    int32_t unk;             /* -1: no unk_token */
    bool fuse_unk, byte_fallback, ignore_merges;
} BpeModel;

/* Reads model (its "type" is "BPE"); false with the refused or bad field named in err. */
bool bpe_load(BpeModel *m, json_t *model, char *err, size_t errlen);
/* o's boolean field `key` into *out (false when absent or null); false when it is there but not a
 * boolean, so that no flag is read as another value than the package reads. */
bool tok_optional_bool(json_t *o, const char *key, bool *out);
void bpe_free(BpeModel *m);
/* The id of the token s[0..n), or -1. */
int32_t bpe_lookup(const BpeModel *m, const char *s, size_t n);
/* Appends the ids of one pre-tokenized word (UTF-8) to out. */
void bpe_encode_word(const BpeModel *m, const char *s, size_t n, IdList *out);

/* The byte-level alphabet (GPT-2): each byte of s as the UTF-8 of the character standing for it. */
void byte_level_map(const char *s, size_t n, Buf *out);
/* The bytes a token of that alphabet stands for; a token with any other character stands for its
 * own UTF-8 (as the tokenizers package's ByteLevel decoder does). */
void byte_level_unmap(const char *s, size_t n, Buf *out);

/* Bytes of the UTF-8 sequence starting s[0..n) when it is valid, else 0. */
size_t utf8_sequence_len(const unsigned char *s, size_t n);
/* s with each maximal invalid UTF-8 subpart replaced by U+FFFD (Rust's from_utf8_lossy). */
void utf8_lossy(const char *s, size_t n, Buf *out);

#endif
