#!/usr/bin/env bash
# Installs the peer programs that the interop tests in tests/ run against:
#   - CNCF Distribution ("docker-registry", Debian package docker-registry)
#   - skopeo (Debian package skopeo)
#   - oras-py (PyPI package oras, importable by the python3 on PATH)
#   - container tools from Debian: containerd (ctr), podman, buildah, umoci
#     and docker.io (dockerd and its docker CLI)
#   - a real Docker credential helper: docker-credential-pass (Debian package
#     golang-docker-credential-helpers) with pass and gnupg, which the
#     credential tests drive with a throwaway key and store in a temp dir
#   - tinyproxy (Debian package tinyproxy), the forward proxy of tests/tests/proxy.rs
# and adds the unprivileged system user ocipull-ci, as which the tests run
# the programs that read layouts ocipull wrote (to check file modes).
#
# Idempotent: installs only what is missing, so a second run does nothing.
# Needs root for apt-get. The tests start their own Distribution instances on
# free loopback ports, so the packaged service (port 5000) is stopped if the
# package started it; nothing here relies on it. Likewise the tests start their
# own containerd and dockerd with state in temporary directories: the
# packaged services are kept from starting during the install (policy-rc.d)
# and stopped and disabled if they run anyway.
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
command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || missing+=(containerd)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)
# /usr/bin/docker, not any docker CLI on PATH: the tests use the CLI that
# comes with the daemon they start.
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || missing+=(docker.io)
# The credential helper tests (tests/tests/client_credentials.rs).
command -v docker-credential-pass >/dev/null 2>&1 || missing+=(golang-docker-credential-helpers)
command -v pass >/dev/null 2>&1 || missing+=(pass)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
# useradd, for the ocipull-ci user below (podman depends on it too).
command -v useradd >/dev/null 2>&1 || missing+=(passwd)
if [ "${#missing[@]}" -gt 0 ]; then
    # Keep maintainer scripts from starting containerd and docker: the
    # tests own their daemons. Only added when the machine has no policy.
    own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt_install "${missing[@]}"
    if [ "$own_policy" -eq 1 ]; then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
fi

# Any packaged daemon that started anyway is stopped and kept from starting
# again; the tests never talk to /run/containerd or /var/run/docker.sock.
# tinyproxy likewise: the proxy tests start their own on a free loopback port.
for service in docker.socket docker containerd tinyproxy; do
    if [ -d /run/systemd/system ]; then
        if systemctl is-enabled --quiet "$service" 2>/dev/null || systemctl is-active --quiet "$service" 2>/dev/null; then
            echo "+ systemctl disable --now $service"
            systemctl disable --now "$service" >/dev/null 2>&1 || true
        fi
    elif [ -x "/etc/init.d/$service" ] && service "$service" status >/dev/null 2>&1; then
        echo "+ service $service stop"
        service "$service" stop >/dev/null 2>&1 || true
    fi
done

# The unprivileged user the layout-reading tests run tools as.
if ! getent passwd ocipull-ci >/dev/null 2>&1; then
    echo "+ useradd --system ocipull-ci"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ocipull-ci
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
echo "  containerd $(containerd --version | awk '{print $3}'), $(ctr --version)"
echo "  $(podman --version)"
echo "  $(buildah --version)"
echo "  $(umoci --version)"
echo "  $(/usr/sbin/dockerd --version)"
echo "  docker-credential-pass $(docker-credential-pass version 2>/dev/null || dpkg-query -W -f='${Version}' golang-docker-credential-helpers), $(pass version | grep -o 'v[0-9.]*' | head -n 1), $(gpg --version | head -n 1)"
echo "  $(tinyproxy -v)"
