#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Any loop's script may change it (nurs.log_level), every thread reads it. */
static _Atomic enum nurs_log_level current_level = NURS_LOG_INFO;
/* "worker 2: " in a worker loop's thread. */
static _Thread_local char thread_prefix[32];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void nurs_log_set_level(enum nurs_log_level level)
{
    atomic_store_explicit(&current_level, level, memory_order_relaxed);
}

enum nurs_log_level nurs_log_get_level(void)
{
    return atomic_load_explicit(&current_level, memory_order_relaxed);
}

void nurs_log_set_thread_name(const char *name)
{
    snprintf(thread_prefix, sizeof thread_prefix, "%s%s", name ? name : "", name ? ": " : "");
}

int nurs_log_parse_level(const char *name)
{
    for (int i = 0; i <= NURS_LOG_DEBUG; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    if (strcmp(name, "warning") == 0)
        return NURS_LOG_WARN;
    return -1;
}

const char *nurs_log_level_name(enum nurs_log_level level)
{
    return level_names[level];
}

void nurs_log(enum nurs_log_level level, const char *fmt, ...)
{
    if (level > nurs_log_get_level())
        return;
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);

    /* One fprintf per line so lines from concurrent writers do not mix. */
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ nurs-lua %s: %s%s\n", when, ts.tv_nsec / 1000000,
            level_names[level], thread_prefix, msg);
}

uint64_t nurs_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

long long nurs_ratelimit_check(struct nurs_ratelimit *rl)
{
    uint64_t now = nurs_monotonic_ms();
    if (now - rl->window_start_ms >= rl->interval_ms) {
        rl->window_start_ms = now;
        rl->printed = 0;
    }
    if (rl->printed >= rl->burst) {
        rl->suppressed++;
        return -1;
    }
    rl->printed++;
    long long suppressed = (long long)rl->suppressed;
    rl->suppressed = 0;
    return suppressed;
}
