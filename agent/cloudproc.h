/*
 * The cloud process: `cloudroute run` does its cloud passes in a child
 * process that holds no capability (privilege separation, in the shape of
 * OpenBSD's privsep daemons: the process that parses what a cloud API
 * answers, HTTP, JSON and XML, cannot change the host's network).
 *
 *   daemon (CAP_NET_ADMIN)                 cloud process (no capabilities,
 *     |                                      no_new_privs, seccomp filter)
 *     |-- job: cloud_job, the state's "cloud" object, deadline -->|
 *     |<-- checkpoint: the provider's "cloud" object -------------|  saved by
 *     |-- ack: saved or not -------------------------------------->|  the daemon
 *     |<-- result: outcome, changes, conflicts, owned, errors, ---|
 *     |            API call counts                                 |
 *
 * Wire: a socketpair; every message is a 4-byte big-endian length and one
 * JSON object (at most CP_MSG_MAX bytes, nesting at most 64 deep), checked
 * field by field by the receiver (agent/cloudproc_wire.c).  The child is
 * `cloudroute __cloud-process` exec'd by the daemon with the socket as fd 3
 * and nothing else open but stdin/stdout/stderr (so no netlink, nftables or
 * TUN descriptor of the daemon leaks into it); it drops every capability
 * and every file write (Landlock) before it reads anything
 * (agent/cloudproc_child.c).  The fleet's public IP lookup
 * (cloudproc_public_ip) runs in a one-shot child of the same kind.
 *
 * Supervision (agent/cloudproc.c, main thread only): a child that dies, says
 * something malformed or does not finish a pass within its deadline + 10 s
 * is killed, the pass fails with the reason, and a new child is started for
 * the next pass.  The daemon never blocks on it: reads are incremental on
 * a non-blocking socket, and a write the child does not take within 2 s
 * kills it.  Cancellation (SIGTERM of the daemon): SIGTERM to the child,
 * which cancels its HTTP transfers (prov_cancel_set) within ~100 ms; its
 * last checkpoint is still saved; after 1.5 s it is killed.
 */
#ifndef AG_CLOUDPROC_H
#define AG_CLOUDPROC_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/cloud.h"

#define CP_ARG "__cloud-process"     /* argv[1] of the child */

struct cloudproc;

/* A finished pass. */
struct cloudproc_done {
	int r;                           /* cloud_pass's result, or -errno of the process */
	struct cloud_result res;
	double secs;
	char errs[4096];
};

/* The supervisor; no child runs until the first submit.  st/stlock: the
 * state the checkpoints are saved into; pass_ms: a pass's deadline; fg and
 * verbose: how the child logs (as log_init). */
int cloudproc_new(struct state *st, pthread_mutex_t *stlock, uint64_t pass_ms, int fg,
    int verbose, struct cloudproc **out);
/* Readable when cloudproc_handle has something to do (poll it). */
int cloudproc_fd(const struct cloudproc *cp);
/* 1 while a pass runs. */
int cloudproc_busy(const struct cloudproc *cp);
/* Starts a pass (starting the child if none runs; reopen: the child closes
 * its provider session first).  0, -EBUSY, or -errno with a line in errs
 * (then no pass runs). */
int cloudproc_submit(struct cloudproc *cp, const struct cloud_job *job, int reopen,
    struct buf *errs);
/* Serves the child (checkpoints, result, its death, the deadline).  1 when
 * a pass ended (*done filled), else 0. */
int cloudproc_handle(struct cloudproc *cp, struct cloudproc_done *done);
/* Cancels a pass in flight (its checkpoints are still saved), ends the
 * child within 1.5 s, frees cp. */
void cloudproc_free(struct cloudproc *cp);

/* The public IP of this instance as the provider's open() finds it (its
 * metadata), asked of a cloud process of its own so that no metadata or API
 * answer is parsed here; blocks up to 30 s (the fleet thread, which needs
 * it for its endpoint).  0, -ENOENT (none), or -errno with a line in errs.
 * Thread-safe. */
int cloudproc_public_ip(const char *provider, char *out, size_t len, struct buf *errs);
/* Takes fd (our end of a socket) and pid as the child, as if started
 * (tests play the child with it).  0 or -errno. */
int cloudproc_adopt(struct cloudproc *cp, int fd, pid_t pid);
/* The child's main (agent/main.c calls it for argv[1] == CP_ARG). */
int cloudproc_child_main(int argc, char **argv);

#endif
