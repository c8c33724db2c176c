/* test_jit.c — the NVRTC JIT, its disk cache, the ptxas resource parser and the CUDA error checks.
 * Prints PASS/FAIL per test. No GPU needed. Every test uses its own temporary cache directory.
 *
 *   test_jit                          run the tests
 *   test_jit kernels ARCH FILE.cu...  compile emitted kernels for ARCH and assert no spills and
 *                                     shared memory within the arch's limit (used by run.sh)
 */
#include "codegen.h"
#include "cuda_check.h"
#include "jit.h"
#include "mixc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"

/* A kernel with a known static shared-memory size: 1024 floats = 4096 bytes. */
static const char *smem_kernel =
    "extern \"C\" __global__ void k(float *o) {\n"
    "    __shared__ float s[1024];\n"
    "    s[threadIdx.x] = threadIdx.x;\n"
    "    __syncthreads();\n"
    "    o[threadIdx.x] = s[1023 - threadIdx.x];\n"
    "}\n";

/* 24 float4 live at once (96 registers of data): spills under a small register cap. */
static const char *spill_kernel =
    "extern \"C\" __global__ void spill(const float4 *in, float4 *out) {\n"
    "    float4 v[24];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 24; i++) v[i] = in[threadIdx.x + i * blockDim.x];\n"
    "    float4 s = make_float4(0.f, 0.f, 0.f, 0.f);\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 24; i++) {\n"
    "        s.x += v[i].x * v[23 - i].y; s.y += v[i].y * v[(i + 5) % 24].z;\n"
    "        s.z += v[i].z * v[(i + 7) % 24].w; s.w += v[i].w * v[(i + 11) % 24].x;\n"
    "    }\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 24; i++)\n"
    "        out[threadIdx.x + i * blockDim.x] = make_float4(v[i].x + s.x, v[i].y + s.y, v[i].z + s.z, v[i].w + s.w);\n"
    "}\n";

/* An error on line 3. */
static const char *bad_kernel =
    "extern \"C\" __global__ void bad(float *o) {\n"
    "    int fine = 1;\n"
    "    o[0] = undefined_name + fine;\n"
    "}\n";

/* ---- helpers */

static char *make_temp_dir(void) {
    const char *t = getenv("TMPDIR");
    Buf b = {0};
    buf_printf(&b, "%s/mixc-jit-test.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(b.data)) {
        perror("mkdtemp");
        exit(2);
    }
    return b.data;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Captures what jit_compile prints, to assert on warnings. */
typedef struct {
    FILE *f;
    char *text;
} Capture;

static void capture_begin(Capture *c) {
    free(c->text);
    c->text = NULL;
    c->f = tmpfile();
}

static const char *capture_end(Capture *c) {
    free(c->text);
    long n = ftell(c->f);
    c->text = xcalloc((size_t)(n > 0 ? n : 0) + 1, 1);
    rewind(c->f);
    if (n > 0 && fread(c->text, 1, (size_t)n, c->f) != (size_t)n) c->text[0] = '\0';
    fclose(c->f);
    c->f = NULL;
    return c->text;
}

static int compile(const char *src, JitOptions *opt, JitResult *r) {
    char err[1024];
    int rc = jit_compile(src, strlen(src), opt, r, err, sizeof err);
    if (rc != 0) printf("  compile failed: %s\n", err);
    return rc;
}

static char *entry_path(const char *cache, const JitResult *r, const char *ext) {
    Buf b = {0};
    buf_printf(&b, "%s/jit/%s.%s", cache, r->key_hex, ext);
    return b.data;
}

static const KernelResources *find_kernel(const JitResult *r, const char *name) {
    for (int i = 0; i < r->nres; i++)
        if (!strcmp(r->res[i].name, name)) return &r->res[i];
    return NULL;
}

static bool same_image(const JitResult *a, const JitResult *b) {
    return a->image_len == b->image_len && a->image_len > 0 &&
           memcmp(a->image, b->image, a->image_len) == 0;
}

static bool same_resources(const JitResult *a, const JitResult *b) {
    if (a->nres != b->nres) return false;
    for (int i = 0; i < a->nres; i++) {
        const KernelResources *x = &a->res[i], *y = &b->res[i];
        if (strcmp(x->name, y->name) || x->entry != y->entry || x->registers != y->registers ||
            x->spill_store_bytes != y->spill_store_bytes || x->spill_load_bytes != y->spill_load_bytes ||
            x->stack_bytes != y->stack_bytes || x->smem_bytes != y->smem_bytes || x->cmem_bytes != y->cmem_bytes)
            return false;
    }
    return true;
}

/* ---- tests without NVRTC */

static void test_sha256(void) {
    bool ok = true;
    struct { const char *in, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        uint8_t d[32];
        char hex[65];
        jit_sha256(v[i].in, strlen(v[i].in), d);
        for (int j = 0; j < 32; j++) sprintf(hex + 2 * j, "%02x", d[j]);
        CHECK(strcmp(hex, v[i].hex) == 0);
    }
    /* A million 'a's crosses many blocks and the length encoding. */
    char *m = xmalloc(1000000);
    memset(m, 'a', 1000000);
    uint8_t d[32];
    jit_sha256(m, 1000000, d);
    char hex[65];
    for (int j = 0; j < 32; j++) sprintf(hex + 2 * j, "%02x", d[j]);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    free(m);
    REPORT("sha256 known vectors");
}

static void test_parse_ptxas_log(void) {
    bool ok = true;
    const char *log =
        "ptxas info    : Overriding maximum register limit 256 for 'spill' with  24 of maxrregcount option\n"
        "ptxas info    : 0 bytes gmem\n"
        "ptxas info    : Compiling entry function '_Z2tkILi3EEvPf' for 'sm_80'\n"
        "ptxas info    : Function properties for _Z2tkILi3EEvPf\n"
        "ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n"
        "ptxas info    : Used 8 registers, used 0 barriers, 360 bytes cmem[0]\n"
        "ptxas info    : Compile time = 1.687 ms\n"
        "ptxas info    : Compiling entry function 'spill' for 'sm_80'\n"
        "ptxas info    : Function properties for spill\n"
        "ptxas         .     12704 bytes stack frame, 12980 bytes spill stores, 27656 bytes spill loads\n"
        "ptxas info    : Used 24 registers, used 1 barriers, 4096 bytes smem, 12704 bytes cumulative stack size, 372 bytes cmem[0]\n"
        "ptxas info    : Function properties for _Z6helperPfi\n"
        "ptxas         .     16 bytes stack frame, 4 bytes spill stores, 8 bytes spill loads\n";
    KernelResources *r = NULL;
    int n = jit_parse_ptxas_log(log, &r);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(!strcmp(r[0].name, "_Z2tkILi3EEvPf") && r[0].entry);
        CHECK(r[0].registers == 8 && r[0].smem_bytes == 0 && r[0].cmem_bytes == 360);
        CHECK(r[0].spill_store_bytes == 0 && r[0].spill_load_bytes == 0);
        CHECK(!strcmp(r[1].name, "spill") && r[1].entry);
        CHECK(r[1].registers == 24 && r[1].smem_bytes == 4096 && r[1].cmem_bytes == 372);
        CHECK(r[1].stack_bytes == 12704 && r[1].spill_store_bytes == 12980 &&
              r[1].spill_load_bytes == 27656);
        CHECK(!strcmp(r[2].name, "_Z6helperPfi") && !r[2].entry);
        CHECK(r[2].registers == -1 && r[2].spill_store_bytes == 4 && r[2].spill_load_bytes == 8);
    }
    free(r);
    r = NULL;
    CHECK(jit_parse_ptxas_log("", &r) == 0);
    free(r);
    r = NULL;
    /* Garbage must not confuse it: a "Used" line before any entry is ignored. */
    CHECK(jit_parse_ptxas_log("ptxas info    : Used 9 registers\nFunction properties for \n", &r) == 1);
    free(r);
    REPORT("ptxas log parser");
}

static void test_cuda_checks(void) {
    bool ok = true;
    cuda_check_set_stream(NULL);
    int line = 0;
    char err[512];

    const NvrtcApi *nv = nvrtc_load(err, sizeof err);
    CHECK(nv != NULL);   /* this build has the toolkit: NVRTC is found by its soname */
    if (!nv) {
        REPORT("cuda check macros and driver loader");
        return;
    }
    NVRTC_CHECK_GOTO((line = __LINE__, nv->nvrtcCompileProgram(NULL, 0, NULL)), nvrtc_failed);
    CHECK(!"NVRTC_CHECK did not jump");
nvrtc_failed:
    CHECK(strstr(cuda_last_error(), "NVRTC_ERROR_INVALID_PROGRAM") != NULL);
    CHECK(strstr(cuda_last_error(), "nv->nvrtcCompileProgram(NULL, 0, NULL)") != NULL);
    snprintf(err, sizeof err, "test_jit.c:%d", line);
    CHECK(strstr(cuda_last_error(), err) != NULL);

    const CudaDriver *cu = cuda_driver_load(err, sizeof err);
    if (!cu) {
        /* A machine without a GPU driver: the message says what is missing, nothing crashed. */
        CHECK(!strncmp(err, "no CUDA driver found (libcuda.so.1): ", 37) ||
              !strncmp(err, "the CUDA driver did not start: ", 31));
        CHECK(cuda_driver_load(NULL, 0) == NULL);   /* remembered, not retried */
    } else {
        int count = -1;
        CU_CHECK_GOTO(cu->cuDeviceGetCount(&count), cu_failed);
        CHECK(count >= 1);
        CUdevice dev;
        CU_CHECK_GOTO(cu->cuDeviceGet(&dev, 1 << 20), cu_failed);   /* no such device */
        CHECK(!"CU_CHECK did not jump");
    }
cu_failed:
    if (cu) CHECK(strstr(cuda_last_error(), "CUDA_ERROR_INVALID_DEVICE") != NULL);

    CU_CHECK_GOTO((CUresult)CUDA_ERROR_OUT_OF_MEMORY, oom);
    CHECK(!"CU_CHECK did not jump");
oom:
    CHECK(strstr(cuda_last_error(), cu ? "CUDA_ERROR_OUT_OF_MEMORY" : "CUresult 2") != NULL);

    /* The report shows the call as written, not its macro expansion. */
#define failing_blas_call() ((cublasStatus_t)CUBLAS_STATUS_ARCH_MISMATCH)
    CUBLAS_CHECK_GOTO(failing_blas_call(), blas_failed);
    CHECK(!"CUBLAS_CHECK did not jump");
blas_failed:
    CHECK(strstr(cuda_last_error(), "CUBLAS_STATUS_ARCH_MISMATCH") != NULL);
    CHECK(!strncmp(cuda_last_error(), "failing_blas_call() failed at ", 30));
    cuda_check_set_stream(stderr);
    REPORT("cuda check macros and driver loader");
}

static int check_ret_helper(void) {
    const NvrtcApi *nv = nvrtc_load(NULL, 0);
    if (!nv) return -1;
    NVRTC_CHECK_RET(nv->nvrtcGetPTXSize(NULL, NULL), 7);
    NVRTC_CHECK_RET(nv->nvrtcGetCUBINSize(NULL, NULL), 8);   /* a second use in one function compiles */
    return 0;
}

static void test_check_ret(void) {
    bool ok = true;
    cuda_check_set_stream(NULL);
    CHECK(check_ret_helper() == 7);
    CHECK(strstr(cuda_last_error(), "nvrtcGetPTXSize") != NULL);
    cuda_check_set_stream(stderr);
    REPORT("cuda check return form");
}

/* ---- tests with NVRTC */

static void test_miss_then_hit(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    JitOptions opt = {.cache_dir = cache};
    JitResult a, b;
    CHECK(compile(smem_kernel, &opt, &a) == 0);
    CHECK(compile(smem_kernel, &opt, &b) == 0);
    CHECK(!a.cache_hit && b.cache_hit);
    CHECK(same_image(&a, &b));
    CHECK(same_resources(&a, &b));
    CHECK(!strcmp(a.log, b.log));
    CHECK(!strcmp(a.key_hex, b.key_hex));
    CHECK(a.resources_known && b.resources_known);
    CHECK(b.seconds * 4 < a.seconds);
    /* A cubin is an ELF file. */
    CHECK(a.image_len > 4 && !memcmp(a.image, "\x7f" "ELF", 4));
    const KernelResources *k = find_kernel(&b, "k");
    CHECK(k && k->entry && k->smem_bytes >= 4096 && k->registers > 0);
    CHECK(k && k->spill_store_bytes == 0 && k->spill_load_bytes == 0);
    char *path = entry_path(cache, &a, "cubin");
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > (off_t)a.image_len);
    printf("  miss %.1f ms, hit %.3f ms\n", a.seconds * 1e3, b.seconds * 1e3);
    free(path);
    jit_result_free(&a);
    jit_result_free(&b);
    remove_tree(cache);
    REPORT("cache miss then hit");
}

static void test_options_and_arch_miss(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    JitOptions opt = {.cache_dir = cache};
    JitResult base, def, a80, a80b;
    const char *define[] = {"-DVARIANT=1"};
    CHECK(compile(smem_kernel, &opt, &base) == 0);
    JitOptions with_define = opt;
    with_define.options = define;
    with_define.noptions = 1;
    CHECK(compile(smem_kernel, &with_define, &def) == 0);
    CHECK(!def.cache_hit && strcmp(def.key_hex, base.key_hex) != 0);
    JitOptions sm80 = opt;
    sm80.arch = "sm_80";
    CHECK(compile(smem_kernel, &sm80, &a80) == 0);
    CHECK(!a80.cache_hit && strcmp(a80.key_hex, base.key_hex) != 0);
    CHECK(compile(smem_kernel, &sm80, &a80b) == 0);
    CHECK(a80b.cache_hit && same_image(&a80, &a80b));
    CHECK(!same_image(&a80, &base));   /* a different architecture, a different cubin */
    /* The source is part of the key too. */
    char *edited = xstrdup(smem_kernel);
    edited[strlen(edited) - 3] = ' ';   /* ";\n}" -> " \n}": same program, other bytes */
    edited[strlen(edited) - 4] = ';';
    JitResult e;
    CHECK(compile(edited, &sm80, &e) == 0);
    CHECK(!e.cache_hit);
    free(edited);
    jit_result_free(&e);
    jit_result_free(&base);
    jit_result_free(&def);
    jit_result_free(&a80);
    jit_result_free(&a80b);
    remove_tree(cache);
    REPORT("change of options, arch or source misses");
}

/* Checks an entry file on its own terms (magic, length, checksum): never half-written. */
static bool entry_file_is_whole(const char *path) {
    size_t len = 0;
    char *d = read_file(path, &len);
    if (!d) return errno == ENOENT;
    bool whole = len >= 88 && !memcmp(d, "MIXCJIT", 8);
    if (whole) {
        uint64_t plen = 0;
        for (int i = 7; i >= 0; i--) plen = plen << 8 | (uint8_t)d[48 + i];
        uint8_t sum[32];
        whole = plen == len - 88;
        if (whole) jit_sha256(d + 88, plen, sum);
        whole = whole && !memcmp(sum, d + 56, 32);
    }
    free(d);
    return whole;
}

/* Damages the entry with damage(), then checks it is reported, rebuilt, and hit afterwards. */
static bool damaged_entry_rebuilds(const char *what, void (*damage)(const char *path, size_t len)) {
    bool ok = true;
    char *cache = make_temp_dir();
    JitOptions opt = {.cache_dir = cache};
    JitResult first, again, after;
    CHECK(compile(smem_kernel, &opt, &first) == 0);
    char *path = entry_path(cache, &first, "cubin");
    size_t len = 0;
    char *orig = read_file(path, &len);
    CHECK(orig != NULL);
    damage(path, len);
    Capture cap = {0};
    capture_begin(&cap);
    opt.log_out = cap.f;
    CHECK(compile(smem_kernel, &opt, &again) == 0);
    const char *printed = capture_end(&cap);
    CHECK(!again.cache_hit && same_image(&first, &again) && same_resources(&first, &again));
    CHECK(strstr(printed, "warning: jit cache entry") != NULL);
    CHECK(strstr(printed, what) != NULL);
    CHECK(strstr(printed, "rebuilding") != NULL);
    if (!ok) printf("  printed: %s\n", printed);
    /* Rebuilt in place: the file is whole again (the same up to the log's compile times) and the
     * next lookup hits quietly. */
    size_t len2 = 0;
    char *now = read_file(path, &len2);
    CHECK(now && entry_file_is_whole(path) && orig && len2 > len / 2);
    capture_begin(&cap);
    opt.log_out = cap.f;
    CHECK(compile(smem_kernel, &opt, &after) == 0);
    printed = capture_end(&cap);
    CHECK(after.cache_hit && printed[0] == '\0');
    free(cap.text);
    free(orig);
    free(now);
    free(path);
    jit_result_free(&first);
    jit_result_free(&again);
    jit_result_free(&after);
    remove_tree(cache);
    return ok;
}

static void truncate_half(const char *path, size_t len) {
    if (truncate(path, (off_t)(len / 2)) != 0) perror("truncate");
}

static void flip_payload_byte(const char *path, size_t len) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    long at = 88 + (long)(len - 88) / 2;   /* inside the cubin, past the 88-byte header */
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
}

static void test_truncated_entry(void) {
    bool ok = damaged_entry_rebuilds("truncated", truncate_half);
    REPORT("truncated cache entry detected and rebuilt");
}

static void test_corrupted_entry(void) {
    bool ok = damaged_entry_rebuilds("checksum mismatch", flip_payload_byte);
    REPORT("corrupted cache entry detected and rebuilt");
}

static void test_concurrent_writers(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    JitOptions opt = {.cache_dir = cache, .options = (const char *[]){"-DCONCURRENT=1"}, .noptions = 1};
    /* The key is known before any write: a compile in this process finds it. */
    JitResult probe;
    JitOptions nocache = opt;
    nocache.no_cache = true;
    CHECK(compile(smem_kernel, &nocache, &probe) == 0);
    char *path = entry_path(cache, &probe, "cubin");
    fflush(stdout);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            /* Each writer rewrites the same entry three times, so writes overlap. */
            int bad = 0;
            for (int round = 0; round < 3; round++) {
                unlink(path);
                JitResult r;
                char err[512];
                if (jit_compile(smem_kernel, strlen(smem_kernel), &opt, &r, err, sizeof err) != 0 ||
                    !same_image(&r, &probe))
                    bad = 1;
                jit_result_free(&r);
            }
            _exit(bad);
        }
    }
    /* Meanwhile, every read sees no entry or a whole one. */
    int reads = 0, torn = 0, alive = 2, status;
    while (alive > 0) {
        reads++;
        if (!entry_file_is_whole(path)) torn++;
        for (int i = 0; i < 2; i++)
            if (kids[i] > 0 && waitpid(kids[i], &status, WNOHANG) == kids[i]) {
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                kids[i] = 0;
                alive--;
            }
    }
    CHECK(torn == 0);
    JitResult final;
    CHECK(compile(smem_kernel, &opt, &final) == 0);
    CHECK(final.cache_hit && same_image(&final, &probe));
    /* No temporary file is left behind. */
    Buf dir = {0};
    buf_printf(&dir, "%s/jit", cache);
    int files = 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir.data);   /* no lock file either */
    FILE *p = popen(cmd, "r");
    if (p) {
        if (fscanf(p, "%d", &files) != 1) files = -1;
        pclose(p);
    }
    CHECK(files == 1);
    printf("  %d reads during the writes, %d torn\n", reads, torn);
    buf_free(&dir);
    free(path);
    jit_result_free(&probe);
    jit_result_free(&final);
    remove_tree(cache);
    REPORT("concurrent writers do not corrupt the cache");
}

/* Two processes after one entry, starting together: the entry's lock lets one build it while the
 * other waits, then finds it (without the lock both would miss and compile). */
static void test_one_build_per_entry(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    JitOptions opt = {.cache_dir = cache, .options = (const char *[]){"-DONE_BUILD=1"}, .noptions = 1};
    fflush(stdout);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            JitResult r;
            char err[512];
            int rc = jit_compile(smem_kernel, strlen(smem_kernel), &opt, &r, err, sizeof err);
            _exit(rc != 0 ? 1 : r.cache_hit ? 20 : 10);
        }
    }
    int built = 0, found = 0, status;
    for (int i = 0; i < 2; i++) {
        CHECK(kids[i] > 0 && waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status));
        built += WEXITSTATUS(status) == 10;
        found += WEXITSTATUS(status) == 20;
    }
    CHECK(built == 1 && found == 1);
    printf("  %d built, %d found it\n", built, found);
    remove_tree(cache);
    REPORT("two processes after one entry: one builds it, the other waits and finds it");
}

static void test_compile_error(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    Capture cap = {0};
    capture_begin(&cap);
    JitOptions opt = {.cache_dir = cache, .name = "bad.cu", .log_out = cap.f};
    JitResult r;
    char err[1024];
    int rc = jit_compile(bad_kernel, strlen(bad_kernel), &opt, &r, err, sizeof err);
    const char *printed = capture_end(&cap);
    CHECK(rc == 1);
    CHECK(r.image == NULL && r.log != NULL);
    CHECK(strstr(r.log, "bad.cu(3): error") != NULL);
    CHECK(strstr(r.log, "undefined_name") != NULL);
    CHECK(strstr(printed, "bad.cu(3): error") != NULL);   /* the log was printed */
    CHECK(strstr(err, "bad.cu(3): error") != NULL);
    CHECK(strstr(err, "sm_90") != NULL);
    if (!ok) printf("  err: %s\n  printed: %s\n", err, printed);
    /* Failures are not cached: no entry, nor its lock (the directory may be there, empty). */
    Buf dir = {0};
    buf_printf(&dir, "%s/jit", cache);
    DIR *d = opendir(dir.data);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        files += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d) closedir(d);
    CHECK(files == 0);
    buf_free(&dir);
    free(cap.text);
    jit_result_free(&r);
    remove_tree(cache);
    REPORT("compile error reports the NVRTC log with the line");
}

/* NVRTC fails this with no error text in its log; the message must still say why. */
static void test_static_smem_over_limit(void) {
    bool ok = true;
    const char *big =
        "extern \"C\" __global__ void big(float *o) {\n"
        "    __shared__ float s[12289];   // 49156 bytes, 4 over the static limit\n"
        "    s[threadIdx.x] = 1.f;\n"
        "    __syncthreads();\n"
        "    o[threadIdx.x] = s[12288 - threadIdx.x];\n"
        "}\n";
    Capture cap = {0};
    capture_begin(&cap);
    JitOptions opt = {.no_cache = true, .log_out = cap.f};
    JitResult r;
    char err[1024];
    CHECK(jit_compile(big, strlen(big), &opt, &r, err, sizeof err) == 1);
    capture_end(&cap);
    CHECK(strstr(err, "kernel 'big' declares 49156 bytes of static shared memory") != NULL);
    if (!ok) printf("  err: %s\n", err);
    free(cap.text);
    jit_result_free(&r);
    REPORT("static shared memory over 48 KiB explained");
}

static void test_forced_spills(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    const char *cap_regs[] = {"--maxrregcount=32"};
    JitOptions opt = {.cache_dir = cache, .arch = "sm_80", .options = cap_regs, .noptions = 1};
    JitResult r, hit;
    CHECK(compile(spill_kernel, &opt, &r) == 0);
    const KernelResources *k = find_kernel(&r, "spill");
    CHECK(k && k->entry && k->registers > 0 && k->registers <= 32);
    CHECK(k && k->spill_store_bytes > 0 && k->spill_load_bytes > 0);
    if (k) printf("  spill: %d registers, %d bytes spill stores, %d bytes spill loads\n", k->registers,
                  k->spill_store_bytes, k->spill_load_bytes);
    /* The cache keeps the figures even though a hit runs no ptxas. */
    CHECK(compile(spill_kernel, &opt, &hit) == 0);
    CHECK(hit.cache_hit && same_resources(&r, &hit));
    jit_result_free(&r);
    jit_result_free(&hit);
    remove_tree(cache);
    REPORT("forced register spills detected");
}

static void test_ptx_and_unwritable_cache(void) {
    bool ok = true;
    char *dir = make_temp_dir();
    Buf file = {0};
    buf_printf(&file, "%s/not-a-dir", dir);
    CHECK(write_file_atomic(file.data, "x", 1));
    Capture cap = {0};
    capture_begin(&cap);
    JitOptions opt = {.cache_dir = file.data, .output = JIT_PTX, .log_out = cap.f};
    JitResult r;
    CHECK(compile(smem_kernel, &opt, &r) == 0);
    const char *printed = capture_end(&cap);
    CHECK(r.image && strstr(r.image, ".entry k") && strstr(r.image, ".target sm_90"));
    CHECK(r.image && strlen(r.image) == r.image_len);
    CHECK(!r.resources_known && r.nres == 0);
    CHECK(strstr(printed, "warning: cannot write jit cache entry") != NULL);
    free(cap.text);
    jit_result_free(&r);
    buf_free(&file);
    remove_tree(dir);
    REPORT("ptx output; an unusable cache dir only warns");
}

static void test_print_resources(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    setenv("MIXC_CACHE_DIR", cache, 1);
    FILE *f = tmpfile();
    CHECK(jit_print_resources(smem_kernel, strlen(smem_kernel), "sm_90", NULL, f) == 0);
    long n = ftell(f);
    char *text = xcalloc((size_t)n + 1, 1);
    rewind(f);
    CHECK(fread(text, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    CHECK(strstr(text, "function") && strstr(text, "smem"));
    /* The row of kernel k shows its 4096 bytes of shared memory. */
    const char *row = strstr(text, "\nk ");
    CHECK(row && strstr(row, " 4096 "));
    CHECK(strstr(text, "sm_90") != NULL);
    if (!ok) printf("%s", text);
    free(text);
    /* A compile failure returns 1 (the log goes to stderr). */
    f = tmpfile();
    fflush(stdout);
    int saved = dup(2), null = open("/dev/null", 1);
    dup2(null, 2);
    int rc = jit_print_resources(bad_kernel, strlen(bad_kernel), NULL, NULL, f);
    dup2(saved, 2);
    close(saved);
    close(null);
    fclose(f);
    CHECK(rc == 1);
    Buf jitdir = {0};
    buf_printf(&jitdir, "%s/jit", cache);
    struct stat st;
    CHECK(stat(jitdir.data, &st) == 0 && S_ISDIR(st.st_mode));   /* $MIXC_CACHE_DIR was used */
    buf_free(&jitdir);
    unsetenv("MIXC_CACHE_DIR");
    remove_tree(cache);
    REPORT("jit_print_resources table");
}

/* jit_print_resources of src against cg; its stdout and stderr text (caller frees both). */
static int print_resources_captured(const char *src, const char *arch, const Codegen *cg, char **out, char **err) {
    Capture o = {0}, e = {0};
    capture_begin(&o);
    capture_begin(&e);
    fflush(stderr);
    int saved = dup(2);
    dup2(fileno(e.f), 2);
    int rc = jit_print_resources(src, strlen(src), arch, cg, o.f);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    capture_end(&o);
    capture_end(&e);
    *out = o.text;
    *err = e.text;
    return rc;
}

/* A kernel of the plan is checked against its design: threads and blocks per SM shown in its row,
 * and a design its registers (here: its 1024 threads) cannot meet fails with the figures said. */
static void test_resources_design(void) {
    bool ok = true;
    char *cache = make_temp_dir();
    setenv("MIXC_CACHE_DIR", cache, 1);
    KernelVariant v = {.kind = KV_RMSNORM, .name = "k", .block = 1024, .min_blocks = 1};
    Codegen cg = {.arch = "sm_90", .nkernels = 1, .kernel = &v};
    char *out, *err;
    CHECK(print_resources_captured(smem_kernel, "sm_90", &cg, &out, &err) == 0);
    /* k: 1024 threads, 4096 bytes of shared memory: 2 blocks (64 warps an SM), designed for 1 */
    const char *row = strstr(out, "\nk ");
    CHECK(row && strstr(row, " 1024 ") && strstr(out, "blocks/SM"));
    int threads = 0, blocks = 0, by_regs = 0, design = 0;
    CHECK(row && sscanf(row, "\nk %*d %*d %*d %*d %*d %*d %d %d %d %d", &threads, &blocks, &by_regs, &design) == 4);
    CHECK(threads == 1024 && blocks == 2 && by_regs == 2 && design == 1);
    CHECK(err[0] == '\0');
    if (!ok) printf("%s%s", out, err);
    free(out), free(err);
    v.min_blocks = 4;
    CHECK(print_resources_captured(smem_kernel, "sm_90", &cg, &out, &err) == 1);
    CHECK(strstr(err, "k: its 1024 threads of") && strstr(err, "allow 2 blocks per SM on sm_90, designed for at least 4"));
    if (!ok) printf("%s%s", out, err);
    free(out), free(err);
    unsetenv("MIXC_CACHE_DIR");
    remove_tree(cache);
    REPORT("resources against a kernel's designed occupancy");
}

static void test_cache_dir_env(void) {
    bool ok = true;
    char *saved_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
    char *saved_xdg = getenv("XDG_CACHE_HOME") ? xstrdup(getenv("XDG_CACHE_HOME")) : NULL;
    unsetenv("MIXC_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    setenv("HOME", "/h", 1);
    char *d = jit_cache_dir();
    CHECK(d && !strcmp(d, "/x/cache/mixc"));
    free(d);
    unsetenv("XDG_CACHE_HOME");
    d = jit_cache_dir();
    CHECK(d && !strcmp(d, "/h/.cache/mixc"));
    free(d);
    setenv("MIXC_CACHE_DIR", "/m", 1);
    d = jit_cache_dir();
    CHECK(d && !strcmp(d, "/m"));
    free(d);
    unsetenv("MIXC_CACHE_DIR");
    if (saved_home) setenv("HOME", saved_home, 1);
    if (saved_xdg) setenv("XDG_CACHE_HOME", saved_xdg, 1);
    free(saved_home);
    free(saved_xdg);
    REPORT("cache directory from the environment");
}

/* ---- emitted kernels (run.sh passes them once `mixc emit` works) */

static int check_emitted_kernels(const char *arch, int nfiles, char **files) {
    int bad = 0;
    int limit = codegen_arch_max_smem(arch);
    for (int i = 0; i < nfiles; i++) {
        size_t len = 0;
        char *src = read_file(files[i], &len);
        if (!src) {
            printf("FAIL %s %s: cannot read: %s\n", files[i], arch, strerror(errno));
            bad++;
            continue;
        }
        char *copy = xstrdup(files[i]);
        const char *dirs[] = {dirname(copy), "templates"};
        JitOptions opt = {.arch = arch, .include_dirs = dirs, .ninclude_dirs = 2, .name = files[i]};
        JitResult r;
        char err[1024];
        bool ok = jit_compile(src, len, &opt, &r, err, sizeof err) == 0;
        if (!ok) printf("  %s\n", err);
        CHECK(r.resources_known);
        for (int k = 0; ok && k < r.nres; k++) {
            const KernelResources *res = &r.res[k];
            if (res->spill_store_bytes > 0 || res->spill_load_bytes > 0)
                printf("  %s: %d/%d bytes spilled\n", res->name, res->spill_store_bytes,
                       res->spill_load_bytes), ok = false;
            if (res->entry && limit && res->smem_bytes > limit)
                printf("  %s: %d bytes smem > %d\n", res->name, res->smem_bytes, limit), ok = false;
        }
        printf("%s emitted kernels %s %s (%d functions)\n", ok ? "PASS" : "FAIL", files[i], arch, r.nres);
        bad += !ok;
        jit_result_free(&r);
        free(copy);
        free(src);
    }
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "kernels")) return check_emitted_kernels(argv[2], argc - 3, argv + 3);
    if (argc > 1) {
        fprintf(stderr, "usage: test_jit [kernels ARCH FILE.cu...]\n");
        return 2;
    }
    unsetenv("MIXC_JIT_NO_CACHE");
    test_sha256();
    test_parse_ptxas_log();
    test_cuda_checks();
    test_check_ret();
    test_cache_dir_env();
    test_miss_then_hit();
    test_options_and_arch_miss();
    test_truncated_entry();
    test_corrupted_entry();
    test_concurrent_writers();
    test_one_build_per_entry();
    test_compile_error();
    test_static_smem_over_limit();
    test_forced_spills();
    test_ptx_and_unwritable_cache();
    test_print_resources();
    test_resources_design();
    return failures ? 1 : 0;
}
