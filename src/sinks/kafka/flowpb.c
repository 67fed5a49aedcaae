#include "sinks/kafka/flowpb.h"

#include <stdlib.h>
#include <string.h>

#include "netlink/packet.h"
#include "nurs_flow.pb-c.h"

typedef Nurs__Flow__FlowMessage flow_msg;

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p = (uint8_t)v;
}

/* Every field but the strings and bytes fits here: tags of at most 2
 * bytes, varints of at most 10, some 60 fields. */
#define FIXED_BOUND 768

/* msg packed into buf, after its varint length when asked. `bound` is at
 * least its packed size (so that one pass is enough: protobuf-c's own
 * size pass costs as much as the packing). Returns the length, or, when
 * cap is short, the room to retry with. */
static size_t pack(const flow_msg *msg, size_t bound, bool length_prefix, uint8_t *buf,
                   size_t cap)
{
    size_t room = length_prefix ? varint_len(bound) : 0;
    if (room + bound > cap)
        return room + bound;
    size_t n = nurs__flow__flow_message__pack(msg, buf + room);
    if (!length_prefix)
        return n;
    size_t prefix = varint_len(n);
    if (prefix < room)
        memmove(buf + prefix, buf + room, n);
    put_varint(buf, n);
    return prefix + n;
}

static size_t text_bound(const struct nurs_proc *p)
{
    if (!p)
        return 0;
    const char *const s[] = {p->name, p->user, p->unit, p->container, p->cmdline, p->cgroup};
    size_t n = 0;
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        n += s[i] ? strlen(s[i]) + 8 : 0; /* tag and length */
    return n;
}

static ProtobufCBinaryData addr(const uint8_t a[16], uint64_t ip_version)
{
    return (ProtobufCBinaryData){.len = ip_version == 4 ? 4 : 16, .data = (uint8_t *)a};
}

/* protobuf-c wants char *; the strings are only read. */
static char *text(const char *s) { return s ? (char *)s : (char *)protobuf_c_empty_string; }

static void set_process(const struct nurs_proc *p, protobuf_c_boolean *attributed, uint32_t *pid,
                        char **name, uint32_t *uid, char **user, char **unit, char **container,
                        char **cmdline, char **cgroup)
{
    if (!p)
        return;
    *attributed = 1;
    *pid = p->pid;
    *uid = p->uid;
    *name = text(p->name);
    *user = text(p->user);
    *unit = text(p->unit);
    *container = text(p->container);
    *cmdline = text(p->cmdline);
    *cgroup = text(p->cgroup);
}

size_t nurs_flowpb_encode(const struct nurs_flow *f, const struct nurs_flow *rev,
                          const struct nurs_flowpb_meta *meta, uint8_t *buf, size_t cap)
{
    flow_msg m = NURS__FLOW__FLOW_MESSAGE__INIT;
    m.type = NURS__FLOW__FLOW_MESSAGE__FLOW_TYPE__IPFIX;
    m.sampling_rate = 1;
    m.sequence_num = meta->sequence_num;
    m.src_addr = addr(f->src, f->ip_version);
    m.dst_addr = addr(f->dst, f->ip_version);
    m.bytes = f->octets;
    m.packets = f->packets;
    if (meta->sampler_address)
        m.sampler_address = (ProtobufCBinaryData){.len = meta->sampler_address_len,
                                                  .data = (uint8_t *)meta->sampler_address};
    m.in_if = (uint32_t)f->in_if;
    m.out_if = (uint32_t)f->out_if;
    m.proto = (uint32_t)f->proto;
    m.src_port = (uint32_t)f->sport;
    m.dst_port = (uint32_t)f->dport;
    m.etype = f->ip_version == 4 ? 0x0800 : 0x86dd;
    if (f->icmp) {
        m.icmp_type = f->icmp_type;
        m.icmp_code = f->icmp_code;
    }
    m.observation_domain_id = meta->domain;
    m.time_received_ns = meta->time_received_ns;
    m.time_flow_start_ns = f->start_ns;
    m.time_flow_end_ns = f->end_ns;
    m.flow_end_reason = (uint32_t)f->end_reason;
    m.ct_id = (uint32_t)f->flow_id;
    m.ct_mark = (uint32_t)f->mark;
    m.ct_zone = meta->zone;
    m.ct_direction = (uint32_t)f->biflow_direction;
    if (f->nat) {
        m.post_nat_src_addr = addr(f->post_src, f->ip_version);
        m.post_nat_dst_addr = addr(f->post_dst, f->ip_version);
        m.post_nat_src_port = (uint32_t)f->post_sport;
        m.post_nat_dst_port = (uint32_t)f->post_dport;
    }
    if (rev) {
        m.reverse_bytes = rev->octets;
        m.reverse_packets = rev->packets;
    }
    set_process(f->src_proc, &m.src_attributed, &m.src_pid, &m.src_process, &m.src_uid,
                &m.src_user, &m.src_unit, &m.src_container, &m.src_cmdline, &m.src_cgroup);
    set_process(f->dst_proc, &m.dst_attributed, &m.dst_pid, &m.dst_process, &m.dst_uid,
                &m.dst_user, &m.dst_unit, &m.dst_container, &m.dst_cmdline, &m.dst_cgroup);
    size_t bound = FIXED_BOUND + meta->sampler_address_len + text_bound(f->src_proc) +
                   text_bound(f->dst_proc);
    return pack(&m, bound, meta->length_prefix, buf, cap);
}

const struct ProtobufCMessageDescriptor *nurs_flowpb_descriptor(void)
{
    return &nurs__flow__flow_message__descriptor;
}

/* ---- messages from named values ---- */

struct nurs_flowpb_values {
    flow_msg m;
};

struct nurs_flowpb_values *nurs_flowpb_values_new(void)
{
    struct nurs_flowpb_values *v = malloc(sizeof *v);
    if (v)
        nurs_flowpb_values_clear(v);
    return v;
}

void nurs_flowpb_values_free(struct nurs_flowpb_values *v) { free(v); }

void nurs_flowpb_values_clear(struct nurs_flowpb_values *v)
{
    v->m = (flow_msg)NURS__FLOW__FLOW_MESSAGE__INIT;
}

static const ProtobufCFieldDescriptor *field(const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(
        &nurs__flow__flow_message__descriptor, name);
}

enum nurs_flowpb_kind nurs_flowpb_field_kind(const char *name)
{
    const ProtobufCFieldDescriptor *fd = field(name);
    if (!fd)
        return NURS_FLOWPB_UNKNOWN;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_UINT64:
        return NURS_FLOWPB_UINT;
    case PROTOBUF_C_TYPE_BOOL:
        return NURS_FLOWPB_BOOL;
    case PROTOBUF_C_TYPE_ENUM:
        return NURS_FLOWPB_ENUM;
    case PROTOBUF_C_TYPE_STRING:
        return NURS_FLOWPB_STRING;
    case PROTOBUF_C_TYPE_BYTES:
        return NURS_FLOWPB_BYTES;
    default:
        return NURS_FLOWPB_UNKNOWN;
    }
}

static void *member(struct nurs_flowpb_values *v, const ProtobufCFieldDescriptor *fd)
{
    return (char *)&v->m + fd->offset;
}

bool nurs_flowpb_values_set_uint(struct nurs_flowpb_values *v, const char *name, uint64_t x)
{
    const ProtobufCFieldDescriptor *fd = field(name);
    if (!fd)
        return false;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_UINT32:
        if (x > UINT32_MAX)
            return false;
        *(uint32_t *)member(v, fd) = (uint32_t)x;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
        *(uint64_t *)member(v, fd) = x;
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)member(v, fd) = x != 0;
        return true;
    case PROTOBUF_C_TYPE_ENUM:
        if (x > 0x7fffffff || !protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)x))
            return false;
        *(int *)member(v, fd) = (int)x;
        return true;
    default:
        return false;
    }
}

/* For string fields, p must be NUL-terminated at len. */
bool nurs_flowpb_values_set_bytes(struct nurs_flowpb_values *v, const char *name, const void *p,
                                  size_t len)
{
    const ProtobufCFieldDescriptor *fd = field(name);
    if (!fd)
        return false;
    if (fd->type == PROTOBUF_C_TYPE_BYTES) {
        *(ProtobufCBinaryData *)member(v, fd) =
            (ProtobufCBinaryData){.len = len, .data = (uint8_t *)p};
        return true;
    }
    if (fd->type == PROTOBUF_C_TYPE_STRING && ((const char *)p)[len] == '\0') {
        *(char **)member(v, fd) = (char *)p;
        return true;
    }
    return false;
}

void nurs_flowpb_values_from_pkt(struct nurs_flowpb_values *v, const struct nurs_pkt *p)
{
    flow_msg *m = &v->m;
    if (!p->l3)
        return;
    const uint8_t *a;
    size_t n = nurs_pkt_addr(p, false, &a);
    m->src_addr = (ProtobufCBinaryData){.len = n, .data = (uint8_t *)a};
    n = nurs_pkt_addr(p, true, &a);
    m->dst_addr = (ProtobufCBinaryData){.len = n, .data = (uint8_t *)a};
    m->etype = p->version == 4 ? 0x0800 : 0x86dd;
    m->bytes = p->ip_len ? p->ip_len : p->caplen;
    m->packets = 1;
    uint8_t u8, code;
    uint16_t sport, dport, u16;
    uint32_t u32;
    if (nurs_pkt_protonum(p, &u8))
        m->proto = u8;
    if (nurs_pkt_ports(p, &sport, &dport)) {
        m->src_port = sport;
        m->dst_port = dport;
    }
    if (nurs_pkt_icmp(p, &u8, &code)) {
        m->icmp_type = u8;
        m->icmp_code = code;
    }
    if (nurs_pkt_tos(p, &u8))
        m->ip_tos = u8;
    if (nurs_pkt_ttl(p, &u8))
        m->ip_ttl = u8;
    if (nurs_pkt_tcp_flags(p, &u16))
        m->tcp_flags = u16;
    if (nurs_pkt_flowlabel(p, &u32))
        m->ipv6_flow_label = u32;
    if (p->fragment) {
        m->fragment_id = p->frag_id;
        m->fragment_offset = p->frag_offset;
    }
}

size_t nurs_flowpb_values_encode(const struct nurs_flowpb_values *v, bool length_prefix,
                                 uint8_t *buf, size_t cap)
{
    return pack(&v->m, nurs__flow__flow_message__get_packed_size(&v->m), length_prefix, buf,
                cap);
}
