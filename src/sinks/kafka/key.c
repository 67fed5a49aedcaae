#include "sinks/kafka/key.h"

#include <stdio.h>
#include <string.h>

#include "records/ct_fields.h"
#include "records/pkt_fields.h"

static bool path_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.';
}

static int find(const char *const *names, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return i;
    return -1;
}

static void resolve(struct nurs_kafka_key_part *p)
{
    const char *dot = strchr(p->text, '.');
    p->dir = -1;
    p->field = -1;
    if (!dot) {
        p->field = find(nurs_ct_field_names, NURS_CTF_COUNT, p->text, strlen(p->text));
        return;
    }
    static const char *const dirs[] = {"orig", "reply", "master"};
    static const enum nurs_ct_dir dir_of[] = {NURS_CT_ORIG, NURS_CT_REPLY, NURS_CT_MASTER};
    int d = find(dirs, 3, p->text, (size_t)(dot - p->text));
    if (d < 0)
        return;
    p->field = find(nurs_ct_dir_field_names, NURS_CTD_COUNT, dot + 1, strlen(dot + 1));
    if (p->field >= 0)
        p->dir = (int)dir_of[d];
}

static int add(struct nurs_kafka_key *k, bool is_field, const char *s, size_t len, char *err,
               size_t errlen)
{
    if (len == 0)
        return 0;
    if (k->n == NURS_KAFKA_KEY_MAX_PARTS || len >= sizeof k->parts[0].text) {
        snprintf(err, errlen, "key template too long (at most %d parts of %zu characters)",
                 NURS_KAFKA_KEY_MAX_PARTS, sizeof k->parts[0].text - 1);
        return -1;
    }
    struct nurs_kafka_key_part *p = &k->parts[k->n++];
    p->is_field = is_field;
    memcpy(p->text, s, len);
    p->text[len] = '\0';
    if (is_field) {
        for (size_t i = 0; i < len; i++) {
            if (!path_char(s[i]) || s[0] == '.' || s[len - 1] == '.') {
                snprintf(err, errlen, "key: '%s' is not a field name (like id or orig.src)",
                         p->text);
                return -1;
            }
        }
        resolve(p);
    }
    return 0;
}

int nurs_kafka_key_compile(struct nurs_kafka_key *k, const char *spec, char *err, size_t errlen)
{
    k->n = 0;
    if (strlen(spec) > NURS_KAFKA_KEY_MAX_TEXT) {
        snprintf(err, errlen, "key template longer than %d characters", NURS_KAFKA_KEY_MAX_TEXT);
        return -1;
    }
    if (!strchr(spec, '{') && !strchr(spec, '}')) {
        if (!*spec) {
            snprintf(err, errlen, "key: empty field name");
            return -1;
        }
        return add(k, true, spec, strlen(spec), err, errlen);
    }
    const char *p = spec;
    while (*p) {
        const char *open = strchr(p, '{'), *close = strchr(p, '}');
        if (close && (!open || close < open)) {
            snprintf(err, errlen, "key: '}' without '{' in \"%s\"", spec);
            return -1;
        }
        if (!open)
            return add(k, false, p, strlen(p), err, errlen);
        if (!close) {
            snprintf(err, errlen, "key: '{' without '}' in \"%s\"", spec);
            return -1;
        }
        if (close == open + 1) {
            snprintf(err, errlen, "key: empty field name in \"%s\"", spec);
            return -1;
        }
        if (add(k, false, p, (size_t)(open - p), err, errlen) < 0 ||
            add(k, true, open + 1, (size_t)(close - open - 1), err, errlen) < 0)
            return -1;
        p = close + 1;
    }
    return 0;
}

const char *nurs_kafka_key_unknown_field(const struct nurs_kafka_key *k)
{
    for (int i = 0; i < k->n; i++) {
        const struct nurs_kafka_key_part *p = &k->parts[i];
        if (p->is_field && p->field < 0 &&
            find(nurs_pkt_field_names, NURS_PKTF_COUNT, p->text, strlen(p->text)) < 0)
            return p->text;
    }
    return NULL;
}

/* An emitter that keeps the text of one scalar value; objects and arrays
 * (a process, status) leave nothing. */
struct scalar {
    char *out;
    size_t cap, len;
    int depth;
};

static void put(struct scalar *s, const char *p, size_t n)
{
    if (s->depth > 0)
        return;
    if (n > s->cap - s->len)
        n = s->cap - s->len;
    memcpy(s->out + s->len, p, n);
    s->len += n;
}

static void s_open(void *ctx, const char *key)
{
    (void)key;
    ((struct scalar *)ctx)->depth++;
}
static void s_close(void *ctx) { ((struct scalar *)ctx)->depth--; }
/* Decimal, without printf: keys are made once per record. */
static void s_int(void *ctx, const char *key, long long v)
{
    (void)key;
    char num[24];
    char *p = num + sizeof num;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    put(ctx, p, (size_t)(num + sizeof num - p));
}
static void s_str(void *ctx, const char *key, const char *p, size_t n)
{
    (void)key;
    put(ctx, p, n);
}
static void s_bool(void *ctx, const char *key, bool v)
{
    (void)key;
    put(ctx, v ? "true" : "false", v ? 4 : 5);
}

static const struct nurs_emit scalar_emitter = {
    .object_begin = s_open,
    .object_end = s_close,
    .array_begin = s_open,
    .array_end = s_close,
    .integer = s_int,
    .string = s_str,
    .boolean = s_bool,
};

size_t nurs_kafka_key_ct(const struct nurs_kafka_key *k, struct nurs_ct_msg *m, char *out,
                         size_t cap)
{
    struct scalar s = {.out = out, .cap = cap};
    for (int i = 0; i < k->n; i++) {
        const struct nurs_kafka_key_part *p = &k->parts[i];
        if (!p->is_field)
            put(&s, p->text, strlen(p->text));
        else if (p->field >= 0 && p->dir < 0)
            nurs_ct_emit_field(m, (enum nurs_ct_field)p->field, &scalar_emitter, &s);
        else if (p->field >= 0)
            nurs_ct_emit_dir_field(m, (enum nurs_ct_dir)p->dir, (enum nurs_ct_dir_field)p->field,
                                   &scalar_emitter, &s);
    }
    return s.len;
}
