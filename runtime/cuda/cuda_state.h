/* cuda_state.h — the cuda backend's state, shared by its steps (cuda_backend.c) and its opening and
 * closing (cuda_open.c). Private to runtime/cuda. */
#ifndef MIXC_RUNTIME_CUDA_STATE_H
#define MIXC_RUNTIME_CUDA_STATE_H

#include "cuda_backend.h"

#include "cuda_check.h"
#include "run_plan.h"

/* The kernels' parameter structs, with device pointers as the driver API's CUdeviceptr. */
#define MIXC_DPTR(T) CUdeviceptr
#include "kernel_params.h"

typedef struct {
    CUdeviceptr w[WT_COUNT];    /* by WeightRef */
    const WeightSlot *slot[WT_COUNT];   /* the plan's: its shape, by the layer's kv_heads and head_dim */
} DevLayer;

/* The int inputs of a step, by tensor index (-1 when the step has none: decode has no chunk_args). */
typedef struct {
    int tokens, positions, sequences, chunk_args;
} StepInts;

/* A decode step's graph: the key it was captured for ([nlayers + 2]: rows, logits asked, each
 * layer's split count), and when it was last replayed. exec NULL: none. */
#define CUDA_STEP_GRAPHS 8
typedef struct {
    CUgraphExec exec;
    int *key;
    uint64_t used;
} StepGraph;

typedef struct {
    CudaDevice device;
    const CudaDriver *cu;   /* device.cu, device.bl */
    const CublasApi *bl;
    CUdevice dev;
    CUcontext ctx;
    bool ctx_retained;
    cublasHandle_t blas;
    CUmodule mod;
    RunPlan plan;           /* what is allocated and what runs */
    bool plan_ready;
    CUfunction *fn;         /* [plan.cg.nkernels] */
    cudaDataType dt;        /* CUDA_R_16BF or CUDA_R_16F */
    size_t esize;
    /* weights */
    CUdeviceptr weights, embed, lm_head, norm_final;
    const WeightSlot *embed_slot, *lm_head_slot, *norm_final_slot;   /* tied: lm_head's is embed's */
    DevLayer *layer;
    RopeTables rope;        /* every layer's RoPE table, and its device copy */
    CUdeviceptr rope_dev;
    /* the KV allocation and the arena, laid out by the plan */
    CUdeviceptr caches, arena;
    CUdeviceptr workspace;  /* cuBLAS's (the plan's workspace_bytes; cuda only) */
    StepInts ints[2];       /* prefill, decode */
    int32_t *host_ints;     /* staging for the largest int input */
    int32_t *prefill_rows;  /* a prefill step's ids, positions and slots ([3][chunk]) */
    float *scale;           /* [nlayers] each layer's softmax scale (its head_dim's, model_attention_scale) */
    void *pinned;           /* page-locked staging of what a step copies back: the plan's logits (or token ids) */
    size_t pinned_bytes;
    bool print_plan;
    int sm_count;           /* the device's multiprocessors (0 when the driver does not say) */
    CUstream stream;        /* every launch and GEMM */
    /* unless MIXC_CUDA_GRAPHS=0 (or a route log): the decode step's kernels and GEMMs (all but the logits) captured once per
     * key (rows, logits asked, each layer's split count) and replayed; positions and tokens are read
     * on the device, so a step only uploads them. The last CUDA_STEP_GRAPHS keys' graphs are kept
     * (serving's decode steps go back and forth between batch sizes). */
    bool graphs;
    StepGraph graph[CUDA_STEP_GRAPHS];
    uint64_t graph_clock;   /* decode steps replayed: the graph replayed longest ago is replaced */
    FILE *route_log;        /* MIXC_ROUTE_LOG: every route op's rows, for the cpu's MIXC_ROUTE_REPLAY */
    float *route_host;
} CudaState;

/* Destroys every decode graph kept but `keep` (NULL: all); false when there was none to destroy. */
bool cuda_drop_graphs(CudaState *s, const StepGraph *keep);

/* The steps (cuda_backend.c): BackendOps' prefill_batch, decode_slots, decode_argmax, prefill_argmax. */
bool cuda_prefill_batch(Backend *b, const PrefillPart *parts, int n, float *logits);
bool cuda_decode_slots(Backend *b, const int *slots, int n, const int32_t *tokens, float *logits);
bool cuda_decode_argmax(Backend *b, const int *slots, int n, const int32_t *tokens, int32_t *ids, float *logits);
bool cuda_copy_kv(Backend *b, int64_t to, int64_t from, int64_t n);
bool cuda_upload_kv(Backend *b, int64_t to, const void *host, int64_t n);
bool cuda_prefill_argmax(Backend *b, const PrefillPart *parts, int n, int32_t *ids, float *logits);

#endif
