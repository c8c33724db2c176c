/* sample.c — temperature, min-p, top-k and top-p sampling on the host (sample.h). */
#include "sample.h"

#include "model.h"

#include <math.h>
#include <stdlib.h>

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
    return adj->nbias || adj->frequency != 0 || adj->presence != 0 || repeats(adj) || (adj->banning && adj->nban);
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
    for (int k = 0; adj->banning && k < adj->nban; k++) s->adjusted[adj->ban_id[k]] = -INFINITY;
    return s->adjusted;
}

/* Most probable first; ties by index. */
static int by_prob(const void *a, const void *b, void *prob) {
    const float *p = prob;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (p[x] != p[y]) return p[x] > p[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* s->index[0, m): the tokens of probability at least a threshold, most probable first (ties by
 * index), at least k of them (or all) and of mass at least want. Only the tokens above the threshold
 * are sorted: every token below comes after them in the order; the threshold goes down until both
 * hold. */
static int64_t ranked(SampleScratch *s, int64_t k, double want) {
    float top = 0;
    for (int64_t i = 0; i < s->vocab; i++)
        if (s->prob[i] > top) top = s->prob[i];
    for (int shift = 8;; shift += 8) {
        float t = shift >= 128 ? 0 : ldexpf(top, -shift);
        int64_t m = 0;
        double mass = 0;
        for (int64_t i = 0; i < s->vocab; i++)
            if (s->prob[i] >= t) s->index[m++] = (int32_t)i, mass += s->prob[i];
        if ((m < k || mass < want) && t > 0) continue;
        qsort_r(s->index, (size_t)m, sizeof *s->index, by_prob, s->prob);
        return m;
    }
}

/* The draw's tokens: s->index[0, n) (n returned), the k most probable (k 0: all) of those with
 * probability (s->prob, of mass total), cut to the smallest prefix whose mass reaches top_p of
 * theirs. */
static int64_t keep(SampleScratch *s, int64_t k, double top_p, double total) {
    bool cut_k = k > 0 && k < s->vocab;
    int64_t m = ranked(s, cut_k ? k : 0, cut_k ? 0 : top_p * total);
    if (cut_k && m > k) m = k;
    double kept = 0;
    for (int64_t j = 0; cut_k && j < m; j++) kept += s->prob[s->index[j]];
    double want = top_p * (cut_k ? kept : total), cum = 0;
    int64_t n = 0;
    while (n < m && (n == 0 || cum < want)) cum += s->prob[s->index[n++]];
    return n;
}

int32_t sample_token(SampleScratch *s, const float *logits, const SampleParams *p, uint64_t *state) {
    int64_t V = s->vocab;
    int32_t best = model_greedy_token(logits, V);
    if (p->temperature <= 0) return best;
    double total = 0;
    for (int64_t i = 0; i < V; i++) {   /* the most probable's is 1: min_p compares to it */
        double q = exp(((double)logits[i] - (double)logits[best]) / p->temperature);
        s->prob[i] = isfinite(q) && q >= p->min_p ? (float)q : 0.0f;
        total += s->prob[i];
        s->index[i] = (int32_t)i;
    }
    if (!(total > 0) || !isfinite(total)) return best;
    int64_t n = V;
    if (p->top_p < 1 || (p->top_k > 0 && p->top_k < V)) {
        n = keep(s, p->top_k, p->top_p, total);
        total = 0;
        for (int64_t k = 0; k < n; k++) total += s->prob[s->index[k]];
    }
    double u = (double)(splitmix64(state) >> 11) * 0x1.0p-53 * total, cum = 0;
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
    for (int64_t i = 0; i < vocab; i++) sum += exp((double)logits[i] - max);
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
}
