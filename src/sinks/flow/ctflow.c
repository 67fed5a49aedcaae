/* Conntrack records to flows, as a function of the record and of what is
 * remembered of its connection: which events make flows, their times and
 * end reasons. NEW events only note a start time (until a DESTROY shows
 * that the kernel stamps entries itself); a table dump is an active
 * timeout: what the connection did since it was last exported (the
 * counter-zeroing dump makes these deltas); DESTROY ends the flow with
 * the last counters. No I/O and no exporter: the exporter counts and
 * sends what this decides. */
#include "sinks/flow/ctflow.h"

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

/* A NEW or UPDATE event: the connection's start is noted when only we can
 * tell it. */
static void note_start(struct nurs_ct_flow_ctx *ctx, struct nurs_ct_msg *m, bool has_id,
                       uint32_t id)
{
    if (m->event != NURS_CT_EVENT_NEW || ctx->kernel_timestamps || !has_id)
        return;
    uint64_t now = ctx->clock_ns();
    struct nurs_conn_state *cs = nurs_flow_state_put(ctx->state, id, now);
    if (cs && !cs->start_ns)
        cs->start_ns = now;
}

enum nurs_ct_flow_outcome nurs_ct_flow_map(struct nurs_ct_flow_ctx *ctx, struct nurs_ct_msg *m,
                                           struct nurs_flow f[2], bool *start_known)
{
    uint32_t id = 0;
    bool has_id = nurs_ct_u32(m, CTA_ID, &id);
    *start_known = true;
    if (m->event == NURS_CT_EVENT_NEW || m->event == NURS_CT_EVENT_UPDATE) {
        note_start(ctx, m, has_id, id);
        return NURS_CT_FLOWS_NOTED;
    }
    uint64_t ts_start = 0, ts_stop = 0;
    bool has_start = nurs_ct_timestamp(m, false, &ts_start) && ts_start;
    bool has_stop = nurs_ct_timestamp(m, true, &ts_stop) && ts_stop;
    ctx->kernel_timestamps |= has_start;
    struct nurs_conn_state *cs = has_id ? nurs_flow_state_get(ctx->state, id) : NULL;
    /* The clock only when the kernel's timestamps do not tell. */
    bool dump = m->event == NURS_CT_EVENT_DUMP;
    bool start_noted = has_start || (cs && (cs->last_export_ns || cs->start_ns));
    uint64_t now = dump || !has_stop || !start_noted ? ctx->clock_ns() : 0;
    uint64_t start = start_of(cs, has_start, ts_start, now, start_known);
    uint64_t end;
    uint8_t reason;
    if (dump && !m->final) {
        end = now;
        reason = NURS_END_ACTIVE;
        if (has_id && (cs = nurs_flow_state_put(ctx->state, id, now)))
            cs->last_export_ns = now;
    } else {
        end = m->event == NURS_CT_EVENT_DESTROY && has_stop ? ts_stop : now;
        reason = m->final ? NURS_END_FORCED : nurs_ct_end_reason(m);
        if (has_id)
            nurs_flow_state_del(ctx->state, id);
    }
    if (end < start)
        end = start;
    if (!nurs_flows_from_ct(m, f))
        return NURS_CT_FLOWS_MALFORMED;
    if (!f[0].counted && !f[1].counted)
        return NURS_CT_FLOWS_NO_COUNTERS;
    if (!f[0].packets && !f[1].packets)
        return NURS_CT_FLOWS_EMPTY;
    for (int d = 0; d < 2; d++) {
        f[d].start_ns = start;
        f[d].end_ns = end;
        f[d].end_reason = reason;
    }
    return NURS_CT_FLOWS;
}
