/* backend.h — the interface every mixrun backend implements (cpu, emu, cuda; emu is the cuda
 * backend on an emulated device: runtime/emu/emu_backend.c).
 *
 * A backend holds the KV caches of `nseq` sequences (slots 0..nseq-1) and runs the model on them:
 *   prefill:      appends a chunk to each of several slots in one step (a batched prefill, the plan's
 *                 chunk of tokens at most across them); backend_prefill is its one-slot case;
 *   decode_slots: appends one token to each listed slot (a batched step over the active slots);
 *   decode_argmax: decode_slots that returns each row's greedy token (its logits only when asked);
 *   decode:       decode_slots over every slot, in order (backend_decode_all);
 * all return logits. Positions are implicit: a slot's next token goes at its length. backend_reset
 * empties a slot for a new sequence (a scheduler's slot reuse): its length goes back to 0 and its
 * caches, ring or global, are overwritten from position 0 (no key is read before it is written).
 *
 * The cpu backend (cpu_backend.c) is the fp32 reference. Its attention, RoPE/append and small ops go
 * through a CpuKernels table (cpu_reference_kernels), which a test may replace entry by entry
 * (cpu_backend_open_with) to watch or perturb one kernel.
 */
#ifndef MIXC_RUNTIME_BACKEND_H
#define MIXC_RUNTIME_BACKEND_H

#include "model.h"
#include "run_plan.h"

typedef struct {
    int nseq;               /* sequences held at once (>= 1) */
    int64_t context;        /* the longest sequence (prompt + generated); <= the model's context */
    bool full_caches;       /* every cache holds `context` tokens, never a ring (a testing aid) */
    int64_t page_tokens, pool_pages;    /* paged global caches (RunOptions'; 0: unpaged) */
    /* Prebuilt kernels of this layout (a binary written by `mixc build` embeds them), loaded as they
     * are instead of compiled for the run; NULL for none. */
    const char *emu_kernels_so;     /* the emu backend's: a shared object built for the emulator */
    const void *cuda_cubin;         /* the cuda backend's: a cubin planned for the model's context */
    size_t cuda_cubin_size;
    int64_t prebuilt_page_tokens;   /* the page tokens both were generated for (0: unpaged) */
} BackendConfig;

/* What a backend allocated (the sizes of its allocations, as made) and what its run plan says
 * (compiler/plan/run_plan.h): mixrun --bench --json prints both, tests/mixrun asserts they agree. */
typedef struct {
    int64_t kv_bytes;       /* all caches of all sequences, as allocated */
    int64_t arena_bytes;    /* activations of one step, as allocated */
    int64_t weights_bytes;  /* weights, as held */
    int64_t workspace_bytes; /* the cuBLAS workspace, as allocated (cuda; 0 elsewhere) */
    int64_t kv_planned, arena_planned, weights_planned, workspace_planned;
    const char *kv_dtype;   /* element type of the caches as held ("fp32" when NULL) */
    const char *weights_dtype; /* element type of the weights as held ("fp32" when NULL) */
} BackendMemory;

typedef struct Backend Backend;

/* One sequence's chunk in a batched prefill: tokens[0..n) appended to slot `slot` at its length. */
typedef struct {
    int slot;
    const int32_t *tokens;
    int64_t n;              /* >= 1 */
    bool all_logits;        /* logits of every token, else of the last only */
} PrefillPart;

/* The step rows whose logits a prefill returns, adjacent rows merged: rows [from, from + n) of the
 * step go to logits rows [to, to + n). */
typedef struct {
    int64_t from, n, to;
} LogitRows;

typedef struct {
    const char *name;
    /* Appends parts[i] for i < n (distinct slots, 1 <= n; the parts' tokens together at most the
     * plan's chunk, run_plan_chunk) in one step: the GEMMs over all its tokens, attention per part
     * against its own slot's caches. logits (may be NULL): the parts' rows one after the other, n_i
     * rows of [vocab] for a part with all_logits, else one (its last token's). */
    bool (*prefill_batch)(Backend *b, const PrefillPart *parts, int n, float *logits);
    /* Appends tokens[s] to every sequence s; logits (may be NULL): [nseq][vocab]. */
    bool (*decode)(Backend *b, const int32_t *tokens, float *logits);
    /* Appends tokens[i] to slot slots[i] for i < n (1 <= n <= nseq, distinct slots in any order);
     * logits (may be NULL): [n][vocab], row i for slots[i]. */
    bool (*decode_slots)(Backend *b, const int *slots, int n, const int32_t *tokens, float *logits);
    void (*close)(Backend *b);
    /* decode_slots that also picks each row's greedy token: ids[i] = mixc_argmax of row i's logits
     * (templates/mixc_params.h: the lowest index of the largest value; MIXC_ARGMAX_NAN or
     * MIXC_ARGMAX_INF when the row holds a NaN or an infinity, as its first non-finite value is: the
     * caller refuses it, naming it). logits (may be NULL): [n][vocab] as decode_slots gives them.
     * What a greedy decode step needs: on the cuda backend (and emu, the same code) the argmax runs
     * on the device and only the n ids come back (n x 4 bytes), the logits only when asked, through
     * page-locked memory; the cpu backend picks on the host (backend_decode_argmax_host). */
    bool (*decode_argmax)(Backend *b, const int *slots, int n, const int32_t *tokens, int32_t *ids, float *logits);
    /* prefill_batch that also picks each part's greedy token: ids[i] = mixc_argmax of part i's last
     * logits row (what a part that ends its prompt emits). logits (may be NULL): as prefill_batch gives
     * them. On the cuda backend (and emu) the prefill schedule's last op is the argmax, as a decode
     * step's: only the n ids come back (n x 4 bytes), the logits only when asked; a part asking all its
     * rows' logits has them picked on the host. The cpu backend picks on the host
     * (backend_prefill_argmax_host). */
    bool (*prefill_argmax)(Backend *b, const PrefillPart *parts, int n, int32_t *ids, float *logits);
    /* Copies n bytes at offset from to offset to inside the KV allocation, in order with the steps
     * (backend_copy_prefix's copies of a slot's caches). */
    bool (*copy_kv)(Backend *b, int64_t to, int64_t from, int64_t n);
    /* Copies n bytes of host memory to offset `to` of the KV allocation (a fork's block table, into
     * the kernels' copy of the tables). */
    bool (*upload_kv)(Backend *b, int64_t to, const void *host, int64_t n);
} BackendOps;

struct Backend {
    const BackendOps *ops;
    const char *name;       /* "cpu", "emu", "cuda" */
    const Model *model;     /* the cpu backend's weights; NULL once a backend holding its own copy (cuda,
                             * emu) has opened: the caller may then free the Model */
    const Layout *layout;
    BackendConfig cfg;
    Arena host;             /* seq_len, cache_tokens and the page bookkeeping: freed by backend_release */
    int64_t *seq_len;       /* [nseq]: tokens each sequence holds */
    int64_t *cache_tokens;  /* [ncaches]: capacity of each cache (ring when < context) */
    /* A paged run (plan page_tokens > 0, pages.c): each slot's block table ([nseq][plan table_pages]
     * page ids, its first pages_held[slot] set), the pool's free pages (a stack of nfree), and how
     * many tables hold each page. */
    int32_t *page_table;
    int64_t *pages_held;
    int32_t *free_pages;
    int64_t nfree_pages;
    int32_t *page_refs;     /* [pool pages]: the tables that hold each page (backend_pages_share) */
    int64_t pages_shared;   /* pages a table took from another's (backend_pages_share), since open */
    int64_t pages_copied;   /* shared pages copied before a write into them (backend_pages_grow) */
    BackendMemory mem;
    const RunPlan *plan;    /* the run plan it allocated and runs: slots, caches, bytes (run_plan.h) */
    char err[512];          /* why the last prefill/decode failed */
    void *impl;
};

/* Slot `to` (emptied first) holds slot `from`'s first n positions (<= its length) as `from` does, and
 * has length n: every cache's K and V rows copied where the plan lays them (ops->copy_kv; a global
 * cache's first n, a ring's all, at position % capacity in both); a paged cache's pages that n fills
 * whole are shared with `from` (backend_pages_share), the rows of a last, partial one copied into a
 * page of its own (taken from the pool), and the table uploaded for the kernels. As if `from` had been cut back to n (backend_rewind; the caller answers for the rings
 * likewise): the same prompt, or its start, then need not be prefilled twice (a request's n choices,
 * with n `from`'s length; a serving engine's prefix caching). false with b->err when out of range,
 * the pool has too few pages or a copy fails. */
bool backend_copy_prefix(Backend *b, int from, int to, int64_t n);

/* ---- paged caches (pages.c): a no-op for an unpaged plan */

/* The block tables and free pool of b's plan (called once the plan is set). */
void backend_pages_open(Backend *b);
/* Gives slot the pages its first `tokens` positions need, from the free pool, and first a copy of
 * its own of the shared page its next position falls in (backend_pages_copy_due); false with b->err
 * when the pool has too few (a scheduler that admits by run_plan_seq_pages, counting that copy,
 * never sees it). */
bool backend_pages_grow(Backend *b, int slot, int64_t tokens);
/* Slot `to` (its pages let go first) holds the pages of slot `from` that its first n positions fill
 * whole, shared with it: no rows copied. The page of a last, partial one is not shared (to's rows
 * there differ from from's once either writes): the caller takes and fills it (backend_copy_prefix). */
void backend_pages_share(Backend *b, int from, int to, int64_t n);
/* Every paged cache's rows of pool page `from` (codes, then scales; K and V) into page `to`
 * (ops->copy_kv); false when a copy fails. */
bool backend_page_copy(Backend *b, int32_t from, int32_t to);
/* Whether a write at position `at` of slot falls inside a page it holds that another table holds
 * too (at its length: the next backend_pages_grow takes a page for a copy of it). */
bool backend_pages_copy_due(const Backend *b, int slot, int64_t at);
/* The pages that slots[0..n) hold, each counted once (seen: pool pages bytes of scratch). */
int64_t backend_pages_distinct(const Backend *b, const int *slots, int n, unsigned char *seen);
/* Lets slot's pages go (each back to the pool when no other table holds it): the sequence left (the
 * serving engine calls it then; backend_reset too). backend_pages_shrink(b, slot, 0). */
void backend_pages_release(Backend *b, int slot);
/* Lets slot's pages beyond those of its first `tokens` positions go (backend_rewind). */
void backend_pages_shrink(Backend *b, int slot, int64_t tokens);
/* Slot's block table (NULL unpaged). */
const int32_t *backend_page_table(const Backend *b, int slot);

/* ---------------------------------------------------------------- cpu kernels (replaceable) */

/* One sequence's K (or V) cache: cap rows of kv_heads * head_dim values, row = position % cap.
 * fp32 rows; or int8/fp8 codes followed by the rows' scales ([cap][kv_heads] fp32, unaligned:
 * read with memcpy), as the run plan lays them out (docs/model.md, "Quantized KV caches"). */
typedef struct {
    void *data;
    unsigned char *scales;      /* NULL for fp32 */
    DType dtype;                /* DT_FP32, DT_INT8 or DT_FP8 */
    /* A paged cache: data and scales are the pool's, and slot j is pool row MIXC_PAGED_ROW(pages,
     * page_tokens, j) (mixc_params.h); NULL: slot j is row j. */
    const int32_t *pages;
    int64_t page_tokens;
} KvRows;

/* RoPE (HF rotate_half: dimension d pairs with d + head_dim/2, angle = position * inv_freq[d], cos
 * and sin multiplied by scale; the layer's table from rope_table) on q [n][heads][head_dim] and, for
 * an owner, k [n][kv_heads][head_dim], in place at positions p0..p0+n-1; inv_freq NULL: a NoPE layer,
 * nothing rotated. Then k and v rows are written to the cache at slot = position % cap. k, v NULL for
 * a reading layer (only q is rotated). */
typedef struct {
    float *q, *k;
    const float *v;
    int64_t n, p0;
    int64_t heads, kv_heads, head_dim;
    const float *inv_freq;      /* [head_dim / 2] */
    float scale;
    KvRows cache_k, cache_v;
    int64_t cap;
} RopeAppendArgs;

/* Attention of n queries at positions p0..p0+n-1 over a cache (GQA: query head h uses KV head
 * h / (heads / kv_heads)); query i sees keys j in [lo, p0+i] with lo = mixc_first_key(p0+i, window,
 * chunked) (mixc_params.h: 0 global, p0+i-window+1, or the start of its chunk). out
 * [n][heads*head_dim]. Returns false if a key it needs has left the ring. */
typedef struct {
    const float *q;
    float *out;
    int64_t n, p0;
    int64_t heads, kv_heads, head_dim;
    int64_t window;             /* 0 = global */
    float scale;
    KvRows cache_k, cache_v;
    int64_t cap;
    int64_t written;            /* positions [0, written) have been appended to this cache */
    float *scores;              /* the plan's "scores" tensor: room for scores_len keys */
    int64_t scores_len;
    float softcap;              /* attn_softcap: each score becomes softcap * tanh(score / softcap); 0: none */
    int64_t chunked;            /* chunked attention over chunks of this many tokens; 0: none (then window) */
    const float *sinks;         /* [heads]: each head's sink logit joins its softmax's denominator; NULL: none */
} AttentionArgs;

/* Every entry takes the table's ctx first (NULL for the reference; a test's replacement may carry
 * state there). */
typedef struct {
    void *ctx;
    /* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * (offset + w), for rows r < n of width `width`
     * (offset 1 for norm = rms_plus_one, else 0) */
    void (*rmsnorm)(void *ctx, float *out, const float *x, const float *w, float offset, int64_t n, int64_t width,
                    float eps);
    void (*rope_append)(void *ctx, const RopeAppendArgs *a);
    bool (*attention)(void *ctx, const AttentionArgs *a);
    /* gate[i] = silu(gate[i]) * up[i] */
    void (*silu_mul)(void *ctx, float *gate, const float *up, int64_t count);
    /* gate[i] = gelu_tanh(gate[i]) * up[i] (activation = gelu_tanh) */
    void (*gelu_tanh_mul)(void *ctx, float *gate, const float *up, int64_t count);
    void (*release)(void *ctx);     /* frees ctx when the backend closes; NULL: nothing to free */
} CpuKernels;

extern const CpuKernels cpu_reference_kernels;

/* ---------------------------------------------------------------- opening a backend */

/* The backends, one row each (backends.c): a name and its open, which checks what the backend
 * needs and installs its BackendOps (prefill, decode, close). The emu and cuda rows are there in
 * every build: without the CUDA toolkit their open is runtime/jit/no_toolkit.c's, which says that
 * the backend needs the toolkit (exit status 2). */
typedef struct {
    const char *name;
    int (*open)(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen);
    /* It copies the weights into memory of its own at open (the device's): it takes a streamed model
     * (model_stream_safetensors), which never holds them all on the host. */
    bool copies_weights;
    /* What it can tell before any model exists (a device, the toolkit): 0, or the exit status its open
     * would fail with, and the same message; NULL: nothing. mixrun asks before it loads the weights. */
    int (*usable)(char *err, size_t errlen);
} BackendEntry;

/* The row named name; NULL when there is none. */
const BackendEntry *backend_find(const char *name);
/* The row backend_open opens for name: name's, or for NULL cuda's when a device can be used here, else
 * cpu's; NULL for an unknown name. */
const BackendEntry *backend_resolve(const char *name);
/* backend_resolve(name)'s usable (0 for an unknown name: backend_open says so). */
int backend_usable(const char *name, char *err, size_t errlen);
/* The backends' names for a message: "cpu, emu or cuda". */
const char *backend_names(void);

/* Opens the backend called name (NULL: cuda when a device can be used, else cpu) for model m (its
 * layout is m->layout). On failure returns the exit status to use (2: the backend is unavailable
 * here, e.g. no GPU or no toolkit, or an unknown name; 1: the model cannot run) and a message in err. */
int backend_open(const char *name, const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen);
void backend_close(Backend *b);

/* The backends' opens, as backend_open calls them. The cuda backend's first asks
 * backend_cuda_available; the emu backend's (runtime/emu/emu_backend.h) takes cfg->emu_kernels_so. */
int cpu_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen);
int emu_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen);
int cuda_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen);
/* Their usable (BackendEntry): the toolkit (no_toolkit.c says it is missing), and for cuda a device. */
int emu_backend_usable(char *err, size_t errlen);
int cuda_backend_usable(char *err, size_t errlen);
/* The cpu backend with some kernels replaced (entries left NULL use the reference). On success
 * the backend owns k->ctx (k->release frees it on close); on failure the caller still does. */
int cpu_backend_open_with(const CpuKernels *k, const Model *m, const BackendConfig *cfg, Backend *b, char *err,
                          size_t errlen);

/* For the backends' own open and close: writes a message into err and returns status (the exit
 * status backend_open documents); sets what every backend sets first (its ops and name, the model,
 * the configuration; seq_len and cache_tokens in b->host); takes the plan the backend made (b->plan,
 * the caches' capacities, the page bookkeeping); and frees what every backend allocates in Backend
 * itself (b->host), then zeroes it. */
int backend_open_error(char *err, size_t errlen, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void backend_init(Backend *b, const BackendOps *ops, const char *name, const Model *m, const BackendConfig *cfg);
void backend_use_plan(Backend *b, const RunPlan *plan);
void backend_release(Backend *b);
/* The arguments of ops->prefill_batch (the plan's chunk: the most tokens one call may take, across
 * its parts) and ops->decode, checked against the backend's sequences, context and vocabulary; false
 * with a message in b->err. */
bool backend_check_prefill(Backend *b, const PrefillPart *parts, int n);
/* The one-sequence prefill: ops->prefill_batch of one part (logits: [n][vocab] when all_logits, else
 * the last token's [vocab]). */
bool backend_prefill(Backend *b, int seq, const int32_t *tokens, int64_t n, float *logits, bool all_logits);
/* The logit rows of a prefill of parts[0..n) (the parts' rows packed in order): at most n ranges in
 * out, adjacent ones merged; their count. */
int backend_logit_rows(const PrefillPart *parts, int n, LogitRows *out);
bool backend_check_decode(Backend *b, const int *slots, int n, const int32_t *tokens);
/* ops->decode_argmax on the host: decode_slots into logits (or a buffer of its own when NULL), then
 * mixc_argmax of each row (the cpu backend's). */
/* prefill_argmax by prefill_batch and mixc_argmax on the host: the cpu backend's. */
bool backend_prefill_argmax_host(Backend *b, const PrefillPart *parts, int n, int32_t *ids, float *logits);
bool backend_decode_argmax_host(Backend *b, const int *slots, int n, const int32_t *tokens, int32_t *ids,
                                float *logits);
/* ops->decode of every backend: decode_slots over slots 0..nseq-1. */
bool backend_decode_all(Backend *b, const int32_t *tokens, float *logits);
/* Empties slot `slot` for a new sequence (see the top of this file); false with b->err when out of
 * range. backend_rewind(b, slot, 0). */
bool backend_reset(Backend *b, int slot);
/* Slot `slot` keeps only its first `tokens` positions (<= its length) for a new sequence whose first
 * tokens are the same (a serving engine's prefix caching): its length goes back to `tokens`, its
 * pages beyond them to the pool; the next token goes at `tokens`. Nothing is written: the caller
 * answers for the rows the new sequence reads. A ring keeps the last positions written into it, some
 * past `tokens`, so it still holds the keys of the first `tokens` only back to a point
 * (runtime/serve/engine.c, ring_holds). false with b->err when out of range. */
bool backend_rewind(Backend *b, int slot, int64_t tokens);
/* The configuration against the model (sequences, context): 0, or the exit status with err set. */
int backend_check_config(const Model *m, const BackendConfig *cfg, char *err, size_t errlen);

/* Whether a CUDA device can be used: false with the reason in why (runtime/cuda/cuda_backend.c, or
 * "built without the CUDA toolkit" from no_toolkit.c). */
bool backend_cuda_available(char *why, size_t whylen);

#endif
