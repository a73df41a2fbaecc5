/*
 * The libnl NETLINK_ROUTE socket every netcfg write goes through.  It turns
 * on NETLINK_EXT_ACK so the kernel explains a refusal ("Nexthop device is
 * not up"), and installs an error callback that records that text and the
 * errno, which libnl itself would fold into its own error codes.  Requests
 * are sent with nl_send_sync (rtnl_*_add/delete/change), which waits for
 * the ACK: nothing is fire-and-forget.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/handlers.h>
#include <netlink/errno.h>
#include <netlink/addr.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* Finds NLMSGERR_ATTR_MSG among the ack TLVs that follow the error. */
static void
ext_ack_text(const struct nlmsghdr *nlh, const struct nlmsgerr *e, char *out,
    size_t outlen)
{
	const char *end = (const char *)nlh + nlh->nlmsg_len;
	const char *p = (const char *)(e + 1);
	const struct nlattr *a;
	size_t alen;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* Without NLM_F_CAPPED the whole request is echoed before the TLVs. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		p += e->msg.nlmsg_len - NLMSG_HDRLEN;
	while (p + NLA_HDRLEN <= end) {
		a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end)
			return;
		alen = a->nla_len - NLA_HDRLEN;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && alen > 0) {
			if (alen >= outlen)
				alen = outlen - 1;
			memcpy(out, p + NLA_HDRLEN, alen);
			out[alen] = '\0';
			out[strcspn(out, "\n")] = '\0';
			return;
		}
		p += NLA_ALIGN(a->nla_len);
	}
}

static int
err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nc_nl *nl = arg;
	const struct nlmsghdr *nlh;

	(void)nla;
	nl->err = e->error < 0 ? e->error : -EIO;
	nl->msg[0] = '\0';
	nlh = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(*e))
		ext_ack_text(nlh, e, nl->msg, sizeof(nl->msg));
	return NL_STOP;
}

int
nc_nl_open(struct nc_nl *nl)
{
	int one = 1, r;

	memset(nl, 0, sizeof(*nl));
	if ((nl->sk = nl_socket_alloc()) == NULL)
		return nc_fail(-ENOMEM, "netlink socket");
	if ((r = nl_connect(nl->sk, NETLINK_ROUTE)) < 0) {
		nc_set_error("netlink connect: %s", nl_geterror(r));
		r = -EIO;
		goto out;
	}
	/* Both are best effort: old kernels lack them and still ACK. */
	(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK,
	    &one, sizeof(one));
	(void)setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK,
	    &one, sizeof(one));
	if ((r = nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, err_cb, nl)) < 0) {
		nc_set_error("netlink error callback: %s", nl_geterror(r));
		r = -ENOMEM;
		goto out;
	}
	return 0;
out:
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	return r;
}

void
nc_nl_close(struct nc_nl *nl)
{
	if (nl->sk)
		nl_socket_free(nl->sk);
	nl->sk = NULL;
}

void
nc_nl_reset(struct nc_nl *nl)
{
	nl->err = 0;
	nl->msg[0] = '\0';
}

/* libnl's own codes, for failures that did not come from an NLMSG_ERROR. */
static int
nlerr_errno(int r)
{
	switch (-r) {
	case NLE_NOMEM:		return -ENOMEM;
	case NLE_EXIST:		return -EEXIST;
	case NLE_OBJ_NOTFOUND:	return -ENOENT;
	case NLE_NODEV:		return -ENODEV;
	case NLE_PERM:		return -EPERM;
	case NLE_INVAL:		return -EINVAL;
	case NLE_RANGE:		return -ERANGE;
	case NLE_BUSY:		return -EBUSY;
	case NLE_AGAIN:		return -EAGAIN;
	case NLE_OPNOTSUPP:	return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:	return -EAFNOSUPPORT;
	case NLE_NOACCESS:	return -EACCES;
	default:		return -EIO;
	}
}

int
nc_nl_result(struct nc_nl *nl, int r, const char *what)
{
	int err;

	if (r >= 0)
		return 0;
	err = nl->err ? nl->err : nlerr_errno(r);
	if (nl->msg[0])
		nc_set_error("%s: %s", what, nl->msg);
	else if (nl->err)
		nc_set_error("%s: %s", what, strerror(-err));
	else
		nc_set_error("%s: %s", what, nl_geterror(r));
	return err;
}

int
nc_prefix_from_nl(struct nl_addr *a, struct prefix *p)
{
	unsigned int len;

	memset(p, 0, sizeof(*p));
	p->family = nl_addr_get_family(a);
	if (p->family != AF_INET && p->family != AF_INET6)
		return -EAFNOSUPPORT;
	len = nl_addr_get_len(a);
	/* A default route's destination is an empty address with length 0. */
	if (len > prefix_addrlen(p) || nl_addr_get_prefixlen(a) > prefix_addrlen(p) * 8)
		return -EINVAL;
	memcpy(p->addr, nl_addr_get_binary_addr(a), len);
	p->len = (uint8_t)nl_addr_get_prefixlen(a);
	return 0;
}

struct nl_addr *
nc_prefix_to_nl(const struct prefix *p)
{
	struct nl_addr *a;

	a = nl_addr_build(p->family, p->addr, prefix_addrlen(p));
	if (a)
		nl_addr_set_prefixlen(a, p->len);
	return a;
}

int
nc_ifname_check(const char *name)
{
	if (cr_ifname_valid(name))
		return 0;
	nc_set_error("invalid interface name \"%s\"", name ? name : "");
	return -EINVAL;
}
