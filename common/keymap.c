/*
 * keymap: open addressing over SipHash-1-3 with a per-map random key (see
 * keymap.h).  Slots hold the key bytes themselves, so a lookup touches one
 * cache line in the common case and the caller's array may move (realloc)
 * without the map noticing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "keymap.h"

struct keymap_slot {
	uint8_t used, len;
	uint8_t key[KEYMAP_KEY_MAX];
	uint32_t val;
};

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
	do {                                                            \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                  \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                  \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

/* SipHash-1-3 keyed by (seed, ~seed). */
static uint64_t
siphash(uint64_t seed, const uint8_t *p, size_t len)
{
	uint64_t k0 = seed, k1 = ~seed, m, b = (uint64_t)len << 56;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static size_t
pow2_at_least(size_t n)
{
	size_t c = 16;

	while (c < n)
		c <<= 1;
	return c;
}

int
keymap_init(struct keymap *m, size_t expect)
{
	memset(m, 0, sizeof(*m));
	if (getrandom(&m->seed, sizeof(m->seed), 0) != sizeof(m->seed))
		m->seed = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ULL;
	m->cap = pow2_at_least(expect * 2);
	m->slot = calloc(m->cap, sizeof(*m->slot));
	return m->slot != NULL ? 0 : -ENOMEM;
}

void
keymap_free(struct keymap *m)
{
	free(m->slot);
	memset(m, 0, sizeof(*m));
}

/* The slot holding key, or the empty one where it would go. */
static struct keymap_slot *
find(const struct keymap *m, const void *key, size_t len)
{
	size_t i = (size_t)siphash(m->seed, key, len) & (m->cap - 1);

	for (;;) {
		struct keymap_slot *s = &m->slot[i];

		if (!s->used || (s->len == len && memcmp(s->key, key, len) == 0))
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

static int
grow(struct keymap *m)
{
	struct keymap n = *m;
	size_t i;

	n.cap = m->cap * 2;
	if ((n.slot = calloc(n.cap, sizeof(*n.slot))) == NULL)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++)
		if (m->slot[i].used)
			*find(&n, m->slot[i].key, m->slot[i].len) = m->slot[i];
	free(m->slot);
	*m = n;
	return 0;
}

int
keymap_put(struct keymap *m, const void *key, size_t len, uint32_t val, uint32_t *old)
{
	struct keymap_slot *s;
	int r;

	if (len == 0 || len > KEYMAP_KEY_MAX)
		return -EINVAL;
	if (m->slot == NULL)
		return -ENOMEM;         /* keymap_init failed */
	if ((m->n + 1) * 2 > m->cap && (r = grow(m)) < 0)
		return r;
	s = find(m, key, len);
	if (s->used) {
		if (old != NULL)
			*old = s->val;
		return 1;
	}
	s->used = 1;
	s->len = (uint8_t)len;
	memcpy(s->key, key, len);
	s->val = val;
	m->n++;
	return 0;
}

int
keymap_get(const struct keymap *m, const void *key, size_t len, uint32_t *val)
{
	const struct keymap_slot *s;

	if (m->slot == NULL || len == 0 || len > KEYMAP_KEY_MAX)
		return 0;
	s = find(m, key, len);
	if (!s->used)
		return 0;
	*val = s->val;
	return 1;
}

int
keymap_set(struct keymap *m, const void *key, size_t len, uint32_t val)
{
	struct keymap_slot *s;

	if (m->slot == NULL || len == 0 || len > KEYMAP_KEY_MAX)
		return -ENOENT;
	s = find(m, key, len);
	if (!s->used)
		return -ENOENT;
	s->val = val;
	return 0;
}

size_t
keymap_prefix_key(const struct prefix *p, uint8_t out[18])
{
	size_t n = prefix_addrlen(p);

	out[0] = p->family == AF_INET ? 4 : 6;
	out[1] = p->len;
	memcpy(out + 2, p->addr, n);
	return 2 + n;
}
