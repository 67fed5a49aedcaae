/* cgroup v2 ids (what a BPF hook sees of a process's cgroup) turned into
 * paths as /proc/PID/cgroup writes them, for processes that exited before
 * anyone read /proc: asked of the kernel by handle (open_by_handle_at,
 * with CAP_DAC_READ_SEARCH), else found by one walk of the hierarchy's
 * directories (an id is the inode number of its directory), and
 * remembered (an id is never reused). Blocks on the file system: worker
 * thread only. */
#ifndef NURS_PROCESS_CGROUPID_H
#define NURS_PROCESS_CGROUPID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nurs_cgroupids;

/* The root of the cgroup v2 hierarchy, opened (O_DIRECTORY): where it is
 * mounted, else a mount of our own that is attached nowhere (fsmount;
 * with CAP_SYS_ADMIN: `ip netns exec` gives its command a fresh /sys
 * without the cgroup mounts). `mnt` gets the mount point, "" for our own
 * (the paths the kernel gives its files start so). -1 if neither. */
int nurs_cgroup2_open(char *mnt, size_t cap);

/* NULL if out of memory. */
struct nurs_cgroupids *nurs_cgroupids_new(void);
void nurs_cgroupids_free(struct nurs_cgroupids *c);
/* The path of cgroup `id` ("/" for the root) into out; false if unknown
 * (no hierarchy, the directory is gone, or found no sooner than 100 ms
 * after the last walk). */
bool nurs_cgroupids_path(struct nurs_cgroupids *c, uint64_t id, char *out, size_t cap);

/* Whether systemd's v1 hierarchy is mounted beside v2 (then /proc/PID/cgroup
 * may say more than "/" for a process in v2's root). */
bool nurs_cgroupids_hybrid(const struct nurs_cgroupids *c);

struct nurs_cgroupids_stats {
    uint64_t by_handle, walks, dirs;
};
const struct nurs_cgroupids_stats *nurs_cgroupids_stats(const struct nurs_cgroupids *c);

#endif
