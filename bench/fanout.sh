#!/usr/bin/env bash
# Fan-out benchmark: the real `herald serve` and `herald publish` binaries
# against loopback sinks, each scenario as a ratio to its goal.
#
#   bash bench/fanout.sh
#
# 1. `openssl speed -seconds 5 rsa2048`: signs/s on one core, times the
#    number of cores = the signing limit (every delivery is one signature),
#    passed to the benchmark as FANOUT_SIGN_LIMIT.
# 2. `cargo bench --bench fanout` (benches/fanout.rs says what each scenario
#    does):
#      cpu             10,000 inboxes on 100 hosts answering at once:
#                      deliveries/s / signing limit        (goal >= 0.80)
#      latency         10,000 inboxes on 1,000 hosts, 50-500 ms answers,
#                      5 % of the hosts black-holed: time until every live
#                      inbox was reached / (10,000 / signing limit + 3 s)
#                                                          (goal <= 1.00)
#                      then the dead hosts' jobs in the store: pending, not
#                      failed or lost
#      rss             herald serve's VmHWM / 100 MB       (goal < 1.00)
#      first delivery  `herald publish` to first hit / 1 s (goal < 1.00)
#    Each scenario gives up after 120 s; the whole run takes 1-4 minutes.
# Sinks and herald share the machine's cores: compare ratios, not rates.
# FANOUT_SEED picks the answer delays (1); HERALD_* variables reach herald.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v openssl >/dev/null || { echo "bench/fanout.sh: openssl is required" >&2; exit 1; }
# 10,000 inboxes mean 10,000 sockets between the sinks and herald.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cores="$(nproc)"
signs="$(openssl speed -seconds 5 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $6 }')"
[ -n "$signs" ] || { echo "bench/fanout.sh: could not read openssl speed's output" >&2; exit 1; }
limit="$(awk -v s="$signs" -v c="$cores" 'BEGIN { printf "%.0f", s * c }')"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  nproc=$cores  load $(cut -d" " -f1-3 /proc/loadavg)  $(openssl version)  ulimit -n $(ulimit -n)  $(git rev-parse --short HEAD)"
echo "openssl rsa2048: $signs signs/s per core; x $cores cores = signing limit $limit signs/s"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# Build first, so that compiler output does not interleave with the figures.
cargo bench --bench fanout --no-run --quiet
FANOUT_SIGN_LIMIT="$limit" cargo bench --bench fanout --quiet | tee "$out"
echo
echo "summary:"
grep -E 'ratio' "$out" | sed -E 's/^([a-z ]+): .*(ratio .*)$/  \1: \2/'
