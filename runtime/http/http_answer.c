/* http_answer.c — the answers of /v1/completions and /v1/chat/completions as the OpenAI API has them:
 * the whole response, a stream's chunks and usage chunk, the log-probabilities, the error object
 * (http.h; docs/serving.md, "The HTTP server"). */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* s with every byte that does not make valid UTF-8 replaced by '?' (a field cut by %.Ns, a URL's
 * bytes): jansson writes valid UTF-8 only. */
static void utf8_clean(char *s) {
    for (size_t i = 0, n = strlen(s); i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k > 0) {
            i += (size_t)k;
        } else {
            s[i++] = '?';
        }
    }
}

char *api_json_text(json_t *j) {
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return out ? out : xstrdup("{}");
}

char *api_error_json(const ApiError *err) {
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    utf8_clean(msg);
    const char *type = err->status == 404   ? "not_found_error"
                       : err->status == 401 ? "authentication_error"
                       : err->status >= 500 ? "server_error"
                                            : "invalid_request_error";
    return api_json_text(json_pack("{s:{s:s, s:s, s:n, s:i}}", "error", "message", msg, "type", type, "param", "code",
                                   err->status));
}

/* ids[from..to) as a JSON array. */
static json_t *ids_json(const int32_t *ids, int64_t from, int64_t to) {
    json_t *a = json_array();
    for (int64_t i = from; i < to; i++) json_array_append_new(a, json_integer(ids[i]));
    return a;
}

/* vLLM's return_token_ids: the prompt's ids as prompt_token_ids into o (a completion's choice, a chat
 * answer or its first chunk). */
static void prompt_ids_into(const Gen *g, json_t *o) {
    if (g->prompt_ids) json_object_set_new(o, "prompt_token_ids", ids_json(g->req.prompt, 0, g->req.prompt_len));
}

/* The reply's tokens: each prompt's once (its n choices share it), every choice's generated ids; of
 * the prompts', those not prefilled (prefix caching: OpenAI's cached_tokens). */
static json_t *usage_json(const Reply *r) {
    int64_t prompt = 0, cached = 0, generated = 0;
    for (int i = 0; i < r->nchoice; i++) {
        if (i % r->n == 0) prompt += r->choice[i].req.prompt_len, cached += r->choice[i].res.cached_tokens;
        generated += r->choice[i].res.noutput;
    }
    return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)prompt, "completion_tokens",
                     (json_int_t)generated, "total_tokens", (json_int_t)(prompt + generated), "prompt_tokens_details",
                     "cached_tokens", (json_int_t)cached);
}

/* The fields every answer starts with. */
static json_t *answer_head(const Gen *g, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", g->req.id, "object", object, "created", (json_int_t)g->created,
                     "model", g->srv->model);
}


/* "token_id:ID": the text of an id without one (malloc'd, *len bytes). */
static char *token_id_text(int32_t id, size_t *len) {
    Buf b = {0};
    buf_printf(&b, "token_id:%d", id);
    *len = b.len;
    return b.data;
}

char *api_token_text(const HttpServer *s, int32_t id, size_t *len, int64_t *chars) {
    char err[256], *text = s->tok ? tokenizer_decode(s->tok, &id, 1, false, len, err, sizeof err) : NULL;
    if (!text) text = token_id_text(id, len);   /* no tokenizer, or an id past its vocabulary */
    if (chars) *chars = utf8_chars(text, *len);   /* the decode makes UTF-8 (U+FFFD for stray bytes) */
    return text;
}

/* The name of id in g's log-probabilities: its text, or with return_tokens_as_token_ids "token_id:ID"
 * (malloc'd, *len bytes); the code points of its text in *chars (an echo's offsets count them). */
static char *logprob_token(const Gen *g, int32_t id, size_t *len, int64_t *chars) {
    char *text = api_token_text(g->srv, id, len, chars);
    if (!g->tokens_as_ids) return text;
    free(text);
    return token_id_text(id, len);
}

/* completions: a top_logprobs entry, under the token's name; a second token of the same text (or a
 * text holding a NUL) under "token_id:ID", so that no alternative is lost. */
static void top_add(const Gen *g, json_t *top, int32_t id, double logprob) {
    size_t len;
    char *text = logprob_token(g, id, &len, NULL);
    if (strlen(text) != len || json_object_get(top, text)) {
        free(text);
        text = token_id_text(id, &len);
    }
    json_object_set_new(top, text, json_real(logprob));
    free(text);
}

/* completions' logprobs, built an entry at a time. */
typedef struct {
    json_t *tokens, *values, *tops, *offsets;
} CompletionLogprobs;

/* An entry: id's text, its log-probability and the asked alternatives with it (lp NULL: an echoed
 * prompt's first id, which has none: nulls), where its text starts. The code points of its text. */
static int64_t completion_entry(const Gen *g, CompletionLogprobs *c, int32_t id, const TokenLogprobs *lp,
                                int64_t offset) {
    size_t len;
    int64_t chars;
    char *text = logprob_token(g, id, &len, &chars);
    json_array_append_new(c->tokens, json_stringn(text, len));
    free(text);
    json_array_append_new(c->values, lp ? json_real(lp->logprob) : json_null());
    json_array_append_new(c->offsets, json_integer(offset));
    if (!lp) {
        json_array_append_new(c->tops, json_null());
        return chars;
    }
    json_t *top = json_object();
    bool chosen_in = false;
    int shown = lp->ntop < g->logprobs ? lp->ntop : g->logprobs;   /* prompt_logprobs may have asked more */
    for (int k = 0; k < shown; k++) {
        top_add(g, top, lp->top_id[k], lp->top_logprob[k]);
        chosen_in |= lp->top_id[k] == id;
    }
    if (!chosen_in) top_add(g, top, id, lp->logprob);
    json_array_append_new(c->tops, top);
    return chars;
}

/* completions' logprobs of ids [from, to): tokens, token_logprobs, top_logprobs (the asked most
 * probable and the chosen token), text_offset; with_prompt: an echo's prompt ids first. An echo's
 * generated ids' offsets come after the prompt tokens' texts, in every chunk of a stream. */
static json_t *completion_logprobs(const Gen *g, int64_t from, int64_t to, bool with_prompt) {
    CompletionLogprobs c = {json_array(), json_array(), json_array(), json_array()};
    for (int64_t j = 0, offset = 0; with_prompt && g->prompt_lp && j < g->req.prompt_len; j++)
        offset += completion_entry(g, &c, g->req.prompt[j], j ? &g->prompt_lp[j] : NULL, offset);
    for (int64_t i = from; i < to; i++)
        completion_entry(g, &c, g->res.output[i], &g->lp[i].lp, g->prompt_chars + g->lp[i].text_offset);
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", c.tokens, "token_logprobs", c.values, "top_logprobs", c.tops,
                     "text_offset", c.offsets);
}

/* chat: {"token", "logprob", "bytes"}; bytes null when the token's text alone holds U+FFFD (a token
 * that is part of a character: its own bytes are not that text's). */
static json_t *chat_token(const Gen *g, int32_t id, double logprob) {
    size_t len;
    char *text = logprob_token(g, id, &len, NULL);
    json_t *bytes = memmem(text, len, "\xEF\xBF\xBD", 3) ? json_null() : json_array();
    for (size_t i = 0; json_is_array(bytes) && i < len; i++) json_array_append_new(bytes, json_integer((unsigned char)text[i]));
    json_t *o = json_pack("{s:s%, s:f, s:o}", "token", text, len, "logprob", logprob, "bytes", bytes);
    free(text);
    return o;
}

static json_t *chat_logprobs(const Gen *g, int64_t from, int64_t to) {
    json_t *content = json_array();
    for (int64_t i = from; i < to; i++) {
        const GenLogprob *e = &g->lp[i];
        json_t *entry = chat_token(g, g->res.output[i], e->lp.logprob), *top = json_array();
        for (int k = 0; k < e->lp.ntop; k++) json_array_append_new(top, chat_token(g, e->lp.top_id[k], e->lp.top_logprob[k]));
        json_object_set_new(entry, "top_logprobs", top);
        json_array_append_new(content, entry);
    }
    return json_pack("{s:o, s:n}", "content", content, "refusal");
}

/* vLLM's prompt_logprobs entry of token id: {"logprob", "rank", "decoded_token"} (its text alone,
 * special tokens kept; null without a tokenizer), under its id. */
static void prompt_entry(const Gen *g, json_t *entry, int32_t id, double logprob, int64_t rank) {
    json_t *text = json_null();
    if (g->srv->tok) {
        size_t len;
        char *t = api_token_text(g->srv, id, &len, NULL);
        text = json_stringn(t, len);
        free(t);
    }
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    json_object_set_new(entry, key, json_pack("{s:f, s:I, s:o}", "logprob", logprob, "rank", (json_int_t)rank,
                                              "decoded_token", text));
}

/* vLLM's prompt_logprobs: null for the first prompt id, then per id an object of it (its rank among
 * the vocabulary) and the asked most probable tokens (ranks 1, 2, ...), the id first, as vLLM's. */
static json_t *prompt_logprobs_json(const Gen *g) {
    json_t *a = json_pack("[n]");
    for (int64_t j = 1; j < g->req.prompt_len; j++) {
        const TokenLogprobs *lp = &g->prompt_lp[j];
        int32_t id = g->req.prompt[j];
        int64_t rank = lp->rank;
        int shown = lp->ntop < g->prompt_logprobs ? lp->ntop : g->prompt_logprobs;
        for (int k = 0; k < shown; k++)   /* among the most probable: that place's rank (ties by id) */
            if (lp->top_id[k] == id) rank = k + 1;
        json_t *entry = json_object();
        prompt_entry(g, entry, id, lp->logprob, rank);
        for (int k = 0; k < shown; k++)
            if (lp->top_id[k] != id) prompt_entry(g, entry, lp->top_id[k], lp->top_logprob[k], k + 1);
        json_array_append_new(a, entry);
    }
    return a;
}

/* A choice's "logprobs" for ids [from, to) (with_prompt: an echo's prompt ids first, in the answer
 * and a stream's first chunk): null when none were asked. */
static json_t *logprobs_json(const Gen *g, int64_t from, int64_t to, bool with_prompt) {
    if (g->logprobs < 0) return json_null();
    return g->chat ? chat_logprobs(g, from, to) : completion_logprobs(g, from, to, with_prompt);
}

/* The generated text's bytes [from, to), after the prompt's when with_prompt (an echo's answer and
 * its stream's first chunk). */
static json_t *answer_text(const Gen *g, size_t from, size_t to, bool with_prompt) {
    Buf b = {0};
    if (with_prompt && g->prompt_text) buf_append(&b, g->prompt_text, g->prompt_text_len);
    if (g->text) buf_append(&b, g->text + from, to - from);
    json_t *text = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return text;
}

void answer_add(Answer *a, bool reasoning, Span span) {
    bool sep = reasoning ? a->has_reasoning : a->has_content;   /* a piece of its kind came before */
    if (a->npiece == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 4;
        a->piece = xrealloc(a->piece, (size_t)a->cap * sizeof *a->piece);
    }
    a->piece[a->npiece++] = (AnswerPiece){span, reasoning, sep};
    if (reasoning) a->has_reasoning = true;
    else a->has_content = true;
}

void answer_free(Answer *a) {
    free(a->piece);
    json_decref(a->calls);
    *a = (Answer){0};
}

/* The pieces of g's text a stream may send now or, done, the whole answer's: its reasoning and
 * content (reasoning_parts, or harmony's messages), the content cut before its tool calls (a stream's:
 * before what is or may be a call), and with calls, the finished answer's calls (without: its whole
 * content, a named function's arguments that a stream sends as they come). */
static Answer answer_of(const Gen *g, bool done, bool calls) {
    Answer a = {0};
    size_t ready = done ? g->text_len : g->ready;
    if (g->reasoning == REASONING_OPENAI_GPTOSS) return harmony_answer(g, ready, done, &a), a;
    AnswerParts p = reasoning_parts(g->reasoning, g->text, ready, done);
    if (p.has_content && g->tool_parser && g->text) {   /* no text yet: NULL */
        const char *text = g->text + p.content.from;
        size_t n = p.content.to - p.content.from, keep = n;
        if (done && calls) a.calls = tools_read(g->tool_parser, text, n, g->tools, &keep);
        else if (!done) keep = tools_stream_limit(g->tool_parser, text, n);
        p.content.to = p.content.from + keep;
    }
    if (p.has_reasoning) answer_add(&a, true, p.reasoning);
    if (p.has_content) answer_add(&a, false, p.content);
    return a;
}

/* The answer's reasoning or content: its pieces of that kind from piece `from` on, each from byte
 * `sent` on (a piece begun before `from` has its newline sent already), appended to b. */
static void pieces_text(const Gen *g, const Answer *a, bool reasoning, int from, size_t sent, Buf *b) {
    for (int k = 0; k < a->npiece; k++) {
        const AnswerPiece *p = &a->piece[k];
        if (p->reasoning != reasoning || (k < from && p->text.to <= sent)) continue;
        if (k >= from && p->sep) buf_append(b, "\n", 1);
        size_t at = p->text.from > sent ? p->text.from : sent;
        if (p->text.to > at) buf_append(b, g->text + at, p->text.to - at);
    }
}

/* b's bytes as a JSON string ("" when none), b freed. */
static json_t *buf_string(Buf *b) {
    json_t *s = json_stringn(b->data ? b->data : "", b->len);
    buf_free(b);
    return s;
}

/* A finished chat choice's message: its content null when nothing is left of it (but its calls, or
 * its reasoning: vLLM's), its reasoning with a reasoning parser (null when it has none), its calls. */
static json_t *message_json(const Gen *g, Answer *a) {
    Buf content = {0}, reasoning = {0};
    pieces_text(g, a, false, 0, 0, &content);
    pieces_text(g, a, true, 0, 0, &reasoning);
    bool harmony = g->reasoning == REASONING_OPENAI_GPTOSS;   /* vLLM's: empty parts are null */
    bool null_content = !content.len && (a->calls || a->has_reasoning || harmony);
    bool null_reasoning = !a->has_reasoning || (harmony && !reasoning.len);
    json_t *c = null_content ? (buf_free(&content), json_null()) : buf_string(&content);
    json_t *m = json_pack("{s:s, s:o}", "role", "assistant", "content", c);
    if (g->reasoning)
        json_object_set_new(m, "reasoning", null_reasoning || !g->include_reasoning ? json_null() : buf_string(&reasoning));
    buf_free(&reasoning);
    if (a->calls) json_object_set_new(m, "tool_calls", a->calls);
    a->calls = NULL;   /* taken */
    return m;
}

/* A finished choice's finish_reason: "tool_calls" when the answer is calls (vLLM's), but a named
 * function's, which the request forced (OpenAI's "stop"). */
static const char *finish_of(const Gen *g, const Answer *a) {
    return a->calls && g->tool_parser != TOOL_PARSER_NAMED ? "tool_calls" : g->finish ? g->finish : "length";
}

/* A finished choice of the answer: with a tool parser, the calls it reads; with a reasoning parser,
 * the reasoning apart. */
static json_t *choice_json(const Gen *g) {
    Answer a = answer_of(g, true, true);
    const char *finish = finish_of(g, &a);
    json_t *choice = json_pack("{s:i, s:o, s:s, s:o}", "index", g->index, "logprobs", logprobs_json(g, 0, g->nvisible, true),
                               "finish_reason", finish, "token_ids", ids_json(g->res.output, 0, g->nvisible));
    if (g->chat) json_object_set_new(choice, "message", message_json(g, &a));
    else json_object_set_new(choice, "text", answer_text(g, 0, g->text_len, true));
    if (!g->chat && g->prompt_logprobs >= 0) json_object_set_new(choice, "prompt_logprobs", prompt_logprobs_json(g));
    if (!g->chat) prompt_ids_into(g, choice);
    answer_free(&a);
    return choice;
}

json_t *api_response_object(const Reply *r) {
    const Gen *g = &r->choice[0];
    json_t *j = answer_head(g, g->chat ? "chat.completion" : "text_completion"), *choices = json_array();
    for (int i = 0; i < r->nchoice; i++) json_array_append_new(choices, choice_json(&r->choice[i]));
    json_object_set_new(j, "choices", choices);
    json_object_set_new(j, "usage", usage_json(r));
    if (g->chat && g->prompt_logprobs >= 0)   /* vLLM's: the answer's, the choices sharing the prompt */
        json_object_set_new(j, "prompt_logprobs", prompt_logprobs_json(g));
    if (g->chat) prompt_ids_into(g, j);
    return j;
}

char *api_response_json(const Reply *r) { return api_json_text(api_response_object(r)); }

/* The server-sent event "data: " j "\n\n" (j taken). */
static char *sse_event(json_t *j) {
    char *body = api_json_text(j);
    size_t n = strlen(body);
    char *out = xmalloc(n + 9);
    memcpy(out, "data: ", 6);
    memcpy(out + 6, body, n);
    memcpy(out + 6 + n, "\n\n", 3);
    free(body);
    return out;
}

/* One event of choice g's stream: its content (a completion's text) and reasoning (both taken) and its
 * ids [id_from, id_to); finish the finish reason or NULL; first: the choice's first (with echo, the
 * prompt's text and log-probabilities come before its own); calls (taken; NULL: none) the delta's
 * tool_calls, whole, each given its index. */
static char *chunk_event(const Gen *g, Buf *content, Buf *reasoning, int64_t id_from, int64_t id_to, const char *finish,
                         bool first, json_t *calls) {
    json_t *j = answer_head(g, g->chat ? "chat.completion.chunk" : "text_completion");
    bool echo = first && g->echo;   /* the prompt's text and entries come first */
    bool said = content->len > 0, thought = reasoning->len > 0;
    json_t *lp = id_from < id_to || (echo && g->prompt_lp) ? logprobs_json(g, id_from, id_to, echo) : json_null();
    json_t *choice = json_pack("{s:i, s:o, s:o, s:o}", "index", g->index, "logprobs", lp,
                               "finish_reason", finish ? json_string(finish) : json_null(), "token_ids",
                               ids_json(g->res.output, id_from, id_to));
    if (echo && g->prompt_text) {
        Buf b = {0};
        buf_append(&b, g->prompt_text, g->prompt_text_len);
        if (content->len) buf_append(&b, content->data, content->len);
        buf_free(content);
        *content = b;
    }
    json_t *text = buf_string(content), *delta = g->chat ? json_object() : NULL;
    if (!g->chat) json_object_set_new(choice, "text", text);
    if (g->chat && first) json_object_set_new(delta, "role", json_string("assistant"));
    if (g->chat && thought) json_object_set_new(delta, "reasoning", buf_string(reasoning));
    if (g->chat && (said || (!finish && !thought && !calls))) json_object_set_new(delta, "content", text);
    else if (g->chat) json_decref(text);
    buf_free(reasoning);
    for (size_t k = 0; k < json_array_size(calls); k++)   /* a stream's calls: each with its index */
        json_object_set_new(json_array_get(calls, k), "index", json_integer((json_int_t)k));
    if (calls) json_object_set_new(delta, "tool_calls", calls);
    if (delta) json_object_set_new(choice, "delta", delta);
    json_object_set_new(j, "choices", json_pack("[o]", choice));
    if (first && (!g->chat || !g->index)) prompt_ids_into(g, g->chat ? j : choice);   /* vLLM's: in the first chunk */
    if (g->continuous_usage) {   /* vLLM's: the choice's prompt and its ids so far; at its end, all it made */
        int64_t made = finish ? g->res.noutput : id_to;
        json_object_set_new(j, "usage", json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)g->req.prompt_len,
                                                  "completion_tokens", (json_int_t)made, "total_tokens",
                                                  (json_int_t)(g->req.prompt_len + made)));
    }
    return sse_event(j);
}

/* A named function's call (tool_choice names it) streams as its arguments come, as vLLM's does: the
 * content's new text becomes the next delta of the call's arguments (NULL when there is none). */
static json_t *named_call_delta(const Gen *g, Buf *content, StreamPos *pos) {
    if (g->tool_parser != TOOL_PARSER_NAMED || !content->len) return NULL;
    json_t *calls = json_pack("[o]", tools_named_delta(g->tools, content->data, content->len, !pos->call_sent));
    pos->call_sent = true;
    buf_free(content);
    return calls;
}

char *api_stream_next(const Gen *g, StreamPos *pos) {
    bool done = g->state == GEN_DONE, named = g->tool_parser == TOOL_PARSER_NAMED;
    Answer a = answer_of(g, done, !named);
    Buf content = {0}, reasoning = {0};
    pieces_text(g, &a, false, pos->pieces, pos->sent, &content);
    if (g->include_reasoning) pieces_text(g, &a, true, pos->pieces, pos->sent, &reasoning);
    size_t sent = pos->sent;
    for (int k = 0; k < a.npiece; k++) sent = a.piece[k].text.to > sent ? a.piece[k].text.to : sent;
    char *event = NULL;
    json_t *calls = named_call_delta(g, &content, pos);
    if (named && done && !pos->call_sent && !calls && !reasoning.len && g->nvisible <= pos->ids_sent)
        a.calls = json_pack("[o]", tools_named_delta(g->tools, "", 0, true));   /* no arguments at all: the call alone */
    if (content.len || reasoning.len || calls || g->nvisible > pos->ids_sent) {
        event = chunk_event(g, &content, &reasoning, pos->ids_sent, g->nvisible, NULL, pos->first, calls);
        pos->sent = sent;
        pos->pieces = a.npiece;
        pos->ids_sent = g->nvisible;
        pos->first = false;
    } else if (done && !pos->finish_sent) {
        event = chunk_event(g, &content, &reasoning, pos->ids_sent, pos->ids_sent, finish_of(g, &a), pos->first, a.calls);
        pos->finish_sent = true;
        a.calls = NULL;   /* taken */
    }
    buf_free(&content);
    buf_free(&reasoning);
    answer_free(&a);
    return event;
}

char *api_usage_event(const Reply *r) {
    const Gen *g = &r->choice[0];
    json_t *j = answer_head(g, g->chat ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(j, "choices", json_array());
    json_object_set_new(j, "usage", usage_json(r));
    return sse_event(j);
}
