/* weights.c — weight bytes from the model dimensions (Llama-style decoder, no biases).
 * Layers that read another layer's cache have no K/V projections; the LM head is the embedding
 * matrix when tie_embeddings is set. */
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

bool plan_weights(const Layout *l, WeightsPlan *out) {
    const ModelHeader *m = &l->model;
    WeightsPlan w = {0};
    int64_t q_width, kv_width, wq_wo, wk_wv, mlp;
    bool ok = mul_ok(m->heads, m->head_dim, &q_width) && mul_ok(m->kv_heads, m->head_dim, &kv_width) &&
              mul3(2, q_width, m->hidden, &wq_wo) &&     /* Wq: hidden -> q, Wo: q -> hidden */
              mul3(2, kv_width, m->hidden, &wk_wv) &&    /* Wk, Wv: hidden -> kv, owners only */
              mul3(3, m->ffn, m->hidden, &mlp);          /* gate, up: hidden -> ffn; down: ffn -> hidden */
    ok = ok && mul_ok(m->vocab, m->hidden, &w.embedding);
    if (!m->tie_embeddings) w.lm_head = w.embedding;
    ok = ok && mac(wq_wo, l->nlayers, &w.attention) && mac(wk_wv, l->ncaches, &w.attention);
    ok = ok && mac(mlp, l->nlayers, &w.mlp);
    ok = ok && mac(2 * (int64_t)l->nlayers + 1, m->hidden, &w.norms);  /* two per layer, one final */
    ok = ok && add_ok(w.embedding, w.lm_head, &w.params) && add_ok(w.params, w.attention, &w.params) &&
         add_ok(w.params, w.mlp, &w.params) && add_ok(w.params, w.norms, &w.params) &&
         mul_ok(w.params, dtype_bytes(m->dtype), &w.total);
    if (!ok) return false;
    *out = w;
    return true;
}
