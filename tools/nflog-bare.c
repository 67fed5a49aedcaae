/* nflog-bare: the reference for the NFLOG benchmark. A plain
 * libnetfilter_log receiver (its callback API, as tools built on it work)
 * that writes every packet to a raw-IP pcap file through a buffered FILE,
 * with the settings nurs-lua uses by default: copy range 65535, 64 KiB
 * batches of up to 100 messages flushed after 10 ms, sequence numbers
 * (to count what the kernel lost), an 8 MiB receive buffer. With
 * THREADS, thread i (1..THREADS, each with its own handle, socket and
 * file) takes group GROUP+i-1 and writes FILE.i.
 *   nflog-bare GROUP FILE [RCVBUF_BYTES] [THREADS]
 * Runs until SIGINT/SIGTERM, then prints
 * "received R enobufs E lost L" on stdout (summed over the threads). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libnetfilter_log/libnetfilter_log.h>

#define MAX_THREADS 64

static volatile sig_atomic_t stop;

struct receiver {
    uint16_t group;
    char path[4096];
    int rcvbuf;
    FILE *out;
    unsigned long long received, lost, enobufs;
    uint32_t next_seq;
    int seen_seq;
    pthread_t thread;
};

static void on_signal(int sig) { (void)sig; stop = 1; }

static int on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfa,
                     void *data)
{
    (void)gh, (void)nfmsg;
    struct receiver *rx = data;
    char *payload;
    int len = nflog_get_payload(nfa, &payload);
    struct timeval tv;
    if (nflog_get_timestamp(nfa, &tv) < 0)
        gettimeofday(&tv, NULL);
    uint32_t seq;
    if (nflog_get_seq(nfa, &seq) == 0) {
        if (rx->seen_seq && seq != rx->next_seq)
            rx->lost += seq - rx->next_seq;
        rx->seen_seq = 1;
        rx->next_seq = seq + 1;
    }
    if (len < 0)
        len = 0;
    uint32_t rec[4] = {(uint32_t)tv.tv_sec, (uint32_t)tv.tv_usec, (uint32_t)len, (uint32_t)len};
    fwrite(rec, sizeof rec, 1, rx->out);
    fwrite(payload, 1, (size_t)len, rx->out);
    rx->received++;
    return 0;
}

static void *receive(void *arg)
{
    struct receiver *rx = arg;
    rx->out = fopen(rx->path, "w");
    if (!rx->out) {
        perror(rx->path);
        exit(1);
    }
    setvbuf(rx->out, NULL, _IOFBF, 256 << 10);
    uint32_t hdr[6] = {0xa1b2c3d4, 2 | 4 << 16, 0, 0, 262144, 101};
    fwrite(hdr, sizeof hdr, 1, rx->out);

    struct nflog_handle *h = nflog_open();
    struct nflog_g_handle *gh = h ? nflog_bind_group(h, rx->group) : NULL;
    if (!gh) {
        fprintf(stderr, "nflog-bare: cannot bind group %u\n", rx->group);
        exit(1);
    }
    nflog_set_mode(gh, NFULNL_COPY_PACKET, 0xffff);
    nflog_set_nlbufsiz(gh, 65536);
    nflog_set_qthresh(gh, 100);
    nflog_set_timeout(gh, 1);
    nflog_set_flags(gh, NFULNL_CFG_F_SEQ);
    nflog_callback_register(gh, on_packet, rx);
    fprintf(stderr, "nflog-bare: listening on group %u\n", rx->group);

    int fd = nflog_fd(h);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rx->rcvbuf, sizeof rx->rcvbuf) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rx->rcvbuf, sizeof rx->rcvbuf);
    char *buf = aligned_alloc(8, 256 << 10);
    while (!stop) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf, 256 << 10, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == ENOBUFS)
                rx->enobufs++;
            continue;
        }
        nflog_handle_packet(h, buf, (int)n);
    }
    free(buf);
    fflush(rx->out);
    fclose(rx->out);
    nflog_unbind_group(gh);
    nflog_close(h);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: nflog-bare GROUP FILE [RCVBUF_BYTES] [THREADS]\n");
        return 2;
    }
    uint16_t group = (uint16_t)atoi(argv[1]);
    int rcvbuf = argc > 3 ? atoi(argv[3]) : 8 << 20;
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "nflog-bare: 1 to %d threads\n", MAX_THREADS);
        return 2;
    }
    /* Signals go to the main thread, which only waits. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    static struct receiver rx[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        rx[i].group = (uint16_t)(group + i);
        rx[i].rcvbuf = rcvbuf;
        if (threads == 1)
            snprintf(rx[i].path, sizeof rx[i].path, "%s", argv[2]);
        else
            snprintf(rx[i].path, sizeof rx[i].path, "%s.%d", argv[2], i + 1);
        pthread_create(&rx[i].thread, NULL, receive, &rx[i]);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    unsigned long long received = 0, enobufs = 0, lost = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(rx[i].thread, NULL);
        received += rx[i].received;
        enobufs += rx[i].enobufs;
        lost += rx[i].lost;
    }
    printf("received %llu enobufs %llu lost %llu\n", received, enobufs, lost);
    return 0;
}
