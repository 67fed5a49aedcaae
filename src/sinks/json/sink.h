/* The JSON-lines sink: one JSON object per record, buffered, written to
 * stdout or a file, flushed on a timer and at exit, reopened on SIGHUP so
 * logrotate can move the file away. Files are written in whole lines
 * (core/outfile.h); a pipe, a FIFO or a socket (stdout piped into a slow
 * reader) never blocks: they are a stream (core/stream.h) with a bounded
 * buffer, what does not fit is dropped and counted. When stdout's reader
 * is gone, the daemon exits if nothing else comes out of it, else the
 * sink stops. */
#ifndef NURS_SINKS_JSON_SINK_H
#define NURS_SINKS_JSON_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/jsonw.h"
#include "core/safe_open.h"
#include "core/resource.h"
#include "netlink/ct_msg.h"

struct nurs_script;
struct nurs_json_sink;

struct nurs_json_opts {
    const char *path;      /* NULL or "-": standard output */
    double flush_interval; /* seconds */
    size_t buffer_size;    /* flush when this many bytes are waiting */
    size_t reader_buffer;  /* a pipe's reader: bytes queued at most */
    struct nurs_file_opts file;
    const char *name;
    bool schema_version; /* "schema_version" first in each record */
};

#define NURS_JSON_DEFAULT_BUFFER (64 * 1024)
#define NURS_JSON_DEFAULT_READER_BUFFER (4 << 20)

struct nurs_json_sink *nurs_json_sink_get(struct nurs_script *s, const struct nurs_json_opts *o,
                                          char *err, size_t errlen);
struct nurs_resource *nurs_json_sink_resource(struct nurs_json_sink *j);
struct nurs_json_sink *nurs_json_sink_of(struct nurs_resource *r);

/* One conntrack record as one JSON object (a line of this sink without
 * its newline), "schema_version" first when asked: for every sink that
 * writes JSON records, so that all write the same bytes. */
void nurs_json_write_ct(struct nurs_jsonw *w, struct nurs_ct_msg *m, bool schema_version);
/* Opens a record's object, with "schema_version" first when asked. */
void nurs_json_record_begin(struct nurs_jsonw *w, bool schema_version);
/* Whether the sink's records carry "schema_version". */
bool nurs_json_sink_schema_version(const struct nurs_json_sink *j);

/* Appends one record as a JSON line. */
void nurs_json_sink_write_ct(struct nurs_json_sink *j, struct nurs_ct_msg *m);
/* For other values: write one top-level value into the returned writer,
 * then call _end (ok = 0 discards what was written). */
struct nurs_jsonw *nurs_json_sink_begin(struct nurs_json_sink *j);
void nurs_json_sink_end(struct nurs_json_sink *j, int ok);
int nurs_json_sink_flush(struct nurs_json_sink *j);

/* Emitter writing the field walker's values into a JSON writer. */
extern const struct nurs_emit nurs_jsonw_emitter;

#endif
