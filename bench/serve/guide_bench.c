/* guide_bench.c — what guided decoding (response_format, a forced tool_choice) adds on the host per
 * token at a real vocabulary's size, measured in one run: guide_mask at four places of an answer
 * (before its value, after a key, inside a string, inside a number), each the median of 31 masks in ms
 * and as a ratio to one draw (sample_token at temperature 1, top_p 0.9) over the same vocabulary.
 * The vocabulary is made here: a byte-level tokenizer.json of VOCAB tokens (the 256 bytes, then words,
 * numbers, white space and JSON's punctuation, as a BPE vocabulary mixes them), in a temporary
 * directory. Never fails on a figure.
 *
 *   guide_bench [VOCAB]
 */
#include "http.h"
#include "http_guide.h"
#include "progress.h"
#include "sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { ROWS = 31 };

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GPT-2's byte-level alphabet: byte b as the character the vocabulary writes it with (UTF-8, into out). */
static void byte_char(unsigned b, Buf *out) {
    unsigned cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174))) {
        unsigned n = 0;
        for (unsigned k = 0; k < b; k++) n += !((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174));
        cp = 256 + n;
    }
    char u[4];
    if (cp < 0x80) u[0] = (char)cp, buf_append(out, u, 1);
    else u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), buf_append(out, u, 2);
}

/* Token k's bytes (k >= 256): a word with or without a leading space, a number, white space, or
 * JSON's punctuation, from k alone. */
static void token_bytes(int64_t k, uint64_t *state, Buf *b) {
    static const char *const PUNCT[] = {"\",", "\":", "{\"", "\"}", "}\n", "},", "[\"", "\"]", ", \"", "\": \"", "\":\"", ".\n", "\n\n",
                                        "    ", "  ", "\t", "()", "==", "->", "//", "/*", "*/", "...", "\"\n", ",\n"};
    static const char LETTERS[] = "etaoinshrdlucmfwypvbgkjqxz";
    uint64_t r = splitmix64(state);
    int kind = (int)(r % 20);
    if (kind == 0) return buf_puts(b, PUNCT[k % (int64_t)(sizeof PUNCT / sizeof *PUNCT)]);
    if (kind == 1) return buf_printf(b, "%s%lld", r >> 8 & 1 ? " " : "", (long long)(r >> 16) % 1000);
    if (r >> 8 & 3) buf_append(b, " ", 1);
    int len = 2 + (int)((r >> 12) % 9);
    for (int i = 0; i < len; i++) {
        uint64_t x = splitmix64(state);
        char c = LETTERS[(x % 26) * (x % 26) / 26];   /* frequent letters more often */
        if (i == 0 && (x >> 20) % 5 == 0) c = (char)(c - 32);
        buf_append(b, &c, 1);
    }
    char tag[24];
    int n = snprintf(tag, sizeof tag, "%llx", (unsigned long long)k);   /* each token its own bytes */
    buf_append(b, tag + (n > 3 ? n - 3 : 0), n > 3 ? 3 : (size_t)n);
}

/* A tokenizer.json of vocab byte-level tokens in dir (ids 0..255 the bytes themselves). */
static bool write_tokenizer(const char *dir, int64_t vocab) {
    json_t *v = json_object();
    uint64_t state = 7;
    for (int64_t k = 0; k < vocab; k++) {
        Buf raw = {0}, mapped = {0};
        if (k < 256) {
            char c = (char)k;
            buf_append(&raw, &c, 1);
        } else {
            token_bytes(k, &state, &raw);
        }
        for (size_t i = 0; i < raw.len; i++) byte_char((unsigned char)raw.data[i], &mapped);
        buf_append(&mapped, "", 0);
        if (!json_object_get(v, mapped.data)) json_object_set_new(v, mapped.data, json_integer(k));
        buf_free(&raw), buf_free(&mapped);
    }
    json_t *t = json_pack("{s:s, s:[], s:n, s:{s:s, s:b, s:b, s:b}, s:n, s:{s:s, s:b, s:b, s:b}, s:{s:s, s:o, s:[], s:b}}",
                          "version", "1.0", "added_tokens", "normalizer", "pre_tokenizer", "type", "ByteLevel",
                          "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1, "post_processor", "decoder", "type",
                          "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1, "model", "type", "BPE",
                          "vocab", v, "merges", "ignore_merges", 1);
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    bool ok = json_dump_file(t, path, JSON_COMPACT) == 0;
    json_decref(t);
    return ok;
}

/* The median ms of ROWS masks of a guide at the place that prefix's bytes (single-byte ids) lead to:
 * a JSON Schema's, or (gbnf) a grammar's. */
static double mask_ms(const GuideVocab *gv, int64_t vocab, const char *text, bool gbnf, const char *prefix, int64_t *allowed_n) {
    ApiError e;
    char why[400];
    json_t *schema = gbnf ? NULL : json_loads(text, 0, NULL);
    Guide *gd = guide_new(gbnf ? guide_gbnf(text, strlen(text), why, sizeof why) : guide_schema(schema, "response_format", &e));
    json_decref(schema);
    for (const char *p = prefix; *p; p++) guide_advance(gd, gv, (unsigned char)*p);
    unsigned char *allowed = malloc((size_t)vocab);
    int32_t end = 0;
    double t[ROWS];
    for (int r = 0; r < ROWS; r++) {
        double t0 = mono_seconds();
        *allowed_n = guide_mask(gd, gv, &end, 1, allowed);
        t[r] = (mono_seconds() - t0) * 1e3;
    }
    qsort(t, ROWS, sizeof *t, by_value);
    free(allowed);
    guide_free(gd);
    return t[ROWS / 2];
}

int main(int argc, char **argv) {
    int64_t vocab = argc > 1 ? strtoll(argv[1], NULL, 10) : 128256;
    if (vocab < 512) return fprintf(stderr, "usage: guide_bench [VOCAB >= 512]\n"), 2;
    char dir[] = "/tmp/mixc-guide-bench-XXXXXX", err[300], path[512];
    if (!mkdtemp(dir) || !write_tokenizer(dir, vocab)) return fprintf(stderr, "guide_bench: cannot write a tokenizer\n"), 1;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    double t0 = mono_seconds();
    Tokenizer *tok = tokenizer_load(path, err, sizeof err);
    remove(path), rmdir(dir);
    if (!tok) return fprintf(stderr, "guide_bench: %s\n", err), 1;
    GuideVocab *gv = guide_vocab_new(tok, vocab);
    double build_ms = (mono_seconds() - t0) * 1e3;
    /* one draw over the same vocabulary, for the ratio */
    SampleScratch sc;
    sample_scratch_init(&sc, vocab);
    float *logits = malloc((size_t)vocab * sizeof *logits);
    uint64_t state = 1;
    for (int64_t i = 0; i < vocab; i++) logits[i] = (float)((double)(splitmix64(&state) >> 11) * 0x1.0p-53 * 24 - 12);
    SampleParams p = {.temperature = 1, .top_p = 0.9};
    double d[ROWS];
    for (int r = 0; r < ROWS; r++) {
        double s0 = mono_seconds();
        sample_token(&sc, logits, &p, &state);
        d[r] = (mono_seconds() - s0) * 1e3;
    }
    qsort(d, ROWS, sizeof *d, by_value);
    double draw = d[ROWS / 2];
    printf("guided decoding's mask per token at %lld tokens (tokenizer and its sorted pieces: %.0f ms once); "
           "one draw (temperature 1, top_p 0.9): %.3f ms\n", (long long)vocab, build_ms, draw);
    static const char *const SCHEMA = "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"days\": "
                                      "{\"type\": \"integer\"}, \"p\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}, "
                                      "\"at\": {\"type\": \"string\", \"format\": \"date-time\"}}, "
                                      "\"required\": [\"city\", \"days\", \"p\", \"at\"]}";
    static const char *const GRAMMAR = "root ::= expr\nexpr ::= term ((\"+\" | \"-\") term)*\nterm ::= [0-9]+ | \"(\" expr \")\"";
    static const struct { const char *place, *prefix; bool gbnf; } CASES[] = {
        {"before the value", "", false}, {"after a key", "{\"city\"", false}, {"inside a string", "{\"city\": \"Par", false},
        {"inside a number", "{\"city\": \"Paris\", \"days\": 1", false},
        {"bounded number", "{\"city\": \"Paris\", \"days\": 1, \"p\": 0.2", false},
        {"a format's string", "{\"city\": \"Paris\", \"days\": 1, \"p\": 0.25, \"at\": \"2026-12", false},
        {"a grammar's text", "(12+((3", true},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        int64_t n = 0;
        double ms = mask_ms(gv, vocab, CASES[i].gbnf ? GRAMMAR : SCHEMA, CASES[i].gbnf, CASES[i].prefix, &n);
        printf("  %-18s %8.3f ms  %6.1fx a draw  (%lld tokens allowed)\n", CASES[i].place, ms, ms / draw, (long long)n);
    }
    free(logits);
    sample_scratch_free(&sc);
    guide_vocab_free(gv);
    tokenizer_free(tok);
    return 0;
}
