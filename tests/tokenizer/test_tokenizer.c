/* test_tokenizer — runtime/tok against the tokenizers package's results (tests/tokenizer/run.sh).
 *   test_tokenizer check DIR        DIR/tokenizer.json on each case of DIR/expected.json: the ids,
 *                                   the decoded text (with and without special tokens)
 *   test_tokenizer refuse FILE NAME loading FILE fails with an error that names NAME
 *   test_tokenizer encode FILE TEXT prints TEXT's ids, comma-separated
 *   test_tokenizer decode FILE IDS  prints the text of IDS (comma-separated), special tokens kept
 *   test_tokenizer vocab FILE       prints the vocabulary size (one more than the largest id)
 *   test_tokenizer stress FILE MIB  MIB MiB of mixed text: encodes, decodes back to the same text
 * Prints what differs; exits 0 when all holds, 1 otherwise. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

static bool same_ids(json_t *want, const int32_t *got, int64_t n) {
    if ((int64_t)json_array_size(want) != n) return false;
    for (int64_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(want, (size_t)i)) != got[i]) return false;
    return true;
}

static void print_ids(const char *label, const int32_t *ids, int64_t n) {
    printf("    %s:", label);
    for (int64_t i = 0; i < n; i++) printf(" %d", ids[i]);
    printf("\n");
}

/* One case: false with what differs printed. */
static bool check_case(const Tokenizer *t, json_t *c, size_t index) {
    const char *text = json_string_value(json_object_get(c, "text"));
    char err[512];
    int32_t *ids;
    int64_t n;
    if (!text || !tokenizer_encode(t, text, strlen(text), true, &ids, &n, err, sizeof err)) {
        printf("    case %zu: %s\n", index, text ? err : "no text");
        return false;
    }
    bool ok = same_ids(json_object_get(c, "ids"), ids, n);
    if (!ok) {
        printf("    case %zu (%s): ids differ\n", index, text);
        print_ids("got", ids, n);
    }
    static const char *const keys[2] = {"decoded", "decoded_skip"};
    for (int skip = 0; skip < 2; skip++) {
        size_t len;
        char *back = tokenizer_decode(t, ids, n, skip, &len, err, sizeof err);
        const char *want = json_string_value(json_object_get(c, keys[skip]));
        if (!back || !want || strcmp(back, want)) {
            printf("    case %zu: %s differs: got '%s', want '%s'\n", index, keys[skip], back ? back : err,
                   want ? want : "(none)");
            ok = false;
        }
        free(back);
    }
    free(ids);
    return ok;
}

static int check(const char *dir) {
    char err[512], path[4096];
    Tokenizer *t = tokenizer_load(dir, err, sizeof err);
    if (!t) return printf("    %s\n", err), 1;
    snprintf(path, sizeof path, "%s/expected.json", dir);
    json_error_t jerr;
    json_t *cases = json_load_file(path, 0, &jerr);
    int bad = cases ? 0 : 1;
    if (!cases) printf("    %s: %s\n", path, jerr.text);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) bad += !check_case(t, c, i);
    if (!json_array_size(cases)) bad++;
    json_decref(cases);
    tokenizer_free(t);
    return bad ? 1 : 0;
}

static int refuse(const char *file, const char *name) {
    char err[512];
    Tokenizer *t = tokenizer_load(file, err, sizeof err);
    if (t) {
        tokenizer_free(t);
        return printf("    '%s' was read, not refused\n", file), 1;
    }
    printf("    %s\n", err);
    if (!strstr(err, name) || !strstr(err, file)) return printf("    the error does not name '%s' and the file\n", name), 1;
    return 0;
}

static int encode(const char *file, const char *text) {
    char err[512];
    Tokenizer *t = tokenizer_load(file, err, sizeof err);
    int32_t *ids = NULL;
    int64_t n = 0;
    if (!t || !tokenizer_encode(t, text, strlen(text), true, &ids, &n, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        tokenizer_free(t);
        return 1;
    }
    for (int64_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", ids[i]);
    printf("\n");
    free(ids);
    tokenizer_free(t);
    return 0;
}

static int decode(const char *file, const char *list) {
    char err[512];
    Tokenizer *t = tokenizer_load(file, err, sizeof err);
    if (!t) return fprintf(stderr, "%s\n", err), 1;
    int32_t ids[4096];
    int64_t n = 0;
    for (const char *p = list; *p && n < 4096; p += *p == ',') ids[n++] = (int32_t)strtol(p, (char **)&p, 10);
    size_t len;
    char *text = tokenizer_decode(t, ids, n, false, &len, err, sizeof err);
    int rc = text ? 0 : 1;
    if (text) fwrite(text, 1, len, stdout);
    else fprintf(stderr, "%s\n", err);
    free(text);
    tokenizer_free(t);
    return rc;
}

static int vocab(const char *file) {
    char err[512];
    Tokenizer *t = tokenizer_load(file, err, sizeof err);
    if (!t) return fprintf(stderr, "%s\n", err), 1;
    printf("%lld\n", (long long)tokenizer_vocab_size(t));
    tokenizer_free(t);
    return 0;
}

/* What decoding adds before a text (a space for add_prefix_space): decode(encode("x")) less its "x"
 * (that decoding is checked against the package's by `check`). */
static size_t decoded_prefix(const Tokenizer *t, char *prefix, size_t cap) {
    char err[512];
    int32_t *ids;
    int64_t n;
    size_t len = 0;
    prefix[0] = '\0';
    if (!tokenizer_encode(t, "x", 1, false, &ids, &n, err, sizeof err)) return 0;
    char *back = tokenizer_decode(t, ids, n, true, &len, err, sizeof err);
    if (back && len >= 1 && len <= cap && back[len - 1] == 'x') memcpy(prefix, back, --len);
    prefix[len] = '\0';
    free(back);
    free(ids);
    return len;
}

/* Long mixed text (runs of letters, spaces, digits, multi-byte characters) round-trips. */
static int stress(const char *file, int mib) {
    static const char *const parts[] = {"word ", "      ", "12345678", "héllo ", "中文字符", "😀👍", "\n\n", "x",
                                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "مرحبا "};
    char err[512];
    Tokenizer *t = tokenizer_load(file, err, sizeof err);
    if (!t) return printf("    %s\n", err), 1;
    size_t cap = (size_t)mib << 20, len = 0;
    char *text = malloc(cap + 64);
    for (unsigned r = 12345; len < cap; ) {
        r = r * 1103515245u + 12345u;
        const char *p = parts[(r >> 16) % (sizeof parts / sizeof *parts)];
        memcpy(text + len, p, strlen(p));
        len += strlen(p);
    }
    text[len] = '\0';
    int32_t *ids;
    int64_t n;
    int rc = 1;
    size_t back_len;
    if (!tokenizer_encode(t, text, len, false, &ids, &n, err, sizeof err)) {
        printf("    %s\n", err);
    } else {
        char *back = tokenizer_decode(t, ids, n, false, &back_len, err, sizeof err);
        char prefix[16];
        size_t np = decoded_prefix(t, prefix, sizeof prefix - 1);
        rc = back && back_len == np + len && !memcmp(back, prefix, np) && !memcmp(back + np, text, len) ? 0 : 1;
        if (rc) printf("    %zu bytes in %lld ids did not decode back\n", len, (long long)n);
        free(back);
        free(ids);
    }
    free(text);
    tokenizer_free(t);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "check")) return check(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "refuse")) return refuse(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "encode")) return encode(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "decode")) return decode(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "vocab")) return vocab(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "stress")) return stress(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: test_tokenizer check DIR | refuse FILE NAME | encode FILE TEXT | decode FILE IDS | vocab FILE | "
                    "stress FILE MIB\n");
    return 2;
}
