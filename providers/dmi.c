/*
 * Cloud detection from DMI (SMBIOS) strings: no network, microseconds.
 * The values each cloud writes, from their documentation:
 *   AWS        sys_vendor / bios_vendor "Amazon EC2" (Nitro); Xen-era
 *              instances: bios_version containing "amazon"
 *   Azure      chassis_asset_tag "7783-7084-3265-9085-8269-3286-77"
 *   GCP        sys_vendor "Google", product_name "Google Compute Engine"
 *   OCI        chassis_asset_tag "OracleCloud.com"
 *   OpenStack  sys_vendor "OpenStack Foundation", product_name
 *              "OpenStack Nova" / "OpenStack Compute"
 * CLOUDROUTE_DMI_DIR replaces /sys/class/dmi/id (tests use fixture files).
 */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider.h"
#include "common/util.h"

static void
dmi_read(const char *dir, const char *leaf, char *out, size_t len)
{
	char path[4096];
	FILE *f;
	size_t n;

	out[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, leaf);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(out, (int)len, f) == NULL)
		out[0] = '\0';
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
}

static int
has(const char *s, const char *needle)
{
	return strcasestr(s, needle) != NULL;
}

const char *
prov_detect_dmi(void)
{
	const char *dir = getenv("CLOUDROUTE_DMI_DIR");
	char vendor[256], product[256], asset[256], bios[256], biosver[256];

	if (dir == NULL || dir[0] == '\0')
		dir = "/sys/class/dmi/id";
	dmi_read(dir, "sys_vendor", vendor, sizeof(vendor));
	dmi_read(dir, "product_name", product, sizeof(product));
	dmi_read(dir, "chassis_asset_tag", asset, sizeof(asset));
	dmi_read(dir, "bios_vendor", bios, sizeof(bios));
	dmi_read(dir, "bios_version", biosver, sizeof(biosver));
	if (strcmp(asset, "7783-7084-3265-9085-8269-3286-77") == 0)
		return "azure";
	if (strcasecmp(asset, "OracleCloud.com") == 0)
		return "oci";
	if (has(vendor, "Amazon EC2") || has(bios, "Amazon EC2") || has(biosver, "amazon"))
		return "aws";
	if (strcmp(vendor, "Google") == 0 || strcmp(product, "Google Compute Engine") == 0)
		return "gcp";
	if (has(vendor, "OpenStack") || has(product, "OpenStack Nova") ||
	    has(product, "OpenStack Compute"))
		return "openstack";
	return NULL;
}
