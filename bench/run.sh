#!/bin/bash
# All benchmarks, one after the other (root; a few minutes). Each prints
# its own table with ratios to a reference measured in the same run.
set -euo pipefail
cd "$(dirname "$0")"
echo "== replay: 1,000,000 DESTROY records, ratios to the C floor (e: ctflow9.lua to a UDP sink); the cost of process attribution"; ./replay.sh
echo; echo "== dump of 100,000 live entries, ratios to conntrack -L"; ./ct-dump.sh
echo; echo "== process attribution under a churn of short-lived processes"; ./process-churn.sh 300 100
echo; echo "== live flood, 200,000 events, 4 MiB buffers: nurs-lua vs ulogd2"; ./live-flood.sh 200000 4
echo; echo "== live flood, 1,000,000 events, 64 MiB buffers: nurs-lua vs ulogd2"; ./live-flood.sh 1000000 64
echo; echo "== the cost of metrics: the live flood with and without a scrape every second"; ./metrics-cost.sh 1000000 3
echo; echo "== NFLOG into pcap, 1,000,000 UDP packets of 200 bytes, 8 MiB buffers: nurs-lua vs bare libnetfilter_log vs ulogd2"; ./nflog-pcap.sh 1000000 200 0 8
echo; echo "== NFLOG into pcap, 1,000,000 UDP packets of 1400 bytes, 1 MiB buffers (losses)"; ./nflog-pcap.sh 1000000 1400 0 1
echo; echo "== flow exporters: ctflow9.lua replayed; live, 1,000,000 entries, against ulogd2 IPFIX"; ./export.sh 1000000
echo; echo "== NFQUEUE: nurs-lua vs a bare libnetfilter_queue receiver, throughput and latency"; ./nfqueue.sh
