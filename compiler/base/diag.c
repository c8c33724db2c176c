/* diag.c — GCC/clang-style located diagnostics:
 *
 *   file.mix:7:12: error: layer 12 is out of range
 *       7 | layers 0..12 : local
 *         |           ^~
 *     hint: the model has 12 layers, numbered 0..11
 */
#include "mixc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

void diag_init(Diag *d, const SourceFile *src, FILE *out) {
    memset(d, 0, sizeof *d);
    d->src = src;
    d->out = out ? out : stderr;
    const char *no_color = getenv("NO_COLOR");   /* no-color.org: set and not empty */
    d->color = out == stderr && isatty(2) && !(no_color && *no_color);
}

static const char *level_name(DiagLevel l) {
    switch (l) {
    case DIAG_ERROR: return "error";
    case DIAG_WARNING: return "warning";
    case DIAG_NOTE: return "note";
    case DIAG_HINT: return "hint";
    }
    return "?";
}

static const char *level_color(DiagLevel l) {
    switch (l) {
    case DIAG_ERROR: return "\033[1;31m";
    case DIAG_WARNING: return "\033[1;35m";
    case DIAG_NOTE: return "\033[1;36m";
    case DIAG_HINT: return "\033[1;32m";
    }
    return "";
}

/* Finds the start and length of 1-based line `line`: forward from the line found last when it is
 * at or after it, else from the top. A UTF-8 byte order mark is not part of line 1. */
static bool find_line(Diag *d, int line, const char **start, int *len) {
    const SourceFile *src = d->src;
    if (!src || !src->text || line < 1) return false;
    const char *end = src->text + src->len, *p = src->text;
    int at = 1;
    if (d->cursor_line >= 1 && d->cursor_line <= line) {
        at = d->cursor_line;
        p = src->text + d->cursor_offset;
    } else if (src->len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
    }
    for (; at < line; at++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) return false;
        p++;
    }
    d->cursor_line = line;
    d->cursor_offset = (size_t)(p - src->text);
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e) e = end;
    if (e > p && e[-1] == '\r') e--;
    *start = p;
    *len = e - p > INT_MAX / 2 ? INT_MAX / 2 : (int)(e - p);
    return true;
}

/* The display column (0-based) where each byte of the line starts: a UTF-8 character is one column,
 * so is any other byte. disp[len] is the line's width. */
static void display_columns(const char *line, int len, int *disp) {
    const unsigned char *p = (const unsigned char *)line;
    int column = 0;
    for (int i = 0; i < len;) {
        uint32_t cp;
        int n = utf8_sequence(p + i, (size_t)(len - i), &cp);
        if (n < 1) n = 1;
        for (int k = 0; k < n; k++) disp[i + k] = column;
        column++;
        i += n;
    }
    disp[len] = column;
}

/* Echoes the characters of display columns [from, to): a tab as one space, a control character
 * or a byte that is not part of well-formed UTF-8 as '?', a UTF-8 character as itself. */
static void echo_columns(FILE *out, const char *line, int len, const int *disp, int from, int to) {
    const unsigned char *p = (const unsigned char *)line;
    for (int i = 0; i < len;) {
        uint32_t cp;
        int n = utf8_sequence(p + i, (size_t)(len - i), &cp);
        if (n < 1) n = 1;
        if (disp[i] >= to) break;
        if (disp[i] >= from) {
            if (n > 1) fwrite(p + i, 1, (size_t)n, out);
            else fputc(p[i] == '\t' ? ' ' : (p[i] < 32 || p[i] >= 127) ? '?' : p[i], out);
        }
        i += n;
    }
}

/* The source line (clipped to DIAG_MAX_COLUMNS around the location, "..." marking each cut), then
 * a caret under the location's first character and '~' under the rest. */
static void show_source_line(Diag *d, SrcLoc loc) {
    const char *line;
    int len;
    if (!find_line(d, loc.line, &line, &len)) return;
    int *disp = xmalloc(((size_t)len + 1) * sizeof *disp);
    display_columns(line, len, disp);
    int col = loc.col < 1 ? 1 : loc.col;
    if (col > len + 1) col = len + 1;
    int last = (loc.end_line == loc.line && loc.end_col >= col) ? loc.end_col : col;
    if (last > len) last = len > col ? len : col;
    int from = disp[col - 1];
    int to = last < len ? disp[last] : disp[len];  /* the display column after the last character */
    if (to <= from) to = from + 1;
    int width = disp[len], shown_from = 0, shown_to = width;
    if (width > DIAG_MAX_COLUMNS) {
        shown_from = from > DIAG_MAX_COLUMNS / 3 ? from - DIAG_MAX_COLUMNS / 3 : 0;
        shown_to = shown_from + DIAG_MAX_COLUMNS < width ? shown_from + DIAG_MAX_COLUMNS : width;
        if (to > shown_to) to = shown_to;
    }
    const char *cut_left = shown_from > 0 ? "..." : "";
    fprintf(d->out, "%5d | %s", loc.line, cut_left);
    echo_columns(d->out, line, len, disp, shown_from, shown_to);
    fprintf(d->out, "%s\n      | ", shown_to < width ? "..." : "");
    for (int i = shown_from - (int)strlen(cut_left); i < from; i++) fputc(' ', d->out);
    if (d->color) fputs("\033[1;32m", d->out);
    fputc('^', d->out);
    for (int i = from + 1; i < to; i++) fputc('~', d->out);
    if (d->color) fputs("\033[0m", d->out);
    fputc('\n', d->out);
    free(disp);
}

/* Counts the diagnostic; false when it is not to be shown (past DIAG_MAX_ERRORS). */
static bool diag_admit(Diag *d, DiagLevel lvl) {
    if (d->stopped) return false;
    if (lvl == DIAG_ERROR && d->errors == DIAG_MAX_ERRORS) {
        d->stopped = true;
        d->errors++;
        const char *path = d->src && d->src->path ? d->src->path : "mixc";
        fprintf(d->out, "%s: too many errors (%d); stopping\n", path, DIAG_MAX_ERRORS);
        fflush(d->out);
        return false;
    }
    if (lvl == DIAG_ERROR) d->errors++;
    if (lvl == DIAG_WARNING) d->warnings++;
    return true;
}

/* Each diagnostic is composed in memory and written in one call: stderr is unbuffered, and a
 * character at a time costs a system call each. */
typedef struct {
    FILE *real, *mem;
    char *text;
    size_t len;
} Composer;

static void compose_begin(Diag *d, Composer *c) {
    *c = (Composer){.real = d->out};
    c->mem = open_memstream(&c->text, &c->len);
    if (c->mem) d->out = c->mem;
}

static void compose_end(Diag *d, Composer *c) {
    if (!c->mem) return;
    fclose(c->mem);
    d->out = c->real;
    fwrite(c->text, 1, c->len, c->real);
    fflush(c->real);
    free(c->text);
}

/* A word (a run of non-spaces) longer than this in a message is cut: messages quote names, and a
 * name may be megabytes long. */
#define DIAG_MAX_WORD 64

/* Writes the formatted message with every over-long word cut to its first DIAG_MAX_WORD bytes
 * (at a UTF-8 boundary) and "...". */
static void put_message(FILE *out, const char *fmt, va_list ap) {
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) return;
    for (const char *p = msg; *p;) {
        size_t word = strcspn(p, " \n");
        if (word > DIAG_MAX_WORD) {
            size_t keep = DIAG_MAX_WORD;
            while (keep > 0 && ((unsigned char)p[keep] & 0xC0) == 0x80) keep--;
            fwrite(p, 1, keep, out);
            fputs("...", out);
        } else {
            fwrite(p, 1, word, out);
        }
        p += word;
        if (*p) fputc(*p++, out);
    }
    free(msg);
}

static void diag_vat(Diag *d, DiagLevel lvl, SrcLoc loc, const char *fmt, va_list ap) {
    Composer c;
    compose_begin(d, &c);
    const char *path = d->src && d->src->path ? d->src->path : "mixc";
    if (d->color) fputs("\033[1m", d->out);
    if (loc.line > 0)
        fprintf(d->out, "%s:%d:%d: ", path, loc.line, loc.col);
    else
        fprintf(d->out, "%s: ", path);
    if (d->color) fprintf(d->out, "\033[0m%s", level_color(lvl));
    fprintf(d->out, "%s: ", level_name(lvl));
    if (d->color) fputs("\033[0m", d->out);
    put_message(d->out, fmt, ap);
    fputc('\n', d->out);
    if (loc.line > 0) show_source_line(d, loc);
    compose_end(d, &c);
}

void diag_at(Diag *d, DiagLevel lvl, SrcLoc loc, const char *fmt, ...) {
    if (!diag_admit(d, lvl)) return;
    va_list ap;
    va_start(ap, fmt);
    diag_vat(d, lvl, loc, fmt, ap);
    va_end(ap);
}

void diag_hint(Diag *d, const char *fmt, ...) {
    if (d->stopped) return;
    Composer c;
    compose_begin(d, &c);
    fputs("  ", d->out);
    if (d->color) fputs(level_color(DIAG_HINT), d->out);
    fputs("hint: ", d->out);
    if (d->color) fputs("\033[0m", d->out);
    va_list ap;
    va_start(ap, fmt);
    put_message(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    compose_end(d, &c);
}

/* More bytes that are not UTF-8 than this and the input is taken for binary, not text. */
#define BINARY_BAD_BYTES 8

bool source_is_binary(const char *text, size_t len, size_t *offset, const char **what) {
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        *offset = (size_t)(nul - text);
        *what = "a NUL byte";
        return true;
    }
    const unsigned char *p = (const unsigned char *)text;
    size_t first_bad = 0;
    int bad = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = p[i] < 0x80 ? 1 : utf8_sequence(p + i, len - i, &cp);
        if (n == 0) {
            if (bad++ == 0) first_bad = i;
            if (bad > BINARY_BAD_BYTES) {
                *offset = first_bad;
                *what = "bytes that are not UTF-8";
                return true;
            }
            n = 1;
        }
        i += (size_t)n;
    }
    return false;
}
