#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int run, failed;

bool tap_ok(bool cond, const char *fmt, ...)
{
    va_list ap;
    run++;
    if (!cond)
        failed++;
    printf("%sok %d - ", cond ? "" : "not ", run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    return cond;
}

bool tap_is_int(long long got, long long want, const char *what)
{
    bool ok = tap_ok(got == want, "%s", what);
    if (!ok)
        printf("#   got %lld, want %lld\n", got, want);
    return ok;
}

bool tap_is_str(const char *got, const char *want, const char *what)
{
    bool ok = tap_ok(got && want ? strcmp(got, want) == 0 : got == want, "%s", what);
    if (!ok)
        printf("#   got '%s', want '%s'\n", got ? got : "(null)", want ? want : "(null)");
    return ok;
}

int tap_done(void)
{
    printf("1..%d\n", run);
    if (failed)
        printf("# %d of %d failed\n", failed, run);
    return failed ? 1 : 0;
}
