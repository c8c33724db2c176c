/* cuda_check.h — error checks for NVRTC, the CUDA driver API and cuBLAS, and the dlopen loaders.
 *
 * The driver (libcuda.so.1), cuBLAS and NVRTC are loaded with dlopen, so no mixc binary links a
 * CUDA library: each starts on a machine without a GPU driver or toolkit and says "no CUDA driver
 * found (libcuda.so.1): ..." (or what else is missing) only when that library is actually needed.
 *
 * The checks never abort: on failure they record
 *     "CALL failed at FILE:LINE: NAME (DESCRIPTION)"
 * as the thread's last CUDA error (cuda_last_error()), print it to the report stream (stderr by
 * default, prefixed with the program's name) and jump to the caller's cleanup label:
 *
 *     const CudaDriver *cu = cuda_driver_load(err, sizeof err);
 *     if (!cu) return 1;
 *     CUmodule mod = NULL;
 *     CU_CHECK(cu->cuModuleLoadData(&mod, image));          // goto fail on error
 *     ...
 *     return 0;
 *   fail:
 *     if (mod) cu->cuModuleUnload(mod);
 *     return 1;
 *
 * The *_GOTO forms name the label; the *_RET forms return a value instead.
 * The loaders and the report function live in runtime/jit/jit.c.
 */
#ifndef MIXC_CUDA_CHECK_H
#define MIXC_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda.h>
#include <nvrtc.h>
#include <stdio.h>

/* ---- the driver API functions mixc uses, resolved by dlsym under the versioned names cuda.h
 * maps them to (cuMemAlloc -> cuMemAlloc_v2, ...), so a call reads drv->cuMemAlloc(&p, n). */
#define MIXC_CU_FUNCS(X)                                                                           \
    X(cuInit) X(cuDriverGetVersion) X(cuDeviceGet) X(cuDeviceGetCount) X(cuDeviceGetName)          \
    X(cuDeviceGetAttribute) X(cuDeviceTotalMem) X(cuDevicePrimaryCtxRetain)                        \
    X(cuDevicePrimaryCtxRelease) X(cuCtxSetCurrent) X(cuCtxSynchronize) X(cuModuleLoadData)        \
    X(cuModuleLoadDataEx) X(cuModuleUnload) X(cuModuleGetFunction) X(cuFuncGetAttribute)           \
    X(cuFuncSetAttribute) X(cuLaunchKernel) X(cuMemAlloc) X(cuMemFree) X(cuMemcpyHtoD)             \
    X(cuMemcpyDtoH) X(cuMemcpyDtoD) X(cuMemsetD8) X(cuMemGetInfo) X(cuStreamCreate)                \
    X(cuStreamDestroy) X(cuStreamSynchronize) X(cuEventCreate) X(cuEventRecord)                    \
    X(cuEventSynchronize) X(cuEventElapsedTime) X(cuEventDestroy) X(cuGetErrorName)                \
    X(cuGetErrorString) X(cuStreamBeginCapture) X(cuStreamEndCapture) X(cuGraphInstantiate)        \
    X(cuGraphLaunch) X(cuGraphExecDestroy) X(cuGraphDestroy) X(cuMemAllocHost) X(cuMemFreeHost)

#define MIXC_CUBLAS_FUNCS(X)                                                                       \
    X(cublasCreate) X(cublasDestroy) X(cublasSetStream) X(cublasSetWorkspace)                      \
    X(cublasSetMathMode) X(cublasGemmEx) X(cublasGemmStridedBatchedEx) X(cublasGetStatusName)      \
    X(cublasGetStatusString)

#define MIXC_NVRTC_FUNCS(X)                                                                        \
    X(nvrtcVersion) X(nvrtcCreateProgram) X(nvrtcCompileProgram) X(nvrtcDestroyProgram)            \
    X(nvrtcGetProgramLogSize) X(nvrtcGetProgramLog) X(nvrtcGetCUBINSize) X(nvrtcGetCUBIN)          \
    X(nvrtcGetPTXSize) X(nvrtcGetPTX) X(nvrtcGetErrorString)

#define MIXC_FN_FIELD_(fn) __typeof__(fn) *fn;
typedef struct {
    MIXC_CU_FUNCS(MIXC_FN_FIELD_)
    void *handle;
} CudaDriver;

typedef struct {
    MIXC_CUBLAS_FUNCS(MIXC_FN_FIELD_)
    void *handle;
} CublasApi;

typedef struct {
    MIXC_NVRTC_FUNCS(MIXC_FN_FIELD_)
    void *handle;
} NvrtcApi;

/* Loads libcuda.so.1 once (thread-safe) and calls cuInit(0). NULL on failure, with
 * "no CUDA driver found (libcuda.so.1): <dlerror>" or the failing step in err. */
const CudaDriver *cuda_driver_load(char *err, size_t errlen);
/* Loads libcublas.so.13 (or libcublas.so, or $CUDA_HOME/lib64/...) once. NULL on failure. */
const CublasApi *cublas_load(char *err, size_t errlen);

/* Loads NVRTC (libnvrtc.so.<major> of the toolkit mixc was built with: by name, then under
 * $CUDA_HOME/lib64) once. NULL on failure, with "no NVRTC found (libnvrtc.so.N): ..." in err. */
const NvrtcApi *nvrtc_load(char *err, size_t errlen);

/* Where failed checks are printed; NULL silences them (they are still recorded). */
void cuda_check_set_stream(FILE *f);
/* The last failed check of this thread ("" if none). */
const char *cuda_last_error(void);
void cuda_check_report(const char *call, const char *file, int line, const char *name,
                       const char *desc);
/* Names for driver / cuBLAS results, also when the library could not be loaded. */
const char *cuda_cu_result_name(CUresult r, const char **desc);
const char *cuda_cublas_status_name(cublasStatus_t s, const char **desc);
const char *cuda_nvrtc_result_name(nvrtcResult r);

/* One check for every API: run `call`, and unless it returned ok_value, report it with the result's
 * name (name_expr, which may set mixc_desc_) and run on_fail (`goto label` or `return value`). */
#define MIXC_API_CHECK_(type, ok_value, name_expr, call, text, on_fail)                            \
    do {                                                                                           \
        type mixc_rc_ = (call);                                                                    \
        if (mixc_rc_ != (ok_value)) {                                                              \
            const char *mixc_desc_ = NULL;                                                         \
            const char *mixc_name_ = (name_expr);                                                  \
            cuda_check_report(text, __FILE__, __LINE__, mixc_name_, mixc_desc_);                   \
            on_fail;                                                                               \
        }                                                                                          \
    } while (0)

#define MIXC_NVRTC_(call, text, on_fail)                                                           \
    MIXC_API_CHECK_(nvrtcResult, NVRTC_SUCCESS, cuda_nvrtc_result_name(mixc_rc_), call, text, on_fail)
#define MIXC_CU_(call, text, on_fail)                                                              \
    MIXC_API_CHECK_(CUresult, CUDA_SUCCESS, cuda_cu_result_name(mixc_rc_, &mixc_desc_), call, text, on_fail)
#define MIXC_CUBLAS_(call, text, on_fail)                                                          \
    MIXC_API_CHECK_(cublasStatus_t, CUBLAS_STATUS_SUCCESS, cuda_cublas_status_name(mixc_rc_, &mixc_desc_), call, \
                    text, on_fail)

/* The public forms stringify the call here, before any macro inside it expands, so the report
 * shows the call as written. */
#define NVRTC_CHECK_GOTO(call, label) MIXC_NVRTC_(call, #call, goto label)
#define CU_CHECK_GOTO(call, label) MIXC_CU_(call, #call, goto label)
#define CUBLAS_CHECK_GOTO(call, label) MIXC_CUBLAS_(call, #call, goto label)
/* The common case: jump to the caller's `fail:` label. */
#define NVRTC_CHECK(call) MIXC_NVRTC_(call, #call, goto fail)
#define CU_CHECK(call) MIXC_CU_(call, #call, goto fail)
#define CUBLAS_CHECK(call) MIXC_CUBLAS_(call, #call, goto fail)
/* Return forms, for functions with nothing to clean up: `return value` on failure. */
#define NVRTC_CHECK_RET(call, value) MIXC_NVRTC_(call, #call, return (value))
#define CU_CHECK_RET(call, value) MIXC_CU_(call, #call, return (value))
#define CUBLAS_CHECK_RET(call, value) MIXC_CUBLAS_(call, #call, return (value))

#endif
