/* The NFQUEUE source: binding and configuring the queues, the receive
 * loop, and what happens to queued packets on reload, close and exit. */
#include "sources/nfqueue/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter/nfnetlink.h>

#include "core/host.h"
#include "records/record.h"
#include "sources/recorder.h"
#include "sources/source.h"

/* Like the conntrack source: a wakeup reads at most this many batches so
 * that one busy queue cannot starve timers and other sources. */
#define MAX_BATCHES_PER_WAKEUP 8
#define CONFIG_TIMEOUT_MS 2000
#define FLAGS_MANAGED                                                                         \
    (NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_CONNTRACK | NFQA_CFG_F_GSO | NFQA_CFG_F_UID_GID |     \
     NFQA_CFG_F_SECCTX)

static void count_malformed(struct nurs_nfq_source *s, const char *why)
{
    nurs_source_malformed(&s->res, &s->malformed_rl, why);
}

void nurs_nfq_dispatch(struct nurs_nfq_source *s, const struct nurs_nfq_msg *m)
{
    struct nurs_resource *r = &s->res;
    if (r->consumers.n == 0) {
        nurs_nfq_issue_default(s, m->queue, m->id, NURS_NFQ_DEF_NONE);
        return;
    }
    struct nurs_nfq_packet p = {.src = s, .msg = m};
    struct nurs_record rec = {.kind = NURS_RECORD_NFQ, .data = &p};
    s->packet = &p;
    bool failed = false;
    for (int i = 0; i < r->consumers.n && !p.decided && !r->closing; i++) {
        struct nurs_consumer *c = r->consumers.c[i];
        if (c && c->ops->take(c, r, &rec) == NURS_TAKE_FAILED) {
            failed = true;
            r->counters.errors++;
        }
    }
    if (!p.decided) {
        p.decided = true;
        nurs_nfq_issue_default(s, m->queue, m->id, NURS_NFQ_DEF_NONE);
    }
    if (!failed)
        r->counters.delivered++;
    nurs_record_end(&rec);
    s->packet = NULL;
}

static void deliver_packet(struct nurs_nfq_source *s, const struct nlmsghdr *nlh)
{
    bool has_id;
    const char *why;
    s->res.counters.in++;
    if (nurs_nfq_msg_parse(&s->msg, nlh, &has_id, &why) < 0) {
        count_malformed(s, why);
        if (has_id)
            nurs_nfq_issue_default(s, s->msg.queue, s->msg.id, NURS_NFQ_DEF_MALFORMED);
        return;
    }
    nurs_nfq_dispatch(s, &s->msg);
}

static void kernel_error(struct nurs_nfq_source *s, const struct nlmsghdr *nlh)
{
    const struct nlmsgerr *e = NLMSG_DATA(nlh);
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof *e) {
        count_malformed(s, "short error message");
        return;
    }
    if (e->error == 0)
        return;
    s->st.kernel_errors++;
    if (nurs_ratelimit_check(&s->kernel_rl) >= 0)
        nurs_warn("%s: the kernel refused a verdict: %s (%llu so far)", s->res.name,
                  strerror(-e->error), (unsigned long long)s->st.kernel_errors);
}

/* Walks the messages of one whole datagram. With `why` set the packets get
 * the default verdict without Lua (config requests, shutdown). */
static void process_datagram(struct nurs_nfq_source *s, const void *data, size_t len,
                             const enum nurs_nfq_default_reason *why)
{
    size_t left = len;
    const struct nlmsghdr *nlh = data;
    for (; nurs_nlmsg_ok(nlh, left); nlh = nurs_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_type == NLMSG_ERROR) {
            kernel_error(s, nlh);
        } else if (nurs_nfq_msg_is_packet(nlh)) {
            if (!why) {
                deliver_packet(s, nlh);
                continue;
            }
            uint16_t queue;
            uint32_t id;
            s->res.counters.in++;
            if (nurs_nfq_salvage_id(nlh, nlh->nlmsg_len, &queue, &id))
                nurs_nfq_issue_default(s, queue, id, *why);
            else
                count_malformed(s, "packet message without a packet header");
        } else if (nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
            count_malformed(s, "not an NFQUEUE packet message");
        }
    }
    if (left > 0)
        count_malformed(s, "trailing bytes after the last message");
}

/* A datagram longer than a slot: its packet cannot be read, but its id
 * can, and it must not wait in the kernel forever. */
static void salvage_truncated(struct nurs_nfq_source *s, int i)
{
    size_t len = s->batch.msgs[i].msg_len;
    if (len > s->batch.slot_size)
        len = s->batch.slot_size;
    uint16_t queue;
    uint32_t id;
    s->res.counters.in++;
    count_malformed(s, "datagram truncated");
    if (nurs_nfq_salvage_id(s->batch.iov[i].iov_base, len, &queue, &id))
        nurs_nfq_issue_default(s, queue, id, NURS_NFQ_DEF_MALFORMED);
}

/* Reads one batch of datagrams; returns how many, 0 when none waits, -1
 * on a receive error. */
static int receive_batch(struct nurs_nfq_source *s, const enum nurs_nfq_default_reason *why)
{
    int n = nurs_nl_recv(&s->nl, &s->batch);
    if (n == -ENOBUFS) {
        /* The kernel dropped the packets it could not queue to us (or,
         * fail_open, accepted them): none of them waits for a verdict. */
        nurs_source_overrun(&s->res, &s->nl, &s->overrun_rl);
        return 1; /* go on reading */
    }
    if (n < 0) {
        nurs_err("%s: netlink receive: %s", s->res.name, strerror(-n));
        return -1;
    }
    if (!why) {
        s->batch_n = n;
        s->in_batch = true;
    }
    for (int i = 0; i < n && !(s->res.closing && !why); i++) {
        if (!why)
            s->batch_next = i + 1;
        const void *data;
        const char *bad;
        long len = nurs_nl_datagram(&s->batch, i, &data, &bad);
        if (len < 0) {
            if (s->batch.from[i].nl_pid == 0 && (s->batch.msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
                salvage_truncated(s, i);
            else
                count_malformed(s, bad);
            continue;
        }
        if (s->recorder)
            nurs_recorder_write(s->recorder, NETLINK_NETFILTER, data, (size_t)len);
        process_datagram(s, data, (size_t)len, why);
    }
    if (!why)
        s->in_batch = false;
    nurs_nfq_flush(s);
    return n;
}

/* The source is closed from one of its own callbacks (q:close(), a
 * script error that ends the daemon...): the packet in the callback and
 * the rest of the batch already read get the default verdict now, before
 * the unbind would let the kernel drop them. */
static void finish_batch(struct nurs_nfq_source *s)
{
    if (s->packet && !s->packet->decided) {
        s->packet->decided = true;
        nurs_nfq_issue_default(s, s->packet->msg->queue, s->packet->msg->id, NURS_NFQ_DEF_EXIT);
    }
    if (!s->in_batch)
        return;
    s->in_batch = false;
    const enum nurs_nfq_default_reason why = NURS_NFQ_DEF_EXIT;
    for (int i = s->batch_next; i < s->batch_n; i++) {
        const void *data;
        const char *bad;
        long len = nurs_nl_datagram(&s->batch, i, &data, &bad);
        if (len < 0 && s->batch.from[i].nl_pid == 0 &&
            (s->batch.msgs[i].msg_hdr.msg_flags & MSG_TRUNC))
            salvage_truncated(s, i);
        else if (len >= 0)
            process_datagram(s, data, (size_t)len, &why);
    }
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct nurs_nfq_source *s = poll->data;
    if (status < 0) /* POLLERR: an overrun, collected by the receive */
        uv_poll_start(poll, UV_READABLE, on_readable);
    for (int round = 0; round < MAX_BATCHES_PER_WAKEUP && !s->res.closing; round++) {
        int n = receive_batch(s, NULL);
        if (n < NURS_NL_SLOTS)
            return;
    }
}

/* ---- configuration ---- */

struct config_ctx {
    struct nurs_nfq_source *s;
    enum nurs_nfq_default_reason why;
};

static void on_config_traffic(void *ctx, const void *data, size_t len)
{
    struct config_ctx *c = ctx;
    process_datagram(c->s, data, len, &c->why);
}

static int request(struct nurs_nfq_source *s, struct nlmsghdr *nlh,
                   enum nurs_nfq_default_reason why, char *err, size_t errlen)
{
    struct config_ctx c = {s, why};
    int rc = nurs_nl_request(&s->nl, nlh, CONFIG_TIMEOUT_MS, on_config_traffic, &c, err, errlen);
    int saved = errno;
    nurs_nfq_flush(s);
    errno = saved;
    return rc;
}

static void explain_bind_error(int e, uint16_t queue, char *err, size_t errlen)
{
    switch (e) {
    case EPERM:
    case EACCES:
        snprintf(err, errlen, "binding queue %u needs CAP_NET_ADMIN (run as root or grant the "
                              "capability)", queue);
        break;
    case EBUSY:
        snprintf(err, errlen, "queue %u is bound by another program (another nurs-lua, "
                              "Suricata, a libnetfilter_queue program...)", queue);
        break;
    case ENOENT:
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
        snprintf(err, errlen, "NFQUEUE is not available in this kernel (modprobe "
                              "nfnetlink_queue)");
        break;
    default:
        snprintf(err, errlen, "binding queue %u: %s", queue, strerror(e));
        break;
    }
}

static struct nurs_nfq_config config_of(const struct nurs_nfq_opts *o)
{
    return (struct nurs_nfq_config){
        .set_params = true,
        .copy_mode = o->copy_mode,
        .copy_range = o->copy_range,
        .set_maxlen = o->maxlen != 0,
        .maxlen = o->maxlen,
        .flags = o->flags,
        .mask = FLAGS_MANAGED,
    };
}

static int configure(struct nurs_nfq_source *s, const struct nurs_nfq_opts *o,
                     enum nurs_nfq_default_reason why, char *err, size_t errlen)
{
    unsigned char buf[NURS_NFQ_MSG_MAX] __attribute__((aligned(4)));
    struct nurs_nfq_config c = config_of(o);
    for (int i = 0; i < o->n_queues; i++) {
        char why_text[256];
        if (request(s, nurs_nfq_put_config(buf, o->queues[i], &c), why, why_text,
                    sizeof why_text) < 0) {
            if (errno == EOPNOTSUPP && (o->flags & NFQA_CFG_F_CONNTRACK) && !s->ct_glue)
                snprintf(err, errlen, "queue %u: the conntrack option needs a kernel built "
                                      "with CONFIG_NETFILTER_NETLINK_GLUE_CT",
                         o->queues[i]);
            else if (errno == EOPNOTSUPP)
                snprintf(err, errlen, "queue %u: this kernel lacks one of the flags asked for "
                                      "(fail_open, gso, uid_gid, secctx)",
                         o->queues[i]);
            else
                snprintf(err, errlen, "configuring queue %u: %s", o->queues[i], why_text);
            return -1;
        }
    }
    return 0;
}

/* Whether the kernel can attach conntrack entries to packets and take
 * conntrack marks with verdicts (CONFIG_NETFILTER_NETLINK_GLUE_CT): it
 * refuses the conntrack flag without. Without it a ctmark in a verdict
 * would be ignored silently, so we say so. */
static void probe_ct_glue(struct nurs_nfq_source *s)
{
    unsigned char buf[NURS_NFQ_MSG_MAX] __attribute__((aligned(4)));
    char err[256];
    struct nurs_nfq_config c = {.flags = NFQA_CFG_F_CONNTRACK, .mask = NFQA_CFG_F_CONNTRACK};
    s->ct_glue = request(s, nurs_nfq_put_config(buf, s->cur.queues[0], &c), NURS_NFQ_DEF_CONFIG,
                         err, sizeof err) == 0;
}

static int bind_queues(struct nurs_nfq_source *s, char *err, size_t errlen)
{
    unsigned char buf[NURS_NFQ_MSG_MAX] __attribute__((aligned(4)));
    for (int i = 0; i < s->cur.n_queues; i++) {
        char why[256];
        if (request(s, nurs_nfq_put_cmd(buf, s->cur.queues[i], NFQNL_CFG_CMD_BIND),
                    NURS_NFQ_DEF_CONFIG, why, sizeof why) < 0) {
            if (errno == ETIMEDOUT)
                snprintf(err, errlen, "binding queue %u: %s", s->cur.queues[i], why);
            else
                explain_bind_error(errno, s->cur.queues[i], err, errlen);
            return -1;
        }
        s->n_bound = i + 1;
    }
    probe_ct_glue(s);
    return configure(s, &s->cur, NURS_NFQ_DEF_CONFIG, err, errlen);
}

/* Every packet still queued for us gets the default verdict, then the
 * queues are unbound. The kernel first stops queueing: with a full queue
 * (maxlen 0) it decides new packets itself, accepting them with fail-open
 * when our default is accept and dropping them otherwise, so nothing is
 * queued between the last read and the unbind (which drops what it
 * finds). */
static void unbind_queues(struct nurs_nfq_source *s)
{
    unsigned char buf[NURS_NFQ_MSG_MAX] __attribute__((aligned(4)));
    char err[256];
    bool accept = (s->cur.deflt.verdict & 0xffff) == NURS_NFQ_ACCEPT;
    struct nurs_nfq_config stop = {
        .set_maxlen = true,
        .maxlen = 0,
        .flags = accept ? NFQA_CFG_F_FAIL_OPEN : 0,
        .mask = NFQA_CFG_F_FAIL_OPEN,
    };
    for (int i = 0; i < s->n_bound; i++)
        if (request(s, nurs_nfq_put_config(buf, s->cur.queues[i], &stop), NURS_NFQ_DEF_EXIT, err,
                    sizeof err) < 0)
            nurs_warn("%s: queue %u: cannot stop queueing: %s", s->res.name, s->cur.queues[i], err);
    const enum nurs_nfq_default_reason why = NURS_NFQ_DEF_EXIT;
    for (int round = 0; round < 1024; round++)
        if (receive_batch(s, &why) <= 0)
            break;
    nurs_nfq_release_all(s, NURS_NFQ_DEF_EXIT);
    nurs_nfq_flush(s);
    for (int i = 0; i < s->n_bound; i++)
        if (request(s, nurs_nfq_put_cmd(buf, s->cur.queues[i], NFQNL_CFG_CMD_UNBIND),
                    NURS_NFQ_DEF_EXIT, err, sizeof err) < 0)
            nurs_warn("%s: queue %u: unbind: %s", s->res.name, s->cur.queues[i], err);
    s->n_bound = 0;
}

static void report_exit_defaults(struct nurs_nfq_source *s)
{
    uint64_t defaults = s->st.defaults[NURS_NFQ_DEF_EXIT];
    if (defaults)
        nurs_info("%s: %llu pending packets got the default verdict (%s) on close",
                  s->res.name, (unsigned long long)defaults,
                  nurs_nfq_verdict_name(s->cur.deflt.verdict));
}

/* ---- lifetime ---- */

static void free_source(void *arg)
{
    struct nurs_nfq_source *s = arg;
    nurs_recorder_put(s->res.host, s->recorder);
    nurs_nl_batch_free(&s->batch);
    nurs_nfq_verdicts_free(s);
    free(s->netns);
    free(s);
}

/* Orderly exit, while the script still runs: every pending packet gets
 * the default verdict before the final counters are logged. */
static void finish(struct nurs_resource *r)
{
    struct nurs_nfq_source *s = (struct nurs_nfq_source *)r;
    if (s->nl.fd < 0 || s->n_bound == 0)
        return;
    finish_batch(s);
    unbind_queues(s);
    report_exit_defaults(s);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_nfq_source *s = (struct nurs_nfq_source *)r;
    if (s->nl.fd >= 0 && s->n_bound > 0) {
        finish_batch(s);
        unbind_queues(s);
        report_exit_defaults(s);
    }
    nurs_closer_begin(&s->closer, free_source, s);
    nurs_closer_close(&s->closer, &s->poll);
    nurs_closer_close(&s->closer, &s->hold_timer);
    nurs_nl_close(&s->nl);
    nurs_ifnames_close(&s->ifnames);
    nurs_closer_end(&s->closer);
}

static bool kernel_settings_differ(const struct nurs_nfq_opts *a, const struct nurs_nfq_opts *b)
{
    return a->copy_mode != b->copy_mode || a->copy_range != b->copy_range ||
           a->maxlen != b->maxlen || a->flags != b->flags;
}

/* A reloaded script that claimed the queue loaded: its settings apply,
 * and packets the old script held (its Lua state closes now) get the
 * default verdict. */
static void adopted(struct nurs_resource *r)
{
    struct nurs_nfq_source *s = (struct nurs_nfq_source *)r;
    uint64_t before = s->st.defaults[NURS_NFQ_DEF_RELOAD];
    nurs_nfq_release_all(s, NURS_NFQ_DEF_RELOAD);
    nurs_nfq_flush(s);
    if (s->st.defaults[NURS_NFQ_DEF_RELOAD] > before)
        nurs_info("%s: %llu packets held by the old script got the default verdict",
                  s->res.name, (unsigned long long)(s->st.defaults[NURS_NFQ_DEF_RELOAD] - before));
    bool reconfigure = kernel_settings_differ(&s->cur, &s->next);
    int rcvbuf = s->cur.rcvbuf;
    s->nl.rcvbuf_max = s->cur.rcvbuf_max;
    if (s->nl.fd < 0)
        return;
    if (rcvbuf > s->nl.rcvbuf / 2)
        nurs_nl_set_rcvbuf(&s->nl, rcvbuf);
    char err[256];
    if (reconfigure && configure(s, &s->cur, NURS_NFQ_DEF_CONFIG, err, sizeof err) < 0)
        nurs_err("%s: new settings not applied: %s", s->res.name, err);
}

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    return nurs_nfq_extra_counters(r, out);
}

static void flush(struct nurs_resource *r) { nurs_nfq_flush((struct nurs_nfq_source *)r); }

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    const struct nurs_nfq_source *s = (const struct nurs_nfq_source *)r;
    int n = nurs_label_set(out, "netns", s->netns);
    out[n] = (struct nurs_resource_label){.name = "queue"};
    for (int i = 0; i < s->cur.n_queues; i++) {
        char id[8];
        snprintf(id, sizeof id, "%u", s->cur.queues[i]);
        nurs_label_append(&out[n], id);
    }
    return n + 1;
}

static const struct nurs_resource_ops nfq_ops = {
    .kind = "nfqueue",
    .destroy = destroy,
    .flush = flush,
    NURS_SETTINGS_IN(struct nurs_nfq_source),
    .adopted = adopted,
    .finish = finish,
    .extra_counters = extra_counters,
    .gauges = (const char *const[]){"held", "rcvbuf", NULL},
    .labels = labels,
};

static void make_key(const struct nurs_nfq_opts *o, char *key, size_t len)
{
    /* Queue numbers sorted, so {3, 2} and {2, 3} are the same binding. */
    uint16_t q[NURS_NFQ_MAX_QUEUES];
    memcpy(q, o->queues, sizeof q);
    for (int i = 1; i < o->n_queues; i++)
        for (int j = i; j > 0 && q[j - 1] > q[j]; j--) {
            uint16_t t = q[j];
            q[j] = q[j - 1];
            q[j - 1] = t;
        }
    int used = snprintf(key, len, "netns=%s;queues=", o->netns ? o->netns : "");
    for (int i = 0; i < o->n_queues && used > 0 && (size_t)used < len; i++)
        used += snprintf(key + used, len - (size_t)used, "%s%u", i ? "," : "", q[i]);
}

static int set_recorder(struct nurs_nfq_source *s, const char *own, char *err, size_t errlen)
{
    return nurs_source_set_recorder(&s->res, &s->recorder, own, err, errlen);
}

static int open_socket(struct nurs_nfq_source *s, const struct nurs_nfq_opts *o, char *err,
                       size_t errlen)
{
    if (nurs_nl_open(&s->nl, NETLINK_NETFILTER, o->netns, err, errlen) < 0)
        return -1;
    /* Without it packets still flow: their records only lack the names. */
    char ifnames_err[128];
    if (nurs_ifnames_open(&s->ifnames, o->netns, ifnames_err, sizeof ifnames_err) < 0)
        nurs_warn("%s: interface names unavailable: %s", s->res.name, ifnames_err);
    nurs_source_rcvbuf(&s->res, &s->nl, o->rcvbuf, o->rcvbuf_max);
    if (bind_queues(s, err, errlen) < 0)
        return -1;
    return nurs_source_poll(&s->res, &s->poll, s->nl.fd, on_readable, s, err, errlen);
}

struct nurs_nfq_source *nurs_nfq_source_get(struct nurs_script *script,
                                            const struct nurs_nfq_opts *o, bool *adopted_out,
                                            char *err, size_t errlen)
{
    char key[4400];
    make_key(o, key, sizeof key);
    /* Kept without the strings, which die with a failed load. */
    struct nurs_nfq_opts kept = *o;
    kept.netns = kept.name = kept.record = NULL;
    struct nurs_resource *r = nurs_resource_claim(script, &nfq_ops, key, &kept);
    if (r) {
        struct nurs_nfq_source *s = (struct nurs_nfq_source *)r;
        *adopted_out = true;
        if (s->cur.workers != o->workers) {
            nurs_resource_unclaim(r);
            snprintf(err, errlen, "its queues are shared by %d worker loop%s: changing "
                                  "'workers' takes a restart",
                     s->cur.workers, s->cur.workers == 1 ? "" : "s");
            return NULL;
        }
        return set_recorder(s, o->record, err, errlen) < 0 ? NULL : s;
    }
    *adopted_out = false;

    struct nurs_nfq_source *s = calloc(1, sizeof *s);
    if (!s || nurs_nl_batch_init_size(&s->batch, NURS_NFQ_SLOT_SIZE) < 0 ||
        !(s->out = malloc(64 * sizeof *s->out)) || (o->netns && !(s->netns = strdup(o->netns)))) {
        if (s)
            free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cap_out = 64;
    s->nl.fd = -1;
    s->ifnames.fd = -1;
    s->overrun_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    s->malformed_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    s->kernel_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    s->default_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    if (nurs_resource_init(&s->res, &nfq_ops, script, o->name, key, &kept) < 0) {
        free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uv_timer_init(script->host->loop, &s->hold_timer);
    s->hold_timer.data = s;
    s->res.dormant |= o->dormant;
    if (s->res.dormant)
        return s;
    if (set_recorder(s, o->record, err, errlen) < 0 || open_socket(s, o, err, errlen) < 0) {
        nurs_resource_destroy(&s->res);
        return NULL;
    }
    char list[128] = "";
    for (int i = 0; i < o->n_queues; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%u", i ? "," : "",
                 o->queues[i]);
    nurs_info("%s: bound to queue %s in %s (default verdict %s), receive buffer %d bytes",
              s->res.name, list, o->netns ? o->netns : "our namespace",
              nurs_nfq_verdict_name(o->deflt.verdict), s->nl.rcvbuf);
    return s;
}
