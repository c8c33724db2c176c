/* ref.h — CPU fp32 references of every mixc kernel (tests/kernels/ref.c), plain C, llm.c style.
 *
 * All tensors are fp32 and dense. The references compute in fp32 (double for long sums) from the
 * same rounded inputs the kernels see; they do not round intermediates, so the comparison tolerances
 * (docs/kernels.md) cover the kernels' bf16/fp16 roundings: P before P*V, outputs, RoPE results.
 */
#ifndef MIXC_REF_H
#define MIXC_REF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Storage types: round a float to bf16 / fp16 (round to nearest even) and back. */
uint16_t ref_f32_to_bf16(float x);
float ref_bf16_to_f32(uint16_t h);
uint16_t ref_f32_to_fp16(float x);
float ref_fp16_to_f32(uint16_t h);
/* x rounded through the storage type: is_fp16 = 0 for bf16, 1 for fp16. */
float ref_round(float x, int is_fp16);

/* Attention of n queries of one sequence.
 *   q    [n, heads, hd]       query i at absolute position q_pos[i]
 *   k, v [npos, kv_heads, hd] keys and values by ABSOLUTE position 0..npos-1 (no ring)
 *   out  [n, heads, hd]
 * Query at position i sees keys j <= i, and j > i - window when window > 0, or only the keys of its
 * own chunk (j / chunked == i / chunked) when chunked > 0. sinks (NULL: none): a logit per head that
 * joins the softmax's denominator, exp(sinks[h] - max) with max over the scores and the sink.
 * Query head h reads KV head h / (heads / kv_heads). Scores s * scale, then softcap * tanh(. / softcap)
 * when softcap > 0. */
void ref_attention(float *out, const float *q, const int *q_pos, int n, const float *k, const float *v,
                   int npos, int heads, int kv_heads, int hd, int64_t window, int64_t chunked, float scale,
                   float softcap, const float *sinks);

/* HF Llama rotate_half RoPE in place on x [nheads, hd] at absolute position pos. */
/* RoPE with a table of hd/2 inverse frequencies, cos and sin times scale; NULL table: unchanged. */
void ref_rope(float *x, int pos, int nheads, int hd, const float *inv_freq, float scale);
void ref_rope_default_table(float *inv_freq, int hd, float theta);

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, rows of `hidden`. */
void ref_rmsnorm(float *out, const float *x, const float *w, int tokens, int hidden, float eps);
/* out = silu(gate) * up */
void ref_silu_mul(float *out, const float *gate, const float *up, size_t n);
/* gelu_tanh(gate) * up: GELU's tanh approximation (activation = gelu_tanh). */
void ref_gelu_tanh_mul(float *out, const float *gate, const float *up, size_t n);
/* gpt-oss's clamped SwiGLU: g = min(gate, limit), u = clamp(up, -limit, limit), g sigmoid(alpha g) (u + 1). */
void ref_clamped_swiglu_mul(float *out, const float *gate, const float *up, size_t n, float limit, float alpha);
/* out = a + b */
void ref_add(float *out, const float *a, const float *b, size_t n);
/* out[t] = table[ids[t]], a zero row for an id outside [0, vocab). */
void ref_embed(float *out, const int *ids, const float *table, int tokens, int hidden, int vocab);

/* A mixture of experts (docs/model.md), as the cpu backend computes it; route row t * k + j holds token
 * t's j-th choice as (expert, weight). router: 0 topk_softmax, 1 softmax_topk, 2 sigmoid_input. */
/* The k largest of each token's e logits (ties: the lower index first) and their weights. */
void ref_moe_route(float *route, const float *logits, int tokens, int e, int k, int router);
/* out row r = x row (down: r, else r / k) . W_e^T (+ bias_e) (x weight when scale), W [e * out][in]; an
 * expert index outside [0, e) gives a zero row. */
void ref_moe_gemm(float *y, const float *x, const float *route, const float *w, const float *bias, int rows, int k,
                  int experts, int in, int out, int down, int scale);
/* out row t = sum over j of route weight (1 when unweighted) x row t * k + j, rows of `hidden`. */
void ref_moe_combine(float *y, const float *x, const float *route, int tokens, int k, int hidden, int unweighted);

/* |got - want| <= atol + rtol * |want| for every element (NaN never passes). Prints the first
 * `max_print` mismatches to stderr with `what` and returns how many elements failed. */
size_t ref_compare(const char *what, const float *got, const float *want, size_t n, float atol,
                   float rtol, int max_print);

#ifdef __cplusplus
}
#endif

#endif
