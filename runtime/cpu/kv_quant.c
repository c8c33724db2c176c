/* kv_quant.c — int8 and fp8 (e4m3) KV rows: the codes, their values, and the quantizer. */
#include "kv_quant.h"

#include <math.h>

float kv_code_max(DType dt) { return dt == DT_FP8 ? 448.0f : 127.0f; }

/* e4m3: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is subnormal (m/8 x 2^-6);
 * S.1111.111 is NaN, there is no infinity. */
static float e4m3_value(uint8_t c) {
    int e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    float mag = e ? ldexpf(1.0f + (float)m / 8.0f, e - 7) : ldexpf((float)m / 8.0f, -6);
    return c & 0x80 ? -mag : mag;
}

void kv_code_values(DType dt, float values[256]) {
    for (int c = 0; c < 256; c++) values[c] = dt == DT_FP8 ? e4m3_value((uint8_t)c) : (float)(int8_t)(uint8_t)c;
}

/* The nearest non-negative e4m3 code to a >= 0 (codes 0..0x7e increase with their value): binary
 * search, then the nearer neighbour, an exact tie going to the even code (mantissa LSB 0). */
static uint8_t e4m3_encode_magnitude(float a) {
    int lo = 0, hi = 0x7e;
    if (a >= e4m3_value(0x7e)) return 0x7e;
    while (hi - lo > 1) {   /* value(lo) <= a < value(hi) */
        int mid = (lo + hi) / 2;
        if (e4m3_value((uint8_t)mid) <= a) lo = mid;
        else hi = mid;
    }
    float below = a - e4m3_value((uint8_t)lo), above = e4m3_value((uint8_t)hi) - a;
    if (below < above || (below == above && (lo & 1) == 0)) return (uint8_t)lo;
    return (uint8_t)hi;
}

uint8_t kv_encode(DType dt, float v) {
    if (dt == DT_FP8) {
        uint8_t c = e4m3_encode_magnitude(fabsf(v));
        return v < 0 && c ? (uint8_t)(c | 0x80) : c;
    }
    float r = nearbyintf(v);   /* the default rounding mode: to nearest, ties to even */
    r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
    return (uint8_t)(int8_t)r;
}

float kv_quantize_head(DType dt, const float *x, int64_t head_dim, uint8_t *codes) {
    float absmax = 0;
    for (int64_t d = 0; d < head_dim; d++) absmax = fmaxf(absmax, fabsf(x[d]));
    float scale = absmax / kv_code_max(dt);
    for (int64_t d = 0; d < head_dim; d++) codes[d] = scale > 0 ? kv_encode(dt, x[d] / scale) : 0;
    return scale;
}
