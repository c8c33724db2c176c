/* util.c — memory, files, strings and checked arithmetic shared by every stage. */
#include "mixc.h"

#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *prog_name(void) { return program_invocation_short_name; }

_Noreturn void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog_name());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

const char *shown_text(const char *text, size_t len, char out[SHOWN_MAX]) {
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0, w; i < len; i += w) {
        if (i >= SHOWN_BYTES) {   /* a character begun before the limit is written whole */
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        uint32_t c = 0;
        w = (size_t)utf8_sequence(p + i, len - i, &c);
        if (w == 0) {   /* not UTF-8: the byte, as a hex escape */
            n += (size_t)snprintf(out + n, 5, "\\x%02x", p[i]);
            w = 1;
        } else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
            n += (size_t)snprintf(out + n, 7, "\\u%04x", (unsigned)c);
        } else {
            memcpy(out + n, p + i, w);
            n += w;
        }
    }
    out[n] = '\0';
    return out;
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) fatal("out of memory (%zu bytes)", n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) fatal("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) fatal("out of memory (%zu bytes)", n);
    return p;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

bool path_is_plain(const char *p) {
    for (; *p; p++)
        if (*p == '"' || *p == '\\' || *p == '\'' || *p == '\n') return false;
    return true;
}

void free_each(void *const *ptrs, size_t n) {
    for (size_t i = 0; i < n; i++) free(ptrs[i]);
}

char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* ---- arena: blocks of at least 64 KiB, bump-allocated, freed together. */
struct ArenaBlock {
    ArenaBlock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *arena_alloc(Arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    ArenaBlock *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        b = xmalloc(sizeof(ArenaBlock) + cap);
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

void *arena_array(Arena *a, size_t n, size_t size) {
    if (size && n > (SIZE_MAX - 16) / size) fatal("out of memory (%zu x %zu bytes)", n, size);
    return arena_alloc(a, n * size);
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void arena_free(Arena *a) {
    for (ArenaBlock *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

/* ---- files */
char *read_file(const char *path, size_t *len) {
    return read_file_limited(path, READ_FILE_LIMIT, len);
}

char *read_text_file(const char *prog, const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path, strerror(errno));
    else if (strlen(text) != len) fprintf(stderr, "%s: '%s' holds a NUL byte\n", prog, path), free(text), text = NULL;
    return text;
}

char *next_text_line(char **cursor, const char *blank, int64_t *line_no) {
    while (*cursor && **cursor) {
        char *line = *cursor, *end = strchr(line, '\n');
        if (end) *end++ = '\0';
        *cursor = end;
        ++*line_no;
        if (strspn(line, blank) != strlen(line)) return line;
    }
    return NULL;
}

/* The limit is applied while reading, so /dev/zero, a FIFO or a huge file costs at most `limit`
 * bytes of memory and the time to read them. */
char *read_file_limited(const char *path, size_t limit, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    Buf b = {0};
    char chunk[65536];
    size_t n;
    int err = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > limit) {
            err = EFBIG;
            break;
        }
        if (b.len + n + 1 > b.cap) {
            b.cap = (b.len + n + 1) * 2;
            b.data = xrealloc(b.data, b.cap);
        }
        memcpy(b.data + b.len, chunk, n);
        b.len += n;
    }
    if (!err && ferror(f)) err = errno ? errno : EIO;
    if (f != stdin) fclose(f);
    if (err) {
        free(b.data);
        errno = err;
        return NULL;
    }
    if (!b.data) b.data = xmalloc(1);
    b.data[b.len] = '\0';
    if (len) *len = b.len;
    return b.data;
}


/* ---- growable strings */
static void buf_reserve(Buf *b, size_t more) {
    if (b->len + more + 1 <= b->cap) return;
    b->cap = (b->len + more + 1) * 2;
    b->data = xrealloc(b->data, b->cap);
}

/* Formats into the room left when it fits (most calls: the buffer doubles), else grows and
 * formats again: one vsnprintf per call, not two. */
void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= room) {
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void buf_append(Buf *b, const char *data, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, data, n);   /* data may be NULL when n is 0 (an empty Buf's) */
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(Buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_shell_quote(Buf *b, const char *s) {
    buf_puts(b, "'");
    for (; *s; s++) {
        if (*s == '\'') buf_puts(b, "'\\''");
        else buf_printf(b, "%c", *s);
    }
    buf_puts(b, "'");
}

void buf_free(Buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- checked arithmetic: values stay within [-2^62, 2^62] */
bool str_listed(const char *const *list, const char *s) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], s)) return true;
    return false;
}

bool mul_ok(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r) || r > MIXC_MAX_VALUE || r < -MIXC_MAX_VALUE) return false;
    *out = r;
    return true;
}

bool add_ok(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r) || r > MIXC_MAX_VALUE || r < -MIXC_MAX_VALUE) return false;
    *out = r;
    return true;
}

bool parse_count(const char *s, int64_t *out) {
    int64_t v = 0, scale = 1;
    bool digits = false, overflow = false;
    *out = 0;
    for (; (*s >= '0' && *s <= '9') || (*s == '_' && digits); s++) {
        if (*s == '_') continue;
        overflow |= !mul_ok(v, 10, &v) || !add_ok(v, *s - '0', &v);
        digits = true;
    }
    if (*s == 'k' || *s == 'K') scale = INT64_C(1) << 10, s++;
    else if (*s == 'm' || *s == 'M') scale = INT64_C(1) << 20, s++;
    else if (*s == 'g' || *s == 'G') scale = INT64_C(1) << 30, s++;
    if (!digits || *s) return false;
    if (overflow || !mul_ok(v, scale, &v) || v >= MIXC_MAX_VALUE) {
        *out = -1;
        return false;
    }
    *out = v;
    return true;
}

int64_t host_memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (int64_t)pages * page : 0;
}

const char *fmt_bytes(double bytes) {
    static char bufs[8][32];
    static int next;
    char *s = bufs[next++ & 7];
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(s, 32, "%.0f B", bytes);
    else
        snprintf(s, 32, "%.2f %s", bytes, units[u]);
    return s;
}

/* ---- dtypes */
static const char *const dtype_names[DT_COUNT] = {"bf16", "fp16", "fp8", "int8"};
static const int dtype_sizes[DT_COUNT] = {2, 2, 1, 1};

const char *dtype_name(DType t) {
    return t == DT_FP32 ? "fp32" : t == DT_INT32 ? "int32" : (unsigned)t < DT_COUNT ? dtype_names[t] : "?";
}
bool errorf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

bool dtype_quantized(DType t) { return t == DT_INT8 || t == DT_FP8; }
int dtype_bytes(DType t) { return t == DT_FP32 || t == DT_INT32 ? 4 : (unsigned)t < DT_COUNT ? dtype_sizes[t] : 0; }

bool dtype_from_name(const char *name, bool run_only_too, DType *out) {
    for (int t = 0; t <= DT_INT32; t++) {
        if (t == DT_COUNT || (!run_only_too && t > DT_COUNT)) continue;
        if (strcmp(name, dtype_name((DType)t)) == 0) {
            *out = (DType)t;
            return true;
        }
    }
    return false;
}

int utf8_sequence(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) len = 2, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int64_t utf8_chars(const char *s, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

bool utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        int len = utf8_sequence(p + i, n - i, &cp);
        if (len == 0) return false;
        i += (size_t)len;
    }
    return true;
}

bool real_value_ok(double r) {
    return r >= DBL_MIN && r <= MIXC_MAX_REAL;
}
