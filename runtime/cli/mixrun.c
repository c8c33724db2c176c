/* mixrun.c — runs a layout's model: greedy decoding of a prompt, or a throughput benchmark.
 *
 *   mixrun --layout FILE.mix [--set key=value ...] (--weights F | --random-weights SEED)
 *          (--tokens 1,2,3 | --tokens-file F) [--max-new N] [--backend cuda|cpu|emu]
 *          [--dump-logits OUT.npy] [--save-weights F] [--bench [--batch B] [--prompt-len L]]
 *
 * Exit status: 0 ok, 1 errors in the input (layout, weights, tokens), 2 usage errors or a backend
 * that is not available here. See docs/model.md. */
#include "backend.h"
#include "bench.h"
#include "http.h"
#include "mixc_params.h"   /* mixc_argmax: the greedy pick */
#include "options.h"
#include "plan.h"
#include "progress.h"
#include "prompts.h"
#include "sweep.h"
#include "eos.h"
#include "tok_prompt.h"

#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* A binary written by `mixc build` (compiler/cli/build.c) links one more object defining these: the
 * layout it is specialized to, its overrides (one per line), the kernels as cubin for the cuda
 * backend and as a shared object for the emu backend. In plain mixrun they are all NULL. */
#define EMBEDDED(sym) extern const char sym[] __attribute__((weak)), sym##_end[] __attribute__((weak))
EMBEDDED(mixc_embedded_name);
EMBEDDED(mixc_embedded_mix);
EMBEDDED(mixc_embedded_sets);
EMBEDDED(mixc_embedded_arch);
EMBEDDED(mixc_embedded_cubin);
EMBEDDED(mixc_embedded_emu_so);

static bool mixrun_embedded(void) {
    return mixc_embedded_mix != NULL;
}

typedef struct {
    const char *layout, *weights, *save_weights, *tokens, *tokens_file, *prompts_file, *dump_logits, *requests;
    const char *text, *text_file, *tokenizer;
    Tokenizer *tok;         /* loaded for --text / --text-file */
    EosIds eos;             /* with tok: the model's end-of-sequence ids (eos.h), where --text stops */
    bool print_ids;
    StringList sets;
    Arena arena;            /* strings of the embedded overrides */
    bool random_weights, bench, json, full_caches, max_new_given, info, ignore_unused, check_weights;
    int64_t seed;           /* -1 until --random-weights gives one */
    int64_t max_new;        /* -1 until --max-new gives one */
    int64_t batch, prompt_len;
    const char *backend;    /* a row of the backend table; NULL: backend_open's default */
    SyntheticSpec synthetic;    /* --synthetic; count 0 when not given */
    RateList rates;             /* --rates; n 0 when not given */
    const char *svg;
    int64_t seed_requests, max_seqs, kv_budget, step_tokens;   /* -1 / 0 when not given */
    int64_t page_tokens, pool_pages;    /* paged global caches (docs/plan.md); 0: unpaged / the default pool */
    bool trace;
    int dtype;              /* --dtype: an index of DTYPE_CHOICES, -1 when not given */
    bool serve;             /* `mixrun serve`: the HTTP server (runtime/http) */
    HttpOptions http;       /* its options; port -1 until given */
} Options;

/* --max-new's default (fewer where the context is shorter); --bench's prompt length without
 * --prompt-len or --tokens (at most the context). */
#define MIXRUN_DEFAULT_MAX_NEW 16
#define BENCH_DEFAULT_PROMPT_LEN 128

/* --dtype's values, in its choice order: fp32 keeps the weights exact (the cpu backend only). */
static const DType DTYPE_CHOICES[] = {DT_BF16, DT_FP16, DT_FP32};

/* A row of the backend table (runtime/cpu/backends.c). */
static bool parse_backend(const char *v, void *slot) {
    const BackendEntry *e = backend_find(v);
    if (e) *(const char **)slot = e->name;
    return e != NULL;
}

static const OptSpec mixrun_options[] = {
    OPT(Options, layout, OPT_STRING, "--layout", .metavar = "FILE", .section = "model", .help = "the layout (.mix)"),
    OPT_SETS(Options, sets),
    OPT(Options, weights, OPT_STRING, "--weights", .metavar = "F",
        .help = "weights in safetensors format, HF Llama tensor names: a file, a\nmodel.safetensors.index.json with its shards, or a directory holding either;\n"
                "emu and cuda read them a layer at a time (docs/model.md)"),
    OPT(Options, check_weights, OPT_FLAG, "--check-weights",
        .help = "read every value of --weights a layer at a time and exit: 0 when they are the\n"
                "layout's, every one finite (a line saying so; --json: an object), else 1"),
    OPT(Options, ignore_unused, OPT_FLAG, "--ignore-unused-tensors",
        .help = "run weights that hold tensors the model does not use (biases, q/k norms,\n"
                "experts: another computation) with a warning instead of refusing them"),
    OPT(Options, seed, OPT_COUNT, "--random-weights", .metavar = "S", .min = 0, .max = OPT_NO_MAX,
        .help = "deterministic random weights from seed S"),
    OPT(Options, save_weights, OPT_STRING, "--save-weights", .metavar = "F",
        .help = "write the weights as safetensors (alone: write and exit)"),
    OPT(Options, dtype, OPT_CHOICE, "--dtype", .choices = "bf16|fp16|fp32",
        .help = "the model's dtype, instead of the layout's: weights are rounded to it;\n"
                "fp32 keeps an fp32 checkpoint exact (cpu backend only)"),
    OPT(Options, backend, OPT_CUSTOM, "--backend", .metavar = "B", .parse = parse_backend, .expects = "cuda, cpu or emu",
        .help = "cuda (default when a GPU and the cuda backend are present), cpu, emu"),
    OPT(Options, full_caches, OPT_FLAG, "--full-caches",
        .help = "size every cache for the whole sequence, never a ring (testing aid)"),
    OPT_PAGE_TOKENS(Options, page_tokens, "paged global caches: pages of P tokens from one pool (docs/plan.md)"),
    OPT_POOL_PAGES(Options, pool_pages, "with --page-tokens: the pool's pages (default: every slot's whole context)"),
    OPT(Options, tokens, OPT_STRING, "--tokens", .metavar = "LIST", .section = "prompt",
        .help = "prompt token ids, separated by commas and/or white space"),
    OPT(Options, tokens_file, OPT_STRING, "--tokens-file", .metavar = "F",
        .help = "the ids of --tokens, read from a file"),
    OPT(Options, prompts_file, OPT_STRING, "--prompts", .metavar = "F",
        .help = "one prompt per line: all run as one batch (each prefilled, then decoded\n"
                "together); prints one line of generated ids per prompt"),
    OPT(Options, text, OPT_STRING, "--text", .metavar = "TEXT", .help = "a text prompt: prints the generated text"),
    OPT(Options, text_file, OPT_STRING, "--text-file", .metavar = "F", .help = "a text prompt: the whole file"),
    OPT(Options, tokenizer, OPT_STRING, "--tokenizer", .metavar = "F|DIR",
        .help = "tokenizer.json of --text and serve (default: beside --weights);\nserve's chat template is tokenizer_config.json's beside it\n(docs/tokenizer.md)"),
    OPT(Options, print_ids, OPT_FLAG, "--print-ids", .help = "with --text: the generated ids too, before the text"),
    OPT(Options, max_new, OPT_COUNT, "--max-new", .metavar = "N", .min = 0, .max = OPT_NO_MAX,
        .help = "tokens to generate (default " MIXC_STR(MIXRUN_DEFAULT_MAX_NEW) ", less if the context is shorter)"),
    OPT(Options, dump_logits, OPT_STRING, "--dump-logits", .metavar = "F",
        .help = "write the logits of every prompt and generated position as float32\n"
                ".npy [positions, vocab]; with --prompts, every sequence's rows in turn"),
    OPT(Options, bench, OPT_FLAG, "--bench", .section = "benchmark",
        .help = "B sequences of L prompt tokens, G new tokens each: prints prefill and\n"
                "decode tokens/s and memory (--batch B, default 1; --prompt-len L,\n"
                "default " MIXC_STR(BENCH_DEFAULT_PROMPT_LEN) " or the --tokens count; --max-new G)"),
    OPT(Options, json, OPT_FLAG, "--json", .help = "with --bench: one JSON object (timings; memory planned and allocated);\n"
                                                 "serving: the requests and the metrics (docs/serving.md)"),
    OPT_BATCH(Options, batch, "sequences of --bench"),
    OPT(Options, prompt_len, OPT_COUNT, "--prompt-len", .metavar = "L", .help = "prompt tokens of --bench"),
    OPT(Options, requests, OPT_STRING, "--requests", .metavar = "F", .section = "serving (docs/serving.md)",
        .help = "serve the requests of a JSONL file: {\"id\", \"prompt_tokens\", \"max_new_tokens\",\n"
                "\"arrival_s\"} a line; prints each one's tokens and the run's metrics"),
    OPT(Options, synthetic, OPT_CUSTOM, "--synthetic", .metavar = "N,P,G[,R]", .parse = serve_parse_synthetic,
        .expects = "N,PROMPT,NEW[,RATE]", .help = "serve N generated requests of P prompt and G new tokens, R a\n"
                                                  "second (Poisson arrivals; none or 0: all at once)"),
    OPT(Options, seed_requests, OPT_COUNT, "--seed", .metavar = "S", .min = 0, .max = OPT_NO_MAX,
        .help = "--synthetic's seed (default: --random-weights' seed, else 1)"),
    OPT(Options, max_seqs, OPT_COUNT, "--max-seqs", .metavar = "N", .min = 1, .max = MIXC_MAX_BATCH,
        .help = "sequence slots held at once (default: the requests, at most "
                MIXC_STR(SERVE_DEFAULT_MAX_SEQS) ";\nserve: " MIXC_STR(HTTP_DEFAULT_MAX_SEQS) ")"),
    OPT(Options, kv_budget, OPT_COUNT, "--kv-budget", .metavar = "BYTES",
        .help = "KV bytes the sequences in flight may hold (default and most: the slots'\n"
                "allocation)"),
    OPT(Options, step_tokens, OPT_COUNT, "--step-tokens", .metavar = "T",
        .help = "tokens a step runs: a decode of every running sequence, the rest\n"
                "prefill chunks (default: the slots + the plan's chunk)"),
    OPT(Options, trace, OPT_FLAG, "--trace", .help = "one line per scheduler step on stderr"),
    OPT(Options, rates, OPT_CUSTOM, "--rates", .metavar = "R1,R2,...", .parse = serve_parse_rates,
        .expects = "rates > 0, comma-separated", .help = "serve the --synthetic requests at each offered load (requests/s)"),
    OPT(Options, svg, OPT_STRING, "--svg", .metavar = "F", .help = "with --rates: the chart of throughput and p90 latency"),
    OPT(Options, http.host, OPT_STRING, "--host", .metavar = "H", .section = "mixrun serve (docs/serving.md)",
        .help = "the address to listen on (default " HTTP_DEFAULT_HOST ")"),
    OPT(Options, http.port, OPT_COUNT, "--port", .metavar = "P", .min = 0, .max = 65535,
        .help = "the port (default " MIXC_STR(HTTP_DEFAULT_PORT) "; 0: a free one, printed on stderr)"),
    OPT(Options, http.model_name, OPT_STRING, "--model-name", .metavar = "NAME",
        .help = "the model's id in /v1/models and the requests (default: the layout's)"),
    OPT(Options, http.max_body, OPT_COUNT, "--max-body", .metavar = "BYTES", .help = "the largest request body (default " MIXC_STR(HTTP_DEFAULT_MAX_BODY_MIB) "M; 413 past it)"),
    OPT(Options, http.max_connections, OPT_COUNT, "--max-connections", .metavar = "N", .min = 1, .max = 65536,
        .help = "connections served at once (default " MIXC_STR(HTTP_DEFAULT_MAX_CONNECTIONS) "; more are refused)"),
    OPT(Options, http.timeout_s, OPT_COUNT, "--timeout", .metavar = "S", .min = 1, .max = 86400,
        .help = "seconds a connection may stay silent (default " MIXC_STR(HTTP_DEFAULT_TIMEOUT_S) ")"),
    /* last: only in a binary written by `mixc build` */
    OPT(Options, info, OPT_FLAG, "--info", .section = "built binary", .help = "describe the layout, overrides and kernels built in"),
};

/* The synopsis of a binary `mixc build` specialized: mixrun's under the binary's name, without
 * --layout and --set (continuation lines aligned to the name), and --info. Held for the process. */
static const char *built_usage(const char *usage, const char *name) {
    static const char *const from[] = {"mixrun --layout FILE.mix [--set key=value ...] ", "mixrun --layout FILE.mix ... ",
                                       "mixrun serve --layout FILE.mix ... ", "\n       "};
    Buf b = {0};
    for (const char *p = usage; *p;) {
        size_t i = 0, n = 0;
        while (i < 4 && strncmp(p, from[i], n = strlen(from[i]))) i++;
        if (i == 0) buf_printf(&b, "%s ", name);
        else if (i == 1) buf_printf(&b, "%s ... ", name);
        else if (i == 2) buf_printf(&b, "%s serve ... ", name);
        else if (i == 3) buf_printf(&b, "\n%*s", (int)strlen(name) + 1, "");
        else buf_printf(&b, "%c", *p), n = 1;
        p += n;
    }
    buf_printf(&b, "\n%s --info", name);
    return b.data;
}

/* The command line of plain mixrun, or of a binary `mixc build` specialized: the layout and its
 * overrides are built in (the table without --layout and --set), --info describes them. */
static const OptCommand *mixrun_command(void) {
    static char about[512];
    static OptCommand cmd = {
        .prog = "mixrun",
        .usage = "mixrun --layout FILE.mix [--set key=value ...] (--weights F | --random-weights SEED)\n"
                 "       (--tokens 1,2,3 | --tokens-file F) [--max-new N] [--backend cuda|cpu|emu]\n"
                 "       [--dump-logits OUT.npy] [--save-weights F]\n"
                 "mixrun --layout FILE.mix ... --prompts F [--max-new N] [--dump-logits OUT.npy]\n"
                 "mixrun --layout FILE.mix ... (--text TEXT | --text-file F) [--tokenizer F|DIR] [--print-ids]\n"
                 "mixrun --layout FILE.mix ... --bench [--batch B] [--prompt-len L] [--max-new G]\n"
                 "mixrun --layout FILE.mix ... (--requests F | --synthetic N,P,G[,R]) [--max-seqs N]\n"
                 "       [--kv-budget BYTES] [--step-tokens T] [--json] [--rates R1,R2,... [--svg F]]\n"
                 "mixrun --layout FILE.mix ... --weights F --check-weights [--json]\n"
                 "mixrun serve --layout FILE.mix ... [--tokenizer F|DIR] [--host H] [--port P] [--max-seqs N]\n"
                 "       [--kv-budget BYTES] [--step-tokens T]",
        .opts = mixrun_options,
        .max_args = 0,
        .epilog = "exit status: 0 ok; 1 errors in the input (layout, weights, tokens, context, requests; a request\n"
                  "refused); 2 usage errors, an unreadable layout or an unavailable backend. See docs/model.md\n"
                  "and docs/serving.md.\n"
                  "environment: MIXC_CACHE_DIR (the kernels' cache; MIXC_JIT_NO_CACHE=1: none), MIXC_CXX and\n"
                  "MIXC_EMU_CXXFLAGS (emu's compiler), MIXC_EMU_VERBOSE=1, MIXC_CUDA_GRAPHS=0 (eager decode steps,\n"
                  "not a CUDA graph), MIXC_PROGRESS_AFTER=S (seconds before long work shows progress; default "
                  MIXC_STR(PROGRESS_DEFAULT_AFTER_S) "),\n"
                  "CUDA_HOME, TMPDIR, NO_COLOR (docs/jit.md, docs/gpu.md, docs/output.md).\n",
    };
    cmd.nopts = (int)(sizeof mixrun_options / sizeof mixrun_options[0]) - !mixrun_embedded();
    if (mixrun_embedded() && cmd.opts == mixrun_options) {
        if (strcmp(mixrun_options[0].name, "--layout") || strcmp(mixrun_options[1].name, "--set"))
            fatal("mixrun_options must begin with --layout and --set");
        cmd.opts += 2, cmd.nopts -= 2;
        cmd.prog = program_invocation_short_name;
        cmd.usage = built_usage(cmd.usage, cmd.prog);
    }
    snprintf(about, sizeof about, "%s%s%s",
             mixrun_embedded() ? "This is mixrun specialized by `mixc build` to the layout '" : "",
             mixrun_embedded() ? mixc_embedded_name : "",
             mixrun_embedded() ? "' (overrides fixed,\nkernels precompiled): it takes no --layout or --set; "
                                 "--info describes it.\n\n" : "");
    strncat(about, "Runs the model a .mix layout describes (docs/model.md) with greedy decoding and prints the\n"
                   "generated token ids; `mixrun serve` serves it over HTTP (the OpenAI API, docs/serving.md).\n",
            sizeof about - strlen(about) - 1);
    cmd.about = about;
    return &cmd;
}

/* The overrides the binary was built with (one per line) become its --set list. */
static void take_embedded_sets(Options *o) {
    size_t len = (size_t)(mixc_embedded_sets_end - mixc_embedded_sets);
    char *copy = arena_strndup(&o->arena, mixc_embedded_sets, len);
    int n = 0;
    for (size_t i = 0; i < len; i++) n += copy[i] == '\n';
    free(o->sets.v);
    o->sets.v = xcalloc((size_t)n + 1, sizeof(char *));
    o->sets.n = 0;
    for (char *line = copy, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        o->sets.v[o->sets.n++] = line;
    }
}

/* Serving's options: alone, with nothing of the other runs. OPT_GO, or 2 after a usage error. */
static int check_serving(const OptCommand *cmd, const Options *o) {
    bool serving = o->requests || o->synthetic.count;
    if (o->requests && o->synthetic.count) return opt_usage_error(cmd, "give --requests or --synthetic, not both");
    if (serving && (o->tokens || o->tokens_file || o->prompts_file || o->bench || o->dump_logits || o->max_new_given))
        return opt_usage_error(cmd, "--requests and --synthetic do not go with --tokens, --tokens-file, --prompts, "
                                    "--bench, --dump-logits or --max-new");
    if (!serving && (o->seed_requests >= 0 || o->max_seqs || o->kv_budget || o->step_tokens || o->trace))
        return opt_usage_error(cmd, "--seed, --max-seqs, --kv-budget, --step-tokens and --trace go with --requests or "
                                    "--synthetic");
    if ((o->seed_requests >= 0 || o->rates.n) && !o->synthetic.count)
        return opt_usage_error(cmd, "--seed and --rates go with --synthetic");
    if (o->svg && !o->rates.n) return opt_usage_error(cmd, "--svg goes with --rates");
    return OPT_GO;
}

/* mixrun serve: the model's options, --tokenizer, the slots and the budget, and the server's; its
 * prompts come from its clients. OPT_GO, or 2 after a usage error. */
static int check_serve(const OptCommand *cmd, const Options *o) {
    const HttpOptions *h = &o->http;
    bool server = h->host || h->port >= 0 || h->model_name || h->max_body || h->max_connections || h->timeout_s;
    if (!o->serve)
        return server ? opt_usage_error(cmd, "--host, --port, --model-name, --max-body, --max-connections and "
                                             "--timeout go with mixrun serve") : OPT_GO;
    if (o->tokens || o->tokens_file || o->prompts_file || o->text || o->text_file || o->print_ids || o->bench ||
        o->requests || o->synthetic.count || o->dump_logits || o->max_new_given || o->json || o->rates.n ||
        o->seed_requests >= 0 || o->save_weights || o->batch || o->prompt_len)
        return opt_usage_error(cmd, "mixrun serve takes the model's options, --tokenizer, --max-seqs, --kv-budget, "
                                    "--step-tokens, --trace and the server's: the prompts come from its clients");
    return OPT_GO;
}

/* --check-weights reads --weights and nothing runs: no prompt, backend or output goes with it. */
static int check_weights_alone(const OptCommand *cmd, const Options *o) {
    if (!o->weights) return opt_usage_error(cmd, "--check-weights goes with --weights");
    if (o->serve || o->tokens || o->tokens_file || o->prompts_file || o->text || o->text_file || o->bench ||
        o->requests || o->synthetic.count || o->save_weights || o->dump_logits || o->backend || o->max_new_given ||
        o->full_caches || o->page_tokens)
        return opt_usage_error(cmd, "--check-weights runs nothing: it takes --layout, --set, --dtype, --weights, "
                                    "--ignore-unused-tensors and --json");
    return OPT_GO;
}

/* The combinations of options that make a run. OPT_GO, or 2 after a usage error. */
static int check_options(const OptCommand *cmd, const Options *o) {
    if (!o->layout && !mixrun_embedded()) return opt_usage_error(cmd, "no --layout given");
    if (o->weights && o->random_weights) return opt_usage_error(cmd, "give --weights or --random-weights, not both");
    if (!o->weights && !o->random_weights) return opt_usage_error(cmd, "no weights: give --weights F or --random-weights SEED");
    if (o->ignore_unused && !o->weights) return opt_usage_error(cmd, "--ignore-unused-tensors goes with --weights");
    if (o->pool_pages && !o->page_tokens) return opt_usage_error(cmd, "--pool-pages goes with --page-tokens");
    int rc = o->check_weights ? check_weights_alone(cmd, o) : OPT_GO;
    if (rc != OPT_GO) return rc;
    rc = check_serve(cmd, o);
    if (rc != OPT_GO || o->serve) return rc;
    bool text = o->text || o->text_file;
    if ((o->tokenizer || o->print_ids) && !text) return opt_usage_error(cmd, "--tokenizer and --print-ids go with --text");
    if (text && !o->tokenizer && !o->weights) return opt_usage_error(cmd, "--text needs --tokenizer or --weights");
    if (text && (o->requests || o->synthetic.count || o->bench))
        return opt_usage_error(cmd, "--text does not go with --bench, --requests or --synthetic");
    if (check_serving(cmd, o) != OPT_GO) return 2;
    if (!o->bench && (o->batch || o->prompt_len)) return opt_usage_error(cmd, "--batch and --prompt-len go with --bench");
    if (o->requests || o->synthetic.count) return OPT_GO;
    if (text && !!o->tokens + !!o->tokens_file + !!o->prompts_file + !!o->text + !!o->text_file > 1)
        return opt_usage_error(cmd, "give one of --tokens, --tokens-file, --prompts, --text and --text-file");
    if (!!o->tokens + !!o->tokens_file + !!o->prompts_file > 1)
        return opt_usage_error(cmd, "give one of --tokens, --tokens-file and --prompts");
    if (o->prompts_file && o->bench) return opt_usage_error(cmd, "--prompts does not go with --bench (give --batch)");
    if (!o->tokens && !o->tokens_file && !o->prompts_file && !text && !o->bench && !o->save_weights && !o->check_weights)
        return opt_usage_error(cmd, "no prompt: give --tokens LIST, --tokens-file F, --prompts F or --text TEXT");
    if (o->bench && o->dump_logits) return opt_usage_error(cmd, "--dump-logits does not go with --bench");
    if (o->json && !o->bench && !o->check_weights) return opt_usage_error(cmd, "--json goes with --bench, --requests, --synthetic or --check-weights");
    return OPT_GO;
}

/* A file option of the run: its name and path (NULL when not given). */
typedef struct {
    const char *name, *path;
} FileArg;

/* Two input options naming '-': standard input can be read once. OPT_GO, else a usage error. */
static int check_stdin_once(const OptCommand *cmd, const FileArg *in, int n) {
    const FileArg *reader = NULL;
    for (int i = 0; i < n; i++) {
        if (!in[i].path || strcmp(in[i].path, "-") != 0) continue;
        if (reader) return opt_usage_error(cmd, "'-' (standard input) given to %s and %s: it can be read once", reader->name, in[i].name);
        reader = &in[i];
    }
    return OPT_GO;
}

/* Whether output `out` would replace the file of `other` (an input, or a later output): refused,
 * except --save-weights over --weights, which rewrites the weights file atomically. */
static bool replaces(const FileArg *out, const FileArg *other) {
    if (!out->path || !other->path) return false;
    if (!strcmp(out->name, "--save-weights") && !strcmp(other->name, "--weights")) return false;
    return output_replaces(out->path, other->path);
}

/* An output that cannot be written (exit 1), that would replace an input or another output (the
 * same file), or "-" where the run prints its results (usage errors, 2). OPT_GO to go on. */
static int check_outputs(const OptCommand *cmd, const Options *o) {
    const FileArg out[] = {{"--dump-logits", o->dump_logits}, {"--save-weights", o->save_weights}, {"--svg", o->svg}};
    const FileArg in[] = {{"--layout", o->layout},       {"--weights", o->weights},     {"--tokens-file", o->tokens_file},
                          {"--prompts", o->prompts_file}, {"--text-file", o->text_file}, {"--tokenizer", o->tokenizer},
                          {"--requests", o->requests}};
    const int nout = (int)(sizeof out / sizeof *out), nin = (int)(sizeof in / sizeof *in);
    bool prints = o->tokens || o->tokens_file || o->prompts_file || o->text || o->text_file || o->bench ||
                  o->requests || o->synthetic.count;
    int rc = check_stdin_once(cmd, in, nin);
    if (rc != OPT_GO) return rc;
    for (int i = 0; i < nout; i++) {
        char err[600];
        if (!out[i].path) continue;
        if (!output_path_usable(out[i].path, err, sizeof err)) {   /* before the run, not after it */
            fprintf(stderr, "%s: %s\n", prog_name(), err);
            return 1;
        }
        bool dash_ok = !strcmp(out[i].name, "--save-weights") && !prints;   /* the weights alone on stdout */
        if (!strcmp(out[i].path, "-") && !dash_ok)
            return opt_usage_error(cmd, "%s -: standard output holds the run's results", out[i].name);
        for (int j = 0; j < nout + nin; j++) {
            const FileArg *other = j < nout ? &out[j] : &in[j - nout];
            if ((j >= nout || j > i) && replaces(&out[i], other))
                return opt_usage_error(cmd, "%s '%s' would replace the file of %s", out[i].name, out[i].path, other->name);
        }
    }
    return OPT_GO;
}

/* OPT_GO to go on, else an exit status (--help: 0). */
static int parse_options(int argc, char **argv, Options *o) {
    memset(o, 0, sizeof *o);
    o->serve = argc > 1 && !strcmp(argv[1], "serve");
    argc -= o->serve, argv += o->serve;
    o->http.port = -1;
    o->backend = NULL;
    o->seed = -1;
    o->max_new = -1;
    o->dtype = -1;
    o->seed_requests = -1;
    const OptCommand *cmd = mixrun_command();
    StringList args;
    int rc = opt_parse(cmd, argc, argv, o, &args);
    free(args.v);
    if (rc != OPT_GO) return rc;
    o->random_weights = o->seed >= 0;
    o->max_new_given = o->max_new >= 0;
    if (!o->max_new_given) o->max_new = MIXRUN_DEFAULT_MAX_NEW;
    if (mixrun_embedded()) {
        take_embedded_sets(o);
        if (o->info) return OPT_GO;
    }
    rc = check_options(cmd, o);
    if (!o->batch) o->batch = 1;   /* --bench's default */
    return rc == OPT_GO ? check_outputs(cmd, o) : rc;
}

/* ------------------------------------------------------------------ the layout, with --set */

/* The layout file (or the embedded one of a specialized binary) with the --set overrides applied
 * between parsing and checking, so they go through the checker's validation. */
static int load_with_sets(const Options *o, Layout *out) {
    LoadOptions load = {.sets = o->sets.v, .nsets = o->sets.n};   /* messages: prog_name() */
    int rc = mixrun_embedded()
                 ? load_layout_text(mixc_embedded_name, mixc_embedded_mix,
                                    (size_t)(mixc_embedded_mix_end - mixc_embedded_mix), &load, out, stderr)
                 : load_layout_file(o->layout, &load, out, stderr);
    if (rc == 1 && o->sets.n)
        fprintf(stderr, "%s: the layout is not valid (with the --set overrides applied)\n", prog_name());
    return rc;
}

/* ------------------------------------------------------------------ tokens */

static bool read_prompt(const Options *o, int32_t **tokens, int64_t *n) {
    if (o->tok) return text_prompt(o->tok, o->text, o->text_file, tokens, n);
    if (o->tokens) return parse_tokens(o->tokens, "--tokens", tokens, n);
    char *text = read_text_file(prog_name(), o->tokens_file);
    bool ok = text && parse_tokens(text, o->tokens_file, tokens, n);
    free(text);
    return ok;
}

/* ------------------------------------------------------------------ generation */

/* Logits with NaN or Inf have no greedy token (mixc_argmax's code): the run fails, naming the sequence
 * and the position (the cpu and emu backends already failed the step naming the layer). */
static bool picks_valid(Backend *b, const int32_t *next, const Prompts *pr, int64_t g) {
    for (int64_t s = 0; s < pr->count; s++)
        if (next[s] < 0) {
            snprintf(b->err, sizeof b->err, "the logits of sequence %lld at position %lld hold %s (the %s backend)",
                     (long long)s, (long long)(prompt_len(pr, s) + g - 1), next[s] == MIXC_ARGMAX_NAN ? "NaN" : "Inf", b->name);
            return false;
        }
    return true;
}

/* Greedy decoding of every prompt as one batch: each prefilled, then all decoded together, one
 * step per new token, each step's greedy tokens picked by the backend (decode_argmax: on the cuda
 * backend only the ids come back). Prints one line of generated ids per prompt; with --dump-logits,
 * every sequence's prompt and generated positions, one sequence after another. */
static int generate(const Options *o, Backend *b, const Prompts *pr, int64_t N) {
    int64_t V = b->layout->model.vocab, B = pr->count;
    bool dump = o->dump_logits != NULL;
    int64_t *row0 = xcalloc((size_t)B + 1, sizeof *row0);   /* each sequence's first dump row */
    for (int64_t s = 0; s < B; s++) row0[s + 1] = row0[s] + (dump ? prompt_len(pr, s) + N : 0);
    float *rows = dump ? xcalloc((size_t)(row0[B] * V), sizeof(float)) : NULL;
    float *last = xcalloc((size_t)(B * V), sizeof(float));   /* each sequence's newest logits */
    int32_t *gen = xcalloc((size_t)(B * N) + 1, sizeof *gen), *next = xcalloc((size_t)B, sizeof *next);
    int32_t *fed = xcalloc((size_t)B, sizeof *fed);
    int *slots = xcalloc((size_t)B, sizeof *slots);
    bool ok = true;
    Progress prefilled = progress_start("prefill: token", pr->offset[B]);   /* long work on stderr after 2 s */
    for (int64_t s = 0; s < B && ok; s++) {
        /* the first pick by the backend (prefill_argmax: the device's on cuda); the logits for the dump only */
        ok = prefill_all(b, (int)s, prompt_ids(pr, s), prompt_len(pr, s), dump ? rows + row0[s] * V : NULL, dump, &next[s],
                         &prefilled);
        slots[s] = (int)s;
    }
    int64_t made = N;   /* tokens generated: fewer when --text's sequence ends at its EOS */
    Progress decoded = progress_start("decode: step", N);
    for (int64_t g = 0; g < made && ok; g++, progress_add(&decoded, 1)) {
        if (!(ok = picks_valid(b, next, pr, g))) break;
        for (int64_t s = 0; s < B; s++) gen[s * N + g] = fed[s] = next[s];
        if (B == 1 && eos_ids_has(&o->eos, next[0])) made = g + 1;   /* the EOS is kept in the ids */
        if (g == made - 1 && !dump) break;   /* the last token's logits are needed only for the dump */
        ok = b->ops->decode_argmax(b, slots, (int)B, fed, next, dump ? last : NULL);
        for (int64_t s = 0; s < B && ok && dump; s++)
            memcpy(rows + (row0[s] + prompt_len(pr, s) + g) * V, last + s * V, (size_t)V * sizeof(float));
    }
    free(fed);
    free(slots);
    int rc = 0;
    if (!ok) {
        fprintf(stderr, "%s: %s\n", prog_name(), b->err);
        rc = 1;
    } else {
        for (int64_t s = 0; s < B && !o->tok; s++) {
            for (int64_t g = 0; g < N; g++) printf("%s%d", g ? "," : "", gen[s * N + g]);
            printf("\n");
        }
        if (o->tok && !text_print_generated(o->tok, gen, made, o->print_ids, &o->eos)) rc = 1;
        if (dump && !npy_write_f32(o->dump_logits, rows, row0[B] - (N - made), V)) {
            fprintf(stderr, "%s: cannot write '%s': %s\n", prog_name(), o->dump_logits, strerror(errno));
            rc = 1;
        }
    }
    free(next);
    free(gen);
    free(last);
    free(rows);
    free(row0);
    return rc;
}

/* ------------------------------------------------------------------ main */

/* The weights: random, or from --weights, which a backend that copies them into its own memory (emu,
 * cuda) reads from the checkpoint a layer at a time (streamed) unless --save-weights needs them all. */
static int load_weights(const Options *o, const Layout *l, Model *m) {
    char err[1024];
    const BackendEntry *backend;
    bool streamed = o->weights && !o->save_weights &&
                    (o->check_weights || ((backend = backend_resolve(o->backend)) && backend->copies_weights));
    if (!model_check_size(l, streamed, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog_name(), err);
        return 1;
    }
    if (o->random_weights) {
        model_init_random(m, l, (uint64_t)o->seed);
    } else {
        int ignored = 0;
        bool loaded = streamed ? model_stream_safetensors(m, l, o->weights, o->ignore_unused, &ignored, err, sizeof err)
                               : model_load_safetensors(m, l, o->weights, o->ignore_unused, &ignored, err, sizeof err);
        if (!loaded) {
            fprintf(stderr, "%s: %s\n", prog_name(), err);
            return 1;
        }
        if (ignored)
            fprintf(stderr, "%s: warning: '%s': %d tensor%s not used by this layout (--ignore-unused-tensors)\n", prog_name(),
                    o->weights, ignored, ignored == 1 ? "" : "s");
    }
    if (o->save_weights && !model_save_safetensors(m, o->save_weights, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog_name(), err);
        model_free(m);
        return 1;
    }
    return 0;
}

/* Prompts and new tokens of the run; the exit status on failure, -1 to go on. */
static int plan_prompts(const Options *o, const Layout *l, Prompts *pr, int64_t *N) {
    int64_t C = l->model.context, V = l->model.vocab;
    memset(pr, 0, sizeof *pr);
    int64_t given = 0, P = 0;
    int32_t *t = NULL;
    if (o->prompts_file) {
        if (!read_prompts_file(o->prompts_file, V, pr)) return 1;
        P = prompts_longest(pr);
    } else {
        if ((o->tokens || o->tokens_file || o->tok) && !read_prompt(o, &t, &given)) return 1;
        if (t && !check_vocab(t, given, V, 0)) {
            free(t);
            return 1;
        }
        P = o->bench ? (o->prompt_len ? o->prompt_len : t ? given : (C > BENCH_DEFAULT_PROMPT_LEN ? BENCH_DEFAULT_PROMPT_LEN : C)) : given;
    }
    *N = o->max_new;
    if (!o->max_new_given && P + *N > C) *N = C > P ? C - P : 0;
    if (P + *N > C) {
        fprintf(stderr, "%s: %s%lld prompt + %lld new tokens is more than the context (%lld)\n", prog_name(),
                o->prompts_file ? "the longest prompt: " : "", (long long)P, (long long)*N, (long long)C);
        free(t);
        prompts_free(pr);
        return 1;
    }
    if (o->bench) {   /* after the check: B x L ids may be large */
        prompts_uniform(pr, bench_prompts(t, given, o->batch, P, V), o->batch, P);
        free(t);
    } else if (!o->prompts_file) {
        prompts_uniform(pr, t, 1, P);
    }
    return -1;
}

/* ------------------------------------------------------------------ a specialized binary */

static void print_info(const Options *o, const Layout *l) {
    const ModelHeader *m = &l->model;
    printf("layout: %s (model \"%s\"), built by mixc build\n", mixc_embedded_name, m->name);
    printf("overrides:");
    for (int i = 0; i < o->sets.n; i++) printf(" %s", o->sets.v[i]);
    printf("%s\n", o->sets.n ? "" : " none");
    printf("model: %lld layers, hidden %lld, heads %lld, kv_heads %lld, head_dim %lld, vocab %lld, context %lld, "
           "chunk %lld\n", (long long)m->layers, (long long)m->hidden, (long long)m->heads, (long long)m->kv_heads,
           (long long)m->head_dim, (long long)m->vocab, (long long)m->context, (long long)m->chunk);
    printf("cuda kernels: %s cubin, %zu bytes\n", mixc_embedded_arch,
           (size_t)(mixc_embedded_cubin_end - mixc_embedded_cubin));
    if (mixc_embedded_emu_so)
        printf("emulator kernels: %zu bytes\n", (size_t)(mixc_embedded_emu_so_end - mixc_embedded_emu_so));
    else
        printf("emulator kernels: none (built with --no-emu)\n");
}

/* Hands the embedded kernels to the backend that will run, through its configuration: the cubin
 * as is; the emulator's shared object through an anonymous in-memory file, which dlopen can load by
 * its /proc path. */
static int use_embedded_kernels(const char *backend, BackendConfig *cfg) {
    static char so_path[64];
    if (!mixrun_embedded()) return 0;
    cfg->cuda_cubin = mixc_embedded_cubin;
    cfg->cuda_cubin_size = (size_t)(mixc_embedded_cubin_end - mixc_embedded_cubin);
    if (!backend || strcmp(backend, "emu") != 0) return 0;
    if (!mixc_embedded_emu_so) {
        fprintf(stderr, "%s: this binary has no emulator kernels (it was built with --no-emu)\n", prog_name());
        return 2;
    }
    size_t len = (size_t)(mixc_embedded_emu_so_end - mixc_embedded_emu_so);
    int fd = memfd_create("mixc-emu-kernels", 0);
    if (fd < 0 || write(fd, mixc_embedded_emu_so, len) != (ssize_t)len) {
        fprintf(stderr, "%s: cannot stage the emulator kernels: %s\n", prog_name(), strerror(errno));
        if (fd >= 0) close(fd);
        return 1;
    }
    snprintf(so_path, sizeof so_path, "/proc/self/fd/%d", fd);  /* kept open for the process's life */
    cfg->emu_kernels_so = so_path;
    return 0;
}

/* --synthetic's seed: --seed, else --random-weights', else 1. */
static uint64_t request_seed(const Options *o) {
    return o->seed_requests >= 0 ? (uint64_t)o->seed_requests : o->random_weights ? (uint64_t)o->seed : 1;
}

/* --requests or --synthetic: the requests, and the backend they need; the exit status on failure,
 * -1 to go on. */
static int load_requests(const Options *o, const Layout *l, ServeRequests *rq, BackendConfig *cfg) {
    if (o->requests && !serve_read_requests(o->requests, l->model.vocab, rq)) return 1;
    if (!o->requests && !serve_synthetic(&o->synthetic, request_seed(o), l->model.vocab, rq)) return 1;
    serve_backend_config(rq, l->model.context, (int)o->max_seqs, cfg);
    return -1;
}

static int serve(const Options *o, Backend *b, const ServeRequests *rq) {
    ServeOptions so = {o->step_tokens, o->kv_budget, b->layout->model.context, o->trace, true};
    if (o->rates.n) return serve_sweep(b, &o->synthetic, request_seed(o), &o->rates, &so, o->json, o->svg);
    ServeRun sr;
    int rc = serve_run(b, rq, &so, &sr) ? serve_print(rq, &sr, o->json) : 1;
    if (rc == 1 && *b->err) fprintf(stderr, "%s: %s\n", prog_name(), b->err);
    serve_run_free(&sr, rq->n);
    return rc;
}

/* mixrun serve: a backend of --max-seqs slots (HTTP_DEFAULT_MAX_SEQS) of the model's whole context, and the
 * tokenizer when one is given or lies beside --weights (else token-id prompts only). */
static int serve_http(const Options *o, const Layout *l, Model *model) {
    Tokenizer *tok = NULL;
    if ((o->tokenizer || (o->weights && text_tokenizer_beside(o->weights))) &&
        !(tok = text_tokenizer_open(o->tokenizer, o->weights)))
        return 1;
    BackendConfig cfg = {.full_caches = o->full_caches, .page_tokens = o->page_tokens, .pool_pages = o->pool_pages, .nseq = o->max_seqs ? (int)o->max_seqs : HTTP_DEFAULT_MAX_SEQS,
                         .context = l->model.context};
    int rc = use_embedded_kernels(o->backend, &cfg);
    Backend b;
    char err[512];
    if (!rc && (rc = backend_open(o->backend, model, &cfg, &b, err, sizeof err))) fprintf(stderr, "%s: %s\n", prog_name(), err);
    if (!rc && !b.model) model_free(model);   /* the backend holds its own weights */
    if (!rc) {
        ServeOptions so = {o->step_tokens, o->kv_budget, l->model.context, o->trace, false};
        HttpOptions h = o->http;
        h.host = h.host ? h.host : HTTP_DEFAULT_HOST;
        h.port = h.port >= 0 ? h.port : HTTP_DEFAULT_PORT;
        h.max_body = h.max_body ? h.max_body : (int64_t)HTTP_DEFAULT_MAX_BODY_MIB << 20;
        h.max_connections = h.max_connections ? h.max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
        h.timeout_s = h.timeout_s ? h.timeout_s : HTTP_DEFAULT_TIMEOUT_S;
        rc = http_serve(&b, tok, h.model_name ? h.model_name : l->model.name, &so, &h);
        backend_close(&b);
    }
    tokenizer_free(tok);
    return rc;
}

/* --check-weights: every part of the streamed model read (each value checked), then a line or an object. */
static int check_weights(const Options *o, Model *m) {
    char err[1024];
    if (!model_stream_read_all(m, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog_name(), err);
        return 1;
    }
    ModelTensor *t;
    int n = model_tensors(m, &t);
    free(t);
    long long params = (long long)model_param_count(m);
    char shown[SHOWN_MAX];
    shown_text(o->weights, strlen(o->weights), shown);
    if (o->json)
        return serve_print_json(json_pack("{s:s, s:b, s:i, s:I}", "weights", o->weights, "ok", 1, "tensors", n,
                                          "parameters", (json_int_t)params), "weights check");
    printf("'%s': the weights of this layout, %d tensors, %lld parameters, every value finite\n", shown, n, params);
    return 0;
}

static int run(const Options *o, const Layout *l) {
    Model model;
    char err[512];
    /* a backend that cannot run here (no GPU, no toolkit) says so before the weights are read */
    int rc = o->check_weights ? 0 : backend_usable(o->backend, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog_name(), err);
        return rc;
    }
    rc = load_weights(o, l, &model);
    if (rc) return rc;
    if (o->check_weights) {
        rc = check_weights(o, &model);
        model_free(&model);
        return rc;
    }
    if (o->serve) {
        rc = serve_http(o, l, &model);
        model_free(&model);
        return rc;
    }
    bool serving = o->requests || o->synthetic.count;
    if (!serving && !o->tokens && !o->tokens_file && !o->prompts_file && !o->tok && !o->bench) {   /* --save-weights alone */
        model_free(&model);
        return 0;
    }
    Prompts prompts = {0};
    ServeRequests rq = {0};
    int64_t N = 0, longest = 0;
    BackendConfig cfg = {.full_caches = o->full_caches, .page_tokens = o->page_tokens, .pool_pages = o->pool_pages};
    if (serving) {
        rc = load_requests(o, l, &rq, &cfg);
    } else {
        rc = plan_prompts(o, l, &prompts, &N);
        if (rc < 0) longest = prompts_longest(&prompts);
        cfg.nseq = (int)prompts.count;
        cfg.context = longest + N;
    }
    if (rc < 0) {
        int staged = use_embedded_kernels(o->backend, &cfg);
        if (staged) rc = staged;
    }
    if (rc < 0) {
        Backend b;
        char err[512];
        rc = backend_open(o->backend, &model, &cfg, &b, err, sizeof err);
        if (rc) {
            fprintf(stderr, "%s: %s\n", prog_name(), err);
        } else {
            if (!b.model) model_free(&model);   /* the backend holds its own weights (the device's) */
            rc = serving ? serve(o, &b, &rq)
                 : o->bench ? bench(&b, prompts.ids, longest, N, o->json) : generate(o, &b, &prompts, N);
            backend_close(&b);
        }
    }
    serve_requests_free(&rq);
    prompts_free(&prompts);
    model_free(&model);
    return rc;
}

int main(int argc, char **argv) {
    Options o;
    int rc = parse_options(argc, argv, &o);
    if (rc == OPT_GO && (o.text || o.text_file) && !(o.tok = text_tokenizer_open(o.tokenizer, o.weights))) rc = 1;
    char err[600];
    if (rc == OPT_GO && o.tok && !eos_ids_load(o.tok, &o.eos, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog_name(), err);
        rc = 1;
    }
    if (rc == OPT_GO) {
        Layout l;
        rc = load_with_sets(&o, &l);
        if (rc == 0 && o.dtype >= 0) l.model.dtype = DTYPE_CHOICES[o.dtype];
        if (rc == 0) {
            /* the backend resolved once (no --backend: cuda when a device can be used, else cpu):
             * each step after opens that row without asking the driver again */
            if (!o.info && !o.check_weights) o.backend = backend_resolve(o.backend)->name;
            if (o.info) print_info(&o, &l);
            else rc = run(&o, &l);
            layout_free(&l);
        }
    }
    free(o.sets.v);
    tokenizer_free(o.tok);
    arena_free(&o.arena);
    if (rc == 0 && !stdout_written(prog_name())) rc = 1;
    return rc;
}
