/* libFuzzer target: arbitrary bytes as a datagram from nfnetlink_queue,
 * walked the way the NFQUEUE source does: each message decoded, every
 * record field (queue metadata and packet views) read through the walker
 * the JSON sink and Lua use, and the id salvaged as for a truncated
 * datagram. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "core/jsonw.h"
#include "netlink/nfq_msg.h"
#include "netlink/socket.h"
#include "sinks/json/sink.h"
#include "sources/nfqueue/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    uint16_t queue;
    uint32_t id;
    nurs_nfq_salvage_id(buf, size, &queue, &id);
    struct nurs_nfq_source src;
    memset(&src, 0, sizeof src);
    src.ifnames.fd = -1; /* no names: the target has no loop */
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    size_t left = size;
    for (const struct nlmsghdr *nlh = buf; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_nfq_msg m;
        bool has_id;
        const char *why;
        if (nurs_nfq_msg_parse(&m, nlh, &has_id, &why) < 0)
            continue;
        struct nurs_nfq_packet p = {.src = &src, .msg = &m};
        nurs_jsonw_object_begin(&w, NULL);
        nurs_record_emit(&nurs_nfq_class, &p, &nurs_jsonw_emitter, &w);
        nurs_jsonw_object_end(&w);
        nurs_jsonw_clear(&w);
    }
    nurs_jsonw_free(&w);
    free(buf);
    return 0;
}
