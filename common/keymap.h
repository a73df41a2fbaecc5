/*
 * A map from short byte strings (public keys, prefixes, names up to
 * KEYMAP_KEY_MAX bytes) to uint32 indexes into the caller's array, for the
 * places that match thousands of peers against each other (config checks,
 * desired-state composition, peer groups): linear scans there made a
 * 10,000-peer reload take seconds.  Open addressing, linear probing, grown at
 * half full; the hash is seeded per map from getrandom so keys a remote site
 * chooses cannot be made to collide on purpose.  No deletion.
 */
#ifndef CR_KEYMAP_H
#define CR_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

#include "prefix.h"

#define KEYMAP_KEY_MAX 64

struct keymap_slot;

struct keymap {
	struct keymap_slot *slot;
	size_t cap, n;
	uint64_t seed;
};

/* 0 or -ENOMEM; expect: the number of keys foreseen (0 is fine). */
int keymap_init(struct keymap *m, size_t expect);
void keymap_free(struct keymap *m);
/* Inserts key -> val, or, when the key is there already, leaves it and
 * returns 1 with *old (if not NULL) set to its value.  0 when inserted,
 * -EINVAL for an empty or too long key, -ENOMEM. */
int keymap_put(struct keymap *m, const void *key, size_t len, uint32_t val, uint32_t *old);
/* 1 and *val when present, else 0. */
int keymap_get(const struct keymap *m, const void *key, size_t len, uint32_t *val);
/* Sets the value of a key that is present; 0, or -ENOENT. */
int keymap_set(struct keymap *m, const void *key, size_t len, uint32_t val);

/* A prefix's canonical key (family, length, address bytes): equal keys
 * exactly when prefix_equal().  Returns the key's length. */
size_t keymap_prefix_key(const struct prefix *p, uint8_t out[18]);
/* String keys: keymap_put(m, s, strlen(s), ...). */

#endif
