/* Who else may change a file: code that a user other than root and the
 * daemon's own can change, or add modules beside, runs as the daemon
 * (sshd's StrictModes asks the same of its key files). */
#ifndef NURS_CORE_TRUST_H
#define NURS_CORE_TRUST_H

#include <stdbool.h>
#include <stddef.h>

/* 0 when only root and we can change the file at path, replace it or add
 * files beside it (its directory), or rename a directory above it; else -1
 * with a sentence saying who else can, in why. A file that cannot be
 * examined is reported too. */
int nurs_trust_file(const char *path, char *why, size_t len);
/* The same for a directory that modules are loaded from; 1 when it does
 * not exist (nothing to load). */
int nurs_trust_dir(const char *path, char *why, size_t len);

#endif
