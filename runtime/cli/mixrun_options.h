/* mixrun_options.h — mixrun's command line (mixrun_options.c): its options, their table, --help,
 * and the combinations that make a run; and what a binary of `mixc build` has built in. */
#ifndef MIXC_MIXRUN_OPTIONS_H
#define MIXC_MIXRUN_OPTIONS_H

#include "gen_config.h"
#include "http.h"
#include "options.h"
#include "sweep.h"
#include "tok_prompt.h"

#include <stdlib.h>

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
EMBEDDED(mixc_embedded_pages);

/* Whether this is a binary of `mixc build` (the layout built in). */
static inline bool mixrun_embedded(void) {
    return mixc_embedded_mix != NULL;
}

/* The page tokens a binary of `mixc build --page-tokens P` has its kernels built for, its default
 * --page-tokens; 0: unpaged kernels (or plain mixrun). */
static inline int64_t mixrun_built_page_tokens(void) {
    return mixc_embedded_pages ? strtoll(mixc_embedded_pages, NULL, 10) : 0;
}

/* --max-new's default (fewer where the context is shorter); --bench's prompt length without
 * --prompt-len or --tokens (at most the context). */
#define MIXRUN_DEFAULT_MAX_NEW 16
#define BENCH_DEFAULT_PROMPT_LEN 128

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
    bool trace, no_prefix_caching, cache_generated;
    int dtype;              /* --dtype: an index of DTYPE_CHOICES, -1 when not given */
    bool serve;             /* `mixrun serve`: the HTTP server (runtime/http) */
    HttpOptions http;       /* its options; port -1 until given */
} MixrunOptions;

/* --dtype's values, in its choice order (MixrunOptions.dtype is an index). */
extern const DType MIXRUN_DTYPE_CHOICES[];

/* Parses mixrun's command line (argv[1] "serve": `mixrun serve`) into o, with the embedded overrides
 * of a built binary, and checks the combination. OPT_GO to go on, else an exit status (--help: 0). */
int mixrun_parse_options(int argc, char **argv, MixrunOptions *o);

#endif
