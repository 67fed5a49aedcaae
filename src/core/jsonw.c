#include "core/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nurs_jsonw_init(struct nurs_jsonw *w)
{
    memset(w, 0, sizeof *w);
    w->first[0] = 1;
}

void nurs_jsonw_free(struct nurs_jsonw *w)
{
    free(w->buf);
    nurs_jsonw_init(w);
}

void nurs_jsonw_clear(struct nurs_jsonw *w)
{
    w->len = 0;
    w->depth = 0;
    w->failed = 0;
    w->first[0] = 1;
}

static int grow(struct nurs_jsonw *w, size_t more)
{
    if (w->failed)
        return -1;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + more)
        cap *= 2;
    char *p = realloc(w->buf, cap);
    if (!p) {
        w->failed = 1;
        return -1;
    }
    w->buf = p;
    w->cap = cap;
    return 0;
}

/* The common case inline: there is room (a failed writer has cap 0 or
 * stops growing, so it never gets here with room it should not use). */
static inline int reserve(struct nurs_jsonw *w, size_t more)
{
    if (__builtin_expect(w->len + more <= w->cap && !w->failed, 1))
        return 0;
    return grow(w, more);
}

static inline void put(struct nurs_jsonw *w, const char *s, size_t n)
{
    if (reserve(w, n) == 0) {
        memcpy(w->buf + w->len, s, n);
        w->len += n;
    }
}

static inline void putc_(struct nurs_jsonw *w, char c)
{
    if (reserve(w, 1) == 0)
        w->buf[w->len++] = c;
}

size_t nurs_jsonw_utf8_len(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    unsigned min, cp;
    if (c < 0xC2)
        return 0; /* continuation byte or overlong 2-byte lead */
    if (c < 0xE0) {
        n = 2; cp = c & 0x1F; min = 0x80;
    } else if (c < 0xF0) {
        n = 3; cp = c & 0x0F; min = 0x800;
    } else if (c < 0xF5) {
        n = 4; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static void put_escaped(struct nurs_jsonw *w, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    putc_(w, '"');
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t n = c >= 0x80 ? nurs_jsonw_utf8_len(s + i, len - i) : 0;
        if (n) {
            i += n;
            continue;
        }
        put(w, str + run, i - run);
        char esc[6] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; put(w, esc, 2); break;
        case '\\': esc[1] = '\\'; put(w, esc, 2); break;
        case '\n': esc[1] = 'n'; put(w, esc, 2); break;
        case '\r': esc[1] = 'r'; put(w, esc, 2); break;
        case '\t': esc[1] = 't'; put(w, esc, 2); break;
        case '\b': esc[1] = 'b'; put(w, esc, 2); break;
        case '\f': esc[1] = 'f'; put(w, esc, 2); break;
        default:
            if (c >= 0x80) {
                put(w, "\\ufffd", 6); /* an invalid byte: replaced, not passed on */
            } else {
                esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
                put(w, esc, 6);
            }
        }
        i++;
        run = i;
    }
    put(w, str + run, len - run);
    putc_(w, '"');
}

/* Comma and key before a value at the current depth. */
static void prefix(struct nurs_jsonw *w, const char *key)
{
    if (!w->first[w->depth])
        putc_(w, ',');
    w->first[w->depth] = 0;
    if (key) {
        put_escaped(w, key, strlen(key));
        putc_(w, ':');
    }
}

static void open_(struct nurs_jsonw *w, const char *key, char c)
{
    if (w->failed)
        return;
    if (w->depth >= NURS_JSONW_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    prefix(w, key);
    putc_(w, c);
    w->first[++w->depth] = 1;
}

static void close_(struct nurs_jsonw *w, char c)
{
    if (w->failed || w->depth == 0)
        return;
    w->depth--;
    putc_(w, c);
}

void nurs_jsonw_object_begin(struct nurs_jsonw *w, const char *key) { open_(w, key, '{'); }
void nurs_jsonw_object_end(struct nurs_jsonw *w) { close_(w, '}'); }
void nurs_jsonw_array_begin(struct nurs_jsonw *w, const char *key) { open_(w, key, '['); }
void nurs_jsonw_array_end(struct nurs_jsonw *w) { close_(w, ']'); }

void nurs_jsonw_string(struct nurs_jsonw *w, const char *key, const char *s, size_t len)
{
    if (w->failed)
        return;
    prefix(w, key);
    put_escaped(w, s, len);
}

void nurs_jsonw_cstring(struct nurs_jsonw *w, const char *key, const char *s)
{
    nurs_jsonw_string(w, key, s, strlen(s));
}

static void put_number(struct nurs_jsonw *w, const char *key, const char *text, int n)
{
    if (w->failed)
        return;
    prefix(w, key);
    put(w, text, (size_t)n);
}

/* Decimal digits of v, right-aligned in end[-20..-1]; returns the start.
 * snprintf was a quarter of the JSON sink's time. */
static char *format_u64(char *end, unsigned long long v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void nurs_jsonw_int(struct nurs_jsonw *w, const char *key, long long v)
{
    char num[24];
    char *end = num + sizeof num;
    unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    char *p = format_u64(end, mag);
    if (v < 0)
        *--p = '-';
    put_number(w, key, p, (int)(end - p));
}

void nurs_jsonw_uint(struct nurs_jsonw *w, const char *key, unsigned long long v)
{
    char num[24];
    char *end = num + sizeof num;
    char *p = format_u64(end, v);
    put_number(w, key, p, (int)(end - p));
}

void nurs_jsonw_double(struct nurs_jsonw *w, const char *key, double v)
{
    if (!isfinite(v)) {
        nurs_jsonw_null(w, key);
        return;
    }
    char num[32];
    /* The shortest form that reads back as the same double. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(num, sizeof num, "%.*g", prec, v);
        if (strtod(num, NULL) == v)
            break;
    }
    put_number(w, key, num, n);
}

void nurs_jsonw_bool(struct nurs_jsonw *w, const char *key, int v)
{
    put_number(w, key, v ? "true" : "false", v ? 4 : 5);
}

void nurs_jsonw_null(struct nurs_jsonw *w, const char *key) { put_number(w, key, "null", 4); }

void nurs_jsonw_raw_char(struct nurs_jsonw *w, char c)
{
    putc_(w, c);
}

void nurs_jsonw_raw(struct nurs_jsonw *w, const char *s, size_t n) { put(w, s, n); }
