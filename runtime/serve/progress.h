/* progress.h — time for mixrun's long runs: a monotonic clock and the progress line on stderr. */
#ifndef MIXC_SERVE_PROGRESS_H
#define MIXC_SERVE_PROGRESS_H

#include <stdint.h>

/* Seconds on the monotonic clock. */
double mono_seconds(void);
/* "mixrun: WHAT DONE/TOTAL (S s)" on stderr, at most once a second and only after the first 2 seconds
 * from start; *last holds the time of the previous line. */
void progress_line(double start, double *last, const char *what, int64_t done, int64_t total);

#endif
