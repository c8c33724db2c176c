/* foundry.c — llm-foundry (MosaicML's MPT, where MixAttention was trained) model configs: `mixc
 * export --foundry` writes a layout as the `model:` section of a training YAML, its layers as
 * `block_overrides` (`order` with nested `order`/`repeat`, named `overrides` setting
 * `attn_config.sliding_window_size` and a relative `attn_config.reuse_kv_layer_idx`), and `mixc
 * import --foundry` reads it back (yaml_subset.c). Each override is one (window, reuse distance) pair.
 * What an MPT config cannot say (docs/interop.md, "llm-foundry") is refused by name. */
#include "interop.h"
#include "yaml_subset.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ export */

/* The header fields an MPT model config has no field for (MPT computes Llama's decoder here: RMSNorm,
 * a SiLU GLU, RoPE, no biases): each set one is named in err. false when any is. */
static bool foundry_expressible(const Layout *l, FILE *err) {
    const ModelHeader *m = &l->model;
    bool own_rope = false, chunked = false, sinks = false;
    for (int i = 0; i < l->nlayers; i++) {
        own_rope |= l->layer[i].rope.nope || l->layer[i].rope.theta;
        chunked |= l->layer[i].chunked != 0, sinks |= l->layer[i].sinks;
    }
    const struct {
        bool set;
        const char *what;
    } refused[] = {
        {m->head_dim * m->heads != m->hidden, "'head_dim' other than hidden / heads"},
        {m->qkv_bias || m->o_bias, "'qkv_bias' and 'o_bias' (MPT's no_bias: false biases every projection)"},
        {m->rope_scaling.type != ROPE_PLAIN, "'rope_scaling'"},
        {own_rope, "an attention kind's own RoPE ('rope_theta' or 'nope' on a kind)"},
        {m->activation == ACT_GELU_TANH, "'activation' gelu_tanh"},
        {m->activation == ACT_CLAMPED_SWIGLU, "'activation' clamped_swiglu"},
        {m->norm != NORM_RMS, "'norm' rms_plus_one"},
        {m->qk_norm, "'qk_norm'"},
        {m->rope_interleaved, "'rope_interleaved'"},
        {m->qk_l2_norm, "'qk_l2_norm'"},
        {m->nope_temperature_floor != 0, "'nope_temperature_floor'"},
        {m->sandwich_norms, "'sandwich_norms'"},
        {m->embed_scale, "'embed_scale'"},
        {m->attn_softcap != 0, "'attn_softcap'"},
        {m->logit_softcap != 0, "'logit_softcap'"},
        {m->query_pre_attn_scalar != 0 && m->query_pre_attn_scalar != m->head_dim, "'query_pre_attn_scalar'"},
        {dtype_quantized(m->kv_dtype), "an 8-bit 'kv_dtype' (export with --set kv_dtype=bf16)"},
        {m->experts != 0, "'experts' (mixc's mixture of experts; MPT's MoE FFNs compute others)"},
        {chunked, "chunked attention (a 'chunked C' kind)"},
        {sinks, "attention sinks (a kind with 'sinks')"},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (refused[i].set) {
            fprintf(err, "mixc: an llm-foundry MPT config cannot say %s\n", refused[i].what);
            ok = false;
        }
    return ok;
}

/* An override's name: its window and reuse distance ("default" for a global owner). */
static void override_name(const LayerInfo *li, char *buf, size_t n) {
    int back = li->index - li->reads;
    if (!li->window && !back) snprintf(buf, n, "default");
    else if (!back) snprintf(buf, n, "window_%lld", (long long)li->window);
    else if (!li->window) snprintf(buf, n, "global_reuse_%d", back);
    else snprintf(buf, n, "window_%lld_reuse_%d", (long long)li->window, back);
}

/* Writes tokens[0, n) (override indices) as `order` items at `indent`: the longest repetition of a
 * period up to 64 at each point as a `repeat` (an item with its own `order` when the period is
 * longer than one), else a single `name`. */
static void write_order(Buf *b, const int *tok, int n, int indent, char (*names)[48]) {
    for (int at = 0; at < n;) {
        int best_p = 1, best_k = 1;
        for (int p = 1; p <= 64 && at + 2 * p <= n; p++) {
            int k = 1;
            while (at + (k + 1) * p <= n && !memcmp(tok + at, tok + at + k * p, (size_t)p * sizeof *tok)) k++;
            if (k > 1 && (int64_t)k * p > (int64_t)best_k * best_p) best_p = p, best_k = k;
        }
        if (best_p == 1) {
            buf_printf(b, "%*s- name: %s\n", indent, "", names[tok[at]]);
            if (best_k > 1) buf_printf(b, "%*s  repeat: %d\n", indent, "", best_k);
        } else {
            buf_printf(b, "%*s- repeat: %d\n%*s  order:\n", indent, "", best_k, indent, "");
            write_order(b, tok + at, best_p, indent + 4, names);
        }
        at += best_p * best_k;
    }
}

static void write_overrides(Buf *b, const Layout *l, int noverrides, char (*names)[48], const int *first) {
    buf_puts(b, "    overrides:\n");
    for (int k = 0; k < noverrides; k++) {
        const LayerInfo *li = &l->layer[first[k]];
        if (!strcmp(names[k], "default")) continue;   /* reserved: no override */
        buf_printf(b, "      %s:\n        attn_config:\n", names[k]);
        if (li->window) buf_printf(b, "          sliding_window_size: %lld\n", (long long)li->window);
        if (li->reads != li->index) buf_printf(b, "          reuse_kv_layer_idx: %d\n", li->reads - li->index);
    }
}

/* A real in the fewest digits that read back to it. */
static const char *real_text(double v, char *buf, size_t n) {
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

static void write_header(Buf *b, const ModelHeader *m) {
    char eps[32], theta[32];
    buf_printf(b, "model:\n  name: mpt_causal_lm\n  d_model: %lld\n  n_heads: %lld\n  n_layers: %lld\n"
                  "  max_seq_len: %lld\n  vocab_size: %lld\n  no_bias: true\n  norm_type: rmsnorm\n"
                  "  norm_eps: %s\n  tie_word_embeddings: %s\n",
               (long long)m->hidden, (long long)m->heads, (long long)m->layers, (long long)m->context,
               (long long)m->vocab, real_text(m->norm_eps, eps, sizeof eps), m->tie_embeddings ? "true" : "false");
    buf_printf(b, "  attn_config:\n    attn_type: grouped_query_attention\n    kv_n_heads: %lld\n    rope: true\n"
                  "    rope_impl: dail\n    rope_theta: %s\n",
               (long long)m->kv_heads, real_text(m->rope_theta, theta, sizeof theta));
    buf_printf(b, "  ffn_config:\n    ffn_type: mptglu\n    ffn_act_fn:\n      name: silu\n    ffn_hidden_size: %lld\n",
               (long long)m->ffn);
}

int export_foundry(const Layout *l, Buf *out, FILE *err) {
    if (!foundry_expressible(l, err)) return 1;
    char (*names)[48] = xcalloc((size_t)l->nlayers + 1, sizeof *names);
    int *tok = xcalloc((size_t)l->nlayers + 1, sizeof *tok), *first = xcalloc((size_t)l->nlayers + 1, sizeof *first);
    int n = 0;
    for (int i = 0; i < l->nlayers; i++) {
        char name[48];
        override_name(&l->layer[i], name, sizeof name);
        int k = 0;
        while (k < n && strcmp(names[k], name)) k++;
        if (k == n) memcpy(names[n], name, sizeof name), first[n++] = i;
        tok[i] = k;
    }
    buf_printf(out, "# llm-foundry model config written by `mixc export --foundry` (mixc import --foundry reads it "
                    "back):\n# the layers as block_overrides; precision and the rest of the training config are "
                    "yours to add.\n");
    write_header(out, &l->model);
    if (n > 1 || strcmp(names[0], "default")) {   /* every layer global and owning: no overrides at all */
        buf_puts(out, "  block_overrides:\n    order:\n");
        write_order(out, tok, l->nlayers, 4, names);
        write_overrides(out, l, n, names, first);
    }
    free(names);
    free(tok);
    free(first);
    return 0;
}

/* ------------------------------------------------------------------ import */

typedef struct {
    const char *path;
    json_t *lines;
    FILE *err;
    int errors;
} FoundryReader;

/* "mixc: FILE:LINE: 'key' what", the line of `key` (a path into the YAML) when known. */
static void ferr(FoundryReader *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ferr(FoundryReader *r, const char *key, const char *fmt, ...) {
    json_t *line = json_object_get(r->lines, key);
    fprintf(r->err, "mixc: %s:%lld: '%s' ", r->path, line ? (long long)json_integer_value(line) : 1LL, key);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->err, fmt, ap);
    va_end(ap);
    fputc('\n', r->err);
    r->errors++;
}

/* get_int's default of a member that must be given. */
#define REQUIRED INT64_MIN

/* An integer member in [lo, hi] (dflt when absent, or REQUIRED). */
static int64_t get_int(FoundryReader *r, json_t *o, const char *path, const char *key, int64_t dflt, int64_t lo,
                       int64_t hi) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", path, key);
    json_t *v = json_object_get(o, key);
    if (!v && dflt != REQUIRED) return dflt;
    if (!v) return ferr(r, full, "is missing"), lo;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return ferr(r, full, "must be an integer in [%lld, %lld]", (long long)lo, (long long)hi), lo;
    return json_integer_value(v);
}

static double get_real(FoundryReader *r, json_t *o, const char *path, const char *key, double dflt) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", path, key);
    json_t *v = json_object_get(o, key);
    if (!v) return dflt;
    if (!json_is_number(v) || !real_value_ok(json_number_value(v))) return ferr(r, full, "must be a positive number"), dflt;
    return json_number_value(v);
}

/* A member that must be absent or equal `want` (a JSON text); `dflt` is the text MPT assumes when it is
 * absent (NULL: absent is fine). `why` says what another value computes. */
static void need_value(FoundryReader *r, json_t *o, const char *path, const char *key, const char *want,
                       const char *dflt, const char *why) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", path, key);
    json_t *v = json_object_get(o, key), *w = json_loads(want, JSON_DECODE_ANY, NULL);
    if (v ? !json_equal(v, w) : dflt != NULL)
        ferr(r, full, "%s %s is not what mixc computes (%s; mixc needs %s)", v ? "value" : "default",
             v ? "given" : dflt, why, want);
    json_decref(w);
}

/* Every member of o must be one of the names in `known` (NULL-terminated). */
static void known_keys(FoundryReader *r, json_t *o, const char *path, const char *const *known) {
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++) ok = !strcmp(*k, key);
        char full[160];
        snprintf(full, sizeof full, "%s.%s", path, key);
        if (!ok) ferr(r, full, "is not read by mixc import --foundry (it may change the computation)");
    }
}

static json_t *member_object(FoundryReader *r, json_t *o, const char *path, const char *key) {
    json_t *v = json_object_get(o, key);
    char full[160];
    snprintf(full, sizeof full, "%s.%s", path, key);
    if (v && !json_is_object(v)) ferr(r, full, "must be a mapping");
    return json_is_object(v) ? v : NULL;
}

static const char *const model_keys[] = {
    "name", "d_model", "n_heads", "n_layers", "max_seq_len", "vocab_size", "no_bias", "norm_type", "norm_eps",
    "tie_word_embeddings", "expansion_ratio", "attn_config", "ffn_config", "block_overrides", "learned_pos_emb",
    "init_device", "init_config", "resid_pdrop", "emb_pdrop", "embedding_fraction", "use_cache", "fc_type",
    "logit_scale", NULL};
static const char *const attn_keys[] = {
    "attn_type", "kv_n_heads", "rope", "rope_impl", "rope_theta", "sliding_window_size", "attn_impl", "attn_pdrop",
    "clip_qkv", "qk_ln", "qk_gn", "softmax_scale", "alibi", "attn_uses_sequence_id", NULL};
static const char *const ffn_keys[] = {"ffn_type", "ffn_act_fn", "ffn_hidden_size", NULL};

/* The MPT model header: what differs from mixc's decoder is refused by name. */
static void read_header(FoundryReader *r, json_t *model, ModelHeader *m, int64_t *window) {
    known_keys(r, model, "model", model_keys);
    need_value(r, model, "model", "name", "\"mpt_causal_lm\"", NULL, "another model class");
    need_value(r, model, "model", "no_bias", "true", "false", "MPT's biases on every projection and norm");
    need_value(r, model, "model", "norm_type", "\"rmsnorm\"", "\"low_precision_layernorm\"", "a LayerNorm");
    need_value(r, model, "model", "learned_pos_emb", "false", NULL, "learned positions");
    need_value(r, model, "model", "logit_scale", "null", NULL, "scaled logits");
    m->hidden = get_int(r, model, "model", "d_model", REQUIRED, 1, MIXC_MAX_VALUE);
    m->heads = get_int(r, model, "model", "n_heads", REQUIRED, 1, MIXC_MAX_VALUE);
    m->layers = get_int(r, model, "model", "n_layers", REQUIRED, 1, MIXC_MAX_LAYERS);
    m->context = get_int(r, model, "model", "max_seq_len", 2048, 1, MIXC_MAX_VALUE);
    m->vocab = get_int(r, model, "model", "vocab_size", 50368, 1, MIXC_MAX_VALUE);
    m->norm_eps = get_real(r, model, "model", "norm_eps", 1e-5);
    json_t *tie = json_object_get(model, "tie_word_embeddings");
    m->tie_embeddings = !tie || json_is_true(tie);
    m->head_dim = m->heads ? m->hidden / m->heads : 0;
    if (m->heads && m->hidden % m->heads) ferr(r, "model.d_model", "is not a multiple of n_heads");
    m->chunk = m->context < 512 ? m->context : 512;

    json_t *attn = member_object(r, model, "model", "attn_config"), *none = json_object();
    if (!attn) attn = none;
    known_keys(r, attn, "model.attn_config", attn_keys);
    need_value(r, attn, "model.attn_config", "rope", "true", "false", "no positions, or learned ones");
    for (const char *const *k = (const char *const[]){"qk_ln", "qk_gn", "alibi", NULL}; *k; k++)
        need_value(r, attn, "model.attn_config", *k, "false", NULL, "another attention");
    for (const char *const *k = (const char *const[]){"clip_qkv", "softmax_scale", NULL}; *k; k++)
        need_value(r, attn, "model.attn_config", *k, "null", NULL, "another attention");
    json_t *type = json_object_get(attn, "attn_type");
    const char *t = json_is_string(type) ? json_string_value(type) : "multihead_attention";
    m->kv_heads = !strcmp(t, "grouped_query_attention") ? get_int(r, attn, "model.attn_config", "kv_n_heads", REQUIRED, 1, MIXC_MAX_VALUE)
                  : !strcmp(t, "multiquery_attention") ? 1 : m->heads;
    if (strcmp(t, "grouped_query_attention") && strcmp(t, "multiquery_attention") && strcmp(t, "multihead_attention"))
        ferr(r, "model.attn_config.attn_type", "'%s' is not an attention mixc computes", t);
    m->rope_theta = get_real(r, attn, "model.attn_config", "rope_theta", 10000);
    *window = get_int(r, attn, "model.attn_config", "sliding_window_size", -1, -1, MIXC_MAX_VALUE);
    if (!*window) ferr(r, "model.attn_config.sliding_window_size", "0 is no window (-1 is none)");

    json_t *ffn = member_object(r, model, "model", "ffn_config");
    if (!ffn) ffn = none;
    known_keys(r, ffn, "model.ffn_config", ffn_keys);
    need_value(r, ffn, "model.ffn_config", "ffn_type", "\"mptglu\"", "\"mptmlp\"", "another MLP");
    need_value(r, ffn, "model.ffn_config", "ffn_act_fn", "{\"name\": \"silu\"}", "GELU", "another activation");
    /* MPT's ffn_hidden_size when absent: expansion_ratio x d_model, which a huge d_model takes past
     * int64 (its conversion was undefined: fuzz_foundry): past MIXC_MAX_VALUE it is refused instead. */
    double width = get_real(r, model, "model", "expansion_ratio", 4) * (double)m->hidden;
    if (!(width < (double)MIXC_MAX_VALUE)) {
        if (!json_object_get(ffn, "ffn_hidden_size"))
            ferr(r, "model.expansion_ratio", "times d_model makes an MLP width of %g, past %lld", width,
                 (long long)MIXC_MAX_VALUE);
        width = 1;
    }
    m->ffn = get_int(r, ffn, "model.ffn_config", "ffn_hidden_size", (int64_t)width, 1, MIXC_MAX_VALUE);
    json_decref(none);
}

/* Appends the layer names of `order` (items: `name` or a nested `order`, each with an optional
 * `repeat`, as llm-foundry expands them) to names[0, *n) up to `max`. */
static void expand_order(FoundryReader *r, json_t *order, const char *path, const char **names, int *n, int max,
                         int depth) {
    if (!json_is_array(order) || depth > 32) {
        ferr(r, path, depth > 32 ? "nests deeper than 32" : "must be a sequence");
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(order, i, item) {
        char sub[200];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        json_t *name = json_object_get(item, "name"), *inner = json_object_get(item, "order");
        if (!json_is_object(item) || !name == !inner || (name && !json_is_string(name))) {
            ferr(r, sub, "must hold either 'name' (a string) or 'order'");
            return;
        }
        snprintf(sub + strlen(sub), sizeof sub - strlen(sub), ".repeat");
        json_t *rep = json_object_get(item, "repeat");
        int64_t times = rep ? (json_is_integer(rep) ? json_integer_value(rep) : -1) : 1;
        if (times < 0 || times > max) return ferr(r, sub, "must be an integer in [0, %d]", max);
        sub[strlen(sub) - strlen(".repeat")] = 0;
        strcat(sub, ".order");
        for (int64_t k = 0; k < times && !r->errors; k++) {
            int before = *n;
            if (name && *n >= max) return ferr(r, path, "gives more layers than n_layers (%d)", max);
            if (name) names[(*n)++] = json_string_value(name);
            else expand_order(r, inner, sub, names, n, max, depth + 1);
            if (*n == before) break;   /* an empty order: repeating it adds nothing */
        }
    }
}

/* Layer i's window and owner from its override (or `default`: the model's attn_config). */
static void read_layer(FoundryReader *r, json_t *overrides, const char *name, int i, int64_t window, int64_t *win,
                       int *reads) {
    *win = window > 0 ? window : 0;
    reads[i] = i;
    if (!strcmp(name, "default")) return;
    char path[200];
    snprintf(path, sizeof path, "model.block_overrides.overrides.%s", name);
    json_t *o = json_object_get(overrides, name), *attn = json_object_get(o, "attn_config");
    if (!json_is_object(o)) return ferr(r, "model.block_overrides.order", "names '%s', which overrides does not define", name);
    known_keys(r, o, path, (const char *const[]){"attn_config", NULL});
    strcat(path, ".attn_config");
    if (!json_is_object(attn)) return;
    known_keys(r, attn, path, (const char *const[]){"sliding_window_size", "reuse_kv_layer_idx", NULL});
    int64_t w = get_int(r, attn, path, "sliding_window_size", window, -1, MIXC_MAX_VALUE);
    *win = w > 0 ? w : 0;
    int64_t back = get_int(r, attn, path, "reuse_kv_layer_idx", 0, -MIXC_MAX_LAYERS, -1);
    if (back && i + back < 0) return ferr(r, path, "reuse_kv_layer_idx %lld of layer %d reads before layer 0", (long long)back, i);
    reads[i] = reads[i + back];   /* a reader of a reader reads its owner (llm-foundry shares the same tensors) */
}

static void read_layers(FoundryReader *r, json_t *model, int64_t window, int n, int64_t *win, int *reads) {
    json_t *bo = member_object(r, model, "model", "block_overrides");
    const char **names = xcalloc((size_t)n + 1, sizeof *names);
    int got = 0;
    if (bo) {
        known_keys(r, bo, "model.block_overrides", (const char *const[]){"order", "overrides", NULL});
        expand_order(r, json_object_get(bo, "order"), "model.block_overrides.order", names, &got, n, 0);
        if (!r->errors && got != n)
            ferr(r, "model.block_overrides.order", "gives %d layers but n_layers is %d", got, n);
    }
    for (int i = 0; i < n && !r->errors; i++)
        read_layer(r, json_object_get(bo, "overrides"), bo ? names[i] : "default", i, window, &win[i], reads);
    free(names);
}

int import_foundry_file(const char *path, const char *name, Layout *out, FILE *err) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return fprintf(err, "mixc import: cannot read '%s': %s\n", path, strerror(errno)), 2;
    int rc = import_foundry_text(path, text, len, name, out, err);
    free(text);
    return rc;
}

int import_foundry_text(const char *path, const char *text, size_t len, const char *name, Layout *out, FILE *err) {
    const char *nul = memchr(text, '\0', len);
    if (nul) return fprintf(err, "mixc: %s: a NUL byte at offset %zu: not a YAML text\n", path, (size_t)(nul - text)), 1;
    char msg[400];
    json_t *lines = NULL, *root = yaml_subset_read(path, text, &lines, msg, sizeof msg);
    if (!root) return fprintf(err, "mixc: %s\n", msg), 1;
    FoundryReader r = {path, lines, err, 0};
    json_t *model = json_object_get(root, "model");
    ModelHeader m;
    model_header_defaults(&m);
    int64_t window = -1, *win = NULL;
    int *reads = NULL;
    if (!json_is_object(model)) ferr(&r, "model", "is missing or not a mapping (the model config of an llm-foundry YAML)");
    else read_header(&r, model, &m, &window);
    m.kv_dtype = m.dtype;
    if (!r.errors && m.heads % m.kv_heads) ferr(&r, "model.attn_config.kv_n_heads", "does not divide n_heads");
    if (!r.errors) {
        win = xcalloc((size_t)m.layers + 1, sizeof *win);
        reads = xcalloc((size_t)m.layers + 1, sizeof *reads);
        read_layers(&r, model, window, (int)m.layers, win, reads);
    }
    if (!r.errors) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        m.name = xstrdup(name ? name : base);
        char *dot = strrchr(m.name, '.');
        if (!name && dot && dot != m.name) *dot = 0;
        layout_from_arrays(out, &m, (int)m.layers, win, NULL, reads);
    }
    free(win);
    free(reads);
    json_decref(root);
    json_decref(lines);
    return r.errors ? 1 : 0;
}
