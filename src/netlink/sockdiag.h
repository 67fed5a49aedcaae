/* sock_diag (inet_diag) requests for one socket by its exact addresses and
 * ports, and the parsing of the kernel's answers: pure functions, no I/O,
 * so the parser can be fuzzed. */
#ifndef NURS_NETLINK_SOCKDIAG_H
#define NURS_NETLINK_SOCKDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

/* The socket at one end of a connection, from that end's point of view. */
struct nurs_sock_key {
    uint8_t family; /* AF_INET, AF_INET6 */
    uint8_t proto;  /* IPPROTO_TCP, IPPROTO_UDP */
    uint16_t lport, rport; /* host order; rport 0 with a zero remote: a listener */
    uint8_t local[16], remote[16];
};

/* Room for one request. */
#define NURS_SOCKDIAG_REQ_LEN 72

/* Writes the request for k into buf (NURS_SOCKDIAG_REQ_LEN bytes) and
 * returns its length. `swap` puts the remote end in the request's source
 * fields: the kernel's UDP lookup reads them that way round (udp_diag
 * passes them to its lookup "swapped for historical reasons"), TCP's the
 * other way. */
size_t nurs_sockdiag_request(void *buf, const struct nurs_sock_key *k, uint32_t seq, bool swap);

struct nurs_sockdiag_answer {
    uint32_t seq;
    int error;     /* 0: a socket; else the kernel's -errno (-ENOENT: no such socket) */
    uint8_t state; /* TCP_ESTABLISHED, TCP_LISTEN... as the kernel reports it */
    uint16_t lport, rport;
    uint8_t local[16], remote[16];
    uint32_t uid;
    uint32_t inode; /* 0: no file holds the socket (not accepted yet, closing) */
};

/* Parses one message of an answer (a socket, or an error). Returns 0, or
 * -1 with *why when the message is neither or is malformed. */
int nurs_sockdiag_parse(const struct nlmsghdr *nlh, size_t left, struct nurs_sockdiag_answer *a,
                        const char **why);

#endif
