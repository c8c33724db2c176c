/* http_reasoning.c — a chat answer's reasoning read apart from its content (--reasoning-parser, vLLM's
 * option; docs/serving.md, "Reasoning"). Reasoning models write their thinking between <think> and
 * </think>, then the answer:
 *   - deepseek_r1: the chat template opens the block (DeepSeek-R1's distills end the prompt in
 *     "<think>\n"), so the answer is reasoning from its start up to </think>; a <think> the model
 *     writes itself at the very start is passed over.
 *   - qwen3: the model opens the block itself (Qwen 3's template with thinking on), so only an answer
 *     starting with <think> has reasoning; any other (thinking off: the template wrote an empty block)
 *     is all content.
 * The reasoning ends at the first </think>; the content is what follows it. An answer that ends
 * before </think> is all reasoning. One rule serves whole answers and streams alike: a stream sends
 * every part as soon as it cannot change, and its pieces join into the whole answer's parts. */
#include "http.h"

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"

bool reasoning_parser_named(const char *name, ReasoningParser *parser) {
    if (!strcmp(name, "deepseek_r1")) return *parser = REASONING_DEEPSEEK_R1, true;
    if (!strcmp(name, "qwen3")) return *parser = REASONING_QWEN3, true;
    if (!strcmp(name, "openai_gptoss")) return *parser = REASONING_OPENAI_GPTOSS, true;
    return false;
}

AnswerParts reasoning_parts(ReasoningParser p, const char *text, size_t ready, bool done) {
    AnswerParts a = {0};
    size_t open = strlen(THINK_OPEN), close = strlen(THINK_CLOSE);
    if (p == REASONING_OFF) return a.has_content = true, a.content = (Span){0, ready}, a;
    if (!ready) text = "";   /* no text yet: NULL */
    if (!done && ready < open && !memcmp(text, THINK_OPEN, ready)) return a;   /* the opening tag may come */
    bool opened = ready >= open && !memcmp(text, THINK_OPEN, open);
    if (p == REASONING_QWEN3 && !opened) return a.has_content = true, a.content = (Span){0, ready}, a;
    size_t from = opened ? open : 0;
    const char *end = memmem(text + from, ready - from, THINK_CLOSE, close);
    a.has_reasoning = true;
    if (!end) {
        a.reasoning = (Span){from, ready - (done ? 0 : api_partial_tag(text + from, ready - from, THINK_CLOSE))};
        return a;
    }
    size_t at = (size_t)(end - text);
    a.reasoning = (Span){from, at};
    a.has_content = true;
    a.content = (Span){at + close, ready};
    return a;
}
