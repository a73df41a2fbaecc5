/*
 * Membership and election of one connector, as a state machine over a
 * clock the caller passes in (DESIGN.md "Fleet": lease, leaders/<site>).
 *
 *   UNREGISTERED --lease granted (and healthy)--> CANDIDATE or STANDBY
 *   CANDIDATE  --campaign won-->  LEADER
 *   CANDIDATE  --campaign lost--> STANDBY (holder known)
 *   STANDBY    --leaders/<site> deleted--> CANDIDATE (campaign at once)
 *   LEADER     --leaders/<site> gone or someone else's--> CANDIDATE/STANDBY
 *   any        --lease lost (keep-alive: TTL 0 / not found)--> UNREGISTERED
 *   any        --unhealthy--> revoke the lease --> UNREGISTERED until healthy
 *
 * Timers: a keep-alive every TTL/3 (one request each); a leader whose
 * keep-alives went unanswered for longer than the TTL stops writing cloud
 * routes (its lease may have expired and a standby may lead: no split
 * brain).  Failed requests back off 100 ms, doubling to 1 s, with the
 * keep-alive period as the cap when registered (the lease must not lapse
 * for a backoff).
 */
#include <string.h>

#include "agent/fleet.h"

static const char *const role_names[] = { "unregistered", "standby", "candidate", "leader" };

const char *
fleet_role_name(enum fleet_role r)
{
	return (unsigned int)r < 4 ? role_names[r] : "?";
}

void
fleet_elect_init(struct fleet_elect *e, const char *name, unsigned int ttl_s)
{
	memset(e, 0, sizeof(*e));
	cr_strlcpy(e->name, name, sizeof(e->name));
	e->ttl_ms = (uint64_t)(ttl_s ? ttl_s : 2) * 1000;
	e->healthy = 1;
}

/* The role that follows from the lease and the leader key. */
static void
settle(struct fleet_elect *e)
{
	if (e->lease == 0) {
		e->role = FLEET_UNREGISTERED;
		return;
	}
	if (!e->holder_known)
		return;                       /* wait for the read */
	if (e->holder[0] == '\0') {
		e->role = FLEET_CANDIDATE;
	} else if (strcmp(e->holder, e->name) == 0) {
		/* Ours with this lease: we lead.  Ours with another: a previous
		 * life of ours (restart); cleared, then campaigned for. */
		e->role = e->holder_lease == e->lease ? FLEET_LEADER : FLEET_CANDIDATE;
	} else {
		e->role = FLEET_STANDBY;
	}
}

void
fleet_elect_lease(struct fleet_elect *e, int64_t id, int64_t ttl_s, uint64_t now)
{
	e->lease = id;
	if (ttl_s > 0)
		e->ttl_ms = (uint64_t)ttl_s * 1000;
	e->last_ack_ms = e->last_ka_ms = now;
	settle(e);
}

void
fleet_elect_lease_lost(struct fleet_elect *e)
{
	e->lease = 0;
	e->role = FLEET_UNREGISTERED;
}

void
fleet_elect_ack(struct fleet_elect *e, uint64_t sent_ms)
{
	if (sent_ms > e->last_ack_ms)
		e->last_ack_ms = sent_ms;
}

void
fleet_elect_ka_sent(struct fleet_elect *e, uint64_t now)
{
	e->last_ka_ms = now;
}

void
fleet_elect_holder(struct fleet_elect *e, const char *name, int64_t lease)
{
	enum fleet_role was = e->role;

	e->holder_known = 1;
	cr_strlcpy(e->holder, name != NULL ? name : "", sizeof(e->holder));
	e->holder_lease = name != NULL ? lease : 0;
	settle(e);
	if (e->role == FLEET_CANDIDATE && was != FLEET_CANDIDATE)
		e->retry_at_ms = 0;           /* the key just went: campaign at once */
}

void
fleet_elect_campaign_done(struct fleet_elect *e, int won, const char *holder,
    int64_t holder_lease, uint64_t now)
{
	if (won)
		fleet_elect_holder(e, e->name, e->lease);
	else
		fleet_elect_holder(e, holder != NULL && *holder ? holder : NULL, holder_lease);
	if (e->role == FLEET_LEADER && e->leader_since_ms == 0)
		e->leader_since_ms = now;
	if (e->role != FLEET_LEADER)
		e->leader_since_ms = 0;
}

void
fleet_elect_health(struct fleet_elect *e, int ok)
{
	e->healthy = ok != 0;
}

void
fleet_elect_failed(struct fleet_elect *e, uint64_t now)
{
	uint64_t d = 100;
	unsigned int i;

	for (i = 0; i < e->failures && d < 1000; i++)
		d *= 2;
	if (d > 1000)
		d = 1000;
	if (e->lease != 0 && d > e->ttl_ms / 3)
		d = e->ttl_ms / 3;
	e->failures++;
	e->retry_at_ms = now + d;
}

void
fleet_elect_succeeded(struct fleet_elect *e)
{
	e->failures = 0;
	e->retry_at_ms = 0;
}

enum fleet_action
fleet_elect_next(const struct fleet_elect *e, uint64_t now)
{
	if (now < e->retry_at_ms)
		return FLEET_ACT_NONE;
	if (e->lease == 0)
		return e->healthy ? FLEET_ACT_REGISTER : FLEET_ACT_NONE;
	if (!e->healthy)
		return FLEET_ACT_REVOKE;
	if (now >= e->last_ka_ms + e->ttl_ms / 3)
		return FLEET_ACT_KEEPALIVE;
	if (e->role == FLEET_CANDIDATE)
		return e->holder[0] != '\0' ? FLEET_ACT_CLEAR_STALE : FLEET_ACT_CAMPAIGN;
	return FLEET_ACT_NONE;
}

uint64_t
fleet_elect_wait_ms(const struct fleet_elect *e, uint64_t now)
{
	uint64_t due;

	if (fleet_elect_next(e, now) != FLEET_ACT_NONE)
		return 0;
	if (now < e->retry_at_ms)
		return e->retry_at_ms - now;
	if (e->lease == 0)
		return 1000;                  /* unhealthy: look again */
	due = e->last_ka_ms + e->ttl_ms / 3;
	return due > now ? due - now : 0;
}

int
fleet_elect_may_write(const struct fleet_elect *e, uint64_t now)
{
	return e->role == FLEET_LEADER && e->lease != 0 && e->healthy &&
	    now <= e->last_ack_ms + e->ttl_ms;
}
