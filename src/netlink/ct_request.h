/* Requests to the conntrack and expectation tables: one entry (get,
 * delete, update, create), a listing with a filter the kernel applies
 * where it can, a flush, statistics. Entries and expectations are built
 * with libnetfilter_conntrack (nfct_nlmsg_build, nfexp_nlmsg_build);
 * what it has no builder for (the CTA_FILTER and zone of a filtered
 * listing, flushes, statistics, a mark mask) is a few attributes added by
 * hand (docs/architecture.md). No I/O here. */
#ifndef NURS_NETLINK_CT_REQUEST_H
#define NURS_NETLINK_CT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netlink/ct_spec.h"
#include "netlink/ct_stats.h"

/* Room a request needs at most. */
#define NURS_CT_REQ_MAX 1024

enum nurs_ct_req {
    NURS_CT_REQ_GET,
    NURS_CT_REQ_DELETE,
    NURS_CT_REQ_UPDATE,
    NURS_CT_REQ_CREATE,
};

/* One entry: `s` names it (full original tuple; zone and
 * id when known); for updates and creation `change` says what to set
 * (mark with mask, labels with mask, timeout, status; creation also
 * takes the reply tuple, TCP state, helper from it). buf holds
 * NURS_CT_REQ_MAX bytes. Returns the length, or 0 with err. NLM_F_ACK is
 * set. */
size_t nurs_ct_req_entry(void *buf, enum nurs_ct_req kind, const struct nurs_ct_spec *s,
                         const struct nurs_ct_spec *change, uint32_t seq, char *err,
                         size_t errlen);
/* A listing of the table (zero: and reset the counters it reports); the
 * kernel applies what it can of the filter (family, mark, status, zone,
 * exact addresses, protocol and ports), the caller the rest. */
size_t nurs_ct_req_dump(void *buf, const struct nurs_ct_spec *filter, bool zero, uint32_t seq);
/* Every entry (family 0: of both families), as conntrack -F. */
size_t nurs_ct_req_flush(void *buf, uint8_t family, uint32_t seq);
size_t nurs_ct_req_stats(void *buf, enum nurs_ct_stats_kind kind, uint32_t seq);

/* Expectations: get and delete by expected tuple (delete: also by id, or
 * every expectation of a helper), create from master, tuple, mask,
 * timeout... */
size_t nurs_exp_req_entry(void *buf, enum nurs_ct_req kind, const struct nurs_exp_spec *s,
                          uint32_t seq, char *err, size_t errlen);
size_t nurs_exp_req_dump(void *buf, uint8_t family, uint32_t seq);
size_t nurs_exp_req_flush(void *buf, uint8_t family, uint32_t seq);

#endif
