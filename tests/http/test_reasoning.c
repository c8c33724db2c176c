/* test_reasoning.c — --reasoning-parser below HTTP (runtime/http/http_reasoning.c, http_answer.c):
 * the parts each parser reads from an answer, that a stream's parts only ever extend (whatever the
 * text so far), and that a stream's reasoning and content deltas join into the whole answer's. */
#include "http.h"

#include <stdio.h>

static int passed, failed;

static void check(const char *name, bool ok, const char *got, const char *want) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("    got:  [%s]\n    want: [%s]\n", got, want);
}

/* parts as "reasoning|content", a part "-" when absent, "?" when neither is known yet. */
static void parts_text(const char *text, AnswerParts a, char *out, size_t n) {
    if (!a.has_reasoning && !a.has_content) {
        snprintf(out, n, "?");
        return;
    }
    int k = a.has_reasoning ? snprintf(out, n, "%.*s|", (int)(a.reasoning.to - a.reasoning.from), text + a.reasoning.from)
                            : snprintf(out, n, "-|");
    if (a.has_content) snprintf(out + k, n - (size_t)k, "%.*s", (int)(a.content.to - a.content.from), text + a.content.from);
    else snprintf(out + k, n - (size_t)k, "-");
}

static void expect_parts(const char *name, ReasoningParser p, const char *text, bool done, const char *want) {
    char got[256];
    parts_text(text, reasoning_parts(p, text, strlen(text), done), got, sizeof got);
    check(name, !strcmp(got, want), got, want);
}

static void test_parts(void) {
    expect_parts("r1-closed", REASONING_DEEPSEEK_R1, "plan\n</think>\n\nAnswer.", true, "plan\n|\n\nAnswer.");
    expect_parts("r1-opened-by-model", REASONING_DEEPSEEK_R1, "<think>plan</think>Answer.", true, "plan|Answer.");
    expect_parts("r1-open-not-at-start", REASONING_DEEPSEEK_R1, "a<think>b</think>c", true, "a<think>b|c");
    expect_parts("r1-unclosed", REASONING_DEEPSEEK_R1, "still thinking", true, "still thinking|-");
    expect_parts("r1-empty-content", REASONING_DEEPSEEK_R1, "plan</think>", true, "plan|");
    expect_parts("r1-first-close-ends", REASONING_DEEPSEEK_R1, "a</think>b</think>c", true, "a|b</think>c");
    expect_parts("r1-empty", REASONING_DEEPSEEK_R1, "", true, "|-");
    expect_parts("r1-unfinished-partial-close", REASONING_DEEPSEEK_R1, "plan</thi", false, "plan|-");
    expect_parts("r1-finished-partial-close", REASONING_DEEPSEEK_R1, "plan</thi", true, "plan</thi|-");
    expect_parts("r1-unfinished-partial-open", REASONING_DEEPSEEK_R1, "<thi", false, "?");
    expect_parts("r1-unfinished-not-open", REASONING_DEEPSEEK_R1, "<thx", false, "<thx|-");
    expect_parts("qwen3-thinking", REASONING_QWEN3, "<think>\nplan\n</think>\n\nAnswer.", true, "\nplan\n|\n\nAnswer.");
    expect_parts("qwen3-no-think", REASONING_QWEN3, "Answer. </think> x", true, "-|Answer. </think> x");
    expect_parts("qwen3-unclosed", REASONING_QWEN3, "<think>plan", true, "plan|-");
    expect_parts("qwen3-unfinished-partial-open", REASONING_QWEN3, "<think", false, "?");
    expect_parts("qwen3-finished-partial-open", REASONING_QWEN3, "<think", true, "-|<think");
    expect_parts("qwen3-empty", REASONING_QWEN3, "", true, "-|");
    expect_parts("off", REASONING_OFF, "<think>a</think>b", false, "-|<think>a</think>b");
}

/* The parts of every prefix of text (unfinished) extend those of the shorter prefixes, and the
 * finished text's extend them all: what a stream sends never changes after. */
static bool extends(AnswerParts a, AnswerParts b) {   /* b extends a */
    if (a.has_reasoning && (!b.has_reasoning || b.reasoning.from != a.reasoning.from || b.reasoning.to < a.reasoning.to))
        return false;
    if (a.has_content && (!b.has_content || b.content.from != a.content.from || b.content.to < a.content.to)) return false;
    return !(a.has_content && b.has_reasoning && b.reasoning.to != a.reasoning.to);
}

static void expect_stable(const char *name, ReasoningParser p, const char *text) {
    size_t n = strlen(text);
    AnswerParts prev = reasoning_parts(p, text, 0, false), last = reasoning_parts(p, text, n, true);
    bool ok = extends(prev, last);
    size_t at = 0;
    for (size_t k = 1; k <= n && ok; k++) {
        AnswerParts a = reasoning_parts(p, text, k, false);
        ok = extends(prev, a) && extends(a, last);
        prev = a, at = k;
    }
    char where[32];
    snprintf(where, sizeof where, "prefix %zu", at);
    check(name, ok, ok ? "" : where, "");
}

static void test_stable(void) {
    static const char *const TEXTS[] = {"<think>\nplan </th </think>\n\nAnswer <tool_call>", "plan</think>x",
                                        "<thin", "<think", "<think>", "<think></think>", "a</think>", "</think",
                                        "no thinking", "<<think>>", "<think><think></think></think>"};
    char name[64];
    for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++)
        for (ReasoningParser p = REASONING_DEEPSEEK_R1; p <= REASONING_QWEN3; p++) {
            snprintf(name, sizeof name, "stable-%s-%zu", p == REASONING_QWEN3 ? "qwen3" : "r1", i);
            expect_stable(name, p, TEXTS[i]);
        }
}

/* A chat choice whose text is text[0, len), under parser p and tool parser t. */
static Reply *choice_of(HttpServer *s, ReasoningParser p, ToolParser t, const char *text, size_t len, bool done) {
    Reply *r = reply_new(s, true, 1);
    Gen *g = &r->choice[0];
    g->reasoning = p;
    g->tool_parser = t;
    g->text = xstrdup(text);
    g->text_len = g->ready = len;
    g->state = done ? GEN_DONE : GEN_RUNNING;
    g->finish = "stop";
    return r;
}

/* The answer's message: its "reasoning" and "content" as "reasoning|content" (null: "null", absent:
 * "-"; plain: both as ""), and its calls' names. */
static void message_text(HttpServer *s, ReasoningParser p, ToolParser t, const char *text, bool plain, char *out, size_t n) {
    Reply *r = choice_of(s, p, t, text, strlen(text), true);
    char *body = api_response_json(r);
    json_t *j = json_loads(body, 0, NULL);
    json_t *m = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    json_t *parts[2] = {json_object_get(m, "reasoning"), json_object_get(m, "content")}, *call;
    size_t k = 0, i;
    for (int part = 0; part < 2; part++)
        k += (size_t)snprintf(out + k, n - k, "%s%s", part ? "|" : "", json_is_string(parts[part]) ? json_string_value(parts[part])
                                                                       : plain ? "" : parts[part] ? "null" : "-");
    json_array_foreach(json_object_get(m, "tool_calls"), i, call)
        k += (size_t)snprintf(out + k, n - k, " call:%s", json_string_value(json_object_get(json_object_get(call, "function"), "name")));
    json_decref(j);
    free(body);
    reply_release(r);
}

static void expect_message(HttpServer *s, const char *name, ReasoningParser p, ToolParser t, const char *text, const char *want) {
    char got[256];
    message_text(s, p, t, text, false, got, sizeof got);
    check(name, !strcmp(got, want), got, want);
}

/* The stream of text growing a byte at a time: its reasoning and content deltas joined, and its
 * calls' names, as "reasoning|content calls" (as message_text writes the whole answer). */
static void stream_text(HttpServer *s, ReasoningParser p, ToolParser t, const char *text, char *out, size_t n) {
    Buf reasoning = {0}, content = {0}, calls = {0};
    StreamPos pos = {.first = true};
    size_t len = strlen(text);
    for (size_t k = 0; k <= len + 1; k++) {
        Reply *r = choice_of(s, p, t, text, k <= len ? k : len, k > len);
        char *event;
        while ((event = api_stream_next(&r->choice[0], &pos))) {
            json_t *j = json_loads(event + 6, 0, NULL), *d = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
            json_t *rs = json_object_get(d, "reasoning"), *c = json_object_get(d, "content"), *call;
            size_t i;
            if (rs) buf_append(&reasoning, json_string_value(rs), json_string_length(rs));
            if (c) buf_append(&content, json_string_value(c), json_string_length(c));
            json_array_foreach(json_object_get(d, "tool_calls"), i, call) {
                buf_append(&calls, " call:", 6);
                const char *name = json_string_value(json_object_get(json_object_get(call, "function"), "name"));
                buf_append(&calls, name, strlen(name));
            }
            json_decref(j);
            free(event);
        }
        reply_release(r);
    }
    snprintf(out, n, "%.*s|%.*s%.*s", (int)reasoning.len, reasoning.data ? reasoning.data : "", (int)content.len,
             content.data ? content.data : "", (int)calls.len, calls.data ? calls.data : "");
    buf_free(&reasoning);
    buf_free(&content);
    buf_free(&calls);
}

static void test_answers(void) {
    HttpServer s = {.model = "m", .vocab = 8, .mu = PTHREAD_MUTEX_INITIALIZER};
    expect_message(&s, "message-r1", REASONING_DEEPSEEK_R1, TOOL_PARSER_OFF, "plan</think>Answer.", "plan|Answer.");
    expect_message(&s, "message-r1-no-content", REASONING_DEEPSEEK_R1, TOOL_PARSER_OFF, "plan", "plan|null");
    expect_message(&s, "message-qwen3-no-think", REASONING_QWEN3, TOOL_PARSER_OFF, "Answer.", "null|Answer.");
    expect_message(&s, "message-qwen3-empty", REASONING_QWEN3, TOOL_PARSER_OFF, "", "null|");
    expect_message(&s, "message-off", REASONING_OFF, TOOL_PARSER_OFF, "<think>a</think>b", "-|<think>a</think>b");
    expect_message(&s, "message-r1-call-in-content", REASONING_DEEPSEEK_R1, TOOL_PARSER_HERMES,
                   "I'll check <tool_call> here.</think>Checking.<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>",
                   "I'll check <tool_call> here.|Checking. call:now");
    expect_message(&s, "message-r1-call-only", REASONING_DEEPSEEK_R1, TOOL_PARSER_HERMES,
                   "p</think><tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>", "p|null call:now");
    static const char *const TEXTS[] = {"<think>\nplan\n</think>\n\nAnswer.", "plan</think>", "</thi", "<think>a</th",
                                        "p</think>ok<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>",
                                        "no think <tool_call>{\"name\": \"a\", \"arguments\": 1}</tool_call>", ""};
    char name[64], streamed[512], whole[512];   /* the whole answer's null parts are empty in a stream */
    for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++)
        for (ReasoningParser p = REASONING_OFF; p <= REASONING_QWEN3; p++) {
            snprintf(name, sizeof name, "stream-joins-%d-%zu", (int)p, i);
            stream_text(&s, p, TOOL_PARSER_HERMES, TEXTS[i], streamed, sizeof streamed);
            message_text(&s, p, TOOL_PARSER_HERMES, TEXTS[i], true, whole, sizeof whole);
            check(name, !strcmp(streamed, whole), streamed, whole);
        }
}

int main(void) {
    test_parts();
    test_stable();
    test_answers();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
