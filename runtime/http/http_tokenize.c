/* http_tokenize.c — vLLM's /tokenize (a prompt's or messages' ids, as a generation would take them) and
 * /detokenize (ids' text) (docs/serving.md, "The HTTP server"). */
#include "http_parse.h"

#include <stdlib.h>

char *api_tokenize_json(HttpServer *s, json_t *body, ApiError *err) {
    bool chat = json_is_object(body) && json_object_get(body, "messages");
    Gen g;
    gen_defaults(&g, s, chat);
    Parse p = {.s = s, .g = &g, .route = chat ? ROUTE_TOKENIZE_CHAT : ROUTE_TOKENIZE, .add_special = !chat,
               .render.add_generation_prompt = true};
    bool ok = json_is_object(body) ? api_take_fields(&p, body, err) : api_refuse(err, 400, "the body is not a JSON object");
    if (ok && !chat && !p.prompt) ok = api_refuse(err, 400, "missing field 'prompt' (or 'messages')");
    ok = ok && (chat ? api_chat_prompt(&p, err) : api_completion_prompt(&p, p.prompt, err));
    char *text = NULL;
    if (ok && p.token_strs && !s->tok) ok = api_refuse(err, 400, "field 'return_token_strs' needs a tokenizer, and this server has none");
    if (ok) {
        json_t *ids = json_array(), *strs = p.token_strs ? json_array() : json_null();
        for (int64_t i = 0; i < g.req.prompt_len; i++) {
            json_array_append_new(ids, json_integer(g.req.prompt[i]));
            size_t len = 0;
            const char *piece = p.token_strs ? tokenizer_id_to_token(s->tok, g.req.prompt[i], &len) : NULL;
            json_t *str = piece ? json_stringn(piece, len) : NULL;   /* a tokenizer.json's strings are UTF-8 */
            if (p.token_strs) json_array_append_new(strs, str ? str : json_null());
        }
        text = api_json_text(json_pack("{s:I, s:I, s:o, s:o}", "count", (json_int_t)g.req.prompt_len, "max_model_len",
                                       (json_int_t)s->context, "tokens", ids, "token_strs", strs));
    }
    gen_free_fields(&g);
    json_decref(p.tools);
    return text;
}

char *api_detokenize_json(HttpServer *s, json_t *body, ApiError *err) {
    Gen g;
    gen_defaults(&g, s, false);
    Parse p = {.s = s, .g = &g, .route = ROUTE_DETOKENIZE};
    bool ok = json_is_object(body) ? api_take_fields(&p, body, err) : api_refuse(err, 400, "the body is not a JSON object");
    if (ok && !json_object_get(body, "tokens")) ok = api_refuse(err, 400, "missing field 'tokens'");
    if (ok && !s->tok) ok = api_refuse(err, 400, "detokenizing needs a tokenizer, and this server has none: start it with --tokenizer");
    char *text = NULL, *answer = NULL, e[256];
    size_t len = 0;
    if (ok && !(text = tokenizer_decode(s->tok, g.req.prompt, g.req.prompt_len, false, &len, e, sizeof e)))
        ok = api_refuse(err, 400, "field 'tokens': %s", e);
    if (ok) answer = api_json_text(json_pack("{s:s%}", "prompt", text, len));
    free(text);
    gen_free_fields(&g);
    return answer;
}
