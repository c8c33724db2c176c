/* fake_cuda.c — a stand-in libcuda.so.1 and libcublas.so.13 for tests/cuda (no GPU here).
 *
 * Built twice as shared objects (-DFAKE_DRIVER, -DFAKE_CUBLAS) and found first through
 * LD_LIBRARY_PATH, so the cuda backend's dlopen path runs for real. $FAKE_CUDA selects the machine:
 *   nodevice   cuInit works, no device;
 *   old        one device of compute capability 7.5;
 *   full       one device of compute capability 9.0 whose "device memory" is host memory: copies
 *              and memsets are done; kernels and GEMMs compute nothing but are checked: every
 *              launch is logged to $FAKE_CUDA_LOG ("NAME gx gy gz bx by bz smem"), a dynamic smem
 *              above 48 KiB needs the opt-in attribute first, and every GEMM operand and copy must
 *              lie inside one live allocation. A violation prints "fake_cuda: ..." and makes the call
 *              fail, so the backend reports it.
 *   full + FAKE_CUDA_EMU_SO=kernels.so: the kernels really run, in the CUDA emulator of the host
 *              program (mixrun exports mixc_emu_*; kernels.so is the layout's kernels compiled for
 *              the emulator, planned like the backend's), and with FAKE_CUBLAS_COMPUTE=1 the GEMMs
 *              are computed on the host (fp32 accumulation, bf16/fp32 operands): the whole backend
 *              then computes real logits on the CPU, to compare with the cpu backend.
 * Leaks: everything allocated must be freed again (checked by the sanitizer pass through mixrun).
 */
#include <cublas_v2.h>
#include <cuda.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stand-in sm_90's multiprocessors (an H100 SXM's and an H200's): the decode split rule reads it. */
#define FAKE_SM_COUNT 132

static const char *mode(void) {
    const char *m = getenv("FAKE_CUDA");
    return m ? m : "nodevice";
}

/* ------------------------------------------------------------------ allocations (shared) */

/* Whether [p, p + n) lies inside one allocation (of the driver library: each .so has its own
 * list, so cuBLAS asks the driver through fake_cuda_in_bounds). */
int fake_cuda_in_bounds(uintptr_t p, size_t n);

#ifdef FAKE_DRIVER
#include <dlfcn.h>

/* The emulator of the host program (emu_api.h), when it exports one. */
typedef struct {
    unsigned x, y, z;
} Dim3;
typedef int (*EmuLaunch)(void *entry, const void *params, Dim3 grid, Dim3 block, size_t smem, char *err, size_t errlen);
typedef void *(*EmuOpen)(const char *path, char *err, size_t errlen);
typedef void *(*EmuFind)(void *handle, const char *name);
typedef void (*EmuClose)(void *handle);
static void *emu_kernels;

typedef struct Alloc {
    uintptr_t base;
    size_t size;
    struct Alloc *next;
} Alloc;
static Alloc *allocs;

int fake_cuda_in_bounds(uintptr_t p, size_t n) {
    for (Alloc *a = allocs; a; a = a->next)
        if (p >= a->base && p + n <= a->base + a->size && p + n >= p) return 1;
    return 0;
}

static CUresult bad(const char *what) {
    fprintf(stderr, "fake_cuda: %s\n", what);
    return CUDA_ERROR_ILLEGAL_ADDRESS;
}

CUresult cuInit(unsigned flags) { (void)flags; return CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return CUDA_SUCCESS; }
CUresult cuDeviceGetCount(int *n) { *n = strcmp(mode(), "nodevice") == 0 ? 0 : 1; return CUDA_SUCCESS; }
CUresult cuDeviceGet(CUdevice *d, int i) {
    if (strcmp(mode(), "nodevice") == 0 || i != 0) return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) { (void)d; snprintf(name, (size_t)len, "fake"); return CUDA_SUCCESS; }
CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d) {
    (void)d;
    bool old = strcmp(mode(), "old") == 0;
    if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) *v = old ? 7 : 9;
    else if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR) *v = old ? 5 : 0;
    else if (a == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT) *v = FAKE_SM_COUNT;
    else *v = 0;
    return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem(size_t *b, CUdevice d) { (void)d; *b = (size_t)1 << 34; return CUDA_SUCCESS; }
static int ctx_refs;
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { (void)d; ctx_refs++; *c = (CUcontext)&ctx_refs; return CUDA_SUCCESS; }
CUresult cuDevicePrimaryCtxRelease(CUdevice d) { (void)d; ctx_refs--; return CUDA_SUCCESS; }
CUresult cuCtxSetCurrent(CUcontext c) { (void)c; return CUDA_SUCCESS; }
CUresult cuCtxSynchronize(void) { return CUDA_SUCCESS; }

/* Modules: any image loads; functions are named handles, with their opt-in shared memory. */
typedef struct Func {
    char name[160];
    int max_dynamic_smem;
    void *entry;            /* the emulated kernel, with FAKE_CUDA_EMU_SO */
    struct Func *next;
} Func;
static Func *funcs;
static int modules;
CUresult cuModuleLoadData(CUmodule *m, const void *image) {
    if (!image) return CUDA_ERROR_INVALID_IMAGE;
    const char *so = getenv("FAKE_CUDA_EMU_SO");
    if (so && *so) {
        EmuOpen open = (EmuOpen)dlsym(RTLD_DEFAULT, "mixc_emu_dlopen_kernels");
        char err[512] = "";
        if (!open) return bad("FAKE_CUDA_EMU_SO: this program has no emulator");
        if (!(emu_kernels = open(so, err, sizeof err))) {
            fprintf(stderr, "fake_cuda: %s\n", err);
            return CUDA_ERROR_INVALID_IMAGE;
        }
    }
    modules++;
    *m = (CUmodule)&modules;
    return CUDA_SUCCESS;
}
CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned n, CUjit_option *o, void **v) {
    (void)n, (void)o, (void)v;
    return cuModuleLoadData(m, image);
}
CUresult cuModuleUnload(CUmodule m) {
    (void)m;
    modules--;
    if (emu_kernels) ((EmuClose)dlsym(RTLD_DEFAULT, "mixc_emu_dlclose"))(emu_kernels);
    emu_kernels = NULL;
    while (funcs) {
        Func *f = funcs->next;
        free(funcs);
        funcs = f;
    }
    return CUDA_SUCCESS;
}
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
    (void)m;
    void *entry = NULL;
    if (emu_kernels && !(entry = ((EmuFind)dlsym(RTLD_DEFAULT, "mixc_emu_find_kernel"))(emu_kernels, name)))
        return CUDA_ERROR_NOT_FOUND;
    Func *fn = calloc(1, sizeof *fn);
    fn->entry = entry;
    snprintf(fn->name, sizeof fn->name, "%s", name);
    fn->next = funcs;
    funcs = fn;
    *f = (CUfunction)fn;
    return CUDA_SUCCESS;
}
CUresult cuFuncGetAttribute(int *v, CUfunction_attribute a, CUfunction f) { (void)a, (void)f; *v = 0; return CUDA_SUCCESS; }
CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) {
    if (a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
        if (v > 227 * 1024) return bad("more than 227 KiB of shared memory");
        ((Func *)f)->max_dynamic_smem = v;
    }
    return CUDA_SUCCESS;
}
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, CUstream s, void **params, void **extra) {
    (void)s, (void)extra;
    Func *fn = (Func *)f;
    if (!gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024) return bad("launch with a bad geometry");
    if (smem > 48 * 1024 && (int)smem > fn->max_dynamic_smem) return bad("dynamic smem above 48 KiB without the opt-in");
    if (!params || !params[0]) return bad("launch without parameters");
    const char *log = getenv("FAKE_CUDA_LOG");
    FILE *out = log ? fopen(log, "a") : NULL;
    if (out) {
        fprintf(out, "%s %u %u %u %u %u %u %u\n", fn->name, gx, gy, gz, bx, by, bz, smem);
        fclose(out);
    }
    if (fn->entry) {
        char err[512] = "";
        EmuLaunch run = (EmuLaunch)dlsym(RTLD_DEFAULT, "mixc_emu_launch_c");
        if (run(fn->entry, params[0], (Dim3){gx, gy, gz}, (Dim3){bx, by, bz}, smem, err, sizeof err) != 0) {
            fprintf(stderr, "fake_cuda: %s: %s\n", fn->name, err);
            return CUDA_ERROR_LAUNCH_FAILED;
        }
    }
    return CUDA_SUCCESS;
}
CUresult cuMemAlloc(CUdeviceptr *p, size_t n) {
    Alloc *a = calloc(1, sizeof *a);
    void *mem = malloc(n ? n : 1);
    if (!a || !mem) {
        free(a);
        free(mem);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    memset(mem, 0xA5, n);   /* not zero: the backend must not count on zeroed memory */
    *a = (Alloc){(uintptr_t)mem, n, allocs};
    allocs = a;
    *p = (CUdeviceptr)(uintptr_t)mem;
    return CUDA_SUCCESS;
}
CUresult cuMemFree(CUdeviceptr p) {
    for (Alloc **a = &allocs; *a; a = &(*a)->next)
        if ((*a)->base == (uintptr_t)p) {
            Alloc *dead = *a;
            *a = dead->next;
            free((void *)dead->base);
            free(dead);
            return CUDA_SUCCESS;
        }
    return bad("cuMemFree of an unknown pointer");
}
CUresult cuMemcpyHtoD(CUdeviceptr d, const void *h, size_t n) {
    if (!fake_cuda_in_bounds((uintptr_t)d, n)) return bad("cuMemcpyHtoD out of bounds");
    memcpy((void *)(uintptr_t)d, h, n);
    return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoH(void *h, CUdeviceptr d, size_t n) {
    if (!fake_cuda_in_bounds((uintptr_t)d, n)) return bad("cuMemcpyDtoH out of bounds");
    memcpy(h, (void *)(uintptr_t)d, n);
    return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoD(CUdeviceptr d, CUdeviceptr s, size_t n) {
    if (!fake_cuda_in_bounds((uintptr_t)d, n) || !fake_cuda_in_bounds((uintptr_t)s, n)) return bad("cuMemcpyDtoD out of bounds");
    memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n);
    return CUDA_SUCCESS;
}
CUresult cuMemsetD8(CUdeviceptr d, unsigned char v, size_t n) {
    if (!fake_cuda_in_bounds((uintptr_t)d, n)) return bad("cuMemsetD8 out of bounds");
    memset((void *)(uintptr_t)d, v, n);
    return CUDA_SUCCESS;
}
CUresult cuMemGetInfo(size_t *f, size_t *t) { *f = *t = (size_t)1 << 34; return CUDA_SUCCESS; }
CUresult cuStreamCreate(CUstream *s, unsigned flags) { (void)flags; *s = NULL; return CUDA_SUCCESS; }
CUresult cuStreamDestroy(CUstream s) { (void)s; return CUDA_SUCCESS; }
CUresult cuStreamSynchronize(CUstream s) { (void)s; return CUDA_SUCCESS; }
CUresult cuEventCreate(CUevent *e, unsigned flags) { (void)flags; *e = NULL; return CUDA_SUCCESS; }
CUresult cuEventRecord(CUevent e, CUstream s) { (void)e, (void)s; return CUDA_SUCCESS; }
CUresult cuEventSynchronize(CUevent e) { (void)e; return CUDA_SUCCESS; }
CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) { (void)a, (void)b; *ms = 0; return CUDA_SUCCESS; }
CUresult cuEventDestroy(CUevent e) { (void)e; return CUDA_SUCCESS; }
CUresult cuGetErrorName(CUresult r, const char **s) {
    *s = r == CUDA_ERROR_ILLEGAL_ADDRESS ? "CUDA_ERROR_ILLEGAL_ADDRESS" : "CUDA_ERROR_FAKE";
    return CUDA_SUCCESS;
}
CUresult cuGetErrorString(CUresult r, const char **s) { (void)r; *s = "fake driver"; return CUDA_SUCCESS; }

/* Still held at exit: device memory, modules or the context (a leak of the backend). */
__attribute__((destructor)) static void report_leaks(void) {
    if (strcmp(mode(), "full") != 0) return;
    int n = 0;
    for (Alloc *a = allocs; a; a = a->next) n++;
    if (n || modules || ctx_refs) fprintf(stderr, "fake_cuda: at exit %d allocations, %d modules, %d contexts held\n", n, modules, ctx_refs);
}
#endif

#ifdef FAKE_CUBLAS
#include <dlfcn.h>

/* The driver's bounds check (both fakes are loaded RTLD_LOCAL: found through the driver's handle). */
static int in_bounds(uintptr_t p, size_t n) {
    static int (*check)(uintptr_t, size_t);
    if (!check) {
        void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
        if (h) check = (int (*)(uintptr_t, size_t))dlsym(h, "fake_cuda_in_bounds");
        if (h) dlclose(h);
    }
    return check ? check(p, n) : 0;
}

static int handles;
cublasStatus_t cublasCreate(cublasHandle_t *h) { handles++; *h = (cublasHandle_t)&handles; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy(cublasHandle_t h) { (void)h; handles--; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { (void)h, (void)s; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *w, size_t n) { (void)h, (void)w, (void)n; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { (void)h, (void)m; return CUBLAS_STATUS_SUCCESS; }

/* bf16 <-> fp32 (round to nearest even; the values here are finite). */
static float load(const void *p, cudaDataType t, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static void store(void *p, cudaDataType t, size_t i, float v) {
    if (t == CUDA_R_32F) {
        ((float *)p)[i] = v;
        return;
    }
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    ((uint16_t *)p)[i] = (uint16_t)(u >> 16);
}

static size_t elem(cudaDataType t) {
    return t == CUDA_R_32F ? 4 : t == CUDA_R_16BF || t == CUDA_R_16F ? 2 : 0;
}
/* A column-major operand of `cols` columns of `rows` used rows, leading dimension ld. */
static int operand_ok(const void *p, cudaDataType t, int rows, int cols, int ld) {
    if (!p || !elem(t) || ld < rows || rows < 1 || cols < 1) return 0;
    return in_bounds((uintptr_t)p, ((size_t)ld * (size_t)(cols - 1) + (size_t)rows) * elem(t));
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                            int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t ctype,
                            cublasGemmAlgo_t algo) {
    (void)h, (void)alpha, (void)beta, (void)algo;
    int ok = ctype == CUBLAS_COMPUTE_32F && at == bt &&
             operand_ok(A, at, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda) &&
             operand_ok(B, bt, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb) &&
             operand_ok(C, ct, m, n, ldc);
    if (!ok) {
        fprintf(stderr, "fake_cuda: cublasGemmEx m %d n %d k %d lda %d ldb %d ldc %d: an operand is out of bounds\n",
                m, n, k, lda, ldb, ldc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const char *log = getenv("FAKE_CUDA_LOG");
    FILE *out = log ? fopen(log, "a") : NULL;
    if (out) {
        fprintf(out, "gemm %d %d %d\n", m, n, k);
        fclose(out);
    }
    const char *compute = getenv("FAKE_CUBLAS_COMPUTE");
    if (compute && strcmp(compute, "1") == 0) {
        if (at == CUDA_R_16F || ct == CUDA_R_16F) return CUBLAS_STATUS_NOT_SUPPORTED;   /* bf16 and fp32 only */
        float al = *(const float *)alpha, be = *(const float *)beta;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float acc = 0.0f;
                for (int l = 0; l < k; l++) {
                    float a = load(A, at, ta == CUBLAS_OP_N ? (size_t)i + (size_t)l * lda : (size_t)l + (size_t)i * lda);
                    float b = load(B, bt, tb == CUBLAS_OP_N ? (size_t)l + (size_t)j * ldb : (size_t)j + (size_t)l * ldb);
                    acc += a * b;
                }
                size_t c = (size_t)i + (size_t)j * ldc;
                store(C, ct, c, al * acc + (be != 0.0f ? be * load(C, ct, c) : 0.0f));
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType at, int lda,
                                          long long sa, const void *B, cudaDataType bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType ct, int ldc, long long sc, int count,
                                          cublasComputeType_t ctype, cublasGemmAlgo_t algo) {
    (void)h, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)at, (void)lda, (void)sa;
    (void)B, (void)bt, (void)ldb, (void)sb, (void)beta, (void)C, (void)ct, (void)ldc, (void)sc, (void)count;
    (void)ctype, (void)algo;
    return CUBLAS_STATUS_NOT_SUPPORTED;   /* the backend does not use it */
}
const char *cublasGetStatusName(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_FAKE"; }
const char *cublasGetStatusString(cublasStatus_t s) { (void)s; return "fake cuBLAS"; }

__attribute__((destructor)) static void report_handles(void) {
    if (handles) fprintf(stderr, "fake_cuda: at exit %d cuBLAS handles held\n", handles);
}
#endif
