/*
 * Helpers shared by the data-plane unit tests (include after cmocka.h).
 */
#ifndef DP_TEST_H
#define DP_TEST_H

#include <arpa/inet.h>
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

#endif
