/* kdiff_moe.cpp — a mixture of experts' kernels (templates/moe.cuh) on the CPU emulator against the
 * fp32 references of ref.c, which compute what the cpu backend does (runtime/cpu/cpu_backend.c): the
 * router's bias, the route (the chosen experts exactly, their weights by the layout's router), the
 * gathered gate/up and down GEMMs (bias, sigmoid_input's scaling, an expert index out of range giving a
 * zero row) and the combine. Geometry from mixc_params.h, as codegen.c computes it. */
#include "mixc_params.h"

#include <cmath>
#include <cstring>

#include "kdiff.h"

namespace kdiff {

namespace {

/* The manifest's "experts" object. */
struct Moe {
    int experts, per_token, router, shared_ffn, bias;
};

Moe read_moe(json_t *man) {
    json_t *x = json_object_get(man, "experts");
    const std::string router = json_string_value(json_object_get(x, "router"));
    return {(int)jint(x, "experts"), (int)jint(x, "experts_per_token"),
            router == "topk_softmax" ? MIXC_ROUTER_TOPK_SOFTMAX
            : router == "softmax_topk" ? MIXC_ROUTER_SOFTMAX_TOPK : MIXC_ROUTER_SIGMOID_INPUT,
            (int)jint(x, "shared_expert_ffn"), json_is_true(json_object_get(x, "moe_bias"))};
}

/* A route as the route kernel writes it: per token k distinct experts (a shuffled prefix of 0..E-1)
 * and weights in (0, 1]. */
std::vector<float> random_route(const Moe &e, int tokens) {
    std::vector<float> route((size_t)tokens * e.per_token * 2);
    std::vector<int> ids(e.experts);
    for (int t = 0; t < tokens; t++) {
        for (int i = 0; i < e.experts; i++) ids[i] = i;
        for (int i = e.experts - 1; i > 0; i--) std::swap(ids[i], ids[(int)((uniform() + 1.0f) * 0.5f * (float)(i + 1)) % (i + 1)]);
        for (int j = 0; j < e.per_token; j++) {
            route[2 * ((size_t)t * e.per_token + j)] = (float)ids[j];
            route[2 * ((size_t)t * e.per_token + j) + 1] = 0.5f + 0.5f * std::fabs(uniform());
        }
    }
    return route;
}

void test_router_bias(const std::string &name, MixcEmuEntry entry, const Model &m, const Moe &e) {
    const int T = 37;
    const long long n = (long long)T * e.experts;
    std::vector<float> x(n), want(n);
    for (float &v : x) v = 2.0f * uniform();
    Tensor bias(e.experts, m.is_fp16);
    bias.fill_random(1.0f);
    for (long long i = 0; i < n; i++) want[i] = x[i] + bias.f[i % e.experts];
    BiasAddParams p = {x.data(), bias.data(), n};
    bool ok = launch(entry, &p, {(unsigned)((n + MIXC_SMALL_THREADS - 1) / MIXC_SMALL_THREADS), 1, 1},
                     {MIXC_SMALL_THREADS, 1, 1}, 0, name);
    report(name, ok && ref_compare(name.c_str(), x.data(), want.data(), n, 0, 0, 5) == 0);   /* one fp32 add */
}

/* 70 tokens (two blocks, the second partial); token 3's two largest logits are equal (the lower index
 * first). The chosen experts must be the reference's exactly, their weights within fp32 roundings. */
void test_route(const std::string &name, MixcEmuEntry entry, const Moe &e) {
    const int T = 70, K = e.per_token;
    std::vector<float> logits((size_t)T * e.experts), route((size_t)T * K * 2, -7.0f), want(route.size());
    for (float &v : logits) v = 3.0f * uniform();
    float *tie = &logits[3 * (size_t)e.experts];
    tie[e.experts - 1] = tie[1] = 5.0f;
    MoeRouteParams p = {logits.data(), route.data(), T};
    bool ok = launch(entry, &p, {(T + MOE_ROUTE_THREADS - 1) / MOE_ROUTE_THREADS, 1, 1}, {MOE_ROUTE_THREADS, 1, 1}, 0,
                     name);
    ref_moe_route(want.data(), logits.data(), T, e.experts, K, e.router);
    size_t wrong_ids = 0;
    std::vector<float> got_w(T * K), want_w(T * K);
    for (size_t r = 0; r < (size_t)T * K; r++) {
        if (route[2 * r] != want[2 * r] && wrong_ids++ < 5)
            fprintf(stderr, "  %s: row %zu: expert %g, the reference chose %g\n", name.c_str(), r, route[2 * r], want[2 * r]);
        got_w[r] = route[2 * r + 1];
        want_w[r] = want[2 * r + 1];
    }
    ok = ok && wrong_ids == 0 && want[2 * 3 * K] == 1.0f;
    report(name, ok && ref_compare(name.c_str(), got_w.data(), want_w.data(), got_w.size(), 1e-6f, 1e-5f, 5) == 0);
}

/* gate/up (rows read their token's x) or down (their own row of x), over 5 tokens; the last row's
 * expert is out of range and must come out zero. */
void test_gemm(const std::string &name, MixcEmuEntry entry, const Model &m, const Moe &e, json_t *k) {
    json_t *g = json_object_get(k, "moe");
    const int in = (int)jint(g, "in"), out = (int)jint(g, "out"), T = 5, K = e.per_token, rows = T * K;
    const bool down = json_is_true(json_object_get(g, "down"));
    const bool scale = !down && e.router == MIXC_ROUTER_SIGMOID_INPUT;
    std::vector<float> route = random_route(e, T);
    route[2 * (rows - 1)] = (float)e.experts;
    Tensor x((size_t)(down ? rows : T) * in, m.is_fp16), w((size_t)e.experts * out * in, m.is_fp16);
    Tensor bias((size_t)e.experts * out, m.is_fp16), y((size_t)rows * out, m.is_fp16);
    x.fill_random(2.0f);
    w.fill_random(1.0f / std::sqrt((float)in));
    bias.fill_random(0.5f);
    std::fill(y.raw.begin(), y.raw.end(), (uint16_t)0x1234);
    MoeGemmParams p = {x.data(), route.data(), w.data(), e.bias ? bias.data() : nullptr, y.data(), T};
    bool ok = launch(entry, &p, {(unsigned)rows, (unsigned)((out + MOE_GEMM_COLS - 1) / MOE_GEMM_COLS), 1},
                     {MOE_GEMM_THREADS, 1, 1}, 0, name);
    std::vector<float> want(y.f.size()), got = y.decoded();
    ref_moe_gemm(want.data(), x.f.data(), route.data(), w.f.data(), e.bias ? bias.f.data() : nullptr, rows, K,
                 e.experts, in, out, down, scale);
    const Tol t = tol_for(m);
    report(name, ok && ref_compare(name.c_str(), got.data(), want.data(), want.size(), t.atol, t.rtol, 5) == 0);
}

void test_combine(const std::string &name, MixcEmuEntry entry, const Model &m, const Moe &e) {
    const int T = 7, K = e.per_token;
    const bool unweighted = e.router == MIXC_ROUTER_SIGMOID_INPUT;
    std::vector<float> route = random_route(e, T);
    Tensor x((size_t)T * K * m.hidden, m.is_fp16), y((size_t)T * m.hidden, m.is_fp16);
    x.fill_random(2.0f);
    MoeCombineParams p = {x.data(), route.data(), y.data(), T};
    const long long n = (long long)T * m.hidden;
    bool ok = launch(entry, &p, {(unsigned)((n + MIXC_SMALL_THREADS - 1) / MIXC_SMALL_THREADS), 1, 1},
                     {MIXC_SMALL_THREADS, 1, 1}, 0, name);
    std::vector<float> want(y.f.size()), got = y.decoded();
    ref_moe_combine(want.data(), x.f.data(), route.data(), T, K, m.hidden, unweighted);
    const Tol t = tol_for(m);
    report(name, ok && ref_compare(name.c_str(), got.data(), want.data(), want.size(), t.atol, t.rtol, 5) == 0);
}

}  // namespace

void test_moe_kernel(const std::string &name, const std::string &kind, MixcEmuEntry entry, const Model &m,
                     json_t *manifest, json_t *k) {
    const Moe e = read_moe(manifest);
    if (kind == "router_bias_add") test_router_bias(name, entry, m, e);
    else if (kind == "moe_route") test_route(name, entry, e);
    else if (kind == "moe_gemm") test_gemm(name, entry, m, e, k);
    else if (kind == "moe_combine") test_combine(name, entry, m, e);
    else report(name + " (no test for kind " + kind + ")", false);
}

}  // namespace kdiff
