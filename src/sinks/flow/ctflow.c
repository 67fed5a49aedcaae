/* Conntrack entries to flow records: which events make records, their
 * times and end reasons. NEW events only note a start time (until a
 * DESTROY shows that the kernel stamps entries itself); a table dump is an active timeout: what
 * the connection did since it was last exported (the counter-zeroing dump
 * makes these deltas); DESTROY ends the flow with the last counters. */
#include <stdio.h>
#include <time.h>

#include "sinks/flow/exporter_priv.h"
#include "sinks/flow/flow.h"
#include "core/log.h"

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void warn_once(bool *flag, const char *name, const char *msg)
{
    if (!*flag)
        nurs_warn("%s: %s", name, msg);
    *flag = true;
}

/* When the exported part of the connection started: where the last export
 * left off, else the conntrack start timestamp, else when we saw it
 * created, else now. */
static uint64_t start_of(const struct nurs_conn_state *cs, bool has_ts, uint64_t ts,
                         uint64_t now, bool *known)
{
    *known = true;
    if (cs && cs->last_export_ns)
        return cs->last_export_ns;
    if (has_ts)
        return ts;
    if (cs && cs->start_ns)
        return cs->start_ns;
    *known = false;
    return now;
}

int nurs_exporter_export_ct(struct nurs_exporter *e, struct nurs_ct_msg *m,
                            const struct nurs_template *t, const struct nurs_fvalue *vals[2])
{
    struct nurs_exporter_ct *ct = nurs_exporter_ct_state(e);
    struct nurs_resource *r = nurs_exporter_resource(e);
    r->counters.in++;
    uint32_t id = 0;
    bool has_id = nurs_ct_u32(m, CTA_ID, &id);
    uint64_t ts_start = 0, ts_stop = 0;
    bool has_start = nurs_ct_timestamp(m, false, &ts_start) && ts_start;
    bool has_stop = nurs_ct_timestamp(m, true, &ts_stop) && ts_stop;

    if (m->event == NURS_CT_EVENT_NEW || m->event == NURS_CT_EVENT_UPDATE) {
        if (m->event == NURS_CT_EVENT_NEW && !ct->kernel_timestamps && has_id) {
            uint64_t now = realtime_ns();
            struct nurs_conn_state *cs = nurs_flow_state_put(&ct->state, id, now);
            if (cs && !cs->start_ns)
                cs->start_ns = now;
        }
        r->counters.delivered++;
        return 0;
    }

    ct->kernel_timestamps |= has_start;
    struct nurs_conn_state *cs = has_id ? nurs_flow_state_get(&ct->state, id) : NULL;
    /* The clock only when the kernel's timestamps do not tell. */
    bool dump = m->event == NURS_CT_EVENT_DUMP;
    bool start_known = has_start || (cs && (cs->last_export_ns || cs->start_ns));
    uint64_t now = dump || !has_stop || !start_known ? realtime_ns() : 0;
    bool known;
    uint64_t start = start_of(cs, has_start, ts_start, now, &known);
    uint64_t end;
    uint8_t reason;
    if (dump && !m->final) {
        end = now;
        reason = NURS_END_ACTIVE;
        if (has_id && (cs = nurs_flow_state_put(&ct->state, id, now)))
            cs->last_export_ns = now;
    } else {
        end = m->event == NURS_CT_EVENT_DESTROY && has_stop ? ts_stop : now;
        reason = m->final ? NURS_END_FORCED : nurs_ct_end_reason(m);
        if (has_id)
            nurs_flow_state_del(&ct->state, id);
    }
    if (!known)
        warn_once(&ct->warned_times, r->name,
                  "flow start times are unknown: turn conntrack timestamps on (sysctl -w "
                  "net.netfilter.nf_conntrack_timestamp=1) or listen to \"new\" events; until "
                  "then flows start when they end");
    if (end < start)
        end = start;

    struct nurs_flow f[2];
    if (!nurs_flows_from_ct(m, f)) {
        r->counters.malformed++;
        return 0;
    }
    if (!f[0].counted && !f[1].counted) {
        ct->no_counters++;
        warn_once(&ct->warned_counters, r->name,
                  "conntrack entries carry no counters, so they make no flows: turn "
                  "accounting on (sysctl -w net.netfilter.nf_conntrack_acct=1)");
        return 0;
    }
    if (!f[0].packets && !f[1].packets) {
        r->counters.delivered++;
        return 0;
    }
    if (!t) {
        ct->no_template++;
        int v6 = f[0].ip_version == 6;
        char msg[160];
        snprintf(msg, sizeof msg,
                 "no template takes IPv%d flows: they are counted (no_template) and not sent",
                 v6 ? 6 : 4);
        warn_once(&ct->warned_template[v6], r->name, msg);
        return 0;
    }
    if (t->process && !m->attr)
        warn_once(&ct->warned_process, r->name,
                  "templates have process elements, but the records carry no process "
                  "attribution: they are sent empty (turn it on: nurs.conntrack{ process = true })");
    for (int d = 0; d < 2; d++) {
        f[d].start_ns = start;
        f[d].end_ns = end;
        f[d].end_reason = reason;
    }
    int n = 0;
    const struct nurs_fvalue *v0 = vals ? vals[0] : NULL, *v1 = vals ? vals[1] : NULL;
    if (t->biflow) {
        n = nurs_exporter_send(e, t, &f[0], &f[1], v0);
    } else {
        if (f[0].packets)
            n += nurs_exporter_send(e, t, &f[0], NULL, v0);
        if (f[1].packets)
            n += nurs_exporter_send(e, t, &f[1], NULL, v1);
    }
    r->counters.delivered++;
    return n;
}
