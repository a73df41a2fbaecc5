/*
 * The state file (see state.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/state.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define STATE_MAX (4 * 1024 * 1024)

int
state_load(const char *dir, struct state *st)
{
	struct buf b;
	struct json_object *v;
	int r;

	memset(st, 0, sizeof(*st));
	cr_strlcpy(st->dir, dir, sizeof(st->dir));
	if ((size_t)snprintf(st->path, sizeof(st->path), "%s/state.json", dir) >= sizeof(st->path))
		return -ENAMETOOLONG;
	buf_init(&b, STATE_MAX);
	r = file_read(st->path, STATE_MAX, &b);
	if (r == -ENOENT) {
		st->root = json_object_new_object();
		json_object_object_add(st->root, "version", json_object_new_int(1));
		buf_free(&b);
		return 0;
	}
	if (r < 0) {
		log_warnx("%s: %s", st->path, strerror(-r));
		buf_free(&b);
		return r;
	}
	st->root = json_tokener_parse(b.data);
	buf_free(&b);
	if (st->root == NULL || !json_object_is_type(st->root, json_type_object) ||
	    !json_object_object_get_ex(st->root, "version", &v) ||
	    json_object_get_int(v) != 1) {
		log_warnx("%s: not a cloudroute state file (version 1); refusing to guess "
		    "what was installed", st->path);
		json_object_put(st->root);
		st->root = NULL;
		return -EINVAL;
	}
	return 0;
}

int
state_save(struct state *st)
{
	const char *s;
	int r;

	if ((r = mkdir_p(st->dir, 0700)) < 0) {
		log_warnx("cannot create state directory %s: %s", st->dir, strerror(-r));
		return r;
	}
	s = json_object_to_json_string_ext(st->root, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if ((r = file_write_atomic(st->path, s, strlen(s), 0600)) < 0)
		log_warnx("cannot write %s: %s", st->path, strerror(-r));
	return r;
}

int
state_remove(struct state *st)
{
	if (unlink(st->path) < 0 && errno != ENOENT)
		return -errno;
	json_object_put(st->root);
	st->root = json_object_new_object();
	json_object_object_add(st->root, "version", json_object_new_int(1));
	return 0;
}

void
state_free(struct state *st)
{
	json_object_put(st->root);
	st->root = NULL;
}

struct json_object *
state_obj(struct state *st, const char *key, int create)
{
	struct json_object *o;

	if (json_object_object_get_ex(st->root, key, &o))
		return o;
	if (!create)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(st->root, key, o);
	return o;
}

const char *
state_str(struct json_object *o, const char *key)
{
	return cr_json_str(o, key);
}

void
state_set_str(struct json_object *o, const char *key, const char *val)
{
	json_object_object_add(o, key, json_object_new_string(val));
}

void
state_set_last(struct state *st, int ok, const char *errors)
{
	struct json_object *last = json_object_new_object(), *a = json_object_new_array();
	char line[1024];
	const char *p = errors;

	json_object_object_add(last, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(last, "ok", json_object_new_boolean(ok));
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (n)
			json_object_array_add(a, json_object_new_string(line));
		p = nl ? nl + 1 : NULL;
	}
	json_object_object_add(last, "errors", a);
	json_object_object_add(st->root, "last", last);
}
