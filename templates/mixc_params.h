/* mixc_params.h — the one definition of the kernels' launch geometry constants and parameter structs,
 * plain C and C++: the templates include it (pasted first into the generated kernels.cu), and so do
 * the host code that plans launches (compiler/kernels/codegen.c, compiler/plan) and the backends that
 * fill the structs (runtime/cuda/kernel_params.h).
 *
 * MIXC_DPTR(T) is the type of a device pointer to T: T * by default (the GPU, and the emulator whose
 * device memory is host memory); the cuda backend defines it as CUdeviceptr before including. Both are
 * 8 bytes (LP64, as on the GPU), so every instantiation has one layout (tests/cuda checks it).
 */
#ifndef MIXC_PARAMS_H
#define MIXC_PARAMS_H

#ifndef MIXC_DPTR
#define MIXC_DPTR(T) T *
#endif

#if !defined(__CUDACC_RTC__)
#include <math.h>   /* expf, fmaxf, floorf, log1pf: mixc_route_token and mixc_nope_temperature on the host
                       (NVRTC has them built in) */
#endif

/* ---- geometry (compiler/kernels/codegen.c computes every grid, block and smem from these) */

/* prefill.cuh: PREFILL_BM queries of one head per block, 4 warps of 16 rows per slice of the head
 * dimension. Up to HD 256 one slice (4 warps); above, up to PREFILL_MAX_HD, two slices of HD / 2 (8
 * warps): the warps of both slices compute a row's scores and softmax statistics alike (the same
 * values), and each keeps the O accumulators of its own slice only, so a thread holds at most 256 / 8
 * x 4 = 128 of them at every HD. */
#define PREFILL_MAX_HD 512
#define PREFILL_SLICES(HD) ((HD) <= 256 ? 1 : 2)
#define PREFILL_THREADS(HD) (128 * PREFILL_SLICES(HD))
#define PREFILL_BM 64
/* Batched prefill: one launch takes the chunks ("parts") of several sequences, PREFILL_BM queries of
 * one part per block, the blocks mapped to (part, first query) through a tile table, heaviest first.
 * The step's int table (the run plan's "chunk_args", sized by compiler/plan for the step's tokens and
 * its most parts P) holds PREFILL_PART_INTS arrays of P ints, q_start, q_len, pos0 and slot, then the
 * tile table: a (part, first query) pair per tile. Tiles: sum ceil(q_len / BM) <= ceil(tokens / BM)
 * + parts - 1, which the grid [ceil(tokens / BM), HEADS, parts] covers (blocks past the table exit). */
#define PREFILL_PART_INTS 4
#define PREFILL_MAX_TILES(TOKENS, PARTS) (((TOKENS) + PREFILL_BM - 1) / PREFILL_BM + (PARTS) - 1)
#define PREFILL_ARGS_INTS(TOKENS, PARTS) (PREFILL_PART_INTS * (PARTS) + 2 * PREFILL_MAX_TILES(TOKENS, PARTS))
/* Keys per tile: 64, or 32 at HD > 128 to keep the O accumulators and S in registers; 16 above 256,
 * so the tiles of HD 512 (128 KiB) fit sm_80's shared memory. */
#define PREFILL_BN(HD) ((HD) <= 128 ? 64 : (HD) <= 256 ? 32 : 16)
/* The Q tile and two stages of K and V tiles. */
#define PREFILL_SMEM_BYTES(HD, ESIZE) ((PREFILL_BM + 4 * PREFILL_BN(HD)) * (HD) * (ESIZE))

/* decode.cuh: one KV head and one split of the keys per block. */
#define DECODE_THREADS 128
#define DECODE_TILE 32                      /* keys per shared-memory tile: one per lane */
/* Its designed occupancy: the blocks per SM its registers must allow (`mixc emit --resources` checks
 * the cubin's). A thread keeps G x HD / DECODE_THREADS fp32 accumulators: 8 blocks (half an SM's
 * warps) up to 16 of them, 4 up to 64, 2 above. Its shared memory (DECODE_SMEM_BYTES) may allow
 * fewer: the report shows both. Not passed to __launch_bounds__: a minimum there lets ptxas use every
 * register it leaves (character-ai's decode went from 64 to 128 registers, 8 to 4 blocks). */
/* The most G x HD the kernel takes: 128 accumulators per thread (group 64 at HD 256, 32 at 512)
 * compile without spills on sm_80 and sm_90 (codegen refuses more by name). */
#define DECODE_MAX_GROUP_DIM (128 * DECODE_THREADS)
#define DECODE_MIN_BLOCKS(G, HD) \
    ((G) * (HD) <= 16 * DECODE_THREADS ? 8 : (G) * (HD) <= 64 * DECODE_THREADS ? 4 : 2)
/* K tile rows (elements of ESIZE bytes: the cache's) are padded by 16 bytes: the 32 lanes of a warp
 * read 32 different rows at the same column in decode_softmax, and the padding spreads those rows
 * over all banks. */
#define DECODE_KROW(HD, ESIZE) ((HD) + 16 / (ESIZE))
/* One stage of the cp.async pipeline: a tile's K rows (padded) and V rows. */
#define DECODE_STAGE_BYTES(HD, ESIZE) (DECODE_TILE * (2 * (HD) * (ESIZE) + 16))
/* Stages: 3 (two tiles in flight while one is computed) up to 256-byte rows (head_dim 128 of bf16,
 * 256 of 8-bit codes); 2 above, where a stage is 25 to 33 KiB and a third would cost blocks per SM. */
#define DECODE_STAGES(HD, ESIZE) ((HD) * (ESIZE) <= 256 ? 3 : 2)
/* The stages | probabilities (fp32) | alpha, m, l (fp32): what follows q. */
#define DECODE_AFTER_Q_BYTES(G, HD, ESIZE) \
    (DECODE_STAGES(HD, ESIZE) * DECODE_STAGE_BYTES(HD, ESIZE) + (G) * DECODE_TILE * 4 + 3 * (G) * 4)
/* q (fp32) | the rest */
#define DECODE_SMEM_BYTES(G, HD, ESIZE) ((G) * (HD) * 4 + DECODE_AFTER_Q_BYTES(G, HD, ESIZE))
/* decode_tc.cuh, the tensor-core variant (query groups of 8 and more, bf16/fp16 caches: codegen's
 * choice): q as T in DECODE_TC_ROWS(G) rows (G padded to whole m16 tiles with zero rows) of
 * DECODE_TC_QROW(HD) elements (padded by 16 bytes, like K's: ldmatrix's 8 rows hit 8 bank groups).
 * A thread keeps DECODE_TC_ROWS(G) x HD / DECODE_THREADS fp32 accumulators; its occupancy is
 * DECODE_MIN_BLOCKS(DECODE_TC_ROWS(G), HD). */
#define DECODE_TC_MIN_GROUP 8
#define DECODE_TC_ROWS(G) (((G) + 15) / 16 * 16)
#define DECODE_TC_QROW(HD) ((HD) + 8)
#define DECODE_TC_Q_BYTES(G, HD) (DECODE_TC_ROWS(G) * DECODE_TC_QROW(HD) * 2)
/* q | the stages | probabilities, alpha, m and l of every row, the padding rows' included */
#define DECODE_TC_SMEM_BYTES(G, HD) (DECODE_TC_Q_BYTES(G, HD) + DECODE_AFTER_Q_BYTES(DECODE_TC_ROWS(G), HD, 2))
/* The groups it takes: accumulators within the bound, and every row's fp32 outputs fit in q and the
 * stages (free after the last tile), where they are staged for the stores. */
#define DECODE_TC_FITS(G, HD)                                     \
    ((G) >= DECODE_TC_MIN_GROUP && DECODE_TC_ROWS(G) * (HD) <= DECODE_MAX_GROUP_DIM && \
     (G) * (HD) * 4 <= DECODE_TC_Q_BYTES(G, HD) + DECODE_STAGES(HD, 2) * DECODE_STAGE_BYTES(HD, 2))

/* The KV caches (docs/model.md): one sequence's K (or V) block is CAP rows of KV_HEADS x HD elements
 * of ESIZE bytes, then, for an 8-bit cache (ESIZE 1: int8, e4m3), CAP x KV_HEADS fp32 scales (row =
 * slot), padded to MIXC_KV_SEQ_ALIGN bytes: the kernels load a sequence's rows 8 and 16 bytes at a
 * time, and CAP x KV_HEADS scales of 4 bytes would leave the next sequence's block misaligned. The
 * run plan allocates it (compiler/plan), the kernels address it. */
#define MIXC_KV_SCALE_BYTES 4
#define MIXC_KV_SEQ_ALIGN 16
#define MIXC_KV_SEQ_BYTES(CAP, KV_HEADS, HD, ESIZE)                                                \
    (((CAP) * (KV_HEADS) * ((HD) * (ESIZE) + ((ESIZE) == 1 ? MIXC_KV_SCALE_BYTES : 0)) + MIXC_KV_SEQ_ALIGN - 1) / \
     MIXC_KV_SEQ_ALIGN * MIXC_KV_SEQ_ALIGN)

/* A paged cache (docs/plan.md, "Paged caches"): the rows of every sequence live in one pool of pages
 * of P rows (the pool's codes, then its scales, as one block of pool x P rows), and key j of a
 * sequence is pool row PAGES[j / P] * P + j % P, PAGES its block table. Written once for every reader
 * (the cpu backend's kernels; the generated kernels when they take block tables). */
#define MIXC_PAGED_ROW(PAGES, P, J) ((long long)(PAGES)[(J) / (P)] * (P) + (J) % (P))

/* A paged cache's block tables as a kernel reads them: slot s's at pages + s * table_pages, and the
 * pool's rows (an 8-bit pool's scales follow them). All 0 for an unpaged kernel (its PAGE 0). */
typedef struct MixcPagedKv {
    MIXC_DPTR(const int) pages;     /* [slots][table_pages] page ids (the run's block tables on the device) */
    long long pool_rows;            /* pool pages x page tokens */
    int table_pages;
} MixcPagedKv;

/* rope.cuh: one token per block. */
#define ROPE_THREADS 128

/* small.cuh: RMSNorm and the gather one row per block; element-wise kernels SMALL_THREADS elements
 * per block. */
#define MIXC_SMALL_THREADS 256
/* small.cuh's argmax: one row of logits per block (a grid of the step's rows). */
#define MIXC_ARGMAX_THREADS 256

/* moe.cuh: the route one token per thread, MOE_ROUTE_THREADS tokens per block; the expert GEMM one
 * (token, choice) row per block and MOE_GEMM_COLS of its output columns (grid.y), 32 columns a warp
 * at a time (so MOE_GEMM_COLS = 32 x its warps keeps each warp busy); the combine and the router's
 * bias element-wise (MIXC_SMALL_THREADS per block). */
#define MOE_ROUTE_THREADS 64
#define MOE_GEMM_THREADS 128
#define MOE_GEMM_COLS 128
/* The routers (docs/model.md), as the template argument ROUTER spells them: compiler/mixc.h's
 * RouterKind in the same order (codegen.c asserts it). */
#define MIXC_ROUTER_TOPK_SOFTMAX 0
#define MIXC_ROUTER_SOFTMAX_TOPK 1
#define MIXC_ROUTER_SIGMOID_INPUT 2

/* ---- masks */

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define MIXC_HOST_DEVICE __host__ __device__
#else
#define MIXC_HOST_DEVICE
#endif
/* A function of this header, shared by the kernels and the host. Marked unused: a layout's kernels
 * call only some of them, and NVRTC warns of each static one left unreferenced (#177-D). */
#define MIXC_SHARED_FN static inline MIXC_HOST_DEVICE __attribute__((unused))
/* The first key the query at position pos sees (docs/language.md), its last being pos itself: 0 for
 * a global layer (window and chunk 0), pos - window + 1 (at least 0) for window W, and the start of
 * its chunk, floor(pos / chunk) * chunk, for chunked C. The one formula of the masks: the prefill and
 * decode kernels, and the cpu reference. */
MIXC_SHARED_FN long long mixc_first_key(long long pos, long long window, long long chunk) {
    if (chunk > 0) return pos / chunk * chunk;
    return window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
}

/* ---- a mixture of experts' route (docs/model.md)
 *
 * One token's choice: the K largest of its E router logits (ties: the lower index first) as (index,
 * logit) pairs in route[0 .. 2K) (mixc_route_choose); then each chosen logit replaced by its weight by
 * the router (mixc_route_weigh): a softmax over the K chosen (MIXC_ROUTER_TOPK_SOFTMAX), its share of
 * the softmax over all E (MIXC_ROUTER_SOFTMAX_TOPK), or its sigmoid (MIXC_ROUTER_SIGMOID_INPUT). The
 * one definition: the route kernel (moe.cuh) and the cpu backend. */
MIXC_SHARED_FN void mixc_route_choose(const float *logits, float *route, long long experts, long long k) {
    for (long long j = 0; j < k; j++) {
        long long best = -1;
        for (long long e = 0; e < experts; e++) {
            int taken = 0;
            for (long long i = 0; i < j; i++) taken = taken || (long long)route[2 * i] == e;
            if (!taken && (best < 0 || logits[e] > logits[best])) best = e;
        }
        route[2 * j] = (float)best;
        route[2 * j + 1] = logits[best];
    }
}

MIXC_SHARED_FN void mixc_route_weigh(const float *logits, float *route, long long experts, long long k,
                                                     int router) {
    float max_all = logits[0], max_chosen = route[1], sum_all = 0.0f, sum_chosen = 0.0f;
    for (long long e = 1; e < experts; e++) max_all = fmaxf(max_all, logits[e]);
    for (long long e = 0; e < experts; e++) sum_all += expf(logits[e] - max_all);
    for (long long j = 1; j < k; j++) max_chosen = fmaxf(max_chosen, route[2 * j + 1]);
    for (long long j = 0; j < k; j++) sum_chosen += expf(route[2 * j + 1] - max_chosen);
    for (long long j = 0; j < k; j++) {
        const float x = route[2 * j + 1];
        route[2 * j + 1] = router == MIXC_ROUTER_TOPK_SOFTMAX   ? expf(x - max_chosen) / sum_chosen
                           : router == MIXC_ROUTER_SOFTMAX_TOPK ? expf(x - max_all) / sum_all
                                                                : 1.0f / (1.0f + expf(-x));
    }
}

MIXC_SHARED_FN void mixc_route_token(const float *logits, float *route, long long experts,
                                                     long long k, int router) {
    mixc_route_choose(logits, route, experts, k);
    mixc_route_weigh(logits, route, experts, k, router);
}

/* ---- the greedy token of a row of logits (docs/kernels.md, "Argmax")
 *
 * The lowest index of the row's largest value, when every value is finite. A row holding a NaN or an
 * infinity (either sign) has no greedy token: its code is MIXC_ARGMAX_NAN or MIXC_ARGMAX_INF, as the
 * first non-finite value in index order is, so a caller refuses it naming what it found (a NaN is
 * never picked, nor hidden behind a larger finite value). The one rule: the argmax kernel (small.cuh)
 * computes it in parallel, the cpu backend and mixrun's prefill rows with this function. */
#define MIXC_ARGMAX_NAN (-1)
#define MIXC_ARGMAX_INF (-2)
MIXC_SHARED_FN int mixc_argmax(const float *x, long long n) {
    long long best = 0;
    for (long long i = 0; i < n; i++) {
        if (x[i] != x[i]) return MIXC_ARGMAX_NAN;
        if (x[i] - x[i] != 0.0f) return MIXC_ARGMAX_INF;   /* inf - inf is NaN; a finite x gives 0 */
        if (x[i] > x[best]) best = i;
    }
    return (int)best;
}

/* Llama 4's attention temperature (nope_temperature_floor/scale, Llama4TextAttention): the factor q
 * of a NoPE layer at position pos is multiplied by, log1p(floor((pos + 1) / floor)) * scale + 1 in
 * float32; 1 without a floor. The one formula: the rope kernel and the cpu backend. */
MIXC_SHARED_FN float mixc_nope_temperature(long long pos, long long floor_tokens, float scale) {
    if (floor_tokens <= 0) return 1.0f;
    const float steps = floorf(((float)pos + 1.0f) / (float)floor_tokens);
    return log1pf(steps) * scale + 1.0f;
}

/* ---- the batched prefill's int table (host only: the backends and the kernel tests fill it) */

#if !defined(__CUDACC_RTC__) && !defined(__CUDA_ARCH__)
/* Fills args (PREFILL_ARGS_INTS(tokens, max_parts) ints, the layout above) for `parts` parts (<=
 * max_parts, their q_len together <= tokens) packed one after the other, part i of q_len[i] queries
 * from position pos0[i] in cache slot slot[i]; the tiles heaviest first: by the keys their last query
 * sees (its position + 1), ties in part and query order. Returns the tile count. */
static inline int mixc_prefill_args(int *args, int max_parts, int parts, const int *q_len, const int *pos0,
                                    const int *slot) {
    int *tiles = args + PREFILL_PART_INTS * max_parts, n = 0;
    for (int i = 0, row = 0; i < parts; row += q_len[i], i++) {
        args[i] = row;
        args[max_parts + i] = q_len[i];
        args[2 * max_parts + i] = pos0[i];
        args[3 * max_parts + i] = slot[i];
        for (int m0 = 0; m0 < q_len[i]; m0 += PREFILL_BM, n++) {   /* insertion: heaviest first, stable */
            const long long keys = (long long)pos0[i] + (m0 + PREFILL_BM < q_len[i] ? m0 + PREFILL_BM : q_len[i]);
            int at = n;
            for (; at > 0; at--) {
                const int pp = tiles[2 * (at - 1)], pm = tiles[2 * (at - 1) + 1];
                const long long pk = (long long)pos0[pp] + (pm + PREFILL_BM < q_len[pp] ? pm + PREFILL_BM : q_len[pp]);
                if (pk >= keys) break;
                tiles[2 * at] = pp;
                tiles[2 * at + 1] = pm;
            }
            tiles[2 * at] = i;
            tiles[2 * at + 1] = m0;
        }
    }
    return n;
}
#endif

/* ---- parameter structs */

/* rmsnorm: out[t][i] = x[t][i] / sqrt(mean_i(x[t][i]^2) + eps) * w[i]. */
typedef struct RmsNormParams {
    MIXC_DPTR(const void) x;        /* [tokens, HIDDEN] */
    MIXC_DPTR(const void) weight;   /* [HIDDEN] */
    MIXC_DPTR(void) out;            /* [tokens, HIDDEN]; may alias x */
    int tokens;
} RmsNormParams;

/* silu_mul: out[i] = silu(gate[i]) * up[i] over n = tokens * FFN elements. */
typedef struct SiluMulParams {
    MIXC_DPTR(const void) gate;     /* [tokens, FFN]; the dense MLP's: the fused gate_up rows [tokens, 2 FFN] */
    MIXC_DPTR(const void) up;       /* [tokens, FFN]; the dense MLP's: gate + FFN */
    MIXC_DPTR(void) out;            /* [tokens, FFN]; may alias gate or up */
    long long n;
} SiluMulParams;

/* residual_add: out[i] = a[i] + b[i] in fp32, rounded once. */
typedef struct AddParams {
    MIXC_DPTR(const void) a;
    MIXC_DPTR(const void) b;
    MIXC_DPTR(void) out;            /* may alias a or b */
    long long n;
} AddParams;

/* add_rmsnorm: x[t][i] += addend[t][i] in fp32, rounded once and stored, then out[t][i] = rmsnorm of
 * that rounded row (as rmsnorm's) with weight w. */
typedef struct AddRmsNormParams {
    MIXC_DPTR(void) x;              /* [tokens, HIDDEN]: the residual stream, updated in place */
    MIXC_DPTR(const void) addend;   /* [tokens, HIDDEN]: the branch */
    MIXC_DPTR(const void) weight;   /* [HIDDEN] */
    MIXC_DPTR(void) out;            /* [tokens, HIDDEN]; neither x nor addend */
    int tokens;
} AddRmsNormParams;

/* bias_add: x[i] += bias[i % WIDTH] over n = tokens * WIDTH elements, in fp32, rounded once. */
typedef struct BiasAddParams {
    MIXC_DPTR(void) x;              /* [tokens, WIDTH], updated in place */
    MIXC_DPTR(const void) bias;     /* [WIDTH] */
    long long n;
} BiasAddParams;

/* embed: out[t][:] = table[ids[t]][:]; an id outside [0, VOCAB) gives a zero row. */
typedef struct EmbedParams {
    MIXC_DPTR(const int) ids;       /* [tokens] */
    MIXC_DPTR(const void) table;    /* [VOCAB, HIDDEN] */
    MIXC_DPTR(void) out;            /* [tokens, HIDDEN] */
    int tokens;
} EmbedParams;

typedef struct RopeParams {
    MIXC_DPTR(void) q;              /* reader: [tokens, HEADS, HD], rotated in place; owner: the fused qkv rows */
    MIXC_DPTR(const void) k;        /* owner: the first row's k in qkv (q + HEADS x HD); NULL for readers */
    MIXC_DPTR(const void) v;        /* owner: the first row's v in qkv (k + KV_HEADS x HD) */
    MIXC_DPTR(void) k_cache;        /* sequence blocks (MIXC_KV_SEQ_BYTES) from sequence 0 (owners only) */
    MIXC_DPTR(void) v_cache;
    MIXC_DPTR(const int) pos;       /* [tokens] absolute position of each token */
    MIXC_DPTR(const int) seq;       /* [tokens] sequence (cache row) of each token */
    MIXC_DPTR(const float) inv_freq;    /* [HD/2] the layer's table (rope_table); NULL: NoPE */
    int tokens;
    float scale;                    /* multiplies cos and sin (YaRN's attention factor; else 1) */
    int temp_floor;                 /* a NoPE layer's attention temperature (mixc_nope_temperature) scales */
    float temp_scale;               /* q: its floor and scale; temp_floor 0: none */
    MIXC_DPTR(void) q_out;          /* owner: [tokens, HEADS, HD] the rotated q; unused by readers */
    MixcPagedKv paged;              /* a paged cache's (the kernel's PAGE > 0) */
} RopeParams;

/* A batched prefill (see PREFILL_PART_INTS): part b's rows of q and out, its positions and its cache
 * slot; the blocks take the tile table's entries, tile = blockIdx.z * gridDim.x + blockIdx.x. */
typedef struct PrefillParams {
    MIXC_DPTR(const void) q;        /* [rows, HEADS, HD], RoPE applied; packed over the parts */
    MIXC_DPTR(void) out;            /* [rows, HEADS, HD] */
    MIXC_DPTR(const void) k_cache;  /* sequence blocks (MIXC_KV_SEQ_BYTES) from slot 0; this chunk already appended */
    MIXC_DPTR(const void) v_cache;
    MIXC_DPTR(const int) q_start;   /* [batch] first row of part b in q / out */
    MIXC_DPTR(const int) q_len;     /* [batch] tokens of part b in this chunk */
    MIXC_DPTR(const int) pos0;      /* [batch] absolute position of its first token */
    MIXC_DPTR(const int) slot;      /* [batch] its sequence's cache block */
    MIXC_DPTR(const int) tiles;     /* [ntiles][2] (part, first query) of each block, heaviest first */
    float scale;                    /* softmax scale, e.g. 1/sqrt(HD) */
    int batch;                      /* parts */
    int ntiles;
    MIXC_DPTR(const void) sinks;    /* [HEADS] in the model dtype: a logit per head joining each softmax's
                                     * denominator (attention sinks); 0: none */
    MixcPagedKv paged;              /* a paged cache's (the kernel's PAGE > 0) */
} PrefillParams;

typedef struct DecodeParams {
    MIXC_DPTR(const void) q;        /* [batch, HEADS, HD] (RoPE applied) */
    MIXC_DPTR(const void) k_cache;  /* sequence blocks (MIXC_KV_SEQ_BYTES) */
    MIXC_DPTR(const void) v_cache;
    MIXC_DPTR(const int) pos;       /* [batch] position of the new token */
    MIXC_DPTR(const int) seq;       /* [batch] cache slot (sequence block) of each row: any subset, any order */
    MIXC_DPTR(float) o_part;        /* [batch, HEADS, nsplit, HD] */
    MIXC_DPTR(float) ml_part;       /* [batch, HEADS, nsplit, 2]: max (log2 units), sum */
    float scale;                    /* softmax scale, e.g. 1/sqrt(HD) */
    int batch;
    /* With one split (gridDim.y 1) and out set, the kernel writes the merged output itself, as
     * attn_decode_reduce_kernel would (the plan then runs no reduce); else the partials. */
    MIXC_DPTR(void) out;            /* [batch, HEADS, HD]; 0: partials only */
    MIXC_DPTR(const void) sinks;    /* as PrefillParams.sinks (read only when writing out) */
    MixcPagedKv paged;              /* a paged cache's (the kernel's PAGE > 0) */
} DecodeParams;

typedef struct DecodeReduceParams {
    MIXC_DPTR(const float) o_part;  /* as written by attn_decode_kernel */
    MIXC_DPTR(const float) ml_part;
    MIXC_DPTR(void) out;            /* [batch, HEADS, HD] */
    int heads, nsplit, batch;
    MIXC_DPTR(const void) sinks;    /* as PrefillParams.sinks: the decode's sinks join here, once */
} DecodeReduceParams;

/* argmax: ids[r] = mixc_argmax of logits row r (its code when the row holds a NaN or an infinity),
 * after each value x became softcap * tanh(x / softcap) in place (logit_softcap; the kernel's
 * constant). */
typedef struct ArgmaxParams {
    MIXC_DPTR(float) logits;        /* [rows, VOCAB] fp32 */
    MIXC_DPTR(int) ids;             /* [rows] */
    int rows;
} ArgmaxParams;

/* A mixture of experts (docs/model.md, docs/kernels.md): route holds, for row r = t * K + j (token t's
 * j-th choice), the expert's index and its weight as two fp32s at route[2 r] and route[2 r + 1]. */

/* moe_route: each token's K experts and weights from its E router logits (fp32). */
typedef struct MoeRouteParams {
    MIXC_DPTR(const float) logits;  /* [tokens, E] */
    MIXC_DPTR(float) route;         /* [tokens * K, 2] */
    int tokens;
} MoeRouteParams;

/* moe_gate_up / moe_down: out row r = x row (r / K, or r for down) x W_e^T (+ bias_e), W_e the
 * chosen expert's [OUT, IN] slice of the stacked weight; sigmoid_input: gate and up times the weight. */
typedef struct MoeGemmParams {
    MIXC_DPTR(const void) x;        /* [tokens, IN] (gate, up) or [tokens * K, IN] (down) */
    MIXC_DPTR(const float) route;   /* [tokens * K, 2] */
    MIXC_DPTR(const void) weight;   /* [E * OUT, IN] */
    MIXC_DPTR(const void) bias;     /* [E * OUT] (moe_bias); 0: none */
    MIXC_DPTR(void) out;            /* [tokens * K, OUT] */
    int tokens;
} MoeGemmParams;

/* moe_combine: out row t = sum over j of row (t, j) of x times its weight (sigmoid_input: times 1,
 * the weight already scaled its input), in fp32, rounded once. */
typedef struct MoeCombineParams {
    MIXC_DPTR(const void) x;        /* [tokens * K, HIDDEN] */
    MIXC_DPTR(const float) route;   /* [tokens * K, 2] */
    MIXC_DPTR(void) out;            /* [tokens, HIDDEN] */
    int tokens;
} MoeCombineParams;

#endif /* MIXC_PARAMS_H */
