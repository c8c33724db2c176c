/* pages.c — the block tables and free pages of a paged run (backend.h; docs/plan.md, "Paged caches"):
 * the plan sizes the pool and the tables, the backend hands out pages as a sequence grows and takes
 * them back when it leaves. The pool is a stack: the pages a sequence returns are the next ones given,
 * so a later sequence's table is a scramble of reused pages.
 *
 * Slots may share pages (backend_pages_share: a prefix two sequences start with): each page counts
 * the tables that hold it and goes back to the pool when the last lets it go. A shared page is never
 * written: a slot about to write into one (its length inside a page it shares) first takes a copy of
 * its own (copy on write). */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void backend_pages_open(Backend *b) {
    const RunPlan *p = b->plan;
    if (!p->page_tokens) return;
    b->page_table = arena_array(&b->host, (size_t)(b->cfg.nseq * p->table_pages), sizeof *b->page_table);
    b->pages_held = arena_array(&b->host, (size_t)b->cfg.nseq, sizeof *b->pages_held);
    b->free_pages = arena_array(&b->host, (size_t)p->pool_pages, sizeof *b->free_pages);
    b->page_refs = arena_array(&b->host, (size_t)p->pool_pages, sizeof *b->page_refs);
    for (int64_t i = 0; i < p->pool_pages; i++) b->free_pages[i] = (int32_t)(p->pool_pages - 1 - i);   /* page 0 on top */
    b->nfree_pages = p->pool_pages;
}

static int32_t *table_of(const Backend *b, int slot) { return b->page_table + slot * b->plan->table_pages; }

static int32_t take_page(Backend *b) {
    int32_t page = b->free_pages[--b->nfree_pages];
    b->page_refs[page] = 1;
    return page;
}

static void drop_page(Backend *b, int32_t page) {
    if (--b->page_refs[page] == 0) b->free_pages[b->nfree_pages++] = page;
}

/* The index in slot's table of the page a write at position `at` goes into when that page is held
 * and shared, else -1. A write at a page's start goes into a page of its own (once the slot is cut
 * back to `at`, it holds none there). */
static int64_t shared_write_page(const Backend *b, int slot, int64_t at) {
    const RunPlan *p = b->plan;
    if (!p->page_tokens || at % p->page_tokens == 0) return -1;
    int64_t i = at / p->page_tokens;
    return i < b->pages_held[slot] && b->page_refs[table_of(b, slot)[i]] > 1 ? i : -1;
}

bool backend_pages_copy_due(const Backend *b, int slot, int64_t at) { return shared_write_page(b, slot, at) >= 0; }

bool backend_page_copy(Backend *b, int32_t from, int32_t to) {
    for (int c = 0; c < b->plan->ncaches; c++)
        for (int v = 0; v < 2 && b->plan->cache[c].paged; v++) {
            KvBytes s[2], d[2];
            run_plan_page_bytes(b->plan, c, v, from, s);
            run_plan_page_bytes(b->plan, c, v, to, d);
            for (int k = 0; k < 2; k++)
                if (s[k].n && !b->ops->copy_kv(b, d[k].at, s[k].at, s[k].n)) return false;
        }
    return true;
}

/* Slot's table entry i becomes `page`; the kernels' copy of the tables (RunPlan.table_bytes) too. */
static bool set_entry(Backend *b, int slot, int64_t i, int32_t page) {
    table_of(b, slot)[i] = page;
    const RunPlan *p = b->plan;
    return !p->table_bytes || b->ops->upload_kv(b, run_plan_table_entry(p, slot, i), &table_of(b, slot)[i],
                                                (int64_t)sizeof(int32_t));
}

/* The shared page slot's next write goes into, replaced by a copy of its own (copy on write). */
static bool own_write_page(Backend *b, int slot) {
    int64_t i = shared_write_page(b, slot, b->seq_len[slot]);
    if (i < 0) return true;
    int32_t shared = table_of(b, slot)[i], mine = take_page(b);
    if (backend_page_copy(b, shared, mine) && set_entry(b, slot, i, mine)) {
        drop_page(b, shared);
        b->pages_copied++;
        return true;
    }
    table_of(b, slot)[i] = shared;   /* as it was: the device's entry is rewritten by the next upload */
    drop_page(b, mine);
    snprintf(b->err, sizeof b->err, "cannot copy page %d of slot %d before it writes into it", (int)shared, slot);
    return false;
}

bool backend_pages_grow(Backend *b, int slot, int64_t tokens) {
    const RunPlan *p = b->plan;
    if (!p->page_tokens || tokens <= b->seq_len[slot]) return true;
    int64_t need = run_plan_seq_pages(p, tokens), fresh = need > b->pages_held[slot] ? need - b->pages_held[slot] : 0;
    int64_t copy = backend_pages_copy_due(b, slot, b->seq_len[slot]);
    if (fresh + copy > b->nfree_pages) {
        snprintf(b->err, sizeof b->err, "slot %d needs %lld pages for %lld tokens%s; the pool of %lld has %lld free",
                 slot, (long long)need, (long long)tokens, copy ? " (and one for a copy of a shared page)" : "",
                 (long long)p->pool_pages, (long long)b->nfree_pages);
        return false;
    }
    if (!own_write_page(b, slot)) return false;
    int32_t *table = table_of(b, slot);
    while (b->pages_held[slot] < need) table[b->pages_held[slot]++] = take_page(b);
    return true;
}

void backend_pages_share(Backend *b, int from, int to, int64_t n) {
    const RunPlan *p = b->plan;
    if (!p->page_tokens) return;
    const int32_t *src = table_of(b, from);
    int32_t *dst = table_of(b, to);
    int64_t whole = n / p->page_tokens;
    backend_pages_release(b, to);
    for (int64_t i = 0; i < whole; i++) b->page_refs[dst[i] = src[i]]++;
    b->pages_held[to] = whole;
    b->pages_shared += whole;
}

void backend_pages_shrink(Backend *b, int slot, int64_t tokens) {
    if (!b->plan->page_tokens) return;
    const int32_t *table = table_of(b, slot);
    int64_t keep = run_plan_seq_pages(b->plan, tokens);
    while (b->pages_held[slot] > keep) drop_page(b, table[--b->pages_held[slot]]);
}

void backend_pages_release(Backend *b, int slot) { backend_pages_shrink(b, slot, 0); }

int64_t backend_pages_distinct(const Backend *b, const int *slots, int n, unsigned char *seen) {
    int64_t count = 0;
    if (!b->plan->page_tokens) return 0;
    memset(seen, 0, (size_t)b->plan->pool_pages);
    for (int k = 0; k < n; k++)
        for (int64_t i = 0; i < b->pages_held[slots[k]]; i++) {
            int32_t page = table_of(b, slots[k])[i];
            count += !seen[page];
            seen[page] = 1;
        }
    return count;
}

const int32_t *backend_page_table(const Backend *b, int slot) {
    return b->plan->page_tokens ? table_of(b, slot) : NULL;
}
