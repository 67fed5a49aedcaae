/* The pcap reader/writer: round trip, and every way a file can be cut or
 * corrupted gives an error that names the offset, never a bad read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netlink/pcap_nl.h"
#include "tap.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    static unsigned char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    unsigned char *copy = malloc(*len ? *len : 1);
    memcpy(copy, buf, *len);
    return copy;
}

int main(void)
{
    char path[] = "/tmp/nurs-pcap-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    struct nurs_pcap_writer w;
    char err[256];
    tap_ok(nurs_pcap_writer_open(&w, NULL, path, err, sizeof err) == 0, "writer opens");
    const char a[] = "first datagram", b[] = "second, longer datagram";
    nurs_pcap_writer_put(&w, 1700000000123456789ull, 12, a, sizeof a);
    nurs_pcap_writer_put(&w, 1700000001000000001ull, 12, b, sizeof b);
    nurs_pcap_writer_close(&w);

    size_t len;
    unsigned char *data = slurp(path, &len);
    unlink(path);
    tap_is_int((long long)len, 24 + 2 * (16 + 16) + (long long)sizeof a + (long long)sizeof b,
               "file size: header + two records");
    struct nurs_pcap_reader r;
    struct nurs_pcap_packet p;
    tap_ok(nurs_pcap_reader_init(&r, data, len, err, sizeof err) == 0, "reader accepts it");
    tap_ok(nurs_pcap_reader_next(&r, &p, err, sizeof err) == 1 && p.len == sizeof a &&
               memcmp(p.data, a, sizeof a) == 0 && p.ts_ns == 1700000000123456789ull &&
               p.nl_family == 12,
           "first packet round-trips with its ns timestamp and family");
    tap_ok(nurs_pcap_reader_next(&r, &p, err, sizeof err) == 1 && p.len == sizeof b &&
               p.offset == 24 + 32 + sizeof a,
           "second packet and its offset");
    tap_is_int(nurs_pcap_reader_next(&r, &p, err, sizeof err), 0, "clean end of file");

    /* Every truncation: an error naming an offset, or a clean end exactly
     * at a record boundary. */
    int errors = 0, clean = 0, named = 0;
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, data, cut);
        int rc = nurs_pcap_reader_init(&r, copy, cut, err, sizeof err);
        while (rc == 0 && (rc = nurs_pcap_reader_next(&r, &p, err, sizeof err)) == 1)
            rc = 0;
        if (rc < 0) {
            errors++;
            named += strstr(err, "offset") != NULL;
        } else {
            clean++;
        }
        free(copy);
    }
    /* Clean ends: right after the file header, and after the first record. */
    tap_ok(clean == 2 && errors == (int)len - 2 && named == errors,
           "every truncation inside a record is an error naming its offset (%d errors, %d clean)",
           errors, clean);
    tap_ok(nurs_pcap_reader_init(&r, "not a pcap file at all....", 26, err, sizeof err) < 0 &&
               strstr(err, "not a pcap file"),
           "wrong magic: %s", err);
    unsigned char bad[sizeof(struct { char x[80]; })];
    memcpy(bad, data, 24 + 16);
    bad[20] = 1; /* linktype ethernet */
    tap_ok(nurs_pcap_reader_init(&r, bad, 40, err, sizeof err) < 0 && strstr(err, "link type 1"),
           "wrong link type: %s", err);
    memcpy(bad, data, sizeof bad);
    bad[24 + 8] = 0xff; bad[24 + 9] = 0xff; bad[24 + 10] = 0xff; bad[24 + 11] = 0x7f;
    nurs_pcap_reader_init(&r, bad, sizeof bad, err, sizeof err);
    tap_ok(nurs_pcap_reader_next(&r, &p, err, sizeof err) < 0 && strstr(err, "offset 24"),
           "absurd capture length: %s", err);
    free(data);
    return tap_done();
}
