#include "process/procscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/grow.h"
#include "core/idtable.h"
#include "process/bpf/record.h"
#include "process/cgroupid.h"

#define MAX_INODES (1u << 18)
#define MAX_PIDS (1u << 20)
#define MAX_USERS 4096u
#define STALE_NS (600ull * 1000000000u)  /* cache entries untouched this long may go */
#define HOT_NS (60ull * 1000000000u)     /* processes that opened sockets this recently */
#define YOUNG_NS (2ull * 1000000000u)    /* processes this young are read first, every time */
#define INFO_TTL_NS (1000000000ull)      /* a process's details are read again after this */
#define USER_TTL_NS (300ull * 1000000000u)

struct inode_entry {
    struct nurs_idtable_head head; /* id: the socket inode */
    uint32_t pid;
    int32_t fd;
};

struct pid_entry {
    struct nurs_idtable_head head; /* id: the pid */
    uint64_t listed;               /* generation of the last listing that had it */
    uint64_t scanned;              /* generation of the last fd scan; 0: never */
    uint64_t owner_ns;             /* when a socket we asked for was found in it */
    uint64_t first_ns;             /* when a listing first had it */
    uint64_t info_ns;
    uint32_t uid; /* the owner of /proc/PID: an ordering hint */
    struct nurs_proc *info;
};

struct user_entry {
    struct nurs_idtable_head head; /* id: the uid */
    uint64_t looked_ns;
    bool has;
    char name[64];
};

struct nurs_procscan {
    int proc_fd;
    size_t cmdline_max;
    char *cmdline_buf;
    struct nurs_idtable inodes, pids, users;
    uint64_t gen;
    uint64_t young_ns;
    uint32_t *list;
    size_t list_n, list_cap;
    uint32_t *fds; /* descriptor numbers of the fd directory being read */
    size_t fds_cap;
    struct nurs_procscan_stats stats;
    struct nurs_cgroupids *cgroups; /* for what BPF saw: nurs_procscan_name_cgroups */
    long ticks_per_s;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void drop_pid(void *e) { nurs_proc_unref(((struct pid_entry *)e)->info); }

struct nurs_procscan *nurs_procscan_new(const char *proc, size_t cmdline_max)
{
    struct nurs_procscan *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->proc_fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ps->cmdline_max = cmdline_max;
    ps->young_ns = YOUNG_NS;
    ps->ticks_per_s = sysconf(_SC_CLK_TCK);
    ps->cmdline_buf = malloc(cmdline_max + 1);
    if (ps->proc_fd < 0 || !ps->cmdline_buf) {
        nurs_procscan_free(ps);
        return NULL;
    }
    nurs_idtable_init(&ps->inodes, sizeof(struct inode_entry), MAX_INODES, STALE_NS, NULL);
    nurs_idtable_init(&ps->pids, sizeof(struct pid_entry), MAX_PIDS, STALE_NS, drop_pid);
    nurs_idtable_init(&ps->users, sizeof(struct user_entry), MAX_USERS, STALE_NS, NULL);
    return ps;
}

void nurs_procscan_free(struct nurs_procscan *ps)
{
    if (!ps)
        return;
    if (ps->proc_fd >= 0)
        close(ps->proc_fd);
    nurs_idtable_free(&ps->inodes);
    nurs_idtable_free(&ps->pids);
    nurs_idtable_free(&ps->users);
    free(ps->cmdline_buf);
    nurs_cgroupids_free(ps->cgroups);
    free(ps->list);
    free(ps->fds);
    free(ps);
}

void nurs_procscan_set_young(struct nurs_procscan *ps, uint64_t ns) { ps->young_ns = ns; }

int nurs_procscan_name_cgroups(struct nurs_procscan *ps)
{
    if (!ps->cgroups)
        ps->cgroups = nurs_cgroupids_new();
    return ps->cgroups ? 0 : -1;
}

const struct nurs_procscan_stats *nurs_procscan_stats(const struct nurs_procscan *ps)
{
    return &ps->stats;
}

/* ---- reading /proc ---- */

/* "socket:[12345]" -> 12345 */
static bool socket_inode(const char *link, size_t n, uint32_t *inode)
{
    if (n < 10 || memcmp(link, "socket:[", 8) != 0 || link[n - 1] != ']')
        return false;
    uint64_t v = 0;
    for (size_t i = 8; i < n - 1; i++) {
        if (link[i] < '0' || link[i] > '9' || v > 0xffffffffu)
            return false;
        v = v * 10 + (uint64_t)(link[i] - '0');
    }
    if (v > 0xffffffffu)
        return false;
    *inode = (uint32_t)v;
    return true;
}

static bool fd_holds(struct nurs_procscan *ps, uint32_t pid, int32_t fd, uint32_t inode)
{
    char path[48], link[64];
    snprintf(path, sizeof path, "%u/fd/%d", pid, fd);
    ssize_t n = readlinkat(ps->proc_fd, path, link, sizeof link);
    uint32_t found;
    return n > 0 && socket_inode(link, (size_t)n, &found) && found == inode;
}

static bool parse_uint(const char *s, uint32_t *v)
{
    uint64_t x = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > 0xffffffffu)
            return false;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    if (x > 0xffffffffu)
        return false;
    *v = (uint32_t)x;
    return true;
}

/* Lists the pids (thread group leaders) of /proc now, and forgets the
 * processes that are gone. */
static void list_pids(struct nurs_procscan *ps, uint64_t now)
{
    ps->stats.listings++;
    ps->list_n = 0;
    int fd = openat(ps->proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        uint32_t pid;
        if (!parse_uint(de->d_name, &pid) || pid == 0)
            continue;
        if (!nurs_grow((void **)&ps->list, &ps->list_cap, ps->list_n, sizeof *ps->list, 1024))
            break;
        ps->list[ps->list_n++] = pid;
        struct pid_entry *p = nurs_idtable_put(&ps->pids, pid, now);
        if (!p)
            continue;
        if (!p->listed) {
            p->first_ns = now;
            struct stat st;
            p->uid = fstatat(ps->proc_fd, de->d_name, &st, 0) == 0 ? st.st_uid : NURS_UID_UNKNOWN;
        }
        p->listed = ps->gen;
    }
    closedir(d);
    struct pid_entry *p;
    for (size_t pos = 0; (p = nurs_idtable_next(&ps->pids, &pos));) {
        if (p->listed != ps->gen) {
            nurs_proc_unref(p->info);
            nurs_idtable_del(&ps->pids, p->head.id);
        }
    }
}

struct missing {
    struct nurs_procscan_want *w;
    uint32_t pid;
    int32_t fd;
    bool closed; /* the socket closed before it was found: not searched for */
};

static int cmp_missing(const void *a, const void *b)
{
    uint32_t x = ((const struct missing *)a)->w->inode, y = ((const struct missing *)b)->w->inode;
    return (x > y) - (x < y);
}

static int cmp_fd_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

/* Reads the fd directory of pid, newest descriptors (highest numbers)
 * first, until `want` of the sockets asked for are found there: a server
 * holding thousands of connections has its new one near the top, and one
 * readlink finds it. Every socket read goes into the cache, and those
 * asked for are marked found. Returns how many it found. */
static size_t scan_fds(struct nurs_procscan *ps, uint32_t pid, struct missing *m, size_t n,
                       size_t want, uint64_t now)
{
    char path[32];
    snprintf(path, sizeof path, "%u/fd", pid);
    int fd = openat(ps->proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EPERM))
        ps->stats.denied++;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    ps->stats.fd_dirs++;
    size_t nfds = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint32_t num;
        if (!parse_uint(de->d_name, &num) || num > 0x7fffffff)
            continue;
        if (!nurs_grow((void **)&ps->fds, &ps->fds_cap, nfds, sizeof *ps->fds, 256))
            break;
        ps->fds[nfds++] = num;
    }
    if (nfds > 1)
        qsort(ps->fds, nfds, sizeof *ps->fds, cmp_fd_desc);
    size_t found = 0;
    for (size_t k = 0; k < nfds && found < want; k++) {
        char name[16], link[64];
        uint32_t inode;
        snprintf(name, sizeof name, "%u", ps->fds[k]);
        ssize_t len = readlinkat(fd, name, link, sizeof link);
        if (len < 0 && (errno == EACCES || errno == EPERM)) {
            ps->stats.denied++;
            break; /* every other link of this process is refused too */
        }
        if (len <= 0 || !socket_inode(link, (size_t)len, &inode))
            continue;
        struct inode_entry *e = nurs_idtable_put(&ps->inodes, inode, now);
        if (e) {
            e->pid = pid;
            e->fd = (int32_t)ps->fds[k];
        }
        struct nurs_procscan_want key = {.inode = inode};
        struct missing probe = {.w = &key};
        struct missing *hit = bsearch(&probe, m, n, sizeof *m, cmp_missing);
        /* Several ends may ask for one socket (a connection to itself). */
        while (hit && hit > m && hit[-1].w->inode == inode)
            hit--;
        for (; hit && hit < m + n && hit->w->inode == inode; hit++) {
            if (!hit->pid && !hit->closed) {
                hit->pid = pid;
                hit->fd = (int32_t)ps->fds[k];
                found++;
            }
        }
    }
    closedir(d);
    return found;
}

/* Which processes to read, in order, until everything is found. */
enum tier { NEW, HOT, YOUNG, SAME_UID, REST };

static bool in_tier(const struct nurs_procscan *ps, const struct pid_entry *p, enum tier t,
                    uint64_t now, const struct missing *m, size_t n)
{
    switch (t) {
    case NEW: /* not read since it appeared */
        return p->scanned == 0;
    case HOT: /* servers, browsers: they open sockets all the time */
        return p->owner_ns && now - p->owner_ns < HOT_NS;
    case YOUNG: /* short-lived processes open their sockets young */
        return now - p->first_ns < ps->young_ns;
    case SAME_UID:
        for (size_t i = 0; i < n; i++)
            if (!m[i].pid && m[i].w->uid == p->uid)
                return true;
        return false;
    case REST:
        return true;
    }
    return true;
}

/* Marks the missing sockets that have closed (their process exited with
 * them: no /proc search can find them); returns how many are left. */
static size_t drop_closed(struct nurs_procscan *ps, struct missing *m, size_t n, size_t left,
                          nurs_procscan_open_fn still_open, void *ctx)
{
    for (size_t i = 0; i < n && left; i++) {
        if (!m[i].pid && !m[i].closed && !still_open(ctx, m[i].w)) {
            m[i].closed = true;
            ps->stats.closed++;
            left--;
        }
    }
    return left;
}

/* Fd directories read between two checks for closed sockets while new
 * processes are read: after a burst of new processes (a start, a build)
 * a socket whose process already exited would otherwise cost reading
 * every one of them, and hold up the sockets queued behind it. */
#define CLOSED_CHECK_EVERY 32

/* Looks for the `left` entries of m without a pid (those with one were
 * found in the cache). */
static void search(struct nurs_procscan *ps, struct missing *m, size_t n, size_t left,
                   uint64_t now, nurs_procscan_open_fn still_open, void *ctx)
{
    qsort(m, n, sizeof *m, cmp_missing);
    ps->gen++;
    list_pids(ps, now);
    /* First the processes a BPF program saw bind the sockets' listeners:
     * the server that accepts, most often; one read of its descriptors,
     * newest first, instead of a search. */
    for (size_t i = 0; i < n && left; i++) {
        const struct nurs_sock_owner *o = m[i].w->owner;
        struct pid_entry *p = o && !m[i].pid ? nurs_idtable_get(&ps->pids, o->tgid) : NULL;
        if (!p || p->scanned == ps->gen)
            continue;
        p->scanned = ps->gen;
        size_t f = scan_fds(ps, o->tgid, m, n, left, now);
        left -= f < left ? f : left;
    }
    for (int t = NEW; t <= REST && left; t++) {
        /* Not in a new process: before reading the others, drop the
         * sockets whose process exited (they closed with it). */
        if (t == HOT && still_open && !(left = drop_closed(ps, m, n, left, still_open, ctx)))
            break;
        /* Newest pids first: /proc lists them in ascending order. */
        unsigned since_check = 0;
        for (size_t i = ps->list_n; i-- > 0 && left;) {
            struct pid_entry *p = nurs_idtable_get(&ps->pids, ps->list[i]);
            if (!p || p->scanned == ps->gen || !in_tier(ps, p, (enum tier)t, now, m, n))
                continue;
            p->scanned = ps->gen;
            size_t f = scan_fds(ps, ps->list[i], m, n, left, now);
            left -= f < left ? f : left;
            if (t == NEW && still_open && left && ++since_check == CLOSED_CHECK_EVERY) {
                since_check = 0;
                left = drop_closed(ps, m, n, left, still_open, ctx);
            }
        }
    }
}

/* ---- what a process is ---- */

static size_t read_file(struct nurs_procscan *ps, uint32_t pid, const char *name, char *buf,
                        size_t cap)
{
    char path[48];
    snprintf(path, sizeof path, "%u/%s", pid, name);
    int fd = openat(ps->proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    return len;
}

/* The details of pid (fd and uid not set), read again when older than
 * INFO_TTL_NS (an exec changes them): a new reference. */
static struct nurs_proc *details(struct nurs_procscan *ps, uint32_t pid, uint64_t now)
{
    struct pid_entry *p = nurs_idtable_put(&ps->pids, pid, now);
    if (p && p->info && now - p->info_ns < INFO_TTL_NS)
        return nurs_proc_ref(p->info);
    char raw[4096], name[64];
    struct nurs_cgroup_text cg;
    size_t n = read_file(ps, pid, "comm", raw, 63);
    struct nurs_proc_fields f = {.pid = pid, .uid = NURS_UID_UNKNOWN, .fd = -1};
    if (n && nurs_proc_clean_text(name, sizeof name, raw, raw[n - 1] == '\n' ? n - 1 : n))
        f.name = name;
    if (ps->cmdline_max) {
        n = read_file(ps, pid, "cmdline", raw, ps->cmdline_max < sizeof raw ? ps->cmdline_max : sizeof raw);
        if (n && nurs_proc_clean_text(ps->cmdline_buf, ps->cmdline_max + 1, raw, n))
            f.cmdline = ps->cmdline_buf;
    }
    n = read_file(ps, pid, "status", raw, sizeof raw);
    if (n)
        nurs_proc_status_euid(raw, n, &f.uid);
    n = read_file(ps, pid, "cgroup", raw, sizeof raw);
    nurs_proc_fields_cgroup(&f, raw, n, &cg);
    struct nurs_proc *info = nurs_proc_new(&f);
    if (p && info) {
        nurs_proc_unref(p->info);
        p->info = nurs_proc_ref(info);
        p->info_ns = now;
    }
    return info;
}

static const char *user_name(struct nurs_procscan *ps, uint32_t uid, uint64_t now)
{
    if (uid == NURS_UID_UNKNOWN)
        return NULL;
    struct user_entry *u = nurs_idtable_get(&ps->users, uid);
    if (!u || now - u->looked_ns > USER_TTL_NS) {
        if (!u && !(u = nurs_idtable_put(&ps->users, uid, now)))
            return NULL;
        struct passwd pw, *res = NULL;
        char buf[4096];
        u->has = getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res &&
                 nurs_proc_clean_text(u->name, sizeof u->name, res->pw_name,
                                      strlen(res->pw_name)) > 0;
        u->looked_ns = now;
    }
    return u->has ? u->name : NULL;
}

static struct nurs_proc *result(struct nurs_procscan *ps, const struct missing *m, uint64_t now)
{
    struct nurs_proc_fields f = {.uid = m->w->uid, .fd = -1};
    struct nurs_proc *info = NULL;
    if (m->pid) {
        struct pid_entry *p = nurs_idtable_get(&ps->pids, m->pid);
        if (p)
            p->owner_ns = now;
        info = details(ps, m->pid, now);
    }
    if (info)
        f = (struct nurs_proc_fields){.pid = m->pid, .fd = m->fd,
                                      .uid = info->uid != NURS_UID_UNKNOWN ? info->uid : m->w->uid,
                                      .name = info->name, .cmdline = info->cmdline,
                                      .cgroup = info->cgroup, .unit = info->unit,
                                      .container = info->container};
    /* The process a BPF program saw bind the socket: it knows the thread. */
    const struct nurs_sock_owner *o = m->w->owner;
    if (info && o && o->tgid == m->pid) {
        f.tid = o->tid;
        f.ppid = o->ppid;
    }
    f.user = user_name(ps, f.uid, now);
    struct nurs_proc *r = nurs_proc_new(&f);
    nurs_proc_unref(info);
    return r;
}

/* Whether the process o names still runs (not another one with its pid). */
static bool still_runs(struct nurs_procscan *ps, const struct nurs_sock_owner *o)
{
    char raw[1024];
    uint64_t ticks;
    size_t n = read_file(ps, o->tgid, "stat", raw, sizeof raw);
    return n && ps->ticks_per_s > 0 && nurs_proc_stat_start(raw, n, &ticks) &&
           ticks == o->start_ns / (1000000000u / (uint64_t)ps->ticks_per_s);
}

static struct nurs_proc *owned(struct nurs_procscan *ps, const struct nurs_sock_owner *o,
                               uint64_t now)
{
    struct nurs_proc_fields f = {.pid = o->tgid, .tid = o->tid, .ppid = o->ppid, .uid = o->uid,
                                 .fd = -1, .name = o->comm[0] ? o->comm : NULL};
    char cmdline[NURS_BPF_CMDLINE_LEN + 1];
    size_t cap = ps->cmdline_max < NURS_BPF_CMDLINE_LEN ? ps->cmdline_max + 1 : sizeof cmdline;
    if (ps->cmdline_max && o->cmdline_len &&
        nurs_proc_clean_text(cmdline, cap, o->cmdline, o->cmdline_len))
        f.cmdline = cmdline;
    struct nurs_cgroup_text cg;
    if (ps->cgroups && nurs_cgroupids_path(ps->cgroups, o->cgroup_id, cg.path, sizeof cg.path)) {
        f.cgroup = cg.path;
        if (nurs_cgroup_unit(cg.path, cg.unit, sizeof cg.unit))
            f.unit = cg.unit;
        if (nurs_cgroup_container(cg.path, cg.container, sizeof cg.container))
            f.container = cg.container;
    }
    /* /proc says more of a process that still runs: a command line longer
     * than the hook copies, systemd's cgroup on a hybrid host. */
    bool cut = o->cmdline_len == NURS_BPF_CMDLINE_LEN && ps->cmdline_max > NURS_BPF_CMDLINE_LEN;
    bool want_cmdline = ps->cmdline_max && (!f.cmdline || cut);
    bool want_cgroup = !f.cgroup || (!strcmp(f.cgroup, "/") && ps->cgroups &&
                                     nurs_cgroupids_hybrid(ps->cgroups));
    struct nurs_proc *info = NULL;
    struct nurs_cgroup_text from_proc;
    if ((want_cmdline || want_cgroup) && still_runs(ps, o)) {
        if (want_cmdline && (info = details(ps, o->tgid, now)) && info->cmdline)
            f.cmdline = info->cmdline;
        char raw[4096];
        size_t n = want_cgroup ? read_file(ps, o->tgid, "cgroup", raw, sizeof raw) : 0;
        struct nurs_proc_fields g = {0};
        nurs_proc_fields_cgroup(&g, raw, n, &from_proc);
        if (g.cgroup) {
            f.cgroup = g.cgroup;
            f.unit = g.unit;
            f.container = g.container;
        }
    }
    f.user = user_name(ps, f.uid, now);
    struct nurs_proc *r = nurs_proc_new(&f);
    nurs_proc_unref(info);
    return r;
}

void nurs_procscan_resolve(struct nurs_procscan *ps, struct nurs_procscan_want *w, size_t all,
                           nurs_procscan_open_fn still_open, void *ctx)
{
    uint64_t now = now_ns();
    struct missing *m = calloc(all ? all : 1, sizeof *m);
    if (!m) {
        for (size_t i = 0; i < all; i++)
            w[i].result = NULL;
        return;
    }
    size_t missing = 0, n = 0;
    for (size_t j = 0; j < all; j++) {
        if (w[j].owner && !w[j].inode) {
            w[j].result = owned(ps, w[j].owner, now);
            ps->stats.found++;
            continue;
        }
        size_t i = n++;
        m[i].w = &w[j];
        struct inode_entry *e = nurs_idtable_get(&ps->inodes, w[j].inode);
        if (e && fd_holds(ps, e->pid, e->fd, w[j].inode)) {
            ps->stats.cache_hits++;
            e->head.touched_ns = now;
            m[i].pid = e->pid;
            m[i].fd = e->fd;
            continue;
        }
        if (e)
            nurs_idtable_del(&ps->inodes, w[j].inode);
        missing++;
    }
    if (missing)
        search(ps, m, n, missing, now, still_open, ctx);
    for (size_t i = 0; i < n; i++) {
        /* Held by no process now: the one a BPF program saw bind it. */
        m[i].w->result = !m[i].pid && m[i].w->owner ? owned(ps, m[i].w->owner, now)
                                                      : result(ps, &m[i], now);
        if (m[i].pid)
            ps->stats.found++;
        else
            ps->stats.gone++;
    }
    free(m);
}
