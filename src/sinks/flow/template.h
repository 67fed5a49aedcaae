/* Templates: the ordered elements of a data record, as a script wrote them
 * (IANA names, optional lengths), checked and laid out once so that the
 * encoder only walks an array. */
#ifndef NURS_SINKS_FLOW_TEMPLATE_H
#define NURS_SINKS_FLOW_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinks/flow/ie.h"

#define NURS_TEMPLATE_MAX 64
#define NURS_TEMPLATE_NAME_MAX 32

/* How the encoder fills a field from a flow, decided once per template
 * (nurs_enc_plan_field). */
enum nurs_tfield_kind {
    NURS_TF_ZERO,     /* nothing a flow knows: zeros */
    NURS_TF_EMPTY,    /* variable length, nothing known: an empty value */
    NURS_TF_ADDRESS,  /* the address at flow_off, if the flow is of its family */
    NURS_TF_NUMBER,   /* the number at flow_off, big-endian in ie.length bytes */
    NURS_TF_COMPUTED, /* times, ICMP, ports that depend on the protocol, processes' ids */
    NURS_TF_STRING,   /* a string of the flow (a process's): padded to a fixed length, or variable */
};

struct nurs_tfield {
    struct nurs_ie ie; /* ie.length is the wire length here; ie.name unused */
    char name[64];
    bool reverse; /* an RFC 5103 reverse element: the value of the reply */
    uint8_t kind; /* enum nurs_tfield_kind */
    uint16_t flow_off; /* ADDRESS and NUMBER: where in struct nurs_flow */
};

struct nurs_template {
    char name[NURS_TEMPLATE_NAME_MAX];
    uint16_t id;
    int n;
    int scope_n; /* options templates: the first scope_n fields are the scope */
    struct nurs_tfield f[NURS_TEMPLATE_MAX];
    size_t min_record_len; /* variable-length fields counted as empty */
    bool varlen;
    bool biflow;        /* has reverse elements: one record per connection */
    bool process;       /* has elements a flow's processes fill */
    uint8_t ip_version; /* 4 or 6 if it has addresses of that family, else 0 */
};

void nurs_template_init(struct nurs_template *t, const char *name);
/* Appends an element by name; len 0 keeps its default length. On error
 * returns -1 with the reason (naming the element) in err. */
int nurs_template_add(struct nurs_template *t, const char *name, unsigned len, char *err,
                      size_t errlen);
/* Appends an element the registry does not know (enterprise-specific). */
int nurs_template_add_custom(struct nurs_template *t, const char *name, uint16_t id,
                             uint32_t pen, enum nurs_ie_type type, unsigned len, char *err,
                             size_t errlen);
/* Checks the whole template (families do not mix, NetFlow v9 limits when
 * v9 is set) once every element is in. NetFlow v9 has no enterprise
 * numbers: nurs-lua's own elements go as vendor field types 32768 + id
 * (the IPFIX field specifier without its enterprise number); other
 * enterprise elements are refused. */
int nurs_template_finish(struct nurs_template *t, bool v9, char *err, size_t errlen);
/* Index of the field with this name, -1 if none. */
int nurs_template_find(const struct nurs_template *t, const char *name);
/* Same elements with the same lengths in the same order. */
bool nurs_template_same(const struct nurs_template *a, const struct nurs_template *b);
/* Puts nurs-lua's own elements under enterprise number pen instead. */
void nurs_template_set_process_pen(struct nurs_template *t, uint32_t pen);

#endif
