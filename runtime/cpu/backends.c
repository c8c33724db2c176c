/* backends.c — the table of mixrun's backends and backend_open, which looks a name up there.
 *
 * A backend is a row: its name and its open (which installs its BackendOps). The emu and cuda rows
 * are always here; in a build without the CUDA toolkit their opens are runtime/jit/no_toolkit.c's,
 * which say the backend needs the toolkit. Nothing is plugged in through weak symbols or globals:
 * what a backend needs (prebuilt kernels among it) comes through BackendConfig.
 */
#include "backend.h"

#include "mixc_params.h"   /* mixc_argmax: the greedy rule of every backend */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const BackendEntry backends[] = {
    {"cpu", cpu_backend_open, false, NULL},
    {"emu", emu_backend_open, true, emu_backend_usable},
    {"cuda", cuda_backend_open, true, cuda_backend_usable},
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

const BackendEntry *backend_find(const char *name) {
    for (size_t i = 0; name && i < NBACKENDS; i++)
        if (strcmp(backends[i].name, name) == 0) return &backends[i];
    return NULL;
}

const char *backend_names(void) {
    static char names[64];
    if (!names[0])
        for (size_t i = 0, at = 0; i < NBACKENDS; i++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s",
                                   i == 0 ? "" : i + 1 < NBACKENDS ? ", " : " or ", backends[i].name);
    return names;
}

const BackendEntry *backend_resolve(const char *name) {
    if (!name) {   /* cuda when it can run here, else the reference */
        char why[256];
        name = backend_cuda_available(why, sizeof why) ? "cuda" : "cpu";
    }
    return backend_find(name);
}

int backend_usable(const char *name, char *err, size_t errlen) {
    const BackendEntry *e = backend_resolve(name);
    return e && e->usable ? e->usable(err, errlen) : 0;
}

int backend_open(const char *name, const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    const BackendEntry *e = backend_resolve(name);
    if (!e) return backend_open_error(err, errlen, 2, "unknown backend '%s' (%s)", name, backend_names());
    if (m->stream && !e->copies_weights)
        return backend_open_error(err, errlen, 2, "internal error: the %s backend needs the weights in memory, not "
                                  "streamed from the checkpoint", e->name);
    return e->open(m, cfg, b, err, errlen);
}

void backend_init(Backend *b, const BackendOps *ops, const char *name, const Model *m, const BackendConfig *cfg) {
    b->ops = ops;
    b->name = name;
    b->model = m;
    b->layout = m->layout;
    b->cfg = *cfg;
    b->seq_len = arena_array(&b->host, (size_t)cfg->nseq, sizeof *b->seq_len);
    b->cache_tokens = arena_array(&b->host, (size_t)b->layout->ncaches + 1, sizeof *b->cache_tokens);
}

void backend_use_plan(Backend *b, const RunPlan *plan) {
    b->plan = plan;
    for (int c = 0; c < b->layout->ncaches; c++) b->cache_tokens[c] = plan->cache[c].capacity;
    backend_pages_open(b);
}

void backend_release(Backend *b) {
    arena_free(&b->host);
    memset(b, 0, sizeof *b);
}

void backend_close(Backend *b) {
    if (b->ops) b->ops->close(b);
}

bool backend_decode_argmax_host(Backend *b, const int *slots, int n, const int32_t *tokens, int32_t *ids,
                                float *logits) {
    const int64_t V = b->layout->model.vocab;
    float *rows = logits ? logits : xcalloc((size_t)(n > 0 ? n : 1) * (size_t)V, sizeof(float));
    bool ok = b->ops->decode_slots(b, slots, n, tokens, rows);
    for (int i = 0; i < n && ok; i++) ids[i] = mixc_argmax(rows + (int64_t)i * V, V);
    if (rows != logits) free(rows);
    return ok;
}

bool backend_prefill_argmax_host(Backend *b, const PrefillPart *parts, int n, int32_t *ids, float *logits) {
    const int64_t V = b->layout->model.vocab;
    int64_t nrows = 0;
    for (int i = 0; i < n; i++) nrows += parts[i].all_logits ? parts[i].n : 1;
    float *rows = logits ? logits : xcalloc((size_t)(nrows > 0 ? nrows : 1) * (size_t)V, sizeof(float));
    bool ok = b->ops->prefill_batch(b, parts, n, rows);
    for (int i = 0, r = 0; i < n && ok; i++) {   /* part i's rows: its last is its pick's */
        r += parts[i].all_logits ? (int)parts[i].n : 1;
        ids[i] = mixc_argmax(rows + (int64_t)(r - 1) * V, V);
    }
    if (rows != logits) free(rows);
    return ok;
}
