/* The NFQUEUE record: the shared packet record (pkt_record.h) with the
 * queue's metadata (queue, id, hook, marks, interfaces, conntrack state...)
 * and the verdict methods (accept, drop, verdict, hold). */
#ifndef NURS_BINDINGS_NFQ_RECORD_H
#define NURS_BINDINGS_NFQ_RECORD_H

#include <lua.h>

#include "bindings/pkt_record.h"
#include "sources/nfqueue/source.h"

#define NURS_NFQ_RECORD_MT "nurs.nfq_record"

void nurs_nfq_record_open(lua_State *L);
/* Pushes a record of packet p; the caller expires it when done. */
struct nurs_pkt_record *nurs_nfq_record_push(lua_State *L, struct nurs_nfq_packet *p);

/* Emits every field of packet p (metadata, then the packet views) into an
 * object the caller opened, as :totable() and the JSON sink do. */
void nurs_nfq_record_emit(struct nurs_nfq_packet *p, const struct nurs_emit *e, void *ctx);

/* Reads a verdict as a script writes it ("accept", "drop", "repeat", or a
 * table {verdict =, mark =, ctmark =, queue =}) from the value at idx.
 * Never raises: returns -1 with a message instead. */
int nurs_nfq_decision_from(lua_State *L, int idx, struct nurs_nfq_decision *d, char *err,
                           size_t errlen);

#endif
