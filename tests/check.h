/* check.h — the CHECK and REPORT macros of the C test programs (tests/unit, tests/plan, tests/jit):
 * a check that fails prints its file, line and condition and clears the test's `ok`; REPORT prints
 * the test's PASS or FAIL line (flushed: a program that forks or crashes later keeps it) and counts
 * the failures, which the program's exit status reports. */
#ifndef MIXC_TESTS_CHECK_H
#define MIXC_TESTS_CHECK_H

#include <stdbool.h>
#include <stdio.h>

static int failures;
#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            ok = false;                                                          \
        }                                                                        \
    } while (0)
#define REPORT(name)                                                             \
    do {                                                                         \
        printf("%s %s\n", ok ? "PASS" : "FAIL", name);                           \
        fflush(stdout);                                                          \
        failures += !ok;                                                         \
    } while (0)

#endif
