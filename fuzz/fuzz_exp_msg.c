/* libFuzzer target: arbitrary bytes as a netlink datagram from the
 * kernel, walked the way the expectation source and the table client do:
 * each expectation message parsed in place, every field read through the
 * record class (as JSON and Lua read it), matched against a filter and
 * turned into the request that deletes it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "core/jsonw.h"
#include "netlink/ct_request.h"
#include "netlink/exp_msg.h"
#include "netlink/socket.h"
#include "records/exp_record.h"
#include "sinks/json/sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct nurs_jsonw w;
    nurs_jsonw_init(&w);
    struct nurs_exp_spec filter = {.has = NURS_EXS_HELPER | NURS_EXS_ZONE, .helper = "ftp"};
    filter.tuple.has = NURS_CTS_PROTO;
    filter.tuple.proto = 6;
    filter.tuple.orig.has = NURS_CTS_DPORT | NURS_CTS_DST;
    filter.tuple.orig.dst_plen = 8;
    filter.tuple.orig.dst[0] = 127;
    size_t left = size;
    for (const struct nlmsghdr *nlh = buf; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_exp_msg m;
        const char *why;
        for (int dump = 0; dump < 2; dump++) {
            if (nurs_exp_msg_parse(&m, nlh, dump, &why) < 0)
                continue;
            nurs_jsonw_object_begin(&w, NULL);
            nurs_record_emit(&nurs_exp_class, &m, &nurs_jsonw_emitter, &w);
            nurs_jsonw_object_end(&w);
            nurs_jsonw_clear(&w);
            (void)nurs_exp_spec_match(&filter, &m);
            struct nurs_exp_spec s;
            if (nurs_exp_spec_from_msg(&s, &m)) {
                _Alignas(4) unsigned char req[NURS_CT_REQ_MAX];
                char err[160];
                nurs_exp_req_entry(req, NURS_CT_REQ_DELETE, &s, 1, err, sizeof err);
            }
        }
    }
    nurs_jsonw_free(&w);
    free(buf);
    return 0;
}
