/* engine.h — the continuous-batching core of serving (docs/serving.md, "A step"): sequence slots on
 * one backend, admission under the KV budget, steps that decode every running sequence once and
 * spend the rest of the step's tokens on prefill chunks.
 *
 * `mixrun --requests/--synthetic` (scheduler.c) feeds it a list of requests by arrival time;
 * `mixrun serve` (runtime/http) feeds it the requests of HTTP clients as they come, picks tokens by
 * sampling and ends sequences early (stop strings, a client gone). Not thread-safe: one thread
 * calls every function of an engine.
 */
#ifndef MIXC_SERVE_ENGINE_H
#define MIXC_SERVE_ENGINE_H

#include "scheduler.h"

typedef struct ServeEngine ServeEngine;

/* What a caller may decide per sequence; each hook gets the `user` pointer given at admission. */
typedef struct {
    /* The token the sequence generates from its logits [vocab], given also the backend's argmax code
     * of them (mixc_argmax: what a greedy sequence takes); NULL: greedy (the backend's argmax). The
     * picks of a decode step run at once, in shares on up to pick_threads threads, `share` the
     * index of the one that runs it (< pick_threads): a pick may touch its own sequence's state
     * and share's scratch, nothing another pick touches. */
    int32_t (*pick)(void *user, const float *logits, int64_t vocab, int32_t code, int share);
    int pick_threads;       /* 0 or 1: one pick after another */
    /* Whether the sequence needs its logits for pick (sampling at a temperature, log-probabilities,
     * logits it adjusts); false: it is greedy, its token the backend's argmax (a decode step where no sequence needs them
     * copies back only the token ids: Backend.ops->decode_argmax). NULL: every sequence with a pick
     * needs them. */
    bool (*wants_logits)(void *user);
    /* Whether the sequence needs the logits of every prompt token (an echo's log-probabilities); NULL:
     * none does. */
    bool (*wants_prompt_logits)(void *user);
    /* The logits [n][vocab] of its prompt positions [from, from + n), one prefill call's (the last
     * prompt position's also go to pick); called only for a sequence wants_prompt_logits takes. */
    void (*prompt_logits)(void *user, int64_t from, int64_t n, const float *logits, int64_t vocab);
    /* A greedy sequence's token from the argmax code of its logits (mixc_argmax: negative when they
     * hold a NaN or an infinity). NULL: the code, and a negative one fails the step (b->err). */
    int32_t (*pick_greedy)(void *user, int32_t code);
    /* The sequence generated tok (res->output[res->noutput - 1]); true ends it now (a stop). NULL:
     * sequences end at max_new only. */
    bool (*emitted)(void *user, int32_t tok);
    /* The sequence left (max_new reached or ended by `emitted`; not called on cancel). */
    void (*finished)(void *user);
} ServeHooks;

/* An engine on b (opened with the slots and context the requests need); hooks may be NULL. */
ServeEngine *serve_engine_open(Backend *b, const ServeOptions *o, const ServeHooks *hooks);
void serve_engine_close(ServeEngine *e);

/* The budget the engine admits under (the --kv-budget, capped at the plan's KV allocation). */
int64_t serve_engine_budget(const ServeEngine *e);
/* Admits r (with res to fill: its output is allocated here, r->max_new ids; res->cached_tokens the
 * prompt tokens it need not prefill) when a slot is free, its bytes fit the budget and (paged) its
 * pages the pool beside the sequences in flight: into the free slot whose kept caches start its
 * prompt the longest way, or with a copy of a running sequence's prompt rows, now or once its prefill
 * has them (prefix caching, docs/serving.md; not with ServeOptions.no_prefix_caching).
 * arrived_at: the mono_seconds() of its arrival (TTFT and end-to-end latency count from it). 1
 * admitted, 0 not now, -1 when the backend fails (b->err). r and res must live until the sequence
 * leaves. */
int serve_engine_admit(ServeEngine *e, const ServeRequest *r, ServeResult *res, double arrived_at, void *user);
/* serve_engine_admit of a request whose prompt is that of the sequence admitted with `parent` (a
 * request's n choices): while the parent's prompt is not done, r waits instead of prefilling, and when
 * it ends r's slot gets a copy of its caches (backend_copy_prefix) and picks its first token from the same
 * logits, as it would from its own prefill. Not when the backend cannot copy, r wants its prompt's
 * logits, or the parent's prompt is done or another: then r prefills its own. A parent that leaves
 * first lets r prefill its own. */
int serve_engine_admit_fork(ServeEngine *e, const ServeRequest *r, ServeResult *res, double arrived_at, void *user,
                            const void *parent);
/* One step: a decode of every running sequence past its prefill, then prefill chunks. The tokens
 * run (0: nothing in flight), -1 when the backend fails (b->err). */
int64_t serve_engine_step(ServeEngine *e);
/* Ends the sequence admitted with `user` now (its slot and bytes free for the next admission);
 * false when no sequence has it. */
bool serve_engine_cancel(ServeEngine *e, const void *user);

typedef struct {
    int busy;               /* sequences in flight */
    int peak_sequences;
    int64_t kv_used, kv_peak;           /* the KV bytes the sequences in flight hold or may still take
                                         * (to their prompt + max_new), a shared page's once */
    int64_t pages_used, pages_peak;     /* a paged run's pool pages, likewise (0 unpaged) */
    int64_t pages_shared;   /* a paged run's pages a copy took shared with its source, not copied
                             * (Backend.pages_shared) */
    int64_t steps, mixed_steps;
    int64_t finished;       /* sequences that left (not cancelled) */
    int64_t forks;          /* sequences that took another's caches (serve_engine_admit_fork) */
    int64_t forked_tokens;  /* their prompt tokens, not prefilled */
    int64_t cached_tokens;  /* prompt tokens not prefilled: their slot kept their caches, or took a copy
                             * of a running sequence's (prefix caching) */
    int64_t copies;         /* sequences that took such a copy (backend_copy_prefix) */
} ServeEngineStats;
ServeEngineStats serve_engine_stats(const ServeEngine *e);

#endif
