/* step_plan.c — the ops and tensors of one decode step or one prefill chunk (plan_step), in
 * execution order with their lifetimes, packed by arena_plan.c's allocator (docs/plan.md). With
 * fused projections (StepOptions.fused) a cache owner's q, k and v come from one GEMM ("qkv") and a
 * dense MLP's gate and up from one ("gate_up"), and each residual add of x runs with the rmsnorm of x
 * that follows it as one op ("add_rmsnorm"). */
#include "plan.h"

#include "mixc_params.h"   /* PREFILL_ARGS_INTS: a batched prefill's table */

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the ops and tensors of one step */

typedef struct {
    ActTensor *t;
    ArenaItem *item;        /* the tensors' sizes and lifetimes, parallel to t: what the arena packs */
    int n, cap;
    bool arena_only;        /* items only: no names (t NULL) and no ops */
    PlanOp *ops;            /* NULL when only the arena is planned */
    int ops_cap;
    int op;                 /* the op being listed */
    bool in_ops;            /* an op has begun: new tensors are op outputs, no longer step inputs */
    bool ok;                /* false once a size overflowed */
    int add;                /* fused steps: the branch of a residual add of x held back for the rmsnorm of x
                             * that follows it (norm_x); -1: none */
} Builder;

/* Both arrays grow by doubling; reserve() sizes them for the whole step up front. */
static void grow_tensors(Builder *b, int cap) {
    b->cap = cap;
    if (!b->arena_only) b->t = xrealloc(b->t, (size_t)b->cap * sizeof(ActTensor));
    b->item = xrealloc(b->item, (size_t)b->cap * sizeof(ArenaItem));
}

/* Starts op b->op: what it does; use() and tensor_new() then add its inputs and outputs. */
static void begin(Builder *b, OpKind kind, int layer, WeightRef weight) {
    b->in_ops = true;
    if (!b->ops) return;
    if (b->op >= b->ops_cap) {
        b->ops_cap = b->ops_cap ? b->ops_cap * 2 : 64;
        b->ops = xrealloc(b->ops, (size_t)b->ops_cap * sizeof(PlanOp));
    }
    b->ops[b->op] = (PlanOp){.kind = kind, .layer = layer, .weight = weight, .kernel = -1};
}

/* The current op writes tensor t. */
static void add_out(Builder *b, int t) {
    if (!b->ops) return;
    PlanOp *o = &b->ops[b->op];
    if (o->nout == PLAN_OP_MAX_OUT) fatal("internal error: op %d writes too many tensors", b->op);
    o->out[o->nout++] = t;
}

/* A new tensor of elems elements of dtype, written by the current op (or, before the first op has
 * begun, a step input the host fills). */
static int tensor_new(Builder *b, const char *name, int layer, int64_t elems, DType dtype) {
    int64_t bytes = 0;
    if (!mul_ok(elems, dtype_bytes(dtype), &bytes) || !add_ok(bytes, PLAN_ARENA_ALIGN - 1, &bytes)) b->ok = false;
    bytes -= bytes % PLAN_ARENA_ALIGN;
    if (b->n == b->cap) grow_tensors(b, b->cap ? b->cap * 2 : 64);
    if (b->t) b->t[b->n] = (ActTensor){name, layer, dtype};
    b->item[b->n] = (ArenaItem){b->ok ? bytes : 0, b->op, b->op, 0};
    if (b->in_ops) add_out(b, b->n);
    return b->n++;
}

/* The current op reads (or updates in place) tensor t. */
static void use(Builder *b, int t) {
    b->item[t].last = b->op;
    if (!b->ops) return;
    PlanOp *o = &b->ops[b->op];
    if (o->nin == PLAN_OP_MAX_IN) fatal("internal error: op %d reads too many tensors", b->op);
    o->in[o->nin++] = t;
}
/* The current op reads tensor t and writes it in place. */
static void update(Builder *b, int t) {
    use(b, t);
    add_out(b, t);
}
/* The current op writes tensor t, made by an earlier op (of two ops writing it, one runs). */
static void writes(Builder *b, int t) {
    b->item[t].last = b->op;
    add_out(b, t);
}
static void next_op(Builder *b) { b->op++; }

typedef struct {
    int64_t tokens, rows, context;   /* tokens in the step; sequences (rows of logits); the context */
    int64_t hidden, q_row, kv_row, ffn, vocab;   /* elements of one token's row */
    DType act, logits;
    bool decode, kernel_args, scores, fused;
    DecodeSplit split;
    int pos, seqs, chunk_args;  /* the step's int inputs (-1 when absent) */
} StepShape;

/* Row widths; false on overflow. */
static bool step_rows(const ModelHeader *m, StepShape *s) {
    s->hidden = m->hidden, s->ffn = m->ffn, s->vocab = m->vocab;
    return mul_ok(m->heads, m->head_dim, &s->q_row) && mul_ok(m->kv_heads, m->head_dim, &s->kv_row);
}

/* An op of one output: begin, read `a` (and `b2` when >= 0), write a new tensor. */
static int unary(Builder *b, OpKind kind, int layer, WeightRef w, int a, int b2, const char *name, int64_t elems,
                 DType dt) {
    begin(b, kind, layer, w);
    use(b, a);
    if (b2 >= 0) use(b, b2);
    int t = tensor_new(b, name, layer, elems, dt);
    next_op(b);
    return t;
}

static int64_t rows_x(Builder *b, int64_t rows, int64_t width) {
    int64_t n = 0;
    if (!mul_ok(rows, width, &n)) b->ok = false;
    return n;
}

/* x += in, the residual add of layer i's branch. On a fused step (the kernels') it is held back: the
 * rmsnorm of x that always follows (norm_x: the next norm of the layer, of the next layer, or the
 * final norm) runs it, one pass over x instead of two. */
static void residual_add(Builder *b, const StepShape *s, int i, int x, int in) {
    if (s->fused) {
        b->add = in;
        return;
    }
    begin(b, OP_RESIDUAL_ADD, i, WT_NONE);
    update(b, x);
    use(b, in);
    next_op(b);
}

/* The rmsnorm of x with norm weight w (of `layer`, or the model's) into a new tensor; with a residual
 * add held back, add_rmsnorm: x += the branch, then the norm of the sum (reads x and the branch, writes
 * x and the new tensor). */
static int norm_x(Builder *b, int layer, WeightRef w, int x, const char *name, int64_t elems, DType dt) {
    if (b->add < 0) return unary(b, OP_RMSNORM, layer, w, x, -1, name, elems, dt);
    begin(b, OP_ADD_RMSNORM, layer, w);
    update(b, x);
    use(b, b->add);
    b->add = -1;
    int t = tensor_new(b, name, layer, elems, dt);
    next_op(b);
    return t;
}

/* A projection h x W^T into a new tensor, plus its bias when the model has one. */
static int projection(Builder *b, const Layout *l, int i, WeightRef w, WeightRef bias, int h, const char *name,
                      int64_t elems, DType dt) {
    int t = unary(b, OP_GEMM, i, w, h, -1, name, elems, dt);
    if (plan_layer_has_weight(l, i, bias)) {
        begin(b, OP_BIAS_ADD, i, bias);
        update(b, t);
        next_op(b);
    }
    return t;
}

/* Split-KV decode attention (the report's plan, where it splits by the context; the kernels' decode
 * step): fp32 partials merged by a reduce. The kernels' decode launch of one split writes attn itself,
 * so their partials and reduce are listed only where a launch can split
 * (plan_decode_max_launch_splits), the reduce marked to run only after one that did. Returns attn. */
static int split_decode(Builder *b, const Layout *l, const StepShape *s, int i, int q, WeightRef sinks, int64_t splits) {
    const bool kernels = s->split == SPLIT_ALWAYS;
    const bool may_split = !kernels || plan_decode_max_launch_splits(layer_history(&l->layer[i]), s->context, s->rows) > 1;
    int64_t part_rows = rows_x(b, rows_x(b, s->rows, l->model.heads), splits), attn_elems = rows_x(b, s->tokens, s->q_row);
    begin(b, OP_ATTN_DECODE, i, kernels ? sinks : WT_NONE);
    use(b, q);
    if (s->kernel_args) {   /* each row's position and cache block (the scheduler's slots) */
        use(b, s->pos);
        use(b, s->seqs);
    }
    int po = may_split ? tensor_new(b, "part_o", i, rows_x(b, part_rows, layer_model(l, i).head_dim), DT_FP32) : -1;
    int ps = may_split ? tensor_new(b, "part_stats", i, rows_x(b, part_rows, 2), DT_FP32) : -1;
    int attn = kernels ? tensor_new(b, "attn", i, attn_elems, s->act) : -1;
    next_op(b);
    if (!kernels) return unary(b, OP_ATTN_REDUCE, i, sinks, po, ps, "attn", attn_elems, s->act);
    if (!may_split) return attn;
    begin(b, OP_ATTN_REDUCE, i, sinks);
    use(b, po);
    use(b, ps);
    writes(b, attn);
    if (b->ops) b->ops[b->op].when_split = true;
    next_op(b);
    return attn;
}

/* attention through o-proj and the residual add: q is consumed, attn produced and consumed. */
static void list_attention(Builder *b, const Layout *l, const StepShape *s, int i, int q, int x) {
    const ModelHeader *m = &l->model;
    const WeightRef sinks = l->layer[i].sinks ? WT_SINKS : WT_NONE;   /* read by the attention's softmax */
    int64_t splits = s->decode && s->split != SPLIT_NEVER ? plan_decode_splits(layer_history(&l->layer[i]), s->context) : 1;
    int attn;
    if (splits > 1 || (s->decode && s->split == SPLIT_ALWAYS)) {
        attn = split_decode(b, l, s, i, q, sinks, splits);
    } else if (s->scores) {     /* the reference: one score per key a query sees, all it holds */
        int64_t history = layer_history(&l->layer[i]);
        int64_t visible = history && history < s->context ? history : s->context;
        begin(b, OP_ATTENTION, i, sinks);
        use(b, q);
        attn = tensor_new(b, "attn", i, rows_x(b, s->tokens, s->q_row), s->act);
        tensor_new(b, "scores", i, visible, DT_FP32);
        next_op(b);
    } else {
        attn = unary(b, OP_ATTENTION, i, sinks, q, s->kernel_args ? s->decode ? s->pos : s->chunk_args : -1,
                     "attn", rows_x(b, s->tokens, s->q_row), s->act);
    }
    int o = projection(b, l, i, WT_O, WT_O_BIAS, attn, "o", rows_x(b, s->tokens, s->hidden), s->act);
    if (m->sandwich_norms)
        o = unary(b, OP_RMSNORM, i, WT_NORM_ATTN_OUT, o, -1, "o_norm", rows_x(b, s->tokens, s->hidden), s->act);
    residual_add(b, s, i, x, o);
}

/* A gated MLP of width `width` over `rows` rows of in: gate and up by `gemm` with weights w, w + 1
 * (their names), the gated activation, down by `gemm` with weight w_down. Returns down. */
static int gated_mlp(Builder *b, const ModelHeader *m, const StepShape *s, int i, OpKind gemm, const WeightRef w[3],
                     int in, int route, int64_t rows, int64_t width) {
    static const char *const names[3][4] = {{"gate", "up", "act", "down"},
                                            {"expert_gate", "expert_up", "expert_act", "expert_down"},
                                            {"shared_gate", "shared_up", "shared_act", "shared_down"}};
    const char *const *n = names[gemm == OP_MOE_GEMM ? 1 : w[0] == WT_SHARED_GATE ? 2 : 0];
    int64_t inner = rows_x(b, rows, width), out = rows_x(b, rows, s->hidden);
    static const OpKind gated_ops[ACT_COUNT] = {OP_SILU_MUL, OP_GELU_TANH_MUL, OP_CLAMPED_SWIGLU_MUL};
    OpKind gated = gated_ops[m->activation];
    int act;
    if (s->fused && w[0] == WT_GATE) {   /* the dense MLP: one GEMM, each row gate then up */
        int gate_up = unary(b, gemm, i, WT_GATE_UP, in, route, "gate_up", rows_x(b, inner, 2), s->act);
        act = unary(b, gated, i, WT_NONE, gate_up, -1, n[2], inner, s->act);
    } else {
        int gate = unary(b, gemm, i, w[0], in, route, n[0], inner, s->act);
        int up = unary(b, gemm, i, w[1], in, route, n[1], inner, s->act);
        act = unary(b, gated, i, WT_NONE, gate, up, n[2], inner, s->act);
    }
    return unary(b, gemm, i, w[2], act, route, n[3], out, s->act);
}

/* A mixture of experts on h2 (docs/plan.md): the router, the route, the chosen experts' MLPs over
 * tokens x experts_per_token rows, their weighted sum, and the shared expert added to it. */
static int list_experts(Builder *b, const ModelHeader *m, const StepShape *s, int i, int h2) {
    int router = unary(b, OP_GEMM, i, WT_ROUTER, h2, -1, "router", rows_x(b, s->tokens, m->experts), DT_FP32);
    if (m->moe_bias) {
        begin(b, OP_BIAS_ADD, i, WT_ROUTER_BIAS);
        update(b, router);
        next_op(b);
    }
    int64_t rows = rows_x(b, s->tokens, m->experts_per_token);   /* (token, choice) pairs */
    int route = unary(b, OP_MOE_ROUTE, i, WT_NONE, router, -1, "route", rows_x(b, rows, 2), DT_FP32);
    static const WeightRef experts[3] = {WT_EXPERT_GATE, WT_EXPERT_UP, WT_EXPERT_DOWN};
    int down = gated_mlp(b, m, s, i, OP_MOE_GEMM, experts, h2, route, rows, s->ffn);
    int moe = unary(b, OP_MOE_COMBINE, i, WT_NONE, down, route, "moe", rows_x(b, s->tokens, s->hidden), s->act);
    if (!m->shared_expert_ffn) return moe;
    static const WeightRef shared[3] = {WT_SHARED_GATE, WT_SHARED_UP, WT_SHARED_DOWN};
    int sd = gated_mlp(b, m, s, i, OP_GEMM, shared, h2, -1, s->tokens, m->shared_expert_ffn);
    begin(b, OP_RESIDUAL_ADD, i, WT_NONE);  /* moe += the shared expert's */
    update(b, moe);
    use(b, sd);
    next_op(b);
    return moe;
}

static void list_mlp(Builder *b, const ModelHeader *m, const StepShape *s, int i, int x) {
    int64_t hidden = rows_x(b, s->tokens, s->hidden);
    int h2 = norm_x(b, i, WT_NORM_POST, x, "h2", hidden, s->act);
    static const WeightRef dense[3] = {WT_GATE, WT_UP, WT_DOWN};
    int down = m->experts ? list_experts(b, m, s, i, h2) : gated_mlp(b, m, s, i, OP_GEMM, dense, h2, -1, s->tokens, s->ffn);
    if (m->sandwich_norms) down = unary(b, OP_RMSNORM, i, WT_NORM_MLP_OUT, down, -1, "down_norm", hidden, s->act);
    residual_add(b, s, i, x, down);
}

/* qk_norm: each head of q (or k) normed in place, before RoPE; qk_l2_norm: the same without a weight
 * on the layers with RoPE (the op names WT_Q_NORM or WT_K_NORM for its heads; the layer has no such
 * weight). */
static void head_norm(Builder *b, const Layout *l, int i, WeightRef w, int t) {
    if (!l->model.qk_norm && !(l->model.qk_l2_norm && !l->layer[i].rope.nope)) return;
    begin(b, OP_HEAD_NORM, i, w);
    update(b, t);
    next_op(b);
}

/* A cache owner's fused projections (StepShape.fused): one GEMM into qkv (each row q, k, v), its bias
 * and head norms in place, and the RoPE op begun: it reads qkv and writes q (the op names WT_QKV: its
 * input is the fused row). Returns q. */
static int fused_qkv(Builder *b, const Layout *l, const StepShape *s, int i, int h) {
    int qkv = projection(b, l, i, WT_QKV, WT_QKV_BIAS, h, "qkv", rows_x(b, s->tokens, s->q_row + 2 * s->kv_row), s->act);
    head_norm(b, l, i, WT_Q_NORM, qkv);
    head_norm(b, l, i, WT_K_NORM, qkv);
    begin(b, OP_ROPE_APPEND, i, WT_QKV);
    use(b, qkv);
    return tensor_new(b, "q", i, rows_x(b, s->tokens, s->q_row), s->act);
}

static void list_layer(Builder *b, const Layout *l, const StepShape *step, int i, int x) {
    StepShape shaped = *step;   /* q, k, v and attn rows by the layer's own kv_heads and head_dim */
    const ModelHeader lm = layer_model(l, i);
    if (!step_rows(&lm, &shaped)) b->ok = false;
    const StepShape *s = &shaped;
    int64_t kv = rows_x(b, s->tokens, s->kv_row);
    int h = norm_x(b, i, WT_NORM_IN, x, "h", rows_x(b, s->tokens, s->hidden), s->act);
    const bool owner = l->layer[i].reads == i;
    int q = owner && s->fused ? fused_qkv(b, l, s, i, h) : projection(b, l, i, WT_Q, WT_Q_BIAS, h, "q",
                                                                         rows_x(b, s->tokens, s->q_row), s->act);
    if (!(owner && s->fused)) head_norm(b, l, i, WT_Q_NORM, q);
    if (owner && !s->fused) {   /* K, V projections, RoPE, cache write */
        int k = projection(b, l, i, WT_K, WT_K_BIAS, h, "k", kv, s->act);
        head_norm(b, l, i, WT_K_NORM, k);
        int v = projection(b, l, i, WT_V, WT_V_BIAS, h, "v", kv, s->act);
        begin(b, OP_ROPE_APPEND, i, WT_NONE);
        update(b, q);
        update(b, k);
        use(b, v);
    } else if (!owner) {        /* reader: RoPE on q only */
        begin(b, OP_ROPE_Q, i, WT_NONE);
        update(b, q);
    }
    use(b, s->pos);
    if (s->kernel_args) use(b, s->seqs);
    next_op(b);
    list_attention(b, l, s, i, q, x);
    list_mlp(b, &lm, s, i, x);   /* its FFN: the experts, or a dense MLP of dense_ffn (moe_step) */
}

/* The arena of the listed tensors: offsets, sizes and the verifier's word. */
static void pack(Builder *b, ActPlan *p) {
    for (int t = 0; t < b->n; t++) b->ok = b->ok && add_ok(p->naive_bytes, b->item[t].size, &p->naive_bytes);
    if (!b->ok) return;
    p->planned_bytes = arena_assign(b->item, b->n);
    p->lower_bound_bytes = arena_lower_bound(b->item, b->n);
    if (!arena_verify(b->item, b->n, p->planned_bytes, stderr))
        fatal("internal error: the activation arena plan overlaps live tensors");
}

/* Room for the tensors and ops of a step of nlayers layers at once (a layer lists at most ~22
 * tensors and ~20 ops): growing by doubling would copy, and touch, the arrays of a 100,000-layer
 * step several times. */
static void reserve(Builder *b, int nlayers) {
    grow_tensors(b, nlayers * 26 + 32);
    if (b->arena_only) return;
    b->ops_cap = nlayers * 23 + 16;
    b->ops = xmalloc((size_t)b->ops_cap * sizeof(PlanOp));
}

bool plan_step(const Layout *l, const StepOptions *o, ActPlan *out) {
    const ModelHeader *m = &l->model;
    memset(out, 0, sizeof *out);
    StepShape s = {.rows = o->batch, .decode = o->kind == STEP_DECODE, .context = o->context, .act = o->act_dtype,
                   .logits = o->logits_dtype, .kernel_args = o->kernel_args, .scores = o->attention_scores,
                   .split = o->split, .fused = o->fused,
                   .seqs = -1, .chunk_args = -1};
    Builder b = {.ok = step_rows(m, &s), .add = -1};
    if (s.decode)
        s.tokens = o->batch;
    else    /* a chunk never holds more tokens than the context */
        b.ok = b.ok && mul_ok(o->batch, o->chunk < o->context ? o->chunk : o->context, &s.tokens);
    if (!b.ok) return false;
    /* a part has a token at least, so no more parts than tokens */
    const int64_t parts = o->parts < 1 ? 1 : o->parts < s.tokens ? o->parts : s.tokens;
    if (!s.decode && s.kernel_args) s.rows = parts;   /* a batched prefill's logits: a row per part, all argmaxed */
    b.arena_only = o->arena_only;
    reserve(&b, l->nlayers);
    int tokens = tensor_new(&b, "tokens", -1, s.tokens, DT_INT32);   /* step inputs: ids and positions */
    s.pos = tensor_new(&b, "positions", -1, s.tokens, DT_INT32);
    if (s.kernel_args) {   /* the chunk's triple only where the prefill kernel reads it */
        s.seqs = tensor_new(&b, "sequences", -1, s.tokens, DT_INT32);
        if (!s.decode) s.chunk_args = tensor_new(&b, "chunk_args", -1, PREFILL_ARGS_INTS(s.tokens, parts), DT_INT32);
    }
    int x = unary(&b, OP_EMBED, -1, WT_EMBED, tokens, -1, "x", rows_x(&b, s.tokens, s.hidden), s.act);
    for (int i = 0; i < l->nlayers && b.ok; i++) list_layer(&b, l, &s, i, x);
    int xf = norm_x(&b, -1, WT_NORM_FINAL, x, "xf", rows_x(&b, s.tokens, s.hidden), s.act);
    /* logits of each sequence's last token only */
    int logits = unary(&b, OP_LOGITS, -1, WT_LM_HEAD, xf, -1, "logits", rows_x(&b, s.rows, s.vocab), s.logits);
    if (s.kernel_args)   /* the greedy tokens on the device: a greedy step copies back only these */
        unary(&b, OP_ARGMAX, -1, WT_NONE, logits, -1, "token_ids", s.rows, DT_INT32);
    ActPlan p = {.kind = o->kind, .tokens = s.tokens, .rows = s.rows, .parts = s.chunk_args >= 0 ? parts : 0,
                 .nops = b.op, .op = b.ops,
                 .ntensors = b.n, .tensor = b.t, .item = b.item};
    pack(&b, &p);
    if (b.ok) *out = p;
    else act_plan_free(&p);
    return b.ok;
}

void act_plan_free(ActPlan *p) {
    free(p->tensor);
    free(p->item);
    free(p->op);
    memset(p, 0, sizeof *p);
}
