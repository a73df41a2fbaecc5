/*
 * Retry and HTTP client units: full-jitter backoff with an injected random
 * source, Retry-After parsing (seconds and the three HTTP date forms),
 * failure classification, and the HTTP client's scheme/host rules (checked
 * before any connection is made).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "providers/http.h"
#include "providers/provider.h"
#include "providers/retry.h"

static uint32_t
fixed_rand(void *arg)
{
	return *(uint32_t *)arg;
}

static void
test_backoff(void **state)
{
	static const struct {
		uint32_t rnd;
		enum retry_class cls;
		unsigned int attempt, want;
	} t[] = {
		{ 0, RETRY_SERVER, 0, 0 },
		{ UINT32_MAX, RETRY_SERVER, 0, 100 },       /* ceiling = base */
		{ UINT32_MAX, RETRY_SERVER, 1, 200 },
		{ UINT32_MAX, RETRY_SERVER, 3, 800 },
		{ 0x80000000u, RETRY_SERVER, 3, 400 },      /* half of [0, 800] */
		{ UINT32_MAX, RETRY_SERVER, 10, 20000 },    /* capped */
		{ UINT32_MAX, RETRY_SERVER, 1000, 20000 },  /* no overflow */
		{ UINT32_MAX, RETRY_THROTTLE, 0, 400 },     /* 4x base when throttled */
		{ UINT32_MAX, RETRY_THROTTLE, 2, 1600 },
		{ 0, RETRY_THROTTLE, 5, 0 },
	};
	struct retry_policy p;
	uint32_t rnd;

	unsetenv("CLOUDROUTE_RETRY_BASE_MS");
	retry_policy_init(&p);
	p.rand32 = fixed_rand;
	p.rand_arg = &rnd;
	assert_int_equal(p.base_ms, 100);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		rnd = t[i].rnd;
		assert_int_equal(retry_backoff_ms(&p, t[i].cls, t[i].attempt), t[i].want);
	}
	/* The real random source stays within the ceiling. */
	p.rand32 = NULL;
	for (int i = 0; i < 200; i++)
		assert_true(retry_backoff_ms(&p, RETRY_SERVER, 2) <= 400);
}

static void
test_base_env(void **state)
{
	struct retry_policy p;

	setenv("CLOUDROUTE_RETRY_BASE_MS", "7", 1);
	retry_policy_init(&p);
	assert_int_equal(p.base_ms, 7);
	setenv("CLOUDROUTE_RETRY_BASE_MS", "fast", 1);
	retry_policy_init(&p);
	assert_int_equal(p.base_ms, 100);
	unsetenv("CLOUDROUTE_RETRY_BASE_MS");
}

static void
test_retry_after(void **state)
{
	/* 1445412480 is 2015-10-21 07:28:00 UTC. */
	static const struct {
		const char *s;
		time_t now;
		int rc;
		uint64_t ms;
	} t[] = {
		{ "120", 0, 0, 120000 },
		{ "0", 0, 0, 0 },
		{ "  5", 0, 0, 5000 },
		{ "Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30, 0, 30000 },
		{ "Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30, 0, 0 },   /* past */
		{ "Wednesday, 21-Oct-15 07:28:00 GMT", 1445412480 - 2, 0, 2000 },
		{ "Wed Oct 21 07:28:00 2015", 1445412480 - 1, 0, 1000 },
		{ "soon", 0, -EINVAL, 0 },
		{ "-5", 0, -EINVAL, 0 },
		{ "1.5", 0, -EINVAL, 0 },
		{ "Wed, 21 Oct 2015 07:28:00 GMT trailing", 0, -EINVAL, 0 },
		{ "", 0, -EINVAL, 0 },
	};
	uint64_t ms;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		ms = 12345;
		assert_int_equal(retry_after_parse(t[i].s, t[i].now, &ms), t[i].rc);
		if (t[i].rc == 0 && ms != t[i].ms)
			fail_msg("\"%s\": %llu ms, want %llu", t[i].s, (unsigned long long)ms,
			    (unsigned long long)t[i].ms);
	}
}

static void
test_delay(void **state)
{
	struct retry_policy p;
	uint32_t rnd = UINT32_MAX;
	uint64_t ms;

	unsetenv("CLOUDROUTE_RETRY_BASE_MS");
	retry_policy_init(&p);
	p.rand32 = fixed_rand;
	p.rand_arg = &rnd;
	assert_int_equal(retry_delay_ms(&p, RETRY_SERVER, 0, NULL, 0, &ms), 0);
	assert_int_equal(ms, 100);
	assert_int_equal(retry_delay_ms(&p, RETRY_THROTTLE, 0, "3", 0, &ms), 0);
	assert_int_equal(ms, 3000);                 /* server asked for longer */
	assert_int_equal(retry_delay_ms(&p, RETRY_SERVER, 3, "0", 0, &ms), 0);
	assert_int_equal(ms, 800);                  /* backoff longer than Retry-After */
	assert_int_equal(retry_delay_ms(&p, RETRY_SERVER, 0, "junk", 0, &ms), 0);
	assert_int_equal(ms, 100);                  /* unparsable: ignored */
	assert_int_equal(retry_delay_ms(&p, RETRY_SERVER, 0, "3600", 0, &ms), -ETIME);
}

static void
test_classify(void **state)
{
	static const struct {
		long status;
		const char *code;
		enum retry_class want;
	} t[] = {
		{ 429, NULL, RETRY_THROTTLE },
		{ 503, NULL, RETRY_THROTTLE },
		{ 503, "Unavailable", RETRY_SERVER },
		{ 500, NULL, RETRY_SERVER },
		{ 502, NULL, RETRY_SERVER },
		{ 500, "InternalError", RETRY_SERVER },
		{ 400, "RequestLimitExceeded", RETRY_THROTTLE },
		{ 400, "Throttling", RETRY_THROTTLE },
		{ 403, "UnauthorizedOperation", RETRY_FATAL },
		{ 401, "AuthFailure", RETRY_FATAL },
		{ 400, "InvalidRoute.NotFound", RETRY_FATAL },
		{ 400, "RouteAlreadyExists", RETRY_FATAL },
		{ 404, NULL, RETRY_FATAL },
		{ 400, "", RETRY_FATAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		assert_int_equal(retry_classify(t[i].status, t[i].code), t[i].want);
}

static void
test_http_rules(void **state)
{
	static const struct {
		const char *url;
		int metadata;
		const char *hostport;
	} t[] = {
		{ "http://169.254.169.254/latest/api/token", 1, "169.254.169.254" },
		{ "http://[fd00:ec2::254]/latest/", 1, "[fd00:ec2::254]" },
		{ "https://169.254.169.254/", 0, "169.254.169.254" },
		{ "http://169.254.169.253/", 0, "169.254.169.253" },
		{ "https://ec2.us-east-1.amazonaws.com", 0, "ec2.us-east-1.amazonaws.com" },
		{ "https://ec2.us-east-1.amazonaws.com:443/", 0, "ec2.us-east-1.amazonaws.com" },
		{ "https://127.0.0.1:8443/", 0, "127.0.0.1:8443" },
		{ "http://127.0.0.1:80/", 0, "127.0.0.1" },
		{ "https://[::1]:9443", 0, "[::1]:9443" },
	};
	struct http_response resp;
	struct http_request rq;
	char hp[300];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(http_is_metadata_url(t[i].url), t[i].metadata);
		assert_int_equal(http_url_hostport(t[i].url, hp, sizeof(hp)), 0);
		assert_string_equal(hp, t[i].hostport);
	}
	/* Refused before any connection: plain http elsewhere, other schemes. */
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = "http://127.0.0.1:1/";
	assert_int_equal(http_do(&rq, &resp), -EPERM);
	assert_non_null(strstr(prov_last_error(), "only https"));
	http_response_free(&resp);
	rq.url = "ftp://127.0.0.1/x";
	assert_int_equal(http_do(&rq, &resp), -EPERM);
	http_response_free(&resp);
	rq.url = "not a url";
	assert_int_equal(http_do(&rq, &resp), -EINVAL);
	http_response_free(&resp);
	/* An explicit metadata override may use plain http: the connection is
	 * attempted (and refused: nothing listens on port 1). */
	rq.url = "http://127.0.0.1:1/";
	rq.allow_plain_http = 1;
	rq.metadata = 1;
	rq.connect_timeout_ms = rq.timeout_ms = 2000;
	assert_int_equal(http_do(&rq, &resp), -ECONNREFUSED);
	http_response_free(&resp);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_base_env),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_http_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
