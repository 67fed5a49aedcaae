/* Zero-copy views of an IPv4 or IPv6 packet as NFLOG and NFQUEUE deliver
 * it: starting at the network header, possibly cut short by a copy range.
 * nurs_pkt_parse() walks the headers once (IPv6 extension headers
 * included) and records offsets; every accessor then reads its bytes in
 * place, checked against what was captured. A field whose bytes were not
 * captured reads as absent (false), never out of bounds. Nothing here
 * allocates, nothing keeps the data beyond the view. */
#ifndef NURS_NETLINK_PACKET_H
#define NURS_NETLINK_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the caller knows of the network layer before looking at it. */
enum nurs_pkt_l3 {
    NURS_PKT_L3_ANY,  /* trust the version nibble */
    NURS_PKT_L3_IPV4, /* e.g. the hardware protocol said 0x0800 */
    NURS_PKT_L3_IPV6,
    NURS_PKT_L3_NONE, /* not IP (ARP...): no view at all */
};

/* IPv6 extension headers walked at most; a longer chain reads as having
 * no upper-layer protocol (and no L4 view). */
#define NURS_PKT_MAX_EXTHDRS 16

struct nurs_pkt {
    const uint8_t *data;
    uint32_t caplen;   /* bytes captured */
    uint32_t end;      /* reads stop here: caplen, or the IP length if shorter */
    uint8_t version;   /* 4 or 6; 0 when not IP */
    bool l3;           /* the fixed IP header is captured and sane */
    bool has_proto;    /* the upper-layer protocol is known */
    bool has_l4;       /* an L4 header starts at l4_off (not a later fragment) */
    bool fragment;     /* IPv4 MF or offset, or an IPv6 fragment header */
    bool frag_more;
    uint8_t proto;
    uint32_t ip_len;   /* total length the IP header claims; 0: unknown */
    uint32_t l4_off;   /* IP header plus extension headers */
    uint32_t frag_offset; /* bytes */
    uint32_t frag_id;
};

/* Parses the headers of the len bytes at data. Always succeeds: what
 * cannot be read is simply absent from the view. */
void nurs_pkt_parse(struct nurs_pkt *p, const void *data, size_t len, enum nurs_pkt_l3 hint);

/* Network layer. Addresses: 4 or 16 bytes, pointer into the packet. */
size_t nurs_pkt_addr(const struct nurs_pkt *p, bool dst, const uint8_t **bytes);
bool nurs_pkt_ttl(const struct nurs_pkt *p, uint8_t *v);   /* IPv6: hop limit */
bool nurs_pkt_tos(const struct nurs_pkt *p, uint8_t *v);   /* IPv6: traffic class */
bool nurs_pkt_flowlabel(const struct nurs_pkt *p, uint32_t *v); /* IPv6 only */
bool nurs_pkt_ip_id(const struct nurs_pkt *p, uint16_t *v);     /* IPv4 only */
bool nurs_pkt_df(const struct nurs_pkt *p, bool *v);            /* IPv4 only */
bool nurs_pkt_protonum(const struct nurs_pkt *p, uint8_t *v);

/* Transport layer; false when the packet is not of that protocol, is a
 * later fragment, or the bytes were not captured. Ports: TCP, UDP,
 * UDP-Lite, SCTP, DCCP. */
bool nurs_pkt_ports(const struct nurs_pkt *p, uint16_t *sport, uint16_t *dport);
bool nurs_pkt_tcp_seq(const struct nurs_pkt *p, uint32_t *v);
bool nurs_pkt_tcp_ack(const struct nurs_pkt *p, uint32_t *v);
/* Flag bits as the header carries them: FIN 0x01 ... CWR 0x80, AE 0x100. */
bool nurs_pkt_tcp_flags(const struct nurs_pkt *p, uint16_t *v);
bool nurs_pkt_tcp_window(const struct nurs_pkt *p, uint16_t *v);
bool nurs_pkt_tcp_hdrlen(const struct nurs_pkt *p, uint8_t *v);
bool nurs_pkt_udp_len(const struct nurs_pkt *p, uint16_t *v);
/* ICMP or ICMPv6 */
bool nurs_pkt_icmp(const struct nurs_pkt *p, uint8_t *type, uint8_t *code);
/* Echo request/reply (and ICMP's timestamp, information, mask ones). */
bool nurs_pkt_icmp_echo(const struct nurs_pkt *p, uint16_t *id, uint16_t *seq);

/* The transport payload: after the TCP header (options included), the
 * 8 bytes of a UDP or ICMP header, or the whole L4 part of a protocol not
 * parsed here. *offset is from the start of the packet, *len what the
 * headers claim; nurs_pkt_payload() gives the bytes actually captured
 * (possibly fewer). False when there is no L4 view. */
bool nurs_pkt_payload_span(const struct nurs_pkt *p, uint32_t *offset, uint32_t *len);
bool nurs_pkt_payload(const struct nurs_pkt *p, const uint8_t **bytes, size_t *len);

/* Writes "S.", "FP.", "none"... as tcpdump prints TCP flags; buf >= 10. */
size_t nurs_pkt_tcp_flags_text(uint16_t flags, char *buf);

#endif
