/*
 * The Prometheus endpoint (see metrics.h) on libmicrohttpd: its internal
 * polling thread accepts and answers; HTTP parsing is the library's.
 * Limits: 8 connections, 5 s per connection, 32 KiB of request memory; only
 * GET (and HEAD) of /metrics, everything else 404 or 405.  Plain HTTP:
 * operators bind it to loopback or a management address.
 *
 * Thread: the MHD thread calls the collector and mt_render() (which takes
 * the registry's mutex); start and stop are called from the main thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "agent/metrics.h"
#include "common/log.h"
#include "common/metrics.h"
#include "dataplane/dataplane.h"
#include "dataplane/noise.h"

#define METRICS_MAX (4u << 20)

static struct MHD_Daemon *mhd;
static uint16_t bound_port;
static metrics_collect_fn *collect_fn;
static void *collect_ctx;
/* The tunnel device of this process, for its drop counters: set and
 * cleared by the main thread, read by the collector under the lock. */
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp_device *tunnel_dev;

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *type, const char *body,
    size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_len, void **req)
{
	static const char *const text = "text/plain; charset=utf-8";
	struct buf b;
	enum MHD_Result ret;

	(void)cls; (void)version; (void)upload;
	/* First call: headers only; answer on the second (no body is read). */
	if (*req == NULL) {
		*req = c;
		return MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0;    /* a body is not wanted: discard it */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, text, "not found: try /metrics\n", 24);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "method not allowed\n", 19);
	if (collect_fn)
		collect_fn(collect_ctx);
	buf_init(&b, METRICS_MAX);
	if (mt_render(&b) < 0) {
		buf_free(&b);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "metrics too large\n", 18);
	}
	ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
	    b.data ? b.data : "", b.len);
	buf_free(&b);
	return ret;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) CR_PRINTF(2, 0);

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("metrics: %s", line);
}

/* "127.0.0.1:9586" / "[::1]:9586" -> sockaddr; numeric only, port 0 allowed. */
static int
parse_listen(const char *listen, struct sockaddr_storage *ss, struct buf *err)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *colon = strrchr(listen, ':');
	char host[64];
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || (hl = (size_t)(colon - listen)) >= sizeof(host) ||
	    cr_parse_ulong(colon + 1, 0, 65535, &port) < 0)
		goto bad;
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), listen + 1);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto bad;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	snprintf(host, sizeof(host), "%.*s", (int)hl, listen);
	if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		goto bad;
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	return 0;
bad:
	buf_printf(err, "metrics: \"%s\" is not address:port\n", listen);
	return -EINVAL;
}

int
metrics_start(const char *listen, metrics_collect_fn *collect, void *ctx, struct buf *err)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
	int r;

	if (mhd != NULL)
		return -EALREADY;
	if ((r = parse_listen(listen, &ss, err)) < 0)
		return r;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	collect_fn = collect;
	collect_ctx = ctx;
	mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)8,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)4,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)5,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_END);
	if (mhd == NULL) {
		r = errno ? -errno : -EADDRNOTAVAIL;
		buf_printf(err, "metrics: cannot listen on %s: %s\n", listen, strerror(-r));
		return r;
	}
	info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
	bound_port = info ? info->port : 0;
	log_info("metrics on http://%s/metrics (port %u)", listen, bound_port);
	return 0;
}

void
metrics_tunnel_device(struct dp_device *dev)
{
	pthread_mutex_lock(&dev_lock);
	tunnel_dev = dev;
	pthread_mutex_unlock(&dev_lock);
}

/* cloudroute_packets_dropped_total: every reason, 0 included. */
static void
collect_drops(void)
{
	uint64_t v[DP_DROP_MAX];
	unsigned int i;
	int have;

	pthread_mutex_lock(&dev_lock);
	if ((have = tunnel_dev != NULL))
		dp_device_drops(tunnel_dev, v);
	pthread_mutex_unlock(&dev_lock);
	if (!have)                      /* an external tunnel: not ours to count */
		return;
	for (i = 0; i < DP_DROP_MAX; i++)
		mt_set("cloudroute_packets_dropped_total", (double)v[i],
		    dp_drop_reason_name(i), NULL);
}

void
metrics_collect_tunnel(void *ifname)
{
	struct dp_peer_status *v = NULL;
	char key[45];
	uint16_t port;
	size_t i, n = 0;

	collect_drops();
	/* The UAPI socket: its own connection, safe from this thread. */
	if (dp_uapi_status(ifname, &v, &n, &port) < 0)
		return;
	mt_reset("cloudroute_peer_receive_bytes_total");
	mt_reset("cloudroute_peer_transmit_bytes_total");
	mt_reset("cloudroute_peer_last_handshake_timestamp_seconds");
	for (i = 0; i < n; i++) {
		dp_key_to_base64(key, v[i].public_key);
		mt_set("cloudroute_peer_receive_bytes_total", (double)v[i].rx_bytes, key, NULL);
		mt_set("cloudroute_peer_transmit_bytes_total", (double)v[i].tx_bytes, key, NULL);
		mt_set("cloudroute_peer_last_handshake_timestamp_seconds",
		    (double)v[i].last_handshake_sec, key, NULL);
	}
	dp_peer_status_free(v, n);
}

uint16_t
metrics_port(void)
{
	return mhd ? bound_port : 0;
}

void
metrics_stop(void)
{
	if (mhd == NULL)
		return;
	MHD_stop_daemon(mhd);
	mhd = NULL;
	bound_port = 0;
	collect_fn = NULL;
	collect_ctx = NULL;
}
