/* hf_export.c — a layout as a loadable transformers model: `mixc export --hf DIR` (a built-in family's
 * config.json where one computes the layout exactly, else the generated model) and `mixc export
 * --transformers DIR` (the generated model: config.json, configuration_mixc.py, modeling_mixc.py).
 *
 * The generated model is one static Python file kept in templates/python and assembled into this
 * binary (as the kernel templates are, compiler/kernels/codegen.c); every fact of the layout goes into
 * config.json, which that file reads. docs/interop.md, "transformers". */
#include "embed.h"
#include "hf_config.h"
#include "interop.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The Python files (embed.h; mk/hf.mk makes this object depend on them). */
EMBED(mixc_py_configuration, "templates/python/configuration_mixc.py")
EMBED(mixc_py_modeling, "templates/python/modeling_mixc.py")
EMBED(mixc_vllm_model, "templates/python/vllm_mixc.py")
EMBED(mixc_vllm_init, "templates/python/vllm_init.py")
EMBED(mixc_vllm_pyproject, "templates/python/vllm_pyproject.toml")

/* ------------------------------------------------------------------ what the model cannot compute */

bool hf_model_refusal(const Layout *l, char *why, size_t n) {
    const ModelHeader *m = &l->model;
    if (m->experts)
        return errorf(why, n, "'experts' %lld (a mixture of experts) is not computed by the exported models (they "
                              "have a dense MLP in every layer)", (long long)m->experts);
    if (m->activation == ACT_CLAMPED_SWIGLU)
        return errorf(why, n, "'activation' clamped_swiglu (gpt-oss's) is not computed by the exported models");
    if (m->nope_temperature_floor)
        return errorf(why, n, "'nope_temperature_floor' (Llama 4's attention temperature) is not computed by the "
                              "exported models");
    if (m->qk_l2_norm)
        return errorf(why, n, "'qk_l2_norm' (Llama 4's q/k norm) is not computed by the exported models");
    if (m->rope_interleaved)   /* mixrun's --save-weights writes Llama 4's interleaved q/k rows */
        return errorf(why, n, "'rope_interleaved' (Llama 4's RoPE on adjacent pairs) is not computed by the exported "
                              "models (they rotate half-split pairs)");
    for (int i = 0; i < l->nlayers; i++)
        if (l->layer[i].chunked || l->layer[i].sinks)
            return errorf(why, n, "layer %d has %s, which the exported models do not compute", i,
                          l->layer[i].chunked ? "chunked attention" : "attention sinks");
    int shaped = layout_first_own_shape(l);
    if (shaped >= 0)
        return errorf(why, n, "layer %d has its own kv_heads %lld and head_dim %lld (per-layer KV shapes), which the "
                              "exported models do not compute (one shape for every layer)", shaped,
                      (long long)layer_model(l, shaped).kv_heads, (long long)layer_model(l, shaped).head_dim);
    if (dtype_quantized(m->kv_dtype))
        return errorf(why, n,
                      "'kv_dtype' %s is not computed by the transformers model (its cache holds %s keys and values; "
                      "mixrun's 8-bit cache gives other logits); export with --set kv_dtype=%s",
                      dtype_name(m->kv_dtype), dtype_name(m->dtype), dtype_name(m->dtype));
    return true;
}

/* ------------------------------------------------------------------ the generated model's config */

static json_t *rope_scaling_json(const RopeScaling *s) {
    if (s->type == ROPE_PLAIN) return json_null();
    json_t *o = json_pack("{s:s}", "rope_type", rope_scaling_name(s->type));
    for (int i = 0; i < rope_nparams; i++) {
        const RopeParam *p = &rope_params[i];
        if (!(p->takes & (1u << s->type))) continue;
        json_object_set_new(o, p->hf_key, hf_rope_param_json(s, p));
    }
    return o;
}

/* Per layer: window (0 global), the owner of the cache it reads, its RoPE (null: NoPE; theta, and
 * whether the header's scaling applies: only to layers without a base of their own). */
static void layer_lists(const Layout *l, json_t *o) {
    json_t *windows = json_array(), *owners = json_array(), *ropes = json_array();
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        json_array_append_new(windows, json_integer(li->window));
        json_array_append_new(owners, json_integer(li->reads));
        json_array_append_new(ropes, li->rope.nope ? json_null()
                                                   : json_pack("{s:f, s:b}", "theta",
                                                               li->rope.theta ? li->rope.theta : l->model.rope_theta,
                                                               "scaled", li->rope.theta == 0));
    }
    json_object_set_new(o, "mixc_windows", windows);
    json_object_set_new(o, "mixc_kv_owner", owners);
    json_object_set_new(o, "mixc_rope", ropes);
}

json_t *export_mixc_config(const Layout *l) {
    const ModelHeader *m = &l->model;
    json_t *o = json_pack("{s:[s], s:s, s:{s:s, s:s}, s:s, s:s}", "architectures", "MixcForCausalLM", "model_type",
                          "mixc", "auto_map", "AutoConfig", "configuration_mixc.MixcConfig", "AutoModelForCausalLM",
                          "modeling_mixc.MixcForCausalLM", "_name_or_path", m->name ? m->name : "", "mixc_version",
                          MIXC_VERSION);
    json_t *dims = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:f, s:f, s:I, s:b}", "num_hidden_layers",
                             (json_int_t)m->layers, "hidden_size", (json_int_t)m->hidden, "num_attention_heads",
                             (json_int_t)m->heads, "num_key_value_heads", (json_int_t)m->kv_heads, "head_dim",
                             (json_int_t)m->head_dim, "intermediate_size", (json_int_t)m->ffn, "vocab_size",
                             (json_int_t)m->vocab, "torch_dtype", m->dtype == DT_FP16 ? "float16" : "bfloat16",
                             "rope_theta", m->rope_theta, "rms_norm_eps", m->norm_eps, "max_position_embeddings",
                             (json_int_t)m->context, "tie_word_embeddings", m->tie_embeddings);
    if (!o || !dims) fatal("out of memory");   /* the name was checked as UTF-8 when the layout was read */
    json_object_update(o, dims);
    json_decref(dims);
    layer_lists(l, o);
    json_object_set_new(o, "mixc_rope_scaling", rope_scaling_json(&m->rope_scaling));
    json_t *v = json_pack("{s:b, s:b, s:b, s:s, s:s, s:b, s:b, s:f, s:f, s:f}", "mixc_qkv_bias", m->qkv_bias,
                          "mixc_o_bias", m->o_bias, "mixc_qk_norm", m->qk_norm, "mixc_activation",
                          activation_name(m->activation), "mixc_norm", norm_kind_name(m->norm), "mixc_sandwich_norms",
                          m->sandwich_norms, "mixc_embed_scale", m->embed_scale, "mixc_attn_softcap", m->attn_softcap,
                          "mixc_logit_softcap", m->logit_softcap, "mixc_query_pre_attn_scalar",
                          m->query_pre_attn_scalar);
    json_object_update(o, v);
    json_decref(v);
    return o;
}

/* ------------------------------------------------------------------ built-in families */

/* The transformers family that computes `l` exactly as mixc does, or NULL (why says what none
 * computes). Only Llama (every layer global), Mistral (every layer sliding, one window) and Ministral
 * (layer_types, one window): each reads the fields written for it and nothing else of the layout. */
static const char *builtin_family(const Layout *l, char *why, size_t n) {
    const ModelHeader *m = &l->model;
    int64_t window = 0;
    int sliding = 0;
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        if (li->reads != i) return errorf(why, n, "layer %d reads layer %d's cache (KV sharing)", i, li->reads), NULL;
        if (li->rope.nope || li->rope.theta)
            return errorf(why, n, "layer %d has its own RoPE (%s)", i, li->rope.nope ? "nope" : "a base of its own"), NULL;
        if (li->window && window && li->window != window)
            return errorf(why, n, "the sliding layers use different windows"), NULL;
        if (li->window) window = li->window, sliding++;
    }
    char buf[256];
    if (m->experts) return errorf(why, n, "a mixture of experts"), NULL;
    if (m->activation != ACT_SILU || m->norm != NORM_RMS || m->qk_norm || m->sandwich_norms || m->embed_scale ||
        m->rope_interleaved || m->qk_l2_norm || m->nope_temperature_floor ||
        m->attn_softcap || m->logit_softcap || (m->query_pre_attn_scalar && m->query_pre_attn_scalar != m->head_dim))
        return errorf(why, n, "the model's variations (%s)", model_variation_text(m, buf, sizeof buf)), NULL;
    if (m->qkv_bias != m->o_bias) return errorf(why, n, "q/k/v biases without the o bias, or the reverse"), NULL;
    if (m->qkv_bias && sliding) return errorf(why, n, "attention biases with sliding windows"), NULL;
    if (!sliding) return "llama";
    return sliding == l->nlayers ? "mistral" : "ministral";
}

/* The fragment (export_hf_json) as a complete config of `family`: what it does not read removed.
 * transformers picks its class by model_type, vLLM by architectures: a ministral config names
 * MistralForCausalLM, the class vLLM registers for both (its Llama, which reads layer_types). */
static json_t *builtin_config(const Layout *l, const char *family) {
    json_t *o = export_hf_json(l, stderr);
    static const char *const arch[][2] = {
        {"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"}, {"ministral", "MistralForCausalLM"}};
    for (size_t i = 0; i < sizeof arch / sizeof arch[0]; i++)
        if (!strcmp(arch[i][0], family)) json_object_set_new(o, "architectures", json_pack("[s]", arch[i][1]));
    json_object_set_new(o, "model_type", json_string(family));
    json_object_del(o, "kv_sharing_target");
    const char *key;
    void *tmp;
    json_t *value;
    json_object_foreach_safe(o, tmp, key, value) {
        if (!strncmp(key, "mixc_", 5)) json_object_del(o, key);
    }
    if (strcmp(family, "ministral")) json_object_del(o, "layer_types");
    if (!strcmp(family, "llama")) {
        json_object_del(o, "sliding_window");
        json_object_set_new(o, "attention_bias", json_boolean(l->model.qkv_bias));
    }
    return o;
}

/* ------------------------------------------------------------------ writing the directory */

static char *dump(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!s) fatal("out of memory");
    return s;
}

/* Writes config.json (and with `package` the two Python files) as DIR, atomically. */
static bool write_package(const char *dir, json_t *config, bool package) {
    Buf cfg = {0};
    char *text = dump(config);
    buf_printf(&cfg, "%s\n", text);
    free(text);
    const char *names[] = {"config.json", "configuration_mixc.py", "modeling_mixc.py"};
    const char *data[] = {cfg.data, mixc_py_configuration, mixc_py_modeling};
    size_t lens[] = {cfg.len, strlen(mixc_py_configuration), strlen(mixc_py_modeling)};
    bool ok = write_dir_atomic(dir, names, data, lens, package ? 3 : 1);
    buf_free(&cfg);
    return ok;
}

int export_transformers_dir(const Layout *l, const char *dir, bool builtin_if_exact, FILE *err) {
    char why[300], reason[300];
    if (!hf_model_refusal(l, why, sizeof why)) {
        fprintf(err, "mixc: %s\n", why);
        return 1;
    }
    const char *family = builtin_if_exact ? builtin_family(l, reason, sizeof reason) : NULL;
    if (builtin_if_exact && !family)
        fprintf(err, "mixc: no transformers family computes this layout (%s): writing mixc's generated model "
                     "(load it with trust_remote_code=True)\n", reason);
    bool ok = family ? write_package(dir, builtin_config(l, family), false)
                     : write_package(dir, export_mixc_config(l), true);
    if (!ok) fprintf(err, "mixc export: cannot write '%s': %s\n", dir, strerror(errno));
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------ the vLLM plugin */

/* vLLM's yarn (YaRNScalingRotaryEmbedding) tabulates cos and sin for original_context * factor
 * positions whatever max_position_embeddings is: a longer context would read past the table. */
static bool vllm_yarn_covers_context(const Layout *l, FILE *err) {
    const RopeScaling *s = &l->model.rope_scaling;
    if (s->type != ROPE_YARN) return true;
    bool scaled = false;   /* the header's scaling applies to the layers without a base of their own */
    for (int i = 0; i < l->nlayers; i++) scaled |= !l->layer[i].rope.nope && l->layer[i].rope.theta == 0;
    double covered = ceil((double)s->original_context * s->factor);
    if (!scaled || (double)l->model.context <= covered) return true;
    fprintf(err, "mixc: context %lld is longer than the %.0f positions vLLM's yarn RoPE covers (rope_original_context "
                 "%lld x rope_factor %g)\n  hint: a context of at most %.0f, or a larger rope_factor\n",
            (long long)l->model.context, covered, (long long)s->original_context, s->factor, covered);
    return false;
}

bool vllm_layout_ok(const Layout *l, int pp, FILE *err) {
    bool ok = vllm_yarn_covers_context(l, err);
    char a[ATTN_TEXT_MAX], b[ATTN_TEXT_MAX];
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i], *owner = &l->layer[li->reads];
        if (li->reads == i) continue;
        if (li->window != owner->window || li->chunked != owner->chunked) {
            fprintf(err, "mixc: layer %d (%s) reads layer %d's cache (%s): vLLM shares a cache only between layers "
                         "of the same attention type and window\n  hint: give the reader its owner's window, or "
                         "let it own its cache\n", i, attn_text(li->window, li->chunked, a), li->reads,
                    attn_text(owner->window, owner->chunked, b));
            ok = false;
        }
        if (pp > 1 && pipeline_stage_of(l->nlayers, pp, i) != pipeline_stage_of(l->nlayers, pp, li->reads)) {
            fprintf(err, "mixc: layer %d reads layer %d's cache, which vLLM places in pipeline stage %d of %d, not "
                         "stage %d: a sharing group must stay in one stage\n  hint: another --pp, or a layout whose "
                         "groups do not cross the stage boundaries\n",
                    i, li->reads, pipeline_stage_of(l->nlayers, pp, li->reads), pp, pipeline_stage_of(l->nlayers, pp, i));
            ok = false;
        }
    }
    return ok;
}

int export_vllm_dir(const Layout *l, const char *dir, int pp, FILE *err) {
    char why[300];
    if (!hf_model_refusal(l, why, sizeof why)) {
        fprintf(err, "mixc: %s\n", why);
        return 1;
    }
    if (!vllm_layout_ok(l, pp, err)) return 1;
    const char *names[] = {"pyproject.toml", "mixc_vllm.py", "mixc_vllm_model.py"};
    const char *data[] = {mixc_vllm_pyproject, mixc_vllm_init, mixc_vllm_model};
    size_t lens[] = {strlen(data[0]), strlen(data[1]), strlen(data[2])};
    if (write_dir_atomic(dir, names, data, lens, 3)) return 0;
    fprintf(err, "mixc export: cannot write '%s': %s\n", dir, strerror(errno));
    return 1;
}
