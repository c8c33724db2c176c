/* progress.h — time for long work: a monotonic clock and the progress line on stderr. */
#ifndef MIXC_BASE_PROGRESS_H
#define MIXC_BASE_PROGRESS_H

#include <stdint.h>

/* Seconds of work before the first progress line when $MIXC_PROGRESS_AFTER is not set. */
#define PROGRESS_DEFAULT_AFTER_S 2

/* Seconds on the monotonic clock. */
double mono_seconds(void);
/* "PROG: WHAT DONE/TOTAL (S s)" on stderr, at most once a second and only after the first
 * PROGRESS_DEFAULT_AFTER_S seconds from start ($MIXC_PROGRESS_AFTER seconds when set; 0: from the first call); *last holds the time of
 * the previous line (start before the first). */
void progress_line(double start, double *last, const char *what, int64_t done, int64_t total);

/* A count of work shown as progress_line's "WHAT DONE/TOTAL": started now, advanced by progress_add. */
typedef struct {
    const char *what;
    double start, last;
    int64_t done, total;
} Progress;
Progress progress_start(const char *what, int64_t total);
void progress_add(Progress *p, int64_t n);

#endif
