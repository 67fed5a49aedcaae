#include "sinks/metrics/probe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "netlink/socket.h"

/* The whole of a small /proc file, NUL-terminated; -1 if unreadable. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t used = 0;
    while (used + 1 < len) {
        ssize_t n = read(fd, buf + used, len - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    return (ssize_t)used;
}

static bool read_u64(const char *path, uint64_t *v)
{
    char buf[64];
    return read_small(path, buf, sizeof buf) > 0 && sscanf(buf, "%" SCNu64, v) == 1;
}

static void read_memory(struct nurs_probe *p)
{
    char buf[256];
    uint64_t size, resident;
    long page = sysconf(_SC_PAGESIZE);
    p->mem_ok = read_small("/proc/self/statm", buf, sizeof buf) > 0 &&
                sscanf(buf, "%" SCNu64 " %" SCNu64, &size, &resident) == 2 && page > 0;
    if (p->mem_ok) {
        p->virtual_bytes = size * (uint64_t)page;
        p->rss_bytes = resident * (uint64_t)page;
    }
}

static void read_fds(struct nurs_probe *p)
{
    DIR *d = opendir("/proc/self/fd");
    p->fds_ok = d != NULL;
    if (!d)
        return;
    uint64_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    p->open_fds = n > 0 ? n - 1 : 0; /* not the one reading the directory */
    struct rlimit rl;
    p->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
}

/* Field 22 of /proc/self/stat (clock ticks after boot) and the boot
 * time of /proc/stat. */
static void read_start_time(struct nurs_probe *p)
{
    char buf[4096];
    if (read_small("/proc/self/stat", buf, sizeof buf) <= 0)
        return;
    const char *after_comm = strrchr(buf, ')');
    unsigned long long start_ticks;
    if (!after_comm ||
        sscanf(after_comm + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                               "%*d %*d %*d %llu",
               &start_ticks) != 1)
        return;
    /* /proc/stat's interrupt line can be long: read it line by line. */
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return;
    unsigned long long boot = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0 && sscanf(line, "btime %llu", &boot) != 1)
        ;
    free(line);
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (boot > 0 && hz > 0)
        p->start_time = (double)boot + (double)start_ticks / (double)hz;
}

static void read_conntrack(struct nurs_probe_ct *c)
{
    int saved = -1;
    c->ok = false;
    c->err[0] = '\0';
    if (c->netns[0] && nurs_netns_enter(c->netns, &saved, c->err, sizeof c->err) < 0)
        return;
    c->ok = read_u64("/proc/sys/net/netfilter/nf_conntrack_count", &c->count) &&
            read_u64("/proc/sys/net/netfilter/nf_conntrack_max", &c->max);
    if (!c->ok)
        snprintf(c->err, sizeof c->err, "no conntrack table (nf_conntrack not loaded?)");
    if (c->netns[0])
        nurs_netns_leave(saved);
}

void nurs_probe_read(struct nurs_probe *p)
{
    read_memory(p);
    read_fds(p);
    if (p->start_time == 0)
        read_start_time(p);
    for (int i = 0; i < p->n_ct && i < NURS_PROBE_MAX_NETNS; i++)
        read_conntrack(&p->ct[i]);
}
