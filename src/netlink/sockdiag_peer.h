/* Whose is the other end of a TCP connection on this host: one sock_diag
 * request for the peer's socket, by its exact addresses and ports, asked
 * and answered at once (the kernel answers from its socket tables; the
 * wait is bounded all the same). For listeners that must know who reads. */
#ifndef NURS_NETLINK_SOCKDIAG_PEER_H
#define NURS_NETLINK_SOCKDIAG_PEER_H

#include <stdint.h>

#include <sys/socket.h>

/* local and peer as our end of the connection sees them. 0 with *uid
 * filled, or -1 when no socket of this host is at the other end (a
 * remote peer) or the kernel could not be asked. */
int nurs_sockdiag_tcp_peer_uid(const struct sockaddr *local, const struct sockaddr *peer,
                               uint32_t *uid);

#endif
