/* prefill.cuh — prefill attention, the FlashAttention-2 algorithm (Dao, arXiv 2307.08691).
 *
 * Grid [ceil(tokens / PREFILL_BM), HEADS, parts], block PREFILL_THREADS(HD) (4 warps, 8 above HD 256): a
 * batched prefill (mixc_params.h, PREFILL_PART_INTS), the chunks of several sequences in one launch. Block
 * (x, h, z) takes tile z * gridDim.x + x of the host's tile table, (part, first query) heaviest first, and
 * owns those PREFILL_BM = 64 queries of query head h of that part; each warp owns 16 query rows, and
 * above HD 256 (PREFILL_SLICES) one half of the head dimension of them: the two warps of a row group
 * compute the same scores and softmax statistics, and O += P V for their own half. K/V tiles
 * of BN keys go through shared memory (cp.async, double-buffered); S = Q K^T and O += P V run on tensor cores
 * (mma.m16n8k16, fragments loaded with ldmatrix), softmax statistics stay in fp32 registers
 * (online softmax in log2 units), and P is re-packed from the S accumulators straight into the A
 * fragments of the second mma, never touching shared memory.
 *
 * Masks (absolute positions): query i sees keys j with mixc_first_key(i, WINDOW, CHUNK) <= j <= i:
 * for WINDOW = W > 0, j > i - W; for CHUNK = C > 0 (chunked attention), j >= floor(i / C) * C.
 * Key tiles entirely outside every row's range are never loaded (whole-tile skipping: the rows of a
 * block see one contiguous run of keys, from its first row's first key to its last row, so a
 * window-W or chunked-C layer does O(L * W) or O(L * C) work); only tiles crossing a boundary are
 * masked element by element.
 * Keys live in the cache of the owning layer: key j of part b in row j % CAP of cache block slot[b],
 * or, in a paged cache (PAGE > 0), in pool row MIXC_PAGED_ROW(slot[b]'s block table, PAGE, j) (kv8.cuh):
 * a tile's rows may span pages, each row found on its own.
 * Partial tiles (chunk lengths that are not multiples of the tile) are zero-filled and masked.
 * GQA: query head h reads KV head h / G. Attention sinks (p.sinks): the head's logit s joins every
 * row's denominator, sum_j 2^(x_j - m) + 2^(s - m), added once at the end.
 *
 * 8-bit caches (KV = MixcInt8Kv, MixcE4m3Kv; kv8.cuh): K and V tiles are dequantized (code x its
 * token's scale, rounded to T) into the same shared-memory tiles as they arrive, with plain loads
 * instead of cp.async; everything after the load is the T path.
 *
 * Shared memory rows are XOR-swizzled in 16-byte chunks (chunk c of row r is stored at c ^ (r % 8)),
 * so the 8 row addresses of every ldmatrix hit 8 different bank groups. Needs HD % 64 == 0 and
 * HD <= PREFILL_MAX_HD.
 */
#ifndef MIXC_PREFILL_CUH
#define MIXC_PREFILL_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"   /* PREFILL_* geometry and PrefillParams */
#include "kv8.cuh"

/* Element offset of (row, col) in a swizzled [rows][HD] tile; col is a multiple of 8. */
template <int HD> __device__ __forceinline__ int swz(int row, int col) {
    return row * HD + ((((col >> 3) ^ (row & 7))) << 3);
}

/* Copies rows of a tile into shared memory, 16 bytes per cp.async; row_src returns NULL for rows
 * to zero-fill. */
template <class T, int HD, int ROWS, class RowSrc>
__device__ __forceinline__ void prefill_load(T *dst, RowSrc row_src) {
    constexpr int VECS = HD / 8;
    for (int i = threadIdx.x; i < ROWS * VECS; i += PREFILL_THREADS(HD)) {
        const int r = i / VECS, c = i % VECS;
        const T *src = row_src(r);
        T *d = dst + swz<HD>(r, c * 8);
        if (src)
            cp_async_16(d, src + c * 8);
        else
            *reinterpret_cast<uint4 *>(d) = make_uint4(0, 0, 0, 0);
    }
}

/* An 8-bit cache's rows of a tile into shared memory as T: row_src returns a row's codes and sets
 * its scale, or NULL for rows to zero-fill. 8 codes per thread and step. */
template <class T, class KV, int HD, int ROWS, class RowSrc>
__device__ __forceinline__ void prefill_load_kv8(T *dst, RowSrc row_src) {
    constexpr int VECS = HD / 8;
    for (int i = threadIdx.x; i < ROWS * VECS; i += PREFILL_THREADS(HD)) {
        const int r = i / VECS, c = i % VECS;
        float scale = 0.0f, x[8];
        const unsigned char *src = row_src(r, &scale);
        T *d = dst + swz<HD>(r, c * 8);
        if (!src) {
            *reinterpret_cast<uint4 *>(d) = make_uint4(0, 0, 0, 0);
            continue;
        }
        mixc_kv_load8<KV>(x, src + c * 8);
#pragma unroll
        for (int e = 0; e < 8; e++) x[e] *= scale;
        mixc_store8(d, x);
    }
}

/* The loads of the key tile at n0 into k_dst and v_dst (KV head kvh): cp.async of T rows, or an 8-bit
 * cache's rows dequantized; keys outside [kmin, qhi] zero-filled. */
template <class T, class KV, int HD, int KV_HEADS, long long CAP, int BN, long long PAGE>
__device__ __forceinline__ void prefill_load_kv(T *k_dst, T *v_dst, unsigned char *k_seq, unsigned char *v_seq,
                                                const int *table, long long rows, int kvh, long long n0,
                                                long long kmin, long long qhi) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP, PAGE> Cache;
    const typename Cache::Store *k_base = Cache::head(k_seq, kvh), *v_base = Cache::head(v_seq, kvh);
    if constexpr (MixcKv<KV>::QUANT) {
        auto key_row = [&](const unsigned char *base, const float *scales) {
            return [=](int r, float *scale) -> const unsigned char * {
                const long long kp = n0 + r;
                if (kp < kmin || kp > qhi) return nullptr;
                const size_t row = (size_t)Cache::row(table, kp);
                *scale = scales[row * KV_HEADS];
                return base + row * KV_HEADS * HD;
            };
        };
        prefill_load_kv8<T, KV, HD, BN>(k_dst, key_row(k_base, Cache::scales(k_seq, kvh, rows)));
        prefill_load_kv8<T, KV, HD, BN>(v_dst, key_row(v_base, Cache::scales(v_seq, kvh, rows)));
    } else {
        auto key_row = [&](const T *base) {
            return [=](int r) -> const T * {
                const long long kp = n0 + r;
                return kp >= kmin && kp <= qhi ? base + (size_t)Cache::row(table, kp) * KV_HEADS * HD : nullptr;
            };
        };
        prefill_load<T, HD, BN>(k_dst, key_row(k_base));
        prefill_load<T, HD, BN>(v_dst, key_row(v_base));
    }
}

template <class T, int HD, int BN>
__device__ __forceinline__ void prefill_scores(float s[BN / 8][4], const T *q_s, const T *k_s,
                                               int warp, int lane) {
#pragma unroll
    for (int nb = 0; nb < BN / 8; nb++)
#pragma unroll
        for (int i = 0; i < 4; i++) s[nb][i] = 0.0f;
    const int j = lane / 8;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        uint32_t a[4];
        ldmatrix_x4(a, q_s + swz<HD>(warp * 16 + lane % 8 + (j & 1) * 8, kk * 16 + (j >> 1) * 8));
#pragma unroll
        for (int np = 0; np < BN / 16; np++) {
            uint32_t b[4];
            ldmatrix_x4(b, k_s + swz<HD>(np * 16 + lane % 8 + (j >> 1) * 8, kk * 16 + (j & 1) * 8));
            MixcElem<T>::mma(s[2 * np], a, b, s[2 * np]);
            MixcElem<T>::mma(s[2 * np + 1], a, b + 2, s[2 * np + 1]);
        }
    }
}

/* O += P V for one key tile over the HDS dims from d0 (the warp's slice); P comes from the S
 * accumulators. */
template <class T, int HD, int HDS, int BN>
__device__ __forceinline__ void prefill_pv(float o[HDS / 8][4], const float s[BN / 8][4], const T *v_s,
                                           int d0, int lane) {
    const int j = lane / 8;
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
        uint32_t a[4];
        a[0] = MixcElem<T>::pack2(s[2 * kk][0], s[2 * kk][1]);
        a[1] = MixcElem<T>::pack2(s[2 * kk][2], s[2 * kk][3]);
        a[2] = MixcElem<T>::pack2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        a[3] = MixcElem<T>::pack2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
        for (int dp = 0; dp < HDS / 16; dp++) {
            uint32_t b[4];
            ldmatrix_x4_trans(b, v_s + swz<HD>(kk * 16 + lane % 8 + (j & 1) * 8, d0 + dp * 16 + (j >> 1) * 8));
            MixcElem<T>::mma(o[2 * dp], a, b, o[2 * dp]);
            MixcElem<T>::mma(o[2 * dp + 1], a, b + 2, o[2 * dp + 1]);
        }
    }
}

/* Online softmax over one tile for this thread's two rows (r = 0: row lane/4, r = 1: +8):
 * masks, updates m and l, rescales O (the warp's HDS dims), and turns s into probabilities. */
template <int HDS, int BN, long long WINDOW, long long CHUNK>
__device__ __forceinline__ void prefill_softmax(float s[BN / 8][4], float o[HDS / 8][4], float m[2],
                                                float l[2], bool need_mask, long long qpos0,
                                                long long kpos0, float scale_log2, float softcap, int lane) {
#pragma unroll
    for (int nb = 0; nb < BN / 8; nb++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float v = mixc_score_log2(s[nb][i], scale_log2, softcap);
            if (need_mask) {
                const long long qp = qpos0 + lane / 4 + (i >= 2 ? 8 : 0);
                const long long kp = kpos0 + nb * 8 + (lane % 4) * 2 + (i & 1);
                if (kp > qp || kp < mixc_first_key(qp, WINDOW, CHUNK)) v = -INFINITY;
            }
            s[nb][i] = v;
        }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float mt = -INFINITY;
#pragma unroll
        for (int nb = 0; nb < BN / 8; nb++) mt = fmaxf(mt, fmaxf(s[nb][2 * r], s[nb][2 * r + 1]));
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 2));
        const float m_new = fmaxf(m[r], mt);
        /* m_new = -inf while every key so far is masked for this row: p = 0, alpha = 1. */
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;
        const float alpha = exp2f(m[r] - m_use);
        float sum = 0.0f;
#pragma unroll
        for (int nb = 0; nb < BN / 8; nb++) {
            s[nb][2 * r] = exp2f(s[nb][2 * r] - m_use);
            s[nb][2 * r + 1] = exp2f(s[nb][2 * r + 1] - m_use);
            sum += s[nb][2 * r] + s[nb][2 * r + 1];
        }
        l[r] = l[r] * alpha + sum;   /* this thread's columns only; summed over the quad at the end */
        m[r] = m_new;
#pragma unroll
        for (int db = 0; db < HDS / 8; db++) {
            o[db][2 * r] *= alpha;
            o[db][2 * r + 1] *= alpha;
        }
    }
}

/* KV: the cache's element type (kv8.cuh): T, or MixcInt8Kv / MixcE4m3Kv for an 8-bit cache; PAGE: a
 * paged cache's rows per page (0: unpaged). */
template <class T, int HD, int G, int KV_HEADS, long long WINDOW, long long CAP, class KV = T, long long CHUNK = 0,
          long long PAGE = 0>
__device__ __forceinline__ void attn_prefill_kernel(const PrefillParams &p, float softcap = 0.0f) {
    typedef MixcKvCache<KV, HD, KV_HEADS, CAP, PAGE> Cache;
    constexpr int BN = PREFILL_BN(HD);
    constexpr int HEADS = KV_HEADS * G;
    constexpr int HDS = HD / PREFILL_SLICES(HD);   /* the dims of O one warp keeps */
    static_assert(HD % 64 == 0 && HD <= PREFILL_MAX_HD && HDS % 16 == 0, "prefill: head_dim out of range");
    MIXC_DYNAMIC_SMEM(T, mixc_prefill_smem);   /* a distinct name: extern arrays alias */
    T *q_s = mixc_prefill_smem, *kv_s = q_s + PREFILL_BM * HD;   /* Q | K0 V0 | K1 V1 */

    const int h = blockIdx.y, tile = blockIdx.z * gridDim.x + blockIdx.x;
    if (tile >= p.ntiles) return;   /* the whole block leaves together, before any barrier */
    const int b = p.tiles[2 * tile], m0 = p.tiles[2 * tile + 1];
    const int qlen = p.q_len[b];
    const int kvh = h / G, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    /* the warp's 16 rows (warp % 4) and its slice's first dim */
    const int rw = PREFILL_SLICES(HD) == 1 ? warp : warp % 4, d0 = PREFILL_SLICES(HD) == 1 ? 0 : warp / 4 * HDS;
    const long long qlo = (long long)p.pos0[b] + m0;                     /* first query position */
    const long long qhi = (long long)p.pos0[b] + min(m0 + PREFILL_BM, qlen) - 1;
    const long long kmin = mixc_first_key(qlo, WINDOW, CHUNK);   /* the first row's first key */

    const T *q = static_cast<const T *>(p.q) + ((size_t)(p.q_start[b] + m0) * HEADS + h) * HD;
    prefill_load<T, HD, PREFILL_BM>(q_s, [&](int r) -> const T * {
        return m0 + r < qlen ? q + (size_t)r * HEADS * HD : nullptr;
    });
    unsigned char *k_seq = Cache::seq(p.k_cache, p.slot[b]), *v_seq = Cache::seq(p.v_cache, p.slot[b]);
    const int *table = Cache::table(p.paged, p.slot[b]);   /* paged: the part's block table */
    const long long rows = Cache::rows(p.paged);

    float o[HDS / 8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int db = 0; db < HDS / 8; db++)
#pragma unroll
        for (int i = 0; i < 4; i++) o[db][i] = 0.0f;
    const float scale_log2 = p.scale * MIXC_LOG2E;

    /* Issues the copies of the key tile starting at n0 into stage `stage` (one cp.async group). */
    auto issue = [&](long long n0, int stage) {
        T *k_dst = kv_s + stage * 2 * BN * HD;
        prefill_load_kv<T, KV, HD, KV_HEADS, CAP, BN, PAGE>(k_dst, k_dst + BN * HD, k_seq, v_seq, table, rows, kvh, n0,
                                                            kmin, qhi);
        cp_async_commit();
    };
    /* Double buffering: tile i + 1 is copied while tile i is computed. The only wait is "all
     * groups", so tile i + 1 is issued right after the wait for tile i. */
    const long long n_first = kmin / BN * BN;
    issue(n_first, 0);   /* the same group as Q's copies */
    int stage = 0;
    for (long long n0 = n_first; n0 <= qhi; n0 += BN, stage ^= 1) {
        cp_async_wait_all();
        __syncthreads();   /* tile n0 visible to all; everyone is done with the other stage */
        if (n0 + BN <= qhi) issue(n0 + BN, stage ^ 1);
        const T *k_s = kv_s + stage * 2 * BN * HD, *v_s = k_s + BN * HD;
        float s[BN / 8][4];
        prefill_scores<T, HD, BN>(s, q_s, k_s, rw, lane);
        /* Element masks only where the tile crosses the diagonal or the last row's first key. */
        const bool need_mask = n0 + BN - 1 > qlo || n0 < mixc_first_key(qhi, WINDOW, CHUNK);
        prefill_softmax<HDS, BN, WINDOW, CHUNK>(s, o, m, l, need_mask, qlo + rw * 16, n0, scale_log2, softcap, lane);
        prefill_pv<T, HD, HDS, BN>(o, s, v_s, d0, lane);
    }

    T *out = static_cast<T *>(p.out) + ((size_t)(p.q_start[b] + m0) * HEADS + h) * HD;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float lsum = l[r];
        lsum += __shfl_xor_sync(0xffffffffu, lsum, 1);
        lsum += __shfl_xor_sync(0xffffffffu, lsum, 2);
        if (p.sinks)   /* the head's sink logit joins the denominator: 2^(sink - m) in log2 units */
            lsum += exp2f(mixc_to_float(static_cast<const T *>(p.sinks)[h]) * MIXC_LOG2E - m[r]);
        const int row = rw * 16 + lane / 4 + r * 8;
        if (m0 + row >= qlen) continue;
        const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
        T *orow = out + (size_t)row * HEADS * HD + d0;
#pragma unroll
        for (int db = 0; db < HDS / 8; db++)
            *reinterpret_cast<uint32_t *>(orow + db * 8 + (lane % 4) * 2) =
                MixcElem<T>::pack2(o[db][2 * r] * inv, o[db][2 * r + 1] * inv);
    }
}

#endif /* MIXC_PREFILL_CUH */
