/* fake_cuda.c — a stand-in libcuda.so.1 and libcublas.so.13 for tests/cuda (no GPU here).
 *
 * Built twice as shared objects (-DFAKE_DRIVER, -DFAKE_CUBLAS) and found first through
 * LD_LIBRARY_PATH, so the cuda backend's dlopen path runs for real. $FAKE_CUDA selects the machine:
 *   nodevice   cuInit works, no device;
 *   old        one device of compute capability 7.5;
 *   full       one device of compute capability 9.0 whose "device memory" is host memory: copies
 *              and memsets are done; kernels and GEMMs compute nothing but are checked: every
 *              launch is logged to $FAKE_CUDA_LOG ("NAME gx gy gz bx by bz smem"), a dynamic smem
 *              above 48 KiB needs the opt-in attribute first, and every GEMM operand and copy must
 *              lie inside one live allocation. A violation prints "fake_cuda: ..." and makes the call
 *              fail, so the backend reports it.
 *   full + FAKE_CUDA_EMU_SO=kernels.so: the kernels really run, in the CUDA emulator of the host
 *              program (mixrun exports mixc_emu_*; kernels.so is the layout's kernels compiled for
 *              the emulator, planned like the backend's), and with FAKE_CUBLAS_COMPUTE=1 the GEMMs
 *              are computed on the host (fp32 accumulation, bf16/fp32 operands): the whole backend
 *              then computes real logits on the CPU, to compare with the cpu backend.
 *   Copies back (full): each cuMemcpyDtoH is logged ("copy_dtoh BYTES pinned|pageable": into memory of
 *              cuMemAllocHost or not), so a test counts what a step brings to the host.
 *   Streams and graphs (full): cuStreamBeginCapture records what is issued on the stream instead of
 *              running it (kernel launches, with a copy of their parameter buffer, and cuBLAS GEMMs,
 *              with their arguments); cuGraphInstantiate keeps the list and cuGraphLaunch replays it
 *              in order (through the emulator and the host GEMM when those compute). An allocation,
 *              a free or a synchronous (pageable) copy while a stream captures is refused, as a
 *              capture must not hold one. Every instantiation and replay is logged
 *              ("graph_instantiate NODES", "graph_launch NODES"). With FAKE_CUDA_GRAPHS_MAX=N, an
 *              instantiation while N graphs are instantiated fails with CUDA_ERROR_OUT_OF_MEMORY
 *              (logged "graph_instantiate_oom"): a device whose memory is full.
 * Leaks: everything allocated must be freed again (checked by the sanitizer pass through mixrun).
 */
#include <cublas_v2.h>
#include <cuda.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stand-in sm_90's multiprocessors (an H100 SXM's and an H200's): the decode split rule reads it. */
#define FAKE_SM_COUNT 132

static const char *mode(void) {
    const char *m = getenv("FAKE_CUDA");
    return m ? m : "nodevice";
}

/* ------------------------------------------------------------------ allocations (shared) */

/* Whether [p, p + n) lies inside one allocation (of the driver library: each .so has its own
 * list, so cuBLAS asks the driver through fake_cuda_in_bounds). */
int fake_cuda_in_bounds(uintptr_t p, size_t n);
/* Records run(arg) (n bytes, copied) into the capture of stream s: 1 when s captures, 0 when the
 * call must run now (cuBLAS finds it through the driver's handle, as fake_cuda_in_bounds). */
int fake_cuda_record(CUstream s, void (*run)(const void *arg), const void *arg, size_t n);

#ifdef FAKE_DRIVER
#include <dlfcn.h>

/* The emulator of the host program (emu_api.h), when it exports one. */
typedef struct {
    unsigned x, y, z;
} Dim3;
typedef int (*EmuLaunch)(void *entry, const void *params, Dim3 grid, Dim3 block, size_t smem, char *err, size_t errlen);
typedef void *(*EmuOpen)(const char *path, char *err, size_t errlen);
typedef void *(*EmuFind)(void *handle, const char *name);
typedef void (*EmuClose)(void *handle);
static void *emu_kernels;

typedef struct Alloc {
    uintptr_t base;
    size_t size;
    struct Alloc *next;
} Alloc;
static Alloc *allocs;

/* Whether [p, p + n) lies inside one allocation of the list. */
static bool in_list(const Alloc *list, uintptr_t p, size_t n) {
    for (const Alloc *a = list; a; a = a->next)
        if (p >= a->base && p + n <= a->base + a->size && p + n >= p) return true;
    return false;
}
int fake_cuda_in_bounds(uintptr_t p, size_t n) { return in_list(allocs, p, n); }

static CUresult bad(const char *what) {
    fprintf(stderr, "fake_cuda: %s\n", what);
    return CUDA_ERROR_ILLEGAL_ADDRESS;
}

CUresult cuInit(unsigned flags) { (void)flags; return CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return CUDA_SUCCESS; }
CUresult cuDeviceGetCount(int *n) { *n = strcmp(mode(), "nodevice") == 0 ? 0 : 1; return CUDA_SUCCESS; }
CUresult cuDeviceGet(CUdevice *d, int i) {
    if (strcmp(mode(), "nodevice") == 0 || i != 0) return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) { (void)d; snprintf(name, (size_t)len, "fake"); return CUDA_SUCCESS; }
CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d) {
    (void)d;
    bool old = strcmp(mode(), "old") == 0;
    if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR) *v = old ? 7 : 9;
    else if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR) *v = old ? 5 : 0;
    else if (a == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT) *v = FAKE_SM_COUNT;
    /* the H200's HBM as its driver reported it (docs/measurements/h200-2026-11-30): 4814.3 GB/s peak */
    else if (a == CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE) *v = 3134440;
    else if (a == CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH) *v = 6144;
    else *v = 0;
    return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem(size_t *b, CUdevice d) { (void)d; *b = (size_t)1 << 34; return CUDA_SUCCESS; }
static int ctx_refs;
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { (void)d; ctx_refs++; *c = (CUcontext)&ctx_refs; return CUDA_SUCCESS; }
CUresult cuDevicePrimaryCtxRelease(CUdevice d) { (void)d; ctx_refs--; return CUDA_SUCCESS; }
CUresult cuCtxSetCurrent(CUcontext c) { (void)c; return CUDA_SUCCESS; }
static CUresult refuse_in_capture(const char *what);
CUresult cuCtxSynchronize(void) { return refuse_in_capture("cuCtxSynchronize"); }

/* Modules: any image loads; functions are named handles, with their opt-in shared memory. */
typedef struct Func {
    char name[160];
    int max_dynamic_smem;
    void *entry;            /* the emulated kernel, with FAKE_CUDA_EMU_SO */
    struct Func *next;
} Func;
static Func *funcs;
static int modules;
CUresult cuModuleLoadData(CUmodule *m, const void *image) {
    if (!image) return CUDA_ERROR_INVALID_IMAGE;
    const char *so = getenv("FAKE_CUDA_EMU_SO");
    if (so && *so) {
        EmuOpen open = (EmuOpen)dlsym(RTLD_DEFAULT, "mixc_emu_dlopen_kernels");
        char err[512] = "";
        if (!open) return bad("FAKE_CUDA_EMU_SO: this program has no emulator");
        if (!(emu_kernels = open(so, err, sizeof err))) {
            fprintf(stderr, "fake_cuda: %s\n", err);
            return CUDA_ERROR_INVALID_IMAGE;
        }
    }
    modules++;
    *m = (CUmodule)&modules;
    return CUDA_SUCCESS;
}
CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned n, CUjit_option *o, void **v) {
    (void)n, (void)o, (void)v;
    return cuModuleLoadData(m, image);
}
CUresult cuModuleUnload(CUmodule m) {
    (void)m;
    modules--;
    if (emu_kernels) ((EmuClose)dlsym(RTLD_DEFAULT, "mixc_emu_dlclose"))(emu_kernels);
    emu_kernels = NULL;
    while (funcs) {
        Func *f = funcs->next;
        free(funcs);
        funcs = f;
    }
    return CUDA_SUCCESS;
}
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
    (void)m;
    void *entry = NULL;
    if (emu_kernels && !(entry = ((EmuFind)dlsym(RTLD_DEFAULT, "mixc_emu_find_kernel"))(emu_kernels, name)))
        return CUDA_ERROR_NOT_FOUND;
    Func *fn = calloc(1, sizeof *fn);
    fn->entry = entry;
    snprintf(fn->name, sizeof fn->name, "%s", name);
    fn->next = funcs;
    funcs = fn;
    *f = (CUfunction)fn;
    return CUDA_SUCCESS;
}
CUresult cuFuncGetAttribute(int *v, CUfunction_attribute a, CUfunction f) { (void)a, (void)f; *v = 0; return CUDA_SUCCESS; }
CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) {
    if (a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
        if (v > 227 * 1024) return bad("more than 227 KiB of shared memory");
        ((Func *)f)->max_dynamic_smem = v;
    }
    return CUDA_SUCCESS;
}
/* A line "WHAT N" in $FAKE_CUDA_LOG. */
static void log_line(const char *what, int n) {
    FILE *out = getenv("FAKE_CUDA_LOG") ? fopen(getenv("FAKE_CUDA_LOG"), "a") : NULL;
    if (!out) return;
    fprintf(out, "%s %d\n", what, n);
    fclose(out);
}

/* ---- streams and graphs: a capture is a list of nodes, each a call and a copy of its arguments */
typedef struct Node {
    void (*run)(const void *arg);
    struct Node *next;
    size_t n;
    _Alignas(16) unsigned char arg[];
} Node;
typedef struct {
    Node *head, **tail;
    int nodes;
} NodeList;
typedef struct {
    bool capturing;
    NodeList rec;
} Stream;
static int capturing;       /* streams capturing now */
static bool replay_failed;  /* a replayed launch failed */

static void list_init(NodeList *l) { *l = (NodeList){NULL, &l->head, 0}; }
static void list_add(NodeList *l, void (*run)(const void *), const void *arg, size_t n) {
    Node *node = malloc(sizeof *node + n);
    node->run = run, node->next = NULL, node->n = n;
    memcpy(node->arg, arg, n);
    *l->tail = node;
    l->tail = &node->next;
    l->nodes++;
}
static void list_free(NodeList *l) {
    while (l->head) {
        Node *next = l->head->next;
        free(l->head);
        l->head = next;
    }
    list_init(l);
}

int fake_cuda_record(CUstream s, void (*run)(const void *arg), const void *arg, size_t n) {
    Stream *st = (Stream *)s;
    if (!st || !st->capturing) return 0;
    list_add(&st->rec, run, arg, n);
    return 1;
}

static CUresult refuse_in_capture(const char *what) {
    if (!capturing) return CUDA_SUCCESS;
    fprintf(stderr, "fake_cuda: %s during stream capture\n", what);
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

CUresult cuStreamCreate(CUstream *s, unsigned flags) {
    (void)flags;
    Stream *st = calloc(1, sizeof *st);
    list_init(&st->rec);
    *s = (CUstream)st;
    return CUDA_SUCCESS;
}
CUresult cuStreamDestroy(CUstream s) {
    Stream *st = (Stream *)s;
    if (!st) return CUDA_SUCCESS;
    if (st->capturing) capturing--;
    list_free(&st->rec);
    free(st);
    return CUDA_SUCCESS;
}
CUresult cuStreamSynchronize(CUstream s) {
    return s && ((Stream *)s)->capturing ? bad("cuStreamSynchronize of a capturing stream") : CUDA_SUCCESS;
}
CUresult cuStreamBeginCapture(CUstream s, CUstreamCaptureMode mode) {
    (void)mode;
    Stream *st = (Stream *)s;
    if (!st) return bad("capture of the NULL stream");
    if (st->capturing) return bad("cuStreamBeginCapture of a capturing stream");
    st->capturing = true;
    capturing++;
    return CUDA_SUCCESS;
}
CUresult cuStreamEndCapture(CUstream s, CUgraph *g) {
    Stream *st = (Stream *)s;
    if (!st || !st->capturing) return bad("cuStreamEndCapture of a stream not capturing");
    NodeList *graph = malloc(sizeof *graph);
    *graph = st->rec;
    if (!graph->head) graph->tail = &graph->head;
    list_init(&st->rec);
    st->capturing = false;
    capturing--;
    *g = (CUgraph)graph;
    return CUDA_SUCCESS;
}
static int graph_execs;   /* instantiated and not destroyed */
CUresult cuGraphInstantiate(CUgraphExec *e, CUgraph g, unsigned long long flags) {
    (void)flags;
    const char *max = getenv("FAKE_CUDA_GRAPHS_MAX");
    if (max && *max && graph_execs >= atoi(max)) {
        log_line("graph_instantiate_oom", graph_execs);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    graph_execs++;
    NodeList *exec = malloc(sizeof *exec);
    list_init(exec);
    for (Node *n = ((NodeList *)g)->head; n; n = n->next) list_add(exec, n->run, n->arg, n->n);
    log_line("graph_instantiate", exec->nodes);
    *e = (CUgraphExec)exec;
    return CUDA_SUCCESS;
}
CUresult cuGraphLaunch(CUgraphExec e, CUstream s) {
    NodeList *exec = (NodeList *)e;
    if (s && ((Stream *)s)->capturing) return bad("cuGraphLaunch into a capture");
    log_line("graph_launch", exec->nodes);
    replay_failed = false;
    for (Node *n = exec->head; n && !replay_failed; n = n->next) n->run(n->arg);
    return replay_failed ? CUDA_ERROR_LAUNCH_FAILED : CUDA_SUCCESS;
}
static CUresult destroy_list(void *l) {
    list_free(l);
    free(l);
    return CUDA_SUCCESS;
}
CUresult cuGraphExecDestroy(CUgraphExec e) {
    graph_execs--;
    return destroy_list(e);
}
CUresult cuGraphDestroy(CUgraph g) { return destroy_list(g); }

/* ---- launches */
typedef struct {
    Func *fn;
    unsigned grid[3], block[3], smem;
    size_t bytes;           /* of params; 0: the caller's struct at direct (a launch run at once) */
    const void *direct;
    _Alignas(16) unsigned char params[256];
} LaunchNode;

static void run_launch(const void *arg) {
    const LaunchNode *l = arg;
    FILE *out = getenv("FAKE_CUDA_LOG") ? fopen(getenv("FAKE_CUDA_LOG"), "a") : NULL;
    if (out) {
        fprintf(out, "%s %u %u %u %u %u %u %u\n", l->fn->name, l->grid[0], l->grid[1], l->grid[2], l->block[0],
                l->block[1], l->block[2], l->smem);
        fclose(out);
    }
    if (!l->fn->entry) return;
    char err[512] = "";
    EmuLaunch run = (EmuLaunch)dlsym(RTLD_DEFAULT, "mixc_emu_launch_c");
    if (run(l->fn->entry, l->bytes ? (const void *)l->params : l->direct, (Dim3){l->grid[0], l->grid[1], l->grid[2]},
            (Dim3){l->block[0], l->block[1], l->block[2]}, l->smem, err, sizeof err) != 0) {
        fprintf(stderr, "fake_cuda: %s: %s\n", l->fn->name, err);
        replay_failed = true;
    }
}

/* The parameter buffer: extra's CU_LAUNCH_PARAM_BUFFER_POINTER and _SIZE (its size known, so a capture
 * can copy it), else kernelParams[0] (the one struct every mixc kernel takes; size unknown: 0). */
static const void *launch_buffer(void **params, void **extra, size_t *bytes) {
    *bytes = 0;
    if (params) return params[0];
    const void *buf = NULL;
    for (int i = 0; extra && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
        if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER) buf = extra[i + 1];
        else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE) *bytes = *(const size_t *)extra[i + 1];
    }
    return buf;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, CUstream s, void **params, void **extra) {
    Func *fn = (Func *)f;
    if (!gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024) return bad("launch with a bad geometry");
    if (smem > 48 * 1024 && (int)smem > fn->max_dynamic_smem) return bad("dynamic smem above 48 KiB without the opt-in");
    LaunchNode l = {fn, {gx, gy, gz}, {bx, by, bz}, smem, 0, NULL, {0}};
    const void *buf = launch_buffer(params, extra, &l.bytes);
    if (!buf) return bad("launch without parameters");
    if (l.bytes > sizeof l.params) return bad("a parameter buffer above 256 bytes");
    if (s && ((Stream *)s)->capturing && !l.bytes) return bad("a captured launch without its parameter buffer's size");
    memcpy(l.params, buf, l.bytes);
    l.direct = buf;
    if (fake_cuda_record(s, run_launch, &l, sizeof l)) return CUDA_SUCCESS;
    replay_failed = false;
    run_launch(&l);
    return replay_failed ? CUDA_ERROR_LAUNCH_FAILED : CUDA_SUCCESS;
}
/* n bytes (filled with 0xA5: not zero, the backend must not count on zeroed memory) on a list. */
static CUresult alloc_on(Alloc **list, void **p, size_t n) {
    Alloc *a = calloc(1, sizeof *a);
    void *mem = malloc(n ? n : 1);
    if (!a || !mem) {
        free(a);
        free(mem);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    memset(mem, 0xA5, n);
    *a = (Alloc){(uintptr_t)mem, n, *list};
    *list = a;
    *p = mem;
    return CUDA_SUCCESS;
}
static CUresult free_on(Alloc **list, uintptr_t p, const char *unknown) {
    for (Alloc **a = list; *a; a = &(*a)->next)
        if ((*a)->base == p) {
            Alloc *dead = *a;
            *a = dead->next;
            free((void *)dead->base);
            free(dead);
            return CUDA_SUCCESS;
        }
    return bad(unknown);
}
CUresult cuMemAlloc(CUdeviceptr *p, size_t n) {
    if (refuse_in_capture("cuMemAlloc")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    void *mem = NULL;
    CUresult r = alloc_on(&allocs, &mem, n);
    *p = (CUdeviceptr)(uintptr_t)mem;
    return r;
}
CUresult cuMemFree(CUdeviceptr p) {
    if (refuse_in_capture("cuMemFree")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    return free_on(&allocs, (uintptr_t)p, "cuMemFree of an unknown pointer");
}
CUresult cuMemcpyHtoD(CUdeviceptr d, const void *h, size_t n) {
    if (refuse_in_capture("cuMemcpyHtoD (synchronous)")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!fake_cuda_in_bounds((uintptr_t)d, n)) return bad("cuMemcpyHtoD out of bounds");
    memcpy((void *)(uintptr_t)d, h, n);
    return CUDA_SUCCESS;
}
/* Page-locked host memory (cuMemAllocHost): a list of its own, freed by cuMemFreeHost only. */
static Alloc *host_allocs;
CUresult cuMemAllocHost(void **p, size_t n) {
    if (refuse_in_capture("cuMemAllocHost")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    return alloc_on(&host_allocs, p, n);
}
CUresult cuMemFreeHost(void *p) {
    if (refuse_in_capture("cuMemFreeHost")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    return free_on(&host_allocs, (uintptr_t)p, "cuMemFreeHost of a pointer cuMemAllocHost did not give");
}
/* Every copy back is logged: "copy_dtoh BYTES pinned|pageable" (to page-locked memory or not). */
CUresult cuMemcpyDtoH(void *h, CUdeviceptr d, size_t n) {
    if (refuse_in_capture("cuMemcpyDtoH (synchronous)")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!fake_cuda_in_bounds((uintptr_t)d, n)) return bad("cuMemcpyDtoH out of bounds");
    memcpy(h, (void *)(uintptr_t)d, n);
    FILE *out = getenv("FAKE_CUDA_LOG") ? fopen(getenv("FAKE_CUDA_LOG"), "a") : NULL;
    if (out) {
        fprintf(out, "copy_dtoh %zu %s\n", n, in_list(host_allocs, (uintptr_t)h, n) ? "pinned" : "pageable");
        fclose(out);
    }
    return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoD(CUdeviceptr d, CUdeviceptr s, size_t n) {
    if (refuse_in_capture("cuMemcpyDtoD (synchronous)")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!fake_cuda_in_bounds((uintptr_t)d, n) || !fake_cuda_in_bounds((uintptr_t)s, n)) return bad("cuMemcpyDtoD out of bounds");
    memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n);
    return CUDA_SUCCESS;
}
CUresult cuMemsetD8(CUdeviceptr d, unsigned char v, size_t n) {
    if (refuse_in_capture("cuMemsetD8 (synchronous)")) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    if (!fake_cuda_in_bounds((uintptr_t)d, n)) return bad("cuMemsetD8 out of bounds");
    memset((void *)(uintptr_t)d, v, n);
    return CUDA_SUCCESS;
}
/* 16 GiB free and total, or FAKE_CUDA_MEM bytes (a device too small for a plan). */
CUresult cuMemGetInfo(size_t *f, size_t *t) {
    const char *m = getenv("FAKE_CUDA_MEM");
    *f = *t = m && *m ? (size_t)strtoull(m, NULL, 10) : (size_t)1 << 34;
    return CUDA_SUCCESS;
}
CUresult cuEventCreate(CUevent *e, unsigned flags) { (void)flags; *e = NULL; return CUDA_SUCCESS; }
CUresult cuEventRecord(CUevent e, CUstream s) { (void)e, (void)s; return CUDA_SUCCESS; }
CUresult cuEventSynchronize(CUevent e) { (void)e; return CUDA_SUCCESS; }
CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) { (void)a, (void)b; *ms = 0; return CUDA_SUCCESS; }
CUresult cuEventDestroy(CUevent e) { (void)e; return CUDA_SUCCESS; }
CUresult cuGetErrorName(CUresult r, const char **s) {
    *s = r == CUDA_ERROR_ILLEGAL_ADDRESS ? "CUDA_ERROR_ILLEGAL_ADDRESS"
         : r == CUDA_ERROR_OUT_OF_MEMORY ? "CUDA_ERROR_OUT_OF_MEMORY" : "CUDA_ERROR_FAKE";
    return CUDA_SUCCESS;
}
CUresult cuGetErrorString(CUresult r, const char **s) { (void)r; *s = "fake driver"; return CUDA_SUCCESS; }

/* Still held at exit: device memory, modules or the context (a leak of the backend). */
__attribute__((destructor)) static void report_leaks(void) {
    if (strcmp(mode(), "full") != 0) return;
    int n = 0;
    for (Alloc *a = allocs; a; a = a->next) n++;
    for (Alloc *a = host_allocs; a; a = a->next) n++;
    if (n || modules || ctx_refs) fprintf(stderr, "fake_cuda: at exit %d allocations, %d modules, %d contexts held\n", n, modules, ctx_refs);
}
#endif

#ifdef FAKE_CUBLAS
#include <dlfcn.h>

/* A function of the driver (both fakes are loaded RTLD_LOCAL: found through the driver's handle). */
static void *driver_fn(const char *name) {
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD), *f = h ? dlsym(h, name) : NULL;
    if (h) dlclose(h);
    return f;
}
static int in_bounds(uintptr_t p, size_t n) {
    static int (*check)(uintptr_t, size_t);
    if (!check) check = (int (*)(uintptr_t, size_t))driver_fn("fake_cuda_in_bounds");
    return check ? check(p, n) : 0;
}
static CUstream blas_stream;   /* cublasSetStream's: a capture records the GEMMs issued on it */

static int handles;
cublasStatus_t cublasCreate(cublasHandle_t *h) { handles++; *h = (cublasHandle_t)&handles; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy(cublasHandle_t h) { (void)h; handles--; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { (void)h; blas_stream = (CUstream)s; return CUBLAS_STATUS_SUCCESS; }
/* The workspace must lie inside one live allocation; logged as "cublas_workspace BYTES". */
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *w, size_t n) {
    (void)h;
    if (!w || !n || !in_bounds((uintptr_t)w, n)) {
        fprintf(stderr, "fake_cuda: cublasSetWorkspace of %zu bytes: not inside a live allocation\n", n);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const char *log = getenv("FAKE_CUDA_LOG");
    FILE *out = log ? fopen(log, "a") : NULL;
    if (out) fprintf(out, "cublas_workspace %zu\n", n), fclose(out);
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { (void)h, (void)m; return CUBLAS_STATUS_SUCCESS; }

/* bf16 <-> fp32 (round to nearest even; the values here are finite). */
static float load(const void *p, cudaDataType t, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static void store(void *p, cudaDataType t, size_t i, float v) {
    if (t == CUDA_R_32F) {
        ((float *)p)[i] = v;
        return;
    }
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    ((uint16_t *)p)[i] = (uint16_t)(u >> 16);
}

static size_t elem(cudaDataType t) {
    return t == CUDA_R_32F ? 4 : t == CUDA_R_16BF || t == CUDA_R_16F ? 2 : 0;
}
/* A column-major operand of `cols` columns of `rows` used rows, leading dimension ld. */
static int operand_ok(const void *p, cudaDataType t, int rows, int cols, int ld) {
    if (!p || !elem(t) || ld < rows || rows < 1 || cols < 1) return 0;
    return in_bounds((uintptr_t)p, ((size_t)ld * (size_t)(cols - 1) + (size_t)rows) * elem(t));
}

/* One GEMM's arguments (alpha and beta by value: a replay runs after the caller's are gone). */
typedef struct {
    cublasOperation_t ta, tb;
    int m, n, k;
    float alpha;
    const void *A;
    cudaDataType at;
    int lda;
    const void *B;
    cudaDataType bt;
    int ldb;
    float beta;
    void *C;
    cudaDataType ct;
    int ldc;
} Gemm;

/* Logs it, and computes it with FAKE_CUBLAS_COMPUTE=1 (fp32 accumulation). */
static void gemm_run(const void *arg) {
    const Gemm *g = arg;
    const char *log = getenv("FAKE_CUDA_LOG");
    FILE *out = log ? fopen(log, "a") : NULL;
    if (out) {
        fprintf(out, "gemm %d %d %d\n", g->m, g->n, g->k);
        fclose(out);
    }
    const char *compute = getenv("FAKE_CUBLAS_COMPUTE");
    if (!compute || strcmp(compute, "1") != 0) return;
    for (int j = 0; j < g->n; j++)
        for (int i = 0; i < g->m; i++) {
            float s[8] = {0};   /* the emulator's order (runtime/emu/emu_device.c, dot): bit for bit */
            for (int l = 0; l < g->k; l++) {
                float a = load(g->A, g->at, g->ta == CUBLAS_OP_N ? (size_t)i + (size_t)l * g->lda : (size_t)l + (size_t)i * g->lda);
                float b = load(g->B, g->bt, g->tb == CUBLAS_OP_N ? (size_t)l + (size_t)j * g->ldb : (size_t)j + (size_t)l * g->ldb);
                s[l % 8] += a * b;
            }
            float acc = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
            size_t c = (size_t)i + (size_t)j * g->ldc;
            store(g->C, g->ct, c, g->alpha * acc + (g->beta != 0.0f ? g->beta * load(g->C, g->ct, c) : 0.0f));
        }
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                            int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t ctype,
                            cublasGemmAlgo_t algo) {
    (void)h, (void)alpha, (void)beta, (void)algo;
    int ok = ctype == CUBLAS_COMPUTE_32F && at == bt &&
             operand_ok(A, at, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda) &&
             operand_ok(B, bt, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb) &&
             operand_ok(C, ct, m, n, ldc);
    if (!ok) {
        fprintf(stderr, "fake_cuda: cublasGemmEx m %d n %d k %d lda %d ldb %d ldc %d: an operand is out of bounds\n",
                m, n, k, lda, ldb, ldc);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    Gemm g = {ta, tb, m, n, k, *(const float *)alpha, A, at, lda, B, bt, ldb, *(const float *)beta, C, ct, ldc};
    if (getenv("FAKE_CUBLAS_COMPUTE") && strcmp(getenv("FAKE_CUBLAS_COMPUTE"), "1") == 0 &&
        (at == CUDA_R_16F || ct == CUDA_R_16F))
        return CUBLAS_STATUS_NOT_SUPPORTED;   /* bf16 and fp32 only */
    static int (*record)(CUstream, void (*)(const void *), const void *, size_t);
    if (!record) record = (int (*)(CUstream, void (*)(const void *), const void *, size_t))driver_fn("fake_cuda_record");
    if (!record || !record(blas_stream, gemm_run, &g, sizeof g)) gemm_run(&g);
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType at, int lda,
                                          long long sa, const void *B, cudaDataType bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType ct, int ldc, long long sc, int count,
                                          cublasComputeType_t ctype, cublasGemmAlgo_t algo) {
    (void)h, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)A, (void)at, (void)lda, (void)sa;
    (void)B, (void)bt, (void)ldb, (void)sb, (void)beta, (void)C, (void)ct, (void)ldc, (void)sc, (void)count;
    (void)ctype, (void)algo;
    return CUBLAS_STATUS_NOT_SUPPORTED;   /* the backend does not use it */
}
const char *cublasGetStatusName(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_FAKE"; }
const char *cublasGetStatusString(cublasStatus_t s) { (void)s; return "fake cuBLAS"; }

__attribute__((destructor)) static void report_handles(void) {
    if (handles) fprintf(stderr, "fake_cuda: at exit %d cuBLAS handles held\n", handles);
}
#endif
