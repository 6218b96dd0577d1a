#!/usr/bin/env bash
# WebSub benchmark: the real `herald serve` and `herald publish` binaries
# (release build, default settings, SQLite) against subscribers on loopback
# addresses that subscribe through /websub and verify like any subscriber.
#
#   bash bench/websub.sh
#   WEBSUB_SEED=7 bash bench/websub.sh      # other answer delays
#
#   latency   one verified subscriber, 20 edits each published with
#             `herald publish` (another process): median and p90 from
#             starting the publish to the subscriber holding the
#             distribution                           (goal: median < 1 s)
#   fan-out   1,000 subscribers on 100 hosts (127.0.1.1-127.0.1.100),
#             every callback answering after 50-500 ms: one publish, the
#             time until all of them got it    (goal <= latency median + 3 s)
#
# benches/websub.rs says how; every wait gives up after 60 s. The figures
# are printed; nothing asserts a time. HERALD_* variables reach herald.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  nproc=$(nproc)  load $(cut -d" " -f1-3 /proc/loadavg)  $(git rev-parse --short HEAD)"
# Build first, so that compiler output does not interleave with the figures.
cargo bench --bench websub --no-run --quiet
cargo bench --bench websub --quiet
