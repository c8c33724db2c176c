/* requests.h — the requests a serving run takes (docs/serving.md): from a JSONL file (`mixrun
 * --requests`) or generated (`--synthetic N,PROMPT,NEW[,RATE]`).
 *
 * A line of the file is one object: {"id": "r1", "prompt_tokens": [3, 1, 4], "max_new_tokens": 8,
 * "arrival_s": 0.0, "priority": 0}; arrival_s and priority are optional (0), any other field is
 * refused. Blank lines are skipped.
 */
#ifndef MIXC_SERVE_REQUESTS_H
#define MIXC_SERVE_REQUESTS_H

#include "mixc.h"

typedef struct {
    char *id;
    int32_t *prompt;
    int64_t prompt_len;
    int64_t max_new;        /* >= 1 */
    double arrival_s;       /* seconds after the run starts */
    int64_t priority;       /* vLLM's: with ServeOptions.priority, the least is admitted first among those
                             * that arrived (ties by arrival); 0 when not given */
} ServeRequest;

typedef struct {
    int n;
    ServeRequest *v;        /* in arrival order (ties: file order), the order they are admitted in */
} ServeRequests;

/* --synthetic: count requests of `prompt` random tokens and `new_tokens` new ones each, arriving
 * at `rate` per second (a Poisson process; 0: all at once). */
typedef struct {
    int64_t count, prompt, new_tokens;
    double rate;
} SyntheticSpec;

#define SERVE_MAX_REQUESTS (1 << 20)   /* of a --requests file, and --synthetic's N */
#define SERVE_MAX_ARRIVAL_S 86400.0      /* the latest arrival a run waits for: a day */

/* Reads a JSONL file of requests, every token checked against vocab. false with a message naming
 * the file, the line and the field on stderr ("mixrun: F:3: field 'max_new_tokens' must be ..."). */
bool serve_read_requests(const char *path, int64_t vocab, ServeRequests *out);
/* Parses "N,PROMPT,NEW[,RATE]" (N <= SERVE_MAX_REQUESTS, PROMPT and NEW <= 2^24 counts >= 1, N x PROMPT <= 2^28;
 * RATE >= 0 requests per second) into a SyntheticSpec; an OPT_CUSTOM parser. */
bool serve_parse_synthetic(const char *text, void *spec);
/* The requests of spec: ids s1..sN, tokens and arrival gaps drawn from splitmix64(seed). false, with
 * a message, when the rate puts an arrival past SERVE_MAX_ARRIVAL_S. */
bool serve_synthetic(const SyntheticSpec *spec, uint64_t seed, int64_t vocab, ServeRequests *out);
void serve_requests_free(ServeRequests *r);

#endif
