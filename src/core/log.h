/* Leveled logging to stderr, with a rate limiter for messages that can
 * repeat once per record (callback errors, malformed messages). */
#ifndef NURS_CORE_LOG_H
#define NURS_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum nurs_log_level {
    NURS_LOG_ERROR,
    NURS_LOG_WARN,
    NURS_LOG_INFO,
    NURS_LOG_DEBUG,
};

void nurs_log_set_level(enum nurs_log_level level);
enum nurs_log_level nurs_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int nurs_log_parse_level(const char *name);
const char *nurs_log_level_name(enum nurs_log_level level);

/* When stderr is the journal ($JOURNAL_STREAM names its device and
 * inode), lines are written with a syslog priority prefix ("<3>" for
 * errors... "<7>" for debug) and without a timestamp of ours. */
void nurs_log_detect_journal(void);
/* Whether fd is the stream that a $JOURNAL_STREAM value ("DEV:INODE") names. */
bool nurs_log_journal_stream(const char *journal_stream, int fd);

void nurs_log(enum nurs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define nurs_err(...) nurs_log(NURS_LOG_ERROR, __VA_ARGS__)
#define nurs_warn(...) nurs_log(NURS_LOG_WARN, __VA_ARGS__)
#define nurs_info(...) nurs_log(NURS_LOG_INFO, __VA_ARGS__)
#define nurs_debug(...) nurs_log(NURS_LOG_DEBUG, __VA_ARGS__)

/* Allows `burst` messages per `interval_ms`; the rest are counted and the
 * count is reported with the next message that gets through. */
struct nurs_ratelimit {
    uint64_t window_start_ms;
    unsigned interval_ms;
    unsigned burst;
    unsigned printed;
    uint64_t suppressed;
};

#define NURS_RATELIMIT_INIT(interval, n) { 0, (interval), (n), 0, 0 }

/* Returns the number of messages suppressed since the last one that got
 * through (>= 0) if this one may be logged, or -1 if it must be dropped. */
long long nurs_ratelimit_check(struct nurs_ratelimit *rl);

uint64_t nurs_monotonic_ms(void);

#endif
