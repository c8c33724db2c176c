/* sample.c — temperature and top-p sampling on the host (sample.h). */
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
    return adj->nbias || adj->frequency != 0 || adj->presence != 0 || repeats(adj);
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
    return s->adjusted;
}

/* Most probable first; ties by index. */
static int by_prob(const void *a, const void *b, void *prob) {
    const float *p = prob;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (p[x] != p[y]) return p[x] > p[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The nucleus: s->index[0, n) the most probable tokens, in order, until their mass reaches want.
 * Only the tokens above a threshold are sorted: when their mass reaches want, the nucleus is a
 * prefix of them (every token below comes after them in the order); else the threshold goes down. */
static int64_t nucleus(SampleScratch *s, double want) {
    float top = 0;
    for (int64_t i = 0; i < s->vocab; i++)
        if (s->prob[i] > top) top = s->prob[i];
    for (int shift = 8;; shift += 8) {
        float t = shift >= 128 ? 0 : ldexpf(top, -shift);
        int64_t m = 0;
        double mass = 0;
        for (int64_t i = 0; i < s->vocab; i++)
            if (s->prob[i] >= t) s->index[m++] = (int32_t)i, mass += s->prob[i];
        if (mass < want && t > 0) continue;
        qsort_r(s->index, (size_t)m, sizeof *s->index, by_prob, s->prob);
        double cum = 0;
        int64_t n = 0;
        while (n < m && (n == 0 || cum < want)) cum += s->prob[s->index[n++]];
        return n;
    }
}

int32_t sample_token(SampleScratch *s, const float *logits, double temperature, double top_p, uint64_t *state) {
    int64_t V = s->vocab;
    int32_t best = model_greedy_token(logits, V);
    if (temperature <= 0) return best;
    double total = 0;
    for (int64_t i = 0; i < V; i++) {
        double p = exp(((double)logits[i] - (double)logits[best]) / temperature);
        s->prob[i] = isfinite(p) ? (float)p : 0.0f;
        total += s->prob[i];
        s->index[i] = (int32_t)i;
    }
    if (!(total > 0) || !isfinite(total)) return best;
    int64_t n = V;
    if (top_p < 1) {
        n = nucleus(s, top_p * total);
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
