/*
 * Other firewalls on the forward path (Docker, ufw, firewalld, any other
 * nftables table).  nftables runs every base chain registered at a hook:
 * a packet goes on only if *every* one of them accepts it, so an accept in
 * our own table does nothing against Docker's `FORWARD` policy drop in
 * `ip filter`.  The only remedy is an accept inside the chain that drops
 * (or in the chain it delegates to: Docker's DOCKER-USER, ufw's
 * ufw-user-forward).
 *
 * nc_fw_scan() reads the ruleset once (JSON) and returns every such chain,
 * with the rules of ours already in it; ours carry the comment
 * "cloudroute:<hash of the rule set>", so a rewrite by the other tool, a
 * changed config or a rule moved below theirs all show as a difference.
 * In tables managed by iptables-nft the rules use only what iptables can
 * read back (no ct expressions), so `iptables -S` and Docker keep working.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/jsonutil.h"
#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

#define FW_MAX_RULES 128

static int
is_l3(const char *fam)
{
	return fam && (strcmp(fam, "ip") == 0 || strcmp(fam, "ip6") == 0 ||
	    strcmp(fam, "inet") == 0);
}

static int
ours_table(const char *fam, const char *tab)
{
	return strcmp(fam, "inet") == 0 && strcmp(tab, NC_NFT_TABLE) == 0;
}

static int
same(const struct nc_fw_chain *c, const char *fam, const char *tab)
{
	return strcmp(c->family, fam) == 0 && strcmp(c->table, tab) == 0;
}

/* Is there a chain `name` in fam/tab?  Scans the whole array. */
static int
has_chain(struct json_object *arr, const char *fam, const char *tab, const char *name)
{
	size_t i, n = json_object_array_length(arr);
	struct json_object *c;
	const char *f, *t, *nm;

	for (i = 0; i < n; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "chain", &c))
			continue;
		f = cr_json_str(c, "family"); t = cr_json_str(c, "table"); nm = cr_json_str(c, "name");
		if (f && t && nm && strcmp(f, fam) == 0 && strcmp(t, tab) == 0 &&
		    strcmp(nm, name) == 0)
			return 1;
	}
	return 0;
}

/* The text listing's "flags" line of the table (nft 1.0.6 prints table
 * flags in JSON as garbage): does it name owner? */
static int
owner_in_text(const char *fam, const char *tab)
{
	char cmd[160];
	const char *l;
	struct buf b;
	int r = 0;

	snprintf(cmd, sizeof(cmd), "list table %s %s", fam, tab);
	buf_init(&b, 8u << 20);
	if (nc_nft_script(cmd, 0, &b, "nft list table") == 0 && b.data &&
	    (l = strstr(b.data, "\tflags ")) != NULL)
		r = strstr(l, "owner") != NULL && strstr(l, "owner") < l + strcspn(l, "\n");
	buf_free(&b);
	return r;
}

/* Does fam/tab carry the "owner" flag (only its creator may change it,
 * firewalld 2 does this)?  "flags" is a string or an array of strings. */
static int
owned_table(struct json_object *arr, const char *fam, const char *tab)
{
	size_t i, j, n = json_object_array_length(arr);
	struct json_object *t, *fl;
	const char *f, *nm;

	for (i = 0; i < n; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "table", &t))
			continue;
		f = cr_json_str(t, "family"); nm = cr_json_str(t, "name");
		if (!f || !nm || strcmp(f, fam) != 0 || strcmp(nm, tab) != 0 ||
		    !json_object_object_get_ex(t, "flags", &fl))
			continue;
		if (json_object_is_type(fl, json_type_string))
			return strcmp(json_object_get_string(fl), "owner") == 0 ||
			    (strcmp(json_object_get_string(fl), "dormant") != 0 &&
			    strcmp(json_object_get_string(fl), "persist") != 0 &&
			    owner_in_text(fam, tab));
		for (j = 0; json_object_is_type(fl, json_type_array) &&
		    j < json_object_array_length(fl); j++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(fl, j)),
			    "owner") == 0)
				return 1;
	}
	return 0;
}

/* Names that can stand unquoted in an nft script: anything else (a chain
 * made through the JSON API can be called "a\nflush ruleset") is never
 * written into one. */
static int
safe_name(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return i > 0 && i < 64;
}

static int
add_chain(struct nc_fw_chain **v, size_t *n, const char *fam, const char *tab,
    const char *chain)
{
	struct nc_fw_chain *c, *nv;

	if ((nv = realloc(*v, (*n + 1) * sizeof(**v))) == NULL)
		return -ENOMEM;
	*v = nv;
	c = &nv[(*n)++];
	memset(c, 0, sizeof(*c));
	cr_strlcpy(c->family, fam, sizeof(c->family));
	cr_strlcpy(c->table, tab, sizeof(c->table));
	cr_strlcpy(c->chain, chain, sizeof(c->chain));
	cr_strlcpy(c->target, chain, sizeof(c->target));
	cr_strlcpy(c->tool, "nftables", sizeof(c->tool));
	c->ours_first = 1;
	c->unsafe = !safe_name(tab) || !safe_name(chain);
	return 0;
}

/* Base chains at the forward hook of every foreign ip/ip6/inet table. */
static int
collect_base(struct json_object *arr, struct nc_fw_chain **v, size_t *n)
{
	size_t i, len = json_object_array_length(arr);
	struct json_object *c;
	const char *f, *t, *nm, *h, *pol;
	int r;

	for (i = 0; i < len; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "chain", &c))
			continue;
		f = cr_json_str(c, "family"); t = cr_json_str(c, "table"); nm = cr_json_str(c, "name");
		h = cr_json_str(c, "hook"); pol = cr_json_str(c, "policy");
		if (!is_l3(f) || !t || !nm || !h || strcmp(h, "forward") != 0 || ours_table(f, t))
			continue;
		if ((r = add_chain(v, n, f, t, nm)) < 0)
			return r;
		(*v)[*n - 1].policy_drop = pol && strcmp(pol, "drop") == 0;
		(*v)[*n - 1].owned = owned_table(arr, f, t);
		(*v)[*n - 1].drops = (*v)[*n - 1].policy_drop;
	}
	return 0;
}

/* A rule's verdict: "drop", "reject", "jump:<chain>", "accept", ... or "". */
static void
rule_verdict(struct json_object *expr, int *matches, int *xt, char *verdict, size_t len)
{
	size_t i, n = json_object_array_length(expr);
	struct json_object *e, *j;

	*matches = 0;
	verdict[0] = '\0';
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(expr, i);
		if (json_object_object_get_ex(e, "match", NULL))
			*matches = 1;
		if (json_object_object_get_ex(e, "xt", NULL))
			*xt = 1, *matches = 1;
		if (json_object_object_get_ex(e, "drop", NULL))
			cr_strlcpy(verdict, "drop", len);
		else if (json_object_object_get_ex(e, "reject", NULL))
			cr_strlcpy(verdict, "reject", len);
		else if (json_object_object_get_ex(e, "accept", NULL))
			cr_strlcpy(verdict, "accept", len);
		else if (json_object_object_get_ex(e, "jump", &j) && cr_json_str(j, "target"))
			snprintf(verdict, len, "jump:%s", cr_json_str(j, "target"));
	}
}

/* Where accepts must go for c: the chain the other tool keeps for them. */
static void
pick_target(struct json_object *arr, struct nc_fw_chain *c, int jumps_docker_user)
{
	if (jumps_docker_user) {
		cr_strlcpy(c->target, "DOCKER-USER", sizeof(c->target));
		cr_strlcpy(c->tool, "Docker", sizeof(c->tool));
	} else if (has_chain(arr, c->family, c->table, "ufw-user-forward")) {
		cr_strlcpy(c->target, "ufw-user-forward", sizeof(c->target));
		cr_strlcpy(c->tool, "ufw", sizeof(c->tool));
	} else if (strcmp(c->table, "firewalld") == 0) {
		cr_strlcpy(c->tool, "firewalld", sizeof(c->tool));
	} else if (strcmp(c->table, "filter") == 0 && strcmp(c->chain, "FORWARD") == 0) {
		cr_strlcpy(c->tool, "iptables", sizeof(c->tool));
	}
	if (strcmp(c->tool, "nftables") != 0 && strcmp(c->tool, "firewalld") != 0)
		c->xt = 1;
}

/* Drops, jumps and xt use of the base chains; then where ours go. */
static void
classify(struct json_object *arr, struct nc_fw_chain *v, size_t n)
{
	size_t i, k, len = json_object_array_length(arr);
	struct json_object *r, *expr;
	const char *f, *t, *ch;
	char verdict[80];
	int m, xt, *jdu;

	if ((jdu = calloc(n ? n : 1, sizeof(*jdu))) == NULL)
		return;
	for (i = 0; i < len; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "rule", &r) ||
		    !json_object_object_get_ex(r, "expr", &expr) ||
		    !json_object_is_type(expr, json_type_array))
			continue;
		f = cr_json_str(r, "family"); t = cr_json_str(r, "table"); ch = cr_json_str(r, "chain");
		if (!f || !t || !ch)
			continue;
		for (k = 0; k < n; k++) {
			if (!same(&v[k], f, t))
				continue;
			xt = 0;
			rule_verdict(expr, &m, &xt, verdict, sizeof(verdict));
			v[k].xt |= xt;
			if (strcmp(v[k].chain, ch) != 0)
				continue;
			if (!m && (strcmp(verdict, "drop") == 0 || strcmp(verdict, "reject") == 0))
				v[k].drops = 1;
			if (strcmp(verdict, "jump:DOCKER-USER") == 0)
				jdu[k] = 1;
		}
	}
	for (k = 0; k < n; k++)
		pick_target(arr, &v[k], jdu[k]);
	free(jdu);
}

/* Our rules (comment "cloudroute:...") in every foreign chain: attached to
 * the entry whose target they are in, or a new entry of their own. */
static int
collect_ours(struct json_object *arr, struct nc_fw_chain **v, size_t *n)
{
	size_t i, k, len = json_object_array_length(arr);
	struct json_object *r, *h;
	const char *f, *t, *ch, *cm;
	struct nc_fw_chain *c;
	int ret;

	for (i = 0; i < len; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(arr, i), "rule", &r))
			continue;
		f = cr_json_str(r, "family"); t = cr_json_str(r, "table"); ch = cr_json_str(r, "chain");
		cm = cr_json_str(r, "comment");
		if (!is_l3(f) || !t || !ch || ours_table(f, t))
			continue;
		for (k = 0; k < *n; k++)
			if (same(&(*v)[k], f, t) && strcmp((*v)[k].target, ch) == 0)
				break;
		if (!cm || strncmp(cm, NC_FW_MARK ":", sizeof(NC_FW_MARK)) != 0) {
			if (k < *n)
				(*v)[k].seen_other = 1;
			continue;
		}
		if (k == *n && (ret = add_chain(v, n, f, t, ch)) < 0)
			return ret;
		c = &(*v)[k];
		/* Ours after someone else's rule: no longer first in the chain. */
		if (c->seen_other)
			c->ours_first = 0;
		if (c->n_ours == 0)
			cr_strlcpy(c->mark, cm, sizeof(c->mark));
		else if (strcmp(c->mark, cm) != 0)
			cr_strlcpy(c->mark, "(mixed)", sizeof(c->mark));
		if (c->n_ours < NC_FW_MAX_OURS && json_object_object_get_ex(r, "handle", &h))
			c->handles[c->n_ours] = (uint64_t)json_object_get_int64(h);
		c->n_ours++;
	}
	return 0;
}

int
nc_fw_scan_array(struct json_object *arr, struct nc_fw_chain **out, size_t *nout)
{
	struct nc_fw_chain *v = NULL;
	size_t n = 0;
	int r;

	*out = NULL;
	*nout = 0;
	if ((r = collect_base(arr, &v, &n)) == 0) {
		classify(arr, v, n);
		r = collect_ours(arr, &v, &n);
	}
	if (r < 0) {
		free(v);
		return nc_fail(r, "nft other firewalls");
	}
	*out = v;
	*nout = n;
	return 0;
}

int
nc_fw_scan(struct nc_fw_chain **out, size_t *nout)
{
	struct json_object *root, *arr;
	int r;

	*out = NULL;
	*nout = 0;
	if ((r = nc_nft_ruleset(&root, &arr)) < 0)
		return r;
	r = nc_fw_scan_array(arr, out, nout);
	json_object_put(root);
	return r;
}

/* One "<fam> saddr X " selector, or "" for a default route (matches all). */
static void
sel(char *out, size_t len, const char *dir, const struct prefix *p)
{
	char b[64];

	if (p->len == 0) {
		out[0] = '\0';
		return;
	}
	snprintf(out, len, "%s %s %s ", p->family == AF_INET ? "ip" : "ip6", dir,
	    prefix_fmt(p, b, sizeof(b)));
}

static int
fam_ok(const struct nc_fw_chain *c, const struct prefix *p)
{
	if (strcmp(c->family, "inet") == 0)
		return 1;
	return strcmp(c->family, p->family == AF_INET ? "ip" : "ip6") == 0;
}

/* The rule bodies without verdict and mark, one a line; *n counts them. */
static int
render_bodies(const struct nc_fw_spec *s, const struct nc_fw_chain *c, struct buf *b,
    size_t *n)
{
	char in[96], out[96], a[96], z[96];
	const struct prefix *t, *l;
	size_t i, j;
	int r = 0;

	*n = 0;
	snprintf(in, sizeof(in), "iifname \"%s\" oifname \"%s\"", s->tun_if, s->lan_if);
	snprintf(out, sizeof(out), "iifname \"%s\" oifname \"%s\"", s->lan_if, s->tun_if);
	for (i = 0; i < s->tunnel_side->n && r == 0; i++) {
		t = &s->tunnel_side->v[i];
		if (!fam_ok(c, t))
			continue;
		for (j = 0; j < s->local_subnets->n && r == 0; j++) {
			l = &s->local_subnets->v[j];
			if (l->family != t->family)
				continue;
			sel(a, sizeof(a), "saddr", t);
			sel(z, sizeof(z), "daddr", l);
			r = buf_printf(b, "%s %s%s\n", in, a, z);
			sel(a, sizeof(a), "saddr", l);
			sel(z, sizeof(z), "daddr", t);
			if (r == 0)
				r = buf_printf(b, "%s %s%s\n", out, a, z);
			*n += 2;
		}
		if (s->egress && r == 0 && t->len > 0) {
			/* Internet egress: out to anywhere, back only as replies
			 * (an iptables table cannot hold a ct match written by nft,
			 * there the interfaces and the overlay address must do). */
			sel(a, sizeof(a), "saddr", t);
			sel(z, sizeof(z), "daddr", t);
			r = buf_printf(b, "%s %s\n%s %s%s\n", in, a, out, z,
			    c->xt ? "" : "ct state established,related ");
			*n += 2;
		}
	}
	return r;
}

int
nc_fw_render(const struct nc_fw_spec *s, const struct nc_fw_chain *c, struct buf *out)
{
	struct buf b;
	char h[65], *line, *save = NULL;
	size_t n;
	int r;

	buf_init(&b, 1024 * 1024);
	if ((r = render_bodies(s, c, &b, &n)) < 0)
		goto out;
	if (n > FW_MAX_RULES) {
		nc_set_error("%zu accept rules for %s %s %s: more than %d", n, c->family,
		    c->table, c->target, FW_MAX_RULES);
		r = -E2BIG;
		goto out;
	}
	if (n == 0)
		goto out;
	cr_sha256_hex(b.data, b.len, h);
	for (line = strtok_r(b.data, "\n", &save); line && r == 0;
	    line = strtok_r(NULL, "\n", &save))
		r = buf_printf(out, "%scounter accept comment \"%s:%.8s\"\n", line,
		    NC_FW_MARK, h);
out:
	buf_free(&b);
	return r;
}

/* Lines of a rendered rule set, and the mark of its first line. */
static size_t
rules_count(const char *rules, char *mark, size_t len)
{
	const char *m;
	size_t n = 0;

	mark[0] = '\0';
	if (rules && (m = strstr(rules, "comment \"" NC_FW_MARK ":")) != NULL) {
		m += strlen("comment \"");
		snprintf(mark, len, "%.*s", (int)strcspn(m, "\""), m);
	}
	for (; rules && *rules; rules++)
		n += *rules == '\n';
	return n;
}

int
nc_fw_in_sync(const struct nc_fw_chain *c, const char *rules)
{
	char mark[sizeof(c->mark)];
	size_t n = rules_count(rules, mark, sizeof(mark));

	return c->n_ours == n && (n == 0 || (c->ours_first && strcmp(c->mark, mark) == 0));
}

int
nc_fw_script(const struct nc_fw_chain *c, const char *rules, struct buf *out)
{
	const char *p, *e;
	size_t i, n;
	int r = 0;

	if (c->unsafe) {
		nc_set_error("%s %s %s: a name nft cannot take unquoted; not touched", c->family,
		    c->table, c->target);
		return -EINVAL;
	}
	n = c->n_ours < NC_FW_MAX_OURS ? c->n_ours : NC_FW_MAX_OURS;
	for (i = 0; i < n && r == 0; i++)
		r = buf_printf(out, "delete rule %s %s %s handle %llu\n", c->family, c->table,
		    c->target, (unsigned long long)c->handles[i]);
	if (c->n_ours > NC_FW_MAX_OURS && r == 0) {
		nc_set_error("%zu cloudroute rules in %s %s %s: too many to replace", c->n_ours,
		    c->family, c->table, c->target);
		return -E2BIG;
	}
	/* "insert" puts a rule first: insert the last one first. */
	for (e = rules ? rules + strlen(rules) : NULL; e && e > rules && r == 0; e = p) {
		p = e - 1;
		while (p > rules && p[-1] != '\n')
			p--;
		if (e - p > 1)
			r = buf_printf(out, "insert rule %s %s %s %.*s\n", c->family, c->table,
			    c->target, (int)(e - p - 1), p);
	}
	return r;
}

int
nc_fw_check(const char *script)
{
	return nc_nft_check(script, "nft check");
}

int
nc_fw_run(const char *script)
{
	return nc_nft_script(script, 0, NULL, "nft (other firewall)");
}
