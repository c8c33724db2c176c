/* report_text.c — `mixc report`'s text (docs/report.md explains each figure): from the Report that
 * report.c planned. */
#include "report.h"

#include <stdio.h>
#include <string.h>

static void text_header(Buf *b, const Report *r) {
    const ModelHeader *m = &r->l.model;
    int global_caches = 0;
    for (int k = 0; k < r->l.ncaches; k++) global_caches += r->l.cache[k].retention == 0;
    char kinds[96];
    buf_printf(b, "model \"%s\" (%s)\n", m->name, r->path);
    buf_printf(b, "  layers: %d (%s); caches: %d (%d unbounded, %d rings)\n", r->l.nlayers,
               layer_kinds_text(&r->l, false, kinds, sizeof kinds), r->l.ncaches, global_caches,
               r->l.ncaches - global_caches);
    buf_printf(b, "  hidden %lld, heads %lld, kv_heads %lld, head_dim %lld, ffn %lld, vocab %lld\n",
               (long long)m->hidden, (long long)m->heads, (long long)m->kv_heads, (long long)m->head_dim,
               (long long)m->ffn, (long long)m->vocab);
    buf_printf(b, "  dtype %s, kv_dtype %s, tie_embeddings %s%s%s, chunk %lld, batch %lld\n", dtype_name(m->dtype),
               dtype_name(m->kv_dtype), m->tie_embeddings ? "true" : "false", m->qkv_bias ? ", qkv_bias true" : "",
               m->o_bias ? ", o_bias true" : "", (long long)r->chunk, (long long)r->batch);
    if (r->ctx[0].kv.scale_bytes && layout_first_own_shape(&r->l) < 0)
        buf_printf(b, "  %s KV: counts one fp32 scale per token, per KV head, for K and for V (%d bytes/token/cache)\n",
                   dtype_name(m->kv_dtype), (int)(m->kv_heads * 2 * PLAN_KV_SCALE_BYTES));
    else if (r->ctx[0].kv.scale_bytes)   /* caches of different kv_heads */
        buf_printf(b, "  %s KV: counts one fp32 scale per token, per KV head, for K and for V (%d bytes/token per KV "
                      "head of a cache)\n", dtype_name(m->kv_dtype), 2 * PLAN_KV_SCALE_BYTES);
    if (layout_first_own_shape(&r->l) >= 0)
        buf_printf(b, "  per-layer shapes: the kv_heads and head_dim above are the header's; layers and caches show their own\n");
}

static void text_layers(Buf *b, const Report *r) {
    buf_printf(b, "\nlayers\n  layer  attention      reads  cache\n");
    for (int i = 0; i < r->l.nlayers; i++) {
        const LayerInfo *li = &r->l.layer[i];
        char a[ATTN_TEXT_MAX], shape[80] = "";
        const ModelHeader lm = layer_model(&r->l, i);
        if (li->kv_heads || li->head_dim)   /* a kind's own shape */
            snprintf(shape, sizeof shape, "  kv_heads %lld, head_dim %lld", (long long)lm.kv_heads, (long long)lm.head_dim);
        buf_printf(b, "  %5d  %-13s  %5d  %5d%s\n", i, attn_text(li->window, li->chunked, a), li->reads,
                   li->cache, shape);
    }
}

static void text_caches(Buf *b, const Report *r) {
    bool shapes = layout_first_own_shape(&r->l) >= 0;   /* a column of each cache's kv_heads x head_dim */
    buf_printf(b, "\ncaches (tokens and bytes per sequence at each context)\n  cache  owner%s  retention",
               shapes ? "     shape" : "");
    for (int c = 0; c < r->ncontexts; c++) {
        char h[40];
        snprintf(h, sizeof h, "context %lld", (long long)r->contexts[c]);
        buf_printf(b, "  %26s", h);
    }
    buf_printf(b, "  readers\n");
    for (int k = 0; k < r->l.ncaches; k++) {
        const CacheInfo *ci = &r->l.cache[k];
        char ret[32];
        if (ci->retention)
            snprintf(ret, sizeof ret, "%lld", (long long)ci->retention);
        else
            snprintf(ret, sizeof ret, "unbounded");
        buf_printf(b, "  %5d  %5d", k, ci->owner);
        if (shapes) {
            const ModelHeader om = layer_model(&r->l, ci->owner);
            char shape[48];
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)om.kv_heads, (long long)om.head_dim);
            buf_printf(b, "  %8s", shape);
        }
        buf_printf(b, "  %9s", ret);
        for (int c = 0; c < r->ncontexts; c++) {
            const CachePlan *p = &r->ctx[c].kv.cache[k];
            char cell[64];
            snprintf(cell, sizeof cell, "%lld tok %s", (long long)p->tokens, fmt_bytes((double)p->bytes));
            buf_printf(b, "  %26s", cell);
        }
        buf_printf(b, "  ");
        if (!ci->nreaders) buf_printf(b, "-");
        for (int j = 0; j < ci->nreaders; j++) buf_printf(b, "%s%d", j ? "," : "", ci->readers[j]);
        buf_printf(b, "\n");
    }
}

static void text_kv(Buf *b, const Report *r) {
    buf_printf(b, "\nKV cache per sequence (standard: every layer global with its own cache; windows not\n"
                  "exploited: these caches with the sliding ones kept at full length)\n");
    buf_printf(b, "  %9s  %22s  %22s  %7s  %22s  %7s\n", "context", "this layout", "standard", "saving",
               "windows not exploited", "saving");
    for (int c = 0; c < r->ncontexts; c++) {
        const KvPlan *kv = &r->ctx[c].kv;
        buf_printf(b, "  %9lld  %22s  %22s  %6.2fx  %22s  %6.2fx\n", (long long)kv->context,
                   fmt_bytes((double)kv->kv_bytes), fmt_bytes((double)kv->standard_bytes),
                   ratio(kv->standard_bytes, kv->kv_bytes), fmt_bytes((double)kv->unexploited_bytes),
                   ratio(kv->unexploited_bytes, kv->kv_bytes));
        buf_printf(b, "  %9s  %20lld B  %20lld B  %7s  %20lld B\n", "", (long long)kv->kv_bytes,
                   (long long)kv->standard_bytes, "", (long long)kv->unexploited_bytes);
    }
}

static void text_weights(Buf *b, const Report *r) {
    const WeightsPlan *w = &r->weights;
    buf_printf(b, "\nweights: %s (%lld bytes, %lld parameters in %s)\n", fmt_bytes((double)w->total),
               (long long)w->total, (long long)w->params, dtype_name(r->l.model.dtype));
    buf_printf(b, "  parameters: embedding %lld, lm head %lld%s, attention %lld (K/V projections only in the %d "
                  "cache owners), mlp %lld, norms %lld\n",
               (long long)w->embedding, (long long)w->lm_head, r->l.model.tie_embeddings ? " (tied)" : "",
               (long long)w->attention, r->l.ncaches, (long long)w->mlp, (long long)w->norms);
    const ModelHeader *m = &r->l.model;
    if (w->active_params != w->params)
        buf_printf(b, "  active per token: %lld parameters (%lld of %lld experts, mlp %lld)\n",
                   (long long)w->active_params, (long long)m->experts_per_token, (long long)m->experts,
                   (long long)w->mlp_active);
    if (m->moe_step > 1)   /* the mlp by layer kind: the experts' layers and the dense ones between */
        buf_printf(b, "  mlp by layer: %lld layers of experts (moe_step %lld) %lld, %lld dense layers (dense_ffn %lld) %lld\n",
                   (long long)model_moe_layer_count(m), (long long)m->moe_step, (long long)(w->mlp - w->dense_mlp),
                   (long long)(r->l.nlayers - model_moe_layer_count(m)), (long long)m->dense_ffn, (long long)w->dense_mlp);
    buf_printf(b, "  standard model: %s (%lld bytes)\n", fmt_bytes((double)r->standard_weights.total),
               (long long)r->standard_weights.total);
}

static void text_arena(Buf *b, const Report *r) {
    buf_printf(b, "\nactivation arena (batch %lld; tokens per decode step: %lld, per prefill chunk: %lld)\n",
               (long long)r->batch, (long long)r->batch, (long long)r->batch * r->chunk);
    buf_printf(b, "  %9s  %-38s  %-38s  %s\n", "context", "decode: planned / lower bound / naive",
               "prefill: planned / lower bound / naive", "arena");
    for (int c = 0; c < r->ncontexts; c++) {
        const ArenaFigures *a = &r->ctx[c].arena;
        char d[64], p[64];
        snprintf(d, sizeof d, "%s / %s / %s", fmt_bytes((double)a->decode), fmt_bytes((double)a->decode_lb),
                 fmt_bytes((double)a->decode_naive));
        snprintf(p, sizeof p, "%s / %s / %s", fmt_bytes((double)a->prefill), fmt_bytes((double)a->prefill_lb),
                 fmt_bytes((double)a->prefill_naive));
        buf_printf(b, "  %9lld  %-38s  %-38s  %s (%lld B)\n", (long long)r->contexts[c], d, p,
                   fmt_bytes((double)a->bytes), (long long)a->bytes);
    }
}

static void text_gpu(Buf *b, const Report *r) {
    const Gpu *g = r->gpu;
    buf_printf(b, "\nGPU %s: %s (%lld bytes); minus weights and arena, no other reserve\n", g->name,
               fmt_bytes((double)g->memory_bytes), (long long)g->memory_bytes);
    buf_printf(b, "  %9s  %14s  %14s  %14s  %14s  %s\n", "context", "KV budget", "max sequences", "standard",
               "not exploited", "tokens served");
    for (int c = 0; c < r->ncontexts; c++) {
        const ContextFigures *f = &r->ctx[c];
        int64_t budget = g->memory_bytes - r->weights.total - f->arena.bytes, served = 0;
        if (!mul_ok(f->max_sequences, r->contexts[c], &served)) served = -1;
        buf_printf(b, "  %9lld  %14s  %14lld  %14lld  %14lld  %lld\n", (long long)r->contexts[c],
                   budget > 0 ? fmt_bytes((double)budget) : "none", (long long)f->max_sequences,
                   (long long)f->standard_max_sequences, (long long)f->unexploited_max_sequences,
                   (long long)served);
    }
}

void report_text(Buf *b, const Report *r) {
    text_header(b, r);
    text_layers(b, r);
    text_caches(b, r);
    text_kv(b, r);
    text_weights(b, r);
    text_arena(b, r);
    if (r->gpu) text_gpu(b, r);
    if (r->parallel) parallel_text(b, &r->l, &r->par);
}
