/* fuzz_tokenizer.c — libFuzzer target: the tokenizers of runtime/tok, which read every text prompt
 * (mixrun --text, serve's requests) and every checkpoint's tokenizer.json. The first byte picks:
 *   0..3 mod 4 < 3: the rest is a text, encoded and decoded by one of tests/tokenizer/fixtures'
 *        tokenizers. Every id is in the vocabulary and decodes; where the tokenizer keeps every byte
 *        (byte-level, no normalizer: gpt2, llama3), UTF-8 without NUL decodes back to itself.
 *   else: the rest is a tokenizer.json, loaded and, when accepted, used on a short text.
 * Nothing may crash, hang, leak or hit undefined behaviour; a refusal says why. */
#include "tokenizer.h"
#define FUZZ_NAME "fuzz_tokenizer"
#include "fuzz_common.h"

#include <string.h>
#include <unistd.h>

static const struct {
    const char *dir;
    bool exact;   /* decode(encode(text)) == text for any text it takes */
} families[] = {
    {"gpt2", true}, {"llama3", true}, {"gpt2_prefix", false}, {"qwen2", false},
    {"llama2", false}, {"gemma", false}, {"metaspace_first", false}, {"metaspace_split", false},
};
#define NFAMILIES (int)(sizeof families / sizeof families[0])
static Tokenizer *loaded[NFAMILIES];
static char json_path[64];

/* Loads the fixtures once (libFuzzer runs from the repository's root: tests/fuzz/run.sh). */
static void load_families(void) {
    if (json_path[0]) return;
    char err[512];
    for (int i = 0; i < NFAMILIES; i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/tokenizer/fixtures/%s/tokenizer.json", families[i].dir);
        if (!(loaded[i] = tokenizer_load(path, err, sizeof err))) contract_broken(err);
    }
    snprintf(json_path, sizeof json_path, "/tmp/fuzz_tokenizer.%ld.json", (long)getpid());
}

/* UTF-8 without NUL: what tokenizer_encode takes. */
static bool encodable(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
        if (k == 9 || i + k >= n || c == 0) return false;
        uint32_t cp = k ? c & (0x3f >> k) : c;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* Encodes text (add_special as asked) and decodes the ids; checks what the family promises. */
static void encode_decode(int family, const uint8_t *text, size_t n, bool add_special) {
    const Tokenizer *t = loaded[family];
    char err[512] = "";
    int32_t *ids = NULL;
    int64_t nids = 0;
    if (!tokenizer_encode(t, (const char *)text, n, add_special, &ids, &nids, err, sizeof err)) {
        if (!err[0]) contract_broken("an encode failed without saying why");
        if (encodable(text, n)) contract_broken("UTF-8 without NUL was refused");
        return;
    }
    for (int64_t i = 0; i < nids; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_vocab_size(t)) contract_broken("an id outside the vocabulary");
    size_t len = 0;
    char *back = tokenizer_decode(t, ids, nids, false, &len, err, sizeof err);
    if (!back) contract_broken("the ids of an encode do not decode");
    if (families[family].exact && !add_special && (len != n || (n && memcmp(back, text, n))))
        contract_broken("a byte-level tokenizer did not decode a text back to itself");
    free(back);
    free(ids);
}

static void load_json(const uint8_t *data, size_t size) {
    FILE *f = fopen(json_path, "wb");
    if (!f) contract_broken("cannot write the tokenizer.json");
    fwrite(data, 1, size, f);
    if (fclose(f)) contract_broken("cannot write the tokenizer.json");
    char err[512] = "";
    Tokenizer *t = tokenizer_load(json_path, err, sizeof err);
    unlink(json_path);
    if (!t) {
        if (!err[0]) contract_broken("a tokenizer.json was refused without saying why");
        return;
    }
    static const char text[] = "Hello, w\xc3\xb6rld <s> 123";
    int32_t *ids = NULL;
    int64_t n = 0;
    if (tokenizer_encode(t, text, sizeof text - 1, true, &ids, &n, err, sizeof err)) {
        size_t len;
        free(tokenizer_decode(t, ids, n, true, &len, err, sizeof err));
        free(ids);
    }
    tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_families();
    if (size == 0) return 0;
    if (data[0] % 4 < 3) encode_decode(data[0] / 4 % NFAMILIES, data + 1, size - 1, data[0] % 4 == 1);
    else load_json(data + 1, size - 1);
    return 0;
}
