/* libFuzzer target: arbitrary bytes as a netlink datagram from NFLOG,
 * walked and decoded the way the NFLOG source does, every field of each
 * record (metadata, conntrack nest, packet views) read through the walker
 * JSON and Lua use, and each packet encoded as a pcap record of both link
 * types. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "core/jsonw.h"
#include "core/pcap_fmt.h"
#include "netlink/nflog_msg.h"
#include "netlink/socket.h"
#include "records/nflog_fields.h"
#include "sinks/json/sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[NURS_PCAP_REC_HDR + NURS_PCAP_MAX_RECORD];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    static struct nurs_nflog_msg m; /* large: the conntrack nest's tables */
    size_t left = size;
    for (const struct nlmsghdr *nlh = buf; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        const char *why;
        if (!nurs_nflog_msg_is_packet(nlh) || nurs_nflog_msg_parse(&m, nlh, &why) < 0)
            continue;
        size_t len;
        const uint8_t *pkt = nurs_nflog_payload(&m, &len);
        const struct nurs_packet_meta *meta = nurs_nflog_class.packet;
        nurs_jsonw_object_begin(&w, NULL);
        nurs_record_emit(&nurs_nflog_class, &m, &nurs_jsonw_emitter, &w);
        for (int f = 0; f < meta->count; f++)
            meta->emit(&m, f, &nurs_jsonw_emitter, &w);
        nurs_jsonw_object_end(&w);
        nurs_jsonw_clear(&w);

        struct nurs_pcap_in in = {.ts_ns = meta->timestamp_ns(&m), .pkt = pkt, .len = len,
                                  .origlen = len};
        const void *attrs;
        meta->nflog_attrs(&m, &in.family, &in.group, &attrs, &in.attrs_len);
        in.attrs = attrs;
        for (uint32_t lt = 0; lt < 2; lt++) {
            struct nurs_pcap_format fmt = {lt ? NURS_LINKTYPE_NFLOG : NURS_LINKTYPE_RAW,
                                           (uint32_t)(size % 70000) + 1, lt};
            nurs_pcap_encode(&fmt, &in, out, sizeof out);
        }
    }
    nurs_jsonw_free(&w);
    free(buf);
    return 0;
}
