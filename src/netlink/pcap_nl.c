#include "netlink/pcap_nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/pcap_fmt.h"

#define ARPHRD_NETLINK 824

#define WRITER_BUFFER (512u << 10) /* more than the largest record */

int nurs_pcap_writer_open(struct nurs_pcap_writer *w, uv_loop_t *loop, const char *path,
                          char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    const struct nurs_pcap_format fmt = {.linktype = NURS_LINKTYPE_NETLINK, .nanos = true};
    uint8_t h[NURS_PCAP_FILE_HDR];
    nurs_pcap_file_header(&fmt, h);
    if (!(w->path = strdup(path)) || !(w->buf = malloc(WRITER_BUFFER))) {
        snprintf(err, errlen, "out of memory");
        nurs_pcap_writer_close(w);
        return -1;
    }
    if (loop && nurs_stream_is_target(path, false)) {
        struct nurs_stream_opts so = {
            .target = path,
            .buffer = 8u << 20,
            .max_readers = 1,
            .socket_gid = -1,
            .header = h,
            .header_len = sizeof h,
        };
        w->stream = nurs_stream_open(loop, "record", &so, err, errlen);
    } else if (nurs_outfile_open(&w->file, path, NURS_OPEN_TRUNCATE, false, NULL, h, sizeof h, err,
                                 errlen) == 0) {
        w->has_file = true;
        nurs_outfile_writev(&w->file, NULL, 0); /* the header, or with the first batch */
    }
    if (!w->stream && !w->has_file) {
        nurs_pcap_writer_close(w);
        return -1;
    }
    w->refs = 1;
    return 0;
}

int nurs_pcap_writer_flush(struct nurs_pcap_writer *w)
{
    if (w->has_file)
        nurs_outfile_check(&w->file, "record");
    if (w->len == 0)
        return 0;
    int rc = 0;
    if (w->stream) {
        nurs_stream_write(w->stream, w->buf, w->len, w->buf_records);
    } else if (!w->has_file || nurs_outfile_write(&w->file, w->buf, w->len) < 0) {
        w->last_errno = w->has_file ? w->file.last_errno : EBADF;
        w->lost += w->buf_records;
        w->packets -= w->buf_records;
        rc = -1;
    }
    w->len = 0;
    w->buf_records = 0;
    return rc;
}

int nurs_pcap_writer_put(struct nurs_pcap_writer *w, uint64_t ts_ns, uint16_t nl_family,
                         const void *data, size_t len)
{
    if (!w->buf)
        return -1;
    size_t cap = len > NURS_PCAP_SNAPLEN - NURS_PCAP_NL_HDRLEN ? NURS_PCAP_SNAPLEN - NURS_PCAP_NL_HDRLEN
                                                                  : len;
    struct nurs_pcap_record_header rh = {
        (uint32_t)(ts_ns / 1000000000u), (uint32_t)(ts_ns % 1000000000u),
        (uint32_t)(cap + NURS_PCAP_NL_HDRLEN), (uint32_t)(len + NURS_PCAP_NL_HDRLEN)};
    /* The cooked header, big-endian: packet type (4: from the kernel to
     * us), ARPHRD_NETLINK, no link-layer address, the netlink family. */
    uint8_t cooked[NURS_PCAP_NL_HDRLEN] = {0};
    uint16_t be = htons(4);
    memcpy(cooked, &be, 2);
    be = htons(ARPHRD_NETLINK);
    memcpy(cooked + 2, &be, 2);
    be = htons(nl_family);
    memcpy(cooked + 14, &be, 2);
    size_t need = sizeof rh + sizeof cooked + cap;
    int rc = 0;
    if (w->len + need > WRITER_BUFFER)
        rc = nurs_pcap_writer_flush(w);
    memcpy(w->buf + w->len, &rh, sizeof rh);
    memcpy(w->buf + w->len + sizeof rh, cooked, sizeof cooked);
    memcpy(w->buf + w->len + sizeof rh + sizeof cooked, data, cap);
    w->len += need;
    w->buf_records++;
    w->packets++;
    return rc;
}

void nurs_pcap_writer_close(struct nurs_pcap_writer *w)
{
    nurs_pcap_writer_flush(w);
    if (w->stream) {
        nurs_stream_flush(w->stream);
        nurs_stream_close(w->stream);
    }
    w->stream = NULL;
    if (w->has_file)
        nurs_outfile_close(&w->file);
    w->has_file = false;
    free(w->buf);
    w->buf = NULL;
    free(w->path);
    w->path = NULL;
}

static uint32_t field32(const struct nurs_pcap_reader *r, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return r->swapped ? __builtin_bswap32(v) : v;
}

int nurs_pcap_reader_init(struct nurs_pcap_reader *r, const void *data, size_t size, char *err,
                          size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->data = data;
    r->size = size;
    if (size < sizeof(struct nurs_pcap_file_header)) {
        snprintf(err, errlen, "truncated pcap file header at offset 0 (%zu bytes)", size);
        return -1;
    }
    uint32_t magic;
    memcpy(&magic, data, 4);
    if (magic == NURS_PCAP_MAGIC_US || magic == NURS_PCAP_MAGIC_NS) {
        r->nanos = magic == NURS_PCAP_MAGIC_NS;
    } else if (__builtin_bswap32(magic) == NURS_PCAP_MAGIC_US ||
               __builtin_bswap32(magic) == NURS_PCAP_MAGIC_NS) {
        r->swapped = true;
        r->nanos = __builtin_bswap32(magic) == NURS_PCAP_MAGIC_NS;
    } else {
        snprintf(err, errlen, "not a pcap file (magic 0x%08x at offset 0)", magic);
        return -1;
    }
    uint32_t linktype = field32(r, r->data + 20) & 0x0fffffff;
    if (linktype != NURS_LINKTYPE_NETLINK) {
        snprintf(err, errlen, "link type %u at offset 20 is not netlink (%d)", linktype,
                 NURS_LINKTYPE_NETLINK);
        return -1;
    }
    r->off = sizeof(struct nurs_pcap_file_header);
    return 0;
}

int nurs_pcap_reader_next(struct nurs_pcap_reader *r, struct nurs_pcap_packet *p, char *err,
                          size_t errlen)
{
    if (r->off == r->size)
        return 0;
    size_t left = r->size - r->off;
    if (left < sizeof(struct nurs_pcap_record_header)) {
        snprintf(err, errlen, "truncated packet header at offset %zu", r->off);
        return -1;
    }
    const uint8_t *h = r->data + r->off;
    uint32_t sec = field32(r, h), frac = field32(r, h + 4), caplen = field32(r, h + 8);
    if (caplen > NURS_PCAP_SNAPLEN) {
        snprintf(err, errlen, "packet at offset %zu claims %u bytes (more than %d)", r->off, caplen,
                 NURS_PCAP_SNAPLEN);
        return -1;
    }
    if (caplen > left - sizeof(struct nurs_pcap_record_header)) {
        snprintf(err, errlen, "truncated packet at offset %zu (%u bytes, %zu in the file)", r->off,
                 caplen, left - sizeof(struct nurs_pcap_record_header));
        return -1;
    }
    if (caplen < NURS_PCAP_NL_HDRLEN) {
        snprintf(err, errlen, "packet at offset %zu is shorter than the netlink header", r->off);
        return -1;
    }
    const uint8_t *cooked = h + sizeof(struct nurs_pcap_record_header);
    uint16_t family;
    memcpy(&family, cooked + 14, 2);
    p->offset = r->off;
    p->ts_ns = (uint64_t)sec * 1000000000u + (r->nanos ? frac : (uint64_t)frac * 1000u);
    p->nl_family = ntohs(family);
    p->data = cooked + NURS_PCAP_NL_HDRLEN;
    p->len = caplen - NURS_PCAP_NL_HDRLEN;
    r->off += sizeof(struct nurs_pcap_record_header) + caplen;
    return 1;
}
