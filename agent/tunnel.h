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
/* Builds the device configuration from cfg (reads key files, resolves
 * endpoints).  errs gets one line per problem.  tunnel_config_free wipes. */
int tunnel_config_build(const struct config *cfg, struct dp_config *dc, struct buf *errs);
void tunnel_config_free(struct dp_config *dc);
/* Reads a WireGuard key file (base64, secret permissions). */
int tunnel_read_key(const char *path, uint8_t key[32], struct buf *errs);

#endif
