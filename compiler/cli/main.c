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

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;


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
        dump_plan(&l, stdout);
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
