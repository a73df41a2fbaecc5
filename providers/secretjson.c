/*
 * JSON documents that carry secrets (role credentials, tokens): json-c keeps
 * copies of the text in its tokener's buffer and in every string object.
 * prov_json_parse_secret() wipes the tokener's buffer before freeing it;
 * prov_json_put_secret() wipes every string of the tree before releasing it.
 * The response buffer itself is wiped by buf_free().
 */
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>
#include <openssl/crypto.h>

#include "provider.h"

struct json_object *
prov_json_parse_secret(const char *text, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > (size_t)0x7fffffff || (tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o != NULL && json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	/* The tokener accumulates string values in its printbuf (json-c 0.15
	 * and 0.16 expose it; nothing else lets us reach it). */
	if (tok->pb != NULL && tok->pb->buf != NULL)
		OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}

static void
wipe(struct json_object *o)
{
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		OPENSSL_cleanse((char *)json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			wipe(v);
		}
		break;
	}
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			wipe(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

void
prov_json_put_secret(struct json_object *o)
{
	if (o == NULL)
		return;
	wipe(o);
	json_object_put(o);
}
