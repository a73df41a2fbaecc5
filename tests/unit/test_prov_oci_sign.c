/*
 * OCI request signing against Oracle's published test values (the "Test
 * Values" of the Request Signatures page, also used by the SDKs' signer
 * tests): the 1024-bit test key, a GET with a query and a POST with a JSON
 * body, their signing strings, signatures and Authorization headers.  Also
 * the JWT "exp" claim, the certificate subject's opc-tenant and the SHA-1
 * fingerprint, and the ~/.oci/config parser.
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

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "providers/oci/oci.h"
#include "providers/sigv4.h"

/* Oracle's published test key (public test data, signs nothing real). */
static const char test_key[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF\n"
    "NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F\n"
    "UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB\n"
    "AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA\n"
    "QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK\n"
    "kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg\n"
    "f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u\n"
    "412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc\n"
    "mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7\n"
    "kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA\n"
    "gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW\n"
    "G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI\n"
    "7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==\n"
    "-----END RSA PRIVATE KEY-----\n";

#define KEY_ID "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/" \
    "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/" \
    "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34"
#define HOST "iaas.us-phoenix-1.oraclecloud.com"
#define DATE "Thu, 05 Jan 2014 21:31:40 GMT"

static const char get_target[] =
    "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&"
    "compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa"
    "&displayName=TeamXInstances&"
    "volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";

static const char post_body[] =
    "{\n"
    "    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n"
    "    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n"
    "    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n"
    "}";

static EVP_PKEY *
key(void)
{
	EVP_PKEY *k = oci_pem_key(test_key, sizeof(test_key) - 1, NULL);

	assert_non_null(k);
	return k;
}

static void
test_vector_get(void **st)
{
	struct oci_sign_input in = { "GET", get_target, HOST, DATE, NULL, NULL, 0, 0 };
	struct oci_signature out;
	EVP_PKEY *k = key();

	(void)st;
	assert_int_equal(oci_sign(&in, KEY_ID, k, &out), 0);
	assert_string_equal(out.signing_string.data,
	    "date: " DATE "\n(request-target): get /20160918/instances?availabilityDomain="
	    "Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2i"
	    "dnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&"
	    "volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q"
	    "\nhost: " HOST);
	assert_string_equal(out.authorization.data,
	    "Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"" KEY_ID
	    "\",algorithm=\"rsa-sha256\",signature=\"GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8k"
	    "joaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRhe"
	    "C0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=\"");
	assert_string_equal(out.content_sha256, "");
	oci_signature_free(&out);
	EVP_PKEY_free(k);
}

static void
test_vector_post(void **st)
{
	struct oci_sign_input in = { "POST", "/20160918/volumeAttachments", HOST, DATE,
	    "application/json", post_body, sizeof(post_body) - 1, 0 };
	struct oci_signature out;
	EVP_PKEY *k = key();

	(void)st;
	assert_int_equal(sizeof(post_body) - 1, 316);
	assert_int_equal(oci_sign(&in, KEY_ID, k, &out), 0);
	assert_string_equal(out.signing_string.data,
	    "date: " DATE "\n(request-target): post /20160918/volumeAttachments\n"
	    "host: " HOST "\ncontent-length: 316\ncontent-type: application/json\n"
	    "x-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=");
	assert_string_equal(out.content_sha256, "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=");
	assert_string_equal(out.content_length, "316");
	assert_string_equal(out.authorization.data,
	    "Signature version=\"1\",headers=\"date (request-target) host content-length "
	    "content-type x-content-sha256\",keyId=\"" KEY_ID "\",algorithm=\"rsa-sha256\","
	    "signature=\"Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjY"
	    "El0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHU"
	    "fqBedWH0itrtPJBgKmrWso=\"");
	oci_signature_free(&out);
	EVP_PKEY_free(k);
}

/* PUT signs the body headers; an empty body still has a hash; DELETE not. */
static void
test_put_delete(void **st)
{
	struct oci_sign_input in = { "PUT", "/20160918/routeTables/ocid1.routetable.x", HOST,
	    DATE, "application/json", "", 0, 0 };
	struct oci_signature out;
	EVP_PKEY *k = key();

	(void)st;
	assert_int_equal(oci_sign(&in, "ST$abc", k, &out), 0);
	assert_non_null(strstr(out.signing_string.data, "\n(request-target): put /20160918/"));
	assert_non_null(strstr(out.signing_string.data,
	    "\ncontent-length: 0\ncontent-type: application/json\n"
	    "x-content-sha256: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="));
	assert_non_null(strstr(out.authorization.data, "keyId=\"ST$abc\""));
	oci_signature_free(&out);
	in.method = "DELETE";
	assert_int_equal(oci_sign(&in, "ST$abc", k, &out), 0);
	assert_null(strstr(out.signing_string.data, "content-length"));
	assert_non_null(strstr(out.authorization.data, "headers=\"date (request-target) host\""));
	oci_signature_free(&out);
	/* The federation endpoint's profile: no host. */
	in.method = "POST";
	in.no_host = 1;
	assert_int_equal(oci_sign(&in, "t/fed-x509/aa", k, &out), 0);
	assert_null(strstr(out.signing_string.data, "host:"));
	assert_non_null(strstr(out.authorization.data, "headers=\"date (request-target) "
	    "content-length content-type x-content-sha256\""));
	oci_signature_free(&out);
	in.target = "no-slash";
	assert_int_equal(oci_sign(&in, "ST$abc", k, &out), -EINVAL);
	oci_signature_free(&out);
	EVP_PKEY_free(k);
}

static void
test_http_date(void **st)
{
	char d[32];

	(void)st;
	/* The published vector's date names the wrong weekday (5 Jan 2014 was a
	 * Sunday); the signer takes the string as given, the formatter is right. */
	oci_http_date(1388957500, d);
	assert_string_equal(d, "Sun, 05 Jan 2014 21:31:40 GMT");
	oci_http_date(0, d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void
jwt_with(const char *payload, struct buf *out)
{
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	assert_int_equal(prov_base64(payload, strlen(payload), &b), 0);
	buf_reset(out);
	buf_puts(out, "eyJhbGciOiJSUzI1NiJ9.");
	for (i = 0; i < b.len && b.data[i] != '='; i++) {
		char c = b.data[i] == '+' ? '-' : b.data[i] == '/' ? '_' : b.data[i];

		buf_append(out, &c, 1);
	}
	buf_puts(out, ".c2ln");
	buf_free(&b);
}

static void
test_jwt_exp(void **st)
{
	struct buf j;
	time_t exp = 0;

	(void)st;
	buf_init(&j, 8192);
	jwt_with("{\"sub\":\"ocid1.instance.x\",\"exp\":1700000000,\"x\":\"\xff\xfe?\"}", &j);
	assert_int_equal(oci_jwt_exp(j.data, &exp), 0);
	assert_int_equal(exp, 1700000000);
	jwt_with("{\"exp\":\"soon\"}", &j);
	assert_int_equal(oci_jwt_exp(j.data, &exp), -EINVAL);
	jwt_with("{\"iat\":1}", &j);
	assert_int_equal(oci_jwt_exp(j.data, &exp), -EINVAL);
	assert_int_equal(oci_jwt_exp("onlyone.part", &exp), -EINVAL);
	assert_int_equal(oci_jwt_exp("a.b.c.d", &exp), -EINVAL);
	assert_int_equal(oci_jwt_exp("a.!!!.c", &exp), -EINVAL);
	buf_free(&j);
}

/* A self-signed certificate with the subject OCI gives instance certificates. */
static X509 *
make_cert(EVP_PKEY *k, const char *ou)
{
	X509 *x = X509_new();
	X509_NAME *n;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"ocid1.instance.oc1.iad.abc", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC,
	    (const unsigned char *)"opc-certtype:instance", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC,
	    (const unsigned char *)"opc-compartment:ocid1.compartment.oc1..c", -1, -1, 0);
	if (ou != NULL)
		X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC,
		    (const unsigned char *)ou, -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static void
test_cert_subject(void **st)
{
	EVP_PKEY *k = key();
	X509 *x = make_cert(k, "opc-tenant:ocid1.tenancy.oc1..aaaatenant"), *y, *z;
	unsigned char md[20], *der = NULL;
	char t[256], fp[60], want[60];
	struct buf b;
	int i, n;

	(void)st;
	assert_int_equal(oci_cert_tenancy(x, t, sizeof(t)), 0);
	assert_string_equal(t, "ocid1.tenancy.oc1..aaaatenant");
	assert_int_equal(oci_cert_tenancy(x, t, 8), -ENOENT);    /* too long for out */
	y = make_cert(k, NULL);
	assert_int_equal(oci_cert_tenancy(y, t, sizeof(t)), -ENOENT);
	/* Fingerprint: SHA-1 of the DER, lowercase, colon separated. */
	n = i2d_X509(x, &der);
	assert_true(n > 0);
	EVP_Digest(der, (size_t)n, md, NULL, EVP_sha1(), NULL);
	for (i = 0; i < 20; i++)
		snprintf(want + 3 * i, 4, "%02x%s", md[i], i < 19 ? ":" : "");
	assert_int_equal(oci_cert_fingerprint(x, fp), 0);
	assert_string_equal(fp, want);
	/* base64 DER round trip through PEM. */
	buf_init(&b, 1 << 16);
	assert_int_equal(oci_cert_b64(x, &b), 0);
	{
		struct buf pem;

		buf_init(&pem, 1 << 16);
		buf_puts(&pem, "-----BEGIN CERTIFICATE-----\n");
		for (i = 0; (size_t)i < b.len; i += 64) {
			buf_append(&pem, b.data + i, b.len - (size_t)i < 64 ? b.len - (size_t)i : 64);
			buf_puts(&pem, "\n");
		}
		buf_puts(&pem, "-----END CERTIFICATE-----\n");
		z = oci_pem_cert(pem.data, pem.len);
		assert_non_null(z);
		assert_int_equal(X509_cmp(x, z), 0);
		X509_free(z);
		buf_free(&pem);
	}
	assert_null(oci_pem_cert("garbage", 7));
	OPENSSL_free(der);
	buf_free(&b);
	X509_free(x);
	X509_free(y);
	EVP_PKEY_free(k);
}

static void
test_config(void **st)
{
	static const char text[] =
	    "# comment\n"
	    "[DEFAULT]\n"
	    "user=ocid1.user.oc1..u\n"
	    "fingerprint = 20:3b:97\n"
	    "key_file=/etc/oci/key.pem\n"
	    "tenancy=ocid1.tenancy.oc1..t\n"
	    "region=us-ashburn-1\n"
	    "\n"
	    "[other]\n"
	    "user=ocid1.user.oc1..other\n"
	    "region = eu-frankfurt-1\n";
	struct oci_config_profile p;

	(void)st;
	assert_int_equal(oci_config_parse(text, "cfg", "DEFAULT", &p), 0);
	assert_string_equal(p.user, "ocid1.user.oc1..u");
	assert_string_equal(p.fingerprint, "20:3b:97");
	assert_string_equal(p.key_file, "/etc/oci/key.pem");
	assert_string_equal(p.region, "us-ashburn-1");
	assert_int_equal(oci_config_parse(text, "cfg", "other", &p), 0);
	assert_string_equal(p.user, "ocid1.user.oc1..other");
	assert_string_equal(p.tenancy, "ocid1.tenancy.oc1..t");    /* inherited */
	assert_string_equal(p.region, "eu-frankfurt-1");
	assert_int_equal(oci_config_parse(text, "cfg", "missing", &p), -ENOENT);
	assert_int_equal(oci_config_parse("[DEFAULT]\nnoequals\n", "cfg", "DEFAULT", &p),
	    -EINVAL);
	assert_int_equal(oci_config_parse("[DEFAULT\n", "cfg", "DEFAULT", &p), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_get),
		cmocka_unit_test(test_vector_post),
		cmocka_unit_test(test_put_delete),
		cmocka_unit_test(test_http_date),
		cmocka_unit_test(test_jwt_exp),
		cmocka_unit_test(test_cert_subject),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
