/* libFuzzer target: arbitrary bytes as the answers the table client
 * reads: statistics of each kind (per CPU, the whole table, expectations),
 * and conntrack entries matched against a filter and turned into the
 * per-entry requests of a delete or update by filter. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "netlink/ct_msg.h"
#include "netlink/ct_request.h"
#include "netlink/ct_spec.h"
#include "netlink/ct_stats.h"
#include "netlink/socket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct nurs_ct_spec filter = {.has = NURS_CTS_PROTO | NURS_CTS_MARK | NURS_CTS_STATE |
                                         NURS_CTS_LABELS | NURS_CTS_ZONE,
                                  .proto = 6, .mark = 1, .mark_mask = 1, .state = 3};
    filter.labels[0] = 2;
    filter.orig.has = NURS_CTS_SRC | NURS_CTS_DPORT;
    filter.orig.src_plen = 12;
    filter.orig.src[0] = 10;
    filter.orig.dport = 993;
    struct nurs_ct_spec change = {.has = NURS_CTS_MARK | NURS_CTS_LABELS | NURS_CTS_TIMEOUT,
                                  .mark = 5, .mark_mask = 0xff, .timeout = 60};
    change.labels[1] = 1;
    size_t left = size;
    for (const struct nlmsghdr *nlh = buf; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        const char *why;
        struct nurs_ct_stats st;
        for (int kind = NURS_CT_STATS_CPU; kind <= NURS_CT_STATS_EXP_CPU; kind++)
            if (nurs_ct_stats_parse(nlh, (enum nurs_ct_stats_kind)kind, &st, &why) == 0)
                for (int i = 0; i < NURS_CT_STATS_MAX; i++)
                    (void)nurs_ct_stats_name(st.kind, i);
        struct nurs_ct_msg m;
        if (nurs_ct_msg_parse(&m, nlh, true, &why) < 0)
            continue;
        (void)nurs_ct_spec_match(&filter, &m);
        struct nurs_ct_spec s;
        if (nurs_ct_spec_from_msg(&s, &m)) {
            _Alignas(4) unsigned char req[NURS_CT_REQ_MAX];
            char err[160];
            nurs_ct_req_entry(req, NURS_CT_REQ_DELETE, &s, NULL, 1, err, sizeof err);
            nurs_ct_req_entry(req, NURS_CT_REQ_UPDATE, &s, &change, 2, err, sizeof err);
        }
    }
    free(buf);
    return 0;
}
