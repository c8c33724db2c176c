/* cuda_backend.c — the cuda backend: the model of docs/model.md on one GPU (cuda_backend.h,
 * docs/gpu.md).
 *
 * Device memory is three allocations, of the run plan's sizes (compiler/plan/run_plan.h): the weights
 * (model dtype), the KV caches (one block; cache c holds K then V for every sequence,
 * [nseq][capacity][kv_heads][head_dim], at the plan's offsets), and the arena (both steps' tensors at
 * the plan's offsets: activations in the model dtype, fp32 logits and decode partials, the int inputs
 * of the step). A step is its schedule's ops in order; the residual stream is in the model dtype and
 * the residual adds run on the generated residual_add kernel.
 * Everything runs on the backend's stream (kernels and cuBLAS); each step ends with a synchronize, so
 * errors surface in the step that caused them. MIXC_CUDA_GRAPHS=1 captures the decode step as a CUDA
 * graph and replays it (replay_step); tests/cuda checks its logits equal the eager step's bit for bit.
 *
 * NOTE: written and compiled on a machine without a GPU. The launches and the parameter structs' host
 * layout are checked without one (tests/cuda); the numerics are checked by scripts/gpu-check.sh,
 * which needs a GPU.
 */
#include "cuda_backend.h"

#include "cuda_check.h"
#include "run_plan.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The kernels' parameter structs, with device pointers as the driver API's CUdeviceptr. */
#define MIXC_DPTR(T) CUdeviceptr
#include "kernel_params.h"

/* ------------------------------------------------------------------ state */

typedef struct {
    CUdeviceptr w[WT_COUNT];    /* by WeightRef */
    const WeightSlot *slot[WT_COUNT];   /* the plan's: its shape, by the layer's kv_heads and head_dim */
} DevLayer;

/* The int inputs of a step, by tensor index (-1 when the step has none: decode has no chunk_args). */
typedef struct {
    int tokens, positions, sequences, chunk_args;
} StepInts;

typedef struct {
    CudaDevice device;
    const CudaDriver *cu;   /* device.cu, device.bl */
    const CublasApi *bl;
    CUdevice dev;
    CUcontext ctx;
    bool ctx_retained;
    cublasHandle_t blas;
    CUmodule mod;
    RunPlan plan;           /* what is allocated and what runs */
    bool plan_ready;
    CUfunction *fn;         /* [plan.cg.nkernels] */
    cudaDataType dt;        /* CUDA_R_16BF or CUDA_R_16F */
    size_t esize;
    /* weights */
    CUdeviceptr weights, embed, lm_head, norm_final;
    const WeightSlot *embed_slot, *lm_head_slot, *norm_final_slot;   /* tied: lm_head's is embed's */
    DevLayer *layer;
    RopeTables rope;        /* every layer's RoPE table, and its device copy */
    CUdeviceptr rope_dev;
    /* the KV allocation and the arena, laid out by the plan */
    CUdeviceptr caches, arena;
    CUdeviceptr workspace;  /* cuBLAS's (the plan's workspace_bytes; cuda only) */
    StepInts ints[2];       /* prefill, decode */
    int32_t *host_ints;     /* staging for the largest int input */
    int32_t *prefill_rows;  /* a prefill step's ids, positions and slots ([3][chunk]) */
    float *scale;           /* [nlayers] each layer's softmax scale (its head_dim's, model_attention_scale) */
    void *pinned;           /* page-locked staging of what a step copies back: the plan's logits (or token ids) */
    size_t pinned_bytes;
    bool print_plan;
    int sm_count;           /* the device's multiprocessors (0 when the driver does not say) */
    CUstream stream;        /* every launch and GEMM */
    /* MIXC_CUDA_GRAPHS=1: the decode step's kernels and GEMMs (all but the logits) captured once per
     * key (rows, logits asked, each layer's split count) and replayed; positions and tokens are read
     * on the device, so a step only uploads them. */
    bool graphs;
    CUgraphExec graph;
    int *graph_key;         /* [nlayers + 2]; graph_key[0] = 0: none captured */
    FILE *route_log;        /* MIXC_ROUTE_LOG: every route op's rows, for the cpu's MIXC_ROUTE_REPLAY */
    float *route_host;
} CudaState;

/* The last failed check, into the backend's error. */
static bool step_failed(Backend *b) {
    snprintf(b->err, sizeof b->err, "%s", *cuda_last_error() ? cuda_last_error() : "a CUDA call failed");
    return false;
}

/* ------------------------------------------------------------------ calls */

/* A batched prefill (the chunks of several sequences, packed in order), or one row per sequence. */
typedef struct {
    const ActPlan *a;
    const StepInts *ints;
    bool decode;
    int64_t rows;       /* rows in this step */
    int batch;          /* sequences the kernels see: decode rows, prefill parts */
    float *logits;      /* may be NULL */
    const LogitRows *lr;    /* the rows whose logits go to `logits` (backend_logit_rows) */
    int nlr;
    const int *slots;   /* decode: [rows] the cache block (slot) of each row */
    const PrefillPart *parts;   /* prefill: [batch] */
    int ntiles;         /* prefill: the tile table's entries (mixc_prefill_args) */
    int32_t *ids;       /* decode: [rows] the argmax codes (mixc_argmax) asked for; NULL: none */
} Step;

static CUdeviceptr T(const CudaState *s, const Step *st, int t) {
    return s->arena + (CUdeviceptr)st->a->item[t].offset;
}

/* Launches op's kernel; splits > 0: a decode kernel's grid.y, chosen for this step. */
static bool launch_split(Backend *b, const Step *st, const PlanOp *op, int64_t rows, void *params, size_t bytes,
                         int splits) {
    CudaState *s = b->impl;
    CudaLaunch c = cuda_launch_of(&s->plan.cg, op->kernel, rows, st->batch);
    if (splits > 0) c.grid[1] = (unsigned)splits;
    /* the parameter buffer form: its size is known, so a capture copies the struct */
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, params, CU_LAUNCH_PARAM_BUFFER_SIZE, &bytes, CU_LAUNCH_PARAM_END};
    CU_CHECK_RET(s->cu->cuLaunchKernel(s->fn[c.kernel], c.grid[0], c.grid[1], c.grid[2], c.block[0], c.block[1],
                                       c.block[2], c.smem, s->stream, NULL, extra),
                 false);
    return true;
}

static bool launch_op(Backend *b, const Step *st, const PlanOp *op, int64_t rows, void *params, size_t bytes) {
    return launch_split(b, st, op, rows, params, bytes, 0);
}

/* The split count of layer i's decode attention in this step (plan_decode_launch_splits): from the
 * rows, the most keys a row sees and the SM count, within the partials the plan reserved. */
static int step_splits(const Backend *b, const Step *st, int i) {
    const CudaState *s = b->impl;
    int64_t live = 1;
    for (int64_t r = 0; r < st->rows; r++)
        if (b->seq_len[st->slots[r]] + 1 > live) live = b->seq_len[st->slots[r]] + 1;
    const int64_t history = layer_history(&b->layout->layer[i]);
    if (history && history < live) live = history;
    const KernelVariant *decode = &s->plan.cg.kernel[s->plan.cg.layer[i].decode];   /* the layer's KV heads */
    DecodeLaunchFigures f = {st->batch, s->plan.opt.batch, decode->kv_heads, live, history, s->plan.cg.context,
                             s->sm_count};
    return (int)plan_decode_launch_splits(&f);
}

/* y[r][o] = x[r] . W[o] for row-major x [rows][in], W [out][in], y [rows][out]. cuBLAS is
 * column-major: y is the out x rows matrix Y' = W X', where W's memory read column-major is W'
 * (hence OP_T, lda = in) and x's is X' (OP_N, ldb = in). */
static bool gemm(CudaState *s, CUdeviceptr y, cudaDataType yt, CUdeviceptr x, CUdeviceptr w, int64_t rows,
                 int64_t in, int64_t out) {
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CHECK_RET(s->bl->cublasGemmEx(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)rows, (int)in, &alpha,
                                         (const void *)(uintptr_t)w, s->dt, (int)in, (const void *)(uintptr_t)x, s->dt,
                                         (int)in, &beta, (void *)(uintptr_t)y, yt, (int)out, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT),
                     false);
    return true;
}

/* The weight an op names, and its shape as the plan holds it: [out][in], a vector [in] (out 1); 0 x 0
 * for none. */
static CUdeviceptr weight(const Backend *b, const PlanOp *op, int64_t *in, int64_t *out) {
    const CudaState *s = b->impl;
    const WeightSlot *w = op->weight == WT_EMBED        ? s->embed_slot
                          : op->weight == WT_NORM_FINAL ? s->norm_final_slot
                          : op->weight == WT_LM_HEAD    ? s->lm_head_slot
                          : op->layer >= 0              ? s->layer[op->layer].slot[op->weight]
                                                        : NULL;
    *in = !w ? 0 : w->cols == 1 ? w->rows : w->cols;
    *out = !w ? 0 : w->cols == 1 ? 1 : w->rows;
    if (op->weight == WT_EMBED) return s->embed;
    if (op->weight == WT_NORM_FINAL) return s->norm_final;
    if (op->weight == WT_LM_HEAD) return s->lm_head;
    return op->layer >= 0 ? s->layer[op->layer].w[op->weight] : 0;
}

/* K (or V) of cache c from slot 0 on: the attention kernels find each row's (or part's) block
 * through the step's slots. */
static CUdeviceptr cache_at(const Backend *b, int c, bool v) {
    const CudaState *s = b->impl;
    const CacheMap *cm = &s->plan.cache[c];
    return s->caches + (CUdeviceptr)(v ? cm->v_offset : cm->k_offset);
}

/* Layer i's table on the device; 0 for a NoPE layer. */
static CUdeviceptr rope_dev_table(const CudaState *s, int i) {
    return s->rope.rotated[i] ? s->rope_dev + (CUdeviceptr)((size_t)(i * s->rope.half) * sizeof(float)) : 0;
}

static bool run_attention_op(Backend *b, const Step *st, const PlanOp *op) {
    CudaState *s = b->impl;
    const int c = b->layout->layer[op->layer].cache;
    const int32_t elem = (int32_t)sizeof(int32_t);
    switch (op->kind) {
    case OP_ROPE_APPEND:
    case OP_ROPE_Q: {   /* the kernel offsets each row's cache by its sequence: caches from slot 0 */
        bool owner = op->kind == OP_ROPE_APPEND;
        const CacheMap *cm = &s->plan.cache[c];
        RopeParams p = {T(s, st, op->in[0]), owner ? T(s, st, op->in[1]) : 0, owner ? T(s, st, op->in[2]) : 0,
                        s->caches + (CUdeviceptr)cm->k_offset, s->caches + (CUdeviceptr)cm->v_offset,
                        T(s, st, op->in[owner ? 3 : 1]), T(s, st, op->in[owner ? 4 : 2]),
                        rope_dev_table(s, op->layer), (int)st->rows, s->rope.scale[op->layer], 0, 0.0f};
        const ModelHeader *m = &b->layout->model;
        if (b->layout->layer[op->layer].rope.nope && m->nope_temperature_floor)   /* Llama 4's temperature */
            p.temp_floor = (int)(m->nope_temperature_floor < INT_MAX ? m->nope_temperature_floor : INT_MAX),
            p.temp_scale = (float)m->nope_temperature_scale;   /* a floor past every position: factor 1 */
        return launch_op(b, st, op, st->rows, &p, sizeof p);
    }
    case OP_ATTENTION: {   /* chunk_args: the part table, then the tiles (PREFILL_PART_INTS) */
        CUdeviceptr args = T(s, st, op->in[1]);
        const CUdeviceptr part = (CUdeviceptr)(st->a->parts * elem);
        PrefillParams p = {T(s, st, op->in[0]), T(s, st, op->out[0]), cache_at(b, c, false), cache_at(b, c, true),
                           args, args + part, args + 2 * part, args + 3 * part, args + PREFILL_PART_INTS * part,
                           s->scale[op->layer], st->batch, st->ntiles, s->layer[op->layer].w[WT_SINKS]};
        return launch_op(b, st, op, st->rows, &p, sizeof p);
    }
    case OP_ATTN_DECODE: {   /* writes part_o, part_stats (where a launch may split) and attn */
        bool parts = op->nout == 3;
        DecodeParams p = {T(s, st, op->in[0]), cache_at(b, c, false), cache_at(b, c, true), T(s, st, op->in[1]),
                          T(s, st, op->in[2]), parts ? T(s, st, op->out[0]) : 0, parts ? T(s, st, op->out[1]) : 0,
                          s->scale[op->layer], st->batch, T(s, st, op->out[op->nout - 1]), s->layer[op->layer].w[WT_SINKS]};
        return launch_split(b, st, op, st->rows, &p, sizeof p, step_splits(b, st, op->layer));
    }
    default: {   /* OP_ATTN_REDUCE: as many splits as the layer's decode launch; none after one split */
        if (op->when_split && step_splits(b, st, op->layer) == 1) return true;
        DecodeReduceParams p = {T(s, st, op->in[0]), T(s, st, op->in[1]), T(s, st, op->out[0]),
                                (int)b->layout->model.heads, step_splits(b, st, op->layer), st->batch,
                                s->layer[op->layer].w[WT_SINKS]};
        return launch_op(b, st, op, st->rows, &p, sizeof p);
    }
    }
}

/* bytes of the device's `from` to host memory, through the pinned staging (a page-locked copy). */
static bool copy_back(CudaState *s, void *host, CUdeviceptr from, size_t bytes) {
    CU_CHECK_RET(s->cu->cuMemcpyDtoH(s->pinned, from, bytes), false);
    memcpy(host, s->pinned, bytes);
    return true;
}

/* The logits asked for: each range of rows of xf, as many at a time as the plan's logits tensor
 * holds, copied to the host; in a step whose argmax follows (decode: all rows fit the tensor, one
 * range) that op caps and copies them. */
static bool run_logits(Backend *b, const Step *st, const PlanOp *op) {
    CudaState *s = b->impl;
    int64_t in, out, per = st->a->rows, total = 0;
    CUdeviceptr w = weight(b, op, &in, &out), lt = T(s, st, op->out[0]);
    const bool argmax_next = op + 1 < st->a->op + st->a->nops && op[1].kind == OP_ARGMAX;
    for (int g = 0; g < st->nlr; g++)
        for (int64_t done = 0, n = st->lr[g].n; done < n; done += per) {
            int64_t k = n - done < per ? n - done : per;
            CUdeviceptr xr = T(s, st, op->in[0]) + (CUdeviceptr)((st->lr[g].from + done) * in * (int64_t)s->esize);
            if (!gemm(s, lt, CUDA_R_32F, xr, w, k, in, out)) return false;
            if (!argmax_next &&
                !copy_back(s, st->logits + (st->lr[g].to + done) * out, lt, (size_t)(k * out) * sizeof(float)))
                return false;
            total += k;
        }
    if (!argmax_next) model_softcap_logits(&b->layout->model, st->logits, total * out);   /* on the host, fp32 */
    return true;
}

/* Each row's greedy token on the device (logit_softcap applied there, in place); only the ids asked
 * (rows x 4 bytes), and the logits when asked, come back. */
static bool run_argmax(Backend *b, const Step *st, const PlanOp *op) {
    CudaState *s = b->impl;
    ArgmaxParams p = {T(s, st, op->in[0]), T(s, st, op->out[0]), (int)st->rows};
    size_t row = (size_t)b->layout->model.vocab * sizeof(float);
    return launch_op(b, st, op, st->rows, &p, sizeof p) &&
           (!st->ids || copy_back(s, st->ids, p.ids, (size_t)st->rows * sizeof(int32_t))) &&
           (!st->logits || copy_back(s, st->logits, p.logits, (size_t)st->rows * row));
}

/* A mixture of experts' kernels (moe.cuh): the route, the gathered expert GEMMs, the combine. */
static bool run_moe_op(Backend *b, const Step *st, const PlanOp *op, CUdeviceptr w) {
    CudaState *s = b->impl;
    int R = (int)st->rows;
    switch (op->kind) {
    case OP_MOE_ROUTE: {   /* MIXC_ROUTE_LOG: its rows appended to the log, as fp32 */
        MoeRouteParams p = {T(s, st, op->in[0]), T(s, st, op->out[0]), R};
        size_t n = (size_t)R * (size_t)b->layout->model.experts_per_token * 2;
        bool launched = launch_op(b, st, op, R, &p, sizeof p);
        if (!launched || !s->route_log) return launched;
        s->route_host = xrealloc(s->route_host, n * sizeof(float));
        CU_CHECK_RET(s->cu->cuCtxSynchronize(), false);
        CU_CHECK_RET(s->cu->cuMemcpyDtoH(s->route_host, T(s, st, op->out[0]), n * sizeof(float)), false);
        if (fwrite(s->route_host, sizeof(float), n, s->route_log) == n) return true;
        cuda_check_report("fwrite", __FILE__, __LINE__, "MIXC_ROUTE_LOG", "cannot write the route log");
        return false;
    }
    case OP_MOE_GEMM: {   /* moe_bias: the stacked weight's stacked bias */
        CUdeviceptr bias = b->layout->model.moe_bias ? s->layer[op->layer].w[plan_expert_bias(op->weight)] : 0;
        MoeGemmParams p = {T(s, st, op->in[0]), T(s, st, op->in[1]), w, bias, T(s, st, op->out[0]), R};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    default: {   /* OP_MOE_COMBINE */
        MoeCombineParams p = {T(s, st, op->in[0]), T(s, st, op->in[1]), T(s, st, op->out[0]), R};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    }
}

static bool run_op(Backend *b, const Step *st, const PlanOp *op) {
    CudaState *s = b->impl;
    const ModelHeader *m = &b->layout->model;
    int64_t R = st->rows, in, out;
    CUdeviceptr w = weight(b, op, &in, &out);
    switch (op->kind) {
    case OP_EMBED: {
        EmbedParams p = {T(s, st, op->in[0]), w, T(s, st, op->out[0]), (int)R};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    case OP_RMSNORM: {
        int64_t r0 = cuda_final_norm(op) ? st->lr[0].from : 0;
        CUdeviceptr skip = (CUdeviceptr)(r0 * in * (int64_t)s->esize);
        RmsNormParams p = {T(s, st, op->in[0]) + skip, w, T(s, st, op->out[0]) + skip, (int)(R - r0)};
        return launch_op(b, st, op, R - r0, &p, sizeof p);
    }
    case OP_GEMM: {   /* into the model dtype, or fp32 (the router's logits) */
        cudaDataType yt = st->a->tensor[op->out[0]].dtype == DT_FP32 ? CUDA_R_32F : s->dt;
        return gemm(s, T(s, st, op->out[0]), yt, T(s, st, op->in[0]), w, R, in, out);
    }
    case OP_MOE_ROUTE:
    case OP_MOE_GEMM:
    case OP_MOE_COMBINE: return run_moe_op(b, st, op, w);
    case OP_RESIDUAL_ADD: {
        AddParams p = {T(s, st, op->in[0]), T(s, st, op->in[1]), T(s, st, op->in[0]), (long long)(R * m->hidden)};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    case OP_BIAS_ADD: {   /* the bias is the weight: [in] (plan_weight_shape) */
        BiasAddParams p = {T(s, st, op->in[0]), w, (long long)(R * in)};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    case OP_HEAD_NORM: {   /* qk_norm: every head of q (or k) in place, rows of head_dim: the kernel's heads a token */
        RmsNormParams p = {T(s, st, op->in[0]), w, T(s, st, op->in[0]), (int)(R * s->plan.cg.kernel[op->kernel].heads)};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    case OP_SILU_MUL:
    case OP_GELU_TANH_MUL:
    case OP_CLAMPED_SWIGLU_MUL: {
        SiluMulParams p = {T(s, st, op->in[0]), T(s, st, op->in[1]), T(s, st, op->out[0]),
                           (long long)(R * plan_gated_width(b->layout, op->layer, st->a->tensor[op->out[0]].name))};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    case OP_LOGITS: return run_logits(b, st, op);
    case OP_ARGMAX: return run_argmax(b, st, op);
    default: return run_attention_op(b, st, op);
    }
}

/* Uploads one int input of the step. */
static bool upload(CudaState *s, const Step *st, int t, const int32_t *host, int64_t n) {
    CU_CHECK_RET(s->cu->cuMemcpyHtoD(T(s, st, t), host, (size_t)n * sizeof(int32_t)), false);
    return true;
}

/* A decode step's int inputs: token ids, positions, sequences. */
static bool upload_decode_ints(Backend *b, const int32_t *tokens, const Step *st) {
    CudaState *s = b->impl;
    int32_t *hi = s->host_ints;
    if (!upload(s, st, st->ints->tokens, tokens, st->rows)) return false;
    for (int64_t r = 0; r < st->rows; r++) hi[r] = (int32_t)b->seq_len[st->slots[r]];
    if (!upload(s, st, st->ints->positions, hi, st->rows)) return false;
    for (int64_t r = 0; r < st->rows; r++) hi[r] = st->slots[r];
    return upload(s, st, st->ints->sequences, hi, st->rows);
}

/* A batched prefill's int inputs (cuda_prefill_ints): token ids, positions and slots per row, then
 * chunk_args, whose tile count goes to st->ntiles. */
static bool upload_prefill_ints(Backend *b, Step *st) {
    CudaState *s = b->impl;
    int32_t *rows = s->prefill_rows;
    const int64_t R = st->rows;
    st->ntiles = cuda_prefill_ints(b->seq_len, st->parts, st->batch, R, st->a->parts, rows, s->host_ints);
    return upload(s, st, st->ints->tokens, rows, R) && upload(s, st, st->ints->positions, rows + R, R) &&
           upload(s, st, st->ints->sequences, rows + 2 * R, R) &&
           upload(s, st, st->ints->chunk_args, s->host_ints, PREFILL_ARGS_INTS(st->a->tokens, st->a->parts));
}

/* The step's ops [from, to) that it needs (the final norm and the logits only when asked). */
static bool run_ops(Backend *b, const Step *st, int from, int to) {
    for (int i = from; i < to; i++) {
        const PlanOp *op = &st->a->op[i];
        if (!st->logits && !st->ids && op->layer < 0 && op->kind != OP_EMBED) continue;
        if (!run_op(b, st, op)) return false;
    }
    return true;
}

/* Captures ops [0, body) of the decode step into s->graph (replacing the one there). */
static bool capture_step(Backend *b, const Step *st, int body) {
    CudaState *s = b->impl;
    if (s->graph) s->cu->cuGraphExecDestroy(s->graph);
    s->graph = NULL;
    CUgraph g = NULL;
    CU_CHECK_RET(s->cu->cuStreamBeginCapture(s->stream, CU_STREAM_CAPTURE_MODE_GLOBAL), false);
    bool ran = run_ops(b, st, 0, body);
    CUresult ended = s->cu->cuStreamEndCapture(s->stream, &g);
    if (ran) CU_CHECK_RET(ended, false);
    if (!ran) {
        if (ended == CUDA_SUCCESS) s->cu->cuGraphDestroy(g);
        return false;
    }
    CUresult made = s->cu->cuGraphInstantiate(&s->graph, g, 0);
    s->cu->cuGraphDestroy(g);
    CU_CHECK_RET(made, false);
    return true;
}

/* A decode step as its graph: captured again when the key (rows, logits or ids asked, every layer's
 * split count) changed, then replayed; the logits and argmax (and their copies to the host) run after it. */
static bool replay_step(Backend *b, const Step *st) {
    CudaState *s = b->impl;
    const int n = b->layout->nlayers + 2;
    int body = st->a->nops;
    while (body > 0 && (st->a->op[body - 1].kind == OP_LOGITS || st->a->op[body - 1].kind == OP_ARGMAX)) body--;
    int *key = xcalloc((size_t)n, sizeof *key);
    key[0] = (int)st->rows;
    key[1] = st->logits || st->ids;
    for (int i = 0; i < b->layout->nlayers; i++) key[i + 2] = step_splits(b, st, i);
    bool same = s->graph && memcmp(key, s->graph_key, (size_t)n * sizeof *key) == 0;
    memcpy(s->graph_key, key, (size_t)n * sizeof *key);
    free(key);
    if (!same && !capture_step(b, st, body)) return false;
    CU_CHECK_RET(s->cu->cuGraphLaunch(s->graph, s->stream), false);
    return run_ops(b, st, body, st->a->nops);
}

/* Runs a step: decode of tokens, or (tokens NULL) the prefill of st->parts. */
static bool forward(Backend *b, const int32_t *tokens, Step *st) {
    CudaState *s = b->impl;
    if (!(st->decode ? upload_decode_ints(b, tokens, st) : upload_prefill_ints(b, st))) return step_failed(b);
    if (!(s->graphs && st->decode ? replay_step(b, st) : run_ops(b, st, 0, st->a->nops))) return step_failed(b);
    CU_CHECK_RET(s->cu->cuCtxSynchronize(), step_failed(b));
    return true;
}

/* One launch of every kernel for all the parts (docs/kernels.md, "Batched prefill"). */
static bool cuda_prefill_batch(Backend *b, const PrefillPart *parts, int n, float *logits) {
    CudaState *s = b->impl;
    if (!backend_check_prefill(b, parts, n)) return false;
    LogitRows *lr = xcalloc((size_t)n, sizeof *lr);
    int64_t rows = 0;
    for (int i = 0; i < n; i++) rows += parts[i].n;
    Step st = {&s->plan.prefill, &s->ints[0], false, rows, n, logits, lr, backend_logit_rows(parts, n, lr), NULL,
               parts, 0, NULL};
    bool ok = forward(b, NULL, &st);
    free(lr);
    for (int i = 0; i < n && ok; i++) b->seq_len[parts[i].slot] += parts[i].n;
    return ok;
}

static bool cuda_decode_argmax(Backend *b, const int *slots, int n, const int32_t *tokens, int32_t *ids,
                               float *logits) {
    CudaState *s = b->impl;
    if (!backend_check_decode(b, slots, n, tokens)) return false;
    LogitRows all = {0, n, 0};
    Step st = {&s->plan.decode, &s->ints[1], true, n, n, logits, &all, 1, slots, NULL, 0, ids};
    if (!forward(b, tokens, &st)) return false;
    for (int i = 0; i < n; i++) b->seq_len[slots[i]]++;
    return true;
}

static bool cuda_decode_slots(Backend *b, const int *slots, int n, const int32_t *tokens, float *logits) {
    return cuda_decode_argmax(b, slots, n, tokens, NULL, logits);
}

/* ------------------------------------------------------------------ closing */

static void free_state(CudaState *s) {
    if (!s) return;
    const CudaDriver *cu = s->cu;
    if (cu && s->ctx_retained) {
        cu->cuCtxSetCurrent(s->ctx);
        if (s->blas) s->bl->cublasDestroy(s->blas);
        if (s->graph) cu->cuGraphExecDestroy(s->graph);
        if (s->stream) cu->cuStreamDestroy(s->stream);
        CUdeviceptr blocks[] = {s->weights, s->caches, s->arena, s->rope_dev, s->workspace};
        for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
            if (blocks[i]) cu->cuMemFree(blocks[i]);
        if (s->mod) cu->cuModuleUnload(s->mod);
        if (s->pinned) cu->cuMemFreeHost(s->pinned);
        cu->cuDevicePrimaryCtxRelease(s->dev);
    }
    if (s->plan_ready) run_plan_free(&s->plan);
    free(s->fn);
    free(s->layer);
    free(s->scale);
    rope_tables_free(&s->rope);
    free(s->host_ints);
    free(s->prefill_rows);
    free(s->graph_key);
    if (s->route_log) fclose(s->route_log);
    free(s->route_host);
    free(s);
}

static void cuda_close(Backend *b) {
    free_state(b->impl);
    backend_release(b);
}

static const BackendOps cuda_ops = {"cuda", cuda_prefill_batch, backend_decode_all, cuda_decode_slots, cuda_close,
                                    cuda_decode_argmax};
static const BackendOps emu_ops = {"emu", cuda_prefill_batch, backend_decode_all, cuda_decode_slots, cuda_close,
                                   cuda_decode_argmax};

/* ------------------------------------------------------------------ opening */

static int last_cuda_error(char *err, size_t errlen, int status) {
    return backend_open_error(err, errlen, status, "%s", *cuda_last_error() ? cuda_last_error() : "a CUDA call failed");
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
    if (cu->cuDeviceGetAttribute(&s->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, s->dev) != CUDA_SUCCESS)
        s->sm_count = 0;   /* unknown: the split rule then goes by the keys alone */
    CU_CHECK_RET(cu->cuDevicePrimaryCtxRetain(&s->ctx, s->dev), last_cuda_error(err, errlen, 2));
    s->ctx_retained = true;
    CU_CHECK_RET(cu->cuCtxSetCurrent(s->ctx), last_cuda_error(err, errlen, 2));
    return 0;
}

/* The GPU's module: the prebuilt cubin (when not NULL), or the layout's kernels compiled for arch. */
static int gpu_load_module(const CudaDevice *d, const Layout *l, const Codegen *cg, const char *arch,
                           const BackendConfig *cfg, CUmodule *mod, char *err, size_t errlen) {
    if (cfg->cuda_cubin) {
        CU_CHECK_RET(d->cu->cuModuleLoadData(mod, cfg->cuda_cubin), last_cuda_error(err, errlen, 1));
        return 0;
    }
    JitResult r;
    int rc = cuda_backend_compile(l, cg, arch, &r, err, errlen);
    if (rc == 0) {
        CUresult cr = d->cu->cuModuleLoadData(mod, r.image);
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
    s->fn = xcalloc((size_t)s->plan.cg.nkernels + 1, sizeof *s->fn);
    for (int k = 0; k < s->plan.cg.nkernels; k++) {
        const KernelVariant *v = &s->plan.cg.kernel[k];
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

/* Where the backend finds weight w on the device, and its slot of the plan. */
static void set_dev_weight(CudaState *s, const WeightSlot *w, CUdeviceptr at) {
    if (w->layer >= 0) s->layer[w->layer].w[w->ref] = at, s->layer[w->layer].slot[w->ref] = w;
    else if (w->ref == WT_EMBED) s->embed = at, s->embed_slot = w;
    else if (w->ref == WT_NORM_FINAL) s->norm_final = at, s->norm_final_slot = w;
    else s->lm_head = at, s->lm_head_slot = w;
}

/* Weights of the model, converted to the model dtype, in one allocation at the plan's offsets. */
static int upload_weights(Backend *b, CudaState *s, char *err, size_t errlen) {
    const RunPlan *p = &s->plan;
    if (!model_matches_plan(b->model, p))
        return backend_open_error(err, errlen, 1, "internal error: the run plan's weights are not the model's tensors");
    uint16_t *staging = NULL;
    CU_CHECK_GOTO(s->cu->cuMemAlloc(&s->weights, (size_t)p->weights_bytes), fail);
    b->mem.weights_bytes = p->weights_bytes;
    b->mem.weights_dtype = dtype_name(b->layout->model.dtype);
    s->layer = xcalloc((size_t)b->layout->nlayers + 1, sizeof *s->layer);
    for (int i = 0; i < p->nweights; i++) {
        const WeightSlot *w = &p->weight[i];
        const float *src = model_plan_weight(b->model, w);
        int64_t count = w->rows * w->cols;
        if (!src) {
            free(staging);
            return backend_open_error(err, errlen, 1, "internal error: the model lacks the run plan's weight %d", i);
        }
        staging = xrealloc(staging, (size_t)count * sizeof *staging);
        for (int64_t j = 0; j < count; j++)
            staging[j] = s->dt == CUDA_R_16F ? st_f32_to_f16(src[j]) : st_f32_to_bf16(src[j]);
        CU_CHECK_GOTO(s->cu->cuMemcpyHtoD(s->weights + (CUdeviceptr)w->offset, staging, (size_t)count * s->esize), fail);
        set_dev_weight(s, w, s->weights + (CUdeviceptr)w->offset);
    }
    if (b->model->tied) s->lm_head = s->embed, s->lm_head_slot = s->embed_slot;
    free(staging);
    return 0;
fail:
    free(staging);
    return last_cuda_error(err, errlen, 1);
}

/* The layers' RoPE tables (rope_table), computed once here, on the device for the rope kernels. */
static int upload_rope(Backend *b, CudaState *s, char *err, size_t errlen) {
    rope_tables(b->layout, &s->rope);
    size_t bytes = (size_t)(b->layout->nlayers * s->rope.half) * sizeof(float);
    CU_CHECK_RET(s->cu->cuMemAlloc(&s->rope_dev, bytes), last_cuda_error(err, errlen, 1));
    CU_CHECK_RET(s->cu->cuMemcpyHtoD(s->rope_dev, s->rope.inv_freq, bytes), last_cuda_error(err, errlen, 1));
    return 0;
}

/* The plan's KV allocation and arena, zeroed: a masked key's value row is still multiplied by 0, and
 * 0 * NaN garbage is NaN. */
static int alloc_plan(Backend *b, CudaState *s, char *err, size_t errlen) {
    const RunPlan *p = &s->plan;
    if (s->cu->cuMemAlloc(&s->caches, (size_t)p->kv_bytes) != CUDA_SUCCESS)
        return backend_open_error(err, errlen, 1, "cannot allocate %s of KV caches on the GPU",
                                  fmt_bytes((double)p->kv_bytes));
    b->mem.kv_bytes = p->kv_bytes;
    b->mem.kv_dtype = dtype_name(p->opt.kv_dtype);
    CU_CHECK_RET(s->cu->cuMemsetD8(s->caches, 0, (size_t)p->kv_bytes), last_cuda_error(err, errlen, 1));
    if (s->cu->cuMemAlloc(&s->arena, (size_t)p->arena_bytes) != CUDA_SUCCESS)
        return backend_open_error(err, errlen, 1, "cannot allocate %s of activations on the GPU",
                                  fmt_bytes((double)p->arena_bytes));
    b->mem.arena_bytes = p->arena_bytes;
    CU_CHECK_RET(s->cu->cuMemsetD8(s->arena, 0, (size_t)p->arena_bytes), last_cuda_error(err, errlen, 1));
    b->mem.kv_planned = p->kv_bytes;
    b->mem.arena_planned = p->arena_bytes;
    b->mem.weights_planned = p->weights_bytes;
    b->mem.workspace_planned = p->workspace_bytes;
    if (!p->workspace_bytes) return 0;   /* emu: host GEMMs */
    if (s->cu->cuMemAlloc(&s->workspace, (size_t)p->workspace_bytes) != CUDA_SUCCESS)
        return backend_open_error(err, errlen, 1, "cannot allocate the %s cuBLAS workspace on the GPU",
                                  fmt_bytes((double)p->workspace_bytes));
    b->mem.workspace_bytes = p->workspace_bytes;
    if (s->bl->cublasSetWorkspace(s->blas, (void *)s->workspace, (size_t)p->workspace_bytes) != CUBLAS_STATUS_SUCCESS)
        return backend_open_error(err, errlen, 2, "cuBLAS refuses the plan's %s workspace",
                                  fmt_bytes((double)p->workspace_bytes));
    return 0;
}

/* The int inputs of each step, by name; the host staging holds the largest. */
static int find_ints(CudaState *s, char *err, size_t errlen) {
    int64_t most = 0;
    for (int k = 0; k < 2; k++) {
        const ActPlan *a = run_plan_step(&s->plan, k == 1);
        StepInts *si = &s->ints[k];
        *si = (StepInts){-1, -1, -1, -1};
        for (int t = 0; t < a->ntensors; t++) {
            const ActTensor *at = &a->tensor[t];
            int *slot = !strcmp(at->name, "tokens")      ? &si->tokens
                        : !strcmp(at->name, "positions") ? &si->positions
                        : !strcmp(at->name, "sequences") ? &si->sequences
                        : !strcmp(at->name, "chunk_args") ? &si->chunk_args
                                                          : NULL;
            if (!strcmp(at->name, "logits") || !strcmp(at->name, "token_ids"))   /* what a step copies back */
                s->pinned_bytes = (size_t)a->item[t].size > s->pinned_bytes ? (size_t)a->item[t].size : s->pinned_bytes;
            if (!slot) continue;
            *slot = t;
            if (a->item[t].size > most) most = a->item[t].size;
        }
        if (si->tokens < 0 || si->positions < 0 || si->sequences < 0 || (k == 0 && si->chunk_args < 0))
            return backend_open_error(err, errlen, 1, "internal error: the run plan lacks the kernels' int inputs");
    }
    s->host_ints = xcalloc((size_t)most + 4, 1);
    s->prefill_rows = xcalloc((size_t)(3 * s->plan.prefill.tokens), sizeof *s->prefill_rows);
    CU_CHECK_RET(s->cu->cuMemAllocHost(&s->pinned, s->pinned_bytes), last_cuda_error(err, errlen, 1));
    return 0;
}

/* The run's plan: the target's (for the GPU: kernels for this device's architecture, at the run's
 * context, or at the model's for a prebuilt cubin: the caches then have the kernels' capacities),
 * caches, arena and schedules. */
static int plan_kernels(Backend *b, CudaState *s, const char *arch, char *err, size_t errlen) {
    const Layout *l = b->layout;
    RunOptions o;
    run_options_init(l, s->device.target, &o);
    o.context = b->cfg.context;
    o.batch = b->cfg.nseq;
    if (!o.arch) {
        o.arch = strncmp(arch, "sm_8", 4) == 0 ? "sm_80" : "sm_90";
        CodegenOptions co = cuda_backend_codegen_options(l, b->cfg.context, b->cfg.cuda_cubin != NULL, o.arch);
        o.kernel_context = co.context ? co.context : l->model.context;   /* codegen's 0: the model's */
        o.kernel_chunk = co.chunk ? co.chunk : l->model.chunk;
    }
    char why[256];
    if (!plan_run(l, &o, &s->plan, why, sizeof why)) return backend_open_error(err, errlen, 1, "%s", why);
    s->plan_ready = true;
    b->plan = &s->plan;
    for (int c = 0; c < l->ncaches; c++) b->cache_tokens[c] = s->plan.cache[c].capacity;
    return find_ints(s, err, errlen);
}

static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* What the model and the run ask that the kernels cannot do: 0, or an exit status with a message. */
static int check_run(const CudaDevice *d, const Model *m, const BackendConfig *cfg, char *err, size_t errlen) {
    int checked = backend_check_config(m, cfg, err, errlen);
    if (checked) return checked;
    if (cfg->full_caches)
        return backend_open_error(err, errlen, 2,
                                  "--full-caches is not supported by the %s backend (its caches are the "
                                  "kernels' planned rings)", d->name);
    if (cfg->page_tokens)
        return backend_open_error(err, errlen, 2,
                                  "--page-tokens is not supported by the %s backend yet (its kernels do not read "
                                  "block tables): paged caches run on the cpu backend", d->name);
    DType dt = m->layout->model.dtype;
    if (dt != DT_BF16 && dt != DT_FP16)
        return backend_open_error(err, errlen, 1, "dtype %s: the kernels take bf16 or fp16 (fp32 runs on the cpu backend)",
                                  dtype_name(dt));
    return model_check_size(m->layout, err, errlen) ? 0 : 1;
}

int cuda_backend_open_on(const CudaDevice *d, const Model *m, const BackendConfig *cfg, Backend *b, char *err,
                         size_t errlen) {
    memset(b, 0, sizeof *b);
    const Layout *l = m->layout;
    int rc = check_run(d, m, cfg, err, errlen);
    if (rc) return rc;
    CudaState *s = xcalloc(1, sizeof *s);
    bool emu = strcmp(d->name, "emu") == 0;
    b->ops = emu ? &emu_ops : &cuda_ops;
    b->name = d->name;
    b->model = m;
    b->layout = l;
    b->cfg = *cfg;
    b->impl = s;
    b->seq_len = xcalloc((size_t)cfg->nseq, sizeof(int64_t));
    b->cache_tokens = xcalloc((size_t)l->ncaches + 1, sizeof(int64_t));
    s->device = *d;
    s->cu = d->cu;
    s->bl = d->bl;
    s->dt = l->model.dtype == DT_FP16 ? CUDA_R_16F : CUDA_R_16BF;
    s->esize = 2;
    s->scale = xcalloc((size_t)l->nlayers + 1, sizeof *s->scale);
    for (int i = 0; i < l->nlayers; i++) s->scale[i] = (float)model_attention_scale((const ModelHeader[]){layer_model(l, i)});
    s->print_plan = env_flag("MIXC_CUDA_PLAN");
    s->graphs = env_flag("MIXC_CUDA_GRAPHS") && d->cu->cuStreamBeginCapture;   /* the emulated device has none */
    s->graph_key = xcalloc((size_t)l->nlayers + 2, sizeof *s->graph_key);
    const char *route_log = getenv("MIXC_ROUTE_LOG");
    if (route_log && *route_log && (s->graphs || !(s->route_log = fopen(route_log, "wb")))) {
        rc = backend_open_error(err, errlen, 2, s->graphs ? "MIXC_ROUTE_LOG: not with MIXC_CUDA_GRAPHS (a log copies "
                                "each route to the host)" : "MIXC_ROUTE_LOG: cannot write %s", route_log);
        cuda_close(b);
        return rc;
    }
    char arch[16];
    rc = open_device(s, arch, err, errlen);
    if (!rc) rc = plan_kernels(b, s, arch, err, errlen);
    if (!rc) rc = d->load_module(d, l, &s->plan.cg, arch, cfg, &s->mod, err, errlen);
    if (!rc) rc = resolve_functions(s, err, errlen);
    if (!rc && s->cu->cuStreamCreate(&s->stream, CU_STREAM_DEFAULT) != CUDA_SUCCESS)
        rc = last_cuda_error(err, errlen, 2);
    if (!rc && (s->bl->cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS ||
                s->bl->cublasSetStream(s->blas, (cudaStream_t)s->stream) != CUBLAS_STATUS_SUCCESS))
        rc = backend_open_error(err, errlen, 2, "cannot create a cuBLAS handle on the backend's stream");
    if (!rc) rc = upload_weights(b, s, err, errlen);
    if (!rc) rc = alloc_plan(b, s, err, errlen);
    if (!rc) rc = upload_rope(b, s, err, errlen);
    if (rc) {
        cuda_close(b);
        return rc;
    }
    if (s->print_plan) cuda_backend_print_launches(&s->plan, s->device.name, arch, cfg->nseq, stderr);
    return 0;
}

int cuda_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    char why[256];
    if (!backend_cuda_available(why, sizeof why))
        return backend_open_error(err, errlen, 2, "no CUDA device available (%s)", why);
    CudaDevice gpu = {"cuda", RUN_TARGET_CUDA, NULL, NULL, gpu_load_module};
    if (!(gpu.cu = cuda_driver_load(err, errlen)) || !(gpu.bl = cublas_load(err, errlen))) return 2;
    return cuda_backend_open_on(&gpu, m, cfg, b, err, errlen);
}
