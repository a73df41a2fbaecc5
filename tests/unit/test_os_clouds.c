/*
 * OpenStack credentials: clouds.yaml parsing (several clouds, application
 * credentials, password, regions), errors with file:line:col, secure.yaml
 * merged over clouds.yaml, OS_CLOUD / OS_CLIENT_CONFIG_FILE and the OS_*
 * environment (the envvars cloud and overrides), and the auth body.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/util.h"
#include "providers/http.h"
#include "providers/provider.h"
#include "providers/openstack/os.h"

static const char clouds[] =
    "# a typical file\n"
    "clouds:\n"
    "  devstack:\n"
    "    auth:\n"
    "      auth_url: https://keystone.example:5000/v3\n"
    "      username: demo\n"
    "      password: s3cret\n"
    "      project_name: demo\n"
    "      user_domain_name: Default\n"
    "      project_domain_id: default\n"
    "    region_name: RegionOne\n"
    "    identity_api_version: 3\n"
    "    compute_api_version: 2.1\n"
    "  connector:\n"
    "    auth_type: v3applicationcredential\n"
    "    auth:\n"
    "      auth_url: https://cloud.example/identity\n"
    "      application_credential_id: \"21dced0fd20347869b93710d2b98aae0\"\n"
    "      application_credential_secret: \"zOmgzdi8fXmwSoM\"\n"
    "    regions:\n"
    "      - name: RegionTwo\n"
    "      - RegionThree\n"
    "    interface: internal\n";

static void
test_parse_profiles(void **st)
{
	struct os_cloud c = { .verify = 1 };
	int found;

	(void)st;
	assert_int_equal(os_clouds_parse(clouds, strlen(clouds), "c.yaml", "devstack", &c,
	    &found), 0);
	assert_true(found);
	assert_int_equal(os_cloud_finish(&c), 0);
	assert_int_equal(c.type, OS_AUTH_PASSWORD);
	assert_string_equal(c.f[OSF_AUTH_URL], "https://keystone.example:5000/v3");
	assert_string_equal(c.f[OSF_USERNAME], "demo");
	assert_string_equal(c.f[OSF_PROJECT_DOMAIN_ID], "default");
	assert_string_equal(c.f[OSF_REGION], "RegionOne");
	assert_string_equal(c.f[OSF_INTERFACE], "public");
	os_cloud_free(&c);

	c.verify = 1;
	assert_int_equal(os_clouds_parse(clouds, strlen(clouds), "c.yaml", "connector", &c,
	    &found), 0);
	assert_int_equal(os_cloud_finish(&c), 0);
	assert_int_equal(c.type, OS_AUTH_APPCRED);
	assert_string_equal(c.f[OSF_APPCRED_ID], "21dced0fd20347869b93710d2b98aae0");
	assert_string_equal(c.f[OSF_REGION], "RegionTwo");
	assert_string_equal(c.f[OSF_INTERFACE], "internal");
	os_cloud_free(&c);

	/* No such cloud; several clouds and none named. */
	assert_int_equal(os_clouds_parse(clouds, strlen(clouds), "c.yaml", "nope", &c,
	    &found), 0);
	assert_false(found);
	os_cloud_free(&c);
	assert_int_equal(os_clouds_parse(clouds, strlen(clouds), "c.yaml", NULL, &c,
	    &found), -EINVAL);
	assert_non_null(strstr(prov_last_error(), "OS_CLOUD"));
	os_cloud_free(&c);
}

static void
bad(const char *yaml, const char *where, const char *what)
{
	struct os_cloud c = { .verify = 1 };
	int found;

	assert_int_equal(os_clouds_parse(yaml, strlen(yaml), "b.yaml", "x", &c, &found),
	    -EINVAL);
	if (strstr(prov_last_error(), where) == NULL || strstr(prov_last_error(), what) == NULL)
		fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", prov_last_error(), where, what);
	os_cloud_free(&c);
}

static void
test_parse_errors(void **st)
{
	(void)st;
	bad("clouds:\n  x:\n    auth:\n      usrname: a\n", "b.yaml:4:7", "usrname");
	bad("clouds:\n  x:\n    auth: [1]\n", "b.yaml:3:11", "mapping");
	bad("clouds:\n  x:\n    auth:\n      password: [a]\n", "b.yaml:4:17", "string");
	bad("clouds: [\n", "b.yaml:", "");
	bad("- 1\n", "b.yaml:1:1", "mapping");
	bad("clouds:\n  x:\n    identity_api_version: 2\n", "b.yaml:3:27", "v3");
	bad("clouds:\n  x:\n    profile: vexxhost\n", "b.yaml:3:5", "profiles");
	bad("clouds:\n  x:\n    a: b\n   c: d\n", "b.yaml:", "");
}

static void
finish_fails(const char *yaml, const char *what)
{
	struct os_cloud c = { .verify = 1 };
	int found;

	assert_int_equal(os_clouds_parse(yaml, strlen(yaml), "f.yaml", NULL, &c, &found), 0);
	assert_true(found);
	assert_int_equal(os_cloud_finish(&c), -EINVAL);
	if (strstr(prov_last_error(), what) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", prov_last_error(), what);
	os_cloud_free(&c);
}

static void
test_finish(void **st)
{
	(void)st;
	finish_fails("clouds:\n  x:\n    auth: {username: a, password: b}\n", "auth_url");
	finish_fails("clouds:\n  x:\n    auth: {auth_url: https://k, username: a}\n", "password");
	finish_fails("clouds:\n  x:\n    auth_type: v3applicationcredential\n"
	    "    auth: {auth_url: https://k, application_credential_id: a}\n", "secret");
	finish_fails("clouds:\n  x:\n    auth_type: token\n    auth: {auth_url: https://k}\n",
	    "auth_type");
	finish_fails("clouds:\n  x:\n    verify: false\n    auth: {auth_url: https://k, "
	    "username: a, password: b}\n", "verify");
	finish_fails("clouds:\n  x:\n    interface: sideways\n    auth: {auth_url: https://k, "
	    "username: a, password: b}\n", "interface");
}

static char dir[] = "/tmp/test_os_clouds.XXXXXX";

static void
write_file(const char *name, const char *text)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(file_write_atomic(p, text, strlen(text), 0600), 0);
}

static void
clear_env(void)
{
	static const char *const v[] = { "OS_CLOUD", "OS_CLIENT_CONFIG_FILE",
	    "OS_CLIENT_SECURE_FILE", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD",
	    "OS_PROJECT_NAME", "OS_REGION_NAME", "OS_INTERFACE", "OS_AUTH_TYPE",
	    "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_SECRET",
	    "OS_TENANT_NAME", "OS_USER_DOMAIN_NAME" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++)
		unsetenv(v[i]);
}

static void
test_load(void **st)
{
	char p[512], sp[512];
	struct os_cloud c;

	(void)st;
	assert_non_null(mkdtemp(dir));
	clear_env();
	setenv("HOME", dir, 1);
	assert_int_equal(chdir(dir), 0);
	write_file("clouds.yaml", clouds);
	snprintf(p, sizeof(p), "%s/clouds.yaml", dir);

	/* ./clouds.yaml found; several clouds and no OS_CLOUD: an error. */
	assert_int_equal(os_clouds_load(&c), -EINVAL);
	setenv("OS_CLOUD", "connector", 1);
	assert_int_equal(os_clouds_load(&c), 0);
	assert_string_equal(c.name, "connector");
	assert_string_equal(c.source, "./clouds.yaml");
	os_cloud_free(&c);

	/* OS_CLIENT_CONFIG_FILE wins over the search path; secure.yaml merges. */
	write_file("other.yaml", "clouds:\n  connector:\n    auth_type: password\n"
	    "    auth:\n      auth_url: https://other/v3\n      username: u\n"
	    "      project_id: p1\n");
	write_file("sec.yaml", "clouds:\n  connector:\n    auth:\n      password: fromsecure\n");
	snprintf(p, sizeof(p), "%s/other.yaml", dir);
	snprintf(sp, sizeof(sp), "%s/sec.yaml", dir);
	setenv("OS_CLIENT_CONFIG_FILE", p, 1);
	setenv("OS_CLIENT_SECURE_FILE", sp, 1);
	assert_int_equal(os_clouds_load(&c), 0);
	assert_string_equal(c.f[OSF_AUTH_URL], "https://other/v3");
	assert_string_equal(c.f[OSF_PASSWORD], "fromsecure");
	os_cloud_free(&c);

	/* OS_* override the file's values. */
	setenv("OS_REGION_NAME", "RegionEnv", 1);
	setenv("OS_PASSWORD", "fromenv", 1);
	assert_int_equal(os_clouds_load(&c), 0);
	assert_string_equal(c.f[OSF_REGION], "RegionEnv");
	assert_string_equal(c.f[OSF_PASSWORD], "fromenv");
	os_cloud_free(&c);

	/* A file that gives a secret must not be readable by others. */
	assert_int_equal(chmod(sp, 0644), 0);
	assert_int_equal(os_clouds_load(&c), -EPERM);
	assert_non_null(strstr(prov_last_error(), "chmod 600"));
	assert_int_equal(chmod(sp, 0600), 0);

	/* A named cloud that is not there. */
	setenv("OS_CLOUD", "missing", 1);
	assert_int_equal(os_clouds_load(&c), -ENOENT);
	assert_non_null(strstr(prov_last_error(), "missing"));

	/* Environment only: the envvars cloud. */
	clear_env();
	assert_int_equal(chdir("/"), 0);
	setenv("OS_AUTH_URL", "https://env/v3", 1);
	setenv("OS_AUTH_TYPE", "v3applicationcredential", 1);
	setenv("OS_APPLICATION_CREDENTIAL_ID", "id1", 1);
	setenv("OS_APPLICATION_CREDENTIAL_SECRET", "sec1", 1);
	assert_int_equal(os_clouds_load(&c), 0);
	assert_string_equal(c.name, "envvars");
	assert_int_equal(c.type, OS_AUTH_APPCRED);
	os_cloud_free(&c);
	clear_env();
	assert_int_equal(os_clouds_load(&c), -ENOENT);

	snprintf(p, sizeof(p), "rm -rf %s", dir);
	assert_int_equal(system(p), 0);
}

static void
test_auth_body(void **st)
{
	struct os_cloud c = { .verify = 1 };
	struct json_object *j, *v;
	struct buf b;
	int found;

	(void)st;
	assert_int_equal(os_clouds_parse(clouds, strlen(clouds), "c.yaml", "devstack", &c,
	    &found), 0);
	assert_int_equal(os_cloud_finish(&c), 0);
	buf_init(&b, 1 << 16);
	assert_int_equal(os_keystone_auth_body(&c, &b), 0);
	j = json_tokener_parse(b.data);
	assert_non_null(j);
	assert_true(json_pointer_get(j, "/auth/identity/password/user/name", &v) == 0);
	assert_string_equal(json_object_get_string(v), "demo");
	assert_true(json_pointer_get(j, "/auth/identity/password/user/domain/name", &v) == 0);
	assert_string_equal(json_object_get_string(v), "Default");
	assert_true(json_pointer_get(j, "/auth/scope/project/domain/id", &v) == 0);
	assert_string_equal(json_object_get_string(v), "default");
	assert_true(json_pointer_get(j, "/auth/identity/methods/0", &v) == 0);
	assert_string_equal(json_object_get_string(v), "password");
	json_object_put(j);
	os_cloud_free(&c);

	c.verify = 1;
	assert_int_equal(os_clouds_parse(clouds, strlen(clouds), "c.yaml", "connector", &c,
	    &found), 0);
	assert_int_equal(os_cloud_finish(&c), 0);
	buf_reset(&b);
	assert_int_equal(os_keystone_auth_body(&c, &b), 0);
	j = json_tokener_parse(b.data);
	assert_true(json_pointer_get(j, "/auth/identity/application_credential/secret", &v) == 0);
	assert_string_equal(json_object_get_string(v), "zOmgzdi8fXmwSoM");
	/* Application credentials carry their own scope: none is sent. */
	assert_true(json_pointer_get(j, "/auth/scope", &v) != 0);
	json_object_put(j);
	buf_free(&b);
	os_cloud_free(&c);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_profiles),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_auth_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
