/* moe.cuh — a mixture of experts (docs/model.md): the router's bias, the route (each token's K of E
 * experts and their weights), the gathered expert GEMM (each (token, choice) row through its expert's
 * slice of a stacked weight) and the weighted combine. They compute what the cpu backend does
 * (runtime/cpu/cpu_backend.c, route_token, run_moe_gemm, run_moe_combine), in fp32; inputs and outputs
 * in the model dtype T, the router's logits and the route in fp32. A simple, correct kernel, not a
 * tuned one: no GPU was at hand to tune it.
 */
#ifndef MIXC_MOE_CUH
#define MIXC_MOE_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"

/* x[i] += bias[i % E] over n = tokens * E router logits (fp32 x, bias in T): moe_bias's router bias.
 * Grid: [ceil(n / MIXC_SMALL_THREADS)], block: MIXC_SMALL_THREADS. */

template <class T, int E> __device__ __forceinline__ void router_bias_add_kernel(const BiasAddParams &p) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.n) return;
    float *x = static_cast<float *>(p.x);
    x[i] += mixc_to_float(static_cast<const T *>(p.bias)[i % E]);
}

/* Each token's K experts and their weights by ROUTER (mixc_route_token, mixc_params.h: the cpu
 * backend's arithmetic). Grid: [ceil(tokens / MOE_ROUTE_THREADS)], block: MOE_ROUTE_THREADS, a token
 * per thread. */

template <int E, int K, int ROUTER> __device__ __forceinline__ void moe_route_kernel(const MoeRouteParams &p) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= p.tokens) return;
    mixc_route_token(p.logits + (size_t)t * E, p.route + (size_t)t * K * 2, E, K, ROUTER);
}

/* Lane l holds v[c], its partial sums of 32 columns; returns the warp's total of column l. Five
 * halving steps, each lane sending its partner the half the partner keeps: 16 + 8 + 4 + 2 + 1 = 31
 * shuffles for 32 sums, where a butterfly per sum takes 5 each (160). */
__device__ __forceinline__ float moe_reduce_scatter(float (&v)[32], int lane) {
#pragma unroll
    for (int half = 16; half > 0; half >>= 1) {
        const bool upper = lane & half;
#pragma unroll
        for (int j = 0; j < half; j++) {
            const float send = upper ? v[j] : v[j + half];
            const float keep = upper ? v[j + half] : v[j];
            v[j] = keep + __shfl_xor_sync(0xffffffffu, send, half);
        }
    }
    return v[0];
}

/* Row r of out = x's row (r / K for gate and up: the token's; r for down: the expert row's) times the
 * chosen expert's [OUT, IN] slice of the stacked weight, transposed, plus its bias slice (when given),
 * times the route's weight when SCALE (sigmoid_input's gate and up). fp32 sums, rounded once. An
 * expert index outside [0, E) gives a zero row, never a wild read.
 * Grid: [tokens * K, ceil(OUT / MOE_GEMM_COLS)], block: MOE_GEMM_THREADS; each warp 32 output
 * columns at a time, its lanes over IN (each input element read once for the 32), the 32 sums then
 * reduced and scattered over the lanes (moe_reduce_scatter). */

template <class T, int IN, int OUT, int E, int K, bool DOWN, bool SCALE>
__device__ __forceinline__ void moe_gemm_kernel(const MoeGemmParams &p) {
    const long long r = blockIdx.x;
    if (r >= (long long)p.tokens * K) return;
    const int e = (int)p.route[2 * r];
    const bool ok = e >= 0 && e < E;
    const float weight = SCALE ? p.route[2 * r + 1] : 1.0f;
    const T *x = static_cast<const T *>(p.x) + (size_t)(DOWN ? r : r / K) * IN;
    const T *w = static_cast<const T *>(p.weight) + (size_t)(ok ? e : 0) * OUT * IN;
    const T *bias = p.bias ? static_cast<const T *>(p.bias) + (size_t)(ok ? e : 0) * OUT : nullptr;
    T *out = static_cast<T *>(p.out) + (size_t)r * OUT;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    const int first = blockIdx.y * MOE_GEMM_COLS;
    const int end = first + MOE_GEMM_COLS < OUT ? first + MOE_GEMM_COLS : OUT;
    for (int o0 = first + 32 * warp; o0 < end; o0 += 32 * nwarps) {   /* the same trip count in every lane */
        float acc[32];
#pragma unroll
        for (int c = 0; c < 32; c++) acc[c] = 0.0f;
        for (int i = lane; ok && i < IN; i += 32) {
            const float xi = mixc_to_float(x[i]);
#pragma unroll
            for (int c = 0; c < 32; c++)
                if (o0 + c < end) acc[c] += xi * mixc_to_float(w[(size_t)(o0 + c) * IN + i]);
        }
        float sum = moe_reduce_scatter(acc, lane);   /* column o0 + lane's */
        const int o = o0 + lane;
        if (o >= end) continue;
        if (ok && bias) sum += mixc_to_float(bias[o]);
        out[o] = MixcElem<T>::from_float(ok ? sum * weight : 0.0f);
    }
}

/* out[t][o] = sum over j < K of weight(t, j) * x[t * K + j][o] (SIGMOID_INPUT: weight 1), in fp32,
 * rounded once. Grid: [ceil(tokens * HIDDEN / MIXC_SMALL_THREADS)], block: MIXC_SMALL_THREADS. */

template <class T, int HIDDEN, int K, bool SIGMOID_INPUT>
__device__ __forceinline__ void moe_combine_kernel(const MoeCombineParams &p) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)p.tokens * HIDDEN) return;
    const long long t = i / HIDDEN, o = i % HIDDEN;
    const T *x = static_cast<const T *>(p.x);
    float sum = 0.0f;
    for (int j = 0; j < K; j++)
        sum += (SIGMOID_INPUT ? 1.0f : p.route[2 * (t * K + j) + 1]) * mixc_to_float(x[(t * K + j) * HIDDEN + o]);
    static_cast<T *>(p.out)[i] = MixcElem<T>::from_float(sum);
}

#endif /* MIXC_MOE_CUH */
