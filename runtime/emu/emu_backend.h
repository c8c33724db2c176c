/* emu_backend.h — the emu backend of mixrun: the cuda backend (runtime/cuda) on the emulated device
 * (emu_device.c), the layout's generated kernels (compiler/kernels/codegen.c) compiled as host C++ and
 * run in the CUDA-on-CPU emulator (runtime/emu). docs/model.md, "emu backend".
 *
 * The kernels come from, in order of preference:
 *   1. BackendConfig.emu_kernels_so, when non-NULL (a binary written by `mixc build` embeds them):
 *      loaded as is, nothing compiled or cached; it must have been built from the same layout;
 *   2. the disk cache ($MIXC_CACHE_DIR, $XDG_CACHE_HOME/mixc or ~/.cache/mixc, as the NVRTC JIT):
 *      emu-<sha256 of source, headers and command>.so;
 *   3. a compile with the host C++ compiler ($MIXC_CXX, default c++; extra flags $MIXC_EMU_CXXFLAGS;
 *      CUDA headers from $CUDA_HOME/include, default the CUDA root mixc was built with), written
 *      into the cache atomically. mixc_emu.h and emu_api.h are compiled into this object, so nothing
 *      is read from the source tree: it works from any directory.
 * $MIXC_EMU_VERBOSE=1 says on stderr where the kernels came from.
 *
 * The program must be linked with libmixcemu.a (whole archive) and -rdynamic (see emu_api.h);
 * without it emu_backend_open fails with a message (emu_backend_compile_so still works).
 * Each open backend holds its own kernels: backends of several layouts may be open at once.
 * Needs the CUDA toolkit (its headers, at build and at run time): without it the emu row of the
 * backend table is runtime/jit/no_toolkit.c's.
 */
#ifndef MIXC_RUNTIME_EMU_BACKEND_H
#define MIXC_RUNTIME_EMU_BACKEND_H

#include "backend.h"

/* emu_backend_open (declared in backend.h): the cuda backend on the emulated device, with the
 * generated kernels of m->layout (the emu target's plan);
 * fails with 1 and a message in err when they cannot be generated, compiled or loaded (the
 * compiler's log has then been printed on stderr). */

/* Writes l's kernels for the emulator into out_so (atomically), for paged caches of page_tokens rows
 * a page (0: unpaged): a copy of the cache entry a run of the same kernels would load (compiled into
 * it first, under its lock), or, with no cache to read or write, compiled straight to out_so;
 * *from_cache (may be NULL): whether the entry was there. For `mixc build` (unpaged) and the stand-in
 * driver's tests. */
bool emu_backend_compile_so(const Layout *l, int64_t page_tokens, const char *out_so, bool *from_cache, char *err,
                            size_t errlen);

#endif
