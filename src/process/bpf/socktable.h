/* The owners of the sockets the BPF programs reported, by 5-tuple, until
 * conntrack's records of their connections come to be joined: a fixed
 * number of entries, the oldest replaced first (a bound of memory, not of
 * time: a connection is joined within milliseconds of its socket's
 * record, so only bind records of long-lived servers age out, and those
 * servers are still found by sock_diag). No I/O: tested on its own. */
#ifndef NURS_PROCESS_BPF_SOCKTABLE_H
#define NURS_PROCESS_BPF_SOCKTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "process/bpf/owner.h"

struct nurs_socktable_entry;

struct nurs_socktable {
    struct nurs_socktable_entry *e;
    uint32_t *buckets;
    uint32_t cap, mask, next; /* next: the slot written next (the oldest) */
    uint32_t count;
    uint64_t replaced; /* entries dropped to make room */
};

/* Room for cap owners (about 130 bytes each, and their command lines).
 * Returns -1 if out of memory. */
int nurs_socktable_init(struct nurs_socktable *t, uint32_t cap);
void nurs_socktable_free(struct nurs_socktable *t);
/* Stores a copy of o (its command line too), replacing the entry of the
 * same tuple. False if out of memory. */
bool nurs_socktable_put(struct nurs_socktable *t, const struct nurs_sock_owner *o);
/* The owner stored for exactly this tuple; NULL if none. Valid until the
 * next put. */
const struct nurs_sock_owner *nurs_socktable_get(const struct nurs_socktable *t,
                                                 const struct nurs_sock_tuple *k);

/* How a connection's end was found. */
enum nurs_sock_match {
    NURS_SOCK_NONE,
    NURS_SOCK_EXACT, /* connect(), accept(), or a datagram to this peer */
    NURS_SOCK_BOUND, /* only the socket bound to the local port: a listener */
};
/* The owner of the socket at one end: k's local address and port, the
 * peer's, exactly; else (UDP) the socket that sent to the peer from an
 * unbound address; else the one bound to the local port (its address, or
 * any, IPv4 or dual-stack IPv6). */
enum nurs_sock_match nurs_socktable_match(const struct nurs_socktable *t,
                                          const struct nurs_sock_tuple *k,
                                          const struct nurs_sock_owner **owner);

#endif
