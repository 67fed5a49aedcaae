/* nfq-bare: the reference NFQUEUE receiver for benchmarks, a plain C
 * program on libnetfilter_queue's documented callback API, accepting
 * every packet: one verdict per packet, or (batch) one batch verdict per
 * read burst. It counts the packets decided during WINDOW seconds from the
 * first one and prints "packets P seconds S rate R".
 *   nfq-bare QUEUE WINDOW [batch]
 * Exits after the window, or on SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

static volatile sig_atomic_t stop;
static unsigned long long decided;
static uint32_t last_id;
static bool batch;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *nfmsg, struct nfq_data *nfa,
                     void *data)
{
    (void)nfmsg;
    (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    last_id = ntohl(ph->packet_id);
    decided++;
    if (!batch)
        return nfq_set_verdict(qh, last_id, NF_ACCEPT, 0, NULL);
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: nfq-bare QUEUE WINDOW [batch]\n");
        return 2;
    }
    int queue = atoi(argv[1]);
    double window = atof(argv[2]);
    batch = argc > 3 && strcmp(argv[3], "batch") == 0;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    struct nfq_handle *h = nfq_open();
    if (!h) {
        perror("nfq_open");
        return 1;
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
    if (!qh) {
        perror("nfq_create_queue");
        return 1;
    }
    nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff);
    int fd = nfq_fd(h);
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    fprintf(stderr, "nfq-bare: bound to queue %d (%s verdicts)\n", queue,
            batch ? "batch" : "single");

    static char buf[0xffff + 4096] __attribute__((aligned(4)));
    double first = 0, end = 0;
    while (!stop) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
                continue;
            perror("recv");
            break;
        }
        nfq_handle_packet(h, buf, (int)n);
        if (batch) {
            /* Whatever else is waiting, then one verdict for all of it. */
            while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
                nfq_handle_packet(h, buf, (int)n);
            nfq_set_verdict_batch(qh, last_id, NF_ACCEPT);
        }
        if (first == 0 && decided) {
            first = now();
            end = first + window;
        }
        if (first && now() >= end)
            break;
    }
    double secs = first ? now() - first : 0;
    printf("packets %llu seconds %.3f rate %.0f\n", decided, secs, secs > 0 ? decided / secs : 0);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}
