/*
 * The cloud process's wire (see cloudproc.h): length-prefixed JSON objects
 * over a socketpair, and the checks every received member goes through.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cloudproc_int.h"
#include "common/util.h"

static struct json_object *
parse(const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(CP_DEPTH);
	struct json_object *o;

	if (tok == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int
write_all(int fd, const char *p, size_t n, int timeout_ms)
{
	uint64_t end = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	ssize_t w;
	int left;

	while (n > 0) {
		w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -errno;
		left = timeout_ms < 0 ? -1 : (int)(end > now_ms() ? end - now_ms() : 0);
		if (left == 0 || poll(&pfd, 1, left) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

int
cp_send(int fd, struct json_object *o, int timeout_ms)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	uint8_t hdr[4];
	int r;

	if (s == NULL)
		return -ENOMEM;
	if (len > CP_MSG_MAX)
		return -E2BIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	if ((r = write_all(fd, (const char *)hdr, sizeof(hdr), timeout_ms)) < 0)
		return r;
	return write_all(fd, s, len, timeout_ms);
}

static size_t
hdr_len(const uint8_t h[4])
{
	return (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
}

/* Reads into p up to n bytes: >0 read, 0 EOF, -errno. */
static ssize_t
read_some(int fd, void *p, size_t n)
{
	ssize_t r = read(fd, p, n);

	return r < 0 ? -errno : r;
}

int
cp_rx_read(struct cp_rx *rx, int fd, struct json_object **out)
{
	ssize_t r;

	*out = NULL;
	for (;;) {
		if (rx->hdr_have < sizeof(rx->hdr)) {
			r = read_some(fd, rx->hdr + rx->hdr_have, sizeof(rx->hdr) - rx->hdr_have);
		} else {
			if (rx->body == NULL) {
				rx->len = hdr_len(rx->hdr);
				if (rx->len == 0 || rx->len > CP_MSG_MAX)
					return -E2BIG;
				if ((rx->body = malloc(rx->len)) == NULL)
					return -ENOMEM;
				rx->have = 0;
			}
			r = read_some(fd, rx->body + rx->have, rx->len - rx->have);
		}
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EPIPE;
		if (rx->hdr_have < sizeof(rx->hdr)) {
			rx->hdr_have += (size_t)r;
			continue;
		}
		rx->have += (size_t)r;
		if (rx->have < rx->len)
			continue;
		*out = parse(rx->body, rx->len);
		cp_rx_free(rx);
		return *out != NULL ? 1 : -EBADMSG;
	}
}

void
cp_rx_free(struct cp_rx *rx)
{
	free(rx->body);
	memset(rx, 0, sizeof(*rx));
}

static int
read_full(int fd, void *p, size_t n)
{
	size_t have = 0;
	ssize_t r;

	while (have < n) {
		r = read(fd, (char *)p + have, n - have);
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		have += (size_t)r;
	}
	return 0;
}

int
cp_recv(int fd, struct json_object **out)
{
	uint8_t h[4];
	char *body;
	size_t len;
	int r;

	*out = NULL;
	if ((r = read_full(fd, h, sizeof(h))) < 0)
		return r;
	if ((len = hdr_len(h)) == 0 || len > CP_MSG_MAX)
		return -E2BIG;
	if ((body = malloc(len)) == NULL)
		return -ENOMEM;
	if ((r = read_full(fd, body, len)) == 0 && (*out = parse(body, len)) == NULL)
		r = -EBADMSG;
	free(body);
	return r;
}

int
cp_keys_are(struct json_object *o, const char *const *keys)
{
	size_t n = 0;

	if (!json_object_is_type(o, json_type_object))
		return 0;
	for (; keys[n] != NULL; n++)
		if (!json_object_object_get_ex(o, keys[n], NULL))
			return 0;
	return (size_t)json_object_object_length(o) == n;
}

const char *
cp_str(struct json_object *o, const char *key, size_t max)
{
	struct json_object *v;
	const char *s;
	size_t i, len;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len > max || strlen(s) != len)
		return NULL;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 && s[i] != '\n')
			return NULL;
	return s;
}

int
cp_int(struct json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *v)
{
	struct json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int))
		return -EINVAL;
	*v = json_object_get_int64(x);
	return *v >= lo && *v <= hi ? 0 : -EINVAL;
}
