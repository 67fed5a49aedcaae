/* The JSON writer: structure, escaping, UTF-8 repair, numbers, limits.
 * Golden strings: what a JSON consumer (jq, Vector, Loki) will parse. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/jsonw.h"
#include "tap.h"

static struct nurs_jsonw w;

static const char *text(void)
{
    static char out[8192];
    snprintf(out, sizeof out, "%.*s", (int)w.len, w.buf ? w.buf : "");
    return out;
}

static void string_is(const char *in, size_t len, const char *want, const char *what)
{
    nurs_jsonw_clear(&w);
    nurs_jsonw_string(&w, NULL, in, len);
    tap_is_str(text(), want, what);
}

int main(void)
{
    nurs_jsonw_init(&w);
    nurs_jsonw_object_begin(&w, NULL);
    nurs_jsonw_cstring(&w, "a", "x");
    nurs_jsonw_array_begin(&w, "list");
    nurs_jsonw_int(&w, NULL, 1);
    nurs_jsonw_object_begin(&w, NULL);
    nurs_jsonw_object_end(&w);
    nurs_jsonw_array_begin(&w, NULL);
    nurs_jsonw_array_end(&w);
    nurs_jsonw_null(&w, NULL);
    nurs_jsonw_bool(&w, NULL, 1);
    nurs_jsonw_array_end(&w);
    nurs_jsonw_bool(&w, "f", 0);
    nurs_jsonw_object_end(&w);
    tap_is_str(text(), "{\"a\":\"x\",\"list\":[1,{},[],null,true],\"f\":false}", "nesting and commas");

    string_is("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"", "quote and backslash escaped, slash not");
    string_is("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"", "short escapes");
    string_is("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"", "other control characters");
    string_is("a\0b", 3, "\"a\\u0000b\"", "NUL inside a string");
    string_is("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12, "\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
              "valid 2, 3 and 4-byte UTF-8 passes through");
    string_is("\xff", 1, "\"\\ufffd\"", "invalid lead byte replaced");
    string_is("\x80x", 2, "\"\\ufffdx\"", "lone continuation byte replaced");
    string_is("\xc3", 1, "\"\\ufffd\"", "truncated sequence at the end replaced");
    string_is("\xe2\x82x", 3, "\"\\ufffd\\ufffdx\"", "truncated sequence in the middle replaced");
    string_is("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"", "overlong 2-byte encoding replaced");
    string_is("\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"", "overlong 3-byte encoding replaced");
    string_is("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"", "UTF-16 surrogate replaced");
    string_is("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "above U+10FFFF replaced");

    nurs_jsonw_clear(&w);
    nurs_jsonw_array_begin(&w, NULL);
    nurs_jsonw_int(&w, NULL, LLONG_MIN);
    nurs_jsonw_int(&w, NULL, LLONG_MAX);
    nurs_jsonw_int(&w, NULL, 0);
    nurs_jsonw_int(&w, NULL, -7);
    nurs_jsonw_uint(&w, NULL, ULLONG_MAX);
    nurs_jsonw_array_end(&w);
    tap_is_str(text(), "[-9223372036854775808,9223372036854775807,0,-7,18446744073709551615]",
               "integer limits");

    nurs_jsonw_clear(&w);
    nurs_jsonw_array_begin(&w, NULL);
    nurs_jsonw_double(&w, NULL, 0.1);
    nurs_jsonw_double(&w, NULL, 1e300);
    nurs_jsonw_double(&w, NULL, 2.5);
    nurs_jsonw_double(&w, NULL, NAN);
    nurs_jsonw_double(&w, NULL, -INFINITY);
    nurs_jsonw_array_end(&w);
    tap_is_str(text(), "[0.1,1e+300,2.5,null,null]", "doubles round-trip shortest; NaN and inf are null");

    nurs_jsonw_clear(&w);
    nurs_jsonw_object_begin(&w, NULL);
    nurs_jsonw_cstring(&w, "k\"e\ny", "v");
    nurs_jsonw_object_end(&w);
    tap_is_str(text(), "{\"k\\\"e\\ny\":\"v\"}", "keys are escaped too");

    nurs_jsonw_clear(&w);
    for (int i = 0; i < NURS_JSONW_MAX_DEPTH + 1; i++)
        nurs_jsonw_array_begin(&w, NULL);
    tap_ok(w.failed, "nesting deeper than %d marks the writer failed", NURS_JSONW_MAX_DEPTH);
    nurs_jsonw_clear(&w);
    tap_ok(!w.failed && w.len == 0, "clear resets a failed writer");

    static char big[100000];
    memset(big, 'z', sizeof big);
    nurs_jsonw_clear(&w);
    nurs_jsonw_string(&w, NULL, big, sizeof big);
    tap_ok(w.len == sizeof big + 2 && w.buf[0] == '"' && w.buf[w.len - 1] == '"',
           "a 100 kB string grows the buffer and arrives whole");
    nurs_jsonw_free(&w);
    return tap_done();
}
