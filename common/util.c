/*
 * Bounded buffers, file I/O and small parsing helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"

size_t
cr_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
cr_parse_ulong(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

static int
buf_grow(struct buf *b, size_t need)
{
	size_t ncap;
	char *nd;

	if (need > b->max)
		return -E2BIG;
	if (need + 1 <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need + 1)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	/* Not realloc: the old block may hold secrets and must be wiped. */
	nd = malloc(ncap);
	if (nd == NULL)
		return -ENOMEM;
	if (b->data) {
		memcpy(nd, b->data, b->len + 1);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	} else {
		nd[0] = '\0';
	}
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	int r;

	if (n > b->max - b->len)
		return -E2BIG;
	if ((r = buf_grow(b, b->len + n)) < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, r;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > b->max - b->len)
		return -E2BIG;
	if ((r = buf_grow(b, b->len + (size_t)n)) < 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_reset(struct buf *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->cap);
		b->data[0] = '\0';
	}
	b->len = 0;
}

void
buf_free(struct buf *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_steal(struct buf *b)
{
	char *d = b->data;

	if (d == NULL)
		d = strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

static int
read_fd(int fd, size_t max, struct buf *b)
{
	char tmp[4096];
	ssize_t n;
	int r;

	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (b->len + (size_t)n > max) {
			r = -EFBIG;
			goto out;
		}
		if ((r = buf_append(b, tmp, (size_t)n)) < 0)
			goto out;
	}
	r = 0;
	if (b->data == NULL)
		r = buf_append(b, "", 0);
out:
	explicit_bzero(tmp, sizeof(tmp));
	return r;
}

int
file_read(const char *path, size_t max, struct buf *b)
{
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	r = read_fd(fd, max, b);
	close(fd);
	return r;
}

static __thread char secret_why[256];

int
file_read_secret(const char *path, size_t max, struct buf *b)
{
	struct stat st;
	int fd, r;

	secret_why[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		r = -errno;
		if (r == -ELOOP) {
			snprintf(secret_why, sizeof(secret_why), "is a symbolic link; key files "
			    "are opened without following links: name the file itself");
			return -EPERM;
		}
		snprintf(secret_why, sizeof(secret_why), "%s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(secret_why, sizeof(secret_why), "%s", strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(secret_why, sizeof(secret_why), "not a regular file");
		r = -EPERM;
		goto out;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(secret_why, sizeof(secret_why), "owned by uid %u: a key file must "
		    "belong to root or to the user cloudroute runs as (uid %u)",
		    (unsigned int)st.st_uid, (unsigned int)geteuid());
		r = -EPERM;
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(secret_why, sizeof(secret_why), "accessible by group or others "
		    "(mode %04o): run chmod 600 %s", (unsigned int)(st.st_mode & 07777), path);
		r = -EPERM;
		goto out;
	}
	if ((r = read_fd(fd, max, b)) < 0)
		snprintf(secret_why, sizeof(secret_why), "%s", strerror(-r));
out:
	close(fd);
	return r;
}

const char *
file_secret_error(void)
{
	return secret_why;
}

int
file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *p = data;
	int fd = -1, dfd, r;
	ssize_t n;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	cr_strlcpy(dir, path, sizeof(dir));
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	r = -errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	char *p;

	if (cr_strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
cr_sha256_hex(const void *p, size_t n, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

/*
 * An interface name the kernel accepts (dev_valid_name: 1-15 bytes, not "."
 * or "..", no '/', ':' or white space) and that can be quoted in an nftables
 * ruleset (no '"', '\\', control or non-ASCII bytes).  The one check for
 * the config and netcfg.
 */
int
cr_ifname_valid(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= 16 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == ':' || c == '"' || c == '\\')
			return 0;
	}
	return 1;
}

/*
 * The one per-thread "last error" text behind nc_last_error() (netcfg) and
 * prov_last_error() (providers): a failing call leaves its reason here.
 */
static __thread char last_error[512];

void
cr_verror(const char *fmt, va_list ap)
{
	int saved = errno;

	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	errno = saved;
}

void
cr_clear_error(void)
{
	last_error[0] = '\0';
}

const char *
cr_last_error(void)
{
	return last_error;
}
