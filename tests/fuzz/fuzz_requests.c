/* fuzz_requests.c — libFuzzer target: arbitrary bytes as the JSONL request file of `mixrun --requests`
 * (runtime/serve/requests.c, serve_read_requests), written to a temporary file (the reader takes a
 * path) and read against tests/mixrun/tiny.mix's vocabulary (256), as tests/serve/run.sh does.
 * Contract: the file is accepted with what requests.h promises: 1 to SERVE_MAX_REQUESTS requests,
 * each with a unique, non-empty UTF-8 id without control characters (C0, DEL, C1) or line separators (it is printed as
 * "ID: tokens" a line), a non-empty prompt of ids in [0, 256), max_new_tokens in [1, MIXC_MAX_VALUE),
 * arrival_s in [0, SERVE_MAX_ARRIVAL_S], in arrival order with ties in file order, and nothing on
 * stderr; or it is refused with one line "PROG: PATH:LINE: message" naming one of its lines (or
 * "PROG: 'PATH' holds a NUL byte" when it does), without a control character (the file's bytes
 * reach no terminal), and nothing to free. A second read gives the same.
 * Nothing may crash, leak or hit undefined behaviour. */
#include "requests.h"
#define FUZZ_NAME "fuzz_requests"
#include "fuzz_common.h"

#include <jansson.h>
#include <string.h>
#include <unistd.h>

enum { VOCAB = 256 };
static char path[64];

/* What one read gave: the requests, or the message. */
typedef struct {
    bool ok;
    ServeRequests rq;
    char *err;      /* what went to stderr */
    size_t errlen;
} Read;

/* Reads the file with stderr in r->err (glibc's stderr is a variable; the sanitizers write to fd 2
 * themselves: their reports still show). */
static void read_requests(Read *r) {
    FILE *saved = stderr;
    stderr = open_memstream(&r->err, &r->errlen);
    if (!stderr) contract_broken("cannot open a memory stream");
    r->ok = serve_read_requests(path, VOCAB, &r->rq);
    fclose(stderr);
    stderr = saved;
}

/* A request's id: NUL-free UTF-8 (jansson checks it) without a control character (Unicode's Cc:
 * U+0000..U+001F, U+007F..U+009F) or a line separator (U+2028, U+2029). */
static bool clean_id(const char *id) {
    json_t *j = json_string(id);
    bool ok = j && *id;
    json_decref(j);
    for (const unsigned char *c = (const unsigned char *)id; ok && *c; c++)
        ok = *c >= 0x20 && *c != 0x7f && !(c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) &&
             !(c[0] == 0xe2 && c[1] == 0x80 && (c[2] == 0xa8 || c[2] == 0xa9));   /* U+2028, U+2029 */
    return ok;
}

/* The ids of the file's lines in order (an oracle of the tie order: the file's own lines); *n of them. */
static char **ids_in_order(const uint8_t *data, size_t size, int *n) {
    char **ids = NULL;
    *n = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t *end = memchr(data + at, '\n', size - at);
        size_t len = end ? (size_t)(end - data) - at : size - at;
        json_t *o = json_loadb((const char *)data + at, len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id"));
        if (id) {
            ids = xrealloc(ids, (size_t)(*n + 1) * sizeof *ids);
            ids[(*n)++] = xstrdup(id);
        }
        json_decref(o);
        at += len + 1;
    }
    return ids;
}

/* The place of id among the file's. */
static int place_of(char **ids, int n, const char *id) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ids[i], id)) return i;
    contract_broken("an accepted id is on no line of the file");
}

static void check_accepted(const ServeRequests *rq, const uint8_t *data, size_t size) {
    if (rq->n < 1 || rq->n > SERVE_MAX_REQUESTS) contract_broken("an accepted file without requests, or too many");
    int nids, last = -1;
    char **ids = ids_in_order(data, size, &nids);
    for (int i = 0; i < rq->n; i++) {
        const ServeRequest *r = &rq->v[i];
        if (!r->id || !clean_id(r->id)) contract_broken("an accepted id that is empty, not UTF-8 or holds a control");
        for (int j = 0; j < i; j++)
            if (!strcmp(rq->v[j].id, r->id)) contract_broken("an accepted id used twice");
        if (r->prompt_len < 1 || !r->prompt) contract_broken("an accepted empty prompt");
        for (int64_t t = 0; t < r->prompt_len; t++)
            if (r->prompt[t] < 0 || r->prompt[t] >= VOCAB) contract_broken("an accepted token outside the vocabulary");
        if (r->max_new < 1 || r->max_new >= MIXC_MAX_VALUE) contract_broken("an accepted max_new_tokens out of range");
        if (!(r->arrival_s >= 0 && r->arrival_s <= SERVE_MAX_ARRIVAL_S)) contract_broken("an accepted arrival out of range");
        if (i && r->arrival_s < rq->v[i - 1].arrival_s) contract_broken("the requests are not in arrival order");
        int place = place_of(ids, nids, r->id);
        if (i && r->arrival_s == rq->v[i - 1].arrival_s && place < last)
            contract_broken("requests arriving together are not in file order");
        last = place;
    }
    for (int i = 0; i < nids; i++) free(ids[i]);
    free(ids);
}

/* One line "PROG: PATH:LINE: message\n", LINE one of the file's; or the NUL byte's. */
static void check_refused(const Read *r, const uint8_t *data, size_t size) {
    if (r->rq.n || r->rq.v) contract_broken("a refused file left requests");
    if (!r->errlen || r->err[r->errlen - 1] != '\n' || memchr(r->err, '\n', r->errlen - 1))
        contract_broken("a refusal is not one line");
    const unsigned char *m = (const unsigned char *)r->err;
    for (size_t i = 0; i + 1 < r->errlen; i++)
        if (m[i] < 0x20 || m[i] == 0x7f || (m[i] == 0xc2 && m[i + 1] >= 0x80 && m[i + 1] <= 0x9f))
            contract_broken("a refusal holds a control character (the file's bytes on the terminal)");
    char head[128];
    int n = snprintf(head, sizeof head, "fuzz_requests: %s:", path);
    if (memchr(data, 0, size)) {
        snprintf(head, sizeof head, "fuzz_requests: '%s' holds a NUL byte\n", path);
        if (strcmp(r->err, head)) contract_broken("a file with a NUL byte refused otherwise");
        return;
    }
    if (strncmp(r->err, head, (size_t)n)) contract_broken("a refusal does not start with PROG: PATH:");
    char *end;
    long line = strtol(r->err + n, &end, 10);
    int64_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    if (line < 1 || line > lines) contract_broken("a refusal names a line the file does not have");
    if (strncmp(end, ": ", 2) || end[2] == '\n') contract_broken("a refusal without a message");
}

static void check_same(const Read *a, const Read *b) {
    if (a->ok != b->ok || a->errlen != b->errlen || (a->errlen && memcmp(a->err, b->err, a->errlen)) ||
        a->rq.n != b->rq.n)
        contract_broken("a second read gave another result");
    for (int i = 0; i < a->rq.n; i++) {
        const ServeRequest *x = &a->rq.v[i], *y = &b->rq.v[i];
        if (strcmp(x->id, y->id) || x->prompt_len != y->prompt_len || x->max_new != y->max_new ||
            x->arrival_s != y->arrival_s || memcmp(x->prompt, y->prompt, (size_t)x->prompt_len * sizeof *x->prompt))
            contract_broken("a second read gave other requests");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_requests.%ld.jsonl", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) contract_broken("cannot write the requests file");
    fwrite(data, 1, size, f);
    if (fclose(f)) contract_broken("cannot write the requests file");
    Read a = {0}, b = {0};
    read_requests(&a);
    read_requests(&b);
    unlink(path);
    if (a.ok) {
        if (a.errlen) contract_broken("an accepted file printed on stderr");
        check_accepted(&a.rq, data, size);
    } else {
        check_refused(&a, data, size);
    }
    check_same(&a, &b);
    serve_requests_free(&a.rq);
    serve_requests_free(&b.rq);
    free(a.err);
    free(b.err);
    return 0;
}
