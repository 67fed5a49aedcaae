/* Decoding of conntrack messages captured from the kernel (fixtures/). */
#ifndef NURS_CT_FIXTURE_H
#define NURS_CT_FIXTURE_H

#include <stddef.h>
void test_kernel_fixtures(void);
/* A heap copy of fixtures/NAME (free it), or NULL. */
unsigned char *fixture_read(const char *name, size_t *len);
#endif
