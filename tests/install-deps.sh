#!/bin/sh
# Installs the Debian packages cloudroute builds and tests with, only those
# that are missing.  Used by `make check`, `make demo` and `make bench`.
set -eu
pkgs="build-essential pkg-config clang libnl-3-dev libnl-route-3-dev libnftables-dev
nftables libjson-c-dev libcurl4-openssl-dev libssl-dev libcmocka-dev libexpat1-dev
libsystemd-dev libyaml-dev libqrencode-dev iproute2 wireguard-go wireguard-tools iperf3 python3 openssl procps
iputils-ping netcat-openbsd curl python3-yaml zbar-tools mandoc man-db lintian debhelper dpkg-dev
iptables systemd-container libcap2-bin libmicrohttpd-dev prometheus etcd-server etcd-client"
[ "${CLOUDROUTE_BENCH:-0}" = 1 ] && pkgs="$pkgs openvpn"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
