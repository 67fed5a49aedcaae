#include "sources/nflog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <uv.h>

#include "core/closer.h"
#include "core/host.h"
#include "netlink/ifnames.h"
#include "netlink/socket.h"
#include "records/record.h"
#include "sources/recorder.h"
#include "sources/source.h"

/* A wakeup reads at most this many batches, so one busy source cannot
 * starve timers and other sources. */
#define MAX_BATCHES_PER_WAKEUP 8
/* The largest datagram: a batch (nlbufsiz) or one message with a whole
 * 64 KiB packet and its attributes, whichever is larger. */
#define SLOT_SIZE (NURS_NFLOG_MAX_NLBUFSIZ + 8192)
#define CONFIG_TIMEOUT_MS 2000

struct group {
    uint16_t id;
    bool bound;         /* bound on our socket (false while lent out) */
    bool seq_seen;
    uint32_t seq_next;  /* the instance's next sequence number */
};

/* What a reloaded script may change on a kept source. */
struct kept_settings {
    struct nurs_nflog_settings group; /* as the kernel applies them to each group */
    int rcvbuf, rcvbuf_max;
};

struct nurs_nflog_source {
    struct nurs_resource res; /* first: the resource is the source */
    struct kept_settings cur, next;
    struct nurs_nl nl;
    uv_poll_t poll;
    char *netns;
    struct group groups[NURS_NFLOG_MAX_GROUPS];
    int n_groups;
    /* Groups taken from a source of the running script while this one's
     * script loads; given back if that load fails. */
    char *lender_key;
    uint16_t borrowed[NURS_NFLOG_MAX_GROUPS];
    int n_borrowed;
    struct nurs_nl_batch batch;
    struct nurs_nflog_msg msg;
    struct nurs_ifnames ifnames;
    uint64_t lost; /* sequence-number gaps */
    struct nurs_ratelimit overrun_rl, malformed_rl, lost_rl;
    struct nurs_pcap_writer *recorder;
};

static const struct nurs_resource_ops nflog_ops;

struct nurs_resource *nurs_nflog_source_resource(struct nurs_nflog_source *s) { return &s->res; }

struct nurs_nflog_source *nurs_nflog_source_of(struct nurs_resource *r)
{
    return (struct nurs_nflog_source *)r;
}

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_nflog_source *s = (const struct nurs_nflog_source *)r;
    out[0] = (struct nurs_extra_counter){"rcvbuf", (uint64_t)s->nl.rcvbuf};
    out[1] = (struct nurs_extra_counter){"lost", s->lost};
    return 2;
}

void nurs_nflog_dispatch(struct nurs_resource *r, struct nurs_nflog_msg *m)
{
    struct nurs_record rec = {.kind = NURS_RECORD_NFLOG, .data = m};
    nurs_resource_deliver(r, &rec);
    nurs_record_end(&rec);
}

static struct group *find_group(struct nurs_nflog_source *s, uint16_t id)
{
    for (int i = 0; i < s->n_groups; i++)
        if (s->groups[i].id == id)
            return &s->groups[i];
    return NULL;
}

/* With sequence numbers on, a gap is a count of packets the kernel could
 * not deliver (a full receive buffer): exact, where overruns only say
 * that something was lost. */
static void track_sequence(struct nurs_nflog_source *s, const struct nurs_nflog_msg *m)
{
    uint32_t seq;
    struct group *g;
    if (!nurs_nflog_u32(m, NFULA_SEQ, &seq) || !(g = find_group(s, m->group)))
        return;
    int32_t gap = (int32_t)(seq - g->seq_next);
    if (g->seq_seen && gap > 0) {
        s->lost += (uint32_t)gap;
        if (nurs_ratelimit_check(&s->lost_rl) >= 0)
            nurs_warn("%s: group %u: %d packets lost before sequence number %u (%llu so far)",
                      s->res.name, g->id, gap, seq, (unsigned long long)s->lost);
    }
    g->seq_seen = true;
    g->seq_next = seq + 1;
}

static void process_datagram(struct nurs_nflog_source *s, const void *data, size_t len,
                             uint64_t recv_ns)
{
    size_t left = len;
    const struct nlmsghdr *nlh = data;
    for (; nurs_nlmsg_ok(nlh, left) && !s->res.closing; nlh = nurs_nlmsg_next(nlh, &left)) {
        if (!nurs_nflog_msg_is_packet(nlh))
            continue; /* NLMSG_DONE closing a batch, late acks */
        const char *why;
        s->res.counters.in++;
        if (nurs_nflog_msg_parse(&s->msg, nlh, &why) < 0) {
            nurs_source_malformed(&s->res, &s->malformed_rl, why);
            continue;
        }
        s->msg.recv_ns = recv_ns;
        s->msg.now_ms = uv_now(s->res.host->loop);
        track_sequence(s, &s->msg);
        nurs_nflog_dispatch(&s->res, &s->msg);
    }
    if (left > 0 && !s->res.closing)
        nurs_source_malformed(&s->res, &s->malformed_rl, "trailing bytes after the last message");
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct nurs_nflog_source *s = poll->data;
    if (status < 0) /* POLLERR: the overrun is collected by the receive */
        uv_poll_start(poll, UV_READABLE, on_readable);
    for (int round = 0; round < MAX_BATCHES_PER_WAKEUP && !s->res.closing; round++) {
        int n = nurs_nl_recv(&s->nl, &s->batch);
        if (n == -ENOBUFS) {
            nurs_source_overrun(&s->res, &s->nl, &s->overrun_rl);
            continue;
        }
        if (n < 0) {
            nurs_err("%s: netlink receive: %s", s->res.name, strerror(-n));
            return;
        }
        uint64_t now = realtime_ns();
        for (int i = 0; i < n && !s->res.closing; i++) {
            const void *data;
            const char *why;
            long len = nurs_nl_datagram(&s->batch, i, &data, &why);
            if (len < 0) {
                nurs_source_malformed(&s->res, &s->malformed_rl, why);
                continue;
            }
            if (s->recorder)
                nurs_recorder_write(s->recorder, NETLINK_NETFILTER, data, (size_t)len);
            process_datagram(s, data, (size_t)len, now);
        }
        if (n < NURS_NL_SLOTS)
            return;
    }
}

/* Packets that arrive while a configuration request waits for its ack
 * (groups already bound) are delivered as usual, not skipped. */
static void on_other(void *ctx, const void *data, size_t len)
{
    struct nurs_nflog_source *s = ctx;
    process_datagram(s, data, len, realtime_ns());
}

/* The kernel says EPERM both to a process without CAP_NET_ADMIN and to
 * one configuring a group that another socket holds. */
static bool have_net_admin(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
    if (syscall(SYS_capget, &hdr, data) < 0)
        return false;
    return data[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32));
}

/* The group is bound by another socket (or, EBUSY, by this one). */
static bool group_busy(int err) { return err == EBUSY || (err == EPERM && have_net_admin()); }

static const char *explain(int err, uint16_t group)
{
    static char buf[160];
    if (group_busy(err))
        err = EBUSY;
    switch (err) {
    case EPERM:
    case EACCES:
        return "NFLOG needs CAP_NET_ADMIN (run as root or grant the capability)";
    case EBUSY:
        snprintf(buf, sizeof buf,
                 "NFLOG group %u is already bound in this network namespace (by another "
                 "program such as ulogd, or another source of this script)",
                 group);
        return buf;
    case EOPNOTSUPP:
        return "this kernel cannot attach conntrack information to NFLOG packets (option "
               "conntrack: it needs nf_conntrack_netlink and CONFIG_NETFILTER_NETLINK_GLUE_CT)";
    case ENOENT:
    case EPROTONOSUPPORT:
        return "NFLOG is not available in this kernel (modprobe nfnetlink_log)";
    default:
        return strerror(err);
    }
}

/* Sends one configuration message for a group: a command (0: none) and,
 * with st, every setting. Returns 0 or -errno (the kernel's refusal, with
 * its text in err). */
static int config_group(struct nurs_nflog_source *s, struct nurs_nl *nl, uint16_t group,
                        uint8_t cmd, const struct nurs_nflog_settings *st, char *err,
                        size_t errlen)
{
    char buf[256] __attribute__((aligned(4)));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(group);
    if (cmd) {
        struct nfulnl_msg_config_cmd c = {.command = cmd};
        mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof c, &c);
    }
    if (st) {
        struct nfulnl_msg_config_mode mode = {.copy_range = htonl(st->copy_range),
                                              .copy_mode = st->copy_mode};
        mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof mode, &mode);
        mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(st->nlbufsiz));
        mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(st->timeout_cs));
        mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(st->qthresh));
        mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(st->flags));
    }
    if (nurs_nl_request(nl, nlh, CONFIG_TIMEOUT_MS, s ? on_other : NULL, s, err, errlen) == 0)
        return 0;
    return -errno;
}

static bool same_netns(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A source of the running script, not claimed by the loading one, that
 * holds `group` in `netns`. */
static struct nurs_nflog_source *holder_of(struct nurs_host *h, const char *netns, uint16_t group,
                                           const struct nurs_nflog_source *except)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        if (r->ops != &nflog_ops || r->owner != h->current || r->claimant || r->closing)
            continue;
        struct nurs_nflog_source *o = (struct nurs_nflog_source *)r;
        struct group *g = find_group(o, group);
        if (o != except && same_netns(o->netns, netns) && g && g->bound)
            return o;
    }
    return NULL;
}

static struct nurs_nflog_source *source_by_key(struct nurs_host *h, const char *key)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (r->ops == &nflog_ops && r->key && !r->closing && strcmp(r->key, key) == 0)
            return (struct nurs_nflog_source *)r;
    return NULL;
}

/* Binds a group on s's socket; a group held by a source of the running
 * script (a reload that moves it to another source) is taken over. */
static int bind_group(struct nurs_nflog_source *s, struct group *g, char *err, size_t errlen)
{
    int rc = config_group(s, &s->nl, g->id, NFULNL_CFG_CMD_BIND, &s->cur.group, err, errlen);
    if (rc == -EAGAIN) /* the kernel just loaded nf_conntrack_netlink for us */
        rc = config_group(s, &s->nl, g->id, NFULNL_CFG_CMD_BIND, &s->cur.group, err, errlen);
    if (rc == 0) {
        g->bound = true;
        return 0;
    }
    struct nurs_host *h = s->res.host;
    struct nurs_nflog_source *holder;
    if (!group_busy(-rc) || s->res.owner == h->current ||
        !(holder = holder_of(h, s->netns, g->id, s)) ||
        (s->lender_key && strcmp(s->lender_key, holder->res.key) != 0)) {
        snprintf(err, errlen, "%s", explain(-rc, g->id));
        return -1;
    }
    char why[256];
    if (config_group(holder, &holder->nl, g->id, NFULNL_CFG_CMD_UNBIND, NULL, why,
                     sizeof why) < 0 ||
        config_group(s, &s->nl, g->id, NFULNL_CFG_CMD_BIND, &s->cur.group, why, sizeof why) < 0) {
        snprintf(err, errlen, "cannot take NFLOG group %u over from %s: %s", g->id,
                 holder->res.name, why);
        return -1;
    }
    find_group(holder, g->id)->bound = false;
    if (!s->lender_key && !(s->lender_key = strdup(holder->res.key)))
        return -1;
    s->borrowed[s->n_borrowed++] = g->id;
    g->bound = true;
    nurs_info("%s: NFLOG group %u taken over from %s", s->res.name, g->id, holder->res.name);
    return 0;
}

/* A failed load gives what it took back to the running script's source. */
static void give_back(struct nurs_nflog_source *s)
{
    struct nurs_nflog_source *lender = source_by_key(s->res.host, s->lender_key);
    for (int i = 0; lender && i < s->n_borrowed; i++) {
        struct group *g = find_group(lender, s->borrowed[i]);
        char err[256];
        config_group(NULL, &s->nl, g->id, NFULNL_CFG_CMD_UNBIND, NULL, err, sizeof err);
        if (config_group(lender, &lender->nl, g->id, NFULNL_CFG_CMD_BIND, &lender->cur.group, err,
                         sizeof err) == 0)
            g->bound = true;
        else
            nurs_err("%s: cannot take NFLOG group %u back: %s", lender->res.name, g->id, err);
    }
}

static void free_source(struct nurs_nflog_source *s)
{
    nurs_recorder_put(s->res.host, s->recorder);
    nurs_nl_batch_free(&s->batch);
    nurs_ifnames_close(&s->ifnames);
    free(s->lender_key);
    free(s->netns);
    free(s);
}

static void on_closed(uv_handle_t *handle) { free_source(handle->data); }

static void destroy(struct nurs_resource *r)
{
    struct nurs_nflog_source *s = (struct nurs_nflog_source *)r;
    /* Still holding borrowed groups: its script's load failed. */
    if (s->lender_key)
        give_back(s);
    /* Closing the socket unbinds its groups in the kernel. */
    nurs_nl_close(&s->nl);
    if (nurs_handle_open((uv_handle_t *)&s->poll))
        uv_close((uv_handle_t *)&s->poll, on_closed);
    else
        free_source(s);
}

/* Loaded: what it took over is its own now. */
static void committed(struct nurs_resource *r)
{
    struct nurs_nflog_source *s = (struct nurs_nflog_source *)r;
    free(s->lender_key);
    s->lender_key = NULL;
    s->n_borrowed = 0;
}

static void adopted(struct nurs_resource *r);

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    const struct nurs_nflog_source *s = (const struct nurs_nflog_source *)r;
    int n = nurs_label_set(out, "netns", s->netns);
    out[n] = (struct nurs_resource_label){.name = "group"};
    for (int i = 0; i < s->n_groups; i++) {
        char id[8];
        snprintf(id, sizeof id, "%u", s->groups[i].id);
        nurs_label_append(&out[n], id);
    }
    return n + 1;
}

static const struct nurs_resource_ops nflog_ops = {
    .kind = "nflog",
    .destroy = destroy,
    .extra_counters = extra_counters,
    .gauges = (const char *const[]){"rcvbuf", NULL},
    .labels = labels,
    .committed = committed,
    NURS_SETTINGS_IN(struct nurs_nflog_source),
    .adopted = adopted,
};

static void make_key(const struct nurs_nflog_opts *o, char *key, size_t len)
{
    /* The groups, sorted: {6, 5} is the same source as {5, 6}. */
    uint16_t sorted[NURS_NFLOG_MAX_GROUPS];
    memcpy(sorted, o->groups, sizeof(uint16_t) * (size_t)o->n_groups);
    for (int i = 1; i < o->n_groups; i++)
        for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            uint16_t t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    size_t n = (size_t)snprintf(key, len, "netns=%s;groups=", o->netns ? o->netns : "");
    for (int i = 0; i < o->n_groups && n < len; i++)
        n += (size_t)snprintf(key + n, len - n, "%s%u", i ? "," : "", sorted[i]);
}

static bool same_settings(const struct nurs_nflog_settings *a, const struct nurs_nflog_settings *b)
{
    return a->copy_mode == b->copy_mode && a->copy_range == b->copy_range &&
           a->qthresh == b->qthresh && a->timeout_cs == b->timeout_cs &&
           a->nlbufsiz == b->nlbufsiz && a->flags == b->flags;
}

/* A kept source takes back any group it lent out (which fails if another
 * source of the new script has it); the new script's settings wait for
 * its load to succeed (adopted). */
static int readopt(struct nurs_nflog_source *s, const struct nurs_nflog_opts *o, char *err,
                   size_t errlen)
{
    if (s->res.host->check_only)
        return 0;
    for (int i = 0; i < s->n_groups; i++) {
        struct group *g = &s->groups[i];
        if (g->bound)
            continue;
        int rc = config_group(s, &s->nl, g->id, NFULNL_CFG_CMD_BIND, &s->cur.group, err, errlen);
        if (rc < 0) {
            snprintf(err, errlen, "%s", explain(-rc, g->id));
            return -1;
        }
        g->bound = true;
    }
    return nurs_source_set_recorder(&s->res, &s->recorder, o->record, err, errlen);
}

static void adopted(struct nurs_resource *r)
{
    struct nurs_nflog_source *s = (struct nurs_nflog_source *)r;
    if (r->host->check_only)
        return;
    s->nl.rcvbuf_max = s->cur.rcvbuf_max;
    if (s->cur.rcvbuf > s->nl.rcvbuf / 2)
        nurs_nl_set_rcvbuf(&s->nl, s->cur.rcvbuf);
    if (same_settings(&s->cur.group, &s->next.group))
        return;
    char err[256];
    for (int i = 0; i < s->n_groups; i++)
        if (config_group(s, &s->nl, s->groups[i].id, 0, &s->cur.group, err, sizeof err) < 0)
            nurs_err("%s: group %u keeps its old settings: %s", r->name, s->groups[i].id, err);
    nurs_info("%s: new settings applied", r->name);
}

static int start(struct nurs_nflog_source *s, const struct nurs_nflog_opts *o, char *err,
                 size_t errlen)
{
    if (nurs_source_set_recorder(&s->res, &s->recorder, o->record, err, errlen) < 0 ||
        nurs_ifnames_open(&s->ifnames, o->netns, err, errlen) < 0 ||
        nurs_nl_open(&s->nl, NETLINK_NETFILTER, o->netns, err, errlen) < 0)
        return -1;
    nurs_source_rcvbuf(&s->res, &s->nl, o->rcvbuf, o->rcvbuf_max);
    for (int i = 0; i < s->n_groups; i++)
        if (bind_group(s, &s->groups[i], err, errlen) < 0)
            return -1;
    return nurs_source_poll(&s->res, &s->poll, s->nl.fd, on_readable, s, err, errlen);
}

struct nurs_nflog_source *nurs_nflog_source_get(struct nurs_script *script,
                                                const struct nurs_nflog_opts *o, bool *adopted,
                                                char *err, size_t errlen)
{
    char key[4400];
    make_key(o, key, sizeof key);
    const struct kept_settings set = {o->settings, o->rcvbuf, o->rcvbuf_max};
    struct nurs_resource *r = nurs_resource_claim(script, &nflog_ops, key, &set);
    if (r) {
        *adopted = true;
        /* On failure the load fails and gives the source back as it was. */
        return readopt((struct nurs_nflog_source *)r, o, err, errlen) < 0
                   ? NULL
                   : (struct nurs_nflog_source *)r;
    }
    *adopted = false;

    struct nurs_nflog_source *s = calloc(1, sizeof *s);
    if (!s || nurs_nl_batch_init_size(&s->batch, SLOT_SIZE) < 0 ||
        (o->netns && !(s->netns = strdup(o->netns)))) {
        if (s)
            free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->nl.fd = s->ifnames.fd = -1;
    for (int i = 0; i < o->n_groups; i++)
        s->groups[s->n_groups++] = (struct group){.id = o->groups[i]};
    s->msg.ifnames = &s->ifnames;
    s->overrun_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    s->malformed_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    s->lost_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    if (nurs_resource_init(&s->res, &nflog_ops, script, o->name, key, &set) < 0) {
        free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (script->host->check_only)
        return s;
    if (start(s, o, err, errlen) < 0) {
        nurs_resource_destroy(&s->res);
        return NULL;
    }
    char list[NURS_NFLOG_MAX_GROUPS * 7] = "";
    for (int i = 0; i < s->n_groups; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%u", i ? ", " : "",
                 s->groups[i].id);
    nurs_info("%s: listening for NFLOG group%s %s in %s, receive buffer %d bytes", s->res.name,
              s->n_groups > 1 ? "s" : "", list, o->netns ? o->netns : "our namespace",
              s->nl.rcvbuf);
    return s;
}
