/*
 * Many peers for data-plane tests and benchmarks (header only): n peer
 * configurations with distinct public keys (not the public keys of any
 * known private key: bytes of the index, which is all a table needs) and
 * one allowed IP each, 10.x.y.z/32 from the index.
 */
#ifndef TESTS_DP_PEERS_H
#define TESTS_DP_PEERS_H

#include <string.h>

#include "dataplane/dataplane.h"

static inline void
dp_test_peers(struct dp_peer_config *pcs, struct prefix *ips, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&pcs[i], 0, sizeof(pcs[i]));
		memcpy(pcs[i].public_key, &i, sizeof(i));
		pcs[i].public_key[31] = 0x40;
		memset(&ips[i], 0, sizeof(ips[i]));
		ips[i].family = AF_INET;
		ips[i].len = 32;
		ips[i].addr[0] = 10;
		ips[i].addr[1] = (uint8_t)(i >> 16);
		ips[i].addr[2] = (uint8_t)(i >> 8);
		ips[i].addr[3] = (uint8_t)i;
		pcs[i].allowed_ips = &ips[i];
		pcs[i].n_allowed_ips = 1;
	}
}

#endif
