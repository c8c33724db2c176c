/* options.h — the one command-line parser of every mixc command and of mixrun.
 *
 * A command describes its options in a table (one OptSpec per option; adding an option is one
 * line) and its usage text; opt_parse fills the command's own options struct through the offsets
 * in the table. Every command thereby accepts `--opt value` and `--opt=value`, counts with K/M/G
 * suffixes, `-h`/`--help` (generated from the table), and reports usage errors the same way:
 *
 *     mixc report: --context: bad value 'x' (a count >= 1; K, M, G suffixes)
 *     usage: mixc report [options] FILE.mix
 *     run 'mixc report --help' for the options
 *
 * with exit status 2. No CUDA here: mixrun links it too. */
#ifndef MIXC_OPTIONS_H
#define MIXC_OPTIONS_H

#include "mixc.h"

#include <stddef.h>

typedef enum {
    OPT_FLAG,       /* no value: sets a bool */
    OPT_STRING,     /* a value: const char * (into argv) */
    OPT_STRINGS,    /* repeatable: every value appended to a StringList */
    OPT_COUNT,      /* digits, '_' separators, a K/M/G suffix (x1024), in [min, max]: int64_t */
    OPT_COUNTS,     /* counts separated by commas: CountList */
    OPT_CHOICE,     /* one of `choices` ("text|json"): int, the index of the one given */
    OPT_WORD,       /* one of `choices`: const char *, the value as given */
    OPT_CUSTOM,     /* parse(value, slot), false when bad; `expects` says what a good value is */
} OptKind;

#define OPT_MAX_COUNTS 64

typedef struct {
    int64_t v[OPT_MAX_COUNTS];
    int n;
} CountList;

typedef struct {
    const char **v;         /* into argv; opt_free frees the array */
    int n;
} StringList;

typedef struct {
    const char *name;       /* "--context" (or a short name, "-o") */
    const char *alias;      /* a second name ("-q" for "--quiet"), or NULL */
    OptKind kind;
    size_t offset;          /* of the value in the command's options struct */
    const char *metavar;    /* the value in the help ("L[,L...]"); default: VALUE, or the choices */
    const char *help;       /* its help; '\n' continues on the next line, aligned */
    const char *choices;    /* OPT_CHOICE, OPT_WORD */
    int64_t min, max;       /* OPT_COUNT(S); both 0: 1..OPT_NO_MAX */
    bool (*parse)(const char *value, void *slot);   /* OPT_CUSTOM */
    const char *expects;    /* OPT_CUSTOM: appended to "bad value" messages */
    const char *section;    /* a heading the help prints above this option ("prompts"), or NULL */
} OptSpec;

/* No bound of the option's own: the largest count parse_count reads (below MIXC_MAX_VALUE). */
#define OPT_NO_MAX (MIXC_MAX_VALUE - 1)

/* One table entry: OPT(Struct, field, KIND, "--name", .metavar = ..., .help = ...). */
#define OPT(type, field, kind_, name_, ...) \
    {.name = name_, .kind = kind_, .offset = offsetof(type, field), __VA_ARGS__}

/* Rows several commands share, so each option's name, kind and value are written once. */
#define OPT_OUTPUT(type, field, metavar_, help_) \
    OPT(type, field, OPT_STRING, "--output", .alias = "-o", .metavar = metavar_, .help = help_)
#define OPT_OUTPUT_FILE(type, field) OPT_OUTPUT(type, field, "FILE", "write to FILE (atomically) instead of stdout")
/* --set: every command that reads a layout applies it the same way (load_layout_text). */
#define OPT_SETS(type, field)                                                                      \
    OPT(type, field, OPT_STRINGS, "--set", .metavar = "key=value",                                 \
        .help = "override a model header field before checking (hidden, heads, kv_heads,\n"        \
                "head_dim, ffn, vocab, context, chunk, dtype, ...); window=N replaces every\n"     \
                "sliding window, chunked=N every chunked attention's chunk size")
#define OPT_ARCH(type, field, help_) OPT(type, field, OPT_WORD, "--arch", .choices = "sm_80|sm_90", .help = help_)
/* The run options several commands take, each with one range; the plan refuses the values a layout
 * cannot take (a page longer than the context; --pp: pipeline_stages_fit). */
#define OPT_PP(type, field, help_) \
    OPT(type, field, OPT_COUNT, "--pp", .metavar = "N", .min = 1, .max = MIXC_MAX_LAYERS, .help = help_)
#define OPT_BATCH(type, field, help_) \
    OPT(type, field, OPT_COUNT, "--batch", .metavar = "B", .min = 1, .max = MIXC_MAX_BATCH, .help = help_)
#define OPT_CHUNK(type, field, help_) OPT(type, field, OPT_COUNT, "--chunk", .metavar = "C", .help = help_)
#define OPT_PAGE_TOKENS(type, field, help_) \
    OPT(type, field, OPT_COUNT, "--page-tokens", .metavar = "P", .help = help_)
#define OPT_POOL_PAGES(type, field, help_) \
    OPT(type, field, OPT_COUNT, "--pool-pages", .metavar = "N", .min = 1, .max = MIXC_MAX_POOL_PAGES, .help = help_)

/* In an OptCommand initializer: the option table and its size. */
#define OPT_TABLE(table) .opts = table, .nopts = (int)(sizeof table / sizeof table[0])

typedef struct {
    const char *prog;       /* "mixc report": the prefix of every message */
    const char *usage;      /* the synopsis after "usage: "; '\n' for further forms */
    const char *about;      /* the paragraph between the synopsis and the options */
    const OptSpec *opts;
    int nopts;
    const char *epilog;     /* after the options (exit statuses, documents) */
    int min_args, max_args; /* input files (positional arguments) accepted; max_args -1: any number */
    const char *args_hint;  /* appended to "one file at a time", or NULL */
} OptCommand;

#define OPT_GO (-1)

/* Parses argv[1..argc-1] into `out` (its defaults, set by the caller, stay where no option is given)
 * and the input files into `args`. Returns OPT_GO to go on, 0 after printing --help, or 2 after a
 * usage error (reported). Call opt_free afterwards in every case. */
int opt_parse(const OptCommand *cmd, int argc, char **argv, void *out, StringList *args);
void opt_free(const OptCommand *cmd, void *out, StringList *args);

/* A usage error found by the command itself: "PROG: message", the synopsis, the --help hint. Returns 2. */
int opt_usage_error(const OptCommand *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void opt_print_help(const OptCommand *cmd, FILE *out);
/* An output that would replace an input file (output_replaces) is a usage error (2); else OPT_GO.
 * opt_parse checks -o against the input files; a command checks its other inputs with it. */
int opt_check_output(const OptCommand *cmd, const char *output, const char *input);

/* The count syntax of OPT_COUNT: true with the value when s is one in [min, max]. */
bool opt_parse_count(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
