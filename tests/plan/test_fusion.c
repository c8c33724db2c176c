/* test_fusion.c — fused projections on the kernels' plan (docs/plan.md, "Fused projections"): the
 * schedule's ops and tensors, the weight slots, what a reader of another layer's cache and a mixture
 * of experts keep, and the loader's concatenation (model_fill_plan_weight) checked value by value;
 * the residual adds fused with the norms after them (add_rmsnorm).
 * Prints PASS/FAIL. */
#include "model.h"
#include "plan_test.h"

#include <stdlib.h>

/* Ops of `kind` in layer `layer` (-2: any) naming weight w (WT_COUNT: any). */
static int count_ops(const ActPlan *a, OpKind kind, int layer, WeightRef w) {
    int n = 0;
    for (int i = 0; i < a->nops; i++)
        n += a->op[i].kind == kind && (layer == -2 || a->op[i].layer == layer) && (w == WT_COUNT || a->op[i].weight == w);
    return n;
}

/* Layer i's first op of `kind`; NULL when none. */
static const PlanOp *find_op(const ActPlan *a, OpKind kind, int i) {
    for (int k = 0; k < a->nops; k++)
        if (a->op[k].kind == kind && a->op[k].layer == i) return &a->op[k];
    return NULL;
}

/* Layers 0 and 1 own caches, layer 2 reads layer 0's (Q only); qkv_bias and qk_norm on. */
static void fusion_layout(Layout *l) {
    const int64_t w[3] = {0, 64, 0};
    const int r[3] = {0, 1, 0};
    make_layout(l, 3, w, r);
    l->model.head_dim = 64, l->model.qkv_bias = true, l->model.qk_norm = true;
}

static bool plan_target(const Layout *l, RunTarget t, RunPlan *p) {
    RunOptions o;
    run_options_init(l, t, &o);
    o.context = 512;
    char err[256];
    if (plan_run(l, &o, p, err, sizeof err)) return true;
    printf("  plan_run: %s\n", err);
    return false;
}

static const char *name_of(const ActPlan *a, int t) { return a->tensor[t].name; }

/* One layer's fused ops in a step of the cuda plan. */
static bool check_fused_layer(const ActPlan *f, int i, bool owner) {
    bool ok = true;
    CHECK(count_ops(f, OP_GEMM, i, WT_QKV) == owner && count_ops(f, OP_GEMM, i, WT_Q) == !owner);
    CHECK(count_ops(f, OP_GEMM, i, WT_K) == 0 && count_ops(f, OP_GEMM, i, WT_V) == 0);
    CHECK(count_ops(f, OP_GEMM, i, WT_GATE_UP) == 1 && count_ops(f, OP_GEMM, i, WT_GATE) == 0 &&
          count_ops(f, OP_GEMM, i, WT_UP) == 0);
    CHECK(count_ops(f, OP_BIAS_ADD, i, owner ? WT_QKV_BIAS : WT_Q_BIAS) == 1 &&
          count_ops(f, OP_BIAS_ADD, i, WT_K_BIAS) + count_ops(f, OP_BIAS_ADD, i, WT_V_BIAS) == 0);
    const PlanOp *rope = find_op(f, owner ? OP_ROPE_APPEND : OP_ROPE_Q, i), *norm = find_op(f, OP_HEAD_NORM, i);
    const PlanOp *act = find_op(f, OP_SILU_MUL, i);
    CHECK(rope && !strcmp(name_of(f, rope->in[0]), owner ? "qkv" : "q") && !strcmp(name_of(f, rope->out[0]), "q"));
    CHECK(rope && rope->weight == (owner ? WT_QKV : WT_NONE) && rope->nout == 1);
    CHECK(norm && !strcmp(name_of(f, norm->in[0]), owner ? "qkv" : "q") && count_ops(f, OP_HEAD_NORM, i, WT_COUNT) == 1 + owner);
    CHECK(act && act->nin == 1 && !strcmp(name_of(f, act->in[0]), "gate_up"));
    return ok;
}

/* The weight slots: an owner's wqkv ([q + 2 kv rows][hidden]) and bqkv, a reader's wq and bq, every
 * dense MLP's w_gate_up; no wk, wv, bk, bv, w_gate or w_up; the values held the cpu plan's. */
static bool check_fused_slots(const RunPlan *cuda, const RunPlan *cpu) {
    bool ok = true;
    int64_t fused = 0, plain = 0, qkv = 0, gate_up = 0;
    for (int i = 0; i < cuda->nweights; i++) {
        const WeightSlot *w = &cuda->weight[i];
        fused += w->rows * w->cols;
        CHECK(w->ref != WT_K && w->ref != WT_V && w->ref != WT_K_BIAS && w->ref != WT_V_BIAS && w->ref != WT_GATE &&
              w->ref != WT_UP);
        if (w->ref == WT_Q || w->ref == WT_Q_BIAS) CHECK(w->layer == 2);
        qkv += w->ref == WT_QKV;
        gate_up += w->ref == WT_GATE_UP;
        if (w->ref == WT_QKV) CHECK(w->layer != 2 && w->rows == (8 + 2 * 2) * 64 && w->cols == 256);
        if (w->ref == WT_QKV_BIAS) CHECK(w->layer != 2 && w->rows == (8 + 2 * 2) * 64 && w->cols == 1);
        if (w->ref == WT_GATE_UP) CHECK(w->rows == 2 * 512 && w->cols == 256);
    }
    for (int i = 0; i < cpu->nweights; i++) plain += cpu->weight[i].rows * cpu->weight[i].cols;
    CHECK(qkv == 2 && gate_up == 3 && fused == plain);
    return ok;
}

static void test_fused_schedule(void) {
    bool ok = true;
    Layout l;
    fusion_layout(&l);
    RunPlan cuda, cpu;
    CHECK(plan_target(&l, RUN_TARGET_CUDA, &cuda) && plan_target(&l, RUN_TARGET_CPU, &cpu));
    for (int k = 0; k < 2 && ok; k++) {
        const ActPlan *f = run_plan_step(&cuda, k == 1), *u = run_plan_step(&cpu, k == 1);
        for (int i = 0; i < 3; i++) {
            CHECK(check_fused_layer(f, i, i != 2));
            CHECK(count_ops(u, OP_GEMM, i, WT_QKV) == 0 && count_ops(u, OP_GEMM, i, WT_K) == (i != 2) &&
                  count_ops(u, OP_GEMM, i, WT_GATE) == 1);   /* the cpu reference keeps them apart */
        }
        /* per step: 2 GEMMs fewer per owner, 1 per dense MLP; 2 bias adds fewer per owner */
        CHECK(count_ops(u, OP_GEMM, -2, WT_COUNT) - count_ops(f, OP_GEMM, -2, WT_COUNT) == 2 * 2 + 3);
        CHECK(count_ops(u, OP_BIAS_ADD, -2, WT_COUNT) - count_ops(f, OP_BIAS_ADD, -2, WT_COUNT) == 2 * 2);
        CHECK(f->op[f->nops - 1].kind == OP_ARGMAX);   /* the greedy pick last, prefill and decode */
    }
    if (ok) CHECK(check_fused_slots(&cuda, &cpu));
    run_plan_free(&cuda);
    run_plan_free(&cpu);
    layout_free(&l);
    REPORT("fused projections (cuda plan): one QKV GEMM per cache owner (bias and head norms on qkv, RoPE reads "
           "it and writes q), a reader's Q GEMM alone, one gate+up GEMM per dense MLP (the activation reads "
           "gate_up); 7 GEMMs and 4 bias adds fewer per step than the cpu plan; weights wqkv/bqkv/w_gate_up, "
           "as many values");
}

/* A mixture of experts keeps its expert path (gate and up by the gathered kernel, apart) and its
 * shared expert's two GEMMs; its attention still fuses. */
static void test_fused_experts(void) {
    bool ok = true;
    Layout l;
    fusion_layout(&l);
    l.model.experts = 8, l.model.experts_per_token = 2, l.model.shared_expert_ffn = 64;
    RunPlan p;
    CHECK(plan_target(&l, RUN_TARGET_EMU, &p));
    for (int k = 0; k < 2 && ok; k++) {
        const ActPlan *a = run_plan_step(&p, k == 1);
        CHECK(count_ops(a, OP_GEMM, -2, WT_GATE_UP) == 0 && count_ops(a, OP_GEMM, -2, WT_QKV) == 2);
        CHECK(count_ops(a, OP_MOE_GEMM, -2, WT_EXPERT_GATE) == 3 && count_ops(a, OP_MOE_GEMM, -2, WT_EXPERT_UP) == 3);
        CHECK(count_ops(a, OP_GEMM, -2, WT_SHARED_GATE) == 3 && count_ops(a, OP_GEMM, -2, WT_SHARED_UP) == 3);
    }
    for (int i = 0; ok && i < p.nweights; i++) CHECK(p.weight[i].ref != WT_GATE_UP);
    if (ok) run_plan_free(&p);
    layout_free(&l);
    REPORT("fused projections with experts: the experts' gate and up apart (moe_gemm), the shared expert's two "
           "GEMMs, the attention's QKV fused");
}

/* The loader: every fused slot of the cuda plan filled from random (so distinct) weights holds each
 * part's values in its slice, in order; a reader's wq is its own; a slot whose part is missing fails. */
static void test_fused_loader(void) {
    bool ok = true;
    Layout l;
    fusion_layout(&l);
    RunPlan p;
    CHECK(plan_target(&l, RUN_TARGET_CUDA, &p));
    Model m;
    model_init_random(&m, &l, 7);
    int filled = 0;
    char err[256];
    for (int i = 0; ok && i < p.nweights; i++) {
        const WeightSlot *w = &p.weight[i];
        float *dst = xcalloc((size_t)(w->rows * w->cols), sizeof *dst);
        CHECK(model_fill_plan_weight(&m, w, dst, err, sizeof err));
        WeightRef parts[3] = {w->ref};
        int n = plan_fused_parts(w->ref, parts);
        int64_t at = 0;
        for (int k = 0; k < (n ? n : 1) && ok && w->layer >= 0; k++) {
            const ModelHeader lm = layer_model(&l, w->layer);
            int64_t in, out;
            plan_weight_shape(&lm, parts[k], &in, &out);
            const float *src = *model_layer_slot(&m.layer[w->layer], parts[k]);
            CHECK(src && !memcmp(dst + at, src, (size_t)(in * out) * sizeof *dst));
            if (n && k > 0) CHECK(dst[at] != dst[0]);   /* distinct values: the slices cannot be confused */
            at += in * out;
        }
        if (w->layer >= 0) CHECK(at == w->rows * w->cols);
        if (n && ok) {   /* a missing part is refused, not left as zeros */
            float **slot = model_layer_slot(&m.layer[w->layer], parts[n - 1]);
            float *kept = *slot;
            *slot = NULL;
            CHECK(!model_fill_plan_weight(&m, w, dst, err, sizeof err) && strstr(err, "lacks the run plan's weight"));
            *slot = kept;
            filled++;
        }
        free(dst);
    }
    CHECK(filled == 2 + 2 + 3);   /* wqkv and bqkv of 2 owners, w_gate_up of 3 layers */
    model_free(&m);
    if (ok) run_plan_free(&p);
    layout_free(&l);
    REPORT("fused weights at load: wqkv = wq, wk, wv rows; bqkv = bq, bk, bv; w_gate_up = w_gate, w_up rows, each "
           "tensor in its slice; a missing part refused");
}

/* Ops of the kinds that launch a generated kernel around the residual stream: its adds and norms. */
static int residual_launches(const ActPlan *a) {
    return count_ops(a, OP_RESIDUAL_ADD, -2, WT_COUNT) + count_ops(a, OP_RMSNORM, -2, WT_COUNT) +
           count_ops(a, OP_ADD_RMSNORM, -2, WT_COUNT);
}

/* Each add_rmsnorm of a fused step: x += o (or o_norm) then norm_post into h2 in layer i, x += down
 * (down_norm, or the experts' moe) then the next layer's norm_in into h (that layer's op) or norm_final into xf (layer
 * -1); the branch's last use and the normed tensor's first are the op; its kernel the model's
 * add_rmsnorm. Returns how many there are. */
static int check_add_norms(const RunPlan *p, const ActPlan *a, bool sandwich, bool experts, bool *okp) {
    bool ok = true;
    int n = 0, nl = 3;
    for (int k = 0; k < a->nops; k++) {
        const PlanOp *op = &a->op[k];
        if (op->kind != OP_ADD_RMSNORM) continue;
        n++;
        const bool post = op->weight == WT_NORM_POST;
        const char *branch = post ? (sandwich ? "o_norm" : "o") : sandwich ? "down_norm" : experts ? "moe" : "down";
        const int from = post ? op->layer : op->layer < 0 ? nl - 1 : op->layer - 1;   /* the branch's layer */
        CHECK(op->nin == 2 && op->nout == 2 && op->in[0] == op->out[0] && !strcmp(name_of(a, op->in[0]), "x"));
        CHECK(!strcmp(name_of(a, op->in[1]), branch) && a->tensor[op->in[1]].layer == from);
        CHECK(!strcmp(name_of(a, op->out[1]), post ? "h2" : op->layer < 0 ? "xf" : "h"));
        CHECK(op->weight == (post ? WT_NORM_POST : op->layer < 0 ? WT_NORM_FINAL : WT_NORM_IN));
        CHECK(a->item[op->in[1]].last == k && a->item[op->out[1]].first == k);
        CHECK(op->kernel == p->cg.add_rmsnorm && p->cg.kernel[op->kernel].kind == KV_ADD_RMSNORM);
    }
    *okp = *okp && ok;
    return n;
}

/* The kernels' plans fuse every residual add of x with the rmsnorm of x after it (add_rmsnorm): the
 * cpu plan's 2 adds and 2 norms a layer (and the final norm) are 2 launches a layer fewer; the plain
 * rmsnorm is left for layer 0's norm_in (and the sandwich norms, on o and down); the shared expert's
 * add into moe stays a residual_add; the verifier refuses an add_rmsnorm that does not update x. */
static void test_fused_add_norm(void) {
    bool ok = true;
    Layout l;
    fusion_layout(&l);
    for (int v = 0; v < 3 && ok; v++) {   /* plain; sandwich norms; experts with a shared expert */
        l.model.sandwich_norms = v == 1;
        if (v == 2) l.model.experts = 8, l.model.experts_per_token = 2, l.model.shared_expert_ffn = 64;
        RunPlan cuda, cpu;
        CHECK(plan_target(&l, RUN_TARGET_EMU, &cuda) && plan_target(&l, RUN_TARGET_CPU, &cpu));
        if (!ok) break;
        for (int k = 0; k < 2; k++) {
            const ActPlan *f = run_plan_step(&cuda, k == 1), *u = run_plan_step(&cpu, k == 1);
            CHECK(count_ops(u, OP_ADD_RMSNORM, -2, WT_COUNT) == 0);   /* the reference keeps them apart */
            CHECK(residual_launches(u) - residual_launches(f) == 2 * 3);
            CHECK(check_add_norms(&cuda, f, v == 1, v == 2, &ok) == 2 * 3);
            CHECK(count_ops(f, OP_RMSNORM, -2, WT_COUNT) == 1 + (v == 1) * 2 * 3 &&
                  count_ops(f, OP_RMSNORM, 0, WT_NORM_IN) == 1);
            CHECK(count_ops(f, OP_RESIDUAL_ADD, -2, WT_COUNT) == (v == 2) * 3);   /* moe += the shared expert's */
        }
        CHECK((cuda.cg.residual_add >= 0) == (v == 2));   /* generated only where a step adds one */
        PlanOp *op = &cuda.decode.op[0];
        while (op->kind != OP_ADD_RMSNORM) op++;
        int x = op->out[0];
        op->out[0] = op->out[1];   /* writes the normed rows twice, x never */
        CHECK(!run_plan_verify(&l, &cuda, NULL));
        op->out[0] = x;
        CHECK(run_plan_verify(&l, &cuda, NULL));
        run_plan_free(&cuda);
        run_plan_free(&cpu);
    }
    layout_free(&l);
    REPORT("add_rmsnorm (emu plan): every residual add of x fused with the rmsnorm after it (x, the branch -> "
           "x, h/h2/xf; norm_post, the next norm_in, norm_final), 2 launches a layer fewer than adds + norms "
           "apart, with sandwich norms and a shared expert's add kept; the verifier refuses one not updating x");
}

int main(void) {
    test_fused_schedule();
    test_fused_experts();
    test_fused_loader();
    test_fused_add_norm();
    return failures ? 1 : 0;
}
