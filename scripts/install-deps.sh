#!/bin/sh
# Installs the Debian 12 packages nurs-lua needs to build, run and test.
# Idempotent: packages already present are left alone, apt is only asked
# when something is missing.
set -eu

BUILD="build-essential cmake pkg-config clang libclang-rt-14-dev pandoc
lua5.4 liblua5.4-dev libmnl-dev libnetfilter-conntrack-dev
libnetfilter-log-dev libnetfilter-queue-dev libuv1-dev libmicrohttpd-dev
librdkafka-dev libprotobuf-c-dev protobuf-c-compiler libbpf-dev bpftool"
TEST="lua-busted nftables conntrack iproute2 nfdump tshark socat
python3 procps iputils-ping util-linux bc ulogd2 ulogd2-json tcpdump
ulogd2-pcap iptables time pmacct prometheus python3-prometheus-client curl
kcat protobuf-compiler python3-jsonschema jq
debhelper dpkg-dev lintian fakeroot adduser systemd man-db"

missing=""
for p in $BUILD $TEST; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
    $SUDO debconf-set-selections
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
