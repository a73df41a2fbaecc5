/*
 * Internal to the etcd client: JSON decoding helpers shared by the unary
 * calls and the watch (etcd_json.c), and the client structure.
 */
#ifndef PROV_ETCD_INT_H
#define PROV_ETCD_INT_H

#include <pthread.h>

#include "common/util.h"
#include "providers/etcd/etcd.h"

struct etcd_client {
	char *endpoints[ETCD_MAX_ENDPOINTS];
	size_t n_endpoints;
	size_t cur;                       /* endpoint in use */
	char *ca_file, *cert_file, *key_file;
	long timeout_ms, connect_timeout_ms;
	pthread_mutex_t lock;             /* guards watch_multi, cancel */
	void *watch_multi;                /* CURLM * of the running watch */
	int cancel;
};

int etcd_b64_decode(const char *s, size_t n, char **out, size_t *out_len);
int etcd_json_int64(struct json_object *o, const char *name, int64_t *out);
int etcd_json_bool(struct json_object *o, const char *name, int *out);
int etcd_json_bytes(struct json_object *o, const char *name, char **out, size_t *len);
int etcd_json_object(struct json_object *o, const char *name, struct json_object **out);
int etcd_json_array(struct json_object *o, const char *name, struct json_object **out);
int etcd_kv_decode(struct json_object *o, struct etcd_kv *kv);
int etcd_header_decode(struct json_object *resp, int64_t *revision);
int etcd_grpc_errno(int64_t code);
int etcd_error_decode(long status, struct json_object *o);

/* Validates a unary response (status, JSON object, header); *out owned by caller. */
int etcd_response_decode(long status, const char *body, size_t len,
    struct json_object **out, int64_t *revision);

int etcd_stream_response_decode(long status, const char *body, size_t len,
    struct json_object **out, int64_t *revision);

#endif
