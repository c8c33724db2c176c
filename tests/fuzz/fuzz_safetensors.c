/* fuzz_safetensors.c — libFuzzer target: arbitrary bytes as a .safetensors file (header length,
 * JSON header, data). Nothing may crash, leak or read out of bounds (ASan), and an accepted file's
 * tensors must lie inside the data, pairwise disjoint, with bytes = dtype size x shape. */
#include "mixc.h"
#define FUZZ_NAME "fuzz_safetensors"
#include "fuzz_common.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

static void check_tensors(const StFile *f, const uint8_t *data, size_t size) {
    for (int i = 0; i < f->ntensors; i++) {
        const StTensor *t = &f->tensor[i];
        if (t->data < data || t->data + t->nbytes > data + size) contract_broken("a tensor lies outside the file");
        if (t->dtype != ST_OTHER) {
            uint64_t count = 1;
            for (int d = 0; d < t->ndim; d++) count *= (uint64_t)t->shape[d];
            if (count * (uint64_t)st_dtype_size(t->dtype) != t->nbytes) contract_broken("bytes != dtype x shape");
            if (count && count < (1u << 20)) {   /* converting touches every byte */
                float *out = malloc(count * sizeof(float));
                if (out) st_to_f32(t, out, (int64_t)count);
                free(out);
            }
        }
        for (int j = 0; j < i; j++) {
            const StTensor *o = &f->tensor[j];
            if (t->nbytes && o->nbytes && t->data < o->data + o->nbytes && o->data < t->data + t->nbytes)
                contract_broken("two accepted tensors overlap");
        }
        if (st_find(f, t->name) == NULL) contract_broken("st_find misses a tensor");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy of exactly `size` bytes: ASan then catches a read one past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    StFile f;
    char err[512];
    if (st_open_memory("fuzz.safetensors", copy, size, &f, err, sizeof err)) {
        check_tensors(&f, copy, size);
        st_close(&f);
    }
    free(copy);
    return 0;
}
