/* plan.h — the memory planner: KV caches (plan.c), weights (weights.c), the activation arena
 * (arena_plan.c) and the static memory report built on them (report.c, svg.c).
 *
 * Every byte count is exact and checked: a figure that would pass 2^62 makes the function return
 * false instead of wrapping. docs/report.md explains every formula and assumption.
 */
#ifndef MIXC_PLAN_H
#define MIXC_PLAN_H

#include "mixc.h"

/* ---------------------------------------------------------------- plan.c: KV caches */

/* int8/fp8 caches need dequantization scales: one fp32 scale per token, per KV head, for K and
 * one for V. bf16/fp16 caches need none. The kernels address them: MIXC_KV_SCALE_BYTES in
 * templates/mixc_params.h, which codegen.c asserts equal (mixc_params.h is not included here: the cuda
 * backend includes it after choosing its device pointer type). */
#define PLAN_KV_SCALE_BYTES 4
/* Each sequence's K (or V) block is padded to this (MIXC_KV_SEQ_ALIGN), so that every block starts
 * aligned for the kernels' 16-byte loads. */
#define PLAN_KV_SEQ_ALIGN 16

/* Tokens the cache must hold at `context` with prefill chunk `chunk`: `context` when its retention
 * is unbounded, else min(context, retention + chunk - 1) as a ring (the exact minimum chunked
 * prefill needs: the first query of a chunk sees retention - 1 earlier keys, the chunk adds chunk). */
int64_t plan_cache_tokens(const Layout *l, int cache_id, int64_t context, int64_t chunk);

/* Bytes one token occupies in one cache: K and V for every KV head, plus their scales if any.
 * false on overflow. */
bool plan_token_bytes(const ModelHeader *m, int64_t *data, int64_t *scales);

typedef struct {
    int64_t tokens;         /* held per sequence */
    int64_t bytes;          /* K + V data and scales */
    int64_t scale_bytes;    /* the part of `bytes` that is scales (0 for bf16/fp16) */
    bool ring;              /* tokens < context: a ring buffer */
} CachePlan;

typedef struct {
    int64_t context, chunk;
    int ncaches;
    CachePlan *cache;       /* [ncaches] */
    int64_t kv_bytes;       /* per sequence, this layout (sum of cache[].bytes) */
    int64_t scale_bytes;    /* the part of kv_bytes that is scales */
    int64_t standard_bytes; /* the same model, every layer global with its own cache */
    int64_t unexploited_bytes; /* this layout's caches, sliding ones kept at full length */
} KvPlan;

/* Plans every cache at one context and chunk. false (and nothing to free) on overflow. */
bool plan_kv(const Layout *l, int64_t context, int64_t chunk, KvPlan *out);
void kv_plan_free(KvPlan *p);

/* The same model with every layer global and owning its cache ("standard"); free with layout_free. */
void plan_standard_layout(const Layout *l, Layout *out);

/* `mixc check --dump=plan`: the KV and arena plans at the layout's own context and chunk, batch 1. */
/* false when a figure overflows 2^62 bytes (said in the dump; `check` then exits 1). A run plan the
 * kernels cannot have (an unsupported kv_dtype on cuda) is a line of the dump, not a failure. */
bool dump_plan(const Layout *l, FILE *out);

/* ---------------------------------------------------------------- weights.c */

typedef struct {            /* parameter counts, and the total in bytes */
    int64_t embedding;      /* vocab x hidden */
    int64_t lm_head;        /* vocab x hidden, 0 when tied to the embedding */
    int64_t attention;      /* Wq, Wo of every layer; Wk, Wv of cache owners only */
    int64_t mlp;            /* gate, up, down of every layer (a mixture of experts: router and all experts) */
    int64_t mlp_active;     /* the part of mlp one token runs (== mlp without experts) */
    int64_t dense_mlp;      /* the part of mlp in the dense layers of a model with moe_step (every token runs
                             * it); 0 otherwise */
    int64_t norms;          /* two RMSNorm weights per layer and the final one */
    int64_t total;          /* bytes: parameters x bytes of dtype */
    int64_t params;         /* parameter count */
    int64_t active_params;  /* the parameters one token runs: params less the experts it does not */
} WeightsPlan;

/* false on overflow. */
bool plan_weights(const Layout *l, WeightsPlan *out);

/* What one GPU holds of the weights: one tensor-parallel rank of one pipeline stage. The caller
 * checks that tp divides heads and ffn (report/parallel.c, as vLLM requires). */
typedef struct {
    int64_t tp;             /* Wq, Wo and the MLP are split tp ways */
    int64_t kv_heads;       /* KV heads whose Wk, Wv this rank holds */
    int64_t vocab_rows;     /* rows of the embedding and the LM head held */
    int first_layer, end_layer; /* the stage's layers: [first_layer, end_layer) */
    bool embedding, lm_head, final_norm;    /* held on this stage */
} WeightsShard;

/* The whole model on one GPU: plan_weights(l) is plan_weights_shard(l, that). */
void plan_whole_model_shard(const Layout *l, WeightsShard *s);
/* false on overflow. */
bool plan_weights_shard(const Layout *l, const WeightsShard *s, WeightsPlan *out);

/* ---------------------------------------------------------------- arena_plan.c: activations */

/* One buffer with a lifetime: live from op `first` to op `last` inclusive. */
typedef struct {
    int64_t size;           /* bytes, already aligned */
    int first, last;
    int64_t offset;         /* assigned by arena_assign */
} ArenaItem;

#define PLAN_ARENA_ALIGN 256        /* every tensor starts on a 256-byte boundary */

/* Assigns offsets (greedy by size over the interval graph: largest first, each at the lowest
 * offset free during its whole lifetime). Returns the arena size (the largest end). */
int64_t arena_assign(ArenaItem *items, int n);
/* The same greedy without the shortcut for repeated groups (arena_plan.c): for tests, which check
 * that arena_assign gives exactly its offsets. */
int64_t arena_assign_reference(ArenaItem *items, int n);
/* The largest sum of live bytes at any op: no assignment can be smaller. */
int64_t arena_lower_bound(const ArenaItem *items, int n);
/* Every tensor inside [0, size) and no two tensors with overlapping lifetimes sharing a byte.
 * Prints the first violation to err (if not NULL). */
bool arena_verify(const ArenaItem *items, int n, int64_t size, FILE *err);

/* The decode step's split-KV partials: one partial per SPLIT_KEYS visible keys, at most MAX_SPLITS
 * per (sequence, head). The codegen may choose differently; this bounds what the arena reserves. */
#define PLAN_SPLIT_KEYS 512
#define PLAN_MAX_SPLITS 16
/* The decode arena depends on the context only up to this many keys (then every split count is
 * at its maximum or set by a window), and the prefill arena only up to the chunk. */
#define PLAN_DECODE_CONTEXT_CAP ((int64_t)PLAN_SPLIT_KEYS * PLAN_MAX_SPLITS)

/* Split-KV partials of a decode step whose layer reaches `history` keys back (layer_history: a
 * window or a chunk; 0 = global) at `context`. */
int64_t plan_decode_splits(int64_t history, int64_t context);

/* The split count of one decode launch, chosen from the live figures (docs/kernels.md, "Split
 * count per launch"): enough blocks (batch x kv_heads x splits) for PLAN_DECODE_WAVES waves of the
 * device's SMs, at least one split per PLAN_SPLIT_KEYS live keys, no split shorter than
 * PLAN_SPLIT_MIN_KEYS keys, and never more partials than the plan reserved: plan_decode_splits per
 * (row, head) for plan_batch rows, so a step of fewer rows may split further. The plan is the truth:
 * this rule's maximum is that reservation. */
#define PLAN_DECODE_WAVES 2
#define PLAN_SPLIT_MIN_KEYS 64
typedef struct {
    int64_t batch;          /* rows of this step (<= plan_batch) */
    int64_t plan_batch;     /* rows the plan's partial buffers are sized for */
    int64_t kv_heads;
    int64_t live_keys;      /* the most keys any row of the step sees (its position + 1, or its window) */
    int64_t history, context;   /* the layer's layer_history and the planned context */
    int64_t sm_count;       /* the device's multiprocessors; 0 when unknown (then no filling term) */
} DecodeLaunchFigures;
int64_t plan_decode_launch_splits(const DecodeLaunchFigures *f);
/* The most splits any decode launch of a layer can have under that rule, for steps of up to
 * plan_batch rows: the reservation for one row holding all of plan_batch's, at most one per
 * PLAN_SPLIT_MIN_KEYS keys the layer can see. 1: no launch splits, the plan lists no reduce. */
int64_t plan_decode_max_launch_splits(int64_t history, int64_t context, int64_t plan_batch);

typedef enum { STEP_DECODE, STEP_PREFILL } StepKind;

typedef struct {
    const char *name;       /* "x", "h", "q", ... (static) */
    int layer;              /* -1 outside the layers */
    DType dtype;            /* element type */
} ActTensor;

/* What one op of a step does (docs/plan.md lists the semantics of each kind). */
typedef enum {
    OP_EMBED,               /* x = embedding rows of the token ids */
    OP_RMSNORM,             /* out = rmsnorm(in) with a norm weight */
    OP_GEMM,                /* out = in x weight^T */
    OP_ROPE_APPEND,         /* RoPE on q and k in place, k and v appended to the layer's cache */
    OP_ROPE_Q,              /* RoPE on q in place (a layer reading another layer's cache) */
    OP_ATTENTION,           /* out = attention of q over the cache */
    OP_ATTN_DECODE,         /* split-KV partials (outputs and softmax statistics) of q over the cache */
    OP_ATTN_REDUCE,         /* out = the partials merged */
    OP_RESIDUAL_ADD,        /* x += in (the first input is x) */
    OP_SILU_MUL,            /* out = silu(gate) * up */
    OP_BIAS_ADD,            /* x += bias, the weight's row added to every row of x (qkv_bias, o_bias) */
    OP_HEAD_NORM,           /* x = rmsnorm of each head_dim slice of x, in place (qk_norm) */
    OP_GELU_TANH_MUL,       /* out = gelu_tanh(gate) * up (activation = gelu_tanh) */
    OP_CLAMPED_SWIGLU_MUL,  /* out = gpt-oss's clamped SwiGLU of gate and up (activation = clamped_swiglu) */
    OP_MOE_ROUTE,           /* route = each token's experts_per_token experts and weights, from the router logits */
    OP_MOE_GEMM,            /* out row (t, j) = in row (t or (t, j)) x the j-th chosen expert's weight^T */
    OP_MOE_COMBINE,         /* out row t = the sum over j of row (t, j), weighted by the route (docs/plan.md) */
    OP_LOGITS,              /* logits = the last row of each sequence x lm_head^T */
    OP_ARGMAX,              /* token_ids = each logits row's greedy token (mixc_argmax), logit_softcap applied in place
                             * (the kernels' steps, last: decode and prefill) */
    OP_ADD_RMSNORM,         /* x += in, then out = rmsnorm(x) with a norm weight: a residual add and the RMSNorm of
                             * the residual stream after it, one op (the kernels' steps: StepOptions.fused) */
    OP_COUNT
} OpKind;

typedef enum {
    WT_NONE, WT_EMBED, WT_NORM_IN, WT_Q, WT_K, WT_V, WT_O, WT_NORM_POST, WT_GATE, WT_UP, WT_DOWN,
    WT_NORM_FINAL, WT_LM_HEAD, WT_Q_BIAS, WT_K_BIAS, WT_V_BIAS,
    WT_Q_NORM, WT_K_NORM,           /* qk_norm: [head_dim] */
    WT_NORM_ATTN_OUT, WT_NORM_MLP_OUT,  /* sandwich_norms: on the attention's and the MLP's outputs */
    WT_O_BIAS,                      /* o_bias: [hidden] */
    /* a mixture of experts: the router [experts][hidden]; each expert's projections stacked, expert
     * e's rows at e x rows (gate, up: [experts x ffn][hidden], down: [experts x hidden][ffn]); their
     * biases with moe_bias; the shared expert's projections as a dense MLP's */
    WT_ROUTER, WT_ROUTER_BIAS, WT_EXPERT_GATE, WT_EXPERT_GATE_BIAS, WT_EXPERT_UP, WT_EXPERT_UP_BIAS,
    WT_EXPERT_DOWN, WT_EXPERT_DOWN_BIAS, WT_SHARED_GATE, WT_SHARED_UP, WT_SHARED_DOWN,
    WT_SINKS,                       /* a layer with sinks: one logit per query head, [heads] */
    /* fused projections (a plan with StepOptions.fused: the kernel targets): a cache owner's Wq, Wk,
     * Wv rows concatenated [q_width + 2 kv_width][hidden] and their biases [q_width + 2 kv_width]; a
     * dense MLP's Wgate, Wup rows concatenated [2 ffn][hidden]. Filled at load from their parts
     * (plan_fused_parts); no checkpoint holds them. */
    WT_QKV, WT_QKV_BIAS, WT_GATE_UP,
    WT_COUNT
} WeightRef;

#define PLAN_OP_MAX_IN 5
#define PLAN_OP_MAX_OUT 3
typedef struct {
    OpKind kind;
    int layer;              /* -1 outside the layers */
    WeightRef weight;       /* of `layer`, or the model's */
    int nin, nout;
    int in[PLAN_OP_MAX_IN];   /* tensors read or updated in place, in the order docs/plan.md gives */
    int out[PLAN_OP_MAX_OUT]; /* tensors written */
    int kernel;             /* the generated kernel that runs it (Codegen.kernel), -1: none (GEMMs) */
    /* attn_reduce of a layer whose decode launches may or may not split: it runs only after a launch
     * of more than one split (a launch of one wrote attn itself). */
    bool when_split;
} PlanOp;

/* How decode attention is planned: split by the keys it sees (PLAN_SPLIT_KEYS, the report's
 * default), never (the cpu backend attends in one pass), or always (the generated decode kernel
 * writes partials even for one split). */
typedef enum { SPLIT_BY_CONTEXT, SPLIT_NEVER, SPLIT_ALWAYS } DecodeSplit;

typedef struct {
    StepKind kind;
    int64_t batch, chunk, context;
    DType act_dtype;        /* activations */
    DType logits_dtype;
    DecodeSplit split;
    /* The generated kernels' extra int arguments: "sequences" per row, "chunk_args" per sequence. */
    bool kernel_args;
    /* The cpu reference attention's fp32 score row ("scores", one per key a query can see), an
     * output of each attention op: its scratch, planned like every other buffer. */
    bool attention_scores;
    /* Only the tensors' arena items, no op list and no names (ActPlan.op and .tensor NULL, nops
     * still counted): what the report needs, at half the memory on a 100,000-layer step. */
    bool arena_only;
    /* A prefill step with kernel arguments: the most sequences whose chunks it holds (a batched
     * prefill: chunk_args holds their table, PREFILL_ARGS_INTS); 0 counts as 1. */
    int64_t parts;
    /* Fused projections: a cache owner's q, k and v by one GEMM into "qkv" ([tokens][q_width + 2
     * kv_width], its bias and head norms applied there; RoPE reads it and writes q), a dense MLP's
     * gate and up by one into "gate_up" ([tokens][2 ffn], the gated activation reads both halves);
     * each residual add of x and the rmsnorm of x after it as one add_rmsnorm op. */
    bool fused;
} StepOptions;

typedef struct {
    StepKind kind;
    int64_t tokens;         /* tokens in the step: batch (decode) or batch x chunk (prefill) */
    int64_t rows;           /* sequences: rows of logits (a kernels' prefill: a row per part) */
    int64_t parts;          /* prefill with kernel arguments: the most parts chunk_args holds; else 0 */
    int nops;
    PlanOp *op;             /* [nops], in execution order; NULL when planned arena_only */
    int ntensors;
    ActTensor *tensor;      /* NULL when planned arena_only */
    ArenaItem *item;        /* [ntensors]: tensor t's bytes, offset in the arena and lifetime (ops) */
    int64_t planned_bytes;  /* the arena */
    int64_t naive_bytes;    /* every tensor in its own buffer */
    int64_t lower_bound_bytes;
} ActPlan;

/* Lists one step's ops and intermediate tensors with their lifetimes and plans the arena.
 * false on overflow. */
bool plan_step(const Layout *l, const StepOptions *o, ActPlan *out);
/* plan_step with the model dtype for activations and logits (split partials and their softmax
 * stats in fp32), no kernel arguments: the report's arena. */
bool plan_activations(const Layout *l, StepKind kind, int64_t batch, int64_t chunk, int64_t context,
                      ActPlan *out);
void act_plan_free(ActPlan *p);
/* The shape of weight w, as checkpoints store it: [out][in] (norm weights: in = hidden, out = 1). */
void plan_weight_shape(const ModelHeader *m, WeightRef w, int64_t *in, int64_t *out);
/* The bias vectors (qkv_bias): shaped [in], as norms are. */
bool plan_weight_is_bias(WeightRef w);
/* Norms and biases: vectors, shaped [in]. */
bool plan_weight_is_vector(WeightRef w);
/* The bias of a stacked expert projection (WT_EXPERT_GATE, _UP or _DOWN: its _BIAS, with moe_bias). */
WeightRef plan_expert_bias(WeightRef w);
/* Whether layer i has weight w: K and V's only in cache owners, the variations' only with them;
 * the fused WT_QKV (and WT_QKV_BIAS) in owners, WT_GATE_UP in dense MLPs. */
bool plan_layer_has_weight(const Layout *l, int i, WeightRef w);
/* The weights a fused weight concatenates, in row order (WT_QKV: Wq, Wk, Wv); returns how many (0 for
 * a weight that is not fused). */
int plan_fused_parts(WeightRef w, WeightRef parts[3]);
/* The weight that holds layer i's w in a plan with fused projections (fused true): WT_QKV for an
 * owner's WT_Q (WT_NONE for its WT_K and WT_V: already in it), WT_QKV_BIAS likewise, WT_GATE_UP for a
 * dense WT_GATE (WT_NONE for WT_UP); w itself otherwise. */
WeightRef plan_fused_slot(const Layout *l, int i, WeightRef w, bool fused);
/* A layer's weights in the order checkpoints and run plans list them (model.c, run_plan.c). */
extern const WeightRef plan_layer_weight_order[];
extern const int plan_layer_weight_count;
const char *op_kind_name(OpKind k);
const char *weight_ref_name(WeightRef w);

/* ---------------------------------------------------------------- svg.c */

/* The KV sharing graph as Graphviz DOT (mixc report --format dot). */
void layout_dot(Buf *b, const Layout *l);

/* A log-log chart of KV bytes per sequence against context length, for this layout, the standard
 * model and this layout with its windows not exploited; the contexts in `marks` are labelled.
 * false when a figure overflows. */
bool svg_kv_chart(Buf *out, const Layout *l, int64_t chunk, const int64_t *marks, int nmarks);
/* The length of the valid UTF-8 sequence starting at s (1 for ASCII), or 0 when the bytes there are
 * not valid UTF-8 (SVG, DOT and JSON need valid text; names in a .mix may hold any bytes). */
int utf8_char_len(const char *s);
/* s as XML text: markup characters escaped, control characters and invalid UTF-8 as U+FFFD. */
void xml_escaped(Buf *b, const char *s);
/* A chart's size and the margins around its plot area (pixels). */
typedef struct {
    int w, h, left, right, top, bottom;
} SvgBox;
/* The <svg> element of a chart (Helvetica 12) and its white background. */
void svg_begin(Buf *b, const SvgBox *box);
/* The plot area's frame and the x axis title (XML text) under it. */
void svg_frame(Buf *b, const SvgBox *box, const char *xtitle);

#endif
