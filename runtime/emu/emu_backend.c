/* emu_backend.c — the emu backend: the cuda backend (runtime/cuda/cuda_backend.c) on the emulated
 * device (emu_device.c): the same run plan, allocations, schedules, parameter structs and launches as
 * on a GPU, with host memory for device memory, the layout's generated kernels compiled as host C++
 * and run in the CUDA-on-CPU emulator, and the GEMMs computed on the CPU as cuBLAS defines them.
 * emu_backend.h says where the kernels come from; docs/model.md ("emu backend") how it works.
 *
 * The kernels are planned for the model's context and chunk (one .so serves every run of a layout;
 * the caches then have the kernels' capacities), for sm_80 (the device says 8.0). Each open backend
 * holds its own module, so backends of different layouts can be open in one process at once.
 */
#include "emu_backend.h"

#include "codegen.h"
#include "cuda_backend.h"
#include "emu/emu_api.h"
#include "emu_device.h"
#include "jit.h"
#include "jit_cache.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The emulator is linked into mixrun and built binaries, not into mixc (which only compiles): weak
 * references, checked before use. */
#pragma weak mixc_emu_launch_c
#pragma weak mixc_emu_dlopen_kernels
#pragma weak mixc_emu_find_kernel
#pragma weak mixc_emu_dlclose

/* The emulator's headers, assembled into this object (paths relative to the repository root where
 * make runs; mk/mixrun.mk makes emu_backend.o depend on them), NUL-terminated. */
#define EMBED(sym, path)                                                                           \
    __asm__(".section .rodata\n.global " #sym "\n.type " #sym ", @object\n.balign 16\n" #sym      \
            ":\n.incbin \"" path "\"\n.byte 0\n.previous\n");                                      \
    extern const char sym[];
EMBED(mixc_emub_mixc_emu_h, "runtime/emu/mixc_emu.h")
EMBED(mixc_emub_emu_api_h, "runtime/emu/emu_api.h")

/* Extra flags of this build (the sanitizers in the sanitizer build), from mk/mixrun.mk. */
#ifndef MIXC_EMU_BUILD_FLAGS
#define MIXC_EMU_BUILD_FLAGS ""
#endif

/* kernel_params_asserts, for the kernels source: the structs' host layout as the emulator sees them
 * (its device pointers are host pointers). */
#define MIXC_DPTR(T) T *
#include "kernel_params.h"

/* ------------------------------------------------------------------ the source */

static void hex_digest(const void *data, size_t len, char hex[65]) {
    uint8_t d[32];
    jit_sha256(data, len, d);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* The layout's kernels.cu as `mixc emit` writes it, plus the layout checks of the C mirrors and
 * the source's own key (so a prebuilt .so can be matched to the layout it was built from). */
static void make_source(const Layout *l, const Codegen *cg, Buf *src, char key[65]) {
    codegen_source(l, cg, src);
    hex_digest(src->data, src->len, key);
    kernel_params_asserts(src);
    buf_printf(src, "extern \"C\" const char mixc_emu_source_key[] = \"%s\";\n", key);
}

/* ------------------------------------------------------------------ compiling */

static const char *cxx_command(void) {
    const char *c = getenv("MIXC_CXX");
    return c && *c ? c : "c++";
}

/* The compile command for dir/kernels.cu -> out (MIXC_CXX may hold several words: not quoted).
 * -Og: measured a third faster to compile than -O1 (0.73 s against 1.13 s for gemma3-27b at test size)
 * with the emulated run as fast, most of whose time is the emulator's own code. */
static void compile_command(Buf *cmd, const char *dir, const char *out) {
    const char *extra = getenv("MIXC_EMU_CXXFLAGS");
    buf_printf(cmd, "%s -std=c++17 -Og -fPIC -shared -w -DMIXC_EMU %s %s -include ", cxx_command(),
               MIXC_EMU_BUILD_FLAGS, extra ? extra : "");
    Buf p = {0};
    buf_printf(&p, "%s/mixc_emu.h", dir);
    buf_shell_quote(cmd, p.data);
    buf_puts(cmd, " -I");
    buf_shell_quote(cmd, dir);
    p.len = 0;
    buf_printf(&p, "%s/include", jit_cuda_home());
    buf_puts(cmd, " -I");
    buf_shell_quote(cmd, p.data);
    p.len = 0;
    buf_printf(&p, "%s/kernels.cu", dir);
    buf_puts(cmd, " -x c++ ");
    buf_shell_quote(cmd, p.data);
    buf_puts(cmd, " -o ");
    buf_shell_quote(cmd, out);
    buf_free(&p);
}

static bool write_into(const char *dir, const char *name, const char *data, size_t len) {
    Buf p = {0};
    buf_printf(&p, "%s/%s", dir, name);
    FILE *f = fopen(p.data, "wb");
    bool ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    buf_free(&p);
    return ok;
}

/* The compile's workspace: its files, then the directory (as remove_paths takes them). 4200 bytes
 * hold each: the directory came from mkdtemp, which refuses a path past PATH_MAX (4096), so no
 * name is cut short (a cut one could name another file to remove). */
#define WORKSPACE_PATHS 5
static void workspace_paths(const char *dir, char files[WORKSPACE_PATHS][4200], const char *paths[WORKSPACE_PATHS]) {
    const char *names[] = {"kernels.cu", "mixc_emu.h", "emu_api.h", "log"};
    for (int i = 0; i < WORKSPACE_PATHS; i++) {
        if (i < WORKSPACE_PATHS - 1) snprintf(files[i], sizeof files[i], "%s/%s", dir, names[i]);
        else snprintf(files[i], sizeof files[i], "%s", dir);
        paths[i] = files[i];
    }
}

/* Shows the compiler's log on stderr (it may be long; err holds one line). */
static void print_log(const char *dir) {
    Buf p = {0};
    buf_printf(&p, "%s/log", dir);
    size_t len = 0;
    char *log = read_file(p.data, &len);
    if (log && len) {
        fprintf(stderr, "%s: the emulator kernels' compiler log:\n", prog_name());
        fwrite(log, 1, len, stderr);
        if (log[len - 1] != '\n') fputc('\n', stderr);
    }
    free(log);
    buf_free(&p);
}

/* Compiles src into out (written by the compiler itself: the caller renames it into place). */
static bool compile_source(const Buf *src, const char *out, char *err, size_t errlen) {
    const char *tmp = getenv("TMPDIR");
    Buf dir = {0};
    buf_printf(&dir, "%s/mixc-emu-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    sigset_t old;
    signals_hold(&old);   /* until the workspace is registered: a killed compile leaves nothing */
    if (!mkdtemp(dir.data)) {
        signals_release(&old);
        snprintf(err, errlen, "cannot create a temporary directory '%s': %s", dir.data, strerror(errno));
        buf_free(&dir);
        return false;
    }
    char files[WORKSPACE_PATHS][4200];
    const char *paths[WORKSPACE_PATHS];
    workspace_paths(dir.data, files, paths);
    remove_on_signal(paths, WORKSPACE_PATHS);
    signals_release(&old);
    bool ok = write_into(dir.data, "kernels.cu", src->data, src->len) &&
              write_into(dir.data, "mixc_emu.h", mixc_emub_mixc_emu_h, strlen(mixc_emub_mixc_emu_h)) &&
              write_into(dir.data, "emu_api.h", mixc_emub_emu_api_h, strlen(mixc_emub_emu_api_h));
    if (!ok) snprintf(err, errlen, "cannot write into '%s': %s", dir.data, strerror(errno));
    Buf cmd = {0};
    compile_command(&cmd, dir.data, out);
    if (ok) {
        Buf full = {0};
        buf_printf(&full, "%s >", cmd.data);
        Buf logp = {0};
        buf_printf(&logp, "%s/log", dir.data);
        buf_shell_quote(&full, logp.data);
        buf_puts(&full, " 2>&1 </dev/null");
        int st = run_in_own_group(full.data, dir.data);
        buf_free(&full);
        buf_free(&logp);
        if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            print_log(dir.data);
            int code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            /* The outcome first: the command may be longer than err. */
            snprintf(err, errlen, "cannot compile the kernels for the emulator: %s: `%s`",
                     code == 127 ? "command not found (set MIXC_CXX to a C++ compiler)"
                     : code == -1 ? "the compiler was killed or could not run"
                                  : "the compiler failed (its log is above)",
                     cmd.data);
            unlink(out);
            ok = false;
        }
    }
    buf_free(&cmd);
    remove_paths(paths, WORKSPACE_PATHS);
    remove_on_signal(NULL, 0);
    buf_free(&dir);
    return ok;
}

/* Compiles to an unpredictable temporary name next to out, fsyncs it, then renames: nothing
 * half-written on failure, and a crash after the rename leaves a whole file. */
static bool compile_to(const Buf *src, const char *out, char *err, size_t errlen) {
    Buf tmp = {0};
    buf_printf(&tmp, "%s.tmp.XXXXXX", out);
    sigset_t old;
    signals_hold(&old);   /* until the temporary is registered */
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        signals_release(&old);
        snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno));
        buf_free(&tmp);
        return false;
    }
    close(fd);
    const char *tmp_path[] = {tmp.data};
    remove_on_signal(tmp_path, 1);
    signals_release(&old);
    bool ok = compile_source(src, tmp.data, err, errlen);
    fd = ok ? open(tmp.data, O_RDONLY | O_CLOEXEC) : -1;
    if (ok && (fd < 0 || fsync(fd) != 0 || rename(tmp.data, out) != 0)) {
        snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno));
        ok = false;
    }
    if (fd >= 0) close(fd);
    if (!ok) unlink(tmp.data);
    remove_on_signal(NULL, 0);
    buf_free(&tmp);
    return ok;
}

/* ------------------------------------------------------------------ the disk cache */

static bool verbose(void) {
    const char *env = getenv("MIXC_EMU_VERBOSE");
    return env && *env && strcmp(env, "0") != 0;
}

/* The cache entry's path for src: the key covers the source, the headers and the command. NULL when
 * there is no usable cache directory. */
static char *cache_path(const Buf *src) {
    if (jit_cache_disabled_by_env()) return NULL;
    char *dir = jit_cache_dir();
    if (!dir || !jit_make_dirs(dir)) {
        free(dir);
        return NULL;
    }
    Buf all = {0};
    buf_printf(&all, "%s", src->data);
    buf_puts(&all, mixc_emub_mixc_emu_h);
    buf_puts(&all, mixc_emub_emu_api_h);
    compile_command(&all, "DIR", "OUT");
    char hex[65];
    hex_digest(all.data, all.len, hex);
    buf_free(&all);
    Buf p = {0};
    buf_printf(&p, "%s/emu-%s.so", dir, hex);
    free(dir);
    return p.data;
}

/* A cache entry is the .so and, beside it, NAME.sha256 holding the SHA-256 of its bytes, written
 * after it. A .so is loaded only when its bytes match: a truncated or corrupted file would crash
 * dlopen or the kernels (SIGBUS, SIGILL) in every later run instead of being rebuilt. */
#define EMU_SO_LIMIT ((size_t)1 << 30)

static bool file_digest(const char *path, char hex[65]) {
    size_t len = 0;
    char *data = read_file_limited(path, EMU_SO_LIMIT, &len);
    if (!data) return false;
    hex_digest(data, len, hex);
    free(data);
    return true;
}

static char *digest_path(const char *so_path) {
    Buf p = {0};
    buf_printf(&p, "%s.sha256", so_path);
    return p.data;
}

/* NULL when the entry at path is whole, else why not (for the warning). */
static const char *entry_damage(const char *path) {
    char want[65], got[65];
    char *dp = digest_path(path);
    size_t n = 0;
    char *text = read_file_limited(dp, 4096, &n);
    free(dp);
    bool have = text && n >= 64;
    if (have) memcpy(want, text, 64), want[64] = '\0';
    free(text);
    if (!have) return "no checksum beside it";
    if (!file_digest(path, got)) return "unreadable";
    return strcmp(want, got) == 0 ? NULL : "checksum mismatch";
}

static void store_digest(const char *path) {
    char hex[65];
    char *dp = digest_path(path);
    if (!file_digest(path, hex) || !write_file_atomic(dp, hex, 64))
        fprintf(stderr, "%s: warning: cannot write the checksum of the emu cache entry '%s': %s\n", prog_name(), path,
                strerror(errno));
    free(dp);
}

/* ------------------------------------------------------------------ loading */

/* Loads path and checks it was built from the source whose key is `key`. */
static void *load_so(const char *path, const char *key, char *err, size_t errlen) {
    void *so = mixc_emu_dlopen_kernels(path, err, errlen);
    if (!so) return NULL;
    const char *got = dlsym(so, "mixc_emu_source_key");
    if (!got || strcmp(got, key) != 0) {
        snprintf(err, errlen, "the emulator kernels in '%s' were built for another layout", path);
        mixc_emu_dlclose(so);
        return NULL;
    }
    return so;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Whether the directory of file path can take new files. */
static bool dir_writable(const char *path) {
    char *d = xstrdup(path);
    char *slash = strrchr(d, '/');
    if (slash) *slash = '\0';
    bool ok = access(slash ? (*d ? d : "/") : ".", W_OK) == 0;
    free(d);
    return ok;
}

/* Whether the CUDA headers the kernels compile against are there (a program built with the toolkit
 * may run where it is gone); false with a message in err. */
static bool toolkit_headers_found(char *err, size_t errlen) {
    Buf p = {0};
    buf_printf(&p, "%s/include/cuda_runtime.h", jit_cuda_home());
    bool found = access(p.data, R_OK) == 0;
    if (!found) snprintf(err, errlen, "the emu backend needs the CUDA toolkit: no %s (set CUDA_HOME)", p.data);
    buf_free(&p);
    return found;
}

/* Whether the cache entry at path (NULL: no cache) is there and whole; a damaged one is said on
 * stderr (the caller compiles it again). */
static bool entry_whole(const char *path) {
    if (!path || access(path, F_OK) != 0) return false;
    const char *damage = entry_damage(path);
    if (damage) fprintf(stderr, "%s: warning: emu cache entry '%s' is damaged (%s); recompiling\n", prog_name(), path, damage);
    return !damage && access(path, R_OK) == 0;
}

/* The .so for src: from the cache entry at path (NULL: no cache), or compiled (into it). *status: 2
 * when it would have to be compiled and the toolkit is missing, else 1. */
static void *load_or_compile(const char *path, const Buf *src, const char *key, int *status, char *err,
                             size_t errlen) {
    if (entry_whole(path)) {
        void *so = load_so(path, key, err, errlen);
        if (so && verbose()) fprintf(stderr, "%s: emu: kernels from the cache: %s\n", prog_name(), path);
        if (so) return so;
        fprintf(stderr, "%s: warning: %s; recompiling\n", prog_name(), err);   /* a damaged entry */
    }
    *status = 1;
    if (!toolkit_headers_found(err, errlen)) {
        *status = 2;
        return NULL;
    }
    if (path && !dir_writable(path)) path = NULL;   /* a read-only cache: compile for this run only */
    Buf out = {0};
    if (path) buf_puts(&out, path);
    else buf_printf(&out, "%s/mixc-emu-%ld.so", getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                    (long)getpid());
    double t0 = now_s();
    void *so = NULL;
    if (compile_to(src, out.data, err, errlen)) {
        if (verbose()) fprintf(stderr, "%s: emu: compiled the kernels in %.2f s: %s\n", prog_name(), now_s() - t0, out.data);
        if (path) store_digest(path);
        so = load_so(out.data, key, err, errlen);
        if (!path) unlink(out.data);   /* no cache: the mapping outlives the file */
    }
    buf_free(&out);
    return so;
}

/* out_so: a copy of src's cache entry, compiled into the cache first where it is missing or damaged
 * (under the entry's lock, as a run's); compiled straight to out_so where no cache can take it. */
static bool compile_so_cached(const Buf *src, const char *out_so, bool *from_cache, char *err, size_t errlen) {
    char *path = cache_path(src);
    int lock = path ? jit_cache_lock(path) : -1;
    bool whole = entry_whole(path);
    if (from_cache) *from_cache = whole;
    bool into_cache = !whole && path && dir_writable(path);
    bool ok = whole || compile_to(src, into_cache ? path : out_so, err, errlen);
    if (ok && into_cache) store_digest(path);
    jit_cache_unlock(lock, path);
    if (ok && whole && verbose()) fprintf(stderr, "%s: emu: kernels from the cache: %s\n", prog_name(), path);
    if (ok && (whole || into_cache)) {
        size_t len = 0;
        char *data = read_file_limited(path, EMU_SO_LIMIT, &len);
        ok = data && write_file_atomic(out_so, data, len);
        if (!ok) snprintf(err, errlen, "cannot copy '%s' to '%s': %s", path, out_so, strerror(errno));
        free(data);
    }
    free(path);
    return ok;
}

/* The kernels the emu backend plans (run_options_init, target emu), through the cache as a run's. */
bool emu_backend_compile_so(const Layout *l, int64_t page_tokens, const char *out_so, bool *from_cache, char *err,
                            size_t errlen) {
    RunOptions o;
    run_options_init(l, RUN_TARGET_EMU, &o);
    CodegenOptions co = {o.arch, o.kernel_context, o.kernel_chunk, page_tokens};
    Codegen cg;
    if (!codegen_plan(l, &co, &cg, err, errlen)) return false;
    Buf src = {0};
    char key[65];
    make_source(l, &cg, &src, key);
    codegen_free(&cg);
    bool ok = compile_so_cached(&src, out_so, from_cache, err, errlen);
    buf_free(&src);
    return ok;
}

/* The .so for src, from the cache or compiled, under the entry's lock: two runs of one layout
 * starting together compile it once. */
static void *compile_and_load(const Buf *src, const char *key, int *status, char *err, size_t errlen) {
    char *path = cache_path(src);
    int lock = path ? jit_cache_lock(path) : -1;
    void *so = load_or_compile(path, src, key, status, err, errlen);
    jit_cache_unlock(lock, path);
    free(path);
    return so;
}

/* The emulated device's module: cg's kernels as a host shared object, from cfg's prebuilt one (a
 * binary written by `mixc build`), the cache, or compiled. */
static int emu_load_module(const CudaDevice *d, const Layout *l, const Codegen *cg, const char *arch,
                           const BackendConfig *cfg, CUmodule *mod, char *err, size_t errlen) {
    (void)d, (void)arch;
    Buf src = {0};
    char key[65];
    make_source(l, cg, &src, key);
    int status = 1;
    void *so;
    if (cfg->emu_kernels_so) {
        so = load_so(cfg->emu_kernels_so, key, err, errlen);
        if (so && verbose()) fprintf(stderr, "%s: emu: prebuilt kernels\n", prog_name());
    } else {
        so = compile_and_load(&src, key, &status, err, errlen);
    }
    buf_free(&src);
    if (!so) return status;
    *mod = (CUmodule)so;
    return 0;
}

/* The toolkit is here (without it, no_toolkit.c's says so); the emulator must be linked in. */
int emu_backend_usable(char *err, size_t errlen) {
    if (!mixc_emu_launch_c || !mixc_emu_dlopen_kernels || !mixc_emu_find_kernel || !mixc_emu_dlclose)
        return backend_open_error(err, errlen, 1, "this program was linked without the emulator (libmixcemu.a); "
                                                  "the emu backend cannot run");
    return 0;
}

int emu_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    int rc = emu_backend_usable(err, errlen);
    if (rc) return rc;
    CudaDevice emu = {"emu", RUN_TARGET_EMU, emu_device_driver(), emu_device_cublas(), emu_load_module};
    return cuda_backend_open_on(&emu, m, cfg, b, err, errlen);
}
