/*
 * What the provider unit tests (tests/unit/test_prov_*.c) share: the
 * fixture directory tests/unit/data/<cloud>/, reading a fixture into a
 * buffer, and a prefix from its text.  Include after <cmocka.h>.
 * Everything is static inline, so a test that uses only part of it
 * builds without unused-function warnings.
 */
#ifndef CLOUDROUTE_TESTS_PROV_TEST_H
#define CLOUDROUTE_TESTS_PROV_TEST_H

#include <libgen.h>
#include <stdio.h>

#include "common/prefix.h"
#include "common/util.h"

#define PROV_DATADIR_MAX 1024

static inline char *
prov_datadir(void)
{
	static char dir[PROV_DATADIR_MAX];

	return dir;
}

/* From main(): fixtures are in data/<sub> next to the test's source. */
static inline void
prov_set_datadir(const char *source_file, const char *sub)
{
	char src[PROV_DATADIR_MAX];

	cr_strlcpy(src, source_file, sizeof(src));
	snprintf(prov_datadir(), PROV_DATADIR_MAX, "%s/data/%s", dirname(src), sub);
}

/* The fixture file name, whole, into b (1 MiB at most); fails the test otherwise. */
static inline void
fixture(const char *name, struct buf *b)
{
	char path[PROV_DATADIR_MAX + 176];

	snprintf(path, sizeof(path), "%s/%s", prov_datadir(), name);
	buf_init(b, 1 << 20);
	if (file_read(path, 1 << 20, b) != 0)
		fail_msg("cannot read %s", path);
}

static inline struct prefix
P(const char *s)
{
	struct prefix p;

	if (prefix_parse(s, &p, 0) != 0)
		fail_msg("bad prefix %s", s);
	return p;
}

#endif
