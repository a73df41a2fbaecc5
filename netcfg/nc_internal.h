/*
 * Internals shared by the netcfg files (and their unit tests): the
 * thread-local error text, the sysctl key -> /proc/sys path mapping, and a
 * libnl socket that asks for extended acks and keeps the kernel's message.
 */
#ifndef NC_INTERNAL_H
#define NC_INTERNAL_H

#include <stddef.h>

#include "common/log.h"

struct nl_sock;

/* Sets the text nc_last_error() returns. */
void nc_set_error(const char *fmt, ...) CR_PRINTF(1, 2);
/* Sets "what: strerror(-err)" and returns err (negative errno). */
int nc_fail(int err, const char *what);

/* Runs one nft script through libnftables (json: JSON output into out).
 * 0 or -errno with nft's first error line in nc_last_error(). */
struct buf;
struct json_object;
int nc_nft_script(const char *script, int json, struct buf *out, const char *what);
/* Parses and checks a script against the live ruleset without committing. */
int nc_nft_check(const char *script, const char *what);
/* nc_fw_scan() over the "nftables" array of a listing (unit tests). */
struct nc_fw_chain;
int nc_fw_scan_array(struct json_object *arr, struct nc_fw_chain **out, size_t *n);
/* The ruleset as JSON: *arr is the "nftables" array inside *root (put it). */
int nc_nft_ruleset(struct json_object **root, struct json_object **arr);

/*
 * "net.ipv4.conf.eth0.1.rp_filter" -> "/proc/sys/net/ipv4/conf/eth0.1/rp_filter".
 * Keys under net.ipv{4,6}.{conf,neigh}.<ifname>. keep the dots of the
 * interface name; a key with '/' is taken as a path already.  0 or -EINVAL.
 */
int nc_sysctl_path(const char *key, char *path, size_t len);

/*
 * A NETLINK_ROUTE socket whose error callback records the kernel's errno
 * and extended-ack text (NETLINK_EXT_ACK) of the last NLMSG_ERROR.
 */
struct nc_nl {
	struct nl_sock *sk;
	int err;                      /* negative errno from the kernel, or 0 */
	char msg[200];                /* NLMSGERR_ATTR_MSG, or "" */
};
int nc_nl_open(struct nc_nl *nl);
void nc_nl_close(struct nc_nl *nl);
/* Clears the recorded error before a request. */
void nc_nl_reset(struct nc_nl *nl);
/*
 * Turns a libnl return code into -errno and sets nc_last_error() to
 * "what: <ext ack text or strerror>".  Returns 0 when r >= 0.
 */
int nc_nl_result(struct nc_nl *nl, int r, const char *what);


struct nl_addr;
struct prefix;
/* nl_addr <-> struct prefix (address bytes and prefix length). */
int nc_prefix_from_nl(struct nl_addr *a, struct prefix *p);
struct nl_addr *nc_prefix_to_nl(const struct prefix *p);
/* 0 if name is a valid interface name, else -EINVAL with the error set. */
int nc_ifname_check(const char *name);

#endif
