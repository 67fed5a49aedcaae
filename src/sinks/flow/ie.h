/* Information elements: the IANA IPFIX registry (RFC 7012) by name, with
 * each element's id, abstract type and default wire length, and, for the
 * elements a conntrack entry can fill, where the value comes from. NetFlow
 * v9 field types 1-127 share these numbers. Names prefixed "reverse" are the
 * RFC 5103 reverse elements (enterprise 29305). */
#ifndef NURS_SINKS_FLOW_IE_H
#define NURS_SINKS_FLOW_IE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NURS_IE_VARLEN 0xffff
#define NURS_PEN_REVERSE 29305u

/* RFC 7012 abstract data types. */
enum nurs_ie_type {
    IE_T_U8, IE_T_U16, IE_T_U32, IE_T_U64,
    IE_T_S8, IE_T_S16, IE_T_S32, IE_T_S64,
    IE_T_F32, IE_T_F64, IE_T_BOOL, IE_T_MAC, IE_T_OCTETS, IE_T_STRING,
    IE_T_IPV4, IE_T_IPV6,
    IE_T_DT_S, IE_T_DT_MS, IE_T_DT_US, IE_T_DT_NS,
};

/* What a flow made from a conntrack entry puts in an element. */
enum nurs_ie_source {
    FS_NONE, /* not known from conntrack: zero, unless the script gives it */
    FS_SRC_ADDR, FS_DST_ADDR, FS_POST_SRC_ADDR, FS_POST_DST_ADDR,
    FS_SPORT, FS_DPORT, FS_POST_SPORT, FS_POST_DPORT,
    FS_PROTO, FS_IP_VERSION,
    FS_OCTETS, FS_PACKETS,
    FS_START, FS_END,             /* in the element's time unit */
    FS_START_UPTIME, FS_END_UPTIME, /* NetFlow v9 sysUptime-relative ms */
    FS_DURATION_MS, FS_DURATION_US,
    FS_ICMP_TYPE_CODE, FS_ICMP_TYPE, FS_ICMP_CODE, /* of the element's IP version only */
    FS_END_REASON, FS_DIRECTION, FS_BIFLOW_DIRECTION, FS_FLOW_ID,
    FS_IN_IF, FS_OUT_IF,
    FS_INITIATOR_OCTETS, FS_RESPONDER_OCTETS, FS_INITIATOR_PACKETS, FS_RESPONDER_PACKETS,
    FS_MARK, /* the conntrack mark (netfilter's enterprise element, as ulogd2 sends it) */
    FS_ZONE, /* the conntrack zone */
    FS_VRF,  /* the zone's VRF */
    /* The process at an end of the flow (nurs_ie.end says which). */
    FS_PROC_PID, FS_PROC_UID, /* integers */
    FS_PROC_NAME, FS_PROC_CMDLINE, FS_PROC_USER, FS_PROC_CGROUP, FS_PROC_UNIT,
    FS_PROC_CONTAINER, /* strings */
};

/* Which end of a flow a process element describes. */
enum nurs_ie_end {
    NURS_END_SRC,   /* the socket the flow's packets are sent from */
    NURS_END_DST,   /* the socket they are sent to */
    NURS_END_LOCAL, /* the connection's local process: the initiator's, else the responder's */
};

struct nurs_ie {
    const char *name;
    uint16_t id;
    uint32_t pen; /* 0: IANA */
    uint8_t type; /* enum nurs_ie_type */
    uint16_t length; /* default wire length; NURS_IE_VARLEN for variable */
    uint8_t source;  /* enum nurs_ie_source */
    uint8_t ip_version; /* 4 or 6 for family-specific elements, else 0 */
    uint8_t end;        /* enum nurs_ie_end, for process elements */
};

/* nurs-lua's own elements (the process at each end of a flow) are
 * enterprise-specific: under IANA's enterprise number for documentation
 * (RFC 5612) until one is registered; exporters can be told another. */
#define NURS_PEN_NURS 32473u
/* nurs-lua's element: overruns of the kernel buffer of the sources
 * feeding an exporter (events lost, how many unknown). */
#define NURS_IE_KERNEL_OVERRUNS 21
#define NURS_IE_CONNTRACK_ZONE 22

static inline bool nurs_ie_is_process(const struct nurs_ie *ie)
{
    return ie->source >= FS_PROC_PID && ie->source <= FS_PROC_CONTAINER;
}
static inline bool nurs_ie_is_process_string(const struct nurs_ie *ie)
{
    return ie->source >= FS_PROC_NAME && ie->source <= FS_PROC_CONTAINER;
}

/* The element named `name` (a "reverse..." name gives the reverse element of
 * its forward one, enterprise 29305, in *out); false if unknown. */
bool nurs_ie_lookup(const char *name, struct nurs_ie *out);
/* The element with this id and enterprise number, NULL if not in our table. */
const struct nurs_ie *nurs_ie_by_id(uint16_t id, uint32_t pen);

/* Whether an element of this type may be sent in `len` bytes: fixed types
 * at their size, unsigned and signed integers reduced (RFC 7011 6.2),
 * strings and octet arrays any length or variable. */
bool nurs_ie_length_ok(const struct nurs_ie *ie, unsigned len);
const char *nurs_ie_type_name(enum nurs_ie_type t);
/* The natural length of a type; NURS_IE_VARLEN for strings and octets. */
unsigned nurs_ie_type_length(enum nurs_ie_type t);

/* The netfilter project's enterprise number; ulogd2 exports the packet and
 * connection mark as its element 4. */
#define NURS_PEN_NETFILTER 21373u

#endif
