/*
 * A cloud_job as JSON, for the cloud process (agent/cloudproc.c) and for the
 * drift fingerprint of a pass (two jobs with the same text ask the cloud for
 * the same thing).  Driven by one table of the job's fields: a new field of
 * struct cloud_job is one line in fields[] (the static assertion below
 * fails the build until it is there).
 *
 * Parsing is strict: every field present, no other key, strings within the
 * member's size, numbers within the field's range, at most JOB_MAX_LIST
 * route tables and desired prefixes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cloud.h"

#define JOB_MAX_LIST 4096
#define JOB_STR_MAX 512

enum jkind { J_STR, J_INT, J_STRV, J_PREFIXES };

struct jfield {
	const char *name;
	enum jkind kind;
	size_t off, size;
	long lo, hi;            /* J_INT: range; J_STRV: offset of the count */
};

#define M(m) offsetof(struct cloud_job, m), sizeof(((struct cloud_job *)0)->m)
static const struct jfield fields[] = {
	{ "provider", J_STR, M(provider), 0, 0 },
	{ "disable_source_dest_check", J_INT, M(disable_source_dest_check), 0, 1 },
	{ "disable_port_security", J_INT, M(disable_port_security), 0, 1 },
	{ "tables", J_INT, M(tables), PROV_TABLES_AUTO, PROV_TABLES_LIST },
	{ "route_tables", J_STRV, M(route_tables), offsetof(struct cloud_job, n_route_tables), 0 },
	{ "ha_group", J_STR, M(ha_group), 0, 0 },
	{ "takeover", J_INT, M(takeover), PROV_TAKEOVER_NEVER, PROV_TAKEOVER_GROUP },
	{ "leader", J_INT, M(leader), -1, 1 },
	{ "desired", J_PREFIXES, M(desired), 0, 0 },
};
#undef M

/* Every member but n_route_tables (J_STRV's count) is in fields[]: adding
 * a member changes the size, and this reminds to add its line. */
_Static_assert(sizeof(struct cloud_job) == 16 + 4 * 4 + 8 + 8 + 64 + 4 + 4 +
    sizeof(struct prefix_set), "a cloud_job member is missing from fields[]");

static int
to_json(const struct cloud_job *job, const struct jfield *f, struct json_object *o)
{
	const char *base = (const char *)job + f->off;
	struct json_object *a;
	char s[PREFIX_STRLEN];
	size_t i, n;
	int v;

	switch (f->kind) {
	case J_STR:
		return json_object_object_add(o, f->name, json_object_new_string(base));
	case J_INT:
		if (f->size != sizeof(v))
			return -EINVAL;
		memcpy(&v, base, sizeof(v));
		return json_object_object_add(o, f->name, json_object_new_int(v));
	case J_STRV: {
		char *const *sv = *(char *const *const *)base;

		memcpy(&n, (const char *)job + f->lo, sizeof(n));
		a = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(a, json_object_new_string(sv[i] ? sv[i] : ""));
		return json_object_object_add(o, f->name, a);
	}
	case J_PREFIXES: {
		const struct prefix_set *ps = (const struct prefix_set *)base;

		a = json_object_new_array();
		for (i = 0; i < ps->n; i++)
			json_object_array_add(a, json_object_new_string(prefix_fmt(&ps->v[i], s,
			    sizeof(s))));
		return json_object_object_add(o, f->name, a);
	}
	}
	return -EINVAL;
}

struct json_object *
cloud_job_json(const struct cloud_job *job)
{
	struct json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; o != NULL && i < ARRAY_SIZE(fields); i++)
		if (to_json(job, &fields[i], o) < 0) {
			json_object_put(o);
			return NULL;
		}
	return o;
}

static const char *
short_str(struct json_object *v, size_t max)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) < max && (size_t)json_object_get_string_len(v) == strlen(s) ? s : NULL;
}

static int
from_strv(struct cloud_job *job, const struct jfield *f, struct json_object *v)
{
	char ***strv = (char ***)((char *)job + f->off);
	size_t *n = (size_t *)((char *)job + f->lo), i, len;
	const char *s;

	if (!json_object_is_type(v, json_type_array) ||
	    (len = json_object_array_length(v)) > JOB_MAX_LIST)
		return -EINVAL;
	if (len == 0)
		return 0;
	if ((*strv = calloc(len, sizeof(char *))) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		if ((s = short_str(json_object_array_get_idx(v, i), JOB_STR_MAX)) == NULL)
			return -EINVAL;
		if (((*strv)[i] = strdup(s)) == NULL)
			return -ENOMEM;
		*n = i + 1;
	}
	return 0;
}

static int
from_json(struct cloud_job *job, const struct jfield *f, struct json_object *v)
{
	char *base = (char *)job + f->off;
	struct prefix p;
	const char *s;
	size_t i;
	int64_t x;
	int iv, r;

	switch (f->kind) {
	case J_STR:
		if ((s = short_str(v, f->size)) == NULL)
			return -EINVAL;
		cr_strlcpy(base, s, f->size);
		return 0;
	case J_INT:
		if (f->size != sizeof(iv) || !json_object_is_type(v, json_type_int) ||
		    (x = json_object_get_int64(v)) < f->lo || x > f->hi)
			return -EINVAL;
		iv = (int)x;
		memcpy(base, &iv, sizeof(iv));
		return 0;
	case J_STRV:
		return from_strv(job, f, v);
	case J_PREFIXES:
		if (!json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) > JOB_MAX_LIST)
			return -EINVAL;
		for (i = 0; i < json_object_array_length(v); i++) {
			if ((s = short_str(json_object_array_get_idx(v, i), PREFIX_STRLEN)) == NULL ||
			    prefix_parse(s, &p, 1) < 0)
				return -EINVAL;
			if ((r = prefix_set_add((struct prefix_set *)base, &p)) < 0)
				return r;
		}
		return 0;
	}
	return -EINVAL;
}

int
cloud_job_parse(struct json_object *o, struct cloud_job *job)
{
	size_t i;
	int r = 0;

	memset(job, 0, sizeof(*job));
	if (!json_object_is_type(o, json_type_object) ||
	    (size_t)json_object_object_length(o) != ARRAY_SIZE(fields))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(fields) && r == 0; i++) {
		struct json_object *v;

		r = json_object_object_get_ex(o, fields[i].name, &v) ?
		    from_json(job, &fields[i], v) : -EINVAL;
	}
	if (r < 0)
		cloud_job_free(job);
	return r;
}

int
cloud_job_fingerprint(const struct cloud_job *job, char fp[65])
{
	struct json_object *o = cloud_job_json(job);
	const char *s;
	int r;

	fp[0] = '\0';
	if (o == NULL)
		return -ENOMEM;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	r = cr_sha256_hex(s, strlen(s), fp);
	json_object_put(o);
	return r;
}
