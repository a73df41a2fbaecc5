/*
 * The Prometheus endpoint ("metrics": {"listen": "ADDR:PORT"}): GET
 * /metrics served by libmicrohttpd from its own thread, rendering the
 * registry of common/metrics.h.  Off unless started.
 *
 * The daemon calls metrics_start() once after loading the config (and
 * again on a reload whose listen address changed: metrics_stop() first),
 * metrics_stop() before exiting.  Everything else only updates series with
 * mt_add()/mt_set()/mt_observe().
 */
#ifndef AG_METRICS_H
#define AG_METRICS_H

#include <stdint.h>

#include "common/util.h"

/* Called at the start of every scrape from the HTTP thread, to refresh
 * gauges that are cheaper to read than to keep (peers' counters).  It must
 * only read data that is safe to read from another thread. */
typedef void metrics_collect_fn(void *ctx);

/* Binds listen ("127.0.0.1:9586", "[::1]:9586"; port 0 = any, for tests)
 * and serves.  0, or -errno with the reason in err. */
int metrics_start(const char *listen, metrics_collect_fn *collect, void *ctx,
    struct buf *err);
/* A collector for the tunnel's peers (rx/tx bytes, last handshake; the
 * label is the peer's public key), read through the UAPI socket of the
 * interface named by ifname (a string that outlives the endpoint). */
void metrics_collect_tunnel(void *ifname);
/* The tunnel device run by this process (NULL: none, or before it is
 * destroyed), whose drop counters the tunnel collector reports as
 * cloudroute_packets_dropped_total{reason}.  Main thread. */
struct dp_device;
void metrics_tunnel_device(struct dp_device *dev);
/* The bound port (0 when not running). */
uint16_t metrics_port(void);
void metrics_stop(void);

#endif
