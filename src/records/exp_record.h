/* The expectation record (records/record.h): a record borrows a struct
 * nurs_exp_msg; its tuples (rec.master, rec.tuple, rec.mask, rec.nat)
 * are records of their own, with a conntrack direction's address and port
 * fields. */
#ifndef NURS_RECORDS_EXP_RECORD_H
#define NURS_RECORDS_EXP_RECORD_H

#include "records/record.h"

enum nurs_exp_field {
    NURS_EXPF_EVENT,
    NURS_EXPF_FAMILY,
    NURS_EXPF_PROTO,
    NURS_EXPF_PROTONUM,
    NURS_EXPF_MASTER,
    NURS_EXPF_TUPLE,
    NURS_EXPF_MASK,
    NURS_EXPF_NAT,
    NURS_EXPF_NAT_DIR,
    NURS_EXPF_HELPER,
    NURS_EXPF_CLASS,
    NURS_EXPF_TIMEOUT,
    NURS_EXPF_FLAGS,
    NURS_EXPF_ZONE,
    NURS_EXPF_ID,
    NURS_EXPF_FN,
    NURS_EXPF_COUNT
};

extern const struct nurs_record_class nurs_exp_class;
extern const struct nurs_record_class nurs_exp_tuple_class;

#endif
