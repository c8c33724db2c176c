/* test_http.c — the pieces of `mixrun serve` below HTTP: sampling, log-probabilities and the
 * logits' adjustments (runtime/serve/sample.c) and the Llama 3 chat template (runtime/tok/chat_template.c). Prints
 * PASS/FAIL lines; exit 1 on failure.
 * Usage: test_http TOKENIZER_WITH_CHAT_TOKENS TOKENIZER_WITHOUT TOKENIZER_OF_LLAMA_3_1 */
#include "chat_template.h"
#include "model.h"
#include "sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails;

static void check(const char *name, bool ok, const char *detail) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (!ok) {
        printf("    %s\n", detail);
        fails++;
    }
}

/* token_logprobs: log(p) of softmax probabilities 0.1..0.4 (logits shifted by 1000: the same but for
 * their float rounding), the top in order with ties by id, cut at the vocabulary and at
 * SAMPLE_MAX_LOGPROBS; ranks with ties; logits far apart stay finite. */
static void test_logprobs(void) {
    float logits[4] = {logf(1) + 1000, logf(2) + 1000, logf(3) + 1000, logf(4) + 1000};
    TokenLogprobs lp;
    token_logprobs(logits, 4, 1, 2, &lp);
    char d[300];
    snprintf(d, sizeof d, "logprob %.17g, top %d: %d %.17g, %d %.17g", lp.logprob, lp.ntop, lp.top_id[0], lp.top_logprob[0],
             lp.top_id[1], lp.top_logprob[1]);
    check("logprobs-are-log-softmax", fabs(lp.logprob - log(0.2)) < 1e-4 && lp.ntop == 2 && lp.top_id[0] == 3 &&
          lp.top_id[1] == 2 && fabs(lp.top_logprob[0] - log(0.4)) < 1e-4 && fabs(lp.top_logprob[1] - log(0.3)) < 1e-4, d);
    float ties[6] = {0, 2, 1, 2, 2, 1};
    token_logprobs(ties, 6, 0, 5, &lp);
    snprintf(d, sizeof d, "top %d %d %d %d %d", lp.top_id[0], lp.top_id[1], lp.top_id[2], lp.top_id[3], lp.top_id[4]);
    check("logprobs-top-ties-by-id", lp.ntop == 5 && lp.top_id[0] == 1 && lp.top_id[1] == 3 && lp.top_id[2] == 4 &&
          lp.top_id[3] == 2 && lp.top_id[4] == 5, d);
    token_logprobs(ties, 6, 0, 9, &lp);
    check("logprobs-top-at-most-the-vocabulary", lp.ntop == 6 && lp.top_id[5] == 0, "ntop != 6");
    int64_t ranks[6];   /* vLLM's: the tokens of logits at least the token's, itself and its ties included */
    for (int32_t t = 0; t < 6; t++) token_logprobs(ties, 6, t, 0, &lp), ranks[t] = lp.rank;
    snprintf(d, sizeof d, "ranks %lld %lld %lld %lld %lld %lld", (long long)ranks[0], (long long)ranks[1], (long long)ranks[2],
             (long long)ranks[3], (long long)ranks[4], (long long)ranks[5]);
    check("logprobs-rank-counts-ties", ranks[0] == 6 && ranks[1] == 3 && ranks[2] == 5 && ranks[3] == 3 && ranks[4] == 3 &&
          ranks[5] == 5, d);
    int64_t V = 1000;
    float *big = xcalloc((size_t)V, sizeof *big);
    for (int64_t i = 0; i < V; i++) big[i] = (float)((i * 7919) % V);   /* a permutation of 0..999 */
    big[0] = -3e38f;
    token_logprobs(big, V, 0, 99, &lp);
    bool ok = lp.ntop == SAMPLE_MAX_LOGPROBS && isfinite(lp.logprob) && lp.logprob < -3e38;
    for (int k = 0; k < lp.ntop; k++) ok &= big[lp.top_id[k]] == (float)(V - 1 - k);
    check("logprobs-top-20-and-finite-far-below", ok, "the top 20 of a permutation, or a finite -3e38");
    free(big);
}

/* Two log-probabilities alike (their unused alternatives aside). */
static bool same_lp(const TokenLogprobs *a, const TokenLogprobs *b) {
    bool same = a->logprob == b->logprob && a->rank == b->rank && a->ntop == b->ntop;
    for (int k = 0; same && k < a->ntop; k++) same = a->top_id[k] == b->top_id[k] && a->top_logprob[k] == b->top_logprob[k];
    return same;
}

/* token_logprobs_rows over 200 rows (threads share them): each row's as token_logprobs gives it
 * alone; with an infinity at row 150 and a NaN at row 90, the first fault is row 90's NaN, and the
 * rows before it are done. */
static void test_logprobs_rows(void) {
    enum { N = 200, V = 300 };
    float *rows = xcalloc((size_t)N * V, sizeof *rows);
    int32_t ids[N];
    uint64_t r = 4;
    for (int64_t i = 0; i < (int64_t)N * V; i++) rows[i] = (float)((splitmix64(&r) >> 40) % 5000) / 300.0f;
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((i * 37) % V);
    TokenLogprobs *got = xcalloc(N, sizeof *got), one;
    bool nan = false, same = true;
    int64_t bad = token_logprobs_rows(rows, N, V, ids, 3, got, &nan);
    for (int i = 0; i < N; i++) {
        token_logprobs(rows + (int64_t)i * V, V, ids[i], 3, &one);
        same &= same_lp(&one, &got[i]);
    }
    check("logprobs-rows-each-as-alone", bad == -1 && same, "a row differs from its own, or a fault was found");
    rows[150 * V + 7] = INFINITY;
    rows[90 * V + 299] = NAN;
    memset(got, 0, N * sizeof *got);
    bad = token_logprobs_rows(rows, N, V, ids, 3, got, &nan);
    same = true;
    for (int i = 0; i < 90; i++) {
        token_logprobs(rows + (int64_t)i * V, V, ids[i], 3, &one);
        same &= same_lp(&one, &got[i]);
    }
    char d[100];
    snprintf(d, sizeof d, "first fault %lld (%s), the rows before done: %d", (long long)bad, nan ? "NaN" : "Inf", same);
    check("logprobs-rows-first-fault", bad == 90 && nan && same, d);
    free(got);
    free(rows);
}

/* adjust_logits: + bias, - frequency x count - presence once counted; a seen token's logit divided by
 * repetition when positive, else multiplied; nothing to adjust: none. */
static void test_adjust(void) {
    float logits[5] = {1, 2, 3, 4, 5};
    int32_t counts[5] = {0, 2, 0, 1, 0}, ids[2] = {0, 4};
    float bias[2] = {10, -100};
    SampleScratch s;
    sample_scratch_init(&s, 5);
    LogitAdjust a = {.bias_id = ids, .bias = bias, .nbias = 2, .frequency = 0.5, .presence = 1.25, .counts = counts};
    const float *got = adjust_logits(&s, logits, &a);
    float want[5] = {11, 2 - 1.0f - 1.25f, 3, 4 - 0.5f - 1.25f, -95};
    bool ok = logit_adjust_any(&a);
    for (int i = 0; i < 5; i++) ok &= got[i] == want[i];
    char d[200];
    snprintf(d, sizeof d, "got %g %g %g %g %g", got[0], got[1], got[2], got[3], got[4]);
    check("adjust-bias-and-penalties", ok, d);
    check("adjust-none-is-nothing", !logit_adjust_any(&(LogitAdjust){0}) && !logit_adjust_any(&(LogitAdjust){.repetition = 1}),
          "an empty LogitAdjust, or a repetition of 1, adjusts");
    float signs[3] = {-2, 3, 4};
    unsigned char seen[3] = {1, 1, 0};
    LogitAdjust r = {.repetition = 2, .seen = seen};
    s.vocab = 3;
    got = adjust_logits(&s, signs, &r);
    snprintf(d, sizeof d, "got %g %g %g", got[0], got[1], got[2]);
    check("adjust-repetition-divides-positive-multiplies-negative", got[0] == -4 && got[1] == 1.5f && got[2] == 4, d);
    sample_scratch_free(&s);
}

/* Probabilities 0.1, 0.2, 0.3, 0.4: draw counts at temperature 1 follow them; top_p cuts them. */
static void test_draws(void) {
    float logits[4] = {logf(1), logf(2), logf(3), logf(4)};
    SampleScratch s;
    sample_scratch_init(&s, 4);
    uint64_t st = 42;
    int count[4] = {0}, n = 40000;
    for (int i = 0; i < n; i++) count[sample_token(&s, logits, &(SampleParams){.temperature = 1.0, .top_p = 1.0}, &st)]++;
    char d[200];
    snprintf(d, sizeof d, "counts %d %d %d %d of %d", count[0], count[1], count[2], count[3], n);
    bool ok = true;
    for (int k = 0; k < 4; k++) ok &= fabs(count[k] / (double)n - 0.1 * (k + 1)) < 0.01;
    check("sample-temperature-1-follows-softmax", ok, d);
    memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++) count[sample_token(&s, logits, &(SampleParams){.temperature = 1.0, .top_p = 0.65}, &st)]++;
    snprintf(d, sizeof d, "counts %d %d %d %d of %d", count[0], count[1], count[2], count[3], n);
    check("sample-top-p-keeps-the-nucleus", !count[0] && !count[1] && fabs(count[3] / (double)n - 4.0 / 7) < 0.01, d);
    bool greedy = true;
    for (int i = 0; i < 100; i++) greedy &= sample_token(&s, logits, &(SampleParams){.temperature = 0.0, .top_p = 0.5}, &st) == 3;
    check("sample-temperature-0-is-greedy", greedy, "a draw at temperature 0 was not the argmax");
    uint64_t a = 7, b = 7;
    bool same = true;
    for (int i = 0; i < 100; i++) same &= sample_token(&s, logits, &(SampleParams){.temperature = 1.5, .top_p = 0.9}, &a) == sample_token(&s, logits, &(SampleParams){.temperature = 1.5, .top_p = 0.9}, &b);
    check("sample-same-seed-same-draws", same, "two states of one seed drew differently");
    sample_scratch_free(&s);
}

/* The same 0.1 .. 0.4: top_k keeps the k most probable, min_p those at least min_p times the most
 * probable, top_p cuts what top_k kept (renormalized), in vLLM's order. */
static void test_cuts(void) {
    float logits[4] = {logf(1), logf(2), logf(3), logf(4)};
    SampleScratch s;
    sample_scratch_init(&s, 4);
    uint64_t st = 5;
    static const struct {
        const char *name;
        SampleParams p;
        double want[4];     /* the probabilities of the draws */
    } cases[] = {
        {"sample-top-k-2", {.temperature = 1, .top_k = 2, .top_p = 1}, {0, 0, 3.0 / 7, 4.0 / 7}},
        {"sample-top-k-past-the-vocabulary", {.temperature = 1, .top_k = 9, .top_p = 1}, {0.1, 0.2, 0.3, 0.4}},
        {"sample-min-p-0.45", {.temperature = 1, .min_p = 0.45, .top_p = 1}, {0, 2.0 / 9, 3.0 / 9, 4.0 / 9}},
        {"sample-top-k-3-then-top-p-0.6-of-theirs", {.temperature = 1, .top_k = 3, .top_p = 0.6}, {0, 0, 3.0 / 7, 4.0 / 7}},
        {"sample-min-p-then-top-k", {.temperature = 1, .min_p = 0.7, .top_k = 3, .top_p = 1}, {0, 0, 3.0 / 7, 4.0 / 7}},
        {"sample-min-p-1-is-the-argmax", {.temperature = 1, .min_p = 1, .top_p = 1}, {0, 0, 0, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int count[4] = {0}, n = 40000;
        for (int i = 0; i < n; i++) count[sample_token(&s, logits, &cases[c].p, &st)]++;
        bool ok = true;
        for (int k = 0; k < 4; k++) ok &= cases[c].want[k] ? fabs(count[k] / (double)n - cases[c].want[k]) < 0.01 : !count[k];
        char d[200];
        snprintf(d, sizeof d, "counts %d %d %d %d of %d", count[0], count[1], count[2], count[3], n);
        check(cases[c].name, ok, d);
    }
    sample_scratch_free(&s);
}

/* Brute force: by probability, then by index. */
static const float *bf_prob;
static int bf_order(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (bf_prob[x] != bf_prob[y]) return bf_prob[x] > bf_prob[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* sample_candidates' set is the one of a full sort (most probable first, ties by index): its first
 * top_k, then their first whose mass reaches top_p of theirs; on logits with many ties (few
 * distinct values), at several cuts. */
static void test_candidates(void) {
    int64_t V = 3000;
    float *logits = xcalloc((size_t)V, sizeof *logits);
    int32_t *order = xcalloc((size_t)V, sizeof *order);
    char *in = xcalloc((size_t)V, 1);
    SampleScratch s;
    sample_scratch_init(&s, V);
    uint64_t r = 11;
    static const SampleParams cuts[] = {
        {.temperature = 1, .top_p = 0.9}, {.temperature = 0.7, .top_p = 0.3}, {.temperature = 1, .top_k = 40, .top_p = 1},
        {.temperature = 1.3, .top_k = 700, .top_p = 0.5}, {.temperature = 1, .min_p = 0.01, .top_k = 2999, .top_p = 0.99},
        {.temperature = 2, .top_k = 1, .top_p = 1}, {.temperature = 1, .top_p = 1e-9},
    };
    int bad = 0;
    char d[200] = "";
    for (int round = 0; round < 20; round++)
        for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
            for (int64_t i = 0; i < V; i++) logits[i] = (float)((splitmix64(&r) >> 40) % (round % 2 ? 9 : 400)) / 10.0f;
            int64_t n = sample_candidates(&s, logits, &cuts[c]);
            bf_prob = s.prob;
            for (int64_t i = 0; i < V; i++) order[i] = (int32_t)i;
            qsort(order, (size_t)V, sizeof *order, bf_order);
            int64_t k = cuts[c].top_k > 0 && cuts[c].top_k < V ? cuts[c].top_k : V, want = 0;
            double kept = 0, cum = 0;
            for (int64_t j = 0; j < k; j++) kept += s.prob[order[j]];
            while (want < k && (want == 0 || cum < cuts[c].top_p * kept)) cum += s.prob[order[want++]];
            memset(in, 0, (size_t)V);
            for (int64_t j = 0; j < want; j++) in[order[j]] = 1;
            bool same = n == want;
            for (int64_t j = 0; same && j < n; j++) same = in[s.index[j]] && (j == 0 || s.index[j] > s.index[j - 1]);
            if (!same && !bad++) snprintf(d, sizeof d, "round %d, cut %zu: %lld candidates, the sort's %lld", round, c, (long long)n, (long long)want);
        }
    check("sample-candidates-are-the-sorts-prefix", !bad, d);
    sample_scratch_free(&s);
    free(in);
    free(order);
    free(logits);
}

/* A large vocabulary: the nucleus found through thresholds is the one of a full sort. */
static void test_nucleus_large(void) {
    int64_t V = 50000;
    float *logits = xcalloc((size_t)V, sizeof *logits);
    uint64_t r = 3;
    for (int64_t i = 0; i < V; i++) logits[i] = (float)((splitmix64(&r) >> 40) % 1000) / 5.0f;
    SampleScratch s;
    sample_scratch_init(&s, V);
    /* The nucleus by brute force: every token's probability, the most probable first. */
    double *p = xcalloc((size_t)V, sizeof *p), total = 0, want, cum = 0, cut = 0;
    int32_t best = model_greedy_token(logits, V);
    for (int64_t i = 0; i < V; i++) total += p[i] = (float)exp((double)logits[i] - logits[best]);
    want = 0.3 * total;
    double *sorted = xcalloc((size_t)V, sizeof *sorted);
    memcpy(sorted, p, (size_t)V * sizeof *p);
    for (int64_t i = 0; i < V && cum < want; i++) {   /* a selection sort of the few on top */
        for (int64_t j = i + 1; j < V; j++)
            if (sorted[j] > sorted[i]) {
                double x = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = x;
            }
        cum += cut = sorted[i];
    }
    uint64_t st = 9;
    bool ok = true;
    for (int i = 0; i < 200; i++) ok &= p[sample_token(&s, logits, &(SampleParams){.temperature = 1.0, .top_p = 0.3}, &st)] >= cut;
    check("sample-top-p-large-vocabulary", ok, "a draw fell outside the nucleus");
    /* top_k 40 of it: the draws are among the 40 most probable (at least the 40th's probability) */
    double kth = 0;
    for (int64_t i = 0; i < V && i < 40; i++) {
        for (int64_t j = i + 1; j < V; j++)
            if (sorted[j] > sorted[i]) {
                double x = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = x;
            }
        kth = sorted[i];
    }
    ok = true;
    for (int i = 0; i < 200; i++) ok &= p[sample_token(&s, logits, &(SampleParams){.temperature = 1.0, .top_k = 40, .top_p = 1}, &st)] >= kth;
    check("sample-top-k-large-vocabulary", ok, "a draw fell outside the 40 most probable");
    sample_scratch_free(&s);
    free(sorted);
    free(p);
    free(logits);
}

static void test_chat(const char *with, const char *without, const char *llama31) {
    char err[600];
    Tokenizer *t = tokenizer_load(with, err, sizeof err), *plain = tokenizer_load(without, err, sizeof err);
    if (!t || !plain) {
        check("chat-tokenizers-load", false, err);
        return;
    }
    /* U+3000 and U+00A0 are white space to Python's strip(), U+200B is not. */
    const char *content = "\xE3\x80\x80\xC2\xA0 Hi\n\t\xE2\x80\x8B";
    ChatMessage m[2] = {{"system", " sys ", 5, NULL}, {"user", content, strlen(content), NULL}};
    Buf out = {0};
    int32_t stop[CHAT_MAX_STOP];
    int nstop = 0;
    bool ok = chat_template_render(NULL, t, m, 2, &out, stop, &nstop, err, sizeof err);
    const char *want = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nsys<|eot_id|><|start_header_id|>user"
                       "<|end_header_id|>\n\nHi\n\t\xE2\x80\x8B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    check("chat-llama3-rendered-and-trimmed", ok && out.len == strlen(want) && !memcmp(out.data, want, out.len),
          ok ? out.data : err);
    check("chat-llama3-stops-at-eot", nstop >= 1 && stop[0] == tokenizer_special_id(t, "<|eot_id|>"), "no <|eot_id|> stop");
    buf_free(&out);
    ChatTemplate *none = chat_template_load(t);   /* no tokenizer_config.json: Llama 3's by hand */
    check("chat-no-config-file-no-template", !none, "a template without tokenizer_config.json");
    chat_template_free(none);
    ChatMessage tool = {"tool", "x", 1, NULL};
    ok = chat_template_render(NULL, t, &tool, 1, &out, stop, &nstop, err, sizeof err);
    check("chat-unknown-role-refused", !ok && strstr(err, "the role 'tool' is not supported"), err);
    buf_free(&out);
    ok = chat_template_render(NULL, plain, m, 1, &out, stop, &nstop, err, sizeof err);
    check("chat-no-template-refused", !ok && strstr(err, "has no special token <|start_header_id|>"), err);
    buf_free(&out);
    Tokenizer *t31 = tokenizer_load(llama31, err, sizeof err);
    ok = t31 && chat_template_render(NULL, t31, m, 1, &out, stop, &nstop, err, sizeof err);
    check("chat-llama31-refused", t31 && !ok && strstr(err, "is Llama 3.1's or later"), err);
    buf_free(&out);
    tokenizer_free(t31);
    tokenizer_free(t);
    tokenizer_free(plain);
}

/* check() named chat-WHAT-KEY. */
static void check_of(const char *what, const char *key, bool ok, const char *msg) {
    char name[100];
    snprintf(name, sizeof name, "chat-%s-%s", what, key);
    check(name, ok, msg);
}

/* dir: a ChatML tokenizer.json with tokenizer_config.json (tests/http/run.sh), or with
 * chat_template.jinja too (which wins): its template rendered, the turn ended at eos_token <|im_end|>. */
static void test_config_template(const char *dir, const char *what) {
    char err[600];
    Tokenizer *t = tokenizer_load(dir, err, sizeof err);
    ChatTemplate *ct = t ? chat_template_load(t) : NULL;
    check_of(what, "loads", ct && !chat_template_error(ct), ct ? chat_template_error(ct) : err);
    if (!ct || chat_template_error(ct)) {
        chat_template_free(ct);
        tokenizer_free(t);
        return;
    }
    ChatMessage m[2] = {{"system", "S", 1, NULL}, {"tool", "T", 1, NULL}};
    Buf out = {0};
    int32_t stop[CHAT_MAX_STOP];
    int nstop = 0;
    bool ok = chat_template_render(ct, t, m, 2, &out, stop, &nstop, err, sizeof err);
    const char *want = "<|im_start|>system\nS<|im_end|>\n<|im_start|>tool\nT<|im_end|>\n<|im_start|>assistant\n";
    check_of(what, "rendered", ok && out.len == strlen(want) && !memcmp(out.data, want, out.len),
          ok ? out.data : err);
    check_of(what, "stops-at-eos", nstop == 1 && stop[0] == tokenizer_special_id(t, "<|im_end|>"),
          "the stop ids are not {<|im_end|>}");
    buf_free(&out);
    chat_template_free(ct);
    tokenizer_free(t);
}

/* dir: as JINJA_FILE_DIR, its chat_template.jinja with a NUL byte in the middle: refused, where the
 * template would otherwise end at it. */
static void test_jinja_file_nul(const char *dir) {
    char err[600];
    Tokenizer *t = tokenizer_load(dir, err, sizeof err);
    ChatTemplate *ct = t ? chat_template_load(t) : NULL;
    const char *why = ct ? chat_template_error(ct) : err;
    check("chat-jinja-file-nul-refused", ct && why && strstr(why, "chat_template.jinja' holds a NUL byte"),
          why ? why : "loaded");
    chat_template_free(ct);
    tokenizer_free(t);
}

/* dir: the Llama 3 tokenizer with tokenizer_config.json holding Llama 3's template: rendered by
 * jinja.c, the same text and stop ids as the template by hand. */
static void test_llama3_config(const char *dir) {
    char err[600];
    Tokenizer *t = tokenizer_load(dir, err, sizeof err);
    ChatTemplate *ct = t ? chat_template_load(t) : NULL;
    check("chat-llama3-config-loads", ct && !chat_template_error(ct), ct ? chat_template_error(ct) : err);
    if (ct && !chat_template_error(ct)) {
        ChatMessage m[3] = {{"system", " S\n", 3, NULL}, {"user", "\xE3\x80\x80u", 4, NULL}, {"assistant", "a ", 2, NULL}};
        Buf a = {0}, b = {0};
        int32_t sa[CHAT_MAX_STOP], sb[CHAT_MAX_STOP];
        int na = 0, nb = 0;
        bool ok = chat_template_render(ct, t, m, 3, &a, sa, &na, err, sizeof err) &&
                  chat_template_render(NULL, t, m, 3, &b, sb, &nb, err, sizeof err);
        check("chat-llama3-config-equals-by-hand", ok && a.len == b.len && !memcmp(a.data, b.data, a.len), ok ? a.data : err);
        bool same = na == nb;
        for (int i = 0; i < na && same; i++) same = sa[i] == sb[i];
        check("chat-llama3-config-stops-as-by-hand", ok && same, "the stop ids differ");
        buf_free(&a);
        buf_free(&b);
    }
    chat_template_free(ct);
    tokenizer_free(t);
}

/* The text of the last message left open (continue_final_message) of the template by hand, ending
 * as want ends; true when it does. */
static bool open_ends(const Tokenizer *t, const char *last, const char *want, char *err, size_t errlen) {
    ChatMessage m[2] = {{"user", "Hi", 2, NULL}, {"assistant", last, strlen(last), NULL}};
    ChatRender how = {.continue_final_message = true};
    Buf out = {0};
    int32_t stop[CHAT_MAX_STOP];
    int nstop = 0;
    bool ok = chat_template_render_as(NULL, t, m, 2, &how, &out, stop, &nstop, err, errlen);
    ok = ok && out.len >= strlen(want) && !memcmp(out.data + out.len - strlen(want), want, strlen(want));
    if (!ok && out.data) snprintf(err, errlen, "%s", out.data);
    buf_free(&out);
    return ok;
}

/* continue_final_message (the texts transformers' apply_chat_template gives): the content trimmed as
 * Python's strip() trims (U+3000, U+00A0) and cut there, an empty one, and templates that drop the last message (the tag never rendered) or never
 * read a content: refused. with: the tokenizer with Llama 3's chat tokens; drop, blind: its
 * tokenizer.json beside templates of each kind (tests/http/run.sh). */
static void test_open(const char *with, const char *drop, const char *blind) {
    char err[600] = "";
    Tokenizer *t = tokenizer_load(with, err, sizeof err);
    if (!t) {
        check("chat-open-tokenizer-loads", false, err);
        return;
    }
    check("chat-open-trimmed", open_ends(t, "\xE3\x80\x80 So it is \xC2\xA0", "<|end_header_id|>\n\nSo it is", err, sizeof err), err);
    /* the tag alone, trimmed of its space: the white space before it goes too (transformers' text) */
    check("chat-open-empty", open_ends(t, "", "<|eot_id|><|start_header_id|>assistant<|end_header_id|>", err, sizeof err), err);
    tokenizer_free(t);
    const char *dirs[2] = {drop, blind}, *want[2] = {"the final message does not appear in the chat",
                                                     "the chat template never reads a message's content"};
    for (int k = 0; k < 2; k++) {
        Tokenizer *tk = tokenizer_load(dirs[k], err, sizeof err);
        ChatTemplate *ct = tk ? chat_template_load(tk) : NULL;
        ChatMessage m[2] = {{"user", "Hi", 2, NULL}, {"assistant", "So", 2, NULL}};
        ChatRender how = {.continue_final_message = true};
        Buf out = {0};
        int32_t stop[CHAT_MAX_STOP];
        int nstop = 0;
        bool ok = ct && !chat_template_error(ct) && chat_template_render_as(ct, tk, m, 2, &how, &out, stop, &nstop, err, sizeof err);
        check(k ? "chat-open-template-without-content-refused" : "chat-open-template-dropping-it-refused",
              ct && !ok && strstr(err, want[k]), ct ? err : "no template");
        buf_free(&out);
        chat_template_free(ct);
        tokenizer_free(tk);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--threads")) {   /* under taskset or MIXC_HOST_THREADS (run.sh) */
        char got[32];
        snprintf(got, sizeof got, "%d", sample_threads());
        check("sample-threads", !strcmp(got, argv[2]), got);
        return fails != 0;
    }
    if (argc != 10) {
        fprintf(stderr, "usage: test_http TOKENIZER_WITH_CHAT_TOKENS TOKENIZER_WITHOUT TOKENIZER_OF_LLAMA_3_1 CHATML_DIR "
                        "LLAMA3_CONFIG_DIR JINJA_FILE_DIR JINJA_FILE_WITH_NUL_DIR DROPPING_TEMPLATE_DIR CONTENTLESS_TEMPLATE_DIR\n");
        return 2;
    }
    test_draws();
    test_cuts();
    test_candidates();
    test_logprobs();
    test_logprobs_rows();
    test_adjust();
    test_nucleus_large();
    test_chat(argv[1], argv[2], argv[3]);
    test_config_template(argv[4], "config-template");
    test_config_template(argv[6], "jinja-file");
    test_llama3_config(argv[5]);
    test_jinja_file_nul(argv[7]);
    test_open(argv[1], argv[8], argv[9]);
    return fails != 0;
}
