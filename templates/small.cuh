/* small.cuh — the element-wise and per-row kernels around attention: RMSNorm, the SiLU-gated MLP
 * activation, the residual add (alone, and fused with the RMSNorm after it) and the embedding
 * gather. All arithmetic in fp32; inputs and outputs in the model dtype T. Sizes are template
 * constants baked in by the generator.
 */
#ifndef MIXC_SMALL_CUH
#define MIXC_SMALL_CUH

#include "mixc_arch.cuh"
#include "mixc_params.h"   /* MIXC_SMALL_THREADS and the parameter structs */

/* out[t][i] = x[t][i] / sqrt(mean_i(x[t][i]^2) + eps) * (w_offset + w[i]) (w_offset 1 for
 * norm = rms_plus_one; without WEIGHTED, qk_l2_norm's x / rms(x): w unread, w_offset 1). Grid: [rows],
 * block: MIXC_SMALL_THREADS; rows are tokens, or with qk_norm tokens x heads rows of head_dim (in
 * place: each thread reads its elements before writing them): PER_ROW heads a token, a token's first
 * ROW elements after the previous one's (a fused qkv row: q_width + 2 kv_width). */

__device__ __forceinline__ float mixc_block_sum(float v, float *scratch /* [32] */) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < nwarps; w++) total += scratch[w];   /* same order in every thread */
    __syncthreads();                                         /* scratch reusable afterwards */
    return total;
}

template <class T, int HIDDEN, bool WEIGHTED = true, int PER_ROW = 1, long long ROW = HIDDEN>
__device__ __forceinline__ void rmsnorm_kernel(const RmsNormParams &p, float eps, float w_offset = 0.0f) {
    __shared__ float scratch[32];
    const int t = blockIdx.x;
    if (t >= p.tokens) return;
    const size_t at = (size_t)(t / PER_ROW) * ROW + (size_t)(t % PER_ROW) * HIDDEN;   /* heads in a fused row */
    const T *x = static_cast<const T *>(p.x) + at;
    const T *w = static_cast<const T *>(p.weight);
    T *out = static_cast<T *>(p.out) + at;
    float sq = 0.0f;
    for (int i = threadIdx.x; i < HIDDEN; i += blockDim.x) {
        float v = mixc_to_float(x[i]);
        sq += v * v;
    }
    const float inv = rsqrtf(mixc_block_sum(sq, scratch) / (float)HIDDEN + eps);
    for (int i = threadIdx.x; i < HIDDEN; i += blockDim.x)
        out[i] = MixcElem<T>::from_float(mixc_to_float(x[i]) * inv * (w_offset + (WEIGHTED ? mixc_to_float(w[i]) : 0.0f)));
}

/* out[i] = silu(gate[i]) * up[i] = gate / (1 + exp(-gate)) * up over n = tokens * FFN elements.
 * Grid: [ceil(n / MIXC_SMALL_THREADS)], block: MIXC_SMALL_THREADS. With FFN (the dense MLP's fused
 * gate_up, rows of 2 FFN: gate then up), element i of token t = i / FFN is read at t x 2 FFN + i % FFN
 * of gate and of up (up: gate + FFN); FFN 0: at i. */

template <long long FFN> __device__ __forceinline__ long long mixc_gated_at(long long i) {
    if constexpr (FFN == 0) return i;
    else return i / FFN * 2 * FFN + i % FFN;
}

template <class T, long long FFN = 0> __device__ __forceinline__ void silu_mul_kernel(const SiluMulParams &p) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, g_at = mixc_gated_at<FFN>(i);
    if (i >= p.n) return;
    const float g = mixc_to_float(static_cast<const T *>(p.gate)[g_at]);
    const float u = mixc_to_float(static_cast<const T *>(p.up)[g_at]);
    static_cast<T *>(p.out)[i] = MixcElem<T>::from_float(g / (1.0f + __expf(-g)) * u);
}

/* out[i] = gelu_tanh(gate[i]) * up[i] (activation = gelu_tanh), the grid of silu_mul_kernel. */

template <class T, long long FFN = 0> __device__ __forceinline__ void gelu_tanh_mul_kernel(const SiluMulParams &p) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, g_at = mixc_gated_at<FFN>(i);
    if (i >= p.n) return;
    const float g = mixc_to_float(static_cast<const T *>(p.gate)[g_at]);
    const float u = mixc_to_float(static_cast<const T *>(p.up)[g_at]);
    const float inner = 0.7978845608028654f * (g + 0.044715f * g * g * g);   /* sqrt(2/pi) (x + 0.044715 x^3) */
    static_cast<T *>(p.out)[i] = MixcElem<T>::from_float(0.5f * g * (1.0f + tanhf(inner)) * u);
}

/* out[i] = gpt-oss's clamped SwiGLU (activation = clamped_swiglu): with g = min(gate[i], limit) and
 * u = clamp(up[i], -limit, limit), g * sigmoid(alpha * g) * (u + 1); the grid of silu_mul_kernel. */

template <class T, long long FFN = 0>
__device__ __forceinline__ void clamped_swiglu_mul_kernel(const SiluMulParams &p, float limit, float alpha) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x, g_at = mixc_gated_at<FFN>(i);
    if (i >= p.n) return;
    const float g = fminf(mixc_to_float(static_cast<const T *>(p.gate)[g_at]), limit);
    const float u = fminf(fmaxf(mixc_to_float(static_cast<const T *>(p.up)[g_at]), -limit), limit);
    static_cast<T *>(p.out)[i] = MixcElem<T>::from_float(g / (1.0f + __expf(-alpha * g)) * (u + 1.0f));
}

/* out[i] = a[i] + b[i] in fp32, rounded once. Grid: [ceil(n / MIXC_SMALL_THREADS)], block: MIXC_SMALL_THREADS. */

template <class T> __device__ __forceinline__ void residual_add_kernel(const AddParams &p) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.n) return;
    const float s = mixc_to_float(static_cast<const T *>(p.a)[i]) +
                    mixc_to_float(static_cast<const T *>(p.b)[i]);
    static_cast<T *>(p.out)[i] = MixcElem<T>::from_float(s);
}

/* The residual add and the RMSNorm after it in one pass over each row: x[t][i] = a + b in fp32,
 * rounded once to T and stored (residual_add_kernel's), then out[t][i] = rmsnorm of the stored row
 * (rmsnorm_kernel's arithmetic: the same squares of the rounded values summed in the same order, the
 * same scaling), so that the result equals the two kernels' bit for bit. Grid: [rows], block:
 * MIXC_SMALL_THREADS (each thread reads back only the elements it wrote). */

template <class T, int HIDDEN>
__device__ __forceinline__ void add_rmsnorm_kernel(const AddRmsNormParams &p, float eps, float w_offset) {
    __shared__ float scratch[32];
    const int t = blockIdx.x;
    if (t >= p.tokens) return;
    T *x = static_cast<T *>(p.x) + (size_t)t * HIDDEN;
    const T *d = static_cast<const T *>(p.addend) + (size_t)t * HIDDEN;
    const T *w = static_cast<const T *>(p.weight);
    T *out = static_cast<T *>(p.out) + (size_t)t * HIDDEN;
    float sq = 0.0f;
    for (int i = threadIdx.x; i < HIDDEN; i += blockDim.x) {
        x[i] = MixcElem<T>::from_float(mixc_to_float(x[i]) + mixc_to_float(d[i]));
        float v = mixc_to_float(x[i]);
        sq += v * v;
    }
    const float inv = rsqrtf(mixc_block_sum(sq, scratch) / (float)HIDDEN + eps);
    for (int i = threadIdx.x; i < HIDDEN; i += blockDim.x)
        out[i] = MixcElem<T>::from_float(mixc_to_float(x[i]) * inv * (w_offset + mixc_to_float(w[i])));
}

/* x[i] += bias[i % WIDTH] in fp32, rounded once (qkv_bias). Grid: [ceil(n / MIXC_SMALL_THREADS)],
 * block: MIXC_SMALL_THREADS. */

template <class T, long long WIDTH> __device__ __forceinline__ void bias_add_kernel(const BiasAddParams &p) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= p.n) return;
    T *x = static_cast<T *>(p.x);
    x[i] = MixcElem<T>::from_float(mixc_to_float(x[i]) + mixc_to_float(static_cast<const T *>(p.bias)[i % WIDTH]));
}

/* out[t][:] = table[ids[t]][:] (times scale: embed_scale's sqrt(hidden) in the model dtype); an id
 * outside [0, VOCAB) gives a zero row (never a wild read).
 * Grid: [tokens], block: MIXC_SMALL_THREADS. */

template <class T, int HIDDEN, long long VOCAB>
__device__ __forceinline__ void embed_kernel(const EmbedParams &p, float scale = 1.0f) {
    const int t = blockIdx.x;
    if (t >= p.tokens) return;
    const int id = p.ids[t];
    T *out = static_cast<T *>(p.out) + (size_t)t * HIDDEN;
    const bool ok = id >= 0 && (long long)id < VOCAB;
    const T *row = static_cast<const T *>(p.table) + (size_t)(ok ? id : 0) * HIDDEN;
    for (int i = threadIdx.x; i < HIDDEN; i += blockDim.x)
        out[i] = !ok ? MixcElem<T>::from_float(0.0f)
                 : scale == 1.0f ? row[i] : MixcElem<T>::from_float(mixc_to_float(row[i]) * scale);
}

/* ids[r] = mixc_argmax(logits row r) (mixc_params.h: the lowest index of the largest value, or the
 * code of the row's first NaN or infinity), each value first capped in place to
 * softcap * tanh(x / softcap) when softcap is not 0 (logit_softcap, as the host caps the logits it
 * copies: the ids are then what the host's greedy pick of those logits gives). Grid: [rows], block:
 * MIXC_ARGMAX_THREADS (a power of 2). Each thread scans a strided part of the row in index order, then
 * the block merges the (value, index) pairs and the first non-finite index in a tree. */

template <long long VOCAB> __device__ __forceinline__ void argmax_kernel(const ArgmaxParams &p, float softcap = 0.0f) {
    __shared__ float best_v[MIXC_ARGMAX_THREADS];
    __shared__ long long best_i[MIXC_ARGMAX_THREADS], bad_i[MIXC_ARGMAX_THREADS];
    __shared__ int bad_code[MIXC_ARGMAX_THREADS];
    const int r = blockIdx.x, t = threadIdx.x;
    if (r >= p.rows) return;
    float *row = p.logits + (size_t)r * VOCAB;
    float bv = 0.0f;
    long long bi = VOCAB, ni = VOCAB;   /* VOCAB: none seen */
    int code = 0;
    for (long long i = t; i < VOCAB; i += blockDim.x) {
        float x = row[i];
        if (softcap != 0.0f) row[i] = x = tanhf(x / softcap) * softcap;
        const int c = mixc_argmax(&x, 1);   /* 0, or the code of a NaN or an infinity */
        if (c < 0 && ni == VOCAB) ni = i, code = c;
        if (c == 0 && (bi == VOCAB || x > bv)) bv = x, bi = i;
    }
    best_v[t] = bv, best_i[t] = bi, bad_i[t] = ni, bad_code[t] = code;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) {
            const int o = t + half;
            const bool take = best_i[o] != VOCAB &&
                              (best_i[t] == VOCAB || best_v[o] > best_v[t] || (best_v[o] == best_v[t] && best_i[o] < best_i[t]));
            if (take) best_v[t] = best_v[o], best_i[t] = best_i[o];
            if (bad_i[o] < bad_i[t]) bad_i[t] = bad_i[o], bad_code[t] = bad_code[o];
        }
        __syncthreads();
    }
    if (t == 0) p.ids[r] = bad_i[0] != VOCAB ? bad_code[0] : (int)best_i[0];
}

#endif /* MIXC_SMALL_CUH */
