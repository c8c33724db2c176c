/* safetensors.c — a validating safetensors reader (mmap) and an atomic writer. See safetensors.h. */
#include "safetensors.h"
#include "mixc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ element conversions */

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t st_f32_to_f16(float f) {
    uint32_t u = float_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;                 /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00;                /* rounds to >= 65520: infinity */
    if (a < 0x33000001u) return sign;                          /* below half the smallest subnormal */
    int exp = (int)(a >> 23);
    uint32_t half, rest, mid;
    int shift;
    if (exp >= 113) {           /* normal: rebias the exponent, keep 10 fraction bits */
        half = ((uint32_t)(exp - 112) << 10) | ((a & 0x7fffffu) >> 13);
        shift = 13;
    } else {                    /* subnormal: units of 2^-24 */
        shift = 126 - exp;
        half = ((a & 0x7fffffu) | 0x800000u) >> shift;
    }
    uint32_t full = exp >= 113 ? a : ((a & 0x7fffffu) | 0x800000u);
    rest = full & ((1u << shift) - 1);
    mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1))) half++;   /* a carry moves into the exponent */
    return sign | (uint16_t)half;
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        float v = (float)mant * (1.0f / 16777216.0f);          /* mant x 2^-24 */
        return sign ? -v : v;
    }
    return bits_float(sign | ((uint32_t)(exp + 112) << 23) | (mant << 13));
}

int st_dtype_size(StDType t) { return t == ST_F32 ? 4 : t == ST_F16 || t == ST_BF16 ? 2 : 0; }

const char *st_dtype_name(StDType t) {
    return t == ST_F32 ? "F32" : t == ST_F16 ? "F16" : t == ST_BF16 ? "BF16" : "?";
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

void st_to_f32(const StTensor *t, float *out, int64_t n) {   /* a loop a dtype: the hot path of a load */
    const uint8_t *p = t->data;
    if (t->dtype == ST_F32)
        for (int64_t i = 0; i < n; i++)
            out[i] = bits_float((uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                                (uint32_t)p[4 * i + 3] << 24);
    else if (t->dtype == ST_F16)
        for (int64_t i = 0; i < n; i++) out[i] = st_f16_to_f32(load_u16(p + 2 * i));
    else
        for (int64_t i = 0; i < n; i++) out[i] = st_bf16_to_f32(load_u16(p + 2 * i));
}

/* ------------------------------------------------------------------ reader */

static bool fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    int n = snprintf(err, errlen, "'%s': ", path);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errlen) vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

static StDType parse_dtype(const char *s) {
    if (strcmp(s, "F32") == 0) return ST_F32;
    if (strcmp(s, "F16") == 0) return ST_F16;
    if (strcmp(s, "BF16") == 0) return ST_BF16;
    return ST_OTHER;
}

/* Element size of any dtype the format defines (to validate sizes of tensors we will not use). */
static int any_dtype_size(const char *s) {
    static const struct { const char *name; int size; } sizes[] = {
        {"F64", 8}, {"I64", 8}, {"U64", 8}, {"F32", 4}, {"I32", 4}, {"U32", 4}, {"F16", 2}, {"BF16", 2},
        {"I16", 2}, {"U16", 2}, {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].name, s) == 0) return sizes[i].size;
    return 0;
}

static bool json_uint(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Parses one header entry into t (name owned by the caller's table). */
static bool parse_entry(const char *path, const char *name, json_t *e, uint64_t buf_len, StTensor *t,
                        char *err, size_t errlen) {
    if (!json_is_object(e)) return fail(err, errlen, path, "tensor '%s': header entry is not an object", name);
    json_t *dt = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape");
    json_t *offs = json_object_get(e, "data_offsets");
    if (!json_is_string(dt)) return fail(err, errlen, path, "tensor '%s': no \"dtype\" string", name);
    if (!json_is_array(shape)) return fail(err, errlen, path, "tensor '%s': no \"shape\" array", name);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return fail(err, errlen, path, "tensor '%s': \"data_offsets\" is not [begin, end]", name);
    const char *dts = json_string_value(dt);
    int esize = any_dtype_size(dts);
    if (!esize) return fail(err, errlen, path, "tensor '%s': unknown dtype '%.15s'", name, dts);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dts);
    t->dtype = parse_dtype(dts);
    if (json_array_size(shape) > ST_MAX_DIMS)
        return fail(err, errlen, path, "tensor '%s': more than %d dimensions", name, ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    uint64_t count = 1, begin, end;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim;
        if (!json_uint(json_array_get(shape, (size_t)d), &dim) || dim > (uint64_t)INT64_MAX)
            return fail(err, errlen, path, "tensor '%s': shape holds a value that is not a size", name);
        t->shape[d] = (int64_t)dim;
        if (__builtin_mul_overflow(count, dim, &count))
            return fail(err, errlen, path, "tensor '%s': shape is too large", name);
    }
    if (!json_uint(json_array_get(offs, 0), &begin) || !json_uint(json_array_get(offs, 1), &end) || end < begin)
        return fail(err, errlen, path, "tensor '%s': bad data_offsets", name);
    if (end > buf_len)
        return fail(err, errlen, path, "tensor '%s': data [%llu, %llu) is past the end of the file (%llu data bytes)",
                    name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)buf_len);
    uint64_t want;
    if (__builtin_mul_overflow(count, (uint64_t)esize, &want) || want != end - begin)
        return fail(err, errlen, path, "tensor '%s': %llu data bytes for a %s tensor of %llu elements", name,
                    (unsigned long long)(end - begin), dts, (unsigned long long)count);
    t->nbytes = end - begin;
    t->data = (const uint8_t *)(uintptr_t)begin;   /* an offset until the mapping is known */
    return true;
}

static int cmp_offset(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const StTensor *)a)->data, y = (uintptr_t)((const StTensor *)b)->data;
    return x < y ? -1 : x > y;
}

/* Parses the JSON header into f->tensor[] (data = offsets), checks that the tensors fill the data
 * bytes in order without a gap or an overlap, as the safetensors library requires (its validate):
 * a header length a few bytes off (into the header's padding) would otherwise shift every tensor.
 * An empty tensor holds no byte: where it says it is changes nothing. */
static bool parse_header(const char *path, const char *json, size_t len, uint64_t buf_len, StFile *f,
                         char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return fail(err, errlen, path, "the header is not valid JSON: %s (at byte %d)", je.text, je.position);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(err, errlen, path, "the header is not a JSON object");
    }
    f->tensor = xcalloc(json_object_size(root) + 1, sizeof(StTensor));
    const char *key;
    json_t *val;
    bool ok = true;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        StTensor *t = &f->tensor[f->ntensors];
        t->name = xstrdup(key);
        f->ntensors++;
        if (!(ok = parse_entry(path, key, val, buf_len, t, err, errlen))) break;
    }
    json_decref(root);
    if (!ok) return false;
    qsort(f->tensor, (size_t)f->ntensors, sizeof(StTensor), cmp_offset);
    uint64_t end = 0;   /* of the non-empty tensors so far, in offset order */
    const StTensor *last = NULL;
    for (int i = 0; i < f->ntensors; i++) {
        const StTensor *b = &f->tensor[i];
        uint64_t begin = (uint64_t)(uintptr_t)b->data;
        if (!b->nbytes) continue;
        if (begin < end) return fail(err, errlen, path, "tensors '%s' and '%s' overlap", last->name, b->name);
        if (begin > end)
            return fail(err, errlen, path, "tensor '%s' begins at data byte %llu, after a gap of %llu bytes (the tensors "
                        "fill the data without gaps)", b->name, (unsigned long long)begin, (unsigned long long)(begin - end));
        end = begin + b->nbytes;
        last = b;
    }
    if (end != buf_len)
        return fail(err, errlen, path, "the tensors end at data byte %llu but %llu data bytes follow the header (a "
                    "wrong header length?)", (unsigned long long)end, (unsigned long long)buf_len);
    return true;
}

/* ------------------------------------------------------------------ a file shortened under its mapping */

/* A mapped file made shorter while it is read (rewritten in place by another program) raises SIGBUS at
 * the first page past its new end. For the files mapped here the handler says which file it is and
 * ends the program with exit status 1 (after removing remove_on_signal's temporaries), instead of a
 * bare "Bus error"; any other SIGBUS goes to the action there was before (a handler there is called,
 * and the files stay guarded after it returns). Files past the first
 * ST_MAX_GUARDED open at once are not guarded. */
#define ST_MAX_GUARDED 8
static struct {
    volatile sig_atomic_t used;
    uintptr_t at, end;
    char said[400];         /* the message, made when the file is mapped (a handler cannot format) */
    size_t len;
} guarded[ST_MAX_GUARDED];
static struct sigaction bus_before;
static bool bus_handler_set;

static void on_sigbus(int sig, siginfo_t *info, void *ctx) {
    uintptr_t at = (uintptr_t)info->si_addr;
    for (int i = 0; info->si_code == BUS_ADRERR && i < ST_MAX_GUARDED; i++)
        if (guarded[i].used && at >= guarded[i].at && at < guarded[i].end) {
            ssize_t w = write(STDERR_FILENO, guarded[i].said, guarded[i].len);
            (void)w;
            remove_registered_paths();
            _exit(1);
        }
    /* not ours: the action there was before. A handler is called and this one stays, guarding the
     * files still mapped; the default action (or ignoring) is put back and takes the signal: sent
     * again, or for a fault, on return, when the access faults again. */
    if ((bus_before.sa_flags & SA_SIGINFO) && bus_before.sa_sigaction) {
        bus_before.sa_sigaction(sig, info, ctx);
    } else if (!(bus_before.sa_flags & SA_SIGINFO) && bus_before.sa_handler != SIG_DFL &&
               bus_before.sa_handler != SIG_IGN) {
        bus_before.sa_handler(sig);
    } else {
        sigaction(SIGBUS, &bus_before, NULL);
        if (info->si_code <= 0) raise(sig);
    }
}

static void guard_mapping(const StFile *f, const char *path) {
    int i = 0;
    while (i < ST_MAX_GUARDED && guarded[i].used) i++;
    if (i == ST_MAX_GUARDED) return;
    if (!bus_handler_set) {
        struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
        sigemptyset(&sa.sa_mask);
        bus_handler_set = sigaction(SIGBUS, &sa, &bus_before) == 0;
    }
    guarded[i].at = (uintptr_t)f->map;
    guarded[i].end = (uintptr_t)f->map + f->map_len;
    int n = snprintf(guarded[i].said, sizeof guarded[i].said,
                     "%s: '%s' changed while it was read: it is now shorter than when it was opened (was it "
                     "rewritten in place?)\n", prog_name(), shown_text(path, strlen(path), (char[SHOWN_MAX]){0}));
    guarded[i].len = n < 0 ? 0 : (size_t)n < sizeof guarded[i].said ? (size_t)n : sizeof guarded[i].said - 1;
    guarded[i].used = 1;   /* last: the handler sees whole entries */
}

static void unguard_mapping(const StFile *f) {
    for (int i = 0; i < ST_MAX_GUARDED; i++)
        if (guarded[i].used && guarded[i].at == (uintptr_t)f->map) guarded[i].used = 0;
}

static bool map_file(const char *path, StFile *f, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO is refused, not waited on */
    if (fd < 0) return fail(err, errlen, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, path, "not a regular file");
    }
    if (st.st_size < 8) {
        close(fd);
        return fail(err, errlen, path, "truncated: %lld bytes, less than the 8-byte header length",
                    (long long)st.st_size);
    }
    f->map_len = (size_t)st.st_size;
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return fail(err, errlen, path, "cannot map: %s", strerror(errno));
    }
    guard_mapping(f, path);
    return true;
}

/* Validates the mapping (or buffer) in f: header length, header, tensors inside the data. */
static bool st_parse(const char *path, StFile *f, char *err, size_t errlen) {
    const uint8_t *p = f->map;
    if (f->map_len < 8)
        return fail(err, errlen, path, "truncated: %zu bytes, less than the 8-byte header length", f->map_len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > f->map_len - 8)
        return fail(err, errlen, path, "header length %llu is beyond the end of the file (%zu bytes)",
                    (unsigned long long)hlen, f->map_len);
    if (hlen > ST_MAX_HEADER)
        return fail(err, errlen, path, "header length %llu is over the 100 MB limit", (unsigned long long)hlen);
    if (!parse_header(path, (const char *)p + 8, (size_t)hlen, f->map_len - 8 - hlen, f, err, errlen)) return false;
    const uint8_t *base = p + 8 + hlen;
    for (int i = 0; i < f->ntensors; i++) f->tensor[i].data = base + (uintptr_t)f->tensor[i].data;
    f->path = xstrdup(path);
    return true;
}

bool st_open(const char *path, StFile *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    if (!map_file(path, f, err, errlen)) return false;
    f->mapped = true;
    if (!st_parse(path, f, err, errlen)) {
        st_close(f);
        return false;
    }
    return true;
}

bool st_open_memory(const char *name, const void *data, size_t len, StFile *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->map = (void *)data;
    f->map_len = len;
    if (!st_parse(name, f, err, errlen)) {
        st_close(f);
        return false;
    }
    return true;
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->ntensors; i++)
        if (strcmp(f->tensor[i].name, name) == 0) return &f->tensor[i];
    return NULL;
}

void st_release(const StFile *f, const StTensor *t) {
    if (!f->mapped || !t->nbytes) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), at = (uintptr_t)t->data, end = at + t->nbytes;
    at -= at % page;   /* whole pages: a neighbour's share is read again if it is touched */
    madvise((void *)at, end - at, MADV_DONTNEED);
}

void st_close(StFile *f) {
    for (int i = 0; i < f->ntensors; i++) free(f->tensor[i].name);
    free(f->tensor);
    free(f->path);
    if (f->map && f->mapped) {
        unguard_mapping(f);
        munmap(f->map, f->map_len);
    }
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ writer */

void st_writer_add(StWriter *w, const char *name, StDType dtype, int ndim, const int64_t *shape, const float *values) {
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->t = xrealloc(w->t, (size_t)w->cap * sizeof *w->t);
    }
    struct StOut *o = &w->t[w->n++];
    memset(o, 0, sizeof *o);
    o->name = xstrdup(name);
    o->dtype = dtype;
    o->ndim = ndim;
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) o->shape[d] = shape[d], count *= (uint64_t)shape[d];
    o->nbytes = count * (uint64_t)st_dtype_size(dtype);
    o->data = xmalloc(o->nbytes ? o->nbytes : 1);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u;
        if (dtype == ST_F32) {
            u = float_bits(values[i]);
            for (int b = 0; b < 4; b++) o->data[4 * i + (uint64_t)b] = (uint8_t)(u >> (8 * b));
        } else {
            u = dtype == ST_F16 ? st_f32_to_f16(values[i]) : st_f32_to_bf16(values[i]);
            o->data[2 * i] = (uint8_t)u;
            o->data[2 * i + 1] = (uint8_t)(u >> 8);
        }
    }
}

/* The JSON header, padded with spaces to a multiple of 8 bytes (as the reference writer does). */
static char *build_header(const StWriter *w, size_t *len) {
    json_t *root = json_object();
    json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const struct StOut *o = &w->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < o->ndim; d++) json_array_append_new(shape, json_integer(o->shape[d]));
        json_object_set_new(root, o->name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", st_dtype_name(o->dtype), "shape", shape,
                                      "data_offsets", (json_int_t)off, (json_int_t)(off + o->nbytes)));
        off += o->nbytes;
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t n = strlen(s), padded = (n + 7) & ~(size_t)7;
    s = xrealloc(s, padded + 1);
    memset(s + n, ' ', padded - n);
    s[padded] = 0;
    *len = padded;
    return s;
}

bool st_writer_save(StWriter *w, const char *path, char *err, size_t errlen) {
    size_t hlen;
    char *header = build_header(w, &hlen);
    unsigned char len8[8];   /* the header's length, little-endian */
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
    /* The length, the header, then every tensor's bytes in place: no copy of the whole file. */
    OutPiece *pieces = xmalloc((size_t)(w->n + 2) * sizeof *pieces);
    pieces[0] = (OutPiece){len8, 8};
    pieces[1] = (OutPiece){header, hlen};
    for (int i = 0; i < w->n; i++) pieces[i + 2] = (OutPiece){w->t[i].data, w->t[i].nbytes};
    bool ok = write_pieces_atomic(path, pieces, w->n + 2);
    if (!ok) fail(err, errlen, path, "cannot write: %s", strerror(errno));
    free(pieces);
    free(header);
    return ok;
}

void st_writer_free(StWriter *w) {
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    memset(w, 0, sizeof *w);
}
