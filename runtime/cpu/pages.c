/* pages.c — the block tables and free pages of a paged run (backend.h; docs/plan.md, "Paged caches"):
 * the plan sizes the pool and the tables, the backend hands out pages as a sequence grows and takes
 * them back when it leaves. The pool is a stack: the pages a sequence returns are the next ones given,
 * so a later sequence's table is a scramble of reused pages. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>

void backend_pages_open(Backend *b) {
    const RunPlan *p = b->plan;
    if (!p->page_tokens) return;
    b->page_table = arena_array(&b->host, (size_t)(b->cfg.nseq * p->table_pages), sizeof *b->page_table);
    b->pages_held = arena_array(&b->host, (size_t)b->cfg.nseq, sizeof *b->pages_held);
    b->free_pages = arena_array(&b->host, (size_t)p->pool_pages, sizeof *b->free_pages);
    for (int64_t i = 0; i < p->pool_pages; i++) b->free_pages[i] = (int32_t)(p->pool_pages - 1 - i);   /* page 0 on top */
    b->nfree_pages = p->pool_pages;
}

bool backend_pages_grow(Backend *b, int slot, int64_t tokens) {
    const RunPlan *p = b->plan;
    int64_t need = run_plan_seq_pages(p, tokens);
    if (!p->page_tokens || b->pages_held[slot] >= need) return true;
    if (need - b->pages_held[slot] > b->nfree_pages) {
        snprintf(b->err, sizeof b->err, "slot %d needs %lld pages for %lld tokens; the pool of %lld has %lld free",
                 slot, (long long)need, (long long)tokens, (long long)p->pool_pages, (long long)b->nfree_pages);
        return false;
    }
    int32_t *table = b->page_table + slot * p->table_pages;
    while (b->pages_held[slot] < need) table[b->pages_held[slot]++] = b->free_pages[--b->nfree_pages];
    return true;
}

void backend_pages_shrink(Backend *b, int slot, int64_t tokens) {
    if (!b->plan->page_tokens) return;
    const int32_t *table = b->page_table + slot * b->plan->table_pages;
    int64_t keep = run_plan_seq_pages(b->plan, tokens);
    while (b->pages_held[slot] > keep) b->free_pages[b->nfree_pages++] = table[--b->pages_held[slot]];
}

void backend_pages_release(Backend *b, int slot) { backend_pages_shrink(b, slot, 0); }

const int32_t *backend_page_table(const Backend *b, int slot) {
    return b->plan->page_tokens ? b->page_table + slot * b->plan->table_pages : NULL;
}
