/*
 * The tunnel part of a plan and of the daemon: in userspace mode the
 * WireGuard-protocol device (dataplane/), its addresses, MTU and link
 * state; in external mode only checks that the interface exists.
 */
#ifndef AG_TUNNEL_H
#define AG_TUNNEL_H

#include "agent/config.h"
#include "agent/plan.h"
#include "dataplane/dataplane.h"

int tunnel_plan(const struct config *cfg, struct plan *p);
struct desired;
struct tunnel_endpoints;             /* resolved endpoint names, per peer */
struct tunnel_endpoints *tunnel_endpoints_new(void);
void tunnel_endpoints_free(struct tunnel_endpoints *c);

/* Builds the device configuration: the private key from cfg, the peers
 * composed in d (reads PSK files, resolves endpoints through cache, which
 * may be NULL: always resolve).  errs gets one line per problem.
 * tunnel_config_free wipes.  The peers' allowed IPs point into d. */
int tunnel_config_build(const struct config *cfg, const struct desired *d,
    struct tunnel_endpoints *cache, struct dp_config *dc, struct buf *errs);
void tunnel_config_free(struct dp_config *dc);
/* Reads a WireGuard key file (base64, secret permissions). */
int tunnel_read_key(const char *path, uint8_t key[32], struct buf *errs);

#endif
