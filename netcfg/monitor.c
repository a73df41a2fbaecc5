/*
 * Change notification: a raw NETLINK_ROUTE socket subscribed to link and
 * address events, and a NETLINK_NETFILTER socket subscribed to nftables
 * commits (so the accepts in another firewall's chains come back as soon
 * as Docker, ufw or firewalld rewrites them).  The daemon polls the fds
 * and, when a drain says something changed, reconciles (the events
 * themselves are not trusted for content: the reconcile reads the kernel
 * afresh).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

static int
mon_open(int proto, unsigned int groups, const char *what)
{
	struct sockaddr_nl sa;
	int fd, r, rcvbuf = 1 << 20;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return nc_fail(-errno, what);
	/* A burst of events must not overflow before we get to read it. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = groups;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = nc_fail(-errno, what);
		close(fd);
		return r;
	}
	return fd;
}

int
nc_monitor_open(void)
{
	return mon_open(NETLINK_ROUTE, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	    "netlink monitor");
}

int
nc_nft_monitor_open(void)
{
	return mon_open(NETLINK_NETFILTER, 1u << (NFNLGRP_NFTABLES - 1), "nftables monitor");
}

/* 1 if the datagram holds a link or address event. */
static int
scan(const char *p, size_t len)
{
	const struct nlmsghdr *h;
	int seen = 0;

	for (h = (const struct nlmsghdr *)p; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		switch (h->nlmsg_type) {
		case RTM_NEWLINK:
		case RTM_DELLINK:
		case RTM_NEWADDR:
		case RTM_DELADDR:
			seen = 1;
			break;
		default:
			break;
		}
	}
	return seen;
}

/* 1 if the datagram holds an nftables commit (NEWGEN) by another process:
 * our own commits carry our pid in NFTA_GEN_PROC_PID (network order). */
static int
scan_nft(const char *p, size_t len)
{
	const struct nlmsghdr *h;
	const struct nlattr *a;
	uint32_t me = htonl((uint32_t)getpid()), pid;
	size_t off, alen;
	int seen = 0;

	for (h = (const struct nlmsghdr *)p; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		if (h->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN))
			continue;
		pid = 0;
		alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
		off = 0;
		while (off + sizeof(*a) <= alen) {
			a = (const struct nlattr *)((const char *)NLMSG_DATA(h) +
			    NLMSG_ALIGN(sizeof(struct nfgenmsg)) + off);
			if (a->nla_len < sizeof(*a) || off + a->nla_len > alen)
				break;
			if ((a->nla_type & NLA_TYPE_MASK) == NFTA_GEN_PROC_PID &&
			    a->nla_len >= NLA_HDRLEN + sizeof(pid))
				memcpy(&pid, (const char *)a + NLA_HDRLEN, sizeof(pid));
			off += NLA_ALIGN(a->nla_len);
		}
		if (pid != me)
			seen = 1;
	}
	return seen;
}

static int
mon_drain(int fd, int (*scanner)(const char *, size_t), const char *what)
{
	char b[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct sockaddr_nl from;
	socklen_t fl;
	ssize_t n;
	int seen = 0;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* Overrun: events were lost, so assume something changed. */
			if (errno == ENOBUFS) {
				seen = 1;
				continue;
			}
			return nc_fail(-errno, what);
		}
		/* Only the kernel (port 0) speaks for the network. */
		if (n == 0 || fl != sizeof(from) || from.nl_pid != 0)
			continue;
		if (scanner(b, (size_t)n))
			seen = 1;
	}
	return seen;
}

int
nc_monitor_drain(int fd)
{
	return mon_drain(fd, scan, "netlink monitor");
}

int
nc_nft_monitor_drain(int fd)
{
	return mon_drain(fd, scan_nft, "nftables monitor");
}

void
nc_monitor_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
