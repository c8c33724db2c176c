/* run_plan.c — the plan of one run: caches, arena, weights, kernels and step schedules
 * (run_plan.h, docs/plan.md), and its verifier. run_plan_out.c prints it. */
#include "run_plan.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *const target_names[RUN_TARGET_COUNT] = {"cpu", "cuda", "emu"};

const char *run_target_name(RunTarget t) { return (unsigned)t < RUN_TARGET_COUNT ? target_names[t] : "?"; }

bool run_target_from_name(const char *name, RunTarget *out) {
    for (int t = 0; t < RUN_TARGET_COUNT; t++)
        if (strcmp(name, target_names[t]) == 0) {
            *out = (RunTarget)t;
            return true;
        }
    return false;
}

/* The cpu reference keeps fp32 everywhere except an 8-bit KV cache, which it quantizes as the
 * model says (an fp32 cache would silently compute another model); the kernels keep the model dtype
 * and an 8-bit KV cache likewise. */
void run_options_init(const Layout *l, RunTarget target, RunOptions *o) {
    const ModelHeader *m = &l->model;
    bool cuda = target == RUN_TARGET_CUDA || target == RUN_TARGET_EMU;
    DType kv = dtype_quantized(m->kv_dtype) ? m->kv_dtype : cuda ? m->dtype : DT_FP32;
    *o = (RunOptions){.target = target, .context = m->context, .chunk = m->chunk, .batch = 1,
                      .act_dtype = cuda ? m->dtype : DT_FP32, .logits_dtype = DT_FP32,
                      .kv_dtype = kv, .weight_dtype = cuda ? m->dtype : DT_FP32,
                      .weight_align = cuda ? PLAN_ARENA_ALIGN : (int64_t)sizeof(float), .kernels = cuda};
    if (target == RUN_TARGET_EMU) o->arch = PLAN_EMU_ARCH, o->kernel_context = m->context, o->kernel_chunk = m->chunk;
}

static int64_t align_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

/* *out = n rounded up to a multiple of a; false when that overflows. */
static bool align_up_ok(int64_t n, int64_t a, int64_t *out) {
    if (!add_ok(n, a - 1, out)) return false;
    *out = *out / a * a;
    return true;
}

/* Appends weight (layer, ref) at the end of the allocation. */
static void add_weight(RunPlan *p, const ModelHeader *m, int layer, WeightRef ref) {
    WeightSlot *w = &p->weight[p->nweights++];
    int64_t in, out;
    plan_weight_shape(m, ref, &in, &out);
    *w = (WeightSlot){layer, ref, out, in, p->weights_bytes, 0};
    if (plan_weight_is_vector(ref)) w->rows = in, w->cols = 1;
    w->bytes = align_up(w->rows * w->cols * dtype_bytes(p->opt.weight_dtype), p->opt.weight_align);
    p->weights_bytes += w->bytes;
}

/* The weights in model.c's order; the sizes were checked small (params x 8 fits) first. */
static bool plan_weight_map(const Layout *l, RunPlan *p) {
    const ModelHeader *m = &l->model;
    WeightsPlan wp;
    int64_t bound;
    if (!plan_weights(l, &wp) || !mul_ok(wp.params, 8, &bound)) return false;
    p->weight = xcalloc((size_t)l->nlayers * plan_layer_weight_count + 4, sizeof(WeightSlot));
    add_weight(p, m, -1, WT_EMBED);
    for (int i = 0; i < l->nlayers; i++) {
        const ModelHeader lm = layer_model(l, i);   /* q/k/v/o and head norms by the layer's own shape */
        for (int k = 0; k < plan_layer_weight_count; k++) {   /* the kernels' plan: fused where it fuses */
            WeightRef w = plan_fused_slot(l, i, plan_layer_weight_order[k], p->opt.kernels);
            if (w != WT_NONE && plan_layer_has_weight(l, i, plan_layer_weight_order[k])) add_weight(p, &lm, i, w);
        }
    }
    add_weight(p, m, -1, WT_NORM_FINAL);
    if (!m->tie_embeddings) add_weight(p, m, -1, WT_LM_HEAD);
    return true;
}

/* One sequence's K (or V) block of `tokens` rows, as MIXC_KV_SEQ_BYTES pads it. false on overflow. */
static bool kv_seq_block(const CacheMap *cm, int64_t tokens, int64_t *out) {
    int64_t block;
    return mul_ok(tokens, cm->row_bytes, &block) && align_up_ok(block, PLAN_KV_SEQ_ALIGN, out);
}

int64_t run_plan_seq_pages(const RunPlan *p, int64_t tokens) {
    if (!p->page_tokens) return 0;
    int64_t pages = tokens / p->page_tokens + (tokens % p->page_tokens != 0);
    return pages < p->table_pages ? pages : p->table_pages;
}

void run_plan_page_bytes(const RunPlan *p, int c, bool v, int64_t page, KvBytes out[2]) {
    const CacheMap *cm = &p->cache[c];
    int64_t base = v ? cm->v_offset : cm->k_offset, rows = p->pool_pages * p->page_tokens,
            code_row = cm->row_bytes - cm->scale_row_bytes, first = page * p->page_tokens;
    out[0] = (KvBytes){base + first * code_row, p->page_tokens * code_row};
    out[1] = (KvBytes){base + rows * code_row + first * cm->scale_row_bytes, p->page_tokens * cm->scale_row_bytes};
}

void run_plan_seq_rows_bytes(const RunPlan *p, int c, bool v, int seq, int64_t rows, KvBytes out[2]) {
    const CacheMap *cm = &p->cache[c];
    int64_t base = (v ? cm->v_offset : cm->k_offset) + seq * cm->seq_bytes, code_row = cm->row_bytes - cm->scale_row_bytes;
    out[0] = (KvBytes){base, rows * code_row};
    out[1] = (KvBytes){base + cm->capacity * code_row, rows * cm->scale_row_bytes};
}

int64_t run_plan_table_entry(const RunPlan *p, int slot, int64_t entry) {
    return p->table_offset + (slot * p->table_pages + entry) * (int64_t)sizeof(int32_t);
}

int64_t run_plan_page_kv_bytes(const RunPlan *p) {
    int64_t total = 0;
    for (int c = 0; c < p->ncaches; c++)
        if (p->cache[c].paged) total += 2 * p->page_tokens * p->cache[c].row_bytes;   /* K and V; the plan's sum bounds it */
    return total;
}

int64_t run_plan_seq_kv_bytes(const RunPlan *p, int64_t tokens) {
    int64_t total = 0;
    if (!mul_ok(run_plan_seq_pages(p, tokens), run_plan_page_kv_bytes(p), &total)) return -1;
    for (int c = 0; c < p->ncaches; c++) {
        const CacheMap *cm = &p->cache[c];
        int64_t block = cm->seq_bytes;
        if (cm->paged) continue;
        if (!cm->ring && !kv_seq_block(cm, tokens < cm->capacity ? tokens : cm->capacity, &block)) return -1;
        if (!add_ok(total, 2 * block, &total)) return -1;   /* K and V */
    }
    return total;
}

/* The pages a slot's block table holds: its whole context. */
static int64_t sequence_pages(const RunOptions *o) {
    return o->context / o->page_tokens + (o->context % o->page_tokens != 0);
}

/* What a paged run may ask: a page no longer than the context (the model's, or the run's when the
 * report asks a longer one), a pool (given, or every slot's whole context) of at most
 * MIXC_MAX_POOL_PAGES pages. The backends hold what the plan says, so this is their bound too. */
static bool paged_options_ok(const Layout *l, const RunOptions *o, char *err, size_t errlen) {
    if (o->page_tokens < 0 || o->pool_pages < 0 || (o->pool_pages && !o->page_tokens)) {
        snprintf(err, errlen, "paged caches need page_tokens > 0 and pool_pages >= 0 (0: the default pool)");
        return false;
    }
    if (!o->page_tokens) return true;
    int64_t longest = l->model.context > o->context ? l->model.context : o->context, pool = o->pool_pages;
    if (o->page_tokens > longest) {
        snprintf(err, errlen, "a page of %lld tokens is longer than the context (%lld tokens)",
                 (long long)o->page_tokens, (long long)longest);
        return false;
    }
    if (!pool && !mul_ok(sequence_pages(o), o->batch, &pool)) pool = INT64_MAX;   /* too many to count */
    if (pool > MIXC_MAX_POOL_PAGES) {
        snprintf(err, errlen, "a pool of more than 2^24 pages (%s): longer pages, or --pool-pages, make it smaller",
                 o->pool_pages ? "the pages asked" : "every sequence's whole context");
        return false;
    }
    return true;
}

/* The pages of a paged run: a slot's block table and the pool (by default every slot's whole
 * context, today's memory). */
static bool plan_pages(RunPlan *p) {
    const RunOptions *o = &p->opt;
    if (!o->page_tokens) return true;
    p->page_tokens = o->page_tokens;
    p->table_pages = sequence_pages(o);
    p->pool_pages = o->pool_pages;
    return p->pool_pages || mul_ok(p->table_pages, o->batch, &p->pool_pages);
}

/* Cache c's K (or V) allocation: every slot's block, or (paged) the rows of a pool of pool_pages
 * pages; on a PLAN_ARENA_ALIGN boundary. */
static bool plan_cache_half(const RunPlan *p, int64_t pool_pages, CacheMap *cm) {
    int64_t half, rows;
    if (cm->paged)
        return mul_ok(pool_pages, p->page_tokens, &rows) && kv_seq_block(cm, rows, &half) &&
               align_up_ok(half, PLAN_ARENA_ALIGN, &cm->half_bytes);
    return mul_ok(cm->seq_bytes, p->opt.batch, &half) && align_up_ok(half, PLAN_ARENA_ALIGN, &cm->half_bytes);
}

/* The K and V bytes of every paged cache with a pool of `pages` pages, as plan_cache_half pads them;
 * -1 on overflow. */
static int64_t pool_bytes_of(const RunPlan *p, int64_t pages) {
    int64_t total = 0;
    for (int c = 0; c < p->ncaches; c++) {
        CacheMap cm = p->cache[c];
        if (cm.paged && (!plan_cache_half(p, pages, &cm) || !add_ok(total, 2 * cm.half_bytes, &total))) return -1;
    }
    return total;
}

int64_t run_plan_pool_bytes(const RunPlan *p) { return p->page_tokens ? pool_bytes_of(p, p->pool_pages) : 0; }

int64_t run_plan_gpu_pool_pages(const RunPlan *p, int64_t gpu_bytes) {
    int64_t per_page = run_plan_page_kv_bytes(p);
    int64_t free = gpu_bytes - p->weights_bytes - p->arena_bytes - p->workspace_bytes -
                   (p->kv_bytes - run_plan_pool_bytes(p));
    if (!per_page || free <= 0) return 0;
    int64_t pages = free / per_page;
    while (pages > 0) {   /* the padding of each half: a few pages at most */
        int64_t bytes = pool_bytes_of(p, pages);
        if (bytes >= 0 && bytes <= free) break;
        pages--;
    }
    return pages;
}

int64_t run_plan_shared_sequences(const RunPlan *p, int64_t pool, int64_t prefix) {
    int64_t each = p->table_pages, own = each - prefix / p->page_tokens;
    return pool < each ? 0 : 1 + (pool - each) / own;
}

/* Cache c of every slot: K of slot 0..batch-1 (or the pool's pages), then V likewise. */
static bool plan_kv_map(const Layout *l, RunPlan *p) {
    const RunOptions *o = &p->opt;
    bool quantized = dtype_quantized(o->kv_dtype);
    p->ncaches = l->ncaches;
    p->cache = xcalloc((size_t)l->ncaches + 1, sizeof(CacheMap));
    if (!plan_pages(p)) return false;
    int64_t at = 0;
    for (int c = 0; c < l->ncaches; c++) {
        CacheMap *cm = &p->cache[c];
        const ModelHeader m = layer_model(l, l->cache[c].owner);   /* the cache's rows: its owner's shape */
        if (!mul_ok(m.kv_heads * m.head_dim, dtype_bytes(o->kv_dtype), &cm->row_bytes)) return false;
        cm->scale_row_bytes = quantized ? m.kv_heads * PLAN_KV_SCALE_BYTES : 0;
        cm->row_bytes += cm->scale_row_bytes;
        cm->capacity = p->has_kernels ? p->cg.capacity[c]
                       : o->full_caches ? o->context
                                        : plan_cache_tokens(l, c, o->context, o->chunk);
        cm->ring = cm->capacity < (p->has_kernels ? p->cg.context : o->context);
        cm->paged = p->page_tokens && !cm->ring;
        if (!kv_seq_block(cm, cm->capacity, &cm->seq_bytes) || !plan_cache_half(p, p->pool_pages, cm)) return false;
        cm->k_offset = at;
        cm->v_offset = at + cm->half_bytes;
        if (!add_ok(at, 2 * cm->half_bytes, &at)) return false;
    }
    p->table_offset = at;   /* the kernels' block tables */
    if (p->has_kernels && p->page_tokens &&
        !(mul_ok(p->table_pages * o->batch, (int64_t)sizeof(int32_t), &p->table_bytes) &&
          align_up_ok(p->table_bytes, PLAN_ARENA_ALIGN, &p->table_bytes) && add_ok(at, p->table_bytes, &at)))
        return false;
    p->kv_bytes = at;
    return true;
}

int64_t plan_gated_width(const Layout *l, int i, const char *tensor_name) {
    const ModelHeader lm = layer_model(l, i), *m = &lm;
    return !strcmp(tensor_name, "expert_act") ? m->experts_per_token * m->ffn
           : !strcmp(tensor_name, "shared_act") ? m->shared_expert_ffn : m->ffn;
}

/* The gated activation's kernel: the dense MLP's, or over the experts' rows or the shared expert's
 * (the tensors plan_gated_width reads). */
static int gated_kernel(const Codegen *cg, const ActPlan *a, const PlanOp *op) {
    const char *name = a->tensor[op->out[0]].name;
    return !strcmp(name, "expert_act") ? cg->expert_act : !strcmp(name, "shared_act") ? cg->shared_act : cg->silu_mul;
}

/* The kernel that runs op (of a step planned with kernel arguments), or -1 for a GEMM. */
static int op_kernel(const Codegen *cg, const ActPlan *a, const PlanOp *op, bool decode) {
    const LayerKernels *lk = op->layer >= 0 ? &cg->layer[op->layer] : NULL;
    switch (op->kind) {
    case OP_EMBED: return cg->embed;
    case OP_RMSNORM: return cg->rmsnorm;
    case OP_ROPE_APPEND:
    case OP_ROPE_Q: return lk->rope;
    case OP_ATTENTION: return decode ? lk->decode : lk->prefill;
    case OP_ATTN_DECODE: return lk->decode;
    case OP_ATTN_REDUCE: return lk->decode_reduce;
    case OP_RESIDUAL_ADD: return cg->residual_add;
    case OP_ADD_RMSNORM: return cg->add_rmsnorm;
    case OP_SILU_MUL:
    case OP_GELU_TANH_MUL:
    case OP_CLAMPED_SWIGLU_MUL: return gated_kernel(cg, a, op);   /* the model's gated activation */
    case OP_BIAS_ADD:
        return op->weight == WT_Q_BIAS         ? lk->bias_q    /* a reader's q's, an owner's q/k/v's: of its shape */
               : op->weight == WT_QKV_BIAS     ? lk->bias_qkv
               : op->weight == WT_O_BIAS       ? cg->bias_o
               : op->weight == WT_ROUTER_BIAS  ? cg->router_bias
                                               : -1;   /* bk, bv: in bqkv on the kernels' plan */
    case OP_HEAD_NORM: return op->weight == WT_Q_NORM ? lk->head_norm_q : lk->head_norm_k;
    case OP_MOE_ROUTE: return cg->moe_route;
    case OP_MOE_GEMM: return op->weight == WT_EXPERT_DOWN ? cg->moe_down : cg->moe_gate_up;
    case OP_MOE_COMBINE: return cg->moe_combine;
    case OP_ARGMAX: return cg->argmax;
    case OP_GEMM:
    case OP_LOGITS:
    case OP_COUNT: break;
    }
    return -1;
}

int64_t run_plan_chunk(const RunPlan *p) { return p->has_kernels ? p->cg.chunk : p->opt.chunk; }

static bool plan_steps(const Layout *l, RunPlan *p) {
    const RunOptions *o = &p->opt;
    int64_t context = p->has_kernels ? p->cg.context : o->context, chunk = run_plan_chunk(p);
    StepOptions prefill = {STEP_PREFILL, 1, chunk, context, o->act_dtype, o->logits_dtype,
                           o->kernels ? SPLIT_ALWAYS : SPLIT_NEVER, o->kernels, !o->kernels, false,
                           o->batch, o->kernels};   /* a batched prefill: a chunk of every slot at most (plan_step caps
                                                     * it); the kernels' plan fuses the projections (docs/plan.md) */
    StepOptions decode = prefill;
    decode.kind = STEP_DECODE;
    decode.parts = 0;
    decode.batch = o->batch;
    if (!plan_step(l, &prefill, &p->prefill)) return false;
    if (!plan_step(l, &decode, &p->decode)) return false;
    p->arena_bytes = p->prefill.planned_bytes > p->decode.planned_bytes ? p->prefill.planned_bytes
                                                                       : p->decode.planned_bytes;
    for (int s = 0; s < 2 && p->has_kernels; s++) {
        ActPlan *a = s ? &p->decode : &p->prefill;
        for (int i = 0; i < a->nops; i++) a->op[i].kernel = op_kernel(&p->cg, a, &a->op[i], s == 1);
    }
    return true;
}

bool plan_run(const Layout *l, const RunOptions *o, RunPlan *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    RunPlan p = {.opt = *o};
    if (p.opt.chunk > p.opt.context) p.opt.chunk = p.opt.context;
    if (p.opt.context < 1 || p.opt.chunk < 1 || p.opt.batch < 1 || p.opt.weight_align < 1) {
        snprintf(err, errlen, "the run needs a positive context, chunk, batch and weight alignment");
        return false;
    }
    DType kernel_kv = dtype_quantized(l->model.kv_dtype) ? l->model.kv_dtype : l->model.dtype;
    if (o->kernels && (o->act_dtype != l->model.dtype || o->kv_dtype != kernel_kv)) {
        snprintf(err, errlen, "the generated kernels take activations in the model dtype (%s) and caches in %s",
                 dtype_name(l->model.dtype), dtype_name(kernel_kv));
        return false;
    }
    if (p.opt.batch > MIXC_MAX_BATCH) {
        snprintf(err, errlen, "a batch of %lld sequences is more than %d", (long long)p.opt.batch, MIXC_MAX_BATCH);
        return false;
    }
    if (!paged_options_ok(l, &p.opt, err, errlen)) return false;
    if (o->kernels) {
        CodegenOptions co = {o->arch, o->kernel_context ? o->kernel_context : p.opt.context,
                             o->kernel_chunk ? o->kernel_chunk : p.opt.chunk, o->page_tokens};
        if (!codegen_plan(l, &co, &p.cg, err, errlen)) return false;
        p.has_kernels = true;
    }
    bool ok = plan_kv_map(l, &p) && plan_weight_map(l, &p) && plan_steps(l, &p);
    if (p.opt.target == RUN_TARGET_CUDA) p.workspace_bytes = codegen_arch_cublas_workspace(p.opt.arch);
    if (!ok) snprintf(err, errlen, "the memory figures of the run overflow 2^62 bytes");
    if (ok && !run_plan_verify(l, &p, stderr)) {
        snprintf(err, errlen, "internal error: the run plan does not verify");
        ok = false;
    }
    if (ok) *out = p;
    else run_plan_free(&p);
    return ok;
}

void run_plan_free(RunPlan *p) {
    free(p->cache);
    free(p->weight);
    act_plan_free(&p->prefill);
    act_plan_free(&p->decode);
    if (p->has_kernels) codegen_free(&p->cg);
    memset(p, 0, sizeof *p);
}

const ActPlan *run_plan_step(const RunPlan *p, bool decode) { return decode ? &p->decode : &p->prefill; }

/* ---------------------------------------------------------------- the verifier */

static bool verify_fail(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool verify_fail(FILE *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        fputs("run plan: ", err);
        vfprintf(err, fmt, ap);
        fputc('\n', err);
        va_end(ap);
    }
    return false;
}

/* The kernel kinds an op may run on: a bit per KernelKind (0: a GEMM's op, no kernel). */
#define KIND(k) (1u << (k))
static bool kernel_fits(OpKind op, KernelKind k) {
    static const unsigned kinds[OP_COUNT] = {
        [OP_EMBED] = KIND(KV_EMBED), [OP_RMSNORM] = KIND(KV_RMSNORM), [OP_HEAD_NORM] = KIND(KV_RMSNORM),
        [OP_ROPE_APPEND] = KIND(KV_ROPE_APPEND), [OP_ROPE_Q] = KIND(KV_ROPE_Q),
        [OP_ATTENTION] = KIND(KV_ATTN_PREFILL) | KIND(KV_ATTN_DECODE), [OP_ATTN_DECODE] = KIND(KV_ATTN_DECODE),
        [OP_ATTN_REDUCE] = KIND(KV_ATTN_DECODE_REDUCE), [OP_RESIDUAL_ADD] = KIND(KV_RESIDUAL_ADD),
        [OP_ADD_RMSNORM] = KIND(KV_ADD_RMSNORM), [OP_SILU_MUL] = KIND(KV_SILU_MUL),
        [OP_GELU_TANH_MUL] = KIND(KV_SILU_MUL), [OP_CLAMPED_SWIGLU_MUL] = KIND(KV_SILU_MUL),
        [OP_BIAS_ADD] = KIND(KV_BIAS_ADD) | KIND(KV_ROUTER_BIAS_ADD), [OP_MOE_ROUTE] = KIND(KV_MOE_ROUTE),
        [OP_MOE_GEMM] = KIND(KV_MOE_GEMM), [OP_MOE_COMBINE] = KIND(KV_MOE_COMBINE), [OP_ARGMAX] = KIND(KV_ARGMAX),
    };
    _Static_assert(KV_COUNT <= 32, "a kernel kind is a bit of an unsigned");
    return op >= 0 && op < OP_COUNT && k >= 0 && k < KV_COUNT && (kinds[op] >> k & 1u);
}
#undef KIND

/* A residual add (and add_rmsnorm) reads x and the branch, writes x in place (add_rmsnorm: and the
 * normed rows, a tensor of their own); other ops: true. */
static bool residual_in_place(const PlanOp *op) {
    if (op->kind != OP_RESIDUAL_ADD && op->kind != OP_ADD_RMSNORM) return true;
    const int nout = op->kind == OP_ADD_RMSNORM ? 2 : 1;
    return op->nin == 2 && op->nout == nout && op->out[0] == op->in[0] && op->in[1] != op->in[0] &&
           (nout == 1 || (op->out[1] != op->in[0] && op->out[1] != op->in[1]));
}

static bool verify_step(const RunPlan *p, const ActPlan *a, const char *what, FILE *err) {
    bool ok = arena_verify(a->item, a->ntensors, p->arena_bytes, err);
    for (int i = 0; i < a->nops && ok; i++) {
        const PlanOp *op = &a->op[i];
        for (int k = 0; k < op->nin + op->nout && ok; k++) {
            int t = k < op->nin ? op->in[k] : op->out[k - op->nin];
            if (t < 0 || t >= a->ntensors)
                ok = verify_fail(err, "%s op %d (%s) names tensor %d of %d", what, i, op_kind_name(op->kind), t,
                                 a->ntensors);
            else if (a->item[t].first > i || a->item[t].last < i)
                ok = verify_fail(err, "%s op %d (%s) uses %s outside its lifetime", what, i, op_kind_name(op->kind),
                                 a->tensor[t].name);
        }
        if (!ok) break;
        if (!residual_in_place(op))
            ok = verify_fail(err, "%s op %d (%s) does not update x in place (reads x and its branch, writes x%s)", what,
                             i, op_kind_name(op->kind), op->kind == OP_ADD_RMSNORM ? " and the normed rows" : "");
        if (!ok) break;
        /* GEMMs are cuBLAS's (the experts' gathered GEMMs are kernels: moe.cuh) */
        bool wants = p->has_kernels && op->kind != OP_GEMM && op->kind != OP_LOGITS;
        if (wants && (op->kernel < 0 || op->kernel >= p->cg.nkernels ||
                      !kernel_fits(op->kind, p->cg.kernel[op->kernel].kind)))
            ok = verify_fail(err, "%s op %d (%s) has no kernel of its kind", what, i, op_kind_name(op->kind));
        else if (!wants && op->kernel != -1)
            ok = verify_fail(err, "%s op %d (%s) names a kernel it cannot have", what, i, op_kind_name(op->kind));
    }
    return ok;
}

/* Every half of every cache inside [0, kv_bytes), the halves in increasing order without overlap. */
static bool verify_caches(const RunPlan *p, FILE *err) {
    int64_t end = 0;
    for (int c = 0; c < p->ncaches; c++) {
        const CacheMap *cm = &p->cache[c];
        int64_t half = cm->half_bytes;
        if (cm->k_offset < end || cm->v_offset < cm->k_offset + half || cm->v_offset + half > p->kv_bytes)
            return verify_fail(err, "cache %d ([%lld, %lld) and [%lld, %lld)) overlaps another or leaves the KV "
                               "allocation of %lld bytes", c, (long long)cm->k_offset, (long long)(cm->k_offset + half),
                               (long long)cm->v_offset, (long long)(cm->v_offset + half), (long long)p->kv_bytes);
        end = cm->v_offset + half;
    }
    return true;
}

/* The weights one after the other, filling the allocation exactly. */
static bool verify_weights(const RunPlan *p, FILE *err) {
    int64_t end = 0;
    for (int i = 0; i < p->nweights; i++) {
        const WeightSlot *w = &p->weight[i];
        if (w->offset != end || w->bytes < w->rows * w->cols * dtype_bytes(p->opt.weight_dtype))
            return verify_fail(err, "weight %d (%lld bytes at %lld) is not where the previous one ends (%lld)", i,
                               (long long)w->bytes, (long long)w->offset, (long long)end);
        end += w->bytes;
    }
    if (end != p->weights_bytes)
        return verify_fail(err, "the weights end at %lld, the allocation holds %lld", (long long)end,
                           (long long)p->weights_bytes);
    return true;
}

bool run_plan_verify(const Layout *l, const RunPlan *p, FILE *err) {
    if (p->ncaches != l->ncaches) return verify_fail(err, "%d caches planned, the layout has %d", p->ncaches, l->ncaches);
    return verify_caches(p, err) && verify_weights(p, err) && verify_step(p, &p->prefill, "prefill", err) &&
           verify_step(p, &p->decode, "decode", err);
}
