#include "process/cgroupid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/idtable.h"
#include "core/log.h"
#include "process/procinfo.h"

#define MAX_CACHED 8192u
#define MAX_WALK_DIRS 65536u
#define MAX_DEPTH 32
#define WALK_EVERY_NS (100ull * 1000000u)
#define FILEID_KERNFS 0xfe

struct entry {
    struct nurs_idtable_head head; /* id: the low 32 bits */
    uint64_t id;
    char *path;
};

struct nurs_cgroupids {
    char root[PATH_MAX]; /* where the hierarchy is mounted (paths of its fds start so) */
    int root_fd;
    bool by_handle; /* open_by_handle_at works (we may) */
    bool hybrid;
    uint64_t walked_ns;
    struct nurs_idtable cache;
    struct nurs_cgroupids_stats stats;
};

static uint64_t now_ns(void) { return nurs_monotonic_ms() * 1000000u; }

static void drop(void *e) { free(((struct entry *)e)->path); }

/* Where cgroup2 is mounted, and whether systemd's v1 hierarchy is too (a
 * hybrid host: there, v2 may say "/" where v1 names the service). */
static bool mounted(char *mnt, size_t cap, bool *hybrid)
{
    char text[32768];
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof text - 1 && (n = read(fd, text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    text[len] = '\0';
    if (hybrid)
        *hybrid = strstr(text, " - cgroup ") && strstr(text, "name=systemd");
    return nurs_mountinfo_cgroup2(text, len, mnt, cap);
}

int nurs_cgroup2_open(char *mnt, size_t cap)
{
    if (mounted(mnt, cap, NULL))
        return open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cap)
        mnt[0] = '\0';
    int fs = fsopen("cgroup2", FSOPEN_CLOEXEC);
    if (fs < 0)
        return -1;
    int m = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0
                ? fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                   MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)
                : -1;
    close(fs);
    if (m < 0)
        return -1;
    int root = openat(m, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(m); /* the open directory keeps the mount */
    return root;
}

struct nurs_cgroupids *nurs_cgroupids_new(void)
{
    struct nurs_cgroupids *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->root_fd = -1;
    c->by_handle = true;
    nurs_idtable_init(&c->cache, sizeof(struct entry), MAX_CACHED, 3600ull * 1000000000u, drop);
    c->root_fd = nurs_cgroup2_open(c->root, sizeof c->root);
    char mnt[PATH_MAX];
    mounted(mnt, sizeof mnt, &c->hybrid);
    return c;
}

void nurs_cgroupids_free(struct nurs_cgroupids *c)
{
    if (!c)
        return;
    nurs_idtable_free(&c->cache);
    if (c->root_fd >= 0)
        close(c->root_fd);
    free(c);
}

bool nurs_cgroupids_hybrid(const struct nurs_cgroupids *c) { return c->hybrid; }

const struct nurs_cgroupids_stats *nurs_cgroupids_stats(const struct nurs_cgroupids *c)
{
    return &c->stats;
}

static void remember(struct nurs_cgroupids *c, uint64_t id, const char *path)
{
    struct entry *e = nurs_idtable_put(&c->cache, (uint32_t)id, now_ns());
    if (!e)
        return;
    char *copy = strdup(path);
    if (!copy)
        return;
    free(e->path);
    e->id = id;
    e->path = copy;
}

/* Asks the kernel: the directory of the id, and where it is. */
static bool by_handle(struct nurs_cgroupids *c, uint64_t id)
{
    struct {
        struct file_handle fh;
        uint64_t id;
    } h = {.fh = {.handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS}, .id = id};
    int fd = open_by_handle_at(c->root_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EPERM || errno == EOPNOTSUPP || errno == EINVAL)
            c->by_handle = false; /* never will: walk instead */
        return false;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    close(fd);
    size_t rl = strlen(c->root);
    if (n < (ssize_t)rl || memcmp(path, c->root, rl) != 0)
        return false;
    path[n] = '\0';
    c->stats.by_handle++;
    remember(c, id, n == (ssize_t)rl ? "/" : path + rl);
    return true;
}

/* Remembers every directory under dirfd (path: its cgroup path). */
static void walk(struct nurs_cgroupids *c, int dirfd, char *path, size_t len, int depth)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) && c->stats.dirs < c->stats.walks * MAX_WALK_DIRS) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        size_t n = strlen(de->d_name);
        if (len + 1 + n >= PATH_MAX)
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        c->stats.dirs++;
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, n + 1);
        remember(c, st.st_ino, path);
        int sub = depth < MAX_DEPTH ? openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                    : -1;
        if (sub >= 0)
            walk(c, sub, path, len + 1 + n, depth + 1);
        path[len] = '\0';
    }
    closedir(d);
}

bool nurs_cgroupids_path(struct nurs_cgroupids *c, uint64_t id, char *out, size_t cap)
{
    if (c->root_fd < 0 || id == 0)
        return false;
    struct entry *e = nurs_idtable_get(&c->cache, (uint32_t)id);
    if (!(e && e->id == id) && !(c->by_handle && by_handle(c, id))) {
        uint64_t now = now_ns();
        if (now - c->walked_ns < WALK_EVERY_NS)
            return false;
        c->walked_ns = now;
        c->stats.walks++;
        struct stat st;
        if (fstat(c->root_fd, &st) == 0)
            remember(c, st.st_ino, "/");
        int fd = openat(c->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char path[PATH_MAX] = "";
        if (fd >= 0)
            walk(c, fd, path, 0, 0);
    }
    e = nurs_idtable_get(&c->cache, (uint32_t)id);
    if (!e || e->id != id || strlen(e->path) >= cap)
        return false;
    strcpy(out, e->path);
    return true;
}
