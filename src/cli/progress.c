/*
 * progress.c — the progress bar of long work (backup, restore, compact,
 * check, import, export), drawn on stderr only when stderr is a terminal,
 * so scripts and logs get nothing:
 *
 *   backup   [##########..........]  52%  412.3 MB/s  0:03 left
 *
 * It is redrawn in place (carriage return) at most ten times a second and
 * once at the end; progress_done ends its line.
 */
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define BAR_WIDTH 24

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void progress_init(progress *p, const char *label, const char *unit)
{
    p->label = label;
    p->unit = unit;
    p->on = isatty(STDERR_FILENO) == 1;
    p->start_us = now_us();
    p->last_draw_us = 0;
    p->drew = false;
}

static void rate_text(const progress *p, double per_s, char *out, size_t n)
{
    if (p->unit[0] == 'B' && p->unit[1] == 0) {
        if (per_s >= 1e9) snprintf(out, n, "%.1f GB/s", per_s / 1e9);
        else if (per_s >= 1e6) snprintf(out, n, "%.1f MB/s", per_s / 1e6);
        else snprintf(out, n, "%.1f kB/s", per_s / 1e3);
    } else {
        snprintf(out, n, "%.0f %s/s", per_s, p->unit);
    }
}

int progress_update(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    if (!p->on) return 0;
    uint64_t t = now_us();
    if (done != total && t - p->last_draw_us < 100000) return 0;
    p->last_draw_us = t;
    double frac = total ? (double)done / (double)total : 1.0;
    if (frac > 1) frac = 1;
    char bar[BAR_WIDTH + 1];
    int fill = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = 0;
    double secs = (double)(t - p->start_us) / 1e6;
    double per_s = secs > 0 ? (double)done / secs : 0;
    char rate[48], left[48];
    rate_text(p, per_s, rate, sizeof rate);
    if (done == total) {
        snprintf(left, sizeof left, "%.1fs", secs);
    } else if (per_s > 0) {
        uint64_t s = (uint64_t)((double)(total - done) / per_s);
        snprintf(left, sizeof left, "%llu:%02llu left", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
    } else {
        snprintf(left, sizeof left, "--:-- left");
    }
    fprintf(stderr, "\r%-8s [%s] %3d%%  %s  %s\033[K", p->label, bar, (int)(frac * 100), rate, left);
    fflush(stderr);
    p->drew = true;
    return 0;
}

void progress_done(progress *p)
{
    if (p->on && p->drew) fputc('\n', stderr);
    p->drew = false;
}
