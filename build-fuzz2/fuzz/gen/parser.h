/* A Bison parser, made by GNU Bison 3.8.2.  */

/* Bison interface for Yacc-like parsers in C

   Copyright (C) 1984, 1989-1990, 2000-2015, 2018-2021 Free Software Foundation,
   Inc.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.

   This program is distributed in the hope that it will be useful,
   but WITHOUT ANY WARRANTY; without even the implied warranty of
   MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
   GNU General Public License for more details.

   You should have received a copy of the GNU General Public License
   along with this program.  If not, see <https://www.gnu.org/licenses/>.  */

/* As a special exception, you may create a larger work that contains
   part or all of the Bison parser skeleton and distribute that work
   under terms of your choice, so long as that work isn't itself a
   parser generator using the skeleton or a modified version thereof
   as a parser skeleton.  Alternatively, if you modify or redistribute
   the parser skeleton itself, you may (at your option) remove this
   special exception, which will cause the skeleton and the resulting
   Bison output files to be licensed under the GNU General Public
   License without this special exception.

   This special exception was added by the Free Software Foundation in
   version 2.2 of Bison.  */

/* DO NOT RELY ON FEATURES THAT ARE NOT DOCUMENTED in the manual,
   especially those whose name start with YY_ or yy_.  They are
   private implementation details that can be changed or removed.  */

#ifndef YY_MIX_BUILD_FUZZ2_FUZZ_GEN_PARSER_H_INCLUDED
# define YY_MIX_BUILD_FUZZ2_FUZZ_GEN_PARSER_H_INCLUDED
/* Debug traces.  */
#ifndef MIXDEBUG
# if defined YYDEBUG
#if YYDEBUG
#   define MIXDEBUG 1
#  else
#   define MIXDEBUG 0
#  endif
# else /* ! defined YYDEBUG */
#  define MIXDEBUG 0
# endif /* ! defined YYDEBUG */
#endif  /* ! defined MIXDEBUG */
#if MIXDEBUG
extern int mixdebug;
#endif
/* "%code requires" blocks.  */
#line 13 "grammar/parser.y"

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

#line 80 "build-fuzz2/fuzz/gen/parser.h"

/* Token kinds.  */
#ifndef MIXTOKENTYPE
# define MIXTOKENTYPE
  enum mixtokentype
  {
    MIXEMPTY = -2,
    MIXEOF = 0,                    /* "end of file"  */
    MIXerror = 256,                /* error  */
    MIXUNDEF = 257,                /* "invalid token"  */
    INT = 258,                     /* "integer"  */
    REAL = 259,                    /* "real number"  */
    IDENT = 260,                   /* "name"  */
    STRING = 261,                  /* "string"  */
    EOS = 262,                     /* "end of statement"  */
    DOTDOT = 263,                  /* ".."  */
    MODEL = 264,                   /* "'model'"  */
    ATTENTION = 265,               /* "'attention'"  */
    DEFAULT = 266,                 /* "'default'"  */
    LAYER = 267,                   /* "'layers'"  */
    PATTERN = 268,                 /* "'pattern'"  */
    READS = 269,                   /* "'reads'"  */
    WINDOW = 270,                  /* "'window'"  */
    CHUNKED = 271,                 /* "'chunked'"  */
    GLOBAL = 272,                  /* "'global'"  */
    STEP = 273,                    /* "'step'"  */
    TRUE_KW = 274,                 /* "'true'"  */
    FALSE_KW = 275,                /* "'false'"  */
    PREV = 276,                    /* "'prev'"  */
    LAST = 277                     /* "'last'"  */
  };
  typedef enum mixtokentype mixtoken_kind_t;
#endif

/* Value type.  */
#if ! defined MIXSTYPE && ! defined MIXSTYPE_IS_DECLARED
union MIXSTYPE
{
#line 68 "grammar/parser.y"

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

#line 133 "build-fuzz2/fuzz/gen/parser.h"

};
typedef union MIXSTYPE MIXSTYPE;
# define MIXSTYPE_IS_TRIVIAL 1
# define MIXSTYPE_IS_DECLARED 1
#endif

/* Location type.  */
#if ! defined MIXLTYPE && ! defined MIXLTYPE_IS_DECLARED
typedef struct MIXLTYPE MIXLTYPE;
struct MIXLTYPE
{
  int first_line;
  int first_column;
  int last_line;
  int last_column;
};
# define MIXLTYPE_IS_DECLARED 1
# define MIXLTYPE_IS_TRIVIAL 1
#endif




int mixparse (void *scanner, struct ParseCtx *ctx);

/* "%code provides" blocks.  */
#line 36 "grammar/parser.y"

#define YYSTYPE MIXSTYPE
int mixlex(MIXSTYPE *yylval, MIXLTYPE *yylloc, void *scanner);

#line 166 "build-fuzz2/fuzz/gen/parser.h"

#endif /* !YY_MIX_BUILD_FUZZ2_FUZZ_GEN_PARSER_H_INCLUDED  */
