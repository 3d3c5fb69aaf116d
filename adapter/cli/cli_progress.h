/*
 * cli_progress.h - the progress line of `evstore export` and `evstore import` on standard
 * error. It is drawn only when standard error is a terminal, so scripts and pipes see
 * nothing but the output and the messages; redrawn at most ten times a second.
 */
#ifndef EVS_CLI_PROGRESS_H
#define EVS_CLI_PROGRESS_H

#include <stdint.h>

typedef struct evs_cli_progress {
    int on;            /* standard error is a terminal */
    const char *label; /* "export", "import": static */
    uint64_t total;    /* the expected count, 0 when not known (no bar then) */
    int64_t last_draw_us;
    int drawn;
} evs_cli_progress;

/* Starts a progress line; total may be 0 (unknown). */
void evs_cli_progress_start(evs_cli_progress *progress, const char *label, uint64_t total);

/* Redraws the line with done of total and a note ("12 duplicate"; may be NULL), unless it was
 * drawn less than 100 ms ago and force is 0. */
void evs_cli_progress_update(evs_cli_progress *progress, uint64_t done, const char *note,
                             int force);

/* Ends the line (a newline after the last drawing), so messages start on their own line. */
void evs_cli_progress_end(evs_cli_progress *progress);

#endif /* EVS_CLI_PROGRESS_H */
