/* A Bison parser, made by GNU Bison 3.8.2.  */

/* Bison implementation for Yacc-like parsers in C

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

/* C LALR(1) parser skeleton written by Richard Stallman, by
   simplifying the original so-called "semantic" parser.  */

/* DO NOT RELY ON FEATURES THAT ARE NOT DOCUMENTED in the manual,
   especially those whose name start with YY_ or yy_.  They are
   private implementation details that can be changed or removed.  */

/* All symbols defined below should begin with yy or YY, to avoid
   infringing on user name space.  This should be done even for local
   variables, as they might otherwise be expanded by user macros.
   There are some unavoidable exceptions within include files to
   define necessary library symbols; they are noted "INFRINGES ON
   USER NAME SPACE" below.  */

/* Identify Bison output, and Bison version.  */
#define YYBISON 30802

/* Bison version string.  */
#define YYBISON_VERSION "3.8.2"

/* Skeleton name.  */
#define YYSKELETON_NAME "yacc.c"

/* Pure parsers.  */
#define YYPURE 2

/* Push parsers.  */
#define YYPUSH 0

/* Pull parsers.  */
#define YYPULL 1

/* Substitute the type names.  */
#define YYSTYPE         MIXSTYPE
#define YYLTYPE         MIXLTYPE
/* Substitute the variable and function names.  */
#define yyparse         mixparse
#define yylex           mixlex
#define yyerror         mixerror
#define yydebug         mixdebug
#define yynerrs         mixnerrs


# ifndef YY_CAST
#  ifdef __cplusplus
#   define YY_CAST(Type, Val) static_cast<Type> (Val)
#   define YY_REINTERPRET_CAST(Type, Val) reinterpret_cast<Type> (Val)
#  else
#   define YY_CAST(Type, Val) ((Type) (Val))
#   define YY_REINTERPRET_CAST(Type, Val) ((Type) (Val))
#  endif
# endif
# ifndef YY_NULLPTR
#  if defined __cplusplus
#   if 201103L <= __cplusplus
#    define YY_NULLPTR nullptr
#   else
#    define YY_NULLPTR 0
#   endif
#  else
#   define YY_NULLPTR ((void*)0)
#  endif
# endif

#include "parser.h"
/* Symbol kind.  */
enum yysymbol_kind_t
{
  YYSYMBOL_YYEMPTY = -2,
  YYSYMBOL_YYEOF = 0,                      /* "end of file"  */
  YYSYMBOL_YYerror = 1,                    /* error  */
  YYSYMBOL_YYUNDEF = 2,                    /* "invalid token"  */
  YYSYMBOL_INT = 3,                        /* "integer"  */
  YYSYMBOL_REAL = 4,                       /* "real number"  */
  YYSYMBOL_IDENT = 5,                      /* "name"  */
  YYSYMBOL_STRING = 6,                     /* "string"  */
  YYSYMBOL_EOS = 7,                        /* "end of statement"  */
  YYSYMBOL_DOTDOT = 8,                     /* ".."  */
  YYSYMBOL_MODEL = 9,                      /* "'model'"  */
  YYSYMBOL_ATTENTION = 10,                 /* "'attention'"  */
  YYSYMBOL_DEFAULT = 11,                   /* "'default'"  */
  YYSYMBOL_LAYER = 12,                     /* "'layers'"  */
  YYSYMBOL_PATTERN = 13,                   /* "'pattern'"  */
  YYSYMBOL_READS = 14,                     /* "'reads'"  */
  YYSYMBOL_WINDOW = 15,                    /* "'window'"  */
  YYSYMBOL_CHUNKED = 16,                   /* "'chunked'"  */
  YYSYMBOL_GLOBAL = 17,                    /* "'global'"  */
  YYSYMBOL_STEP = 18,                      /* "'step'"  */
  YYSYMBOL_TRUE_KW = 19,                   /* "'true'"  */
  YYSYMBOL_FALSE_KW = 20,                  /* "'false'"  */
  YYSYMBOL_PREV = 21,                      /* "'prev'"  */
  YYSYMBOL_LAST = 22,                      /* "'last'"  */
  YYSYMBOL_23_ = 23,                       /* '{'  */
  YYSYMBOL_24_ = 24,                       /* '}'  */
  YYSYMBOL_25_ = 25,                       /* '='  */
  YYSYMBOL_26_ = 26,                       /* '-'  */
  YYSYMBOL_27_ = 27,                       /* ':'  */
  YYSYMBOL_28_ = 28,                       /* '['  */
  YYSYMBOL_29_ = 29,                       /* ']'  */
  YYSYMBOL_30_ = 30,                       /* ','  */
  YYSYMBOL_31_ = 31,                       /* '*'  */
  YYSYMBOL_YYACCEPT = 32,                  /* $accept  */
  YYSYMBOL_file = 33,                      /* file  */
  YYSYMBOL_34_1 = 34,                      /* $@1  */
  YYSYMBOL_header = 35,                    /* header  */
  YYSYMBOL_model_name = 36,                /* model_name  */
  YYSYMBOL_fields = 37,                    /* fields  */
  YYSYMBOL_field_key = 38,                 /* field_key  */
  YYSYMBOL_value = 39,                     /* value  */
  YYSYMBOL_stmts = 40,                     /* stmts  */
  YYSYMBOL_stmt = 41,                      /* stmt  */
  YYSYMBOL_kind_props = 42,                /* kind_props  */
  YYSYMBOL_prop_value = 43,                /* prop_value  */
  YYSYMBOL_set = 44,                       /* set  */
  YYSYMBOL_item = 45,                      /* item  */
  YYSYMBOL_elems = 46,                     /* elems  */
  YYSYMBOL_pelem = 47,                     /* pelem  */
  YYSYMBOL_elem = 48,                      /* elem  */
  YYSYMBOL_attn = 49,                      /* attn  */
  YYSYMBOL_sint = 50,                      /* sint  */
  YYSYMBOL_ref = 51                        /* ref  */
};
typedef enum yysymbol_kind_t yysymbol_kind_t;



/* Unqualified %code blocks.  */
#line 41 "grammar/parser.y"

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

#line 189 "build-fuzz2/fuzz/gen/parser.c"

#ifdef short
# undef short
#endif

/* On compilers that do not define __PTRDIFF_MAX__ etc., make sure
   <limits.h> and (if available) <stdint.h> are included
   so that the code can choose integer types of a good width.  */

#ifndef __PTRDIFF_MAX__
# include <limits.h> /* INFRINGES ON USER NAME SPACE */
# if defined __STDC_VERSION__ && 199901 <= __STDC_VERSION__
#  include <stdint.h> /* INFRINGES ON USER NAME SPACE */
#  define YY_STDINT_H
# endif
#endif

/* Narrow types that promote to a signed type and that can represent a
   signed or unsigned integer of at least N bits.  In tables they can
   save space and decrease cache pressure.  Promoting to a signed type
   helps avoid bugs in integer arithmetic.  */

#ifdef __INT_LEAST8_MAX__
typedef __INT_LEAST8_TYPE__ yytype_int8;
#elif defined YY_STDINT_H
typedef int_least8_t yytype_int8;
#else
typedef signed char yytype_int8;
#endif

#ifdef __INT_LEAST16_MAX__
typedef __INT_LEAST16_TYPE__ yytype_int16;
#elif defined YY_STDINT_H
typedef int_least16_t yytype_int16;
#else
typedef short yytype_int16;
#endif

/* Work around bug in HP-UX 11.23, which defines these macros
   incorrectly for preprocessor constants.  This workaround can likely
   be removed in 2023, as HPE has promised support for HP-UX 11.23
   (aka HP-UX 11i v2) only through the end of 2022; see Table 2 of
   <https://h20195.www2.hpe.com/V2/getpdf.aspx/4AA4-7673ENW.pdf>.  */
#ifdef __hpux
# undef UINT_LEAST8_MAX
# undef UINT_LEAST16_MAX
# define UINT_LEAST8_MAX 255
# define UINT_LEAST16_MAX 65535
#endif

#if defined __UINT_LEAST8_MAX__ && __UINT_LEAST8_MAX__ <= __INT_MAX__
typedef __UINT_LEAST8_TYPE__ yytype_uint8;
#elif (!defined __UINT_LEAST8_MAX__ && defined YY_STDINT_H \
       && UINT_LEAST8_MAX <= INT_MAX)
typedef uint_least8_t yytype_uint8;
#elif !defined __UINT_LEAST8_MAX__ && UCHAR_MAX <= INT_MAX
typedef unsigned char yytype_uint8;
#else
typedef short yytype_uint8;
#endif

#if defined __UINT_LEAST16_MAX__ && __UINT_LEAST16_MAX__ <= __INT_MAX__
typedef __UINT_LEAST16_TYPE__ yytype_uint16;
#elif (!defined __UINT_LEAST16_MAX__ && defined YY_STDINT_H \
       && UINT_LEAST16_MAX <= INT_MAX)
typedef uint_least16_t yytype_uint16;
#elif !defined __UINT_LEAST16_MAX__ && USHRT_MAX <= INT_MAX
typedef unsigned short yytype_uint16;
#else
typedef int yytype_uint16;
#endif

#ifndef YYPTRDIFF_T
# if defined __PTRDIFF_TYPE__ && defined __PTRDIFF_MAX__
#  define YYPTRDIFF_T __PTRDIFF_TYPE__
#  define YYPTRDIFF_MAXIMUM __PTRDIFF_MAX__
# elif defined PTRDIFF_MAX
#  ifndef ptrdiff_t
#   include <stddef.h> /* INFRINGES ON USER NAME SPACE */
#  endif
#  define YYPTRDIFF_T ptrdiff_t
#  define YYPTRDIFF_MAXIMUM PTRDIFF_MAX
# else
#  define YYPTRDIFF_T long
#  define YYPTRDIFF_MAXIMUM LONG_MAX
# endif
#endif

#ifndef YYSIZE_T
# ifdef __SIZE_TYPE__
#  define YYSIZE_T __SIZE_TYPE__
# elif defined size_t
#  define YYSIZE_T size_t
# elif defined __STDC_VERSION__ && 199901 <= __STDC_VERSION__
#  include <stddef.h> /* INFRINGES ON USER NAME SPACE */
#  define YYSIZE_T size_t
# else
#  define YYSIZE_T unsigned
# endif
#endif

#define YYSIZE_MAXIMUM                                  \
  YY_CAST (YYPTRDIFF_T,                                 \
           (YYPTRDIFF_MAXIMUM < YY_CAST (YYSIZE_T, -1)  \
            ? YYPTRDIFF_MAXIMUM                         \
            : YY_CAST (YYSIZE_T, -1)))

#define YYSIZEOF(X) YY_CAST (YYPTRDIFF_T, sizeof (X))


/* Stored state numbers (used for stacks). */
typedef yytype_int8 yy_state_t;

/* State numbers in computations.  */
typedef int yy_state_fast_t;

#ifndef YY_
# if defined YYENABLE_NLS && YYENABLE_NLS
#  if ENABLE_NLS
#   include <libintl.h> /* INFRINGES ON USER NAME SPACE */
#   define YY_(Msgid) dgettext ("bison-runtime", Msgid)
#  endif
# endif
# ifndef YY_
#  define YY_(Msgid) Msgid
# endif
#endif


#ifndef YY_ATTRIBUTE_PURE
# if defined __GNUC__ && 2 < __GNUC__ + (96 <= __GNUC_MINOR__)
#  define YY_ATTRIBUTE_PURE __attribute__ ((__pure__))
# else
#  define YY_ATTRIBUTE_PURE
# endif
#endif

#ifndef YY_ATTRIBUTE_UNUSED
# if defined __GNUC__ && 2 < __GNUC__ + (7 <= __GNUC_MINOR__)
#  define YY_ATTRIBUTE_UNUSED __attribute__ ((__unused__))
# else
#  define YY_ATTRIBUTE_UNUSED
# endif
#endif

/* Suppress unused-variable warnings by "using" E.  */
#if ! defined lint || defined __GNUC__
# define YY_USE(E) ((void) (E))
#else
# define YY_USE(E) /* empty */
#endif

/* Suppress an incorrect diagnostic about yylval being uninitialized.  */
#if defined __GNUC__ && ! defined __ICC && 406 <= __GNUC__ * 100 + __GNUC_MINOR__
# if __GNUC__ * 100 + __GNUC_MINOR__ < 407
#  define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN                           \
    _Pragma ("GCC diagnostic push")                                     \
    _Pragma ("GCC diagnostic ignored \"-Wuninitialized\"")
# else
#  define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN                           \
    _Pragma ("GCC diagnostic push")                                     \
    _Pragma ("GCC diagnostic ignored \"-Wuninitialized\"")              \
    _Pragma ("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
# endif
# define YY_IGNORE_MAYBE_UNINITIALIZED_END      \
    _Pragma ("GCC diagnostic pop")
#else
# define YY_INITIAL_VALUE(Value) Value
#endif
#ifndef YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
# define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
# define YY_IGNORE_MAYBE_UNINITIALIZED_END
#endif
#ifndef YY_INITIAL_VALUE
# define YY_INITIAL_VALUE(Value) /* Nothing. */
#endif

#if defined __cplusplus && defined __GNUC__ && ! defined __ICC && 6 <= __GNUC__
# define YY_IGNORE_USELESS_CAST_BEGIN                          \
    _Pragma ("GCC diagnostic push")                            \
    _Pragma ("GCC diagnostic ignored \"-Wuseless-cast\"")
# define YY_IGNORE_USELESS_CAST_END            \
    _Pragma ("GCC diagnostic pop")
#endif
#ifndef YY_IGNORE_USELESS_CAST_BEGIN
# define YY_IGNORE_USELESS_CAST_BEGIN
# define YY_IGNORE_USELESS_CAST_END
#endif


#define YY_ASSERT(E) ((void) (0 && (E)))

#if 1

/* The parser invokes alloca or malloc; define the necessary symbols.  */

# ifdef YYSTACK_USE_ALLOCA
#  if YYSTACK_USE_ALLOCA
#   ifdef __GNUC__
#    define YYSTACK_ALLOC __builtin_alloca
#   elif defined __BUILTIN_VA_ARG_INCR
#    include <alloca.h> /* INFRINGES ON USER NAME SPACE */
#   elif defined _AIX
#    define YYSTACK_ALLOC __alloca
#   elif defined _MSC_VER
#    include <malloc.h> /* INFRINGES ON USER NAME SPACE */
#    define alloca _alloca
#   else
#    define YYSTACK_ALLOC alloca
#    if ! defined _ALLOCA_H && ! defined EXIT_SUCCESS
#     include <stdlib.h> /* INFRINGES ON USER NAME SPACE */
      /* Use EXIT_SUCCESS as a witness for stdlib.h.  */
#     ifndef EXIT_SUCCESS
#      define EXIT_SUCCESS 0
#     endif
#    endif
#   endif
#  endif
# endif

# ifdef YYSTACK_ALLOC
   /* Pacify GCC's 'empty if-body' warning.  */
#  define YYSTACK_FREE(Ptr) do { /* empty */; } while (0)
#  ifndef YYSTACK_ALLOC_MAXIMUM
    /* The OS might guarantee only one guard page at the bottom of the stack,
       and a page size can be as small as 4096 bytes.  So we cannot safely
       invoke alloca (N) if N exceeds 4096.  Use a slightly smaller number
       to allow for a few compiler-allocated temporary stack slots.  */
#   define YYSTACK_ALLOC_MAXIMUM 4032 /* reasonable circa 2006 */
#  endif
# else
#  define YYSTACK_ALLOC YYMALLOC
#  define YYSTACK_FREE YYFREE
#  ifndef YYSTACK_ALLOC_MAXIMUM
#   define YYSTACK_ALLOC_MAXIMUM YYSIZE_MAXIMUM
#  endif
#  if (defined __cplusplus && ! defined EXIT_SUCCESS \
       && ! ((defined YYMALLOC || defined malloc) \
             && (defined YYFREE || defined free)))
#   include <stdlib.h> /* INFRINGES ON USER NAME SPACE */
#   ifndef EXIT_SUCCESS
#    define EXIT_SUCCESS 0
#   endif
#  endif
#  ifndef YYMALLOC
#   define YYMALLOC malloc
#   if ! defined malloc && ! defined EXIT_SUCCESS
void *malloc (YYSIZE_T); /* INFRINGES ON USER NAME SPACE */
#   endif
#  endif
#  ifndef YYFREE
#   define YYFREE free
#   if ! defined free && ! defined EXIT_SUCCESS
void free (void *); /* INFRINGES ON USER NAME SPACE */
#   endif
#  endif
# endif
#endif /* 1 */

#if (! defined yyoverflow \
     && (! defined __cplusplus \
         || (defined MIXLTYPE_IS_TRIVIAL && MIXLTYPE_IS_TRIVIAL \
             && defined MIXSTYPE_IS_TRIVIAL && MIXSTYPE_IS_TRIVIAL)))

/* A type that is properly aligned for any stack member.  */
union yyalloc
{
  yy_state_t yyss_alloc;
  YYSTYPE yyvs_alloc;
  YYLTYPE yyls_alloc;
};

/* The size of the maximum gap between one aligned stack and the next.  */
# define YYSTACK_GAP_MAXIMUM (YYSIZEOF (union yyalloc) - 1)

/* The size of an array large to enough to hold all stacks, each with
   N elements.  */
# define YYSTACK_BYTES(N) \
     ((N) * (YYSIZEOF (yy_state_t) + YYSIZEOF (YYSTYPE) \
             + YYSIZEOF (YYLTYPE)) \
      + 2 * YYSTACK_GAP_MAXIMUM)

# define YYCOPY_NEEDED 1

/* Relocate STACK from its old location to the new one.  The
   local variables YYSIZE and YYSTACKSIZE give the old and new number of
   elements in the stack, and YYPTR gives the new location of the
   stack.  Advance YYPTR to a properly aligned location for the next
   stack.  */
# define YYSTACK_RELOCATE(Stack_alloc, Stack)                           \
    do                                                                  \
      {                                                                 \
        YYPTRDIFF_T yynewbytes;                                         \
        YYCOPY (&yyptr->Stack_alloc, Stack, yysize);                    \
        Stack = &yyptr->Stack_alloc;                                    \
        yynewbytes = yystacksize * YYSIZEOF (*Stack) + YYSTACK_GAP_MAXIMUM; \
        yyptr += yynewbytes / YYSIZEOF (*yyptr);                        \
      }                                                                 \
    while (0)

#endif

#if defined YYCOPY_NEEDED && YYCOPY_NEEDED
/* Copy COUNT objects from SRC to DST.  The source and destination do
   not overlap.  */
# ifndef YYCOPY
#  if defined __GNUC__ && 1 < __GNUC__
#   define YYCOPY(Dst, Src, Count) \
      __builtin_memcpy (Dst, Src, YY_CAST (YYSIZE_T, (Count)) * sizeof (*(Src)))
#  else
#   define YYCOPY(Dst, Src, Count)              \
      do                                        \
        {                                       \
          YYPTRDIFF_T yyi;                      \
          for (yyi = 0; yyi < (Count); yyi++)   \
            (Dst)[yyi] = (Src)[yyi];            \
        }                                       \
      while (0)
#  endif
# endif
#endif /* !YYCOPY_NEEDED */

/* YYFINAL -- State number of the termination state.  */
#define YYFINAL  9
/* YYLAST -- Last index in YYTABLE.  */
#define YYLAST   103

/* YYNTOKENS -- Number of terminals.  */
#define YYNTOKENS  32
/* YYNNTS -- Number of nonterminals.  */
#define YYNNTS  20
/* YYNRULES -- Number of rules.  */
#define YYNRULES  60
/* YYNSTATES -- Number of states.  */
#define YYNSTATES  104

/* YYMAXUTOK -- Last valid token kind.  */
#define YYMAXUTOK   277


/* YYTRANSLATE(TOKEN-NUM) -- Symbol number corresponding to TOKEN-NUM
   as returned by yylex, with out-of-bounds checking.  */
#define YYTRANSLATE(YYX)                                \
  (0 <= (YYX) && (YYX) <= YYMAXUTOK                     \
   ? YY_CAST (yysymbol_kind_t, yytranslate[YYX])        \
   : YYSYMBOL_YYUNDEF)

/* YYTRANSLATE[TOKEN-NUM] -- Symbol number corresponding to TOKEN-NUM
   as returned by yylex.  */
static const yytype_int8 yytranslate[] =
{
       0,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,    31,     2,    30,    26,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,    27,     2,
       2,    25,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,    28,     2,    29,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,    23,     2,    24,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     1,     2,     3,     4,
       5,     6,     7,     8,     9,    10,    11,    12,    13,    14,
      15,    16,    17,    18,    19,    20,    21,    22
};

#if MIXDEBUG
/* YYRLINE[YYN] -- Source line where rule number YYN was defined.  */
static const yytype_int16 yyrline[] =
{
       0,   106,   106,   107,   107,   114,   124,   125,   129,   130,
     136,   137,   142,   143,   147,   148,   149,   150,   151,   152,
     153,   159,   160,   161,   162,   165,   166,   167,   171,   172,
     176,   183,   188,   194,   198,   204,   205,   214,   215,   216,
     220,   221,   225,   226,   227,   231,   232,   236,   237,   241,
     247,   257,   258,   259,   260,   264,   265,   269,   270,   271,
     272
};
#endif

/** Accessing symbol of state STATE.  */
#define YY_ACCESSING_SYMBOL(State) YY_CAST (yysymbol_kind_t, yystos[State])

#if 1
/* The user-facing name of the symbol whose (internal) number is
   YYSYMBOL.  No bounds checking.  */
static const char *yysymbol_name (yysymbol_kind_t yysymbol) YY_ATTRIBUTE_UNUSED;

static const char *
yysymbol_name (yysymbol_kind_t yysymbol)
{
  static const char *const yy_sname[] =
  {
  "end of file", "error", "invalid token", "integer", "real number",
  "name", "string", "end of statement", "..", "'model'", "'attention'",
  "'default'", "'layers'", "'pattern'", "'reads'", "'window'", "'chunked'",
  "'global'", "'step'", "'true'", "'false'", "'prev'", "'last'", "'{'",
  "'}'", "'='", "'-'", "':'", "'['", "']'", "','", "'*'", "$accept",
  "file", "$@1", "header", "model_name", "fields", "field_key", "value",
  "stmts", "stmt", "kind_props", "prop_value", "set", "item", "elems",
  "pelem", "elem", "attn", "sint", "ref", YY_NULLPTR
  };
  return yy_sname[yysymbol];
}
#endif

#define YYPACT_NINF (-25)

#define yypact_value_is_default(Yyn) \
  ((Yyn) == YYPACT_NINF)

#define YYTABLE_NINF (-5)

#define yytable_value_is_error(Yyn) \
  0

/* YYPACT[STATE-NUM] -- Index in YYTABLE of the portion describing
   STATE-NUM.  */
static const yytype_int8 yypact[] =
{
       4,   -25,    66,    14,   -25,   -25,   -25,   -25,    -2,   -25,
      39,    52,   -25,    26,   -25,     1,    31,     3,    38,    37,
      10,   -25,    47,    24,    58,    35,    60,    40,    71,    -1,
     -25,   -25,    73,   -25,   -25,   -25,    74,    57,   -25,   -25,
     -25,    40,   -25,   -25,    17,    17,   -25,   -25,    69,    81,
      78,    53,    38,   -25,   -25,     5,    11,   -25,   -25,    83,
     -25,   -25,    16,    75,   -25,     0,   -25,   -25,   -25,   -25,
     -25,   -25,   -25,    70,    80,   -25,    84,   -25,   -25,   -25,
     -25,    85,   -25,    87,    88,    40,   -25,   -25,   -25,    72,
     -25,   -25,   -25,    48,   -25,    61,   -25,   -25,   -25,   -25,
      40,    91,   -25,   -25
};

/* YYDEFACT[STATE-NUM] -- Default reduction number in state STATE-NUM.
   Performed when YYTABLE does not specify something else to do.  Zero
   means the default is an error.  */
static const yytype_int8 yydefact[] =
{
       0,     3,     0,     0,    21,    21,     7,     6,     0,     1,
       0,     0,     8,     0,    23,     0,     0,     0,     0,     0,
       0,    29,     0,     0,     0,     0,     0,     0,    42,     0,
      40,    22,     0,    12,    10,    13,     0,     0,    28,     8,
      27,     0,    26,    51,     0,     0,    52,    33,    49,     0,
       0,     0,     0,    11,     5,     0,     0,    35,    55,     0,
      53,    54,     0,    43,    25,     0,    31,    41,    14,    16,
      18,    19,    20,     0,     0,    34,    30,    56,    57,    59,
      60,     0,    50,     0,     0,     0,    15,    17,     9,    37,
      58,    44,    24,     0,    45,    47,    38,    39,    36,    32,
       0,     0,    46,    48
};

/* YYPGOTO[NTERM-NUM].  */
static const yytype_int8 yypgoto[] =
{
     -25,   -25,   -25,   -25,    76,    59,   -25,   -25,    92,   -25,
     -25,   -25,   -25,    44,   -25,     2,   -24,    62,    54,   -25
};

/* YYDEFGOTO[NTERM-NUM].  */
static const yytype_int8 yydefgoto[] =
{
       0,     3,     5,     4,     8,    20,    37,    74,    10,    19,
      76,    98,    29,    30,    93,    94,    95,    48,    60,    82
};

/* YYTABLE[YYPACT[STATE-NUM]] -- What to do in state STATE-NUM.  If
   positive, shift that token.  If negative, reduce the rule whose
   number is the opposite.  If YYTABLE_NINF, syntax error.  */
static const yytype_int8 yytable[] =
{
      50,    84,    22,    47,    26,     1,     6,     7,    68,    69,
      70,    32,    32,     2,     9,    33,    33,    34,    34,    78,
      58,    12,    35,    35,    71,    72,    51,    66,    85,    52,
      27,    73,    24,    21,    36,    75,    25,    79,    80,    -2,
      13,    28,    81,    59,    31,    43,    14,    39,    15,    16,
      17,    18,    -4,    13,    38,    44,    45,    46,    43,    14,
      41,    15,    16,    17,    18,    40,    65,    42,    44,    45,
      46,     6,     7,    86,    87,    96,    97,    99,   100,    49,
      53,    54,    55,    62,    63,    64,    77,    88,    90,    89,
      91,    23,   101,    83,   103,    92,    67,    11,    56,    61,
       0,     0,   102,    57
};

static const yytype_int8 yycheck[] =
{
       1,     1,     1,    27,     1,     1,     5,     6,     3,     4,
       5,     1,     1,     9,     0,     5,     5,     7,     7,     3,
       3,    23,    12,    12,    19,    20,    27,    51,    28,    30,
      27,    26,     1,     7,    24,    24,     5,    21,    22,     0,
       1,     3,    26,    26,     7,     5,     7,    23,     9,    10,
      11,    12,     0,     1,     7,    15,    16,    17,     5,     7,
      25,     9,    10,    11,    12,     7,    13,     7,    15,    16,
      17,     5,     6,     3,     4,     3,     4,    29,    30,     8,
       7,     7,    25,    14,     3,     7,     3,     7,     3,     5,
       3,    15,    31,    18,     3,     7,    52,     5,    39,    45,
      -1,    -1,   100,    41
};

/* YYSTOS[STATE-NUM] -- The symbol kind of the accessing symbol of
   state STATE-NUM.  */
static const yytype_int8 yystos[] =
{
       0,     1,     9,    33,    35,    34,     5,     6,    36,     0,
      40,    40,    23,     1,     7,     9,    10,    11,    12,    41,
      37,     7,     1,    36,     1,     5,     1,    27,     3,    44,
      45,     7,     1,     5,     7,    12,    24,    38,     7,    23,
       7,    25,     7,     5,    15,    16,    17,    48,    49,     8,
       1,    27,    30,     7,     7,    25,    37,    49,     3,    26,
      50,    50,    14,     3,     7,    13,    48,    45,     3,     4,
       5,    19,    20,    26,    39,    24,    42,     3,     3,    21,
      22,    26,    51,    18,     1,    28,     3,     4,     7,     5,
       3,     3,     7,    46,    47,    48,     3,     4,    43,    29,
      30,    31,    47,     3
};

/* YYR1[RULE-NUM] -- Symbol kind of the left-hand side of rule RULE-NUM.  */
static const yytype_int8 yyr1[] =
{
       0,    32,    33,    34,    33,    35,    36,    36,    37,    37,
      37,    37,    38,    38,    39,    39,    39,    39,    39,    39,
      39,    40,    40,    40,    40,    40,    40,    40,    40,    40,
      41,    41,    41,    41,    41,    42,    42,    43,    43,    43,
      44,    44,    45,    45,    45,    46,    46,    47,    47,    48,
      48,    49,    49,    49,    49,    50,    50,    51,    51,    51,
      51
};

/* YYR2[RULE-NUM] -- Number of symbols on the right-hand side of rule RULE-NUM.  */
static const yytype_int8 yyr2[] =
{
       0,     2,     2,     0,     3,     6,     1,     1,     0,     5,
       2,     3,     1,     1,     1,     2,     1,     2,     1,     1,
       1,     0,     3,     2,     7,     5,     4,     4,     4,     3,
       5,     4,     7,     3,     5,     0,     3,     0,     1,     1,
       1,     3,     1,     3,     5,     1,     3,     1,     3,     1,
       3,     1,     1,     2,     2,     1,     2,     1,     2,     1,
       1
};


enum { YYENOMEM = -2 };

#define yyerrok         (yyerrstatus = 0)
#define yyclearin       (yychar = MIXEMPTY)

#define YYACCEPT        goto yyacceptlab
#define YYABORT         goto yyabortlab
#define YYERROR         goto yyerrorlab
#define YYNOMEM         goto yyexhaustedlab


#define YYRECOVERING()  (!!yyerrstatus)

#define YYBACKUP(Token, Value)                                    \
  do                                                              \
    if (yychar == MIXEMPTY)                                        \
      {                                                           \
        yychar = (Token);                                         \
        yylval = (Value);                                         \
        YYPOPSTACK (yylen);                                       \
        yystate = *yyssp;                                         \
        goto yybackup;                                            \
      }                                                           \
    else                                                          \
      {                                                           \
        yyerror (&yylloc, scanner, ctx, YY_("syntax error: cannot back up")); \
        YYERROR;                                                  \
      }                                                           \
  while (0)

/* Backward compatibility with an undocumented macro.
   Use MIXerror or MIXUNDEF. */
#define YYERRCODE MIXUNDEF

/* YYLLOC_DEFAULT -- Set CURRENT to span from RHS[1] to RHS[N].
   If N is 0, then set CURRENT to the empty location which ends
   the previous symbol: RHS[0] (always defined).  */

#ifndef YYLLOC_DEFAULT
# define YYLLOC_DEFAULT(Current, Rhs, N)                                \
    do                                                                  \
      if (N)                                                            \
        {                                                               \
          (Current).first_line   = YYRHSLOC (Rhs, 1).first_line;        \
          (Current).first_column = YYRHSLOC (Rhs, 1).first_column;      \
          (Current).last_line    = YYRHSLOC (Rhs, N).last_line;         \
          (Current).last_column  = YYRHSLOC (Rhs, N).last_column;       \
        }                                                               \
      else                                                              \
        {                                                               \
          (Current).first_line   = (Current).last_line   =              \
            YYRHSLOC (Rhs, 0).last_line;                                \
          (Current).first_column = (Current).last_column =              \
            YYRHSLOC (Rhs, 0).last_column;                              \
        }                                                               \
    while (0)
#endif

#define YYRHSLOC(Rhs, K) ((Rhs)[K])


/* Enable debugging if requested.  */
#if MIXDEBUG

# ifndef YYFPRINTF
#  include <stdio.h> /* INFRINGES ON USER NAME SPACE */
#  define YYFPRINTF fprintf
# endif

# define YYDPRINTF(Args)                        \
do {                                            \
  if (yydebug)                                  \
    YYFPRINTF Args;                             \
} while (0)


/* YYLOCATION_PRINT -- Print the location on the stream.
   This macro was not mandated originally: define only if we know
   we won't break user code: when these are the locations we know.  */

# ifndef YYLOCATION_PRINT

#  if defined YY_LOCATION_PRINT

   /* Temporary convenience wrapper in case some people defined the
      undocumented and private YY_LOCATION_PRINT macros.  */
#   define YYLOCATION_PRINT(File, Loc)  YY_LOCATION_PRINT(File, *(Loc))

#  elif defined MIXLTYPE_IS_TRIVIAL && MIXLTYPE_IS_TRIVIAL

/* Print *YYLOCP on YYO.  Private, do not rely on its existence. */

YY_ATTRIBUTE_UNUSED
static int
yy_location_print_ (FILE *yyo, YYLTYPE const * const yylocp)
{
  int res = 0;
  int end_col = 0 != yylocp->last_column ? yylocp->last_column - 1 : 0;
  if (0 <= yylocp->first_line)
    {
      res += YYFPRINTF (yyo, "%d", yylocp->first_line);
      if (0 <= yylocp->first_column)
        res += YYFPRINTF (yyo, ".%d", yylocp->first_column);
    }
  if (0 <= yylocp->last_line)
    {
      if (yylocp->first_line < yylocp->last_line)
        {
          res += YYFPRINTF (yyo, "-%d", yylocp->last_line);
          if (0 <= end_col)
            res += YYFPRINTF (yyo, ".%d", end_col);
        }
      else if (0 <= end_col && yylocp->first_column < end_col)
        res += YYFPRINTF (yyo, "-%d", end_col);
    }
  return res;
}

#   define YYLOCATION_PRINT  yy_location_print_

    /* Temporary convenience wrapper in case some people defined the
       undocumented and private YY_LOCATION_PRINT macros.  */
#   define YY_LOCATION_PRINT(File, Loc)  YYLOCATION_PRINT(File, &(Loc))

#  else

#   define YYLOCATION_PRINT(File, Loc) ((void) 0)
    /* Temporary convenience wrapper in case some people defined the
       undocumented and private YY_LOCATION_PRINT macros.  */
#   define YY_LOCATION_PRINT  YYLOCATION_PRINT

#  endif
# endif /* !defined YYLOCATION_PRINT */


# define YY_SYMBOL_PRINT(Title, Kind, Value, Location)                    \
do {                                                                      \
  if (yydebug)                                                            \
    {                                                                     \
      YYFPRINTF (stderr, "%s ", Title);                                   \
      yy_symbol_print (stderr,                                            \
                  Kind, Value, Location, scanner, ctx); \
      YYFPRINTF (stderr, "\n");                                           \
    }                                                                     \
} while (0)


/*-----------------------------------.
| Print this symbol's value on YYO.  |
`-----------------------------------*/

static void
yy_symbol_value_print (FILE *yyo,
                       yysymbol_kind_t yykind, YYSTYPE const * const yyvaluep, YYLTYPE const * const yylocationp, void *scanner, struct ParseCtx *ctx)
{
  FILE *yyoutput = yyo;
  YY_USE (yyoutput);
  YY_USE (yylocationp);
  YY_USE (scanner);
  YY_USE (ctx);
  if (!yyvaluep)
    return;
  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  YY_USE (yykind);
  YY_IGNORE_MAYBE_UNINITIALIZED_END
}


/*---------------------------.
| Print this symbol on YYO.  |
`---------------------------*/

static void
yy_symbol_print (FILE *yyo,
                 yysymbol_kind_t yykind, YYSTYPE const * const yyvaluep, YYLTYPE const * const yylocationp, void *scanner, struct ParseCtx *ctx)
{
  YYFPRINTF (yyo, "%s %s (",
             yykind < YYNTOKENS ? "token" : "nterm", yysymbol_name (yykind));

  YYLOCATION_PRINT (yyo, yylocationp);
  YYFPRINTF (yyo, ": ");
  yy_symbol_value_print (yyo, yykind, yyvaluep, yylocationp, scanner, ctx);
  YYFPRINTF (yyo, ")");
}

/*------------------------------------------------------------------.
| yy_stack_print -- Print the state stack from its BOTTOM up to its |
| TOP (included).                                                   |
`------------------------------------------------------------------*/

static void
yy_stack_print (yy_state_t *yybottom, yy_state_t *yytop)
{
  YYFPRINTF (stderr, "Stack now");
  for (; yybottom <= yytop; yybottom++)
    {
      int yybot = *yybottom;
      YYFPRINTF (stderr, " %d", yybot);
    }
  YYFPRINTF (stderr, "\n");
}

# define YY_STACK_PRINT(Bottom, Top)                            \
do {                                                            \
  if (yydebug)                                                  \
    yy_stack_print ((Bottom), (Top));                           \
} while (0)


/*------------------------------------------------.
| Report that the YYRULE is going to be reduced.  |
`------------------------------------------------*/

static void
yy_reduce_print (yy_state_t *yyssp, YYSTYPE *yyvsp, YYLTYPE *yylsp,
                 int yyrule, void *scanner, struct ParseCtx *ctx)
{
  int yylno = yyrline[yyrule];
  int yynrhs = yyr2[yyrule];
  int yyi;
  YYFPRINTF (stderr, "Reducing stack by rule %d (line %d):\n",
             yyrule - 1, yylno);
  /* The symbols being reduced.  */
  for (yyi = 0; yyi < yynrhs; yyi++)
    {
      YYFPRINTF (stderr, "   $%d = ", yyi + 1);
      yy_symbol_print (stderr,
                       YY_ACCESSING_SYMBOL (+yyssp[yyi + 1 - yynrhs]),
                       &yyvsp[(yyi + 1) - (yynrhs)],
                       &(yylsp[(yyi + 1) - (yynrhs)]), scanner, ctx);
      YYFPRINTF (stderr, "\n");
    }
}

# define YY_REDUCE_PRINT(Rule)          \
do {                                    \
  if (yydebug)                          \
    yy_reduce_print (yyssp, yyvsp, yylsp, Rule, scanner, ctx); \
} while (0)

/* Nonzero means print parse trace.  It is left uninitialized so that
   multiple parsers can coexist.  */
int yydebug;
#else /* !MIXDEBUG */
# define YYDPRINTF(Args) ((void) 0)
# define YY_SYMBOL_PRINT(Title, Kind, Value, Location)
# define YY_STACK_PRINT(Bottom, Top)
# define YY_REDUCE_PRINT(Rule)
#endif /* !MIXDEBUG */


/* YYINITDEPTH -- initial size of the parser's stacks.  */
#ifndef YYINITDEPTH
# define YYINITDEPTH 200
#endif

/* YYMAXDEPTH -- maximum size the stacks can grow to (effective only
   if the built-in stack extension method is used).

   Do not make this value too large; the results are undefined if
   YYSTACK_ALLOC_MAXIMUM < YYSTACK_BYTES (YYMAXDEPTH)
   evaluated with infinite-precision integer arithmetic.  */

#ifndef YYMAXDEPTH
# define YYMAXDEPTH 10000
#endif


/* Context of a parse error.  */
typedef struct
{
  yy_state_t *yyssp;
  yysymbol_kind_t yytoken;
  YYLTYPE *yylloc;
} yypcontext_t;

/* Put in YYARG at most YYARGN of the expected tokens given the
   current YYCTX, and return the number of tokens stored in YYARG.  If
   YYARG is null, return the number of expected tokens (guaranteed to
   be less than YYNTOKENS).  Return YYENOMEM on memory exhaustion.
   Return 0 if there are more than YYARGN expected tokens, yet fill
   YYARG up to YYARGN. */
static int
yypcontext_expected_tokens (const yypcontext_t *yyctx,
                            yysymbol_kind_t yyarg[], int yyargn)
{
  /* Actual size of YYARG. */
  int yycount = 0;
  int yyn = yypact[+*yyctx->yyssp];
  if (!yypact_value_is_default (yyn))
    {
      /* Start YYX at -YYN if negative to avoid negative indexes in
         YYCHECK.  In other words, skip the first -YYN actions for
         this state because they are default actions.  */
      int yyxbegin = yyn < 0 ? -yyn : 0;
      /* Stay within bounds of both yycheck and yytname.  */
      int yychecklim = YYLAST - yyn + 1;
      int yyxend = yychecklim < YYNTOKENS ? yychecklim : YYNTOKENS;
      int yyx;
      for (yyx = yyxbegin; yyx < yyxend; ++yyx)
        if (yycheck[yyx + yyn] == yyx && yyx != YYSYMBOL_YYerror
            && !yytable_value_is_error (yytable[yyx + yyn]))
          {
            if (!yyarg)
              ++yycount;
            else if (yycount == yyargn)
              return 0;
            else
              yyarg[yycount++] = YY_CAST (yysymbol_kind_t, yyx);
          }
    }
  if (yyarg && yycount == 0 && 0 < yyargn)
    yyarg[0] = YYSYMBOL_YYEMPTY;
  return yycount;
}




#ifndef yystrlen
# if defined __GLIBC__ && defined _STRING_H
#  define yystrlen(S) (YY_CAST (YYPTRDIFF_T, strlen (S)))
# else
/* Return the length of YYSTR.  */
static YYPTRDIFF_T
yystrlen (const char *yystr)
{
  YYPTRDIFF_T yylen;
  for (yylen = 0; yystr[yylen]; yylen++)
    continue;
  return yylen;
}
# endif
#endif

#ifndef yystpcpy
# if defined __GLIBC__ && defined _STRING_H && defined _GNU_SOURCE
#  define yystpcpy stpcpy
# else
/* Copy YYSRC to YYDEST, returning the address of the terminating '\0' in
   YYDEST.  */
static char *
yystpcpy (char *yydest, const char *yysrc)
{
  char *yyd = yydest;
  const char *yys = yysrc;

  while ((*yyd++ = *yys++) != '\0')
    continue;

  return yyd - 1;
}
# endif
#endif



static int
yy_syntax_error_arguments (const yypcontext_t *yyctx,
                           yysymbol_kind_t yyarg[], int yyargn)
{
  /* Actual size of YYARG. */
  int yycount = 0;
  /* There are many possibilities here to consider:
     - If this state is a consistent state with a default action, then
       the only way this function was invoked is if the default action
       is an error action.  In that case, don't check for expected
       tokens because there are none.
     - The only way there can be no lookahead present (in yychar) is if
       this state is a consistent state with a default action.  Thus,
       detecting the absence of a lookahead is sufficient to determine
       that there is no unexpected or expected token to report.  In that
       case, just report a simple "syntax error".
     - Don't assume there isn't a lookahead just because this state is a
       consistent state with a default action.  There might have been a
       previous inconsistent state, consistent state with a non-default
       action, or user semantic action that manipulated yychar.
     - Of course, the expected token list depends on states to have
       correct lookahead information, and it depends on the parser not
       to perform extra reductions after fetching a lookahead from the
       scanner and before detecting a syntax error.  Thus, state merging
       (from LALR or IELR) and default reductions corrupt the expected
       token list.  However, the list is correct for canonical LR with
       one exception: it will still contain any token that will not be
       accepted due to an error action in a later state.
  */
  if (yyctx->yytoken != YYSYMBOL_YYEMPTY)
    {
      int yyn;
      if (yyarg)
        yyarg[yycount] = yyctx->yytoken;
      ++yycount;
      yyn = yypcontext_expected_tokens (yyctx,
                                        yyarg ? yyarg + 1 : yyarg, yyargn - 1);
      if (yyn == YYENOMEM)
        return YYENOMEM;
      else
        yycount += yyn;
    }
  return yycount;
}

/* Copy into *YYMSG, which is of size *YYMSG_ALLOC, an error message
   about the unexpected token YYTOKEN for the state stack whose top is
   YYSSP.

   Return 0 if *YYMSG was successfully written.  Return -1 if *YYMSG is
   not large enough to hold the message.  In that case, also set
   *YYMSG_ALLOC to the required number of bytes.  Return YYENOMEM if the
   required number of bytes is too large to store.  */
static int
yysyntax_error (YYPTRDIFF_T *yymsg_alloc, char **yymsg,
                const yypcontext_t *yyctx)
{
  enum { YYARGS_MAX = 5 };
  /* Internationalized format string. */
  const char *yyformat = YY_NULLPTR;
  /* Arguments of yyformat: reported tokens (one for the "unexpected",
     one per "expected"). */
  yysymbol_kind_t yyarg[YYARGS_MAX];
  /* Cumulated lengths of YYARG.  */
  YYPTRDIFF_T yysize = 0;

  /* Actual size of YYARG. */
  int yycount = yy_syntax_error_arguments (yyctx, yyarg, YYARGS_MAX);
  if (yycount == YYENOMEM)
    return YYENOMEM;

  switch (yycount)
    {
#define YYCASE_(N, S)                       \
      case N:                               \
        yyformat = S;                       \
        break
    default: /* Avoid compiler warnings. */
      YYCASE_(0, YY_("syntax error"));
      YYCASE_(1, YY_("syntax error, unexpected %s"));
      YYCASE_(2, YY_("syntax error, unexpected %s, expecting %s"));
      YYCASE_(3, YY_("syntax error, unexpected %s, expecting %s or %s"));
      YYCASE_(4, YY_("syntax error, unexpected %s, expecting %s or %s or %s"));
      YYCASE_(5, YY_("syntax error, unexpected %s, expecting %s or %s or %s or %s"));
#undef YYCASE_
    }

  /* Compute error message size.  Don't count the "%s"s, but reserve
     room for the terminator.  */
  yysize = yystrlen (yyformat) - 2 * yycount + 1;
  {
    int yyi;
    for (yyi = 0; yyi < yycount; ++yyi)
      {
        YYPTRDIFF_T yysize1
          = yysize + yystrlen (yysymbol_name (yyarg[yyi]));
        if (yysize <= yysize1 && yysize1 <= YYSTACK_ALLOC_MAXIMUM)
          yysize = yysize1;
        else
          return YYENOMEM;
      }
  }

  if (*yymsg_alloc < yysize)
    {
      *yymsg_alloc = 2 * yysize;
      if (! (yysize <= *yymsg_alloc
             && *yymsg_alloc <= YYSTACK_ALLOC_MAXIMUM))
        *yymsg_alloc = YYSTACK_ALLOC_MAXIMUM;
      return -1;
    }

  /* Avoid sprintf, as that infringes on the user's name space.
     Don't have undefined behavior even if the translation
     produced a string with the wrong number of "%s"s.  */
  {
    char *yyp = *yymsg;
    int yyi = 0;
    while ((*yyp = *yyformat) != '\0')
      if (*yyp == '%' && yyformat[1] == 's' && yyi < yycount)
        {
          yyp = yystpcpy (yyp, yysymbol_name (yyarg[yyi++]));
          yyformat += 2;
        }
      else
        {
          ++yyp;
          ++yyformat;
        }
  }
  return 0;
}


/*-----------------------------------------------.
| Release the memory associated to this symbol.  |
`-----------------------------------------------*/

static void
yydestruct (const char *yymsg,
            yysymbol_kind_t yykind, YYSTYPE *yyvaluep, YYLTYPE *yylocationp, void *scanner, struct ParseCtx *ctx)
{
  YY_USE (yyvaluep);
  YY_USE (yylocationp);
  YY_USE (scanner);
  YY_USE (ctx);
  if (!yymsg)
    yymsg = "Deleting";
  YY_SYMBOL_PRINT (yymsg, yykind, yyvaluep, yylocationp);

  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  YY_USE (yykind);
  YY_IGNORE_MAYBE_UNINITIALIZED_END
}






/*----------.
| yyparse.  |
`----------*/

int
yyparse (void *scanner, struct ParseCtx *ctx)
{
/* Lookahead token kind.  */
int yychar;


/* The semantic value of the lookahead symbol.  */
/* Default value used for initialization, for pacifying older GCCs
   or non-GCC compilers.  */
YY_INITIAL_VALUE (static YYSTYPE yyval_default;)
YYSTYPE yylval YY_INITIAL_VALUE (= yyval_default);

/* Location data for the lookahead symbol.  */
static YYLTYPE yyloc_default
# if defined MIXLTYPE_IS_TRIVIAL && MIXLTYPE_IS_TRIVIAL
  = { 1, 1, 1, 1 }
# endif
;
YYLTYPE yylloc = yyloc_default;

    /* Number of syntax errors so far.  */
    int yynerrs = 0;

    yy_state_fast_t yystate = 0;
    /* Number of tokens to shift before error messages enabled.  */
    int yyerrstatus = 0;

    /* Refer to the stacks through separate pointers, to allow yyoverflow
       to reallocate them elsewhere.  */

    /* Their size.  */
    YYPTRDIFF_T yystacksize = YYINITDEPTH;

    /* The state stack: array, bottom, top.  */
    yy_state_t yyssa[YYINITDEPTH];
    yy_state_t *yyss = yyssa;
    yy_state_t *yyssp = yyss;

    /* The semantic value stack: array, bottom, top.  */
    YYSTYPE yyvsa[YYINITDEPTH];
    YYSTYPE *yyvs = yyvsa;
    YYSTYPE *yyvsp = yyvs;

    /* The location stack: array, bottom, top.  */
    YYLTYPE yylsa[YYINITDEPTH];
    YYLTYPE *yyls = yylsa;
    YYLTYPE *yylsp = yyls;

  int yyn;
  /* The return value of yyparse.  */
  int yyresult;
  /* Lookahead symbol kind.  */
  yysymbol_kind_t yytoken = YYSYMBOL_YYEMPTY;
  /* The variables used to return semantic value and location from the
     action routines.  */
  YYSTYPE yyval;
  YYLTYPE yyloc;

  /* The locations where the error started and ended.  */
  YYLTYPE yyerror_range[3];

  /* Buffer for error messages, and its allocated size.  */
  char yymsgbuf[128];
  char *yymsg = yymsgbuf;
  YYPTRDIFF_T yymsg_alloc = sizeof yymsgbuf;

#define YYPOPSTACK(N)   (yyvsp -= (N), yyssp -= (N), yylsp -= (N))

  /* The number of symbols on the RHS of the reduced rule.
     Keep to zero when no symbol should be popped.  */
  int yylen = 0;

  YYDPRINTF ((stderr, "Starting parse\n"));

  yychar = MIXEMPTY; /* Cause a token to be read.  */

  yylsp[0] = yylloc;
  goto yysetstate;


/*------------------------------------------------------------.
| yynewstate -- push a new state, which is found in yystate.  |
`------------------------------------------------------------*/
yynewstate:
  /* In all cases, when you get here, the value and location stacks
     have just been pushed.  So pushing a state here evens the stacks.  */
  yyssp++;


/*--------------------------------------------------------------------.
| yysetstate -- set current state (the top of the stack) to yystate.  |
`--------------------------------------------------------------------*/
yysetstate:
  YYDPRINTF ((stderr, "Entering state %d\n", yystate));
  YY_ASSERT (0 <= yystate && yystate < YYNSTATES);
  YY_IGNORE_USELESS_CAST_BEGIN
  *yyssp = YY_CAST (yy_state_t, yystate);
  YY_IGNORE_USELESS_CAST_END
  YY_STACK_PRINT (yyss, yyssp);

  if (yyss + yystacksize - 1 <= yyssp)
#if !defined yyoverflow && !defined YYSTACK_RELOCATE
    YYNOMEM;
#else
    {
      /* Get the current used size of the three stacks, in elements.  */
      YYPTRDIFF_T yysize = yyssp - yyss + 1;

# if defined yyoverflow
      {
        /* Give user a chance to reallocate the stack.  Use copies of
           these so that the &'s don't force the real ones into
           memory.  */
        yy_state_t *yyss1 = yyss;
        YYSTYPE *yyvs1 = yyvs;
        YYLTYPE *yyls1 = yyls;

        /* Each stack pointer address is followed by the size of the
           data in use in that stack, in bytes.  This used to be a
           conditional around just the two extra args, but that might
           be undefined if yyoverflow is a macro.  */
        yyoverflow (YY_("memory exhausted"),
                    &yyss1, yysize * YYSIZEOF (*yyssp),
                    &yyvs1, yysize * YYSIZEOF (*yyvsp),
                    &yyls1, yysize * YYSIZEOF (*yylsp),
                    &yystacksize);
        yyss = yyss1;
        yyvs = yyvs1;
        yyls = yyls1;
      }
# else /* defined YYSTACK_RELOCATE */
      /* Extend the stack our own way.  */
      if (YYMAXDEPTH <= yystacksize)
        YYNOMEM;
      yystacksize *= 2;
      if (YYMAXDEPTH < yystacksize)
        yystacksize = YYMAXDEPTH;

      {
        yy_state_t *yyss1 = yyss;
        union yyalloc *yyptr =
          YY_CAST (union yyalloc *,
                   YYSTACK_ALLOC (YY_CAST (YYSIZE_T, YYSTACK_BYTES (yystacksize))));
        if (! yyptr)
          YYNOMEM;
        YYSTACK_RELOCATE (yyss_alloc, yyss);
        YYSTACK_RELOCATE (yyvs_alloc, yyvs);
        YYSTACK_RELOCATE (yyls_alloc, yyls);
#  undef YYSTACK_RELOCATE
        if (yyss1 != yyssa)
          YYSTACK_FREE (yyss1);
      }
# endif

      yyssp = yyss + yysize - 1;
      yyvsp = yyvs + yysize - 1;
      yylsp = yyls + yysize - 1;

      YY_IGNORE_USELESS_CAST_BEGIN
      YYDPRINTF ((stderr, "Stack size increased to %ld\n",
                  YY_CAST (long, yystacksize)));
      YY_IGNORE_USELESS_CAST_END

      if (yyss + yystacksize - 1 <= yyssp)
        YYABORT;
    }
#endif /* !defined yyoverflow && !defined YYSTACK_RELOCATE */


  if (yystate == YYFINAL)
    YYACCEPT;

  goto yybackup;


/*-----------.
| yybackup.  |
`-----------*/
yybackup:
  /* Do appropriate processing given the current state.  Read a
     lookahead token if we need one and don't already have one.  */

  /* First try to decide what to do without reference to lookahead token.  */
  yyn = yypact[yystate];
  if (yypact_value_is_default (yyn))
    goto yydefault;

  /* Not known => get a lookahead token if don't already have one.  */

  /* YYCHAR is either empty, or end-of-input, or a valid lookahead.  */
  if (yychar == MIXEMPTY)
    {
      YYDPRINTF ((stderr, "Reading a token\n"));
      yychar = yylex (&yylval, &yylloc, scanner);
    }

  if (yychar <= MIXEOF)
    {
      yychar = MIXEOF;
      yytoken = YYSYMBOL_YYEOF;
      YYDPRINTF ((stderr, "Now at end of input.\n"));
    }
  else if (yychar == MIXerror)
    {
      /* The scanner already issued an error message, process directly
         to error recovery.  But do not keep the error token as
         lookahead, it is too special and may lead us to an endless
         loop in error recovery. */
      yychar = MIXUNDEF;
      yytoken = YYSYMBOL_YYerror;
      yyerror_range[1] = yylloc;
      goto yyerrlab1;
    }
  else
    {
      yytoken = YYTRANSLATE (yychar);
      YY_SYMBOL_PRINT ("Next token is", yytoken, &yylval, &yylloc);
    }

  /* If the proper action on seeing token YYTOKEN is to reduce or to
     detect an error, take that action.  */
  yyn += yytoken;
  if (yyn < 0 || YYLAST < yyn || yycheck[yyn] != yytoken)
    goto yydefault;
  yyn = yytable[yyn];
  if (yyn <= 0)
    {
      if (yytable_value_is_error (yyn))
        goto yyerrlab;
      yyn = -yyn;
      goto yyreduce;
    }

  /* Count tokens shifted since error; after three, turn off error
     status.  */
  if (yyerrstatus)
    yyerrstatus--;

  /* Shift the lookahead token.  */
  YY_SYMBOL_PRINT ("Shifting", yytoken, &yylval, &yylloc);
  yystate = yyn;
  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  *++yyvsp = yylval;
  YY_IGNORE_MAYBE_UNINITIALIZED_END
  *++yylsp = yylloc;

  /* Discard the shifted token.  */
  yychar = MIXEMPTY;
  goto yynewstate;


/*-----------------------------------------------------------.
| yydefault -- do the default action for the current state.  |
`-----------------------------------------------------------*/
yydefault:
  yyn = yydefact[yystate];
  if (yyn == 0)
    goto yyerrlab;
  goto yyreduce;


/*-----------------------------.
| yyreduce -- do a reduction.  |
`-----------------------------*/
yyreduce:
  /* yyn is the number of a rule to reduce with.  */
  yylen = yyr2[yyn];

  /* If YYLEN is nonzero, implement the default value of the action:
     '$$ = $1'.

     Otherwise, the following line sets YYVAL to garbage.
     This behavior is undocumented and Bison
     users should not rely upon it.  Assigning to YYVAL
     unconditionally makes the parser a bit smaller, and it avoids a
     GCC warning that YYVAL may be used uninitialized.  */
  yyval = yyvsp[1-yylen];

  /* Default location. */
  YYLLOC_DEFAULT (yyloc, (yylsp - yylen), yylen);
  yyerror_range[1] = yyloc;
  YY_REDUCE_PRINT (yyn);
  switch (yyn)
    {
  case 3: /* $@1: %empty  */
#line 107 "grammar/parser.y"
            {
          RECOVERED("a layout starts with its header: model \"NAME\" { layers = ... }");
          ctx->ast->kinds_lost = true;
      }
#line 1557 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 5: /* header: "'model'" model_name '{' fields '}' "end of statement"  */
#line 114 "grammar/parser.y"
                                                {
          ctx->ast->has_header = true;
          ctx->ast->name = (yyvsp[-4].text);
          ctx->ast->name_loc = loc_of((yylsp[-4]));
          ctx->ast->header_loc = loc_of((yylsp[-5]));
          ctx->ast->fields = (yyvsp[-2].fields).head;
      }
#line 1569 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 8: /* fields: %empty  */
#line 129 "grammar/parser.y"
                             { (yyval.fields).head = (yyval.fields).tail = NULL; }
#line 1575 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 9: /* fields: fields field_key '=' value "end of statement"  */
#line 130 "grammar/parser.y"
                                                {
          AstField *f = new_field(ctx, (yyvsp[-3].text), (yylsp[-3]), (yyvsp[-1].value));
          (yyval.fields) = (yyvsp[-4].fields);
          if ((yyval.fields).tail) (yyval.fields).tail->next = f; else (yyval.fields).head = f;
          (yyval.fields).tail = f;
      }
#line 1586 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 10: /* fields: fields "end of statement"  */
#line 136 "grammar/parser.y"
                             { (yyval.fields) = (yyvsp[-1].fields); }
#line 1592 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 11: /* fields: fields error "end of statement"  */
#line 137 "grammar/parser.y"
                             { (yyval.fields) = (yyvsp[-2].fields); RECOVERED("a header field is 'key = value', one per line"); }
#line 1598 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 14: /* value: "integer"  */
#line 147 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_INT, .i = (yyvsp[0].integer), .r = (double)(yyvsp[0].integer), .loc = loc_of((yyloc))}; }
#line 1604 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 15: /* value: '-' "integer"  */
#line 148 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_INT, .i = -(yyvsp[0].integer), .r = -(double)(yyvsp[0].integer), .loc = loc_of((yyloc))}; }
#line 1610 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 16: /* value: "real number"  */
#line 149 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_REAL, .r = (yyvsp[0].real), .loc = loc_of((yyloc))}; }
#line 1616 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 17: /* value: '-' "real number"  */
#line 150 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_REAL, .r = -(yyvsp[0].real), .loc = loc_of((yyloc))}; }
#line 1622 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 18: /* value: "name"  */
#line 151 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_IDENT, .ident = (yyvsp[0].text), .loc = loc_of((yyloc))}; }
#line 1628 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 19: /* value: "'true'"  */
#line 152 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_BOOL, .i = 1, .loc = loc_of((yyloc))}; }
#line 1634 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 20: /* value: "'false'"  */
#line 153 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_BOOL, .i = 0, .loc = loc_of((yyloc))}; }
#line 1640 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 24: /* stmts: stmts "'layers'" set ':' "'pattern'" error "end of statement"  */
#line 162 "grammar/parser.y"
                                            {
          RECOVERED("a pattern lists attentions, each optionally with 'reads' and a repeat: pattern [local * 5, global reads 0]");
      }
#line 1648 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 25: /* stmts: stmts "'layers'" set error "end of statement"  */
#line 165 "grammar/parser.y"
                                { RECOVERED("a layer statement is 'layers 0..11 : ATTENTION [reads LAYER]'"); }
#line 1654 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 26: /* stmts: stmts "'default'" error "end of statement"  */
#line 166 "grammar/parser.y"
                              { RECOVERED("the default statement is 'default : ATTENTION [reads LAYER]'"); }
#line 1660 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 27: /* stmts: stmts "'attention'" error "end of statement"  */
#line 167 "grammar/parser.y"
                                {
          RECOVERED("an attention kind is declared as 'attention NAME = global', 'attention NAME = window W' or 'attention NAME = chunked C'");
          ctx->ast->kinds_lost = true;
      }
#line 1669 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 28: /* stmts: stmts "'model'" error "end of statement"  */
#line 171 "grammar/parser.y"
                            { RECOVERED("the model header comes once, at the top of the file"); }
#line 1675 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 29: /* stmts: stmts error "end of statement"  */
#line 172 "grammar/parser.y"
                      { ctx->lost = ctx->ast->kinds_lost = true; }
#line 1681 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 30: /* stmt: "'attention'" "name" '=' attn kind_props  */
#line 176 "grammar/parser.y"
                                                {
          AstStmt *s = new_stmt(ctx, STMT_KIND, (yyloc));
          s->name = (yyvsp[-3].text);
          s->name_loc = loc_of((yylsp[-3]));
          s->attn = (yyvsp[-1].attn);
          s->props = (yyvsp[0].fields).head;
      }
#line 1693 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 31: /* stmt: "'layers'" set ':' elem  */
#line 183 "grammar/parser.y"
                         {
          AstStmt *s = new_stmt(ctx, STMT_LAYERS, (yyloc));
          s->set = (yyvsp[-2].items).head;
          s->elems = (yyvsp[0].elem);
      }
#line 1703 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 32: /* stmt: "'layers'" set ':' "'pattern'" '[' elems ']'  */
#line 188 "grammar/parser.y"
                                          {
          AstStmt *s = new_stmt(ctx, STMT_LAYERS, (yyloc));
          s->set = (yyvsp[-5].items).head;
          s->is_pattern = true;
          s->elems = (yyvsp[-1].elems).head;
      }
#line 1714 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 33: /* stmt: "'default'" ':' elem  */
#line 194 "grammar/parser.y"
                       {
          AstStmt *s = new_stmt(ctx, STMT_DEFAULT, (yyloc));
          s->elems = (yyvsp[0].elem);
      }
#line 1723 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 34: /* stmt: "'model'" model_name '{' fields '}'  */
#line 198 "grammar/parser.y"
                                      { second_header(ctx, (yylsp[-4])); }
#line 1729 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 35: /* kind_props: %empty  */
#line 204 "grammar/parser.y"
                            { (yyval.fields).head = (yyval.fields).tail = NULL; }
#line 1735 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 36: /* kind_props: kind_props "name" prop_value  */
#line 205 "grammar/parser.y"
                                             {
          AstField *f = new_field(ctx, (yyvsp[-1].text), (yylsp[-1]), (yyvsp[0].value));
          (yyval.fields) = (yyvsp[-2].fields);
          if ((yyval.fields).tail) (yyval.fields).tail->next = f; else (yyval.fields).head = f;
          (yyval.fields).tail = f;
      }
#line 1746 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 37: /* prop_value: %empty  */
#line 214 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_BOOL, .i = 1, .loc = loc_of((yyloc))}; }
#line 1752 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 38: /* prop_value: "integer"  */
#line 215 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_INT, .i = (yyvsp[0].integer), .r = (double)(yyvsp[0].integer), .loc = loc_of((yyloc))}; }
#line 1758 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 39: /* prop_value: "real number"  */
#line 216 "grammar/parser.y"
                   { (yyval.value) = (AstValue){.kind = AV_REAL, .r = (yyvsp[0].real), .loc = loc_of((yyloc))}; }
#line 1764 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 40: /* set: item  */
#line 220 "grammar/parser.y"
                    { (yyval.items).head = (yyval.items).tail = (yyvsp[0].item); }
#line 1770 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 41: /* set: set ',' item  */
#line 221 "grammar/parser.y"
                    { (yyval.items) = (yyvsp[-2].items); (yyval.items).tail->next = (yyvsp[0].item); (yyval.items).tail = (yyvsp[0].item); }
#line 1776 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 42: /* item: "integer"  */
#line 225 "grammar/parser.y"
                                   { (yyval.item) = new_item(ctx, (yyvsp[0].integer), (yyvsp[0].integer), 1, loc_of((yyloc))); }
#line 1782 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 43: /* item: "integer" ".." "integer"  */
#line 226 "grammar/parser.y"
                                   { (yyval.item) = new_item(ctx, (yyvsp[-2].integer), (yyvsp[0].integer), 1, loc_of((yyloc))); }
#line 1788 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 44: /* item: "integer" ".." "integer" "'step'" "integer"  */
#line 227 "grammar/parser.y"
                                   { (yyval.item) = new_item(ctx, (yyvsp[-4].integer), (yyvsp[-2].integer), (yyvsp[0].integer), loc_span((yylsp[-4]), (yylsp[0]))); }
#line 1794 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 45: /* elems: pelem  */
#line 231 "grammar/parser.y"
                       { (yyval.elems).head = (yyval.elems).tail = (yyvsp[0].elem); }
#line 1800 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 46: /* elems: elems ',' pelem  */
#line 232 "grammar/parser.y"
                       { (yyval.elems) = (yyvsp[-2].elems); (yyval.elems).tail->next = (yyvsp[0].elem); (yyval.elems).tail = (yyvsp[0].elem); }
#line 1806 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 48: /* pelem: elem '*' "integer"  */
#line 237 "grammar/parser.y"
                       { (yyval.elem) = (yyvsp[-2].elem); (yyval.elem)->repeat = (yyvsp[0].integer); (yyval.elem)->loc = loc_of((yyloc)); }
#line 1812 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 49: /* elem: attn  */
#line 241 "grammar/parser.y"
           {
          (yyval.elem) = arena_alloc(ctx->arena, sizeof(AstElem));
          (yyval.elem)->attn = (yyvsp[0].attn);
          (yyval.elem)->repeat = 1;
          (yyval.elem)->loc = loc_of((yyloc));
      }
#line 1823 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 50: /* elem: attn "'reads'" ref  */
#line 247 "grammar/parser.y"
                     {
          (yyval.elem) = arena_alloc(ctx->arena, sizeof(AstElem));
          (yyval.elem)->attn = (yyvsp[-2].attn);
          (yyval.elem)->ref = (yyvsp[0].ref);
          (yyval.elem)->repeat = 1;
          (yyval.elem)->loc = loc_of((yyloc));
      }
#line 1835 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 51: /* attn: "name"  */
#line 257 "grammar/parser.y"
                    { (yyval.attn) = (AstAttn){.syntax = ATTN_NAMED, .name = (yyvsp[0].text), .loc = loc_of((yyloc))}; }
#line 1841 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 52: /* attn: "'global'"  */
#line 258 "grammar/parser.y"
                    { (yyval.attn) = (AstAttn){.syntax = ATTN_GLOBAL, .loc = loc_of((yyloc))}; }
#line 1847 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 53: /* attn: "'window'" sint  */
#line 259 "grammar/parser.y"
                    { (yyval.attn) = (AstAttn){.syntax = ATTN_WINDOW, .window = (yyvsp[0].integer), .loc = loc_of((yyloc))}; }
#line 1853 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 54: /* attn: "'chunked'" sint  */
#line 260 "grammar/parser.y"
                    { (yyval.attn) = (AstAttn){.syntax = ATTN_CHUNKED, .chunked = (yyvsp[0].integer), .loc = loc_of((yyloc))}; }
#line 1859 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 55: /* sint: "integer"  */
#line 264 "grammar/parser.y"
                    { (yyval.integer) = (yyvsp[0].integer); }
#line 1865 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 56: /* sint: '-' "integer"  */
#line 265 "grammar/parser.y"
                    { (yyval.integer) = -(yyvsp[0].integer); }
#line 1871 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 57: /* ref: "integer"  */
#line 269 "grammar/parser.y"
                    { (yyval.ref) = (AstRef){.kind = REF_ABS, .n = (yyvsp[0].integer), .loc = loc_of((yyloc))}; }
#line 1877 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 58: /* ref: '-' "integer"  */
#line 270 "grammar/parser.y"
                    { (yyval.ref) = (AstRef){.kind = REF_REL, .n = (yyvsp[0].integer), .loc = loc_of((yyloc))}; }
#line 1883 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 59: /* ref: "'prev'"  */
#line 271 "grammar/parser.y"
                    { (yyval.ref) = (AstRef){.kind = REF_REL, .n = 1, .loc = loc_of((yyloc))}; }
#line 1889 "build-fuzz2/fuzz/gen/parser.c"
    break;

  case 60: /* ref: "'last'"  */
#line 272 "grammar/parser.y"
                    { (yyval.ref) = (AstRef){.kind = REF_LAST, .loc = loc_of((yyloc))}; }
#line 1895 "build-fuzz2/fuzz/gen/parser.c"
    break;


#line 1899 "build-fuzz2/fuzz/gen/parser.c"

      default: break;
    }
  /* User semantic actions sometimes alter yychar, and that requires
     that yytoken be updated with the new translation.  We take the
     approach of translating immediately before every use of yytoken.
     One alternative is translating here after every semantic action,
     but that translation would be missed if the semantic action invokes
     YYABORT, YYACCEPT, or YYERROR immediately after altering yychar or
     if it invokes YYBACKUP.  In the case of YYABORT or YYACCEPT, an
     incorrect destructor might then be invoked immediately.  In the
     case of YYERROR or YYBACKUP, subsequent parser actions might lead
     to an incorrect destructor call or verbose syntax error message
     before the lookahead is translated.  */
  YY_SYMBOL_PRINT ("-> $$ =", YY_CAST (yysymbol_kind_t, yyr1[yyn]), &yyval, &yyloc);

  YYPOPSTACK (yylen);
  yylen = 0;

  *++yyvsp = yyval;
  *++yylsp = yyloc;

  /* Now 'shift' the result of the reduction.  Determine what state
     that goes to, based on the state we popped back to and the rule
     number reduced by.  */
  {
    const int yylhs = yyr1[yyn] - YYNTOKENS;
    const int yyi = yypgoto[yylhs] + *yyssp;
    yystate = (0 <= yyi && yyi <= YYLAST && yycheck[yyi] == *yyssp
               ? yytable[yyi]
               : yydefgoto[yylhs]);
  }

  goto yynewstate;


/*--------------------------------------.
| yyerrlab -- here on detecting error.  |
`--------------------------------------*/
yyerrlab:
  /* Make sure we have latest lookahead translation.  See comments at
     user semantic actions for why this is necessary.  */
  yytoken = yychar == MIXEMPTY ? YYSYMBOL_YYEMPTY : YYTRANSLATE (yychar);
  /* If not already recovering from an error, report this error.  */
  if (!yyerrstatus)
    {
      ++yynerrs;
      {
        yypcontext_t yyctx
          = {yyssp, yytoken, &yylloc};
        char const *yymsgp = YY_("syntax error");
        int yysyntax_error_status;
        yysyntax_error_status = yysyntax_error (&yymsg_alloc, &yymsg, &yyctx);
        if (yysyntax_error_status == 0)
          yymsgp = yymsg;
        else if (yysyntax_error_status == -1)
          {
            if (yymsg != yymsgbuf)
              YYSTACK_FREE (yymsg);
            yymsg = YY_CAST (char *,
                             YYSTACK_ALLOC (YY_CAST (YYSIZE_T, yymsg_alloc)));
            if (yymsg)
              {
                yysyntax_error_status
                  = yysyntax_error (&yymsg_alloc, &yymsg, &yyctx);
                yymsgp = yymsg;
              }
            else
              {
                yymsg = yymsgbuf;
                yymsg_alloc = sizeof yymsgbuf;
                yysyntax_error_status = YYENOMEM;
              }
          }
        yyerror (&yylloc, scanner, ctx, yymsgp);
        if (yysyntax_error_status == YYENOMEM)
          YYNOMEM;
      }
    }

  yyerror_range[1] = yylloc;
  if (yyerrstatus == 3)
    {
      /* If just tried and failed to reuse lookahead token after an
         error, discard it.  */

      if (yychar <= MIXEOF)
        {
          /* Return failure if at end of input.  */
          if (yychar == MIXEOF)
            YYABORT;
        }
      else
        {
          yydestruct ("Error: discarding",
                      yytoken, &yylval, &yylloc, scanner, ctx);
          yychar = MIXEMPTY;
        }
    }

  /* Else will try to reuse lookahead token after shifting the error
     token.  */
  goto yyerrlab1;


/*---------------------------------------------------.
| yyerrorlab -- error raised explicitly by YYERROR.  |
`---------------------------------------------------*/
yyerrorlab:
  /* Pacify compilers when the user code never invokes YYERROR and the
     label yyerrorlab therefore never appears in user code.  */
  if (0)
    YYERROR;
  ++yynerrs;

  /* Do not reclaim the symbols of the rule whose action triggered
     this YYERROR.  */
  YYPOPSTACK (yylen);
  yylen = 0;
  YY_STACK_PRINT (yyss, yyssp);
  yystate = *yyssp;
  goto yyerrlab1;


/*-------------------------------------------------------------.
| yyerrlab1 -- common code for both syntax error and YYERROR.  |
`-------------------------------------------------------------*/
yyerrlab1:
  yyerrstatus = 3;      /* Each real token shifted decrements this.  */

  /* Pop stack until we find a state that shifts the error token.  */
  for (;;)
    {
      yyn = yypact[yystate];
      if (!yypact_value_is_default (yyn))
        {
          yyn += YYSYMBOL_YYerror;
          if (0 <= yyn && yyn <= YYLAST && yycheck[yyn] == YYSYMBOL_YYerror)
            {
              yyn = yytable[yyn];
              if (0 < yyn)
                break;
            }
        }

      /* Pop the current state because it cannot handle the error token.  */
      if (yyssp == yyss)
        YYABORT;

      yyerror_range[1] = *yylsp;
      yydestruct ("Error: popping",
                  YY_ACCESSING_SYMBOL (yystate), yyvsp, yylsp, scanner, ctx);
      YYPOPSTACK (1);
      yystate = *yyssp;
      YY_STACK_PRINT (yyss, yyssp);
    }

  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  *++yyvsp = yylval;
  YY_IGNORE_MAYBE_UNINITIALIZED_END

  yyerror_range[2] = yylloc;
  ++yylsp;
  YYLLOC_DEFAULT (*yylsp, yyerror_range, 2);

  /* Shift the error token.  */
  YY_SYMBOL_PRINT ("Shifting", YY_ACCESSING_SYMBOL (yyn), yyvsp, yylsp);

  yystate = yyn;
  goto yynewstate;


/*-------------------------------------.
| yyacceptlab -- YYACCEPT comes here.  |
`-------------------------------------*/
yyacceptlab:
  yyresult = 0;
  goto yyreturnlab;


/*-----------------------------------.
| yyabortlab -- YYABORT comes here.  |
`-----------------------------------*/
yyabortlab:
  yyresult = 1;
  goto yyreturnlab;


/*-----------------------------------------------------------.
| yyexhaustedlab -- YYNOMEM (memory exhaustion) comes here.  |
`-----------------------------------------------------------*/
yyexhaustedlab:
  yyerror (&yylloc, scanner, ctx, YY_("memory exhausted"));
  yyresult = 2;
  goto yyreturnlab;


/*----------------------------------------------------------.
| yyreturnlab -- parsing is finished, clean up and return.  |
`----------------------------------------------------------*/
yyreturnlab:
  if (yychar != MIXEMPTY)
    {
      /* Make sure we have latest lookahead translation.  See comments at
         user semantic actions for why this is necessary.  */
      yytoken = YYTRANSLATE (yychar);
      yydestruct ("Cleanup: discarding lookahead",
                  yytoken, &yylval, &yylloc, scanner, ctx);
    }
  /* Do not reclaim the symbols of the rule whose action triggered
     this YYABORT or YYACCEPT.  */
  YYPOPSTACK (yylen);
  YY_STACK_PRINT (yyss, yyssp);
  while (yyssp != yyss)
    {
      yydestruct ("Cleanup: popping",
                  YY_ACCESSING_SYMBOL (+*yyssp), yyvsp, yylsp, scanner, ctx);
      YYPOPSTACK (1);
    }
#ifndef yyoverflow
  if (yyss != yyssa)
    YYSTACK_FREE (yyss);
#endif
  if (yymsg != yymsgbuf)
    YYSTACK_FREE (yymsg);
  return yyresult;
}

#line 275 "grammar/parser.y"


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
