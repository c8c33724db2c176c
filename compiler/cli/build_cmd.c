/* build_cmd.c — `mixc build`'s command line (build.h): its options, usage and checks, and the layout
 * it is given, read and checked as mixrun would. In every build of mixc, so that --help and every
 * usage or layout error are the same with or without the CUDA toolkit; build_binary (build.c) then
 * writes the executable. */
#include "build.h"
#include "run_plan.h"

#include <stdlib.h>

static const OptSpec build_options[] = {
    OPT_OUTPUT(BuildArgs, output, "BIN", "the executable to write (atomically)"),
    OPT_ARCH(BuildArgs, arch, "GPU architecture of the cubin (default " CODEGEN_DEFAULT_ARCH ")"),
    OPT_SETS(BuildArgs, sets),
    OPT(BuildArgs, verbose, OPT_FLAG, "--verbose", .alias = "-v", .help = "show the compiler and linker commands"),
    OPT(BuildArgs, no_emu, OPT_FLAG, "--no-emu", .help = "do not embed emulator kernels (BIN --backend emu then fails)"),
    OPT_PAGE_TOKENS(BuildArgs, page_tokens, "kernels for paged global caches of pages of P tokens: BIN runs paged\n"
                                            "with them (docs/plan.md, \"Paged caches\"; default: unpaged kernels)"),
};

static const OptCommand build_command = {
    .prog = "mixc build",
    .usage = "mixc build FILE.mix -o BIN [--arch sm_80|sm_90] [--set key=value ...] [--page-tokens P] [--no-emu] [-v]",
    .about = "Writes BIN, a mixrun specialized to this layout: the layout, its kernels compiled to cubin for\n"
             "--arch and the same kernels compiled for the CPU emulator are embedded, so the binary\n"
             "JIT-compiles nothing at start-up. BIN takes mixrun's options except --layout and --set\n"
             "(fixed here), plus --info; `BIN serve ...` is mixrun serve, the OpenAI-compatible HTTP\n"
             "server (docs/serving.md). docs/model.md describes mixrun.\n",
    OPT_TABLE(build_options),
    .epilog = "environment: CC (host C compiler, default cc), MIXC_LIBDIR (where libmixcrt.a is), CUDA_HOME.\n"
              "exit status: 0 ok, 1 errors in the layout or a failed compile/link, 2 usage errors or an\n"
              "unreadable file.\n",
    .min_args = 1,
    .max_args = 1,
};

/* Whether the layout takes pages of a->page_tokens tokens (the run plan's rules: a page no longer than
 * the context); 1 with the reason when not. */
static int check_pages(const BuildArgs *a, const Layout *l) {
    if (!a->page_tokens) return 0;
    RunOptions o;
    RunPlan p;
    char why[256];
    run_options_init(l, RUN_TARGET_CUDA, &o);
    o.page_tokens = a->page_tokens;
    if (!plan_run(l, &o, &p, why, sizeof why)) {
        fprintf(stderr, "mixc build: --page-tokens %lld: %s\n", (long long)a->page_tokens, why);
        return 1;
    }
    run_plan_free(&p);
    return 0;
}

int cmd_build(int argc, char **argv) {
    BuildArgs a = {.arch = CODEGEN_DEFAULT_ARCH};
    StringList files;
    int rc = opt_parse(&build_command, argc, argv, &a, &files);
    if (rc == OPT_GO && !a.output) rc = opt_usage_error(&build_command, "no output given (-o BIN)");
    char err[256] = "";
    if (rc == OPT_GO && !output_path_usable(a.output, err, sizeof err)) {
        fprintf(stderr, "mixc build: %s\n", err);
        rc = 1;
    }
    if (rc == OPT_GO && !path_is_plain(files.v[0])) {
        fprintf(stderr, "mixc build: unsupported characters in the file name '%s'\n", files.v[0]);
        rc = 1;
    }
    if (rc == OPT_GO) {
        a.input = files.v[0];
        char *text = NULL;
        size_t len = 0;
        LoadOptions load = {.prog = "mixc build", .sets = a.sets.v, .nsets = a.sets.n, .text = &text, .len = &len};
        Layout l;
        rc = load_layout_file(a.input, &load, &l, stderr);
        if (rc == 0) {
            rc = check_pages(&a, &l);
            if (rc == 0) rc = build_binary(&a, &l, text, len);
            layout_free(&l);
        }
        free(text);
    }
    opt_free(&build_command, &a, &files);
    return rc;
}
