#include "sources/source.h"

#include <stdio.h>
#include <string.h>

#include "core/host.h"
#include "sources/recorder.h"

void nurs_source_malformed(struct nurs_resource *r, struct nurs_ratelimit *rl, const char *why)
{
    r->counters.malformed++;
    long long suppressed = nurs_ratelimit_check(rl);
    if (suppressed >= 0)
        nurs_warn("%s: skipped a malformed message: %s (%llu so far)", r->name, why,
                  (unsigned long long)r->counters.malformed);
}

void nurs_source_overrun(struct nurs_resource *r, struct nurs_nl *nl, struct nurs_ratelimit *rl)
{
    r->counters.overruns++;
    int before = nl->rcvbuf;
    bool grew = nurs_nl_grow_rcvbuf(nl);
    long long suppressed = nurs_ratelimit_check(rl);
    if (suppressed >= 0)
        nurs_warn("%s: kernel receive buffer overrun, events were lost (%llu overruns so far); "
                  "buffer %s %d bytes%s",
                  r->name, (unsigned long long)r->counters.overruns,
                  grew ? "grown from" : "stays at", grew ? before : nl->rcvbuf,
                  grew ? "" : " (rcvbuf_max reached)");
    if (grew)
        nurs_info("%s: receive buffer now %d bytes", r->name, nl->rcvbuf);
}

void nurs_source_rcvbuf(struct nurs_resource *r, struct nurs_nl *nl, int rcvbuf, int rcvbuf_max)
{
    nl->rcvbuf_max = rcvbuf_max;
    if (nurs_nl_set_rcvbuf(nl, rcvbuf) < 0)
        nurs_warn("%s: cannot set the receive buffer to %d bytes", r->name, rcvbuf);
}

int nurs_source_poll(struct nurs_resource *r, uv_poll_t *poll, int fd, uv_poll_cb cb, void *data,
                     char *err, size_t errlen)
{
    if (uv_poll_init(r->host->loop, poll, fd) < 0) {
        snprintf(err, errlen, "cannot watch the netlink socket");
        return -1;
    }
    poll->data = data;
    uv_poll_start(poll, UV_READABLE, cb);
    return 0;
}

int nurs_source_set_recorder(struct nurs_resource *r, struct nurs_pcap_writer **recorder,
                             const char *path, char *err, size_t errlen)
{
    struct nurs_host *h = r->host;
    if (!path)
        path = h->record_path;
    if (*recorder && path && strcmp((*recorder)->path, path) == 0)
        return 0;
    nurs_recorder_put(h, *recorder);
    *recorder = NULL;
    if (path && !(*recorder = nurs_recorder_get(h, path, err, errlen)))
        return -1;
    return 0;
}
