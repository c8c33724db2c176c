/* http_guide.c — guided decoding (docs/serving.md, "Structured outputs"): a choice's answer kept to
 * the JSON texts a grammar matches (http_guide.h, compiled from a JSON Schema by http_schema.c).
 *
 * The answer's bytes so far leave the grammar in a set of places (an anyOf may still be any of its
 * branches, a number may go on or end): each a stack of frames, kept as immutable frames that point
 * to the one below, so a place that moves on shares the stack beneath it. Before each pick, every
 * token of the vocabulary whose bytes (tokenizer_piece's: what it adds to the text) lead from some
 * place to another is allowed, and the end ids once the value is whole; the others' logits are -inf.
 * The vocabulary is walked in the order of its bytes, so tokens that share a prefix step through it
 * once. Every place the grammar reaches can still end (no dead ends): an integer's digits stay
 * within its bounds, a string within its lengths. */
#include "http_guide.h"

#include <stdatomic.h>
#include <stdlib.h>

#define GUIDE_WS_MAX 20         /* white space bytes in a row (a model that writes only newlines stops) */
#define GUIDE_STATES 32         /* places at once (more are dropped: what is left is still valid) */
#define NUM_INT_DIGITS 18
#define NUM_FRAC_DIGITS 16
#define NUM_EXP_DIGITS 2
#define GUIDE_SCRATCH (4u << 20)   /* the frames of one mask's trial steps (past it: the token is not allowed) */

typedef enum { F_VALUE, F_LIT, F_STR, F_NUM, F_OBJ, F_ARR, F_TEXT, F_SEQ, F_REP, F_DONE } FrameKind;
enum { O_OPEN, O_NEXT, O_COLON, O_AFTER };                  /* F_OBJ: after '{', after ',', after a key, after a value */
enum { A_OPEN, A_NEXT, A_AFTER };                           /* F_ARR: after '[', after ',', after an item */
enum { S_CHAR, S_UTF8, S_ESC, S_HEX, S_LOW_SLASH, S_LOW_U }; /* F_STR */
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };   /* F_NUM: after what */

/* One level of a place. `up` is where the grammar goes when this value is whole (its phase already
 * the one after it); NULL: the answer's value, whole then. */
typedef struct Frame {
    uint8_t k, phase, ws;
    uint8_t flag;               /* F_STR: UTF-8 bytes still to come, or a low surrogate's \u; F_NUM: negative */
    int32_t i, j;               /* F_LIT: bytes matched; F_OBJ: the next property, the current one; F_ARR: items;
                                 * F_STR: a UTF-8 byte's range [i, j], or hex digits and their value (j: a
                                 * DFA's state); F_NUM: digits of the part; F_TEXT: j its DFA's state; F_SEQ:
                                 * i the part that comes next; F_REP: i the items so far */
    int64_t v;                  /* F_STR: code points; F_NUM: an integer's magnitude; F_ARR of unique items: the
                                 * constants written (bit k: alt[k]) */
    const GuideNode *n;
    const struct Frame *up;
} Frame;

static const Frame DONE = {.k = F_DONE};

/* Bytes for frames that live as long as one mask (reset to a mark as the walk backs up). */
typedef struct {
    char *base;
    size_t used, cap;
} Bump;

/* The frames a mask's step has already stepped (a direct-mapped table: a slot holds the last frame
 * that hashed to it, with the step's generation). The places share the frames beneath them, and a
 * nested grammar's walk up a stack visits them from every place; a frame stepped twice with the same
 * byte into the same places adds nothing the first time did not. */
#define STEP_MEMO 256
typedef struct {
    const Frame *f;
    uint32_t gen;
} MemoSlot;

/* Where steps put their places: out[n] (at most GUIDE_STATES), frames from bump or else arena. */
typedef struct {
    const Frame **out;
    int n;
    Bump *bump;
    Arena *arena;
    bool full;                  /* bump ran out: the step's places are not all there */
    MemoSlot *memo;             /* NULL: none (each frame stepped as often as it is reached) */
    uint32_t gen;
} Step;

const GuideNode GUIDE_ANY = {.k = GN_ANY}, GUIDE_ANY_STRING = {.k = GN_STRING, .max_len = -1};

static const GuideNode ANY_OBJECT = {.k = GN_OBJECT, .extra = &GUIDE_ANY, .max_items = -1, .max_len = -1};
static const GuideNode ANY_ARRAY = {.k = GN_ARRAY, .items = &GUIDE_ANY, .max_items = -1, .max_len = -1};
static const GuideNode ANY_NUMBER = {.k = GN_NUMBER, .max_items = -1, .max_len = -1};
static const GuideNode LIT_TRUE = {.k = GN_LITERAL, .text = "true", .len = 4};
static const GuideNode LIT_FALSE = {.k = GN_LITERAL, .text = "false", .len = 5};
static const GuideNode LIT_NULL = {.k = GN_LITERAL, .text = "null", .len = 4};
static const GuideNode *const ANY_ALT[] = {&ANY_OBJECT, &ANY_ARRAY, &GUIDE_ANY_STRING, &ANY_NUMBER, &LIT_TRUE, &LIT_FALSE, &LIT_NULL};

static bool is_ws(int b) { return b == ' ' || b == '\n' || b == '\r' || b == '\t'; }

/* Frame f in the step's memory (NULL when the scratch is full: the step then lacks places). */
static const Frame *put(Step *s, Frame f) {
    Frame *p;
    if (s->bump) {
        if (s->bump->cap - s->bump->used < sizeof *p) return s->full = true, NULL;
        p = (Frame *)(s->bump->base + s->bump->used);
        s->bump->used += sizeof *p;
    } else {
        p = arena_alloc(s->arena, sizeof *p);
    }
    *p = f;
    return p;
}

static bool same_frame(const Frame *a, const Frame *b) {
    return a->k == b->k && a->phase == b->phase && a->ws == b->ws && a->flag == b->flag && a->i == b->i && a->j == b->j &&
           a->v == b->v && a->n == b->n;
}

/* Whether two places are the same: frame by frame down their stacks (a grammar's continuations are
 * made anew by each way the text is read, alike). */
static bool same_place(const Frame *a, const Frame *b) {
    for (; a != b; a = a->up, b = b->up)
        if (!a || !b || a == &DONE || b == &DONE || !same_frame(a, b)) return false;
    return true;
}

/* Adds frame f (copied) to the step's places, unless one like it is there. (Once they are full, none
 * is added: no need to compare, down stacks that may be deep.) */
static void emit(Step *s, Frame f) {
    if (s->n >= GUIDE_STATES) return;
    for (int k = 0; k < s->n; k++)
        if (s->out[k] != &DONE && same_frame(s->out[k], &f) && same_place(s->out[k]->up, f.up)) return;
    const Frame *p = put(s, f);
    if (p) s->out[s->n++] = p;
}

/* The value whose frame returns to up is whole. */
static void complete(Step *s, const Frame *up) {
    if (!up) {
        if (s->n < GUIDE_STATES) {
            for (int k = 0; k < s->n; k++)
                if (s->out[k] == &DONE) return;
            s->out[s->n++] = &DONE;
        }
        return;
    }
    emit(s, *up);
}

/* A frame of kind k for node n returning to up. */
static Frame frame(FrameKind k, int phase, const GuideNode *n, const Frame *up) {
    return (Frame){.k = (uint8_t)k, .phase = (uint8_t)phase, .n = n, .up = up};
}

static void step(Step *s, const Frame *f, int b);

/* ------------------------------------------------------------------ numbers */

/* Whether [a, z] within n's bounds [lo, hi] holds a value of n (a multiple of its multipleOf). */
static bool range_holds(const GuideNode *n, __int128 lo, __int128 hi, __int128 a, __int128 z) {
    if (a < lo) a = lo;
    if (z > hi) z = hi;
    return a <= z && multiple_from(a, n->multiple > 1 ? n->multiple : 1) <= z;
}

/* Whether an integer of node n (bounds lo, hi, multipleOf) can still come of the digits so far: sign
 * neg, magnitude m of d digits (d 0: '-' alone; "0" has no more digits; "-0" is not written). */
static bool integer_feasible(const GuideNode *n, bool neg, int64_t m, int d) {
    __int128 lo = n->has_lo ? n->lo : -((__int128)1 << 100), hi = n->has_hi ? n->hi : (__int128)1 << 100;
    if (d == 0) return range_holds(n, lo, hi, -999999999999999999LL, -1);   /* any negative of up to 18 digits */
    if (m == 0) return !neg && range_holds(n, lo, hi, 0, 0);
    __int128 scale = 1;
    for (int k = 0; d + k <= NUM_INT_DIGITS; k++, scale *= 10) {   /* m then k more digits */
        __int128 a = (__int128)m * scale, z = a + scale - 1;
        if (neg) {
            __int128 t = -a;
            a = -z, z = t;
        }
        if (range_holds(n, lo, hi, a, z)) return true;
    }
    return false;
}

/* A bounded number (real_bounded) is written without an exponent, in at most REAL_DIGITS digits,
 * NUM_FRAC_DIGITS of them after the point; its frames' v holds all its digits' value, j (after the
 * point) the integer digits. Its values are exact multiples of 10^-18 here. */
#define REAL_DIGITS 18

static __int128 pow10_128(int k) {
    __int128 p = 1;
    while (k-- > 0) p *= 10;
    return p;
}

/* Whether one of the points start + k * step (k >= 0) below start + len lies within [a, b]. */
static bool span_hits(__int128 start, __int128 len, __int128 step, __int128 a, __int128 b) {
    __int128 from = a > start ? a : start;
    __int128 p = start + (from - start + step - 1) / step * step;
    return p < start + len && p <= b;
}

/* The step between the values of a bounded number with d integer digits: its last fraction digit's. */
static __int128 real_step(int d) {
    int frac = REAL_DIGITS - d < NUM_FRAC_DIGITS ? REAL_DIGITS - d : NUM_FRAC_DIGITS;
    return pow10_128(REAL_DIGITS - frac);
}

/* Whether a value of bounded number n can still come of the text so far: sign neg, its digits' value
 * N, d integer digits (0: '-' alone), f digits after the point (-1: no point yet); zero: the integer
 * part is "0", which takes no more digits. */
static bool real_feasible(const GuideNode *n, bool neg, int64_t N, int d, int f, bool zero) {
    __int128 a = neg ? -n->real_hi : n->real_lo, b = neg ? -n->real_lo : n->real_hi;   /* of the magnitude */
    if (a < 0) a = 0;
    if (b < a) return false;
    if (f >= 0) {   /* after the point: the digits so far, then up to the last fraction digit */
        __int128 step = real_step(d), unit = pow10_128(REAL_DIGITS - f);
        return step <= unit / (f == 0 ? 10 : 1) && span_hits((__int128)N * unit, unit, step, a, b);
    }
    for (int k = d ? 0 : 1; d + k <= REAL_DIGITS && (!zero || k == 0); k++) {   /* k more integer digits */
        __int128 unit = pow10_128(REAL_DIGITS + k);
        if (span_hits((__int128)N * unit, unit, real_step(d + k), a, b)) return true;
    }
    return false;
}

bool guide_number_has_value(const GuideNode *n) {
    if (real_feasible(n, true, 0, 0, -1, false)) return true;
    for (int c = 0; c <= 9; c++)
        if (real_feasible(n, false, c, 1, -1, c == 0)) return true;
    return false;
}

static bool number_whole(const Frame *f) {
    if (f->phase != N_ZERO && f->phase != N_INT && f->phase != N_FRAC && f->phase != N_EXP) return false;
    if (f->n->real_bounded) {
        __int128 v = (__int128)f->v * pow10_128(REAL_DIGITS - (f->phase == N_FRAC ? f->i : 0));
        if (f->flag) v = -v;
        return v >= f->n->real_lo && v <= f->n->real_hi;
    }
    if (f->n->k != GN_INTEGER) return true;
    int64_t v = f->flag ? -f->v : f->v;
    return (!f->n->has_lo || v >= f->n->lo) && (!f->n->has_hi || v <= f->n->hi) && (f->n->multiple <= 1 || v % f->n->multiple == 0);
}

/* A digit d onto an integer part (phase N_ZERO or N_INT after it). */
static void integer_digit(Step *s, const Frame *f, int d) {
    Frame g = *f;
    g.ws = 0;
    g.phase = d == 0 && f->phase == N_MINUS ? N_ZERO : N_INT;
    if (f->phase == N_MINUS && d == 0 && f->n->k == GN_INTEGER) return;   /* "-0" */
    g.i = f->i + 1;
    if (g.i > NUM_INT_DIGITS) return;   /* before the magnitude, which 19 digits would take past int64 */
    g.v = f->v * 10 + d;
    if (f->n->k == GN_INTEGER && !integer_feasible(f->n, f->flag, g.v, g.i)) return;
    if (f->n->real_bounded && !real_feasible(f->n, f->flag, g.v, g.i, -1, g.phase == N_ZERO)) return;
    emit(s, g);
}

/* A number's first byte. */
static void number_begin(Step *s, const GuideNode *n, const Frame *up, int b) {
    Frame f = frame(F_NUM, N_MINUS, n, up);
    if (b == '-') {
        f.flag = 1;
        if (n->real_bounded ? real_feasible(n, true, 0, 0, -1, false) : n->k != GN_INTEGER || integer_feasible(n, true, 0, 0))
            emit(s, f);
    } else if (b >= '0' && b <= '9') {
        if (b == '0') {
            f.phase = N_ZERO, f.i = 1;
            if (n->real_bounded ? real_feasible(n, false, 0, 1, -1, true) : n->k != GN_INTEGER || integer_feasible(n, false, 0, 1))
                emit(s, f);
        } else {
            f.phase = N_INT;
            integer_digit(s, &(Frame){.k = F_NUM, .phase = N_ZERO, .n = n, .up = up, .i = 0}, b - '0');
        }
    }
}

/* A byte after a bounded number's integer digits (taken before): its point, a fraction digit, or (a
 * whole one) the byte of what comes after it. */
static void real_step_past(Step *s, const Frame *f, int b) {
    int ph = f->phase;
    Frame g = *f;
    if (b == '.' && (ph == N_ZERO || ph == N_INT) && real_feasible(f->n, f->flag, f->v, f->i, 0, false))
        g.phase = N_DOT, g.j = f->i, g.i = 0, emit(s, g);
    if (b >= '0' && b <= '9' && (ph == N_DOT || ph == N_FRAC)) {
        g.phase = N_FRAC, g.i = f->i + 1, g.v = f->v * 10 + (b - '0');
        if (real_feasible(f->n, f->flag, g.v, f->j, g.i, false)) emit(s, g);
    }
    if (number_whole(f) && f->up) step(s, f->up, b);   /* the number ends before b */
}

/* A byte after a number: more of it, or (a whole one) the byte of what comes after it. */
static void number_step(Step *s, const Frame *f, int b) {
    bool digit = b >= '0' && b <= '9', real = f->n->k == GN_NUMBER, exp = b == 'e' || b == 'E';
    int ph = f->phase;
    Frame g = *f;
    if (digit && (ph == N_MINUS || ph == N_INT)) integer_digit(s, f, b - '0');
    if (f->n->real_bounded) return real_step_past(s, f, b);
    if (real && b == '.' && (ph == N_ZERO || ph == N_INT)) g.phase = N_DOT, g.i = 0, emit(s, g);
    if (real && exp && (ph == N_ZERO || ph == N_INT || ph == N_FRAC)) g.phase = N_E, g.i = 0, emit(s, g);
    if (digit && (ph == N_DOT || ph == N_FRAC) && f->i < NUM_FRAC_DIGITS) g.phase = N_FRAC, g.i = f->i + 1, emit(s, g);
    if ((b == '+' || b == '-') && ph == N_E) g.phase = N_ESIGN, emit(s, g);
    if (digit && (ph == N_E || ph == N_ESIGN || ph == N_EXP) && f->i < NUM_EXP_DIGITS) g.phase = N_EXP, g.i = f->i + 1, emit(s, g);
    if (number_whole(f) && f->up) step(s, f->up, b);   /* the number ends before b */
}

/* ------------------------------------------------------------------ strings */

static int hex_value(int b) {
    return b >= '0' && b <= '9' ? b - '0' : b >= 'a' && b <= 'f' ? b - 'a' + 10 : b >= 'A' && b <= 'F' ? b - 'A' + 10 : -1;
}

/* A character's first byte in a string: f (phase S_CHAR) with one more code point, if it has room. */
static void string_char(Step *s, const Frame *f, int b) {
    if (f->n->max_len >= 0 && f->v >= f->n->max_len) return;   /* no room for another character */
    Frame g = *f;
    if (b == '\\') return g.phase = S_ESC, emit(s, g);   /* counted at its end */
    if (b < 0x20 || (b >= 0x80 && b < 0xC2) || b > 0xF4) return;   /* a control character, or not UTF-8 */
    g.v = f->v + 1;
    if (b < 0x80) return emit(s, g);
    g.phase = S_UTF8;   /* Unicode's well-formed sequences: no overlong form, surrogate or past U+10FFFF */
    g.flag = b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
    g.i = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
    g.j = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    emit(s, g);
}

/* Four hex digits of \u: hex digit number f->i + 1, its value so far in f->j; f->flag set for the low
 * half of a surrogate pair. Never a lone surrogate or \u0000 (jansson reads neither). */
static void string_hex(Step *s, const Frame *f, int b) {
    int h = hex_value(b);
    if (h < 0) return;
    Frame g = *f;
    g.i = f->i + 1;
    g.j = f->j * 16 + h;
    if (f->flag ? (g.i == 1 && h != 0xD) || (g.i == 2 && h < 0xC) : g.i == 2 && g.j >= 0xDC && g.j <= 0xDF) return;
    if (g.i < 4) return emit(s, g);
    g.i = 0;
    if (f->flag || (g.j < 0xD800 || g.j > 0xDBFF)) {
        if (!g.j) return;
        g.phase = S_CHAR, g.flag = 0, g.j = 0, g.v = f->v + (f->flag ? 0 : 1);
        return emit(s, g);
    }
    g.phase = S_LOW_SLASH, g.j = 0, g.v = f->v + 1;   /* a pair counts one code point */
    emit(s, g);
}

/* JSON's short escapes: their letters after the backslash, and the bytes they stand for. */
static const char ESCAPE_LETTERS[] = "\"\\/bfnrt", ESCAPED_BYTES[] = "\"\\/\b\f\n\r\t";

/* The byte a short escape's letter b stands for, or -1 when b is not one. */
static int escaped_byte(int b) {
    const char *at = b ? strchr(ESCAPE_LETTERS, b) : NULL;
    return at ? ESCAPED_BYTES[at - ESCAPE_LETTERS] : -1;
}

bool guide_dfa_room(const GuideNode *n, int st, int64_t v) {
    if (!n->lengths) return true;
    int64_t lo = n->min_len - v, hi = n->max_len < 0 ? n->len_cap : n->max_len - v;   /* the characters still to come */
    if (lo < 0) lo = 0;
    if (hi > n->len_cap) hi = n->len_cap;
    const uint64_t *row = n->lengths + (size_t)st * (size_t)n->len_words;
    for (int64_t w = lo >> 6; lo <= hi && w <= hi >> 6; w++) {
        uint64_t bits = row[w];
        if (w == lo >> 6) bits &= ~0ull << (lo & 63);
        if (w == hi >> 6 && (hi & 63) != 63) bits &= (1ull << ((hi & 63) + 1)) - 1;
        if (bits) return true;
    }
    return false;
}

/* The state after character c of a DFA string at f, when it leads on within the lengths; else -1. */
static int dfa_next(const Frame *f, int c) {
    int next = c < 0 ? -1 : f->n->dfa->next[f->j * 128 + c];
    return next >= 0 && guide_dfa_room(f->n, next, f->v + 1) ? next : -1;
}

/* A byte of a string whose text a DFA keeps to (a pattern's, a format's): ASCII, written as it is or
 * by a short escape; its state in f->j. */
static void dfa_string_step(Step *s, const Frame *f, int b) {
    const GuideDfa *d = f->n->dfa;
    Frame g = *f;
    int c = -1;
    if (f->phase == S_CHAR && b == '"') {
        if (d->accept[f->j] && f->v >= f->n->min_len) complete(s, f->up);
        return;
    }
    if (f->phase == S_CHAR && b == '\\') {   /* an escape, where one of them leads on */
        for (const char *e = ESCAPE_LETTERS; *e; e++)
            if (dfa_next(f, escaped_byte(*e)) >= 0) return g.phase = S_ESC, emit(s, g);
        return;
    }
    if (f->phase == S_CHAR && b >= 0x20 && b < 0x80) c = b;
    if (f->phase == S_ESC) c = escaped_byte(b);
    int next = dfa_next(f, c);
    if (next < 0) return;
    g.phase = S_CHAR, g.j = next, g.v = f->v + 1;
    emit(s, g);
}

static void string_step(Step *s, const Frame *f, int b) {
    Frame g = *f;
    if (f->n->dfa) return dfa_string_step(s, f, b);
    switch (f->phase) {
    case S_CHAR:
        if (b == '"') {
            if (f->v >= f->n->min_len) complete(s, f->up);
            return;
        }
        return string_char(s, f, b);
    case S_UTF8:
        if (b < f->i || b > f->j) return;
        g.flag = (uint8_t)(f->flag - 1);
        g.phase = g.flag ? S_UTF8 : S_CHAR;
        g.i = 0x80, g.j = 0xBF;
        if (!g.flag) g.i = g.j = 0;
        return emit(s, g);
    case S_ESC:
        if (b == 'u') return g.phase = S_HEX, g.i = g.j = 0, g.flag = 0, emit(s, g);
        if (escaped_byte(b) < 0) return;
        return g.phase = S_CHAR, g.v = f->v + 1, emit(s, g);
    case S_HEX: return string_hex(s, f, b);
    case S_LOW_SLASH:
        if (b == '\\') g.phase = S_LOW_U, emit(s, g);
        return;
    case S_LOW_U:
        if (b == 'u') g.phase = S_HEX, g.flag = 1, g.i = g.j = 0, emit(s, g);
        return;
    }
}

/* ------------------------------------------------------------------ values, objects, arrays */

static void begin(Step *s, const GuideNode *n, const Frame *up, int b);

/* Whether an object may close before property i: every one from i on is optional. */
static bool object_closable(const GuideNode *n, int i) {
    for (int k = i; k < n->nprop; k++)
        if (n->prop[k].required) return false;
    return true;
}

/* A key's first byte, f an object after '{' or ',': a key of the properties from f->i on, up to the
 * first required one, or any string (an object without properties but with values for any key). */
static void object_key(Step *s, const Frame *f, int b) {
    Frame after = *f;
    after.phase = O_COLON, after.ws = 0;
    for (int k = f->i; k < f->n->nprop; k++) {
        after.i = k + 1, after.j = k;
        const GuideNode *key = f->n->prop[k].key;
        const Frame *up = b == key->text[0] ? put(s, after) : NULL;
        if (up) begin(s, key, up, b);
        if (f->n->prop[k].required) break;
    }
    const Frame *up = !f->n->nprop && f->n->extra && b == '"' ? put(s, after) : NULL;
    if (up) begin(s, &GUIDE_ANY_STRING, up, b);
}

/* White space before a value or a token of an object or array: f again, one more in its run (up to
 * GUIDE_WS_MAX). Whether b is white space. */
static bool white_space(Step *s, const Frame *f, int b) {
    if (!is_ws(b)) return false;
    Frame g = *f;
    g.ws++;
    if (f->ws < GUIDE_WS_MAX) emit(s, g);
    return true;
}

static void object_step(Step *s, const Frame *f, int b) {
    if (white_space(s, f, b)) return;
    Frame g = *f;
    g.ws = 0;
    const GuideNode *n = f->n;
    switch (f->phase) {
    case O_OPEN: case O_NEXT:
        if (b == '}' && f->phase == O_OPEN && object_closable(n, f->i)) complete(s, f->up);
        else object_key(s, f, b);
        break;
    case O_COLON:
        if (b == ':') {
            g.phase = O_AFTER;
            const Frame *up = put(s, g);
            if (up) emit(s, frame(F_VALUE, 0, n->nprop ? n->prop[f->j].value : n->extra, up));
        }
        break;
    case O_AFTER:
        if (b == ',' && (n->nprop ? f->i < n->nprop : true)) g.phase = O_NEXT, emit(s, g);
        if (b == '}' && object_closable(n, f->i)) complete(s, f->up);
        break;
    }
}

static void array_step(Step *s, const Frame *f, int b) {
    if (white_space(s, f, b)) return;
    Frame g = *f;
    g.ws = 0;
    const GuideNode *n = f->n;
    bool room = n->max_items < 0 || f->i < n->max_items;
    if (f->phase == A_AFTER) {
        if (b == ',' && room) g.phase = A_NEXT, emit(s, g);
        if (b == ']' && f->i >= n->min_items) complete(s, f->up);
        return;
    }
    if (b == ']' && f->phase == A_OPEN && !n->min_items) return complete(s, f->up);
    if (!room) return;
    g.phase = A_AFTER, g.i = f->i + 1;
    for (int k = 0; k < n->nalt; k++) {   /* unique items: each constant not written yet, noted in v */
        if (f->v >> k & 1) continue;
        g.v = f->v | (int64_t)1 << k;
        const Frame *up = put(s, g);
        if (up) begin(s, n->alt[k], up, b);
    }
    const Frame *up = n->nalt ? NULL : put(s, g);
    if (up) begin(s, n->items, up, b);
}

/* ------------------------------------------------------------------ raw text: a grammar's */

/* Whether continuation f (what a finished part returns to) may be left at once: the rest of its
 * sequence may be empty, or its repetition has its least count. */
static bool rest_empty(const Frame *f) {
    if (f->k == F_REP) return f->i >= f->n->min_items;
    for (int k = f->i; f->k == F_SEQ && k < f->n->nalt; k++)
        if (!f->n->alt[k]->nullable) return false;
    return f->k == F_SEQ;
}

/* Whether the answer may end at continuation f: each one up to the top may be left at once. */
static bool rest_may_end(const Frame *f) {
    for (; f; f = f->up)
        if (!rest_empty(f)) return false;
    return true;
}

/* Byte b as the first of sequence n's parts from part i on (each empty part passed over), returning
 * to up when the last is whole. */
static void seq_begin(Step *s, const GuideNode *n, int i, const Frame *up, int b) {
    for (int k = i; k < n->nalt; k++) {
        Frame next = frame(F_SEQ, 0, n, up);
        next.i = k + 1;
        const Frame *cont = k + 1 < n->nalt ? put(s, next) : up;
        if (k + 1 < n->nalt && !cont) return;
        begin(s, n->alt[k], cont, b);
        if (!n->alt[k]->nullable) return;
    }
}

/* Byte b as the first of repetition n's item number i + 1, returning to the repetition after it. */
static void rep_begin(Step *s, const GuideNode *n, int i, const Frame *up, int b) {
    if (n->max_items >= 0 && i >= n->max_items) return;
    Frame next = frame(F_REP, 0, n, up);
    next.i = i + 1;
    bool last = n->max_items >= 0 && i + 1 >= n->max_items;
    const Frame *cont = last ? up : put(s, next);
    if (last || cont) begin(s, n->items, cont, b);
}

/* Byte b at continuation f of a sequence or a repetition: in its next part or item, or (the rest may
 * be empty) in what comes after it. */
static void rest_step(Step *s, const Frame *f, int b) {
    if (f->k == F_SEQ) seq_begin(s, f->n, f->i, f->up, b);
    else rep_begin(s, f->n, f->i, f->up, b);
    if (f->up && rest_empty(f)) step(s, f->up, b);
}

/* A byte of a text a DFA takes (a regex's, a class's): its next state, or (the text may end here)
 * what comes after it. */
static void text_step(Step *s, const Frame *f, int b) {
    int next = b < 0x80 ? f->n->dfa->next[f->j * 128 + b] : -1;
    if (next >= 0) {
        Frame g = *f;
        g.j = next;
        emit(s, g);
    }
    if (f->up && f->n->dfa->accept[f->j]) step(s, f->up, b);
}

/* Value n's first byte (white space before it is its F_VALUE frame's; a raw text's part that may be
 * empty is passed over by its sequence or repetition, not here). */
static void begin(Step *s, const GuideNode *n, const Frame *up, int b) {
    switch (n->k) {
    case GN_ANYOF:
        for (int k = 0; k < n->nalt; k++) begin(s, n->alt[k], up, b);
        break;
    case GN_ANY:
        for (size_t k = 0; k < sizeof ANY_ALT / sizeof *ANY_ALT; k++) begin(s, ANY_ALT[k], up, b);
        break;
    case GN_LITERAL:
        if (b != (unsigned char)n->text[0]) break;
        if (n->len == 1) complete(s, up);
        else emit(s, (Frame){.k = F_LIT, .i = 1, .n = n, .up = up});
        break;
    case GN_STRING:
        if (b == '"') emit(s, frame(F_STR, S_CHAR, n, up));
        break;
    case GN_NUMBER: case GN_INTEGER: number_begin(s, n, up, b); break;
    case GN_OBJECT:
        if (b == '{') emit(s, frame(F_OBJ, O_OPEN, n, up));
        break;
    case GN_ARRAY:
        if (b == '[') emit(s, frame(F_ARR, A_OPEN, n, up));
        break;
    case GN_TEXT:
        if (b < 0x80 && n->dfa->next[b] >= 0) emit(s, (Frame){.k = F_TEXT, .j = n->dfa->next[b], .n = n, .up = up});
        break;
    case GN_SEQ: seq_begin(s, n, 0, up, b); break;
    case GN_REPEAT: rep_begin(s, n, 0, up, b); break;
    }
}

/* Whether frame f was stepped already in this step (and notes that it is now). */
static bool stepped_before(Step *s, const Frame *f) {
    if (!s->memo) return false;
    MemoSlot *m = &s->memo[((uintptr_t)f / sizeof(Frame)) % STEP_MEMO];
    if (m->f == f && m->gen == s->gen) return true;
    *m = (MemoSlot){f, s->gen};
    return false;
}

/* Byte b from place f: the places it leads to, added to s. */
static void step(Step *s, const Frame *f, int b) {
    if (stepped_before(s, f)) return;
    switch (f->k) {
    case F_VALUE:
        if (!white_space(s, f, b)) begin(s, f->n, f->up, b);
        break;
    case F_LIT:
        if (b != (unsigned char)f->n->text[f->i]) break;
        if ((size_t)f->i + 1 == f->n->len) complete(s, f->up);
        else {
            Frame g = *f;
            g.i++;
            emit(s, g);
        }
        break;
    case F_STR: string_step(s, f, b); break;
    case F_NUM: number_step(s, f, b); break;
    case F_OBJ: object_step(s, f, b); break;
    case F_ARR: array_step(s, f, b); break;
    case F_TEXT: text_step(s, f, b); break;
    case F_SEQ: case F_REP: rest_step(s, f, b); break;
    case F_DONE: break;   /* nothing after the whole value */
    }
}

/* ------------------------------------------------------------------ a choice's guide */

/* Whether place f may end the answer: the value is whole (a number at the top, whole, is too; a text
 * in an accepting state, or a grammar's continuation, whose rest may be empty). */
static bool place_ends(const Frame *f) {
    return f == &DONE || (f->k == F_NUM && !f->up && number_whole(f)) ||
           (f->k == F_TEXT && f->n->dfa->accept[f->j] && rest_may_end(f->up)) || ((f->k == F_SEQ || f->k == F_REP) && rest_may_end(f));
}

struct Guide {
    GuideGrammar *g;
    Arena arena;                /* the places the answer reached (they share frames) */
    const Frame *place[GUIDE_STATES];
    int nplace;
    Bump bump;                  /* a mask's trial steps */
    const Frame **sets;         /* [(GUIDE_PIECE_MAX + 1) * GUIDE_STATES] the places after each byte of a token */
    int nsets[GUIDE_PIECE_MAX + 1];
    size_t mark[GUIDE_PIECE_MAX + 1];   /* bump.used before the places after byte d were made */
    MemoSlot memo[STEP_MEMO];   /* the mask's steps' (a generation each) */
    uint32_t gen;
    bool exhaustive;            /* every token walks (guide_exhaustive: the tests' check of the shortcut) */
};

GuideGrammar *guide_grammar_share(GuideGrammar *g) {
    if (g) atomic_fetch_add(&g->refs, 1);
    return g;
}

void guide_grammar_free(GuideGrammar *g) {
    if (!g || atomic_fetch_sub(&g->refs, 1) > 0) return;
    arena_free(&g->arena);
    free(g);
}

Guide *guide_new(GuideGrammar *g) {
    Guide *gd = xcalloc(1, sizeof *gd);
    gd->g = g;
    Frame top = frame(g->root->k == GN_TEXT ? F_TEXT : g->root->k == GN_SEQ ? F_SEQ : F_VALUE, 0, g->root, NULL);
    if (g->bare) top.ws = GUIDE_WS_MAX;   /* no white space before it */
    Step s = {.out = gd->place, .arena = &gd->arena};
    emit(&s, top);
    gd->nplace = s.n;
    return gd;
}

void guide_free(Guide *gd) {
    if (!gd) return;
    guide_grammar_free(gd->g);
    arena_free(&gd->arena);
    free(gd->bump.base);
    free(gd->sets);
    free(gd);
}

/* The places after bytes [0, n) of p from places in[nin] (frames from bump or arena); their count. */
static int step_bytes(const Frame *const *in, int nin, const unsigned char *p, size_t n, Bump *bump, Arena *arena,
                      const Frame **out) {
    const Frame *cur[GUIDE_STATES];
    int ncur = nin;
    memcpy(cur, in, (size_t)nin * sizeof *cur);
    for (size_t k = 0; k < n && ncur; k++) {
        Step s = {.out = out, .bump = bump, .arena = arena};
        for (int i = 0; i < ncur; i++) step(&s, cur[i], p[k]);
        ncur = s.n;
        memcpy(cur, out, (size_t)ncur * sizeof *cur);
    }
    memcpy(out, cur, (size_t)ncur * sizeof *out);
    return ncur;
}

void guide_exhaustive(Guide *gd) { gd->exhaustive = true; }

bool guide_ends(const Guide *gd) {
    for (int i = 0; i < gd->nplace; i++)
        if (place_ends(gd->place[i])) return true;
    return false;
}

bool guide_advance(Guide *gd, const GuideVocab *v, int32_t id) {
    if (id < 0 || id >= v->n || !v->piece[id]) return gd->nplace = 0, false;
    const Frame *out[GUIDE_STATES];
    gd->nplace = step_bytes(gd->place, gd->nplace, (const unsigned char *)v->piece[id], v->len[id], NULL, &gd->arena, out);
    memcpy(gd->place, out, (size_t)gd->nplace * sizeof *out);
    return gd->nplace > 0;
}

/* The walk of guide_mask: token k of the order from the places after its first d bytes, which it
 * shares with the token before (sets[0, d] still hold); true when it leads somewhere. *dead: the
 * bytes after which no place is left, when that happens. */
static bool token_leads(Guide *gd, const unsigned char *p, int len, int d, int *dead) {
    gd->bump.used = gd->mark[d];
    for (int j = d; j < len; j++) {
        if (++gd->gen == 0) {   /* (after 2^32 steps: no slot may match a new step's generation) */
            memset(gd->memo, 0, sizeof gd->memo);
            gd->gen = 1;
        }
        Step s = {.out = gd->sets + (size_t)(j + 1) * GUIDE_STATES, .bump = &gd->bump, .memo = gd->memo, .gen = gd->gen};
        for (int i = 0; i < gd->nsets[j]; i++) step(&s, gd->sets[(size_t)j * GUIDE_STATES + i], p[j]);
        gd->nsets[j + 1] = s.n;
        gd->mark[j + 1] = gd->bump.used;
        if (!s.n) return *dead = j + 1, false;
    }
    return true;
}

/* When every place of gd is inside a string's text: the most code points one of them takes as they
 * are (INT32_MAX: no maxLength), which a plain token's must not pass to lead on; else -1. */
static int64_t string_room(const Guide *gd) {
    int64_t room = -1;
    for (int i = 0; i < gd->nplace; i++) {
        const Frame *f = gd->place[i];
        if (f == &DONE || f->k != F_STR || f->phase != S_CHAR || f->n->dfa) return -1;
        int64_t r = f->n->max_len < 0 ? INT32_MAX : f->n->max_len - f->v;
        if (r > room) room = r;
    }
    return room;
}

int64_t guide_mask(Guide *gd, const GuideVocab *v, const int32_t *end, int nend, uint8_t *allowed) {
    if (!gd->sets) {   /* the masks' scratch, at the first (a guide only advanced needs none) */
        gd->bump = (Bump){xmalloc(GUIDE_SCRATCH), 0, GUIDE_SCRATCH};
        gd->sets = xmalloc((size_t)(GUIDE_PIECE_MAX + 1) * GUIDE_STATES * sizeof *gd->sets);
    }
    memset(allowed, 0, (size_t)v->n);
    int64_t count = 0;
    if (guide_ends(gd))
        for (int k = 0; k < nend; k++)
            if (end[k] >= 0 && end[k] < v->n && !allowed[end[k]]) allowed[end[k]] = 1, count++;
    /* inside strings, a token of plain text leads on by its code points alone: only the others walk */
    int64_t room = gd->exhaustive ? -1 : string_room(gd), n = room >= 0 ? v->nrest : v->norder;
    const int32_t *order = room >= 0 ? v->rest : v->order;
    const uint16_t *lcp = room >= 0 ? v->rest_lcp : v->lcp;
    for (int64_t k = 0; room > 0 && k < v->norder; k++) {
        int32_t id = v->order[k];
        if (v->plain[id] && v->plain[id] <= room && !allowed[id]) allowed[id] = 1, count++;
    }
    memcpy(gd->sets, gd->place, (size_t)gd->nplace * sizeof *gd->sets);
    gd->nsets[0] = gd->nplace;
    gd->mark[0] = 0;
    int computed = 0, dead = INT32_MAX;
    for (int64_t k = 0; k < n && gd->nplace; k++) {
        int32_t id = order[k];
        int len = (int)v->len[id], d = lcp[k] < computed ? lcp[k] : computed;
        if (dead <= d) continue;   /* its first bytes lead nowhere already */
        dead = INT32_MAX;
        bool leads = token_leads(gd, (const unsigned char *)v->piece[id], len, d, &dead);
        computed = leads ? len : dead;
        if (leads && !allowed[id]) allowed[id] = 1, count++;
    }
    return count;
}
