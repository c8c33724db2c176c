/* jit.c — NVRTC compilation behind an on-disk cache, the ptxas resource parser, and the CUDA
 * error-check support of cuda_check.h (dlopen loaders for the driver and cuBLAS, error reports).
 *
 * Cache entries are keyed by SHA-256 over everything that decides the output: the entry format
 * version, the NVRTC version, the output kind, every compile option (the arch and include paths
 * among them), the contents of the extra include directories and the source. See docs/jit.md.
 */
#include "jit.h"
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

/* ================================================================ SHA-256 (FIPS 180-4) */

typedef struct {
    uint32_t h[8];
    uint64_t total;
    uint8_t block[64];
    size_t used;
} Sha256;

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(Sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(Sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->total = 0;
    s->used = 0;
}

static void sha256_update(Sha256 *s, const void *data, size_t len) {
    const uint8_t *p = data;
    s->total += len;
    while (len > 0) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, n);
        s->used += n, p += n, len -= n;
        if (s->used == 64) {
            sha256_block(s, s->block);
            s->used = 0;
        }
    }
}

static void sha256_final(Sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->total * 8;
    uint8_t pad = 0x80, zero = 0;
    sha256_update(s, &pad, 1);
    while (s->used != 56) sha256_update(s, &zero, 1);
    uint8_t len_be[8];
    for (int i = 0; i < 8; i++) len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, len_be, 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(s->h[i] >> (24 - 8 * j));
}

void jit_sha256(const void *data, size_t len, uint8_t digest[32]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, digest);
}

/* A string and its terminator, so "ab"+"c" and "a"+"bc" hash differently. */
static void sha256_str(Sha256 *s, const char *str) { sha256_update(s, str, strlen(str) + 1); }

static void hex_encode(const uint8_t *d, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

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
    if (f) fprintf(f, "mixc: %s\n", last_cuda_error);
}

static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
static CudaDriver driver;
static int driver_state;                 /* 0 not tried, 1 loaded, -1 failed */
static char driver_error[512];
static CublasApi cublas;
static int cublas_state;
static char cublas_error[512];

#define MIXC_STR2_(x) #x
#define MIXC_STR_(x) MIXC_STR2_(x)

typedef struct {
    const char *name;   /* the versioned symbol cuda.h maps the call to */
    size_t offset;
} SymbolSlot;

#define MIXC_CU_SLOT_(fn) {MIXC_STR_(fn), offsetof(CudaDriver, fn)},
static const SymbolSlot cu_slots[] = {MIXC_CU_FUNCS(MIXC_CU_SLOT_)};
#define MIXC_CUBLAS_SLOT_(fn) {MIXC_STR_(fn), offsetof(CublasApi, fn)},
static const SymbolSlot cublas_slots[] = {MIXC_CUBLAS_FUNCS(MIXC_CUBLAS_SLOT_)};

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

const CudaDriver *cuda_driver_load(char *err, size_t errlen) {
    pthread_mutex_lock(&loader_lock);
    if (driver_state == 0)
        driver_state = load_driver_locked(driver_error, sizeof driver_error) ? 1 : -1;
    int state = driver_state;
    pthread_mutex_unlock(&loader_lock);
    if (state < 0) {
        if (err && errlen) snprintf(err, errlen, "%s", driver_error);
        return NULL;
    }
    return &driver;
}

const char *jit_cuda_home(void) {
    const char *h = getenv("CUDA_HOME");
    return h && *h ? h : MIXC_CUDA_HOME;
}

static bool load_cublas_locked(char *err, size_t errlen) {
    char alt[1024];
    snprintf(alt, sizeof alt, "%s/lib64/libcublas.so.13", jit_cuda_home());
    const char *names[] = {"libcublas.so.13", "libcublas.so", alt};
    void *h = NULL;
    const char *why = NULL;
    for (size_t i = 0; i < 3 && !h; i++) {
        dlerror();
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h && i == 0) why = dlerror();
    }
    if (!h) {
        snprintf(err, errlen, "no cuBLAS found (libcublas.so.13): %s", why ? why : "not loadable");
        return false;
    }
    CublasApi api = {.handle = h};
    if (!resolve_symbols(h, &api, cublas_slots, sizeof cublas_slots / sizeof *cublas_slots,
                         "libcublas.so.13", err, errlen)) {
        dlclose(h);
        return false;
    }
    cublas = api;
    return true;
}

const CublasApi *cublas_load(char *err, size_t errlen) {
    pthread_mutex_lock(&loader_lock);
    if (cublas_state == 0)
        cublas_state = load_cublas_locked(cublas_error, sizeof cublas_error) ? 1 : -1;
    int state = cublas_state;
    pthread_mutex_unlock(&loader_lock);
    if (state < 0) {
        if (err && errlen) snprintf(err, errlen, "%s", cublas_error);
        return NULL;
    }
    return &cublas;
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

/* ================================================================ cache location and key */

char *jit_cache_dir(void) {
    const char *d = getenv("MIXC_CACHE_DIR");
    if (d && *d) return xstrdup(d);
    Buf b = {0};
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/') buf_printf(&b, "%s/mixc", xdg);
    else if (home && *home) buf_printf(&b, "%s/.cache/mixc", home);
    return b.data;
}

bool jit_make_dirs(const char *path) {
    char *p = xstrdup(path);
    bool ok = true;
    for (char *s = p + 1; ok; s++) {
        bool last = *s == '\0';
        if (*s != '/' && !last) continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) ok = false;
        if (last) break;
        *s = '/';
    }
    struct stat st;
    if (ok && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
        if (errno == 0) errno = ENOTDIR;
        ok = false;
    }
    free(p);
    return ok;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hashes the names and contents of the regular files directly inside dir, in name order. */
static void hash_include_dir(Sha256 *key, const char *dir) {
    sha256_str(key, dir);
    DIR *d = opendir(dir);
    if (!d) {
        sha256_str(key, "(unreadable)");
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? 2 * cap : 16) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_strings);
    for (size_t i = 0; i < n; i++) {
        Buf path = {0};
        buf_printf(&path, "%s/%s", dir, names[i]);
        struct stat st;
        size_t len = 0;
        char *text = stat(path.data, &st) == 0 && S_ISREG(st.st_mode) ? read_file(path.data, &len) : NULL;
        if (text) {
            uint8_t digest[32];
            jit_sha256(text, len, digest);
            sha256_str(key, names[i]);
            sha256_update(key, digest, sizeof digest);
        }
        free(text);
        buf_free(&path);
        free(names[i]);
    }
    free(names);
}

/* ================================================================ cache entries */

#define ENTRY_MAGIC "MIXCJIT"   /* 8 bytes with the NUL */
#define ENTRY_VERSION 1u
#define ENTRY_HEADER 88u        /* magic 8, version 4, output 4, key 32, payload length 8, sum 32 */
#define RES_RECORD 188u         /* name 160, entry 4, six int32 */

static void put_u32(Buf *b, uint32_t v) {
    char c[4];
    for (int i = 0; i < 4; i++) c[i] = (char)(v >> (8 * i));
    if (b->len + 4 + 1 > b->cap) b->data = xrealloc(b->data, b->cap = (b->len + 5) * 2);
    memcpy(b->data + b->len, c, 4);
    b->len += 4;
}

static void put_u64(Buf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_bytes(Buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) b->data = xrealloc(b->data, b->cap = (b->len + n + 1) * 2);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void serialize_entry(const JitResult *r, JitOutput output, const uint8_t key[32], Buf *out) {
    Buf pl = {0};
    size_t log_len = strlen(r->log);
    put_u32(&pl, (uint32_t)r->nres);
    put_u32(&pl, r->resources_known);
    put_u64(&pl, r->image_len);
    put_u64(&pl, log_len);
    for (int i = 0; i < r->nres; i++) {
        const KernelResources *k = &r->res[i];
        char name[160] = {0};
        memcpy(name, k->name, strnlen(k->name, sizeof name - 1));
        put_bytes(&pl, name, sizeof name);
        put_u32(&pl, k->entry);
        int v[6] = {k->registers, k->spill_store_bytes, k->spill_load_bytes, k->stack_bytes,
                    k->smem_bytes, k->cmem_bytes};
        for (int j = 0; j < 6; j++) put_u32(&pl, (uint32_t)v[j]);
    }
    put_bytes(&pl, r->image, r->image_len);
    put_bytes(&pl, r->log, log_len);

    uint8_t sum[32];
    jit_sha256(pl.data, pl.len, sum);
    put_bytes(out, ENTRY_MAGIC, 8);
    put_u32(out, ENTRY_VERSION);
    put_u32(out, (uint32_t)output);
    put_bytes(out, key, 32);
    put_u64(out, pl.len);
    put_bytes(out, sum, 32);
    put_bytes(out, pl.data, pl.len);
    buf_free(&pl);
}

/* Parses an entry into r; NULL on success, else why it is unusable. */
static const char *parse_entry(const uint8_t *d, size_t len, JitOutput output, const uint8_t key[32],
                               JitResult *r) {
    if (len < ENTRY_HEADER) return "truncated header";
    if (memcmp(d, ENTRY_MAGIC, 8) != 0) return "bad magic";
    if (get_u32(d + 8) != ENTRY_VERSION) return "unknown format version";
    if (get_u32(d + 12) != (uint32_t)output) return "wrong output kind";
    if (memcmp(d + 16, key, 32) != 0) return "key mismatch";
    uint64_t plen = get_u64(d + 48);
    if (plen != len - ENTRY_HEADER) return plen > len - ENTRY_HEADER ? "truncated" : "trailing bytes";
    const uint8_t *pl = d + ENTRY_HEADER;
    uint8_t sum[32];
    jit_sha256(pl, plen, sum);
    if (memcmp(sum, d + 56, 32) != 0) return "checksum mismatch";
    if (plen < 24) return "payload too short";
    uint64_t nres = get_u32(pl), image_len = get_u64(pl + 8), log_len = get_u64(pl + 16);
    if (nres > plen / RES_RECORD || image_len > plen || log_len > plen ||
        24 + nres * RES_RECORD + image_len + log_len != plen)
        return "inconsistent lengths";
    const uint8_t *p = pl + 24;
    r->nres = (int)nres;
    r->res = xcalloc(nres ? nres : 1, sizeof *r->res);
    for (uint64_t i = 0; i < nres; i++, p += RES_RECORD) {
        KernelResources *k = &r->res[i];
        memcpy(k->name, p, sizeof k->name);
        k->name[sizeof k->name - 1] = '\0';
        k->entry = get_u32(p + 160) != 0;
        int *v[6] = {&k->registers, &k->spill_store_bytes, &k->spill_load_bytes, &k->stack_bytes,
                     &k->smem_bytes, &k->cmem_bytes};
        for (int j = 0; j < 6; j++) *v[j] = (int)get_u32(p + 164 + 4 * j);
    }
    r->resources_known = get_u32(pl + 4) != 0;
    r->image = xmalloc(image_len + 1);
    memcpy(r->image, p, image_len);
    r->image[image_len] = '\0';
    r->image_len = image_len;
    p += image_len;
    r->log = xmalloc(log_len + 1);
    memcpy(r->log, p, log_len);
    r->log[log_len] = '\0';
    return NULL;
}

/* Atomic and safe between threads and processes: a unique temporary file, then rename. */
static bool write_entry_atomic(const char *path, const char *data, size_t len) {
    Buf tmp = {0};
    buf_printf(&tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        buf_free(&tmp);
        return false;
    }
    bool ok = true;
    for (size_t off = 0; ok && off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else off += (size_t)w;
    }
    fchmod(fd, 0644);
    if (close(fd) != 0) ok = false;
    if (ok) ok = rename(tmp.data, path) == 0;
    int saved = errno;
    if (!ok) unlink(tmp.data);
    errno = saved;
    buf_free(&tmp);
    return ok;
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
    snprintf(head, sizeof head, "mixc-jit-entry v%u; nvrtc %d.%d; output %s", ENTRY_VERSION, major,
             minor, opt->output == JIT_CUBIN ? "cubin" : "ptx");
    sha256_str(&s, head);
    for (int i = 0; i < o->n; i++) sha256_str(&s, o->items[i]);
    for (int i = 0; i < opt->ninclude_dirs; i++) hash_include_dir(&s, opt->include_dirs[i]);
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

static char *program_log(nvrtcProgram prog) {
    size_t n = 0;
    if (nvrtcGetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n == 0) return xcalloc(1, 1);
    char *log = xcalloc(n + 1, 1);
    if (nvrtcGetProgramLog(prog, log) != NVRTC_SUCCESS) log[0] = '\0';
    return log;
}

/* Runs NVRTC. Returns 0 ok, 1 on a compile error (log in r->log, message in err). */
static int run_nvrtc(const char *source, size_t len, const JitOptions *opt, const char *arch,
                     const OptionList *o, JitResult *r, char *err, size_t errlen) {
    const char *name = opt->name ? opt->name : "kernels.cu";
    char *src = xmalloc(len + 1);   /* NVRTC wants a NUL-terminated string */
    memcpy(src, source, len);
    src[len] = '\0';
    nvrtcProgram prog = NULL;
    int rc = 1;
    NVRTC_CHECK(nvrtcCreateProgram(&prog, src, name, 0, NULL, NULL));
    nvrtcResult cr = nvrtcCompileProgram(prog, o->n, (const char *const *)o->items);
    /* The log first: on failure it is the error message. */
    r->log = program_log(prog);
    if (cr != NVRTC_SUCCESS) {
        char first[512];
        explain_failure(r->log, first, sizeof first);
        snprintf(err, errlen, "nvrtc: cannot compile '%s' for %s (%s): %s", name, arch,
                 nvrtcGetErrorString(cr), first);
        goto fail;
    }
    size_t n = 0;
    if (opt->output == JIT_CUBIN) {
        NVRTC_CHECK(nvrtcGetCUBINSize(prog, &n));
        r->image = xmalloc(n + 1);
        NVRTC_CHECK(nvrtcGetCUBIN(prog, r->image));
        r->image[n] = '\0';
        r->image_len = n;
    } else {
        NVRTC_CHECK(nvrtcGetPTXSize(prog, &n));
        r->image = xmalloc(n + 1);
        NVRTC_CHECK(nvrtcGetPTX(prog, r->image));
        r->image[n] = '\0';
        r->image_len = n ? n - 1 : 0;   /* the size counts the NUL */
    }
    rc = 0;
fail:
    if (rc != 0 && !err[0]) snprintf(err, errlen, "nvrtc: %s", cuda_last_error());
    if (prog) nvrtcDestroyProgram(&prog);
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
        fprintf(log_out, "mixc: warning: the ptxas log has no resource figures "
                         "(a compiler cache may have skipped ptxas); resources unknown\n");
}

bool jit_cache_disabled_by_env(void) {
    const char *env = getenv("MIXC_JIT_NO_CACHE");
    return env && *env && strcmp(env, "0") != 0;
}

static bool cache_enabled(const JitOptions *opt) {
    return !opt->no_cache && !jit_cache_disabled_by_env();
}

/* Looks the key up; true on a valid hit. A damaged entry is reported and treated as a miss. */
static bool cache_lookup(const char *path, JitOutput output, const uint8_t key[32], JitResult *r,
                         FILE *log_out) {
    size_t len = 0;
    char *data = read_file(path, &len);
    if (!data) {
        if (errno != ENOENT)
            fprintf(log_out, "mixc: warning: cannot read jit cache entry '%s': %s; rebuilding\n", path,
                    strerror(errno));
        return false;
    }
    const char *why = parse_entry((const uint8_t *)data, len, output, key, r);
    free(data);
    if (why) {
        fprintf(log_out, "mixc: warning: jit cache entry '%s' is corrupt (%s); rebuilding\n", path, why);
        jit_result_free(r);
        return false;
    }
    return true;
}

static void cache_store(const char *dir, const char *path, JitOutput output, const uint8_t key[32],
                        const JitResult *r, FILE *log_out) {
    Buf entry = {0};
    serialize_entry(r, output, key, &entry);
    if (!jit_make_dirs(dir) || !write_entry_atomic(path, entry.data, entry.len))
        fprintf(log_out, "mixc: warning: cannot write jit cache entry '%s': %s\n", path,
                strerror(errno));
    buf_free(&entry);
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
    const char *arch = opt->arch && *opt->arch ? opt->arch : JIT_DEFAULT_ARCH;

    int major = 0, minor = 0;
    nvrtcVersion(&major, &minor);
    OptionList o = {0};
    build_options(opt, arch, major, minor, &o);
    uint8_t key[32];
    compute_key(source, len, opt, &o, major, minor, key);
    hex_encode(key, 32, out->key_hex);

    char *root = cache_enabled(opt) ? (opt->cache_dir ? xstrdup(opt->cache_dir) : jit_cache_dir()) : NULL;
    Buf dir = {0}, path = {0};
    if (root) {
        buf_printf(&dir, "%s/jit", root);
        buf_printf(&path, "%s/%s.%s", dir.data, out->key_hex, opt->output == JIT_CUBIN ? "cubin" : "ptx");
    }
    int rc = 0;
    if (root && cache_lookup(path.data, opt->output, key, out, log_out)) {
        out->cache_hit = true;
        print_log(log_out, out->log, opt->verbose);
    } else {
        rc = run_nvrtc(source, len, opt, arch, &o, out, err, errlen);
        if (!out->log) out->log = xcalloc(1, 1);
        print_log(log_out, out->log, opt->verbose || rc != 0);
        if (rc == 0) {
            collect_resources(source, len, opt, out, log_out);
            if (root) cache_store(dir.data, path.data, opt->output, key, out, log_out);
        }
    }
    buf_free(&dir);
    buf_free(&path);
    free(root);
    option_list_free(&o);
    out->seconds = now_seconds() - t0;
    return rc;
}

void jit_result_free(JitResult *r) {
    if (!r) return;
    free(r->image);
    free(r->log);
    free(r->res);
    char key[65];
    memcpy(key, r->key_hex, sizeof key);
    memset(r, 0, sizeof *r);
    memcpy(r->key_hex, key, sizeof key);
}

int jit_arch_max_smem(const char *arch) {
    static const struct { const char *arch; int bytes; } limits[] = {
        {"sm_80", 166912}, {"sm_86", 101376}, {"sm_87", 166912},
        {"sm_89", 101376}, {"sm_90", 232448}, {"sm_90a", 232448},
    };
    if (!arch) arch = JIT_DEFAULT_ARCH;
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++)
        if (!strcmp(limits[i].arch, arch)) return limits[i].bytes;
    return 0;
}

static void print_count(FILE *out, int v, int width) {
    if (v < 0) fprintf(out, " %*s", width, "-");
    else fprintf(out, " %*d", width, v);
}

int jit_print_resources(const char *source, size_t len, const char *arch, FILE *out) {
    JitOptions opt = {.arch = arch, .output = JIT_CUBIN};
    JitResult r;
    char err[1024];
    if (jit_compile(source, len, &opt, &r, err, sizeof err) != 0) {
        fprintf(stderr, "mixc: %s\n", err);
        jit_result_free(&r);
        return 1;
    }
    if (!arch) arch = JIT_DEFAULT_ARCH;
    fprintf(out, "%-40s %5s %9s %9s %7s %7s %6s\n", "function", "regs", "spill-st", "spill-ld",
            "stack", "smem", "cmem");
    for (int i = 0; i < r.nres; i++) {
        const KernelResources *k = &r.res[i];
        /* A device function ptxas kept out of line is shown in brackets. */
        char name[200];
        snprintf(name, sizeof name, k->entry ? "%s" : "[%s]", k->name);
        fprintf(out, "%-40s", name);
        print_count(out, k->registers, 5);
        print_count(out, k->spill_store_bytes, 9);
        print_count(out, k->spill_load_bytes, 9);
        print_count(out, k->stack_bytes, 7);
        print_count(out, k->smem_bytes, 7);
        print_count(out, k->cmem_bytes, 6);
        fputc('\n', out);
    }
    int limit = jit_arch_max_smem(arch);
    fprintf(out, "%d function%s for %s%s", r.nres, r.nres == 1 ? "" : "s", arch,
            r.cache_hit ? " (cached)" : "");
    if (limit) fprintf(out, "; shared memory limit per block %d bytes", limit);
    fputc('\n', out);
    if (!r.resources_known) fprintf(out, "resources unknown: the ptxas log was missing\n");
    jit_result_free(&r);
    return 0;
}
