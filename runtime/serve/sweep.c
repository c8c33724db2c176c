/* sweep.c — the load sweep and its chart (sweep.h). */
#include "sweep.h"

#include "plan.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool serve_parse_rates(const char *text, void *slot) {
    RateList *r = slot;
    r->n = 0;
    for (const char *p = text;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !(v > 0) || !isfinite(v) || r->n == SERVE_MAX_RATES || (*end && *end != ','))
            return false;
        r->v[r->n++] = v;
        if (!*end) return true;
        p = end + 1;
    }
}

/* One rate's figures. */
typedef struct {
    double rate;
    ServeSummary m;
    int peak;
} SweepPoint;

/* ---- the chart: linear axes, output tokens/s on the left, p90 latencies (s) on the right */

enum { W = 800, H = 440, LEFT = 80, RIGHT = 230, TOP = 50, BOTTOM = 60, TICKS = 5 };

/* A round upper bound for an axis whose largest value is v (1, 2 or 5 times a power of ten). */
static double axis_top(double v) {
    if (!(v > 0)) return 1;
    double p = pow(10, floor(log10(v)));
    return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

static double chart_x(double v, double top) { return LEFT + v / top * (W - LEFT - RIGHT); }
static double chart_y(double v, double top) { return H - BOTTOM - v / top * (H - TOP - BOTTOM); }

static void chart_axes(Buf *b, double xtop, double ltop, double rtop) {
    for (int i = 0; i <= TICKS; i++) {
        double x = chart_x(xtop * i / TICKS, xtop), y = chart_y(ltop * i / TICKS, ltop);
        buf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e0e0e0\"/>\n", x, TOP, x, H - BOTTOM);
        buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, H - BOTTOM + 18, xtop * i / TICKS);
        buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", LEFT, y, W - RIGHT, y);
        buf_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#08519c\">%g</text>\n", LEFT - 6, y + 4,
                   ltop * i / TICKS);
        buf_printf(b, "<text x=\"%d\" y=\"%.1f\" fill=\"#cb181d\">%g</text>\n", W - RIGHT + 6, y + 4, rtop * i / TICKS);
    }
    SvgBox box = {W, H, LEFT, RIGHT, TOP, BOTTOM};
    svg_frame(b, &box, "offered load (requests/s)");
    buf_printf(b, "<text transform=\"translate(20,%d) rotate(-90)\" text-anchor=\"middle\" fill=\"#08519c\">output "
                  "tokens/s</text>\n", (TOP + H - BOTTOM) / 2);
    buf_printf(b, "<text transform=\"translate(%d,%d) rotate(90)\" text-anchor=\"middle\" fill=\"#cb181d\">p90 latency "
                  "(s)</text>\n", W - RIGHT + 50, (TOP + H - BOTTOM) / 2);
}

static const char *const chart_styles[] = {
    "stroke=\"#08519c\" stroke-width=\"3\"",
    "stroke=\"#cb181d\" stroke-width=\"2\" stroke-dasharray=\"8 4\"",
    "stroke=\"#cb181d\" stroke-width=\"2\" stroke-dasharray=\"2 3\"",
};
static const char *const chart_names[] = {"output tokens/s", "p90 end-to-end", "p90 time per token"};

/* Series k (0 throughput, 1 p90 e2e, 2 p90 tpot) of the points, on its axis. */
static double series_value(const SweepPoint *p, int k) {
    return k == 0 ? p->m.output_tokens_per_s : k == 1 ? p->m.e2e.p90 : p->m.tpot.p90;
}

static void chart(Buf *b, const Backend *be, const SweepPoint *pts, int n) {
    double xmax = 0, top[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        if (pts[i].rate > xmax) xmax = pts[i].rate;
        for (int k = 0; k < 3; k++) top[k] = fmax(top[k], series_value(&pts[i], k));
    }
    double xtop = axis_top(xmax), ltop = axis_top(top[0]), rtop = axis_top(fmax(top[1], top[2]));
    SvgBox box = {W, H, LEFT, RIGHT, TOP, BOTTOM};
    svg_begin(b, &box);
    buf_printf(b, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Serving: ", LEFT);
    xml_escaped(b, be->layout->model.name);
    buf_printf(b, " on the %s backend</text>\n", be->name);
    chart_axes(b, xtop, ltop, rtop);
    for (int k = 0; k < 3; k++) {
        buf_printf(b, "<polyline fill=\"none\" %s points=\"", chart_styles[k]);
        for (int i = 0; i < n; i++)
            buf_printf(b, "%s%.1f,%.1f", i ? " " : "", chart_x(pts[i].rate, xtop),
                       chart_y(series_value(&pts[i], k), k ? rtop : ltop));
        buf_printf(b, "\"/>\n");
        int y = TOP + 14 + k * 22, x = W - RIGHT + 70;
        buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" %s/>\n<text x=\"%d\" y=\"%d\">%s</text>\n", x, y,
                   x + 24, y, chart_styles[k], x + 30, y + 4, chart_names[k]);
    }
    buf_printf(b, "</svg>\n");
}

/* ---- the sweep */

static void print_point(const SweepPoint *p) {
    printf("offered %g requests/s: %.2f requests/s, %.1f output tokens/s, p90 ttft %.4f s, p90 tpot %.4f s, p90 e2e "
           "%.4f s, peak %d sequence%s\n", p->rate, p->m.requests_per_s, p->m.output_tokens_per_s, p->m.ttft.p90,
           p->m.tpot.p90, p->m.e2e.p90, p->peak, plural_s(p->peak));
}

/* The requests at one rate, served; the point, and its summary object into sweep (when not NULL). */
static bool sweep_point(Backend *b, const SyntheticSpec *spec, uint64_t seed, double rate, const ServeOptions *o,
                        json_t *sweep, SweepPoint *p, int *refused) {
    SyntheticSpec at = *spec;
    at.rate = rate;
    ServeRequests rq;
    if (!serve_synthetic(&at, seed, b->layout->model.vocab, &rq)) return false;
    ServeRun run;
    bool ok = serve_run(b, &rq, o, &run);
    if (ok) {
        *p = (SweepPoint){rate, serve_summarize(&rq, &run), run.peak_sequences};
        *refused += run.refused;
        if (sweep)
            json_array_append_new(sweep, json_pack("{s:f, s:o}", "offered_requests_per_s", rate, "summary",
                                                   serve_summary_json(&rq, &run)));
    }
    serve_run_free(&run, rq.n);
    serve_requests_free(&rq);
    return ok;
}

int serve_sweep(Backend *b, const SyntheticSpec *spec, uint64_t seed, const RateList *rates, const ServeOptions *o,
                bool json, const char *svg) {
    SweepPoint pts[SERVE_MAX_RATES];
    json_t *sweep = json ? json_array() : NULL;
    int refused = 0, n = 0;
    for (; n < rates->n; n++) {
        b->err[0] = '\0';
        if (!sweep_point(b, spec, seed, rates->v[n], o, sweep, &pts[n], &refused)) {
            if (b->err[0]) fprintf(stderr, "%s: %s\n", prog_name(), b->err);   /* else serve_synthetic said why */
            json_decref(sweep);
            return 1;
        }
        if (!json) print_point(&pts[n]);
        fflush(stdout);
    }
    int rc = json ? serve_print_json(json_pack("{s:o}", "sweep", sweep), "sweep") : 0;
    if (svg && rc == 0) {
        Buf out = {0};
        chart(&out, b, pts, n);
        if (!write_file_atomic(svg, out.data, out.len)) {
            fprintf(stderr, "%s: cannot write '%s': %s\n", prog_name(), svg, strerror(errno));
            rc = 1;
        }
        buf_free(&out);
    }
    return rc ? rc : refused ? 1 : 0;
}
