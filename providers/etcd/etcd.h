/*
 * An etcd v3 client over etcd's JSON gateway (grpc-gateway, etcd >= 3.4
 * paths /v3/...), on libcurl and json-c.
 *
 * Wire format (etcd api_grpc_gateway, rpc.proto through jsonpb with the
 * proto field names): keys and values are base64; int64/uint64 fields are
 * JSON strings; fields at their default value (0, false, "", PUT) are
 * omitted.  Unary calls go through providers/http.c http_do (timeout, size
 * cap, https only except plain http to an endpoint the config names).
 * Every response is validated before anything of it is used: HTTP 200, a
 * JSON object, a "header" with a revision, each field of the right type,
 * base64 that decodes; a gRPC error body ({"error", "code", "message"}) is
 * mapped to -errno with its message in prov_last_error().
 *
 * Endpoints: several may be given; a call goes to the current one and, on
 * a transport failure or "unavailable", fails over to the next (each at
 * most once per call).  The watch is a streamed response with its own curl
 * handle; its messages are framed by a JSON tokenizer, not by HTTP chunks
 * (etcd#11372: a chunk may hold part of a message or several), each
 * bounded in size.
 *
 * Threads: a client is used by one thread at a time, except
 * etcd_watch_cancel(), which any thread may call.
 */
#ifndef PROV_ETCD_H
#define PROV_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define ETCD_MAX_ENDPOINTS 8
#define ETCD_MAX_MESSAGE   (4u << 20)     /* one watch message / response */

struct etcd_config {
	const char *const *endpoints;     /* "https://host:2379", ... */
	size_t n_endpoints;
	const char *ca_file;              /* NULL = system trust store */
	const char *cert_file;            /* client certificate, NULL = none */
	const char *key_file;
	long timeout_ms;                  /* per unary call, 0 = 2000 */
	long connect_timeout_ms;          /* 0 = 1000 */
};

struct etcd_client;

/* Checks the endpoints (http or https URLs, no path) and copies the config. */
int etcd_open(const struct etcd_config *cfg, struct etcd_client **out);
void etcd_close(struct etcd_client *c);
/* The endpoint calls go to now (after failovers). */
const char *etcd_endpoint(const struct etcd_client *c);

/* One key-value (mvccpb.KeyValue).  key and value are NUL-terminated too. */
struct etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

struct etcd_kvs {
	struct etcd_kv *kvs;
	size_t n;
	int64_t revision;                 /* header.revision of the response */
	int more;
};
void etcd_kvs_free(struct etcd_kvs *r);
void etcd_kv_free(struct etcd_kv *kv);

/* The range end that covers every key starting with prefix (rpc.proto:
 * the prefix with its last byte below 0xff incremented).  Caller frees. */
char *etcd_prefix_end(const char *prefix, size_t len, size_t *end_len);

/* Range [key, range_end) (range_end NULL: the key alone). */
int etcd_range(struct etcd_client *c, const char *key, size_t key_len,
    const char *range_end, size_t end_len, struct etcd_kvs *out);
/* Put, attached to lease (0 = none).  *revision may be NULL. */
int etcd_put(struct etcd_client *c, const char *key, size_t key_len,
    const char *value, size_t value_len, int64_t lease, int64_t *revision);
/* Deletes [key, range_end); *deleted may be NULL. */
int etcd_delete(struct etcd_client *c, const char *key, size_t key_len,
    const char *range_end, size_t end_len, int64_t *deleted);
/*
 * The election step: one txn that puts key=value with lease only if the key
 * does not exist (compare create_revision == 0), else reads it.  *won = 1
 * when the put happened; otherwise *holder (may be NULL) gets the current
 * key-value (holder->key NULL if it vanished in between).
 */
int etcd_create_if_absent(struct etcd_client *c, const char *key, size_t key_len,
    const char *value, size_t value_len, int64_t lease, int *won,
    struct etcd_kv *holder);
/* Deletes key only while it still has value and lease (txn). *done = 1 if so. */
int etcd_delete_if(struct etcd_client *c, const char *key, size_t key_len,
    const char *value, size_t value_len, int *done);

int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *id,
    int64_t *granted_ttl);
/* One keep-alive request.  *ttl = remaining TTL; -ENOENT when the lease is
 * gone (etcd answers TTL 0). */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl);
int etcd_lease_revoke(struct etcd_client *c, int64_t id);

/* ---- watch ---- */

enum etcd_event_type { ETCD_EVENT_PUT = 0, ETCD_EVENT_DELETE = 1 };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;
	struct etcd_kv prev_kv;           /* key NULL unless prev_kv asked for */
};

/* One WatchResponse. */
struct etcd_watch_msg {
	int64_t revision;
	int64_t watch_id;
	int created;
	int canceled;
	int64_t compact_revision;         /* set with canceled: history compacted */
	char cancel_reason[256];
	struct etcd_event *events;
	size_t n_events;
};
void etcd_watch_msg_free(struct etcd_watch_msg *m);

/*
 * Validates one gateway stream message, {"result": WatchResponse} or
 * {"error": {...}}, into m.  0, -EPROTO (malformed, reason in
 * prov_last_error()), or the mapped error of an {"error"} message.
 */
int etcd_watch_msg_decode(struct json_object *msg, struct etcd_watch_msg *m);

/*
 * The watch stream parser: bytes in, whole messages out, whatever the
 * chunking.  Each message is at most max bytes (else -E2BIG).  The callback
 * returns 0 to go on, anything else stops feeding with that value.
 */
typedef int (*etcd_watch_cb)(void *arg, const struct etcd_watch_msg *m);
struct etcd_stream {
	struct json_tokener *tok;
	size_t max;
	size_t cur;                       /* bytes of the message being read */
	etcd_watch_cb cb;
	void *arg;
	int err;                          /* sticky: first error */
	size_t n_msgs;
};
int etcd_stream_init(struct etcd_stream *s, size_t max, etcd_watch_cb cb, void *arg);
int etcd_stream_feed(struct etcd_stream *s, const char *p, size_t n);
void etcd_stream_free(struct etcd_stream *s);

struct etcd_watch_req {
	const char *key;
	size_t key_len;
	const char *range_end;            /* NULL: the key alone */
	size_t end_len;
	int64_t start_revision;           /* 0 = from now */
	int prev_kv;
	int progress_notify;
};

/*
 * Runs one watch until the callback stops it (its value is returned), the
 * server cancels it (compaction: -ERANGE with m->compact_revision given to
 * the callback first), the stream ends or fails (-EPIPE, -ECONNREFUSED,
 * -EPROTO...), or etcd_watch_cancel(), `cancel` or prov_cancelled() is
 * raised (-ECANCELED).
 * Blocks; cancellation takes effect within ~100 ms.  `cancel` may be NULL.
 */
int etcd_watch(struct etcd_client *c, const struct etcd_watch_req *rq,
    etcd_watch_cb cb, void *arg, const volatile int *cancel);
/*
 * The same, step by step, for a thread with timers of its own: open starts
 * the request; poll waits up to timeout_ms for data, delivers what came and
 * returns 0 while the watch runs, else its final result (as etcd_watch);
 * close ends it (at any time) and frees it.
 */
struct etcd_watch;
int etcd_watch_open(struct etcd_client *c, const struct etcd_watch_req *rq,
    etcd_watch_cb cb, void *arg, const volatile int *cancel, struct etcd_watch **out);
int etcd_watch_poll(struct etcd_watch *w, int timeout_ms);
void etcd_watch_close(struct etcd_watch *w);

/* Any thread: makes the running (or next) watch of c return -ECANCELED. */
void etcd_watch_cancel(struct etcd_client *c);

#endif
