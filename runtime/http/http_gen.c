/* http_gen.c — generations and the engine thread of `mixrun serve` (http.h). */
#include "http.h"

#include "mixc_params.h"   /* MIXC_ARGMAX_NAN */
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void gen_defaults(Gen *g, HttpServer *s, bool chat) {
    *g = (Gen){.srv = s, .chat = chat, .sample = {.temperature = 1, .top_p = 1}, .logprobs = -1, .created = (int64_t)time(NULL),
               .reasoning = chat ? s->opt.reasoning_parser : REASONING_OFF, .include_reasoning = true,
               .tokens_as_ids = s->opt.tokens_as_ids, .prompt_logprobs = -1};
}

Reply *reply_new(HttpServer *s, bool chat, int nchoice) {
    Reply *r = xcalloc(1, sizeof *r);
    r->srv = s;
    r->refs = 1;
    r->n = 1;
    r->nchoice = nchoice;
    r->choice = xcalloc((size_t)nchoice, sizeof *r->choice);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_mutex_lock(&s->mu);
    int64_t id = ++s->next_id;
    pthread_mutex_unlock(&s->mu);
    snprintf(r->id, sizeof r->id, "%s-%lld", chat ? "chatcmpl" : "cmpl", (long long)id);
    uint64_t rng = (uint64_t)id * 0x9E3779B97F4A7C15ull ^ (uint64_t)time(NULL);   /* without a seed */
    for (int i = 0; i < nchoice; i++) {
        Gen *g = &r->choice[i];
        gen_defaults(g, s, chat);
        g->reply = r;
        g->index = i;
        g->rng = rng + (uint64_t)i;
        g->req.id = xstrdup(r->id);
    }
    return r;
}

void gen_free_fields(Gen *g) {
    json_decref(g->tools);
    json_decref(g->guide_schema);
    guide_grammar_free(g->guide_grammar);
    guide_free(g->guide);
    logit_adjust_free(&g->adjust);
    for (int i = 0; i < g->nstop; i++) free(g->stop[i]);
    FREE_ALL(g->req.id, g->req.prompt, g->res.output, g->text, g->marks, g->allowed, g->masked, g->lp,
             g->prompt_lp, g->bad_ids, g->bad_off, g->banned, g->stop_token_ids, g->prompt_text, g->stop);
}

void reply_release(Reply *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left) return;
    for (int i = 0; i < r->nchoice; i++) gen_free_fields(&r->choice[i]);
    free(r->choice);
    json_decref(r->responses);
    json_decref(r->conversation);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* A copy of n elements of size bytes each (NULL for NULL). */
static void *dup_array(const void *a, size_t n, size_t size) {
    if (!a) return NULL;
    void *c = xmalloc(n * size + 1);
    memcpy(c, a, n * size);
    return c;
}

void gen_copy_request(Gen *dst, const Gen *src) {
    Reply *reply = dst->reply;
    int index = dst->index;
    char *id = dst->req.id;
    uint64_t rng = dst->rng;
    *dst = *src;
    dst->reply = reply;
    dst->index = index;
    dst->req.id = id;
    dst->rng = rng;
    json_incref(dst->tools);
    json_incref(dst->guide_schema);
    int64_t vocab = src->srv->vocab;
    guide_grammar_share(dst->guide_grammar);
    if (src->guide_grammar) {   /* a guide of its own, from the start, of the grammar compiled at parse */
        dst->guide = guide_new(guide_grammar_share(src->guide_grammar));
        dst->allowed = xmalloc((size_t)vocab + 1);
        if (src->logprobs >= 0) dst->masked = xmalloc(((size_t)vocab + 1) * sizeof *dst->masked);
    } else if (src->allowed_ids) {   /* allowed_token_ids: the same mask at every pick */
        dst->allowed = dup_array(src->allowed, (size_t)vocab + 1, 1);
        dst->adjust.allowed = dst->allowed;
    }
    dst->req.prompt = dup_array(src->req.prompt, (size_t)src->req.prompt_len, sizeof *src->req.prompt);
    dst->stop = dup_array(src->stop, (size_t)src->nstop, sizeof *src->stop);
    for (int i = 0; i < src->nstop; i++) dst->stop[i] = xstrdup(src->stop[i]);
    dst->adjust.bias_id = dup_array(src->adjust.bias_id, (size_t)src->adjust.nbias, sizeof *src->adjust.bias_id);
    dst->adjust.bias = dup_array(src->adjust.bias, (size_t)src->adjust.nbias, sizeof *src->adjust.bias);
    if (src->nbad) {
        dst->bad_off = dup_array(src->bad_off, (size_t)src->nbad + 1, sizeof *src->bad_off);
        dst->bad_ids = dup_array(src->bad_ids, (size_t)src->bad_off[src->nbad], sizeof *src->bad_ids);
        dst->banned = xcalloc((size_t)src->nbad, sizeof *dst->banned);
    }
    dst->adjust.ban = dst->banned;
    dst->adjust.counts = dup_array(src->adjust.counts, (size_t)vocab, sizeof *src->adjust.counts);
    dst->adjust.seen = dup_array(src->adjust.seen, (size_t)vocab, sizeof *src->adjust.seen);
    dst->adjust.end_id = dup_array(src->adjust.end_id, (size_t)src->adjust.nend, sizeof *src->adjust.end_id);
    dst->stop_token_ids = dup_array(src->stop_token_ids, (size_t)src->nstop_token_ids, sizeof *src->stop_token_ids);
    dst->prompt_text = dup_array(src->prompt_text, src->prompt_text_len + 1, 1);
    dst->prompt_lp = dup_array(src->prompt_lp, (size_t)src->req.prompt_len, sizeof *src->prompt_lp);
}

/* g joins the queue behind every Gen of its priority or less: the least priority first, then arrival
 * (with fcfs every priority is 0: arrival alone). A request's choices stay together, in order. Server
 * mutex held. */
static void queue_insert(HttpServer *s, Gen *g) {
    if (!s->tail || s->tail->priority <= g->priority) {
        if (s->tail) s->tail->next = g;
        else s->head = g;
        s->tail = g;
        return;
    }
    Gen **p = &s->head;
    while ((*p)->priority <= g->priority) p = &(*p)->next;
    g->next = *p;
    *p = g;
}

bool reply_submit(HttpServer *s, Reply *r) {
    pthread_mutex_lock(&s->mu);
    bool ok = !s->stopping && !s->failed;
    for (int i = 0; ok && i < r->nchoice; i++) {
        Gen *g = &r->choice[i];
        r->refs++;   /* the engine's; no other thread has r yet */
        g->arrived_at = mono_seconds();
        queue_insert(s, g);
        s->m.queued++;
    }
    if (ok) pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void reply_cancel(Reply *r) {
    HttpServer *s = r->srv;
    pthread_mutex_lock(&s->mu);
    bool any = false;
    for (int i = 0; i < r->nchoice; i++) {
        Gen *g = &r->choice[i];
        pthread_mutex_lock(&r->mu);
        bool done = g->state == GEN_DONE;
        pthread_mutex_unlock(&r->mu);
        if (!done && !g->cancelled) g->cancelled = any = true;
    }
    if (any) pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

bool reply_done(const Reply *r, const char **error) {
    bool done = true;
    *error = NULL;
    for (int i = 0; i < r->nchoice; i++) {
        done &= r->choice[i].state == GEN_DONE;
        if (!*error && r->choice[i].error[0]) *error = r->choice[i].error;
    }
    return done;
}

/* ------------------------------------------------------------------ the engine's hooks */

/* Logits with NaN or Inf would pick some token (or give log-probabilities) silently: the generation
 * fails instead, naming where (`what` and the position) and what the first non-finite value is;
 * hook_emitted ends it. A generation that failed already keeps its first fault (an echoed prompt's
 * logits come before its first pick). */
static void fail_logits(Gen *g, const char *what, int64_t pos, bool nan) {
    pthread_mutex_lock(&g->reply->mu);
    if (!g->error[0])
        snprintf(g->error, sizeof g->error, "the logits at %s %lld hold %s (the %s backend)", what, (long long)pos,
                 nan ? "NaN" : "Inf", g->srv->b->name);
    pthread_mutex_unlock(&g->reply->mu);
}

/* fail_logits at the position of g's next id; 0, the token an engine hook returns then. */
static int32_t refuse_logits(Gen *g, bool nan) {
    fail_logits(g, "position", g->req.prompt_len + g->nvisible, nan);
    return 0;
}

/* The log-probabilities of g's next id, tok (the engine thread's: it alone writes res). */
static void record_logprobs(Gen *g, const float *logits, int64_t vocab, int32_t tok) {
    int64_t at = g->res.noutput, offset = 0;
    if (at > 0) {
        int64_t chars;
        free(api_token_text(g->srv, g->res.output[at - 1], &(size_t){0}, &chars));
        offset = g->lp[at - 1].text_offset + chars;   /* lp[at - 1] is the engine's to read */
    }
    GenLogprob one = {.text_offset = offset};
    token_logprobs(logits, vocab, tok, g->logprobs, &one.lp);
    pthread_mutex_lock(&g->reply->mu);
    if (at >= g->lp_cap) {
        g->lp_cap = at < 16 ? 16 : 2 * at;
        g->lp = xrealloc(g->lp, (size_t)g->lp_cap * sizeof *g->lp);
    }
    g->lp[at] = one;
    pthread_mutex_unlock(&g->reply->mu);
}

/* Whether tok ends g (an end id: not in its text). */
static bool ends(const Gen *g, int32_t tok) {
    for (int k = 0; k < g->adjust.nend; k++)
        if (g->adjust.end_id[k] == tok) return true;
    return false;
}

/* Guided decoding: the tokens that keep g's answer in its grammar (and the end ids once it is whole)
 * are the only ones its pick may take; qwen3's first token may also be <think>; while the reasoning
 * is open, any token but the end ids and those that would write </think> otherwise than as its token;
 * gpt-oss' answer, harmony's format up to the final message's text.
 * An answer with nowhere to go (none can be: each token the mask allows leads somewhere) may only end. */
static void guide_allow(Gen *g) {
    const GuideVocab *v = g->srv->guide_vocab;
    if (g->guide_phase == GUIDE_THINKING) {
        size_t keep = g->text_len < 16 ? g->text_len : 16;   /* the tag's length at most */
        guide_thinking_mask(v, g->text ? g->text + g->text_len - keep : "", keep, "</think>", g->think_ids[1], g->adjust.end_id,
                            g->adjust.nend, g->allowed);
    } else if (g->guide_phase == GUIDE_HARMONY) {
        harmony_guide_mask(g, v, g->allowed);
    } else if (!guide_mask(g->guide, v, g->adjust.end_id, g->adjust.nend, g->allowed)) {
        for (int k = 0; k < g->adjust.nend; k++) g->allowed[g->adjust.end_id[k]] = 1;
    }
    if (g->guide_phase == GUIDE_FIRST) g->allowed[g->think_ids[0]] = 1;
    g->adjust.allowed = g->allowed;
}

/* g's answer goes on by tok (not an end id): through the reasoning's phases, then the guide. A token
 * that leaves the grammar (the mask allowed it: none can) fails the generation rather than give text
 * that looks guided. */
static void guide_follow(Gen *g, int32_t tok) {
    if (g->guide_phase == GUIDE_HARMONY) {
        if (harmony_guide_follow(g, g->srv->guide_vocab, tok)) g->guide_phase = GUIDE_CONTENT;
        return;
    }
    if (g->guide_phase == GUIDE_FIRST) g->guide_phase = tok == g->think_ids[0] ? GUIDE_THINKING : GUIDE_CONTENT;
    else if (g->guide_phase == GUIDE_THINKING) {
        if (tok == g->think_ids[1]) g->guide_phase = GUIDE_CONTENT;
        return;
    }
    if (g->guide_phase != GUIDE_CONTENT || guide_advance(g->guide, g->srv->guide_vocab, tok)) return;
    pthread_mutex_lock(&g->reply->mu);
    if (!g->error[0]) snprintf(g->error, sizeof g->error, "guided decoding: token %d left the answer's grammar", tok);
    pthread_mutex_unlock(&g->reply->mu);
}

/* The logits a guided pick's log-probabilities are of: the mask's, the tokens it takes out at -inf (vLLM
 * applies its grammar's bitmask before it takes the logprobs). */
static const float *guided_logits(Gen *g, const float *logits, int64_t vocab) {
    for (int64_t i = 0; i < vocab; i++) g->masked[i] = g->allowed[i] ? logits[i] : -INFINITY;
    return g->masked;
}

/* bad_words: the last id of each sequence whose other ids end the generated ones is banned at this
 * pick (vLLM's, over the generated ids alone). */
static void ban_bad_words(Gen *g) {
    int n = 0;
    for (int k = 0; k < g->nbad; k++) {
        const int32_t *w = g->bad_ids + g->bad_off[k];
        int64_t len = g->bad_off[k + 1] - g->bad_off[k], have = g->res.noutput;
        if (len - 1 > have || (len > 1 && memcmp(g->res.output + have - (len - 1), w, (size_t)(len - 1) * sizeof *w))) continue;
        g->banned[n++] = w[len - 1];
    }
    g->adjust.nban = n;
}

/* The token from the logits: sampled, or greedy (the backend's argmax code unless logit_bias or a
 * penalty changed the logits, or a guide allows only some tokens); its log-probabilities from the
 * model's logits as they are (a guided pick's: as its mask leaves them). */
static int32_t hook_pick(void *user, const float *logits, int64_t vocab, int32_t code, int share) {
    Gen *g = user;
    if (code < 0) return refuse_logits(g, code == MIXC_ARGMAX_NAN);   /* the logits hold a NaN or an Inf */
    SampleScratch *scratch = &g->srv->scratch[share];
    g->adjust.banning = g->res.noutput < g->min_tokens;
    ban_bad_words(g);
    if (g->guide) guide_allow(g);
    const float *use = logit_adjust_any(&g->adjust) ? adjust_logits(scratch, logits, &g->adjust) : logits;
    int32_t tok = g->sample.temperature > 0 ? sample_token(scratch, use, &g->sample, &g->rng)
                  : use == logits     ? code
                                      : model_greedy_token(use, vocab);
    if (g->guide && !ends(g, tok)) guide_follow(g, tok);
    if (g->logprobs >= 0) record_logprobs(g, g->guide ? guided_logits(g, logits, vocab) : logits, vocab, tok);
    if (g->adjust.counts) g->adjust.counts[tok]++;
    if (g->adjust.seen) g->adjust.seen[tok] = 1;
    return tok;
}

/* Greedy requests (temperature 0) without log-probabilities, logit_bias, penalties or ids banned
 * by min_tokens or bad_words take the backend's argmax: no logits come back for them. */
static bool hook_wants_logits(void *user) {
    Gen *g = user;
    g->adjust.banning = g->res.noutput < g->min_tokens;
    ban_bad_words(g);
    return g->sample.temperature > 0 || g->logprobs >= 0 || logit_adjust_any(&g->adjust) || g->guide;
}

/* An echo with logprobs wants the logits of every prompt token. */
static bool hook_wants_prompt_logits(void *user) {
    const Gen *g = user;
    return g->prompt_lp != NULL;
}

/* Row r of the logits of prompt positions [from, from + n) gives the prompt's id at from + r + 1 its
 * log-probabilities (the last position's go to the first generated id, through hook_pick). */
static void hook_prompt_logits(void *user, int64_t from, int64_t n, const float *logits, int64_t vocab) {
    Gen *g = user;
    if (n > g->req.prompt_len - 1 - from) n = g->req.prompt_len - 1 - from;
    if (n <= 0 || g->error[0]) return;   /* a generation that failed keeps its first fault */
    bool nan = false;
    int64_t bad = token_logprobs_rows(logits, n, vocab, g->req.prompt + from + 1, g->prompt_ntop, g->prompt_lp + from + 1,
                                      &nan);
    if (bad >= 0) fail_logits(g, "prompt position", from + bad, nan);
}

static int32_t hook_pick_greedy(void *user, int32_t code) {
    return code < 0 ? refuse_logits(user, code == MIXC_ARGMAX_NAN) : code;
}

/* Bytes at the end of text[0, len) that may still change: an incomplete UTF-8 sequence, decoded
 * as U+FFFD until its next bytes come. */
static size_t unsettled(const char *text, size_t len) {
    size_t keep = 0;
    while (len - keep >= 3 && !memcmp(text + len - keep - 3, "\xEF\xBF\xBD", 3)) keep += 3;
    return keep;
}

/* Cuts g's text at the first stop string that starts at or after `ready` and ends within
 * [0, settled) (after it with include_stop); true when one does. Else `ready` moves up to settled less the longest suffix that
 * is a proper prefix of a stop string. g->reply->mu held. */
static bool find_stop(Gen *g, size_t settled) {
    const char *text = g->text, *first = NULL;
    size_t first_len = 0;
    for (int i = 0; i < g->nstop && g->ready <= settled; i++) {
        const char *at = memmem(text + g->ready, settled - g->ready, g->stop[i], strlen(g->stop[i]));
        if (at && (!first || at < first)) first = at, first_len = strlen(g->stop[i]);
    }
    if (first) {
        g->text_len = g->ready = (size_t)(first - text) + (g->include_stop ? first_len : 0);
        return true;
    }
    size_t hold = 0;
    for (int i = 0; i < g->nstop; i++)
        for (size_t k = strlen(g->stop[i]) - 1; k > hold; k--)
            if (k <= settled && !memcmp(text + settled - k, g->stop[i], k)) {
                hold = k;
                break;
            }
    if (settled - hold > g->ready) g->ready = settled - hold;
    return false;
}

/* The ids a decode of g's new ids starts from: the answer's before dec_ids as vLLM's incremental
 * detokenizer keeps them (the ids of the text's last piece; before the first, the prompt's last
 * DECODE_PROMPT_CONTEXT). A decoder step that acts at the start of a text (Llama 2's and Mistral's
 * Strip, Metaspace's first '▁') then sees the new ids in place: the new text is the decode of
 * context and new ids less the context's own, and a word keeps its leading space. */
#define DECODE_PROMPT_CONTEXT 5   /* vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET */

/* The text of the context ids and of g's ids [dec_ids, nvisible) after them (*ctx_len bytes of it the
 * context's), or NULL with the error in g. */
static char *decode_in_context(Gen *g, bool skip, size_t *len, size_t *ctx_len) {
    const int32_t *ctx = g->res.output + g->dec_ctx;
    int64_t nctx = g->dec_ids - g->dec_ctx, nnew = g->nvisible - g->dec_ids;
    if (!g->dec_ids) {
        nctx = g->req.prompt_len < DECODE_PROMPT_CONTEXT ? g->req.prompt_len : DECODE_PROMPT_CONTEXT;
        ctx = g->req.prompt + g->req.prompt_len - nctx;
    }
    int32_t *ids = xmalloc((size_t)(nctx + nnew + 1) * sizeof *ids);
    if (nctx) memcpy(ids, ctx, (size_t)nctx * sizeof *ids);
    if (nnew) memcpy(ids + nctx, g->res.output + g->dec_ids, (size_t)nnew * sizeof *ids);
    char err[256], *before = tokenizer_decode(g->srv->tok, ids, nctx, skip, ctx_len, err, sizeof err);
    char *all = before ? tokenizer_decode(g->srv->tok, ids, nctx + nnew, skip, len, err, sizeof err) : NULL;
    free(ids);
    /* no context (a prompt id past the tokenizer's vocabulary), or a text that does not extend it: the
     * new ids alone */
    if (!before || (all && (*len < *ctx_len || memcmp(all, before, *ctx_len)))) {
        free(all);
        *ctx_len = 0;
        all = tokenizer_decode(g->srv->tok, g->res.output + g->dec_ids, nnew, skip, len, err, sizeof err);
    }
    free(before);
    if (!all) snprintf(g->error, sizeof g->error, "the generated %s", err);   /* an id past the tokenizer's vocabulary */
    return all;
}

/* The text of g's visible ids, cut at a stop string; true at a stop. Only the ids after the last
 * piece of text that ended on a whole character are decoded again, after that piece's ids
 * (decode_in_context). g->reply->mu held. */
static bool update_text(Gen *g) {
    if (!g->srv->tok) return false;
    size_t len, ctx_len;
    bool skip = g->skip_special && g->reasoning != REASONING_OPENAI_GPTOSS;   /* harmony's reader cuts at its tokens */
    char *all = decode_in_context(g, skip, &len, &ctx_len);
    if (!all) return true;
    len -= ctx_len;
    g->text = xrealloc(g->text, g->dec_bytes + len + 1);
    memcpy(g->text + g->dec_bytes, all + ctx_len, len + 1);
    free(all);
    g->text_len = g->dec_bytes + len;
    size_t loose = unsettled(g->text, g->text_len);
    if (!loose && len) {   /* a piece of text: the next ids are decoded after its ids */
        g->dec_ctx = g->dec_ids;
        g->dec_ids = g->nvisible;
        g->dec_bytes = g->text_len;
    }
    if (g->nvisible < g->min_tokens) {   /* no stop string ends the text of the first min_tokens */
        g->ready = g->text_len - loose;
        return false;
    }
    return find_stop(g, g->text_len - loose);
}

static bool hook_emitted(void *user, int32_t tok) {
    Gen *g = user;
    pthread_mutex_lock(&g->reply->mu);
    bool stop = g->error[0] != 0 || ends(g, tok);   /* an end id: counted in usage, not in the text */
    bool visible = !stop;
    if (visible) {
        g->nvisible++;
        stop = update_text(g);
    }
    if (g->reasoning == REASONING_OPENAI_GPTOSS && !g->error[0]) harmony_note(g, tok, visible);
    if (stop && !g->error[0]) g->finish = "stop";
    if (g->state == GEN_QUEUED) g->state = GEN_RUNNING;
    pthread_cond_broadcast(&g->reply->cv);
    pthread_mutex_unlock(&g->reply->mu);
    return stop;
}

/* g leaves the engine's running list (the engine thread's). */
static void unlist(HttpServer *s, Gen *g) {
    for (int i = 0; i < s->nrunning; i++)
        if (s->running[i] == g) {
            s->running[i] = s->running[--s->nrunning];
            return;
        }
}

static void hook_finished(void *user) {
    Gen *g = user;
    HttpServer *s = g->srv;
    pthread_mutex_lock(&s->mu);
    unlist(s, g);
    s->m.finished++;
    s->m.generation_tokens += g->res.noutput;
    http_metrics_observe(&s->m.ttft, g->res.ttft_s);
    if (g->res.noutput > 1) http_metrics_observe(&s->m.tpot, g->res.tpot_s);
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&g->reply->mu);
    g->state = GEN_DONE;
    if (g->text && !g->finish && g->nvisible >= g->min_tokens && find_stop(g, g->text_len))
        g->finish = "stop";   /* in its last bytes */
    if (!g->finish) g->finish = "length";
    g->ready = g->text_len;
    pthread_cond_broadcast(&g->reply->cv);
    pthread_mutex_unlock(&g->reply->mu);
    reply_release(g->reply);
}

/* ------------------------------------------------------------------ the engine thread */

/* g ends without running further: cancelled, or the engine failed (error set). Server mutex held. */
static void end_gen(HttpServer *s, Gen *g, const char *error) {
    pthread_mutex_lock(&g->reply->mu);
    g->state = GEN_DONE;
    if (error) snprintf(g->error, sizeof g->error, "%s", error);
    pthread_cond_broadcast(&g->reply->cv);
    pthread_mutex_unlock(&g->reply->mu);
    reply_release(g->reply);
    (void)s;
}

/* The cancelled Gens leave the queue and the engine. Server mutex held. */
static void drop_cancelled(HttpServer *s) {
    for (int i = 0; i < s->nrunning; i++) {
        Gen *g = s->running[i];
        if (!g->cancelled) continue;
        serve_engine_cancel(s->e, g);
        s->running[i--] = s->running[--s->nrunning];
        s->m.cancelled++;
        end_gen(s, g, NULL);
    }
    for (Gen **p = &s->head; *p;) {
        Gen *g = *p;
        if (!g->cancelled) {
            p = &g->next;
            continue;
        }
        *p = g->next;
        if (s->tail == g) s->tail = NULL;
        s->m.queued--;
        s->m.cancelled++;
        end_gen(s, g, NULL);
    }
    if (!s->tail)
        for (Gen *g = s->head; g; g = g->next) s->tail = g;
}

/* Admits queued Gens in order while the engine takes them; false when the backend failed. Server
 * mutex held. */
static bool admit_queued(HttpServer *s) {
    while (s->head) {
        Gen *g = s->head;
        int j = g->index % g->reply->n;   /* a prompt's j-th choice forks its first's prefill */
        int got = serve_engine_admit_fork(s->e, &g->req, &g->res, g->arrived_at, g, j ? g - j : NULL);
        if (got < 0) return false;
        if (got == 0) break;
        s->head = g->next;
        if (!s->head) s->tail = NULL;
        g->next = NULL;
        s->running[s->nrunning++] = g;
        s->m.queued--;
        s->m.prompt_tokens += g->req.prompt_len;
    }
    return true;
}

/* The backend failed: every Gen ends with its error, and the server answers 503 from now on. */
static void fail_all(HttpServer *s) {
    snprintf(s->fail_msg, sizeof s->fail_msg, "the %s backend failed: %s", s->b->name, s->b->err);
    fprintf(stderr, "%s serve: %s\n", prog_name(), s->fail_msg);
    s->failed = true;
    while (s->nrunning) end_gen(s, s->running[--s->nrunning], s->fail_msg);
    while (s->head) {
        Gen *g = s->head;
        s->head = g->next;
        end_gen(s, g, s->fail_msg);
    }
    s->tail = NULL;
    s->m.queued = 0;
}

const ServeHooks http_engine_hooks = {.pick = hook_pick, .wants_logits = hook_wants_logits,
                                      .wants_prompt_logits = hook_wants_prompt_logits, .prompt_logits = hook_prompt_logits,
                                      .pick_greedy = hook_pick_greedy,
                                      .emitted = hook_emitted, .finished = hook_finished};

void *http_engine_main(void *server) {
    HttpServer *s = server;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        drop_cancelled(s);
        bool ok = admit_queued(s);
        ServeEngineStats st = serve_engine_stats(s->e);
        s->m.running = st.busy;
        s->m.kv_used = st.kv_used;
        s->m.pages_used = st.pages_used;
        s->m.pages_shared = st.pages_shared;
        s->m.forked_tokens = st.forked_tokens;
        s->m.cached_tokens = st.cached_tokens;
        if (ok && !st.busy) {
            if (s->stopping && !s->head) break;
            pthread_cond_wait(&s->wake, &s->mu);
            continue;
        }
        if (ok) {
            pthread_mutex_unlock(&s->mu);
            ok = serve_engine_step(s->e) >= 0;
            pthread_mutex_lock(&s->mu);
        }
        if (!ok) {
            fail_all(s);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
