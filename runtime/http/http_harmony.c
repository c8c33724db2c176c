/* http_harmony.c — gpt-oss' chat answers read by their channels (docs/serving.md, "gpt-oss"). gpt-oss
 * answers in OpenAI's harmony format: messages, each a header and a text between special tokens,
 *
 *   <|channel|>analysis<|message|>thinking<|end|><|start|>assistant<|channel|>final<|message|>answer<|return|>
 *   ...<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"x": 1}<|call|>
 *
 * (the prompt ends in "<|start|>assistant", so the first header has no role). The answer is read as
 * vLLM reads it (its parse_chat_output and openai tool parser): analysis messages are the reasoning,
 * final messages and commentary without a recipient (preambles) the content, each kind joined by
 * newlines; a message to functions.NAME a tool call (with --tool-call-parser openai and tool_choice
 * auto), its text the arguments (JSON written again as json.dumps writes it; other text as it is).
 *
 * The special tokens are found by their ids, never by their text: the text keeps them (so that the
 * reader can cut it) and harmony_note marks each one as it goes out. Nothing the model wrote is lost:
 * a message to anything else (or to a function while calls are not read), a call cut short, and all
 * from the first token that breaks the format on, are content as they were written, special tokens
 * included. Only the format itself (headers, the tokens that end messages) is passed over, and a
 * header the answer ended in. Under guided decoding, the answer is kept to analysis messages and then
 * the final one, whose text the guide takes (harmony_guide_mask). */
#include "http.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *const MARK_TEXT[HARMONY_NMARKS] = HARMONY_TEXTS;

/* A header longer than this is not one (the model wrote text where harmony's format was due). */
#define HEADER_MAX 256

void harmony_find(const Tokenizer *tok, HarmonyIds *h) {
    *h = (HarmonyIds){0};
    h->on = tok && chat_harmony_ids(tok, h->id);
}

void harmony_note(Gen *g, int32_t id, bool visible) {
    const HarmonyIds *h = &g->srv->harmony;
    int k = 0;
    while (k < HARMONY_NMARKS && h->id[k] != id) k++;
    if (k == HARMONY_NMARKS) return;
    size_t len = visible ? strlen(MARK_TEXT[k]) : 0;
    if (len > g->text_len || (g->text && memcmp(g->text + g->text_len - len, MARK_TEXT[k], len)))
        return;   /* a stop string cut the text before it: the answer ends there */
    if (g->nmarks == g->marks_cap) {
        g->marks_cap = g->marks_cap ? 2 * g->marks_cap : 16;
        g->marks = xrealloc(g->marks, (size_t)g->marks_cap * sizeof *g->marks);
    }
    g->marks[g->nmarks++] = (HarmonyAt){g->text_len - len, len, (HarmonyMark)k};
}

/* ------------------------------------------------------------------ headers */

/* A header as read so far: its role part (before <|channel|>), its channel part (after it), its
 * content type (after <|constrain|>). */
typedef struct {
    Span role, channel, type;
    bool has_channel, has_constrain;
} Header;

typedef enum { HEADER_BAD, HEADER_SO_FAR, HEADER_WHOLE } HeaderState;

static bool starts(const char *s, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && !memcmp(s, prefix, k);
}

/* Whether s[0, n) is a prefix of word, or word followed by " to=" and a recipient without spaces;
 * *whole: all of word (and of the recipient, when one was begun: not empty). */
static bool role_ok(const char *s, size_t n, const char *word, bool *whole) {
    size_t k = strlen(word), to = k + 4;
    if (n <= k) return *whole = n == k, !memcmp(s, word, n);
    if (memcmp(s, word, k) || memcmp(s + k, " to=", n - k < 4 ? n - k : 4)) return false;
    *whole = n > to;
    return n <= to || !memchr(s + to, ' ', n - to);
}

/* Whether s[0, n) holds words of the header's parts alone: no control character, no two spaces. */
static bool words_ok(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (s[i] == ' ' && i && s[i - 1] == ' ')) return false;
    return true;
}

/* The header's state: the first message's role part is empty (the prompt wrote the role) or a
 * recipient (" to=NAME"); a later one's "assistant", perhaps with a recipient. A whole header has a
 * channel word when it has <|channel|>. */
static HeaderState header_state(const char *text, const Header *h, bool first, bool whole_asked) {
    const char *role = text + h->role.from;
    size_t n = h->role.to - h->role.from, len = h->type.to - h->role.from;
    bool role_whole;
    bool ok = len <= HEADER_MAX && (first ? role_ok(role, n, "", &role_whole) : role_ok(role, n, "assistant", &role_whole)) &&
              words_ok(text + h->channel.from, h->channel.to - h->channel.from) &&
              words_ok(text + h->type.from, h->type.to - h->type.from) && !memchr(text + h->type.from, ' ', h->type.to - h->type.from);
    if (ok && h->has_channel) ok = h->channel.to == h->channel.from || text[h->channel.from] != ' ';
    if (!ok) return HEADER_BAD;
    if (!whole_asked) return HEADER_SO_FAR;
    bool channel_word = !h->has_channel || h->channel.to > h->channel.from;
    return role_whole && channel_word ? HEADER_WHOLE : HEADER_BAD;
}

/* What a whole header says: the channel (its first word); the recipient (" to=NAME" of the role part,
 * else a "to=NAME" word of the channel part); the content type (after <|constrain|>, else another word
 * of the channel part). */
typedef struct {
    Span channel, recipient, type;
} HeaderSays;

static HeaderSays header_read(const char *text, const Header *h) {
    HeaderSays says = {{0, 0}, {0, 0}, h->type};
    const char *role = text + h->role.from, *to = memmem(role, h->role.to - h->role.from, " to=", 4);
    if (to) says.recipient = (Span){(size_t)(to - text) + 4, h->role.to};
    for (size_t at = h->channel.from, end; at < h->channel.to; at = end + 1) {
        const char *space = memchr(text + at, ' ', h->channel.to - at);
        end = space ? (size_t)(space - text) : h->channel.to;
        if (at == h->channel.from) says.channel = (Span){at, end};
        else if (starts(text + at, end - at, "to=") && says.recipient.to == says.recipient.from) says.recipient = (Span){at + 3, end};
        else if (!h->has_constrain && end > at) says.type = (Span){at, end};
    }
    return says;
}

/* ------------------------------------------------------------------ messages */

typedef enum { KIND_REASONING, KIND_CONTENT, KIND_CALL, KIND_RAW } Kind;

typedef struct {
    const Gen *g;
    const char *text;
    size_t ready;
    bool done, read_calls;
    Answer *a;
} Reader;

#define FUNCTIONS "functions."

/* Text as the model wrote it, special tokens and all: content, with no newline before it (it holds
 * all there is from where it starts). */
static void add_raw(Answer *a, size_t from, size_t to) {
    answer_add(a, false, (Span){from, to});
    a->piece[a->npiece - 1].sep = false;
}

/* A message's kind by its header: a recipient's a call (when calls are read and it is a function) or
 * raw; else analysis reasoning, any other channel content. */
static Kind message_kind(const Reader *r, const HeaderSays *says) {
    const char *t = r->text;
    size_t n = says->recipient.to - says->recipient.from;
    if (n) return r->read_calls && n > strlen(FUNCTIONS) && starts(t + says->recipient.from, n, FUNCTIONS) ? KIND_CALL : KIND_RAW;
    bool analysis = says->channel.to - says->channel.from == 8 && !memcmp(t + says->channel.from, "analysis", 8);
    return analysis ? KIND_REASONING : KIND_CONTENT;
}

/* A call of a finished answer: the recipient's name after "functions.", the text its arguments: JSON
 * (no content type, or one naming json) written again, else (or when it does not parse) as it is. */
static void add_call(Reader *r, const HeaderSays *says, Span body) {
    if (!r->done) return;
    const char *t = r->text;
    size_t type_len = says->type.to - says->type.from, skip = strlen(FUNCTIONS);
    bool json = !type_len || memmem(t + says->type.from, type_len, "json", 4);
    json_t *args = json ? json_loadb(t + body.from, body.to - body.from, JSON_DECODE_ANY, NULL) : NULL;
    json_t *call = tools_call(r->g->tool_parser, t + says->recipient.from + skip, says->recipient.to - says->recipient.from - skip,
                              args, t + body.from, body.to - body.from);
    json_decref(args);
    if (!r->a->calls) r->a->calls = json_array();
    json_array_append_new(r->a->calls, call);
}

/* A message: its header, its first byte, its text, the byte after its end; ended by its token or not
 * (the answer so far ends in it). A call is held until it ends, then read; one the finished answer
 * ended in is raw, as a message to anything else. An unfinished message's empty text is no piece yet. */
static void add_message(Reader *r, const Header *h, size_t start, Span body, size_t end, bool ended) {
    HeaderSays says = header_read(r->text, h);
    Kind kind = message_kind(r, &says);
    if (kind == KIND_CALL && ended) add_call(r, &says, body);
    else if (kind == KIND_RAW || (kind == KIND_CALL && r->done)) add_raw(r->a, start, end);
    else if (kind != KIND_CALL && (ended || body.to > body.from)) answer_add(r->a, kind == KIND_REASONING, body);
}

/* Whether a message with this header is held while it is written (a call): if the format breaks in
 * its text, nothing of it went out. */
static bool held(const Reader *r, const Header *h) {
    HeaderSays says = header_read(r->text, h);
    return message_kind(r, &says) == KIND_CALL;
}

typedef enum { IN_HEADER, IN_TEXT, BETWEEN } Where;

/* The marks of g within text[0, ready): those the answer holds so far (a stop token's only once done). */
static int marks_within(const Reader *r) {
    int n = 0;
    while (n < r->g->nmarks && r->g->marks[n].at + r->g->marks[n].len <= r->ready &&
           (r->g->marks[n].len || (r->done && r->g->marks[n].at == r->ready)))
        n++;
    return n;
}

/* The header part that text up to `at` closes. */
static void header_close(Header *h, size_t at) {
    Span *open = h->has_constrain ? &h->type : h->has_channel ? &h->channel : &h->role;
    open->to = at;
    if (!h->has_constrain) h->type = (Span){at, at};
    if (!h->has_channel) h->channel = (Span){at, at};
}

/* One mark m at `at` (len bytes) in a header; false when it breaks the format. */
static bool header_mark(Header *h, HarmonyMark m, size_t at, size_t len) {
    header_close(h, at);
    if (m == HARMONY_CHANNEL && !h->has_channel && !h->has_constrain) {
        h->has_channel = true;
        h->channel = h->type = (Span){at + len, at + len};
        return true;
    }
    if (m == HARMONY_CONSTRAIN && !h->has_constrain) {
        h->has_constrain = true;
        h->type = (Span){at + len, at + len};
        return true;
    }
    return false;
}

void harmony_answer(const Gen *g, size_t ready, bool done, Answer *a) {
    Reader r = {g, g->text ? g->text : "", ready, done, g->tool_parser == TOOL_PARSER_OPENAI, a};
    int nmarks = marks_within(&r);
    Where where = IN_HEADER;
    Header h = {0};
    size_t start = 0, body = 0, end = 0, pos = 0;   /* the message's first byte, its text's, its end token's, the next unread */
    bool first = true;
    for (int i = 0; i <= nmarks; i++) {
        const HarmonyAt *m = i < nmarks ? &g->marks[i] : NULL;
        size_t at = m ? m->at : ready, raw = SIZE_MAX;   /* raw: the format broke; all from there is content */
        if (where == BETWEEN && at > pos) raw = end;   /* text outside messages: from the token that ended the last */
        else if (!m) break;
        else if (where == IN_HEADER && m->mark == HARMONY_MESSAGE) {
            header_close(&h, at);
            if (header_state(r.text, &h, first, true) != HEADER_WHOLE) raw = start;
            where = IN_TEXT, body = at + m->len;
        } else if (where == IN_HEADER) {
            if (!header_mark(&h, m->mark, at, m->len)) raw = start;
        } else if (where == IN_TEXT && (m->mark == HARMONY_END || m->mark == HARMONY_CALL || m->mark == HARMONY_RETURN)) {
            add_message(&r, &h, start, (Span){body, at}, at + m->len, true);
            where = BETWEEN, end = at;
            if (a->npiece && a->piece[a->npiece - 1].text.to > end) end = a->piece[a->npiece - 1].text.to;   /* raw took it */
        } else if (where == IN_TEXT) {   /* the text so far stays what it was; a call's never went out */
            if (held(&r, &h)) raw = start;
            else add_message(&r, &h, start, (Span){body, at}, at, false), raw = at;
        } else if (m->mark == HARMONY_START) {
            start = at, first = false, where = IN_HEADER;
            h = (Header){.role = {at + m->len, at + m->len}};
        } else {
            raw = end;
        }
        if (raw != SIZE_MAX) return add_raw(a, raw, ready);
        pos = at + m->len;
    }
    if (where == IN_TEXT) return add_message(&r, &h, start, (Span){body, ready}, ready, false);
    if (where != IN_HEADER) return;
    header_close(&h, ready);
    if (header_state(r.text, &h, first, false) == HEADER_BAD) add_raw(a, start, ready);
}

/* ------------------------------------------------------------------ guided decoding */

/* What comes next before the final message: <|channel|>, a channel's name, an analysis message's
 * text up to <|end|>, <|start|>, the role's name. */
enum { HG_CHANNEL, HG_NAME, HG_ANALYSIS, HG_START, HG_ROLE };

/* The names HG_NAME and HG_ROLE may write: the channels before and of the answer's text, its role. */
static const char *const CHANNELS[] = {"analysis", "final", NULL}, *const ROLES[] = {"assistant", NULL};

/* Whether piece[len] goes on from name[0, have) as the start of one of names (whole: is one). */
static bool name_goes_on(const char *const *names, const char *name, size_t have, const char *piece, size_t len, bool whole) {
    for (int k = 0; names[k]; k++) {
        size_t n = strlen(names[k]);
        if (have + len <= n && !memcmp(names[k], name, have) && !memcmp(names[k] + have, piece, len) && (!whole || have + len == n))
            return true;
    }
    return false;
}

void harmony_guide_mask(const Gen *g, const GuideVocab *v, uint8_t *allowed) {
    const int32_t *id = g->srv->harmony.id;
    int64_t n = guide_vocab_size(v);
    memset(allowed, 0, (size_t)n);
    int step = g->harmony_step;
    const char *const *names = step == HG_NAME ? CHANNELS : step == HG_ROLE ? ROLES : NULL;
    for (int32_t k = 0; (step == HG_ANALYSIS || names) && k < n; k++) {
        size_t len;
        const char *piece = guide_vocab_piece(v, k, &len);   /* special tokens have none */
        allowed[k] = piece && (step == HG_ANALYSIS || name_goes_on(names, g->harmony_name, g->harmony_len, piece, len, false));
    }
    bool named = names && name_goes_on(names, g->harmony_name, 0, g->harmony_name, g->harmony_len, true);
    int32_t next = step == HG_CHANNEL ? id[HARMONY_CHANNEL] : step == HG_START ? id[HARMONY_START] : step == HG_ANALYSIS ? id[HARMONY_END]
                 : named ? id[step == HG_NAME ? HARMONY_MESSAGE : HARMONY_CHANNEL] : -1;
    if (next >= 0 && next < n) allowed[next] = 1;
    for (int k = 0; k < g->adjust.nend; k++)
        if (g->adjust.end_id[k] >= 0 && g->adjust.end_id[k] < n) allowed[g->adjust.end_id[k]] = 0;
}

bool harmony_guide_follow(Gen *g, const GuideVocab *v, int32_t tok) {
    const int32_t *id = g->srv->harmony.id;
    int step = g->harmony_step;
    if ((step == HG_NAME || step == HG_ROLE) && tok != id[HARMONY_MESSAGE] && tok != id[HARMONY_CHANNEL]) {
        size_t len;
        const char *piece = guide_vocab_piece(v, tok, &len);
        if (piece && g->harmony_len + len < sizeof g->harmony_name) {
            memcpy(g->harmony_name + g->harmony_len, piece, len);
            g->harmony_len = (uint8_t)(g->harmony_len + len);
        }
        return false;
    }
    bool final = step == HG_NAME && g->harmony_len == 5 && !memcmp(g->harmony_name, "final", 5);
    g->harmony_step = step == HG_CHANNEL || step == HG_ROLE ? HG_NAME : step == HG_NAME ? HG_ANALYSIS
                    : step == HG_ANALYSIS ? (tok == id[HARMONY_END] ? HG_START : HG_ANALYSIS) : HG_ROLE;
    if (g->harmony_step != step) g->harmony_len = 0;
    return final;
}
