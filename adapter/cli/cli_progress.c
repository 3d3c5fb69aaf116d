/*
 * cli_progress.c - the progress line on a terminal (cli_progress.h).
 */
#include "cli_progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void evs_cli_progress_start(evs_cli_progress *progress, const char *label, uint64_t total)
{
    memset(progress, 0, sizeof *progress);
    progress->on = isatty(STDERR_FILENO);
    progress->label = label;
    progress->total = total;
}

void evs_cli_progress_update(evs_cli_progress *progress, uint64_t done, const char *note,
                             int force)
{
    if (!progress->on)
        return;
    int64_t now = now_us();
    if (!force && progress->drawn && now - progress->last_draw_us < 100000)
        return;
    progress->last_draw_us = now;
    progress->drawn = 1;
    char bar[BAR_WIDTH + 1];
    if (progress->total > 0) {
        uint64_t shown = done < progress->total ? done : progress->total;
        size_t filled = (size_t)(shown * BAR_WIDTH / progress->total);
        memset(bar, '#', filled);
        memset(bar + filled, '.', BAR_WIDTH - filled);
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %3u%% %llu/%llu events%s%s\033[K", progress->label, bar,
                (unsigned)(shown * 100 / progress->total), (unsigned long long)done,
                (unsigned long long)progress->total, note ? ", " : "", note ? note : "");
    } else {
        fprintf(stderr, "\r%s: %llu events%s%s\033[K", progress->label, (unsigned long long)done,
                note ? ", " : "", note ? note : "");
    }
    fflush(stderr);
}

void evs_cli_progress_end(evs_cli_progress *progress)
{
    if (progress->on && progress->drawn)
        fputc('\n', stderr);
    progress->drawn = 0;
}
