#include "records/packet.h"

#include <string.h>

_Static_assert(sizeof(struct nurs_packet_state) <= NURS_RECORD_STATE_MAX,
               "a packet view's state fits the record state bound");

const struct nurs_pkt *nurs_packet_view(const struct nurs_packet_meta *m,
                                        const struct nurs_field_src *src)
{
    struct nurs_packet_state *st = src->state;
    if (!st->parsed) {
        enum nurs_pkt_l3 hint = NURS_PKT_L3_NONE;
        st->data = NULL;
        st->len = 0;
        m->payload(src->data, &st->data, &st->len, &hint);
        if (!st->data)
            st->len = 0;
        nurs_pkt_parse(&st->pkt, st->data, st->len, hint);
        st->parsed = true;
    }
    return &st->pkt;
}

const char *nurs_packet_field_name(const struct nurs_packet_meta *m, int f)
{
    return f < m->count ? m->names[f] : nurs_pkt_field_names[f - m->count];
}

static bool emit_packet_field(const struct nurs_packet_meta *m, const struct nurs_field_src *src,
                              enum nurs_pkt_field f, const struct nurs_emit *e, void *ctx)
{
    if (nurs_pkt_emit_field(nurs_packet_view(m, src), f, e, ctx))
        return true;
    if (f != NURS_PKTF_FAMILY || !m->family)
        return false;
    const char *family = m->family(src->data);
    if (!family)
        return false;
    e->string(ctx, nurs_pkt_field_names[f], family, strlen(family));
    return true;
}

bool nurs_packet_emit_field(const struct nurs_packet_meta *m, const struct nurs_field_src *src,
                            int f, const struct nurs_emit *e, void *ctx)
{
    if (f < m->count)
        return m->emit(src->data, f, e, ctx);
    return emit_packet_field(m, src, (enum nurs_pkt_field)(f - m->count), e, ctx);
}

void nurs_packet_emit_all(const struct nurs_packet_meta *m, const struct nurs_field_src *src,
                          const struct nurs_emit *e, void *ctx)
{
    for (int i = 0; i < m->walked; i++)
        m->emit(src->data, i, e, ctx);
    for (int f = 0; f < NURS_PKTF_WALKED; f++)
        emit_packet_field(m, src, (enum nurs_pkt_field)f, e, ctx);
}
