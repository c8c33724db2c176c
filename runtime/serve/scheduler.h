/* scheduler.h — continuous batching of many requests on one backend (docs/serving.md).
 *
 * The backend holds max_seqs slots. A request is admitted (FIFO, by arrival; with ServeOptions.priority
 * by priority among those that arrived, then arrival) when a slot is free and
 * the KV bytes of the sequences in flight plus its own stay within the budget: a sequence costs what
 * the run plan gives it (run_plan_seq_kv_bytes: ring caches in full, the others for prompt +
 * max_new tokens). Each step decodes every sequence that has its first token once (one
 * decode_slots call), then spends the rest of step_tokens on prefill chunks (at most the plan's chunk
 * per call) of the sequences still prefilling, in admission order. A sequence leaves when it has
 * max_new tokens; its slot is free at the next step, and keeps its caches for a later prompt that
 * starts the same (prefix caching). Greedy decoding. The slots and the
 * steps are the engine's (engine.h), which `mixrun serve` feeds too.
 */
#ifndef MIXC_SERVE_SCHEDULER_H
#define MIXC_SERVE_SCHEDULER_H

#include "backend.h"
#include "requests.h"

typedef struct {
    int64_t step_tokens;    /* tokens one step may run (decodes, then prefill); 0: slots + the plan's chunk */
    int64_t kv_budget;      /* bytes the sequences in flight may hold; 0 (or more): the plan's KV allocation */
    int64_t context;        /* the model's: a request of more tokens is refused */
    bool trace;             /* one line per step on stderr (admissions, decodes, chunks, finishes) */
    bool progress;          /* a progress line on stderr on long runs */
    bool no_prefix_caching; /* a slot's caches are never reused by the next prompt that starts the same */
    bool cache_generated;   /* prefix caching reuses generated tokens' rows too, as decode steps wrote them
                             * (on emu and cuda rounded otherwise than a prefill: opt-in) */
    bool priority;          /* --scheduling-policy priority: of the requests that arrived, the least
                             * ServeRequest.priority is admitted first (ties by arrival); else by arrival */
} ServeOptions;

typedef struct {
    int32_t *output;        /* [noutput] the generated ids */
    int64_t noutput;
    int64_t cached_tokens;  /* prompt tokens not prefilled: its slot held their caches (prefix caching) */
    double ttft_s, tpot_s, e2e_s;   /* from its arrival: first token; per token after it; last token */
    char refused[200];      /* why it can never run ("" when it ran) */
} ServeResult;

typedef struct {
    ServeResult *result;    /* [requests->n], in the requests' order */
    double elapsed_s;       /* from the start to the last token */
    int peak_sequences;     /* most sequences in flight at once */
    int64_t kv_budget_bytes, kv_peak_bytes;
    int64_t pool_pages, pages_peak; /* a paged run: the pool's pages, the most in flight at once (0 unpaged) */
    int64_t pages_shared;   /* a paged run: the pages sequences took shared, not copied (prefix caching) */
    int64_t steps, mixed_steps;     /* steps; those that decoded and prefilled */
    int64_t cached_tokens;  /* prompt tokens not prefilled: their slots held their caches (prefix caching) */
    int refused;
} ServeRun;

/* The slots of a run of requests without --max-seqs: the requests, at most this many. */
#define SERVE_DEFAULT_MAX_SEQS 16

/* The backend a run of these requests needs: max_seqs slots (0: the requests, at most
 * SERVE_DEFAULT_MAX_SEQS) and the context of the longest request that fits the model's. */
void serve_backend_config(const ServeRequests *rq, int64_t model_context, int max_seqs, BackendConfig *cfg);

/* The KV bytes request r costs on backend b (run_plan_seq_kv_bytes of its prompt + max_new). */
int64_t serve_request_cost(const Backend *b, const ServeRequest *r);
/* The pool pages it takes in a paged run (run_plan_seq_pages of its prompt + max_new; 0 unpaged). */
int64_t serve_request_pages(const Backend *b, const ServeRequest *r);

/* Runs every request on b (opened with serve_backend_config's slots and context). A request that
 * can never fit (prompt + max_new beyond the model's context, or its bytes beyond the budget) is refused with a
 * message on stderr and left out; the others run. false when the backend fails (b->err). */
bool serve_run(Backend *b, const ServeRequests *rq, const ServeOptions *o, ServeRun *out);
void serve_run_free(ServeRun *r, int n);

/* ---- the run's figures (serve_report.c, docs/serving.md "Metrics") */

typedef struct {
    double mean, p50, p90, p99;
} ServeStats;

typedef struct {
    int ran;                /* requests that ran (not refused) */
    double requests_per_s, input_tokens_per_s, output_tokens_per_s;
    ServeStats ttft, tpot, e2e;
} ServeSummary;

ServeSummary serve_summarize(const ServeRequests *rq, const ServeRun *run);
/* --json's "summary" object. */
json_t *serve_summary_json(const ServeRequests *rq, const ServeRun *run);
/* Prints j (taken over) on stdout, indented; 1 with "cannot write the WHAT as JSON" when it cannot
 * be written, else 0. mixrun's --bench --json prints through it too. */
int serve_print_json(json_t *j, const char *what);
/* Text, or --json's object; returns the exit status (1 when a request was refused or the output
 * cannot be written). */
int serve_print(const ServeRequests *rq, const ServeRun *run, bool json);

#endif
