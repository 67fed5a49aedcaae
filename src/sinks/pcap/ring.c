#include "sinks/pcap/ring.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/safe_open.h"

int nurs_pcap_ring_init(struct nurs_pcap_ring *r, size_t size, double max_age_s,
                        const struct nurs_pcap_format *fmt)
{
    memset(r, 0, sizeof *r);
    r->buf = malloc(size);
    if (!r->buf)
        return -1;
    r->size = size;
    r->max_age_ns = max_age_s > 0 ? (uint64_t)(max_age_s * 1e9) : 0;
    r->fmt = *fmt;
    return 0;
}

void nurs_pcap_ring_free(struct nurs_pcap_ring *r)
{
    free(r->buf);
    r->buf = NULL;
}

void nurs_pcap_ring_clear(struct nurs_pcap_ring *r)
{
    r->head = r->tail = r->wrap = 0;
    r->wrapped = false;
    r->packets = r->bytes = 0;
}

static void evict_oldest(struct nurs_pcap_ring *r)
{
    size_t len = nurs_pcap_record_len(r->buf + r->head);
    r->head += len;
    r->packets--;
    r->bytes -= len;
    r->evicted++;
    if (r->packets == 0) {
        nurs_pcap_ring_clear(r);
        return;
    }
    if (r->wrapped && r->head == r->wrap) {
        r->head = 0;
        r->wrapped = false;
    }
}

bool nurs_pcap_ring_put(struct nurs_pcap_ring *r, const uint8_t *rec, size_t len)
{
    if (len > r->size || len < NURS_PCAP_REC_HDR)
        return false;
    uint64_t ts = nurs_pcap_record_ts(&r->fmt, rec);
    if (ts > r->newest_ns)
        r->newest_ns = ts;
    while (r->max_age_ns && r->packets &&
           nurs_pcap_record_ts(&r->fmt, r->buf + r->head) + r->max_age_ns < r->newest_ns)
        evict_oldest(r);
    for (;;) {
        if (!r->wrapped) {
            if (r->size - r->tail >= len)
                break;
            /* No room at the end: continue at the start, over the oldest. */
            r->wrap = r->tail;
            r->tail = 0;
            r->wrapped = true;
            if (r->packets == 0)
                nurs_pcap_ring_clear(r);
            continue;
        }
        if (r->head - r->tail >= len)
            break;
        evict_oldest(r);
    }
    memcpy(r->buf + r->tail, rec, len);
    r->tail += len;
    r->packets++;
    r->bytes += len;
    return true;
}

void nurs_pcap_ring_each_run(const struct nurs_pcap_ring *r,
                             void (*fn)(void *ctx, const uint8_t *p, size_t len), void *ctx)
{
    if (r->packets == 0)
        return;
    if (r->wrapped) {
        fn(ctx, r->buf + r->head, r->wrap - r->head);
        fn(ctx, r->buf, r->tail);
    } else {
        fn(ctx, r->buf + r->head, r->tail - r->head);
    }
}

struct dump_ctx {
    int fd;
    int error;
};

static void write_run(void *ctx, const uint8_t *p, size_t len)
{
    struct dump_ctx *d = ctx;
    while (len > 0 && !d->error) {
        ssize_t n = write(d->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            d->error = n < 0 ? errno : EIO;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

long long nurs_pcap_ring_dump(const struct nurs_pcap_ring *r, const char *path,
                             const struct nurs_file_opts *o, char *err, size_t errlen)
{
    char tmp[4096];
    /* Checked before the work, and again by the rename. */
    if (nurs_safe_check_existing(path, o, err, errlen) < 0)
        return -1;
    struct dump_ctx d = {nurs_safe_temp(path, o, tmp, sizeof tmp, err, errlen), 0};
    if (d.fd < 0)
        return -1;
    uint8_t hdr[NURS_PCAP_FILE_HDR];
    nurs_pcap_file_header(&r->fmt, hdr);
    write_run(&d, hdr, sizeof hdr);
    nurs_pcap_ring_each_run(r, write_run, &d);
    if (!d.error && close(d.fd) < 0)
        d.error = errno;
    else if (d.error)
        close(d.fd);
    if (d.error) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(d.error));
        unlink(tmp);
        return -1;
    }
    if (nurs_safe_replace(tmp, path, o, err, errlen) < 0)
        return -1;
    return (long long)r->packets;
}
