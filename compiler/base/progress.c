/* progress.c — the clock and the progress line (progress.h). */
#include "progress.h"
#include "mixc.h"   /* prog_name, parse_count */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double mono_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Seconds of work before its first progress line: $MIXC_PROGRESS_AFTER (whole seconds, 0: at once),
 * else PROGRESS_DEFAULT_AFTER_S; a value that is not a count is said once and the default taken. */
static double progress_after(void) {
    static double after = -1;
    if (after < 0) {
        const char *env = getenv("MIXC_PROGRESS_AFTER");
        int64_t s;
        after = PROGRESS_DEFAULT_AFTER_S;
        if (env && *env && parse_count(env, &s)) after = (double)s;
        else if (env && *env)
            fprintf(stderr, "%s: warning: MIXC_PROGRESS_AFTER '%s' is not a count of seconds; progress shows after %d s\n",
                    prog_name(), shown_text(env, strlen(env), (char[SHOWN_MAX]){0}), PROGRESS_DEFAULT_AFTER_S);
    }
    return after;
}

Progress progress_start(const char *what, int64_t total) {
    double now = mono_seconds();
    return (Progress){what, now, now, 0, total};
}

void progress_add(Progress *p, int64_t n) {
    p->done += n;
    progress_line(p->start, &p->last, p->what, p->done, p->total);
}

void progress_line(double start, double *last, const char *what, int64_t done, int64_t total) {
    double t = mono_seconds();
    if (t - start < progress_after() || (*last > start && t - *last < 1)) return;
    *last = t;
    fprintf(stderr, "%s: %s %lld/%lld (%.0f s)\n", prog_name(), what, (long long)done, (long long)total, t - start);
}
