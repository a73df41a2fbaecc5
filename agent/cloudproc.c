/*
 * The daemon's side of the cloud process (see cloudproc.h): starting it,
 * handing it jobs, saving its checkpoints, checking every message it sends,
 * and killing and replacing it when it dies, misbehaves or hangs.
 *
 * Main thread only.  The state lock (stlock) is taken while a job's copy
 * of the "cloud" object is made and while a checkpoint is put into the
 * state and saved, never across anything that waits on the child.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/cloudproc.h"
#include "agent/cloudproc_int.h"
#include "common/metrics.h"

/* Past the pass's deadline before the child is killed: time for its last
 * checkpoint and result (a third of a short test deadline). */
#define GRACE_MS(pass) ((pass) / 3 < 10000 ? (pass) / 3 : 10000)
#define SEND_MS 2000            /* a message the child does not take in time kills it */
#define STOP_MS 1500
#define IDENTITY_MS 30000       /* metadata and credentials of a provider's open() */

struct cloudproc {
	pid_t pid;                      /* 0: no child */
	int fd;                         /* our end of the socket, -1 none */
	int epfd, tfd;                  /* cloudproc_fd(): the socket and the deadline */
	struct cp_rx rx;
	struct state *st;
	pthread_mutex_t *stlock;
	uint64_t pass_ms, t0;
	int fg, verbose, busy;
	int stopping;                   /* cloudproc_free: its end is expected */
	unsigned int started;           /* children started */
};

/* How children log: the daemon's (set by cloudproc_new before any thread
 * that may start one). */
static int child_fg, child_verbose;

static void
arm(struct cloudproc *cp, uint64_t ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	timerfd_settime(cp->tfd, 0, &its, NULL);
}

int
cloudproc_new(struct state *st, pthread_mutex_t *stlock, uint64_t pass_ms, int fg,
    int verbose, struct cloudproc **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct cloudproc *cp = calloc(1, sizeof(*cp));

	*out = NULL;
	if (cp == NULL)
		return -ENOMEM;
	cp->fd = -1;
	cp->st = st;
	cp->stlock = stlock;
	cp->pass_ms = pass_ms;
	cp->fg = child_fg = fg;
	cp->verbose = child_verbose = verbose;
	cp->epfd = epoll_create1(EPOLL_CLOEXEC);
	cp->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ev.data.fd = cp->tfd;
	if (cp->epfd < 0 || cp->tfd < 0 || epoll_ctl(cp->epfd, EPOLL_CTL_ADD, cp->tfd, &ev) < 0) {
		int r = -errno;

		cloudproc_free(cp);
		return r;
	}
	*out = cp;
	return 0;
}

int
cloudproc_fd(const struct cloudproc *cp)
{
	return cp->epfd;
}

int
cloudproc_busy(const struct cloudproc *cp)
{
	return cp->busy;
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
exec_child(int sock, long maxfd, char **argv)
{
	long fd;

	if (sock == CP_FD ? fcntl(sock, F_SETFD, 0) < 0 : dup2(sock, CP_FD) < 0)
		_exit(127);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, CP_FD + 1, ~0U, 0) < 0)
#endif
		for (fd = CP_FD + 1; fd < maxfd; fd++)
			close((int)fd);
	execv("/proc/self/exe", argv);
	_exit(127);
}

int
cloudproc_adopt(struct cloudproc *cp, int fd, pid_t pid)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (cp->pid != 0)
		return -EBUSY;
	ev.data.fd = fd;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || epoll_ctl(cp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	cp->fd = fd;
	cp->pid = pid;
	return 0;
}

/* A new child: *fd our end of its socket (blocking), *pid.  0 or -errno
 * with a line in errs. */
static int
start_child(int *fd, pid_t *pidp, struct buf *errs)
{
	long maxfd = sysconf(_SC_OPEN_MAX);
	char fg[2] = { child_fg ? '1' : '0', 0 }, v[2] = { (char)('0' + (child_verbose > 9 ? 9 :
	    child_verbose < 0 ? 0 : child_verbose)), 0 };
	char arg0[] = "cloudroute", arg1[] = CP_ARG;
	char *argv[] = { arg0, arg1, fg, v, NULL };
	int sv[2], r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		buf_printf(errs, "cloud process: socketpair: %s\n", strerror(errno));
		return r;
	}
	if ((pid = fork()) < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		buf_printf(errs, "cloud process: fork: %s\n", strerror(-r));
		return r;
	}
	if (pid == 0)
		exec_child(sv[1], maxfd < 0 || maxfd > 1 << 20 ? 1 << 16 : maxfd, argv);
	close(sv[1]);
	*fd = sv[0];
	*pidp = pid;
	return 0;
}

static void
kill_child(pid_t pid, int fd)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fd);
}

static int
spawn(struct cloudproc *cp, struct buf *errs)
{
	pid_t pid;
	int fd, r;

	if ((r = start_child(&fd, &pid, errs)) < 0)
		return r;
	if ((r = cloudproc_adopt(cp, fd, pid)) < 0) {
		kill_child(pid, fd);
		buf_printf(errs, "cloud process: %s\n", strerror(-r));
		return r;
	}
	if (cp->started++ > 0)
		log_info("cloud process restarted (pid %d)", (int)pid);
	else
		log_debug("cloud process started (pid %d)", (int)pid);
	return 0;
}

/* Kills and reaps the child; the reason (why) and how it ended go to the
 * log and to done when a pass was running. */
static void
reap(struct cloudproc *cp, const char *why, struct cloudproc_done *done, int r)
{
	char how[64] = "";
	int status;

	if (cp->pid > 0) {
		kill(cp->pid, SIGKILL);
		if (waitpid(cp->pid, &status, 0) == cp->pid) {
			if (WIFSIGNALED(status) && (WTERMSIG(status) != SIGKILL || r == -EIO))
				snprintf(how, sizeof(how), " (killed by signal %d)", WTERMSIG(status));
			else if (WIFEXITED(status))
				snprintf(how, sizeof(how), " (exit status %d)", WEXITSTATUS(status));
		}
	}
	if (cp->fd >= 0) {
		epoll_ctl(cp->epfd, EPOLL_CTL_DEL, cp->fd, NULL);
		close(cp->fd);
	}
	cp_rx_free(&cp->rx);
	arm(cp, 0);
	if (cp->stopping)
		log_debug("cloud process %d: %s%s", (int)cp->pid, why, how);
	else
		log_warnx("cloud process %d: %s%s; a new one runs the next pass", (int)cp->pid,
		    why, how);
	if (done != NULL && cp->busy) {
		memset(done, 0, sizeof(*done));
		done->r = r;
		done->res.owned = -1;
		done->secs = (double)(now_ms() - cp->t0) / 1000.0;
		snprintf(done->errs, sizeof(done->errs), "cloud process: %s%s\n", why, how);
	}
	cp->pid = 0;
	cp->fd = -1;
	cp->busy = 0;
}

int
cloudproc_submit(struct cloudproc *cp, const struct cloud_job *job, int reopen,
    struct buf *errs)
{
	struct json_object *m, *jo, *cst, *copy = NULL;
	int r;

	if (cp->busy)
		return -EBUSY;
	if (cp->pid == 0 && (r = spawn(cp, errs)) < 0)
		return r;
	if ((jo = cloud_job_json(job)) == NULL)
		return -ENOMEM;
	pthread_mutex_lock(cp->stlock);
	if (json_object_object_get_ex(cp->st->root, "cloud", &cst))
		json_object_deep_copy(cst, &copy, NULL);
	pthread_mutex_unlock(cp->stlock);
	m = json_object_new_object();
	json_object_object_add(m, "t", json_object_new_string("job"));
	json_object_object_add(m, "job", jo);
	json_object_object_add(m, "cloud", copy != NULL ? copy : json_object_new_object());
	json_object_object_add(m, "deadline_ms", json_object_new_int64((int64_t)cp->pass_ms));
	json_object_object_add(m, "reopen", json_object_new_boolean(reopen));
	r = cp_send(cp->fd, m, SEND_MS);
	json_object_put(m);
	if (r < 0) {
		buf_printf(errs, "cloud process: cannot hand it the job: %s\n", strerror(-r));
		reap(cp, "did not take its job", NULL, r);
		return r;
	}
	cp->busy = 1;
	cp->t0 = now_ms();
	arm(cp, cp->pass_ms + GRACE_MS(cp->pass_ms));
	return 0;
}

/* A checkpoint: the provider's state object replaces the state's "cloud"
 * and is saved before the child goes on.  0, or -EBADMSG. */
static int
on_checkpoint(struct cloudproc *cp, struct json_object *m)
{
	static const char *const keys[] = { "t", "cloud", NULL };
	struct json_object *cst, *ack;
	int r;

	if (!cp_keys_are(m, keys) || !json_object_object_get_ex(m, "cloud", &cst) ||
	    !json_object_is_type(cst, json_type_object))
		return -EBADMSG;
	pthread_mutex_lock(cp->stlock);
	json_object_object_add(cp->st->root, "cloud", json_object_get(cst));
	r = state_save(cp->st);
	pthread_mutex_unlock(cp->stlock);
	ack = json_object_new_object();
	json_object_object_add(ack, "t", json_object_new_string("ack"));
	json_object_object_add(ack, "ok", json_object_new_boolean(r == 0));
	r = cp_send(cp->fd, ack, SEND_MS);
	json_object_put(ack);
	return r < 0 ? r : 0;
}

/* The API call counts of a pass: [[provider, operation, outcome, n], ...]. */
static int
add_calls(struct json_object *calls)
{
	struct json_object *e, *x;
	const char *l[3];
	size_t i, k;

	if (!json_object_is_type(calls, json_type_array) ||
	    json_object_array_length(calls) > CP_CALLS_MAX)
		return -EBADMSG;
	for (i = 0; i < json_object_array_length(calls); i++) {
		e = json_object_array_get_idx(calls, i);
		if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 4)
			return -EBADMSG;
		for (k = 0; k < 3; k++) {
			x = json_object_array_get_idx(e, k);
			if (!json_object_is_type(x, json_type_string) ||
			    json_object_get_string_len(x) > CP_STR_MAX ||
			    strcspn(json_object_get_string(x), "\n\r\t") !=
			    (size_t)json_object_get_string_len(x))
				return -EBADMSG;
			l[k] = json_object_get_string(x);
		}
		x = json_object_array_get_idx(e, 3);
		if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) < 0 ||
		    json_object_get_int64(x) > 1000000)
			return -EBADMSG;
		mt_add("cloudroute_cloud_api_calls_total", (double)json_object_get_int64(x),
		    l[0], l[1], l[2], NULL);
	}
	return 0;
}

static int
on_result(struct cloudproc *cp, struct json_object *m, struct cloudproc_done *done)
{
	static const char *const keys[] = { "t", "r", "changes", "conflicts", "owned", "fp",
	    "errors", "calls", NULL };
	const char *fp, *errs;
	int64_t r, changes, conflicts, owned;
	size_t i;

	if (!cp_keys_are(m, keys) || cp_int(m, "r", -4095, 1, &r) < 0 ||
	    cp_int(m, "changes", 0, 1000000, &changes) < 0 ||
	    cp_int(m, "conflicts", 0, 1000000, &conflicts) < 0 ||
	    cp_int(m, "owned", -1, 1000000, &owned) < 0 ||
	    (fp = cp_str(m, "fp", 64)) == NULL || (errs = cp_str(m, "errors", 4095)) == NULL)
		return -EBADMSG;
	for (i = 0; fp[i]; i++)
		if (strchr("0123456789abcdef", fp[i]) == NULL)
			return -EBADMSG;
	if (add_calls(json_object_object_get(m, "calls")) < 0)
		return -EBADMSG;
	memset(done, 0, sizeof(*done));
	done->r = (int)r;
	done->res.changes = (size_t)changes;
	done->res.conflicts = (size_t)conflicts;
	done->res.owned = (long)owned;
	cr_strlcpy(done->res.fp, fp, sizeof(done->res.fp));
	cr_strlcpy(done->errs, errs, sizeof(done->errs));
	done->secs = (double)(now_ms() - cp->t0) / 1000.0;
	cp->busy = 0;
	arm(cp, 0);
	return 1;
}

/* One message: 1 a pass ended, 0 served, -EBADMSG a protocol violation. */
static int
dispatch(struct cloudproc *cp, struct json_object *m, struct cloudproc_done *done)
{
	const char *t = cp_str(m, "t", 16);

	if (t == NULL || !cp->busy)
		return -EBADMSG;        /* nothing is expected outside a pass */
	if (strcmp(t, "checkpoint") == 0)
		return on_checkpoint(cp, m) < 0 ? -EBADMSG : 0;
	if (strcmp(t, "result") == 0)
		return on_result(cp, m, done);
	return -EBADMSG;
}

int
cloudproc_handle(struct cloudproc *cp, struct cloudproc_done *done)
{
	struct json_object *m;
	uint64_t ticks;
	char why[96];
	int r, busy;

	if (read(cp->tfd, &ticks, sizeof(ticks)) == sizeof(ticks) && cp->busy) {
		snprintf(why, sizeof(why), "no result within %.1f s of its pass's deadline",
		    (double)GRACE_MS(cp->pass_ms) / 1000);
		reap(cp, why, done, -ETIMEDOUT);
		return 1;
	}
	while (cp->fd >= 0) {
		if ((r = cp_rx_read(&cp->rx, cp->fd, &m)) == 0)
			return 0;
		if (r == 1) {
			r = dispatch(cp, m, done);
			json_object_put(m);
			if (r == 1)
				return 1;
			if (r == 0)
				continue;
		}
		busy = cp->busy;
		if (r == -EPIPE)
			reap(cp, busy ? "ended during a pass" : "ended", done, -EIO);
		else
			reap(cp, r == -EBADMSG || r == -E2BIG ? "sent a malformed message" :
			    "broke the connection", done, -EPROTO);
		return busy;
	}
	return 0;
}

/* Reads one message from a blocking fd within ms: 0 or -errno. */
static int
recv_within(int fd, int ms, struct json_object **m)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct cp_rx rx;
	uint64_t end = now_ms() + (uint64_t)ms;
	int r, left;

	memset(&rx, 0, sizeof(rx));
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	for (;;) {
		if ((r = cp_rx_read(&rx, fd, m)) != 0)
			break;
		left = end > now_ms() ? (int)(end - now_ms()) : 0;
		if (left == 0 || poll(&pfd, 1, left) == 0) {
			r = -ETIMEDOUT;
			break;
		}
	}
	cp_rx_free(&rx);
	return r == 1 ? 0 : r;
}

int
cloudproc_public_ip(const char *provider, char *out, size_t len, struct buf *errs)
{
	static const char *const keys[] = { "t", "r", "public_ip", "error", NULL };
	struct json_object *m;
	unsigned char a[16];
	const char *ip, *e;
	int64_t rr;
	pid_t pid;
	int fd, r;

	out[0] = '\0';
	if ((r = start_child(&fd, &pid, errs)) < 0)
		return r;
	m = json_object_new_object();
	json_object_object_add(m, "t", json_object_new_string("identity"));
	json_object_object_add(m, "provider", json_object_new_string(provider));
	r = cp_send(fd, m, SEND_MS);
	json_object_put(m);
	if (r == 0 && (r = recv_within(fd, IDENTITY_MS, &m)) == 0) {
		if (!cp_keys_are(m, keys) || cp_int(m, "r", -4095, 0, &rr) < 0 ||
		    (ip = cp_str(m, "public_ip", 63)) == NULL ||
		    (e = cp_str(m, "error", 511)) == NULL ||
		    (ip[0] && inet_pton(strchr(ip, ':') ? AF_INET6 : AF_INET, ip, a) != 1)) {
			r = -EPROTO;
			buf_printf(errs, "cloud process: malformed identity answer");
		} else if ((r = (int)rr) < 0) {
			buf_printf(errs, "%s", e);
		} else if (ip[0] == '\0') {
			r = -ENOENT;
		} else {
			r = cr_strlcpy(out, ip, len) < len ? 0 : -ENAMETOOLONG;
		}
		json_object_put(m);
	} else {
		buf_printf(errs, "cloud process: no identity answer: %s", strerror(-r));
	}
	kill_child(pid, fd);
	return r;
}

void
cloudproc_free(struct cloudproc *cp)
{
	struct cloudproc_done done;
	struct pollfd pfd;
	uint64_t end = now_ms() + STOP_MS;
	int t;

	if (cp == NULL)
		return;
	cp->stopping = 1;
	if (cp->pid > 0) {
		/* The pass in flight fails at once; its last checkpoint is saved. */
		kill(cp->pid, SIGTERM);
		while (cp->fd >= 0 && (t = (int)(end > now_ms() ? end - now_ms() : 0)) > 0) {
			pfd = (struct pollfd){ .fd = cp->fd, .events = POLLIN };
			if (poll(&pfd, 1, t) <= 0)
				break;
			memset(&done, 0, sizeof(done));
			cloudproc_handle(cp, &done);
		}
		if (cp->pid > 0) {
			cp->busy = 0;
			kill(cp->pid, SIGKILL);
			waitpid(cp->pid, NULL, 0);
		}
	}
	if (cp->fd >= 0)
		close(cp->fd);
	cp_rx_free(&cp->rx);
	if (cp->tfd >= 0)
		close(cp->tfd);
	if (cp->epfd >= 0)
		close(cp->epfd);
	free(cp);
}
