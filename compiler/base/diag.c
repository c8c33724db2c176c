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
#include <string.h>
#include <unistd.h>

void diag_init(Diag *d, const SourceFile *src, FILE *out) {
    memset(d, 0, sizeof *d);
    d->src = src;
    d->out = out ? out : stderr;
    d->color = out == stderr && isatty(2) && !getenv("NO_COLOR");
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

/* Finds the start and length of 1-based line `line` in the source. */
static bool find_line(const SourceFile *src, int line, const char **start, int *len) {
    if (!src || !src->text || line < 1) return false;
    const char *p = src->text, *end = src->text + src->len;
    for (int l = 1; l < line; l++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) return false;
        p++;
    }
    const char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e) e = end;
    if (e > p && e[-1] == '\r') e--;
    *start = p;
    *len = (int)(e - p);
    return true;
}

/* The source line as it displays: a tab as one space, a control character or a byte that is not
 * part of well-formed UTF-8 as '?', a UTF-8 character as itself (one column). disp[i] is the display
 * column (0-based) where byte i starts; disp[len] the line's width. */
static void echo_line(Diag *d, const char *line, int len, int *disp) {
    const unsigned char *p = (const unsigned char *)line;
    int column = 0;
    for (int i = 0; i < len;) {
        uint32_t cp;
        int n = utf8_sequence(p + i, (size_t)(len - i), &cp);
        if (n > 1) {
            fwrite(p + i, 1, (size_t)n, d->out);
        } else {
            unsigned char c = p[i];
            n = 1;
            fputc(c == '\t' ? ' ' : (c < 32 || c >= 127) ? '?' : c, d->out);
        }
        for (int k = 0; k < n; k++) disp[i + k] = column;
        column++;
        i += n;
    }
    disp[len] = column;
}

/* The source line, then a caret under the location's first character and '~' under the rest. */
static void show_source_line(Diag *d, SrcLoc loc) {
    const char *line;
    int len;
    if (!find_line(d->src, loc.line, &line, &len)) return;
    int *disp = xmalloc(((size_t)len + 1) * sizeof *disp);
    fprintf(d->out, "%5d | ", loc.line);
    echo_line(d, line, len, disp);
    fputs("\n      | ", d->out);
    int col = loc.col < 1 ? 1 : loc.col;
    if (col > len + 1) col = len + 1;
    int last = (loc.end_line == loc.line && loc.end_col >= col) ? loc.end_col : col;
    if (last > len) last = len > col ? len : col;
    int from = disp[col - 1];
    int to = last < len ? disp[last] : disp[len];  /* the display column after the last character */
    if (to <= from) to = from + 1;
    for (int i = 0; i < from; i++) fputc(' ', d->out);
    if (d->color) fputs("\033[1;32m", d->out);
    fputc('^', d->out);
    for (int i = from + 1; i < to; i++) fputc('~', d->out);
    if (d->color) fputs("\033[0m", d->out);
    fputc('\n', d->out);
    free(disp);
}

void diag_at(Diag *d, DiagLevel lvl, SrcLoc loc, const char *fmt, ...) {
    if (lvl == DIAG_ERROR) d->errors++;
    if (lvl == DIAG_WARNING) d->warnings++;
    const char *path = d->src && d->src->path ? d->src->path : "mixc";
    if (d->color) fputs("\033[1m", d->out);
    if (loc.line > 0)
        fprintf(d->out, "%s:%d:%d: ", path, loc.line, loc.col);
    else
        fprintf(d->out, "%s: ", path);
    if (d->color) fprintf(d->out, "\033[0m%s", level_color(lvl));
    fprintf(d->out, "%s: ", level_name(lvl));
    if (d->color) fputs("\033[0m", d->out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    if (loc.line > 0) show_source_line(d, loc);
}

void diag_hint(Diag *d, const char *fmt, ...) {
    fputs("  ", d->out);
    if (d->color) fputs(level_color(DIAG_HINT), d->out);
    fputs("hint: ", d->out);
    if (d->color) fputs("\033[0m", d->out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
}
