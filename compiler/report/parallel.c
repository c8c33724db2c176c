/* parallel.c — the report's figures per GPU under tensor (--tp) and pipeline (--pp) parallelism,
 * following vLLM's Llama model (docs/report.md, "Several GPUs", cites each rule):
 *   - tp must divide heads and ffn; kv_heads >= tp: tp divides kv_heads and each rank holds
 *     kv_heads / tp of them; kv_heads < tp: kv_heads divides tp and each rank holds one, every KV
 *     head replicated on tp / kv_heads ranks (max(1, kv_heads / tp), vLLM's get_num_kv_heads);
 *   - the embedding and the LM head are split by vocab rows, the vocab padded to a multiple of 64
 *     first (VocabParallelEmbedding); norms are replicated;
 *   - pipeline stages are contiguous runs of layers, n / pp each, the remainder spread one layer
 *     each over the stages before the last, from the second-to-last backwards (get_pp_indices);
 *     the first stage holds the embedding, the last the final norm and the LM head (and, with
 *     tied embeddings and pp > 1, the embedding too: it is the LM head there). */
#include "parallel.h"

#include <stdlib.h>
#include <string.h>

#define VOCAB_PADDING 64    /* vLLM's DEFAULT_VOCAB_PADDING_SIZE */

int64_t gpu_max_sequences(int64_t memory, int64_t weights, int64_t arena, int64_t per_sequence) {
    int64_t left = memory - weights - arena;   /* each term <= 2^62: no overflow */
    if (left <= 0 || per_sequence <= 0) return 0;
    return left / per_sequence;
}

/* The per-rank dimensions; false (err set) when tp cannot split the model as vLLM does. */
static bool split_heads(const ModelHeader *m, ParallelPlan *p, char *err, size_t errsize) {
    int64_t tp = p->tp, kv = m->kv_heads;
    p->vocab_padded = (m->vocab + VOCAB_PADDING - 1) / VOCAB_PADDING * VOCAB_PADDING;
    if (m->heads % tp)
        snprintf(err, errsize, "--tp %lld does not divide the %lld heads", (long long)tp, (long long)m->heads);
    else if (kv >= tp && kv % tp)
        snprintf(err, errsize, "--tp %lld does not divide the %lld kv_heads", (long long)tp, (long long)kv);
    else if (kv < tp && tp % kv)
        snprintf(err, errsize, "the %lld kv_heads do not divide --tp %lld (fewer KV heads than ranks are replicated, "
                 "each on tp / kv_heads ranks)", (long long)kv, (long long)tp);
    else if (m->ffn % tp)
        snprintf(err, errsize, "--tp %lld does not divide ffn %lld", (long long)tp, (long long)m->ffn);
    else if (m->shared_expert_ffn % tp)
        snprintf(err, errsize, "--tp %lld does not divide shared_expert_ffn %lld", (long long)tp,
                 (long long)m->shared_expert_ffn);
    else if (m->dense_ffn % tp)   /* moe_step's dense layers */
        snprintf(err, errsize, "--tp %lld does not divide dense_ffn %lld", (long long)tp, (long long)m->dense_ffn);
    else if (p->vocab_padded % tp)
        snprintf(err, errsize, "--tp %lld does not divide the vocab padded to a multiple of %d (%lld)", (long long)tp,
                 VOCAB_PADDING, (long long)p->vocab_padded);
    else {
        p->heads = m->heads / tp;
        p->kv_heads = kv >= tp ? kv / tp : 1;
        p->kv_replicas = kv >= tp ? 1 : tp / kv;
        p->ffn = m->ffn / tp;
        p->vocab_rows = p->vocab_padded / tp;
        return true;
    }
    return false;
}

/* A kind's own kv_heads split as the header's: false (err set, naming the first layer) when tp cannot. */
static bool split_layer_kv_heads(const Layout *l, int64_t tp, char *err, size_t errsize) {
    for (int i = 0; i < l->nlayers; i++) {
        int64_t kv = l->layer[i].kv_heads;
        if (!kv || (kv >= tp ? kv % tp == 0 : tp % kv == 0)) continue;
        if (kv >= tp)
            snprintf(err, errsize, "--tp %lld does not divide the %lld kv_heads of layer %d", (long long)tp, (long long)kv, i);
        else
            snprintf(err, errsize, "the %lld kv_heads of layer %d do not divide --tp %lld", (long long)kv, i, (long long)tp);
        return false;
    }
    return true;
}

/* vLLM's default partition (get_pp_indices). */
static void split_layers(int nlayers, ParallelPlan *p) {
    for (int s = 0; s < p->nstages; s++) {
        p->stage[s].first_layer = s ? p->stage[s - 1].end_layer : 0;
        p->stage[s].end_layer = pipeline_stage_end(nlayers, p->nstages, s);
    }
}

static int stage_of(const Layout *l, const ParallelPlan *p, int layer) {
    return pipeline_stage_of(l->nlayers, p->nstages, layer);
}

static void find_cross_stage_reads(const Layout *l, ParallelPlan *p) {
    int n = 0;
    for (int k = 0; k < l->ncaches; k++) n += l->cache[k].nreaders;
    p->cross = xcalloc((size_t)n + 1, sizeof(CrossStageRead));
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        int owner_stage = stage_of(l, p, ci->owner);
        p->stage[owner_stage].ncaches++;
        for (int j = 0; j < ci->nreaders; j++) {
            int reader_stage = stage_of(l, p, ci->readers[j]);
            if (reader_stage != owner_stage)
                p->cross[p->ncross++] = (CrossStageRead){k, ci->owner, owner_stage, ci->readers[j], reader_stage};
        }
    }
}

/* Each stage's weights per rank, and its KV per sequence per rank at each context. */
static bool plan_stages(const Layout *l, int64_t chunk, ParallelPlan *p) {
    bool ok = true;
    for (int s = 0; s < p->nstages && ok; s++) {
        StagePlan *st = &p->stage[s];
        bool first = s == 0, last = s == p->nstages - 1, tied = l->model.tie_embeddings;
        WeightsShard shard = {.tp = p->tp, .kv_heads = p->kv_heads, .vocab_rows = p->vocab_rows,
                              .first_layer = st->first_layer, .end_layer = st->end_layer,
                              .embedding = first || (tied && last), .lm_head = last && !tied, .final_norm = last};
        ok = plan_weights_shard(l, &shard, &st->weights);
        st->kv_bytes = xcalloc((size_t)p->ncontexts, sizeof(int64_t));
        st->max_sequences = xcalloc((size_t)p->ncontexts, sizeof(int64_t));
    }
    Layout rank = *l;   /* the same caches with this rank's KV heads (a kind's own split likewise) */
    rank.model.kv_heads = p->kv_heads;
    rank.layer = xmalloc(((size_t)l->nlayers + 1) * sizeof(LayerInfo));
    memcpy(rank.layer, l->layer, (size_t)l->nlayers * sizeof(LayerInfo));
    for (int i = 0; i < l->nlayers; i++) {
        int64_t kv = l->layer[i].kv_heads;
        if (kv) rank.layer[i].kv_heads = kv >= p->tp ? kv / p->tp : 1;
    }
    for (int c = 0; c < p->ncontexts && ok; c++) {
        KvPlan kv;
        if (!plan_kv(&rank, p->contexts[c], chunk, &kv)) ok = false;
        if (!ok) break;
        for (int k = 0; k < kv.ncaches && ok; k++) {
            StagePlan *st = &p->stage[stage_of(l, p, l->cache[k].owner)];
            ok = add_ok(st->kv_bytes[c], kv.cache[k].bytes, &st->kv_bytes[c]);
        }
        kv_plan_free(&kv);
    }
    free(rank.layer);
    return ok;
}

int parallel_plan(const Layout *l, int64_t tp, int64_t pp, int64_t chunk, const int64_t *contexts, int ncontexts,
                  ParallelPlan *out, char *err, size_t errsize) {
    memset(out, 0, sizeof *out);
    out->tp = tp, out->pp = pp, out->contexts = contexts, out->ncontexts = ncontexts;
    if (!split_heads(&l->model, out, err, errsize) || !split_layer_kv_heads(l, tp, err, errsize)) return 2;
    if (!pipeline_stages_fit(l, pp, err, errsize)) return 2;
    out->nstages = (int)pp;
    out->stage = xcalloc((size_t)pp, sizeof(StagePlan));
    split_layers(l->nlayers, out);
    find_cross_stage_reads(l, out);
    if (plan_stages(l, chunk, out)) return 0;
    snprintf(err, errsize, "the per-GPU figures overflow 2^62 bytes");
    return 1;
}

void parallel_fit(ParallelPlan *p, const char *gpu_name, int64_t gpu_bytes, const int64_t *arena_bytes) {
    p->gpu_name = gpu_name, p->gpu_bytes = gpu_bytes;
    p->max_sequences = xcalloc((size_t)p->ncontexts, sizeof(int64_t));
    p->binding = xcalloc((size_t)p->ncontexts, sizeof(int));
    for (int c = 0; c < p->ncontexts; c++) {
        p->max_sequences[c] = -1;
        for (int s = 0; s < p->nstages; s++) {
            StagePlan *st = &p->stage[s];
            st->max_sequences[c] = -1;      /* a stage without caches: KV sets no limit there */
            if (!st->kv_bytes[c]) continue;
            st->max_sequences[c] = gpu_max_sequences(gpu_bytes, st->weights.total, arena_bytes[c], st->kv_bytes[c]);
            if (p->max_sequences[c] < 0 || st->max_sequences[c] < p->max_sequences[c])
                p->max_sequences[c] = st->max_sequences[c], p->binding[c] = s;
        }
    }
}

void parallel_free(ParallelPlan *p) {
    for (int s = 0; s < p->nstages && p->stage; s++) free(p->stage[s].kv_bytes), free(p->stage[s].max_sequences);
    free(p->stage);
    free(p->cross);
    free(p->max_sequences);
    free(p->binding);
    memset(p, 0, sizeof *p);
}

/* ---------------------------------------------------------------- text */

static void text_split(Buf *b, const Layout *l, const ParallelPlan *p) {
    const ModelHeader *m = &l->model;
    buf_printf(b, "\nseveral GPUs: tp %lld x pp %lld = %lld GPUs, split as vLLM splits a Llama model "
                  "(docs/report.md)\n", (long long)p->tp, (long long)p->pp, (long long)(p->tp * p->pp));
    buf_printf(b, "  per rank: heads %lld of %lld, kv_heads %lld of %lld", (long long)p->heads, (long long)m->heads,
               (long long)p->kv_heads, (long long)m->kv_heads);
    if (p->kv_replicas > 1) buf_printf(b, " (each replicated on %lld ranks)", (long long)p->kv_replicas);
    buf_printf(b, ", ffn %lld of %lld, vocab rows %lld of %lld (padded to %lld)\n", (long long)p->ffn,
               (long long)m->ffn, (long long)p->vocab_rows, (long long)m->vocab, (long long)p->vocab_padded);
    int64_t *seen = xcalloc((size_t)l->nlayers + 1, sizeof(int64_t));   /* the distinct own kv_heads (a few kinds) */
    int nseen = 0;
    for (int i = 0; i < l->nlayers; i++) {   /* each kind's own kv_heads, once, at its first layer */
        int64_t kv = l->layer[i].kv_heads;
        int j = 0;
        while (j < nseen && seen[j] != kv) j++;
        if (!kv || j < nseen) continue;
        seen[nseen++] = kv;
        buf_printf(b, "  per rank, layers of kv_heads %lld (from layer %d): kv_heads %lld of %lld\n", (long long)kv, i,
                   (long long)(kv >= p->tp ? kv / p->tp : 1), (long long)kv);
    }
    free(seen);
}

static void text_stages(Buf *b, const ParallelPlan *p) {
    buf_printf(b, "  stage  %11s  %6s  %28s", "layers", "caches", "weights per rank");
    for (int c = 0; c < p->ncontexts; c++) {
        char h[48];
        snprintf(h, sizeof h, "KV/seq/rank @%lld", (long long)p->contexts[c]);
        buf_printf(b, "  %26s", h);
    }
    buf_printf(b, "\n");
    for (int s = 0; s < p->nstages; s++) {
        const StagePlan *st = &p->stage[s];
        char layers[32], cell[64];
        snprintf(layers, sizeof layers, "%d-%d", st->first_layer, st->end_layer - 1);
        snprintf(cell, sizeof cell, "%s (%lld B)", fmt_bytes((double)st->weights.total), (long long)st->weights.total);
        buf_printf(b, "  %5d  %11s  %6d  %28s", s, layers, st->ncaches, cell);
        for (int c = 0; c < p->ncontexts; c++) {
            snprintf(cell, sizeof cell, "%s (%lld B)", fmt_bytes((double)st->kv_bytes[c]), (long long)st->kv_bytes[c]);
            buf_printf(b, "  %26s", cell);
        }
        buf_printf(b, "\n");
    }
}

/* Two reads of one cache from one stage (a cache's readers ascend, so they come together). */
static bool same_note(const CrossStageRead *a, const CrossStageRead *b) {
    return a->cache == b->cache && a->reader_stage == b->reader_stage;
}

/* One note per cache and reading stage: its K/V would have to be sent there. */
static void text_cross(Buf *b, const ParallelPlan *p) {
    for (int i = 0; i < p->ncross; i++) {
        const CrossStageRead *x = &p->cross[i];
        if (i && same_note(x, x - 1)) continue;
        int n = 1;
        while (i + n < p->ncross && same_note(x, x + n)) n++;
        buf_printf(b, "  note: cache %d (owner layer %d, stage %d) is read on stage %d by layer%s %d", x->cache,
                   x->owner, x->owner_stage, x->reader_stage, n > 1 ? "s" : "", x->reader);
        for (int j = 1; j < n; j++) buf_printf(b, ",%d", x[j].reader);
        buf_printf(b, ": its K/V would have to be sent from stage %d to stage %d\n", x->owner_stage, x->reader_stage);
    }
}

static void text_fit(Buf *b, const ParallelPlan *p) {
    buf_printf(b, "  GPU %s: %s per GPU, minus its stage's weights per rank and the whole arena; most sequences per "
                  "stage\n  %9s", p->gpu_name, fmt_bytes((double)p->gpu_bytes), "context");
    for (int s = 0; s < p->nstages; s++) buf_printf(b, "  %8s %d", "stage", s);
    buf_printf(b, "  %14s  %s\n", "max sequences", "binding");
    for (int c = 0; c < p->ncontexts; c++) {
        buf_printf(b, "  %9lld", (long long)p->contexts[c]);
        for (int s = 0; s < p->nstages; s++) {
            int64_t n = p->stage[s].max_sequences[c];
            if (n < 0) buf_printf(b, "  %10s", "no KV");
            else buf_printf(b, "  %10lld", (long long)n);
        }
        buf_printf(b, "  %14lld  stage %d\n", (long long)p->max_sequences[c], p->binding[c]);
    }
}

void parallel_text(Buf *b, const Layout *l, const ParallelPlan *p) {
    text_split(b, l, p);
    text_stages(b, p);
    text_cross(b, p);
    if (p->gpu_name) text_fit(b, p);
}

/* ---------------------------------------------------------------- json */

void weights_json(JsonWriter *w, const WeightsPlan *p) {
    jw_object_begin(w);
    JW_INT_MEMBERS(w, {"bytes", p->total}, {"parameters", p->params}, {"embedding", p->embedding},
                   {"lm_head", p->lm_head}, {"attention", p->attention}, {"mlp", p->mlp}, {"norms", p->norms});
    if (p->active_params != p->params)   /* a mixture of experts; absent: every parameter runs */
        JW_INT_MEMBERS(w, {"active_parameters", p->active_params}, {"mlp_active", p->mlp_active});
    if (p->dense_mlp)   /* experts on some layers (moe_step): the dense layers' part of mlp */
        jw_member_int(w, "mlp_dense_layers", p->dense_mlp);
    jw_object_end(w);
}

static void int_array_json(JsonWriter *w, const char *key, const int64_t *v, int n) {
    jw_key(w, key);
    jw_array_begin(w);
    for (int i = 0; i < n; i++) {
        if (v[i] < 0) jw_null(w);
        else jw_int(w, v[i]);
    }
    jw_array_end(w);
}

static void stage_json(JsonWriter *w, const ParallelPlan *p, int s) {
    const StagePlan *st = &p->stage[s];
    const WeightsPlan *x = &st->weights;
    jw_object_begin(w);
    JW_INT_MEMBERS(w, {"stage", s}, {"first_layer", st->first_layer}, {"layers", st->end_layer - st->first_layer},
                   {"caches", st->ncaches}, {"weights_bytes", x->total});
    jw_key(w, "weights");
    weights_json(w, x);
    int_array_json(w, "kv_bytes_per_sequence", st->kv_bytes, p->ncontexts);
    if (p->gpu_name) int_array_json(w, "max_sequences", st->max_sequences, p->ncontexts);
    jw_object_end(w);
}

static void cross_json(JsonWriter *w, const ParallelPlan *p) {
    jw_key(w, "cross_stage_reads");
    jw_array_begin(w);
    for (int i = 0; i < p->ncross; i++) {
        const CrossStageRead *x = &p->cross[i];
        jw_object_begin(w);
        JW_INT_MEMBERS(w, {"cache", x->cache}, {"owner", x->owner}, {"owner_stage", x->owner_stage},
                       {"reader", x->reader}, {"reader_stage", x->reader_stage});
        jw_object_end(w);
    }
    jw_array_end(w);
}

static void fit_json(JsonWriter *w, const ParallelPlan *p) {
    jw_key(w, "gpu");
    if (!p->gpu_name) {
        jw_null(w);
        return;
    }
    jw_object_begin(w);
    jw_member_string(w, "name", p->gpu_name);
    jw_member_int(w, "memory_bytes", p->gpu_bytes);
    int_array_json(w, "max_sequences", p->max_sequences, p->ncontexts);
    jw_key(w, "binding_stage");
    jw_array_begin(w);
    for (int c = 0; c < p->ncontexts; c++) jw_int(w, p->binding[c]);
    jw_array_end(w);
    jw_object_end(w);
}

void parallel_json(JsonWriter *w, const ParallelPlan *p) {
    jw_object_begin(w);
    JW_INT_MEMBERS(w, {"tp", p->tp}, {"pp", p->pp}, {"gpus", p->tp * p->pp}, {"heads_per_rank", p->heads},
                   {"kv_heads_per_rank", p->kv_heads}, {"kv_head_replicas", p->kv_replicas}, {"ffn_per_rank", p->ffn},
                   {"vocab_padded", p->vocab_padded}, {"vocab_rows_per_rank", p->vocab_rows});
    int_array_json(w, "contexts", p->contexts, p->ncontexts);
    jw_key(w, "stages");
    jw_array_begin(w);
    for (int s = 0; s < p->nstages; s++) stage_json(w, p, s);
    jw_array_end(w);
    cross_json(w, p);
    fit_json(w, p);
    jw_object_end(w);
}
