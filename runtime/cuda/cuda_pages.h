/* cuda_pages.h — paged caches on the device (cuda_pages.c). Include after kernel_params.h with
 * MIXC_DPTR(T) defined as CUdeviceptr (the cuda backend's parameter structs). */
#ifndef MIXC_CUDA_PAGES_H
#define MIXC_CUDA_PAGES_H

#include "cuda_backend.h"

/* Cache c's block tables as its kernels take them (the plan's device tables, the pool's rows); all 0
 * when c is not paged. */
MixcPagedKv cuda_paged_kv(const RunPlan *p, CUdeviceptr caches, int c);

/* The pages a step needs, before it runs: each of the n prefill parts' chunk (parts), or one more
 * token in each of the n decode slots (slots, parts NULL); backend_pages_grow, then each slot's new
 * entries copied to the plan's device table in `caches` (the KV allocation). false with b->err. A
 * no-op unpaged. */
bool cuda_pages_step(Backend *b, const CudaDriver *cu, CUdeviceptr caches, const PrefillPart *parts, const int *slots,
                     int n);

#endif
