/* nfq-bare: the reference NFQUEUE receiver for benchmarks, a plain C
 * program on libnetfilter_queue's documented callback API, accepting
 * every packet: one verdict per packet, or (batch) one batch verdict per
 * read burst. With THREADS, thread i (each with its own handle, socket
 * and buffer, as Suricata runs one thread per queue) takes queue QUEUE+i.
 * It counts the packets decided during WINDOW seconds from the first one
 * and prints "packets P seconds S rate R".
 *   nfq-bare QUEUE WINDOW [single|batch] [THREADS]
 * Exits after the window, or on SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define MAX_THREADS 64

static volatile sig_atomic_t stop;
static atomic_ullong decided;
static _Atomic double first; /* when the first packet was decided */
static double window;
static bool batch;

struct receiver {
    int queue;
    uint32_t last_id;
    unsigned long long decided;
    pthread_t thread;
};

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
    struct receiver *rx = data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    rx->last_id = ntohl(ph->packet_id);
    rx->decided++;
    if (!batch)
        return nfq_set_verdict(qh, rx->last_id, NF_ACCEPT, 0, NULL);
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* One queue, one thread: bound, then read until the window ends. */
static void *receive(void *arg)
{
    struct receiver *rx = arg;
    struct nfq_handle *h = nfq_open();
    if (!h) {
        perror("nfq_open");
        exit(1);
    }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)rx->queue, on_packet, rx);
    if (!qh) {
        perror("nfq_create_queue");
        exit(1);
    }
    nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xffff);
    int fd = nfq_fd(h);
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    fprintf(stderr, "nfq-bare: bound to queue %d (%s verdicts)\n", rx->queue,
            batch ? "batch" : "single");

    char *buf = aligned_alloc(8, 0x10000 + 4096);
    unsigned long long counted = 0;
    while (!stop) {
        ssize_t n = recv(fd, buf, 0x10000 + 4096, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
                continue;
            perror("recv");
            break;
        }
        nfq_handle_packet(h, buf, (int)n);
        if (batch) {
            /* Whatever else is waiting, then one verdict for all of it. */
            while ((n = recv(fd, buf, 0x10000 + 4096, MSG_DONTWAIT)) > 0)
                nfq_handle_packet(h, buf, (int)n);
            nfq_set_verdict_batch(qh, rx->last_id, NF_ACCEPT);
        }
        /* Counted once the window has begun (the first packet, any thread). */
        double t0 = atomic_load(&first), now_s = now();
        if (t0 == 0 && rx->decided) {
            double zero = 0;
            atomic_compare_exchange_strong(&first, &zero, now_s);
            t0 = atomic_load(&first);
        }
        if (t0 && now_s < t0 + window) {
            atomic_fetch_add(&decided, rx->decided - counted);
            counted = rx->decided;
        }
        if (t0 && now_s >= t0 + window)
            break;
    }
    free(buf);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: nfq-bare QUEUE WINDOW [single|batch] [THREADS]\n");
        return 2;
    }
    int queue = atoi(argv[1]);
    window = atof(argv[2]);
    batch = argc > 3 && strcmp(argv[3], "batch") == 0;
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "nfq-bare: 1 to %d threads\n", MAX_THREADS);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    static struct receiver rx[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        rx[i].queue = queue + i;
        pthread_create(&rx[i].thread, NULL, receive, &rx[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(rx[i].thread, NULL);
    double t0 = atomic_load(&first);
    double secs = t0 ? now() - t0 : 0;
    if (secs > window)
        secs = window;
    unsigned long long n = atomic_load(&decided);
    printf("packets %llu seconds %.3f rate %.0f\n", n, secs, secs > 0 ? n / secs : 0);
    return 0;
}
