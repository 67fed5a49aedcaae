/* Finding the process of a socket in /proc: a fake /proc tree (so every
 * case is exact), then the real one with a socket of our own; and the pure
 * parsers of what /proc says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "process/procinfo.h"
#include "process/procscan.h"
#include "tap.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char root[64];

static void put(const char *rel, const char *data, size_t len)
{
    char path[sizeof root + 256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    fwrite(data, 1, len, f);
    fclose(f);
}

static void link_fd(unsigned pid, int fd, const char *target)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%u/fd/%d", root, pid, fd);
    unlink(path);
    if (symlink(target, path) != 0)
        perror("symlink");
}

static void mkproc(unsigned pid, const char *comm, const char *cmdline, size_t cmdline_len,
                   const char *cgroup)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%u", root, pid);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%u/fd", root, pid);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%u/comm", pid);
    put(path, comm, strlen(comm));
    snprintf(path, sizeof path, "%u/cmdline", pid);
    put(path, cmdline, cmdline_len);
    snprintf(path, sizeof path, "%u/cgroup", pid);
    put(path, cgroup, strlen(cgroup));
}

static void put_status(unsigned pid, const char *status)
{
    char path[64];
    snprintf(path, sizeof path, "%u/status", pid);
    put(path, status, strlen(status));
}

static bool never_open(void *ctx, const struct nurs_procscan_want *w)
{
    (void)ctx;
    (void)w;
    return false;
}

static void fake_tree(void)
{
    snprintf(root, sizeof root, "/tmp/nurs-procscan.XXXXXX");
    if (!mkdtemp(root))
        abort();
    mkproc(100, "nurs-fake\n", "/usr/bin/fake\0--serve\0x y\0", 26,
           "1:name=systemd:/system.slice/docker-" HEX64 ".scope\n0::/system.slice/docker-" HEX64
           ".scope\n");
    link_fd(100, 0, "/dev/null");
    link_fd(100, 3, "socket:[5000]");
    link_fd(100, 4, "pipe:[5001]");
    mkproc(200, "other\n", "", 0, "0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n");
    link_fd(200, 7, "socket:[6000]");
    put_status(200, "Name:\tother\nUid:\t0\t65534\t65534\t65534\nGid:\t0\t0\t0\t0\n");
    /* not processes */
    put("self", "", 0);
    char path[256];
    snprintf(path, sizeof path, "%s/sys", root);
    mkdir(path, 0755);
}

static void test_fake(void)
{
    fake_tree();
    struct nurs_procscan *ps = nurs_procscan_new(root, 10);
    tap_ok(ps != NULL, "scanner on a fake /proc");
    nurs_procscan_set_young(ps, 0); /* every process is old once read */
    struct nurs_procscan_want w[4] = {{.inode = 5000, .uid = 0},
                                      {.inode = 6000, .uid = 1000},
                                      {.inode = 7000, .uid = 0},
                                      {.inode = 5000, .uid = 0}};
    nurs_procscan_resolve(ps, w, 4, NULL, NULL);
    struct nurs_proc *a = w[0].result, *b = w[1].result, *gone = w[2].result;
    tap_ok(a && a->pid == 100 && a->fd == 3 && a->uid == 0, "socket 5000: pid 100, fd 3");
    tap_is_str(a ? a->name : NULL, "nurs-fake", "name from comm");
    tap_is_str(a ? a->cmdline : NULL, "/usr/bin/f", "command line cut at 10 bytes");
    tap_is_str(a ? a->user : NULL, "root", "user of uid 0");
    tap_is_str(a ? a->unit : NULL, "docker-" HEX64 ".scope", "unit");
    tap_is_str(a ? a->container : NULL, HEX64, "container id");
    tap_ok(w[3].result && w[3].result->pid == 100, "two ends asking for one socket both get it");
    tap_ok(b && b->pid == 200 && b->fd == 7 && !b->cmdline,
           "socket 6000: pid 200, empty command line is nil");
    tap_ok(b && b->uid == 65534 && b->user && strcmp(b->user, "nobody") == 0,
           "the process's effective uid, not the socket's");
    tap_ok(a && a->uid == 0, "no status: the socket's uid");
    tap_is_str(b ? b->unit : NULL, "x.service", "innermost unit (a user unit)");
    tap_ok(b && !b->container, "no container");
    tap_ok(gone && gone->pid == 0 && gone->uid == 0 && gone->user && !gone->name,
           "socket nobody holds: pid 0, uid and user kept");
    const struct nurs_procscan_stats *st = nurs_procscan_stats(ps);
    tap_ok(st->fd_dirs == 2 && st->listings == 1, "one listing, two fd dirs");
    for (int i = 0; i < 4; i++)
        nurs_proc_unref(w[i].result);

    /* Again: from the cache, checked by one readlink, no listing. */
    struct nurs_procscan_want again = {.inode = 5000, .uid = 0};
    nurs_procscan_resolve(ps, &again, 1, NULL, NULL);
    tap_ok(again.result && again.result->pid == 100 && st->cache_hits == 1 && st->listings == 1,
           "cached socket: found without listing /proc");
    nurs_proc_unref(again.result);

    /* The fd now holds another socket: the cache entry is not believed. */
    link_fd(100, 3, "socket:[5002]");
    nurs_procscan_resolve(ps, &again, 1, NULL, NULL);
    tap_ok(again.result && again.result->pid == 0 && st->listings == 2,
           "a stale cache entry is checked, dropped, and the socket searched for");
    nurs_proc_unref(again.result);

    /* A new process: found first, without reading the others again. */
    mkproc(300, "newcomer\n", "n\0", 2, "0::/\n");
    link_fd(300, 5, "socket:[8000]");
    uint64_t dirs = st->fd_dirs;
    struct nurs_procscan_want fresh = {.inode = 8000, .uid = 0};
    nurs_procscan_resolve(ps, &fresh, 1, NULL, NULL);
    tap_ok(fresh.result && fresh.result->pid == 300 && st->fd_dirs == dirs + 1,
           "a new process is read first (%llu fd dirs)", (unsigned long long)(st->fd_dirs - dirs));
    tap_ok(fresh.result && fresh.result->cgroup && !fresh.result->unit, "root cgroup: no unit");
    nurs_proc_unref(fresh.result);

    /* An old process that never held a socket asked for. */
    mkproc(400, "old\n", "o\0", 2, "0::/\n");
    link_fd(400, 1, "socket:[9999]");
    struct nurs_procscan_want nowhere = {.inode = 7777, .uid = 0};
    nurs_procscan_resolve(ps, &nowhere, 1, NULL, NULL);
    nurs_proc_unref(nowhere.result);
    /* A socket in no new process that has closed: not searched for in the
     * old ones. */
    dirs = st->fd_dirs;
    struct nurs_procscan_want closed = {.inode = 9000, .uid = 0};
    nurs_procscan_resolve(ps, &closed, 1, never_open, NULL);
    tap_ok(closed.result && closed.result->pid == 0 && st->fd_dirs == dirs && st->closed == 1,
           "a closed socket is not searched for in the old processes (%llu fd dirs)",
           (unsigned long long)(st->fd_dirs - dirs));
    nurs_proc_unref(closed.result);
    dirs = st->fd_dirs;
    nurs_procscan_resolve(ps, &closed, 1, NULL, NULL);
    tap_ok(st->fd_dirs == dirs + 4, "without the check, the old process is read too (%llu)",
           (unsigned long long)(st->fd_dirs - dirs));
    nurs_proc_unref(closed.result);

    /* What a BPF program saw. The listener's owner is read first, once:
     * the socket it accepted is found there, with the thread it knew. */
    link_fd(400, 9, "socket:[9300]");
    struct nurs_sock_owner binder = {.tgid = 400, .tid = 401, .ppid = 1, .uid = 0};
    struct nurs_procscan_want accepted = {.inode = 9300, .uid = 0, .owner = &binder};
    dirs = st->fd_dirs;
    nurs_procscan_resolve(ps, &accepted, 1, never_open, NULL);
    tap_ok(accepted.result && accepted.result->pid == 400 && accepted.result->fd == 9 &&
               accepted.result->tid == 401 && accepted.result->ppid == 1 && st->fd_dirs == dirs + 1,
           "the binder's descriptors read first (%llu fd dirs), its thread kept",
           (unsigned long long)(st->fd_dirs - dirs));
    nurs_proc_unref(accepted.result);
    /* Held by nobody any more (the server exited): the binder. */
    struct nurs_sock_owner exited = {.tgid = 5555, .tid = 5556, .ppid = 400, .uid = 65534,
                                     .comm = "zero-linger", .cmdline = "zl\0-x", .cmdline_len = 5};
    struct nurs_procscan_want after = {.inode = 9301, .uid = 0, .owner = &exited};
    nurs_procscan_resolve(ps, &after, 1, never_open, NULL);
    struct nurs_proc *e = after.result;
    tap_ok(e && e->pid == 5555 && e->tid == 5556 && e->ppid == 400 && e->uid == 65534 &&
               e->fd == -1,
           "a socket nobody holds: the process that bound it");
    tap_is_str(e ? e->name : NULL, "zero-linger", "its name as the hook saw it");
    tap_is_str(e ? e->cmdline : NULL, "zl -x", "its command line as the hook copied it");
    tap_is_str(e ? e->user : NULL, "nobody", "its user");
    nurs_proc_unref(e);
    /* Seen by the hook, no socket to look for: no /proc search at all. */
    struct nurs_procscan_want seen = {.owner = &exited};
    uint64_t before = st->listings;
    nurs_procscan_resolve(ps, &seen, 1, never_open, NULL);
    tap_ok(seen.result && seen.result->pid == 5555 && st->listings == before,
           "an owner the hook saw: named without reading /proc");
    nurs_proc_unref(seen.result);

    /* A burst of new processes (a start, a build) and a socket whose
     * process already exited: the search stops at the first check for
     * closed sockets instead of reading every new process. */
    for (unsigned pid = 1000; pid < 1100; pid++) {
        mkproc(pid, "burst\n", "b\0", 2, "0::/\n");
        link_fd(pid, 3, "socket:[4242]");
    }
    dirs = st->fd_dirs;
    uint64_t was_closed = st->closed;
    struct nurs_procscan_want early = {.inode = 9001, .uid = 0};
    nurs_procscan_resolve(ps, &early, 1, never_open, NULL);
    tap_ok(early.result && early.result->pid == 0 && st->closed == was_closed + 1 &&
               st->fd_dirs - dirs == 32,
           "a closed socket stops a search through 100 new processes after 32 (%llu fd dirs)",
           (unsigned long long)(st->fd_dirs - dirs));
    nurs_proc_unref(early.result);
    /* The newest of them is still read first. */
    mkproc(1200, "late\n", "l\0", 2, "0::/\n");
    link_fd(1200, 4, "socket:[9100]");
    struct nurs_procscan_want late = {.inode = 9100, .uid = 0};
    nurs_procscan_resolve(ps, &late, 1, never_open, NULL);
    tap_ok(late.result && late.result->pid == 1200, "an open socket in the newest process is found");
    nurs_proc_unref(late.result);

    /* A server holding 200 connections: its newest one (highest fd) is
     * found with the first readlink, and the search stops there; an older
     * one, not read then, is searched for when asked. */
    mkproc(2000, "server\n", "s\0", 2, "0::/\n");
    char target[32];
    for (int fd = 3; fd < 203; fd++) {
        snprintf(target, sizeof target, "socket:[%d]", 20000 + fd);
        link_fd(2000, fd, target);
    }
    struct nurs_procscan_want newest = {.inode = 20202, .uid = 0};
    nurs_procscan_resolve(ps, &newest, 1, never_open, NULL);
    tap_ok(newest.result && newest.result->pid == 2000 && newest.result->fd == 202,
           "the newest connection of a busy server: pid 2000, fd 202");
    nurs_proc_unref(newest.result);
    uint64_t hits = st->cache_hits, listings = st->listings;
    struct nurs_procscan_want oldest = {.inode = 20003, .uid = 0};
    nurs_procscan_resolve(ps, &oldest, 1, NULL, NULL);
    tap_ok(oldest.result && oldest.result->pid == 2000 && oldest.result->fd == 3 &&
               st->cache_hits == hits && st->listings == listings + 1,
           "its oldest, not read before, is searched for and found");
    nurs_proc_unref(oldest.result);
    nurs_procscan_free(ps);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        tap_ok(false, "cleanup");
}

static void test_real(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct stat st;
    fstat(fd, &st);
    struct nurs_procscan *ps = nurs_procscan_new("/proc", 256);
    struct nurs_procscan_want w = {.inode = (uint32_t)st.st_ino, .uid = getuid()};
    nurs_procscan_resolve(ps, &w, 1, NULL, NULL);
    tap_ok(w.result && w.result->pid == (uint32_t)getpid() && w.result->fd == fd,
           "real /proc: our own socket is ours (fd %d)", fd);
    tap_ok(w.result && w.result->cmdline && strstr(w.result->cmdline, "test_procscan"),
           "with our command line");
    nurs_proc_unref(w.result);
    nurs_procscan_free(ps);
    close(fd);
}

static void test_text(void)
{
    char out[16];
    tap_is_int((long long)nurs_proc_clean_text(out, sizeof out, "a\0b\0\0", 5), 3, "NULs: spaces, trailing ones dropped");
    tap_is_str(out, "a b", "cmdline joined");
    nurs_proc_clean_text(out, sizeof out, "x\ny\x1b\x7f\xff", 6);
    tap_is_str(out, "x?y???", "control and invalid bytes become ?");
    nurs_proc_clean_text(out, 6, "ab\xc3\xa9\xc3\xa9", 6);
    tap_is_str(out, "ab\xc3\xa9", "a cut falls between characters");
    nurs_proc_clean_text(out, 1, "abc", 3);
    tap_is_str(out, "", "no room: empty");

    char p[256];
    const char v2[] = "0::/system.slice/nginx.service\n";
    tap_ok(nurs_cgroup_path(v2, sizeof v2 - 1, p, sizeof p) && strcmp(p, "/system.slice/nginx.service") == 0, "v2 path");
    const char hybrid[] = "12:pids:/x\n1:name=systemd:/system.slice/cron.service\n0::/\n";
    tap_ok(nurs_cgroup_path(hybrid, sizeof hybrid - 1, p, sizeof p) && strcmp(p, "/system.slice/cron.service") == 0,
           "hybrid with a root v2 path: systemd's v1 path");
    const char root_only[] = "0::/";
    tap_ok(nurs_cgroup_path(root_only, sizeof root_only - 1, p, sizeof p) && strcmp(p, "/") == 0, "root, no newline");
    const char v1[] = "3:cpu:/a\n";
    tap_ok(!nurs_cgroup_path(v1, sizeof v1 - 1, p, sizeof p), "no v2 nor systemd line: none");
    uint32_t uid = 7;
    const char st[] = "Name:\tx\nUid:\t1000\t0\t0\t0\n";
    tap_ok(nurs_proc_status_euid(st, sizeof st - 1, &uid) && uid == 0, "effective uid");
    tap_ok(!nurs_proc_status_euid("Uid:\t12", 7, &uid) && !nurs_proc_status_euid("Gid: 1 2", 8, &uid),
           "no effective uid: none");
    tap_ok(nurs_cgroup_unit("/system.slice/nginx.service", p, sizeof p) && strcmp(p, "nginx.service") == 0, "unit");
    tap_ok(nurs_cgroup_unit("/user.slice/user-1000.slice/session-3.scope", p, sizeof p) && strcmp(p, "session-3.scope") == 0, "session scope");
    tap_ok(!nurs_cgroup_unit("/user.slice", p, sizeof p), "a slice is no unit");
    static const char *const with_ids[] = {
        "/system.slice/docker-" HEX64 ".scope", "/docker/" HEX64,
        "/kubepods.slice/kubepods-burstable.slice/cri-containerd-" HEX64 ".scope",
        "/kubepods/burstable/pod1234/" HEX64, "/machine.slice/libpod-" HEX64 ".scope",
        "/crio-" HEX64 ".scope"};
    bool all = true;
    for (size_t i = 0; i < sizeof with_ids / sizeof *with_ids; i++)
        all &= nurs_cgroup_container(with_ids[i], p, sizeof p) && strcmp(p, HEX64) == 0;
    tap_ok(all, "container ids of docker, cgroupfs, containerd, kubernetes, podman, CRI-O");
    tap_ok(nurs_cgroup_container("/lxc.payload.web1/init.scope", p, sizeof p) && strcmp(p, "web1") == 0, "LXC name");
    tap_ok(!nurs_cgroup_container("/system.slice/docker-abc.scope", p, sizeof p) &&
               !nurs_cgroup_container("/libpod-conmon-" HEX64 ".scope", p, sizeof p),
           "short ids and conmon are not containers");
}

int main(void)
{
    test_text();
    test_fake();
    test_real();
    return tap_done();
}
