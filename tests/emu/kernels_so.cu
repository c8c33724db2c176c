/* A tiny emulated kernels.so for tests/emu/test_dl.c: built like the generated kernels.cu
 * (-DMIXC_EMU -include runtime/emu/mixc_emu.h -shared -fPIC), loaded through emu_api.h. */
struct SaxpyParams {
    int n;
    float a;
    const float *x;
    float *y;
};

/* y = a*x + y, then every block reverses its slice through shared memory and a barrier. */
extern "C" __global__ void emu_saxpy(const SaxpyParams p) {
    __shared__ float s[64];
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < p.n ? p.a * p.x[i] + p.y[i] : 0.0f;
    __syncthreads();
    const int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - threadIdx.x);
    if (j < p.n) p.y[j] = s[threadIdx.x];
}
MIXC_EMU_ENTRY(emu_saxpy, SaxpyParams)

extern "C" __global__ void emu_diverge(const SaxpyParams p) {
    if (threadIdx.x < 16) __syncthreads();
    (void)p;
}
MIXC_EMU_ENTRY(emu_diverge, SaxpyParams)
