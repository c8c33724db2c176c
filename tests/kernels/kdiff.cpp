/* kdiff.cpp — differential tests: every kernel of an emitted kernels.cu, run on the CPU emulator,
 * against the fp32 references of ref.c.
 *
 *   kdiff KERNELS.so MANIFEST.json [SUBSTRING] [--long]
 *
 * For each kernel of the manifest (whose name contains SUBSTRING), builds inputs from a fixed seed,
 * launches it with the manifest's geometry and compares with the reference:
 * |out - ref| <= atol + rtol * |ref| (tolerances in docs/kernels.md). Prints "PASS name" or
 * "FAIL name" and the first mismatches; exits 1 if anything failed. --long: longer prefill chunks
 * (up to 300 and 177 tokens instead of 70 and 37).
 *
 * Compiled as CUDA-on-CPU C++ (-DMIXC_EMU -include mixc_emu.h -I templates) only for the parameter
 * structs of the templates; the kernels themselves come from KERNELS.so.
 */
#include "small.cuh"
#include "rope.cuh"
#include "decode.cuh"
#include "prefill.cuh"

#include <jansson.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "emu_api.h"
#include "ref.h"

namespace {

struct Model {
    int heads, kv_heads, hd, hidden, ffn, vocab, is_fp16;
    long long context, chunk;
    float theta, eps, scale;
    float norm_offset, embed_scale;   /* norm = rms_plus_one: 1; embed_scale: sqrt(hidden) in dtype */
    float softcap;                    /* attn_softcap; 0: none */
};

struct Tol {
    float atol, rtol;
};
/* bf16 keeps 8 significant bits (unit roundoff 2^-8 = 0.0039), fp16 11 bits (2^-11). */
Tol tol_for(const Model &m) { return m.is_fp16 ? Tol{2e-3f, 2e-3f} : Tol{1e-2f, 1e-2f}; }

uint64_t rng_state = 0x9e3779b97f4a7c15ull;
float uniform() {   /* xorshift64*, in [-1, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (float)((rng_state * 0x2545f4914f6cdd1dull) >> 40) / (float)(1 << 23) - 1.0f;
}

/* A tensor held both ways: fp32 values already rounded to the storage type, and the raw bits. */
struct Tensor {
    std::vector<float> f;
    std::vector<uint16_t> raw;
    int is_fp16 = 0;
    Tensor(size_t n, int fp16) : f(n, 0.0f), raw(n, 0), is_fp16(fp16) {}
    void set(size_t i, float x) {
        raw[i] = is_fp16 ? ref_f32_to_fp16(x) : ref_f32_to_bf16(x);
        f[i] = is_fp16 ? ref_fp16_to_f32(raw[i]) : ref_bf16_to_f32(raw[i]);
    }
    void fill_random(float amp) {
        for (size_t i = 0; i < f.size(); i++) set(i, amp * uniform());
    }
    std::vector<float> decoded() const {
        std::vector<float> out(raw.size());
        for (size_t i = 0; i < raw.size(); i++)
            out[i] = is_fp16 ? ref_fp16_to_f32(raw[i]) : ref_bf16_to_f32(raw[i]);
        return out;
    }
    void *data() { return raw.data(); }
};

int failures = 0;
bool long_mode = false;

bool launch(MixcEmuEntry entry, const void *params, EmuDim3 grid, EmuDim3 block, size_t smem,
            const std::string &name) {
    char err[512];
    if (mixc_emu_launch_c(entry, params, grid, block, smem, err, sizeof err) == 0) return true;
    fprintf(stderr, "  %s: launch failed: %s\n", name.c_str(), err);
    return false;
}

void report(const std::string &name, bool ok) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name.c_str());
    fflush(stdout);
    if (!ok) failures++;
}

long long jint(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

/* ------------------------------------------------------------------ attention */

struct AttnKernel {
    int g;
    long long window, cap;
    size_t smem;
    int splits;
};

/* Keys and values of one sequence by absolute position, and the ring cache holding them. */
struct History {
    Tensor k, v;
    int npos;
    History(const Model &m, int npos_) : k((size_t)npos_ * m.kv_heads * m.hd, m.is_fp16),
                                         v((size_t)npos_ * m.kv_heads * m.hd, m.is_fp16), npos(npos_) {
        k.fill_random(1.0f);
        v.fill_random(1.0f);
    }
};

/* Writes positions 0..npos-1 of h into sequence b's ring (later positions overwrite earlier ones,
 * as the appends did). Slots never written keep a NaN pattern: reading one would show. */
void fill_cache(Tensor &cache, const Tensor &src, const Model &m, long long cap, int b, int npos) {
    const size_t row = (size_t)m.kv_heads * m.hd;
    for (int p = 0; p < npos; p++)
        for (size_t e = 0; e < row; e++)
            cache.raw[((size_t)b * cap + p % cap) * row + e] = src.raw[(size_t)p * row + e];
}

Tensor nan_cache(const Model &m, long long cap, int batch) {
    Tensor c((size_t)batch * cap * m.kv_heads * m.hd, m.is_fp16);
    std::fill(c.raw.begin(), c.raw.end(), (uint16_t)(m.is_fp16 ? 0x7e00 : 0x7fc0));
    return c;
}

/* The manifest's dynamic smem (computed by codegen.c) must be what the template carves up. */
bool smem_matches(const std::string &name, size_t manifest, size_t tmpl) {
    if (manifest == tmpl) return true;
    fprintf(stderr, "  %s: manifest dynamic_smem %zu, template needs %zu\n", name.c_str(), manifest, tmpl);
    return false;
}

void test_prefill(const std::string &name, MixcEmuEntry entry, const Model &m, const AttnKernel &ak) {
    if (!smem_matches(name, ak.smem, PREFILL_SMEM_BYTES(m.hd, 2))) return report(name, false);
    /* Two sequences, lengths not multiples of the 64-query tile; the second starts late enough to
     * wrap around a ring cache. Chunks never exceed the planned chunk (the ring's guarantee). */
    const int len[2] = {(int)std::min<long long>(m.chunk, long_mode ? 300 : 70),
                        (int)std::min<long long>(m.chunk, long_mode ? 177 : 37)};
    const int pos0[2] = {0, (int)std::max(0LL, std::min(m.context - len[1], ak.cap + 29))};
    const int heads = m.heads, hd = m.hd;
    Tensor q((size_t)(len[0] + len[1]) * heads * hd, m.is_fp16), out(q.f.size(), m.is_fp16);
    q.fill_random(2.0f);
    Tensor kc = nan_cache(m, ak.cap, 2), vc = nan_cache(m, ak.cap, 2);
    std::vector<History> hist;
    for (int b = 0; b < 2; b++) {
        hist.emplace_back(m, pos0[b] + len[b]);
        fill_cache(kc, hist[b].k, m, ak.cap, b, hist[b].npos);
        fill_cache(vc, hist[b].v, m, ak.cap, b, hist[b].npos);
    }
    int q_start[2] = {0, len[0]};
    PrefillParams p = {q.data(), out.data(), kc.data(), vc.data(), q_start, len, pos0, m.scale, 2};
    const unsigned gx = (unsigned)((std::max(len[0], len[1]) + PREFILL_BM - 1) / PREFILL_BM);
    bool ok = launch(entry, &p, {gx, (unsigned)heads, 2}, {PREFILL_THREADS, 1, 1}, ak.smem, name);
    std::vector<float> got = out.decoded();
    const Tol t = tol_for(m);
    for (int b = 0; ok && b < 2; b++) {
        std::vector<int> qpos(len[b]);
        for (int i = 0; i < len[b]; i++) qpos[i] = pos0[b] + i;
        std::vector<float> want((size_t)len[b] * heads * hd);
        ref_attention(want.data(), q.f.data() + (size_t)q_start[b] * heads * hd, qpos.data(), len[b],
                      hist[b].k.f.data(), hist[b].v.f.data(), hist[b].npos, heads, m.kv_heads, hd,
                      ak.window, m.scale, m.softcap);
        ok = ref_compare((name + " seq" + std::to_string(b)).c_str(),
                         got.data() + (size_t)q_start[b] * heads * hd, want.data(), want.size(), t.atol,
                         t.rtol, 5) == 0;
    }
    report(name, ok);
}

void test_decode(const std::string &name, MixcEmuEntry entry, MixcEmuEntry reduce, const Model &m,
                 const AttnKernel &ak) {
    if (!smem_matches(name, ak.smem, DECODE_SMEM_BYTES(ak.g, m.hd, 2))) return report(name, false);
    /* The first token, a short prefix, a position just past the ring, the last position. */
    const long long last = m.context - 1;
    const int pos[4] = {0, (int)std::min(last, 37LL), (int)std::min(last, ak.cap + 5), (int)last};
    const int batch = 4, heads = m.heads, hd = m.hd, splits = ak.splits;
    Tensor q((size_t)batch * heads * hd, m.is_fp16), out(q.f.size(), m.is_fp16);
    q.fill_random(2.0f);
    Tensor kc = nan_cache(m, ak.cap, batch), vc = nan_cache(m, ak.cap, batch);
    std::vector<History> hist;
    for (int b = 0; b < batch; b++) {
        hist.emplace_back(m, pos[b] + 1);
        fill_cache(kc, hist[b].k, m, ak.cap, b, hist[b].npos);
        fill_cache(vc, hist[b].v, m, ak.cap, b, hist[b].npos);
    }
    std::vector<float> o_part((size_t)batch * heads * splits * hd), ml((size_t)batch * heads * splits * 2);
    DecodeParams p = {q.data(), kc.data(), vc.data(), pos, o_part.data(), ml.data(), m.scale, batch};
    bool ok = launch(entry, &p, {(unsigned)m.kv_heads, (unsigned)splits, (unsigned)batch},
                     {DECODE_THREADS, 1, 1}, ak.smem, name);
    DecodeReduceParams r = {o_part.data(), ml.data(), out.data(), heads, splits, batch};
    ok = ok && launch(reduce, &r, {(unsigned)heads, (unsigned)batch, 1}, {(unsigned)hd, 1, 1}, 0, name);
    std::vector<float> got = out.decoded();
    const Tol t = tol_for(m);
    for (int b = 0; ok && b < batch; b++) {
        std::vector<float> want((size_t)heads * hd);
        ref_attention(want.data(), q.f.data() + (size_t)b * heads * hd, &pos[b], 1, hist[b].k.f.data(),
                      hist[b].v.f.data(), hist[b].npos, heads, m.kv_heads, hd, ak.window, m.scale, m.softcap);
        ok = ref_compare((name + " pos" + std::to_string(pos[b])).c_str(),
                         got.data() + (size_t)b * heads * hd, want.data(), want.size(), t.atol, t.rtol,
                         5) == 0;
    }
    report(name + " (splits " + std::to_string(splits) + ")", ok);
}

/* ------------------------------------------------------------------ rope + append */

void test_rope(const std::string &name, MixcEmuEntry entry, const Model &m, bool owner, long long cap) {
    const int T = 6, heads = m.heads, kvh = m.kv_heads, hd = m.hd;
    /* Tokens alternate between two sequences; consecutive positions per sequence past the ring. */
    const long long p0 = std::max(0LL, std::min(m.context - T, cap + 3));
    std::vector<int> pos(T), seq(T);
    for (int t = 0; t < T; t++) seq[t] = t % 2, pos[t] = (int)(p0 + t);
    Tensor q((size_t)T * heads * hd, m.is_fp16), k((size_t)T * kvh * hd, m.is_fp16), v(k.f.size(), m.is_fp16);
    q.fill_random(1.0f);
    k.fill_random(1.0f);
    v.fill_random(1.0f);
    const long long ccap = owner ? cap : 1;
    Tensor kc((size_t)2 * ccap * kvh * hd, m.is_fp16), vc(kc.f.size(), m.is_fp16);
    std::fill(kc.raw.begin(), kc.raw.end(), (uint16_t)0x1234);   /* untouched slots keep it */
    std::fill(vc.raw.begin(), vc.raw.end(), (uint16_t)0x1234);
    std::vector<float> want_q = q.f, want_k = k.f;
    for (int t = 0; t < T; t++) {
        ref_rope(want_q.data() + (size_t)t * heads * hd, pos[t], heads, hd, m.theta);
        ref_rope(want_k.data() + (size_t)t * kvh * hd, pos[t], kvh, hd, m.theta);
    }
    RopeParams p = {q.data(), owner ? k.data() : nullptr, owner ? v.data() : nullptr,
                    owner ? kc.data() : nullptr, owner ? vc.data() : nullptr, pos.data(), seq.data(), T};
    bool ok = launch(entry, &p, {(unsigned)T, 1, 1}, {128, 1, 1}, 0, name);
    const Tol t = tol_for(m);
    if (ok) {
        std::vector<float> got_q = q.decoded();
        ok = ref_compare((name + " q").c_str(), got_q.data(), want_q.data(), want_q.size(), t.atol,
                         t.rtol, 5) == 0;
    }
    if (ok && owner) {
        const size_t row = (size_t)kvh * hd;
        std::vector<char> written((size_t)2 * cap, 0);
        std::vector<float> got_k = kc.decoded();
        for (int tk = 0; ok && tk < T; tk++) {
            const size_t slot = (size_t)seq[tk] * cap + pos[tk] % cap;
            written[slot] = 1;
            ok = ref_compare((name + " k").c_str(), got_k.data() + slot * row, want_k.data() + tk * row,
                             row, t.atol, t.rtol, 5) == 0 &&
                 std::equal(vc.raw.begin() + slot * row, vc.raw.begin() + (slot + 1) * row,
                            v.raw.begin() + tk * row);
        }
        for (size_t s = 0; ok && s < written.size(); s++)
            if (!written[s])
                ok = std::all_of(kc.raw.begin() + s * row, kc.raw.begin() + (s + 1) * row,
                                 [](uint16_t x) { return x == 0x1234; });
        if (!ok) fprintf(stderr, "  %s: cache contents differ (k, v or an untouched slot)\n", name.c_str());
    }
    report(name, ok);
}

/* ------------------------------------------------------------------ small kernels */

/* width: the rows' (hidden, or head_dim for qk_norm's head norms); (offset + w) with norm = rms_plus_one. */
void test_rmsnorm(const std::string &name, MixcEmuEntry entry, const Model &m, int width) {
    const int T = 3;
    Tensor x((size_t)T * width, m.is_fp16), w(width, m.is_fp16), out(x.f.size(), m.is_fp16);
    x.fill_random(3.0f);
    w.fill_random(1.5f);
    RmsNormParams p = {x.data(), w.data(), out.data(), T};
    bool ok = launch(entry, &p, {T, 1, 1}, {256, 1, 1}, 0, name);
    std::vector<float> want(x.f.size()), got = out.decoded(), wo(w.f);
    for (float &v : wo) v += m.norm_offset;
    ref_rmsnorm(want.data(), x.f.data(), wo.data(), T, width, m.eps);
    const Tol t = tol_for(m);
    report(name, ok && ref_compare(name.c_str(), got.data(), want.data(), want.size(), t.atol, t.rtol, 5) == 0);
}

/* silu_mul (silu false: residual_add); the gated activation is gelu_tanh_mul when the name says so. */
void test_elementwise(const std::string &name, MixcEmuEntry entry, const Model &m, bool silu) {
    const long long n = 1000;   /* not a multiple of the 256-thread block */
    Tensor a(n, m.is_fp16), b(n, m.is_fp16), out(n, m.is_fp16);
    a.fill_random(6.0f);
    b.fill_random(2.0f);
    bool ok;
    if (silu) {
        SiluMulParams p = {a.data(), b.data(), out.data(), n};
        ok = launch(entry, &p, {(unsigned)((n + 255) / 256), 1, 1}, {256, 1, 1}, 0, name);
    } else {
        AddParams p = {a.data(), b.data(), out.data(), n};
        ok = launch(entry, &p, {(unsigned)((n + 255) / 256), 1, 1}, {256, 1, 1}, 0, name);
    }
    std::vector<float> want(n), got = out.decoded();
    if (silu && name.find("/gelu_tanh_mul_") != std::string::npos) ref_gelu_tanh_mul(want.data(), a.f.data(), b.f.data(), n);
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

} // namespace

int main(int argc, char **argv) {
    if (argc > 3 && std::string(argv[argc - 1]) == "--long") long_mode = true, argc--;
    if (argc < 3) {
        fprintf(stderr, "usage: kdiff KERNELS.so MANIFEST.json [SUBSTRING] [--long]\n");
        return 2;
    }
    char err[512];
    void *so = mixc_emu_dlopen_kernels(argv[1], err, sizeof err);
    if (!so) {
        fprintf(stderr, "kdiff: %s\n", err);
        return 1;
    }
    json_error_t jerr;
    json_t *man = json_load_file(argv[2], 0, &jerr);
    if (!man) {
        fprintf(stderr, "kdiff: %s: %s\n", argv[2], jerr.text);
        return 1;
    }
    Model m;
    m.heads = (int)jint(man, "heads");
    m.kv_heads = (int)jint(man, "kv_heads");
    m.hd = (int)jint(man, "head_dim");
    m.hidden = (int)jint(man, "hidden");
    m.ffn = (int)jint(man, "ffn");
    m.vocab = (int)jint(man, "vocab");
    m.context = jint(man, "context");
    m.chunk = jint(man, "chunk");
    m.is_fp16 = std::string(json_string_value(json_object_get(man, "dtype"))) == "fp16";
    m.theta = (float)json_real_value(json_object_get(man, "rope_theta"));
    m.eps = (float)json_real_value(json_object_get(man, "norm_eps"));
    m.scale = (float)json_real_value(json_object_get(man, "softmax_scale"));
    m.norm_offset = (float)json_real_value(json_object_get(man, "norm_weight_offset"));
    m.embed_scale = (float)json_real_value(json_object_get(man, "embed_scale"));
    m.softcap = (float)json_real_value(json_object_get(man, "attn_softcap"));
    const std::string model = json_string_value(json_object_get(man, "model"));
    const char *filter = argc > 3 ? argv[3] : "";

    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(man, "kernels"), i, k) {
        const std::string kname = json_string_value(json_object_get(k, "name"));
        const std::string kind = json_string_value(json_object_get(k, "kind"));
        if (kname.find(filter) == std::string::npos) continue;
        const std::string label = model + "/" + kname;
        auto entry = (MixcEmuEntry)mixc_emu_find_kernel(so, kname.c_str());
        if (!entry) {
            report(label + " (no entry point)", false);
            continue;
        }
        AttnKernel ak = {(int)jint(k, "group"), jint(k, "window"), jint(k, "capacity"),
                         (size_t)jint(k, "dynamic_smem"), (int)jint(k, "splits")};
        if (kind == "attn_prefill") test_prefill(label, entry, m, ak);
        else if (kind == "attn_decode") {
            const std::string rname = "attn_decode_reduce_hd" + std::to_string(m.hd) +
                                      (m.is_fp16 ? "_fp16" : "_bf16");
            auto reduce = (MixcEmuEntry)mixc_emu_find_kernel(so, rname.c_str());
            if (!reduce) report(label + " (no " + rname + ")", false);
            else test_decode(label, entry, reduce, m, ak);
        } else if (kind == "rope_append" || kind == "rope_q")
            test_rope(label, entry, m, kind == "rope_append", ak.cap);
        else if (kind == "rmsnorm") test_rmsnorm(label, entry, m, json_object_get(k, "width") ? (int)jint(k, "width") : m.hidden);
        else if (kind == "silu_mul" || kind == "residual_add")
            test_elementwise(label, entry, m, kind == "silu_mul");
        else if (kind == "embed") test_embed(label, entry, m);
        /* attn_decode_reduce is exercised by every attn_decode test. */
    }
    json_decref(man);
    mixc_emu_dlclose(so);
    mixc_emu_release();
    return failures ? 1 : 0;
}
