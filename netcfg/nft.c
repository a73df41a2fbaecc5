/*
 * cloudroute's nftables table through libnftables.  Output and errors are
 * buffered so that nft's message reaches nc_last_error().  Replacing the
 * table is one transaction (add, delete, add + contents) so the ruleset is
 * never seen half-built and a failing script changes nothing.
 */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>
#include <nftables/libnftables.h>

#include "common/jsonutil.h"
#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

#define NFT_OUT_MAX (4u << 20)

/* Runs one nft script (dry: only checks it against the kernel's ruleset);
 * output (if out) goes to out.  0 or -errno. */
static int
nft_exec(const char *script, unsigned int oflags, int dry, struct buf *out, const char *what)
{
	struct nft_ctx *ctx;
	const char *e, *o;
	size_t n;
	int r;

	if ((ctx = nft_ctx_new(NFT_CTX_DEFAULT)) == NULL)
		return nc_fail(-ENOMEM, what);
	nft_ctx_output_set_flags(ctx, oflags);
	nft_ctx_set_dry_run(ctx, dry != 0);
	if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
		r = nc_fail(-ENOMEM, what);
		goto out;
	}
	if (nft_run_cmd_from_buffer(ctx, script) != 0) {
		e = nft_ctx_get_error_buffer(ctx);
		e = e ? e : "";
		/* First line is nft's "Error: ..."; the rest points into the script. */
		n = strcspn(e, "\n");
		nc_set_error("%s: %.*s", what, (int)(n > 200 ? 200 : n), n ? e : "failed");
		r = strstr(e, "No such file or directory") ? -ENOENT :
		    strstr(e, "Operation not permitted") ? -EPERM : -EINVAL;
		goto out;
	}
	r = 0;
	if (out && (o = nft_ctx_get_output_buffer(ctx)) != NULL &&
	    (r = buf_puts(out, o)) < 0)
		nc_fail(r, what);
out:
	nft_ctx_free(ctx);
	return r;
}

static int
nft_run(const char *script, unsigned int oflags, struct buf *out, const char *what)
{
	return nft_exec(script, oflags, 0, out, what);
}

int
nc_nft_script(const char *script, int json, struct buf *out, const char *what)
{
	return nft_run(script, json ? NFT_CTX_OUTPUT_JSON : 0, out, what);
}

int
nc_nft_check(const char *script, const char *what)
{
	return nft_exec(script, 0, 1, NULL, what);
}

int
nc_nft_list(struct buf *out)
{
	return nft_run("list table inet " NC_NFT_TABLE, 0, out, "nft list");
}

int
nc_nft_replace(const char *script)
{
	struct buf b;
	int r;

	if (script == NULL)
		return -EINVAL;
	buf_init(&b, NFT_OUT_MAX);
	/* "add" makes the "delete" valid whether or not the table exists. */
	if ((r = buf_puts(&b, "add table inet " NC_NFT_TABLE "\n"
	    "delete table inet " NC_NFT_TABLE "\n")) < 0 ||
	    (r = buf_puts(&b, script)) < 0) {
		nc_fail(r, "nft replace");
		goto out;
	}
	r = nft_run(b.data, 0, NULL, "nft replace");
out:
	buf_free(&b);
	return r;
}

int
nc_nft_delete(void)
{
	return nft_run("add table inet " NC_NFT_TABLE "\n"
	    "delete table inet " NC_NFT_TABLE "\n", 0, NULL, "nft delete");
}

int
nc_nft_ruleset(struct json_object **root, struct json_object **arr)
{
	struct buf js;
	int r;

	*root = NULL;
	buf_init(&js, NFT_OUT_MAX);
	if ((r = nft_run("list ruleset", NFT_CTX_OUTPUT_JSON, &js, "nft list ruleset")) < 0)
		goto out;
	if ((*root = json_tokener_parse(js.data ? js.data : "")) == NULL ||
	    !json_object_object_get_ex(*root, "nftables", arr) ||
	    !json_object_is_type(*arr, json_type_array)) {
		nc_set_error("nft list ruleset: unexpected JSON");
		json_object_put(*root);
		*root = NULL;
		r = -EPROTO;
	}
out:
	buf_free(&js);
	return r;
}

/* One {"chain": {...}} element: a drop base chain at hook outside our table? */
static int
chain_match(struct json_object *c, const char *hook, struct buf *out)
{
	const char *fam = cr_json_str(c, "family"), *tab = cr_json_str(c, "table");
	const char *name = cr_json_str(c, "name"), *h = cr_json_str(c, "hook"), *pol = cr_json_str(c, "policy");

	if (!fam || !tab || !name || !h || !pol || strcmp(h, hook) != 0 ||
	    strcmp(pol, "drop") != 0)
		return 0;
	/* bridge/netdev/arp hooks of the same name do not see routed traffic. */
	if (strcmp(fam, "ip") != 0 && strcmp(fam, "ip6") != 0 && strcmp(fam, "inet") != 0)
		return 0;
	if (strcmp(fam, "inet") == 0 && strcmp(tab, NC_NFT_TABLE) == 0)
		return 0;
	return buf_printf(out, "%s %s %s\n", fam, tab, name);
}

int
nc_nft_foreign_drop_chains(const char *hook, struct buf *out)
{
	struct json_object *root, *arr, *c;
	size_t i, n;
	int r;

	if (hook == NULL || *hook == '\0')
		return -EINVAL;
	if ((r = nc_nft_ruleset(&root, &arr)) < 0)
		return r;
	n = json_object_array_length(arr);
	for (i = 0; i < n && r == 0; i++)
		if (json_object_object_get_ex(json_object_array_get_idx(arr, i), "chain", &c))
			r = chain_match(c, hook, out);
	if (r < 0)
		nc_fail(r, "nft foreign chains");
	json_object_put(root);
	return r;
}
