/*
 * Retries for cloud API calls: exponential backoff with "full jitter"
 * (delay = random in [0, min(cap, base * 2^attempt)], AWS Architecture Blog,
 * "Exponential Backoff And Jitter"), Retry-After honoured (delta-seconds or
 * HTTP-date, RFC 9110 10.2.3), and a classification of failures:
 *
 *   RETRY_THROTTLE  HTTP 429/503, EC2 RequestLimitExceeded/Throttling...
 *                   (retried with a 4x larger base: the server asked us to slow down)
 *   RETRY_SERVER    other 5xx, EC2 InternalError/Unavailable, transport errors
 *   RETRY_FATAL     4xx and everything else: never retried
 *
 * The base delay can be lowered with CLOUDROUTE_RETRY_BASE_MS (tests).
 */
#ifndef PROV_RETRY_H
#define PROV_RETRY_H

#include <stdint.h>
#include <time.h>

enum retry_class {
	RETRY_FATAL,
	RETRY_THROTTLE,
	RETRY_SERVER,
};

struct retry_policy {
	unsigned int max_attempts;       /* total tries, >= 1 */
	unsigned int base_ms;
	unsigned int cap_ms;             /* cap on one backoff delay */
	unsigned int max_retry_after_ms; /* longer Retry-After: give up */
	/* Uniform 32-bit random numbers; NULL = OpenSSL RAND_bytes. */
	uint32_t (*rand32)(void *arg);
	void *rand_arg;
};

/* Defaults: 8 attempts, base 100 ms (or $CLOUDROUTE_RETRY_BASE_MS), cap 20 s. */
void retry_policy_init(struct retry_policy *p);

/* Full-jitter delay before retry number `attempt` (0 = first retry). */
unsigned int retry_backoff_ms(const struct retry_policy *p, enum retry_class cls,
    unsigned int attempt);

/*
 * Parses a Retry-After value at wall time `now`: delta-seconds or an
 * IMF-fixdate / RFC 850 / asctime date.  A date in the past gives 0.
 * 0 or -EINVAL.
 */
int retry_after_parse(const char *s, time_t now, uint64_t *ms);

/*
 * The delay to wait before retry `attempt`: the jittered backoff, or the
 * server's Retry-After when that is longer (an unparsable value is
 * ignored).  0 with *ms set, or -ETIME when Retry-After exceeds
 * max_retry_after_ms (the caller gives up instead of waiting that long).
 */
int retry_delay_ms(const struct retry_policy *p, enum retry_class cls,
    unsigned int attempt, const char *retry_after, time_t now, uint64_t *ms);

/* Classifies an HTTP status plus an API error code (may be NULL). */
enum retry_class retry_classify(long http_status, const char *error_code);

/* 0, or -ECANCELED / -ETIMEDOUT when cancelled or past this thread's
 * deadline (providers/http.h) before the time was up. */
int retry_sleep_ms(uint64_t ms);

#endif
