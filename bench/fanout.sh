#!/usr/bin/env bash
# Fan-out benchmark: herald's deliveries per second against the machine's
# RSA-2048 signing limit measured in the same run.
#
#   bash bench/fanout.sh
#
# 1. `openssl speed -seconds 5 rsa2048`: signs/s on one core, times the
#    number of cores = the signing limit (every delivery is one signature).
# 2. `cargo bench --bench fanout`: one Create to 10,000 followers on 10,000
#    distinct loopback inboxes, then on 100 shared inboxes, through the real
#    queue, workers and HTTP (sink and herald share the machine). Each
#    scenario stops after 120 s.
# Prints deliveries/s as a ratio to the signing limit, and the time from the
# publish to the first delivery. FANOUT_WORKERS sets the worker count (8).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v openssl >/dev/null || { echo "bench/fanout.sh: openssl is required" >&2; exit 1; }
cores="$(nproc)"
signs="$(openssl speed -seconds 5 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $6 }')"
[ -n "$signs" ] || { echo "bench/fanout.sh: could not read openssl speed's output" >&2; exit 1; }
limit="$(awk -v s="$signs" -v c="$cores" 'BEGIN { printf "%.0f", s * c }')"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)  nproc=$cores  $(openssl version)"
echo "openssl rsa2048: $signs signs/s per core; limit x $cores cores = $limit signs/s"

out="$(cargo bench --bench fanout 2>/dev/null)"
echo "$out"
echo "$out" | awk -v limit="$limit" '/deliveries\/s/ {
    for (i = 1; i <= NF; i++) if ($i == "deliveries/s;") rate = $(i - 1)
    split($0, name, "  ")
    printf "ratio to the signing limit: %.2f  (%s)\n", rate / limit, name[1]
}'
