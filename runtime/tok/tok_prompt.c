/* tok_prompt.c — mixrun's text prompts and text output (tok_prompt.h). */
#include "tok_prompt.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mixc.h"

/* The directory of --weights' tokenizer: weights itself when a directory, else the one holding it. */
static char *beside(const char *weights) {
    struct stat st;
    char *copy = xstrdup(weights);
    char *where = !stat(weights, &st) && S_ISDIR(st.st_mode) ? xstrdup(weights) : xstrdup(dirname(copy));
    free(copy);
    return where;
}

bool text_tokenizer_beside(const char *weights) {
    char *dir = beside(weights), path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    free(dir);
    struct stat st;
    return stat(path, &st) == 0;
}

Tokenizer *text_tokenizer_open(const char *tokenizer, const char *weights) {
    char *where = tokenizer ? NULL : beside(weights);
    char err[1024];
    Tokenizer *t = tokenizer_load(tokenizer ? tokenizer : where, err, sizeof err);
    if (!t) fprintf(stderr, "%s: %s%s\n", prog_name(), err, tokenizer ? "" : " (give --tokenizer FILE|DIR)");
    free(where);
    return t;
}

bool text_prompt(const Tokenizer *t, const char *text, const char *text_file, int32_t **ids, int64_t *n) {
    size_t len = text ? strlen(text) : 0;
    char *owned = NULL, err[512];
    if (text_file) {
        owned = read_file_limited(text_file, TOK_MAX_TEXT, &len);
        if (!owned) {
            fprintf(stderr, "%s: cannot read '%s': %s\n", prog_name(), text_file, strerror(errno));
            return false;
        }
        text = owned;
    }
    bool ok = tokenizer_encode(t, text, len, true, ids, n, err, sizeof err);
    if (!ok) fprintf(stderr, "%s: %s: %s\n", prog_name(), text_file ? text_file : "--text", err);
    if (ok && *n == 0) {
        fprintf(stderr, "%s: %s: the text makes no tokens\n", prog_name(), text_file ? text_file : "--text");
        free(*ids);
        *ids = NULL;
        ok = false;
    }
    free(owned);
    return ok;
}

bool text_print_generated(const Tokenizer *t, const int32_t *ids, int64_t n, bool print_ids, const EosIds *eos) {
    char err[512];
    size_t len;
    bool ended = n > 0 && eos_ids_has(eos, ids[n - 1]);
    char *text = tokenizer_decode(t, ids, n - ended, false, &len, err, sizeof err);
    if (!text) {
        fprintf(stderr, "%s: the generated %s\n", prog_name(), err);
        return false;
    }
    if (print_ids) {
        for (int64_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", ids[i]);
        printf("\n");
    }
    fwrite(text, 1, len, stdout);
    printf("\n");
    free(text);
    return true;
}
