/*
 * What agent/cloudproc.c (the daemon's side), agent/cloudproc_child.c and
 * agent/cloudproc_wire.c share: the framing and the checks of messages.
 */
#ifndef AG_CLOUDPROC_INT_H
#define AG_CLOUDPROC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define CP_FD 3                      /* the child's end of the socketpair */
#define CP_MSG_MAX (8u << 20)        /* a state "cloud" object of many tables fits */
#define CP_DEPTH 64
#define CP_CALLS_MAX 512             /* API call series in one result */
#define CP_STR_MAX 96                /* a label value */

/* One message: length, then the object's text.  timeout_ms < 0: block
 * (the child); else a non-blocking fd that must take it within that time.
 * 0 or -errno (-ETIMEDOUT, -E2BIG). */
int cp_send(int fd, struct json_object *o, int timeout_ms);
/* The child: one whole message (blocking).  0, -EPIPE at EOF, -EINTR,
 * -EBADMSG (not one JSON object), -E2BIG. */
int cp_recv(int fd, struct json_object **out);

/* The daemon: a message assembled from a non-blocking socket. */
struct cp_rx {
	uint8_t hdr[4];
	size_t hdr_have;
	char *body;
	size_t len, have;
};
/* 1 with *out when a whole message arrived, 0 when the socket has no more
 * for now, -EPIPE at EOF, -EBADMSG/-E2BIG for a malformed message, -errno. */
int cp_rx_read(struct cp_rx *rx, int fd, struct json_object **out);
void cp_rx_free(struct cp_rx *rx);

/* Checks of a received object: exactly the keys of `keys` (NULL-ended),
 * each present.  1 or 0. */
int cp_keys_are(struct json_object *o, const char *const *keys);
/* A string member of at most max bytes without control characters, or NULL. */
const char *cp_str(struct json_object *o, const char *key, size_t max);
/* An integer member within [lo, hi]: 0 or -EINVAL. */
int cp_int(struct json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *v);

#endif
