/* kv_quant.h — 8-bit KV cache rows (docs/model.md, "Quantized KV caches"): int8 or fp8 (e4m3)
 * values with one fp32 scale per token per KV head, symmetric: scale = absmax / 127 (int8) or
 * absmax / 448 (e4m3), value = code x scale. The cpu reference quantizes when a token is appended,
 * as the kernels do, with the same rounding (templates/mixc_kv8.h). */
#ifndef MIXC_KV_QUANT_H
#define MIXC_KV_QUANT_H

#include "mixc.h"

#include <stdint.h>

/* The largest code of an 8-bit KV dtype: 127 (int8), 448 (e4m3). */
float kv_code_max(DType dt);

/* The value of each of the 256 byte codes of dt (int8: two's complement; e4m3: bias 7, no
 * infinities, 0x7f and 0xff NaN). */
void kv_code_values(DType dt, float values[256]);

/* The code nearest v (|v| <= kv_code_max, ties to even), for int8 or e4m3. */
uint8_t kv_encode(DType dt, float v);

/* One head's head_dim values as codes; returns its scale (0, with codes 0, for an all-zero head). */
float kv_quantize_head(DType dt, const float *x, int64_t head_dim, uint8_t *codes);

#endif
