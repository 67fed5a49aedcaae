/* IPFIX into a file (RFC 5655) or a FIFO. A file is written in whole
 * messages (core/outfile.h: a full disk cuts a message off, never in
 * half), opened safely, and made again when it was removed; a FIFO is a
 * stream (core/stream.h) that waits for its reader without blocking the
 * loop. Either way, whoever reads from the start gets the templates
 * first: at every open, after a removed file was made again, and when a
 * FIFO reader comes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sinks/flow/collector_priv.h"

/* A message of the templates (and statistics), written ahead of the
 * next one. */
static void write_templates(struct nurs_collector *c)
{
    uint8_t *buf = malloc(c->cap);
    struct nurs_msg_tally n = {0};
    size_t len = buf ? nurs_collector_templates_message(c, buf, c->cap, &n) : 0;
    if (!len) {
        free(buf);
        c->templates_due = true;
        return;
    }
    nurs_collector_stamp(c, buf, n.records);
    if (c->file.stream)
        nurs_stream_write(c->file.stream, buf, len, 1);
    else if (nurs_outfile_write(&c->file.out, buf, len) < 0)
        c->templates_due = true; /* the next message tries again */
    free(buf);
}

static void on_reader(void *ctx)
{
    struct nurs_collector *c = ctx;
    c->stats.connects++;
    write_templates(c);
}

int nurs_file_open(struct nurs_collector *c, char *err, size_t errlen)
{
    if (nurs_stream_is_target(c->path, false)) {
        struct nurs_stream_opts so = {
            .target = c->path,
            .buffer = c->conf->queue_max,
            .max_readers = 1,
            .file = c->conf->file,
            .socket_gid = -1,
            .on_reader = on_reader,
            .ctx = c,
        };
        c->file.stream = nurs_stream_open(c->loop, c->spec, &so, err, errlen);
        return c->file.stream ? 0 : -1;
    }
    if (nurs_outfile_open(&c->file.out, c->path, NURS_OPEN_APPEND, false, &c->conf->file, NULL,
                          0, err, errlen) < 0)
        return -1;
    c->file.open = true;
    c->stats.connects++;
    c->templates_due = true;
    return 0;
}

void nurs_file_send(struct nurs_collector *c, uint8_t *msg, size_t len,
                    const struct nurs_msg_tally *n)
{
    if (c->file.stream) {
        if (!nurs_stream_has_readers(c->file.stream)) {
            nurs_collector_lost(c, n, 0, "no reader on the FIFO");
            return;
        }
        uint64_t drops = nurs_stream_stats(c->file.stream)->drops;
        nurs_collector_stamp(c, msg, n->records);
        nurs_stream_write(c->file.stream, msg, len, 1);
        if (nurs_stream_stats(c->file.stream)->drops != drops)
            nurs_collector_lost(c, n, 0, "the FIFO reader does not keep up");
        else
            nurs_collector_counted(c, len, n);
        return;
    }
    if (!c->file.open) {
        nurs_collector_lost(c, n, 0, "file not open");
        return;
    }
    if (nurs_outfile_check(&c->file.out, c->spec) > 0)
        write_templates(c);
    nurs_collector_stamp(c, msg, n->records);
    if (nurs_outfile_write(&c->file.out, msg, len) < 0)
        nurs_collector_lost(c, n, c->file.out.last_errno, "write failed (the file ends with a "
                                                          "whole message)");
    else
        nurs_collector_counted(c, len, n);
}

void nurs_file_reopen(struct nurs_collector *c)
{
    if (!c->file.open)
        return;
    char err[512];
    if (nurs_outfile_reopen(&c->file.out, err, sizeof err) < 0) {
        nurs_err("collector %s: %s", c->spec, err);
        return;
    }
    c->stats.connects++;
    c->templates_due = true;
}

void nurs_file_flush(struct nurs_collector *c)
{
    if (c->file.stream)
        nurs_stream_flush(c->file.stream);
}

void nurs_file_close(struct nurs_collector *c)
{
    if (c->file.stream) {
        nurs_stream_flush(c->file.stream);
        nurs_stream_close(c->file.stream);
    }
    c->file.stream = NULL;
    if (c->file.open)
        nurs_outfile_close(&c->file.out);
    c->file.open = false;
}

const char *nurs_file_state(const struct nurs_collector *c)
{
    if (c->file.stream)
        return nurs_stream_has_readers(c->file.stream) ? "open" : "waiting for a reader";
    return c->file.open ? "open" : "closed";
}
