/*
 * `doctor` for the fleet: every etcd endpoint answers (and how fast), a
 * test lease is granted with the configured TTL (etcd raises a TTL below
 * its minimum) and its keep-alive round trip leaves room in TTL/3, the
 * system clock is synchronized (certificate validity for https endpoints),
 * our record and our site's leader are in place, and the TLS key is private.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>

#include "agent/fleet.h"
#include "agent/fleet_agent.h"
#include "providers/etcd/etcd.h"
#include "providers/provider.h"

static void say(void (*fn)(void *, int, const char *), void *arg, int level,
    const char *fmt, ...) CR_PRINTF(4, 5);

static void
say(void (*fn)(void *, int, const char *), void *arg, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(arg, level, line);
}

static struct etcd_client *
client(const struct cfg_fleet *f, size_t only)
{
	const char *eps[1] = { f->etcd[only] };
	struct etcd_config ec = { .endpoints = eps, .n_endpoints = 1, .ca_file = f->ca_file,
	    .cert_file = f->cert_file, .key_file = f->key_file, .timeout_ms = 2000,
	    .connect_timeout_ms = 1000 };
	struct etcd_client *c;

	return etcd_open(&ec, &c) == 0 ? c : NULL;
}

/* Grants a test lease, keeps it alive once, checks the numbers, revokes it. */
static void
check_lease(struct etcd_client *c, const struct cfg_fleet *f,
    void (*fn)(void *, int, const char *), void *arg)
{
	int64_t id, ttl, left;
	uint64_t t0, rtt;

	if (etcd_lease_grant(c, f->lease_ttl, &id, &ttl) < 0) {
		say(fn, arg, 2, "fleet: etcd grants no lease: %s", prov_last_error());
		return;
	}
	if (ttl != (int64_t)f->lease_ttl)
		say(fn, arg, 1, "fleet: lease_ttl %u s granted as %" PRId64 " s (etcd's minimum "
		    "TTL); failover takes longer than configured", f->lease_ttl, ttl);
	else
		say(fn, arg, 0, "fleet: lease with TTL %" PRId64 " s granted", ttl);
	t0 = now_ms();
	if (etcd_lease_keepalive(c, id, &left) < 0) {
		say(fn, arg, 2, "fleet: keep-alive failed: %s", prov_last_error());
	} else {
		rtt = now_ms() - t0;
		say(fn, arg, rtt * 3 > (uint64_t)ttl * 1000 / 2 ? 1 : 0,
		    "fleet: keep-alive round trip %" PRIu64 " ms (one due every %" PRId64 " ms)",
		    rtt, ttl * 1000 / 3);
	}
	etcd_lease_revoke(c, id);
}

static void
check_keys(struct etcd_client *c, const struct cfg_fleet *f,
    void (*fn)(void *, int, const char *), void *arg)
{
	char key[512];
	struct etcd_kvs r;

	if (fleet_key_site(f->prefix, f->site, f->name, key, sizeof(key)) == 0 &&
	    etcd_range(c, key, strlen(key), NULL, 0, &r) == 0) {
		say(fn, arg, r.n ? 0 : 1, "fleet: our record %s %s", key,
		    r.n ? "is registered" : "is not registered (is the daemon running?)");
		etcd_kvs_free(&r);
	}
	if (fleet_key_leader(f->prefix, f->site, key, sizeof(key)) == 0 &&
	    etcd_range(c, key, strlen(key), NULL, 0, &r) == 0) {
		if (r.n == 0)
			say(fn, arg, 1, "fleet: site %s has no leader (nobody writes its cloud "
			    "routes)", f->site);
		else
			say(fn, arg, 0, "fleet: site %s is led by %s", f->site, r.kvs[0].value);
		etcd_kvs_free(&r);
	}
}

int
fleet_doctor(const struct config *cfg, void (*fn)(void *, int, const char *), void *arg)
{
	const struct cfg_fleet *f = &cfg->fleet;
	struct etcd_client *c, *good = NULL;
	struct etcd_kvs r;
	struct stat st;
	uint64_t t0;
	size_t i, up = 0;

	struct timex tx;

	if (!f->enabled)
		return 0;
	memset(&tx, 0, sizeof(tx));
	if (adjtimex(&tx) == TIME_ERROR)
		say(fn, arg, 1, "fleet: the system clock is not synchronized (NTP); TLS to etcd "
		    "checks certificate dates against it");
	if (f->key_file[0] && stat(f->key_file, &st) == 0 && (st.st_mode & 077))
		say(fn, arg, 2, "fleet: %s is readable by others (chmod 600)", f->key_file);
	for (i = 0; i < f->n_etcd; i++) {
		if ((c = client(f, i)) == NULL)
			continue;
		t0 = now_ms();
		if (etcd_range(c, f->prefix, strlen(f->prefix), NULL, 0, &r) == 0) {
			say(fn, arg, 0, "fleet: etcd %s answers (%" PRIu64 " ms, revision %" PRId64 ")",
			    f->etcd[i], now_ms() - t0, r.revision);
			etcd_kvs_free(&r);
			up++;
			if (good == NULL) {
				good = c;
				continue;
			}
		} else {
			say(fn, arg, f->n_etcd > 1 ? 1 : 2, "fleet: etcd %s: %s", f->etcd[i],
			    prov_last_error());
		}
		etcd_close(c);
	}
	if (good == NULL) {
		say(fn, arg, 2, "fleet: no etcd endpoint answers: the last known peers stay, "
		    "but no change reaches this connector");
		return -EHOSTUNREACH;
	}
	check_lease(good, f, fn, arg);
	check_keys(good, f, fn, arg);
	etcd_close(good);
	return up == f->n_etcd ? 0 : -EHOSTUNREACH;
}
