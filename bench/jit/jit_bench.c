/* jit_bench.c — cold and warm JIT time and NVRTC against `nvcc -cubin`, measured in one run.
 *
 *   jit_bench ARCH FILE.cu...
 *
 * Per file: the cold NVRTC compile (no cache; median of 3, after one warm-up compile so the
 * library load is counted once, apart), the warm compile (a cache hit; median of 5), and
 * `nvcc -cubin` of the same source with the same options (one run). Prints ratios; never fails
 * on a figure, only when something does not compile.
 */
#include "jit.h"
#include "mixc.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* One JIT compile; seconds, or -1 on failure. */
static double jit_once(const char *src, size_t len, JitOptions *opt, bool expect_hit) {
    JitResult r;
    char err[1024];
    int rc = jit_compile(src, len, opt, &r, err, sizeof err);
    double s = rc == 0 && r.cache_hit == expect_hit ? r.seconds : -1;
    if (rc != 0) fprintf(stderr, "jit_bench: %s\n", err);
    else if (r.cache_hit != expect_hit) fprintf(stderr, "jit_bench: unexpected cache %s\n", r.cache_hit ? "hit" : "miss");
    jit_result_free(&r);
    return s;
}

/* nvcc -cubin with the options the JIT uses; seconds, or -1 on failure. */
static double nvcc_once(const char *file, const char *arch, const char *incdir, const char *out) {
    const char *home = getenv("CUDA_HOME");
    char nvcc[1024], archopt[64], inc[1100];
    snprintf(nvcc, sizeof nvcc, "%s/bin/nvcc", home && *home ? home : MIXC_CUDA_HOME);
    snprintf(archopt, sizeof archopt, "-arch=%s", arch);
    snprintf(inc, sizeof inc, "-I%s", incdir);
    char *argv[] = {nvcc, "-cubin", archopt, "-std=c++17", "-Xptxas=-v", inc, "-o", (char *)out,
                    (char *)file, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
    double t0 = now_seconds();
    pid_t pid;
    int status = 0;
    int rc = posix_spawn(&pid, nvcc, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "jit_bench: cannot run %s: %s\n", nvcc, strerror(rc));
        return -1;
    }
    waitpid(pid, &status, 0);
    double s = now_seconds() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "jit_bench: nvcc failed on %s\n", file);
        return -1;
    }
    return s;
}

typedef struct {
    double cold, warm, nvcc;
} Figures;

static bool bench_file(const char *file, const char *arch, const char *tmp, Figures *f) {
    size_t len = 0;
    char *src = read_file(file, &len);
    if (!src) {
        fprintf(stderr, "jit_bench: cannot open '%s': %s\n", file, strerror(errno));
        return false;
    }
    char *copy = xstrdup(file);
    const char *dirs[] = {dirname(copy)};
    Buf cache = {0}, out = {0};
    buf_printf(&cache, "%s/cache", tmp);
    buf_printf(&out, "%s/nvcc.cubin", tmp);
    JitOptions opt = {.arch = arch, .include_dirs = dirs, .ninclude_dirs = 1, .name = file};
    double cold[3], warm[5];
    bool ok = true;
    opt.no_cache = true;
    for (int i = 0; i < 3 && ok; i++) ok = (cold[i] = jit_once(src, len, &opt, false)) >= 0;
    opt.no_cache = false;
    opt.cache_dir = cache.data;
    ok = ok && jit_once(src, len, &opt, false) >= 0;   /* fills the cache */
    for (int i = 0; i < 5 && ok; i++) ok = (warm[i] = jit_once(src, len, &opt, true)) >= 0;
    if (ok) ok = (f->nvcc = nvcc_once(file, arch, dirs[0], out.data)) >= 0;
    if (ok) {
        f->cold = median(cold, 3);
        f->warm = median(warm, 5);
        printf("%-44s %-6s %9.1f %9.3f %9.1f %10.0fx %8.1fx\n", file, arch, f->cold * 1e3,
               f->warm * 1e3, f->nvcc * 1e3, f->cold / f->warm, f->nvcc / f->cold);
    }
    nftw(cache.data, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    unlink(out.data);
    buf_free(&cache);
    buf_free(&out);
    free(copy);
    free(src);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: jit_bench ARCH FILE.cu...\n");
        return 2;
    }
    const char *arch = argv[1];
    char tmp[] = "/tmp/mixc-jit-bench.XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("jit_bench: mkdtemp");
        return 1;
    }
    /* The first NVRTC call loads the library and its builtins: timed apart. */
    static const char trivial[] = "extern \"C\" __global__ void t(int *p) { *p = 1; }\n";
    JitOptions first = {.arch = arch, .no_cache = true};
    double init = jit_once(trivial, sizeof trivial - 1, &first, false);
    printf("first NVRTC compile of a trivial kernel (library load included): %.1f ms\n\n", init * 1e3);
    printf("%-44s %-6s %9s %9s %9s %11s %9s\n", "source", "arch", "cold ms", "warm ms", "nvcc ms",
           "cold/warm", "nvcc/cold");
    Figures total = {0};
    int bad = 0;
    for (int i = 2; i < argc; i++) {
        Figures f;
        if (!bench_file(argv[i], arch, tmp, &f)) {
            bad++;
            continue;
        }
        total.cold += f.cold, total.warm += f.warm, total.nvcc += f.nvcc;
    }
    if (argc > 3 && total.warm > 0)
        printf("%-44s %-6s %9.1f %9.3f %9.1f %10.0fx %8.1fx\n", "total", arch, total.cold * 1e3,
               total.warm * 1e3, total.nvcc * 1e3, total.cold / total.warm, total.nvcc / total.cold);
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return bad ? 1 : 0;
}
