/* libFuzzer target: arbitrary bytes as a netlink datagram from the
 * kernel, walked and decoded the way the conntrack source does, every
 * field read through the same walker the JSON sink and Lua use. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "core/jsonw.h"
#include "netlink/ct_msg.h"
#include "netlink/socket.h"
#include "records/ct_fields.h"
#include "sinks/json/sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    size_t left = size;
    for (const struct nlmsghdr *nlh = buf; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_ct_msg m;
        const char *why;
        for (int dump = 0; dump < 2; dump++) {
            if (nurs_ct_msg_parse(&m, nlh, dump, &why) < 0)
                continue;
            nurs_jsonw_object_begin(&w, NULL);
            nurs_ct_emit_record(&m, &nurs_jsonw_emitter, &w);
            nurs_ct_emit_field(&m, NURS_CTF_STATUS_BITS, &nurs_jsonw_emitter, &w);
            nurs_jsonw_object_end(&w);
            nurs_jsonw_clear(&w);
        }
    }
    nurs_jsonw_free(&w);
    free(buf);
    return 0;
}
