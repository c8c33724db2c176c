/* plan.c — the KV plan: one cache per owning layer, sized at a context and a prefill chunk.
 * Also the plan dump behind `mixc check --dump=plan` (with the run plans of run_plan.c). */
#include "plan.h"
#include "run_plan.h"

#include <stdlib.h>
#include <string.h>


int64_t plan_cache_tokens(const Layout *l, int cache_id, int64_t context, int64_t chunk) {
    if (cache_id < 0 || cache_id >= l->ncaches || context < 1) return 0;
    int64_t retention = l->cache[cache_id].retention;
    if (retention == 0) return context;
    if (chunk < 1) chunk = 1;
    /* retention + chunk - 1 can pass 2^62 only when it is far above any context anyway. */
    int64_t ring;
    if (!add_ok(retention, chunk - 1, &ring)) return context;
    return ring < context ? ring : context;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t plan_decode_splits(int64_t history, int64_t context) {
    int64_t visible = history && history < context ? history : context;
    int64_t splits = ceil_div(visible, PLAN_SPLIT_KEYS);
    return splits < 1 ? 1 : splits > PLAN_MAX_SPLITS ? PLAN_MAX_SPLITS : splits;
}

int64_t plan_decode_max_launch_splits(int64_t history, int64_t context, int64_t plan_batch) {
    const int64_t visible = history && history < context ? history : context;
    int64_t most = plan_decode_splits(history, context), useful = ceil_div(visible, PLAN_SPLIT_MIN_KEYS);
    if (plan_batch > 1 && !mul_ok(most, plan_batch, &most)) most = useful;
    return most < useful ? most : useful < 1 ? 1 : useful;
}

int64_t plan_decode_launch_splits(const DecodeLaunchFigures *f) {
    if (f->batch < 1 || f->kv_heads < 1 || f->live_keys < 1) return 1;
    const int64_t reserved = plan_decode_splits(f->history, f->context);
    const int64_t room = reserved * (f->plan_batch > 0 ? f->plan_batch : f->batch) / f->batch;
    const int64_t blocks = f->batch * f->kv_heads;
    const int64_t fill = f->sm_count > 0 ? ceil_div(PLAN_DECODE_WAVES * f->sm_count, blocks) : 1;
    const int64_t by_length = ceil_div(f->live_keys, PLAN_SPLIT_KEYS);
    const int64_t most_useful = ceil_div(f->live_keys, PLAN_SPLIT_MIN_KEYS);
    int64_t splits = fill > by_length ? fill : by_length;
    if (splits > most_useful) splits = most_useful;
    if (splits > room) splits = room;
    return splits < 1 ? 1 : splits;
}

bool plan_token_bytes(const ModelHeader *m, int64_t *data, int64_t *scales) {
    int64_t per_head, d, s = 0;
    /* K and V: 2 x head_dim elements per KV head. */
    if (!mul_ok(m->head_dim, 2 * (int64_t)dtype_bytes(m->kv_dtype), &per_head)) return false;
    if (!mul_ok(per_head, m->kv_heads, &d)) return false;
    if (dtype_quantized(m->kv_dtype) && !mul_ok(m->kv_heads, 2 * PLAN_KV_SCALE_BYTES, &s)) return false;
    *data = d;
    *scales = s;
    return true;
}

/* tokens x (data + scales) per token, summed into *total; false on overflow. */
static bool cache_bytes(int64_t tokens, int64_t data, int64_t scales, int64_t *bytes, int64_t *scale_bytes) {
    int64_t b, s;
    if (!mul_ok(tokens, data, &b) || !mul_ok(tokens, scales, &s) || !add_ok(b, s, bytes)) return false;
    *scale_bytes = s;
    return true;
}

void kv_plan_free(KvPlan *p) {
    free(p->cache);
    memset(p, 0, sizeof *p);
}

/* Layer i's K and V at `tokens` tokens with its own shape: bytes and the part that is scales. */
static bool layer_cache_bytes(const Layout *l, int i, int64_t tokens, int64_t *bytes, int64_t *scale_bytes) {
    ModelHeader m = layer_model(l, i);
    int64_t data, scales;
    return plan_token_bytes(&m, &data, &scales) && cache_bytes(tokens, data, scales, bytes, scale_bytes);
}

bool plan_kv(const Layout *l, int64_t context, int64_t chunk, KvPlan *out) {
    memset(out, 0, sizeof *out);
    KvPlan p = {.context = context, .chunk = chunk, .ncaches = l->ncaches};
    p.cache = xcalloc((size_t)l->ncaches + 1, sizeof(CachePlan));
    bool ok = true;
    int64_t full, unused;   /* a cache or a layer at the whole context, by its owner's shape */
    for (int k = 0; k < l->ncaches && ok; k++) {   /* each cache by its owner's shape */
        CachePlan *c = &p.cache[k];
        c->tokens = plan_cache_tokens(l, k, context, chunk);
        c->ring = c->tokens < context;
        ok = layer_cache_bytes(l, l->cache[k].owner, c->tokens, &c->bytes, &c->scale_bytes) &&
             add_ok(p.kv_bytes, c->bytes, &p.kv_bytes) && add_ok(p.scale_bytes, c->scale_bytes, &p.scale_bytes) &&
             layer_cache_bytes(l, l->cache[k].owner, context, &full, &unused) &&
             add_ok(p.unexploited_bytes, full, &p.unexploited_bytes);
    }
    for (int i = 0; i < l->nlayers && ok; i++)
        ok = layer_cache_bytes(l, i, context, &full, &unused) && add_ok(p.standard_bytes, full, &p.standard_bytes);
    if (ok) *out = p;
    else kv_plan_free(&p);
    return ok;
}

void plan_standard_layout(const Layout *l, Layout *out) {
    int64_t *window = xcalloc((size_t)l->nlayers + 1, sizeof(int64_t));    /* every layer global */
    int *reads = xcalloc((size_t)l->nlayers + 1, sizeof(int));
    for (int i = 0; i < l->nlayers; i++) reads[i] = i;                     /* and owning its cache */
    ModelHeader m = l->model;
    m.name = xstrdup(l->model.name ? l->model.name : "");
    layout_from_arrays(out, &m, l->nlayers, window, NULL, reads);
    for (int i = 0; i < l->nlayers; i++)   /* each layer keeps its own shape */
        out->layer[i].loc = l->layer[i].loc, out->layer[i].kv_heads = l->layer[i].kv_heads,
        out->layer[i].head_dim = l->layer[i].head_dim;
    free(window);
    free(reads);
}

/* ---------------------------------------------------------------- dump */

static void dump_kv(const Layout *l, const KvPlan *kv, FILE *out) {
    fprintf(out, "kv plan: context %lld, chunk %lld, kv_dtype %s\n", (long long)kv->context,
            (long long)kv->chunk, dtype_name(l->model.kv_dtype));
    fprintf(out, "cache  owner  readers  retention  tokens      bytes\n");
    for (int k = 0; k < kv->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        const CachePlan *c = &kv->cache[k];
        char ret[32];
        retention_text(ci, "", ret, sizeof ret);
        fprintf(out, "%5d  %5d  %7d  %9s  %6lld%s  %lld\n", k, ci->owner, ci->nreaders, ret,
                (long long)c->tokens, c->ring ? " ring" : "     ", (long long)c->bytes);
    }
    fprintf(out, "kv bytes per sequence: %lld (%s), of which scales %lld\n", (long long)kv->kv_bytes,
            fmt_bytes((double)kv->kv_bytes), (long long)kv->scale_bytes);
}

static void dump_act(const ActPlan *a, FILE *out) {
    fprintf(out, "\n%s arena: %lld tokens, %d ops, %d tensors, planned %lld, lower bound %lld, naive %lld\n",
            a->kind == STEP_DECODE ? "decode" : "prefill", (long long)a->tokens, a->nops, a->ntensors,
            (long long)a->planned_bytes, (long long)a->lower_bound_bytes, (long long)a->naive_bytes);
    fprintf(out, "tensor        layer  first   last        bytes       offset\n");
    for (int t = 0; t < a->ntensors; t++) {
        const ArenaItem *it = &a->item[t];
        fprintf(out, "%-12s %6d %6d %6d %12lld %12lld\n", a->tensor[t].name, a->tensor[t].layer, it->first, it->last,
                (long long)it->size, (long long)it->offset);
    }
}

bool dump_plan(const Layout *l, FILE *out) {
    const ModelHeader *m = &l->model;
    KvPlan kv;
    bool ok = true;
    if (!plan_kv(l, m->context, m->chunk, &kv)) {
        fprintf(out, "kv plan: the figures overflow 2^62 bytes\n");
        return false;
    }
    dump_kv(l, &kv, out);
    kv_plan_free(&kv);
    StepKind kinds[2] = {STEP_DECODE, STEP_PREFILL};
    for (int i = 0; i < 2; i++) {
        ActPlan a;
        if (!plan_activations(l, kinds[i], 1, m->chunk, m->context, &a)) {
            fprintf(out, "\nactivation plan: the figures overflow 2^62 bytes\n");
            ok = false;
            continue;
        }
        dump_act(&a, out);
        act_plan_free(&a);
    }
    for (int t = 0; t < RUN_TARGET_COUNT; t++) {   /* what each backend allocates and runs */
        RunOptions o;
        RunPlan p;
        char err[256];
        run_options_init(l, (RunTarget)t, &o);
        if (plan_run(l, &o, &p, err, sizeof err)) {
            run_plan_dump(l, &p, out);
            run_plan_free(&p);
        } else {
            fprintf(out, "\nrun plan (%s): %s\n", run_target_name((RunTarget)t), err);
        }
    }
    return ok;
}

const char *op_kind_name(OpKind k) {
    static const char *const names[OP_COUNT] = {
        [OP_EMBED] = "embed", [OP_RMSNORM] = "rmsnorm", [OP_GEMM] = "gemm", [OP_ROPE_APPEND] = "rope_append",
        [OP_ROPE_Q] = "rope_q", [OP_ATTENTION] = "attention", [OP_ATTN_DECODE] = "attn_decode",
        [OP_ATTN_REDUCE] = "attn_reduce", [OP_RESIDUAL_ADD] = "residual_add", [OP_SILU_MUL] = "silu_mul",
        [OP_BIAS_ADD] = "bias_add", [OP_HEAD_NORM] = "head_norm", [OP_GELU_TANH_MUL] = "gelu_tanh_mul",
        [OP_CLAMPED_SWIGLU_MUL] = "clamped_swiglu_mul",
        [OP_MOE_ROUTE] = "moe_route", [OP_MOE_GEMM] = "moe_gemm", [OP_MOE_COMBINE] = "moe_combine",
        [OP_LOGITS] = "logits", [OP_ARGMAX] = "argmax", [OP_ADD_RMSNORM] = "add_rmsnorm",
    };
    return (unsigned)k < OP_COUNT ? names[k] : "?";
}

bool plan_activations(const Layout *l, StepKind kind, int64_t batch, int64_t chunk, int64_t context,
                      ActPlan *out) {
    StepOptions o = {kind, batch, chunk, context, l->model.dtype, l->model.dtype, SPLIT_BY_CONTEXT, false, false, false, 0, false};
    return plan_step(l, &o, out);
}
