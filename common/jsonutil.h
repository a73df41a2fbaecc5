/*
 * Small json-c accessors shared by the agent and the providers.
 */
#ifndef CR_JSONUTIL_H
#define CR_JSONUTIL_H

struct json_object;

/* The string member key of object o, or NULL (absent, not a string). */
const char *cr_json_str(struct json_object *o, const char *key);
/* The boolean member key of o, or dflt. */
int cr_json_bool(struct json_object *o, const char *key, int dflt);

#endif
