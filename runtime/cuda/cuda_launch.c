/* cuda_launch.c — the cuda backend's kernels and launches, usable without a GPU (cuda_backend.h): the
 * source it compiles, each launch's geometry as codegen's kernel_launch computes it, and a batched
 * prefill's int inputs. */
#include "cuda_backend.h"

#include "mixc_params.h"   /* mixc_prefill_args: a batched prefill's table */

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ source and compile */

CodegenOptions cuda_backend_codegen_options(const Layout *l, int64_t context, bool prebuilt, const char *arch) {
    CodegenOptions o = {arch, 0, 0, 0};
    if (!prebuilt) {
        o.context = context;
        o.chunk = l->model.chunk < context ? l->model.chunk : context;
    }
    return o;
}

void cuda_backend_source(const Layout *l, const Codegen *cg, Buf *out) {
    codegen_source(l, cg, out);
}

int cuda_backend_compile(const Layout *l, const Codegen *cg, const char *arch, JitResult *r, char *err,
                         size_t errlen) {
    Buf src = {0};
    cuda_backend_source(l, cg, &src);
    JitOptions jo = {0};
    jo.arch = arch;
    jo.output = JIT_CUBIN;
    jo.name = "kernels.cu";
    int rc = jit_compile(src.data, src.len, &jo, r, err, errlen);
    buf_free(&src);
    return rc;
}

/* ------------------------------------------------------------------ launches */

static CudaLaunchRole role_of(KernelKind k) {
    switch (k) {
    case KV_ATTN_PREFILL: return CL_PREFILL;
    case KV_ATTN_DECODE: return CL_DECODE;
    case KV_ATTN_DECODE_REDUCE: return CL_DECODE_REDUCE;
    case KV_ROPE_Q:
    case KV_ROPE_APPEND: return CL_ROPE;
    case KV_RMSNORM: return CL_RMSNORM;
    case KV_SILU_MUL: return CL_SILU_MUL;
    case KV_RESIDUAL_ADD: return CL_RESIDUAL_ADD;
    case KV_BIAS_ADD: return CL_BIAS_ADD;
    case KV_ROUTER_BIAS_ADD: return CL_ROUTER_BIAS_ADD;
    case KV_MOE_ROUTE: return CL_MOE_ROUTE;
    case KV_MOE_GEMM: return CL_MOE_GEMM;
    case KV_MOE_COMBINE: return CL_MOE_COMBINE;
    case KV_ARGMAX: return CL_ARGMAX;
    case KV_ADD_RMSNORM: return CL_ADD_RMSNORM;
    default: return CL_EMBED;
    }
}

CudaLaunch cuda_launch_of(const Codegen *cg, int k, int64_t tokens, int batch) {
    KernelLaunch g = kernel_launch(&cg->kernel[k], tokens, batch);
    CudaLaunch c = {-1, role_of(cg->kernel[k].kind), k, {0}, {0}, g.smem};
    memcpy(c.grid, g.grid, sizeof c.grid);
    memcpy(c.block, g.block, sizeof c.block);
    return c;
}


int cuda_backend_launch_plan(const RunPlan *p, bool decode, int64_t tokens, CudaLaunch **out) {
    const ActPlan *a = run_plan_step(p, decode);
    int batch = decode ? (int)p->opt.batch : 1, n = 0;
    CudaLaunch *c = xcalloc((size_t)a->nops + 1, sizeof *c);
    for (int i = 0; i < a->nops; i++) {
        const PlanOp *op = &a->op[i];
        if (op->kernel < 0 || cuda_final_norm(op) || (!decode && op->kind == OP_ARGMAX)) continue;
        /* a reduce that runs only after a split launch: after its layer's decode, listed just before */
        if (op->when_split && (n == 0 || c[n - 1].role != CL_DECODE || c[n - 1].grid[1] == 1)) continue;
        c[n] = cuda_launch_of(&p->cg, op->kernel, tokens, batch);
        c[n++].layer = op->layer;
    }
    *out = c;
    return n;
}

int cuda_prefill_ints(const int64_t *seq_len, const PrefillPart *parts, int n, int64_t rows, int64_t max_parts,
                      int32_t *row_ints, int *args) {
    int *len = xcalloc((size_t)n * 3, sizeof *len), *pos0 = len + n, *slot = pos0 + n;
    for (int i = 0, r = 0; i < n; i++) {
        len[i] = (int)parts[i].n, pos0[i] = (int)seq_len[parts[i].slot], slot[i] = parts[i].slot;
        for (int64_t j = 0; j < parts[i].n; j++, r++) {
            row_ints[r] = parts[i].tokens[j];
            row_ints[rows + r] = (int32_t)(pos0[i] + j);
            row_ints[2 * rows + r] = slot[i];
        }
    }
    int ntiles = mixc_prefill_args(args, (int)max_parts, n, len, pos0, slot);
    free(len);
    return ntiles;
}

const char *cuda_launch_role_name(CudaLaunchRole r) {
    static const char *names[] = {"embed",  "rmsnorm",  "rope",        "prefill",
                                  "decode", "decode_reduce", "silu_mul", "residual_add", "bias_add",
                                  "router_bias_add", "moe_route", "moe_gemm", "moe_combine", "argmax", "add_rmsnorm"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

void cuda_backend_print_plan(const Codegen *cg, const CudaLaunch *p, int n, FILE *out) {
    for (int i = 0; i < n; i++)
        fprintf(out, "%d %s %s grid %u %u %u block %u %u %u smem %u\n", p[i].layer, cuda_launch_role_name(p[i].role),
                cg->kernel[p[i].kernel].name, p[i].grid[0], p[i].grid[1], p[i].grid[2], p[i].block[0],
                p[i].block[1], p[i].block[2], p[i].smem);
}

/* MIXC_CUDA_PLAN=1: every launch of a full prefill chunk and of a decode step. */
void cuda_backend_print_launches(const RunPlan *plan, const char *device, const char *arch, int nseq, FILE *out) {
    CudaLaunch *p = NULL;
    int n = cuda_backend_launch_plan(plan, false, plan->cg.chunk, &p);
    fprintf(out, "%s: %s: %s, prefill chunk of %lld tokens:\n", prog_name(), device, arch, (long long)plan->cg.chunk);
    cuda_backend_print_plan(&plan->cg, p, n, out);
    free(p);
    n = cuda_backend_launch_plan(plan, true, nseq, &p);
    fprintf(out, "%s: %s: decode of %d sequences:\n", prog_name(), device, nseq);
    cuda_backend_print_plan(&plan->cg, p, n, out);
    free(p);
}

bool backend_cuda_available(char *why, size_t whylen) {
    const CudaDriver *cu = cuda_driver_load(why, whylen);
    if (!cu) return false;
    int count = 0;
    CUresult r = cu->cuDeviceGetCount(&count);
    if (r != CUDA_SUCCESS || count < 1) {
        snprintf(why, whylen, "the CUDA driver sees no device");
        return false;
    }
    return true;
}
