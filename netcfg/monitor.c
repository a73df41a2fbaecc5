/*
 * Change notification: a raw NETLINK_ROUTE socket subscribed to link and
 * address events.  The daemon polls the fd and, when nc_monitor_drain()
 * says something changed, reconciles (the events themselves are not
 * trusted for content: the reconcile reads the kernel afresh).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

int
nc_monitor_open(void)
{
	struct sockaddr_nl sa;
	int fd, r, rcvbuf = 1 << 20;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return nc_fail(-errno, "netlink monitor socket");
	/* A burst of events must not overflow before we get to read it. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = nc_fail(-errno, "netlink monitor bind");
		close(fd);
		return r;
	}
	return fd;
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

int
nc_monitor_drain(int fd)
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
			return nc_fail(-errno, "netlink monitor");
		}
		/* Only the kernel (port 0) speaks for the network. */
		if (n == 0 || fl != sizeof(from) || from.nl_pid != 0)
			continue;
		if (scan(b, (size_t)n))
			seen = 1;
	}
	return seen;
}

void
nc_monitor_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
