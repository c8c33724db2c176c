/* build.c — `mixc build`: a specialized executable for one layout.
 *
 *   mixc build FILE.mix -o BIN [--arch sm_90] [--set key=value ...] [--no-emu]
 *
 * The binary is mixrun (runtime/cli/mixrun.c) linked with one more object that embeds the layout (its
 * .mix text and the --set overrides, so it is checked and planned exactly as mixrun would), the
 * kernels compiled to cubin for --arch (the cuda backend loads them instead of running NVRTC) and,
 * unless --no-emu, the same kernels compiled for the CPU emulator (the emu backend loads them
 * instead of running the host compiler). Nothing is JIT-compiled when the binary starts.
 *
 * The runtime comes as libmixcrt.a (every compiler and runtime object plus mixrun's own,
 * mixrun.o and mixrun_options.o), found next to the mixc executable or in $MIXC_LIBDIR; the link
 * flags it needs were recorded when mixc was built (MIXC_LINK_FLAGS). The host C compiler is $CC (default cc). The output is written atomically.
 */
#include "mixc.h"

#include "emu_backend.h"
#include "jit.h"
#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MIXC_LINK_FLAGS
#define MIXC_LINK_FLAGS ""
#endif


typedef struct {
    const char *input, *output, *arch;
    StringList sets;
    bool no_emu, verbose;
    int64_t page_tokens;
} BuildArgs;

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

/* ------------------------------------------------------------------ files and commands */

static bool write_bytes(const char *dir, const char *name, const void *data, size_t len, char *path, size_t pathlen) {
    snprintf(path, pathlen, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* Runs a shell command line (its temporaries in the workspace: run_in_own_group); its output goes to
 * stderr. false (reported) when it fails. */
static bool run_command(const char *what, const char *cmd, const char *workspace, bool verbose) {
    if (verbose) fprintf(stderr, "  %s\n", cmd);
    int st = run_in_own_group(cmd, workspace);
    if (st == 0) return true;
    if (st == -1)
        fprintf(stderr, "mixc build: cannot run the %s: %s\n", what, strerror(errno));
    else if (WIFEXITED(st))
        fprintf(stderr, "mixc build: the %s failed (exit %d): %s\n", what, WEXITSTATUS(st), cmd);
    else
        fprintf(stderr, "mixc build: the %s was killed: %s\n", what, cmd);
    return false;
}

/* The directory of libmixcrt.a: $MIXC_LIBDIR, else the directory of this executable. */
static bool find_libdir(char *out, size_t outlen) {
    const char *env = getenv("MIXC_LIBDIR");
    if (env && *env) {
        snprintf(out, outlen, "%s", env);
    } else {
        ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
        if (n <= 0) return false;
        out[n] = '\0';
        char *slash = strrchr(out, '/');
        if (!slash) return false;
        *slash = '\0';
    }
    char lib[4200];
    snprintf(lib, sizeof lib, "%s/libmixcrt.a", out);
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "mixc build: cannot find the runtime library '%s' (build it with make, or set MIXC_LIBDIR)\n",
                lib);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ the embedded object */

/* One embedded blob: a symbol for its start and one for its end, the bytes from a file (.incbin),
 * plus a NUL so text blobs can be read as strings. */
static void embed_blob(Buf *c, const char *symbol, const char *path) {
    buf_printf(c,
               "__asm__(\".section .rodata\\n\"\n"
               "        \".balign 16\\n\"\n"
               "        \".globl %s\\n%s:\\n\"\n"
               "        \".incbin \\\"%s\\\"\\n\"\n"
               "        \".globl %s_end\\n%s_end:\\n\"\n"
               "        \".byte 0\\n\"\n"
               "        \".previous\\n\");\n",
               symbol, symbol, path, symbol, symbol);
}

typedef struct {
    char dir[4096];
    char mix[4200], sets[4200], cubin[4200], so[4200], name[4200], arch[4200], pages[4200], embed_c[4200],
        embed_o[4200];
} Workspace;

/* The paths may not contain characters the assembler string or the shell would misread. */
static bool path_is_plain(const char *p) {
    for (; *p; p++)
        if (*p == '"' || *p == '\\' || *p == '\'' || *p == '\n') return false;
    return true;
}

static bool write_embed_source(const Workspace *w, bool with_emu) {
    Buf c = {0};
    buf_puts(&c, "/* Generated by mixc build: the layout and kernels this binary is specialized to. */\n");
    embed_blob(&c, "mixc_embedded_name", w->name);
    embed_blob(&c, "mixc_embedded_mix", w->mix);
    embed_blob(&c, "mixc_embedded_sets", w->sets);
    embed_blob(&c, "mixc_embedded_arch", w->arch);
    embed_blob(&c, "mixc_embedded_pages", w->pages);
    embed_blob(&c, "mixc_embedded_cubin", w->cubin);
    if (with_emu) embed_blob(&c, "mixc_embedded_emu_so", w->so);
    FILE *f = fopen(w->embed_c, "w");
    bool ok = f && fwrite(c.data, 1, c.len, f) == c.len;
    if (f && fclose(f) != 0) ok = false;
    buf_free(&c);
    return ok;
}

/* ------------------------------------------------------------------ the steps */

static int compile_cubin(const Layout *l, const char *arch, int64_t page_tokens, Workspace *w) {
    CodegenOptions opt = {.arch = arch, .page_tokens = page_tokens};
    Codegen cg;
    char err[512];
    fprintf(stderr, "mixc build: compiling the kernels for %s\n", arch);
    if (!codegen_plan(l, &opt, &cg, err, sizeof err)) {
        fprintf(stderr, "mixc build: %s\n", err);
        return 1;
    }
    Buf src = {0};
    codegen_source(l, &cg, &src);
    codegen_free(&cg);
    JitOptions jo = {.arch = arch, .output = JIT_CUBIN, .name = "kernels.cu"};
    JitResult r;
    int rc = jit_compile(src.data, src.len, &jo, &r, err, sizeof err);
    if (rc == 2) {
        fprintf(stderr, "mixc build: needs the CUDA toolkit: %s\n", err);
    } else if (rc != 0) {
        fprintf(stderr, "mixc build: the kernels do not compile: %s\n", err);
    } else {
        fprintf(stderr, "mixc build: kernels for %s: %zu bytes of cubin (%s, %.2f s)\n", arch, r.image_len,
                r.cache_hit ? "from the JIT cache" : "NVRTC", r.seconds);
        if (!write_bytes(w->dir, "kernels.cubin", r.image, r.image_len, w->cubin, sizeof w->cubin)) {
            fprintf(stderr, "mixc build: cannot write '%s': %s\n", w->cubin, strerror(errno));
            rc = 1;
        }
    }
    jit_result_free(&r);
    buf_free(&src);
    return rc;
}

static int compile_emu(const Layout *l, int64_t page_tokens, Workspace *w) {
    snprintf(w->so, sizeof w->so, "%s/kernels-emu.so", w->dir);
    char err[1024];
    fprintf(stderr, "mixc build: compiling the kernels for the emulator\n");
    bool from_cache = false;
    if (!emu_backend_compile_so(l, page_tokens, w->so, &from_cache, err, sizeof err)) {
        fprintf(stderr, "mixc build: the emulator kernels do not compile: %s\n", err);
        return 1;
    }
    struct stat st;
    if (stat(w->so, &st) == 0)
        fprintf(stderr, "mixc build: emulator kernels: %lld bytes%s\n", (long long)st.st_size,
                from_cache ? " (from the cache)" : "");
    return 0;
}

static int link_binary(const BuildArgs *a, const Workspace *w, const char *libdir, const char *tmp_out) {
    const char *cc = getenv("CC");
    if (!cc || !*cc) cc = "cc";
    Buf cmd = {0};
    buf_printf(&cmd, "%s -c -o ", cc);
    buf_shell_quote(&cmd, w->embed_o);
    buf_puts(&cmd, " ");
    buf_shell_quote(&cmd, w->embed_c);
    bool ok = run_command("C compiler", cmd.data, w->dir, a->verbose);
    buf_free(&cmd);
    if (!ok) return 1;
    buf_printf(&cmd, "%s -o ", cc);
    buf_shell_quote(&cmd, tmp_out);
    buf_puts(&cmd, " ");
    buf_shell_quote(&cmd, w->embed_o);
    buf_puts(&cmd, " ");
    char lib[4200];
    snprintf(lib, sizeof lib, "%s/libmixcrt.a", libdir);
    /* Whole archive: every runtime object goes into the binary, also what only the kernels it
     * loads at run time may call back (exported with -rdynamic). */
    buf_puts(&cmd, "-Wl,--whole-archive ");
    buf_shell_quote(&cmd, lib);
    buf_puts(&cmd, " -Wl,--no-whole-archive");
    buf_printf(&cmd, " -L");
    buf_shell_quote(&cmd, libdir);
    buf_printf(&cmd, " %s", MIXC_LINK_FLAGS);
    ok = run_command("linker", cmd.data, w->dir, a->verbose);
    buf_free(&cmd);
    return ok ? 0 : 1;
}

/* Writes the layout text, the overrides (one per line: a valid one holds no newline), its name, the
 * arch and the kernels' page tokens (decimal; 0: unpaged). */
static bool write_layout_files(const BuildArgs *a, const char *text, size_t len, Workspace *w) {
    Buf sets = {0};
    for (int i = 0; i < a->sets.n; i++) buf_printf(&sets, "%s\n", a->sets.v[i]);
    char pages[32];
    snprintf(pages, sizeof pages, "%lld", (long long)a->page_tokens);
    bool ok = write_bytes(w->dir, "layout.mix", text, len, w->mix, sizeof w->mix) &&
              write_bytes(w->dir, "sets", sets.data ? sets.data : "", sets.len, w->sets, sizeof w->sets) &&
              write_bytes(w->dir, "name", a->input, strlen(a->input), w->name, sizeof w->name) &&
              write_bytes(w->dir, "arch", a->arch, strlen(a->arch), w->arch, sizeof w->arch) &&
              write_bytes(w->dir, "pages", pages, strlen(pages), w->pages, sizeof w->pages);
    buf_free(&sets);
    return ok;
}

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

/* A built binary is tens of MiB; this bounds the read of what the linker wrote. */
#define BUILT_BINARY_LIMIT ((size_t)4 << 30)

static bool install_binary(const char *linked, const char *output) {
    size_t n;
    char *data = read_file_limited(linked, BUILT_BINARY_LIMIT, &n);
    bool ok = data && write_executable_atomic(output, data, n);
    if (!ok) fprintf(stderr, "mixc build: cannot write '%s': %s\n", output, strerror(errno));
    free(data);
    return ok;
}

static int build(const BuildArgs *a, const Layout *l, const char *text, size_t len) {
    char libdir[4096];
    if (!find_libdir(libdir, sizeof libdir)) return 1;
    Workspace w;
    memset(&w, 0, sizeof w);
    const char *tmp = getenv("TMPDIR");
    snprintf(w.dir, sizeof w.dir, "%s/mixc-build-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    sigset_t old;
    signals_hold(&old);   /* until the workspace is registered below */
    if (!path_is_plain(w.dir) || !mkdtemp(w.dir)) {
        signals_release(&old);
        fprintf(stderr, "mixc build: cannot create a temporary directory '%s': %s\n", w.dir, strerror(errno));
        return 1;
    }
    snprintf(w.embed_c, sizeof w.embed_c, "%s/embed.c", w.dir);
    snprintf(w.embed_o, sizeof w.embed_o, "%s/embed.o", w.dir);
    /* Linked inside the private workspace, then installed by the one output writer. */
    char tmp_out[sizeof w.dir + 16];
    snprintf(tmp_out, sizeof tmp_out, "%s/a.out", w.dir);
    /* The workspace's files, then the directory: removed at the end, or first should a signal end the build. */
    const char *temporaries[] = {w.mix,     w.sets,    w.cubin,   w.so,    w.name, w.arch,
                                 w.pages,   w.embed_c, w.embed_o, tmp_out, w.dir};
    int ntemporaries = (int)(sizeof temporaries / sizeof *temporaries);
    remove_on_signal(temporaries, ntemporaries);
    signals_release(&old);
    int rc = write_layout_files(a, text, len, &w) ? 0 : 1;
    if (rc) fprintf(stderr, "mixc build: cannot write into '%s': %s\n", w.dir, strerror(errno));
    if (!rc) rc = compile_cubin(l, a->arch, a->page_tokens, &w);
    if (!rc && !a->no_emu) rc = compile_emu(l, a->page_tokens, &w);
    if (!rc && !write_embed_source(&w, !a->no_emu)) {
        fprintf(stderr, "mixc build: cannot write '%s': %s\n", w.embed_c, strerror(errno));
        rc = 1;
    }
    if (!rc) fprintf(stderr, "mixc build: linking %s\n", a->output);
    if (!rc) rc = link_binary(a, &w, libdir, tmp_out);
    if (!rc && !install_binary(tmp_out, a->output)) rc = 1;
    remove_paths(temporaries, ntemporaries);
    remove_on_signal(NULL, 0);
    return rc;
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
            if (rc == 0) rc = build(&a, &l, text, len);
            layout_free(&l);
        }
        free(text);
    }
    opt_free(&build_command, &a, &files);
    return rc;
}
