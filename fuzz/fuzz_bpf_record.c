/* libFuzzer target: arbitrary bytes as ring-buffer records of the BPF
 * programs (process/bpf/record.h), cut into records the way the kernel
 * hands them over (a length, then that many bytes), decoded, stored in a
 * small table of socket owners (which replaces its oldest entries) and
 * looked up again the way a conntrack end is. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "process/bpf/owner.h"
#include "process/bpf/socktable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nurs_socktable t;
    if (nurs_socktable_init(&t, 4) < 0)
        return 0;
    size_t off = 0;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        /* The ring's bytes are only as long as the kernel says: a copy of
         * exactly len bytes lets the sanitizer see any read past them. */
        uint8_t *rec = malloc(len ? len : 1);
        if (!rec)
            break;
        memcpy(rec, data + off, len);
        off += len;
        struct nurs_sock_owner o;
        const char *why;
        if (nurs_bpf_record_decode(rec, len, &o, &why) == 0) {
            if (o.comm[sizeof o.comm - 1] != '\0' || o.cmdline_len > 256)
                abort();
            struct nurs_sock_owner *copy = nurs_sock_owner_dup(&o);
            bool stored = nurs_socktable_put(&t, &o);
            free(rec); /* the table and the copy keep their own command lines */
            rec = NULL;
            const struct nurs_sock_owner *found;
            if (copy && stored) {
                /* Just stored: found again, as it was. */
                if (nurs_socktable_match(&t, &copy->t, &found) != NURS_SOCK_EXACT ||
                    found->tgid != copy->tgid || found->cmdline_len != copy->cmdline_len ||
                    (copy->cmdline_len &&
                     memcmp(found->cmdline, copy->cmdline, copy->cmdline_len) != 0))
                    abort();
            }
            free(copy);
        }
        free(rec);
    }
    nurs_socktable_free(&t);
    return 0;
}
