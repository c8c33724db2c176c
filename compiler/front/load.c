/* load.c — the one way to a layout from .mix text (read, parse, apply --set overrides, check), shared
 * by every command, the importers and the runtime. */
#include "mixc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ overrides (--set) */

/* Parses a --set value the way the .mix scanner would: integer (with _ and K/M/G), real, true/false
 * or a name. false when it is none of these. */
static bool parse_set_value(Arena *a, const char *s, AstValue *v) {
    memset(v, 0, sizeof *v);
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        v->kind = AV_BOOL;
        v->i = s[0] == 't';
        return true;
    }
    if ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_') {
        for (const char *p = s; *p; p++)
            if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
                return false;
        v->kind = AV_IDENT;
        v->ident = arena_strndup(a, s, strlen(s));
        return true;
    }
    int64_t x;
    if (parse_count(s + (*s == '-'), &x)) {
        v->kind = AV_INT;
        v->i = *s == '-' ? -x : x;
        v->r = (double)v->i;
        return true;
    }
    if (x < 0) return false;    /* a count, but past the 2^62 values a .mix may hold */
    char *end;
    errno = 0;
    double r = strtod(s, &end);
    if (end == s || *end || errno) return false;
    v->kind = AV_REAL;
    v->r = r;
    return true;
}

/* Replaces the size of every sliding window (syntax ATTN_WINDOW) or every chunked attention
 * (ATTN_CHUNKED) of the AST, in kind declarations and inline, by w. */
static void set_attn_sizes(AttnSyntax syntax, AstAttn *a, int64_t w) {
    if (a->syntax != syntax) return;
    if (syntax == ATTN_WINDOW) a->window = w;
    else a->chunked = w;
}

static void set_all_sizes(Ast *ast, AttnSyntax syntax, int64_t w) {
    for (AstStmt *s = ast->stmts; s; s = s->next) {
        if (s->kind == STMT_KIND) set_attn_sizes(syntax, &s->attn, w);
        for (AstElem *e = s->elems; e; e = e->next) set_attn_sizes(syntax, &e->attn, w);
    }
}

/* Applies one override to the AST: the field's value is replaced (or the field added). Returns 0;
 * 2 when the override itself is malformed (a message in err, a usage error); 1 when a window or
 * chunk size is not one (reported through d, as the header checks report a field's bad value). */
static int apply_set(Arena *a, Ast *ast, const char *set, Diag *d, char *err, size_t errlen) {
    const char *eq = strchr(set, '=');
    if (!eq || eq == set || !eq[1]) {
        snprintf(err, errlen, "--set needs key=value, not '%s'", set);
        return 2;
    }
    char *key = arena_strndup(a, set, (size_t)(eq - set));
    AstValue v;
    if (!parse_set_value(a, eq + 1, &v)) {
        snprintf(err, errlen, "--set: cannot read the value in '%s'", set);
        return 2;
    }
    if (strcmp(key, "window") == 0 || strcmp(key, "chunked") == 0) {
        const SrcLoc none = {0};   /* an override has no place in the file: the message names the file */
        if (v.kind != AV_INT) diag_at(d, DIAG_ERROR, none, "'%s' must be an integer", key);
        else if (v.i < 1) diag_at(d, DIAG_ERROR, none, "'%s' must be at least 1, not %lld", key, (long long)v.i);
        if (v.kind != AV_INT || v.i < 1) return 1;
        set_all_sizes(ast, strcmp(key, "window") == 0 ? ATTN_WINDOW : ATTN_CHUNKED, v.i);
        return 0;
    }
    for (AstField *f = ast->fields; f; f = f->next) {
        if (strcmp(f->key, key) == 0) {
            f->value = v;   /* no location: messages then name the file only */
            return 0;
        }
    }
    AstField *f = arena_alloc(a, sizeof *f);
    f->key = key;
    f->value = v;
    AstField **tail = &ast->fields;
    while (*tail) tail = &(*tail)->next;
    *tail = f;
    return 0;
}

/* ------------------------------------------------------------------ the loader */

static const char *load_prog(const LoadOptions *opt) {
    return opt && opt->prog ? opt->prog : prog_name();
}

int load_layout_text(const char *name, const char *text, size_t len, const LoadOptions *opt, Layout *out,
                     FILE *diag_out) {
    memset(out, 0, sizeof *out);
    SourceFile src = {name, text, len};
    Diag diag;
    diag_init(&diag, &src, diag_out);
    Arena local = {0};
    Arena *arena = opt && opt->arena && opt->ast ? opt->arena : &local;
    Ast ast;
    bool parsed = parse_source(&src, arena, &diag, &ast);
    int rc = 0;
    char err[256];
    for (int i = 0; opt && i < opt->nsets && rc == 0; i++) {
        rc = apply_set(arena, &ast, opt->sets[i], &diag, err, sizeof err);
        if (rc == 2) fprintf(diag_out, "%s: %s\n", load_prog(opt), err);
    }
    if (opt && opt->arena && opt->ast) *opt->ast = ast;
    /* Check even a partial AST, so one run reports the syntax errors and the others. */
    if (rc == 0 && !(check_ast(&ast, &diag, out) && parsed)) rc = 1;
    if (rc == 0 && opt && opt->pp && !pipeline_stages_fit(out, opt->pp, err, sizeof err))
        fprintf(diag_out, "%s: '%s': %s\n", load_prog(opt), name, err), rc = 2;
    if (rc) layout_free(out);
    arena_free(&local);
    return rc;
}

int load_layout_file(const char *path, const LoadOptions *opt, Layout *out, FILE *diag_out) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = read_file(path, &len);
    if (!text && errno == EFBIG) {  /* an input error, as a file of junk would be */
        fprintf(diag_out, "%s: '%s' is larger than the %zu MiB a layout may take\n", load_prog(opt), path,
                READ_FILE_LIMIT >> 20);
        return 1;
    }
    if (!text) {
        fprintf(diag_out, "%s: cannot read '%s': %s\n", load_prog(opt), path, strerror(errno));
        return 2;
    }
    int rc = load_layout_text(strcmp(path, "-") == 0 ? "<stdin>" : path, text, len, opt, out, diag_out);
    if (opt && opt->text) {
        *opt->text = text;
        *opt->len = len;
    } else {
        free(text);
    }
    return rc;
}

int load_layout(const char *path, Layout *out, FILE *diag_out) {
    return load_layout_file(path, NULL, out, diag_out);
}
