/* The packet record class of NFLOG: packet views plus NFLOG's metadata
 * (prefix, group, hook, interfaces, uid/gid, hardware header, timestamp,
 * sequence numbers, conntrack). Records borrow a struct nurs_nflog_msg. */
#ifndef NURS_RECORDS_NFLOG_FIELDS_H
#define NURS_RECORDS_NFLOG_FIELDS_H

#include "records/packet.h"

extern const struct nurs_record_class nurs_nflog_class;

#endif
