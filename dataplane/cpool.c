/*
 * The crypto pool: helper threads that share one batch's encryption or
 * decryption with the worker that read it, so that the segments of a
 * single flow (which the kernel keeps on one TUN queue and one socket, hence
 * one worker) use more than one core.
 *
 * Only the AEAD work is shared.  The worker does everything that decides
 * order and state by itself, in batch order: it routes, takes the sending
 * counters and later sends the datagrams in counter order (tun.c), and on
 * the receive side it checks the replay window and writes to the TUN in
 * arrival order after the batch is decrypted (udp.c).  The helpers only
 * run fn on disjoint ranges of the batch's slots, so the parallel path
 * delivers exactly what the serial path delivers.
 *
 * One job at a time: a worker that finds the pool busy (another worker's
 * flow) works alone, which is what it would gain from anyway.  The job is
 * published through `ticket`, the generation in the high 32 bits and the
 * next unclaimed item in the low ones:
 *   poster: ticket = (g+1, CLOSED); write fn, ctx, n, chunk (release), done = 0;
 *           ticket = (g+1, 0); wake the sleepers; take part; wait done == n.
 *   helper: t = ticket; read fn, ctx, n, chunk (acquire); claim a range with a
 *           CAS on ticket from t, which fails if the job changed meanwhile,
 *           so a helper never runs a range of a job with another job's fn.
 * The poster's frame (ctx) stays valid until done == n; after that no range
 * is left to claim.  Helpers spin briefly for the next job, then sleep on a
 * futex.  Helper i encrypts with worker index DP_HELPER_BASE + i.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

#define CLOSED      0xffffffffu
#define SPIN_JOB    200        /* pauses a helper waits for the next job before sleeping */
#define SPIN_DONE   2000       /* pauses the poster waits for the helpers before sleeping */

static inline uint64_t
mk(uint32_t gen, uint32_t next)
{
	return (uint64_t)gen << 32 | next;
}

static void
futex_wait(uint32_t *word, uint32_t val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void
futex_wake(uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void
relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claims and runs ranges of the job ticket t belongs to until none is left. */
static void
work(struct dp_cpool *cp, uint64_t t, unsigned int worker)
{
	/* acquire: a field already written for a later job makes its closing
	 * of the ticket visible, so the CAS below fails */
	dp_cpool_fn fn = __atomic_load_n(&cp->fn, __ATOMIC_ACQUIRE);
	void *ctx = __atomic_load_n(&cp->ctx, __ATOMIC_ACQUIRE);
	uint32_t n = __atomic_load_n(&cp->n, __ATOMIC_ACQUIRE);
	uint32_t chunk = __atomic_load_n(&cp->chunk, __ATOMIC_ACQUIRE);
	uint32_t gen = (uint32_t)(t >> 32), i, end;

	for (;;) {
		i = (uint32_t)t;
		if ((uint32_t)(t >> 32) != gen || i == CLOSED || i >= n)
			return;
		end = n - i < chunk ? n : i + chunk;
		if (!__atomic_compare_exchange_n(&cp->ticket, &t, mk(gen, end), 0,
		    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue;               /* t now holds the current ticket */
		fn(ctx, worker, i, end);
		if (__atomic_add_fetch(&cp->done, end - i, __ATOMIC_SEQ_CST) == n &&
		    __atomic_load_n(&cp->poster_waiting, __ATOMIC_SEQ_CST))
			futex_wake(&cp->done, 1);
		t = mk(gen, end);
	}
}

static void *
helper_main(void *arg)
{
	struct dp_cpool_helper *h = arg;
	struct dp_cpool *cp = h->cp;
	uint32_t seen = 0, wake;
	unsigned int spins = 0;
	uint64_t t;

	while (!__atomic_load_n(&cp->stop, __ATOMIC_ACQUIRE)) {
		t = __atomic_load_n(&cp->ticket, __ATOMIC_SEQ_CST);
		if ((uint32_t)(t >> 32) != seen && (uint32_t)t != CLOSED) {
			seen = (uint32_t)(t >> 32);
			work(cp, t, h->worker);
			spins = 0;
			continue;
		}
		if (++spins < SPIN_JOB) {
			relax();
			continue;
		}
		wake = __atomic_load_n(&cp->wake, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&cp->sleepers, 1, __ATOMIC_SEQ_CST);
		t = __atomic_load_n(&cp->ticket, __ATOMIC_SEQ_CST);
		if ((uint32_t)(t >> 32) == seen || (uint32_t)t == CLOSED)
			futex_wait(&cp->wake, wake);
		__atomic_sub_fetch(&cp->sleepers, 1, __ATOMIC_SEQ_CST);
		spins = 0;
	}
	return NULL;
}

static void
wait_done(struct dp_cpool *cp, uint32_t n)
{
	uint32_t d;

	for (unsigned int s = 0; s < SPIN_DONE; s++) {
		if (__atomic_load_n(&cp->done, __ATOMIC_ACQUIRE) == n)
			return;
		relax();
	}
	__atomic_store_n(&cp->poster_waiting, 1, __ATOMIC_SEQ_CST);
	while ((d = __atomic_load_n(&cp->done, __ATOMIC_SEQ_CST)) != n)
		futex_wait(&cp->done, d);
	__atomic_store_n(&cp->poster_waiting, 0, __ATOMIC_RELAXED);
}

void
dp_cpool_run(struct dp_device *dev, unsigned int worker, unsigned int n,
    dp_cpool_fn fn, void *ctx)
{
	struct dp_cpool *cp = dev->cpool;
	uint32_t gen, chunk;

	if (n == 0)
		return;
	if (cp == NULL || n < DP_CPOOL_MIN || pthread_mutex_trylock(&cp->post) != 0) {
		fn(ctx, worker, 0, n);
		return;
	}
	gen = (uint32_t)(__atomic_load_n(&cp->ticket, __ATOMIC_RELAXED) >> 32) + 1;
	if (gen == 0)
		gen = 1;                       /* 0 is what a helper has seen at start */
	__atomic_store_n(&cp->ticket, mk(gen, CLOSED), __ATOMIC_SEQ_CST);
	/* small ranges: a helper that is scheduled late leaves little behind */
	chunk = n / ((cp->n_helpers + 1) * 4);
	chunk = chunk < 2 ? 2 : chunk > 16 ? 16 : chunk;
	/* release: whoever reads one of these sees the ticket closed */
	__atomic_store_n(&cp->fn, fn, __ATOMIC_RELEASE);
	__atomic_store_n(&cp->ctx, ctx, __ATOMIC_RELEASE);
	__atomic_store_n(&cp->n, n, __ATOMIC_RELEASE);
	__atomic_store_n(&cp->chunk, chunk, __ATOMIC_RELEASE);
	__atomic_store_n(&cp->done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cp->ticket, mk(gen, 0), __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&cp->wake, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&cp->sleepers, __ATOMIC_SEQ_CST) > 0)
		futex_wake(&cp->wake, INT_MAX);
	work(cp, mk(gen, 0), worker);
	wait_done(cp, n);
	__atomic_add_fetch(&cp->jobs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&cp->post);
}

/*
 * Helpers by default: one per CPU beyond the first on 3 or more CPUs, none
 * on 1 or 2.  On two vCPUs the second is busy with the kernel's side of the
 * flow (and in make bench with the other end): there the helpers cost 3-20 %
 * more CPU per GB for no throughput.  CLOUDROUTE_CRYPTO_HELPERS
 * (0..DP_MAX_HELPERS) overrides.
 */
unsigned int
dp_cpool_default_helpers(void)
{
	const char *e = getenv("CLOUDROUTE_CRYPTO_HELPERS");
	long n;

	if (e != NULL && *e != '\0') {
		char *end;
		n = strtol(e, &end, 10);
		if (*end == '\0' && n >= 0 && n <= DP_MAX_HELPERS)
			return (unsigned int)n;
		log_warnx("CLOUDROUTE_CRYPTO_HELPERS=%s: not 0..%d, ignored", e, DP_MAX_HELPERS);
	}
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 2)
		return 0;
	n--;
	return n > DP_MAX_HELPERS ? DP_MAX_HELPERS : (unsigned int)n;
}

int
dp_cpool_start(struct dp_device *dev, unsigned int n_helpers)
{
	struct dp_cpool *cp;
	int r;

	if (n_helpers == 0 || dev->cpool != NULL)
		return 0;
	if (n_helpers > DP_MAX_HELPERS)
		n_helpers = DP_MAX_HELPERS;
	if ((cp = aligned_alloc(64, sizeof(*cp))) == NULL)
		return -ENOMEM;
	memset(cp, 0, sizeof(*cp));
	pthread_mutex_init(&cp->post, NULL);
	dev->cpool = cp;
	for (unsigned int i = 0; i < n_helpers; i++) {
		struct dp_cpool_helper *h = &cp->helpers[i];

		h->cp = cp;
		h->worker = DP_HELPER_BASE + i;
		if ((r = pthread_create(&cp->thr[i], NULL, helper_main, h)) != 0) {
			dp_cpool_stop(dev);
			return -r;
		}
		cp->n_helpers++;
	}
	return 0;
}

void
dp_cpool_stop(struct dp_device *dev)
{
	struct dp_cpool *cp = dev->cpool;

	if (cp == NULL)
		return;
	__atomic_store_n(&cp->stop, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&cp->wake, 1, __ATOMIC_SEQ_CST);
	futex_wake(&cp->wake, INT_MAX);
	for (unsigned int i = 0; i < cp->n_helpers; i++)
		pthread_join(cp->thr[i], NULL);
	pthread_mutex_destroy(&cp->post);
	dev->cpool = NULL;
	free(cp);
}

uint64_t
dp_cpool_jobs(struct dp_device *dev)
{
	return dev->cpool == NULL ? 0 : __atomic_load_n(&dev->cpool->jobs, __ATOMIC_RELAXED);
}
