/* fuzz_import.c — libFuzzer target: arbitrary bytes as a Hugging Face config.json, and as an LCKV
 * string. Nothing may crash, leak or hit undefined behaviour, and an accepted config must give a
 * layout that passes verify_layout and whose .mix text reads back to the same layout (the importer
 * writes that text for the user). */
#include "mixc.h"
#define FUZZ_NAME "fuzz_import"
#include "fuzz_common.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static bool same_layout(const Layout *a, const Layout *b) {
    if (a->nlayers != b->nlayers || a->ncaches != b->ncaches) return false;
    for (int i = 0; i < a->nlayers; i++)
        if (a->layer[i].window != b->layer[i].window || a->layer[i].reads != b->layer[i].reads) return false;
    const ModelHeader *x = &a->model, *y = &b->model;
    return x->layers == y->layers && x->hidden == y->hidden && x->heads == y->heads && x->kv_heads == y->kv_heads &&
           x->head_dim == y->head_dim && x->ffn == y->ffn && x->vocab == y->vocab && x->context == y->context &&
           x->rope_theta == y->rope_theta && x->norm_eps == y->norm_eps;
}

static void exercise_import(const uint8_t *data, size_t size) {
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!root) return;
    /* Both ways through the refusals of what mixc does not compute: as errors, and (even sizes) as
     * warnings whose lines go into the .mix's comment. */
    char *unsupported = NULL;
    ImportOptions opt = {.name = "fuzz", .err = devnull, .allow_unsupported = size % 2 == 0, .unsupported = &unsupported};
    Layout l;
    if (import_hf_json("fuzz.json", root, &opt, &l) == 0) {
        if (!verify_layout(&l, stderr)) contract_broken("an imported layout fails verify_layout");
        Buf text = {0};
        mix_write(&l, unsupported ? unsupported : "fuzz", &text);
        Layout back;
        if (load_layout_text("fuzz.mix", text.data, text.len, NULL, &back, devnull) != 0) contract_broken("the written .mix does not check");
        if (!same_layout(&l, &back)) contract_broken("the written .mix reads back to another layout");
        layout_free(&back);
        buf_free(&text);
        layout_free(&l);
    }
    free(unsupported);
    json_decref(root);
}

static void exercise_lckv(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return;
    memcpy(s, data, size);
    s[size] = '\0';
    int n;
    int64_t *window;
    int *reads;
    if (lckv_parse(s, 1024, devnull, &n, &window, &reads)) {
        for (int i = 0; i < n; i++)
            if (reads[i] < 0 || reads[i] > i || reads[reads[i]] != reads[i])
                contract_broken("lckv_parse returned a read of a later layer or of a reader");
        free(window);
        free(reads);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    exercise_import(data, size);
    exercise_lckv(data, size);
    return 0;
}
