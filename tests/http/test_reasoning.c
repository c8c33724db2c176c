/* test_reasoning.c — --reasoning-parser below HTTP (runtime/http/http_reasoning.c, http_answer.c):
 * the parts each parser reads from an answer, that a stream's parts only ever extend (whatever the
 * text so far), and that a stream's reasoning and content deltas join into the whole answer's; and
 * the answer's text as update_text decodes it id by id (http_gen.c). */
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

/* A harmony answer written as its text with @ and a letter for each special token (@S <|start|>, @C
 * <|channel|>, @K <|constrain|>, @M <|message|>, @E <|end|>, @X <|call|>, @R <|return|>; @x and @r
 * the stop tokens <|call|> and <|return|> that end it, without text) into g's text and marks; every
 * other byte, "<|channel|>" too, is text. */
static void harmony_of(Gen *g, const char *notation, size_t n) {
    static const char *const TEXT[HARMONY_NMARKS] = HARMONY_TEXTS;
    static const char LETTERS[] = "SCKMEXR";
    Buf b = {0};
    for (size_t i = 0; i < n; i++) {
        const char *k = i + 1 < n && notation[i] == '@' ? strchr(LETTERS, toupper((unsigned char)notation[i + 1])) : NULL;
        if (!k) {
            buf_append(&b, notation + i, 1);
            continue;
        }
        HarmonyMark m = (HarmonyMark)(k - LETTERS);
        size_t len = islower((unsigned char)notation[++i]) ? 0 : strlen(TEXT[m]);
        g->marks = xrealloc(g->marks, (size_t)(g->nmarks + 1) * sizeof *g->marks);
        g->marks[g->nmarks++] = (HarmonyAt){b.len, len, m};
        buf_append(&b, TEXT[m], len);
    }
    buf_append(&b, "", 0);
    g->text = b.data;
    g->text_len = g->ready = b.len;
}

/* A chat choice whose text is text[0, len) (openai_gptoss: harmony_of's notation), under parser p and
 * tool parser t. */
static Reply *choice_of(HttpServer *s, ReasoningParser p, ToolParser t, const char *text, size_t len, bool done) {
    Reply *r = reply_new(s, true, 1);
    Gen *g = &r->choice[0];
    g->reasoning = p;
    g->tool_parser = t;
    if (p == REASONING_OPENAI_GPTOSS) {
        harmony_of(g, text, len);
    } else {
        g->text = xstrdup(text);
        g->text_len = g->ready = len;
    }
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
    char got[1024];
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
        if (p == REASONING_OPENAI_GPTOSS && k && k <= len && text[k - 1] == '@') continue;   /* a token comes whole */
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

/* The arguments of the calls of a finished harmony answer, joined by " ". */
static void call_args(HttpServer *s, const char *text, char *out, size_t n) {
    Reply *r = choice_of(s, REASONING_OPENAI_GPTOSS, TOOL_PARSER_OPENAI, text, strlen(text), true);
    char *body = api_response_json(r);
    json_t *j = json_loads(body, 0, NULL), *call;
    json_t *m = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
    size_t i, k = 0;
    out[0] = 0;
    json_array_foreach(json_object_get(m, "tool_calls"), i, call)
        k += (size_t)snprintf(out + k, n - k, "%s%s", i ? " " : "", json_string_value(json_object_get(json_object_get(call, "function"), "arguments")));
    json_decref(j);
    free(body);
    reply_release(r);
}

static void expect_args(HttpServer *s, const char *name, const char *text, const char *want) {
    char got[256];
    call_args(s, text, got, sizeof got);
    check(name, !strcmp(got, want), got, want);
}

#define HEADER_LONGER 257

/* gpt-oss' answers (harmony_of's notation): analysis is reasoning; final and preambles content; a
 * message to a function a call with the openai parser, else raw text; all from a break of the format
 * on raw text; whole answers and streams alike. */
static void test_harmony(void) {
    HttpServer s = {.model = "m", .vocab = 8, .mu = PTHREAD_MUTEX_INITIALIZER};
    const ReasoningParser H = REASONING_OPENAI_GPTOSS;
    static const struct { const char *name, *text, *want, *want_off; } CASES[] = {
        {"harmony-analysis-final", "@Canalysis@Mthink@E@Sassistant@Cfinal@MAnswer.@r", "think|Answer.", NULL},
        {"harmony-final-only", "@Cfinal@MHi@r", "null|Hi", NULL},
        {"harmony-call", "@Canalysis@Mneed weather@E@Sassistant@Ccommentary to=functions.get_weather @Kjson@M{\"city\":\"SF\"}@x",
         "need weather|null call:get_weather",
         "need weather|<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"SF\"}"},
        {"harmony-call-role-recipient", "@Canalysis@Mx@E@Sassistant to=functions.f@Ccommentary json@M{}@x", "x|null call:f",
         "x|<|start|>assistant to=functions.f<|channel|>commentary json<|message|>{}"},
        {"harmony-first-recipient", " to=functions.f@Ccommentary@M{}@X", "null|null call:f", "null| to=functions.f<|channel|>commentary<|message|>{}<|call|>"},
        {"harmony-two-calls", "@Ccommentary to=functions.f@M{}@X@Sassistant@Ccommentary to=functions.g@M[1]@x", "null|null call:f call:g",
         "null|<|channel|>commentary to=functions.f<|message|>{}<|call|><|start|>assistant<|channel|>commentary to=functions.g<|message|>[1]"},
        {"harmony-preamble", "@Ccommentary@MLet me check.@E@Sassistant@Cfinal@MDone.@r", "null|Let me check.\nDone.", NULL},
        {"harmony-two-analyses", "@Canalysis@Ma@E@Sassistant@Canalysis@Mb@E@Sassistant@Cfinal@Mc@r", "a\nb|c", NULL},
        {"harmony-unfinished-analysis", "@Canalysis@Mhalf", "half|null", NULL},
        {"harmony-unfinished-header", "@Canaly", "null|null", NULL},
        {"harmony-unfinished-final", "@Canalysis@Ma@E@Sassistant@Cfinal@Mb", "a|b", NULL},
        {"harmony-empty", "", "null|null", NULL},
        {"harmony-not-harmony", "Hello there", "null|Hello there", NULL},
        {"harmony-literal-token-text", "@Cfinal@MUse <|channel|> here@r", "null|Use <|channel|> here", NULL},
        {"harmony-token-in-text", "@Cfinal@Mab@Ccd", "null|ab<|channel|>cd", NULL},
        {"harmony-text-between", "@Cfinal@Ma@Exyz", "null|a<|end|>xyz", NULL},
        {"harmony-token-between", "@Cfinal@Ma@E@Cb", "null|a<|end|><|channel|>b", NULL},
        {"harmony-text-after-raw", "@Ccommentary to=r@Mx@Xjunk", "null|<|channel|>commentary to=r<|message|>x<|call|>junk", NULL},
        {"harmony-other-recipient", "@Ccommentary to=browser.search@M{}@E@Sassistant@Cfinal@Mok@r",
         "null|<|channel|>commentary to=browser.search<|message|>{}<|end|>\nok", NULL},
        {"harmony-unfinished-call", "@Ccommentary to=functions.f@M{\"a\"", "null|<|channel|>commentary to=functions.f<|message|>{\"a\"", NULL},
        {"harmony-call-broken", "@Canalysis@Mp@E@Sassistant@Ccommentary to=functions.f@M{}@Sx",
         "p|<|start|>assistant<|channel|>commentary to=functions.f<|message|>{}<|start|>x", NULL},
        {"harmony-role-user", "@Cfinal@Ma@E@Suser@Cfinal@Mb", "null|a<|start|>user<|channel|>final<|message|>b", NULL},
        {"harmony-role-cut", "@Cfinal@Ma@E@Sassis@Cfinal@Mb", "null|a<|start|>assis<|channel|>final<|message|>b", NULL},
        {"harmony-no-channel", "@Mplain@r", "null|plain", NULL},
        {"harmony-two-channels", "@Cfinal@Cfinal@Mb", "null|<|channel|>final<|channel|>final<|message|>b", NULL},
    };
    char name[80], streamed[1024], whole[1024];
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        expect_message(&s, CASES[i].name, H, TOOL_PARSER_OPENAI, CASES[i].text, CASES[i].want);
        snprintf(name, sizeof name, "%s-calls-off", CASES[i].name);
        expect_message(&s, name, H, TOOL_PARSER_OFF, CASES[i].text, CASES[i].want_off ? CASES[i].want_off : CASES[i].want);
        for (ToolParser t = TOOL_PARSER_OFF; t <= TOOL_PARSER_OPENAI; t += TOOL_PARSER_OPENAI) {
            snprintf(name, sizeof name, "%s-stream-joins%s", CASES[i].name, t ? "" : "-calls-off");
            stream_text(&s, H, t, CASES[i].text, streamed, sizeof streamed);
            message_text(&s, H, t, CASES[i].text, true, whole, sizeof whole);
            check(name, !strcmp(streamed, whole), streamed, whole);
        }
    }
    char longer[HEADER_LONGER + 16], want[HEADER_LONGER + 32];   /* a header is 256 bytes at the most */
    snprintf(longer, sizeof longer, "@Cfinal %0*d@Mx", HEADER_LONGER - 17, 0);
    snprintf(want, sizeof want, "null|<|channel|>final %0*d<|message|>x", HEADER_LONGER - 17, 0);
    expect_message(&s, "harmony-long-header", H, TOOL_PARSER_OPENAI, longer, want);
    snprintf(longer, sizeof longer, "@Cfinal %0*d@Mx", HEADER_LONGER - 18, 0);
    expect_message(&s, "harmony-header-at-most", H, TOOL_PARSER_OPENAI, longer, "null|x");
    expect_args(&s, "harmony-args-json-again", "@Ccommentary to=functions.f @Kjson@M{\"city\":\"SF\",\"n\":[1,2]}@x",
                "{\"city\": \"SF\", \"n\": [1, 2]}");
    expect_args(&s, "harmony-args-not-json", "@Ccommentary to=functions.f @Kjson@Mnot json@x", "not json");
    expect_args(&s, "harmony-args-other-type", "@Ccommentary to=functions.f @Kpython@M{ \"a\": 1 }@x", "{ \"a\": 1 }");
    expect_args(&s, "harmony-args-channel-type", "@Ccommentary to=functions.f code@M{ }@x", "{ }");
    expect_args(&s, "harmony-args-two", "@Ccommentary to=functions.f@M{}@X@Sassistant@Ccommentary to=functions.g@M[1]@x", "{} [1]");
}

/* ------------------------------------------------------------------ through the engine's hooks */

/* A tokenizer with harmony's tokens: the llama3 fixture's, those added as 604..610 (in a directory of
 * its own under /tmp, removed). NULL when the fixture cannot be read. */
static Tokenizer *harmony_tokenizer(void) {
    static const char *const TEXT[HARMONY_NMARKS] = HARMONY_TEXTS;
    json_t *t = json_load_file("tests/tokenizer/fixtures/llama3/tokenizer.json", 0, NULL);
    char dir[] = "/tmp/mixc-harmony-XXXXXX", path[64];
    if (!t || !mkdtemp(dir)) return json_decref(t), NULL;
    for (int k = 0; k < HARMONY_NMARKS; k++)
        json_array_append_new(json_object_get(t, "added_tokens"),
                              json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 604 + k, "content", TEXT[k], "single_word",
                                        0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char err[300];
    Tokenizer *tok = json_dump_file(t, path, 0) ? NULL : tokenizer_load(path, err, sizeof err);
    json_decref(t);
    remove(path);
    rmdir(dir);
    return tok;
}

/* ids[*n...]: a harmony token (its text, "<|channel|>") or plain text, encoded as the model would
 * write it (a special token's text split in two is plain text). */
static void push(const Tokenizer *tok, const char *text, bool mark, int32_t *ids, int64_t *n) {
    if (mark) {
        ids[(*n)++] = tokenizer_special_id(tok, text);
        return;
    }
    int32_t *got;
    int64_t k;
    char err[200];
    if (!tokenizer_encode(tok, text, strlen(text), false, &got, &k, err, sizeof err)) return;
    for (int64_t i = 0; i < k; i++) ids[(*n)++] = got[i];
    free(got);
}

/* The last event's data of a Responses stream (its response.completed), parsed. */
static json_t *last_event(const Buf *events) {
    const char *at = NULL;
    for (const char *p = events->data; p && (p = strstr(p, "\ndata: ")); p++) at = p + 7;
    return at ? json_loads(at, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
}

/* Output items without their calls' call_id (random, vLLM's: each answer draws its own); false when
 * a call has none. */
static bool without_call_ids(json_t *output) {
    json_t *item;
    size_t k;
    bool ok = true;
    json_array_foreach(output, k, item) {
        if (strcmp(json_string_value(json_object_get(item, "type")), "function_call")) continue;
        ok &= !strncmp(json_string_value(json_object_get(item, "call_id")) ? json_string_value(json_object_get(item, "call_id")) : "",
                       "chatcmpl-tool-", 14);
        json_object_del(item, "call_id");
    }
    return ok;
}

/* The Responses answer of r (/v1/responses) as "reasoning_tokens|item types", and whether its
 * stream's events (the chat events, the usage event and [DONE] through responses_stream_event) end
 * with the same output (but the calls' ids) and usage. */
static void responses_of(Reply *r, const Buf *events, char *out, size_t n) {
    pthread_mutex_lock(&r->mu);
    char *body = responses_answer_json(r);
    pthread_mutex_unlock(&r->mu);
    json_t *whole = json_loads(body, 0, NULL), *item;
    size_t k;
    Buf types = {0};
    json_array_foreach(json_object_get(whole, "output"), k, item) buf_printf(&types, " %s", json_string_value(json_object_get(item, "type")));
    json_t *end = last_event(events), *resp = json_object_get(end, "response");
    bool same = without_call_ids(json_object_get(resp, "output")) && without_call_ids(json_object_get(whole, "output")) &&
                json_equal(json_object_get(resp, "output"), json_object_get(whole, "output")) &&
                json_equal(json_object_get(resp, "usage"), json_object_get(whole, "usage"));
    snprintf(out, n, "%lld|%s|%s", (long long)json_integer_value(json_object_get(json_object_get(json_object_get(whole, "usage"),
                                                                                           "output_tokens_details"), "reasoning_tokens")),
             types.data ? types.data + 1 : "", same ? "stream same" : "stream differs");
    json_decref(end);
    json_decref(whole);
    free(body);
    buf_free(&types);
}

/* An answer of "~"-separated pieces, "@" leading a harmony token's name (@channel, @message, ...),
 * emitted id by id through the hooks as the engine emits them (ended by <|return|> or <|call|>: the
 * template's turn ends), each step's stream events taken. Its message as message_text writes it and
 * the stream's joined parts; its Responses answer as responses_of gives it into resp (the stream's
 * chat events each made Responses events as they came, the last ones at its end). */
static void hooked(HttpServer *s, const char *pieces, char *whole, char *streamed, char *resp, size_t n) {
    int32_t ids[512];
    int64_t nids = 0;
    char buf[512], *save, *piece;
    snprintf(buf, sizeof buf, "%s", pieces);
    for (piece = strtok_r(buf, "~", &save); piece; piece = strtok_r(NULL, "~", &save)) {
        char mark[32];
        snprintf(mark, sizeof mark, "<|%s|>", piece + 1);
        push(s->tok, piece[0] == '@' ? mark : piece, piece[0] == '@', ids, &nids);
    }
    Reply *r = reply_new(s, true, 1);
    r->responses = json_object();
    ResponsesStream *rstream = responses_stream_new();
    Buf revents = {0};
    Gen *g = &r->choice[0];
    g->tool_parser = TOOL_PARSER_OPENAI;
    g->skip_special = true;   /* harmony's reader keeps them all the same */
    g->req.max_new = nids;
    g->res.output = xcalloc((size_t)nids + 1, sizeof *g->res.output);
    g->adjust.end_id = xcalloc(2, sizeof *g->adjust.end_id);
    g->adjust.end_id[g->adjust.nend++] = tokenizer_special_id(s->tok, "<|return|>");
    g->adjust.end_id[g->adjust.nend++] = tokenizer_special_id(s->tok, "<|call|>");
    r->refs++;   /* the engine's */
    Buf reasoning = {0}, content = {0}, calls = {0};
    StreamPos pos = {.first = true};
    bool stop = false;
    for (int64_t i = 0; i <= nids; i++) {
        if (i == nids || stop) http_engine_hooks.finished(g);
        else g->res.output[g->res.noutput++] = ids[i], stop = http_engine_hooks.emitted(g, ids[i]);
        pthread_mutex_lock(&r->mu);
        for (char *event; (event = api_stream_next(g, &pos)); free(event)) {
            char *made = responses_stream_event(rstream, r, xstrdup(event));
            buf_puts(&revents, made);
            free(made);
            json_t *j = json_loads(event + 6, 0, NULL), *d = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta");
            json_t *rs = json_object_get(d, "reasoning"), *c = json_object_get(d, "content"), *call;
            size_t k;
            if (rs) buf_append(&reasoning, json_string_value(rs), json_string_length(rs));
            if (c) buf_append(&content, json_string_value(c), json_string_length(c));
            json_array_foreach(json_object_get(d, "tool_calls"), k, call) {
                const char *a = json_string_value(json_object_get(json_object_get(call, "function"), "arguments"));
                buf_append(&calls, " ", 1);
                buf_append(&calls, a, strlen(a));
            }
            json_decref(j);
        }
        pthread_mutex_unlock(&r->mu);
        if (i == nids || g->state == GEN_DONE) break;
    }
    pthread_mutex_lock(&r->mu);
    char *body = api_response_json(r);
    pthread_mutex_unlock(&r->mu);
    json_t *j = json_loads(body, 0, NULL), *choice = json_array_get(json_object_get(j, "choices"), 0);
    json_t *m = json_object_get(choice, "message"), *call = json_array_get(json_object_get(m, "tool_calls"), 0);
    json_t *got = json_pack("[O, O, O, O]", json_object_get(choice, "finish_reason"), json_object_get(m, "reasoning"),
                            json_object_get(m, "content"), call ? json_object_get(call, "function") : json_null());
    char *parts = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(got);
    snprintf(whole, n, "%s", parts);
    snprintf(streamed, n, "%.*s|%.*s|%.*s", (int)reasoning.len, reasoning.data ? reasoning.data : "", (int)content.len,
             content.data ? content.data : "", (int)calls.len, calls.data ? calls.data : "");
    free(parts);
    json_decref(j);
    free(body);
    buf_free(&reasoning);
    buf_free(&content);
    buf_free(&calls);
    pthread_mutex_lock(&r->mu);
    char *closing[2] = {api_usage_event(r), xstrdup("data: [DONE]\n\n")};
    pthread_mutex_unlock(&r->mu);
    for (int k = 0; k < 2; k++) {
        char *made = responses_stream_event(rstream, r, closing[k]);
        buf_puts(&revents, made);
        free(made);
    }
    responses_stream_free(rstream);
    responses_of(r, &revents, resp, n);
    buf_free(&revents);
    reply_release(r);
}

/* Well-formed harmony answers as the model writes them, through update_text's decoding and
 * harmony_note's marks (the e2e tests' random model cannot write one). */
static void test_harmony_hooks(void) {
    Tokenizer *tok = harmony_tokenizer();
    if (!tok) return check("harmony-hooks-tokenizer", false, "no tokenizer", "the llama3 fixture with harmony's tokens");
    HttpServer s = {.model = "m", .vocab = 611, .tok = tok, .mu = PTHREAD_MUTEX_INITIALIZER,
                    .opt = {.reasoning_parser = REASONING_OPENAI_GPTOSS}};
    harmony_find(tok, &s.harmony);
    /* resp: the Responses answer (responses_of); its reasoning tokens the analysis messages' ids */
    static const struct { const char *name, *pieces, *whole, *streamed, *analysis, *types; } CASES[] = {
        {"harmony-hooks-call",
         "@channel~analysis~@message~Need the weather.~@end~@start~assistant~@channel~commentary to=functions.get_weather ~"
         "@constrain~json~@message~{\"city\":\"SF\"}~@call",
         "[\"tool_calls\",\"Need the weather.\",null,{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"SF\\\"}\"}]",
         "Need the weather.|| {\"city\": \"SF\"}", "Need the weather.", "reasoning function_call"},
        {"harmony-hooks-final",
         "@channel~analysis~@message~Think.~@end~@start~assistant~@channel~final~@message~It is sunny.~@return",
         "[\"stop\",\"Think.\",\"It is sunny.\",null]", "Think.|It is sunny.|", "Think.", "reasoning message"},
        {"harmony-hooks-plain-token-text", "@channel~final~@message~a <|chan~nel|> b~@return",
         "[\"stop\",null,\"a <|channel|> b\",null]", "|a <|channel|> b|", "", "message"},
    };
    char whole[512], streamed[512], resp[512], want[512];
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        hooked(&s, CASES[i].pieces, whole, streamed, resp, sizeof whole);
        check(CASES[i].name, !strcmp(whole, CASES[i].whole), whole, CASES[i].whole);
        char name[80];
        snprintf(name, sizeof name, "%s-streamed", CASES[i].name);
        check(name, !strcmp(streamed, CASES[i].streamed), streamed, CASES[i].streamed);
        int32_t ids[64];
        int64_t nids = 0;
        if (*CASES[i].analysis) push(tok, CASES[i].analysis, false, ids, &nids);
        snprintf(want, sizeof want, "%lld|%s|stream same", (long long)nids, CASES[i].types);
        snprintf(name, sizeof name, "%s-responses", CASES[i].name);
        check(name, !strcmp(resp, want), resp, want);
    }
    tokenizer_free(tok);
}

/* A completion's answer (text encoded) after prompt, emitted id by id through the hooks: its whole
 * text and its stream's text deltas joined. */
static void decoded(const Tokenizer *tok, const char *prompt, const char *text, char *whole, char *streamed, size_t n) {
    HttpServer s = {.model = "m", .vocab = tokenizer_vocab_size(tok), .tok = tok, .mu = PTHREAD_MUTEX_INITIALIZER};
    Reply *r = reply_new(&s, false, 1);
    Gen *g = &r->choice[0];
    int32_t *ids = NULL;
    int64_t nids = 0;
    char err[200];
    if (!tokenizer_encode(tok, prompt, strlen(prompt), false, &g->req.prompt, &g->req.prompt_len, err, sizeof err) ||
        !tokenizer_encode(tok, text, strlen(text), false, &ids, &nids, err, sizeof err))
        return snprintf(whole, n, "%s", err), (void)reply_release(r);
    g->skip_special = true;
    g->req.max_new = nids;
    g->res.output = xcalloc((size_t)nids + 1, sizeof *g->res.output);
    r->refs++;   /* the engine's */
    Buf deltas = {0};
    StreamPos pos = {.first = true};
    for (int64_t i = 0; i <= nids; i++) {
        if (i == nids) http_engine_hooks.finished(g);
        else g->res.output[g->res.noutput++] = ids[i], http_engine_hooks.emitted(g, ids[i]);
        pthread_mutex_lock(&r->mu);
        for (char *event; (event = api_stream_next(g, &pos)); free(event)) {
            json_t *j = json_loads(event + 6, 0, NULL), *t = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "text");
            if (t) buf_append(&deltas, json_string_value(t), json_string_length(t));
            json_decref(j);
        }
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_lock(&r->mu);
    snprintf(whole, n, "%.*s", (int)g->text_len, g->text ? g->text : "");
    pthread_mutex_unlock(&r->mu);
    snprintf(streamed, n, "%.*s", (int)deltas.len, deltas.data ? deltas.data : "");
    buf_free(&deltas);
    free(ids);
    reply_release(r);   /* its prompt and output too */
}

/* Tokenizers whose decoder strips a text's leading space (Llama 2's and Mistral's Strip), keeps it
 * (Gemma's) or maps bytes (Llama 3's): a word keeps its space wherever the ids stop, the answer's first
 * one too (vLLM decodes after the prompt's last ids), and characters of several byte tokens come
 * whole. */
static void test_decode_context(void) {
    static const struct { const char *name, *tokenizer, *prompt, *text, *want; } CASES[] = {
        /* Llama 2's normalizer writes the text's first space: its ids are the model's "▁Hello", ... */
        {"decode-strip-spaces", "llama2", "Say:", "Hello world, how are you?", " Hello world, how are you?"},
        {"decode-strip-bytes", "llama2", "Say:", "a \u20ac b \u4e2d c", " a \u20ac b \u4e2d c"},
        {"decode-gemma", "gemma", "Say:", " Hello world, \u4e2d\u6587 how are you?", " Hello world, \u4e2d\u6587 how are you?"},
        {"decode-byte-level", "llama3", "Say:", " Hello world, \u4e2d\u6587 how are you?", " Hello world, \u4e2d\u6587 how are you?"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        char path[128], err[300], whole[256], streamed[256];
        const char *want = CASES[i].want;
        snprintf(path, sizeof path, "tests/tokenizer/fixtures/%s/tokenizer.json", CASES[i].tokenizer);
        Tokenizer *tok = tokenizer_load(path, err, sizeof err);
        if (!tok) {
            check(CASES[i].name, false, err, path);
            continue;
        }
        decoded(tok, CASES[i].prompt, CASES[i].text, whole, streamed, sizeof whole);
        check(CASES[i].name, !strcmp(whole, want), whole, want);
        char name[80];
        snprintf(name, sizeof name, "%s-streamed", CASES[i].name);
        check(name, !strcmp(streamed, want), streamed, want);
        tokenizer_free(tok);
    }
}

int main(void) {
    test_decode_context();
    test_harmony_hooks();
    test_parts();
    test_stable();
    test_answers();
    test_harmony();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
