/* svg.c — the report's drawings: the sharing graph as DOT (layout_dot), and the KV chart: bytes per sequence against context length, log-log, for the layout, the
 * standard model (every layer global) and the layout with its windows not exploited. Written by
 * hand (no library): a fixed-size SVG a browser or README renders directly. */
#include "plan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { W = 760, H = 460, LEFT = 90, RIGHT = 200, TOP = 50, BOTTOM = 60 };
#define SAMPLES_PER_OCTAVE 16

typedef struct {
    double x0, x1;          /* log2 of the context range */
    double y0, y1;          /* log2 of the byte range */
} Axes;

static double px(const Axes *a, double context) {
    return LEFT + (log2(context) - a->x0) / (a->x1 - a->x0) * (W - LEFT - RIGHT);
}
static double py(const Axes *a, double bytes) {
    return H - BOTTOM - (log2(bytes) - a->y0) / (a->y1 - a->y0) * (H - TOP - BOTTOM);
}

int utf8_char_len(const char *str) {   /* a NUL-terminated string: its next 4 bytes at most */
    uint32_t cp;
    return utf8_sequence((const unsigned char *)str, strnlen(str, 4), &cp);
}

void xml_escaped(Buf *b, const char *s) {
    while (*s) {
        int n = utf8_char_len(s);
        if (*s == '<') buf_puts(b, "&lt;");
        else if (*s == '>') buf_puts(b, "&gt;");
        else if (*s == '&') buf_puts(b, "&amp;");
        else if (*s == '"') buf_puts(b, "&quot;");
        else if (n == 0 || (unsigned char)*s < 0x20) buf_puts(b, "&#xFFFD;");
        else buf_printf(b, "%.*s", n, s);
        s += n ? n : 1;
    }
}

/* "32K", "1M", "1536" */
static const char *short_count(int64_t n, char *buf, size_t len) {
    if (n >= (1 << 20) && n % (1 << 20) == 0) snprintf(buf, len, "%lldM", (long long)(n >> 20));
    else if (n >= 1024 && n % 1024 == 0) snprintf(buf, len, "%lldK", (long long)(n >> 10));
    else snprintf(buf, len, "%lld", (long long)n);
    return buf;
}

/* "256 MiB" for a power of two */
static const char *short_bytes(double bytes, char *buf, size_t len) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024 && u < 6) bytes /= 1024, u++;
    snprintf(buf, len, "%g %s", bytes, units[u]);
    return buf;
}

typedef struct {
    int n;
    int64_t *context;
    double *layout, *standard, *unexploited;
} Series;

static void series_free(Series *s) {
    free(s->context);
    free(s->layout);
    free(s->standard);
    free(s->unexploited);
}

/* Samples the three curves from 2^lo to 2^hi tokens. */
static bool sample(const Layout *l, int64_t chunk, int lo, int hi, Series *s) {
    s->n = (hi - lo) * SAMPLES_PER_OCTAVE + 1;
    s->context = xcalloc((size_t)s->n, sizeof(int64_t));
    s->layout = xcalloc((size_t)s->n, sizeof(double));
    s->standard = xcalloc((size_t)s->n, sizeof(double));
    s->unexploited = xcalloc((size_t)s->n, sizeof(double));
    for (int i = 0; i < s->n; i++) {
        s->context[i] = (int64_t)llround(exp2(lo + (double)i / SAMPLES_PER_OCTAVE));
        KvPlan kv;
        if (!plan_kv(l, s->context[i], chunk, &kv)) return false;
        s->layout[i] = (double)kv.kv_bytes;
        s->standard[i] = (double)kv.standard_bytes;
        s->unexploited[i] = (double)kv.unexploited_bytes;
        kv_plan_free(&kv);
    }
    return true;
}

static void polyline(Buf *b, const Axes *a, const Series *s, const double *v, const char *style) {
    buf_printf(b, "<polyline fill=\"none\" %s points=\"", style);
    for (int i = 0; i < s->n; i++)
        buf_printf(b, "%s%.1f,%.1f", i ? " " : "", px(a, (double)s->context[i]), py(a, v[i]));
    buf_printf(b, "\"/>\n");
}

static void grid(Buf *b, const Axes *a) {
    char t[32];
    int xstep = (int)ceil((a->x1 - a->x0) / 10);    /* at most ~10 ticks per axis */
    for (int e = (int)a->x0; e <= (int)a->x1; e += xstep) {
        double x = px(a, exp2(e));
        buf_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e0e0e0\"/>\n", x, TOP, x, H - BOTTOM);
        buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, H - BOTTOM + 18,
                   short_count((int64_t)1 << e, t, sizeof t));
    }
    int ystep = (int)ceil((a->y1 - a->y0) / 10);
    for (int e = (int)a->y0; e <= (int)a->y1; e += ystep) {
        double y = py(a, exp2(e));
        buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n", LEFT, y, W - RIGHT, y);
        buf_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 6, y + 4,
                   short_bytes(exp2(e), t, sizeof t));
    }
    SvgBox box = {W, H, LEFT, RIGHT, TOP, BOTTOM};
    svg_frame(b, &box, "context length (tokens, log scale)");
    buf_printf(b, "<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">KV cache per sequence "
                  "(bytes, log scale)</text>\n", (TOP + H - BOTTOM) / 2);
}

static const char *const style_layout = "stroke=\"#08519c\" stroke-width=\"3\"";
static const char *const style_standard = "stroke=\"#cb181d\" stroke-width=\"2\" stroke-dasharray=\"8 4\"";
static const char *const style_unexploited = "stroke=\"#ec7014\" stroke-width=\"2\" stroke-dasharray=\"2 3\"";

static void legend(Buf *b) {
    const char *names[] = {"this layout", "standard (all global)", "windows not exploited"};
    const char *styles[] = {style_layout, style_standard, style_unexploited};
    for (int i = 0; i < 3; i++) {
        int y = TOP + 14 + i * 22, x = W - RIGHT + 14;
        buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" %s/>\n", x, y, x + 28, y, styles[i]);
        buf_printf(b, "<text x=\"%d\" y=\"%d\">%s</text>\n", x + 34, y + 4, names[i]);
    }
}

/* A dot and the layout's figure at each requested context. */
static void marks_at(Buf *b, const Axes *a, const Layout *l, int64_t chunk, const int64_t *marks, int nmarks) {
    for (int k = 0; k < nmarks; k++) {
        KvPlan kv;
        if (!plan_kv(l, marks[k], chunk, &kv)) continue;
        double x = px(a, (double)marks[k]), y = py(a, (double)kv.kv_bytes);
        char t[32];
        buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#08519c\"/>\n", x, y);
        /* Below and right of the dot: the curves rise to the right, so that corner is free. */
        buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\" fill=\"#08519c\">%s: %s (%.1fx less)</text>\n",
                   x + 8, y + 16, short_count(marks[k], t, sizeof t), fmt_bytes((double)kv.kv_bytes),
                   kv.kv_bytes ? (double)kv.standard_bytes / (double)kv.kv_bytes : 0.0);
        kv_plan_free(&kv);
    }
}

/* The context range: from 1K (or a power of two below the smallest mark) to a power of two past
 * both the largest mark and four times the longest ring, so the kinks show. */
static void context_range(const Layout *l, int64_t chunk, const int64_t *marks, int nmarks, int *lo, int *hi) {
    int64_t smallest = 1024, largest = 4096;
    for (int k = 0; k < nmarks; k++) {
        if (marks[k] < smallest) smallest = marks[k];
        if (marks[k] > largest) largest = marks[k];
    }
    for (int c = 0; c < l->ncaches; c++) {
        int64_t ring = l->cache[c].retention + chunk;
        if (l->cache[c].retention && ring < (INT64_C(1) << 58) && 4 * ring > largest) largest = 4 * ring;
    }
    *lo = (int)floor(log2((double)smallest));
    *hi = (int)ceil(log2((double)largest));
    if (*hi > 61) *hi = 61;
    if (*hi <= *lo) *hi = *lo + 1;
}

void svg_begin(Buf *b, const SvgBox *box) {
    buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                  "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n", box->w, box->h, box->w, box->h);
    buf_printf(b, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", box->w, box->h);
}

void svg_frame(Buf *b, const SvgBox *box, const char *xtitle) {
    buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", box->left,
               box->top, box->w - box->left - box->right, box->h - box->top - box->bottom);
    buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", (box->left + box->w - box->right) / 2,
               box->h - 18, xtitle);
}

bool svg_kv_chart(Buf *b, const Layout *l, int64_t chunk, const int64_t *marks, int nmarks) {
    int lo, hi;
    context_range(l, chunk, marks, nmarks, &lo, &hi);
    Series s = {0};
    if (!sample(l, chunk, lo, hi, &s)) {
        series_free(&s);
        return false;
    }
    double ymin = s.layout[0], ymax = s.standard[s.n - 1];
    for (int i = 0; i < s.n; i++) {
        if (s.layout[i] < ymin) ymin = s.layout[i];
        if (s.standard[i] > ymax) ymax = s.standard[i];
    }
    Axes a = {lo, hi, floor(log2(ymin > 1 ? ymin : 1)), ceil(log2(ymax > 2 ? ymax : 2))};
    if (a.y1 <= a.y0) a.y1 = a.y0 + 1;
    SvgBox box = {W, H, LEFT, RIGHT, TOP, BOTTOM};
    svg_begin(b, &box);
    buf_printf(b, "<text x=\"%d\" y=\"26\" font-size=\"16\" font-weight=\"bold\">KV cache per sequence: ", LEFT);
    xml_escaped(b, l->model.name);
    buf_printf(b, "</text>\n<text x=\"%d\" y=\"42\" fill=\"#555\">%d layers, %d caches, kv_dtype %s, prefill chunk "
                  "%lld</text>\n", LEFT, l->nlayers, l->ncaches, dtype_name(l->model.kv_dtype), (long long)chunk);
    grid(b, &a);
    polyline(b, &a, &s, s.standard, style_standard);
    polyline(b, &a, &s, s.unexploited, style_unexploited);
    polyline(b, &a, &s, s.layout, style_layout);
    legend(b);
    marks_at(b, &a, l, chunk, marks, nmarks);
    buf_printf(b, "</svg>\n");
    series_free(&s);
    return true;
}

/* ---------------------------------------------------------------- the sharing graph (DOT) */

/* A DOT double-quoted string body: quotes and backslashes escaped. */
static void dot_escaped(Buf *b, const char *s) {
    while (*s) {
        int n = utf8_char_len(s);
        if (*s == '"' || *s == '\\') buf_printf(b, "\\%c", *s);
        else if (n == 0 || (unsigned char)*s < 0x20) buf_puts(b, "?");  /* Graphviz reads UTF-8 */
        else buf_printf(b, "%.*s", n, s);
        s += n ? n : 1;
    }
}

void layout_dot(Buf *b, const Layout *l) {
    buf_printf(b, "// The KV sharing graph of \"");
    dot_escaped(b, l->model.name);
    buf_printf(b, "\" (mixc report --format dot). Render: dot -Tsvg\ndigraph layout {\n  label=\"");
    dot_escaped(b, l->model.name);
    buf_printf(b, ": %d layers, %d caches\";\n  labelloc=t;\n  rankdir=TB;\n  newrank=true;\n"
                  "  node [fontname=\"Helvetica\", fontsize=10, style=filled];\n"
                  "  edge [fontname=\"Helvetica\", fontsize=9];\n", l->nlayers, l->ncaches);
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        char ret[48];
        retention_text(ci, "retention ", ret, sizeof ret);
        buf_printf(b, "  subgraph cluster_cache%d {\n    label=\"cache %d (%s)\";\n    style=rounded;\n"
                      "    color=\"%s\";\n", k, k, ret, ci->retention ? "#e6550d" : "#3182bd");
        buf_printf(b, "    L%d;", ci->owner);
        for (int j = 0; j < ci->nreaders; j++) buf_printf(b, " L%d;", ci->readers[j]);
        buf_printf(b, "\n  }\n");
    }
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        bool owner = li->reads == i;
        char a[ATTN_TEXT_MAX];
        bool bounded = layer_history(li) != 0;   /* sliding and chunked layers: ellipses in orange */
        const char *fill = bounded ? (owner ? "#fdae6b" : "#fee6ce") : (owner ? "#6baed6" : "#deebf7");
        buf_printf(b, "  L%d [label=\"%d\\n%s\", shape=%s, fillcolor=\"%s\"%s];\n", i, i,
                   attn_text(li->window, li->chunked, a), bounded ? "ellipse" : "box", fill, owner ? ", penwidth=2" : "");
    }
    /* Layer order (the data path), then reuse edges from each reader to the owner of its cache. */
    for (int i = 0; i + 1 < l->nlayers; i++) buf_printf(b, "  L%d -> L%d [color=\"#bdbdbd\"];\n", i, i + 1);
    for (int i = 0; i < l->nlayers; i++)
        if (l->layer[i].reads != i)
            buf_printf(b, "  L%d -> L%d [label=\"reads\", style=dashed, color=\"#636363\", constraint=false];\n", i,
                       l->layer[i].reads);
    buf_printf(b, "}\n");
}
