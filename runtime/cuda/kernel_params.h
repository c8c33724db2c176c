/* kernel_params.h — C mirrors of the parameter structs of templates/ *.cuh, shared by the backends
 * that launch the generated kernels (runtime/cuda/cuda_backend.c, runtime/emu/emu_backend.c).
 *
 * Before including, a backend defines MIXC_DPTR(T): the type of its device pointer to T. The
 * emulator's "device" is host memory, so it uses T *; the driver API uses CUdeviceptr. Both are 8
 * bytes (LP64, as on the GPU), so every instantiation has the one layout that kernel_params_asserts
 * checks against the templates. */
#ifndef MIXC_KERNEL_PARAMS_H
#define MIXC_KERNEL_PARAMS_H

#ifndef MIXC_DPTR
#error "define MIXC_DPTR(T) before including kernel_params.h"
#endif

#include "mixc.h"

typedef struct {
    MIXC_DPTR(const void) x;
    MIXC_DPTR(const void) weight;
    MIXC_DPTR(void) out;
    int tokens;
} RmsNormParams;
typedef struct {
    MIXC_DPTR(const void) gate;
    MIXC_DPTR(const void) up;
    MIXC_DPTR(void) out;
    long long n;
} SiluMulParams;
typedef struct {
    MIXC_DPTR(void) q;
    MIXC_DPTR(const void) k;
    MIXC_DPTR(const void) v;
    MIXC_DPTR(void) k_cache;
    MIXC_DPTR(void) v_cache;
    MIXC_DPTR(const int) pos;
    MIXC_DPTR(const int) seq;
    int tokens;
} RopeParams;
typedef struct {
    MIXC_DPTR(const void) q;
    MIXC_DPTR(void) out;
    MIXC_DPTR(const void) k_cache;
    MIXC_DPTR(const void) v_cache;
    MIXC_DPTR(const int) q_start;
    MIXC_DPTR(const int) q_len;
    MIXC_DPTR(const int) pos0;
    float scale;
    int batch;
} PrefillParams;
typedef struct {
    MIXC_DPTR(const void) q;
    MIXC_DPTR(const void) k_cache;
    MIXC_DPTR(const void) v_cache;
    MIXC_DPTR(const int) pos;
    MIXC_DPTR(float) o_part;
    MIXC_DPTR(float) ml_part;
    float scale;
    int batch;
} DecodeParams;
typedef struct {
    MIXC_DPTR(const float) o_part;
    MIXC_DPTR(const float) ml_part;
    MIXC_DPTR(void) out;
    int heads, nsplit, batch;
} DecodeReduceParams;
typedef struct {
    MIXC_DPTR(const int) ids;
    MIXC_DPTR(const void) table;
    MIXC_DPTR(void) out;
    int tokens;
} EmbedParams;

/* Appends static_asserts (offsetof, sizeof) of these mirrors to a kernels source, for a host C++
 * compile (NVRTC has no constant offsetof): a template change that breaks a mirror fails there. */
void kernel_params_asserts(Buf *out);

#endif
