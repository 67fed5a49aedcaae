/* A UDP collector's stream, read back from a socket on loopback: every
 * datagram is a whole message whose sets add up, sequence numbers follow
 * each other, templates come first and again when due, and no record is
 * lost or repeated, however the loop's turns (which send the batched
 * datagrams) fall between records. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sinks/flow/collector.h"
#include "tap.h"
#include "sinks/flow/template.h"

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

struct seen {
    int messages, bad, templates_sets, out_of_order;
    uint32_t next_seq;
    long records;  /* data records of template 257 */
    long sum;      /* of their octetDeltaCount */
};

/* Walks one IPFIX message: header length, set lengths, records of 257. */
static void check_message(const uint8_t *m, size_t len, struct seen *s)
{
    s->messages++;
    if (len < 16 || get16(m) != 10 || get16(m + 2) != len) {
        s->bad++;
        return;
    }
    uint32_t seq = get32(m + 8);
    if (seq != s->next_seq)
        s->out_of_order++;
    size_t off = 16;
    uint32_t data = 0;
    while (off + 4 <= len) {
        unsigned id = get16(m + off), set = get16(m + off + 2);
        if (set < 4 || off + set > len) {
            s->bad++;
            return;
        }
        if (id == 2)
            s->templates_sets++;
        if (id == 257) {
            for (size_t r = off + 4; r + 8 <= off + set; r += 8) {
                s->records++;
                s->sum += (long)get32(m + r);
                data++;
            }
        } else if (id == 256 || id == 258) {
            data++; /* the statistics and reliability records count in the sequence */
        }
        off += set;
    }
    s->next_seq = seq + data;
}

static void drain(int fd, struct seen *s)
{
    uint8_t buf[70000];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        check_message(buf, (size_t)n, s);
}

int main(void)
{
    int sink = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t alen = sizeof a;
    int big = 8 << 20;
    setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (bind(sink, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(sink, (struct sockaddr *)&a, &alen) < 0) {
        printf("# cannot bind a loopback socket: %s\n", strerror(errno));
        return tap_done();
    }
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(a.sin_port));

    struct nurs_template t;
    char err[256];
    nurs_template_init(&t, "t");
    nurs_template_add(&t, "octetDeltaCount", 4, err, sizeof err);
    nurs_template_add(&t, "packetDeltaCount", 4, err, sizeof err);
    nurs_template_finish(&t, false, err, sizeof err);
    t.id = 257;
    struct nurs_export_conf conf = {.version = NURS_IPFIX, .domain = 1, .templates = &t,
                                    .n_templates = 1, .refresh_packets = 50,
                                    .refresh_ms = 3600000, .mtu = 1500, .queue_max = 1 << 20};
    nurs_template_init(&conf.stats, "stats");
    nurs_template_add(&conf.stats, "observationDomainId", 0, err, sizeof err);
    nurs_template_add(&conf.stats, "exportedFlowRecordTotalCount", 0, err, sizeof err);
    conf.stats.scope_n = 1;
    conf.stats.id = 256;
    nurs_template_init(&conf.reliability, "reliability");
    nurs_template_add(&conf.reliability, "exportingProcessId", 0, err, sizeof err);
    nurs_template_add(&conf.reliability, "notSentFlowTotalCount", 0, err, sizeof err);
    conf.reliability.scope_n = 1;
    conf.reliability.id = 258;

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct nurs_collector *c = nurs_collector_new(&loop, spec, &conf, false, err, sizeof err);
    tap_ok(c != NULL, "collector %s: %s", spec, c ? "open" : err);
    if (!c)
        return tap_done();

    /* 20000 records; a loop turn after every 7, 3, 1 or 50, so that turns
     * fall in the middle of messages as well as between them. */
    struct seen s = {0};
    static const int turns[] = {7, 3, 1, 50};
    long sent = 0;
    for (int i = 0; i < 20000; i++) {
        struct nurs_fvalue v[2] = {{.kind = NURS_FV_UINT, .u = (uint64_t)i},
                                   {.kind = NURS_FV_UINT, .u = 1}};
        nurs_collector_add(c, &t, NULL, NULL, v);
        sent += i;
        if (i % turns[(i / 1000) % 4] == 0)
            nurs_collector_send_batch(c);
        if (i % 500 == 0)
            drain(sink, &s);
    }
    nurs_collector_flush(c);
    drain(sink, &s);
    const struct nurs_collector_stats *st = nurs_collector_stats(c);
    tap_is_int(s.bad, 0, "every datagram is a whole message");
    tap_is_int(s.out_of_order, 0, "sequence numbers follow each other");
    tap_is_int(s.records, 20000, "every record arrived once");
    tap_ok(s.sum == sent, "with its own value (sum %ld, want %ld)", s.sum, sent);
    tap_is_int(s.messages, (long long)st->messages, "as many datagrams as the collector counts");
    tap_ok(s.templates_sets >= s.messages / 50 && s.templates_sets <= s.messages / 50 + 1,
           "templates again every 50 messages (%d sets in %d messages)", s.templates_sets,
           s.messages);
    tap_is_int((long long)st->lost_records, 0, "nothing counted lost");
    nurs_collector_close(c, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(sink);
    return tap_done();
}
