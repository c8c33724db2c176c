/* rope.cuh — RoPE on Q for every layer; on K, and the append of K and V into the layer's cache,
 * only for the layers that own a cache (OWNER = true). Readers of a shared cache have no K/V.
 * An owner reads its fused qkv rows (q, k, v of a token in one row of (HEADS + 2 KV_HEADS) x HD:
 * p.q, p.k and p.v point at the first row's q, k and v) and writes the rotated q to p.q_out
 * ([tokens, HEADS, HD], what attention reads); a reader rotates its q ([tokens, HEADS, HD]) in place.
 *
 * RoPE is HF Llama's "rotate_half": dimension d pairs with d + HD/2,
 *   angle = pos * inv_freq[k]  (fp32, absolute positions; inv_freq the layer's table, computed once
 *   on the host by rope_table, compiler/ir/rope.c, with the layer's theta and scaling),
 *   c = cos(angle) * scale, s = sin(angle) * scale,
 *   out[k] = x[k] c - x[k+HD/2] s,  out[k+HD/2] = x[k+HD/2] c + x[k] s,
 * computed in fp32 and rounded once to T. A NoPE layer (inv_freq NULL) rotates nothing: Q stays,
 * K is appended as it is.
 * Ring caches: token position t lives in slot t % CAP. Sequence b's cache starts at byte
 * b * MIXC_KV_SEQ_BYTES of k_cache / v_cache (kv8.cuh). A paged cache (PAGE > 0 rows a page): position
 * t of sequence b lives in pool row MIXC_PAGED_ROW(b's block table, PAGE, t) (p.paged).
 * An 8-bit cache (KV = MixcInt8Kv, MixcE4m3Kv) gets codes and a scale per token per KV head
 * (mixc_kv8.h): one warp per (KV head, K or V) takes the absmax of the fp32 values (K after RoPE,
 * not rounded to T) and writes the codes of value / scale.
 * Grid: [tokens], block: ROPE_THREADS (mixc_params.h).
 */
#ifndef MIXC_ROPE_CUH
#define MIXC_ROPE_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"   /* ROPE_THREADS and RopeParams */
#include "kv8.cuh"

template <int HD>
__device__ __forceinline__ void rope_pair(float inv_freq, float scale, int pos, float x1, float x2, float *o1,
                                          float *o2) {
    float s, c;
    sincosf((float)pos * inv_freq, &s, &c);
    c *= scale;
    s *= scale;
    *o1 = x1 * c - x2 * s;
    *o2 = x2 * c + x1 * s;
}

/* Pair k of one head from src to dst (which may alias); unrotated under NoPE. */
template <class T, int HD>
__device__ __forceinline__ void rope_rotate(const RopeParams &p, int pos, int k, const T *src, T *dst) {
    const float x1 = mixc_to_float(src[k]), x2 = mixc_to_float(src[k + HD / 2]);
    float o1 = x1, o2 = x2;
    if (p.inv_freq) rope_pair<HD>(p.inv_freq[k], p.scale, pos, x1, x2, &o1, &o2);
    dst[k] = MixcElem<T>::from_float(o1);
    dst[k + HD / 2] = MixcElem<T>::from_float(o2);
}

/* The quantized append of one token: warp w takes (KV head, K or V) items w, w + warps, ...; lane l
 * the pairs (k, k + HD/2), k = l, l + 32, ... (rotated for K). */
template <class T, class KV, int HD, int KV_HEADS, long long CAP, long long ROW, long long PAGE>
__device__ __forceinline__ void rope_append_kv8(const RopeParams &p, int t, int pos) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP, PAGE> Cache;
    constexpr int PAIRS = (HD / 2 + 31) / 32;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const long long slot = Cache::row(Cache::table(p.paged, p.seq[t]), pos);
    for (int item = warp; item < 2 * KV_HEADS; item += blockDim.x / 32) {
        const bool is_v = item >= KV_HEADS;
        const int h = item % KV_HEADS;
        const T *in = static_cast<const T *>(is_v ? p.v : p.k) + (size_t)t * ROW + (size_t)h * HD;
        float x1[PAIRS], x2[PAIRS], absmax = 0.0f;
#pragma unroll
        for (int i = 0; i < PAIRS; i++) {
            const int k = lane + 32 * i;
            x1[i] = x2[i] = 0.0f;
            if (k >= HD / 2) continue;
            x1[i] = mixc_to_float(in[k]);
            x2[i] = mixc_to_float(in[k + HD / 2]);
            if (!is_v && p.inv_freq) rope_pair<HD>(p.inv_freq[k], p.scale, pos, x1[i], x2[i], &x1[i], &x2[i]);
            absmax = fmaxf(absmax, fmaxf(fabsf(x1[i]), fabsf(x2[i])));
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) absmax = fmaxf(absmax, __shfl_xor_sync(0xffffffffu, absmax, o));
        const float scale = mixc_kv8_scale(MixcKv<KV>::FP8, absmax);
        unsigned char *seq = Cache::seq(is_v ? p.v_cache : p.k_cache, p.seq[t]);
        unsigned char *codes = Cache::head(seq, h) + (size_t)slot * KV_HEADS * HD;
#pragma unroll
        for (int i = 0; i < PAIRS; i++) {
            const int k = lane + 32 * i;
            if (k >= HD / 2) continue;
            unsigned char c[2];
            MixcKv<KV>::encode2(c, x1[i], x2[i], scale);
            codes[k] = c[0];
            codes[k + HD / 2] = c[1];
        }
        if (lane == 0) Cache::scales(seq, h, Cache::rows(p.paged))[(size_t)slot * KV_HEADS] = scale;
    }
}

template <class T, int HD, int HEADS, int KV_HEADS, bool OWNER, long long CAP, class KV = T, long long PAGE = 0>
__device__ __forceinline__ void rope_append_kernel(const RopeParams &p) {
    const int t = blockIdx.x;
    if (t >= p.tokens) return;
    const int pos = p.pos[t];
    /* an owner's input rows: the fused qkv's (q, k, v of a token in one row); a reader's: q's */
    constexpr long long ROW = OWNER ? (long long)(HEADS + 2 * KV_HEADS) * HD : (long long)HEADS * HD;
    const T *q_in = static_cast<const T *>(p.q) + (size_t)t * ROW;
    T *q = static_cast<T *>(OWNER ? p.q_out : p.q) + (size_t)t * HEADS * HD;
    for (int i = threadIdx.x; p.inv_freq && i < HEADS * (HD / 2); i += blockDim.x) {
        const int h = i / (HD / 2), k = i % (HD / 2);
        rope_rotate<T, HD>(p, pos, k, q_in + h * HD, q + h * HD);
    }
    if (!p.inv_freq && (p.temp_floor || OWNER)) {   /* NoPE: q as it is (times Llama 4's attention temperature:
                                                     * q * factor, rounded once), each element by one thread */
        const float f = p.temp_floor ? mixc_nope_temperature(pos, p.temp_floor, p.temp_scale) : 1.0f;
        for (int i = threadIdx.x; i < HEADS * HD; i += blockDim.x) q[i] = MixcElem<T>::from_float(mixc_to_float(q_in[i]) * f);
    }
    if constexpr (!OWNER) return;
    if constexpr (MixcKv<KV>::QUANT) {
        rope_append_kv8<T, KV, HD, KV_HEADS, CAP, ROW, PAGE>(p, t, pos);
        return;
    }
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP, PAGE> Cache;   /* a paged cache: the pool's row */
    const size_t slot = PAGE ? (size_t)Cache::row(Cache::table(p.paged, p.seq[t]), pos)
                             : (size_t)p.seq[t] * CAP + (size_t)(pos % CAP);
    const T *k_in = static_cast<const T *>(p.k) + (size_t)t * ROW;
    const T *v_in = static_cast<const T *>(p.v) + (size_t)t * ROW;
    T *k_out = static_cast<T *>(p.k_cache) + slot * KV_HEADS * HD;
    T *v_out = static_cast<T *>(p.v_cache) + slot * KV_HEADS * HD;
    for (int i = threadIdx.x; i < KV_HEADS * (HD / 2); i += blockDim.x) {
        const int h = i / (HD / 2), k = i % (HD / 2);
        rope_rotate<T, HD>(p, pos, k, k_in + h * HD, k_out + h * HD);
    }
    /* V is copied as is, 16 bytes at a time (HD is a multiple of 8). */
    for (int i = threadIdx.x; i < KV_HEADS * HD / 8; i += blockDim.x)
        reinterpret_cast<uint4 *>(v_out)[i] = reinterpret_cast<const uint4 *>(v_in)[i];
}

#endif /* MIXC_ROPE_CUH */
