#!/usr/bin/env bash
# Installs what `cargo xtask bench` needs beyond the interop peers:
#   - the interop peers themselves (docker-registry, skopeo) via install-peers.sh
#   - wrk (Debian package wrk): the HTTP load generator of the server cases
#   - GNU time (Debian package time): /usr/bin/time, which measures each
#     client's CPU time and peak RSS
# and builds the bench-only programs (bench/: fixtures, ceilings, and the
# oci-client peer, a crates.io dependency) so the first bench run starts at once.
#
# Idempotent: installs only what is missing. Needs root for apt-get.
# Set SKIP_BENCH_BUILD=1 to install the packages only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
export DEBIAN_FRONTEND=noninteractive

"$here/install-peers.sh"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "+ apt-get update"
    apt-get update -q
    echo "+ apt-get install -y ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "${SKIP_BENCH_BUILD:-0}" != 1 ]; then
    target="${CARGO_TARGET_DIR:-$root/target}"
    echo "+ cargo build --release --manifest-path bench/Cargo.toml --target-dir $target"
    (cd "$root" && cargo build --release --manifest-path bench/Cargo.toml --target-dir "$target")
fi

echo "bench peers:"
echo "  $(wrk -v 2>&1 | head -n1)"
echo "  $(/usr/bin/time --version 2>&1 | head -n1)"
