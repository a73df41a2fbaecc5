/*
 * The host side of a connector: sysctls, cloudroute's nftables table and
 * kernel routes/addresses/links through netlink (libnl-route-3).  Every
 * function reads the kernel afresh (so drift is seen) and returns 0 or
 * -errno; netlink writes are ACKed and the kernel's extended-ack text is
 * available from nc_last_error() after a failure.
 */
#ifndef NC_NETCFG_H
#define NC_NETCFG_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"
#include "common/util.h"

/* Our route protocol number (cf. RTPROT_BGP = 186): only routes carrying it
 * are ever changed or removed by cloudroute. */
#define NC_RTPROT_CLOUDROUTE 117
#define NC_NFT_TABLE "cloudroute"     /* family inet */

/* Text of the last failure in this thread (extended ack or strerror). */
const char *nc_last_error(void);

/* ---- sysctl -------------------------------------------------------------- */
/* key in dotted form ("net.ipv4.conf.eth0.rp_filter"); val without newline. */
int nc_sysctl_read(const char *key, char *val, size_t len);
int nc_sysctl_write(const char *key, const char *val);

/* ---- nftables ------------------------------------------------------------ */
struct nc_portfwd {
	int proto;                    /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;                /* on the connector's tunnel address */
	struct prefix to;             /* host prefix of the target */
	uint16_t to_port;
};

struct nc_nft_spec {
	const char *lan_if;
	const char *tun_if;
	const struct prefix_set *overlay;        /* sources seen from the tunnel */
	const struct prefix_set *local_subnets;  /* the site behind lan_if */
	const struct prefix_set *exclude;        /* never NATed destinations */
	const struct prefix_set *tun_addrs;      /* connector addresses on tun_if */
	int masquerade;
	int egress;
	int mss_clamp;
	const struct nc_portfwd *fwds;
	size_t n_fwds;
};

/*
 * Renders the whole `table inet cloudroute { ... }` in nft syntax
 * (deterministic: the same spec gives the same bytes).  Semantics:
 *  - forward: policy accept (never a drop policy); MSS clamp to rt mtu on
 *    forwarded SYNs (both directions) when mss_clamp; accept overlay traffic
 *    tun_if->lan_if and replies/traffic lan_if->tun_if to overlay
 *    destinations; with egress, overlay->any via lan_if.
 *  - postrouting nat: masquerade overlay sources leaving lan_if except
 *    destinations in exclude; without egress only destinations in
 *    local_subnets are NATed, with egress every destination (still except
 *    exclude) -- egress NATs even when masquerade is off, since the internet
 *    has no route back to the overlay.
 *  - prerouting nat: per port forward, iifname tun_if, daddr in tun_addrs,
 *    proto/port -> dnat to target; postrouting masquerades that DNATed flow
 *    out of lan_if (ct status dnat) so replies come back through us.
 */
int nc_nft_render(const struct nc_nft_spec *spec, struct buf *out);
/* The live table as `nft list table inet cloudroute` prints it; -ENOENT if absent. */
int nc_nft_list(struct buf *out);
/* Replaces the table atomically (one transaction: add, delete, add + rules). */
int nc_nft_replace(const char *script);
/* Deletes the table; 0 also when it did not exist. */
int nc_nft_delete(void);
/* Names of base chains at `hook` ("forward", ...) in other tables whose
 * policy is drop, e.g. "ip filter FORWARD" (Docker); for doctor. */
int nc_nft_foreign_drop_chains(const char *hook, struct buf *out);

/* ---- other firewalls on the forward path (firewall.c) -------------------- */
#define NC_FW_MARK "cloudroute"       /* comment prefix of our rules in their chains */
#define NC_FW_MAX_OURS 256

/* A base chain at the forward hook of another ip/ip6/inet table, or a chain
 * that holds rules of ours. */
struct nc_fw_chain {
	char family[8];               /* ip, ip6, inet */
	char table[64];
	char chain[64];               /* the base chain */
	char target[64];              /* where our accepts go: DOCKER-USER,
	                               * ufw-user-forward, or the chain itself */
	char tool[16];                /* Docker ufw firewalld iptables nftables */
	int drops;                    /* policy drop or an unconditional drop/reject */
	int policy_drop;
	int xt;                       /* iptables-nft table: rules iptables can read */
	int owned;                    /* table flag "owner": nobody else may change it */
	int unsafe;                   /* a table/chain name unfit for a script */
	char mark[48];                /* comment of our rules there, "(mixed)" */
	size_t n_ours;
	int ours_first;               /* they are the first rules of target */
	int seen_other;               /* (scan internal) */
	uint64_t handles[NC_FW_MAX_OURS];
};

struct nc_fw_spec {
	const char *lan_if;
	const char *tun_if;
	const struct prefix_set *tunnel_side;    /* overlay and prefixes behind peers */
	const struct prefix_set *local_subnets;
	int egress;
};

/* Every foreign forward base chain and every chain with rules of ours;
 * caller frees *out. */
int nc_fw_scan(struct nc_fw_chain **out, size_t *n);
/* The narrowest accepts for c: tun_if->lan_if tunnel_side->local_subnets and
 * back (and egress), one rule a line with the mark comment; "" if none. */
int nc_fw_render(const struct nc_fw_spec *s, const struct nc_fw_chain *c, struct buf *out);
/* Do the rules of ours in c equal `rules` (rendered) and come first? */
int nc_fw_in_sync(const struct nc_fw_chain *c, const char *rules);
/* One transaction: delete ours in c->target, insert `rules` (may be "") at its top. */
int nc_fw_script(const struct nc_fw_chain *c, const char *rules, struct buf *out);
/* Would nft take the script (checked against the live ruleset, nothing
 * committed)?  Finds a chain named like an nft keyword at plan time. */
int nc_fw_check(const char *script);
int nc_fw_run(const char *script);

/* ---- links and addresses ------------------------------------------------- */
int nc_link_index(const char *ifname);              /* >0 or -ENODEV */
int nc_link_exists(const char *ifname);
/* up: 1 up, 0 down, -1 leave; mtu 0 = leave. */
int nc_link_set(const char *ifname, int up, unsigned int mtu);
int nc_link_get(const char *ifname, int *up, unsigned int *mtu);
/* Global-scope addresses with their prefix lengths (host bits kept). */
int nc_addr_list(const char *ifname, struct prefix_set *out);
int nc_addr_add(const char *ifname, const struct prefix *addr);
int nc_addr_del(const char *ifname, const struct prefix *addr);
/* Interface of the IPv4 default route (then IPv6), -ENOENT if none. */
int nc_default_ifname(char *ifname, size_t len);
/* Network prefixes of ifname's global addresses ("10.0.0.5/18" -> 10.0.0.0/18). */
int nc_connected_prefixes(const char *ifname, struct prefix_set *out);

/* ---- routes (main table) ------------------------------------------------- */
struct nc_route {
	struct prefix dst;
	char ifname[IF_NAMESIZE];
	int has_gateway;
	struct prefix gateway;         /* host prefix */
	uint32_t metric;
	int protocol;
};
/* Every route in the main table (v4 and v6) whose destination equals or
 * lies inside `within` (NULL = all); caller frees *out. */
int nc_route_list(const struct prefix *within, struct nc_route **out, size_t *n);
/* Adds a route with protocol NC_RTPROT_CLOUDROUTE (NLM_F_EXCL: -EEXIST if a
 * route with the same destination and metric exists). */
int nc_route_add(const struct prefix *dst, const char *ifname, uint32_t metric);
/* Deletes a route only if it carries our protocol; -ENOENT otherwise. */
int nc_route_del(const struct prefix *dst, const char *ifname, uint32_t metric);

/* ---- change notification ------------------------------------------------- */
/* A netlink socket subscribed to link and address changes; poll its fd. */
int nc_monitor_open(void);
/* Reads all pending messages; returns 1 if any link/address event came. */
int nc_monitor_drain(int fd);
void nc_monitor_close(int fd);
/* A netfilter socket subscribed to nftables commits (close it with
 * nc_monitor_close); drain returns 1 if another process committed a change
 * to the ruleset (Docker, ufw, firewalld rewriting theirs). */
int nc_nft_monitor_open(void);
int nc_nft_monitor_drain(int fd);

#endif
