/* tokenizer.c — a tokenizer.json read into a Tokenizer: added tokens, pre-tokenizers, the BPE model
 * (tok_bpe.c), post-processor and decoder; encoding and decoding as the tokenizers package does. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "tok_bpe.h"
#include "tok_steps.h"

/* The regex of the ByteLevel pre-tokenizer's use_regex (GPT-2). */
#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define MAX_PRE_STEPS 8

/* An added token: its content (what it decodes to) and what it matches: the content, or for a
 * normalized one the content normalized (as the package builds its pattern: Llama 2's Prepend
 * makes '<tool>' match '▁<tool>'). */
typedef struct {
    char *content, *match;
    size_t len, match_len;
    int32_t id;
    bool special, normalized;
} AddedToken;

/* One pre-tokenizer step: a regex split (Split, or ByteLevel's use_regex) after an optional prefix
 * space (ByteLevel's add_prefix_space); or Metaspace (metaspace set: spaces replaced, the
 * replacement prepended by its scheme, split before each replacement when split). */
typedef struct {
    pcre2_code *re;            /* NULL: no split */
    bool add_prefix_space;
    char *metaspace;           /* Metaspace's replacement character; NULL: not Metaspace */
    TokPrepend scheme;
    bool split;
} PreStep;

struct Tokenizer {
    char *path;
    BpeModel model;
    AddedToken *added;
    int nadded;
    int32_t *added_of_id;      /* id -> index in added, or -1 */
    bool added_starts[256];    /* the first bytes of added tokens: other bytes start none */
    PreStep pre[MAX_PRE_STEPS];
    int npre;
    IdList prefix, suffix;     /* TemplateProcessing's special tokens around a single sequence */
    TokSteps steps;            /* normalizers and decoders */
    bool byte_level;           /* a ByteLevel pre-tokenizer: pieces in the byte-level alphabet */
    int64_t vocab_size;
};

/* A piece of text being tokenized; added >= 0 when it is that added token; first when it starts
 * the input text (Metaspace's prepend_scheme first). */
typedef struct {
    char *s;
    size_t n;
    int32_t added;
    bool first;
} Piece;
typedef struct {
    Piece *v;
    size_t n, cap;
} PieceList;

static void piece_push(PieceList *l, const char *s, size_t n, int32_t added) {
    if (!n) return;   /* the package drops empty pieces at every step */
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    char *copy = xmalloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = '\0';
    l->v[l->n++] = (Piece){copy, n, added, false};
}

static void pieces_free(PieceList *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].s);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------------ added tokens */

static bool load_added(Tokenizer *t, json_t *list, char *err, size_t errlen) {
    if (list && !json_is_array(list)) return errorf(err, errlen, "added_tokens is not an array");
    t->nadded = (int)json_array_size(list);
    t->added = xcalloc((size_t)t->nadded + 1, sizeof *t->added);
    for (int i = 0; i < t->nadded; i++) {
        json_t *a = json_array_get(list, (size_t)i), *id = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= TOK_MAX_VOCAB ||
            !content || !*content)
            return errorf(err, errlen, "added_tokens[%d] has no id in [0, %d) or no content", i, TOK_MAX_VOCAB);
        static const char *const refused[] = {"single_word", "lstrip", "rstrip"};
        bool set;
        for (int k = 0; k < 3; k++) {
            if (!tok_optional_bool(a, refused[k], &set))
                return errorf(err, errlen, "added token '%.40s': %s is not a boolean", content, refused[k]);
            if (set) return errorf(err, errlen, "added token '%.40s': %s is not supported", content, refused[k]);
        }
        AddedToken *at = &t->added[i];
        if (!tok_optional_bool(a, "special", &at->special) || !tok_optional_bool(a, "normalized", &at->normalized))
            return errorf(err, errlen, "added token '%.40s': special and normalized must be booleans", content);
        at->content = xstrdup(content);
        at->len = strlen(content);
        at->id = (int32_t)json_integer_value(id);
        at->match = xstrdup(content);
        at->match_len = at->len;
        if (at->normalized) tok_normalize(&t->steps, &at->match, &at->match_len);
        if (!at->match_len) return errorf(err, errlen, "added token '%.40s' normalizes to nothing", content);
        t->added_starts[(unsigned char)at->match[0]] = true;
    }
    return true;
}

/* Splits the non-added pieces of in at the added tokens whose `normalized` flag is `normalized`,
 * the leftmost-longest match first (the package's two passes: tokens matched on the raw text,
 * then those matched on the normalized text). */
static void split_added(const Tokenizer *t, bool normalized, PieceList *in) {
    PieceList out = {0};
    for (size_t p = 0; p < in->n; p++) {
        const Piece *pc = &in->v[p];
        if (pc->added >= 0) {
            piece_push(&out, pc->s, pc->n, pc->added);
            continue;
        }
        size_t start = 0, before = out.n;
        for (size_t i = 0; i < pc->n; ) {
            int best = -1;
            for (int k = 0; k < t->nadded && t->added_starts[(unsigned char)pc->s[i]]; k++) {
                const AddedToken *a = &t->added[k];
                if (a->normalized == normalized && a->match_len <= pc->n - i &&
                    (best < 0 || a->match_len > t->added[best].match_len) && !memcmp(pc->s + i, a->match, a->match_len))
                    best = k;
            }
            if (best < 0) {
                i++;
                continue;
            }
            piece_push(&out, pc->s + start, i - start, -1);
            piece_push(&out, pc->s + i, t->added[best].match_len, t->added[best].id);
            i += t->added[best].match_len;
            start = i;
        }
        piece_push(&out, pc->s + start, pc->n - start, -1);
        /* the first piece cut from a first piece starts the text too, unless it is an added token */
        if (pc->first && out.n > before) out.v[before].first = out.v[before].added < 0;
    }
    pieces_free(in);
    *in = out;
}

/* ------------------------------------------------------------------ pre-tokenizers */

static pcre2_code *compile_regex(const char *pattern, bool literal, char *err, size_t errlen) {
    int code;
    PCRE2_SIZE at;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        errorf(err, errlen, "the pre-tokenizer regex does not compile at offset %zu: %s", (size_t)at, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* faster where PCRE2 has a JIT; the same matches */
    return re;
}

static bool add_step(Tokenizer *t, PreStep step, char *err, size_t errlen) {
    if (t->npre == MAX_PRE_STEPS) {
        pcre2_code_free(step.re);
        return errorf(err, errlen, "more than %d pre-tokenizers", MAX_PRE_STEPS);
    }
    t->pre[t->npre++] = step;
    return true;
}

static bool load_split(Tokenizer *t, json_t *pt, char *err, size_t errlen) {
    const char *behavior = json_string_value(json_object_get(pt, "behavior"));
    json_t *pattern = json_object_get(pt, "pattern");
    const char *regex = json_string_value(json_object_get(pattern, "Regex"));
    const char *literal = json_string_value(json_object_get(pattern, "String"));
    if (!behavior || strcmp(behavior, "Isolated"))
        return errorf(err, errlen, "the Split pre-tokenizer's behavior '%s' is not supported (only Isolated)",
                    behavior ? behavior : "(none)");
    bool invert;
    if (!tok_optional_bool(pt, "invert", &invert) || invert)
        return errorf(err, errlen, "the Split pre-tokenizer's invert is not supported (only false)");
    if (!regex && !literal) return errorf(err, errlen, "the Split pre-tokenizer has no Regex or String pattern");
    pcre2_code *re = compile_regex(regex ? regex : literal, !regex, err, errlen);
    return re && add_step(t, (PreStep){.re = re}, err, errlen);
}

static bool load_byte_level(Tokenizer *t, json_t *pt, char *err, size_t errlen) {
    json_t *use_regex = json_object_get(pt, "use_regex");
    PreStep step = {0};
    t->byte_level = true;
    if (!tok_optional_bool(pt, "add_prefix_space", &step.add_prefix_space) || (use_regex && !json_is_boolean(use_regex)))
        return errorf(err, errlen, "the ByteLevel pre-tokenizer's add_prefix_space and use_regex must be booleans");
    if (!use_regex || json_is_true(use_regex)) {   /* the package's default is true */
        step.re = compile_regex(GPT2_PATTERN, false, err, errlen);
        if (!step.re) return false;
    }
    return add_step(t, step, err, errlen);
}

/* Metaspace: its replacement character, prepend_scheme and split. */
static bool load_metaspace(Tokenizer *t, json_t *pt, char *err, size_t errlen) {
    const char *r = json_string_value(json_object_get(pt, "replacement"));
    PreStep step = {0};
    const char *key;
    json_t *v;
    json_object_foreach(pt, key, v)
        if (strcmp(key, "type") && strcmp(key, "replacement") && strcmp(key, "prepend_scheme") && strcmp(key, "split"))
            return errorf(err, errlen, "the Metaspace pre-tokenizer's field '%.40s' is not supported", key);
    if (!r || !*r || utf8_sequence_len((const unsigned char *)r, strlen(r)) != strlen(r))
        return errorf(err, errlen, "the Metaspace pre-tokenizer's replacement is not one character");
    if (!tok_prepend_scheme(pt, &step.scheme))
        return errorf(err, errlen, "the Metaspace pre-tokenizer's prepend_scheme is not never, first or always");
    json_t *split = json_object_get(pt, "split");
    if (split && !json_is_boolean(split)) return errorf(err, errlen, "the Metaspace pre-tokenizer's split is not a boolean");
    step.split = !split || json_is_true(split);   /* the package's default is true */
    step.metaspace = xstrdup(r);
    if (!add_step(t, step, err, errlen)) return free(step.metaspace), false;
    return true;
}

/* The pre-tokenizer: none, or Split steps, then at most one ByteLevel or Metaspace, last (the
 * byte-level alphabet is applied once, to the final pieces). */
static bool load_pre_tokenizer(Tokenizer *t, json_t *pt, char *err, size_t errlen) {
    if (!pt || json_is_null(pt)) return true;
    const char *type = tok_type(pt);
    bool sequence = !strcmp(type, "Sequence");
    json_t *list = sequence ? json_object_get(pt, "pretokenizers") : NULL;
    size_t n = sequence ? json_array_size(list) : 1;
    if (!n) return errorf(err, errlen, "the pre-tokenizer Sequence is empty");
    for (size_t i = 0; i < n; i++) {
        json_t *step = sequence ? json_array_get(list, i) : pt;
        const char *st = tok_type(step);
        bool last = i + 1 == n;
        if (!strcmp(st, "ByteLevel") && last) {
            if (!load_byte_level(t, step, err, errlen)) return false;
        } else if (!strcmp(st, "Metaspace") && last) {
            if (!load_metaspace(t, step, err, errlen)) return false;
        } else if (!strcmp(st, "Split")) {
            if (!load_split(t, step, err, errlen)) return false;
        } else {
            return errorf(err, errlen, "the pre-tokenizer '%s' is not supported%s", st,
                        !strcmp(st, "ByteLevel") || !strcmp(st, "Metaspace")
                            ? " here (supported: Split pre-tokenizers, then one ByteLevel or Metaspace)" : "");
        }
    }
    return true;
}

/* ------------------------------------------------------------------ post-processor and decoder */

/* The ids of one TemplateProcessing special token, appended to out. */
static bool template_special(json_t *specials, const char *name, IdList *out, char *err, size_t errlen) {
    json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids)) return errorf(err, errlen, "TemplateProcessing: no ids for the special token '%.40s'", name);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= TOK_MAX_VOCAB)
            return errorf(err, errlen, "TemplateProcessing: a bad id for the special token '%.40s'", name);
        idlist_push(out, (int32_t)json_integer_value(id));
    }
    return true;
}

/* TemplateProcessing's "single": special tokens, the sequence A once, special tokens. */
static bool load_template(Tokenizer *t, json_t *pp, char *err, size_t errlen) {
    json_t *single = json_object_get(pp, "single"), *specials = json_object_get(pp, "special_tokens");
    bool seen_sequence = false;
    size_t i;
    json_t *item;
    if (!json_is_array(single)) return errorf(err, errlen, "TemplateProcessing has no single template");
    json_array_foreach(single, i, item) {
        json_t *sp = json_object_get(item, "SpecialToken"), *seq = json_object_get(item, "Sequence");
        const char *seq_id = json_string_value(json_object_get(seq, "id"));
        if (seq && seq_id && !strcmp(seq_id, "A") && !seen_sequence) {
            seen_sequence = true;
        } else if (sp && json_is_string(json_object_get(sp, "id"))) {
            if (!template_special(specials, json_string_value(json_object_get(sp, "id")),
                                  seen_sequence ? &t->suffix : &t->prefix, err, errlen))
                return false;
        } else {
            return errorf(err, errlen, "TemplateProcessing: single template item %zu is not supported", i);
        }
    }
    if (!seen_sequence) return errorf(err, errlen, "TemplateProcessing: the single template has no $A");
    return true;
}

/* null, ByteLevel (it changes offsets only), TemplateProcessing, or a Sequence of them. */
static bool load_post_processor(Tokenizer *t, json_t *pp, char *err, size_t errlen) {
    if (!pp || json_is_null(pp)) return true;
    const char *type = tok_type(pp);
    if (!strcmp(type, "ByteLevel")) return true;
    if (!strcmp(type, "TemplateProcessing")) {
        if (t->prefix.n || t->suffix.n) return errorf(err, errlen, "two TemplateProcessing post-processors");
        return load_template(t, pp, err, errlen);
    }
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(pp, "processors"), i, p)
            if (!json_is_object(p) || !strcmp(tok_type(p), "Sequence") || !load_post_processor(t, p, err, errlen))
                return err[0] ? false : errorf(err, errlen, "the post-processor Sequence item %zu is not supported", i);
        return true;
    }
    return errorf(err, errlen, "the post-processor '%s' is not supported", type);
}

/* The fields of a tokenizer.json, and those that must be null. */
static bool check_top_level(json_t *root, char *err, size_t errlen) {
    static const char *const known[] = {"version", "truncation", "padding", "added_tokens", "normalizer",
                                        "pre_tokenizer", "post_processor", "decoder", "model"};
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(known[i], key)) i++;
        if (i == sizeof known / sizeof *known) return errorf(err, errlen, "the field '%.40s' is not supported", key);
    }
    static const char *const must_be_null[] = {"truncation", "padding"};
    for (int i = 0; i < 2; i++)
        if ((v = json_object_get(root, must_be_null[i])) && !json_is_null(v))
            return errorf(err, errlen, "%s is not supported (it must be null)", must_be_null[i]);
    const char *model = tok_type(json_object_get(root, "model"));
    if (strcmp(model, "BPE")) return errorf(err, errlen, "the model type '%s' is not supported (only BPE)", model);
    return true;
}

/* ------------------------------------------------------------------ loading */

static void set_vocab_size(Tokenizer *t) {
    t->vocab_size = t->model.nids;
    for (int i = 0; i < t->nadded; i++)
        if (t->added[i].id + 1 > t->vocab_size) t->vocab_size = t->added[i].id + 1;
    for (int64_t i = 0; i < t->prefix.n; i++)
        if (t->prefix.v[i] + 1 > t->vocab_size) t->vocab_size = t->prefix.v[i] + 1;
    for (int64_t i = 0; i < t->suffix.n; i++)
        if (t->suffix.v[i] + 1 > t->vocab_size) t->vocab_size = t->suffix.v[i] + 1;
    t->added_of_id = xmalloc((size_t)t->vocab_size * sizeof *t->added_of_id);
    memset(t->added_of_id, 0xff, (size_t)t->vocab_size * sizeof *t->added_of_id);
    for (int i = 0; i < t->nadded; i++) t->added_of_id[t->added[i].id] = i;
}

static bool load_json(Tokenizer *t, json_t *root, char *err, size_t errlen) {
    if (!json_is_object(root)) return errorf(err, errlen, "not a JSON object");
    return check_top_level(root, err, errlen) && tok_load_normalizer(&t->steps, json_object_get(root, "normalizer"), err, errlen) &&
           tok_load_decoder(&t->steps, json_object_get(root, "decoder"), err, errlen) &&
           bpe_load(&t->model, json_object_get(root, "model"), err, errlen) &&
           load_added(t, json_object_get(root, "added_tokens"), err, errlen) &&
           load_pre_tokenizer(t, json_object_get(root, "pre_tokenizer"), err, errlen) &&
           load_post_processor(t, json_object_get(root, "post_processor"), err, errlen);
}

/* path, or path/tokenizer.json when path is a directory (malloc'd). */
static char *tokenizer_file(const char *path) {
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) return xstrdup(path);
    Buf b = {0};
    buf_printf(&b, "%s/tokenizer.json", path);
    return b.data;
}

Tokenizer *tokenizer_load(const char *path, char *err, size_t errlen) {
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->path = tokenizer_file(path);
    size_t len;
    char *text = read_file_limited(t->path, TOK_MAX_FILE, &len), why[400] = "";
    json_error_t jerr;
    json_t *root = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    bool ok;
    if (!text) ok = errorf(why, sizeof why, "%s", strerror(errno));
    else if (!root) ok = errorf(why, sizeof why, "not valid JSON: line %d: %s", jerr.line, jerr.text);
    else ok = load_json(t, root, why, sizeof why);
    json_decref(root);
    free(text);
    if (ok) {
        set_vocab_size(t);
        return t;
    }
    snprintf(err, errlen, "tokenizer '%s': %s", t->path, why);
    tokenizer_free(t);
    return NULL;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    bpe_free(&t->model);
    for (int i = 0; i < t->nadded; i++) free(t->added[i].content), free(t->added[i].match);
    free(t->added);
    free(t->added_of_id);
    for (int i = 0; i < t->npre; i++) pcre2_code_free(t->pre[i].re), free(t->pre[i].metaspace);
    tok_steps_free(&t->steps);
    free(t->prefix.v);
    free(t->suffix.v);
    free(t->path);
    free(t);
}

int64_t tokenizer_vocab_size(const Tokenizer *t) { return t->vocab_size; }
const char *tokenizer_path(const Tokenizer *t) { return t->path; }

char *tokenizer_file_beside(const Tokenizer *t, const char *name) {
    const char *slash = strrchr(t->path, '/');
    Buf path = {0};
    buf_printf(&path, "%.*s%s", slash ? (int)(slash - t->path + 1) : 0, t->path, name);
    return path.data;
}

const char *tokenizer_id_to_token(const Tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->vocab_size) return NULL;
    if (t->added_of_id[id] >= 0) {
        const AddedToken *a = &t->added[t->added_of_id[id]];
        *len = a->len;
        return a->content;
    }
    if (id >= t->model.nids || !t->model.token[id]) return NULL;
    *len = t->model.token_len[id];
    return t->model.token[id];
}

int32_t tokenizer_special_id(const Tokenizer *t, const char *content) {
    for (int i = 0; i < t->nadded; i++)
        if (t->added[i].special && !strcmp(t->added[i].content, content)) return t->added[i].id;
    return -1;
}

/* ------------------------------------------------------------------ encoding */

/* Each match of re in s a piece, and each stretch between matches (Isolated). */
static void split_regex(const pcre2_code *re, const char *s, size_t n, PieceList *out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t at = 0, prev = 0;
    while (at < n) {
        /* no UTF check: the text was checked once on entry (a check per match would be quadratic) */
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) break;   /* no more matches (the text is valid UTF-8: checked on entry) */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] == ov[0]) {   /* an empty match: the package keeps no empty piece; move on a character */
            size_t len = utf8_sequence_len((const unsigned char *)s + ov[0], n - ov[0]);
            at = ov[0] + (len ? len : 1);
            continue;
        }
        piece_push(out, s + prev, ov[0] - prev, -1);
        piece_push(out, s + ov[0], ov[1] - ov[0], -1);
        at = prev = ov[1];
    }
    piece_push(out, s + prev, n - prev, -1);
    pcre2_match_data_free(md);
}

/* Metaspace on one piece: spaces replaced, the replacement prepended by the scheme, then split
 * before each replacement (MergedWithNext) when split. */
static void metaspace_piece(const PreStep *step, const Piece *p, PieceList *out) {
    Buf text = {0};
    const size_t k = strlen(step->metaspace);
    const bool starts = p->n >= 1 && (p->s[0] == ' ' || (p->n >= k && !memcmp(p->s, step->metaspace, k)));
    if ((step->scheme == PREPEND_ALWAYS || (step->scheme == PREPEND_FIRST && p->first)) && !starts)
        buf_puts(&text, step->metaspace);
    tok_replace_all(p->s, p->n, " ", step->metaspace, &text);
    size_t start = 0;
    for (size_t i = step->split ? 1 : text.len; i < text.len; i++)
        if (i + k <= text.len && !memcmp(text.data + i, step->metaspace, k)) {
            piece_push(out, text.data + start, i - start, -1);
            start = i;
        }
    piece_push(out, text.data + start, text.len - start, -1);
    buf_free(&text);
}

static void apply_pre_step(const PreStep *step, PieceList *pieces) {
    PieceList out = {0};
    for (size_t i = 0; i < pieces->n; i++) {
        Piece *p = &pieces->v[i];
        size_t before = out.n;
        if (p->added >= 0) {
            piece_push(&out, p->s, p->n, p->added);
            continue;
        }
        if (step->metaspace) {
            metaspace_piece(step, p, &out);
        } else {
            Buf text = {0};
            if (step->add_prefix_space && p->s[0] != ' ') buf_puts(&text, " ");
            buf_append(&text, p->s, p->n);
            if (step->re) split_regex(step->re, text.data, text.len, &out);
            else piece_push(&out, text.data, text.len, -1);
            buf_free(&text);
        }
        if (out.n > before) out.v[before].first = p->first;
    }
    pieces_free(pieces);
    *pieces = out;
}

/* The normalizers on the pieces that are not added tokens (each a NUL-terminated copy of UTF-8). */
static void normalize_pieces(const Tokenizer *t, PieceList *pieces) {
    for (size_t i = 0; i < pieces->n; i++)
        if (pieces->v[i].added < 0) tok_normalize(&t->steps, &pieces->v[i].s, &pieces->v[i].n);
}

static bool text_checked(const char *text, size_t len, char *err, size_t errlen) {
    if (len > TOK_MAX_TEXT) return errorf(err, errlen, "the text is longer than %zu bytes", TOK_MAX_TEXT);
    for (size_t i = 0; i < len; ) {
        size_t n = utf8_sequence_len((const unsigned char *)text + i, len - i);
        if (!n || !text[i]) return errorf(err, errlen, "the text is not UTF-8 without NUL (byte %zu)", i);
        i += n;
    }
    return true;
}

bool tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_special, int32_t **ids,
                      int64_t *n, char *err, size_t errlen) {
    *ids = NULL;
    *n = 0;
    if (!text_checked(text, len, err, errlen)) return false;
    PieceList pieces = {0};
    piece_push(&pieces, text, len, -1);
    if (pieces.n) pieces.v[0].first = true;
    split_added(t, false, &pieces);
    normalize_pieces(t, &pieces);
    split_added(t, true, &pieces);
    for (int i = 0; i < t->npre; i++) apply_pre_step(&t->pre[i], &pieces);
    IdList out = {0};
    if (add_special)
        for (int64_t i = 0; i < t->prefix.n; i++) idlist_push(&out, t->prefix.v[i]);
    Buf mapped = {0};
    for (size_t i = 0; i < pieces.n; i++) {
        if (pieces.v[i].added >= 0) {
            idlist_push(&out, pieces.v[i].added);
            continue;
        }
        if (!t->byte_level) {
            bpe_encode_word(&t->model, pieces.v[i].s, pieces.v[i].n, &out);
            continue;
        }
        mapped.len = 0;
        byte_level_map(pieces.v[i].s, pieces.v[i].n, &mapped);
        bpe_encode_word(&t->model, mapped.data, mapped.len, &out);
    }
    if (add_special)
        for (int64_t i = 0; i < t->suffix.n; i++) idlist_push(&out, t->suffix.v[i]);
    buf_free(&mapped);
    pieces_free(&pieces);
    *ids = out.v ? out.v : xmalloc(sizeof **ids);
    *n = out.n;
    return true;
}

/* ------------------------------------------------------------------ decoding */

/* The string the decoders take for id (an added token's match: a normalized one decodes as the
 * package's id_to_token gives it), *len bytes; *special: a special added token. NULL when no token
 * has the id. */
static char *decoder_string(const Tokenizer *t, int32_t id, size_t *len, bool *special) {
    int32_t added = id >= 0 && id < t->vocab_size ? t->added_of_id[id] : -1;
    char *tok = added >= 0 ? t->added[added].match : id >= 0 && id < t->model.nids ? t->model.token[id] : NULL;
    *len = !tok ? 0 : added >= 0 ? t->added[added].match_len : t->model.token_len[id];
    *special = added >= 0 && t->added[added].special;
    return tok;
}

char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, int64_t n, bool skip_special, size_t *len,
                       char *err, size_t errlen) {
    char **tokens = xcalloc((size_t)n + 1, sizeof *tokens);
    size_t *lens = xcalloc((size_t)n + 1, sizeof *lens);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        bool special;
        char *tok = decoder_string(t, ids[i], &lens[kept], &special);
        if (!tok) {
            free(tokens), free(lens);
            errorf(err, errlen, "token %d (position %lld) is not in the tokenizer's vocabulary", ids[i], (long long)i);
            return NULL;
        }
        if (skip_special && special) continue;
        tokens[kept++] = tok;   /* every token goes through the decoders, added ones too, as in the package */
    }
    Buf text = {0};
    tok_decode_strings(&t->steps, tokens, lens, kept, false, &text);
    free(tokens), free(lens);
    buf_append(&text, "", 0);
    *len = text.len;
    return text.data ? text.data : xstrdup("");
}

char *tokenizer_piece(const Tokenizer *t, int32_t id, size_t *len, bool *special) {
    size_t n;
    char *tok = decoder_string(t, id, &n, special);
    if (!tok) return NULL;
    Buf b = {0};
    tok_decode_strings(&t->steps, &tok, &n, 1, true, &b);
    buf_append(&b, "", 0);
    *len = b.len;
    return b.data ? b.data : xstrdup("");
}
