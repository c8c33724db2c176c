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
#include "interop.h"
#include "mixc.h"
#include "options.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;


typedef struct {
    const char *dump;       /* NULL, "ast", "graph" or "plan" */
    const char *target;     /* NULL or "vllm": that engine's rules too */
    int64_t pp;             /* with target: its pipeline stages (0: one) */
    int format;             /* 0 text, 1 json */
    bool json, quiet;
    StringList sets;
} CheckOptions;

static const OptSpec check_options[] = {
    OPT(CheckOptions, dump, OPT_WORD, "--dump", .choices = "ast|graph|plan",
        .help = "print instead the parse tree (--dump=ast), the sharing graph (--dump=graph:\n"
                "caches, owners, readers) or the KV and activation plan at the layout's\n"
                "context and chunk (--dump=plan)"),
    OPT(CheckOptions, format, OPT_CHOICE, "--format", .choices = "text|json",
        .help = "print the normalized layout as text (default) or as JSON (--format=json)"),
    OPT(CheckOptions, json, OPT_FLAG, "--json", .help = "the same as --format=json"),
    OPT(CheckOptions, quiet, OPT_FLAG, "--quiet", .alias = "-q", .help = "print nothing but diagnostics"),
    OPT(CheckOptions, target, OPT_WORD, "--target", .choices = "vllm",
        .help = "also check what a serving engine can do with the layout (vllm: a reader has\n"
                "its owner's window; with --pp, sharing groups stay in one pipeline stage;\n"
                "yarn's table covers the context)"),
    OPT_PP(CheckOptions, pp, "with --target: the pipeline stages"),
    OPT_SETS(CheckOptions, sets),
};

static const OptCommand check_command = {
    .prog = "mixc check",
    .usage = "mixc check [options] FILE.mix",
    .about = "Checks a layout and prints it normalized: one row per layer with its attention, the layer\n"
             "whose cache it reads and the cache id. Diagnostics go to stderr.\n",
    OPT_TABLE(check_options),
    .epilog = "exit status: 0 valid (warnings allowed), 1 errors, 2 usage errors or an unreadable file.\n",
    .min_args = 1,
    .max_args = 1,
};

static bool is_dump(const CheckOptions *o, const char *what) {
    return o->dump && !strcmp(o->dump, what);
}

/* The exit status: 1 when the plan's figures overflow (--dump=plan) or the JSON cannot be written, else 0. */
static int print_checked(const Layout *l, const CheckOptions *o) {
    if (o->quiet || is_dump(o, "ast")) {
    } else if (is_dump(o, "graph")) {
        dump_graph(l, stdout);
    } else if (is_dump(o, "plan")) {
        if (!dump_plan(l, stdout)) {
            fprintf(stderr, "mixc check: the layout's memory figures overflow 2^62 bytes (see the plan above)\n");
            return 1;
        }
    } else if (o->json || o->format == 1) {
        Buf b = {0};
        bool encodable = layout_json(l, &b);
        if (encodable) fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        if (!encodable) {
            fprintf(stderr, "mixc check: cannot write JSON: the model name is not valid UTF-8\n");
            return 1;
        }
    } else {
        print_layout(l, stdout);
    }
    return 0;
}

int cmd_check(int argc, char **argv) {
    CheckOptions o = {0};
    StringList files;
    int rc = opt_parse(&check_command, argc, argv, &o, &files);
    if (rc == OPT_GO && o.pp && !o.target) rc = opt_usage_error(&check_command, "--pp goes with --target");
    if (rc == OPT_GO) {
        Arena arena = {0};
        Ast ast;
        LoadOptions load = {.prog = "mixc check", .sets = o.sets.v, .nsets = o.sets.n, .pp = o.pp};
        if (is_dump(&o, "ast")) load.arena = &arena, load.ast = &ast;   /* the tree after the overrides */
        Layout l;
        rc = load_layout_file(files.v[0], &load, &l, stderr);
        if (is_dump(&o, "ast") && rc != 2) dump_ast(&ast, stdout);
        arena_free(&arena);
        if (rc == 0 && o.target && !vllm_layout_ok(&l, o.pp ? (int)o.pp : 1, stderr)) rc = 1;
        if (rc == 0) rc = print_checked(&l, &o);
        layout_free(&l);
    }
    opt_free(&check_command, &o, &files);
    return rc;
}

static const Command commands[] = {
    {"check", cmd_check, "check a layout and print it normalized (--dump=ast|graph|plan)"},
    {"report", cmd_report, "static memory report: KV caches, weights, arena, GPU fit"},
    {"compare", cmd_compare, "headline memory figures of several layouts side by side"},
    {"import", cmd_import, "write a .mix from a Hugging Face config.json or an LCKV string"},
    {"export", cmd_export, "write a layout in another notation, or as a transformers or vLLM model"},
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
            "environment: NO_COLOR (no colors in diagnostics); emit --resources and build: CUDA_HOME,\n"
            "MIXC_CACHE_DIR (the kernels' cache; docs/jit.md), TMPDIR.\n"
            "The language is described in docs/language.md.\n");
}

static const Command *find_command(const char *name) {
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static int run_command(int argc, char **argv);

/* Every command's status, but 1 where what it printed on stdout was lost (mixc check >/dev/full). */
int main(int argc, char **argv) {
    int rc = run_command(argc, argv);
    if (rc == 0 && !stdout_written("mixc")) rc = 1;
    return rc;
}

static int run_command(int argc, char **argv) {
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
    bool help = !strcmp(arg, "help");
    if (help && argc < 3) {
        usage(stdout);
        return 0;
    }
    const Command *c = find_command(help ? argv[2] : arg);
    if (!c) {
        fprintf(stderr, "mixc: unknown command '%s'\n", help ? argv[2] : arg);
        fprintf(stderr, "  hint: run 'mixc --help' for the list of commands\n");
        return 2;
    }
    if (help) {
        char *help_argv[] = {argv[2], "--help", NULL};
        return c->run(2, help_argv);
    }
    return c->run(argc - 1, argv + 1);
}
