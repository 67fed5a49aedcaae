/* A JSON writer into a growable buffer: the caller says where values go
 * (keys, nesting); commas, escaping and UTF-8 validity are handled here. */
#ifndef NURS_JSONW_H
#define NURS_JSONW_H

#include <stddef.h>

#define JSONW_MAX_DEPTH 64

struct jsonw {
    char *buf;
    size_t len, cap;
    int depth;
    unsigned char first[JSONW_MAX_DEPTH + 1]; /* 1 while nothing written at that depth */
    int failed; /* allocation failure or depth overflow: later calls do nothing */
};

void jsonw_init(struct jsonw *w);
void jsonw_free(struct jsonw *w);
void jsonw_clear(struct jsonw *w);
/* key is NULL inside arrays and at top level. */
void jsonw_object_begin(struct jsonw *w, const char *key);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w, const char *key);
void jsonw_array_end(struct jsonw *w);
void jsonw_string(struct jsonw *w, const char *key, const char *s, size_t len);
void jsonw_cstring(struct jsonw *w, const char *key, const char *s);
void jsonw_int(struct jsonw *w, const char *key, long long v);
void jsonw_uint(struct jsonw *w, const char *key, unsigned long long v);
void jsonw_double(struct jsonw *w, const char *key, double v);
void jsonw_bool(struct jsonw *w, const char *key, int v);
void jsonw_null(struct jsonw *w, const char *key);
void jsonw_raw_char(struct jsonw *w, char c);
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid (RFC 3629:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
size_t jsonw_utf8_len(const unsigned char *s, size_t left);

#endif
