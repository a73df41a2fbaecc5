/* keymap: insert, duplicate, lookup, growth across many keys, prefix keys. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/keymap.h"

static void
test_basic(void **state)
{
	struct keymap m;
	uint32_t v = 0;

	(void)state;
	assert_int_equal(keymap_init(&m, 0), 0);
	assert_int_equal(keymap_get(&m, "a", 1, &v), 0);
	assert_int_equal(keymap_put(&m, "alice", 5, 7, NULL), 0);
	assert_int_equal(keymap_put(&m, "alice", 5, 9, &v), 1);
	assert_int_equal(v, 7);                     /* the first value stays */
	assert_int_equal(keymap_put(&m, "alic", 4, 8, NULL), 0);   /* a prefix of a key */
	assert_int_equal(keymap_get(&m, "alice", 5, &v), 1);
	assert_int_equal(v, 7);
	assert_int_equal(keymap_set(&m, "alice", 5, 11), 0);
	assert_int_equal(keymap_get(&m, "alice", 5, &v), 1);
	assert_int_equal(v, 11);
	assert_int_equal(keymap_set(&m, "bob", 3, 1), -ENOENT);
	assert_int_equal(keymap_put(&m, "", 0, 1, NULL), -EINVAL);
	{
		char big[KEYMAP_KEY_MAX + 1];
		memset(big, 'x', sizeof(big));
		assert_int_equal(keymap_put(&m, big, sizeof(big), 1, NULL), -EINVAL);
		assert_int_equal(keymap_put(&m, big, KEYMAP_KEY_MAX, 1, NULL), 0);
	}
	keymap_free(&m);
	/* a map whose init failed (or was never done) refuses, never crashes */
	memset(&m, 0, sizeof(m));
	assert_int_equal(keymap_put(&m, "a", 1, 1, NULL), -ENOMEM);
	assert_int_equal(keymap_get(&m, "a", 1, &v), 0);
	keymap_free(&m);
}

static void
test_many(void **state)
{
	struct keymap m;
	uint8_t key[32];
	uint32_t i, v;

	(void)state;
	assert_int_equal(keymap_init(&m, 4), 0);     /* grows many times */
	for (i = 0; i < 20000; i++) {
		memset(key, 0, sizeof(key));
		memcpy(key, &i, sizeof(i));
		assert_int_equal(keymap_put(&m, key, 32, i * 3, NULL), 0);
	}
	for (i = 0; i < 20000; i++) {
		memset(key, 0, sizeof(key));
		memcpy(key, &i, sizeof(i));
		assert_int_equal(keymap_get(&m, key, 32, &v), 1);
		assert_int_equal(v, i * 3);
	}
	key[31] = 1;
	assert_int_equal(keymap_get(&m, key, 32, &v), 0);
	keymap_free(&m);
}

static void
test_prefix_keys(void **state)
{
	static const char *in[] = { "10.0.0.0/24", "10.0.0.0/25", "fd00::/24", "10.0.0.0/24",
		"::/0", "0.0.0.0/0" };
	static const int dup[] = { 0, 0, 0, 1, 0, 0 };
	struct keymap m;
	struct prefix p;
	uint8_t k[18];
	size_t i;

	(void)state;
	assert_int_equal(keymap_init(&m, 0), 0);
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(prefix_parse(in[i], &p, 0), 0);
		assert_int_equal(keymap_put(&m, k, keymap_prefix_key(&p, k), (uint32_t)i, NULL),
		    dup[i]);
	}
	keymap_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_prefix_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
