/* plan_check.c — checks the cuda backend's launch plan against `mixc emit`'s manifest, without a GPU.
 *
 *   plan_check LAYOUT.mix MANIFEST.json [--set k=v ...] [--context L] [--batch B] [--print]
 *              [--compile ARCH] [--asserts OUT.cu] [--emu-so OUT.so [--page-tokens P]]
 *
 * The backend launches the kernel ops of the run plan's schedules (cuda_backend_launch_plan), each
 * with codegen's kernel_launch; the manifest writes the geometry as formulas ("tokens", "batch",
 * "ceil(max_chunk_tokens/64)", ...). For a prefill chunk of the full chunk size, a prefill of
 * 1 and 37 tokens, and a decode of B sequences, each launch must name the kernel the manifest gives
 * its layer (or the model), with the block, smem and the formulas evaluated for that call. Every
 * manifest kernel must be launched somewhere.
 * --compile ARCH: also compiles the backend's source (with its static_asserts of the parameter
 * structs) for ARCH with NVRTC and checks that the cubin holds every kernel.
 * --emu-so OUT.so: compiles the layout's kernels (planned for the model's context and chunk) for the
 * CPU emulator into OUT.so, for the stand-in driver; MANIFEST "-" then skips everything else.
 * --page-tokens P: those kernels for paged caches of P rows a page (docs/plan.md, "Paged caches").
 * --asserts OUT.cu: writes the source with static_asserts of the backend's C mirrors of the parameter
 * structs appended, for tests/cuda/run.sh to compile as host C++ (NVRTC has no constant offsetof).
 * Exit 0 when everything agrees, 1 on a disagreement (printed), 2 on usage or input errors.
 */
#include "cuda_backend.h"
#include "emu_backend.h"
#define MIXC_DPTR(T) T *   /* only for kernel_params_asserts */
#include "kernel_params.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double tokens, batch, ffn, hidden, q_width, kv_width, qkv_width, heads, kv_heads;
    double experts, experts_per_token, shared_expert_ffn, dense_ffn;
} Vars;

typedef struct {
    const char *p;
    const Vars *v;
    bool ok;
} Expr;

static double expr_sum(Expr *e);

static void skip_space(Expr *e) {
    while (isspace((unsigned char)*e->p)) e->p++;
}

static double expr_atom(Expr *e) {
    skip_space(e);
    if (isdigit((unsigned char)*e->p)) return strtod(e->p, (char **)&e->p);
    const char *s = e->p;
    while (isalnum((unsigned char)*e->p) || *e->p == '_') e->p++;
    size_t n = (size_t)(e->p - s);
#define IS(w) (n == strlen(w) && strncmp(s, w, n) == 0)
    if (IS("ceil") && *e->p == '(') {
        e->p++;
        double x = ceil(expr_sum(e));
        if (*e->p != ')') e->ok = false;
        else e->p++;
        return x;
    }
    if (IS("tokens") || IS("max_chunk_tokens")) return e->v->tokens;
    if (IS("batch")) return e->v->batch;
    if (IS("ffn")) return e->v->ffn;
    if (IS("hidden")) return e->v->hidden;
    if (IS("q_width")) return e->v->q_width;
    if (IS("kv_width")) return e->v->kv_width;
    if (IS("qkv_width")) return e->v->qkv_width;
    if (IS("heads")) return e->v->heads;
    if (IS("kv_heads")) return e->v->kv_heads;
    if (IS("experts")) return e->v->experts;
    if (IS("experts_per_token")) return e->v->experts_per_token;
    if (IS("shared_expert_ffn")) return e->v->shared_expert_ffn;
    if (IS("dense_ffn")) return e->v->dense_ffn;   /* moe_step's dense layers */
#undef IS
    e->ok = false;
    return 0;
}

static double expr_sum(Expr *e) {   /* products and quotients only: all the manifest writes */
    double x = expr_atom(e);
    for (skip_space(e); *e->p == '*' || *e->p == '/'; skip_space(e)) {
        char op = *e->p++;
        double y = expr_atom(e);
        x = op == '*' ? x * y : x / y;
    }
    return x;
}

/* A grid entry: an integer or a formula. -1 when it cannot be evaluated. */
static long long grid_value(json_t *g, const Vars *v) {
    if (json_is_integer(g)) return json_integer_value(g);
    if (!json_is_string(g)) return -1;
    Expr e = {json_string_value(g), v, true};
    double x = expr_sum(&e);
    skip_space(&e);
    return e.ok && *e.p == '\0' && x == floor(x) ? (long long)x : -1;
}

static json_t *find_kernel(json_t *man, const char *name) {
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(man, "kernels"), i, k) {
        if (strcmp(json_string_value(json_object_get(k, "name")), name) == 0) return k;
    }
    return NULL;
}

/* The kernel name the manifest gives a launch: its layer's entry for the role, or the model's. */
static const char *manifest_name(json_t *man, const Codegen *cg, const CudaLaunch *c) {
    const char *role = cuda_launch_role_name(c->role);
    json_t *model = json_object_get(man, "model_kernels");
    json_t *layer = c->layer >= 0 ? json_array_get(json_object_get(man, "layers"), (size_t)c->layer) : NULL;
    const LayerKernels *lk = c->layer >= 0 ? &cg->layer[c->layer] : NULL;
    if (c->role == CL_BIAS_ADD && c->kernel == cg->bias_o) return json_string_value(json_object_get(model, "bias_add_o"));
    if (c->role == CL_BIAS_ADD && lk)   /* a reader's q's or an owner's fused q/k/v's: the layer's (of its shape) */
        return json_string_value(json_object_get(layer, c->kernel == lk->bias_q ? "bias_add_q" : "bias_add_qkv"));
    if (c->role == CL_RMSNORM && lk && (c->kernel == lk->head_norm_q || c->kernel == lk->head_norm_k))
        return json_string_value(json_object_get(layer, c->kernel == lk->head_norm_q ? "head_norm_q" : "head_norm_k"));
    if (c->role == CL_SILU_MUL && (c->kernel == cg->expert_act || c->kernel == cg->shared_act))
        return json_string_value(json_object_get(model, c->kernel == cg->expert_act ? "expert_act" : "shared_act"));
    if (c->role == CL_MOE_GEMM)
        return json_string_value(json_object_get(model, c->kernel == cg->moe_down ? "moe_down" : "moe_gate_up"));
    if (c->layer < 0 || c->role == CL_RMSNORM || c->role == CL_ADD_RMSNORM || c->role == CL_SILU_MUL || c->role == CL_RESIDUAL_ADD ||
        c->role == CL_ROUTER_BIAS_ADD || c->role == CL_MOE_ROUTE || c->role == CL_MOE_COMBINE)
        return json_string_value(json_object_get(model, role));
    return json_string_value(json_object_get(layer, role));
}

static int check_launch(json_t *man, const Codegen *cg, const CudaLaunch *c, const Vars *v, const char *what) {
    const char *name = cg->kernel[c->kernel].name, *want = manifest_name(man, cg, c);
    char where[160];
    snprintf(where, sizeof where, "%s: layer %d %s", what, c->layer, cuda_launch_role_name(c->role));
    if (!want || strcmp(want, name) != 0) {
        printf("%s: launches %s, the manifest says %s\n", where, name, want ? want : "(nothing)");
        return 1;
    }
    json_t *k = find_kernel(man, name);
    if (!k) {
        printf("%s: %s is not among the manifest's kernels\n", where, name);
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        long long g = grid_value(json_array_get(json_object_get(k, "grid"), (size_t)i), v);
        long long b = json_integer_value(json_array_get(json_object_get(k, "block"), (size_t)i));
        if (g != (long long)c->grid[i] || b != (long long)c->block[i]) {
            printf("%s %s: grid[%d] %u block[%d] %u, the manifest gives %lld and %lld\n", where, name, i, c->grid[i],
                   i, c->block[i], g, b);
            bad = 1;
        }
    }
    long long smem = json_integer_value(json_object_get(k, "dynamic_smem"));
    if (smem != (long long)c->smem) {
        printf("%s %s: smem %u, the manifest gives %lld\n", where, name, c->smem, smem);
        bad = 1;
    }
    return bad;
}

/* Kernel k is a split-KV reduce that the launches checked here cannot list: every layer using it
 * plans one split at this context and batch (the decode kernel's `splits`; a reduce is listed only
 * after a split launch), so it runs only when a launch chooses more splits (fewer rows than planned:
 * plan_decode_launch_splits) or never (too few keys to split: plan_decode_max_launch_splits, and
 * the plan lists no reduce for them, docs/kernels.md), though codegen compiled one for their shape.
 * gemma4-style's window layers (head_dim 256, window 512) are such, their global layers being 512. */
static bool reduce_unlisted(const Layout *l, const Codegen *cg, int k) {
    bool used_by_a_layer = false;
    for (int i = 0; i < l->nlayers; i++) {
        if (cg->layer[i].decode_reduce != k) continue;
        used_by_a_layer = true;
        if (cg->kernel[cg->layer[i].decode].splits > 1) return false;
    }
    return used_by_a_layer;
}

/* Compiles the backend's source for arch; every kernel must be in the cubin. */
static int check_compile(const Layout *l, const Codegen *cg, const char *arch) {
    JitResult r;
    char err[512];
    int bad = 0;
    if (cuda_backend_compile(l, cg, arch, &r, err, sizeof err) != 0) {
        printf("compile for %s: %s\n", arch, err);
        bad = 1;
    } else {
        for (int k = 0; k < cg->nkernels; k++)
            if (!memmem(r.image, r.image_len, cg->kernel[k].name, strlen(cg->kernel[k].name) + 1)) {
                printf("compile for %s: the cubin lacks %s\n", arch, cg->kernel[k].name);
                bad = 1;
            }
        if (!bad) printf("compiled for %s: %zu bytes, %d kernels (%s)\n", arch, r.image_len, cg->nkernels,
                         r.cache_hit ? "cache hit" : "compiled");
    }
    jit_result_free(&r);
    return bad;
}

static int usage(void) {
    fprintf(stderr, "usage: plan_check LAYOUT.mix MANIFEST.json [--set k=v ...] [--context L] [--batch B] [--print] "
                    "[--compile ARCH] [--asserts OUT.cu] [--emu-so OUT.so [--page-tokens P]]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    const char *sets[64], *compile_arch = NULL, *asserts_out = NULL, *emu_so = NULL;
    int nsets = 0, batch = 3;
    long long context = 0, page_tokens = 0;
    bool print = false;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && nsets < 64) sets[nsets++] = argv[++i];
        else if (strcmp(argv[i], "--context") == 0 && i + 1 < argc) context = atoll(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--compile") == 0 && i + 1 < argc) compile_arch = argv[++i];
        else if (strcmp(argv[i], "--print") == 0) print = true;
        else if (strcmp(argv[i], "--asserts") == 0 && i + 1 < argc) asserts_out = argv[++i];
        else if (strcmp(argv[i], "--emu-so") == 0 && i + 1 < argc) emu_so = argv[++i];
        else if (strcmp(argv[i], "--page-tokens") == 0 && i + 1 < argc) page_tokens = atoll(argv[++i]);
        else return usage();
    }
    char err[512] = "";
    Layout l;
    LoadOptions load = {.prog = "plan_check", .sets = sets, .nsets = nsets};
    int rc = load_layout_file(argv[1], &load, &l, stderr);
    if (rc) {
        fprintf(stderr, "plan_check: %s: cannot load the layout\n", argv[1]);
        return 2;
    }
    if (emu_so) {   /* the layout's kernels for the emulator (the stand-in driver runs them) */
        rc = emu_backend_compile_so(&l, page_tokens, emu_so, NULL, err, sizeof err) ? 0 : 1;
        if (rc) fprintf(stderr, "plan_check: %s\n", err);
        if (rc || strcmp(argv[2], "-") == 0) {
            layout_free(&l);
            return rc;
        }
    }
    json_error_t je;
    json_t *man = json_load_file(argv[2], 0, &je);
    if (!man) {
        fprintf(stderr, "plan_check: %s: %s\n", argv[2], je.text);
        layout_free(&l);
        return 2;
    }
    const char *arch = json_string_value(json_object_get(man, "arch"));
    RunOptions o;   /* the cuda backend's plan for a run of `batch` sequences at this context */
    run_options_init(&l, RUN_TARGET_CUDA, &o);
    o.context = context ? context : l.model.context;
    o.batch = batch;
    o.arch = arch ? arch : "sm_90";
    RunPlan plan;
    if (!plan_run(&l, &o, &plan, err, sizeof err)) {
        fprintf(stderr, "plan_check: %s\n", err);
        json_decref(man);
        layout_free(&l);
        return 2;
    }
    const Codegen *cgp = &plan.cg;
#define cg (*cgp)
    int bad = 0, launches = 0;
    bool *used = xcalloc((size_t)cg.nkernels + 1, 1);
    struct { bool decode; int64_t tokens; int batch; const char *what; } calls[] = {
        {false, cg.chunk, 1, "prefill chunk"}, {false, 1, 1, "prefill of 1"},
        {false, cg.chunk > 37 ? 37 : cg.chunk, 1, "prefill of 37"}, {true, batch, batch, "decode"}};
    for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
        CudaLaunch *p = NULL;
        int n = cuda_backend_launch_plan(&plan, calls[c].decode, calls[c].tokens, &p);
        Vars v = {(double)calls[c].tokens, (double)calls[c].batch, (double)l.model.ffn, (double)l.model.hidden,
                  (double)(l.model.heads * l.model.head_dim), (double)(l.model.kv_heads * l.model.head_dim),
                  (double)((l.model.heads + 2 * l.model.kv_heads) * l.model.head_dim), (double)l.model.heads, (double)l.model.kv_heads, (double)l.model.experts,
                  (double)l.model.experts_per_token, (double)l.model.shared_expert_ffn, (double)l.model.dense_ffn};
        if (print) {
            printf("# %s (%lld tokens, batch %d)\n", calls[c].what, (long long)calls[c].tokens, calls[c].batch);
            cuda_backend_print_plan(&cg, p, n, stdout);
        }
        for (int i = 0; i < n; i++) {
            bad |= check_launch(man, &cg, &p[i], &v, calls[c].what);
            used[p[i].kernel] = true;
        }
        launches += n;
        free(p);
    }
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(man, "kernels"), i, k) {
        const char *name = json_string_value(json_object_get(k, "name"));
        int found = -1;
        for (int j = 0; j < cg.nkernels; j++)
            if (strcmp(cg.kernel[j].name, name) == 0) found = j;
        if (found < 0) printf("the manifest's %s is not among the backend's kernels\n", name), bad = 1;
        else if (!used[found] && !reduce_unlisted(&l, &cg, found))
            printf("the manifest's %s is never launched\n", name), bad = 1;
    }
    if (json_array_size(json_object_get(man, "kernels")) != (size_t)cg.nkernels)
        printf("the manifest has %zu kernels, the backend %d\n", json_array_size(json_object_get(man, "kernels")),
               cg.nkernels), bad = 1;
    if (compile_arch) bad |= check_compile(&l, &cg, compile_arch);
    if (asserts_out) {   /* the source plus the mirrors' checks, for a host C++ compile */
        Buf src = {0};
        cuda_backend_source(&l, &cg, &src);
        kernel_params_asserts(&src);
        if (!write_file_atomic(asserts_out, src.data, src.len)) printf("cannot write '%s'\n", asserts_out), bad = 1;
        buf_free(&src);
    }
    if (!bad) printf("%d launches agree with the manifest (%d kernels)\n", launches, cg.nkernels);
    free(used);
#undef cg
    run_plan_free(&plan);
    json_decref(man);
    layout_free(&l);
    return bad;
}
