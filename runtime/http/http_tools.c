/* http_tools.c — tool calling's request side (docs/serving.md, "Tool calling"): a chat request's
 * tools and tool_choice, and the tool_calls, tool_call_id and name of its messages, checked and
 * handed to the chat template as vLLM hands them (its pydantic models' dumps, a tool call's arguments
 * parsed from their JSON text). */
#include "http.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Whether every key of o is one of the NULL-ended names. */
static const char *unknown_key(const json_t *o, const char *const *names) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        int i = 0;
        while (names[i] && strcmp(names[i], key)) i++;
        if (!names[i]) return key;
    }
    return NULL;
}

static bool null_or(const json_t *v, json_type type) { return !v || json_is_null(v) || json_typeof(v) == type; }

/* One tool, {"type": "function", "function": {"name", "description", "parameters", "strict"}}, as vLLM's
 * ChatCompletionToolsParam.model_dump() gives it: description and parameters null when not given,
 * strict (OpenAI's, an extra field to vLLM's model) after them when given. */
static json_t *take_tool(const json_t *t, size_t i, ApiError *err) {
    static const char *const TOOL[] = {"type", "function", NULL},
                             *const FUNCTION[] = {"name", "description", "parameters", "strict", NULL};
    const json_t *type = json_object_get(t, "type"), *f = json_object_get(t, "function");
    const char *extra = json_is_object(t) ? unknown_key(t, TOOL) : NULL;
    if (!json_is_object(t) || extra || (type && !api_is_str(type, "function")) ||
        !json_is_object(f))
        return api_refuse(err, 400, "field 'tools': tools[%zu] must be {\"type\": \"function\", \"function\": {...}}%s%s%s", i,
                      extra ? " (not '" : "", extra ? extra : "", extra ? "')" : ""), NULL;
    const json_t *name = json_object_get(f, "name"), *desc = json_object_get(f, "description"),
                 *params = json_object_get(f, "parameters");
    if ((extra = unknown_key(f, FUNCTION)))
        return api_refuse(err, 400, "field 'tools': tools[%zu].function.%.60s is not supported (only name, description, "
                      "parameters and strict)", i, extra), NULL;
    const json_t *strict = json_object_get(f, "strict");
    if (!json_is_string(name) || !null_or(desc, JSON_STRING) || !null_or(params, JSON_OBJECT) || (strict && !json_is_null(strict) &&
                                                                                                 !json_is_boolean(strict)))
        return api_refuse(err, 400, "field 'tools': tools[%zu].function needs a string 'name'; 'description' is a string, "
                      "'parameters' an object (JSON Schema) and 'strict' a boolean", i), NULL;
    json_t *tool = json_pack("{s:s, s:{s:O, s:O, s:O}}", "type", "function", "function", "name", name, "description",
                             desc ? desc : json_null(), "parameters", params ? params : json_null());
    if (strict) json_object_set(json_object_get(tool, "function"), "strict", (json_t *)strict);
    return tool;
}

bool tools_strict(const json_t *tools) {
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)tools, i, t) if (json_is_true(json_object_get(json_object_get(t, "function"), "strict"))) return true;
    return false;
}

bool tools_take(const json_t *v, json_t **tools, ApiError *err) {
    json_decref(*tools);
    *tools = NULL;
    if (json_is_null(v)) return true;
    if (!json_is_array(v)) return api_refuse(err, 400, "field 'tools' must be an array of tools");
    *tools = json_array();
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *t = take_tool(json_array_get(v, i), i, err);
        if (!t) return json_decref(*tools), *tools = NULL, false;
        json_array_append_new(*tools, t);
    }
    return true;
}

bool tools_take_choice(const json_t *v, ToolChoice *choice, const json_t **named, ApiError *err) {
    *named = NULL;
    if (json_is_null(v)) return *choice = TOOL_CHOICE_DEFAULT, true;
    if (api_is_str(v, "none")) return *choice = TOOL_CHOICE_NONE, true;
    if (api_is_str(v, "auto")) return *choice = TOOL_CHOICE_AUTO, true;
    if (api_is_str(v, "required")) return *choice = TOOL_CHOICE_REQUIRED, true;
    const json_t *f = json_object_get(v, "function"), *name = json_object_get(f, "name");
    if (json_is_object(v) && api_is_str(json_object_get(v, "type"), "function") && json_is_string(name) &&
        json_object_size(v) == 2 && json_object_size(f) == 1)
        return *choice = TOOL_CHOICE_NAMED, *named = name, true;
    return api_refuse(err, 400, "field 'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
                  "\"function\": {\"name\": ...}}");
}

/* tool_choice "required" as vLLM forces it: a JSON list of at least one call, each {"name": one of the
 * tools', "parameters": its parameters' schema (none: {})}; the tools' $defs gathered at the top. */
json_t *tools_required_schema(const json_t *tools, ApiError *err) {
    json_t *alts = json_array(), *defs = json_object();
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)tools, i, t) {
        const json_t *f = json_object_get(t, "function"), *params = json_object_get(f, "parameters");
        json_t *ps = json_is_object(params) && json_object_size(params) ? json_incref((json_t *)params)
                                                                         : json_pack("{s:s, s:{}}", "type", "object", "properties");
        json_array_append_new(alts, json_pack("{s:{s:{s:s, s:[O]}, s:o}, s:[s, s]}", "properties", "name", "type", "string",
                                              "enum", json_object_get(f, "name"), "parameters", ps, "required", "name",
                                              "parameters"));
        const char *key;
        json_t *d;
        json_object_foreach(json_object_get(params, "$defs"), key, d) {
            const json_t *had = json_object_get(defs, key);
            if (had && !json_equal((json_t *)had, d)) {
                json_decref(alts), json_decref(defs);
                return api_refuse(err, 400, "tool_choice \"required\": two tools define '$defs/%.100s' differently", key), NULL;
            }
            json_object_set(defs, key, d);
        }
    }
    json_t *schema = json_pack("{s:s, s:i, s:{s:s, s:o}}", "type", "array", "minItems", 1, "items", "type", "object", "anyOf", alts);
    if (json_object_size(defs)) json_object_set(schema, "$defs", defs);
    json_decref(defs);
    return schema;
}

const json_t *tools_named(const json_t *tools, const json_t *name, ApiError *err) {
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)tools, i, t)
        if (json_equal(json_object_get(json_object_get(t, "function"), "name"), (json_t *)name)) return t;
    return api_refuse(err, 400, "field 'tool_choice': the function '%.100s' is not one of 'tools'", json_string_value(name)), NULL;
}

bool tools_force(Gen *g, ToolChoice c, const json_t *tools, const json_t *named, bool one_call, ApiError *err) {
    if (!tools || !json_array_size(tools))
        return api_refuse(err, 400, "field 'tool_choice': %s needs 'tools'", c == TOOL_CHOICE_REQUIRED ? "\"required\"" : "a named function");
    g->guide_field = "tool_choice";
    if (c == TOOL_CHOICE_REQUIRED) {
        g->tool_parser = TOOL_PARSER_REQUIRED;
        if (!(g->guide_schema = tools_required_schema(tools, err))) return false;
        if (one_call) json_object_set_new(g->guide_schema, "maxItems", json_integer(1));   /* parallel_tool_calls false */
        return true;
    }
    const json_t *tool = tools_named(tools, named, err), *params = json_object_get(json_object_get(tool, "function"), "parameters");
    if (!tool) return false;
    g->tool_parser = TOOL_PARSER_NAMED;
    g->tools = json_pack("[O]", tool);
    g->guide_schema = json_is_object(params) && json_object_size(params) ? json_incref((json_t *)params)
                                                                          : json_pack("{s:s, s:{}}", "type", "object", "properties");
    return true;
}

/* A tool call of an assistant's message, as the client sent it but for its arguments: their JSON
 * text parsed (vLLM's _postprocess_messages; empty: {}). */
static json_t *take_call(const json_t *c, size_t i, size_t k, ApiError *err) {
    static const char *const CALL[] = {"id", "type", "function", NULL}, *const FUNCTION[] = {"name", "arguments", NULL};
    const json_t *f = json_object_get(c, "function"), *type = json_object_get(c, "type");
    const json_t *args = json_object_get(f, "arguments");
    if (!json_is_object(c) || unknown_key(c, CALL) || !json_is_string(json_object_get(c, "id")) ||
        (type && !api_is_str(type, "function")) || !json_is_object(f) ||
        unknown_key(f, FUNCTION) || !json_is_string(json_object_get(f, "name")) || !json_is_string(args))
        return api_refuse(err, 400, "messages[%zu]: tool_calls[%zu] must be {\"id\": ..., \"type\": \"function\", \"function\": "
                      "{\"name\": ..., \"arguments\": JSON text}}", i, k), NULL;
    json_error_t je;
    json_t *parsed = json_string_length(args) ? json_loadb(json_string_value(args), json_string_length(args),
                                                           JSON_DECODE_ANY, &je) : json_object();
    if (!parsed)
        return api_refuse(err, 400, "messages[%zu]: tool_calls[%zu].function.arguments is not JSON: %s", i, k, je.text), NULL;
    json_t *out = json_deep_copy(c);
    json_object_set_new(json_object_get(out, "function"), "arguments", parsed);
    return out;
}

bool tools_message_extra(const json_t *msg, size_t i, json_t **extra, ApiError *err) {
    static const char *const KEYS[] = {"role", "content", "tool_calls", "tool_call_id", "name", "reasoning", NULL};
    const char *role = json_string_value(json_object_get(msg, "role")), *bad_key = unknown_key(msg, KEYS);
    const json_t *calls = json_object_get(msg, "tool_calls"), *id = json_object_get(msg, "tool_call_id"),
                 *name = json_object_get(msg, "name"), *reasoning = json_object_get(msg, "reasoning");
    *extra = NULL;
    if (bad_key && !strcmp(bad_key, "reasoning_content"))   /* vLLM drops it without a word */
        return api_refuse(err, 400, "messages[%zu]: the field 'reasoning_content' is not supported (vLLM's is "
                          "'reasoning', which the template reads as both)", i);
    if (bad_key) return api_refuse(err, 400, "messages[%zu]: the field '%.60s' is not supported", i, bad_key);
    if (reasoning && !json_is_null(reasoning) && (strcmp(role, "assistant") || !json_is_string(reasoning)))
        return api_refuse(err, 400, "messages[%zu]: 'reasoning' is a string, of an assistant's message", i);
    if (calls && !json_is_null(calls) && (strcmp(role, "assistant") || !json_is_array(calls)))
        return api_refuse(err, 400, "messages[%zu]: 'tool_calls' is an array, of an assistant's message", i);
    if (id && (strcmp(role, "tool") || !json_is_string(id)))
        return api_refuse(err, 400, "messages[%zu]: 'tool_call_id' is a string, of a tool's message", i);
    if (!null_or(name, JSON_STRING)) return api_refuse(err, 400, "messages[%zu]: 'name' must be a string", i);
    *extra = json_object();
    if (calls && !json_is_null(calls)) {   /* the order vLLM's message dict has: tool_calls or tool_call_id, then name */
        json_t *list = json_array();
        json_object_set_new(*extra, "tool_calls", list);
        for (size_t k = 0; k < json_array_size(calls); k++) {
            json_t *c = take_call(json_array_get(calls, k), i, k, err);
            if (!c) return json_decref(*extra), *extra = NULL, false;
            json_array_append_new(list, c);
        }
    }
    if (json_is_string(reasoning)) {   /* vLLM's: the template reads it as reasoning and reasoning_content */
        json_object_set(*extra, "reasoning", (json_t *)reasoning);
        json_object_set(*extra, "reasoning_content", (json_t *)reasoning);
    }
    if (id) json_object_set(*extra, "tool_call_id", (json_t *)id);
    if (json_is_string(name)) json_object_set(*extra, "name", (json_t *)name);
    if (!json_object_size(*extra)) json_decref(*extra), *extra = NULL;
    return true;
}

bool tools_parser_named(const char *name, ToolParser *parser) {
    if (!strcmp(name, "hermes")) return *parser = TOOL_PARSER_HERMES, true;
    if (!strcmp(name, "llama3_json")) return *parser = TOOL_PARSER_LLAMA3_JSON, true;
    if (!strcmp(name, "mistral")) return *parser = TOOL_PARSER_MISTRAL, true;
    if (!strcmp(name, "pythonic")) return *parser = TOOL_PARSER_PYTHONIC, true;
    if (!strcmp(name, "llama4_pythonic")) return *parser = TOOL_PARSER_LLAMA4_PYTHONIC, true;
    if (!strcmp(name, "openai")) return *parser = TOOL_PARSER_OPENAI, true;
    if (!strcmp(name, "qwen3_coder")) return *parser = TOOL_PARSER_QWEN3_CODER, true;
    return false;
}

/* ------------------------------------------------------------------ the answer's tool calls */

#define HERMES_OPEN "<tool_call>"
#define HERMES_CLOSE "</tool_call>"
#define PYTHON_TAG "<|python_tag|>"
#define MISTRAL_TAG "[TOOL_CALLS]"
#define PYTHON_START "<|python_start|>"
#define PYTHON_END "<|python_end|>"

/* vLLM's random_tool_call_id: "chatcmpl-tool-" and 32 hex digits (mistral: 9 letters and digits,
 * MistralToolCall's), here a counter mixed with a seed the system draws once a process (unique in a
 * server's life, and across restarts; nothing is drawn from a choice's sampling state). */
static uint64_t id_seed;

/* The seed of the calls' ids: the system's random bytes, else the clock and the process id. */
static void draw_seed(void) {
    if (getrandom(&id_seed, sizeof id_seed, 0) == (ssize_t)sizeof id_seed) return;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    id_seed = ((uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec) ^ ((uint64_t)getpid() << 40);
}

static json_t *call_id(ToolParser p) {
    static _Atomic uint64_t counter;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, draw_seed);
    uint64_t x = ++counter ^ id_seed, h[2];
    for (int k = 0; k < 2; k++) {   /* splitmix64 */
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        h[k] = z ^ (z >> 31);
    }
    char id[64];
    snprintf(id, sizeof id, "chatcmpl-tool-%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
    if (p != TOOL_PARSER_MISTRAL) return json_string(id);
    static const char ALNUM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int k = 0; k < 9; k++) id[k] = ALNUM[(h[k / 5] >> (12 * (k % 5))) % 62];
    id[9] = 0;
    return json_string(id);
}

/* One call {"name": string, "arguments" (or, llama3_json, "parameters"): any} as parser p's ToolCall:
 * the arguments as json.dumps writes them. NULL when obj is not such a call. */
static json_t *tool_call(const json_t *obj, ToolParser p) {
    bool parameters_too = p == TOOL_PARSER_LLAMA3_JSON;
    const json_t *name = json_object_get(obj, "name"), *args = json_object_get(obj, "arguments");
    if (!args && parameters_too) args = json_object_get(obj, "parameters");
    if (!json_is_object(obj) || !json_is_string(name) || !args) return NULL;
    return tools_call(p, json_string_value(name), json_string_length(name), args, NULL, 0);
}

json_t *tools_call(ToolParser p, const char *name, size_t name_len, const json_t *args, const char *raw, size_t raw_len) {
    Buf text = {0};
    if (args) jinja_json_text(args, &text);
    else buf_append(&text, raw, raw_len);
    json_t *call = json_pack("{s:o, s:s, s:{s:s%, s:s%}}", "id", call_id(p), "type", "function", "function", "name", name,
                             name_len, "arguments", text.data ? text.data : "", text.len);
    buf_free(&text);
    return call;
}

const char *api_find(const char *s, size_t len, size_t from, const char *needle) {
    size_t n = strlen(needle);
    return from <= len ? memmem(s + from, len - from, needle, n) : NULL;
}

/* hermes: every <tool_call>JSON</tool_call> (the last may lack its closing tag), the text before the
 * first one the content. */
static json_t *read_hermes(const char *text, size_t len, size_t *content) {
    const char *open = api_find(text, len, 0, HERMES_OPEN);
    if (!open) return NULL;
    *content = (size_t)(open - text);
    json_t *calls = json_array();
    for (size_t at = *content; (open = api_find(text, len, at, HERMES_OPEN));) {
        size_t body = (size_t)(open - text) + strlen(HERMES_OPEN);
        const char *close = api_find(text, len, body, HERMES_CLOSE);
        size_t end = close ? (size_t)(close - text) : len;
        json_t *obj = json_loadb(text + body, end - body, JSON_DECODE_ANY, NULL), *call = tool_call(obj, TOOL_PARSER_HERMES);
        json_decref(obj);
        if (!call) return json_decref(calls), NULL;
        json_array_append_new(calls, call);
        at = close ? end + strlen(HERMES_CLOSE) : len;
    }
    return calls;
}

/* llama3_json: after an optional <|python_tag|>, the whole answer is JSON objects separated by ';'. */
static json_t *read_llama3_json(const char *text, size_t len, size_t *content) {
    size_t at = len >= strlen(PYTHON_TAG) && !memcmp(text, PYTHON_TAG, strlen(PYTHON_TAG)) ? strlen(PYTHON_TAG) : 0;
    if (at >= len || text[at] != '{') return NULL;
    *content = 0;
    json_t *calls = json_array();
    while (at < len) {
        json_error_t je;
        json_t *obj = json_loadb(text + at, len - at, JSON_DISABLE_EOF_CHECK, &je), *call = tool_call(obj, TOOL_PARSER_LLAMA3_JSON);
        json_decref(obj);
        if (!call) return json_decref(calls), NULL;
        json_array_append_new(calls, call);
        at += (size_t)je.position;
        while (at < len && strchr(" \t\r\n", text[at])) at++;
        if (at < len && text[at++] != ';') return json_decref(calls), NULL;
        while (at < len && strchr(" \t\r\n", text[at])) at++;
    }
    return calls;
}

/* mistral (Mistral 7B Instruct v0.3's): after the first [TOOL_CALLS], a JSON list of calls and nothing
 * else; the text before it the content. */
static json_t *read_mistral(const char *text, size_t len, size_t *content) {
    const char *tag = api_find(text, len, 0, MISTRAL_TAG);
    if (!tag) return NULL;
    *content = (size_t)(tag - text);
    size_t at = *content + strlen(MISTRAL_TAG);
    json_t *list = json_loadb(text + at, len - at, 0, NULL), *calls = json_is_array(list) && json_array_size(list) ? json_array() : NULL;
    for (size_t k = 0; calls && k < json_array_size(list); k++) {
        json_t *call = tool_call(json_array_get(list, k), TOOL_PARSER_MISTRAL);
        if (call) json_array_append_new(calls, call);
        else json_decref(calls), calls = NULL;
    }
    json_decref(list);
    return calls;
}

/* pythonic: the whole answer a Python list of calls (http_pythonic.c); llama4_pythonic: after an
 * optional <|python_start|>, and then without any <|python_end|> (vLLM drops them all). */
static json_t *read_pythonic(ToolParser p, const char *text, size_t len, size_t *content) {
    Buf b = {0};
    size_t start = strlen(PYTHON_START);
    if (p == TOOL_PARSER_LLAMA4_PYTHONIC && len >= start && !memcmp(text, PYTHON_START, start)) {
        for (size_t at = start; at < len;) {
            const char *end = api_find(text, len, at, PYTHON_END);
            size_t to = end ? (size_t)(end - text) : len;
            buf_append(&b, text + at, to - at);
            at = end ? to + strlen(PYTHON_END) : len;
        }
        text = b.data ? b.data : "", len = b.len;
    }
    json_t *list = pythonic_calls(text, len), *calls = list ? json_array() : NULL;
    for (size_t k = 0; k < json_array_size(list); k++) json_array_append_new(calls, tool_call(json_array_get(list, k), p));
    json_decref(list);
    buf_free(&b);
    if (calls) *content = 0;
    return calls;
}

/* qwen3_coder: qwen3_coder_calls' calls as ToolCalls. */
static json_t *read_qwen3_coder(const char *text, size_t len, const json_t *tools, size_t *content) {
    json_t *list = qwen3_coder_calls(text, len, tools, content), *calls = list ? json_array() : NULL;
    for (size_t k = 0; k < json_array_size(list); k++) json_array_append_new(calls, tool_call(json_array_get(list, k), TOOL_PARSER_QWEN3_CODER));
    json_decref(list);
    return calls;
}

json_t *tools_named_delta(const json_t *tools, const char *piece, size_t len, bool first) {
    if (!first) return json_pack("{s:{s:s%}}", "function", "arguments", piece, len);
    const json_t *name = json_object_get(json_object_get(json_array_get(tools, 0), "function"), "name");
    return tools_call(TOOL_PARSER_NAMED, json_string_value(name), json_string_length(name), NULL, piece, len);
}

/* named: the whole answer is the named function's arguments, as written (vLLM's): the call a stream's
 * first delta would be with all of them. */
static json_t *read_named(const char *text, size_t len, const json_t *tools, size_t *content) {
    *content = 0;
    return json_pack("[o]", tools_named_delta(tools, text, len, true));
}

/* required: the whole answer a JSON list of {"name", "parameters"} (vLLM's FunctionDefinition), each
 * a call with its parameters as json.dumps writes them; NULL when it is not one (cut short). */
static json_t *read_required(const char *text, size_t len, size_t *content) {
    json_t *list = json_loadb(text, len, 0, NULL), *calls = json_is_array(list) && json_array_size(list) ? json_array() : NULL;
    size_t k;
    json_t *one;
    json_array_foreach(list, k, one) {
        const json_t *name = json_object_get(one, "name"), *params = json_object_get(one, "parameters");
        if (!calls || !json_is_string(name) || !json_is_object(params)) {
            json_decref(calls), calls = NULL;
            break;
        }
        json_array_append_new(calls, tools_call(TOOL_PARSER_REQUIRED, json_string_value(name), json_string_length(name), params, NULL, 0));
    }
    json_decref(list);
    if (calls) *content = 0;
    return calls;
}

json_t *tools_read(ToolParser p, const char *text, size_t len, const json_t *tools, size_t *content) {
    *content = len;
    if (!text) return NULL;
    json_t *calls = p == TOOL_PARSER_NAMED ? read_named(text, len, tools, content)
                  : p == TOOL_PARSER_REQUIRED ? read_required(text, len, content)
                  : p == TOOL_PARSER_QWEN3_CODER ? read_qwen3_coder(text, len, tools, content)
                  : p == TOOL_PARSER_HERMES ? read_hermes(text, len, content)
                  : p == TOOL_PARSER_LLAMA3_JSON ? read_llama3_json(text, len, content)
                  : p == TOOL_PARSER_MISTRAL ? read_mistral(text, len, content)
                  : p == TOOL_PARSER_PYTHONIC || p == TOOL_PARSER_LLAMA4_PYTHONIC ? read_pythonic(p, text, len, content) : NULL;
    if (!calls) *content = len;
    return calls;
}

size_t api_partial_tag(const char *s, size_t len, const char *tag) {
    size_t n = strlen(tag);
    for (size_t k = n - 1 < len ? n - 1 : len; k > 0; k--)
        if (!memcmp(s + len - k, tag, k)) return k;
    return 0;
}

size_t tools_stream_limit(ToolParser p, const char *text, size_t ready) {
    if (!text || p == TOOL_PARSER_OFF) return ready;
    if (p == TOOL_PARSER_NAMED) {   /* its arguments, streamed as they come (api_stream_next) from the first */
        for (size_t k = 0; k < ready; k++)   /* byte that is not white space: clients parse each prefix */
            if (!text[k] || !strchr(" \t\r\n", text[k])) return ready;
        return 0;
    }
    if (p == TOOL_PARSER_REQUIRED) return 0;   /* the whole answer is calls */
    if (p == TOOL_PARSER_QWEN3_CODER) {   /* content ends at <tool_call>, or at <function=: hold both */
        const char *call = api_find(text, ready, 0, "<tool_call>"), *fn = api_find(text, ready, 0, "<function=");
        const char *first = call && (!fn || call < fn) ? call : fn;
        if (first) return (size_t)(first - text);
        size_t a = api_partial_tag(text, ready, "<tool_call>"), b = api_partial_tag(text, ready, "<function=");
        return ready - (a > b ? a : b);
    }
    if (p == TOOL_PARSER_HERMES || p == TOOL_PARSER_MISTRAL) {
        const char *tag = p == TOOL_PARSER_HERMES ? HERMES_OPEN : MISTRAL_TAG, *open = api_find(text, ready, 0, tag);
        return open ? (size_t)(open - text) : ready - api_partial_tag(text, ready, tag);
    }
    /* llama3_json and the pythonic ones: nothing while the answer may still be a call */
    const char *tag = p == TOOL_PARSER_LLAMA3_JSON ? PYTHON_TAG : p == TOOL_PARSER_LLAMA4_PYTHONIC ? PYTHON_START : NULL;
    size_t n = tag ? strlen(tag) : 0;
    bool maybe = !ready || text[0] == (p == TOOL_PARSER_LLAMA3_JSON ? '{' : '[') || (tag && !memcmp(text, tag, ready < n ? ready : n));
    return maybe ? 0 : ready;
}
