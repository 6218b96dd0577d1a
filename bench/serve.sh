#!/usr/bin/env bash
# Serving benchmark: herald vs. nginx serving the very same bytes.
#
#   bash bench/serve.sh
#
# Builds herald (cargo build --release) and starts two instances on free
# loopback ports, each with a throwaway SQLite database:
#
#   sample  the repo's feeds/ directory (4 articles);
#   pub     a publication this script generates into its scratch dir: 124
#           full articles of 6-10 paragraphs of French or English text, each
#           by one of 3 authors, with 1-3 tags, so that the main feed holds
#           50 full articles and archive page 1 exists.
#
# It copies every benchmarked document from herald (plus a gzip -9 variant
# for gzip_static) into a static nginx root, one nginx server per instance,
# then for each cell (a document) and each case
#
#   plain  no Accept-Encoding                         -> expects 200
#   gzip   Accept-Encoding: gzip                      -> expects 200 + Content-Encoding: gzip
#   304    If-None-Match: <that server's own ETag>    -> expects 304
#
# runs `wrk -t2 -c32 -d3s` against herald, then nginx, and prints req/s and
# the herald/nginx ratio (medians of BENCH_ROUNDS alternating runs), and each
# server's CPU time per request (user + system, from /proc, all of herald's
# threads or all nginx workers): on a busy machine req/s move with whatever
# else runs, the CPU a request costs much less. Cells:
#
#   sample-rss    sample  /feed.rss
#   sample-atom   sample  /feed.atom
#   main-atom     pub     /feed.atom                     (50 full articles)
#   main-json     pub     /feed.json
#   archive-atom  pub     /archive/1.atom                (RFC 5005 archive page)
#   author-atom   pub     /authors/anne-dupont/feed.atom
#   article       pub     /articles/{slug}               (an HTML article page)
#
# Total wall time is about 7 minutes plus the build with the defaults.
# Client and servers share the machine's cores, so compare ratios, not
# absolute numbers.
#
# Options (environment variables):
#   BENCH_HERALD=PATH    run this herald binary instead of building one (to
#                        compare two builds on the same machine, one run
#                        after the other).
#   BENCH_NGINX_ONLY=1   skip building/starting herald; nginx serves two small
#                        sample feeds written by this script (tests the nginx
#                        half and the wrk plumbing on their own; sample cells
#                        only).
#   BENCH_ONLY=main-atom,article
#                        run only these cells (comma-separated names from the
#                        list above; shell patterns such as 'main-*' work).
#   BENCH_DURATION=3s    wrk -d value for each run (default 3s).
#   BENCH_ROUNDS=3       runs per server and case, alternating herald and
#                        nginx; the table shows each server's median.
#
# Needs wrk, nginx, curl, gzip and python3 (to pick free ports and write the
# publication); wrk and nginx are installed with apt-get when missing (as root,
# or with passwordless sudo).
# Note: installing the Debian nginx package may also enable its system service.
set -euo pipefail

cd "$(dirname "$0")/.."
repo_root="$(pwd)"

nginx_only="${BENCH_NGINX_ONLY:-0}"
herald_bin="${BENCH_HERALD:-}"
only="${BENCH_ONLY:-}"
duration="${BENCH_DURATION:-3s}"
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
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
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
mkdir -p "$www/sample" "$www/pub"

# Four distinct free loopback ports (all sockets held open while choosing).
ports="$(python3 - <<'PY'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
PY
)" || die "could not pick free ports"
declare -A bases=()
# SERVER:INSTANCE -> the processes whose CPU time a request costs.
declare -A server_pids=()
read -r herald_sample_port herald_pub_port nginx_sample_port nginx_pub_port <<<"$ports"
bases[herald:sample]="http://127.0.0.1:$herald_sample_port"
bases[herald:pub]="http://127.0.0.1:$herald_pub_port"
bases[nginx:sample]="http://127.0.0.1:$nginx_sample_port"
bases[nginx:pub]="http://127.0.0.1:$nginx_pub_port"

# --- the cells --------------------------------------------------------------------
# NAME INSTANCE PATH; PATH's {slug} is the generated publication's newest article.
all_cells=(
    "sample-rss sample /feed.rss"
    "sample-atom sample /feed.atom"
    "main-atom pub /feed.atom"
    "main-json pub /feed.json"
    "archive-atom pub /archive/1.atom"
    "author-atom pub /authors/anne-dupont/feed.atom"
    "article pub /articles/{slug}"
)
wanted() {
    local name="$1" pattern
    [ -n "$only" ] || return 0
    local -a patterns
    IFS=',' read -r -a patterns <<<"$only"
    for pattern in "${patterns[@]}"; do
        # shellcheck disable=SC2053 # a pattern on purpose
        [[ "$name" == $pattern ]] && return 0
    done
    return 1
}
cells=()
for cell in "${all_cells[@]}"; do
    read -r name instance _path <<<"$cell"
    if [ "$nginx_only" = 1 ] && [ "$instance" != sample ]; then
        continue
    fi
    if wanted "$name"; then
        cells+=("$cell")
    fi
done
[ "${#cells[@]}" -gt 0 ] || die "BENCH_ONLY=$only matches no cell (names: sample-rss sample-atom main-atom main-json archive-atom author-atom article)"
needs() { local cell; for cell in "${cells[@]}"; do [[ "$cell" == *" $1 "* ]] && return 0; done; return 1; }

# --- the generated publication ----------------------------------------------------
# 124 articles: 50 in the main feed, 50 on archive page 1, 24 on the open
# page. The text comes from order-1 word chains over the repo's own French
# articles and the (English) LICENSE, so that it compresses like prose rather
# than like a repeated sentence. Prints the newest article's slug.
write_publication() {
    python3 - "$1" "$repo_root" <<'PY'
import json, pathlib, random, re, sys, uuid, datetime

out, root = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rng = random.Random(124)

def body_of(text):
    # Markdown after the front matter, without headings.
    parts = text.split("+++", 2)
    return parts[2] if len(parts) == 3 else text

def chain(text):
    words = re.findall(r"\S+", text)
    nexts = {}
    for a, b in zip(words, words[1:]):
        nexts.setdefault(a, []).append(b)
    starts = [b for a, b in zip(words, words[1:]) if a.endswith(".") and b[:1].isupper()]
    return nexts, starts or words[:1]

french = " ".join(body_of(p.read_text()) for p in sorted((root / "feeds").glob("*.md")))
english = " ".join((root / name).read_text() for name in ("LICENSE",))
english = re.sub(r"[#*`<>_|]", "", english)
models = {"fr": chain(french), "en": chain(english)}

def sentence(lang):
    nexts, starts = models[lang]
    word = rng.choice(starts)
    words = [word]
    while len(words) < 30 and not (len(words) >= 8 and word.endswith(".")):
        word = rng.choice(nexts.get(word) or starts)
        words.append(word)
    s = " ".join(words)
    return s if s.endswith(".") else s + "."

def paragraph(lang):
    p = " ".join(sentence(lang) for _ in range(rng.randint(2, 4)))
    if rng.random() < 0.3:
        words = p.split(" ")
        i = rng.randrange(len(words))
        words[i] = f"[{words[i]}](https://example.org/{rng.randrange(10**6)})"
        p = " ".join(words)
    if rng.random() < 0.2:
        words = p.split(" ")
        i = rng.randrange(len(words))
        words[i] = f"*{words[i]}*"
        p = " ".join(words)
    return p

authors = ["Anne Dupont", "John Whitaker", "Mélanie Roussel"]
tags = ["politique", "economie", "culture", "sciences", "sport", "europe", "afrique", "climat", "tech", "sante"]
start = datetime.datetime(2024, 1, 1, 8, 0, tzinfo=datetime.timezone.utc)
out.mkdir(parents=True, exist_ok=True)
slugs = []
for n in range(1, 125):
    lang = "fr" if n % 3 else "en"
    title = sentence(lang).rstrip(".")
    while len(title) > 90:
        title = title.rsplit(" ", 1)[0]
    slug = f"{n:03d}-" + "-".join(re.findall(r"[a-z0-9]+", title.lower().encode("ascii", "ignore").decode()))[:60].strip("-")
    slugs.append(slug)
    published = (start + datetime.timedelta(hours=13 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
    paragraphs = [paragraph(lang) for _ in range(rng.randint(6, 10))]
    if rng.random() < 0.3:
        paragraphs.insert(rng.randrange(1, len(paragraphs)), "> " + sentence(lang))
    front = "\n".join([
        "+++",
        f'id = "urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"',
        f'slug = "{slug}"',
        'kind = "full"',
        f"title = {json.dumps(title, ensure_ascii=False)}",
        f"summary = {json.dumps(sentence(lang), ensure_ascii=False)}",
        f'authors = ["{authors[n % 3]}"]',
        f'language = "{lang}"',
        "tags = [" + ", ".join(f'"{t}"' for t in rng.sample(tags, rng.randint(1, 3))) + "]",
        f'published = "{published}"',
        f'updated = "{published}"',
        'state = "published"',
        "+++",
    ])
    (out / f"{slug}.md").write_text(front + "\n\n" + "\n\n".join(paragraphs) + "\n")
# The newest article: the page readers open from the feed.
print(slugs[-1])
PY
}

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
    } > "$www/sample/feed.rss"
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
    } > "$www/sample/feed.atom"
}

# start_herald INSTANCE CONTENT_DIR: one `herald serve` with its own database.
start_herald() {
    local instance="$1" content="$2" base="${bases[herald:$1]}"
    cat > "$tmp/herald-$instance.toml" <<TOML
[server]
bind = "${base#http://}"
base_url = "$base"
# Metrics stay on (their request counter is part of what is measured), on
# a port of their own per instance.
metrics_bind = "127.0.0.1:0"
[database]
url = "sqlite://$tmp/herald-$instance.db"
[content]
dir = "$content"
TOML
    log "starting herald ($instance) on $base"
    "$herald_bin" --config "$tmp/herald-$instance.toml" serve > "$tmp/herald-$instance.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    server_pids[herald:$instance]="$pid"

    local i
    for i in $(seq 1 300); do
        if curl -fsS -o /dev/null "$base/healthz" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 50 "$tmp/herald-$instance.log" >&2 || true
            die "herald ($instance) exited during startup (log above)"
        fi
        sleep 0.1
    done
    tail -n 50 "$tmp/herald-$instance.log" >&2 || true
    die "herald ($instance) did not answer $base/healthz within 30 s (log above)"
}

# --- nginx --------------------------------------------------------------------------
start_nginx() {
    local user_line=""
    # Workers must be able to read the root-owned 0700 scratch dir.
    if [ "$(id -u)" -eq 0 ]; then
        user_line="user root;"
    fi
    mkdir -p "$tmp/nginx-temp"
    local instance servers=""
    for instance in sample pub; do
        servers+="
    server {
        listen ${bases[nginx:$instance]#http://};
        root $www/$instance;
        # Article pages have no extension.
        location /articles/ {
            default_type text/html;
        }
    }"
    done
    cat > "$tmp/nginx.conf" <<CONF
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
        application/feed+json json;
    }
    default_type application/octet-stream;
    # herald's media types all say charset=utf-8 (text/html is in charset_types already).
    charset utf-8;
    charset_types application/rss+xml application/atom+xml application/feed+json;
    client_body_temp_path $tmp/nginx-temp/client_body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
$servers
}
CONF
    "$nginx_bin" -t -q -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" \
        || { cat "$tmp/error.log" >&2 || true; die "nginx rejected its config"; }
    log "starting nginx on ${bases[nginx:sample]} and ${bases[nginx:pub]}"
    "$nginx_bin" -p "$tmp" -e "$tmp/error.log" -c "$tmp/nginx.conf" &
    local pid=$!
    pids+=("$pid")
    local i
    for i in $(seq 1 100); do
        if curl -sS -o /dev/null "${bases[nginx:sample]}/" 2>/dev/null \
            && curl -sS -o /dev/null "${bases[nginx:pub]}/" 2>/dev/null; then
            local workers
            workers="$(pgrep -P "$pid" | tr '\n' ' ')"
            [ -n "$workers" ] || die "nginx has no worker processes"
            server_pids[nginx:sample]="$workers"
            server_pids[nginx:pub]="$workers"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
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

# CPU time (user + system, in clock ticks) the given processes have used.
cpu_ticks() {
    local pid total=0 ticks
    for pid in "$@"; do
        # Fields 14 and 15 of /proc/PID/stat, for all of the process's threads.
        ticks="$(awk '{ print $14 + $15 }' "/proc/$pid/stat")" || die "process $pid is gone"
        total=$((total + ticks))
    done
    echo "$total"
}
clock_ticks="$(getconf CLK_TCK)"

# run_wrk SERVER INSTANCE URL CASE: prints "REQ_PER_SEC CPU_US_PER_REQ NOTE"
run_wrk() {
    local server="$1" instance="$2" url="$3" case_="$4" out rps cpu requests before after note=""
    local -a args=() watched
    case "$case_" in
        gzip) args=(-H 'Accept-Encoding: gzip') ;;
        304)  args=(-H "If-None-Match: ${etag[$server:$url]}") ;;
    esac
    read -r -a watched <<<"${server_pids[$server:$instance]}"
    before="$(cpu_ticks "${watched[@]}")"
    out="$("$wrk_bin" -t"$wrk_threads" -c"$wrk_conns" -d"$duration" "${args[@]}" "$url")" \
        || die "wrk failed against $server $url"
    after="$(cpu_ticks "${watched[@]}")"
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    [ -n "$rps" ] || die "could not parse wrk output for $server $url: $out"
    requests="$(awk '/ requests in / { print $1 }' <<<"$out")"
    cpu="$(awk -v t="$((after - before))" -v hz="$clock_ticks" -v n="$requests" \
        'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')"
    if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
        note="non-2xx/3xx:$(awk '/Non-2xx or 3xx responses/ { print $NF }' <<<"$out")"
    fi
    if grep -q 'Socket errors' <<<"$out"; then
        note="${note:+$note,}socket-errors"
    fi
    printf '%s %s %s\n' "$rps" "$cpu" "${note:--}"
}

# --- main ---------------------------------------------------------------------------
servers=(nginx)
slug=""
if needs pub; then
    slug="$(write_publication "$tmp/publication")" || die "could not write the generated publication"
    log "generated $(find "$tmp/publication" -name '*.md' | wc -l) articles in $tmp/publication"
fi
if [ "$nginx_only" = 1 ]; then
    log "BENCH_NGINX_ONLY=1: not building or starting herald; serving sample feeds"
    write_sample_feeds
else
    if [ -n "$herald_bin" ]; then
        [ -x "$herald_bin" ] || die "BENCH_HERALD=$herald_bin is not an executable"
        log "BENCH_HERALD: running $herald_bin"
    else
        log "cargo build --release"
        cargo build --release
        [ -x target/release/herald ] || die "target/release/herald was not built"
        herald_bin=target/release/herald
    fi
    servers=(herald nginx)
    if needs sample; then
        start_herald sample "$repo_root/feeds"
    fi
    if needs pub; then
        start_herald pub "$tmp/publication"
    fi
    # nginx serves what herald serves, byte for byte.
    for cell in "${cells[@]}"; do
        read -r name instance path <<<"$cell"
        path="${path//\{slug\}/$slug}"
        mkdir -p "$(dirname "$www/$instance$path")"
        curl -fsS -o "$www/$instance$path" "${bases[herald:$instance]}$path" \
            || die "could not fetch $path from herald ($instance)"
    done
fi
for cell in "${cells[@]}"; do
    read -r name instance path <<<"$cell"
    path="${path//\{slug\}/$slug}"
    gzip -k -9 -f "$www/$instance$path"
done
start_nginx

# ETags: each server's own, for a request without Accept-Encoding (as in the
# 304 wrk run).
for server in "${servers[@]}"; do
    for cell in "${cells[@]}"; do
        read -r name instance path <<<"$cell"
        u="${bases[$server:$instance]}${path//\{slug\}/$slug}"
        tag="$(fetch_headers "$u" | header_of etag)" || die "$server $u: request failed"
        [ -n "$tag" ] || die "$server $u sent no ETag"
        etag["$server:$u"]="$tag"
    done
done

# Sanity checks before spending time on wrk.
for server in "${servers[@]}"; do
    for cell in "${cells[@]}"; do
        read -r name instance path <<<"$cell"
        for case_ in plain gzip 304; do
            check_case "$server" "${bases[$server:$instance]}${path//\{slug\}/$slug}" "$case_"
        done
    done
done
log "sanity checks passed"

printf '# %s  nproc=%s  %s  wrk %s  (wrk -t%s -c%s -d%s, client and servers on the same host)\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" \
    "$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')" \
    "$("$wrk_bin" -v 2>&1 | awk 'NR == 1 { print $2 }')" \
    "$wrk_threads" "$wrk_conns" "$duration"
printf '# median of %s alternating runs per server and case; bytes: body sent;\n' "$rounds"
printf '# us/req: server CPU time per request (user + system), in microseconds\n' 
printf '%-12s %-6s %9s %14s %14s %8s %13s %13s  %s\n' \
    cell case bytes "herald req/s" "nginx req/s" ratio "herald us/req" "nginx us/req" notes
# median of the numbers given as arguments ("-" when none)
median() {
    if [ "$#" -eq 0 ]; then echo "-"; return; fi
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for cell in "${cells[@]}"; do
    read -r name instance path <<<"$cell"
    path="${path//\{slug\}/$slug}"
    for case_ in plain gzip 304; do
        case "$case_" in
            plain) bytes="$(wc -c < "$www/$instance$path")" ;;
            gzip) bytes="$(wc -c < "$www/$instance$path.gz")" ;;
            304) bytes=0 ;;
        esac
        # Alternate the servers, round after round, and keep each one's median:
        # one run each is at the mercy of whatever else the two cores do.
        h_runs=() n_runs=() h_cpus=() n_cpus=() h_note="-" n_note="-"
        for _round in $(seq "$rounds"); do
            if [ "$nginx_only" != 1 ]; then
                read -r h_rps h_cpu h_note <<<"$(run_wrk herald "$instance" "${bases[herald:$instance]}$path" "$case_")"
                h_runs+=("$h_rps")
                h_cpus+=("$h_cpu")
            fi
            read -r n_rps n_cpu n_note <<<"$(run_wrk nginx "$instance" "${bases[nginx:$instance]}$path" "$case_")"
            n_runs+=("$n_rps")
            n_cpus+=("$n_cpu")
        done
        h_rps="$(median "${h_runs[@]}")"
        n_rps="$(median "${n_runs[@]}")"
        h_cpu="$(median "${h_cpus[@]}")"
        n_cpu="$(median "${n_cpus[@]}")"
        ratio="$(awk -v a="$h_rps" -v b="$n_rps" 'BEGIN { if (a != "-" && b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
        notes=""
        [ "$h_note" = "-" ] || notes="herald:$h_note "
        [ "$n_note" = "-" ] || notes="${notes}nginx:$n_note"
        printf '%-12s %-6s %9s %14s %14s %8s %13s %13s  %s\n' \
            "$name" "$case_" "$bytes" "$h_rps" "$n_rps" "$ratio" "$h_cpu" "$n_cpu" "$notes"
    done
done
