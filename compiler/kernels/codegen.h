/* codegen.h — specialized CUDA kernels from a checked Layout (compiler/kernels/codegen.c), and
 * their manifest.json (manifest.c).
 *
 * The kernel logic lives in the templates/ headers (embedded into the mixc binary at build time); the
 * generated kernels.cu pastes them in and instantiates one extern "C" kernel per distinct variant
 * (attention kind, window, head_dim, GQA group, cache capacity, dtype, phase, cache owner or reader).
 * manifest.json maps every layer to its kernels, their launch geometry and its cache.
 * docs/kernels.md describes the kernels, their parameters and the manifest.
 */
#ifndef MIXC_CODEGEN_H
#define MIXC_CODEGEN_H

#include "mixc.h"

#include <jansson.h>

#define CODEGEN_DEFAULT_ARCH "sm_90"
#define CODEGEN_STATIC_SMEM_LIMIT 49152   /* more dynamic smem needs cudaFuncSetAttribute */

/* The largest shared memory one block may use on arch (opt-in), in bytes; 0 when unknown. NULL =
 * CODEGEN_DEFAULT_ARCH. (arch.c: a table of the GPUs' figures, so no toolkit is needed.) */
int codegen_arch_max_smem(const char *arch);
/* The cuBLAS workspace the cuda backend gives its handle on arch (cublasSetWorkspace: the cuBLAS API
 * reference's recommendation, 32 MiB on Hopper and 4 MiB on the others), so that no GEMM allocates,
 * in a captured graph or out of it. NULL = CODEGEN_DEFAULT_ARCH. */
int64_t codegen_arch_cublas_workspace(const char *arch);

/* Blocks of one kernel resident on an SM of arch, and what each resource alone allows: threads (and
 * the SM's block limit), registers per thread (ptxas's figure), shared memory per block (static +
 * dynamic, bytes). All 0 for an unknown arch or a block that cannot launch there. */
typedef struct {
    int blocks, by_threads, by_registers, by_smem;
} ArchOccupancy;
ArchOccupancy codegen_arch_occupancy(const char *arch, int threads, int registers, int64_t smem);

typedef struct {
    const char *arch;       /* "sm_80" or "sm_90" */
    int64_t context;        /* tokens per sequence; 0 = the model header's */
    int64_t chunk;          /* prefill chunk; 0 = the model header's */
    int64_t page_tokens;    /* paged global caches (docs/plan.md, "Paged caches"): rows per page; 0: unpaged */
} CodegenOptions;

typedef enum {
    KV_ATTN_PREFILL,
    KV_ATTN_DECODE,
    KV_ATTN_DECODE_REDUCE,
    KV_ROPE_Q,              /* RoPE on Q only: a layer that reads another layer's cache */
    KV_ROPE_APPEND,         /* RoPE on Q and K, K and V written into the owned cache */
    KV_RMSNORM,
    KV_SILU_MUL,
    KV_RESIDUAL_ADD,
    KV_EMBED,
    KV_BIAS_ADD,            /* qkv_bias: a projection's rows plus its bias */
    KV_ROUTER_BIAS_ADD,     /* moe_bias: the router's fp32 logits plus its bias */
    KV_MOE_ROUTE,           /* a mixture of experts: each token's experts and weights */
    KV_MOE_GEMM,            /* the chosen experts' gate and up, or down, projections */
    KV_MOE_COMBINE,         /* the weighted sum of each token's expert rows */
    KV_ARGMAX,              /* each row of logits' greedy token (logit_softcap applied first, in place) */
    KV_ADD_RMSNORM,         /* the residual add and the RMSNorm of the sum, one row a block */
    KV_COUNT
} KernelKind;

/* One grid dimension: a number, or ceil(VAR x mul / div) of the call's rows (tokens), its
 * sequences (batch) or the prefill chunk's rows. The launch (kernel_launch) and the manifest's
 * formula (kernel_grid_formula) are both read from it. */
typedef enum { GRID_CONST, GRID_TOKENS, GRID_BATCH, GRID_CHUNK_TOKENS } GridVar;
typedef struct {
    GridVar var;
    int64_t mul;            /* GRID_CONST: the value */
    const char *mul_name;   /* how the formula spells mul ("ffn"); NULL: as a number (none when 1) */
    int64_t div;            /* >= 1 */
} GridRule;

typedef struct {
    KernelKind kind;
    char name[128];         /* spells every parameter: attn_prefill_hd128_g4_w1024_cap1535_bf16 */
    int64_t head_dim, group, window, capacity;   /* 0 where not relevant; window 0 = global */
    int64_t kv_heads;       /* attention, RoPE: the layers' KV heads (a kind's own, else the header's) */
    int64_t heads;          /* head norms: the rows a token norms (heads for q, the layers' kv_heads for k) */
    int64_t chunked;        /* attention: chunked C (the kernels' CHUNK); 0 otherwise */
    int64_t page;           /* attention, RoPE append: a paged cache's rows per page (the kernels' PAGE, "_page16"
                             * in the name); 0: unpaged */
    int64_t width;          /* bias_add, and rmsnorm over heads (qk_norm): elements per row; router_bias_add:
                             * the experts; the dense MLP's gated activation: ffn (its input rows are the
                             * fused gate_up's, 2 ffn wide); 0 otherwise */
    int64_t row;            /* rmsnorm over heads in a fused qkv: elements from one token's row to the next
                             * (q_width + 2 kv_width); 0: the heads' rows follow each other */
    int64_t moe_in, moe_out;    /* moe_gate_up, moe_down: the expert projection's [out][in]; 0 otherwise */
    bool moe_down;          /* moe_down: each row's input is its own expert row (else its token's) */
    bool unweighted;        /* rmsnorm over heads without a weight (qk_l2_norm) */
    bool tc;                /* attn_decode on tensor cores (decode_tc.cuh; "_tc" in the name) */
    int block;              /* threads per block (1-D) */
    int min_blocks;         /* the blocks per SM its registers must allow (checked on the cubin by
                               `mixc emit --resources`); 0: no design */
    int64_t dynamic_smem;   /* bytes */
    int splits;             /* decode: grid.y (split-KV); 0 otherwise */
    GridRule grid[3];
} KernelVariant;

/* The geometry of one launch of v over `tokens` rows of `batch` sequences. */
typedef struct {
    unsigned grid[3], block[3];
    unsigned smem;          /* dynamic shared memory, bytes */
} KernelLaunch;
KernelLaunch kernel_launch(const KernelVariant *v, int64_t tokens, int64_t batch);
/* The manifest's spelling of grid dimension d: "tokens", "ceil(tokens*ffn/256)", or a number
 * (*is_const set). */
void kernel_grid_formula(const KernelVariant *v, int d, char *s, size_t n, bool *is_const);
/* "attn_prefill", "rmsnorm", ...; and the parameter struct's name. */
const char *kernel_kind_name(KernelKind k);
const char *kernel_params_name(KernelKind k);

/* A layer's kernels: those of its shape (kv_heads, head_dim: a kind's own, else the header's). */
typedef struct {
    int rope, prefill, decode, decode_reduce;   /* indexes into Codegen.kernel */
    int bias_q, bias_qkv;   /* qkv_bias: bias_add over a reader's q rows, or an owner's fused q/k/v rows; -1
                             * without */
    int head_norm_q, head_norm_k;   /* qk_norm, qk_l2_norm: rmsnorm over its q's and k's heads (an owner's in its
                                     * fused qkv rows); -1 without */
} LayerKernels;

typedef struct {
    int64_t context, chunk;
    const char *arch;
    int nkernels;
    KernelVariant *kernel;
    LayerKernels *layer;    /* [nlayers] */
    int64_t *capacity;      /* [ncaches] tokens per sequence */
    int64_t page_tokens;    /* rows per page of every cache that is not a ring (CodegenOptions'); 0: unpaged */
    int rmsnorm, silu_mul, embed;   /* silu_mul: the dense MLP's gated activation (-1 with experts) */
    int add_rmsnorm;        /* x += branch, then the rmsnorm of x: every norm of the residual stream after an add */
    int residual_add;       /* the shared expert's down added to the experts' (shared_expert_ffn); -1 without */
    int argmax;             /* the decode step's greedy tokens from its logits */
    int bias_qkv;           /* qkv_bias: layer 0's bias_add over its fused q/k/v rows (the manifest's
                             * model_kernels; each layer's in LayerKernels); -1 without */
    int bias_o;             /* o_bias: bias_add over the o projection's rows (hidden); -1 without */
    int head_norm_q, head_norm_k;   /* qk_norm, qk_l2_norm: layer 0's rmsnorm over q's and k's heads (rows of
                                     * head_dim; each layer's in LayerKernels); -1 without */
    /* A mixture of experts (-1 without): the router's bias (moe_bias), the route, the experts' gate and
     * up GEMM (one kernel for both) and down GEMM, the gated activation over the experts' rows and over
     * the shared expert's (shared_expert_ffn), the combine. */
    int router_bias, moe_route, moe_gate_up, moe_down, expert_act, shared_act, moe_combine;
} Codegen;

/* Collects the distinct variants. false with a one-line message in err (e.g. an unsupported
 * kv_dtype or head_dim) and nothing to free. */
bool codegen_plan(const Layout *l, const CodegenOptions *opt, Codegen *out, char *err, size_t errlen);
void codegen_free(Codegen *cg);

/* The self-contained kernels.cu (compiles alone with NVRTC or nvcc given CUDA's include dir). */
void codegen_source(const Layout *l, const Codegen *cg, Buf *out);
/* manifest.json text (ends with a newline); the members of `extra` (an object, may be NULL; its
 * reference is taken) follow the kernels' (`mixc emit` adds the run plan's memory and schedule). */
char *codegen_manifest(const Layout *l, const Codegen *cg, json_t *extra);

/* The embedded text of the templates, in inclusion order (for tests and tools). */
const char *codegen_template_text(const char *name);

#endif
