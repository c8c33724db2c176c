/* test_tools.c — tool calling's answer side below HTTP (runtime/http/http_tools.c, http_answer.c):
 * the hermes and llama3_json parsers on answers as models write them (the calls vLLM's parsers read,
 * and the texts they leave as text), what a stream may send before a call, and the chat answer and
 * stream chunk that carry the calls. Prints PASS/FAIL lines and "N passed, N failed"; exit 1 on
 * failure. */
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void check(const char *name, bool ok, const char *got, const char *want) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (ok) passed++;
    else printf("    got:  %s\n    want: %s\n", got ? got : "(null)", want), failed++;
}

/* The calls of text as "name(arguments)|name(arguments)" (ids checked apart), and the content's bytes;
 * "text" when the parser leaves it all text (the content then all of it, want_content unused). */
static void expect_read(const char *name, ToolParser p, const char *text, const char *want_calls, size_t want_content) {
    size_t content = 0;
    json_t *calls = tools_read(p, text, strlen(text), NULL, &content);
    Buf got = {0};
    bool ids = true;
    if (!calls) buf_puts(&got, "text");
    for (size_t k = 0; k < json_array_size(calls); k++) {
        json_t *c = json_array_get(calls, k), *f = json_object_get(c, "function");
        const char *id = json_string_value(json_object_get(c, "id"));
        bool alnum9 = id && strlen(id) == 9;   /* mistral's: 9 letters and digits */
        for (int i = 0; alnum9 && i < 9; i++) alnum9 = isalnum((unsigned char)id[i]);
        ids &= (p == TOOL_PARSER_MISTRAL ? alnum9 : id && !strncmp(id, "chatcmpl-tool-", 14) && strlen(id) == 14 + 32) &&
               !strcmp(json_string_value(json_object_get(c, "type")), "function");
        if (k) ids &= strcmp(id, json_string_value(json_object_get(json_array_get(calls, 0), "id"))) != 0;
        buf_printf(&got, "%s%s(%s)", k ? "|" : "", json_string_value(json_object_get(f, "name")),
                   json_string_value(json_object_get(f, "arguments")));
    }
    buf_printf(&got, " content=%zu", calls ? content : strlen(text));
    char want[600];
    snprintf(want, sizeof want, "%s content=%zu", want_calls, strcmp(want_calls, "text") ? want_content : strlen(text));
    check(name, !strcmp(got.data, want) && ids, got.data, want);
    buf_free(&got);
    json_decref(calls);
}

static void test_hermes(void) {
    ToolParser h = TOOL_PARSER_HERMES;
    expect_read("hermes-one", h, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>", "now({})", 0);
    /* arguments as Python's json.dumps(ensure_ascii=False) writes them: spaced, floats as repr, UTF-8 kept */
    expect_read("hermes-arguments-as-python-dumps", h,
                "Let me look.<tool_call>{\"name\":\"get\",\"arguments\":{\"city\":\"\xe6\x9d\xb1\xe4\xba\xac\",\"n\":[1,0.10,1e22,"
                "1E-5,-0.0,true,null],\"q\":\"a\\\"b\\n\"}}</tool_call>",
                "get({\"city\": \"\xe6\x9d\xb1\xe4\xba\xac\", \"n\": [1, 0.1, 1e+22, 1e-05, -0.0, true, null], \"q\": \"a\\\"b\\n\"})",
                12);
    expect_read("hermes-two-calls-text-between", h,
                "<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": 1}}</tool_call> and <tool_call>{\"name\": \"b\", "
                "\"arguments\": \"s\"}</tool_call>tail", "a({\"x\": 1})|b(\"s\")", 0);
    expect_read("hermes-unclosed-last", h, "x<tool_call>{\"name\": \"a\", \"arguments\": {}}  ", "a({})", 1);
    expect_read("hermes-no-call", h, "just text with </tool_call>", "text", 0);
    expect_read("hermes-bad-json-all-text", h, "<tool_call>{\"name\": \"a\", \"arguments\": {}</tool_call>", "text", 0);
    expect_read("hermes-no-arguments-all-text", h, "<tool_call>{\"name\": \"a\"}</tool_call>", "text", 0);
    expect_read("hermes-name-not-string", h, "<tool_call>{\"name\": 1, \"arguments\": {}}</tool_call>", "text", 0);
    expect_read("hermes-one-bad-of-two", h,
                "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call><tool_call>[]</tool_call>", "text", 0);
}

static void test_llama3(void) {
    ToolParser l = TOOL_PARSER_LLAMA3_JSON;
    expect_read("llama3-parameters", l, "{\"name\": \"get\", \"parameters\": {\"city\": \"Paris\"}}", "get({\"city\": \"Paris\"})", 0);
    expect_read("llama3-python-tag-arguments", l, "<|python_tag|>{\"name\": \"a\", \"arguments\": {\"k\": 2.5}}",
                "a({\"k\": 2.5})", 0);
    expect_read("llama3-two-by-semicolon", l, "{\"name\": \"a\", \"parameters\": {}} ; {\"name\": \"b\", \"parameters\": [1]}\n",
                "a({})|b([1])", 0);
    expect_read("llama3-text-first", l, "Sure: {\"name\": \"a\", \"parameters\": {}}", "text", 0);
    expect_read("llama3-text-after", l, "{\"name\": \"a\", \"parameters\": {}} and more", "text", 0);
    expect_read("llama3-not-a-call", l, "{\"answer\": 42}", "text", 0);
    expect_read("llama3-truncated", l, "{\"name\": \"a\", \"parameters\": {", "text", 0);
}

static void test_mistral(void) {
    ToolParser m = TOOL_PARSER_MISTRAL;
    expect_read("mistral-two", m, "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", \"arguments\": {}}]",
                "a({\"x\": 1})|b({})", 0);
    expect_read("mistral-text-before", m, "Sure.[TOOL_CALLS][{\"name\": \"a\", \"arguments\": [0.5]}]\n", "a([0.5])", 5);
    expect_read("mistral-not-a-list", m, "[TOOL_CALLS] {\"name\": \"a\", \"arguments\": {}}", "text", 0);
    expect_read("mistral-empty-list", m, "[TOOL_CALLS] []", "text", 0);
    expect_read("mistral-text-after", m, "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {}}] and so", "text", 0);
    expect_read("mistral-no-tag", m, "[{\"name\": \"a\", \"arguments\": {}}]", "text", 0);
}

static void expect_limit(const char *name, ToolParser p, const char *text, size_t want) {
    size_t got = tools_stream_limit(p, text, strlen(text));
    char g[32], w[32];
    snprintf(g, sizeof g, "%zu", got);
    snprintf(w, sizeof w, "%zu", want);
    check(name, got == want, g, w);
}

static void test_stream_limits(void) {
    expect_limit("limit-hermes-text", TOOL_PARSER_HERMES, "Hello there", 11);
    expect_limit("limit-hermes-partial-tag", TOOL_PARSER_HERMES, "Hello <tool_c", 6);
    expect_limit("limit-hermes-not-the-tag", TOOL_PARSER_HERMES, "Hello <tool_x", 13);
    expect_limit("limit-hermes-at-call", TOOL_PARSER_HERMES, "Hi<tool_call>{\"na", 2);
    expect_limit("limit-hermes-lone-angle", TOOL_PARSER_HERMES, "a <", 2);
    expect_limit("limit-llama3-json", TOOL_PARSER_LLAMA3_JSON, "{\"name", 0);
    expect_limit("limit-llama3-tag-start", TOOL_PARSER_LLAMA3_JSON, "<|pyth", 0);
    expect_limit("limit-llama3-text", TOOL_PARSER_LLAMA3_JSON, "The answer {", 12);
    expect_limit("limit-llama3-empty", TOOL_PARSER_LLAMA3_JSON, "", 0);
    expect_limit("limit-mistral-partial-tag", TOOL_PARSER_MISTRAL, "Sure [TOOL_", 5);
    expect_limit("limit-mistral-at-call", TOOL_PARSER_MISTRAL, "Sure [TOOL_CALLS][{", 5);
    expect_limit("limit-qwen3-coder-at-call", TOOL_PARSER_QWEN3_CODER, "Sure <tool_call>\n<function=f>", 5);
    expect_limit("limit-qwen3-coder-at-function", TOOL_PARSER_QWEN3_CODER, "Sure <function=f> <tool_call>", 5);
    expect_limit("limit-qwen3-coder-partial-function", TOOL_PARSER_QWEN3_CODER, "Sure <funct", 5);
    expect_limit("limit-qwen3-coder-partial-call", TOOL_PARSER_QWEN3_CODER, "Sure <tool_", 5);
    expect_limit("limit-qwen3-coder-text", TOOL_PARSER_QWEN3_CODER, "Sure <b>", 8);
}

/* A finished chat choice holding text, as the engine leaves it. */
static Reply *answered(HttpServer *s, ToolParser p, const char *text) {
    Reply *r = reply_new(s, true, 1);
    Gen *g = &r->choice[0];
    g->tool_parser = p;
    g->text = xstrdup(text);
    g->text_len = g->ready = strlen(text);
    g->state = GEN_DONE;
    g->finish = "stop";
    return r;
}

/* The first choice of the answer to a chat that answered text under parser p (r released). */
static json_t *first_choice(HttpServer *s, ToolParser p, const char *text, char **body) {
    Reply *r = answered(s, p, text);
    *body = api_response_json(r);
    reply_release(r);
    json_t *j = json_loads(*body, 0, NULL), *c = json_incref(json_array_get(json_object_get(j, "choices"), 0));
    json_decref(j);
    return c;
}

static void test_answers(void) {
    HttpServer s = {.model = "m", .vocab = 8, .mu = PTHREAD_MUTEX_INITIALIZER};
    char *body;
    json_t *c = first_choice(&s, TOOL_PARSER_HERMES, "Checking.<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>", &body);
    json_t *m = json_object_get(c, "message"), *call = json_array_get(json_object_get(m, "tool_calls"), 0);
    bool ok = !strcmp(json_string_value(json_object_get(c, "finish_reason")), "tool_calls") &&
              !strcmp(json_string_value(json_object_get(m, "content")), "Checking.") &&
              !strcmp(json_string_value(json_object_get(json_object_get(call, "function"), "name")), "now") &&
              !json_object_get(call, "index");
    check("answer-tool-calls", ok, body, "finish_reason tool_calls, content \"Checking.\", the call without an index");
    free(body);
    json_decref(c);

    c = first_choice(&s, TOOL_PARSER_LLAMA3_JSON, "{\"name\": \"now\", \"parameters\": {}}", &body);
    m = json_object_get(c, "message");
    check("answer-content-null", json_is_null(json_object_get(m, "content")) && json_array_size(json_object_get(m, "tool_calls")) == 1,
          body, "content null beside one call");
    free(body);
    json_decref(c);

    c = first_choice(&s, TOOL_PARSER_HERMES, "no calls here", &body);
    m = json_object_get(c, "message");
    check("answer-text-as-is", !json_object_get(m, "tool_calls") && !strcmp(json_string_value(json_object_get(m, "content")), "no calls here") &&
          !strcmp(json_string_value(json_object_get(c, "finish_reason")), "stop"), body, "the text, finish_reason stop");
    free(body);
    json_decref(c);

    Reply *r = answered(&s, TOOL_PARSER_HERMES, "<tool_call>{\"name\": \"a\", \"arguments\": 1}</tool_call>"
                                                "<tool_call>{\"name\": \"b\", \"arguments\": 2}</tool_call>");
    StreamPos pos = {0};   /* a stream's last chunk (nothing before the calls): the calls with their index */
    char *event = api_stream_next(&r->choice[0], &pos);
    json_t *j = json_loads(event + 6, 0, NULL);
    json_t *d = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
    json_t *calls = json_object_get(d, "tool_calls");
    ok = json_array_size(calls) == 2 && json_integer_value(json_object_get(json_array_get(calls, 1), "index")) == 1 &&
         !json_object_get(d, "content");
    ok = ok && pos.finish_sent && !api_stream_next(&r->choice[0], &pos);
    check("chunk-tool-calls-indexed", ok, event, "two calls, indexed 0 and 1, no content, the stream's one event");
    free(event);
    json_decref(j);
    reply_release(r);
}

/* --request FIXTURE NAME: the chat_templates.json case NAME as a request body, on stdout: its messages
 * as OpenAI clients send them (a tool call's arguments as JSON text, reasoning as "reasoning" alone),
 * its tools, kwargs and documents (where it has them) as they are, on one line. Written by jansson, whose
 * numbers read back the same (jq 1.6 writes -0.0 as -0). */
static int print_request(const char *fixture, const char *name) {
    json_t *root = json_load_file(fixture, 0, NULL), *c = NULL, *x;
    size_t i;
    json_array_foreach(json_object_get(root, "cases"), i, x) if (!strcmp(json_string_value(json_object_get(x, "name")), name)) c = x;
    if (!c) return fprintf(stderr, "test_tools: no case %s in %s\n", name, fixture), 2;
    json_t *messages = json_deep_copy(json_object_get(c, "messages")), *m, *call;
    size_t k;
    json_array_foreach(messages, i, m) {   /* the client sends "reasoning" alone */
        json_object_del(m, "reasoning_content");
        json_object_del(m, "thinking");
    }
    json_array_foreach(messages, i, m) json_array_foreach(json_object_get(m, "tool_calls"), k, call) {
        json_t *f = json_object_get(call, "function");
        char *args = json_dumps(json_object_get(f, "arguments"), JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        json_object_set_new(f, "arguments", json_string(args));
        free(args);
    }
    json_t *body = json_pack("{s:o}", "messages", messages);
    if (json_object_get(c, "tools")) json_object_set(body, "tools", json_object_get(c, "tools"));
    if (json_object_get(c, "kwargs")) json_object_set(body, "chat_template_kwargs", json_object_get(c, "kwargs"));
    if (json_object_get(c, "documents")) json_object_set(body, "documents", json_object_get(c, "documents"));
    char *text = json_dumps(body, JSON_REAL_PRECISION(17));
    puts(text);
    free(text);
    json_decref(body);
    json_decref(root);
    return 0;
}

/* A parser against vLLM's reading of each case of a fixture (make_pythonic_fixtures.py,
 * make_qwen3_coder_fixtures.py; its "tools" the request's): its calls' names and arguments, or text,
 * and the content before them (a case's "content", else none); a committed case's "calls" (text
 * where the reader is stricter, with the reason), a random one's "vllm" unless it holds what the
 * reader leaves out (its "outside": a positional argument, a key not a string, a complex number, ...),
 * where it is text. label names the checks. */
static void test_fixture(const char *fixture, const char *label) {
    json_t *root = json_load_file(fixture, JSON_ALLOW_NUL, NULL), *c;
    size_t i;
    char name[96];
    snprintf(name, sizeof name, "%s-fixture", label);
    if (!root) return check(name, false, fixture, "a fixture");
    bool random = json_is_true(json_object_get(root, "random"));
    const json_t *tools = json_object_get(root, "tools");
    int same = 0, calls_same = 0, stricter = 0;
    json_array_foreach(json_object_get(root, "cases"), i, c) {
        const char *text = json_string_value(json_object_get(c, "text")), *parser = json_string_value(json_object_get(c, "parser"));
        size_t len = json_string_length(json_object_get(c, "text")), content;
        ToolParser p;
        tools_parser_named(parser, &p);
        json_t *calls = tools_read(p, text, len, tools, &content), *got = calls ? json_array() : json_null(), *call;
        size_t k;
        json_array_foreach(calls, k, call) {
            json_t *f = json_object_get(call, "function");
            json_array_append_new(got, json_pack("[O, O]", json_object_get(f, "name"), json_object_get(f, "arguments")));
        }
        json_t *want = json_object_get(c, random ? "vllm" : "calls"), *before = json_object_get(c, "content");
        size_t want_content = !calls ? len : json_is_string(before) ? json_string_length(before) : 0;
        bool ok = json_equal(got, want) && content == want_content;
        same += ok, calls_same += ok && calls;
        if (random && !ok && json_is_null(got) && json_array_size(json_object_get(c, "outside")))
            ok = true, stricter++;   /* the reader's subset: text where vLLM took more */
        char *g = json_dumps(got, JSON_ENCODE_ANY), *w = json_dumps(want, JSON_ENCODE_ANY);
        snprintf(name, sizeof name, "%s-%s", label, json_string_value(json_object_get(c, "name")));
        if (!random || !ok) check(name, ok, g, w);
        if (random && getenv("MIXC_FIXTURE_SHOW") && !json_equal(got, want)) printf("    text where vLLM reads calls: %s\n", text);
        free(g);
        free(w);
        json_decref(got);
        json_decref(calls);
    }
    if (random) {
        char got[160];
        snprintf(got, sizeof got, "%zu answers, %d read as vLLM reads them (%d of them calls), %d text where vLLM reads "
                 "calls", json_array_size(json_object_get(root, "cases")), same, calls_same, stricter);
        snprintf(name, sizeof name, "%s-random-answers", label);
        check(name, same + stricter == (int)json_array_size(json_object_get(root, "cases")), got, "");
        printf("    %s\n", got);
    }
    json_decref(root);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--request")) return print_request(argv[2], argv[3]);
    if (argc == 3 && (!strcmp(argv[1], "--pythonic") || !strcmp(argv[1], "--qwen3-coder"))) {
        test_fixture(argv[2], argv[1] + 2);
        printf("%d passed, %d failed\n", passed, failed);
        return failed != 0;
    }
    test_fixture("tests/http/fixtures/pythonic.json", "pythonic");
    test_fixture("tests/http/fixtures/qwen3_coder.json", "qwen3-coder");
    test_hermes();
    test_llama3();
    test_mistral();
    test_stream_limits();
    test_answers();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
