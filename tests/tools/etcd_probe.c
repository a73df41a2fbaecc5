/*
 * A command-line driver of the etcd client (providers/etcd), for the
 * integration test against a real etcd:
 *   etcd_probe ENDPOINTS put KEY VALUE [LEASE]
 *   etcd_probe ENDPOINTS get KEY | prefix PREFIX      (key=value per line)
 *   etcd_probe ENDPOINTS del KEY
 *   etcd_probe ENDPOINTS grant TTL | keepalive ID | revoke ID
 *   etcd_probe ENDPOINTS elect KEY VALUE LEASE        (won | held by VALUE)
 *   etcd_probe ENDPOINTS watch PREFIX REV N           (N events, then exit)
 * ENDPOINTS is a comma-separated list.  Exit 0, or 1 with the error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "providers/etcd/etcd.h"
#include "providers/provider.h"

static int64_t
num(const char *s)
{
	return strtoll(s, NULL, 10);
}

static void
print_kvs(const struct etcd_kvs *r)
{
	for (size_t i = 0; i < r->n; i++)
		printf("%s=%s lease=%" PRId64 " create=%" PRId64 "\n", r->kvs[i].key,
		    r->kvs[i].value, r->kvs[i].lease, r->kvs[i].create_revision);
	printf("revision=%" PRId64 "\n", r->revision);
}

struct wstate {
	long want, got;
};

static int
on_watch(void *arg, const struct etcd_watch_msg *m)
{
	struct wstate *w = arg;

	for (size_t i = 0; i < m->n_events; i++) {
		printf("%s %s=%s rev=%" PRId64 "\n",
		    m->events[i].type == ETCD_EVENT_DELETE ? "DELETE" : "PUT",
		    m->events[i].kv.key, m->events[i].kv.value, m->events[i].kv.mod_revision);
		fflush(stdout);
		if (++w->got >= w->want)
			return 1;
	}
	if (m->created) {
		printf("created rev=%" PRId64 "\n", m->revision);
		fflush(stdout);
	}
	return 0;
}

static int
run(struct etcd_client *c, int argc, char **argv)
{
	const char *cmd = argv[2];
	struct etcd_kvs r;
	int64_t a, b;
	char *end;
	size_t n;
	int rc = -EINVAL, won;

	if (strcmp(cmd, "put") == 0 && argc >= 5)
		return etcd_put(c, argv[3], strlen(argv[3]), argv[4], strlen(argv[4]),
		    argc > 5 ? num(argv[5]) : 0, NULL);
	if ((strcmp(cmd, "get") == 0 || strcmp(cmd, "prefix") == 0) && argc >= 4) {
		end = strcmp(cmd, "prefix") == 0 ? etcd_prefix_end(argv[3], strlen(argv[3]), &n) : NULL;
		if ((rc = etcd_range(c, argv[3], strlen(argv[3]), end, end ? n : 0, &r)) == 0)
			print_kvs(&r);
		etcd_kvs_free(&r);
		free(end);
		return rc;
	}
	if (strcmp(cmd, "del") == 0 && argc >= 4) {
		if ((rc = etcd_delete(c, argv[3], strlen(argv[3]), NULL, 0, &a)) == 0)
			printf("deleted=%" PRId64 "\n", a);
		return rc;
	}
	if (strcmp(cmd, "grant") == 0 && argc >= 4) {
		if ((rc = etcd_lease_grant(c, num(argv[3]), &a, &b)) == 0)
			printf("%" PRId64 " %" PRId64 "\n", a, b);
		return rc;
	}
	if (strcmp(cmd, "keepalive") == 0 && argc >= 4) {
		if ((rc = etcd_lease_keepalive(c, num(argv[3]), &a)) == 0)
			printf("ttl=%" PRId64 "\n", a);
		return rc;
	}
	if (strcmp(cmd, "revoke") == 0 && argc >= 4)
		return etcd_lease_revoke(c, num(argv[3]));
	if (strcmp(cmd, "elect") == 0 && argc >= 6) {
		struct etcd_kv h;

		rc = etcd_create_if_absent(c, argv[3], strlen(argv[3]), argv[4],
		    strlen(argv[4]), num(argv[5]), &won, &h);
		if (rc == 0 && won)
			printf("won\n");
		else if (rc == 0)
			printf("held by %s\n", h.value ? h.value : "(nobody)");
		etcd_kv_free(&h);
		return rc;
	}
	if (strcmp(cmd, "watch") == 0 && argc >= 6) {
		struct etcd_watch_req rq = { .key = argv[3], .key_len = strlen(argv[3]),
		    .start_revision = num(argv[4]) };
		struct wstate w = { .want = (long)num(argv[5]) };

		rq.range_end = etcd_prefix_end(argv[3], rq.key_len, &rq.end_len);
		rc = etcd_watch(c, &rq, on_watch, &w, NULL);
		free((char *)rq.range_end);
		return rc == 1 ? 0 : rc;
	}
	fprintf(stderr, "usage: etcd_probe ENDPOINTS put|get|prefix|del|grant|keepalive|"
	    "revoke|elect|watch ...\n");
	return rc;
}

int
main(int argc, char **argv)
{
	const char *eps[ETCD_MAX_ENDPOINTS];
	struct etcd_config cfg = { .endpoints = eps };
	struct etcd_client *c;
	char *list, *s, *save = NULL;
	int rc;

	if (argc < 3)
		{
		fprintf(stderr, "usage: etcd_probe ENDPOINTS COMMAND ...\n");
		return 64;
	}
	list = strdup(argv[1]);
	for (s = strtok_r(list, ",", &save); s != NULL && cfg.n_endpoints < ETCD_MAX_ENDPOINTS;
	    s = strtok_r(NULL, ",", &save))
		eps[cfg.n_endpoints++] = s;
	if (getenv("ETCD_PROBE_CA") != NULL) {
		cfg.ca_file = getenv("ETCD_PROBE_CA");
		cfg.cert_file = getenv("ETCD_PROBE_CERT");
		cfg.key_file = getenv("ETCD_PROBE_KEY");
	}
	if ((rc = etcd_open(&cfg, &c)) == 0) {
		rc = run(c, argc, argv);
		if (rc == 0)
			fprintf(stderr, "endpoint %s\n", etcd_endpoint(c));
		etcd_close(c);
	}
	if (rc < 0)
		fprintf(stderr, "etcd_probe: %s: %s\n", strerror(-rc), prov_last_error());
	free(list);
	return rc < 0 ? 1 : 0;
}
