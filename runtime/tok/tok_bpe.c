/* tok_bpe.c — the BPE model of a tokenizer.json (its vocabulary, merges and the merge loop of the
 * tokenizers package), the byte-level alphabet and the UTF-8 helpers of runtime/tok. */
#include "tok_bpe.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void idlist_push(IdList *l, int32_t id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    }
    l->v[l->n++] = id;
}

/* ------------------------------------------------------------------ UTF-8 */

/* Bytes s[0..n) start: *valid tells whether they are one valid sequence; when not, the return is
 * the maximal invalid subpart (the lead byte and the continuation bytes that still fit it). */
static size_t utf8_scan(const unsigned char *s, size_t n, bool *valid) {
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;   /* the range of the second byte */
    *valid = false;
    if (c < 0x80) { *valid = true; return 1; }
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 1;
    for (size_t i = 1; i <= need; i++) {
        if (i >= n) return i;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i;
    }
    *valid = true;
    return need + 1;
}

size_t utf8_sequence_len(const unsigned char *s, size_t n) {
    bool valid;
    size_t len = utf8_scan(s, n, &valid);
    return valid ? len : 0;
}

void utf8_lossy(const char *s, size_t n, Buf *out) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; ) {
        bool valid;
        size_t len = utf8_scan(u + i, n - i, &valid);
        if (valid) buf_append(out, s + i, len);
        else buf_puts(out, "\xEF\xBF\xBD");
        i += len;
    }
}

/* ------------------------------------------------------------------ byte-level alphabet */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for 256, 257, ...
 * in byte order. byte_of_char inverts it (-1: no byte; the characters are all below 324). */
#define BYTE_LEVEL_CHARS 324
static unsigned char_of_byte[256];
static int byte_of_char[BYTE_LEVEL_CHARS];

static void byte_level_tables(void) {
    static bool ready;   /* filled on first use; every caller writes the same values */
    if (ready) return;
    unsigned next = 256;
    for (int c = 0; c < BYTE_LEVEL_CHARS; c++) byte_of_char[c] = -1;
    for (unsigned b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        char_of_byte[b] = printable ? b : next++;
        byte_of_char[char_of_byte[b]] = (int)b;
    }
    ready = true;
}

void byte_level_map(const char *s, size_t n, Buf *out) {
    byte_level_tables();
    for (size_t i = 0; i < n; i++) {
        unsigned c = char_of_byte[(unsigned char)s[i]];
        char enc[2] = {(char)(0xC0 | (c >> 6)), (char)(0x80 | (c & 0x3F))};
        if (c < 0x80) buf_append(out, (const char *)&(char){(char)c}, 1);
        else buf_append(out, enc, 2);
    }
}

void byte_level_unmap(const char *s, size_t n, Buf *out) {
    const unsigned char *u = (const unsigned char *)s;
    byte_level_tables();
    Buf bytes = {0};
    bool all_mapped = true;
    for (size_t i = 0; i < n && all_mapped; ) {
        size_t len = utf8_sequence_len(u + i, n - i);
        unsigned c = len == 1 ? u[i] : len == 2 ? ((u[i] & 0x1Fu) << 6 | (u[i + 1] & 0x3Fu)) : 0x110000;
        int b = len && c < BYTE_LEVEL_CHARS ? byte_of_char[c] : -1;
        if (b < 0) all_mapped = false;
        else buf_append(&bytes, (const char *)&(char){(char)b}, 1);
        i += len ? len : 1;
    }
    if (all_mapped) buf_append(out, bytes.data ? bytes.data : "", bytes.len);
    else buf_append(out, s, n);
    buf_free(&bytes);
}

/* ------------------------------------------------------------------ vocabulary and merges */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_pair(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

int32_t bpe_lookup(const BpeModel *m, const char *s, size_t n) {
    if (!m->nslots) return -1;
    for (size_t i = hash_bytes(s, n) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
        int32_t id = m->slots[i];
        if (id < 0) return -1;
        if (m->token_len[id] == n && !memcmp(m->token[id], s, n)) return id;
    }
}

static size_t pow2_above(size_t n) {
    size_t p = 16;
    while (p < 2 * n) p *= 2;
    return p;
}

static bool load_vocab(BpeModel *m, json_t *vocab, char *err, size_t errlen) {
    if (!json_is_object(vocab)) return snprintf(err, errlen, "model.vocab is not an object"), false;
    const char *key;
    json_t *v;
    m->nids = 0;
    json_object_foreach(vocab, key, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= TOK_MAX_VOCAB)
            return snprintf(err, errlen, "model.vocab: the id of '%.40s' is not in [0, %d)", key, TOK_MAX_VOCAB), false;
        if (id + 1 > m->nids) m->nids = id + 1;
    }
    m->token = arena_array(&m->mem, (size_t)m->nids, sizeof *m->token);
    m->token_len = arena_array(&m->mem, (size_t)m->nids, sizeof *m->token_len);
    m->nslots = pow2_above(json_object_size(vocab));
    m->slots = arena_array(&m->mem, m->nslots, sizeof *m->slots);
    memset(m->slots, 0xff, m->nslots * sizeof *m->slots);
    json_object_foreach(vocab, key, v) {
        int32_t id = (int32_t)json_integer_value(v);
        size_t n = strlen(key);
        if (m->token[id])
            return snprintf(err, errlen, "model.vocab: id %d is given twice ('%.40s')", id, key), false;
        m->token[id] = arena_strndup(&m->mem, key, n);
        m->token_len[id] = (uint32_t)n;
        size_t i = hash_bytes(key, n) & (m->nslots - 1);
        while (m->slots[i] >= 0) i = (i + 1) & (m->nslots - 1);
        m->slots[i] = id;
    }
    return true;
}

/* The two halves of merge number `rank` ("a b", or ["a", "b"] in newer files). */
static bool merge_halves(json_t *merge, const char **a, size_t *na, const char **b, size_t *nb) {
    if (json_is_array(merge) && json_array_size(merge) == 2 && json_is_string(json_array_get(merge, 0)) &&
        json_is_string(json_array_get(merge, 1))) {
        *a = json_string_value(json_array_get(merge, 0));
        *b = json_string_value(json_array_get(merge, 1));
        *na = strlen(*a);
        *nb = strlen(*b);
        return true;
    }
    if (!json_is_string(merge)) return false;
    const char *s = json_string_value(merge), *space = strchr(s, ' ');
    if (!space || strchr(space + 1, ' ')) return false;
    *a = s;
    *na = (size_t)(space - s);
    *b = space + 1;
    *nb = strlen(*b);
    return true;
}

static size_t pair_slot(const BpeModel *m, uint64_t key) {
    size_t i = hash_pair(key) & (m->npairs - 1);
    while (m->merge[i].rank >= 0 && m->merge[i].key != key) i = (i + 1) & (m->npairs - 1);
    return i;
}

static bool load_merges(BpeModel *m, json_t *merges, char *err, size_t errlen) {
    if (!json_is_array(merges)) return snprintf(err, errlen, "model.merges is not an array"), false;
    m->npairs = pow2_above(json_array_size(merges));
    m->merge = arena_array(&m->mem, m->npairs, sizeof *m->merge);
    for (size_t i = 0; i < m->npairs; i++) m->merge[i].rank = -1;
    size_t rank;
    json_t *merge;
    json_array_foreach(merges, rank, merge) {
        const char *a, *b;
        size_t na, nb;
        if (!merge_halves(merge, &a, &na, &b, &nb))
            return snprintf(err, errlen, "model.merges[%zu] is not two tokens", rank), false;
        int32_t left = bpe_lookup(m, a, na), right = bpe_lookup(m, b, nb);
        char *joined = xmalloc(na + nb + 1);
        memcpy(joined, a, na);
        memcpy(joined + na, b, nb);
        int32_t merged = bpe_lookup(m, joined, na + nb);
        free(joined);
        if (left < 0 || right < 0 || merged < 0)
            return snprintf(err, errlen, "model.merges[%zu]: '%.*s' + '%.*s' or their join is not in the vocabulary",
                            rank, (int)(na > 40 ? 40 : na), a, (int)(nb > 40 ? 40 : nb), b), false;
        uint64_t key = (uint64_t)left << 32 | (uint32_t)right;
        size_t i = pair_slot(m, key);
        /* a merge given twice takes its last rank, as the tokenizers package does */
        m->merge[i] = (BpeMerge){key, (int32_t)rank, merged};
    }
    return true;
}

static bool optional_string(json_t *model, const char *key, const char **out) {
    json_t *v = json_object_get(model, key);
    *out = json_is_string(v) ? json_string_value(v) : NULL;
    return !v || json_is_null(v) || json_is_string(v);
}

bool tok_optional_bool(json_t *o, const char *key, bool *out) {
    json_t *v = json_object_get(o, key);
    *out = json_is_true(v);
    return !v || json_is_boolean(v);
}

/* The model's fields this reader knows, and the values it refuses. */
static bool check_model_fields(json_t *model, char *err, size_t errlen) {
    static const char *const known[] = {"type", "dropout", "unk_token", "continuing_subword_prefix",
                                        "end_of_word_suffix", "fuse_unk", "byte_fallback", "ignore_merges",
                                        "vocab", "merges"};
    const char *key;
    json_t *v;
    json_object_foreach(model, key, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(known[i], key)) i++;
        if (i == sizeof known / sizeof *known)
            return snprintf(err, errlen, "the BPE model's field '%.40s' is not supported", key), false;
    }
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout))
        return snprintf(err, errlen, "BPE dropout is not supported (it makes tokenization random)"), false;
    const char *prefix, *suffix;
    if (!optional_string(model, "continuing_subword_prefix", &prefix) || (prefix && *prefix))
        return snprintf(err, errlen, "the BPE continuing_subword_prefix is not supported"), false;
    if (!optional_string(model, "end_of_word_suffix", &suffix) || (suffix && *suffix))
        return snprintf(err, errlen, "the BPE end_of_word_suffix is not supported"), false;
    return true;
}

bool bpe_load(BpeModel *m, json_t *model, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->unk = -1;
    if (!check_model_fields(model, err, errlen)) return false;
    const char *unk;
    if (!optional_string(model, "unk_token", &unk) || !tok_optional_bool(model, "fuse_unk", &m->fuse_unk) ||
        !tok_optional_bool(model, "byte_fallback", &m->byte_fallback) ||
        !tok_optional_bool(model, "ignore_merges", &m->ignore_merges))
        return snprintf(err, errlen, "the BPE model's unk_token, fuse_unk, byte_fallback or ignore_merges has a bad type"),
               false;
    if (!load_vocab(m, json_object_get(model, "vocab"), err, errlen)) return false;
    if (unk && (m->unk = bpe_lookup(m, unk, strlen(unk))) < 0)
        return snprintf(err, errlen, "the unk_token '%.40s' is not in the vocabulary", unk), false;
    return load_merges(m, json_object_get(model, "merges"), err, errlen);
}

void bpe_free(BpeModel *m) {
    arena_free(&m->mem);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ the merge loop */

/* A symbol of a word being merged: its id and its neighbours (-1 at the ends); not alive once
 * merged into its left neighbour. */
typedef struct {
    int32_t id;
    int32_t prev, next;
    bool alive;
} Symbol;

/* A candidate merge: the lowest rank first, the leftmost among equal ranks (the package's order). */
typedef struct {
    int32_t rank, pos, left, right;
} Candidate;

static bool candidate_before(const Candidate *a, const Candidate *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

typedef struct {
    Candidate *v;
    size_t n, cap;
} Heap;

static void heap_push(Heap *h, Candidate c) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 32;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    while (i > 0 && candidate_before(&c, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = c;
}

static Candidate heap_pop(Heap *h) {
    Candidate top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && candidate_before(&h->v[c + 1], &h->v[c])) c++;
        if (!candidate_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* Queues the merge of symbols pos and its next, when there is one. */
static void offer_pair(const BpeModel *m, const Symbol *sym, int32_t pos, Heap *h) {
    if (pos < 0 || sym[pos].next < 0 || !m->npairs) return;
    uint64_t key = (uint64_t)sym[pos].id << 32 | (uint32_t)sym[sym[pos].next].id;
    size_t i = pair_slot(m, key);
    if (m->merge[i].rank >= 0) heap_push(h, (Candidate){m->merge[i].rank, pos, sym[pos].id, sym[sym[pos].next].id});
}

static void merge_symbols(const BpeModel *m, Symbol *sym, int32_t n) {
    Heap h = {0};
    for (int32_t i = 0; i < n; i++) offer_pair(m, sym, i, &h);
    while (h.n) {
        Candidate c = heap_pop(&h);
        Symbol *s = &sym[c.pos];
        if (!s->alive || s->next < 0 || s->id != c.left || sym[s->next].id != c.right) continue;
        Symbol *right = &sym[s->next];
        s->id = m->merge[pair_slot(m, (uint64_t)c.left << 32 | (uint32_t)c.right)].merged;
        right->alive = false;
        s->next = right->next;
        if (s->next >= 0) sym[s->next].prev = c.pos;
        offer_pair(m, sym, s->prev, &h);
        offer_pair(m, sym, c.pos, &h);
    }
    free(h.v);
}

/* The ids a character not in the vocabulary becomes: its bytes as <0xXX> tokens (byte_fallback),
 * else the unk token (one for a run of them with fuse_unk), else none (as the package drops it). */
static void unknown_char(const BpeModel *m, const char *c, size_t n, IdList *out, bool *last_unk) {
    if (m->byte_fallback) {
        int32_t ids[4];
        size_t found = 0;
        for (size_t i = 0; i < n; i++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", (unsigned char)c[i]);
            if ((ids[i] = bpe_lookup(m, name, strlen(name))) >= 0) found++;
        }
        if (found == n) {
            for (size_t i = 0; i < n; i++) idlist_push(out, ids[i]);
            *last_unk = false;
            return;
        }
    }
    if (m->unk < 0) return;
    if (!(m->fuse_unk && *last_unk)) idlist_push(out, m->unk);
    *last_unk = true;
}

void bpe_encode_word(const BpeModel *m, const char *s, size_t n, IdList *out) {
    int32_t whole = m->ignore_merges ? bpe_lookup(m, s, n) : -1;
    if (whole >= 0) {
        idlist_push(out, whole);
        return;
    }
    IdList start = {0};
    bool last_unk = false;
    for (size_t i = 0; i < n; ) {
        size_t len = utf8_sequence_len((const unsigned char *)s + i, n - i);
        if (!len) len = 1;   /* the caller passes UTF-8; a stray byte stays one symbol */
        int32_t id = bpe_lookup(m, s + i, len);
        if (id >= 0) {
            idlist_push(&start, id);
            last_unk = false;
        } else {
            unknown_char(m, s + i, len, &start, &last_unk);
        }
        i += len;
    }
    Symbol *sym = xmalloc(((size_t)start.n + 1) * sizeof *sym);
    for (int64_t i = 0; i < start.n; i++)
        sym[i] = (Symbol){start.v[i], (int32_t)i - 1, i + 1 < start.n ? (int32_t)i + 1 : -1, true};
    merge_symbols(m, sym, (int32_t)start.n);
    for (int64_t i = 0; i < start.n; i++)
        if (sym[i].alive) idlist_push(out, sym[i].id);
    free(sym);
    free(start.v);
}
