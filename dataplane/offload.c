/*
 * TSO/USO segmentation (send side) and TCP coalescing (receive side) for a
 * TUN device with IFF_VNET_HDR; see offload.h for the contract.
 *
 * Segmentation follows what the kernel's own GSO does for a TSO skb
 * (net/ipv4/tcp_offload.c, net/ipv4/udp_offload.c): every segment gets the
 * super-packet's headers with its own IP length, IPv4 ID (incremented per
 * segment), TCP sequence number, FIN/PSH only on the last segment and CWR
 * only on the first, and full IPv4 header and TCP/UDP checksums.
 *
 * Coalescing merges a run of TCP segments of one flow when (as in
 * tcp_gro_receive) they continue each other's sequence numbers, carry the
 * same IP header fields, ACK number, window and TCP options, have ACK as
 * their only flag (PSH allowed on the last one), no IPv4 options or
 * fragmentation, and every segment but the last is as long as the first.
 * Only the newest group of a flow may grow, so no flow is ever reordered.
 * Checksums are not verified: the packets were authenticated by the tunnel,
 * so what the peer's stack summed is what arrived, and they go to the kernel
 * marked as verified (the kernel's WireGuard sets CHECKSUM_UNNECESSARY on
 * decrypted packets for the same reason).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/offload.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
#define GRO_END UINT32_MAX
#define GRO_SEARCH 16          /* groups looked back at for a flow's newest */

enum { K_PLAIN, K_CSUM, K_TCP, K_UDP };

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* A checksum in native order, stored as it was summed (RFC 1071 §2(B)). */
static void
put_csum(uint8_t *p, uint16_t native)
{
	memcpy(p, &native, sizeof(native));
}

/*
 * Native-order words of any width sum to the same one's complement result
 * (2^16 = 1 mod 0xffff), so 64-bit words are added with their carries
 * kept in the upper half of a 128-bit accumulator: about one word per cycle.
 */
uint64_t
dp_csum_add(uint64_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t v;
	uint16_t h;
#ifdef __SIZEOF_INT128__
	unsigned __int128 a = sum, b = 0;
	uint64_t w0, w1, lo, hi;

	for (; len >= 16; p += 16, len -= 16) {
		memcpy(&w0, p, sizeof(w0));
		memcpy(&w1, p + 8, sizeof(w1));
		a += w0;
		b += w1;
	}
	a += b;
	lo = (uint64_t)a;
	hi = (uint64_t)(a >> 64);
	sum = lo + hi;
	sum += sum < lo;                 /* end-around carry */
	sum = (sum & 0xffffffffu) + (sum >> 32);
#else
	uint64_t w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, sizeof(w));
		sum += (w & 0xffffffffu) + (w >> 32);
	}
#endif
	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&v, p, sizeof(v));
		sum += v;
	}
	if (len >= 2) {
		memcpy(&h, p, sizeof(h));
		sum += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		h = 0;
		memcpy(&h, p, 1);      /* the odd byte, padded with a zero byte */
		sum += h;
	}
	return sum;
}

uint16_t
dp_csum_fold(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The TCP/UDP pseudo-header of an IPv4 or IPv6 packet (RFC 793, RFC 8200 §8.1). */
static uint64_t
pseudo(const uint8_t *ip, int v6, uint8_t proto, size_t l4len)
{
	uint64_t s = v6 ? dp_csum_add(0, ip + 8, 32) : dp_csum_add(0, ip + 12, 8);

	return s + htons(proto) + htons((uint16_t)l4len);
}

static void
ipv4_csum(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 15) * 4;

	ip[10] = ip[11] = 0;
	put_csum(ip + 10, (uint16_t)~dp_csum_fold(dp_csum_add(0, ip, ihl)));
}

/* ---- send side -------------------------------------------------------------- */

/* Transport header length for a GSO packet; 0 if the header is inconsistent. */
static size_t
gso_hdr_len(const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len, int v6,
    int *kind)
{
	size_t ipl = v6 ? 40 : (size_t)(pkt[0] & 15) * 4;
	size_t cs = vh->csum_start, doff;
	uint8_t type = vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	uint8_t proto = type == VIRTIO_NET_HDR_GSO_UDP_L4 ? 17 : 6;

	if (ipl < 20 || len < ipl || cs < ipl || !(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	if ((type == VIRTIO_NET_HDR_GSO_TCPV4 && v6) || (type == VIRTIO_NET_HDR_GSO_TCPV6 && !v6))
		return 0;
	if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6 &&
	    type != VIRTIO_NET_HDR_GSO_UDP_L4)
		return 0;
	if ((!v6 && pkt[9] != proto) || (v6 && cs == 40 && pkt[6] != proto))
		return 0;
	if (proto == 17) {
		*kind = K_UDP;
		return vh->csum_offset == 6 && cs + 8 <= len ? cs + 8 : 0;
	}
	*kind = K_TCP;
	if (vh->csum_offset != 16 || cs + 20 > len)
		return 0;
	doff = (size_t)(pkt[cs + 12] >> 4) * 4;
	return doff >= 20 && cs + doff <= len ? cs + doff : 0;
}

int
dp_gso_init(struct dp_gso *g, const struct virtio_net_hdr *vh, const uint8_t *pkt,
    size_t len)
{
	uint8_t ver;

	memset(g, 0, sizeof(*g));
	g->pkt = pkt;
	g->len = len;
	g->kind = K_PLAIN;
	if (vh == NULL || (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE &&
	    !(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
		return 0;
	if (len < 20)
		return -EINVAL;
	ver = pkt[0] >> 4;
	if (ver != 4 && ver != 6)
		return -EINVAL;
	g->v6 = ver == 6;
	if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		/* a single packet whose checksum the kernel left to us */
		if ((size_t)vh->csum_start + vh->csum_offset + 2 > len)
			return -EINVAL;
		g->kind = K_CSUM;
		g->l4off = vh->csum_start;
		g->csum_off = vh->csum_offset;
		return 0;
	}
	if ((g->hdr_len = gso_hdr_len(vh, pkt, len, g->v6, &g->kind)) == 0 ||
	    vh->gso_size == 0)
		return -EINVAL;
	g->l4off = vh->csum_start;
	g->csum_off = vh->csum_offset;
	g->gso_size = vh->gso_size;
	g->off = g->hdr_len;
	return 0;
}

size_t
dp_gso_next_len(const struct dp_gso *g)
{
	size_t rest;

	if (g->kind == K_PLAIN || g->kind == K_CSUM)
		return g->idx == 0 ? g->len : 0;
	if (g->idx > 0 && g->off >= g->len)
		return 0;
	rest = g->len - g->off;
	return g->hdr_len + (rest < g->gso_size ? rest : g->gso_size);
}

/* Completes the transport checksum of out (n bytes) from scratch. */
static void
l4_csum(struct dp_gso *g, uint8_t *out, size_t n, uint8_t proto)
{
	uint8_t *l4 = out + g->l4off;
	size_t l4len = n - g->l4off;
	uint16_t c;

	l4[g->csum_off] = l4[g->csum_off + 1] = 0;
	c = (uint16_t)~dp_csum_fold(pseudo(out, g->v6, proto, l4len) + dp_csum_add(0, l4, l4len));
	if (proto == 17 && c == 0)
		c = 0xffff;            /* RFC 768: zero means "no checksum" */
	put_csum(l4 + g->csum_off, c);
}

static size_t
gso_segment(struct dp_gso *g, uint8_t *out, size_t n)
{
	size_t seg = n - g->hdr_len;
	int last = g->off + seg >= g->len;
	uint8_t *l4 = out + g->l4off;

	memcpy(out, g->pkt, g->hdr_len);
	memcpy(out + g->hdr_len, g->pkt + g->off, seg);
	if (g->v6) {
		put16(out + 4, (uint16_t)(n - 40));
	} else {
		put16(out + 2, (uint16_t)n);
		put16(out + 4, (uint16_t)(get16(g->pkt + 4) + g->idx));
		ipv4_csum(out);
	}
	if (g->kind == K_TCP) {
		put32(l4 + 4, get32(g->pkt + g->l4off + 4) + (uint32_t)(g->off - g->hdr_len));
		if (!last)
			l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		if (g->idx > 0)
			l4[13] &= (uint8_t)~TCP_CWR;
		l4_csum(g, out, n, 6);
	} else {
		put16(l4 + 4, (uint16_t)(n - g->l4off));
		l4_csum(g, out, n, 17);
	}
	g->off += seg;
	g->idx++;
	return n;
}

size_t
dp_gso_next(struct dp_gso *g, uint8_t *out)
{
	size_t n = dp_gso_next_len(g);
	uint16_t c;

	if (n == 0)
		return 0;
	if (g->kind == K_TCP || g->kind == K_UDP)
		return gso_segment(g, out, n);
	memcpy(out, g->pkt, n);
	if (g->kind == K_CSUM) {
		/* the field holds the pseudo-header sum: sum on from csum_start */
		c = (uint16_t)~dp_csum_fold(dp_csum_add(0, out + g->l4off, n - g->l4off));
		put_csum(out + g->l4off + g->csum_off, c ? c : 0xffff);
	}
	g->idx++;
	return n;
}

/* ---- receive side ----------------------------------------------------------- */

struct dp_gro_flow {
	uint8_t tcp;            /* has a TCP flow key */
	uint8_t mergeable;      /* may be part of a merged packet */
	uint8_t v6, psh, closed;
	uint16_t l4off, hdr_len, plen;
	uint32_t seq;
	/* group state, valid in a group's head */
	uint32_t next_seq, total;
	uint16_t gso, nseg;
	unsigned int tail;
};

int
dp_gro_init(struct dp_gro *g)
{
	memset(g, 0, sizeof(*g));
	g->info = calloc(DP_GRO_MAX_PKTS, sizeof(*g->info));
	g->next = calloc(DP_GRO_MAX_PKTS, sizeof(*g->next));
	g->group = calloc(DP_GRO_MAX_PKTS, sizeof(*g->group));
	if (g->info == NULL || g->next == NULL || g->group == NULL) {
		dp_gro_free(g);
		return -ENOMEM;
	}
	return 0;
}

void
dp_gro_free(struct dp_gro *g)
{
	free(g->info);
	free(g->next);
	free(g->group);
	g->info = NULL;
	g->next = NULL;
	g->group = NULL;
}

static void
gro_parse(const uint8_t *d, size_t len, struct dp_gro_flow *f)
{
	size_t l4off, doff;
	uint8_t flags;

	memset(f, 0, sizeof(*f));
	if (len >= 20 && (d[0] >> 4) == 4 && d[9] == 6) {
		l4off = (size_t)(d[0] & 15) * 4;
	} else if (len >= 40 && (d[0] >> 4) == 6 && d[6] == 6) {
		l4off = 40;
		f->v6 = 1;
	} else {
		return;
	}
	if (l4off < 20 || l4off + 20 > len)
		return;
	doff = (size_t)(d[l4off + 12] >> 4) * 4;
	if (doff < 20 || l4off + doff > len || len > DP_GRO_MAX_LEN)
		return;
	f->tcp = 1;
	f->l4off = (uint16_t)l4off;
	f->hdr_len = (uint16_t)(l4off + doff);
	f->plen = (uint16_t)(len - f->hdr_len);
	f->seq = get32(d + l4off + 4);
	flags = d[l4off + 13];
	f->psh = (flags & TCP_PSH) != 0;
	if (f->plen == 0 || (flags & (uint8_t)~TCP_PSH) != TCP_ACK)
		return;
	if (!f->v6 && (l4off != 20 || (get16(d + 6) & 0x3fff) != 0))
		return;                /* IPv4 options or a fragment */
	f->mergeable = 1;
}

static int
same_flow(const struct dp_gro_pkt *a, const struct dp_gro_flow *fa,
    const struct dp_gro_pkt *b, const struct dp_gro_flow *fb)
{
	if (!fa->tcp || !fb->tcp || fa->v6 != fb->v6)
		return 0;
	if (fa->v6 ? memcmp(a->data + 8, b->data + 8, 32) : memcmp(a->data + 12, b->data + 12, 8))
		return 0;
	return memcmp(a->data + fa->l4off, b->data + fb->l4off, 4) == 0;
}

/* May c follow the group headed by h (same flow)? */
static int
can_merge(const struct dp_gro_pkt *h, const struct dp_gro_flow *fh,
    const struct dp_gro_pkt *c, const struct dp_gro_flow *fc)
{
	const uint8_t *a = h->data, *b = c->data;
	const uint8_t *ta = a + fh->l4off, *tb = b + fc->l4off;

	if (fh->closed || !fh->mergeable || !fc->mergeable || fh->hdr_len != fc->hdr_len)
		return 0;
	if (fh->v6 ? memcmp(a, b, 4) != 0 || a[7] != b[7] :
	    memcmp(a, b, 2) != 0 || memcmp(a + 6, b + 6, 3) != 0)
		return 0;              /* version, TOS/class, flow label, DF, TTL */
	if (memcmp(ta + 8, tb + 8, 5) != 0 || memcmp(ta + 14, tb + 14, 2) != 0 ||
	    memcmp(ta + 20, tb + 20, (size_t)fh->hdr_len - fh->l4off - 20) != 0)
		return 0;              /* ACK number, data offset, window, options */
	if (fc->seq != fh->next_seq || fc->plen > fh->gso || fh->nseg >= DP_GRO_MAX_SEGS ||
	    (size_t)fh->hdr_len + fh->total + fc->plen > DP_GRO_MAX_LEN)
		return 0;
	return 1;
}

static void
group_start(struct dp_gro *g, unsigned int i, unsigned int *ng)
{
	struct dp_gro_flow *f = &g->info[i];

	g->group[(*ng)++] = i;
	g->next[i] = GRO_END;
	f->tail = i;
	f->nseg = 1;
	f->gso = f->plen;
	f->total = f->plen;
	f->next_seq = f->seq + f->plen;
	f->closed = !f->mergeable || f->psh;
}

static void
group_add(struct dp_gro *g, unsigned int head, unsigned int i)
{
	struct dp_gro_flow *fh = &g->info[head], *fc = &g->info[i];

	g->next[fh->tail] = i;
	g->next[i] = GRO_END;
	fh->tail = i;
	fh->nseg++;
	fh->total += fc->plen;
	fh->next_seq += fc->plen;
	fh->psh = fc->psh;
	if (fc->psh || fc->plen < fh->gso)
		fh->closed = 1;
}

/* Rewrites the head of a merged group and emits it with its members' payloads. */
static void
group_emit(struct dp_gro *g, struct dp_gro_pkt *pkts, unsigned int head,
    dp_gro_emit_fn emit, void *ctx)
{
	struct dp_gro_flow *f = &g->info[head];
	uint8_t *d = pkts[head].data, *tcp = d + f->l4off;
	size_t tot = (size_t)f->hdr_len + f->total;
	struct virtio_net_hdr vh;
	int n = 1;

	memset(&vh, 0, sizeof(vh));
	vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;    /* authenticated: see the top */
	if (f->nseg > 1) {
		if (f->v6) {
			put16(d + 4, (uint16_t)(tot - 40));
		} else {
			put16(d + 2, (uint16_t)tot);
			ipv4_csum(d);
		}
		if (f->psh)
			tcp[13] |= TCP_PSH;
		/* CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum */
		put_csum(tcp + 16, dp_csum_fold(pseudo(d, f->v6, 6, tot - f->l4off)));
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.gso_type = f->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
		vh.hdr_len = f->hdr_len;
		vh.gso_size = f->gso;
		vh.csum_start = f->l4off;
		vh.csum_offset = 16;
		for (unsigned int m = g->next[head]; m != GRO_END; m = g->next[m]) {
			g->iov[n].iov_base = pkts[m].data + g->info[m].hdr_len;
			g->iov[n].iov_len = g->info[m].plen;
			n++;
		}
	}
	memcpy(d - DP_VNET_HDR_LEN, &vh, sizeof(vh));
	g->iov[0].iov_base = d - DP_VNET_HDR_LEN;
	g->iov[0].iov_len = DP_VNET_HDR_LEN + pkts[head].len;
	emit(ctx, g->iov, n);
}

void
dp_gro_write(struct dp_gro *g, struct dp_gro_pkt *pkts, unsigned int n,
    dp_gro_emit_fn emit, void *ctx)
{
	unsigned int i, k, ng = 0;

	if (n > DP_GRO_MAX_PKTS)
		n = DP_GRO_MAX_PKTS;
	for (i = 0; i < n; i++) {
		struct dp_gro_flow *f = &g->info[i];

		gro_parse(pkts[i].data, pkts[i].len, f);
		if (f->tcp) {
			/* the newest group of this flow is the only candidate */
			for (k = ng; k-- > 0 && ng - k <= GRO_SEARCH;) {
				unsigned int h = g->group[k];
				if (!same_flow(&pkts[h], &g->info[h], &pkts[i], f))
					continue;
				if (can_merge(&pkts[h], &g->info[h], &pkts[i], f)) {
					group_add(g, h, i);
					goto next;
				}
				break;
			}
		}
		group_start(g, i, &ng);
next:;
	}
	for (k = 0; k < ng; k++)
		group_emit(g, pkts, g->group[k], emit, ctx);
}
