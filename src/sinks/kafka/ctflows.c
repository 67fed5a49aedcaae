#include "sinks/kafka/ctflows.h"

void nurs_ctflows_init(struct nurs_ctflows *c, size_t max_connections)
{
    nurs_flow_state_init(&c->state, max_connections, 6 * 86400ull * 1000000000ull);
    c->kernel_timestamps = false;
    c->start_unknown = false;
}

void nurs_ctflows_free(struct nurs_ctflows *c) { nurs_flow_state_free(&c->state); }

enum nurs_ctflows_result nurs_ctflows_map(struct nurs_ctflows *c, struct nurs_ct_msg *m,
                                          uint64_t now_ns, struct nurs_flow f[2])
{
    uint32_t id = 0;
    bool has_id = nurs_ct_u32(m, CTA_ID, &id);
    uint64_t ts_start = 0, ts_stop = 0;
    bool has_start = nurs_ct_timestamp(m, false, &ts_start) && ts_start;
    bool has_stop = nurs_ct_timestamp(m, true, &ts_stop) && ts_stop;

    if (m->event == NURS_CT_EVENT_NEW || m->event == NURS_CT_EVENT_UPDATE) {
        if (m->event == NURS_CT_EVENT_NEW && !c->kernel_timestamps && has_id) {
            struct nurs_conn_state *cs = nurs_flow_state_put(&c->state, id, now_ns);
            if (cs && !cs->start_ns)
                cs->start_ns = now_ns;
        }
        return NURS_CTFLOWS_NONE;
    }
    c->kernel_timestamps |= has_start;
    struct nurs_conn_state *cs = has_id ? nurs_flow_state_get(&c->state, id) : NULL;
    /* Where the last export left off, else the kernel's start, else when
     * the NEW event came, else (unknown) the end. */
    uint64_t start = cs && cs->last_export_ns ? cs->last_export_ns
                     : has_start              ? ts_start
                     : cs && cs->start_ns     ? cs->start_ns
                                              : 0;
    bool dump = m->event == NURS_CT_EVENT_DUMP;
    uint64_t end;
    enum nurs_end_reason reason;
    if (dump && !m->final) {
        end = now_ns;
        reason = NURS_END_ACTIVE;
        if (has_id && (cs = nurs_flow_state_put(&c->state, id, now_ns)))
            cs->last_export_ns = now_ns;
    } else {
        end = m->event == NURS_CT_EVENT_DESTROY && has_stop ? ts_stop : now_ns;
        reason = m->final ? NURS_END_FORCED : nurs_ct_end_reason(m);
        if (has_id)
            nurs_flow_state_del(&c->state, id);
    }
    if (!start) {
        c->start_unknown = true;
        start = end;
    }
    if (end < start)
        end = start;
    if (!nurs_flows_from_ct(m, f))
        return NURS_CTFLOWS_MALFORMED;
    if (!f[0].counted && !f[1].counted)
        return NURS_CTFLOWS_NO_COUNTERS;
    if (!f[0].packets && !f[1].packets)
        return NURS_CTFLOWS_NONE;
    for (int d = 0; d < 2; d++) {
        f[d].start_ns = start;
        f[d].end_ns = end;
        f[d].end_reason = reason;
    }
    return NURS_CTFLOWS_FLOWS;
}
