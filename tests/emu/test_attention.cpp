/* An FA2-style attention forward kernel (cp.async tiles, ldmatrix, mma.sync m16n8k16, quad
 * shuffles for the online softmax) run under the emulator and compared with a CPU reference in
 * double precision. It is the emulator's end-to-end test and its speed benchmark: the shape of work
 * the differential tests of the generated kernels will run.
 *
 * 128 threads per block (4 warps x 16 query rows), 64-key tiles, head_dim 64, bf16 inputs.
 * Usage: test_attention [--bench]   (--bench: a larger shape, timing only on stdout)
 */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

const int HD = 64, BQ = 64, BK = 64, LDS = HD + 8; /* smem row stride: 144 bytes, 16-aligned */
const unsigned FULL = 0xffffffffu;

struct AttnParams {
    const __nv_bfloat16 *q, *k, *v; /* [heads][len][HD] */
    float *o;                       /* [heads][len][HD] */
    int len, causal;
    float scale_log2; /* softmax scale * log2(e) */
};

__device__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}

/* rows x 64 bf16 from global (row-major, HD wide) into smem with stride LDS, 16 bytes per copy */
__device__ void load_tile(__nv_bfloat16 *dst, const __nv_bfloat16 *src, int rows, int valid_rows) {
    for (int c = threadIdx.x; c < rows * (HD / 8); c += blockDim.x) {
        const int r = c / (HD / 8), col = (c % (HD / 8)) * 8;
        if (r < valid_rows) cp_async_16(dst + r * LDS + col, src + (size_t)r * HD + col);
        else memset(dst + r * LDS + col, 0, 16);
    }
    cp_async_commit();
}

extern "C" __global__ void __launch_bounds__(128) attn_fwd(const AttnParams p) {
    MIXC_DYNAMIC_SMEM(__nv_bfloat16, smem);
    __nv_bfloat16 *sQ = smem, *sK = sQ + BQ * LDS, *sV = sK + BK * LDS;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, q = lane & 3;
    const int head = blockIdx.y, q0 = blockIdx.x * BQ;
    const size_t base = (size_t)head * p.len * HD;

    load_tile(sQ, p.q + base + (size_t)q0 * HD, BQ, p.len - q0);
    cp_async_wait_all();
    __syncthreads();
    uint32_t qa[HD / 16][4];
    for (int kk = 0; kk < HD / 16; kk++)
        ldmatrix_x4(qa[kk], sQ + (warp * 16 + lane % 16) * LDS + kk * 16 + (lane / 16) * 8);

    float o[HD / 8][4] = {};
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0, 0}; /* rows g and g+8 */
    const int kv_end = p.causal ? std::min(p.len, q0 + BQ) : p.len;
    for (int kv0 = 0; kv0 < kv_end; kv0 += BK) {
        __syncthreads(); /* everyone is done with the previous tiles */
        load_tile(sK, p.k + base + (size_t)kv0 * HD, BK, p.len - kv0);
        load_tile(sV, p.v + base + (size_t)kv0 * HD, BK, p.len - kv0);
        cp_async_wait_all();
        __syncthreads();

        float s[BK / 8][4];
        for (int nt = 0; nt < BK / 8; nt++) {
            float zero[4] = {0, 0, 0, 0};
            for (int i = 0; i < 4; i++) s[nt][i] = 0;
            for (int kk = 0; kk < HD / 16; kk++) {
                uint32_t kb[2];
                ldmatrix_x2(kb, sK + (nt * 8 + lane % 8) * LDS + kk * 16 + ((lane / 8) % 2) * 8);
                mma_bf16_16816(s[nt], qa[kk], kb, kk ? s[nt] : zero);
            }
        }
        float mnew[2];
        for (int h = 0; h < 2; h++) {
            const int row = q0 + warp * 16 + g + 8 * h;
            float mx = m[h];
            for (int nt = 0; nt < BK / 8; nt++)
                for (int e = 0; e < 2; e++) {
                    const int col = kv0 + nt * 8 + 2 * q + e;
                    float &x = s[nt][2 * h + e];
                    x = (col >= p.len || (p.causal && col > row)) ? -INFINITY : x * p.scale_log2;
                    mx = fmaxf(mx, x);
                }
            mx = fmaxf(mx, __shfl_xor_sync(FULL, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(FULL, mx, 2));
            mnew[h] = mx;
        }
        for (int h = 0; h < 2; h++) {
            const float corr = m[h] == -INFINITY ? 0.f : exp2f(m[h] - mnew[h]);
            float sum = 0;
            for (int nt = 0; nt < BK / 8; nt++)
                for (int e = 0; e < 2; e++) {
                    float &x = s[nt][2 * h + e];
                    x = mnew[h] == -INFINITY ? 0.f : exp2f(x - mnew[h]);
                    sum += x;
                }
            sum += __shfl_xor_sync(FULL, sum, 1);
            sum += __shfl_xor_sync(FULL, sum, 2);
            l[h] = l[h] * corr + sum;
            m[h] = mnew[h];
            for (int dt = 0; dt < HD / 8; dt++) {
                o[dt][2 * h] *= corr;
                o[dt][2 * h + 1] *= corr;
            }
        }
        for (int kk = 0; kk < BK / 16; kk++) {
            /* the C fragments of two key n-tiles are the A fragment of one 16-key k-step */
            uint32_t pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                              pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
            for (int dt = 0; dt < HD / 8; dt++) {
                uint32_t vb[2];
                ldmatrix_x2_trans(vb, sV + (kk * 16 + lane % 16) * LDS + dt * 8);
                mma_bf16_16816(o[dt], pa, vb, o[dt]);
            }
        }
    }
    for (int h = 0; h < 2; h++) {
        const int row = q0 + warp * 16 + g + 8 * h;
        if (row >= p.len) continue;
        for (int dt = 0; dt < HD / 8; dt++) {
            float *dst = p.o + base + (size_t)row * HD + dt * 8 + 2 * q;
            dst[0] = o[dt][2 * h] / l[h];
            dst[1] = o[dt][2 * h + 1] / l[h];
        }
    }
}
MIXC_EMU_ENTRY(attn_fwd, AttnParams)

struct Problem {
    int heads, len, causal;
    std::vector<__nv_bfloat16> q, k, v;
    std::vector<float> o;
};

Problem make_problem(int heads, int len, int causal, unsigned seed) {
    Problem pr{heads, len, causal, {}, {}, {}, {}};
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    const size_t n = (size_t)heads * len * HD;
    for (auto *t : {&pr.q, &pr.k, &pr.v}) {
        t->resize(n);
        for (auto &x : *t) x = __float2bfloat16(dist(rng));
    }
    pr.o.assign(n, NAN);
    return pr;
}

int launch(Problem &pr, char *err, size_t errlen) {
    AttnParams p{pr.q.data(), pr.k.data(), pr.v.data(), pr.o.data(), pr.len, pr.causal,
                 (float)(1.0 / std::sqrt((double)HD) * 1.4426950408889634)};
    dim3 grid((pr.len + BQ - 1) / BQ, pr.heads), block(128);
    size_t smem = (size_t)(BQ + 2 * BK) * LDS * sizeof(__nv_bfloat16);
    return mixc_emu_launch(attn_fwd_emu_entry, &p, grid, block, smem, err, errlen);
}

/* Largest absolute difference from softmax(QK^T/sqrt(d)) V in double. */
double max_error(const Problem &pr) {
    double worst = 0;
    std::vector<double> sc(pr.len);
    for (int h = 0; h < pr.heads; h++)
        for (int i = 0; i < pr.len; i++) {
            const size_t b = (size_t)h * pr.len * HD;
            const int n = pr.causal ? i + 1 : pr.len;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int c = 0; c < HD; c++)
                    d += (double)__bfloat162float(pr.q[b + i * HD + c]) * __bfloat162float(pr.k[b + j * HD + c]);
                sc[j] = d / std::sqrt((double)HD);
                mx = std::max(mx, sc[j]);
            }
            for (int j = 0; j < n; j++) sum += sc[j] = std::exp(sc[j] - mx);
            for (int c = 0; c < HD; c++) {
                double want = 0;
                for (int j = 0; j < n; j++) want += sc[j] * __bfloat162float(pr.v[b + j * HD + c]);
                want /= sum;
                double got = pr.o[b + (size_t)i * HD + c];
                worst = std::max(worst, std::isfinite(got) ? std::fabs(got - want) : INFINITY);
            }
        }
    return worst;
}

} // namespace

int main(int argc, char **argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    const bool bench = argc > 1 && !strcmp(argv[1], "--bench");
    int failures = 0;
    struct Case { int heads, len, causal; } cases[] = {{2, 200, 0}, {2, 200, 1}, {1, 64, 1}};
    struct Case bench_case = {4, 512, 0};
    for (const Case &c : bench ? std::vector<Case>{bench_case} : std::vector<Case>(cases, cases + 3)) {
        Problem pr = make_problem(c.heads, c.len, c.causal, 1234 + c.len);
        char err[512] = "";
        MixcEmuStats before, after;
        mixc_emu_get_stats(&before);
        auto t0 = std::chrono::steady_clock::now();
        int rc = launch(pr, err, sizeof err);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        mixc_emu_get_stats(&after);
        const double flops = 4.0 * c.heads * (double)c.len * c.len * HD * (c.causal ? 0.5 : 1.0);
        printf("INFO attention heads=%d len=%d causal=%d: %.1f ms, %llu warp collectives, %llu context switches, "
               "%.0f ns/switch (upper bound), %.2f GFLOP/s\n",
               c.heads, c.len, c.causal, ms, after.warp_collectives - before.warp_collectives,
               after.context_switches - before.context_switches,
               ms * 1e6 / (double)(after.context_switches - before.context_switches), flops / ms / 1e6);
        if (bench) continue;
        char name[96];
        snprintf(name, sizeof name, "fa2_attention_h%d_len%d_%s", c.heads, c.len, c.causal ? "causal" : "full");
        double err_max = rc == 0 ? max_error(pr) : INFINITY;
        /* P is rounded to bf16 before P.V, as on the GPU: ~3 significant digits */
        const bool ok = rc == 0 && err_max < 2e-2;
        printf("%s %s\n", ok ? "PASS" : "FAIL", name);
        if (!ok) printf("    rc %d, max error %g %s\n", rc, err_max, err);
        failures += !ok;
    }
    mixc_emu_release();
    return failures ? 1 : 0;
}
