/* jit.h — CUDA source to cubin or PTX with NVRTC, behind an on-disk cache.
 *
 * No GPU is needed: NVRTC compiles for a named architecture (sm_80, sm_90). With cubin output the
 * ptxas resource log (--ptxas-options=-v) is parsed into per-function registers, spills and shared
 * memory; the cache entry keeps those figures, since a cache hit runs no ptxas. See docs/jit.md.
 */
#ifndef MIXC_JIT_H
#define MIXC_JIT_H

#include "codegen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef MIXC_CUDA_HOME
#define MIXC_CUDA_HOME "/usr/local/cuda"   /* overridden at run time by $CUDA_HOME */
#endif

typedef enum { JIT_CUBIN, JIT_PTX } JitOutput;

typedef struct {
    const char *arch;              /* "sm_80", "sm_90", ...; NULL = CODEGEN_DEFAULT_ARCH */
    JitOutput output;              /* cubin (with resources) or PTX (compute_XX, no resources) */
    const char *name;              /* program name used in the log; NULL = "kernels.cu" */
    const char *const *options;    /* extra NVRTC options, e.g. "--maxrregcount=64", "-DTILE=64" */
    int noptions;
    /* Extra include directories. Every regular file directly inside them is hashed into the cache
     * key, so editing a header there misses the cache (the CUDA include dir is covered by the
     * NVRTC version instead). */
    const char *const *include_dirs;
    int ninclude_dirs;
    const char *cache_dir;         /* NULL = $MIXC_CACHE_DIR, $XDG_CACHE_HOME/mixc, ~/.cache/mixc */
    bool no_cache;                 /* neither read nor write the cache ($MIXC_JIT_NO_CACHE=1 too) */
    bool verbose;                  /* print the whole NVRTC log, ptxas info included */
    FILE *log_out;                 /* where logs and warnings go; NULL = stderr */
} JitOptions;

/* One function's resources from the ptxas log. -1 = not reported. */
typedef struct {
    char name[160];                /* as ptxas prints it (mangled unless extern "C") */
    bool entry;                    /* a __global__ kernel; false for a non-inlined device function */
    int registers, spill_store_bytes, spill_load_bytes, stack_bytes, smem_bytes, cmem_bytes;
} KernelResources;

typedef struct {
    char *image;                   /* cubin or PTX (PTX NUL-terminated); NULL on failure */
    size_t image_len;
    char *log;                     /* the NVRTC program log (also kept on failure); never NULL */
    KernelResources *res;
    int nres;
    bool resources_known;          /* false for PTX output, or when the ptxas log was missing */
    bool cache_hit;
    double seconds;                /* wall time of jit_compile */
    char key_hex[65];              /* the cache key */
} JitResult;

/* Compiles source (len bytes; need not be NUL-terminated). Returns 0 on success; on failure
 * returns 1 with a one-line message in err (the first error of the log) and the whole log in
 * out->log, which has also been printed; 2 when NVRTC cannot be loaded (the toolkit is missing:
 * "no NVRTC found ..." in err). Free out with jit_result_free in every case. */
int jit_compile(const char *source, size_t len, const JitOptions *opt, JitResult *out, char *err,
                size_t errlen);
void jit_result_free(JitResult *r);

/* Compiles to cubin for arch (NULL = sm_90) through the cache and prints one row per function:
 * name, registers, spill stores/loads, stack, smem, cmem, and for a kernel of cg (may be NULL) its
 * threads, the blocks per SM it gets on arch (registers, static + the plan's dynamic shared memory)
 * and its designed minimum (KernelVariant.min_blocks). Returns 0 ok; 1 on compile failure (the
 * NVRTC log goes to stderr), on spills in any kernel, or on registers that allow a kernel of cg
 * fewer blocks than its design (each said on stderr); 2 when the CUDA toolkit is missing. Used by
 * `mixc emit --resources`; a mixc built without the toolkit has runtime/jit/no_toolkit.c's. */
int jit_print_resources(const char *source, size_t len, const char *arch, const Codegen *cg, FILE *out);

/* The cache directory as resolved from the environment (NULL when none can be found). Caller frees. */
char *jit_cache_dir(void);
/* The CUDA toolkit's root: $CUDA_HOME, else the one this build was configured with. */
const char *jit_cuda_home(void);
/* True when MIXC_JIT_NO_CACHE is set (and not "0"): no cache is read or written. */
bool jit_cache_disabled_by_env(void);
/* mkdir -p, and the result must be a directory; false with errno set. */
bool jit_make_dirs(const char *path);

/* ---- exposed for tests */
void jit_sha256(const void *data, size_t len, uint8_t digest[32]);
/* Parses a ptxas -v log into *res (malloc'd). Returns the number of functions found. */
int jit_parse_ptxas_log(const char *log, KernelResources **res);

#endif
