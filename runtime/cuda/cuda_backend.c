/* cuda_backend.c — the cuda backend: the model of docs/model.md on one GPU (cuda_backend.h,
 * docs/gpu.md).
 *
 * Device memory is three allocations, of the run plan's sizes (compiler/plan/run_plan.h): the weights
 * (model dtype), the KV caches (one block; cache c holds K then V for every sequence,
 * [nseq][capacity][kv_heads][head_dim], at the plan's offsets), and the arena (both steps' tensors at
 * the plan's offsets: activations in the model dtype, fp32 logits and decode partials, the int inputs
 * of the step). A step is its schedule's ops in order; the residual stream is in the model dtype and
 * each residual add runs with the RMSNorm after it on the generated add_rmsnorm kernel.
 * Everything runs on the backend's stream (kernels and cuBLAS); each step ends with a synchronize, so
 * errors surface in the step that caused them. The decode step is captured as a CUDA graph and replayed
 * (replay_step; a graph kept per key, the last CUDA_STEP_GRAPHS) unless MIXC_CUDA_GRAPHS=0 or a route
 * log is asked; tests/cuda checks its logits equal the eager step's bit for bit, and gpu-check did on
 * an H200.
 *
 * NOTE: written and compiled on a machine without a GPU. The launches and the parameter structs' host
 * layout are checked without one (tests/cuda); the numerics are checked by scripts/gpu-check.sh,
 * which needs a GPU.
 */
#include "cuda_state.h"
#include "cuda_pages.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
    int32_t *ids;       /* [nlogits] the argmax codes (mixc_argmax) asked for; NULL: none */
    int64_t nlogits;    /* the logits rows asked (lr's): a decode step's rows, a prefill's parts' */
} Step;

/* Whether the step's argmax op runs: the schedule has it (after the logits) and the logits rows asked
 * fit the plan's logits tensor (a part asking all its rows' logits may pass it: then none runs). */
static bool device_argmax(const Step *st) {
    return st->a->nops > 0 && st->a->op[st->a->nops - 1].kind == OP_ARGMAX && st->nlogits <= st->a->rows;
}

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

/* Part `part` (0 q, 1 k, 2 v) of the first row of layer i's fused qkv rows at qkv. */
static CUdeviceptr qkv_part(const Backend *b, int i, CUdeviceptr qkv, int part) {
    const ModelHeader lm = layer_model(b->layout, i);
    const int64_t before = part == 0 ? 0 : lm.heads + (part - 1) * lm.kv_heads;
    return qkv + (CUdeviceptr)(before * lm.head_dim * (int64_t)((const CudaState *)b->impl)->esize);
}

static bool run_attention_op(Backend *b, const Step *st, const PlanOp *op) {
    CudaState *s = b->impl;
    const int c = b->layout->layer[op->layer].cache;
    const int32_t elem = (int32_t)sizeof(int32_t);
    switch (op->kind) {
    case OP_ROPE_APPEND:
    case OP_ROPE_Q: {   /* an owner: its fused qkv rows in, q out; the kernel offsets each row's cache by its
                         * sequence: caches from slot 0 */
        bool owner = op->kind == OP_ROPE_APPEND;
        const CacheMap *cm = &s->plan.cache[c];
        CUdeviceptr q = T(s, st, op->in[0]);
        RopeParams p = {q, owner ? qkv_part(b, op->layer, q, 1) : 0, owner ? qkv_part(b, op->layer, q, 2) : 0,
                        s->caches + (CUdeviceptr)cm->k_offset, s->caches + (CUdeviceptr)cm->v_offset,
                        T(s, st, op->in[1]), T(s, st, op->in[2]), rope_dev_table(s, op->layer), (int)st->rows,
                        s->rope.scale[op->layer], 0, 0.0f, owner ? T(s, st, op->out[0]) : 0,
                        cuda_paged_kv(&s->plan, s->caches, c)};
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
                           s->scale[op->layer], st->batch, st->ntiles, s->layer[op->layer].w[WT_SINKS],
                           cuda_paged_kv(&s->plan, s->caches, c)};
        return launch_op(b, st, op, st->rows, &p, sizeof p);
    }
    case OP_ATTN_DECODE: {   /* writes part_o, part_stats (where a launch may split) and attn */
        bool parts = op->nout == 3;
        DecodeParams p = {T(s, st, op->in[0]), cache_at(b, c, false), cache_at(b, c, true), T(s, st, op->in[1]),
                          T(s, st, op->in[2]), parts ? T(s, st, op->out[0]) : 0, parts ? T(s, st, op->out[1]) : 0,
                          s->scale[op->layer], st->batch, T(s, st, op->out[op->nout - 1]), s->layer[op->layer].w[WT_SINKS],
                          cuda_paged_kv(&s->plan, s->caches, c)};
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
 * holds, copied to the host; in a step whose argmax runs (device_argmax: all rows fit the tensor, each
 * range after the previous one) that op caps and copies them. */
static bool run_logits(Backend *b, const Step *st, const PlanOp *op) {
    CudaState *s = b->impl;
    int64_t in, out, per = st->a->rows, total = 0;
    CUdeviceptr w = weight(b, op, &in, &out), lt = T(s, st, op->out[0]);
    const bool argmax_next = device_argmax(st);
    for (int g = 0; g < st->nlr; g++)
        for (int64_t done = 0, n = st->lr[g].n; done < n; done += per) {
            int64_t k = n - done < per ? n - done : per;
            CUdeviceptr xr = T(s, st, op->in[0]) + (CUdeviceptr)((st->lr[g].from + done) * in * (int64_t)s->esize);
            CUdeviceptr to = argmax_next ? lt + (CUdeviceptr)(total * out * (int64_t)sizeof(float)) : lt;   /* rows in order */
            if (!gemm(s, to, CUDA_R_32F, xr, w, k, in, out)) return false;
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
    ArgmaxParams p = {T(s, st, op->in[0]), T(s, st, op->out[0]), (int)st->nlogits};
    size_t row = (size_t)b->layout->model.vocab * sizeof(float);
    return launch_op(b, st, op, st->nlogits, &p, sizeof p) &&
           (!st->ids || copy_back(s, st->ids, p.ids, (size_t)st->nlogits * sizeof(int32_t))) &&
           (!st->logits || copy_back(s, st->logits, p.logits, (size_t)st->nlogits * row));
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
    case OP_RMSNORM:
    case OP_ADD_RMSNORM: {   /* the final norm: only the rows from the first whose logits are asked */
        int64_t r0 = cuda_final_norm(op) ? st->lr[0].from : 0;
        CUdeviceptr skip = (CUdeviceptr)(r0 * in * (int64_t)s->esize), x = T(s, st, op->in[0]) + skip;
        if (op->kind == OP_ADD_RMSNORM) {   /* x += the branch, then its norm into out[1] */
            AddRmsNormParams p = {x, T(s, st, op->in[1]) + skip, w, T(s, st, op->out[1]) + skip, (int)(R - r0)};
            return launch_op(b, st, op, R - r0, &p, sizeof p);
        }
        RmsNormParams p = {x, w, T(s, st, op->out[0]) + skip, (int)(R - r0)};
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
    case OP_HEAD_NORM: {   /* qk_norm: every head of q (or k) in place, rows of head_dim: the kernel's heads a
                            * token (an owner's in its fused qkv rows) */
        const KernelVariant *v = &s->plan.cg.kernel[op->kernel];
        CUdeviceptr x = v->row ? qkv_part(b, op->layer, T(s, st, op->in[0]), op->weight == WT_K_NORM) : T(s, st, op->in[0]);
        RmsNormParams p = {x, w, x, (int)(R * v->heads)};
        return launch_op(b, st, op, R, &p, sizeof p);
    }
    case OP_SILU_MUL:
    case OP_GELU_TANH_MUL:
    case OP_CLAMPED_SWIGLU_MUL: {
        int64_t width = plan_gated_width(b->layout, op->layer, st->a->tensor[op->out[0]].name);   /* one input: gate_up, up after gate */
        CUdeviceptr up = op->nin == 1 ? T(s, st, op->in[0]) + (CUdeviceptr)(width * (int64_t)s->esize) : T(s, st, op->in[1]);
        SiluMulParams p = {T(s, st, op->in[0]), up, T(s, st, op->out[0]), (long long)(R * width)};
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
        if (op->kind == OP_ARGMAX && !device_argmax(st)) continue;
        if (!run_op(b, st, op)) return false;
    }
    return true;
}

bool cuda_drop_graphs(CudaState *s, const StepGraph *keep) {
    bool dropped = false;
    for (int i = 0; i < CUDA_STEP_GRAPHS; i++) {
        StepGraph *g = &s->graph[i];
        if (g == keep || !g->exec) continue;
        s->cu->cuGraphExecDestroy(g->exec);
        g->exec = NULL;
        dropped = true;
    }
    return dropped;
}

/* Captures ops [0, body) of the decode step into graph (replacing the one there). When the device
 * has no memory left for another graph, the other graphs kept are dropped and it is tried once more:
 * never more than one graph held where one fits. */
static bool capture_step(Backend *b, const Step *st, int body, StepGraph *graph) {
    CudaState *s = b->impl;
    if (graph->exec) s->cu->cuGraphExecDestroy(graph->exec);
    graph->exec = NULL;
    CUgraph g = NULL;
    CU_CHECK_RET(s->cu->cuStreamBeginCapture(s->stream, CU_STREAM_CAPTURE_MODE_GLOBAL), false);
    bool ran = run_ops(b, st, 0, body);
    CUresult ended = s->cu->cuStreamEndCapture(s->stream, &g);
    if (ran) CU_CHECK_RET(ended, false);
    if (!ran) {
        if (ended == CUDA_SUCCESS) s->cu->cuGraphDestroy(g);
        return false;
    }
    CUresult made = s->cu->cuGraphInstantiate(&graph->exec, g, 0);
    if (made == CUDA_ERROR_OUT_OF_MEMORY && cuda_drop_graphs(s, graph)) made = s->cu->cuGraphInstantiate(&graph->exec, g, 0);
    s->cu->cuGraphDestroy(g);
    if (made != CUDA_SUCCESS) graph->exec = NULL;   /* not a graph to destroy or replay later */
    CU_CHECK_RET(made, false);
    return true;
}

/* The graph kept for this key, else the one to replace with its capture: a free one, or the one
 * replayed longest ago. */
static StepGraph *graph_for(CudaState *s, const int *key, size_t key_bytes, bool *found) {
    StepGraph *oldest = &s->graph[0];
    for (int i = 0; i < CUDA_STEP_GRAPHS; i++) {
        StepGraph *g = &s->graph[i];
        if (g->exec && memcmp(g->key, key, key_bytes) == 0) return *found = true, g;
        if (!g->exec || (oldest->exec && g->used < oldest->used)) oldest = g;
    }
    *found = false;
    return oldest;
}

/* A decode step as its graph: the graph kept for its key (rows, logits or ids asked, every layer's
 * split count), or a new capture for it, replayed; the logits and argmax (and their copies to the
 * host) run after it. */
static bool replay_step(Backend *b, const Step *st) {
    CudaState *s = b->impl;
    const int n = b->layout->nlayers + 2;
    int body = st->a->nops;
    while (body > 0 && (st->a->op[body - 1].kind == OP_LOGITS || st->a->op[body - 1].kind == OP_ARGMAX)) body--;
    int *key = xcalloc((size_t)n, sizeof *key);
    key[0] = (int)st->rows;
    key[1] = st->logits || st->ids;
    for (int i = 0; i < b->layout->nlayers; i++) key[i + 2] = step_splits(b, st, i);
    bool found;
    StepGraph *g = graph_for(s, key, (size_t)n * sizeof *key, &found);
    memcpy(g->key, key, (size_t)n * sizeof *key);
    free(key);
    if (!found && !capture_step(b, st, body, g)) return false;
    g->used = ++s->graph_clock;
    CU_CHECK_RET(s->cu->cuGraphLaunch(g->exec, s->stream), false);
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

/* One launch of every kernel for all the parts (docs/kernels.md, "Batched prefill"); ids (may be
 * NULL): each part's greedy pick, by the schedule's argmax (backend_prefill_argmax_host's rule). */
bool cuda_prefill_argmax(Backend *b, const PrefillPart *parts, int n, int32_t *ids, float *logits) {
    CudaState *s = b->impl;
    if (!backend_check_prefill(b, parts, n)) return false;
    LogitRows *lr = xcalloc((size_t)n, sizeof *lr);
    int64_t rows = 0, nlogits = 0;
    for (int i = 0; i < n; i++) rows += parts[i].n, nlogits += parts[i].all_logits ? parts[i].n : 1;
    Step st = {&s->plan.prefill, &s->ints[0], false, rows, n, logits, lr, backend_logit_rows(parts, n, lr), NULL,
               parts, 0, ids, nlogits};
    if (ids && (nlogits != n || !device_argmax(&st))) {   /* a part's every row asked: picked on the host */
        free(lr);
        return backend_prefill_argmax_host(b, parts, n, ids, logits);
    }
    bool ok = cuda_pages_step(b, s->cu, s->caches, parts, NULL, n);   /* a paged run's pages for the step */
    ok = ok && forward(b, NULL, &st);
    free(lr);
    for (int i = 0; i < n && ok; i++) b->seq_len[parts[i].slot] += parts[i].n;
    return ok;
}

/* A device-to-device copy inside the caches (synchronous: after the steps before it, before the next). */
bool cuda_copy_kv(Backend *b, int64_t to, int64_t from, int64_t n) {
    CudaState *s = b->impl;
    CU_CHECK_RET(s->cu->cuMemcpyDtoD(s->caches + (CUdeviceptr)to, s->caches + (CUdeviceptr)from, (size_t)n), step_failed(b));
    return true;
}

bool cuda_upload_kv(Backend *b, int64_t to, const void *host, int64_t n) {
    CudaState *s = b->impl;
    CU_CHECK_RET(s->cu->cuMemcpyHtoD(s->caches + (CUdeviceptr)to, host, (size_t)n), step_failed(b));
    return true;
}

bool cuda_prefill_batch(Backend *b, const PrefillPart *parts, int n, float *logits) {
    return cuda_prefill_argmax(b, parts, n, NULL, logits);
}

bool cuda_decode_argmax(Backend *b, const int *slots, int n, const int32_t *tokens, int32_t *ids,
                               float *logits) {
    CudaState *s = b->impl;
    if (!backend_check_decode(b, slots, n, tokens)) return false;
    if (!cuda_pages_step(b, s->cu, s->caches, NULL, slots, n)) return false;
    LogitRows all = {0, n, 0};
    Step st = {&s->plan.decode, &s->ints[1], true, n, n, logits, &all, 1, slots, NULL, 0, ids, n};
    if (!forward(b, tokens, &st)) return false;
    for (int i = 0; i < n; i++) b->seq_len[slots[i]]++;
    return true;
}

bool cuda_decode_slots(Backend *b, const int *slots, int n, const int32_t *tokens, float *logits) {
    return cuda_decode_argmax(b, slots, n, tokens, NULL, logits);
}
