#include "pkt_build.h"

#include <arpa/inet.h>
#include <string.h>

void pb_put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

void pb_put32(uint8_t *b, uint32_t v)
{
    pb_put16(b, (uint16_t)(v >> 16));
    pb_put16(b + 2, (uint16_t)v);
}

size_t pb_ipv4(uint8_t *b, uint8_t proto, const char *src, const char *dst, size_t l4len,
               uint16_t id, uint16_t frag, uint8_t ihl_words)
{
    size_t hl = (size_t)ihl_words * 4;
    memset(b, 0, hl < 20 ? 20 : hl);
    b[0] = (uint8_t)(0x40 | (ihl_words & 0x0f));
    b[1] = 0x10;
    pb_put16(b + 2, (uint16_t)(hl + l4len));
    pb_put16(b + 4, id);
    pb_put16(b + 6, frag);
    b[8] = 64;
    b[9] = proto;
    inet_pton(AF_INET, src, b + 12);
    inet_pton(AF_INET, dst, b + 16);
    for (size_t i = 20; i < hl; i++)
        b[i] = 1; /* NOP options */
    return hl;
}

size_t pb_ipv6(uint8_t *b, uint8_t nh, const char *src, const char *dst, uint16_t payload_len)
{
    memset(b, 0, 40);
    /* version 6, traffic class 0xb8, flow label 0x12345 */
    pb_put32(b, 6u << 28 | 0xb8u << 20 | 0x12345u);
    pb_put16(b + 4, payload_len);
    b[6] = nh;
    b[7] = 255;
    inet_pton(AF_INET6, src, b + 8);
    inet_pton(AF_INET6, dst, b + 24);
    return 40;
}

size_t pb_ext(uint8_t *b, uint8_t nh, uint8_t len8)
{
    size_t n = ((size_t)len8 + 1) * 8;
    memset(b, 0, n);
    b[0] = nh;
    b[1] = len8;
    b[2] = 1; /* PadN */
    b[3] = (uint8_t)(n - 4);
    return n;
}

size_t pb_ah(uint8_t *b, uint8_t nh, uint8_t len4)
{
    size_t n = ((size_t)len4 + 2) * 4;
    memset(b, 0xaa, n);
    b[0] = nh;
    b[1] = len4;
    return n;
}

size_t pb_frag6(uint8_t *b, uint8_t nh, uint16_t offset_bytes, int more, uint32_t id)
{
    b[0] = nh;
    b[1] = 0;
    pb_put16(b + 2, (uint16_t)((offset_bytes & 0xfff8) | (more ? 1 : 0)));
    pb_put32(b + 4, id);
    return 8;
}

size_t pb_tcp(uint8_t *b, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
              uint16_t flags, uint16_t window, size_t optlen)
{
    size_t hl = 20 + optlen;
    memset(b, 0, hl);
    pb_put16(b, sport);
    pb_put16(b + 2, dport);
    pb_put32(b + 4, seq);
    pb_put32(b + 8, ack);
    pb_put16(b + 12, (uint16_t)((hl / 4) << 12 | (flags & 0x1ff)));
    pb_put16(b + 14, window);
    for (size_t i = 20; i < hl; i++)
        b[i] = 1;
    return hl;
}

size_t pb_udp(uint8_t *b, uint16_t sport, uint16_t dport, uint16_t len)
{
    memset(b, 0, 8);
    pb_put16(b, sport);
    pb_put16(b + 2, dport);
    pb_put16(b + 4, len);
    return 8;
}

size_t pb_icmp(uint8_t *b, uint8_t type, uint8_t code, uint16_t id, uint16_t seq)
{
    memset(b, 0, 8);
    b[0] = type;
    b[1] = code;
    pb_put16(b + 4, id);
    pb_put16(b + 6, seq);
    return 8;
}
