/* Crafting IPv4/IPv6/TCP/UDP/ICMP packets for the packet view tests.
 * Each writer puts one header at b and returns its length; lengths and
 * next-header values are the caller's to get right (or wrong, on purpose). */
#ifndef NURS_TEST_PKT_BUILD_H
#define NURS_TEST_PKT_BUILD_H

#include <stddef.h>
#include <stdint.h>

void pb_put16(uint8_t *b, uint16_t v);
void pb_put32(uint8_t *b, uint32_t v);

/* IPv4: total length = ihl_words * 4 + l4len; frag = flags|offset word. */
size_t pb_ipv4(uint8_t *b, uint8_t proto, const char *src, const char *dst, size_t l4len,
               uint16_t id, uint16_t frag, uint8_t ihl_words);
/* IPv6 fixed header; payload_len as given. */
size_t pb_ipv6(uint8_t *b, uint8_t nh, const char *src, const char *dst, uint16_t payload_len);
/* An IPv6 options-style extension header (hop-by-hop, routing, dstopts)
 * of (len8 + 1) * 8 bytes. */
size_t pb_ext(uint8_t *b, uint8_t nh, uint8_t len8);
size_t pb_ah(uint8_t *b, uint8_t nh, uint8_t len4); /* (len4 + 2) * 4 bytes */
size_t pb_frag6(uint8_t *b, uint8_t nh, uint16_t offset_bytes, int more, uint32_t id);
/* TCP with optlen (multiple of 4) bytes of NOP options. flags: 9 bits. */
size_t pb_tcp(uint8_t *b, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
              uint16_t flags, uint16_t window, size_t optlen);
size_t pb_udp(uint8_t *b, uint16_t sport, uint16_t dport, uint16_t len);
size_t pb_icmp(uint8_t *b, uint8_t type, uint8_t code, uint16_t id, uint16_t seq);

#endif
