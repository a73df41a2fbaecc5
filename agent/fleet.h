/*
 * The fleet (DESIGN.md "Fleet"): connectors that meet in etcd.
 *
 *   fleet_record.c  record encode/decode/validation, the key layout
 *   fleet_view.c    the set of records and leaders seen in etcd, and the
 *                   peers/routes it implies (pure, table-tested)
 *   fleet_elect.c   the per-site election state machine (fake-clock tested)
 *   fleet.c         the etcd thread: lease, registration, keep-alive, watch,
 *                   campaign, health; publishes the computed peers
 *
 * Nothing here touches the tunnel, the kernel or the cloud directly: the
 * result is a list of peers (with allowed IPs) and a leader flag, handed
 * to the agent (a desired-state source).
 */
#ifndef AG_FLEET_H
#define AG_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"
#include "common/util.h"

#define FLEET_NAME_MAX 64
#define FLEET_ENDPOINT_MAX 256        /* with the NUL */

/* <prefix>sites/<site>/<name> */
struct fleet_record {
	char site[FLEET_NAME_MAX];
	char name[FLEET_NAME_MAX];
	uint8_t public_key[32];
	char *endpoint;                   /* host:port (heap: fleet_record_free) */
	struct prefix address;            /* host prefix /32 or /128 */
	struct prefix_set subnets;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t lease;
};

/* Splits a key under prefix: kind 'S' sites/<site>/<name>, 'L' leaders/<site>.
 * 0, or -EINVAL for a key of neither shape (or a bad name). */
int fleet_key_parse(const char *prefix, const char *key, size_t len, int *kind,
    char site[FLEET_NAME_MAX], char name[FLEET_NAME_MAX]);
/* Builds the two keys; -ENAMETOOLONG if out is too small. */
int fleet_key_site(const char *prefix, const char *site, const char *name,
    char *out, size_t len);
int fleet_key_leader(const char *prefix, const char *site, char *out, size_t len);
/* A leader value: the bare name, 1-63 of [A-Za-z0-9._-]. */
int fleet_name_valid(const char *s, size_t len);

/* Record JSON (compact) of r into out. */
int fleet_record_encode(const struct fleet_record *r, struct buf *out);
/*
 * Parses and validates a record value (site/name/revisions are the
 * caller's) into r (zeroed, or a record decoded before: replaced).  0, or
 * -EINVAL with the reason in why.  fleet_record_free(r) either way.
 */
int fleet_record_decode(const char *value, size_t len, struct fleet_record *r,
    char *why, size_t whylen);
void fleet_record_free(struct fleet_record *r);

/* ---- the view ---- */

struct fleet_view_entry {
	struct fleet_record rec;
	int decoded;                      /* the value is a well-formed record */
	int valid;                        /* decoded and accepted */
	int logged;                       /* a rejection was logged once */
	int seen;                         /* in the current full read */
	char *why;                        /* rejection reason (heap), NULL: none */
};

struct fleet_leader {
	char site[FLEET_NAME_MAX];
	char name[FLEET_NAME_MAX];
	int64_t lease;
	int64_t mod_revision;
	int seen;
};

struct fleet_view {
	char self_site[FLEET_NAME_MAX];
	char self_name[FLEET_NAME_MAX];
	struct prefix_set local_subnets;  /* ours: another site may not overlap them */
	struct fleet_view_entry *e;       /* sorted by site, name */
	size_t n, cap;
	struct fleet_leader *l;
	size_t nl, capl;
	int64_t revision;                 /* the latest revision applied */
	uint64_t changes;                 /* bumped on every effective change */
};

void fleet_view_init(struct fleet_view *v, const char *site, const char *name,
    const struct prefix_set *local_subnets);
void fleet_view_free(struct fleet_view *v);
void fleet_view_clear(struct fleet_view *v);
/* A full re-read: mark, put every key read, then sweep what was not read
 * (so records keep their "logged once" state across re-reads). */
void fleet_view_mark(struct fleet_view *v);
void fleet_view_sweep(struct fleet_view *v);
/* Applies one key's new value (PUT) or its deletion (value NULL).  Keys
 * that are neither a site record nor a leader are ignored (return 0). */
int fleet_view_put(struct fleet_view *v, const char *prefix, const char *key,
    size_t key_len, const char *value, size_t value_len, int64_t create_rev,
    int64_t mod_rev, int64_t lease);
int fleet_view_delete(struct fleet_view *v, const char *prefix, const char *key,
    size_t key_len);
/* Re-runs validation of every record (overlaps depend on the others);
 * calls log_fn once per newly rejected record. */
void fleet_view_validate(struct fleet_view *v,
    void (*log_fn)(void *arg, const struct fleet_view_entry *e), void *arg);
const struct fleet_leader *fleet_view_leader(const struct fleet_view *v, const char *site);

/* One tunnel peer the fleet wants. */
struct fleet_peer {
	char site[FLEET_NAME_MAX];
	char name[FLEET_NAME_MAX];
	uint8_t public_key[32];
	char *endpoint;                   /* heap: fleet_peers_free */
	struct prefix_set allowed_ips;    /* address, + subnets if its site's leader */
	int leader;
};

struct fleet_peers {
	struct fleet_peer *v;
	size_t n;
};
void fleet_peers_free(struct fleet_peers *p);
/*
 * The peers: every valid record except ours, allowed IPs = its address,
 * plus its site's subnets when it is that site's leader (and the site is
 * not ours: our own site's subnets are local).  Sorted by site, name.
 */
int fleet_view_peers(const struct fleet_view *v, struct fleet_peers *out);

/* ---- the election (fleet_elect.c) ---- */

enum fleet_role {
	FLEET_UNREGISTERED,               /* no lease (yet, or lost, or unhealthy) */
	FLEET_STANDBY,                    /* someone else holds leaders/<site> */
	FLEET_CANDIDATE,                  /* the key is free (or ours, stale): campaign */
	FLEET_LEADER,
};

enum fleet_action {
	FLEET_ACT_NONE,
	FLEET_ACT_REGISTER,               /* grant a lease, put our record with it */
	FLEET_ACT_KEEPALIVE,              /* one keep-alive request */
	FLEET_ACT_CAMPAIGN,               /* txn: leaders/<site> = name if absent */
	FLEET_ACT_CLEAR_STALE,            /* delete leaders/<site> while it is our old lease's */
	FLEET_ACT_REVOKE,                 /* unhealthy: give the lease (and the lead) up */
};

/*
 * The state machine of one connector's membership and election.  Driven by
 * what the etcd thread learns (lease granted/lost, keep-alive answered, the
 * leader key's value, campaign results, health) and asked, with the time,
 * what to do next.  No I/O and no clock of its own (tests use a fake one).
 */
struct fleet_elect {
	char name[FLEET_NAME_MAX];
	enum fleet_role role;
	int64_t lease;                    /* 0 = none */
	uint64_t ttl_ms;
	uint64_t last_ack_ms;             /* grant or last answered keep-alive */
	uint64_t last_ka_ms;              /* last keep-alive sent */
	int holder_known;                 /* leaders/<site> state is known */
	char holder[FLEET_NAME_MAX];      /* "" = the key is absent */
	int64_t holder_lease;
	int healthy;
	uint64_t retry_at_ms;             /* after a failed request: not before */
	unsigned int failures;            /* consecutive, for backoff */
	uint64_t leader_since_ms;
};

void fleet_elect_init(struct fleet_elect *e, const char *name, unsigned int ttl_s);
void fleet_elect_lease(struct fleet_elect *e, int64_t id, int64_t ttl_s, uint64_t now);
void fleet_elect_lease_lost(struct fleet_elect *e);
/* A keep-alive sent at sent_ms was answered (the lease runs from then at the latest). */
void fleet_elect_ack(struct fleet_elect *e, uint64_t sent_ms);
void fleet_elect_ka_sent(struct fleet_elect *e, uint64_t now);
/* leaders/<site> now holds name with lease (name NULL: absent). */
void fleet_elect_holder(struct fleet_elect *e, const char *name, int64_t lease);
void fleet_elect_campaign_done(struct fleet_elect *e, int won, const char *holder,
    int64_t holder_lease, uint64_t now);
void fleet_elect_health(struct fleet_elect *e, int ok);
/* A request failed (etcd unreachable...): back off before the next try. */
void fleet_elect_failed(struct fleet_elect *e, uint64_t now);
void fleet_elect_succeeded(struct fleet_elect *e);
enum fleet_action fleet_elect_next(const struct fleet_elect *e, uint64_t now);
/* Milliseconds until fleet_elect_next() may answer something new. */
uint64_t fleet_elect_wait_ms(const struct fleet_elect *e, uint64_t now);
/* This connector may write its site's cloud routes now: it leads, is healthy,
 * and etcd answered a keep-alive within the TTL (else another may lead). */
int fleet_elect_may_write(const struct fleet_elect *e, uint64_t now);
const char *fleet_role_name(enum fleet_role r);

#endif
