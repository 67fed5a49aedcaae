/* The NFQUEUE record's class (records/record.h): the queue's metadata,
 * then the packet views. Records borrow a struct nurs_nfq_packet. */
#ifndef NURS_SOURCES_NFQUEUE_RECORD_H
#define NURS_SOURCES_NFQUEUE_RECORD_H

#include "records/packet.h"
#include "sources/nfqueue/source.h"

extern const struct nurs_record_class nurs_nfq_class;

#endif
