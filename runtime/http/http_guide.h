/* http_guide.h — the grammar of guided decoding, which http_schema.c compiles from a JSON Schema and
 * http_guide.c follows byte by byte (docs/serving.md, "Structured outputs"). Private to the two. */
#ifndef MIXC_HTTP_GUIDE_H
#define MIXC_HTTP_GUIDE_H

#include "http.h"

/* What a node matches: JSON text. GN_ANY: any JSON value; GN_LITERAL: exactly `text` (a constant's
 * compact JSON, a key's quoted name); GN_ANYOF: any of alt (a $ref is one of one). Raw text, not JSON
 * (structured_outputs' regex and grammar, http_grammar.c): GN_TEXT, a text that dfa takes whole;
 * GN_SEQ, alt's texts one after the other; GN_REPEAT, items' text min_items to max_items times; and
 * GN_LITERAL and GN_ANYOF as above. */
typedef enum { GN_ANY, GN_OBJECT, GN_ARRAY, GN_STRING, GN_NUMBER, GN_INTEGER, GN_LITERAL, GN_ANYOF, GN_TEXT, GN_SEQ, GN_REPEAT } GuideKind;

typedef struct GuideNode GuideNode;

/* A DFA over the ASCII bytes of a string's decoded text or of a GN_TEXT (http_regex.c): next[state * 128 + byte] the
 * state after the byte, -1 where none leads to an accepting state; accept[state]; state 0 the start. */
typedef struct {
    int nstates;
    int16_t *next;
    uint8_t *accept;
} GuideDfa;

/* The quantifier at s[*at] of a regex's or a grammar's term: *, +, ? or {m}, {m,}, {m,n} (counts up to
 * max; spaces: white space inside the braces) as *lo and *hi (-1: no most), *at past it. 0: none
 * there; 1: one; -1: a malformed one, why said. */
int guide_quantifier(const char *s, size_t len, size_t *at, int max, bool spaces, int *lo, int *hi, char *why, size_t whylen);

/* The DFA of regex re[0, len) in A: search (a schema's pattern) matches anywhere unless anchored by
 * '^' and '$', else the whole text; NULL with why for what the subset does not compute. */
const GuideDfa *guide_regex(Arena *A, const char *re, size_t len, bool search, char *why, size_t whylen);

/* A GBNF grammar src[0, len) (structured_outputs' grammar) as a raw-text grammar whose answer is its
 * root rule's text; NULL with why: what is refused, and where ("line L, column C: ..."). */
GuideGrammar *guide_gbnf(const char *src, size_t len, char *why, size_t whylen);

/* An object's property: its key as JSON text ("\"city\""), its value's node. */
typedef struct {
    const GuideNode *key, *value;
    bool required;
} GuideProp;

struct GuideNode {
    GuideKind k;
    const GuideProp *prop;      /* object: its properties, in the schema's order (others never written) */
    int nprop;
    const GuideNode *extra;     /* object without "properties": its keys' values (any key); NULL: only the
                                 * properties ({} when there are none) */
    const GuideNode *items;     /* array: its items' (unique ones: the constants in alt, each written once) */
    int64_t min_items, max_items;   /* max -1: none */
    int64_t min_len, max_len;   /* string: code points; max -1: none */
    const GuideDfa *dfa;        /* string: its decoded text's (a pattern or a format); NULL: any text; text: its */
    const uint64_t *lengths;    /* string with a dfa and lengths: per state, [len_words] bits, bit L set where a
                                 * text of L characters leads from it to an accepting state (L <= len_cap);
                                 * NULL: no lengths */
    int64_t len_cap;
    int len_words;
    bool has_lo, has_hi;        /* integer: lo <= value <= hi */
    int64_t lo, hi;
    int64_t multiple;           /* integer: the value a multiple of it (1: any) */
    bool real_bounded;          /* number: real_lo <= value <= real_hi in units of 10^-18, the bounds
                                 * as the value parsed to a double compares with them (http_schema.c) */
    __int128 real_lo, real_hi;
    const char *text;           /* literal: len bytes */
    size_t len;
    const GuideNode **alt;      /* anyOf: [nalt]; seq: its parts; array of unique items: the literals they may be */
    int nalt;
    bool nullable;              /* raw text: the node matches the empty text (a seq or a repeat's; a repeat's
                                 * items never are) */
    int id;                     /* a grammar's node: its number (http_grammar.c's analyses) */
};

/* A compiled schema: its nodes in one arena; root the answer's value. */
struct GuideGrammar {
    Arena arena;
    const GuideNode *root;
    bool bare;                  /* no white space before the value (a choice's text, a regex's: as it is); a
                                 * grammar's root is a GN_SEQ, a regex's a GN_TEXT */
    _Atomic int refs;           /* owners past the first (guide_grammar_share) */
};

/* Whether a bounded number node (real_bounded) has a value the guide writes: at most 18 digits, 16 of
 * them after the point, no exponent. */
bool guide_number_has_value(const GuideNode *n);

/* Whether string node n (a dfa) in state st after v characters can still end within its lengths. */
bool guide_dfa_room(const GuideNode *n, int st, int64_t v);

/* The least multiple of m (> 0) that is at least a. */
static inline __int128 multiple_from(__int128 a, int64_t m) { return a >= 0 ? (a + m - 1) / m * m : -(-a / m * m); }

#define GUIDE_PIECE_MAX 255     /* a longer token's bytes are never allowed */

/* The vocabulary as guided decoding walks it (http_guide_vocab.c). */
struct GuideVocab {
    Arena arena;                /* every array below */
    int64_t n;                  /* ids [0, n): the model's */
    char **piece;               /* [n] the bytes a token adds to the text (NULL: never allowed: a special
                                 * token, an empty or too long one, one the tokenizer lacks) */
    uint32_t *len;
    int32_t *order;             /* [norder] the ids with a piece, by their bytes */
    uint16_t *lcp;              /* [norder] the bytes order[k]'s piece shares with order[k - 1]'s */
    int64_t norder;
    uint8_t *plain;             /* [n] the code points of a piece that is string text alone (no '"', '\\',
                                 * control character or part of a character; at most 255), else 0 */
    int32_t *rest;              /* [nrest] the other ids of order, in its order */
    uint16_t *rest_lcp;
    int64_t nrest;
};

/* Nodes every grammar shares: any JSON value, any string (an object's keys). */
extern const GuideNode GUIDE_ANY, GUIDE_ANY_STRING;

#endif
