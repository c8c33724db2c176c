/* http_guide_vocab.c — guided decoding's view of the vocabulary (http_guide.h): the bytes each token
 * adds to a text, sorted so that a mask walks the tokens that share a prefix once, and the mask of a
 * reasoning that is still open (docs/serving.md, "Structured outputs"). */
#include "http_guide.h"

#include <stdlib.h>

static _Thread_local const GuideVocab *sorting;   /* qsort's: the vocabulary guide_vocab_new sorts in this thread */

static int by_piece(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = sorting->len[x], ly = sorting->len[y];
    int c = memcmp(sorting->piece[x], sorting->piece[y], lx < ly ? lx : ly);
    return c ? c : lx < ly ? -1 : lx > ly ? 1 : (x > y) - (x < y);
}

/* The code points of p when it is text a JSON string holds as it is (string_char's bytes, whole UTF-8
 * characters), else 0. */
static int plain_code_points(const unsigned char *p, size_t len) {
    int n = 0;
    for (size_t i = 0; i < len; n++) {
        unsigned b = p[i];
        if (b < 0x20 || b == '"' || b == '\\' || (b >= 0x80 && b < 0xC2) || b > 0xF4) return 0;
        size_t need = b < 0x80 ? 0 : b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
        unsigned lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80, hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
        if (i + need >= len + (need ? 0 : 1)) return 0;   /* a character cut at the piece's end */
        for (size_t k = 1; k <= need; k++, lo = 0x80, hi = 0xBF)
            if (p[i + k] < lo || p[i + k] > hi) return 0;
        i += need + 1;
    }
    return n > 255 ? 0 : n;
}

/* The lcp of order's ids [k - 1, k] for k in [1, n) into lcp. */
static void shared_prefixes(const GuideVocab *v, const int32_t *ids, int64_t n, uint16_t *lcp) {
    for (int64_t k = 1; k < n; k++) {
        const char *a = v->piece[ids[k - 1]], *b = v->piece[ids[k]];
        size_t m = v->len[ids[k - 1]] < v->len[ids[k]] ? v->len[ids[k - 1]] : v->len[ids[k]], c = 0;
        while (c < m && a[c] == b[c]) c++;
        lcp[k] = (uint16_t)c;
    }
}

GuideVocab *guide_vocab_new(const Tokenizer *tok, int64_t vocab) {
    GuideVocab *v = xcalloc(1, sizeof *v);
    Arena *A = &v->arena;
    v->n = vocab;
    v->piece = arena_array(A, (size_t)vocab + 1, sizeof *v->piece);
    v->len = arena_array(A, (size_t)vocab + 1, sizeof *v->len);
    v->order = arena_array(A, (size_t)vocab + 1, sizeof *v->order);
    for (int64_t id = 0; id < vocab; id++) {
        size_t len;
        bool special;
        char *p = tokenizer_piece(tok, (int32_t)id, &len, &special);
        if (p && !special && len && len <= GUIDE_PIECE_MAX) {
            v->piece[id] = arena_strndup(A, p, len), v->len[id] = (uint32_t)len;
            v->order[v->norder++] = (int32_t)id;
        }
        free(p);
    }
    sorting = v;
    qsort(v->order, (size_t)v->norder, sizeof *v->order, by_piece);
    sorting = NULL;
    v->lcp = arena_array(A, (size_t)v->norder + 1, sizeof *v->lcp);
    shared_prefixes(v, v->order, v->norder, v->lcp);
    v->plain = arena_array(A, (size_t)vocab + 1, 1);
    v->rest = arena_array(A, (size_t)v->norder + 1, sizeof *v->rest);
    for (int64_t k = 0; k < v->norder; k++) {
        int32_t id = v->order[k];
        v->plain[id] = (uint8_t)plain_code_points((const unsigned char *)v->piece[id], v->len[id]);
        if (!v->plain[id]) v->rest[v->nrest++] = id;
    }
    v->rest_lcp = arena_array(A, (size_t)v->nrest + 1, sizeof *v->rest_lcp);
    shared_prefixes(v, v->rest, v->nrest, v->rest_lcp);
    return v;
}

int64_t guide_vocab_size(const GuideVocab *v) { return v->n; }

const char *guide_vocab_piece(const GuideVocab *v, int32_t id, size_t *len) {
    *len = id >= 0 && id < v->n && v->piece[id] ? v->len[id] : 0;
    return id >= 0 && id < v->n ? v->piece[id] : NULL;
}

void guide_vocab_free(GuideVocab *v) {
    if (!v) return;
    arena_free(&v->arena);
    free(v);
}

void guide_thinking_mask(const GuideVocab *v, const char *tail, size_t tail_len, const char *tag, int32_t tag_id,
                         const int32_t *end, int nend, uint8_t *allowed) {
    memset(allowed, 1, (size_t)v->n);
    for (int k = 0; k < nend; k++)
        if (end[k] >= 0 && end[k] < v->n) allowed[end[k]] = 0;
    size_t n = strlen(tag), keep = tail_len < n - 1 ? tail_len : n - 1;
    char buf[GUIDE_PIECE_MAX + 64];
    memcpy(buf, tail + tail_len - keep, keep);
    for (int64_t id = 0; id < v->n; id++) {
        if (!v->piece[id] || id == tag_id || !memchr(v->piece[id], tag[n - 1], v->len[id])) continue;
        memcpy(buf + keep, v->piece[id], v->len[id]);   /* the tag written across the tail and the piece, or in it */
        if (memmem(buf, keep + v->len[id], tag, n)) allowed[id] = 0;
    }
}
