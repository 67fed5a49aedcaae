/* The Kafka message key: a record field ("id", "orig.src") or a template
 * of fields and text ("{orig.src}-{orig.dst}"), compiled once and filled
 * per record. Records of one connection get the same key, so they land
 * in the same partition. */
#ifndef NURS_SINKS_KAFKA_KEY_H
#define NURS_SINKS_KAFKA_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "netlink/ct_msg.h"

#define NURS_KAFKA_KEY_MAX_PARTS 16
#define NURS_KAFKA_KEY_MAX_TEXT 256
#define NURS_KAFKA_KEY_MAX_LEN 1024 /* a filled key is cut there */

struct nurs_kafka_key_part {
    bool is_field;
    char text[64]; /* the text, or the field's path ("orig.src") */
    /* The path as a conntrack field: top-level (dir < 0) or a direction's
     * (orig, reply, master); field < 0 when it names none. */
    int dir, field;
};

struct nurs_kafka_key {
    int n; /* 0: no key */
    struct nurs_kafka_key_part parts[NURS_KAFKA_KEY_MAX_PARTS];
};

/* Compiles spec; -1 with a message for what is not a field path or a
 * template. */
int nurs_kafka_key_compile(struct nurs_kafka_key *k, const char *spec, char *err, size_t errlen);
/* A path that names neither a conntrack field nor a packet field (it may
 * still be a Lua table's), or NULL. */
const char *nurs_kafka_key_unknown_field(const struct nurs_kafka_key *k);
/* Fills the key for a conntrack record; returns its length (at most cap).
 * Absent fields are empty. */
size_t nurs_kafka_key_ct(const struct nurs_kafka_key *k, struct nurs_ct_msg *m, char *out,
                         size_t cap);

#endif
