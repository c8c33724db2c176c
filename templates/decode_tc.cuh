/* decode_tc.cuh — the tensor-core pieces of decode attention (decode.cuh, attn_decode_kernel with TC =
 * true), for query groups G >= DECODE_TC_MIN_GROUP over bf16/fp16 caches: codegen picks the variant and
 * names it (the kernel's name ends in _tc, before a paged cache's _pageP). Everything else (the
 * cp.async pipeline, paged rows, splits, windows and rings, the online softmax, the stores) is the
 * scalar kernel's.
 *
 * Per tile of DECODE_TILE = 32 keys and the block's G query heads (rows, padded to DECODE_TC_ROWS(G)
 * with zero rows; q as T in shared memory, DECODE_TC_QROW(HD) elements a row):
 * - S = Q K^T on mma.m16n8k16: warp w takes the 8 keys [8 w, 8 w + 8) (one n8 tile) for every m16
 *   tile of rows; A (Q) and B (K, the stage's padded rows) loaded with ldmatrix as prefill.cuh loads
 *   its Q and K tiles; the raw dot products go to p_s (fp32) for decode_softmax_head. p_s and alpha_s
 *   have DECODE_TC_ROWS(G) rows: a padding row's scores are 0 (its q is), its probabilities stay
 *   those zeros (no softmax runs for it) and its alpha 1 (decode_init), so no step tests for rows < G.
 * - O += P V on mma: warp w owns the dims [w HD / 4, (w + 1) HD / 4) of every row; A = P packed from
 *   p_s (fp32 probabilities, rounded to T: the fragment rule of MixcElem::pack2, as prefill's P),
 *   B = the stage's V rows through ldmatrix .trans (unpadded rows, the scalar path's layout: 8-way
 *   bank conflicts, not yet measured).
 * Accumulation in fp32 throughout; not bit-identical with the scalar kernel (P rounded to T, another
 * order of additions).
 */
#ifndef MIXC_DECODE_TC_CUH
#define MIXC_DECODE_TC_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"   /* DECODE_*, DECODE_TC_* */

/* The warp's dims of O and its accumulators: M m16 tiles of rows x NT n8 tiles of dims x 4. */
template <int G, int HD> struct DecodeTc {
    static constexpr int M = DECODE_TC_ROWS(G) / 16, NT = HD / 32, QROW = DECODE_TC_QROW(HD);
    static_assert(DECODE_TILE == 8 * (DECODE_THREADS / 32) && DECODE_TILE % 16 == 0,
                  "decode tc: one n8 tile of keys per warp, whole k16 steps of keys");
    static_assert(HD % 64 == 0, "decode tc: each warp's dims are whole pairs of n8 tiles");
};

/* The block's G query heads (q) as T into q_s, rows G to DECODE_TC_ROWS(G) zero: 16-byte copies. */
template <class T, int HD, int G> __device__ __forceinline__ void decode_tc_load_q(T *q_s, const T *q) {
    constexpr int VECS = HD / 8, QROW = DecodeTc<G, HD>::QROW;
    for (int i = threadIdx.x; i < DECODE_TC_ROWS(G) * VECS; i += DECODE_THREADS) {
        const int r = i / VECS, c = i % VECS;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (r < G) v = *reinterpret_cast<const uint4 *>(q + r * HD + c * 8);
        *reinterpret_cast<uint4 *>(q_s + r * QROW + c * 8) = v;
    }
}

/* The raw scores q.k of the tile: warp w's keys [8 w, 8 w + 8) against every row (the padding rows
 * too), into s_s[g * DECODE_TILE + key]. k_s: the stage's K rows (DECODE_KROW apart). One ldmatrix
 * x4 of K gives the B fragments of two k16 steps (32 dims). */
template <class T, int HD, int G>
__device__ __forceinline__ void decode_tc_scores(float *s_s, const T *q_s, const T *k_s) {
    typedef DecodeTc<G, HD> Tc;
    constexpr int KROW = DECODE_KROW(HD, (int)sizeof(T));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, j = lane / 8;
    float s[Tc::M][4];
#pragma unroll
    for (int mt = 0; mt < Tc::M; mt++)
#pragma unroll
        for (int i = 0; i < 4; i++) s[mt][i] = 0.0f;
#pragma unroll 2
    for (int d = 0; d < HD; d += 32) {
        uint32_t b[4];   /* dims d + 8 j of the warp's 8 keys: b[0..1] the first k16 step, b[2..3] the second */
        ldmatrix_x4(b, k_s + (warp * 8 + lane % 8) * KROW + d + j * 8);
#pragma unroll
        for (int mt = 0; mt < Tc::M; mt++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                uint32_t a[4];
                ldmatrix_x4(a, q_s + (mt * 16 + lane % 8 + (j & 1) * 8) * Tc::QROW + d + h * 16 + (j >> 1) * 8);
                MixcElem<T>::mma(s[mt], a, b + 2 * h, s[mt]);
            }
    }
#pragma unroll
    for (int mt = 0; mt < Tc::M; mt++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int g = mt * 16 + lane / 4 + (i >= 2 ? 8 : 0);
            s_s[g * DECODE_TILE + warp * 8 + (lane % 4) * 2 + (i & 1)] = s[mt][i];
        }
}

/* One A fragment element pair of P: row g's probabilities at keys c, c + 1. */
template <class T> __device__ __forceinline__ uint32_t decode_tc_p2(const float *p_s, int g, int c) {
    return MixcElem<T>::pack2(p_s[g * DECODE_TILE + c], p_s[g * DECODE_TILE + c + 1]);
}

/* O += P V over the tile for the warp's dims, each row first rescaled by its alpha. v_s: the stage's V
 * rows (HD apart). */
template <class T, int HD, int G>
__device__ __forceinline__ void decode_tc_pv(float (&o)[DecodeTc<G, HD>::M][DecodeTc<G, HD>::NT][4], const float *p_s,
                                             const float *alpha_s, const T *v_s) {
    typedef DecodeTc<G, HD> Tc;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, j = lane / 8, c = (lane % 4) * 2;
    const int d0 = warp * (HD / 4);
#pragma unroll
    for (int mt = 0; mt < Tc::M; mt++) {
        const int r0 = mt * 16 + lane / 4, r1 = r0 + 8;
        const float a0 = alpha_s[r0], a1 = alpha_s[r1];
#pragma unroll
        for (int nt = 0; nt < Tc::NT; nt++) {
            o[mt][nt][0] *= a0;
            o[mt][nt][1] *= a0;
            o[mt][nt][2] *= a1;
            o[mt][nt][3] *= a1;
        }
#pragma unroll
        for (int kk = 0; kk < DECODE_TILE; kk += 16) {
            const uint32_t a[4] = {decode_tc_p2<T>(p_s, r0, kk + c), decode_tc_p2<T>(p_s, r1, kk + c),
                                   decode_tc_p2<T>(p_s, r0, kk + c + 8), decode_tc_p2<T>(p_s, r1, kk + c + 8)};
#pragma unroll
            for (int dp = 0; dp < Tc::NT / 2; dp++) {
                uint32_t b[4];
                ldmatrix_x4_trans(b, v_s + (kk + lane % 8 + (j & 1) * 8) * HD + d0 + dp * 16 + (j >> 1) * 8);
                MixcElem<T>::mma(o[mt][2 * dp], a, b, o[mt][2 * dp]);
                MixcElem<T>::mma(o[mt][2 * dp + 1], a, b + 2, o[mt][2 * dp + 1]);
            }
        }
    }
}

/* The accumulators of rows < G into red[g * HD + dim] (fp32), for decode_store to take 8 dims at a time. */
template <int HD, int G>
__device__ __forceinline__ void decode_tc_stash(float *red, const float (&o)[DecodeTc<G, HD>::M][DecodeTc<G, HD>::NT][4]) {
    typedef DecodeTc<G, HD> Tc;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
    for (int mt = 0; mt < Tc::M; mt++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int g = mt * 16 + lane / 4 + r * 8;
            if (G % 16 != 0 && g >= G) continue;
#pragma unroll
            for (int nt = 0; nt < Tc::NT; nt++)
                *reinterpret_cast<float2 *>(red + g * HD + warp * (HD / 4) + nt * 8 + (lane % 4) * 2) =
                    make_float2(o[mt][nt][2 * r], o[mt][nt][2 * r + 1]);
        }
}

#endif /* MIXC_DECODE_TC_CUH */
