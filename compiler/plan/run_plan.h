/* run_plan.h — the plan of one run (run_plan.c, docs/plan.md): everything a backend allocates and
 * executes, computed once from a layout and the run's options.
 *
 *   - the KV allocation: every cache of every sequence slot at a byte offset inside one block;
 *   - the activation arena: the prefill chunk's and the decode step's tensors, each at an offset with
 *     a lifetime, both steps sharing one arena;
 *   - the weights' bytes as the target holds them;
 *   - the kernel set (codegen's variants) when the target runs the generated kernels;
 *   - the step schedules: the ordered ops of a prefill chunk and of a decode step, with the arena
 *     tensors each reads and writes and the kernel that runs it.
 * The backends (runtime/cpu, runtime/cuda) allocate exactly these sizes and run these ops; `mixc
 * report --target` prints the same figures and `mixc emit` writes them into manifest.json.
 */
#ifndef MIXC_RUN_PLAN_H
#define MIXC_RUN_PLAN_H

#include "codegen.h"
#include "plan.h"

#include <jansson.h>

/* The runs the plan knows: the cpu backend: fp32 everything (but an 8-bit KV cache); the cuda
 * backend: the model dtype, fp32 logits and partials, the generated kernels; emu is the cuda backend on the emulated device (runtime/emu/emu_device.c): the cuda plan with
 * kernels for PLAN_EMU_ARCH at the model's context and chunk (one compiled module serves every run). */
typedef enum { RUN_TARGET_CPU, RUN_TARGET_CUDA, RUN_TARGET_EMU, RUN_TARGET_COUNT } RunTarget;
#define PLAN_EMU_ARCH "sm_80"
const char *run_target_name(RunTarget t);
/* false when name is none of "cpu", "emu", "cuda". */
bool run_target_from_name(const char *name, RunTarget *out);

typedef struct {
    RunTarget target;
    int64_t context;        /* tokens per sequence (> 0) */
    int64_t chunk;          /* prefill chunk; capped at context */
    int64_t batch;          /* sequence slots: the decode step's rows */
    DType act_dtype, logits_dtype, kv_dtype, weight_dtype;
    int64_t weight_align;   /* each weight tensor starts on this boundary (bytes) */
    bool kernels;           /* plan the generated kernels (and their int arguments) */
    const char *arch;       /* their architecture ("sm_80", "sm_90"); NULL: the default */
    /* Kernels planned for another context and chunk (a prebuilt cubin: the model's); 0: the run's.
     * The caches then have the kernels' capacities. */
    int64_t kernel_context, kernel_chunk;
    bool full_caches;       /* every cache holds `context` tokens, never a ring (no kernels; a testing aid) */
    /* Paged global caches (docs/plan.md, "Paged caches"): every cache that is not a ring keeps its rows
     * in pages of page_tokens rows from one pool of pool_pages pages, found through the slot's block
     * table; 0: each slot holds its whole capacity (the default). pool_pages 0: batch x the pages of
     * one whole-context sequence. With kernels, the paged caches' kernels read the block tables
     * (their PAGE; codegen's page_tokens). */
    int64_t page_tokens, pool_pages;
} RunOptions;

/* The target's dtypes and alignment, the layout's context and chunk, batch 1. */
void run_options_init(const Layout *l, RunTarget target, RunOptions *o);

typedef struct {
    int64_t capacity;       /* tokens per sequence (a ring when < context) */
    bool ring;
    int64_t row_bytes;      /* one token's K (or V) row, by the owner's kv_heads and head_dim: its codes or
                             * values, then its scales */
    int64_t scale_row_bytes; /* of row_bytes, the scales' (an 8-bit cache's kv_heads fp32; 0 else): a block
                             * or pool of R rows holds R rows of codes, then R rows of scales */
    int64_t seq_bytes;      /* one sequence's K (or V) at its capacity (unpaged: its block) */
    bool paged;             /* its rows in the page pool: row = table[j / P] * P + j % P (MIXC_PAGED_ROW) */
    int64_t half_bytes;     /* its K (or V) allocation: batch blocks of seq_bytes, or the pool's rows
                             * (codes of pool_pages x P rows, then their scales), padded */
    int64_t k_offset, v_offset;  /* unpaged sequence s: K at k_offset + s * seq_bytes, V likewise; paged:
                                  * the pool's K and V */
} CacheMap;

/* One weight tensor: the checkpoint's [rows][cols] (cols 1 for norm weights), in the order
 * runtime/model/model.c lists them (model_tensors): the embedding; per layer norm_in, wq, wk and wv
 * (cache owners), wo, norm_post, w_gate, w_up, w_down; norm_final; lm_head unless tied. On the
 * kernels' plans (opt.kernels) a cache owner's wq, wk, wv are one slot wqkv (their rows
 * concatenated; bq, bk, bv: bqkv) where wq stood, and a dense MLP's w_gate, w_up one slot w_gate_up
 * (plan_fused_slot; filled at load by model_fill_plan_weight). */
typedef struct {
    int layer;              /* -1 outside the layers */
    WeightRef ref;
    int64_t rows, cols;
    int64_t offset, bytes;  /* in the weights allocation; bytes aligned to weight_align */
} WeightSlot;

typedef struct {
    RunOptions opt;
    int ncaches;
    CacheMap *cache;        /* [ncaches] */
    int64_t kv_bytes;       /* the KV allocation */
    int64_t page_tokens;    /* rows per page; 0: unpaged */
    int64_t pool_pages;     /* pages in the pool (every paged cache's K and V: the same page ids) */
    int64_t table_pages;    /* entries of a slot's block table: ceil(context / page_tokens) */
    /* With kernels, the kernels' copy of the block tables ([batch][table_pages] int32, the backend
     * copies each slot's rows when they change) in the KV allocation, after the caches; 0 bytes
     * without kernels or unpaged (the cpu backend reads its host tables). */
    int64_t table_offset, table_bytes;
    ActPlan prefill, decode; /* prefill: a chunk of tokens, of one sequence or several (batched); decode: batch sequences */
    int64_t arena_bytes;    /* the arena both steps share */
    int nweights;
    WeightSlot *weight;     /* [nweights] */
    int64_t weights_bytes;
    int64_t workspace_bytes; /* the cuBLAS workspace (target cuda; 0 elsewhere): codegen_arch_cublas_workspace */
    bool has_kernels;
    Codegen cg;
} RunPlan;

/* Plans a run and verifies the plan. false with a one-line message in err (overflow, kernels the
 * layout cannot have) and nothing to free. */
bool plan_run(const Layout *l, const RunOptions *o, RunPlan *out, char *err, size_t errlen);
void run_plan_free(RunPlan *p);
/* No two live tensors share a byte, every op's tensors exist and fit in the arena, every kernel
 * exists and runs an op of its kind, every cache lies inside the KV allocation and no two overlap,
 * the weights fill their allocation one after the other.
 * Prints the first violation to err (if not NULL). */
bool run_plan_verify(const Layout *l, const RunPlan *p, FILE *err);

/* The KV bytes one sequence of `tokens` tokens holds (a scheduler's admission cost, docs/serving.md):
 * its ring caches in full, its other caches' K and V rows for `tokens` tokens (at most their
 * capacity), each block padded as the plan pads a sequence's block; paged, its pages' rows
 * (run_plan_seq_pages x page_tokens rows, unpadded: a page is part of the pool). -1 on overflow. */
int64_t run_plan_seq_kv_bytes(const RunPlan *p, int64_t tokens);

/* The KV bytes of one page of the pool: its rows of every paged cache, K and V, codes and scales
 * (0 unpaged). */
int64_t run_plan_page_kv_bytes(const RunPlan *p);

/* The pages one sequence of `tokens` tokens takes from the pool (at most table_pages); 0 unpaged. */
int64_t run_plan_seq_pages(const RunPlan *p, int64_t tokens);

/* A byte range of the KV allocation. */
typedef struct {
    int64_t at, n;
} KvBytes;

/* Where page `page` of paged cache c's K (or V, v true) pool lies: its rows' codes (or values), then
 * their scales (n 0 for a cache without them). */
void run_plan_page_bytes(const RunPlan *p, int c, bool v, int64_t page, KvBytes out[2]);

/* Where the first `rows` rows of unpaged cache c's K (or V, v true) block of slot `seq` lie: their
 * codes (or values), then their scales (n 0 for a cache without them). */
void run_plan_seq_rows_bytes(const RunPlan *p, int c, bool v, int seq, int64_t rows, KvBytes out[2]);

/* Where entry `entry` of slot's block table lies in the kernels' copy of the tables (table_offset). */
int64_t run_plan_table_entry(const RunPlan *p, int slot, int64_t entry);

/* The most tokens one prefill call takes: the prefill step's chunk. */
int64_t run_plan_chunk(const RunPlan *p);

/* Elements per token of layer i's gated activation's tensor (arena_plan.c names them): the experts'
 * rows ("expert_act": experts_per_token x ffn), the shared expert's ("shared_act") or the dense MLP's
 * (ffn, or dense_ffn on the dense layers of a model with moe_step). */
int64_t plan_gated_width(const Layout *l, int i, const char *tensor_name);

/* The step that runs `tokens` rows: the decode step, or the prefill chunk. */
const ActPlan *run_plan_step(const RunPlan *p, bool decode);

/* manifest.json's "memory" and "schedule"; `mixc check --dump=plan`'s text. */
json_t *run_plan_memory_json(const Layout *l, const RunPlan *p);
json_t *run_plan_schedule_json(const Layout *l, const RunPlan *p);
void run_plan_dump(const Layout *l, const RunPlan *p, FILE *out);
/* What a report fits its paged plans' sequences to: a GPU's memory (0: none; its pool is
 * run_plan_gpu_pool_pages) and the tokens the sequences start with alike (0: none; --shared-prefix). */
typedef struct {
    int64_t gpu_bytes, shared_prefix;
} RunPlanFit;
/* `mixc report --target`: the run planned from `base` at each of the contexts, as one text line
 * each appended to text (may be NULL) and as the member "run" (an array) written into the object
 * open in json (may be NULL); a paged plan adds its pages, and with fit->gpu_bytes > 0 the pool a GPU of
 * that memory holds (run_plan_gpu_pool_pages) and, with a shared prefix, the sequences it holds
 * sharing it (run_plan_shared_sequences). false with a message in err (json is then left
 * unfinished). */
bool run_plan_report(const Layout *l, const RunOptions *base, const int64_t *contexts, int n, const RunPlanFit *fit,
                     Buf *text, JsonWriter *json, char *err, size_t errlen);
/* The pool bytes of a paged plan: every paged cache's K and V (0 unpaged). */
int64_t run_plan_pool_bytes(const RunPlan *p);
/* The most pool pages a GPU of gpu_bytes holds beside the plan's weights, arena, cuBLAS workspace
 * and ring caches (this plan with pool_pages = that many would fit, exactly, padding included); 0
 * unpaged or when nothing is left. */
int64_t run_plan_gpu_pool_pages(const RunPlan *p, int64_t gpu_bytes);
/* The whole-context sequences a pool of `pool` pages holds when they start with the same `prefix`
 * tokens (< the context): the first holds its pages, each other shares the first's whole pages of
 * the prefix and takes the rest (as the serving engine admits them); 0 when not even one fits. */
int64_t run_plan_shared_sequences(const RunPlan *p, int64_t pool, int64_t prefix);

#endif
