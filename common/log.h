/*
 * Logging, in the shape of OpenBSD's log.c: log_warn appends strerror(errno),
 * log_warnx does not; fatal/fatalx exit(1).  Foreground processes log to
 * stderr, the daemon to syslog (which journald collects).  errno is preserved
 * across every call so callers may log and then return -errno.
 */
#ifndef CR_LOG_H
#define CR_LOG_H

#include <stdarg.h>
#include <stdint.h>

#define CR_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(int foreground, int verbose, const char *ident);
int log_verbose(void);
void log_setverbose(int verbose);

void log_warn(const char *fmt, ...) CR_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) CR_PRINTF(1, 2);
void log_info(const char *fmt, ...) CR_PRINTF(1, 2);
void log_debug(const char *fmt, ...) CR_PRINTF(1, 2);
void fatal(const char *fmt, ...) CR_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) CR_PRINTF(1, 2) __attribute__((noreturn));

/*
 * Rate limiter for per-packet events: at most `burst` messages per
 * `interval_ms`, the rest are counted and reported when the window opens.
 * One struct per call site (static), safe to use from several threads
 * (a lost update only loses a log line).
 */
struct log_ratelimit {
	uint64_t window_start_ms;
	unsigned int interval_ms;
	unsigned int burst;
	unsigned int printed;
	unsigned int suppressed;
};
#define LOG_RATELIMIT_INIT(ms, n) { 0, (ms), (n), 0, 0 }
int log_ratelimit_ok(struct log_ratelimit *rl);

#define log_debug_rl(rl, ...) do {                                   \
		if (log_verbose() && log_ratelimit_ok(rl))           \
			log_debug(__VA_ARGS__);                      \
	} while (0)

#endif
