/* The exposition writer against golden text, in both formats: what
 * Prometheus and OpenMetrics parsers read (escaping of HELP and label
 * values, UTF-8 repair, NaN and infinities, counters' _total, histogram
 * buckets with le="+Inf", # EOF), the size limit, and Accept negotiation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sinks/metrics/expo.h"
#include "tap.h"

static struct nurs_expo w;

static const char *text(void)
{
    static char out[8192];
    snprintf(out, sizeof out, "%.*s", (int)w.len, w.buf ? w.buf : "");
    return out;
}

static void reset(enum nurs_expo_format f)
{
    nurs_expo_free(&w);
    nurs_expo_init(&w, f, 1 << 20);
}

static void counters(void)
{
    struct nurs_label l[] = {{"resource", "ct"}, {"netns", NULL}, {"kind", "conntrack"}};
    reset(NURS_EXPO_TEXT);
    nurs_expo_family(&w, "nurs_resource_in", NURS_METRIC_COUNTER, "Records in.");
    nurs_expo_uint(&w, l, 3, 18446744073709551615ull);
    nurs_expo_uint(&w, NULL, 0, 0);
    tap_is_str(text(),
               "# HELP nurs_resource_in_total Records in.\n"
               "# TYPE nurs_resource_in_total counter\n"
               "nurs_resource_in_total{resource=\"ct\",kind=\"conntrack\"} 18446744073709551615\n"
               "nurs_resource_in_total 0\n",
               "text: a counter is named with _total, a NULL label is left out, u64 exact");
    reset(NURS_EXPO_OPENMETRICS);
    nurs_expo_family(&w, "nurs_resource_in", NURS_METRIC_COUNTER, "Records in.");
    nurs_expo_uint(&w, l, 1, 7);
    nurs_expo_finish(&w);
    tap_is_str(text(),
               "# HELP nurs_resource_in Records in.\n"
               "# TYPE nurs_resource_in counter\n"
               "nurs_resource_in_total{resource=\"ct\"} 7\n"
               "# EOF\n",
               "OpenMetrics: the family is the base name, samples end in _total, # EOF");
}

static void escaping(void)
{
    struct nurs_label l[] = {{"path", "a\\b\"c\nd"}, {"bad", "x\xff\xc3(y\xe2\x82\xac"}};
    const char *help = "Help with \\ and \"quotes\"\nand a newline.";
    reset(NURS_EXPO_TEXT);
    nurs_expo_family(&w, "g", NURS_METRIC_GAUGE, help);
    nurs_expo_double(&w, l, 2, 1.5);
    tap_is_str(text(),
               "# HELP g Help with \\\\ and \"quotes\"\\nand a newline.\n"
               "# TYPE g gauge\n"
               "g{path=\"a\\\\b\\\"c\\nd\",bad=\"x\xef\xbf\xbd\xef\xbf\xbd(y\xe2\x82\xac\"} 1.5\n",
               "text: HELP escapes \\ and newline only; label values \\ \" newline; bad UTF-8 "
               "becomes U+FFFD, good UTF-8 stays");
    reset(NURS_EXPO_OPENMETRICS);
    nurs_expo_family(&w, "g", NURS_METRIC_GAUGE, help);
    tap_is_str(text(),
               "# HELP g Help with \\\\ and \\\"quotes\\\"\\nand a newline.\n"
               "# TYPE g gauge\n",
               "OpenMetrics: HELP escapes the double quote too");
}

static void numbers(void)
{
    reset(NURS_EXPO_TEXT);
    nurs_expo_family(&w, "g", NURS_METRIC_GAUGE, "x");
    nurs_expo_double(&w, NULL, 0, NAN);
    nurs_expo_double(&w, NULL, 0, INFINITY);
    nurs_expo_double(&w, NULL, 0, -INFINITY);
    nurs_expo_double(&w, NULL, 0, -0.0);
    nurs_expo_double(&w, NULL, 0, 0.1);
    nurs_expo_double(&w, NULL, 0, 1e300);
    nurs_expo_double(&w, NULL, 0, -42);
    nurs_expo_double(&w, NULL, 0, 1.0 / 3);
    tap_is_str(text(),
               "# HELP g x\n# TYPE g gauge\n"
               "g NaN\ng +Inf\ng -Inf\ng 0\ng 0.1\ng 1e+300\ng -42\ng 0.3333333333333333\n",
               "NaN, +Inf, -Inf, integers without a point, shortest round-tripping floats");
    char buf[32];
    nurs_expo_format_double(buf, sizeof buf, 0.1 + 0.2);
    tap_is_str(buf, "0.30000000000000004", "17 digits when 15 do not read back the same");
}

static void histogram(void)
{
    const double bounds[] = {0.005, 0.5, 1};
    const uint64_t counts[] = {1, 0, 2, 3}; /* per bucket; the last is above 1 */
    struct nurs_label l[] = {{"code", "200"}};
    for (int f = 0; f < 2; f++) {
        reset(f ? NURS_EXPO_OPENMETRICS : NURS_EXPO_TEXT);
        nurs_expo_family(&w, "lat_seconds", NURS_METRIC_HISTOGRAM, "Latency.");
        nurs_expo_histogram(&w, l, 1, bounds, counts, 3, 12.25);
        nurs_expo_histogram(&w, NULL, 0, bounds, (const uint64_t[]){0, 0, 0, 0}, 3, 0);
        tap_is_str(text(),
                   "# HELP lat_seconds Latency.\n"
                   "# TYPE lat_seconds histogram\n"
                   "lat_seconds_bucket{code=\"200\",le=\"0.005\"} 1\n"
                   "lat_seconds_bucket{code=\"200\",le=\"0.5\"} 1\n"
                   "lat_seconds_bucket{code=\"200\",le=\"1\"} 3\n"
                   "lat_seconds_bucket{code=\"200\",le=\"+Inf\"} 6\n"
                   "lat_seconds_sum{code=\"200\"} 12.25\n"
                   "lat_seconds_count{code=\"200\"} 6\n"
                   "lat_seconds_bucket{le=\"0.005\"} 0\n"
                   "lat_seconds_bucket{le=\"0.5\"} 0\n"
                   "lat_seconds_bucket{le=\"1\"} 0\n"
                   "lat_seconds_bucket{le=\"+Inf\"} 0\n"
                   "lat_seconds_sum 0\n"
                   "lat_seconds_count 0\n",
                   f ? "OpenMetrics histogram: cumulative buckets, le last, +Inf = _count"
                     : "text histogram: cumulative buckets, le last, +Inf = _count");
    }
}

static void limit(void)
{
    nurs_expo_free(&w);
    nurs_expo_init(&w, NURS_EXPO_TEXT, 64);
    nurs_expo_family(&w, "a_rather_long_metric_name", NURS_METRIC_GAUGE, "Some help text.");
    tap_ok(w.failed && w.len <= 64, "past the limit the exposition fails, within its bytes");
    size_t len = w.len;
    nurs_expo_double(&w, NULL, 0, 1);
    tap_ok(w.len == len, "nothing is written after a failure");
}

static void negotiation(void)
{
    static const struct {
        const char *accept;
        enum nurs_expo_format want;
    } cases[] = {
        {NULL, NURS_EXPO_TEXT},
        {"", NURS_EXPO_TEXT},
        {"*/*", NURS_EXPO_TEXT},
        {"text/plain;version=0.0.4", NURS_EXPO_TEXT},
        /* What Prometheus 2.x sends. */
        {"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
         "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
         NURS_EXPO_OPENMETRICS},
        {"application/openmetrics-text; version=1.0.0", NURS_EXPO_OPENMETRICS},
        {"Application/OpenMetrics-Text", NURS_EXPO_OPENMETRICS},
        {"text/plain;q=1, application/openmetrics-text;q=0.3", NURS_EXPO_TEXT},
        {"application/openmetrics-text;q=0", NURS_EXPO_TEXT},
        {"text/plain;q=0.2 , application/openmetrics-text ;q=0.9", NURS_EXPO_OPENMETRICS},
        {"application/openmetrics-text;q=garbage", NURS_EXPO_TEXT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        tap_ok(nurs_expo_negotiate(cases[i].accept) == cases[i].want, "Accept: %s -> %s",
               cases[i].accept ? cases[i].accept : "(none)",
               cases[i].want ? "OpenMetrics" : "text");
    tap_is_str(nurs_expo_content_type(NURS_EXPO_TEXT), "text/plain; version=0.0.4; charset=utf-8",
               "text Content-Type");
    tap_is_str(nurs_expo_content_type(NURS_EXPO_OPENMETRICS),
               "application/openmetrics-text; version=1.0.0; charset=utf-8",
               "OpenMetrics Content-Type");
}

int main(void)
{
    counters();
    escaping();
    numbers();
    histogram();
    limit();
    negotiation();
    nurs_expo_free(&w);
    return tap_done();
}
