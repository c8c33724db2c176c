/* jit_cache.c — the JIT's disk cache, apart from NVRTC (jit.c): SHA-256, the cache's location, the
 * hashing of include directories, the entry format and its atomic writes. Nothing here needs the
 * CUDA toolkit, so the emu backend's cache and the tests use it in any build. See docs/jit.md.
 */
#include "jit_cache.h"
#include "mixc.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ================================================================ SHA-256 (FIPS 180-4) */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(Sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) + ((e & f) ^ (~e & g)) +
                      sha256_k[i] + w[i];
        uint32_t t2 = (rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

void sha256_init(Sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->total = 0;
    s->used = 0;
}

void sha256_update(Sha256 *s, const void *data, size_t len) {
    const uint8_t *p = data;
    s->total += len;
    while (len > 0) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, n);
        s->used += n, p += n, len -= n;
        if (s->used == 64) {
            sha256_block(s, s->block);
            s->used = 0;
        }
    }
}

void sha256_final(Sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->total * 8;
    uint8_t pad = 0x80, zero = 0;
    sha256_update(s, &pad, 1);
    while (s->used != 56) sha256_update(s, &zero, 1);
    uint8_t len_be[8];
    for (int i = 0; i < 8; i++) len_be[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, len_be, 8);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(s->h[i] >> (24 - 8 * j));
}

void jit_sha256(const void *data, size_t len, uint8_t digest[32]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, digest);
}

/* A string and its terminator, so "ab"+"c" and "a"+"bc" hash differently. */
void sha256_str(Sha256 *s, const char *str) { sha256_update(s, str, strlen(str) + 1); }

void jit_hex_encode(const uint8_t *d, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}


const char *jit_cuda_home(void) {
    const char *h = getenv("CUDA_HOME");
    return h && *h ? h : MIXC_CUDA_HOME;
}

/* ================================================================ cache location and key */

char *jit_cache_dir(void) {
    const char *d = getenv("MIXC_CACHE_DIR");
    if (d && *d) return xstrdup(d);
    Buf b = {0};
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/') buf_printf(&b, "%s/mixc", xdg);
    else if (home && *home) buf_printf(&b, "%s/.cache/mixc", home);
    return b.data;
}

bool jit_make_dirs(const char *path) {
    char *p = xstrdup(path);
    bool ok = true;
    for (char *s = p + 1; ok; s++) {
        bool last = *s == '\0';
        if (*s != '/' && !last) continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) ok = false;
        if (last) break;
        *s = '/';
    }
    struct stat st;
    if (ok && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
        if (errno == 0) errno = ENOTDIR;
        ok = false;
    }
    free(p);
    return ok;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hashes the names and contents of the regular files directly inside dir, in name order. */
void jit_hash_include_dir(Sha256 *key, const char *dir) {
    sha256_str(key, dir);
    DIR *d = opendir(dir);
    if (!d) {
        sha256_str(key, "(unreadable)");
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? 2 * cap : 16) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_strings);
    for (size_t i = 0; i < n; i++) {
        Buf path = {0};
        buf_printf(&path, "%s/%s", dir, names[i]);
        struct stat st;
        size_t len = 0;
        char *text = stat(path.data, &st) == 0 && S_ISREG(st.st_mode) ? read_file(path.data, &len) : NULL;
        if (text) {
            uint8_t digest[32];
            jit_sha256(text, len, digest);
            sha256_str(key, names[i]);
            sha256_update(key, digest, sizeof digest);
        }
        free(text);
        buf_free(&path);
        free(names[i]);
    }
    free(names);
}

/* ================================================================ cache entries */

#define ENTRY_MAGIC "MIXCJIT"   /* 8 bytes with the NUL */

#define ENTRY_HEADER 88u        /* magic 8, version 4, output 4, key 32, payload length 8, sum 32 */
#define RES_RECORD 188u         /* name 160, entry 4, six int32 */

static void put_u32(Buf *b, uint32_t v) {
    char c[4];
    for (int i = 0; i < 4; i++) c[i] = (char)(v >> (8 * i));
    if (b->len + 4 + 1 > b->cap) b->data = xrealloc(b->data, b->cap = (b->len + 5) * 2);
    memcpy(b->data + b->len, c, 4);
    b->len += 4;
}

static void put_u64(Buf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_bytes(Buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) b->data = xrealloc(b->data, b->cap = (b->len + n + 1) * 2);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void serialize_entry(const JitResult *r, JitOutput output, const uint8_t key[32], Buf *out) {
    Buf pl = {0};
    size_t log_len = strlen(r->log);
    put_u32(&pl, (uint32_t)r->nres);
    put_u32(&pl, r->resources_known);
    put_u64(&pl, r->image_len);
    put_u64(&pl, log_len);
    for (int i = 0; i < r->nres; i++) {
        const KernelResources *k = &r->res[i];
        char name[160] = {0};
        memcpy(name, k->name, strnlen(k->name, sizeof name - 1));
        put_bytes(&pl, name, sizeof name);
        put_u32(&pl, k->entry);
        int v[6] = {k->registers, k->spill_store_bytes, k->spill_load_bytes, k->stack_bytes,
                    k->smem_bytes, k->cmem_bytes};
        for (int j = 0; j < 6; j++) put_u32(&pl, (uint32_t)v[j]);
    }
    put_bytes(&pl, r->image, r->image_len);
    put_bytes(&pl, r->log, log_len);

    uint8_t sum[32];
    jit_sha256(pl.data, pl.len, sum);
    put_bytes(out, ENTRY_MAGIC, 8);
    put_u32(out, JIT_ENTRY_VERSION);
    put_u32(out, (uint32_t)output);
    put_bytes(out, key, 32);
    put_u64(out, pl.len);
    put_bytes(out, sum, 32);
    put_bytes(out, pl.data, pl.len);
    buf_free(&pl);
}

/* Parses an entry into r; NULL on success, else why it is unusable. */
static const char *parse_entry(const uint8_t *d, size_t len, JitOutput output, const uint8_t key[32],
                               JitResult *r) {
    if (len < ENTRY_HEADER) return "truncated header";
    if (memcmp(d, ENTRY_MAGIC, 8) != 0) return "bad magic";
    if (get_u32(d + 8) != JIT_ENTRY_VERSION) return "unknown format version";
    if (get_u32(d + 12) != (uint32_t)output) return "wrong output kind";
    if (memcmp(d + 16, key, 32) != 0) return "key mismatch";
    uint64_t plen = get_u64(d + 48);
    if (plen != len - ENTRY_HEADER) return plen > len - ENTRY_HEADER ? "truncated" : "trailing bytes";
    const uint8_t *pl = d + ENTRY_HEADER;
    uint8_t sum[32];
    jit_sha256(pl, plen, sum);
    if (memcmp(sum, d + 56, 32) != 0) return "checksum mismatch";
    if (plen < 24) return "payload too short";
    uint64_t nres = get_u32(pl), image_len = get_u64(pl + 8), log_len = get_u64(pl + 16);
    if (nres > plen / RES_RECORD || image_len > plen || log_len > plen ||
        24 + nres * RES_RECORD + image_len + log_len != plen)
        return "inconsistent lengths";
    const uint8_t *p = pl + 24;
    r->nres = (int)nres;
    r->res = xcalloc(nres ? nres : 1, sizeof *r->res);
    for (uint64_t i = 0; i < nres; i++, p += RES_RECORD) {
        KernelResources *k = &r->res[i];
        memcpy(k->name, p, sizeof k->name);
        k->name[sizeof k->name - 1] = '\0';
        k->entry = get_u32(p + 160) != 0;
        int *v[6] = {&k->registers, &k->spill_store_bytes, &k->spill_load_bytes, &k->stack_bytes,
                     &k->smem_bytes, &k->cmem_bytes};
        for (int j = 0; j < 6; j++) *v[j] = (int)get_u32(p + 164 + 4 * j);
    }
    r->resources_known = get_u32(pl + 4) != 0;
    r->image = xmalloc(image_len + 1);
    memcpy(r->image, p, image_len);
    r->image[image_len] = '\0';
    r->image_len = image_len;
    p += image_len;
    r->log = xmalloc(log_len + 1);
    memcpy(r->log, p, log_len);
    r->log[log_len] = '\0';
    return NULL;
}

/* Atomic and safe between threads and processes: a unique temporary file, fsynced, then rename. */
static bool write_entry_atomic(const char *path, const char *data, size_t len) {
    Buf tmp = {0};
    buf_printf(&tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        buf_free(&tmp);
        return false;
    }
    bool ok = true;
    for (size_t off = 0; ok && off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else off += (size_t)w;
    }
    fchmod(fd, 0644);
    if (ok && fsync(fd) != 0) ok = false;   /* the bytes are on disk before the name points at them */
    if (close(fd) != 0) ok = false;
    if (ok) ok = rename(tmp.data, path) == 0;
    int saved = errno;
    if (!ok) unlink(tmp.data);
    errno = saved;
    buf_free(&tmp);
    return ok;
}

bool jit_cache_disabled_by_env(void) {
    const char *env = getenv("MIXC_JIT_NO_CACHE");
    return env && *env && strcmp(env, "0") != 0;
}

/* Looks the key up; true on a valid hit. A damaged entry is reported and treated as a miss. */
bool jit_cache_lookup(const char *path, JitOutput output, const uint8_t key[32], JitResult *r,
                         FILE *log_out) {
    size_t len = 0;
    char *data = read_file(path, &len);
    if (!data) {
        if (errno != ENOENT)
            fprintf(log_out, "%s: warning: cannot read jit cache entry '%s': %s; rebuilding\n", prog_name(), path,
                    strerror(errno));
        return false;
    }
    const char *why = parse_entry((const uint8_t *)data, len, output, key, r);
    free(data);
    if (why) {
        fprintf(log_out, "%s: warning: jit cache entry '%s' is corrupt (%s); rebuilding\n", prog_name(), path,
                why);
        jit_result_free(r);
        return false;
    }
    return true;
}

void jit_cache_store(const char *dir, const char *path, JitOutput output, const uint8_t key[32],
                        const JitResult *r, FILE *log_out) {
    Buf entry = {0};
    serialize_entry(r, output, key, &entry);
    if (!jit_make_dirs(dir) || !write_entry_atomic(path, entry.data, entry.len))
        fprintf(log_out, "%s: warning: cannot write jit cache entry '%s': %s\n", prog_name(), path,
                strerror(errno));
    buf_free(&entry);
}

/* The holder removes the lock file when done, so a waiter may end up holding a file no longer in
 * place: it then takes the one there now. */
int jit_cache_lock(const char *path) {
    Buf p = {0};
    buf_printf(&p, "%s.lock", path);
    int fd;
    for (;;) {
        fd = open(p.data, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) break;
        int rc;
        while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {}
        struct stat held, now;
        if (rc != 0 || fstat(fd, &held) != 0) {
            close(fd);
            fd = -1;
            break;
        }
        if (stat(p.data, &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev) break;
        close(fd);
    }
    buf_free(&p);
    return fd;
}

void jit_cache_unlock(int lock, const char *path) {
    if (lock < 0) return;
    Buf p = {0};
    buf_printf(&p, "%s.lock", path);
    unlink(p.data);   /* before the close that releases it: nobody takes a file on its way out */
    buf_free(&p);
    close(lock);
}

void jit_result_free(JitResult *r) {
    if (!r) return;
    free(r->image);
    free(r->log);
    free(r->res);
    char key[65];
    memcpy(key, r->key_hex, sizeof key);
    memset(r, 0, sizeof *r);
    memcpy(r->key_hex, key, sizeof key);
}

