/* emit.c — `mixc emit`: the layout's run plan for the cuda backend, its kernels.cu and manifest.json
 * (with the plan's memory map and schedules) written as one set; --resources compiles them with
 * NVRTC and prints each kernel's registers, spills and shared memory (needs the toolkit). */
#include "codegen.h"
#include "jit.h"
#include "options.h"
#include "run_plan.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *input, *dir, *arch;
    int64_t context, chunk, page_tokens;
    bool resources;
    StringList sets;
} EmitArgs;

static const OptSpec emit_options[] = {
    OPT_OUTPUT(EmitArgs, dir, "DIR", "output directory (created if missing)"),
    OPT_ARCH(EmitArgs, arch, "target architecture (default " CODEGEN_DEFAULT_ARCH ")"),
    OPT(EmitArgs, context, OPT_COUNT, "--context", .metavar = "L",
        .help = "tokens per sequence (default: the model's context); K, M, G suffixes"),
    OPT_CHUNK(EmitArgs, chunk, "prefill chunk in tokens (default: the model's chunk)"),
    OPT_PAGE_TOKENS(EmitArgs, page_tokens, "the kernels of paged global caches, P tokens a page (docs/plan.md, \"Paged caches\")"),
    OPT_SETS(EmitArgs, sets),
    OPT(EmitArgs, resources, OPT_FLAG, "--resources",
        .help = "compile kernels.cu with NVRTC and print registers, spills, smem and blocks\n"
                "per SM; exit 1 if a kernel spills or misses its designed occupancy"),
};

static const OptCommand emit_command = {
    .prog = "mixc emit",
    .usage = "mixc emit FILE.mix -o DIR [--arch sm_80|sm_90] [--context L] [--chunk C] [--page-tokens P]\n"
             "          [--set key=value ...] [--resources]",
    .about = "Generates the specialized CUDA kernels of a layout: DIR/kernels.cu (self-contained,\n"
             "compiles with NVRTC or nvcc given CUDA's include directory) and DIR/manifest.json\n"
             "(every layer's kernels, launch geometry and cache).\n",
    OPT_TABLE(emit_options),
    .epilog = "exit status: 0 ok, 1 errors in the layout or kernels it cannot generate, 2 usage errors\n"
              "or an unreadable file.\n",
    .min_args = 1,
    .max_args = 1,
};

/* OPT_GO to go on, else the exit status (--help: 0). The caller frees a and files (opt_free). */
static int parse_emit_args(int argc, char **argv, EmitArgs *a, StringList *files) {
    memset(a, 0, sizeof *a);
    a->arch = CODEGEN_DEFAULT_ARCH;
    int rc = opt_parse(&emit_command, argc, argv, a, files);
    if (rc == OPT_GO) a->input = files->v[0];
    if (rc == OPT_GO && !a->dir) rc = opt_usage_error(&emit_command, "no output directory (-o DIR)");
    return rc;
}

/* Both files or neither, and never one layout's kernels.cu beside another's manifest.json. */
static int write_outputs(const char *dir, const Buf *src, const char *manifest) {
    const char *names[] = {"kernels.cu", "manifest.json"};
    const char *data[] = {src->data, manifest};
    size_t lens[] = {src->len, strlen(manifest)};
    if (write_dir_atomic(dir, names, data, lens, 2)) return 0;
    fprintf(stderr, "mixc emit: cannot write '%s': %s\n", dir, strerror(errno));
    return 1;
}

/* Plans, generates and writes the kernels of the loaded layout l (freed). */
static int emit_layout(const EmitArgs *a, Layout *l) {
    RunOptions opt;     /* the cuda backend's plan of one sequence at this context and chunk */
    run_options_init(l, RUN_TARGET_CUDA, &opt);
    opt.arch = a->arch;
    if (a->context) opt.context = a->context;
    if (a->chunk) opt.chunk = a->chunk;
    opt.page_tokens = a->page_tokens;
    RunPlan plan;
    char err[256];
    if (!plan_run(l, &opt, &plan, err, sizeof err)) {
        fprintf(stderr, "mixc emit: '%s': %s\n", a->input, err);
        layout_free(l);
        return 1;
    }
    const Codegen *cg = &plan.cg;
    Buf src = {0};
    codegen_source(l, cg, &src);
    json_t *extra = json_pack("{s:o, s:o}", "memory", run_plan_memory_json(l, &plan), "schedule",
                              run_plan_schedule_json(l, &plan));
    char *manifest = codegen_manifest(l, cg, extra);
    int rc = write_outputs(a->dir, &src, manifest);
    if (rc == 0 && a->resources) rc = jit_print_resources(src.data, src.len, a->arch, cg, stdout);
    free(manifest);
    buf_free(&src);
    run_plan_free(&plan);
    layout_free(l);
    return rc;
}

int cmd_emit(int argc, char **argv) {
    EmitArgs a;
    StringList files;
    int rc = parse_emit_args(argc, argv, &a, &files);
    if (rc == OPT_GO) {
        Layout l;
        LoadOptions load = {.prog = "mixc emit", .sets = a.sets.v, .nsets = a.sets.n};
        rc = load_layout_file(a.input, &load, &l, stderr);
        if (rc == 0) rc = emit_layout(&a, &l);
    }
    opt_free(&emit_command, &a, &files);
    return rc;
}
