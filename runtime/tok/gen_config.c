/* gen_config.c — what a checkpoint's generation config says (gen_config.h). */
#include "gen_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mixc.h"

/* name in the directory of t's tokenizer.json, into out. */
static void file_beside(const Tokenizer *t, const char *name, char *out, size_t len) {
    char *path = tokenizer_file_beside(t, name);
    snprintf(out, len, "%s", path);
    free(path);
}

/* path as JSON into *root; true with *root NULL when the file does not exist. */
static bool read_json(const char *path, json_t **root, char *err, size_t errlen) {
    struct stat st;
    *root = NULL;
    if (stat(path, &st) && errno == ENOENT) return true;
    json_error_t je;
    if (!(*root = json_load_file(path, JSON_REJECT_DUPLICATES, &je))) {
        snprintf(err, errlen, "'%s':%d:%d: %s", path, je.line, je.column, shown_text(je.text, strlen(je.text), (char[SHOWN_MAX]){0}));
        return false;
    }
    if (!json_is_object(*root)) {
        snprintf(err, errlen, "'%s' is not a JSON object", path);
        json_decref(*root);
        *root = NULL;
        return false;
    }
    return true;
}

/* One id of eos_token_id: an integer in the tokenizer's vocabulary (true is not one: jansson keeps
 * booleans apart, as Python's json does not, but no generation config writes one). */
static bool take_id(const Tokenizer *t, json_t *v, EosIds *e, const char *path, char *err, size_t errlen) {
    int64_t vocab = tokenizer_vocab_size(t);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab) {
        snprintf(err, errlen, "'%s': eos_token_id must be a token id in [0, %lld) or a non-empty list of them",
                 path, (long long)vocab);
        return false;
    }
    if (e->n == EOS_MAX) {
        snprintf(err, errlen, "'%s': eos_token_id lists more than %d ids", path, EOS_MAX);
        return false;
    }
    if (!eos_ids_has(e, (int32_t)json_integer_value(v))) e->ids[e->n++] = (int32_t)json_integer_value(v);
    return true;
}

/* eos_token_id of the JSON file at path (1. and 2. of gen_config.h); *found: the file gave the ids. */
static bool from_eos_token_id(const Tokenizer *t, const char *path, EosIds *e, bool *found, char *err, size_t errlen) {
    json_t *root;
    *found = false;
    if (!read_json(path, &root, err, errlen)) return false;
    json_t *v = root ? json_object_get(root, "eos_token_id") : NULL;
    bool ok = true;
    if (v && !json_is_null(v)) {
        if (json_is_array(v) && !json_array_size(v)) {
            snprintf(err, errlen, "'%s': eos_token_id is an empty list", path);
            ok = false;
        }
        for (size_t i = 0; ok && i < (json_is_array(v) ? json_array_size(v) : 1); i++)
            ok = take_id(t, json_is_array(v) ? json_array_get(v, i) : v, e, path, err, errlen);
        *found = ok;
        if (ok) snprintf(e->from, sizeof e->from, "%s", path);
    }
    json_decref(root);
    return ok;
}

/* tokenizer_config.json's eos_token (3. of gen_config.h). */
static bool from_eos_token(const Tokenizer *t, EosIds *e, char *err, size_t errlen) {
    char path[sizeof e->from];
    json_t *root;
    file_beside(t, "tokenizer_config.json", path, sizeof path);
    if (!read_json(path, &root, err, errlen)) return false;
    json_t *v = root ? json_object_get(root, "eos_token") : NULL;
    if (json_is_object(v)) v = json_object_get(v, "content");
    bool ok = true;
    if (v && !json_is_null(v)) {
        int32_t id = json_is_string(v) ? tokenizer_special_id(t, json_string_value(v)) : -1;
        if (id < 0) {
            snprintf(err, errlen, "'%s': eos_token %s%.60s%s is not a special token of '%s'", path,
                     json_is_string(v) ? "'" : "", json_is_string(v) ? json_string_value(v) : "(not a string)",
                     json_is_string(v) ? "'" : "", tokenizer_path(t));
            ok = false;
        } else {
            e->ids[e->n++] = id;
            snprintf(e->from, sizeof e->from, "%s", path);
        }
    }
    json_decref(root);
    return ok;
}

bool eos_ids_load(const Tokenizer *t, const char *gen_config, EosIds *e, char *err, size_t errlen) {
    memset(e, 0, sizeof *e);
    bool found = false;
    char path[sizeof e->from];
    if (gen_config) snprintf(path, sizeof path, "%s", gen_config);
    else file_beside(t, "generation_config.json", path, sizeof path);
    if (!from_eos_token_id(t, path, e, &found, err, errlen)) return false;
    file_beside(t, "config.json", path, sizeof path);
    if (!found && !from_eos_token_id(t, path, e, &found, err, errlen)) return false;
    return found || from_eos_token(t, e, err, errlen);
}

bool eos_ids_has(const EosIds *e, int32_t id) {
    for (int i = 0; e && i < e->n; i++)
        if (e->ids[i] == id) return true;
    return false;
}

bool gen_config_locate(const Tokenizer *t, const char *choice, char **path, bool *named, char *err, size_t errlen) {
    struct stat st;
    *path = NULL;
    *named = choice && strcmp(choice, "auto") && strcmp(choice, "vllm");
    if (!*named) {
        if (t && !(choice && !strcmp(choice, "vllm"))) *path = tokenizer_file_beside(t, "generation_config.json");
        return true;
    }
    bool dir = !stat(choice, &st) && S_ISDIR(st.st_mode);
    Buf b = {0};
    buf_printf(&b, dir ? "%s/generation_config.json" : "%s", choice);
    *path = b.data;
    if (!stat(*path, &st) && S_ISREG(st.st_mode)) return true;
    snprintf(err, errlen, "--generation-config '%s': %s", choice,
             dir ? "the directory holds no generation_config.json" : "no such file or directory (auto, vllm, or a directory)");
    free(*path);
    *path = NULL;
    return false;
}

/* vLLM's sampling parameters of a generation config (get_diff_sampling_param's available_params). */
static const char *const SAMPLING_FIELDS[] = {"repetition_penalty", "temperature", "top_k", "top_p", "min_p", "max_new_tokens"};

bool gen_defaults_load(const char *path, json_t **defaults, char *err, size_t errlen) {
    json_t *root = NULL;
    *defaults = NULL;
    if (path && !read_json(path, &root, err, errlen)) return false;
    for (size_t i = 0; root && i < sizeof SAMPLING_FIELDS / sizeof *SAMPLING_FIELDS; i++) {
        json_t *v = json_object_get(root, SAMPLING_FIELDS[i]);
        if (!v || json_is_null(v)) continue;
        if (!*defaults) *defaults = json_object();
        json_object_set(*defaults, SAMPLING_FIELDS[i], v);
    }
    json_decref(root);
    return true;
}

bool gen_defaults_override(const char *text, json_t **defaults, char *err, size_t errlen) {
    json_error_t je;
    json_t *over = json_loads(text, JSON_REJECT_DUPLICATES, &je), *v;
    const char *key;
    bool ok = json_is_object(over);
    if (!ok)
        snprintf(err, errlen, "--override-generation-config: %s",
                 over ? "not a JSON object" : shown_text(je.text, strlen(je.text), (char[SHOWN_MAX]){0}));
    json_object_foreach(ok ? over : NULL, key, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof SAMPLING_FIELDS / sizeof *SAMPLING_FIELDS; i++) known |= !strcmp(key, SAMPLING_FIELDS[i]);
        if (!known) {
            snprintf(err, errlen, "--override-generation-config: the field '%s' is not one of repetition_penalty, "
                     "temperature, top_k, top_p, min_p and max_new_tokens", shown_text(key, strlen(key), (char[SHOWN_MAX]){0}));
            ok = false;
            break;
        }
        if (!*defaults) *defaults = json_object();
        if (json_is_null(v)) json_object_del(*defaults, key);
        else json_object_set(*defaults, key, v);
    }
    if (*defaults && !json_object_size(*defaults)) {
        json_decref(*defaults);
        *defaults = NULL;
    }
    json_decref(over);
    return ok;
}
