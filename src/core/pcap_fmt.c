#include "core/pcap_fmt.h"

#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#define NFLOG_HDR 4 /* family, version, group (big-endian) */
#define TLV_HDR 4   /* length, type: host byte order, as netlink has them */

void nurs_pcap_file_header(const struct nurs_pcap_format *f, uint8_t out[NURS_PCAP_FILE_HDR])
{
    struct nurs_pcap_file_header h = {
        .magic = f->nanos ? NURS_PCAP_MAGIC_NS : NURS_PCAP_MAGIC_US,
        .major = 2,
        .minor = 4,
        .snaplen = NURS_PCAP_MAX_RECORD,
        .linktype = f->linktype,
    };
    memcpy(out, &h, sizeof h);
}

bool nurs_pcap_file_header_matches(const struct nurs_pcap_format *f, const uint8_t *hdr)
{
    uint8_t want[NURS_PCAP_FILE_HDR];
    nurs_pcap_file_header(f, want);
    return memcmp(want, hdr, sizeof want) == 0;
}

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

static void put_tlv_header(uint8_t *p, size_t len, uint16_t type)
{
    uint16_t l = (uint16_t)len;
    memcpy(p, &l, 2);
    memcpy(p + 2, &type, 2);
}

/* NFLOG attributes minus the payload, then the (snapped) packet as the
 * payload TLV, last as the kernel puts it. Returns the data length or 0
 * when it does not fit. */
static size_t encode_nflog(const struct nurs_pcap_in *in, size_t caplen, uint8_t *out, size_t cap)
{
    size_t n = NFLOG_HDR;
    if (cap < n)
        return 0;
    out[0] = in->attrs ? in->family
                       : (in->len && in->pkt && in->pkt[0] >> 4 == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
    out[1] = 0;
    out[2] = (uint8_t)(in->group >> 8);
    out[3] = (uint8_t)in->group;
    size_t left = in->attrs ? in->attrs_len : 0;
    for (const struct nlattr *a = (const void *)in->attrs;
         left >= sizeof *a && a->nla_len >= sizeof *a && a->nla_len <= left;) {
        size_t step = pad4(a->nla_len);
        if ((a->nla_type & NLA_TYPE_MASK) != NFULA_PAYLOAD) {
            if (cap - n < step)
                return 0;
            memcpy(out + n, a, a->nla_len);
            memset(out + n + a->nla_len, 0, step - a->nla_len);
            n += step;
        }
        if (step >= left)
            break;
        left -= step;
        a = (const void *)((const uint8_t *)a + step);
    }
    /* Padded like every TLV: tcpdump reads a record cut short otherwise. */
    size_t tlv = TLV_HDR + caplen;
    if (tlv > UINT16_MAX || cap - n < pad4(tlv))
        return 0;
    put_tlv_header(out + n, tlv, NFULA_PAYLOAD);
    if (caplen) /* a record without a packet (copy mode "meta") has no pointer */
        memcpy(out + n + TLV_HDR, in->pkt, caplen);
    memset(out + n + tlv, 0, pad4(tlv) - tlv);
    return n + pad4(tlv);
}

size_t nurs_pcap_encode(const struct nurs_pcap_format *f, const struct nurs_pcap_in *in,
                        uint8_t *out, size_t cap)
{
    size_t caplen = in->len < f->snaplen ? in->len : f->snaplen;
    size_t origlen = in->origlen > in->len ? in->origlen : in->len;
    if (cap < NURS_PCAP_REC_HDR)
        return 0;
    uint8_t *data = out + NURS_PCAP_REC_HDR;
    size_t room = cap - NURS_PCAP_REC_HDR;
    size_t datalen, wirelen;
    if (f->linktype == NURS_LINKTYPE_NFLOG) {
        datalen = encode_nflog(in, caplen, data, room);
        if (datalen == 0)
            return 0;
        /* What the record would hold with the whole packet: readers then
         * show that the capture was cut. */
        wirelen = datalen + (origlen - caplen);
    } else {
        if (room < caplen)
            return 0;
        if (caplen)
            memcpy(data, in->pkt, caplen);
        datalen = caplen;
        wirelen = origlen;
    }
    if (datalen > NURS_PCAP_MAX_RECORD)
        return 0;
    struct nurs_pcap_record_header h = {
        (uint32_t)(in->ts_ns / 1000000000u),
        (uint32_t)(f->nanos ? in->ts_ns % 1000000000u : in->ts_ns % 1000000000u / 1000u),
        (uint32_t)datalen, (uint32_t)wirelen};
    memcpy(out, &h, sizeof h);
    return NURS_PCAP_REC_HDR + datalen;
}

uint64_t nurs_pcap_record_ts(const struct nurs_pcap_format *f, const uint8_t *rec)
{
    struct nurs_pcap_record_header h;
    memcpy(&h, rec, sizeof h);
    return (uint64_t)h.sec * 1000000000u + (f->nanos ? h.frac : (uint64_t)h.frac * 1000u);
}

size_t nurs_pcap_record_len(const uint8_t *rec)
{
    struct nurs_pcap_record_header h;
    memcpy(&h, rec, sizeof h);
    return NURS_PCAP_REC_HDR + h.caplen;
}
