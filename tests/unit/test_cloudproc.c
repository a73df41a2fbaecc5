/* The cloud process's protocol (agent/cloudproc.h): the framing, the job's
 * JSON both ways, and the daemon's side against a hostile child played by
 * the test over a socketpair (checkpoints saved and acknowledged, results
 * taken, anything malformed or unasked for kills the child and fails the
 * pass). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/cloudproc.h"
#include "agent/cloudproc_int.h"
#include "common/metrics.h"

static struct json_object *
obj(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

static void
send_text(int fd, const char *text)
{
	struct json_object *o = obj(text);

	assert_int_equal(cp_send(fd, o, -1), 0);
	json_object_put(o);
}

static void
send_raw(int fd, uint32_t len, const char *body)
{
	uint8_t h[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
	    (uint8_t)len };

	assert_int_equal(write(fd, h, 4), 4);
	if (body != NULL)
		assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
}

/* Reads one message from the daemon's end (non-blocking) after what was sent. */
static int
rx_one(int fd, struct json_object **m)
{
	struct cp_rx rx;
	int r;

	memset(&rx, 0, sizeof(rx));
	r = cp_rx_read(&rx, fd, m);
	cp_rx_free(&rx);
	return r;
}

static void
test_framing(void **unused)
{
	struct json_object *m;
	char deep[200];
	int sv[2];
	size_t i;

	(void)unused;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	send_text(sv[1], "{\"t\": \"x\", \"n\": 1}");
	assert_int_equal(rx_one(sv[0], &m), 1);
	assert_string_equal(cp_str(m, "t", 16), "x");
	json_object_put(m);
	assert_int_equal(rx_one(sv[0], &m), 0);            /* nothing more yet */
	send_raw(sv[1], 0xffffffffu, NULL);
	assert_int_equal(rx_one(sv[0], &m), -E2BIG);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	send_raw(sv[1], 9, "[1, 2, 3]");                   /* not an object */
	assert_int_equal(rx_one(sv[0], &m), -EBADMSG);
	send_raw(sv[1], 10, "{\"a\":1}xyz");               /* trailing bytes */
	assert_int_equal(rx_one(sv[0], &m), -EBADMSG);
	memcpy(deep, "{\"a\":", 5);
	for (i = 5; i < 5 + 70; i++)
		deep[i] = '[';
	deep[i] = '\0';
	send_raw(sv[1], (uint32_t)strlen(deep), deep);    /* deeper than CP_DEPTH */
	assert_int_equal(rx_one(sv[0], &m), -EBADMSG);
	close(sv[1]);
	assert_int_equal(rx_one(sv[0], &m), -EPIPE);
	close(sv[0]);
}

static void
test_job_json(void **unused)
{
	struct cloud_job a, b;
	struct json_object *o;
	struct prefix p;
	char fa[65], fb[65];

	(void)unused;
	memset(&a, 0, sizeof(a));
	cr_strlcpy(a.provider, "aws", sizeof(a.provider));
	cr_strlcpy(a.ha_group, "hq", sizeof(a.ha_group));
	a.tables = PROV_TABLES_LIST;
	a.takeover = PROV_TAKEOVER_GROUP;
	a.leader = 1;
	a.route_tables = calloc(2, sizeof(char *));
	a.route_tables[0] = strdup("rtb-1");
	a.route_tables[1] = strdup("rtb-2");
	a.n_route_tables = 2;
	prefix_parse("192.168.0.0/22", &p, 0);
	prefix_set_add(&a.desired, &p);
	assert_non_null(o = cloud_job_json(&a));
	assert_int_equal(cloud_job_parse(o, &b), 0);
	assert_string_equal(b.provider, "aws");
	assert_int_equal(b.n_route_tables, 2);
	assert_string_equal(b.route_tables[1], "rtb-2");
	assert_int_equal(b.leader, 1);
	assert_int_equal(b.takeover, PROV_TAKEOVER_GROUP);
	assert_int_equal(b.desired.n, 1);
	cloud_job_fingerprint(&a, fa);
	cloud_job_fingerprint(&b, fb);
	assert_string_equal(fa, fb);
	cloud_job_free(&b);
	/* Strict: an unknown key, a missing one, a number out of range. */
	json_object_object_add(o, "extra", json_object_new_int(1));
	assert_int_equal(cloud_job_parse(o, &b), -EINVAL);
	json_object_object_del(o, "extra");
	json_object_object_del(o, "leader");
	assert_int_equal(cloud_job_parse(o, &b), -EINVAL);
	json_object_object_add(o, "leader", json_object_new_int(7));
	assert_int_equal(cloud_job_parse(o, &b), -EINVAL);
	json_object_object_add(o, "leader", json_object_new_int(0));
	json_object_object_add(o, "provider", json_object_new_string("a-provider-name-too-long"));
	assert_int_equal(cloud_job_parse(o, &b), -EINVAL);
	json_object_put(o);
	cloud_job_free(&a);
}

struct rig {
	char dir[64];
	struct state st;
	pthread_mutex_t lock;
	struct cloudproc *cp;
	int peer;                       /* the test's end: it plays the child */
	pid_t pid;
};

static void
rig_up_ms(struct rig *g, uint64_t pass_ms)
{
	int sv[2];

	cr_strlcpy(g->dir, "/tmp/test_cloudproc.XXXXXX", sizeof(g->dir));
	assert_non_null(mkdtemp(g->dir));
	assert_int_equal(state_load(g->dir, &g->st), 0);
	pthread_mutex_init(&g->lock, NULL);
	assert_int_equal(cloudproc_new(&g->st, &g->lock, pass_ms, 1, 0, &g->cp), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if ((g->pid = fork()) == 0) {
		close(sv[0]);           /* the test's end must be the only one */
		close(sv[1]);
		pause();
		_exit(0);
	}
	assert_int_equal(cloudproc_adopt(g->cp, sv[0], g->pid), 0);
	g->peer = sv[1];
}

static void
rig_up(struct rig *g)
{
	rig_up_ms(g, 30000);
}

static void
rig_down(struct rig *g)
{
	char path[128];

	cloudproc_free(g->cp);
	close(g->peer);
	state_free(&g->st);
	pthread_mutex_destroy(&g->lock);
	snprintf(path, sizeof(path), "%s/state.json", g->dir);
	unlink(path);
	rmdir(g->dir);
}

/* Submits a job and reads it as the child would. */
static void
job(struct rig *g)
{
	struct cloud_job j;
	struct json_object *m;
	struct buf errs;

	memset(&j, 0, sizeof(j));
	cr_strlcpy(j.provider, "aws", sizeof(j.provider));
	buf_init(&errs, 4096);
	assert_int_equal(cloudproc_submit(g->cp, &j, 0, &errs), 0);
	assert_int_equal(cloudproc_busy(g->cp), 1);
	assert_int_equal(cp_recv(g->peer, &m), 0);
	assert_string_equal(cp_str(m, "t", 16), "job");
	json_object_put(m);
	buf_free(&errs);
}

static int
handle(struct rig *g, struct cloudproc_done *d)
{
	usleep(20000);
	memset(d, 0, sizeof(*d));
	return cloudproc_handle(g->cp, d);
}

static void
test_daemon_side(void **unused)
{
	struct cloudproc_done d;
	struct json_object *m, *c;
	struct rig g;

	(void)unused;
	mt_clear_all();
	rig_up(&g);
	job(&g);
	/* A checkpoint reaches the state file before the ack. */
	send_text(g.peer, "{\"t\": \"checkpoint\", \"cloud\": {\"provider\": \"aws\", "
	    "\"routes\": [{\"table\": \"rtb-1\", \"dst\": \"10.0.0.0/8\"}]}}");
	assert_int_equal(handle(&g, &d), 0);
	assert_int_equal(cp_recv(g.peer, &m), 0);
	assert_true(json_object_get_boolean(json_object_object_get(m, "ok")));
	json_object_put(m);
	assert_true(json_object_object_get_ex(g.st.root, "cloud", &c));
	assert_string_equal(cp_str(c, "provider", 16), "aws");
	send_text(g.peer, "{\"t\": \"result\", \"r\": 0, \"changes\": 2, \"conflicts\": 1, "
	    "\"owned\": 1, \"fp\": \"00ff\", \"errors\": \"\", \"calls\": "
	    "[[\"aws\", \"CreateRoute\", \"ok\", 2]]}");
	assert_int_equal(handle(&g, &d), 1);
	assert_int_equal(d.r, 0);
	assert_int_equal(d.res.changes, 2);
	assert_int_equal(d.res.owned, 1);
	assert_int_equal(cloudproc_busy(g.cp), 0);
	assert_true(mt_get("cloudroute_cloud_api_calls_total", "aws", "CreateRoute", "ok",
	    NULL) == 2);
	/* A result with a key too many: the child is killed, the pass fails. */
	job(&g);
	send_text(g.peer, "{\"t\": \"result\", \"r\": 0, \"changes\": 0, \"conflicts\": 0, "
	    "\"owned\": 0, \"fp\": \"\", \"errors\": \"\", \"calls\": [], \"more\": 1}");
	assert_int_equal(handle(&g, &d), 1);
	assert_int_equal(d.r, -EPROTO);
	assert_non_null(strstr(d.errs, "malformed"));
	assert_int_equal(waitpid(g.pid, NULL, WNOHANG), -1);   /* reaped already */
	rig_down(&g);
	mt_clear_all();
}

static void
test_hostile_child(void **unused)
{
	static const char *const bad[] = {
		"{\"t\": \"checkpoint\", \"cloud\": [1]}",
		"{\"t\": \"result\", \"r\": 99, \"changes\": 0, \"conflicts\": 0, \"owned\": 0, "
		    "\"fp\": \"\", \"errors\": \"\", \"calls\": []}",
		"{\"t\": \"result\", \"r\": 0, \"changes\": 0, \"conflicts\": 0, \"owned\": 0, "
		    "\"fp\": \"xyz\", \"errors\": \"\", \"calls\": []}",
		"{\"t\": \"result\", \"r\": 0, \"changes\": 0, \"conflicts\": 0, \"owned\": 0, "
		    "\"fp\": \"\", \"errors\": \"\", \"calls\": [[\"aws\", \"x\", \"ok\", -5]]}",
		"{\"t\": \"result\", \"r\": 0, \"changes\": 0, \"conflicts\": 0, \"owned\": 0, "
		    "\"fp\": \"\", \"errors\": \"a\\u0001b\", \"calls\": []}",
		"{\"t\": \"shell\", \"cmd\": \"id\"}",
	};
	struct cloudproc_done d;
	struct rig g;
	size_t i;

	(void)unused;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		rig_up(&g);
		job(&g);
		send_text(g.peer, bad[i]);
		assert_int_equal(handle(&g, &d), 1);
		assert_int_equal(d.r, -EPROTO);
		assert_int_equal(cloudproc_busy(g.cp), 0);
		rig_down(&g);
	}
	/* Anything while no pass runs is a violation too (no pass fails). */
	rig_up(&g);
	send_text(g.peer, "{\"t\": \"checkpoint\", \"cloud\": {}}");
	assert_int_equal(handle(&g, &d), 0);
	assert_int_equal(waitpid(g.pid, NULL, WNOHANG), -1);
	rig_down(&g);
	/* An oversized length: killed before anything is allocated. */
	rig_up(&g);
	job(&g);
	send_raw(g.peer, CP_MSG_MAX + 1, NULL);
	assert_int_equal(handle(&g, &d), 1);
	assert_int_equal(d.r, -EPROTO);
	rig_down(&g);
	/* The child dies during a pass: the pass fails with that. */
	rig_up(&g);
	job(&g);
	close(g.peer);
	g.peer = open("/dev/null", 0);
	assert_int_equal(handle(&g, &d), 1);
	assert_int_equal(d.r, -EIO);
	assert_non_null(strstr(d.errs, "ended during a pass"));
	rig_down(&g);
}

/* A child that never answers is killed past its pass's deadline + grace
 * (a 300 ms pass: 100 ms of grace). */
static void
test_hung_child(void **unused)
{
	struct cloudproc_done d;
	struct pollfd pfd;
	struct rig g;

	(void)unused;
	rig_up_ms(&g, 300);
	job(&g);
	assert_int_equal(handle(&g, &d), 0);              /* not yet */
	pfd = (struct pollfd){ .fd = cloudproc_fd(g.cp), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 2000), 1);         /* the deadline makes it readable */
	memset(&d, 0, sizeof(d));
	assert_int_equal(cloudproc_handle(g.cp, &d), 1);
	assert_int_equal(d.r, -ETIMEDOUT);
	assert_non_null(strstr(d.errs, "no result within"));
	assert_true(d.secs >= 0.39);
	assert_int_equal(waitpid(g.pid, NULL, WNOHANG), -1);
	rig_down(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_job_json),
		cmocka_unit_test(test_daemon_side),
		cmocka_unit_test(test_hostile_child),
		cmocka_unit_test(test_hung_child),
	};

	log_init(1, 0, "test_cloudproc");
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
