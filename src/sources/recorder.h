/* Recording of what sources receive, to pcap files shared by path: the
 * --record switch sends every source to one file, a source's `record`
 * option sends it to its own. */
#ifndef NURS_SOURCES_RECORDER_H
#define NURS_SOURCES_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "netlink/pcap_nl.h"

struct nurs_host;

struct nurs_pcap_writer *nurs_recorder_get(struct nurs_host *h, const char *path, char *err,
                                           size_t errlen);
void nurs_recorder_put(struct nurs_host *h, struct nurs_pcap_writer *w);
/* Records one datagram now; write errors are logged once per file. */
void nurs_recorder_write(struct nurs_pcap_writer *w, uint16_t nl_family, const void *data,
                         size_t len);

#endif
