#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

static enum nurs_log_level current_level = NURS_LOG_INFO;
static bool to_journal;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void nurs_log_set_level(enum nurs_log_level level) { current_level = level; }

enum nurs_log_level nurs_log_get_level(void) { return current_level; }

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

bool nurs_log_journal_stream(const char *journal_stream, int fd)
{
    unsigned long long dev, ino;
    char end;
    struct stat st;
    if (!journal_stream || sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &end) != 2)
        return false;
    return fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

void nurs_log_detect_journal(void)
{
    to_journal = nurs_log_journal_stream(getenv("JOURNAL_STREAM"), STDERR_FILENO);
}

/* The journal reads a syslog priority from each line's "<N>" prefix, and
 * stamps lines itself. A message of several lines (a Lua traceback) gets
 * the prefix on each, so that none of them drops to the default priority. */
static void log_journal(enum nurs_log_level level, const char *msg)
{
    static const int priority[] = {3, 4, 6, 7};
    char out[2048 + 256];
    size_t pos = 0;
    const char *line = msg;
    for (;;) {
        size_t len = strcspn(line, "\n");
        int n = snprintf(out + pos, sizeof out - pos, "<%d>%.*s\n", priority[level], (int)len, line);
        if (n < 0 || (size_t)n >= sizeof out - pos) {
            pos = sizeof out - 1;
            out[pos - 1] = '\n';
            break;
        }
        pos += (size_t)n;
        if (!line[len])
            break;
        line += len + 1;
    }
    fwrite(out, 1, pos, stderr);
}

void nurs_log(enum nurs_log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    if (to_journal) {
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        log_journal(level, msg);
        return;
    }
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
    fprintf(stderr, "%s.%03ldZ nurs-lua %s: %s\n", when, ts.tv_nsec / 1000000,
            level_names[level], msg);
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
