/* mixc_kv8.h — the one definition of the 8-bit KV cache codes (docs/model.md, "Quantized KV caches"),
 * plain C and C++: runtime/cpu/kv_quant.c includes it, and the kernel templates do (pasted into the
 * generated kernels.cu after mixc_arch.cuh), so the cpu reference, the emulator and the GPU's software
 * path quantize bit for bit alike. The e4m3 rounding is integer arithmetic on the float's bits: no
 * rounding mode and no library function is involved.
 *
 * int8: two's complement, -127..127. e4m3: sign, 4 exponent bits (bias 7), 3 mantissa bits,
 * subnormals (m/8 x 2^-6), no infinity, S.1111.111 NaN; 448 at most. Symmetric, one fp32 scale per
 * token per KV head: scale = absmax / 127 (int8) or absmax / 448 (e4m3), code = nearest(x / scale)
 * (ties to even, saturating), value = code x scale.
 */
#ifndef MIXC_KV8_H
#define MIXC_KV8_H

#if defined(__CUDACC__) || defined(MIXC_EMU)
#define MIXC_KV8_FN __host__ __device__ __forceinline__
#else
#define MIXC_KV8_FN static inline
#endif

#define MIXC_KV8_INT8_MAX 127.0f
#define MIXC_KV8_E4M3_MAX 448.0f
#define MIXC_KV8_E4M3_MAX_BITS 0x43e00000u   /* 448.0f */
#define MIXC_KV8_E4M3_MAX_CODE 0x7eu

MIXC_KV8_FN unsigned mixc_kv8_bits(float x) {
    union { float f; unsigned u; } b;
    b.f = x;
    return b.u;
}
MIXC_KV8_FN float mixc_kv8_from_bits(unsigned u) {
    union { float f; unsigned u; } b;
    b.u = u;
    return b.f;
}

/* x / 2^sh rounded to the nearest integer, ties to even (sh >= 1). */
MIXC_KV8_FN unsigned mixc_kv8_round_shift(unsigned x, int sh) {
    if (sh > 31) return 0;   /* x < 2^24 <= half */
    const unsigned q = x >> sh, rem = x & ((1u << sh) - 1u), half = 1u << (sh - 1);
    return q + (rem > half || (rem == half && (q & 1u)) ? 1u : 0u);
}

/* The e4m3 code nearest x, ties to even, saturating at +-448; -0 and negatives that round to zero
 * give code 0. Codes increase with the value within a sign, so a mantissa that rounds up to 8
 * carries into the exponent, and the subnormal range joins the normal one, by plain addition. */
MIXC_KV8_FN unsigned char mixc_e4m3_encode(float x) {
    const unsigned u = mixc_kv8_bits(x), sign = (u >> 24) & 0x80u, mag = u & 0x7fffffffu;
    const int e = (int)(mag >> 23) - 127;   /* floor(log2 |x|) for a normal float */
    unsigned code;
    if (mag >= MIXC_KV8_E4M3_MAX_BITS) code = MIXC_KV8_E4M3_MAX_CODE;
    else if (e >= -6) code = ((unsigned)(e + 7) << 3) + mixc_kv8_round_shift(mag & 0x7fffffu, 20);
    else if (e < -30) code = 0;   /* below 2^-30: rounds to 0 (and a float subnormal has e = -127) */
    else code = mixc_kv8_round_shift((mag & 0x7fffffu) | 0x800000u, 14 - e);   /* m x 2^-9 */
    return (unsigned char)(code ? code | sign : 0u);
}

MIXC_KV8_FN float mixc_e4m3_value(unsigned c) {
    const unsigned e = (c >> 3) & 15u, m = c & 7u;
    if (e == 15u && m == 7u) return mixc_kv8_from_bits(0x7fc00000u);
    const float mag = e ? mixc_kv8_from_bits(((e + 120u) << 23) | (m << 20)) : (float)m * (1.0f / 512.0f);
    return (c & 0x80u) ? -mag : mag;
}

MIXC_KV8_FN unsigned char mixc_int8_encode(float x) {
    float r = rintf(x);   /* to nearest, ties to even */
    r = r > MIXC_KV8_INT8_MAX ? MIXC_KV8_INT8_MAX : r < -MIXC_KV8_INT8_MAX ? -MIXC_KV8_INT8_MAX : r;
    return (unsigned char)(signed char)r;
}

MIXC_KV8_FN float mixc_int8_value(unsigned c) { return (float)(signed char)(unsigned char)c; }

/* The scale of a head whose largest magnitude is absmax; fp8 != 0 for e4m3. */
MIXC_KV8_FN float mixc_kv8_scale(int fp8, float absmax) {
    return absmax / (fp8 ? MIXC_KV8_E4M3_MAX : MIXC_KV8_INT8_MAX);
}

/* The code of x in a head of scale `scale` (code 0 in a head of zeros). */
MIXC_KV8_FN unsigned char mixc_kv8_code(int fp8, float x, float scale) {
    if (!(scale > 0.0f)) return 0;
    return fp8 ? mixc_e4m3_encode(x / scale) : mixc_int8_encode(x / scale);
}

MIXC_KV8_FN float mixc_kv8_value(int fp8, unsigned c) { return fp8 ? mixc_e4m3_value(c) : mixc_int8_value(c); }

#endif /* MIXC_KV8_H */
