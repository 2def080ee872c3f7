#!/usr/bin/env bash
# make system-deps: the Debian packages the tests drive, installed with apt when missing.
#
#   ddclient, inadyn                      the real DDNS clients (tests/e2e/test_ddns.py)
#   qemu-user-static, libc6-arm64-cross   run the shipped arm64 bootstrap here
#                                         (tests/e2e/test_shipped.py)
#
# Packages already installed cost one dpkg query; nothing is downloaded then. As root (CI,
# these machines) apt-get runs as it is, otherwise through sudo. The package lists are
# refreshed only when an install cannot find a package.
set -euo pipefail
packages=("$@")
[[ ${#packages[@]} -gt 0 ]] || packages=(ddclient inadyn qemu-user-static libc6-arm64-cross)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

command -v apt-get >/dev/null ||
  { echo "system-deps: missing ${missing[*]}, and this machine has no apt-get: install them by hand" >&2; exit 1; }
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null ||
    { echo "system-deps: missing ${missing[*]}; run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
echo "system-deps: installing ${missing[*]}"
install() { "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
install || { "${sudo[@]}" apt-get update -q >/dev/null && install; }
