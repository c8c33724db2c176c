/* jit_cache.h — the JIT's disk cache (jit_cache.c), shared by the NVRTC JIT (jit.c) and the emu
 * backend's cache of compiled kernels. Needs no CUDA header: it builds without the toolkit.
 */
#ifndef MIXC_JIT_CACHE_H
#define MIXC_JIT_CACHE_H

#include "jit.h"

/* SHA-256 (FIPS 180-4), streamed: the cache key is hashed from many pieces. */
typedef struct {
    uint32_t h[8];
    uint64_t total;
    uint8_t block[64];
    size_t used;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
void sha256_final(Sha256 *s, uint8_t out[32]);
/* Hashes str with its NUL, so consecutive strings cannot run together. */
void sha256_str(Sha256 *s, const char *str);
/* n bytes as 2n lowercase hex digits and a NUL. */
void jit_hex_encode(const uint8_t *d, size_t n, char *out);

/* The version of the entry format, part of every key. */
#define JIT_ENTRY_VERSION 1u

/* Hashes the names and contents of the regular files directly inside dir, in name order. */
void jit_hash_include_dir(Sha256 *key, const char *dir);
/* Reads the entry at path into r; true on a valid hit for key. A damaged entry is reported on
 * log_out and treated as a miss. */
bool jit_cache_lookup(const char *path, JitOutput output, const uint8_t key[32], JitResult *r, FILE *log_out);
/* Writes r as the entry for key at path (under dir, created as needed), atomically; a failure is
 * reported on log_out, never fatal. */
void jit_cache_store(const char *dir, const char *path, JitOutput output, const uint8_t key[32],
                     const JitResult *r, FILE *log_out);
/* Takes the lock of the entry at path (the file PATH.lock beside it, there while held; the directory
 * must exist), held while the entry is looked up and, on a miss, built and stored: another process or
 * thread after the same entry waits for it, then finds it, instead of building it too. Returns the
 * lock, or -1 when none can be had (the cache then works unlocked: each write is atomic anyway).
 * jit_cache_unlock(-1, path) is a no-op. */
int jit_cache_lock(const char *path);
void jit_cache_unlock(int lock, const char *path);

#endif
