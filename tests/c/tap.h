/* Minimal TAP output for the C unit tests. */
#ifndef NURS_TAP_H
#define NURS_TAP_H

#include <stdbool.h>

bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool tap_is_int(long long got, long long want, const char *what);
bool tap_is_str(const char *got, const char *want, const char *what);
/* Prints the plan and returns the exit status (0 if all passed). */
int tap_done(void);

#endif
