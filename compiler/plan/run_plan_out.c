/* run_plan_out.c — the run plan as manifest.json's "memory" and "schedule" (docs/plan.md) and as
 * the text of `mixc check --dump=plan`. */
#include "run_plan.h"

#include <string.h>

#define JI(v) json_integer((json_int_t)(v))

static json_t *tensors_json(const ActPlan *a) {
    json_t *arr = json_array();
    for (int t = 0; t < a->ntensors; t++) {
        const ActTensor *at = &a->tensor[t];
        const ArenaItem *it = &a->item[t];
        json_array_append_new(arr, json_pack("{s:i, s:s, s:i, s:s, s:o, s:o, s:i, s:i}", "id", t, "name", at->name,
                                             "layer", at->layer, "dtype", dtype_name(at->dtype), "offset",
                                             JI(it->offset), "bytes", JI(it->size), "first", it->first,
                                             "last", it->last));
    }
    return arr;
}

static json_t *step_memory_json(const ActPlan *a) {
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "tokens", JI(a->tokens), "sequences", JI(a->rows), "bytes",
                     JI(a->planned_bytes), "lower_bound_bytes", JI(a->lower_bound_bytes), "tensors",
                     tensors_json(a));
}

json_t *run_plan_memory_json(const Layout *l, const RunPlan *p) {
    (void)l;
    const RunOptions *o = &p->opt;
    json_t *caches = json_array();
    for (int c = 0; c < p->ncaches; c++) {
        const CacheMap *cm = &p->cache[c];
        json_t *cj = json_pack("{s:i, s:o, s:b, s:o, s:o, s:o}", "id", c, "capacity", JI(cm->capacity), "ring",
                               cm->ring, "seq_bytes", JI(cm->seq_bytes), "k_offset", JI(cm->k_offset), "v_offset",
                               JI(cm->v_offset));
        if (cm->paged) json_object_set_new(cj, "paged", json_true());   /* K and V: the pool's rows at the offsets */
        json_array_append_new(caches, cj);
    }
    json_t *dtypes = json_pack("{s:s, s:s, s:s, s:s}", "activations", dtype_name(o->act_dtype), "logits",
                               dtype_name(o->logits_dtype), "kv", dtype_name(o->kv_dtype), "weights",
                               dtype_name(o->weight_dtype));
    json_t *kv = json_pack("{s:o, s:o}", "bytes", JI(p->kv_bytes), "caches", caches);
    if (p->page_tokens)   /* the pages, and with kernels their copy of the block tables */
        json_object_set_new(kv, "pages", json_pack("{s:o, s:o, s:o, s:o, s:o}", "page_tokens", JI(p->page_tokens),
                                                   "table_pages", JI(p->table_pages), "pool_pages", JI(p->pool_pages),
                                                   "table_offset", JI(p->table_offset), "table_bytes",
                                                   JI(p->table_bytes)));
    json_t *arena = json_pack("{s:o, s:o, s:o}", "bytes", JI(p->arena_bytes), "prefill",
                              step_memory_json(&p->prefill), "decode", step_memory_json(&p->decode));
    json_t *weights = json_array();
    for (int i = 0; i < p->nweights; i++) {
        const WeightSlot *w = &p->weight[i];
        json_array_append_new(weights, json_pack("{s:i, s:s, s:o, s:o, s:o, s:o}", "layer", w->layer, "weight",
                                                 weight_ref_name(w->ref), "rows", JI(w->rows), "cols", JI(w->cols),
                                                 "offset", JI(w->offset), "bytes", JI(w->bytes)));
    }
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o}, s:{s:o}}", "target",
                     run_target_name(o->target), "context", JI(o->context), "chunk", JI(o->chunk), "batch",
                     JI(o->batch), "dtypes", dtypes, "kv", kv, "arena", arena, "weights", "bytes",
                     JI(p->weights_bytes), "align", JI(o->weight_align), "tensors", weights, "workspace", "bytes",
                     JI(p->workspace_bytes));
}

static json_t *ids_json(const int *ids, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
    return a;
}

/* One op; a kernel's launch for the step's full size (prefill: the chunk of one sequence). */
static json_t *op_json(const RunPlan *p, const ActPlan *a, const PlanOp *op) {
    json_t *j = json_pack("{s:s, s:i, s:o, s:o}", "op", op_kind_name(op->kind), "layer", op->layer, "reads",
                          ids_json(op->in, op->nin), "writes", ids_json(op->out, op->nout));
    if (op->weight != WT_NONE) json_object_set_new(j, "weight", json_string(weight_ref_name(op->weight)));
    if (op->kernel >= 0) {
        const KernelVariant *v = &p->cg.kernel[op->kernel];
        KernelLaunch c = kernel_launch(v, a->tokens, a->rows);
        json_object_set_new(j, "kernel", json_string(v->name));
        json_object_set_new(j, "grid", json_pack("[III]", (json_int_t)c.grid[0], (json_int_t)c.grid[1],
                                                 (json_int_t)c.grid[2]));
        json_object_set_new(j, "block", json_pack("[III]", (json_int_t)c.block[0], (json_int_t)c.block[1],
                                                  (json_int_t)c.block[2]));
        json_object_set_new(j, "smem", JI(c.smem));
    }
    if (op->when_split) json_object_set_new(j, "when", json_string("splits > 1"));   /* after a launch that split */
    return j;
}

json_t *run_plan_schedule_json(const Layout *l, const RunPlan *p) {
    (void)l;
    json_t *s = json_object();
    for (int k = 0; k < 2; k++) {
        const ActPlan *a = run_plan_step(p, k == 1);
        json_t *ops = json_array();
        for (int i = 0; i < a->nops; i++) json_array_append_new(ops, op_json(p, a, &a->op[i]));
        json_object_set_new(s, k ? "decode" : "prefill", ops);
    }
    return s;
}

static void dump_ops(const RunPlan *p, const ActPlan *a, FILE *out) {
    for (int i = 0; i < a->nops; i++) {
        const PlanOp *op = &a->op[i];
        fprintf(out, "%4d  %-12s %5d  %-10s", i, op_kind_name(op->kind), op->layer, weight_ref_name(op->weight));
        for (int k = 0; k < op->nin; k++) fprintf(out, "%s%s", k ? "," : " ", a->tensor[op->in[k]].name);
        fputs(" ->", out);
        for (int k = 0; k < op->nout; k++) fprintf(out, "%s%s", k ? "," : " ", a->tensor[op->out[k]].name);
        if (op->kernel >= 0) {
            KernelLaunch c = kernel_launch(&p->cg.kernel[op->kernel], a->tokens, a->rows);
            fprintf(out, "  %s grid %u %u %u block %u smem %u", p->cg.kernel[op->kernel].name, c.grid[0], c.grid[1],
                    c.grid[2], c.block[0], c.smem);
        }
        fputs(op->when_split ? "  when splits > 1\n" : "\n", out);
    }
}

void run_plan_dump(const Layout *l, const RunPlan *p, FILE *out) {
    (void)l;
    const RunOptions *o = &p->opt;
    fprintf(out, "\nrun plan (%s): context %lld, chunk %lld, batch %lld; activations %s, logits %s, kv %s, "
                 "weights %s\n", run_target_name(o->target), (long long)o->context, (long long)o->chunk,
            (long long)o->batch, dtype_name(o->act_dtype), dtype_name(o->logits_dtype), dtype_name(o->kv_dtype),
            dtype_name(o->weight_dtype));
    fprintf(out, "kv allocation %lld bytes, arena %lld bytes, weights %lld bytes, cuBLAS workspace %lld bytes\n",
            (long long)p->kv_bytes, (long long)p->arena_bytes, (long long)p->weights_bytes,
            (long long)p->workspace_bytes);
    fprintf(out, "cache  capacity  seq_bytes    k_offset    v_offset\n");
    for (int c = 0; c < p->ncaches; c++) {
        const CacheMap *cm = &p->cache[c];
        fprintf(out, "%5d  %8lld%s %9lld  %10lld  %10lld\n", c, (long long)cm->capacity, cm->ring ? "r" : cm->paged ? "p" : " ",
                (long long)cm->seq_bytes, (long long)cm->k_offset, (long long)cm->v_offset);
    }
    for (int k = 0; k < 2; k++) {
        const ActPlan *a = run_plan_step(p, k == 1);
        fprintf(out, "%s schedule: %lld tokens of %lld sequences, %d ops\n", k ? "decode" : "prefill",
                (long long)a->tokens, (long long)a->rows, a->nops);
        dump_ops(p, a, out);
    }
}

static void paged_json(JsonWriter *w, const RunPlan *p, const RunPlanFit *fit);

static void run_json(JsonWriter *w, const RunPlan *p, const RunPlanFit *fit) {
    const RunOptions *po = &p->opt;
    jw_object_begin(w);
    jw_member_string(w, "target", run_target_name(po->target));
    JW_INT_MEMBERS(w, {"context", po->context}, {"chunk", po->chunk}, {"batch", po->batch});
    jw_key(w, "dtypes");
    jw_object_begin(w);
    jw_member_string(w, "activations", dtype_name(po->act_dtype));
    jw_member_string(w, "logits", dtype_name(po->logits_dtype));
    jw_member_string(w, "kv", dtype_name(po->kv_dtype));
    jw_member_string(w, "weights", dtype_name(po->weight_dtype));
    jw_object_end(w);
    JW_INT_MEMBERS(w, {"kv_bytes", p->kv_bytes}, {"arena_bytes", p->arena_bytes},
                   {"weights_bytes", p->weights_bytes}, {"workspace_bytes", p->workspace_bytes});
    if (p->page_tokens) paged_json(w, p, fit);
    jw_object_end(w);
}

/* A paged plan's figures: a sequence's pages at this context, the pool, the pool a GPU holds and,
 * with a shared prefix, the sequences sharing it that each pool holds. */
static void paged_text(Buf *text, const RunPlan *p, const RunPlanFit *fit) {
    buf_printf(text, "  paged: pages of %lld tokens, %lld per whole-context sequence; pool %lld pages (%lld bytes",
               (long long)p->page_tokens, (long long)p->table_pages, (long long)p->pool_pages,
               (long long)run_plan_pool_bytes(p));
    if (fit->shared_prefix)
        buf_printf(text, "; %lld whole-context sequences starting with the same %lld tokens",
                   (long long)run_plan_shared_sequences(p, p->pool_pages, fit->shared_prefix), (long long)fit->shared_prefix);
    buf_puts(text, ")");
    if (fit->gpu_bytes > 0) {
        int64_t g = run_plan_gpu_pool_pages(p, fit->gpu_bytes);
        buf_printf(text, "; on the GPU a pool of %lld pages (%lld whole-context sequences", (long long)g,
                   (long long)(g / p->table_pages));
        if (fit->shared_prefix)
            buf_printf(text, "; %lld starting with the same %lld tokens", (long long)run_plan_shared_sequences(p, g, fit->shared_prefix),
                       (long long)fit->shared_prefix);
        buf_puts(text, ")");
    }
    buf_puts(text, "\n");
}

static void paged_json(JsonWriter *w, const RunPlan *p, const RunPlanFit *fit) {
    JW_INT_MEMBERS(w, {"page_tokens", p->page_tokens}, {"pages_per_sequence", p->table_pages},
                   {"pool_pages", p->pool_pages}, {"pool_bytes", run_plan_pool_bytes(p)});
    if (fit->shared_prefix)
        JW_INT_MEMBERS(w, {"shared_prefix_tokens", fit->shared_prefix},
                       {"shared_prefix_sequences", run_plan_shared_sequences(p, p->pool_pages, fit->shared_prefix)});
    if (fit->gpu_bytes <= 0) return;
    int64_t g = run_plan_gpu_pool_pages(p, fit->gpu_bytes);
    jw_member_int(w, "gpu_pool_pages", g);
    if (fit->shared_prefix)
        jw_member_int(w, "gpu_shared_prefix_sequences", run_plan_shared_sequences(p, g, fit->shared_prefix));
}

bool run_plan_report(const Layout *l, const RunOptions *base, const int64_t *contexts, int n, const RunPlanFit *fit,
                     Buf *text, JsonWriter *json, char *err, size_t errlen) {
    if (text) buf_puts(text, "\n");
    if (json) {
        jw_key(json, "run");
        jw_array_begin(json);
    }
    for (int c = 0; c < n; c++) {
        RunOptions o = *base;
        o.context = contexts[c];
        if (fit->shared_prefix >= contexts[c]) {
            snprintf(err, errlen, "a shared prefix of %lld tokens is not shorter than the context (%lld tokens)",
                     (long long)fit->shared_prefix, (long long)contexts[c]);
            return false;
        }
        RunPlan p;
        if (!plan_run(l, &o, &p, err, errlen)) return false;
        const RunOptions *po = &p.opt;
        if (text)
            buf_printf(text, "run plan (%s) at context %lld, chunk %lld, batch %lld: kv %lld bytes, arena %lld bytes, "
                             "weights %lld bytes, cuBLAS workspace %lld bytes\n", run_target_name(po->target),
                       (long long)po->context, (long long)po->chunk, (long long)po->batch, (long long)p.kv_bytes,
                       (long long)p.arena_bytes, (long long)p.weights_bytes, (long long)p.workspace_bytes);
        if (text && p.page_tokens) paged_text(text, &p, fit);
        if (json) run_json(json, &p, fit);
        run_plan_free(&p);
    }
    if (json) jw_array_end(json);
    return true;
}
