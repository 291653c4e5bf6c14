#!/usr/bin/env bash
# Installs the Debian packages the test suite drives (real clients and the reference registry)
# when they are missing. Needs root (or sudo) the first time; fails loudly rather than skipping.
set -euo pipefail

# command → Debian package
declare -A wanted=(
  [skopeo]=skopeo
  [umoci]=umoci
  [podman]=podman
  [docker-registry]=docker-registry
  [runc]=runc
  [busybox]=busybox-static
  [openssl]=openssl
  [zstd]=zstd
  [dockerd]=docker.io
  [containerd]=containerd
  [ctr]=containerd
  [buildah]=buildah
  [htpasswd]=apache2-utils
  [ceph-mon]=ceph-mon
  [ceph-osd]=ceph-osd
  [radosgw]=radosgw
  [radosgw-admin]=radosgw
  [chromium]=chromium
)

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing test dependencies: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root to install ${missing[*]} (apt-get)" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "still missing after install: $cmd" >&2; exit 1; }
done
