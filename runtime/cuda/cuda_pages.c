/* cuda_pages.c — paged caches on the device (docs/plan.md, "Paged caches"; cuda_backend.h): the host
 * keeps the block tables and the free pool (runtime/cpu/pages.c, as the cpu backend does); the
 * kernels read the plan's copy of the tables in the KV allocation (RunPlan.table_offset), to which a
 * slot's new entries are copied when it takes pages, before the step that needs them. No allocation:
 * the copy is of the host table's entries into the planned rows. */
#include "cuda_backend.h"

#define MIXC_DPTR(T) CUdeviceptr
#include "kernel_params.h"
#include "cuda_pages.h"

#include <stdio.h>

/* The MixcPagedKv of cache c's kernels: the device tables and the pool's rows; zero unpaged. */
MixcPagedKv cuda_paged_kv(const RunPlan *p, CUdeviceptr caches, int c) {
    MixcPagedKv pg = {0, 0, 0};
    if (!p->cache[c].paged) return pg;
    pg.pages = caches + (CUdeviceptr)p->table_offset;
    pg.pool_rows = (long long)(p->pool_pages * p->page_tokens);
    pg.table_pages = (int)p->table_pages;
    return pg;
}

static bool pages_grow(Backend *b, const CudaDriver *cu, CUdeviceptr caches, int slot, int64_t tokens) {
    const RunPlan *p = b->plan;
    if (!p->page_tokens) return true;
    const int64_t held = b->pages_held[slot];
    if (!backend_pages_grow(b, slot, tokens)) return false;
    if (b->pages_held[slot] == held) return true;
    const int32_t *table = backend_page_table(b, slot);
    const int64_t at = run_plan_table_entry(p, slot, held);
    if (cu->cuMemcpyHtoD(caches + (CUdeviceptr)at, table + held,
                         (size_t)(b->pages_held[slot] - held) * sizeof(int32_t)) != CUDA_SUCCESS) {
        snprintf(b->err, sizeof b->err, "cannot copy slot %d's block table to the device", slot);
        return false;
    }
    return true;
}

bool cuda_pages_step(Backend *b, const CudaDriver *cu, CUdeviceptr caches, const PrefillPart *parts, const int *slots,
                     int n) {
    for (int i = 0; i < n && b->plan->page_tokens; i++) {
        const int slot = parts ? parts[i].slot : slots[i];
        if (!pages_grow(b, cu, caches, slot, b->seq_len[slot] + (parts ? parts[i].n : 1))) return false;
    }
    return true;
}
