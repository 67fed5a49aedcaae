#include "core/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static bool parse_id(const char *s, unsigned long *out)
{
    char *end;
    if (!*s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return !errno && !*end && *out < (unsigned long)(uid_t)-1;
}

int nurs_identity_lookup(struct nurs_identity *id, const char *user, const char *group,
                         char *err, size_t errlen)
{
    unsigned long num;
    memset(id, 0, sizeof *id);
    id->user = user;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw && parse_id(user, &num))
        pw = getpwuid((uid_t)num);
    if (pw) {
        id->uid = pw->pw_uid;
        id->gid = pw->pw_gid;
    } else if (parse_id(user, &num)) {
        /* A uid without an account: its group must be given. */
        id->uid = (uid_t)num;
        if (!group) {
            snprintf(err, errlen, "--user %s: no such account; give --group too", user);
            return -1;
        }
    } else {
        snprintf(err, errlen, "--user %s: no such user%s%s", user, errno ? ": " : "",
                 errno ? strerror(errno) : "");
        return -1;
    }
    if (group) {
        struct group *gr = getgrnam(group);
        if (gr)
            id->gid = gr->gr_gid;
        else if (parse_id(group, &num))
            id->gid = (gid_t)num;
        else {
            snprintf(err, errlen, "--group %s: no such group", group);
            return -1;
        }
    }
    return 0;
}

static int cap_get(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capget, &hdr, data);
}

uint64_t nurs_capabilities_get(int which)
{
    struct __user_cap_data_struct d[2];
    if (cap_get(d) < 0)
        return 0;
    if (which == 0)
        return (uint64_t)d[1].effective << 32 | d[0].effective;
    return (uint64_t)d[1].permitted << 32 | d[0].permitted;
}

void nurs_capabilities_format(uint64_t mask, char *buf, size_t len)
{
    static const struct {
        int cap;
        const char *name;
    } names[] = {
        {CAP_NET_ADMIN, "CAP_NET_ADMIN"},     {CAP_SYS_PTRACE, "CAP_SYS_PTRACE"},
        {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH"}, {CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
        {CAP_SYS_NICE, "CAP_SYS_NICE"},       {CAP_SETUID, "CAP_SETUID"},
        {CAP_SETGID, "CAP_SETGID"},           {CAP_SETPCAP, "CAP_SETPCAP"},
    };
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(mask & (1ull << names[i].cap)))
            continue;
        int n = snprintf(buf + pos, len - pos, "%s%s", pos ? " " : "", names[i].name);
        if (n < 0 || (size_t)n >= len - pos)
            return;
        pos += (size_t)n;
        mask &= ~(1ull << names[i].cap);
    }
    for (int cap = 0; cap < 64 && mask; cap++) {
        if (!(mask & (1ull << cap)))
            continue;
        int n = snprintf(buf + pos, len - pos, "%scapability %d", pos ? " " : "", cap);
        if (n < 0 || (size_t)n >= len - pos)
            return;
        pos += (size_t)n;
        mask &= ~(1ull << cap);
    }
}

void nurs_capabilities_clear_ambient(void)
{
    /* EINVAL: a kernel older than 4.3, without ambient capabilities. */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

int nurs_privileges_drop(const struct nurs_identity *id, uint64_t keep, char *err,
                         size_t errlen)
{
    char names[256];
    uint64_t missing = keep & ~nurs_capabilities_get(1);
    if (missing) {
        nurs_capabilities_format(missing, names, sizeof names);
        snprintf(err, errlen, "--user %s: cannot keep %s: the daemon was started without it",
                 id->user, names);
        return -1;
    }
    bool change = getuid() != id->uid || geteuid() != id->uid || getgid() != id->gid ||
                  getegid() != id->gid;
    if (change) {
        /* Capabilities are per thread: this keeps the permitted set of
         * the thread that runs the loop across the uid change. Threads
         * started already (the budget watchdog, librdkafka's) change uid
         * too (glibc makes every thread do so) and, needing none, lose
         * every capability. */
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
            snprintf(err, errlen, "--user: PR_SET_KEEPCAPS: %s", strerror(errno));
            return -1;
        }
        struct passwd *pw = getpwuid(id->uid);
        int rc = pw ? initgroups(pw->pw_name, id->gid) : setgroups(1, &id->gid);
        if (rc < 0 || setresgid(id->gid, id->gid, id->gid) < 0 ||
            setresuid(id->uid, id->uid, id->uid) < 0) {
            snprintf(err, errlen, "--user %s: %s%s", id->user, strerror(errno),
                     errno == EPERM ? " (needs root, or CAP_SETUID and CAP_SETGID)" : "");
            prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
            return -1;
        }
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2] = {
        {.effective = (uint32_t)keep, .permitted = (uint32_t)keep, .inheritable = 0},
        {.effective = (uint32_t)(keep >> 32), .permitted = (uint32_t)(keep >> 32), .inheritable = 0},
    };
    if (syscall(SYS_capset, &hdr, d) < 0) {
        snprintf(err, errlen, "--user %s: capset: %s", id->user, strerror(errno));
        return -1;
    }
    nurs_capabilities_clear_ambient();
    if (change && id->uid != 0 && setresuid(0, 0, 0) == 0) {
        snprintf(err, errlen, "--user %s: root could be regained after the switch", id->user);
        return -1;
    }
    return 0;
}
