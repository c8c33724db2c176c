/* mixrun.c — runs a layout's model: greedy decoding of a prompt, or a throughput benchmark.
 *
 *   mixrun --layout FILE.mix [--set key=value ...] (--weights F | --random-weights SEED)
 *          (--tokens 1,2,3 | --tokens-file F) [--max-new N] [--backend cuda|cpu|emu]
 *          [--dump-logits OUT.npy] [--save-weights F] [--bench [--batch B] [--prompt-len L]]
 *
 * Exit status: 0 ok, 1 errors in the input (layout, weights, tokens), 2 usage errors or a backend
 * that is not available here. See docs/model.md. */
#include "mixrun_options.h"
#include "backend.h"
#include "bench.h"
#include "mixc_params.h"   /* mixc_argmax: the greedy pick */
#include "plan.h"
#include "progress.h"
#include "prompts.h"

#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the layout, with --set */

/* The layout file (or the embedded one of a specialized binary) with the --set overrides applied
 * between parsing and checking, so they go through the checker's validation. */
static int load_with_sets(const MixrunOptions *o, Layout *out) {
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

static bool read_prompt(const MixrunOptions *o, int32_t **tokens, int64_t *n) {
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
static int generate(const MixrunOptions *o, Backend *b, const Prompts *pr, int64_t N) {
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
static int load_weights(const MixrunOptions *o, const Layout *l, Model *m) {
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
static int plan_prompts(const MixrunOptions *o, const Layout *l, Prompts *pr, int64_t *N) {
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

static void print_info(const MixrunOptions *o, const Layout *l) {
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
    if (mixrun_built_page_tokens())
        printf("paged caches: pages of %lld tokens (the kernels', the default --page-tokens)\n",
               (long long)mixrun_built_page_tokens());
    else
        printf("paged caches: none (unpaged kernels)\n");
}

/* Hands the embedded kernels to the backend that will run, through its configuration: the cubin
 * as is; the emulator's shared object through an anonymous in-memory file, which dlopen can load by
 * its /proc path. */
static int use_embedded_kernels(const char *backend, BackendConfig *cfg) {
    static char so_path[64];
    if (!mixrun_embedded()) return 0;
    cfg->cuda_cubin = mixc_embedded_cubin;
    cfg->cuda_cubin_size = (size_t)(mixc_embedded_cubin_end - mixc_embedded_cubin);
    cfg->prebuilt_page_tokens = mixrun_built_page_tokens();
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
static uint64_t request_seed(const MixrunOptions *o) {
    return o->seed_requests >= 0 ? (uint64_t)o->seed_requests : o->random_weights ? (uint64_t)o->seed : 1;
}

/* --requests or --synthetic: the requests, and the backend they need; the exit status on failure,
 * -1 to go on. */
static int load_requests(const MixrunOptions *o, const Layout *l, ServeRequests *rq, BackendConfig *cfg) {
    if (o->requests && !serve_read_requests(o->requests, l->model.vocab, rq)) return 1;
    if (!o->requests && !serve_synthetic(&o->synthetic, request_seed(o), l->model.vocab, rq)) return 1;
    for (int i = 0; i < rq->n && o->http.scheduling_policy != SCHEDULE_PRIORITY; i++)
        if (rq->v[i].priority) {   /* as vLLM refuses a priority without its policy: the order would ignore it */
            fprintf(stderr, "%s: request '%s' has priority %lld, but the run admits by arrival: give --scheduling-policy "
                    "priority\n", prog_name(), rq->v[i].id, (long long)rq->v[i].priority);
            return 1;
        }
    serve_backend_config(rq, l->model.context, (int)o->max_seqs, cfg);
    return -1;
}

static int serve(const MixrunOptions *o, Backend *b, const ServeRequests *rq) {
    ServeOptions so = {.step_tokens = o->step_tokens, .kv_budget = o->kv_budget, .context = b->layout->model.context,
                       .trace = o->trace, .progress = true, .no_prefix_caching = o->no_prefix_caching,
                       .cache_generated = o->cache_generated, .priority = o->http.scheduling_policy == SCHEDULE_PRIORITY};
    if (o->rates.n) return serve_sweep(b, &o->synthetic, request_seed(o), &o->rates, &so, o->json, o->svg);
    ServeRun sr;
    int rc = serve_run(b, rq, &so, &sr) ? serve_print(rq, &sr, o->json) : 1;
    if (rc == 1 && *b->err) fprintf(stderr, "%s: %s\n", prog_name(), b->err);
    serve_run_free(&sr, rq->n);
    return rc;
}

/* mixrun serve: a backend of --max-seqs slots (HTTP_DEFAULT_MAX_SEQS) of the model's whole context, and the
 * tokenizer when one is given or lies beside --weights (else token-id prompts only). */
static int serve_http(const MixrunOptions *o, const Layout *l, Model *model) {
    Tokenizer *tok = NULL;
    if ((o->tokenizer || (o->weights && text_tokenizer_beside(o->weights))) &&
        !(tok = text_tokenizer_open(o->tokenizer, o->weights)))
        return 1;
    HttpOptions h = o->http;
    h.host = h.host ? h.host : HTTP_DEFAULT_HOST;
    h.port = h.port >= 0 ? h.port : HTTP_DEFAULT_PORT;
    h.max_body = h.max_body ? h.max_body : (int64_t)HTTP_DEFAULT_MAX_BODY_MIB << 20;
    h.max_connections = h.max_connections ? h.max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
    h.timeout_s = h.timeout_s ? h.timeout_s : HTTP_DEFAULT_TIMEOUT_S;
    h.scheduling_policy = h.scheduling_policy >= 0 ? h.scheduling_policy : SCHEDULE_FCFS;
    const char *env_key = getenv("MIXC_API_KEY");
    h.api_key = h.api_key ? h.api_key : env_key && *env_key ? env_key : NULL;
    HttpServer *s = http_server_new(tok, h.model_name ? h.model_name : l->model.name, l->model.vocab, &h);
    BackendConfig cfg = {.full_caches = o->full_caches, .page_tokens = o->page_tokens, .pool_pages = o->pool_pages, .nseq = o->max_seqs ? (int)o->max_seqs : HTTP_DEFAULT_MAX_SEQS,
                         .context = l->model.context};
    int rc = s ? use_embedded_kernels(o->backend, &cfg) : 1;
    Backend b;
    char err[512];
    if (!rc && (rc = backend_open(o->backend, model, &cfg, &b, err, sizeof err))) fprintf(stderr, "%s: %s\n", prog_name(), err);
    if (!rc && !b.model) model_free(model);   /* the backend holds its own weights */
    if (!rc) {
        ServeOptions so = {.step_tokens = o->step_tokens, .kv_budget = o->kv_budget, .context = l->model.context,
                           .trace = o->trace, .no_prefix_caching = o->no_prefix_caching,
                           .cache_generated = o->cache_generated};
        rc = http_serve(s, &b, &so);
        backend_close(&b);
    }
    http_server_free(s);
    tokenizer_free(tok);
    return rc;
}

/* --check-weights: every part of the streamed model read (each value checked), then a line or an object. */
static int check_weights(const MixrunOptions *o, Model *m) {
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

static int run(const MixrunOptions *o, const Layout *l) {
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
    MixrunOptions o;
    int rc = mixrun_parse_options(argc, argv, &o);
    if (rc == OPT_GO && (o.text || o.text_file) && !(o.tok = text_tokenizer_open(o.tokenizer, o.weights))) rc = 1;
    char err[600];
    if (rc == OPT_GO && o.tok && !eos_ids_load(o.tok, NULL, &o.eos, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog_name(), err);
        rc = 1;
    }
    if (rc == OPT_GO) {
        Layout l;
        rc = load_with_sets(&o, &l);
        if (rc == 0 && o.dtype >= 0) l.model.dtype = MIXRUN_DTYPE_CHOICES[o.dtype];
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

