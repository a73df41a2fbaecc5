/*
 * Renders cloudroute's nftables table (`table inet cloudroute`) from an
 * nc_nft_spec, in nft syntax.  The output is a pure function of the spec:
 * prefix sets are normalised (network form, sorted, contained prefixes
 * dropped) so that equal specs give equal bytes and a re-apply is a no-op.
 *
 * Layout: named sets per family (overlay4/6, local4/6, exclude4/6,
 * tunaddr4/6; empty ones omitted), then three base chains:
 *   forward     filter, policy accept: MSS clamp, accept overlay flows
 *   postrouting nat srcnat: masquerade DNATed port forwards and overlay
 *               sources leaving lan_if (except excluded destinations)
 *   prerouting  nat dstnat: port forwards on the tunnel addresses
 * A family without overlay prefixes gets no overlay rules.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

#define MARK "comment \"cloudroute\""

/* The normalised sets of one address family. */
struct fam {
	int af;
	const char *ip;             /* "ip" or "ip6" */
	const char *sfx;            /* set name suffix */
	const char *type;           /* set element type */
	struct prefix_set overlay, local, exclude, tunaddr;
};

/* Adds the members of `in` of family af, as networks (or hosts). */
static int
norm_set(const struct prefix_set *in, int af, int hosts, struct prefix_set *out)
{
	struct prefix p;
	size_t i;
	int r;

	for (i = 0; in && i < in->n; i++) {
		if (in->v[i].family != af)
			continue;
		p = in->v[i];
		if (hosts)
			p.len = (uint8_t)(prefix_addrlen(&p) * 8);
		prefix_network(&p, &p);
		if ((r = prefix_set_add(out, &p)) < 0)
			return r;
	}
	prefix_set_merge(out);
	return 0;
}

static int
fam_init(struct fam *f, int af, const struct nc_nft_spec *s)
{
	int r;

	memset(f, 0, sizeof(*f));
	f->af = af;
	f->ip = af == AF_INET ? "ip" : "ip6";
	f->sfx = af == AF_INET ? "4" : "6";
	f->type = af == AF_INET ? "ipv4_addr" : "ipv6_addr";
	if ((r = norm_set(s->overlay, af, 0, &f->overlay)) < 0 ||
	    (r = norm_set(s->local_subnets, af, 0, &f->local)) < 0 ||
	    (r = norm_set(s->exclude, af, 0, &f->exclude)) < 0 ||
	    (r = norm_set(s->tun_addrs, af, 1, &f->tunaddr)) < 0)
		return r;
	return 0;
}

static void
fam_free(struct fam *f)
{
	prefix_set_free(&f->overlay);
	prefix_set_free(&f->local);
	prefix_set_free(&f->exclude);
	prefix_set_free(&f->tunaddr);
}

/* nft list separates the blocks of a table with an empty line. */
static const char *
sep(const struct buf *o)
{
	return o->len >= 2 && o->data[o->len - 2] == '}' ? "\n" : "";
}

/*
 * Element separators as nft prints them (calculate_delim() in nftables'
 * expression.c): IPv4 addresses two to a line, IPv6 one to a line.
 */
static const char *
elem_sep(int af, size_t i)
{
	if (i == 0)
		return "";
	if (af == AF_INET && i % 2)
		return ", ";
	return ",\n\t\t\t     ";
}

/* A full-length prefix prints as a bare address, as nft lists it. */
static const char *
elem_fmt(const struct prefix *p, char *b, size_t len)
{
	if (p->len == prefix_addrlen(p) * 8)
		return prefix_addr_fmt(p, b, len);
	return prefix_fmt(p, b, len);
}

/*
 * Every set is an interval set: the kernel keeps those sorted, so nft lists
 * the elements in our (sorted) order and the listing equals the rendering.
 */
static int
emit_set(struct buf *o, const struct fam *f, const char *name,
    const struct prefix_set *s)
{
	char pb[PREFIX_STRLEN];
	size_t i;
	int r;

	if (s->n == 0)
		return 0;
	r = buf_printf(o, "%s\tset %s%s {\n\t\ttype %s\n\t\tflags interval\n"
	    "\t\telements = { ", sep(o), name, f->sfx, f->type);
	for (i = 0; r == 0 && i < s->n; i++)
		r = buf_printf(o, "%s%s", elem_sep(f->af, i), elem_fmt(&s->v[i], pb, sizeof(pb)));
	if (r == 0)
		r = buf_puts(o, " }\n\t}\n");
	return r;
}

static int
emit_sets(struct buf *o, const struct fam *f)
{
	int r;

	if ((r = emit_set(o, f, "overlay", &f->overlay)) < 0 ||
	    (r = emit_set(o, f, "local", &f->local)) < 0 ||
	    (r = emit_set(o, f, "exclude", &f->exclude)) < 0 ||
	    (r = emit_set(o, f, "tunaddr", &f->tunaddr)) < 0)
		return r;
	return 0;
}

static int
emit_forward(struct buf *o, const struct nc_nft_spec *s, const struct fam *fams)
{
	const char *t = s->tun_if, *l = s->lan_if;
	const struct fam *f;
	int r, i;

	r = buf_printf(o, "%s\tchain forward {\n\t\ttype filter hook forward priority filter; "
	    "policy accept;\n", sep(o));
	/* Clamp both directions: the tunnel's MTU is the smaller one. */
	if (r == 0 && s->mss_clamp)
		r = buf_printf(o, "\t\tiifname \"%s\" oifname \"%s\" tcp flags syn "
		    "tcp option maxseg size set rt mtu " MARK "\n"
		    "\t\tiifname \"%s\" oifname \"%s\" tcp flags syn "
		    "tcp option maxseg size set rt mtu " MARK "\n", t, l, l, t);
	for (i = 0; r == 0 && i < 2; i++) {
		f = &fams[i];
		if (f->overlay.n == 0)
			continue;
		if (s->egress)
			r = buf_printf(o, "\t\tiifname \"%s\" oifname \"%s\" %s saddr @overlay%s "
			    "accept " MARK "\n", t, l, f->ip, f->sfx);
		else if (f->local.n)
			r = buf_printf(o, "\t\tiifname \"%s\" oifname \"%s\" %s saddr @overlay%s "
			    "%s daddr @local%s accept " MARK "\n", t, l, f->ip, f->sfx,
			    f->ip, f->sfx);
		if (r == 0)
			r = buf_printf(o, "\t\tiifname \"%s\" oifname \"%s\" %s daddr @overlay%s "
			    "accept " MARK "\n", l, t, f->ip, f->sfx);
	}
	if (r == 0)
		r = buf_puts(o, "\t}\n");
	return r;
}

static int
emit_postrouting(struct buf *o, const struct nc_nft_spec *s, const struct fam *fams)
{
	const char *l = s->lan_if;
	const struct fam *f;
	int r, i;

	r = buf_printf(o, "%s\tchain postrouting {\n\t\ttype nat hook postrouting priority "
	    "srcnat; policy accept;\n", sep(o));
	/* Port-forwarded flows: the target must answer through us. */
	if (r == 0 && s->n_fwds)
		r = buf_printf(o, "\t\tiifname \"%s\" oifname \"%s\" ct status dnat "
		    "masquerade " MARK "\n", s->tun_if, l);
	for (i = 0; r == 0 && i < 2; i++) {
		f = &fams[i];
		/* Egress NATs regardless of masquerade: the internet has no
		 * route back to the overlay. */
		if (f->overlay.n == 0 || !(s->egress || (s->masquerade && f->local.n)))
			continue;
		if (f->exclude.n)
			r = buf_printf(o, "\t\toifname \"%s\" %s saddr @overlay%s %s daddr "
			    "@exclude%s return " MARK "\n", l, f->ip, f->sfx, f->ip, f->sfx);
		if (r == 0 && s->egress)
			r = buf_printf(o, "\t\toifname \"%s\" %s saddr @overlay%s masquerade "
			    MARK "\n", l, f->ip, f->sfx);
		else if (r == 0)
			r = buf_printf(o, "\t\toifname \"%s\" %s saddr @overlay%s %s daddr "
			    "@local%s masquerade " MARK "\n", l, f->ip, f->sfx, f->ip, f->sfx);
	}
	if (r == 0)
		r = buf_puts(o, "\t}\n");
	return r;
}

static int
emit_fwd(struct buf *o, const struct nc_nft_spec *s, const struct fam *f,
    const struct nc_portfwd *pf)
{
	const char *proto = pf->proto == IPPROTO_TCP ? "tcp" : "udp";
	char a[PREFIX_STRLEN], to[PREFIX_STRLEN + 8];

	/* Forwards listen on the connector's own tunnel addresses only. */
	if (f->tunaddr.n == 0) {
		log_debug("port forward %s/%u: no %s tunnel address, skipped", proto,
		    pf->port, f->ip);
		return 0;
	}
	prefix_addr_fmt(&pf->to, a, sizeof(a));
	if (pf->to_port == 0)
		snprintf(to, sizeof(to), "%s", a);
	else if (f->af == AF_INET6)
		snprintf(to, sizeof(to), "[%s]:%u", a, pf->to_port);
	else
		snprintf(to, sizeof(to), "%s:%u", a, pf->to_port);
	return buf_printf(o, "\t\tiifname \"%s\" %s daddr @tunaddr%s %s dport %u "
	    "dnat %s to %s " MARK "\n", s->tun_if, f->ip, f->sfx, proto, pf->port,
	    f->ip, to);
}

static int
emit_prerouting(struct buf *o, const struct nc_nft_spec *s, const struct fam *fams)
{
	size_t i;
	int r;

	r = buf_printf(o, "%s\tchain prerouting {\n\t\ttype nat hook prerouting priority "
	    "dstnat; policy accept;\n", sep(o));
	for (i = 0; r == 0 && i < s->n_fwds; i++)
		r = emit_fwd(o, s, &fams[s->fwds[i].to.family == AF_INET ? 0 : 1],
		    &s->fwds[i]);
	if (r == 0)
		r = buf_puts(o, "\t}\n");
	return r;
}

static int
spec_check(const struct nc_nft_spec *s)
{
	size_t i;

	if (nc_ifname_check(s->lan_if) < 0 || nc_ifname_check(s->tun_if) < 0)
		return -EINVAL;
	if (s->n_fwds && s->fwds == NULL)
		goto bad;
	for (i = 0; i < s->n_fwds; i++) {
		const struct nc_portfwd *pf = &s->fwds[i];
		if ((pf->proto != IPPROTO_TCP && pf->proto != IPPROTO_UDP) || pf->port == 0 ||
		    (pf->to.family != AF_INET && pf->to.family != AF_INET6))
			goto bad;
	}
	return 0;
bad:
	nc_set_error("nft render: invalid port forward");
	return -EINVAL;
}

int
nc_nft_render(const struct nc_nft_spec *spec, struct buf *out)
{
	struct fam fams[2];
	int r;

	memset(fams, 0, sizeof(fams));
	if ((r = spec_check(spec)) < 0)
		return r;
	if ((r = fam_init(&fams[0], AF_INET, spec)) < 0 ||
	    (r = fam_init(&fams[1], AF_INET6, spec)) < 0)
		goto out;
	r = buf_puts(out, "table inet " NC_NFT_TABLE " {\n");
	if (r == 0)
		r = emit_sets(out, &fams[0]);
	if (r == 0)
		r = emit_sets(out, &fams[1]);
	if (r == 0)
		r = emit_forward(out, spec, fams);
	if (r == 0)
		r = emit_postrouting(out, spec, fams);
	if (r == 0)
		r = emit_prerouting(out, spec, fams);
	if (r == 0)
		r = buf_puts(out, "}\n");
out:
	if (r < 0 && r != -EINVAL)
		nc_fail(r, "nft render");
	fam_free(&fams[0]);
	fam_free(&fams[1]);
	return r;
}
