/*
 * The fleet as seen in etcd: every record under <prefix>sites/ and every
 * leader key, kept sorted (binary search by site/name), updated key by key
 * from the initial read and the watch, and the peers it implies.
 *
 * Validation (DESIGN.md): a record is malformed when its value does not
 * decode; it is also rejected when a subnet overlaps our local_subnets
 * (records of our own site excepted) or a subnet of an older accepted
 * record of another site, when its address overlaps an older accepted
 * record's address, or when its public key is an older record's.  "Older"
 * is the lower create_revision, so which of two conflicting records wins
 * does not depend on the order in which they were seen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fleet.h"

void
fleet_view_init(struct fleet_view *v, const char *site, const char *name,
    const struct prefix_set *local_subnets)
{
	size_t i;

	memset(v, 0, sizeof(*v));
	cr_strlcpy(v->self_site, site, sizeof(v->self_site));
	cr_strlcpy(v->self_name, name, sizeof(v->self_name));
	for (i = 0; local_subnets != NULL && i < local_subnets->n; i++)
		prefix_set_add(&v->local_subnets, &local_subnets->v[i]);
}

static void
entry_free(struct fleet_view_entry *e)
{
	fleet_record_free(&e->rec);
	free(e->why);
	e->why = NULL;
}

/* e's rejection reason := why ("" none); a new reason is logged again. */
static void
set_why(struct fleet_view_entry *e, const char *why)
{
	if (strcmp(e->why ? e->why : "", why) == 0)
		return;
	e->logged = 0;
	free(e->why);
	e->why = why[0] != '\0' ? strdup(why) : NULL;
}

void
fleet_view_clear(struct fleet_view *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		entry_free(&v->e[i]);
	v->n = 0;
	v->nl = 0;
	v->changes++;
}

void
fleet_view_mark(struct fleet_view *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		v->e[i].seen = 0;
	for (i = 0; i < v->nl; i++)
		v->l[i].seen = 0;
}

void
fleet_view_sweep(struct fleet_view *v)
{
	size_t i, o;

	for (i = o = 0; i < v->n; i++) {
		if (!v->e[i].seen) {
			entry_free(&v->e[i]);
			v->changes++;
			continue;
		}
		v->e[o++] = v->e[i];
	}
	v->n = o;
	for (i = o = 0; i < v->nl; i++) {
		if (!v->l[i].seen) {
			v->changes++;
			continue;
		}
		v->l[o++] = v->l[i];
	}
	v->nl = o;
}

void
fleet_view_free(struct fleet_view *v)
{
	fleet_view_clear(v);
	free(v->e);
	free(v->l);
	prefix_set_free(&v->local_subnets);
	memset(v, 0, sizeof(*v));
}

static int
cmp_sn(const char *s1, const char *n1, const char *s2, const char *n2)
{
	int c = strcmp(s1, s2);

	return c != 0 ? c : strcmp(n1, n2);
}

/* Binary search over a sorted array: the index of key, or where it would go. */
static size_t
search(const void *base, size_t n, size_t size, const void *key,
    int (*cmp)(const void *elem, const void *key), int *found)
{
	size_t lo = 0, hi = n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = cmp((const char *)base + mid * size, key);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

struct sn {
	const char *site, *name;
};

static int
entry_cmp(const void *elem, const void *key)
{
	const struct fleet_view_entry *e = elem;
	const struct sn *k = key;

	return cmp_sn(e->rec.site, e->rec.name, k->site, k->name);
}

static int
leader_cmp(const void *elem, const void *key)
{
	return strcmp(((const struct fleet_leader *)elem)->site, key);
}

static size_t
find_entry(const struct fleet_view *v, const char *site, const char *name, int *found)
{
	struct sn k = { site, name };

	return search(v->e, v->n, sizeof(*v->e), &k, entry_cmp, found);
}

static size_t
find_leader(const struct fleet_view *v, const char *site, int *found)
{
	return search(v->l, v->nl, sizeof(*v->l), site, leader_cmp, found);
}

const struct fleet_leader *
fleet_view_leader(const struct fleet_view *v, const char *site)
{
	int found;
	size_t i = find_leader(v, site, &found);

	return found ? &v->l[i] : NULL;
}

static int
grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *p;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	if ((p = realloc(*arr, nc * size)) == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static int
put_leader(struct fleet_view *v, const char *site, const char *value, size_t len,
    int64_t mod_rev, int64_t lease)
{
	struct fleet_leader *l;
	int found;
	size_t i = find_leader(v, site, &found);

	if (!fleet_name_valid(value, len)) {
		/* Not a name: as if nobody led (logged by the caller). */
		if (found) {
			memmove(&v->l[i], &v->l[i + 1], (v->nl - i - 1) * sizeof(*v->l));
			v->nl--;
		}
		return -EINVAL;
	}
	if (!found) {
		if (grow((void **)&v->l, &v->capl, v->nl, sizeof(*v->l)) < 0)
			return -ENOMEM;
		memmove(&v->l[i + 1], &v->l[i], (v->nl - i) * sizeof(*v->l));
		v->nl++;
		memset(&v->l[i], 0, sizeof(v->l[i]));
		cr_strlcpy(v->l[i].site, site, sizeof(v->l[i].site));
	}
	l = &v->l[i];
	l->seen = 1;
	memcpy(l->name, value, len);
	l->name[len] = '\0';
	l->lease = lease;
	l->mod_revision = mod_rev;
	return 0;
}

int
fleet_view_put(struct fleet_view *v, const char *prefix, const char *key,
    size_t key_len, const char *value, size_t value_len, int64_t create_rev,
    int64_t mod_rev, int64_t lease)
{
	char site[FLEET_NAME_MAX], name[FLEET_NAME_MAX], why[256];
	struct fleet_view_entry *e;
	struct fleet_record rec;
	int kind, found, r;
	size_t i;

	if (mod_rev > v->revision)
		v->revision = mod_rev;
	if (fleet_key_parse(prefix, key, key_len, &kind, site, name) < 0)
		return 0;
	v->changes++;
	if (kind == 'L')
		return put_leader(v, site, value, value_len, mod_rev, lease);
	memset(&rec, 0, sizeof(rec));
	r = fleet_record_decode(value, value_len, &rec, why, sizeof(why));
	if (r == -ENOMEM)
		return r;
	i = find_entry(v, site, name, &found);
	if (!found) {
		if (grow((void **)&v->e, &v->cap, v->n, sizeof(*v->e)) < 0) {
			fleet_record_free(&rec);
			return -ENOMEM;
		}
		memmove(&v->e[i + 1], &v->e[i], (v->n - i) * sizeof(*v->e));
		v->n++;
		memset(&v->e[i], 0, sizeof(v->e[i]));
	}
	e = &v->e[i];
	fleet_record_free(&e->rec);
	e->rec = rec;
	cr_strlcpy(e->rec.site, site, sizeof(e->rec.site));
	cr_strlcpy(e->rec.name, name, sizeof(e->rec.name));
	e->rec.create_revision = create_rev;
	e->rec.mod_revision = mod_rev;
	e->rec.lease = lease;
	set_why(e, r < 0 ? why : "");
	e->seen = 1;
	e->decoded = r == 0;
	e->valid = r == 0;                /* until fleet_view_validate() */
	return 0;
}

int
fleet_view_delete(struct fleet_view *v, const char *prefix, const char *key, size_t key_len)
{
	char site[FLEET_NAME_MAX], name[FLEET_NAME_MAX];
	int kind, found;
	size_t i;

	if (fleet_key_parse(prefix, key, key_len, &kind, site, name) < 0)
		return 0;
	if (kind == 'L') {
		i = find_leader(v, site, &found);
		if (found) {
			memmove(&v->l[i], &v->l[i + 1], (v->nl - i - 1) * sizeof(*v->l));
			v->nl--;
			v->changes++;
		}
		return 0;
	}
	i = find_entry(v, site, name, &found);
	if (!found)
		return 0;
	entry_free(&v->e[i]);
	memmove(&v->e[i], &v->e[i + 1], (v->n - i - 1) * sizeof(*v->e));
	v->n--;
	v->changes++;
	return 0;
}

static int
by_age(const void *a, const void *b)
{
	const struct fleet_view_entry *x = *(struct fleet_view_entry *const *)a;
	const struct fleet_view_entry *y = *(struct fleet_view_entry *const *)b;

	if (x->rec.create_revision != y->rec.create_revision)
		return x->rec.create_revision < y->rec.create_revision ? -1 : 1;
	return cmp_sn(x->rec.site, x->rec.name, y->rec.site, y->rec.name);
}

static int
sets_overlap(const struct prefix_set *a, const struct prefix_set *b, size_t *ia)
{
	size_t i, j;

	for (i = 0; i < a->n; i++)
		for (j = 0; j < b->n; j++)
			if (prefix_overlaps(&a->v[i], &b->v[j])) {
				*ia = i;
				return 1;
			}
	return 0;
}

/* Two connectors of one site with one WireGuard identity (key and address):
 * an HA pair that remote peers see as one peer, following the leader. */
static int
same_identity(const struct fleet_record *a, const struct fleet_record *b)
{
	return strcmp(a->site, b->site) == 0 && memcmp(a->public_key, b->public_key, 32) == 0 &&
	    prefix_equal(&a->address, &b->address);
}

/* Why e (decoded) conflicts with an accepted older one, or NULL. */
static int
conflict(const struct fleet_view *v, const struct fleet_view_entry *e,
    struct fleet_view_entry *const *acc, size_t nacc, char *why, size_t len)
{
	char b[PREFIX_STRLEN];
	size_t i, k;

	if (strcmp(e->rec.site, v->self_site) != 0 &&
	    sets_overlap(&e->rec.subnets, &v->local_subnets, &k)) {
		snprintf(why, len, "subnet %s overlaps our local_subnets",
		    prefix_fmt(&e->rec.subnets.v[k], b, sizeof(b)));
		return 1;
	}
	for (i = 0; i < nacc; i++) {
		const struct fleet_record *o = &acc[i]->rec;

		if (same_identity(&e->rec, o))
			continue;                 /* an HA pair sharing one identity */
		if (strcmp(o->site, e->rec.site) != 0 &&
		    sets_overlap(&e->rec.subnets, &o->subnets, &k)) {
			snprintf(why, len, "subnet %s overlaps site %s (older record %s)",
			    prefix_fmt(&e->rec.subnets.v[k], b, sizeof(b)), o->site, o->name);
			return 1;
		}
		if (prefix_overlaps(&e->rec.address, &o->address)) {
			snprintf(why, len, "address %s is already %s/%s's",
			    prefix_fmt(&e->rec.address, b, sizeof(b)), o->site, o->name);
			return 1;
		}
		if (memcmp(e->rec.public_key, o->public_key, 32) == 0) {
			snprintf(why, len, "public key already used by %s/%s", o->site, o->name);
			return 1;
		}
	}
	return 0;
}

void
fleet_view_validate(struct fleet_view *v,
    void (*log_fn)(void *arg, const struct fleet_view_entry *e), void *arg)
{
	struct fleet_view_entry **ord, **acc;
	size_t i, n = 0, nacc = 0;

	ord = calloc(v->n ? v->n : 1, sizeof(*ord));
	acc = calloc(v->n ? v->n : 1, sizeof(*acc));
	if (ord == NULL || acc == NULL)
		goto out;
	for (i = 0; i < v->n; i++)
		if (v->e[i].decoded)
			ord[n++] = &v->e[i];
	qsort(ord, n, sizeof(*ord), by_age);
	for (i = 0; i < n; i++) {
		char why[256];

		if (conflict(v, ord[i], acc, nacc, why, sizeof(why))) {
			set_why(ord[i], why);
			ord[i]->valid = 0;
		} else {
			free(ord[i]->why);
			ord[i]->why = NULL;
			ord[i]->valid = 1;
			ord[i]->logged = 0;
			acc[nacc++] = ord[i];
		}
	}
	for (i = 0; i < v->n; i++)
		if (!v->e[i].valid && !v->e[i].logged) {
			if (log_fn != NULL)
				log_fn(arg, &v->e[i]);
			v->e[i].logged = 1;
		}
out:
	free(ord);
	free(acc);
}

void
fleet_peers_free(struct fleet_peers *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		prefix_set_free(&p->v[i].allowed_ips);
		free(p->v[i].endpoint);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* (Re)fills p from record r. */
static int
fill_peer(const struct fleet_view *v, struct fleet_peer *p, const struct fleet_record *r,
    int leader)
{
	size_t j;

	prefix_set_free(&p->allowed_ips);
	cr_strlcpy(p->site, r->site, sizeof(p->site));
	cr_strlcpy(p->name, r->name, sizeof(p->name));
	memcpy(p->public_key, r->public_key, 32);
	free(p->endpoint);
	if ((p->endpoint = strdup(r->endpoint ? r->endpoint : "")) == NULL)
		return -ENOMEM;
	p->leader = leader;
	if (prefix_set_add(&p->allowed_ips, &r->address) < 0)
		return -ENOMEM;
	if (!leader || strcmp(r->site, v->self_site) == 0)
		return 0;                     /* our own site's subnets are local */
	for (j = 0; j < r->subnets.n; j++)
		if (prefix_set_add(&p->allowed_ips, &r->subnets.v[j]) < 0)
			return -ENOMEM;
	return 0;
}

static const struct fleet_record *
self_record(const struct fleet_view *v)
{
	int found;
	size_t i = find_entry(v, v->self_site, v->self_name, &found);

	return found && v->e[i].decoded ? &v->e[i].rec : NULL;
}

int
fleet_view_peers(const struct fleet_view *v, struct fleet_peers *out)
{
	const struct fleet_record *self = self_record(v);
	const struct fleet_leader *l;
	size_t i, k, first = 0;
	int leader;

	memset(out, 0, sizeof(*out));
	if (v->n > 0 && (out->v = calloc(v->n, sizeof(*out->v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < v->n; i++) {
		const struct fleet_record *r = &v->e[i].rec;

		if (!v->e[i].valid || r == self ||
		    (self != NULL && memcmp(r->public_key, self->public_key, 32) == 0))
			continue;                 /* us, or our own HA identity */
		l = fleet_view_leader(v, r->site);
		leader = l != NULL && strcmp(l->name, r->name) == 0;
		/* One peer per site and identity: the leader's record if it is one.
		 * Records are sorted by site, so the site's peers start at first. */
		if (first < out->n && strcmp(out->v[first].site, r->site) != 0)
			first = out->n;
		for (k = first; k < out->n; k++)
			if (strcmp(out->v[k].site, r->site) == 0 &&
			    memcmp(out->v[k].public_key, r->public_key, 32) == 0)
				break;
		if (k < out->n && !leader)
			continue;
		if (k == out->n)
			out->n++;
		if (fill_peer(v, &out->v[k], r, leader) < 0)
			goto nomem;
	}
	return 0;
nomem:
	fleet_peers_free(out);
	return -ENOMEM;
}
