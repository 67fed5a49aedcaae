/* The conntrack record's class tables (records/record.h): a record
 * borrows a struct nurs_ct_msg; its directions are records of their own
 * whose arg is the direction (enum nurs_ct_dir). */
#ifndef NURS_RECORDS_CT_RECORD_H
#define NURS_RECORDS_CT_RECORD_H

#include "records/record.h"

extern const struct nurs_record_class nurs_ct_class;
extern const struct nurs_record_class nurs_ct_dir_class;

#endif
