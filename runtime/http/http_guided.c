/* http_guided.c — a request's guided decoding (docs/serving.md, "Structured outputs"): its fields
 * (response_format, structured_outputs), the grammar each form compiles into (a JSON Schema's by
 * http_schema.c, a choice's texts, a regex's DFA, a GBNF grammar's by http_grammar.c), and what of
 * the request would take the answer out of it. */
#include "http_guide.h"

#include <stdlib.h>

bool guide_response_format(const json_t *v, json_t **schema_out, ApiError *err) {
    *schema_out = NULL;
    const json_t *type = json_object_get(v, "type"), *js = json_object_get(v, "json_schema");
    const json_t *schema = json_object_get(js, "schema");
    if (json_is_null(v) || (api_is_str(type, "text") && json_object_size(v) == 1)) return true;
    if (api_is_str(type, "json_object") && json_object_size(v) == 1) return (*schema_out = json_pack("{s:s}", "type", "object")), true;
    if (!api_is_str(type, "json_schema") || json_object_size(v) != 2 || !json_is_object(js))
        return api_refuse(err, 400, "field 'response_format' must be {\"type\": \"text\"}, {\"type\": \"json_object\"} or "
                          "{\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}");
    static const char *const KEYS[] = {"name", "description", "schema", "strict", NULL};
    const char *key;
    json_t *x;
    json_object_foreach((json_t *)js, key, x) {
        bool known = false;
        for (int i = 0; KEYS[i]; i++) known |= !strcmp(key, KEYS[i]);
        if (!known) return api_refuse(err, 400, "field 'response_format': json_schema has no key '%.100s'", key);
    }
    if (!json_is_string(json_object_get(js, "name"))) return api_refuse(err, 400, "field 'response_format': json_schema needs its 'name'");
    if (!json_is_object(schema) && !json_is_true(schema))
        return api_refuse(err, 400, "field 'response_format': json_schema needs its 'schema' (an object)");
    *schema_out = json_incref((json_t *)schema);
    return true;
}

bool http_think_tokens(const Tokenizer *tok, int32_t ids[2]) {
    static const char *const TAGS[2] = {"<think>", "</think>"};
    for (int k = 0; k < 2; k++) {
        int32_t *got = NULL;
        int64_t n = 0;
        char e[200];
        bool one = tokenizer_encode(tok, TAGS[k], strlen(TAGS[k]), false, &got, &n, e, sizeof e) && n == 1;
        ids[k] = one ? got[0] : -1;
        free(got);
        if (!one) return false;
    }
    return true;
}

#define CHOICE_MAX_BYTES 4096   /* a structured_outputs choice's text */
#define REGEX_MAX_BYTES 4096    /* structured_outputs' regex (its NFA's nodes bound it before) */
#define GRAMMAR_MAX_BYTES 65536 /* structured_outputs' grammar */

bool guide_structured_outputs(const json_t *v, json_t **spec, GuideForm *form, ApiError *err) {
    *spec = NULL, *form = GUIDE_SCHEMA;
    if (json_is_null(v)) return true;
    static const char *const TAKEN[] = {"json", "json_object", "choice", "regex", "grammar", NULL};
    const char *key, *given = NULL;
    json_t *x;
    if (!json_is_object(v)) return api_refuse(err, 400, "field 'structured_outputs' must be an object");
    json_object_foreach((json_t *)v, key, x) {
        if (json_is_null(x) || json_is_false(x)) continue;   /* vLLM's model: unset */
        char shown[SHOWN_MAX];
        if (!str_listed(TAKEN, key))
            return api_refuse(err, 400, "field 'structured_outputs': '%s' is not supported (only json, json_object, choice, "
                              "regex and grammar)", shown_text(key, strlen(key), shown));
        if (given) return api_refuse(err, 400, "field 'structured_outputs': '%s' and '%s' cannot both be given", given, key);
        given = key;
    }
    const json_t *json = json_object_get(v, "json"), *obj = json_object_get(v, "json_object"), *choice = json_object_get(v, "choice"),
                 *regex = json_object_get(v, "regex"), *grammar = json_object_get(v, "grammar");
    if (json_is_string(json)) {   /* vLLM takes the schema as JSON text too */
        json_t *parsed = json_loadb(json_string_value(json), json_string_length(json), 0, NULL);
        if (!json_is_object(parsed)) return json_decref(parsed), api_refuse(err, 400, "field 'structured_outputs': 'json' is not a JSON object");
        return *spec = parsed, true;
    }
    if (json_is_object(json) || json_is_true(json)) return *spec = json_incref((json_t *)json), true;
    if (json) return api_refuse(err, 400, "field 'structured_outputs': 'json' must be a schema (an object, or its JSON text)");
    if (json_is_true(obj)) return *spec = json_pack("{s:s}", "type", "object"), true;
    if (obj && !json_is_boolean(obj)) return api_refuse(err, 400, "field 'structured_outputs': 'json_object' must be a boolean");
    if (choice) return *spec = json_incref((json_t *)choice), *form = GUIDE_CHOICE, true;
    if (regex) return *spec = json_incref((json_t *)regex), *form = GUIDE_REGEX, true;
    if (grammar) return *spec = json_incref((json_t *)grammar), *form = GUIDE_GRAMMAR, true;
    return true;
}

/* vLLM's structured_outputs choice: the answer exactly one of the texts (not JSON: as they are). */
static GuideGrammar *guide_choices(const json_t *choices, const char *field, ApiError *err) {
    size_t n = json_array_size(choices), i;
    json_t *c;
    bool ok = json_is_array(choices) && n;
    json_array_foreach((json_t *)choices, i, c) ok &= json_is_string(c) && json_string_length(c) && json_string_length(c) <= CHOICE_MAX_BYTES;
    if (!ok) return api_refuse(err, 400, "field '%s': 'choice' must be a non-empty array of non-empty strings (of at most %d "
                               "bytes)", field, CHOICE_MAX_BYTES), NULL;
    GuideGrammar *g = xcalloc(1, sizeof *g);
    GuideNode *any = arena_alloc(&g->arena, sizeof *any);
    const GuideNode **alt = arena_array(&g->arena, n, sizeof *alt);
    json_array_foreach((json_t *)choices, i, c) {
        GuideNode *lit = arena_alloc(&g->arena, sizeof *lit);
        *lit = (GuideNode){.k = GN_LITERAL, .len = json_string_length(c), .max_items = -1, .max_len = -1};
        lit->text = arena_strndup(&g->arena, json_string_value(c), lit->len);
        alt[i] = lit;
    }
    *any = (GuideNode){.k = GN_ANYOF, .alt = alt, .nalt = (int)n, .max_items = -1, .max_len = -1};
    g->root = any;
    g->bare = true;
    return g;
}

/* vLLM's structured_outputs regex: the answer's whole text matches it (Python's re.fullmatch), in the
 * ASCII bytes the guide writes (http_regex.c's subset). */
static GuideGrammar *guide_text_regex(const json_t *regex, const char *field, ApiError *err) {
    if (!json_is_string(regex) || json_string_length(regex) > REGEX_MAX_BYTES)
        return api_refuse(err, 400, "field '%s': 'regex' must be a string (of at most %d bytes)", field, REGEX_MAX_BYTES), NULL;
    GuideGrammar *g = xcalloc(1, sizeof *g);
    GuideNode *text = arena_alloc(&g->arena, sizeof *text);
    char why[200], shown[SHOWN_MAX];
    const char *re = json_string_value(regex);
    *text = (GuideNode){.k = GN_TEXT, .max_items = -1, .max_len = -1};
    text->dfa = guide_regex(&g->arena, re, json_string_length(regex), false, why, sizeof why);
    if (!text->dfa) {
        api_refuse(err, 400, "field '%s': 'regex' %s: %s", field, shown_text(re, json_string_length(regex), shown), why);
        return guide_grammar_free(g), NULL;
    }
    g->root = text;
    g->bare = true;
    return g;
}

/* vLLM's structured_outputs grammar: its GBNF text's (http_grammar.c). */
static GuideGrammar *grammar_of(const json_t *grammar, const char *field, ApiError *err) {
    char why[400];
    GuideGrammar *g = guide_gbnf(json_string_value(grammar), json_string_length(grammar), why, sizeof why);
    if (!g) api_refuse(err, 400, "field '%s': 'grammar' %s", field, why);
    return g;
}

GuideGrammar *guide_grammar_of(const Gen *g, ApiError *err) {
    switch (g->guide_form) {
    case GUIDE_CHOICE: return guide_choices(g->guide_schema, g->guide_field, err);
    case GUIDE_REGEX: return guide_text_regex(g->guide_schema, g->guide_field, err);
    case GUIDE_GRAMMAR:
        if (!json_is_string(g->guide_schema) || json_string_length(g->guide_schema) > GRAMMAR_MAX_BYTES)
            return api_refuse(err, 400, "field '%s': 'grammar' must be a string (of at most %d bytes)", g->guide_field, GRAMMAR_MAX_BYTES), NULL;
        return grammar_of(g->guide_schema, g->guide_field, err);
    case GUIDE_SCHEMA: break;
    }
    return guide_schema(g->guide_schema, g->guide_field, err);
}

const GuideVocab *http_guide_vocab(HttpServer *s) {
    pthread_mutex_lock(&s->guide_mu);
    if (!s->guide_vocab && s->tok) s->guide_vocab = guide_vocab_new(s->tok, s->vocab);
    pthread_mutex_unlock(&s->guide_mu);
    return s->guide_vocab;
}

bool guide_request(HttpServer *s, Gen *g, json_t *spec, GuideForm form, const char *field, ApiError *err) {
    if (spec) {
        if (g->tool_parser) return api_refuse(err, 400, "field '%s': with tools, set tool_choice \"none\" (tool calls are read "
                                              "from the answer's text, which the format guides)", field);
        g->guide_schema = json_incref(spec), g->guide_field = field, g->guide_form = form;
    }
    if (!g->guide_schema) return true;
    const char *f = g->guide_field;
    if (!s->tok) return api_refuse(err, 400, "field '%s': guided decoding needs a tokenizer, and this server has none", f);
    if (g->reasoning == REASONING_OPENAI_GPTOSS && g->tool_parser)
        return api_refuse(err, 400, "field '%s': gpt-oss' calls are messages of harmony's format, which tool_choice \"required\" "
                          "and a named function do not guide", f);
    if (g->reasoning && g->reasoning != REASONING_OPENAI_GPTOSS && !http_think_tokens(s->tok, g->think_ids))
        return api_refuse(err, 400, "field '%s': guided decoding with --reasoning-parser needs <think> and </think> as tokens "
                          "of their own, which this tokenizer lacks", f);
    int32_t top = -1;   /* the largest id of the tags the masks name: a logit of the model's each */
    for (int k = 0; g->reasoning && g->reasoning != REASONING_OPENAI_GPTOSS && k < 2; k++) top = g->think_ids[k] > top ? g->think_ids[k] : top;
    for (int k = 0; g->reasoning == REASONING_OPENAI_GPTOSS && k < HARMONY_NMARKS; k++) top = s->harmony.id[k] > top ? s->harmony.id[k] : top;
    if (top >= s->vocab)
        return api_refuse(err, 400, "field '%s': guided decoding needs the reasoning's tags among the model's ids, and token %d "
                          "is past its vocabulary (%lld)", f, top, (long long)s->vocab);
    g->guide_phase = g->reasoning == REASONING_DEEPSEEK_R1 ? GUIDE_THINKING : g->reasoning == REASONING_QWEN3 ? GUIDE_FIRST
                   : g->reasoning == REASONING_OPENAI_GPTOSS ? GUIDE_HARMONY : GUIDE_CONTENT;
    if (g->ignore_eos) return api_refuse(err, 400, "field '%s': guided decoding ends at the model's end of sequence: not with ignore_eos", f);
    if (g->min_tokens) return api_refuse(err, 400, "field '%s': guided decoding with min_tokens is not supported", f);
    guide_grammar_free(g->guide_grammar);
    g->guide_grammar = guide_grammar_of(g, err);
    return g->guide_grammar != NULL && http_guide_vocab(s);
}
