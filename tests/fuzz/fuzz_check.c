/* fuzz_check.c — libFuzzer target: parse and check arbitrary bytes as a .mix file.
 *
 * Every input must come back without a crash, a hang, undefined behaviour or a leak (ASan/UBSan/LSan
 * run with it), and the pipeline's own contracts must hold: a layout accepted by the checker passes
 * verify_layout, and a file with syntax errors is never accepted. Diagnostics and dumps go to
 * /dev/null, so the printing code is exercised too. */
#include "mixc.h"
#define FUZZ_NAME "fuzz_check"
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

/* Prints the accepted layout every way mixc can, and checks its invariants. */
static void exercise_layout(const Layout *l) {
    if (!verify_layout(l, stderr)) contract_broken("an accepted layout fails verify_layout");
    print_layout(l, devnull);
    dump_graph(l, devnull);
    Buf json = {0};
    if (!layout_json(l, &json)) contract_broken("layout_json refused an accepted layout");
    fwrite(json.data, 1, json.len, devnull);
    buf_free(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    SourceFile src = {"fuzz.mix", text, size};
    Diag diag;
    diag_init(&diag, &src, devnull);
    Arena arena = {0};
    Ast ast;
    bool parsed = parse_source(&src, &arena, &diag, &ast);
    dump_ast(&ast, devnull);
    Layout layout;
    bool ok = check_ast(&ast, &diag, &layout);
    if (ok && (!parsed || diag.errors != 0)) contract_broken("a layout was accepted despite reported errors");
    if (ok) exercise_layout(&layout);
    layout_free(&layout);
    arena_free(&arena);
    free(text);
    return 0;
}
