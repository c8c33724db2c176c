/* chat_template.h — the chat templates mixc renders by hand (docs/tokenizer.md, "Chat templates"):
 * messages in, the prompt text out, for `mixrun serve`'s /v1/chat/completions.
 *
 * Llama 3 (a tokenizer holding the special tokens <|begin_of_text|>, <|start_header_id|>,
 * <|end_header_id|> and <|eot_id|>): its tokenizer_config.json template,
 *   <|begin_of_text|> then for each message
 *   <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT(trimmed)<|eot_id|>
 *   then <|start_header_id|>assistant<|end_header_id|>\n\n (the generation prompt).
 * Any other tokenizer is refused, naming what it lacks: no template is guessed. A Llama 3.1 or later
 * tokenizer (it has <|python_tag|>) is refused too: its template differs (a knowledge-date system
 * header). */
#ifndef MIXC_CHAT_TEMPLATE_H
#define MIXC_CHAT_TEMPLATE_H

#include "mixc.h"
#include "tokenizer.h"

typedef struct {
    const char *role;       /* "system", "user" or "assistant" */
    const char *content;    /* UTF-8, len bytes */
    size_t len;
} ChatMessage;

#define CHAT_MAX_STOP 2

/* Appends the prompt text of the n messages to out, and the ids of the special tokens that end
 * the assistant's turn to stop_ids (*nstop of them). false with a message in err when the
 * tokenizer has no template mixc renders, or a role is not one of the three. */
bool chat_template_render(const Tokenizer *t, const ChatMessage *m, int n, Buf *out, int32_t stop_ids[CHAT_MAX_STOP],
                          int *nstop, char *err, size_t errlen);

#endif
