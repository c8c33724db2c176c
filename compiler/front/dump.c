/* dump.c — the AST as text (--dump=ast). The layout's text forms (mixc check, --dump=graph) are in
 * ir/layout.c. */
#include "mixc.h"

static void put_loc(FILE *out, SrcLoc l) { fprintf(out, "<%d:%d>", l.line, l.col); }

static void dump_attn(FILE *out, const AstAttn *a) {
    switch (a->syntax) {
    case ATTN_NAMED: fprintf(out, "kind %s", a->name); break;
    case ATTN_GLOBAL: fprintf(out, "global"); break;
    case ATTN_WINDOW: fprintf(out, "window %lld", (long long)a->window); break;   /* as written, 0 too */
    case ATTN_CHUNKED: fprintf(out, "chunked %lld", (long long)a->chunked); break;
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
