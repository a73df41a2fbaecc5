/*
 * etcd client units: the watch stream parser (messages split across and
 * joined within chunks, int64 strings, PUT events without a type,
 * compaction, bounds, bad JSON), response validation (headers, error
 * bodies, base64, types), the prefix range end, and the watch transport
 * against a loopback HTTP/1.1 server sending chunked encoding whose chunks
 * cut messages anywhere, including cancellation of an idle watch.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/util.h"
#include "providers/etcd/etcd.h"
#include "providers/etcd/etcd_int.h"

/* What the callback saw. */
struct seen {
	int n;
	int64_t rev[16];
	int n_events[16];
	int type0[16];
	char key0[16][64];
	char val0[16][64];
	int64_t create0[16];
	int64_t compact[16];
	int canceled[16];
	int stop_at;          /* return 1 on this message number (1-based), 0 never */
};

static int
record(void *arg, const struct etcd_watch_msg *m)
{
	struct seen *s = arg;
	int i = s->n++;

	if (i < 16) {
		s->rev[i] = m->revision;
		s->n_events[i] = (int)m->n_events;
		s->compact[i] = m->compact_revision;
		s->canceled[i] = m->canceled;
		if (m->n_events > 0) {
			s->type0[i] = m->events[0].type;
			cr_strlcpy(s->key0[i], m->events[0].kv.key, sizeof(s->key0[i]));
			cr_strlcpy(s->val0[i], m->events[0].kv.value, sizeof(s->val0[i]));
			s->create0[i] = m->events[0].kv.create_revision;
		}
	}
	return s->stop_at == s->n ? 1 : 0;
}

/* Key "/cr/sites/a/x" = L2NyL3NpdGVzL2EveA==, value "hello" = aGVsbG8= */
#define MSG_CREATED "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\"," \
	"\"revision\":\"7\",\"raft_term\":\"2\"},\"created\":true}}\n"
#define MSG_PUT "{\"result\":{\"header\":{\"revision\":\"8\"},\"events\":[{\"kv\":" \
	"{\"key\":\"L2NyL3NpdGVzL2EveA==\",\"create_revision\":\"8\",\"mod_revision\":\"8\"," \
	"\"version\":\"1\",\"value\":\"aGVsbG8=\",\"lease\":\"7587862351232811013\"}}]}}\n"
#define MSG_DEL "{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":[{\"type\":" \
	"\"DELETE\",\"kv\":{\"key\":\"L2NyL3NpdGVzL2EveA==\",\"mod_revision\":\"9\"}}]}}\n"
#define MSG_COMPACT "{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true," \
	"\"compact_revision\":\"40\"}}\n"

static void
feed_split(const char *data, size_t step, struct seen *s, int want_rc)
{
	struct etcd_stream st;
	size_t len = strlen(data), off, n;
	int rc = 0;

	assert_int_equal(etcd_stream_init(&st, 0, record, s), 0);
	for (off = 0; off < len && rc == 0; off += n) {
		n = len - off < step ? len - off : step;
		rc = etcd_stream_feed(&st, data + off, n);
	}
	assert_int_equal(rc, want_rc);
	etcd_stream_free(&st);
}

static void
test_stream_chunking(void **state)
{
	static const char all[] = MSG_CREATED MSG_PUT MSG_DEL;
	size_t steps[] = { 1, 2, 3, 7, 64, 100, 1000, sizeof(all) };

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct seen s = { 0 };

		feed_split(all, steps[i], &s, 0);
		assert_int_equal(s.n, 3);
		assert_int_equal(s.rev[0], 7);
		assert_int_equal(s.n_events[0], 0);
		assert_int_equal(s.rev[1], 8);
		assert_int_equal(s.n_events[1], 1);
		assert_int_equal(s.type0[1], ETCD_EVENT_PUT);      /* no "type" = PUT */
		assert_string_equal(s.key0[1], "/cr/sites/a/x");
		assert_string_equal(s.val0[1], "hello");
		assert_int_equal(s.create0[1], 8);
		assert_int_equal(s.type0[2], ETCD_EVENT_DELETE);
		assert_string_equal(s.val0[2], "");
	}
}

static void
test_stream_no_delimiter(void **state)
{
	/* Messages back to back without the "\n" still split correctly. */
	static const char two[] = "{\"result\":{\"header\":{\"revision\":\"3\"}}}"
	    "{\"result\":{\"header\":{\"revision\":\"4\"}}}";
	struct seen s = { 0 };

	feed_split(two, 5, &s, 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.rev[1], 4);
}

static void
test_stream_int64(void **state)
{
	/* Max int64 as a string; a bare integer is accepted too. */
	static const char m[] = "{\"result\":{\"header\":{\"revision\":9223372036854775807},"
	    "\"events\":[{\"kv\":{\"key\":\"YQ==\",\"create_revision\":\"9223372036854775807\"}}]}}";
	static const char bad[] = "{\"result\":{\"header\":{\"revision\":\"12x\"}}}";
	static const char huge[] = "{\"result\":{\"header\":{\"revision\":\"99999999999999999999\"}}}";
	static const char neg[] = "{\"result\":{\"header\":{\"revision\":\"-3\"}}}";
	struct seen s = { 0 };

	feed_split(m, 4, &s, 0);
	assert_int_equal(s.n, 1);
	assert_true(s.rev[0] == INT64_MAX);
	assert_true(s.create0[0] == INT64_MAX);
	feed_split(bad, 100, &s, -EPROTO);
	feed_split(huge, 100, &s, -EPROTO);
	feed_split(neg, 100, &s, -EPROTO);
	assert_int_equal(s.n, 1);
}

static void
test_stream_compaction(void **state)
{
	struct seen s = { 0 };

	feed_split(MSG_CREATED MSG_COMPACT, 10, &s, 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.canceled[1], 1);
	assert_int_equal(s.compact[1], 40);
}

static void
test_stream_errors(void **state)
{
	static const struct {
		const char *data;
		int rc;
	} t[] = {
		{ "} ", -EPROTO },                                          /* stray brace */
		{ "[1,2]", -EPROTO },                                       /* not an object */
		{ "{\"nothing\":1}", -EPROTO },                             /* no result */
		{ "{\"result\":{\"events\":[{\"kv\":{\"key\":\"!!!!\"}}]}}", -EPROTO },
		{ "{\"result\":{\"events\":[{\"type\":\"BOGUS\",\"kv\":{\"key\":\"YQ==\"}}]}}", -EPROTO },
		{ "{\"result\":{\"events\":[{\"type\":\"PUT\"}]}}", -EPROTO }, /* no kv */
		{ "{\"result\":{\"events\":[{\"kv\":{\"value\":\"YQ==\"}}]}}", -EPROTO }, /* no key */
		{ "{\"result\":{\"events\":{}}}", -EPROTO },
		{ "{\"result\":{\"created\":\"yes\"}}", -EPROTO },
		{ "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"no leader\"}}", -EAGAIN },
		{ "{\"error\":{\"grpc_code\":11,\"message\":\"compacted\"}}", -ERANGE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct seen s = { 0 };

		feed_split(t[i].data, 3, &s, t[i].rc);
		assert_int_equal(s.n, 0);
	}
}

static void
test_stream_bound_and_stop(void **state)
{
	struct etcd_stream st;
	struct seen s = { 0 };
	char big[300];

	/* A message longer than the bound fails, whatever the chunking. */
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"result\":{\"cancel_reason\":\"", 28);
	memset(big + 28, 'x', 250);
	assert_int_equal(etcd_stream_init(&st, 200, record, &s), 0);
	assert_int_equal(etcd_stream_feed(&st, big, 150), 0);
	assert_int_equal(etcd_stream_feed(&st, big + 150, 150), -E2BIG);
	assert_int_equal(etcd_stream_feed(&st, MSG_CREATED, strlen(MSG_CREATED)), -E2BIG);
	etcd_stream_free(&st);
	assert_int_equal(s.n, 0);

	/* The callback stops the stream: later messages in the same chunk are not delivered. */
	s.stop_at = 1;
	feed_split(MSG_CREATED MSG_PUT, 4096, &s, 1);
	assert_int_equal(s.n, 1);
}

static void
test_response_decode(void **state)
{
	static const struct {
		long status;
		const char *body;
		int rc;
		int64_t rev;
	} t[] = {
		{ 200, "{\"header\":{\"revision\":\"5\"},\"count\":\"1\"}", 0, 5 },
		{ 200, "{\"header\":{\"revision\":\"5\"}}\n", 0, 5 },
		{ 200, "{\"header\":{\"revision\":\"5\"}} x", -EPROTO, 0 },
		{ 200, "{\"header\":{}}", -EPROTO, 0 },
		{ 200, "{\"count\":\"1\"}", -EPROTO, 0 },
		{ 200, "{\"header\":\"x\"}", -EPROTO, 0 },
		{ 200, "not json", -EPROTO, 0 },
		{ 200, "[]", -EPROTO, 0 },
		{ 404, "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
		    "\"etcdserver: requested lease not found\",\"code\":5}", -ENOENT, 0 },
		{ 400, "{\"error\":\"bad\",\"code\":3}", -EINVAL, 0 },
		{ 503, "{\"error\":\"etcdserver: no leader\",\"code\":14}", -EAGAIN, 0 },
		{ 503, "<html>", -EAGAIN, 0 },
		{ 500, "", -EIO, 0 },
		{ 403, "nope", -EPROTO, 0 },
	};
	struct json_object *o;
	int64_t rev;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		rev = 0;
		assert_int_equal(etcd_response_decode(t[i].status, t[i].body, strlen(t[i].body),
		    &o, &rev), t[i].rc);
		if (t[i].rc == 0) {
			assert_non_null(o);
			assert_int_equal(rev, t[i].rev);
		} else {
			assert_null(o);
		}
		json_object_put(o);
	}
	/* Keep-alive: a stream answer. */
	static const char ka[] = "{\"result\":{\"header\":{\"revision\":\"2\"},\"ID\":\"12345\"}}\n";
	assert_int_equal(etcd_stream_response_decode(200, ka, strlen(ka), &o, &rev), 0);
	json_object_put(o);
	assert_int_equal(etcd_stream_response_decode(200, "{\"header\":{\"revision\":\"2\"}}",
	    27, &o, &rev), -EPROTO);
}

static void
test_kv_and_base64(void **state)
{
	struct json_object *o;
	struct etcd_kv kv;
	char *d;
	size_t n;

	assert_int_equal(etcd_b64_decode("", 0, &d, &n), 0);
	assert_int_equal(n, 0);
	free(d);
	assert_int_equal(etcd_b64_decode("Zm9vYg==", 8, &d, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "foob", 4);
	free(d);
	assert_int_equal(etcd_b64_decode("Zm9vYg=", 7, &d, &n), -EINVAL);
	assert_int_equal(etcd_b64_decode("Zm9v=g==", 8, &d, &n), -EINVAL);
	assert_int_equal(etcd_b64_decode("Zm 9", 4, &d, &n), -EINVAL);

	o = json_tokener_parse("{\"key\":\"YQ==\",\"value\":\"AP8=\",\"lease\":\"42\"}");
	assert_int_equal(etcd_kv_decode(o, &kv), 0);
	assert_int_equal(kv.value_len, 2);
	assert_int_equal((unsigned char)kv.value[1], 0xff);
	assert_int_equal(kv.lease, 42);
	assert_int_equal(kv.version, 0);              /* omitted default */
	etcd_kv_free(&kv);
	json_object_put(o);
	o = json_tokener_parse("{\"key\":\"YQ==\",\"version\":true}");
	assert_int_equal(etcd_kv_decode(o, &kv), -EPROTO);
	json_object_put(o);
}

static void
test_prefix_end(void **state)
{
	size_t n;
	char *e;

	e = etcd_prefix_end("/cr/", 4, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(e, "/cr0", 4);
	free(e);
	e = etcd_prefix_end("a\xff", 2, &n);
	assert_int_equal(n, 1);
	assert_memory_equal(e, "b", 1);
	free(e);
	e = etcd_prefix_end("\xff\xff", 2, &n);
	assert_int_equal(n, 1);
	assert_int_equal(e[0], 0);
	free(e);
}

/* ---- the watch transport against a loopback server ---- */

struct server {
	int lfd;
	uint16_t port;
	const char *const *chunks;        /* HTTP chunks to send, then stay open */
	size_t n_chunks;
	int close_after;                  /* end the response after the chunks */
	pthread_t th;
	char request[4096];
};

static void *
serve(void *arg)
{
	struct server *sv = arg;
	char hdr[32], tmp[4096];
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = accept(sv->lfd, NULL, NULL)) < 0)
		return NULL;
	while (got < sizeof(sv->request) - 1 &&
	    (n = read(fd, sv->request + got, sizeof(sv->request) - 1 - got)) > 0) {
		got += (size_t)n;
		sv->request[got] = '\0';
		if (strstr(sv->request, "\r\n\r\n") != NULL && strchr(sv->request, '}') != NULL)
			break;
	}
	const char *h = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	if (write(fd, h, strlen(h)) < 0)
		goto out;
	for (size_t i = 0; i < sv->n_chunks; i++) {
		size_t len = strlen(sv->chunks[i]);

		snprintf(hdr, sizeof(hdr), "%zx\r\n", len);
		if (write(fd, hdr, strlen(hdr)) < 0 || write(fd, sv->chunks[i], len) < 0 ||
		    write(fd, "\r\n", 2) < 0)
			goto out;
		usleep(20000);
	}
	if (sv->close_after) {
		if (write(fd, "0\r\n\r\n", 5) < 0)
			goto out;
	} else {
		/* Idle, as a quiet watch is, until the client goes away. */
		while (read(fd, tmp, sizeof(tmp)) > 0)
			;
	}
out:
	close(fd);
	return NULL;
}

static void
server_start(struct server *sv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv->lfd >= 0);
	assert_int_equal(bind(sv->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sv->lfd, 4), 0);
	assert_int_equal(getsockname(sv->lfd, (struct sockaddr *)&a, &al), 0);
	sv->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&sv->th, NULL, serve, sv), 0);
}

static struct etcd_client *
client_for(struct server *sv)
{
	char url[64];
	const char *eps[1] = { url };
	struct etcd_config cfg = { .endpoints = eps, .n_endpoints = 1 };
	struct etcd_client *c;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", sv->port);
	assert_int_equal(etcd_open(&cfg, &c), 0);
	return c;
}

struct canceller {
	struct etcd_client *c;
	volatile int *flag;
};

static void *
cancel_later(void *arg)
{
	struct canceller *k = arg;

	usleep(300000);
	if (k->flag != NULL)
		__atomic_store_n(k->flag, 1, __ATOMIC_RELEASE);
	else
		etcd_watch_cancel(k->c);
	return NULL;
}

static void
watch_and_cancel(int use_flag)
{
	/* Chunks cut inside messages and join the end of one with the next. */
	static const char *const chunks[] = {
		"{\"result\":{\"header\":{\"revi", "sion\":\"7\"},\"created\":true}}\n{\"res",
		"ult\":{\"header\":{\"revision\":\"8\"},\"events\":[{\"kv\":{\"key\":\"YQ==\"}}]}}\n"
		"{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":[{\"type\":\"DELETE\","
		"\"kv\":{\"key\":\"YQ==\"}}]}}\n",
	};
	struct server sv = { .chunks = chunks, .n_chunks = ARRAY_SIZE(chunks) };
	struct etcd_watch_req rq = { .key = "a", .key_len = 1, .start_revision = 8 };
	volatile int flag = 0;
	struct canceller k;
	struct seen s = { 0 };
	struct etcd_client *c;
	pthread_t th;
	uint64_t t0;

	server_start(&sv);
	c = client_for(&sv);
	k.c = c;
	k.flag = use_flag ? &flag : NULL;
	t0 = now_ms();
	assert_int_equal(pthread_create(&th, NULL, cancel_later, &k), 0);
	assert_int_equal(etcd_watch(c, &rq, record, &s, &flag), -ECANCELED);
	assert_true(now_ms() - t0 < 1500);
	pthread_join(th, NULL);
	pthread_join(sv.th, NULL);
	close(sv.lfd);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.rev[2], 9);
	assert_int_equal(s.type0[2], ETCD_EVENT_DELETE);
	/* The request: POST /v3/watch with the key in base64 and the revision as a string. */
	assert_non_null(strstr(sv.request, "POST /v3/watch HTTP/1.1"));
	assert_non_null(strstr(sv.request, "\"create_request\":{\"key\":\"YQ==\""));
	assert_non_null(strstr(sv.request, "\"start_revision\":\"8\""));
	etcd_close(c);
}

static void
test_watch_cancel_flag(void **state)
{
	watch_and_cancel(1);
}

static void
test_watch_cancel_call(void **state)
{
	watch_and_cancel(0);
}

static void
test_watch_compacted_and_ended(void **state)
{
	static const char *const compacted[] = { MSG_CREATED, MSG_COMPACT };
	static const char *const ended[] = { MSG_CREATED };
	struct server sv = { .chunks = compacted, .n_chunks = 2 };
	struct etcd_watch_req rq = { .key = "a", .key_len = 1 };
	struct seen s = { 0 };
	struct etcd_client *c;

	server_start(&sv);
	c = client_for(&sv);
	assert_int_equal(etcd_watch(c, &rq, record, &s, NULL), -ERANGE);
	assert_int_equal(s.compact[1], 40);
	etcd_close(c);
	pthread_join(sv.th, NULL);
	close(sv.lfd);

	memset(&sv, 0, sizeof(sv));
	sv.chunks = ended;
	sv.n_chunks = 1;
	sv.close_after = 1;
	server_start(&sv);
	c = client_for(&sv);
	assert_int_equal(etcd_watch(c, &rq, record, &s, NULL), -EPIPE);
	etcd_close(c);
	pthread_join(sv.th, NULL);
	close(sv.lfd);
}

static void
test_open_rejects(void **state)
{
	static const char *const bad[] = { "ftp://x:1", "http://x:2379/v3", "x:2379", "" };
	struct etcd_client *c;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *eps[1] = { bad[i] };
		struct etcd_config cfg = { .endpoints = eps, .n_endpoints = 1 };

		assert_int_equal(etcd_open(&cfg, &c), -EINVAL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_chunking),
		cmocka_unit_test(test_stream_no_delimiter),
		cmocka_unit_test(test_stream_int64),
		cmocka_unit_test(test_stream_compaction),
		cmocka_unit_test(test_stream_errors),
		cmocka_unit_test(test_stream_bound_and_stop),
		cmocka_unit_test(test_response_decode),
		cmocka_unit_test(test_kv_and_base64),
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_watch_cancel_flag),
		cmocka_unit_test(test_watch_cancel_call),
		cmocka_unit_test(test_watch_compacted_and_ended),
		cmocka_unit_test(test_open_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
