/*
 * Logging backend: stderr in the foreground, syslog as a daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static int log_foreground = 1;
static int log_verbosity;

void
log_init(int foreground, int verbose, const char *ident)
{
	log_foreground = foreground;
	__atomic_store_n(&log_verbosity, verbose, __ATOMIC_RELAXED);
	if (!foreground)
		openlog(ident ? ident : "cloudroute", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int
log_verbose(void)
{
	return __atomic_load_n(&log_verbosity, __ATOMIC_RELAXED);
}

void
log_setverbose(int verbose)
{
	__atomic_store_n(&log_verbosity, verbose, __ATOMIC_RELAXED);
}

static void
vlog(int pri, const char *fmt, va_list ap, int with_errno)
{
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_foreground) {
		if (with_errno)
			fprintf(stderr, "cloudroute: %s: %s\n", msg, strerror(saved));
		else
			fprintf(stderr, "cloudroute: %s\n", msg);
	} else {
		if (with_errno)
			syslog(pri, "%s: %s", msg, strerror(saved));
		else
			syslog(pri, "%s", msg);
	}
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose() < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

/* Relaxed atomics: threads may share rl, and a lost update only loses a line. */
int
log_ratelimit_ok(struct log_ratelimit *rl)
{
	struct timespec ts;
	uint64_t now;
	unsigned int n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (now - __atomic_load_n(&rl->window_start_ms, __ATOMIC_RELAXED) >= rl->interval_ms) {
		if ((n = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED)) != 0)
			log_debug("%u similar messages suppressed", n);
		__atomic_store_n(&rl->window_start_ms, now, __ATOMIC_RELAXED);
		__atomic_store_n(&rl->printed, 0, __ATOMIC_RELAXED);
	}
	if (__atomic_fetch_add(&rl->printed, 1, __ATOMIC_RELAXED) < rl->burst)
		return 1;
	__atomic_fetch_add(&rl->suppressed, 1, __ATOMIC_RELAXED);
	return 0;
}
