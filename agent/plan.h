/*
 * A plan: the list of changes between desired and actual state, grouped by
 * host / tunnel / cloud.  plan prints it; apply executes exactly it.
 * Signs: "+" add, "~" change, "-" remove, "!" conflict (left alone),
 * "=" unchanged (status only), "." note.
 */
#ifndef AG_PLAN_H
#define AG_PLAN_H

#include <net/if.h>
#include <stdint.h>
#include <stdio.h>

#include "common/prefix.h"
#include "common/log.h"
#include "providers/provider.h"

enum plan_section { SEC_HOST, SEC_TUNNEL, SEC_CLOUD };

enum act_kind {
	ACT_NOTE,
	ACT_CONFLICT,
	ACT_SYSCTL,             /* key := val (original recorded first) */
	ACT_SYSCTL_RESTORE,     /* key := original, forget it */
	ACT_SYSCTL_FORGET,      /* the key vanished with its interface: forget it */
	ACT_SYSCTL_FILE,        /* write blob to the sysctl drop-in */
	ACT_SYSCTL_FILE_REMOVE,
	ACT_NFT_REPLACE,        /* blob = rendered table */
	ACT_NFT_DELETE,
	ACT_ROUTE_ADD,
	ACT_ROUTE_DEL,
	ACT_ADDR_ADD,
	ACT_LINK,               /* set mtu (val) and up */
	ACT_FW,                 /* blob = nft script for another firewall's chain */
};

/* The line of an action is cut at PLAN_TEXT_MAX - 1 bytes. */
#define PLAN_TEXT_MAX 384

/*
 * One change.  The strings live in the plan's string arena (plan_str,
 * plan_strf) and go with plan_free; key, val and from are "" when the
 * change has none, never NULL.  blob is the action's own heap buffer.
 */
struct action {
	const char *text;
	const char *key;
	const char *val;
	const char *from;       /* the current value, when the change has one */
	char *blob;
	struct prefix dst;
	uint32_t metric;
	enum act_kind kind;
	enum plan_section sec;
	char sign;
	char ifname[IF_NAMESIZE];
};

struct desired;
struct plan_chunk;

struct plan {
	struct action *v;
	size_t n, cap;
	struct plan_chunk *strs;        /* the string arena, newest chunk first */
	struct prov_plan cloud;
	int cloud_planned;
	/* What should exist (agent/desired.h), set by whoever plans; not
	 * owned.  NULL: derived from the config alone. */
	const struct desired *desired;
};

struct action *plan_add(struct plan *p, enum plan_section sec, enum act_kind kind,
    char sign, const char *fmt, ...) CR_PRINTF(5, 6);
/* Room for `more` further actions (one allocation when the count is known). */
void plan_reserve(struct plan *p, size_t more);
/* A copy of s in the plan's string arena, valid until plan_free. */
const char *plan_str(struct plan *p, const char *s);
const char *plan_strf(struct plan *p, const char *fmt, ...) CR_PRINTF(2, 3);
/* Changes that apply would make (host, tunnel and cloud mutations). */
size_t plan_changes(const struct plan *p);
size_t plan_conflicts(const struct plan *p);
/* Host conflicts about routes: a route not ours holds one of our tunnel
 * prefixes (such an ACT_CONFLICT carries the prefix in dst). */
size_t plan_route_conflicts(const struct plan *p);
void plan_print(const struct plan *p, FILE *out, int verbose);
/* "N changes:" then the lines: what is being done now (teardown). */
void plan_print_doing(const struct plan *p, FILE *out);
struct json_object *plan_json(const struct plan *p);
void plan_free(struct plan *p);

#endif
