/* fuzz_regex.c — libFuzzer target: arbitrary bytes after the first as a schema's "pattern"
 * (runtime/http/http_regex.c), searched for as JSON Schema reads it when the first byte is odd, else
 * matched whole as the formats are. Nothing may crash, hang, leak or hit undefined behaviour; a
 * refusal says why; a DFA leads only on the bytes a string's text may hold as the guide writes it,
 * and every state reached from its start can still reach an accepting one (the guide never strands
 * an answer in a string). */
#include "http_guide.h"
#define FUZZ_NAME "fuzz_regex"
#include "fuzz_common.h"

#include <string.h>

/* The bytes the guide writes into a string's text (http_regex.c's writable()). */
static bool writable(int b) { return (b >= 0x20 && b < 0x80) || b == '\b' || b == '\t' || b == '\n' || b == '\f' || b == '\r'; }

static void check_dfa(const GuideDfa *d) {
    int n = d->nstates;
    unsigned char *live = calloc((size_t)n, 1), *reached = calloc((size_t)n, 1);
    int *queue = malloc((size_t)n * sizeof *queue);
    if (!live || !reached || !queue) contract_broken("out of memory");
    for (bool more = true; more;) {   /* the states an accepting one is reached from */
        more = false;
        for (int s = 0; s < n; s++) {
            bool l = d->accept[s];
            for (int b = 0; b < 128 && !l; b++) l = d->next[s * 128 + b] >= 0 && live[d->next[s * 128 + b]];
            if (l && !live[s]) live[s] = 1, more = true;
        }
    }
    int head = 0, tail = 0;
    queue[tail++] = 0, reached[0] = 1;
    while (head < tail) {
        int s = queue[head++];
        if (!live[s]) contract_broken("a state reached from the start reaches no accepting one");
        for (int b = 0; b < 128; b++) {
            int t = d->next[s * 128 + b];
            if (t >= n) contract_broken("a transition past the states");
            if (t >= 0 && !writable(b)) contract_broken("a transition on a byte the guide does not write");
            if (t >= 0 && !reached[t]) reached[t] = 1, queue[tail++] = t;
        }
    }
    free(live);
    free(reached);
    free(queue);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    char *re = malloc(size), why[200] = "";
    if (!re) return 0;
    memcpy(re, data + 1, size - 1);   /* no terminator: the compiler reads only [0, len) */
    Arena A = {0};
    const GuideDfa *d = guide_regex(&A, re, size - 1, data[0] & 1, why, sizeof why);
    if (d) check_dfa(d);
    else if (!why[0]) contract_broken("a refused pattern without a reason");
    arena_free(&A);
    free(re);
    return 0;
}
