#include "sources/recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/host.h"
#include "core/log.h"

#define MAX_RECORDERS 16
#define FLUSH_MS 1000 /* what a recording holds in memory at most, in time */

/* The record files of one host, flushed with everything else. */
struct recorders {
    struct nurs_flush_hook hook; /* first: found from the hook */
    struct nurs_pcap_writer *files[MAX_RECORDERS];
    int n;
    uv_timer_t timer;
};

static struct nurs_ratelimit lost_rl = NURS_RATELIMIT_INIT(10000, 3);

/* A full disk loses whole batches; the file stays readable and the
 * recording goes on once there is room again. */
static void log_lost(struct nurs_pcap_writer *w)
{
    if (nurs_ratelimit_check(&lost_rl) >= 0)
        nurs_err("recording to %s: %s; %llu datagrams lost so far, the file ends with a whole "
                 "record",
                 w->path, strerror(w->last_errno), (unsigned long long)w->lost);
}

static void flush_all(struct nurs_flush_hook *hook)
{
    struct recorders *rs = (struct recorders *)hook;
    for (int i = 0; i < rs->n; i++)
        if (nurs_pcap_writer_flush(rs->files[i]) < 0)
            log_lost(rs->files[i]);
}

static void on_timer(uv_timer_t *t) { flush_all(t->data); }

static void free_recorders(uv_handle_t *h) { free(h->data); }

static struct recorders *recorders_of(struct nurs_host *h, bool create)
{
    for (struct nurs_flush_hook *k = h->flush_hooks; k; k = k->next)
        if (k->flush == flush_all)
            return (struct recorders *)k;
    struct recorders *rs = create ? calloc(1, sizeof *rs) : NULL;
    if (rs) {
        rs->hook.flush = flush_all;
        nurs_host_add_flush_hook(h, &rs->hook);
        uv_timer_init(h->loop, &rs->timer);
        rs->timer.data = rs;
        uv_unref((uv_handle_t *)&rs->timer);
        uv_timer_start(&rs->timer, on_timer, FLUSH_MS, FLUSH_MS);
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
    if (!w || nurs_pcap_writer_open(w, h->loop, path, err, errlen) < 0) {
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
    if (nurs_pcap_writer_flush(w) < 0)
        log_lost(w);
    nurs_info("recorded %llu datagrams to %s%s", (unsigned long long)w->packets, w->path,
              w->lost ? " (some lost: see above)" : "");
    nurs_pcap_writer_close(w);
    free(w);
    if (rs && rs->n == 0) {
        nurs_host_remove_flush_hook(h, &rs->hook);
        uv_close((uv_handle_t *)&rs->timer, free_recorders);
    }
}

void nurs_recorder_write(struct nurs_pcap_writer *w, uint16_t nl_family, const void *data,
                         size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (nurs_pcap_writer_put(w, ns, nl_family, data, len) < 0)
        log_lost(w);
}
