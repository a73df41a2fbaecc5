/*
 * The metrics registry (see metrics.h).  Families are fixed here so that
 * names, types and help follow one convention (cloudroute_*, _total for
 * counters, base units: seconds and bytes).  Series live in per-family
 * arrays under one mutex; a family holds at most MT_MAX_SERIES series and
 * label values are cut at MT_LABEL_MAX bytes, so a flood of peers or
 * operation names cannot grow memory without bound.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

#define MT_MAX_SERIES 2048
#define MT_MAX_LABELS 3
#define MT_LABEL_MAX 96
#define MT_NBUCKETS 10

enum mt_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

struct series {
	char labels[MT_MAX_LABELS * (MT_LABEL_MAX * 2 + 24)];   /* k="v",k2="v2" */
	char raw[MT_MAX_LABELS][MT_LABEL_MAX + 1];              /* the values, as given */
	double value;                  /* counter/gauge; histogram: sum */
	double count;
	double buckets[MT_NBUCKETS];
};

struct family {
	const char *name;
	enum mt_type type;
	const char *help;
	const char *labels[MT_MAX_LABELS + 1];
};

struct store {
	struct series *s;
	size_t n, cap;
};

/* Upper bounds of the histogram buckets, in seconds (reconcile passes). */
static const double bounds[MT_NBUCKETS] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };

static const struct family families[] = {
	{ "cloudroute_build_info", MT_GAUGE, "Always 1; the version in a label.", { "version" } },
	{ "cloudroute_reconcile_passes_total", MT_COUNTER, "Reconcile passes run.", { "scope" } },
	{ "cloudroute_reconcile_failures_total", MT_COUNTER, "Reconcile passes that failed.",
	  { "scope" } },
	{ "cloudroute_reconcile_duration_seconds", MT_HISTOGRAM, "Duration of reconcile passes.",
	  { "scope" } },
	{ "cloudroute_reconcile_last_success_timestamp_seconds", MT_GAUGE,
	  "Unix time of the last reconcile pass that succeeded.", { 0 } },
	{ "cloudroute_changes_applied_total", MT_COUNTER, "Changes applied, by section.",
	  { "section" } },
	{ "cloudroute_drift_repairs_total", MT_COUNTER,
	  "Changes that repaired drift (something changed outside cloudroute).", { "section" } },
	{ "cloudroute_cloud_api_calls_total", MT_COUNTER, "Cloud API calls by outcome.",
	  { "provider", "operation", "outcome" } },
	{ "cloudroute_routes_owned", MT_GAUGE, "Routes carrying our mark.", { "where" } },
	{ "cloudroute_route_conflicts", MT_GAUGE,
	  "Routes for our prefixes that point elsewhere and are not ours.", { "where" } },
	{ "cloudroute_peer_receive_bytes_total", MT_COUNTER, "Bytes received from a peer.",
	  { "peer" } },
	{ "cloudroute_peer_transmit_bytes_total", MT_COUNTER, "Bytes sent to a peer.", { "peer" } },
	{ "cloudroute_peer_last_handshake_timestamp_seconds", MT_GAUGE,
	  "Unix time of the peer's last handshake (0: none yet).", { "peer" } },
	{ "cloudroute_packets_dropped_total", MT_COUNTER, "Packets the tunnel dropped, by reason.",
	  { "reason" } },
	{ "cloudroute_firewall_accept_rules", MT_GAUGE,
	  "Accept rules of ours in another firewall's chain.", { "tool", "chain" } },
	{ "cloudroute_fleet_leader", MT_GAUGE, "1 while this connector leads its site.",
	  { "site" } },
	{ "cloudroute_fleet_peers", MT_GAUGE, "Connectors of other sites seen in the fleet.",
	  { 0 } },
};

#define NFAM (sizeof(families) / sizeof(families[0]))

static struct store stores[NFAM];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const struct family *
find(const char *name)
{
	size_t i;

	for (i = 0; name && i < NFAM; i++)
		if (strcmp(families[i].name, name) == 0)
			return &families[i];
	return NULL;
}

static struct store *
store_of(const struct family *f)
{
	return &stores[f - families];
}

static size_t
nlabels(const struct family *f)
{
	size_t n = 0;

	while (n < MT_MAX_LABELS && f->labels[n])
		n++;
	return n;
}

/* k="v" with \ " and newline escaped, v cut at MT_LABEL_MAX bytes. */
static size_t
label(char *out, size_t len, const char *k, const char *v)
{
	size_t o, i;

	o = (size_t)snprintf(out, len, "%s=\"", k);
	for (i = 0; v[i] && i < MT_LABEL_MAX && o + 3 < len; i++) {
		if (v[i] == '\\' || v[i] == '"' || v[i] == '\n') {
			out[o++] = '\\';
			out[o++] = v[i] == '\n' ? 'n' : v[i];
		} else {
			out[o++] = v[i];
		}
	}
	if (o + 2 < len)
		out[o++] = '"';
	out[o] = '\0';
	return o;
}

/* The label string of a call (and the values, cut, in raw when not NULL);
 * -1 when the values do not fit the family. */
static int
labels_of(const struct family *f, va_list ap, char *out, size_t len,
    char raw[MT_MAX_LABELS][MT_LABEL_MAX + 1])
{
	size_t n = nlabels(f), i, o = 0;
	const char *v;

	out[0] = '\0';
	for (i = 0; i <= n; i++) {
		v = va_arg(ap, const char *);
		if (i == n)
			return v == NULL ? 0 : -1;
		if (v == NULL)
			return -1;
		if (raw != NULL)
			snprintf(raw[i], MT_LABEL_MAX + 1, "%s", v);
		if (i > 0 && o + 1 < len)
			out[o++] = ',';
		o += label(out + o, len - o, f->labels[i], v);
	}
	return 0;
}

/* The series (created when absent); NULL when the family is full. */
static struct series *
series(struct store *f, const char *labels, char raw[MT_MAX_LABELS][MT_LABEL_MAX + 1])
{
	struct series *nv;
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->s[i].labels, labels) == 0)
			return &f->s[i];
	if (f->n == MT_MAX_SERIES)
		return NULL;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		if ((nv = realloc(f->s, cap * sizeof(*nv))) == NULL)
			return NULL;
		f->s = nv;
		f->cap = cap;
	}
	memset(&f->s[f->n], 0, sizeof(f->s[0]));
	cr_strlcpy(f->s[f->n].labels, labels, sizeof(f->s[0].labels));
	memcpy(f->s[f->n].raw, raw, sizeof(f->s[0].raw));
	return &f->s[f->n++];
}

void
mt_update(enum mt_op op, const char *name, double v, ...)
{
	const struct family *f = find(name);
	char labels[sizeof(((struct series *)0)->labels)];
	char raw[MT_MAX_LABELS][MT_LABEL_MAX + 1];
	struct series *s;
	va_list ap;
	size_t i;
	int r;

	if (f == NULL || isnan(v))
		return;
	memset(raw, 0, sizeof(raw));
	va_start(ap, v);
	r = labels_of(f, ap, labels, sizeof(labels), raw);
	va_end(ap);
	if (r < 0 || (op == MT_OBSERVE) != (f->type == MT_HISTOGRAM) ||
	    (op == MT_ADD && f->type == MT_COUNTER && v < 0))
		return;
	pthread_mutex_lock(&lock);
	if ((s = series(store_of(f), labels, raw)) != NULL) {
		if (op == MT_SET)
			s->value = v;
		else
			s->value += v;
		if (op == MT_OBSERVE) {
			s->count++;
			for (i = 0; i < MT_NBUCKETS; i++)
				if (v <= bounds[i])
					s->buckets[i]++;
		}
	}
	pthread_mutex_unlock(&lock);
}

double
mt_get(const char *name, ...)
{
	const struct family *f = find(name);
	char labels[sizeof(((struct series *)0)->labels)];
	struct store *st;
	double v = 0;
	va_list ap;
	size_t i;
	int r;

	if (f == NULL)
		return 0;
	va_start(ap, name);
	r = labels_of(f, ap, labels, sizeof(labels), NULL);
	va_end(ap);
	if (r < 0)
		return 0;
	st = store_of(f);
	pthread_mutex_lock(&lock);
	for (i = 0; i < st->n; i++)
		if (strcmp(st->s[i].labels, labels) == 0)
			v = f->type == MT_HISTOGRAM ? st->s[i].count : st->s[i].value;
	pthread_mutex_unlock(&lock);
	return v;
}

void
mt_reset(const char *name)
{
	const struct family *f = find(name);
	struct store *st;

	if (f == NULL)
		return;
	st = store_of(f);
	pthread_mutex_lock(&lock);
	free(st->s);
	st->s = NULL;
	st->n = st->cap = 0;
	pthread_mutex_unlock(&lock);
}

void
mt_drain(const char *name, mt_drain_fn *fn, void *arg)
{
	const struct family *f = find(name);
	struct store st;
	const char *v[MT_MAX_LABELS];
	size_t i, k, n;

	if (f == NULL)
		return;
	/* Taken out under the lock, reported outside it (fn may update). */
	pthread_mutex_lock(&lock);
	st = *store_of(f);
	memset(store_of(f), 0, sizeof(st));
	pthread_mutex_unlock(&lock);
	n = nlabels(f);
	for (i = 0; i < st.n; i++) {
		for (k = 0; k < n; k++)
			v[k] = st.s[i].raw[k];
		fn(arg, v, n, f->type == MT_HISTOGRAM ? st.s[i].count : st.s[i].value);
	}
	free(st.s);
}

void
mt_clear_all(void)
{
	size_t i;

	for (i = 0; i < NFAM; i++)
		mt_reset(families[i].name);
}

/* name{labels[,extra]} value, the value in the shortest form that reads
 * back exactly. */
static int
sample(struct buf *out, const char *name, const char *suffix, const char *labels,
    const char *extra, double v)
{
	const char *sep = labels[0] && extra[0] ? "," : "";
	int braces = labels[0] || extra[0];
	char num[32];

	snprintf(num, sizeof(num), "%.15g", v);
	if (strtod(num, NULL) != v)
		snprintf(num, sizeof(num), "%.17g", v);
	return buf_printf(out, "%s%s%s%s%s%s%s %s\n", name, suffix, braces ? "{" : "",
	    labels, sep, extra, braces ? "}" : "", num);
}

static int
render_histogram(struct buf *out, const struct family *f, const struct series *s)
{
	char le[32];
	size_t i;
	int r = 0;

	for (i = 0; i < MT_NBUCKETS && r == 0; i++) {
		snprintf(le, sizeof(le), "le=\"%g\"", bounds[i]);
		r = sample(out, f->name, "_bucket", s->labels, le, s->buckets[i]);
	}
	if (r == 0)
		r = sample(out, f->name, "_bucket", s->labels, "le=\"+Inf\"", s->count);
	if (r == 0)
		r = sample(out, f->name, "_sum", s->labels, "", s->value);
	if (r == 0)
		r = sample(out, f->name, "_count", s->labels, "", s->count);
	return r;
}

int
mt_render(struct buf *out)
{
	static const char *const tname[] = { "counter", "gauge", "histogram" };
	const struct family *f;
	const struct store *st;
	size_t i, j;
	int r = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < NFAM && r == 0; i++) {
		f = &families[i];
		st = &stores[i];
		if (st->n == 0)
			continue;
		r = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		    tname[f->type]);
		for (j = 0; j < st->n && r == 0; j++)
			r = f->type == MT_HISTOGRAM ? render_histogram(out, f, &st->s[j]) :
			    sample(out, f->name, "", st->s[j].labels, "", st->s[j].value);
	}
	pthread_mutex_unlock(&lock);
	return r;
}
