/* http_parse.h — what http_api.c's parse of a request body gathers, shared with http_tokenize.c, which
 * parses /tokenize's and /detokenize's bodies by the same fields. Private to the two. */
#ifndef MIXC_HTTP_PARSE_H
#define MIXC_HTTP_PARSE_H

#include "http.h"

/* The bodies a Field is taken in (its `where` bits): the two that generate, /tokenize's of a prompt
 * and of messages, /detokenize's. */
enum {
    ROUTE_COMPLETIONS = 1, ROUTE_CHAT = 2, ROUTE_TOKENIZE = 4, ROUTE_TOKENIZE_CHAT = 8, ROUTE_DETOKENIZE = 16,
    GENERATING = ROUTE_COMPLETIONS | ROUTE_CHAT,
    OF_PROMPTS = ROUTE_COMPLETIONS | ROUTE_TOKENIZE, OF_MESSAGES = ROUTE_CHAT | ROUTE_TOKENIZE_CHAT,
    TOKENIZING = ROUTE_TOKENIZE | ROUTE_TOKENIZE_CHAT, ANY_ROUTE = 31
};

/* The most names a request's chat_template_kwargs may give (f_chat_template_kwargs). */
#define MAX_TEMPLATE_ARGUMENTS 64

/* What the parse of one body gathers before the prompts are known. */
typedef struct {
    HttpServer *s;
    Gen *g;                     /* the fields' (a prototype), then the choice whose prompt is parsed */
    int64_t max_tokens;         /* -1: not given */
    int64_t max_completion_tokens;   /* chat's; -1: not given, else it wins over max_tokens (vLLM's) */
    int64_t n;                  /* choices a prompt */
    int64_t truncate;           /* truncate_prompt_tokens: the prompt's last ones kept; 0: not given */
    bool seeded;
    uint64_t seed;
    json_t *prompt, *messages;
    int route;                  /* a Field's `where` bit: ROUTE_COMPLETIONS ... */
    bool add_special;           /* add_special_tokens: a text prompt's post-processor tokens (its BOS) */
    ChatRender render;          /* chat: add_generation_prompt (default true), continue_final_message, tools
                                 * (the `tools` field) and chat_template_kwargs (in kwargs) */
    JinjaKwarg kwargs[MAX_TEMPLATE_ARGUMENTS + 1];   /* and reasoning_effort's */
    json_t *reasoning_effort;   /* the field's value (the body's); NULL: not given */
    json_t *tools;              /* the request's tools, as the template reads them (http_tools.c); NULL: none */
    ToolChoice tool_choice;
    const json_t *named;        /* tool_choice's function name (the body's); NULL: none */
    bool one_call;              /* parallel_tool_calls false: at most one call */
    json_t *format;             /* response_format's JSON Schema; NULL: text */
    json_t *outputs;            /* structured_outputs' spec, of the form outputs_form; NULL: none */
    GuideForm outputs_form;
    bool token_strs;            /* /tokenize's return_token_strs */
    bool chat_logprobs;         /* chat's "logprobs": true */
    int64_t top_logprobs;       /* chat's "top_logprobs"; -1: not given */
} Parse;

/* The fields of body (a JSON object) that p's route takes, into p; false with a 400 for an unknown
 * one or a bad value. */
bool api_take_fields(Parse *p, json_t *body, ApiError *err);
/* A completion's prompt v (a text or ids) as p->g's prompt ids. */
bool api_completion_prompt(Parse *p, json_t *v, ApiError *err);
/* The chat template's rendering of p's messages (and tools, documents, kwargs) as p->g's prompt ids. */
bool api_chat_prompt(Parse *p, ApiError *err);

/* The token ids of JSON array a (field name's), each in [0, vocab), into *ids[*n] (malloc'd). */
bool api_take_ids(const Parse *p, json_t *a, const char *name, int32_t **ids, int64_t *n, ApiError *err);
/* vLLM's allowed_token_ids and bad_words into p->g (http_logits.c). */
bool api_allowed_token_ids(Parse *p, json_t *v, ApiError *err);
bool api_bad_words(Parse *p, json_t *v, ApiError *err);

#endif
