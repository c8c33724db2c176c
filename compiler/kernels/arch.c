/* arch.c — what code generation needs to know of each GPU architecture, as a table: the compiler
 * checks its kernels against it without the CUDA toolkit (the JIT's resource report uses it too). */
#include "codegen.h"

#include <string.h>

int codegen_arch_max_smem(const char *arch) {
    /* Shared memory per block with the opt-in attribute (the CUDA programming guide's table). */
    static const struct {
        const char *arch;
        int bytes;
    } limits[] = {
        {"sm_80", 166912}, {"sm_86", 101376}, {"sm_87", 166912},
        {"sm_89", 101376}, {"sm_90", 232448}, {"sm_90a", 232448},
    };
    if (!arch) arch = CODEGEN_DEFAULT_ARCH;
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++)
        if (!strcmp(limits[i].arch, arch)) return limits[i].bytes;
    return 0;
}
