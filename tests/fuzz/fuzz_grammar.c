/* fuzz_grammar.c — libFuzzer target: the bytes up to the first NUL as structured_outputs' grammar
 * (runtime/http/http_grammar.c), the bytes after it as the picks of a walk through its guide. Nothing
 * may crash, hang, leak or hit undefined behaviour; a refusal says why; and a grammar that compiles
 * never strands an answer: at every step of a walk over a vocabulary of the 256 bytes (a token each),
 * the mask allows some byte or the end, and each allowed byte leads on. */
#include "http_guide.h"
#define FUZZ_NAME "fuzz_grammar"
#include "fuzz_common.h"

#include <string.h>

#define WALK_MAX 64

/* A vocabulary of one token per byte, ids 0 to 255 (the order of their bytes). */
static GuideVocab *byte_vocab(char *bytes) {
    GuideVocab *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->n = v->norder = v->nrest = 256;
    v->piece = calloc(256, sizeof *v->piece), v->len = calloc(256, sizeof *v->len);
    v->order = calloc(256, sizeof *v->order), v->rest = calloc(256, sizeof *v->rest);
    v->lcp = calloc(256, sizeof *v->lcp), v->rest_lcp = calloc(256, sizeof *v->rest_lcp), v->plain = calloc(256, 1);
    for (int k = 0; k < 256 && v->piece && v->len && v->order && v->rest; k++)
        bytes[k] = (char)k, v->piece[k] = &bytes[k], v->len[k] = 1, v->order[k] = v->rest[k] = k;
    return v;
}

static void free_vocab(GuideVocab *v) {
    free(v->piece), free(v->len), free(v->order), free(v->rest), free(v->lcp), free(v->rest_lcp), free(v->plain), free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    char bytes[256], why[400] = "";
    GuideGrammar *g = guide_gbnf((const char *)data, glen, why, sizeof why);
    if (!g) {
        if (!why[0]) contract_broken("a refused grammar without a reason");
        return 0;
    }
    GuideVocab *v = byte_vocab(bytes);
    Guide *gd = guide_new(g);
    uint8_t allowed[257];
    int32_t end = 256;
    const uint8_t *pick = nul ? nul + 1 : data + size;
    for (int step = 0; step < WALK_MAX && pick < data + size; step++, pick++) {
        guide_mask(gd, v, &end, 1, allowed);
        int n = 0, ids[256];
        for (int k = 0; k < 256; k++)
            if (allowed[k]) ids[n++] = k;
        if (!n && !guide_ends(gd)) contract_broken("a place with no byte to take and no end");
        if (!n) break;
        if (!guide_advance(gd, v, ids[*pick % n])) contract_broken("a byte the mask allowed left the grammar");
    }
    guide_free(gd);
    free_vocab(v);
    return 0;
}
