/* Which process holds a socket, found in /proc: socket inode -> pid and fd
 * -> what the process is (name, command line, cgroup, user). Runs on a
 * worker thread, never on the event loop: nothing here touches it.
 *
 * What a process is (name, command line, effective uid, cgroup) is read
 * again when older than a second, so an exec shows. Kept fresh cheaply: every fd directory read feeds a cache of socket
 * inodes (checked with one readlink before it is believed, so a reused pid
 * or inode is never taken for the old one). A socket not in the cache is
 * looked for in the processes most likely to have just opened it: those
 * not read since they appeared in /proc (new, short-lived processes, with
 * few descriptors), newest first; then, if the socket is still open at all
 * (a process that exited closed its sockets: reading all of /proc would
 * find nothing), those that opened sockets in the last minute (a server, a
 * browser), those that appeared in the last two seconds, those of the
 * socket's uid, and the rest. The search stops when every socket asked for
 * is found. Reading a process costs one readlink per descriptor it has. */
#ifndef NURS_PROCESS_PROCSCAN_H
#define NURS_PROCESS_PROCSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "process/bpf/owner.h"
#include "process/procinfo.h"

struct nurs_procscan;

struct nurs_procscan_stats {
    uint64_t listings;  /* readings of the /proc directory */
    uint64_t fd_dirs;   /* fd directories read */
    uint64_t cache_hits;
    uint64_t found, gone;
    uint64_t closed; /* searches cut short: the socket had closed */
    /* fd directories or links we may not read (another user's process,
     * without CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE) */
    uint64_t denied;
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
    /* What a BPF hook saw of the owner: with inode 0, the answer; else
     * the answer if no process holds the socket. Completed with the user's
     * name, the cgroup's path and, if the process still lives, what the
     * hook could not copy. */
    const struct nurs_sock_owner *owner;
};

/* Whether the socket of w is still held by a file (the caller asks the
 * kernel); without one, every missing socket is searched for. */
typedef bool (*nurs_procscan_open_fn)(void *ctx, const struct nurs_procscan_want *w);

void nurs_procscan_resolve(struct nurs_procscan *ps, struct nurs_procscan_want *w, size_t n,
                           nurs_procscan_open_fn still_open, void *ctx);
const struct nurs_procscan_stats *nurs_procscan_stats(const struct nurs_procscan *ps);
/* For the owners a BPF program saw: their cgroup ids become paths
 * (cgroupid.h). Opens the cgroup v2 hierarchy now, while the daemon may
 * (it can mount it for itself before --user drops the privilege); on the
 * loop, at start. Returns -1 if out of memory. */
int nurs_procscan_name_cgroups(struct nurs_procscan *ps);
/* How long a process counts as young (2 s; tests make it 0). */
void nurs_procscan_set_young(struct nurs_procscan *ps, uint64_t ns);

#endif
