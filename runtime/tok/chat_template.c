/* chat_template.c — a checkpoint's chat template (tokenizer_config.json, rendered by jinja.c), or the
 * Llama 3 template by hand (chat_template.h). */
#include "chat_template.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const LLAMA3_TOKENS[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};

static bool llama3_render(const Tokenizer *t, const ChatMessage *m, int n, bool generation_prompt, Buf *out,
                          int32_t stop_ids[CHAT_MAX_STOP], int *nstop, char *err, size_t errlen) {
    for (size_t i = 0; i < sizeof LLAMA3_TOKENS / sizeof *LLAMA3_TOKENS; i++)
        if (tokenizer_special_id(t, LLAMA3_TOKENS[i]) < 0) {
            snprintf(err, errlen, "no chat template for this tokenizer: only the Llama 3 template is rendered, and "
                     "'%s' has no special token %s", tokenizer_path(t), LLAMA3_TOKENS[i]);
            return false;
        }
    if (tokenizer_special_id(t, "<|python_tag|>") >= 0) {   /* Llama 3.1 and later */
        snprintf(err, errlen, "no chat template for this tokenizer: '%s' is Llama 3.1's or later (it has "
                 "<|python_tag|>), whose template (a knowledge-date system header, tools) is not rendered; only "
                 "Llama 3's is", tokenizer_path(t));
        return false;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].role, "system") && strcmp(m[i].role, "user") && strcmp(m[i].role, "assistant")) {
            snprintf(err, errlen, "messages[%d]: the role '%.40s' is not supported (system, user, assistant)", i, m[i].role);
            return false;
        }
    buf_puts(out, "<|begin_of_text|>");
    for (int i = 0; i < n; i++) {
        size_t a, b;
        jinja_strip(m[i].content, m[i].len, true, true, &a, &b);
        buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
        buf_append(out, m[i].content + a, b - a);
        buf_puts(out, "<|eot_id|>");
    }
    if (generation_prompt) buf_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    *nstop = 0;
    stop_ids[(*nstop)++] = tokenizer_special_id(t, "<|eot_id|>");
    int32_t end = tokenizer_special_id(t, "<|end_of_text|>");
    if (end >= 0) stop_ids[(*nstop)++] = end;
    return true;
}

struct ChatTemplate {
    char *path;                 /* the template's file: tokenizer_config.json or chat_template.jinja */
    JinjaTemplate *jt;
    char *bos, *eos;            /* NULL: not set */
    int32_t stop[CHAT_MAX_STOP];
    int nstop;
    bool reads_content;         /* the template's text holds "content" (continue_final_message needs it) */
    char err[700];              /* non-empty: why it cannot render */
};

/* bos_token / eos_token: a string, {"content": ...}, or null / absent. */
static bool token_field(ChatTemplate *ct, json_t *root, const char *key, char **out) {
    json_t *v = json_object_get(root, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!v || json_is_null(v)) return true;
    if (!json_is_string(v)) {
        snprintf(ct->err, sizeof ct->err, "'%s': %s is not a string or {\"content\": string}", ct->path, key);
        return false;
    }
    *out = xstrdup(json_string_value(v));
    return true;
}

/* The template text: a string, or the one named "default" in a list of {name, template}. */
static const char *template_text(ChatTemplate *ct, json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (json_is_string(json_object_get(e, "name")) && !strcmp(json_string_value(json_object_get(e, "name")), "default") &&
            json_is_string(json_object_get(e, "template")))
            return json_string_value(json_object_get(e, "template"));
    }
    snprintf(ct->err, sizeof ct->err, "'%s': chat_template is %s", ct->path, json_is_array(v)
             ? "a list without a template named 'default'" : "not a string or a list of {name, template}");
    return NULL;
}

/* {a token the template's text holds, a token that then ends the turn}: each template's own end of
 * turn, and Llama 3's <|end_of_text|> beside <|eot_id|> (as its template rendered by hand). */
static const char *const TURN_ENDS[][2] = {{"<|eot_id|>", "<|eot_id|>"}, {"<|eot_id|>", "<|end_of_text|>"},
                                           {"<|im_end|>", "<|im_end|>"}, {"<end_of_turn>", "<end_of_turn>"},
                                           {"<|end|>", "<|end|>"}};

bool chat_harmony_ids(const Tokenizer *t, int32_t id[HARMONY_NMARKS]) {
    static const char *const TEXT[HARMONY_NMARKS] = HARMONY_TEXTS;
    bool all = true;
    for (int k = 0; k < HARMONY_NMARKS; k++) {
        id[k] = tokenizer_special_id(t, TEXT[k]);
        all = all && id[k] >= 0;
    }
    return all;
}

/* Adds id to the turn's ends (once; -1: none). */
static void add_turn_end(ChatTemplate *ct, int32_t id) {
    bool seen = false;
    for (int k = 0; k < ct->nstop; k++) seen |= ct->stop[k] == id;
    if (id >= 0 && !seen && ct->nstop < CHAT_MAX_STOP) ct->stop[ct->nstop++] = id;
}

/* The ids that end the turn: eos_token's, then those of TURN_ENDS (harmony's instead of <|end|>:
 * vLLM's stop tokens for gpt-oss). */
static void turn_ends(ChatTemplate *ct, const Tokenizer *t, const char *src) {
    int32_t id = ct->eos ? tokenizer_special_id(t, ct->eos) : -1;
    if (ct->eos && id < 0) {
        snprintf(ct->err, sizeof ct->err, "the eos_token '%.60s' of tokenizer_config.json is not a special token of '%s'",
                 ct->eos, tokenizer_path(t));
        return;
    }
    add_turn_end(ct, id);
    int32_t harmony_id[HARMONY_NMARKS];   /* harmony's: <|end|> ends a message, the turn ends at <|return|> or <|call|> */
    bool harmony = chat_harmony_ids(t, harmony_id);
    for (size_t i = 0; i < sizeof TURN_ENDS / sizeof *TURN_ENDS; i++)
        if (!(harmony && !strcmp(TURN_ENDS[i][1], "<|end|>")) && strstr(src, TURN_ENDS[i][0]))
            add_turn_end(ct, tokenizer_special_id(t, TURN_ENDS[i][1]));
    if (harmony) add_turn_end(ct, harmony_id[HARMONY_RETURN]), add_turn_end(ct, harmony_id[HARMONY_CALL]);
    if (!ct->nstop)
        snprintf(ct->err, sizeof ct->err, "'%s': no eos_token in tokenizer_config.json and no end-of-turn token known: the end of the assistant's "
                 "turn is not known", ct->path);
}

/* name in the directory of t's tokenizer.json (malloc'ed); *there: it exists. */
static char *beside(const Tokenizer *t, const char *name, bool *there) {
    char *path = tokenizer_file_beside(t, name);
    struct stat st;
    *there = !(stat(path, &st) && errno == ENOENT);
    return path;
}

/* chat_template.jinja, which transformers prefers to tokenizer_config.json's chat_template. */
static char *read_jinja_file(ChatTemplate *ct, char *file) {
    size_t len;
    char *text = read_file_limited(file, (size_t)1 << 20, &len);
    if (!text) snprintf(ct->err, sizeof ct->err, "'%s': %s", file, strerror(errno));
    else if (strlen(text) != len) {   /* the template would end at it */
        snprintf(ct->err, sizeof ct->err, "'%s' holds a NUL byte", file);
        free(text);
        text = NULL;
    }
    free(ct->path);
    ct->path = file;
    return text;
}

/* Refuses a template that reads one of the special tokens transformers gives it beyond bos_token and
 * eos_token, from the keys of tokenizer_config.json's extra_special_tokens and of
 * special_tokens_map.json (pad_token and the other standard ones jinja_parse refuses itself): mixc
 * does not read them. */
static void refuse_other_tokens(ChatTemplate *ct, const Tokenizer *t, json_t *root) {
    bool there;
    char *map_path = beside(t, "special_tokens_map.json", &there);
    json_t *map = there ? json_load_file(map_path, 0, NULL) : NULL, *sources[2] = {json_object_get(root, "extra_special_tokens"), map};
    char e[500];
    for (int k = 0; k < 2 && !ct->err[0]; k++) {
        const char *key;
        json_t *v;
        json_object_foreach(json_is_object(sources[k]) ? sources[k] : NULL, key, v) {
            if (strcmp(key, "bos_token") && strcmp(key, "eos_token") &&
                jinja_reads_unset(ct->jt, key, "transformers gives it the tokenizer's special token, which mixc does not read", e,
                                  sizeof e)) {
                snprintf(ct->err, sizeof ct->err, "'%s': chat_template:%s", ct->path, e);
                break;
            }
        }
    }
    json_decref(map);
    free(map_path);
}

ChatTemplate *chat_template_load(const Tokenizer *t) {
    bool has_cfg, has_file;
    char *cfg = beside(t, "tokenizer_config.json", &has_cfg), *file = beside(t, "chat_template.jinja", &has_file);
    ChatTemplate *ct = xcalloc(1, sizeof *ct);
    ct->path = cfg;
    json_t *root = NULL;
    const char *src = NULL;
    char *text = NULL;
    if (has_cfg) {
        json_error_t je;
        json_t *v = (root = json_load_file(cfg, JSON_REJECT_DUPLICATES, &je)) ? json_object_get(root, "chat_template") : NULL;
        if (!root) snprintf(ct->err, sizeof ct->err, "'%s':%d:%d: %s", cfg, je.line, je.column, je.text);
        else if (token_field(ct, root, "bos_token", &ct->bos) && token_field(ct, root, "eos_token", &ct->eos) &&
                 !has_file && v && !json_is_null(v))
            src = template_text(ct, v);
    }
    if (has_file && !ct->err[0]) src = text = read_jinja_file(ct, file);
    else free(file);
    if (src) {
        char e[500];
        if (!(ct->jt = jinja_parse(src, e, sizeof e)))
            snprintf(ct->err, sizeof ct->err, "'%s': chat_template:%s", ct->path, e);
        else turn_ends(ct, t, src);
        if (ct->jt && !ct->err[0]) refuse_other_tokens(ct, t, root);
        ct->reads_content = strstr(src, "content") != NULL;
    } else if (!ct->err[0]) {   /* no template: Llama 3's by hand */
        chat_template_free(ct);
        ct = NULL;
    }
    free(text);
    json_decref(root);
    return ct;
}

const char *chat_template_error(const ChatTemplate *ct) { return ct && ct->err[0] ? ct->err : NULL; }

void chat_template_free(ChatTemplate *ct) {
    if (!ct) return;
    jinja_free(ct->jt);
    free(ct->bos);
    free(ct->eos);
    free(ct->path);
    free(ct);
}

bool chat_template_render(const ChatTemplate *ct, const Tokenizer *t, const ChatMessage *m, int n, Buf *out,
                          int32_t stop_ids[CHAT_MAX_STOP], int *nstop, char *err, size_t errlen) {
    ChatRender how = {.add_generation_prompt = true};
    return chat_template_render_as(ct, t, m, n, &how, out, stop_ids, nstop, err, errlen);
}

/* The n messages rendered as they are (ct's template, or Llama 3's by hand). */
static bool render(const ChatTemplate *ct, const Tokenizer *t, const ChatMessage *m, int n, const ChatRender *how,
                   Buf *out, int32_t stop_ids[CHAT_MAX_STOP], int *nstop, char *err, size_t errlen) {
    char e[500];
    if (how->documents && (!ct || ct->err[0] || !jinja_reads_unset(ct->jt, "documents", "", e, sizeof e))) {
        snprintf(err, errlen, "field 'documents': the chat template %s does not read them (they would not reach the model)",
                 ct ? ct->path : "(Llama 3's, by hand)");
        return false;
    }
    if (!ct) return llama3_render(t, m, n, how->add_generation_prompt, out, stop_ids, nstop, err, errlen);
    if (ct->err[0]) {
        snprintf(err, errlen, "the chat template cannot be rendered: %s", ct->err);
        return false;
    }
    JinjaContext c = {m, n, ct->bos, ct->eos, how->add_generation_prompt, NULL, how->tools,   /* strftime_now: the local time */
                      how->kwargs, how->nkwargs, how->documents};
    bool raised = false;
    if (!jinja_render(ct->jt, &c, out, &raised, e, sizeof e)) {
        if (raised) snprintf(err, errlen, "the chat template refuses the messages: %s", e);
        else snprintf(err, errlen, "the chat template of '%s' fails at chat_template:%s", ct->path, e);
        return false;
    }
    memcpy(stop_ids, ct->stop, sizeof ct->stop);
    *nstop = ct->nstop;
    return true;
}

/* transformers' tag after the content of a message to continue (apply_chat_template's). */
#define CONTINUE_TAG "CONTINUE_FINAL_MESSAGE_TAG "

/* The last occurrence of needle[0, n) in hay[0, len), or NULL. */
static const char *last_in(const char *hay, size_t len, const char *needle, size_t n) {
    for (size_t i = len >= n ? len - n + 1 : 0; i-- > 0;)
        if (!memcmp(hay + i, needle, n)) return hay + i;
    return NULL;
}

/* The messages rendered with the last one open (continue_final_message): its content tagged, the
 * text cut at the last tag, and the white space before it too when the template did not keep the
 * tag's own (transformers' apply_chat_template). */
static bool render_open(const ChatTemplate *ct, const Tokenizer *t, const ChatMessage *m, int n, const ChatRender *how,
                        Buf *out, int32_t stop_ids[CHAT_MAX_STOP], int *nstop, char *err, size_t errlen) {
    if (ct && !ct->err[0] && !ct->reads_content) {
        snprintf(err, errlen, "continue_final_message: the chat template never reads a message's content");
        return false;
    }
    ChatMessage *tagged = xmalloc((size_t)n * sizeof *tagged);
    memcpy(tagged, m, (size_t)n * sizeof *tagged);
    Buf last = {0}, full = {0};
    buf_append(&last, m[n - 1].content, m[n - 1].len);
    buf_puts(&last, CONTINUE_TAG);
    tagged[n - 1].content = last.data;
    tagged[n - 1].len = last.len;
    bool ok = render(ct, t, tagged, n, how, &full, stop_ids, nstop, err, errlen);
    size_t a, b, tag_len = sizeof CONTINUE_TAG - 2;   /* the tag stripped: without its space */
    jinja_strip(m[n - 1].content, m[n - 1].len, true, true, &a, &b);
    const char *text = full.data ? full.data : "", *tag = last_in(text, full.len, CONTINUE_TAG, tag_len);
    if (ok && (!tag || (b > a && !memmem(text, full.len, m[n - 1].content + a, b - a)))) {
        snprintf(err, errlen, "continue_final_message: the final message does not appear in the chat after the "
                 "chat template renders it (the template drops part of it): it cannot be continued");
        ok = false;
    }
    if (ok) {
        size_t cut = (size_t)(tag - text);
        if (cut + tag_len >= full.len || text[cut + tag_len] != ' ') jinja_strip(text, cut, false, true, &a, &cut);
        buf_append(out, text, cut);
    }
    buf_free(&last);
    buf_free(&full);
    free(tagged);
    return ok;
}

bool chat_template_render_as(const ChatTemplate *ct, const Tokenizer *t, const ChatMessage *m, int n, const ChatRender *how,
                             Buf *out, int32_t stop_ids[CHAT_MAX_STOP], int *nstop, char *err, size_t errlen) {
    return how->continue_final_message ? render_open(ct, t, m, n, how, out, stop_ids, nstop, err, errlen)
                                       : render(ct, t, m, n, how, out, stop_ids, nstop, err, errlen);
}
