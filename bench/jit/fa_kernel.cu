// fa_kernel.cu — a representative kernel for the JIT benchmark (used until `mixc emit` exists):
// a FlashAttention-2-style forward pass, bf16, head_dim 128, 64x64 tiles, 4 warps, mma.sync
// m16n8k16 with ldmatrix, online softmax, sliding-window mask. Its size and instruction mix are what
// the benchmark needs; it is not used to compute anything.
#include <cuda_bf16.h>
typedef unsigned int uint32_t;   // NVRTC has no <stdint.h>

// NVRTC has no <math.h>: minus infinity from its bits.
#define NEG_INF (__int_as_float(0xff800000))

namespace bench {

constexpr int HEAD_DIM = 128;
constexpr int BLOCK_M = 64;
constexpr int BLOCK_N = 64;
constexpr int WARPS = 4;
constexpr int PAD = 8;   // bf16 elements of row padding against bank conflicts

__device__ __forceinline__ uint32_t smem_addr(const void *p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t (&r)[2], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(smem_addr(p)));
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

template <int ROWS>
__device__ __forceinline__ void load_tile(__nv_bfloat16 (*dst)[HEAD_DIM + PAD], const __nv_bfloat16 *src,
                                          int row0, int nrows, int stride) {
    // 16-byte vectors: HEAD_DIM / 8 per row.
    for (int i = threadIdx.x; i < ROWS * HEAD_DIM / 8; i += WARPS * 32) {
        int r = i / (HEAD_DIM / 8), c = (i % (HEAD_DIM / 8)) * 8;
        uint4 v = make_uint4(0, 0, 0, 0);
        if (row0 + r < nrows) v = *reinterpret_cast<const uint4 *>(src + (size_t)(row0 + r) * stride + c);
        *reinterpret_cast<uint4 *>(&dst[r][c]) = v;
    }
}

template <bool SLIDING>
__device__ void attention_tile(const __nv_bfloat16 *__restrict__ q, const __nv_bfloat16 *__restrict__ k,
                               const __nv_bfloat16 *__restrict__ v, __nv_bfloat16 *__restrict__ o,
                               int seq_len, int window, float scale) {
    // 52 KiB of tiles: over the 48 KiB a block may declare statically, so dynamic shared memory.
    extern __shared__ __align__(16) unsigned char smem_raw[];
    auto sq = reinterpret_cast<__nv_bfloat16 (*)[HEAD_DIM + PAD]>(smem_raw);
    auto sk = sq + BLOCK_M;
    auto sv = sk + BLOCK_N;

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int group = lane >> 2, tig = lane & 3;
    const int m0 = blockIdx.x * BLOCK_M;
    const int stride = HEAD_DIM * gridDim.y;
    q += blockIdx.y * HEAD_DIM;
    k += blockIdx.y * HEAD_DIM;
    v += blockIdx.y * HEAD_DIM;
    o += blockIdx.y * HEAD_DIM;

    load_tile<BLOCK_M>(sq, q, m0, seq_len, stride);
    __syncthreads();

    uint32_t qa[HEAD_DIM / 16][4];
#pragma unroll
    for (int kk = 0; kk < HEAD_DIM / 16; kk++)
        ldmatrix_x4(qa[kk], &sq[warp * 16 + (lane % 16)][kk * 16 + (lane / 16) * 8]);

    float acc[HEAD_DIM / 8][4];
#pragma unroll
    for (int j = 0; j < HEAD_DIM / 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    float row_max[2] = {NEG_INF, NEG_INF}, row_sum[2] = {0.f, 0.f};

    int n_begin = 0;
    if (SLIDING) n_begin = max(0, (m0 - window + 1) / BLOCK_N * BLOCK_N);
    const int n_end = min(seq_len, m0 + BLOCK_M);
    for (int n0 = n_begin; n0 < n_end; n0 += BLOCK_N) {
        __syncthreads();
        load_tile<BLOCK_N>(sk, k, n0, seq_len, stride);
        load_tile<BLOCK_N>(sv, v, n0, seq_len, stride);
        __syncthreads();

        float s[BLOCK_N / 8][4];
#pragma unroll
        for (int j = 0; j < BLOCK_N / 8; j++) {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < HEAD_DIM / 16; kk++) {
                uint32_t kb[2];
                ldmatrix_x2(kb, &sk[j * 8 + (lane % 8)][kk * 16 + ((lane / 8) % 2) * 8]);
                mma_bf16(s[j], qa[kk], kb);
            }
        }
        // Mask (causal + window) and online softmax over this tile.
        float tile_max[2] = {NEG_INF, NEG_INF};
#pragma unroll
        for (int j = 0; j < BLOCK_N / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int row = m0 + warp * 16 + group + (e >= 2 ? 8 : 0);
                int col = n0 + j * 8 + tig * 2 + (e & 1);
                bool visible = col <= row && col < seq_len && (!SLIDING || row - col < window);
                s[j][e] = visible ? s[j][e] * scale : NEG_INF;
                tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[j][e]);
            }
#pragma unroll
        for (int h = 0; h < 2; h++) {
            tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffff, tile_max[h], 1));
            tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(0xffffffff, tile_max[h], 2));
            float new_max = fmaxf(row_max[h], tile_max[h]);
            float correction = new_max == NEG_INF ? 1.f : __expf(row_max[h] - new_max);
            row_max[h] = new_max;
            row_sum[h] *= correction;
#pragma unroll
            for (int j = 0; j < HEAD_DIM / 8; j++) acc[j][2 * h] *= correction, acc[j][2 * h + 1] *= correction;
        }
        uint32_t pa[BLOCK_N / 16][4];
#pragma unroll
        for (int j = 0; j < BLOCK_N / 8; j++) {
            float p[4];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float m = row_max[e >> 1];
                p[e] = m == NEG_INF ? 0.f : __expf(s[j][e] - m);
                row_sum[e >> 1] += p[e];
            }
            pa[j / 2][(j % 2) * 2 + 0] = pack_bf16(p[0], p[1]);
            pa[j / 2][(j % 2) * 2 + 1] = pack_bf16(p[2], p[3]);
        }
#pragma unroll
        for (int kk = 0; kk < BLOCK_N / 16; kk++)
#pragma unroll
            for (int j = 0; j < HEAD_DIM / 8; j++) {
                uint32_t vb[2];
                ldmatrix_x2_trans(vb, &sv[kk * 16 + (lane % 16)][j * 8]);
                mma_bf16(acc[j], pa[kk], vb);
            }
    }
#pragma unroll
    for (int h = 0; h < 2; h++) {
        row_sum[h] += __shfl_xor_sync(0xffffffff, row_sum[h], 1);
        row_sum[h] += __shfl_xor_sync(0xffffffff, row_sum[h], 2);
    }
#pragma unroll
    for (int j = 0; j < HEAD_DIM / 8; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int row = m0 + warp * 16 + group + h * 8;
            if (row >= seq_len) continue;
            float inv = row_sum[h] > 0.f ? 1.f / row_sum[h] : 0.f;
            *reinterpret_cast<__nv_bfloat162 *>(o + (size_t)row * stride + j * 8 + tig * 2) =
                __floats2bfloat162_rn(acc[j][2 * h] * inv, acc[j][2 * h + 1] * inv);
        }
}

}  // namespace bench

extern "C" __global__ void __launch_bounds__(bench::WARPS * 32)
attn_global_fwd(const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, __nv_bfloat16 *o,
                int seq_len, float scale) {
    bench::attention_tile<false>(q, k, v, o, seq_len, 0, scale);
}

extern "C" __global__ void __launch_bounds__(bench::WARPS * 32)
attn_window_fwd(const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, __nv_bfloat16 *o,
                int seq_len, int window, float scale) {
    bench::attention_tile<true>(q, k, v, o, seq_len, window, scale);
}
