/* Conntrack entries, filters and expectations given by a script as
 * tables in the records' vocabulary ({ proto = "tcp", orig = { dport =
 * 993 } }), or as the records themselves, turned into plain values
 * (netlink/ct_spec.h). Misuse raises a Lua error naming the key. */
#ifndef NURS_BINDINGS_CT_SPEC_H
#define NURS_BINDINGS_CT_SPEC_H

#include <stdbool.h>

#include <lua.h>

#include "netlink/ct_spec.h"

/* What a table may say. */
enum nurs_l_spec_use {
    NURS_L_SPEC_FILTER, /* a filter: any subset, addresses may be networks */
    NURS_L_SPEC_ENTRY,  /* one entry: its tuple (and zone, id) */
    NURS_L_SPEC_CREATE, /* a new entry: tuples, timeout, mark, status, state... */
    NURS_L_SPEC_CHANGE, /* an update: mark, labels, timeout, status */
};

/* The table or record at idx; fname prefixes messages. A record names its
 * entry (tuple, zone, id). */
void nurs_l_ct_spec(lua_State *L, int idx, enum nurs_l_spec_use use, const char *fname,
                    struct nurs_ct_spec *s);
/* An expectation: a record, or a table with master, tuple, mask (tables
 * like orig), timeout, helper, zone, flags, class, id. */
void nurs_l_exp_spec(lua_State *L, int idx, bool filter, const char *fname,
                     struct nurs_exp_spec *s);

#endif
