/* emu_backend.c — the emu backend: the cpu backend (cpu_backend.c) whose RMSNorm, RoPE/append,
 * attention and SiLU-mul are the layout's generated kernels, run in the CUDA-on-CPU emulator.
 * emu_backend.h says where the kernels come from; docs/model.md ("emu backend") how it works.
 *
 * Every call converts its fp32 arguments to the model dtype (bf16 or fp16), launches the kernel with
 * codegen's geometry (kernel_launch, as the manifest and the cuda backend), and converts the results
 * back. The cpu
 * backend keeps its caches in fp32, but every value the kernels write there is exact in the model
 * dtype, so the round trip loses nothing: the caches hold what a GPU's would.
 *
 * Ring slots: the kernels address key j at slot j % CAP, CAP being the capacity the generator planned
 * for the model's context (one .so serves every run); the cpu backend's run plan sizes its caches for
 * the run's context (P + N tokens), possibly smaller (both capacities are in the plans: docs/plan.md). So every call builds the cache in the kernel's layout (CAP rows) from the
 * positions the cpu cache holds, and copies appended rows back by position.
 *
 * The loaded kernels are the CpuKernels table's ctx (an EmuState per open backend), so backends of
 * different layouts can be open in one process at once.
 */
#include "emu_backend.h"

#include "codegen.h"
#include "emu/emu_api.h"
#include "jit.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
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

/* The kernels' parameter structs; the emulator's device memory is host memory. */
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
static bool make_source(const Layout *l, Codegen *cg, Buf *src, char key[65], char *err, size_t errlen) {
    CodegenOptions opt = {0};
    if (!codegen_plan(l, &opt, cg, err, errlen)) return false;
    codegen_source(l, cg, src);
    hex_digest(src->data, src->len, key);
    kernel_params_asserts(src);
    buf_printf(src, "extern \"C\" const char mixc_emu_source_key[] = \"%s\";\n", key);
    return true;
}

/* ------------------------------------------------------------------ compiling */

static const char *cxx_command(void) {
    const char *c = getenv("MIXC_CXX");
    return c && *c ? c : "c++";
}

/* The compile command for dir/kernels.cu -> out (MIXC_CXX may hold several words: not quoted). */
static void compile_command(Buf *cmd, const char *dir, const char *out) {
    const char *extra = getenv("MIXC_EMU_CXXFLAGS");
    buf_printf(cmd, "%s -std=c++17 -O1 -fPIC -shared -w -DMIXC_EMU %s %s -include ", cxx_command(),
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

static void remove_dir(const char *dir) {
    const char *names[] = {"kernels.cu", "mixc_emu.h", "emu_api.h", "log"};
    Buf p = {0};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        p.len = 0;
        buf_printf(&p, "%s/%s", dir, names[i]);
        unlink(p.data);
    }
    buf_free(&p);
    rmdir(dir);
}

/* Shows the compiler's log on stderr (it may be long; err holds one line). */
static void print_log(const char *dir) {
    Buf p = {0};
    buf_printf(&p, "%s/log", dir);
    size_t len = 0;
    char *log = read_file(p.data, &len);
    if (log && len) {
        fprintf(stderr, "mixc: the emulator kernels' compiler log:\n");
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
    if (!mkdtemp(dir.data)) {
        snprintf(err, errlen, "cannot create a temporary directory '%s': %s", dir.data, strerror(errno));
        buf_free(&dir);
        return false;
    }
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
        fflush(NULL);
        int st = system(full.data);
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
    remove_dir(dir.data);
    buf_free(&dir);
    return ok;
}

/* Compiles to an unpredictable temporary name next to out, fsyncs it, then renames: nothing
 * half-written on failure, and a crash after the rename leaves a whole file. */
static bool compile_to(const Buf *src, const char *out, char *err, size_t errlen) {
    Buf tmp = {0};
    buf_printf(&tmp, "%s.tmp.XXXXXX", out);
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno));
        buf_free(&tmp);
        return false;
    }
    close(fd);
    bool ok = compile_source(src, tmp.data, err, errlen);
    fd = ok ? open(tmp.data, O_RDONLY | O_CLOEXEC) : -1;
    if (ok && (fd < 0 || fsync(fd) != 0 || rename(tmp.data, out) != 0)) {
        snprintf(err, errlen, "cannot write '%s': %s", out, strerror(errno));
        ok = false;
    }
    if (fd >= 0) close(fd);
    if (!ok) unlink(tmp.data);
    buf_free(&tmp);
    return ok;
}

bool emu_backend_compile_so(const Layout *l, const char *out_so, char *err, size_t errlen) {
    Codegen cg;
    Buf src = {0};
    char key[65];
    bool ok = make_source(l, &cg, &src, key, err, errlen);
    if (ok) {
        codegen_free(&cg);
        ok = compile_to(&src, out_so, err, errlen);
    }
    buf_free(&src);
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
        fprintf(stderr, "mixrun: warning: cannot write the checksum of the emu cache entry '%s': %s\n", path,
                strerror(errno));
    free(dp);
}

/* ------------------------------------------------------------------ loaded kernels */

typedef struct {
    bool ready;
    const Layout *layout;
    DType dtype;
    int64_t hidden, heads, kv_heads, head_dim;
    Codegen cg;
    void *so;
    MixcEmuEntry *entry;    /* [cg.nkernels] */
    /* Scratch, grown as needed: 16-bit tensors, the kernel-layout caches, int arrays, fp32 partials. */
    uint16_t *h[4];
    size_t h_cap[4];
    int *ints;
    size_t ints_cap;
    float *f[2];
    size_t f_cap[2];
} EmuState;

/* Grows p to n elements; new elements are zero (no uninitialised byte ever reaches a kernel). */
static void *grow(void *p, size_t *cap, size_t n, size_t elem) {
    if (n <= *cap) return p;
    size_t old = *cap;
    *cap = n + n / 2;
    p = xrealloc(p, *cap * elem);
    memset((char *)p + old * elem, 0, (*cap - old) * elem);
    return p;
}
static uint16_t *scratch16(EmuState *emu, int i, int64_t n) {
    return emu->h[i] = grow(emu->h[i], &emu->h_cap[i], (size_t)n, sizeof(uint16_t));
}
static int *scratch_int(EmuState *emu, int64_t n) {
    return emu->ints = grow(emu->ints, &emu->ints_cap, (size_t)n, sizeof(int));
}
static float *scratch_f32(EmuState *emu, int i, int64_t n) {
    return emu->f[i] = grow(emu->f[i], &emu->f_cap[i], (size_t)n, sizeof(float));
}

static void to_dtype(EmuState *emu, uint16_t *dst, const float *src, int64_t n) {
    if (emu->dtype == DT_FP16)
        for (int64_t i = 0; i < n; i++) dst[i] = st_f32_to_f16(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = st_f32_to_bf16(src[i]);
}
static void from_dtype(EmuState *emu, float *dst, const uint16_t *src, int64_t n) {
    if (emu->dtype == DT_FP16)
        for (int64_t i = 0; i < n; i++) dst[i] = st_f16_to_f32(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = st_bf16_to_f32(src[i]);
}

/* Kernel k over `tokens` rows of `batch` sequences, with codegen's geometry. A failed launch is a bug
 * in a kernel or in this file: it must not pass silently. */
static bool launch(EmuState *emu, int k, const void *params, int64_t tokens, int64_t batch) {
    char err[512];
    KernelLaunch c = kernel_launch(&emu->cg.kernel[k], tokens, batch);
    EmuDim3 grid = {c.grid[0], c.grid[1], c.grid[2]}, block = {c.block[0], c.block[1], c.block[2]};
    if (mixc_emu_launch_c(emu->entry[k], params, grid, block, c.smem, err, sizeof err) == 0) return true;
    fprintf(stderr, "mixrun: emu: kernel %s failed: %s\n", emu->cg.kernel[k].name, err);
    return false;
}

/* Kernel k of the variant list. */
static const KernelVariant *variant(EmuState *emu, int k) {
    return &emu->cg.kernel[k];
}

/* The kernel (by field of LayerKernels) of a layer matching the call: window and owner, preferring
 * the layer whose cache has the cpu cache's capacity (the exact variant when the run's context is
 * the model's, or the cache is a ring); any layer with the window otherwise (the capacity only
 * decides slot addressing, which the caller maps). -1 when none. */
static int find_kernel(EmuState *emu, size_t field, int64_t window, int owner, int64_t cap) {
    int any = -1;
    for (int i = 0; i < emu->layout->nlayers; i++) {
        const LayerInfo *li = &emu->layout->layer[i];
        if (window >= 0 && li->window != window) continue;
        if (owner >= 0 && (li->reads == i) != owner) continue;
        int k = *(const int *)((const char *)&emu->cg.layer[i] + field);
        if (k < 0) continue;
        if (emu->cg.capacity[li->cache] == cap) return k;
        if (any < 0) any = k;
    }
    return any;
}

/* ---- the CpuKernels entries */

static void emu_rmsnorm(void *ctx, float *out, const float *x, const float *w, int64_t n, int64_t width, float eps) {
    EmuState *emu = ctx;
    if (width != emu->hidden || emu->cg.rmsnorm < 0 || n <= 0 || n > INT32_MAX) {   /* not model rows: reference */
        cpu_reference_kernels.rmsnorm(NULL, out, x, w, n, width, eps);
        return;
    }
    uint16_t *hx = scratch16(emu, 0, n * width), *hw = scratch16(emu, 1, width);
    to_dtype(emu, hx, x, n * width);
    to_dtype(emu, hw, w, width);
    RmsNormParams p = {hx, hw, hx, (int)n};
    if (launch(emu, emu->cg.rmsnorm, &p, n, 1))
        from_dtype(emu, out, hx, n * width);
    else
        for (int64_t i = 0; i < n * width; i++) out[i] = NAN;
}

static void emu_silu_mul(void *ctx, float *gate, const float *up, int64_t count) {
    EmuState *emu = ctx;
    if (emu->cg.silu_mul < 0 || count <= 0) {
        cpu_reference_kernels.silu_mul(NULL, gate, up, count);
        return;
    }
    uint16_t *hg = scratch16(emu, 0, count), *hu = scratch16(emu, 1, count);
    to_dtype(emu, hg, gate, count);
    to_dtype(emu, hu, up, count);
    SiluMulParams p = {hg, hu, hg, count};
    if (launch(emu, emu->cg.silu_mul, &p, count / emu->layout->model.ffn, 1))   /* count = tokens x ffn */
        from_dtype(emu, gate, hg, count);
    else
        for (int64_t i = 0; i < count; i++) gate[i] = NAN;
}

static void emu_rope_append(void *ctx, const RopeAppendArgs *a) {
    EmuState *emu = ctx;
    const int64_t qw = a->heads * a->head_dim, kvw = a->kv_heads * a->head_dim;
    bool owner = a->k != NULL;
    int k = find_kernel(emu, offsetof(LayerKernels, rope), -1, owner, a->cap);
    if (k < 0 || a->n <= 0) {
        cpu_reference_kernels.rope_append(NULL, a);
        return;
    }
    const KernelVariant *v = variant(emu, k);
    const int64_t kcap = owner ? v->capacity : 1;
    uint16_t *hq = scratch16(emu, 0, a->n * qw);
    to_dtype(emu, hq, a->q, a->n * qw);
    uint16_t *hk = NULL, *hv = NULL, *ck = NULL, *cv = NULL;
    if (owner) {
        hk = scratch16(emu, 1, 2 * a->n * kvw);
        hv = hk + a->n * kvw;
        to_dtype(emu, hk, a->k, a->n * kvw);
        to_dtype(emu, hv, a->v, a->n * kvw);
        ck = scratch16(emu, 2, 2 * kcap * kvw);
        cv = ck + kcap * kvw;
    }
    int *pos = scratch_int(emu, 2 * a->n), *seq = pos + a->n;
    for (int64_t i = 0; i < a->n; i++) pos[i] = (int)(a->p0 + i), seq[i] = 0;
    RopeParams p = {hq, hk, hv, ck, cv, pos, seq, (int)a->n};
    if (!launch(emu, k, &p, a->n, 1)) {
        for (int64_t i = 0; i < a->n * qw; i++) a->q[i] = NAN;
        return;
    }
    from_dtype(emu, a->q, hq, a->n * qw);
    for (int64_t i = 0; owner && i < a->n; i++) {
        int64_t pp = a->p0 + i;
        float *rows_k = a->cache_k.data, *rows_v = a->cache_v.data;   /* fp32: see fill_kernel_cache */
        from_dtype(emu, rows_k + (pp % a->cap) * kvw, ck + (pp % kcap) * kvw, kvw);
        from_dtype(emu, rows_v + (pp % a->cap) * kvw, cv + (pp % kcap) * kvw, kvw);
        /* The owner's k comes back rotated, as from the reference. */
        memcpy(a->k + i * kvw, rows_k + (pp % a->cap) * kvw, (size_t)kvw * sizeof(float));
    }
}

/* Positions [from, to) of the cpu cache into kernel-layout caches of kcap slots. The cpu caches
 * are fp32 here: an 8-bit kv_dtype has no kernels yet, and the backend does not open (codegen). */
static void fill_kernel_cache(EmuState *emu, const AttentionArgs *a, uint16_t *ck, uint16_t *cv, int64_t kcap,
                              int64_t from, int64_t to) {
    const int64_t kvw = a->kv_heads * a->head_dim;
    const float *rows_k = a->cache_k.data, *rows_v = a->cache_v.data;
    for (int64_t pp = from; pp < to; pp++) {
        to_dtype(emu, ck + (pp % kcap) * kvw, rows_k + (pp % a->cap) * kvw, kvw);
        to_dtype(emu, cv + (pp % kcap) * kvw, rows_v + (pp % a->cap) * kvw, kvw);
    }
}

static bool run_decode(EmuState *emu, const AttentionArgs *a, int kd, const uint16_t *hq, const uint16_t *ck,
                       const uint16_t *cv, uint16_t *hout) {
    const KernelVariant *v = variant(emu, kd);
    int kr = emu->cg.layer[0].decode_reduce;
    const int splits = v->splits > 0 ? v->splits : 1;
    float *o_part = scratch_f32(emu, 0, a->heads * splits * a->head_dim);
    float *ml = scratch_f32(emu, 1, a->heads * splits * 2);
    int *pos = scratch_int(emu, 1);
    pos[0] = (int)a->p0;
    DecodeParams dp = {hq, ck, cv, pos, o_part, ml, a->scale, 1};
    if (!launch(emu, kd, &dp, 1, 1)) return false;
    DecodeReduceParams rp = {o_part, ml, hout, (int)a->heads, splits, 1};
    return launch(emu, kr, &rp, 1, 1);
}

static bool run_prefill(EmuState *emu, const AttentionArgs *a, int kp, const uint16_t *hq, const uint16_t *ck,
                        const uint16_t *cv, uint16_t *hout) {
    int *ints = scratch_int(emu, 3);
    ints[0] = 0;
    ints[1] = (int)a->n;
    ints[2] = (int)a->p0;
    PrefillParams pp = {hq, hout, ck, cv, ints, ints + 1, ints + 2, a->scale, 1};
    return launch(emu, kp, &pp, a->n, 1);
}

static bool emu_attention(void *ctx, const AttentionArgs *a) {
    EmuState *emu = ctx;
    const int64_t qw = a->heads * a->head_dim, kvw = a->kv_heads * a->head_dim;
    bool decode = a->n == 1;
    size_t field = decode ? offsetof(LayerKernels, decode) : offsetof(LayerKernels, prefill);
    int k = find_kernel(emu, field, a->window, -1, a->cap);
    if (k < 0 || a->n <= 0 || (decode && emu->cg.layer[0].decode_reduce < 0))
        return cpu_reference_kernels.attention(NULL, a);
    const int64_t kcap = variant(emu, k)->capacity;
    /* Keys the queries need: [lo of the first query, written); the cpu ring and the kernel's must
     * both hold them. */
    int64_t lo = a->window && a->p0 - a->window + 1 > 0 ? a->p0 - a->window + 1 : 0;
    int64_t oldest = a->written > a->cap ? a->written - a->cap : 0;
    if (lo < oldest || a->p0 + a->n > a->written || a->written - lo > kcap) return false;
    uint16_t *ck = scratch16(emu, 2, 2 * kcap * kvw), *cv = ck + kcap * kvw;
    fill_kernel_cache(emu, a, ck, cv, kcap, lo, a->written);
    uint16_t *hq = scratch16(emu, 0, 2 * a->n * qw), *hout = hq + a->n * qw;
    to_dtype(emu, hq, a->q, a->n * qw);
    bool ok = decode ? run_decode(emu, a, k, hq, ck, cv, hout) : run_prefill(emu, a, k, hq, ck, cv, hout);
    if (ok) from_dtype(emu, a->out, hout, a->n * qw);
    else
        for (int64_t i = 0; i < a->n * qw; i++) a->out[i] = NAN;
    return true;   /* a failed launch was reported; its NaNs show in the logits */
}

/* ------------------------------------------------------------------ loading */

/* The CpuKernels release: everything one open backend's kernels hold. */
static void emu_free(void *ctx) {
    EmuState *emu = ctx;
    if (!emu) return;
    if (emu->so && mixc_emu_dlclose) mixc_emu_dlclose(emu->so);
    if (emu->ready) codegen_free(&emu->cg);
    free(emu->entry);
    for (int i = 0; i < 4; i++) free(emu->h[i]);
    for (int i = 0; i < 2; i++) free(emu->f[i]);
    free(emu->ints);
    free(emu);
}

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

/* The .so for src: from the cache, or compiled (into the cache when there is one). *status: 2 when
 * it would have to be compiled and the toolkit is missing, else 1. */
static void *compile_and_load(const Buf *src, const char *key, int *status, char *err, size_t errlen) {
    char *path = cache_path(src);
    const char *damage = path && access(path, F_OK) == 0 ? entry_damage(path) : NULL;
    if (damage) fprintf(stderr, "mixrun: warning: emu cache entry '%s' is damaged (%s); recompiling\n", path, damage);
    if (path && !damage && access(path, R_OK) == 0) {
        void *so = load_so(path, key, err, errlen);
        if (so && verbose()) fprintf(stderr, "mixrun: emu: kernels from the cache: %s\n", path);
        if (so) {
            free(path);
            return so;
        }
        fprintf(stderr, "mixrun: warning: %s; recompiling\n", err);   /* a damaged entry */
    }
    *status = 1;
    if (!toolkit_headers_found(err, errlen)) {
        *status = 2;
        free(path);
        return NULL;
    }
    if (path && !dir_writable(path)) {   /* a read-only cache: compile for this run only */
        free(path);
        path = NULL;
    }
    Buf out = {0};
    if (path) buf_puts(&out, path);
    else buf_printf(&out, "%s/mixc-emu-%ld.so", getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                    (long)getpid());
    double t0 = now_s();
    void *so = NULL;
    if (compile_to(src, out.data, err, errlen)) {
        if (verbose()) fprintf(stderr, "mixrun: emu: compiled the kernels in %.2f s: %s\n", now_s() - t0, out.data);
        if (path) store_digest(path);
        so = load_so(out.data, key, err, errlen);
        if (!path) unlink(out.data);   /* no cache: the mapping outlives the file */
    }
    buf_free(&out);
    free(path);
    return so;
}

static bool resolve_entries(EmuState *emu, char *err, size_t errlen) {
    emu->entry = xcalloc((size_t)emu->cg.nkernels + 1, sizeof *emu->entry);
    for (int k = 0; k < emu->cg.nkernels; k++) {
        emu->entry[k] = (MixcEmuEntry)mixc_emu_find_kernel(emu->so, emu->cg.kernel[k].name);
        if (!emu->entry[k]) {
            snprintf(err, errlen, "the emulator kernels lack %s", emu->cg.kernel[k].name);
            return false;
        }
    }
    return true;
}

/* The generated kernels of m->layout, loaded: from prebuilt_so when non-NULL, else from the cache or
 * compiled. NULL with a message in err and the exit status in *status. */
static EmuState *emu_load(const Model *m, const char *prebuilt_so, int *status, char *err, size_t errlen) {
    *status = 1;
    if (!mixc_emu_launch_c || !mixc_emu_dlopen_kernels || !mixc_emu_find_kernel || !mixc_emu_dlclose) {
        snprintf(err, errlen, "this program was linked without the emulator (libmixcemu.a); the emu backend "
                              "cannot run");
        return NULL;
    }
    const Layout *l = m->layout;
    EmuState *emu = xcalloc(1, sizeof *emu);
    Buf src = {0};
    char key[65];
    if (!make_source(l, &emu->cg, &src, key, err, errlen)) {
        buf_free(&src);
        emu_free(emu);
        return NULL;
    }
    emu->ready = true;
    emu->layout = l;
    emu->dtype = l->model.dtype;
    emu->hidden = l->model.hidden;
    emu->heads = l->model.heads;
    emu->kv_heads = l->model.kv_heads;
    emu->head_dim = l->model.head_dim;
    if (prebuilt_so) {
        emu->so = load_so(prebuilt_so, key, err, errlen);
        if (emu->so && verbose()) fprintf(stderr, "mixrun: emu: prebuilt kernels\n");
    } else {
        emu->so = compile_and_load(&src, key, status, err, errlen);
    }
    buf_free(&src);
    if (!emu->so || !resolve_entries(emu, err, errlen)) {
        emu_free(emu);
        return NULL;
    }
    return emu;
}

int emu_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    int status;
    EmuState *emu = emu_load(m, cfg->emu_kernels_so, &status, err, errlen);
    if (!emu) return status;
    CpuKernels k = {emu, emu_rmsnorm, emu_rope_append, emu_attention, emu_silu_mul, emu_free};
    int rc = cpu_backend_open_with(&k, m, cfg, b, err, errlen);
    if (rc) emu_free(emu);
    else b->name = "emu";
    return rc;
}
