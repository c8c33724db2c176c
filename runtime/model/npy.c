/* npy.c — the .npy writer for logits: format version 1.0 (magic "\x93NUMPY", 1, 0, a little-endian
 * u16 header length, a Python dict literal padded with spaces and ended by '\n' so that the data
 * start on a 64-byte boundary), dtype '<f4', C order. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

bool npy_write_f32(const char *path, const float *data, int64_t rows, int64_t cols) {
    char dict[128];
    int dn = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                      (long long)rows, (long long)cols);
    size_t header = 10 + (size_t)dn + 1;          /* magic, version, length, dict, '\n' */
    size_t padded = (header + 63) & ~(size_t)63;
    size_t count = (size_t)rows * (size_t)cols, total = padded + 4 * count;
    char *out = xmalloc(total);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    size_t hlen = padded - 10;
    out[8] = (char)(hlen & 0xff);
    out[9] = (char)(hlen >> 8);
    memcpy(out + 10, dict, (size_t)dn);
    memset(out + 10 + dn, ' ', padded - 10 - (size_t)dn - 1);
    out[padded - 1] = '\n';
    unsigned char *p = (unsigned char *)out + padded;
    for (size_t i = 0; i < count; i++) {   /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &data[i], 4);
        for (int b = 0; b < 4; b++) p[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
    bool ok = write_file_atomic(path, out, total);
    free(out);
    return ok;
}
