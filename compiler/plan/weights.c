/* weights.c — the weights of a layout: which a layer has, their shapes and names, and their bytes
 * from the model dimensions (Llama-style decoder; q, k, v biases with qkv_bias; q/k norms and
 * sandwich norms with qk_norm and sandwich_norms).
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

/* One layer's MLP parameters on a rank of tp, all and those one token runs. Dense: gate, up (hidden
 * -> ffn) and down (ffn -> hidden). A mixture of experts: the router (hidden -> experts, replicated
 * on every rank), `experts` such MLPs with their biases (moe_bias) of which a token runs
 * experts_per_token, and the shared expert, which every token runs. Each expert's ffn is split tp
 * ways, as vLLM's tensor-parallel MoE does. */
static bool layer_mlp_params(const ModelHeader *m, int64_t tp, int64_t *all, int64_t *active) {
    int64_t one, router = 0, shared = 0;
    bool ok = mul3(3, m->ffn / tp, m->hidden, &one);
    if (m->moe_bias) ok = ok && add_ok(one, 2 * (m->ffn / tp) + m->hidden, &one);   /* gate, up, down biases */
    if (!m->experts) {
        *all = *active = one;
        return ok;
    }
    ok = ok && mul_ok(m->experts, m->hidden + (m->moe_bias ? 1 : 0), &router) &&
         mul3(3, m->shared_expert_ffn / tp, m->hidden, &shared);
    int64_t routed, routed_active;
    ok = ok && mul_ok(one, m->experts, &routed) && mul_ok(one, m->experts_per_token, &routed_active) &&
         add_ok(routed, router + shared, all) && add_ok(routed_active, router + shared, active);
    return ok;
}

void plan_whole_model_shard(const Layout *l, WeightsShard *s) {
    const ModelHeader *m = &l->model;
    *s = (WeightsShard){.tp = 1, .kv_heads = m->kv_heads, .vocab_rows = m->vocab, .first_layer = 0,
                        .end_layer = l->nlayers, .embedding = true, .lm_head = !m->tie_embeddings,
                        .final_norm = true};
}

/* Layer i's attention parameters on shard s: Wq, Wo (and bq) in every layer; Wk, Wv (bk, bv) with
 * the cache's owner; its sinks; its q/k norms (qk_norm). Each by the layer's own kv_heads and
 * head_dim; a kind's own kv_heads is split as the header's (max(1, kv_heads / tp)). */
static bool layer_attention_params(const Layout *l, const WeightsShard *s, int i, int64_t *attention, int64_t *norms) {
    const ModelHeader m = layer_model(l, i);
    bool owner = l->layer[i].reads == i;
    int64_t kv_heads = l->layer[i].kv_heads ? (m.kv_heads >= s->tp ? m.kv_heads / s->tp : 1) : s->kv_heads;
    int64_t q_width, kv_width, wq_wo, wk_wv;
    bool ok = mul_ok(m.heads / s->tp, m.head_dim, &q_width) && mul_ok(kv_heads, m.head_dim, &kv_width) &&
              mul3(2, q_width, m.hidden, &wq_wo) &&         /* Wq: hidden -> q, Wo: q -> hidden */
              mul3(2, kv_width, m.hidden, &wk_wv) &&        /* Wk, Wv: hidden -> kv, owners only */
              add_ok(*attention, wq_wo, attention) && (!owner || add_ok(*attention, wk_wv, attention));
    if (m.qkv_bias)   /* bq in every layer; bk, bv with the cache's owner */
        ok = ok && add_ok(*attention, q_width, attention) && (!owner || mac(2, kv_width, attention));
    if (m.o_bias) ok = ok && add_ok(*attention, m.hidden, attention);   /* bo in every layer */
    if (l->layer[i].sinks) ok = ok && add_ok(*attention, m.heads / s->tp, attention);   /* a logit per query head */
    if (m.qk_norm) ok = ok && mac(owner ? 2 : 1, m.head_dim, norms);   /* q_norm; k_norm with the owner */
    return ok;
}

bool plan_weights_shard(const Layout *l, const WeightsShard *s, WeightsPlan *out) {
    const ModelHeader *m = &l->model;
    WeightsPlan w = {0};
    int64_t layers = s->end_layer - s->first_layer;
    int64_t vocab_matrix;
    bool ok = mul_ok(s->vocab_rows, m->hidden, &vocab_matrix);
    if (s->embedding) w.embedding = vocab_matrix;
    if (s->lm_head) w.lm_head = vocab_matrix;
    for (int i = s->first_layer; i < s->end_layer && ok; i++) {
        const ModelHeader lm = layer_model(l, i);   /* its FFN: the experts, or a dense MLP (moe_step) */
        int64_t mlp, mlp_active;
        ok = layer_attention_params(l, s, i, &w.attention, &w.norms) && layer_mlp_params(&lm, s->tp, &mlp, &mlp_active) &&
             add_ok(w.mlp, mlp, &w.mlp) && add_ok(w.mlp_active, mlp_active, &w.mlp_active);
        if (ok && !lm.experts && m->experts) ok = add_ok(w.dense_mlp, mlp, &w.dense_mlp);
    }
    int64_t per_layer = m->sandwich_norms ? 4 : 2;   /* input and pre-MLP; the outputs' with sandwich_norms */
    ok = ok && mac(per_layer * layers + s->final_norm, m->hidden, &w.norms);  /* and one final */
    ok = ok && add_ok(w.embedding, w.lm_head, &w.params) && add_ok(w.params, w.attention, &w.params) &&
         add_ok(w.params, w.mlp, &w.params) && add_ok(w.params, w.norms, &w.params) &&
         mul_ok(w.params, dtype_bytes(m->dtype), &w.total);
    w.active_params = w.params - w.mlp + w.mlp_active;   /* <= params: no overflow */
    if (!ok) return false;
    *out = w;
    return true;
}

bool plan_weights(const Layout *l, WeightsPlan *out) {
    WeightsShard whole;
    plan_whole_model_shard(l, &whole);
    return plan_weights_shard(l, &whole, out);
}

void plan_weight_shape(const ModelHeader *m, WeightRef w, int64_t *in, int64_t *out) {
    int64_t d = m->hidden, qw = m->heads * m->head_dim, kvw = m->kv_heads * m->head_dim;
    *in = w == WT_O ? qw : w == WT_DOWN ? m->ffn : d;
    switch (w) {
    case WT_EMBED:
    case WT_LM_HEAD: *out = m->vocab; break;
    case WT_Q: *out = qw; break;
    case WT_K:
    case WT_V: *out = kvw; break;
    case WT_Q_BIAS: *in = qw, *out = 1; break;     /* a vector, stored as norms are: [in] */
    case WT_K_BIAS:
    case WT_V_BIAS: *in = kvw, *out = 1; break;
    case WT_O_BIAS: *in = d, *out = 1; break;
    case WT_SINKS: *in = m->heads, *out = 1; break;
    case WT_Q_NORM:
    case WT_K_NORM: *in = m->head_dim, *out = 1; break;
    case WT_GATE:
    case WT_UP: *out = m->ffn; break;
    case WT_O:
    case WT_DOWN: *out = d; break;
    case WT_ROUTER: *out = m->experts; break;
    case WT_ROUTER_BIAS: *in = m->experts, *out = 1; break;
    case WT_EXPERT_GATE:
    case WT_EXPERT_UP: *out = m->experts * m->ffn; break;
    case WT_EXPERT_GATE_BIAS:
    case WT_EXPERT_UP_BIAS: *in = m->experts * m->ffn, *out = 1; break;
    case WT_EXPERT_DOWN: *in = m->ffn, *out = m->experts * d; break;
    case WT_EXPERT_DOWN_BIAS: *in = m->experts * d, *out = 1; break;
    case WT_SHARED_GATE:
    case WT_SHARED_UP: *out = m->shared_expert_ffn; break;
    case WT_SHARED_DOWN: *in = m->shared_expert_ffn, *out = d; break;
    case WT_QKV: *out = qw + 2 * kvw; break;
    case WT_QKV_BIAS: *in = qw + 2 * kvw, *out = 1; break;
    case WT_GATE_UP: *out = 2 * m->ffn; break;
    default: *out = 1; break;
    }
}

bool plan_weight_is_bias(WeightRef w) {
    return w == WT_Q_BIAS || w == WT_K_BIAS || w == WT_V_BIAS || w == WT_QKV_BIAS || w == WT_O_BIAS || w == WT_ROUTER_BIAS ||
           w == WT_EXPERT_GATE_BIAS || w == WT_EXPERT_UP_BIAS || w == WT_EXPERT_DOWN_BIAS;
}

WeightRef plan_expert_bias(WeightRef w) {
    return w == WT_EXPERT_GATE ? WT_EXPERT_GATE_BIAS : w == WT_EXPERT_UP ? WT_EXPERT_UP_BIAS : WT_EXPERT_DOWN_BIAS;
}

bool plan_weight_is_vector(WeightRef w) {
    int64_t in, out;
    ModelHeader probe = {.hidden = 2, .heads = 1, .kv_heads = 1, .head_dim = 2, .ffn = 2, .vocab = 2};
    plan_weight_shape(&probe, w, &in, &out);
    return out == 1;
}

const WeightRef plan_layer_weight_order[] = {
    WT_NORM_IN, WT_Q, WT_Q_BIAS, WT_Q_NORM, WT_K, WT_K_BIAS, WT_K_NORM, WT_V, WT_V_BIAS, WT_O,
    WT_O_BIAS, WT_SINKS, WT_NORM_ATTN_OUT, WT_NORM_POST, WT_GATE, WT_UP, WT_DOWN, WT_ROUTER, WT_ROUTER_BIAS,
    WT_EXPERT_GATE, WT_EXPERT_GATE_BIAS, WT_EXPERT_UP, WT_EXPERT_UP_BIAS, WT_EXPERT_DOWN, WT_EXPERT_DOWN_BIAS,
    WT_SHARED_GATE, WT_SHARED_UP, WT_SHARED_DOWN, WT_NORM_MLP_OUT,
};
const int plan_layer_weight_count = (int)(sizeof plan_layer_weight_order / sizeof plan_layer_weight_order[0]);

bool plan_layer_has_weight(const Layout *l, int i, WeightRef w) {
    const ModelHeader lm = layer_model(l, i), *m = &lm;   /* its FFN: the experts' or a dense MLP's */
    bool kv = w == WT_K || w == WT_V || w == WT_K_BIAS || w == WT_V_BIAS || w == WT_K_NORM || w == WT_QKV ||
              w == WT_QKV_BIAS;
    if (kv && l->layer[i].reads != i) return false;
    if (w == WT_O_BIAS) return m->o_bias;
    if (w == WT_GATE || w == WT_UP || w == WT_DOWN || w == WT_GATE_UP) return !m->experts;
    if (w >= WT_ROUTER && w <= WT_EXPERT_DOWN_BIAS) return m->experts && (!plan_weight_is_bias(w) || m->moe_bias);
    if (w >= WT_SHARED_GATE && w <= WT_SHARED_DOWN) return m->shared_expert_ffn != 0;
    if (w == WT_SINKS) return l->layer[i].sinks;
    if (plan_weight_is_bias(w)) return m->qkv_bias;
    if (w == WT_Q_NORM || w == WT_K_NORM) return m->qk_norm;
    if (w == WT_NORM_ATTN_OUT || w == WT_NORM_MLP_OUT) return m->sandwich_norms;
    return w != WT_NONE && w != WT_EMBED && w != WT_NORM_FINAL && w != WT_LM_HEAD && w < WT_COUNT;
}

const char *weight_ref_name(WeightRef w) {
    static const char *const names[WT_COUNT] = {
        [WT_NONE] = "", [WT_EMBED] = "embed", [WT_NORM_IN] = "norm_in", [WT_Q] = "wq", [WT_K] = "wk",
        [WT_V] = "wv", [WT_O] = "wo", [WT_NORM_POST] = "norm_post", [WT_GATE] = "w_gate", [WT_UP] = "w_up",
        [WT_DOWN] = "w_down", [WT_NORM_FINAL] = "norm_final", [WT_LM_HEAD] = "lm_head", [WT_Q_BIAS] = "bq",
        [WT_K_BIAS] = "bk", [WT_V_BIAS] = "bv", [WT_Q_NORM] = "q_norm", [WT_K_NORM] = "k_norm",
        [WT_NORM_ATTN_OUT] = "norm_attn_out", [WT_NORM_MLP_OUT] = "norm_mlp_out", [WT_O_BIAS] = "bo",
        [WT_ROUTER] = "router", [WT_ROUTER_BIAS] = "router_bias", [WT_EXPERT_GATE] = "experts_gate",
        [WT_EXPERT_GATE_BIAS] = "experts_gate_bias", [WT_EXPERT_UP] = "experts_up",
        [WT_EXPERT_UP_BIAS] = "experts_up_bias", [WT_EXPERT_DOWN] = "experts_down",
        [WT_EXPERT_DOWN_BIAS] = "experts_down_bias", [WT_SHARED_GATE] = "shared_gate",
        [WT_SHARED_UP] = "shared_up", [WT_SHARED_DOWN] = "shared_down",
        [WT_SINKS] = "sinks", [WT_QKV] = "wqkv", [WT_QKV_BIAS] = "bqkv", [WT_GATE_UP] = "w_gate_up",
    };
    return (unsigned)w < WT_COUNT ? names[w] : "?";
}

int plan_fused_parts(WeightRef w, WeightRef parts[3]) {
    static const WeightRef qkv[3] = {WT_Q, WT_K, WT_V}, bias[3] = {WT_Q_BIAS, WT_K_BIAS, WT_V_BIAS},
                           gate_up[3] = {WT_GATE, WT_UP, WT_NONE};
    const WeightRef *p = w == WT_QKV ? qkv : w == WT_QKV_BIAS ? bias : w == WT_GATE_UP ? gate_up : NULL;
    if (!p) return 0;
    memcpy(parts, p, sizeof qkv);
    return w == WT_GATE_UP ? 2 : 3;
}

WeightRef plan_fused_slot(const Layout *l, int i, WeightRef w, bool fused) {
    const bool owner = l->layer[i].reads == i, dense = !model_layer_moe(&l->model, i);   /* its MLP dense */
    if (!fused) return w;
    if (owner && (w == WT_Q || w == WT_Q_BIAS)) return w == WT_Q ? WT_QKV : WT_QKV_BIAS;
    if (owner && (w == WT_K || w == WT_V || w == WT_K_BIAS || w == WT_V_BIAS)) return WT_NONE;
    if (dense && (w == WT_GATE || w == WT_UP)) return w == WT_GATE ? WT_GATE_UP : WT_NONE;
    return w;
}
