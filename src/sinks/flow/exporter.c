#include "sinks/flow/exporter.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "sinks/flow/exporter_priv.h"
#include "core/host.h"

/* Template definitions ever sent by this exporter, so that a definition
 * keeps its id across reloads and a changed one gets a new id. */
#define REGISTRY_MAX 64

struct registered {
    struct nurs_template def;
    uint16_t id;
};

struct pending {
    bool set;
    struct nurs_template templates[NURS_EXPORTER_MAX_TEMPLATES];
    int n_templates;
    double flush_s;
    unsigned refresh_packets;
    double refresh_s;
    size_t queue_max;
};

struct nurs_exporter {
    struct nurs_resource res; /* first: the resource is the exporter */
    struct nurs_export_conf conf;
    struct nurs_template templates[NURS_EXPORTER_MAX_TEMPLATES];
    int n_templates;
    struct pending pending;
    struct registered *registry;
    int n_registered;
    uint16_t next_id;
    struct nurs_collector *collectors[NURS_EXPORTER_MAX_COLLECTORS];
    int n_collectors;
    uv_timer_t flush_timer;
    uv_check_t batch_check; /* sends batched datagrams once per loop turn */
    int pending_closes;
    struct nurs_exporter_ct ct;
};

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
struct nurs_exporter_ct *nurs_exporter_ct_state(struct nurs_exporter *e) { return &e->ct; }

static bool loading(const struct nurs_exporter *e, const struct nurs_script *caller)
{
    return e->pending.set && caller && e->res.claimant == caller;
}

const struct nurs_template *nurs_exporter_templates(const struct nurs_exporter *e,
                                                    const struct nurs_script *caller, int *n)
{
    if (loading(e, caller)) {
        *n = e->pending.n_templates;
        return e->pending.templates;
    }
    *n = e->n_templates;
    return e->templates;
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

int nurs_exporter_send(struct nurs_exporter *e, const struct nurs_template *t,
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
    int n = nurs_exporter_send(e, t, NULL, NULL, vals);
    e->res.counters.delivered++;
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
        e->next_id = NURS_STATS_TEMPLATE_ID + 1;
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

/* Installs a new template set; collectors withdraw what is gone and send
 * the set before their next record. */
static void install_templates(struct nurs_exporter *e, const struct nurs_template *t, int n)
{
    uint16_t gone[NURS_EXPORTER_MAX_TEMPLATES];
    int n_gone = 0;
    bool changed = n != e->n_templates;
    for (int i = 0; i < e->n_templates; i++) {
        bool kept = false;
        for (int j = 0; j < n; j++)
            kept |= t[j].id == e->templates[i].id;
        if (!kept)
            gone[n_gone++] = e->templates[i].id;
        changed |= !kept || i >= n || t[i].id != e->templates[i].id;
    }
    /* Records of the old set go out under the old set. */
    if (changed)
        nurs_exporter_flush(e);
    memcpy(e->templates, t, sizeof *t * (size_t)n);
    e->n_templates = n;
    e->conf.templates = e->templates;
    e->conf.n_templates = n;
    if (changed)
        for (int i = 0; i < e->n_collectors; i++)
            nurs_collector_templates_changed(e->collectors[i], gone, n_gone);
}

static void build_stats_template(struct nurs_exporter *e)
{
    struct nurs_template *t = &e->conf.stats;
    char err[256];
    nurs_template_init(t, "exporter statistics");
    if (e->conf.version == NURS_NETFLOW9)
        nurs_template_add_custom(t, "System", 1, 0, IE_T_U32, 4, err, sizeof err);
    else
        nurs_template_add(t, "observationDomainId", 0, err, sizeof err);
    static const char *const fields[] = {"exportedMessageTotalCount",
                                         "exportedFlowRecordTotalCount",
                                         "exportedOctetTotalCount", "notSentFlowTotalCount",
                                         "notSentPacketTotalCount"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        nurs_template_add(t, fields[i], 0, err, sizeof err);
    t->scope_n = 1;
    t->id = NURS_STATS_TEMPLATE_ID;
}

/* ---- settings ---- */

static void on_flush_timer(uv_timer_t *t) { nurs_exporter_flush(t->data); }

static void on_loop_turn(uv_check_t *check)
{
    struct nurs_exporter *e = check->data;
    for (int i = 0; i < e->n_collectors; i++)
        nurs_collector_send_batch(e->collectors[i]);
}

static void apply_settings(struct nurs_exporter *e, double flush_s, unsigned refresh_packets,
                           double refresh_s, size_t queue_max)
{
    e->conf.refresh_packets = refresh_packets;
    e->conf.refresh_ms = (uint64_t)llround(refresh_s * 1000.0);
    e->conf.queue_max = queue_max;
    uint64_t ms = (uint64_t)llround(flush_s * 1000.0);
    if (ms == 0)
        ms = 1;
    if (!e->res.host->check_only)
        uv_timer_start(&e->flush_timer, on_flush_timer, ms, ms);
}

static void claim_end(struct nurs_resource *r, bool adopted)
{
    struct nurs_exporter *e = (struct nurs_exporter *)r;
    struct pending *p = &e->pending;
    if (adopted && p->set) {
        install_templates(e, p->templates, p->n_templates);
        apply_settings(e, p->flush_s, p->refresh_packets, p->refresh_s, p->queue_max);
    }
    p->set = false;
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

static void release(void *arg)
{
    struct nurs_exporter *e = arg;
    if (--e->pending_closes == 0)
        free_exporter(e);
}

static void on_timer_closed(uv_handle_t *h) { release(h->data); }

static void destroy(struct nurs_resource *r)
{
    struct nurs_exporter *e = (struct nurs_exporter *)r;
    /* One per handle, one per collector, one for us while we start the
     * closes (some finish at once). */
    e->pending_closes = e->n_collectors + 3;
    uv_close((uv_handle_t *)&e->flush_timer, on_timer_closed);
    uv_close((uv_handle_t *)&e->batch_check, on_timer_closed);
    for (int i = 0; i < e->n_collectors; i++)
        nurs_collector_close(e->collectors[i], release, e);
    e->n_collectors = 0;
    release(e);
}

/* The exporter as a conntrack source's callback: exporter:export(rec). */
static void take_ct(struct nurs_resource *r, struct nurs_ct_msg *m)
{
    struct nurs_exporter *e = nurs_exporter_of(r);
    nurs_exporter_export_ct(e, m, nurs_exporter_ct_template(e, NULL, m->family == AF_INET6 ? 6 : 4),
                            NULL);
}

static int labels(const struct nurs_resource *r, struct nurs_resource_label *out)
{
    const struct nurs_exporter *e = (const struct nurs_exporter *)r;
    out[0] = (struct nurs_resource_label){.name = "collector"};
    for (int i = 0; i < e->n_collectors; i++)
        nurs_label_append(&out[0], nurs_collector_spec(e->collectors[i]));
    return 1;
}

static const struct nurs_resource_ops exporter_ops = {
    .kind = "exporter",
    .destroy = destroy,
    .flush = flush_op,
    .reopen = reopen_op,
    .extra_counters = extra_counters,
    .gauges = (const char *const[]){"connections", NULL},
    .labels = labels,
    .claim_end = claim_end,
    .take_ct = take_ct,
};

static void make_key(const struct nurs_exporter_opts *o, char *key, size_t len)
{
    int n = snprintf(key, len, "v=%d;domain=%" PRIu32 ";to=", o->version, o->domain);
    for (int i = 0; i < o->n_collectors && n > 0 && (size_t)n < len; i++)
        n += snprintf(key + n, len - (size_t)n, "%s%s", i ? "," : "", o->collectors[i]);
}

static struct nurs_exporter *adopt(struct nurs_exporter *e, const struct nurs_exporter_opts *o)
{
    struct pending *p = &e->pending;
    p->set = true;
    memcpy(p->templates, o->templates, sizeof *o->templates * (size_t)o->n_templates);
    p->n_templates = o->n_templates;
    give_ids(e, p->templates, p->n_templates);
    p->flush_s = o->flush_s;
    p->refresh_packets = o->refresh_packets;
    p->refresh_s = o->refresh_s;
    p->queue_max = o->queue_max;
    return e;
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
    struct nurs_resource *r = nurs_resource_claim(s, exporter_ops.kind, key);
    if (r)
        return adopt((struct nurs_exporter *)r, o);

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
    e->next_id = NURS_STATS_TEMPLATE_ID + 1;
    build_stats_template(e);
    nurs_flow_state_init(&e->ct.state, o->state_max, 6 * 86400ull * 1000000000ull);
    memcpy(e->templates, o->templates, sizeof *o->templates * (size_t)o->n_templates);
    e->n_templates = o->n_templates;
    give_ids(e, e->templates, e->n_templates);
    e->conf.templates = e->templates;
    e->conf.n_templates = e->n_templates;
    e->conf.refresh_packets = o->refresh_packets;
    e->conf.refresh_ms = (uint64_t)llround(o->refresh_s * 1000.0);
    e->conf.queue_max = o->queue_max;

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
    if (nurs_resource_init(&e->res, &exporter_ops, s, o->name ? o->name : kind, key) < 0) {
        snprintf(err, errlen, "out of memory");
        destroy(&e->res);
        return NULL;
    }
    apply_settings(e, o->flush_s, o->refresh_packets, o->refresh_s, o->queue_max);
    if (!check)
        for (int i = 0; i < e->n_collectors; i++)
            nurs_info("%s: exporting %s to %s", e->res.name,
                      o->version == NURS_NETFLOW9 ? "NetFlow v9" : "IPFIX",
                      nurs_collector_spec(e->collectors[i]));
    return e;
}
