/* fuzz_foundry.c — libFuzzer target: arbitrary bytes as an llm-foundry YAML (`mixc import --foundry`:
 * the YAML subset reader, then the model config). Nothing may crash, hang, leak or hit undefined
 * behaviour; an accepted config gives a layout that passes verify_layout, and `mixc export
 * --foundry` of that layout imports back to the same layers. */
#include "interop.h"
#include "mixc.h"
#define FUZZ_NAME "fuzz_foundry"
#include "fuzz_common.h"

#include <string.h>

static bool same_layers(const Layout *a, const Layout *b) {
    if (a->nlayers != b->nlayers || a->ncaches != b->ncaches) return false;
    for (int i = 0; i < a->nlayers; i++)
        if (a->layer[i].window != b->layer[i].window || a->layer[i].reads != b->layer[i].reads) return false;
    return a->model.hidden == b->model.hidden && a->model.heads == b->model.heads &&
           a->model.kv_heads == b->model.kv_heads && a->model.vocab == b->model.vocab &&
           a->model.context == b->model.context;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    Layout l;
    if (import_foundry_text("fuzz.yaml", text, size, "fuzz", &l, devnull) == 0) {
        if (!verify_layout(&l, stderr)) contract_broken("an imported layout fails verify_layout");
        Buf yaml = {0};
        if (export_foundry(&l, &yaml, devnull) == 0) {
            Layout back;
            if (import_foundry_text("back.yaml", yaml.data, yaml.len, "fuzz", &back, stderr) != 0)
                contract_broken("the exported YAML does not import");
            if (!same_layers(&l, &back)) contract_broken("the exported YAML imports to another layout");
            layout_free(&back);
        }
        buf_free(&yaml);
        layout_free(&l);
    }
    free(text);
    return 0;
}
