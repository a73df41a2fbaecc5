/*
 * The etcd watch: one streamed POST /v3/watch on its own curl handle, driven
 * by a curl multi handle so that the calling thread wakes at least every
 * 100 ms (and at once on etcd_watch_cancel(), curl_multi_wakeup) to check
 * for cancellation.  Bytes go to the stream parser (etcd_json.c), which
 * hands whole, validated messages to the caller's callback.
 *
 * The response has no total timeout (a watch is quiet for as long as nothing
 * changes); a dead peer is found by TCP keep-alive (idle 2 s, probes every
 * 1 s) and by the caller's lease keep-alives failing, which cancel it.
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

struct wctx {
	struct etcd_stream st;
	etcd_watch_cb cb;
	void *arg;
	CURL *easy;
	long status;
	struct buf errbody;               /* a non-200 answer, for its error */
	int result;                       /* why the watch stopped, 0 = not yet */
	const volatile int *cancel;
	struct etcd_client *c;
};

static int
cancelled(struct wctx *w)
{
	int r;

	pthread_mutex_lock(&w->c->lock);
	r = w->c->cancel;
	pthread_mutex_unlock(&w->c->lock);
	return r || (w->cancel != NULL && *w->cancel);
}

/* Stream callback: the caller's, then the server's own cancellation. */
static int
on_msg(void *arg, const struct etcd_watch_msg *m)
{
	struct wctx *w = arg;
	int r;

	if ((r = w->cb(w->arg, m)) != 0)
		return r;
	if (m->canceled) {
		if (m->compact_revision > 0) {
			prov_set_error("etcd: watch canceled: revision compacted (now %lld)",
			    (long long)m->compact_revision);
			return -ERANGE;
		}
		prov_set_error("etcd: watch canceled by the server: %s", m->cancel_reason);
		return -ESHUTDOWN;
	}
	return 0;
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct wctx *w = arg;
	size_t len = size * n;
	int r;

	if (w->status == 0)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->status);
	if (cancelled(w)) {
		w->result = -ECANCELED;
		return 0;
	}
	if (w->status != 200) {
		if (buf_append(&w->errbody, p, len) < 0)
			return 0;
		return len;
	}
	if ((r = etcd_stream_feed(&w->st, p, len)) != 0) {
		w->result = r;
		return 0;
	}
	return len;
}

static char *
watch_body(const struct etcd_watch_req *rq)
{
	struct json_object *b = json_object_new_object(), *cr = json_object_new_object();
	struct buf k, e;
	char rev[24], *s = NULL;

	buf_init(&k, ETCD_MAX_MESSAGE);
	buf_init(&e, ETCD_MAX_MESSAGE);
	if (b == NULL || cr == NULL || prov_base64(rq->key, rq->key_len, &k) < 0 ||
	    (rq->range_end != NULL && prov_base64(rq->range_end, rq->end_len, &e) < 0))
		goto out;
	json_object_object_add(cr, "key", json_object_new_string(k.data ? k.data : ""));
	if (rq->range_end != NULL)
		json_object_object_add(cr, "range_end",
		    json_object_new_string(e.data ? e.data : ""));
	if (rq->start_revision > 0) {
		snprintf(rev, sizeof(rev), "%lld", (long long)rq->start_revision);
		json_object_object_add(cr, "start_revision", json_object_new_string(rev));
	}
	if (rq->prev_kv)
		json_object_object_add(cr, "prev_kv", json_object_new_boolean(1));
	if (rq->progress_notify)
		json_object_object_add(cr, "progress_notify", json_object_new_boolean(1));
	json_object_object_add(b, "create_request", cr);
	cr = NULL;
	s = strdup(json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(cr);
	json_object_put(b);
	buf_free(&k);
	buf_free(&e);
	return s;
}

static void
setup_easy(struct etcd_client *c, struct wctx *w, const char *url, const char *body,
    struct curl_slist *hdrs, char *errbuf)
{
	CURL *e = w->easy;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, strncasecmp(url, "https:", 6) == 0 ?
	    "https" : "http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cloudroute/" CLOUDROUTE_VERSION);
	if (c->ca_file != NULL) {
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	if (c->cert_file != NULL)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file != NULL)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
}

static int
curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EPROTO;
	default:
		return -EPIPE;
	}
}

/* Drives the transfer until it ends or is stopped. */
static int
drive(struct etcd_client *c, CURLM *m, struct wctx *w, const char *errbuf)
{
	struct CURLMsg *msg;
	int running = 1, left;
	CURLcode cc = CURLE_OK;

	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			return -EIO;
		while ((msg = curl_multi_info_read(m, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				cc = msg->data.result;
		if (w->result != 0)
			return w->result;
		if (cancelled(w))
			return -ECANCELED;
		if (!running)
			break;
		if (curl_multi_poll(m, NULL, 0, 100, NULL) != CURLM_OK)
			return -EIO;
	}
	if (w->status != 0 && w->status != 200) {
		struct json_object *o = json_tokener_parse(w->errbody.data ? w->errbody.data : "");
		int r = etcd_error_decode(w->status, o);

		json_object_put(o);
		return r;
	}
	if (cc != CURLE_OK) {
		prov_set_error("etcd watch %s: %s%s%s", etcd_endpoint(c),
		    curl_easy_strerror(cc), *errbuf ? ": " : "", errbuf);
		return curl_errno(cc);
	}
	prov_set_error("etcd watch %s: the server ended the stream", etcd_endpoint(c));
	return -EPIPE;
}

/* One attempt on endpoint idx. */
static int
watch_once(struct etcd_client *c, size_t idx, const char *body, struct wctx *w)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	CURLM *m = NULL;
	struct buf url;
	int r = -ENOMEM;

	buf_init(&url, 4096);
	w->status = 0;
	w->result = 0;
	buf_reset(&w->errbody);
	if (buf_printf(&url, "%s/v3/watch", c->endpoints[idx]) < 0 ||
	    (hdrs = curl_slist_append(NULL, "Content-Type: application/json")) == NULL ||
	    (w->easy = curl_easy_init()) == NULL || (m = curl_multi_init()) == NULL)
		goto out;
	setup_easy(c, w, url.data, body, hdrs, errbuf);
	curl_multi_add_handle(m, w->easy);
	pthread_mutex_lock(&c->lock);
	c->watch_multi = m;
	pthread_mutex_unlock(&c->lock);
	r = drive(c, m, w, errbuf);
	pthread_mutex_lock(&c->lock);
	c->watch_multi = NULL;
	pthread_mutex_unlock(&c->lock);
	curl_multi_remove_handle(m, w->easy);
out:
	if (m != NULL)
		curl_multi_cleanup(m);
	if (w->easy != NULL)
		curl_easy_cleanup(w->easy);
	w->easy = NULL;
	curl_slist_free_all(hdrs);
	buf_free(&url);
	return r;
}

int
etcd_watch(struct etcd_client *c, const struct etcd_watch_req *rq,
    etcd_watch_cb cb, void *arg, const volatile int *cancel)
{
	struct wctx w;
	char *body;
	size_t i, idx = c->cur;
	int r;

	memset(&w, 0, sizeof(w));
	w.cb = cb;
	w.arg = arg;
	w.cancel = cancel;
	w.c = c;
	buf_init(&w.errbody, 65536);
	if ((body = watch_body(rq)) == NULL)
		return -ENOMEM;
	r = -EINVAL;
	for (i = 0; i < c->n_endpoints; i++) {
		idx = (c->cur + i) % c->n_endpoints;
		if ((r = etcd_stream_init(&w.st, ETCD_MAX_MESSAGE, on_msg, &w)) < 0)
			break;
		r = watch_once(c, idx, body, &w);
		etcd_stream_free(&w.st);
		/* Another endpoint only if this one never answered. */
		if (w.st.n_msgs > 0 || (r != -ECONNREFUSED && r != -EHOSTUNREACH &&
		    r != -ETIMEDOUT && r != -EAGAIN && r != -EPROTO))
			break;
	}
	c->cur = idx;
	pthread_mutex_lock(&c->lock);
	c->cancel = 0;                /* one cancel stops one watch */
	pthread_mutex_unlock(&c->lock);
	buf_free(&w.errbody);
	free(body);
	return r;
}

void
etcd_watch_cancel(struct etcd_client *c)
{
	pthread_mutex_lock(&c->lock);
	c->cancel = 1;
	if (c->watch_multi != NULL)
		curl_multi_wakeup(c->watch_multi);
	pthread_mutex_unlock(&c->lock);
}
