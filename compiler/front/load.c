/* load.c — the pipeline up to the layout (read, parse, check), shared by every command and the
 * runtime, and the layout as JSON. */
#include "mixc.h"

#include <errno.h>
#include <stdlib.h>
#include <jansson.h>
#include <string.h>

/* ------------------------------------------------------------------ the pipeline up to the layout */

/* The text of a layout file, or NULL with a message and *rc: 1 larger than READ_FILE_LIMIT, 2
 * unreadable. */
static char *read_layout_file(const char *path, size_t *len, FILE *diag_out, int *rc) {
    char *text = read_file(path, len);
    if (!text && errno == EFBIG) {
        fprintf(diag_out, "mixc: '%s' is larger than the %zu MiB a layout may take\n", path, READ_FILE_LIMIT >> 20);
        *rc = 1;
    } else if (!text) {
        fprintf(diag_out, "mixc: cannot read '%s': %s\n", path, strerror(errno));
        *rc = 2;
    }
    return text;
}

/* Reads, parses and checks one file. Diagnostics go to diag_out. 0 ok, 1 input errors, 2 unreadable.
 * With ast_out/arena (both non-NULL), the AST is kept for --dump=ast; the caller frees the arena. */
int load_layout_ex(const char *path, Layout *out, FILE *diag_out, Arena *arena, Ast *ast_out) {
    memset(out, 0, sizeof *out);
    size_t len;
    int rc = 0;
    char *text = read_layout_file(path, &len, diag_out, &rc);
    if (!text) return rc;
    SourceFile src = {strcmp(path, "-") == 0 ? "<stdin>" : path, text, len};
    Diag diag;
    diag_init(&diag, &src, diag_out);
    Arena local = {0};
    Arena *a = arena ? arena : &local;
    Ast ast;
    bool parsed = parse_source(&src, a, &diag, &ast);
    /* Check even a partial AST, so one run reports the syntax errors and the others. */
    bool ok = check_ast(&ast, &diag, out) && parsed;
    if (!ok) layout_free(out);
    if (ast_out) *ast_out = ast;
    arena_free(&local);
    free(text);
    return ok ? 0 : 1;
}

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
    const char *p = s + (*s == '-');
    int64_t x = 0, scale = 1;
    bool digits = false;
    for (; (*p >= '0' && *p <= '9') || (*p == '_' && digits); p++) {
        if (*p == '_') continue;
        digits = true;
        if (!mul_ok(x, 10, &x) || !add_ok(x, *p - '0', &x)) return false;
    }
    if (digits && (*p == 'k' || *p == 'K')) scale = INT64_C(1) << 10, p++;
    else if (digits && (*p == 'm' || *p == 'M')) scale = INT64_C(1) << 20, p++;
    else if (digits && (*p == 'g' || *p == 'G')) scale = INT64_C(1) << 30, p++;
    if (digits && !*p) {
        if (!mul_ok(x, scale, &x) || x >= MIXC_MAX_VALUE) return false;
        v->kind = AV_INT;
        v->i = *s == '-' ? -x : x;
        v->r = (double)v->i;
        return true;
    }
    char *end;
    errno = 0;
    double r = strtod(s, &end);
    if (end == s || *end || errno) return false;
    v->kind = AV_REAL;
    v->r = r;
    return true;
}

/* Replaces every sliding window of the AST (kind declarations and inline windows) by w. */
static void set_all_windows(Ast *ast, int64_t w) {
    for (AstStmt *s = ast->stmts; s; s = s->next) {
        if (s->kind == STMT_KIND && s->attn.syntax == ATTN_WINDOW) s->attn.window = w;
        for (AstElem *e = s->elems; e; e = e->next)
            if (e->attn.syntax == ATTN_WINDOW) e->attn.window = w;
    }
}

/* Applies one override to the AST: the field's value is replaced (or the field added). false with
 * a message in err when the override itself is malformed. */
static bool apply_set(Arena *a, Ast *ast, const char *set, char *err, size_t errlen) {
    const char *eq = strchr(set, '=');
    if (!eq || eq == set || !eq[1]) {
        snprintf(err, errlen, "--set needs key=value, not '%s'", set);
        return false;
    }
    char *key = arena_strndup(a, set, (size_t)(eq - set));
    AstValue v;
    if (!parse_set_value(a, eq + 1, &v)) {
        snprintf(err, errlen, "--set: cannot read the value in '%s'", set);
        return false;
    }
    if (strcmp(key, "window") == 0) {
        if (v.kind != AV_INT || v.i < 1) {
            snprintf(err, errlen, "--set window needs an integer >= 1, not '%s'", eq + 1);
            return false;
        }
        set_all_windows(ast, v.i);
        return true;
    }
    for (AstField *f = ast->fields; f; f = f->next) {
        if (strcmp(f->key, key) == 0) {
            f->value = v;   /* no location: messages then name the file only */
            return true;
        }
    }
    AstField *f = arena_alloc(a, sizeof *f);
    f->key = key;
    f->value = v;
    AstField **tail = &ast->fields;
    while (*tail) tail = &(*tail)->next;
    *tail = f;
    return true;
}

int load_layout_text(const char *name, const char *text, size_t len, const char *const *sets, int nsets,
                     Layout *out, FILE *diag_out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    SourceFile src = {name, text, len};
    Diag diag;
    diag_init(&diag, &src, diag_out);
    Arena arena = {0};
    Ast ast;
    bool parsed = parse_source(&src, &arena, &diag, &ast);
    int rc = 0;
    for (int i = 0; i < nsets && rc == 0; i++)
        if (!apply_set(&arena, &ast, sets[i], err, errlen)) rc = 2;
    /* Check even a partial AST, so one run reports the syntax errors and the others. */
    if (rc == 0 && !(check_ast(&ast, &diag, out) && parsed)) rc = 1;
    if (rc) layout_free(out);
    arena_free(&arena);
    return rc;
}

int load_layout(const char *path, Layout *out, FILE *diag_out) {
    return load_layout_ex(path, out, diag_out, NULL, NULL);
}

int load_layout_sets(const char *path, const char *const *sets, int nsets, Layout *out, FILE *diag_out) {
    if (nsets == 0) return load_layout(path, out, diag_out);
    memset(out, 0, sizeof *out);
    size_t len;
    int rc = 0;
    char *text = read_layout_file(path, &len, diag_out, &rc);
    if (!text) return rc;
    char err[256] = "";
    rc = load_layout_text(path, text, len, sets, nsets, out, diag_out, err, sizeof err);
    if (rc == 2) fprintf(diag_out, "mixc: --set: %s\n", err);
    free(text);
    return rc;
}

struct json_t *layout_json(const Layout *l) {
    const ModelHeader *m = &l->model;
    json_t *model = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:f, s:f, s:I, s:I, s:b}",
                              "name", m->name, "layers", (json_int_t)m->layers, "hidden", (json_int_t)m->hidden,
                              "heads", (json_int_t)m->heads, "kv_heads", (json_int_t)m->kv_heads,
                              "head_dim", (json_int_t)m->head_dim, "ffn", (json_int_t)m->ffn,
                              "vocab", (json_int_t)m->vocab, "dtype", dtype_name(m->dtype),
                              "kv_dtype", dtype_name(m->kv_dtype), "rope_theta", m->rope_theta,
                              "norm_eps", m->norm_eps, "context", (json_int_t)m->context,
                              "chunk", (json_int_t)m->chunk, "tie_embeddings", m->tie_embeddings);
    json_t *layers = json_array();
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        json_array_append_new(layers, json_pack("{s:i, s:s, s:o, s:i, s:i}", "index", i, "attention",
                                                li->window ? "sliding" : "global", "window",
                                                li->window ? json_integer(li->window) : json_null(),
                                                "reads", li->reads, "cache", li->cache));
    }
    json_t *caches = json_array();
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        json_t *readers = json_array();
        for (int r = 0; r < ci->nreaders; r++) json_array_append_new(readers, json_integer(ci->readers[r]));
        json_array_append_new(caches, json_pack("{s:i, s:i, s:o, s:o}", "id", k, "owner", ci->owner, "readers",
                                                readers, "retention",
                                                ci->retention ? json_integer(ci->retention) : json_null()));
    }
    return json_pack("{s:o, s:o, s:o}", "model", model, "layers", layers, "caches", caches);
}

