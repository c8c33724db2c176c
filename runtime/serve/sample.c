/* sample.c — temperature, min-p, top-k and top-p sampling on the host (sample.h). */
#include "sample.h"

#include "mixc_params.h"   /* mixc_argmax */
#include "model.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

void sample_scratch_init(SampleScratch *s, int64_t vocab) {
    s->vocab = vocab;
    s->prob = xcalloc((size_t)vocab, sizeof *s->prob);
    s->index = xcalloc((size_t)vocab, sizeof *s->index);
    s->adjusted = xcalloc((size_t)vocab, sizeof *s->adjusted);
}

void sample_scratch_free(SampleScratch *s) {
    free(s->prob);
    free(s->index);
    free(s->adjusted);
}

static bool repeats(const LogitAdjust *adj) { return adj->repetition != 0 && adj->repetition != 1; }

bool logit_adjust_any(const LogitAdjust *adj) {
    return adj->nbias || adj->frequency != 0 || adj->presence != 0 || repeats(adj) || (adj->banning && adj->nend) || adj->allowed || adj->nban;
}

void logit_adjust_free(LogitAdjust *adj) {
    free(adj->bias_id);
    free(adj->bias);
    free(adj->counts);
    free(adj->seen);
    free(adj->end_id);
}

const float *adjust_logits(SampleScratch *s, const float *logits, const LogitAdjust *adj) {
    bool rep = repeats(adj) && adj->seen;
    for (int64_t i = 0; i < s->vocab; i++) {
        double x = logits[i];
        if (rep && adj->seen[i]) x = x > 0 ? x / adj->repetition : x * adj->repetition;
        int32_t n = adj->counts ? adj->counts[i] : 0;
        if (n) x -= adj->frequency * n + adj->presence;
        s->adjusted[i] = (float)x;
    }
    for (int k = 0; k < adj->nbias; k++) s->adjusted[adj->bias_id[k]] += adj->bias[k];
    for (int k = 0; adj->banning && k < adj->nend; k++) s->adjusted[adj->end_id[k]] = -INFINITY;
    for (int64_t i = 0; adj->allowed && i < s->vocab; i++)
        if (!adj->allowed[i]) s->adjusted[i] = -INFINITY;
    for (int k = 0; k < adj->nban; k++) s->adjusted[adj->ban[k]] = -INFINITY;
    return s->adjusted;
}

/* A probability's bits: probabilities are non-negative floats, which order as their bits do. */
static uint32_t prob_bits(float p) {
    uint32_t bits;
    memcpy(&bits, &p, sizeof bits);
    return bits;
}

/* A token's weight: 1 (counting tokens) or its probability (weighing their mass). */
static double weight(const SampleScratch *s, int32_t token, bool by_mass) { return by_mass ? s->prob[token] : 1.0; }

/* Keeps, of the tokens s->index[0, m), the first ones of the order "most probable first, ties by
 * index" whose weight reaches want (at least one; all when theirs does not), in index order; their
 * count. No sort: the probability c of the last one kept is found from the top of its bits, 8 at a
 * time (a histogram of the weight above each byte value); then every token more probable than c is
 * kept, and those at c in index order until want is reached. O(m) a byte. */
static int64_t first_by_prob(SampleScratch *s, int64_t m, double want, bool by_mass) {
    uint32_t cut = 0, mask = 0;
    double above = 0;   /* the weight of the tokens more probable than the cut's bits so far */
    for (int shift = 24; shift >= 0; shift -= 8) {
        double hist[256] = {0};
        for (int64_t j = 0; j < m; j++) {
            uint32_t bits = prob_bits(s->prob[s->index[j]]);
            if ((bits & mask) == cut) hist[(bits >> shift) & 255] += weight(s, s->index[j], by_mass);
        }
        int b = 255;
        while (b > 0 && !(above + hist[b] >= want)) above += hist[b--];
        cut |= (uint32_t)b << shift;
        mask |= 255u << shift;
    }
    int64_t n = 0;
    double got = above;
    for (int64_t j = 0; j < m; j++) {   /* index order kept: s->index[0, m) is in it */
        uint32_t bits = prob_bits(s->prob[s->index[j]]);
        if (bits > cut || (bits == cut && (n == 0 || got < want))) {
            if (bits == cut) got += weight(s, s->index[j], by_mass);
            s->index[n++] = s->index[j];
        }
    }
    return n;
}

/* The draw's tokens: s->index[0, n) (n returned) in index order, the k most probable (k 0: all; ties
 * by index) of the tokens with probability (s->prob, of mass total), cut to the first of them in
 * that order whose mass reaches top_p of theirs. s->index[0, vocab) holds every token. */
static int64_t keep(SampleScratch *s, int64_t k, double top_p, double total) {
    int64_t m = s->vocab;
    if (k > 0 && k < m) {
        m = first_by_prob(s, m, (double)k, false);
        total = 0;
        for (int64_t j = 0; j < m; j++) total += s->prob[s->index[j]];
    }
    return top_p < 1 ? first_by_prob(s, m, top_p * total, true) : m;
}

int64_t sample_candidates(SampleScratch *s, const float *logits, const SampleParams *p) {
    int64_t V = s->vocab;
    if (p->temperature <= 0) return 0;
    int32_t best = model_greedy_token(logits, V);
    double total = 0;
    for (int64_t i = 0; i < V; i++) {   /* the most probable's is 1: min_p compares to it */
        double q = exp(((double)logits[i] - (double)logits[best]) / p->temperature);
        s->prob[i] = isfinite(q) && q >= p->min_p ? (float)q : 0.0f;
        total += s->prob[i];
        s->index[i] = (int32_t)i;
    }
    if (!(total > 0) || !isfinite(total)) return 0;
    return p->top_p < 1 || (p->top_k > 0 && p->top_k < V) ? keep(s, p->top_k, p->top_p, total) : V;
}

int32_t sample_token(SampleScratch *s, const float *logits, const SampleParams *p, uint64_t *state) {
    int64_t n = sample_candidates(s, logits, p);
    if (n == 0) return model_greedy_token(logits, s->vocab);
    double total = 0, cum = 0;
    for (int64_t k = 0; k < n; k++) total += s->prob[s->index[k]];
    double u = (double)(splitmix64(state) >> 11) * 0x1.0p-53 * total;
    for (int64_t k = 0; k < n; k++) {
        cum += s->prob[s->index[k]];
        if (u < cum) return s->index[k];
    }
    return s->index[n - 1];
}

/* Whether token a comes before token b in the order of the top: the larger logit, then the lower id. */
static bool ranks_before(const float *logits, int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

void token_logprobs(const float *logits, int64_t vocab, int32_t tok, int ntop, TokenLogprobs *out) {
    int32_t best = model_greedy_token(logits, vocab);
    double max = logits[best], sum = 0;
    float at = logits[tok];
    int64_t rank = 0;
    for (int64_t i = 0; i < vocab; i++) {
        sum += exp((double)logits[i] - max);
        rank += logits[i] >= at;
    }
    out->rank = rank;
    double lse = max + log(sum);
    out->logprob = (double)logits[tok] - lse;
    out->ntop = 0;
    if (ntop > SAMPLE_MAX_LOGPROBS) ntop = SAMPLE_MAX_LOGPROBS;
    if (ntop > vocab) ntop = (int)vocab;
    for (int64_t i = 0; i < vocab; i++) {   /* insertion into the sorted top (ntop <= 20) */
        int32_t id = (int32_t)i;
        int k;
        if (out->ntop < ntop) k = out->ntop++;
        else if (ntop > 0 && ranks_before(logits, id, out->top_id[ntop - 1])) k = ntop - 1;
        else continue;
        for (; k > 0 && ranks_before(logits, id, out->top_id[k - 1]); k--) out->top_id[k] = out->top_id[k - 1];
        out->top_id[k] = id;
    }
    for (int k = 0; k < out->ntop; k++) out->top_logprob[k] = (double)logits[out->top_id[k]] - lse;
    for (int k = 0; k < out->ntop; k++)   /* a token a guide took out (-inf): vLLM's stand-in, JSON has no -inf */
        if (isinf(out->top_logprob[k])) out->top_logprob[k] = SAMPLE_LOGPROB_MASKED;
    if (isinf(out->logprob)) out->logprob = SAMPLE_LOGPROB_MASKED;
}

/* The cores this process may run on (its affinity: taskset, a container's cpuset), else those online. */
static long usable_cores(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
}

int sample_threads(void) {
    const char *env = getenv("MIXC_HOST_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : usable_cores();
    return n < 1 ? 1 : n > SAMPLE_MAX_THREADS ? SAMPLE_MAX_THREADS : (int)n;
}

typedef struct {
    void (*work)(void *ctx, int64_t lo, int64_t hi, int share);
    void *ctx;
    int64_t lo, hi;
    int share;
} Share;

static void *run_share(void *arg) {
    const Share *sh = arg;
    sh->work(sh->ctx, sh->lo, sh->hi, sh->share);
    return NULL;
}

void sample_shares(int64_t n, int shares, void (*work)(void *ctx, int64_t lo, int64_t hi, int share), void *ctx) {
    if (shares > n) shares = (int)n;
    if (shares > SAMPLE_MAX_THREADS) shares = SAMPLE_MAX_THREADS;
    if (shares < 1) shares = 1;
    Share share[SAMPLE_MAX_THREADS];
    pthread_t tid[SAMPLE_MAX_THREADS];
    bool started[SAMPLE_MAX_THREADS] = {false};
    for (int k = 0; k < shares; k++) {
        share[k] = (Share){work, ctx, n * k / shares, n * (k + 1) / shares, k};
        started[k] = k > 0 && pthread_create(&tid[k], NULL, run_share, &share[k]) == 0;
    }
    for (int k = 0; k < shares; k++)
        if (!started[k]) run_share(&share[k]);
    for (int k = 0; k < shares; k++)
        if (started[k]) pthread_join(tid[k], NULL);
}

/* token_logprobs_rows' rows, and each share's first row without logprobs (-1: none). */
typedef struct {
    const float *logits;
    int64_t vocab;
    const int32_t *ids;
    int ntop;
    TokenLogprobs *out;
    int64_t bad[SAMPLE_MAX_THREADS];
    bool nan[SAMPLE_MAX_THREADS];
} Rows;

static void rows_share(void *ctx, int64_t lo, int64_t hi, int share) {
    Rows *rs = ctx;
    for (int64_t r = lo; r < hi; r++) {
        const float *row = rs->logits + r * rs->vocab;
        int code = mixc_argmax(row, rs->vocab);
        if (code < 0) {
            rs->bad[share] = r;
            rs->nan[share] = code == MIXC_ARGMAX_NAN;
            return;
        }
        token_logprobs(row, rs->vocab, rs->ids[r], rs->ntop, &rs->out[r]);
    }
}

int64_t token_logprobs_rows(const float *logits, int64_t n, int64_t vocab, const int32_t *ids, int ntop,
                            TokenLogprobs *out, bool *nan) {
    int64_t shares = n / SAMPLE_ROWS_A_THREAD;
    if (shares > sample_threads()) shares = sample_threads();
    Rows rs = {.logits = logits, .vocab = vocab, .ids = ids, .ntop = ntop, .out = out};
    for (int k = 0; k < SAMPLE_MAX_THREADS; k++) rs.bad[k] = -1;
    sample_shares(n, shares < 1 ? 1 : (int)shares, rows_share, &rs);
    for (int k = 0; k < SAMPLE_MAX_THREADS; k++)   /* the shares in row order */
        if (rs.bad[k] >= 0) {
            *nan = rs.nan[k];
            return rs.bad[k];
        }
    return -1;
}
