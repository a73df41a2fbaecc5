/*
 * The fleet's LAN health probe (agent/fleet_health.c): ICMP echo to
 * fleet.health_ping every 500 ms, non-blocking, driven by the fleet thread.
 */
#ifndef AG_FLEET_HEALTH_H
#define AG_FLEET_HEALTH_H

#include <stdint.h>

#include "common/prefix.h"

struct fleet_health {
	int enabled;
	int fd;
	int dgram;                        /* ICMP datagram socket (no CAP_NET_RAW) */
	struct prefix target;
	uint16_t id, seq;
	int outstanding;                  /* the last echo has no answer yet */
	unsigned int misses, oks;
	int healthy;
	uint64_t next_ms;
	uint64_t send_errors;
};

int fleet_health_open(struct fleet_health *h, const struct prefix *target);
void fleet_health_close(struct fleet_health *h);
/* Reads answers, sends the next echo when due, updates the verdict. */
void fleet_health_tick(struct fleet_health *h, uint64_t now);
int fleet_health_ok(const struct fleet_health *h);

#endif
