#!/bin/bash
# GCE startup script for a cloudroute connector (instance metadata key
# "startup-script"; runs as root on every boot, so every step is idempotent).
# For images with cloud-init, user-data.yaml does the same.
#
# Install method: build from source (no .deb is published yet).  REPLACE the
# repository URL and tag below with the ones you build from.
#
# The hub's key and endpoint come from instance metadata attributes, so the
# same script serves every connector:
#   cloudroute-hub-public-key   the hub's WireGuard public key (base64)
#   cloudroute-hub-endpoint     host:port of the hub
#   cloudroute-address          this connector's overlay address (100.96.0.100/11)
# The instance needs a service account with the custom role of
# custom-role.yaml and the scope https://www.googleapis.com/auth/compute; a
# firewall rule allowing UDP 51820 from the peers and all traffic from the
# VPC's ranges.  canIpForward is turned on by cloudroute itself (or set it at
# creation, as terraform/main.tf does) and restored by `cloudroute teardown`.
set -eu

md() {
	curl -sf -H 'Metadata-Flavor: Google' \
		"http://169.254.169.254/computeMetadata/v1/instance/attributes/$1" || true
}

if ! command -v cloudroute >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y build-essential pkg-config git nftables libnl-3-dev \
		libnl-route-3-dev libnftables-dev libjson-c-dev libcurl4-openssl-dev \
		libssl-dev libexpat1-dev libsystemd-dev
	src=/usr/local/src/cloudroute
	# REPLACE: the repository and tag you build from.
	[ -d "$src" ] || git clone --depth 1 --branch v0.1.0 https://git.example.net/cloudroute.git "$src"
	make -C "$src"
	make -C "$src" install
fi
PATH=/usr/local/sbin:$PATH

umask 077
mkdir -p /etc/cloudroute
if [ ! -s /etc/cloudroute/cloudroute.json ]; then
	cat >/etc/cloudroute/cloudroute.json.tmp <<'JSON'
// cloudroute connector (written by the GCE startup script).  JSON with comments.
{
  "overlay": ["100.96.0.0/11"],
  // "local_subnets": ["10.0.0.0/18"],   // default: the subnets on the primary NIC
  "nat": { "masquerade": true, "exclude": [], "mss_clamp": true },
  "egress": false,
  "rp_filter": "off",
  "tunnel": {
    "mode": "userspace",
    "interface": "cr0",
    "private_key_file": "/etc/cloudroute/private.key",
    "listen_port": 51820,
    "address": ["@ADDRESS@"],
    "mtu": 1380,                          // GCP's VPC MTU is 1460
    "peers": [
      { "name": "hub",
        "public_key": "@HUB_PUBLIC_KEY@",
        "endpoint": "@HUB_ENDPOINT@",
        "allowed_ips": ["100.96.0.0/11"],
        "persistent_keepalive": 25 }
    ]
  },
  "cloud": {
    "provider": "gcp",
    "source_dest_check": "disable",       // on GCP: turn canIpForward on
    "route_tables": "network",            // GCP routes are network-wide
    "routes": "auto",
    "ha_group": "default",
    "takeover": "blackhole"
  },
  "reconcile_interval": 60
}
JSON
	key=$(md cloudroute-hub-public-key); ep=$(md cloudroute-hub-endpoint)
	addr=$(md cloudroute-address); addr=${addr:-100.96.0.100/11}
	sed -i -e "s|@HUB_PUBLIC_KEY@|$key|" -e "s|@HUB_ENDPOINT@|$ep|" \
		-e "s|@ADDRESS@|$addr|" /etc/cloudroute/cloudroute.json.tmp
	mv /etc/cloudroute/cloudroute.json.tmp /etc/cloudroute/cloudroute.json
fi
[ -s /etc/cloudroute/private.key ] || cloudroute genkey >/etc/cloudroute/private.key
chmod 0600 /etc/cloudroute/private.key /etc/cloudroute/cloudroute.json
echo "cloudroute public key: $(cloudroute pubkey </etc/cloudroute/private.key)"
cloudroute check
systemctl daemon-reload
systemctl enable --now cloudroute
