/* test_emu_layouts.c — two layouts open on the emu backend in one process at once: each backend
 * holds its own module (the kernels' shared object, the emulated device's CUmodule), so running them interleaved must give, bit for
 * bit, the logits each gives when run alone.
 *
 * usage: test_emu_layouts LAYOUT.mix     (the two layouts are LAYOUT with two sets of overrides;
 * the kernels come from $MIXC_CACHE_DIR or are compiled there; prints PASS/FAIL lines) */
#include "backend.h"
#include "model.h"

#include <stdlib.h>
#include <string.h>

#define PROMPT_CHUNKS 3
#define DECODES 4
#define STEPS (PROMPT_CHUNKS + DECODES)

typedef struct {
    const char *name;
    Layout l;
    Model m;
    Backend b;
    int64_t chunk, vocab;
    float *logits;          /* [PROMPT_CHUNKS * chunk + DECODES][vocab] */
} Run;

static int64_t logits_rows(const Run *r) {
    return PROMPT_CHUNKS * r->chunk + DECODES;
}

static bool load(Run *r, const char *name, const char *path, const char *const *sets, int nsets) {
    memset(r, 0, sizeof *r);
    r->name = name;
    LoadOptions load = {.prog = "test_emu_layouts", .sets = sets, .nsets = nsets};
    if (load_layout_file(path, &load, &r->l, stderr) != 0) {
        fprintf(stderr, "test_emu_layouts: %s: cannot load %s\n", name, path);
        return false;
    }
    model_init_random(&r->m, &r->l, 11);
    r->chunk = r->l.model.chunk;
    r->vocab = r->l.model.vocab;
    r->logits = xcalloc((size_t)(logits_rows(r) * r->vocab), sizeof(float));
    return true;
}

static bool open_emu(Run *r) {
    BackendConfig cfg = {.nseq = 1, .context = logits_rows(r)};
    char err[512];
    if (backend_open("emu", &r->m, &cfg, &r->b, err, sizeof err) == 0) return true;
    fprintf(stderr, "test_emu_layouts: %s: %s\n", r->name, err);
    return false;
}

/* Step i of the run: a prompt chunk (all its logits), then one decoded token at a time. The tokens
 * depend on the step only, so both runs of a layout see the same input. */
static bool step(Run *r, int i) {
    if (i < PROMPT_CHUNKS) {
        int32_t t[64];
        for (int64_t j = 0; j < r->chunk; j++) t[j] = (int32_t)((7 * (i * r->chunk + j) + 3) % r->vocab);
        return backend_prefill(&r->b, 0, t, r->chunk, r->logits + i * r->chunk * r->vocab, true);
    }
    int32_t t = (int32_t)((5 * i + 1) % r->vocab);
    return r->b.ops->decode(&r->b, &t, r->logits + (PROMPT_CHUNKS * r->chunk + i - PROMPT_CHUNKS) * r->vocab);
}

static void release(Run *r) {
    if (r->b.ops) backend_close(&r->b);
    free(r->logits);
    model_free(&r->m);
    layout_free(&r->l);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_emu_layouts LAYOUT.mix\n");
        return 2;
    }
    /* Two layouts whose kernels differ: another GQA group and another window. */
    const char *sets_a[] = {"head_dim=64"};
    const char *sets_b[] = {"head_dim=64", "kv_heads=4", "window=6"};
    Run a = {0}, b = {0}, a2 = {0}, b2 = {0};
    bool ok = load(&a, "a", argv[1], sets_a, 1) && load(&b, "b", argv[1], sets_b, 3) &&
              load(&a2, "a", argv[1], sets_a, 1) && load(&b2, "b", argv[1], sets_b, 3);
    ok = ok && a.chunk <= 64 && b.chunk <= 64;
    /* Alone: one backend open at a time. */
    for (Run *r = &a; ok && r; r = r == &a ? &b : NULL) {
        ok = open_emu(r);
        for (int i = 0; ok && i < STEPS; i++) ok = step(r, i);
        if (r->b.ops) backend_close(&r->b);
    }
    /* Together: both open, their steps interleaved. */
    ok = ok && open_emu(&a2) && open_emu(&b2);
    for (int i = 0; ok && i < STEPS; i++) ok = step(&a2, i) && step(&b2, i);
    bool same = ok && memcmp(a.logits, a2.logits, (size_t)(logits_rows(&a) * a.vocab) * sizeof(float)) == 0 &&
                memcmp(b.logits, b2.logits, (size_t)(logits_rows(&b) * b.vocab) * sizeof(float)) == 0;
    bool differ = ok && memcmp(a.logits, b.logits, (size_t)(logits_rows(&a) * a.vocab) * sizeof(float)) != 0;
    printf("%s emu: two layouts open in one process give each its own logits, bit for bit\n",
           same && differ ? "PASS" : "FAIL");
    release(&a), release(&b), release(&a2), release(&b2);
    return same && differ ? 0 : 1;
}
