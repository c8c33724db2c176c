/* kdiff_small.cpp — the small kernels (templates/small.cuh: RMSNorm and the fused residual add + RMSNorm,
 * the gated activations, the embedding, the argmax) on the CPU emulator against the fp32 references of
 * ref.c, for kdiff.cpp's main. */
#include "small.cuh"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kdiff.h"

namespace kdiff {

/* ------------------------------------------------------------------ small kernels */

/* width: the rows' (hidden, or head_dim for qk_norm's head norms); (offset + w) with norm = rms_plus_one.
 * row > 0 (a head norm in fused qkv rows): `heads` rows of width a token, a token's `row` elements after
 * the previous one's; nothing else of out is written. */
void test_rmsnorm(const std::string &name, MixcEmuEntry entry, const Model &m, int width, int heads, int row) {
    const int T = 3, R = row ? T * heads : T;
    const size_t n = row ? (size_t)T * row : (size_t)T * width;
    Tensor x(n, m.is_fp16), w(width, m.is_fp16), out(n, m.is_fp16);
    x.fill_random(3.0f);
    w.fill_random(1.5f);
    std::fill(out.raw.begin(), out.raw.end(), (uint16_t)0x1234);
    RmsNormParams p = {x.data(), w.data(), out.data(), R};
    bool ok = launch(entry, &p, {(unsigned)R, 1, 1}, {256, 1, 1}, 0, name);
    std::vector<float> xs((size_t)R * width), want(xs.size()), got(xs.size()), all = out.decoded(), wo(w.f);
    std::vector<char> normed(n, 0);
    for (int r = 0; r < R; r++)   /* row r's elements, gathered */
        for (int i = 0; i < width; i++) {
            const size_t at = row ? (size_t)(r / heads) * row + (size_t)(r % heads) * width + i : (size_t)r * width + i;
            xs[(size_t)r * width + i] = x.f[at], got[(size_t)r * width + i] = all[at], normed[at] = 1;
        }
    for (size_t i = 0; i < n && ok; i++)
        if (!normed[i] && out.raw[i] != 0x1234) fprintf(stderr, "  %s: element %zu is outside every row, written\n", name.c_str(), i), ok = false;
    for (float &v : wo) v += m.norm_offset;
    if (name.find("l2norm") != std::string::npos) std::fill(wo.begin(), wo.end(), 1.0f);   /* qk_l2_norm: no weight */
    ref_rmsnorm(want.data(), xs.data(), wo.data(), R, width, m.eps);
    const Tol t = tol_for(m);
    report(name, ok && ref_compare(name.c_str(), got.data(), want.data(), want.size(), t.atol, t.rtol, 5) == 0);
}

/* add_rmsnorm over T rows (a row past p.tokens left alone): x += addend equals the host's fp32 sum
 * rounded once (bit for bit), out the reference RMSNorm of that x within the tolerance and, bit for
 * bit, what the model's rmsnorm kernel (`rms`) computes from it: the fused kernel equals the residual
 * add then the norm. */
void test_add_rmsnorm(const std::string &name, MixcEmuEntry entry, MixcEmuEntry rms, const Model &m) {
    const int T = 3, H = m.hidden;
    const size_t n = (size_t)(T + 1) * H;
    Tensor x(n, m.is_fp16), d(n, m.is_fp16), w(H, m.is_fp16), out(n, m.is_fp16), sum(n, m.is_fp16), out2(n, m.is_fp16);
    x.fill_random(3.0f);
    d.fill_random(2.0f);
    w.fill_random(1.5f);
    for (size_t i = 0; i < n; i++) sum.set(i, i < (size_t)T * H ? x.f[i] + d.f[i] : x.f[i]);
    std::fill(out.raw.begin(), out.raw.end(), (uint16_t)0x1234);
    std::fill(out2.raw.begin(), out2.raw.end(), (uint16_t)0x1234);
    AddRmsNormParams p = {x.data(), d.data(), w.data(), out.data(), T};
    RmsNormParams q = {sum.data(), w.data(), out2.data(), T};
    bool ok = launch(entry, &p, {(unsigned)T + 1, 1, 1}, {256, 1, 1}, 0, name) && rms &&
              launch(rms, &q, {(unsigned)T + 1, 1, 1}, {256, 1, 1}, 0, name + " (rmsnorm)");
    if (ok && x.raw != sum.raw) fprintf(stderr, "  %s: x += addend differs from the sum rounded once\n", name.c_str()), ok = false;
    if (ok && out.raw != out2.raw) fprintf(stderr, "  %s: out differs from rmsnorm's of the stored sum\n", name.c_str()), ok = false;
    for (size_t i = (size_t)T * H; ok && i < n; i++)
        if (out.raw[i] != 0x1234) fprintf(stderr, "  %s: the row past tokens is written\n", name.c_str()), ok = false;
    std::vector<float> want((size_t)T * H), wo(w.f), got = out.decoded();
    for (float &v : wo) v += m.norm_offset;
    ref_rmsnorm(want.data(), sum.f.data(), wo.data(), T, H, m.eps);
    const Tol t = tol_for(m);
    report(name, ok && ref_compare(name.c_str(), got.data(), want.data(), want.size(), t.atol, t.rtol, 5) == 0);
}

/* silu_mul (silu false: residual_add); the gated activation is gelu_tanh_mul or clamped_swiglu_mul when
 * the name says so (the dense MLP's, or a mixture of experts' over its experts' or shared expert's rows). */
void test_elementwise(const std::string &name, MixcEmuEntry entry, const Model &m, bool silu, long long ffn) {
    const long long n = ffn ? 5 * ffn : 1000;   /* not a multiple of the 256-thread block */
    Tensor a(n, m.is_fp16), b(n, m.is_fp16), out(n, m.is_fp16);
    a.fill_random(6.0f);
    b.fill_random(2.0f);
    /* ffn (the dense MLP's kernel): its input is the fused gate_up rows, each token's gate then up */
    Tensor gate_up(ffn ? 2 * n : 1, m.is_fp16);
    for (long long i = 0; i < n && ffn; i++) {
        gate_up.raw[i / ffn * 2 * ffn + i % ffn] = a.raw[i];
        gate_up.raw[i / ffn * 2 * ffn + ffn + i % ffn] = b.raw[i];
    }
    uint16_t *gu = static_cast<uint16_t *>(gate_up.data());
    bool ok;
    if (silu) {
        SiluMulParams p = {ffn ? gu : a.data(), ffn ? gu + ffn : b.data(), out.data(), n};
        ok = launch(entry, &p, {(unsigned)((n + 255) / 256), 1, 1}, {256, 1, 1}, 0, name);
    } else {
        AddParams p = {a.data(), b.data(), out.data(), n};
        ok = launch(entry, &p, {(unsigned)((n + 255) / 256), 1, 1}, {256, 1, 1}, 0, name);
    }
    std::vector<float> want(n), got = out.decoded();
    if (silu && name.find("gelu_tanh_mul_") != std::string::npos) ref_gelu_tanh_mul(want.data(), a.f.data(), b.f.data(), n);
    else if (silu && name.find("clamped_swiglu_mul_") != std::string::npos)
        ref_clamped_swiglu_mul(want.data(), a.f.data(), b.f.data(), n, m.swiglu_limit, m.swiglu_alpha);
    else if (silu) ref_silu_mul(want.data(), a.f.data(), b.f.data(), n);
    else ref_add(want.data(), a.f.data(), b.f.data(), n);
    const Tol t = tol_for(m);
    report(name, ok && ref_compare(name.c_str(), got.data(), want.data(), n, t.atol, t.rtol, 5) == 0);
}

void test_embed(const std::string &name, MixcEmuEntry entry, const Model &m) {
    if ((long long)m.vocab * m.hidden > (1LL << 24)) {
        printf("SKIP %s (table of %lld elements)\n", name.c_str(), (long long)m.vocab * m.hidden);
        return;
    }
    const int T = 5;
    int ids[T] = {0, m.vocab - 1, m.vocab / 2, -1, m.vocab};   /* the last two out of range */
    Tensor table((size_t)m.vocab * m.hidden, m.is_fp16), out((size_t)T * m.hidden, m.is_fp16);
    table.fill_random(1.0f);
    std::fill(out.raw.begin(), out.raw.end(), (uint16_t)0x1234);
    EmbedParams p = {ids, table.data(), out.data(), T};
    bool ok = launch(entry, &p, {T, 1, 1}, {256, 1, 1}, 0, name);
    std::vector<float> want(out.f.size()), got = out.decoded();
    ref_embed(want.data(), ids, table.f.data(), T, m.hidden, m.vocab);
    for (float &v : want) v *= m.embed_scale;   /* exact without embed_scale; one rounding with it */
    const Tol t = m.embed_scale == 1.0f ? Tol{0, 0} : tol_for(m);
    report(name, ok && ref_compare(name.c_str(), got.data(), want.data(), want.size(), t.atol, t.rtol, 5) == 0);
}

/* argmax: rows of random logits, ties at the maximum (the lowest index wins), all equal, the maximum
 * at the last index, -inf, +inf and NaN entries (the code of the first non-finite value, wherever the
 * maximum is), and a row past p.rows left alone; with logit_softcap the row is capped in place first.
 * Against mixc_argmax on the host over the host's capped values (the emulator's tanhf is the host's:
 * the capped logits must be equal bit for bit). */
void test_argmax(const std::string &name, MixcEmuEntry entry, const Model &m) {
    const int V = m.vocab, R = 10;
    std::vector<float> x((size_t)R * V);
    for (float &v : x) v = 8.0f * uniform();
    auto row = [&](int r) { return x.data() + (size_t)r * V; };
    for (int at : {V - 1, V / 2, V > 5 ? 5 : 0}) row(1)[at] = 9.5f;   /* a tie of three: the lowest index */
    std::fill(row(2), row(2) + V, 0.25f);                            /* all equal: index 0 */
    row(3)[V - 1] = 9.5f;                                            /* the maximum last */
    row(4)[0] = -INFINITY, row(4)[V / 2] = -INFINITY;                /* -inf: an infinity */
    row(5)[V - 1] = NAN;                                             /* a NaN behind every maximum */
    row(6)[V / 2] = INFINITY, row(6)[V - 1] = NAN;                   /* +inf first */
    row(7)[1 % V] = NAN, row(7)[V - 1] = INFINITY;                   /* NaN first (V 1: the NaN alone) */
    for (int i = 0; i < V; i++) row(8)[i] = -1000.0f - (float)i;     /* the maximum first */
    std::vector<float> want = x;   /* the rows asked capped; the last one as it was */
    if (m.logit_softcap != 0.0f)
        for (size_t i = 0; i < (size_t)(R - 1) * V; i++) want[i] = tanhf(want[i] / m.logit_softcap) * m.logit_softcap;
    std::vector<int> ids(R, 12345), want_ids(R, 12345);
    for (int r = 0; r < R - 1; r++) want_ids[r] = mixc_argmax(want.data() + (size_t)r * V, V);
    ArgmaxParams p = {x.data(), ids.data(), R - 1};   /* the last row is not asked */
    bool ok = launch(entry, &p, {(unsigned)R, 1, 1}, {MIXC_ARGMAX_THREADS, 1, 1}, 0, name);
    for (int r = 0; ok && r < R; r++)
        if (ids[r] != want_ids[r]) fprintf(stderr, "  %s: row %d: id %d, want %d\n", name.c_str(), r, ids[r], want_ids[r]), ok = false;
    if (ok && memcmp(x.data(), want.data(), x.size() * sizeof(float)) != 0)
        fprintf(stderr, "  %s: the logits in place differ from the host's capped values\n", name.c_str()), ok = false;
    /* the rows meant what they say (a cap makes an infinity finite: +-cap, as the host's cap does) */
    const bool capped = m.logit_softcap != 0.0f;
    const bool codes = want_ids[1] == (V > 5 ? 5 : 0) && want_ids[5] == MIXC_ARGMAX_NAN && (V < 2 || want_ids[7] == MIXC_ARGMAX_NAN) &&
                       (capped ? want_ids[4] >= 0 && want_ids[6] == MIXC_ARGMAX_NAN
                               : want_ids[4] == MIXC_ARGMAX_INF && want_ids[6] == MIXC_ARGMAX_INF);
    report(name + " (" + std::to_string(V) + " logits" + (m.logit_softcap != 0.0f ? ", capped" : "") + ")", ok && codes);
}

}  // namespace kdiff
