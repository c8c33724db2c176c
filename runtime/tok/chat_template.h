/* chat_template.h — the chat template of a checkpoint (docs/tokenizer.md, "Chat templates"):
 * messages in, the prompt text out, for `mixrun serve`'s /v1/chat/completions.
 *
 * tokenizer_config.json beside the tokenizer's tokenizer.json, with a "chat_template" (or
 * chat_template.jinja beside it, which transformers prefers): that template,
 * rendered by runtime/tok/jinja.c (a Jinja2 subset, exactly as transformers renders it) with
 * add_generation_prompt true and the file's bos_token and eos_token. The turn ends at eos_token, and
 * at the end-of-turn tokens the template writes (<|eot_id|>, <|im_end|>, <end_of_turn>, <|end|>)
 * when the tokenizer has them as special tokens; in gpt-oss' harmony format, at <|return|> and <|call|>
 * instead of <|end|>, which ends a message there. A template the subset refuses is kept as that
 * error: each chat request is answered with it.
 *
 * Without a tokenizer_config.json (or without a chat_template in it), by hand: Llama 3 (a tokenizer holding the special tokens <|begin_of_text|>, <|start_header_id|>,
 * <|end_header_id|> and <|eot_id|>): its tokenizer_config.json template,
 *   <|begin_of_text|> then for each message
 *   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT(trimmed)<|eot_id|>
 *   then <|start_header_id|>assistant<|end_header_id|>\n\n (the generation prompt, when asked).
 * Any other tokenizer is refused, naming what it lacks: no template is guessed. A Llama 3.1 or later
 * tokenizer (it has <|python_tag|>) is refused too: its template differs (a knowledge-date system
 * header). */
#ifndef MIXC_CHAT_TEMPLATE_H
#define MIXC_CHAT_TEMPLATE_H

#include "jinja.h"
#include "mixc.h"
#include "tokenizer.h"

#define CHAT_MAX_STOP 4

/* The special tokens of gpt-oss' harmony format that delimit its messages (HARMONY_TEXTS: their texts,
 * in this order). A tokenizer with them all as special tokens is harmony's: its turns end at
 * <|return|> and <|call|>, not at <|end|> (which ends a message), and mixrun serve reads its answers
 * by their channels. */
typedef enum {
    HARMONY_START, HARMONY_CHANNEL, HARMONY_CONSTRAIN, HARMONY_MESSAGE, HARMONY_END, HARMONY_CALL, HARMONY_RETURN,
    HARMONY_NMARKS
} HarmonyMark;
#define HARMONY_TEXTS {"<|start|>", "<|channel|>", "<|constrain|>", "<|message|>", "<|end|>", "<|call|>", "<|return|>"}
/* Whether t has every harmony token as a special token; their ids in id (-1: one it lacks). */
bool chat_harmony_ids(const Tokenizer *t, int32_t id[HARMONY_NMARKS]);

typedef struct ChatTemplate ChatTemplate;

/* The chat template beside t's tokenizer.json (chat_template.jinja, else tokenizer_config.json's
 * chat_template; bos_token and eos_token from tokenizer_config.json); NULL when there is none (the
 * Llama 3 template by hand then). A file or template that
 * cannot be used is returned too, holding its error (chat_template_error). */
ChatTemplate *chat_template_load(const Tokenizer *t);
/* NULL, or why ct cannot render ("'P': chat_template:LINE:COL: the filter 'x' is not supported ..."). */
const char *chat_template_error(const ChatTemplate *ct);
void chat_template_free(ChatTemplate *ct);

/* Appends the prompt text of the n messages to out (ct's template, or the Llama 3 one by hand when
 * ct is NULL), and the ids of the special tokens that end the assistant's turn to stop_ids (*nstop
 * of them). false with a message in err: ct's error, the template's raise_exception message or
 * failure, or (by hand) a tokenizer without Llama 3's tokens or a role not one of the three. */
bool chat_template_render(const ChatTemplate *ct, const Tokenizer *t, const ChatMessage *m, int n, Buf *out,
                          int32_t stop_ids[CHAT_MAX_STOP], int *nstop, char *err, size_t errlen);
/* How chat_template_render_as renders: transformers' apply_chat_template arguments (vLLM's chat
 * request fields of these names). */
typedef struct {
    bool add_generation_prompt;     /* the header that opens the assistant's turn (chat_template_render's) */
    bool continue_final_message;    /* the last message left open for the model to continue: rendered
                                     * with a tag after its content, the text cut at the tag (and its
                                     * white space before, when the template strips the content), as
                                     * transformers does; refused when the rendering drops the tag or
                                     * the content, or (a template) never reads a message's content */
    const json_t *tools;            /* the request's tools as the template reads them (a list; [] too, which
                                     * transformers and vLLM hand the template as []: Llama 3.1's tells it
                                     * from none); NULL: none */
    const JinjaKwarg *kwargs;       /* [nkwargs] the template's arguments (date_string, enable_thinking,
                                     * any name: vLLM's chat_template_kwargs); the Llama 3 template by
                                     * hand reads none */
    int nkwargs;
    const json_t *documents;        /* vLLM's documents (a list of objects of strings: Cohere's and Granite's
                                     * templates render them); NULL: none. Refused by a template that does
                                     * not read them, and by Llama 3's by hand */
} ChatRender;

/* chat_template_render as `how` says. */
bool chat_template_render_as(const ChatTemplate *ct, const Tokenizer *t, const ChatMessage *m, int n, const ChatRender *how,
                             Buf *out, int32_t stop_ids[CHAT_MAX_STOP], int *nstop, char *err, size_t errlen);

#endif
