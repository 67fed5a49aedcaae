/* The conntrack source as a resource: its events socket and the groups it
 * joins, its settings applied on reload, its counters and its end. What
 * it reads is walked and delivered by conntrack_read.c; its listings of
 * the table are conntrack_dump.c's. */
#include "sources/conntrack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <uv.h>

#include "core/closer.h"
#include "core/host.h"
#include "netlink/doctor.h"
#include "netlink/socket.h"
#include "sources/conntrack_priv.h"
#include "sources/ct_known.h"
#include "sources/recorder.h"
#include "sources/source.h"

struct nurs_resource *nurs_ct_source_resource(struct nurs_ct_source *src) { return &src->res; }
const char *nurs_ct_source_netns(const struct nurs_ct_source *src) { return src->netns; }

struct nurs_ct_source *nurs_ct_source_of(struct nurs_resource *r)
{
    return (struct nurs_ct_source *)r;
}

bool nurs_ct_source_dumping(const struct nurs_ct_source *src) { return src->dump != NULL; }

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_ct_source *s = (const struct nurs_ct_source *)r;
    out[0] = (struct nurs_extra_counter){"rcvbuf", (uint64_t)s->events.nl.rcvbuf};
    out[1] = (struct nurs_extra_counter){"filtered", s->filtered};
    out[2] = (struct nurs_extra_counter){"reads", s->reads};
    int n = 3;
    if (s->known_on) {
        out[n++] = (struct nurs_extra_counter){"resyncs", s->resyncs};
        out[n++] = (struct nurs_extra_counter){"lost_flows", s->lost_flows};
        out[n++] = (struct nurs_extra_counter){"known", nurs_ct_known_count(&s->known)};
    }
    return n + (s->attr ? nurs_attribution_counters(s->attr, out + n) : 0);
}

struct nurs_attribution *nurs_ct_source_attribution(struct nurs_ct_source *s, char *err,
                                                    size_t errlen)
{
    if (!s->attr && !s->res.dormant)
        s->attr = nurs_attribution_new(s->res.host->loop, s->netns, &s->cur.process_opts,
                                       s->res.name, err, errlen);
    else if (!s->attr)
        snprintf(err, errlen, "not under --check");
    return s->attr;
}

static void free_source(void *arg)
{
    struct nurs_ct_source *s = arg;
    nurs_ct_known_free(&s->known);
    nurs_attribution_free(s->attr);
    nurs_recorder_put(s->res.host, s->recorder);
    nurs_nl_batch_free(&s->batch);
    free(s->netns);
    free(s);
}

static void destroy(struct nurs_resource *r)
{
    struct nurs_ct_source *s = (struct nurs_ct_source *)r;
    if (s->dump)
        nurs_ct_close_dump(s);
    nurs_closer_begin(&s->closer, free_source, s);
    nurs_closer_close(&s->closer, &s->wait_timer);
    nurs_closer_close(&s->closer, &s->resync_timer);
    nurs_closer_close(&s->closer, &s->judge_timer);
    nurs_closer_close(&s->closer, &s->events.poll);
    nurs_nl_close(&s->events.nl);
    nurs_closer_end(&s->closer);
}

static int join_new(struct nurs_ct_source *s, bool on, char *err, size_t errlen);

/* conntrackd's NetlinkEventsReliable: delivery failures reach the kernel's
 * event code (which keeps DESTROY events and retries them), none reaches
 * us as ENOBUFS. */
static void set_reliable(struct nurs_ct_source *s)
{
    int on = s->cur.reliable;
    if (s->events.nl.fd < 0)
        return;
    if (setsockopt(s->events.nl.fd, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &on, sizeof on) < 0 ||
        setsockopt(s->events.nl.fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof on) < 0)
        nurs_warn("%s: reliable events: %s", s->res.name, strerror(errno));
}

/* A reloaded script kept the source: its settings apply. What is known
 * of live connections stays; the old script's waiting callbacks go with
 * its Lua state. A running engine keeps the settings it started with. */
static void adopted(struct nurs_resource *r)
{
    struct nurs_ct_source *s = (struct nurs_ct_source *)r;
    char err[256];
    set_reliable(s);
    if (s->cur.resync && !s->known_on && !s->expect) {
        nurs_ct_known_init(&s->known, NURS_CT_KNOWN_MAX);
        s->known_on = true;
        if (!s->dump && nurs_ct_start_dump(s, false, false, false, err, sizeof err) < 0)
            nurs_err("%s: resync: %s", r->name, err);
    } else if (!s->cur.resync && s->known_on) {
        nurs_ct_known_free(&s->known);
        s->known_on = false;
        s->judging = false;
        uv_timer_stop(&s->judge_timer);
    }
    if (join_new(s, s->cur.process || s->cur.resync, err, sizeof err) < 0)
        nurs_err("%s: process attribution: NEW events: %s", r->name, err);
    if (s->attr) {
        s->cur.process_opts = s->next.process_opts;
        nurs_attribution_unwatch_all(s->attr);
    } else if (s->cur.process && !nurs_ct_source_attribution(s, err, sizeof err)) {
        nurs_err("%s: process attribution: %s", r->name, err);
    }
}

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    return nurs_label_set(out, "netns", ((const struct nurs_ct_source *)r)->netns);
}

static const char *const gauges[] = {"rcvbuf", NURS_ATTRIBUTION_GAUGES, NULL};

static const struct nurs_resource_ops ct_ops = {
    .kind = "conntrack",
    .destroy = destroy,
    .extra_counters = extra_counters,
    NURS_SETTINGS_IN(struct nurs_ct_source),
    .adopted = adopted,
    .gauges = gauges,
    .labels = labels,
    .finish = nurs_ct_source_finish,
};

static const char *explain_join_error(int err)
{
    switch (err) {
    case EPERM:
    case EACCES:
        return "subscribing to conntrack events needs CAP_NET_ADMIN (run as root or grant "
               "the capability)";
    case ENOENT:
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
        return "conntrack netlink is not available in this kernel (modprobe "
               "nf_conntrack_netlink)";
    default:
        return strerror(err);
    }
}

/* Attribution starts at NEW events: listen to them when it is on, even if
 * the script did not ask for them (they then reach no callback). */
static int join_new(struct nurs_ct_source *s, bool on, char *err, size_t errlen)
{
    bool want = on || s->deliver_new;
    if (want == s->joined_new || s->events.nl.fd < 0)
        return 0;
    unsigned group = NFNLGRP_CONNTRACK_NEW;
    if (setsockopt(s->events.nl.fd, SOL_NETLINK,
                   want ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group,
                   sizeof group) < 0) {
        snprintf(err, errlen, "%s", explain_join_error(errno));
        return -1;
    }
    s->joined_new = want;
    return 0;
}

static int open_events(struct nurs_ct_source *s, const struct nurs_ct_source_opts *o, char *err,
                       size_t errlen)
{
    if (nurs_nl_open(&s->events.nl, NETLINK_NETFILTER, o->netns, err, errlen) < 0)
        return -1;
    bool want_new = o->ev_new || o->set.process || o->set.resync;
    const struct {
        bool on;
        unsigned group;
    } groups[] = {
        {!o->expect && want_new, NFNLGRP_CONNTRACK_NEW},
        {!o->expect && o->ev_update, NFNLGRP_CONNTRACK_UPDATE},
        {!o->expect && o->ev_destroy, NFNLGRP_CONNTRACK_DESTROY},
        {o->expect && o->ev_new, NFNLGRP_CONNTRACK_EXP_NEW},
        {o->expect && o->ev_destroy, NFNLGRP_CONNTRACK_EXP_DESTROY},
    };
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) {
        if (!groups[i].on)
            continue;
        if (setsockopt(s->events.nl.fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i].group,
                       sizeof groups[i].group) < 0) {
            snprintf(err, errlen, "%s", explain_join_error(errno));
            return -1;
        }
    }
    s->joined_new = !o->expect && want_new;
    nurs_source_rcvbuf(&s->res, &s->events.nl, o->rcvbuf, o->rcvbuf_max);
    set_reliable(s);
    return 0;
}

/* The checks of --doctor, once per namespace, as warnings at start-up. */
static void check_kernel(struct nurs_ct_source *s, const struct nurs_ct_source_opts *o)
{
    static char done[8][64];
    static int n_done;
    const char *ns = o->netns ? o->netns : "";
    for (int i = 0; i < n_done; i++)
        if (strcmp(done[i], ns) == 0)
            return;
    if (n_done < 8)
        snprintf(done[n_done++], sizeof done[0], "%s", ns);
    struct nurs_doctor_report r;
    struct nurs_doctor_opts d = {.netns = o->netns, .rcvbuf = o->rcvbuf};
    if (nurs_doctor_run(&d, &r) != NURS_DOCTOR_OK)
        nurs_doctor_log(s->res.name, o->netns, &r);
}

static int set_recorder(struct nurs_ct_source *s, const struct nurs_ct_source_opts *o, char *err,
                        size_t errlen)
{
    return nurs_source_set_recorder(&s->res, &s->recorder, o->record, err, errlen);
}

static void make_key(const struct nurs_ct_source_opts *o, char *key, size_t len)
{
    snprintf(key, len, "netns=%s;expect=%d;new=%d;update=%d;destroy=%d", o->netns ? o->netns : "",
             o->expect, o->ev_new, o->ev_update, o->ev_destroy);
}

struct nurs_ct_source *nurs_ct_source_get(struct nurs_script *script,
                                          const struct nurs_ct_source_opts *o, bool *adopted,
                                          char *err, size_t errlen)
{
    char key[4200];
    make_key(o, key, sizeof key);
    struct nurs_resource *r = nurs_resource_claim(script, &ct_ops, key, &o->set);
    if (r) {
        struct nurs_ct_source *s = (struct nurs_ct_source *)r;
        s->events.nl.rcvbuf_max = o->rcvbuf_max;
        if (s->events.nl.fd >= 0 && o->rcvbuf > s->events.nl.rcvbuf / 2)
            nurs_nl_set_rcvbuf(&s->events.nl, o->rcvbuf);
        *adopted = true;
        /* On failure the load fails and gives the source back as it was. */
        return set_recorder(s, o, err, errlen) < 0 ? NULL : s;
    }
    *adopted = false;

    struct nurs_ct_source *s = calloc(1, sizeof *s);
    if (!s || nurs_nl_batch_init(&s->batch) < 0 || (o->netns && !(s->netns = strdup(o->netns)))) {
        if (s)
            free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->events.nl.fd = -1;
    s->deliver_new = o->ev_new;
    s->expect = o->expect;
    s->overrun_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 3);
    s->malformed_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    if (nurs_resource_init(&s->res, &ct_ops, script, o->name, key, &o->set) < 0) {
        free_source(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* Conntrack events are the main loop's, not a worker loop's. */
    s->res.dormant |= script->host->worker_id != 0;
    if (s->res.dormant)
        return s;
    uv_timer_init(script->host->loop, &s->wait_timer);
    s->wait_timer.data = s;
    uv_timer_init(script->host->loop, &s->resync_timer);
    s->resync_timer.data = s;
    uv_unref((uv_handle_t *)&s->resync_timer);
    uv_timer_init(script->host->loop, &s->judge_timer);
    s->judge_timer.data = s;
    uv_unref((uv_handle_t *)&s->judge_timer);
    if (set_recorder(s, o, err, errlen) < 0) {
        nurs_resource_destroy(&s->res);
        return NULL;
    }
    bool any = o->ev_new || o->ev_update || o->ev_destroy;
    if ((any && (open_events(s, o, err, errlen) < 0 ||
                 nurs_ct_start_channel(s, &s->events, err, errlen) < 0)) ||
        (o->set.process && !nurs_ct_source_attribution(s, err, errlen))) {
        nurs_resource_destroy(&s->res);
        return NULL;
    }
    /* A resync needs to know the entries alive before it started: the
     * first listing is made for it if the script asked for none. */
    if (o->set.resync) {
        nurs_ct_known_init(&s->known, NURS_CT_KNOWN_MAX);
        s->known_on = true;
    }
    if (o->dump || o->set.resync) {
        if (nurs_ct_start_dump(s, false, o->dump, false, err, errlen) < 0) {
            nurs_resource_destroy(&s->res);
            return NULL;
        }
    }
    if (!o->expect)
        check_kernel(s, o);
    if (any) {
        char list[80] = "";
        const char *names[] = {o->ev_new           ? "new"
                               : o->set.process ? "new (for process attribution only)"
                                                : NULL,
                               o->ev_update ? "update" : NULL, o->ev_destroy ? "destroy" : NULL};
        for (int i = 0; i < 3; i++)
            if (names[i])
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                         *list ? ", " : "", names[i]);
        nurs_info("%s: listening for %s events (%s) in %s, receive buffer %d bytes%s%s",
                  s->res.name, o->expect ? "expectation" : "conntrack", list,
                  o->netns ? o->netns : "our namespace", s->events.nl.rcvbuf,
                  o->set.reliable ? ", reliable" : "", o->set.resync ? ", resync" : "");
    }
    return s;
}
