/* http_responses.c — POST /v1/responses, OpenAI's Responses API as vLLM serves it (docs/serving.md, "The
 * Responses API"). A request is read as the chat completion it asks for: its input items become chat
 * messages (instructions first, as a system message), its function tools chat tools, text.format a
 * response_format, reasoning.effort reasoning_effort, max_output_tokens max_tokens; the chat request
 * then runs as any other. Its answer is written back as a response object: output items (a reasoning
 * item, a message, function calls), usage in the Responses names. A stream's chat chunks become the
 * Responses events, in order, each with its sequence_number. With --store-responses the last responses
 * are kept with their conversation (previous_response_id, GET and DELETE /v1/responses/ID). What the
 * API asks that mixc does not do (built-in tools, summaries, background responses, ...) is refused by
 * name. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ the request */

/* A refusal naming input item i: false. */
#define ITEM_REFUSE(err, i, ...) (api_refuse(err, 400, __VA_ARGS__), item_named(err, i))

static bool item_named(ApiError *err, size_t i) {
    char msg[sizeof err->msg], head[32];
    memcpy(msg, err->msg, sizeof msg);
    snprintf(head, sizeof head, "input[%zu]: ", i);
    snprintf(err->msg, sizeof err->msg, "%s%.*s", head, (int)(sizeof msg - sizeof head), msg);
    return false;
}

/* A message's content: a string, or one part {"type": "input_text"|"output_text", "text"} (several parts
 * are refused, as a chat's are: how they join is each engine's choice). */
static bool item_text(const json_t *content, size_t i, json_t **out, ApiError *err) {
    const json_t *part = json_array_get(content, 0), *text = json_is_string(content) ? content : json_object_get(part, "text");
    const char *type = json_is_string(content) ? "input_text" : json_string_value(json_object_get(part, "type"));
    if (json_is_array(content) && json_array_size(content) > 1)
        return ITEM_REFUSE(err, i, "content in %zu parts is not supported", json_array_size(content));
    if (!json_is_string(text) || !type || (strcmp(type, "input_text") && strcmp(type, "output_text")))
        return ITEM_REFUSE(err, i, "'content' must be a string or one {\"type\": \"input_text\", \"text\": ...} part "
                           "(images, files and audio are not supported)");
    *out = json_incref((json_t *)text);
    return true;
}

/* The assistant message the next function call joins: the last message when it is the assistant's,
 * else a new one (content null). */
static json_t *assistant_for_call(json_t *messages) {
    json_t *last = json_array_get(messages, json_array_size(messages) - 1);
    if (last && !strcmp(json_string_value(json_object_get(last, "role")), "assistant")) return last;
    json_t *m = json_pack("{s:s, s:n}", "role", "assistant", "content");
    json_array_append_new(messages, m);
    return m;
}

/* The reasoning item before an assistant's message or call: its text, kept for that message. */
static bool item_reasoning(const json_t *item, size_t i, json_t **pending, ApiError *err) {
    const json_t *part = json_array_get(json_object_get(item, "content"), 0), *text = json_object_get(part, "text");
    if (json_array_size(json_object_get(item, "content")) != 1 || !json_is_string(text))
        return ITEM_REFUSE(err, i, "a reasoning item needs its text: 'content' of one {\"type\": \"reasoning_text\", "
                           "\"text\": ...} (a summary alone or encrypted content is not supported)");
    json_decref(*pending);
    *pending = json_incref((json_t *)text);
    return true;
}

/* One input item into messages: a message ({"role", "content"}, "type": "message" or none), a
 * function_call (joining the assistant's message) or its function_call_output (a tool message), a
 * reasoning item (its text the next assistant message's reasoning). */
static bool take_item(json_t *messages, const json_t *item, size_t i, json_t **pending, ApiError *err) {
    const char *type = json_string_value(json_object_get(item, "type"));
    const char *role = json_string_value(json_object_get(item, "role"));
    if (!json_is_object(item)) return ITEM_REFUSE(err, i, "an input item must be an object");
    if (type && !strcmp(type, "reasoning")) return item_reasoning(item, i, pending, err);
    json_t *m = NULL;
    if ((!type || !strcmp(type, "message")) && role) {
        json_t *text = NULL;
        if (!item_text(json_object_get(item, "content"), i, &text, err)) return false;
        m = json_pack("{s:s, s:o}", "role", role, "content", text);
        json_array_append_new(messages, m);
    } else if (type && !strcmp(type, "function_call")) {
        const json_t *id = json_object_get(item, "call_id"), *name = json_object_get(item, "name"),
                     *args = json_object_get(item, "arguments");
        if (!json_is_string(id) || !json_is_string(name) || !json_is_string(args))
            return ITEM_REFUSE(err, i, "a function_call needs 'call_id', 'name' and 'arguments', strings");
        m = assistant_for_call(messages);
        json_t *calls = json_object_get(m, "tool_calls");
        if (!calls) json_object_set_new(m, "tool_calls", calls = json_array());
        json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:O}}", "id", id, "type", "function", "function",
                                               "name", name, "arguments", args));
    } else if (type && !strcmp(type, "function_call_output")) {
        const json_t *id = json_object_get(item, "call_id"), *out = json_object_get(item, "output");
        if (!json_is_string(id) || !json_is_string(out))
            return ITEM_REFUSE(err, i, "a function_call_output needs 'call_id' and 'output', strings");
        json_array_append_new(messages, json_pack("{s:s, s:O, s:O}", "role", "tool", "tool_call_id", id, "content", out));
    } else {
        return ITEM_REFUSE(err, i, "items of type '%.40s' are not supported (messages, function_call, function_call_output "
                           "and reasoning are)", type ? type : "(none)");
    }
    if (*pending && m && !strcmp(json_string_value(json_object_get(m, "role")), "assistant")) {
        json_object_set_new(m, "reasoning", *pending);
        *pending = NULL;
    }
    return true;
}

/* input (a string: one user message; or items) after instructions (a system message) and the messages
 * of a previous response's conversation (prior; NULL: none) as chat messages. */
static json_t *input_messages(const json_t *input, const json_t *instructions, const json_t *prior, ApiError *err) {
    json_t *messages = json_array(), *pending = NULL;
    if (json_is_string(instructions))
        json_array_append_new(messages, json_pack("{s:s, s:O}", "role", "system", "content", instructions));
    json_array_extend(messages, (json_t *)prior);
    if (json_is_string(input)) {
        json_array_append_new(messages, json_pack("{s:s, s:O}", "role", "user", "content", input));
        return messages;
    }
    bool ok = (json_is_array(input) && json_array_size(input)) ||
              api_refuse(err, 400, "field 'input' must be a string or a non-empty array of items");
    for (size_t i = 0; ok && i < json_array_size(input); i++) ok = take_item(messages, json_array_get(input, i), i, &pending, err);
    if (ok && pending) ok = api_refuse(err, 400, "field 'input': a reasoning item must come before an assistant's message or "
                                       "function_call");
    json_decref(pending);
    if (!ok) json_decref(messages);
    return ok ? messages : NULL;
}

/* tools: each {"type": "function", "name", "description", "parameters", "strict"} as a chat tool. */
static json_t *chat_tools(const json_t *tools, ApiError *err) {
    if (!json_is_array(tools)) return api_refuse(err, 400, "field 'tools' must be an array"), NULL;
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(tools); i++) {
        json_t *t = json_array_get(tools, i), *f = json_deep_copy(t);
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!json_is_object(t) || !type || strcmp(type, "function")) {
            json_decref(f);
            json_decref(out);
            return api_refuse(err, 400, "field 'tools': tools[%zu] of type '%.40s' is not supported (function tools are)", i,
                              type ? type : "(none)"), NULL;
        }
        json_object_del(f, "type");
        json_array_append_new(out, json_pack("{s:s, s:o}", "type", "function", "function", f));
    }
    return out;
}

/* tool_choice: "auto", "none", "required", or {"type": "function", "name"}. */
static json_t *chat_tool_choice(const json_t *choice, ApiError *err) {
    if (json_is_string(choice)) return json_incref((json_t *)choice);
    const json_t *name = json_object_get(choice, "name");
    const char *type = json_string_value(json_object_get(choice, "type"));
    if (!type || strcmp(type, "function") || !json_is_string(name))
        return api_refuse(err, 400, "field 'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                          "\"name\": ...}"), NULL;
    return json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name", name);
}

/* text: {"format": {"type": "text"|"json_object"} or {"type": "json_schema", "name", "schema",
 * "description", "strict"}} as a response_format. */
static json_t *chat_format(const json_t *text, ApiError *err) {
    const json_t *format = json_object_get(text, "format"), *verbosity = json_object_get(text, "verbosity");
    const char *type = json_string_value(json_object_get(format, "type"));
    if (!json_is_object(text) || (verbosity && !json_is_null(verbosity)))
        return api_refuse(err, 400, "field 'text' must be {\"format\": ...} ('verbosity' is not supported)"), NULL;
    if (!format || json_is_null(format)) return json_null();
    if (!type) return api_refuse(err, 400, "field 'text.format' needs a 'type'"), NULL;
    if (strcmp(type, "json_schema")) return json_pack("{s:s}", "type", type);
    json_t *schema = json_deep_copy(format);
    json_object_del(schema, "type");
    return json_pack("{s:s, s:o}", "type", "json_schema", "json_schema", schema);
}

/* reasoning: {"effort"} as reasoning_effort ("summary" is refused: mixc writes none). */
static bool chat_reasoning(json_t *chat, const json_t *reasoning, ApiError *err) {
    const json_t *effort = json_object_get(reasoning, "effort"), *summary = json_object_get(reasoning, "summary");
    if (!json_is_object(reasoning)) return api_refuse(err, 400, "field 'reasoning' must be an object");
    if (summary && !json_is_null(summary))
        return api_refuse(err, 400, "field 'reasoning.summary' is not supported: the answer's reasoning comes whole, as a "
                          "reasoning item's text");
    if (effort && !json_is_null(effort)) json_object_set(chat, "reasoning_effort", (json_t *)effort);
    return true;
}

/* Fields the API has that ask for nothing here at these values: null, or the one given. */
static bool neutral(const char *key, const json_t *v, ApiError *err) {
    static const struct {
        const char *key, *value;
    } OK[] = {{"background", "false"}, {"truncation", "disabled"}, {"service_tier", "auto"}, {"service_tier", "default"},
              {"max_tool_calls", NULL}};
    bool known = false;
    for (size_t k = 0; k < sizeof OK / sizeof *OK; k++) {
        if (strcmp(OK[k].key, key)) continue;
        known = true;
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        bool same = json_is_null(v) || (OK[k].value && text && !strcmp(text, OK[k].value)) ||
                    (OK[k].value && json_is_string(v) && !strcmp(json_string_value(v), OK[k].value));
        free(text);
        if (same) return true;
    }
    if (!known) return api_refuse(err, 400, "unknown field '%.100s'", key);
    return api_refuse(err, 400, "field '%s': this value is not supported (this server runs no built-in tools nor background "
                      "responses, and gives no log-probabilities here; docs/serving.md lists what is)", key);
}

/* The fields passed to the chat request as they are (the same name and meaning; vLLM's extensions
 * logit_bias, top_k, skip_special_tokens and priority among them, and a chat's seed). */
static bool passed(const char *key) {
    static const char *const SAME[] = {"model", "temperature", "top_p", "parallel_tool_calls", "stream", "logit_bias", "top_k",
                                       "skip_special_tokens", "priority", "seed", NULL};
    return str_listed(SAME, key);
}

/* include: ["message.output_text.logprobs"] asks the message's log-probabilities (chat's logprobs, with
 * top_logprobs alternatives): told apart only when every generated token is the message's, so not
 * with a reasoning parser or tools the answer may call. */
static bool take_logprobs(const HttpServer *s, json_t *body, json_t *chat, ApiError *err) {
    const json_t *include = json_object_get(body, "include"), *top = json_object_get(body, "top_logprobs"), *v;
    const json_t *tools = json_object_get(body, "tools"), *choice = json_object_get(body, "tool_choice");
    size_t k;
    bool asked = false;
    if (include && !json_is_null(include) && !json_is_array(include))
        return api_refuse(err, 400, "field 'include' must be an array");
    json_array_foreach(include, k, v) {
        if (!json_is_string(v) || strcmp(json_string_value(v), "message.output_text.logprobs"))
            return api_refuse(err, 400, "field 'include': only \"message.output_text.logprobs\" is supported");
        asked = true;
    }
    if (top && !json_is_null(top) && !asked && !(json_is_integer(top) && !json_integer_value(top)))
        return api_refuse(err, 400, "field 'top_logprobs' needs 'include': [\"message.output_text.logprobs\"]");
    if (!asked) return true;
    if (s->opt.reasoning_parser || s->harmony.on || (json_array_size(tools) && !(json_is_string(choice) &&
                                                                                 !strcmp(json_string_value(choice), "none"))))
        return api_refuse(err, 400, "field 'include': the message's log-probabilities need every generated token to be the "
                          "message's: not with a reasoning parser, nor tools the answer may call");
    json_object_set_new(chat, "logprobs", json_true());
    if (top && !json_is_null(top)) json_object_set(chat, "top_logprobs", (json_t *)top);
    return true;
}

/* store and previous_response_id: a server that keeps responses (--store-responses) takes them. */
static bool take_store(const HttpServer *s, const char *key, const json_t *v, ApiError *err) {
    bool store = !strcmp(key, "store");
    if (store ? !json_is_boolean(v) && !json_is_null(v) : !json_is_string(v) && !json_is_null(v))
        return api_refuse(err, 400, "field '%s' must be a %s", key, store ? "boolean" : "string");
    if (s->store || json_is_null(v) || json_is_false(v)) return true;
    return api_refuse(err, 400, "field '%s': this server keeps no responses (start it with --store-responses N)", key);
}

/* body's fields into chat (the chat request's body) and what the answer echoes into echo. */
static bool take_fields(const HttpServer *s, json_t *body, json_t *chat, json_t *echo, ApiError *err) {
    const char *key;
    json_t *v, *x;
    json_object_foreach(body, key, v) {
        bool ok = true;
        if (passed(key)) json_object_set(chat, key, v);
        else if (!strcmp(key, "store") || !strcmp(key, "previous_response_id"))
            ok = take_store(s, key, v, err);
        else if (!strcmp(key, "include") || !strcmp(key, "top_logprobs"))
            ok = (!strcmp(key, "top_logprobs") && json_object_get(body, "include")) || take_logprobs(s, body, chat, err);
        else if (!strcmp(key, "input") || !strcmp(key, "instructions") || !strcmp(key, "user") ||
                 !strcmp(key, "prompt_cache_key") || !strcmp(key, "safety_identifier"))
            ok = !strcmp(key, "input") || json_is_null(v) || json_is_string(v) ||
                 api_refuse(err, 400, "field '%s' must be a string", key);
        else if (!strcmp(key, "metadata"))
            ok = json_is_null(v) || json_is_object(v) || api_refuse(err, 400, "field 'metadata' must be an object");
        else if (!strcmp(key, "max_output_tokens"))
            ok = json_is_null(v) || (json_is_integer(v) && json_integer_value(v) >= 1 && !json_object_set(chat, "max_tokens", v)) ||
                 api_refuse(err, 400, "field 'max_output_tokens' must be an integer >= 1");
        else if (!strcmp(key, "tools"))
            ok = json_is_null(v) || ((x = chat_tools(v, err)) && !json_object_set_new(chat, "tools", x));
        else if (!strcmp(key, "tool_choice"))
            ok = json_is_null(v) || ((x = chat_tool_choice(v, err)) && !json_object_set_new(chat, "tool_choice", x));
        else if (!strcmp(key, "text"))
            ok = json_is_null(v) || ((x = chat_format(v, err)) && !json_object_set_new(chat, "response_format", x));
        else if (!strcmp(key, "reasoning"))
            ok = json_is_null(v) || chat_reasoning(chat, v, err);
        else
            ok = neutral(key, v, err);
        if (!ok) return false;
        if (strcmp(key, "input") && strcmp(key, "stream")) json_object_set(echo, key, v);
    }
    return true;
}

/* A chat request's message about a field this API names otherwise, in this API's names. */
static void rename_fields(ApiError *err) {
    static const char *const FROM[] = {"'response_format'", "'max_tokens'", "'reasoning_effort'", "messages"},
                             *const TO[] = {"'text.format'", "'max_output_tokens'", "'reasoning.effort'",
                                            "input (as the chat messages it makes) messages"};
    for (size_t k = 0; k < sizeof FROM / sizeof *FROM; k++) {
        char *at = strstr(err->msg, FROM[k]);
        if (!at || (k == 3 && at != err->msg)) continue;
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%.*s%s%s", (int)(at - err->msg), err->msg, TO[k], at + strlen(FROM[k]));
        memcpy(err->msg, msg, sizeof msg);
    }
}

/* ------------------------------------------------------------------ the store */

/* One kept response: its object and its conversation (its input and output as chat messages, the
 * instructions left out: a response that continues it gives its own, OpenAI's rule). */
typedef struct {
    char id[32];
    char *response;
    json_t *messages;
} StoredResponse;

struct ResponsesStore {
    pthread_mutex_t mu;
    StoredResponse *v;      /* [cap], a ring: the oldest goes first */
    int64_t cap, next;
};

ResponsesStore *responses_store_new(int64_t cap) {
    ResponsesStore *st = xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    st->v = xcalloc((size_t)cap, sizeof *st->v);
    st->cap = cap;
    return st;
}

static void drop_stored(StoredResponse *e) {
    free(e->response);
    json_decref(e->messages);
    memset(e, 0, sizeof *e);
}

void responses_store_free(ResponsesStore *st) {
    if (!st) return;
    for (int64_t k = 0; k < st->cap; k++) drop_stored(&st->v[k]);
    pthread_mutex_destroy(&st->mu);
    free(st->v);
    free(st);
}

/* The kept response id (st->mu held); NULL: none. */
static StoredResponse *find_stored(ResponsesStore *st, const char *id) {
    for (int64_t k = 0; k < st->cap; k++)
        if (st->v[k].response && !strcmp(st->v[k].id, id)) return &st->v[k];
    return NULL;
}

static bool not_kept(const HttpServer *s, const char *id, ApiError *err) {
    return api_refuse(err, 404, "no response '%.60s' is kept (never stored, deleted, or dropped for newer ones: this server "
                      "keeps the last %lld)", id, (long long)s->opt.store_responses);
}

/* What kept response id gives: a copy of its conversation (KEPT_MESSAGES) or of its object
 * (KEPT_RESPONSE), or its drop (KEPT_DROP: the answer saying so); NULL with a 404 when none is kept. */
enum { KEPT_MESSAGES, KEPT_RESPONSE, KEPT_DROP };
static void *kept(HttpServer *s, const char *id, int what, ApiError *err) {
    void *got = NULL;
    if (s->store) {
        pthread_mutex_lock(&s->store->mu);
        StoredResponse *e = find_stored(s->store, id);
        if (e && what == KEPT_MESSAGES) got = json_deep_copy(e->messages);
        else if (e && what == KEPT_RESPONSE) got = xstrdup(e->response);
        else if (e) got = api_json_text(json_pack("{s:s, s:s, s:b}", "id", id, "object", "response", "deleted", 1));
        if (e && what == KEPT_DROP) drop_stored(e);
        pthread_mutex_unlock(&s->store->mu);
    }
    if (!got) not_kept(s, id, err);
    return got;
}

char *responses_get_json(HttpServer *s, const char *id, ApiError *err) { return kept(s, id, KEPT_RESPONSE, err); }
char *responses_delete_json(HttpServer *s, const char *id, ApiError *err) { return kept(s, id, KEPT_DROP, err); }

/* Keeps r's response (o, the finished object) with its conversation: its input's messages, then its
 * output items read back as input items (a reasoning item joins the assistant's message after it). */
static void keep(const Reply *r, const json_t *o) {
    ResponsesStore *st = r->srv->store;
    json_t *messages = json_deep_copy(r->conversation), *pending = NULL, *item;
    size_t k;
    ApiError err;
    json_array_foreach(json_object_get(o, "output"), k, item) take_item(messages, item, k, &pending, &err);
    json_decref(pending);   /* reasoning alone (cut at max_output_tokens): no assistant message to hold it */
    char *text = api_json_text(json_incref((json_t *)o));
    pthread_mutex_lock(&st->mu);
    StoredResponse *e = &st->v[st->next++ % st->cap];
    drop_stored(e);
    snprintf(e->id, sizeof e->id, "%s", json_string_value(json_object_get(o, "id")));
    e->response = text;
    e->messages = messages;
    pthread_mutex_unlock(&st->mu);
}

/* ------------------------------------------------------------------ the request, whole */

Reply *responses_parse(HttpServer *s, json_t *body, ApiError *err) {
    ReasoningParser p = s->opt.reasoning_parser;
    int32_t tags[2];
    if ((p == REASONING_DEEPSEEK_R1 || p == REASONING_QWEN3) && (!s->tok || !http_think_tokens(s->tok, tags)))
        return api_refuse(err, 400, "/v1/responses counts the reasoning's tokens by <think> and </think>, which this server's "
                          "tokenizer does not have as tokens of their own"), NULL;
    if (!json_is_object(body)) return api_refuse(err, 400, "the body is not a JSON object"), NULL;
    json_t *chat = json_pack("{s:b}", "skip_special_tokens", 1);   /* vLLM's default here */
    json_t *echo = json_object(), *input = json_object_get(body, "input"), *messages = NULL, *prior = NULL;
    const char *previous = json_string_value(json_object_get(body, "previous_response_id"));
    bool ok = take_fields(s, body, chat, echo, err) && (input || api_refuse(err, 400, "missing field 'input'")) &&
              (!previous || (prior = kept(s, previous, KEPT_MESSAGES, err))) &&
              (messages = input_messages(input, json_object_get(body, "instructions"), prior, err));
    json_decref(prior);
    json_t *conversation = NULL;   /* kept: the messages but the instructions' */
    if (ok && s->store && !json_is_false(json_object_get(body, "store"))) {
        conversation = json_deep_copy(messages);
        if (json_is_string(json_object_get(body, "instructions"))) json_array_remove(conversation, 0);
    }
    if (ok) json_object_set_new(chat, "messages", messages);
    if (ok && json_is_true(json_object_get(body, "stream")))   /* the usage the last event carries */
        json_object_set_new(chat, "stream_options", json_pack("{s:b}", "include_usage", 1));
    Reply *r = ok ? api_parse_request(s, chat, true, err) : NULL;
    if (ok && !r) rename_fields(err);
    json_decref(chat);
    if (r) r->responses = echo, r->conversation = conversation;
    else json_decref(echo), json_decref(conversation);
    return r;
}

/* ------------------------------------------------------------------ the answer */

/* vLLM's output_tokens_details.reasoning_tokens of g: the generated ids of its reasoning, told by the
 * tags' token ids (<think> and </think>; harmony's analysis messages), as vLLM counts them. */
static int64_t reasoning_tokens(const Gen *g) {
    const HttpServer *s = g->srv;
    const int32_t *ids = g->res.output;
    int64_t n = g->nvisible, count = 0;
    if (g->reasoning == REASONING_OPENAI_GPTOSS) {
        const int32_t *h = s->harmony.id;
        bool analysis = false, in_message = false;
        for (int64_t i = 0, header = -1; i < n; i++) {
            if (ids[i] == h[HARMONY_CHANNEL]) header = i + 1;
            else if (ids[i] == h[HARMONY_MESSAGE] && header >= 0) {
                char e[200], *text = tokenizer_decode(s->tok, ids + header, (size_t)(i - header), false, &(size_t){0}, e, sizeof e);
                analysis = text && !strncmp(text, "analysis", 8);
                in_message = true;
                header = -1;
                free(text);
            } else if (ids[i] == h[HARMONY_END] || ids[i] == h[HARMONY_CALL] || ids[i] == h[HARMONY_RETURN] ||
                       ids[i] == h[HARMONY_START]) {
                in_message = analysis = false;
            } else {
                count += in_message && analysis;
            }
        }
        return count;
    }
    int32_t tag[2];
    if (g->reasoning == REASONING_OFF || !n || !http_think_tokens(s->tok, tag)) return 0;
    int64_t i = ids[0] == tag[0];
    if (g->reasoning == REASONING_QWEN3 && !i) return 0;   /* no block: all content */
    while (i < n && ids[i] != tag[1]) i++, count++;
    return count;
}

/* The number of r's answer ("chatcmpl-7": "7"), the ids of its response and items. */
static const char *reply_number(const Reply *r) {
    const char *dash = strrchr(r->id, '-');
    return dash ? dash + 1 : r->id;
}

static json_t *usage_of(const Reply *r, const json_t *chat_usage) {
    json_int_t cached = json_integer_value(json_object_get(json_object_get(chat_usage, "prompt_tokens_details"), "cached_tokens"));
    return json_pack("{s:O, s:{s:I}, s:O, s:{s:I}, s:O}", "input_tokens", json_object_get(chat_usage, "prompt_tokens"),
                     "input_tokens_details", "cached_tokens", cached, "output_tokens",
                     json_object_get(chat_usage, "completion_tokens"), "output_tokens_details", "reasoning_tokens",
                     (json_int_t)reasoning_tokens(&r->choice[0]), "total_tokens", json_object_get(chat_usage, "total_tokens"));
}

/* The echoed field key of the request, else dflt (taken). */
static json_t *echoed(const Reply *r, const char *key, json_t *dflt) {
    json_t *v = json_object_get(r->responses, key);
    if (v && !json_is_null(v)) return json_decref(dflt), json_incref(v);
    return dflt;
}

/* The response object of r: status, its output items and usage (both taken; usage NULL: null), what the
 * request set; the sampling values and max_output_tokens those that run (the generation config's
 * defaults where it gave none, the context's rest), as vLLM's. */
static json_t *response_object(const Reply *r, const char *status, json_t *output, json_t *usage) {
    const Gen *g = &r->choice[0];
    char id[64];
    snprintf(id, sizeof id, "resp_%s", reply_number(r));
    json_t *reasoning = json_object_get(r->responses, "reasoning"), *effort = json_object_get(reasoning, "effort");
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:b, s:n, s:o, s:o, s:o, s:o, s:s, s:o}", "id", id, "object", "response",
                          "created_at", (json_int_t)g->created, "status", status, "background", 0, "error",
                          "incomplete_details", strcmp(status, "incomplete") ? json_null() :
                                                json_pack("{s:s}", "reason", "max_output_tokens"),
                          "instructions", echoed(r, "instructions", json_null()), "max_output_tokens",
                          json_integer((json_int_t)g->req.max_new), "metadata", echoed(r, "metadata", json_object()),
                          "model", g->srv->model, "output", output);
    json_object_set_new(o, "parallel_tool_calls", echoed(r, "parallel_tool_calls", json_true()));
    json_object_set_new(o, "previous_response_id", echoed(r, "previous_response_id", json_null()));
    json_object_set_new(o, "reasoning", json_pack("{s:O?, s:n}", "effort", effort, "summary"));
    json_object_set_new(o, "service_tier", json_string("auto"));
    json_object_set_new(o, "store", json_boolean(r->conversation != NULL));
    json_object_set_new(o, "temperature", json_real(g->sample.temperature));
    json_object_set_new(o, "text", echoed(r, "text", json_pack("{s:{s:s}}", "format", "type", "text")));
    bool tools = json_array_size(json_object_get(r->responses, "tools"));   /* the chat's default: auto with tools */
    json_object_set_new(o, "tool_choice", echoed(r, "tool_choice", json_string(tools ? "auto" : "none")));
    json_object_set_new(o, "tools", echoed(r, "tools", json_array()));
    json_object_set_new(o, "top_logprobs", echoed(r, "top_logprobs", json_integer(0)));
    json_object_set_new(o, "top_p", json_real(g->sample.top_p));
    json_object_set_new(o, "truncation", json_string("disabled"));
    json_object_set_new(o, "usage", usage ? usage : json_null());
    json_object_set_new(o, "user", echoed(r, "user", json_null()));
    return o;
}

/* The kinds of output item: a stream's open one (OPEN_NONE: none). */
enum { OPEN_NONE, OPEN_REASONING, OPEN_MESSAGE, OPEN_CALL };

/* The id of r's item of kind, its k-th call's: rs_N, msg_N, fc_N_K (N the answer's number). */
static const char *item_id(const Reply *r, int kind, int k, char id[64]) {
    const char *number = reply_number(r);
    if (kind == OPEN_CALL) snprintf(id, 64, "fc_%s_%d", number, k);
    else snprintf(id, 64, "%s_%s", kind == OPEN_REASONING ? "rs" : "msg", number);
    return id;
}

static json_t *reasoning_item(const Reply *r, const char *text, size_t len, const char *status) {
    char id[64];
    item_id(r, OPEN_REASONING, 0, id);
    return json_pack("{s:s, s:s, s:[], s:[{s:s, s:s%}], s:s}", "id", id, "type", "reasoning", "summary", "content", "type",
                     "reasoning_text", "text", text, len, "status", status);
}

/* A message item: text (NULL: no part yet), its tokens' log-probabilities (taken; NULL: none). */
static json_t *message_item(const Reply *r, const char *text, size_t len, const char *status, json_t *logprobs) {
    char id[64];
    item_id(r, OPEN_MESSAGE, 0, id);
    json_t *content = text ? json_pack("[{s:s, s:s%, s:[], s:o}]", "type", "output_text", "text", text, len, "annotations",
                                       "logprobs", logprobs ? logprobs : json_array())
                           : (json_decref(logprobs), json_array());
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", id, "type", "message", "status", status, "role", "assistant",
                     "content", content);
}

static json_t *call_item(const Reply *r, int k, const json_t *call_id, const json_t *name, const char *args, size_t len,
                         const char *status) {
    char id[64];
    item_id(r, OPEN_CALL, k, id);
    return json_pack("{s:s, s:s, s:s, s:O, s:O, s:s%}", "id", id, "type", "function_call", "status", status, "call_id", call_id,
                     "name", name, "arguments", args, len);
}

/* The status of an answer that ended for finish_reason. */
static const char *status_of(const char *finish) {
    return finish && !strcmp(finish, "length") ? "incomplete" : "completed";
}

char *responses_answer_json(const Reply *r) {
    json_t *chat = api_response_object(r);
    json_t *choice = json_array_get(json_object_get(chat, "choices"), 0), *m = json_object_get(choice, "message");
    const char *status = status_of(json_string_value(json_object_get(choice, "finish_reason")));
    json_t *reasoning = json_object_get(m, "reasoning"), *content = json_object_get(m, "content");
    json_t *output = json_array(), *calls = json_object_get(m, "tool_calls");
    if (json_is_string(reasoning))
        json_array_append_new(output, reasoning_item(r, json_string_value(reasoning), json_string_length(reasoning), status));
    if (json_is_string(content) && (json_string_length(content) || !json_array_size(output)))
        json_array_append_new(output, message_item(r, json_string_value(content), json_string_length(content), status,
                                                   json_deep_copy(json_object_get(json_object_get(choice, "logprobs"), "content"))));
    if (!json_is_string(content) && !calls && !json_is_string(reasoning))
        json_array_append_new(output, message_item(r, "", 0, status, NULL));
    for (size_t k = 0; k < json_array_size(calls); k++) {
        json_t *c = json_array_get(calls, k), *f = json_object_get(c, "function"), *args = json_object_get(f, "arguments");
        json_array_append_new(output, call_item(r, (int)k, json_object_get(c, "id"), json_object_get(f, "name"),
                                                json_string_value(args), json_string_length(args), status));
    }
    json_t *o = response_object(r, status, output, usage_of(r, json_object_get(chat, "usage")));
    json_decref(chat);
    if (r->conversation) keep(r, o);
    return api_json_text(o);
}

/* ------------------------------------------------------------------ the stream */

/* A stream's state: the output items so far, the last perhaps open (its text growing). */
struct ResponsesStream {
    int64_t seq;            /* the next event's sequence_number */
    bool started;
    json_t *items;          /* the closed items */
    int open;               /* OPEN_: the open item's kind */
    Buf text;               /* its text (a call's arguments) so far */
    json_t *call;           /* an open call's first chat delta: its id and function name */
    json_t *logprobs;       /* the open message's tokens' log-probabilities so far; NULL: none asked */
    json_t *unsent;         /* those no delta event has carried yet */
    int ncalls;
    const char *finish;     /* the chat answer's finish_reason ("length", ...) once known */
    json_t *usage;          /* the chat usage chunk's */
};

ResponsesStream *responses_stream_new(void) {
    ResponsesStream *rs = xcalloc(1, sizeof *rs);
    rs->items = json_array();
    return rs;
}

void responses_stream_free(ResponsesStream *rs) {
    if (!rs) return;
    json_t *owned[] = {rs->items, rs->call, rs->logprobs, rs->unsent, rs->usage};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) json_decref(owned[i]);
    buf_free(&rs->text);
    free(rs);
}

/* "event: TYPE\ndata: {"type": TYPE, "sequence_number": N, ...fields}\n\n" into out (fields taken). */
static void emit(ResponsesStream *rs, Buf *out, const char *type, json_t *fields) {
    json_t *j = json_pack("{s:s, s:I}", "type", type, "sequence_number", (json_int_t)rs->seq++);
    json_object_update(j, fields);
    json_decref(fields);
    char *text = api_json_text(j);
    buf_printf(out, "event: %s\ndata: %s\n\n", type, text);
    free(text);
}

/* The open item as it stands (status), its kind's shape. */
static json_t *open_item(const Reply *r, const ResponsesStream *rs, const char *status) {
    const char *text = rs->text.data ? rs->text.data : "";
    if (rs->open == OPEN_REASONING) return reasoning_item(r, text, rs->text.len, status);
    if (rs->open == OPEN_MESSAGE) return message_item(r, text, rs->text.len, status, json_deep_copy(rs->logprobs));
    return call_item(r, rs->ncalls - 1, json_object_get(rs->call, "id"), json_object_get(json_object_get(rs->call, "function"), "name"),
                     text, rs->text.len, status);
}

/* The open item's delta event of text; a message's carries the log-probabilities that came since the
 * last one. */
static void delta_event(const Reply *r, ResponsesStream *rs, Buf *out, const char *text, size_t len) {
    char id[64];
    json_t *d = json_pack("{s:s, s:i, s:i, s:s%}", "item_id", item_id(r, rs->open, 0, id), "output_index", (int)json_array_size(rs->items),
                          "content_index", 0, "delta", text, len);
    if (rs->open == OPEN_MESSAGE) {
        json_object_set_new(d, "logprobs", rs->unsent ? rs->unsent : json_array());
        rs->unsent = NULL;
    }
    emit(rs, out, rs->open == OPEN_REASONING ? "response.reasoning_text.delta" : "response.output_text.delta", d);
}

/* The open item's closing events (a message's last log-probabilities, its text done, its part done,
 * the item done). */
static void close_item(const Reply *r, ResponsesStream *rs, Buf *out) {
    if (rs->open == OPEN_NONE) return;
    if (rs->open == OPEN_MESSAGE && json_array_size(rs->unsent))   /* entries after the last text: a delta of none */
        delta_event(r, rs, out, "", 0);
    json_t *item = open_item(r, rs, status_of(rs->finish));
    json_t *id = json_object_get(item, "id");
    int index = (int)json_array_size(rs->items);
    const char *text = rs->text.data ? rs->text.data : "";
    if (rs->open == OPEN_CALL) {
        emit(rs, out, "response.function_call_arguments.done", json_pack("{s:O, s:i, s:O, s:s%}", "item_id", id, "output_index",
                                                                         index, "name", json_object_get(item, "name"), "arguments",
                                                                         text, rs->text.len));
    } else {
        bool reasoning = rs->open == OPEN_REASONING;
        json_t *part = json_deep_copy(json_array_get(json_object_get(item, "content"), 0));
        json_t *done = json_pack("{s:O, s:i, s:i, s:s%}", "item_id", id, "output_index", index, "content_index", 0, "text", text,
                                 rs->text.len);
        if (!reasoning) json_object_set_new(done, "logprobs", rs->logprobs ? json_deep_copy(rs->logprobs) : json_array());
        emit(rs, out, reasoning ? "response.reasoning_text.done" : "response.output_text.done", done);
        emit(rs, out, reasoning ? "response.reasoning_part.done" : "response.content_part.done",
             json_pack("{s:O, s:i, s:i, s:o}", "item_id", id, "output_index", index, "content_index", 0, "part", part));
    }
    emit(rs, out, "response.output_item.done", json_pack("{s:i, s:O}", "output_index", index, "item", item));
    json_array_append_new(rs->items, item);
    rs->open = OPEN_NONE;
    buf_free(&rs->text);
    json_decref(rs->logprobs);
    json_decref(rs->unsent);
    rs->logprobs = rs->unsent = NULL;
}

/* Opens an item of kind (closing the open one): its added events. */
static void open_kind(const Reply *r, ResponsesStream *rs, Buf *out, int kind, const json_t *call) {
    close_item(r, rs, out);
    rs->open = kind;
    if (kind == OPEN_CALL) {
        json_decref(rs->call);
        rs->call = json_incref((json_t *)call);
        rs->ncalls++;
    }
    json_t *item = open_item(r, rs, "in_progress"), *id = json_object_get(item, "id");
    int index = (int)json_array_size(rs->items);
    json_t *part = json_deep_copy(json_array_get(json_object_get(item, "content"), 0));
    if (kind == OPEN_MESSAGE) json_object_set_new(part, "logprobs", json_array());   /* they come with the deltas */
    if (kind != OPEN_CALL) json_array_clear(json_object_get(item, "content"));
    emit(rs, out, "response.output_item.added", json_pack("{s:i, s:O}", "output_index", index, "item", item));
    if (kind != OPEN_CALL)
        emit(rs, out, kind == OPEN_REASONING ? "response.reasoning_part.added" : "response.content_part.added",
             json_pack("{s:O, s:i, s:i, s:o}", "item_id", id, "output_index", index, "content_index", 0, "part", part));
    else json_decref(part);
    json_decref(item);
}

/* A delta of the open item's text (kind's event), opening it first when another is open. */
static void delta(const Reply *r, ResponsesStream *rs, Buf *out, int kind, const char *text, size_t len) {
    if (!len) return;
    if (rs->open != kind) open_kind(r, rs, out, kind, NULL);
    buf_append(&rs->text, text, len);
    delta_event(r, rs, out, text, len);
}

/* A chunk's tool_calls: a call with an id opens its item; each arguments piece is a delta of it. */
static void call_deltas(const Reply *r, ResponsesStream *rs, Buf *out, const json_t *calls) {
    for (size_t k = 0; k < json_array_size(calls); k++) {
        const json_t *c = json_array_get(calls, k);
        const json_t *args = json_object_get(json_object_get(c, "function"), "arguments");
        if (json_object_get(c, "id")) open_kind(r, rs, out, OPEN_CALL, c);
        if (!json_string_length(args) || rs->open != OPEN_CALL) continue;
        buf_append(&rs->text, json_string_value(args), json_string_length(args));
        char id[64];
        emit(rs, out, "response.function_call_arguments.delta", json_pack("{s:s, s:i, s:O}", "item_id",
                                                                          item_id(r, OPEN_CALL, rs->ncalls - 1, id), "output_index",
                                                                          (int)json_array_size(rs->items), "delta", args));
    }
}

/* The stream's end: the open item closed (an answer of nothing: an empty message), then
 * response.completed or response.incomplete with the whole response. */
static void finish(const Reply *r, ResponsesStream *rs, Buf *out) {
    if (rs->open == OPEN_NONE && !json_array_size(rs->items)) open_kind(r, rs, out, OPEN_MESSAGE, NULL);
    close_item(r, rs, out);
    const char *status = status_of(rs->finish);
    json_t *o = response_object(r, status, json_deep_copy(rs->items), rs->usage ? usage_of(r, rs->usage) : NULL);
    if (r->conversation) keep(r, o);
    emit(rs, out, strcmp(status, "completed") ? "response.incomplete" : "response.completed", json_pack("{s:o}", "response", o));
}

/* The stream's first events, once: response.created and response.in_progress. */
static void start(ResponsesStream *rs, const Reply *r, Buf *out) {
    if (rs->started) return;
    rs->started = true;
    emit(rs, out, "response.created", json_pack("{s:o}", "response", response_object(r, "in_progress", json_array(), NULL)));
    emit(rs, out, "response.in_progress", json_pack("{s:o}", "response", response_object(r, "in_progress", json_array(), NULL)));
}

char *responses_stream_start(ResponsesStream *rs, const Reply *r) {
    Buf out = {0};
    start(rs, r, &out);
    buf_append(&out, "", 0);
    return out.data;
}

char *responses_stream_event(ResponsesStream *rs, const Reply *r, char *chat_event) {
    Buf out = {0};
    start(rs, r, &out);
    const char *data = strncmp(chat_event, "data: ", 6) ? chat_event : chat_event + 6;
    json_t *j = strncmp(data, "[DONE]", 6) ? json_loads(data, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, NULL) : NULL;
    json_t *error = json_object_get(j, "error"), *choices = json_object_get(j, "choices");
    json_t *choice = json_array_get(choices, 0), *d = json_object_get(choice, "delta");
    if (!strncmp(data, "[DONE]", 6)) {
        finish(r, rs, &out);
    } else if (error) {
        emit(rs, &out, "error", json_pack("{s:O, s:O, s:n}", "code", json_object_get(error, "code"), "message",
                                          json_object_get(error, "message"), "param"));
    } else if (choice) {
        json_t *reasoning = json_object_get(d, "reasoning"), *content = json_object_get(d, "content");
        json_t *lp = json_object_get(json_object_get(choice, "logprobs"), "content");
        if (lp) {   /* asked only where every token is the message's (take_logprobs) */
            if (!rs->logprobs) rs->logprobs = json_array();
            if (!rs->unsent) rs->unsent = json_array();   /* the last delta took those before */
            json_array_extend(rs->logprobs, lp);
            json_array_extend(rs->unsent, lp);
        }
        if (json_is_string(reasoning)) delta(r, rs, &out, OPEN_REASONING, json_string_value(reasoning), json_string_length(reasoning));
        if (json_is_string(content)) delta(r, rs, &out, OPEN_MESSAGE, json_string_value(content), json_string_length(content));
        call_deltas(r, rs, &out, json_object_get(d, "tool_calls"));
        const char *finish_reason = json_string_value(json_object_get(choice, "finish_reason"));
        if (finish_reason) rs->finish = !strcmp(finish_reason, "length") ? "length" : "stop";
    } else if (json_object_get(j, "usage")) {
        json_decref(rs->usage);
        rs->usage = json_incref(json_object_get(j, "usage"));
    }
    json_decref(j);
    free(chat_event);
    buf_append(&out, "", 0);   /* none (a usage chunk's): "" */
    return out.data;
}
