/* The pcap file format for packets: the global header and one packet
 * record (header and data), as LINKTYPE_RAW (the IP packet) or
 * LINKTYPE_NFLOG (NFLOG's own attributes, which keep the prefix, uid,
 * interfaces... and which Wireshark and tshark decode). Pure encoding: no
 * I/O, nothing allocated. */
#ifndef NURS_CORE_PCAP_FMT_H
#define NURS_CORE_PCAP_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NURS_LINKTYPE_RAW 101
#define NURS_LINKTYPE_NFLOG 239
#define NURS_PCAP_FILE_HDR 24
#define NURS_PCAP_REC_HDR 16
/* libpcap refuses records larger than this. */
#define NURS_PCAP_MAX_RECORD 262144

#define NURS_PCAP_MAGIC_US 0xa1b2c3d4u
#define NURS_PCAP_MAGIC_NS 0xa1b23c4du

/* As they lie in a file written on this host. */
struct nurs_pcap_file_header {
    uint32_t magic;
    uint16_t major, minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct nurs_pcap_record_header {
    uint32_t sec, frac, caplen, len;
};

struct nurs_pcap_format {
    uint32_t linktype; /* NURS_LINKTYPE_RAW or _NFLOG */
    uint32_t snaplen;  /* bytes of each packet kept */
    bool nanos;        /* nanosecond timestamps (else microseconds) */
};

/* A packet to write, with what LINKTYPE_NFLOG keeps beside it. */
struct nurs_pcap_in {
    uint64_t ts_ns;
    const uint8_t *pkt; /* from the network header on */
    size_t len;         /* bytes at pkt */
    size_t origlen;     /* the packet's length on the wire (>= len) */
    /* LINKTYPE_NFLOG: the message's attributes (netlink TLVs, the payload
     * among them, replaced by pkt), family and group; attrs NULL when the
     * packet did not come from NFLOG. */
    const uint8_t *attrs;
    size_t attrs_len;
    uint8_t family; /* NFPROTO_IPV4, _IPV6... */
    uint16_t group;
};

/* The file header announces the largest record libpcap accepts, whatever
 * the snap length: NFLOG's attributes come on top of the packet, and a
 * file stays appendable when a reload changes the snap length. */
void nurs_pcap_file_header(const struct nurs_pcap_format *f, uint8_t out[NURS_PCAP_FILE_HDR]);
/* True if the 24 bytes at hdr are a file header of format f (link type,
 * precision) written on this host, so that records can be appended. */
bool nurs_pcap_file_header_matches(const struct nurs_pcap_format *f, const uint8_t *hdr);

/* Encodes one record (header + data) into out; returns its length, 0 if
 * it needs more than cap bytes. */
size_t nurs_pcap_encode(const struct nurs_pcap_format *f, const struct nurs_pcap_in *in,
                        uint8_t *out, size_t cap);
/* The timestamp (ns) and total length of an encoded record. */
uint64_t nurs_pcap_record_ts(const struct nurs_pcap_format *f, const uint8_t *rec);
size_t nurs_pcap_record_len(const uint8_t *rec);

#endif
