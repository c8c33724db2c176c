/* dump.c — human-readable views of the pipeline's structures: the AST (--dump=ast), the
 * normalized layout (mixc check) and the sharing graph (--dump=graph). */
#include "mixc.h"

static void put_loc(FILE *out, SrcLoc l) { fprintf(out, "<%d:%d>", l.line, l.col); }

static void dump_attn(FILE *out, const AstAttn *a) {
    switch (a->syntax) {
    case ATTN_NAMED: fprintf(out, "kind %s", a->name); break;
    case ATTN_GLOBAL: fprintf(out, "global"); break;
    case ATTN_WINDOW: fprintf(out, "window %lld", (long long)a->window); break;
    }
}

static void dump_elem(FILE *out, const AstElem *e) {
    dump_attn(out, &e->attn);
    switch (e->ref.kind) {
    case REF_NONE: break;
    case REF_ABS: fprintf(out, " reads %lld", (long long)e->ref.n); break;
    case REF_REL: fprintf(out, " reads -%lld", (long long)e->ref.n); break;
    case REF_LAST: fprintf(out, " reads last"); break;
    }
    if (e->repeat != 1) fprintf(out, " * %lld", (long long)e->repeat);
    fputc(' ', out);
    put_loc(out, e->loc);
}

static void dump_value(FILE *out, const AstValue *v) {
    switch (v->kind) {
    case AV_INT: fprintf(out, "int %lld", (long long)v->i); break;
    case AV_REAL: fprintf(out, "real %g", v->r); break;
    case AV_IDENT: fprintf(out, "name %s", v->ident); break;
    case AV_BOOL: fprintf(out, "bool %s", v->i ? "true" : "false"); break;
    }
}

void dump_ast(const Ast *ast, FILE *out) {
    fprintf(out, "Model \"%s\" ", ast->name ? ast->name : "");
    put_loc(out, ast->header_loc);
    fputc('\n', out);
    for (const AstField *f = ast->fields; f; f = f->next) {
        fprintf(out, "  Field %s = ", f->key);
        dump_value(out, &f->value);
        fputc(' ', out);
        put_loc(out, f->loc);
        fputc('\n', out);
    }
    for (const AstStmt *s = ast->stmts; s; s = s->next) {
        switch (s->kind) {
        case STMT_KIND:
            fprintf(out, "Attention %s = ", s->name);
            dump_attn(out, &s->attn);
            break;
        case STMT_DEFAULT: fprintf(out, "Default"); break;
        case STMT_LAYERS:
            fprintf(out, "Layers");
            for (const AstSetItem *it = s->set; it; it = it->next) {
                fprintf(out, "%s %lld", it == s->set ? "" : ",", (long long)it->lo);
                if (it->hi != it->lo || it->step != 1) fprintf(out, "..%lld", (long long)it->hi);
                if (it->step != 1) fprintf(out, " step %lld", (long long)it->step);
            }
            if (s->is_pattern) fprintf(out, " pattern");
            break;
        }
        fputc(' ', out);
        put_loc(out, s->loc);
        fputc('\n', out);
        if (s->kind != STMT_KIND)
            for (const AstElem *e = s->elems; e; e = e->next) {
                fprintf(out, "  Elem ");
                dump_elem(out, e);
                fputc('\n', out);
            }
    }
}

static const char *window_text(int64_t w, char *buf, size_t n) {
    if (w == 0)
        snprintf(buf, n, "global");
    else
        snprintf(buf, n, "window %lld", (long long)w);
    return buf;
}

void print_layout(const Layout *l, FILE *out) {
    const ModelHeader *m = &l->model;
    fprintf(out, "model \"%s\": %lld layers, hidden %lld, heads %lld, kv_heads %lld, head_dim %lld, ffn %lld, vocab %lld\n",
            m->name, (long long)m->layers, (long long)m->hidden, (long long)m->heads, (long long)m->kv_heads,
            (long long)m->head_dim, (long long)m->ffn, (long long)m->vocab);
    fprintf(out, "dtype %s, kv_dtype %s, rope_theta %g, norm_eps %g, context %lld, chunk %lld, tie_embeddings %s\n",
            dtype_name(m->dtype), dtype_name(m->kv_dtype), m->rope_theta, m->norm_eps, (long long)m->context,
            (long long)m->chunk, m->tie_embeddings ? "true" : "false");
    int global = 0, owners_global = 0;
    for (int i = 0; i < l->nlayers; i++) {
        global += l->layer[i].window == 0;
        owners_global += l->layer[i].window == 0 && l->layer[i].reads == i;
    }
    fprintf(out, "%d layers (%d global, %d sliding), %d caches (%d global, %d sliding)\n\n", l->nlayers, global,
            l->nlayers - global, l->ncaches, owners_global, l->ncaches - owners_global);
    fprintf(out, "layer  attention      reads  cache\n");
    for (int i = 0; i < l->nlayers; i++) {
        const LayerInfo *li = &l->layer[i];
        char a[32];
        fprintf(out, "%5d  %-13s  %5d  %5d\n", i, window_text(li->window, a, sizeof a), li->reads, li->cache);
    }
}

void dump_graph(const Layout *l, FILE *out) {
    for (int k = 0; k < l->ncaches; k++) {
        const CacheInfo *ci = &l->cache[k];
        char a[32];
        fprintf(out, "cache %d: owner %d (%s), retention %s", k, ci->owner,
                window_text(l->layer[ci->owner].window, a, sizeof a),
                ci->retention ? "" : "unbounded");
        if (ci->retention) fprintf(out, "%lld tokens", (long long)ci->retention);
        fprintf(out, ", readers [");
        for (int r = 0; r < ci->nreaders; r++) {
            int x = ci->readers[r];
            fprintf(out, "%s%d (%s)", r ? ", " : "", x, window_text(l->layer[x].window, a, sizeof a));
        }
        fprintf(out, "]\n");
    }
}
