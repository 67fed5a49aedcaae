/* The replay source: reads a pcap of recorded netlink traffic and feeds
 * the same callbacks with the same records the live source would, as fast
 * as possible or at the recorded pace. */
#ifndef NURS_SOURCES_REPLAY_H
#define NURS_SOURCES_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/resource.h"
#include "process/attribution.h"

struct nurs_script;
struct nurs_replay;

struct nurs_replay_opts {
    const char *path;
    double speed;     /* 0: as fast as possible; 1: recorded pace; 2: twice as fast */
    int loops;        /* times through the file */
    bool stop_at_end; /* stop the daemon when done */
    bool decode_only; /* benchmarks: parse each message as for Lua, call no Lua */
    const char *name;
    /* Attribute the replayed connections to this host's processes now, as
     * a live source would (tests, and what attribution costs). */
    bool process;
    struct nurs_attribution_opts process_opts;
};

struct nurs_replay *nurs_replay_get(struct nurs_script *s, const struct nurs_replay_opts *o,
                                    char *err, size_t errlen);
struct nurs_resource *nurs_replay_resource(struct nurs_replay *rp);
struct nurs_replay *nurs_replay_of(struct nurs_resource *r);
bool nurs_replay_done(const struct nurs_replay *rp);

#endif
