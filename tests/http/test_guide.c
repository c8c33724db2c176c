/* test_guide.c — guided decoding below HTTP (runtime/http/http_schema.c, http_guide.c): the schemas
 * refused by name; texts the guide takes token by token (each allowed by the mask before it goes on,
 * the end ids allowed once the value is whole) and texts it refuses; and random walks through the
 * masks of the llama3 fixture's vocabulary, whose every answer must parse as JSON and validate against
 * its schema (checked here by a validator of its own). Prints PASS/FAIL lines and "N passed, N
 * failed"; exit 1 on failure.
 * Usage: test_guide TOKENIZER */
#include "http.h"
#include "http_guide.h"

#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void check(const char *name, bool ok, const char *got, const char *want) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (ok) passed++;
    else printf("    got:  %s\n    want: %s\n", got ? got : "(null)", want ? want : "(null)"), failed++;
}

static const Tokenizer *tok;
static GuideVocab *vocab;
static int64_t nvocab;
static int32_t END_ID;   /* the end of sequence here: the id past the tokenizer's (no bytes of its own) */

/* schema's grammar; "choice:" then a JSON list of texts: structured_outputs' choice of them; "regex:"
 * or "grammar:" then a JSON string: structured_outputs' regex or GBNF grammar. */
static GuideGrammar *compile_text(const char *schema, char *err, size_t n) {
    json_error_t je;
    GuideForm form = !strncmp(schema, "choice:", 7) ? GUIDE_CHOICE : !strncmp(schema, "regex:", 6) ? GUIDE_REGEX
                   : !strncmp(schema, "grammar:", 8) ? GUIDE_GRAMMAR : GUIDE_SCHEMA;
    json_t *s = json_loads(strchr(schema, ':') && form != GUIDE_SCHEMA ? strchr(schema, ':') + 1 : schema, JSON_DECODE_ANY, &je);
    ApiError e = {0};
    Gen g = {.guide_schema = s, .guide_form = form, .guide_field = "response_format"};
    GuideGrammar *gr = s ? guide_grammar_of(&g, &e) : NULL;
    snprintf(err, n, "%s", s ? e.msg : je.text);
    json_decref(s);
    return gr;
}

/* ------------------------------------------------------------------ refusals */

static void test_refused(void) {
    static const struct { const char *name, *schema, *words; } CASES[] = {
        {"refused-pattern-backreference", "{\"type\": \"string\", \"pattern\": \"^(a)\\\\1$\"}", "'\\1' is not supported"},
        {"refused-pattern-lookahead", "{\"type\": \"string\", \"pattern\": \"^(?=a)a$\"}", "other than '(?:' is not supported (lookarounds, named groups, flags)"},
        {"refused-pattern-non-ascii", "{\"type\": \"string\", \"pattern\": \"^é$\"}", "a non-ASCII character in the pattern"},
        {"refused-pattern-anchored-alternatives", "{\"type\": \"string\", \"pattern\": \"^a|b$\"}", "'|' beside '^' or '$' outside a group"},
        {"refused-pattern-inner-anchor", "{\"type\": \"string\", \"pattern\": \"a^b\"}", "'^' is supported only at the pattern's start"},
        {"refused-pattern-lengths-none", "{\"type\": \"string\", \"pattern\": \"^(ab)+$\", \"minLength\": 3, \"maxLength\": 3}",
         "no text of the pattern or format has a length within 'minLength' and 'maxLength'"},
        {"refused-format-too-long", "{\"type\": \"string\", \"format\": \"uuid\", \"maxLength\": 35}", "no text of the pattern or format"},
        {"refused-pattern-min-length-huge", "{\"type\": \"string\", \"pattern\": \"a\", \"minLength\": 2000}", "must be at most 1024"},
        {"refused-pattern-unclosed", "{\"type\": \"string\", \"pattern\": \"(ab\"}", "a group '(' is not closed"},
        {"refused-pattern-repeat-huge", "{\"type\": \"string\", \"pattern\": \"^a{1000}$\"}", "a repeat count past 64"},
        {"refused-pattern-unwritable", "{\"type\": \"string\", \"pattern\": \"^[\\\\x00-\\\\x07]$\"}", "no string the guide writes (ASCII) matches it"},
        {"refused-pattern-states", "{\"type\": \"string\", \"pattern\": \"[ab]*a[ab]{20}$\"}", "needs more than 400 states"},
        {"refused-pattern-empty-class", "{\"type\": \"string\", \"pattern\": \"a[]b\"}", "an empty class '[]' or '[^]'"},
        {"refused-pattern-trailing-backslash", "{\"type\": \"string\", \"pattern\": \"a\\\\\"}", "the escape '\\ ' is not supported"},
        {"refused-format-email", "{\"type\": \"string\", \"format\": \"email\"}", "the format 'email' is not supported"},
        {"refused-format-and-pattern", "{\"type\": \"string\", \"format\": \"date\", \"pattern\": \"^2\"}", "'pattern' beside 'format'"},
        {"refused-multiple-of-number", "{\"type\": \"number\", \"multipleOf\": 2}", "'multipleOf' of a number is not supported"},
        {"refused-multiple-of-fraction", "{\"type\": \"integer\", \"multipleOf\": 0.5}", "a whole number from 1 to 1e17"},
        {"refused-multiple-of-untyped", "{\"multipleOf\": 2}", "'multipleOf' without a 'type'"},
        {"refused-multiple-of-bounds", "{\"type\": \"integer\", \"multipleOf\": 3, \"minimum\": 4, \"maximum\": 5}",
         "bounds leave no value that is a multiple of 'multipleOf'"},
        {"refused-number-bounds-empty", "{\"type\": \"number\", \"minimum\": 1, \"exclusiveMaximum\": 1}", "bounds leave no value"},
        {"refused-number-bounds-finer", "{\"type\": \"number\", \"minimum\": 0.12345678901234568, \"maximum\": 0.12345678901234568}",
         "leave no value of at most 16 decimals"},
        {"refused-number-bound-huge", "{\"type\": \"number\", \"exclusiveMinimum\": -1e18}", "within 1e17"},
        {"refused-unique-items", "{\"type\": \"array\", \"uniqueItems\": true}", "'uniqueItems' is supported for items that are constants"},
        {"refused-unique-reals", "{\"type\": \"array\", \"items\": {\"enum\": [1, 1.5]}, \"uniqueItems\": true}", "numbers without a fraction"},
        {"refused-unique-min-items", "{\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, \"uniqueItems\": true, \"minItems\": 3}",
         "'minItems' is above the 2 constants"},
        {"refused-unique-not-boolean", "{\"type\": \"array\", \"uniqueItems\": 1}", "'uniqueItems' must be a boolean"},
        {"refused-pattern-properties", "{\"type\": \"object\", \"patternProperties\": {}}", "'patternProperties' is not supported"},
        {"refused-all-of-two", "{\"allOf\": [{\"type\": \"string\"}, {\"maxLength\": 3}]}", "'allOf' of more than one"},
        {"refused-one-of-overlap", "{\"oneOf\": [{\"type\": \"string\"}, {\"type\": \"string\", \"maxLength\": 2}]}",
         "'oneOf' whose branches may hold values of one type"},
        {"refused-one-of-untyped", "{\"oneOf\": [{\"type\": \"string\"}, {\"minLength\": 2}]}", "'oneOf' whose branches"},
        {"refused-ref-outside", "{\"$ref\": \"https://example.com/s.json\"}", "'$ref' must point into the schema"},
        {"refused-ref-missing", "{\"$ref\": \"#/$defs/Nope\"}", "'$ref' must point into the schema"},
        {"refused-ref-beside", "{\"$defs\": {\"A\": {}}, \"$ref\": \"#/$defs/A\", \"type\": \"string\"}", "'type' beside '$ref'"},
        {"refused-required-unknown", "{\"type\": \"object\", \"properties\": {\"a\": {}}, \"required\": [\"b\"]}",
         "'required' names b, which 'properties' does not hold"},
        {"refused-enum-none-fit", "{\"type\": \"integer\", \"enum\": [\"a\", 1.5]}", "no value of 'enum' or 'const' validates"},
        {"refused-max-below-min", "{\"type\": \"string\", \"minLength\": 3, \"maxLength\": 2}", "'maxLength' is below 'minLength'"},
        {"refused-integer-bounds-empty", "{\"type\": \"integer\", \"minimum\": 3, \"exclusiveMaximum\": 3}", "bounds leave no value"},
        {"refused-integer-bound-huge", "{\"type\": \"integer\", \"maximum\": 1e30}", "within 1e17"},
        {"refused-false-schema", "false", "a schema must be an object or true"},
        {"refused-grammar-undefined", "grammar:\"root ::= a\"", "'grammar' line 1, column 10: the rule 'a' is not defined"},
        {"refused-grammar-left-recursion", "grammar:\"root ::= root \\\"a\\\" | \\\"b\\\"\"", "left recursion through the rule 'root'"},
        {"refused-grammar-never-finishes", "grammar:\"root ::= \\\"a\\\" root\"", "the rule 'root' never finishes"},
        {"refused-grammar-empty-repeat", "grammar:\"root ::= (\\\"a\\\"?)*\"", "a repetition of what may be empty"},
        {"refused-grammar-no-root", "grammar:\"a ::= \\\"x\\\"\"", "no rule 'root'"},
        {"refused-grammar-unclosed", "grammar:\"root ::= \\\"abc\"", "line 1, column 14: a string is not closed"},
        {"refused-grammar-twice", "grammar:\"root ::= \\\"a\\\"\\nroot ::= \\\"b\\\"\"", "line 2, column 1: the rule 'root' is defined twice"},
        {"refused-grammar-non-ascii-class", "grammar:\"root ::= [\\u00e9]\"", "a non-ASCII character"},
        {"refused-grammar-stray", "grammar:\"root ::= \\\"a\\\" )\"", "line 1, column 14: a rule must start with its name and '::='"},
        {"refused-regex-not-string", "regex:42", "'regex' must be a string"},
        {"refused-regex-named-group", "regex:\"(?P<x>a)\"", "'regex' (?P<x>a): a group '(?' other than '(?:'"},
        {"refused-regex-python-anchor", "regex:\"a\\\\Z\"", "the escape '\\Z' is not supported"},
        {"refused-regex-inner-anchor", "regex:\"a$|b\"", "'$' is supported only at"},
        {"refused-type-unknown", "{\"type\": \"int\"}", "the type 'int' is not a JSON Schema type"},
        {"refused-branch-conflict", "{\"type\": \"string\", \"anyOf\": [{\"type\": \"integer\"}]}",
         "'type' and a branch of 'anyOf' both set 'type'"},
        {"refused-items-array", "{\"type\": \"array\", \"items\": [{}]}", "'items' as an array is not supported"},
        {"refused-bounds-untyped", "{\"minimum\": 1}", "'minimum' without a 'type'"},
        {"refused-choice-empty-text", "choice:[\"a\", \"\"]", "'choice' must be a non-empty array of non-empty strings"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        char err[700];
        GuideGrammar *g = compile_text(CASES[i].schema, err, sizeof err);
        check(CASES[i].name, !g && strstr(err, CASES[i].words) && strstr(err, "field 'response_format': "), g ? "compiled" : err,
              CASES[i].words);
        guide_grammar_free(g);
    }
}

/* ------------------------------------------------------------------ texts token by token */

/* Whether the guide of schema takes text, token by token (the tokenizer's ids of it), each allowed by
 * the mask first, and then allows the end. *why: where it stopped. */
static bool takes(const char *schema, const char *text, char *why, size_t n) {
    char err[700];
    GuideGrammar *g = compile_text(schema, err, sizeof err);
    if (!g) return snprintf(why, n, "refused: %s", err), false;
    Guide *gd = guide_new(g);
    unsigned char *allowed = malloc((size_t)nvocab);
    int32_t *ids = NULL;
    int64_t nids = 0;
    bool ok = tokenizer_encode(tok, text, strlen(text), false, &ids, &nids, err, sizeof err);
    snprintf(why, n, "whole");
    for (int64_t i = 0; ok && i <= nids; i++) {
        guide_mask(gd, vocab, &END_ID, 1, allowed);
        int32_t id = i < nids ? ids[i] : END_ID;
        if (!allowed[id]) {
            snprintf(why, n, "token %lld (id %d) not allowed", (long long)i, id);
            ok = false;
        } else if (i < nids && !guide_advance(gd, vocab, id)) {
            snprintf(why, n, "token %lld (id %d) left the grammar", (long long)i, id);
            ok = false;
        }
    }
    free(ids);
    free(allowed);
    guide_free(gd);
    return ok;
}

static void test_texts(void) {
    static const struct { const char *name, *schema, *text; bool takes; } CASES[] = {
        {"object-any", "{\"type\": \"object\"}", "{\"a\": [1, -2.5e+10, \"x\\u00e9\\ud83d\\ude00\"], \"b\": {\"c\": null}}", true},
        {"object-any-empty", "{\"type\": \"object\"}", "{ }", true},
        {"object-any-not-array", "{\"type\": \"object\"}", "[1]", false},
        {"any-number-top", "true", "-0.5e-3", true},
        {"any-string-top", "{}", "\"\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"", true},
        {"props-in-order", "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, \"b\": {\"type\": \"string\"}}, "
         "\"required\": [\"a\", \"b\"]}", "{\"a\": 12, \"b\": \"hi\"}", true},
        {"props-out-of-order", "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, \"b\": {\"type\": \"string\"}}, "
         "\"required\": [\"a\", \"b\"]}", "{\"b\": \"hi\", \"a\": 12}", false},
        {"props-required-missing", "{\"type\": \"object\", \"properties\": {\"a\": {}, \"b\": {}}, \"required\": [\"b\"]}", "{\"a\": 1}", false},
        {"props-optional-skipped", "{\"type\": \"object\", \"properties\": {\"a\": {}, \"b\": {}, \"c\": {}}, \"required\": [\"c\"]}",
         "{\"b\": 1, \"c\": 2}", true},
        {"props-no-extra", "{\"type\": \"object\", \"properties\": {\"a\": {}}}", "{\"a\": 1, \"z\": 2}", false},
        {"props-empty-object-only", "{\"type\": \"object\", \"additionalProperties\": false}", "{\"a\": 1}", false},
        {"props-extra-values", "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"integer\"}}", "{\"a\": 1, \"b\": -3}", true},
        {"props-extra-values-bad", "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"integer\"}}", "{\"a\": \"s\"}", false},
        {"string-max-length", "{\"type\": \"string\", \"maxLength\": 3}", "\"a\\u00e9\xe4\xb8\xad\"", true},
        {"string-max-length-over", "{\"type\": \"string\", \"maxLength\": 3}", "\"abcd\"", false},
        {"string-min-length", "{\"type\": \"string\", \"minLength\": 2}", "\"\xf0\x9f\x98\x80\"", false},
        {"string-pair-one-point", "{\"type\": \"string\", \"maxLength\": 1}", "\"\\ud83d\\ude00\"", true},
        {"string-lone-low", "{\"type\": \"string\"}", "\"\\ude00\"", false},
        {"string-lone-high", "{\"type\": \"string\"}", "\"\\ud83dx\"", false},
        {"string-nul-escape", "{\"type\": \"string\"}", "\"\\u0000\"", false},
        {"string-control", "{\"type\": \"string\"}", "\"a\tb\"", false},
        {"integer-bounds", "{\"type\": \"integer\", \"minimum\": -5, \"maximum\": 120}", "-5", true},
        {"integer-bounds-in", "{\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": 10, \"maximum\": 120}}",
         "[10, 99, 120]", true},
        {"integer-bounds-over", "{\"type\": \"integer\", \"minimum\": -5, \"maximum\": 120}", "121", false},
        {"integer-bounds-under", "{\"type\": \"integer\", \"minimum\": -5, \"maximum\": 120}", "-6", false},
        {"integer-exclusive", "{\"type\": \"integer\", \"exclusiveMinimum\": 0}", "0", false},
        {"integer-no-fraction", "{\"type\": \"integer\"}", "1.0", false},
        {"integer-no-leading-zero", "{\"type\": \"integer\"}", "012", false},
        {"integer-no-minus-zero", "{\"type\": \"integer\"}", "-0", false},
        {"pattern-whole", "{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3}$\"}", "\"AB-123\"", true},
        {"pattern-short", "{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3}$\"}", "\"AB-12\"", false},
        {"pattern-case", "{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3}$\"}", "\"ab-123\"", false},
        {"pattern-anywhere", "{\"type\": \"string\", \"pattern\": \"\\\\d\"}", "\"x1y\"", true},
        {"pattern-anywhere-none", "{\"type\": \"string\", \"pattern\": \"\\\\d\"}", "\"xy\"", false},
        {"pattern-groups", "{\"type\": \"string\", \"pattern\": \"^a(?:b|c)*d?$\"}", "\"abcbcd\"", true},
        {"pattern-escapes", "{\"type\": \"string\", \"pattern\": \"^a\\\"b\\\\\\\\c\\\\td$\"}", "\"a\\\"b\\\\c\\td\"", true},
        {"pattern-no-unicode-escape", "{\"type\": \"string\", \"pattern\": \"^a$\"}", "\"\\u0061\"", false},
        {"pattern-repeat-range", "{\"type\": \"string\", \"pattern\": \"^(ab){2,3}$\"}", "\"ababab\"", true},
        {"pattern-repeat-range-over", "{\"type\": \"string\", \"pattern\": \"^(ab){2,3}$\"}", "\"abababab\"", false},
        {"pattern-dot-no-newline", "{\"type\": \"string\", \"pattern\": \"^.$\"}", "\"\\n\"", false},
        {"format-date", "{\"type\": \"string\", \"format\": \"date\"}", "\"2024-02-28\"", true},
        {"format-date-30-feb", "{\"type\": \"string\", \"format\": \"date\"}", "\"2024-02-30\"", false},
        {"format-date-leap-day", "{\"type\": \"string\", \"format\": \"date\"}", "\"2024-02-29\"", true},
        {"format-date-leap-day-400", "{\"type\": \"string\", \"format\": \"date-time\"}", "\"2000-02-29T00:00:00Z\"", true},
        {"format-date-leap-day-year-4", "{\"type\": \"string\", \"format\": \"date\"}", "\"0004-02-29\"", true},
        {"format-date-no-leap-day-100", "{\"type\": \"string\", \"format\": \"date\"}", "\"1900-02-29\"", false},
        {"format-date-no-leap-day", "{\"type\": \"string\", \"format\": \"date\"}", "\"2023-02-29\"", false},
        {"format-date-year-0", "{\"type\": \"string\", \"format\": \"date\"}", "\"0000-01-01\"", false},
        {"format-time", "{\"type\": \"string\", \"format\": \"time\"}", "\"12:00:00.123456+05:30\"", true},
        {"format-time-hour-24", "{\"type\": \"string\", \"format\": \"time\"}", "\"24:00:00Z\"", false},
        {"format-date-time", "{\"type\": \"string\", \"format\": \"date-time\"}", "\"2026-12-06T11:47:09Z\"", true},
        {"format-date-time-no-offset", "{\"type\": \"string\", \"format\": \"date-time\"}", "\"2026-12-06T11:47:09\"", false},
        {"format-uuid", "{\"type\": \"string\", \"format\": \"uuid\"}", "\"123e4567-e89b-12d3-a456-426614174000\"", true},
        {"format-ipv4", "{\"type\": \"string\", \"format\": \"ipv4\"}", "\"192.168.0.255\"", true},
        {"format-ipv4-leading-zero", "{\"type\": \"string\", \"format\": \"ipv4\"}", "\"192.168.01.1\"", false},
        {"format-untyped", "{\"format\": \"date\"}", "\"2024-01-31\"", true},
        {"number-bounds-in", "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", "0.5", true},
        {"number-bounds-top", "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", "1.0", true},
        {"number-bounds-minus-zero", "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", "-0", true},
        {"number-bounds-over", "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", "1.0000000000000002", false},
        {"number-bounds-under", "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", "-0.1", false},
        {"number-bounds-no-exponent", "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", "1e-1", false},
        {"number-bounds-in-object", "{\"type\": \"object\", \"properties\": {\"p\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}}, \"required\": [\"p\"]}", "{\"p\": 0.25}", true},
        {"number-exclusive-min", "{\"type\": \"number\", \"exclusiveMinimum\": 0}", "0.0", false},
        {"number-exclusive-min-above", "{\"type\": \"number\", \"exclusiveMinimum\": 0}", "0.0000000000000001", true},
        {"number-min-as-double", "{\"type\": \"number\", \"minimum\": 0.1}", "0.1", true},
        {"number-min-as-double-below", "{\"type\": \"number\", \"minimum\": 0.1}", "0.09999999999999999", false},
        {"number-max-tie-odd", "{\"type\": \"number\", \"maximum\": 2251799813685248.5}", "2251799813685248.75", false},
        {"number-max-below-tie", "{\"type\": \"number\", \"maximum\": 2251799813685248.5}", "2251799813685248.74", true},
        {"number-max-tie-even", "{\"type\": \"number\", \"maximum\": 2251799813685249}", "2251799813685249.25", true},
        {"number-max-past-tie", "{\"type\": \"number\", \"maximum\": 2251799813685249}", "2251799813685249.26", false},
        {"number-bounds-digits", "{\"type\": \"number\", \"minimum\": -1e17}", "-12345678901234567.25", false},
        {"number-forms", "{\"type\": \"array\", \"items\": {\"type\": \"number\"}}", "[0, -0, 1.5, 2e10, 3E-2, -4.25e+1]", true},
        {"number-no-dot-end", "{\"type\": \"number\"}", "1.", false},
        {"number-18-digits", "{\"type\": \"number\"}", "922337203685477580.5", true},
        {"number-19-digits", "{\"type\": \"number\"}", "9999999999999999999", false},
        {"number-exp-digits", "{\"type\": \"number\"}", "1e999", false},
        {"enum", "{\"enum\": [\"a\", 1, null, {\"k\": [true]}]}", "{\"k\":[true]}", true},
        {"enum-spaced", "{\"enum\": [{\"k\": 1}]}", "{\"k\": 1}", false},
        {"const", "{\"const\": \"x\"}", "\"x\"", true},
        {"type-list", "{\"type\": [\"integer\", \"null\"]}", "null", true},
        {"any-of", "{\"anyOf\": [{\"type\": \"string\", \"maxLength\": 1}, {\"type\": \"array\"}]}", "[\"long string\"]", true},
        {"array-min-items", "{\"type\": \"array\", \"minItems\": 2}", "[1]", false},
        {"array-max-items", "{\"type\": \"array\", \"maxItems\": 1}", "[1, 2]", false},
        {"array-items", "{\"type\": \"array\", \"items\": {\"type\": \"boolean\"}}", "[true, false]", true},
        {"unique-items", "{\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\", 3, null]}, \"uniqueItems\": true}", "[3, \"b\", null, \"a\"]", true},
        {"unique-items-repeated", "{\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\"]}, \"uniqueItems\": true}", "[\"a\", \"b\", \"a\"]", false},
        {"unique-items-ref", "{\"$defs\": {\"C\": {\"type\": \"string\", \"enum\": [\"red\", \"green\"]}}, \"type\": \"array\", "
         "\"items\": {\"$ref\": \"#/$defs/C\"}, \"uniqueItems\": true}", "[\"green\", \"red\"]", true},
        {"unique-items-untyped", "{\"uniqueItems\": true, \"items\": {\"type\": \"boolean\"}}", "[false, false]", false},
        {"ref-recursive", "{\"$defs\": {\"N\": {\"type\": \"object\", \"properties\": {\"next\": {\"anyOf\": [{\"$ref\": \"#/$defs/N\"}, "
         "{\"type\": \"null\"}]}}, \"required\": [\"next\"]}}, \"$ref\": \"#/$defs/N\"}", "{\"next\": {\"next\": null}}", true},
        {"ref-root", "{\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}", "[[], [[]]]", true},
        {"white-space", "{\"type\": \"object\"}", " \n{ \"a\" :\t1 ,\r\n\"b\" : [ ] }", true},
        {"white-space-capped", "{\"type\": \"object\"}", "{                         }", false},
        {"trailing-text", "{\"type\": \"object\"}", "{} x", false},
        {"choice", "choice:[\"sunny\", \"rainy day\", \"sun\"]", "rainy day", true},
        {"choice-prefix-of-another", "choice:[\"sunny\", \"sun\"]", "sun", true},
        {"choice-no-space-before", "choice:[\"sunny\"]", " sunny", false},
        {"choice-not-whole", "choice:[\"sunny\"]", "sunn", false},
        {"choice-no-quotes", "choice:[\"sunny\"]", "\"sunny\"", false},
        {"pattern-max-length", "{\"type\": \"string\", \"pattern\": \"^[a-z]+$\", \"maxLength\": 3}", "\"abc\"", true},
        {"pattern-past-max-length", "{\"type\": \"string\", \"pattern\": \"^[a-z]+$\", \"maxLength\": 3}", "\"abcd\"", false},
        {"pattern-min-length", "{\"type\": \"string\", \"pattern\": \"^(ab)+$\", \"minLength\": 3}", "\"abab\"", true},
        {"pattern-below-min-length", "{\"type\": \"string\", \"pattern\": \"^(ab)+$\", \"minLength\": 3}", "\"ab\"", false},
        {"format-min-length", "{\"type\": \"string\", \"format\": \"date\", \"minLength\": 10}", "\"2024-02-29\"", true},
        {"grammar", "grammar:\"root ::= (\\\"yes\\\" | \\\"no\\\") [.!]? [0-9]{1,3}\"", "yes!42", true},
        {"grammar-other", "grammar:\"root ::= (\\\"yes\\\" | \\\"no\\\") [.!]? [0-9]{1,3}\"", "no7", true},
        {"grammar-not-whole", "grammar:\"root ::= (\\\"yes\\\" | \\\"no\\\") [.!]? [0-9]{1,3}\"", "yes", false},
        {"grammar-past-repeat", "grammar:\"root ::= (\\\"yes\\\" | \\\"no\\\") [.!]? [0-9]{1,3}\"", "yes!1234", false},
        {"grammar-recursive", "grammar:\"root ::= pair*\\npair ::= \\\"(\\\" pair* \\\")\\\"\"", "(()())()", true},
        {"grammar-unbalanced", "grammar:\"root ::= pair*\\npair ::= \\\"(\\\" pair* \\\")\\\"\"", "())", false},
        {"grammar-empty", "grammar:\"root ::= \\\"a\\\"?\"", "", true},
        {"grammar-rules-comments", "grammar:\"root ::= a b # two\\na ::= \\\"x\\\"+\\nb ::= [a-c]{2}\"", "xxab", true},
        {"grammar-unicode-escape", "grammar:\"root ::= \\\"\\\\u00e9t\\\\u00e9\\\"\"", "\xc3\xa9t\xc3\xa9", true},
        {"regex", "regex:\"\\\\d{3}-[a-z]+\"", "123-abc", true},
        {"regex-short", "regex:\"\\\\d{3}-[a-z]+\"", "12-abc", false},
        {"regex-whole-not-search", "regex:\"\\\\d{3}-[a-z]+\"", "123-abc!", false},
        {"regex-no-space-before", "regex:\"[a-z]+\"", " abc", false},
        {"regex-white-space-its-own", "regex:\"\\\\s*(yes|no)\\n\"", " \n yes\n", true},
        {"regex-anchors", "regex:\"^[A-Z][a-z]+$\"", "Paris", true},
        {"regex-empty-text", "regex:\"(ab)*\"", "", true},
        {"regex-ascii-only", "regex:\".+\"", "caf\xc3\xa9", false},
        {"regex-json-unquoted", "regex:\"[0-9]+\"", "\"42\"", false},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        char why[800];
        bool took = takes(CASES[i].schema, CASES[i].text, why, sizeof why);
        check(CASES[i].name, took == CASES[i].takes, why, CASES[i].takes ? "whole" : "refused");
    }
}

/* ------------------------------------------------------------------ bounded numbers, byte by byte */

/* A bounded number's schema, its bounds as the client reads them. */
typedef struct {
    const char *name, *schema;
    double lo, hi;
    bool xlo, xhi;      /* exclusive */
} NumberBounds;

static int32_t char_id[128];   /* the token of each printable ASCII character alone (-1: none) */

static void char_ids(void) {
    for (int c = 0; c < 128; c++) {
        char one = (char)c;
        int32_t *ids = NULL;
        int64_t n = 0;
        char err[100];
        char_id[c] = c >= 0x20 && c < 0x7f && tokenizer_encode(tok, &one, 1, false, &ids, &n, err, sizeof err) && n == 1 ? ids[0] : -1;
        free(ids);
    }
}

/* What the client makes of t under b: a JSON number the guide may write (no exponent, at most 18
 * digits, 16 after the point), parsed to a double (strtod: correctly rounded) within the bounds. */
static bool number_valid(const char *t, const NumberBounds *b) {
    const char *p = t + (*t == '-');
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9')) return false;
    int digits = 0, frac = 0;
    while (*p >= '0' && *p <= '9') p++, digits++;
    if (*p == '.') {
        if (*++p < '0' || *p > '9') return false;
        while (*p >= '0' && *p <= '9') p++, frac++;
    }
    if (*p || digits + frac > 18 || frac > 16) return false;
    double v = strtod(t, NULL);
    return (b->xlo ? v > b->lo : v >= b->lo) && (b->xhi ? v < b->hi : v <= b->hi);
}

/* The guide after t, byte by byte: 0 when it leaves the grammar, 1 taken, 2 whole. */
static int guide_after(const char *schema, const char *t) {
    char err[300];
    Guide *gd = guide_new(compile_text(schema, err, sizeof err));
    bool ok = true;
    for (const char *c = t; *c && ok; c++) ok = guide_advance(gd, vocab, char_id[(unsigned char)*c]);
    int r = !ok ? 0 : guide_ends(gd) ? 2 : 1;
    guide_free(gd);
    return r;
}

/* From prefix t (taken), every byte of alphabet the guide takes leads on, depth bytes more: a taken
 * text is whole or takes one byte more. The first dead end into bad. */
static void no_dead_end(const char *schema, char *t, size_t len, int depth, const char *alphabet, char *bad, size_t n) {
    bool on = false;
    for (const char *a = alphabet; *a && !bad[0]; a++) {
        t[len] = *a, t[len + 1] = 0;
        int r = guide_after(schema, t);
        on |= r > 0;
        if (r && depth > 1) no_dead_end(schema, t, len + 1, depth - 1, alphabet, bad, n);
    }
    t[len] = 0;
    if (!on && !bad[0] && depth > 1 && guide_after(schema, t) == 1) snprintf(bad, n, "'%s' takes no byte and is not whole", t);
}

static void test_number_bounds(void) {
    static const NumberBounds CASES[] = {
        {"unit", "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", 0, 1, false, false},
        {"signed", "{\"type\": \"number\", \"minimum\": -2.5, \"exclusiveMaximum\": 3.14159}", -2.5, 3.14159, false, true},
        {"tenth", "{\"type\": \"number\", \"minimum\": 0.1, \"maximum\": 0.1}", 0.1, 0.1, false, false},
        {"negative", "{\"type\": \"number\", \"exclusiveMinimum\": -10, \"maximum\": -0.05}", -10, -0.05, true, false},
        {"above", "{\"type\": \"number\", \"exclusiveMinimum\": 99.5}", 99.5, INFINITY, true, false},
    };
    static const char ALL[] = "-.0123456789";
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        const NumberBounds *b = &CASES[i];
        char t[16], bad[200] = "";
        long texts = 0;
        for (long code = 1; code <= 12 + 144 + 1728 + 20736 && !bad[0]; code++) {   /* every text of 1 to 4 bytes */
            long k = code, len = 0;
            for (long span = 12; k > span; span *= 12) k -= span, len++;
            for (long j = 0, r = k - 1; j <= len; j++, r /= 12) t[j] = ALL[r % 12];
            t[len + 1] = 0;
            bool whole = guide_after(b->schema, t) == 2, want = number_valid(t, b);
            if (whole != want) snprintf(bad, sizeof bad, "'%s': %s, the client %s it", t, whole ? "whole" : "not whole", want ? "takes" : "refuses");
            texts++;
        }
        char name[80];
        snprintf(name, sizeof name, "number-bounds-exhaustive-%s", b->name);
        check(name, !bad[0], bad, "every text of up to 4 bytes whole exactly when the client takes it");
        t[0] = 0;
        no_dead_end(b->schema, t, 0, 8, "-.0159", bad, sizeof bad);
        snprintf(name, sizeof name, "number-bounds-no-dead-end-%s", b->name);
        check(name, !bad[0], bad, "every taken text of up to 8 bytes of -.0159 goes on or is whole");
    }
}

/* An integer's text as the guide writes it (no "-0", no leading zero) within [lo, hi], a multiple of m. */
static bool integer_valid(const char *t, long long lo, long long hi, long long m) {
    const char *d = t + (*t == '-');
    if (!*d || (d[0] == '0' && (d[1] || d != t))) return false;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9') return false;
    long long v = atoll(t);
    return v >= lo && v <= hi && v % m == 0;
}

/* An integer's multipleOf with its bounds: every text of 1 to 4 bytes of "-0123456789" is whole
 * exactly when integer_valid takes it, and none of up to 5 bytes is a dead end. */
static void test_integer_multiples(void) {
    static const struct { const char *name, *schema; long long lo, hi, m; } CASES[] = {
        {"seven", "{\"type\": \"integer\", \"multipleOf\": 7, \"minimum\": -30, \"exclusiveMaximum\": 50}", -30, 49, 7},
        {"25", "{\"type\": \"integer\", \"multipleOf\": 25.0}", LLONG_MIN, LLONG_MAX, 25},
        {"one-left", "{\"type\": \"integer\", \"multipleOf\": 1000, \"minimum\": 1001, \"maximum\": 2999}", 1001, 2999, 1000},
        {"negative", "{\"type\": \"integer\", \"multipleOf\": 3, \"maximum\": -2}", LLONG_MIN, -2, 3},
    };
    static const char ALL[] = "-0123456789";
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        char t[16], bad[200] = "", name[80];
        for (long code = 1; code <= 11 + 121 + 1331 + 14641 && !bad[0]; code++) {   /* every text of 1 to 4 bytes */
            long k = code, len = 0;
            for (long span = 11; k > span; span *= 11) k -= span, len++;
            for (long j = 0, r = k - 1; j <= len; j++, r /= 11) t[j] = ALL[r % 11];
            t[len + 1] = 0;
            bool whole = guide_after(CASES[i].schema, t) == 2, want = integer_valid(t, CASES[i].lo, CASES[i].hi, CASES[i].m);
            if (whole != want) snprintf(bad, sizeof bad, "'%s': %s, the validator %s it", t, whole ? "whole" : "not whole", want ? "takes" : "refuses");
        }
        snprintf(name, sizeof name, "integer-multiple-exhaustive-%s", CASES[i].name);
        check(name, !bad[0], bad, "every text of up to 4 bytes whole exactly when the validator takes it");
        t[0] = 0;
        no_dead_end(CASES[i].schema, t, 0, 5, ALL, bad, sizeof bad);
        snprintf(name, sizeof name, "integer-multiple-no-dead-end-%s", CASES[i].name);
        check(name, !bad[0], bad, "every taken text of up to 5 bytes goes on or is whole");
    }
}

static bool pattern_found(const char *re, const char *t);

/* A pattern's lengths: every string of up to 6 characters of "abc" is whole exactly when the pattern
 * matches it and its length is within the bounds, and no prefix of up to 9 bytes is a dead end. */
static void test_pattern_lengths(void) {
    static const struct { const char *name, *schema, *re; int lo, hi; } CASES[] = {
        {"pairs", "{\"type\": \"string\", \"pattern\": \"^(ab|c)*$\", \"minLength\": 3, \"maxLength\": 5}", "^(ab|c)*$", 3, 5},
        {"search", "{\"type\": \"string\", \"pattern\": \"ca\", \"minLength\": 4}", "ca", 4, 99},
        {"odd", "{\"type\": \"string\", \"pattern\": \"^a(bb)*c?$\", \"maxLength\": 4}", "^a(bb)*c?$", 0, 4},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        char t[16], bad[200] = "", name[80];
        for (long code = 0; code < 1 + 3 + 9 + 27 + 81 + 243 + 729 && !bad[0]; code++) {   /* every string of 0 to 6 */
            long k = code, len = 0;
            for (long span = 1; k >= span; span *= 3) k -= span, len++;
            t[0] = '"';
            for (long j = 0, r = k; j < len; j++, r /= 3) t[1 + j] = "abc"[r % 3];
            t[1 + len] = 0;
            bool want = len >= CASES[i].lo && len <= CASES[i].hi && pattern_found(CASES[i].re, t + 1);
            t[1 + len] = '"', t[2 + len] = 0;
            bool whole = guide_after(CASES[i].schema, t) == 2;
            if (whole != want) snprintf(bad, sizeof bad, "%s: %s, the validator %s it", t, whole ? "whole" : "not whole", want ? "takes" : "refuses");
        }
        snprintf(name, sizeof name, "pattern-lengths-exhaustive-%s", CASES[i].name);
        check(name, !bad[0], bad, "every string of up to 6 characters whole exactly when the validator takes it");
        snprintf(t, sizeof t, "\"");
        no_dead_end(CASES[i].schema, t, 1, 8, "abc\"", bad, sizeof bad);
        snprintf(name, sizeof name, "pattern-lengths-no-dead-end-%s", CASES[i].name);
        check(name, !bad[0], bad, "every taken text of up to 9 bytes goes on or is whole");
    }
}

/* ------------------------------------------------------------------ random walks, validated */

static const json_t *walk_root;

/* v's code points (UTF-8 lead bytes). */
static int64_t code_points(const char *s, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static bool of_type(const json_t *v, const char *t) {
    return !strcmp(t, "null") ? json_is_null(v) : !strcmp(t, "boolean") ? json_is_boolean(v)
         : !strcmp(t, "object") ? json_is_object(v) : !strcmp(t, "array") ? json_is_array(v)
         : !strcmp(t, "string") ? json_is_string(v) : !strcmp(t, "integer") ? json_is_integer(v) : json_is_number(v);
}

static const json_t *resolve(const char *ref) {
    const json_t *at = walk_root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ref + 1);
    for (char *save, *k = strtok_r(buf, "/", &save); k && at; k = strtok_r(NULL, "/", &save)) at = json_object_get(at, k);
    return at;
}

/* The formats as RFC 3339 and RFC 4122 write them, and an IPv4 address (written apart from the guide's
 * regexes): t[0, n) with digits where d stands in shape and the other characters as they are. */
static bool shaped(const char *t, const char *shape, size_t n) {
    if (strlen(shape) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? t[i] < '0' || t[i] > '9' : shape[i] == 'x' ? !strchr("0123456789abcdefABCDEF", t[i]) || !t[i]
                            : t[i] != shape[i])
            return false;
    return true;
}

static bool date_valid(const char *t, size_t n) {
    if (!shaped(t, "dddd-dd-dd", n)) return false;
    int y = atoi(t), m = atoi(t + 5), d = atoi(t + 8);
    static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100) || y % 400 == 0;
    return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= DAYS[m - 1] + (m == 2 && leap);
}

/* The date format's DFA takes exactly the dates date_valid takes, of every year, month 00 to 13 and day
 * 00 to 32 (leap days of the years Gregorian's rules make leap). */
static void test_dates(void) {
    char err[300], t[40], bad[60] = "";
    GuideGrammar *g = compile_text("{\"type\": \"string\", \"format\": \"date\"}", err, sizeof err);
    const GuideNode *n = g ? g->root : NULL;
    while (n && n->k == GN_ANYOF && n->nalt == 1) n = n->alt[0];   /* a schema's node is one of one */
    const GuideDfa *d = n ? n->dfa : NULL;
    long taken = 0;
    for (int y = 0; d && y <= 9999 && !bad[0]; y++)
        for (int m = 0; m <= 13; m++)
            for (int day = 0; day <= 32; day++) {
                snprintf(t, sizeof t, "%04d-%02d-%02d", y, m, day);
                int st = 0;
                for (int k = 0; t[k] && st >= 0; k++) st = d->next[st * 128 + t[k]];
                bool dfa = st >= 0 && d->accept[st];
                taken += dfa;
                if (dfa != date_valid(t, 10) && !bad[0]) snprintf(bad, sizeof bad, "%s %s", t, dfa ? "taken" : "refused");
            }
    char got[160];
    snprintf(got, sizeof got, "%ld taken%s%s", taken, bad[0] ? "; first wrong: " : "", bad);
    check("format-date-every-day", d && !bad[0] && taken == 3652059, d ? got : g ? "no DFA" : err, "3652059 taken (0001-01-01 to 9999-12-31)");
    guide_grammar_free(g);
}

static bool time_valid(const char *t, size_t n) {
    if (n < 9 || !shaped(t, "dd:dd:dd", 8) || atoi(t) > 23 || atoi(t + 3) > 59 || atoi(t + 6) > 60) return false;
    size_t i = 8;
    if (t[i] == '.') {
        size_t from = ++i;
        while (i < n && t[i] >= '0' && t[i] <= '9') i++;
        if (i == from) return false;
    }
    if (n - i == 1) return t[i] == 'Z' || t[i] == 'z';
    return n - i == 6 && (t[i] == '+' || t[i] == '-') && shaped(t + i + 1, "dd:dd", 5) && atoi(t + i + 1) <= 23 &&
           atoi(t + i + 4) <= 59;
}

static bool ipv4_valid(const char *t, size_t n) {
    int parts = 0;
    for (size_t i = 0; i <= n && parts < 5; parts++) {
        size_t from = i;
        while (i < n && t[i] >= '0' && t[i] <= '9') i++;
        if (i == from || i - from > 3 || (t[from] == '0' && i - from > 1) || atoi(t + from) > 255) return false;
        if (i < n && t[i] != '.') return false;
        i++;
    }
    return parts == 4;
}

static bool format_valid(const char *f, const char *t, size_t n) {
    if (!strcmp(f, "date")) return date_valid(t, n);
    if (!strcmp(f, "time")) return time_valid(t, n);
    if (!strcmp(f, "date-time")) return n > 11 && date_valid(t, 10) && (t[10] == 'T' || t[10] == 't') && time_valid(t + 11, n - 11);
    if (!strcmp(f, "uuid")) return shaped(t, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", n);
    return !strcmp(f, "ipv4") && ipv4_valid(t, n);
}

/* A pattern of POSIX's extended syntax (the walks' are) found in t, as JSON Schema's search does. */
static bool pattern_found(const char *re, const char *t) {
    regex_t x;
    if (regcomp(&x, re, REG_EXTENDED | REG_NOSUB)) return false;
    bool found = !regexec(&x, t, 0, NULL, 0);
    regfree(&x);
    return found;
}

/* JSON Schema's validation of v by s, for the keywords the guide computes (written apart from it). */
static bool valid(const json_t *s, const json_t *v) {
    if (json_is_true(s)) return true;
    const json_t *x;
    size_t i;
    json_t *e;
    if ((x = json_object_get(s, "$ref"))) return valid(resolve(json_string_value(x)), v);
    if ((x = json_object_get(s, "anyOf"))) {
        bool any = false;
        json_array_foreach((json_t *)x, i, e) any |= valid(e, v);
        if (!any) return false;
    }
    if ((x = json_object_get(s, "oneOf"))) {
        int n = 0;
        json_array_foreach((json_t *)x, i, e) n += valid(e, v);
        if (n != 1) return false;
    }
    if ((x = json_object_get(s, "allOf")))
        json_array_foreach((json_t *)x, i, e) if (!valid(e, v)) return false;
    if ((x = json_object_get(s, "const")) && !json_equal((json_t *)x, (json_t *)v)) return false;
    if ((x = json_object_get(s, "enum"))) {
        bool any = false;
        json_array_foreach((json_t *)x, i, e) any |= json_equal(e, (json_t *)v);
        if (!any) return false;
    }
    if ((x = json_object_get(s, "type"))) {
        bool any = json_is_string(x) && of_type(v, json_string_value(x));
        json_array_foreach((json_t *)x, i, e) any |= of_type(v, json_string_value(e));
        if (!any) return false;
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties"), *extra = json_object_get(s, "additionalProperties");
        json_array_foreach(json_object_get(s, "required"), i, e) if (!json_object_get(v, json_string_value(e))) return false;
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            const json_t *p = json_object_get(props, key);
            if (p ? !valid(p, val) : json_is_false(extra) || (json_is_object(extra) && !valid(extra, val))) return false;
        }
    }
    if (json_is_array(v)) {
        const json_t *items = json_object_get(s, "items"), *lo = json_object_get(s, "minItems"), *hi = json_object_get(s, "maxItems");
        if ((lo && (int64_t)json_array_size(v) < json_integer_value(lo)) || (hi && (int64_t)json_array_size(v) > json_integer_value(hi)))
            return false;
        json_array_foreach((json_t *)v, i, e) if (items && !valid(items, e)) return false;
        for (size_t a = 0; json_is_true(json_object_get(s, "uniqueItems")) && a < json_array_size(v); a++)
            for (size_t b = a + 1; b < json_array_size(v); b++)
                if (json_equal(json_array_get(v, a), json_array_get(v, b))) return false;
    }
    if (json_is_string(v)) {
        int64_t n = code_points(json_string_value(v), json_string_length(v));
        const json_t *lo = json_object_get(s, "minLength"), *hi = json_object_get(s, "maxLength");
        if ((lo && n < json_integer_value(lo)) || (hi && n > json_integer_value(hi))) return false;
        if ((x = json_object_get(s, "format")) && !format_valid(json_string_value(x), json_string_value(v), json_string_length(v)))
            return false;
        if ((x = json_object_get(s, "pattern")) && !pattern_found(json_string_value(x), json_string_value(v))) return false;
    }
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if ((x = json_object_get(s, "minimum")) && d < json_number_value(x)) return false;
        if ((x = json_object_get(s, "maximum")) && d > json_number_value(x)) return false;
        if ((x = json_object_get(s, "exclusiveMinimum")) && d <= json_number_value(x)) return false;
        if ((x = json_object_get(s, "exclusiveMaximum")) && d >= json_number_value(x)) return false;
        if ((x = json_object_get(s, "multipleOf")) && (!json_is_integer(v) || json_integer_value(v) % (json_int_t)json_number_value(x)))
            return false;
    }
    return true;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}

/* Whether a regex of POSIX's extended syntax (the walks' are) matches all of t, as Python's fullmatch. */
static bool regex_whole(const char *re, const char *t) {
    char whole[300];
    snprintf(whole, sizeof whole, "^(%s)$", re);
    return pattern_found(whole, t);
}

/* Whether t is parentheses that balance, in pairs of "()" or "[]". */
static bool balanced(const char *t) {
    char open[256];
    int depth = 0;
    for (; *t; t++) {
        if (*t == '(' || *t == '[') {
            if (depth == 256) return false;
            open[depth++] = *t;
        } else if (!depth || *t != (open[--depth] == '(' ? ')' : ']')) {
            return false;
        }
    }
    return depth == 0;
}

/* Whether the answer text[len] is one that schema_text (compile_text's form) takes: JSON that
 * validates, a text its regex matches whole, or (a grammar) one that check takes: a POSIX regex
 * matching it whole, or "balanced". *what: why not. */
static bool answer_valid(const char *schema_text, const char *check, const json_t *schema, const char *text, size_t len,
                         const char **what) {
    if (!strncmp(schema_text, "regex:", 6) || !strncmp(schema_text, "grammar:", 8)) {
        *what = check ? "the grammar's check does not take it" : "the regex does not match it whole";
        const char *re = check ? check : json_string_value(schema);
        return strlen(text) == len && (strcmp(re, "balanced") ? regex_whole(re, text) : balanced(text));
    }
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &je);
    *what = v ? "does not validate" : "not JSON";
    bool ok = v && valid(schema, v);
    json_decref(v);
    return ok;
}

/* walks random answers through schema's masks: every one that ends must parse and validate; returns
 * the ended count (of walks), *bad the first bad answer. */
static int walk(const char *schema_text, const char *check, int walks, const int *piece_len, char *bad, size_t n) {
    bool raw = !strncmp(schema_text, "regex:", 6) || !strncmp(schema_text, "grammar:", 8);
    json_t *schema = json_loads(raw ? strchr(schema_text, ':') + 1 : schema_text, JSON_DECODE_ANY, NULL);
    walk_root = schema;
    unsigned char *allowed = malloc((size_t)nvocab), *walked = malloc((size_t)nvocab);
    int32_t *ids = malloc(700 * sizeof *ids), *pick = malloc((size_t)nvocab * sizeof *pick);
    int ended = 0;
    bad[0] = 0;
    for (int w = 0; w < walks && !bad[0]; w++) {
        char e[300];
        Guide *gd = guide_new(compile_text(schema_text, e, sizeof e)), *all = guide_new(compile_text(schema_text, e, sizeof e));
        guide_exhaustive(all);
        int nids = 0;
        bool end = false;
        while (nids < 600 && !end) {
            guide_mask(gd, vocab, &END_ID, 1, allowed);
            guide_mask(all, vocab, &END_ID, 1, walked);
            if (memcmp(allowed, walked, (size_t)nvocab)) {   /* the plain-text shortcut allows what walking does */
                snprintf(bad, n, "the shortcut's mask differs from walking every token after %d tokens", nids);
                break;
            }
            int npick = 0, nshort = 0;
            for (int32_t id = 0; id < nvocab; id++)
                if (allowed[id] && id != END_ID) pick[npick++] = id;
            for (int k = 0; k < npick; k++)   /* one-byte tokens first: they close values more often */
                if (piece_len[pick[k]] == 1) {
                    int32_t t = pick[nshort];
                    pick[nshort++] = pick[k], pick[k] = t;
                }
            if (allowed[END_ID] && (!npick || next_rand() % 3 == 0)) {
                end = true;
                break;
            }
            if (!npick) {   /* every token the mask allows leads somewhere: a dead end is a fault */
                size_t len;
                char err[100], *text = tokenizer_decode(tok, ids, nids, false, &len, err, sizeof err);
                for (char *c = text; c && *c; c++) *c = *c == '\n' ? ' ' : *c;   /* on one line */
                snprintf(bad, n, "a dead end after %d tokens: no token allowed, nor the end: %.200s", nids, text ? text : err);
                free(text);
                break;
            }
            int32_t id = nshort && next_rand() % 2 ? pick[next_rand() % (uint64_t)nshort] : pick[next_rand() % (uint64_t)npick];
            ids[nids++] = id;
            if (!guide_advance(gd, vocab, id) || !guide_advance(all, vocab, id)) break;
        }
        guide_free(gd);
        guide_free(all);
        if (bad[0]) break;
        if (!end) continue;
        ended++;
        size_t len;
        char err[200], *text = tokenizer_decode(tok, ids, nids, false, &len, err, sizeof err);
        const char *what = "not decoded";
        if (!text || !answer_valid(schema_text, check, schema, text, len, &what)) snprintf(bad, n, "%s: %.300s", what, text ? text : err);
        free(text);
    }
    free(allowed);
    free(walked);
    free(ids);
    free(pick);
    json_decref(schema);
    return ended;
}

/* The walks a case (60; fewer with --walks N: the sanitizer pass's, four times slower per walk). */
static int walks = 60;

static void test_walks(const char *which) {
    static const struct { const char *name, *schema, *check; } CASES[] = {
        {"walk-object", "{\"type\": \"object\"}", NULL},
        {"walk-weather", "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"maxLength\": 6}, \"days\": "
         "{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 14}, \"unit\": {\"enum\": [\"c\", \"f\"]}, \"at\": {\"anyOf\": "
         "[{\"type\": \"number\"}, {\"type\": \"null\"}]}}, \"required\": [\"city\", \"days\"]}", NULL},
        {"walk-array", "{\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": -50, \"exclusiveMaximum\": 1000, \"multipleOf\": 6}, "
         "\"minItems\": 1, \"maxItems\": 4}", NULL},
        {"walk-strings", "{\"type\": \"array\", \"items\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 3}, \"maxItems\": 3}", NULL},
        {"walk-recursive", "{\"$defs\": {\"T\": {\"type\": \"object\", \"properties\": {\"v\": {\"type\": \"integer\"}, \"kids\": "
         "{\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/T\"}, \"maxItems\": 2}}, \"required\": [\"v\"]}}, \"$ref\": \"#/$defs/T\"}", NULL},
        {"walk-one-of", "{\"oneOf\": [{\"type\": \"string\", \"maxLength\": 4}, {\"type\": \"integer\"}, {\"type\": \"boolean\"}]}", NULL},
        {"walk-any", "true", NULL},
        {"walk-unique", "{\"type\": \"object\", \"properties\": {\"tags\": {\"type\": \"array\", \"items\": {\"enum\": [\"a\", \"b\", "
         "\"c\", 1, 2, true, null]}, \"uniqueItems\": true}, \"flags\": {\"type\": \"array\", \"items\": {\"type\": \"boolean\"}, "
         "\"uniqueItems\": true, \"minItems\": 2}}, \"required\": [\"tags\", \"flags\"]}", NULL},
        {"walk-extra", "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"array\", \"items\": {\"type\": \"null\"}}}", NULL},
        {"walk-formats", "{\"type\": \"object\", \"properties\": {\"code\": {\"type\": \"string\", \"pattern\": "
         "\"^[A-Z]{2}-[0-9]{3}$\"}, \"at\": {\"type\": \"string\", \"format\": \"date-time\"}, \"day\": {\"format\": \"date\"}, "
         "\"t\": {\"type\": \"string\", \"format\": \"time\"}, \"id\": {\"type\": \"string\", \"format\": \"uuid\"}, "
         "\"ip\": {\"type\": \"string\", \"format\": \"ipv4\"}, \"any\": {\"type\": \"string\", \"pattern\": \"^a(b|c){1,4}[.]$\"}, "
         "\"words\": {\"type\": \"string\", \"pattern\": \"^[a-z]+( [a-z]+)*$\", \"minLength\": 4, \"maxLength\": 9}}, "
         "\"required\": [\"code\", \"at\", \"day\", \"t\", \"id\", \"ip\", \"any\", \"words\"]}", NULL},
        {"walk-number-bounds", "{\"type\": \"object\", \"properties\": {\"p\": {\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}, "
         "\"t\": {\"type\": \"number\", \"exclusiveMinimum\": -10, \"maximum\": -0.05}, \"x\": {\"type\": \"array\", \"items\": "
         "{\"type\": \"number\", \"minimum\": 0.1, \"maximum\": 0.1}, \"maxItems\": 3}}, \"required\": [\"p\", \"t\", \"x\"]}", NULL},
        {"walk-regex-address", "regex:\"[A-Z][a-z]{1,8}( [A-Z][a-z]{1,8})?, [0-9]{5}\"", NULL},
        {"walk-regex-lines", "regex:\"((yes|no|maybe)[.!]?\\n){1,3}(done)?\"", NULL},
        {"walk-regex-anything", "regex:\"^.{0,12}$\"", NULL},
        {"walk-grammar-list", "grammar:\"root ::= item (\\\", \\\" item){0,3}\\nitem ::= [a-z]{1,5} | [0-9]+ \\\"!\\\"?\"",
         "([a-z]{1,5}|[0-9]+!?)(, ([a-z]{1,5}|[0-9]+!?)){0,3}"},
        {"walk-grammar-balanced", "grammar:\"root ::= pair{0,3}\\npair ::= \\\"(\\\" pair* \\\")\\\" | \\\"[\\\" root \\\"]\\\"\"", "balanced"},
    };
    int *piece_len = calloc((size_t)nvocab, sizeof *piece_len);
    for (int32_t id = 0; id < nvocab; id++) {
        size_t len = 0;
        bool special;
        free(tokenizer_piece(tok, id, &len, &special));
        piece_len[id] = (int)len;
    }
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        char bad[400], got[480], want[64];
        int ended = walk(CASES[i].schema, CASES[i].check, walks, piece_len, bad, sizeof bad);
        snprintf(got, sizeof got, "%d of %d walks ended%s%s", ended, walks, bad[0] ? "; " : "", bad);
        snprintf(want, sizeof want, "at least %d ended, each valid", walks / 3);
        char name[80];
        snprintf(name, sizeof name, "%s%s", CASES[i].name, which);
        check(name, !bad[0] && ended >= walks / 3, got, want);
    }
    free(piece_len);
}

/* The bytes a token adds inside a text (tokenizer_piece): Metaspace's '▁' a space (not dropped at
 * the start), a byte-fallback token its raw byte (no U+FFFD), a byte-level token its bytes. */
static void test_pieces(void) {
    static const struct { const char *name, *tokenizer, *token, *want; } CASES[] = {
        {"piece-metaspace-space", "llama2", "\xe2\x96\x81" "add", " add"}, {"piece-byte-fallback", "llama2", "<0xE2>", "\xe2"},
        {"piece-byte-level", "llama3", "\xc4\xa0the", " the"}, {"piece-gemma-space", "gemma", "\xe2\x96\x81" "the" "\xe2\x96\x81", " the "},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        char path[128], err[300];
        snprintf(path, sizeof path, "tests/tokenizer/fixtures/%s/tokenizer.json", CASES[i].tokenizer);
        Tokenizer *t = tokenizer_load(path, err, sizeof err);
        int32_t id = -1;
        for (int32_t k = 0; t && id < 0 && k < tokenizer_vocab_size(t); k++) {
            size_t len;
            const char *s = tokenizer_id_to_token(t, k, &len);
            if (s && len == strlen(CASES[i].token) && !memcmp(s, CASES[i].token, len)) id = k;
        }
        size_t len = 0;
        bool special;
        char *piece = id >= 0 ? tokenizer_piece(t, id, &len, &special) : NULL;
        check(CASES[i].name, piece && len == strlen(CASES[i].want) && !memcmp(piece, CASES[i].want, len), piece ? piece : "no such token",
              CASES[i].want);
        free(piece);
        tokenizer_free(t);
    }
}

/* While the reasoning is open: every token but the end ids, and but those that would write </think>
 * after the answer's last bytes otherwise than as the tag's own token. */
static void test_thinking(void) {
    unsigned char *allowed = malloc((size_t)nvocab);
    int32_t gt = -1, x = -1, *ids = NULL;
    int64_t n = 0;
    char err[100];
    if (tokenizer_encode(tok, ">", 1, false, &ids, &n, err, sizeof err) && n == 1) gt = ids[0];
    free(ids);
    if (tokenizer_encode(tok, "x", 1, false, &ids, &n, err, sizeof err) && n == 1) x = ids[0];
    free(ids);
    guide_thinking_mask(vocab, "a</think", 8, "</think>", x, &END_ID, 1, allowed);
    check("thinking-tag-across-tokens", gt >= 0 && !allowed[gt] && !allowed[END_ID] && allowed[x], "'>' or the end allowed",
          "'>' after \"</think\" refused, the end refused, the tag's own token allowed");
    guide_thinking_mask(vocab, "a</thin", 7, "</think>", x, &END_ID, 1, allowed);
    check("thinking-not-the-tag", gt >= 0 && allowed[gt], "'>' refused", "'>' after \"</thin\" allowed");
    free(allowed);
}

/* The server makes guided decoding's vocabulary at its first guided request, not before: a request
 * without a format leaves it unmade, one with response_format json_object makes it. */
static void test_vocab_made_late(Tokenizer *t) {
    HttpServer s = {.model = "m", .vocab = nvocab, .tok = t, .mu = PTHREAD_MUTEX_INITIALIZER, .guide_mu = PTHREAD_MUTEX_INITIALIZER};
    json_t *format = json_pack("{s:s}", "type", "object");
    for (int guided = 0; guided < 2; guided++) {
        Gen g;
        gen_defaults(&g, &s, false);
        ApiError e = {0};
        bool ok = guide_request(&s, &g, guided ? format : NULL, GUIDE_SCHEMA, "response_format", &e);
        check(guided ? "vocab-made-at-guided-request" : "vocab-not-made-unguided", ok && !s.guide_vocab == !guided,
              ok ? (s.guide_vocab ? "made" : "not made") : e.msg, guided ? "made" : "not made");
        gen_free_fields(&g);
    }
    json_decref(format);
    guide_vocab_free(s.guide_vocab);
}

/* The walks through the masks of the tokenizer at path (byte-level, or Metaspace with byte fallback). */
/* A nested, ambiguous grammar (root ::= pair*, pair ::= "(" pair*): after k '(' every level may take
 * the next one, and the places share the frames beneath them (which a mask's step steps once). At
 * each depth to 40 the mask allows exactly the tokens made of '(' alone, and the end. */
static void test_nested_grammar(void) {
    static const char src[] = "root ::= pair*\npair ::= \"(\" pair*";
    char why[300] = "";
    GuideGrammar *g = guide_gbnf(src, sizeof src - 1, why, sizeof why);
    if (!g) return check("grammar: nested pairs compile", false, why, src);
    Guide *gd = guide_new(g);
    uint8_t *allowed = malloc((size_t)nvocab), *opens = calloc((size_t)nvocab, 1);   /* opens: '(' alone */
    for (int32_t id = 0; id < END_ID; id++) {
        size_t len = 0;
        bool special = false;
        char *piece = tokenizer_piece(tok, id, &len, &special);
        opens[id] = piece && len > 0 && !special && strspn(piece, "(") == len;
        free(piece);
    }
    int32_t end = END_ID, open_id = char_id['('];
    char bad[160] = "";
    for (int depth = 0; depth <= 40 && !bad[0] && open_id >= 0; depth++) {
        guide_mask(gd, vocab, &end, 1, allowed);
        for (int32_t id = 0; id < END_ID && !bad[0]; id++)
            if (allowed[id] != opens[id])
                snprintf(bad, sizeof bad, "depth %d: token %d %s", depth, id, allowed[id] ? "allowed" : "refused");
        if (!bad[0] && !allowed[END_ID]) snprintf(bad, sizeof bad, "depth %d: the end refused", depth);
        if (!bad[0] && !guide_advance(gd, vocab, open_id)) snprintf(bad, sizeof bad, "depth %d: '(' does not lead on", depth);
    }
    check("grammar: nested pairs, 40 deep: the mask allows exactly the tokens of '(' alone, and the end",
          !bad[0] && open_id >= 0, bad, "");
    free(allowed);
    free(opens);
    guide_free(gd);
}

static void walks_of(const char *path, const char *which) {
    char err[300];
    Tokenizer *t = tokenizer_load(path, err, sizeof err);
    if (!t) return check(which, false, err, path);
    tok = t;
    END_ID = (int32_t)tokenizer_vocab_size(t);
    nvocab = END_ID + 1;
    vocab = guide_vocab_new(t, nvocab);
    if (!*which) char_ids(), test_texts(), test_thinking(), test_vocab_made_late(t), test_number_bounds(), test_integer_multiples(),
                 test_pattern_lengths(), test_nested_grammar();
    test_walks(which);
    guide_vocab_free(vocab);
    tokenizer_free(t);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[2], "--walks")) walks = atoi(argv[3]);
    if ((argc != 2 && argc != 4) || walks < 3) return fprintf(stderr, "usage: test_guide TOKENIZER [--walks N]\n"), 2;
    test_refused();
    test_dates();
    test_pieces();
    walks_of(argv[1], "");
    walks_of("tests/tokenizer/fixtures/llama2/tokenizer.json", "-llama2");
    walks_of("tests/tokenizer/fixtures/gemma/tokenizer.json", "-gemma");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
