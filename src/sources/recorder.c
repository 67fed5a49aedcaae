#include "sources/recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/host.h"
#include "core/log.h"

#define MAX_RECORDERS 16

/* The record files of one host, flushed with everything else. */
struct recorders {
    struct nurs_flush_hook hook; /* first: found from the hook */
    struct nurs_pcap_writer *files[MAX_RECORDERS];
    int n;
};

static void flush_all(struct nurs_flush_hook *hook)
{
    struct recorders *rs = (struct recorders *)hook;
    for (int i = 0; i < rs->n; i++)
        nurs_pcap_writer_flush(rs->files[i]);
}

static struct recorders *recorders_of(struct nurs_host *h, bool create)
{
    for (struct nurs_flush_hook *k = h->flush_hooks; k; k = k->next)
        if (k->flush == flush_all)
            return (struct recorders *)k;
    struct recorders *rs = create ? calloc(1, sizeof *rs) : NULL;
    if (rs) {
        rs->hook.flush = flush_all;
        nurs_host_add_flush_hook(h, &rs->hook);
    }
    return rs;
}

struct nurs_pcap_writer *nurs_recorder_get(struct nurs_host *h, const char *path, char *err,
                                           size_t errlen)
{
    struct recorders *rs = recorders_of(h, true);
    if (!rs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < rs->n; i++) {
        if (strcmp(rs->files[i]->path, path) == 0) {
            rs->files[i]->refs++;
            return rs->files[i];
        }
    }
    if (rs->n == MAX_RECORDERS) {
        snprintf(err, errlen, "at most %d record files", MAX_RECORDERS);
        return NULL;
    }
    struct nurs_pcap_writer *w = malloc(sizeof *w);
    if (!w || nurs_pcap_writer_open(w, path, err, errlen) < 0) {
        free(w);
        return NULL;
    }
    nurs_info("recording netlink messages to %s", path);
    rs->files[rs->n++] = w;
    return w;
}

void nurs_recorder_put(struct nurs_host *h, struct nurs_pcap_writer *w)
{
    if (!w || --w->refs > 0)
        return;
    struct recorders *rs = recorders_of(h, false);
    for (int i = 0; rs && i < rs->n; i++) {
        if (rs->files[i] == w) {
            rs->files[i] = rs->files[--rs->n];
            break;
        }
    }
    nurs_info("recorded %llu datagrams to %s", (unsigned long long)w->packets, w->path);
    nurs_pcap_writer_close(w);
    free(w);
    if (rs && rs->n == 0) {
        nurs_host_remove_flush_hook(h, &rs->hook);
        free(rs);
    }
}

void nurs_recorder_write(struct nurs_pcap_writer *w, uint16_t nl_family, const void *data,
                         size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (nurs_pcap_writer_put(w, ns, nl_family, data, len) < 0 && w->packets != UINT64_MAX) {
        nurs_err("recording to %s failed; recording stops", w->path);
        nurs_pcap_writer_close(w);
        w->packets = UINT64_MAX;
    }
}
