/* The owner of a socket as a BPF program saw it (record.h), checked and
 * decoded by a pure function (fuzzed: fuzz/fuzz_bpf_record.c), and the
 * 5-tuple it is found by. */
#ifndef NURS_PROCESS_BPF_OWNER_H
#define NURS_PROCESS_BPF_OWNER_H

#include <stddef.h>
#include <stdint.h>

/* A socket's addresses in a network namespace, as the socket sees them
 * (local first). Built zeroed: it is hashed and compared as bytes. */
struct nurs_sock_tuple {
    uint64_t netns;
    uint8_t family, proto;
    uint16_t lport, rport; /* host order; rport 0: bound only */
    uint8_t pad[2];
    uint8_t laddr[16], raddr[16]; /* IPv4 in the first 4 bytes, the rest 0 */
};

struct nurs_sock_owner {
    struct nurs_sock_tuple t;
    uint64_t cookie;    /* the socket's cookie (0: unknown) */
    uint64_t start_ns;  /* the process's start, ns since boot */
    uint64_t cgroup_id; /* its thread's cgroup v2 id */
    uint32_t tgid, tid, ppid, uid, gid;
    uint8_t kind;     /* enum nurs_bpf_kind */
    char comm[16];    /* printable, NUL-terminated; "" if none */
    uint16_t cmdline_len;
    const char *cmdline; /* cmdline_len raw bytes (arguments NUL-separated); borrowed */
};

/* Decodes one ring-buffer record of len bytes into *o (o->cmdline points
 * into data). IPv4-mapped IPv6 addresses come out as IPv4, as conntrack
 * sees them. Returns 0, or -1 with *why if the record is not one. */
int nurs_bpf_record_decode(const void *data, size_t len, struct nurs_sock_owner *o,
                           const char **why);

/* A copy of o that owns its command line (one allocation, freed with
 * free()); NULL if out of memory. */
struct nurs_sock_owner *nurs_sock_owner_dup(const struct nurs_sock_owner *o);

#endif
