/*
 * etcd gateway JSON: validation and decoding of responses (headers,
 * key-values, gRPC error bodies, watch messages) and the watch stream
 * parser that turns a byte stream into whole messages whatever the HTTP
 * chunking.  Nothing here does I/O, so all of it is unit-tested directly.
 *
 * jsonpb rules relied on: int64 as decimal strings (a bare JSON integer is
 * accepted too, the gateway takes both), bytes as padded standard base64,
 * default values omitted (a missing field is 0 / "" / false / PUT).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "providers/etcd/etcd_int.h"
#include "providers/http.h"

static int
b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int
etcd_b64_decode(const char *s, size_t n, char **out, size_t *out_len)
{
	size_t i, o = 0, pad = 0;
	unsigned char *d;
	uint32_t acc = 0;
	int v;

	if (n % 4 != 0)
		return -EINVAL;
	if (n > 0 && s[n - 1] == '=')
		pad = n > 1 && s[n - 2] == '=' ? 2 : 1;
	if ((d = malloc(n / 4 * 3 + 1)) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (i >= n - pad) {
			v = 0;
		} else if ((v = b64val((unsigned char)s[i])) < 0) {
			free(d);
			return -EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			d[o++] = (unsigned char)(acc >> 16);
			d[o++] = (unsigned char)(acc >> 8);
			d[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	o -= pad;
	d[o] = '\0';
	*out = (char *)d;
	*out_len = o;
	return 0;
}

int
etcd_json_int64(struct json_object *o, const char *name, int64_t *out)
{
	struct json_object *v;
	const char *s;
	char *end;
	long long x;

	*out = 0;
	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		goto bad;
	s = json_object_get_string(v);
	if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		goto bad;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		goto bad;
	*out = x;
	return 0;
bad:
	prov_set_error("etcd: field \"%s\" is not an int64", name);
	return -EPROTO;
}

int
etcd_json_bool(struct json_object *o, const char *name, int *out)
{
	struct json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		prov_set_error("etcd: field \"%s\" is not a boolean", name);
		return -EPROTO;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* Missing = empty bytes (still allocated, NUL-terminated). */
int
etcd_json_bytes(struct json_object *o, const char *name, char **out, size_t *len)
{
	struct json_object *v;
	int r;

	*out = NULL;
	*len = 0;
	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return (*out = calloc(1, 1)) != NULL ? 0 : -ENOMEM;
	if (!json_object_is_type(v, json_type_string)) {
		prov_set_error("etcd: field \"%s\" is not a string", name);
		return -EPROTO;
	}
	r = etcd_b64_decode(json_object_get_string(v),
	    (size_t)json_object_get_string_len(v), out, len);
	if (r == -EINVAL) {
		prov_set_error("etcd: field \"%s\" is not base64", name);
		r = -EPROTO;
	}
	return r;
}

/* o["name"] must be of type t (or absent: *out NULL). */
static int
typed(struct json_object *o, const char *name, json_type t, const char *what,
    struct json_object **out)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, name, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, t)) {
		prov_set_error("etcd: field \"%s\" is not %s", name, what);
		return -EPROTO;
	}
	*out = v;
	return 0;
}

int
etcd_json_object(struct json_object *o, const char *name, struct json_object **out)
{
	return typed(o, name, json_type_object, "an object", out);
}

int
etcd_json_array(struct json_object *o, const char *name, struct json_object **out)
{
	return typed(o, name, json_type_array, "a list", out);
}

void
etcd_kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	if (kv->value != NULL)
		explicit_bzero(kv->value, kv->value_len);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void
etcd_kvs_free(struct etcd_kvs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		etcd_kv_free(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

int
etcd_kv_decode(struct json_object *o, struct etcd_kv *kv)
{
	int r;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object)) {
		prov_set_error("etcd: key-value is not an object");
		return -EPROTO;
	}
	if ((r = etcd_json_bytes(o, "key", &kv->key, &kv->key_len)) < 0 ||
	    (r = etcd_json_bytes(o, "value", &kv->value, &kv->value_len)) < 0 ||
	    (r = etcd_json_int64(o, "create_revision", &kv->create_revision)) < 0 ||
	    (r = etcd_json_int64(o, "mod_revision", &kv->mod_revision)) < 0 ||
	    (r = etcd_json_int64(o, "version", &kv->version)) < 0 ||
	    (r = etcd_json_int64(o, "lease", &kv->lease)) < 0)
		goto out;
	if (kv->key_len == 0 || kv->create_revision < 0 || kv->mod_revision < 0 ||
	    kv->version < 0) {
		prov_set_error("etcd: key-value without a key or with a negative revision");
		r = -EPROTO;
	}
out:
	if (r < 0)
		etcd_kv_free(kv);
	return r;
}

/* A unary response's header: an object with a positive revision. */
int
etcd_header_decode(struct json_object *resp, int64_t *revision)
{
	struct json_object *h;
	int r;

	if (!json_object_is_type(resp, json_type_object)) {
		prov_set_error("etcd: response is not a JSON object");
		return -EPROTO;
	}
	if ((r = etcd_json_object(resp, "header", &h)) < 0)
		return r;
	if (h == NULL) {
		prov_set_error("etcd: response without a header");
		return -EPROTO;
	}
	if ((r = etcd_json_int64(h, "revision", revision)) < 0)
		return r;
	if (*revision <= 0) {
		prov_set_error("etcd: response header without a revision");
		return -EPROTO;
	}
	return 0;
}

/* gRPC status codes (google.golang.org/grpc/codes) to -errno. */
int
etcd_grpc_errno(int64_t code)
{
	switch (code) {
	case 1:  return -ECANCELED;        /* Canceled */
	case 3:  return -EINVAL;           /* InvalidArgument */
	case 4:  return -ETIMEDOUT;        /* DeadlineExceeded */
	case 5:  return -ENOENT;           /* NotFound (lease not found) */
	case 6:  return -EEXIST;           /* AlreadyExists */
	case 7:  return -EACCES;           /* PermissionDenied */
	case 8:  return -ENOSPC;           /* ResourceExhausted */
	case 9:  return -EBUSY;            /* FailedPrecondition */
	case 11: return -ERANGE;           /* OutOfRange (compacted revision) */
	case 14: return -EAGAIN;           /* Unavailable (no leader...) */
	case 16: return -EACCES;           /* Unauthenticated */
	default: return -EIO;
	}
}

/*
 * A non-200 answer: {"error": "...", "code": N, "message": "..."} (unary)
 * or {"grpc_code": N, "message": ...} (stream).  Returns the mapped errno.
 */
int
etcd_error_decode(long status, struct json_object *o)
{
	struct json_object *v;
	const char *msg = NULL;
	int64_t code = -1;

	if (o != NULL && json_object_is_type(o, json_type_object)) {
		if (etcd_json_int64(o, "code", &code) < 0 || code == 0)
			if (etcd_json_int64(o, "grpc_code", &code) < 0 || code == 0)
				code = -1;
		if (json_object_object_get_ex(o, "message", &v) &&
		    json_object_is_type(v, json_type_string))
			msg = json_object_get_string(v);
		else if (json_object_object_get_ex(o, "error", &v) &&
		    json_object_is_type(v, json_type_string))
			msg = json_object_get_string(v);
	}
	if (code < 0) {
		prov_set_error("etcd: HTTP %ld without a gRPC error", status);
		if (status == 503 || status == 502 || status == 504)
			return -EAGAIN;
		return status >= 500 ? -EIO : -EPROTO;
	}
	prov_set_error("etcd: %.200s (gRPC code %lld, HTTP %ld)",
	    msg != NULL ? msg : "error", (long long)code, status);
	return etcd_grpc_errno(code);
}

void
etcd_watch_msg_free(struct etcd_watch_msg *m)
{
	size_t i;

	for (i = 0; i < m->n_events; i++) {
		etcd_kv_free(&m->events[i].kv);
		etcd_kv_free(&m->events[i].prev_kv);
	}
	free(m->events);
	memset(m, 0, sizeof(*m));
}

static int
event_decode(struct json_object *o, struct etcd_event *ev)
{
	struct json_object *v, *kv, *prev;
	const char *t;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!json_object_is_type(o, json_type_object))
		goto bad;
	ev->type = ETCD_EVENT_PUT;                /* the default, omitted */
	if (json_object_object_get_ex(o, "type", &v) && v != NULL) {
		if (json_object_is_type(v, json_type_int) && json_object_get_int(v) >= 0 &&
		    json_object_get_int(v) <= 1)
			ev->type = (enum etcd_event_type)json_object_get_int(v);
		else if (!json_object_is_type(v, json_type_string))
			goto bad;
		else if (strcmp((t = json_object_get_string(v)), "DELETE") == 0)
			ev->type = ETCD_EVENT_DELETE;
		else if (strcmp(t, "PUT") != 0)
			goto bad;
	}
	if ((r = etcd_json_object(o, "kv", &kv)) < 0 ||
	    (r = etcd_json_object(o, "prev_kv", &prev)) < 0)
		return r;
	if (kv == NULL)
		goto bad;
	if ((r = etcd_kv_decode(kv, &ev->kv)) < 0)
		return r;
	if (prev != NULL && (r = etcd_kv_decode(prev, &ev->prev_kv)) < 0) {
		etcd_kv_free(&ev->kv);
		return r;
	}
	return 0;
bad:
	prov_set_error("etcd: malformed watch event");
	return -EPROTO;
}

static int
events_decode(struct json_object *res, struct etcd_watch_msg *m)
{
	struct json_object *arr;
	size_t i, n;
	int r;

	if ((r = etcd_json_array(res, "events", &arr)) < 0 || arr == NULL)
		return r;
	n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	if ((m->events = calloc(n, sizeof(*m->events))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if ((r = event_decode(json_object_array_get_idx(arr, i), &m->events[i])) < 0)
			return r;
		m->n_events++;
	}
	return 0;
}

int
etcd_watch_msg_decode(struct json_object *msg, struct etcd_watch_msg *m)
{
	struct json_object *res, *err, *h, *v;
	int r;

	memset(m, 0, sizeof(*m));
	if (!json_object_is_type(msg, json_type_object)) {
		prov_set_error("etcd: watch message is not a JSON object");
		return -EPROTO;
	}
	if ((r = etcd_json_object(msg, "error", &err)) < 0)
		return r;
	if (err != NULL)
		return etcd_error_decode(0, err);
	if ((r = etcd_json_object(msg, "result", &res)) < 0)
		return r;
	if (res == NULL) {
		prov_set_error("etcd: watch message without result");
		return -EPROTO;
	}
	if ((r = etcd_json_object(res, "header", &h)) < 0)
		return r;
	if ((h != NULL && (r = etcd_json_int64(h, "revision", &m->revision)) < 0) ||
	    (r = etcd_json_int64(res, "watch_id", &m->watch_id)) < 0 ||
	    (r = etcd_json_bool(res, "created", &m->created)) < 0 ||
	    (r = etcd_json_bool(res, "canceled", &m->canceled)) < 0 ||
	    (r = etcd_json_int64(res, "compact_revision", &m->compact_revision)) < 0)
		goto out;
	if (m->revision < 0 || m->compact_revision < 0) {
		prov_set_error("etcd: negative revision in a watch message");
		r = -EPROTO;
		goto out;
	}
	if (json_object_object_get_ex(res, "cancel_reason", &v) &&
	    json_object_is_type(v, json_type_string))
		cr_strlcpy(m->cancel_reason, json_object_get_string(v),
		    sizeof(m->cancel_reason));
	r = events_decode(res, m);
out:
	if (r < 0)
		etcd_watch_msg_free(m);
	return r;
}

/* ---- the stream parser ---- */

int
etcd_stream_init(struct etcd_stream *s, size_t max, etcd_watch_cb cb, void *arg)
{
	memset(s, 0, sizeof(*s));
	if ((s->tok = json_tokener_new_ex(32)) == NULL)
		return -ENOMEM;
	s->max = max ? max : ETCD_MAX_MESSAGE;
	s->cb = cb;
	s->arg = arg;
	return 0;
}

void
etcd_stream_free(struct etcd_stream *s)
{
	if (s->tok != NULL)
		json_tokener_free(s->tok);
	s->tok = NULL;
}

static int
deliver(struct etcd_stream *s, struct json_object *o)
{
	struct etcd_watch_msg m;
	int r;

	r = etcd_watch_msg_decode(o, &m);
	json_object_put(o);
	if (r < 0)
		return r;
	s->n_msgs++;
	r = s->cb != NULL ? s->cb(s->arg, &m) : 0;
	etcd_watch_msg_free(&m);
	return r;
}

static size_t
skip_ws(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
		i++;
	return i;
}

/*
 * Feeds bytes; every completed message is decoded and handed to the
 * callback in order.  Whitespace between messages (the gateway's "\n"
 * delimiter) is skipped.  A message over the bound, bad JSON, or a
 * malformed message stops the stream for good (the error is sticky).
 */
int
etcd_stream_feed(struct etcd_stream *s, const char *p, size_t n)
{
	struct json_object *o;
	enum json_tokener_error e;
	size_t used, take;
	int r;

	while (s->err == 0 && n > 0) {
		if (s->cur == 0) {
			used = skip_ws(p, n);
			p += used;
			n -= used;
			if (n == 0)
				break;
		}
		take = n;
		if (take > s->max - s->cur + 1)
			take = s->max - s->cur + 1;
		if (take > INT32_MAX)
			take = INT32_MAX;
		o = json_tokener_parse_ex(s->tok, p, (int)take);
		e = json_tokener_get_error(s->tok);
		if (o == NULL && e == json_tokener_continue) {
			s->cur += take;
			if (s->cur > s->max) {
				prov_set_error("etcd: watch message over %zu bytes", s->max);
				s->err = -E2BIG;
			}
			p += take;
			n -= take;
			continue;
		}
		if (o == NULL) {
			prov_set_error("etcd: bad JSON in the watch stream: %s",
			    json_tokener_error_desc(e));
			s->err = -EPROTO;
			break;
		}
		used = json_tokener_get_parse_end(s->tok);
		json_tokener_reset(s->tok);
		s->cur = 0;
		p += used;
		n -= used;
		if ((r = deliver(s, o)) != 0)
			s->err = r;
	}
	return s->err;
}

/* The whole body must be one JSON value (trailing whitespace allowed). */
static struct json_object *
parse_whole(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;
	size_t end;

	if (len == 0 || len > INT32_MAX || (tok = json_tokener_new_ex(32)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL) {
		end = json_tokener_get_parse_end(tok);
		if (end + skip_ws(body + end, len - end) != len) {
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

int
etcd_response_decode(long status, const char *body, size_t len,
    struct json_object **out, int64_t *revision)
{
	struct json_object *o = parse_whole(body, len);
	int r;

	*out = NULL;
	if (status != 200) {
		r = etcd_error_decode(status, o);
		goto out;
	}
	if (o == NULL) {
		prov_set_error("etcd: response is not JSON");
		r = -EPROTO;
		goto out;
	}
	if ((r = etcd_header_decode(o, revision)) < 0)
		goto out;
	*out = o;
	o = NULL;
out:
	json_object_put(o);
	return r;
}

/* A one-message stream answer (lease keep-alive): {"result": {...}}. */
int
etcd_stream_response_decode(long status, const char *body, size_t len,
    struct json_object **out, int64_t *revision)
{
	struct json_object *o = parse_whole(body, len), *res, *err;
	int r;

	*out = NULL;
	if (status != 200) {
		r = etcd_error_decode(status, o);
		goto out;
	}
	r = -EPROTO;
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		prov_set_error("etcd: stream response is not a JSON object");
		goto out;
	}
	if ((r = etcd_json_object(o, "error", &err)) < 0 ||
	    (r = etcd_json_object(o, "result", &res)) < 0)
		goto out;
	if (err != NULL) {
		r = etcd_error_decode(status, err);
		goto out;
	}
	if (res == NULL) {
		prov_set_error("etcd: stream response without result");
		r = -EPROTO;
		goto out;
	}
	if ((r = etcd_header_decode(res, revision)) < 0)
		goto out;
	*out = json_object_get(res);
out:
	json_object_put(o);
	return r;
}
