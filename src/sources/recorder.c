#include "sources/recorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/host.h"
#include "core/log.h"

struct nurs_pcap_writer *nurs_recorder_get(struct nurs_host *h, const char *path, char *err,
                                           size_t errlen)
{
    for (int i = 0; i < h->n_recorders; i++) {
        if (strcmp(h->recorders[i]->path, path) == 0) {
            h->recorders[i]->refs++;
            return h->recorders[i];
        }
    }
    if (h->n_recorders == NURS_MAX_RECORDERS) {
        snprintf(err, errlen, "at most %d record files", NURS_MAX_RECORDERS);
        return NULL;
    }
    struct nurs_pcap_writer *w = malloc(sizeof *w);
    if (!w || nurs_pcap_writer_open(w, path, err, errlen) < 0) {
        free(w);
        return NULL;
    }
    nurs_info("recording netlink messages to %s", path);
    h->recorders[h->n_recorders++] = w;
    return w;
}

void nurs_recorder_put(struct nurs_host *h, struct nurs_pcap_writer *w)
{
    if (!w || --w->refs > 0)
        return;
    for (int i = 0; i < h->n_recorders; i++) {
        if (h->recorders[i] == w) {
            h->recorders[i] = h->recorders[--h->n_recorders];
            break;
        }
    }
    nurs_info("recorded %llu datagrams to %s", (unsigned long long)w->packets, w->path);
    nurs_pcap_writer_close(w);
    free(w);
}

void nurs_recorder_flush_all(struct nurs_host *h)
{
    for (int i = 0; i < h->n_recorders; i++)
        nurs_pcap_writer_flush(h->recorders[i]);
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
