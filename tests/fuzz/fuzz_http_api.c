/* fuzz_http_api.c — libFuzzer target: arbitrary bytes as the body of a POST to /v1/completions, to
 * /v1/chat/completions (runtime/http/http_api.c) and to /v1/responses (http_responses.c), read as
 * http_server.c reads it (json_loadb with JSON_REJECT_DUPLICATES), on six servers of the test-size model of tests/http/run.sh
 * (tests/mixrun/tiny.mix at vocab 604, its context 128):
 *   config:  the llama3 fixture tokenizer with Llama 3.1's special tokens (ids 601..604, the last,
 *            <|python_tag|>, past the model's vocabulary) and Llama 3.1's template
 *            (fixtures/chat/llama3.1.jinja) in a tokenizer_config.json, rendered by jinja.c;
 *            --tool-call-parser mistral;
 *   by-hand: the tokenizer with Llama 3's tokens only (601..603) and no config: the template by hand
 *            (chat_template.c); its caches paged from a pool smaller than the context, a KV budget
 *            of 100 tokens; a generation config's sampling defaults (top_k, repetition_penalty) and
 *            max_new_tokens cap (api_check_defaults); --tool-call-parser hermes;
 *   ids:     no tokenizer (token-id prompts only);
 *   tools:   by-hand's tokenizer, and nothing else but --tool-call-parser hermes (a call in a chat's
 *            content is echoed back within the first ids), --scheduling-policy priority and
 *            --store-responses 2;
 *   r1:      tools' with --reasoning-parser deepseek_r1 and --return-tokens-as-token-ids;
 *   qwen3:   by-hand's tokenizer, --tool-call-parser llama4_pythonic and --reasoning-parser qwen3.
 * Contract, per server and route: the body is accepted, each of its choices' prompt non-empty with
 * every id in the vocabulary, prompt + max_tokens within the context, its KV bytes within the budget
 * and its pages within the pool, its sampling fields in range, the defaults where it gives none and
 * max_tokens within the cap; or refused with a 4xx status and a
 * non-empty message, which api_error_json writes as valid JSON. A second parse gives the same. The
 * choices (at most HTTP_MAX_CHOICES) come n a prompt, the n of a prompt the same request, each at its
 * index; with a seed, choice j of a prompt draws from the seed + j.
 * Each accepted choice is then generated without a model: an echo engine emits the prompt's ids again
 * through the server's engine hooks (a pick from logits peaked at that id when the Gen wants logits,
 * stop ids, EOS, stop strings, the text's incremental decoding) while a stream takes its events as
 * http_server.c's next_event does. The answer, every event and the usage chunk are valid JSON; the
 * answer has every choice in order, the usage chunk the answer's usage: each prompt's tokens once and
 * every generated id. A choice's events' texts, ids and log-probability entries concatenate to its
 * answer's (an echo's prompt text and entries in its first event); its text (with a tool parser: before the
 * calls it reads, which the answer and the stream's last event carry alike) is the decoded ids cut
 * before the first stop string (after it with include_stop_str_in_output), and holds none past the
 * first min_tokens ids' text but that one (after the prompt's text with echo); its
 * log-probabilities (when asked) are one entry per id (an echo's prompt ids first, the first with
 * none) with the asked alternatives, each a finite number <= 0. A guided answer (response_format,
 * tool_choice "required" or a named function: the pick's logits are masked to the schema) that ended
 * at an end id is JSON; structured_outputs' choice, one of its texts; its regex, a text it matches whole
 * (POSIX's regexec, where its syntax reads the regex alike).
 * As /v1/responses (check_responses): accepted and generated as above, its response object and its
 * stream's Responses events valid JSON, numbered in order, the last one holding the answer's output
 * and usage; or refused as above.
 * The same bytes as an answer, read by every text tool parser (check_parsers; qwen3_coder with a tool
 * that types each of its parameters another way), give calls each with a name, an id and JSON
 * arguments, and content that is the text before them.
 * The same bytes as a gpt-oss answer in harmony's format (check_harmony) are read into pieces that lie
 * in order in its text, the pieces of every shorter answer being the whole one's (what a stream sends
 * never changes after), its calls each with a name and arguments.
 * The same body to /tokenize and /detokenize is answered with valid JSON (a count of model token
 * ids; a text) or refused with a 4xx. Nothing may crash, leak or hit undefined behaviour. The
 * tokenizer directories are written to a temporary directory at the first input (libFuzzer runs
 * from the repository's root). */
#include "http.h"
#define FUZZ_NAME "fuzz_http_api"
#include "fuzz_common.h"

#include <math.h>
#include <regex.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The engine's calls of the backend no parse or hook reaches (engine.c admits into a slot cut back to
 * the prompt's start it holds or given another's, forks a prompt's choices and returns a leaving
 * sequence's pages, counts the pages in flight): no engine runs here, and the cpu backend is not linked. */
bool backend_rewind(Backend *b, int slot, int64_t tokens) {
    (void)b, (void)slot, (void)tokens;
    contract_broken("the engine ran");
}
bool backend_copy_prefix(Backend *b, int from, int to, int64_t n) {
    (void)b, (void)from, (void)to, (void)n;
    contract_broken("the engine ran");
}
void backend_pages_release(Backend *b, int slot) {
    (void)b, (void)slot;
    contract_broken("the engine ran");
}
bool backend_pages_copy_due(const Backend *b, int slot, int64_t at) {
    (void)b, (void)slot, (void)at;
    contract_broken("the engine ran");
}
int64_t backend_pages_distinct(const Backend *b, const int *slots, int n, unsigned char *seen) {
    (void)b, (void)slots, (void)n, (void)seen;
    contract_broken("the engine ran");
}
const int32_t *backend_page_table(const Backend *b, int slot) {
    (void)b, (void)slot;
    contract_broken("the engine ran");
}

enum { VOCAB = 604, ECHO_MAX = 40, NSERVERS = 6 };
static Layout layout;
static RunPlan plans[2];
static Backend backends[2];
static Tokenizer *toks[2];
static HttpServer servers[NSERVERS];

/* ------------------------------------------------------------------ the servers */

static void write_json(const char *dir, const char *name, json_t *j) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!j || json_dump_file(j, path, 0)) contract_broken("cannot write the tokenizer fixture");
    json_decref(j);
}

/* dir/tokenizer.json: the llama3 fixture with the chat tokens 601.. (as tests/http/run.sh adds them);
 * with_config: Llama 3.1's four and its template in dir/tokenizer_config.json. */
static Tokenizer *tokenizer_in(const char *dir, bool with_config) {
    static const char *chat_tokens[] = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|python_tag|>"};
    json_error_t je;
    json_t *t = json_load_file("tests/tokenizer/fixtures/llama3/tokenizer.json", 0, &je);
    if (!t || mkdir(dir, 0700)) contract_broken("cannot make the tokenizer fixture");
    for (int i = 0; i < (with_config ? 4 : 3); i++)
        json_array_append_new(json_object_get(t, "added_tokens"),
                              json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", 601 + i, "content", chat_tokens[i],
                                        "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    write_json(dir, "tokenizer.json", t);
    if (with_config) {
        char *tpl = read_file("tests/tokenizer/fixtures/chat/llama3.1.jinja", &(size_t){0});
        if (!tpl) contract_broken("cannot read llama3.1.jinja");
        write_json(dir, "tokenizer_config.json", json_pack("{s:s, s:s, s:s}", "chat_template", tpl, "bos_token",
                                                           "<|begin_of_text|>", "eos_token", "<|eot_id|>"));
        free(tpl);
    }
    char err[600];
    Tokenizer *tok = tokenizer_load(dir, err, sizeof err);
    if (!tok) contract_broken(err);
    return tok;
}

/* Backend i: the plan of tiny.mix's context on the cpu target, 2 slots; paged: 16-token pages, 5 of them. */
static void plan_backend(int i, bool paged) {
    RunOptions o;
    run_options_init(&layout, RUN_TARGET_CPU, &o);
    o.batch = 2;
    o.page_tokens = paged ? 16 : 0;
    o.pool_pages = paged ? 5 : 0;
    char err[256];
    if (!plan_run(&layout, &o, &plans[i], err, sizeof err)) contract_broken(err);
    backends[i] = (Backend){.name = "cpu", .layout = &layout, .plan = &plans[i], .cfg = {.nseq = 2, .context = o.context}};
}

/* The by-hand server's generation config: defaults of top_k and repetition_penalty, and a cap. */
#define DEFAULTS "{\"top_k\": 1, \"repetition_penalty\": 1.25, \"max_new_tokens\": 8, \"temperature\": null}"

/* A server of b with tok (NULL: none), kv_budget (0: the plan's), the generation config at
 * defaults (NULL: none), --tool-call-parser tool_parser and --reasoning-parser reasoning. */
static void server(HttpServer *s, Backend *b, Tokenizer *tok, int64_t kv_budget, const char *defaults,
                   ToolParser tool_parser, ReasoningParser reasoning) {
    *s = (HttpServer){.b = b, .tok = tok, .model = "tiny", .context = b->cfg.context, .vocab = VOCAB,
                      .opt = {.tool_call_parser = tool_parser, .reasoning_parser = reasoning}};
    char err[600];
    if (tok && !eos_ids_load(tok, NULL, &s->eos, err, sizeof err)) contract_broken(err);
    json_t *taken = NULL;
    ApiError e;
    if (!gen_defaults_load(defaults, &taken, err, sizeof err)) contract_broken(err);
    if (!api_check_defaults(s, taken, &e)) contract_broken(e.msg);
    s->chat = tok ? chat_template_load(tok) : NULL;
    if (chat_template_error(s->chat)) contract_broken(chat_template_error(s->chat));
    pthread_mutex_init(&s->guide_mu, NULL);   /* guided decoding's vocabulary, made as http_server_new's server makes it */
    s->m.kv_budget = kv_budget ? kv_budget : b->plan->kv_bytes;
    sample_scratch_init(&s->scratch[0], VOCAB);
    s->pick_threads = 1;
    pthread_mutex_init(&s->mu, NULL);
}

static void load_servers(void) {
    static bool loaded;
    if (loaded) return;
    loaded = true;
    static const char *const sets[] = {"vocab=604"};
    LoadOptions lo = {.sets = sets, .nsets = 1};
    if (load_layout_file("tests/mixrun/tiny.mix", &lo, &layout, devnull)) contract_broken("cannot load tiny.mix");
    plan_backend(0, false);
    plan_backend(1, true);
    char dir[64], sub[96];
    snprintf(dir, sizeof dir, "/tmp/fuzz_http_api.%ld", (long)getpid());
    if (mkdir(dir, 0700)) contract_broken("cannot make a temporary directory");
    for (int i = 0; i < 2; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, i ? "llama3" : "llama31");
        toks[i] = tokenizer_in(sub, i == 0);
    }
    char config[128];
    snprintf(config, sizeof config, "%s/generation_config.json", dir);
    FILE *f = fopen(config, "w");
    if (!f || fputs(DEFAULTS, f) < 0 || fclose(f)) contract_broken("cannot write the generation config");
    server(&servers[0], &backends[0], toks[0], 0, NULL, TOOL_PARSER_MISTRAL, REASONING_OFF);   /* chat refused: no template for Llama 3.1 */
    server(&servers[1], &backends[1], toks[1], run_plan_seq_kv_bytes(&plans[1], 100), config, TOOL_PARSER_HERMES,
           REASONING_OFF);
    server(&servers[2], &backends[0], NULL, 0, NULL, TOOL_PARSER_OFF, REASONING_OFF);
    server(&servers[3], &backends[0], toks[1], 0, NULL, TOOL_PARSER_HERMES, REASONING_OFF);
    server(&servers[4], &backends[0], toks[1], 0, NULL, TOOL_PARSER_HERMES, REASONING_DEEPSEEK_R1);
    server(&servers[5], &backends[0], toks[1], 0, NULL, TOOL_PARSER_LLAMA4_PYTHONIC, REASONING_QWEN3);
    servers[3].opt.scheduling_policy = SCHEDULE_PRIORITY;   /* takes any priority (the others 0 alone) */
    servers[3].opt.store_responses = 2;   /* --store-responses 2: /v1/responses keeps its answers */
    servers[3].store = responses_store_new(2);
    servers[4].opt.tokens_as_ids = true;   /* --return-tokens-as-token-ids */
    char cmd[96];   /* everything is read: the fixture goes */
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) contract_broken("cannot remove the temporary directory");
}

/* ------------------------------------------------------------------ the answers */

/* An answer or event's JSON (the text after "data: " for an event; text is freed); aborts when it is
 * not JSON. */
static json_t *answer_json(char *text, bool event) {
    if (!text) contract_broken("no answer");
    size_t n = strlen(text);
    if (event && (n < 8 || memcmp(text, "data: ", 6) || memcmp(text + n - 2, "\n\n", 2)))
        contract_broken("an event is not 'data: ...\\n\\n'");
    json_error_t je;
    /* JSON_ALLOW_NUL: a generated text may hold U+0000 (byte-level tokenizers have a token for it) */
    json_t *j = json_loadb(text + (event ? 6 : 0), n - (event ? 8 : 0), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!json_is_object(j)) contract_broken("an answer is not a JSON object");
    free(text);
    return j;
}

/* The refusal as the client gets it: a 4xx with a non-empty message, as valid JSON. */
static void check_refusal(const ApiError *e) {
    if (e->status < 400 || e->status > 499) contract_broken("a refusal's status is not 4xx");
    if (!e->msg[0]) contract_broken("a refusal without a message");
    char *text = api_error_json(e);
    json_t *j = answer_json(text, false), *msg = json_object_get(json_object_get(j, "error"), "message");
    if (!json_is_string(msg) || !json_string_length(msg)) contract_broken("the error JSON has no message");
    if (json_integer_value(json_object_get(json_object_get(j, "error"), "code")) != e->status)
        contract_broken("the error JSON's code is not the status");
    json_decref(j);
}

/* What a stream has sent: the texts (content, reasoning), ids and log-probability entries of its
 * events, concatenated. */
typedef struct {
    Buf text, reasoning;
    int32_t ids[ECHO_MAX];
    int64_t nids;
    json_t *entries;        /* log_entries' */
    json_t *calls;          /* the chunks' tool calls joined, without their ids and indices; NULL: none */
    StreamPos pos;          /* http_server.c's, for its events */
} Stream;

/* A log-probability: a finite number <= 0. */
static void check_logprob(json_t *v) {
    if (!json_is_number(v) || !(json_number_value(v) <= 0)) contract_broken("a logprob is not a number <= 0");
}

/* A choice's "logprobs" as g asked them (with_prompt: an echo's prompt ids first, the first without
 * a value); the entries it has. */
static int64_t check_logprobs(const Gen *g, json_t *lp, bool with_prompt) {
    if (g->logprobs < 0 || json_is_null(lp)) {
        if (!json_is_null(lp)) contract_broken("logprobs that were not asked");
        return 0;
    }
    if (g->chat) {
        json_t *content = json_object_get(lp, "content"), *e;
        size_t i;
        json_array_foreach(content, i, e) {
            check_logprob(json_object_get(e, "logprob"));
            json_t *top = json_object_get(e, "top_logprobs"), *t;
            size_t k;
            if (!json_is_string(json_object_get(e, "token")) || json_array_size(top) != (size_t)g->logprobs)
                contract_broken("a chat logprobs entry without its token or its alternatives");
            json_array_foreach(top, k, t) check_logprob(json_object_get(t, "logprob"));
        }
        return (int64_t)json_array_size(content);
    }
    json_t *tokens = json_object_get(lp, "tokens"), *tops = json_object_get(lp, "top_logprobs"), *v;
    size_t n = json_array_size(tokens), i;
    if (json_array_size(json_object_get(lp, "token_logprobs")) != n || json_array_size(tops) != n ||
        json_array_size(json_object_get(lp, "text_offset")) != n)
        contract_broken("a completion's logprobs arrays of different lengths");
    json_array_foreach(json_object_get(lp, "token_logprobs"), i, v) {
        if (!(with_prompt && i == 0 && json_is_null(v))) check_logprob(v);   /* an echo's first id has none */
    }
    json_array_foreach(tops, i, v) {
        if (with_prompt && i == 0 && json_is_null(v)) continue;
        size_t m = json_object_size(v);
        if (m != (size_t)g->logprobs && m != (size_t)g->logprobs + 1)
            contract_broken("a completion's top_logprobs without the asked alternatives and the chosen token");
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) check_logprob(x);
    }
    return (int64_t)n;
}

/* Appends lp's entries to all: a chat's content entries, a completion's [token, logprob, top,
 * offset] each. */
static void log_entries(json_t *all, const Gen *g, json_t *lp) {
    if (json_is_null(lp)) return;
    if (g->chat) {
        json_array_extend(all, json_object_get(lp, "content"));
        return;
    }
    static const char *const keys[] = {"tokens", "token_logprobs", "top_logprobs", "text_offset"};
    for (size_t i = 0; i < json_array_size(json_object_get(lp, "tokens")); i++) {
        json_t *e = json_array();
        for (int k = 0; k < 4; k++) json_array_append(e, json_array_get(json_object_get(lp, keys[k]), i));
        json_array_append_new(all, e);
    }
}

/* Appends the choice's text (a completion's "text", a chat's "message"/"delta" "content"), its
 * reasoning (a chat's) and its ids. */
static void take_choice(const Gen *g, json_t *choice, const char *part, Buf *text, Buf *reasoning, int32_t *ids,
                        int64_t *nids) {
    json_t *t = g->chat ? json_object_get(json_object_get(choice, part), "content") : json_object_get(choice, "text");
    json_t *r = json_object_get(json_object_get(choice, part), "reasoning");
    bool calls = g->chat && json_object_get(json_object_get(choice, part), "tool_calls");
    if (t && !json_is_string(t) && !((calls || g->reasoning) && json_is_null(t))) contract_broken("an answer's text is not a string");
    if (r && (!g->reasoning || !(json_is_string(r) || (json_is_null(r) && !strcmp(part, "message")))))
        contract_broken("reasoning without a reasoning parser, or not a string");
    if (t) buf_append(text, json_string_value(t), json_string_length(t));
    if (json_is_string(r)) buf_append(reasoning, json_string_value(r), json_string_length(r));
    json_t *a = json_object_get(choice, "token_ids");
    if (!json_is_array(a)) contract_broken("an answer has no token_ids");
    for (size_t i = 0; i < json_array_size(a); i++) {
        if (*nids == ECHO_MAX) contract_broken("more ids than were generated");
        ids[(*nids)++] = (int32_t)json_integer_value(json_array_get(a, i));
    }
}

/* Whether text t[n] matches re whole where POSIX's extended syntax reads re as http_regex.c does or
 * takes more (no backslash, "(?" or "[:", "[.", "[=" inside a class; its '.' and "+?" take more):
 * else true, unchecked. */
static bool regex_whole(const char *re, const char *t, size_t n) {
    char whole[4200], *text = strndup(t, n);
    regex_t x;
    bool posix = !strpbrk(re, "\\") && !strstr(re, "(?") && !strstr(re, "[:") && !strstr(re, "[.") && !strstr(re, "[=") && snprintf(whole, sizeof whole, "^(%s)$", re) < (int)sizeof whole &&
                 !regcomp(&x, whole, REG_EXTENDED | REG_NOSUB);
    bool ok = !posix || (strlen(text) == n && !regexec(&x, text, 0, NULL, 0));
    if (posix) regfree(&x);
    free(text);
    return ok;
}

/* Tool calls as their names and arguments (ids and indices dropped: made anew for each answer). */
static json_t *calls_made(const json_t *calls) {
    json_t *out = json_array(), *c;
    size_t k;
    json_array_foreach(calls, k, c) json_array_append(out, json_object_get(c, "function"));
    return out;
}

/* A chunk's tool call deltas joined into the stream's calls, as clients join them: a call's first
 * delta (its id, type and name) at the next index, later ones its arguments' next piece. */
static void take_calls(Stream *st, const json_t *sent) {
    json_t *c;
    size_t k;
    if (!st->calls) st->calls = json_array();
    json_array_foreach(sent, k, c) {
        size_t at = (size_t)json_integer_value(json_object_get(c, "index"));
        const json_t *fn = json_object_get(c, "function"), *args = json_object_get(fn, "arguments");
        json_t *have = json_array_get(st->calls, at);
        if (!json_is_string(args)) contract_broken("a tool call delta without its arguments' text");
        if (!have && (at != json_array_size(st->calls) || !json_object_get(c, "id") || !json_is_string(json_object_get(fn, "name"))))
            contract_broken("a tool call's first delta out of order, or without its id and name");
        if (!have) {
            json_array_append_new(st->calls, json_deep_copy(fn));
            continue;
        }
        if (json_object_get(c, "id") || json_object_get(fn, "name")) contract_broken("a tool call's later delta names it again");
        Buf joined = {0};
        const json_t *before = json_object_get(have, "arguments");
        buf_append(&joined, json_string_value(before), json_string_length(before));
        buf_append(&joined, json_string_value(args), json_string_length(args));
        json_object_set_new(have, "arguments", json_stringn(joined.data ? joined.data : "", joined.len));
        buf_free(&joined);
    }
}

/* Takes event, the choice's first when first. */
static void stream_take(Stream *st, const Gen *g, char *event, bool first) {
    json_t *j = answer_json(event, true);
    json_t *choices = json_object_get(j, "choices"), *choice = json_array_get(choices, 0);
    json_t *sent = json_object_get(json_object_get(choice, "delta"), "tool_calls");
    if (sent) take_calls(st, sent);
    if (json_array_size(choices) != 1 || json_integer_value(json_object_get(choice, "index")) != g->index)
        contract_broken("an event is not one choice at its index");
    int64_t before = st->nids, echoed = first && g->echo ? g->req.prompt_len : 0;
    take_choice(g, choice, "delta", &st->text, &st->reasoning, st->ids, &st->nids);
    json_t *lp = json_object_get(choice, "logprobs");
    int64_t n = check_logprobs(g, lp, echoed > 0);
    if (g->logprobs >= 0 && n != echoed + st->nids - before)
        contract_broken("an event's logprobs are not one entry an id (and an echoed one in the first)");
    log_entries(st->entries, g, lp);
    json_decref(j);
}

/* The events a stream takes after the engine's last call (http_server.c's, from api_stream_next). */
static void stream_poll(Stream *st, Gen *g) {
    pthread_mutex_lock(&g->reply->mu);
    for (;;) {
        bool first = st->pos.first;
        size_t sent = st->pos.sent;
        char *event = api_stream_next(g, &st->pos);
        if (!event) break;
        if (st->pos.sent < sent) contract_broken("a stream went back in its text");
        stream_take(st, g, event, first);
    }
    pthread_mutex_unlock(&g->reply->mu);
}

/* An echo's answer: the prompt's text first (taken off text here), its first id without a logprob. */
static void take_echo(const Gen *g, json_t *lp, Buf *text) {
    if (!g->echo) return;
    if (g->logprobs >= 0 && !json_is_null(json_array_get(json_object_get(lp, "token_logprobs"), 0)))
        contract_broken("an echoed prompt's first id has a logprob");
    if (g->srv->tok && !g->prompt_text) contract_broken("an echo without the prompt's text");
    size_t skip = g->prompt_text ? g->prompt_text_len : 0;
    if (!skip) return;
    if (text->len < skip || memcmp(text->data, g->prompt_text, skip)) contract_broken("an echo's text does not start with the prompt");
    memmove(text->data, text->data + skip, text->len - skip);
    text->len -= skip;
}

/* No stop string starts in the text past the first min_tokens ids' text, but (include_stop) the one
 * it ends with when a stop string ended it. */
static void check_no_stop(const Gen *g, const Buf *text) {
    size_t held = 0;
    char err[256];
    if (g->min_tokens && g->srv->tok) {
        int64_t n = g->min_tokens < g->nvisible ? g->min_tokens : g->nvisible;
        free(tokenizer_decode(g->srv->tok, g->res.output, n, g->skip_special, &held, err, sizeof err));
    }
    for (int i = 0; i < g->nstop; i++) {
        size_t len = strlen(g->stop[i]);
        for (size_t from = held; from < text->len;) {
            const char *at = memmem(text->data + from, text->len - from, g->stop[i], len);
            if (!at) break;
            size_t pos = (size_t)(at - text->data);
            if (!(g->include_stop && !strcmp(g->finish, "stop") && pos + len == text->len))
                contract_broken("the text holds a stop string past min_tokens (and not the one it ends with)");
            from = pos + 1;
        }
    }
}

/* The text and ids choice g's stream and its answer (the answer's choice) carry against the
 * generation's (the reply's mutex held). */
static void check_texts(const Gen *g, const Stream *st, json_t *choice) {
    Buf text = {0}, reasoning = {0};
    int32_t ids[ECHO_MAX];
    int64_t nids = 0;
    if (json_integer_value(json_object_get(choice, "index")) != g->index) contract_broken("a choice not at its index");
    take_choice(g, choice, "message", &text, &reasoning, ids, &nids);
    /* the text's parts: reasoning, and content up to its tool calls */
    AnswerParts parts = reasoning_parts(g->reasoning, g->text, g->text_len, true);
    Span content = parts.has_content ? parts.content : (Span){0, 0};
    size_t keep = content.to - content.from;
    json_t *calls = g->tool_parser && parts.has_content && g->text ? tools_read(g->tool_parser, g->text + content.from, keep, g->tools, &keep)
                                                                   : NULL;
    json_t *answered = json_object_get(json_object_get(choice, "message"), "tool_calls");
    json_t *made = calls ? calls_made(answered) : NULL, *want = calls ? calls_made(calls) : NULL;
    const char *finish = calls && g->tool_parser != TOOL_PARSER_NAMED ? "tool_calls" : g->finish;   /* a named one's: stop */
    if (!calls != !answered || (calls && (!json_equal(made, want) || !json_equal(made, st->calls))) ||
        strcmp(json_string_value(json_object_get(choice, "finish_reason")), finish))
        contract_broken("the answer's or the stream's tool calls are not those of the text");
    bool ended = g->guide_schema && g->res.noutput > g->nvisible && g->text;   /* at an end id: its content JSON */
    json_t *guided = ended && g->guide_form == GUIDE_SCHEMA ? json_loadb(g->text + content.from, content.to - content.from, JSON_DECODE_ANY, NULL)
                                                            : json_null();
    if (!guided) contract_broken("a guided answer that ended at an end id is not JSON");
    json_decref(guided);
    bool chosen = !ended || g->guide_form != GUIDE_CHOICE;   /* structured_outputs' choice: one of its texts */
    size_t k;
    json_t *c;
    json_array_foreach(ended && g->guide_form == GUIDE_CHOICE ? g->guide_schema : NULL, k, c)
        chosen |= json_string_length(c) == content.to - content.from && !memcmp(json_string_value(c), g->text + content.from, json_string_length(c));
    if (!chosen) contract_broken("a choice's answer that ended at an end id is none of its texts");
    if (ended && g->guide_form == GUIDE_REGEX && !regex_whole(json_string_value(g->guide_schema), g->text + content.from, content.to - content.from))
        contract_broken("a regex's answer that ended at an end id does not match it whole");
    json_decref(calls);
    json_decref(made);
    json_decref(want);
    if (nids != g->nvisible || memcmp(ids, g->res.output, (size_t)nids * sizeof *ids))
        contract_broken("the answer's token_ids are not the visible ids");
    json_t *lp = json_object_get(choice, "logprobs"), *entries = json_array();
    int64_t nlogprobs = check_logprobs(g, lp, g->echo), echoed = g->echo ? g->req.prompt_len : 0;
    if (g->logprobs >= 0 && nlogprobs != echoed + nids)
        contract_broken("the answer's logprobs are not one entry a visible id (and an echoed one)");
    log_entries(entries, g, lp);
    if (!json_equal(entries, st->entries)) contract_broken("the stream's logprobs entries do not concatenate to the answer's");
    json_decref(entries);
    if (st->text.len != text.len || (text.len && memcmp(st->text.data, text.data, text.len)) ||
        st->reasoning.len != reasoning.len || (reasoning.len && memcmp(st->reasoning.data, reasoning.data, reasoning.len)))
        contract_broken("the stream's texts or reasonings do not concatenate to the answer's");
    take_echo(g, lp, &text);
    if (st->nids != nids || memcmp(st->ids, ids, (size_t)nids * sizeof *ids))
        contract_broken("the stream's token_ids do not concatenate to the answer's");
    if (text.len != keep || (text.len && memcmp(text.data, g->text + content.from, text.len)))
        contract_broken("the answer's text is not the generation's content (before its tool calls)");
    size_t thought = parts.has_reasoning ? parts.reasoning.to - parts.reasoning.from : 0;
    if (reasoning.len != thought || (thought && memcmp(reasoning.data, g->text + parts.reasoning.from, thought)))
        contract_broken("the answer's reasoning is not the generation's");
    Buf whole = {0};   /* the generation's text, all its parts */
    buf_append(&whole, g->text ? g->text : "", g->text_len);
    const Tokenizer *tok = g->srv->tok;
    size_t len = 0;
    char err[256];
    char *all = tok ? tokenizer_decode(tok, g->res.output, g->nvisible, g->skip_special, &len, err, sizeof err) : NULL;
    if (tok && (!all || len < whole.len || (whole.len && memcmp(all, whole.data, whole.len))))
        contract_broken("the generation's text is not a prefix of the ids' text");
    check_no_stop(g, &whole);
    if (tok && len > g->text_len && strcmp(g->finish, "stop")) contract_broken("the text was cut, but not at a stop");
    if (!strcmp(g->finish, "stop") && g->res.noutput < g->min_tokens) contract_broken("a stop before min_tokens");
    free(all);
    buf_free(&text);
    buf_free(&reasoning);
    buf_free(&whole);
}

/* Generates g as an engine whose model echoes the prompt: through the hooks, a stream reading along. */
static void echo(Gen *g, Stream *st) {
    int64_t n = g->req.max_new < ECHO_MAX ? g->req.max_new : ECHO_MAX;
    g->res.output = xcalloc((size_t)n, sizeof *g->res.output);
    g->reply->refs++;   /* the engine's (reply_submit's); hook_finished releases it */
    st->pos.first = true;
    st->entries = json_array();
    bool stop = false;
    static float logits[VOCAB];
    if (http_engine_hooks.wants_prompt_logits(g)) {   /* an echo's: every prompt position's, in one call */
        float *rows = xcalloc((size_t)g->req.prompt_len * VOCAB, sizeof *rows);
        for (int64_t p = 0; p < g->req.prompt_len; p++)
            for (int v = 0; v < VOCAB; v++) rows[p * VOCAB + v] = (float)((v * 31 + p) % 11);
        http_engine_hooks.prompt_logits(g, 0, g->req.prompt_len, rows, VOCAB);
        free(rows);
    }
    while (!stop && g->res.noutput < n) {
        int32_t tok = g->req.prompt[g->res.noutput % g->req.prompt_len];
        if (http_engine_hooks.wants_logits(g)) {   /* as the engine: logits whose argmax is the echo */
            for (int v = 0; v < VOCAB; v++) logits[v] = v == tok ? 30.0f : (float)(v % 7);
            tok = http_engine_hooks.pick(g, logits, VOCAB, tok, 0);
        }
        g->res.output[g->res.noutput++] = tok;
        stop = http_engine_hooks.emitted(g, tok);
        if (!g->error[0]) stream_poll(st, g);
    }
    http_engine_hooks.finished(g);
    if (g->error[0]) {   /* only an id the tokenizer does not have: every id is < vocab, its size */
        contract_broken(g->error);
    }
    stream_poll(st, g);
    if (!st->pos.finish_sent) contract_broken("the stream did not finish");
}

/* The usage of an answer or the usage chunk: each prompt's tokens once, every generated id. */
static void check_usage(const Reply *r, json_t *usage) {
    int64_t prompt = 0, generated = 0;
    for (int i = 0; i < r->nchoice; i += r->n) prompt += r->choice[i].req.prompt_len;
    for (int i = 0; i < r->nchoice; i++) generated += r->choice[i].res.noutput;
    if (json_integer_value(json_object_get(usage, "prompt_tokens")) != prompt ||
        json_integer_value(json_object_get(usage, "completion_tokens")) != generated ||
        json_integer_value(json_object_get(usage, "total_tokens")) != prompt + generated)
        contract_broken("a usage that does not count each prompt once and every generated id");
}

/* Generates r's choices one after another (each with its stream), then checks the answer. */
static void generate(Reply *r) {
    Stream *st = xcalloc((size_t)r->nchoice, sizeof *st);
    for (int i = 0; i < r->nchoice; i++) echo(&r->choice[i], &st[i]);
    pthread_mutex_lock(&r->mu);
    json_t *j = answer_json(api_response_json(r), false), *choices = json_object_get(j, "choices");
    if (json_array_size(choices) != (size_t)r->nchoice) contract_broken("an answer without every choice");
    for (int i = 0; i < r->nchoice; i++) check_texts(&r->choice[i], &st[i], json_array_get(choices, i));
    check_usage(r, json_object_get(j, "usage"));
    json_t *chunk = answer_json(api_usage_event(r), true);
    if (json_array_size(json_object_get(chunk, "choices"))) contract_broken("a usage chunk with choices");
    check_usage(r, json_object_get(chunk, "usage"));
    pthread_mutex_unlock(&r->mu);
    json_decref(chunk);
    json_decref(j);
    for (int i = 0; i < r->nchoice; i++) {
        buf_free(&st[i].text);
        buf_free(&st[i].reasoning);
        json_decref(st[i].entries);
        json_decref(st[i].calls);
    }
    free(st);
}

/* A /v1/responses reply, generated: its response object and its stream's events (the chat events,
 * the usage event and [DONE] made Responses events) are valid JSON, the events numbered from 0 in
 * order, the last response.completed or response.incomplete with the answer's output (but calls' ids,
 * drawn per answer) and usage. */
static void check_responses(Reply *r) {
    ResponsesStream *rs = responses_stream_new();
    StreamPos pos = {.first = true};
    Buf events = {0};
    pthread_mutex_lock(&r->mu);
    for (char *e; (e = api_stream_next(&r->choice[0], &pos));) {
        char *made = responses_stream_event(rs, r, e);
        buf_puts(&events, made);
        free(made);
    }
    char *closing[2] = {api_usage_event(r), xstrdup("data: [DONE]\n\n")}, *whole = responses_answer_json(r);
    pthread_mutex_unlock(&r->mu);
    for (int k = 0; k < 2; k++) {
        char *made = responses_stream_event(rs, r, closing[k]);
        buf_puts(&events, made);
        free(made);
    }
    responses_stream_free(rs);
    json_t *answer = answer_json(whole, false), *last = NULL;
    int64_t seq = 0;
    for (char *at = events.data; at && (at = strstr(at, "\ndata: ")); at++, seq++) {
        json_decref(last);
        json_error_t je;
        last = json_loadb(at + 7, strcspn(at + 7, "\n"), JSON_ALLOW_NUL, &je);
        if (json_integer_value(json_object_get(last, "sequence_number")) != seq) contract_broken("a Responses event out of order");
    }
    json_t *resp = json_object_get(last, "response"), *item;
    const char *type = json_string_value(json_object_get(last, "type"));
    if (!type || (strcmp(type, "response.completed") && strcmp(type, "response.incomplete")))
        contract_broken("a Responses stream that does not end with its response");
    json_t *got = json_object_get(resp, "output"), *want = json_object_get(answer, "output");
    size_t k;
    json_array_foreach(got, k, item) json_object_del(item, "call_id");
    json_array_foreach(want, k, item) json_object_del(item, "call_id");
    if (!json_equal(got, want) || !json_equal(json_object_get(resp, "usage"), json_object_get(answer, "usage")))
        contract_broken("a Responses stream's last response is not the answer");
    json_decref(last);
    json_decref(answer);
    buf_free(&events);
}

/* ------------------------------------------------------------------ the parse */

/* Whether id is one of the n ids. */
static bool among(const int32_t *ids, int64_t n, int32_t id) {
    for (int64_t k = 0; k < n; k++)
        if (ids[k] == id) return true;
    return false;
}

/* g's end ids are, once each, the model's EOS ids and the template's stop ids unless ignore_eos, and
 * stop_token_ids: no other. */
static void check_ends(const HttpServer *s, const Gen *g) {
    const LogitAdjust *a = &g->adjust;
    int64_t want = 0;
    for (int32_t id = 0; id < s->vocab; id++) {
        bool end = among(g->stop_token_ids, g->nstop_token_ids, id) ||
                   (!g->ignore_eos && (eos_ids_has(&s->eos, id) || among(g->stop_ids, g->nstop_ids, id)));
        if (end != among(a->end_id, a->nend, id)) contract_broken("an end id missing, or one that should not end it");
        want += end;
    }
    if (want != a->nend) contract_broken("an end id twice, or one outside the vocabulary");
}

static void check_accepted(const HttpServer *s, const Gen *g) {
    const ServeRequest *r = &g->req;
    if (r->prompt_len < 1 || r->max_new < 1) contract_broken("an accepted request without prompt or max_tokens");
    for (int64_t i = 0; i < r->prompt_len; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= s->vocab) contract_broken("an accepted prompt id outside the vocabulary");
    if (r->prompt_len + r->max_new > s->context) contract_broken("an accepted request past the context");
    int64_t cost = serve_request_cost(s->b, r);
    if (cost < 0 || cost > s->m.kv_budget) contract_broken("an accepted request past the KV budget");
    if (serve_request_pages(s->b, r) > s->b->plan->pool_pages) contract_broken("an accepted request past the pool");
    const SampleParams *sp = &g->sample;
    if (!(sp->temperature >= 0 && sp->temperature <= 2 && sp->top_p > 0 && sp->top_p <= 1 && sp->min_p >= 0 &&
          sp->min_p <= 1 && sp->top_k >= 0))
        contract_broken("an accepted temperature, top_p, min_p or top_k out of range");
    for (int i = 0; i < g->nstop_token_ids; i++)
        if (g->stop_token_ids[i] < 0 || g->stop_token_ids[i] >= s->vocab) contract_broken("a stop_token_id outside the vocabulary");
    if (g->min_tokens < 0 || g->min_tokens > r->max_new) contract_broken("an accepted min_tokens past max_tokens");
    if (g->min_tokens && g->adjust.nend >= s->vocab) contract_broken("min_tokens banning every token");
    check_ends(s, g);
    if (g->nstop > 16 || g->nstop_ids > CHAT_MAX_STOP) contract_broken("too many stops");
    if (g->logprobs < -1 || g->logprobs > SAMPLE_MAX_LOGPROBS) contract_broken("an accepted logprobs out of range");
    if (g->echo && g->chat) contract_broken("an accepted echo in a chat");
    const LogitAdjust *a = &g->adjust;
    if (!(fabs(a->frequency) <= 2 && fabs(a->presence) <= 2) || (!a->counts != (a->frequency == 0 && a->presence == 0)))
        contract_broken("accepted penalties out of range, or without their counts");
    if (a->repetition < 0 || (!a->seen != (a->repetition == 0 || a->repetition == 1)))
        contract_broken("an accepted repetition_penalty <= 0, or without its seen ids");
    for (int64_t i = 0; a->seen && i < g->req.prompt_len; i++)
        if (!a->seen[g->req.prompt[i]]) contract_broken("a prompt id not seen by the repetition_penalty");
    for (int k = 0; k < a->nbias; k++)
        if (a->bias_id[k] < 0 || a->bias_id[k] >= s->vocab || !(fabsf(a->bias[k]) <= 100))
            contract_broken("an accepted logit_bias outside the vocabulary or [-100, 100]");
    for (int k = 0; k < a->nbias; k++)
        for (int m = 0; m < k; m++)
            if (a->bias_id[k] == a->bias_id[m]) contract_broken("two logit_bias entries of one id");
    size_t longest = 0;
    for (int i = 0; i < g->nstop; i++) {
        if (!g->stop[i][0]) contract_broken("an empty stop string");
        if (strlen(g->stop[i]) > longest) longest = strlen(g->stop[i]);
    }
    if (longest != g->stop_max) contract_broken("stop_max is not the longest stop string");
    for (int i = 0; i < g->nstop_ids; i++)
        if (g->stop_ids[i] < 0 || g->stop_ids[i] >= s->vocab) contract_broken("a stop id outside the vocabulary");
}

/* The generation config's defaults (DEFAULTS, where a server has them): top_k and repetition_penalty
 * where the body has none or null, every max_tokens capped. */
static void check_defaults(const HttpServer *s, const Gen *g, json_t *body) {
    if (!s->defaults) return;
    if (s->max_new_cap != 8 || json_object_get(s->defaults, "max_new_tokens") || json_object_get(s->defaults, "temperature"))
        contract_broken("the generation config's cap is not its max_new_tokens, or a null field is a default");
    if (g->req.max_new > s->max_new_cap) contract_broken("an accepted max_tokens past the generation config's cap");
    json_t *top_k = json_object_get(body, "top_k"), *rep = json_object_get(body, "repetition_penalty");
    if ((!top_k || json_is_null(top_k)) && g->sample.top_k != 1) contract_broken("no top_k, and not the default's");
    if ((!rep || json_is_null(rep)) && g->adjust.repetition != 1.25) contract_broken("no repetition_penalty, and not the default's");
}

/* Two choices ask the same but their draws. */
static bool same_request(const Gen *a, const Gen *b) {
    bool same = a->req.prompt_len == b->req.prompt_len && a->req.max_new == b->req.max_new &&
                !memcmp(a->req.prompt, b->req.prompt, (size_t)a->req.prompt_len * sizeof *a->req.prompt) &&
                !memcmp(&a->sample, &b->sample, sizeof a->sample) && a->nstop == b->nstop && a->min_tokens == b->min_tokens &&
                a->nstop_token_ids == b->nstop_token_ids && a->adjust.nend == b->adjust.nend &&
                (!a->nstop_token_ids || !memcmp(a->stop_token_ids, b->stop_token_ids,
                                                (size_t)a->nstop_token_ids * sizeof *a->stop_token_ids)) &&
                (!a->adjust.nend || !memcmp(a->adjust.end_id, b->adjust.end_id, (size_t)a->adjust.nend * sizeof *a->adjust.end_id)) &&
                a->nstop_ids == b->nstop_ids && a->stream == b->stream && a->include_usage == b->include_usage &&
                a->ignore_eos == b->ignore_eos && a->skip_special == b->skip_special && a->include_stop == b->include_stop &&
                a->logprobs == b->logprobs && a->tool_parser == b->tool_parser &&
                a->echo == b->echo &&
                a->adjust.frequency == b->adjust.frequency && a->adjust.presence == b->adjust.presence &&
                a->adjust.repetition == b->adjust.repetition &&
                a->adjust.nbias == b->adjust.nbias &&
                (!a->adjust.nbias ||   /* memcmp must not see the NULL arrays of no bias */
                 (!memcmp(a->adjust.bias_id, b->adjust.bias_id, (size_t)a->adjust.nbias * sizeof *a->adjust.bias_id) &&
                  !memcmp(a->adjust.bias, b->adjust.bias, (size_t)a->adjust.nbias * sizeof *a->adjust.bias))) &&
                !memcmp(a->stop_ids, b->stop_ids, sizeof a->stop_ids) &&
                a->prompt_text_len == b->prompt_text_len &&
                (!a->prompt_text_len || !memcmp(a->prompt_text, b->prompt_text, a->prompt_text_len));
    for (int i = 0; same && i < a->nstop; i++) same = !strcmp(a->stop[i], b->stop[i]);
    return same;
}

/* A reply's choices: at most HTTP_MAX_CHOICES, n a prompt, each at its index, the n of a prompt one
 * request; with a seed, choice j of a prompt draws from the seed + j, without one, each from a state
 * of its own. */
static void check_choices(const Reply *r, json_t *body) {
    if (r->n < 1 || r->nchoice < r->n || r->nchoice > HTTP_MAX_CHOICES || r->nchoice % r->n)
        contract_broken("a reply's choices are not n a prompt, at most HTTP_MAX_CHOICES");
    json_t *seed = json_object_get(body, "seed");
    for (int i = 0; i < r->nchoice; i++) {
        const Gen *g = &r->choice[i], *first = &r->choice[i - i % r->n];
        if (g->index != i || g->reply != r) contract_broken("a choice not at its index");
        if (json_is_integer(seed) && g->rng != (uint64_t)json_integer_value(seed) + (uint64_t)(i % r->n))
            contract_broken("a seeded choice j does not draw from the seed + j");
        if (!json_is_integer(seed) && i && g->rng == r->choice[i - 1].rng) contract_broken("two choices draw alike without a seed");
        if (g != first && !same_request(first, g)) contract_broken("the n choices of a prompt ask different things");
    }
}

/* Two parses of one body agree. */
static void check_same(const Reply *a, const ApiError *ea, const Reply *b, const ApiError *eb) {
    if (!a != !b) contract_broken("a second parse decided otherwise");
    if (!a) {
        if (ea->status != eb->status || strcmp(ea->msg, eb->msg)) contract_broken("a second parse refused otherwise");
        return;
    }
    bool same = a->n == b->n && a->nchoice == b->nchoice;
    for (int i = 0; same && i < a->nchoice; i++) same = same_request(&a->choice[i], &b->choice[i]);
    if (!same) contract_broken("a second parse gave another request");
}

/* /tokenize and /detokenize of the body: an answer of valid JSON (its count the tokens', each a token
 * id of the model; a prompt a string), or a refusal. */
static void check_tokens(HttpServer *s, json_t *body) {
    ApiError e = {0};
    char *text = api_tokenize_json(s, body, &e);
    if (!text) check_refusal(&e);
    else {
        json_t *j = answer_json(text, false), *ids = json_object_get(j, "tokens");
        if (!json_is_array(ids) || json_integer_value(json_object_get(j, "count")) != (json_int_t)json_array_size(ids))
            contract_broken("a /tokenize answer's count is not its tokens'");
        for (size_t i = 0; i < json_array_size(ids); i++)
            if (json_integer_value(json_array_get(ids, i)) < 0 || json_integer_value(json_array_get(ids, i)) >= s->vocab)
                contract_broken("a /tokenize answer's token outside the model's vocabulary");
        json_decref(j);
    }
    e = (ApiError){0};
    if (!(text = api_detokenize_json(s, body, &e))) check_refusal(&e);
    else {
        json_t *j = answer_json(text, false);
        if (!json_is_string(json_object_get(j, "prompt"))) contract_broken("a /detokenize answer without its prompt");
        json_decref(j);
    }
}

/* The input read as an answer by every tool parser: calls, each with its name and its arguments a
 * JSON object's text, and no content beside them (but hermes' and mistral's text before them). */
static void check_parsers(const char *text, size_t len) {
    static json_t *tools;   /* qwen3_coder's: a parameter of each type its values are read by */
    if (!tools)
        tools = json_loads("[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"properties\": {"
                           "\"i\": {\"type\": \"integer\"}, \"n\": {\"type\": \"number\"}, \"b\": {\"type\": \"boolean\"}, "
                           "\"o\": {\"type\": \"object\"}, \"a\": {\"type\": \"array\"}, \"u\": {\"type\": [\"string\", \"null\"]}, "
                           "\"s\": {\"type\": \"string\"}, \"x\": {\"type\": \"\\u00c9\"}}}}}]", 0, NULL);
    for (ToolParser p = TOOL_PARSER_HERMES; p <= TOOL_PARSER_QWEN3_CODER; p++) {
        size_t content;
        if (p == TOOL_PARSER_OPENAI) continue;   /* harmony's: check_harmony */
        json_t *calls = tools_read(p, text, len, tools, &content), *c;
        size_t k;
        if (content > len || (calls && !json_array_size(calls)) || (!calls && content != len))
            contract_broken("a parser's content is not the text before its calls");
        json_array_foreach(calls, k, c) {
            json_t *f = json_object_get(c, "function"), *args;
            if (!json_is_string(json_object_get(f, "name")) || !json_is_string(json_object_get(c, "id")) ||
                !(args = json_loads(json_string_value(json_object_get(f, "arguments")), JSON_DECODE_ANY, NULL)))
                contract_broken("a call without its name, its id, or its arguments as JSON");
            json_decref(args);
        }
        json_decref(calls);
    }
}

/* data as a harmony answer: bytes 1..7 harmony's tokens (HarmonyMark + 1) with their text, 8 a stop
 * token <|call|> without text, other bytes text (those past ASCII '?': a decoded text is UTF-8). */
static Reply *harmony_reply(const uint8_t *data, size_t size, ToolParser t) {
    static const char *const TEXT[HARMONY_NMARKS] = HARMONY_TEXTS;
    Reply *r = reply_new(&servers[0], true, 1);
    Gen *g = &r->choice[0];
    Buf b = {0};
    g->reasoning = REASONING_OPENAI_GPTOSS, g->tool_parser = t, g->finish = "stop", g->state = GEN_DONE;
    for (size_t i = 0; i < size; i++) {
        if (data[i] < 1 || data[i] > 8) {
            buf_append(&b, data[i] < 0x80 ? (const char *)&data[i] : "?", 1);
            continue;
        }
        HarmonyMark m = data[i] == 8 ? HARMONY_CALL : (HarmonyMark)(data[i] - 1);
        size_t len = data[i] == 8 ? 0 : strlen(TEXT[m]);
        g->marks = xrealloc(g->marks, (size_t)(g->nmarks + 1) * sizeof *g->marks);
        g->marks[g->nmarks++] = (HarmonyAt){b.len, len, m};
        buf_append(&b, TEXT[m], len);
    }
    buf_append(&b, "", 0);
    g->text = b.data, g->text_len = g->ready = b.len;
    return r;
}

/* The harmony reader on data (harmony_reply's), calls read and not: its pieces lie in the text in
 * order; the pieces of each shorter answer (at every byte but within a token's text, unfinished) are
 * the whole answer's
 * first ones, the last perhaps shorter; the calls have a name and arguments; the answer is JSON. */
static void check_harmony(const uint8_t *data, size_t size) {
    for (ToolParser t = TOOL_PARSER_OFF; t <= TOOL_PARSER_OPENAI; t += TOOL_PARSER_OPENAI) {
        Reply *r = harmony_reply(data, size, t);
        Gen *g = &r->choice[0];
        Answer whole = {0};
        harmony_answer(g, g->text_len, true, &whole);
        for (int k = 0; k < whole.npiece; k++)
            if (whole.piece[k].text.from > whole.piece[k].text.to || whole.piece[k].text.to > g->text_len ||
                (k && whole.piece[k].text.from < whole.piece[k - 1].text.to))
                contract_broken("a harmony piece outside the text or out of order");
        size_t i;
        json_t *c;
        json_array_foreach(whole.calls, i, c)
            if (!json_is_string(json_object_get(json_object_get(c, "function"), "name")) ||
                !json_is_string(json_object_get(json_object_get(c, "function"), "arguments")))
                contract_broken("a harmony call without its name or arguments");
        for (size_t ready = 0, m = 0; ready <= g->text_len; ready++) {   /* every end of a token so far */
            while (m < (size_t)g->nmarks && g->marks[m].at + g->marks[m].len < ready) m++;
            if (m < (size_t)g->nmarks && g->marks[m].at < ready && ready < g->marks[m].at + g->marks[m].len) continue;
            Answer part = {0};
            harmony_answer(g, ready, false, &part);
            for (int k = 0; k < part.npiece; k++) {
                const AnswerPiece *p = &part.piece[k], *w = &whole.piece[k];
                if (k >= whole.npiece || p->reasoning != w->reasoning || p->sep != w->sep || p->text.from != w->text.from ||
                    p->text.to > w->text.to || (k + 1 < part.npiece && p->text.to != w->text.to))
                    contract_broken("a harmony stream's pieces are not the whole answer's");
            }
            answer_free(&part);
        }
        answer_free(&whole);
        free(api_response_json(r));
        reply_release(r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_servers();
    check_parsers((const char *)data, size);
    check_harmony(data, size);
    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!body) {   /* http_server.c answers 400 with jansson's message */
        ApiError e = {.status = 400};
        snprintf(e.msg, sizeof e.msg, "the body is not valid JSON: %s", je.text);
        check_refusal(&e);
        return 0;
    }
    for (int i = 0; i < NSERVERS * 2; i++) {
        HttpServer *s = &servers[i / 2];
        ApiError ea = {0}, eb = {0};
        Reply *a = api_parse_request(s, body, i % 2, &ea), *b = api_parse_request(s, body, i % 2, &eb);
        check_same(a, &ea, b, &eb);
        reply_release(b);
        if (a) {
            check_choices(a, body);
            for (int k = 0; k < a->nchoice; k++) {
                check_accepted(s, &a->choice[k]);
                check_defaults(s, &a->choice[k], body);
            }
            generate(a);
        } else {
            check_refusal(&ea);
        }
        reply_release(a);
    }
    for (int i = 0; i < NSERVERS; i++) check_tokens(&servers[i], body);
    for (int i = 0; i < NSERVERS; i++) {   /* the body as /v1/responses reads it */
        ApiError e = {0};
        Reply *r = responses_parse(&servers[i], body, &e);
        if (!r) {
            check_refusal(&e);
            continue;
        }
        generate(r);
        check_responses(r);
        reply_release(r);
    }
    json_decref(body);
    return 0;
}
