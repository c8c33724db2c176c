/* export.c — `mixc export`: a layout as a Hugging Face config fragment or an LCKV layer string,
 * so a layout authored in mixc goes back into a training or serving stack. `mixc import` reads both
 * back to the same layout (docs/interop.md). */
#include "hf_config.h"
#include "interop.h"
#include "options.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The sliding windows in use: 0 when none, -1 when they differ, else the one window. */
static int64_t common_window(const Layout *l, int64_t *largest) {
    int64_t w = 0;
    *largest = 0;
    for (int i = 0; i < l->nlayers; i++) {
        int64_t x = l->layer[i].window;
        if (!x) continue;
        if (x > *largest) *largest = x;
        if (w == 0) w = x;
        else if (w != x) w = -1;
    }
    return w;
}

/* The one chunk size of the chunked layers, 0 when there are none; -1 after an error on `err` naming
 * the first layer that `format` cannot say: one of another size (when one_size), or any. */
static int64_t common_chunk(const Layout *l, const char *format, bool one_size, FILE *err) {
    int64_t c = 0;
    for (int i = 0; i < l->nlayers; i++) {
        int64_t x = l->layer[i].chunked;
        if (!x || (one_size && (c == 0 || c == x))) {
            c = x ? x : c;
            continue;
        }
        if (one_size)
            fprintf(err, "mixc: layer %d is chunked %lld but an earlier layer chunked %lld: %s has one "
                         "attention_chunk_size\n", i, (long long)x, (long long)c, format);
        else
            fprintf(err, "mixc: layer %d is chunked %lld: %s cannot say chunked attention\n", i, (long long)x, format);
        return -1;
    }
    return c;
}

static const char *hf_dtype(DType t) {
    return t == DT_FP16 ? "float16" : "bfloat16";
}

/* The header's variations: under their HF names where transformers has a field (Gemma 2's), else
 * under mixc_ names (what a family's modeling code implies has no field); only those that are set. */
static void export_variations(const ModelHeader *m, json_t *o) {
    if (m->activation == ACT_GELU_TANH) json_object_set_new(o, "hidden_act", json_string("gelu_pytorch_tanh"));
    if (m->activation == ACT_CLAMPED_SWIGLU) {   /* gpt-oss's, under its names; no hidden_act says it */
        json_object_set_new(o, "mixc_activation", json_string(activation_name(m->activation)));
        json_object_set_new(o, "swiglu_limit", json_real(m->swiglu_limit));
        json_object_set_new(o, "swiglu_alpha", json_real(m->swiglu_alpha));
    }
    if (m->attn_softcap) json_object_set_new(o, "attn_logit_softcapping", json_real(m->attn_softcap));
    if (m->logit_softcap) json_object_set_new(o, "final_logit_softcapping", json_real(m->logit_softcap));
    if (m->query_pre_attn_scalar) json_object_set_new(o, "query_pre_attn_scalar", json_real(m->query_pre_attn_scalar));
    if (m->norm != NORM_RMS) json_object_set_new(o, "mixc_norm", json_string(norm_kind_name(m->norm)));
    if (m->qk_norm) json_object_set_new(o, "mixc_qk_norm", json_true());
    if (m->qk_l2_norm) json_object_set_new(o, "mixc_qk_l2_norm", json_true());
    if (m->rope_interleaved) json_object_set_new(o, "mixc_rope_interleaved", json_true());
    if (m->nope_temperature_floor) {   /* Llama 4's names (hf_support.c reads them back) */
        json_object_set_new(o, "attn_temperature_tuning", json_true());
        json_object_set_new(o, "floor_scale", json_integer(m->nope_temperature_floor));
        json_object_set_new(o, "attn_scale", json_real(m->nope_temperature_scale));
    }
    if (m->sandwich_norms) json_object_set_new(o, "mixc_sandwich_norms", json_true());
    if (m->embed_scale) json_object_set_new(o, "mixc_embed_scale", json_true());
    if (m->experts) {   /* Mixtral's names for the counts; the rest is mixc's (hf_experts.c reads them back) */
        json_object_set_new(o, "num_local_experts", json_integer(m->experts));
        json_object_set_new(o, "num_experts_per_tok", json_integer(m->experts_per_token));
        json_object_set_new(o, "mixc_router", json_string(router_kind_name(m->router)));
        if (m->shared_expert_ffn) json_object_set_new(o, "mixc_shared_expert_ffn", json_integer(m->shared_expert_ffn));
        if (m->moe_bias) json_object_set_new(o, "mixc_moe_bias", json_true());
        if (m->moe_step > 1) {   /* Llama 4's names: experts on layers s-1, 2s-1, ..., dense MLPs between */
            json_object_set_new(o, "interleave_moe_layer_step", json_integer(m->moe_step));
            json_object_set_new(o, "intermediate_size_mlp", json_integer(m->dense_ffn));
        }
    }
}

json_t *export_hf_json(const Layout *l, FILE *err) {
    const ModelHeader *m = &l->model;
    int64_t chunk = common_chunk(l, "an HF config", true, err);
    if (chunk < 0) return NULL;
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:f, s:f, s:I, s:b}",
                          "_name_or_path", m->name ? m->name : "", "num_hidden_layers", (json_int_t)m->layers,
                          "hidden_size", (json_int_t)m->hidden, "num_attention_heads", (json_int_t)m->heads,
                          "num_key_value_heads", (json_int_t)m->kv_heads, "head_dim", (json_int_t)m->head_dim,
                          "intermediate_size", (json_int_t)m->ffn, "vocab_size", (json_int_t)m->vocab,
                          "torch_dtype", hf_dtype(m->dtype), "rope_theta", m->rope_theta,
                          "rms_norm_eps", m->norm_eps, "max_position_embeddings", (json_int_t)m->context,
                          "tie_word_embeddings", m->tie_embeddings);
    if (!o) fatal("out of memory");     /* the name was checked as UTF-8 when the layout was read */
    /* What HF has no field for, under mixc_ names: only when it differs from what import assumes. */
    if (m->kv_dtype != m->dtype) json_object_set_new(o, "mixc_kv_dtype", json_string(dtype_name(m->kv_dtype)));
    if (m->chunk != (m->context < 512 ? m->context : 512)) json_object_set_new(o, "mixc_chunk", json_integer(m->chunk));
    if (m->qkv_bias) json_object_set_new(o, "mixc_qkv_bias", json_true());   /* HF's field depends on the family */
    if (m->o_bias) json_object_set_new(o, "mixc_o_bias", json_true());
    hf_export_rope(l, o, err);
    export_variations(m, o);

    json_t *types = json_array(), *targets = json_array(), *windows = json_array();
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        json_array_append_new(types, json_string(li->chunked  ? "chunked_attention"
                                                 : li->window ? "sliding_attention" : "full_attention"));
        json_array_append_new(targets, li->reads == i ? json_null() : json_integer(li->reads));
        json_array_append_new(windows, li->window ? json_integer(li->window) : json_null());
    }
    int64_t largest, w = common_window(l, &largest);
    json_object_set_new(o, "layer_types", types);
    json_object_set_new(o, "sliding_window", w == 0 ? json_null() : json_integer(w > 0 ? w : largest));
    if (w < 0) {
        fprintf(err, "mixc: warning: the sliding layers use different windows; HF has one 'sliding_window' "
                     "(written: the largest, %lld) and the per-layer windows go to 'mixc_sliding_windows'\n",
                (long long)largest);
        json_object_set_new(o, "mixc_sliding_windows", windows);
    } else {
        json_decref(windows);
    }
    if (chunk) json_object_set_new(o, "attention_chunk_size", json_integer(chunk));
    json_t *sinks = json_array();   /* mixc's own: which layers have attention sinks, when any has */
    bool any_sinks = false;
    for (int i = 0; i < l->nlayers; i++) {
        any_sinks |= l->layer[i].sinks;
        json_array_append_new(sinks, json_boolean(l->layer[i].sinks));
    }
    if (any_sinks) json_object_set_new(o, "mixc_sinks", sinks);
    else json_decref(sinks);
    json_object_set_new(o, "kv_sharing_target", targets);
    return o;
}

char *export_lckv(const Layout *l, FILE *err) {
    if (common_chunk(l, "an LCKV string", false, err) < 0) return NULL;
    for (int i = 0; i < l->nlayers; i++)
        if (l->layer[i].sinks) {
            fprintf(err, "mixc: layer %d has attention sinks: an LCKV string cannot say them\n", i);
            return NULL;
        }
    int64_t largest, w = common_window(l, &largest);
    if (w < 0)
        fprintf(err, "mixc: warning: the sliding layers use different windows, which an LCKV string cannot carry "
                     "(largest %lld)\n", (long long)largest);
    Buf b = {0};
    for (int i = 0; i < l->nlayers; i++)
        buf_printf(&b, "%s%d%s", i ? "_" : "", l->layer[i].reads, l->layer[i].window ? "s" : "");
    return b.data ? b.data : xstrdup("");
}

/* ------------------------------------------------------------------ the command */

typedef struct {
    bool hf, lckv, foundry;
    const char *transformers, *vllm, *out;
    int64_t pp;
    StringList sets;
} ExportArgs;

static const OptSpec export_options[] = {
    OPT(ExportArgs, hf, OPT_FLAG, "--hf",
        .help = "(default) a Hugging Face config fragment: the model dimensions, layer_types,\n"
                "sliding_window and kv_sharing_target (per layer: the layer whose KV cache it\n"
                "reuses, null for layers that own theirs); with a directory after FILE.mix\n"
                "(`--hf DIR`): a complete config.json there, of llama, mistral or ministral where\n"
                "that family computes the layout exactly, else the --transformers model"),
    OPT(ExportArgs, transformers, OPT_STRING, "--transformers", .metavar = "DIR",
        .help = "the layout as a transformers model in DIR (trust_remote_code): config.json,\n"
                "configuration_mixc.py, modeling_mixc.py; loads mixrun's safetensors"),
    OPT(ExportArgs, vllm, OPT_STRING, "--vllm", .metavar = "DIR",
        .help = "the mixc-vllm plugin package in DIR (pip install DIR; it serves a --transformers\n"
                "directory), after checking vLLM's rules for the layout"),
    OPT_PP(ExportArgs, pp, "with --vllm: vLLM's pipeline stages; sharing groups must not cross them"),
    OPT(ExportArgs, lckv, OPT_FLAG, "--lckv", .help = "the LCKV string: per layer, the layer whose KV it reads, 's' for sliding layers;\n"
                                                      "the window goes to stderr (import it back with --window W)"),
    OPT(ExportArgs, foundry, OPT_FLAG, "--foundry",
        .help = "an llm-foundry (MPT) model config in YAML: the layers as block_overrides\n"
                "(order/repeat, overrides with sliding_window_size and reuse_kv_layer_idx)"),
    OPT_SETS(ExportArgs, sets),
    OPT_OUTPUT_FILE(ExportArgs, out),
};

static const OptCommand export_command = {
    .prog = "mixc export",
    .usage = "mixc export FILE.mix [--hf | --lckv | --foundry] [-o OUT] [--set key=value ...]\n"
             "mixc export FILE.mix --hf DIR\n"
             "mixc export FILE.mix --transformers DIR\n"
             "mixc export FILE.mix --vllm DIR [--pp N]",
    .about = "Writes a layout in another notation, which `mixc import` reads back to the same layout,\n"
             "or as a model that transformers loads.\n",
    OPT_TABLE(export_options),
    .epilog = "See docs/interop.md.\n"
              "exit status: 0 ok (warnings allowed), 1 errors in the input (or a layout the exported\n"
              "model does not compute), 2 usage errors or an unreadable file.\n",
    .min_args = 1,
    .max_args = 2,
    .args_hint = "(FILE.mix, and the directory of --hf DIR)",
};

static bool write_output(const char *path, const char *data, size_t len) {
    if (!path) return fwrite(data, 1, len, stdout) == len;
    if (write_file_atomic(path, data, len)) return true;
    fprintf(stderr, "mixc export: cannot write '%s': %s\n", path, strerror(errno));
    return false;
}

/* The text forms: the HF fragment, the LCKV string or the llm-foundry YAML, to stdout or -o; 1 when
 * the form cannot say a layer of the layout (reported), nothing written. */
static int export_text(const Layout *l, const ExportArgs *a) {
    Buf text = {0};
    if (a->foundry) {
        if (export_foundry(l, &text, stderr)) {
            buf_free(&text);
            return 1;
        }
    } else if (a->lckv) {
        char *s = export_lckv(l, stderr);
        if (!s) return 1;
        int64_t largest, w = common_window(l, &largest);
        if (w > 0) fprintf(stderr, "mixc: window %lld (import with --window %lld)\n", (long long)w, (long long)w);
        buf_printf(&text, "%s\n", s);
        free(s);
    } else {
        json_t *j = export_hf_json(l, stderr);
        if (!j) return 1;
        char *dump = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        json_decref(j);
        if (!dump) fatal("out of memory");
        buf_printf(&text, "%s\n", dump);
        free(dump);
    }
    int rc = write_output(a->out, text.data, text.len) ? 0 : 1;
    buf_free(&text);
    return rc;
}

/* Every form says one kv_heads and head_dim for all layers: a layout with per-layer shapes is refused
 * by its first such layer (true, reported). */
static bool refuse_own_shapes(const Layout *l, const ExportArgs *a) {
    int i = layout_first_own_shape(l);
    if (i < 0) return false;
    const char *form = a->foundry ? "an llm-foundry MPT config" : a->lckv ? "an LCKV string"
                       : a->vllm ? "the vLLM plugin" : a->transformers ? "the transformers model" : "an HF config";
    const ModelHeader m = layer_model(l, i);
    fprintf(stderr, "mixc: layer %d has its own kv_heads %lld and head_dim %lld (header: %lld and %lld): %s cannot "
                    "say per-layer KV shapes\n", i, (long long)m.kv_heads, (long long)m.head_dim,
            (long long)l->model.kv_heads, (long long)l->model.head_dim, form);
    return true;
}

/* The forms exclude each other; a directory goes with --hf only. */
static int check_form(const ExportArgs *a, const StringList *files) {
    int forms = a->hf + a->lckv + a->foundry + (a->transformers != NULL) + (a->vllm != NULL);
    if (forms > 1) return opt_usage_error(&export_command, "give one of --hf, --lckv, --foundry, --transformers and --vllm");
    if (a->pp && !a->vllm) return opt_usage_error(&export_command, "--pp goes with --vllm");
    if (files->n == 2 && !a->hf)
        return opt_usage_error(&export_command, "one file at a time (a directory follows --hf only)");
    if ((files->n == 2 || a->transformers || a->vllm) && a->out)
        return opt_usage_error(&export_command, "-o goes with the text forms; a directory form writes its directory");
    return OPT_GO;
}

int cmd_export(int argc, char **argv) {
    ExportArgs a = {0};
    StringList files;
    int rc = opt_parse(&export_command, argc, argv, &a, &files);
    if (rc == OPT_GO) rc = check_form(&a, &files);
    if (rc != OPT_GO) {
        opt_free(&export_command, &a, &files);
        return rc;
    }
    Layout l;
    LoadOptions load = {.prog = "mixc export", .sets = a.sets.v, .nsets = a.sets.n, .pp = a.pp};
    rc = load_layout_file(files.v[0], &load, &l, stderr);
    if (!rc && refuse_own_shapes(&l, &a)) {
        layout_free(&l);
        rc = 1;
    } else if (!rc) {
        const char *dir = a.transformers ? a.transformers : files.n == 2 ? files.v[1] : NULL;
        if (a.vllm) rc = export_vllm_dir(&l, a.vllm, a.pp ? (int)a.pp : 1, stderr);
        else rc = dir ? export_transformers_dir(&l, dir, a.hf, stderr) : export_text(&l, &a);
        layout_free(&l);
    }
    opt_free(&export_command, &a, &files);
    return rc;
}
