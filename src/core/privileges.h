/* --user/--group: started as root, the daemon opens its sockets, then
 * becomes an unprivileged user that keeps only the capabilities it still
 * needs (CAP_NET_ADMIN, for the sockets a reload opens). No libcap: two
 * prctl calls and one capset. */
#ifndef NURS_CORE_PRIVILEGES_H
#define NURS_CORE_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

struct nurs_identity {
    const char *user; /* as given, for messages */
    uid_t uid;
    gid_t gid;
};

/* Looks up `user` (a name or a number) and `group` (NULL: the user's
 * primary group). Returns 0, or -1 with a message in err. */
int nurs_identity_lookup(struct nurs_identity *id, const char *user, const char *group,
                         char *err, size_t errlen);

/* Becomes id (uid, gid and the user's supplementary groups) keeping the
 * capabilities in `keep` (a mask of CAP_* bit numbers) permitted and
 * effective, and no other; the ambient and inheritable sets are cleared,
 * so that no process a script starts inherits a capability. Needs root
 * (CAP_SETUID, CAP_SETGID, CAP_SETPCAP). Returns 0, or -1 with a message. */
int nurs_privileges_drop(const struct nurs_identity *id, uint64_t keep, char *err,
                         size_t errlen);

/* Empties the ambient set, which only serves to pass capabilities on to
 * programs we start (systemd's AmbientCapabilities= and setpriv give the
 * daemon its own through it): a script's io.popen gets none. */
void nurs_capabilities_clear_ambient(void);

/* The capability set `which` (0 effective, 1 permitted) of this thread, a
 * mask of CAP_* bit numbers; 0 if it cannot be read. */
uint64_t nurs_capabilities_get(int which);
/* "CAP_NET_ADMIN CAP_SYS_PTRACE" for a mask (the names we use). */
void nurs_capabilities_format(uint64_t mask, char *buf, size_t len);

#endif
