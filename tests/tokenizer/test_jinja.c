/* test_jinja — runtime/tok/jinja.c against jinja2: each case of a fixture made by
 * make_chat_fixtures.py (jinja2 as transformers sets it up) renders to the same text, raises the
 * same raise_exception message, fails where jinja2 fails, or is refused at load naming the construct.
 *   test_jinja FIXTURE.json    prints PASS/FAIL NAME lines; exits 1 on a failure */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jinja.h"

static int fails;

static void result(const char *name, bool ok, const char *why, const char *got, size_t glen, const char *want) {
    printf("%s chat-template-%s\n", ok ? "PASS" : "FAIL", name);
    if (ok) return;
    fails++;
    printf("    %s\n", why);
    if (got) printf("    got:  [%.*s]\n", (int)glen, got);
    if (want) printf("    want: [%s]\n", want);
}

static const char *str_or_null(json_t *v) { return json_is_string(v) ? json_string_value(v) : NULL; }

static void run_case(json_t *c, json_t *templates) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *src = json_string_value(json_object_get(templates, json_string_value(json_object_get(c, "template"))));
    const char *refused = str_or_null(json_object_get(c, "refused"));
    char err[600] = "";
    JinjaTemplate *t = jinja_parse(src, err, sizeof err);
    if (refused) {
        result(name, !t && strstr(err, refused), t ? "loaded, want refused" : "refused with another message", err,
               strlen(err), refused);
        jinja_free(t);
        return;
    }
    if (!t) {
        result(name, false, "refused at load", err, strlen(err), NULL);
        return;
    }
    json_t *msgs = json_object_get(c, "messages");
    size_t n = json_array_size(msgs);
    ChatMessage *m = calloc(n + 1, sizeof *m);
    json_t *extras = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(msgs, i), *content = json_object_get(x, "content");
        json_t *extra = json_deep_copy(x);   /* the keys after role and content */
        json_object_del(extra, "role");
        json_object_del(extra, "content");
        m[i] = (ChatMessage){json_string_value(json_object_get(x, "role")), json_string_value(content),
                             json_string_length(content), json_object_size(extra) ? extra : NULL};
        json_array_append_new(extras, extra);
    }
    json_t *kw = json_object_get(c, "kwargs");   /* chat_template_kwargs */
    JinjaKwarg *kwargs = calloc(json_object_size(kw) + 1, sizeof *kwargs);
    int nkwargs = 0;
    const char *key;
    json_t *val;
    json_object_foreach(kw, key, val) kwargs[nkwargs++] = (JinjaKwarg){key, val};
    struct tm now = {0};   /* strftime_now's clock: the fixture's "now", "YYYY-MM-DD HH:MM:SS" */
    const char *when = str_or_null(json_object_get(c, "now"));
    if (when && sscanf(when, "%d-%d-%d %d:%d:%d", &now.tm_year, &now.tm_mon, &now.tm_mday, &now.tm_hour, &now.tm_min,
                       &now.tm_sec) == 6) {
        now.tm_year -= 1900;
        now.tm_mon -= 1;
        time_t t = timegm(&now);
        gmtime_r(&t, &now);   /* the weekday and the day of the year */
    }
    JinjaContext ctx = {m, (int)n, str_or_null(json_object_get(c, "bos_token")), str_or_null(json_object_get(c, "eos_token")),
                        json_is_true(json_object_get(c, "add_generation_prompt")), when ? &now : NULL,
                        json_object_get(c, "tools"), kwargs, nkwargs, json_object_get(c, "documents")};   /* tools, documents:
                                                                                                   * absent or null for none */
    Buf out = {0};
    bool raised = false, ok = jinja_render(t, &ctx, &out, &raised, err, sizeof err);
    const char *want = str_or_null(json_object_get(c, "expected")), *raises = str_or_null(json_object_get(c, "raises")),
               *render_refused = str_or_null(json_object_get(c, "render_refused"));
    if (render_refused)   /* jinja2 renders it; mixc must fail, saying why */
        result(name, !ok && !raised && strstr(err, render_refused), ok ? "rendered, want refused" : "another failure",
               ok ? out.data : err, ok ? out.len : strlen(err), render_refused);
    else if (want)
        result(name, ok && out.len == strlen(want) && (!out.len || !memcmp(out.data, want, out.len)), ok ? "text differs" : err,
               out.data ? out.data : "", out.len, want);
    else if (raises)
        result(name, !ok && raised && !strcmp(err, raises), ok ? "rendered, want raise_exception" : "another failure",
               err, strlen(err), raises);
    else
        result(name, !ok && !raised, ok ? "rendered where jinja2 fails" : "raised where jinja2 fails otherwise",
               ok ? out.data : err, ok ? out.len : strlen(err), NULL);
    buf_free(&out);
    free(m);
    free(kwargs);
    json_decref(extras);
    jinja_free(t);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_jinja FIXTURE.json\n");
        return 2;
    }
    json_error_t je;
    json_t *root = json_load_file(argv[1], 0, &je);
    if (!root) {
        fprintf(stderr, "%s:%d: %s\n", argv[1], je.line, je.text);
        return 2;
    }
    json_t *cases = json_object_get(root, "cases"), *templates = json_object_get(root, "templates");
    for (size_t i = 0; i < json_array_size(cases); i++) run_case(json_array_get(cases, i), templates);
    printf("%zu chat template cases, %d failed\n", json_array_size(cases), fails);
    json_decref(root);
    return fails != 0;
}
