/* udp-blast: sends UDP datagrams to a port on loopback (or HOST), from one
 * socket, with sendmmsg in batches, as fast as it can or at a set rate,
 * for a number of datagrams and/or a time; a socket bound to the port
 * never reads (accepted datagrams end there, without an ICMP error each).
 * Each payload starts with its sequence number (64 bits, host order).
 *   udp-blast [-c COUNT] [-t SECONDS] [-s SIZE] [-r PPS] [-h HOST] PORT
 * At least -c (<= 100000000) or -t (<= 60); SIZE 8..60000 (default 64);
 * PPS 0: flat out. Datagrams the kernel refuses (a queue's drop verdict:
 * EPERM, a full buffer) count as tried, not sent.
 * Prints "sent N seconds S". */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_SIZE 60000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: udp-blast [-c COUNT] [-t SECONDS] [-s SIZE] [-r PPS] [-h HOST] PORT\n");
    return 2;
}

int main(int argc, char **argv)
{
    long count = 0, size = 64;
    double secs = 0, pps = 0;
    const char *host = "127.0.0.1";
    int opt;
    while ((opt = getopt(argc, argv, "c:t:s:r:h:")) != -1) {
        switch (opt) {
        case 'c': count = atol(optarg); break;
        case 't': secs = atof(optarg); break;
        case 's': size = atol(optarg); break;
        case 'r': pps = atof(optarg); break;
        case 'h': host = optarg; break;
        default: return usage();
        }
    }
    if (optind != argc - 1)
        return usage();
    int port = atoi(argv[optind]);
    if ((count <= 0 && secs <= 0) || count > 100000000 || secs > 60 || size < 8 ||
        size > MAX_SIZE || port <= 0 || port > 65535 || pps < 0) {
        fprintf(stderr, "udp-blast: -c 1..100000000 and/or -t (0, 60], -s 8..60000, PORT\n");
        return 2;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
        fprintf(stderr, "udp-blast: %s is not an IPv4 address\n", host);
        return 2;
    }
    int sink = socket(AF_INET, SOCK_DGRAM, 0), fd = socket(AF_INET, SOCK_DGRAM, 0);
    int small = 4096;
    setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* Several blasters (one per CPU) may share the port. */
    int one = 1;
    setsockopt(sink, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (sink < 0 || fd < 0 || bind(sink, (struct sockaddr *)&dst, sizeof dst) < 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        perror("udp-blast");
        return 1;
    }
    static char payload[BATCH][MAX_SIZE];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        memset(payload[i], 'b', (size_t)size);
        iov[i] = (struct iovec){payload[i], (size_t)size};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    long tried = 0, sent = 0;
    double start = now(), end = secs > 0 ? start + secs : 0;
    while ((count <= 0 || tried < count) && (end <= 0 || now() < end)) {
        int k = count > 0 && count - tried < BATCH ? (int)(count - tried) : BATCH;
        for (int i = 0; i < k; i++) {
            uint64_t seq = (uint64_t)(tried + i);
            memcpy(payload[i], &seq, sizeof seq);
        }
        int r = sendmmsg(fd, msgs, (unsigned)k, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EPERM) {
            perror("udp-blast: sendmmsg");
            return 1;
        }
        /* A refused datagram ends the batch: it was tried, the rest goes again. */
        tried += r < 0 ? 1 : r;
        sent += r < 0 ? 0 : r;
        if (pps > 0) {
            double due = start + (double)tried / pps - now();
            if (due > 0)
                usleep((useconds_t)(due * 1e6));
        }
    }
    printf("sent %ld seconds %.3f\n", sent, now() - start);
    close(fd);
    close(sink);
    return 0;
}
