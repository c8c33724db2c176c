/* cuda_backend.h — the cuda backend of mixrun (runtime/cuda/cuda_backend.c, docs/gpu.md).
 *
 * The model of docs/model.md on one NVIDIA GPU: weights in the model dtype, cuBLAS GEMMs (bf16/fp16
 * in, fp32 compute), the layout's generated kernels (compiler/kernels/codegen.c) for the embedding gather,
 * RMSNorm, RoPE + cache append, prefill and decode attention and SiLU-mul, JIT-compiled with NVRTC
 * for the device's architecture (runtime/jit/jit.c and its disk cache) or taken from a prebuilt cubin.
 * The driver and cuBLAS are loaded with dlopen (cuda_check.h), so a binary holding this backend
 * starts on a machine without a GPU; its open says "no CUDA device available" there. A cubin
 * prebuilt by `mixc build` comes in through BackendConfig.cuda_cubin.
 *
 * Memory and program are the run plan's (compiler/plan/run_plan.h): one KV allocation and one arena
 * of its sizes, tensors at its offsets, each step its schedule's ops; every launch's geometry is
 * codegen's kernel_launch. cuda_backend_launch_plan lists a step's launches, which the tests
 * (tests/cuda) compare with the manifest of `mixc emit` without a GPU.
 */
#ifndef MIXC_RUNTIME_CUDA_BACKEND_H
#define MIXC_RUNTIME_CUDA_BACKEND_H

#include "backend.h"
#include "codegen.h"
#include "cuda_check.h"
#include "jit.h"
#include "run_plan.h"

/* cuda_backend_open and backend_cuda_available: declared in backend.h. */

/* Where the backend runs. The GPU: the driver and cuBLAS (dlopen'ed), the kernels compiled by
 * NVRTC for the run's context or prebuilt for the model's. The emulated device (runtime/emu): host
 * memory, the kernels run in the CUDA emulator, GEMMs on the CPU (the emu backend). Above it the
 * backend is one: the plan's allocations, its schedules, its parameter structs and launches. */
typedef struct CudaDevice {
    const char *name;           /* the backend's: "cuda", "emu" */
    RunTarget target;           /* its run plan's defaults (run_options_init) */
    const CudaDriver *cu;
    const CublasApi *bl;
    /* Loads the module of cg's kernels for arch into *mod: 0, or an exit status with a message. */
    int (*load_module)(const struct CudaDevice *d, const Layout *l, const Codegen *cg, const char *arch,
                       const BackendConfig *cfg, CUmodule *mod, char *err, size_t errlen);
} CudaDevice;

/* The cuda backend on device d (cuda_backend_open: the GPU). */
int cuda_backend_open_on(const CudaDevice *d, const Model *m, const BackendConfig *cfg, Backend *b, char *err,
                         size_t errlen);

/* ---- the kernels and their launches, also usable without a GPU */

/* The codegen options the backend uses for a run of `context` tokens per sequence: that context
 * and min(chunk, context) when JIT-compiling; the model's own (what `mixc build` compiles) when
 * `prebuilt`. arch: the codegen architecture ("sm_80" or "sm_90"). */
CodegenOptions cuda_backend_codegen_options(const Layout *l, int64_t context, bool prebuilt, const char *arch);

/* The source the backend compiles (codegen_source). */
void cuda_backend_source(const Layout *l, const Codegen *cg, Buf *out);

/* Compiles cuda_backend_source to a cubin for arch (e.g. "sm_90") through the JIT cache.
 * 0 ok; 1 with a message in err. Free r with jit_result_free either way. */
int cuda_backend_compile(const Layout *l, const Codegen *cg, const char *arch, JitResult *r, char *err,
                         size_t errlen);

typedef enum {
    CL_EMBED, CL_RMSNORM, CL_ROPE, CL_PREFILL, CL_DECODE, CL_DECODE_REDUCE, CL_SILU_MUL, CL_RESIDUAL_ADD, CL_BIAS_ADD,
    CL_ROUTER_BIAS_ADD, CL_MOE_ROUTE, CL_MOE_GEMM, CL_MOE_COMBINE, CL_ARGMAX, CL_ADD_RMSNORM
} CudaLaunchRole;

/* The final RMSNorm of the rows whose logits are asked (on the kernels' plan fused with the last
 * layer's residual add: add_rmsnorm): the one kernel op outside the layers after the embedding (its
 * launch covers only those rows; the other rows of x are read by nothing after it). */
static inline bool cuda_final_norm(const PlanOp *op) {
    return op->layer < 0 && (op->kind == OP_RMSNORM || op->kind == OP_ADD_RMSNORM);
}

typedef struct {
    int layer;              /* -1 for model-level kernels */
    CudaLaunchRole role;
    int kernel;             /* index into Codegen.kernel */
    unsigned grid[3], block[3];
    unsigned smem;          /* dynamic shared memory, bytes */
} CudaLaunch;

/* The launch of kernel k over `tokens` rows of `batch` sequences (codegen's kernel_launch). */
CudaLaunch cuda_launch_of(const Codegen *cg, int k, int64_t tokens, int batch);

/* Every kernel launch of one step of the run plan p (a cuda plan), in order: a prefill chunk of
 * `tokens` tokens of one sequence when `decode` is false, else its decode step of p->opt.batch
 * sequences (the decode step's argmax last). The final RMSNorm of the rows whose logits are asked
 * (grid [rows]) follows when there are any; it is not listed, nor is a prefill's argmax, which runs
 * after it (grid [rows]) when a pick or logits are asked. A reduce the schedule runs only after a
 * split launch (when_split) is listed when its layer's decode launch, listed before it, splits.
 * Returns the count; *out malloc'ed. */
int cuda_backend_launch_plan(const RunPlan *p, bool decode, int64_t tokens, CudaLaunch **out);
const char *cuda_launch_role_name(CudaLaunchRole r);
/* A batched prefill's int inputs (docs/kernels.md) for parts[0..n) at the slots' lengths seq_len:
 * rows[0..R) the token ids, rows[R..2R) the positions, rows[2R..3R) the slots (R: the parts'
 * tokens), and args the plan's chunk_args for up to max_parts parts (mixc_prefill_args). Returns the
 * tile count. */
int cuda_prefill_ints(const int64_t *seq_len, const PrefillPart *parts, int n, int64_t rows, int64_t max_parts,
                      int32_t *row_ints, int *args);
/* One line per launch: "layer ROLE NAME grid X Y Z block X Y Z smem S". */
void cuda_backend_print_plan(const Codegen *cg, const CudaLaunch *p, int n, FILE *out);
/* Both steps' launches (a full prefill chunk, a decode of nseq sequences), headed by the device. */
void cuda_backend_print_launches(const RunPlan *plan, const char *device, const char *arch, int nseq, FILE *out);

#endif
