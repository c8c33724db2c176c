/* weights.c — weight bytes from the model dimensions (Llama-style decoder; q, k, v biases with
 * qkv_bias).
 * Layers that read another layer's cache have no K/V projections; the LM head is the embedding
 * matrix when tie_embeddings is set. A shard (one tensor-parallel rank of one pipeline stage) holds
 * its share of each matrix; docs/report.md says how `mixc report --tp/--pp` splits them. */
#include "plan.h"

#include <string.h>

/* a x b + *acc, checked. */
static bool mac(int64_t a, int64_t b, int64_t *acc) {
    int64_t p;
    return mul_ok(a, b, &p) && add_ok(*acc, p, acc);
}

/* a x b x c, checked. */
static bool mul3(int64_t a, int64_t b, int64_t c, int64_t *out) {
    return mul_ok(a, b, out) && mul_ok(*out, c, out);
}

void plan_whole_model_shard(const Layout *l, WeightsShard *s) {
    const ModelHeader *m = &l->model;
    *s = (WeightsShard){.tp = 1, .kv_heads = m->kv_heads, .vocab_rows = m->vocab, .first_layer = 0,
                        .end_layer = l->nlayers, .embedding = true, .lm_head = !m->tie_embeddings,
                        .final_norm = true};
}

bool plan_weights_shard(const Layout *l, const WeightsShard *s, WeightsPlan *out) {
    const ModelHeader *m = &l->model;
    WeightsPlan w = {0};
    int64_t layers = s->end_layer - s->first_layer, owners = 0;
    for (int k = 0; k < l->ncaches; k++)    /* Wk, Wv live with the cache's owner */
        owners += l->cache[k].owner >= s->first_layer && l->cache[k].owner < s->end_layer;
    int64_t q_width, kv_width, wq_wo, wk_wv, mlp, vocab_matrix;
    bool ok = mul_ok(m->heads / s->tp, m->head_dim, &q_width) && mul_ok(s->kv_heads, m->head_dim, &kv_width) &&
              mul3(2, q_width, m->hidden, &wq_wo) &&         /* Wq: hidden -> q, Wo: q -> hidden */
              mul3(2, kv_width, m->hidden, &wk_wv) &&        /* Wk, Wv: hidden -> kv, owners only */
              mul3(3, m->ffn / s->tp, m->hidden, &mlp) &&    /* gate, up: hidden -> ffn; down: ffn -> hidden */
              mul_ok(s->vocab_rows, m->hidden, &vocab_matrix);
    if (s->embedding) w.embedding = vocab_matrix;
    if (s->lm_head) w.lm_head = vocab_matrix;
    ok = ok && mac(wq_wo, layers, &w.attention) && mac(wk_wv, owners, &w.attention);
    if (m->qkv_bias)   /* bq in every layer; bk, bv with the cache's owner */
        ok = ok && mac(q_width, layers, &w.attention) && mac(2 * kv_width, owners, &w.attention);
    ok = ok && mac(mlp, layers, &w.mlp);
    ok = ok && mac(2 * layers + s->final_norm, m->hidden, &w.norms);  /* two per layer, one final */
    ok = ok && add_ok(w.embedding, w.lm_head, &w.params) && add_ok(w.params, w.attention, &w.params) &&
         add_ok(w.params, w.mlp, &w.params) && add_ok(w.params, w.norms, &w.params) &&
         mul_ok(w.params, dtype_bytes(m->dtype), &w.total);
    if (!ok) return false;
    *out = w;
    return true;
}

bool plan_weights(const Layout *l, WeightsPlan *out) {
    WeightsShard whole;
    plan_whole_model_shard(l, &whole);
    return plan_weights_shard(l, &whole, out);
}
