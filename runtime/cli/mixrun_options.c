/* mixrun_options.c — mixrun's command line (mixrun_options.h): the option table and usage of plain
 * mixrun, of `mixrun serve` and of a binary `mixc build` specialized, and the checks of which options
 * go together (usage errors, exit 2) and of the outputs (before anything runs). */
#include "mixrun_options.h"
#include "backend.h"
#include "progress.h"   /* PROGRESS_DEFAULT_AFTER_S, which --help says */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const DType MIXRUN_DTYPE_CHOICES[] = {DT_BF16, DT_FP16, DT_FP32};

/* A row of the backend table (runtime/cpu/backends.c). */
static bool parse_backend(const char *v, void *slot) {
    const BackendEntry *e = backend_find(v);
    if (e) *(const char **)slot = e->name;
    return e != NULL;
}

/* --tool-call-parser: one of the parsers http_tools.c has. */
static bool parse_tool_parser(const char *v, void *slot) { return tools_parser_named(v, slot); }
/* --reasoning-parser: one of http_reasoning.c's. */
static bool parse_reasoning_parser(const char *v, void *slot) { return reasoning_parser_named(v, slot); }

static const OptSpec mixrun_options[] = {
    OPT(MixrunOptions, layout, OPT_STRING, "--layout", .metavar = "FILE", .section = "model", .help = "the layout (.mix)"),
    OPT_SETS(MixrunOptions, sets),
    OPT(MixrunOptions, weights, OPT_STRING, "--weights", .metavar = "F",
        .help = "weights in safetensors format, HF Llama tensor names: a file, a\nmodel.safetensors.index.json with its shards, or a directory holding either;\n"
                "emu and cuda read them a layer at a time (docs/model.md)"),
    OPT(MixrunOptions, check_weights, OPT_FLAG, "--check-weights",
        .help = "read every value of --weights a layer at a time and exit: 0 when they are the\n"
                "layout's, every one finite (a line saying so; --json: an object), else 1"),
    OPT(MixrunOptions, ignore_unused, OPT_FLAG, "--ignore-unused-tensors",
        .help = "run weights that hold tensors the model does not use (biases, q/k norms,\n"
                "experts: another computation) with a warning instead of refusing them"),
    OPT(MixrunOptions, seed, OPT_COUNT, "--random-weights", .metavar = "S", .min = 0, .max = OPT_NO_MAX,
        .help = "deterministic random weights from seed S"),
    OPT(MixrunOptions, save_weights, OPT_STRING, "--save-weights", .metavar = "F", .help = "write the weights as safetensors (alone: write and exit)"),
    OPT(MixrunOptions, dtype, OPT_CHOICE, "--dtype", .choices = "bf16|fp16|fp32",
        .help = "the model's dtype, instead of the layout's: weights are rounded to it;\n"
                "fp32 keeps an fp32 checkpoint exact (cpu backend only)"),
    OPT(MixrunOptions, backend, OPT_CUSTOM, "--backend", .metavar = "B", .parse = parse_backend, .expects = "cuda, cpu or emu",
        .help = "cuda (default when a GPU and the cuda backend are present), cpu, emu"),
    OPT(MixrunOptions, full_caches, OPT_FLAG, "--full-caches",
        .help = "size every cache for the whole sequence, never a ring (testing aid)"),
    OPT_PAGE_TOKENS(MixrunOptions, page_tokens, "paged global caches: pages of P tokens from one pool (docs/plan.md)"),
    OPT_POOL_PAGES(MixrunOptions, pool_pages, "with --page-tokens: the pool's pages (default: every slot's whole context)"),
    OPT(MixrunOptions, tokens, OPT_STRING, "--tokens", .metavar = "LIST", .section = "prompt",
        .help = "prompt token ids, separated by commas and/or white space"),
    OPT(MixrunOptions, tokens_file, OPT_STRING, "--tokens-file", .metavar = "F", .help = "the ids of --tokens, read from a file"),
    OPT(MixrunOptions, prompts_file, OPT_STRING, "--prompts", .metavar = "F",
        .help = "one prompt per line: all run as one batch (each prefilled, then decoded\n"
                "together); prints one line of generated ids per prompt"),
    OPT(MixrunOptions, text, OPT_STRING, "--text", .metavar = "TEXT", .help = "a text prompt: prints the generated text"),
    OPT(MixrunOptions, text_file, OPT_STRING, "--text-file", .metavar = "F", .help = "a text prompt: the whole file"),
    OPT(MixrunOptions, tokenizer, OPT_STRING, "--tokenizer", .metavar = "F|DIR",
        .help = "tokenizer.json of --text and serve (default: beside --weights);\nserve's chat template is tokenizer_config.json's beside it\n(docs/tokenizer.md)"),
    OPT(MixrunOptions, print_ids, OPT_FLAG, "--print-ids", .help = "with --text: the generated ids too, before the text"),
    OPT(MixrunOptions, max_new, OPT_COUNT, "--max-new", .metavar = "N", .min = 0, .max = OPT_NO_MAX,
        .help = "tokens to generate (default " MIXC_STR(MIXRUN_DEFAULT_MAX_NEW) ", less if the context is shorter)"),
    OPT(MixrunOptions, dump_logits, OPT_STRING, "--dump-logits", .metavar = "F",
        .help = "write the logits of every prompt and generated position as float32\n"
                ".npy [positions, vocab]; with --prompts, every sequence's rows in turn"),
    OPT(MixrunOptions, bench, OPT_FLAG, "--bench", .section = "benchmark",
        .help = "B sequences of L prompt tokens, G new tokens each: prints prefill and\n"
                "decode tokens/s and memory (--batch B, default 1; --prompt-len L,\n"
                "default " MIXC_STR(BENCH_DEFAULT_PROMPT_LEN) " or the --tokens count; --max-new G)"),
    OPT(MixrunOptions, json, OPT_FLAG, "--json", .help = "with --bench: one JSON object (timings; memory planned and allocated);\n"
                                                 "serving: the requests and the metrics (docs/serving.md)"),
    OPT_BATCH(MixrunOptions, batch, "sequences of --bench"),
    OPT(MixrunOptions, prompt_len, OPT_COUNT, "--prompt-len", .metavar = "L", .help = "prompt tokens of --bench"),
    OPT(MixrunOptions, requests, OPT_STRING, "--requests", .metavar = "F", .section = "serving (docs/serving.md)",
        .help = "serve the requests of a JSONL file: {\"id\", \"prompt_tokens\", \"max_new_tokens\",\n"
                "\"arrival_s\"} a line; prints each one's tokens and the run's metrics"),
    OPT(MixrunOptions, synthetic, OPT_CUSTOM, "--synthetic", .metavar = "N,P,G[,R]", .parse = serve_parse_synthetic,
        .expects = "N,PROMPT,NEW[,RATE]", .help = "serve N generated requests of P prompt and G new tokens, R a\n"
                                                  "second (Poisson arrivals; none or 0: all at once)"),
    OPT(MixrunOptions, seed_requests, OPT_COUNT, "--seed", .metavar = "S", .min = 0, .max = OPT_NO_MAX,
        .help = "--synthetic's seed (default: --random-weights' seed, else 1)"),
    OPT(MixrunOptions, max_seqs, OPT_COUNT, "--max-seqs", .metavar = "N", .min = 1, .max = MIXC_MAX_BATCH,
        .help = "sequence slots held at once (default: the requests, at most "
                MIXC_STR(SERVE_DEFAULT_MAX_SEQS) ";\nserve: " MIXC_STR(HTTP_DEFAULT_MAX_SEQS) ")"),
    OPT(MixrunOptions, kv_budget, OPT_COUNT, "--kv-budget", .metavar = "BYTES",
        .help = "KV bytes the sequences in flight may hold (default and most: the slots' allocation)"),
    OPT(MixrunOptions, step_tokens, OPT_COUNT, "--step-tokens", .metavar = "T",
        .help = "tokens a step runs: a decode of every running sequence, the rest\n"
                "prefill chunks (default: the slots + the plan's chunk)"),
    OPT(MixrunOptions, trace, OPT_FLAG, "--trace", .help = "one line per scheduler step on stderr"),
    OPT(MixrunOptions, no_prefix_caching, OPT_FLAG, "--no-prefix-caching",
        .help = "prefill every prompt whole (default: a prompt that starts as a slot's kept prompt\n"
                "or a running sequence's takes those caches: prefix caching, docs/serving.md)"),
    OPT(MixrunOptions, cache_generated, OPT_FLAG, "--prefix-caching-generated",
        .help = "prefix caching takes generated tokens' rows too (a chat's answers), as decode steps\n"
                "wrote them: on emu and cuda a prompt's logits then differ from its whole prefill\n"
                "by the kernels' rounding (docs/serving.md)"),
    OPT(MixrunOptions, rates, OPT_CUSTOM, "--rates", .metavar = "R1,R2,...", .parse = serve_parse_rates,
        .expects = "rates > 0, comma-separated", .help = "serve the --synthetic requests at each offered load (requests/s)"),
    OPT(MixrunOptions, svg, OPT_STRING, "--svg", .metavar = "F", .help = "with --rates: the chart of throughput and p90 latency"),
    OPT(MixrunOptions, http.host, OPT_STRING, "--host", .metavar = "H", .section = "mixrun serve (docs/serving.md)",
        .help = "the address to listen on (default " HTTP_DEFAULT_HOST ")"),
    OPT(MixrunOptions, http.port, OPT_COUNT, "--port", .metavar = "P", .min = 0, .max = 65535,
        .help = "the port (default " MIXC_STR(HTTP_DEFAULT_PORT) "; 0: a free one, printed on stderr)"),
    OPT(MixrunOptions, http.model_name, OPT_STRING, "--model-name", .metavar = "NAME",
        .help = "the model's id in /v1/models and the requests (default: the layout's)"),
    OPT(MixrunOptions, http.max_body, OPT_COUNT, "--max-body", .metavar = "BYTES", .help = "the largest request body (default " MIXC_STR(HTTP_DEFAULT_MAX_BODY_MIB) "M; 413 past it)"),
    OPT(MixrunOptions, http.max_connections, OPT_COUNT, "--max-connections", .metavar = "N", .min = 1, .max = 65536,
        .help = "connections served at once (default " MIXC_STR(HTTP_DEFAULT_MAX_CONNECTIONS) "; more are refused)"),
    OPT(MixrunOptions, http.timeout_s, OPT_COUNT, "--timeout", .metavar = "S", .min = 1, .max = 86400,
        .help = "seconds a connection may stay silent (default " MIXC_STR(HTTP_DEFAULT_TIMEOUT_S) ")"),
    OPT(MixrunOptions, http.generation_config, OPT_STRING, "--generation-config", .metavar = "auto|vllm|DIR",
        .help = "the sampling defaults of requests (vLLM's): auto (default), generation_config.json\n"
                "beside the tokenizer; vllm, none; DIR, DIR/generation_config.json (its end of\n"
                "sequence too)"),
    OPT(MixrunOptions, http.override_generation_config, OPT_STRING, "--override-generation-config", .metavar = "JSON",
        .help = "an object over those defaults (vLLM's): {\"temperature\": 0.5}; null drops one"),
    OPT(MixrunOptions, http.api_key, OPT_STRING, "--api-key", .metavar = "KEY",
        .help = "the /v1 routes ask \"Authorization: Bearer KEY\" (401 without it; default: the\n"
                "environment's MIXC_API_KEY, else none)"),
    OPT(MixrunOptions, http.tokens_as_ids, OPT_FLAG, "--return-tokens-as-token-ids",
        .help = "the log-probabilities name each token \"token_id:ID\" instead of its text (vLLM's;\nthe default of the requests' return_tokens_as_token_ids)"),
    OPT(MixrunOptions, http.store_responses, OPT_COUNT, "--store-responses", .metavar = "N", .min = 1, .max = 1 << 20,
        .help = "/v1/responses keeps the last N responses (in memory): store, previous_response_id,\n"
                "GET and DELETE /v1/responses/ID (default: none kept)"),
    OPT(MixrunOptions, http.scheduling_policy, OPT_CHOICE, "--scheduling-policy", .choices = SCHEDULING_POLICY_NAMES,
        .help = "the order waiting requests are admitted in (vLLM's): fcfs (default), by arrival;\n"
                "priority, by the requests' \"priority\" (the least first), then arrival (serve,\n--requests)"),
    OPT(MixrunOptions, http.tool_call_parser, OPT_CUSTOM, "--tool-call-parser", .metavar = "NAME", .parse = parse_tool_parser,
        .expects = TOOL_PARSER_NAMES,
        .help = "tool calling (vLLM's, docs/serving.md): how a chat answer's tool calls are\n"
        "read: hermes (<tool_call>JSON</tool_call>: Qwen 2.5, Hermes),\nllama3_json (Llama 3.1's JSON), "
        "mistral (Mistral 7B v0.3's list of calls),\npythonic ([f(a=1), g()]), llama4_pythonic (Llama 4's: "
        "the same,\n<|python_start|> first), openai (gpt-oss' messages to functions.NAME) or\nqwen3_coder (Qwen3-Coder's "
        "<function=NAME><parameter=K>V...); tool_choice \"auto\"\nneeds it"),
    OPT(MixrunOptions, http.reasoning_parser, OPT_CUSTOM, "--reasoning-parser", .metavar = "NAME",
        .parse = parse_reasoning_parser, .expects = REASONING_PARSER_NAMES,
        .help = "a chat answer's <think>...</think> as its \"reasoning\", apart from its content\n"
                "(vLLM's, docs/serving.md): deepseek_r1 (the template opens the block:\nDeepSeek-R1's "
                "distills) or qwen3 (the model opens it: Qwen 3); openai_gptoss:\ngpt-oss' analysis channel, on "
                "whenever the tokenizer has harmony's tokens"),
    /* last: only in a binary written by `mixc build` */
    OPT(MixrunOptions, info, OPT_FLAG, "--info", .section = "built binary", .help = "describe the layout, overrides and kernels built in"),
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
                 "       [--kv-budget BYTES] [--step-tokens T]\n"
                 "mixrun --version",
        .opts = mixrun_options,
        .max_args = 0,
        .epilog = "exit status: 0 ok; 1 errors in the input (layout, weights, tokens, context, requests; a request\n"
                  "refused); 2 usage errors, an unreadable layout or an unavailable backend. See docs/model.md\n"
                  "and docs/serving.md.\n"
                  "environment: MIXC_CACHE_DIR (the kernels' cache; MIXC_JIT_NO_CACHE=1: none), MIXC_CXX and\n"
                  "MIXC_EMU_CXXFLAGS (emu's compiler), MIXC_EMU_VERBOSE=1, MIXC_CUDA_GRAPHS=0 (eager decode steps,\n"
                  "not a CUDA graph), MIXC_PROGRESS_AFTER=S (seconds before long work shows progress; default "
                  MIXC_STR(PROGRESS_DEFAULT_AFTER_S) "),\n"
                  "MIXC_HOST_THREADS (threads of the serving loop's host work), MIXC_API_KEY (serve's --api-key),\n"
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
static void take_embedded_sets(MixrunOptions *o) {
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
static int check_serving(const OptCommand *cmd, const MixrunOptions *o) {
    bool serving = o->requests || o->synthetic.count;
    if (o->requests && o->synthetic.count) return opt_usage_error(cmd, "give --requests or --synthetic, not both");
    if (serving && (o->tokens || o->tokens_file || o->prompts_file || o->bench || o->dump_logits || o->max_new_given))
        return opt_usage_error(cmd, "--requests and --synthetic do not go with --tokens, --tokens-file, --prompts, "
                                    "--bench, --dump-logits or --max-new");
    if (!serving && (o->seed_requests >= 0 || o->max_seqs || o->kv_budget || o->step_tokens || o->trace ||
                     o->no_prefix_caching || o->cache_generated))
        return opt_usage_error(cmd, "--seed, --max-seqs, --kv-budget, --step-tokens, --trace, --no-prefix-caching and "
                                    "--prefix-caching-generated go with --requests or --synthetic");
    if (!serving && !o->serve && o->http.scheduling_policy >= 0)
        return opt_usage_error(cmd, "--scheduling-policy goes with mixrun serve, --requests or --synthetic");
    if ((o->seed_requests >= 0 || o->rates.n) && !o->synthetic.count)
        return opt_usage_error(cmd, "--seed and --rates go with --synthetic");
    if (o->svg && !o->rates.n) return opt_usage_error(cmd, "--svg goes with --rates");
    return OPT_GO;
}

/* mixrun serve: the model's options, --tokenizer, the slots and the budget, and the server's; its
 * prompts come from its clients. OPT_GO, or 2 after a usage error. */
static int check_serve(const OptCommand *cmd, const MixrunOptions *o) {
    const HttpOptions *h = &o->http;
    bool server = h->host || h->port >= 0 || h->model_name || h->max_body || h->max_connections || h->timeout_s ||
                  h->generation_config || h->override_generation_config || h->api_key || h->tool_call_parser ||
                  h->reasoning_parser || h->tokens_as_ids || h->store_responses;
    if (!o->serve)
        return server ? opt_usage_error(cmd, "--host, --port, --model-name, --max-body, --max-connections, --timeout, "
                                             "--generation-config, --override-generation-config, --api-key, "
                                             "--tool-call-parser, --reasoning-parser, --return-tokens-as-token-ids and "
                                             "--store-responses go with mixrun serve")
                      : OPT_GO;
    if (o->tokens || o->tokens_file || o->prompts_file || o->text || o->text_file || o->print_ids || o->bench ||
        o->requests || o->synthetic.count || o->dump_logits || o->max_new_given || o->json || o->rates.n ||
        o->seed_requests >= 0 || o->save_weights || o->batch || o->prompt_len)
        return opt_usage_error(cmd, "mixrun serve takes the model's options, --tokenizer, --max-seqs, --kv-budget, "
                                    "--step-tokens, --trace, --no-prefix-caching, --prefix-caching-generated and the "
                                    "server's: the prompts come "
                                    "from its clients");
    return OPT_GO;
}

/* --check-weights reads --weights and nothing runs: no prompt, backend or output goes with it. */
static int check_weights_alone(const OptCommand *cmd, const MixrunOptions *o) {
    if (!o->weights) return opt_usage_error(cmd, "--check-weights goes with --weights");
    if (o->serve || o->tokens || o->tokens_file || o->prompts_file || o->text || o->text_file || o->bench ||
        o->requests || o->synthetic.count || o->save_weights || o->dump_logits || o->backend || o->max_new_given ||
        o->full_caches || o->page_tokens)
        return opt_usage_error(cmd, "--check-weights runs nothing: it takes --layout, --set, --dtype, --weights, "
                                    "--ignore-unused-tensors and --json");
    return OPT_GO;
}

/* The combinations of options that make a run. OPT_GO, or 2 after a usage error. */
static int check_options(const OptCommand *cmd, const MixrunOptions *o) {
    if (!o->layout && !mixrun_embedded()) return opt_usage_error(cmd, "no --layout given");
    if (o->weights && o->random_weights) return opt_usage_error(cmd, "give --weights or --random-weights, not both");
    if (!o->weights && !o->random_weights) return opt_usage_error(cmd, "no weights: give --weights F or --random-weights SEED");
    if (o->ignore_unused && !o->weights) return opt_usage_error(cmd, "--ignore-unused-tensors goes with --weights");
    if (o->cache_generated && o->no_prefix_caching)
        return opt_usage_error(cmd, "--prefix-caching-generated does not go with --no-prefix-caching");
    if (o->pool_pages && !o->page_tokens && !mixrun_built_page_tokens())
        return opt_usage_error(cmd, "--pool-pages goes with --page-tokens");
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
static int check_outputs(const OptCommand *cmd, const MixrunOptions *o) {
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

int mixrun_parse_options(int argc, char **argv, MixrunOptions *o) {
    memset(o, 0, sizeof *o);
    o->serve = argc > 1 && !strcmp(argv[1], "serve");
    argc -= o->serve, argv += o->serve;
    o->http.port = -1;
    o->http.scheduling_policy = -1;
    o->backend = NULL;
    o->seed = -1;
    o->max_new = -1;
    o->dtype = -1;
    o->seed_requests = -1;
    if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {   /* as mixc --version */
        printf("%s %s\n", prog_name(), MIXC_VERSION);
        return 0;
    }
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
    if (!o->page_tokens) o->page_tokens = mixrun_built_page_tokens();   /* a paged binary's default */
    return rc == OPT_GO ? check_outputs(cmd, o) : rc;
}
