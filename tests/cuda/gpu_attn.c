/* gpu_attn.c — runs the generated attention kernels alone on a GPU, for scripts/gpu-check.sh and
 * scripts/gpu-bench.sh (built with the tests so it always compiles; it needs a GPU to run).
 *
 *   gpu_attn prefill OUTDIR [--window W] [--head-dim D] [--heads H] [--kv-heads G] [--len L] [--chunk C]
 *       One sequence of L tokens with random bf16 q, k, v (k, v written straight into the cache),
 *       the prefill kernel run chunk by chunk; writes q.npy [L, H*D], k.npy, v.npy [L, G*D] and
 *       out.npy [L, H*D] (float32) into OUTDIR for a comparison with PyTorch SDPA
 *       (scripts/sdpa-check.py, which reads the JSON line printed, saved as OUTDIR/prefill.json).
 *   gpu_attn decode [--window W] ... [--len L] [--batch B] [--iters N] [--kv bf16|int8|fp8]
 *       Times the decode kernel + reduce for B sequences at position L-1 (cuEvent, median of N) and
 *       prints one JSON line: microseconds, bytes of K/V read (codes and scales for an 8-bit cache),
 *       and the HBM peak of the device.
 *   gpu_attn decode-check [options]
 *       The same launch, once, against an fp64 host reference over the values the cache holds
 *       (dequantized codes for an 8-bit cache): |out - ref| <= 1e-2 (the bf16 tolerance of
 *       docs/kernels.md); one JSON line with the largest error, exit 1 beyond it.
 *   gpu_attn append-check [options] --kv int8|fp8
 *       The RoPE+append kernel on L random tokens: V's codes and scales equal the cpu quantizer's
 *       (runtime/cpu/kv_quant.c) bit for bit (sm_89+: the hardware e4m3 conversions), K's dequantize
 *       to the host's RoPE within 1e-2 plus the quantization error. One JSON line, exit 1 on a miss.
 *   gpu_attn emu-so OUT.so [options]
 *       Compiles the kernels of the same one-layer layout for the CUDA emulator (no GPU needed):
 *       tests/cuda runs the checks above under the stand-in driver with them (FAKE_CUDA=full
 *       FAKE_CUDA_EMU_SO=OUT.so), so this harness runs in `make test`, not only where a GPU is lent.
 * Exit 0 ok, 1 on a CUDA or compile error or a failed check, 2 without a GPU or on usage errors.
 */
#include "cuda_backend.h"
#include "cuda_check.h"
#include "emu_backend.h"
#define MIXC_DPTR(T) CUdeviceptr
#include "kernel_params.h"   /* the kernels' parameter structs, as the backend launches them */
#include "kv_quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t window, head_dim, heads, kv_heads, len, chunk;
    int batch, iters;
    DType kv;               /* the cache: DT_BF16, DT_INT8 or DT_FP8 */
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
             " ffn = 64\n vocab = 64\n context = %lld\n chunk = %lld\n kv_dtype = %s\n}\n",
             (long long)(a->heads * a->head_dim), (long long)a->heads, (long long)a->kv_heads,
             (long long)a->head_dim, (long long)a->len, (long long)a->chunk, dtype_name(a->kv));
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
    const size_t nints = (size_t)PREFILL_ARGS_INTS(p->cg.chunk, 1);   /* the batched prefill's table, one part */
    int *ints = xcalloc(nints, sizeof(int));
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
    CU_CHECK(p->cu->cuMemAlloc(&dint, nints * sizeof(int)));
    CU_CHECK(p->cu->cuMemcpyHtoD(dq, q, (size_t)(L * qw) * 2));
    for (int64_t p0 = 0; p0 < L; p0 += p->cg.chunk) {
        int64_t n = L - p0 < p->cg.chunk ? L - p0 : p->cg.chunk;
        for (int64_t t = p0; t < p0 + n; t++) {   /* the chunk's K/V appended at slot t % cap (ring) */
            CUdeviceptr slot = (CUdeviceptr)((t % cap) * kvw * 2);
            CU_CHECK(p->cu->cuMemcpyHtoD(dk + slot, k + t * kvw, (size_t)kvw * 2));
            CU_CHECK(p->cu->cuMemcpyHtoD(dv + slot, v + t * kvw, (size_t)kvw * 2));
        }
        int len = (int)n, pos0 = (int)p0, slot = 0;   /* one part */
        int ntiles = mixc_prefill_args(ints, 1, 1, &len, &pos0, &slot);
        CU_CHECK(p->cu->cuMemcpyHtoD(dint, ints, nints * sizeof(int)));
        CudaLaunch c = cuda_launch_of(&p->cg, k_pre, n, 1);
        PrefillParams pp = {dq + (CUdeviceptr)(p0 * qw * 2), dout + (CUdeviceptr)(p0 * qw * 2), dk, dv, dint,
                            dint + 4, dint + 8, dint + 12, dint + 16, (float)(1.0 / sqrt((double)a->head_dim)), 1,
                            ntiles, 0, {0, 0, 0}};   /* no sinks; unpaged */
        CU_CHECK(launch(p, f, &c, &pp));
        CU_CHECK(p->cu->cuCtxSynchronize());   /* dint is rewritten for the next chunk */
    }
    CU_CHECK(p->cu->cuMemcpyDtoH(out, dout, (size_t)(L * qw) * 2));
    rc = write_npy(dir, "q.npy", q, L, qw) && write_npy(dir, "k.npy", k, L, kvw) && write_npy(dir, "v.npy", v, L, kvw) &&
                 write_npy(dir, "out.npy", out, L, qw) ? 0 : 1;
    printf("{\"kernel\": \"%s\", \"len\": %lld, \"chunk\": %lld, \"window\": %lld, \"head_dim\": %lld}\n",
           p->cg.kernel[k_pre].name, (long long)L, (long long)p->cg.chunk, (long long)a->window, (long long)a->head_dim);
fail:;
    CUdeviceptr all[] = {dq, dout, dk, dv, dint};
    for (int i = 0; i < 5; i++)
        if (all[i]) p->cu->cuMemFree(all[i]);
    free(q), free(k), free(v), free(out), free(ints);
    return rc;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Rows of a cache made afresh when only the time is wanted (deq NULL); the others repeat them, so that a
 * 128K-token cache of 8 sequences takes a second to make, not a minute (the values do not change the
 * kernel's time: no branch depends on them). */
enum { FRESH_ROWS = 4096 };

/* Row r of sequence b as a copy of row src of sequence 0 (values, or codes and scale). */
static void copy_row(unsigned char *c, int64_t seq, int64_t cap, const Args *a, bool q8, int64_t b, int64_t r,
                     int64_t src) {
    const int64_t hd = a->head_dim, kvw = a->kv_heads * hd, esize = q8 ? 1 : 2;
    memcpy(c + b * seq + r * hd * esize, c + src * hd * esize, (size_t)(hd * esize));
    if (q8) memcpy(c + b * seq + cap * kvw + r * 4, c + cap * kvw + src * 4, 4);
}

/* One cache (K or V) of B sequences in the kernels' layout (MIXC_KV_SEQ_BYTES), every slot random:
 * bf16 values, or an 8-bit cache's codes and scales quantized from them (kv_quant.c). deq (NULL, or
 * B x cap x kv_heads x head_dim floats) gets the values the kernel reads; without it rows past
 * FRESH_ROWS repeat the first ones. */
static unsigned char *host_cache(const Args *a, int64_t B, int64_t cap, float *deq, size_t *bytes) {
    const bool q8 = dtype_quantized(a->kv);
    const int64_t kvw = a->kv_heads * a->head_dim, seq = MIXC_KV_SEQ_BYTES(cap, a->kv_heads, a->head_dim, q8 ? 1LL : 2LL);
    unsigned char *c = xcalloc((size_t)(B * seq), 1);
    float *x = xmalloc((size_t)a->head_dim * sizeof *x), values[256];
    if (q8) kv_code_values(a->kv, values);
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < cap * a->kv_heads; r++) {   /* row r = slot x kv_heads + head */
            float *d = deq ? deq + (b * cap * a->kv_heads + r) * a->head_dim : NULL;
            if (!deq && (b > 0 || r >= FRESH_ROWS)) {
                copy_row(c, seq, cap, a, q8, b, r, r % FRESH_ROWS);
                continue;
            }
            for (int64_t e = 0; e < a->head_dim; e++) x[e] = st_bf16_to_f32(st_f32_to_bf16(uniform()));
            if (!q8) {
                for (int64_t e = 0; e < a->head_dim; e++) ((uint16_t *)(c + b * seq))[r * a->head_dim + e] = st_f32_to_bf16(x[e]);
                if (d) memcpy(d, x, (size_t)a->head_dim * sizeof *x);
                continue;
            }
            uint8_t *codes = c + b * seq + r * a->head_dim;
            float sc = kv_quantize_head(a->kv, x, a->head_dim, codes);
            memcpy(c + b * seq + cap * kvw + r * 4, &sc, 4);
            for (int64_t e = 0; d && e < a->head_dim; e++) d[e] = values[codes[e]] * sc;
        }
    free(x);
    *bytes = (size_t)(B * seq);
    return c;
}

typedef struct {
    int kd, kr, splits;
    CudaLaunch cd, cr;
    CUfunction fd, fr;
    CUdeviceptr dq, dk, dv, dpos, dseq, dop, dml, dout;
    DecodeParams dp;
    DecodeReduceParams rp;
    uint16_t *q;            /* [B, heads, head_dim] bf16 */
    float *kdeq, *vdeq;     /* the caches' values (decode-check), else NULL */
} Decode;

/* B sequences at position L-1, every cache slot random: the device buffers and the parameters. */
static int decode_setup(Probe *p, const Args *a, Decode *d, bool keep_values) {
    const int64_t B = a->batch, cap = p->cg.capacity[0], qw = a->heads * a->head_dim;
    d->kd = p->cg.layer[0].decode, d->kr = p->cg.layer[0].decode_reduce;
    d->cd = cuda_launch_of(&p->cg, d->kd, B, (int)B), d->cr = cuda_launch_of(&p->cg, d->kr, B, (int)B);
    d->splits = (int)d->cd.grid[1];
    d->fd = function(p, d->kd), d->fr = function(p, d->kr);
    if (!d->fd || !d->fr) return 1;
    size_t n = (size_t)(B * cap * a->kv_heads * a->head_dim), bytes;
    if (keep_values) d->kdeq = xmalloc(n * sizeof(float)), d->vdeq = xmalloc(n * sizeof(float));
    d->q = xmalloc((size_t)(B * qw) * 2);
    fill(d->q, B * qw);
    int *pos = xmalloc((size_t)B * sizeof *pos);
    int *seq = xmalloc((size_t)B * sizeof *seq);   /* row b reads cache block b */
    for (int64_t b = 0; b < B; b++) pos[b] = (int)(a->len - 1), seq[b] = (int)b;
    int rc = 1;
    unsigned char *kc = host_cache(a, B, cap, d->kdeq, &bytes), *vc = host_cache(a, B, cap, d->vdeq, &bytes);
    CU_CHECK(p->cu->cuMemAlloc(&d->dq, (size_t)(B * qw) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&d->dk, bytes));
    CU_CHECK(p->cu->cuMemAlloc(&d->dv, bytes));
    CU_CHECK(p->cu->cuMemAlloc(&d->dpos, (size_t)B * sizeof(int)));
    CU_CHECK(p->cu->cuMemAlloc(&d->dseq, (size_t)B * sizeof(int)));
    CU_CHECK(p->cu->cuMemAlloc(&d->dop, (size_t)(B * a->heads * d->splits * a->head_dim) * 4));
    CU_CHECK(p->cu->cuMemAlloc(&d->dml, (size_t)(B * a->heads * d->splits * 2) * 4));
    CU_CHECK(p->cu->cuMemAlloc(&d->dout, (size_t)(B * qw) * 2));
    CU_CHECK(p->cu->cuMemcpyHtoD(d->dk, kc, bytes));
    CU_CHECK(p->cu->cuMemcpyHtoD(d->dv, vc, bytes));
    CU_CHECK(p->cu->cuMemcpyHtoD(d->dq, d->q, (size_t)(B * qw) * 2));
    CU_CHECK(p->cu->cuMemcpyHtoD(d->dpos, pos, (size_t)B * sizeof(int)));
    CU_CHECK(p->cu->cuMemcpyHtoD(d->dseq, seq, (size_t)B * sizeof(int)));
    d->dp = (DecodeParams){d->dq, d->dk, d->dv, d->dpos, d->dseq, d->dop, d->dml, (float)(1.0 / sqrt((double)a->head_dim)), (int)B,
                           0, 0, {0, 0, 0}};   /* out 0: partials even at one split, the reduce after; unpaged */
    d->rp = (DecodeReduceParams){d->dop, d->dml, d->dout, (int)a->heads, d->splits, (int)B, 0};
    rc = 0;
fail:
    free(kc), free(vc), free(pos), free(seq);
    return rc;
}

static void decode_free(Probe *p, Decode *d) {
    CUdeviceptr all[] = {d->dq, d->dk, d->dv, d->dpos, d->dseq, d->dop, d->dml, d->dout};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i]) p->cu->cuMemFree(all[i]);
    free(d->q), free(d->kdeq), free(d->vdeq);
}

/* Decode attention of B sequences at position L-1, timed (median of iters after 3 warm-ups). */
static int run_decode(Probe *p, const Args *a) {
    Decode d = {0};
    CUevent e0 = NULL, e1 = NULL;
    float *ms = xcalloc((size_t)a->iters + 1, sizeof *ms);
    int rc = 1;
    if (decode_setup(p, a, &d, false)) goto fail;
    CU_CHECK(p->cu->cuEventCreate(&e0, 0));
    CU_CHECK(p->cu->cuEventCreate(&e1, 0));
    for (int it = -3; it < a->iters; it++) {
        CU_CHECK(p->cu->cuEventRecord(e0, NULL));
        CU_CHECK(launch(p, d.fd, &d.cd, &d.dp));
        CU_CHECK(launch(p, d.fr, &d.cr, &d.rp));
        CU_CHECK(p->cu->cuEventRecord(e1, NULL));
        CU_CHECK(p->cu->cuEventSynchronize(e1));
        if (it >= 0) CU_CHECK(p->cu->cuEventElapsedTime(&ms[it], e0, e1));
    }
    qsort(ms, (size_t)a->iters, sizeof *ms, cmp_float);
    int clock_khz = 0, bus_bits = 0;
    p->cu->cuDeviceGetAttribute(&clock_khz, CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, p->dev);
    p->cu->cuDeviceGetAttribute(&bus_bits, CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, p->dev);
    const int64_t visible = a->window && a->window < a->len ? a->window : a->len, B = a->batch;
    const double per_key = dtype_quantized(a->kv) ? (double)a->kv_heads * (a->head_dim + MIXC_KV_SCALE_BYTES)
                                                  : (double)a->kv_heads * a->head_dim * 2.0;
    double bytes = (double)B * (double)visible * per_key * 2.0 + (double)B * (double)(a->heads * a->head_dim) * 4.0;
    double peak = 2.0 * clock_khz * 1e3 * bus_bits / 8.0;   /* DDR: two transfers per clock */
    double us = ms[a->iters / 2] * 1e3;
    printf("{\"kernel\": \"%s\", \"kv\": \"%s\", \"batch\": %lld, \"len\": %lld, \"window\": %lld, \"splits\": %d, "
           "\"us\": %.3f, \"bytes\": %.0f, \"achieved_GBps\": %.1f, \"peak_GBps\": %.1f, \"bound_us\": %.3f}\n",
           p->cg.kernel[d.kd].name, dtype_name(a->kv), (long long)B, (long long)a->len, (long long)a->window,
           d.splits, us, bytes, us > 0 ? bytes / (us * 1e-6) / 1e9 : 0.0, peak / 1e9, peak > 0 ? bytes / peak * 1e6 : 0.0);
    rc = 0;
fail:
    if (e0) p->cu->cuEventDestroy(e0);
    if (e1) p->cu->cuEventDestroy(e1);
    decode_free(p, &d);
    free(ms);
    return rc;
}

/* fp64 attention of query head h of sequence b at position L-1 over the cache's values. */
static void decode_reference(const Args *a, const Decode *d, int64_t cap, int64_t b, int64_t h, double *out) {
    const int64_t hd = a->head_dim, kvh = h / (a->heads / a->kv_heads), pos = a->len - 1;
    const int64_t lo = a->window && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
    const uint16_t *q = d->q + (b * a->heads + h) * hd;
    double m = -INFINITY, l = 0;
    for (int64_t e = 0; e < hd; e++) out[e] = 0;
    for (int64_t j = lo; j <= pos; j++) {
        const int64_t at = ((b * cap + j % cap) * a->kv_heads + kvh) * hd;
        double s = 0;
        for (int64_t e = 0; e < hd; e++) s += st_bf16_to_f32(q[e]) * (double)d->kdeq[at + e];
        s /= sqrt((double)hd);
        double m_new = s > m ? s : m, alpha = exp(m - m_new), w = exp(s - m_new);
        for (int64_t e = 0; e < hd; e++) out[e] = out[e] * alpha + w * d->vdeq[at + e];
        l = l * alpha + w, m = m_new;
    }
    for (int64_t e = 0; e < hd; e++) out[e] /= l;
}

static int run_decode_check(Probe *p, const Args *a) {
    Decode d = {0};
    const int64_t qw = a->heads * a->head_dim, cap = p->cg.capacity[0];
    uint16_t *out = xmalloc((size_t)(a->batch * qw) * 2);
    double *ref = xmalloc((size_t)a->head_dim * sizeof *ref), worst = 0;
    int rc = 1;
    if (decode_setup(p, a, &d, true)) goto fail;
    CU_CHECK(launch(p, d.fd, &d.cd, &d.dp));
    CU_CHECK(launch(p, d.fr, &d.cr, &d.rp));
    CU_CHECK(p->cu->cuMemcpyDtoH(out, d.dout, (size_t)(a->batch * qw) * 2));
    for (int64_t b = 0; b < a->batch; b++)
        for (int64_t h = 0; h < a->heads; h++) {
            decode_reference(a, &d, cap, b, h, ref);
            for (int64_t e = 0; e < a->head_dim; e++) {
                double err = fabs(st_bf16_to_f32(out[(b * a->heads + h) * a->head_dim + e]) - ref[e]) - 1e-2 * fabs(ref[e]);
                if (!(err <= worst)) worst = err;   /* NaN sticks */
            }
        }
    rc = worst <= 1e-2 ? 0 : 1;
    printf("{\"check\": \"decode\", \"kernel\": \"%s\", \"kv\": \"%s\", \"len\": %lld, \"window\": %lld, "
           "\"max_err_over_rtol\": %.5f, \"atol\": 0.01, \"pass\": %s}\n", p->cg.kernel[d.kd].name, dtype_name(a->kv),
           (long long)a->len, (long long)a->window, worst, rc ? "false" : "true");
fail:
    decode_free(p, &d);
    free(out), free(ref);
    return rc;
}

/* HF rotate_half RoPE of one head at position pos, in fp64. */
static void host_rope(double *x, int64_t hd, int64_t pos, double theta) {
    for (int64_t k = 0; k < hd / 2; k++) {
        double ang = (double)pos * pow(theta, -2.0 * (double)k / (double)hd), c = cos(ang), sn = sin(ang);
        double x1 = x[k], x2 = x[k + hd / 2];
        x[k] = x1 * c - x2 * sn;
        x[k + hd / 2] = x2 * c + x1 * sn;
    }
}

/* Checks one token's K (dequantized against the fp64 RoPE of k) and V (codes and scale against the
 * cpu quantizer's) of KV head h; returns the number of misses. */
static int64_t append_misses(const Args *a, const unsigned char *kc, const unsigned char *vc, int64_t cap, int64_t t,
                             int64_t h, const uint16_t *qkv, double theta, const float values[256]) {
    const int64_t hd = a->head_dim, slot = t % cap, width = (a->heads + 2 * a->kv_heads) * hd;
    const uint16_t *k = qkv + t * width + a->heads * hd, *v = k + a->kv_heads * hd;
    const int64_t row = h * hd;
    const int64_t at = (slot * a->kv_heads + h) * hd, sc_at = cap * a->kv_heads * hd + (slot * a->kv_heads + h) * 4;
    float x[256], ks, vs, want_s;
    uint8_t want[256];
    double kr[256];
    int64_t misses = 0;
    for (int64_t e = 0; e < hd; e++) x[e] = st_bf16_to_f32(v[row + e]), kr[e] = st_bf16_to_f32(k[row + e]);
    want_s = kv_quantize_head(a->kv, x, hd, want);
    memcpy(&vs, vc + sc_at, 4), memcpy(&ks, kc + sc_at, 4);
    misses += memcmp(want, vc + at, (size_t)hd) != 0 || memcmp(&want_s, &vs, 4) != 0;
    host_rope(kr, hd, t, theta);
    for (int64_t e = 0; e < hd; e++) {
        double got = values[kc[at + e]] * (double)ks, ref = kr[e];
        double q_err = a->kv == DT_FP8 ? fmax(fabs(ref) / 16, ks / 1024.0) : ks / 2.0;
        misses += !(fabs(got - ref) <= 1e-2 + 1e-2 * fabs(ref) + q_err);
    }
    return misses;
}

/* The RoPE+append kernel of the layer on min(L, capacity) tokens of sequence 0 at positions 0, 1, ...
 * An owner's input, as the cuda backend passes it (OP_ROPE_APPEND): the fused qkv rows, q, k and v of a
 * token in one row of (HEADS + 2 KV_HEADS) x HD, with p.q, p.k and p.v at the first row's parts and
 * the rotated q written to p.q_out. */
static int run_append_check(Probe *p, const Args *a) {
    const int64_t cap = p->cg.capacity[0], T = a->len < cap ? a->len : cap, qw = a->heads * a->head_dim;
    const int64_t kvw = a->kv_heads * a->head_dim, width = qw + 2 * kvw;
    const int64_t seq = MIXC_KV_SEQ_BYTES(cap, a->kv_heads, a->head_dim, 1LL);
    const int kr = p->cg.layer[0].rope;
    uint16_t *qkv = xmalloc((size_t)(T * width) * 2);
    unsigned char *kc = xcalloc((size_t)seq, 1), *vc = xcalloc((size_t)seq, 1);
    int *ints = xcalloc((size_t)(2 * T), sizeof *ints);
    CUdeviceptr dqkv = 0, dq = 0, dkc = 0, dvc = 0, dint = 0, dtab = 0;
    int64_t misses = 0;
    float values[256], inv_freq[128], scale = 1.0f;
    int rc = 1;
    CUfunction f = function(p, kr);
    if (!f) goto fail;
    fill(qkv, T * width);
    for (int64_t t = 0; t < T; t++) ints[t] = (int)t;   /* positions; sequences (the second half) 0 */
    CU_CHECK(p->cu->cuMemAlloc(&dqkv, (size_t)(T * width) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&dq, (size_t)(T * qw) * 2));
    CU_CHECK(p->cu->cuMemAlloc(&dkc, (size_t)seq));
    CU_CHECK(p->cu->cuMemAlloc(&dvc, (size_t)seq));
    CU_CHECK(p->cu->cuMemAlloc(&dint, (size_t)(2 * T) * sizeof(int)));
    CU_CHECK(p->cu->cuMemcpyHtoD(dqkv, qkv, (size_t)(T * width) * 2));
    CU_CHECK(p->cu->cuMemcpyHtoD(dint, ints, (size_t)(2 * T) * sizeof(int)));
    /* the layer's table, as the cuda backend uploads it (a plain layout: theta only, scale 1) */
    rope_table(&p->l.model, &p->l.layer[0].rope, inv_freq, &scale);
    CU_CHECK(p->cu->cuMemAlloc(&dtab, sizeof inv_freq));
    CU_CHECK(p->cu->cuMemcpyHtoD(dtab, inv_freq, sizeof inv_freq));
    RopeParams rp = {.q = dqkv, .k = dqkv + (CUdeviceptr)(qw * 2), .v = dqkv + (CUdeviceptr)((qw + kvw) * 2),
                     .k_cache = dkc, .v_cache = dvc, .pos = dint, .seq = dint + (CUdeviceptr)(T * sizeof(int)),
                     .inv_freq = dtab, .tokens = (int)T, .scale = scale, .q_out = dq};
    CudaLaunch c = cuda_launch_of(&p->cg, kr, T, 1);
    CU_CHECK(launch(p, f, &c, &rp));
    CU_CHECK(p->cu->cuMemcpyDtoH(kc, dkc, (size_t)seq));
    CU_CHECK(p->cu->cuMemcpyDtoH(vc, dvc, (size_t)seq));
    kv_code_values(a->kv, values);
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < a->kv_heads; h++)
            misses += append_misses(a, kc, vc, cap, t, h, qkv, p->l.model.rope_theta, values);
    rc = misses ? 1 : 0;
    printf("{\"check\": \"append\", \"kernel\": \"%s\", \"kv\": \"%s\", \"tokens\": %lld, \"misses\": %lld, \"pass\": %s}\n",
           p->cg.kernel[kr].name, dtype_name(a->kv), (long long)T, (long long)misses, rc ? "false" : "true");
fail:;
    CUdeviceptr all[] = {dqkv, dq, dkc, dvc, dint, dtab};
    for (int i = 0; i < 6; i++)
        if (all[i]) p->cu->cuMemFree(all[i]);
    free(qkv), free(kc), free(vc), free(ints);
    return rc;
}

/* The probe layout's kernels for the emulator, planned as probe_open plans them for the GPU. */
static int emu_so(const Args *a, const char *out) {
    Layout l;
    char err[512];
    if (!make_layout(a, &l)) return 1;
    bool ok = emu_backend_compile_so(&l, 0, out, NULL, err, sizeof err);
    if (!ok) fprintf(stderr, "gpu_attn: %s\n", err);
    layout_free(&l);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    static const char *const modes[] = {"prefill", "decode", "decode-check", "append-check", "emu-so"};
    int mode = -1;
    for (int m = 0; argc >= 2 && m < 5; m++)
        if (!strcmp(argv[1], modes[m])) mode = m;
    const bool prefill = mode == 0, with_path = prefill || mode == 4;
    if (mode < 0 || (with_path && argc < 3)) {
        fprintf(stderr, "usage: gpu_attn prefill OUTDIR [options] | gpu_attn decode|decode-check|append-check [options]"
                        " | gpu_attn emu-so OUT.so [options]\n");
        return 2;
    }
    Args a = {0, 128, 16, 8, 1024, 256, 8, 20, DT_BF16};
    for (int i = with_path ? 3 : 2; i + 1 < argc; i += 2) {
        long long v = atoll(argv[i + 1]);
        if (!strcmp(argv[i], "--window")) a.window = v;
        else if (!strcmp(argv[i], "--head-dim")) a.head_dim = v;
        else if (!strcmp(argv[i], "--heads")) a.heads = v;
        else if (!strcmp(argv[i], "--kv-heads")) a.kv_heads = v;
        else if (!strcmp(argv[i], "--len")) a.len = v;
        else if (!strcmp(argv[i], "--chunk")) a.chunk = v;
        else if (!strcmp(argv[i], "--batch")) a.batch = (int)v;
        else if (!strcmp(argv[i], "--iters")) a.iters = (int)v;
        else if (!strcmp(argv[i], "--kv") && dtype_from_name(argv[i + 1], false, &a.kv) &&
                 (a.kv == DT_BF16 || dtype_quantized(a.kv))) continue;
        else {
            fprintf(stderr, "gpu_attn: unknown option or value '%s %s'\n", argv[i], argv[i + 1]);
            return 2;
        }
    }
    if (a.iters < 1 || a.batch < 1 || a.len < 1 || a.chunk < 1 || a.head_dim > PREFILL_MAX_HD ||
        ((prefill || mode == 3) && (prefill ? a.kv != DT_BF16 : !dtype_quantized(a.kv)))) {
        fprintf(stderr, "gpu_attn: bad arguments (prefill takes a bf16 cache, append-check an 8-bit one)\n");
        return 2;
    }
    if (mode == 4) return emu_so(&a, argv[2]);
    Probe p = {0};
    int rc = probe_open(&p, &a);
    if (rc == 0) rc = prefill ? run_prefill(&p, &a, argv[2]) : mode == 1 ? run_decode(&p, &a)
                      : mode == 2 ? run_decode_check(&p, &a) : run_append_check(&p, &a);
    if (p.mod) p.cu->cuModuleUnload(p.mod);
    if (p.ctx) p.cu->cuDevicePrimaryCtxRelease(p.dev);
    if (p.cg.kernel) codegen_free(&p.cg);
    if (p.l.layer) layout_free(&p.l);
    return rc;
}
