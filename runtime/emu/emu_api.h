/* emu_api.h — the plain-C face of the CUDA-on-CPU emulator (libmixcemu).
 *
 * Usable from C11 code that never sees CUDA headers: launch an emulated kernel entry point
 * (NAME_emu_entry, emitted by MIXC_EMU_ENTRY) and load such entry points from a kernels.so.
 *
 * A kernels.so compiled for the emulator does NOT carry its own copy of the emulator: its kernels
 * call into the emulator of the process that loads it. So the loading program must export the
 * emulator's symbols: link it with libmixcemu.a and -rdynamic (the archive is one object, so any
 * reference pulls in all of it), or link both with libmixcemu.so. Otherwise dlopen fails with
 * "undefined symbol", which mixc_emu_dlopen_kernels reports.
 *
 * The emulator runs one launch at a time per OS thread; launches on different OS threads are
 * independent (all state is thread-local). Kernel static __shared__ storage is per process.
 */
#ifndef MIXC_EMU_API_H
#define MIXC_EMU_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EmuDim3 {
    unsigned x, y, z;
} EmuDim3;

/* The signature of every NAME_emu_entry: takes a pointer to the kernel's parameter struct. */
typedef void (*MixcEmuEntry)(const void *params);

/* Runs entry on grid x block threads, blocks one after another, every thread a fiber.
 * Returns 0 on success; non-zero with a one-line message in err (if err != NULL) when the launch
 * is invalid or the kernel misbehaves (barrier divergence, mismatched warp collectives, misaligned
 * ldmatrix/cp.async addresses, ...). Never hangs on a barrier that cannot complete. */
int mixc_emu_launch_c(MixcEmuEntry entry, const void *params, EmuDim3 grid, EmuDim3 block,
                      size_t dynamic_smem_bytes, char *err, size_t errlen);

/* dlopen()s an emulated kernels.so (RTLD_NOW). NULL with a message in err on failure. */
void *mixc_emu_dlopen_kernels(const char *so_path, char *err, size_t errlen);
/* Looks up NAME_emu_entry in a handle from mixc_emu_dlopen_kernels; NULL if absent.
 * The result is a MixcEmuEntry (returned as void * for dlsym-style use). */
void *mixc_emu_find_kernel(void *handle, const char *name);
void mixc_emu_dlclose(void *handle);

/* Per-fiber stack size in bytes (rounded up to pages; default 64 KiB, 256 KiB under ASan;
 * the environment variable MIXC_EMU_STACK_KB overrides the default). Takes effect at the next
 * launch. Overflowing it hits a guard page (SIGSEGV), never silent corruption. */
void mixc_emu_set_stack_size(size_t bytes);
/* Schedule order of the fibers of a block: 0 = ascending thread id (default), 1 = descending
 * (also MIXC_EMU_SCHEDULE=reverse). A correct kernel gives the same result under both; a kernel
 * that misses a __syncthreads/__syncwarp usually does not (a cheap race detector for tests). */
void mixc_emu_set_schedule(int reverse);
/* Frees the cached fiber stacks of the calling OS thread (they are reused between launches). */
void mixc_emu_release(void);

/* Counters of the calling OS thread since it started (for benchmarks; async_groups, the cp.async
 * groups committed by thread 0 of each block, counts the tiles a kernel loads, for tests). */
typedef struct MixcEmuStats {
    unsigned long long launches, blocks, threads, context_switches, barriers, warp_collectives;
    unsigned long long async_groups;
} MixcEmuStats;
void mixc_emu_get_stats(MixcEmuStats *out);

#ifdef __cplusplus
}
#endif

#endif /* MIXC_EMU_API_H */
