/* hf_import.c — a Hugging Face config.json to a Layout (`mixc import CONFIG.json`; the command is in
 * import.c).
 *
 * The config is read with jansson. Each family states its layer types in its own fields (see
 * docs/interop.md for the table and its sources); they are read into two arrays, window[] and
 * reads[], checked against each other, then turned into a Layout by layout_from_arrays. */
#include "interop.h"
#include "hf_config.h"

#include <errno.h>
#include <jansson.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The largest integer a .mix file may hold (values from 2^62 on are errors in the language). */
#define LARGEST (MIXC_MAX_VALUE - 1)

/* ------------------------------------------------------------------ messages */

typedef struct {
    const char *path;
    FILE *err;
    int errors;
    HfConfig hf;
    Buf sources;               /* which fields drove the layout, for the header comment */
    bool allow_unsupported;    /* --allow-unsupported: what mixc does not compute warns instead */
    int refused;               /* things refused (counted in errors too) */
    Buf unsupported;           /* under allow_unsupported: one "unsupported: ..." line each */
} Ctx;

static void ierror(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void iwarn(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "mixc: PATH: " and `kind` ("" or "warning: ") before the message. */
static void imessage(Ctx *c, const char *kind, const char *fmt, va_list ap) {
    fprintf(c->err, "mixc: %s: %s", c->path, kind);
    vfprintf(c->err, fmt, ap);
    fputc('\n', c->err);
}

static void ierror(Ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    imessage(c, "", fmt, ap);
    va_end(ap);
    c->errors++;
}

static void iwarn(Ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    imessage(c, "warning: ", fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ field access */

json_t *hf_field(const HfConfig *c, const char *key) {
    json_t *v = json_object_get(c->cfg, key);
    if (!v && c->root != c->cfg) v = json_object_get(c->root, key);
    if (!v && c->defaults) v = json_object_get(c->defaults, key);
    return json_is_null(v) ? NULL : v;
}

json_t *hf_given(const HfConfig *c, const char *key) {
    HfConfig file = *c;
    file.defaults = NULL;
    return hf_field(&file, key);
}

static json_t *field(Ctx *c, const char *key) {
    return hf_field(&c->hf, key);
}

/* Something the config asks for that mixc does not compute (hf_support.c): an error, or under
 * --allow-unsupported a warning and a line of the .mix's comment, so the file remembers it. */
static void refuse(void *ctx, const char *what, const char *why) {
    Ctx *c = ctx;
    if (c->allow_unsupported) {
        iwarn(c, "%s is not supported (%s); imported anyway (--allow-unsupported)", what, why);
        buf_printf(&c->unsupported, "unsupported: %s ignored (%s)\n", what, why);
        return;
    }
    ierror(c, "%s is not supported (%s)", what, why);
    c->refused++;
}

static bool has_field(Ctx *c, const char *key) {
    return field(c, key) != NULL;
}

/* An integer field in [lo, hi]; a real with an integral value is accepted. false when absent or
 * invalid (invalid is reported). */
static bool get_int(Ctx *c, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    json_t *v = field(c, key);
    if (!v) return false;
    if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) && fabs(json_real_value(v)) < 9e15)
        v = json_integer((json_int_t)json_real_value(v));   /* 1e6 written as a real */
    else
        json_incref(v);
    bool ok = json_is_integer(v);
    if (!ok) {
        ierror(c, "'%s' must be an integer", key);
    } else if (json_integer_value(v) < lo || json_integer_value(v) > hi) {
        ierror(c, "'%s' is %lld, outside %lld..%lld", key, (long long)json_integer_value(v), (long long)lo,
               (long long)hi);
        ok = false;
    } else {
        *out = json_integer_value(v);
    }
    json_decref(v);
    return ok;
}

static bool require_int(Ctx *c, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    if (has_field(c, key)) return get_int(c, key, lo, hi, out);
    ierror(c, "missing required field '%s'", key);
    return false;
}

static bool get_real(Ctx *c, json_t *v, const char *key, double *out) {
    if (!v) return false;
    if (!json_is_number(v) || !(json_number_value(v) > 0) || !isfinite(json_number_value(v))) {
        ierror(c, "'%s' must be a positive number", key);
        return false;
    }
    if (!real_value_ok(json_number_value(v))) {
        ierror(c, "'%s' is %g, outside the range mixc takes (%g to %g)", key, json_number_value(v), DBL_MIN,
               MIXC_MAX_REAL);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static bool get_bool(Ctx *c, const char *key, bool *out) {
    json_t *v = field(c, key);
    if (!v) return false;
    if (!json_is_boolean(v)) {
        ierror(c, "'%s' must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool type_is(Ctx *c, const char *const *names) {
    for (; *names; names++)
        if (strcmp(c->hf.model_type, *names) == 0) return true;
    return false;
}

/* ------------------------------------------------------------------ families */

/* sliding_window applies only with use_sliding_window (the config classes set it to None otherwise);
 * without layer_types, the sliding layers are those from max_window_layers on (Qwen2Config,
 * Qwen3Config), every layer (Qwen3MoeConfig: its attention reads sliding_window alone), or the NoPE
 * layers (SmolLM3Config). */
static const char *const WINDOW_SWITCHED[] = {"qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "smollm3", NULL};
static const char *const MAX_WINDOW_LAYERS[] = {"qwen2", "qwen2_moe", "qwen3", NULL};
static const char *const SMOLLM3[] = {"smollm3", NULL};
/* Families whose transformers classes never read layer_types (their attention reads sliding_window
 * alone), and those that never read sliding_window_pattern (only Gemma 3's and Cohere2's do). */
static const char *const TYPES_UNREAD[] = {"llama", "mistral", "mixtral", "qwen3_moe", NULL};
static const char *const PATTERN_UNREAD[] = {"llama", "mistral", "ministral", "mixtral", "smollm3", "qwen2", "qwen3",
                                             "qwen3_moe", "gemma2", "gpt_oss", "llama4", "llama4_text", NULL};
static const char *const HYMBA[] = {"hymba", NULL};
/* LlamaConfig has no window: a sliding_window field is kept in the config but never read. */
static const char *const WINDOW_UNREAD[] = {"llama", NULL};

/* ------------------------------------------------------------------ the model header */

static void read_dtype(Ctx *c, ModelHeader *m) {
    const char *key = has_field(c, "dtype") ? "dtype" : "torch_dtype";
    json_t *v = field(c, key);
    if (!v) return;
    const char *s = json_string_value(v);
    if (!s) {
        ierror(c, "'%s' must be a string", key);
    } else if (!strcmp(s, "bfloat16")) {
        m->dtype = DT_BF16;
    } else if (!strcmp(s, "float16")) {
        m->dtype = DT_FP16;
    } else if (!strcmp(s, "float32")) {
        char what[64];
        hf_describe(key, v, what, sizeof what);
        refuse(c, what, "mixc rounds the weights to bf16 or fp16: imported as bf16");
    } else {
        ierror(c, "'%s' is '%s'; mixc knows bfloat16, float16 and float32", key, s);
    }
    json_t *kv = json_object_get(c->hf.root, "mixc_kv_dtype");
    if (json_is_string(kv)) {
        const char *k = json_string_value(kv);
        for (int t = 0; t < DT_COUNT; t++)
            if (!strcmp(k, dtype_name((DType)t))) m->kv_dtype = (DType)t;
        if (m->kv_dtype == DT_COUNT) ierror(c, "'mixc_kv_dtype' is '%s'; mixc knows bf16, fp16, fp8 and int8", k);
    }
}

/* intermediate_size: one value, or one per layer (Gemma 3n) when they are all equal. */
static void read_ffn(Ctx *c, ModelHeader *m) {
    json_t *v = field(c, "intermediate_size");
    if (!json_is_array(v)) {
        require_int(c, "intermediate_size", 1, LARGEST, &m->ffn);
        return;
    }
    size_t i;
    json_t *x;
    int64_t lo = 0, hi = 0;
    json_array_foreach(v, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 1 || json_integer_value(x) > LARGEST) {
            ierror(c, "'intermediate_size' entry %zu must be an integer in 1..%lld", i, (long long)LARGEST);
            return;
        }
        int64_t f = json_integer_value(x);
        if (i == 0 || f < lo) lo = f;
        if (i == 0 || f > hi) hi = f;
    }
    if (json_array_size(v) == 0) {
        ierror(c, "'intermediate_size' is an empty list");
        return;
    }
    if (lo != hi) {
        char what[160], why[128];
        hf_describe("intermediate_size", v, what, sizeof what);
        snprintf(why, sizeof why, "sizes %lld..%lld; mixc has one ffn for every layer: imported as %lld", (long long)lo,
                 (long long)hi, (long long)hi);
        refuse(c, what, why);
    }
    m->ffn = hi;
}

/* rope_theta, or transformers 5's rope_parameters (per layer type: the global layers' base): as the
 * file gives either, else the class's default (a rope_parameters without rope_theta takes it too). */
static void read_rope(Ctx *c, ModelHeader *m) {
    for (int with_defaults = 0; with_defaults < 2 && !c->errors; with_defaults++) {
        json_t *theta = with_defaults ? field(c, "rope_theta") : hf_given(&c->hf, "rope_theta");
        json_t *rp = with_defaults ? field(c, "rope_parameters") : hf_given(&c->hf, "rope_parameters");
        if (get_real(c, theta, "rope_theta", &m->rope_theta)) return;
        json_t *full = json_is_object(rp) ? json_object_get(rp, "full_attention") : NULL;
        if (json_is_object(full)) rp = full;
        if (json_is_object(rp) &&
            get_real(c, json_object_get(rp, "rope_theta"), "rope_parameters.rope_theta", &m->rope_theta))
            return;
    }
}

static void read_header(Ctx *c, ModelHeader *m) {
    model_header_defaults(m);
    require_int(c, "num_hidden_layers", 1, MIXC_MAX_LAYERS, &m->layers);
    require_int(c, "hidden_size", 1, LARGEST, &m->hidden);
    require_int(c, "num_attention_heads", 1, LARGEST, &m->heads);
    m->kv_heads = m->heads;
    get_int(c, "num_key_value_heads", 1, LARGEST, &m->kv_heads);
    read_ffn(c, m);
    require_int(c, "vocab_size", 1, LARGEST, &m->vocab);
    if (m->heads && m->kv_heads && m->heads % m->kv_heads)
        ierror(c, "'num_attention_heads' (%lld) is not a multiple of 'num_key_value_heads' (%lld)",
               (long long)m->heads, (long long)m->kv_heads);
    if (!get_int(c, "head_dim", 1, LARGEST, &m->head_dim) && m->heads && m->hidden) {
        if (m->hidden % m->heads)
            ierror(c, "'hidden_size' (%lld) is not a multiple of 'num_attention_heads' (%lld) and there is no 'head_dim'",
                   (long long)m->hidden, (long long)m->heads);
        else
            m->head_dim = m->hidden / m->heads;
    }
    read_dtype(c, m);
    if (m->kv_dtype == DT_COUNT) m->kv_dtype = m->dtype;
    read_rope(c, m);
    if (!get_real(c, field(c, "rms_norm_eps"), "rms_norm_eps", &m->norm_eps))
        get_real(c, field(c, "layer_norm_eps"), "layer_norm_eps", &m->norm_eps);
    get_int(c, "max_position_embeddings", 1, LARGEST, &m->context);
    hf_read_rope_scaling(&c->hf, m);
    json_t *chunk = json_object_get(c->hf.root, "mixc_chunk");   /* mixc's own, from `mixc export --hf` */
    if (chunk) {
        if (json_is_integer(chunk) && json_integer_value(chunk) >= 1 && json_integer_value(chunk) <= m->context)
            m->chunk = json_integer_value(chunk);
        else
            ierror(c, "'mixc_chunk' must be an integer in 1..%lld (the context)", (long long)m->context);
    }
    if (m->chunk == 0) m->chunk = m->context < 512 ? m->context : 512;
    m->tie_embeddings = hf_default_tie(c->hf.model_type);
    static const char *const qkv_biased[] = {"qwen2", NULL};   /* Qwen2Attention: bias=True on q, k, v */
    bool mixc_bias = false;     /* what `mixc export --hf` writes for a layout with qkv_bias, o_bias */
    get_bool(c, "mixc_qkv_bias", &mixc_bias);
    m->qkv_bias = type_is(c, qkv_biased) || mixc_bias;
    get_bool(c, "mixc_o_bias", &m->o_bias);
    get_bool(c, "tie_word_embeddings", &m->tie_embeddings);
}

/* The model's name: --name, else the last part of _name_or_path, else the file's stem unless it is
 * "config", else model_type. */
static char *model_name(Ctx *c, const char *given) {
    if (given) return xstrdup(given);
    const char *s = json_string_value(json_object_get(c->hf.root, "_name_or_path"));
    if (s && *s) {
        const char *slash = strrchr(s, '/');
        if (slash && slash[1]) return xstrdup(slash + 1);
        if (!slash) return xstrdup(s);
    }
    const char *base = strrchr(c->path, '/');
    base = base ? base + 1 : c->path;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".json")) len -= 5;
    if (len && strncmp(base, "config", len) && strcmp(base, "-") && strcmp(base, "<stdin>")) {
        char *name = xmalloc(len + 1);
        memcpy(name, base, len);
        name[len] = '\0';
        return name;
    }
    return xstrdup(*c->hf.model_type ? c->hf.model_type : "imported");
}

/* ------------------------------------------------------------------ layer types */

/* The sliding_window value (0 when absent or null). */
static int64_t read_window(Ctx *c) {
    int64_t w = 0;
    get_int(c, "sliding_window", 1, LARGEST, &w);
    return w;
}

/* layer_types: true where sliding. false on error (reported). */
static bool pattern_sliding(int64_t period, int i) {
    return (i + 1) % period != 0;
}

/* Hymba's global_attn_idx: the global layers; every other one slides. */
static bool read_global_idx(Ctx *c, int n, bool *sliding) {
    json_t *v = field(c, "global_attn_idx");
    if (!json_is_array(v)) {
        ierror(c, "'global_attn_idx' must be a list of layer indices");
        return false;
    }
    for (int i = 0; i < n; i++) sliding[i] = true;
    size_t k;
    json_t *x;
    json_array_foreach(v, k, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= n) {
            ierror(c, "'global_attn_idx' entry %zu is not a layer index (0..%d)", k, n - 1);
            return false;
        }
        sliding[json_integer_value(x)] = false;
    }
    return true;
}

/* WINDOW_SWITCHED: the window when use_sliding_window is true, else 0. */
static int64_t switched_window(Ctx *c, int64_t window) {
    bool use = false;
    get_bool(c, "use_sliding_window", &use);
    if (!use) return 0;
    if (!window) ierror(c, "'use_sliding_window' is true but 'sliding_window' is null");
    return window;
}

/* layer_types (hf_attention.c): sliding[] and chunked[] of each layer; false (reported) when malformed. */
static bool read_layer_types(Ctx *c, json_t *types, int n, bool *sliding, int64_t *chunked) {
    char err[160];
    if (hf_layer_types(&c->hf, types, n, sliding, chunked, err, sizeof err)) return true;
    ierror(c, "%s", err);
    return false;
}

/* A field that `families`' transformers code never reads: warned about and ignored, as there. */
static bool unread(Ctx *c, const char *key, const char *const *families) {
    if (!has_field(c, key) || !type_is(c, families)) return false;
    iwarn(c, "'%s' is not read by transformers' %s: ignored, as it is there", key, c->hf.model_type);
    return true;
}

/* Sets window[i] (and chunked[i] for chunked layers) for every layer from whichever fields the config
 * has; returns false on error. */
static bool read_attention(Ctx *c, int n, int64_t *window, int64_t *chunked) {
    int64_t w = read_window(c), context = 0;
    if (type_is(c, WINDOW_SWITCHED)) w = switched_window(c, w);
    if (w && unread(c, "sliding_window", WINDOW_UNREAD)) {
        fprintf(c->err, "  hint: every layer is imported as global; model_type mistral attends in a window of %lld\n",
                (long long)w);
        w = 0;
    }
    if (w && get_int(c, "max_position_embeddings", 1, LARGEST, &context) && w >= context)
        iwarn(c, "'sliding_window' (%lld) is not below 'max_position_embeddings' (%lld): its layers are effectively global",
              (long long)w, (long long)context);
    bool *sliding = xcalloc((size_t)n + 1, sizeof(bool));
    bool ok = true;
    int64_t pattern = 0;
    bool have_pattern = !unread(c, "sliding_window_pattern", PATTERN_UNREAD) &&
                        get_int(c, "sliding_window_pattern", 1, LARGEST, &pattern);
    json_t *types = unread(c, "layer_types", TYPES_UNREAD) ? NULL : field(c, "layer_types");
    if (types) {
        ok = read_layer_types(c, types, n, sliding, chunked);
        buf_puts(&c->sources, "layer types from 'layer_types'");
        for (int i = 0; ok && have_pattern && i < n; i++)
            if (sliding[i] != pattern_sliding(pattern, i)) {
                ierror(c, "'layer_types' and 'sliding_window_pattern' (%lld) disagree at layer %d", (long long)pattern, i);
                ok = false;
            }
    } else if (has_field(c, "global_attn_idx") && w) {
        ok = read_global_idx(c, n, sliding);
        buf_puts(&c->sources, "global layers from 'global_attn_idx'");
    } else if (have_pattern || hf_default_pattern(c->hf.model_type)) {
        int64_t p = have_pattern ? pattern : hf_default_pattern(c->hf.model_type);
        for (int i = 0; i < n; i++) sliding[i] = pattern_sliding(p, i);
        buf_printf(&c->sources, "every %lld%s layer global (%s)", (long long)p, p == 2 ? "nd" : p == 3 ? "rd" : "th",
                   have_pattern ? "'sliding_window_pattern'" : "the family's default pattern");
    } else if (type_is(c, MAX_WINDOW_LAYERS)) {
        int64_t mwl = 28;  /* Qwen2Config's default */
        get_int(c, "max_window_layers", 0, LARGEST, &mwl);
        for (int i = 0; i < n; i++) sliding[i] = w && i >= mwl;
        if (w) buf_printf(&c->sources, "sliding from layer %lld ('max_window_layers')", (long long)mwl);
    } else if (type_is(c, SMOLLM3)) {
        for (int i = 0; i < n; i++) sliding[i] = w && hf_nope_layer(&c->hf, n, i);
        if (w) buf_puts(&c->sources, "the NoPE layers sliding ('use_sliding_window')");
    } else {
        for (int i = 0; i < n; i++) sliding[i] = w != 0;
        if (w) buf_puts(&c->sources, "every layer sliding ('sliding_window')");
    }
    for (int i = 0; ok && i < n; i++) {
        if (sliding[i] && !w) {
            ierror(c, "%s makes layer %d sliding but 'sliding_window' is %s",
                   types ? "'layer_types'" : have_pattern ? "'sliding_window_pattern'" : "the family's default pattern", i,
                   type_is(c, WINDOW_SWITCHED) && field(c, "sliding_window") ? "disabled by 'use_sliding_window'" : "null");
            ok = false;
        }
        window[i] = sliding[i] ? w : 0;
    }
    free(sliding);
    return ok;
}

/* Llama 4 without layer_types: its RoPE layers chunked (hf_attention.c), no sliding windows. */
static bool read_llama4(Ctx *c, int n, int64_t *chunked) {
    char err[160];
    if (!hf_llama4_chunked(&c->hf, n, chunked, err, sizeof err)) {
        ierror(c, "%s", err);
        return false;
    }
    bool any = false;
    for (int i = 0; i < n; i++) any |= chunked[i] != 0;
    if (any) buf_puts(&c->sources, "chunked layers ('attention_chunk_size') where 'no_rope_layers' is 1");
    return true;
}

/* mixc's own extension (written by `mixc export --hf` when windows differ): one window per layer,
 * null for global layers. */
static bool read_layer_windows(Ctx *c, int n, int64_t *window) {
    json_t *v = json_object_get(c->hf.root, "mixc_sliding_windows");
    if (!v) return true;
    if (!json_is_array(v) || (int)json_array_size(v) != n) {
        ierror(c, "'mixc_sliding_windows' must be a list of %d windows (null for global layers)", n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        int64_t w = json_is_null(x) ? 0 : json_is_integer(x) ? json_integer_value(x) : -1;
        if (w < 0 || w > LARGEST || (w == 0 && !json_is_null(x))) {
            ierror(c, "'mixc_sliding_windows' entry %d must be a positive integer or null", i);
            return false;
        }
        if ((w == 0) != (window[i] == 0)) {
            ierror(c, "'mixc_sliding_windows' entry %d says %s but 'layer_types' says %s", i,
                   w ? "sliding" : "global", window[i] ? "sliding_attention" : "full_attention");
            return false;
        }
        window[i] = w;
    }
    return true;
}

/* ------------------------------------------------------------------ KV sharing */

/* Resolves a reference to the owning layer, warning once about a chain. */
static int resolve_owner(Ctx *c, const char *key, const int *reads, int i, int target) {
    if (reads[target] != target) {
        iwarn(c, "'%s': layer %d reads layer %d, which itself reads layer %d: resolved to the owner, layer %d", key,
              i, target, reads[target], reads[target]);
        return reads[target];
    }
    return target;
}

static bool read_sharing_target(Ctx *c, json_t *v, int n, int *reads) {
    if (!json_is_array(v) || (int)json_array_size(v) != n) {
        ierror(c, "'kv_sharing_target' must be a list of %d entries (null for layers that own their cache)", n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        if (json_is_null(x)) continue;
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= n) {
            ierror(c, "'kv_sharing_target' entry %d is not null or a layer index (0..%d)", i, n - 1);
            return false;
        }
        int t = (int)json_integer_value(x);
        if (t >= i) {
            ierror(c, "'kv_sharing_target' entry %d is %d: a layer can only reuse the cache of an earlier layer", i, t);
            return false;
        }
        reads[i] = resolve_owner(c, "kv_sharing_target", reads, i, t);
    }
    buf_puts(&c->sources, "; KV sharing from 'kv_sharing_target'");
    return true;
}

/* Gemma 3n: the last N layers reuse the cache of the last earlier non-shared layer of their type. */
static bool read_kv_shared_layers(Ctx *c, int n, const int64_t *window, int *reads) {
    int64_t shared = 0;
    if (!get_int(c, "num_kv_shared_layers", 0, LARGEST, &shared)) return c->errors == 0;
    if (shared == 0) return true;
    if (shared >= n) {
        ierror(c, "'num_kv_shared_layers' is %lld but num_hidden_layers is %d: no layer would compute a cache",
               (long long)shared, n);
        return false;
    }
    int first = n - (int)shared;
    for (int i = first; i < n; i++) {
        int j = first - 1;
        while (j >= 0 && window[j] != window[i]) j--;
        if (j < 0) {
            ierror(c, "'num_kv_shared_layers' is %lld: layer %d is %s, but no layer before %d is, so it has no cache to reuse",
                   (long long)shared, i, window[i] ? "sliding" : "global", first);
            return false;
        }
        reads[i] = j;
    }
    buf_printf(&c->sources, "; layers %d..%d reuse caches ('num_kv_shared_layers' %lld)", first, n - 1,
               (long long)shared);
    return true;
}

/* Hymba: kv_reuse_group lists groups [producer, consumer, ...]. */
static bool read_reuse_groups(Ctx *c, json_t *v, int n, int *reads) {
    if (!json_is_array(v)) {
        ierror(c, "'kv_reuse_group' must be a list of layer groups");
        return false;
    }
    bool *seen = xcalloc((size_t)n + 1, sizeof(bool));
    size_t g;
    json_t *grp;
    bool ok = true;
    json_array_foreach(v, g, grp) {
        if (!json_is_array(grp) || json_array_size(grp) == 0) {
            ierror(c, "'kv_reuse_group' group %zu must be a non-empty list of layer indices", g);
            ok = false;
            break;
        }
        int producer = -1;
        size_t k;
        json_t *x;
        json_array_foreach(grp, k, x) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= n) {
                ierror(c, "'kv_reuse_group' group %zu entry %zu is not a layer index (0..%d)", g, k, n - 1);
                ok = false;
                break;
            }
            int i = (int)json_integer_value(x);
            if (seen[i]) {
                ierror(c, "'kv_reuse_group': layer %d is in two groups", i);
                ok = false;
                break;
            }
            seen[i] = true;
            if (k == 0) {
                producer = i;
            } else if (i < producer) {
                ierror(c, "'kv_reuse_group' group %zu: layer %d would reuse the cache of layer %d, which runs after it", g, i,
                       producer);
                ok = false;
                break;
            }
        }
        if (!ok) break;
    }
    /* Second pass, in layer order, so chains resolve to owners. */
    json_array_foreach(v, g, grp) {
        if (!ok) break;
        int producer = (int)json_integer_value(json_array_get(grp, 0));
        for (size_t k = 1; k < json_array_size(grp); k++) {
            int i = (int)json_integer_value(json_array_get(grp, k));
            reads[i] = producer;
        }
    }
    for (int i = 0; ok && i < n; i++) reads[i] = resolve_owner(c, "kv_reuse_group", reads, i, reads[i]);
    free(seen);
    if (ok) buf_puts(&c->sources, "; KV sharing from 'kv_reuse_group'");
    return ok;
}

static bool read_sharing(Ctx *c, int n, const int64_t *window, int *reads) {
    for (int i = 0; i < n; i++) reads[i] = i;
    json_t *target = json_object_get(c->hf.root, "kv_sharing_target");
    json_t *groups = field(c, "kv_reuse_group");
    bool shared = has_field(c, "num_kv_shared_layers");
    int64_t every = 0;
    if (type_is(c, HYMBA)) get_int(c, "kv_reuse_every_i_layer", -1, LARGEST, &every);
    int sources = (target != NULL) + (groups != NULL) + shared;
    if (sources > 1) {
        ierror(c, "more than one of 'kv_sharing_target', 'kv_reuse_group' and 'num_kv_shared_layers' is given; "
                  "mixc cannot tell which sharing is meant");
        return false;
    }
    if (target) return read_sharing_target(c, target, n, reads);
    if (groups) return read_reuse_groups(c, groups, n, reads);
    if (shared) return read_kv_shared_layers(c, n, window, reads);
    if (every > 0) {
        for (int i = 0; i < n; i++) reads[i] = i - (int)(i % every);
        buf_printf(&c->sources, "; every %lld layers share a cache ('kv_reuse_every_i_layer')", (long long)every);
    }
    return true;
}

/* ------------------------------------------------------------------ unknown fields */

/* Fields whose names suggest they shape attention or KV sharing but that mixc does not read. */
static void warn_unread(Ctx *c, json_t *obj) {
    static const char *const read[] = {
        "sliding_window", "sliding_window_pattern", "layer_types", "use_sliding_window", "max_window_layers",
        "num_kv_shared_layers", "global_attn_idx", "kv_reuse_group", "kv_reuse_every_i_layer", "kv_sharing_target",
        "mixc_sliding_windows", "kv_weight_reuse",
        "layer_type",            /* Hymba: the block kind of each layer ("h": attention + Mamba) */
        NULL};
    static const char *const hints[] = {"window", "sliding", "kv_shar", "kv_reuse", "global_attn", "local_attn",
                                        "layer_type", "attn_type", "attention_type", "shared_layers", "swa", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool known = false;
        for (int i = 0; read[i] && !known; i++) known = !strcmp(key, read[i]);
        if (known || json_is_null(v) || json_is_false(v)) continue;
        /* Gemma 2's legacy copy of sliding_window matters only when it disagrees. */
        if (!strcmp(key, "sliding_window_size") && json_equal(v, field(c, "sliding_window"))) continue;
        for (int i = 0; hints[i]; i++)
            if (strstr(key, hints[i])) {
                iwarn(c, "ignoring '%s': mixc does not know what it means for the layout", key);
                break;
            }
    }
}

/* ------------------------------------------------------------------ HF import */

static void set_model_type(Ctx *c) {
    const char *t = json_string_value(json_object_get(c->hf.cfg, "model_type"));
    if (!t) t = json_string_value(json_object_get(c->hf.root, "model_type"));
    c->hf.model_type = t ? t : "";
}

/* The provenance comment written at the top of an imported .mix. */
static char *hf_comment(const char *path, json_t *root, const char *sources) {
    json_t *text = json_object_get(root, "text_config");
    const char *t = json_string_value(json_object_get(json_is_object(text) ? text : root, "model_type"));
    if (!t) t = json_string_value(json_object_get(root, "model_type"));
    Buf b = {0};
    buf_printf(&b, "Imported by `mixc import` from %s", path);
    if (t) buf_printf(&b, " (model_type %s)", t);
    buf_puts(&b, ".");
    if (sources && !strncmp(sources, "; ", 2)) sources += 2;
    if (sources && *sources) buf_printf(&b, "\n%c%s.", sources[0] >= 'a' && sources[0] <= 'z' ? sources[0] - 'a' + 'A' : sources[0], sources + 1);
    return b.data;
}

/* After the refusals: how to import anyway, once. */
static void refusal_hint(Ctx *c) {
    if (!c->refused || c->errors > c->refused) return;   /* nothing to import anyway */
    fprintf(c->err, "  hint: mixc computes the decoder of docs/model.md; --allow-unsupported imports the layout anyway "
                    "(for memory reports), recording %s in the .mix\n", c->refused == 1 ? "this" : "each of these");
}

/* The end of an import: the hint, the unsupported lines handed over (or freed), the context freed. */
static int finish(Ctx *c, const ImportOptions *opt, bool ok) {
    refusal_hint(c);
    if (ok && opt->unsupported) *opt->unsupported = c->unsupported.data;
    else buf_free(&c->unsupported);
    buf_free(&c->sources);
    json_decref(c->hf.defaults);
    return ok ? 0 : 1;
}

int import_hf_json(const char *path, json_t *root, const ImportOptions *opt, Layout *out) {
    memset(out, 0, sizeof *out);
    if (opt->unsupported) *opt->unsupported = NULL;
    Ctx c = {.path = path, .err = opt->err, .hf = {.root = root, .cfg = root}, .allow_unsupported = opt->allow_unsupported};
    if (!json_is_object(root)) {
        ierror(&c, "the top level is not a JSON object");
        return 1;
    }
    json_t *text = json_object_get(root, "text_config");
    if (json_is_object(text)) c.hf.cfg = text;
    set_model_type(&c);
    c.hf.defaults = hf_family_defaults(c.hf.model_type);
    ModelHeader m;
    read_header(&c, &m);
    if (c.errors > c.refused) return finish(&c, opt, false);
    hf_check_support(&c.hf, &m, refuse, &c);
    int n = (int)m.layers;
    int64_t *window = xcalloc((size_t)n + 1, sizeof(int64_t)), *chunked = xcalloc((size_t)n + 1, sizeof(int64_t));
    int *reads = xcalloc((size_t)n + 1, sizeof(int));
    bool llama4 = hf_is_llama4(&c.hf) && !has_field(&c, "layer_types");   /* its layers from no_rope_layers */
    bool ok = (llama4 ? read_llama4(&c, n, chunked) : read_attention(&c, n, window, chunked)) &&
              read_layer_windows(&c, n, window) && read_sharing(&c, n, window, reads) && c.errors == 0;
    if (ok) {
        warn_unread(&c, c.hf.cfg);
        if (c.hf.cfg != root) warn_unread(&c, root);
        m.name = model_name(&c, opt->name);
        layout_from_arrays(out, &m, n, window, chunked, reads);
        hf_read_layer_ropes(&c.hf, out);
        char err[256];
        ok = import_sharing_keeps_rope(out, err, sizeof err) && hf_read_layer_sinks(&c.hf, out, err, sizeof err);
        if (!ok) ierror(&c, "%s", err), layout_free(out);
        else if (opt->comment) *opt->comment = hf_comment(path, root, c.sources.data);
    }
    free(window);
    free(chunked);
    free(reads);
    return finish(&c, opt, ok);
}

static json_t *load_json(const char *path, FILE *err, int *rc) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(err, "mixc import: cannot read '%s': %s\n", path, strerror(errno));
        *rc = 2;
        return NULL;
    }
    json_error_t e;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    free(text);
    if (!root) {
        fprintf(err, "%s:%d:%d: error: invalid JSON: %s\n", path, e.line, e.column, e.text);
        *rc = 1;
    }
    return root;
}

int import_hf_file(const char *path, const ImportOptions *opt, Layout *out) {
    int rc = 0;
    memset(out, 0, sizeof *out);
    json_t *root = load_json(path, opt->err, &rc);
    if (!root) return rc;
    rc = import_hf_json(path, root, opt, out);
    json_decref(root);
    return rc;
}
