/* mixc_emu.h — compile CUDA device code as host C++17 and run it on the CPU.
 *
 * Use: g++ -std=c++17 -DMIXC_EMU -include runtime/emu/mixc_emu.h -I/usr/local/cuda/include ...
 * and link with libmixcemu.a (see docs/emulator.md). Every CUDA thread of a block is a fiber with
 * its own stack; blocks run one after another; __syncthreads is a real barrier; warp collectives
 * (shuffles, votes, mma.sync, ldmatrix) are rendezvous of the lanes of one warp.
 *
 * The CUDA headers are included first, on purpose: their host definitions of __host__, __device__,
 * __align__, dim3, bf16/fp16... are the ones in force, and their include guards make a later
 * #include <cuda_bf16.h> (e.g. from templates/mixc_arch.cuh) a no-op. Only what the host
 * definitions leave wrong is redefined here (__shared__ must be `static` so the threads of a block
 * share one instance).
 *
 * Call sites of barriers and collectives are recorded with __builtin_FILE/__builtin_LINE default
 * arguments, so error messages name file:line without any macro wrapping the CUDA names.
 */
#ifndef MIXC_EMU_H
#define MIXC_EMU_H

#ifndef __cplusplus
#error "mixc_emu.h compiles CUDA device code as C++: use a C++17 compiler"
#endif

/* cuda_runtime.h too: it uses threadIdx/gridDim/warpSize as plain identifiers, which must be
 * parsed before the macros below take those names over (a later #include is then a no-op). */
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <vector_types.h>
#include <device_launch_parameters.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu_api.h"

#ifndef MIXC_EMU
#define MIXC_EMU 1
#endif

/* 1 in code compiled with -fsanitize=thread (g++ or clang++): the race check's annotations. */
#if defined(__SANITIZE_THREAD__)
#define MIXC_EMU_TSAN_CODE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MIXC_EMU_TSAN_CODE 1
#endif
#endif
#ifndef MIXC_EMU_TSAN_CODE
#define MIXC_EMU_TSAN_CODE 0
#endif

/* ------------------------------------------------------------------ qualifiers */
#undef __shared__
#define __shared__ static /* one instance shared by all fibers; blocks run one at a time */
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __constant__
#define __constant__
#undef __grid_constant__
#define __grid_constant__
#ifndef __forceinline__
#define __forceinline__ inline __attribute__((always_inline))
#endif
#ifndef __align__
#define __align__(n) __attribute__((aligned(n)))
#endif
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
/* __restrict__ is a GNU C++ keyword already. __noinline__ is deliberately not defined: libstdc++
 * uses __attribute__((__noinline__)). */

/* ------------------------------------------------------------------ per-fiber state */
namespace mixc_emu {

/* Field names differ from the CUDA names, which are macros below. */
struct ThreadView {
    uint3 tid;
    unsigned linear; /* x + y*bx + z*bx*by */
    unsigned lane, warp;
};
struct BlockView { /* plain data: __thread allows no constructor (dim3 has one) */
    uint3 bid, bdim, gdim;
    void *dynamic_smem;
    size_t dynamic_smem_bytes;
};

} // namespace mixc_emu

/* __thread (not thread_local): plain TLS access, no init-wrapper call on every use. */
extern __thread mixc_emu::ThreadView *mixc_emu_tv;
extern __thread mixc_emu::BlockView mixc_emu_bv;

#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim
#undef warpSize
#define threadIdx (mixc_emu_tv->tid)
#define blockIdx (mixc_emu_bv.bid)
#define blockDim (mixc_emu_bv.bdim)
#define gridDim (mixc_emu_bv.gdim)
#define warpSize 32

/* Dynamic shared memory: a pointer to the block's buffer (16-byte aligned, filled with 0xFF bytes
 * before every block so that reading it unwritten gives NaNs). Use it at function scope. */
#define MIXC_DYNAMIC_SMEM(type, name) type *const name = static_cast<type *>(mixc_emu_bv.dynamic_smem)

#define MIXC_EMU_ENTRY(NAME, PARAMS)                                                                \
    extern "C" __attribute__((visibility("default"))) void NAME##_emu_entry(const void *params) {  \
        NAME(*static_cast<const PARAMS *>(params));                                                 \
    }

/* ------------------------------------------------------------------ launcher (C++ face) */
int mixc_emu_launch(void (*entry)(const void *), const void *params, dim3 grid, dim3 block,
                    size_t dynamic_smem_bytes, char *err, size_t errlen);

/* ------------------------------------------------------------------ collectives (library) */
namespace mixc_emu {

enum ShflMode { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR };
enum VoteMode { VOTE_BALLOT, VOTE_ANY, VOTE_ALL };

void syncthreads(const char *file, int line);
void syncwarp(unsigned mask, const char *file, int line);
uint64_t shfl(unsigned mask, uint64_t bits, ShflMode mode, int arg, int width, const char *name,
              const char *file, int line);
unsigned vote(unsigned mask, int pred, VoteMode mode, const char *file, int line);
void mma_16816(bool bf16, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
               const char *file, int line);
void ldmatrix(int nmat, bool trans, uint32_t *r, const void *row, const char *file, int line);
void cp_async_16(void *dst, const void *src, const char *file, int line);
void cp_async_commit();
void cp_async_wait_group(unsigned pending);
/* The byte a cp.async destination holds from the copy's issue until its wait. */
#define MIXC_EMU_ASYNC_POISON 0xff
/* Aborts the launch with a located message (used for misuse detected in the header). */
[[noreturn]] void kernel_error(const char *file, int line, const char *what);

template <class T> inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                  "warp shuffles move values of at most 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof v);
    return bits;
}
template <class T> inline T from_bits(uint64_t bits) {
    T v;
    std::memcpy(static_cast<void *>(&v), &bits, sizeof v); /* T may be a class (bf16) */
    return v;
}

} // namespace mixc_emu

/* ------------------------------------------------------------------ barriers and warp intrinsics */
inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    mixc_emu::syncthreads(file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char *file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
    mixc_emu::syncwarp(mask, file, line);
}
inline void __threadfence() {}
inline void __threadfence_block() {}

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
                     const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return mixc_emu::from_bits<T>(mixc_emu::shfl(mask, mixc_emu::to_bits(var), mixc_emu::SHFL_IDX,
                                                 src_lane, width, "__shfl_sync", file, line));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                        const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return mixc_emu::from_bits<T>(mixc_emu::shfl(mask, mixc_emu::to_bits(var), mixc_emu::SHFL_UP,
                                                 (int)delta, width, "__shfl_up_sync", file, line));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                          const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return mixc_emu::from_bits<T>(mixc_emu::shfl(mask, mixc_emu::to_bits(var),
                                                 mixc_emu::SHFL_DOWN, (int)delta, width,
                                                 "__shfl_down_sync", file, line));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                         const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return mixc_emu::from_bits<T>(mixc_emu::shfl(mask, mixc_emu::to_bits(var), mixc_emu::SHFL_XOR,
                                                 lane_mask, width, "__shfl_xor_sync", file, line));
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
    return mixc_emu::vote(mask, pred, mixc_emu::VOTE_BALLOT, file, line);
}
inline int __any_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
    return (int)mixc_emu::vote(mask, pred, mixc_emu::VOTE_ANY, file, line);
}
inline int __all_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
    return (int)mixc_emu::vote(mask, pred, mixc_emu::VOTE_ALL, file, line);
}
inline unsigned __activemask() { return 0xffffffffu; /* fibers of a warp are converged here */ }

/* ------------------------------------------------------------------ tensor cores, data movement */
#if MIXC_EMU_TSAN_CODE
/* Race check: the memory that ldmatrix and cp.async touch is accessed by the (uninstrumented)
 * emulator; it is announced here, in the kernel's code, so that reports point at the kernel line
 * (ThreadSanitizer takes the location from its caller). Misaligned addresses are left to the
 * emulator, which fails the launch. */
extern "C" void __tsan_read_range(void *addr, unsigned long size);
extern "C" void __tsan_write_range(void *addr, unsigned long size);
#define MIXC_EMU_TSAN_ACCESS(fn, addr) \
    (((uintptr_t)(addr) && (uintptr_t)(addr) % 16 == 0) ? fn((void *)(uintptr_t)(addr), 16) : (void)0)
/* Only the lanes that supply a row; outside a launch the emulator reports the misuse. */
#define MIXC_EMU_TSAN_LDMATRIX_ROW(N, row) \
    ((mixc_emu_tv && mixc_emu_tv->lane < 8u * (N)) ? MIXC_EMU_TSAN_ACCESS(__tsan_read_range, row) : (void)0)
#else
#define MIXC_EMU_TSAN_ACCESS(fn, addr) ((void)0)
#define MIXC_EMU_TSAN_LDMATRIX_ROW(N, row) ((void)0)
#endif
inline void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                           const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    mixc_emu::mma_16816(true, d, a, b, c, file, line);
}
inline void mma_fp16_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                           const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    mixc_emu::mma_16816(false, d, a, b, c, file, line);
}
#define MIXC_EMU_LDMATRIX(NAME, N, TRANS)                                                          \
    inline void NAME(uint32_t r[N], const void *smem_row, const char *file = __builtin_FILE(),     \
                     int line = __builtin_LINE()) {                                                \
        MIXC_EMU_TSAN_LDMATRIX_ROW(N, smem_row);                                                   \
        mixc_emu::ldmatrix(N, TRANS, r, smem_row, file, line);                                     \
    }
MIXC_EMU_LDMATRIX(ldmatrix_x1, 1, false)
MIXC_EMU_LDMATRIX(ldmatrix_x2, 2, false)
MIXC_EMU_LDMATRIX(ldmatrix_x4, 4, false)
MIXC_EMU_LDMATRIX(ldmatrix_x1_trans, 1, true)
MIXC_EMU_LDMATRIX(ldmatrix_x2_trans, 2, true)
MIXC_EMU_LDMATRIX(ldmatrix_x4_trans, 4, true)
#undef MIXC_EMU_LDMATRIX

/* cp.async.cg 16 bytes (both addresses 16-byte aligned, as on GPU): deferred to the wait that covers
 * its group, its destination poisoned until then (emu.cpp, cp_async_16). */
inline void cp_async_16(void *smem_dst, const void *gmem_src, const char *file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
    MIXC_EMU_TSAN_ACCESS(__tsan_read_range, gmem_src);
    MIXC_EMU_TSAN_ACCESS(__tsan_write_range, smem_dst);
    mixc_emu::cp_async_16(smem_dst, gmem_src, file, line);
}
/* Counted once per block (thread 0's) in MixcEmuStats.async_groups: a kernel's tiles, for tests. */
inline void cp_async_commit() { mixc_emu::cp_async_commit(); }
template <int N> inline void cp_async_wait_group() { mixc_emu::cp_async_wait_group(N); }
inline void cp_async_wait_all() { cp_async_wait_group<0>(); }

/* ------------------------------------------------------------------ atomics
 * Fibers switch only at barriers and collectives, so a plain read-modify-write is atomic. Under
 * the race check (kernels compiled with -fsanitize=thread) it is a relaxed atomic instead, so that
 * ThreadSanitizer, like CUDA, sees no race between atomics and no ordering from them. */
#if MIXC_EMU_TSAN_CODE
#define MIXC_EMU_ATOMIC(NAME, T, EXPR)                                                             \
    inline T NAME(T *addr, T val) {                                                                \
        T old, next;                                                                               \
        __atomic_load(addr, &old, __ATOMIC_RELAXED);                                               \
        do next = (EXPR);                                                                          \
        while (!__atomic_compare_exchange(addr, &old, &next, false, __ATOMIC_RELAXED,              \
                                          __ATOMIC_RELAXED));                                      \
        return old;                                                                                \
    }
#else
#define MIXC_EMU_ATOMIC(NAME, T, EXPR)                                                             \
    inline T NAME(T *addr, T val) {                                                                \
        T old = *addr;                                                                             \
        *addr = (EXPR);                                                                            \
        return old;                                                                                \
    }
#endif
MIXC_EMU_ATOMIC(atomicAdd, int, old + val)
MIXC_EMU_ATOMIC(atomicAdd, unsigned, old + val)
MIXC_EMU_ATOMIC(atomicAdd, unsigned long long, old + val)
MIXC_EMU_ATOMIC(atomicAdd, float, old + val)
MIXC_EMU_ATOMIC(atomicAdd, double, old + val)
MIXC_EMU_ATOMIC(atomicSub, int, old - val)
MIXC_EMU_ATOMIC(atomicSub, unsigned, old - val)
MIXC_EMU_ATOMIC(atomicMax, int, old > val ? old : val)
MIXC_EMU_ATOMIC(atomicMax, unsigned, old > val ? old : val)
MIXC_EMU_ATOMIC(atomicMax, unsigned long long, old > val ? old : val)
MIXC_EMU_ATOMIC(atomicMin, int, old < val ? old : val)
MIXC_EMU_ATOMIC(atomicMin, unsigned, old < val ? old : val)
MIXC_EMU_ATOMIC(atomicMin, unsigned long long, old < val ? old : val)
MIXC_EMU_ATOMIC(atomicExch, int, val)
MIXC_EMU_ATOMIC(atomicExch, unsigned, val)
MIXC_EMU_ATOMIC(atomicExch, unsigned long long, val)
MIXC_EMU_ATOMIC(atomicExch, float, val)
MIXC_EMU_ATOMIC(atomicAnd, int, old & val)
MIXC_EMU_ATOMIC(atomicAnd, unsigned, old & val)
MIXC_EMU_ATOMIC(atomicOr, int, old | val)
MIXC_EMU_ATOMIC(atomicOr, unsigned, old | val)
MIXC_EMU_ATOMIC(atomicXor, int, old ^ val)
MIXC_EMU_ATOMIC(atomicXor, unsigned, old ^ val)
#undef MIXC_EMU_ATOMIC
#if MIXC_EMU_TSAN_CODE
#define MIXC_EMU_ATOMIC_CAS(T)                                                                     \
    inline T atomicCAS(T *addr, T compare, T val) {                                                \
        __atomic_compare_exchange_n(addr, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED); \
        return compare; /* the old value either way */                                             \
    }
#else
#define MIXC_EMU_ATOMIC_CAS(T)                                                                     \
    inline T atomicCAS(T *addr, T compare, T val) {                                                \
        T old = *addr;                                                                             \
        if (old == compare) *addr = val;                                                           \
        return old;                                                                                \
    }
#endif
MIXC_EMU_ATOMIC_CAS(int)
MIXC_EMU_ATOMIC_CAS(unsigned)
MIXC_EMU_ATOMIC_CAS(unsigned long long)
#undef MIXC_EMU_ATOMIC_CAS

/* ------------------------------------------------------------------ math intrinsics
 * Computed at full precision: the GPU's fast approximations are within their documented error of
 * these, so a kernel's tolerance must cover that difference anyway. */
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float *s, float *c) { *s = std::sin(x); *c = std::cos(x); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x != x ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
inline int __float_as_int(float x) { return mixc_emu::from_bits<int>(mixc_emu::to_bits(x)); }
inline float __int_as_float(int x) { return mixc_emu::from_bits<float>(mixc_emu::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return mixc_emu::from_bits<unsigned>(mixc_emu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return mixc_emu::from_bits<float>(mixc_emu::to_bits(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
/* Bytes of y:x (x bytes 0-3, y bytes 4-7) picked by the low 3 bits of each nibble of s (PTX prmt's
 * default mode, as CUDA's __byte_perm documents it). */
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    const uint64_t both = ((uint64_t)y << 32) | x;
    unsigned r = 0;
    for (int k = 0; k < 4; k++) r |= (unsigned)((both >> (8 * ((s >> (4 * k)) & 7u))) & 0xffu) << (8 * k);
    return r;
}
inline int __mul24(int a, int b) { return a * b; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
/* CUDA's global min/max overloads for device code, mixed signedness included (std:: ones are
 * templates, no clash). */
#define MIXC_EMU_MINMAX(R, A, B)                                                                   \
    inline R min(A a, B b) { return (R)a < (R)b ? (R)a : (R)b; }                                   \
    inline R max(A a, B b) { return (R)a > (R)b ? (R)a : (R)b; }
MIXC_EMU_MINMAX(int, int, int)
MIXC_EMU_MINMAX(unsigned, unsigned, unsigned)
MIXC_EMU_MINMAX(unsigned, int, unsigned)
MIXC_EMU_MINMAX(unsigned, unsigned, int)
MIXC_EMU_MINMAX(long, long, long)
MIXC_EMU_MINMAX(unsigned long, unsigned long, unsigned long)
MIXC_EMU_MINMAX(long long, long long, long long)
MIXC_EMU_MINMAX(unsigned long long, unsigned long long, unsigned long long)
MIXC_EMU_MINMAX(unsigned long long, long long, unsigned long long)
MIXC_EMU_MINMAX(unsigned long long, unsigned long long, long long)
#undef MIXC_EMU_MINMAX
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(float a, double b) { return std::fmin((double)a, b); }
inline double max(float a, double b) { return std::fmax((double)a, b); }
inline double min(double a, float b) { return std::fmin(a, (double)b); }
inline double max(double a, float b) { return std::fmax(a, (double)b); }
template <class T> inline T __ldg(const T *p) { return *p; }
/* exp2f, fmaxf, fminf, sincosf, fabsf, sqrtf, expf, logf... come from <math.h> as on the host. */

#endif /* MIXC_EMU_H */
