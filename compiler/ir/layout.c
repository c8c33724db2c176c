/* layout.c — the normalized layout (mixc.h's Layout): how it is built from per-layer windows and
 * reads, its invariants, its text forms (mixc check, --dump=graph), its JSON form and its release.
 * The checker (front/check.c), the importers (interop/) and the planner build layouts through
 * layout_from_arrays or layout_build_caches; every view prints attentions with attn_text. */
#include "mixc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ building */

const char *attn_text(int64_t window, int64_t chunked, char buf[ATTN_TEXT_MAX]) {
    if (chunked > 0)
        snprintf(buf, ATTN_TEXT_MAX, "chunked %lld", (long long)chunked);
    else if (window == 0)
        snprintf(buf, ATTN_TEXT_MAX, "global");
    else
        snprintf(buf, ATTN_TEXT_MAX, "window %lld", (long long)window);
    return buf;
}

int64_t layer_history(const LayerInfo *li) {
    return li->chunked > 0 ? li->chunked : li->window;
}

/* The retention a cache needs for one more user of history h (0: unbounded). */
static int64_t widen_retention(int64_t retention, int64_t h) {
    return retention != 0 && (h == 0 || h > retention) ? h : retention;
}

void layout_build_caches(Layout *l) {
    int n = l->nlayers;
    l->ncaches = 0;
    for (int i = 0; i < n; i++)
        if (l->layer[i].reads == i) l->layer[i].cache = l->ncaches++;
    l->cache = xcalloc((size_t)l->ncaches + 1, sizeof(CacheInfo));
    int *count = xcalloc((size_t)l->ncaches + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        LayerInfo *li = &l->layer[i];
        li->cache = l->layer[li->reads].cache;
        if (li->reads != i) count[li->cache]++;
    }
    for (int i = 0; i < n; i++) {
        LayerInfo *li = &l->layer[i];
        CacheInfo *ci = &l->cache[li->cache];
        if (li->reads == i) {
            ci->id = li->cache;
            ci->owner = i;
            ci->readers = xcalloc((size_t)count[li->cache] + 1, sizeof(int));
            ci->retention = layer_history(li);
        } else {
            ci->readers[ci->nreaders++] = i;
            ci->retention = widen_retention(ci->retention, layer_history(li));
        }
    }
    free(count);
}

void layout_from_arrays(Layout *l, const ModelHeader *header, int nlayers, const int64_t *window,
                        const int64_t *chunked, const int *reads) {
    memset(l, 0, sizeof *l);
    l->model = *header;
    l->nlayers = nlayers;
    l->layer = xcalloc((size_t)nlayers + 1, sizeof(LayerInfo));
    for (int i = 0; i < nlayers; i++) {
        l->layer[i].index = i;
        l->layer[i].window = window[i];
        l->layer[i].chunked = chunked ? chunked[i] : 0;
        l->layer[i].reads = reads[i];
    }
    layout_build_caches(l);
}

bool model_layer_moe(const ModelHeader *m, int64_t i) {
    return m->experts && (m->moe_step <= 1 || (i + 1) % m->moe_step == 0);
}

int64_t model_moe_layer_count(const ModelHeader *m) {
    return !m->experts ? 0 : m->moe_step <= 1 ? m->layers : m->layers / m->moe_step;
}

int64_t model_first_moe_layer(const ModelHeader *m) {
    return !m->experts ? -1 : m->moe_step > 1 ? m->moe_step - 1 : 0;
}

ModelHeader layer_model(const Layout *l, int i) {
    ModelHeader m = l->model;
    if (i >= 0 && i < l->nlayers) {
        if (l->layer[i].kv_heads) m.kv_heads = l->layer[i].kv_heads;
        if (l->layer[i].head_dim) m.head_dim = l->layer[i].head_dim;
        if (m.experts && !model_layer_moe(&m, i)) {   /* a dense layer between the experts' */
            m.ffn = m.dense_ffn;
            m.experts = m.experts_per_token = m.shared_expert_ffn = 0;
            m.router = ROUTER_TOPK_SOFTMAX, m.moe_bias = false;
        }
    }
    return m;
}

int layout_first_own_shape(const Layout *l) {
    for (int i = 0; i < l->nlayers; i++) {
        ModelHeader m = layer_model(l, i);
        if (m.kv_heads != l->model.kv_heads || m.head_dim != l->model.head_dim) return i;
    }
    return -1;
}

int pipeline_stage_end(int nlayers, int pp, int stage) {
    int base = nlayers / pp, extra = nlayers % pp;   /* stages pp-1-extra .. pp-2 take one more */
    int longer = stage - (pp - 1 - extra) + 1;
    return (stage + 1) * base + (longer < 0 ? 0 : longer > extra ? extra : longer);
}

/* A binary search: a layout may have 100,000 layers and as many stages. */
int pipeline_stage_of(int nlayers, int pp, int layer) {
    int lo = 0, hi = pp - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (layer < pipeline_stage_end(nlayers, pp, mid)) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

bool pipeline_stages_fit(const Layout *l, int64_t pp, char *err, size_t errlen) {
    if (pp <= l->nlayers) return true;
    snprintf(err, errlen, "--pp %lld exceeds the %d layers", (long long)pp, l->nlayers);
    return false;
}

void layout_widest_rows(const Layout *l, int64_t *kv_row, int64_t *q_row) {
    *kv_row = l->model.kv_heads * l->model.head_dim, *q_row = l->model.heads * l->model.head_dim;
    for (int i = 0; i < l->nlayers; i++) {
        ModelHeader m = layer_model(l, i);   /* the checker bounds each product below 2^62 */
        if (m.kv_heads * m.head_dim > *kv_row) *kv_row = m.kv_heads * m.head_dim;
        if (m.heads * m.head_dim > *q_row) *q_row = m.heads * m.head_dim;
    }
}

void layout_free(Layout *l) {
    if (!l) return;
    for (int k = 0; k < l->ncaches; k++) free(l->cache[k].readers);
    for (int i = 0; i < l->nlayers; i++) free((char *)l->layer[i].kind_name);
    free(l->cache);
    free(l->layer);
    free(l->model.name);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------------ invariants */

#define FAIL(...) do { fprintf(err, "mixc: internal error: layout invariant violated: " __VA_ARGS__); fputc('\n', err); return false; } while (0)

static bool verify_layers(const Layout *l, FILE *err) {
    if (l->nlayers != l->model.layers) FAIL("%d layers but the header says %lld", l->nlayers, (long long)l->model.layers);
    int owners = 0;
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        if (li->index != i) FAIL("layer %d has index %d", i, li->index);
        if (li->window < 0) FAIL("layer %d has window %lld", i, (long long)li->window);
        if (li->chunked < 0 || (li->chunked && li->window))
            FAIL("layer %d has chunked %lld with window %lld", i, (long long)li->chunked, (long long)li->window);
        if (li->reads < 0 || li->reads > i) FAIL("layer %d reads layer %d", i, li->reads);
        if (l->layer[li->reads].reads != li->reads) FAIL("layer %d reads layer %d, which is not an owner", i, li->reads);
        if (li->cache < 0 || li->cache >= l->ncaches) FAIL("layer %d has cache %d", i, li->cache);
        if (l->cache[li->cache].owner != li->reads) FAIL("layer %d's cache %d is owned by %d", i, li->cache, l->cache[li->cache].owner);
        if (li->reads == i) {
            if (li->cache != owners) FAIL("cache ids are not in owner order at layer %d", i);
            owners++;
        }
    }
    if (owners != l->ncaches) FAIL("%d owners but %d caches", owners, l->ncaches);
    return true;
}

static bool verify_caches(const Layout *l, FILE *err) {
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        int64_t ret = layer_history(&l->layer[ci->owner]);
        for (int r = 0; r < ci->nreaders; r++) {
            int x = ci->readers[r];
            if (l->layer[x].cache != k || x == ci->owner) FAIL("cache %d lists reader %d wrongly", k, x);
            if (r && ci->readers[r - 1] >= x) FAIL("cache %d readers are not ascending", k);
            ret = widen_retention(ret, layer_history(&l->layer[x]));
        }
        if (ret != ci->retention) FAIL("cache %d retention %lld, expected %lld", k, (long long)ci->retention, (long long)ret);
    }
    return true;
}
#undef FAIL

bool verify_layout(const Layout *l, FILE *err) {
    return verify_layers(l, err) && verify_caches(l, err);
}

/* ------------------------------------------------------------------ text */

const char *activation_name(Activation a) {
    static const char *const names[ACT_COUNT] = {"silu", "gelu_tanh", "clamped_swiglu"};
    return (unsigned)a < ACT_COUNT ? names[a] : "?";
}

const char *router_kind_name(RouterKind r) {
    static const char *const names[ROUTER_COUNT] = {"topk_softmax", "softmax_topk", "sigmoid_input"};
    return (unsigned)r < ROUTER_COUNT ? names[r] : "?";
}

const char *norm_kind_name(NormKind k) {
    static const char *const names[NORM_COUNT] = {"rms", "rms_plus_one"};
    return (unsigned)k < NORM_COUNT ? names[k] : "?";
}

float model_gated_activation(const ModelHeader *m, float g, float u) {
    switch (m->activation) {
    case ACT_GELU_TANH: return 0.5f * g * (1.0f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g))) * u;
    case ACT_CLAMPED_SWIGLU: {
        const float limit = (float)m->swiglu_limit, gc = fminf(g, limit), uc = fminf(fmaxf(u, -limit), limit);
        return gc / (1.0f + expf(-(float)m->swiglu_alpha * gc)) * (uc + 1.0f);
    }
    default: return g / (1.0f + expf(-g)) * u;
    }
}

void model_softcap_logits(const ModelHeader *m, float *logits, int64_t n) {
    const float cap = (float)m->logit_softcap;
    for (int64_t i = 0; cap && i < n; i++) logits[i] = tanhf(logits[i] / cap) * cap;
}

double model_attention_scale(const ModelHeader *m) {
    return 1.0 / sqrt(m->query_pre_attn_scalar ? m->query_pre_attn_scalar : (double)m->head_dim);
}

float model_embed_scale(const ModelHeader *m) {
    if (!m->embed_scale) return 1.0f;
    double x = sqrt((double)m->hidden);
    int bits = m->dtype == DT_BF16 ? 8 : m->dtype == DT_FP16 ? 11 : 24, e;   /* significant bits */
    double f = frexp(x, &e);
    return (float)ldexp(nearbyint(ldexp(f, bits)), e - bits);   /* to nearest, ties to even */
}

const char *model_variation_text(const ModelHeader *m, char *buf, size_t n) {
    size_t at = 0;
    buf[0] = 0;
#define ADD(...) (at += (size_t)snprintf(buf + at, at < n ? n - at : 0, "%s", at ? ", " : ""), \
                  at += (size_t)snprintf(buf + at, at < n ? n - at : 0, __VA_ARGS__))
    if (m->activation != ACT_SILU) ADD("activation %s", activation_name(m->activation));
    if (m->activation == ACT_CLAMPED_SWIGLU) ADD("swiglu_limit %g, swiglu_alpha %g", m->swiglu_limit, m->swiglu_alpha);
    if (m->norm != NORM_RMS) ADD("norm %s", norm_kind_name(m->norm));
    if (m->qk_norm) ADD("qk_norm true");
    if (m->qk_l2_norm) ADD("qk_l2_norm true");
    if (m->rope_interleaved) ADD("rope_interleaved true");
    if (m->nope_temperature_floor)
        ADD("nope_temperature_floor %lld, nope_temperature_scale %g", (long long)m->nope_temperature_floor,
            m->nope_temperature_scale);
    if (m->sandwich_norms) ADD("sandwich_norms true");
    if (m->embed_scale) ADD("embed_scale true");
    if (m->attn_softcap) ADD("attn_softcap %g", m->attn_softcap);
    if (m->logit_softcap) ADD("logit_softcap %g", m->logit_softcap);
    if (m->query_pre_attn_scalar) ADD("query_pre_attn_scalar %g", m->query_pre_attn_scalar);
    if (m->experts) ADD("experts %lld, experts_per_token %lld, router %s", (long long)m->experts,
                        (long long)m->experts_per_token, router_kind_name(m->router));
    if (m->shared_expert_ffn) ADD("shared_expert_ffn %lld", (long long)m->shared_expert_ffn);
    if (m->moe_bias) ADD("moe_bias true");
    if (m->moe_step > 1) ADD("moe_step %lld, dense_ffn %lld", (long long)m->moe_step, (long long)m->dense_ffn);
#undef ADD
    return buf;
}

const char *layer_kinds_text(const Layout *l, bool owners_only, char *buf, size_t n) {
    int count[3] = {0};   /* global, sliding, chunked */
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        if (!owners_only || li->reads == i) count[li->chunked ? 2 : li->window ? 1 : 0]++;
    }
    size_t at = (size_t)snprintf(buf, n, "%d global, %d sliding", count[0], count[1]);
    if (count[2] && at < n) snprintf(buf + at, n - at, ", %d chunked", count[2]);
    return buf;
}

void print_layout(const Layout *l, FILE *out) {
    const ModelHeader *m = &l->model;
    fprintf(out, "model \"%s\": %lld layers, hidden %lld, heads %lld, kv_heads %lld, head_dim %lld, ffn %lld, vocab %lld\n",
            m->name, (long long)m->layers, (long long)m->hidden, (long long)m->heads, (long long)m->kv_heads,
            (long long)m->head_dim, (long long)m->ffn, (long long)m->vocab);
    char scaling[256], var[256];
    rope_scaling_text(&m->rope_scaling, scaling, sizeof scaling);
    model_variation_text(m, var, sizeof var);
    fprintf(out, "dtype %s, kv_dtype %s, rope_theta %g, norm_eps %g, context %lld, chunk %lld, tie_embeddings %s%s",
            dtype_name(m->dtype), dtype_name(m->kv_dtype), m->rope_theta, m->norm_eps, (long long)m->context,
            (long long)m->chunk, m->tie_embeddings ? "true" : "false", m->qkv_bias ? ", qkv_bias true" : "");
    if (m->o_bias) fputs(", o_bias true", out);
    fprintf(out, "%s%s%s%s\n", m->rope_scaling.type != ROPE_PLAIN ? ", rope_scaling " : "",
            m->rope_scaling.type != ROPE_PLAIN ? scaling : "", *var ? ", " : "", var);
    char layers[96], caches[96];
    fprintf(out, "%d layers (%s), %d caches (%s)\n\n", l->nlayers, layer_kinds_text(l, false, layers, sizeof layers),
            l->ncaches, layer_kinds_text(l, true, caches, sizeof caches));
    fprintf(out, "layer  attention      reads  cache\n");
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        char a[ATTN_TEXT_MAX], r[64], shape[64] = "", attn[ATTN_TEXT_MAX + 136];
        rope_text(&li->rope, r, sizeof r);   /* a kind's own RoPE, sinks and shape follow its attention */
        ModelHeader lm = layer_model(l, i);
        if (li->kv_heads || li->head_dim)
            snprintf(shape, sizeof shape, " kv_heads %lld head_dim %lld", (long long)lm.kv_heads, (long long)lm.head_dim);
        snprintf(attn, sizeof attn, "%s%s%s%s%s", attn_text(li->window, li->chunked, a), *r ? " " : "", r,
                 li->sinks ? " sinks" : "", shape);
        fprintf(out, "%5d  %-13s  %5d  %5d\n", i, attn, li->reads, li->cache);
    }
}

void dump_graph(const Layout *l, FILE *out) {
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        char a[ATTN_TEXT_MAX];
        const LayerInfo *owner = &l->layer[ci->owner];
        fprintf(out, "cache %d: owner %d (%s), retention %s", k, ci->owner, attn_text(owner->window, owner->chunked, a),
                ci->retention ? "" : "unbounded");
        if (ci->retention) fprintf(out, "%lld tokens", (long long)ci->retention);
        fprintf(out, ", readers [");
        for (int r = 0; r < ci->nreaders; r++) {
            int x = ci->readers[r];
            fprintf(out, "%s%d (%s)", r ? ", " : "", x, attn_text(l->layer[x].window, l->layer[x].chunked, a));
        }
        fprintf(out, "]\n");
    }
}

/* ------------------------------------------------------------------ JSON */

static void model_json(const ModelHeader *m, JsonWriter *w) {
    jw_object_begin(w);
    jw_member_string(w, "name", m->name);
    JW_INT_MEMBERS(w, {"layers", m->layers}, {"hidden", m->hidden}, {"heads", m->heads}, {"kv_heads", m->kv_heads},
                   {"head_dim", m->head_dim}, {"ffn", m->ffn}, {"vocab", m->vocab});
    jw_member_string(w, "dtype", dtype_name(m->dtype));
    jw_member_string(w, "kv_dtype", dtype_name(m->kv_dtype));
    jw_key(w, "rope_theta");
    jw_real(w, m->rope_theta);
    jw_key(w, "norm_eps");
    jw_real(w, m->norm_eps);
    jw_member_int(w, "context", m->context);
    jw_member_int(w, "chunk", m->chunk);
    jw_member_bool(w, "tie_embeddings", m->tie_embeddings);
    if (m->qkv_bias) jw_member_bool(w, "qkv_bias", true);   /* absent: false (the schema before it) */
    if (m->o_bias) jw_member_bool(w, "o_bias", true);
    if (m->rope_scaling.type != ROPE_PLAIN) {   /* absent: plain RoPE */
        jw_key(w, "rope_scaling");
        jw_object_begin(w);
        jw_member_string(w, "type", rope_scaling_name(m->rope_scaling.type));
        for (int i = 0; i < rope_nparams; i++) {
            const RopeParam *p = &rope_params[i];
            if (!(p->takes & (1u << m->rope_scaling.type))) continue;
            double v = rope_param_get(&m->rope_scaling, p);
            jw_key(w, p->key + strlen("rope_"));
            if (p->type == ROPE_PARAM_BOOL)
                jw_bool(w, v != 0);
            else if (p->type == ROPE_PARAM_INT)
                jw_int(w, rope_param_int(&m->rope_scaling, p));
            else
                jw_real(w, v);
        }
        jw_object_end(w);
    }
    /* The same for each variation: present only when it differs from Llama's. */
    if (m->activation != ACT_SILU) jw_member_string(w, "activation", activation_name(m->activation));
    if (m->norm != NORM_RMS) jw_member_string(w, "norm", norm_kind_name(m->norm));
    if (m->qk_norm) jw_member_bool(w, "qk_norm", true);
    if (m->qk_l2_norm) jw_member_bool(w, "qk_l2_norm", true);
    if (m->rope_interleaved) jw_member_bool(w, "rope_interleaved", true);
    if (m->nope_temperature_floor) jw_key(w, "nope_temperature_floor"), jw_int(w, m->nope_temperature_floor);
    if (m->sandwich_norms) jw_member_bool(w, "sandwich_norms", true);
    if (m->embed_scale) jw_member_bool(w, "embed_scale", true);
    const struct { const char *key; double v; } reals[] = {{"attn_softcap", m->attn_softcap},
        {"logit_softcap", m->logit_softcap}, {"query_pre_attn_scalar", m->query_pre_attn_scalar},
        {"swiglu_limit", m->swiglu_limit}, {"swiglu_alpha", m->swiglu_alpha},
        {"nope_temperature_scale", m->nope_temperature_scale}};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if (reals[i].v) jw_key(w, reals[i].key), jw_real(w, reals[i].v);
    if (m->experts) {   /* absent: a dense MLP */
        JW_INT_MEMBERS(w, {"experts", m->experts}, {"experts_per_token", m->experts_per_token});
        jw_member_string(w, "router", router_kind_name(m->router));
        if (m->shared_expert_ffn) jw_member_int(w, "shared_expert_ffn", m->shared_expert_ffn);
        if (m->moe_bias) jw_member_bool(w, "moe_bias", true);
        if (m->moe_step > 1) JW_INT_MEMBERS(w, {"moe_step", m->moe_step}, {"dense_ffn", m->dense_ffn});
    }
    jw_object_end(w);
}

/* A window or a retention: null for unbounded (0). */
static void tokens_or_null(JsonWriter *w, const char *key, int64_t tokens) {
    jw_key(w, key);
    if (tokens) jw_int(w, tokens);
    else jw_null(w);
}

/* One layer's object: its index, attention ("global", "sliding" or "chunked"), window (null unless
 * sliding), chunk_size (chunked layers only), kv_heads and head_dim (a kind's own only), the layer whose cache it reads, and that cache. */
static void layer_json(JsonWriter *w, int i, const LayerInfo *li, const ModelHeader *lm) {
    jw_object_begin(w);
    jw_member_int(w, "index", i);
    jw_member_string(w, "attention", li->chunked ? "chunked" : li->window ? "sliding" : "global");
    tokens_or_null(w, "window", li->window);
    if (li->chunked) jw_member_int(w, "chunk_size", li->chunked);
    if (li->sinks) jw_member_bool(w, "sinks", true);      /* absent: none */
    if (li->rope.nope) jw_member_bool(w, "nope", true);   /* neither: the header's RoPE */
    else if (li->rope.theta) jw_key(w, "rope_theta"), jw_real(w, li->rope.theta);
    if (li->kv_heads || li->head_dim)   /* absent: the header's */
        JW_INT_MEMBERS(w, {"kv_heads", lm->kv_heads}, {"head_dim", lm->head_dim});
    jw_member_int(w, "reads", li->reads);
    jw_member_int(w, "cache", li->cache);
    jw_object_end(w);
}

static void readers_json(JsonWriter *w, const CacheInfo *ci) {
    jw_key(w, "readers");
    jw_array_begin(w);
    for (int r = 0; r < ci->nreaders; r++) jw_int(w, ci->readers[r]);
    jw_array_end(w);
}

void layout_json_members(const Layout *l, JsonWriter *w) {
    jw_key(w, "model");
    model_json(&l->model, w);
    jw_key(w, "layers");
    jw_array_begin(w);
    for (int i = 0; i < l->nlayers; i++) {
        ModelHeader lm = layer_model(l, i);
        layer_json(w, i, &l->layer[i], &lm);
    }
    jw_array_end(w);
    jw_key(w, "caches");
    jw_array_begin(w);
    for (int k = 0; k < l->ncaches; k++) {   /* id, owner, readers, retention (null: unbounded) */
        jw_object_begin(w);
        jw_member_int(w, "id", k);
        jw_member_int(w, "owner", l->cache[k].owner);
        readers_json(w, &l->cache[k]);
        tokens_or_null(w, "retention", l->cache[k].retention);
        jw_object_end(w);
    }
    jw_array_end(w);
}

bool layout_json(const Layout *l, Buf *out) {
    JsonWriter w;
    jw_init(&w, out);
    jw_object_begin(&w);
    layout_json_members(l, &w);
    jw_object_end(&w);
    buf_puts(out, "\n");
    return !w.failed;
}

const char *retention_text(const CacheInfo *ci, const char *prefix, char *buf, size_t n) {
    if (ci->retention) snprintf(buf, n, "%s%lld", prefix, (long long)ci->retention);
    else snprintf(buf, n, "unbounded");
    return buf;
}
