/*
 * Internal to the config reader (agent/config*.c): the validation context
 * and the typed getters of agent/config_json.c, which report each problem
 * at its line:col.
 */
#ifndef CR_CONFIG_INT_H
#define CR_CONFIG_INT_H

#include <stddef.h>

#include <json-c/json.h>

#include "agent/config.h"
#include "agent/jsonpos.h"

#define CFG_MAX_ERRORS 10

struct vctx {
	const char *file;
	struct jpos *jp;
	struct buf *err;
	int nerr;
};

/* One error line "file:line:col: message" at path (at_key: the key's
 * position, else the value's); at most CFG_MAX_ERRORS.  Always -EINVAL. */
int cv_err(struct vctx *v, const char *path, int at_key, const char *fmt, ...)
    CR_PRINTF(4, 5);
/* "/tunnel/peers/0/name" -> "tunnel.peers[0].name" for messages. */
const char *cv_dotted(const char *path, char *out, size_t len);
/* "a string", "an object", "null", ... for "expected X, got Y". */
const char *cv_type_name(struct json_object *o);
/* Every key of obj is in allowed (NULL-terminated); 0 or -EINVAL. */
int cv_check_keys(struct vctx *v, struct json_object *obj, const char *path,
    const char *const *allowed);
/* obj[key] or NULL; sub gets its path (path + "/" + key). */
struct json_object *cv_member(struct json_object *obj, const char *key,
    const char *path, char *sub, size_t sublen);
/* o has type t, else an error naming what was expected. */
int cv_want_type(struct vctx *v, struct json_object *o, const char *sub,
    enum json_type t, const char *what);
/* Getters of one member: 0 when absent (out unchanged) or read (cv_str:
 * 1 when present), <0 with an error line when the value is wrong. */
int cv_bool(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    int *out);
int cv_uint(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    unsigned long min, unsigned long max, unsigned long *out);
int cv_str(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    const char **out, char *sub, size_t sublen);
int cv_enum(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    const char *const *names, int *out);
int cv_ifname(struct vctx *v, struct json_object *obj, const char *key,
    const char *path, char *out, size_t outlen, int *set);
int cv_path(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    char *out, size_t outlen);
/* Array of prefixes.  host: allow host bits ("100.96.0.100/11"). */
int cv_prefixes(struct vctx *v, struct json_object *obj, const char *key,
    const char *path, int host, struct prefix_set *out, int *present);

#endif
