/* sample.c — temperature and top-p sampling on the host (sample.h). */
#include "sample.h"

#include "model.h"

#include <math.h>
#include <stdlib.h>

void sample_scratch_init(SampleScratch *s, int64_t vocab) {
    s->vocab = vocab;
    s->prob = xcalloc((size_t)vocab, sizeof *s->prob);
    s->index = xcalloc((size_t)vocab, sizeof *s->index);
}

void sample_scratch_free(SampleScratch *s) {
    free(s->prob);
    free(s->index);
}

/* Most probable first; ties by index. */
static int by_prob(const void *a, const void *b, void *prob) {
    const float *p = prob;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (p[x] != p[y]) return p[x] > p[y] ? -1 : 1;
    return x < y ? -1 : x > y;
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
        qsort_r(s->index, (size_t)V, sizeof *s->index, by_prob, s->prob);
        double cum = 0, want = top_p * total;
        for (n = 0; n < V && (n == 0 || cum < want); n++) cum += s->prob[s->index[n]];
        total = cum;
    }
    double u = (double)(splitmix64(state) >> 11) * 0x1.0p-53 * total, cum = 0;
    for (int64_t k = 0; k < n; k++) {
        cum += s->prob[s->index[k]];
        if (u < cum) return s->index[k];
    }
    return s->index[n - 1];
}
