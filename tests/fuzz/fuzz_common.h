/* fuzz_common.h — what every fuzz target shares: a /dev/null sink for diagnostics and dumps, and
 * the report of a broken contract. Define FUZZ_NAME before including it. */
#ifndef MIXC_FUZZ_COMMON_H
#define MIXC_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

static FILE *devnull __attribute__((unused));   /* not every target prints */

/* A broken contract: say which one (run.sh shows "internal error" lines), then crash for libFuzzer. */
static _Noreturn void contract_broken(const char *what) {
    fprintf(stderr, FUZZ_NAME ": internal error: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull) contract_broken("cannot open /dev/null");
    return 0;
}

#endif
