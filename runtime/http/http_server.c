/* http_server.c — `mixrun serve`: the libmicrohttpd daemon, its routes, the streams of server-sent
 * events, and the drain on SIGTERM/SIGINT (http.h). */
#include "http.h"

#include "progress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One HTTP request's state, from its headers to its end. */
typedef struct {
    Buf body;
    bool too_big;
    bool answered;          /* a response was queued before the body came: the rest is read and dropped */
    Reply *reply;
} Conn;

/* A stream of server-sent events: the event being sent and how far each choice went out. */
typedef struct {
    Reply *r;
    struct MHD_Connection *c;
    char *event;
    size_t len, off;
    StreamPos *choice;      /* [r->nchoice]: how far each went out */
    int turn;               /* the choice looked at first next: each gets its turn */
    bool usage_sent, done;
    ResponsesStream *responses; /* /v1/responses: its events made of the chat events; NULL: none */
} Stream;

/* ------------------------------------------------------------------ answering */

static int status_class(unsigned status) {
    return status < 300 ? 0 : status == 400 ? 1 : status == 404 || status == 405 ? 2 : status == 413 ? 3
           : status >= 500 ? 4 : 5;
}

static void count(HttpServer *s, unsigned status) {
    pthread_mutex_lock(&s->mu);
    s->m.requests[status_class(status)]++;
    pthread_mutex_unlock(&s->mu);
}

/* Answers with body (malloc'd, taken). */
static enum MHD_Result respond(HttpServer *s, struct MHD_Connection *c, unsigned status, const char *type, char *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 405) MHD_add_response_header(r, "Allow", "GET, POST");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    count(s, status);
    return ok;
}

static enum MHD_Result respond_error(HttpServer *s, struct MHD_Connection *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result respond_error(HttpServer *s, struct MHD_Connection *c, int status, const char *fmt, ...) {
    ApiError e = {.status = status};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    return respond(s, c, (unsigned)status, "application/json", api_error_json(&e));
}

/* Whether the client closed its side (or the connection broke). */
static bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!i) return true;
    struct pollfd p = {.fd = i->connect_fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Waits up to 100 ms on r's condition variable (r->mu held). */
static void wait_a_little(Reply *r) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += 100 * 1000 * 1000;
    if (t.tv_nsec >= 1000000000) t.tv_sec++, t.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&r->cv, &r->mu, &t);
}

/* ------------------------------------------------------------------ streams */

/* The next event of choice g, into st->event; false when it has none now. r->mu held. */
static bool choice_event(Stream *st, const Gen *g) {
    st->event = api_stream_next(g, &st->choice[g->index]);
    return st->event != NULL;
}

/* The event that ends a stream before its choices' next events: a choice's error; or, once every
 * choice ended, the usage chunk and [DONE]. False when there is none now. r->mu held. */
static bool closing_event(Stream *st) {
    const Reply *r = st->r;
    const char *error;
    bool done = reply_done(r, &error);
    if (error) {
        ApiError e = {.status = 500};
        snprintf(e.msg, sizeof e.msg, "%s", error);
        char *body = api_error_json(&e);
        st->event = xmalloc(strlen(body) + 9);
        sprintf(st->event, "data: %s\n\n", body);
        free(body);
        st->done = true;
        return true;
    }
    for (int i = 0; done && i < r->nchoice; i++) done = st->choice[i].finish_sent;
    if (!done) return false;
    if (r->choice[0].include_usage && !st->usage_sent) {
        st->event = api_usage_event(r);
        st->usage_sent = true;
        return true;
    }
    st->event = xstrdup("data: [DONE]\n\n");
    st->done = true;
    return true;
}

/* The next event of st into st->event, the choices taking turns; false when the client went away. */
static bool next_event(Stream *st) {
    Reply *r = st->r;
    pthread_mutex_lock(&r->mu);
    for (bool got = false; !got;) {
        got = closing_event(st);
        for (int k = 0; k < r->nchoice && !got; k++) {
            const Gen *g = &r->choice[(st->turn + k) % r->nchoice];
            got = choice_event(st, g);
            if (got) st->turn = (g->index + 1) % r->nchoice;
        }
        if (got) break;
        wait_a_little(r);
        if (client_gone(st->c)) {
            pthread_mutex_unlock(&r->mu);
            return false;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (st->responses) st->event = responses_stream_event(st->responses, r, st->event);
    st->len = strlen(st->event);
    st->off = 0;
    return true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    Stream *st = cls;
    (void)pos;
    while (st->off == st->len) {
        free(st->event);
        st->event = NULL;
        st->off = st->len = 0;
        if (st->done) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!next_event(st)) {
            reply_cancel(st->r);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = st->len - st->off < max ? st->len - st->off : max;
    memcpy(buf, st->event + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    Stream *st = cls;
    free(st->event);
    reply_cancel(st->r);
    reply_release(st->r);
    responses_stream_free(st->responses);
    free(st->choice);
    free(st);
}

static enum MHD_Result respond_stream(HttpServer *s, struct MHD_Connection *c, Reply *r) {
    Stream *st = xcalloc(1, sizeof *st);
    st->r = r;
    st->c = c;
    st->choice = xcalloc((size_t)r->nchoice, sizeof *st->choice);
    for (int i = 0; i < r->nchoice; i++) st->choice[i].first = true;
    if (r->responses) {   /* the response is created at once, before its prompt's prefill */
        st->responses = responses_stream_new();
        st->event = responses_stream_start(st->responses, r);
        st->len = strlen(st->event);
    }
    pthread_mutex_lock(&r->mu);
    r->refs++;
    pthread_mutex_unlock(&r->mu);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    count(s, 200);
    return ok;
}

/* ------------------------------------------------------------------ routes */

/* Whether the backend failed, and why (into why). */
static bool server_failed(HttpServer *s, char *why, size_t len) {
    pthread_mutex_lock(&s->mu);
    bool failed = s->failed;
    snprintf(why, len, "%s", s->fail_msg);
    pthread_mutex_unlock(&s->mu);
    return failed;
}

/* The connection's body as JSON; NULL after answering 400 (*answered). */
static json_t *read_body(HttpServer *s, struct MHD_Connection *c, Conn *cn, enum MHD_Result *answered) {
    json_error_t je;
    json_t *body = json_loadb(cn->body.data ? cn->body.data : "", cn->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!body && json_error_code(&je) == json_error_null_character)   /* jansson's text names its own flag */
        *answered = respond_error(s, c, 400, "a string of the body holds \\u0000, which the server does not take (line %d, column %d)",
                                  je.line, je.column);
    else if (!body)
        *answered = respond_error(s, c, 400, "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    return body;
}

/* /tokenize or /detokenize: the body answered at once by answer (api_tokenize_json ...). */
static enum MHD_Result tokens(HttpServer *s, struct MHD_Connection *c, Conn *cn,
                              char *(*answer)(HttpServer *, json_t *, ApiError *)) {
    enum MHD_Result answered;
    json_t *body = read_body(s, c, cn, &answered);
    if (!body) return answered;
    ApiError err = {0};
    char *text = answer(s, body, &err);
    json_decref(body);
    return text ? respond(s, c, 200, "application/json", text)
                : respond(s, c, (unsigned)err.status, "application/json", api_error_json(&err));
}

/* The routes that generate: a completion, a chat completion, a response (the chat it asks for). */
typedef enum { GENERATE_COMPLETION, GENERATE_CHAT, GENERATE_RESPONSE } Generate;

static enum MHD_Result generate(HttpServer *s, struct MHD_Connection *c, Conn *cn, Generate route) {
    enum MHD_Result answered;
    json_t *body = read_body(s, c, cn, &answered);
    if (!body) return answered;
    ApiError err = {0};
    Reply *r = cn->reply = route == GENERATE_RESPONSE ? responses_parse(s, body, &err)
                                                      : api_parse_request(s, body, route == GENERATE_CHAT, &err);
    json_decref(body);
    if (!r) return respond(s, c, (unsigned)err.status, "application/json", api_error_json(&err));
    if (!reply_submit(s, r)) {
        char why[sizeof s->fail_msg];
        return respond_error(s, c, 503, "%s", server_failed(s, why, sizeof why) ? why : "the server is shutting down");
    }
    if (r->choice[0].stream) return respond_stream(s, c, r);
    pthread_mutex_lock(&r->mu);
    const char *error;
    while (!reply_done(r, &error) && !error) {
        wait_a_little(r);
        if (!reply_done(r, &error) && !error && client_gone(c)) {
            pthread_mutex_unlock(&r->mu);
            reply_cancel(r);
            return MHD_NO;   /* nobody to answer: the connection is closed */
        }
    }
    char *answer = error ? NULL : r->responses ? responses_answer_json(r) : api_response_json(r);
    char message[sizeof r->choice[0].error];
    snprintf(message, sizeof message, "%s", error ? error : "");
    pthread_mutex_unlock(&r->mu);
    if (!answer) return respond_error(s, c, 500, "%s", message);
    return respond(s, c, 200, "application/json", answer);
}

/* Whether the request's "Authorization: Bearer KEY" header holds the server's key, compared in time
 * that does not depend on where they differ. */
static bool authorized(const HttpServer *s, struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *key = s->opt.api_key;
    if (!h || strncmp(h, "Bearer ", 7)) return false;
    h += 7;
    size_t n = strlen(key), m = strlen(h);
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)key[i] ^ (unsigned char)h[i < m ? i : 0];
    return !diff;
}

static enum MHD_Result route(HttpServer *s, struct MHD_Connection *c, const char *url, const char *method, Conn *cn) {
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (s->opt.api_key && !strncmp(url, "/v1/", 4) && !authorized(s, c))   /* vLLM's: the /v1 routes */
        return respond_error(s, c, 401, "Unauthorized: the request's 'Authorization: Bearer' key is missing or not the server's");
    if (!strcmp(url, "/v1/completions") || !strcmp(url, "/v1/chat/completions") || !strcmp(url, "/v1/responses")) {
        if (!post) return respond_error(s, c, 405, "%s takes POST", url);
        return generate(s, c, cn, !strcmp(url, "/v1/completions") ? GENERATE_COMPLETION :
                                  !strcmp(url, "/v1/chat/completions") ? GENERATE_CHAT : GENERATE_RESPONSE);
    }
    if (!strncmp(url, "/v1/responses/", 14)) {   /* a kept response (--store-responses) */
        if (!get && strcmp(method, "DELETE")) return respond_error(s, c, 405, "/v1/responses/ID takes GET or DELETE");
        ApiError err = {0};
        char *text = get ? responses_get_json(s, url + 14, &err) : responses_delete_json(s, url + 14, &err);
        return text ? respond(s, c, 200, "application/json", text)
                    : respond(s, c, (unsigned)err.status, "application/json", api_error_json(&err));
    }
    if (!strcmp(url, "/tokenize") || !strcmp(url, "/detokenize")) {   /* vLLM's */
        if (!post) return respond_error(s, c, 405, "%s takes POST", url);
        return tokens(s, c, cn, !strcmp(url, "/tokenize") ? api_tokenize_json : api_detokenize_json);
    }
    if (strcmp(url, "/health") && strcmp(url, "/v1/models") && strcmp(url, "/metrics") && strcmp(url, "/version"))
        return respond_error(s, c, 404, "no route %.200s", url);
    if (!get) return respond_error(s, c, 405, "%s takes GET", url);
    if (!strcmp(url, "/metrics")) return respond(s, c, 200, "text/plain; version=0.0.4", http_metrics_text(s));
    json_t *j;
    if (!strcmp(url, "/health")) {
        char why[sizeof s->fail_msg];
        if (server_failed(s, why, sizeof why)) return respond_error(s, c, 503, "%s", why);
        j = json_pack("{s:s}", "status", "ok");
    } else if (!strcmp(url, "/version")) {   /* vLLM's */
        j = json_pack("{s:s}", "version", MIXC_VERSION);
    } else {
        j = json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:I}]}", "object", "list", "data", "id", s->model, "object",
                      "model", "created", (json_int_t)time(NULL), "owned_by", "mixc", "max_model_len",
                      (json_int_t)s->context);
    }
    return respond(s, c, 200, "application/json", api_json_text(j));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ctx) {
    HttpServer *s = cls;
    Conn *cn = *ctx;
    (void)version;
    if (!cn) {   /* the headers: the body follows in further calls */
        *ctx = cn = xcalloc(1, sizeof *cn);
        pthread_mutex_lock(&s->mu);
        s->active++;
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        cn->answered = stopping || (length && strtoull(length, NULL, 10) > (unsigned long long)s->opt.max_body);
        if (stopping) return respond_error(s, c, 503, "the server is shutting down");
        if (cn->answered)
            return respond_error(s, c, 413, "the body is larger than the server's limit (%lld bytes)", (long long)s->opt.max_body);
        return MHD_YES;
    }
    if (cn->answered) {
        *size = 0;
        return MHD_YES;
    }
    if (*size) {
        if (!cn->too_big && cn->body.len + *size > (size_t)s->opt.max_body) cn->too_big = true;
        if (!cn->too_big) buf_append(&cn->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (cn->too_big)
        return respond_error(s, c, 413, "the body is larger than the server's limit (%lld bytes)", (long long)s->opt.max_body);
    return route(s, c, url, method, cn);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode why) {
    HttpServer *s = cls;
    Conn *cn = *ctx;
    (void)c, (void)why;
    if (!cn) return;
    if (cn->reply) {
        reply_cancel(cn->reply);
        reply_release(cn->reply);
    }
    buf_free(&cn->body);
    free(cn);
    *ctx = NULL;
    pthread_mutex_lock(&s->mu);
    if (--s->active == 0) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ the daemon */

static void log_mhd(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fprintf(stderr, "%s serve: libmicrohttpd: ", prog_name());
    vfprintf(stderr, fmt, ap);
}

/* host:port as a socket address (the first getaddrinfo gives); false with a message. */
static bool resolve(const HttpOptions *o, struct sockaddr_storage *addr) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char port[16];
    snprintf(port, sizeof port, "%lld", (long long)o->port);
    int rc = getaddrinfo(o->host, port, &hints, &res);
    if (rc) {
        fprintf(stderr, "%s serve: --host '%s': %s\n", prog_name(), o->host, gai_strerror(rc));
        return false;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return true;
}

static struct MHD_Daemon *start_daemon(HttpServer *s) {
    struct sockaddr_storage addr = {0};
    if (!resolve(&s->opt, &addr)) return NULL;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s->opt.port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->opt.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)s->opt.timeout_s, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "%s serve: cannot listen on %s port %lld: %s\n", prog_name(), s->opt.host, (long long)s->opt.port,
                errno ? strerror(errno) : "libmicrohttpd refused to start");
        return NULL;
    }
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET6_ADDRSTRLEN] = "";
    const void *a = addr.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&addr)->sin6_addr
                                               : (const void *)&((struct sockaddr_in *)&addr)->sin_addr;
    inet_ntop(addr.ss_family, a, host, sizeof host);
    fprintf(stderr, "%s serve: listening on http://%s%s%s:%u\n", prog_name(), addr.ss_family == AF_INET6 ? "[" : "", host,
            addr.ss_family == AF_INET6 ? "]" : "", i ? (unsigned)i->port : (unsigned)s->opt.port);
    return d;
}

/* SIGTERM or SIGINT: no new request; those in flight finish; then the daemon and the engine stop. */
static void drain(HttpServer *s, struct MHD_Daemon *d, int sig) {
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    fprintf(stderr, "%s serve: %s: finishing %d request%s in flight\n", prog_name(), strsignal(sig), s->active,
            s->active == 1 ? "" : "s");
    pthread_mutex_unlock(&s->mu);
    MHD_socket listen = MHD_quiesce_daemon(d);
    if (listen != MHD_INVALID_SOCKET) close(listen);
    pthread_mutex_lock(&s->mu);
    while (s->active) pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(d);
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

/* The values of --override-generation-config alone checked as a request's fields (its errors name
 * it, not the file); false with the message in err. */
static bool check_override(const HttpServer *s, const char *over, char *err, size_t errlen) {
    json_t *alone = NULL;
    if (!gen_defaults_override(over, &alone, err, errlen)) return false;
    HttpServer probe = *s;   /* api_check_defaults' fields only: nothing of it runs */
    ApiError e;
    bool ok = api_check_defaults(&probe, alone, &e);
    json_decref(probe.defaults);
    if (!ok) snprintf(err, errlen, "--override-generation-config: %s", e.msg);
    return ok;
}

/* The generation config's end of sequence and sampling defaults (gen_config.h), with
 * --override-generation-config over them, into s; the defaults said on stderr, as vLLM says them. */
static bool load_gen_config(HttpServer *s) {
    char err[1400], *path = NULL;
    bool named = false;
    json_t *defaults = NULL;
    const char *over = s->opt.override_generation_config;
    bool ok = gen_config_locate(s->tok, s->opt.generation_config, &path, &named, err, sizeof err) &&
              (!s->tok || eos_ids_load(s->tok, named ? path : NULL, &s->eos, err, sizeof err)) &&
              gen_defaults_load(path, &defaults, err, sizeof err);
    bool from_file = defaults != NULL;
    if (ok && over) ok = check_override(s, over, err, sizeof err) && gen_defaults_override(over, &defaults, err, sizeof err);
    char *said = ok && defaults ? json_dumps(defaults, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    ApiError e = {0};
    if (!ok) json_decref(defaults);
    else if (!api_check_defaults(s, defaults, &e)) {   /* the override's values are good: the file's is not */
        snprintf(err, sizeof err, "'%.600s': %s", path ? path : "", e.msg);
        ok = false;
    }
    if (!ok) fprintf(stderr, "%s serve: %s\n", prog_name(), err);
    else if (said)
        fprintf(stderr, "%s serve: sampling defaults of %s%s%s%s: %s (a request's own fields win%s; "
                "--generation-config vllm: none)\n", prog_name(), from_file ? "'" : "", from_file ? path : "",
                from_file ? "'" : "", over ? (from_file ? " with --override-generation-config" : "--override-generation-config") : "",
                said, s->max_new_cap ? ", but max_new_tokens caps every request's max_tokens" : "");
    free(said);
    free(path);
    return ok;
}

/* Whether the reasoning parser's tags stay in the answers' text: a special token's text is dropped
 * (skip_special_tokens), and the parser reads the text. Said on stderr when not. */
static bool reasoning_tags_kept(const Tokenizer *tok) {
    static const char *const TAGS[] = {"<think>", "</think>"};
    for (int i = 0; i < 2; i++)
        if (tokenizer_special_id(tok, TAGS[i]) >= 0) {
            fprintf(stderr, "%s serve: --reasoning-parser: '%s' is a special token of '%s': skip_special_tokens would "
                    "drop it from the answers' text the parser reads\n", prog_name(), TAGS[i], tokenizer_path(tok));
            return false;
        }
    return true;
}

/* gpt-oss' harmony format: a tokenizer with its special tokens has every chat answer read by its
 * channels (vLLM's, for gpt-oss), with no other parser; openai_gptoss and openai need it. false with a
 * message on stderr when the parsers asked do not go with the tokenizer. */
static bool harmony_parsers(HttpServer *s) {
    static const char *const TEXT[HARMONY_NMARKS] = HARMONY_TEXTS;
    HttpOptions *o = &s->opt;
    harmony_find(s->tok, &s->harmony);
    bool reasoning_other = o->reasoning_parser && o->reasoning_parser != REASONING_OPENAI_GPTOSS;
    bool tools_other = o->tool_call_parser && o->tool_call_parser != TOOL_PARSER_OPENAI;
    const char *named = o->reasoning_parser == REASONING_OPENAI_GPTOSS ? "--reasoning-parser openai_gptoss"
                      : o->tool_call_parser == TOOL_PARSER_OPENAI ? "--tool-call-parser openai" : NULL;
    if (s->harmony.on && (reasoning_other || tools_other)) {
        fprintf(stderr, "%s serve: %s: '%s' has gpt-oss' harmony tokens: its chat answers are read by their channels "
                "(--reasoning-parser openai_gptoss, on without the option; --tool-call-parser openai)\n", prog_name(),
                reasoning_other ? "--reasoning-parser" : "--tool-call-parser", tokenizer_path(s->tok));
        return false;
    }
    if (!s->harmony.on && named && s->tok) {
        int k = 0;
        while (s->harmony.id[k] >= 0) k++;   /* the first it lacks */
        fprintf(stderr, "%s serve: %s: '%s' has no special token '%s' (gpt-oss' harmony format)\n", prog_name(), named,
                tokenizer_path(s->tok), TEXT[k]);
        return false;
    }
    if (s->harmony.on && !o->reasoning_parser)
        fprintf(stderr, "%s serve: '%s' has gpt-oss' harmony tokens: chat answers are read by their channels, the "
                "reasoning apart (--reasoning-parser openai_gptoss)\n", prog_name(), tokenizer_path(s->tok));
    if (s->harmony.on) o->reasoning_parser = REASONING_OPENAI_GPTOSS;
    return true;
}

HttpServer *http_server_new(const Tokenizer *tok, const char *model, int64_t vocab, const HttpOptions *ho) {
    json_t *name = json_string(model);
    if (!name) {
        fprintf(stderr, "%s serve: the model's name is not UTF-8 (--model-name)\n", prog_name());
        return NULL;
    }
    json_decref(name);
    HttpServer *s = xcalloc(1, sizeof *s);
    *s = (HttpServer){.opt = *ho, .tok = tok, .model = model, .vocab = vocab};
    pthread_mutex_init(&s->guide_mu, NULL);
    if (ho->store_responses > 0) s->store = responses_store_new(ho->store_responses);
    if (!load_gen_config(s)) {
        http_server_free(s);
        return NULL;
    }
    if (!harmony_parsers(s) || (s->opt.reasoning_parser && !s->harmony.on && tok && !reasoning_tags_kept(tok))) {
        http_server_free(s);
        return NULL;
    }
    s->chat = tok ? chat_template_load(tok) : NULL;
    if (chat_template_error(s->chat))
        fprintf(stderr, "%s serve: warning: %s; /v1/chat/completions answers 400 with this\n", prog_name(), chat_template_error(s->chat));
    return s;
}

void http_server_free(HttpServer *s) {
    if (!s) return;
    chat_template_free(s->chat);
    guide_vocab_free(s->guide_vocab);
    responses_store_free(s->store);
    pthread_mutex_destroy(&s->guide_mu);
    json_decref(s->defaults);
    free(s);
}

int http_serve(HttpServer *s, Backend *b, const ServeOptions *so) {
    s->b = b;
    s->so = *so;
    s->context = b->cfg.context;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->running = xcalloc((size_t)b->cfg.nseq, sizeof *s->running);
    /* a step's picks on up to a thread a core, or a slot when fewer, each with a scratch of its own */
    s->pick_threads = sample_threads() < b->cfg.nseq ? sample_threads() : b->cfg.nseq;
    for (int k = 0; k < s->pick_threads; k++) sample_scratch_init(&s->scratch[k], s->vocab);
    ServeHooks hooks = http_engine_hooks;
    hooks.pick_threads = s->pick_threads;
    s->e = serve_engine_open(b, &s->so, &hooks);
    s->m.kv_budget = serve_engine_budget(s->e);
    s->m.pool_pages = s->b->plan->pool_pages;
    /* The signals are taken by sigwait below: blocked in every thread, those started next too (and
     * not ignored, as a shell leaves SIGINT for a background job). */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    struct MHD_Daemon *d = NULL;
    if (pthread_create(&s->engine, NULL, http_engine_main, s) == 0) {
        d = start_daemon(s);
        int sig = SIGTERM;
        if (d && sigwait(&sigs, &sig) == 0) rc = 0;
        if (d) drain(s, d, sig);
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->engine, NULL);
    } else {
        fprintf(stderr, "%s serve: cannot start the engine thread\n", prog_name());
    }
    if (!rc) fprintf(stderr, "%s serve: stopped\n", prog_name());
    serve_engine_close(s->e);
    for (int k = 0; k < s->pick_threads; k++) sample_scratch_free(&s->scratch[k]);
    free(s->running);
    s->running = NULL;
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    return rc;
}
