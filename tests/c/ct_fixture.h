/* Decoding of conntrack messages captured from the kernel (fixtures/). */
#ifndef NURS_CT_FIXTURE_H
#define NURS_CT_FIXTURE_H
void test_kernel_fixtures(void);
#endif
