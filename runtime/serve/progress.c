/* progress.c — the clock and the progress line (progress.h). */
#include "progress.h"
#include "mixc.h"   /* prog_name */

#include <stdio.h>
#include <time.h>

double mono_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_line(double start, double *last, const char *what, int64_t done, int64_t total) {
    double t = mono_seconds();
    if (t - start < 2 || t - *last < 1) return;
    *last = t;
    fprintf(stderr, "%s: %s %lld/%lld (%.0f s)\n", prog_name(), what, (long long)done, (long long)total, t - start);
}
