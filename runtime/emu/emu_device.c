/* emu_device.c — a CUDA device in this process: the driver API calls and the one cuBLAS call the
 * cuda backend makes, on host memory, with the layout's kernels run in the CUDA emulator and the
 * GEMMs computed on the CPU. The emu backend is the cuda backend on this device (emu_backend.c):
 * the same plan, allocations, schedules, parameter structs and launches as on a GPU.
 *
 * A device pointer is a host address (the kernels' MIXC_DPTR(T) is T * in the emulator, CUdeviceptr
 * in the backend: 8 bytes either way, tests/cuda checks the layouts). The module is the kernels'
 * shared object (emu_backend.c loads it); a function is its NAME_emu_entry. The device says compute
 * capability 8.0, so the backend plans the sm_80 variants, which the emulator runs. */
#include "emu_device.h"

#include "emu/emu_api.h"
#include "run_plan.h"
#include "safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The emulator is linked into mixrun and built binaries, not into mixc: weak references (the emu
 * backend checks them before opening this device). */
#pragma weak mixc_emu_launch_c
#pragma weak mixc_emu_find_kernel
#pragma weak mixc_emu_dlclose

/* ------------------------------------------------------------------ the driver */

static CUresult dev_init(unsigned flags) { (void)flags; return CUDA_SUCCESS; }
static CUresult dev_driver_version(int *v) { *v = CUDA_VERSION; return CUDA_SUCCESS; }
static CUresult dev_get(CUdevice *d, int ordinal) { *d = ordinal; return ordinal == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE; }
static CUresult dev_count(int *n) { *n = 1; return CUDA_SUCCESS; }
static CUresult dev_name(char *name, int len, CUdevice d) { (void)d; snprintf(name, (size_t)len, "mixc CUDA emulator"); return CUDA_SUCCESS; }
/* An H100's multiprocessors, so the decode split rule (plan_decode_launch_splits) runs as on a GPU. */
#define EMU_SM_COUNT 132

static CUresult dev_attribute(int *v, CUdevice_attribute a, CUdevice d) {
    (void)d;
    /* the architecture the emu plan's kernels are for: PLAN_EMU_ARCH, "sm_XY" */
    *v = a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR   ? PLAN_EMU_ARCH[3] - '0'
         : a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR ? PLAN_EMU_ARCH[4] - '0'
         : a == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT     ? EMU_SM_COUNT
                                                             : 0;
    return CUDA_SUCCESS;
}
static CUresult dev_total_mem(size_t *bytes, CUdevice d) { (void)d; *bytes = (size_t)1 << 40; return CUDA_SUCCESS; }
static CUresult ctx_retain(CUcontext *c, CUdevice d) { (void)d; *c = (CUcontext)(uintptr_t)1; return CUDA_SUCCESS; }
static CUresult ctx_release(CUdevice d) { (void)d; return CUDA_SUCCESS; }
static CUresult ctx_set(CUcontext c) { (void)c; return CUDA_SUCCESS; }
static CUresult ctx_sync(void) { return CUDA_SUCCESS; }

/* The image is the kernels' shared object, already loaded (emu_backend.c). */
static CUresult module_load(CUmodule *m, const void *image) { *m = (CUmodule)(uintptr_t)image; return CUDA_SUCCESS; }
static CUresult module_load_ex(CUmodule *m, const void *image, unsigned n, CUjit_option *o, void **v) {
    (void)n, (void)o, (void)v;
    return module_load(m, image);
}
static CUresult module_unload(CUmodule m) {
    mixc_emu_dlclose((void *)m);
    return CUDA_SUCCESS;
}
static CUresult module_function(CUfunction *f, CUmodule m, const char *name) {
    *f = (CUfunction)mixc_emu_find_kernel((void *)m, name);
    return *f ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}
static CUresult func_get_attribute(int *v, CUfunction_attribute a, CUfunction f) { (void)a, (void)f; *v = 0; return CUDA_SUCCESS; }
static CUresult func_set_attribute(CUfunction f, CUfunction_attribute a, int v) { (void)f, (void)a, (void)v; return CUDA_SUCCESS; }

/* A launch runs to completion in the emulator; its failure (a barrier that cannot complete, a
 * misaligned access, ...) is printed and returned as a launch failure. */
static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned smem, CUstream s, void **params, void **extra) {
    (void)s;
    char err[512] = "";
    const void *buf = params ? params[0] : NULL;   /* kernelParams, or extra's parameter buffer */
    for (int i = 0; !params && extra && extra[i] != CU_LAUNCH_PARAM_END; i += 2)
        if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) buf = extra[i + 1];
    if (!buf) return CUDA_ERROR_INVALID_VALUE;
    if (mixc_emu_launch_c((MixcEmuEntry)(void *)f, buf, (EmuDim3){gx, gy, gz}, (EmuDim3){bx, by, bz}, smem, err,
                          sizeof err) == 0)
        return CUDA_SUCCESS;
    fprintf(stderr, "%s: emu: a kernel failed: %s\n", prog_name(), err);
    return CUDA_ERROR_LAUNCH_FAILED;
}

static CUresult mem_alloc(CUdeviceptr *p, size_t n) {
    void *mem = NULL;
    if (posix_memalign(&mem, 256, n ? n : 1) != 0) return CUDA_ERROR_OUT_OF_MEMORY;   /* cudaMalloc's alignment */
    *p = (CUdeviceptr)(uintptr_t)mem;
    return CUDA_SUCCESS;
}
static CUresult mem_free(CUdeviceptr p) { free((void *)(uintptr_t)p); return CUDA_SUCCESS; }
/* Host memory is all the emulated device has: "page-locked" memory is plain memory. */
static CUresult host_alloc(void **p, size_t n) { return (*p = malloc(n ? n : 1)) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY; }
static CUresult host_free(void *p) { free(p); return CUDA_SUCCESS; }
static CUresult copy_htod(CUdeviceptr d, const void *h, size_t n) { memcpy((void *)(uintptr_t)d, h, n); return CUDA_SUCCESS; }
static CUresult copy_dtoh(void *h, CUdeviceptr d, size_t n) { memcpy(h, (const void *)(uintptr_t)d, n); return CUDA_SUCCESS; }
static CUresult copy_dtod(CUdeviceptr d, CUdeviceptr s, size_t n) {
    memmove((void *)(uintptr_t)d, (const void *)(uintptr_t)s, n);
    return CUDA_SUCCESS;
}
static CUresult mem_set(CUdeviceptr d, unsigned char v, size_t n) { memset((void *)(uintptr_t)d, v, n); return CUDA_SUCCESS; }
/* The emulated device's memory is the host's: its physical memory (both free and total: what the
 * backend's plan may take at most). */
static CUresult mem_info(size_t *free_bytes, size_t *total) {
    int64_t host = host_memory_bytes();
    *free_bytes = *total = host > 0 ? (size_t)host : (size_t)1 << 40;
    return CUDA_SUCCESS;
}
static CUresult stream_create(CUstream *s, unsigned flags) { (void)flags; *s = NULL; return CUDA_SUCCESS; }
static CUresult stream_destroy(CUstream s) { (void)s; return CUDA_SUCCESS; }
static CUresult stream_sync(CUstream s) { (void)s; return CUDA_SUCCESS; }
static CUresult event_create(CUevent *e, unsigned flags) { (void)flags; *e = NULL; return CUDA_SUCCESS; }
static CUresult event_record(CUevent e, CUstream s) { (void)e, (void)s; return CUDA_SUCCESS; }
static CUresult event_sync(CUevent e) { (void)e; return CUDA_SUCCESS; }
static CUresult event_elapsed(float *ms, CUevent a, CUevent b) { (void)a, (void)b; *ms = 0; return CUDA_SUCCESS; }
static CUresult event_destroy(CUevent e) { (void)e; return CUDA_SUCCESS; }
static CUresult error_name(CUresult r, const char **s) {
    *s = r == CUDA_SUCCESS ? "CUDA_SUCCESS" : r == CUDA_ERROR_LAUNCH_FAILED ? "CUDA_ERROR_LAUNCH_FAILED" : "CUDA_ERROR";
    return CUDA_SUCCESS;
}
static CUresult error_string(CUresult r, const char **s) {
    *s = r == CUDA_ERROR_LAUNCH_FAILED ? "a kernel failed in the emulator" : "the emulated device refused the call";
    return CUDA_SUCCESS;
}

static const CudaDriver emu_driver = {
    .cuInit = dev_init, .cuDriverGetVersion = dev_driver_version, .cuDeviceGet = dev_get,
    .cuDeviceGetCount = dev_count, .cuDeviceGetName = dev_name, .cuDeviceGetAttribute = dev_attribute,
    .cuDeviceTotalMem = dev_total_mem, .cuDevicePrimaryCtxRetain = ctx_retain,
    .cuDevicePrimaryCtxRelease = ctx_release, .cuCtxSetCurrent = ctx_set, .cuCtxSynchronize = ctx_sync,
    .cuModuleLoadData = module_load, .cuModuleLoadDataEx = module_load_ex, .cuModuleUnload = module_unload,
    .cuModuleGetFunction = module_function, .cuFuncGetAttribute = func_get_attribute,
    .cuFuncSetAttribute = func_set_attribute, .cuLaunchKernel = launch, .cuMemAlloc = mem_alloc,
    .cuMemFree = mem_free, .cuMemcpyHtoD = copy_htod, .cuMemcpyDtoH = copy_dtoh, .cuMemcpyDtoD = copy_dtod,
    .cuMemsetD8 = mem_set, .cuMemGetInfo = mem_info, .cuStreamCreate = stream_create,
    .cuStreamDestroy = stream_destroy, .cuStreamSynchronize = stream_sync, .cuEventCreate = event_create,
    .cuEventRecord = event_record, .cuEventSynchronize = event_sync, .cuEventElapsedTime = event_elapsed,
    .cuEventDestroy = event_destroy, .cuGetErrorName = error_name, .cuGetErrorString = error_string,
    .cuMemAllocHost = host_alloc, .cuMemFreeHost = host_free,
};

/* ------------------------------------------------------------------ cuBLAS: cublasGemmEx on the CPU */

static cublasStatus_t blas_create(cublasHandle_t *h) { *h = (cublasHandle_t)(uintptr_t)1; return CUBLAS_STATUS_SUCCESS; }
static cublasStatus_t blas_destroy(cublasHandle_t h) { (void)h; return CUBLAS_STATUS_SUCCESS; }
static cublasStatus_t blas_stream(cublasHandle_t h, cudaStream_t s) { (void)h, (void)s; return CUBLAS_STATUS_SUCCESS; }
static cublasStatus_t blas_workspace(cublasHandle_t h, void *w, size_t n) { (void)h, (void)w, (void)n; return CUBLAS_STATUS_SUCCESS; }
static cublasStatus_t blas_math(cublasHandle_t h, cublasMath_t m) { (void)h, (void)m; return CUBLAS_STATUS_SUCCESS; }

static bool blas_type_ok(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16BF || t == CUDA_R_16F; }

static float load(const void *p, cudaDataType t, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return t == CUDA_R_16BF ? st_bf16_to_f32(h) : st_f16_to_f32(h);
}
static void store(void *p, cudaDataType t, size_t i, float v) {
    if (t == CUDA_R_32F) ((float *)p)[i] = v;
    else ((uint16_t *)p)[i] = t == CUDA_R_16BF ? st_f32_to_bf16(v) : st_f32_to_f16(v);
}

/* n elements of M from index i on, `stride` apart, as fp32 (one type test per run, not per element:
 * the weights pass here at every GEMM). */
static void load_run(const void *M, cudaDataType t, size_t i, size_t stride, int n, float *out) {
    if (t == CUDA_R_32F)
        for (int l = 0; l < n; l++) out[l] = ((const float *)M)[i + l * stride];
    else if (t == CUDA_R_16BF)
        for (int l = 0; l < n; l++) out[l] = st_bf16_to_f32(((const uint16_t *)M)[i + l * stride]);
    else
        for (int l = 0; l < n; l++) out[l] = st_f16_to_f32(((const uint16_t *)M)[i + l * stride]);
}

/* op(M) of a column-major operand as fp32, row-major by the op's rows: out[r][l] = op(M)[r][l],
 * r < rows, l < depth. A transposed operand's rows are contiguous (the backend's weights and
 * activations both are). */
static float *op_rows(const void *M, cudaDataType t, cublasOperation_t op, int ld, int rows, int depth) {
    float *out = malloc((size_t)rows * (size_t)depth * sizeof(float) + sizeof(float));
    if (!out) return NULL;
    for (int r = 0; r < rows; r++) {
        if (op == CUBLAS_OP_N) load_run(M, t, (size_t)r, (size_t)ld, depth, out + (size_t)r * depth);
        else load_run(M, t, (size_t)r * ld, 1, depth, out + (size_t)r * depth);
    }
    return out;
}

/* x . y in fp32, the terms taken in 8 running sums (term l in sum l mod 8, each in l order) added
 * pairwise at the end: independent sums the compiler vectorises, where one serial chain could not
 * be. tests/cuda/fake_cuda.c sums in the same order, so that the stand-in driver's GEMMs equal
 * these bit for bit. */
static float dot(const float *x, const float *y, int k) {
    float s[8] = {0};
    int l = 0;
    for (; l + 8 <= k; l += 8)
        for (int j = 0; j < 8; j++) s[j] += x[l + j] * y[l + j];
    for (int j = 0; l < k; l++, j++) s[j] += x[l] * y[l];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* C = alpha op(A) op(B) + beta C, column-major (m x k by k x n), fp32 accumulation and the output
 * rounded once to C's type: cuBLAS's documented semantics for CUBLAS_COMPUTE_32F. */
static cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                           int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t compute,
                           cublasGemmAlgo_t algo) {
    (void)h, (void)algo;
    if (compute != CUBLAS_COMPUTE_32F || !blas_type_ok(at) || !blas_type_ok(bt) || !blas_type_ok(ct) || m < 1 ||
        n < 1 || k < 1 || ldc < m)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    float al = *(const float *)alpha, be = *(const float *)beta;
    float *a = op_rows(A, at, ta, lda, m, k);   /* a[i][l] = op(A)[i][l] */
    float *bT = op_rows(B, bt, tb == CUBLAS_OP_N ? CUBLAS_OP_T : CUBLAS_OP_N, ldb, n, k);   /* bT[j][l] = op(B)[l][j] */
    if (!a || !bT) {
        free(a);
        free(bT);
        return CUBLAS_STATUS_ALLOC_FAILED;
    }
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float acc = dot(a + (size_t)i * k, bT + (size_t)j * k, k);
            size_t c = (size_t)i + (size_t)j * ldc;
            store(C, ct, c, al * acc + (be != 0.0f ? be * load(C, ct, c) : 0.0f));
        }
    free(a);
    free(bT);
    return CUBLAS_STATUS_SUCCESS;
}

static cublasStatus_t gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void *alpha, const void *A, cudaDataType at, int lda, long long sa,
                                   const void *B, cudaDataType bt, int ldb, long long sb, const void *beta, void *C,
                                   cudaDataType ct, int ldc, long long sc, int count, cublasComputeType_t compute,
                                   cublasGemmAlgo_t algo) {
    (void)h, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)at, (void)lda, (void)sa;
    (void)B, (void)bt, (void)ldb, (void)sb, (void)beta, (void)C, (void)ct, (void)ldc, (void)sc, (void)count;
    (void)compute, (void)algo;
    return CUBLAS_STATUS_NOT_SUPPORTED;   /* the backend does not use it */
}
static const char *blas_status_name(cublasStatus_t s) {
    return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_NOT_SUPPORTED";
}
static const char *blas_status_string(cublasStatus_t s) { (void)s; return "the emulated cuBLAS refused the call"; }

static const CublasApi emu_cublas = {
    .cublasCreate = blas_create, .cublasDestroy = blas_destroy, .cublasSetStream = blas_stream,
    .cublasSetWorkspace = blas_workspace, .cublasSetMathMode = blas_math, .cublasGemmEx = gemm,
    .cublasGemmStridedBatchedEx = gemm_batched, .cublasGetStatusName = blas_status_name,
    .cublasGetStatusString = blas_status_string,
};

const CudaDriver *emu_device_driver(void) { return &emu_driver; }
const CublasApi *emu_device_cublas(void) { return &emu_cublas; }
