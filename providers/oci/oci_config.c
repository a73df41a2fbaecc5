/*
 * The OCI SDK/CLI configuration file (~/.oci/config): INI sections named
 * by profile, "key=value" lines, '#' or ';' comments.  Values of the
 * DEFAULT section are inherited by every other profile.  Only the keys the
 * API-key signer needs are kept (user, tenancy, fingerprint, key_file,
 * region, pass_phrase); others are ignored, as the SDKs do.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "oci.h"
#include "providers/http.h"

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
set_key(struct oci_config_profile *p, const char *k, const char *v)
{
	struct { const char *name; char *dst; size_t len; } f[] = {
		{ "user", p->user, sizeof(p->user) },
		{ "tenancy", p->tenancy, sizeof(p->tenancy) },
		{ "fingerprint", p->fingerprint, sizeof(p->fingerprint) },
		{ "key_file", p->key_file, sizeof(p->key_file) },
		{ "region", p->region, sizeof(p->region) },
		{ "pass_phrase", p->pass_phrase, sizeof(p->pass_phrase) },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(f); i++)
		if (strcmp(k, f[i].name) == 0)
			return cr_strlcpy(f[i].dst, v, f[i].len) < f[i].len ? 0 : -ENAMETOOLONG;
	return 0;
}

/* Applies one line to out when its section is DEFAULT (pass 0) or the profile. */
static int
apply_line(char *line, int pass, const char *profile, char *section, size_t slen,
    struct oci_config_profile *out, int *found)
{
	char *s = trim(line), *eq, *end;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != '\0')
			return -EINVAL;
		*end = '\0';
		cr_strlcpy(section, trim(s + 1), slen);
		if (strcmp(section, profile) == 0)
			*found = 1;
		return 0;
	}
	if ((eq = strchr(s, '=')) == NULL)
		return -EINVAL;
	*eq = '\0';
	if ((pass == 0 && strcmp(section, "DEFAULT") == 0) ||
	    (pass == 1 && strcmp(section, profile) == 0 && strcmp(profile, "DEFAULT") != 0))
		return set_key(out, trim(s), trim(eq + 1));
	return 0;
}

int
oci_config_parse(const char *text, const char *path, const char *profile,
    struct oci_config_profile *out)
{
	char line[2048], section[256];
	const char *p, *nl;
	int pass, lineno, found = 0, r;
	size_t n;

	memset(out, 0, sizeof(*out));
	for (pass = 0; pass < 2; pass++) {
		section[0] = '\0';
		lineno = 0;
		for (p = text; *p != '\0'; p = *nl ? nl + 1 : nl) {
			nl = p + strcspn(p, "\n");
			n = (size_t)(nl - p);
			lineno++;
			if (n >= sizeof(line)) {
				prov_set_error("%s:%d: line too long", path, lineno);
				return -EINVAL;
			}
			memcpy(line, p, n);
			line[n] = '\0';
			if ((r = apply_line(line, pass, profile, section, sizeof(section),
			    out, &found)) < 0) {
				prov_set_error("%s:%d: %s", path, lineno, r == -EINVAL ?
				    "expected [profile] or key=value" : "value too long");
				explicit_bzero(line, sizeof(line));
				return -EINVAL;
			}
		}
	}
	explicit_bzero(line, sizeof(line));
	if (!found) {
		prov_set_error("%s: no profile [%s]", path, profile);
		explicit_bzero(out, sizeof(*out));
		return -ENOENT;
	}
	return 0;
}
