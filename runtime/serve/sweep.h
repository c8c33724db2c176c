/* sweep.h — `mixrun --synthetic N,PROMPT,NEW --rates R1,R2,...`: the same requests served at each
 * offered load, where a layout saturates (docs/serving.md, "A load sweep"). */
#ifndef MIXC_SERVE_SWEEP_H
#define MIXC_SERVE_SWEEP_H

#include "scheduler.h"

#define SERVE_MAX_RATES 32

typedef struct {
    int n;
    double v[SERVE_MAX_RATES];  /* requests per second, > 0 */
} RateList;

/* Parses "R1,R2,..." (1 to SERVE_MAX_RATES rates > 0); an OPT_CUSTOM parser into a RateList. */
bool serve_parse_rates(const char *text, void *slot);

/* Serves spec's requests (seed) on b at each rate in turn: a line per rate (or --json's
 * {"sweep": [{"offered_requests_per_s", "summary"}]}) and, when svg is not NULL, the chart of output
 * tokens/s and p90 latencies against the offered load written there. Returns the exit status. */
int serve_sweep(Backend *b, const SyntheticSpec *spec, uint64_t seed, const RateList *rates, const ServeOptions *o,
                bool json, const char *svg);

#endif
