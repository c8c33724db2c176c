/* no_toolkit.c — what stands in for the parts of mixc that need the CUDA toolkit, in a build
 * without it (the Makefile links this file instead of them; docs/jit.md, "Without the toolkit").
 *
 * Each entry point says, in one line, that the toolkit is needed, and fails with exit status 2
 * (unavailable here): `mixc build` (once its command line and layout are read and checked, as with
 * the toolkit: compiler/cli/build_cmd.c), `mixc emit --resources`, and the emu and cuda rows of the
 * backend table. Everything else (check, report, compare, import, export, emit, mixrun's cpu
 * backend) is the same code in both builds.
 */
#include "backend.h"
#include "build.h"
#include "jit.h"
#include "mixc.h"

#include <stdio.h>

#define NO_TOOLKIT "needs the CUDA toolkit, which this build of mixc was made without"

int build_binary(const BuildArgs *a, const Layout *l, const char *text, size_t len) {
    (void)a, (void)l, (void)text, (void)len;
    fprintf(stderr, "mixc build: %s\n", NO_TOOLKIT);
    return 2;
}

int jit_print_resources(const char *source, size_t len, const char *arch, const Codegen *cg, FILE *out) {
    (void)source, (void)len, (void)arch, (void)cg, (void)out;
    fprintf(stderr, "mixc emit: --resources %s\n", NO_TOOLKIT);
    return 2;
}

int emu_backend_usable(char *err, size_t errlen) {
    return backend_open_error(err, errlen, 2, "the emu backend %s (use --backend cpu)", NO_TOOLKIT);
}

int cuda_backend_usable(char *err, size_t errlen) {
    return backend_open_error(err, errlen, 2, "the cuda backend %s (use --backend cpu)", NO_TOOLKIT);
}

int emu_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    (void)m, (void)cfg, (void)b;
    return emu_backend_usable(err, errlen);
}

int cuda_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    (void)m, (void)cfg, (void)b;
    return cuda_backend_usable(err, errlen);
}

bool backend_cuda_available(char *why, size_t whylen) {
    snprintf(why, whylen, "the cuda backend %s", NO_TOOLKIT);
    return false;
}
