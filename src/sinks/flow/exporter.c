#include "sinks/flow/exporter.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "core/closer.h"
#include "core/host.h"
#include "records/record.h"
#include "sinks/flow/ctflow.h"
#include "sinks/flow/flow_state.h"

/* Template definitions ever sent by this exporter, so that a definition
 * keeps its id across reloads and a changed one gets a new id. */
#define REGISTRY_MAX 64

struct registered {
    struct nurs_template def;
    uint16_t id;
};

/* What conntrack records need of the exporter: the connections it
 * remembers, and its counts and warnings per reason a record made no
 * flow. */
struct nurs_exporter_ct {
    struct nurs_flow_state state;
    struct nurs_ct_flow_ctx map;
    uint64_t records;     /* data records made (each sent to every collector) */
    uint64_t no_template; /* flows of a family no template takes */
    uint64_t no_counters; /* entries without counters: accounting is off */
    struct nurs_export_losses losses;
    bool warned_template[2], warned_counters, warned_times, warned_process;
};

struct nurs_exporter {
    struct nurs_resource res; /* first: the resource is the exporter */
    struct nurs_exporter_settings cur, next;
    struct nurs_export_conf conf;
    struct registered *registry;
    int n_registered;
    uint16_t next_id;
    struct nurs_collector *collectors[NURS_EXPORTER_MAX_COLLECTORS];
    int n_collectors;
    uv_timer_t flush_timer;
    uv_check_t batch_check; /* sends batched datagrams once per loop turn */
    struct nurs_closer closer;
    struct nurs_exporter_ct ct;
};

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct nurs_resource *nurs_exporter_resource(struct nurs_exporter *e) { return &e->res; }
struct nurs_exporter *nurs_exporter_of(struct nurs_resource *r) { return (struct nurs_exporter *)r; }
enum nurs_flow_version nurs_exporter_version(const struct nurs_exporter *e)
{
    return e->conf.version;
}
int nurs_exporter_n_collectors(const struct nurs_exporter *e) { return e->n_collectors; }
const struct nurs_collector *nurs_exporter_collector(const struct nurs_exporter *e, int i)
{
    return i >= 0 && i < e->n_collectors ? e->collectors[i] : NULL;
}
const struct nurs_template *nurs_exporter_templates(const struct nurs_exporter *e,
                                                    const struct nurs_script *caller, int *n)
{
    const struct nurs_exporter_settings *set = nurs_resource_settings(&e->res, caller);
    *n = set->n_templates;
    return set->templates;
}

const struct nurs_template *nurs_exporter_ct_template(const struct nurs_exporter *e,
                                                     const struct nurs_script *caller,
                                                     uint8_t ip_version)
{
    int n;
    const struct nurs_template *t = nurs_exporter_templates(e, caller, &n);
    for (int i = 0; i < n; i++)
        if (t[i].ip_version == ip_version)
            return &t[i];
    /* A lone template without addresses takes every flow. */
    return n == 1 && t[0].ip_version == 0 ? &t[0] : NULL;
}

/* Adds one record to every collector's message. */
static int send_record(struct nurs_exporter *e, const struct nurs_template *t,
                       const struct nurs_flow *fwd, const struct nurs_flow *rev,
                       const struct nurs_fvalue *vals)
{
    for (int i = 0; i < e->n_collectors; i++)
        nurs_collector_add(e->collectors[i], t, fwd, rev, vals);
    e->ct.records++;
    return 1;
}

int nurs_exporter_export_values(struct nurs_exporter *e, const struct nurs_template *t,
                                const struct nurs_fvalue *vals)
{
    e->res.counters.in++;
    int n = send_record(e, t, NULL, NULL, vals);
    e->res.counters.delivered++;
    return n;
}

static void warn_once(bool *flag, const char *name, const char *msg)
{
    if (!*flag)
        nurs_warn("%s: %s", name, msg);
    *flag = true;
}

int nurs_exporter_export_ct(struct nurs_exporter *e, struct nurs_ct_msg *m,
                            const struct nurs_template *t, const struct nurs_fvalue *vals[2])
{
    struct nurs_exporter_ct *ct = &e->ct;
    struct nurs_resource *r = &e->res;
    r->counters.in++;
    struct nurs_flow f[2];
    bool start_known;
    enum nurs_ct_flow_outcome outcome = nurs_ct_flow_map(&ct->map, m, f, &start_known);
    if (!start_known)
        warn_once(&ct->warned_times, r->name,
                  "flow start times are unknown: turn conntrack timestamps on (sysctl -w "
                  "net.netfilter.nf_conntrack_timestamp=1) or listen to \"new\" events; until "
                  "then flows start when they end");
    switch (outcome) {
    case NURS_CT_FLOWS:
        break;
    case NURS_CT_FLOWS_NOTED:
    case NURS_CT_FLOWS_EMPTY:
        r->counters.delivered++;
        return 0;
    case NURS_CT_FLOWS_MALFORMED:
        r->counters.malformed++;
        return 0;
    case NURS_CT_FLOWS_NO_COUNTERS:
        ct->no_counters++;
        warn_once(&ct->warned_counters, r->name,
                  "conntrack entries carry no counters, so they make no flows: turn "
                  "accounting on (sysctl -w net.netfilter.nf_conntrack_acct=1)");
        return 0;
    }
    if (!t) {
        ct->no_template++;
        for (int d = 0; d < 2; d++) {
            ct->losses.ignored_packets += f[d].packets;
            ct->losses.ignored_octets += f[d].octets;
        }
        int v6 = f[0].ip_version == 6;
        char msg[160];
        snprintf(msg, sizeof msg,
                 "no template takes IPv%d flows: they are counted (no_template) and not sent",
                 v6 ? 6 : 4);
        warn_once(&ct->warned_template[v6], r->name, msg);
        return 0;
    }
    const struct nurs_exporter_settings *set = &e->cur;
    for (int i = 0; i < set->n_vrf; i++)
        if (set->vrf[i].zone == f[0].zone)
            f[0].vrf = f[1].vrf = set->vrf[i].vrf;
    if (t->process && !m->attr)
        warn_once(&ct->warned_process, r->name,
                  "templates have process elements, but the records carry no process "
                  "attribution: they are sent empty (turn it on: nurs.conntrack{ process = true })");
    int n = 0;
    const struct nurs_fvalue *v0 = vals ? vals[0] : NULL, *v1 = vals ? vals[1] : NULL;
    if (t->biflow) {
        n = send_record(e, t, &f[0], &f[1], v0);
    } else {
        if (f[0].packets)
            n += send_record(e, t, &f[0], NULL, v0);
        if (f[1].packets)
            n += send_record(e, t, &f[1], NULL, v1);
    }
    r->counters.delivered++;
    return n;
}

void nurs_exporter_flush(struct nurs_exporter *e)
{
    for (int i = 0; i < e->n_collectors; i++)
        nurs_collector_flush(e->collectors[i]);
}

/* ---- templates and their ids ---- */

static uint16_t id_for(struct nurs_exporter *e, const struct nurs_template *t)
{
    for (int i = 0; i < e->n_registered; i++)
        if (nurs_template_same(&e->registry[i].def, t))
            return e->registry[i].id;
    uint16_t id = e->next_id++;
    if (e->next_id == 0)
        e->next_id = NURS_FIRST_TEMPLATE_ID;
    if (e->n_registered < REGISTRY_MAX) {
        e->registry[e->n_registered].def = *t;
        e->registry[e->n_registered].id = id;
        e->n_registered++;
    }
    return id;
}

static void give_ids(struct nurs_exporter *e, struct nurs_template *t, int n)
{
    for (int i = 0; i < n; i++)
        t[i].id = id_for(e, &t[i]);
}

static void use_templates(struct nurs_exporter *e, const struct nurs_exporter_settings *set)
{
    e->conf.templates = set->templates;
    e->conf.n_templates = set->n_templates;
}

/* A new template set (cur) replaced old: collectors withdraw what is gone
 * and send the set before their next record. */
static void install_templates(struct nurs_exporter *e, const struct nurs_exporter_settings *old)
{
    const struct nurs_template *t = e->cur.templates;
    int n = e->cur.n_templates;
    uint16_t gone[NURS_EXPORTER_MAX_TEMPLATES];
    int n_gone = 0;
    bool changed = n != old->n_templates;
    for (int i = 0; i < old->n_templates; i++) {
        bool kept = false;
        for (int j = 0; j < n; j++)
            kept |= t[j].id == old->templates[i].id;
        if (!kept)
            gone[n_gone++] = old->templates[i].id;
        changed |= !kept || i >= n || t[i].id != old->templates[i].id;
    }
    /* Records of the old set go out under the old set. */
    if (changed) {
        use_templates(e, old);
        nurs_exporter_flush(e);
    }
    use_templates(e, &e->cur);
    if (changed)
        for (int i = 0; i < e->n_collectors; i++)
            nurs_collector_templates_changed(e->collectors[i], gone, n_gone);
}

/* An options template: its scope (NetFlow v9: "System", our source id),
 * then the counters. */
static void build_options(struct nurs_exporter *e, struct nurs_template *t, const char *what,
                          const char *scope, const char *const *fields, size_t n, uint16_t id)
{
    char err[256];
    nurs_template_init(t, what);
    if (e->conf.version == NURS_NETFLOW9)
        nurs_template_add_custom(t, "System", 1, 0, IE_T_U32, 4, err, sizeof err);
    else
        nurs_template_add(t, scope, 0, err, sizeof err);
    for (size_t i = 0; i < n; i++)
        nurs_template_add(t, fields[i], 0, err, sizeof err);
    t->scope_n = 1;
    t->id = id;
}

/* RFC 7011 4.1 (what was sent) and 4.3 (what was not: flows a full queue
 * or a failed send dropped, connections that ended inside a kernel
 * overrun; packets of flows no template took; the overruns). */
static void build_stats_templates(struct nurs_exporter *e)
{
    static const char *const stats[] = {"exportedMessageTotalCount",
                                        "exportedFlowRecordTotalCount",
                                        "exportedOctetTotalCount"};
    static const char *const reliability[] = {
        "notSentFlowTotalCount",   "notSentPacketTotalCount", "notSentOctetTotalCount",
        "ignoredPacketTotalCount", "ignoredOctetTotalCount",  "kernelOverrunTotalCount"};
    build_options(e, &e->conf.stats, "exporter statistics", "observationDomainId", stats,
                  sizeof stats / sizeof *stats, NURS_STATS_TEMPLATE_ID);
    build_options(e, &e->conf.reliability, "exporter reliability", "exportingProcessId",
                  reliability, sizeof reliability / sizeof *reliability,
                  NURS_RELIABILITY_TEMPLATE_ID);
}

/* ---- settings ---- */

static void on_flush_timer(uv_timer_t *t) { nurs_exporter_flush(t->data); }

static void on_loop_turn(uv_check_t *check)
{
    struct nurs_exporter *e = check->data;
    for (int i = 0; i < e->n_collectors; i++)
        nurs_collector_send_batch(e->collectors[i]);
}

static void apply_settings(struct nurs_exporter *e)
{
    e->conf.refresh_packets = e->cur.refresh_packets;
    e->conf.refresh_ms = (uint64_t)llround(e->cur.refresh_s * 1000.0);
    e->conf.queue_max = e->cur.queue_max;
    e->conf.file = e->cur.file;
    uint64_t ms = (uint64_t)llround(e->cur.flush_s * 1000.0);
    if (ms == 0)
        ms = 1;
    if (!e->res.host->check_only)
        uv_timer_start(&e->flush_timer, on_flush_timer, ms, ms);
}

/* A reloaded script kept the exporter: its templates and settings apply
 * (the old ones are in next now). */
static void adopted(struct nurs_resource *r)
{
    struct nurs_exporter *e = (struct nurs_exporter *)r;
    install_templates(e, &e->next);
    apply_settings(e);
    for (int i = 0; i < e->n_collectors; i++)
        nurs_collector_refresh(e->collectors[i]);
}

/* ---- counters, lifecycle ---- */

static int extra_counters(const struct nurs_resource *r, struct nurs_extra_counter *out)
{
    const struct nurs_exporter *e = (const struct nurs_exporter *)r;
    struct nurs_collector_stats sum = {0};
    for (int i = 0; i < e->n_collectors; i++) {
        const struct nurs_collector_stats *s = nurs_collector_stats(e->collectors[i]);
        sum.messages += s->messages;
        sum.bytes += s->bytes;
        sum.lost_records += s->lost_records;
        sum.send_errors += s->send_errors;
        sum.connects += s->connects;
    }
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"records", e->ct.records};
    out[n++] = (struct nurs_extra_counter){"messages", sum.messages};
    out[n++] = (struct nurs_extra_counter){"bytes", sum.bytes};
    out[n++] = (struct nurs_extra_counter){"lost", sum.lost_records};
    out[n++] = (struct nurs_extra_counter){"send_errors", sum.send_errors};
    out[n++] = (struct nurs_extra_counter){"connects", sum.connects};
    out[n++] = (struct nurs_extra_counter){"no_template", e->ct.no_template};
    out[n++] = (struct nurs_extra_counter){"no_counters", e->ct.no_counters};
    out[n++] = (struct nurs_extra_counter){"connections", e->ct.state.t.count};
    out[n++] = (struct nurs_extra_counter){"state_full", e->ct.state.t.full};
    out[n++] = (struct nurs_extra_counter){"kernel_overruns", e->ct.losses.kernel_overruns};
    out[n++] = (struct nurs_extra_counter){"kernel_lost_flows", e->ct.losses.kernel_flows};
    return n;
}

static void flush_op(struct nurs_resource *r) { nurs_exporter_flush((struct nurs_exporter *)r); }

static void reopen_op(struct nurs_resource *r)
{
    struct nurs_exporter *e = (struct nurs_exporter *)r;
    for (int i = 0; i < e->n_collectors; i++)
        nurs_collector_reopen(e->collectors[i]);
}

static void free_exporter(struct nurs_exporter *e)
{
    nurs_flow_state_free(&e->ct.state);
    free(e->registry);
    free(e);
}

static void free_exporter_cb(void *e) { free_exporter(e); }

static void destroy(struct nurs_resource *r)
{
    struct nurs_exporter *e = (struct nurs_exporter *)r;
    nurs_closer_begin(&e->closer, free_exporter_cb, e);
    nurs_closer_close(&e->closer, &e->flush_timer);
    nurs_closer_close(&e->closer, &e->batch_check);
    for (int i = 0; i < e->n_collectors; i++) {
        nurs_closer_hold(&e->closer);
        nurs_collector_close(e->collectors[i], nurs_closer_release_cb, &e->closer);
    }
    e->n_collectors = 0;
    nurs_closer_end(&e->closer);
}

/* The exporter as a conntrack source's consumer: exporter:export(rec). */
static enum nurs_take take(struct nurs_consumer *c, struct nurs_resource *from,
                           struct nurs_record *rec)
{
    (void)from;
    if (rec->kind != NURS_RECORD_CT)
        return NURS_TAKE_LOST;
    struct nurs_exporter *e = nurs_exporter_of(nurs_resource_of_consumer(c));
    struct nurs_ct_msg *m = rec->data;
    nurs_exporter_export_ct(e, m, nurs_exporter_ct_template(e, NULL, m->family == AF_INET6 ? 6 : 4),
                            NULL);
    return NURS_TAKEN;
}

/* A source lost records: the collectors' reliability statistics say so. */
static void lost(struct nurs_consumer *c, struct nurs_resource *from, const struct nurs_loss *loss)
{
    (void)from;
    struct nurs_exporter *e = nurs_exporter_of(nurs_resource_of_consumer(c));
    e->ct.losses.kernel_overruns += loss->overruns;
    e->ct.losses.kernel_flows += loss->flows;
}

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    const struct nurs_exporter *e = (const struct nurs_exporter *)r;
    out[0] = (struct nurs_resource_label){.name = "collector"};
    for (int i = 0; i < e->n_collectors; i++)
        nurs_label_append(&out[0], nurs_collector_spec(e->collectors[i]));
    return 1;
}

static const struct nurs_consumer_ops consumer_ops = {
    .kinds = NURS_RECORD_CT,
    .take = take,
    .lost = lost,
};

static const struct nurs_resource_ops exporter_ops = {
    .kind = "exporter",
    .destroy = destroy,
    .flush = flush_op,
    .reopen = reopen_op,
    .extra_counters = extra_counters,
    NURS_SETTINGS_IN(struct nurs_exporter),
    .adopted = adopted,
    .consumer = &consumer_ops,
    .gauges = (const char *const[]){"connections", NULL},
    .labels = labels,
};

static void make_key(const struct nurs_exporter_opts *o, char *key, size_t len)
{
    int n = snprintf(key, len, "v=%d;domain=%" PRIu32 ";to=", o->version, o->domain);
    for (int i = 0; i < o->n_collectors && n > 0 && (size_t)n < len; i++)
        n += snprintf(key + n, len - (size_t)n, "%s%s", i ? "," : "", o->collectors[i]);
}

static uint64_t boot_time_ms(void)
{
    struct timespec rt, boot;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    uint64_t now = (uint64_t)rt.tv_sec * 1000u + (uint64_t)rt.tv_nsec / 1000000u;
    uint64_t up = (uint64_t)boot.tv_sec * 1000u + (uint64_t)boot.tv_nsec / 1000000u;
    return now > up ? now - up : 0;
}

struct nurs_exporter *nurs_exporter_get(struct nurs_script *s, const struct nurs_exporter_opts *o,
                                        char *err, size_t errlen)
{
    char key[4200];
    make_key(o, key, sizeof key);
    struct nurs_resource *r = nurs_resource_claim(s, &exporter_ops, key, &o->set);
    if (r) {
        struct nurs_exporter *e = (struct nurs_exporter *)r;
        give_ids(e, e->next.templates, e->next.n_templates);
        return e;
    }

    struct nurs_exporter *e = calloc(1, sizeof *e);
    if (!e || !(e->registry = calloc(REGISTRY_MAX, sizeof *e->registry))) {
        free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->conf.version = o->version;
    e->conf.domain = o->domain;
    e->conf.mtu = o->mtu;
    e->conf.message_size = o->message_size;
    e->conf.counters = &e->res.counters;
    /* sysUptime counts from the boot of the system, as a router's does. */
    e->conf.uptime_base_ms = boot_time_ms();
    e->next_id = NURS_FIRST_TEMPLATE_ID;
    build_stats_templates(e);
    e->conf.losses = &e->ct.losses;
    nurs_flow_state_init(&e->ct.state, o->state_max, 6 * 86400ull * 1000000000ull);
    e->ct.map = (struct nurs_ct_flow_ctx){.state = &e->ct.state, .clock_ns = realtime_ns};
    e->cur = o->set;
    give_ids(e, e->cur.templates, e->cur.n_templates);
    use_templates(e, &e->cur);
    e->conf.refresh_packets = e->cur.refresh_packets;
    e->conf.refresh_ms = (uint64_t)llround(e->cur.refresh_s * 1000.0);
    e->conf.queue_max = e->cur.queue_max;
    e->conf.file = e->cur.file;

    uv_timer_init(s->host->loop, &e->flush_timer);
    e->flush_timer.data = e;
    uv_unref((uv_handle_t *)&e->flush_timer);
    uv_check_init(s->host->loop, &e->batch_check);
    e->batch_check.data = e;
    uv_unref((uv_handle_t *)&e->batch_check);
    if (!s->host->check_only)
        uv_check_start(&e->batch_check, on_loop_turn);
    bool check = s->host->check_only;
    for (int i = 0; i < o->n_collectors; i++) {
        struct nurs_collector *c =
            nurs_collector_new(s->host->loop, o->collectors[i], &e->conf, check, err, errlen);
        if (!c) {
            destroy(&e->res); /* the resource is not linked yet: only closes */
            return NULL;
        }
        e->collectors[e->n_collectors++] = c;
    }
    const char *kind = o->version == NURS_NETFLOW9 ? "netflow9" : "ipfix";
    if (nurs_resource_init(&e->res, &exporter_ops, s, o->name ? o->name : kind, key, &e->cur) <
        0) {
        snprintf(err, errlen, "out of memory");
        destroy(&e->res);
        return NULL;
    }
    apply_settings(e);
    if (!check)
        for (int i = 0; i < e->n_collectors; i++)
            nurs_info("%s: exporting %s to %s", e->res.name,
                      o->version == NURS_NETFLOW9 ? "NetFlow v9" : "IPFIX",
                      nurs_collector_spec(e->collectors[i]));
    return e;
}
