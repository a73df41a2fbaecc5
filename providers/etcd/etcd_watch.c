/*
 * The etcd watch: one streamed POST /v3/watch on its own curl handle, driven
 * by a curl multi handle: etcd_watch_poll() waits at most its timeout (and
 * wakes at once on etcd_watch_cancel(), curl_multi_wakeup), so a caller can
 * run its timers between polls; etcd_watch() is the blocking loop on top.  Bytes go to the stream parser (etcd_json.c), which
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
	return r || prov_cancelled() ||
	    (w->cancel != NULL && __atomic_load_n(w->cancel, __ATOMIC_ACQUIRE));
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

struct etcd_watch {
	struct etcd_client *c;
	struct wctx w;
	char *body;
	CURLM *m;
	struct curl_slist *hdrs;
	struct buf url;
	char errbuf[CURL_ERROR_SIZE];
	size_t idx, attempts;
	int done;                         /* the final result is in rc */
	int rc;
};

/* Why a finished transfer ended. */
static int
ended(struct etcd_watch *x, CURLcode cc)
{
	struct wctx *w = &x->w;

	if (w->result != 0)
		return w->result;
	if (w->status != 0 && w->status != 200) {
		struct json_object *o = json_tokener_parse(w->errbody.data ? w->errbody.data : "");
		int r = etcd_error_decode(w->status, o);

		json_object_put(o);
		return r;
	}
	if (cc != CURLE_OK) {
		prov_set_error("etcd watch %s: %s%s%s", x->c->endpoints[x->idx],
		    curl_easy_strerror(cc), *x->errbuf ? ": " : "", x->errbuf);
		return curl_errno(cc);
	}
	prov_set_error("etcd watch %s: the server ended the stream", x->c->endpoints[x->idx]);
	return -EPIPE;
}

static void
stop_transfer(struct etcd_watch *x)
{
	struct etcd_client *c = x->c;

	pthread_mutex_lock(&c->lock);
	c->watch_multi = NULL;
	pthread_mutex_unlock(&c->lock);
	if (x->m != NULL) {
		if (x->w.easy != NULL)
			curl_multi_remove_handle(x->m, x->w.easy);
		curl_multi_cleanup(x->m);
	}
	if (x->w.easy != NULL)
		curl_easy_cleanup(x->w.easy);
	curl_slist_free_all(x->hdrs);
	etcd_stream_free(&x->w.st);
	x->m = NULL;
	x->w.easy = NULL;
	x->hdrs = NULL;
}

/* Starts the transfer on endpoint x->idx. */
static int
start_transfer(struct etcd_watch *x)
{
	struct etcd_client *c = x->c;
	struct wctx *w = &x->w;
	int r;

	w->status = 0;
	w->result = 0;
	x->errbuf[0] = '\0';
	buf_reset(&w->errbody);
	buf_reset(&x->url);
	if ((r = etcd_stream_init(&w->st, ETCD_MAX_MESSAGE, on_msg, w)) < 0)
		return r;
	if (buf_printf(&x->url, "%s/v3/watch", c->endpoints[x->idx]) < 0 ||
	    (x->hdrs = curl_slist_append(NULL, "Content-Type: application/json")) == NULL ||
	    (w->easy = curl_easy_init()) == NULL || (x->m = curl_multi_init()) == NULL)
		return -ENOMEM;
	setup_easy(c, w, x->url.data, x->body, x->hdrs, x->errbuf);
	curl_multi_add_handle(x->m, w->easy);
	pthread_mutex_lock(&c->lock);
	c->watch_multi = x->m;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int
etcd_watch_open(struct etcd_client *c, const struct etcd_watch_req *rq,
    etcd_watch_cb cb, void *arg, const volatile int *cancel, struct etcd_watch **out)
{
	struct etcd_watch *x;
	int r;

	*out = NULL;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return -ENOMEM;
	x->c = c;
	x->idx = c->cur;
	x->w.cb = cb;
	x->w.arg = arg;
	x->w.cancel = cancel;
	x->w.c = c;
	buf_init(&x->w.errbody, 65536);
	buf_init(&x->url, 4096);
	if ((x->body = watch_body(rq)) == NULL || (r = start_transfer(x)) < 0) {
		etcd_watch_close(x);
		return -ENOMEM;
	}
	*out = x;
	return 0;
}

/* One round: reads what is there; 0 while running, else the final result. */
static int
step(struct etcd_watch *x)
{
	struct CURLMsg *msg;
	CURLcode cc = CURLE_OK;
	int running = 0, left, r, fin = 0;

	if (curl_multi_perform(x->m, &running) != CURLM_OK)
		return -EIO;
	while ((msg = curl_multi_info_read(x->m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE) {
			cc = msg->data.result;
			fin = 1;
		}
	if (x->w.result != 0)
		return x->w.result;
	if (cancelled(&x->w))
		return -ECANCELED;
	if (!fin && running)
		return 0;
	r = ended(x, cc);
	/* Another endpoint, but only if this one never answered. */
	if (x->w.st.n_msgs == 0 && x->attempts + 1 < x->c->n_endpoints &&
	    (r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -ETIMEDOUT || r == -EAGAIN ||
	    r == -EPROTO)) {
		stop_transfer(x);
		x->attempts++;
		x->idx = (x->idx + 1) % x->c->n_endpoints;
		x->c->cur = x->idx;
		return start_transfer(x);
	}
	return r;
}

int
etcd_watch_poll(struct etcd_watch *x, int timeout_ms)
{
	int r;

	if (x->done)
		return x->rc;
	if ((r = step(x)) == 0 && timeout_ms > 0) {
		if (curl_multi_poll(x->m, NULL, 0, timeout_ms, NULL) != CURLM_OK)
			r = -EIO;
		else
			r = step(x);
	}
	if (r != 0) {
		x->done = 1;
		x->rc = r;
		stop_transfer(x);
		pthread_mutex_lock(&x->c->lock);
		x->c->cancel = 0;             /* one cancel stops one watch */
		pthread_mutex_unlock(&x->c->lock);
	}
	return r;
}

void
etcd_watch_close(struct etcd_watch *x)
{
	if (x == NULL)
		return;
	stop_transfer(x);
	buf_free(&x->w.errbody);
	buf_free(&x->url);
	free(x->body);
	free(x);
}

int
etcd_watch(struct etcd_client *c, const struct etcd_watch_req *rq,
    etcd_watch_cb cb, void *arg, const volatile int *cancel)
{
	struct etcd_watch *x;
	int r;

	if ((r = etcd_watch_open(c, rq, cb, arg, cancel, &x)) < 0)
		return r;
	while ((r = etcd_watch_poll(x, 100)) == 0)
		;
	etcd_watch_close(x);
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
