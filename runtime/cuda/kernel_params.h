/* kernel_params.h — the kernels' parameter structs (templates/mixc_params.h, the one definition the
 * templates use too) for the backend that launches the generated kernels (runtime/cuda/cuda_backend.c, on a GPU or
 * on the emulated device), and the layout check of their host instantiation (which
 * runtime/emu/emu_backend.c appends to the kernels it compiles for the emulator).
 *
 * Before including, a backend defines MIXC_DPTR(T): the type of its device pointer to T. The
 * emulator's "device" is host memory, so it uses T *; the driver API uses CUdeviceptr. Both are 8
 * bytes (LP64, as on the GPU), so every instantiation has the one layout that kernel_params_asserts
 * checks against the device compile. */
#ifndef MIXC_KERNEL_PARAMS_H
#define MIXC_KERNEL_PARAMS_H

#ifndef MIXC_DPTR
#error "define MIXC_DPTR(T) before including kernel_params.h"
#endif

#include "mixc.h"
#include "mixc_params.h"

/* Appends static_asserts (offsetof, sizeof) of this host instantiation to a kernels source, for a
 * host C++ compile (NVRTC has no constant offsetof): a pointer type of another size fails there. */
void kernel_params_asserts(Buf *out);

#endif
