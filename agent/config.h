/*
 * The configuration file (DESIGN.md "Config file"): JSON with comments,
 * parsed by json-c, validated completely, every error reported as
 * file:line:col.  config_derive() fills the defaults that come from the
 * running system (lan_interface, local_subnets).
 */
#ifndef AG_CONFIG_H
#define AG_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>

#include "common/prefix.h"
#include "common/util.h"

#define CFG_DEFAULT_PATH "/etc/cloudroute/cloudroute.json"

enum cfg_tunnel_mode { TUNNEL_USERSPACE, TUNNEL_EXTERNAL };
enum cfg_rp_filter { RP_OFF, RP_LOOSE, RP_LEAVE };
enum cfg_takeover { TAKEOVER_NEVER, TAKEOVER_BLACKHOLE, TAKEOVER_GROUP };
enum cfg_firewall { FIREWALL_INTEGRATE, FIREWALL_LEAVE };

struct cfg_portfwd {
	int proto;                 /* IPPROTO_TCP / IPPROTO_UDP */
	uint16_t port;
	struct prefix to;          /* host prefix */
	uint16_t to_port;
};

/* Longest peer name and endpoint (with the NUL) the config accepts. */
#define CFG_PEER_NAME_LEN 64
#define CFG_ENDPOINT_LEN 256

/* Strings are heap copies owned by the peer (config_free frees them). */
struct cfg_peer {
	char *name;                /* 1-63 characters (default "peer<i>") */
	uint8_t public_key[32];
	int has_psk;
	char *psk_file;            /* NULL = none */
	int has_endpoint;
	char *endpoint;            /* "host:port" when has_endpoint, else NULL */
	struct prefix_set allowed_ips;
	uint16_t keepalive;
	char *backup_for;          /* peer group: the primary's name, NULL = none */
	size_t backup_of;          /* 1 + the primary's index in tunnel.peers; 0 = none */
};

#define CFG_FLEET_MAX_ETCD 8

/* DESIGN.md "Fleet".  Strings "" = not set. */
struct cfg_fleet {
	int enabled;                    /* the section is present */
	char etcd[CFG_FLEET_MAX_ETCD][256];
	size_t n_etcd;
	char ca_file[PATH_MAX];
	char cert_file[PATH_MAX];
	char key_file[PATH_MAX];
	char prefix[128];               /* default "/cloudroute/" */
	char site[64];                  /* default cloud.ha_group */
	char name[64];                  /* default the host name */
	char endpoint[256];             /* default "" = cloud public IP : listen_port */
	unsigned int lease_ttl;         /* seconds, default 2 */
	int has_health_ping;            /* health_ping: a LAN address that must answer */
	struct prefix health_ping;
};

struct config {
	char path[PATH_MAX];
	struct prefix_set overlay;
	char lan_interface[IF_NAMESIZE];
	int lan_interface_derived;
	struct prefix_set local_subnets;
	int local_subnets_derived;
	int nat_masquerade;
	struct prefix_set nat_exclude;
	int nat_mss_clamp;
	int egress;
	enum cfg_rp_filter rp_filter;
	struct cfg_portfwd *fwds;
	size_t n_fwds;
	struct {
		enum cfg_tunnel_mode mode;
		char interface[IF_NAMESIZE];
		struct prefix_set routes;
		char private_key_file[PATH_MAX];
		uint16_t listen_port;
		struct prefix_set address;      /* host bits kept */
		unsigned int mtu;
		struct cfg_peer *peers;
		size_t n_peers;
		unsigned int failover_after;    /* s without a packet: a group peer is down */
		unsigned int hold_down;         /* s healthy before the group moves back */
	} tunnel;
	struct {
		char provider[16];              /* auto aws azure gcp oci none */
		int disable_source_dest_check;
		int disable_port_security;      /* OpenStack: "port_security": "disable" */
		char **route_tables;            /* NULL = auto or network */
		int route_tables_network;       /* "network": every table serving a subnet */
		size_t n_route_tables;
		int routes_auto;
		struct prefix_set routes;
		char ha_group[64];
		enum cfg_takeover takeover;
	} cloud;
	enum cfg_firewall firewall;     /* other firewalls' forward drops */
	char metrics_listen[64];        /* "" = no metrics endpoint */
	struct cfg_fleet fleet;
	char state_dir[PATH_MAX];
	char sysctl_file[PATH_MAX];
	unsigned int reconcile_interval;
};

/* 0, or -EINVAL with "file:line:col: message" in err (-ENOENT etc. for I/O). */
int config_load(const char *path, struct config *cfg, struct buf *err);
/* Same, from a string (path used in messages only). */
int config_parse(const char *path, const char *text, size_t len,
    struct config *cfg, struct buf *err);
/* Fills lan_interface / local_subnets from the kernel when not configured. */
int config_derive(struct config *cfg, struct buf *err);
void config_free(struct config *cfg);
/* Frees what one peer of tunnel.peers holds (config_free does it for all). */
void config_peer_free(struct cfg_peer *p);
/* The effective configuration as JSON (no secrets are in the config). */
void config_dump(const struct config *cfg, FILE *out);
/* Every prefix that should be routed through the tunnel: peers' allowed
 * IPs (userspace) or tunnel.routes (external). */
void config_tunnel_prefixes(const struct config *cfg, struct prefix_set *out);
/* The configured peer with that public key (constant-time compare), or NULL. */
const struct cfg_peer *config_peer_by_key(const struct config *cfg, const uint8_t key[32]);
/* The rp_filter value wanted on the LAN and tunnel (0 off, 2 loose). */
long config_rp_filter_target(const struct config *cfg);
/* Does any configured prefix or address use IPv6? */
int config_uses_ipv6(const struct config *cfg);

#endif
