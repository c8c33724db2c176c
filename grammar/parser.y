/* parser.y — the .mix grammar: a pure, reentrant LALR(1) parser with locations.
 * Builds the AST (mixc.h) in an arena; every node carries its source location. Syntax errors are
 * reported through diag with what was expected, recovery resumes at the next statement, so one run
 * reports every error. See docs/language.md for the language. */
%define api.pure full
%define api.prefix {mix}
%define parse.error detailed
%locations
%expect 0
%param {void *scanner}
%parse-param {struct ParseCtx *ctx}

%code requires {
#include "mixc.h"
struct LexState {
    Arena *arena;
    Diag *diag;
    int last_token;
    int bracket_depth;
    int line, col;      /* the scanner's cursor */
};
struct ParseCtx {
    Arena *arena;
    Diag *diag;
    Ast *ast;
    AstField **field_tail;
    AstStmt **stmt_tail;
};
#define YYLTYPE MIXLTYPE
}

%code provides {
#define YYSTYPE MIXSTYPE
int mixlex(MIXSTYPE *yylval, MIXLTYPE *yylloc, void *scanner);
}

%code {
#include <string.h>

static SrcLoc loc_of(MIXLTYPE l) {
    SrcLoc s = {l.first_line, l.first_column, l.last_line, l.last_column - 1};
    return s;
}
static SrcLoc loc_span(MIXLTYPE a, MIXLTYPE b) {
    SrcLoc s = {a.first_line, a.first_column, b.last_line, b.last_column - 1};
    return s;
}
static void mixerror(MIXLTYPE *loc, void *scanner, struct ParseCtx *ctx, const char *msg);
static void add_field(struct ParseCtx *ctx, const char *key, MIXLTYPE kloc, AstValue v);
static AstStmt *new_stmt(struct ParseCtx *ctx, StmtKind kind, MIXLTYPE loc);
static AstSetItem *new_item(struct ParseCtx *ctx, int64_t lo, int64_t hi, int64_t step, SrcLoc loc);
}

%union {
    int64_t integer;
    double real;
    const char *text;
    AstValue value;
    AstAttn attn;
    AstRef ref;
    AstElem *elem;
    AstSetItem *item;
    struct { AstElem *head, *tail; } elems;
    struct { AstSetItem *head, *tail; } items;
}

%token <integer> INT "integer"
%token <real> REAL "real number"
%token <text> IDENT "name" STRING "string"
%token EOS "end of statement"
%token DOTDOT ".."
%token MODEL "'model'" ATTENTION "'attention'" DEFAULT "'default'"
%token <text> LAYER "'layers'"
%token PATTERN "'pattern'" READS "'reads'" WINDOW "'window'" GLOBAL "'global'" STEP "'step'"
%token TRUE_KW "'true'" FALSE_KW "'false'" PREV "'prev'" LAST "'last'"

%type <value> value
%type <attn> attn
%type <ref> ref
%type <elem> elem pelem
%type <elems> elems
%type <item> item
%type <items> set
%type <integer> sint
%type <text> model_name field_key

%%

file
    : header stmts
    | error { diag_hint(ctx->diag, "a layout starts with its header: model \"NAME\" { layers = ... }"); } stmts
    ;

header
    : MODEL model_name[name] '{' fields '}' EOS {
          ctx->ast->has_header = true;
          ctx->ast->name = $name;
          ctx->ast->name_loc = loc_of(@name);
          ctx->ast->header_loc = loc_of(@MODEL);
      }
    ;

model_name
    : STRING
    | IDENT
    ;

fields
    : %empty
    | fields field EOS
    | fields EOS
    | fields error EOS { diag_hint(ctx->diag, "a header field is 'key = value', one per line"); }
    ;

field
    : field_key[key] '=' value { add_field(ctx, $key, @key, $value); }
    ;

/* 'layers' is a keyword of layer statements and also the header's layer count. */
field_key
    : IDENT
    | LAYER
    ;

value
    : INT          { $$ = (AstValue){.kind = AV_INT, .i = $1, .r = (double)$1, .loc = loc_of(@$)}; }
    | '-' INT      { $$ = (AstValue){.kind = AV_INT, .i = -$2, .r = -(double)$2, .loc = loc_of(@$)}; }
    | REAL         { $$ = (AstValue){.kind = AV_REAL, .r = $1, .loc = loc_of(@$)}; }
    | '-' REAL     { $$ = (AstValue){.kind = AV_REAL, .r = -$2, .loc = loc_of(@$)}; }
    | IDENT        { $$ = (AstValue){.kind = AV_IDENT, .ident = $1, .loc = loc_of(@$)}; }
    | TRUE_KW      { $$ = (AstValue){.kind = AV_BOOL, .i = 1, .loc = loc_of(@$)}; }
    | FALSE_KW     { $$ = (AstValue){.kind = AV_BOOL, .i = 0, .loc = loc_of(@$)}; }
    ;

stmts
    : %empty
    | stmts stmt EOS
    | stmts EOS
    | stmts error EOS
    ;

stmt
    : ATTENTION IDENT[name] '=' attn {
          AstStmt *s = new_stmt(ctx, STMT_KIND, @$);
          s->name = $name;
          s->name_loc = loc_of(@name);
          s->attn = $attn;
      }
    | LAYER set ':' elem {
          AstStmt *s = new_stmt(ctx, STMT_LAYERS, @$);
          s->set = $set.head;
          s->elems = $elem;
      }
    | LAYER set ':' PATTERN '[' elems ']' {
          AstStmt *s = new_stmt(ctx, STMT_LAYERS, @$);
          s->set = $set.head;
          s->is_pattern = true;
          s->elems = $elems.head;
      }
    | DEFAULT ':' elem {
          AstStmt *s = new_stmt(ctx, STMT_DEFAULT, @$);
          s->elems = $elem;
      }
    | LAYER set ':' PATTERN error {
          diag_hint(ctx->diag, "a pattern lists attentions, each optionally with 'reads' and a repeat: pattern [local * 5, global reads 0]");
      }
    | LAYER set error { diag_hint(ctx->diag, "a layer statement is 'layers 0..11 : ATTENTION [reads LAYER]'"); }
    | DEFAULT error { diag_hint(ctx->diag, "the default statement is 'default : ATTENTION [reads LAYER]'"); }
    | ATTENTION error { diag_hint(ctx->diag, "an attention kind is declared as 'attention NAME = global' or 'attention NAME = window W'"); }
    | MODEL error { diag_hint(ctx->diag, "the model header comes once, at the top of the file"); }
    ;

set
    : item          { $$.head = $$.tail = $1; }
    | set ',' item  { $$ = $1; $$.tail->next = $3; $$.tail = $3; }
    ;

item
    : INT                          { $$ = new_item(ctx, $1, $1, 1, loc_of(@$)); }
    | INT DOTDOT INT               { $$ = new_item(ctx, $1, $3, 1, loc_of(@$)); }
    | INT DOTDOT INT STEP INT      { $$ = new_item(ctx, $1, $3, $5, loc_span(@1, @5)); }
    ;

elems
    : pelem            { $$.head = $$.tail = $1; }
    | elems ',' pelem  { $$ = $1; $$.tail->next = $3; $$.tail = $3; }
    ;

pelem
    : elem
    | elem '*' INT     { $$ = $1; $$->repeat = $3; $$->loc = loc_of(@$); }
    ;

elem
    : attn {
          $$ = arena_alloc(ctx->arena, sizeof(AstElem));
          $$->attn = $attn;
          $$->repeat = 1;
          $$->loc = loc_of(@$);
      }
    | attn READS ref {
          $$ = arena_alloc(ctx->arena, sizeof(AstElem));
          $$->attn = $attn;
          $$->ref = $ref;
          $$->repeat = 1;
          $$->loc = loc_of(@$);
      }
    ;

attn
    : IDENT         { $$ = (AstAttn){.syntax = ATTN_NAMED, .name = $1, .loc = loc_of(@$)}; }
    | GLOBAL        { $$ = (AstAttn){.syntax = ATTN_GLOBAL, .loc = loc_of(@$)}; }
    | WINDOW sint   { $$ = (AstAttn){.syntax = ATTN_WINDOW, .window = $sint, .loc = loc_of(@$)}; }
    ;

sint
    : INT           { $$ = $1; }
    | '-' INT       { $$ = -$2; }
    ;

ref
    : INT           { $$ = (AstRef){.kind = REF_ABS, .n = $1, .loc = loc_of(@$)}; }
    | '-' INT       { $$ = (AstRef){.kind = REF_REL, .n = $2, .loc = loc_of(@$)}; }
    | PREV          { $$ = (AstRef){.kind = REF_REL, .n = 1, .loc = loc_of(@$)}; }
    | LAST          { $$ = (AstRef){.kind = REF_LAST, .loc = loc_of(@$)}; }
    ;

%%

#include "lexer.h"

/* Bison's detailed message is "syntax error, unexpected X, expecting Y or Z": keep the facts and
 * drop the prefix, so it reads "unexpected X, expecting Y or Z". */
static void mixerror(MIXLTYPE *loc, void *scanner, struct ParseCtx *ctx, const char *msg) {
    (void)scanner;
    const char *prefix = "syntax error, ";
    if (strncmp(msg, prefix, strlen(prefix)) == 0) msg += strlen(prefix);
    diag_at(ctx->diag, DIAG_ERROR, loc_of(*loc), "%s", msg);
}

static void add_field(struct ParseCtx *ctx, const char *key, MIXLTYPE kloc, AstValue v) {
    AstField *f = arena_alloc(ctx->arena, sizeof *f);
    f->key = key;
    f->value = v;
    f->loc = loc_of(kloc);
    *ctx->field_tail = f;
    ctx->field_tail = &f->next;
}

static AstStmt *new_stmt(struct ParseCtx *ctx, StmtKind kind, MIXLTYPE loc) {
    AstStmt *s = arena_alloc(ctx->arena, sizeof *s);
    s->kind = kind;
    s->loc = loc_of(loc);
    *ctx->stmt_tail = s;
    ctx->stmt_tail = &s->next;
    return s;
}

static AstSetItem *new_item(struct ParseCtx *ctx, int64_t lo, int64_t hi, int64_t step, SrcLoc loc) {
    AstSetItem *it = arena_alloc(ctx->arena, sizeof *it);
    it->lo = lo;
    it->hi = hi;
    it->step = step;
    it->loc = loc;
    return it;
}

bool parse_source(const SourceFile *src, Arena *arena, Diag *diag, Ast *out) {
    memset(out, 0, sizeof *out);
    struct LexState ls = {.arena = arena, .diag = diag, .last_token = EOS};
    struct ParseCtx ctx = {.arena = arena, .diag = diag, .ast = out,
                           .field_tail = &out->fields, .stmt_tail = &out->stmts};
    yyscan_t scanner;
    if (mixlex_init_extra(&ls, &scanner) != 0) fatal("cannot initialize the scanner");
    YY_BUFFER_STATE buf = mix_scan_bytes(src->text, (int)src->len, scanner);
    int errors_before = diag->errors;
    int rc = mixparse(scanner, &ctx);
    mix_delete_buffer(buf, scanner);
    mixlex_destroy(scanner);
    out->partial = rc != 0 || diag->errors != errors_before;
    return !out->partial;
}
