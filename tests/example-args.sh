# The arguments an example needs for `nurs-lua --check` (sourced by
# scripts/test-all.sh and tests/package/roundtrip.sh): the ones whose
# arguments are required.
example_args() {
    case $1 in
        *nflog-pcap.lua) echo "5 -" ;;
        *ct-cut.lua) echo /dev/null ;;
    esac
}
