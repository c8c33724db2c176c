/* http_api.c — the bodies of /v1/completions and /v1/chat/completions as the OpenAI API (and vLLM's
 * extensions) have them: a Reply of the request's choices, or a refusal (http.h; docs/serving.md,
 * "The HTTP server"). Their answers: http_answer.c. */
#include "http_parse.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* v is the JSON string s. */
bool api_refuse(ApiError *err, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return false;
}


/* ------------------------------------------------------------------ fields */

static bool f_model(Parse *p, json_t *v, ApiError *err) {
    if (!json_is_string(v)) return api_refuse(err, 400, "field 'model' must be a string");
    if (strcmp(json_string_value(v), p->s->model))
        return api_refuse(err, 404, "the model '%.200s' does not exist: this server serves '%s'", json_string_value(v), p->s->model);
    return true;
}

/* An integer field >= lo into *out, at most MIXC_MAX_VALUE (null: the default); hint ends the
 * message of a refusal. */
static bool take_integer(json_t *v, const char *name, int64_t lo, const char *hint, int64_t *out, ApiError *err) {
    if (json_is_null(v)) return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo)
        return api_refuse(err, 400, "field '%s' must be an integer >= %lld%s", name, (long long)lo, hint);
    *out = json_integer_value(v) < MIXC_MAX_VALUE ? (int64_t)json_integer_value(v) : MIXC_MAX_VALUE;
    return true;
}

/* A number field in [lo, hi] ((lo, hi] when lo_open; above lo alone when hi is infinite) into *out
 * (null: the default). */
static bool take_number(json_t *v, const char *name, double lo, bool lo_open, double hi, double *out, ApiError *err) {
    if (json_is_null(v)) return true;
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(lo_open ? x > lo : x >= lo) || !(x <= hi)) {
        if (isinf(hi)) return api_refuse(err, 400, "field '%s' must be a number %s %g", name, lo_open ? ">" : ">=", lo);
        return api_refuse(err, 400, "field '%s' must be a number in %c%g, %g]", name, lo_open ? '(' : '[', lo, hi);
    }
    *out = x;
    return true;
}

static bool f_max_tokens(Parse *p, json_t *v, ApiError *err) { return take_integer(v, "max_tokens", 1, "", &p->max_tokens, err); }
static bool f_max_completion_tokens(Parse *p, json_t *v, ApiError *err) {
    return take_integer(v, "max_completion_tokens", 1, "", &p->max_completion_tokens, err);
}
static bool f_temperature(Parse *p, json_t *v, ApiError *err) {
    return take_number(v, "temperature", 0, false, 2, &p->g->sample.temperature, err);
}
static bool f_top_p(Parse *p, json_t *v, ApiError *err) { return take_number(v, "top_p", 0, true, 1, &p->g->sample.top_p, err); }
/* vLLM's min_p. */
static bool f_min_p(Parse *p, json_t *v, ApiError *err) { return take_number(v, "min_p", 0, false, 1, &p->g->sample.min_p, err); }

/* vLLM's top_k: an integer >= 1; -1 or 0: every token. */
static bool f_top_k(Parse *p, json_t *v, ApiError *err) {
    if (!take_integer(v, "top_k", -1, " (-1 or 0: every token)", &p->g->sample.top_k, err)) return false;
    if (p->g->sample.top_k < 0) p->g->sample.top_k = 0;
    return true;
}

/* Field name's array a of token ids of the model into *ids (malloc'd) and *n. */
bool api_take_ids(const Parse *p, json_t *a, const char *name, int32_t **ids, int64_t *n, ApiError *err) {
    *ids = xcalloc(json_array_size(a) + 1, sizeof **ids);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *t = json_array_get(a, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= p->s->vocab)
            return api_refuse(err, 400, "field '%s': element %zu is not a token id in [0, %lld)", name, i, (long long)p->s->vocab);
        (*ids)[(*n)++] = (int32_t)json_integer_value(t);
    }
    return true;
}

/* vLLM's stop_token_ids: ids of the model that end the generation (as its end of sequence does,
 * but with ignore_eos too). */
static bool f_stop_token_ids(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_array(v) || n > HTTP_MAX_STOP_TOKEN_IDS)
        return api_refuse(err, 400, "field 'stop_token_ids' must be an array of at most %d token ids", HTTP_MAX_STOP_TOKEN_IDS);
    return api_take_ids(p, v, "stop_token_ids", &p->g->stop_token_ids, &p->g->nstop_token_ids, err);
}

/* vLLM's truncate_prompt_tokens: k >= 1 keeps the prompt's last k tokens, -1 the model's context's
 * worth (truncated_prompt). */
static bool f_truncate_prompt_tokens(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    int64_t k = json_is_integer(v) ? json_integer_value(v) : 0;
    if (k != -1 && (k < 1 || k > p->s->context))
        return api_refuse(err, 400, "field 'truncate_prompt_tokens' must be -1 (the model's context) or from 1 to the context "
                          "(%lld)", (long long)p->s->context);
    return p->truncate = k < 0 ? p->s->context : k, true;
}

/* vLLM's min_tokens: at most max_tokens (check_fit). */
static bool f_min_tokens(Parse *p, json_t *v, ApiError *err) { return take_integer(v, "min_tokens", 0, "", &p->g->min_tokens, err); }

static bool f_seed(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    if (!json_is_integer(v)) return api_refuse(err, 400, "field 'seed' must be an integer");
    p->seeded = true;
    p->seed = (uint64_t)json_integer_value(v);
    return true;
}

/* vLLM's priority: where the request waits in the queue, the least first (ties: arrival). A server that
 * serves first come, first served takes 0 alone, as vLLM's does. */
static bool f_priority(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    if (!json_is_integer(v)) return api_refuse(err, 400, "field 'priority' must be an integer");
    json_int_t x = json_integer_value(v);
    if (x && p->s->opt.scheduling_policy != SCHEDULE_PRIORITY)
        return api_refuse(err, 400, "field 'priority' is %lld, but this server schedules first come, first served: start it "
                          "with --scheduling-policy priority", (long long)x);
    p->g->priority = x;
    return true;
}

static bool f_stop(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    json_t *one = json_is_string(v) ? v : NULL;
    size_t n = one ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!one && (!json_is_array(v) || n > 16))
        return api_refuse(err, 400, "field 'stop' must be a string or an array of at most 16 strings");
    Gen *g = p->g;
    g->stop = xcalloc(n + 1, sizeof *g->stop);
    for (size_t i = 0; i < n; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s) || !json_string_length(s) || strlen(json_string_value(s)) != json_string_length(s))
            return api_refuse(err, 400, "field 'stop': element %zu is not a non-empty string", i);
        g->stop[g->nstop++] = xstrdup(json_string_value(s));
        if (json_string_length(s) > g->stop_max) g->stop_max = json_string_length(s);
    }
    if (n && !p->s->tok) return api_refuse(err, 400, "field 'stop' needs a tokenizer: the server has none (--tokenizer)");
    return true;
}

static bool f_n(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > HTTP_MAX_CHOICES)
        return api_refuse(err, 400, "field 'n' must be an integer in [1, %d]", HTTP_MAX_CHOICES);
    p->n = json_integer_value(v);
    return true;
}

/* A boolean field (null: the default) into *out. */
static bool take_bool(json_t *v, const char *name, bool *out, ApiError *err) {
    if (json_is_null(v)) return true;
    if (!json_is_boolean(v)) return api_refuse(err, 400, "field '%s' must be a boolean", name);
    *out = json_is_true(v);
    return true;
}

/* vLLM's chat_template_kwargs: the template's arguments by name (Llama 3.1's date_string, Qwen 3's
 * enable_thinking, Granite's controls, ...), any JSON value. A name the request or the server sets is
 * refused (its field says it), as are vLLM's refused chat_template and tokenize. A name the template
 * does not read changes nothing, as in vLLM's rendering (which drops it). */
static bool f_chat_template_kwargs(Parse *p, json_t *v, ApiError *err) {
    static const char *const SET[] = {"messages", "tools", "documents", "add_generation_prompt", "continue_final_message",
                                      "bos_token", "eos_token", "strftime_now", "chat_template", "tokenize", NULL};
    if (json_is_null(v)) return true;
    if (!json_is_object(v)) return api_refuse(err, 400, "field 'chat_template_kwargs' must be an object");
    if (json_object_size(v) > MAX_TEMPLATE_ARGUMENTS)
        return api_refuse(err, 400, "field 'chat_template_kwargs' has %zu names (at most %d are taken)", json_object_size(v),
                          MAX_TEMPLATE_ARGUMENTS);
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        for (int i = 0; SET[i]; i++)
            if (!strcmp(key, SET[i]))
                return api_refuse(err, 400, "field 'chat_template_kwargs': '%s' is not taken here (the request's fields and "
                           "the server set it)", key);
        p->kwargs[p->render.nkwargs++] = (JinjaKwarg){key, x};
    }
    p->render.kwargs = p->kwargs;
    return true;
}

static bool f_reasoning_effort(Parse *p, json_t *v, ApiError *err) { return (p->reasoning_effort = v), true; }

/* reasoning_effort (OpenAI's, which vLLM hands to gpt-oss' system message) as the template argument of
 * that name, which gpt-oss' template reads ("Reasoning: high"); refused on another model's server,
 * whose template would ignore it. */
static bool take_reasoning_effort(Parse *p, ApiError *err) {
    json_t *v = p->reasoning_effort;
    if (!v || json_is_null(v)) return true;
    if (!p->s->harmony.on)
        return api_refuse(err, 400, "field 'reasoning_effort' is read by gpt-oss' template, and this server's tokenizer is "
                          "not gpt-oss' (chat_template_kwargs gives another template its own names)");
    if (!api_is_str(v, "low") && !api_is_str(v, "medium") && !api_is_str(v, "high"))
        return api_refuse(err, 400, "field 'reasoning_effort' must be \"low\", \"medium\" or \"high\"");
    for (int i = 0; i < p->render.nkwargs; i++)
        if (!strcmp(p->kwargs[i].name, "reasoning_effort"))
            return api_refuse(err, 400, "field 'reasoning_effort' and chat_template_kwargs' reasoning_effort: give one");
    p->kwargs[p->render.nkwargs++] = (JinjaKwarg){"reasoning_effort", v};
    p->render.kwargs = p->kwargs;
    return true;
}

/* /detokenize's ids. */
static bool f_tokens(Parse *p, json_t *v, ApiError *err) {
    if (!json_is_array(v)) return api_refuse(err, 400, "field 'tokens' must be an array of token ids");
    return api_take_ids(p, v, "tokens", &p->g->req.prompt, &p->g->req.prompt_len, err);
}

/* vLLM's: include_usage true unless false or null; continuous_usage_stats (with include_usage) puts
 * the choice's usage so far in each of its chunks. */
static bool f_stream_options(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    json_t *u = json_object_get(v, "include_usage"), *c = json_object_get(v, "continuous_usage_stats");
    if (!json_is_object(v) || json_object_size(v) != (size_t)((u != NULL) + (c != NULL)) ||
        (u && !json_is_boolean(u) && !json_is_null(u)) || (c && !json_is_boolean(c) && !json_is_null(c)))
        return api_refuse(err, 400, "field 'stream_options' must be {\"include_usage\": true|false, "
                             "\"continuous_usage_stats\": true|false} (either may be left out)");
    p->g->include_usage = !u || json_is_true(u);
    p->g->continuous_usage = p->g->include_usage && json_is_true(c);
    return true;
}

/* An integer field of the alternatives a token's log-probabilities name, 0..SAMPLE_MAX_LOGPROBS. */
static bool take_top(json_t *v, const char *name, int64_t *out, ApiError *err) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > SAMPLE_MAX_LOGPROBS)
        return api_refuse(err, 400, "field '%s' must be an integer in [0, %d]", name, SAMPLE_MAX_LOGPROBS);
    *out = json_integer_value(v);
    return true;
}

/* completions: "logprobs": N, the N most probable tokens' besides the chosen one's (null, false: none). */
static bool f_logprobs(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v) || json_is_false(v)) return true;
    int64_t n = 0;
    if (!take_top(v, "logprobs", &n, err)) return false;
    p->g->logprobs = (int)n;
    return true;
}

/* vLLM's prompt_logprobs: N, each prompt token's log-probability and rank, and the N most probable
 * tokens' at its position (-1, vLLM's every token, passes its default max_logprobs of 20 as here). */
static bool f_prompt_logprobs(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    if (json_is_integer(v) && json_integer_value(v) == -1)
        return api_refuse(err, 400, "field 'prompt_logprobs': -1 (every token's) is more than the %d alternatives a position "
                          "may have here, as with vLLM's default max_logprobs", SAMPLE_MAX_LOGPROBS);
    int64_t n = 0;
    if (!take_top(v, "prompt_logprobs", &n, err)) return false;
    p->g->prompt_logprobs = (int)n;
    return true;
}

/* chat: "logprobs": true gives the chosen tokens' log-probabilities, "top_logprobs": N (with it) N
 * alternatives' (resolved in logprobs_asked, the fields coming in any order). */
static bool f_top_logprobs(Parse *p, json_t *v, ApiError *err) {
    return json_is_null(v) || take_top(v, "top_logprobs", &p->top_logprobs, err);
}

static bool logprobs_asked(Parse *p, ApiError *err) {
    if (p->g->stream && p->g->prompt_logprobs > 0)   /* vLLM's rule: 0 is taken, and nothing sent */
        return api_refuse(err, 400, "field 'prompt_logprobs' cannot be given with \"stream\": true (as in vLLM): the "
                          "chunks do not carry them");
    if (p->g->stream) p->g->prompt_logprobs = -1;
    if (p->g->echo && p->g->prompt_ids)   /* vLLM then leaves the prompt's text out and puts its ids in token_ids */
        return api_refuse(err, 400, "fields 'return_token_ids' and 'echo' cannot both be given (the echoed prompt's ids are "
                          "prompt_token_ids)");
    if (!p->g->chat) return true;
    if (p->top_logprobs >= 0 && !p->chat_logprobs) return api_refuse(err, 400, "field 'top_logprobs' needs \"logprobs\": true");
    if (p->chat_logprobs) p->g->logprobs = p->top_logprobs > 0 ? (int)p->top_logprobs : 0;
    return true;
}

static bool f_frequency_penalty(Parse *p, json_t *v, ApiError *err) {
    return take_number(v, "frequency_penalty", -2, false, 2, &p->g->adjust.frequency, err);
}
static bool f_presence_penalty(Parse *p, json_t *v, ApiError *err) {
    return take_number(v, "presence_penalty", -2, false, 2, &p->g->adjust.presence, err);
}
/* vLLM's repetition_penalty (1: none). */
static bool f_repetition_penalty(Parse *p, json_t *v, ApiError *err) {
    return take_number(v, "repetition_penalty", 0, true, INFINITY, &p->g->adjust.repetition, err);
}

/* logit_bias: {"ID": value}, each ID a token id of the model written as a plain decimal (so that no
 * two keys name one id), each value in [-100, 100]. */
static bool f_logit_bias(Parse *p, json_t *v, ApiError *err) {
    if (json_is_null(v)) return true;
    if (!json_is_object(v)) return api_refuse(err, 400, "field 'logit_bias' must be an object of token ids and numbers");
    LogitAdjust *a = &p->g->adjust;
    size_t n = json_object_size(v);
    a->bias_id = xcalloc(n + 1, sizeof *a->bias_id);
    a->bias = xcalloc(n + 1, sizeof *a->bias);
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        char *end, canon[24];
        long id = strtol(key, &end, 10);
        snprintf(canon, sizeof canon, "%ld", id);
        if (*end || strcmp(canon, key) || id < 0 || id >= p->s->vocab)
            return api_refuse(err, 400, "field 'logit_bias': '%.40s' is not a token id in [0, %lld)", key, (long long)p->s->vocab);
        if (!json_is_number(x) || !(json_number_value(x) >= -100 && json_number_value(x) <= 100))
            return api_refuse(err, 400, "field 'logit_bias': the value of '%s' must be a number in [-100, 100]", key);
        a->bias_id[a->nbias] = (int32_t)id;
        a->bias[a->nbias++] = (float)json_number_value(x);
    }
    return true;
}

static bool f_prompt(Parse *p, json_t *v, ApiError *err) { return (p->prompt = v), true; }
static bool f_messages(Parse *p, json_t *v, ApiError *err) { return (p->messages = v), true; }
static bool f_ignored(Parse *p, json_t *v, ApiError *err) { return true; }

/* tools: the template reads them (null: none; [] as [], transformers'). */
static bool f_tools(Parse *p, json_t *v, ApiError *err) {
    bool ok = tools_take(v, &p->tools, err);
    p->render.tools = p->tools;
    return ok;
}
/* vLLM's structured_outputs: json, json_object, choice (its texts) or regex. */
static bool f_structured_outputs(Parse *p, json_t *v, ApiError *err) {
    json_decref(p->outputs);
    return guide_structured_outputs(v, &p->outputs, &p->outputs_form, err);
}

/* vLLM's documents: a list of objects of strings, which the chat template renders (Cohere's, Granite's). */
static bool f_documents(Parse *p, json_t *v, ApiError *err) {
    p->render.documents = NULL;   /* the body's, which outlives the parse */
    if (json_is_null(v)) return true;
    size_t i;
    json_t *d;
    bool ok = json_is_array(v);
    json_array_foreach(ok ? v : NULL, i, d) {
        const char *key;
        json_t *x;
        ok &= json_is_object(d);
        json_object_foreach(json_is_object(d) ? d : NULL, key, x) ok &= json_is_string(x);
    }
    if (!ok) return api_refuse(err, 400, "field 'documents' must be an array of objects of strings");
    p->render.documents = v;
    return true;
}

static bool f_tool_choice(Parse *p, json_t *v, ApiError *err) { return tools_take_choice(v, &p->tool_choice, &p->named, err); }
/* OpenAI's parallel_tool_calls: false asks one call at most (resolve_tool_choice). */
static bool f_parallel_tool_calls(Parse *p, json_t *v, ApiError *err) {
    bool parallel = true;
    return take_bool(v, "parallel_tool_calls", &parallel, err) && ((p->one_call = !parallel), true);
}

/* response_format: its JSON Schema (none for text) into p->format. */
static bool f_response_format(Parse *p, json_t *v, ApiError *err) {
    json_decref(p->format);
    return guide_response_format(v, &p->format, err);
}

/* OpenAI fields whose value asks for nothing mixc would have to do: accepted at that value only. */
static bool f_neutral(const char *name, json_t *v, ApiError *err) {
    bool ok = json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == 1 && !strcmp(name, "best_of"));
    return ok || api_refuse(err, 400, "field '%s': this value is not supported (docs/serving.md lists what is)", name);
}

/* Where a boolean field's value goes: a member of the request's Gen (p->g), of its chat rendering
 * (p->render) or of the Parse itself. */
typedef enum { NOT_A_FLAG, FLAG_OF_GEN, FLAG_OF_RENDER, FLAG_OF_PARSE } FlagHome;

typedef struct {
    const char *name;
    bool (*take)(Parse *p, json_t *v, ApiError *err);   /* NULL: a flag (home), else f_neutral's */
    int where;      /* ROUTE_ bits */
    FlagHome home;
    size_t offset;  /* a flag's, in its home */
} Field;

/* A field taken by function take (NULL: f_neutral's), or a boolean field, null its default: true or
 * false into member of home (Gen, ChatRender or Parse). */
#define TAKE(name, take, where) {name, take, where, NOT_A_FLAG, 0}
#define FLAG(name, type, home, member, where) {name, NULL, where, home, offsetof(type, member)}

static const Field FIELDS[] = {
    TAKE("model", f_model, ANY_ROUTE), TAKE("prompt", f_prompt, OF_PROMPTS), TAKE("messages", f_messages, OF_MESSAGES),
    TAKE("max_tokens", f_max_tokens, GENERATING), TAKE("max_completion_tokens", f_max_completion_tokens, ROUTE_CHAT),
    TAKE("temperature", f_temperature, GENERATING), TAKE("top_p", f_top_p, GENERATING), TAKE("min_p", f_min_p, GENERATING),
    TAKE("top_k", f_top_k, GENERATING), TAKE("stop_token_ids", f_stop_token_ids, GENERATING),
    TAKE("allowed_token_ids", api_allowed_token_ids, GENERATING), TAKE("bad_words", api_bad_words, GENERATING), TAKE("truncate_prompt_tokens", f_truncate_prompt_tokens, GENERATING),
    TAKE("min_tokens", f_min_tokens, GENERATING), TAKE("seed", f_seed, GENERATING), TAKE("stop", f_stop, GENERATING),
    TAKE("priority", f_priority, GENERATING), TAKE("prompt_logprobs", f_prompt_logprobs, GENERATING),
    TAKE("n", f_n, GENERATING), TAKE("stream_options", f_stream_options, GENERATING), TAKE("user", f_ignored, GENERATING),
    TAKE("logprobs", f_logprobs, ROUTE_COMPLETIONS), TAKE("top_logprobs", f_top_logprobs, ROUTE_CHAT),
    TAKE("best_of", NULL, ROUTE_COMPLETIONS), TAKE("suffix", NULL, ROUTE_COMPLETIONS),
    TAKE("frequency_penalty", f_frequency_penalty, GENERATING), TAKE("presence_penalty", f_presence_penalty, GENERATING),
    TAKE("logit_bias", f_logit_bias, GENERATING), TAKE("repetition_penalty", f_repetition_penalty, GENERATING),
    TAKE("response_format", f_response_format, GENERATING), TAKE("tools", f_tools, OF_MESSAGES),
    TAKE("tool_choice", f_tool_choice, ROUTE_CHAT), TAKE("parallel_tool_calls", f_parallel_tool_calls, ROUTE_CHAT),
    TAKE("documents", f_documents, OF_MESSAGES), TAKE("structured_outputs", f_structured_outputs, GENERATING),
    TAKE("tokens", f_tokens, ROUTE_DETOKENIZE), TAKE("chat_template_kwargs", f_chat_template_kwargs, OF_MESSAGES),
    TAKE("reasoning_effort", f_reasoning_effort, OF_MESSAGES),
    FLAG("stream", Gen, FLAG_OF_GEN, stream, GENERATING),
    FLAG("echo", Gen, FLAG_OF_GEN, echo, ROUTE_COMPLETIONS),
    FLAG("ignore_eos", Gen, FLAG_OF_GEN, ignore_eos, GENERATING),   /* vLLM's, as the next five */
    FLAG("skip_special_tokens", Gen, FLAG_OF_GEN, skip_special, GENERATING),
    FLAG("include_stop_str_in_output", Gen, FLAG_OF_GEN, include_stop, GENERATING),
    FLAG("include_reasoning", Gen, FLAG_OF_GEN, include_reasoning, ROUTE_CHAT),
    FLAG("return_token_ids", Gen, FLAG_OF_GEN, prompt_ids, GENERATING),
    FLAG("return_tokens_as_token_ids", Gen, FLAG_OF_GEN, tokens_as_ids, GENERATING),
    /* chat: "logprobs": true gives the chosen tokens' log-probabilities (top_logprobs: alternatives) */
    FLAG("logprobs", Parse, FLAG_OF_PARSE, chat_logprobs, ROUTE_CHAT),
    /* vLLM's chat fields of transformers' apply_chat_template arguments */
    FLAG("add_generation_prompt", ChatRender, FLAG_OF_RENDER, add_generation_prompt, OF_MESSAGES),
    FLAG("continue_final_message", ChatRender, FLAG_OF_RENDER, continue_final_message, OF_MESSAGES),
    /* vLLM's: default true for a completion's text prompt, false for a chat's (its template writes them) */
    FLAG("add_special_tokens", Parse, FLAG_OF_PARSE, add_special, OF_PROMPTS | OF_MESSAGES),
    /* /tokenize's: the tokens' vocabulary strings too (vLLM's) */
    FLAG("return_token_strs", Parse, FLAG_OF_PARSE, token_strs, TOKENIZING),
};

/* Where flag field f of p goes. */
static bool *flag_of(Parse *p, const Field *f) {
    char *home = f->home == FLAG_OF_GEN ? (char *)p->g : f->home == FLAG_OF_RENDER ? (char *)&p->render : (char *)p;
    return (bool *)(home + f->offset);
}

bool api_take_fields(Parse *p, json_t *body, ApiError *err) {
    const char *key;
    json_t *v;
    int where = p->route;
    json_object_foreach(body, key, v) {
        const Field *f = NULL;
        for (size_t i = 0; i < sizeof FIELDS / sizeof *FIELDS && !f; i++)
            if (!strcmp(FIELDS[i].name, key) && (FIELDS[i].where & where)) f = &FIELDS[i];
        if (!f) return api_refuse(err, 400, "unknown field '%.100s'", key);
        bool ok = f->take ? f->take(p, v, err) : f->home ? take_bool(v, key, flag_of(p, f), err) : f_neutral(key, v, err);
        if (!ok) return false;
    }
    return true;
}

/* ------------------------------------------------------------------ prompts */

static bool text_ids(Parse *p, const char *text, size_t len, bool add_special, ApiError *err) {
    char e[512];
    if (!p->s->tok)
        return api_refuse(err, 400, "a text prompt needs a tokenizer, and this server has none: start it with --tokenizer "
                             "(or a tokenizer.json beside --weights), or send token ids");
    if (!tokenizer_encode(p->s->tok, text, len, add_special, &p->g->req.prompt, &p->g->req.prompt_len, e, sizeof e))
        return api_refuse(err, 400, "the prompt: %s", e);
    for (int64_t i = 0; i < p->g->req.prompt_len; i++)
        if (p->g->req.prompt[i] >= p->s->vocab)
            return api_refuse(err, 400, "the prompt's token %d is outside the model's vocabulary [0, %lld)", p->g->req.prompt[i],
                       (long long)p->s->vocab);
    return true;
}


/* With echo, a prompt of token ids is echoed as their text, special tokens kept (none without a
 * tokenizer, as the generated text); an id the tokenizer does not have is refused. */
static bool echo_ids_text(Parse *p, ApiError *err) {
    Gen *g = p->g;
    if (!g->echo || !p->s->tok) return true;
    char e[256];
    g->prompt_text = tokenizer_decode(p->s->tok, g->req.prompt, g->req.prompt_len, g->skip_special, &g->prompt_text_len, e,
                                      sizeof e);
    return g->prompt_text || api_refuse(err, 400, "field 'echo': the prompt's %s", e);
}

/* One prompt of a completion: a string, or a non-empty array of token ids. */
bool api_completion_prompt(Parse *p, json_t *v, ApiError *err) {
    if (json_is_string(v) && p->g->echo) {   /* echoed as given (not as its ids: the BOS is not in it) */
        p->g->prompt_text_len = json_string_length(v);
        p->g->prompt_text = xmalloc(p->g->prompt_text_len + 1);
        memcpy(p->g->prompt_text, json_string_value(v), p->g->prompt_text_len + 1);
    }
    if (json_is_string(v)) return text_ids(p, json_string_value(v), json_string_length(v), p->add_special, err);
    if (!json_is_array(v) || !json_array_size(v))
        return api_refuse(err, 400, "field 'prompt' must be a string, a non-empty array of token ids, or an array of these");
    return api_take_ids(p, v, "prompt", &p->g->req.prompt, &p->g->req.prompt_len, err) && echo_ids_text(p, err);
}

/* A message's content: a string, or an array of one {"type": "text", "text": ...} part. Several parts
 * are refused: how they join is each engine's choice (vLLM puts a newline between them, transformers
 * hands the list to the template), and no join here would be the checkpoint's. */
static bool message_content(json_t *c, int i, Buf *joined, ApiError *err) {
    if (json_is_string(c)) return buf_append(joined, json_string_value(c), json_string_length(c)), true;
    if (!json_is_array(c)) return api_refuse(err, 400, "messages[%d]: 'content' must be a string or an array of text parts", i);
    if (json_array_size(c) > 1)
        return api_refuse(err, 400, "messages[%d]: content in %zu parts is not supported (how parts join is each engine's "
                   "choice): send it as one string", i, json_array_size(c));
    for (size_t k = 0; k < json_array_size(c); k++) {
        json_t *part = json_array_get(c, k), *text = json_object_get(part, "text");
        if (!api_is_str(json_object_get(part, "type"), "text") || !json_is_string(text) ||
            json_object_size(part) != 2)
            return api_refuse(err, 400, "messages[%d]: content part %zu is not {\"type\": \"text\", \"text\": ...}", i, k);
        buf_append(joined, json_string_value(text), json_string_length(text));
    }
    return true;
}

bool api_chat_prompt(Parse *p, ApiError *err) {
    json_t *v = p->messages;
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (!n || n > 4096) return api_refuse(err, 400, "field 'messages' must be a non-empty array of messages");
    if (!p->s->tok) return api_refuse(err, 400, "chat needs a tokenizer, and this server has none: start it with --tokenizer");
    if (!take_reasoning_effort(p, err)) return false;
    ChatMessage *m = xcalloc(n, sizeof *m);
    Buf *content = xcalloc(n, sizeof *content), text = {0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        json_t *msg = json_array_get(v, i), *role = json_object_get(msg, "role"), *c = json_object_get(msg, "content");
        bool assistant = json_is_string(role) && !strcmp(json_string_value(role), "assistant");
        if (!json_is_string(role) || strlen(json_string_value(role)) != json_string_length(role) ||
            (!c && !assistant))
            ok = api_refuse(err, 400, "messages[%zu] must be {\"role\": ..., \"content\": ...} (and tool_calls, tool_call_id, "
                     "name)", i);
        else if (!c || (json_is_null(c) && assistant)) ok = true;   /* vLLM's: no content renders as "" */
        else ok = message_content(c, (int)i, &content[i], err);
        json_t *extra = NULL;
        ok = ok && tools_message_extra(msg, i, &extra, err);
        if (!ok) break;
        json_t *reasoning = json_object_get(extra, "reasoning");
        if (reasoning && p->s->harmony.on) json_object_set(extra, "thinking", reasoning);   /* gpt-oss' template's name */
        buf_append(&content[i], "", 0);
        m[i] = (ChatMessage){json_string_value(role), content[i].data ? content[i].data : "", content[i].len, extra};
    }
    char e[600];
    if (ok && p->render.add_generation_prompt && p->render.continue_final_message)
        ok = api_refuse(err, 400, "fields 'add_generation_prompt' and 'continue_final_message' cannot both be true "
                 "(continuing the final message: set add_generation_prompt to false)");
    if (ok && !chat_template_render_as(p->s->chat, p->s->tok, m, (int)n, &p->render, &text, p->g->stop_ids,
                                       &p->g->nstop_ids, e, sizeof e))
        ok = api_refuse(err, 400, "%s", e);
    if (ok) ok = text_ids(p, text.data, text.len, p->add_special, err);
    for (size_t i = 0; i < n; i++) buf_free(&content[i]), json_decref((json_t *)m[i].extra);
    free(content);
    free(m);
    buf_free(&text);
    return ok;
}

/* The prompt and max_tokens against the context, the generation config's cap (which lowers max_tokens,
 * as vLLM's does) and the KV budget. */
static bool check_fit(Parse *p, ApiError *err) {
    ServeRequest *r = &p->g->req;
    int64_t C = p->s->context;
    if (r->prompt_len == 0) return api_refuse(err, 400, "the prompt makes no tokens");
    r->max_new = p->max_tokens >= 0 ? p->max_tokens : p->g->chat ? (C > r->prompt_len ? C - r->prompt_len : 1) : 16;
    if (r->prompt_len + r->max_new > C)
        return api_refuse(err, 400, "this model's context is %lld tokens; the request has %lld prompt tokens and asks for "
                   "%lld new ones (%lld in all)", (long long)C, (long long)r->prompt_len, (long long)r->max_new,
                   (long long)(r->prompt_len + r->max_new));
    if (p->s->max_new_cap && r->max_new > p->s->max_new_cap) r->max_new = p->s->max_new_cap;
    if (p->g->min_tokens > r->max_new)
        return api_refuse(err, 400, "field 'min_tokens' (%lld) must be at most max_tokens (%lld)", (long long)p->g->min_tokens,
                   (long long)r->max_new);
    int64_t cost = serve_request_cost(p->s->b, r), budget = p->s->m.kv_budget;
    if (budget > 0 && (cost < 0 || cost > budget))
        return api_refuse(err, 400, "the request's KV caches take %lld bytes, more than the server's budget (%lld)",
                   (long long)cost, (long long)budget);
    int64_t pages = serve_request_pages(p->s->b, r), pool = p->s->b->plan->pool_pages;
    if (pages > pool)
        return api_refuse(err, 400, "the request's KV caches take %lld pages, more than the server's pool (%lld)",
                   (long long)pages, (long long)pool);
    return true;
}

/* Adds id to the distinct ids of a, unless the model cannot produce it (a tokenizer's special token
 * past the model's vocabulary: its logit does not exist to ban). */
static void add_end(LogitAdjust *a, int32_t id, int64_t vocab) {
    if (id < 0 || id >= vocab) return;
    for (int k = 0; k < a->nend; k++)
        if (a->end_id[k] == id) return;
    a->end_id[a->nend++] = id;
}

/* The ids that end g, once (hook_emitted stops at them, min_tokens bans them): the model's end of
 * sequence and the template's end of turn unless ignore_eos, and stop_token_ids. false when
 * min_tokens would ban the whole vocabulary (no token could be picked). */
static bool gather_ends(Parse *p, ApiError *err) {
    Gen *g = p->g;
    const EosIds *eos = &p->s->eos;
    LogitAdjust *a = &g->adjust;
    a->end_id = xcalloc((size_t)(eos->n + g->nstop_ids + g->nstop_token_ids + 1), sizeof *a->end_id);
    for (int i = 0; i < eos->n && !g->ignore_eos; i++) add_end(a, eos->ids[i], p->s->vocab);
    for (int i = 0; i < g->nstop_ids && !g->ignore_eos; i++) add_end(a, g->stop_ids[i], p->s->vocab);
    for (int i = 0; i < g->nstop_token_ids; i++) add_end(a, g->stop_token_ids[i], p->s->vocab);
    if (g->min_tokens && a->nend >= p->s->vocab)
        return api_refuse(err, 400, "field 'min_tokens': every token of the model would end the sequence");
    return true;
}

/* What the engine needs of g's prompt: rows for an echo's log-probabilities or prompt_logprobs, the
 * counts of the penalties, the prompt's ids seen by the repetition_penalty. */
static void prepare_choice(const HttpServer *s, Gen *g) {
    bool echo_lp = g->echo && g->logprobs >= 0;
    if (echo_lp || g->prompt_logprobs >= 0) {
        g->prompt_lp = xcalloc((size_t)g->req.prompt_len, sizeof *g->prompt_lp);
        g->prompt_ntop = echo_lp && g->logprobs > g->prompt_logprobs ? g->logprobs : g->prompt_logprobs;
    }
    if (echo_lp) {
        for (int64_t i = 0; i < g->req.prompt_len; i++) {
            int64_t chars;
            free(api_token_text(s, g->req.prompt[i], &(size_t){0}, &chars));
            g->prompt_chars += chars;
        }
    }
    LogitAdjust *a = &g->adjust;
    if (a->frequency != 0 || a->presence != 0) a->counts = xcalloc((size_t)s->vocab, sizeof *a->counts);
    if (a->repetition != 0 && a->repetition != 1) {   /* the prompt's ids count as seen */
        a->seen = xcalloc((size_t)s->vocab, sizeof *a->seen);
        for (int64_t i = 0; i < g->req.prompt_len; i++) a->seen[g->req.prompt[i]] = 1;
    }
}

/* truncate_prompt_tokens: the prompt's first tokens dropped, its last p->truncate kept (vLLM's, its
 * BOS too). Not with echo, which would give back another prompt than the one that ran. */
static bool truncated_prompt(Parse *p, ApiError *err) {
    ServeRequest *r = &p->g->req;
    if (!p->truncate) return true;
    if (p->g->echo) return api_refuse(err, 400, "fields 'truncate_prompt_tokens' and 'echo' cannot both be given");
    if (r->prompt_len <= p->truncate) return true;
    memmove(r->prompt, r->prompt + r->prompt_len - p->truncate, (size_t)p->truncate * sizeof *r->prompt);
    r->prompt_len = p->truncate;
    return true;
}

/* Prompt i's choices (v its JSON; a chat's: the messages): the first from the fields and the prompt,
 * the others copies of it; each draws from the seed plus its place among them (vLLM's n), or from
 * a state of its own without a seed. */
static bool fill_prompt(Parse *p, Reply *r, size_t i, json_t *v, ApiError *err) {
    Gen *first = &r->choice[i * (size_t)r->n];
    gen_copy_request(first, p->g);
    p->g = first;
    bool ok = (first->chat ? api_chat_prompt(p, err) : api_completion_prompt(p, v, err)) && truncated_prompt(p, err) &&
              check_fit(p, err) && gather_ends(p, err);
    if (ok && first->guide_schema && !first->adjust.nend)
        ok = api_refuse(err, 400, "field '%s': guided decoding ends at an end-of-sequence id, and this request has none "
                        "(the tokenizer's and generation_config.json's, or stop_token_ids)", first->guide_field);
    if (!ok) return false;
    prepare_choice(p->s, first);
    for (int j = 0; j < r->n; j++) {
        if (j) gen_copy_request(&first[j], first);
        if (p->seeded) first[j].rng = p->seed + (uint64_t)j;
    }
    return true;
}

/* A completion's prompts: one (a string, or an array of ids), or a batch: an array of those. */
static size_t completion_prompts(json_t *prompt, bool *batch) {
    *batch = json_is_array(prompt) && json_array_size(prompt) && !json_is_integer(json_array_get(prompt, 0));
    return *batch ? json_array_size(prompt) : 1;
}

/* The request's choices against HTTP_MAX_CHOICES, best_of (1 at most, accepted as asking for
 * nothing) against n, which OpenAI requires it to reach, and stream_options only with stream. */
static bool check_choices(Parse *p, json_t *body, size_t nprompts, ApiError *err) {
    if (nprompts * (size_t)p->n > HTTP_MAX_CHOICES)
        return api_refuse(err, 400, "the request asks for %zu choices (%zu prompts, n = %lld); the most is %d", nprompts * (size_t)p->n,
                   nprompts, (long long)p->n, HTTP_MAX_CHOICES);
    json_t *best_of = json_object_get(body, "best_of");
    if (json_is_integer(best_of) && json_integer_value(best_of) < p->n)
        return api_refuse(err, 400, "field 'best_of' must be at least n (%lld)", (long long)p->n);
    json_t *stream_options = json_object_get(body, "stream_options");   /* vLLM's and OpenAI's rule */
    if (stream_options && !json_is_null(stream_options) && !p->g->stream)
        return api_refuse(err, 400, "field 'stream_options' goes with \"stream\": true");
    return true;
}

/* An error of prompt i of a batch of n names it (from 0, as the elements of an array of ids). */
static bool in_prompt(ApiError *err, size_t i, size_t n) {
    if (n > 1) {
        char msg[sizeof err->msg], head[48];
        memcpy(msg, err->msg, sizeof msg);
        snprintf(head, sizeof head, "prompt[%d]: ", (int)i);   /* i < n <= HTTP_MAX_CHOICES */
        snprintf(err->msg, sizeof err->msg, "%s%.*s", head, (int)(sizeof msg - sizeof head), msg);
    }
    return false;
}

bool api_check_defaults(HttpServer *s, json_t *defaults, ApiError *err) {
    Gen proto;
    gen_defaults(&proto, s, false);
    Parse p = {.s = s, .g = &proto, .route = ROUTE_COMPLETIONS};
    json_t *cap = json_object_get(defaults, "max_new_tokens");
    bool ok = !cap || take_integer(cap, "max_new_tokens", 1, "", &s->max_new_cap, err);
    json_object_del(defaults, "max_new_tokens");
    ok = ok && (!defaults || api_take_fields(&p, defaults, err));
    gen_free_fields(&proto);
    json_decref(p.format);
    json_decref(p.outputs);
    s->defaults = defaults && json_object_size(defaults) ? defaults : NULL;
    if (!s->defaults) json_decref(defaults);
    err->status = 0;
    return ok;
}

/* tool_choice as vLLM reads it: auto when not given and there are tools; auto needs tools, and the
 * server's parser to read the answer's tool calls. */
static bool resolve_tool_choice(Parse *p, ApiError *err) {
    bool any = p->tools && json_array_size(p->tools);
    ToolChoice c = p->tool_choice == TOOL_CHOICE_DEFAULT ? (any ? TOOL_CHOICE_AUTO : TOOL_CHOICE_NONE) : p->tool_choice;
    if ((c == TOOL_CHOICE_REQUIRED || c == TOOL_CHOICE_NAMED) && p->format)
        return api_refuse(err, 400, "fields 'tool_choice' (\"required\" or a named function) and 'response_format' cannot both "
                          "guide the answer");
    if (c == TOOL_CHOICE_REQUIRED || c == TOOL_CHOICE_NAMED) return tools_force(p->g, c, p->tools, p->named, p->one_call, err);
    if (c != TOOL_CHOICE_AUTO) return true;
    if (p->one_call)
        return api_refuse(err, 400, "field 'parallel_tool_calls': false is not supported with tool_choice \"auto\" (the parser "
                          "reads every call the model writes); \"required\" or a named function keeps to one");
    if (tools_strict(p->tools))
        return api_refuse(err, 400, "field 'tools': a tool's \"strict\": true needs tool_choice \"required\" or a named function, "
                          "which guided decoding keeps to the parameters; \"auto\" reads what the model writes");
    if (!p->tools) return api_refuse(err, 400, "field 'tool_choice': \"auto\" needs 'tools'");
    if (!(p->g->tool_parser = p->s->opt.tool_call_parser))
        return api_refuse(err, 400, "tool_choice \"auto\" (the default with tools) needs the server started with "
                   "--tool-call-parser (" TOOL_PARSER_NAMES "); tool_choice \"none\" renders the tools without reading tool "
                   "calls");
    if (p->g->tool_parser == TOOL_PARSER_MISTRAL) p->g->skip_special = false;   /* vLLM's: [TOOL_CALLS] is special */
    if (p->g->tool_parser == TOOL_PARSER_QWEN3_CODER) p->g->tools = json_incref(p->tools);   /* its values' types */
    return true;
}

/* response_format's or structured_outputs' guided decoding (one of them), or a forced tool_choice's. */
static bool guided(Parse *p, ApiError *err) {
    if ((p->g->allowed_ids || p->g->nbad) && (p->format || p->outputs || p->g->guide_schema))
        return api_refuse(err, 400, "field '%s' cannot be given with guided decoding (response_format, structured_outputs, "
                          "tool_choice \"required\" or a named function)", p->g->allowed_ids ? "allowed_token_ids" : "bad_words");
    if (p->format && p->outputs)
        return api_refuse(err, 400, "fields 'response_format' and 'structured_outputs' cannot both guide the answer");
    if (p->outputs && p->g->guide_schema)
        return api_refuse(err, 400, "fields 'tool_choice' (\"required\" or a named function) and 'structured_outputs' cannot "
                          "both guide the answer");
    if (p->g->reasoning == REASONING_OPENAI_GPTOSS && (p->outputs || p->format) &&
        (!p->render.add_generation_prompt || p->render.continue_final_message))   /* the answer starts at its header */
        return api_refuse(err, 400, "field '%s': guided decoding of gpt-oss' answer needs add_generation_prompt true, and "
                          "continue_final_message false", p->outputs ? "structured_outputs" : "response_format");
    return p->outputs ? guide_request(p->s, p->g, p->outputs, p->outputs_form, "structured_outputs", err)
                      : guide_request(p->s, p->g, p->format, GUIDE_SCHEMA, "response_format", err);
}

Reply *api_parse_request(HttpServer *s, json_t *body, bool chat, ApiError *err) {
    Gen proto;
    gen_defaults(&proto, s, chat);
    Parse p = {.s = s, .g = &proto, .max_tokens = -1, .max_completion_tokens = -1, .top_logprobs = -1, .n = 1,
               .route = chat ? ROUTE_CHAT : ROUTE_COMPLETIONS, .add_special = !chat, .render.add_generation_prompt = true};
    bool ok = json_is_object(body) ? (!s->defaults || api_take_fields(&p, s->defaults, err)) && api_take_fields(&p, body, err) &&
                                         logprobs_asked(&p, err) && (!chat || resolve_tool_choice(&p, err)) &&
                                         guided(&p, err)
                                   : api_refuse(err, 400, "the body is not a JSON object");
    if (p.max_completion_tokens >= 0) p.max_tokens = p.max_completion_tokens;
    if (ok && !chat && !p.prompt) ok = api_refuse(err, 400, "missing field 'prompt'");
    bool batch = false;
    size_t nprompts = ok && !chat ? completion_prompts(p.prompt, &batch) : 1;
    ok = ok && check_choices(&p, body, nprompts, err);
    Reply *r = ok ? reply_new(s, chat, (int)(nprompts * (size_t)p.n)) : NULL;
    if (r) r->n = (int)p.n;
    for (size_t i = 0; ok && i < nprompts; i++) {
        p.g = &proto;
        ok = fill_prompt(&p, r, i, batch ? json_array_get(p.prompt, i) : p.prompt, err) || in_prompt(err, i, nprompts);
    }
    gen_free_fields(&proto);
    json_decref(p.tools);
    json_decref(p.format);
    json_decref(p.outputs);
    if (!ok) reply_release(r);
    return ok ? r : NULL;
}
