/* cuda_open.c — opening and closing the cuda backend (cuda_backend.h, docs/gpu.md): the device's
 * context, the kernels' module, the run plan's allocations (weights, fused ones filled from their
 * parts; KV caches; arena; cuBLAS workspace) and the RoPE tables. Its steps are cuda_backend.c's. */
#include "cuda_state.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ closing */

static void free_state(CudaState *s) {
    if (!s) return;
    const CudaDriver *cu = s->cu;
    if (cu && s->ctx_retained) {
        cu->cuCtxSetCurrent(s->ctx);
        if (s->blas) s->bl->cublasDestroy(s->blas);
        cuda_drop_graphs(s, NULL);
        if (s->stream) cu->cuStreamDestroy(s->stream);
        CUdeviceptr blocks[] = {s->weights, s->caches, s->arena, s->rope_dev, s->workspace};
        for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
            if (blocks[i]) cu->cuMemFree(blocks[i]);
        if (s->mod) cu->cuModuleUnload(s->mod);
        if (s->pinned) cu->cuMemFreeHost(s->pinned);
        cu->cuDevicePrimaryCtxRelease(s->dev);
    }
    if (s->plan_ready) run_plan_free(&s->plan);
    rope_tables_free(&s->rope);
    for (int i = 0; i < CUDA_STEP_GRAPHS; i++) free(s->graph[i].key);
    if (s->route_log) fclose(s->route_log);
    FREE_ALL(s->fn, s->layer, s->scale, s->host_ints, s->prefill_rows, s->route_host, s);
}

static void cuda_close(Backend *b) {
    free_state(b->impl);
    backend_release(b);
}

static const BackendOps cuda_ops = {"cuda", cuda_prefill_batch, backend_decode_all, cuda_decode_slots, cuda_close,
                                    cuda_decode_argmax, cuda_prefill_argmax, cuda_copy_kv, cuda_upload_kv};
static const BackendOps emu_ops = {"emu", cuda_prefill_batch, backend_decode_all, cuda_decode_slots, cuda_close,
                                   cuda_decode_argmax, cuda_prefill_argmax, cuda_copy_kv, cuda_upload_kv};

/* ------------------------------------------------------------------ opening */

static int last_cuda_error(char *err, size_t errlen, int status) {
    return backend_open_error(err, errlen, status, "%s", *cuda_last_error() ? cuda_last_error() : "a CUDA call failed");
}

/* Device 0's context and its architecture ("sm_XY"), compute capability 8.0 at least. */
static int open_device(CudaState *s, char arch[16], char *err, size_t errlen) {
    const CudaDriver *cu = s->cu;
    int major = 0, minor = 0;
    CU_CHECK_RET(cu->cuDeviceGet(&s->dev, 0), last_cuda_error(err, errlen, 2));
    CU_CHECK_RET(cu->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, s->dev),
                 last_cuda_error(err, errlen, 2));
    CU_CHECK_RET(cu->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, s->dev),
                 last_cuda_error(err, errlen, 2));
    if (major < 8)
        return backend_open_error(err, errlen, 2, "the GPU has compute capability %d.%d; the kernels need 8.0 or newer",
                                  major, minor);
    snprintf(arch, 16, "sm_%d%d", major, minor);
    if (cu->cuDeviceGetAttribute(&s->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, s->dev) != CUDA_SUCCESS)
        s->sm_count = 0;   /* unknown: the split rule then goes by the keys alone */
    CU_CHECK_RET(cu->cuDevicePrimaryCtxRetain(&s->ctx, s->dev), last_cuda_error(err, errlen, 2));
    s->ctx_retained = true;
    CU_CHECK_RET(cu->cuCtxSetCurrent(s->ctx), last_cuda_error(err, errlen, 2));
    return 0;
}

/* The GPU's module: the prebuilt cubin (when not NULL), or the layout's kernels compiled for arch. */
static int gpu_load_module(const CudaDevice *d, const Layout *l, const Codegen *cg, const char *arch,
                           const BackendConfig *cfg, CUmodule *mod, char *err, size_t errlen) {
    if (cfg->cuda_cubin) {
        CU_CHECK_RET(d->cu->cuModuleLoadData(mod, cfg->cuda_cubin), last_cuda_error(err, errlen, 1));
        return 0;
    }
    JitResult r;
    int rc = cuda_backend_compile(l, cg, arch, &r, err, errlen);
    if (rc == 0) {
        CUresult cr = d->cu->cuModuleLoadData(mod, r.image);
        if (cr != CUDA_SUCCESS) {
            const char *desc;
            const char *name = cuda_cu_result_name(cr, &desc);
            rc = backend_open_error(err, errlen, 1, "cannot load the kernels compiled for %s: %s (%s)", arch, name,
                                    desc);
        }
    }
    jit_result_free(&r);
    return rc;
}

/* Every kernel of the plan, with its opt-in shared memory. */
static int resolve_functions(CudaState *s, char *err, size_t errlen) {
    s->fn = xcalloc((size_t)s->plan.cg.nkernels + 1, sizeof *s->fn);
    for (int k = 0; k < s->plan.cg.nkernels; k++) {
        const KernelVariant *v = &s->plan.cg.kernel[k];
        if (s->cu->cuModuleGetFunction(&s->fn[k], s->mod, v->name) != CUDA_SUCCESS)
            return backend_open_error(err, errlen, 1, "the kernels lack %s (a cubin built for another layout?)",
                                      v->name);
        if (v->dynamic_smem > CODEGEN_STATIC_SMEM_LIMIT)
            CU_CHECK_RET(s->cu->cuFuncSetAttribute(s->fn[k], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                   (int)v->dynamic_smem),
                         last_cuda_error(err, errlen, 1));
    }
    return 0;
}

/* Where the backend finds weight w on the device, and its slot of the plan. */
static void set_dev_weight(CudaState *s, const WeightSlot *w, CUdeviceptr at) {
    if (w->layer >= 0) s->layer[w->layer].w[w->ref] = at, s->layer[w->layer].slot[w->ref] = w;
    else if (w->ref == WT_EMBED) s->embed = at, s->embed_slot = w;
    else if (w->ref == WT_NORM_FINAL) s->norm_final = at, s->norm_final_slot = w;
    else s->lm_head = at, s->lm_head_slot = w;
}

/* Host values converted to the model dtype and copied to the device in pieces of this many: the host
 * holds no second copy of a weight (a streamed model's part is all it holds). */
#define STAGING_ELEMS ((int64_t)1 << 24)

/* n host values into the device at `at`, converted to s->dt through staging (STAGING_ELEMS). */
static bool upload_converted(CudaState *s, CUdeviceptr at, const float *x, int64_t n, uint16_t *staging) {
    for (int64_t done = 0; done < n;) {
        int64_t c = n - done < STAGING_ELEMS ? n - done : STAGING_ELEMS;
        if (s->dt == CUDA_R_16F)   /* a loop a dtype: every weight passes here */
            for (int64_t j = 0; j < c; j++) staging[j] = st_f32_to_f16(x[done + j]);
        else
            for (int64_t j = 0; j < c; j++) staging[j] = st_f32_to_bf16(x[done + j]);
        CU_CHECK_RET(s->cu->cuMemcpyHtoD(at + (CUdeviceptr)(done * s->esize), staging, (size_t)(c * s->esize)), false);
        done += c;
    }
    return true;
}

/* Weights of the model, converted to the model dtype, in one allocation at the plan's offsets. */
static int upload_weights(Backend *b, CudaState *s, char *err, size_t errlen) {
    const RunPlan *p = &s->plan;
    if (!model_matches_plan(b->model, p))
        return backend_open_error(err, errlen, 1, "internal error: the run plan's weights are not the model's tensors");
    CU_CHECK_RET(s->cu->cuMemAlloc(&s->weights, (size_t)p->weights_bytes), last_cuda_error(err, errlen, 1));
    b->mem.weights_bytes = p->weights_bytes;
    b->mem.weights_dtype = dtype_name(b->layout->model.dtype);
    s->layer = xcalloc((size_t)b->layout->nlayers + 1, sizeof *s->layer);
    uint16_t *staging = xmalloc((size_t)STAGING_ELEMS * sizeof *staging);
    int rc = 0;
    for (int i = 0; i < p->nweights && !rc; i++) {
        const WeightSlot *w = &p->weight[i];
        const float *part[3];   /* a fused slot's parts, one after the other (Wq's rows, Wk's, Wv's) */
        int64_t count[3];
        int n = model_plan_weight_parts(b->model, w, part, count, err, errlen);   /* a streamed model's NaN, say */
        if (!n) rc = 1;
        CUdeviceptr at = s->weights + (CUdeviceptr)w->offset;
        for (int k = 0; k < n && !rc; k++) {
            if (!upload_converted(s, at, part[k], count[k], staging)) rc = last_cuda_error(err, errlen, 1);
            at += (CUdeviceptr)(count[k] * s->esize);
        }
        if (!rc) set_dev_weight(s, w, s->weights + (CUdeviceptr)w->offset);
    }
    if (b->layout->model.tie_embeddings) s->lm_head = s->embed, s->lm_head_slot = s->embed_slot;
    free(staging);
    return rc;
}

/* The layers' RoPE tables (rope_table), computed once here, on the device for the rope kernels. */
static int upload_rope(Backend *b, CudaState *s, char *err, size_t errlen) {
    rope_tables(b->layout, &s->rope);
    size_t bytes = (size_t)(b->layout->nlayers * s->rope.half) * sizeof(float);
    CU_CHECK_RET(s->cu->cuMemAlloc(&s->rope_dev, bytes), last_cuda_error(err, errlen, 1));
    CU_CHECK_RET(s->cu->cuMemcpyHtoD(s->rope_dev, s->rope.inv_freq, bytes), last_cuda_error(err, errlen, 1));
    return 0;
}

/* The plan's KV allocation and arena, zeroed: a masked key's value row is still multiplied by 0, and
 * 0 * NaN garbage is NaN. */
static int alloc_plan(Backend *b, CudaState *s, char *err, size_t errlen) {
    const RunPlan *p = &s->plan;
    if (s->cu->cuMemAlloc(&s->caches, (size_t)p->kv_bytes) != CUDA_SUCCESS)
        return backend_open_error(err, errlen, 1, "cannot allocate %s of KV caches on the GPU",
                                  fmt_bytes((double)p->kv_bytes));
    b->mem.kv_bytes = p->kv_bytes;
    b->mem.kv_dtype = dtype_name(p->opt.kv_dtype);
    CU_CHECK_RET(s->cu->cuMemsetD8(s->caches, 0, (size_t)p->kv_bytes), last_cuda_error(err, errlen, 1));
    if (s->cu->cuMemAlloc(&s->arena, (size_t)p->arena_bytes) != CUDA_SUCCESS)
        return backend_open_error(err, errlen, 1, "cannot allocate %s of activations on the GPU",
                                  fmt_bytes((double)p->arena_bytes));
    b->mem.arena_bytes = p->arena_bytes;
    CU_CHECK_RET(s->cu->cuMemsetD8(s->arena, 0, (size_t)p->arena_bytes), last_cuda_error(err, errlen, 1));
    b->mem.kv_planned = p->kv_bytes;
    b->mem.arena_planned = p->arena_bytes;
    b->mem.weights_planned = p->weights_bytes;
    b->mem.workspace_planned = p->workspace_bytes;
    if (!p->workspace_bytes) return 0;   /* emu: host GEMMs */
    if (s->cu->cuMemAlloc(&s->workspace, (size_t)p->workspace_bytes) != CUDA_SUCCESS)
        return backend_open_error(err, errlen, 1, "cannot allocate the %s cuBLAS workspace on the GPU",
                                  fmt_bytes((double)p->workspace_bytes));
    b->mem.workspace_bytes = p->workspace_bytes;
    if (s->bl->cublasSetWorkspace(s->blas, (void *)s->workspace, (size_t)p->workspace_bytes) != CUBLAS_STATUS_SUCCESS)
        return backend_open_error(err, errlen, 2, "cuBLAS refuses the plan's %s workspace",
                                  fmt_bytes((double)p->workspace_bytes));
    return 0;
}

/* The plan's device memory against what the device has free, before anything is allocated or uploaded
 * (a large model's load takes minutes): exit status 1 with the figures when it cannot fit. */
static int check_fits(CudaState *s, char *err, size_t errlen) {
    const RunPlan *p = &s->plan;
    size_t free_bytes = 0, total = 0;
    if (s->cu->cuMemGetInfo(&free_bytes, &total) != CUDA_SUCCESS) return 0;   /* unknown: the allocations will tell */
    int64_t need;
    bool sums = add_ok(p->weights_bytes, p->kv_bytes, &need) && add_ok(need, p->arena_bytes, &need) &&
                add_ok(need, p->workspace_bytes, &need);
    if (sums && (uint64_t)need <= (uint64_t)free_bytes) return 0;
    return backend_open_error(err, errlen, 1, "the run plan needs %s of device memory (weights %s, KV caches %s, "
                              "activations %s, cuBLAS workspace %s) and the %s device has %s free of %s",
                              sums ? fmt_bytes((double)need) : "more than 2^62 bytes",
                              fmt_bytes((double)p->weights_bytes), fmt_bytes((double)p->kv_bytes),
                              fmt_bytes((double)p->arena_bytes), fmt_bytes((double)p->workspace_bytes),
                              s->device.name, fmt_bytes((double)free_bytes), fmt_bytes((double)total));
}

/* The int inputs of each step, by name; the host staging holds the largest. */
static int find_ints(CudaState *s, char *err, size_t errlen) {
    int64_t most = 0;
    for (int k = 0; k < 2; k++) {
        const ActPlan *a = run_plan_step(&s->plan, k == 1);
        StepInts *si = &s->ints[k];
        *si = (StepInts){-1, -1, -1, -1};
        for (int t = 0; t < a->ntensors; t++) {
            const ActTensor *at = &a->tensor[t];
            int *slot = !strcmp(at->name, "tokens")      ? &si->tokens
                        : !strcmp(at->name, "positions") ? &si->positions
                        : !strcmp(at->name, "sequences") ? &si->sequences
                        : !strcmp(at->name, "chunk_args") ? &si->chunk_args
                                                          : NULL;
            if (!strcmp(at->name, "logits") || !strcmp(at->name, "token_ids"))   /* what a step copies back */
                s->pinned_bytes = (size_t)a->item[t].size > s->pinned_bytes ? (size_t)a->item[t].size : s->pinned_bytes;
            if (!slot) continue;
            *slot = t;
            if (a->item[t].size > most) most = a->item[t].size;
        }
        if (si->tokens < 0 || si->positions < 0 || si->sequences < 0 || (k == 0 && si->chunk_args < 0))
            return backend_open_error(err, errlen, 1, "internal error: the run plan lacks the kernels' int inputs");
    }
    s->host_ints = xcalloc((size_t)most + 4, 1);
    s->prefill_rows = xcalloc((size_t)(3 * s->plan.prefill.tokens), sizeof *s->prefill_rows);
    CU_CHECK_RET(s->cu->cuMemAllocHost(&s->pinned, s->pinned_bytes), last_cuda_error(err, errlen, 1));
    return 0;
}

/* The run's plan: the target's (for the GPU: kernels for this device's architecture, at the run's
 * context, or at the model's for a prebuilt cubin: the caches then have the kernels' capacities),
 * caches, arena and schedules. */
static int plan_kernels(Backend *b, CudaState *s, const char *arch, char *err, size_t errlen) {
    const Layout *l = b->layout;
    RunOptions o;
    run_options_init(l, s->device.target, &o);
    o.context = b->cfg.context;
    o.batch = b->cfg.nseq;
    o.page_tokens = b->cfg.page_tokens, o.pool_pages = b->cfg.pool_pages;
    if (!o.arch) {
        o.arch = strncmp(arch, "sm_8", 4) == 0 ? "sm_80" : "sm_90";
        CodegenOptions co = cuda_backend_codegen_options(l, b->cfg.context, b->cfg.cuda_cubin != NULL, o.arch);
        o.kernel_context = co.context ? co.context : l->model.context;   /* codegen's 0: the model's */
        o.kernel_chunk = co.chunk ? co.chunk : l->model.chunk;
    }
    char why[256];
    if (!plan_run(l, &o, &s->plan, why, sizeof why)) return backend_open_error(err, errlen, 1, "%s", why);
    s->plan_ready = true;
    backend_use_plan(b, &s->plan);
    return find_ints(s, err, errlen);
}

static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* What the model and the run ask that the kernels cannot do: 0, or an exit status with a message. */
static int check_run(const CudaDevice *d, const Model *m, const BackendConfig *cfg, char *err, size_t errlen) {
    int checked = backend_check_config(m, cfg, err, errlen);
    if (checked) return checked;
    if (cfg->full_caches)
        return backend_open_error(err, errlen, 2,
                                  "--full-caches is not supported by the %s backend (its caches are the "
                                  "kernels' planned rings)", d->name);
    bool prebuilt = cfg->cuda_cubin || cfg->emu_kernels_so;
    if (prebuilt && cfg->page_tokens && !cfg->prebuilt_page_tokens)
        return backend_open_error(err, errlen, 2, "--page-tokens is not supported with the %s backend's prebuilt "
                                  "kernels (built unpaged: mixc build --page-tokens P); run from the .mix", d->name);
    if (prebuilt && cfg->page_tokens != cfg->prebuilt_page_tokens)
        return backend_open_error(err, errlen, 2, "the %s backend's prebuilt kernels take pages of %lld tokens (built "
                                  "so), not %lld; run from the .mix for other pages", d->name,
                                  (long long)cfg->prebuilt_page_tokens, (long long)cfg->page_tokens);
    DType dt = m->layout->model.dtype;
    if (dt != DT_BF16 && dt != DT_FP16)
        return backend_open_error(err, errlen, 1, "dtype %s: the kernels take bf16 or fp16 (fp32 runs on the cpu backend)",
                                  dtype_name(dt));
    return model_check_size(m->layout, m->stream != NULL, err, errlen) ? 0 : 1;
}

int cuda_backend_open_on(const CudaDevice *d, const Model *m, const BackendConfig *cfg, Backend *b, char *err,
                         size_t errlen) {
    memset(b, 0, sizeof *b);
    const Layout *l = m->layout;
    int rc = check_run(d, m, cfg, err, errlen);
    if (rc) return rc;
    CudaState *s = xcalloc(1, sizeof *s);
    bool emu = strcmp(d->name, "emu") == 0;
    backend_init(b, emu ? &emu_ops : &cuda_ops, d->name, m, cfg);
    b->impl = s;
    s->device = *d;
    s->cu = d->cu;
    s->bl = d->bl;
    s->dt = l->model.dtype == DT_FP16 ? CUDA_R_16F : CUDA_R_16BF;
    s->esize = 2;
    s->scale = xcalloc((size_t)l->nlayers + 1, sizeof *s->scale);
    for (int i = 0; i < l->nlayers; i++) s->scale[i] = (float)model_attention_scale((const ModelHeader[]){layer_model(l, i)});
    s->print_plan = env_flag("MIXC_CUDA_PLAN");
    /* The decode step as a CUDA graph unless MIXC_CUDA_GRAPHS=0 (docs/gpu.md: the same logits bit for bit,
     * measured faster on an H200), or a route log is asked (it copies each route to the host: eager
     * steps); the emulated device has no graphs. */
    const char *graphs = getenv("MIXC_CUDA_GRAPHS"), *route_log = getenv("MIXC_ROUTE_LOG");
    const bool graphs_off = graphs && strcmp(graphs, "0") == 0, graphs_asked = graphs && *graphs && !graphs_off;
    const bool logging = route_log && *route_log;
    s->graphs = !graphs_off && !logging && d->cu->cuStreamBeginCapture;
    for (int i = 0; i < CUDA_STEP_GRAPHS; i++) s->graph[i].key = xcalloc((size_t)l->nlayers + 2, sizeof(int));
    if (logging && (graphs_asked || !(s->route_log = fopen(route_log, "wb")))) {
        rc = backend_open_error(err, errlen, 2, graphs_asked ? "MIXC_ROUTE_LOG: not with MIXC_CUDA_GRAPHS=1 (a log copies "
                                "each route to the host)" : "MIXC_ROUTE_LOG: cannot write %s", route_log);
        cuda_close(b);
        return rc;
    }
    char arch[16];
    rc = open_device(s, arch, err, errlen);
    if (!rc) rc = plan_kernels(b, s, arch, err, errlen);
    if (!rc) rc = check_fits(s, err, errlen);
    if (!rc) rc = d->load_module(d, l, &s->plan.cg, arch, cfg, &s->mod, err, errlen);
    if (!rc) rc = resolve_functions(s, err, errlen);
    if (!rc && s->cu->cuStreamCreate(&s->stream, CU_STREAM_DEFAULT) != CUDA_SUCCESS)
        rc = last_cuda_error(err, errlen, 2);
    if (!rc && (s->bl->cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS ||
                s->bl->cublasSetStream(s->blas, (cudaStream_t)s->stream) != CUBLAS_STATUS_SUCCESS))
        rc = backend_open_error(err, errlen, 2, "cannot create a cuBLAS handle on the backend's stream");
    if (!rc) rc = upload_weights(b, s, err, errlen);
    if (!rc) rc = alloc_plan(b, s, err, errlen);
    if (!rc) rc = upload_rope(b, s, err, errlen);
    if (rc) {
        cuda_close(b);
        return rc;
    }
    if (s->print_plan) cuda_backend_print_launches(&s->plan, s->device.name, arch, cfg->nseq, stderr);
    b->model = NULL;   /* the weights are the device's now: the caller may free the Model (mixrun does) */
    return 0;
}

int cuda_backend_usable(char *err, size_t errlen) {
    char why[256];
    if (!backend_cuda_available(why, sizeof why))
        return backend_open_error(err, errlen, 2, "no CUDA device available (%s)", why);
    return 0;
}

int cuda_backend_open(const Model *m, const BackendConfig *cfg, Backend *b, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    int rc = cuda_backend_usable(err, errlen);
    if (rc) return rc;
    CudaDevice gpu = {"cuda", RUN_TARGET_CUDA, NULL, NULL, gpu_load_module};
    if (!(gpu.cu = cuda_driver_load(err, errlen)) || !(gpu.bl = cublas_load(err, errlen))) return 2;
    return cuda_backend_open_on(&gpu, m, cfg, b, err, errlen);
}
