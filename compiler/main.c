/* main.c — the mixc driver: dispatches to one command per pipeline use.
 *
 *   check   : parse -> check                      (prints the normalized layout)
 *   report  : parse -> check -> plan              (memory report: text, json, dot, svg)
 *   compare : the same for several layouts, side by side
 *   import  : HF config.json / LCKV string -> .mix
 *   export  : .mix -> HF JSON fragment / LCKV string
 *   emit    : parse -> check -> plan -> codegen   (kernels.cu + manifest.json)
 *   build   : emit -> NVRTC cubin -> specialized executable
 */
#include "mixc.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

/* Commands not yet linked in answer with a clear message rather than a missing symbol. */
#define WEAK_COMMAND(fn, name)                                                        \
    __attribute__((weak)) int fn(int argc, char **argv) {                           \
        (void)argc; (void)argv;                                                      \
        fprintf(stderr, "mixc: the '%s' command is not available in this build\n", name); \
        return 2;                                                                    \
    }
WEAK_COMMAND(cmd_report, "report")
WEAK_COMMAND(cmd_compare, "compare")
WEAK_COMMAND(cmd_import, "import")
WEAK_COMMAND(cmd_export, "export")
WEAK_COMMAND(cmd_emit, "emit")
WEAK_COMMAND(cmd_build, "build")

/* The plan dump comes from the planner (plan.c); absent in a build without it. */
__attribute__((weak)) void dump_plan(const Layout *l, FILE *out);

/* ------------------------------------------------------------------ the pipeline up to the layout */

/* Reads, parses and checks one file. Diagnostics go to diag_out. 0 ok, 1 input errors, 2 unreadable.
 * With ast_out/arena (both non-NULL), the AST is kept for --dump=ast; the caller frees the arena. */
static int load_layout_ex(const char *path, Layout *out, FILE *diag_out, Arena *arena, Ast *ast_out) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(diag_out, "mixc: cannot read '%s': %s\n", path, strerror(errno));
        return 2;
    }
    if (len > (size_t)1 << 30) {
        fprintf(diag_out, "mixc: '%s' is too large (%zu bytes)\n", path, len);
        free(text);
        return 1;
    }
    SourceFile src = {strcmp(path, "-") == 0 ? "<stdin>" : path, text, len};
    Diag diag;
    diag_init(&diag, &src, diag_out);
    Arena local = {0};
    Arena *a = arena ? arena : &local;
    Ast ast;
    bool parsed = parse_source(&src, a, &diag, &ast);
    /* Check even a partial AST, so one run reports the syntax errors and the others. */
    bool ok = check_ast(&ast, &diag, out) && parsed;
    if (!ok) layout_free(out);
    if (ast_out) *ast_out = ast;
    arena_free(&local);
    free(text);
    return ok ? 0 : 1;
}

int load_layout(const char *path, Layout *out, FILE *diag_out) {
    return load_layout_ex(path, out, diag_out, NULL, NULL);
}

static json_t *layout_json(const Layout *l) {
    const ModelHeader *m = &l->model;
    json_t *model = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:f, s:I, s:I, s:b}",
                              "name", m->name, "layers", (json_int_t)m->layers, "hidden", (json_int_t)m->hidden,
                              "heads", (json_int_t)m->heads, "kv_heads", (json_int_t)m->kv_heads,
                              "head_dim", (json_int_t)m->head_dim, "ffn", (json_int_t)m->ffn,
                              "vocab", (json_int_t)m->vocab, "dtype", dtype_name(m->dtype),
                              "kv_dtype", dtype_name(m->kv_dtype), "rope_theta", m->rope_theta,
                              "norm_eps", m->norm_eps, "context", (json_int_t)m->context,
                              "chunk", (json_int_t)m->chunk, "tie_embeddings", m->tie_embeddings);
    json_t *layers = json_array();
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        json_array_append_new(layers, json_pack("{s:i, s:s, s:o, s:i, s:i}", "index", i, "attention",
                                                li->window ? "sliding" : "global", "window",
                                                li->window ? json_integer(li->window) : json_null(),
                                                "reads", li->reads, "cache", li->cache));
    }
    json_t *caches = json_array();
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        json_t *readers = json_array();
        for (int r = 0; r < ci->nreaders; r++) json_array_append_new(readers, json_integer(ci->readers[r]));
        json_array_append_new(caches, json_pack("{s:i, s:i, s:o, s:o}", "id", k, "owner", ci->owner, "readers",
                                                readers, "retention",
                                                ci->retention ? json_integer(ci->retention) : json_null()));
    }
    return json_pack("{s:o, s:o, s:o}", "model", model, "layers", layers, "caches", caches);
}

static void check_usage(FILE *out) {
    fprintf(out,
            "usage: mixc check [options] FILE.mix\n"
            "\n"
            "Checks a layout and prints it normalized: one row per layer with its attention, the layer\n"
            "whose cache it reads and the cache id. Diagnostics go to stderr.\n"
            "\n"
            "options:\n"
            "  --dump=ast       print the parse tree instead\n"
            "  --dump=graph     print the sharing graph (caches, owners, readers)\n"
            "  --dump=plan      print the KV and activation plan at the layout's context and chunk\n"
            "  --format=json    print the normalized layout as JSON\n"
            "  -q, --quiet      print nothing but diagnostics\n"
            "  -h, --help       this help\n"
            "\n"
            "exit status: 0 valid (warnings allowed), 1 errors, 2 usage errors.\n");
}

int cmd_check(int argc, char **argv) {
    const char *path = NULL, *dump = NULL;
    bool quiet = false, json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            check_usage(stdout);
            return 0;
        } else if (!strncmp(a, "--dump=", 7)) {
            dump = a + 7;
            if (strcmp(dump, "ast") && strcmp(dump, "graph") && strcmp(dump, "plan")) {
                fprintf(stderr, "mixc check: unknown dump '%s' (ast, graph or plan)\n", dump);
                return 2;
            }
        } else if (!strcmp(a, "--format=json") || !strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--format=text")) {
            json = false;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mixc check: unknown option '%s'\n", a);
            check_usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "mixc check: one file at a time ('%s' and '%s')\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) {
        fprintf(stderr, "mixc check: no input file\n");
        check_usage(stderr);
        return 2;
    }
    Arena arena = {0};
    Ast ast;
    Layout l;
    bool want_ast = dump && !strcmp(dump, "ast");
    int rc = load_layout_ex(path, &l, stderr, want_ast ? &arena : NULL, want_ast ? &ast : NULL);
    if (want_ast && rc != 2) dump_ast(&ast, stdout);
    arena_free(&arena);
    if (rc != 0) return rc;
    if (quiet || want_ast) {
    } else if (dump && !strcmp(dump, "graph")) {
        dump_graph(&l, stdout);
    } else if (dump && !strcmp(dump, "plan")) {
        if (!dump_plan) {
            fprintf(stderr, "mixc check: --dump=plan needs the planner, which this build lacks\n");
            rc = 2;
        } else {
            dump_plan(&l, stdout);
        }
    } else if (json) {
        json_t *j = layout_json(&l);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(j);
    } else {
        print_layout(&l, stdout);
    }
    layout_free(&l);
    return rc;
}

static const Command commands[] = {
    {"check", cmd_check, "check a layout and print it normalized (--dump=ast|graph|plan)"},
    {"report", cmd_report, "static memory report: KV caches, weights, arena, GPU fit"},
    {"compare", cmd_compare, "headline memory figures of several layouts side by side"},
    {"import", cmd_import, "write a .mix from a Hugging Face config.json or an LCKV string"},
    {"export", cmd_export, "write a layout as an HF config fragment or an LCKV string"},
    {"emit", cmd_emit, "generate the layout's specialized CUDA kernels and manifest"},
    {"build", cmd_build, "build a specialized executable for the layout"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixc <command> [options] [FILE...]\n"
            "\n"
            "mixc compiles .mix layouts of hybrid-attention transformers (global and sliding-window\n"
            "layers, KV caches shared between layers): checks them, plans their memory, and emits\n"
            "CUDA kernels specialized to the layout.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "  mixc help COMMAND      options of one command\n"
            "  mixc --version         print the version\n"
            "\n"
            "exit status: 0 ok (warnings allowed), 1 errors in the input, 2 usage errors.\n"
            "The language is described in docs/language.md.\n");
}

static const Command *find_command(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *arg = argv[1];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(arg, "--version") || !strcmp(arg, "-V")) {
        printf("mixc %s\n", MIXC_VERSION);
        return 0;
    }
    if (!strcmp(arg, "help")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const Command *c = find_command(argv[2]);
        if (!c) {
            fprintf(stderr, "mixc: unknown command '%s'\n", argv[2]);
            return 2;
        }
        char *help_argv[] = {argv[2], "--help", NULL};
        return c->run(2, help_argv);
    }
    const Command *c = find_command(arg);
    if (!c) {
        fprintf(stderr, "mixc: unknown command '%s'\n", arg);
        fprintf(stderr, "  hint: run 'mixc --help' for the list of commands\n");
        return 2;
    }
    return c->run(argc - 1, argv + 1);
}
