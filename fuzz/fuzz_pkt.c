/* libFuzzer target: arbitrary bytes as a packet from NFLOG or NFQUEUE,
 * parsed under every network-layer hint, every field read through the
 * walker the JSON sink and Lua use, and the payload touched byte by byte. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "core/jsonw.h"
#include "netlink/packet.h"
#include "records/pkt_fields.h"
#include "sinks/json/sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    static const enum nurs_pkt_l3 hints[] = {NURS_PKT_L3_ANY, NURS_PKT_L3_IPV4, NURS_PKT_L3_IPV6,
                                             NURS_PKT_L3_NONE};
    for (size_t h = 0; h < sizeof hints / sizeof *hints; h++) {
        struct nurs_pkt p;
        nurs_pkt_parse(&p, buf, size, hints[h]);
        nurs_jsonw_object_begin(&w, NULL);
        for (int f = 0; f < NURS_PKTF_COUNT; f++)
            nurs_pkt_emit_field(&p, (enum nurs_pkt_field)f, &nurs_jsonw_emitter, &w);
        nurs_jsonw_object_end(&w);
        nurs_jsonw_clear(&w);
        const uint8_t *bytes;
        size_t len;
        unsigned sum = 0;
        if (nurs_pkt_payload(&p, &bytes, &len))
            for (size_t i = 0; i < len; i++)
                sum += bytes[i];
        if (sum == 0xffffffffu)
            abort(); /* keeps the reads from being optimized away */
    }
    nurs_jsonw_free(&w);
    free(buf);
    return 0;
}
