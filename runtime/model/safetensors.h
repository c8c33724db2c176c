/* safetensors.h — reading and writing the safetensors format.
 *
 * Layout of a file (https://huggingface.co/docs/safetensors): an 8-byte little-endian unsigned
 * header length N, then N bytes of JSON (an object: tensor name -> {"dtype", "shape",
 * "data_offsets": [begin, end)} plus an optional "__metadata__" string map), then the byte buffer;
 * offsets are relative to the start of that buffer. Data are little-endian, C order.
 *
 * The reader maps the file read-only and validates everything before handing out a tensor:
 * offsets inside the buffer, end - begin == product(shape) x dtype size, no two tensors overlapping.
 */
#ifndef MIXC_RUNTIME_SAFETENSORS_H
#define MIXC_RUNTIME_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER ((uint64_t)100 << 20)   /* the format's own limit: 100 MB of JSON */

typedef enum { ST_F32, ST_F16, ST_BF16, ST_OTHER } StDType;

typedef struct {
    char *name;
    StDType dtype;
    char dtype_name[16];    /* as written, for messages */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const uint8_t *data;    /* into the mapping */
    uint64_t nbytes;
} StTensor;

typedef struct {
    char *path;
    void *map;              /* the file's mapping, or the caller's buffer (st_open_memory) */
    size_t map_len;
    bool mapped;            /* map is ours to unmap */
    int ntensors;
    StTensor *tensor;       /* sorted by data offset */
} StFile;

/* Opens and validates a file. false with a message ("'path': ...") in err; nothing to close then. */
bool st_open(const char *path, StFile *f, char *err, size_t errlen);
/* The same over a buffer the caller keeps alive until st_close (fuzzing, tests); `name` in messages. */
bool st_open_memory(const char *name, const void *data, size_t len, StFile *f, char *err, size_t errlen);
const StTensor *st_find(const StFile *f, const char *name);
/* Lets go of the mapped pages under t (madvise MADV_DONTNEED; touched again, they are read from the
 * file again): a load that has copied a tensor does not keep the checkpoint resident besides. Nothing
 * for st_open_memory's buffer. */
void st_release(const StFile *f, const StTensor *t);
void st_close(StFile *f);

/* A model's weights (checkpoint.c): one safetensors file; or model.safetensors.index.json and the
 * shards it names beside it, validated to agree exactly; or a directory holding either (the index
 * first). */
typedef struct {
    char *path;             /* the file or the index */
    int nfiles;
    StFile *file;
} StCheckpoint;

/* false with a message in err; nothing to close then. */
bool st_checkpoint_open(const char *path, StCheckpoint *c, char *err, size_t errlen);
/* The tensor called name and (in, when not NULL) the file holding it; NULL when absent. */
const StTensor *st_checkpoint_find(const StCheckpoint *c, const char *name, const StFile **in);
void st_checkpoint_close(StCheckpoint *c);

/* Bytes per element of a dtype (0 for ST_OTHER) and its name in the format ("F32", "F16", "BF16"). */
int st_dtype_size(StDType t);
const char *st_dtype_name(StDType t);

/* Converts a tensor's n elements to fp32 (F32, F16 or BF16 only). */
void st_to_f32(const StTensor *t, float *out, int64_t n);

/* Rounding to the storage types (round to nearest even; NaN stays NaN) and back. The bf16 pair is
 * inline: the emulated cuBLAS converts every operand element with it at every GEMM. */
static inline uint16_t st_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);                                            /* nearest even */
    return (uint16_t)(u >> 16);
}
static inline float st_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
uint16_t st_f32_to_f16(float f);
float st_f16_to_f32(uint16_t h);

/* A writer: add tensors (the data are copied), then write the file atomically. */
typedef struct {
    int n, cap;
    struct StOut { char *name; StDType dtype; int ndim; int64_t shape[ST_MAX_DIMS]; uint8_t *data; uint64_t nbytes; } *t;
} StWriter;
/* Adds a tensor of n = product(shape) fp32 values stored as dtype (F32, F16 or BF16). */
void st_writer_add(StWriter *w, const char *name, StDType dtype, int ndim, const int64_t *shape, const float *values);
bool st_writer_save(StWriter *w, const char *path, char *err, size_t errlen);
void st_writer_free(StWriter *w);

#endif
