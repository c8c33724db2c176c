/* serve_report.c — a serving run's figures as serving engines report them (docs/serving.md,
 * "Metrics"): per request its tokens, TTFT, TPOT and end-to-end latency; over the run the
 * throughput, those latencies' mean, p50, p90 and p99, the peak of sequences in flight and of KV
 * bytes they held. Text by default, one JSON object with --json. */
#include "scheduler.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted values, interpolated linearly between the closest ranks (numpy's
 * default). */
static double quantile(const double *v, int n, double q) {
    double at = q * (n - 1);
    int lo = (int)at;
    return lo + 1 < n ? v[lo] + (v[lo + 1] - v[lo]) * (at - lo) : v[n - 1];
}

/* Stats of the `which` figure (0 ttft, 1 tpot, 2 e2e) over the requests that ran (tpot: those with
 * two tokens or more); zeros when there are none. */
static ServeStats stats_of(const ServeRequests *rq, const ServeRun *run, int which) {
    double *v = xcalloc((size_t)rq->n + 1, sizeof *v);
    int n = 0;
    double sum = 0;
    for (int i = 0; i < rq->n; i++) {
        const ServeResult *r = &run->result[i];
        if (r->refused[0] || (which == 1 && r->noutput < 2)) continue;
        v[n] = which == 0 ? r->ttft_s : which == 1 ? r->tpot_s : r->e2e_s;
        sum += v[n++];
    }
    ServeStats s = {0, 0, 0, 0};
    if (n) {
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        s = (ServeStats){sum / n, quantile(v, n, 0.5), quantile(v, n, 0.9), quantile(v, n, 0.99)};
    }
    free(v);
    return s;
}

ServeSummary serve_summarize(const ServeRequests *rq, const ServeRun *run) {
    ServeSummary m = {.ttft = stats_of(rq, run, 0), .tpot = stats_of(rq, run, 1), .e2e = stats_of(rq, run, 2)};
    double per_s = 1.0 / (run->elapsed_s > 0 ? run->elapsed_s : 1e-9);
    int64_t input = 0, output = 0;
    for (int i = 0; i < rq->n; i++) {
        if (run->result[i].refused[0]) continue;
        m.ran++;
        input += rq->v[i].prompt_len;
        output += run->result[i].noutput;
    }
    m.requests_per_s = m.ran * per_s;
    m.input_tokens_per_s = (double)input * per_s;
    m.output_tokens_per_s = (double)output * per_s;
    return m;
}

static json_t *stats_json(ServeStats s) {
    return json_pack("{s:f, s:f, s:f, s:f}", "mean", s.mean, "p50", s.p50, "p90", s.p90, "p99", s.p99);
}

static json_t *request_json(const ServeRequest *rq, const ServeResult *r) {
    json_t *tokens = json_array();
    for (int64_t k = 0; k < r->noutput; k++) json_array_append_new(tokens, json_integer(r->output[k]));
    if (r->refused[0])
        return json_pack("{s:s, s:o, s:n, s:n, s:n, s:s}", "id", rq->id, "output_tokens", tokens, "ttft_s", "tpot_s",
                         "e2e_s", "refused", r->refused);
    return json_pack("{s:s, s:o, s:I, s:f, s:f, s:f}", "id", rq->id, "output_tokens", tokens, "cached_tokens",
                     (json_int_t)r->cached_tokens, "ttft_s", r->ttft_s, "tpot_s", r->tpot_s, "e2e_s", r->e2e_s);
}

json_t *serve_summary_json(const ServeRequests *rq, const ServeRun *run) {
    ServeSummary m = serve_summarize(rq, run);
    json_t *j = json_pack("{s:f, s:f, s:f, s:o, s:o, s:o, s:i, s:I, s:I, s:I}", "requests_per_s", m.requests_per_s,
                     "input_tokens_per_s", m.input_tokens_per_s, "output_tokens_per_s", m.output_tokens_per_s,
                     "ttft_s", stats_json(m.ttft), "tpot_s", stats_json(m.tpot), "e2e_s", stats_json(m.e2e),
                     "peak_sequences", run->peak_sequences, "kv_budget_bytes", (json_int_t)run->kv_budget_bytes,
                     "kv_peak_bytes", (json_int_t)run->kv_peak_bytes, "cached_tokens", (json_int_t)run->cached_tokens);
    if (j && run->pool_pages) {   /* a paged run */
        json_object_set_new(j, "pool_pages", json_integer(run->pool_pages));
        json_object_set_new(j, "pages_peak", json_integer(run->pages_peak));
        json_object_set_new(j, "pages_shared", json_integer(run->pages_shared));
    }
    return j;
}

int serve_print_json(json_t *j, const char *what) {
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!text) {
        fprintf(stderr, "%s: cannot write the %s as JSON\n", prog_name(), what);
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static int print_json(const ServeRequests *rq, const ServeRun *run) {
    json_t *reqs = json_array();
    for (int i = 0; i < rq->n; i++) json_array_append_new(reqs, request_json(&rq->v[i], &run->result[i]));
    return serve_print_json(json_pack("{s:o, s:o}", "requests", reqs, "summary", serve_summary_json(rq, run)), "serving figures");
}

static void print_stats(const char *name, ServeStats s) {
    printf("%s: mean %.4f s, p50 %.4f s, p90 %.4f s, p99 %.4f s\n", name, s.mean, s.p50, s.p90, s.p99);
}

static void print_text(const ServeRequests *rq, const ServeRun *run) {
    for (int i = 0; i < rq->n; i++) {
        const ServeResult *r = &run->result[i];
        printf("%s:", rq->v[i].id);
        if (r->refused[0]) {
            printf(" refused: %s\n", r->refused);
            continue;
        }
        for (int64_t k = 0; k < r->noutput; k++) printf("%s%d", k ? "," : " ", r->output[k]);
        printf(" (ttft %.4f s, tpot %.4f s, e2e %.4f s)\n", r->ttft_s, r->tpot_s, r->e2e_s);
    }
    ServeSummary m = serve_summarize(rq, run);
    printf("serve: %d request%s in %.3f s (%d refused): %.2f requests/s, %.1f input tokens/s, %.1f output tokens/s\n",
           m.ran, plural_s(m.ran), run->elapsed_s, run->refused, m.requests_per_s, m.input_tokens_per_s, m.output_tokens_per_s);
    print_stats("ttft", m.ttft);
    print_stats("tpot", m.tpot);
    print_stats("e2e", m.e2e);
    printf("in flight: peak %d sequence%s, KV peak %s of a %s budget (%lld of %lld bytes)\n", run->peak_sequences,
           plural_s(run->peak_sequences), fmt_bytes((double)run->kv_peak_bytes), fmt_bytes((double)run->kv_budget_bytes),
           (long long)run->kv_peak_bytes, (long long)run->kv_budget_bytes);
    if (run->pool_pages)
        printf("pages: peak %lld of a pool of %lld; %lld taken shared (prefix caching)\n", (long long)run->pages_peak,
               (long long)run->pool_pages, (long long)run->pages_shared);
    if (run->cached_tokens)
        printf("prefix caching: %lld prompt tokens not prefilled (their slots held their caches)\n",
               (long long)run->cached_tokens);
}

int serve_print(const ServeRequests *rq, const ServeRun *run, bool json) {
    int rc = 0;
    if (json) rc = print_json(rq, run);
    else print_text(rq, run);
    return rc ? rc : run->refused ? 1 : 0;
}
