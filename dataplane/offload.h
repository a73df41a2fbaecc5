/*
 * Segmentation and coalescing offloads between the TUN device (opened with
 * IFF_VNET_HDR) and the data path, internal to the dataplane.
 *
 * Send side: the kernel hands us TSO/USO super-packets (up to 64 KiB) with a
 * struct virtio_net_hdr.  dp_gso_* cuts one into MTU-sized IP packets with
 * complete headers and checksums (they leave this host encrypted, so no
 * one downstream can finish a partial checksum).
 *
 * Receive side: dp_gro_write() merges consecutive decrypted TCP segments of
 * one flow into one super-packet with a virtio_net_hdr (GSO TCPV4/TCPV6,
 * NEEDS_CSUM), so the kernel walks its stack once per super-packet; every
 * other packet goes out alone behind a zero header.
 *
 * Pure functions over caller-provided memory: no allocation, no locks.
 * References: include/uapi/linux/virtio_net.h, drivers/net/tun.c,
 * net/ipv4/tcp_offload.c (tcp_gro_receive's merge rules), RFC 1071.
 */
#ifndef DP_OFFLOAD_H
#define DP_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Missing from Debian 12's headers. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define DP_VNET_HDR_LEN   ((size_t)sizeof(struct virtio_net_hdr))  /* 10 */
#define DP_GRO_MAX_PKTS   1024   /* packets per dp_gro_write() call */
#define DP_GRO_MAX_SEGS   64     /* segments merged into one super-packet */
#define DP_GRO_MAX_LEN    65535  /* bytes of one merged IP packet */

/* RFC 1071 sum helpers (native byte order, as loaded from memory). */
uint64_t dp_csum_add(uint64_t sum, const void *buf, size_t len);
uint16_t dp_csum_fold(uint64_t sum);          /* folded, not complemented */

/* ---- send side: one super-packet -> IP packets ---------------------------- */

struct dp_gso {
	const uint8_t *pkt;
	size_t len;
	int kind;                 /* internal: plain copy, checksum only, TCP, UDP */
	int v6;
	size_t l4off, hdr_len, csum_off, gso_size, off;
	unsigned int idx;
};

/*
 * Starts cutting pkt (len bytes, without the virtio header); vh NULL means
 * "no virtio header" (the packet is copied as is).  -EINVAL for a packet
 * whose header does not describe it (it is to be dropped).
 */
int dp_gso_init(struct dp_gso *g, const struct virtio_net_hdr *vh, const uint8_t *pkt,
    size_t len);
/* Length of the next packet, 0 when all are out. */
size_t dp_gso_next_len(const struct dp_gso *g);
/* Writes the next packet (dp_gso_next_len() bytes) to out; returns its length. */
size_t dp_gso_next(struct dp_gso *g, uint8_t *out);

/* ---- receive side: IP packets -> super-packets ---------------------------- */

struct dp_gro_pkt {
	uint8_t *data;            /* DP_VNET_HDR_LEN writable bytes precede it */
	size_t len;
};

struct dp_gro_flow;           /* per-packet parse results (offload.c) */
struct dp_gro {
	struct dp_gro_flow *info;                  /* DP_GRO_MAX_PKTS entries */
	unsigned int *next;                        /* chain of group members */
	unsigned int *group;                       /* heads, in creation order */
	struct iovec iov[DP_GRO_MAX_SEGS + 1];
};

/* Emits one packet (iov[0] starts with the virtio header). */
typedef void (*dp_gro_emit_fn)(void *ctx, const struct iovec *iov, int iovcnt);

int dp_gro_init(struct dp_gro *g);           /* 0 or -ENOMEM (once per worker) */
void dp_gro_free(struct dp_gro *g);
/*
 * Writes pkts[0..n) (n <= DP_GRO_MAX_PKTS) through emit, merging TCP
 * segments per the rules in offload.c.  Headers of merged packets are
 * rewritten in place.
 */
void dp_gro_write(struct dp_gro *g, struct dp_gro_pkt *pkts, unsigned int n,
    dp_gro_emit_fn emit, void *ctx);

#endif
