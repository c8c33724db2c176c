/* mixc_arch.cuh — the architecture layer every kernel template includes first.
 *
 * On the GPU (NVRTC or nvcc) it defines the tensor-core, ldmatrix and cp.async wrappers with inline
 * PTX. Under MIXC_EMU the emulator header (runtime/emu/mixc_emu.h, force-included) provides the
 * same functions with identical signatures, so the kernel source is the same text in both builds.
 * Also: element-type helpers shared by the templates (bf16/fp16 <-> float).
 */
#ifndef MIXC_ARCH_CUH
#define MIXC_ARCH_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#if defined(__CUDACC_RTC__)
/* NVRTC has no <stdint.h>; these are the widths on every CUDA target. */
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
typedef long long int64_t;
#elif !defined(MIXC_EMU)
#include <stdint.h>
#endif

#ifndef MIXC_EMU

#define MIXC_DYNAMIC_SMEM(type, name) extern __shared__ __align__(16) type name[]
#define MIXC_EMU_ENTRY(NAME, PARAMS)

/* D = A*B + C on one m16n8k16 tile, f32 accumulators; TYPE is the PTX name of the inputs' type. */
#define MIXC_MMA_16816(NAME, TYPE)                                                                  \
    __device__ __forceinline__ void NAME(float d[4], const uint32_t a[4], const uint32_t b[2],       \
                                         const float c[4]) {                                        \
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." TYPE "." TYPE ".f32 "                \
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"                 \
                     : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])                               \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),            \
                       "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));                                 \
    }
MIXC_MMA_16816(mma_bf16_16816, "bf16")
MIXC_MMA_16816(mma_fp16_16816, "f16")
#undef MIXC_MMA_16816

__device__ __forceinline__ uint32_t mixc_smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* ldmatrix_xN loads N 8x8 b16 matrices from shared memory, one row address per lane;
 * ldmatrix_xN_trans the same matrices transposed. REGS: the operand list; then the N outputs. */
#define MIXC_LDMATRIX(NAME, SHAPE, N, REGS, ...)                                                     \
    __device__ __forceinline__ void NAME(uint32_t r[N], const void *smem_row) {                      \
        asm volatile("ldmatrix.sync.aligned.m8n8." SHAPE ".shared.b16 " REGS ";\n"                  \
                     : __VA_ARGS__ : "r"(mixc_smem_addr(smem_row)));                                 \
    }
#define MIXC_LDMATRIX_PAIR(N, REGS, ...)                                                             \
    MIXC_LDMATRIX(ldmatrix_x##N, "x" #N, N, REGS, __VA_ARGS__)                                       \
    MIXC_LDMATRIX(ldmatrix_x##N##_trans, "x" #N ".trans", N, REGS, __VA_ARGS__)
MIXC_LDMATRIX_PAIR(1, "{%0}, [%1]", "=r"(r[0]))
MIXC_LDMATRIX_PAIR(2, "{%0,%1}, [%2]", "=r"(r[0]), "=r"(r[1]))
MIXC_LDMATRIX_PAIR(4, "{%0,%1,%2,%3}, [%4]", "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]))
#undef MIXC_LDMATRIX_PAIR
#undef MIXC_LDMATRIX

__device__ __forceinline__ void cp_async_16(void *smem_dst, const void *gmem_src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n"
                 :: "r"(mixc_smem_addr(smem_dst)), "l"(gmem_src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
/* Waits until at most N of this thread's committed groups are still in flight. */
template <int N> __device__ __forceinline__ void cp_async_wait_group() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() { cp_async_wait_group<0>(); }

#endif /* !MIXC_EMU */

/* ---------------------------------------------------------------- element types */

__device__ __forceinline__ float mixc_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float mixc_to_float(__half x) { return __half2float(x); }

template <class T> struct MixcElem;
template <> struct MixcElem<__nv_bfloat16> {
    static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16(x); }
    /* Two floats into one b32: the lower-numbered element in the low half (the mma fragment rule). */
    static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
        union { __nv_bfloat162 v; uint32_t u; } bits;   /* no aliasing of a cast pointer */
        bits.v = __floats2bfloat162_rn(lo, hi);
        return bits.u;
    }
    static __device__ __forceinline__ void mma(float d[4], const uint32_t a[4], const uint32_t b[2],
                                               const float c[4]) {
        mma_bf16_16816(d, a, b, c);
    }
};
template <> struct MixcElem<__half> {
    static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
    static __device__ __forceinline__ uint32_t pack2(float lo, float hi) {
        union { __half2 v; uint32_t u; } bits;
        bits.v = __floats2half2_rn(lo, hi);
        return bits.u;
    }
    static __device__ __forceinline__ void mma(float d[4], const uint32_t a[4], const uint32_t b[2],
                                               const float c[4]) {
        mma_fp16_16816(d, a, b, c);
    }
};

/* 8 elements (16 bytes) to floats and back: the unit of every vector load and store. */
template <class T> __device__ __forceinline__ void mixc_load8(float out[8], const T *src) {
    uint4 raw = *reinterpret_cast<const uint4 *>(src);
    const T *e = reinterpret_cast<const T *>(&raw);
#pragma unroll
    for (int i = 0; i < 8; i++) out[i] = mixc_to_float(e[i]);
}
template <class T> __device__ __forceinline__ void mixc_store8(T *dst, const float in[8]) {
    uint4 raw;
    T *e = reinterpret_cast<T *>(&raw);
#pragma unroll
    for (int i = 0; i < 8; i++) e[i] = MixcElem<T>::from_float(in[i]);
    *reinterpret_cast<uint4 *>(dst) = raw;
}

#define MIXC_LOG2E 1.4426950408889634f
#ifndef INFINITY   /* NVRTC has no <math.h> */
#define INFINITY __int_as_float(0x7f800000)
#endif

/* An attention score q.k in the softmax's log2 units: times scale (scale_log2 = scale * log2(e)), or
 * with attn_softcap c > 0 (a constant the generator bakes in) c * tanh(q.k * scale / c) first. */
__device__ __forceinline__ float mixc_score_log2(float dot, float scale_log2, float softcap) {
    if (softcap > 0.0f) return softcap * tanhf(dot * (scale_log2 / MIXC_LOG2E) / softcap) * MIXC_LOG2E;
    return dot * scale_log2;
}

#endif /* MIXC_ARCH_CUH */
