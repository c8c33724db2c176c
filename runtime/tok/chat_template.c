/* chat_template.c — the Llama 3 chat template, rendered by hand (chat_template.h). */
#include "chat_template.h"

#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

/* Python's str.isspace, which Jinja's trim uses: bidirectional class WS, B or S, or category Zs. */
static bool py_space(utf8proc_int32_t c) {
    const utf8proc_property_t *p = utf8proc_get_property(c);
    return p->bidi_class == UTF8PROC_BIDI_CLASS_WS || p->bidi_class == UTF8PROC_BIDI_CLASS_B ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_S || p->category == UTF8PROC_CATEGORY_ZS;
}

/* s[*from, *to) without the white space at both ends, as Jinja's `trim` (Python's strip()). */
static void trim(const char *s, size_t len, size_t *from, size_t *to) {
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    size_t a = 0, b = len;
    while (a < b) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(u + a, (utf8proc_ssize_t)(b - a), &c);
        if (n <= 0 || !py_space(c)) break;
        a += (size_t)n;
    }
    while (b > a) {   /* back to the start of the last character */
        size_t k = b - 1;
        while (k > a && (u[k] & 0xC0) == 0x80) k--;
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(u + k, (utf8proc_ssize_t)(b - k), &c);
        if (n <= 0 || !py_space(c)) break;
        b = k;
    }
    *from = a;
    *to = b;
}

static const char *const LLAMA3_TOKENS[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};

bool chat_template_render(const Tokenizer *t, const ChatMessage *m, int n, Buf *out, int32_t stop_ids[CHAT_MAX_STOP],
                          int *nstop, char *err, size_t errlen) {
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
        trim(m[i].content, m[i].len, &a, &b);
        buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
        buf_append(out, m[i].content + a, b - a);
        buf_puts(out, "<|eot_id|>");
    }
    buf_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    *nstop = 0;
    stop_ids[(*nstop)++] = tokenizer_special_id(t, "<|eot_id|>");
    int32_t end = tokenizer_special_id(t, "<|end_of_text|>");
    if (end >= 0) stop_ids[(*nstop)++] = end;
    return true;
}
