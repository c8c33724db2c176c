/* checkpoint.c — the weights of a model as Hugging Face saves them: one safetensors file, or shards
 * named by model.safetensors.index.json ({"weight_map": {tensor: shard}}, the shards beside the
 * index), or a directory holding either. Every shard is opened and validated (st_open), and the
 * index must describe the shards exactly: each tensor in the shard it names, and no shard holding a
 * tensor the index maps elsewhere or not at all (so no tensor can be read from the wrong file). */
#include "safetensors.h"

#include "mixc.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* An index is JSON of a few hundred bytes per tensor: far below this. */
#define INDEX_LIMIT ((size_t)64 << 20)

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *dir, const char *name) {
    Buf b = {0};
    buf_printf(&b, "%s/%s", dir, name);
    return b.data;
}

/* The shard file name `name` (a plain name: the shards sit beside the index) as a path, opened as
 * shard number c->nfiles unless an earlier one has that name; its index in *at. */
static bool open_shard(StCheckpoint *c, const char *dir, const char *name, int *at, char *err, size_t errlen) {
    if (!*name || strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
        return errorf(err, errlen, "'%s': shard '%.100s' is not a file name beside the index", c->path, name);
    char *path = join(dir, name);
    for (int i = 0; i < c->nfiles; i++)
        if (strcmp(c->file[i].path, path) == 0) {
            free(path);
            *at = i;
            return true;
        }
    c->file = xrealloc(c->file, (size_t)(c->nfiles + 1) * sizeof *c->file);
    bool ok = st_open(path, &c->file[c->nfiles], err, errlen);
    free(path);
    if (ok) *at = c->nfiles++;
    return ok;
}

/* Every tensor of every shard is mapped to that shard by the index. */
static bool shards_match_index(const StCheckpoint *c, json_t *map, char *err, size_t errlen) {
    for (int i = 0; i < c->nfiles; i++)
        for (int t = 0; t < c->file[i].ntensors; t++) {
            const char *name = c->file[i].tensor[t].name;
            const char *shard = json_string_value(json_object_get(map, name));
            const char *base = strrchr(c->file[i].path, '/');
            base = base ? base + 1 : c->file[i].path;
            if (!shard || strcmp(shard, base) != 0)
                return errorf(err, errlen, "'%s': shard '%s' holds tensor '%.100s', which the index %s%.100s%s", c->path,
                            base, name, shard ? "maps to '" : "does not list", shard ? shard : "", shard ? "'" : "");
        }
    return true;
}

/* The shards of the index at c->path. */
static bool open_index(StCheckpoint *c, char *err, size_t errlen) {
    size_t len;
    char *text = read_file_limited(c->path, INDEX_LIMIT, &len);
    if (!text) return errorf(err, errlen, "'%s': %s", c->path, errno == EFBIG ? "larger than an index may be" : strerror(errno));
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    json_t *map = json_object_get(root, "weight_map");
    bool ok = json_is_object(map) && json_object_size(map) > 0;
    if (!root) ok = errorf(err, errlen, "'%s':%d:%d: invalid JSON: %s", c->path, je.line, je.column, je.text);
    else if (!ok) errorf(err, errlen, "'%s': no \"weight_map\" object naming each tensor's shard", c->path);
    char *dir = xstrdup(c->path), *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    const char *name;
    json_t *shard;
    json_object_foreach(map, name, shard) {
        int at = -1;
        if (!ok) break;
        if (!json_is_string(shard)) ok = errorf(err, errlen, "'%s': tensor '%.100s' is mapped to a non-string", c->path, name);
        else ok = open_shard(c, slash ? dir : ".", json_string_value(shard), &at, err, errlen);
        if (ok && !st_find(&c->file[at], name))
            ok = errorf(err, errlen, "'%s': tensor '%.100s' is mapped to shard '%s', which does not hold it", c->path, name,
                      json_string_value(shard));
    }
    ok = ok && shards_match_index(c, map, err, errlen);
    free(dir);
    json_decref(root);
    return ok;
}

bool st_checkpoint_open(const char *path, StCheckpoint *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (is_directory(path)) {   /* a Hugging Face model directory: its one file first, as from_pretrained */
        char *single = join(path, "model.safetensors"), *index = join(path, "model.safetensors.index.json");
        struct stat st;
        bool sharded = stat(single, &st) != 0 && stat(index, &st) == 0;
        c->path = sharded ? index : single;
        free(sharded ? single : index);
    } else {
        c->path = xstrdup(path);
    }
    bool ok;
    if (ends_with(c->path, ".json")) {
        ok = open_index(c, err, errlen);
    } else {
        c->file = xcalloc(1, sizeof *c->file);
        ok = st_open(c->path, &c->file[0], err, errlen);
        c->nfiles = ok;
    }
    if (!ok) st_checkpoint_close(c);
    return ok;
}

const StTensor *st_checkpoint_find(const StCheckpoint *c, const char *name, const StFile **in) {
    for (int i = 0; i < c->nfiles; i++) {
        const StTensor *t = st_find(&c->file[i], name);
        if (t) {
            if (in) *in = &c->file[i];
            return t;
        }
    }
    return NULL;
}

void st_checkpoint_close(StCheckpoint *c) {
    for (int i = 0; i < c->nfiles; i++) st_close(&c->file[i]);
    free(c->file);
    free(c->path);
    memset(c, 0, sizeof *c);
}
