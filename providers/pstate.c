/*
 * Helpers for providers' state objects (see pstate.h).
 */
#include <errno.h>

#include "providers/http.h"
#include "providers/pstate.h"

struct json_object *
pstate_array(struct json_object *state, const char *key)
{
	struct json_object *a;

	if (json_object_object_get_ex(state, key, &a) &&
	    json_object_is_type(a, json_type_array))
		return a;
	a = json_object_new_array();
	json_object_object_add(state, key, a);
	return a;
}

int
pstate_checkpoint(const struct prov_options *opts)
{
	int r;

	if (opts == NULL || opts->checkpoint == NULL)
		return 0;
	if ((r = opts->checkpoint(opts->checkpoint_arg)) < 0)
		prov_set_error("cannot save the state before a cloud change");
	return r;
}
