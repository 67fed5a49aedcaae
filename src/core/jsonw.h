/* A JSON writer into a growable buffer: the caller says where values go
 * (keys, nesting); commas, escaping and UTF-8 validity are handled here. */
#ifndef NURS_CORE_JSONW_H
#define NURS_CORE_JSONW_H

#include <stddef.h>

#define NURS_JSONW_MAX_DEPTH 64

struct nurs_jsonw {
    char *buf;
    size_t len, cap;
    int depth;
    unsigned char first[NURS_JSONW_MAX_DEPTH + 1]; /* 1 while nothing written at that depth */
    int failed; /* allocation failure or depth overflow: later calls do nothing */
};

void nurs_jsonw_init(struct nurs_jsonw *w);
void nurs_jsonw_free(struct nurs_jsonw *w);
void nurs_jsonw_clear(struct nurs_jsonw *w);
/* key is NULL inside arrays and at top level. */
void nurs_jsonw_object_begin(struct nurs_jsonw *w, const char *key);
void nurs_jsonw_object_end(struct nurs_jsonw *w);
void nurs_jsonw_array_begin(struct nurs_jsonw *w, const char *key);
void nurs_jsonw_array_end(struct nurs_jsonw *w);
void nurs_jsonw_string(struct nurs_jsonw *w, const char *key, const char *s, size_t len);
void nurs_jsonw_cstring(struct nurs_jsonw *w, const char *key, const char *s);
void nurs_jsonw_int(struct nurs_jsonw *w, const char *key, long long v);
void nurs_jsonw_uint(struct nurs_jsonw *w, const char *key, unsigned long long v);
void nurs_jsonw_double(struct nurs_jsonw *w, const char *key, double v);
void nurs_jsonw_bool(struct nurs_jsonw *w, const char *key, int v);
void nurs_jsonw_null(struct nurs_jsonw *w, const char *key);
void nurs_jsonw_raw_char(struct nurs_jsonw *w, char c);
/* Bytes written as they are (JSON that another writer made). */
void nurs_jsonw_raw(struct nurs_jsonw *w, const char *s, size_t n);
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid (RFC 3629:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
size_t nurs_jsonw_utf8_len(const unsigned char *s, size_t left);

#endif
