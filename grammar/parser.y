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
    int last_end_line, last_end_col;  /* where the last token ended (exclusive column) */
    SrcLoc bracket_loc; /* the outermost '[' still open */
    bool unclosed_bracket;  /* the scanner ended a statement at an unclosed '[' */
};
struct ParseCtx {
    Arena *arena;
    Diag *diag;
    Ast *ast;
    AstStmt **stmt_tail;
    int hint_errors;    /* diag->errors right after the parser's last syntax error */
    bool lost;          /* error recovery dropped tokens: statements may be lost */
};
#define YYLTYPE MIXLTYPE
}

%code provides {
#define YYSTYPE MIXSTYPE
int mixlex(MIXSTYPE *yylval, MIXLTYPE *yylloc, void *scanner);
}

%code {
#include <limits.h>
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
static AstField *new_field(struct ParseCtx *ctx, const char *key, MIXLTYPE kloc, AstValue v);
static void second_header(struct ParseCtx *ctx, MIXLTYPE loc);

/* A syntax error production: tokens were dropped; its hint belongs to the parser's own message
 * (not to an error the scanner reported, for which the parser recovers silently). */
#define RECOVERED(...)                                                                    \
    do {                                                                                  \
        ctx->lost = true;                                                                 \
        if (ctx->diag->errors == ctx->hint_errors) diag_hint(ctx->diag, __VA_ARGS__);     \
    } while (0)
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
    struct { AstField *head, *tail; } fields;
}

%token <integer> INT "integer"
%token <real> REAL "real number"
%token <text> IDENT "name" STRING "string"
%token EOS "end of statement"
%token DOTDOT ".."
%token MODEL "'model'" ATTENTION "'attention'" DEFAULT "'default'"
%token <text> LAYER "'layers'"
%token PATTERN "'pattern'" READS "'reads'" WINDOW "'window'" CHUNKED "'chunked'" GLOBAL "'global'" STEP "'step'"
%token TRUE_KW "'true'" FALSE_KW "'false'" PREV "'prev'" LAST "'last'"

%type <value> value prop_value
%type <attn> attn
%type <ref> ref
%type <elem> elem pelem
%type <elems> elems
%type <item> item
%type <items> set
%type <integer> sint
%type <text> model_name field_key
%type <fields> fields kind_props

%%

file
    : header stmts
    | error {
          RECOVERED("a layout starts with its header: model \"NAME\" { layers = ... }");
          ctx->ast->kinds_lost = true;
      } stmts
    ;

header
    : MODEL model_name[name] '{' fields '}' EOS {
          ctx->ast->has_header = true;
          ctx->ast->name = $name;
          ctx->ast->name_loc = loc_of(@name);
          ctx->ast->header_loc = loc_of(@MODEL);
          ctx->ast->fields = $fields.head;
      }
    ;

model_name
    : STRING
    | IDENT
    ;

fields
    : %empty                 { $$.head = $$.tail = NULL; }
    | fields[list] field_key[key] '=' value EOS {
          AstField *f = new_field(ctx, $key, @key, $value);
          $$ = $list;
          if ($$.tail) $$.tail->next = f; else $$.head = f;
          $$.tail = f;
      }
    | fields EOS             { $$ = $1; }
    | fields error EOS       { $$ = $1; RECOVERED("a header field is 'key = value', one per line"); }
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

/* Error productions end with the EOS, so recovery drops the rest of the broken statement and resumes
 * at the next one; each says what the statement it recognized should look like. */
stmts
    : %empty
    | stmts stmt EOS
    | stmts EOS
    | stmts LAYER set ':' PATTERN error EOS {
          RECOVERED("a pattern lists attentions, each optionally with 'reads' and a repeat: pattern [local * 5, global reads 0]");
      }
    | stmts LAYER set error EOS { RECOVERED("a layer statement is 'layers 0..11 : ATTENTION [reads LAYER]'"); }
    | stmts DEFAULT error EOS { RECOVERED("the default statement is 'default : ATTENTION [reads LAYER]'"); }
    | stmts ATTENTION error EOS {
          RECOVERED("an attention kind is declared as 'attention NAME = global', 'attention NAME = window W' or 'attention NAME = chunked C'");
          ctx->ast->kinds_lost = true;
      }
    | stmts MODEL error EOS { RECOVERED("the model header comes once, at the top of the file"); }
    | stmts error EOS { ctx->lost = ctx->ast->kinds_lost = true; }
    ;

stmt
    : ATTENTION IDENT[name] '=' attn kind_props {
          AstStmt *s = new_stmt(ctx, STMT_KIND, @$);
          s->name = $name;
          s->name_loc = loc_of(@name);
          s->attn = $attn;
          s->props = $kind_props.head;
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
    | MODEL model_name '{' fields '}' { second_header(ctx, @MODEL); }
    ;

/* A kind's properties after its attention: 'rope_theta R', 'nope' (rope_check.c checks them). A bare
 * name has the value true. */
kind_props
    : %empty                { $$.head = $$.tail = NULL; }
    | kind_props[list] IDENT[key] prop_value {
          AstField *f = new_field(ctx, $key, @key, $prop_value);
          $$ = $list;
          if ($$.tail) $$.tail->next = f; else $$.head = f;
          $$.tail = f;
      }
    ;

prop_value
    : %empty       { $$ = (AstValue){.kind = AV_BOOL, .i = 1, .loc = loc_of(@$)}; }
    | INT          { $$ = (AstValue){.kind = AV_INT, .i = $1, .r = (double)$1, .loc = loc_of(@$)}; }
    | REAL         { $$ = (AstValue){.kind = AV_REAL, .r = $1, .loc = loc_of(@$)}; }
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
    | CHUNKED sint  { $$ = (AstAttn){.syntax = ATTN_CHUNKED, .chunked = $sint, .loc = loc_of(@$)}; }
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
    const char *prefix = "syntax error, ";
    if (strncmp(msg, prefix, strlen(prefix)) == 0) msg += strlen(prefix);
    diag_at(ctx->diag, DIAG_ERROR, loc_of(*loc), "%s", msg);
    struct LexState *ls = mixget_extra(scanner);
    if (ls->unclosed_bracket) {
        diag_at(ctx->diag, DIAG_NOTE, ls->bracket_loc, "the '[' opened here is not closed");
        ls->unclosed_bracket = false;
    }
    ctx->hint_errors = ctx->diag->errors;
    ctx->lost = true;
}

static AstField *new_field(struct ParseCtx *ctx, const char *key, MIXLTYPE kloc, AstValue v) {
    AstField *f = arena_alloc(ctx->arena, sizeof *f);
    f->key = key;
    f->value = v;
    f->loc = loc_of(kloc);
    return f;
}

/* A complete second header: parsed (its syntax errors reported) and dropped. The statements around
 * it are intact, so this does not make the AST partial. */
static void second_header(struct ParseCtx *ctx, MIXLTYPE loc) {
    if (!ctx->ast->has_header) {
        diag_at(ctx->diag, DIAG_ERROR, loc_of(loc), "the model header must come first in the file");
        return;
    }
    diag_at(ctx->diag, DIAG_ERROR, loc_of(loc), "a second model header");
    diag_at(ctx->diag, DIAG_NOTE, ctx->ast->header_loc, "the model header is here");
    diag_hint(ctx->diag, "a file describes one model: put the other model in a file of its own");
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

/* Binary input (a program passed by mistake, /dev/zero) gets one error, not one per byte. */
static bool reject_binary(const SourceFile *src, Diag *diag) {
    size_t offset;
    const char *what;
    if (!source_is_binary(src->text, src->len, &offset, &what)) return false;
    long long line = 1;
    for (size_t i = 0; i < offset; i++) line += src->text[i] == '\n';
    diag_at(diag, DIAG_ERROR, (SrcLoc){0}, "this does not look like a text layout (%s at offset %zu, line %lld)",
            what, offset, line);
    diag_hint(diag, "a layout is a text file (docs/language.md)");
    return true;
}

bool parse_source(const SourceFile *src, Arena *arena, Diag *diag, Ast *out) {
    memset(out, 0, sizeof *out);
    struct LexState ls = {.arena = arena, .diag = diag, .last_token = EOS};
    struct ParseCtx ctx = {.arena = arena, .diag = diag, .ast = out, .stmt_tail = &out->stmts,
                           .hint_errors = -1};
    int errors_before = diag->errors;
    if (reject_binary(src, diag)) {
        out->errors = diag->errors - errors_before;
        out->partial = out->kinds_lost = true;
        return false;
    }
    /* A UTF-8 byte order mark is not part of the text (diag.c skips it too when showing line 1). */
    size_t skip = src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    yyscan_t scanner;
    if (mixlex_init_extra(&ls, &scanner) != 0) fatal("cannot initialize the scanner");
    YY_BUFFER_STATE buf = mix_scan_bytes(src->text + skip, (int)(src->len - skip), scanner);
    int rc = mixparse(scanner, &ctx);
    mix_delete_buffer(buf, scanner);
    mixlex_destroy(scanner);
    out->errors = diag->errors - errors_before;
    out->partial = rc != 0 || ctx.lost;
    if (rc != 0) out->kinds_lost = true;
    return diag->errors == errors_before && !out->partial;
}
