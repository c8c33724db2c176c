/* arch.c — what code generation needs to know of each GPU architecture, as a table: the compiler
 * checks its kernels against it without the CUDA toolkit (the JIT's resource report uses it too). */
#include "codegen.h"

#include <string.h>

/* The CUDA programming guide's "technical specifications per compute capability". Every arch here
 * has 64K 32-bit registers per SM, allocated 256 per warp, and reserves 1 KB of shared memory per
 * block, allocated in 128-byte units. */
typedef struct {
    const char *arch;
    int smem_block;     /* shared memory per block with the opt-in attribute */
    int smem_sm;        /* shared memory per SM */
    int warps_sm, blocks_sm;
} ArchFigures;

static const ArchFigures arch_figures[] = {
    {"sm_80", 166912, 167936, 64, 32}, {"sm_86", 101376, 102400, 48, 16}, {"sm_87", 166912, 167936, 48, 16},
    {"sm_89", 101376, 102400, 48, 24}, {"sm_90", 232448, 233472, 64, 32}, {"sm_90a", 232448, 233472, 64, 32},
};

static const ArchFigures *figures(const char *arch) {
    if (!arch) arch = CODEGEN_DEFAULT_ARCH;
    for (size_t i = 0; i < sizeof arch_figures / sizeof *arch_figures; i++)
        if (!strcmp(arch_figures[i].arch, arch)) return &arch_figures[i];
    return NULL;
}

int codegen_arch_max_smem(const char *arch) {
    const ArchFigures *a = figures(arch);
    return a ? a->smem_block : 0;
}

int64_t codegen_arch_cublas_workspace(const char *arch) {
    if (!arch) arch = CODEGEN_DEFAULT_ARCH;
    return (!strncmp(arch, "sm_90", 5) ? 32 : 4) * ((int64_t)1 << 20);
}

static int min_int(int a, int b) { return a < b ? a : b; }

ArchOccupancy codegen_arch_occupancy(const char *arch, int threads, int registers, int64_t smem) {
    ArchOccupancy o = {0};
    const ArchFigures *a = figures(arch);
    if (!a || threads < 1 || registers < 0 || smem < 0 || smem > a->smem_block) return o;
    const int warps = (threads + 31) / 32;
    const int warp_regs = (registers * 32 + 255) / 256 * 256;
    o.by_threads = min_int(a->blocks_sm, a->warps_sm / warps);
    o.by_registers = warp_regs ? 65536 / warp_regs / warps : o.by_threads;
    const int64_t block_smem = (smem + 1024 + 127) / 128 * 128;
    o.by_smem = (int)(a->smem_sm / block_smem);
    o.blocks = min_int(o.by_threads, min_int(o.by_registers, o.by_smem));
    return o;
}
