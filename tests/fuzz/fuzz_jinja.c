/* fuzz_jinja.c — libFuzzer target: arbitrary bytes as a chat template (runtime/tok/jinja.c), the text
 * of a tokenizer_config.json's "chat_template" that `mixrun serve` renders for every chat request.
 * Nothing may crash, hang, leak or hit undefined behaviour; a refusal or a failed render says why;
 * and a render is a function of the template and the messages (twice the same text). */
#include "jinja.h"
#define FUZZ_NAME "fuzz_jinja"
#include "fuzz_common.h"

#include <string.h>

/* The messages of a chat with every role, a content holding template syntax and non-ASCII text. */
#define MESSAGE(role, text) {role, text, sizeof text - 1, NULL}
static ChatMessage messages[] = {
    MESSAGE("system", "be brief"),
    MESSAGE("user", "{{ x }} caf\xc3\xa9"),
    MESSAGE("assistant", ""),
    MESSAGE("tool", " padded \n"),
};

/* JSON values as a tool-calling request brings them: the tools, an assistant's tool call (its
 * arguments a dict, as vLLM hands them over), chat_template_kwargs of every type. */
static json_t *tools, *tool_calls, *kwarg_values;

static void make_json(void) {
    if (tools) return;
    tools = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"get\", \"description\": \"d\\u00e9\", "
                       "\"parameters\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"number\", "
                       "\"minimum\": 0.5, \"enum\": [1, 2.5e-7, 1e22, true, null]}}}}}]", 0, NULL);
    tool_calls = json_loads("{\"tool_calls\": [{\"id\": \"abcdefghi\", \"type\": \"function\", \"function\": "
                            "{\"name\": \"get\", \"arguments\": {\"x\": 1.5, \"y\": [\"a\", {}]}}}]}", 0, NULL);
    kwarg_values = json_loads("[\"1 Dec 2026\", true, [\"brave_search\", \"code_interpreter\"], {\"a\": 1}]", 0, NULL);
    messages[2].extra = tool_calls;
}

static bool render(const JinjaTemplate *t, const JinjaContext *c, Buf *out, char *err, size_t errlen) {
    bool raised = false;
    err[0] = '\0';
    bool ok = jinja_render(t, c, out, &raised, err, errlen);
    if (!ok && !err[0]) contract_broken("a render failed without saying why");
    if (ok && raised) contract_broken("a render succeeded and raised");
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    char err[600] = "";
    JinjaTemplate *t = jinja_parse(src, err, sizeof err);
    free(src);
    if (!t) {
        if (!err[0]) contract_broken("a template was refused without saying why");
        return 0;
    }
    struct tm now = {.tm_year = 126, .tm_mon = 11, .tm_mday = 3, .tm_wday = 4, .tm_yday = 336};
    int n = (int)(size % 5);   /* 0 to 4 messages: the empty chat too */
    make_json();
    const JinjaKwarg kwargs[4] = {{"date_string", json_array_get(kwarg_values, 0)},
                                  {"tools_in_user_message", json_array_get(kwarg_values, 1)},
                                  {"builtin_tools", json_array_get(kwarg_values, 2)},
                                  {"custom_tools", json_array_get(kwarg_values, 3)}};
    JinjaContext c = {messages, n, size % 3 ? "<s>" : NULL, size % 3 == 1 ? "</s>" : NULL, size % 2 == 0, &now,
                      size % 7 == 0 ? tools : NULL, kwargs, size % 11 ? 0 : 4};   /* tools and kwargs now and then */
    Buf a = {0}, b = {0};
    char err2[600];
    bool ok = render(t, &c, &a, err, sizeof err);
    if (render(t, &c, &b, err2, sizeof err2) != ok) contract_broken("a second render of the same template differs");
    if (ok && (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len))))
        contract_broken("a second render gave another text");
    if (!ok && strcmp(err, err2)) contract_broken("a second render failed with another message");
    buf_free(&a);
    buf_free(&b);
    jinja_free(t);
    return 0;
}
