/*
 * Backoff, Retry-After and failure classification for cloud API calls
 * (see retry.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/util.h"
#include "http.h"
#include "retry.h"

void
retry_policy_init(struct retry_policy *p)
{
	const char *s = getenv("CLOUDROUTE_RETRY_BASE_MS");
	unsigned long v;

	p->max_attempts = 8;
	p->base_ms = 100;
	p->cap_ms = 20000;
	p->max_retry_after_ms = 120000;
	p->rand32 = NULL;
	p->rand_arg = NULL;
	if (s != NULL && cr_parse_ulong(s, 1, 60000, &v) == 0)
		p->base_ms = (unsigned int)v;
}

static uint32_t
rand32(const struct retry_policy *p)
{
	uint32_t v = 0;

	if (p->rand32 != NULL)
		return p->rand32(p->rand_arg);
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (uint32_t)random();
	return v;
}

unsigned int
retry_backoff_ms(const struct retry_policy *p, enum retry_class cls,
    unsigned int attempt)
{
	uint64_t ceil = p->base_ms;

	if (cls == RETRY_THROTTLE)
		ceil *= 4;
	/* base * 2^attempt, saturating at the cap. */
	while (attempt-- > 0 && ceil < p->cap_ms)
		ceil *= 2;
	if (ceil > p->cap_ms)
		ceil = p->cap_ms;
	/* Full jitter: uniform in [0, ceil]. */
	return (unsigned int)(((uint64_t)rand32(p) * (ceil + 1)) >> 32);
}

static int
parse_http_date(const char *s, time_t *out)
{
	static const char *const fmts[] = {
		"%a, %d %b %Y %H:%M:%S GMT",     /* IMF-fixdate */
		"%A, %d-%b-%y %H:%M:%S GMT",     /* obsolete RFC 850 */
		"%a %b %e %H:%M:%S %Y",          /* asctime */
	};
	struct tm tm;
	const char *end;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fmts); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, fmts[i], &tm);
		if (end != NULL && *end == '\0') {
			*out = timegm(&tm);
			return 0;
		}
	}
	return -EINVAL;
}

int
retry_after_parse(const char *s, time_t now, uint64_t *ms)
{
	unsigned long secs;
	time_t t;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s >= '0' && *s <= '9') {
		if (cr_parse_ulong(s, 0, 86400UL * 365, &secs) < 0)
			return -EINVAL;
		*ms = (uint64_t)secs * 1000;
		return 0;
	}
	if (parse_http_date(s, &t) < 0)
		return -EINVAL;
	*ms = t > now ? (uint64_t)(t - now) * 1000 : 0;
	return 0;
}

int
retry_delay_ms(const struct retry_policy *p, enum retry_class cls,
    unsigned int attempt, const char *retry_after, time_t now, uint64_t *ms)
{
	uint64_t d = retry_backoff_ms(p, cls, attempt), ra;

	if (retry_after != NULL && *retry_after != '\0' &&
	    retry_after_parse(retry_after, now, &ra) == 0) {
		if (ra > p->max_retry_after_ms)
			return -ETIME;
		if (ra > d)
			d = ra;
	}
	*ms = d;
	return 0;
}

static const char *const throttle_codes[] = {
	"RequestLimitExceeded", "Throttling", "ThrottlingException",
	"TooManyRequestsException", "RequestThrottled", "SlowDown",
	"EC2ThrottledException", "PriorRequestNotComplete",
};

static const char *const server_codes[] = {
	"InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable",
	"RequestTimeout", "RequestTimeoutException",
};

static int
code_in(const char *code, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return 1;
	return 0;
}

enum retry_class
retry_classify(long http_status, const char *error_code)
{
	if (error_code != NULL && *error_code != '\0') {
		if (code_in(error_code, throttle_codes, ARRAY_SIZE(throttle_codes)))
			return RETRY_THROTTLE;
		if (code_in(error_code, server_codes, ARRAY_SIZE(server_codes)))
			return RETRY_SERVER;
	}
	if (http_status == 429 || http_status == 503)
		return RETRY_THROTTLE;
	if (http_status >= 500 && http_status <= 599)
		return RETRY_SERVER;
	return RETRY_FATAL;
}

/* Sleeps in slices so that a cancellation or the pass's deadline ends the
 * wait within 50 ms; a sleep that would outlast the deadline is refused. */
int
retry_sleep_ms(uint64_t ms)
{
	uint64_t end = now_ms() + ms, now, dl = prov_deadline(), step;
	struct timespec ts;
	int r;

	if (dl != 0 && end > dl) {
		prov_set_error("retry in %llu ms would pass the deadline of this pass",
		    (unsigned long long)ms);
		return -ETIMEDOUT;
	}
	while ((now = now_ms()) < end) {
		if ((r = prov_interrupted()) < 0) {
			prov_set_error("%s", r == -ECANCELED ? "cancelled (cloudroute is stopping)" :
			    "the pass's deadline passed");
			return r;
		}
		step = end - now < 50 ? end - now : 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return prov_interrupted();
}
