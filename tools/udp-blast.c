/* udp-blast: sends UDP datagrams to 127.0.0.1:PORT as fast as it can for
 * SECONDS (at most 60), from one socket, and keeps a socket bound to PORT
 * that never reads (accepted datagrams end there, without ICMP errors).
 *   udp-blast PORT SECONDS [SIZE]     (payload SIZE bytes, default 64)
 * Prints "sent N seconds S". */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: udp-blast PORT SECONDS [SIZE]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    double secs = atof(argv[2]);
    size_t size = argc > 3 ? (size_t)atoi(argv[3]) : 64;
    if (secs <= 0 || secs > 60 || size > 60000) {
        fprintf(stderr, "udp-blast: SECONDS in (0, 60], SIZE <= 60000\n");
        return 2;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int sink = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(sink, (struct sockaddr *)&dst, sizeof dst) < 0) {
        perror("bind");
        return 1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    char *payload = calloc(1, size ? size : 1);
    unsigned long long sent = 0;
    double start = now(), end = start + secs;
    while (now() < end) {
        for (int i = 0; i < 64; i++) {
            if (sendto(fd, payload, size, 0, (struct sockaddr *)&dst, sizeof dst) >= 0)
                sent++;
            else if (errno != ENOBUFS && errno != EAGAIN && errno != EPERM)
                perror("sendto");
        }
    }
    printf("sent %llu seconds %.3f\n", sent, now() - start);
    free(payload);
    close(fd);
    close(sink);
    return 0;
}
