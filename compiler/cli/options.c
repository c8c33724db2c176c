/* options.c — the table-driven command-line parser (see options.h). */
#include "options.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ values */

bool opt_parse_count(const char *s, int64_t min, int64_t max, int64_t *out) {
    int64_t v;
    if (!parse_count(s, &v) || v < min || v > max) return false;
    *out = v;
    return true;
}

static void count_range(const OptSpec *o, int64_t *min, int64_t *max) {
    bool dflt = o->min == 0 && o->max == 0;
    *min = dflt ? 1 : o->min;
    *max = dflt ? OPT_NO_MAX : o->max;
}

static bool parse_counts(const char *s, int64_t min, int64_t max, CountList *l) {
    l->n = 0;
    for (const char *p = s;; p++) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char tok[64];
        if (n == 0 || n >= sizeof tok || l->n == OPT_MAX_COUNTS) return false;
        memcpy(tok, p, n);
        tok[n] = '\0';
        if (!opt_parse_count(tok, min, max, &l->v[l->n++])) return false;
        if (!end) return true;
        p = end;
    }
}

static bool choice_index(const char *choices, const char *v, int *out) {
    size_t n = strlen(v);
    int i = 0;
    for (const char *p = choices;; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && n && !strncmp(p, v, n)) {
            *out = i;
            return true;
        }
        if (!bar) return false;
        p = bar + 1;
    }
}

/* "a|b|c" as "a, b or c". */
static void list_choices(const char *choices, char *buf, size_t n) {
    Buf b = {0};
    for (const char *p = choices; *p; p++) {
        if (*p != '|') buf_printf(&b, "%c", *p);
        else buf_puts(&b, strchr(p + 1, '|') ? ", " : " or ");
    }
    snprintf(buf, n, "%s", b.data ? b.data : "");
    buf_free(&b);
}

/* What a good value of o is, for "bad value" messages. */
static void describe_expected(const OptSpec *o, char *buf, size_t n) {
    int64_t min, max;
    count_range(o, &min, &max);
    char range[64];
    if (max == OPT_NO_MAX)
        snprintf(range, sizeof range, "a count >= %lld", (long long)min);
    else
        snprintf(range, sizeof range, "a count in %lld..%lld", (long long)min, (long long)max);
    switch (o->kind) {
    case OPT_COUNT: snprintf(buf, n, "%s; K, M, G suffixes", range); break;
    case OPT_COUNTS:
        snprintf(buf, n, "%s, or up to %d separated by commas; K, M, G suffixes", range, OPT_MAX_COUNTS);
        break;
    case OPT_CHOICE:
    case OPT_WORD: list_choices(o->choices, buf, n); break;
    case OPT_CUSTOM: snprintf(buf, n, "%s", o->expects ? o->expects : "see --help"); break;
    default: snprintf(buf, n, "a non-empty value"); break;
    }
}

/* Stores value v of option o. false when v is not a good value. */
static bool take_value(const OptSpec *o, const char *v, void *out, int argc) {
    void *slot = (char *)out + o->offset;
    int64_t min, max;
    count_range(o, &min, &max);
    switch (o->kind) {
    case OPT_FLAG: *(bool *)slot = true; return true;
    case OPT_STRING: *(const char **)slot = v; return *v != '\0';
    case OPT_STRINGS: {
        StringList *l = slot;
        if (!l->v) l->v = xcalloc((size_t)argc + 1, sizeof(char *));
        l->v[l->n++] = v;
        return *v != '\0';
    }
    case OPT_COUNT: return opt_parse_count(v, min, max, (int64_t *)slot);
    case OPT_COUNTS: return parse_counts(v, min, max, (CountList *)slot);
    case OPT_CHOICE: return choice_index(o->choices, v, (int *)slot);
    case OPT_WORD: {
        int unused;
        *(const char **)slot = v;
        return choice_index(o->choices, v, &unused);
    }
    case OPT_CUSTOM: return o->parse(v, slot);
    }
    return false;
}

/* ------------------------------------------------------------------ messages */

static void print_synopsis(const OptCommand *cmd, FILE *out) {
    const char *p = cmd->usage;
    fprintf(out, "usage: ");
    for (const char *nl; (nl = strchr(p, '\n')); p = nl + 1) fprintf(out, "%.*s\n       ", (int)(nl - p), p);
    fprintf(out, "%s\n", p);
}

int opt_usage_error(const OptCommand *cmd, const char *fmt, ...) {
    fprintf(stderr, "%s: ", cmd->prog);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    print_synopsis(cmd, stderr);
    fprintf(stderr, "run '%s --help' for the options\n", cmd->prog);
    return 2;
}

/* "  -q, --quiet" or "  --context L[,L...]" */
static int option_label(const OptSpec *o, char *buf, size_t n) {
    const char *metavar = o->metavar ? o->metavar : o->choices ? o->choices : "VALUE";
    return snprintf(buf, n, "  %s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name,
                    o->kind == OPT_FLAG ? "" : " ", o->kind == OPT_FLAG ? "" : metavar);
}

static void print_option(FILE *out, const char *label, const char *help, int column) {
    int w = fprintf(out, "%s", label);
    if (w >= column) {
        fputc('\n', out);
        w = 0;
    }
    for (const char *p = help;; ) {
        const char *nl = strchr(p, '\n');
        fprintf(out, "%*s%.*s\n", column - w, "", nl ? (int)(nl - p) : (int)strlen(p), p);
        if (!nl) break;
        p = nl + 1;
        w = 0;
    }
}

void opt_print_help(const OptCommand *cmd, FILE *out) {
    print_synopsis(cmd, out);
    if (cmd->about) fprintf(out, "\n%s", cmd->about);
    if (!cmd->nopts || !cmd->opts[0].section) fprintf(out, "\noptions:\n");
    int column = 0;
    char label[128];
    for (int i = 0; i < cmd->nopts; i++) {
        int w = option_label(&cmd->opts[i], label, sizeof label) + 2;
        if (w > column && w <= 24) column = w;
    }
    if (column < 17) column = 17;
    for (int i = 0; i < cmd->nopts; i++) {
        if (cmd->opts[i].section) fprintf(out, "\n%s options:\n", cmd->opts[i].section);
        option_label(&cmd->opts[i], label, sizeof label);
        print_option(out, label, cmd->opts[i].help ? cmd->opts[i].help : "", column);
    }
    print_option(out, "  -h, --help", "this help", column);
    if (cmd->epilog) fprintf(out, "\n%s", cmd->epilog);
}

/* ------------------------------------------------------------------ parsing */

/* The option argument a names (with or without "=value"), or NULL. */
static const OptSpec *find_option(const OptCommand *cmd, const char *a, const char **inline_value) {
    const char *eq = strchr(a, '=');
    size_t n = eq ? (size_t)(eq - a) : strlen(a);
    for (int i = 0; i < cmd->nopts; i++) {
        const OptSpec *o = &cmd->opts[i];
        if ((strlen(o->name) == n && !strncmp(o->name, a, n)) ||
            (o->alias && strlen(o->alias) == n && !strncmp(o->alias, a, n))) {
            *inline_value = eq ? eq + 1 : NULL;
            return o;
        }
    }
    return NULL;
}

static int check_args(const OptCommand *cmd, const StringList *args) {
    if (args->n < cmd->min_args) return opt_usage_error(cmd, "no input file");
    for (int i = 0, stdin_args = 0; i < args->n; i++)
        if (!strcmp(args->v[i], "-") && ++stdin_args > 1)
            return opt_usage_error(cmd, "'-' (standard input) given twice: it can be read once");
    if (cmd->max_args == 0 && args->n > 0) return opt_usage_error(cmd, "unexpected argument '%s'", shown_text(args->v[0], strlen(args->v[0]), (char[SHOWN_MAX]){0}));
    if (cmd->max_args > 0 && args->n > cmd->max_args)
        return opt_usage_error(cmd, "one file at a time ('%s' and '%s')%s%s", args->v[0], args->v[1],
                               cmd->args_hint ? ": " : "", cmd->args_hint ? cmd->args_hint : "");
    return OPT_GO;
}

int opt_check_output(const OptCommand *cmd, const char *output, const char *input) {
    if (!output || !input || !output_replaces(output, input)) return OPT_GO;
    return opt_usage_error(cmd, "--output '%s' would replace the input '%s'", output, input);
}

/* -o naming an input file would replace it with the output (mixc report a.mix -o a.mix). */
static int check_output(const OptCommand *cmd, const void *out, const StringList *args) {
    int rc = OPT_GO;
    for (int i = 0; i < cmd->nopts; i++) {
        if (strcmp(cmd->opts[i].name, "--output") != 0) continue;   /* OPT_OUTPUT's row: a string */
        const char *path = *(const char *const *)((const char *)out + cmd->opts[i].offset);
        for (int j = 0; j < args->n && rc == OPT_GO; j++) rc = opt_check_output(cmd, path, args->v[j]);
    }
    return rc;
}

/* One option at argv[*i]; OPT_GO or the exit status. */
static int take_option(const OptCommand *cmd, int argc, char **argv, int *i, void *out) {
    const char *a = argv[*i], *v;
    const OptSpec *o = find_option(cmd, a, &v);
    if (!o) return opt_usage_error(cmd, "unknown option '%s'", shown_text(a, strcspn(a, "="), (char[SHOWN_MAX]){0}));
    if (o->kind == OPT_FLAG) {
        if (v) return opt_usage_error(cmd, "%s takes no value", o->name);
    } else if (!v) {
        if (*i + 1 >= argc) return opt_usage_error(cmd, "%s needs a value", o->name);
        v = argv[++*i];
    }
    if (!take_value(o, v, out, argc)) {
        char expected[160];
        describe_expected(o, expected, sizeof expected);
        return opt_usage_error(cmd, "%s: bad value '%s' (%s)", o->name, shown_text(v, strlen(v), (char[SHOWN_MAX]){0}), expected);
    }
    return OPT_GO;
}

int opt_parse(const OptCommand *cmd, int argc, char **argv, void *out, StringList *args) {
    args->v = xcalloc((size_t)argc + 1, sizeof(char *));
    args->n = 0;
    bool options_end = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_end || a[0] != '-' || a[1] == '\0') {
            args->v[args->n++] = a;
        } else if (!strcmp(a, "--")) {
            options_end = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            opt_print_help(cmd, stdout);
            return 0;
        } else {
            int rc = take_option(cmd, argc, argv, &i, out);
            if (rc != OPT_GO) return rc;
        }
    }
    int rc = check_args(cmd, args);
    return rc == OPT_GO ? check_output(cmd, out, args) : rc;
}

void opt_free(const OptCommand *cmd, void *out, StringList *args) {
    for (int i = 0; i < cmd->nopts; i++) {
        if (cmd->opts[i].kind != OPT_STRINGS) continue;
        StringList *l = (StringList *)((char *)out + cmd->opts[i].offset);
        free(l->v);
        memset(l, 0, sizeof *l);
    }
    free(args->v);
    memset(args, 0, sizeof *args);
}
