/*
 * Helpers shared by the data-plane unit tests (include after cmocka.h).
 */
#ifndef DP_TEST_H
#define DP_TEST_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* An IPv4 socket address ip:port. */
static inline void
dp_test_addr4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
}

/* An IPv4/UDP packet src -> dst with `payload` bytes 0, 1, 2, ...; its length. */
static inline size_t
dp_test_ip4(uint8_t *b, const char *src, const char *dst, size_t payload)
{
	size_t len = 20 + payload;

	memset(b, 0, len);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[8] = 64;
	b[9] = 17;
	assert_int_equal(inet_pton(AF_INET, src, b + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, b + 16), 1);
	for (size_t i = 0; i < payload; i++)
		b[20 + i] = (uint8_t)i;
	return len;
}

#endif
