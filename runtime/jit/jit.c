/* jit.c — NVRTC compilation behind an on-disk cache, the ptxas resource parser, and the CUDA
 * error-check support of cuda_check.h (dlopen loaders for the driver and cuBLAS, error reports).
 *
 * Cache entries are keyed by SHA-256 over everything that decides the output: the entry format
 * version, the NVRTC version, the output kind, every compile option (the arch and include paths
 * among them), the contents of the extra include directories and the source. See docs/jit.md.
 */
#include "jit_cache.h"
#include "codegen.h"
#include "cuda_check.h"
#include "mixc.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ================================================================ cuda_check.h support */

static _Thread_local char last_cuda_error[1024];
static FILE *check_stream;
static bool check_stream_set;

void cuda_check_set_stream(FILE *f) {
    check_stream = f;
    check_stream_set = true;
}

const char *cuda_last_error(void) { return last_cuda_error; }

void cuda_check_report(const char *call, const char *file, int line, const char *name,
                       const char *desc) {
    if (desc && *desc)
        snprintf(last_cuda_error, sizeof last_cuda_error, "%s failed at %s:%d: %s (%s)", call, file,
                 line, name, desc);
    else
        snprintf(last_cuda_error, sizeof last_cuda_error, "%s failed at %s:%d: %s", call, file, line,
                 name);
    FILE *f = check_stream_set ? check_stream : stderr;
    if (f) fprintf(f, "%s: %s\n", prog_name(), last_cuda_error);
}

static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
typedef struct {
    int state;                           /* 0 not tried, 1 loaded, -1 failed */
    char error[512];                     /* why it failed */
} LoadState;
static CudaDriver driver;
static CublasApi cublas;
static NvrtcApi nvrtc;
static LoadState driver_load, cublas_load_state, nvrtc_load_state;

typedef struct {
    const char *name;   /* the versioned symbol cuda.h maps the call to */
    size_t offset;
} SymbolSlot;

#define MIXC_CU_SLOT_(fn) {MIXC_STR(fn), offsetof(CudaDriver, fn)},
static const SymbolSlot cu_slots[] = {MIXC_CU_FUNCS(MIXC_CU_SLOT_)};
#define MIXC_CUBLAS_SLOT_(fn) {MIXC_STR(fn), offsetof(CublasApi, fn)},
static const SymbolSlot cublas_slots[] = {MIXC_CUBLAS_FUNCS(MIXC_CUBLAS_SLOT_)};
#define MIXC_NVRTC_SLOT_(fn) {MIXC_STR(fn), offsetof(NvrtcApi, fn)},
static const SymbolSlot nvrtc_slots[] = {MIXC_NVRTC_FUNCS(MIXC_NVRTC_SLOT_)};

/* Resolves every slot; false with the first missing symbol in err. A symbol whose _v2 is absent
 * (a driver older than the headers) falls back to the unversioned one only where the ABI is the
 * same. */
static bool resolve_symbols(void *handle, void *table, const SymbolSlot *slots, size_t n,
                            const char *lib, char *err, size_t errlen) {
    for (size_t i = 0; i < n; i++) {
        void *sym = dlsym(handle, slots[i].name);
        if (!sym && !strcmp(slots[i].name, "cuEventElapsedTime_v2"))
            sym = dlsym(handle, "cuEventElapsedTime");
        if (!sym) {
            snprintf(err, errlen, "%s lacks %s (too old for this build)", lib, slots[i].name);
            return false;
        }
        memcpy((char *)table + slots[i].offset, &sym, sizeof sym);
    }
    return true;
}

static bool load_driver_locked(char *err, size_t errlen) {
    dlerror();
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen, "no CUDA driver found (libcuda.so.1): %s", why ? why : "not loadable");
        return false;
    }
    CudaDriver d = {.handle = h};
    if (!resolve_symbols(h, &d, cu_slots, sizeof cu_slots / sizeof *cu_slots, "libcuda.so.1", err,
                         errlen)) {
        dlclose(h);
        return false;
    }
    driver = d;   /* names of results are available from here on, for the cuInit message too */
    CUresult r = d.cuInit(0);
    if (r != CUDA_SUCCESS) {
        const char *desc, *name = cuda_cu_result_name(r, &desc);
        snprintf(err, errlen, "the CUDA driver did not start: cuInit: %s (%s)", name, desc);
        memset(&driver, 0, sizeof driver);
        dlclose(h);
        return false;
    }
    return true;
}

/* A toolkit library (cuBLAS, NVRTC) by its soname, then the unversioned name, then under
 * $CUDA_HOME/lib64; its symbols into table. The library of the toolkit mixc was built with: the
 * soname's major version is that toolkit's (CUDA_VERSION). */
static bool open_toolkit_library(const char *base, const char *what, void *table, size_t table_size,
                                 void **handle, const SymbolSlot *slots, size_t nslots, char *err, size_t errlen) {
    char soname[64], plain[64], alt[1024];
    snprintf(soname, sizeof soname, "%s.so.%d", base, CUDA_VERSION / 1000);
    snprintf(plain, sizeof plain, "%s.so", base);
    snprintf(alt, sizeof alt, "%s/lib64/%s", jit_cuda_home(), soname);
    const char *names[] = {soname, plain, alt};
    void *h = NULL;
    char why[512] = "not loadable";
    for (size_t i = 0; i < 3 && !h; i++) {
        dlerror();
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        const char *e = h ? NULL : dlerror();
        if (i == 0 && e) snprintf(why, sizeof why, "%s", e);
    }
    if (!h) {
        snprintf(err, errlen, "%s (%s): %s", what, soname, why);
        return false;
    }
    if (!resolve_symbols(h, table, slots, nslots, soname, err, errlen)) {
        memset(table, 0, table_size);   /* no pointer into the closed library is left */
        dlclose(h);
        return false;
    }
    *handle = h;
    return true;
}

static bool load_cublas_locked(char *err, size_t errlen) {
    return open_toolkit_library("libcublas", "no cuBLAS found", &cublas, sizeof cublas, &cublas.handle, cublas_slots,
                                sizeof cublas_slots / sizeof *cublas_slots, err, errlen);
}

static bool load_nvrtc_locked(char *err, size_t errlen) {
    return open_toolkit_library("libnvrtc", "no NVRTC found", &nvrtc, sizeof nvrtc,
                                &nvrtc.handle, nvrtc_slots,
                                sizeof nvrtc_slots / sizeof *nvrtc_slots, err, errlen);
}

/* Runs load once per process (under the loader lock) and remembers its outcome and message. */
static bool load_once(LoadState *st, bool (*load)(char *, size_t), char *err, size_t errlen) {
    pthread_mutex_lock(&loader_lock);
    if (st->state == 0) st->state = load(st->error, sizeof st->error) ? 1 : -1;
    int state = st->state;
    pthread_mutex_unlock(&loader_lock);
    if (state < 0 && err && errlen) snprintf(err, errlen, "%s", st->error);
    return state > 0;
}

const CudaDriver *cuda_driver_load(char *err, size_t errlen) {
    return load_once(&driver_load, load_driver_locked, err, errlen) ? &driver : NULL;
}

const CublasApi *cublas_load(char *err, size_t errlen) {
    return load_once(&cublas_load_state, load_cublas_locked, err, errlen) ? &cublas : NULL;
}

const NvrtcApi *nvrtc_load(char *err, size_t errlen) {
    return load_once(&nvrtc_load_state, load_nvrtc_locked, err, errlen) ? &nvrtc : NULL;
}

static _Thread_local char result_name_buf[48];

const char *cuda_cu_result_name(CUresult r, const char **desc) {
    const char *name = NULL, *text = NULL;
    if (driver.cuGetErrorName && driver.cuGetErrorName(r, &name) != CUDA_SUCCESS) name = NULL;
    if (driver.cuGetErrorString && driver.cuGetErrorString(r, &text) != CUDA_SUCCESS) text = NULL;
    if (!name) {
        snprintf(result_name_buf, sizeof result_name_buf, "CUresult %d", (int)r);
        name = result_name_buf;
    }
    if (desc) *desc = text ? text : "";
    return name;
}

const char *cuda_nvrtc_result_name(nvrtcResult r) {
    if (nvrtc.nvrtcGetErrorString) return nvrtc.nvrtcGetErrorString(r);
    snprintf(result_name_buf, sizeof result_name_buf, "nvrtcResult %d", (int)r);
    return result_name_buf;
}

const char *cuda_cublas_status_name(cublasStatus_t s, const char **desc) {
    if (cublas.cublasGetStatusName) {
        if (desc) *desc = cublas.cublasGetStatusString(s);
        return cublas.cublasGetStatusName(s);
    }
    static const struct { cublasStatus_t s; const char *name; } names[] = {
        {CUBLAS_STATUS_SUCCESS, "CUBLAS_STATUS_SUCCESS"},
        {CUBLAS_STATUS_NOT_INITIALIZED, "CUBLAS_STATUS_NOT_INITIALIZED"},
        {CUBLAS_STATUS_ALLOC_FAILED, "CUBLAS_STATUS_ALLOC_FAILED"},
        {CUBLAS_STATUS_INVALID_VALUE, "CUBLAS_STATUS_INVALID_VALUE"},
        {CUBLAS_STATUS_ARCH_MISMATCH, "CUBLAS_STATUS_ARCH_MISMATCH"},
        {CUBLAS_STATUS_MAPPING_ERROR, "CUBLAS_STATUS_MAPPING_ERROR"},
        {CUBLAS_STATUS_EXECUTION_FAILED, "CUBLAS_STATUS_EXECUTION_FAILED"},
        {CUBLAS_STATUS_INTERNAL_ERROR, "CUBLAS_STATUS_INTERNAL_ERROR"},
        {CUBLAS_STATUS_NOT_SUPPORTED, "CUBLAS_STATUS_NOT_SUPPORTED"},
        {CUBLAS_STATUS_LICENSE_ERROR, "CUBLAS_STATUS_LICENSE_ERROR"},
    };
    if (desc) *desc = "";
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].s == s) return names[i].name;
    snprintf(result_name_buf, sizeof result_name_buf, "cublasStatus_t %d", (int)s);
    return result_name_buf;
}

/* ================================================================ ptxas resource log */

static int find_or_add_function(KernelResources **res, int *n, int *cap, const char *name,
                                size_t len) {
    if (len >= sizeof((*res)->name)) len = sizeof((*res)->name) - 1;
    for (int i = 0; i < *n; i++)
        if (strlen((*res)[i].name) == len && !strncmp((*res)[i].name, name, len)) return i;
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *res = xrealloc(*res, (size_t)*cap * sizeof **res);
    }
    KernelResources *k = &(*res)[*n];
    memset(k, 0, sizeof *k);
    memcpy(k->name, name, len);
    k->registers = k->spill_store_bytes = k->spill_load_bytes = k->stack_bytes = -1;
    k->smem_bytes = k->cmem_bytes = -1;
    return (*n)++;
}

/* The integer just before `suffix` in line, e.g. "12 registers" -> 12; -1 if absent. */
static int number_before(const char *line, const char *end, const char *suffix) {
    size_t sl = strlen(suffix);
    for (const char *p = line; p + sl <= end; p++) {
        if (strncmp(p, suffix, sl) != 0) continue;
        const char *q = p;
        while (q > line && q[-1] == ' ') q--;
        const char *digits_end = q;
        while (q > line && q[-1] >= '0' && q[-1] <= '9') q--;
        if (q == digits_end) continue;
        long v = strtol(q, NULL, 10);
        return v > INT32_MAX ? INT32_MAX : (int)v;
    }
    return -1;
}

/* Lines of interest (CUDA 12/13 ptxas):
 *   ptxas info    : Compiling entry function 'NAME' for 'sm_90'
 *   ptxas info    : Function properties for NAME
 *   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
 *   ptxas info    : Used 12 registers, used 1 barriers, 4096 bytes smem, 360 bytes cmem[0]
 * "Used" belongs to the last entry compiled; the stack line to the last "Function properties",
 * which may name a non-inlined device function (kept, with entry = false). */
int jit_parse_ptxas_log(const char *log, KernelResources **res) {
    KernelResources *r = NULL;
    int n = 0, cap = 0, compiling = -1, props = -1;
    for (const char *line = log; line && *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        const char *p;
        size_t ll = (size_t)(end - line);
        char buf[512];
        if (ll >= sizeof buf) ll = sizeof buf - 1;
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        if ((p = strstr(buf, "Compiling entry function '"))) {
            p += strlen("Compiling entry function '");
            const char *q = strchr(p, '\'');
            if (q) {
                compiling = find_or_add_function(&r, &n, &cap, p, (size_t)(q - p));
                r[compiling].entry = true;
            }
        } else if ((p = strstr(buf, "Function properties for "))) {
            p += strlen("Function properties for ");
            size_t len = strlen(p);
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\r')) len--;
            props = find_or_add_function(&r, &n, &cap, p, len);
        } else if (strstr(buf, "bytes stack frame") && props >= 0) {
            const char *e = buf + strlen(buf);
            r[props].stack_bytes = number_before(buf, e, "bytes stack frame");
            r[props].spill_store_bytes = number_before(buf, e, "bytes spill stores");
            r[props].spill_load_bytes = number_before(buf, e, "bytes spill loads");
        } else if ((p = strstr(buf, "Used ")) && strstr(buf, "registers") && compiling >= 0) {
            const char *e = buf + strlen(buf);
            KernelResources *k = &r[compiling];
            k->registers = number_before(buf, e, "registers");
            int smem = number_before(buf, e, "bytes smem");
            int cmem = number_before(buf, e, "bytes cmem[0]");
            k->smem_bytes = smem < 0 ? 0 : smem;
            k->cmem_bytes = cmem < 0 ? 0 : cmem;
        }
        line = *end ? end + 1 : end;
    }
    *res = r;
    return n;
}

/* ================================================================ compilation */

typedef struct {
    char **items;
    int n;
} OptionList;

static void option_add(OptionList *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void option_add(OptionList *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    o->items = xrealloc(o->items, (size_t)(o->n + 1) * sizeof *o->items);
    o->items[o->n++] = s;
}

static void option_list_free(OptionList *o) {
    for (int i = 0; i < o->n; i++) free(o->items[i]);
    free(o->items);
}

/* NVRTC >= 12.9 has its own compilation cache; a hit there skips ptxas, and with it the -v
 * resource log this module parses. --no-cache turns it off (our disk cache keeps the figures). */
static bool nvrtc_has_own_cache(int major, int minor) { return major > 12 || (major == 12 && minor >= 9); }

static void build_options(const JitOptions *opt, const char *arch, int major, int minor,
                          OptionList *o) {
    bool cubin = opt->output == JIT_CUBIN;
    const char *digits = !strncmp(arch, "sm_", 3) || !strncmp(arch, "compute_", 8) ? strchr(arch, '_') + 1 : arch;
    option_add(o, "-arch=%s_%s", cubin ? "sm" : "compute", digits);
    option_add(o, "-std=c++17");
    option_add(o, "-I%s/include", jit_cuda_home());
    for (int i = 0; i < opt->ninclude_dirs; i++) option_add(o, "-I%s", opt->include_dirs[i]);
    if (cubin) option_add(o, "--ptxas-options=-v");
    if (nvrtc_has_own_cache(major, minor)) option_add(o, "--no-cache");
    for (int i = 0; i < opt->noptions; i++) option_add(o, "%s", opt->options[i]);
}

static void compute_key(const char *source, size_t len, const JitOptions *opt, const OptionList *o,
                        int major, int minor, uint8_t key[32]) {
    Sha256 s;
    sha256_init(&s);
    char head[96];
    snprintf(head, sizeof head, "mixc-jit-entry v%u; nvrtc %d.%d; output %s", JIT_ENTRY_VERSION, major,
             minor, opt->output == JIT_CUBIN ? "cubin" : "ptx");
    sha256_str(&s, head);
    for (int i = 0; i < o->n; i++) sha256_str(&s, o->items[i]);
    for (int i = 0; i < opt->ninclude_dirs; i++) jit_hash_include_dir(&s, opt->include_dirs[i]);
    char src_head[48];
    snprintf(src_head, sizeof src_head, "source %zu", len);
    sha256_str(&s, src_head);
    sha256_update(&s, source, len);
    sha256_final(&s, key);
}

/* "ptxas info    : ..." and its continuation lines "ptxas         .     0 bytes stack frame". */
static bool is_ptxas_info_line(const char *line) {
    if (strncmp(line, "ptxas", 5) != 0) return false;
    line += 5;
    while (*line == ' ') line++;
    return *line == '.' || !strncmp(line, "info", 4);
}

/* Prints the log: all of it when verbose or on failure, otherwise only what is not ptxas info
 * (compiler warnings, ptxas warnings). */
static void print_log(FILE *f, const char *log, bool all) {
    for (const char *line = log; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n && (all || !is_ptxas_info_line(line))) fprintf(f, "%.*s\n", (int)n, line);
        line += n + (end != NULL);
    }
}

/* The first line of the log that says "error", for a one-line message. */
static void first_error_line(const char *log, char *out, size_t outlen) {
    const char *p = strstr(log, ": error");
    if (!p) p = strstr(log, "error");
    if (!p) {
        snprintf(out, outlen, "see the NVRTC log");
        return;
    }
    while (p > log && p[-1] != '\n') p--;
    size_t n = strcspn(p, "\n");
    snprintf(out, outlen, "%.*s", (int)n, p);
}

/* NVRTC 13.0 fails a kernel whose static shared memory is over 48 KiB with
 * NVRTC_ERROR_COMPILATION and a log of ptxas info lines only: no error text at all. Say why. */
#define STATIC_SMEM_LIMIT 49152
static void explain_failure(const char *log, char *out, size_t outlen) {
    if (strstr(log, "error")) {
        first_error_line(log, out, outlen);
        return;
    }
    KernelResources *res = NULL;
    int n = jit_parse_ptxas_log(log, &res);
    snprintf(out, outlen, "the NVRTC log has no error message");
    for (int i = 0; i < n; i++)
        if (res[i].entry && res[i].smem_bytes > STATIC_SMEM_LIMIT) {
            snprintf(out, outlen,
                     "kernel '%s' declares %d bytes of static shared memory, over the %d a block "
                     "may declare statically (use extern __shared__ and set the dynamic size)",
                     res[i].name, res[i].smem_bytes, STATIC_SMEM_LIMIT);
            break;
        }
    free(res);
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *program_log(const NvrtcApi *nv, nvrtcProgram prog) {
    size_t n = 0;
    if (nv->nvrtcGetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) return xcalloc(1, 1);
    char *log = xcalloc(n + 1, 1);
    if (nv->nvrtcGetProgramLog(prog, log) != NVRTC_SUCCESS) log[0] = '\0';
    return log;
}

/* Runs NVRTC. Returns 0 ok, 1 on a compile error (log in r->log, message in err). */
static int run_nvrtc(const NvrtcApi *nv, const char *source, size_t len, const JitOptions *opt, const char *arch,
                     const OptionList *o, JitResult *r, char *err, size_t errlen) {
    const char *name = opt->name ? opt->name : "kernels.cu";
    char *src = xmalloc(len + 1);   /* NVRTC wants a NUL-terminated string */
    memcpy(src, source, len);
    src[len] = '\0';
    nvrtcProgram prog = NULL;
    int rc = 1;
    NVRTC_CHECK(nv->nvrtcCreateProgram(&prog, src, name, 0, NULL, NULL));
    nvrtcResult cr = nv->nvrtcCompileProgram(prog, o->n, (const char *const *)o->items);
    /* The log first: on failure it is the error message. */
    r->log = program_log(nv, prog);
    if (cr != NVRTC_SUCCESS) {
        char first[512];
        explain_failure(r->log, first, sizeof first);
        snprintf(err, errlen, "nvrtc: cannot compile '%s' for %s (%s): %s", name, arch,
                 nv->nvrtcGetErrorString(cr), first);
        goto fail;
    }
    size_t n = 0;
    if (opt->output == JIT_CUBIN) {
        NVRTC_CHECK(nv->nvrtcGetCUBINSize(prog, &n));
        r->image = xmalloc(n + 1);
        NVRTC_CHECK(nv->nvrtcGetCUBIN(prog, r->image));
        r->image[n] = '\0';
        r->image_len = n;
    } else {
        NVRTC_CHECK(nv->nvrtcGetPTXSize(prog, &n));
        r->image = xmalloc(n + 1);
        NVRTC_CHECK(nv->nvrtcGetPTX(prog, r->image));
        r->image[n] = '\0';
        r->image_len = n ? n - 1 : 0;   /* the size counts the NUL */
    }
    rc = 0;
fail:
    if (rc != 0 && !err[0]) snprintf(err, errlen, "nvrtc: %s", cuda_last_error());
    if (prog) nv->nvrtcDestroyProgram(&prog);
    free(src);
    return rc;
}

/* After a compile: resources from the ptxas log; flags a log that ptxas info is missing from. */
static void collect_resources(const char *source, size_t len, const JitOptions *opt, JitResult *r,
                              FILE *log_out) {
    if (opt->output != JIT_CUBIN) return;
    r->nres = jit_parse_ptxas_log(r->log, &r->res);
    bool any_entry = false;
    for (int i = 0; i < r->nres; i++) any_entry |= r->res[i].entry;
    bool has_kernels = memmem(source, len, "__global__", 10) != NULL;
    r->resources_known = any_entry || !has_kernels;
    if (!r->resources_known)
        fprintf(log_out, "%s: warning: the ptxas log has no resource figures "
                         "(a compiler cache may have skipped ptxas); resources unknown\n", prog_name());
}

static bool cache_enabled(const JitOptions *opt) {
    return !opt->no_cache && !jit_cache_disabled_by_env();
}

int jit_compile(const char *source, size_t len, const JitOptions *opt, JitResult *out, char *err,
                size_t errlen) {
    double t0 = now_seconds();
    static const JitOptions defaults = {0};
    if (!opt) opt = &defaults;
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = '\0';
    char dummy_err[8];
    if (!err || !errlen) err = dummy_err, errlen = sizeof dummy_err;
    FILE *log_out = opt->log_out ? opt->log_out : stderr;
    const char *arch = opt->arch && *opt->arch ? opt->arch : CODEGEN_DEFAULT_ARCH;

    const NvrtcApi *nv = nvrtc_load(err, errlen);
    if (!nv) {
        out->log = xcalloc(1, 1);
        return 2;
    }
    int major = 0, minor = 0;
    nv->nvrtcVersion(&major, &minor);
    OptionList o = {0};
    build_options(opt, arch, major, minor, &o);
    uint8_t key[32];
    compute_key(source, len, opt, &o, major, minor, key);
    jit_hex_encode(key, 32, out->key_hex);

    char *root = cache_enabled(opt) ? (opt->cache_dir ? xstrdup(opt->cache_dir) : jit_cache_dir()) : NULL;
    Buf dir = {0}, path = {0};
    if (root) {
        buf_printf(&dir, "%s/jit", root);
        buf_printf(&path, "%s/%s.%s", dir.data, out->key_hex, opt->output == JIT_CUBIN ? "cubin" : "ptx");
    }
    int rc = 0;
    /* one build of an entry at a time */
    int lock = root && jit_make_dirs(dir.data) ? jit_cache_lock(path.data) : -1;
    if (root && jit_cache_lookup(path.data, opt->output, key, out, log_out)) {
        out->cache_hit = true;
        print_log(log_out, out->log, opt->verbose);
    } else {
        rc = run_nvrtc(nv, source, len, opt, arch, &o, out, err, errlen);
        if (!out->log) out->log = xcalloc(1, 1);
        print_log(log_out, out->log, opt->verbose || rc != 0);
        if (rc == 0) {
            collect_resources(source, len, opt, out, log_out);
            if (root) jit_cache_store(dir.data, path.data, opt->output, key, out, log_out);
        }
    }
    jit_cache_unlock(lock, path.data);
    buf_free(&dir);
    buf_free(&path);
    free(root);
    option_list_free(&o);
    out->seconds = now_seconds() - t0;
    return rc;
}

static void print_count(FILE *out, int v, int width) {
    if (v < 0) fprintf(out, " %*s", width, "-");
    else fprintf(out, " %*d", width, v);
}

static const KernelVariant *find_variant(const Codegen *cg, const char *name) {
    for (int i = 0; cg && i < cg->nkernels; i++)
        if (!strcmp(cg->kernel[i].name, name)) return &cg->kernel[i];
    return NULL;
}

/* One row: ptxas's figures, and for a kernel of cg its threads, the blocks per SM it gets on arch
 * and the blocks its design asks of its registers. Returns false (after saying why on stderr) for
 * spills in a kernel, or registers that allow fewer blocks than its design. */
static bool print_resource_row(FILE *out, const KernelResources *k, const KernelVariant *v, const char *arch) {
    char name[200];   /* a device function ptxas kept out of line is shown in brackets */
    snprintf(name, sizeof name, k->entry ? "%s" : "[%s]", k->name);
    fprintf(out, "%-40s", name);
    const int counts[] = {k->registers, k->spill_store_bytes, k->spill_load_bytes, k->stack_bytes, k->smem_bytes,
                          k->cmem_bytes};
    const int widths[] = {5, 9, 9, 7, 7, 6};
    for (int i = 0; i < 6; i++) print_count(out, counts[i], widths[i]);
    ArchOccupancy o = {0};
    if (v && k->registers >= 0 && k->smem_bytes >= 0)
        o = codegen_arch_occupancy(arch, v->block, k->registers, k->smem_bytes + v->dynamic_smem);
    const int by_regs = o.by_registers < o.by_threads ? o.by_registers : o.by_threads;
    print_count(out, v ? v->block : -1, 7);
    print_count(out, v && o.blocks ? o.blocks : -1, 9);
    print_count(out, v && o.blocks ? by_regs : -1, 7);
    print_count(out, v && v->min_blocks ? v->min_blocks : -1, 6);
    fputc('\n', out);
    bool ok = true;
    if (k->entry && (k->spill_store_bytes > 0 || k->spill_load_bytes > 0)) {
        fprintf(stderr, "mixc emit: %s spills registers on %s (%d bytes stored, %d loaded): a kernel is designed "
                "for none\n", k->name, arch, k->spill_store_bytes, k->spill_load_bytes);
        ok = false;
    }
    if (v && v->min_blocks && by_regs < v->min_blocks) {
        fprintf(stderr, "mixc emit: %s: its %d threads of %d registers allow %d blocks per SM on %s, designed "
                "for at least %d\n", k->name, v->block, k->registers, by_regs, arch, v->min_blocks);
        ok = false;
    }
    return ok;
}

int jit_print_resources(const char *source, size_t len, const char *arch, const Codegen *cg, FILE *out) {
    JitOptions opt = {.arch = arch, .output = JIT_CUBIN};
    JitResult r;
    char err[1024];
    int rc = jit_compile(source, len, &opt, &r, err, sizeof err);
    if (rc != 0) {
        if (rc == 2) fprintf(stderr, "mixc emit: --resources needs the CUDA toolkit: %s\n", err);
        else fprintf(stderr, "%s: %s\n", prog_name(), err);
        jit_result_free(&r);
        return rc;
    }
    if (!arch) arch = CODEGEN_DEFAULT_ARCH;
    fprintf(out, "%-40s %5s %9s %9s %7s %7s %6s %7s %9s %7s %6s\n", "function", "regs", "spill-st", "spill-ld",
            "stack", "smem", "cmem", "threads", "blocks/SM", "by-regs", "design");
    bool ok = true;
    for (int i = 0; i < r.nres; i++)
        ok &= print_resource_row(out, &r.res[i], find_variant(cg, r.res[i].name), arch);
    int limit = codegen_arch_max_smem(arch);
    fprintf(out, "%d function%s for %s%s", r.nres, r.nres == 1 ? "" : "s", arch,
            r.cache_hit ? " (cached)" : "");
    if (limit) fprintf(out, "; shared memory limit per block %d bytes", limit);
    fputc('\n', out);
    if (cg) fprintf(out, "blocks/SM: resident on one SM (threads, registers, static + dynamic shared memory); "
                    "by-regs: what threads and registers alone allow; design: what they must allow\n");
    if (!r.resources_known) {
        fprintf(out, "resources unknown: the ptxas log was missing\n");
        ok = ok && !cg;   /* nothing of the kernels' design could be checked */
    }
    jit_result_free(&r);
    return ok ? 0 : 1;
}
