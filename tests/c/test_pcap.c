/* The pcap writer's parts: the format (golden bytes for both link types,
 * snap length, precision), the ring buffer (thousands of records of
 * random sizes: it always holds the newest run, whole, in order, and
 * evicts by age), and the rotation scheme's file names. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include "core/pcap_fmt.h"
#include "sinks/pcap/file.h"
#include "sinks/pcap/ring.h"
#include "tap.h"

static bool bytes_are(const uint8_t *got, const uint8_t *want, size_t n, const char *what)
{
    bool ok = memcmp(got, want, n) == 0;
    tap_ok(ok, "%s", what);
    if (!ok) {
        printf("#   got  ");
        for (size_t i = 0; i < n; i++)
            printf("%02x", got[i]);
        printf("\n#   want ");
        for (size_t i = 0; i < n; i++)
            printf("%02x", want[i]);
        printf("\n");
    }
    return ok;
}

static void test_format(void)
{
    struct nurs_pcap_format us = {NURS_LINKTYPE_RAW, 262144, false};
    struct nurs_pcap_format ns = {NURS_LINKTYPE_NFLOG, 10, true};
    uint8_t h[24];
    nurs_pcap_file_header(&us, h);
    const uint8_t want_us[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 0, 4, 0, 101, 0, 0, 0};
    bytes_are(h, want_us, 24, "file header: microseconds, v2.4, snaplen 262144, LINKTYPE_RAW");
    nurs_pcap_file_header(&ns, h);
    const uint8_t want_ns[24] = {0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 0, 4, 0, 239, 0, 0, 0};
    bytes_are(h, want_ns, 24, "file header: nanoseconds, LINKTYPE_NFLOG, snaplen the largest");
    tap_ok(nurs_pcap_file_header_matches(&ns, want_ns) && !nurs_pcap_file_header_matches(&us, want_ns),
           "a file header matches its own format only");

    const uint8_t pkt[12] = {0x45, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    struct nurs_pcap_in in = {.ts_ns = 1700000000123456789ull, .pkt = pkt, .len = 12, .origlen = 1500};
    uint8_t rec[128];
    size_t n = nurs_pcap_encode(&us, &in, rec, sizeof rec);
    const uint8_t want_raw[16] = {0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 1, 0, 12, 0, 0, 0, 0xdc, 5, 0, 0};
    tap_is_int((long long)n, 28, "raw record: header and packet");
    bytes_are(rec, want_raw, 16, "raw record header: seconds, microseconds, caplen, wire length");
    bytes_are(rec + 16, pkt, 12, "raw record data: the packet");
    tap_is_int((long long)nurs_pcap_record_ts(&us, rec), 1700000000123456000ll,
               "timestamp read back at microsecond precision");

    /* NFLOG: the message's attributes but its payload, then the packet
     * (cut to the snap length) as the last, padded TLV. */
    uint8_t attrs[64] = {0};
    size_t a = 0;
    struct nlattr *prefix = (void *)(attrs + a);
    prefix->nla_len = 7, prefix->nla_type = NFULA_PREFIX;
    memcpy(attrs + a + 4, "ab\0", 3);
    a += 8;
    struct nlattr *payload = (void *)(attrs + a);
    payload->nla_len = 8, payload->nla_type = NFULA_PAYLOAD;
    a += 8;
    struct nlattr *mark = (void *)(attrs + a);
    mark->nla_len = 8, mark->nla_type = NFULA_MARK;
    memcpy(attrs + a + 4, "\0\0\0\x2a", 4);
    a += 8;
    in.attrs = attrs, in.attrs_len = a, in.family = NFPROTO_IPV4, in.group = 0x0105;
    n = nurs_pcap_encode(&ns, &in, rec, sizeof rec);
    const uint8_t want_nflog[] = {
        2, 0, 1, 5,                                      /* family, version, group */
        7, 0, NFULA_PREFIX, 0, 'a', 'b', 0, 0,           /* prefix, padded */
        8, 0, NFULA_MARK, 0, 0, 0, 0, 0x2a,              /* mark */
        14, 0, NFULA_PAYLOAD, 0, 0x45, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, /* 10 bytes, padded */
    };
    tap_is_int((long long)n, 16 + (long long)sizeof want_nflog, "NFLOG record length");
    bytes_are(rec + 16, want_nflog, sizeof want_nflog, "NFLOG record: TLVs, payload last");
    tap_is_int(rec[8] | rec[9] << 8, sizeof want_nflog, "NFLOG caplen");
    tap_is_int(rec[12] | rec[13] << 8, sizeof want_nflog + 1500 - 10,
               "NFLOG wire length counts the bytes the snap length cut");
    tap_is_int((long long)nurs_pcap_record_ts(&ns, rec), 1700000000123456789ll,
               "timestamp read back at nanosecond precision");

    /* From a source without NFLOG attributes: the packet's family. */
    const uint8_t v6[4] = {0x60, 0, 0, 0};
    struct nurs_pcap_in in6 = {.ts_ns = 1, .pkt = v6, .len = 4};
    nurs_pcap_encode(&ns, &in6, rec, sizeof rec);
    tap_is_int(rec[16], NFPROTO_IPV6, "NFLOG record of an IPv6 packet without attributes");
    tap_is_int((long long)nurs_pcap_encode(&us, &in, rec, 20), 0, "too small a buffer: nothing");
    /* No packet at all (copy mode "meta"): an empty record, no pointer read. */
    struct nurs_pcap_in none = {.ts_ns = 1, .pkt = NULL, .len = 0};
    tap_is_int((long long)nurs_pcap_encode(&us, &none, rec, sizeof rec), 16,
               "a record without a packet: its header only");
    tap_is_int((long long)nurs_pcap_encode(&ns, &none, rec, sizeof rec), 16 + 4 + 4,
               "NFLOG: the header and an empty payload TLV");
}

/* ---- ring ---- */

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* A record whose timestamp is its number and whose bytes repeat it. */
static size_t make_record(uint8_t *out, uint32_t id, size_t datalen,
                          const struct nurs_pcap_format *f)
{
    uint8_t data[4096];
    memset(data, (int)(id & 0xff), datalen);
    struct nurs_pcap_in in = {.ts_ns = (uint64_t)id * 1000000000u, .pkt = data, .len = datalen};
    return nurs_pcap_encode(f, &in, out, 8192);
}

struct walk {
    const struct nurs_pcap_format *f;
    uint32_t expect_id, count;
    uint64_t bytes;
    bool ok;
};

static void walk_run(void *ctx, const uint8_t *p, size_t len)
{
    struct walk *w = ctx;
    size_t off = 0;
    while (off < len) {
        size_t rl = nurs_pcap_record_len(p + off);
        uint32_t id = (uint32_t)(nurs_pcap_record_ts(w->f, p + off) / 1000000000u);
        if (rl > len - off || (w->count && id != w->expect_id) ||
            (rl > NURS_PCAP_REC_HDR && p[off + NURS_PCAP_REC_HDR] != (id & 0xff)))
            w->ok = false;
        w->expect_id = id + 1;
        w->count++;
        w->bytes += rl;
        off += rl;
    }
}

static void test_ring(void)
{
    struct nurs_pcap_format f = {NURS_LINKTYPE_RAW, 262144, true};
    struct nurs_pcap_ring r;
    nurs_pcap_ring_init(&r, 50000, 0, &f);
    uint8_t rec[8192];
    bool all_ok = true;
    size_t min_held = SIZE_MAX;
    uint32_t last = 0;
    for (uint32_t id = 1; id <= 20000; id++) {
        size_t len = make_record(rec, id, next_rand() % 3000 + 1, &f);
        nurs_pcap_ring_put(&r, rec, len);
        last = id;
        struct walk w = {&f, 0, 0, 0, true};
        nurs_pcap_ring_each_run(&r, walk_run, &w);
        /* The newest run, in order, ending with the record just put. */
        if (!w.ok || w.count != r.packets || w.bytes != r.bytes || w.expect_id != last + 1)
            all_ok = false;
        if (id > 100 && r.bytes < min_held)
            min_held = r.bytes;
    }
    tap_ok(all_ok, "after each of 20000 puts of random sizes, the ring holds the newest "
                   "records, whole and in order");
    tap_ok(min_held > 50000 - 2 * 3016, "it stays nearly full (at least %zu of 50000 bytes)",
           min_held);
    tap_ok(r.evicted + r.packets == 20000, "every record put is held or counted as evicted");
    tap_ok(!nurs_pcap_ring_put(&r, rec, 0) && r.packets > 0, "a record shorter than its header is refused");
    nurs_pcap_ring_clear(&r);
    tap_ok(r.packets == 0 && r.bytes == 0, "clear empties it");
    nurs_pcap_ring_free(&r);

    /* Too big for the ring: refused, the ring untouched. */
    nurs_pcap_ring_init(&r, 1000, 0, &f);
    size_t len = make_record(rec, 1, 500, &f);
    nurs_pcap_ring_put(&r, rec, len);
    len = make_record(rec, 2, 2000, &f);
    tap_ok(!nurs_pcap_ring_put(&r, rec, len) && r.packets == 1, "a record larger than the ring is refused");
    nurs_pcap_ring_free(&r);

    /* By age: records more than 10 s older than the newest go. */
    nurs_pcap_ring_init(&r, 1 << 20, 10, &f);
    for (uint32_t id = 1; id <= 100; id++) {
        len = make_record(rec, id, 10, &f);
        nurs_pcap_ring_put(&r, rec, len);
    }
    struct walk w = {&f, 0, 0, 0, true};
    nurs_pcap_ring_each_run(&r, walk_run, &w);
    tap_ok(w.ok && r.packets == 11 && w.expect_id == 101, "ring_seconds 10 keeps seconds 90..100 "
           "(%llu records)", (unsigned long long)r.packets);
    char path[] = "/tmp/nurs-ring-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char err[256];
    tap_is_int(nurs_pcap_ring_dump(&r, path, NULL, err, sizeof err), 11, "dump writes them all");
    FILE *fp = fopen(path, "rb");
    uint8_t file[4096];
    size_t size = fread(file, 1, sizeof file, fp);
    fclose(fp);
    uint8_t hdr[24];
    nurs_pcap_file_header(&f, hdr);
    tap_ok(size == 24 + r.bytes && memcmp(file, hdr, 24) == 0, "the dump: a file header, then "
           "the records as held (%zu bytes)", size);
    unlink(path);
    tap_is_int(nurs_pcap_ring_dump(&r, "/nonexistent-dir/x.pcap", NULL, err, sizeof err), -1,
               "a dump that cannot be written fails with a reason");
    nurs_pcap_ring_free(&r);
}

/* ---- rotation names ---- */

static int count_files(const char *dir, char names[][64], int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n < max && strlen(e->d_name) < 64)
            memcpy(names[n], e->d_name, strlen(e->d_name) + 1);
        n++;
    }
    if (d)
        closedir(d);
    for (int i = 1; i < n && i < max; i++) /* sorted, for the checks */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

static void remove_all(const char *dir, char names[][64], int n)
{
    for (int i = 0; i < n; i++) {
        char p[512];
        if (snprintf(p, sizeof p, "%s/%s", dir, names[i]) < (int)sizeof p)
            unlink(p);
    }
}

static void test_rotation_names(void)
{
    struct nurs_pcap_format f = {NURS_LINKTYPE_RAW, 262144, false};
    char dir[] = "/tmp/nurs-rot-XXXXXX";
    if (!mkdtemp(dir))
        return;
    char path[128], err[256] = "", names[32][64];
    uint8_t rec[8192];

    /* Size and count (tcpdump -C -W 12): two-digit names, reused in turn. */
    snprintf(path, sizeof path, "%s/c.pcap", dir);
    struct nurs_pcap_file_opts o = {.path = path, .rotate_size = 1000, .rotate_count = 12,
                                    .buffer = 4096};
    struct nurs_pcap_file pf;
    tap_ok(nurs_pcap_file_open(&pf, &o, &f, err, sizeof err) == 0, "opens (%s)", err);
    for (uint32_t id = 1; id <= 100; id++)
        nurs_pcap_file_write(&pf, rec, make_record(rec, id, 400, &f));
    nurs_pcap_file_close(&pf);
    int n = count_files(dir, names, 32);
    tap_is_int(n, 12, "rotate_count 12: twelve files");
    tap_is_str(names[0], "c.pcap00", "the first is c.pcap00");
    tap_is_str(names[11], "c.pcap11", "the last is c.pcap11");

    /* Time with a pattern and a count: the oldest files are removed. */
    remove_all(dir, names, n);
    snprintf(path, sizeof path, "%s/t-%%s.pcap", dir);
    o = (struct nurs_pcap_file_opts){.path = path, .rotate_seconds = 10, .rotate_count = 3,
                                     .buffer = 4096};
    tap_ok(nurs_pcap_file_open(&pf, &o, &f, err, sizeof err) == 0, "opens (%s)", err);
    for (uint32_t id = 1; id <= 100; id++) /* one record per second: ten periods */
        nurs_pcap_file_write(&pf, rec, make_record(rec, id, 100, &f));
    tap_is_int((long long)pf.files, 12, "eleven periods of packets (plus the empty first file)");
    nurs_pcap_file_close(&pf);
    n = count_files(dir, names, 32);
    tap_is_int(n, 3, "rotate_count 3: the three newest kept");
    /* sorted as text */
    tap_ok(!strcmp(names[0], "t-100.pcap") && !strcmp(names[1], "t-80.pcap") &&
               !strcmp(names[2], "t-90.pcap"),
           "the newest three, named after the start of their period");
    remove_all(dir, names, n);
    rmdir(dir);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    test_format();
    test_ring();
    test_rotation_names();
    return tap_done();
}
