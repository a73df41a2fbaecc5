/*
 * The cloud process itself (`cloudroute __cloud-process FG VERBOSE`, exec'd
 * by the daemon with its socket as fd 3; see cloudproc.h).  Before it reads
 * a byte it drops every capability (bounding set where it may, ambient,
 * permitted, effective, inheritable: capset to nothing), sets no_new_privs,
 * gives up writing any file (Landlock, where the kernel has it) and installs
 * a seccomp filter that refuses what it never needs (exec, ptrace, mount,
 * namespaces, modules, keyrings, bpf): a process that was taken over by a
 * hostile API answer can neither change the host's network (no netlink
 * rights, no sysctl writes) nor climb back to the daemon's privileges.  It keeps the daemon's uid
 * (its credential files are the daemon's) and its environment (the
 * endpoint overrides, proxies, AWS_* credentials).
 *
 * Then, for each job: run cloud_pass on the job and the "cloud" object it
 * came with, send a checkpoint at each of the provider's and wait until
 * the daemon saved it, send the result (with the API call counts of the
 * pass).  One provider session lives across jobs, as in the thread it
 * replaces.  SIGTERM/SIGINT cancel the HTTP transfers (prov_cancel_set):
 * the pass in flight fails within ~100 ms, reports, and the process exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "agent/cloudproc.h"
#include "agent/cloudproc_int.h"
#include "common/metrics.h"
#include "providers/http.h"

static volatile sig_atomic_t terminating;

static void
on_term(int sig)
{
	(void)sig;
	terminating = 1;
	prov_cancel_set(1);             /* an atomic store: async-signal-safe */
}

#if defined(__x86_64__)
#define CP_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef CP_AUDIT_ARCH
#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

/* A deny-list (the unit's own filter allows the rest): EPERM for what the
 * cloud process never does; another architecture's calls kill it. */
static int
install_seccomp(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CP_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* x32 numbers (x86_64) would pass a list of native ones */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		DENY(SYS_execve), DENY(SYS_execveat), DENY(SYS_ptrace),
		DENY(SYS_process_vm_readv), DENY(SYS_process_vm_writev),
		DENY(SYS_mount), DENY(SYS_umount2), DENY(SYS_pivot_root), DENY(SYS_chroot),
		DENY(SYS_setns), DENY(SYS_unshare), DENY(SYS_init_module),
		DENY(SYS_finit_module), DENY(SYS_delete_module), DENY(SYS_kexec_load),
		DENY(SYS_bpf), DENY(SYS_perf_event_open), DENY(SYS_keyctl), DENY(SYS_add_key),
		DENY(SYS_request_key), DENY(SYS_reboot), DENY(SYS_swapon), DENY(SYS_swapoff),
		DENY(SYS_open_by_handle_at), DENY(SYS_userfaultfd), DENY(SYS_capset),
		DENY(SYS_setuid), DENY(SYS_setgid), DENY(SYS_setresuid), DENY(SYS_setresgid),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)ARRAY_SIZE(f), f };

	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0 ? -errno : 0;
}
#else
static int
install_seccomp(void)
{
	return -ENOSYS;
}
#endif

/*
 * Landlock: no file may be written, created or removed, no TCP port bound,
 * no process outside signalled.  The process keeps the daemon's uid (root),
 * and root without capabilities may still write what root owns: the
 * network sysctls under /proc/sys/net, the state, /etc/sysctl.d.  The
 * cloud process writes nothing (the daemon saves its checkpoints).
 * Reads stay open (CA bundles, credential files, resolv.conf).  The struct
 * is the kernel's (it grew with the ABI; Debian 12's header knows ABI 2).
 */
struct ll_ruleset {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;    /* ABI 4 */
	uint64_t scoped;                /* ABI 6 */
};
#define LL_FS_TRUNCATE  (1ULL << 14)    /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)    /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL (1ULL << 1)

/* The Landlock ABI in force (> 0), or -errno when there is none. */
static int
forbid_writes(void)
{
	struct ll_ruleset rs;
	long abi;
	size_t size = sizeof(rs.handled_access_fs);
	int fd, r = 0;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return abi < 0 ? -errno : -EOPNOTSUPP;
	memset(&rs, 0, sizeof(rs));
	rs.handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
	    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
	    LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
	    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
	    LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		rs.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		rs.handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		rs.handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi >= 4) {
		rs.handled_access_net = LL_NET_BIND_TCP;
		size = offsetof(struct ll_ruleset, scoped);
	}
	if (abi >= 6) {
		rs.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		size = sizeof(rs);
	}
	if ((fd = (int)syscall(SYS_landlock_create_ruleset, &rs, size, 0)) < 0) {
		log_debug("cloud process: landlock_create_ruleset (ABI %ld): %s", abi,
		    strerror(errno));
		return -errno;
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		r = -errno;
		log_debug("cloud process: landlock_restrict_self: %s", strerror(-r));
	}
	close(fd);
	return r < 0 ? r : (int)abi;
}

/* 0 when the process holds no capability in any set, else -EPERM. */
static int
verify_no_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int i;

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return -EPERM;
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_ADMIN, 0, 0) == 1 ?
	    -EPERM : 0;
}

static int
drop_privileges(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int cap, r, abi, fd;

	/* The bounding set needs CAP_SETPCAP (the unit does not grant it):
	 * without it no_new_privs keeps an exec from using it instead. */
	for (cap = 0; cap < 64; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
			break;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if ((r = verify_no_caps()) < 0)
		return r;
	if ((abi = forbid_writes()) < 0)
		log_warnx("cloud process: no Landlock (%s): root without capabilities may "
		    "still write root's files", strerror(-abi));
	else if ((fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC)) >= 0) {
		close(fd);              /* a check, never written */
		log_warnx("cloud process: Landlock did not stop a sysctl write");
	}
	if ((r = install_seccomp()) < 0)
		log_debug("cloud process: no seccomp filter of its own (%s)", strerror(-r));
	log_debug("cloud process %d: no capabilities, no_new_privs, %s, seccomp %s",
	    (int)getpid(), abi > 0 ? "Landlock: no file writes" : "no Landlock",
	    r == 0 ? "on" : "off");
	return 0;
}

/* ---- a pass ---- */

static int
publish(void *arg, struct json_object *cst)
{
	static const char *const ack_keys[] = { "t", "ok", NULL };
	struct json_object *m = json_object_new_object(), *ack = NULL, *ok;
	int r;

	(void)arg;
	json_object_object_add(m, "t", json_object_new_string("checkpoint"));
	json_object_object_add(m, "cloud", json_object_get(cst));
	r = cp_send(CP_FD, m, -1);
	json_object_put(m);
	if (r < 0 || (r = cp_recv(CP_FD, &ack)) < 0)
		return r;
	if (!cp_keys_are(ack, ack_keys) || !json_object_object_get_ex(ack, "ok", &ok) ||
	    !json_object_get_boolean(ok))
		r = -EIO;
	json_object_put(ack);
	return r;
}

/* s cut to len, control characters but newlines blanked: the daemon takes
 * lines of text only. */
static const char *
text(char *out, size_t len, const char *s)
{
	size_t i;

	cr_strlcpy(out, s != NULL ? s : "", len);
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20 && out[i] != '\n')
			out[i] = ' ';
	return out;
}

static void
add_call(void *arg, const char *const *labels, size_t n, double v)
{
	struct json_object *e = json_object_new_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_object_array_add(e, json_object_new_string(labels[i]));
	json_object_array_add(e, json_object_new_int64((int64_t)v));
	if (json_object_array_length(arg) < CP_CALLS_MAX)
		json_object_array_add(arg, e);
	else
		json_object_put(e);
}

static int
send_result(int r, const struct cloud_result *res, const struct buf *errs)
{
	struct json_object *m = json_object_new_object(), *calls = json_object_new_array();
	char e[4096];

	text(e, sizeof(e), errs->data);
	mt_drain("cloudroute_cloud_api_calls_total", add_call, calls);
	json_object_object_add(m, "t", json_object_new_string("result"));
	json_object_object_add(m, "r", json_object_new_int(r));
	json_object_object_add(m, "changes", json_object_new_int64((int64_t)res->changes));
	json_object_object_add(m, "conflicts", json_object_new_int64((int64_t)res->conflicts));
	json_object_object_add(m, "owned", json_object_new_int64(res->owned));
	json_object_object_add(m, "fp", json_object_new_string(res->fp));
	json_object_object_add(m, "errors", json_object_new_string(e));
	json_object_object_add(m, "calls", calls);
	r = cp_send(CP_FD, m, -1);
	json_object_put(m);
	return r;
}

/* One job message: 0, or -errno when the conversation cannot go on. */
static int
run_job(struct cloud_session *cs, struct json_object *m)
{
	static const char *const keys[] = { "t", "job", "cloud", "deadline_ms", "reopen", NULL };
	const struct cloud_sink sink = { publish, NULL };
	struct cloud_result res;
	struct json_object *jo, *cst;
	struct cloud_job job;
	struct buf errs;
	int64_t ms;
	int r;

	if (!cp_keys_are(m, keys) || cp_int(m, "deadline_ms", 1000, 3600000, &ms) < 0 ||
	    !json_object_object_get_ex(m, "job", &jo) || cloud_job_parse(jo, &job) < 0 ||
	    !json_object_object_get_ex(m, "cloud", &cst) ||
	    !json_object_is_type(cst, json_type_object)) {
		log_warnx("cloud process: malformed job from the daemon");
		return -EBADMSG;
	}
	if (json_object_get_boolean(json_object_object_get(m, "reopen")))
		cloud_close(cs);
	prov_deadline_set(now_ms() + (uint64_t)ms);
	buf_init(&errs, 64 * 1024);
	r = cloud_pass(cs, &job, cst, &sink, &res, &errs);
	if (r < 0)
		cloud_close(cs);        /* a failed pass starts afresh */
	prov_deadline_set(0);
	cloud_job_free(&job);
	r = send_result(r, &res, &errs);
	buf_free(&errs);
	return r;
}

/* An identity question (the fleet's endpoint): the provider's open(). */
static int
run_identity(struct json_object *m)
{
	static const char *const keys[] = { "t", "provider", NULL };
	struct json_object *a;
	const struct prov_ops *ops;
	struct prov_identity id;
	const char *p = cp_str(m, "provider", 15);
	char e[512];
	void *ctx = NULL;
	int r;

	if (!cp_keys_are(m, keys) || p == NULL)
		return -EBADMSG;
	memset(&id, 0, sizeof(id));
	if ((r = prov_select(p, &ops)) == 0 && (r = ops->open(&ctx, &id)) == 0)
		ops->close(ctx);
	a = json_object_new_object();
	json_object_object_add(a, "t", json_object_new_string("identity"));
	json_object_object_add(a, "r", json_object_new_int(r));
	json_object_object_add(a, "public_ip", json_object_new_string(r == 0 && id.public_ip ?
	    id.public_ip : ""));
	json_object_object_add(a, "error", json_object_new_string(text(e, sizeof(e), r < 0 ?
	    prov_last_error() : "")));
	prov_identity_free(&id);
	r = cp_send(CP_FD, a, -1);
	json_object_put(a);
	return r;
}

int
cloudproc_child_main(int argc, char **argv)
{
	struct cloud_session cs;
	struct json_object *m;
	struct sigaction sa;
	sigset_t none;
	const char *t;
	int r;

	log_init(argc > 2 && strcmp(argv[2], "1") == 0, argc > 3 ? argv[3][0] - '0' : 0,
	    "cloudroute");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;        /* no SA_RESTART: a blocked read returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);  /* the daemon's mask came through exec */
	if ((r = drop_privileges()) < 0) {
		log_warnx("cloud process: cannot drop its capabilities (%s); no cloud pass "
		    "runs without that", strerror(-r));
		return 1;
	}
	memset(&cs, 0, sizeof(cs));
	while (!terminating && (r = cp_recv(CP_FD, &m)) == 0) {
		t = cp_str(m, "t", 16);
		r = t != NULL && strcmp(t, "job") == 0 ? run_job(&cs, m) :
		    t != NULL && strcmp(t, "identity") == 0 ? run_identity(m) : -EBADMSG;
		json_object_put(m);
		if (r < 0)
			break;
	}
	cloud_close(&cs);
	return r == -EPIPE || r == -EINTR || terminating ? 0 : 1;
}
