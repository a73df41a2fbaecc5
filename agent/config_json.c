/*
 * The config reader's typed getters (agent/config_int.h): each checks one
 * JSON member against what the schema wants and reports a problem at the
 * key's or value's line:col (positions from jsonpos).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config_int.h"
#include "netcfg/netcfg.h"

int
cv_err(struct vctx *v, const char *path, int at_key, const char *fmt, ...)
{
	unsigned int line = 1, col = 1;
	va_list ap;

	if (v->nerr++ >= CFG_MAX_ERRORS)
		return -EINVAL;
	jpos_find(v->jp, path, at_key, &line, &col);
	buf_printf(v->err, "%s:%u:%u: ", v->file, line, col);
	va_start(ap, fmt);
	buf_vprintf(v->err, fmt, ap);
	va_end(ap);
	buf_puts(v->err, "\n");
	return -EINVAL;
}

/* "/tunnel/peers/0/name" -> "tunnel.peers[0].name" for messages. */
const char *
cv_dotted(const char *path, char *out, size_t len)
{
	size_t o = 0;
	const char *p;

	for (p = path; *p && o + 4 < len; p++) {
		if (*p == '/') {
			const char *q = p + 1;
			if (isdigit((unsigned char)*q)) {
				out[o++] = '[';
				while (isdigit((unsigned char)*q) && o + 2 < len)
					out[o++] = *q++;
				out[o++] = ']';
				p = q - 1;
				continue;
			}
			if (o > 0)
				out[o++] = '.';
			continue;
		}
		out[o++] = *p;
	}
	out[o] = '\0';
	return out;
}

const char *
cv_type_name(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double: return "a number";
	case json_type_int: return "a number";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	}
	return "?";
}

int
cv_check_keys(struct vctx *v, struct json_object *obj, const char *path,
    const char *const *allowed)
{
	int r = 0;

	json_object_object_foreach(obj, key, val) {
		const char *const *a;
		char sub[512];
		(void)val;
		for (a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (*a == NULL) {
			char expect[256] = "";
			size_t o = 0;
			for (a = allowed; *a && o < sizeof(expect); a++)
				o += (size_t)snprintf(expect + o, sizeof(expect) - o, "%s%s",
				    a == allowed ? "" : ", ", *a);
			snprintf(sub, sizeof(sub), "%s/%s", path, key);
			r = cv_err(v, sub, 1, "unknown key \"%s\"%s%s (expected one of: %s)",
			    key, *path ? " in " : "", *path ? path + 1 : "", expect);
		}
	}
	return r;
}

struct json_object *
cv_member(struct json_object *obj, const char *key, const char *path, char *sub, size_t sublen)
{
	struct json_object *o = NULL;

	snprintf(sub, sublen, "%s/%s", path, key);
	if (!json_object_object_get_ex(obj, key, &o))
		return NULL;
	return o;
}

int
cv_want_type(struct vctx *v, struct json_object *o, const char *sub, enum json_type t,
    const char *what)
{
	char d[256];

	if (json_object_get_type(o) == t ||
	    (t == json_type_int && json_object_get_type(o) == json_type_double && 0))
		return 0;
	return cv_err(v, sub, 0, "%s: expected %s, got %s", cv_dotted(sub, d, sizeof(d)),
	    what, cv_type_name(o));
}

int
cv_bool(struct vctx *v, struct json_object *obj, const char *key, const char *path, int *out)
{
	char sub[512];
	struct json_object *o = cv_member(obj, key, path, sub, sizeof(sub));

	if (o == NULL)
		return 0;
	if (cv_want_type(v, o, sub, json_type_boolean, "true or false") < 0)
		return -EINVAL;
	*out = json_object_get_boolean(o);
	return 0;
}

int
cv_uint(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    unsigned long min, unsigned long max, unsigned long *out)
{
	char sub[512], d[256];
	struct json_object *o = cv_member(obj, key, path, sub, sizeof(sub));
	int64_t n;

	if (o == NULL)
		return 0;
	if (cv_want_type(v, o, sub, json_type_int, "an integer") < 0)
		return -EINVAL;
	n = json_object_get_int64(o);
	if (n < (int64_t)min || (uint64_t)n > max)
		return cv_err(v, sub, 0, "%s: %lld is out of range (%lu..%lu)",
		    cv_dotted(sub, d, sizeof(d)), (long long)n, min, max);
	*out = (unsigned long)n;
	return 0;
}

/* String member; returns 1 when present and a string, 0 absent, <0 error. */
int
cv_str(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    const char **out, char *sub, size_t sublen)
{
	struct json_object *o = cv_member(obj, key, path, sub, sublen);

	if (o == NULL)
		return 0;
	if (cv_want_type(v, o, sub, json_type_string, "a string") < 0)
		return -EINVAL;
	*out = json_object_get_string(o);
	return 1;
}

int
cv_enum(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    const char *const *names, int *out)
{
	char sub[512], d[256], expect[256] = "";
	const char *s;
	size_t o = 0;
	int i, r;

	if ((r = cv_str(v, obj, key, path, &s, sub, sizeof(sub))) <= 0)
		return r;
	for (i = 0; names[i]; i++) {
		if (strcmp(names[i], s) == 0) {
			*out = i;
			return 0;
		}
		o += (size_t)snprintf(expect + o, sizeof(expect) - o, "%s\"%s\"",
		    i ? " or " : "", names[i]);
	}
	return cv_err(v, sub, 0, "%s: \"%s\" is not valid (expected %s)",
	    cv_dotted(sub, d, sizeof(d)), s, expect);
}

int
cv_ifname(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    char *out, size_t outlen, int *set)
{
	char sub[512], d[256];
	const char *s;
	int r;

	if ((r = cv_str(v, obj, key, path, &s, sub, sizeof(sub))) <= 0)
		return r;
	if (!cr_ifname_valid(s))
		return cv_err(v, sub, 0, "%s: \"%s\" is not a valid interface name "
		    "(1-15 characters, no '/', ':' or spaces)", cv_dotted(sub, d, sizeof(d)), s);
	cr_strlcpy(out, s, outlen);
	if (set)
		*set = 1;
	return 0;
}

int
cv_path(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    char *out, size_t outlen)
{
	char sub[512], d[256];
	const char *s;
	int r;

	if ((r = cv_str(v, obj, key, path, &s, sub, sizeof(sub))) <= 0)
		return r;
	if (s[0] != '/')
		return cv_err(v, sub, 0, "%s: \"%s\" must be an absolute path",
		    cv_dotted(sub, d, sizeof(d)), s);
	if (strlen(s) >= outlen || strlen(s) >= PATH_MAX - 32)
		return cv_err(v, sub, 0, "%s: path too long", cv_dotted(sub, d, sizeof(d)));
	if (strcmp(s, "/") == 0 || s[strlen(s) - 1] == '/')
		return cv_err(v, sub, 0, "%s: \"%s\" must name a file or directory, not end in '/'",
		    cv_dotted(sub, d, sizeof(d)), s);
	cr_strlcpy(out, s, outlen);
	return 0;
}

/* Array of prefixes.  host: allow host bits ("100.96.0.100/11"). */
int
cv_prefixes(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    int host, struct prefix_set *out, int *present)
{
	char sub[512], el[600], d[256];
	struct json_object *a = cv_member(obj, key, path, sub, sizeof(sub));
	size_t i, n;
	int r = 0;

	if (a == NULL)
		return 0;
	if (cv_want_type(v, a, sub, json_type_array, "an array of prefixes") < 0)
		return -EINVAL;
	if (present)
		*present = 1;
	prefix_set_free(out);
	n = json_object_array_length(a);
	/* room for all at once: a peer's one prefix takes one slot, not eight */
	if (n > 0 && (out->v = reallocarray(NULL, n, sizeof(*out->v))) == NULL)
		return -ENOMEM;
	out->cap = n;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		struct prefix p;
		const char *s;

		snprintf(el, sizeof(el), "%s/%zu", sub, i);
		if (json_object_get_type(e) != json_type_string) {
			r = cv_err(v, el, 0, "%s: expected a prefix string like \"10.0.0.0/18\", got %s",
			    cv_dotted(el, d, sizeof(d)), cv_type_name(e));
			continue;
		}
		s = json_object_get_string(e);
		if (prefix_parse(s, &p, 0) < 0) {
			r = cv_err(v, el, 0, "%s: \"%s\" is not a valid prefix (expected address/length, "
			    "e.g. \"10.0.0.0/18\")", cv_dotted(el, d, sizeof(d)), s);
			continue;
		}
		if (!host && !prefix_is_network(&p)) {
			char net[PREFIX_STRLEN];
			struct prefix np;
			prefix_network(&p, &np);
			r = cv_err(v, el, 0, "%s: \"%s\" has host bits set (did you mean \"%s\"?)",
			    cv_dotted(el, d, sizeof(d)), s, prefix_fmt(&np, net, sizeof(net)));
			continue;
		}
		if (host && (p.len == 0 || (p.family == AF_INET && p.len == 32 && 0))) {
			r = cv_err(v, el, 0, "%s: \"%s\" needs a prefix length", cv_dotted(el, d, sizeof(d)), s);
			continue;
		}
		if (prefix_set_has(out, &p)) {
			r = cv_err(v, el, 0, "%s: duplicate prefix \"%s\"", cv_dotted(el, d, sizeof(d)), s);
			continue;
		}
		if (prefix_set_add(out, &p) < 0)
			return -ENOMEM;
	}
	return r;
}

