/* slots.c — a backend's sequence slots between steps (backend.h): emptied for the next sequence
 * (backend_reset), cut back to a prefix the next sequence shares (backend_rewind), or given another
 * slot's caches, all or its first positions (backend_copy_prefix: a request's n choices share their
 * prompt's prefill; a prompt that starts as another slot's): a paged cache's whole pages shared, the
 * rest copied. The bytes copied
 * are where the run plan lays them (compiler/plan/run_plan.h); the backend only copies them
 * (BackendOps.copy_kv, upload_kv). */
#include "backend.h"

#include <stdio.h>

bool backend_rewind(Backend *b, int slot, int64_t tokens) {
    if (slot < 0 || slot >= b->cfg.nseq) {
        snprintf(b->err, sizeof b->err, "rewind of slot %d: out of range (%d held)", slot, b->cfg.nseq);
        return false;
    }
    if (tokens < 0 || tokens > b->seq_len[slot]) {
        snprintf(b->err, sizeof b->err, "rewind of slot %d to %lld tokens: it holds %lld", slot, (long long)tokens,
                 (long long)b->seq_len[slot]);
        return false;
    }
    b->seq_len[slot] = tokens;
    backend_pages_shrink(b, slot, tokens);
    return true;
}

bool backend_reset(Backend *b, int slot) { return backend_rewind(b, slot, 0); }

/* Unpaged cache c of slot `to` as slot `from`'s first n positions: a ring's rows all (those its
 * tokens fill, at position % capacity in both: any past n are never read before they are written
 * again), else the first n; codes then scales. */
static bool copy_block(Backend *b, int c, int from, int to, int64_t n) {
    const CacheMap *cm = &b->plan->cache[c];
    int64_t rows = !cm->ring ? n : b->seq_len[from] < cm->capacity ? b->seq_len[from] : cm->capacity;
    for (int v = 0; v < 2; v++) {
        KvBytes s[2], d[2];
        run_plan_seq_rows_bytes(b->plan, c, v, from, rows, s);
        run_plan_seq_rows_bytes(b->plan, c, v, to, rows, d);
        for (int k = 0; k < 2; k++)
            if (s[k].n && !b->ops->copy_kv(b, d[k].at, s[k].at, s[k].n)) return false;
    }
    return true;
}

/* The paged caches of slot `to` as slot `from`'s: each page `to` holds of its own (not shared with
 * `from`: backend_pages_share) gets the rows of the page `from` holds at that place of its table. */
static bool copy_pages(Backend *b, int from, int to) {
    const int32_t *src = backend_page_table(b, from), *dst = backend_page_table(b, to);
    for (int64_t i = 0; i < b->pages_held[to]; i++)
        if (src[i] != dst[i] && !backend_page_copy(b, src[i], dst[i])) return false;
    return true;
}

bool backend_copy_prefix(Backend *b, int from, int to, int64_t n) {
    const RunPlan *p = b->plan;
    if (from < 0 || from >= b->cfg.nseq || from == to || n < 0 || n > b->seq_len[from]) {
        snprintf(b->err, sizeof b->err, "copy of slot %d's first %lld positions: out of range", from, (long long)n);
        return false;
    }
    if (!backend_rewind(b, to, 0)) return false;
    backend_pages_share(b, from, to, n);
    if (!backend_pages_grow(b, to, n)) return false;
    if (p->table_bytes && b->pages_held[to] &&   /* the kernels' copy of its new table */
        !b->ops->upload_kv(b, run_plan_table_entry(p, to, 0), backend_page_table(b, to),
                           b->pages_held[to] * (int64_t)sizeof(int32_t)))
        return false;
    if (p->page_tokens && !copy_pages(b, from, to)) return false;
    for (int c = 0; c < p->ncaches; c++)
        if (!p->cache[c].paged && !copy_block(b, c, from, to, n)) return false;
    b->seq_len[to] = n;
    return true;
}
