/* decode.cuh — decode attention: one new token per sequence, split-KV ("flash-decoding").
 *
 * attn_decode_kernel: grid [KV_HEADS, nsplit, batch], block DECODE_THREADS. Row b is the new token of
 * the sequence whose cache block is seq[b] (a scheduler decodes some of the blocks, in any order). A block takes one KV
 * head and one contiguous range of the visible keys; the G query heads that share that KV head are
 * processed together so every K/V row is loaded once (16-byte vector loads into shared memory).
 * Keys of the token at position pos: j in [mixc_first_key(pos, WINDOW, CHUNK), pos] (both 0: global;
 * CHUNK = C > 0: chunked attention, the keys of pos's chunk up to pos);
 * key j lives in cache slot j % CAP (ring caches). The new token's K/V must already be appended.
 * Each block writes an unnormalized partial output and its softmax statistics (max in log2 units,
 * sum of exponentials); attn_decode_reduce_kernel (grid [HEADS, batch]) merges the partials. A launch
 * of one split with p.out set writes the merged output itself (decode_merge_one), and no reduce runs.
 *
 * 8-bit caches (KV = MixcInt8Kv, MixcE4m3Kv; kv8.cuh): the tiles hold the codes and the keys' and
 * values' scales; a key's scale multiplies its score and a value's scale its probability (after the
 * sum of probabilities is taken), so no element is multiplied by a scale.
 *
 * Dynamic shared memory (bytes): DECODE_SMEM_BYTES(G, HD, ESIZE) (mixc_params.h), ESIZE the cache's
 * element size; the generator records it.
 */
#ifndef MIXC_DECODE_CUH
#define MIXC_DECODE_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"   /* DECODE_* geometry, DecodeParams, DecodeReduceParams */
#include "kv8.cuh"

/* A key's ring slot: 32-bit arithmetic by the compile-time capacity (a multiply and a shift, a mask
 * for a power of two; keys and capacities are below 2^31: codegen checks the sizes). */
template <long long CAP> __device__ __forceinline__ unsigned decode_slot(int key) {
    return (unsigned)key % (unsigned)CAP;
}

/* S: the cache's storage type (T, or an 8-bit code); PER: its elements per 16-byte vector. */
template <class S, int HD, long long CAP>
__device__ __forceinline__ void decode_load_tile(S *k_s, S *v_s, const S *k_base, const S *v_base,
                                                 int row_stride, int first, int end) {
    constexpr int PER = 16 / (int)sizeof(S), VECS = HD / PER;
    for (int i = threadIdx.x; i < DECODE_TILE * VECS; i += blockDim.x) {
        const int r = i / VECS, c = i % VECS, key = first + r;
        uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
        if (key < end) {   /* zero-fill past the range: 0 * garbage could be NaN */
            const size_t off = (size_t)decode_slot<CAP>(key) * row_stride + c * PER;
            kv = *reinterpret_cast<const uint4 *>(k_base + off);
            vv = *reinterpret_cast<const uint4 *>(v_base + off);
        }
        *reinterpret_cast<uint4 *>(k_s + r * DECODE_KROW(HD, (int)sizeof(S)) + c * PER) = kv;
        reinterpret_cast<uint4 *>(v_s)[i] = vv;
    }
}

/* An 8-bit cache's scales of the tile's keys (0 past the range). */
template <int KV_HEADS, long long CAP>
__device__ __forceinline__ void decode_load_scales(float *ks_s, float *vs_s, const float *k_scales,
                                                   const float *v_scales, int first, int end) {
    for (int r = threadIdx.x; r < DECODE_TILE; r += blockDim.x) {
        const int key = first + r;
        const size_t at = (size_t)decode_slot<CAP>(key) * KV_HEADS;
        ks_s[r] = key < end ? k_scales[at] : 0.0f;
        vs_s[r] = key < end ? v_scales[at] : 0.0f;
    }
}

/* The tile of keys [first, end) of KV head kvh: its rows and, for an 8-bit cache, its scales. */
template <class KV, int HD, int KV_HEADS, long long CAP>
__device__ __forceinline__ void decode_load(typename MixcKv<KV>::Store *k_s, typename MixcKv<KV>::Store *v_s,
                                            float *ks_s, float *vs_s, unsigned char *k_seq, unsigned char *v_seq,
                                            int kvh, int first, int end) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP> Cache;
    decode_load_tile<typename Cache::Store, HD, CAP>(k_s, v_s, Cache::head(k_seq, kvh), Cache::head(v_seq, kvh),
                                                     KV_HEADS * HD, first, end);
    if constexpr (MixcKv<KV>::QUANT)
        decode_load_scales<KV_HEADS, CAP>(ks_s, vs_s, Cache::scales(k_seq, kvh), Cache::scales(v_seq, kvh), first, end);
}

/* Scores of the tile, pre-multiplied by scale * log2(e) (and an 8-bit key's scale, ks_s; soft-capped
 * with attn_softcap); -inf for keys past the range. */
template <class KV, int HD, int G>
__device__ __forceinline__ void decode_scores(float *s_s, const float *q_s,
                                              const typename MixcKv<KV>::Store *k_s, const float *ks_s,
                                              int first, int end, float scale_log2, float softcap) {
    constexpr int KROW = DECODE_KROW(HD, MixcKv<KV>::BYTES);
    for (int it = threadIdx.x; it < G * DECODE_TILE; it += blockDim.x) {
        const int g = it / DECODE_TILE, j = it % DECODE_TILE;
        float dot = 0.0f;
#pragma unroll 4
        for (int d = 0; d < HD; d += 8) {
            float k8[8];
            mixc_kv_load8<KV>(k8, k_s + j * KROW + d);
#pragma unroll
            for (int e = 0; e < 8; e++) dot += q_s[g * HD + d + e] * k8[e];
        }
        if constexpr (MixcKv<KV>::QUANT) dot *= ks_s[j];
        s_s[it] = first + j < end ? mixc_score_log2(dot, scale_log2, softcap) : -INFINITY;
    }
}

/* Online softmax for each head: one warp per head, one key per lane. With an 8-bit cache (vs_s not
 * NULL) the probability stored for P V carries its value's scale; the sum l does not. */
template <int G>
__device__ __forceinline__ void decode_softmax(float *s_s, float *alpha_s, float *m_s, float *l_s,
                                               const float *vs_s) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int g = warp; g < G; g += DECODE_THREADS / 32) {
        const float s = s_s[g * DECODE_TILE + lane];
        float mt = s;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, o));
        const float m_old = m_s[g], m_new = fmaxf(m_old, mt);
        /* m_new = -inf only while every key so far is masked: keep p = 0, alpha = 1. */
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;
        const float p = exp2f(s - m_use);
        float sum = p;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        s_s[g * DECODE_TILE + lane] = vs_s ? p * vs_s[lane] : p;
        __syncwarp();
        if (lane == 0) {
            const float alpha = exp2f(m_old - m_use);
            alpha_s[g] = alpha;
            l_s[g] = l_s[g] * alpha + sum;
            m_s[g] = m_new;
        }
    }
}

/* One split's output as attn_decode_reduce_kernel merges it (the same operations, so the same bits):
 * o / (l + 2^(sink - m)), 0 for an empty split (l = 0), the sink term only with sinks. */
template <class T>
__device__ __forceinline__ float decode_merge_one(float o, float m, float l, const void *sinks, int h) {
    float num = 0.0f, den = 0.0f;
    if (l != 0.0f) {
        const float w = exp2f(m - m);
        num = o * w;
        den = l * w;
    }
    if (sinks) den += exp2f(mixc_to_float(static_cast<const T *>(sinks)[h]) * MIXC_LOG2E - m);
    return den > 0.0f ? num / den : 0.0f;
}

/* Head h's dims [8 vec, 8 vec + 8) of row b: the merged output (direct: one split with p.out) or the
 * block's partial and, once per head, its (max, sum). */
template <class T, int HD, int HEADS>
__device__ __forceinline__ void decode_store(const DecodeParams &p, const float (&acc)[8], int b, int h, int split,
                                             int nsplit, int vec, float m, float l, bool direct) {
    if (direct) {
        T *out = static_cast<T *>(p.out) + ((size_t)b * HEADS + h) * HD + vec * 8;
#pragma unroll
        for (int e = 0; e < 8; e++) out[e] = MixcElem<T>::from_float(decode_merge_one<T>(acc[e], m, l, p.sinks, h));
        return;
    }
    const size_t row = ((size_t)b * HEADS + h) * nsplit + split;
    float *o = p.o_part + row * HD + vec * 8;
#pragma unroll
    for (int e = 0; e < 8; e++) o[e] = acc[e];
    if (vec == 0) {
        p.ml_part[row * 2] = m;
        p.ml_part[row * 2 + 1] = l;
    }
}

/* KV: the cache's element type (kv8.cuh): T, or MixcInt8Kv / MixcE4m3Kv for an 8-bit cache. */
template <class T, int HD, int G, int KV_HEADS, long long WINDOW, long long CAP, class KV = T, long long CHUNK = 0>
__device__ __forceinline__ void attn_decode_kernel(const DecodeParams &p, float softcap = 0.0f) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP> Cache;
    typedef typename Cache::Store S;
    constexpr int VECS = HD / 8;
    constexpr int ITEMS = (G * VECS + DECODE_THREADS - 1) / DECODE_THREADS;
    constexpr int HEADS = KV_HEADS * G;
    static_assert(HD % 64 == 0 && G * HD <= DECODE_MAX_GROUP_DIM, "decode: group x head_dim out of range");
    MIXC_DYNAMIC_SMEM(float, mixc_decode_smem);   /* a distinct name: extern arrays alias */
    float *q_s = mixc_decode_smem;
    S *k_s = reinterpret_cast<S *>(q_s + G * HD);
    S *v_s = k_s + DECODE_TILE * DECODE_KROW(HD, MixcKv<KV>::BYTES);
    float *s_s = reinterpret_cast<float *>(v_s + DECODE_TILE * HD);
    float *alpha_s = s_s + G * DECODE_TILE, *m_s = alpha_s + G, *l_s = m_s + G;
    float *ks_s = l_s + G, *vs_s = ks_s + DECODE_TILE;   /* 8-bit caches only */

    const int kvh = blockIdx.x, split = blockIdx.y, nsplit = gridDim.y, b = blockIdx.z;
    if (b >= p.batch) return;
    const int pos = p.pos[b];
    const long long lo = mixc_first_key(pos, WINDOW, CHUNK);
    const int nkeys = (int)(pos - lo + 1);
    const int per = (nkeys + nsplit - 1) / nsplit;
    const int first = (int)lo + split * per;
    const int end = min(pos + 1, first + per);

    const T *q = static_cast<const T *>(p.q) + ((size_t)b * HEADS + (size_t)kvh * G) * HD;
    for (int i = threadIdx.x; i < G * HD; i += blockDim.x) q_s[i] = mixc_to_float(q[i]);
    for (int g = threadIdx.x; g < G; g += blockDim.x) {
        m_s[g] = -INFINITY;
        l_s[g] = 0.0f;
    }
    float acc[ITEMS][8];
#pragma unroll
    for (int it = 0; it < ITEMS; it++)
#pragma unroll
        for (int e = 0; e < 8; e++) acc[it][e] = 0.0f;

    const int slot = p.seq[b];   /* row b's cache block: the scheduler's active slots, in any order */
    unsigned char *k_seq = Cache::seq(p.k_cache, slot), *v_seq = Cache::seq(p.v_cache, slot);
    const float scale_log2 = p.scale * MIXC_LOG2E;
    __syncthreads();
    for (int t0 = first; t0 < end; t0 += DECODE_TILE) {
        decode_load<KV, HD, KV_HEADS, CAP>(k_s, v_s, ks_s, vs_s, k_seq, v_seq, kvh, t0, end);
        __syncthreads();
        decode_scores<KV, HD, G>(s_s, q_s, k_s, ks_s, t0, end, scale_log2, softcap);
        __syncthreads();
        decode_softmax<G>(s_s, alpha_s, m_s, l_s, MixcKv<KV>::QUANT ? vs_s : nullptr);
        __syncthreads();
#pragma unroll
        for (int it = 0; it < ITEMS; it++) {
            const int item = threadIdx.x + it * DECODE_THREADS;
            if (item >= G * VECS) break;
            const int g = item / VECS, vec = item % VECS;
            const float alpha = alpha_s[g];
#pragma unroll
            for (int e = 0; e < 8; e++) acc[it][e] *= alpha;
            for (int j = 0; j < DECODE_TILE; j++) {
                const float pj = s_s[g * DECODE_TILE + j];
                float v8[8];
                mixc_kv_load8<KV>(v8, v_s + j * HD + vec * 8);
#pragma unroll
                for (int e = 0; e < 8; e++) acc[it][e] += pj * v8[e];
            }
        }
        __syncthreads();   /* the next tile overwrites k_s, v_s, s_s */
    }
    const bool direct = nsplit == 1 && p.out;   /* one split: the merged output, no reduce after */
#pragma unroll
    for (int it = 0; it < ITEMS; it++) {
        const int item = threadIdx.x + it * DECODE_THREADS;
        if (item >= G * VECS) break;
        const int g = item / VECS;
        decode_store<T, HD, HEADS>(p, acc[it], b, kvh * G + g, split, nsplit, item % VECS, m_s[g], l_s[g], direct);
    }
}

/* out = sum_s o_s * 2^(m_s - M) / (sum_s l_s * 2^(m_s - M) + 2^(sink - M)), M = max_s m_s, the sink
 * term only with sinks (its logit in log2 units). Block: HD threads. */
template <class T, int HD>
__device__ __forceinline__ void attn_decode_reduce_kernel(const DecodeReduceParams &p) {
    const int h = blockIdx.x, b = blockIdx.y;
    if (b >= p.batch || h >= p.heads) return;
    const size_t row0 = ((size_t)b * p.heads + h) * p.nsplit;
    float m_max = -INFINITY;
    for (int s = 0; s < p.nsplit; s++) m_max = fmaxf(m_max, p.ml_part[(row0 + s) * 2]);
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float num = 0.0f, den = 0.0f;
        for (int s = 0; s < p.nsplit; s++) {
            const float m = p.ml_part[(row0 + s) * 2], l = p.ml_part[(row0 + s) * 2 + 1];
            if (l == 0.0f) continue;   /* an empty split: m = -inf */
            const float w = exp2f(m - m_max);
            num += p.o_part[(row0 + s) * HD + d] * w;
            den += l * w;
        }
        if (p.sinks) den += exp2f(mixc_to_float(static_cast<const T *>(p.sinks)[h]) * MIXC_LOG2E - m_max);
        static_cast<T *>(p.out)[((size_t)b * p.heads + h) * HD + d] =
            MixcElem<T>::from_float(den > 0.0f ? num / den : 0.0f);
    }
}

#endif /* MIXC_DECODE_CUH */
