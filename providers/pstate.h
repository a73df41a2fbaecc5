/*
 * Small helpers for a provider's own object in the agent's state (json-c):
 * a list member created on first use, and the checkpoint hook of struct
 * prov_options called safely.  Scalar members: common/jsonutil.h.
 */
#ifndef PROV_PSTATE_H
#define PROV_PSTATE_H

#include <json-c/json.h>

#include "providers/provider.h"

/* state[key] when it is an array, else a new empty array put there. */
struct json_object *pstate_array(struct json_object *state, const char *key);
/* opts->checkpoint(), when there is one: 0 or -errno (with the error text set). */
int pstate_checkpoint(const struct prov_options *opts);

#endif
