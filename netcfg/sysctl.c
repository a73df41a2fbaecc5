/*
 * sysctls through /proc/sys, and the thread-local error text every netcfg
 * function leaves behind on failure (nc_last_error).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

#define SYSCTL_ROOT "/proc/sys/"

const char *
nc_last_error(void)
{
	return cr_last_error();
}

void
nc_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr_verror(fmt, ap);
	va_end(ap);
}

int
nc_fail(int err, const char *what)
{
	nc_set_error("%s: %s", what, strerror(-err));
	return err;
}

/* One path component: non-empty, not "." or "..", printable, no '/'. */
static int
component_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] == '/' || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Appends n bytes of s to path at *off, then sep (if not NUL). */
static int
path_add(char *path, size_t len, size_t *off, const char *s, size_t n, char sep)
{
	if (*off + n + 2 > len)
		return -EINVAL;
	memcpy(path + *off, s, n);
	*off += n;
	if (sep)
		path[(*off)++] = sep;
	path[*off] = '\0';
	return 0;
}

/* Splits s at every `sep` into components, joined with '/'. */
static int
path_split(char *path, size_t len, size_t *off, const char *s, char sep)
{
	const char *p = s, *e;

	for (;;) {
		e = strchr(p, sep);
		if (e == NULL)
			e = p + strlen(p);
		if (!component_ok(p, (size_t)(e - p)))
			return -EINVAL;
		if (path_add(path, len, off, p, (size_t)(e - p), *e ? '/' : '\0') < 0)
			return -EINVAL;
		if (*e == '\0')
			return 0;
		p = e + 1;
	}
}

int
nc_sysctl_path(const char *key, char *path, size_t len)
{
	/* Families whose next component is an interface name (may hold dots). */
	static const char *const ifkeys[] = {
		"net.ipv4.conf.", "net.ipv6.conf.", "net.ipv4.neigh.", "net.ipv6.neigh.",
	};
	size_t off = 0, i, plen;
	const char *rest, *dot;
	char pre[32];

	if (key == NULL || *key == '\0' || path_add(path, len, &off, SYSCTL_ROOT,
	    strlen(SYSCTL_ROOT), '\0') < 0)
		return -EINVAL;
	if (strchr(key, '/'))
		return path_split(path, len, &off, key, '/');
	for (i = 0; i < ARRAY_SIZE(ifkeys); i++) {
		plen = strlen(ifkeys[i]);
		if (strncmp(key, ifkeys[i], plen) != 0)
			continue;
		rest = key + plen;
		dot = strrchr(rest, '.');
		if (dot == NULL)
			break;
		memcpy(pre, ifkeys[i], plen - 1);
		pre[plen - 1] = '\0';
		if (path_split(path, len, &off, pre, '.') < 0 ||
		    path_add(path, len, &off, "", 0, '/') < 0 ||
		    !component_ok(rest, (size_t)(dot - rest)) ||
		    !component_ok(dot + 1, strlen(dot + 1)) ||
		    path_add(path, len, &off, rest, (size_t)(dot - rest), '/') < 0 ||
		    path_add(path, len, &off, dot + 1, strlen(dot + 1), '\0') < 0)
			return -EINVAL;
		return 0;
	}
	return path_split(path, len, &off, key, '.');
}

int
nc_sysctl_read(const char *key, char *val, size_t len)
{
	char path[512], extra;
	size_t got = 0;
	ssize_t n;
	int fd = -1, r;

	if (len == 0 || (r = nc_sysctl_path(key, path, sizeof(path))) < 0) {
		nc_set_error("sysctl %s: invalid key", key ? key : "(null)");
		return -EINVAL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		r = nc_fail(-errno, path);
		goto out;
	}
	while (got < len - 1) {
		n = read(fd, val + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = nc_fail(-errno, path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	/* The value must fit whole: a truncated sysctl is worse than none. */
	if (got == len - 1 && read(fd, &extra, 1) == 1) {
		r = nc_fail(-EOVERFLOW, path);
		goto out;
	}
	val[got] = '\0';
	while (got > 0 && val[got - 1] == '\n')
		val[--got] = '\0';
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && len > 0)
		val[0] = '\0';
	return r;
}

int
nc_sysctl_write(const char *key, const char *val)
{
	char path[512];
	size_t n, off = 0;
	ssize_t w;
	int fd = -1, r;

	if (val == NULL || nc_sysctl_path(key, path, sizeof(path)) < 0) {
		nc_set_error("sysctl %s: invalid key or value", key ? key : "(null)");
		return -EINVAL;
	}
	n = strlen(val);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		r = nc_fail(-errno, path);
		goto out;
	}
	/* /proc/sys takes the value in one write; loop only for short writes. */
	while (off < n) {
		w = write(fd, val + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			nc_set_error("sysctl %s=%s: %s", key, val, strerror(-r));
			goto out;
		}
		off += (size_t)w;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}
