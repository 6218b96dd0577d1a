#!/usr/bin/env bash
# herald's single test command:  bash scripts/test.sh [extra cargo test args]
#
# 1. Makes sure the external tools the tests use are present:
#      - jing (RELAX NG validator, checks Atom output against tests/schema/atom.rnc)
#      - Python 3 with feedparser (tests/tools/check_feed.py), flask-websub
#        (tests/tools/websub_subscriber.py) and openapi-spec-validator
#        (tests/tools/check_openapi.py), pinned in tests/requirements.txt
#      - PostgreSQL (Debian's `postgresql` package) for a throwaway cluster
#      - nginx (tests/api/deploy.rs runs deploy/nginx.conf in front of herald)
#    Missing tools are installed when possible (apt-get as root or through
#    passwordless sudo; pip into python3, or into a venv under target/ when the
#    system Python is "externally managed" as on Debian 12).
#    If something cannot be installed: with CI=true the script fails;
#    otherwise it warns loudly and the Rust tests skip that part, saying why.
# 2. Starts a throwaway PostgreSQL cluster on a free loopback port, as an
#    unprivileged user, in a temporary directory that is removed on exit
#    (also on Ctrl-C or SIGTERM).
# 3. Exports HERALD_JING, HERALD_PYTHON, HERALD_NGINX (paths, possibly empty)
#    and HERALD_TEST_POSTGRES_URL (empty when there is no cluster), runs
#    `cargo test "$@"` (unit, integration and doc tests); on a whole run
#    (no arguments) it then runs the integration tests a second time with
#    HERALD_TEST_BACKEND=postgres, every spawned app on PostgreSQL. Exits
#    with the first failing status.
#
# Sourcing the script (`. scripts/test.sh`) defines the functions without
# running anything, to try one of them by hand.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root="$(pwd)"

log()  { printf '==> %s\n' "$*" >&2; }
warn() {
    printf '\n' >&2
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '!!! WARNING: %s\n' "$@" >&2
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
}
die()  { printf 'scripts/test.sh: error: %s\n' "$*" >&2; exit 1; }

is_ci() {
    case "${CI:-}" in
        true|TRUE|True|1|yes) return 0 ;;
        *) return 1 ;;
    esac
}

# A prerequisite could not be provided: fatal under CI, loud warning otherwise.
missing() {
    if is_ci; then
        die "$* (CI=true, refusing to run the tests without it)"
    fi
    warn "$*" "Continuing; the tests that need it will be SKIPPED (see their output)."
}

# How to run privileged commands: directly as root, via passwordless sudo,
# or not at all (empty).
privileged_prefix() {
    if [ "$(id -u)" -eq 0 ]; then
        echo "root"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        echo "sudo"
    else
        echo ""
    fi
}

# as_root CMD...: run a command as root (directly or through passwordless
# sudo); returns non-zero without running it if neither is possible.
as_root() {
    case "$(privileged_prefix)" in
        root) "$@" ;;
        sudo) sudo -n "$@" ;;
        *) return 1 ;;
    esac
}

# Debian's maintainer scripts start a package's service when it is installed
# (nginx on port 80, PostgreSQL's "main" cluster on 5432) unless
# /usr/sbin/policy-rc.d exits 101. The tests start their own servers, so
# apt_install puts such a file in place for the install when there is none
# (Debian's container images ship one) and removes it afterwards, or on exit.
policy_rc_d=/usr/sbin/policy-rc.d
policy_rc_d_ours=no

block_service_starts() {
    [ -e "$policy_rc_d" ] && return 0
    # shellcheck disable=SC2016 # $1 is expanded by the inner shell
    if as_root sh -c 'printf "#!/bin/sh\n# scripts/test.sh: no service starts during its installs\nexit 101\n" >"$1" && chmod 0755 "$1"' \
        sh "$policy_rc_d"; then
        policy_rc_d_ours=yes
    fi
}

unblock_service_starts() {
    if [ "$policy_rc_d_ours" = yes ]; then
        as_root rm -f "$policy_rc_d" || true
        policy_rc_d_ours=no
    fi
}

# apt_install PKG...: install Debian packages without starting their
# services; returns non-zero if impossible.
apt_install() {
    if [ -z "$(privileged_prefix)" ] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    # Only refresh the package lists when a package is not known yet
    # (e.g. a fresh container with empty /var/lib/apt/lists).
    local pkg need_update=no status=0
    for pkg in "$@"; do
        if ! apt-cache show "$pkg" >/dev/null 2>&1; then
            need_update=yes
        fi
    done
    block_service_starts
    if [ "$need_update" = yes ]; then
        log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || status=$?
    fi
    if [ "$status" -eq 0 ]; then
        log "apt-get install $*"
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
    fi
    unblock_service_starts
    return "$status"
}

# --- jing and curl --------------------------------------------------------------
# ensure_command NAME ENV_VAR: NAME is on PATH (or ENV_VAR names it), or is
# installed with apt-get (the Debian package has the same name).
ensure_command() {
    local name="$1" env_var="$2"
    if [ -n "${!env_var:-}" ] && [ -x "${!env_var}" ]; then
        return 0
    fi
    if command -v "$name" >/dev/null 2>&1; then
        return 0
    fi
    log "$name not found; trying to install it with apt-get"
    if apt_install "$name" && command -v "$name" >/dev/null 2>&1; then
        return 0
    fi
    missing "$name is not on PATH and could not be installed with apt-get (that needs" \
        "root or passwordless sudo). Install it with: apt-get install $name"
}

# --- Python + feedparser ------------------------------------------------------
venv_dir="${CARGO_TARGET_DIR:-$repo_root/target}/test-venv"
python_bin=""

has_feedparser() {
    [ -n "$1" ] && [ -x "$1" ] && "$1" -c 'import feedparser, jsonschema, flask_websub, prometheus_client, openapi_spec_validator' >/dev/null 2>&1
}

# True when pip must not install into this interpreter (PEP 668, Debian 12).
externally_managed() {
    "$1" - <<'PY' >/dev/null 2>&1
import os, sys, sysconfig
in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if (not in_venv and os.path.exists(marker)) else 1)
PY
}

pip_install_reqs() {
    PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$1" -m pip install -q -r tests/requirements.txt
}

ensure_python() {
    local sys_py
    sys_py="$(command -v python3 || true)"

    # Already usable: system/pyenv python3, or a venv from an earlier run.
    if has_feedparser "$sys_py"; then
        python_bin="$sys_py"; return 0
    fi
    if has_feedparser "$venv_dir/bin/python"; then
        python_bin="$venv_dir/bin/python"; return 0
    fi

    if [ -z "$sys_py" ]; then
        log "python3 not found; trying to install it with apt-get"
        apt_install python3 python3-venv || true
        sys_py="$(command -v python3 || true)"
        if [ -z "$sys_py" ]; then
            missing "python3 is not installed and could not be installed" \
                "(needs root or passwordless sudo and apt-get)."
            return 0
        fi
    fi

    # Plain pip install into python3 when that is allowed (pyenv, venvs, ...).
    if ! externally_managed "$sys_py" && "$sys_py" -m pip --version >/dev/null 2>&1; then
        log "installing tests/requirements.txt with $sys_py -m pip"
        if pip_install_reqs "$sys_py" && has_feedparser "$sys_py"; then
            python_bin="$sys_py"; return 0
        fi
        log "pip install into $sys_py failed; trying a virtualenv instead"
    fi

    # Otherwise a private venv under target/ (Debian needs python3-venv for it).
    log "creating virtualenv $venv_dir for the test tools"
    if ! "$sys_py" -m venv "$venv_dir" >/dev/null 2>&1; then
        # Debian: ensurepip lives in python3-venv. Retry once, showing errors.
        rm -rf "$venv_dir"
        apt_install python3-venv || true
        "$sys_py" -m venv "$venv_dir" >/dev/null || rm -rf "$venv_dir"
    fi
    if [ -x "$venv_dir/bin/python" ] && pip_install_reqs "$venv_dir/bin/python" \
        && has_feedparser "$venv_dir/bin/python"; then
        python_bin="$venv_dir/bin/python"; return 0
    fi
    missing "Python module 'feedparser' is not available and could not be" \
        "installed. Install it with: pip install -r tests/requirements.txt"
    # Still hand python3 to the tests; they report feedparser as missing.
    python_bin="$sys_py"
}

# --- PostgreSQL ---------------------------------------------------------------
pg_bin=""       # the directory of initdb and pg_ctl
pg_tmp=""       # the cluster's temporary directory, removed by stop_postgres
pg_as=()        # how to run the cluster's commands (as postgres when root)

# The newest Debian PostgreSQL's bin directory (/usr/lib/postgresql/<v>/bin).
# Preferred over PATH, where wrappers such as /usr/local/bin/pg_ctl may sit.
debian_pg_bin() {
    local dir
    dir="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
    fi
}

ensure_postgres() {
    pg_bin="$(debian_pg_bin)"
    if [ -z "$pg_bin" ]; then
        log "PostgreSQL not found in /usr/lib/postgresql; trying to install it with apt-get"
        apt_install postgresql || true
        pg_bin="$(debian_pg_bin)"
    fi
    if [ -z "$pg_bin" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        # Not Debian's packaging: use what is on PATH.
        pg_bin="$(dirname "$(command -v initdb)")"
    fi
    if [ -z "$pg_bin" ]; then
        missing "PostgreSQL (initdb, pg_ctl) is not installed and could not be installed" \
            "(needs root or passwordless sudo). Install it with: apt-get install postgresql"
    fi
}

# A TCP port free on 127.0.0.1 right now.
free_port() {
    if command -v python3 >/dev/null 2>&1 && python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null; then
        return 0
    fi
    # No Python: probe random ports until one refuses connections.
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# Starts a throwaway cluster and exports HERALD_TEST_POSTGRES_URL; leaves it
# empty (after `missing`) when that is impossible. Arguments, if any, are the
# server settings to start it with (`name=value`, each passed as `-c`)
# instead of the tests' ones below; bench/fanout.sh passes its own.
# shellcheck disable=SC2120 # the arguments come from bench/fanout.sh
start_postgres() {
    # fsync and friends off: a throwaway cluster has nothing to keep, and
    # every test creates a database.
    local settings=(fsync=off synchronous_commit=off full_page_writes=off max_connections=300)
    if [ "$#" -gt 0 ]; then
        settings=("$@")
    fi
    HERALD_TEST_POSTGRES_URL=""
    export HERALD_TEST_POSTGRES_URL
    [ -n "$pg_bin" ] || return 0

    # PostgreSQL refuses to run as root: as root, the cluster belongs to the
    # postgres user (made by Debian's package); otherwise to the current user.
    pg_as=()
    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            missing "PostgreSQL cannot run as root and there is no postgres user to run it as."
            return 0
        fi
        pg_as=(runuser -u postgres --)
    fi

    local port
    if ! port="$(free_port)"; then
        missing "no free TCP port found on 127.0.0.1 for PostgreSQL."
        return 0
    fi
    pg_tmp="$(mktemp -d "${TMPDIR:-/tmp}/herald-pg.XXXXXX")"
    mkdir "$pg_tmp/log" "$pg_tmp/sock"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$pg_tmp"
    fi

    log "starting PostgreSQL ($pg_bin) on 127.0.0.1:$port in $pg_tmp"
    if ! "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_tmp/data" -U postgres -A trust --no-sync -E UTF8 --locale=C \
        >"$pg_tmp/log/initdb.log" 2>&1; then
        cat "$pg_tmp/log/initdb.log" >&2
        stop_postgres
        missing "initdb failed (output above); the PostgreSQL tests cannot run."
        return 0
    fi
    local options="-c listen_addresses=127.0.0.1 -p $port -k $pg_tmp/sock" setting
    for setting in "${settings[@]}"; do
        options+=" -c $setting"
    done
    if ! "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/log/postgres.log" -w -t 60 \
        -o "$options" start >/dev/null; then
        cat "$pg_tmp/log/postgres.log" >&2 || true
        stop_postgres
        missing "PostgreSQL did not start (its log is above); the PostgreSQL tests cannot run."
        return 0
    fi
    HERALD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# Stops the cluster started by start_postgres (if any) and removes its
# directory. Safe to call twice, and from the exit trap.
stop_postgres() {
    [ -n "$pg_tmp" ] || return 0
    if [ -f "$pg_tmp/data/postmaster.pid" ]; then
        "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
        # pg_ctl failed to stop it: end the postmaster this script started.
        local pid
        pid="$(head -n 1 "$pg_tmp/data/postmaster.pid" 2>/dev/null || true)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$pg_tmp"
    pg_tmp=""
}

# --- nginx ----------------------------------------------------------------------
find_nginx() {
    if [ -n "${HERALD_NGINX:-}" ] && [ -x "$HERALD_NGINX" ]; then
        echo "$HERALD_NGINX"
    elif command -v nginx >/dev/null 2>&1; then
        command -v nginx
    elif [ -x /usr/sbin/nginx ]; then
        # /usr/sbin is not on a normal user's PATH.
        echo /usr/sbin/nginx
    fi
}

# Exports HERALD_NGINX, installing nginx when needed; never leaves the
# system's nginx service running.
ensure_nginx() {
    HERALD_NGINX="$(find_nginx)"
    if [ -z "$HERALD_NGINX" ]; then
        log "nginx not found; trying to install it with apt-get"
        apt_install nginx || true
        HERALD_NGINX="$(find_nginx)"
        # apt_install keeps the service from starting; should an init system
        # have started it anyway, stop it so nothing is left on port 80.
        if [ -n "$HERALD_NGINX" ] && [ -s /run/nginx.pid ] \
            && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
            log "stopping the nginx service the package started"
            as_root "$HERALD_NGINX" -s quit >/dev/null 2>&1 || true
        fi
    fi
    export HERALD_NGINX
    if [ -z "$HERALD_NGINX" ]; then
        missing "nginx is not installed and could not be installed (needs root or" \
            "passwordless sudo). Install it with: apt-get install nginx"
    fi
}

# Everything started or changed for the tests is undone on exit: the EXIT
# trap runs on normal exit, on errors (set -e) and, through the INT and TERM
# traps, on Ctrl-C and kill.
cleanup() {
    stop_postgres
    unblock_service_starts
}

# --- Node + Fedify (the interop peer in tests/interop) --------------------------
ensure_interop_peer() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "node/npm not found; trying to install them with apt-get"
        apt_install nodejs npm || true
    fi
    if ! command -v node >/dev/null 2>&1; then
        missing "node is not installed (the Fedify interop test needs Node >= 20)."
        return 0
    fi
    if [ -d tests/interop/node_modules/@fedify/fedify ] \
        && [ tests/interop/node_modules/.package-lock.json -nt tests/interop/package-lock.json ]; then
        return 0
    fi
    log "npm ci in tests/interop"
    if ! (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        missing "npm ci in tests/interop failed; the Fedify interop test cannot run."
    fi
}

# --- main -----------------------------------------------------------------------
main() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH (install Rust first)"

    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    ensure_command jing HERALD_JING
    # The README's API examples are run as written.
    ensure_command curl HERALD_CURL
    ensure_python
    ensure_interop_peer
    ensure_nginx
    ensure_postgres
    # shellcheck disable=SC2119 # no arguments: the tests' settings
    start_postgres

    HERALD_JING="${HERALD_JING:-$(command -v jing || true)}"
    HERALD_PYTHON="${HERALD_PYTHON:-$python_bin}"
    export HERALD_JING HERALD_PYTHON
    log "HERALD_JING=${HERALD_JING:-<none>}"
    log "HERALD_PYTHON=${HERALD_PYTHON:-<none>}"
    log "HERALD_NGINX=${HERALD_NGINX:-<none>}"
    log "HERALD_TEST_POSTGRES_URL=${HERALD_TEST_POSTGRES_URL:-<none>}"

    # A child, not `exec`: the EXIT trap must outlive cargo to stop
    # PostgreSQL. Ctrl-C reaches cargo and this shell alike (one process
    # group); the traps run once cargo has exited.
    log "cargo test $*"
    local status=0
    cargo test "$@" || status=$?
    # Second pass: the integration tests again, every app on PostgreSQL
    # (tests that pick their backend themselves keep it). Only for a whole
    # run: arguments select tests of the first pass.
    if [ "$status" -eq 0 ] && [ "$#" -eq 0 ] && [ -n "${HERALD_TEST_POSTGRES_URL:-}" ]; then
        log "HERALD_TEST_BACKEND=postgres cargo test --test api"
        HERALD_TEST_BACKEND=postgres cargo test --test api || status=$?
    fi
    exit "$status"
}

# Run when executed; only define the functions when sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
