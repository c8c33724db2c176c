/* import.c — `mixc import`: a Hugging Face config.json (read by hf_import.c) or an LCKV layer string
 * (read here) to a .mix layout, written by mixwriter.c. The written text is parsed and checked again
 * before it is output, so what mixc writes mixc accepts. */
#include "interop.h"
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ LCKV strings */

bool lckv_parse(const char *s, int64_t window, FILE *err, int *nlayers, int64_t **window_out, int **reads_out) {
    int n = 1;
    for (const char *p = s; *p; p++) n += *p == '_';
    if (n > MIXC_MAX_LAYERS) {
        fprintf(err, "mixc: the LCKV string has %d layers, more than mixc supports (%d)\n", n, MIXC_MAX_LAYERS);
        return false;
    }
    int64_t *win = xcalloc((size_t)n + 1, sizeof(int64_t));
    int *reads = xcalloc((size_t)n + 1, sizeof(int));
    const char *p = s;
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        const char *tok = p;
        long long v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && v <= MIXC_MAX_LAYERS) v = v * 10 + (*p++ - '0'), digits++;
        bool sliding = *p == 's';
        if (sliding) p++;
        size_t toklen = strcspn(tok, "_");
        if (!digits || (*p && *p != '_')) {
            fprintf(err, "mixc: LCKV entry %d ('%.*s') is not a layer index with an optional 's'\n", i,
                    (int)(toklen > 40 ? 40 : toklen), tok);
            ok = false;
            break;
        }
        if (*p == '_') p++;
        if (v > i) {
            fprintf(err, "mixc: LCKV entry %d reads layer %lld, which runs after it; mixc layers can only reuse the "
                         "cache of an earlier layer\n", i, v);
            ok = false;
            break;
        }
        if (sliding && window <= 0) {
            fprintf(err, "mixc: LCKV entry %d is sliding ('s') but no --window is given\n", i);
            ok = false;
            break;
        }
        win[i] = sliding ? window : 0;
        reads[i] = (int)v;
        if (reads[v] != v) {
            fprintf(err, "mixc: warning: LCKV entry %d reads layer %lld, which itself reads layer %d: resolved to the "
                         "owner, layer %d\n", i, v, reads[v], reads[v]);
            reads[i] = reads[v];
        }
    }
    if (!ok) {
        free(win);
        free(reads);
        return false;
    }
    *nlayers = n;
    *window_out = win;
    *reads_out = reads;
    return true;
}

/* A stand-in header for an LCKV string imported without --config: the 24-layer dense model of
 * examples/standard.mix, so reports compare with the examples. */
static void standin_header(ModelHeader *m, int n) {
    ModelHeader d;
    model_header_defaults(&d);
    /* head_dim and chunk as the checker derives them; the rest as the language's defaults. */
    *m = (ModelHeader){.layers = n, .hidden = 2048, .heads = 16, .kv_heads = 8, .head_dim = 128, .ffn = 5632,
                       .vocab = 100352, .context = 32768, .chunk = 512, .dtype = d.dtype, .kv_dtype = d.dtype,
                       .rope_theta = d.rope_theta, .norm_eps = d.norm_eps, .tie_embeddings = d.tie_embeddings};
}

/* ------------------------------------------------------------------ the command */

typedef struct {
    const char *config, *lckv, *foundry, *out, *name;
    int64_t window;
    bool allow_unsupported;
} ImportArgs;

static const OptSpec import_options[] = {
    OPT(ImportArgs, name, OPT_STRING, "--name", .metavar = "NAME", .section = "import",
        .help = "the model's name (default: _name_or_path, the file name, or model_type)"),
    OPT_OUTPUT(ImportArgs, out, "FILE", "write the .mix to FILE (atomically) instead of stdout"),
    OPT(ImportArgs, allow_unsupported, OPT_FLAG, "--allow-unsupported",
        .help = "import a config that asks for what mixc does not compute (another family's\n"
                "decoder, a rope_scaling type, Gemma 3n's AltUp, ...): each is a warning and a\n"
                "'# unsupported:' line in the .mix instead of an error (for memory reports)"),
    OPT(ImportArgs, lckv, OPT_STRING, "--lckv", .metavar = "STRING", .section = "LCKV",
        .help = "import an LCKV string instead of a config"),
    OPT(ImportArgs, window, OPT_COUNT, "--window", .metavar = "W",
        .help = "the window of the LCKV string's sliding layers"),
    OPT(ImportArgs, foundry, OPT_STRING, "--foundry", .metavar = "FILE.yaml", .section = "llm-foundry",
        .help = "import the model config of an llm-foundry YAML (MPT: block_overrides with\n"
                "sliding_window_size and reuse_kv_layer_idx) instead of a config.json"),
    OPT(ImportArgs, config, OPT_STRING, "--config", .metavar = "FILE",
        .help = "with --lckv: take the model dimensions from this config.json\n"
                "(default: the 24-layer stand-in of examples/standard.mix, marked as such)"),
};

static const OptCommand import_command = {
    .prog = "mixc import",
    .usage = "mixc import CONFIG.json [-o OUT.mix] [--name NAME] [--allow-unsupported]\n"
             "mixc import --lckv STRING [--window W] [--config CONFIG.json] [-o OUT.mix] [--name NAME]\n"
             "mixc import --foundry FILE.yaml [-o OUT.mix] [--name NAME]",
    .about = "Writes a .mix layout from a Hugging Face config.json (Llama 2/3/4, Mistral, Ministral, Mixtral,\n"
             "SmolLM3, Qwen2/3 and Qwen3-MoE, Gemma 2/3/3n, gpt-oss, Cohere2, Hymba, and any config with\n"
             "layer_types), from an LCKV layer string (per layer, the layer whose KV it reads; 's' marks a\n"
             "sliding layer: 0_1s_1s_3s...) or from an llm-foundry YAML.\n"
             "The .mix uses compact forms (patterns, ranges, strides, default) and is checked before it is\n"
             "written. Warnings and errors name the config field they come from.\n"
             "mixc computes one decoder (docs/model.md) and the variations of it that the config states: a\n"
             "config whose model it would compute differently (a family it does not compute, or a field\n"
             "such as an unknown rope_scaling type) is refused naming each field and value, unless\n"
             "--allow-unsupported. docs/interop.md lists the families and fields it computes.\n",
    OPT_TABLE(import_options),
    .epilog = "exit status: 0 ok (warnings allowed), 1 errors in the input, 2 usage errors or an unreadable file.\n"
              "See docs/interop.md.\n",
    .max_args = 1,
};

/* OPT_GO to go on, else the exit status (--help: 0). */
static int parse_import_args(int argc, char **argv, ImportArgs *a) {
    memset(a, 0, sizeof *a);
    StringList files;
    int rc = opt_parse(&import_command, argc, argv, a, &files);
    if (rc == OPT_GO && files.n && a->config)
        rc = opt_usage_error(&import_command, "one config at a time ('%s' and '%s')", a->config, files.v[0]);
    if (rc == OPT_GO && files.n) a->config = files.v[0];
    if (rc == OPT_GO && a->foundry && (a->config || a->lckv))
        rc = opt_usage_error(&import_command, "one input at a time (a config.json, --lckv STRING or --foundry FILE.yaml)");
    if (rc == OPT_GO && !a->config && !a->lckv && !a->foundry)
        rc = opt_usage_error(&import_command, "no input (a config.json, --lckv STRING or --foundry FILE.yaml)");
    if (rc == OPT_GO && a->window && !a->lckv)
        rc = opt_usage_error(&import_command, "--window goes with --lckv (a config has its own sliding_window)");
    if (rc == OPT_GO) rc = opt_check_output(&import_command, a->out, a->foundry ? a->foundry : a->config);
    if (rc == OPT_GO && a->allow_unsupported && !a->config)
        rc = opt_usage_error(&import_command, "--allow-unsupported goes with a config.json");
    opt_free(&import_command, a, &files);
    return rc;
}

/* Appends the importer's "unsupported: ..." lines (freed) to the comment. */
static void add_unsupported(Buf *comment, char *lines) {
    if (!lines) return;
    size_t n = strlen(lines);
    if (n && lines[n - 1] == '\n') lines[n - 1] = '\0';
    buf_printf(comment, "\n%s", lines);
    free(lines);
}

/* --lckv: the layers from the string, the header from --config or the stand-in. */
static int import_lckv_layout(const ImportArgs *a, Layout *out, char **comment) {
    int n;
    int64_t *window;
    int *reads;
    if (!lckv_parse(a->lckv, a->window, stderr, &n, &window, &reads)) return 1;
    ModelHeader m;
    Buf note = {0};
    int rc = 0;
    LayerRope *ropes = NULL;
    if (a->config) {
        Layout base;
        char *unsupported = NULL;
        ImportOptions opt = {.name = a->name, .err = stderr, .allow_unsupported = a->allow_unsupported,
                             .unsupported = &unsupported};
        rc = import_hf_file(a->config, &opt, &base);
        if (rc == 0 && base.nlayers != n) {
            fprintf(stderr, "mixc: the LCKV string has %d layers but %s has num_hidden_layers %d\n", n, a->config,
                    base.nlayers);
            rc = 1;
        }
        if (rc == 0) {
            m = base.model;
            base.model.name = NULL;
            ropes = xcalloc((size_t)n + 1, sizeof *ropes);   /* the config's per-layer RoPE */
            for (int i = 0; i < n; i++) ropes[i] = base.layer[i].rope;
            buf_printf(&note, "Imported by `mixc import` from an LCKV string; dimensions from %s.", a->config);
            add_unsupported(&note, unsupported);
        } else {
            free(unsupported);
        }
        layout_free(&base);
    } else {
        standin_header(&m, n);
        m.name = xstrdup(a->name ? a->name : "lckv");
        buf_puts(&note, "Imported by `mixc import` from an LCKV string.\n"
                        "Stand-in dimensions (not from the string): the dense model of examples/standard.mix.");
    }
    if (rc == 0) {
        buf_printf(&note, "\nLCKV: %s", a->lckv);
        layout_from_arrays(out, &m, n, window, NULL, reads);
        for (int i = 0; ropes && i < n; i++) out->layer[i].rope = ropes[i];
        char why[256];
        if (!import_sharing_keeps_rope(out, why, sizeof why)) {
            fprintf(stderr, "mixc: the LCKV string with %s's per-layer RoPE: %s\n", a->config, why);
            layout_free(out);
            buf_free(&note);
            rc = 1;
        } else {
            *comment = note.data;
        }
    } else {
        buf_free(&note);
    }
    free(ropes);
    free(window);
    free(reads);
    return rc;
}

static int import_config_layout(const ImportArgs *a, Layout *out, char **comment) {
    char *unsupported = NULL;
    ImportOptions opt = {.name = a->name, .err = stderr, .comment = comment,
                         .allow_unsupported = a->allow_unsupported, .unsupported = &unsupported};
    int rc = import_hf_file(a->config, &opt, out);
    if (rc == 0 && unsupported) {
        Buf b = {0};
        buf_puts(&b, *comment ? *comment : "");
        free(*comment);
        add_unsupported(&b, unsupported);
        *comment = b.data;
    }
    return rc;
}

/* --foundry: the layers and the header from an llm-foundry YAML's model config (foundry.c). */
static int import_foundry_layout(const ImportArgs *a, Layout *out, char **comment) {
    int rc = import_foundry_file(a->foundry, a->name, out, stderr);
    if (rc) return rc;
    Buf note = {0};
    buf_printf(&note, "Imported by `mixc import --foundry` from %s (llm-foundry block_overrides).", a->foundry);
    *comment = note.data;
    return 0;
}

/* Parses the written text back; it must check and give the same layers. Its diagnostics (the
 * checker's warnings about generated text) are shown only when it fails. */
static int verify_text(const Layout *l, const char *text) {
    char *diag = NULL;
    size_t diag_len = 0;
    FILE *mem = open_memstream(&diag, &diag_len);
    Layout back;
    bool ok = load_layout_text("<import>", text, strlen(text), NULL, &back, mem ? mem : stderr) == 0;
    if (mem) fclose(mem);
    ok = ok && back.nlayers == l->nlayers;
    for (int i = 0; ok && i < l->nlayers; i++)
        ok = back.layer[i].window == l->layer[i].window && back.layer[i].chunked == l->layer[i].chunked &&
             back.layer[i].sinks == l->layer[i].sinks && back.layer[i].reads == l->layer[i].reads;
    if (!ok)
        fprintf(stderr, "mixc: internal error: the written layout does not read back the same:\n%s%s",
                diag ? diag : "", text);
    if (back.layer) layout_free(&back);
    free(diag);
    return ok ? 0 : 1;
}

int cmd_import(int argc, char **argv) {
    ImportArgs a;
    int rc = parse_import_args(argc, argv, &a);
    if (rc != OPT_GO) return rc;
    Layout l;
    char *comment = NULL;
    if (a.foundry)
        rc = import_foundry_layout(&a, &l, &comment);
    else
        rc = a.lckv ? import_lckv_layout(&a, &l, &comment) : import_config_layout(&a, &l, &comment);
    if (rc) return rc;
    Buf text = {0};
    mix_write(&l, comment, &text);
    free(comment);
    /* What mixc writes, mixc must accept, as the same layout. */
    rc = verify_text(&l, text.data);
    if (rc == 0) {
        if (a.out) {
            if (!write_file_atomic(a.out, text.data, text.len)) {
                fprintf(stderr, "mixc import: cannot write '%s': %s\n", a.out, strerror(errno));
                rc = 1;
            }
        } else {
            fwrite(text.data, 1, text.len, stdout);
        }
    }
    buf_free(&text);
    layout_free(&l);
    return rc;
}
