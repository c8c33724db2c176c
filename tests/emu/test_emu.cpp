/* Known-answer tests of the CUDA-on-CPU emulator (runtime/emu).
 *
 * Compiled like an emulated kernels.cu: g++ -DMIXC_EMU -include runtime/emu/mixc_emu.h. Every
 * kernel follows the kernel contract (extern "C" __global__, one params struct, MIXC_EMU_ENTRY).
 * Fragment layouts are written here from the PTX ISA tables, independently of the emulator's
 * formulas; the host computes every expected value itself.
 * Prints "PASS name" / "FAIL name" lines; exits 1 if anything failed.
 */
#include <cuda_bf16.h> /* again, after the emulator header: must be harmless */
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

static int failures = 0;

static void report(const std::string &name, bool ok, const std::string &detail = "") {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name.c_str());
    if (!ok && !detail.empty()) printf("    %s\n", detail.c_str());
    if (!ok) failures++;
}

static std::string launch_err;
static int run(MixcEmuEntry entry, const void *params, dim3 grid, dim3 block, size_t smem = 0) {
    char err[1024] = "";
    int rc = mixc_emu_launch(entry, params, grid, block, smem, err, sizeof err);
    launch_err = err;
    return rc;
}

static bool contains(const std::string &s, const std::string &what) { return s.find(what) != std::string::npos; }

static const unsigned FULL = 0xffffffffu;

/* ------------------------------------------------------------------ mma m16n8k16 */
__device__ uint16_t encode16(float v, bool bf16) {
    if (bf16) {
        __nv_bfloat16 b = __float2bfloat16(v);
        return __nv_bfloat16_raw(b).x;
    }
    __half h = __float2half(v);
    return __half_raw(h).x;
}
__device__ uint32_t pack2(uint16_t lo, uint16_t hi) { return (uint32_t)lo | ((uint32_t)hi << 16); }

/* mode 0: A = unit matrix at (u/16, u%16), B[k][n] = 1 + 8k + n, C = 0.
 * mode 1: B = unit matrix at (u/8, u%8), A[m][k] = 1 + 16m + k, C[m][n] = 1000 + 8m + n.
 * All values are integers <= 256: exact in bf16 and fp16. */
__device__ float a_val(int mode, int u, int m, int k) { return mode == 0 ? (m * 16 + k == u ? 1.f : 0.f) : 1.f + 16 * m + k; }
__device__ float b_val(int mode, int u, int k, int n) { return mode == 0 ? 1.f + 8 * k + n : (k * 8 + n == u ? 1.f : 0.f); }
__device__ float c_val(int mode, int m, int n) { return mode == 0 ? 0.f : 1000.f + 8 * m + n; }

struct MmaParams {
    int bf16, mode, swap_fragment;
    float *out; /* [units][16][8] */
};

extern "C" __global__ void k_mma_units(const MmaParams p) {
    const int lane = threadIdx.x, g = lane >> 2, q = lane & 3;
    const int units = p.mode == 0 ? 256 : 128;
    const bool bf = p.bf16 != 0;
    for (int u = 0; u < units; u++) {
#define A_(m, k) encode16(a_val(p.mode, u, m, k), bf)
#define B_(k, n) encode16(b_val(p.mode, u, k, n), bf)
        /* PTX ISA: a0,a1 (g, 2q..2q+1); a2,a3 (g+8, ..); a4,a5 (g, 2q+8..); a6,a7 (g+8, 2q+8..) */
        uint32_t a[4] = {pack2(A_(g, 2 * q), A_(g, 2 * q + 1)), pack2(A_(g + 8, 2 * q), A_(g + 8, 2 * q + 1)),
                         pack2(A_(g, 2 * q + 8), A_(g, 2 * q + 9)), pack2(A_(g + 8, 2 * q + 8), A_(g + 8, 2 * q + 9))};
        /* b0,b1 (rows 2q..2q+1, col g); b2,b3 (rows 2q+8.., col g) */
        uint32_t b[2] = {pack2(B_(2 * q, g), B_(2 * q + 1, g)), pack2(B_(2 * q + 8, g), B_(2 * q + 9, g))};
#undef A_
#undef B_
        if (p.swap_fragment) { /* a deliberately wrong fragment: must give wrong results */
            uint32_t t = a[1];
            a[1] = a[2];
            a[2] = t;
        }
        /* c0,c1 (g, 2q..2q+1); c2,c3 (g+8, 2q..2q+1) */
        float c[4] = {c_val(p.mode, g, 2 * q), c_val(p.mode, g, 2 * q + 1), c_val(p.mode, g + 8, 2 * q),
                      c_val(p.mode, g + 8, 2 * q + 1)};
        float d[4];
        if (bf) mma_bf16_16816(d, a, b, c);
        else mma_fp16_16816(d, a, b, c);
        float *o = p.out + u * 128;
        o[g * 8 + 2 * q] = d[0];
        o[g * 8 + 2 * q + 1] = d[1];
        o[(g + 8) * 8 + 2 * q] = d[2];
        o[(g + 8) * 8 + 2 * q + 1] = d[3];
    }
}
MIXC_EMU_ENTRY(k_mma_units, MmaParams)

/* Returns the number of wrong elements. */
static int check_mma_units(int bf16, int mode, int swap) {
    const int units = mode == 0 ? 256 : 128;
    std::vector<float> out(units * 128, -1.f);
    MmaParams p{bf16, mode, swap, out.data()};
    if (run(k_mma_units_emu_entry, &p, dim3(1), dim3(32)) != 0) return -1;
    int wrong = 0;
    for (int u = 0; u < units; u++)
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++) {
                double want = c_val(mode, m, n);
                for (int k = 0; k < 16; k++) want += (double)a_val(mode, u, m, k) * b_val(mode, u, k, n);
                if (out[u * 128 + m * 8 + n] != (float)want) wrong++;
            }
    return wrong;
}

static void test_mma_units() {
    for (int bf16 = 0; bf16 < 2; bf16++)
        for (int mode = 0; mode < 2; mode++) {
            int wrong = check_mma_units(bf16, mode, 0);
            report(std::string("mma_") + (bf16 ? "bf16" : "fp16") + (mode ? "_unit_B" : "_unit_A"), wrong == 0,
                   wrong < 0 ? launch_err : std::to_string(wrong) + " wrong elements");
        }
    int wrong = check_mma_units(1, 0, 1);
    report("mma_wrong_fragment_detected", wrong > 0, "a swapped A fragment still gave the right product");
}

/* ------------------------------------------------------------------ ldmatrix */
struct LdmParams {
    int nmat, trans;
    const int *perm; /* smem row of (matrix j, row r) = perm[8j + r] */
    uint32_t *out;   /* [32 lanes][4] */
};

__device__ uint16_t ldm_val(int j, int r, int c) { return (uint16_t)(1 + j * 64 + r * 8 + c); }

extern "C" __global__ void k_ldmatrix(const LdmParams p) {
    __shared__ __align__(16) uint16_t S[32][8];
    const int lane = threadIdx.x, j = lane / 8, r = lane % 8;
    for (int c = 0; c < 8; c++) S[p.perm[lane]][c] = ldm_val(j, r, c);
    __syncwarp();
    /* lanes past 8*nmat give a bogus (unaligned) address: the hardware ignores it, so must we */
    const void *row = lane < 8 * p.nmat ? (const void *)&S[p.perm[lane]][0] : (const void *)((char *)&S[0][0] + 3);
    uint32_t reg[4] = {0, 0, 0, 0};
    if (!p.trans) {
        if (p.nmat == 1) ldmatrix_x1(reg, row);
        if (p.nmat == 2) ldmatrix_x2(reg, row);
        if (p.nmat == 4) ldmatrix_x4(reg, row);
    } else {
        if (p.nmat == 1) ldmatrix_x1_trans(reg, row);
        if (p.nmat == 2) ldmatrix_x2_trans(reg, row);
        if (p.nmat == 4) ldmatrix_x4_trans(reg, row);
    }
    for (int k = 0; k < 4; k++) p.out[lane * 4 + k] = reg[k];
}
MIXC_EMU_ENTRY(k_ldmatrix, LdmParams)

static void test_ldmatrix() {
    std::vector<int> perm(32);
    for (int i = 0; i < 32; i++) perm[i] = (i * 13 + 5) % 32; /* rows scattered over smem */
    for (int trans = 0; trans < 2; trans++)
        for (int nmat : {1, 2, 4}) {
            std::vector<uint32_t> out(128, 0xdeadbeef);
            LdmParams p{nmat, trans, perm.data(), out.data()};
            std::string name = "ldmatrix_x" + std::to_string(nmat) + (trans ? "_trans" : "");
            if (run(k_ldmatrix_emu_entry, &p, dim3(1), dim3(32)) != 0) {
                report(name, false, launch_err);
                continue;
            }
            int wrong = 0;
            for (int t = 0; t < 32; t++)
                for (int j = 0; j < 4; j++) {
                    uint32_t want = 0;
                    if (j < nmat) {
                        /* PTX ISA: thread t holds row t/4, cols 2(t%4) and 2(t%4)+1 of matrix j;
                         * .trans holds the transpose: rows 2(t%4), 2(t%4)+1 of column t/4 */
                        uint16_t lo = trans ? ldm_val(j, 2 * (t % 4), t / 4) : ldm_val(j, t / 4, 2 * (t % 4));
                        uint16_t hi = trans ? ldm_val(j, 2 * (t % 4) + 1, t / 4) : ldm_val(j, t / 4, 2 * (t % 4) + 1);
                        want = (uint32_t)lo | ((uint32_t)hi << 16);
                    }
                    if (out[t * 4 + j] != want) wrong++;
                }
            report(name, wrong == 0, std::to_string(wrong) + " wrong registers");
        }
}

/* ------------------------------------------------------------------ cp.async + ldmatrix + mma GEMM */
struct GemmParams {
    const __nv_bfloat16 *A; /* 16x16 row-major */
    const __nv_bfloat16 *B; /* 16x8 (K x N) row-major */
    float *D;               /* 16x8 */
};

extern "C" __global__ void k_gemm_tile(const GemmParams p) {
    __shared__ __align__(16) __nv_bfloat16 sA[16][16];
    __shared__ __align__(16) __nv_bfloat16 sB[16][8];
    const int lane = threadIdx.x;
    cp_async_16(&sA[lane / 2][(lane % 2) * 8], p.A + lane * 8); /* 32 chunks of 16 bytes */
    if (lane < 16) cp_async_16(&sB[lane][0], p.B + lane * 8);
    cp_async_commit();
    cp_async_wait_all();
    __syncwarp();
    uint32_t a[4], b[2];
    ldmatrix_x4(a, &sA[lane % 16][(lane / 16) * 8]);
    ldmatrix_x2_trans(b, &sB[lane % 16][0]);
    float c[4] = {0, 0, 0, 0}, d[4];
    mma_bf16_16816(d, a, b, c);
    const int g = lane >> 2, q = lane & 3;
    p.D[g * 8 + 2 * q] = d[0];
    p.D[g * 8 + 2 * q + 1] = d[1];
    p.D[(g + 8) * 8 + 2 * q] = d[2];
    p.D[(g + 8) * 8 + 2 * q + 1] = d[3];
}
MIXC_EMU_ENTRY(k_gemm_tile, GemmParams)

static void test_gemm_tile() {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-2.f, 2.f);
    alignas(16) __nv_bfloat16 A[256], B[128];
    for (auto &x : A) x = __float2bfloat16(dist(rng));
    for (auto &x : B) x = __float2bfloat16(dist(rng));
    std::vector<float> D(128, NAN);
    GemmParams p{A, B, D.data()};
    if (run(k_gemm_tile_emu_entry, &p, dim3(1), dim3(32)) != 0) return report("gemm_tile_cp_async_ldmatrix_mma", false, launch_err);
    double worst = 0;
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++) {
            double want = 0;
            for (int k = 0; k < 16; k++) want += (double)__bfloat162float(A[m * 16 + k]) * __bfloat162float(B[k * 8 + n]);
            worst = std::max(worst, std::fabs(want - D[m * 8 + n]));
        }
    report("gemm_tile_cp_async_ldmatrix_mma", worst < 1e-4, "max error " + std::to_string(worst));
}

/* ------------------------------------------------------------------ shuffles */
struct ShflParams {
    int width;
    int *idx, *up, *down, *xr;  /* [64] each, int flavour */
    float *xf;                  /* xor on float */
    double *idx_d;              /* idx on double (8 bytes) */
    unsigned *up_u;             /* up on unsigned */
    __nv_bfloat16 *down_bf;     /* down on bf16 (2 bytes) */
    int *split;                 /* disjoint half-warp masks in divergent branches */
};

__device__ int shfl_input(int t) { return t * 10 + 7; }

extern "C" __global__ void k_shfl(const ShflParams p) {
    const int t = threadIdx.x, lane = t % 32, w = p.width;
    const int v = shfl_input(t);
    p.idx[t] = __shfl_sync(FULL, v, (lane * 5 + 3) % 32, w);
    p.up[t] = __shfl_up_sync(FULL, v, 3, w);
    p.down[t] = __shfl_down_sync(FULL, v, 5, w);
    p.xr[t] = __shfl_xor_sync(FULL, v, (lane % 5) + 1, w); /* per-lane lane masks */
    p.xf[t] = __shfl_xor_sync(FULL, (float)v + 0.5f, 1, w);
    p.idx_d[t] = __shfl_sync(FULL, (double)v * 1e10, 31 - lane, w);
    p.up_u[t] = __shfl_up_sync(FULL, (unsigned)v + 4000000000u, 1, w);
    p.down_bf[t] = __shfl_down_sync(FULL, __float2bfloat16((float)lane), 2, w);
    if (lane < 16) p.split[t] = __shfl_xor_sync(0x0000ffffu, v, 1);
    else p.split[t] = __shfl_down_sync(0xffff0000u, v, 2);
}
MIXC_EMU_ENTRY(k_shfl, ShflParams)

/* The CUDA programming guide's definitions, for lane L of a group of `w` lanes. */
static int want_src(const char *kind, int lane, int arg, int w) {
    const int seg = lane / w * w, pos = lane % w;
    if (!strcmp(kind, "idx")) return seg + arg % w;
    if (!strcmp(kind, "up")) return pos - arg >= 0 ? lane - arg : lane;
    if (!strcmp(kind, "down")) return pos + arg < w ? lane + arg : lane;
    int src = lane ^ arg; /* xor: lanes of later groups are out of reach */
    return src >= seg + w ? lane : src;
}

static void test_shuffles() {
    for (int w : {32, 16, 8, 4, 2, 1}) {
        std::vector<int> idx(64), up(64), down(64), xr(64), split(64);
        std::vector<float> xf(64);
        std::vector<double> idx_d(64);
        std::vector<unsigned> up_u(64);
        std::vector<__nv_bfloat16> down_bf(64);
        ShflParams p{w, idx.data(), up.data(), down.data(), xr.data(), xf.data(), idx_d.data(), up_u.data(),
                     down_bf.data(), split.data()};
        std::string suffix = "_width" + std::to_string(w);
        if (run(k_shfl_emu_entry, &p, dim3(1), dim3(64)) != 0) {
            report("shfl" + suffix, false, launch_err);
            continue;
        }
        int bad_idx = 0, bad_up = 0, bad_down = 0, bad_xor = 0, bad_types = 0, bad_split = 0;
        for (int t = 0; t < 64; t++) {
            const int lane = t % 32, base = t - lane;
            auto in = [&](int src) { return shfl_input(base + src); };
            bad_idx += idx[t] != in(want_src("idx", lane, (lane * 5 + 3) % 32, w));
            bad_up += up[t] != in(want_src("up", lane, 3, w));
            bad_down += down[t] != in(want_src("down", lane, 5, w));
            bad_xor += xr[t] != in(want_src("xor", lane, lane % 5 + 1, w));
            bad_types += xf[t] != (float)in(want_src("xor", lane, 1, w)) + 0.5f;
            bad_types += idx_d[t] != (double)in(want_src("idx", lane, 31 - lane, w)) * 1e10;
            bad_types += up_u[t] != (unsigned)in(want_src("up", lane, 1, w)) + 4000000000u;
            bad_types += __bfloat162float(down_bf[t]) != (float)want_src("down", lane, 2, w);
            int want_split = lane < 16 ? in(lane ^ 1) : (lane + 2 < 32 ? in(lane + 2) : in(lane));
            bad_split += split[t] != want_split;
        }
        report("shfl_idx" + suffix, bad_idx == 0, std::to_string(bad_idx) + " wrong");
        report("shfl_up" + suffix, bad_up == 0, std::to_string(bad_up) + " wrong");
        report("shfl_down" + suffix, bad_down == 0, std::to_string(bad_down) + " wrong");
        report("shfl_xor" + suffix, bad_xor == 0, std::to_string(bad_xor) + " wrong");
        report("shfl_float_double_unsigned_bf16" + suffix, bad_types == 0, std::to_string(bad_types) + " wrong");
        if (w == 32) report("shfl_disjoint_masks_in_divergent_branches", bad_split == 0, std::to_string(bad_split) + " wrong");
    }
}

/* ------------------------------------------------------------------ votes */
struct VoteParams {
    unsigned *ballot, *half_ballot;
    int *any, *all, *any_none, *all_true;
};

__device__ int vote_pred(int t) { return (t % 3 == 0) || (t == 40); }

extern "C" __global__ void k_vote(const VoteParams p) {
    const int t = threadIdx.x, lane = t % 32;
    const int pred = vote_pred(t);
    p.ballot[t] = __ballot_sync(FULL, pred);
    p.any[t] = __any_sync(FULL, pred);
    p.all[t] = __all_sync(FULL, pred);
    p.any_none[t] = __any_sync(FULL, 0);
    p.all_true[t] = __all_sync(FULL, 7);
    if (lane % 2) p.half_ballot[t] = __ballot_sync(0xaaaaaaaau, lane % 4 == 1);
    else p.half_ballot[t] = __ballot_sync(0x55555555u, 1);
}
MIXC_EMU_ENTRY(k_vote, VoteParams)

static void test_votes() {
    std::vector<unsigned> ballot(64), half(64);
    std::vector<int> any(64), all(64), none(64), alltrue(64);
    VoteParams p{ballot.data(), half.data(), any.data(), all.data(), none.data(), alltrue.data()};
    if (run(k_vote_emu_entry, &p, dim3(1), dim3(64)) != 0) return report("vote", false, launch_err);
    int bad_ballot = 0, bad_anyall = 0, bad_half = 0;
    for (int t = 0; t < 64; t++) {
        const int base = t - t % 32;
        unsigned want = 0;
        for (int l = 0; l < 32; l++) want |= (unsigned)vote_pred(base + l) << l;
        bad_ballot += ballot[t] != want;
        bad_anyall += any[t] != (want != 0) || all[t] != (want == FULL) || none[t] != 0 || alltrue[t] != 1;
        unsigned want_half = t % 2 ? 0x22222222u : 0x55555555u;
        bad_half += half[t] != want_half;
    }
    report("vote_ballot_two_warps", bad_ballot == 0, std::to_string(bad_ballot) + " wrong");
    report("vote_any_all", bad_anyall == 0, std::to_string(bad_anyall) + " wrong");
    report("vote_ballot_partial_masks", bad_half == 0, std::to_string(bad_half) + " wrong");
}

/* ------------------------------------------------------------------ barriers, indices, shapes */
struct BarParams {
    int rounds;
    int *acc;      /* [blocks * threads] */
    unsigned *ids; /* [blocks * threads][6]: threadIdx, blockIdx */
};

__device__ int bar_value(unsigned t, int r, unsigned b) { return (int)(t * 31 + r * 7 + b * 1000); }

extern "C" __global__ void k_barrier(const BarParams p) {
    MIXC_DYNAMIC_SMEM(int, s);
    const unsigned n = blockDim.x * blockDim.y * blockDim.z;
    const unsigned t = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
    const unsigned b = blockIdx.x + blockIdx.y * gridDim.x + blockIdx.z * gridDim.x * gridDim.y;
    int acc = 0;
    for (int r = 0; r < p.rounds; r++) {
        s[t] = bar_value(t, r, b);
        __syncthreads();
        acc += s[(t * 17 + r + 1) % n]; /* another thread's write of this round */
        __syncthreads();
    }
    const size_t g = (size_t)b * n + t;
    p.acc[g] = acc;
    unsigned *id = p.ids + g * 6;
    id[0] = threadIdx.x, id[1] = threadIdx.y, id[2] = threadIdx.z;
    id[3] = blockIdx.x, id[4] = blockIdx.y, id[5] = blockIdx.z;
}
MIXC_EMU_ENTRY(k_barrier, BarParams)

static void test_barrier_shapes() {
    struct Shape { dim3 grid, block; } shapes[] = {
        {dim3(1), dim3(1)},          {dim3(2), dim3(37)},          {dim3(3, 2, 2), dim3(8, 4, 2)},
        {dim3(1, 2, 3), dim3(5, 3, 7)}, {dim3(2), dim3(1024)},     {dim3(1), dim3(32, 32, 1)},
        {dim3(2, 1, 1), dim3(3, 1, 64)},
    };
    for (int reverse = 0; reverse < 2; reverse++) {
        mixc_emu_set_schedule(reverse);
        for (const Shape &s : shapes) {
            const unsigned n = s.block.x * s.block.y * s.block.z, nb = s.grid.x * s.grid.y * s.grid.z;
            std::vector<int> acc(n * nb, -1);
            std::vector<unsigned> ids(n * nb * 6, 999999);
            BarParams p{3, acc.data(), ids.data()};
            char name[128];
            snprintf(name, sizeof name, "barrier_order_grid%ux%ux%u_block%ux%ux%u%s", s.grid.x, s.grid.y, s.grid.z,
                     s.block.x, s.block.y, s.block.z, reverse ? "_reverse" : "");
            if (run(k_barrier_emu_entry, &p, s.grid, s.block, n * sizeof(int)) != 0) {
                report(name, false, launch_err);
                continue;
            }
            int bad = 0;
            for (unsigned b = 0; b < nb; b++)
                for (unsigned t = 0; t < n; t++) {
                    int want = 0;
                    for (int r = 0; r < 3; r++) want += bar_value((t * 17 + r + 1) % n, r, b);
                    const unsigned *id = &ids[(b * n + t) * 6];
                    bad += acc[b * n + t] != want;
                    bad += id[0] != t % s.block.x || id[1] != t / s.block.x % s.block.y ||
                           id[2] != t / (s.block.x * s.block.y);
                    bad += id[3] != b % s.grid.x || id[4] != b / s.grid.x % s.grid.y || id[5] != b / (s.grid.x * s.grid.y);
                }
            report(name, bad == 0, std::to_string(bad) + " wrong values or indices");
        }
    }
    mixc_emu_set_schedule(0);
}

/* ------------------------------------------------------------------ errors are reported */
struct ModeParams {
    int mode;
    int *out;
};

extern "C" __global__ void k_misbehave(const ModeParams p) {
    const int t = threadIdx.x;
    switch (p.mode) {
    case 0: /* barrier in divergent code: half the block exits */
        if (t < 32) __syncthreads();
        break;
    case 1: /* two different barriers */
        if (t % 2) __syncthreads();
        else __syncthreads();
        break;
    case 2: /* half a warp at a full-mask shuffle, the rest exits */
        if (t < 16) p.out[t] = __shfl_sync(FULL, t, 0);
        break;
    case 3: /* half a warp at a full-mask shuffle, the rest at a barrier */
        if (t < 16) p.out[t] = __shfl_sync(FULL, t, 0);
        else __syncthreads();
        break;
    case 4: /* a ballot meets a shuffle */
        if (t < 16) p.out[t] = (int)__ballot_sync(FULL, 1);
        else p.out[t] = __shfl_sync(FULL, t, 0);
        break;
    case 5: /* a mask without the calling lane */
        p.out[t] = __shfl_sync(t == 0 ? 0x2u : FULL, t, 0);
        break;
    case 6: { /* mma in a warp of 16 threads */
        uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
        float c[4] = {0, 0, 0, 0}, d[4];
        mma_bf16_16816(d, a, b, c);
        break;
    }
    case 7: { /* misaligned ldmatrix row */
        __shared__ __align__(16) uint16_t S[8 * 8 + 8];
        uint32_t r[1];
        ldmatrix_x1(r, &S[(t % 8) * 8 + 1]);
        break;
    }
    case 8: /* divergence only in block 2 */
        if (blockIdx.x != 2 || t < 40) __syncthreads();
        break;
    case 9: { /* misaligned cp.async */
        __shared__ __align__(16) char S[64];
        cp_async_16(S + 8, p.out);
        break;
    }
    case 10: /* shuffle width that is not a power of 2 */
        p.out[t] = __shfl_sync(FULL, t, 0, 12);
        break;
    }
}
MIXC_EMU_ENTRY(k_misbehave, ModeParams)

static void expect_error(const char *name, int mode, dim3 grid, dim3 block, std::vector<std::string> needles) {
    std::vector<int> out(4096);
    ModeParams p{mode, out.data()};
    int rc = run(k_misbehave_emu_entry, &p, grid, block);
    bool ok = rc != 0;
    for (const std::string &n : needles) ok = ok && contains(launch_err, n);
    report(name, ok, "rc " + std::to_string(rc) + ", message: " + launch_err);
}

static void test_errors() {
    expect_error("error_barrier_divergence_exit", 0, dim3(1), dim3(64),
                 {"barrier divergence: block (0,0,0): threads 0-31 at __syncthreads (test_emu.cpp:", "threads 32-63 exited"});
    /* the two call sites must be named with different lines */
    expect_error("error_barrier_two_sites", 1, dim3(1), dim3(4), {"barrier divergence", "thread 0 at __syncthreads (test_emu.cpp:"});
    {
        std::string msg = launch_err;
        size_t a = msg.find("thread 0 at __syncthreads ("), b = msg.find("thread 1 at __syncthreads (");
        bool differ = a != std::string::npos && b != std::string::npos &&
                      msg.substr(a + 27, msg.find(')', a) - a - 27) != msg.substr(b + 27, msg.find(')', b) - b - 27);
        report("error_barrier_two_sites_named", differ, msg);
    }
    expect_error("error_warp_collective_exited", 2, dim3(1), dim3(32),
                 {"warp collective deadlock", "threads 0-15 at __shfl_sync (test_emu.cpp:", "threads 16-31 exited"});
    expect_error("error_warp_collective_vs_barrier", 3, dim3(1), dim3(32),
                 {"warp collective deadlock", "threads 0-15 at __shfl_sync", "threads 16-31 at __syncthreads"});
    expect_error("error_collective_mismatch", 4, dim3(1), dim3(32), {"warp collective mismatch", "__ballot_sync", "__shfl_sync"});
    expect_error("error_mask_without_caller", 5, dim3(1), dim3(32), {"does not include the calling lane 0"});
    expect_error("error_mma_partial_warp", 6, dim3(1), dim3(16), {"mma_bf16_16816", "needs all 32 lanes"});
    expect_error("error_ldmatrix_misaligned", 7, dim3(1), dim3(32), {"ldmatrix_x1", "not 16-byte aligned"});
    expect_error("error_names_failing_block", 8, dim3(4), dim3(64), {"block (2,0,0)", "threads 0-39 at __syncthreads", "threads 40-63 exited"});
    expect_error("error_cp_async_misaligned", 9, dim3(1), dim3(32), {"cp_async_16", "16-byte aligned"});
    expect_error("error_shfl_width", 10, dim3(1), dim3(32), {"width 12 is not a power of 2"});

    std::vector<int> out(64);
    ModeParams ok{1000, out.data()};
    report("error_recovery_next_launch_runs", run(k_misbehave_emu_entry, &ok, dim3(2), dim3(64)) == 0, launch_err);

    struct Bad { const char *name; dim3 grid, block; size_t smem; const char *needle; } bads[] = {
        {"launch_rejects_zero_block", dim3(1), dim3(0), 0, "invalid block (0,1,1)"},
        {"launch_rejects_1025_threads", dim3(1), dim3(1025), 0, "at most"},
        {"launch_rejects_block_z_65", dim3(1), dim3(1, 1, 65), 0, "at most"},
        {"launch_rejects_zero_grid", dim3(0, 1, 1), dim3(32), 0, "invalid grid"},
        {"launch_rejects_huge_smem", dim3(1), dim3(32), 300000, "exceeds"},
    };
    for (const Bad &b : bads) {
        int rc = run(k_misbehave_emu_entry, &ok, b.grid, b.block, b.smem);
        report(b.name, rc != 0 && contains(launch_err, b.needle), launch_err);
    }
}

/* ------------------------------------------------------------------ atomics */
struct AtomParams {
    int *counter, *olds, *maxv, *minv, *cas_counter, *exch;
    unsigned *ucount;
    float *fsum;
    unsigned long long *ull;
};

extern "C" __global__ void k_atomics(const AtomParams p) {
    const int n = blockDim.x, gid = blockIdx.x * n + threadIdx.x;
    p.olds[gid] = atomicAdd(p.counter, 1);
    atomicAdd(p.fsum, 0.25f);
    atomicMax(p.maxv, (gid * 7919) % 10007);
    atomicMin(p.minv, (gid * 7919) % 10007 + 5);
    atomicExch(p.exch, gid);
    atomicAdd(p.ucount, 3u);
    atomicSub(p.ucount, 1u);
    atomicAdd(p.ull, 1ull << 33);
    /* contention: every lane of the warp reads the same stale value, then all race with CAS */
    int old = *(volatile int *)p.cas_counter;
    __syncwarp();
    for (;;) {
        int prev = atomicCAS(p.cas_counter, old, old + 1);
        if (prev == old) break;
        old = prev;
    }
}
MIXC_EMU_ENTRY(k_atomics, AtomParams)

static void test_atomics() {
    const int blocks = 4, threads = 256, total = blocks * threads;
    int counter = 0, maxv = -1, minv = 1 << 30, cas = 0, exch = -1;
    unsigned ucount = 0;
    float fsum = 0;
    unsigned long long ull = 0;
    std::vector<int> olds(total, -1);
    AtomParams p{&counter, olds.data(), &maxv, &minv, &cas, &exch, &ucount, &fsum, &ull};
    if (run(k_atomics_emu_entry, &p, dim3(blocks), dim3(threads)) != 0) return report("atomics", false, launch_err);
    std::set<int> seen(olds.begin(), olds.end());
    int want_max = -1, want_min = 1 << 30;
    for (int g = 0; g < total; g++) {
        want_max = std::max(want_max, (g * 7919) % 10007);
        want_min = std::min(want_min, (g * 7919) % 10007 + 5);
    }
    report("atomic_add_returns_distinct_old_values", counter == total && (int)seen.size() == total && *seen.begin() == 0 &&
                                                         *seen.rbegin() == total - 1);
    report("atomic_add_float", fsum == 0.25f * total, std::to_string(fsum));
    report("atomic_max_min", maxv == want_max && minv == want_min);
    report("atomic_exch_keeps_a_written_value", exch >= 0 && exch < total);
    report("atomic_add_sub_unsigned_ull", ucount == 2u * total && ull == (unsigned long long)total << 33);
    report("atomic_cas_loop_under_contention", cas == total, std::to_string(cas) + " != " + std::to_string(total));
}

/* ------------------------------------------------------------------ shared memory */
struct SmemParams {
    const float *in;
    float *sums;
    unsigned *first_word, *aligned;
};

extern "C" __global__ void k_dyn_smem(const SmemParams p) {
    MIXC_DYNAMIC_SMEM(float, s);
    const unsigned t = threadIdx.x, n = blockDim.x;
    if (t == 0) {
        unsigned w;
        memcpy(&w, s, 4);
        p.first_word[blockIdx.x] = w;
        p.aligned[blockIdx.x] = (uintptr_t)s % 16 == 0;
    }
    __syncthreads();
    s[t] = p.in[blockIdx.x * n + t];
    __syncthreads();
    if (t == 0) {
        float sum = 0;
        for (unsigned i = 0; i < n; i++) sum += s[i];
        p.sums[blockIdx.x] = sum;
    }
}
MIXC_EMU_ENTRY(k_dyn_smem, SmemParams)

/* Static __shared__ tree reduction: every block must get its own sum. */
extern "C" __global__ void k_static_reduce(const SmemParams p) {
    __shared__ float buf[256];
    const unsigned t = threadIdx.x;
    buf[t] = p.in[blockIdx.x * 256 + t];
    __syncthreads();
    for (unsigned half = 128; half > 0; half /= 2) {
        if (t < half) buf[t] += buf[t + half];
        __syncthreads();
    }
    if (t == 0) p.sums[blockIdx.x] = buf[0];
}
MIXC_EMU_ENTRY(k_static_reduce, SmemParams)

static void test_shared_memory() {
    const int blocks = 5, n = 250;
    std::vector<float> in(blocks * 256);
    for (size_t i = 0; i < in.size(); i++) in[i] = (float)(i % 97) - 40.f;
    std::vector<float> sums(blocks, NAN);
    std::vector<unsigned> first(blocks), aligned(blocks);
    SmemParams p{in.data(), sums.data(), first.data(), aligned.data()};
    int rc = run(k_dyn_smem_emu_entry, &p, dim3(blocks), dim3(n), n * sizeof(float) + 13);
    int bad = 0;
    for (int b = 0; b < blocks; b++) {
        float want = 0;
        for (int t = 0; t < n; t++) want += in[b * n + t];
        bad += sums[b] != want || first[b] != 0xffffffffu || !aligned[b];
    }
    report("dynamic_smem_per_block_poisoned_aligned", rc == 0 && bad == 0, rc ? launch_err : std::to_string(bad) + " blocks wrong");

    std::fill(sums.begin(), sums.end(), NAN);
    rc = run(k_static_reduce_emu_entry, &p, dim3(blocks), dim3(256));
    bad = 0;
    for (int b = 0; b < blocks; b++) {
        float want = 0;
        for (int t = 0; t < 256; t++) want += in[b * 256 + t];
        bad += sums[b] != want;
    }
    report("static_shared_reduce_per_block", rc == 0 && bad == 0, rc ? launch_err : std::to_string(bad) + " blocks wrong");
}

/* ------------------------------------------------------------------ schedule order exposes a missing barrier */
struct RaceParams {
    int with_barrier;
    int *out;
};

extern "C" __global__ void k_neighbour(const RaceParams p) {
    __shared__ int s[128];
    const int t = threadIdx.x;
    s[t] = t * 3;
    if (p.with_barrier) __syncthreads();
    p.out[t] = s[(t + 1) % 128];
    if (!p.with_barrier) __syncthreads(); /* keep the barrier count equal */
}
MIXC_EMU_ENTRY(k_neighbour, RaceParams)

static void test_schedule_order() {
    for (int with = 0; with < 2; with++) {
        std::vector<int> fwd(128), rev(128);
        RaceParams pf{with, fwd.data()}, pr{with, rev.data()};
        mixc_emu_set_schedule(0);
        int rc = run(k_neighbour_emu_entry, &pf, dim3(1), dim3(128));
        mixc_emu_set_schedule(1);
        rc |= run(k_neighbour_emu_entry, &pr, dim3(1), dim3(128));
        mixc_emu_set_schedule(0);
        bool correct = true;
        for (int t = 0; t < 128; t++) correct = correct && fwd[t] == (t + 1) % 128 * 3 && rev[t] == fwd[t];
        if (with) report("schedule_orders_agree_with_barrier", rc == 0 && correct);
        else report("schedule_orders_expose_missing_barrier", rc == 0 && fwd != rev);
    }
}

/* ------------------------------------------------------------------ numeric helpers */
struct MathParams {
    float *out;
};

extern "C" __global__ void k_math(const MathParams p) {
    float *o = p.out;
    o[0] = __expf(1.0f);
    o[1] = exp2f(3.0f);
    o[2] = __fdividef(1.0f, 4.0f);
    o[3] = rsqrtf(16.0f);
    o[4] = __frcp_rn(8.0f);
    o[5] = __int_as_float(__float_as_int(1.5f));
    o[6] = __uint_as_float(__float_as_uint(-2.5f));
    o[7] = fmaxf(1.f, 2.f) + fminf(1.f, 2.f);
    o[8] = __fmaf_rn(2.f, 3.f, 4.f);
    o[9] = __saturatef(1.7f) + __saturatef(-3.f);
    o[10] = __log2f(8.f);
    o[11] = __powf(2.f, 10.f);
    float s, c;
    sincosf(0.0f, &s, &c);
    o[12] = s + c + __sinf(0.f) + __cosf(0.f);
    o[13] = __bfloat162float(__float2bfloat16(1.00390625f)); /* tie: rounds to even (1.0) */
    o[14] = __bfloat162float(__float2bfloat16(1.01171875f)); /* tie: rounds to even (1.015625) */
    float2 f2 = __bfloat1622float2(__floats2bfloat162_rn(3.0f, -0.5f));
    o[15] = f2.x + 10 * f2.y;
    o[16] = __half2float(__float2half(0.1f));
    float2 h2 = __half22float2(__floats2half2_rn(2.0f, 0.25f));
    o[17] = h2.x + h2.y;
    o[18] = __uint_as_float(__byte_perm(0x44332211u, 0x88776655u, 0x7650u));   /* bits 0x88776611 */
    o[19] = __uint_as_float(__byte_perm(0x44332211u, 0x88776655u, 0xf123u));   /* 0x88223344: f is 7 */
}
MIXC_EMU_ENTRY(k_math, MathParams)

static void test_math() {
    std::vector<float> o(20, NAN);
    MathParams p{o.data()};
    if (run(k_math_emu_entry, &p, dim3(1), dim3(1)) != 0) return report("math_intrinsics", false, launch_err);
    const float want[20] = {std::exp(1.0f), 8, 0.25f, 0.25f, 0.125f, 1.5f, -2.5f, 3, 10, 1, 3, 1024, 2, 1.0f,
                            1.015625f, -2.0f, 0.0999755859375f, 2.25f, __uint_as_float(0x88776611u),
                            __uint_as_float(0x88223344u)};
    int bad = 0;
    std::string detail;
    for (int i = 0; i < 20; i++)   /* the byte permutes (18, 19) bit for bit */
        if (i < 18 ? !(std::fabs(o[i] - want[i]) <= 1e-6f * std::fabs(want[i])) : __float_as_uint(o[i]) != __float_as_uint(want[i])) {
            bad++;
            detail += " [" + std::to_string(i) + "] " + std::to_string(o[i]);
        }
    report("math_intrinsics_and_bf16_fp16_conversions", bad == 0, detail);
}

/* ------------------------------------------------------------------ fiber stacks */
struct StackParams {
    int *out;
};

/* 24 KiB of locals per thread, 1024 threads: every stack is really used */
extern "C" __global__ void k_big_frame(const StackParams p) {
    volatile int local[6144];
    for (int i = 0; i < 6144; i++) local[i] = i ^ (int)threadIdx.x;
    __syncthreads();
    int sum = 0;
    for (int i = 0; i < 6144; i += 97) sum += local[i];
    p.out[threadIdx.x] = sum;
}
MIXC_EMU_ENTRY(k_big_frame, StackParams)

static void test_stacks() {
    std::vector<int> out(1024, -1);
    StackParams p{out.data()};
    mixc_emu_set_stack_size(128 * 1024); /* the frame needs more than the 64 KiB default under ASan */
    int rc = run(k_big_frame_emu_entry, &p, dim3(2), dim3(1024));
    mixc_emu_set_stack_size(0);
    int bad = 0;
    for (int t = 0; t < 1024; t++) {
        int want = 0;
        for (int i = 0; i < 6144; i += 97) want += i ^ t;
        bad += out[t] != want;
    }
    report("stacks_1024_threads_with_24k_frames", rc == 0 && bad == 0, rc ? launch_err : std::to_string(bad) + " wrong");
}

/* ------------------------------------------------------------------ sanitizer probes
 * `test_emu --oob-global` / `--oob-smem` overrun a buffer inside a kernel: under AddressSanitizer
 * the process must die with a report (run.sh checks it); `--asan` says whether this is such a build. */
struct OobParams {
    float *buf;
    int n;
};

extern "C" __global__ void k_oob_global(const OobParams p) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    p.buf[i] = 1.0f; /* launched with one thread too many */
}
MIXC_EMU_ENTRY(k_oob_global, OobParams)

extern "C" __global__ void k_oob_smem(const OobParams p) {
    MIXC_DYNAMIC_SMEM(float, s);
    s[threadIdx.x] = 2.0f; /* one float past the dynamic allocation for the last thread */
    p.buf[threadIdx.x] = s[threadIdx.x];
}
MIXC_EMU_ENTRY(k_oob_smem, OobParams)

static int sanitizer_probe(const char *what) {
#if defined(__SANITIZE_ADDRESS__)
    const bool asan = true;
#else
    const bool asan = false;
#endif
    if (!strcmp(what, "--asan")) return asan ? 0 : 1;
    float *buf = (float *)malloc(64 * sizeof(float));
    OobParams p{buf, 64};
    int rc = !strcmp(what, "--oob-global") ? run(k_oob_global_emu_entry, &p, dim3(1), dim3(65))
                                           : run(k_oob_smem_emu_entry, &p, dim3(1), dim3(64), 63 * sizeof(float));
    free(buf);
    printf("no overrun detected (launch rc %d)\n", rc);
    return 0;
}

/* ------------------------------------------------------------------ main */
/* ------------------------------------------------------------------ cp.async groups
 * Each thread copies 3 chunks of 16 bytes (groups 0 and 1 committed, the third never) and records
 * each chunk's first word after its issue and after wait_group 1, wait_group 0 and the end. */
struct AsyncParams {
    const uint32_t *src;   /* [3][4] words per thread */
    uint32_t *seen;        /* [4 points][3 chunks] per thread */
};

extern "C" __global__ void k_async_groups(const AsyncParams p) {
    __shared__ __align__(16) uint32_t s[32][3][4];
    const int t = threadIdx.x;
    uint32_t *seen = p.seen + t * 12;
    for (int c = 0; c < 3; c++) {
        cp_async_16(s[t][c], p.src + (t * 3 + c) * 4);
        if (c < 2) cp_async_commit();
    }
    for (int c = 0; c < 3; c++) seen[c] = s[t][c][0];          /* issued: none landed */
    cp_async_wait_group<1>();
    for (int c = 0; c < 3; c++) seen[3 + c] = s[t][c][0];      /* group 0 landed */
    cp_async_wait_all();
    for (int c = 0; c < 3; c++) seen[6 + c] = s[t][c][0];      /* group 1 too; not the uncommitted */
    cp_async_commit();
    cp_async_wait_all();
    for (int c = 0; c < 3; c++) seen[9 + c] = s[t][c][0];      /* all */
}
MIXC_EMU_ENTRY(k_async_groups, AsyncParams)

static void test_async_groups() {
    std::vector<uint32_t> src(32 * 3 * 4), seen(32 * 12, 0);
    for (size_t i = 0; i < src.size(); i++) src[i] = 1000 + (uint32_t)i;
    AsyncParams p{src.data(), seen.data()};
    if (run(k_async_groups_emu_entry, &p, dim3(1), dim3(32)) != 0) return report("cp_async_groups", false, launch_err);
    const uint32_t poison = 0x01010101u * MIXC_EMU_ASYNC_POISON;
    int wrong = 0;
    for (int t = 0; t < 32; t++)
        for (int point = 0; point < 4; point++)
            for (int c = 0; c < 3; c++) {
                /* landed: group 0 after wait_group 1, group 1 after wait_group 0, the third at the end */
                const bool landed = point == 3 || (point >= 1 && c == 0) || (point == 2 && c == 1);
                const uint32_t want = landed ? src[(t * 3 + c) * 4] : poison;
                if (seen[t * 12 + point * 3 + c] != want) wrong++;
            }
    report("cp_async_groups_land_at_their_wait", wrong == 0, std::to_string(wrong) + " of 384 reads wrong");
}

int main(int argc, char **argv) {
    if (argc == 2) return sanitizer_probe(argv[1]);
    setvbuf(stdout, nullptr, _IOLBF, 0); /* keep the lines if a sanitizer ends the run */
    test_mma_units();
    test_ldmatrix();
    test_gemm_tile();
    test_async_groups();
    test_shuffles();
    test_votes();
    test_barrier_shapes();
    test_errors();
    test_atomics();
    test_shared_memory();
    test_schedule_order();
    test_math();
    test_stacks();
    mixc_emu_release();
    return failures ? 1 : 0;
}
