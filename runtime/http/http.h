/* http.h — `mixrun serve`: an OpenAI-compatible HTTP server on libmicrohttpd (docs/serving.md,
 * "The HTTP server").
 *
 * One engine thread runs the serving engine (runtime/serve/engine.h) on the backend: it admits the
 * queued generations FIFO under the KV budget and steps them. Each HTTP request runs in its
 * connection's thread (libmicrohttpd's thread per connection): it parses the body into a Reply of
 * one Gen per choice, queues them, and waits on the reply's condition variable for their text,
 * streaming it as server-sent events or answering once all are done. A client that goes away
 * cancels its choices: their slots are freed at the engine's next turn.
 *
 * Locks: the server's mutex (queue, cancellations, metrics) is taken before a reply's, never after.
 */
#ifndef MIXC_HTTP_H
#define MIXC_HTTP_H

#include "chat_template.h"
#include "engine.h"
#include "gen_config.h"
#include "sample.h"
#include "tokenizer.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>

/* The parsers of a chat answer's tool calls (--tool-call-parser; http_tools.c). */
typedef enum {
    TOOL_PARSER_OFF, TOOL_PARSER_HERMES, TOOL_PARSER_LLAMA3_JSON, TOOL_PARSER_MISTRAL, TOOL_PARSER_PYTHONIC,
    TOOL_PARSER_LLAMA4_PYTHONIC, TOOL_PARSER_OPENAI, TOOL_PARSER_QWEN3_CODER,
    TOOL_PARSER_REQUIRED, TOOL_PARSER_NAMED   /* tool_choice "required" or a named function: the answer, guided, is
                                               * a JSON list of calls or the function's arguments (no option names them) */
} ToolParser;
/* Their names, as --tool-call-parser takes them (tools_parser_named) and messages list them. */
#define TOOL_PARSER_NAMES "hermes, llama3_json, mistral, pythonic, llama4_pythonic, openai or qwen3_coder"
/* The parsers of a chat answer's reasoning (--reasoning-parser; http_reasoning.c): <think>...</think>
 * opened by the chat template (deepseek_r1) or by the model (qwen3); gpt-oss' channels (openai_gptoss,
 * http_harmony.c: on whenever the tokenizer has harmony's special tokens). */
typedef enum { REASONING_OFF, REASONING_DEEPSEEK_R1, REASONING_QWEN3, REASONING_OPENAI_GPTOSS } ReasoningParser;
#define REASONING_PARSER_NAMES "deepseek_r1, qwen3 or openai_gptoss"

/* harmony's tokens (HarmonyMark, HARMONY_TEXTS: chat_template.h) and their ids in the server's tokenizer; on when it has every one as a special token. */
typedef struct {
    int32_t id[HARMONY_NMARKS];
    bool on;
} HarmonyIds;
/* Where one of them stands in an answer's text: bytes [at, at + len), len 0 for the token that ended
 * the answer (a stop token has no text). */
typedef struct {
    size_t at, len;
    HarmonyMark mark;
} HarmonyAt;

/* `mixrun serve`'s defaults: what runs without the option, and what its --help says. */
#define HTTP_DEFAULT_HOST "127.0.0.1"
#define HTTP_DEFAULT_PORT 8000
#define HTTP_DEFAULT_MAX_BODY_MIB 1
#define HTTP_DEFAULT_MAX_CONNECTIONS 512
#define HTTP_DEFAULT_TIMEOUT_S 60
#define HTTP_DEFAULT_MAX_SEQS 8     /* the sequence slots (--max-seqs) */

/* What `mixrun serve` was given (its options: runtime/cli/mixrun_options.c). */
typedef struct {
    const char *host;       /* HTTP_DEFAULT_HOST when not given */
    int64_t port;           /* 0: any free port */
    const char *model_name; /* the id in /v1/models; requests naming another model get 404 */
    int64_t max_body;       /* bytes of a request body (413 past it) */
    int64_t max_connections;
    int64_t timeout_s;      /* an idle or stalled connection is closed after this */
    const char *generation_config;  /* auto (NULL), vllm or a path: gen_config_locate's choice */
    const char *override_generation_config;   /* a JSON object over its sampling fields; NULL: none */
    ToolParser tool_call_parser;    /* vLLM's --tool-call-parser: how a chat answer's tool calls are read;
                                     * off: tool_choice "auto" is refused */
    ReasoningParser reasoning_parser;   /* vLLM's --reasoning-parser: a chat answer's reasoning apart */
    const char *api_key;    /* every /v1 route asks "Authorization: Bearer KEY" (vLLM's --api-key); NULL:
                             * none (--api-key, else the environment's MIXC_API_KEY) */
    bool tokens_as_ids;     /* vLLM's --return-tokens-as-token-ids: the default of the requests' field */
    int64_t store_responses;    /* --store-responses N: /v1/responses keeps the last N (0: none) */
    int scheduling_policy;  /* vLLM's --scheduling-policy: SCHEDULE_FCFS (0), or SCHEDULE_PRIORITY, where a
                             * request's `priority` orders the queue (reply_submit); -1 in mixrun's options
                             * when not given */
} HttpOptions;

/* --scheduling-policy's choices, in the order of OPT_CHOICE's index. */
enum { SCHEDULE_FCFS, SCHEDULE_PRIORITY };
#define SCHEDULING_POLICY_NAMES "fcfs|priority"

/* The most choices one request may ask (its prompts times n): each is a sequence of its own. */
#define HTTP_MAX_CHOICES 128
/* The most bad_words a request may give. */
#define HTTP_MAX_BAD_WORDS 256
/* The most stop_token_ids a request may give. */
#define HTTP_MAX_STOP_TOKEN_IDS 256

typedef enum { GEN_QUEUED, GEN_RUNNING, GEN_DONE } GenState;

/* A chat request's tool_choice: not given (auto when there are tools, vLLM's), none, auto, required, a
 * named function. */
typedef enum { TOOL_CHOICE_DEFAULT, TOOL_CHOICE_NONE, TOOL_CHOICE_AUTO, TOOL_CHOICE_REQUIRED, TOOL_CHOICE_NAMED } ToolChoice;
typedef struct HttpServer HttpServer;
typedef struct Reply Reply;
typedef struct Guide Guide;                 /* where one choice's answer stands in its grammar (http_guide.c) */
typedef struct ResponsesStore ResponsesStore;   /* the responses a server keeps (http_responses.c) */
typedef struct GuideGrammar GuideGrammar;   /* the texts an answer may be (http_guide.h) */
/* Where a guided answer stands with a reasoning parser: the guide takes it (GUIDE_CONTENT, also
 * without a parser); qwen3's first token, <think> or the content's; the reasoning, open up to
 * </think>; gpt-oss' messages before its final one (harmony_guide_mask). */
typedef enum { GUIDE_CONTENT, GUIDE_FIRST, GUIDE_THINKING, GUIDE_HARMONY } GuidePhase;
/* What a guided answer keeps to: a JSON Schema's JSON (response_format, structured_outputs' json, a forced
 * tool_choice); one of structured_outputs' choice texts, as they are; a text that structured_outputs'
 * regex matches whole; the text of its grammar's root rule. */
typedef enum { GUIDE_SCHEMA, GUIDE_CHOICE, GUIDE_REGEX, GUIDE_GRAMMAR } GuideForm;
typedef struct GuideVocab GuideVocab;       /* the bytes each token adds to a text, sorted */

/* A generated token's log-probabilities, and where its text starts in the completion: the code
 * points of the earlier tokens' texts, each decoded alone (vLLM's text_offset). */
typedef struct {
    TokenLogprobs lp;
    int64_t text_offset;
} GenLogprob;

/* One generation: a choice of a completion or a chat completion. */
typedef struct Gen {
    HttpServer *srv;
    Reply *reply;               /* the request's; its mutex and condition variable are the Gen's */
    int index;                  /* the choice's: prompt i's j-th is i * n + j */
    struct Gen *next;           /* in the server's queue */
    bool chat, stream, include_usage;
    ToolParser tool_parser;     /* tool_choice auto: the answer's tool calls read by this parser (required, named:
                                 * the guided answer's) */
    json_t *tools;              /* the request's tools (tools_take's; NULL: none): qwen3_coder reads its calls'
                                 * values by their parameters' types; named: the named tool alone */
    json_t *guide_schema;       /* guided decoding's spec (NULL: none), compiled into each choice's guide: a JSON
                                 * Schema, or as guide_form says, structured_outputs' choice or regex */
    GuideForm guide_form;
    GuideGrammar *guide_grammar;    /* guide_schema compiled (guide_request's), shared with each choice's guide */
    const char *guide_field;    /* the field it came from, for messages */
    Guide *guide;               /* where the answer stands in it (the engine thread's) */
    GuidePhase guide_phase;     /* with a reasoning parser: before the guide takes the content */
    int32_t think_ids[2];       /* then: the ids of <think> and </think>, tokens of their own */
    uint8_t harmony_step;       /* GUIDE_HARMONY: the part of harmony's format that comes next (http_harmony.c) */
    uint8_t harmony_len;        /* the bytes of the channel's or role's name written so far */
    char harmony_name[16];
    unsigned char *allowed;     /* [vocab] guide_mask's (the engine thread's), or allowed_token_ids' */
    bool allowed_ids;           /* allowed is allowed_token_ids' mask: the only tokens a pick may take */
    int32_t *bad_ids;           /* vLLM's bad_words: token sequences, one after the other, the k-th from
                                 * bad_off[k] to bad_off[k + 1]; a pick may not end one */
    int32_t *bad_off;           /* [nbad + 1] */
    int nbad;
    int32_t *banned;            /* [nbad] the ids this pick may not take (adjust.ban; the engine thread's) */
    float *masked;              /* [vocab] with logprobs: the logits the mask leaves (the engine thread's) */
    ReasoningParser reasoning;  /* chat with --reasoning-parser: the answer's reasoning read apart; openai_gptoss:
                                 * the text keeps the special tokens, harmony's noted in marks */
    bool include_reasoning;     /* vLLM's: false leaves the reasoning out of the answer (null, no deltas) */
    bool continuous_usage;      /* vLLM's continuous_usage_stats: each chunk has the choice's usage so far */
    ServeRequest req;           /* id, prompt ids, max_new */
    SampleParams sample;        /* temperature, min_p, top_k, top_p */
    uint64_t rng;
    char **stop;                /* stop strings (in the text only with include_stop) */
    int nstop;
    size_t stop_max;            /* the longest stop string's bytes */
    bool include_stop;          /* vLLM's include_stop_str_in_output: the text ends after the stop string */
    int32_t stop_ids[CHAT_MAX_STOP];   /* tokens that end it (chat: the end of the turn), not in the text */
    int nstop_ids;
    bool ignore_eos;            /* vLLM's extension: neither stop_ids nor the model's EOS ends it */
    bool skip_special;          /* vLLM's skip_special_tokens: the text (and an echoed id prompt's) without
                                 * the special tokens */
    int32_t *stop_token_ids;    /* vLLM's extension: ids that end it, ignore_eos or not (not in the text) */
    int64_t nstop_token_ids;
    int64_t min_tokens;         /* vLLM's extension: no id of adjust.end_id and no stop string ends it
                                 * before this many ids */
    /* adjust.end_id: the ids that end it, gathered at parse: the model's EOS and stop_ids unless
     * ignore_eos, and stop_token_ids */
    int logprobs;               /* -1: no log-probabilities; else the alternatives asked a token (0..20) */
    bool tokens_as_ids;         /* vLLM's return_tokens_as_token_ids: the log-probabilities name each token
                                 * "token_id:ID", never its text */
    bool prompt_ids;            /* vLLM's return_token_ids: the answer gives the prompt's ids too
                                 * (prompt_token_ids; the generated ones are always there) */
    bool echo;                  /* completions: the answer starts with the prompt (and its logprobs) */
    LogitAdjust adjust;         /* logit_bias and the penalties (its arrays malloc'd; counts the engine's) */
    char *prompt_text;          /* with echo, the prompt's text: a text prompt's as given, token ids'
                                 * decoded (NULL without a tokenizer) */
    size_t prompt_text_len;
    TokenLogprobs *prompt_lp;   /* [prompt_len] with echo and logprobs, or prompt_logprobs: each prompt id's
                                 * but the first's (the engine's hook_prompt_logits, all before the first id) */
    int prompt_ntop;            /* the alternatives prompt_lp holds: the most of the two fields' */
    int prompt_logprobs;        /* vLLM's: -1 none; else the answer's prompt_logprobs, each prompt id's
                                 * log-probability and rank, and this many alternatives' */
    int64_t prompt_chars;       /* with echo and logprobs: the code points of the prompt ids' texts, each
                                 * decoded alone (where the generated ids' text_offset starts) */
    int64_t created;            /* Unix seconds */
    double arrived_at;          /* mono_seconds() when queued */
    int64_t priority;           /* vLLM's: with --scheduling-policy priority, the queue's order is the least
                                 * first, then arrival; always 0 with fcfs */
    bool cancelled;             /* under the server's mutex */
    /* Under reply->mu: */
    GenState state;
    ServeResult res;            /* its ids (the engine writes them), TTFT and TPOT */
    int64_t nvisible;           /* ids that make the text (a stop token does not) */
    char *text;                 /* their decoded text, cut at a stop string */
    size_t text_len;
    size_t ready;               /* bytes of text that will not change any more */
    int64_t dec_ids;            /* ids whose text, text[0, dec_bytes), ends on a whole character */
    size_t dec_bytes;
    int64_t dec_ctx;            /* with dec_ids > 0: where the ids of the text's last piece start, which
                                 * the next ids are decoded after (update_text) */
    const char *finish;         /* "length" or "stop" once known */
    HarmonyAt *marks;           /* [nmarks] with openai_gptoss: harmony's tokens in the text, in order */
    int nmarks, marks_cap;
    GenLogprob *lp;             /* [lp_cap] with logprobs >= 0: each generated id's (the engine's hook_pick) */
    int64_t lp_cap;
    char error[700];            /* the engine failed: the request gets 500 */
} Gen;

/* One request's answer: its choices, n for each of its prompts, run as sequences of their own. They
 * share the reply's mutex and condition variable, so that the connection waits on all at once. */
struct Reply {
    HttpServer *srv;
    char id[48];                /* the answer's ("cmpl-7", "chatcmpl-7"): each Gen's req.id a copy */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                   /* under mu: the connection's, and one per Gen the engine holds */
    int n;                      /* choices a prompt */
    int nchoice;
    Gen *choice;                /* [nchoice] */
    json_t *responses;          /* /v1/responses: the request's fields its response object echoes; NULL: a
                                 * completion or a chat completion */
    json_t *conversation;       /* /v1/responses stored: its input as chat messages (a previous response's
                                 * first; no instructions), kept with its output once it ends; NULL: not kept */
};

/* Prometheus histogram of seconds, cumulative buckets. */
#define HTTP_BUCKETS 12
typedef struct {
    int64_t count[HTTP_BUCKETS + 1];    /* the last: +Inf */
    double sum;
    int64_t n;
} Histogram;

typedef struct {
    int64_t requests[6];        /* by status class: 2xx, 400, 404/405, 413, 5xx, other 4xx */
    int64_t prompt_tokens, generation_tokens, finished, cancelled;
    int64_t forked_tokens;      /* prompt tokens a choice took from its prompt's first (not prefilled) */
    int64_t cached_tokens;      /* prompt tokens whose caches a slot kept or a running sequence's copy gave
                                 * (prefix caching; not prefilled) */
    Histogram ttft, tpot;
    int running, queued;
    int64_t kv_used, kv_budget;
    int64_t pool_pages;         /* a paged server's pool (0 unpaged: no page metrics) */
    int64_t pages_used;         /* the pool pages the sequences in flight hold or may take (a shared one once) */
    int64_t pages_shared;       /* pages a sequence took shared from another, not copied */
} HttpMetrics;

struct HttpServer {
    HttpOptions opt;
    Backend *b;
    const Tokenizer *tok;       /* NULL: token-id prompts only */
    ChatTemplate *chat;         /* tokenizer_config.json's; NULL: Llama 3's by hand (chat_template.h) */
    EosIds eos;                 /* the model's end-of-sequence ids (gen_config.h); none without a tokenizer */
    HarmonyIds harmony;         /* gpt-oss' tokens: on, every chat answer is read by its channels */
    GuideVocab *guide_vocab;    /* the tokens' bytes for guided decoding, made at the first guided request
                                 * (http_guide_vocab); NULL before, and without a tokenizer */
    pthread_mutex_t guide_mu;   /* guide_vocab's making */
    ResponsesStore *store;      /* --store-responses: the responses kept (http_responses.c); NULL: none */
    json_t *defaults;           /* the generation config's sampling fields, checked (api_check_defaults):
                                 * a request's before its own; NULL: none */
    int64_t max_new_cap;        /* the generation config's max_new_tokens: at most this many new tokens
                                 * a choice (vLLM's); 0: none */
    const char *model;          /* the model's id */
    int64_t context, vocab;
    ServeOptions so;
    ServeEngine *e;
    SampleScratch scratch[SAMPLE_MAX_THREADS];   /* [pick_threads] one a share of a step's picks */
    int pick_threads;           /* the engine's (ServeHooks.pick_threads) */
    pthread_t engine;
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* the engine: a Gen queued or cancelled, or the end */
    pthread_cond_t idle;        /* active went to 0 */
    Gen *head, *tail;           /* queued, by priority then arrival (queue_insert) */
    Gen **running;              /* [nseq] admitted (the engine thread's) */
    int nrunning;
    bool stopping, failed;
    char fail_msg[600];
    int active;                 /* HTTP requests being answered */
    int64_t next_id;
    HttpMetrics m;
};

/* ---- http_gen.c: replies, Gens and the engine thread */
/* g as a request of its route that sets no field asks (no reply, no id). */
void gen_defaults(Gen *g, HttpServer *s, bool chat);
/* A reply of nchoice Gens (1..HTTP_MAX_CHOICES), each with the defaults of a request of its route and
 * an unseeded draw state of its own; one reference, the caller's. */
Reply *reply_new(HttpServer *s, bool chat, int nchoice);
void reply_release(Reply *r);
/* The request fields of src into dst, its owned arrays copied; dst keeps its place in its reply, its
 * id and its draw state (dst holds nothing else yet; src has not run). */
void gen_copy_request(Gen *dst, const Gen *src);
/* Frees what g owns. */
void gen_free_fields(Gen *g);
/* Queues r's choices in order (a reference each goes to the engine); false when the server is
 * stopping or failed. */
bool reply_submit(HttpServer *s, Reply *r);
/* Cancels r's choices that have not ended (the engine frees their slots). */
void reply_cancel(Reply *r);
/* Whether every choice of r has ended (r->mu held); the first choice's error, if any, in *error. */
bool reply_done(const Reply *r, const char **error);
/* The engine thread's loop: s->e opened with http_engine_hooks. */
extern const ServeHooks http_engine_hooks;
void *http_engine_main(void *server);

/* ---- http_api.c: the OpenAI request bodies */
typedef struct {
    int status;                 /* 400, 404, 413, 503 ... */
    char msg[700];
} ApiError;
/* A refusal of a request's: err's status and message (printf's), and false. */
bool api_refuse(ApiError *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Whether v is the JSON string s. */
static inline bool api_is_str(const json_t *v, const char *s) { return json_is_string(v) && !strcmp(json_string_value(v), s); }
/* The reply to a /v1/completions (chat false) or /v1/chat/completions body, its choices filled; NULL
 * with the status and message in err. */
Reply *api_parse_request(HttpServer *s, json_t *body, bool chat, ApiError *err);
/* vLLM's /tokenize: a body of a completion's "prompt" or a chat's "messages" (with add_special_tokens,
 * add_generation_prompt, continue_final_message, tools as a request has them) answered with its ids:
 * {"count", "max_model_len", "tokens", "token_strs": null}; NULL with the status and message in err. */
char *api_tokenize_json(HttpServer *s, json_t *body, ApiError *err);
/* vLLM's /detokenize: {"tokens": [ids]} answered with {"prompt": their text} (special tokens kept). */
char *api_detokenize_json(HttpServer *s, json_t *body, ApiError *err);
/* A generation config's sampling defaults (gen_defaults_load's object; NULL: none) into s->defaults
 * and s->max_new_cap, each value checked as a request's field of that name (max_new_tokens as
 * max_tokens); the object is s's then. false with the first bad one in err (status 0). */
bool api_check_defaults(HttpServer *s, json_t *defaults, ApiError *err);

/* ---- http_tools.c: tool calling (docs/serving.md, "Tool calling") */
/* A request's "tools" into *tools (replacing it): null gives NULL; each tool checked and written as
 * vLLM hands it to the chat template. false with a 400 in err. */
bool tools_take(const json_t *v, json_t **tools, ApiError *err);
/* A request's "tool_choice" into *choice; a named function's name (the request's string) into *named. */
bool tools_take_choice(const json_t *v, ToolChoice *choice, const json_t **named, ApiError *err);
/* messages[i]'s keys after role and content (tool_calls, an assistant's reasoning, tool_call_id,
 * name) as the chat template reads them (ChatMessage.extra; NULL when none), a tool call's arguments
 * parsed, reasoning also as reasoning_content (vLLM's); false with a 400. */
bool tools_message_extra(const json_t *msg, size_t i, json_t **extra, ApiError *err);
/* A finished chat answer's tool calls as parser p reads them from text[0, len) (tools: the request's,
 * which qwen3_coder reads the values' types from): an array of vLLM's
 * ToolCall objects ({"id", "type": "function", "function": {"name", "arguments": JSON text}}; a
 * mistral call's id 9 letters and digits, as Mistral's template asks of it back), or
 * NULL when the answer is text (a call that does not parse leaves it all text, as vLLM's parsers
 * do); *content the bytes of text before the calls (all of it when NULL). */
json_t *tools_read(ToolParser p, const char *text, size_t len, const json_t *tools, size_t *content);
/* The bytes of an unfinished answer's text[0, ready) a stream may send as content: none from where
 * a tool call starts or may start. */
size_t tools_stream_limit(ToolParser p, const char *text, size_t ready);
/* A named function's call as a stream delta of its arguments' next piece: the first with its id, type
 * and name (vLLM's), the others the piece alone (the stream's chunk adds the index). */
json_t *tools_named_delta(const json_t *tools, const char *piece, size_t len, bool first);
/* The parser --tool-call-parser names; false for another name. */
bool tools_parser_named(const char *name, ToolParser *parser);
/* tool_choice "required" as vLLM forces it: the schema of a JSON list of calls of tools; NULL with a
 * 400 when two tools' $defs clash. */
json_t *tools_required_schema(const json_t *tools, ApiError *err);
/* Whether a tool of tools asks "strict": true (its calls to follow its parameters exactly). */
bool tools_strict(const json_t *tools);
/* tool_choice "required" or a named function (its name, a JSON string) on g: the answer guided by the
 * schema of the calls (vLLM's; one_call: parallel_tool_calls false, one call at most) and read as
 * calls (no --tool-call-parser needed); false with a 400 in err. */
bool tools_force(Gen *g, ToolChoice c, const json_t *tools, const json_t *named, bool one_call, ApiError *err);
/* The tool of tools whose function is named name (a JSON string); NULL with a 400 when none is. */
const json_t *tools_named(const json_t *tools, const json_t *name, ApiError *err);
/* http_pythonic.c: text[0, len) as a Python list of calls with literal keyword arguments, read as
 * vLLM's pythonic parsers read it: [{"name", "arguments": {...}}, ...], or NULL when it is not one
 * that this reader takes (then the answer is text). */
json_t *pythonic_calls(const char *text, size_t len);
/* text[0, len), all of it, as a Python number literal this reader takes (decimal digits with '_'
 * between them, a fraction, an exponent; 0x, 0o, 0b; within 64 bits and finite), or NULL. */
json_t *pythonic_number(const char *text, size_t len);
/* http_qwen3_coder.c: Qwen3-Coder's XML calls in text[0, len) as vLLM's qwen3_coder parser reads them,
 * each {"name", "arguments": {...}} with its values by tools' types; *content the bytes before the
 * first <tool_call> (else <function=). NULL when there is no call, or one this reader refuses. */
json_t *qwen3_coder_calls(const char *text, size_t len, const json_t *tools, size_t *content);
/* The first needle in s[from, len) (NULL: none, or from past len). */
const char *api_find(const char *s, size_t len, size_t from, const char *needle);
/* The bytes at the end of s[0, len) that start tag without being all of it (a stream holds them back:
 * they may become it). */
size_t api_partial_tag(const char *s, size_t len, const char *tag);

/* ---- http_guided.c, http_schema.c, http_guide.c: guided decoding (docs/serving.md, "Structured outputs") */
/* schema (a JSON Schema: response_format's, a forced tool's parameters) as the grammar of some of the
 * JSON texts that validate; NULL with a 400 naming what is not supported (field: the request's field). */
GuideGrammar *guide_schema(const json_t *schema, const char *field, ApiError *err);
/* A request's response_format (OpenAI's and vLLM's): {"type": "text"} (or null) gives no schema,
 * {"type": "json_object"} an object's, {"type": "json_schema", "json_schema": {"name", "schema", ...}}
 * its own (a reference); false with a 400 for another form. */
bool guide_response_format(const json_t *v, json_t **schema, ApiError *err);
/* The server's vocabulary for guided decoding, made at the first call (about 150 ms at 128K tokens,
 * which a server that guides nothing never spends; guided requests then read s->guide_vocab, made
 * before they were queued); NULL without a tokenizer. */
const GuideVocab *http_guide_vocab(HttpServer *s);
/* A request's guided decoding on g: spec (response_format's or structured_outputs', named by field,
 * of the form form; NULL: none) or the schema a forced tool_choice put in g->guide_schema. The spec
 * compiles (into g->guide_grammar, which the choices' guides share), and nothing of the request would
 * take the answer out of it (ignore_eos, min_tokens) or read it otherwise ("auto"'s tool parser,
 * gpt-oss' channels); with deepseek_r1 or qwen3, the guide takes the content after the reasoning
 * (<think> and </think> tokens of their own). false with a 400 in err. */
bool guide_request(HttpServer *s, Gen *g, json_t *spec, GuideForm form, const char *field, ApiError *err);
/* g's grammar: its guide_schema compiled as its guide_form says. */
GuideGrammar *guide_grammar_of(const Gen *g, ApiError *err);
/* vLLM's structured_outputs (null: none): {"json": a schema (or its JSON text)}, {"json_object":
 * true}, {"choice": [texts]}, {"regex": text} or {"grammar": GBNF text} into *spec (a new reference)
 * and *form; false with a 400 for another key (structural_tag, ...) or form. */
bool guide_structured_outputs(const json_t *v, json_t **spec, GuideForm *form, ApiError *err);
/* g again, for one more owner (each frees it; the last one's free frees it): a grammar is not
 * changed once compiled, so guides on several threads read it. */
GuideGrammar *guide_grammar_share(GuideGrammar *g);
void guide_grammar_free(GuideGrammar *g);
/* A choice's guide at the start of its answer (g taken: one owner of it). */
Guide *guide_new(GuideGrammar *g);
void guide_free(Guide *gd);
/* tok's tokens' bytes (tokenizer_piece), for ids [0, vocab): built once a server. */
GuideVocab *guide_vocab_new(const Tokenizer *tok, int64_t vocab);
void guide_vocab_free(GuideVocab *v);
/* The ids of v, and the bytes token id adds to a text (NULL: a special token, or one never allowed). */
int64_t guide_vocab_size(const GuideVocab *v);
const char *guide_vocab_piece(const GuideVocab *v, int32_t id, size_t *len);
/* allowed[id] (ids [0, vocab)) 1 for each token that keeps the answer in the grammar, and for the end
 * ids once the answer is whole; the count of them. */
int64_t guide_mask(Guide *gd, const GuideVocab *v, const int32_t *end, int nend, uint8_t *allowed);
/* The answer goes on by token id (not an end id); false when that leaves the grammar (then the mask
 * allows only the end ids). */
bool guide_advance(Guide *gd, const GuideVocab *v, int32_t id);
/* Whether the answer so far is a whole value of the grammar. */
bool guide_ends(const Guide *gd);
/* The tokens a guided answer may take while its reasoning is open (before the guide takes the content
 * after the closing tag): all but the end ids (it may not end there) and those whose bytes would write
 * tag's text after tail[0, tail_len) (the answer's last bytes), but the tag's own token tag_id. */
void guide_thinking_mask(const GuideVocab *v, const char *tail, size_t tail_len, const char *tag, int32_t tag_id,
                         const int32_t *end, int nend, uint8_t *allowed);
/* gd's masks walk every token, plain text inside a string too (tests/http/test_guide.c compares them
 * with the shortcut's). */
void guide_exhaustive(Guide *gd);

/* ---- http_reasoning.c: a chat answer's parts (docs/serving.md, "Reasoning") */
/* Bytes [from, to) of a choice's text. */
typedef struct {
    size_t from, to;
} Span;
/* What of a chat answer's text[0, ready) is reasoning and what content. `reasoning` is meaningful
 * when has_reasoning, `content` when has_content; the tags between them belong to neither. An
 * unfinished answer's parts hold back what may still change: text that may become a tag, and
 * everything while the opening tag may still come. */
typedef struct {
    bool has_reasoning, has_content;
    Span reasoning, content;
} AnswerParts;
/* The parser --reasoning-parser names; false for another name. */
bool reasoning_parser_named(const char *name, ReasoningParser *parser);
/* A chat answer as it goes out: pieces of its text, each reasoning or content, in the text's order.
 * The reasoning is its reasoning pieces joined, the content its content pieces; `sep`: a newline goes
 * before the piece (a harmony message after another of its kind). A longer text's pieces only extend
 * a shorter one's: the same pieces, the last perhaps longer, then new ones. */
typedef struct {
    Span text;
    bool reasoning, sep;
} AnswerPiece;
typedef struct {
    AnswerPiece *piece;         /* [npiece] malloc'd */
    int npiece, cap;
    bool has_reasoning, has_content;
    json_t *calls;              /* a finished answer's tool calls (NULL: none, and always while streaming) */
} Answer;
/* Appends bytes span of the text to a as reasoning or content (sep when a piece of its kind came before). */
void answer_add(Answer *a, bool reasoning, Span span);
void answer_free(Answer *a);

/* ---- http_harmony.c: gpt-oss' answers, read by their channels (docs/serving.md, "gpt-oss") */
/* tok's harmony tokens into *h (h->on when it has them all as special tokens). */
void harmony_find(const Tokenizer *tok, HarmonyIds *h);
/* After id went out of choice g (visible: its text ended g's text then), notes where a harmony token
 * stands. g->reply->mu held. */
void harmony_note(Gen *g, int32_t id, bool visible);
/* The pieces and, done, the calls of g's text[0, ready) read as harmony messages. */
void harmony_answer(const Gen *g, size_t ready, bool done, Answer *a);
/* Guided decoding of a gpt-oss answer before its final message (GUIDE_HARMONY): the tokens harmony's
 * format allows next of analysis messages and then the final one's header, into allowed[v's ids]
 * (never an end id: the answer ends after the final message's guided text). */
void harmony_guide_mask(const Gen *g, const GuideVocab *v, uint8_t *allowed);
/* g's answer goes on by tok (harmony_guide_mask allowed it); true when tok opens the final message,
 * whose text the guide takes from the next token on. */
bool harmony_guide_follow(Gen *g, const GuideVocab *v, int32_t tok);
/* A tool call: {"id", "type": "function", "function": {"name", "arguments"}}, the arguments as
 * json.dumps writes args, or the text raw when args is NULL (http_tools.c). */
json_t *tools_call(ToolParser p, const char *name, size_t name_len, const json_t *args, const char *raw, size_t raw_len);
/* The parts of text[0, ready) as p reads them; done: the answer ended (ready is its length). With p
 * off, all of it is content. The parts of a longer ready only extend those of a shorter one. */
AnswerParts reasoning_parts(ReasoningParser p, const char *text, size_t ready, bool done);

/* ---- http_answer.c: the OpenAI answers */
/* j's compact text (malloc'd; "{}" should jansson fail), j taken: every JSON answer's. */
char *api_json_text(json_t *j);
/* The error object OpenAI sends: {"error": {"message", "type", "param", "code"}} (malloc'd). */
char *api_error_json(const ApiError *err);
/* The text of token id as its log-probabilities name it: the tokenizer's decode of it alone, special
 * tokens kept (U+FFFD for bytes that do not make a character alone), or "token_id:ID" without a
 * tokenizer (malloc'd, *len bytes); its code points in *chars when chars is not NULL. */
char *api_token_text(const HttpServer *s, int32_t id, size_t *len, int64_t *chars);
/* The ids of <think> and </think> when tok writes each as one token (an added one), into ids
 * (http_guided.c). */
bool http_think_tokens(const Tokenizer *tok, int32_t ids[2]);

/* ---- http_responses.c: POST /v1/responses (docs/serving.md, "The Responses API") */
/* The body as the chat request it asks for, parsed (api_parse_request), r->responses the fields its
 * answer echoes; NULL with a 4xx in err (this API's field names). */
Reply *responses_parse(HttpServer *s, json_t *body, ApiError *err);
/* A finished reply's response object (malloc'd; r->mu held); a stored one is kept. */
char *responses_answer_json(const Reply *r);
/* The store of the last cap responses, and its end. */
ResponsesStore *responses_store_new(int64_t cap);
void responses_store_free(ResponsesStore *st);
/* GET /v1/responses/ID: the kept response's object (malloc'd), or NULL with a 404 in err. */
char *responses_get_json(HttpServer *s, const char *id, ApiError *err);
/* DELETE /v1/responses/ID: {"id", "object": "response", "deleted": true} (malloc'd), or NULL with a 404. */
char *responses_delete_json(HttpServer *s, const char *id, ApiError *err);
/* A stream's chat events turned into the Responses events. */
typedef struct ResponsesStream ResponsesStream;
ResponsesStream *responses_stream_new(void);
void responses_stream_free(ResponsesStream *rs);
/* The stream's first events (response.created, response.in_progress), sent as soon as the request is
 * queued; "" when they went out already (malloc'd). */
char *responses_stream_start(ResponsesStream *rs, const Reply *r);
/* The events chat_event (an api_stream_next, usage or closing event; taken) makes, "" for none (a
 * usage chunk's), after the first events if they have not gone out (malloc'd). */
char *responses_stream_event(ResponsesStream *rs, const Reply *r, char *chat_event);

/* The whole response of a finished reply, every choice in order (malloc'd; r->mu held); as an object
 * (/v1/responses reads it). */
char *api_response_json(const Reply *r);
json_t *api_response_object(const Reply *r);
/* Where a choice's stream stands: the text bytes gone out (or passed over: reasoning's tags), the ids
 * gone out, whether the next event is its first, and whether its last went. */
typedef struct {
    size_t sent;
    int pieces;                 /* the answer's pieces begun */
    int64_t ids_sent;
    bool first, finish_sent;
    bool call_sent;             /* a named function's call went out (its arguments stream as deltas) */
} StreamPos;
/* The next server-sent event "data: {...}\n\n" of choice g's stream at pos (malloc'd), pos moved past
 * it; NULL when it has none now (g's reply mutex held). What may still change is held back: with a
 * reasoning parser, what may be a tag; with a tool parser, what is or may be a call, the calls coming
 * whole in the last event. */
char *api_stream_next(const Gen *g, StreamPos *pos);
/* The stream's usage event: the reply's tokens (r->mu held). */
char *api_usage_event(const Reply *r);

/* ---- http_metrics.c */
void http_metrics_observe(Histogram *h, double seconds);
/* The Prometheus text of s's metrics (malloc'd; takes the server's mutex). */
char *http_metrics_text(HttpServer *s);

/* ---- http_server.c: the entry of `mixrun serve`, in two steps: its files read before the model is
 * loaded (a bad one is said before the weights' minutes), then the model served. */
/* A server of the model named model (vocab ids) with tokenizer tok (NULL: none): the generation config
 * (end of sequence, sampling defaults) and the chat template read. NULL when one cannot be used (a
 * message on stderr). */
HttpServer *http_server_new(const Tokenizer *tok, const char *model, int64_t vocab, const HttpOptions *ho);
/* s serving b until SIGTERM or SIGINT, then the requests in flight let finish; 0, or 1 when it cannot
 * start (a message on stderr). */
int http_serve(HttpServer *s, Backend *b, const ServeOptions *so);
void http_server_free(HttpServer *s);

#endif
