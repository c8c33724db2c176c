/* rope.cuh — RoPE on Q for every layer; on K, and the append of K and V into the layer's cache,
 * only for the layers that own a cache (OWNER = true). Readers of a shared cache have no K/V.
 *
 * RoPE is HF Llama's "rotate_half": dimension d pairs with d + HD/2,
 *   inv_freq[k] = 1 / theta^(2k/HD),  angle = pos * inv_freq[k]  (fp32, absolute positions),
 *   out[k] = x[k] cos - x[k+HD/2] sin,  out[k+HD/2] = x[k+HD/2] cos + x[k] sin,
 * computed in fp32 and rounded once to T.
 * Ring caches: token position t lives in slot t % CAP. Sequence b's cache starts at element
 * b * CAP * KV_HEADS * HD of k_cache / v_cache.
 * Grid: [tokens], block: ROPE_THREADS (mixc_params.h).
 */
#ifndef MIXC_ROPE_CUH
#define MIXC_ROPE_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"   /* ROPE_THREADS and RopeParams */

template <int HD>
__device__ __forceinline__ void rope_pair(float theta, int pos, int k, float x1, float x2, float *o1,
                                          float *o2) {
    const float inv_freq = 1.0f / powf(theta, (float)(2 * k) / (float)HD);
    float s, c;
    sincosf((float)pos * inv_freq, &s, &c);
    *o1 = x1 * c - x2 * s;
    *o2 = x2 * c + x1 * s;
}

template <class T, int HD>
__device__ __forceinline__ void rope_rotate(float theta, int pos, int k, const T *src, T *dst) {
    float o1, o2;
    rope_pair<HD>(theta, pos, k, mixc_to_float(src[k]), mixc_to_float(src[k + HD / 2]), &o1, &o2);
    dst[k] = MixcElem<T>::from_float(o1);
    dst[k + HD / 2] = MixcElem<T>::from_float(o2);
}

template <class T, int HD, int HEADS, int KV_HEADS, bool OWNER, long long CAP>
__device__ __forceinline__ void rope_append_kernel(const RopeParams &p, float theta) {
    const int t = blockIdx.x;
    if (t >= p.tokens) return;
    const int pos = p.pos[t];
    T *q = static_cast<T *>(p.q) + (size_t)t * HEADS * HD;
    for (int i = threadIdx.x; i < HEADS * (HD / 2); i += blockDim.x) {
        const int h = i / (HD / 2), k = i % (HD / 2);
        rope_rotate<T, HD>(theta, pos, k, q + h * HD, q + h * HD);
    }
    if (!OWNER) return;
    const size_t slot = (size_t)p.seq[t] * CAP + (size_t)(pos % CAP);
    const T *k_in = static_cast<const T *>(p.k) + (size_t)t * KV_HEADS * HD;
    const T *v_in = static_cast<const T *>(p.v) + (size_t)t * KV_HEADS * HD;
    T *k_out = static_cast<T *>(p.k_cache) + slot * KV_HEADS * HD;
    T *v_out = static_cast<T *>(p.v_cache) + slot * KV_HEADS * HD;
    for (int i = threadIdx.x; i < KV_HEADS * (HD / 2); i += blockDim.x) {
        const int h = i / (HD / 2), k = i % (HD / 2);
        rope_rotate<T, HD>(theta, pos, k, k_in + h * HD, k_out + h * HD);
    }
    /* V is copied as is, 16 bytes at a time (HD is a multiple of 8). */
    for (int i = threadIdx.x; i < KV_HEADS * HD / 8; i += blockDim.x)
        reinterpret_cast<uint4 *>(v_out)[i] = reinterpret_cast<const uint4 *>(v_in)[i];
}

#endif /* MIXC_ROPE_CUH */
