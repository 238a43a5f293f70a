#!/usr/bin/env bash
# Installs the peer programs that the interop tests in tests/ run against:
#   - CNCF Distribution ("docker-registry", Debian package docker-registry)
#   - skopeo (Debian package skopeo)
#   - oras-py (PyPI package oras, importable by the python3 on PATH)
#
# Idempotent: installs only what is missing, so a second run does nothing.
# Needs root for apt-get. The tests start their own Distribution instances on
# free loopback ports, so the packaged service (port 5000) is stopped if the
# package started it; nothing here relies on it.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# oras-py version the interop tests were written against.
ORAS_PY_VERSION="${ORAS_PY_VERSION:-0.2.43}"

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        echo "+ apt-get update"
        apt-get update -q
        apt_updated=1
    fi
    echo "+ apt-get install -y $*"
    apt-get install -y -q --no-install-recommends "$@"
}

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

# The Debian package may have started its own registry on :5000. Our tests
# never use it; stop it so it holds no port and no storage directory.
if [[ " ${missing[*]-} " == *" docker-registry "* ]]; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
        systemctl disable --now docker-registry || true
    elif command -v service >/dev/null 2>&1; then
        service docker-registry stop >/dev/null 2>&1 || true
    fi
fi

if ! python3 -c 'import oras' >/dev/null 2>&1; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    echo "+ python3 -m pip install oras==$ORAS_PY_VERSION"
    # A Debian-managed python refuses plain `pip install` (PEP 668); retry
    # with the override only in that case.
    if ! python3 -m pip install --quiet --disable-pip-version-check "oras==$ORAS_PY_VERSION"; then
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "oras==$ORAS_PY_VERSION"
    fi
fi

echo "peers:"
echo "  $(docker-registry --version)"
echo "  $(skopeo --version)"
echo "  $(python3 --version), oras $(python3 -c 'import importlib.metadata as m; print(m.version("oras"))')"
