#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

/* glibc's inet_ntop formats IPv4 with sprintf, a tenth of the JSON sink's
 * time; dotted quads are simple enough to write by hand. */
static void format_ipv4(const uint8_t *a, char *out)
{
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *out++ = (char)('0' + v / 100);
        if (v >= 10)
            *out++ = (char)('0' + v / 10 % 10);
        *out++ = (char)('0' + v % 10);
        *out++ = i < 3 ? '.' : '\0';
    }
}

bool nurs_addr_text(const void *raw, size_t n, char *buf, size_t len)
{
    if (n == 4 && len >= 16) {
        format_ipv4(raw, buf);
        return true;
    }
    if (n != 4 && n != 16)
        return false;
    /* inet_ntop reads bytes: any alignment will do. */
    return inet_ntop(n == 4 ? AF_INET : AF_INET6, raw, buf, (socklen_t)len) != NULL;
}

void nurs_sockaddr_text(const struct sockaddr_storage *sa, char *buf, size_t len)
{
    bool v6 = sa->ss_family == AF_INET6;
    const void *raw = v6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                         : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!nurs_addr_text(raw, v6 ? 16 : 4, buf, len))
        snprintf(buf, len, "?");
}
