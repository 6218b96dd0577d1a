#!/usr/bin/env bash
# Serving benchmark: herald vs. nginx serving the very same feed bytes.
#
#   bash bench/serve.sh
#
# Builds herald (cargo build --release), starts it on a free loopback port with
# a throwaway SQLite database and the repo's feeds/ directory, copies its
# /feed.rss and /feed.atom (plus gzip -9 variants for gzip_static) into a
# static nginx root, then for each feed and each case
#
#   plain  no Accept-Encoding                         -> expects 200
#   gzip   Accept-Encoding: gzip                      -> expects 200 + Content-Encoding: gzip
#   304    If-None-Match: <that server's own ETag>    -> expects 304
#
# runs `wrk -t2 -c32 -d5s` against herald, then nginx, and prints req/s and
# the herald/nginx ratio (medians of BENCH_ROUNDS alternating runs). Total
# wall time is about 3 minutes plus the build.
# Client and servers share the machine's cores, so compare ratios, not
# absolute numbers.
#
# Options (environment variables):
#   BENCH_NGINX_ONLY=1   skip building/starting herald; nginx serves two small
#                        sample feeds written by this script (tests the nginx
#                        half and the wrk plumbing on their own).
#   BENCH_DURATION=5s    wrk -d value for each run (default 5s).
#   BENCH_ROUNDS=3       runs per server and case, alternating herald and
#                        nginx; the table shows each server's median.
#
# Needs wrk, nginx, curl, gzip and python3 (to pick free ports); wrk and nginx
# are installed with apt-get when missing (as root, or with passwordless sudo).
# Note: installing the Debian nginx package may also enable its system service.
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"

nginx_only="${BENCH_NGINX_ONLY:-0}"
duration="${BENCH_DURATION:-5s}"
rounds="${BENCH_ROUNDS:-3}"
wrk_threads=2
wrk_conns=32

die() { printf 'bench/serve.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

# --- tools --------------------------------------------------------------------
# nginx lives in /usr/sbin, which is not on every user's PATH.
find_tool() {
    command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true
}

apt_install() {
    local -a run=()
    if [ "$(id -u)" -eq 0 ]; then
        run=(env DEBIAN_FRONTEND=noninteractive)
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        run=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
        die "missing $*; install it (apt-get install $*) or run as root"
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing $* and apt-get is not available"
    local pkg
    for pkg in "$@"; do
        if ! apt-cache show "$pkg" >/dev/null 2>&1; then
            log "apt-get update"
            "${run[@]}" apt-get update -qq
            break
        fi
    done
    log "apt-get install $*"
    "${run[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing_pkgs=()
[ -n "$(find_tool wrk)" ] || missing_pkgs+=(wrk)
[ -n "$(find_tool nginx)" ] || missing_pkgs+=(nginx)
[ -n "$(find_tool curl)" ] || missing_pkgs+=(curl)
[ -n "$(find_tool gzip)" ] || missing_pkgs+=(gzip)
[ -n "$(find_tool python3)" ] || missing_pkgs+=(python3)
if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    apt_install "${missing_pkgs[@]}"
fi
wrk_bin="$(find_tool wrk)"
nginx_bin="$(find_tool nginx)"
[ -n "$wrk_bin" ] || die "wrk not found"
[ -n "$nginx_bin" ] || die "nginx not found"

# --- scratch dir and cleanup ------------------------------------------------------
tmp="$(mktemp -d)"
herald_pid=""
nginx_pid=""
cleanup() {
    local pid
    for pid in "$herald_pid" "$nginx_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

www="$tmp/www"
mkdir -p "$www"

# Two distinct free loopback ports (both sockets held open while choosing).
ports="$(python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
PY
)" || die "could not pick free ports"
read -r herald_port nginx_port <<<"$ports"
herald_url="http://127.0.0.1:$herald_port"
nginx_url="http://127.0.0.1:$nginx_port"

# --- herald ---------------------------------------------------------------------
write_sample_feeds() {
    local now
    now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    {
        printf '<?xml version="1.0" encoding="utf-8"?>\n'
        printf '<rss version="2.0"><channel><title>Bench</title>'
        printf '<link>http://127.0.0.1/</link><description>nginx-only sample</description>\n'
        local i
        for i in 1 2 3 4 5 6 7 8 9 10; do
            printf '<item><title>Post %s</title><link>http://127.0.0.1/p/%s</link>' "$i" "$i"
            printf '<guid>http://127.0.0.1/p/%s</guid><description>Body of post %s, ' "$i" "$i"
            printf 'padded so that gzip has something to do. %.0s' 1 2 3 4 5 6 7 8
            printf '</description></item>\n'
        done
        printf '</channel></rss>\n'
    } > "$www/feed.rss"
    {
        printf '<?xml version="1.0" encoding="utf-8"?>\n'
        printf '<feed xmlns="http://www.w3.org/2005/Atom"><title>Bench</title>'
        printf '<id>urn:bench</id><updated>%s</updated><author><name>bench</name></author>\n' "$now"
        local i
        for i in 1 2 3 4 5 6 7 8 9 10; do
            printf '<entry><title>Post %s</title><id>urn:bench:%s</id><updated>%s</updated>' "$i" "$i" "$now"
            printf '<link href="http://127.0.0.1/p/%s"/><content>Body of post %s, ' "$i" "$i"
            printf 'padded so that gzip has something to do. %.0s' 1 2 3 4 5 6 7 8
            printf '</content></entry>\n'
        done
        printf '</feed>\n'
    } > "$www/feed.atom"
}

start_herald() {
    log "cargo build --release"
    cargo build --release
    [ -x target/release/herald ] || die "target/release/herald was not built"

    cat > "$tmp/herald.toml" <<EOF
[server]
bind = "127.0.0.1:$herald_port"
base_url = "$herald_url"
[database]
url = "sqlite://$tmp/herald.db"
[content]
dir = "$repo_root/feeds"
EOF
    log "starting herald on $herald_url"
    target/release/herald --config "$tmp/herald.toml" serve > "$tmp/herald.log" 2>&1 &
    herald_pid=$!

    local i
    for i in $(seq 1 300); do
        if curl -fsS -o /dev/null "$herald_url/healthz" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$herald_pid" 2>/dev/null; then
            tail -n 50 "$tmp/herald.log" >&2 || true
            die "herald exited during startup (log above)"
        fi
        sleep 0.1
    done
    tail -n 50 "$tmp/herald.log" >&2 || true
    die "herald did not answer $herald_url/healthz within 30 s (log above)"
}

# --- nginx --------------------------------------------------------------------------
start_nginx() {
    local user_line=""
    # Workers must be able to read the root-owned 0700 scratch dir.
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user root;"
    fi
    mkdir -p "$tmp/nginx-temp"
    cat > "$tmp/nginx.conf" <<EOF
$user_line
worker_processes 2;
daemon off;
error_log $tmp/error.log;
pid $tmp/nginx.pid;
events {
    worker_connections 1024;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    etag on;
    gzip_static on;
    types {
        application/rss+xml rss;
        application/atom+xml atom;
    }
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx-temp/client_body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $www;
    }
}
EOF
    "$nginx_bin" -t -q -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" \
        || { cat "$tmp/error.log" >&2 || true; die "nginx rejected its config"; }
    log "starting nginx on $nginx_url"
    "$nginx_bin" -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" &
    nginx_pid=$!
    local i
    for i in $(seq 1 100); do
        if curl -fsS -o /dev/null "$nginx_url/feed.rss" 2>/dev/null; then
            return 0
        fi
        kill -0 "$nginx_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$tmp/error.log" >&2 || true
    die "nginx did not start (error log above)"
}

# --- helpers --------------------------------------------------------------------------
# Response headers (lower-cased names, no CRs) of a GET; extra args go to curl.
fetch_headers() {
    local url="$1"; shift
    curl -sS -o /dev/null -D - "$@" "$url" | tr -d '\r' \
        | awk 'NR == 1 { print; next } { i = index($0, ":"); if (i) print tolower(substr($0, 1, i - 1)) substr($0, i) }'
}
status_of() { head -n 1 | awk '{ print $2 }'; }
header_of() { awk -v h="$1:" 'tolower($1) == h { sub(/^[^:]*:[ \t]*/, ""); print; exit }'; }

declare -A etag=()

# check_case SERVER URL CASE: abort unless the response is what the case expects.
check_case() {
    local server="$1" url="$2" case_="$3" hdrs status enc
    local -a args=()
    case "$case_" in
        gzip) args=(-H 'Accept-Encoding: gzip') ;;
        304)  args=(-H "If-None-Match: ${etag[$server:$url]}") ;;
    esac
    hdrs="$(fetch_headers "$url" "${args[@]}")" || die "$server $url ($case_): request failed"
    status="$(status_of <<<"$hdrs")"
    enc="$(header_of content-encoding <<<"$hdrs")"
    case "$case_" in
        plain)
            [ "$status" = 200 ] || die "$server $url (plain): expected 200, got ${status:-nothing}"
            [ -z "$enc" ] || die "$server $url (plain): unexpected Content-Encoding: $enc"
            ;;
        gzip)
            [ "$status" = 200 ] || die "$server $url (gzip): expected 200, got ${status:-nothing}"
            [ "$enc" = gzip ] || die "$server $url (gzip): expected Content-Encoding: gzip, got '${enc}'"
            ;;
        304)
            [ "$status" = 304 ] || die "$server $url (304): expected 304 for If-None-Match: ${etag[$server:$url]}, got ${status:-nothing}"
            ;;
    esac
}

# run_wrk SERVER URL CASE: prints "REQ_PER_SEC NOTE"
run_wrk() {
    local server="$1" url="$2" case_="$3" out rps note=""
    local -a args=()
    case "$case_" in
        gzip) args=(-H 'Accept-Encoding: gzip') ;;
        304)  args=(-H "If-None-Match: ${etag[$server:$url]}") ;;
    esac
    out="$("$wrk_bin" -t"$wrk_threads" -c"$wrk_conns" -d"$duration" "${args[@]}" "$url")" \
        || die "wrk failed against $server $url"
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    [ -n "$rps" ] || die "could not parse wrk output for $server $url: $out"
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        note="non-2xx/3xx:$(awk '/Non-2xx or 3xx responses/ { print $NF }' <<<"$out")"
    fi
    if grep -q 'Socket errors' <<<"$out"; then
        note="${note:+$note,}socket-errors"
    fi
    printf '%s %s\n' "$rps" "${note:--}"
}

# --- main ---------------------------------------------------------------------------
servers=(nginx)
if [ "$nginx_only" = 1 ]; then
    log "BENCH_NGINX_ONLY=1: not building or starting herald; serving sample feeds"
    write_sample_feeds
else
    start_herald
    servers=(herald nginx)
    for feed in rss atom; do
        curl -fsS -o "$www/feed.$feed" "$herald_url/feed.$feed" \
            || die "could not fetch /feed.$feed from herald"
    done
fi
for feed in rss atom; do
    gzip -k -9 -f "$www/feed.$feed"
done
start_nginx

base_of() { if [ "$1" = herald ]; then echo "$herald_url"; else echo "$nginx_url"; fi; }

# ETags: each server's own, for a request without Accept-Encoding (as in the
# 304 wrk run).
for server in "${servers[@]}"; do
    for feed in rss atom; do
        url="$(base_of "$server")/feed.$feed"
        tag="$(fetch_headers "$url" | header_of etag)" || die "$server $url: request failed"
        [ -n "$tag" ] || die "$server $url sent no ETag"
        etag["$server:$url"]="$tag"
    done
done

# Sanity checks before spending time on wrk.
for server in "${servers[@]}"; do
    for feed in rss atom; do
        for case_ in plain gzip 304; do
            check_case "$server" "$(base_of "$server")/feed.$feed" "$case_"
        done
    done
done
log "sanity checks passed"

printf '# %s  nproc=%s  %s  wrk %s  (wrk -t%s -c%s -d%s, client and servers on the same host)\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" \
    "$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')" \
    "$("$wrk_bin" -v 2>&1 | awk 'NR == 1 { print $2 }')" \
    "$wrk_threads" "$wrk_conns" "$duration"
printf '# median of %s alternating runs per server and case\n' "$rounds"
printf '%-5s %-6s %14s %14s %8s  %s\n' feed case "herald req/s" "nginx req/s" ratio notes
# median of the numbers given as arguments ("-" when none)
median() {
    if [ "$#" -eq 0 ]; then echo "-"; return; fi
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for feed in rss atom; do
    for case_ in plain gzip 304; do
        # Alternate the servers, round after round, and keep each one's median:
        # one run each is at the mercy of whatever else the two cores do.
        h_runs=() n_runs=() h_note="-" n_note="-"
        for _round in $(seq "$rounds"); do
            if [ "$nginx_only" != 1 ]; then
                read -r h_rps h_note <<<"$(run_wrk herald "$herald_url/feed.$feed" "$case_")"
                h_runs+=("$h_rps")
            fi
            read -r n_rps n_note <<<"$(run_wrk nginx "$nginx_url/feed.$feed" "$case_")"
            n_runs+=("$n_rps")
        done
        h_rps="$(median "${h_runs[@]}")"
        n_rps="$(median "${n_runs[@]}")"
        ratio="$(awk -v a="$h_rps" -v b="$n_rps" 'BEGIN { if (a != "-" && b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
        notes=""
        [ "$h_note" = "-" ] || notes="herald:$h_note "
        [ "$n_note" = "-" ] || notes="${notes}nginx:$n_note"
        printf '%-5s %-6s %14s %14s %8s  %s\n' "$feed" "$case_" "$h_rps" "$n_rps" "$ratio" "$notes"
    done
done
