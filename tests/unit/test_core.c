/* test_core.c — unit tests of the shared core: arena, files, checked arithmetic, the layout
 * builder and its verifier, the loader with overrides, the option parser, the JSON writer against
 * jansson. Prints PASS/FAIL per test. */
#include "codegen.h"
#include "mixc.h"
#include "options.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"

static void test_arena(void) {
    bool ok = true;
    Arena a = {0};
    char *p[1000];
    for (int i = 0; i < 1000; i++) {
        p[i] = arena_alloc(&a, (size_t)(i * 37 % 5000) + 1);
        CHECK(((uintptr_t)p[i] & 15) == 0);
        CHECK(p[i][0] == 0);
        p[i][0] = (char)i;
    }
    for (int i = 0; i < 1000; i++) CHECK(p[i][0] == (char)i);
    char *big = arena_alloc(&a, 1 << 20);  /* larger than a block */
    CHECK(big && big[(1 << 20) - 1] == 0);
    CHECK(strcmp(arena_strndup(&a, "hello world", 5), "hello") == 0);
    arena_free(&a);
    CHECK(a.head == NULL);
    REPORT("arena");
}

static void test_checked_arithmetic(void) {
    bool ok = true;
    int64_t r;
    CHECK(mul_ok(1 << 20, 1 << 20, &r) && r == (int64_t)1 << 40);
    CHECK(!mul_ok(INT64_C(1) << 32, INT64_C(1) << 31, &r));  /* 2^63 */
    CHECK(!mul_ok(INT64_C(1) << 31, INT64_C(1) << 31 | 1, &r)); /* just above 2^62 */
    CHECK(mul_ok(INT64_C(1) << 31, INT64_C(1) << 31, &r) && r == MIXC_MAX_VALUE);
    CHECK(!add_ok(MIXC_MAX_VALUE, 1, &r));
    CHECK(add_ok(-5, 3, &r) && r == -2);
    REPORT("checked arithmetic");
}

static void test_files(void) {
    bool ok = true;
    char dir[] = "/tmp/mixc-unit-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    CHECK(write_file_atomic(path, "abc\0def", 7));
    size_t len = 0;
    char *data = read_file(path, &len);
    CHECK(data && len == 7 && memcmp(data, "abc\0def", 7) == 0 && data[7] == 0);
    free(data);
    /* A file of pieces (an empty one among them) is their concatenation, replacing the old file. */
    const OutPiece pieces[] = {{"ab", 2}, {"", 0}, {"c\0d", 3}, {"ef", 2}};
    CHECK(write_pieces_atomic(path, pieces, 4));
    data = read_file(path, &len);
    CHECK(data && len == 7 && memcmp(data, "abc\0def", 7) == 0);
    free(data);
    /* A failed write leaves the old file intact and no temporary behind. */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing-dir/out.txt", dir);
    CHECK(!write_file_atomic(bad, "x", 1));
    errno = 0;
    CHECK(read_file(bad, &len) == NULL && errno == ENOENT);
    unlink(path);
    CHECK(rmdir(dir) == 0);  /* empty: no temporary left behind */
    REPORT("files");
}

/* SIGTERM while an output's data is being written ends the program at once and leaves neither the
 * output nor its temporary: the child writes 64 MiB (tens of ms with the fsync) and a timer sends it
 * SIGTERM 5 ms after the write began. (Were signals held for the whole write, the child would end
 * only after the rename, with the output in place.) */
static void test_signal_during_write(void) {
    bool ok = true;
    char dir[] = "/tmp/mixc-unit-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/big.bin", dir);
    size_t len = (size_t)64 << 20;
    pid_t pid = fork();
    if (pid == 0) {
        char *data = malloc(len);
        if (!data) _exit(3);
        memset(data, 1, len);
        timer_t timer;
        struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGTERM};
        struct itimerspec at = {.it_value = {.tv_nsec = 5 * 1000 * 1000}};
        if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0 || timer_settime(timer, 0, &at, NULL) != 0) _exit(4);
        write_file_atomic(path, data, len);
        _exit(0);   /* the signal did not end the write */
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    CHECK(access(path, F_OK) != 0);   /* no output */
    unlink(path);
    CHECK(rmdir(dir) == 0);           /* and no temporary */
    REPORT("files: SIGTERM during a write removes the temporary and ends the program at once");
}

static void test_shown_text(void) {
    bool ok = true;
    char out[SHOWN_MAX];
    CHECK(!strcmp(shown_text("a\nb\x1b[2J\x7f", 8, out), "a\\u000ab\\u001b[2J\\u007f"));
    CHECK(!strcmp(shown_text("x\xc2\x85y\xc3\xa9", 6, out), "x\\u0085y\xc3\xa9"));   /* C1 escaped, é kept */
    CHECK(!strcmp(shown_text("\xc2", 1, out), "\\xc2"));                              /* cut: no read past len */
    CHECK(!strcmp(shown_text("a\xff\x80z\xf0\x9f\x98\x80", 8, out), "a\\xff\\x80z\xf0\x9f\x98\x80"));   /* not UTF-8; an emoji */
    char big[400];
    memset(big, 'a', sizeof big);
    memcpy(big + 99, "\xe2\x82\xac", 3);   /* a character across the limit is kept whole */
    CHECK(strlen(shown_text(big, sizeof big, out)) == 102 + 3 && !strcmp(out + 99, "\xe2\x82\xac..."));
    memset(big + 99, 0x80, sizeof big - 99);   /* stray continuation bytes: escaped, cut all the same */
    CHECK(!strcmp(shown_text(big, sizeof big, out) + 99, "\\x80..."));
    memset(big, 0x1b, sizeof big);            /* the most it writes */
    CHECK(strlen(shown_text(big, sizeof big, out)) == SHOWN_BYTES * 6 + 3 && strlen(out) < SHOWN_MAX);
    REPORT("shown_text: control characters and bytes that are not UTF-8 escaped, cut at a character boundary, bounded");
}

static void test_fmt_bytes(void) {
    bool ok = true;
    CHECK(strcmp(fmt_bytes(512), "512 B") == 0);
    CHECK(strcmp(fmt_bytes(1536), "1.50 KiB") == 0);
    CHECK(strcmp(fmt_bytes(3.0 * 1024 * 1024 * 1024), "3.00 GiB") == 0);
    REPORT("fmt_bytes");
}

/* A small layout built by hand: 0 global, 1 window 4, 2 reads 1 with window 8, 3 global reads 0. */
static void make_layout(Layout *l) {
    memset(l, 0, sizeof *l);
    model_header_defaults(&l->model);
    l->model.name = xstrdup("unit");
    l->model.layers = 4;
    l->nlayers = 4;
    l->layer = xcalloc(4, sizeof(LayerInfo));
    int64_t windows[4] = {0, 4, 8, 0};
    int reads[4] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++) l->layer[i] = (LayerInfo){.index = i, .window = windows[i], .reads = reads[i]};
    layout_build_caches(l);
}

static void test_layout_caches(void) {
    bool ok = true;
    Layout l;
    make_layout(&l);
    CHECK(l.ncaches == 2);
    CHECK(l.cache[0].owner == 0 && l.cache[0].nreaders == 1 && l.cache[0].readers[0] == 3);
    CHECK(l.cache[0].retention == 0);
    CHECK(l.cache[1].owner == 1 && l.cache[1].nreaders == 1 && l.cache[1].readers[0] == 2);
    CHECK(l.cache[1].retention == 8);  /* the wider reader forces it */
    CHECK(l.layer[2].cache == 1 && l.layer[3].cache == 0);
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(verify_layout(&l, devnull));
    layout_free(&l);
    REPORT("layout caches");

    /* The verifier catches each kind of broken invariant. */
    ok = true;
    struct { const char *what; void (*breakit)(Layout *); } cases[] = {
        {"reader of a later layer", NULL}, {"reader of a reader", NULL}, {"wrong cache id", NULL},
        {"wrong retention", NULL},
    };
    for (int c = 0; c < 4; c++) {
        make_layout(&l);
        switch (c) {
        case 0: l.layer[1].reads = 2; break;
        case 1: l.layer[3].reads = 2; break;
        case 2: l.layer[2].cache = 0; break;
        case 3: l.cache[1].retention = 4; break;
        }
        if (verify_layout(&l, devnull)) {
            printf("  verifier missed: %s\n", cases[c].what);
            ok = false;
        }
        layout_free(&l);
    }
    fclose(devnull);
    REPORT("layout verifier catches broken invariants");
}

static void test_load_layout(void) {
    bool ok = true;
    char path[] = "/tmp/mixc-unit-XXXXXX.mix";
    int fd = mkstemps(path, 4);
    const char *src = "model \"m\" { layers = 3; hidden = 64; heads = 4; ffn = 128; vocab = 100 }\n"
                      "attention local = window 16\n"
                      "layers 0..2 : pattern [local, local reads prev, global]\n";
    CHECK(fd >= 0 && write(fd, src, strlen(src)) == (ssize_t)strlen(src));
    close(fd);
    Layout l;
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(load_layout(path, &l, devnull) == 0);
    CHECK(l.nlayers == 3 && l.ncaches == 2);
    CHECK(l.layer[0].window == 16 && l.layer[1].reads == 0 && l.layer[2].window == 0);
    CHECK(l.model.head_dim == 16 && l.model.kv_heads == 4 && l.model.chunk == 512);
    CHECK(l.layer[0].kind_name && strcmp(l.layer[0].kind_name, "local") == 0);
    layout_free(&l);
    CHECK(load_layout("/nonexistent/x.mix", &l, devnull) == 2);
    unlink(path);
    fclose(devnull);
    REPORT("load_layout");
}

static void test_load_with_sets(void) {
    bool ok = true;
    const char *src = "model \"m\" { layers = 2; hidden = 64; heads = 4; ffn = 128; vocab = 100 }\n"
                      "layers 0..1 : pattern [window 16, global]\n";
    const char *sets[] = {"context=4K", "window=8", "hidden=128"};
    LoadOptions opt = {.sets = sets, .nsets = 3};
    FILE *devnull = fopen("/dev/null", "w");
    Layout l;
    CHECK(load_layout_text("m.mix", src, strlen(src), &opt, &l, devnull) == 0);
    CHECK(l.model.context == 4096 && l.model.hidden == 128 && l.layer[0].window == 8 && l.layer[1].window == 0);
    layout_free(&l);
    const char *bad[] = {"hidden"};
    opt = (LoadOptions){.sets = bad, .nsets = 1};
    CHECK(load_layout_text("m.mix", src, strlen(src), &opt, &l, devnull) == 2 && l.layer == NULL);
    const char *invalid[] = {"heads=3"};
    opt = (LoadOptions){.sets = invalid, .nsets = 1};
    CHECK(load_layout_text("m.mix", src, strlen(src), &opt, &l, devnull) == 1 && l.layer == NULL);
    fclose(devnull);
    char buf[ATTN_TEXT_MAX];
    CHECK(!strcmp(attn_text(0, 0, buf), "global") && !strcmp(attn_text(4096, 0, buf), "window 4096"));
    CHECK(!strcmp(attn_text(0, 8192, buf), "chunked 8192"));
    REPORT("load_layout_text with --set overrides; attn_text");
}

typedef struct {
    int64_t count;
    CountList counts;
    StringList sets;
    const char *word;
    int choice;
    bool flag;
} TestOptions;

static const OptSpec test_options[] = {
    OPT(TestOptions, count, OPT_COUNT, "--count", .min = 0, .max = 1 << 20),
    OPT(TestOptions, counts, OPT_COUNTS, "--counts"),
    OPT(TestOptions, sets, OPT_STRINGS, "--set"),
    OPT(TestOptions, word, OPT_WORD, "--word", .choices = "a|bb"),
    OPT(TestOptions, choice, OPT_CHOICE, "--choice", .choices = "x|y|z"),
    OPT(TestOptions, flag, OPT_FLAG, "--flag", .alias = "-f"),
};
static const OptCommand test_command = {.prog = "t", .usage = "t", OPT_TABLE(test_options), .max_args = -1};

/* opt_parse on a space-separated command line; stderr silenced. */
static int parse_line(const char *line, TestOptions *o, StringList *args) {
    static char copy[256];
    char *argv[32] = {"t"};
    int argc = 1;
    snprintf(copy, sizeof copy, "%s", line);
    for (char *save, *tok = strtok_r(copy, " ", &save); tok && argc < 31; tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    memset(o, 0, sizeof *o);
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    int rc = opt_parse(&test_command, argc, argv, o, args);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(null);
    return rc;
}

static void test_options_parser(void) {
    bool ok = true;
    int64_t v;
    CHECK(opt_parse_count("1_000", 1, 2000, &v) && v == 1000);
    CHECK(opt_parse_count("4K", 1, 1 << 20, &v) && v == 4096 && opt_parse_count("1g", 1, INT64_MAX, &v) && v == 1 << 30);
    CHECK(!opt_parse_count("0", 1, 10, &v) && !opt_parse_count("11", 1, 10, &v) && !opt_parse_count("_1", 0, 10, &v));
    CHECK(!opt_parse_count("", 0, 10, &v) && !opt_parse_count("1KB", 0, 1 << 20, &v) && !opt_parse_count("-1", -5, 5, &v));
    CHECK(!opt_parse_count("99999999999999999999", 0, INT64_MAX, &v) && !opt_parse_count("9999999999G", 0, INT64_MAX, &v));
    TestOptions o;
    StringList args;
    CHECK(parse_line("--count=2K in --counts 1,2K,3M --set a=1 --set=b=2 -f --word bb --choice=z - x", &o, &args) == OPT_GO);
    CHECK(o.count == 2048 && o.counts.n == 3 && o.counts.v[1] == 2048 && o.counts.v[2] == 3 << 20);
    CHECK(o.sets.n == 2 && !strcmp(o.sets.v[1], "b=2") && o.flag && !strcmp(o.word, "bb") && o.choice == 2);
    CHECK(args.n == 3 && !strcmp(args.v[0], "in") && !strcmp(args.v[1], "-") && !strcmp(args.v[2], "x"));
    opt_free(&test_command, &o, &args);
    const char *bad[] = {"--count", "--count 2M", "--counts 1,,2", "--counts 1,", "--word c", "--choice",
                         "--flag=1", "--nope", "--set=", "-x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse_line(bad[i], &o, &args);
        if (rc != 2) printf("  '%s': status %d, expected 2\n", bad[i], rc), ok = false;
        opt_free(&test_command, &o, &args);
    }
    CHECK(parse_line("-- --count", &o, &args) == OPT_GO && args.n == 1 && o.count == 0);
    opt_free(&test_command, &o, &args);
    REPORT("option parser: counts with K/M/G, --opt=value, lists, choices, usage errors");
}

/* ---- the JSON writer: byte-identical to json_dumps(JSON_INDENT(2) | JSON_PRESERVE_ORDER) */

/* Whether the writer's text in b is what jansson writes for j (which this call releases). */
static bool same_as_jansson(json_t *j, const Buf *b) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    bool same = s && b->data && strcmp(s, b->data) == 0;
    if (!same) printf("  jansson: %s\n  writer:  %s\n", s ? s : "(null)", b->data ? b->data : "(null)");
    free(s);
    json_decref(j);
    return same;
}

/* {s: [s], "k": s}: s as a key and as values, nested. */
static bool string_matches(const char *s) {
    Buf b = {0};
    JsonWriter w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, s);
    jw_array_begin(&w);
    jw_string(&w, s);
    jw_array_end(&w);
    jw_member_string(&w, "k", s);
    jw_object_end(&w);
    json_t *j = json_pack("{s:[s], s:s}", s, s, "k", s);
    bool same = !w.failed && j && same_as_jansson(j, &b);
    buf_free(&b);
    return same;
}

/* A string jansson refuses (not UTF-8) fails the writer, as a key and as a value. */
static bool string_refused(const char *s) {
    Buf b = {0};
    JsonWriter key, value;
    jw_init(&key, &b);
    jw_object_begin(&key);
    jw_key(&key, s);
    jw_init(&value, &b);
    jw_string(&value, s);
    buf_free(&b);
    json_t *j = json_string(s);
    json_decref(j);
    return key.failed && value.failed && j == NULL;
}

static bool real_matches(double v) {
    Buf b = {0};
    JsonWriter w;
    jw_init(&w, &b);
    jw_array_begin(&w);
    jw_real(&w, v);
    jw_real(&w, -v);
    jw_array_end(&w);
    bool same = same_as_jansson(json_pack("[f, f]", v, -v), &b);
    buf_free(&b);
    return same;
}

/* Empty and nested containers, every scalar, and nesting deeper than the indent's run of spaces. */
static bool structure_matches(void) {
    Buf b = {0};
    JsonWriter w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "o");
    jw_object_begin(&w);
    jw_object_end(&w);
    jw_key(&w, "a");
    jw_array_begin(&w);
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_object_begin(&w);
    jw_key(&w, "n");
    jw_null(&w);
    jw_member_bool(&w, "t", true);
    jw_member_bool(&w, "f", false);
    jw_member_int(&w, "min", INT64_MIN);
    jw_member_int(&w, "max", INT64_MAX);
    jw_member_int(&w, "zero", 0);
    jw_object_end(&w);
    jw_array_end(&w);
    jw_key(&w, "deep");
    for (int d = 0; d < 45; d++) jw_array_begin(&w);
    jw_int(&w, -7);
    for (int d = 0; d < 45; d++) jw_array_end(&w);
    jw_object_end(&w);
    json_t *deep = json_integer(-7);
    for (int d = 0; d < 45; d++) deep = json_pack("[o]", deep);
    json_t *j = json_pack("{s:{}, s:[[], {s:n, s:b, s:b, s:I, s:I, s:I}], s:o}", "o", "a", "n", "t", 1, "f", 0, "min",
                          (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX, "zero", (json_int_t)0, "deep", deep);
    bool same = !w.failed && same_as_jansson(j, &b);
    buf_free(&b);
    return same;
}

static void test_json_writer(void) {
    bool ok = true;
    CHECK(structure_matches());
    for (int c = 1; c < 128; c++) {
        char s[4] = {'a', (char)c, 'b', 0};
        if (!string_matches(s)) printf("  byte 0x%02x\n", c), ok = false;
    }
    const char *utf8[] = {"", "\xc3\xa9t\xc3\xa9", "\xe2\x80\xa8 \xef\xbf\xbf", "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf",
                          "\x7f\x1f\"\\/"};
    for (size_t i = 0; i < sizeof utf8 / sizeof *utf8; i++) CHECK(string_matches(utf8[i]));
    const char *bad[] = {"\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "x\xe2\x82", "\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(string_refused(bad[i]));
    const double reals[] = {10000.0, 1e6, 0.5, 0.1, 1e-5, 1e-6, 2.5e-7, 1e16, 1e17, 1e300, 1e-300, 5e-324,
                            2.2250738585072014e-308, 1.7976931348623157e308, 123456789012345678.0, 0.0, 1.0 / 3};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) CHECK(real_matches(reals[i]));
    uint64_t x = 88172645463325252u;   /* xorshift64: doubles from every exponent */
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (isfinite(v) && !real_matches(v)) {
            ok = false;
            break;
        }
    }
    REPORT("json writer: the text jansson writes (strings, escapes, UTF-8, reals, integers, nesting)");
}

/* rope_table against numbers recomputed by a plain Python transcription of transformers'
 * _compute_llama3_parameters and _compute_yarn_parameters (math only, rounded to fp32). */
static void test_rope_tables(void) {
    bool ok = true;
    ModelHeader m;
    model_header_defaults(&m);
    m.head_dim = 128, m.rope_theta = 500000;   /* Llama 3.1 8B */
    m.rope_scaling = (RopeScaling){ROPE_LLAMA3, .factor = 8, .low_freq_factor = 1, .high_freq_factor = 4,
                                   .original_context = 8192};
    static const struct { int k; float want; } llama3[] = {
        {0, 1.0f}, {1, 0.8146172165870667f}, {20, 0.016560440883040428f}, {40, 3.428102354519069e-05f},
        {45, 1.2297638932068367e-05f}, {46, 1.0017868589784484e-05f}, {47, 8.160728611983359e-06f},
        {48, 6.647869668086059e-06f}, {50, 4.411534519022098e-06f}, {63, 3.068925877869333e-07f}};
    float inv[64], scale = 0;
    LayerRope header = {0}, nope = {.nope = true};
    CHECK(rope_table(&m, &header, inv, &scale) && scale == 1.0f);
    for (size_t i = 0; i < sizeof llama3 / sizeof llama3[0]; i++)
        CHECK(fabsf(inv[llama3[i].k] - llama3[i].want) <= 1e-7f * llama3[i].want);
    m.rope_theta = 1e6;   /* Qwen2.5's yarn: factor 4, original 32768 (ramp over pairs 23..40) */
    m.rope_scaling = (RopeScaling){ROPE_YARN, .factor = 4, .original_context = 32768, .beta_fast = 32,
                                   .beta_slow = 1, .attention_factor = 0.1 * log(4.0) + 1, .truncate = true};
    static const struct { int k; float want; } yarn[] = {
        {0, 1.0f}, {10, 0.11547819525003433f}, {20, 0.013335213996469975f}, {30, 0.0010643609566614032f},
        {40, 4.4456985051510856e-05f}, {63, 3.102344408034696e-07f}};
    CHECK(rope_table(&m, &header, inv, &scale) && fabsf(scale - 1.138629436111989f) < 1e-7f);
    for (size_t i = 0; i < sizeof yarn / sizeof yarn[0]; i++)
        CHECK(fabsf(inv[yarn[i].k] - yarn[i].want) <= 1e-7f * yarn[i].want);
    /* gpt-oss's yarn (head_dim 64 there; 128 here): truncate false, the ramp over pairs 16.2..34.8 */
    m.rope_theta = 150000;
    m.rope_scaling = (RopeScaling){ROPE_YARN, .factor = 32, .original_context = 4096, .beta_fast = 32,
                                   .beta_slow = 1, .attention_factor = 0.1 * log(32.0) + 1, .truncate = false};
    static const struct { int k; float want; } untruncated[] = {
        {0, 1.0f}, {10, 0.15532298386096954f}, {17, 0.040391240268945694f}, {18, 0.031705696135759354f},
        {20, 0.019334999844431877f}, {30, 0.00105260219424963f}, {36, 3.830881178146228e-05f},
        {40, 1.818833698052913e-05f}, {63, 2.50977734594926e-07f}};
    CHECK(rope_table(&m, &header, inv, &scale) && fabsf(scale - 1.3465735902799727f) < 1e-7f);
    for (size_t i = 0; i < sizeof untruncated / sizeof untruncated[0]; i++)   /* its ramp is fp32: one ulp */
        CHECK(fabsf(inv[untruncated[i].k] - untruncated[i].want) <= 0x1p-23f * untruncated[i].want);
    m.rope_scaling.truncate = true;   /* transformers' 0.04002884030342102 at pair 17 */
    CHECK(rope_table(&m, &header, inv, &scale) && fabsf(inv[17] - 0.04002884030342102f) <= 1e-7f * inv[17]);
    LayerRope local = {.theta = 10000};   /* a kind's own base: plain, unscaled */
    CHECK(rope_table(&m, &local, inv, &scale) && scale == 1.0f && inv[1] == (float)pow(10000, -2.0 / 128));
    CHECK(!rope_table(&m, &nope, inv, &scale));
    REPORT("rope_table: llama3 and yarn (truncated or not) inverse frequencies equal transformers'");
}

/* Chunked layers: a chunked C mask reaches C keys back (its own included), like window C; a cache
 * keeps the furthest its owner and readers reach, and a layer is never both windowed and chunked. */
static void test_chunked_retention(void) {
    bool ok = true;
    ModelHeader m;
    model_header_defaults(&m);
    m.name = xstrdup("unit");
    m.layers = 4;
    int64_t window[4] = {4, 0, 0, 2}, chunked[4] = {0, 16, 8, 0};
    int reads[4] = {0, 0, 2, 2};   /* chunked 16 reads window 4; window 2 reads chunked 8 */
    Layout l;
    layout_from_arrays(&l, &m, 4, window, chunked, reads);
    CHECK(layer_history(&l.layer[1]) == 16 && layer_history(&l.layer[3]) == 2);
    CHECK(l.ncaches == 2 && l.cache[0].retention == 16 && l.cache[1].retention == 8);
    FILE *devnull = fopen("/dev/null", "w");
    CHECK(verify_layout(&l, devnull));
    char kinds[96];
    CHECK(!strcmp(layer_kinds_text(&l, false, kinds, sizeof kinds), "0 global, 2 sliding, 2 chunked"));
    CHECK(!strcmp(layer_kinds_text(&l, true, kinds, sizeof kinds), "0 global, 1 sliding, 1 chunked"));
    l.layer[1].window = 3;   /* both: invalid */
    CHECK(!verify_layout(&l, devnull));
    fclose(devnull);
    layout_free(&l);
    REPORT("chunked retention");
}

/* Known answers of the occupancy calculator's rules (register allocation per warp in 256s, 1 KB of
 * shared memory reserved per block, in 128-byte units; the SM's warp and block limits). */
static void test_arch_occupancy(void) {
    bool ok = true;
    /* sm_90, 128 threads, 48 registers (1536 a warp: 42 warps), 10288 bytes (11392 a block) */
    ArchOccupancy o = codegen_arch_occupancy("sm_90", 128, 48, 10288);
    CHECK(o.by_threads == 16 && o.by_registers == 10 && o.by_smem == 20 && o.blocks == 10);
    o = codegen_arch_occupancy("sm_80", 128, 128, 0);   /* 4096 registers a warp: 16 warps */
    CHECK(o.by_registers == 4 && o.blocks == 4);
    o = codegen_arch_occupancy("sm_80", 128, 56, 37760);   /* 38784 a block of 167936: 4 */
    CHECK(o.by_smem == 4 && o.by_registers == 9 && o.blocks == 4);
    o = codegen_arch_occupancy("sm_86", 1024, 16, 0);   /* 48 warps an SM: one block of 32 */
    CHECK(o.by_threads == 1 && o.blocks == 1);
    o = codegen_arch_occupancy("sm_90", 32, 16, 0);     /* the SM's 32-block limit */
    CHECK(o.by_threads == 32 && o.blocks == 32);
    CHECK(codegen_arch_occupancy("sm_90", 128, 32, 232449).blocks == 0);   /* over the opt-in limit */
    CHECK(codegen_arch_occupancy("sm_75", 128, 32, 0).blocks == 0);        /* unknown arch */
    REPORT("arch occupancy: blocks per SM by threads, registers and shared memory");
}

/* The pipeline split against vLLM's get_pp_indices written out: nlayers / pp a stage, then one more
 * on each of partitions[-2] .. partitions[-(remainder + 1)]. */
static void test_pipeline_split(void) {
    bool ok = true;
    int part[80];
    for (int n = 1; n <= 70 && ok; n++)
        for (int pp = 1; pp <= n && ok; pp++) {
            for (int s = 0; s < pp; s++) part[s] = n / pp;
            for (int i = 2; i < n % pp + 2; i++) part[pp - i]++;
            for (int s = 0, end = 0; s < pp; s++) {
                CHECK(pipeline_stage_end(n, pp, s) == (end += part[s]));
                for (int layer = end - part[s]; layer < end; layer++) CHECK(pipeline_stage_of(n, pp, layer) == s);
            }
        }
    /* 100,000 layers over 99,999 stages: stage 99,997 (the one before the last) holds layers 99,997 and 99,998 */
    CHECK(pipeline_stage_end(100000, 99999, 99997) == 99999 && pipeline_stage_end(100000, 99999, 99998) == 100000);
    CHECK(pipeline_stage_of(100000, 99999, 99998) == 99997 && pipeline_stage_of(100000, 99999, 99999) == 99998);
    REPORT("pipeline split: vLLM's stages for 1-70 layers, every stage count");
}

int main(void) {
    test_arena();
    test_arch_occupancy();
    test_checked_arithmetic();
    test_files();
    test_signal_during_write();
    test_fmt_bytes();
    test_shown_text();
    test_layout_caches();
    test_chunked_retention();
    test_pipeline_split();
    test_load_layout();
    test_load_with_sets();
    test_options_parser();
    test_json_writer();
    test_rope_tables();
    return failures ? 1 : 0;
}
