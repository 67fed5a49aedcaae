#!/bin/bash
# process.sh with `process = "sockdiag"`: the path taken where BPF cannot
# be used (no capability, old kernel, no cgroup v2) passes the same
# assertions, and the daemons say that they took it.
PROCESS=process=sockdiag exec bash "$(dirname "$0")/process.sh"
