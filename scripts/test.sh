#!/usr/bin/env bash
# herald's single test command:  bash scripts/test.sh [extra cargo test args]
#
# 1. Makes sure the external tools the tests use are present:
#      - jing (RELAX NG validator, checks Atom output against tests/schema/atom.rnc)
#      - Python 3 with feedparser (tests/tools/check_feed.py), pinned in
#        tests/requirements.txt
#    Missing tools are installed when possible (apt-get as root or through
#    passwordless sudo; pip into python3, or into a venv under target/ when the
#    system Python is "externally managed" as on Debian 12).
#    If something cannot be installed: with CI=true the script fails;
#    otherwise it warns loudly and the Rust tests skip that part, saying why.
# 2. Exports HERALD_JING and HERALD_PYTHON (paths, possibly empty) and runs
#    `cargo test "$@"` (unit, integration and doc tests).
set -euo pipefail

cd "$(dirname "$0")/.."
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

# apt_install PKG...: install Debian packages; returns non-zero if impossible.
apt_install() {
    local how
    how="$(privileged_prefix)"
    if [ -z "$how" ] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    local -a run=()
    if [ "$how" = "sudo" ]; then
        run=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
        run=(env DEBIAN_FRONTEND=noninteractive)
    fi
    # Only refresh the package lists when a package is not known yet
    # (e.g. a fresh container with empty /var/lib/apt/lists).
    local pkg need_update=no
    for pkg in "$@"; do
        if ! apt-cache show "$pkg" >/dev/null 2>&1; then
            need_update=yes
        fi
    done
    if [ "$need_update" = yes ]; then
        log "apt-get update"
        "${run[@]}" apt-get update -qq
    fi
    log "apt-get install $*"
    "${run[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- jing ---------------------------------------------------------------------
ensure_jing() {
    if [ -n "${HERALD_JING:-}" ] && [ -x "$HERALD_JING" ]; then
        return 0
    fi
    if command -v jing >/dev/null 2>&1; then
        return 0
    fi
    log "jing not found; trying to install it with apt-get"
    if apt_install jing && command -v jing >/dev/null 2>&1; then
        return 0
    fi
    missing "jing is not on PATH and could not be installed with apt-get (that needs" \
        "root or passwordless sudo). Install it with: apt-get install jing"
}

# --- Python + feedparser ------------------------------------------------------
venv_dir="${CARGO_TARGET_DIR:-$repo_root/target}/test-venv"
python_bin=""

has_feedparser() {
    [ -n "$1" ] && [ -x "$1" ] && "$1" -c 'import feedparser, jsonschema' >/dev/null 2>&1
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

# --- placeholders for later ---------------------------------------------------
# start_postgres: PLACEHOLDER (not implemented yet) - start a throwaway PostgreSQL for the tests.
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
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH (install Rust first)"

ensure_jing
ensure_python
ensure_interop_peer

HERALD_JING="${HERALD_JING:-$(command -v jing || true)}"
HERALD_PYTHON="${HERALD_PYTHON:-$python_bin}"
export HERALD_JING HERALD_PYTHON
log "HERALD_JING=${HERALD_JING:-<none>}"
log "HERALD_PYTHON=${HERALD_PYTHON:-<none>}"

log "cargo test $*"
exec cargo test "$@"
