/* cuda_backend.c — the cuda backend: the model of docs/model.md on one GPU (cuda_backend.h,
 * docs/gpu.md).
 *
 * Device memory is three allocations: the weights (model dtype), the KV caches (one block; cache c
 * holds K then V for every sequence, [nseq][capacity][kv_heads][head_dim], capacity as planned), and
 * the arena (activations of one step in the model dtype, fp32 logits and decode partials, the int
 * arrays of the step). The residual stream is in the model dtype: the o_proj and down_proj GEMMs add
 * into it (beta = 1, one rounding per add, as the generated residual_add kernel would do).
 * Everything runs on the default stream; each step ends with a synchronizing copy (the logits) or a
 * synchronize, so errors surface in the step that caused them.
 *
 * NOTE: written and compiled on a machine without a GPU. The launch plan and the parameter-struct
 * mirrors are checked without one (tests/cuda); the numerics are checked by scripts/gpu-check.sh,
 * which needs a GPU.
 */
#include "cuda_backend.h"

#include "cuda_check.h"
#include "plan.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The kernels' parameter structs, with device pointers as the driver API's CUdeviceptr. */
#define MIXC_DPTR(T) CUdeviceptr
#include "kernel_params.h"

/* ------------------------------------------------------------------ source and compile */

CodegenOptions cuda_backend_codegen_options(const Layout *l, int64_t context, bool prebuilt, const char *arch) {
    CodegenOptions o = {arch, 0, 0};
    if (!prebuilt) {
        o.context = context;
        o.chunk = l->model.chunk < context ? l->model.chunk : context;
    }
    return o;
}

void cuda_backend_source(const Layout *l, const Codegen *cg, Buf *out) {
    codegen_source(l, cg, out);
}

int cuda_backend_compile(const Layout *l, const Codegen *cg, const char *arch, JitResult *r, char *err,
                         size_t errlen) {
    Buf src = {0};
    cuda_backend_source(l, cg, &src);
    JitOptions jo = {0};
    jo.arch = arch;
    jo.output = JIT_CUBIN;
    jo.name = "kernels.cu";
    int rc = jit_compile(src.data, src.len, &jo, r, err, errlen);
    buf_free(&src);
    return rc;
}

/* ------------------------------------------------------------------ launch geometry */

static unsigned ceil_div(int64_t a, int64_t b) {
    return (unsigned)((a + b - 1) / b);
}

/* The rule of the templates, written out again from the kernel kind (not from the manifest's
 * formulas: tests/cuda compares the two). */
CudaLaunch cuda_backend_launch(const Layout *l, const Codegen *cg, int k, int64_t tokens, int batch) {
    const ModelHeader *m = &l->model;
    const KernelVariant *v = &cg->kernel[k];
    CudaLaunch c = {-1, CL_EMBED, k, {1, 1, 1}, {(unsigned)v->block, 1, 1}, (unsigned)v->dynamic_smem};
    switch (v->kind) {
    case KV_ATTN_PREFILL:   /* PREFILL_BM = 64 queries per block, one head, one sequence */
        c.role = CL_PREFILL;
        c.grid[0] = ceil_div(tokens, 64), c.grid[1] = (unsigned)m->heads, c.grid[2] = (unsigned)batch;
        break;
    case KV_ATTN_DECODE:    /* one KV head and one split of the keys per block */
        c.role = CL_DECODE;
        c.grid[0] = (unsigned)m->kv_heads, c.grid[1] = (unsigned)(v->splits > 0 ? v->splits : 1);
        c.grid[2] = (unsigned)batch;
        break;
    case KV_ATTN_DECODE_REDUCE:
        c.role = CL_DECODE_REDUCE;
        c.grid[0] = (unsigned)m->heads, c.grid[1] = (unsigned)batch;
        break;
    case KV_ROPE_Q:
    case KV_ROPE_APPEND:
        c.role = CL_ROPE;
        c.grid[0] = (unsigned)tokens;
        break;
    case KV_RMSNORM:
        c.role = CL_RMSNORM;
        c.grid[0] = (unsigned)tokens;
        break;
    case KV_SILU_MUL:
        c.role = CL_SILU_MUL;
        c.grid[0] = ceil_div(tokens * m->ffn, v->block);
        break;
    case KV_EMBED:
        c.role = CL_EMBED;
        c.grid[0] = (unsigned)tokens;
        break;
    case KV_RESIDUAL_ADD:   /* not launched: the GEMMs add into the residual (beta = 1) */
    case KV_COUNT:
        c.grid[0] = ceil_div(tokens * m->hidden, v->block);
        break;
    }
    return c;
}

static void plan_push(CudaLaunch **p, int *n, int *cap, CudaLaunch c, int layer) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *p = xrealloc(*p, (size_t)*cap * sizeof **p);
    }
    c.layer = layer;
    (*p)[(*n)++] = c;
}

/* A prefill chunk of one token runs the decode kernels (batch 1), as the emu backend does. */
static bool use_decode(bool decode, int64_t tokens) {
    return decode || tokens == 1;
}

int cuda_backend_launch_plan(const Layout *l, const Codegen *cg, bool decode, int64_t tokens, int batch,
                             CudaLaunch **out) {
    CudaLaunch *p = NULL;
    int n = 0, cap = 0;
    int64_t rows = decode ? batch : tokens;
    int sb = decode ? batch : 1;
    plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, cg->embed, rows, sb), -1);
    for (int i = 0; i < l->nlayers; i++) {
        const LayerKernels *lk = &cg->layer[i];
        plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, cg->rmsnorm, rows, sb), i);
        plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, lk->rope, rows, sb), i);
        if (use_decode(decode, tokens)) {
            plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, lk->decode, rows, sb), i);
            plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, lk->decode_reduce, rows, sb), i);
        } else {
            plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, lk->prefill, rows, sb), i);
        }
        plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, cg->rmsnorm, rows, sb), i);
        plan_push(&p, &n, &cap, cuda_backend_launch(l, cg, cg->silu_mul, rows, sb), i);
    }
    *out = p;
    return n;
}

const char *cuda_launch_role_name(CudaLaunchRole r) {
    static const char *names[] = {"embed", "rmsnorm", "rope", "prefill", "decode", "decode_reduce", "silu_mul"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

void cuda_backend_print_plan(const Layout *l, const Codegen *cg, const CudaLaunch *p, int n, FILE *out) {
    (void)l;
    for (int i = 0; i < n; i++)
        fprintf(out, "%d %s %s grid %u %u %u block %u %u %u smem %u\n", p[i].layer, cuda_launch_role_name(p[i].role),
                cg->kernel[p[i].kernel].name, p[i].grid[0], p[i].grid[1], p[i].grid[2], p[i].block[0],
                p[i].block[1], p[i].block[2], p[i].smem);
}

/* ------------------------------------------------------------------ state */

typedef struct {
    CUdeviceptr norm_in, wq, wk, wv, wo, norm_post, w_gate, w_up, w_down;
} DevLayer;

typedef struct {
    const CudaDriver *cu;
    const CublasApi *bl;
    CUdevice dev;
    CUcontext ctx;
    bool ctx_retained;
    cublasHandle_t blas;
    CUmodule mod;
    Codegen cg;
    bool cg_ready;
    CUfunction *fn;             /* [cg.nkernels] */
    cudaDataType dt;            /* CUDA_R_16BF or CUDA_R_16F */
    size_t esize;
    int64_t rows;               /* activation rows: max(chunk, nseq) */
    /* weights */
    CUdeviceptr weights, embed, lm_head, norm_final;
    DevLayer *layer;
    /* caches: cache c of sequence s starts at kc[c] + s * cap * kvw elements */
    CUdeviceptr caches, *kc, *vc;
    /* arena */
    CUdeviceptr arena, x, h, q, k, v, att, gate, up, logits, o_part, ml_part, ints;
    int32_t *host_ints;         /* [3 * rows + 3] */
    float scale;
    bool print_plan;
} CudaState;

/* Layout of the int block of the arena: ids | pos | seq (rows each) | q_start, q_len, pos0. */
#define INT_IDS(s) 0
#define INT_POS(s) ((s)->rows)
#define INT_SEQ(s) (2 * (s)->rows)
#define INT_PREFILL(s) (3 * (s)->rows)

static CUdeviceptr int_ptr(const CudaState *s, int64_t index) {
    return s->ints + (CUdeviceptr)(index * (int64_t)sizeof(int32_t));
}

/* The last failed check, into the backend's error. */
static bool step_failed(Backend *b) {
    snprintf(b->err, sizeof b->err, "%s", *cuda_last_error() ? cuda_last_error() : "a CUDA call failed");
    return false;
}

/* ------------------------------------------------------------------ calls */

static bool launch(CudaState *s, const CudaLaunch *c, void *params) {
    void *args[] = {params};
    CU_CHECK_RET(s->cu->cuLaunchKernel(s->fn[c->kernel], c->grid[0], c->grid[1], c->grid[2], c->block[0], c->block[1],
                                       c->block[2], c->smem, NULL, args, NULL),
                 false);
    return true;
}

static bool launch_kernel(Backend *b, int k, int64_t tokens, int batch, void *params) {
    CudaState *s = b->impl;
    CudaLaunch c = cuda_backend_launch(b->layout, &s->cg, k, tokens, batch);
    return launch(s, &c, params);
}

/* y[r][o] = x[r] . W[o] (+ y[r][o] when beta = 1) for row-major x [rows][in], W [out][in],
 * y [rows][out]. cuBLAS is column-major: y is the out x rows matrix Y' = W X', where W's memory read
 * column-major is W' (hence OP_T, lda = in) and x's is X' (OP_N, ldb = in). */
static bool gemm(CudaState *s, CUdeviceptr y, cudaDataType yt, CUdeviceptr x, CUdeviceptr w, int64_t rows,
                 int64_t in, int64_t out, float beta) {
    const float alpha = 1.0f;
    CUBLAS_CHECK_RET(s->bl->cublasGemmEx(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)rows, (int)in, &alpha,
                                         (const void *)(uintptr_t)w, s->dt, (int)in, (const void *)(uintptr_t)x, s->dt,
                                         (int)in, &beta, (void *)(uintptr_t)y, yt, (int)out, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT),
                     false);
    return true;
}

static bool rmsnorm(Backend *b, CUdeviceptr out, CUdeviceptr x, CUdeviceptr w, int64_t rows) {
    CudaState *s = b->impl;
    RmsNormParams p = {x, w, out, (int)rows};
    return launch_kernel(b, s->cg.rmsnorm, rows, 1, &p);
}

/* Rows of one sequence at consecutive positions (a prefill chunk), or one row per sequence. */
typedef struct {
    bool decode;
    int seq;            /* prefill: the sequence */
    int64_t rows, p0;   /* rows in this step; prefill: position of the first */
} Step;

static int64_t kv_width(const Layout *l) {
    return l->model.kv_heads * l->model.head_dim;
}

/* Offset of sequence seq in cache c, in bytes. */
static CUdeviceptr seq_offset(const Backend *b, int cache, int seq) {
    const CudaState *s = b->impl;
    return (CUdeviceptr)((int64_t)seq * b->cache_tokens[cache] * kv_width(b->layout) * (int64_t)s->esize);
}

static bool attention(Backend *b, int layer, const Step *st) {
    CudaState *s = b->impl;
    const LayerInfo *li = &b->layout->layer[layer];
    const LayerKernels *lk = &s->cg.layer[layer];
    bool owner = li->reads == layer;
    int c = li->cache;
    RopeParams rp = {s->q, owner ? s->k : 0, owner ? s->v : 0, s->kc[c], s->vc[c], int_ptr(s, INT_POS(s)),
                     int_ptr(s, INT_SEQ(s)), (int)st->rows};
    if (!launch_kernel(b, lk->rope, st->rows, 1, &rp)) return false;
    if (use_decode(st->decode, st->rows)) {
        /* decode: every sequence (batch = rows, caches from sequence 0); a 1-token prefill: batch 1 */
        int batch = st->decode ? (int)st->rows : 1;
        CUdeviceptr off = st->decode ? 0 : seq_offset(b, c, st->seq);
        DecodeParams dp = {s->q, s->kc[c] + off, s->vc[c] + off, int_ptr(s, INT_POS(s)), s->o_part, s->ml_part,
                           s->scale, batch};
        if (!launch_kernel(b, lk->decode, st->rows, batch, &dp)) return false;
        CudaLaunch dl = cuda_backend_launch(b->layout, &s->cg, lk->decode, st->rows, batch);
        DecodeReduceParams rr = {s->o_part, s->ml_part, s->att, (int)b->layout->model.heads, (int)dl.grid[1], batch};
        return launch_kernel(b, lk->decode_reduce, st->rows, batch, &rr);
    }
    CUdeviceptr off = seq_offset(b, c, st->seq);
    PrefillParams pp = {s->q, s->att, s->kc[c] + off, s->vc[c] + off, int_ptr(s, INT_PREFILL(s)),
                        int_ptr(s, INT_PREFILL(s) + 1), int_ptr(s, INT_PREFILL(s) + 2), s->scale, 1};
    return launch_kernel(b, lk->prefill, st->rows, 1, &pp);
}

static bool run_layer(Backend *b, int layer, const Step *st) {
    CudaState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    const DevLayer *w = &s->layer[layer];
    int64_t R = st->rows, d = m->hidden, qw = m->heads * m->head_dim, kvw = kv_width(b->layout);
    if (!rmsnorm(b, s->h, s->x, w->norm_in, R) || !gemm(s, s->q, s->dt, s->h, w->wq, R, d, qw, 0.0f)) return false;
    if (w->wk && (!gemm(s, s->k, s->dt, s->h, w->wk, R, d, kvw, 0.0f) || !gemm(s, s->v, s->dt, s->h, w->wv, R, d, kvw, 0.0f)))
        return false;
    if (!attention(b, layer, st) || !gemm(s, s->x, s->dt, s->att, w->wo, R, qw, d, 1.0f)) return false;
    if (!rmsnorm(b, s->h, s->x, w->norm_post, R) || !gemm(s, s->gate, s->dt, s->h, w->w_gate, R, d, m->ffn, 0.0f) ||
        !gemm(s, s->up, s->dt, s->h, w->w_up, R, d, m->ffn, 0.0f))
        return false;
    SiluMulParams sp = {s->gate, s->up, s->gate, (long long)(R * m->ffn)};
    return launch_kernel(b, s->cg.silu_mul, R, 1, &sp) && gemm(s, s->x, s->dt, s->gate, w->w_down, R, m->ffn, d, 1.0f);
}

/* Uploads the step's ints: token ids, positions, sequences and the prefill triple. */
static bool upload_ints(Backend *b, const int32_t *tokens, const Step *st) {
    CudaState *s = b->impl;
    int32_t *hi = s->host_ints;
    for (int64_t r = 0; r < st->rows; r++) {
        hi[INT_IDS(s) + r] = tokens[r];
        hi[INT_POS(s) + r] = (int32_t)(st->decode ? b->seq_len[r] : st->p0 + r);
        hi[INT_SEQ(s) + r] = st->decode ? (int32_t)r : st->seq;
    }
    hi[INT_PREFILL(s)] = 0;
    hi[INT_PREFILL(s) + 1] = (int32_t)st->rows;
    hi[INT_PREFILL(s) + 2] = (int32_t)st->p0;
    CU_CHECK_RET(s->cu->cuMemcpyHtoD(s->ints, hi, (size_t)(3 * s->rows + 3) * sizeof(int32_t)), false);
    return true;
}

static bool forward(Backend *b, const int32_t *tokens, const Step *st, float *logits, int64_t first_logit) {
    CudaState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    if (!upload_ints(b, tokens, st)) return step_failed(b);
    EmbedParams ep = {int_ptr(s, INT_IDS(s)), s->embed, s->x, (int)st->rows};
    if (!launch_kernel(b, s->cg.embed, st->rows, 1, &ep)) return step_failed(b);
    for (int i = 0; i < b->layout->nlayers; i++)
        if (!run_layer(b, i, st)) return step_failed(b);
    if (logits) {
        int64_t n = st->rows - first_logit;
        CUdeviceptr xr = s->x + (CUdeviceptr)(first_logit * m->hidden * (int64_t)s->esize);
        if (!rmsnorm(b, s->h, xr, s->norm_final, n) ||
            !gemm(s, s->logits, CUDA_R_32F, s->h, s->lm_head, n, m->hidden, m->vocab, 0.0f))
            return step_failed(b);
        CU_CHECK_RET(s->cu->cuMemcpyDtoH(logits, s->logits, (size_t)(n * m->vocab) * sizeof(float)), step_failed(b));
    }
    CU_CHECK_RET(s->cu->cuCtxSynchronize(), step_failed(b));
    return true;
}

static bool cuda_prefill(Backend *b, int seq, const int32_t *tokens, int64_t n, float *logits, bool all_logits) {
    CudaState *s = b->impl;
    if (!backend_check_prefill(b, seq, tokens, n, s->cg.chunk)) return false;
    Step st = {false, seq, n, b->seq_len[seq]};
    if (!forward(b, tokens, &st, logits, all_logits ? 0 : n - 1)) return false;
    b->seq_len[seq] += n;
    return true;
}

static bool cuda_decode(Backend *b, const int32_t *tokens, float *logits) {
    int nseq = b->cfg.nseq;
    if (!backend_check_decode(b, tokens)) return false;
    Step st = {true, 0, nseq, 0};
    if (!forward(b, tokens, &st, logits, 0)) return false;
    for (int q = 0; q < nseq; q++) b->seq_len[q]++;
    return true;
}

/* ------------------------------------------------------------------ closing */

static void free_state(CudaState *s) {
    if (!s) return;
    const CudaDriver *cu = s->cu;
    if (cu && s->ctx_retained) {
        cu->cuCtxSetCurrent(s->ctx);
        if (s->blas) s->bl->cublasDestroy(s->blas);
        CUdeviceptr blocks[] = {s->weights, s->caches, s->arena};
        for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
            if (blocks[i]) cu->cuMemFree(blocks[i]);
        if (s->mod) cu->cuModuleUnload(s->mod);
        cu->cuDevicePrimaryCtxRelease(s->dev);
    }
    if (s->cg_ready) codegen_free(&s->cg);
    free(s->fn);
    free(s->layer);
    free(s->kc);
    free(s->vc);
    free(s->host_ints);
    free(s);
}

static void cuda_close(Backend *b) {
    free_state(b->impl);
    backend_release(b);
}

static const BackendOps cuda_ops = {"cuda", cuda_prefill, cuda_decode, cuda_close};

/* ------------------------------------------------------------------ opening */

static int last_cuda_error(char *err, size_t errlen, int status) {
    return backend_open_error(err, errlen, status, "%s", *cuda_last_error() ? cuda_last_error() : "a CUDA call failed");
}

static int64_t align256(int64_t n) {
    return (n + 255) & ~(int64_t)255;
}

/* Device 0's context and its architecture ("sm_XY"), compute capability 8.0 at least. */
static int open_device(CudaState *s, char arch[16], char *err, size_t errlen) {
    const CudaDriver *cu = s->cu;
    int major = 0, minor = 0;
    CU_CHECK_RET(cu->cuDeviceGet(&s->dev, 0), last_cuda_error(err, errlen, 2));
    CU_CHECK_RET(cu->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, s->dev),
                 last_cuda_error(err, errlen, 2));
    CU_CHECK_RET(cu->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, s->dev),
                 last_cuda_error(err, errlen, 2));
    if (major < 8)
        return backend_open_error(err, errlen, 2, "the GPU has compute capability %d.%d; the kernels need 8.0 or newer",
                                  major, minor);
    snprintf(arch, 16, "sm_%d%d", major, minor);
    CU_CHECK_RET(cu->cuDevicePrimaryCtxRetain(&s->ctx, s->dev), last_cuda_error(err, errlen, 2));
    s->ctx_retained = true;
    CU_CHECK_RET(cu->cuCtxSetCurrent(s->ctx), last_cuda_error(err, errlen, 2));
    return 0;
}

/* The module: the prebuilt cubin (when not NULL), or the layout's kernels compiled for arch. */
static int load_module(CudaState *s, const Layout *l, const void *prebuilt_cubin, const char *arch, char *err,
                       size_t errlen) {
    if (prebuilt_cubin) {
        CU_CHECK_RET(s->cu->cuModuleLoadData(&s->mod, prebuilt_cubin), last_cuda_error(err, errlen, 1));
        return 0;
    }
    JitResult r;
    int rc = cuda_backend_compile(l, &s->cg, arch, &r, err, errlen);
    if (rc == 0) {
        CUresult cr = s->cu->cuModuleLoadData(&s->mod, r.image);
        if (cr != CUDA_SUCCESS) {
            const char *desc;
            const char *name = cuda_cu_result_name(cr, &desc);
            rc = backend_open_error(err, errlen, 1, "cannot load the kernels compiled for %s: %s (%s)", arch, name,
                                    desc);
        }
    }
    jit_result_free(&r);
    return rc;
}

/* Every kernel of the plan, with its opt-in shared memory. */
static int resolve_functions(CudaState *s, char *err, size_t errlen) {
    s->fn = xcalloc((size_t)s->cg.nkernels + 1, sizeof *s->fn);
    for (int k = 0; k < s->cg.nkernels; k++) {
        const KernelVariant *v = &s->cg.kernel[k];
        if (s->cu->cuModuleGetFunction(&s->fn[k], s->mod, v->name) != CUDA_SUCCESS)
            return backend_open_error(err, errlen, 1, "the kernels lack %s (a cubin built for another layout?)",
                                      v->name);
        if (v->dynamic_smem > CODEGEN_STATIC_SMEM_LIMIT)
            CU_CHECK_RET(s->cu->cuFuncSetAttribute(s->fn[k], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                   (int)v->dynamic_smem),
                         last_cuda_error(err, errlen, 1));
    }
    return 0;
}

/* The device copy of the tensor whose host data is `host` (0 for NULL: a reader's k/v). */
static CUdeviceptr dev_of(const ModelTensor *t, int n, const int64_t *off, CUdeviceptr base, const float *host) {
    if (!host) return 0;
    for (int i = 0; i < n; i++)
        if (*t[i].slot == host) return base + (CUdeviceptr)off[i];
    return 0;
}

/* Weights of the model, converted to the model dtype, in one allocation. */
static int upload_weights(Backend *b, CudaState *s, char *err, size_t errlen) {
    ModelTensor *t = NULL;
    int n = model_tensors((Model *)b->model, &t);
    int64_t total = 0;
    int64_t *off = xcalloc((size_t)n + 1, sizeof *off);
    for (int i = 0; i < n; i++) {
        off[i] = total;
        int64_t count = t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
        total += align256(count * (int64_t)s->esize);
    }
    int rc = 0;
    uint16_t *staging = NULL;
    CU_CHECK_GOTO(s->cu->cuMemAlloc(&s->weights, (size_t)total), fail);
    b->mem.weights_bytes = total;
    b->mem.weights_dtype = dtype_name(b->layout->model.dtype);
    for (int i = 0; i < n; i++) {
        int64_t count = t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
        staging = xrealloc(staging, (size_t)count * sizeof *staging);
        const float *src = *t[i].slot;
        for (int64_t j = 0; j < count; j++)
            staging[j] = s->dt == CUDA_R_16F ? st_f32_to_f16(src[j]) : st_f32_to_bf16(src[j]);
        CU_CHECK_GOTO(s->cu->cuMemcpyHtoD(s->weights + (CUdeviceptr)off[i], staging, (size_t)count * s->esize), fail);
    }
    /* Device pointers by host pointer: every weight of the model is one of the tensors. */
    const Model *m = b->model;
#define DEV(host) dev_of(t, n, off, s->weights, (host))
    s->embed = DEV(m->embed);
    s->lm_head = m->tied ? s->embed : DEV(m->lm_head);
    s->norm_final = DEV(m->norm_final);
    s->layer = xcalloc((size_t)b->layout->nlayers + 1, sizeof *s->layer);
    for (int i = 0; i < b->layout->nlayers; i++) {
        const LayerWeights *w = &m->layer[i];
        s->layer[i] = (DevLayer){DEV(w->norm_in), DEV(w->wq),     DEV(w->wk),   DEV(w->wv),    DEV(w->wo),
                                 DEV(w->norm_post), DEV(w->w_gate), DEV(w->w_up), DEV(w->w_down)};
    }
#undef DEV
    goto done;
fail:
    rc = last_cuda_error(err, errlen, 1);
done:
    free(staging);
    free(off);
    free(t);
    return rc;
}

/* The caches (capacities of the plan the kernels were generated with) in one allocation. */
static int alloc_caches(Backend *b, CudaState *s, char *err, size_t errlen) {
    const Layout *l = b->layout;
    int64_t kvw = kv_width(l), total = 0;
    s->kc = xcalloc((size_t)l->ncaches + 1, sizeof *s->kc);
    s->vc = xcalloc((size_t)l->ncaches + 1, sizeof *s->vc);
    int64_t *off = xcalloc((size_t)l->ncaches + 1, sizeof *off);
    for (int c = 0; c < l->ncaches; c++) {
        off[c] = total;
        total += 2 * align256((int64_t)b->cfg.nseq * b->cache_tokens[c] * kvw * (int64_t)s->esize);
    }
    CUresult r = s->cu->cuMemAlloc(&s->caches, (size_t)(total ? total : 256));
    if (r != CUDA_SUCCESS) {
        free(off);
        return backend_open_error(err, errlen, 1, "cannot allocate %s of KV caches on the GPU",
                                  fmt_bytes((double)total));
    }
    for (int c = 0; c < l->ncaches; c++) {
        int64_t half = align256((int64_t)b->cfg.nseq * b->cache_tokens[c] * kvw * (int64_t)s->esize);
        s->kc[c] = s->caches + (CUdeviceptr)off[c];
        s->vc[c] = s->kc[c] + (CUdeviceptr)half;
    }
    free(off);
    b->mem.kv_bytes = total;
    b->mem.kv_dtype = dtype_name(b->layout->model.dtype);   /* caches are held in the model dtype */
    /* Zeroed: a masked key's value row is still multiplied by 0, and 0 * NaN garbage is NaN. */
    CU_CHECK_RET(s->cu->cuMemsetD8(s->caches, 0, (size_t)(total ? total : 256)), last_cuda_error(err, errlen, 1));
    return 0;
}

/* Activations of one step: rows = max(chunk, nseq). */
static int alloc_arena(Backend *b, CudaState *s, char *err, size_t errlen) {
    const ModelHeader *m = &b->layout->model;
    int64_t R = s->rows, e = (int64_t)s->esize, qw = m->heads * m->head_dim, kvw = kv_width(b->layout);
    int max_splits = 1;
    for (int k = 0; k < s->cg.nkernels; k++)
        if (s->cg.kernel[k].splits > max_splits) max_splits = s->cg.kernel[k].splits;
    int64_t partial_rows = (int64_t)b->cfg.nseq * m->heads * max_splits;
    int64_t sizes[] = {R * m->hidden * e, R * m->hidden * e, R * qw * e,      R * kvw * e, R * kvw * e,
                       R * qw * e,        R * m->ffn * e,    R * m->ffn * e, R * m->vocab * 4,
                       partial_rows * m->head_dim * 4, partial_rows * 2 * 4, (3 * R + 3) * 4};
    CUdeviceptr *slots[] = {&s->x, &s->h, &s->q, &s->k, &s->v, &s->att, &s->gate, &s->up, &s->logits,
                            &s->o_part, &s->ml_part, &s->ints};
    int64_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += align256(sizes[i]);
    if (s->cu->cuMemAlloc(&s->arena, (size_t)total) != CUDA_SUCCESS)
        return backend_open_error(err, errlen, 1, "cannot allocate %s of activations on the GPU",
                                  fmt_bytes((double)total));
    int64_t at = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *slots[i] = s->arena + (CUdeviceptr)at;
        at += align256(sizes[i]);
    }
    b->mem.arena_bytes = total;
    s->host_ints = xcalloc((size_t)(3 * R + 3), sizeof(int32_t));
    CU_CHECK_RET(s->cu->cuMemsetD8(s->arena, 0, (size_t)total), last_cuda_error(err, errlen, 1));
    return 0;
}

/* The kernels' plan for this run; the cache capacities must be the planner's. */
static int plan_kernels(Backend *b, CudaState *s, const char *arch, char *err, size_t errlen) {
    const Layout *l = b->layout;
    bool prebuilt = b->cfg.cuda_cubin != NULL;
    const char *cg_arch = strncmp(arch, "sm_8", 4) == 0 ? "sm_80" : "sm_90";
    CodegenOptions o = cuda_backend_codegen_options(l, b->cfg.context, prebuilt, cg_arch);
    char why[256];
    if (!codegen_plan(l, &o, &s->cg, why, sizeof why)) return backend_open_error(err, errlen, 1, "%s", why);
    s->cg_ready = true;
    for (int c = 0; c < l->ncaches; c++) {
        int64_t want = plan_cache_tokens(l, c, s->cg.context, s->cg.chunk);
        if (s->cg.capacity[c] != want)
            return backend_open_error(err, errlen, 1,
                                      "internal error: cache %d: kernels planned for %lld tokens, the planner "
                                      "says %lld",
                                      c, (long long)s->cg.capacity[c], (long long)want);
        b->cache_tokens[c] = s->cg.capacity[c];
    }
    return 0;
}

static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

bool backend_cuda_available(char *why, size_t whylen) {
    const CudaDriver *cu = cuda_driver_load(why, whylen);
    if (!cu) return false;
    int count = 0;
    CUresult r = cu->cuDeviceGetCount(&count);
    if (r != CUDA_SUCCESS || count < 1) {
        snprintf(why, whylen, "the CUDA driver sees no device");
        return false;
    }
    return true;
}

int cuda_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    const Layout *l = m->layout;
    const ModelHeader *h = &l->model;
    char why[256];
    if (!backend_cuda_available(why, sizeof why))
        return backend_open_error(err, errlen, 2, "no CUDA device available (%s)", why);
    int checked = backend_check_config(m, cfg, err, errlen);
    if (checked) return checked;
    if (cfg->full_caches)
        return backend_open_error(err, errlen, 2,
                                  "--full-caches is not supported by the cuda backend (its caches are the "
                                  "kernels' planned rings)");
    if (h->dtype != DT_BF16 && h->dtype != DT_FP16)
        return backend_open_error(err, errlen, 1, "dtype must be bf16 or fp16");
    if (!model_check_size(l, err, errlen)) return 1;
    CudaState *s = xcalloc(1, sizeof *s);
    b->ops = &cuda_ops;
    b->name = "cuda";
    b->model = m;
    b->layout = l;
    b->cfg = *cfg;
    b->impl = s;
    b->seq_len = xcalloc((size_t)cfg->nseq, sizeof(int64_t));
    b->cache_tokens = xcalloc((size_t)l->ncaches + 1, sizeof(int64_t));
    s->dt = h->dtype == DT_FP16 ? CUDA_R_16F : CUDA_R_16BF;
    s->esize = 2;
    s->scale = (float)(1.0 / sqrt((double)h->head_dim));
    s->print_plan = env_flag("MIXC_CUDA_PLAN");
    char arch[16];
    int rc = 0;
    if (!(s->cu = cuda_driver_load(err, errlen))) rc = 2;
    else if (!(s->bl = cublas_load(err, errlen))) rc = 2;
    if (!rc) rc = open_device(s, arch, err, errlen);
    if (!rc) rc = plan_kernels(b, s, arch, err, errlen);
    if (!rc) rc = load_module(s, l, cfg->cuda_cubin, arch, err, errlen);
    if (!rc) rc = resolve_functions(s, err, errlen);
    if (!rc && s->bl->cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS)
        rc = backend_open_error(err, errlen, 2, "cannot create a cuBLAS handle");
    if (!rc) {
        s->rows = s->cg.chunk > cfg->nseq ? s->cg.chunk : cfg->nseq;
        rc = upload_weights(b, s, err, errlen);
    }
    if (!rc) rc = alloc_caches(b, s, err, errlen);
    if (!rc) rc = alloc_arena(b, s, err, errlen);
    if (rc) {
        cuda_close(b);
        return rc;
    }
    if (s->print_plan) {
        CudaLaunch *p = NULL;
        int n = cuda_backend_launch_plan(l, &s->cg, false, s->cg.chunk, 1, &p);
        fprintf(stderr, "mixrun: cuda: %s, prefill chunk of %lld tokens:\n", arch, (long long)s->cg.chunk);
        cuda_backend_print_plan(l, &s->cg, p, n, stderr);
        free(p);
        n = cuda_backend_launch_plan(l, &s->cg, true, cfg->nseq, cfg->nseq, &p);
        fprintf(stderr, "mixrun: cuda: decode of %d sequences:\n", cfg->nseq);
        cuda_backend_print_plan(l, &s->cg, p, n, stderr);
        free(p);
    }
    return 0;
}
