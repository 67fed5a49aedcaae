/* libFuzzer target: arbitrary bytes as a replay file, read the way the
 * replay source reads it (pcap records, cooked header, netlink messages,
 * conntrack decoding of every field). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonw.h"
#include "netlink/ct_msg.h"
#include "netlink/pcap_nl.h"
#include "netlink/socket.h"
#include "records/ct_fields.h"
#include "sinks/json/sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    uint8_t *scratch = malloc(NURS_PCAP_SNAPLEN);
    if (!file || !scratch)
        abort();
    memcpy(file, data, size);
    struct nurs_pcap_reader r;
    struct nurs_pcap_packet p;
    char err[256];
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    if (nurs_pcap_reader_init(&r, file, size, err, sizeof err) == 0) {
        while (nurs_pcap_reader_next(&r, &p, err, sizeof err) == 1) {
            memcpy(scratch, p.data, p.len);
            size_t left = p.len;
            for (const struct nlmsghdr *nlh = (void *)scratch; nurs_nlmsg_ok(nlh, left);
                 nlh = nurs_nlmsg_next(nlh, &left)) {
                struct nurs_ct_msg m;
                const char *why;
                if (nurs_ct_msg_parse(&m, nlh, false, &why) == 0) {
                    nurs_jsonw_object_begin(&w, NULL);
                    nurs_ct_emit_record(&m, &nurs_jsonw_emitter, &w);
                    nurs_jsonw_object_end(&w);
                    nurs_jsonw_clear(&w);
                }
            }
        }
    }
    nurs_jsonw_free(&w);
    free(scratch);
    free(file);
    return 0;
}
