/*
 * Cryptokey routing table (whitepaper §3): a path-compressed binary trie per
 * address family mapping prefixes to peers, looked up by longest prefix
 * match.  The send path looks up a packet's destination to pick the peer;
 * the receive path looks up the inner source to check it belongs to the peer
 * that sent it.
 *
 * Each node holds a prefix (key, bits) and optionally a peer; a node's
 * children extend its prefix by the bit at position `bits`.  Nodes without a
 * peer exist only where two prefixes diverge, and are pruned when removal
 * leaves them with fewer than two children.  The nodes holding a peer are
 * also on that peer's list (peer->ai_nodes), so removing or listing one
 * peer's prefixes walks its own nodes, not the table: with 10,000 peers a
 * reload stays linear.
 *
 * Not locked: writers hold dev->lock for writing, readers for reading.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_internal.h"

struct ai_node {
	struct ai_node *child[2];
	struct dp_peer *peer;
	struct ai_node *pnext, **ppprev;     /* the peer's list, when peer != NULL */
	uint8_t key[16];
	uint8_t bits;
	uint8_t v6;
};

static void
owner_set(struct ai_node *n, struct dp_peer *peer)
{
	if (n->peer != NULL) {
		*n->ppprev = n->pnext;
		if (n->pnext != NULL)
			n->pnext->ppprev = n->ppprev;
		n->pnext = NULL;
		n->ppprev = NULL;
	}
	n->peer = peer;
	if (peer != NULL) {
		n->pnext = peer->ai_nodes;
		if (n->pnext != NULL)
			n->pnext->ppprev = &n->pnext;
		n->ppprev = &peer->ai_nodes;
		peer->ai_nodes = n;
	}
}

void
ai_init(struct allowedips *t)
{
	t->root4 = t->root6 = NULL;
}

static void
free_tree(struct ai_node *n)
{
	if (n == NULL)
		return;
	free_tree(n->child[0]);
	free_tree(n->child[1]);
	owner_set(n, NULL);
	free(n);
}

void
ai_free(struct allowedips *t)
{
	free_tree(t->root4);
	free_tree(t->root6);
	t->root4 = t->root6 = NULL;
}

static inline unsigned int
bit_at(const uint8_t *key, unsigned int i)
{
	return (key[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Number of leading bits a and b share, at most max. */
static unsigned int
common_bits(const uint8_t *a, const uint8_t *b, unsigned int max)
{
	unsigned int i = 0;

	while (i + 8 <= max && a[i >> 3] == b[i >> 3])
		i += 8;
	if (i < max) {
		uint8_t x = a[i >> 3] ^ b[i >> 3];
		unsigned int lead = x ? (unsigned int)__builtin_clz((unsigned int)x) - 24 : 8;
		i += lead;
	}
	return i < max ? i : max;
}

/* a prefix of `bits` bits of key matches addr */
static inline int
prefix_matches(const uint8_t *key, unsigned int bits, const uint8_t *addr)
{
	unsigned int full = bits >> 3, rem = bits & 7;

	if (memcmp(key, addr, full) != 0)
		return 0;
	if (rem == 0)
		return 1;
	return ((key[full] ^ addr[full]) & (uint8_t)(0xff00 >> rem)) == 0;
}

static struct ai_node *
node_new(const uint8_t *key, unsigned int bits, size_t alen, struct dp_peer *peer)
{
	struct ai_node *n = calloc(1, sizeof(*n));
	unsigned int full = bits >> 3, rem = bits & 7;

	if (n == NULL)
		return NULL;
	memcpy(n->key, key, alen);
	/* keep only the prefix bits so that listing gives clean networks */
	if (full < alen) {
		if (rem)
			n->key[full] &= (uint8_t)(0xff00 >> rem);
		memset(n->key + full + (rem ? 1 : 0), 0, alen - full - (rem ? 1 : 0));
	}
	n->bits = (uint8_t)bits;
	n->v6 = alen == 16;
	owner_set(n, peer);
	return n;
}

static int
insert(struct ai_node **slot, const uint8_t *key, unsigned int bits, size_t alen,
    struct dp_peer *peer)
{
	struct ai_node *n, *nn, *inner;
	unsigned int common;

	for (;;) {
		n = *slot;
		if (n == NULL) {
			if ((*slot = node_new(key, bits, alen, peer)) == NULL)
				return -ENOMEM;
			return 0;
		}
		common = common_bits(n->key, key, bits < n->bits ? bits : n->bits);
		if (common == n->bits && n->bits == bits) {
			if (n->peer != peer)
				owner_set(n, peer);
			return 0;
		}
		if (common == n->bits) {
			/* n is a strict prefix of the new one: descend */
			slot = &n->child[bit_at(key, n->bits)];
			continue;
		}
		if (common == bits) {
			/* the new prefix contains n: put it above */
			if ((nn = node_new(key, bits, alen, peer)) == NULL)
				return -ENOMEM;
			nn->child[bit_at(n->key, bits)] = n;
			*slot = nn;
			return 0;
		}
		/* they diverge at bit `common`: a branching node without peer */
		if ((nn = node_new(key, bits, alen, peer)) == NULL)
			return -ENOMEM;
		if ((inner = node_new(key, common, alen, NULL)) == NULL) {
			owner_set(nn, NULL);
			free(nn);
			return -ENOMEM;
		}
		inner->child[bit_at(key, common)] = nn;
		inner->child[bit_at(n->key, common)] = n;
		*slot = inner;
		return 0;
	}
}

int
ai_insert(struct allowedips *t, const struct prefix *p, struct dp_peer *peer)
{
	if (p->family == AF_INET && p->len <= 32)
		return insert(&t->root4, p->addr, p->len, 4, peer);
	if (p->family == AF_INET6 && p->len <= 128)
		return insert(&t->root6, p->addr, p->len, 16, peer);
	return -EINVAL;
}

/* Removes one exact prefix of peer's on the path to it, and the nodes left
 * without a peer and with fewer than two children. */
static struct ai_node *
prune(struct ai_node *n, const struct dp_peer *peer, const uint8_t *key, unsigned int bits)
{
	struct ai_node *c;

	if (n == NULL || n->bits > bits || !prefix_matches(n->key, n->bits, key))
		return n;
	if (n->bits == bits) {
		if (n->peer == peer)
			owner_set(n, NULL);
	} else {
		unsigned int b = bit_at(key, n->bits);
		n->child[b] = prune(n->child[b], peer, key, bits);
	}
	if (n->peer != NULL || (n->child[0] != NULL && n->child[1] != NULL))
		return n;
	c = n->child[0] != NULL ? n->child[0] : n->child[1];
	free(n);
	return c;
}

void
ai_remove(struct allowedips *t, const struct prefix *p, const struct dp_peer *peer)
{
	if (p->family == AF_INET && p->len <= 32)
		t->root4 = prune(t->root4, peer, p->addr, p->len);
	else if (p->family == AF_INET6 && p->len <= 128)
		t->root6 = prune(t->root6, peer, p->addr, p->len);
}

static void
node_prefix(const struct ai_node *n, struct prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = n->v6 ? AF_INET6 : AF_INET;
	p->len = n->bits;
	memcpy(p->addr, n->key, n->v6 ? 16 : 4);
}

/* Each removal takes the head of the peer's list off it. */
void
ai_remove_peer(struct allowedips *t, const struct dp_peer *peer)
{
	struct prefix p;

	while (peer->ai_nodes != NULL) {
		node_prefix(peer->ai_nodes, &p);
		ai_remove(t, &p, peer);
	}
}

struct dp_peer *
ai_lookup(const struct allowedips *t, int family, const uint8_t *addr)
{
	const struct ai_node *n;
	struct dp_peer *best = NULL;
	unsigned int max;

	if (family == AF_INET) {
		n = t->root4;
		max = 32;
	} else if (family == AF_INET6) {
		n = t->root6;
		max = 128;
	} else {
		return NULL;
	}
	while (n != NULL && prefix_matches(n->key, n->bits, addr)) {
		if (n->peer != NULL)
			best = n->peer;
		if (n->bits >= max)
			break;
		n = n->child[bit_at(addr, n->bits)];
	}
	return best;
}

/* In the order they were added (the list has the newest first). */
size_t
ai_list(const struct allowedips *t, const struct dp_peer *peer, struct prefix *out,
    size_t max)
{
	const struct ai_node *n;
	size_t count = 0, i;

	(void)t;
	for (n = peer->ai_nodes; n != NULL; n = n->pnext)
		count++;
	i = count;
	for (n = peer->ai_nodes; n != NULL; n = n->pnext)
		if (--i < max)
			node_prefix(n, &out[i]);
	return count;
}
