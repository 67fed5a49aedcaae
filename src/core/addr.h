/* IP addresses as text, shared by every record kind. */
#ifndef NURS_CORE_ADDR_H
#define NURS_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#define NURS_ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/* Writes the n-byte (4 or 16) address at raw as text into buf (len >=
 * NURS_ADDR_TEXT_MAX); false for another n. raw need not be aligned. */
bool nurs_addr_text(const void *raw, size_t n, char *buf, size_t len);

/* The IP address of sa as text (no port), for logs: IPv6 for AF_INET6,
 * else IPv4; "?" if it cannot be written (len < NURS_ADDR_TEXT_MAX). */
void nurs_sockaddr_text(const struct sockaddr_storage *sa, char *buf, size_t len);

#endif
