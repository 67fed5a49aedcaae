/* Which process holds a socket, found in /proc: socket inode -> pid and fd
 * -> what the process is (name, command line, cgroup, user). Runs on a
 * worker thread, never on the event loop: nothing here touches it.
 *
 * What a process is (name, command line, effective uid, cgroup) is read
 * again when older than a second, so an exec shows. Kept fresh cheaply: every fd directory read feeds a cache of socket
 * inodes (checked with one readlink before it is believed, so a reused pid
 * or inode is never taken for the old one). A socket not in the cache is
 * looked for in the processes most likely to have just opened it: those
 * that appeared since the last listing of /proc first (new, short-lived
 * processes), then those that opened sockets recently, then those of the
 * socket's uid, and the rest last; the search stops when every socket
 * asked for is found. */
#ifndef NURS_PROCSCAN_H
#define NURS_PROCSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "procinfo.h"

struct nurs_procscan;

struct nurs_procscan_stats {
    uint64_t listings;  /* readings of the /proc directory */
    uint64_t fd_dirs;   /* fd directories read */
    uint64_t cache_hits;
    uint64_t found, gone;
};

/* proc: where procfs is mounted ("/proc"; tests give a fake tree).
 * cmdline_max: bytes of command line kept (0: none). NULL on error. */
struct nurs_procscan *nurs_procscan_new(const char *proc, size_t cmdline_max);
void nurs_procscan_free(struct nurs_procscan *ps);

struct nurs_procscan_want {
    uint32_t inode, uid; /* from sock_diag */
    /* Out: a new reference: the process (pid 0 when no process holds the
     * socket any more: uid and user still known); NULL if out of memory. */
    struct nurs_proc *result;
};

void nurs_procscan_resolve(struct nurs_procscan *ps, struct nurs_procscan_want *w, size_t n);
const struct nurs_procscan_stats *nurs_procscan_stats(const struct nurs_procscan *ps);

#endif
