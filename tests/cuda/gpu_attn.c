/* gpu_attn.c — runs the generated attention kernels alone on a GPU, for scripts/gpu-check.sh and
 * scripts/gpu-bench.sh (built with the tests so it always compiles; it needs a GPU to run).
 *
 *   gpu_attn prefill OUTDIR [--window W] [--head-dim D] [--heads H] [--kv-heads G] [--len L] [--chunk C]
 *       One sequence of L tokens with random bf16 q, k, v (k, v written straight into the cache),
 *       the prefill kernel run chunk by chunk; writes q.npy [L, H*D], k.npy, v.npy [L, G*D] and
 *       out.npy [L, H*D] (float32) into OUTDIR for a comparison with PyTorch SDPA.
 *   gpu_attn decode [--window W] ... [--len L] [--batch B] [--iters N]
 *       Times the decode kernel + reduce for B sequences at position L-1 (cuEvent, median of N) and
 *       prints one JSON line: microseconds, bytes of K/V read, and the HBM peak of the device.
 * Exit 0 ok, 1 on a CUDA or compile error, 2 without a GPU or on usage errors.
 */
#include "cuda_backend.h"
#include "cuda_check.h"
#define MIXC_DPTR(T) CUdeviceptr
#include "kernel_params.h"   /* the kernels' parameter structs, as the backend launches them */

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t window, head_dim, heads, kv_heads, len, chunk;
    int batch, iters;
} Args;

static uint64_t rng = 0x1234567ull;
static float uniform(void) {   /* splitmix64, uniform(-1, 1) */
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (float)((double)((z ^ (z >> 31)) >> 40) / (double)(1 << 23) - 1.0);
}

/* A one-layer layout with the attention under test. */
static bool make_layout(const Args *a, Layout *l) {
    char text[1024];
    snprintf(text, sizeof text,
             "model \"probe\" {\n layers = 1\n hidden = %lld\n heads = %lld\n kv_heads = %lld\n head_dim = %lld\n"
             " ffn = 64\n vocab = 64\n context = %lld\n chunk = %lld\n}\n",
             (long long)(a->heads * a->head_dim), (long long)a->heads, (long long)a->kv_heads,
             (long long)a->head_dim, (long long)a->len, (long long)a->chunk);
    size_t used = strlen(text);
    if (a->window) snprintf(text + used, sizeof text - used, "layer 0 : window %lld\n", (long long)a->window);
    else snprintf(text + used, sizeof text - used, "layer 0 : global\n");
    return load_layout_text("probe.mix", text, strlen(text), NULL, l, stderr) == 0;
}

static bool write_npy(const char *dir, const char *name, const uint16_t *bf, int64_t rows, int64_t cols) {
    float *f = xmalloc((size_t)(rows * cols) * sizeof *f);
    for (int64_t i = 0; i < rows * cols; i++) f[i] = st_bf16_to_f32(bf[i]);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    bool ok = npy_write_f32(path, f, rows, cols);
    free(f);
    return ok;
}

typedef struct {
    const CudaDriver *cu;
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    Codegen cg;
    Layout l;
} Probe;

static int probe_open(Probe *p, const Args *a) {
    char err[512], arch[16];
    if (!(p->cu = cuda_driver_load(err, sizeof err))) {
        fprintf(stderr, "gpu_attn: no GPU: %s\n", err);
        return 2;
    }
    int major = 0, minor = 0, count = 0;
    if (p->cu->cuDeviceGetCount(&count) != CUDA_SUCCESS || count < 1) {
        fprintf(stderr, "gpu_attn: no GPU: the driver sees no device\n");
        return 2;
    }
    CU_CHECK_RET(p->cu->cuDeviceGet(&p->dev, 0), 1);
    CU_CHECK_RET(p->cu->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, p->dev), 1);
    CU_CHECK_RET(p->cu->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, p->dev), 1);
    snprintf(arch, sizeof arch, "sm_%d%d", major, minor);
    CU_CHECK_RET(p->cu->cuDevicePrimaryCtxRetain(&p->ctx, p->dev), 1);
    CU_CHECK_RET(p->cu->cuCtxSetCurrent(p->ctx), 1);
    if (!make_layout(a, &p->l)) return 1;
    CodegenOptions o = cuda_backend_codegen_options(&p->l, a->len, false, major == 8 ? "sm_80" : "sm_90");
    if (!codegen_plan(&p->l, &o, &p->cg, err, sizeof err)) {
        fprintf(stderr, "gpu_attn: %s\n", err);
        return 1;
    }
    JitResult r;
    int rc = cuda_backend_compile(&p->l, &p->cg, arch, &r, err, sizeof err);
    if (rc == 0 && p->cu->cuModuleLoadData(&p->mod, r.image) != CUDA_SUCCESS) rc = 1;
    jit_result_free(&r);
    if (rc) fprintf(stderr, "gpu_attn: cannot build or load the kernels: %s\n", err);
    return rc;
}

static CUfunction function(Probe *p, int k) {
    CUfunction f = NULL;
    if (p->cu->cuModuleGetFunction(&f, p->mod, p->cg.kernel[k].name) != CUDA_SUCCESS) return NULL;
    if (p->cg.kernel[k].dynamic_smem > CODEGEN_STATIC_SMEM_LIMIT)
        p->cu->cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)p->cg.kernel[k].dynamic_smem);
    return f;
}

static CUresult launch(Probe *p, CUfunction f, const CudaLaunch *c, void *params) {
    void *args[] = {params};
    return p->cu->cuLaunchKernel(f, c->grid[0], c->grid[1], c->grid[2], c->block[0], c->block[1], c->block[2], c->smem,
                                 NULL, args, NULL);
}

static void fill(uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = st_f32_to_bf16(uniform());
}


static int run_prefill(Probe *p, const Args *a, const char *dir) {
    const int64_t L = a->len, qw = a->heads * a->head_dim, kvw = a->kv_heads * a->head_dim, cap = p->cg.capacity[0];
    uint16_t *q = xmalloc((size_t)(L * qw) * 2), *k = xmalloc((size_t)(L * kvw) * 2), *v = xmalloc((size_t)(L * kvw) * 2);
    uint16_t *out = xcalloc((size_t)(L * qw), 2);
    fill(q, L * qw), fill(k, L * kvw), fill(v, L * kvw);
    CUdeviceptr dq = 0, dout = 0, dk = 0, dv = 0, dint = 0;
    int rc = 1;
    int k_pre = p->cg.layer[0].prefill;
    CUfunction f = function(p, k_pre);
    if (!f) goto fail;
    CU_CHECK(p->cu->cuMemAlloc(&dq, (size_t)(L * qw) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&dout, (size_t)(L * qw) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&dk, (size_t)(cap * kvw) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&dv, (size_t)(cap * kvw) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&dint, 3 * sizeof(int)));
    CU_CHECK(p->cu->cuMemcpyHtoD(dq, q, (size_t)(L * qw) * 2));
    for (int64_t p0 = 0; p0 < L; p0 += p->cg.chunk) {
        int64_t n = L - p0 < p->cg.chunk ? L - p0 : p->cg.chunk;
        for (int64_t t = p0; t < p0 + n; t++) {   /* the chunk's K/V appended at slot t % cap (ring) */
            CUdeviceptr slot = (CUdeviceptr)((t % cap) * kvw * 2);
            CU_CHECK(p->cu->cuMemcpyHtoD(dk + slot, k + t * kvw, (size_t)kvw * 2));
            CU_CHECK(p->cu->cuMemcpyHtoD(dv + slot, v + t * kvw, (size_t)kvw * 2));
        }
        int ints[3] = {0, (int)n, (int)p0};
        CU_CHECK(p->cu->cuMemcpyHtoD(dint, ints, sizeof ints));
        CudaLaunch c = cuda_launch_of(&p->cg, k_pre, n, 1);
        PrefillParams pp = {dq + (CUdeviceptr)(p0 * qw * 2), dout + (CUdeviceptr)(p0 * qw * 2), dk, dv, dint,
                       dint + 4, dint + 8, (float)(1.0 / sqrt((double)a->head_dim)), 1};
        CU_CHECK(launch(p, f, &c, &pp));
        CU_CHECK(p->cu->cuCtxSynchronize());   /* dint is rewritten for the next chunk */
    }
    CU_CHECK(p->cu->cuMemcpyDtoH(out, dout, (size_t)(L * qw) * 2));
    rc = write_npy(dir, "q.npy", q, L, qw) && write_npy(dir, "k.npy", k, L, kvw) && write_npy(dir, "v.npy", v, L, kvw) &&
                 write_npy(dir, "out.npy", out, L, qw) ? 0 : 1;
    printf("{\"kernel\": \"%s\", \"len\": %lld, \"chunk\": %lld}\n", p->cg.kernel[k_pre].name, (long long)L,
           (long long)p->cg.chunk);
fail:;
    CUdeviceptr all[] = {dq, dout, dk, dv, dint};
    for (int i = 0; i < 5; i++)
        if (all[i]) p->cu->cuMemFree(all[i]);
    free(q), free(k), free(v), free(out);
    return rc;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Decode attention of B sequences at position L-1 (every cache full of random K/V), timed. */
static int run_decode(Probe *p, const Args *a) {
    const int64_t B = a->batch, cap = p->cg.capacity[0], qw = a->heads * a->head_dim, kvw = a->kv_heads * a->head_dim;
    int kd = p->cg.layer[0].decode, kr = p->cg.layer[0].decode_reduce;
    CudaLaunch cd = cuda_launch_of(&p->cg, kd, B, (int)B), cr = cuda_launch_of(&p->cg, kr, B, (int)B);
    int splits = (int)cd.grid[1];
    CUfunction fd = function(p, kd), fr = function(p, kr);
    CUdeviceptr dq = 0, dk = 0, dv = 0, dpos = 0, dop = 0, dml = 0, dout = 0;
    CUevent e0 = NULL, e1 = NULL;
    float *ms = xcalloc((size_t)a->iters + 1, sizeof *ms);
    uint16_t *host = NULL;
    int *pos = xmalloc((size_t)B * sizeof *pos);
    int rc = 1;
    if (!fd || !fr) goto fail;
    size_t cache_bytes = (size_t)(B * cap * kvw) * 2;
    CU_CHECK(p->cu->cuMemAlloc(&dq, (size_t)(B * qw) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&dk, cache_bytes));
    CU_CHECK(p->cu->cuMemAlloc(&dv, cache_bytes));
    CU_CHECK(p->cu->cuMemAlloc(&dpos, (size_t)B * sizeof(int)));
    CU_CHECK(p->cu->cuMemAlloc(&dop, (size_t)(B * a->heads * splits * a->head_dim) * 4));
    CU_CHECK(p->cu->cuMemAlloc(&dml, (size_t)(B * a->heads * splits * 2) * 4));
    CU_CHECK(p->cu->cuMemAlloc(&dout, (size_t)(B * qw) * 2));
    host = xmalloc(cache_bytes > (size_t)(B * qw) * 2 ? cache_bytes : (size_t)(B * qw) * 2);
    fill(host, (int64_t)(cache_bytes / 2));
    CU_CHECK(p->cu->cuMemcpyHtoD(dk, host, cache_bytes));
    CU_CHECK(p->cu->cuMemcpyHtoD(dv, host, cache_bytes));
    CU_CHECK(p->cu->cuMemcpyHtoD(dq, host, (size_t)(B * qw) * 2));
    for (int64_t b = 0; b < B; b++) pos[b] = (int)(a->len - 1);
    CU_CHECK(p->cu->cuMemcpyHtoD(dpos, pos, (size_t)B * sizeof(int)));
    CU_CHECK(p->cu->cuEventCreate(&e0, 0));
    CU_CHECK(p->cu->cuEventCreate(&e1, 0));
    float scale = (float)(1.0 / sqrt((double)a->head_dim));
    DecodeParams dp = {dq, dk, dv, dpos, dop, dml, scale, (int)B};
    DecodeReduceParams rp = {dop, dml, dout, (int)a->heads, splits, (int)B};
    for (int it = -3; it < a->iters; it++) {   /* 3 warm-up runs */
        CU_CHECK(p->cu->cuEventRecord(e0, NULL));
        CU_CHECK(launch(p, fd, &cd, &dp));
        CU_CHECK(launch(p, fr, &cr, &rp));
        CU_CHECK(p->cu->cuEventRecord(e1, NULL));
        CU_CHECK(p->cu->cuEventSynchronize(e1));
        if (it >= 0) CU_CHECK(p->cu->cuEventElapsedTime(&ms[it], e0, e1));
    }
    qsort(ms, (size_t)a->iters, sizeof *ms, cmp_float);
    int clock_khz = 0, bus_bits = 0;
    p->cu->cuDeviceGetAttribute(&clock_khz, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, p->dev);
    p->cu->cuDeviceGetAttribute(&bus_bits, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, p->dev);
    int64_t visible = a->window && a->window < a->len ? a->window : a->len;
    double bytes = (double)B * (double)visible * (double)kvw * 2.0 * 2.0 + (double)B * (double)qw * 4.0;
    double peak = 2.0 * clock_khz * 1e3 * bus_bits / 8.0;   /* DDR: two transfers per clock */
    double us = ms[a->iters / 2] * 1e3;
    printf("{\"kernel\": \"%s\", \"batch\": %lld, \"len\": %lld, \"window\": %lld, \"splits\": %d, \"us\": %.3f, "
           "\"bytes\": %.0f, \"achieved_GBps\": %.1f, \"peak_GBps\": %.1f, \"bound_us\": %.3f}\n",
           p->cg.kernel[kd].name, (long long)B, (long long)a->len, (long long)a->window, splits, us, bytes,
           us > 0 ? bytes / (us * 1e-6) / 1e9 : 0.0, peak / 1e9, peak > 0 ? bytes / peak * 1e6 : 0.0);
    rc = 0;
fail:
    if (e0) p->cu->cuEventDestroy(e0);
    if (e1) p->cu->cuEventDestroy(e1);
    CUdeviceptr all[] = {dq, dk, dv, dpos, dop, dml, dout};
    for (int i = 0; i < 7; i++)
        if (all[i]) p->cu->cuMemFree(all[i]);
    free(ms), free(host), free(pos);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "prefill") && strcmp(argv[1], "decode"))) {
        fprintf(stderr, "usage: gpu_attn prefill OUTDIR [options] | gpu_attn decode [options]\n");
        return 2;
    }
    bool prefill = strcmp(argv[1], "prefill") == 0;
    if (prefill && argc < 3) return 2;
    Args a = {0, 128, 16, 8, 1024, 256, 8, 20};
    for (int i = prefill ? 3 : 2; i + 1 < argc; i += 2) {
        long long v = atoll(argv[i + 1]);
        if (!strcmp(argv[i], "--window")) a.window = v;
        else if (!strcmp(argv[i], "--head-dim")) a.head_dim = v;
        else if (!strcmp(argv[i], "--heads")) a.heads = v;
        else if (!strcmp(argv[i], "--kv-heads")) a.kv_heads = v;
        else if (!strcmp(argv[i], "--len")) a.len = v;
        else if (!strcmp(argv[i], "--chunk")) a.chunk = v;
        else if (!strcmp(argv[i], "--batch")) a.batch = (int)v;
        else if (!strcmp(argv[i], "--iters")) a.iters = (int)v;
        else {
            fprintf(stderr, "gpu_attn: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (a.iters < 1 || a.batch < 1 || a.len < 1 || a.chunk < 1) return 2;
    Probe p = {0};
    int rc = probe_open(&p, &a);
    if (rc == 0) rc = prefill ? run_prefill(&p, &a, argv[2]) : run_decode(&p, &a);
    if (p.mod) p.cu->cuModuleUnload(p.mod);
    if (p.ctx) p.cu->cuDevicePrimaryCtxRelease(p.dev);
    if (p.cg.kernel) codegen_free(&p.cg);
    if (p.l.layer) layout_free(&p.l);
    return rc;
}
