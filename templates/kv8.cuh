/* kv8.cuh — the KV cache as the kernels see it: elements of the model dtype T (bf16, fp16), or 8-bit
 * codes (MixcInt8Kv, MixcE4m3Kv: the codes of mixc_kv8.h) with one fp32 scale per token per KV head,
 * in the sequence blocks of MIXC_KV_SEQ_BYTES (mixc_params.h, docs/model.md "Quantized KV caches").
 *
 * e4m3 conversions use the hardware's cvt on sm_89 and later and mixc_kv8.h's exact software path
 * elsewhere and in the emulator; both round to nearest even and saturate at 448, so they give the
 * same codes (the hardware's negative zero is made code 0, as in software).
 */
#ifndef MIXC_KV8_CUH
#define MIXC_KV8_CUH

#include "mixc_arch.cuh"
#include "mixc_kv8.h"
#include "mixc_params.h"   /* MIXC_KV_SEQ_BYTES */

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define MIXC_HW_E4M3 1
#endif

struct MixcInt8Kv {};
struct MixcE4m3Kv {};

/* The model dtype: the cache holds T itself, no scales. */
template <class KV> struct MixcKv {
    typedef KV Store;
    static constexpr int BYTES = (int)sizeof(KV);
    static constexpr bool QUANT = false;
};

/* An 8-bit cache: one byte per element, and scales. */
struct MixcKv8Codes {
    typedef unsigned char Store;
    static constexpr int BYTES = 1;
    static constexpr bool QUANT = true;
};

template <> struct MixcKv<MixcInt8Kv> : MixcKv8Codes {
    static constexpr int FP8 = 0;
    /* The values of the four codes of four (low byte first), exactly mixc_int8_value's: code c with its
     * sign bit flipped (c + 128, 0..255) is made the low byte of the float 2^23 + c + 128, from which
     * 2^23 + 128 is taken. A byte permute and an add at the full rate, where (float)(signed char) is a
     * conversion instruction at a small fraction of it (on the H200 the int8 decode ran at 1.4x bf16's
     * time while fp8's, converted through f16, ran at 0.8x; docs/gpu.md, 2026-12-04). */
    static __device__ __forceinline__ void values4(float out[4], unsigned four) {
        const unsigned biased = four ^ 0x80808080u;
#pragma unroll
        for (int k = 0; k < 4; k++) out[k] = __uint_as_float(__byte_perm(biased, 0x4b000000u, 0x7650u + k)) - 8388736.0f;
    }
    static __device__ __forceinline__ void encode2(unsigned char out[2], float a, float b, float scale) {
        out[0] = mixc_kv8_code(FP8, a, scale);
        out[1] = mixc_kv8_code(FP8, b, scale);
    }
};

template <> struct MixcKv<MixcE4m3Kv> : MixcKv8Codes {
    static constexpr int FP8 = 1;
    /* The values of the two codes in the low 16 bits of two (low byte first). */
    static __device__ __forceinline__ void values2(float out[2], unsigned two) {
#ifdef MIXC_HW_E4M3
        union { unsigned u; __half2 h; } bits;   /* the upper code to the upper half */
        asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(bits.u) : "h"((unsigned short)(two & 0xffffu)));
        out[0] = __low2float(bits.h);
        out[1] = __high2float(bits.h);
#else
        out[0] = mixc_e4m3_value(two & 0xffu);
        out[1] = mixc_e4m3_value((two >> 8) & 0xffu);
#endif
    }
    static __device__ __forceinline__ void values4(float out[4], unsigned four) {
        values2(out, four);
        values2(out + 2, four >> 16);
    }
    static __device__ __forceinline__ void encode2(unsigned char out[2], float a, float b, float scale) {
#ifdef MIXC_HW_E4M3
        if (!(scale > 0.0f)) {
            out[0] = out[1] = 0;
            return;
        }
        unsigned short two;   /* the first source goes to the upper byte */
        asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(two) : "f"(b / scale), "f"(a / scale));
        out[0] = (two & 0x7fu) ? (unsigned char)(two & 0xffu) : 0;
        out[1] = (two & 0x7f00u) ? (unsigned char)(two >> 8) : 0;
#else
        out[0] = mixc_kv8_code(FP8, a, scale);
        out[1] = mixc_kv8_code(FP8, b, scale);
#endif
    }
};

/* 8 cache elements (8 x BYTES bytes, aligned) to floats; codes without their scale. */
template <class KV>
__device__ __forceinline__ void mixc_kv_load8(float out[8], const typename MixcKv<KV>::Store *src) {
    if constexpr (!MixcKv<KV>::QUANT) {
        mixc_load8(out, src);
    } else {
        const uint2 raw = *reinterpret_cast<const uint2 *>(src);
        MixcKv<KV>::values4(out, raw.x);
        MixcKv<KV>::values4(out + 4, raw.y);
    }
}

/* Addresses in one cache (K or V): sequence blocks of SEQ_BYTES, each CAP rows of codes (or T) and
 * then, for an 8-bit cache, CAP x KV_HEADS scales. A paged cache (PAGE > 0 rows per page; docs/plan.md
 * "Paged caches") is one pool of pg.pool_rows rows (then their scales) shared by every sequence, and
 * key j of sequence b is pool row MIXC_PAGED_ROW(its block table, PAGE, j), its table row b of
 * pg.pages. */
template <class KV, int HD, int KV_HEADS, long long CAP, long long PAGE = 0> struct MixcKvCache {
    typedef typename MixcKv<KV>::Store Store;
    static constexpr long long SEQ_BYTES = MIXC_KV_SEQ_BYTES(CAP, KV_HEADS, HD, (long long)MixcKv<KV>::BYTES);
    /* Sequence b's block (paged: the pool). */
    static __device__ __forceinline__ unsigned char *seq(const void *cache, long long b) {
        return (unsigned char *)cache + (PAGE ? 0 : b * SEQ_BYTES);
    }
    /* Sequence b's block table (NULL unpaged). */
    static __device__ __forceinline__ const int *table(const MixcPagedKv &pg, long long b) {
        return PAGE ? pg.pages + b * pg.table_pages : nullptr;
    }
    /* The rows of a block before its scales: CAP, or the pool's. */
    static __device__ __forceinline__ long long rows(const MixcPagedKv &pg) { return PAGE ? pg.pool_rows : CAP; }
    /* The row of key (position) j: its ring slot j % CAP, or its pool row. */
    static __device__ __forceinline__ long long row(const int *table, long long j) {
        if constexpr (PAGE > 0) return MIXC_PAGED_ROW(table, PAGE, j);
        else return j % CAP;
    }
    /* The first element of KV head kvh in row 0 (rows follow every KV_HEADS * HD elements). */
    static __device__ __forceinline__ Store *head(unsigned char *seq_block, int kvh) {
        return reinterpret_cast<Store *>(seq_block) + (size_t)kvh * HD;
    }
    /* The scale of KV head kvh in row 0 (rows follow every KV_HEADS scales), after `rows` rows. */
    static __device__ __forceinline__ float *scales(unsigned char *seq_block, int kvh, long long rows = CAP) {
        return reinterpret_cast<float *>(seq_block + (size_t)rows * KV_HEADS * HD) + kvh;
    }
};

#endif /* MIXC_KV8_CUH */
