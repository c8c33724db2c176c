/* emu_device.h — the CUDA driver and cuBLAS of the emulated device (emu_device.c): what the cuda
 * backend calls, on host memory, the kernels in the CUDA emulator, GEMMs on the CPU. The emu backend
 * (emu_backend.c) is the cuda backend opened on it. */
#ifndef MIXC_RUNTIME_EMU_DEVICE_H
#define MIXC_RUNTIME_EMU_DEVICE_H

#include "cuda_check.h"


const CudaDriver *emu_device_driver(void);
const CublasApi *emu_device_cublas(void);

#endif
