#include "sinks/pcap/sink.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/host.h"
#include "core/stream.h"
#include "netlink/sockdiag_peer.h"
#include "sinks/pcap/file.h"
#include "sinks/pcap/ring.h"

struct nurs_pcap_sink {
    struct nurs_resource res; /* first: the resource is the sink */
    /* The settings in force and a reloaded script's (string options not
     * kept: the target is the sink's identity). */
    struct nurs_pcap_opts cur, next;
    struct nurs_pcap_format fmt;
    struct nurs_pcap_file file;
    bool has_file;
    struct nurs_stream *stream;
    struct nurs_pcap_ring ring;
    bool has_ring;
    uint8_t *scratch; /* one encoded record */
    uv_timer_t flush_timer;
    /* token bucket */
    double rate, burst, tokens;
    uint64_t last_refill_ns;
    uint64_t ratelimited, too_big;
    struct nurs_ratelimit err_rl;
};

#define SCRATCH_SIZE (NURS_PCAP_REC_HDR + NURS_PCAP_MAX_RECORD)

struct nurs_resource *nurs_pcap_sink_resource(struct nurs_pcap_sink *p) { return &p->res; }

struct nurs_pcap_sink *nurs_pcap_sink_of(struct nurs_resource *r)
{
    return (struct nurs_pcap_sink *)r;
}

bool nurs_pcap_sink_has_ring(const struct nurs_pcap_sink *p) { return p->has_ring; }

/* The common counters sum what each target lost. */
static void sync_counters(struct nurs_pcap_sink *p)
{
    uint64_t dropped = p->ratelimited + p->too_big;
    if (p->stream)
        dropped += nurs_stream_stats(p->stream)->drops;
    if (p->has_file) {
        dropped += p->file.lost;
        p->res.counters.errors = p->file.write_errors;
    }
    p->res.counters.dropped = dropped;
}

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_pcap_sink *p = (const struct nurs_pcap_sink *)r;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"ratelimited", p->ratelimited};
    if (p->has_file) {
        out[n++] = (struct nurs_extra_counter){"files", p->file.files};
        out[n++] = (struct nurs_extra_counter){"file_lost", p->file.lost};
    }
    if (p->stream) {
        const struct nurs_stream_stats *s = nurs_stream_stats(p->stream);
        out[n++] = (struct nurs_extra_counter){"readers", s->readers};
        out[n++] = (struct nurs_extra_counter){"connects", s->connects};
        out[n++] = (struct nurs_extra_counter){"disconnects", s->disconnects};
        out[n++] = (struct nurs_extra_counter){"reader_drops", s->drops};
        out[n++] = (struct nurs_extra_counter){"unread", s->unread};
        out[n++] = (struct nurs_extra_counter){"refused", s->refused};
        out[n++] = (struct nurs_extra_counter){"evicted", s->evicted};
        out[n++] = (struct nurs_extra_counter){"fifo_waits", s->waits};
    }
    if (p->has_ring) {
        out[n++] = (struct nurs_extra_counter){"ring_packets", p->ring.packets};
        out[n++] = (struct nurs_extra_counter){"ring_bytes", p->ring.bytes};
        out[n++] = (struct nurs_extra_counter){"ring_evicted", p->ring.evicted};
    }
    return n;
}

static bool take_token(struct nurs_pcap_sink *p)
{
    if (p->rate <= 0)
        return true;
    uint64_t now = uv_hrtime();
    p->tokens += (double)(now - p->last_refill_ns) / 1e9 * p->rate;
    if (p->tokens > p->burst)
        p->tokens = p->burst;
    p->last_refill_ns = now;
    if (p->tokens < 1)
        return false;
    p->tokens -= 1;
    return true;
}

static void log_write_error(struct nurs_pcap_sink *p)
{
    long long suppressed = nurs_ratelimit_check(&p->err_rl);
    if (suppressed >= 0)
        nurs_err("%s: cannot write %s: %s; packets are lost (%llu so far), the file is kept "
                 "whole",
                 p->res.name, p->file.current, strerror(p->file.out.last_errno),
                 (unsigned long long)p->file.lost);
}

bool nurs_pcap_sink_write(struct nurs_pcap_sink *p, const struct nurs_pcap_in *in)
{
    p->res.counters.in++;
    if (!take_token(p)) {
        p->ratelimited++;
        p->res.counters.dropped++;
        return false;
    }
    size_t len = nurs_pcap_encode(&p->fmt, in, p->scratch, SCRATCH_SIZE);
    if (len == 0) {
        p->too_big++;
        p->res.counters.dropped++;
        return true;
    }
    if (p->has_file && nurs_pcap_file_write(&p->file, p->scratch, len) < 0)
        log_write_error(p);
    if (p->stream)
        nurs_stream_write(p->stream, p->scratch, len, 1);
    if (p->has_ring)
        nurs_pcap_ring_put(&p->ring, p->scratch, len);
    p->res.counters.delivered++;
    sync_counters(p);
    return true;
}

int nurs_pcap_sink_flush(struct nurs_pcap_sink *p)
{
    int rc = 0;
    if (p->has_file && (rc = nurs_pcap_file_flush(&p->file)) < 0)
        log_write_error(p);
    if (p->stream)
        nurs_stream_flush(p->stream);
    sync_counters(p);
    return rc;
}

long long nurs_pcap_sink_dump(struct nurs_pcap_sink *p, const char *path, char *err,
                              size_t errlen)
{
    if (!p->has_ring) {
        snprintf(err, errlen, "this sink keeps no ring (give ring_size)");
        return -1;
    }
    return nurs_pcap_ring_dump(&p->ring, path, &p->cur.file, err, errlen);
}

void nurs_pcap_sink_clear_ring(struct nurs_pcap_sink *p)
{
    if (p->has_ring)
        nurs_pcap_ring_clear(&p->ring);
}

static void flush_op(struct nurs_resource *r) { nurs_pcap_sink_flush((struct nurs_pcap_sink *)r); }

static void on_flush_timer(uv_timer_t *t) { nurs_pcap_sink_flush(t->data); }

static void reopen(struct nurs_resource *r)
{
    struct nurs_pcap_sink *p = (struct nurs_pcap_sink *)r;
    char err[512];
    if (p->has_file && !r->host->check_only && nurs_pcap_file_reopen(&p->file, err, sizeof err) < 0)
        nurs_err("%s: %s", r->name, err);
}

static void free_sink(uv_handle_t *h)
{
    struct nurs_pcap_sink *p = h->data;
    if (p->has_ring)
        nurs_pcap_ring_free(&p->ring);
    free(p->scratch);
    free(p);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_pcap_sink *p = (struct nurs_pcap_sink *)r;
    if (p->has_file)
        nurs_pcap_file_close(&p->file);
    p->has_file = false;
    if (p->stream)
        nurs_stream_close(p->stream);
    p->stream = NULL;
    uv_close((uv_handle_t *)&p->flush_timer, free_sink);
}


static struct nurs_pcap_file_opts file_opts(const struct nurs_pcap_opts *o)
{
    return (struct nurs_pcap_file_opts){
        .path = o->target,
        .rotate_size = o->rotate_size,
        .rotate_seconds = o->rotate_seconds,
        .rotate_count = o->rotate_count,
        .buffer = NURS_PCAP_DEFAULT_FILE_BUFFER,
        .file = o->file,
    };
}

static struct nurs_stream_opts stream_opts(const struct nurs_pcap_opts *o)
{
    return (struct nurs_stream_opts){
        .target = o->target,
        .buffer = o->reader_buffer,
        .max_readers = o->max_readers,
        .max_per_uid = o->max_per_uid,
        .reader_timeout = o->reader_timeout,
        .mkfifo = o->mkfifo,
        .file = o->file,
        .socket_gid = o->socket_gid,
        .access = o->access,
        .peer_uid = nurs_sockdiag_tcp_peer_uid,
    };
}

/* Settings a kept sink takes from the new script. */
static void configure(struct nurs_pcap_sink *p)
{
    const struct nurs_pcap_opts *o = &p->cur;
    p->fmt.snaplen = o->fmt.snaplen;
    p->rate = o->rate;
    p->burst = o->burst > 0 ? o->burst : (o->rate > 1 ? o->rate : 1);
    p->tokens = p->burst;
    p->last_refill_ns = uv_hrtime();
    if (p->has_file) {
        struct nurs_pcap_file_opts fo = file_opts(o);
        nurs_pcap_file_configure(&p->file, &fo);
    }
    if (p->stream) {
        struct nurs_stream_opts so = stream_opts(o);
        nurs_stream_configure(p->stream, &so);
    }
    if (p->has_file && !p->res.host->check_only) {
        uint64_t ms = (uint64_t)llround(o->flush_interval * 1000.0);
        uv_timer_start(&p->flush_timer, on_flush_timer, ms ? ms : 1, ms ? ms : 1);
    }
}

static void adopted(struct nurs_resource *r) { configure((struct nurs_pcap_sink *)r); }

static void relayed(struct nurs_resource *r, const void *data, size_t len)
{
    struct nurs_pcap_packed h;
    if (len < sizeof h) {
        r->counters.malformed++;
        return;
    }
    memcpy(&h, data, sizeof h);
    const uint8_t *body = (const uint8_t *)data + sizeof h;
    if ((uint64_t)h.len + h.attrs_len > len - sizeof h) {
        r->counters.malformed++;
        return;
    }
    struct nurs_pcap_in in = {
        .ts_ns = h.ts_ns,
        .pkt = body,
        .len = h.len,
        .origlen = h.origlen,
        .attrs = h.has_attrs ? body + h.len : NULL,
        .attrs_len = h.attrs_len,
        .family = h.family,
        .group = h.group,
    };
    nurs_pcap_sink_write(nurs_pcap_sink_of(r), &in);
}

static const struct nurs_resource_ops pcap_ops = {
    .relayed = relayed,
    .kind = "pcap",
    .destroy = destroy,
    .flush = flush_op,
    .reopen = reopen,
    .extra_counters = extra_counters,
    .gauges = (const char *const[]){"readers", "ring_packets", "ring_bytes", NULL},
    NURS_SETTINGS_IN(struct nurs_pcap_sink),
    .adopted = adopted,
};

static int open_targets(struct nurs_pcap_sink *p, const struct nurs_pcap_opts *o, char *err,
                        size_t errlen)
{
    if (o->ring_size) {
        if (nurs_pcap_ring_init(&p->ring, o->ring_size, o->ring_seconds, &p->fmt) < 0) {
            snprintf(err, errlen, "cannot allocate a ring of %zu bytes", o->ring_size);
            return -1;
        }
        p->has_ring = true;
    }
    if (!o->target)
        return 0;
    if (p->res.host->check_only) {
        char waits[512];
        nurs_stream_check(o->target, waits, sizeof waits);
        if (*waits)
            nurs_warn("%s: %s", p->res.name, waits);
        return 0;
    }
    if (nurs_stream_is_target(o->target, o->mkfifo)) {
        uint8_t hdr[NURS_PCAP_FILE_HDR];
        nurs_pcap_file_header(&p->fmt, hdr);
        struct nurs_stream_opts so = stream_opts(o);
        so.header = hdr;
        so.header_len = sizeof hdr;
        p->stream = nurs_stream_open(p->res.host->loop, p->res.name, &so, err, errlen);
        return p->stream ? 0 : -1;
    }
    struct nurs_pcap_file_opts fo = file_opts(o);
    if (nurs_pcap_file_open(&p->file, &fo, &p->fmt, err, errlen) < 0)
        return -1;
    p->has_file = true;
    return 0;
}

struct nurs_pcap_sink *nurs_pcap_sink_get(struct nurs_script *s, const struct nurs_pcap_opts *o,
                                          char *err, size_t errlen)
{
    char key[4400];
    snprintf(key, sizeof key, "target=%s;linktype=%u;nanos=%d;ring=%zu/%g",
             o->target ? o->target : "", o->fmt.linktype, o->fmt.nanos, o->ring_size,
             o->ring_seconds);
    /* Kept without the strings, which die with a failed load. */
    struct nurs_pcap_opts kept = *o;
    kept.target = kept.name = NULL;
    struct nurs_resource *r = nurs_resource_claim(s, &pcap_ops, key, &kept);
    if (r)
        return (struct nurs_pcap_sink *)r;

    struct nurs_pcap_sink *p = calloc(1, sizeof *p);
    if (!p || !(p->scratch = malloc(SCRATCH_SIZE))) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->fmt = o->fmt;
    p->err_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    uv_timer_init(s->host->loop, &p->flush_timer);
    p->flush_timer.data = p;
    uv_unref((uv_handle_t *)&p->flush_timer);
    if (nurs_resource_init(&p->res, &pcap_ops, s, o->name ? o->name : "pcap", key, &kept) < 0) {
        snprintf(err, errlen, "out of memory");
        uv_close((uv_handle_t *)&p->flush_timer, free_sink);
        return NULL;
    }
    if (open_targets(p, o, err, errlen) < 0) {
        nurs_resource_destroy(&p->res);
        return NULL;
    }
    configure(p);
    return p;
}
