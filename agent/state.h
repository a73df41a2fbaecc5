/*
 * state_dir/state.json: what cloudroute installed and the original values
 * it replaced, so teardown works after a crash.  Written atomically (temp,
 * fsync, rename) after every step that changes the system.
 *
 *   { "version": 1,
 *     "sysctl": { "net.ipv4.ip_forward": { "original": "0", "set": "1" }, ... },
 *     "sysctl_file": "/etc/sysctl.d/90-cloudroute.conf",
 *     "nft": { "rendered": "<sha256>", "listed": "<sha256>" },
 *     "routes": [ { "dst": "192.168.0.0/22", "dev": "cr0" } ],
 *     "cloud": { provider-owned object },
 *     "last": { "time": 1700000000, "ok": true, "errors": [ "..." ] },
 *     "last_cloud": { "time": 1700000000, "ok": true, "changes": 0 } }   (run only)
 */
#ifndef AG_STATE_H
#define AG_STATE_H

#include <limits.h>
#include <json-c/json.h>

struct state {
	char path[PATH_MAX];
	char dir[PATH_MAX];
	struct json_object *root;
};

/* Loads (or starts empty when absent).  -EINVAL with a logged reason when
 * the file exists but is not a state file. */
int state_load(const char *dir, struct state *st);
int state_save(struct state *st);
/* Removes the state file (after a complete teardown). */
int state_remove(struct state *st);
void state_free(struct state *st);
/* The object at key, created when create is set and it is missing. */
struct json_object *state_obj(struct state *st, const char *key, int create);
const char *state_str(struct json_object *o, const char *key);
void state_set_str(struct json_object *o, const char *key, const char *val);
/* Records "last": time, ok, errors (one per line of `errors`, may be NULL). */
void state_set_last(struct state *st, int ok, const char *errors);

#endif
