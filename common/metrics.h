/*
 * Prometheus metrics: a fixed set of families (names, types and help in
 * metrics.c, in the Prometheus naming conventions) whose series any part
 * of the program updates, and their text exposition (format 0.0.4).  The
 * HTTP endpoint that serves it is agent/metrics.c.
 *
 * Label values are given in the order of the family's labels, then NULL:
 *   mt_add("cloudroute_cloud_api_calls_total", 1, "aws", "DescribeRouteTables", "ok", NULL);
 * A call with an unknown name or the wrong number of labels changes
 * nothing.  Every function is thread-safe (one mutex) and cheap: no I/O.
 */
#ifndef CR_METRICS_H
#define CR_METRICS_H

#include "common/util.h"

enum mt_op { MT_ADD, MT_SET, MT_OBSERVE };
void mt_update(enum mt_op op, const char *name, double v, ...);
/* Counter: += v (v >= 0).  Gauge: += v. */
#define mt_add(name, ...) mt_update(MT_ADD, name, __VA_ARGS__)
/* Gauge := v.  Counter := v (a total kept elsewhere, e.g. a peer's bytes). */
#define mt_set(name, ...) mt_update(MT_SET, name, __VA_ARGS__)
/* Histogram: one observation. */
#define mt_observe(name, ...) mt_update(MT_OBSERVE, name, __VA_ARGS__)
/* Forgets every series of the family (e.g. before re-setting the peers). */
void mt_reset(const char *name);
/* The value of one series (histograms: the count); 0 if absent. */
double mt_get(const char *name, ...);
/* Hands every series of the family to fn (its label values in order, as
 * given, cut at the label bound) and forgets them: the counts since the
 * last drain (the cloud process reports its API calls to the daemon so). */
typedef void mt_drain_fn(void *arg, const char *const *labels, size_t n, double v);
void mt_drain(const char *name, mt_drain_fn *fn, void *arg);
/* Every family with its series, in the text exposition format. */
int mt_render(struct buf *out);
/* Forgets every series of every family (tests). */
void mt_clear_all(void);

#endif
