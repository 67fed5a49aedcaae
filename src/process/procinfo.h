/* What is known of the process at one end of a connection: made once by
 * the /proc reader (a worker thread), then shared read-only by the
 * attribution table, records and exporters until its last reference goes,
 * so that a connection keeps naming its process after the process exited.
 * Also the pure parsers of what /proc says (fuzzed). */
#ifndef NURS_PROCESS_PROCINFO_H
#define NURS_PROCESS_PROCINFO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NURS_UID_UNKNOWN 0xffffffffu /* (uid_t)-1, as Linux APIs say "no uid" */

struct nurs_proc {
    atomic_int refs;
    uint32_t pid; /* 0: the socket was found but no process holds it any more */
    /* The process's effective uid; when no process holds the socket any
     * more, the socket's owner (who created it; ss -e shows it). */
    uint32_t uid;
    int32_t fd;   /* the socket's descriptor in that process, -1 if unknown */
    /* What only a BPF hook sees (0 when unknown): the thread that made the
     * connection, and the process's parent at that moment. */
    uint32_t tid, ppid;
    /* NUL-terminated, valid UTF-8 without control characters; NULL when
     * unknown. They live in the same allocation. */
    const char *name;      /* /proc/PID/comm */
    const char *cmdline;   /* arguments joined by spaces, bounded */
    const char *user;      /* the uid's name; NULL if it has none */
    const char *cgroup;    /* the process's cgroup path (v2, else systemd's v1 one) */
    const char *unit;      /* the innermost systemd unit of that path */
    const char *container; /* a container id or name found in that path */
};

/* The strings to copy in; any may be NULL. */
struct nurs_proc_fields {
    uint32_t pid, uid;
    int32_t fd;
    uint32_t tid, ppid;
    const char *name, *cmdline, *user, *cgroup, *unit, *container;
};

/* A new process record with one reference; NULL if out of memory. */
struct nurs_proc *nurs_proc_new(const struct nurs_proc_fields *f);
static inline struct nurs_proc *nurs_proc_ref(struct nurs_proc *p)
{
    if (p)
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}
void nurs_proc_unref(struct nurs_proc *p);

/* Copies len bytes of /proc text into out (cap bytes, NUL-terminated),
 * made printable: NUL bytes become spaces (the separators of cmdline; the
 * trailing ones go), other control characters and bytes that are not UTF-8
 * become '?', and a cut falls between characters. Returns the length. */
size_t nurs_proc_clean_text(char *out, size_t cap, const char *in, size_t len);

/* The effective uid in the text of /proc/PID/status ("Uid:" line, second
 * field); false if there is none. */
bool nurs_proc_status_euid(const char *text, size_t len, uint32_t *uid);

/* The start time (field 22, clock ticks since boot) in the text of
 * /proc/PID/stat; false if there is none. */
bool nurs_proc_stat_start(const char *text, size_t len, uint64_t *ticks);

/* Where the cgroup v2 hierarchy is mounted, from the text of
 * /proc/self/mountinfo (octal escapes undone); false if it is not. */
bool nurs_mountinfo_cgroup2(const char *text, size_t len, char *out, size_t cap);

/* The cgroup path in the text of /proc/PID/cgroup: the unified (v2) one,
 * unless it is the root and systemd's v1 hierarchy says more. False if
 * there is none. */
bool nurs_cgroup_path(const char *text, size_t len, char *out, size_t cap);
/* Room for what a cgroup says, and the three at once: f's cgroup, unit and
 * container from the text of /proc/PID/cgroup (those it has; they point
 * into buf). */
struct nurs_cgroup_text {
    char path[1024], unit[256], container[256];
};
void nurs_proc_fields_cgroup(struct nurs_proc_fields *f, const char *text, size_t len,
                             struct nurs_cgroup_text *buf);
/* The innermost systemd unit (a .service or .scope component) of a
 * cgroup path; false if none. */
bool nurs_cgroup_unit(const char *path, char *out, size_t cap);
/* The container of a cgroup path: a 64-hex-digit id as docker, podman,
 * containerd and CRI-O name their scopes and directories, or an LXC
 * payload's name; false if none. */
bool nurs_cgroup_container(const char *path, char *out, size_t cap);

#endif
