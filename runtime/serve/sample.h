/* sample.h — picking a token from logits on the host (docs/serving.md, "Sampling"): greedy at
 * temperature 0, else softmax(logits / temperature) cut by min_p, top_k and top_p, drawn with
 * splitmix64 from a per-request state (the same seed gives the same tokens). */
#ifndef MIXC_SERVE_SAMPLE_H
#define MIXC_SERVE_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    float *prob;            /* [vocab] */
    int32_t *index;         /* [vocab] */
    float *adjusted;        /* [vocab] adjust_logits' */
    int64_t vocab;
} SampleScratch;

/* What a request does to its logits before it picks (OpenAI's logit_bias, frequency_penalty and
 * presence_penalty, vLLM's repetition_penalty and min_tokens, in this order): a token of the prompt
 * or generated so far has its logit divided by repetition when positive, else multiplied by it; then
 * minus frequency times the times it was generated so far, and minus presence once it was; then
 * bias[k] is added to the logit of bias_id[k]; then, while banning, an end id's is -inf; then, with
 * allowed, the logit of every token it does not allow is -inf (guided decoding's), and each of ban's. */
typedef struct {
    int32_t *bias_id;
    float *bias;
    int nbias;
    double frequency, presence;
    int32_t *counts;        /* [vocab] the generated ids' occurrences (with a penalty: else NULL) */
    double repetition;      /* 0 or 1: none */
    unsigned char *seen;    /* [vocab] the prompt's and the generated ids (with a repetition: else NULL) */
    int32_t *end_id;        /* the ids that end the sequence (distinct): their logits are -inf while */
    int nend;               /* banning is set (vLLM's min_tokens keeps them out of the first tokens; */
    bool banning;           /* there are fewer than the vocabulary then) */
    const unsigned char *allowed;   /* [vocab] 1 for the tokens that may come next; NULL: all */
    const int32_t *ban;     /* ids whose logits are -inf at this pick (vLLM's bad_words) */
    int nban;
} LogitAdjust;

/* Whether adj changes any logit. */
bool logit_adjust_any(const LogitAdjust *adj);
/* Frees the arrays adj owns (bias_id, bias, counts, seen, end_id; allowed and ban are borrowed). */
void logit_adjust_free(LogitAdjust *adj);
/* logits with adj applied, in s->adjusted (the penalties in double, rounded once). */
const float *adjust_logits(SampleScratch *s, const float *logits, const LogitAdjust *adj);

void sample_scratch_init(SampleScratch *s, int64_t vocab);
void sample_scratch_free(SampleScratch *s);

/* How a request draws its tokens (vLLM's order: temperature, then min_p, then top_k, then top_p). */
typedef struct {
    double temperature;     /* 0: greedy (the others do nothing then) */
    double min_p;           /* [0, 1]: tokens less probable than min_p times the most probable are out */
    int64_t top_k;          /* the k most probable tokens stay (ties in index order); 0: all */
    double top_p;           /* (0, 1]: of those, the smallest set of most probable whose probability
                             * (renormalized) reaches top_p */
} SampleParams;

/* The tokens a draw chooses among: s->index[0, n) in index order (n returned), each token's
 * probability relative to the most probable's in s->prob (0 when min_p takes it out): the k most
 * probable of those min_p keeps (ties by index), then the first of them in that order whose mass
 * reaches top_p of theirs. 0 at temperature 0, or when no probability is finite. */
int64_t sample_candidates(SampleScratch *s, const float *logits, const SampleParams *p);

/* temperature 0 (or no candidate): model_greedy_token (the greedy path, exactly); else a draw from
 * the softmax of logits / temperature over sample_candidates' tokens. */
int32_t sample_token(SampleScratch *s, const float *logits, const SampleParams *p, uint64_t *state);

/* The most alternatives a request may ask logprobs of (vLLM's default max_logprobs). */
#define SAMPLE_MAX_LOGPROBS 20

/* A generated token's log-probability under the model, and the most probable tokens' (docs/serving.md,
 * "Log-probabilities"): log_softmax of the logits as the backend gave them, before logit_bias, the
 * penalties, temperature and top_p (vLLM's raw logprobs), the log-sum-exp in double. */
typedef struct {
    double logprob;                         /* the token's (double: finite for any finite logits) */
    int64_t rank;                           /* the tokens whose logits are at least the token's, itself
                                             * included (vLLM's rank: 1 for the most probable) */
    int ntop;
    int32_t top_id[SAMPLE_MAX_LOGPROBS];    /* the most probable first; ties by id */
    double top_logprob[SAMPLE_MAX_LOGPROBS];
} TokenLogprobs;

/* The log-probability of a token at -inf (a guided answer's masked ones): vLLM's stand-in. */
#define SAMPLE_LOGPROB_MASKED -9999.0
/* tok's log-probability, and the ntop (<= SAMPLE_MAX_LOGPROBS) most probable tokens' into *out (one
 * at -inf: SAMPLE_LOGPROB_MASKED). */
void token_logprobs(const float *logits, int64_t vocab, int32_t tok, int ntop, TokenLogprobs *out);

/* Rows of token_logprobs at once (an echoed prompt's): out[r] from row r of logits [n, vocab] for
 * ids[r], split over the machine's cores (SAMPLE_ROWS_A_THREAD rows a thread at least, at most
 * SAMPLE_MAX_THREADS threads). A row holding a NaN or an infinity has none: the first such row is
 * returned (*nan: whether mixc_argmax found a NaN first), else -1; rows after it may be done. */
#define SAMPLE_ROWS_A_THREAD 16
#define SAMPLE_MAX_THREADS 16
int64_t token_logprobs_rows(const float *logits, int64_t n, int64_t vocab, const int32_t *ids, int ntop,
                            TokenLogprobs *out, bool *nan);

/* The threads host work of the serving loop may take at once: the cores the process may run on (its
 * CPU affinity: taskset, a container's cpuset), or the environment's MIXC_HOST_THREADS (tests and
 * benchmarks: more threads than cores, or one), 1..SAMPLE_MAX_THREADS. */
int sample_threads(void);

/* work(ctx, lo, hi, share) over [0, n) cut into `shares` contiguous shares (1..SAMPLE_MAX_THREADS,
 * at most n): share k > 0 on a thread of its own, share 0 on this one (and a share whose thread did
 * not start); returns when every share is done. A share's index is its own: work may keep per-share
 * state (a SampleScratch) at it. */
void sample_shares(int64_t n, int shares, void (*work)(void *ctx, int64_t lo, int64_t hi, int share), void *ctx);

#endif
