#include "sources/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <uv.h>

#include "core/closer.h"
#include "core/host.h"
#include "netlink/ct_msg.h"
#include "netlink/pcap_nl.h"
#include "netlink/socket.h"
#include "sources/conntrack.h"
#include "sources/nflog.h"
#include "sources/source.h"

/* Datagrams per loop iteration at full speed: big enough to amortize the
 * loop, small enough that timers and signals are not kept waiting. */
#define BATCH 512

/* What a reloaded script may change on a kept replay. */
struct replay_settings {
    bool stop_at_end;
};

struct nurs_replay {
    struct nurs_resource res; /* first: the resource is the source */
    struct replay_settings cur, next;
    const uint8_t *file;
    size_t size;
    struct nurs_pcap_reader reader;
    struct nurs_pcap_packet upcoming;
    bool have_next;
    double speed;
    int loops, loop;
    bool decode_only, done;
    uint64_t first_ts_ns, start_ns;
    uint64_t last_ts_ns; /* the latest timestamp paced so far */
    uint64_t backwards;  /* timestamps earlier than one before them */
    uv_idle_t idle;
    uv_timer_t timer;
    struct nurs_closer closer;
    struct nurs_ct_msg msg;
    struct nurs_nflog_msg nflog;
    uint8_t *scratch; /* aligned copy of the datagram being delivered */
    struct nurs_ratelimit malformed_rl;
    struct nurs_attribution *attr;
};

struct nurs_resource *nurs_replay_resource(struct nurs_replay *rp) { return &rp->res; }

struct nurs_replay *nurs_replay_of(struct nurs_resource *r) { return (struct nurs_replay *)r; }

bool nurs_replay_done(const struct nurs_replay *rp) { return rp->done; }

static void finish(struct nurs_replay *rp, const char *error)
{
    rp->done = true;
    uv_idle_stop(&rp->idle);
    uv_timer_stop(&rp->timer);
    if (error)
        nurs_err("%s: %s", rp->res.name, error);
    nurs_info("%s: replay %s after %llu records", rp->res.name, error ? "stopped" : "done",
              (unsigned long long)rp->res.counters.in);
    if (rp->cur.stop_at_end)
        nurs_host_stop(rp->res.host);
}

/* Peeks the next packet, rewinding for another loop at the end of the
 * file. Returns false when the replay is over. */
static bool peek(struct nurs_replay *rp)
{
    if (rp->have_next)
        return true;
    char err[256];
    for (;;) {
        int rc = nurs_pcap_reader_next(&rp->reader, &rp->upcoming, err, sizeof err);
        if (rc > 0) {
            rp->have_next = true;
            return true;
        }
        if (rc < 0) {
            rp->res.counters.malformed++;
            finish(rp, err);
            return false;
        }
        if (++rp->loop >= rp->loops) {
            finish(rp, NULL);
            return false;
        }
        nurs_pcap_reader_init(&rp->reader, rp->file, rp->size, err, sizeof err);
        rp->first_ts_ns = 0;
    }
}

static void decode_only(struct nurs_replay *rp, const void *data, size_t len)
{
    size_t left = len;
    for (const struct nlmsghdr *nlh = data; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        const char *why;
        int rc;
        if (nurs_ct_msg_is_entry(nlh))
            rc = nurs_ct_msg_parse(&rp->msg, nlh, nlh->nlmsg_flags & NLM_F_MULTI, &why);
        else if (nurs_nflog_msg_is_packet(nlh))
            rc = nurs_nflog_msg_parse(&rp->nflog, nlh, &why);
        else
            continue;
        rp->res.counters.in++;
        if (rc < 0)
            rp->res.counters.malformed++;
        else
            rp->res.counters.delivered++;
    }
}

/* An NFLOG packet as the live source delivers it; interface names are
 * those of the recording host, so they are left out. */
static void deliver_nflog(struct nurs_replay *rp, const struct nlmsghdr *nlh, uint64_t ts_ns)
{
    const char *why;
    rp->res.counters.in++;
    if (nurs_nflog_msg_parse(&rp->nflog, nlh, &why) < 0) {
        nurs_source_malformed(&rp->res, &rp->malformed_rl, why);
        return;
    }
    rp->nflog.recv_ns = ts_ns;
    nurs_nflog_dispatch(&rp->res, &rp->nflog);
}

/* Conntrack and NFLOG messages, in the order they were recorded. */
static bool deliver_datagram(struct nurs_replay *rp, const void *data, size_t len, uint64_t ts_ns)
{
    size_t left = len;
    const struct nlmsghdr *nlh = data;
    for (; nurs_nlmsg_ok(nlh, left) && !rp->res.closing; nlh = nurs_nlmsg_next(nlh, &left)) {
        if (nurs_ct_msg_is_entry(nlh))
            nurs_ct_deliver(&rp->res, &rp->msg, nlh,
                            nlh->nlmsg_flags & NLM_F_MULTI ? NURS_CT_FROM_DUMP : 0,
                            &(struct nurs_ct_delivery){.attr = rp->attr, .begin = true,
                                                       .rl = &rp->malformed_rl});
        else if (nurs_nflog_msg_is_packet(nlh))
            deliver_nflog(rp, nlh, ts_ns);
    }
    return left == 0 || rp->res.closing;
}

static void deliver_next(struct nurs_replay *rp)
{
    struct nurs_pcap_packet *p = &rp->upcoming;
    rp->have_next = false;
    if (p->nl_family != NETLINK_NETFILTER)
        return;
    /* Packets sit at any offset in the file; netlink wants 4-byte alignment. */
    memcpy(rp->scratch, p->data, p->len);
    if (rp->decode_only)
        decode_only(rp, rp->scratch, p->len);
    else if (!deliver_datagram(rp, rp->scratch, p->len, p->ts_ns))
        rp->res.counters.malformed++;
}

static void on_idle(uv_idle_t *idle)
{
    struct nurs_replay *rp = idle->data;
    for (int i = 0; i < BATCH && !rp->res.closing && !rp->done && peek(rp); i++)
        deliver_next(rp);
}

static void on_timer(uv_timer_t *timer)
{
    struct nurs_replay *rp = timer->data;
    uint64_t now = uv_hrtime();
    while (!rp->res.closing && !rp->done && peek(rp)) {
        if (rp->first_ts_ns == 0) {
            rp->first_ts_ns = rp->last_ts_ns = rp->upcoming.ts_ns;
            rp->start_ns = now;
        }
        /* A timestamp going backwards (clock stepped while recording) is
         * due at once: the pace follows the latest one seen. */
        uint64_t ts = rp->upcoming.ts_ns;
        if (ts < rp->last_ts_ns) {
            if (rp->backwards++ == 0)
                nurs_warn("%s: a timestamp goes back %.3f s at offset %zu; such records are "
                          "replayed at once (counted: backwards)",
                          rp->res.name, (double)(rp->last_ts_ns - ts) / 1e9, rp->upcoming.offset);
            ts = rp->last_ts_ns;
        }
        rp->last_ts_ns = ts;
        double due_ns = (double)(ts - rp->first_ts_ns) / rp->speed;
        double elapsed_ns = (double)(now - rp->start_ns);
        if (due_ns > elapsed_ns) {
            uint64_t wait_ms = (uint64_t)((due_ns - elapsed_ns) / 1e6) + 1;
            uv_timer_start(&rp->timer, on_timer, wait_ms, 0);
            return;
        }
        deliver_next(rp);
    }
}

static void free_replay(void *arg)
{
    struct nurs_replay *rp = arg;
    if (rp->file)
        munmap((void *)rp->file, rp->size);
    free(rp->scratch);
    free(rp);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_replay *rp = (struct nurs_replay *)r;
    nurs_attribution_free(rp->attr);
    rp->attr = NULL;
    nurs_closer_begin(&rp->closer, free_replay, rp);
    nurs_closer_close(&rp->closer, &rp->idle);
    nurs_closer_close(&rp->closer, &rp->timer);
    nurs_closer_end(&rp->closer);
}

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_replay *rp = (const struct nurs_replay *)r;
    int n = rp->attr ? nurs_attribution_counters(rp->attr, out) : 0;
    if (n < NURS_MAX_EXTRA_COUNTERS)
        out[n++] = (struct nurs_extra_counter){"backwards", rp->backwards};
    return n;
}

static const struct nurs_resource_ops replay_ops = {
    .kind = "replay",
    .destroy = destroy,
    .extra_counters = extra_counters,
    NURS_SETTINGS_IN(struct nurs_replay),
    .gauges = (const char *const[]){NURS_ATTRIBUTION_GAUGES, NULL},
};

static int map_file(struct nurs_replay *rp, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    rp->size = (size_t)st.st_size;
    if (rp->size > 0) {
        void *m = mmap(NULL, rp->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        rp->file = m;
    }
    close(fd);
    char why[256];
    if (nurs_pcap_reader_init(&rp->reader, rp->file, rp->size, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    return 0;
}

struct nurs_replay *nurs_replay_get(struct nurs_script *s, const struct nurs_replay_opts *o,
                                    char *err, size_t errlen)
{
    char key[4200];
    snprintf(key, sizeof key, "path=%s;speed=%g;loops=%d;decode_only=%d", o->path, o->speed,
             o->loops, o->decode_only);
    const struct replay_settings set = {.stop_at_end = o->stop_at_end};
    struct nurs_resource *r = nurs_resource_claim(s, &replay_ops, key, &set);
    if (r)
        return (struct nurs_replay *)r;
    struct nurs_replay *rp = calloc(1, sizeof *rp);
    if (!rp || !(rp->scratch = malloc(NURS_PCAP_SNAPLEN))) {
        free(rp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (map_file(rp, o->path, err, errlen) < 0) {
        if (rp->file)
            munmap((void *)rp->file, rp->size);
        free(rp->scratch);
        free(rp);
        return NULL;
    }
    rp->speed = o->speed;
    rp->loops = o->loops;
    rp->decode_only = o->decode_only;
    rp->malformed_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    uv_idle_init(s->host->loop, &rp->idle);
    uv_timer_init(s->host->loop, &rp->timer);
    rp->idle.data = rp->timer.data = rp;
    if (nurs_resource_init(&rp->res, &replay_ops, s, o->name ? o->name : "replay", key, &set) <
        0) {
        snprintf(err, errlen, "out of memory");
        destroy(&rp->res);
        return NULL;
    }
    /* A replay runs on the main loop only. */
    rp->res.dormant |= s->host->worker_id != 0;
    if (rp->res.dormant)
        return rp;
    if (o->process && !(rp->attr = nurs_attribution_new(s->host->loop, NULL, &o->process_opts,
                                                        rp->res.name, err, errlen))) {
        nurs_resource_destroy(&rp->res);
        return NULL;
    }
    if (rp->speed > 0)
        uv_timer_start(&rp->timer, on_timer, 0, 0);
    else
        uv_idle_start(&rp->idle, on_idle);
    return rp;
}
