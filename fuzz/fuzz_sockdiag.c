/* libFuzzer target: arbitrary bytes as a datagram from the kernel, read
 * both as sock_diag answers (the process attribution's lookups) and as
 * rtnetlink address messages (its local address set), which is then asked
 * about the addresses the input names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_input.h"
#include "netlink/sockdiag.h"
#include "netlink/socket.h"
#include "process/localaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct nurs_addrset set = {0};
    size_t left = size;
    for (const struct nlmsghdr *nlh = buf; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_sockdiag_answer a;
        const char *why;
        if (nurs_sockdiag_parse(nlh, left, &a, &why) == 0 && a.error == 0) {
            /* What the engine does with an answer: its ports and addresses. */
            volatile uint32_t sink = a.inode ^ a.uid ^ a.lport ^ a.rport ^ a.local[15] ^ a.remote[0];
            (void)sink;
        }
        nurs_addrset_apply(&set, nlh, &why);
    }
    uint8_t addr[16] = {0};
    memcpy(addr, data, size < 16 ? size : 16);
    nurs_addrset_has(&set, AF_INET, addr);
    nurs_addrset_has(&set, AF_INET6, addr);
    nurs_addrset_free(&set);
    free(buf);
    return 0;
}
