/* load.c — the pipeline up to the layout (read, parse, check), shared by every command and the
 * runtime, and the layout as JSON. */
#include "mixc.h"

#include <errno.h>
#include <stdlib.h>
#include <jansson.h>
#include <string.h>

/* ------------------------------------------------------------------ the pipeline up to the layout */

/* Reads, parses and checks one file. Diagnostics go to diag_out. 0 ok, 1 input errors, 2 unreadable.
 * With ast_out/arena (both non-NULL), the AST is kept for --dump=ast; the caller frees the arena. */
int load_layout_ex(const char *path, Layout *out, FILE *diag_out, Arena *arena, Ast *ast_out) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(diag_out, "mixc: cannot read '%s': %s\n", path, strerror(errno));
        return 2;
    }
    if (len > (size_t)1 << 30) {
        fprintf(diag_out, "mixc: '%s' is too large (%zu bytes)\n", path, len);
        free(text);
        return 1;
    }
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

int load_layout(const char *path, Layout *out, FILE *diag_out) {
    return load_layout_ex(path, out, diag_out, NULL, NULL);
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

