/* nflog-bare: the reference for the NFLOG benchmark. A plain
 * libnetfilter_log receiver (its callback API, as tools built on it work)
 * that writes every packet to a raw-IP pcap file through a buffered FILE,
 * with the settings nurs-lua uses by default: copy range 65535, 64 KiB
 * batches of up to 100 messages flushed after 10 ms, sequence numbers
 * (to count what the kernel lost), an 8 MiB receive buffer.
 *   nflog-bare GROUP FILE [RCVBUF_BYTES]
 * Runs until SIGINT/SIGTERM, then prints
 * "received R enobufs E lost L" on stdout. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libnetfilter_log/libnetfilter_log.h>

static volatile sig_atomic_t stop;
static FILE *out;
static unsigned long long received, lost;
static uint32_t next_seq;
static int seen_seq;

static void on_signal(int sig) { (void)sig; stop = 1; }

static int on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfa,
                     void *data)
{
    (void)gh, (void)nfmsg, (void)data;
    char *payload;
    int len = nflog_get_payload(nfa, &payload);
    struct timeval tv;
    if (nflog_get_timestamp(nfa, &tv) < 0)
        gettimeofday(&tv, NULL);
    uint32_t seq;
    if (nflog_get_seq(nfa, &seq) == 0) {
        if (seen_seq && seq != next_seq)
            lost += seq - next_seq;
        seen_seq = 1;
        next_seq = seq + 1;
    }
    if (len < 0)
        len = 0;
    uint32_t rec[4] = {(uint32_t)tv.tv_sec, (uint32_t)tv.tv_usec, (uint32_t)len, (uint32_t)len};
    fwrite(rec, sizeof rec, 1, out);
    fwrite(payload, 1, (size_t)len, out);
    received++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: nflog-bare GROUP FILE [RCVBUF_BYTES]\n");
        return 2;
    }
    uint16_t group = (uint16_t)atoi(argv[1]);
    int rcvbuf = argc > 3 ? atoi(argv[3]) : 8 << 20;
    out = fopen(argv[2], "w");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    setvbuf(out, NULL, _IOFBF, 256 << 10);
    uint32_t hdr[6] = {0xa1b2c3d4, 2 | 4 << 16, 0, 0, 262144, 101};
    fwrite(hdr, sizeof hdr, 1, out);

    struct nflog_handle *h = nflog_open();
    struct nflog_g_handle *gh = h ? nflog_bind_group(h, group) : NULL;
    if (!gh) {
        fprintf(stderr, "nflog-bare: cannot bind group %u\n", group);
        return 1;
    }
    nflog_set_mode(gh, NFULNL_COPY_PACKET, 0xffff);
    nflog_set_nlbufsiz(gh, 65536);
    nflog_set_qthresh(gh, 100);
    nflog_set_timeout(gh, 1);
    nflog_set_flags(gh, NFULNL_CFG_F_SEQ);
    nflog_callback_register(gh, on_packet, NULL);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    fprintf(stderr, "nflog-bare: listening on group %u\n", group);

    int fd = nflog_fd(h);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    static char buf[256 << 10] __attribute__((aligned(8)));
    unsigned long long enobufs = 0;
    while (!stop) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS)
                enobufs++;
            continue;
        }
        nflog_handle_packet(h, buf, (int)n);
    }
    fflush(out);
    fclose(out);
    nflog_unbind_group(gh);
    nflog_close(h);
    printf("received %llu enobufs %llu lost %llu\n", received, enobufs, lost);
    return 0;
}
