/*
 * The cross-platform configuration protocol (wireguard.com/xplatform) on
 * /var/run/wireguard/<ifname>.sock, so stock `wg show/showconf/set` work
 * against the device, and its client side for `cloudroute status`.
 *
 *   get=1\n\n            -> private_key=<hex> listen_port=N [fwmark=N]
 *                           per peer: public_key preshared_key protocol_version
 *                           endpoint last_handshake_time_{sec,nsec} tx_bytes
 *                           rx_bytes persistent_keepalive_interval allowed_ip...
 *                           errno=0\n\n
 *   set=1\n<key=value>*\n -> errno=0\n\n, or errno=-22\n\n (wg expects negative)
 *
 * A set request is parsed and validated whole (dp_uapi_parse_set in
 * uapi_parse.c, callable on a string for tests and fuzzing) before anything
 * is applied.  Lines are bounded (DP_UAPI_MAX_LINE) and so are requests
 * (DP_UAPI_MAX_REQUEST).
 * One connection at a time, each with a read timeout; a get reply is
 * streamed in bounded chunks (dp_uapi_serve_get).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

#define UAPI_DIR "/var/run/wireguard"
#define UAPI_TIMEOUT_MS 5000
#define UAPI_CHUNK (64 * 1024)     /* a get reply is sent in pieces of about this */
#define UAPI_TRIM_AT (1 << 20)     /* a request this large: malloc_trim after it */

/* ---- applying ----------------------------------------------------------------- */

/* dev->lock held for writing */
static int
apply_peer_op(struct dp_device *dev, const struct dp_uapi_peer *op)
{
	struct dp_peer *p = dp_peer_lookup(dev, op->public_key);
	int r;

	if (op->remove) {
		if (p != NULL)
			dp_peer_destroy(p);
		return 0;
	}
	if (dev->local.has_identity && dp_key_equal(op->public_key, dev->local.public_key))
		return 0;
	if (p == NULL) {
		if (op->update_only)
			return 0;
		if ((p = dp_peer_create(dev, op->public_key)) == NULL)
			return -ENOMEM;
	}
	if (op->has_psk &&
	    (r = dp_peer_set_psk(p, dp_key_is_zero(op->psk) ? NULL : op->psk)) < 0)
		return r;
	if (op->has_endpoint)
		dp_peer_set_endpoint(p, &op->endpoint);
	if (op->has_keepalive)
		dp_peer_set_keepalive(p, op->keepalive);
	if (op->replace_allowed_ips)
		ai_remove_peer(&dev->ai, p);
	for (size_t i = 0; i < op->n_allowed_ips; i++)
		if ((r = ai_insert(&dev->ai, &op->allowed_ips[i], p)) < 0)
			return r;
	return 0;
}

/*
 * The new port is bound before anything changes, and taken only when the
 * rest applies, so a busy port rejects the whole request.
 */
int
dp_uapi_apply(struct dp_device *dev, const struct dp_uapi_set *s)
{
	uint32_t mark;
	struct dp_port_change pc;
	size_t removed = 0;
	int r = 0;

	memset(&pc, 0, sizeof(pc));
	pthread_mutex_lock(&dev->cfg_lock);
	mark = s->has_fwmark ? s->fwmark : dev->fwmark;
	if (s->has_listen_port &&
	    (r = dp_port_stage(dev, s->listen_port, mark, &pc)) < 0)
		goto out;
	pthread_rwlock_wrlock(&dev->lock);
	if (s->has_private_key && (r = dp_device_set_private_key(dev, s->private_key)) < 0)
		goto unlock;
	if (s->replace_peers)
		for (; dev->peers != NULL; removed++)
			dp_peer_destroy(dev->peers);
	for (size_t i = 0; i < s->n_peers; i++) {
		removed += s->peers[i].remove;
		if ((r = apply_peer_op(dev, &s->peers[i])) < 0)
			goto unlock;
	}
	dp_port_commit(dev, &pc);
	if (s->has_fwmark && s->fwmark != dev->fwmark) {
		dev->fwmark = s->fwmark;
		r = dp_udp_set_mark(dev, s->fwmark);
	}
unlock:
	dp_device_trim(removed);
	pthread_rwlock_unlock(&dev->lock);
	dp_port_end(dev, &pc);
out:
	pthread_mutex_unlock(&dev->cfg_lock);
	return r;
}

/* ---- get ------------------------------------------------------------------------ */

static int
format_peer(struct dp_device *dev, struct dp_peer *p, struct buf *out)
{
	char hex[65], ep[INET6_ADDRSTRLEN + 16], pf[PREFIX_STRLEN];
	struct prefix *ips = NULL;
	size_t n = ai_list(&dev->ai, p, NULL, 0);
	uint64_t hs_ns;
	int r = 0;

	if (n > 0 && (ips = calloc(n, sizeof(*ips))) == NULL)
		return -ENOMEM;
	n = ai_list(&dev->ai, p, ips, n);
	dp_key_to_hex(hex, p->public_key);
	r |= buf_printf(out, "public_key=%s\n", hex);
	pthread_mutex_lock(&p->lock);
	if (p->has_psk) {
		dp_key_to_hex(hex, p->psk);
		r |= buf_printf(out, "preshared_key=%s\n", hex);
		explicit_bzero(hex, sizeof(hex));
	}
	r |= buf_puts(out, "protocol_version=1\n");
	if (p->has_endpoint)
		r |= buf_printf(out, "endpoint=%s\n",
		    sockaddr_fmt((const struct sockaddr *)&p->endpoint, ep, sizeof(ep)));
	hs_ns = p->last_handshake_wall_ns;
	r |= buf_printf(out, "last_handshake_time_sec=%llu\nlast_handshake_time_nsec=%llu\n",
	    (unsigned long long)(hs_ns / 1000000000ULL),
	    (unsigned long long)(hs_ns % 1000000000ULL));
	r |= buf_printf(out, "persistent_keepalive_interval=%u\n",
	    p->timers.persistent_keepalive_interval);
	pthread_mutex_unlock(&p->lock);
	r |= buf_printf(out, "tx_bytes=%llu\nrx_bytes=%llu\n",
	    (unsigned long long)__atomic_load_n(&p->tx_bytes, __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&p->rx_bytes, __ATOMIC_RELAXED));
	for (size_t i = 0; i < n; i++)
		r |= buf_printf(out, "allowed_ip=%s\n", prefix_fmt(&ips[i], pf, sizeof(pf)));
	free(ips);
	return r < 0 ? -ENOMEM : 0;
}

/* private_key, listen_port, fwmark (dev->lock held for reading). */
static int
format_head(struct dp_device *dev, struct buf *out)
{
	char hex[65];
	int r = 0;

	if (dev->local.has_identity) {
		dp_key_to_hex(hex, dev->local.private_key);
		r = buf_printf(out, "private_key=%s\n", hex);
		explicit_bzero(hex, sizeof(hex));
	}
	if (r == 0)
		r = buf_printf(out, "listen_port=%u\n", dev->listen_port);
	if (r == 0 && dev->fwmark)
		r = buf_printf(out, "fwmark=%u\n", dev->fwmark);
	return r < 0 ? -ENOMEM : 0;
}

/* The peers from *cursor on until out holds `upto` bytes; *cursor becomes
 * the next one, NULL after the last (dev->lock held for reading). */
static int
format_peers(struct dp_device *dev, struct dp_peer **cursor, struct buf *out, size_t upto)
{
	struct dp_peer *p;
	int r = 0;

	for (p = *cursor; p != NULL && r == 0 && out->len < upto; p = p->next)
		r = format_peer(dev, p, out);
	*cursor = p;
	return r;
}

int
dp_uapi_format_get(struct dp_device *dev, struct buf *out)
{
	struct dp_peer *p;
	int r;

	pthread_rwlock_rdlock(&dev->lock);
	p = dev->peers;
	if ((r = format_head(dev, out)) == 0)
		r = format_peers(dev, &p, out, SIZE_MAX);
	pthread_rwlock_unlock(&dev->lock);
	return r;
}

int
dp_uapi_handle(struct dp_device *dev, const char *req, size_t len, struct buf *reply)
{
	struct dp_uapi_set set;
	char err[DP_UAPI_MAX_LINE + 64];
	int r;

	if (len >= 7 && memcmp(req, "get=1\n\n", 7) == 0) {
		if ((r = dp_uapi_format_get(dev, reply)) < 0)
			buf_reset(reply);
	} else if (len >= 6 && memcmp(req, "set=1\n", 6) == 0) {
		if ((r = dp_uapi_parse_set(req + 6, len - 6, &set, err, sizeof(err))) < 0) {
			log_warnx("%s: UAPI set: %s", dev->ifname, err);
		} else {
			if ((r = dp_uapi_apply(dev, &set)) < 0)
				log_warnx("%s: UAPI set failed: %s", dev->ifname, strerror(-r));
			dp_uapi_set_free(&set);
		}
		explicit_bzero(err, sizeof(err));
	} else {
		r = -EINVAL;
	}
	return buf_printf(reply, "errno=%d\n\n", r < 0 ? r : 0) < 0 ? -ENOMEM : r;
}

/* ---- server ------------------------------------------------------------------------ */

/*
 * End of the first whole request in b (after its blank line), 0 if
 * incomplete.  *scanned: bytes already searched, so that a request of many
 * megabytes arriving in small reads is scanned once.
 */
static size_t
request_end(const struct buf *b, size_t *scanned)
{
	const char *p;
	size_t from = *scanned > 0 ? *scanned - 1 : 0;

	if (b->len == 0 || b->data == NULL)
		return 0;
	if (b->data[0] == '\n')
		return 1;                        /* a stray empty line */
	for (p = b->data + from; (p = memchr(p, '\n', b->len - (size_t)(p - b->data))) != NULL;
	    p++)
		if ((size_t)(p - b->data) + 1 < b->len && p[1] == '\n')
			return (size_t)(p - b->data) + 2;
	*scanned = b->len;
	return 0;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* All of p to a socket by a deadline (monotonic ms): -ETIMEDOUT after it. */
static int
send_by(int fd, const char *p, size_t len, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	uint64_t now;
	ssize_t w;
	int r;

	while (len > 0) {
		if ((now = now_ms()) >= deadline)
			return -ETIMEDOUT;
		if ((r = poll(&pfd, 1, (int)(deadline - now))) < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		if ((w = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * The get reply streamed in chunks of about UAPI_CHUNK: with 10,000 peers
 * it is megabytes, which built whole would stay resident in this thread's
 * malloc arena.  cfg_lock is held for the whole reply, so no peer comes or
 * goes (the cursor stays valid, the reply is one configuration); dev->lock
 * only while a chunk is formatted, so the data path never waits on the
 * client, and configuration waits at most UAPI_TIMEOUT_MS (the whole reply's
 * deadline).  Out of memory midway: what was sent stays, then errno=-12.
 */
int
dp_uapi_serve_get(struct dp_device *dev, int fd)
{
	uint64_t deadline = now_ms() + UAPI_TIMEOUT_MS;
	struct dp_peer *p;
	struct buf out;
	int r, w = 0;

	buf_init(&out, 16 << 20);
	pthread_mutex_lock(&dev->cfg_lock);
	pthread_rwlock_rdlock(&dev->lock);
	p = dev->peers;
	r = format_head(dev, &out);
	pthread_rwlock_unlock(&dev->lock);
	while (r == 0 && p != NULL) {
		if (out.len >= UAPI_CHUNK) {
			if ((w = send_by(fd, out.data, out.len, deadline)) < 0)
				break;
			buf_reset(&out);
		}
		pthread_rwlock_rdlock(&dev->lock);
		r = format_peers(dev, &p, &out, UAPI_CHUNK);
		pthread_rwlock_unlock(&dev->lock);
	}
	pthread_mutex_unlock(&dev->cfg_lock);
	if (w == 0) {
		if (r < 0)
			buf_reset(&out);
		if (buf_printf(&out, "errno=%d\n\n", r) < 0)
			w = -ENOMEM;
		else
			w = send_by(fd, out.data, out.len, deadline);
	}
	buf_free(&out);                                 /* wiped: the private key */
	return w;
}

static void
serve(struct dp_device *dev, int fd)
{
	struct timeval tv = { .tv_sec = UAPI_TIMEOUT_MS / 1000 };
	struct buf in, reply;
	char chunk[65536];
	size_t end, scanned = 0;
	ssize_t n;
	int big;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	buf_init(&in, DP_UAPI_MAX_REQUEST + 8);
	buf_init(&reply, 16 << 20);
	for (;;) {
		while ((end = request_end(&in, &scanned)) == 0) {
			if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
				goto out;
			if (buf_append(&in, chunk, (size_t)n) < 0) {
				write_all(fd, "errno=-7\n\n", 10);     /* -E2BIG */
				goto out;
			}
		}
		if (end == 7 && memcmp(in.data, "get=1\n\n", 7) == 0) {
			if (dp_uapi_serve_get(dev, fd) < 0)
				goto out;
		} else if (end > 1) {
			buf_reset(&reply);
			if (dp_uapi_handle(dev, in.data, end, &reply) == -EINVAL &&
			    memcmp(in.data, "get=1\n", 6) != 0 && memcmp(in.data, "set=1\n", 6) != 0) {
				write_all(fd, reply.data, reply.len);
				goto out;                       /* not the protocol: hang up */
			}
			if (write_all(fd, reply.data, reply.len) < 0)
				goto out;
		}
		memmove(in.data, in.data + end, in.len - end);
		in.len -= end;
		in.data[in.len] = '\0';
		scanned = 0;
	}
out:
	explicit_bzero(chunk, sizeof(chunk));
	big = in.cap >= UAPI_TRIM_AT;
	buf_free(&in);
	buf_free(&reply);
	if (big)
		malloc_trim(0);    /* a request of megabytes (wg addconf): its pages back */
}

static void *
uapi_main(void *arg)
{
	struct dp_device *dev = arg;
	struct pollfd pfd[2] = {
		{ .fd = dev->uapi_fd, .events = POLLIN },
		{ .fd = dev->uapi_stop_fd, .events = POLLIN },
	};
	int fd;

	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN))
			continue;
		if ((fd = accept4(dev->uapi_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		serve(dev, fd);
		close(fd);
	}
	return NULL;
}

static int
uapi_addr(const char *ifname, struct sockaddr_un *sun, char *path, size_t pathlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s.sock",
	    UAPI_DIR, ifname) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	if (path != NULL)
		cr_strlcpy(path, sun->sun_path, pathlen);
	return 0;
}

/* A socket file nobody answers on is stale (left by a crash). */
static int
socket_in_use(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), used;

	if (fd < 0)
		return 0;
	used = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return used;
}

int
dp_uapi_start(struct dp_device *dev)
{
	struct sockaddr_un sun;
	int r;

	if ((r = uapi_addr(dev->ifname, &sun, dev->uapi_path, sizeof(dev->uapi_path))) < 0)
		return r;
	if ((r = mkdir_p(UAPI_DIR, 0755)) < 0) {
		errno = -r;
		log_warn("mkdir %s", UAPI_DIR);
		return r;
	}
	if (socket_in_use(&sun)) {
		log_warnx("%s is in use by another process", sun.sun_path);
		dev->uapi_path[0] = '\0';
		return -EADDRINUSE;
	}
	unlink(sun.sun_path);
	if ((dev->uapi_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(dev->uapi_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(sun.sun_path, 0600) < 0 || listen(dev->uapi_fd, 8) < 0 ||
	    (dev->uapi_stop_fd = eventfd(0, EFD_CLOEXEC)) < 0) {
		r = -errno;
		log_warn("%s", sun.sun_path);
		return r;
	}
	if ((r = pthread_create(&dev->uapi_thr, NULL, uapi_main, dev)) != 0)
		return -r;
	dev->uapi_running = 1;
	return 0;
}

void
dp_uapi_stop(struct dp_device *dev)
{
	uint64_t one = 1;

	if (dev->uapi_running) {
		if (write(dev->uapi_stop_fd, &one, sizeof(one)) < 0)
			log_warn("eventfd");
		pthread_join(dev->uapi_thr, NULL);
		dev->uapi_running = 0;
	}
	if (dev->uapi_fd >= 0) {
		close(dev->uapi_fd);
		if (dev->uapi_path[0] != '\0')
			unlink(dev->uapi_path);
	}
	if (dev->uapi_stop_fd >= 0)
		close(dev->uapi_stop_fd);
	dev->uapi_fd = dev->uapi_stop_fd = -1;
}

/* ---- client ------------------------------------------------------------------------- */

static int
get_line(struct dp_peer_status *cur, uint16_t *port, const char *k, const char *v)
{
	unsigned long n;
	socklen_t sl;
	struct prefix pf, *ips;

	if (strcmp(k, "listen_port") == 0)
		return cr_parse_ulong(v, 0, 65535, &n) < 0 ? -EINVAL : ((*port = (uint16_t)n), 0);
	if (strcmp(k, "errno") == 0)
		return strcmp(v, "0") == 0 ? 0 : -EIO;
	if (cur == NULL)
		return 0;                          /* private_key, fwmark, ... */
	if (strcmp(k, "endpoint") == 0) {
		if (endpoint_resolve(v, 1, &cur->endpoint, &sl) < 0)
			return -EINVAL;
		cur->has_endpoint = 1;
	} else if (strcmp(k, "last_handshake_time_sec") == 0) {
		if (cr_parse_ulong(v, 0, ULONG_MAX, &n) < 0)
			return -EINVAL;
		cur->last_handshake_sec = n;
	} else if (strcmp(k, "rx_bytes") == 0 || strcmp(k, "tx_bytes") == 0) {
		if (cr_parse_ulong(v, 0, ULONG_MAX, &n) < 0)
			return -EINVAL;
		*(k[0] == 'r' ? &cur->rx_bytes : &cur->tx_bytes) = n;
	} else if (strcmp(k, "persistent_keepalive_interval") == 0) {
		if (cr_parse_ulong(v, 0, 65535, &n) < 0)
			return -EINVAL;
		cur->persistent_keepalive = (uint16_t)n;
	} else if (strcmp(k, "allowed_ip") == 0) {
		if (prefix_parse(v, &pf, 1) < 0)
			return -EINVAL;
		ips = realloc(cur->allowed_ips, (cur->n_allowed_ips + 1) * sizeof(*ips));
		if (ips == NULL)
			return -ENOMEM;
		cur->allowed_ips = ips;
		cur->allowed_ips[cur->n_allowed_ips++] = pf;
	}
	return 0;                                  /* other keys: ignored */
}

int
dp_uapi_parse_get(const char *text, size_t len, struct dp_peer_status **out,
    size_t *n, uint16_t *listen_port)
{
	struct dp_peer_status *v = NULL, *nv;
	char line[DP_UAPI_MAX_LINE + 1], *eq;
	size_t pos = 0, cnt = 0;
	uint16_t port = 0;
	int r = 0, seen_errno = 0;

	while (pos < len && r == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

		if (ll == 0)
			break;
		if (ll > DP_UAPI_MAX_LINE || (eq = memchr(text + pos, '=', ll)) == NULL) {
			r = -EINVAL;
			break;
		}
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		line[eq - (text + pos)] = '\0';
		eq = line + (eq - (text + pos)) + 1;
		pos += ll + 1;
		if (strcmp(line, "public_key") == 0) {
			if ((nv = realloc(v, (cnt + 1) * sizeof(*v))) == NULL) {
				r = -ENOMEM;
				break;
			}
			v = nv;
			memset(&v[cnt], 0, sizeof(v[cnt]));
			r = dp_key_from_hex(v[cnt++].public_key, eq);
			continue;
		}
		seen_errno |= strcmp(line, "errno") == 0;
		r = get_line(cnt ? &v[cnt - 1] : NULL, &port, line, eq);
	}
	explicit_bzero(line, sizeof(line));
	if (r == 0 && !seen_errno)
		r = -EIO;
	if (r < 0) {
		dp_peer_status_free(v, cnt);
		return r;
	}
	*out = v;
	*n = cnt;
	if (listen_port != NULL)
		*listen_port = port;
	return 0;
}

static int
read_reply(int fd, struct buf *b)
{
	char chunk[4096];
	ssize_t n;
	int r = 0;

	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) < 0) {
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		if (n == 0)
			break;
		if ((r = buf_append(b, chunk, (size_t)n)) < 0)
			break;
		/* the reply ends with "errno=N\n\n" */
		if (b->len >= 2 && memcmp(b->data + b->len - 2, "\n\n", 2) == 0 &&
		    strstr(b->data, "errno=") != NULL)
			break;
	}
	explicit_bzero(chunk, sizeof(chunk));
	return r;
}

/* One request to the device's UAPI socket; the whole reply in b. */
static int
uapi_call(const char *ifname, const char *req, size_t len, struct buf *b)
{
	struct timeval tv = { .tv_sec = UAPI_TIMEOUT_MS / 1000 };
	struct sockaddr_un sun;
	int fd = -1, r;

	if ((r = uapi_addr(ifname, &sun, NULL, 0)) < 0)
		return r;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		r = errno == ECONNREFUSED || errno == ENOENT ? -ENOENT : -errno;
	else if ((r = write_all(fd, req, len)) == 0)
		r = read_reply(fd, b);
	close(fd);
	return r;
}

int
dp_uapi_status(const char *ifname, struct dp_peer_status **out, size_t *n,
    uint16_t *listen_port)
{
	struct buf b;
	int r;

	*out = NULL;
	*n = 0;
	buf_init(&b, 16 << 20);
	if ((r = uapi_call(ifname, "get=1\n\n", 7, &b)) == 0)
		r = dp_uapi_parse_get(b.data, b.len, out, n, listen_port);
	buf_free(&b);
	return r;
}

int
dp_uapi_set(const char *ifname, const char *body)
{
	struct buf req, b;
	unsigned long e;
	char *p;
	int r;

	buf_init(&req, DP_UAPI_MAX_REQUEST);
	buf_init(&b, 4096);
	if ((r = buf_printf(&req, "set=1\n%s\n", body)) < 0 ||
	    (r = uapi_call(ifname, req.data, req.len, &b)) < 0)
		goto out;
	/* the reply is "errno=N\n\n"; the device answers a negative errno */
	if (b.data == NULL || (p = strstr(b.data, "errno=")) == NULL) {
		r = -EIO;
		goto out;
	}
	p += 6;
	if (*p == '-')
		p++;
	p[strcspn(p, "\n")] = '\0';
	if (cr_parse_ulong(p, 0, 4095, &e) < 0)
		r = -EIO;
	else
		r = -(int)e;
out:
	buf_free(&req);
	buf_free(&b);
	return r;
}
