/* decode.cuh — decode attention: one new token per sequence, split-KV ("flash-decoding").
 *
 * attn_decode_kernel: grid [KV_HEADS, nsplit, batch], block DECODE_THREADS. Row b is the new token of
 * the sequence whose cache block is seq[b] (a scheduler decodes some of the blocks, in any order). A block takes one KV
 * head and one contiguous range of the visible keys; the G query heads that share that KV head are
 * processed together so every K/V row is loaded once (16-byte vector loads into shared memory).
 * Keys of the token at position pos: j in [mixc_first_key(pos, WINDOW, CHUNK), pos] (both 0: global;
 * CHUNK = C > 0: chunked attention, the keys of pos's chunk up to pos);
 * key j lives in cache slot j % CAP (ring caches), or, in a paged cache (PAGE > 0), in pool row
 * MIXC_PAGED_ROW(the slot's block table, PAGE, j) (kv8.cuh). The new token's K/V must already be appended.
 * Each block writes an unnormalized partial output and its softmax statistics (max in log2 units,
 * sum of exponentials); attn_decode_reduce_kernel (grid [HEADS, batch]) merges the partials. A launch
 * of one split with p.out set writes the merged output itself (decode_merge_one), and no reduce runs.
 *
 * 8-bit caches (KV = MixcInt8Kv, MixcE4m3Kv; kv8.cuh): the tiles hold the codes and the keys' and
 * values' scales; a key's scale multiplies its score and a value's scale its probability (after the
 * sum of probabilities is taken), so no element is multiplied by a scale.
 *
 * Dynamic shared memory (bytes): DECODE_SMEM_BYTES(G, HD, ESIZE) (mixc_params.h), ESIZE the cache's
 * element size, or DECODE_TC_SMEM_BYTES(G, HD) with TC; the generator records it.
 *
 * TC (codegen's choice for groups of DECODE_TC_MIN_GROUP and more over bf16/fp16 caches; the kernel's
 * name ends in _tc): Q K^T and P V of a tile on tensor cores (decode_tc.cuh), the rest unchanged.
 */
#ifndef MIXC_DECODE_CUH
#define MIXC_DECODE_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"   /* DECODE_* geometry, DecodeParams, DecodeReduceParams */
#include "kv8.cuh"
#include "decode_tc.cuh"   /* the tensor-core variant's tiles (TC = true) */

/* A key's ring slot: 32-bit arithmetic by the compile-time capacity (a multiply and a shift, a mask
 * for a power of two; keys and capacities are below 2^31: codegen checks the sizes). The one place a
 * key's cache row is computed (its elements start at slot x the row stride, its scale at slot x
 * KV_HEADS). */
template <long long CAP> __device__ __forceinline__ unsigned decode_slot(int key) {
    return (unsigned)key % (unsigned)CAP;
}

/* Key j's row: its ring slot, or (PAGE > 0) its pool row through the block table. */
template <long long CAP, long long PAGE> __device__ __forceinline__ size_t decode_row(const int *table, int key) {
    if constexpr (PAGE > 0) return (size_t)MIXC_PAGED_ROW(table, PAGE, key);
    else return decode_slot<CAP>(key);
}

/* Starts the copy of the tile of keys [first, first + DECODE_TILE) of one head's K and V rows into a
 * pipeline stage: cp.async of 16 bytes, a compile-time number per thread, all issued before any wait
 * (the caller commits them as one group). S: the cache's storage type (T, or an 8-bit code); PER: its
 * elements per 16-byte vector. Rows past end are zero-filled with plain stores (0 * garbage could be
 * NaN); they are visible after the barrier that makes the copies visible. */
template <class S, int HD, long long CAP, long long PAGE>
__device__ __forceinline__ void decode_issue_tile(S *k_s, S *v_s, const S *k_base, const S *v_base,
                                                  const int *table, int row_stride, int first, int end) {
    constexpr int PER = 16 / (int)sizeof(S), VECS = HD / PER, N = DECODE_TILE * VECS;
    constexpr int EACH = (N + DECODE_THREADS - 1) / DECODE_THREADS;
#pragma unroll 1   /* cp.async does not wait: a rolled loop issues every copy all the same */
    for (int k = 0; k < EACH; k++) {
        const int i = threadIdx.x + k * DECODE_THREADS;
        if (N % DECODE_THREADS != 0 && i >= N) break;
        const int r = i / VECS, c = i % VECS, key = first + r;
        S *kd = k_s + r * DECODE_KROW(HD, (int)sizeof(S)) + c * PER, *vd = v_s + i * PER;
        if (key < end) {
            const size_t off = decode_row<CAP, PAGE>(table, key) * row_stride + c * PER;
            cp_async_16(kd, k_base + off);
            cp_async_16(vd, v_base + off);
        } else {
            *reinterpret_cast<uint4 *>(kd) = make_uint4(0, 0, 0, 0);
            *reinterpret_cast<uint4 *>(vd) = make_uint4(0, 0, 0, 0);
        }
    }
}

/* The tile of keys [first, end) of KV head kvh into a stage (K rows, then V rows). */
template <class KV, int HD, int KV_HEADS, long long CAP, long long PAGE>
__device__ __forceinline__ void decode_issue(typename MixcKv<KV>::Store *stage, unsigned char *k_seq,
                                             unsigned char *v_seq, const int *table, int kvh, int first, int end) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP, PAGE> Cache;
    decode_issue_tile<typename Cache::Store, HD, CAP, PAGE>(stage,
                                                            stage + DECODE_TILE * DECODE_KROW(HD, MixcKv<KV>::BYTES),
                                                            Cache::head(k_seq, kvh), Cache::head(v_seq, kvh), table,
                                                            KV_HEADS * HD, first, end);
}

/* An 8-bit cache's K and V scales of one key (0 past the range; unused otherwise); they follow `rows`
 * rows (the pool's when paged). */
struct DecodeScales {
    float k, v;
};
template <class KV, int HD, int KV_HEADS, long long CAP, long long PAGE>
__device__ __forceinline__ DecodeScales decode_scales(unsigned char *k_seq, unsigned char *v_seq, const int *table,
                                                      long long rows, int kvh, int key, int end) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP, PAGE> Cache;
    DecodeScales sc = {0.0f, 0.0f};
    if (MixcKv<KV>::QUANT && key < end) {
        const size_t at = decode_row<CAP, PAGE>(table, key) * KV_HEADS;   /* no page past the range */
        sc.k = Cache::scales(k_seq, kvh, rows)[at];
        sc.v = Cache::scales(v_seq, kvh, rows)[at];
    }
    return sc;
}

/* The online softmax of head g's scores over the tile (dot: lane j's q.k). */
template <class KV>
__device__ __forceinline__ void decode_softmax_head(float *p_s, float *alpha_s, float *m_s, float *l_s, int g,
                                                    float dot, DecodeScales sc, bool valid, float scale_log2,
                                                    float softcap) {
    const int lane = threadIdx.x % 32;
    const float s = valid ? mixc_score_log2(MixcKv<KV>::QUANT ? dot * sc.k : dot, scale_log2, softcap) : -INFINITY;
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
    p_s[g * DECODE_TILE + lane] = MixcKv<KV>::QUANT ? p * sc.v : p;
    __syncwarp();
    if (lane == 0) {
        const float alpha = exp2f(m_old - m_use);
        alpha_s[g] = alpha;
        l_s[g] = l_s[g] * alpha + sum;
        m_s[g] = m_new;
    }
}

/* Scores and online softmax of a tile, per warp: warp w owns heads w, w + 4, ... and lane j takes key
 * j (valid: inside the range), so no barrier separates scores from softmax; a lane reads its K row
 * once per two of the warp's heads (more heads per pass cost registers). A score is q.k times
 * scale * log2(e) (and the 8-bit key's scale sc.k), soft-capped with attn_softcap; -inf past the
 * range. p_s gets the probabilities (with an 8-bit cache times the value's scale sc.v; the sum l does
 * not take it), alpha_s each head's rescale factor; m_s, l_s hold the running max and sum (only the
 * owner warp touches them in the loop). */
template <class KV, int HD, int G>
__device__ __forceinline__ void decode_softmax(float *p_s, float *alpha_s, float *m_s, float *l_s, const float *q_s,
                                               const typename MixcKv<KV>::Store *k_s, DecodeScales sc,
                                               bool valid, float scale_log2, float softcap) {
    constexpr int WARPS = DECODE_THREADS / 32, GW = (G + WARPS - 1) / WARPS;
    constexpr int GC = GW < 2 ? GW : 2;   /* heads per pass over the K row: registers for 8 blocks per SM */
    constexpr int KROW = DECODE_KROW(HD, MixcKv<KV>::BYTES);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll 1
    for (int g0 = warp; g0 < G; g0 += GC * WARPS) {   /* heads g0, g0 + WARPS, ... (GC of them) */
        float dot[GC];
#pragma unroll
        for (int k = 0; k < GC; k++) dot[k] = 0.0f;
        if (valid) {
#pragma unroll 4
            for (int d = 0; d < HD; d += 8) {
                float k8[8];
                mixc_kv_load8<KV>(k8, k_s + lane * KROW + d);
#pragma unroll
                for (int k = 0; k < GC; k++) {
                    const float *q8 = q_s + (g0 + k * WARPS) * HD + d;
                    if (G % (GC * WARPS) == 0 || g0 + k * WARPS < G)
#pragma unroll
                        for (int e = 0; e < 8; e++) dot[k] += q8[e] * k8[e];
                }
            }
        }
#pragma unroll
        for (int k = 0; k < GC; k++) {
            const int g = g0 + k * WARPS;
            if (G % (GC * WARPS) != 0 && g >= G) break;
            decode_softmax_head<KV>(p_s, alpha_s, m_s, l_s, g, dot[k], sc, valid, scale_log2, softcap);
        }
    }
}

/* The P V work (an item: a head g and an 8-element vector vec of its output; NI = G x HD / 8 of
 * them). From NI = DECODE_THREADS up a thread takes ITEMS items and every key of the tile. Below, so
 * that every thread works, the threads form KG key groups of NI threads: group kg takes the keys
 * [kg JP, kg JP + JP) of each tile for one item, and the groups' accumulators are summed once after
 * the loop (decode_sum_groups): the same sums up to the order of fp32 additions. */
template <int G, int HD> struct DecodePv {
    static constexpr int NI = G * HD / 8;
    static constexpr int KG = NI >= DECODE_THREADS ? 1 : DECODE_THREADS / NI;
    static constexpr int ITEMS = (NI + DECODE_THREADS - 1) / DECODE_THREADS;
    static constexpr int JP = (DECODE_TILE + KG - 1) / KG;
    static_assert(KG <= DECODE_TILE && (KG == 1 || ITEMS == 1), "decode: key groups of one item each");
    /* This thread's key group (KG or more: idle) and first item. */
    static __device__ __forceinline__ int group() { return KG == 1 ? 0 : (int)threadIdx.x / NI; }
    static __device__ __forceinline__ int item0() { return KG == 1 ? (int)threadIdx.x : (int)threadIdx.x % NI; }
};

/* P V of a tile: each of the thread's items rescales its accumulator by its head's alpha and adds
 * p_j v_j over its key group's keys j. */
template <class KV, int HD, int G>
__device__ __forceinline__ void decode_pv(float (&acc)[DecodePv<G, HD>::ITEMS][8], const float *p_s,
                                          const float *alpha_s, const typename MixcKv<KV>::Store *v_s) {
    typedef DecodePv<G, HD> Pv;
    constexpr int VECS = HD / 8;
    const int kg = Pv::group();
    if (kg >= Pv::KG) return;
#pragma unroll
    for (int it = 0; it < Pv::ITEMS; it++) {
        const int item = Pv::item0() + it * DECODE_THREADS;
        if (item >= Pv::NI) break;
        const int g = item / VECS, vec = item % VECS;
        const float alpha = alpha_s[g];
#pragma unroll
        for (int e = 0; e < 8; e++) acc[it][e] *= alpha;
        for (int jj = 0; jj < Pv::JP; jj++) {
            const int j = kg * Pv::JP + jj;
            if (Pv::KG * Pv::JP != DECODE_TILE && j >= DECODE_TILE) break;
            const float pj = p_s[g * DECODE_TILE + j];
            float v8[8];
            mixc_kv_load8<KV>(v8, v_s + j * HD + vec * 8);
#pragma unroll
            for (int e = 0; e < 8; e++) acc[it][e] += pj * v8[e];
        }
    }
}

/* With key groups: their accumulators summed into group 0's, in group order, through red (KG - 1 x
 * NI x 8 floats; lane-contiguous, so without bank conflicts). After a barrier that ends the last
 * tile's P V (red may be the stages). */
template <int G, int HD>
__device__ __forceinline__ void decode_sum_groups(float (&acc)[DecodePv<G, HD>::ITEMS][8], float *red) {
    typedef DecodePv<G, HD> Pv;
    if constexpr (Pv::KG > 1) {
        const int kg = Pv::group(), item = Pv::item0();
        if (kg > 0 && kg < Pv::KG)
#pragma unroll
            for (int e = 0; e < 8; e++) red[(e * (Pv::KG - 1) + kg - 1) * Pv::NI + item] = acc[0][e];
        __syncthreads();   /* the groups' accumulators visible to group 0 */
        if (kg == 0)
            for (int k = 1; k < Pv::KG; k++)
#pragma unroll
                for (int e = 0; e < 8; e++) acc[0][e] += red[(e * (Pv::KG - 1) + k - 1) * Pv::NI + item];
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

/* The block's G query heads (q) to fp32 in q_s (with TC: as T, decode_tc_load_q, and the padding rows'
 * alpha 1); each head's running max and sum: -inf and 0. */
template <class T, int HD, int G, bool TC>
__device__ __forceinline__ void decode_init(void *q_s, float *alpha_s, float *m_s, float *l_s, const T *q) {
    if constexpr (TC) {
        decode_tc_load_q<T, HD, G>(static_cast<T *>(q_s), q);
        for (int g = G + (int)threadIdx.x; g < DECODE_TC_ROWS(G); g += DECODE_THREADS) alpha_s[g] = 1.0f;
    } else
        for (int i = threadIdx.x; i < G * HD; i += DECODE_THREADS) static_cast<float *>(q_s)[i] = mixc_to_float(q[i]);
    for (int g = threadIdx.x; g < G; g += DECODE_THREADS) {
        m_s[g] = -INFINITY;
        l_s[g] = 0.0f;
    }
}

/* A thread's accumulators: its P V items' (scalar) or its O fragments (TC). */
template <int G, int HD, bool TC> struct DecodeAcc {
    float a[DecodePv<G, HD>::ITEMS][8];
};
template <int G, int HD> struct DecodeAcc<G, HD, true> {
    float a[DecodeTc<G, HD>::M][DecodeTc<G, HD>::NT][4];
};

/* Scores, softmax and P V of one tile (k_s, v_s: its stage's K and V rows; q_s: decode_init's). TC:
 * the scores on tensor cores into p_s, a barrier, each head's softmax by its warp over them. */
template <class KV, int HD, int G, bool TC>
__device__ __forceinline__ void decode_tile(DecodeAcc<G, HD, TC> &acc, float *p_s, float *alpha_s, float *m_s,
                                            float *l_s, const void *q_s, const typename MixcKv<KV>::Store *k_s,
                                            const typename MixcKv<KV>::Store *v_s, DecodeScales sc, bool valid,
                                            float scale_log2, float softcap) {
    if constexpr (TC) {
        decode_tc_scores<KV, HD, G>(p_s, static_cast<const KV *>(q_s), k_s);
        __syncthreads();   /* the tile's scores visible to each head's warp */
#pragma unroll 1
        for (int g = threadIdx.x / 32; g < G; g += DECODE_THREADS / 32)
            decode_softmax_head<KV>(p_s, alpha_s, m_s, l_s, g, p_s[g * DECODE_TILE + threadIdx.x % 32], sc, valid,
                                    scale_log2, softcap);
        __syncthreads();   /* the probabilities and alpha visible to all */
        decode_tc_pv<KV, HD, G>(acc.a, p_s, alpha_s, v_s);
    } else {
        decode_softmax<KV, HD, G>(p_s, alpha_s, m_s, l_s, static_cast<const float *>(q_s), k_s, sc, valid, scale_log2,
                                  softcap);
        __syncthreads();   /* the probabilities and alpha visible to all */
        decode_pv<KV, HD, G>(acc.a, p_s, alpha_s, v_s);
    }
}

/* After the barrier that ends the last tile: the block's outputs through decode_store, from key group
 * 0's summed accumulators or (TC) from the fragments staged in red (q and the stages, free by then). */
template <class T, int HD, int G, int HEADS, bool TC>
__device__ __forceinline__ void decode_finish(const DecodeParams &p, DecodeAcc<G, HD, TC> &acc, float *red,
                                              const float *m_s, const float *l_s, int b, int kvh, int split,
                                              int nsplit) {
    typedef DecodePv<G, HD> Pv;
    const bool direct = nsplit == 1 && p.out;   /* one split: the merged output, no reduce after */
    if constexpr (TC) {
        decode_tc_stash<HD, G>(red, acc.a);
        __syncthreads();   /* every row's dims staged */
        for (int item = threadIdx.x; item < G * HD / 8; item += DECODE_THREADS) {
            const int g = item / (HD / 8), vec = item % (HD / 8);
            float o[8];
#pragma unroll
            for (int e = 0; e < 8; e++) o[e] = red[g * HD + vec * 8 + e];
            decode_store<T, HD, HEADS>(p, o, b, kvh * G + g, split, nsplit, vec, m_s[g], l_s[g], direct);
        }
    } else {
        decode_sum_groups<G, HD>(acc.a, red);
        if (Pv::group() != 0) return;
#pragma unroll
        for (int it = 0; it < Pv::ITEMS; it++) {
            const int item = Pv::item0() + it * DECODE_THREADS;
            if (item >= Pv::NI) break;
            const int g = item / (HD / 8);
            decode_store<T, HD, HEADS>(p, acc.a[it], b, kvh * G + g, split, nsplit, item % (HD / 8), m_s[g], l_s[g],
                                       direct);
        }
    }
}

/* KV: the cache's element type (kv8.cuh): T, or MixcInt8Kv / MixcE4m3Kv for an 8-bit cache.
 * Per tile: wait for its copies, one barrier, start the copy of the tile STAGES - 1 ahead into the stage
 * the previous tile used, then decode_tile: scores and softmax per warp, a barrier, P V (in key groups
 * where the items are fewer than the threads), or with TC the tensor-core tile. */
/* PAGE: a paged cache's rows per page (0: unpaged). TC: the tensor-core variant (T caches only). */
template <class T, int HD, int G, int KV_HEADS, long long WINDOW, long long CAP, class KV = T, long long CHUNK = 0,
          long long PAGE = 0, bool TC = false>
__device__ __forceinline__ void attn_decode_kernel(const DecodeParams &p, float softcap = 0.0f) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP, PAGE> Cache;
    typedef typename Cache::Store S;
    constexpr int HEADS = KV_HEADS * G;
    static_assert(HD % 64 == 0 && G * HD <= DECODE_MAX_GROUP_DIM, "decode: group x head_dim out of range");
    static_assert(!TC || (!MixcKv<KV>::QUANT && DECODE_TC_FITS(G, HD)), "decode tc: a group it takes, T caches");
    constexpr int STAGES = DECODE_STAGES(HD, MixcKv<KV>::BYTES);
    constexpr int STAGE_ELEMS = DECODE_STAGE_BYTES(HD, MixcKv<KV>::BYTES) / (int)sizeof(S);
    static_assert(8 * DECODE_THREADS * 4 <= STAGES * DECODE_STAGE_BYTES(HD, MixcKv<KV>::BYTES),
                  "decode: the stages hold the key groups' accumulators");
    MIXC_DYNAMIC_SMEM(float, mixc_decode_smem);   /* a distinct name: extern arrays alias */
    void *q_s = mixc_decode_smem;                  /* fp32, or T rows (TC) */
    S *stages = reinterpret_cast<S *>(reinterpret_cast<unsigned char *>(q_s) +
                                      (TC ? DECODE_TC_Q_BYTES(G, HD) : G * HD * 4));
    float *p_s = reinterpret_cast<float *>(stages + STAGES * STAGE_ELEMS);
    constexpr int ROWS = TC ? DECODE_TC_ROWS(G) : G;   /* TC: the padding rows' too */
    float *alpha_s = p_s + ROWS * DECODE_TILE, *m_s = alpha_s + ROWS, *l_s = m_s + ROWS;

    const int kvh = blockIdx.x, split = blockIdx.y, nsplit = gridDim.y, b = blockIdx.z;
    if (b >= p.batch) return;
    const int pos = p.pos[b];
    const long long lo = mixc_first_key(pos, WINDOW, CHUNK);
    const int nkeys = (int)(pos - lo + 1);
    const int per = (nkeys + nsplit - 1) / nsplit;
    const int first = (int)lo + split * per;
    const int end = min(pos + 1, first + per);
    const int ntiles = end > first ? (end - first + DECODE_TILE - 1) / DECODE_TILE : 0;

    const int slot = p.seq[b];   /* row b's cache block: the scheduler's active slots, in any order */
    unsigned char *k_seq = Cache::seq(p.k_cache, slot), *v_seq = Cache::seq(p.v_cache, slot);
    const int *table = Cache::table(p.paged, slot);   /* paged: the slot's block table */
    const long long rows = Cache::rows(p.paged);
    /* The first STAGES - 1 tiles' copies start before anything else (one group each, empty or not). */
#pragma unroll
    for (int t = 0; t < STAGES - 1; t++) {
        if (t < ntiles)
            decode_issue<KV, HD, KV_HEADS, CAP, PAGE>(stages + t * STAGE_ELEMS, k_seq, v_seq, table, kvh,
                                                      first + t * DECODE_TILE, end);
        cp_async_commit();
    }
    decode_init<T, HD, G, TC>(q_s, alpha_s, m_s, l_s,
                              static_cast<const T *>(p.q) + ((size_t)b * HEADS + (size_t)kvh * G) * HD);
    DecodeAcc<G, HD, TC> acc = {};

    const float scale_log2 = p.scale * MIXC_LOG2E;
    const int lane = threadIdx.x % 32;
    DecodeScales sc_next = decode_scales<KV, HD, KV_HEADS, CAP, PAGE>(k_seq, v_seq, table, rows, kvh, first + lane, end);
    int rd = 0, wr = STAGES - 1;   /* the stages of tile t and of tile t + STAGES - 1 */
    for (int t = 0; t < ntiles; t++) {
        const int t0 = first + t * DECODE_TILE;
        const DecodeScales sc = sc_next;   /* lane j's key's scales, loaded a tile ahead */
        sc_next = decode_scales<KV, HD, KV_HEADS, CAP, PAGE>(k_seq, v_seq, table, rows, kvh, t0 + DECODE_TILE + lane, end);
        cp_async_wait_group<STAGES - 2>();   /* this thread's copies of tile t have landed */
        __syncthreads();   /* tile t visible to all; the stage refilled below and p_s are free */
        if (t + STAGES - 1 < ntiles)
            decode_issue<KV, HD, KV_HEADS, CAP, PAGE>(stages + wr * STAGE_ELEMS, k_seq, v_seq, table, kvh,
                                                      t0 + (STAGES - 1) * DECODE_TILE, end);
        cp_async_commit();
        const S *k_s = stages + rd * STAGE_ELEMS;
        decode_tile<KV, HD, G, TC>(acc, p_s, alpha_s, m_s, l_s, q_s, k_s,
                                   k_s + DECODE_TILE * DECODE_KROW(HD, MixcKv<KV>::BYTES), sc, t0 + lane < end,
                                   scale_log2, softcap);
        rd = rd == STAGES - 1 ? 0 : rd + 1;
        wr = wr == STAGES - 1 ? 0 : wr + 1;
    }
    /* Every copy was waited for in the loop (the last STAGES - 1 groups are empty). */
    __syncthreads();   /* m_s, l_s final (or as initialized: an empty split) */
    /* the key groups' sums through the stages; TC: the outputs through q and the stages (DECODE_TC_FITS) */
    decode_finish<T, HD, G, HEADS, TC>(p, acc, TC ? mixc_decode_smem : reinterpret_cast<float *>(stages), m_s, l_s, b,
                                       kvh, split, nsplit);
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
