/* Metrics: the registry (labels, escaping, types, bounds) and the
 * libmicrohttpd endpoint on loopback: GET /metrics, 404, 405, and the
 * scrape accepted by `promtool check metrics` (Debian's prometheus). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "agent/metrics.h"
#include "common/metrics.h"
#include "providers/http.h"

static size_t
sink(char *p, size_t sz, size_t n, void *ctx)
{
	return buf_append(ctx, p, sz * n) == 0 ? sz * n : 0;
}

/* HTTP status of method url on the endpoint; body into b. */
static long
fetch(const char *method, const char *path, struct buf *b)
{
	char url[128];
	long code = 0;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", metrics_port(), path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

static void
test_registry(void **state)
{
	struct buf b;

	(void)state;
	mt_clear_all();
	mt_add("cloudroute_cloud_api_calls_total", 1, "aws", "DescribeRouteTables", "ok", NULL);
	mt_add("cloudroute_cloud_api_calls_total", 2, "aws", "DescribeRouteTables", "ok", NULL);
	assert_true(mt_get("cloudroute_cloud_api_calls_total", "aws", "DescribeRouteTables",
	    "ok", NULL) == 3);
	/* Wrong label count, unknown name, negative counter step, observe on a
	 * counter: all ignored. */
	mt_add("cloudroute_cloud_api_calls_total", 1, "aws", NULL);
	mt_add("cloudroute_cloud_api_calls_total", -1, "aws", "DescribeRouteTables", "ok", NULL);
	mt_add("cloudroute_nonsense_total", 1, NULL);
	mt_observe("cloudroute_cloud_api_calls_total", 1, "aws", "x", "ok", NULL);
	assert_true(mt_get("cloudroute_cloud_api_calls_total", "aws", "DescribeRouteTables",
	    "ok", NULL) == 3);
	mt_set("cloudroute_peer_receive_bytes_total", 1234, "a \"quoted\"\\peer\n", NULL);
	mt_observe("cloudroute_reconcile_duration_seconds", 0.07, "cloud", NULL);
	mt_observe("cloudroute_reconcile_duration_seconds", 3, "cloud", NULL);
	buf_init(&b, 1 << 20);
	assert_int_equal(mt_render(&b), 0);
	assert_non_null(strstr(b.data, "# TYPE cloudroute_cloud_api_calls_total counter\n"
	    "cloudroute_cloud_api_calls_total{provider=\"aws\",operation=\"DescribeRouteTables\","
	    "outcome=\"ok\"} 3\n"));
	assert_non_null(strstr(b.data, "peer=\"a \\\"quoted\\\"\\\\peer\\n\"} 1234\n"));
	assert_non_null(strstr(b.data, "cloudroute_reconcile_duration_seconds_bucket{scope=\"cloud\","
	    "le=\"0.05\"} 0\ncloudroute_reconcile_duration_seconds_bucket{scope=\"cloud\",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(b.data, "le=\"+Inf\"} 2\ncloudroute_reconcile_duration_seconds_sum"
	    "{scope=\"cloud\"} 3.07\ncloudroute_reconcile_duration_seconds_count"
	    "{scope=\"cloud\"} 2\n"));
	assert_null(strstr(b.data, "cloudroute_fleet_leader"));   /* no series, no family */
	buf_free(&b);
	mt_reset("cloudroute_peer_receive_bytes_total");
	assert_true(mt_get("cloudroute_peer_receive_bytes_total", "a \"quoted\"\\peer\n", NULL) == 0);
}

static void
test_bounded(void **state)
{
	char name[32];
	struct buf b;
	int i;

	(void)state;
	mt_clear_all();
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "peer%d", i);
		mt_set("cloudroute_peer_last_handshake_timestamp_seconds", i, name, NULL);
	}
	assert_true(mt_get("cloudroute_peer_last_handshake_timestamp_seconds", "peer2047", NULL) == 2047);
	assert_true(mt_get("cloudroute_peer_last_handshake_timestamp_seconds", "peer2048", NULL) == 0);
	buf_init(&b, 4 << 20);
	assert_int_equal(mt_render(&b), 0);
	buf_free(&b);
	mt_clear_all();
}

static int collected;

static void
collect(void *ctx)
{
	(void)ctx;
	collected++;
	mt_set("cloudroute_peer_transmit_bytes_total", 42.0 * collected, "hub", NULL);
}

static void
fill(void)
{
	mt_clear_all();
	mt_set("cloudroute_build_info", 1, "0.1.0", NULL);
	mt_add("cloudroute_reconcile_passes_total", 5, "host", NULL);
	mt_add("cloudroute_reconcile_failures_total", 1, "cloud", NULL);
	mt_observe("cloudroute_reconcile_duration_seconds", 0.2, "host", NULL);
	mt_set("cloudroute_reconcile_last_success_timestamp_seconds", 1764620000, NULL);
	mt_add("cloudroute_changes_applied_total", 3, "host", NULL);
	mt_add("cloudroute_drift_repairs_total", 1, "host", NULL);
	mt_add("cloudroute_cloud_api_calls_total", 4, "aws", "CreateRoute", "throttled", NULL);
	mt_set("cloudroute_routes_owned", 2, "cloud", NULL);
	mt_set("cloudroute_route_conflicts", 0, "cloud", NULL);
	mt_set("cloudroute_peer_receive_bytes_total", 1e12, "hub", NULL);
	mt_set("cloudroute_peer_last_handshake_timestamp_seconds", 1764620000, "hub", NULL);
	mt_add("cloudroute_packets_dropped_total", 7, "no_allowed_ip", NULL);
	mt_set("cloudroute_firewall_accept_rules", 4, "Docker", "ip filter DOCKER-USER", NULL);
	mt_set("cloudroute_fleet_leader", 1, "hq", NULL);
	mt_set("cloudroute_fleet_peers", 3, NULL);
}

static void
test_endpoint(void **state)
{
	struct buf b, err;
	char path[] = "/tmp/cr-metrics-XXXXXX", cmd[256];
	FILE *f;
	int fd, rc;

	(void)state;
	fill();
	buf_init(&err, 4096);
	assert_int_equal(metrics_start("127.0.0.1:0", collect, NULL, &err), 0);
	assert_int_equal(metrics_start("127.0.0.1:0", collect, NULL, &err), -EALREADY);
	assert_true(metrics_port() > 0);
	buf_init(&b, 1 << 20);
	assert_int_equal(fetch("GET", "/metrics", &b), 200);
	assert_int_equal(collected, 1);
	assert_non_null(strstr(b.data, "cloudroute_peer_transmit_bytes_total{peer=\"hub\"} 42\n"));
	assert_non_null(strstr(b.data, "cloudroute_build_info{version=\"0.1.0\"} 1\n"));
	/* The scrape passes promtool's checks (names, types, format). */
	if (access("/usr/bin/promtool", X_OK) == 0) {
		assert_true((fd = mkstemp(path)) >= 0);
		assert_true(write(fd, b.data, b.len) == (ssize_t)b.len);
		close(fd);
		snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
		assert_non_null(f = popen(cmd, "r"));
		while (fgets(cmd, sizeof(cmd), f))
			print_message("promtool: %s", cmd);
		rc = pclose(f);
		unlink(path);
		assert_int_equal(rc, 0);
	} else {
		print_message("promtool not installed: format not checked\n");
	}
	buf_reset(&b);
	assert_int_equal(fetch("GET", "/", &b), 404);
	buf_reset(&b);
	assert_int_equal(fetch("POST", "/metrics", &b), 405);
	buf_free(&b);
	metrics_stop();
	assert_int_equal(metrics_port(), 0);
	buf_init(&b, 4096);
	assert_int_equal(fetch("GET", "/metrics", &b), 0);   /* nobody listens */
	buf_free(&b);
	/* A bad listen address is an error with a reason. */
	buf_reset(&err);
	assert_int_equal(metrics_start("localhost:9586", NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.data, "not address:port"));
	buf_free(&err);
	mt_clear_all();
}

/* Labels of cloud API calls: operations never carry ids; outcomes. */
static void
test_api_labels(void **unused)
{
	char op[128];

	(void)unused;
	assert_string_equal(http_op_name("PUT", "/routeTables/rt-1/routes/cloudroute-x?api=1", 0,
	    op, sizeof(op)), "PUT routeTables/routes");
	assert_string_equal(http_op_name("GET", "/20160918/vnics/ocid1.vnic.oc1..aaa", 1, op,
	    sizeof(op)), "GET vnics");
	assert_string_equal(http_op_name("PUT", "/routers/r-1/add_extraroutes", 0, op,
	    sizeof(op)), "PUT routers/add_extraroutes");
	assert_string_equal(http_op_name("GET", "", 0, op, sizeof(op)), "GET");
	assert_string_equal(http_op_name("GET", "/a/1/b/2/c", 0, op, 8), "GET a/b");
	assert_string_equal(http_outcome(0, 200), "ok");
	assert_string_equal(http_outcome(0, 429), "throttled");
	assert_string_equal(http_outcome(0, 404), "http_4xx");
	assert_string_equal(http_outcome(0, 503), "http_5xx");
	assert_string_equal(http_outcome(-ETIMEDOUT, 0), "timeout");
	assert_string_equal(http_outcome(-ECANCELED, 0), "cancelled");
	assert_string_equal(http_outcome(-EIO, 0), "error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_api_labels),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
