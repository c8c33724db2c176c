/* kdiff.h — what the kernel tests share (kdiff.cpp, kdiff_moe.cpp, kdiff_small.cpp): the model figures read from the
 * manifest, the tolerances, the inputs' generator, tensors held as fp32 and as their stored bits, the
 * launch and the PASS/FAIL report. */
#ifndef MIXC_KDIFF_H
#define MIXC_KDIFF_H

#include <jansson.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "emu_api.h"
#include "ref.h"

namespace kdiff {

struct Model {
    int heads, kv_heads, hd, hidden, ffn, vocab, is_fp16;
    int kv8, fp8;           /* an 8-bit cache; e4m3 (else int8) */
    long long context, chunk;
    float theta, eps, scale;
    float norm_offset, embed_scale;   /* norm = rms_plus_one: 1; embed_scale: sqrt(hidden) in dtype */
    float softcap;                    /* attn_softcap; 0: none */
    float logit_softcap;              /* the argmax's cap of the logits; 0: none */
    float swiglu_limit, swiglu_alpha;  /* activation clamped_swiglu's; 0 otherwise */
};

struct Tol {
    float atol, rtol;
};
/* bf16 keeps 8 significant bits (unit roundoff 2^-8 = 0.0039), fp16 11 bits (2^-11). */
inline Tol tol_for(const Model &m) { return m.is_fp16 ? Tol{2e-3f, 2e-3f} : Tol{1e-2f, 1e-2f}; }

inline uint64_t rng_state = 0x9e3779b97f4a7c15ull;
inline float uniform() {   /* xorshift64*, in [-1, 1) */
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

inline int failures = 0;
inline bool long_mode = false;

inline bool launch(MixcEmuEntry entry, const void *params, EmuDim3 grid, EmuDim3 block, size_t smem,
            const std::string &name) {
    char err[512];
    if (mixc_emu_launch_c(entry, params, grid, block, smem, err, sizeof err) == 0) return true;
    fprintf(stderr, "  %s: launch failed: %s\n", name.c_str(), err);
    return false;
}

inline void report(const std::string &name, bool ok) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name.c_str());
    fflush(stdout);
    if (!ok) failures++;
}

inline long long jint(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

/* kdiff_moe.cpp: a mixture of experts' kernels (moe.cuh) against the cpu backend's computation; the
 * kind is the manifest's ("router_bias_add", "moe_route", "moe_gemm", "moe_combine"), k its entry. */
void test_moe_kernel(const std::string &name, const std::string &kind, MixcEmuEntry entry, const Model &m,
                     json_t *manifest, json_t *k);

/* kdiff_small.cpp: the small kernels. test_rmsnorm: width is the rows' (hidden, or head_dim for a head
 * norm); row > 0: `heads` rows of width a token in fused qkv rows, a token's `row` elements apart.
 * test_add_rmsnorm: the fused residual add against the model's own rmsnorm kernel rms on the sum. */
void test_rmsnorm(const std::string &name, MixcEmuEntry entry, const Model &m, int width, int heads, int row);
void test_add_rmsnorm(const std::string &name, MixcEmuEntry entry, MixcEmuEntry rms, const Model &m);
void test_elementwise(const std::string &name, MixcEmuEntry entry, const Model &m, bool silu, long long ffn);
void test_embed(const std::string &name, MixcEmuEntry entry, const Model &m);
void test_argmax(const std::string &name, MixcEmuEntry entry, const Model &m);

}  // namespace kdiff

#endif
