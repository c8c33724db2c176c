/* codegen.c — `mixc emit`: specialized CUDA kernels and their manifest from a checked Layout.
 *
 * Every layer needs a RoPE kernel (owner: also appends K/V to its cache; reader: Q only), a prefill
 * and a decode attention kernel (+ the split-KV reduce). Their template arguments are what mixc
 * knows at compile time: head_dim, GQA group, window, cache capacity (ring size), dtype. Layers
 * that agree on all of them share one kernel; the name spells the arguments. A layer's shape is its
 * kind's own kv_heads and head_dim (else the header's): each shape the layout uses gets its own
 * specializations (heads being the model's, head_dim and the group spell the shape).
 * manifest.json, what emit writes beside the kernels, is manifest.c.
 */
#include "codegen.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "mixc_params.h"
#include "plan.h"

/* ---------------------------------------------------------------- embedded templates
 * The template headers are assembled into the binary (embed.h; mk/codegen.mk makes codegen.o depend
 * on them). */
EMBED(mixc_tpl_params, "templates/mixc_params.h")
EMBED(mixc_tpl_arch, "templates/mixc_arch.cuh")
EMBED(mixc_tpl_kv8h, "templates/mixc_kv8.h")
EMBED(mixc_tpl_kv8, "templates/kv8.cuh")
EMBED(mixc_tpl_small, "templates/small.cuh")
EMBED(mixc_tpl_rope, "templates/rope.cuh")
EMBED(mixc_tpl_decode_tc, "templates/decode_tc.cuh")
EMBED(mixc_tpl_decode, "templates/decode.cuh")
EMBED(mixc_tpl_prefill, "templates/prefill.cuh")
EMBED(mixc_tpl_moe, "templates/moe.cuh")

static const struct {
    const char *name;
    const char *text;
} templates[] = {
    {"mixc_params.h", mixc_tpl_params}, {"mixc_arch.cuh", mixc_tpl_arch}, {"mixc_kv8.h", mixc_tpl_kv8h},
    {"kv8.cuh", mixc_tpl_kv8}, {"small.cuh", mixc_tpl_small}, {"rope.cuh", mixc_tpl_rope},
    {"decode_tc.cuh", mixc_tpl_decode_tc}, {"decode.cuh", mixc_tpl_decode}, {"prefill.cuh", mixc_tpl_prefill},
    {"moe.cuh", mixc_tpl_moe},
};
#define NTEMPLATES (int)(sizeof templates / sizeof templates[0])

const char *codegen_template_text(const char *name) {
    for (int i = 0; i < NTEMPLATES; i++)
        if (strcmp(templates[i].name, name) == 0) return templates[i].text;
    return NULL;
}

_Static_assert(PLAN_KV_SCALE_BYTES == MIXC_KV_SCALE_BYTES, "the plan and the kernels lay out one scale size");
_Static_assert(PLAN_KV_SEQ_ALIGN == MIXC_KV_SEQ_ALIGN, "the plan and the kernels pad sequence blocks alike");
_Static_assert(ROUTER_TOPK_SOFTMAX == MIXC_ROUTER_TOPK_SOFTMAX && ROUTER_SOFTMAX_TOPK == MIXC_ROUTER_SOFTMAX_TOPK &&
                   ROUTER_SIGMOID_INPUT == MIXC_ROUTER_SIGMOID_INPUT,
               "the kernels' router numbers are RouterKind's");

static int64_t prefill_smem(int64_t hd, int esize) { return PREFILL_SMEM_BYTES(hd, (int64_t)esize); }
static int64_t decode_smem(int64_t g, int64_t hd, int esize, bool tc) {
    return tc ? DECODE_TC_SMEM_BYTES(g, hd) : DECODE_SMEM_BYTES(g, hd, (int64_t)esize);
}

/* Decode on tensor cores (decode_tc.cuh): query groups of DECODE_TC_MIN_GROUP and more over a bf16/fp16
 * cache (8-bit caches stay scalar: their codes are not an mma input) where DECODE_TC_FITS (the rows
 * padded to m16 tiles keep the accumulators within the scalar kernel's bound; the outputs' staging fits). */
static bool decode_tc(const ModelHeader *m, int64_t g) {
    return !dtype_quantized(m->kv_dtype) && DECODE_TC_FITS(g, m->head_dim);
}

/* ---------------------------------------------------------------- launch geometry */

static unsigned grid_value(const GridRule *r, int64_t tokens, int64_t batch) {
    if (r->var == GRID_CONST) return (unsigned)r->mul;
    int64_t x = r->var == GRID_BATCH ? batch : tokens;
    return (unsigned)((x * r->mul + r->div - 1) / r->div);
}

KernelLaunch kernel_launch(const KernelVariant *v, int64_t tokens, int64_t batch) {
    KernelLaunch c = {{1, 1, 1}, {(unsigned)v->block, 1, 1}, (unsigned)v->dynamic_smem};
    for (int d = 0; d < 3; d++) c.grid[d] = grid_value(&v->grid[d], tokens, batch);
    return c;
}

void kernel_grid_formula(const KernelVariant *v, int d, char *s, size_t n, bool *is_const) {
    const GridRule *r = &v->grid[d];
    static const char *const vars[] = {"", "tokens", "batch", "max_chunk_tokens"};
    *is_const = r->var == GRID_CONST;
    if (*is_const) snprintf(s, n, "%lld", (long long)r->mul);
    else if (r->div == 1 && !r->mul_name && r->mul == 1) snprintf(s, n, "%s", vars[r->var]);
    else if (r->mul_name) snprintf(s, n, "ceil(%s*%s/%lld)", vars[r->var], r->mul_name, (long long)r->div);
    else if (r->mul != 1) snprintf(s, n, "ceil(%s*%lld/%lld)", vars[r->var], (long long)r->mul, (long long)r->div);
    else snprintf(s, n, "ceil(%s/%lld)", vars[r->var], (long long)r->div);
}

static GridRule grid_const(int64_t v) { return (GridRule){GRID_CONST, v, NULL, 1}; }
static GridRule grid_of(GridVar var) { return (GridRule){var, 1, NULL, 1}; }

static void set_grid(KernelVariant *v, GridRule x, GridRule y, GridRule z) {
    v->grid[0] = x;
    v->grid[1] = y;
    v->grid[2] = z;
}

/* ---------------------------------------------------------------- variant collection */

static const char *elem_type(DType t) { return t == DT_FP16 ? "__half" : "__nv_bfloat16"; }

/* The cache's element type argument of the attention and append templates (kv8.cuh). */
static const char *kv_type(const ModelHeader *m) {
    return m->kv_dtype == DT_INT8 ? "MixcInt8Kv" : m->kv_dtype == DT_FP8 ? "MixcE4m3Kv" : elem_type(m->dtype);
}

/* The name's suffix for an 8-bit cache ("_kvint8"), empty for a cache in the model dtype. */
static const char *kv_suffix(const ModelHeader *m) {
    return m->kv_dtype == DT_INT8 ? "_kvint8" : m->kv_dtype == DT_FP8 ? "_kvfp8" : "";
}

static void mask_part(char *s, size_t n, const LayerInfo *li) {
    if (li->chunked) snprintf(s, n, "c%lld", (long long)li->chunked);
    else if (li->window) snprintf(s, n, "w%lld", (long long)li->window);
    else snprintf(s, n, "global");
}

/* Adds v unless a kernel of that name exists; returns its index. */
/* A variant's name spells its parameters: cut short, it could be another variant's. */
static void name_variant(KernelVariant *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void name_variant(KernelVariant *v, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(v->name, sizeof v->name, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof v->name)
        fatal("kernel name '%s...' is longer than %zu characters", v->name, sizeof v->name - 1);
}

static int add_variant(Codegen *cg, const KernelVariant *v) {
    for (int i = 0; i < cg->nkernels; i++)
        if (strcmp(cg->kernel[i].name, v->name) == 0) return i;
    cg->kernel = xrealloc(cg->kernel, (size_t)(cg->nkernels + 1) * sizeof *cg->kernel);
    cg->kernel[cg->nkernels] = *v;
    return cg->nkernels++;
}

/* Cache c's rows per page: the plan's page size unless it is a ring (a ring is never paged); 0 unpaged. */
static int64_t cache_page(const Codegen *cg, int c) {
    return cg->page_tokens && cg->capacity[c] >= cg->context ? cg->page_tokens : 0;
}

/* A paged kernel's part of its name: "_page16"; empty unpaged. */
static void page_suffix(char *s, size_t n, int64_t page) {
    if (page) snprintf(s, n, "_page%lld", (long long)page);
    else *s = 0;
}

/* A soft cap's part of a kernel name: "_sc50", "_sc0p5" (a C identifier). */
static void softcap_suffix(char *s, size_t n, double cap) {
    snprintf(s, n, "_sc%g", cap);
    for (char *c = s; *c; c++) *c = *c == '.' ? 'p' : *c == '+' || *c == '-' ? '_' : *c;
}

static KernelVariant attention_variant(const Layout *l, const Codegen *cg, const LayerInfo *li,
                                       KernelKind kind) {
    const ModelHeader lm = layer_model(l, li->index), *m = &lm;   /* the layer's kv_heads and head_dim */
    const int64_t hd = m->head_dim, g = m->heads / m->kv_heads;
    KernelVariant v = {.kind = kind, .head_dim = hd, .group = g, .kv_heads = m->kv_heads, .window = li->window,
                       .chunked = li->chunked, .capacity = cg->capacity[li->cache], .page = cache_page(cg, li->cache)};
    char w[32];
    mask_part(w, sizeof w, li);
    char cap[40] = "";   /* attn_softcap, when the model has one: _sc50 */
    if (m->attn_softcap) softcap_suffix(cap, sizeof cap, m->attn_softcap);
    char page[32];
    page_suffix(page, sizeof page, v.page);
    v.tc = kind == KV_ATTN_DECODE && decode_tc(m, g);
    name_variant(&v, "attn_%s_hd%lld_g%lld_%s_cap%lld%s_%s%s%s%s",
             kind == KV_ATTN_PREFILL ? "prefill" : "decode", (long long)hd, (long long)g, w,
             (long long)v.capacity, cap, dtype_name(m->dtype), kv_suffix(m), v.tc ? "_tc" : "", page);
    if (kind == KV_ATTN_PREFILL) {
        v.block = PREFILL_THREADS(hd);
        v.dynamic_smem = prefill_smem(hd, dtype_bytes(m->dtype));
        set_grid(&v, (GridRule){GRID_CHUNK_TOKENS, 1, NULL, PREFILL_BM}, grid_const(m->heads), grid_of(GRID_BATCH));
    } else {
        v.block = DECODE_THREADS;
        v.min_blocks = (int)DECODE_MIN_BLOCKS(v.tc ? DECODE_TC_ROWS(g) : g, hd);
        v.dynamic_smem = decode_smem(g, hd, dtype_bytes(m->kv_dtype), v.tc);
        v.splits = (int)plan_decode_splits(layer_history(li), cg->context);
        set_grid(&v, grid_const(m->kv_heads), grid_const(v.splits), grid_of(GRID_BATCH));
    }
    return v;
}

static KernelVariant reduce_variant(const ModelHeader *m) {
    KernelVariant v = {.kind = KV_ATTN_DECODE_REDUCE, .head_dim = m->head_dim, .block = (int)m->head_dim};
    name_variant(&v, "attn_decode_reduce_hd%lld_%s", (long long)m->head_dim,
             dtype_name(m->dtype));
    set_grid(&v, grid_const(m->heads), grid_of(GRID_BATCH), grid_const(1));
    return v;
}

/* Owners rotate Q and K and append K/V to their cache; readers rotate Q only. */
static KernelVariant rope_variant(const Layout *l, const Codegen *cg, const LayerInfo *li) {
    const ModelHeader lm = layer_model(l, li->index), *m = &lm;
    const bool owner = li->reads == li->index;
    KernelVariant v = {.kind = owner ? KV_ROPE_APPEND : KV_ROPE_Q, .head_dim = m->head_dim,
                       .group = m->heads / m->kv_heads, .kv_heads = m->kv_heads, .block = ROPE_THREADS,
                       .capacity = owner ? cg->capacity[li->cache] : 0, .page = owner ? cache_page(cg, li->cache) : 0};
    char page[32];
    page_suffix(page, sizeof page, v.page);
    if (owner)
        name_variant(&v, "rope_append_hd%lld_h%lld_kv%lld_cap%lld_%s%s%s",
                 (long long)m->head_dim, (long long)m->heads, (long long)m->kv_heads,
                 (long long)v.capacity, dtype_name(m->dtype), kv_suffix(m), page);
    else
        name_variant(&v, "rope_q_hd%lld_h%lld_%s", (long long)m->head_dim,
                 (long long)m->heads, dtype_name(m->dtype));
    set_grid(&v, grid_of(GRID_TOKENS), grid_const(1), grid_const(1));
    return v;
}

/* Layer i's attention and RoPE kernels, of its shape (its biases and head norms: model_variants). */
static void layer_variants(const Layout *l, Codegen *cg, int i) {
    const LayerInfo *li = &l->layer[i];
    const ModelHeader lm = layer_model(l, i), *m = &lm;
    LayerKernels *lk = &cg->layer[i];
    KernelVariant v = attention_variant(l, cg, li, KV_ATTN_PREFILL);
    lk->prefill = add_variant(cg, &v);
    v = attention_variant(l, cg, li, KV_ATTN_DECODE);
    lk->decode = add_variant(cg, &v);
    v = reduce_variant(m);
    lk->decode_reduce = add_variant(cg, &v);
    v = rope_variant(l, cg, li);
    lk->rope = add_variant(cg, &v);
}

/* x[r][:] += bias over rows of `width` elements (q's, or k's and v's). */
static int bias_variant(Codegen *cg, int64_t width, const char *width_name, const char *dt) {
    KernelVariant v = {.kind = KV_BIAS_ADD, .block = MIXC_SMALL_THREADS, .width = width};
    name_variant(&v, "bias_add_w%lld_%s", (long long)width, dt);
    set_grid(&v, (GridRule){GRID_TOKENS, width, width_name, MIXC_SMALL_THREADS}, grid_const(1), grid_const(1));
    return add_variant(cg, &v);
}

/* qk_norm: an rmsnorm over each head of q (or k), rows of head_dim: `heads` rows per token;
 * qk_l2_norm: the same without a weight. k's name spells its rows a token (the layer's kv_heads: its
 * grid), q's are the model's heads. */
static int head_norm_variant(const ModelHeader *m, Codegen *cg, char which, int64_t heads, const char *heads_name,
                             int64_t row) {
    KernelVariant v = {.kind = KV_RMSNORM, .block = MIXC_SMALL_THREADS, .width = m->head_dim, .heads = heads,
                       .unweighted = m->qk_l2_norm, .row = row};
    char rows[64] = "";
    if (which == 'k') snprintf(rows, sizeof rows, "_kv%lld", (long long)heads);
    if (row) snprintf(rows + strlen(rows), sizeof rows - strlen(rows), "_row%lld", (long long)row);   /* in qkv */
    name_variant(&v, "head_%s_%c_hd%lld%s%s_%s", m->qk_l2_norm ? "l2norm" : "norm", which,
             (long long)m->head_dim, rows, m->norm == NORM_RMS_PLUS_ONE && !m->qk_l2_norm ? "_p1" : "", dtype_name(m->dtype));
    set_grid(&v, (GridRule){GRID_TOKENS, heads, heads_name, 1}, grid_const(1), grid_const(1));
    return add_variant(cg, &v);
}

/* The RMSNorm of the residual stream, alone (after the embedding) and fused with the residual add
 * before it (add_rmsnorm: every other norm of x on the kernels' plan; same arithmetic, one row a
 * block); the plain residual add only where a branch is added outside the stream (the shared expert's
 * down to the experts'). */
static void residual_variants(const ModelHeader *m, Codegen *cg) {
    const char *dt = dtype_name(m->dtype), *p1 = m->norm == NORM_RMS_PLUS_ONE ? "_p1" : "";
    KernelVariant v = {.kind = KV_RMSNORM, .block = MIXC_SMALL_THREADS};
    name_variant(&v, "rmsnorm_h%lld%s_%s", (long long)m->hidden, p1, dt);
    set_grid(&v, grid_of(GRID_TOKENS), grid_const(1), grid_const(1));
    cg->rmsnorm = add_variant(cg, &v);
    v = (KernelVariant){.kind = KV_ADD_RMSNORM, .block = MIXC_SMALL_THREADS};
    name_variant(&v, "add_rmsnorm_h%lld%s_%s", (long long)m->hidden, p1, dt);
    set_grid(&v, grid_of(GRID_TOKENS), grid_const(1), grid_const(1));
    cg->add_rmsnorm = add_variant(cg, &v);
    cg->residual_add = -1;
    if (!m->experts || !m->shared_expert_ffn) return;
    v = (KernelVariant){.kind = KV_RESIDUAL_ADD, .block = MIXC_SMALL_THREADS};
    name_variant(&v, "residual_add_%s", dt);
    set_grid(&v, (GridRule){GRID_TOKENS, m->hidden, "hidden", MIXC_SMALL_THREADS}, grid_const(1), grid_const(1));
    cg->residual_add = add_variant(cg, &v);
}

static void model_variants(const Layout *l, Codegen *cg) {
    const ModelHeader *m = &l->model;
    const char *dt = dtype_name(m->dtype);
    KernelVariant v;
    residual_variants(m, cg);
    for (int i = 0; i < l->nlayers; i++) {   /* each layer's, of its shape */
        const ModelHeader lm = layer_model(l, i);
        LayerKernels *lk = &cg->layer[i];
        lk->head_norm_q = lk->head_norm_k = -1;
        if (!m->qk_norm && !m->qk_l2_norm) continue;
        const bool owner = l->layer[i].reads == i;   /* an owner's q and k: in its fused qkv rows */
        const int64_t qkv_row = owner ? (lm.heads + 2 * lm.kv_heads) * lm.head_dim : 0;
        lk->head_norm_q = head_norm_variant(&lm, cg, 'q', lm.heads, "heads", qkv_row);
        if (owner)   /* a reader projects no k; a kind's own kv_heads: a number in the formula */
            lk->head_norm_k = head_norm_variant(&lm, cg, 'k', lm.kv_heads, lm.kv_heads == m->kv_heads ? "kv_heads" : NULL,
                                                qkv_row);
    }
    cg->head_norm_q = l->nlayers ? cg->layer[0].head_norm_q : -1;   /* the manifest's model_kernels: layer 0's */
    cg->head_norm_k = l->nlayers ? cg->layer[0].head_norm_k : -1;

    cg->silu_mul = -1;   /* the dense MLP's gated activation (with experts: moe_variants, on moe_step's dense layers) */
    if (!m->experts) {   /* over the fused gate_up rows: gate, then up */
        v = (KernelVariant){.kind = KV_SILU_MUL, .block = MIXC_SMALL_THREADS, .width = m->ffn};
        name_variant(&v, "%s_mul_f%lld_%s", activation_name(m->activation), (long long)m->ffn, dt);
        set_grid(&v, (GridRule){GRID_TOKENS, m->ffn, "ffn", MIXC_SMALL_THREADS}, grid_const(1), grid_const(1));
        cg->silu_mul = add_variant(cg, &v);
    }

    for (int i = 0; i < l->nlayers; i++) {
        const ModelHeader lm = layer_model(l, i);
        LayerKernels *lk = &cg->layer[i];
        const bool own = lm.head_dim != m->head_dim || lm.kv_heads != m->kv_heads;   /* the formula's width: a number */
        const bool owner = l->layer[i].reads == i;   /* its fused q/k/v rows; a reader's q rows */
        lk->bias_q = m->qkv_bias && !owner ? bias_variant(cg, lm.heads * lm.head_dim, own ? NULL : "q_width", dt) : -1;
        lk->bias_qkv = m->qkv_bias && owner ? bias_variant(cg, (lm.heads + 2 * lm.kv_heads) * lm.head_dim,
                                                           own ? NULL : "qkv_width", dt) : -1;
    }
    cg->bias_qkv = l->nlayers ? cg->layer[0].bias_qkv : -1;   /* layer 0 owns its cache */
    cg->bias_o = m->o_bias ? bias_variant(cg, m->hidden, "hidden", dt) : -1;

    v = (KernelVariant){.kind = KV_EMBED, .block = MIXC_SMALL_THREADS};
    name_variant(&v, "embed_h%lld_v%lld_%s", (long long)m->hidden,
             (long long)m->vocab, dt);
    set_grid(&v, grid_of(GRID_TOKENS), grid_const(1), grid_const(1));
    cg->embed = add_variant(cg, &v);

    v = (KernelVariant){.kind = KV_ARGMAX, .block = MIXC_ARGMAX_THREADS};   /* one row of logits per block */
    name_variant(&v, "argmax_v%lld", (long long)m->vocab);
    if (m->logit_softcap) softcap_suffix(v.name + strlen(v.name), sizeof v.name - strlen(v.name), m->logit_softcap);
    set_grid(&v, grid_of(GRID_TOKENS), grid_const(1), grid_const(1));
    cg->argmax = add_variant(cg, &v);
}

/* The gated activation over rows of `width` elements a token (the experts' k x ffn, the shared
 * expert's; moe_step's dense layers'): the model's activation kernel with its own grid. fused: gate
 * and up in one input, rows of gate then up (the fused gate_up GEMM's; 0: two inputs). */
static int act_variant(const ModelHeader *m, Codegen *cg, const char *prefix, int64_t width, const char *width_name,
                       bool fused) {
    KernelVariant v = {.kind = KV_SILU_MUL, .block = MIXC_SMALL_THREADS, .width = fused ? width : 0};
    name_variant(&v, "%s_%s_mul_%s", prefix, activation_name(m->activation), dtype_name(m->dtype));
    set_grid(&v, (GridRule){GRID_TOKENS, width, width_name, MIXC_SMALL_THREADS}, grid_const(1), grid_const(1));
    return add_variant(cg, &v);
}

/* An expert projection [out][in] over the (token, choice) rows: gate and up (one kernel), or down. */
static int moe_gemm_variant(const ModelHeader *m, Codegen *cg, bool down) {
    KernelVariant v = {.kind = KV_MOE_GEMM, .block = MOE_GEMM_THREADS, .moe_in = down ? m->ffn : m->hidden,
                       .moe_out = down ? m->hidden : m->ffn, .moe_down = down};
    bool scale = !down && m->router == ROUTER_SIGMOID_INPUT;
    name_variant(&v, "moe_%s_in%lld_out%lld_e%lld_k%lld%s_%s", down ? "down" : "gate_up",
             (long long)v.moe_in, (long long)v.moe_out, (long long)m->experts, (long long)m->experts_per_token,
             scale ? "_scaled" : "", dtype_name(m->dtype));
    set_grid(&v, (GridRule){GRID_TOKENS, m->experts_per_token, "experts_per_token", 1},
             grid_const((v.moe_out + MOE_GEMM_COLS - 1) / MOE_GEMM_COLS), grid_const(1));
    return add_variant(cg, &v);
}

static void moe_variants(const Layout *l, Codegen *cg) {
    const ModelHeader *m = &l->model;
    const char *dt = dtype_name(m->dtype);
    const long long E = m->experts, K = m->experts_per_token;
    cg->router_bias = cg->moe_route = cg->moe_gate_up = cg->moe_down = -1;
    cg->expert_act = cg->shared_act = cg->moe_combine = -1;
    if (!m->experts) return;
    KernelVariant v;
    if (m->moe_bias) {
        v = (KernelVariant){.kind = KV_ROUTER_BIAS_ADD, .block = MIXC_SMALL_THREADS, .width = E};
        name_variant(&v, "router_bias_add_e%lld_%s", E, dt);
        set_grid(&v, (GridRule){GRID_TOKENS, E, "experts", MIXC_SMALL_THREADS}, grid_const(1), grid_const(1));
        cg->router_bias = add_variant(cg, &v);
    }
    v = (KernelVariant){.kind = KV_MOE_ROUTE, .block = MOE_ROUTE_THREADS};
    name_variant(&v, "moe_route_%s_e%lld_k%lld", router_kind_name(m->router), E, K);
    set_grid(&v, (GridRule){GRID_TOKENS, 1, NULL, MOE_ROUTE_THREADS}, grid_const(1), grid_const(1));
    cg->moe_route = add_variant(cg, &v);
    cg->moe_gate_up = moe_gemm_variant(m, cg, false);
    cg->moe_down = moe_gemm_variant(m, cg, true);
    char name[32];
    snprintf(name, sizeof name, "expert_k%lld_f%lld", K, (long long)m->ffn);
    cg->expert_act = act_variant(m, cg, name, K * m->ffn, "experts_per_token*ffn", false);
    if (m->shared_expert_ffn) {
        snprintf(name, sizeof name, "shared_f%lld", (long long)m->shared_expert_ffn);
        cg->shared_act = act_variant(m, cg, name, m->shared_expert_ffn, "shared_expert_ffn", false);
    }
    if (m->moe_step > 1) {   /* the dense layers' MLP between the experts' (layer_model: ffn = dense_ffn) */
        snprintf(name, sizeof name, "dense_f%lld", (long long)m->dense_ffn);
        cg->silu_mul = act_variant(m, cg, name, m->dense_ffn, "dense_ffn", true);   /* fused gate_up rows */
    }
    bool sig = m->router == ROUTER_SIGMOID_INPUT;
    v = (KernelVariant){.kind = KV_MOE_COMBINE, .block = MIXC_SMALL_THREADS};
    name_variant(&v, "moe_combine_h%lld_k%lld%s_%s", (long long)m->hidden, K, sig ? "_unweighted" : "", dt);
    set_grid(&v, (GridRule){GRID_TOKENS, m->hidden, "hidden", MIXC_SMALL_THREADS}, grid_const(1), grid_const(1));
    cg->moe_combine = add_variant(cg, &v);
}

/* Layer i's shape, when the kernels take it: head_dim and the group in the templates' range, q's row
 * below 2^30. A layer of its kind's own shape is named ("layer 5's head_dim 512"); one of the
 * header's shape is not (every layer has it). */
static bool check_layer_shape(const Layout *l, int i, char *err, size_t errlen) {
    const ModelHeader lm = layer_model(l, i), *m = &lm;
    char who[48] = "";
    if (m->kv_heads != l->model.kv_heads || m->head_dim != l->model.head_dim) snprintf(who, sizeof who, "layer %d's ", i);
    if (m->head_dim % 64 != 0 || m->head_dim > PREFILL_MAX_HD)
        return errorf(err, errlen, "%shead_dim %lld is not supported by the kernels (a multiple of 64 up to %d)",
                      who, (long long)m->head_dim, PREFILL_MAX_HD);
    /* Decode keeps group * head_dim / DECODE_THREADS accumulators per thread in registers. */
    int64_t group_dim, q_dim;
    if (!mul_ok(m->heads / m->kv_heads, m->head_dim, &group_dim) || group_dim > DECODE_MAX_GROUP_DIM)
        return errorf(err, errlen, "%sGQA group %lld at head_dim %lld is too large for the decode kernel "
                      "(group x head_dim at most %d)", who, (long long)(m->heads / m->kv_heads),
                      (long long)m->head_dim, DECODE_MAX_GROUP_DIM);
    if (!mul_ok(m->heads, m->head_dim, &q_dim) || q_dim > INT_MAX / 2)
        return errorf(err, errlen, "sizes above 2^31 are not supported by the kernels");
    return true;
}

/* What the kernels support today; everything else is a clear error at emit time. */
static bool check_supported(const Layout *l, int64_t context, char *err, size_t errlen) {
    const ModelHeader *m = &l->model;
    if (m->kv_dtype != m->dtype && !dtype_quantized(m->kv_dtype))
        return errorf(err, errlen,
                    "kv_dtype %s is not supported by the kernels: they take kv_dtype = dtype (%s), int8 or fp8",
                    dtype_name(m->kv_dtype), dtype_name(m->dtype));
    if (m->dtype != DT_BF16 && m->dtype != DT_FP16)
        return errorf(err, errlen, "dtype %s is not supported by the kernels", dtype_name(m->dtype));
    for (int i = 0; i < l->nlayers; i++)   /* each layer's shape (its kind's kv_heads and head_dim) */
        if (!check_layer_shape(l, i, err, errlen)) return false;
    if (context > INT_MAX)
        return errorf(err, errlen, "a context of %lld tokens is not supported by the kernels (at most 2^31 - 1)",
                      (long long)context);
    if (m->hidden > INT_MAX / 2 || m->vocab > INT_MAX)
        return errorf(err, errlen, "sizes above 2^31 are not supported by the kernels");
    int64_t expert_rows;   /* the experts' k x ffn row of a token, and the stacked weights' rows */
    if (m->experts && (!mul_ok(m->experts_per_token, m->ffn, &expert_rows) || expert_rows > INT_MAX / 2 ||
                       !mul_ok(m->experts, m->ffn > m->hidden ? m->ffn : m->hidden, &expert_rows) ||
                       expert_rows > INT_MAX / 2 || m->shared_expert_ffn > INT_MAX / 2))
        return errorf(err, errlen, "experts: sizes above 2^30 are not supported by the kernels");
    return true;
}

static bool check_smem(const Codegen *cg, char *err, size_t errlen) {
    int64_t limit = codegen_arch_max_smem(cg->arch);
    if (limit <= 0) limit = CODEGEN_STATIC_SMEM_LIMIT;
    for (int i = 0; i < cg->nkernels; i++)
        if (cg->kernel[i].dynamic_smem > limit)
            return errorf(err, errlen, "%s needs %lld bytes of shared memory, more than %s allows (%lld)",
                        cg->kernel[i].name, (long long)cg->kernel[i].dynamic_smem, cg->arch,
                        (long long)limit);
    return true;
}

bool codegen_plan(const Layout *l, const CodegenOptions *opt, Codegen *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->context = opt->context > 0 ? opt->context : l->model.context;
    out->chunk = opt->chunk > 0 ? opt->chunk : l->model.chunk;
    if (out->chunk > out->context) out->chunk = out->context;
    out->arch = opt->arch ? opt->arch : CODEGEN_DEFAULT_ARCH;
    out->page_tokens = opt->page_tokens > 0 ? opt->page_tokens : 0;
    if (!check_supported(l, out->context, err, errlen)) return false;
    out->capacity = xcalloc((size_t)l->ncaches, sizeof *out->capacity);
    for (int c = 0; c < l->ncaches; c++)
        out->capacity[c] = plan_cache_tokens(l, c, out->context, out->chunk);
    out->layer = xcalloc((size_t)l->nlayers, sizeof *out->layer);
    for (int i = 0; i < l->nlayers; i++) layer_variants(l, out, i);
    model_variants(l, out);
    moe_variants(l, out);
    bool ok = check_smem(out, err, errlen);
    if (!ok) codegen_free(out);
    return ok;
}

void codegen_free(Codegen *cg) {
    free(cg->kernel);
    free(cg->layer);
    free(cg->capacity);
    memset(cg, 0, sizeof *cg);
}

/* ---------------------------------------------------------------- kernels.cu */

/* Pastes a template without its #include "..." lines (the text of those is already pasted). */
static void paste_template(Buf *out, const char *name, const char *text) {
    buf_printf(out, "\n/* ======== templates/%s ======== */\n", name);
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);
        if (strncmp(p, "#include \"", 10) != 0) buf_printf(out, "%.*s", (int)n, p);
        p += n;
    }
}

const char *kernel_params_name(KernelKind k) {
    static const char *names[KV_COUNT] = {
        [KV_ATTN_PREFILL] = "PrefillParams", [KV_ATTN_DECODE] = "DecodeParams",
        [KV_ATTN_DECODE_REDUCE] = "DecodeReduceParams", [KV_ROPE_Q] = "RopeParams",
        [KV_ROPE_APPEND] = "RopeParams", [KV_RMSNORM] = "RmsNormParams",
        [KV_SILU_MUL] = "SiluMulParams", [KV_RESIDUAL_ADD] = "AddParams", [KV_ADD_RMSNORM] = "AddRmsNormParams", [KV_EMBED] = "EmbedParams",
        [KV_BIAS_ADD] = "BiasAddParams", [KV_ROUTER_BIAS_ADD] = "BiasAddParams",
        [KV_MOE_ROUTE] = "MoeRouteParams", [KV_MOE_GEMM] = "MoeGemmParams", [KV_MOE_COMBINE] = "MoeCombineParams",
        [KV_ARGMAX] = "ArgmaxParams",
    };
    return names[k];
}

const char *kernel_kind_name(KernelKind k) {
    static const char *names[KV_COUNT] = {
        [KV_ATTN_PREFILL] = "attn_prefill", [KV_ATTN_DECODE] = "attn_decode",
        [KV_ATTN_DECODE_REDUCE] = "attn_decode_reduce", [KV_ROPE_Q] = "rope_q",
        [KV_ROPE_APPEND] = "rope_append", [KV_RMSNORM] = "rmsnorm", [KV_SILU_MUL] = "silu_mul",
        [KV_RESIDUAL_ADD] = "residual_add", [KV_ADD_RMSNORM] = "add_rmsnorm", [KV_EMBED] = "embed", [KV_BIAS_ADD] = "bias_add",
        [KV_ROUTER_BIAS_ADD] = "router_bias_add", [KV_MOE_ROUTE] = "moe_route", [KV_MOE_GEMM] = "moe_gemm",
        [KV_MOE_COMBINE] = "moe_combine", [KV_ARGMAX] = "argmax",
    };
    return names[k];
}

/* The body of one instantiation: the template call with its constants. */
static void instantiate(Buf *out, const Layout *l, const KernelVariant *v) {
    const ModelHeader *m = &l->model;
    const char *T = elem_type(m->dtype);
    const long long hd = v->head_dim, g = v->group, kv = v->kv_heads, h = m->heads;
    bool quant = dtype_quantized(m->kv_dtype);   /* the KV argument, after the others (its default: T) */
    switch (v->kind) {
    case KV_ATTN_PREFILL:
    case KV_ATTN_DECODE: {  /* attn_softcap, a constant (0: none); the KV type when 8-bit or before CHUNK (and PAGE) */
        char chunk[80] = "";   /* TC: the last argument, after every other */
        if (v->page || v->tc)
            snprintf(chunk, sizeof chunk, ", %lldLL, %lldLL%s", (long long)v->chunked, (long long)v->page,
                     v->tc ? ", true" : "");
        else if (v->chunked) snprintf(chunk, sizeof chunk, ", %lldLL", (long long)v->chunked);
        const bool kv_arg = quant || v->chunked || v->page || v->tc;
        buf_printf(out, "    attn_%s_kernel<%s, %lld, %lld, %lld, %lldLL, %lldLL%s%s%s>(p, %.9ef);\n",
                   v->kind == KV_ATTN_PREFILL ? "prefill" : "decode", T, hd, g, kv, (long long)v->window,
                   (long long)v->capacity, kv_arg ? ", " : "", kv_arg ? kv_type(m) : "", chunk, m->attn_softcap);
        break;
    }
    case KV_ATTN_DECODE_REDUCE:
        buf_printf(out, "    attn_decode_reduce_kernel<%s, %lld>(p);\n", T, hd);
        break;
    case KV_ROPE_Q:
    case KV_ROPE_APPEND: {   /* the KV type when 8-bit or before PAGE */
        quant = (quant && v->kind == KV_ROPE_APPEND) || v->page;
        char page[40] = "";
        if (v->page) snprintf(page, sizeof page, ", %lldLL", (long long)v->page);
        buf_printf(out, "    rope_append_kernel<%s, %lld, %lld, %lld, %s, %lldLL%s%s%s>(p);\n", T, hd, h,
                   kv, v->kind == KV_ROPE_APPEND ? "true" : "false",
                   (long long)(v->capacity ? v->capacity : 1), quant ? ", " : "", quant ? kv_type(m) : "", page);
        break;
    }
    case KV_RMSNORM:
        if (v->row)   /* heads in a fused qkv's rows: `heads` rows a token, `row` elements apart */
            buf_printf(out, "    rmsnorm_kernel<%s, %lld, %s, %lld, %lldLL>(p, %.9ef, %s);\n", T, (long long)v->width,
                       v->unweighted ? "false" : "true", (long long)v->heads, (long long)v->row, m->norm_eps,
                       m->norm == NORM_RMS_PLUS_ONE || v->unweighted ? "1.0f" : "0.0f");
        else if (v->unweighted)   /* qk_l2_norm: x / rms(x), p.weight unused */
            buf_printf(out, "    rmsnorm_kernel<%s, %lld, false>(p, %.9ef, 1.0f);\n", T, (long long)v->width, m->norm_eps);
        else
            buf_printf(out, "    rmsnorm_kernel<%s, %lld>(p, %.9ef, %s);\n", T, (long long)(v->width ? v->width : m->hidden),
                       m->norm_eps, m->norm == NORM_RMS_PLUS_ONE ? "1.0f" : "0.0f");
        break;
    case KV_SILU_MUL:
        buf_printf(out, "    %s_mul_kernel<%s, %lldLL>(p", activation_name(m->activation), T, (long long)v->width);
        if (m->activation == ACT_CLAMPED_SWIGLU) buf_printf(out, ", %.9ef, %.9ef", m->swiglu_limit, m->swiglu_alpha);
        buf_puts(out, ");\n");
        break;
    case KV_RESIDUAL_ADD: buf_printf(out, "    residual_add_kernel<%s>(p);\n", T); break;
    case KV_ADD_RMSNORM:
        buf_printf(out, "    add_rmsnorm_kernel<%s, %lld>(p, %.9ef, %s);\n", T, (long long)m->hidden, m->norm_eps,
                   m->norm == NORM_RMS_PLUS_ONE ? "1.0f" : "0.0f");
        break;
    case KV_BIAS_ADD: buf_printf(out, "    bias_add_kernel<%s, %lld>(p);\n", T, (long long)v->width); break;
    case KV_EMBED:
        buf_printf(out, "    embed_kernel<%s, %lld, %lldLL>(p, %.9ef);\n", T, (long long)m->hidden,
                   (long long)m->vocab, model_embed_scale(m));
        break;
    case KV_ROUTER_BIAS_ADD: buf_printf(out, "    router_bias_add_kernel<%s, %lld>(p);\n", T, (long long)v->width); break;
    case KV_MOE_ROUTE:
        buf_printf(out, "    moe_route_kernel<%lld, %lld, %d>(p);\n", (long long)m->experts, (long long)m->experts_per_token,
                   (int)m->router);
        break;
    case KV_MOE_GEMM:
        buf_printf(out, "    moe_gemm_kernel<%s, %lld, %lld, %lld, %lld, %s, %s>(p);\n", T, (long long)v->moe_in,
                   (long long)v->moe_out, (long long)m->experts, (long long)m->experts_per_token,
                   v->moe_down ? "true" : "false", !v->moe_down && m->router == ROUTER_SIGMOID_INPUT ? "true" : "false");
        break;
    case KV_MOE_COMBINE:
        buf_printf(out, "    moe_combine_kernel<%s, %lld, %lld, %s>(p);\n", T, (long long)m->hidden,
                   (long long)m->experts_per_token, m->router == ROUTER_SIGMOID_INPUT ? "true" : "false");
        break;
    case KV_ARGMAX:
        buf_printf(out, "    argmax_kernel<%lldLL>(p, %.9ef);\n", (long long)m->vocab, (double)(float)m->logit_softcap);
        break;
    case KV_COUNT: break;
    }
}

void codegen_source(const Layout *l, const Codegen *cg, Buf *out) {
    buf_printf(out,
               "/* kernels.cu — generated by mixc %s for model \"%s\" (%s, context %lld, chunk %lld).\n"
               " * Do not edit: regenerate with `mixc emit`. Self-contained: the kernel templates are\n"
               " * pasted below; only CUDA's include directory is needed. manifest.json lists the\n"
               " * launch geometry of every kernel. */\n",
               MIXC_VERSION, l->model.name, cg->arch, (long long)cg->context, (long long)cg->chunk);
    for (int i = 0; i < NTEMPLATES; i++) paste_template(out, templates[i].name, templates[i].text);
    buf_puts(out, "\n/* ======== instantiations ======== */\n");
    for (int i = 0; i < cg->nkernels; i++) {
        const KernelVariant *v = &cg->kernel[i];
        const char *ps = kernel_params_name(v->kind);
        buf_printf(out, "\nextern \"C\" __global__ void __launch_bounds__(%d) %s(const %s p) {\n", v->block,
                   v->name, ps);
        instantiate(out, l, v);
        buf_printf(out, "}\nMIXC_EMU_ENTRY(%s, %s)\n", v->name, ps);
    }
}
