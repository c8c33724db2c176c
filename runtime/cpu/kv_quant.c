/* kv_quant.c — int8 and fp8 (e4m3) KV rows: the codes, their values, and the quantizer, on the
 * one definition the kernels share (templates/mixc_kv8.h). */
#include "kv_quant.h"

#include <math.h>

#include "mixc_kv8.h"

float kv_code_max(DType dt) { return dt == DT_FP8 ? MIXC_KV8_E4M3_MAX : MIXC_KV8_INT8_MAX; }

void kv_code_values(DType dt, float values[256]) {
    for (unsigned c = 0; c < 256; c++) values[c] = mixc_kv8_value(dt == DT_FP8, c);
}

uint8_t kv_encode(DType dt, float v) { return dt == DT_FP8 ? mixc_e4m3_encode(v) : mixc_int8_encode(v); }

float kv_quantize_head(DType dt, const float *x, int64_t head_dim, uint8_t *codes) {
    float absmax = 0;
    for (int64_t d = 0; d < head_dim; d++) absmax = fmaxf(absmax, fabsf(x[d]));
    float scale = mixc_kv8_scale(dt == DT_FP8, absmax);
    for (int64_t d = 0; d < head_dim; d++) codes[d] = mixc_kv8_code(dt == DT_FP8, x[d], scale);
    return scale;
}
