/* The BPF side of process attribution for one engine: owner.bpf.c loaded
 * from the skeleton embedded in the binary, its programs attached to the
 * root of the cgroup v2 hierarchy by links that this process alone holds (no pins: when the daemon exits, even by
 * SIGKILL, the kernel detaches and frees them), and its ring buffer
 * drained on the loop into the table of socket owners (socktable.h). */
#ifndef NURS_PROCESS_BPF_LOADER_H
#define NURS_PROCESS_BPF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "netlink/sockdiag.h"
#include "process/bpf/socktable.h"

struct nurs_bpf_opts {
    uint32_t ring_bytes; /* the ring buffer (a power of 2, at least a page) */
    uint32_t sockets;    /* socket owners remembered (and UDP destinations in the kernel) */
};

#define NURS_BPF_DEFAULT_RING (1u << 20)
#define NURS_BPF_DEFAULT_SOCKETS 16384u
#define NURS_BPF_MAX_RING (1u << 30)
#define NURS_BPF_MAX_SOCKETS (1u << 22)

struct nurs_bpf;

struct nurs_bpf_counters {
    uint64_t records;  /* read from the ring buffer */
    uint64_t dropped;  /* lost: the ring buffer was full, or a record was malformed */
    uint64_t replaced; /* owners forgotten to make room (socktable.h) */
};

/* Loads and attaches for the network namespace whose cookie is netns.
 * NULL with the reason in err (what "auto" logs when it falls back):
 * built without BPF, no capability, no BTF, no cgroup v2, or what libbpf
 * or the kernel refused. */
struct nurs_bpf *nurs_bpf_open(uv_loop_t *loop, uint64_t netns, const struct nurs_bpf_opts *o,
                               char *err, size_t errlen);
/* Detaches everything now; `closed(ctx)` once b is freed (from the loop). */
void nurs_bpf_close(struct nurs_bpf *b, void (*closed)(void *ctx), void *ctx);
/* Where the cgroup programs are attached (for the log). */
const char *nurs_bpf_cgroup(const struct nurs_bpf *b);

/* The owner of the socket at one end of a connection (k as for sock_diag),
 * after reading what the ring buffer holds; *owner a copy of it to free(),
 * NULL when not found (or out of memory: then NURS_SOCK_NONE). */
enum nurs_sock_match nurs_bpf_match(struct nurs_bpf *b, const struct nurs_sock_key *k,
                                    struct nurs_sock_owner **owner);

void nurs_bpf_counters(const struct nurs_bpf *b, struct nurs_bpf_counters *c);

#endif
