/*
 * Desired state from sources.  The config is one source; client
 * registrations (state_dir/clients.json) and fleet records (etcd, published
 * by the fleet thread) are others.  desired_compose() merges them into what
 * should exist: tunnel peers with their allowed IPs, kernel routes into the
 * tunnel, cloud prefixes.  Every prefix remembers the first source that
 * wanted it, so plan output can say where a peer or a route came from.  The
 * tunnel is configured with the composed peer set, so a peer another source
 * still wants is never removed by a reconcile or a reload.
 *
 * Threads: a published ds_source is immutable.  A producer thread builds a
 * new snapshot and hands it to ds_registry_put(), which swaps it in under
 * the registry's lock and makes ds_registry_fd() readable; the main thread
 * then recomposes (desired_compose takes the lock while it copies).
 *
 * state_dir/clients.json (written by `cloudroute client`):
 *   {"clients": [{"name": "alice", "public_key": "<base64>",
 *                 "address": "100.96.0.7/32", "created": "..."}]}
 */
#ifndef AG_DESIRED_H
#define AG_DESIRED_H

#include <limits.h>
#include <stdint.h>

#include "agent/config.h"
#include "common/prefix.h"

/* Longest strings kept (with the NUL), as the fixed fields had them:
 * longer values are cut, sources joined past DS_SOURCE_LEN are not. */
#define DS_SOURCE_LEN 96
#define DS_NAME_LEN 64
#define DS_ENDPOINT_LEN 256

/* The strings are heap copies owned by the peer (ds_peer_free frees them,
 * ds_peer_copy duplicates them); source and name are set in every peer a
 * source publishes. */
struct ds_peer {
	char *source;                 /* "config", "client:alice", "fleet:hq/hq-1" */
	char *name;
	uint8_t public_key[32];
	char *endpoint;               /* "host:port", NULL = none */
	struct prefix_set allowed_ips;
	uint16_t keepalive;
	int has_psk;                  /* config peers only */
	char *psk_file;               /* NULL = none */
};

struct ds_source {
	char name[32];                /* "fleet", ...: one snapshot per name */
	struct ds_peer *peers;
	size_t n_peers;
	/* 1: this connector leads its site (writes cloud routes, takes over
	 * its group's routes); 0: standby (writes none); -1: no opinion. */
	int cloud_leader;
	/* Extra prefixes routed into the tunnel (and to the cloud), e.g. a
	 * fleet's clients living at other sites. */
	struct prefix_set routes;
};

/* source and peer point into the composition's string pool (struct
 * desired owns them). */
struct ds_origin {
	struct prefix dst;
	const char *source;
	const char *peer;             /* NULL when not a peer's allowed IP */
};

struct ds_strpool;

struct desired {
	struct ds_peer *peers;        /* merged by public key */
	size_t n_peers;
	struct prefix_set tunnel;     /* kernel routes into the tunnel */
	struct prefix_set cloud;      /* prefixes the VPC routes to us */
	struct ds_origin *origin;
	size_t n_origin;
	int cloud_leader;             /* -1: no fleet opinion */
	struct ds_strpool *strs;      /* the origins' strings */
	struct ds_index *idx;         /* lookups, only while composing */
};

struct ds_registry;
struct ds_index;

int ds_registry_new(struct ds_registry **out);
void ds_registry_free(struct ds_registry *r);
/* Readable (eventfd) after a ds_registry_put; ds_registry_ack() drains it. */
int ds_registry_fd(struct ds_registry *r);
void ds_registry_ack(struct ds_registry *r);
/* Takes ownership of src, replacing the snapshot of the same name. */
int ds_registry_put(struct ds_registry *r, struct ds_source *src);
/* Removes the snapshot of that name (the source stopped). */
void ds_registry_drop(struct ds_registry *r, const char *name);
void ds_source_free(struct ds_source *src);
void ds_peer_free(struct ds_peer *p);
/* A deep copy of src into dst (allowed IPs too); 0 or -ENOMEM (dst then
 * holds nothing). */
int ds_peer_copy(struct ds_peer *dst, const struct ds_peer *src);
/* *out := a heap copy of s cut to max - 1 characters (the old fixed
 * fields' limits); with s NULL or "" and empty_null, NULL.  0 or -ENOMEM. */
int ds_str_set(char **out, const char *s, size_t max, int empty_null);
/* The same with a formatted string (max at most DS_ENDPOINT_LEN). */
int ds_str_fmt(char **out, size_t max, const char *fmt, ...) CR_PRINTF(3, 4);

/*
 * Composes config + clients.json + every registry source (reg may be
 * NULL).  errs gets a line for each item that was ignored (a clients.json
 * that does not parse is reported and skipped, never fatal).  0 or -ENOMEM.
 */
int desired_compose(const struct config *cfg, struct ds_registry *reg,
    struct desired *out, struct buf *errs);
void desired_free(struct desired *d);
/* The origin of a prefix ("config", "peer hub", ...), or NULL. */
const struct ds_origin *desired_origin(const struct desired *d, const struct prefix *p);
/* " (peer hub, config)" for plan lines; "" when unknown. */
const char *desired_origin_fmt(const struct desired *d, const struct prefix *p,
    char *buf, size_t len);

#endif
