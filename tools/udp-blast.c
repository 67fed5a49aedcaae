/* udp-blast: sends N UDP datagrams of SIZE bytes to a port on loopback,
 * with sendmmsg in batches, as fast as possible or at PPS packets a second;
 * each payload starts with its sequence number. A socket bound to the
 * port swallows them (no ICMP unreachable per packet). For NFLOG floods in
 * a namespace.
 *   udp-blast N SIZE [PORT] [PPS] [HOST]   (N <= 100000000, SIZE 8..65000)
 * Prints "sent S seconds T" on stdout. */
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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: udp-blast N SIZE [PORT] [PPS] [HOST]\n");
        return 2;
    }
    long n = atol(argv[1]), size = atol(argv[2]);
    int port = argc > 3 ? atoi(argv[3]) : 30000;
    double pps = argc > 4 ? atof(argv[4]) : 0;
    const char *host = argc > 5 ? argv[5] : "127.0.0.1";
    if (n <= 0 || n > 100000000 || size < 8 || size > 65000 || port <= 0 || port > 65535) {
        fprintf(stderr, "udp-blast: bad arguments\n");
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
    if (sink < 0 || fd < 0 || bind(sink, (struct sockaddr *)&dst, sizeof dst) < 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
        perror("udp-blast");
        return 1;
    }
    static char payload[BATCH][65000];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        memset(payload[i], 'b', (size_t)size);
        iov[i] = (struct iovec){payload[i], (size_t)size};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    long sent = 0;
    double start = now();
    while (sent < n) {
        int k = n - sent < BATCH ? (int)(n - sent) : BATCH;
        for (int i = 0; i < k; i++) {
            uint64_t seq = (uint64_t)(sent + i);
            memcpy(payload[i], &seq, sizeof seq);
        }
        int r = sendmmsg(fd, msgs, (unsigned)k, 0);
        if (r < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
                continue;
            perror("udp-blast: sendmmsg");
            return 1;
        }
        sent += r;
        if (pps > 0) {
            double due = start + (double)sent / pps - now();
            if (due > 0)
                usleep((useconds_t)(due * 1e6));
        }
    }
    printf("sent %ld seconds %.3f\n", sent, now() - start);
    return 0;
}
