/*
 * SigV4 against the AWS signature test suite (tests/unit/data/sigv4/, one
 * directory per case: canonical request, string to sign, signature and
 * Authorization header are each compared), plus RFC 3986 encoding and the
 * signing primitives.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/util.h"
#include "providers/sigv4.h"

static char datadir[1024];

static void
read_vec(const char *name, const char *file, struct buf *b)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/%s", datadir, name, file);
	buf_init(b, 1 << 20);
	if (file_read(path, 1 << 20, b) != 0)
		fail_msg("cannot read %s", path);
	if (b->data == NULL)
		buf_puts(b, "");
}

#define MAX_HDRS 16

struct vreq {
	char method[16];
	char path[256];
	char query[512];
	char names[MAX_HDRS][64];
	struct buf values[MAX_HDRS];
	struct http_header h[MAX_HDRS];
	size_t n;
	const char *body;
	size_t body_len;
};

/* request.txt: "METHOD URI HTTP/1.1", header lines (continuations start
 * with whitespace), blank line, body. */
static void
parse_request(char *s, struct vreq *r)
{
	char *line, *next, *sp, *last, *q, *colon;

	memset(r, 0, sizeof(*r));
	next = strchr(s, '\n');
	assert_non_null(next);
	*next++ = '\0';
	sp = strchr(s, ' ');
	last = strrchr(s, ' ');
	assert_true(sp != NULL && last != NULL && last > sp);
	*sp = *last = '\0';
	cr_strlcpy(r->method, s, sizeof(r->method));
	if ((q = strchr(sp + 1, '?')) != NULL) {
		*q = '\0';
		cr_strlcpy(r->query, q + 1, sizeof(r->query));
	}
	cr_strlcpy(r->path, sp + 1, sizeof(r->path));
	for (line = next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line == '\0')
			break;
		if (*line == ' ' || *line == '\t') {
			assert_true(r->n > 0);
			buf_printf(&r->values[r->n - 1], " %s", line);
			continue;
		}
		colon = strchr(line, ':');
		assert_non_null(colon);
		*colon = '\0';
		assert_true(r->n < MAX_HDRS);
		cr_strlcpy(r->names[r->n], line, sizeof(r->names[0]));
		buf_init(&r->values[r->n], 4096);
		buf_puts(&r->values[r->n], colon + 1);
		r->n++;
	}
	for (size_t i = 0; i < r->n; i++) {
		r->h[i].name = r->names[i];
		r->h[i].value = r->values[i].data;
	}
	r->body = next ? next : "";
	r->body_len = strlen(r->body);
}

static const char *
jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static int
jbool(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_boolean(v) : 0;
}

static void
test_vector(void **state)
{
	const char *name = *state;
	struct buf ctxj, req, ecr,ests, esig, esigned;
	struct json_object *ctx, *cred;
	struct sigv4_output out;
	struct sigv4_creds c;
	struct sigv4_input in;
	struct vreq r;
	struct tm tm;
	char *auth;
	int rc;

	read_vec(name, "context.json", &ctxj);
	read_vec(name, "request.txt", &req);
	read_vec(name, "header-canonical-request.txt", &ecr);
	read_vec(name, "header-string-to-sign.txt", &ests);
	read_vec(name, "header-signature.txt", &esig);
	read_vec(name, "header-signed-request.txt", &esigned);
	ctx = json_tokener_parse(ctxj.data);
	assert_non_null(ctx);
	assert_true(json_object_object_get_ex(ctx, "credentials", &cred));
	parse_request(req.data, &r);

	memset(&tm, 0, sizeof(tm));
	assert_non_null(strptime(jstr(ctx, "timestamp"), "%Y-%m-%dT%H:%M:%SZ", &tm));
	c.access_key = jstr(cred, "access_key_id");
	c.secret_key = jstr(cred, "secret_access_key");
	c.token = jstr(cred, "token");
	memset(&in, 0, sizeof(in));
	in.method = r.method;
	in.path = r.path;
	in.query = r.query;
	in.headers = r.h;
	in.n_headers = r.n;
	in.body = r.body;
	in.body_len = r.body_len;
	in.region = jstr(ctx, "region");
	in.service = jstr(ctx, "service");
	in.when = timegm(&tm);
	in.normalize_path = jbool(ctx, "normalize");
	in.sign_body = jbool(ctx, "sign_body");
	in.omit_session_token = jbool(ctx, "omit_session_token");

	rc = sigv4_sign(&in, &c, &out);
	assert_int_equal(rc, 0);
	assert_string_equal(out.canonical.data, ecr.data);
	assert_string_equal(out.string_to_sign.data, ests.data);
	assert_string_equal(out.signature, esig.data);
	auth = strstr(esigned.data, "\nAuthorization:");
	assert_non_null(auth);
	auth += strlen("\nAuthorization:");
	auth[strcspn(auth, "\n")] = '\0';
	assert_string_equal(out.authorization.data, auth);

	sigv4_output_free(&out);
	for (size_t i = 0; i < r.n; i++)
		buf_free(&r.values[i]);
	json_object_put(ctx);
	buf_free(&ctxj);
	buf_free(&req);
	buf_free(&ecr);
	buf_free(&ests);
	buf_free(&esig);
	buf_free(&esigned);
}

static void
test_uri_encode(void **state)
{
	static const struct {
		const char *in;
		int keep_slash;
		const char *out;
	} t[] = {
		{ "AZaz09-_.~", 0, "AZaz09-_.~" },
		{ "a b+c=d&e", 0, "a%20b%2Bc%3Dd%26e" },
		{ "10.0.0.0/8", 0, "10.0.0.0%2F8" },
		{ "/a b/c", 1, "/a%20b/c" },
		{ "\xe1\x88\xb4", 0, "%E1%88%B4" },
		{ "*!'()", 0, "%2A%21%27%28%29" },
		{ "fd00:ec2::/64", 0, "fd00%3Aec2%3A%3A%2F64" },
		{ "", 0, "" },
	};
	struct buf b;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		buf_init(&b, 1024);
		assert_int_equal(sigv4_uri_encode(&b, t[i].in, strlen(t[i].in),
		    t[i].keep_slash), 0);
		buf_puts(&b, "");
		assert_string_equal(b.data, t[i].out);
		buf_free(&b);
	}
}

static void
test_primitives(void **state)
{
	/* RFC 4231 test case 2 and the SHA-256 of "abc" (FIPS 180-2). */
	static const unsigned char tc2[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26,
		0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
		0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	unsigned char mac[32];
	char hex[65];
	struct buf b;

	assert_int_equal(prov_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac), 0);
	assert_memory_equal(mac, tc2, 32);
	assert_int_equal(cr_sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	buf_init(&b, 64);
	assert_int_equal(prov_base64("foobar", 6, &b), 0);
	assert_string_equal(b.data, "Zm9vYmFy");
	buf_free(&b);
	buf_init(&b, 4096);
	assert_int_equal(prov_rsa_sha256_sign("not a key", 9, "x", 1, &b), -EINVAL);
	buf_free(&b);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_primitives),
	};
	struct CMUnitTest *tests;
	char src[PATH_MAX], *names[128];
	size_t n = 0, i;
	struct dirent *de;
	DIR *d;
	int rc;

	cr_strlcpy(src, __FILE__, sizeof(src));
	snprintf(datadir, sizeof(datadir), "%s/data/sigv4", dirname(src));
	if ((d = opendir(datadir)) == NULL) {
		fprintf(stderr, "cannot open %s\n", datadir);
		return 1;
	}
	while ((de = readdir(d)) != NULL && n < ARRAY_SIZE(names))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR)
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	tests = calloc(n + ARRAY_SIZE(fixed), sizeof(*tests));
	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		tests[i] = fixed[i];
	for (i = 0; i < n; i++) {
		tests[ARRAY_SIZE(fixed) + i] = (struct CMUnitTest)
		    cmocka_unit_test_prestate(test_vector, names[i]);
		tests[ARRAY_SIZE(fixed) + i].name = names[i];
	}
	rc = _cmocka_run_group_tests("sigv4", tests, n + ARRAY_SIZE(fixed), NULL, NULL);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(tests);
	return rc;
}
