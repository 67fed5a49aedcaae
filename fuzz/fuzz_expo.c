/* libFuzzer target: what a scraper and a script control in an exposition.
 * The first line is a scraper's Accept header; the rest a label value and
 * a HELP text (split at the first NUL). In both formats the output must
 * hold exactly the lines written (escaping leaves no raw newline) and be
 * valid UTF-8. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"
#include "sinks/metrics/expo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct nurs_expo *w, size_t lines)
{
    size_t newlines = 0;
    for (size_t i = 0; i < w->len;) {
        const unsigned char *p = (const unsigned char *)w->buf + i;
        size_t n = *p < 0x80 ? 1 : nurs_jsonw_utf8_len(p, w->len - i);
        if (n == 0)
            abort(); /* not UTF-8 */
        newlines += *p == '\n';
        i += n;
    }
    if (newlines != lines)
        abort(); /* a raw newline inside a value or HELP */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *rest = strchr(text, '\n');
    if (rest)
        *rest++ = '\0';
    else
        rest = text + size;
    const char *value = rest;
    const char *help = rest + strlen(rest) < text + size ? rest + strlen(rest) + 1 : "";
    enum nurs_expo_format f = nurs_expo_negotiate(text);
    if (f != NURS_EXPO_TEXT && f != NURS_EXPO_OPENMETRICS)
        abort();
    for (int fmt = 0; fmt < 2; fmt++) {
        struct nurs_expo w;
        nurs_expo_init(&w, fmt ? NURS_EXPO_OPENMETRICS : NURS_EXPO_TEXT, 1 << 20);
        nurs_expo_family(&w, "fuzz", NURS_METRIC_HISTOGRAM, help);
        struct nurs_label l[] = {{"v", value}, {"w", text}};
        const double bounds[] = {1, 2.5};
        const uint64_t counts[] = {1, 2, 3};
        nurs_expo_histogram(&w, l, 2, bounds, counts, 2, 6.5);
        nurs_expo_finish(&w);
        if (!w.failed)
            check(&w, 2 + 5 + (fmt ? 1 : 0));
        nurs_expo_free(&w);
    }
    free(text);
    return 0;
}
