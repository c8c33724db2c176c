/* ref.c — CPU fp32 references of the mixc kernels (see ref.h). Written for clarity, not speed. */
#include "ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

uint16_t ref_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;     /* NaN stays a quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                        /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float ref_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* GCC's _Float16 conversions are IEEE round-to-nearest-even, as CUDA's __float2half_rn. */
uint16_t ref_f32_to_fp16(float x) {
    _Float16 h = (_Float16)x;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}

float ref_fp16_to_f32(uint16_t u) {
    _Float16 h;
    memcpy(&h, &u, 2);
    return (float)h;
}

float ref_round(float x, int is_fp16) {
    return is_fp16 ? ref_fp16_to_f32(ref_f32_to_fp16(x)) : ref_bf16_to_f32(ref_f32_to_bf16(x));
}

static int visible(int64_t qpos, int64_t kpos, int64_t window, int64_t chunked) {
    if (chunked > 0) return kpos <= qpos && kpos / chunked == qpos / chunked;
    return kpos <= qpos && (window <= 0 || kpos > qpos - window);
}

static double capped(double s, double softcap) { return softcap > 0 ? softcap * tanh(s / softcap) : s; }

void ref_attention(float *out, const float *q, const int *q_pos, int n, const float *k, const float *v,
                   int npos, int heads, int kv_heads, int hd, int64_t window, int64_t chunked, float scale,
                   float softcap, const float *sinks) {
    const int group = heads / kv_heads;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++) {
            const float *qi = q + ((size_t)i * heads + h) * hd;
            const int kvh = h / group;
            float *o = out + ((size_t)i * heads + h) * hd;
            double mx = -INFINITY;
            for (int j = 0; j < npos; j++) {   /* pass 1: the largest visible score */
                if (!visible(q_pos[i], j, window, chunked)) continue;
                const float *kj = k + ((size_t)j * kv_heads + kvh) * hd;
                double s = 0;
                for (int d = 0; d < hd; d++) s += (double)qi[d] * kj[d];
                s = capped(s * scale, softcap);
                if (s > mx) mx = s;
            }
            if (sinks && sinks[h] > mx) mx = sinks[h];
            double den = sinks ? exp(sinks[h] - mx) : 0;   /* the sink: in the denominator, no value */
            for (int d = 0; d < hd; d++) o[d] = 0;
            double acc[256 * 2];
            for (int d = 0; d < hd; d++) acc[d] = 0;
            for (int j = 0; j < npos; j++) {   /* pass 2: softmax-weighted sum of V */
                if (!visible(q_pos[i], j, window, chunked)) continue;
                const float *kj = k + ((size_t)j * kv_heads + kvh) * hd;
                const float *vj = v + ((size_t)j * kv_heads + kvh) * hd;
                double s = 0;
                for (int d = 0; d < hd; d++) s += (double)qi[d] * kj[d];
                const double p = exp(capped(s * scale, softcap) - mx);
                den += p;
                for (int d = 0; d < hd; d++) acc[d] += p * vj[d];
            }
            for (int d = 0; d < hd; d++) o[d] = den > 0 ? (float)(acc[d] / den) : 0.0f;
        }
}

void ref_rope_default_table(float *inv_freq, int hd, float theta) {
    /* fp32, in the order HF computes it */
    for (int k = 0; k < hd / 2; k++) inv_freq[k] = 1.0f / powf(theta, (float)(2 * k) / (float)hd);
}

void ref_rope(float *x, int pos, int nheads, int hd, const float *inv_freq, float scale) {
    for (int h = 0; inv_freq && h < nheads; h++) {
        float *xh = x + (size_t)h * hd;
        for (int k = 0; k < hd / 2; k++) {
            const float angle = (float)pos * inv_freq[k];
            const float c = cosf(angle) * scale, s = sinf(angle) * scale;
            const float x1 = xh[k], x2 = xh[k + hd / 2];
            xh[k] = x1 * c - x2 * s;
            xh[k + hd / 2] = x2 * c + x1 * s;
        }
    }
}

void ref_rmsnorm(float *out, const float *x, const float *w, int tokens, int hidden, float eps) {
    for (int t = 0; t < tokens; t++) {
        const float *xt = x + (size_t)t * hidden;
        double sq = 0;
        for (int i = 0; i < hidden; i++) sq += (double)xt[i] * xt[i];
        const float inv = (float)(1.0 / sqrt(sq / hidden + eps));
        for (int i = 0; i < hidden; i++) out[(size_t)t * hidden + i] = xt[i] * inv * w[i];
    }
}

void ref_silu_mul(float *out, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void ref_gelu_tanh_mul(float *out, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = gate[i];
        out[i] = (float)(0.5 * g * (1 + tanh(sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) * up[i]);
    }
}

void ref_clamped_swiglu_mul(float *out, const float *gate, const float *up, size_t n, float limit, float alpha) {
    for (size_t i = 0; i < n; i++) {
        double g = fmin(gate[i], limit), u = fmin(fmax(up[i], -limit), limit);
        out[i] = (float)(g / (1 + exp(-alpha * g)) * (u + 1));
    }
}

void ref_add(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ref_embed(float *out, const int *ids, const float *table, int tokens, int hidden, int vocab) {
    for (int t = 0; t < tokens; t++) {
        const int ok = ids[t] >= 0 && ids[t] < vocab;
        for (int i = 0; i < hidden; i++)
            out[(size_t)t * hidden + i] = ok ? table[(size_t)ids[t] * hidden + i] : 0.0f;
    }
}

size_t ref_compare(const char *what, const float *got, const float *want, size_t n, float atol,
                   float rtol, int max_print) {
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        const float diff = fabsf(got[i] - want[i]);
        const float lim = atol + rtol * fabsf(want[i]);
        if (diff / lim > worst) worst = diff / lim;
        if (diff <= lim) continue;   /* false for NaN: a NaN always fails */
        if ((int)bad < max_print)
            fprintf(stderr, "  %s[%zu]: got %.6g, want %.6g (|diff| %.3g > %.3g)\n", what, i, got[i],
                    want[i], diff, lim);
        bad++;
    }
    if (bad) fprintf(stderr, "  %s: %zu of %zu elements outside tolerance\n", what, bad, n);
    return bad;
}

/* ---- a mixture of experts */

void ref_moe_route(float *route, const float *logits, int tokens, int e, int k, int router) {
    for (int t = 0; t < tokens; t++) {
        const float *l = logits + (size_t)t * e;
        float *r = route + (size_t)t * k * 2;
        double max_all = -INFINITY, sum_all = 0, sum_chosen = 0;
        for (int i = 0; i < e; i++) max_all = fmax(max_all, l[i]);
        for (int i = 0; i < e; i++) sum_all += exp(l[i] - max_all);
        int chosen[256];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int i = 0; i < e; i++) {
                int taken = 0;
                for (int c = 0; c < j; c++) taken |= chosen[c] == i;
                if (!taken && (best < 0 || l[i] > l[best])) best = i;
            }
            chosen[j] = best;
        }
        for (int j = 0; j < k; j++) sum_chosen += exp(l[chosen[j]] - l[chosen[0]]);
        for (int j = 0; j < k; j++) {
            double x = l[chosen[j]];
            r[2 * j] = (float)chosen[j];
            r[2 * j + 1] = (float)(router == 0   ? exp(x - l[chosen[0]]) / sum_chosen
                                   : router == 1 ? exp(x - max_all) / sum_all
                                                 : 1 / (1 + exp(-x)));
        }
    }
}

void ref_moe_gemm(float *y, const float *x, const float *route, const float *w, const float *bias, int rows, int k,
                  int experts, int in, int out, int down, int scale) {
    for (int r = 0; r < rows; r++) {
        int ex = (int)route[2 * r];
        const float *xr = x + (size_t)(down ? r : r / k) * in;
        for (int o = 0; o < out; o++) {
            double acc = 0;
            if (ex < 0 || ex >= experts) {
                y[(size_t)r * out + o] = 0;
                continue;
            }
            const float *wr = w + ((size_t)ex * out + o) * in;
            for (int i = 0; i < in; i++) acc += (double)xr[i] * wr[i];
            if (bias) acc += bias[(size_t)ex * out + o];
            y[(size_t)r * out + o] = (float)(scale ? acc * route[2 * r + 1] : acc);
        }
    }
}

void ref_moe_combine(float *y, const float *x, const float *route, int tokens, int k, int hidden, int unweighted) {
    for (int t = 0; t < tokens; t++)
        for (int o = 0; o < hidden; o++) {
            double sum = 0;
            for (int j = 0; j < k; j++)
                sum += (unweighted ? 1.0 : route[2 * (t * k + j) + 1]) * x[(size_t)(t * k + j) * hidden + o];
            y[(size_t)t * hidden + o] = (float)sum;
        }
}
