# shellcheck shell=bash
# Shared set-up for scripts/test, scripts/demo and scripts/bed: everything a fresh machine needs is
# installed here, never by hand.

KEYOPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYOPS_CACHE=${KEYOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyops-aws}
export KEYOPS_ROOT KEYOPS_CACHE

keyops_log() { printf '\n==> %s\n' "$*" >&2; }

# Real OpenSSH for the test hosts (Debian's openssh-server) and the client for logins.
keyops_ensure_sshd() {
    if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null 2>&1 || ! command -v ssh-keygen >/dev/null 2>&1; then
        keyops_log "installing openssh-server (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq openssh-server openssh-client >/dev/null
    fi
    mkdir -p /run/sshd
}

# A venv built from tests/requirements.txt, cached by that file's hash and the Python version.
keyops_ensure_venv() {
    local python=${KEYOPS_PYTHON:-python3.11}
    command -v "$python" >/dev/null 2>&1 || python=python3
    local key
    key=$( { cat "$KEYOPS_ROOT/tests/requirements.txt"; "$python" -VV; } | sha256sum | cut -c1-16)
    KEYOPS_VENV="$KEYOPS_CACHE/venv-$key"
    if [ ! -f "$KEYOPS_VENV/.complete" ]; then
        keyops_log "building the venv $KEYOPS_VENV"
        rm -rf "$KEYOPS_VENV"
        mkdir -p "$KEYOPS_CACHE"
        "$python" -m venv "$KEYOPS_VENV"
        "$KEYOPS_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$KEYOPS_ROOT/tests/requirements.txt" \
            2> >(grep -v "^WARNING: Location" >&2)
        touch "$KEYOPS_VENV/.complete"
    fi
    export KEYOPS_VENV
    export PATH="$KEYOPS_VENV/bin:$PATH"
    export VIRTUAL_ENV="$KEYOPS_VENV"
}

# A venv of its own for a stage that needs other packages than the test venv (docs site, ansible-core
# matrix, galaxy-importer), cached by its requirements file's hash and the Python version. The test
# venv's tests/requirements.txt is never touched. Prints the venv's path.
#   keyops_extra_venv NAME REQUIREMENTS_FILE
keyops_extra_venv() {
    local name=$1 requirements=$2 python=${KEYOPS_PYTHON:-python3.11} key venv
    command -v "$python" >/dev/null 2>&1 || python=python3
    key=$( { cat "$requirements"; "$python" -VV; } | sha256sum | cut -c1-16)
    venv="$KEYOPS_CACHE/venv-$name-$key"
    if [ ! -f "$venv/.complete" ]; then
        keyops_log "building the venv $venv"
        rm -rf "$venv"
        mkdir -p "$KEYOPS_CACHE"
        "$python" -m venv "$venv" >&2
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" \
            2> >(grep -v "^WARNING: Location" >&2) >&2
        touch "$venv/.complete"
    fi
    printf '%s\n' "$venv"
}

# Ansible finds this checkout as keyops.aws through a symlink in the cache, one per checkout so
# that two clones never see each other's code (amazon.aws comes from the venv's site-packages).
keyops_collection_path() {
    local root
    root="$KEYOPS_CACHE/collections/$(printf '%s' "$KEYOPS_ROOT" | sha256sum | cut -c1-12)"
    mkdir -p "$root/ansible_collections/keyops"
    ln -sfn "$KEYOPS_ROOT" "$root/ansible_collections/keyops/aws"
    export ANSIBLE_COLLECTIONS_PATH="$root"
    export ANSIBLE_HOST_KEY_CHECKING=False
    export ANSIBLE_RETRY_FILES_ENABLED=False
    export ANSIBLE_NOCOLOR=1
    export PYTHONDONTWRITEBYTECODE=1
}

# Headless Chromium (Debian's package) for the audit report's rendering test.
keyops_ensure_chromium() {
    if ! command -v chromium >/dev/null 2>&1; then
        keyops_log "installing chromium (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    fi
}
