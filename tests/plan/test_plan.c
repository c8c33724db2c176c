/* test_plan.c — unit and property tests of the planner: cache tokens and bytes, weights, the
 * arena allocator and its verifier (thousands of random lifetime sets), the activation lists, the run
 * plan (caches, arena, weights, kernels, schedules) and its verifier.
 * Layouts are built in C here, so these tests do not depend on the parser. Prints PASS/FAIL. */
#include "plan_test.h"

#include <stdlib.h>
#include <string.h>

/* Character.AI's 12-layer unit: globals 0 and 6 share cache 0; windows of 1024 in groups. */
static void character_ai(Layout *l) {
    int64_t w[12];
    int r[12] = {0, 1, 1, 3, 3, 3, 0, 7, 7, 9, 9, 9};
    for (int i = 0; i < 12; i++) w[i] = (i == 0 || i == 6) ? 0 : 1024;
    make_layout(l, 12, w, r);
}

static void test_cache_tokens(void) {
    bool ok = true;
    Layout l;
    character_ai(&l);
    CHECK(verify_layout(&l, stdout));
    CHECK(l.ncaches == 5);
    CHECK(plan_cache_tokens(&l, 0, 32768, 512) == 32768);        /* unbounded: the whole context */
    CHECK(plan_cache_tokens(&l, 1, 32768, 512) == 1024 + 512 - 1);  /* ring: W + C - 1 */
    CHECK(plan_cache_tokens(&l, 1, 32768, 1) == 1024);           /* token-by-token: exactly W */
    CHECK(plan_cache_tokens(&l, 1, 1000, 512) == 1000);          /* context shorter than the ring */
    CHECK(plan_cache_tokens(&l, 1, 1535, 512) == 1535);
    CHECK(plan_cache_tokens(&l, 1, 1536, 512) == 1535);
    CHECK(plan_cache_tokens(&l, 5, 1536, 512) == 0);             /* no such cache */
    layout_free(&l);
    REPORT("cache tokens: unbounded, ring of W + C - 1, clipped at the context");
}

static void test_retention_from_readers(void) {
    bool ok = true;
    /* A sliding owner read by a global layer must keep everything; by a wider window, the wider. */
    int64_t w[4] = {128, 0, 64, 512};
    int r[4] = {0, 0, 2, 2};
    Layout l;
    make_layout(&l, 4, w, r);
    CHECK(l.ncaches == 2);
    CHECK(plan_cache_tokens(&l, 0, 8192, 256) == 8192);
    CHECK(plan_cache_tokens(&l, 1, 8192, 256) == 512 + 255);
    layout_free(&l);
    REPORT("retention: the longest history any reader needs");
}

static void test_kv_bytes(void) {
    bool ok = true;
    Layout l;
    character_ai(&l);
    KvPlan kv;
    /* bf16: tokens x kv_heads x head_dim x 2 (K, V) x 2 bytes, no scales. */
    CHECK(plan_kv(&l, 32768, 512, &kv));
    int64_t per_token = 2 * 32 * 2 * 2;
    CHECK(kv.kv_bytes == (32768 + 4 * 1535) * per_token);
    CHECK(kv.scale_bytes == 0);
    CHECK(kv.standard_bytes == 12 * 32768 * per_token);
    CHECK(kv.unexploited_bytes == 5 * 32768 * per_token);
    CHECK(kv.cache[1].ring && !kv.cache[0].ring);
    kv_plan_free(&kv);
    /* int8: 1 byte per element plus one fp32 scale per token, per KV head, for K and for V. */
    l.model.kv_dtype = DT_INT8;
    CHECK(plan_kv(&l, 32768, 512, &kv));
    int64_t data = 2 * 32 * 2 * 1, scales = 2 * 2 * 4;
    CHECK(kv.kv_bytes == (32768 + 4 * 1535) * (data + scales));
    CHECK(kv.scale_bytes == (32768 + 4 * 1535) * scales);
    CHECK(kv.cache[0].scale_bytes == 32768 * scales);
    kv_plan_free(&kv);
    l.model.kv_dtype = DT_FP8;
    CHECK(plan_kv(&l, 100, 7, &kv));
    CHECK(kv.kv_bytes == 5 * 100 * (data + scales));  /* every cache clipped to the context */
    kv_plan_free(&kv);
    /* Overflow is refused, not wrapped. */
    l.model.kv_heads = INT64_C(1) << 40;
    CHECK(!plan_kv(&l, INT64_C(1) << 30, 512, &kv));
    layout_free(&l);
    REPORT("kv bytes: data, scales, standard and windows-not-exploited");
}

static void test_weights(void) {
    bool ok = true;
    Layout l;
    character_ai(&l);
    WeightsPlan w;
    CHECK(plan_weights(&l, &w));
    int64_t h = 256, q = 8 * 32, kv = 2 * 32, f = 512, v = 1000;
    CHECK(w.embedding == v * h && w.lm_head == v * h);
    CHECK(w.attention == 12 * 2 * h * q + 5 * 2 * h * kv);   /* K/V projections in the 5 owners */
    CHECK(w.mlp == 12 * 3 * h * f);
    CHECK(w.norms == 25 * h);
    CHECK(w.params == w.embedding + w.lm_head + w.attention + w.mlp + w.norms);
    CHECK(w.total == 2 * w.params);
    l.model.tie_embeddings = true;
    WeightsPlan t;
    CHECK(plan_weights(&l, &t) && t.lm_head == 0 && t.params == w.params - v * h);
    /* qkv_bias: bq in all 12 layers, bk and bv in the 5 owners; the cpu run plan's slots follow
     * model.c's order (bq after wq), and each projection's GEMM is followed by its bias add. */
    l.model.qkv_bias = true;
    CHECK(plan_weights(&l, &t) && t.attention == w.attention + 12 * q + 5 * 2 * kv);
    RunOptions ro;
    run_options_init(&l, RUN_TARGET_CPU, &ro);
    RunPlan rp;
    char why[256];
    CHECK(plan_run(&l, &ro, &rp, why, sizeof why));
    CHECK(rp.weight[2].ref == WT_Q && rp.weight[3].ref == WT_Q_BIAS && rp.weight[3].rows == q && rp.weight[3].cols == 1);
    int biases = 0;
    for (int i = 1; i < rp.decode.nops; i++)
        if (rp.decode.op[i].kind == OP_BIAS_ADD) {
            biases++;
            CHECK(rp.decode.op[i - 1].kind == OP_GEMM && rp.decode.op[i].in[0] == rp.decode.op[i - 1].out[0]);
        }
    CHECK(biases == 12 + 2 * 5);
    run_plan_free(&rp);
    l.model.qkv_bias = false;
    /* qk_norm, sandwich_norms, gelu_tanh: q_norm in all 12 layers and k_norm in the 5 owners (head_dim
     * each), two more hidden norms per layer; each head_norm updates the GEMM's output it follows, a
     * gelu_tanh_mul replaces every silu_mul, and four rmsnorms per layer (one final). */
    l.model.qk_norm = l.model.sandwich_norms = true, l.model.activation = ACT_GELU_TANH;
    CHECK(plan_weights(&l, &t) && t.norms == w.norms + (12 + 5) * 32 + 2 * 12 * h);
    CHECK(plan_run(&l, &ro, &rp, why, sizeof why));
    CHECK(rp.weight[3].ref == WT_Q_NORM && rp.weight[3].rows == 32 && rp.weight[3].cols == 1);
    int counts[OP_COUNT] = {0};
    for (int i = 0; i < rp.decode.nops; i++) {
        const PlanOp *op = &rp.decode.op[i];
        counts[op->kind]++;
        if (op->kind == OP_HEAD_NORM)
            CHECK(rp.decode.op[i - 1].kind == OP_GEMM && op->in[0] == rp.decode.op[i - 1].out[0] &&
                  (op->weight == WT_Q_NORM || op->weight == WT_K_NORM));
    }
    CHECK(counts[OP_HEAD_NORM] == 12 + 5 && counts[OP_GELU_TANH_MUL] == 12 && counts[OP_SILU_MUL] == 0);
    CHECK(counts[OP_RMSNORM] == 4 * 12 + 1);
    run_plan_free(&rp);
    l.model.qk_norm = l.model.sandwich_norms = false, l.model.activation = ACT_SILU;
    Layout std;
    plan_standard_layout(&l, &std);
    CHECK(verify_layout(&std, stdout) && std.ncaches == 12);
    CHECK(plan_weights(&std, &t) && t.attention == 12 * 2 * h * q + 12 * 2 * h * kv);
    layout_free(&std);
    l.model.vocab = INT64_C(1) << 40;
    l.model.hidden = INT64_C(1) << 30;
    CHECK(!plan_weights(&l, &t));
    layout_free(&l);
    REPORT("weights: no K/V projections in readers, tied embeddings, q/k/v biases, q/k and sandwich norms, standard model");
}

/* ---------------------------------------------------------------- the arena */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {     /* xorshift64*: reproducible across runs */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static int64_t rnd_in(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

/* The definition, pair by pair: no two lifetime-overlapping items share a byte. */
static bool brute_force_disjoint(const ArenaItem *it, int n, int64_t size) {
    for (int i = 0; i < n; i++) {
        if (it[i].offset < 0 || it[i].offset + it[i].size > size) return false;
        for (int j = i + 1; j < n; j++) {
            bool live_together = it[i].first <= it[j].last && it[j].first <= it[i].last;
            bool share = it[i].offset < it[j].offset + it[j].size && it[j].offset < it[i].offset + it[i].size;
            if (live_together && share && it[i].size && it[j].size) return false;
        }
    }
    return true;
}

static int64_t brute_force_peak(const ArenaItem *it, int n, int nops) {
    int64_t best = 0;
    for (int op = 0; op < nops; op++) {
        int64_t live = 0;
        for (int i = 0; i < n; i++)
            if (it[i].first <= op && op <= it[i].last) live += it[i].size;
        if (live > best) best = live;
    }
    return best;
}

static void random_items(ArenaItem *it, int n, int nops, int64_t max_size) {
    for (int i = 0; i < n; i++) {
        int a = (int)rnd_in(0, nops - 1), b = (int)rnd_in(0, nops - 1);
        it[i].first = a < b ? a : b;
        it[i].last = a < b ? b : a;
        if (rnd() % 4 == 0) it[i].last = it[i].first;              /* many short lives */
        it[i].size = rnd() % 16 == 0 ? 0 : rnd_in(1, max_size);
        it[i].offset = -1;
    }
}

static void test_arena_property(void) {
    bool ok = true;
    int sets = 0;
    for (int round = 0; round < 5000 && ok; round++, sets++) {
        int n = (int)rnd_in(1, 48), nops = (int)rnd_in(1, 40);
        ArenaItem it[48];
        random_items(it, n, nops, round % 2 ? 4096 : 7);
        int64_t naive = 0;
        for (int i = 0; i < n; i++) naive += it[i].size;
        int64_t size = arena_assign(it, n);
        int64_t lb = arena_lower_bound(it, n);
        CHECK(arena_verify(it, n, size, stdout));
        CHECK(brute_force_disjoint(it, n, size));
        CHECK(lb == brute_force_peak(it, n, nops));
        CHECK(lb <= size && size <= naive);
    }
    printf("  %d random lifetime sets\n", sets);
    REPORT("arena: greedy plans of random lifetime sets pass the verifier and the brute-force check");
}

/* A step-like set: long-lived tensors around everything, then `layers` groups drawn from a few
 * random templates (short lifetimes chained within the group), in op order. */
static int layered_items(ArenaItem *it, int layers, int templates) {
    ArenaItem tpl[4][12];
    int tn[4], tops[4];
    for (int t = 0; t < templates; t++) {
        tn[t] = (int)rnd_in(1, 12);
        tops[t] = (int)rnd_in(1, 10);
        for (int i = 0; i < tn[t]; i++) {
            int a = (int)rnd_in(0, tops[t] - 1), len = (int)rnd_in(0, 3);
            tpl[t][i] = (ArenaItem){rnd() % 8 == 0 ? 0 : rnd_in(1, 6) * 256, a, a + len, -1};
        }
        for (int i = 1; i < tn[t]; i++)   /* op order within the template */
            for (int j = i; j > 0 && tpl[t][j].first < tpl[t][j - 1].first; j--) {
                ArenaItem x = tpl[t][j];
                tpl[t][j] = tpl[t][j - 1];
                tpl[t][j - 1] = x;
            }
    }
    int n = 0, op = 0, nlong = (int)rnd_in(1, 3);
    for (int k = 0; k < nlong; k++) it[n++] = (ArenaItem){rnd_in(1, 6) * 256, 0, 0, -1};
    for (int l = 0; l < layers; l++) {
        int t = (int)rnd_in(0, templates - 1), base = op + (int)rnd_in(0, 2), end = base;
        for (int i = 0; i < tn[t]; i++) {
            it[n] = tpl[t][i];
            it[n].first += base, it[n].last += base;
            if (it[n].last > end) end = it[n].last;
            n++;
        }
        op = end + 1;
    }
    for (int k = 0; k < nlong; k++) it[k].last = op + (int)rnd_in(0, 2);
    it[n++] = (ArenaItem){rnd_in(1, 6) * 256, op, op + 1, -1};   /* after the layers */
    return n;
}

static void test_arena_repeated_groups(void) {
    bool ok = true;
    enum { MAXN = 4 + 300 * 12 };
    static ArenaItem a[MAXN], b[MAXN];
    int sets = 0;
    for (int round = 0; round < 300 && ok; round++, sets++) {
        int n = layered_items(a, (int)rnd_in(1, 300), (int)rnd_in(1, 4));
        memcpy(b, a, (size_t)n * sizeof *a);
        int64_t fast = arena_assign(a, n), ref = arena_assign_reference(b, n);
        CHECK(fast == ref);
        for (int i = 0; i < n && ok; i++) CHECK(a[i].offset == b[i].offset);
        CHECK(arena_verify(a, n, fast, stdout));
    }
    /* Sets in op order without structure take the same path. */
    for (int round = 0; round < 2000 && ok; round++, sets++) {
        int n = (int)rnd_in(1, 48);
        random_items(a, n, (int)rnd_in(1, 200), 4096);
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && a[j].first < a[j - 1].first; j--) {
                ArenaItem x = a[j];
                a[j] = a[j - 1];
                a[j - 1] = x;
            }
        memcpy(b, a, (size_t)n * sizeof *a);
        CHECK(arena_assign(a, n) == arena_assign_reference(b, n));
        for (int i = 0; i < n && ok; i++) CHECK(a[i].offset == b[i].offset);
    }
    printf("  %d sets\n", sets);
    REPORT("arena: the shortcut for repeated groups gives exactly the plain greedy's offsets");
}

static void test_arena_verifier_rejects(void) {
    bool ok = true;
    int caught = 0, tried = 0;
    for (int round = 0; round < 2000; round++) {
        int n = (int)rnd_in(2, 24), nops = (int)rnd_in(1, 12);
        ArenaItem it[24];
        random_items(it, n, nops, 100);
        int64_t size = arena_assign(it, n);
        /* Move one item onto a byte of another live at the same time: the verifier must object. */
        int i = (int)rnd_in(0, n - 1), j = (int)rnd_in(0, n - 1);
        bool overlap = i != j && it[i].first <= it[j].last && it[j].first <= it[i].last && it[i].size && it[j].size;
        if (!overlap) continue;
        tried++;
        it[i].offset = it[j].offset + rnd_in(0, it[j].size - 1);
        int64_t grown = it[i].offset + it[i].size > size ? it[i].offset + it[i].size : size;
        bool verdict = arena_verify(it, n, grown, NULL);
        CHECK(verdict == brute_force_disjoint(it, n, grown));
        caught += !verdict;
    }
    CHECK(tried > 100 && caught == tried);
    /* Out of the arena, and a touching (not overlapping) pair. */
    ArenaItem a[2] = {{100, 0, 3, 0}, {100, 2, 5, 100}};
    CHECK(arena_verify(a, 2, 200, NULL));
    CHECK(!arena_verify(a, 2, 199, NULL));
    a[1].offset = 99;
    CHECK(!arena_verify(a, 2, 300, NULL));
    a[1].first = 4;     /* no longer live together: sharing is fine */
    CHECK(arena_verify(a, 2, 300, NULL));
    REPORT("arena: the verifier rejects overlapping live tensors and tensors outside the arena");
}

static void test_arena_known(void) {
    bool ok = true;
    /* A chain a -> b -> c where each lives two ops: a and c can share, b cannot. */
    ArenaItem it[3] = {{100, 0, 1, 0}, {50, 1, 2, 0}, {100, 2, 3, 0}};
    int64_t size = arena_assign(it, 3);
    CHECK(size == 150 && arena_lower_bound(it, 3) == 150);
    CHECK(it[0].offset == it[2].offset);
    CHECK(arena_verify(it, 3, size, stdout));
    REPORT("arena: a chain of tensors reuses dead bytes");
}

/* ---------------------------------------------------------------- activations */

static int count_named(const ActPlan *a, const char *name, int layer) {
    int n = 0;
    for (int t = 0; t < a->ntensors; t++)
        if (!strcmp(a->tensor[t].name, name) && (layer < 0 || a->tensor[t].layer == layer)) n++;
    return n;
}

/* The arena item (size, lifetime, offset) of the tensor named `name` of `layer`, or NULL. */
static const ArenaItem *find(const ActPlan *a, const char *name, int layer) {
    for (int t = 0; t < a->ntensors; t++)
        if (!strcmp(a->tensor[t].name, name) && a->tensor[t].layer == layer) return &a->item[t];
    return NULL;
}

/* The per-launch split rule: it fills the SMs at small batch, splits long histories, never makes a
 * split shorter than PLAN_SPLIT_MIN_KEYS, and never writes more partials than the plan reserved. */
static void test_decode_launch_splits(void) {
    bool ok = true;
    /* B=1 at 4K on 132 SMs, 2 KV heads: 132 blocks wanted, but the plan reserved 8 partials per head
     * at batch 1; at plan batch 32 a step of 1 row may use 8 x 32 = 256: 64, one per 64 keys. */
    DecodeLaunchFigures f = {1, 1, 2, 4096, 0, 4096, 132};
    CHECK(plan_decode_launch_splits(&f) == 8);
    f.plan_batch = 32;
    CHECK(plan_decode_launch_splits(&f) == 64);
    /* a short live length: no split under 64 keys (300 keys: 5) */
    f.live_keys = 300;
    CHECK(plan_decode_launch_splits(&f) == 5);
    /* the full plan batch at the full context: exactly the reservation (the manifest's splits) */
    f = (DecodeLaunchFigures){32, 32, 2, 4096, 0, 4096, 132};
    CHECK(plan_decode_launch_splits(&f) == plan_decode_splits(0, 4096));
    /* a window of 100 keys: at most 2 splits; an unknown SM count goes by the keys alone */
    f = (DecodeLaunchFigures){1, 8, 8, 100, 100, 4096, 132};
    CHECK(plan_decode_launch_splits(&f) == 2);   /* reserved 1 per head for 8 rows; 100 keys: 2 */
    f = (DecodeLaunchFigures){1, 1, 8, 20000, 0, 1 << 20, 0};
    CHECK(plan_decode_launch_splits(&f) == 16);
    f.live_keys = 1;
    CHECK(plan_decode_launch_splits(&f) == 1);
    /* every combination stays within the reservation and at least 1 */
    for (int64_t batch = 1; batch <= 64; batch *= 3)
        for (int64_t live = 1; live <= 70000; live = live * 5 + 1)
            for (int64_t sms = 0; sms <= 264; sms += 66) {
                f = (DecodeLaunchFigures){batch, 64, 4, live, 0, 65536, sms};
                int64_t n = plan_decode_launch_splits(&f);
                CHECK(n >= 1 && n * batch <= plan_decode_splits(0, 65536) * 64);
                CHECK(n == 1 || (live + n - 1) / n >= PLAN_SPLIT_MIN_KEYS / 2);
            }
    REPORT("decode split count per launch (plan_decode_launch_splits) within the plan's reservation");
}

static void test_activations(void) {
    bool ok = true;
    Layout l;
    character_ai(&l);
    ActPlan d, p;
    CHECK(plan_activations(&l, STEP_DECODE, 4, 512, 32768, &d));
    CHECK(plan_activations(&l, STEP_PREFILL, 4, 512, 32768, &p));
    CHECK(d.tokens == 4 && p.tokens == 2048);
    /* K and V only in cache owners; split partials in decode only, more for global layers. */
    CHECK(count_named(&d, "k", -1) == 5 && count_named(&d, "v", -1) == 5);
    CHECK(find(&d, "k", 2) == NULL && find(&d, "k", 3) != NULL);
    CHECK(count_named(&p, "part_o", -1) == 0 && count_named(&d, "part_o", -1) == 12);
    const ArenaItem *g = find(&d, "part_o", 0), *s = find(&d, "part_o", 1);
    CHECK(g && s && g->size == 4 * 8 * PLAN_MAX_SPLITS * 32 * 4 && s->size == 4 * 8 * 2 * 32 * 4);
    /* Sizes: h is tokens x hidden in bf16; gate tokens x ffn. */
    CHECK(find(&p, "h", 0)->size == 2048 * 256 * 2 && find(&p, "gate", 5)->size == 2048 * 512 * 2);
    CHECK(find(&p, "logits", -1)->size == 8192);  /* 4 x 1000 x 2 = 8000, aligned to 256 */
    /* x lives from the embedding to the final norm; h dies before the layer's MLP starts. */
    const ArenaItem *x = find(&p, "x", -1), *h = find(&p, "h", 3), *h2 = find(&p, "h2", 3);
    CHECK(x->first == 0 && x->last == p.nops - 2);
    CHECK(h->last < h2->first);
    for (int k = 0; k < 2; k++) {
        const ActPlan *a = k ? &p : &d;
        ArenaItem *items = xcalloc((size_t)a->ntensors, sizeof(ArenaItem));
        int64_t naive = 0;
        for (int t = 0; t < a->ntensors; t++) items[t] = a->item[t], naive += items[t].size;
        CHECK(brute_force_disjoint(items, a->ntensors, a->planned_bytes));
        CHECK(a->naive_bytes == naive);
        CHECK(a->lower_bound_bytes <= a->planned_bytes && a->planned_bytes < a->naive_bytes);
        CHECK(items[0].size % PLAN_ARENA_ALIGN == 0 && items[0].offset % PLAN_ARENA_ALIGN == 0);
        free(items);
    }
    /* Planned arena_only (the report's way): the same tensors and arena, no op list. */
    for (int k = 0; k < 2; k++) {
        const ActPlan *full = k ? &p : &d;
        StepOptions o = {k ? STEP_PREFILL : STEP_DECODE, 4, 512, 32768, l.model.dtype, l.model.dtype,
                         SPLIT_BY_CONTEXT, false, false, true, 0, false};
        ActPlan lite;
        CHECK(plan_step(&l, &o, &lite) && lite.op == NULL && lite.tensor == NULL && lite.nops == full->nops);
        CHECK(lite.ntensors == full->ntensors && lite.planned_bytes == full->planned_bytes &&
              lite.lower_bound_bytes == full->lower_bound_bytes && lite.naive_bytes == full->naive_bytes);
        for (int t = 0; t < lite.ntensors && ok; t++)
            CHECK(!memcmp(&lite.item[t], &full->item[t], sizeof(ArenaItem)));
        act_plan_free(&lite);
    }
    /* Batch scales the arena. */
    ActPlan p2;
    CHECK(plan_activations(&l, STEP_PREFILL, 8, 512, 32768, &p2) && p2.planned_bytes > p.planned_bytes);
    act_plan_free(&p2);
    act_plan_free(&d);
    act_plan_free(&p);
    l.model.ffn = INT64_C(1) << 61;
    CHECK(!plan_activations(&l, STEP_PREFILL, 8, 512, 32768, &p2));
    layout_free(&l);
    REPORT("activations: tensors, lifetimes, split partials, arena within bounds, arena_only the same");
}

static void test_utf8(void) {
    bool ok = true;
    CHECK(utf8_char_len("a") == 1);
    CHECK(utf8_char_len("\xc3\xa9") == 2);              /* e acute */
    CHECK(utf8_char_len("\xe2\x82\xac") == 3);          /* euro sign */
    CHECK(utf8_char_len("\xf0\x9f\x98\x80") == 4);      /* an emoji */
    CHECK(utf8_char_len("\xff") == 0 && utf8_char_len("\x80") == 0);
    CHECK(utf8_char_len("\xc0\x80") == 0);              /* overlong NUL */
    CHECK(utf8_char_len("\xed\xa0\x80") == 0);          /* a surrogate */
    CHECK(utf8_char_len("\xc3") == 0);                  /* truncated at the end of the string */
    CHECK(utf8_char_len("\xf4\x90\x80\x80") == 0);      /* past U+10FFFF */
    REPORT("utf-8 validation for SVG, DOT and JSON names");
}


/* ---------------------------------------------------------------- the run plan */

static int64_t up256(int64_t n) { return (n + 255) / 256 * 256; }

static bool has_op(const ActPlan *a, OpKind k) {
    for (int i = 0; i < a->nops; i++)
        if (a->op[i].kind == k) return true;
    return false;
}

/* Two short-lived tensors of the same shape live at once with a long-lived one listed between them
 * (a step's int inputs): the repeated-group shortcut must not give them one offset. */
static void test_arena_groups_live_at_once(void) {
    bool ok = true;
    ArenaItem items[5] = {{256, 0, 0, 0}, {256, 0, 200, 0}, {256, 0, 0, 0}, {512, 1, 1, 0}, {512, 2, 2, 0}};
    ArenaItem ref[5];
    memcpy(ref, items, sizeof ref);
    int64_t size = arena_assign(items, 5);
    CHECK(arena_verify(items, 5, size, stdout));
    CHECK(size == arena_assign_reference(ref, 5));
    for (int i = 0; i < 5; i++) CHECK(items[i].offset == ref[i].offset);
    REPORT("arena: groups live at once (a long-lived tensor listed between) get the plain greedy's offsets");
}

static void test_run_plan_cpu(void) {
    bool ok = true;
    Layout l;
    character_ai(&l);
    RunOptions o;
    run_options_init(&l, RUN_TARGET_CPU, &o);
    o.context = 3000, o.batch = 3;
    RunPlan p;
    char err[256];
    CHECK(plan_run(&l, &o, &p, err, sizeof err));
    int64_t kv = 0, kvw = l.model.kv_heads * l.model.head_dim;
    for (int c = 0; c < l.ncaches; c++) {
        CHECK(p.cache[c].capacity == plan_cache_tokens(&l, c, 3000, 256));
        CHECK(p.cache[c].seq_bytes == p.cache[c].capacity * kvw * 4);
        CHECK(p.cache[c].k_offset == kv && p.cache[c].v_offset == kv + up256(3 * p.cache[c].seq_bytes));
        kv += 2 * up256(3 * p.cache[c].seq_bytes);
    }
    CHECK(p.kv_bytes == kv);
    WeightsPlan w;
    CHECK(plan_weights(&l, &w) && p.weights_bytes == w.params * 4);
    CHECK(p.nweights == 1 + 7 * 12 + 2 * l.ncaches + 2);   /* embed, 7 per layer, wk/wv per owner, norm, head */
    CHECK(p.weight[0].ref == WT_EMBED && p.weight[0].rows == 1000 && p.weight[0].cols == 256);
    CHECK(p.weight[1].ref == WT_NORM_IN && p.weight[1].rows == 256 && p.weight[1].cols == 1 &&
          p.weight[1].offset == 1000 * 256 * 4);
    CHECK(p.arena_bytes == (p.prefill.planned_bytes > p.decode.planned_bytes ? p.prefill.planned_bytes
                                                                             : p.decode.planned_bytes));
    CHECK(p.decode.tokens == 3 && p.prefill.tokens == 256 && p.decode.rows == 3 && p.prefill.rows == 1);
    CHECK(!has_op(&p.decode, OP_ATTN_DECODE) && has_op(&p.decode, OP_ATTENTION));   /* one pass on cpu */
    CHECK(p.decode.op[0].kind == OP_EMBED && p.decode.op[p.decode.nops - 1].kind == OP_LOGITS);
    /* an owner's layer: norm, q, k, v, rope+append, attention, o, add, norm, gate, up, silu, down, add */
    static const OpKind owner[] = {OP_RMSNORM, OP_GEMM, OP_GEMM, OP_GEMM, OP_ROPE_APPEND, OP_ATTENTION, OP_GEMM,
                                   OP_RESIDUAL_ADD, OP_RMSNORM, OP_GEMM, OP_GEMM, OP_SILU_MUL, OP_GEMM,
                                   OP_RESIDUAL_ADD};
    for (int i = 0; i < 14; i++) CHECK(p.decode.op[1 + i].kind == owner[i] && p.decode.op[1 + i].layer == 0);
    for (int t = 0; t < p.decode.ntensors; t++) {
        const ActTensor *at = &p.decode.tensor[t];
        CHECK(at->dtype == (!strcmp(at->name, "tokens") || !strcmp(at->name, "positions") ? DT_INT32 : DT_FP32));
    }
    for (int i = 0; i < p.decode.nops; i++) CHECK(p.decode.op[i].kernel == -1);
    /* The reference attention's score row is planned: an output of every attention op, one fp32 per
     * key a query sees (the window, or the context for a global layer). */
    for (int k = 0; k < 2; k++) {
        const ActPlan *a = k ? &p.prefill : &p.decode;
        for (int i = 0; i < a->nops; i++) {
            const PlanOp *op = &a->op[i];
            if (op->kind != OP_ATTENTION) continue;
            int64_t window = l.layer[op->layer].window, visible = window && window < 3000 ? window : 3000;
            CHECK(op->nout == 2 && !strcmp(a->tensor[op->out[1]].name, "scores"));
            CHECK(a->item[op->out[1]].size == up256(visible * 4));
            CHECK(a->item[op->out[1]].first == i && a->item[op->out[1]].last == i);
        }
    }
    run_plan_free(&p);
    o.full_caches = true;
    CHECK(plan_run(&l, &o, &p, err, sizeof err));
    for (int c = 0; c < l.ncaches; c++) CHECK(p.cache[c].capacity == 3000 && !p.cache[c].ring);
    run_plan_free(&p);
    layout_free(&l);
    REPORT("run plan (cpu): every slot's caches in one block, fp32 arena shared by both steps, schedule in order, "
           "attention scores planned");
}

static void test_run_plan_cuda(RunPlan *p, Layout *l) {
    bool ok = true;
    character_ai(l);
    l->model.head_dim = 64;
    RunOptions o;
    run_options_init(l, RUN_TARGET_CUDA, &o);
    o.context = 3000, o.batch = 2;
    char err[256];
    CHECK(plan_run(l, &o, p, err, sizeof err));
    if (!ok) {
        printf("  %s\n", err);
        REPORT("run plan (cuda)");
        return;
    }
    for (int c = 0; c < l->ncaches; c++) CHECK(p->cache[c].capacity == p->cg.capacity[c]);
    for (int s = 0; s < 2; s++) {
        const ActPlan *a = run_plan_step(p, s == 1);
        for (int i = 0; i < a->nops; i++) {
            const PlanOp *op = &a->op[i];
            bool gemm = op->kind == OP_GEMM || op->kind == OP_LOGITS;
            CHECK(gemm ? op->kernel == -1 : op->kernel >= 0 && op->kernel < p->cg.nkernels);
            CHECK(op->kind != OP_ATTENTION || p->cg.kernel[op->kernel].kind == KV_ATTN_PREFILL);
        }
        CHECK(s == 0 || (has_op(a, OP_ATTN_DECODE) && has_op(a, OP_ATTN_REDUCE) && !has_op(a, OP_ATTENTION)));
        for (int t = 0; t < a->ntensors; t++) {
            const ActTensor *at = &a->tensor[t];
            if (!strcmp(at->name, "logits") || !strncmp(at->name, "part_", 5)) CHECK(at->dtype == DT_FP32);
            if (!strcmp(at->name, "x") || !strcmp(at->name, "q")) CHECK(at->dtype == DT_BF16);
        }
    }
    WeightsPlan w;
    CHECK(plan_weights(l, &w) && p->weights_bytes >= w.params * 2 && p->weights_bytes % 256 == 0);
    REPORT("run plan (cuda): kernels for every op but GEMMs, split decode, fp32 logits and partials, 256-aligned weights");
}

/* The kernels' decode step lists a layer's split partials and reduce only where a launch can split
 * (plan_decode_max_launch_splits: at most the reservation for all the planned rows, one split per 64
 * visible keys); that reduce runs only after a launch that split (when_split), and the decode op
 * writes attn itself. The bound holds every launch the rule can choose. Then the argmax, last. */
static void test_run_plan_one_split(void) {
    bool ok = true;
    const int64_t w[4] = {0, 40, 0, 2000};   /* global, window 40 (never 2 splits of 64 keys), global, window 2000 */
    const int r[4] = {0, 1, 2, 3};
    Layout l;
    make_layout(&l, 4, w, r);
    l.model.head_dim = 64;
    /* context 130 at 1 row: 1 split reserved; at 3 rows a lone row may take 3 (130 keys); 3000: 6 and 4 */
    const struct { int64_t context, batch; int reduces; } cases[] = {{60, 1, 0}, {130, 1, 0}, {130, 3, 3}, {3000, 1, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        RunOptions o;
        run_options_init(&l, RUN_TARGET_CUDA, &o);
        o.context = cases[c].context, o.batch = cases[c].batch;
        RunPlan p;
        char err[256];
        CHECK(plan_run(&l, &o, &p, err, sizeof err));
        if (!ok) break;
        const ActPlan *a = &p.decode;
        int reduces = 0;
        for (int i = 0; i < a->nops; i++) {
            const PlanOp *op = &a->op[i];
            if (op->kind == OP_ATTN_DECODE) CHECK(!strcmp(a->tensor[op->out[op->nout - 1]].name, "attn") && (op->nout == 1 || op->nout == 3));
            if (op->kind == OP_ATTN_REDUCE) {
                reduces++;
                CHECK(op->when_split && op[-1].kind == OP_ATTN_DECODE && op[-1].nout == 3);
            } else {
                CHECK(!op->when_split);
            }
            int64_t most = plan_decode_max_launch_splits(layer_history(&l.layer[op->layer >= 0 ? op->layer : 0]),
                                                         p.cg.context, o.batch);
            if (op->kind == OP_ATTN_DECODE) CHECK((most > 1) == (op->nout == 3));
        }
        CHECK(reduces == cases[c].reduces && count_named(a, "part_o", -1) == reduces);
        CHECK(a->op[a->nops - 1].kind == OP_ARGMAX && a->op[a->nops - 1].kernel == p.cg.argmax);
        CHECK(p.prefill.op[p.prefill.nops - 1].kind == OP_ARGMAX && !has_op(&p.prefill, OP_ATTN_REDUCE));
        for (int i = 0; i < l.nlayers; i++)
            for (int64_t rows = 1; rows <= o.batch; rows++)
                for (int64_t live = 1; live <= o.context; live += 7) {   /* a row sees at most its history */
                    const int64_t h = layer_history(&l.layer[i]);
                    DecodeLaunchFigures f = {rows, o.batch, 2, h && h < live ? h : live, h, p.cg.context, 132};
                    CHECK(plan_decode_launch_splits(&f) <=
                          plan_decode_max_launch_splits(layer_history(&l.layer[i]), p.cg.context, o.batch));
                }
        run_plan_free(&p);
    }
    layout_free(&l);
    REPORT("run plan (cuda): decode partials and a reduce only where a launch can split (0, 0, 3, 3 reduces), "
           "the reduce only after a split launch, the argmax last (the prefill's too)");
}

/* A mixture of experts on the cuda target: each op its kernel (the router's bias, the route, the gate
 * and up GEMMs on one kernel, down on another, the activations over the experts' and the shared
 * expert's rows, the combine), the router's logits in fp32; the verifier rejects a kernel of another
 * kind on an expert GEMM. */
static void test_run_plan_cuda_experts(void) {
    bool ok = true;
    Layout l;
    RunPlan p;
    character_ai(&l);
    l.model.head_dim = 64, l.model.experts = 8, l.model.experts_per_token = 2, l.model.moe_bias = true;
    l.model.shared_expert_ffn = 64;
    RunOptions o;
    run_options_init(&l, RUN_TARGET_EMU, &o);
    o.context = 3000, o.batch = 2;
    char err[256];
    CHECK(plan_run(&l, &o, &p, err, sizeof err));
    for (int s = 0; ok && s < 2; s++) {
        const ActPlan *a = run_plan_step(&p, s == 1);
        int seen = 0;
        for (int i = 0; i < a->nops; i++) {
            const PlanOp *op = &a->op[i];
            const char *out = a->tensor[op->out[0]].name;
            int want = op->kind == OP_MOE_ROUTE                                   ? p.cg.moe_route
                       : op->kind == OP_MOE_GEMM && op->weight == WT_EXPERT_DOWN ? p.cg.moe_down
                       : op->kind == OP_MOE_GEMM                                 ? p.cg.moe_gate_up
                       : op->kind == OP_MOE_COMBINE                              ? p.cg.moe_combine
                       : op->weight == WT_ROUTER_BIAS                            ? p.cg.router_bias
                       : !strcmp(out, "expert_act")                              ? p.cg.expert_act
                       : !strcmp(out, "shared_act")                              ? p.cg.shared_act
                                                                                 : -2;
            if (want == -2) continue;
            seen++;
            CHECK(want >= 0 && op->kernel == want);
        }
        CHECK(seen == 8 * l.nlayers);   /* bias, route, gate, up, act, down, combine, shared act */
        for (int t = 0; t < a->ntensors; t++)
            if (!strcmp(a->tensor[t].name, "router") || !strcmp(a->tensor[t].name, "route")) CHECK(a->tensor[t].dtype == DT_FP32);
    }
    CHECK(p.cg.silu_mul == -1 && run_plan_verify(&l, &p, NULL));
    for (int i = 0; ok && i < p.decode.nops; i++)
        if (p.decode.op[i].kind == OP_MOE_GEMM) {
            p.decode.op[i].kernel = p.cg.moe_route;
            CHECK(!run_plan_verify(&l, &p, NULL));
            break;
        }
    run_plan_free(&p);
    layout_free(&l);
    REPORT("run plan (emu) with experts: a kernel of its kind for every expert op, fp32 router logits and route");
}

static void test_run_plan_verifier(void) {
    bool ok = true;
    Layout l;
    RunPlan p;
    test_run_plan_cuda(&p, &l);
    if (!p.has_kernels) return;
    CHECK(run_plan_verify(&l, &p, NULL));
    ActPlan *a = &p.decode;
    PlanOp *rope = NULL;
    for (int i = 0; i < a->nops && !rope; i++)
        if (a->op[i].kind == OP_ROPE_APPEND) rope = &a->op[i];
    int q = rope->in[0], k = rope->in[1];            /* both live at the rope op */
    int64_t off = a->item[k].offset;
    a->item[k].offset = a->item[q].offset;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* two live tensors share bytes */
    a->item[k].offset = off;
    int kernel = rope->kernel;
    rope->kernel = p.cg.rmsnorm;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* a kernel of another kind */
    rope->kernel = p.cg.nkernels;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* a kernel that does not exist */
    rope->kernel = kernel;
    int last = a->item[q].last;
    a->item[q].last = 0;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* read outside its lifetime */
    a->item[q].last = last;
    rope->in[0] = a->ntensors;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* a tensor that does not exist */
    rope->in[0] = q;
    p.weight[1].offset += 256;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* a gap between two weights */
    p.weight[1].offset -= 256;
    p.weights_bytes += 256;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* weights not filling their allocation */
    p.weights_bytes -= 256;
    CHECK(run_plan_verify(&l, &p, NULL));            /* restored */
    p.cache[p.ncaches - 1].v_offset = p.kv_bytes;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* a cache outside the KV allocation */
    p.cache[p.ncaches - 1].v_offset = p.cache[p.ncaches - 1].k_offset;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* K and V overlapping */
    CHECK(p.arena_bytes > 0);
    p.arena_bytes -= 1;
    CHECK(!run_plan_verify(&l, &p, NULL));           /* a tensor past the arena's end */
    run_plan_free(&p);
    layout_free(&l);
    REPORT("run plan verifier: overlapping live tensors, wrong or missing kernels, lifetimes, weights, caches, arena size");
}

int main(void) {
    test_cache_tokens();
    test_run_plan_cuda_experts();
    test_retention_from_readers();
    test_kv_bytes();
    test_weights();
    test_arena_known();
    test_arena_repeated_groups();
    test_arena_property();
    test_arena_verifier_rejects();
    test_activations();
    test_decode_launch_splits();
    test_utf8();
    test_arena_groups_live_at_once();
    test_run_plan_cpu();
    test_run_plan_one_split();
    test_run_plan_verifier();
    return failures ? 1 : 0;
}
