/* What a scrape shows of the process and the kernel that cannot be had
 * without reading /proc: resident memory, open file descriptors, start
 * time, and the conntrack table of each network namespace a source
 * listens in. Reading blocks (and enters namespaces): it is done on a
 * worker thread, never on the loop. */
#ifndef NURS_SINKS_METRICS_PROBE_H
#define NURS_SINKS_METRICS_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#define NURS_PROBE_MAX_NETNS 16

struct nurs_probe_ct {
    char netns[256]; /* "" is our own; set by the caller */
    bool ok;
    uint64_t count, max;
    char err[160]; /* why not ok */
};

struct nurs_probe {
    bool mem_ok;
    uint64_t rss_bytes, virtual_bytes;
    bool fds_ok;
    uint64_t open_fds, max_fds;
    double start_time; /* seconds since the epoch; 0 until known */
    struct nurs_probe_ct ct[NURS_PROBE_MAX_NETNS];
    int n_ct;
};

/* Fills p (the ct[].netns and n_ct the caller set, and start_time when
 * already known, are kept). Blocking: for a worker thread. */
void nurs_probe_read(struct nurs_probe *p);

#endif
