/* report.c — `mixc report` (the static memory report of one layout: text, json, dot, svg) and
 * `mixc compare` (headline figures of several layouts side by side).
 * Every figure comes from the planners in plan.h; docs/report.md explains them and
 * docs/report-schema.md documents the JSON. */
#include "report.h"
#include "options.h"
#include "run_plan.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- options */

typedef enum { FMT_TEXT, FMT_JSON, FMT_DOT, FMT_SVG } Format;

/* Total memory as nvidia-smi reports it (MiB): what the CUDA driver exposes, not the marketing GB. */
static const struct {
    const char *name;
    int64_t mib;
} known_gpus[] = {
    {"h100", 81559},        /* H100 SXM5 80GB */
    {"h200", 143771},       /* H200 141GB */
    {"a100-80g", 81920},    /* A100 SXM4 80GB */
};

typedef struct {
    const char *cmd;        /* "report" or "compare", for messages */
    CountList contexts;     /* none: the layout's own */
    int64_t chunk;          /* 0: the layout's own */
    int64_t batch;
    bool has_gpu;
    Gpu gpu;
    int format;             /* Format */
    const char *output;     /* NULL: stdout */
    StringList files;
    StringList sets;        /* --set key=value, as mixrun takes them */
    const char *target;     /* --target: also the run plan (act_dtype, kv_dtype: DT_COUNT unless given) */
    const char *arch;       /* --arch of the cuda run plan (its kernels' limits, its cuBLAS workspace) */
    DType act_dtype, kv_dtype;
    int64_t page_tokens, pool_pages;    /* --page-tokens, --pool-pages of the run plan (0: not given) */
    int64_t shared_prefix;              /* --shared-prefix: tokens the pools' sequences start with alike */
    int64_t tp, pp;         /* 0: not given (the report of one GPU only) */
} Options;

static bool parse_gpu(const char *s, void *slot) {
    Gpu *g = slot;
    for (size_t i = 0; i < sizeof known_gpus / sizeof known_gpus[0]; i++)
        if (!strcasecmp(s, known_gpus[i].name)) {   /* H100 as well as h100 */
            g->name = known_gpus[i].name;
            g->memory_bytes = known_gpus[i].mib << 20;
            return true;
        }
    char *end;
    errno = 0;
    double gib = strtod(s, &end);
    if (errno || end == s || *end || !(gib > 0) || gib > 1e9) return false;
    g->name = s;
    g->memory_bytes = (int64_t)llround(gib * 1073741824.0);
    return g->memory_bytes > 0;
}

#define GPU_EXPECTS "h100, h200, a100-80g or a size in GiB"
#define COMMON_OPTIONS(gpu_help)                                                                          \
    OPT(Options, contexts, OPT_COUNTS, "--context", .metavar = "L[,L...]",                                 \
        .help = "context lengths (tokens; K, M, G suffixes); default: the layout's own"),                  \
    OPT_CHUNK(Options, chunk, "prefill chunk (tokens); default: the layout's"),                               \
    OPT_BATCH(Options, batch, "sequences per decode step, and per prefill chunk (default 1)"),                \
    OPT(Options, gpu, OPT_CUSTOM, "--gpu", .metavar = "NAME|GiB", .parse = parse_gpu, .expects = GPU_EXPECTS, \
        .help = gpu_help)

static bool parse_run_dtype(const char *s, void *slot) { return dtype_from_name(s, true, slot); }

static const OptSpec report_options[] = {
    COMMON_OPTIONS("h100 (81559 MiB), h200 (143771 MiB), a100-80g (81920 MiB), or GiB"),
    OPT_SETS(Options, sets),
    OPT(Options, target, OPT_WORD, "--target", .choices = "cpu|emu|cuda",
        .help = "also what that backend allocates: its run plan at each context (docs/plan.md)"),
    OPT_ARCH(Options, arch, "with --target cuda: the GPU architecture (default " CODEGEN_DEFAULT_ARCH ")"),
    OPT(Options, act_dtype, OPT_CUSTOM, "--act-dtype", .metavar = "D", .parse = parse_run_dtype,
        .expects = "a dtype: bf16, fp16, fp8, int8, fp32", .help = "the run plan's activations"),
    OPT(Options, kv_dtype, OPT_CUSTOM, "--kv-dtype", .metavar = "D", .parse = parse_run_dtype,
        .expects = "a dtype: bf16, fp16, fp8, int8, fp32", .help = "the run plan's caches"),
    OPT_PAGE_TOKENS(Options, page_tokens, "the run plan's global caches in pages of P tokens (docs/plan.md)"),
    OPT_POOL_PAGES(Options, pool_pages, "with --page-tokens: the pool's pages (default: the batch's whole context)"),
    OPT(Options, shared_prefix, OPT_COUNT, "--shared-prefix", .metavar = "S",
        .help = "with --page-tokens: also the whole-context sequences the pool (and --gpu's) holds\n"
                "when they start with the same S tokens (their whole pages shared: docs/serving.md)"),
    OPT(Options, tp, OPT_COUNT, "--tp", .metavar = "N", .min = 1, .max = 4096,
        .help = "also what each GPU holds with N-way tensor parallelism (vLLM's split)"),
    OPT_PP(Options, pp, "also what each GPU holds with N pipeline stages (vLLM's split)"),
    OPT(Options, format, OPT_CHOICE, "--format", .choices = "text|json|dot|svg",
        .help = "text (default), json, dot (sharing graph), svg (KV chart)"),
    OPT_OUTPUT_FILE(Options, output),
};

static const OptSpec compare_options[] = {
    COMMON_OPTIONS("h100, h200, a100-80g, or a size in GiB"),
    OPT_SETS(Options, sets),
    OPT(Options, format, OPT_CHOICE, "--format", .choices = "text|json", .help = "text (default) or json"),
    OPT_OUTPUT_FILE(Options, output),
};

static const OptCommand report_command = {
    .prog = "mixc report",
    .usage = "mixc report [options] FILE.mix",
    .about = "Static memory report of a layout: its KV caches (tokens and bytes per sequence, against the\n"
             "same model with every layer global and with sliding windows not exploited), weights, the\n"
             "activation arena, and how many sequences fit on a GPU.\n",
    OPT_TABLE(report_options),
    .epilog = "Figures are explained in docs/report.md; the JSON schema is docs/report-schema.md.\n"
              "exit status: 0 ok, 1 errors in the input, 2 usage errors or an unreadable file.\n",
    .min_args = 1,
    .max_args = 1,
    .args_hint = "use 'mixc compare' for several",
};

static const OptCommand compare_command = {
    .prog = "mixc compare",
    .usage = "mixc compare [options] FILE.mix FILE.mix...",
    .about = "The headline memory figures of several layouts side by side, one row per layout: weights,\n"
             "KV bytes per sequence at each context, the saving against the standard model (every layer\n"
             "global), and with --gpu the most concurrent sequences. Defaults are each layout's own; --set\n"
             "applies to every layout.\n",
    OPT_TABLE(compare_options),
    .epilog = "exit status: 0 ok, 1 errors in the input, 2 usage errors or an unreadable file.\n",
    .min_args = 1,
    .max_args = -1,
};

/* OPT_GO to go on, else the exit status (--help: 0), with the options freed. `name` ("report" or
 * "compare") goes into messages. */
static int parse_options(const OptCommand *cmd, const char *name, int argc, char **argv, Options *o) {
    *o = (Options){.cmd = name, .batch = 1, .act_dtype = DT_COUNT, .kv_dtype = DT_COUNT};
    int rc = opt_parse(cmd, argc, argv, o, &o->files);
    o->has_gpu = o->gpu.name != NULL;
    if (rc == OPT_GO && !o->target && (o->act_dtype != DT_COUNT || o->kv_dtype != DT_COUNT || o->arch || o->page_tokens))
        rc = opt_usage_error(cmd, "--act-dtype, --kv-dtype, --arch and --page-tokens go with --target");
    else if (rc == OPT_GO && o->pool_pages && !o->page_tokens)
        rc = opt_usage_error(cmd, "--pool-pages goes with --page-tokens");
    else if (rc == OPT_GO && o->shared_prefix && !o->page_tokens)
        rc = opt_usage_error(cmd, "--shared-prefix goes with --page-tokens");
    else if (rc == OPT_GO && o->arch && strcmp(o->target, "cuda"))
        rc = opt_usage_error(cmd, "--arch goes with --target cuda");
    if (rc != OPT_GO) opt_free(cmd, o, &o->files);
    return rc;
}

/* ---------------------------------------------------------------- the figures */

#define MAX64(x, y) ((x) > (y) ? (x) : (y))

/* One step's arena figures; its tensors are freed as soon as they are counted. */
typedef struct {
    const Layout *l;
    StepKind kind;
    int64_t batch, chunk, context;
    int64_t planned, lower_bound, naive;
    int tensors;
    bool ok;
} StepArena;

static void *plan_step_arena(void *arg) {
    StepArena *s = arg;
    StepOptions o = {s->kind, s->batch, s->chunk, s->context, s->l->model.dtype, s->l->model.dtype,
                     SPLIT_BY_CONTEXT, false, false, true, 0, false};
    ActPlan a;
    s->ok = plan_step(s->l, &o, &a);
    if (s->ok) {
        s->planned = a.planned_bytes, s->lower_bound = a.lower_bound_bytes, s->naive = a.naive_bytes;
        s->tensors = a.ntensors;
        act_plan_free(&a);
    }
    return NULL;
}

/* The decode step and the prefill chunk are planned at once, on two threads (a 100,000-layer layout
 * lists over a million tensors in each); on one when a thread cannot be started. */
static bool plan_arena(const Layout *l, int64_t batch, int64_t chunk, int64_t context, ArenaFigures *a) {
    StepArena d = {.l = l, .kind = STEP_DECODE, .batch = batch, .chunk = chunk, .context = context};
    StepArena p = d;
    p.kind = STEP_PREFILL;
    pthread_t decode_thread;
    bool threaded = pthread_create(&decode_thread, NULL, plan_step_arena, &d) == 0;
    if (!threaded) plan_step_arena(&d);
    plan_step_arena(&p);
    if (threaded) pthread_join(decode_thread, NULL);
    if (!d.ok || !p.ok) return false;
    *a = (ArenaFigures){.decode = d.planned, .decode_lb = d.lower_bound, .decode_naive = d.naive,
                        .prefill = p.planned, .prefill_lb = p.lower_bound, .prefill_naive = p.naive,
                        .decode_tensors = d.tensors, .prefill_tensors = p.tensors};
    a->bytes = MAX64(a->decode, a->prefill);
    a->lower_bound = MAX64(a->decode_lb, a->prefill_lb);
    a->naive = MAX64(a->decode_naive, a->prefill_naive);
    return true;
}

/* floor((memory - weights - arena) / per_sequence), 0 when nothing fits. */
static int64_t max_sequences(const Gpu *g, int64_t weights, int64_t arena, int64_t per_sequence) {
    return gpu_max_sequences(g->memory_bytes, weights, arena, per_sequence);
}

static void report_free(Report *r) {
    for (int c = 0; c < r->ncontexts && r->ctx; c++) kv_plan_free(&r->ctx[c].kv);
    free(r->ctx);
    parallel_free(&r->par);
    layout_free(&r->l);
    memset(r, 0, sizeof *r);
}

/* An earlier context whose arenas are the same as context c's (see PLAN_DECODE_CONTEXT_CAP), or -1. */
static int same_arena_as(const Report *r, int c) {
    int64_t L = r->contexts[c], cap = PLAN_DECODE_CONTEXT_CAP;
    for (int e = 0; e < c; e++) {
        int64_t E = r->contexts[e];
        if ((L < cap ? L : cap) == (E < cap ? E : cap) && (L < r->chunk ? L : r->chunk) == (E < r->chunk ? E : r->chunk))
            return e;
    }
    return -1;
}

/* --tp, --pp: what each GPU holds. 0 ok; else the exit status (said). */
static int report_parallel(const Options *o, Report *r) {
    char err[256];
    r->parallel = true;
    int rc = parallel_plan(&r->l, o->tp ? o->tp : 1, o->pp ? o->pp : 1, r->chunk, r->contexts, r->ncontexts,
                           &r->par, err, sizeof err);
    int64_t *arena = xcalloc((size_t)r->ncontexts, sizeof(int64_t));
    for (int c = 0; c < r->ncontexts; c++) arena[c] = r->ctx[c].arena.bytes;
    if (rc == 0 && r->gpu) parallel_fit(&r->par, r->gpu->name, r->gpu->memory_bytes, arena);
    free(arena);
    if (rc) fprintf(stderr, "mixc %s: '%s': %s\n", o->cmd, r->path, err), report_free(r);
    return rc;
}

/* Loads one layout, with the --set overrides. 0 ok; else the exit status (diagnostics printed). */
static int report_load(const char *path, const Options *o, Report *r) {
    memset(r, 0, sizeof *r);
    r->path = path;
    char prog[32];
    snprintf(prog, sizeof prog, "mixc %s", o->cmd);
    LoadOptions load = {.prog = prog, .sets = o->sets.v, .nsets = o->sets.n};
    return load_layout_file(path, &load, &r->l, stderr);
}

/* Plans the loaded layout at the options' contexts. 0 ok; else the exit status (said; r freed). */
static int report_plan(const Options *o, Report *r) {
    const char *path = r->path;
    const ModelHeader *m = &r->l.model;
    r->chunk = o->chunk ? o->chunk : m->chunk;
    r->batch = o->batch;
    r->gpu = o->has_gpu ? &o->gpu : NULL;
    r->ncontexts = o->contexts.n ? o->contexts.n : 1;
    r->contexts = o->contexts.n ? (int64_t *)o->contexts.v : &r->l.model.context;
    r->ctx = xcalloc((size_t)r->ncontexts, sizeof(ContextFigures));
    Layout std;
    plan_standard_layout(&r->l, &std);
    bool ok = plan_weights(&r->l, &r->weights) && plan_weights(&std, &r->standard_weights);
    int c = 0;
    for (; c < r->ncontexts && ok; c++) {
        ContextFigures *f = &r->ctx[c];
        int64_t L = r->contexts[c];
        ok = plan_kv(&r->l, L, r->chunk, &f->kv);
        int same = same_arena_as(r, c);
        if (same >= 0) {
            f->arena = r->ctx[same].arena;
            f->standard_arena = r->ctx[same].standard_arena;
        } else {
            ok = ok && plan_arena(&r->l, r->batch, r->chunk, L, &f->arena) &&
                 plan_arena(&std, r->batch, r->chunk, L, &f->standard_arena);
        }
        f->max_sequences = f->standard_max_sequences = f->unexploited_max_sequences = -1;
        if (ok && r->gpu) {
            f->max_sequences = max_sequences(r->gpu, r->weights.total, f->arena.bytes, f->kv.kv_bytes);
            f->standard_max_sequences =
                max_sequences(r->gpu, r->standard_weights.total, f->standard_arena.bytes, f->kv.standard_bytes);
            f->unexploited_max_sequences =
                max_sequences(r->gpu, r->weights.total, f->arena.bytes, f->kv.unexploited_bytes);
        }
    }
    layout_free(&std);
    if (!ok) {
        if (c == 0)
            fprintf(stderr, "mixc %s: '%s': the weight bytes overflow 2^62\n", o->cmd, path);
        else
            fprintf(stderr, "mixc %s: '%s': the memory figures at context %lld overflow 2^62 bytes\n", o->cmd, path,
                    (long long)r->contexts[c - 1]);
        report_free(r);
        return 1;
    }
    return o->tp || o->pp ? report_parallel(o, r) : 0;
}

static int report_build(const char *path, const Options *o, Report *r) {
    int rc = report_load(path, o, r);
    return rc ? rc : report_plan(o, r);
}

/* ---------------------------------------------------------------- json */

/* One step's arena (decode or prefill): planned, lower-bound and naive bytes, and its tensors. */
static void step_arena_json(JsonWriter *w, const char *key, int64_t planned, int64_t lower_bound, int64_t naive,
                            int tensors) {
    jw_key(w, key);
    jw_object_begin(w);
    JW_INT_MEMBERS(w, {"planned_bytes", planned}, {"lower_bound_bytes", lower_bound}, {"naive_bytes", naive},
                   {"tensors", tensors});
    jw_object_end(w);
}

static void arena_json(JsonWriter *w, const ArenaFigures *a, int64_t batch, int64_t chunk) {
    jw_object_begin(w);
    JW_INT_MEMBERS(w, {"batch", batch}, {"chunk", chunk}, {"bytes", a->bytes}, {"decode_bytes", a->decode},
                   {"prefill_bytes", a->prefill}, {"lower_bound_bytes", a->lower_bound}, {"naive_bytes", a->naive});
    step_arena_json(w, "decode", a->decode, a->decode_lb, a->decode_naive, a->decode_tensors);
    step_arena_json(w, "prefill", a->prefill, a->prefill_lb, a->prefill_naive, a->prefill_tensors);
    jw_object_end(w);
}

/* The per-sequence KV figures at one context, as the report (with_scale) and compare write them. */
static void kv_figures_json(JsonWriter *w, const Report *r, int c, bool with_scale) {
    const KvPlan *kv = &r->ctx[c].kv;
    JW_INT_MEMBERS(w, {"context", r->contexts[c]}, {"chunk", r->chunk}, {"kv_bytes_per_sequence", kv->kv_bytes});
    if (with_scale) jw_member_int(w, "scale_bytes_per_sequence", kv->scale_bytes);
    jw_member_int(w, "standard_kv_bytes_per_sequence", kv->standard_bytes);
    jw_member_int(w, "unexploited_kv_bytes_per_sequence", kv->unexploited_bytes);
}

static void context_json(JsonWriter *w, const Report *r, int c) {
    const ContextFigures *f = &r->ctx[c];
    jw_object_begin(w);
    kv_figures_json(w, r, c, true);
    jw_key(w, "caches");
    jw_array_begin(w);
    const bool shapes = layout_first_own_shape(&r->l) >= 0;   /* once: it walks the layers */
    for (int k = 0; k < f->kv.ncaches; k++) {
        const CachePlan *p = &f->kv.cache[k];
        jw_object_begin(w);
        JW_INT_MEMBERS(w, {"id", k}, {"tokens", p->tokens}, {"bytes", p->bytes}, {"scale_bytes", p->scale_bytes});
        if (shapes) {   /* per-layer shapes only: the owner's */
            const ModelHeader om = layer_model(&r->l, r->l.cache[k].owner);
            JW_INT_MEMBERS(w, {"kv_heads", om.kv_heads}, {"head_dim", om.head_dim});
        }
        jw_member_bool(w, "ring", p->ring);
        jw_object_end(w);
    }
    jw_array_end(w);
    jw_key(w, "arena");
    arena_json(w, &f->arena, r->batch, r->chunk);
    jw_object_end(w);
}

/* The int64_t at byte offset `field` of each context's figures, as an array. */
static void per_context_json(JsonWriter *w, const Report *r, const char *key, size_t field) {
    jw_key(w, key);
    jw_array_begin(w);
    for (int c = 0; c < r->ncontexts; c++) {
        int64_t v = *(const int64_t *)((const char *)&r->ctx[c] + field);
        jw_int(w, v);
    }
    jw_array_end(w);
}

static void gpu_json(JsonWriter *w, const Report *r) {
    if (!r->gpu) {
        jw_null(w);
        return;
    }
    jw_object_begin(w);
    jw_member_string(w, "name", r->gpu->name);
    jw_member_int(w, "memory_bytes", r->gpu->memory_bytes);
    jw_member_int(w, "reserve_bytes", 0);
    per_context_json(w, r, "max_sequences", offsetof(ContextFigures, max_sequences));
    per_context_json(w, r, "standard_max_sequences", offsetof(ContextFigures, standard_max_sequences));
    per_context_json(w, r, "unexploited_max_sequences", offsetof(ContextFigures, unexploited_max_sequences));
    jw_key(w, "max_tokens");
    jw_array_begin(w);
    for (int c = 0; c < r->ncontexts; c++) {
        int64_t served;
        if (mul_ok(r->ctx[c].max_sequences, r->contexts[c], &served)) jw_int(w, served);
        else jw_null(w);
    }
    jw_array_end(w);
    jw_object_end(w);
}

/* Every member of the report but "run" (--target), into the open top-level object. */
static void report_json_members(JsonWriter *w, const Report *r) {
    layout_json_members(&r->l, w);
    jw_member_string(w, "schema", "mixc-report/1");
    jw_key(w, "contexts");
    jw_array_begin(w);
    int widest = 0;
    for (int c = 0; c < r->ncontexts; c++) {
        context_json(w, r, c);
        if (r->contexts[c] > r->contexts[widest]) widest = c;
    }
    jw_array_end(w);
    jw_member_int(w, "weights_bytes", r->weights.total);
    jw_key(w, "weights");
    weights_json(w, &r->weights);
    jw_member_int(w, "standard_weights_bytes", r->standard_weights.total);
    /* The arena at the longest context: split-KV partials grow with the keys a decode step sees. */
    jw_key(w, "arena");
    arena_json(w, &r->ctx[widest].arena, r->batch, r->chunk);
    jw_key(w, "gpu");
    gpu_json(w, r);
    if (r->parallel) {
        jw_key(w, "parallel");
        parallel_json(w, &r->par);
    }
}

static void json_unencodable(const char *cmd) {
    fprintf(stderr, "mixc %s: cannot write JSON: a model name or file name is not valid UTF-8\n", cmd);
}

/* ---------------------------------------------------------------- dot */

/* ---------------------------------------------------------------- commands */

static int write_output(const char *cmd, const char *path, const Buf *b) {
    if (!path) {
        if ((!b->len || fwrite(b->data, 1, b->len, stdout) == b->len) && fflush(stdout) == 0) return 0;
        fprintf(stderr, "mixc %s: cannot write the output: %s\n", cmd, strerror(errno));
        return 1;
    }
    if (!write_file_atomic(path, b->data ? b->data : "", b->len)) {
        fprintf(stderr, "mixc %s: cannot write '%s': %s\n", cmd, path, strerror(errno));
        return 1;
    }
    return 0;
}

/* --target: the run plan's figures, appended to the text or as the JSON's member "run". */
static int report_run(const Options *o, const Report *r, Buf *text, JsonWriter *json) {
    RunOptions base;
    RunTarget target = RUN_TARGET_CPU;
    run_target_from_name(o->target, &target);
    run_options_init(&r->l, target, &base);
    base.chunk = r->chunk, base.batch = r->batch;
    if (o->act_dtype != DT_COUNT) base.act_dtype = o->act_dtype;
    if (o->kv_dtype != DT_COUNT) base.kv_dtype = o->kv_dtype;
    if (o->arch) base.arch = o->arch;
    base.page_tokens = o->page_tokens, base.pool_pages = o->pool_pages;
    char err[256];
    RunPlanFit fit = {o->has_gpu ? o->gpu.memory_bytes : 0, o->shared_prefix};
    if (run_plan_report(&r->l, &base, r->contexts, r->ncontexts, &fit, text, json, err, sizeof err))
        return 0;
    fprintf(stderr, "mixc report: '%s': %s\n", r->path, err);
    return 1;
}

int cmd_report(int argc, char **argv) {
    Options o;
    int rc = parse_options(&report_command, "report", argc, argv, &o);
    if (rc != OPT_GO) return rc;
    rc = 0;
    Report r;
    if ((rc = report_build(o.files.v[0], &o, &r)) == 0) {
        Buf b = {0};
        if (o.format == FMT_TEXT) {
            report_text(&b, &r);
            if (o.target) rc = report_run(&o, &r, &b, NULL);
        } else if (o.format == FMT_JSON) {
            JsonWriter w;
            jw_init(&w, &b);
            jw_object_begin(&w);
            report_json_members(&w, &r);
            if (o.target) rc = report_run(&o, &r, NULL, &w);
            jw_object_end(&w);
            buf_puts(&b, "\n");
            if (rc == 0 && w.failed) json_unencodable("report"), rc = 1;
        } else if (o.format == FMT_DOT) {
            layout_dot(&b, &r.l);
        } else if (!svg_kv_chart(&b, &r.l, r.chunk, r.contexts, r.ncontexts)) {
            fprintf(stderr, "mixc report: '%s': the chart's figures overflow 2^62 bytes\n", r.path);
            rc = 1;
        }
        if (rc == 0) rc = write_output("report", o.output, &b);
        buf_free(&b);
        report_free(&r);
    }
    opt_free(&report_command, &o, &o.files);
    return rc;
}

/* Without --context, compare at every layout's own context (sorted, without repeats). */
static void default_contexts(Options *o, const Report *reports, int n) {
    for (int f = 0; f < n; f++) {
        int64_t L = reports[f].l.model.context;
        int at = 0;
        while (at < o->contexts.n && o->contexts.v[at] < L) at++;
        if ((at < o->contexts.n && o->contexts.v[at] == L) || o->contexts.n == OPT_MAX_COUNTS) continue;
        memmove(&o->contexts.v[at + 1], &o->contexts.v[at], (size_t)(o->contexts.n - at) * sizeof(int64_t));
        o->contexts.v[at] = L;
        o->contexts.n++;
    }
}

static void compare_text(Buf *b, const Report *reports, int n, const Options *o) {
    buf_printf(b, "%-24s %7s %7s %11s", "layout", "layers", "caches", "weights");
    for (int c = 0; c < o->contexts.n; c++) {
        char h[48];
        snprintf(h, sizeof h, "KV/seq @%lld", (long long)o->contexts.v[c]);
        buf_printf(b, "  %16s %8s", h, "saving");
        if (o->has_gpu) {
            snprintf(h, sizeof h, "seqs @%lld", (long long)o->contexts.v[c]);
            buf_printf(b, "  %14s %9s", h, "standard");
        }
    }
    buf_printf(b, "\n");
    for (int f = 0; f < n; f++) {
        const Report *r = &reports[f];
        buf_printf(b, "%-24s %7d %7d %11s", r->l.model.name, r->l.nlayers, r->l.ncaches,
                   fmt_bytes((double)r->weights.total));
        for (int c = 0; c < r->ncontexts; c++) {
            const ContextFigures *x = &r->ctx[c];
            buf_printf(b, "  %16s %7.2fx", fmt_bytes((double)x->kv.kv_bytes),
                       ratio(x->kv.standard_bytes, x->kv.kv_bytes));
            if (o->has_gpu)
                buf_printf(b, "  %14lld %9lld", (long long)x->max_sequences, (long long)x->standard_max_sequences);
        }
        buf_printf(b, "\n");
    }
    buf_printf(b, "\nsaving = KV bytes of the standard model (every layer global, own cache) / this layout's%s\n",
               o->has_gpu ? "; seqs = most concurrent sequences on the GPU (standard: the standard model's)" : "");
    if (o->has_gpu)
        buf_printf(b, "GPU %s: %s, minus weights and the arena (batch %lld, %s); no other reserve\n", o->gpu.name,
                   fmt_bytes((double)o->gpu.memory_bytes), (long long)o->batch,
                   o->chunk ? "the chunk given" : "each layout's chunk");
}

static void compare_row_json(JsonWriter *w, const Report *r) {
    jw_object_begin(w);
    jw_member_string(w, "name", r->l.model.name);
    jw_member_string(w, "file", r->path);
    JW_INT_MEMBERS(w, {"layers", r->l.nlayers}, {"caches", r->l.ncaches}, {"weights_bytes", r->weights.total});
    jw_key(w, "contexts");
    jw_array_begin(w);
    for (int c = 0; c < r->ncontexts; c++) {
        const ContextFigures *x = &r->ctx[c];
        jw_object_begin(w);
        kv_figures_json(w, r, c, false);
        if (r->gpu) {
            jw_member_int(w, "max_sequences", x->max_sequences);
            jw_member_int(w, "standard_max_sequences", x->standard_max_sequences);
        }
        jw_object_end(w);
    }
    jw_array_end(w);
    jw_object_end(w);
}

/* false when a name or a file name is not valid UTF-8. */
static bool compare_json(Buf *b, const Report *reports, int n) {
    JsonWriter w;
    jw_init(&w, b);
    jw_object_begin(&w);
    jw_member_string(&w, "schema", "mixc-compare/1");
    jw_key(&w, "layouts");
    jw_array_begin(&w);
    for (int f = 0; f < n; f++) compare_row_json(&w, &reports[f]);
    jw_array_end(&w);
    jw_object_end(&w);
    buf_puts(b, "\n");
    return !w.failed;
}

int cmd_compare(int argc, char **argv) {
    Options o;
    int rc = parse_options(&compare_command, "compare", argc, argv, &o);
    if (rc != OPT_GO) return rc;
    rc = 0;
    Report *reports = xcalloc((size_t)o.files.n + 1, sizeof(Report));
    int loaded = 0;   /* every layout loaded once (its warnings said once), then planned */
    for (; loaded < o.files.n && rc == 0; loaded++)
        if ((rc = report_load(o.files.v[loaded], &o, &reports[loaded])) != 0) break;
    if (rc == 0 && !o.contexts.n) default_contexts(&o, reports, o.files.n);   /* the layouts' own */
    for (int f = 0; f < o.files.n && rc == 0; f++) rc = report_plan(&o, &reports[f]);
    if (rc == 0) {
        Buf b = {0};
        if (o.format == FMT_JSON) {
            if (!compare_json(&b, reports, o.files.n)) json_unencodable("compare"), rc = 1;
        } else {
            compare_text(&b, reports, o.files.n, &o);
        }
        if (rc == 0) rc = write_output("compare", o.output, &b);
        buf_free(&b);
    }
    for (int f = 0; f < loaded; f++) report_free(&reports[f]);   /* a failed plan's: freed already */
    free(reports);
    opt_free(&compare_command, &o, &o.files);
    return rc;
}
