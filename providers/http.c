/*
 * HTTP client on libcurl for the cloud providers (see http.h for the
 * rules: timeouts, size cap, https only but for metadata, extra CA added to
 * the system store, no proxy for metadata, no redirects).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/metrics.h"
#include "http.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

struct xfer {
	struct http_response *resp;
	int overflow;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (buf_append(&x->resp->body, p, len) < 0) {
		x->overflow = 1;
		return 0;               /* makes curl fail with CURLE_WRITE_ERROR */
	}
	return len;
}

/* Copies the trimmed value of header line `line` named `name` into out. */
static int
header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), i, j;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	i = nl + 1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	j = len;
	while (j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' ||
	    line[j - 1] == ' ' || line[j - 1] == '\t'))
		j--;
	if (j - i >= outlen)
		j = i + outlen - 1;
	memcpy(out, line + i, j - i);
	out[j - i] = '\0';
	return 1;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	/* A new status line (after 100 Continue): forget earlier headers. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		x->resp->retry_after[0] = '\0';
		x->resp->content_type[0] = '\0';
		buf_reset(&x->resp->headers);
		return len;
	}
	/* Past the cap a header is dropped, not the response. */
	(void)buf_append(&x->resp->headers, p, len);
	if (!header_value(p, len, "Retry-After", x->resp->retry_after,
	    sizeof(x->resp->retry_after)))
		header_value(p, len, "Content-Type", x->resp->content_type,
		    sizeof(x->resp->content_type));
	return len;
}

/* Adds the extra CA file to the store curl already filled with the defaults. */
static CURLcode
on_ssl_ctx(CURL *curl, void *sslctx, void *arg)
{
	(void)curl;
	X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);

	if (st == NULL || X509_STORE_load_file(st, arg) != 1)
		return CURLE_SSL_CACERT_BADFILE;
	return CURLE_OK;
}

static const char *
extra_ca(void)
{
	const char *s = getenv("CLOUDROUTE_CA_BUNDLE");

	if (s == NULL || *s == '\0')
		s = getenv("AWS_CA_BUNDLE");
	return s != NULL && *s != '\0' ? s : NULL;
}

static int
backend_is_openssl(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	return v->ssl_version != NULL && strncmp(v->ssl_version, "OpenSSL", 7) == 0;
}

static int
url_parts(const char *url, char **scheme, char **host, char **port)
{
	CURLU *u = curl_url();
	int r = 0;

	*scheme = *host = *port = NULL;
	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK) {
		r = -EINVAL;
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, port, 0) != CURLUE_OK)
		*port = NULL;
out:
	curl_url_cleanup(u);
	return r;
}

static void
url_parts_free(char *scheme, char *host, char *port)
{
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
}

int
http_is_metadata_url(const char *url)
{
	char *scheme, *host, *port;
	int r = 0;

	if (url_parts(url, &scheme, &host, &port) == 0)
		r = strcasecmp(scheme, "http") == 0 &&
		    (strcmp(host, "169.254.169.254") == 0 ||
		    strcasecmp(host, "[fd00:ec2::254]") == 0);
	url_parts_free(scheme, host, port);
	return r;
}

int
http_url_hostport(const char *url, char *out, size_t len)
{
	char *scheme, *host, *port;
	int r, n;

	if ((r = url_parts(url, &scheme, &host, &port)) < 0)
		goto out;
	if (port != NULL && !((strcasecmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
	    (strcasecmp(scheme, "http") == 0 && strcmp(port, "80") == 0)))
		n = snprintf(out, len, "%s:%s", host, port);
	else
		n = snprintf(out, len, "%s", host);
	if (n < 0 || (size_t)n >= len)
		r = -ENAMETOOLONG;
out:
	url_parts_free(scheme, host, port);
	return r;
}

/* Which schemes this request may use: "https", or "http" for metadata. */
static int
allowed_protocols(const struct http_request *rq, const char **protos)
{
	char *scheme, *host, *port;
	int r;

	if ((r = url_parts(rq->url, &scheme, &host, &port)) < 0) {
		prov_set_error("invalid URL \"%s\"", rq->url);
		goto out;
	}
	if (strcasecmp(scheme, "https") == 0) {
		*protos = "https";
	} else if (strcasecmp(scheme, "http") == 0 &&
	    (rq->allow_plain_http || http_is_metadata_url(rq->url))) {
		*protos = "http";
	} else {
		prov_set_error("refusing %s URL %s: only https (plain http only to "
		    "the link-local metadata service)", scheme, rq->url);
		r = -EPERM;
	}
out:
	url_parts_free(scheme, host, port);
	return r;
}

static int
setup_method(CURL *c, const struct http_request *rq)
{
	const char *body = rq->body != NULL ? rq->body : "";

	if (strcmp(rq->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		return 0;
	}
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		return 0;
	}
	/* POST machinery carries the body; other verbs rename the request. */
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (strcmp(rq->method, "POST") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	return 0;
}

/* Header lines may carry tokens: wipe them before freeing. */
static void
slist_free_wipe(struct curl_slist *l)
{
	struct curl_slist *t;

	for (t = l; t != NULL; t = t->next)
		explicit_bzero(t->data, strlen(t->data));
	curl_slist_free_all(l);
}

static int
build_headers(const struct http_request *rq, struct curl_slist **out)
{
	struct curl_slist *l = NULL, *t;
	struct buf line;
	size_t i;
	int r = 0;

	buf_init(&line, 16384);
	/* No "Expect: 100-continue" round trip for our small bodies. */
	if ((t = curl_slist_append(l, "Expect:")) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	l = t;
	for (i = 0; i < rq->n_headers; i++) {
		buf_reset(&line);
		if ((r = buf_printf(&line, "%s: %s", rq->headers[i].name,
		    rq->headers[i].value)) < 0)
			goto out;
		if ((t = curl_slist_append(l, line.data)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		l = t;
	}
out:
	buf_free(&line);         /* may have held a token */
	if (r < 0) {
		slist_free_wipe(l);
		l = NULL;
	}
	*out = l;
	return r;
}

static int
map_curl_error(CURLcode cc, const struct http_request *rq, const char *detail)
{
	prov_set_error("%s %s: %s%s%s", rq->method, rq->url, curl_easy_strerror(cc),
	    *detail ? ": " : "", detail);
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPERM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void
setup_common(CURL *c, const struct http_request *rq, const char *protos,
    struct xfer *x, char *errbuf)
{
	const char *ca = extra_ca();

	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cloudroute/" CLOUDROUTE_VERSION);
	if (rq->metadata)
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (rq->cert_file != NULL)
		curl_easy_setopt(c, CURLOPT_SSLCERT, rq->cert_file);
	if (rq->key_file != NULL)
		curl_easy_setopt(c, CURLOPT_SSLKEY, rq->key_file);
	if (rq->ca_file != NULL && strcmp(protos, "https") == 0) {
		/* The service's own CA: it alone is trusted for this request. */
		curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	} else if (ca != NULL && strcmp(protos, "https") == 0) {
		if (backend_is_openssl()) {
			/* Keep the system store, add the operator's CA. */
#if LIBCURL_VERSION_NUM >= 0x075700
			curl_easy_setopt(c, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
			curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
			curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)ca);
		} else {
			/* Other TLS backends: the file replaces the default store. */
			curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		}
	}
}

/* ---- cancellation and deadlines ---- */

static atomic_int cancelled;
static __thread uint64_t deadline_ms;

void
prov_cancel_set(int on)
{
	atomic_store(&cancelled, on ? 1 : 0);
}

int
prov_cancelled(void)
{
	return atomic_load(&cancelled);
}

void
prov_deadline_set(uint64_t monotonic_ms)
{
	deadline_ms = monotonic_ms;
}

uint64_t
prov_deadline(void)
{
	return deadline_ms;
}

int
prov_interrupted(void)
{
	if (atomic_load(&cancelled))
		return -ECANCELED;
	if (deadline_ms != 0 && now_ms() >= deadline_ms)
		return -ETIMEDOUT;
	return 0;
}

static int
interrupted_error(const struct http_request *rq, int r)
{
	prov_set_error("%s %s: %s", rq->method, rq->url, r == -ECANCELED ?
	    "cancelled (cloudroute is stopping)" : "the pass's deadline passed");
	return r;
}

/*
 * Runs the transfer through a multi handle so that it can be abandoned
 * within POLL_MS of a cancellation or of the deadline, whatever the server
 * does (a hung API keeps a plain curl_easy_perform for its whole timeout).
 */
#define POLL_MS 100

static int
perform(CURL *c, const struct http_request *rq, CURLcode *cc)
{
	CURLM *m;
	CURLMsg *msg;
	int running = 1, left, r = 0;

	*cc = CURLE_OK;
	if ((m = curl_multi_init()) == NULL)
		return -ENOMEM;
	if (curl_multi_add_handle(m, c) != CURLM_OK) {
		curl_multi_cleanup(m);
		return -ENOMEM;
	}
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			r = -EIO;
			break;
		}
		if (!running)
			break;
		if ((r = prov_interrupted()) < 0) {
			interrupted_error(rq, r);
			break;
		}
		if (curl_multi_poll(m, NULL, 0, POLL_MS, NULL) != CURLM_OK) {
			r = -EIO;
			break;
		}
	}
	while (r == 0 && (msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE)
			*cc = msg->data.result;
	curl_multi_remove_handle(m, c);
	curl_multi_cleanup(m);
	return r;
}

/* The request's own timeout, shortened to what the deadline leaves. */
static long
effective_timeout(const struct http_request *rq)
{
	long t = rq->timeout_ms > 0 ? rq->timeout_ms : 30000L;
	uint64_t now;

	if (deadline_ms != 0) {
		now = now_ms();
		if (deadline_ms <= now)
			return 1;
		if (deadline_ms - now < (uint64_t)t)
			t = (long)(deadline_ms - now);
	}
	return t;
}

int
http_do(const struct http_request *rq, struct http_response *resp)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct xfer x = { resp, 0 };
	const char *protos = NULL;
	CURL *c = NULL;
	CURLcode cc;
	int r;

	resp->status = 0;
	resp->retry_after[0] = resp->content_type[0] = '\0';
	buf_init(&resp->body, rq->max_response ? rq->max_response : HTTP_MAX_RESPONSE);
	buf_init(&resp->headers, 16384);
	pthread_once(&curl_once, curl_init);
	if ((r = curl_init_rc) < 0) {
		prov_set_error("libcurl initialisation failed");
		goto out;
	}
	if ((r = prov_interrupted()) < 0) {
		interrupted_error(rq, r);
		goto out;
	}
	if ((r = allowed_protocols(rq, &protos)) < 0)
		goto out;
	if ((c = curl_easy_init()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = build_headers(rq, &hdrs)) < 0)
		goto out;
	setup_common(c, rq, protos, &x, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, effective_timeout(rq));
	setup_method(c, rq);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if ((r = perform(c, rq, &cc)) < 0)
		goto out;
	if (x.overflow) {
		prov_set_error("%s %s: response larger than %zu bytes", rq->method,
		    rq->url, resp->body.max);
		r = -E2BIG;
		goto out;
	}
	if (cc != CURLE_OK) {
		r = map_curl_error(cc, rq, errbuf);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
out:
	if (rq->provider != NULL)
		mt_add("cloudroute_cloud_api_calls_total", 1, rq->provider,
		    rq->operation != NULL ? rq->operation : rq->method,
		    http_outcome(r, resp->status), NULL);
	slist_free_wipe(hdrs);       /* curl copies nothing: freed after perform */
	if (c != NULL)
		curl_easy_cleanup(c);
	return r;
}

const char *
http_outcome(int r, long status)
{
	if (r == -ETIMEDOUT)
		return "timeout";
	if (r == -ECANCELED)
		return "cancelled";
	if (r < 0 || status < 100)
		return "error";
	if (status == 429)
		return "throttled";
	return status >= 500 ? "http_5xx" : status >= 400 ? "http_4xx" : "ok";
}

const char *
http_op_name(const char *method, const char *path, unsigned int skip, char *out, size_t len)
{
	size_t o, n, seg = 0, kept = 0;
	const char *e;
	int w;

	w = snprintf(out, len, "%s", method);
	o = w < 0 ? 0 : (size_t)w >= len ? len - 1 : (size_t)w;
	for (; *path && *path != '?' && *path != '#'; path = e) {
		while (*path == '/')
			path++;
		n = strcspn(path, "/?#");
		e = path + n;
		if (n == 0)
			break;
		if (seg >= skip && (seg - skip) % 2 == 0 && o + n + 1 < len) {
			out[o++] = kept++ == 0 ? ' ' : '/';
			memcpy(out + o, path, n);
			o += n;
		}
		seg++;
	}
	out[o] = '\0';
	return out;
}

void
http_response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
}

void
http_response_free(struct http_response *resp)
{
	buf_free(&resp->body);
	buf_free(&resp->headers);
}

int
http_response_header(const struct http_response *resp, const char *name,
    char *out, size_t len)
{
	const char *p = resp->headers.data, *e;
	char tmp[8192];

	if (len == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	for (; p != NULL && *p; p = *e ? e + 1 : e) {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if (!header_value(p, (size_t)(e - p), name, tmp, sizeof(tmp)))
			continue;
		if (strlen(tmp) >= len || strlen(tmp) == sizeof(tmp) - 1) {
			explicit_bzero(tmp, sizeof(tmp));
			return -ENAMETOOLONG;
		}
		cr_strlcpy(out, tmp, len);
		explicit_bzero(tmp, sizeof(tmp));
		return 1;
	}
	return 0;
}
