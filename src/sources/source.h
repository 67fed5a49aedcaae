/* What every netlink source does the same way: counting and logging
 * malformed messages and kernel overruns, and choosing its record file. */
#ifndef NURS_SOURCES_SOURCE_H
#define NURS_SOURCES_SOURCE_H

#include <stddef.h>

#include <uv.h>

#include "core/log.h"
#include "core/resource.h"
#include "netlink/socket.h"

struct nurs_pcap_writer;

/* Counts a skipped message in r's `malformed`, logs it rate-limited. */
void nurs_source_malformed(struct nurs_resource *r, struct nurs_ratelimit *rl, const char *why);
/* After ENOBUFS: counts it in `overruns`, grows the receive buffer up to
 * its limit, logs both (rate-limited). */
void nurs_source_overrun(struct nurs_resource *r, struct nurs_nl *nl, struct nurs_ratelimit *rl);
/* Sets a new socket's receive buffer and its growth limit, warning when
 * the kernel refuses the size. */
void nurs_source_rcvbuf(struct nurs_resource *r, struct nurs_nl *nl, int rcvbuf, int rcvbuf_max);
/* Starts watching the socket for reading (poll->data = data); -1 with err. */
int nurs_source_poll(struct nurs_resource *r, uv_poll_t *poll, int fd, uv_poll_cb cb, void *data,
                     char *err, size_t errlen);
/* Points *recorder at the source's own record file (path), else the
 * --record one, else none; keeps it when unchanged. -1 with err when the
 * file cannot be opened. */
int nurs_source_set_recorder(struct nurs_resource *r, struct nurs_pcap_writer **recorder,
                             const char *path, char *err, size_t errlen);

#endif
