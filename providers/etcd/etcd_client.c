/*
 * etcd v3 unary calls through the JSON gateway (see etcd.h): kv range, put,
 * deleterange, txn; lease grant, keep-alive, revoke.  Each call is one
 * http_do POST to the current endpoint; a transport failure or a gRPC
 * "unavailable" moves to the next endpoint (each tried once per call).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "providers/etcd/etcd_int.h"
#include "providers/http.h"
#include "providers/sigv4.h"

static int
check_endpoint(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *path = NULL;
	int r = -EINVAL;

	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto out;
	if (strcmp(path, "/") != 0 && strcmp(path, "") != 0)
		goto out;
	r = 0;
out:
	curl_free(scheme);
	curl_free(path);
	curl_url_cleanup(u);
	return r;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

int
etcd_open(const struct etcd_config *cfg, struct etcd_client **out)
{
	struct etcd_client *c;
	size_t i, n;

	*out = NULL;
	if (cfg->n_endpoints == 0 || cfg->n_endpoints > ETCD_MAX_ENDPOINTS) {
		prov_set_error("etcd: 1 to %d endpoints", ETCD_MAX_ENDPOINTS);
		return -EINVAL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	for (i = 0; i < cfg->n_endpoints; i++) {
		if (check_endpoint(cfg->endpoints[i]) < 0) {
			prov_set_error("etcd: endpoint \"%s\" is not an http:// or https:// "
			    "URL without a path", cfg->endpoints[i]);
			etcd_close(c);
			return -EINVAL;
		}
		n = strlen(cfg->endpoints[i]);
		while (n > 0 && cfg->endpoints[i][n - 1] == '/')
			n--;
		if ((c->endpoints[i] = strndup(cfg->endpoints[i], n)) == NULL)
			goto nomem;
		c->n_endpoints++;
	}
	c->ca_file = dup_or_null(cfg->ca_file);
	c->cert_file = dup_or_null(cfg->cert_file);
	c->key_file = dup_or_null(cfg->key_file);
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 2000;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 1000;
	*out = c;
	return 0;
nomem:
	etcd_close(c);
	return -ENOMEM;
}

void
etcd_close(struct etcd_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_endpoints; i++)
		free(c->endpoints[i]);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *
etcd_endpoint(const struct etcd_client *c)
{
	return c->endpoints[c->cur];
}

char *
etcd_prefix_end(const char *prefix, size_t len, size_t *end_len)
{
	char *e;
	size_t i;

	/* rpc.proto: range_end "\0" means every key >= key. */
	for (i = len; i > 0; i--)
		if ((unsigned char)prefix[i - 1] != 0xff)
			break;
	if ((e = malloc(i > 0 ? i + 1 : 2)) == NULL)
		return NULL;
	if (i == 0) {
		e[0] = e[1] = '\0';
		*end_len = 1;
		return e;
	}
	memcpy(e, prefix, i);
	e[i - 1] = (char)((unsigned char)e[i - 1] + 1);
	e[i] = '\0';
	*end_len = i;
	return e;
}

/* Adds name: base64(p[0..n]) to o. */
static int
add_bytes(struct json_object *o, const char *name, const char *p, size_t n)
{
	struct buf b;
	int r;

	buf_init(&b, ETCD_MAX_MESSAGE);
	if ((r = prov_base64(p, n, &b)) == 0)
		r = json_object_object_add(o, name,
		    json_object_new_string_len(b.data ? b.data : "", (int)b.len));
	buf_free(&b);
	return r < 0 ? -ENOMEM : 0;
}

static int
add_int64(struct json_object *o, const char *name, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_object_object_add(o, name, json_object_new_string(s)) < 0 ? -ENOMEM : 0;
}

static int
add_str(struct json_object *o, const char *name, const char *v)
{
	return json_object_object_add(o, name, json_object_new_string(v)) < 0 ? -ENOMEM : 0;
}

/* Transport failures and "unavailable" are worth another endpoint. */
static int
failover_worthy(int r)
{
	return r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EHOSTUNREACH ||
	    r == -EIO || r == -EAGAIN || r == -EPROTO;
}

/*
 * POSTs body to path on the current endpoint (then the others) and
 * validates the answer.  stream: the method is a gateway stream (keep-alive)
 * answering {"result": ...}.  *out is the response (or its result).
 */
static int
call(struct etcd_client *c, const char *path, struct json_object *body, int stream,
    struct json_object **out, int64_t *revision)
{
	static const struct http_header hdr[] = { { "Content-Type", "application/json" } };
	const char *js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	struct http_response resp;
	struct http_request rq;
	struct buf url;
	size_t i, idx = c->cur;
	int r = -EINVAL;
	int64_t rev = 0;

	*out = NULL;
	buf_init(&url, 4096);
	for (i = 0; i < c->n_endpoints; i++) {
		idx = (c->cur + i) % c->n_endpoints;
		buf_reset(&url);
		if ((r = buf_printf(&url, "%s%s", c->endpoints[idx], path)) < 0)
			break;
		memset(&rq, 0, sizeof(rq));
		rq.method = "POST";
		rq.url = url.data;
		rq.headers = hdr;
		rq.n_headers = ARRAY_SIZE(hdr);
		rq.body = js;
		rq.body_len = strlen(js);
		rq.connect_timeout_ms = c->connect_timeout_ms;
		rq.timeout_ms = c->timeout_ms;
		rq.max_response = ETCD_MAX_MESSAGE;
		rq.allow_plain_http = 1;      /* only endpoints the config names */
		rq.ca_file = c->ca_file;
		rq.cert_file = c->cert_file;
		rq.key_file = c->key_file;
		r = http_do(&rq, &resp);
		if (r == 0)
			r = (stream ? etcd_stream_response_decode : etcd_response_decode)
			    (resp.status, resp.body.data, resp.body.len, out, &rev);
		http_response_free(&resp);
		if (!failover_worthy(r))
			break;
	}
	if (r == 0 || !failover_worthy(r))
		c->cur = idx;
	else
		c->cur = (c->cur + 1) % c->n_endpoints;   /* next call starts elsewhere */
	buf_free(&url);
	if (revision != NULL)
		*revision = rev;
	return r;
}

static int
kvs_decode(struct json_object *resp, struct etcd_kvs *out)
{
	struct json_object *arr;
	size_t i, n;
	int r;

	if ((r = etcd_json_array(resp, "kvs", &arr)) < 0 ||
	    (r = etcd_json_bool(resp, "more", &out->more)) < 0 || arr == NULL)
		return r;
	n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	if ((out->kvs = calloc(n, sizeof(*out->kvs))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if ((r = etcd_kv_decode(json_object_array_get_idx(arr, i), &out->kvs[i])) < 0)
			return r;
		out->n++;
	}
	return 0;
}

static struct json_object *
range_body(const char *key, size_t key_len, const char *end, size_t end_len)
{
	struct json_object *b = json_object_new_object();

	if (b == NULL || add_bytes(b, "key", key, key_len) < 0 ||
	    (end != NULL && add_bytes(b, "range_end", end, end_len) < 0)) {
		json_object_put(b);
		return NULL;
	}
	return b;
}

int
etcd_range(struct etcd_client *c, const char *key, size_t key_len,
    const char *range_end, size_t end_len, struct etcd_kvs *out)
{
	struct json_object *b, *resp = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((b = range_body(key, key_len, range_end, end_len)) == NULL)
		return -ENOMEM;
	if ((r = call(c, "/v3/kv/range", b, 0, &resp, &out->revision)) == 0)
		r = kvs_decode(resp, out);
	if (r < 0)
		etcd_kvs_free(out);
	json_object_put(resp);
	json_object_put(b);
	return r;
}

static struct json_object *
put_body(const char *key, size_t key_len, const char *value, size_t value_len,
    int64_t lease)
{
	struct json_object *b = json_object_new_object();

	if (b == NULL || add_bytes(b, "key", key, key_len) < 0 ||
	    add_bytes(b, "value", value, value_len) < 0 ||
	    (lease != 0 && add_int64(b, "lease", lease) < 0)) {
		json_object_put(b);
		return NULL;
	}
	return b;
}

int
etcd_put(struct etcd_client *c, const char *key, size_t key_len,
    const char *value, size_t value_len, int64_t lease, int64_t *revision)
{
	struct json_object *b, *resp = NULL;
	int r;

	if ((b = put_body(key, key_len, value, value_len, lease)) == NULL)
		return -ENOMEM;
	r = call(c, "/v3/kv/put", b, 0, &resp, revision);
	json_object_put(resp);
	json_object_put(b);
	return r;
}

int
etcd_delete(struct etcd_client *c, const char *key, size_t key_len,
    const char *range_end, size_t end_len, int64_t *deleted)
{
	struct json_object *b, *resp = NULL;
	int64_t n = 0;
	int r;

	if ((b = range_body(key, key_len, range_end, end_len)) == NULL)
		return -ENOMEM;
	if ((r = call(c, "/v3/kv/deleterange", b, 0, &resp, NULL)) == 0)
		r = etcd_json_int64(resp, "deleted", &n);
	if (deleted != NULL)
		*deleted = n;
	json_object_put(resp);
	json_object_put(b);
	return r;
}

/* One Compare: target (CREATE/VALUE/...) EQUAL, with its value field. */
static struct json_object *
compare(const char *key, size_t key_len, const char *target)
{
	struct json_object *cmp = json_object_new_object();

	if (cmp == NULL || add_bytes(cmp, "key", key, key_len) < 0 ||
	    add_str(cmp, "target", target) < 0 || add_str(cmp, "result", "EQUAL") < 0) {
		json_object_put(cmp);
		return NULL;
	}
	return cmp;
}

static int
add_op(struct json_object *list, const char *kind, struct json_object *req)
{
	struct json_object *op = json_object_new_object();

	if (op == NULL || req == NULL) {
		json_object_put(op);
		json_object_put(req);
		return -ENOMEM;
	}
	json_object_object_add(op, kind, req);
	return json_object_array_add(list, op) < 0 ? -ENOMEM : 0;
}

/* Takes cmps/succ/fail; *succeeded and the response are the caller's. */
static int
txn(struct etcd_client *c, struct json_object *cmps, struct json_object *succ,
    struct json_object *fail, int *succeeded, struct json_object **resp)
{
	struct json_object *b = json_object_new_object();
	int r = -ENOMEM;

	*resp = NULL;
	if (b == NULL || cmps == NULL || succ == NULL || fail == NULL) {
		json_object_put(cmps);
		json_object_put(succ);
		json_object_put(fail);
		goto out;
	}
	json_object_object_add(b, "compare", cmps);
	json_object_object_add(b, "success", succ);
	json_object_object_add(b, "failure", fail);
	if ((r = call(c, "/v3/kv/txn", b, 0, resp, NULL)) == 0)
		r = etcd_json_bool(*resp, "succeeded", succeeded);
out:
	json_object_put(b);
	return r;
}

/* holder = responses[0].response_range.kvs[0] of a failed election txn. */
static int
txn_range_result(struct json_object *resp, struct etcd_kv *holder)
{
	struct json_object *arr, *rr;
	struct etcd_kvs kvs = { 0 };
	int r;

	if ((r = etcd_json_array(resp, "responses", &arr)) < 0)
		return r;
	if (arr == NULL || json_object_array_length(arr) != 1 ||
	    etcd_json_object(json_object_array_get_idx(arr, 0), "response_range", &rr) < 0 ||
	    rr == NULL) {
		prov_set_error("etcd: txn answer without its range response");
		return -EPROTO;
	}
	if ((r = kvs_decode(rr, &kvs)) == 0 && kvs.n > 0) {
		*holder = kvs.kvs[0];
		memset(&kvs.kvs[0], 0, sizeof(kvs.kvs[0]));
	}
	etcd_kvs_free(&kvs);
	return r;
}

int
etcd_create_if_absent(struct etcd_client *c, const char *key, size_t key_len,
    const char *value, size_t value_len, int64_t lease, int *won,
    struct etcd_kv *holder)
{
	struct json_object *cmps = json_object_new_array(), *succ = json_object_new_array();
	struct json_object *fail = json_object_new_array(), *cmp, *resp = NULL;
	int r;

	*won = 0;
	if (holder != NULL)
		memset(holder, 0, sizeof(*holder));
	cmp = compare(key, key_len, "CREATE");
	if (cmp == NULL || cmps == NULL || add_int64(cmp, "create_revision", 0) < 0 ||
	    json_object_array_add(cmps, cmp) < 0 ||
	    (succ != NULL && add_op(succ, "request_put",
	    put_body(key, key_len, value, value_len, lease)) < 0) ||
	    (fail != NULL && add_op(fail, "request_range",
	    range_body(key, key_len, NULL, 0)) < 0)) {
		json_object_put(cmps);
		json_object_put(succ);
		json_object_put(fail);
		return -ENOMEM;
	}
	if ((r = txn(c, cmps, succ, fail, won, &resp)) == 0 && !*won && holder != NULL)
		r = txn_range_result(resp, holder);
	json_object_put(resp);
	return r;
}

int
etcd_delete_if(struct etcd_client *c, const char *key, size_t key_len,
    const char *value, size_t value_len, int *done)
{
	struct json_object *cmps = json_object_new_array(), *succ = json_object_new_array();
	struct json_object *fail = json_object_new_array(), *cmp, *resp = NULL;
	int r;

	*done = 0;
	cmp = compare(key, key_len, "VALUE");
	if (cmp == NULL || cmps == NULL || add_bytes(cmp, "value", value, value_len) < 0 ||
	    json_object_array_add(cmps, cmp) < 0 ||
	    (succ != NULL && add_op(succ, "request_delete_range",
	    range_body(key, key_len, NULL, 0)) < 0)) {
		json_object_put(cmps);
		json_object_put(succ);
		json_object_put(fail);
		return -ENOMEM;
	}
	r = txn(c, cmps, succ, fail, done, &resp);
	json_object_put(resp);
	return r;
}

int
etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *id, int64_t *granted_ttl)
{
	struct json_object *b = json_object_new_object(), *resp = NULL, *v;
	int r = -ENOMEM;

	*id = *granted_ttl = 0;
	if (b == NULL || add_int64(b, "TTL", ttl) < 0)
		goto out;
	if ((r = call(c, "/v3/lease/grant", b, 0, &resp, NULL)) < 0)
		goto out;
	if (json_object_object_get_ex(resp, "error", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0) {
		prov_set_error("etcd: lease grant: %.200s", json_object_get_string(v));
		r = -EIO;
		goto out;
	}
	if ((r = etcd_json_int64(resp, "ID", id)) < 0 ||
	    (r = etcd_json_int64(resp, "TTL", granted_ttl)) < 0)
		goto out;
	if (*id == 0 || *granted_ttl <= 0) {
		prov_set_error("etcd: lease grant answered without an ID or TTL");
		r = -EPROTO;
	}
out:
	json_object_put(resp);
	json_object_put(b);
	return r;
}

int
etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl)
{
	struct json_object *b = json_object_new_object(), *res = NULL;
	int64_t rid = 0;
	int r = -ENOMEM;

	*ttl = 0;
	if (b == NULL || add_int64(b, "ID", id) < 0)
		goto out;
	if ((r = call(c, "/v3/lease/keepalive", b, 1, &res, NULL)) < 0)
		goto out;
	if ((r = etcd_json_int64(res, "ID", &rid)) < 0 ||
	    (r = etcd_json_int64(res, "TTL", ttl)) < 0)
		goto out;
	if (rid != id) {
		prov_set_error("etcd: keep-alive answered for another lease");
		r = -EPROTO;
	} else if (*ttl <= 0) {
		prov_set_error("etcd: lease %llx has expired", (unsigned long long)id);
		r = -ENOENT;
	}
out:
	json_object_put(res);
	json_object_put(b);
	return r;
}

int
etcd_lease_revoke(struct etcd_client *c, int64_t id)
{
	struct json_object *b = json_object_new_object(), *resp = NULL;
	int r = -ENOMEM;

	if (b != NULL && add_int64(b, "ID", id) == 0)
		r = call(c, "/v3/lease/revoke", b, 0, &resp, NULL);
	json_object_put(resp);
	json_object_put(b);
	return r;
}
