/*
 * Internal interfaces of the tunnel device (not for the agent): the
 * cryptokey-routing table (allowedips.c), the timer state machine
 * (timers.c), peers and the receiver-index table (peer.c), the data path
 * and workers (device.c), TUN and UDP I/O (tun.c, udp.c) and the UAPI
 * protocol (uapi.c).
 *
 * Locking, outermost first:
 *   dev->hs_lock         the handshake queue (hsqueue.c); never held with others.
 *   cpool->post          one crypto-pool job at a time (cpool.c); taken with
 *                        trylock by a worker holding dev->lock for reading.
 *   dev->lock (rwlock)   peers, allowedips, identity, sockets.  Workers and
 *                        the timer thread hold it for reading while they
 *                        process one batch; configuration holds it for
 *                        writing.  Retired keypairs are freed only after a
 *                        write-lock round, so a pointer read under the
 *                        read lock stays valid for the whole batch.
 *   peer->lock (mutex)   handshake, cookie maker, keypair slots (writes),
 *                        timers, endpoint, staged queue.
 *   dev->index_lock      receiver-index hash table.
 *   dev->retire_lock     retired keypair list.
 *   dev->tset.lock       the set of peers with armed timers (timers.c).
 * The data path reads peer->current/next with atomic loads.
 */
#ifndef DP_INTERNAL_H
#define DP_INTERNAL_H

#include <net/if.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/prefix.h"
#include "common/util.h"
#include "dataplane/dataplane.h"
#include "dataplane/noise.h"
#include "dataplane/offload.h"

#define DP_BATCH            32           /* TUN reads per batch, handshake datagrams per recvmmsg */
#define DP_RX_BATCH         8            /* receive buffers per recvmmsg (64 KiB each, UDP_GRO) */
#define DP_TX_SLOTS         256          /* packets per send batch (after segmentation) */
#define DP_TX_ARENA         (512 << 10)  /* bytes behind the send slots */
#define DP_GSO_MAX_SEGS     64           /* datagrams per UDP_SEGMENT send */
#define DP_GSO_MAX_BYTES    65000        /* bytes per UDP_SEGMENT send */
#define DP_BUF_SIZE         (65536 + 64) /* one packet buffer */
#define DP_HEADROOM         MESSAGE_DATA_HEADER_LEN
#define DP_STAGED_MAX       128          /* packets queued per peer without a session */
#define DP_CTL_WORKER       (DP_MAX_WORKERS - 1)   /* index used by the timer thread */
#define DP_HS_WORKER        (DP_MAX_WORKERS - 2)   /* index of the handshake thread */
#define DP_MAX_DATA_WORKERS 8
#define DP_MAX_HELPERS      6                      /* crypto helpers (cpool.c) */
#define DP_HELPER_BASE      DP_MAX_DATA_WORKERS    /* index of the first helper */
#define DP_CPOOL_MIN        8            /* packets in a batch before helpers share it */
#define DP_HS_QUEUE         1024         /* handshake messages waiting for the thread */
#define DP_HS_RATE          20           /* handshake messages/s per source under load */
#define DP_HS_BURST         5
#define DP_HS_BUCKETS       4096
#define DP_INDEX_BUCKETS    4096
#define DP_PEER_BUCKETS     4096
#define DP_TICK_MS          50
#define MAX_TIMER_HANDSHAKES (REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS)
/* Handshake messages per second above which we demand cookies (mac2). */
#define DP_UNDER_LOAD_RATE  256
#define DP_UNDER_LOAD_HOLD_MS 1000

struct dp_peer;
struct dp_device;

/* ---- cpool.c: crypto helpers sharing one batch ------------------------------ */

/* Runs items [begin, end) of a batch with cipher contexts of `worker`. */
typedef void (*dp_cpool_fn)(void *ctx, unsigned int worker, unsigned int begin,
    unsigned int end);
struct dp_cpool;
struct dp_cpool_helper {
	struct dp_cpool *cp;
	unsigned int worker;
};
struct dp_cpool {
	uint64_t ticket;                      /* atomic: generation << 32 | next item */
	dp_cpool_fn fn;                       /* atomic (relaxed): the job of ticket's generation */
	void *ctx;
	uint32_t n, chunk;
	uint32_t done __attribute__((aligned(64)));   /* atomic, futex: items finished */
	int poster_waiting;
	uint32_t wake __attribute__((aligned(64)));   /* atomic, futex: helpers sleep on it */
	int sleepers, stop;
	uint64_t jobs;                        /* atomic: batches shared (tests, status) */
	pthread_mutex_t post;
	unsigned int n_helpers;
	pthread_t thr[DP_MAX_HELPERS];
	struct dp_cpool_helper helpers[DP_MAX_HELPERS];
};
/* Starts n helper threads (0 = none); 0 or -errno (then none run). */
int dp_cpool_start(struct dp_device *dev, unsigned int n);
void dp_cpool_stop(struct dp_device *dev);
unsigned int dp_cpool_default_helpers(void);
/* Runs fn over [0, n): with the helpers when the pool is idle and n is at
 * least DP_CPOOL_MIN, else alone; returns when every item is done. */
void dp_cpool_run(struct dp_device *dev, unsigned int worker, unsigned int n,
    dp_cpool_fn fn, void *ctx);
uint64_t dp_cpool_jobs(struct dp_device *dev);

/* ---- allowedips.c: longest-prefix match, prefix -> peer ------------------ */

/* Each peer also lists its own nodes (dp_peer.ai_nodes), so removing or
 * listing one peer's prefixes costs its prefixes, not the whole table. */
struct ai_node;
struct allowedips {
	struct ai_node *root4, *root6;
};
void ai_init(struct allowedips *t);
void ai_free(struct allowedips *t);
/* Inserts (or moves to `peer`) one prefix; host bits are ignored.  0/-ENOMEM. */
int ai_insert(struct allowedips *t, const struct prefix *p, struct dp_peer *peer);
/* Removes one exact prefix if it belongs to `peer`. */
void ai_remove(struct allowedips *t, const struct prefix *p, const struct dp_peer *peer);
void ai_remove_peer(struct allowedips *t, const struct dp_peer *peer);
/* addr: 4 or 16 bytes, network order. */
struct dp_peer *ai_lookup(const struct allowedips *t, int family, const uint8_t *addr);
/* Fills up to max prefixes of peer (max may be 0); returns the total count. */
size_t ai_list(const struct allowedips *t, const struct dp_peer *peer,
    struct prefix *out, size_t max);

/* ---- timers.c: the per-peer timer state machine ------------------------- */

/*
 * Deadlines are monotonic milliseconds, 0 = not armed.  Every function is a
 * pure function of the state and `now` (jitter is passed in), so tests drive
 * it with an injected clock.  The caller holds peer->lock.
 *
 * A device's timers belong to its timer set (struct dp_timerset below): a
 * min-heap of the timers with anything armed, ordered by `key`, a time at or
 * before every armed deadline.  Arming a deadline earlier than the key (or
 * with no key) puts the timers in the set or moves them up; a deadline moved
 * later or disarmed leaves the key as it is, so the common path costs a
 * comparison: the timer thread takes the timers when the key is due, runs
 * them and re-keys them at dp_timers_next(), or takes them out when that is 0.
 */
struct dp_timerset;
struct dp_timers {
	uint64_t retransmit_handshake;
	uint64_t send_keepalive;
	uint64_t new_handshake;
	uint64_t zero_key_material;
	uint64_t persistent_keepalive;
	uint64_t last_sent_handshake;       /* 0 = never */
	unsigned int handshake_attempts;
	int need_another_keepalive;
	int sent_lastminute_handshake;
	uint16_t persistent_keepalive_interval;  /* seconds */
	uint32_t slot;                      /* heap position + 1, 0 = not in the set (tset.lock) */
	uint64_t key;                       /* atomic, written under tset.lock; 0 = not in the set */
	struct dp_timerset *set;            /* NULL: alone (tests) */
};

struct dp_timerset {
	pthread_mutex_t lock;
	pthread_cond_t kick;                /* the timer thread's wait (CLOCK_MONOTONIC) */
	struct dp_timers **heap;
	size_t n, cap;                      /* cap >= the device's peers: no allocation when arming */
	uint64_t wake_at;                   /* the thread's planned wake, 0 = not waiting */
	uint64_t floor;                     /* and the earliest it wakes (coalescing) */
	uint64_t due_by;                    /* a wake asked for by dp_timerset_wake_by, 0 = none */
	int stop;
};

enum dp_timer_action {
	DP_TA_SEND_INITIATION = 1 << 0,     /* a new handshake (attempts reset) */
	DP_TA_RETRY_INITIATION = 1 << 1,    /* a retransmission */
	DP_TA_SEND_KEEPALIVE = 1 << 2,
	DP_TA_ZERO_KEYS = 1 << 3,
	DP_TA_PURGE_STAGED = 1 << 4,
};

void dp_timers_init(struct dp_timers *t, uint16_t persistent_keepalive);
void dp_timers_set_persistent_keepalive(struct dp_timers *t, uint16_t secs, uint64_t now);
void dp_timers_data_sent(struct dp_timers *t, uint64_t now, unsigned int jitter);
void dp_timers_data_received(struct dp_timers *t, uint64_t now);
void dp_timers_any_authenticated_sent(struct dp_timers *t, uint64_t now);
void dp_timers_any_authenticated_received(struct dp_timers *t, uint64_t now);
void dp_timers_any_authenticated_traversal(struct dp_timers *t, uint64_t now);
void dp_timers_handshake_initiated(struct dp_timers *t, uint64_t now, unsigned int jitter);
void dp_timers_handshake_complete(struct dp_timers *t, uint64_t now);
void dp_timers_session_derived(struct dp_timers *t, uint64_t now);
/* Rate limit of initiations (one per REKEY_TIMEOUT); records the send when 1. */
int dp_timers_may_initiate(struct dp_timers *t, uint64_t now, int is_retry);
/* Fires expired deadlines; returns enum dp_timer_action bits. */
unsigned int dp_timers_expire(struct dp_timers *t, uint64_t now);
/* Earliest armed deadline, 0 = none. */
uint64_t dp_timers_next(const struct dp_timers *t);

int dp_timerset_init(struct dp_timerset *s);
void dp_timerset_destroy(struct dp_timerset *s);
/* Room for `peers` timers (dev->lock held for writing); shrinks when far
 * above, frees at 0.  0 or -ENOMEM. */
int dp_timerset_reserve(struct dp_timerset *s, size_t peers);
/* Joins t to s (peer->lock held), entering it if something is armed. */
void dp_timers_attach(struct dp_timers *t, struct dp_timerset *s);
/* Takes t out of its set (peer->lock held). */
void dp_timers_detach(struct dp_timers *t);
/* After running t's timers (peer->lock held): key = dp_timers_next(), or out. */
void dp_timers_rekey(struct dp_timers *t);
/* Takes the timers with the lowest key if it is <= now out of the set
 * (dev->lock held for reading: their peers stay); NULL when none is due. */
struct dp_timers *dp_timerset_pop_due(struct dp_timerset *s, uint64_t now);
/* Lowest key, 0 = the set is empty. */
uint64_t dp_timerset_next(struct dp_timerset *s);
/*
 * The timer thread's sleep: until the lowest key, but not before `floor`
 * nor after `until`; arming a deadline earlier than the planned wake wakes
 * it then.  Returns 1 once dp_timerset_stop() was called.
 */
int dp_timerset_wait(struct dp_timerset *s, uint64_t floor, uint64_t until);
/* The thread runs a round by `when` (retired keypairs to free). */
void dp_timerset_wake_by(struct dp_timerset *s, uint64_t when);
void dp_timerset_stop(struct dp_timerset *s);

/* Keypair age/counter rules (whitepaper §6.2-6.4). */
int dp_keypair_can_send(uint64_t birth, uint64_t counter, uint64_t now);
int dp_keypair_can_receive(uint64_t birth, uint64_t now);
int dp_keypair_rekey_on_send(int initiator, uint64_t birth, uint64_t counter, uint64_t now);
int dp_keypair_rekey_on_receive(int initiator, uint64_t birth, uint64_t now);

/* ---- peers, keypairs, receiver indices (peer.c) --------------------------- */

struct dp_keypair;
struct dp_index_entry {
	uint32_t index;
	int live;
	struct dp_peer *peer;
	struct dp_keypair *kp;               /* NULL for a handshake entry */
	struct dp_index_entry *next;
};

struct dp_keypair {
	struct noise_keypair nk;
	struct dp_index_entry ie;
	struct dp_peer *peer;
	int retired;                           /* atomic; set when taken out of use */
	struct dp_keypair *retire_next;
};

static inline int
dp_keypair_live(struct dp_keypair *kp)
{
	return kp != NULL && !__atomic_load_n(&kp->retired, __ATOMIC_ACQUIRE);
}

/* Allocated when the first packet is staged, freed when the queue empties. */
struct dp_staged {
	uint8_t *pkt[DP_STAGED_MAX];
	uint16_t len[DP_STAGED_MAX];
	unsigned int head, n;
};

struct dp_peer {
	struct dp_device *dev;
	struct dp_peer *next, **pprev;        /* all peers, in configuration order */
	struct dp_peer *hnext;                /* public key hash chain */
	struct ai_node *ai_nodes;             /* this peer's allowed IPs (allowedips.c) */
	char name[64];
	uint8_t public_key[NOISE_KEY_LEN];
	int has_psk;
	uint8_t psk[NOISE_KEY_LEN];
	pthread_mutex_t lock;
	struct noise_handshake hs;
	struct dp_index_entry hs_ie;
	struct cookie_maker cm;
	struct dp_keypair *current, *previous, *next_kp;
	struct dp_timers timers;
	int has_endpoint;
	struct sockaddr_storage endpoint;
	uint64_t last_initiation_rx_ms;
	uint64_t last_handshake_wall_ns;      /* 0 = never */
	uint64_t rx_bytes, tx_bytes;          /* atomic */
	struct dp_staged *staged;             /* NULL while nothing is staged */
	int keep;                             /* configuration: a mark under dev->lock */
};

/* A data message of a receive batch between its checks and its delivery. */
struct dp_rx_item {
	uint8_t *pkt;
	uint32_t len;
	int ok;                                /* decrypted and authenticated */
	struct dp_keypair *kp;
	uint64_t counter;
	const struct sockaddr_storage *src;
};
#define DP_RX_ITEMS DP_GRO_MAX_PKTS          /* data messages per receive round */

struct dp_worker {
	struct dp_device *dev;
	unsigned int idx;
	pthread_t thr;
	int running;
	int tun_fd, udp4, udp6, epfd;
	int vnet;                              /* TUN I/O carries a virtio_net_hdr */
	/* receive (UDP -> TUN); with UDP_GRO one buffer holds many datagrams */
	struct mmsghdr rx_msg[DP_RX_BATCH];
	struct iovec rx_iov[DP_RX_BATCH];
	struct sockaddr_storage rx_addr[DP_RX_BATCH];
	uint8_t *rx_buf[DP_RX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} rx_cmsg[DP_RX_BATCH];
	struct dp_rx_item *rx_items;           /* DP_RX_ITEMS */
	struct dp_gro_pkt rx_out[DP_GRO_MAX_PKTS];     /* decrypted, to the TUN */
	struct dp_gro gro;
	/* send (TUN -> UDP): super-packets are read into rd_buf and cut into
	 * packets in tx_arena; tx_buf[i] points into it */
	uint8_t *rd_buf;                       /* DP_BUF_SIZE + virtio header */
	uint8_t *tx_arena;
	struct mmsghdr tx_msg[DP_TX_SLOTS];
	struct iovec tx_iov[DP_TX_SLOTS];
	struct sockaddr_storage tx_addr[DP_TX_SLOTS];
	uint8_t *tx_buf[DP_TX_SLOTS];
	size_t tx_len[DP_TX_SLOTS];
	struct dp_keypair *tx_kp[DP_TX_SLOTS];   /* session and counter taken for a slot */
	uint64_t tx_ctr[DP_TX_SLOTS];
	/* UDP_SEGMENT control messages, one per sendmmsg entry */
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} tx_cmsg[DP_TX_SLOTS];
};

struct dp_device {
	char ifname[IFNAMSIZ];
	pthread_mutex_t cfg_lock;              /* serialises configure and UAPI set */
	pthread_rwlock_t lock;
	struct noise_local local;
	struct cookie_checker cc;
	uint16_t listen_port;
	uint32_t fwmark;
	struct dp_peer *peers, **peers_tail;
	size_t n_peers;
	struct dp_peer *peer_hash[DP_PEER_BUCKETS];
	struct allowedips ai;

	pthread_rwlock_t index_lock;
	struct dp_index_entry *index_hash[DP_INDEX_BUCKETS];
	pthread_mutex_t retire_lock;
	struct dp_keypair *retired;

	int detached;                          /* no TUN, sockets or threads (tests) */
	int no_gso;                            /* atomic: UDP_SEGMENT refused once */
	/* detached devices: where datagrams and TUN writes go instead */
	void (*tx_hook)(void *ctx, const struct sockaddr_storage *to, const void *buf,
	    size_t len);
	void (*tun_hook)(void *ctx, const void *pkt, size_t len);
	void *hook_ctx;
	unsigned int n_workers;
	struct dp_worker workers[DP_MAX_DATA_WORKERS];
	int tun_fds[DP_MAX_DATA_WORKERS];
	int stop_fd;                           /* eventfd: workers exit when readable */
	pthread_t timer_thr;
	int timer_running;
	struct dp_timerset tset;               /* peers with armed timers (timers.c) */
	unsigned int mtu;                      /* atomic */

	uint64_t hs_window_start, hs_window_count, last_under_load;  /* atomic */
	/* atomic; a line of its own: a flood of drops does not slow the
	 * workers' reads of the fields around it */
	uint64_t drops[DP_DROP_MAX] __attribute__((aligned(64)));
	uint64_t sock_drops_base;              /* kernel drops of sockets closed (dev->lock) */

	/* hsqueue.c: handshake messages from the workers to the handshake thread,
	 * which also reads the handshake sockets (steered there by the kernel) */
	pthread_mutex_t hs_lock __attribute__((aligned(64)));
	struct dp_hs_msg *hs_ring;             /* DP_HS_QUEUE entries, NULL = inline */
	unsigned int hs_head, hs_n;
	int hs_stop, hs_running;
	int hs_efd;                            /* eventfd: ring not empty, or stop */
	int hs_fd4, hs_fd6;                    /* handshake sockets, -1 = none */
	pthread_t hs_thr;
	struct dp_hs_bucket *hs_buckets;       /* per-source limit (handshake thread) */
	uint64_t hs_seed;

	struct dp_cpool *cpool;                /* NULL = no helpers */

	int uapi_fd, uapi_stop_fd;
	pthread_t uapi_thr;
	int uapi_running;
	char uapi_path[108];
};

/* peer.c */
struct dp_peer *dp_peer_create(struct dp_device *dev, const uint8_t pub[NOISE_KEY_LEN]);
void dp_peer_destroy(struct dp_peer *p);        /* needs dev->lock for writing */
struct dp_peer *dp_peer_lookup(struct dp_device *dev, const uint8_t pub[NOISE_KEY_LEN]);
int dp_peer_set_psk(struct dp_peer *p, const uint8_t *psk);  /* NULL = none */
void dp_peer_set_endpoint(struct dp_peer *p, const struct sockaddr_storage *ss);
void dp_peer_set_keepalive(struct dp_peer *p, uint16_t secs);
/* Drops the peer's sessions and in-flight handshake (peer->lock held). */
void dp_peer_zero_keys(struct dp_peer *p);
void dp_peer_purge_staged(struct dp_peer *p);
/* Queues a copy of a packet until a session exists (peer->lock held); the
 * oldest is dropped when DP_STAGED_MAX are waiting.  0 or -ENOMEM. */
int dp_peer_stage(struct dp_peer *p, const uint8_t *pkt, size_t len);
/* Takes every staged packet (peer->lock held); returns how many. */
unsigned int dp_peer_take_staged(struct dp_peer *p, uint8_t **pkts, uint16_t *lens);
/* The peer's static DH, computed when it first handshakes (peer->lock held). */
int dp_peer_precompute(struct dp_peer *p);
/* Drops the static DH of every peer after a private key change. */
void dp_device_rekey_identity(struct dp_device *dev);
void dp_index_remove(struct dp_device *dev, struct dp_index_entry *e);
int dp_index_add(struct dp_device *dev, struct dp_index_entry *e);
/* Returns the peer and (for keypair entries) the keypair; NULL if unknown. */
struct dp_peer *dp_index_lookup(struct dp_device *dev, uint32_t index,
    int want_keypair, struct dp_keypair **kp);
/* Installs a fresh session (peer->lock held); initiator rotates to current. */
void dp_peer_install_keypair(struct dp_peer *p, struct dp_keypair *kp);
/* First data on `next`: promotes it to current (peer->lock held). 1 if done. */
int dp_peer_promote_next(struct dp_peer *p, struct dp_keypair *kp);
void dp_keypair_retire(struct dp_device *dev, struct dp_keypair *kp);
void dp_device_free_retired(struct dp_device *dev);   /* dev->lock held for writing */
/* After removing `removed` peers: gives freed heap back to the system so
 * that RSS follows the peer count down (a no-op for a few). */
void dp_device_trim(size_t removed);
void dp_peer_update_endpoint(struct dp_peer *p, const struct sockaddr_storage *src);

unsigned int dp_jitter(void);
/* One handshake message (types 1-3); dev->lock held for reading.  charged:
 * its source already paid its rate-limit share when it was queued. */
void dp_rx_handshake(struct dp_device *dev, unsigned int worker, const uint8_t *pkt,
    size_t len, const struct sockaddr_storage *src, int charged);

/* A set of sockets, one v4 and one v6 per worker (-1 = none), and their
 * port; hs4/hs6 (-1 = none) receive the handshake messages alone (udp.c). */
struct dp_udp_set {
	int fd4[DP_MAX_DATA_WORKERS], fd6[DP_MAX_DATA_WORKERS];
	int hs4, hs6;
	uint16_t port;
};

/* device.c: protocol actions */
/* Counts n drops for why and logs what (rate-limited, debug). */
void dp_drop_n(struct dp_device *dev, enum dp_drop_reason why, uint64_t n, const char *what);
#define dp_drop(dev, why, what) dp_drop_n(dev, why, 1, what)
void dp_send_initiation(struct dp_peer *p, unsigned int worker, int is_retry); /* lock held */
/* Sends the staged packets, or a keepalive when there are none (lock NOT held). */
void dp_send_staged(struct dp_peer *p, unsigned int worker, int keepalive_if_empty);
/* Runs one peer's timers and re-keys it in the timer set (dev->lock held for reading). */
void dp_peer_run_timers(struct dp_peer *p, uint64_t now);
/* Runs the timers of the peers whose key is due, each once (dev->lock held
 * for reading); returns how many it ran. */
size_t dp_device_run_timers(struct dp_device *dev, uint64_t now);
/* The timer thread (a detached device has none unless a test starts it). */
int dp_timer_thread_start(struct dp_device *dev);
void dp_timer_thread_stop(struct dp_device *dev);
/* Handles one received UDP datagram (fuzzing and tests use it directly). */
void dp_device_rx_one(struct dp_device *dev, unsigned int worker, uint8_t *pkt,
    size_t len, const struct sockaddr_storage *src);
/* A device without TUN, sockets or threads, for fuzzing and unit tests. */
int dp_device_create_detached(const struct dp_config *cfg, struct dp_device **out);
/* A detached device's worker 0 with its buffers (made on first use), for
 * the batch paths; its datagrams go to tx_hook, its packets to tun_hook.
 * NULL for an attached device or without memory. */
struct dp_worker *dp_detached_worker(struct dp_device *dev);
/* Applies a configuration (dev->lock held for writing); used by configure and UAPI. */
int dp_device_set_private_key(struct dp_device *dev, const uint8_t key[NOISE_KEY_LEN]);
/*
 * A listen port change in three steps, so that a port that cannot be bound
 * changes nothing and no thread ever uses a closed descriptor:
 *   dp_port_stage (cfg_lock held, dev->lock not held): binds the new
 *     sockets into pc and stops the workers; 1 when a change is staged, 0
 *     when none is needed (port unchanged, or 0 and keep_random), -errno.
 *   dp_port_commit (dev->lock held for writing): the device takes them.
 *   dp_port_end (dev->lock not held): closes what pc holds (the old sockets
 *     after a commit, the unused new ones otherwise), restarts the workers.
 */
struct dp_port_change {
	int staged;
	struct dp_udp_set set;
};
int dp_port_stage(struct dp_device *dev, uint16_t port, uint32_t fwmark,
    struct dp_port_change *pc);
void dp_port_commit(struct dp_device *dev, struct dp_port_change *pc);
void dp_port_end(struct dp_device *dev, struct dp_port_change *pc);
int dp_workers_start(struct dp_device *dev);
void dp_workers_stop(struct dp_device *dev);
/* Sends one datagram to peer's endpoint through worker's socket. */
int dp_send_datagram(struct dp_device *dev, unsigned int worker,
    const struct sockaddr_storage *to, const void *buf, size_t len);

/* hsqueue.c */
struct dp_hs_msg;
/* Queues a handshake message for the handshake thread (drops it when full). */
void dp_hs_enqueue(struct dp_device *dev, const uint8_t *pkt, size_t len,
    const struct sockaddr_storage *src);
unsigned int dp_hs_queued(struct dp_device *dev);
struct dp_hs_bucket;
/* Under load: 1 when src may cost one more handshake message now (takes hs_lock). */
int dp_hs_ratelimit(struct dp_device *dev, const struct sockaddr_storage *src, uint64_t now);
/* The ring and its eventfd (once), then the thread with the workers. */
int dp_hs_start(struct dp_device *dev);
void dp_hs_stop(struct dp_device *dev);
int dp_hs_thread_start(struct dp_device *dev);
void dp_hs_thread_stop(struct dp_device *dev);

/* tun.c */
/* Opens the queues with IFF_VNET_HDR and TSO/USO offloads when the kernel
 * takes them (*vnet = 1), else plain; 0 or -errno. */
int dp_tun_open(const char *ifname, unsigned int queues, int *fds, int *vnet);
/* Writes one decrypted packet (DP_VNET_HDR_LEN writable bytes before it);
 * a detached device's goes to its tun_hook. */
void dp_tun_write(struct dp_worker *w, uint8_t *pkt, size_t len);
/* Writes a batch of decrypted packets, coalesced when the TUN has vnet. */
void dp_tun_write_batch(struct dp_worker *w, struct dp_gro_pkt *pkts, unsigned int n);
int dp_tun_mtu(const char *ifname);
/* Reads up to DP_BATCH packets from the worker's TUN queue, encrypts and
 * sends them.  1 if the batch was full (more may be pending), -errno when
 * the queue is broken. */
int dp_tun_rx_batch(struct dp_worker *w);
/* The send path for packets given instead of read (detached devices). */
void dp_tun_send_packets(struct dp_worker *w, const uint8_t *const *pkts,
    const size_t *lens, unsigned int n);

/* udp.c */
/*
 * Binds a v4 and a v6 socket per worker (SO_REUSEPORT) on port into s
 * without touching the device's sockets; port 0 picks one.  0 or -errno
 * (s then holds nothing).
 */
int dp_udp_bind(struct dp_device *dev, uint16_t port, uint32_t fwmark, struct dp_udp_set *s);
/* Exchanges s with the workers' sockets and port (dev->lock held for
 * writing, workers stopped): s then holds the old ones. */
void dp_udp_swap(struct dp_device *dev, struct dp_udp_set *s);
void dp_udp_set_close(struct dp_udp_set *s);
/* SO_MARK on every socket (dev->lock held for writing). */
int dp_udp_set_mark(struct dp_device *dev, uint32_t fwmark);
/* Sends n messages (counting those the kernel refuses as drops); how many
 * were handled, or -EIO when the kernel refused UDP_SEGMENT. */
int dp_udp_send_batch(struct dp_device *dev, int fd, struct mmsghdr *msgs, unsigned int n);
/* Receives up to DP_RX_BATCH buffers of datagrams on fd, decrypts, writes to TUN. */
int dp_udp_rx_batch(struct dp_worker *w, int fd);
/* The same for buffers already in w->rx_msg[0..n) (msg_len, addresses,
 * control). */
void dp_udp_rx_buffers(struct dp_worker *w, unsigned int n);
/* 0 when msg (len bytes) is a handshake message of its type's size, else
 * counts the drop and returns -1. */
int dp_udp_handshake_ok(struct dp_device *dev, const uint8_t *msg, size_t len);

/* uapi.c */
struct dp_uapi_peer {
	uint8_t public_key[NOISE_KEY_LEN];
	int remove, update_only;
	int has_psk;
	uint8_t psk[NOISE_KEY_LEN];
	int has_endpoint;
	struct sockaddr_storage endpoint;
	int has_keepalive;
	uint16_t keepalive;
	int replace_allowed_ips;
	struct prefix *allowed_ips;
	size_t n_allowed_ips;
};
struct dp_uapi_set {
	int has_private_key;
	uint8_t private_key[NOISE_KEY_LEN];
	int has_listen_port;
	uint16_t listen_port;
	int has_fwmark;
	uint32_t fwmark;
	int replace_peers;
	struct dp_uapi_peer *peers;
	size_t n_peers;
};
#define DP_UAPI_MAX_REQUEST (16 << 20)   /* about 140,000 peers with one allowed IP */
#define DP_UAPI_MAX_LINE    256
/* Parses the body of a `set=1` request (the lines after "set=1", up to the
 * blank line).  0 or -EINVAL/-ENOMEM/-E2BIG, with a message in err. */
int dp_uapi_parse_set(const char *body, size_t len, struct dp_uapi_set *out,
    char *err, size_t errlen);
void dp_uapi_set_free(struct dp_uapi_set *s);
/* Applies a parsed request; 0 or -errno. */
int dp_uapi_apply(struct dp_device *dev, const struct dp_uapi_set *s);
/* Formats the `get=1` reply (without the errno line). */
int dp_uapi_format_get(struct dp_device *dev, struct buf *out);
/* Writes the whole `get=1` reply (with its errno line) to a socket in
 * bounded chunks; 0, or -errno when the client cannot take it in time. */
int dp_uapi_serve_get(struct dp_device *dev, int fd);
/* Handles one whole request ("get=1\n\n" or "set=1\n...\n\n") into reply. */
int dp_uapi_handle(struct dp_device *dev, const char *req, size_t len, struct buf *reply);
/* Parses a `get=1` reply (tests and dp_uapi_status). */
int dp_uapi_parse_get(const char *text, size_t len, struct dp_peer_status **out,
    size_t *n, uint16_t *listen_port);
int dp_uapi_start(struct dp_device *dev);
void dp_uapi_stop(struct dp_device *dev);

#endif
