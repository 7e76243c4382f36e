/* test_sys.c - failure injection through the syscall and allocation layer:
 * each injected failure surfaces as a clear -errno and leaks nothing; the
 * CPU count the door reports (affinity mask, cgroup quota); and the
 * descriptors the door makes (socket, accept, pipe) come out non-blocking
 * and close-on-exec, on the Linux path and on macOS's (accept then fcntl,
 * pipe then fcntl: -Dsimulate_macos=true, which tests/run --backend
 * kqueue builds). */
#include "helpers.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sys.h"

static void an_armed_fault_fails_exactly_the_nth_call(void **state)
{
	(void)state;
	weft__fault_arm(WEFT__FAULT_ALLOC, 3, ENOMEM);
	void *a = weft__alloc(8), *b = weft__alloc(8), *c = weft__alloc(8), *d = weft__alloc(8);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	assert_non_null(d);
	weft__free(a);
	weft__free(b);
	weft__free(d);
	weft__fault_reset();
}

static void runtime_new_reports_enomem_and_leaks_nothing(void **state)
{
	(void)state;
	weft_runtime *rt = (weft_runtime *)0x1;
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_runtime_new(&rt, NULL), -ENOMEM);
	assert_ptr_equal(rt, (weft_runtime *)0x1);   /* untouched on error */
	weft__fault_reset();
	assert_int_equal(weft_runtime_new(NULL, NULL), -EINVAL);
}

typedef struct one {
	weft_future fut;
	int *drops;
} one;

static weft_poll one_poll(weft_future *f, weft_cx *cx)
{
	(void)f;
	(void)cx;
	return WEFT_READY;
}

static void one_drop(weft_future *f)
{
	++*((one *)f)->drops;
}

static void spawn_reports_enomem_and_the_future_stays_the_callers(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	int drops = 0;
	one o = { .fut = WEFT_FUTURE(one_poll, one_drop), .drops = &drops };
	weft_join_handle *h = NULL;
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_spawn(rt, &o.fut, sizeof o, &h), -ENOMEM);
	assert_null(h);
	assert_int_equal(drops, 0);
	assert_int_equal(weft_runtime_live_tasks(rt), 0);
	/* The next spawn works. */
	assert_int_equal(weft_spawn(rt, &o.fut, sizeof o, &h), 0);
	weft_join_handle_close(h);
	weft_runtime_close(rt);
	assert_int_equal(drops, 1);
}

/* Every sync primitive reports a failed init of its internal lock
 * (pthread_mutex_init's result used to be ignored) and holds nothing
 * afterwards; the next init works. */
static void sync_inits_report_a_failed_lock_init(void **state)
{
	(void)state;
	weft_semaphore sem;
	weft_mutex mu;
	weft_rwlock rw;
	weft_notify nt;
	weft_mpsc_sender *mtx = NULL;
	weft_mpsc_receiver *mrx = NULL;
	weft_watch_sender *wtx = NULL;
	weft_watch_receiver *wrx = NULL;
	int zero = 0;
	weft__fault_arm(WEFT__FAULT_LOCK_INIT, 1, EAGAIN);
	assert_int_equal(weft_semaphore_init(&sem, 1), -EAGAIN);
	weft__fault_arm(WEFT__FAULT_LOCK_INIT, 1, EAGAIN);
	assert_int_equal(weft_mutex_init(&mu), -EAGAIN);
	weft__fault_arm(WEFT__FAULT_LOCK_INIT, 1, EAGAIN);
	assert_int_equal(weft_rwlock_init(&rw), -EAGAIN);
	weft__fault_arm(WEFT__FAULT_LOCK_INIT, 1, EAGAIN);
	assert_int_equal(weft_notify_init(&nt), -EAGAIN);
	weft__fault_arm(WEFT__FAULT_LOCK_INIT, 1, EAGAIN);
	assert_int_equal(weft_mpsc_new(1, sizeof(int), &mtx, &mrx), -EAGAIN);
	assert_null(mtx);
	weft__fault_arm(WEFT__FAULT_LOCK_INIT, 1, EAGAIN);
	assert_int_equal(weft_watch_new(sizeof zero, &zero, &wtx, &wrx), -EAGAIN);
	assert_null(wtx);
	weft__fault_reset();
	assert_int_equal(weft_mutex_init(&mu), 0);
	assert_int_equal(weft_mutex_try_lock(&mu), 0);
	assert_int_equal(weft_mutex_unlock(&mu), 0);
	weft_mutex_close(&mu);
}

/* ------------------------------------------------ the default worker count */

/* Writes @text to @dir/@rel, making the folders on the way. */
static void put_file(const char *dir, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_tree(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* cgroup v2: the quota is cpu.max "QUOTA PERIOD" rounded up, "max" is no
 * limit, and the lowest limit on the way to the root wins. */
static void cgroup_v2_quota_rounds_up_and_the_lowest_ancestor_wins(void **state)
{
	(void)state;
	char dir[] = "/tmp/weft-cgroup-XXXXXX";
	assert_non_null(mkdtemp(dir));
	put_file(dir, "a/b/cpu.max", "150000 100000\n");
	put_file(dir, "a/cpu.max", "max 100000\n");
	assert_int_equal(weft__cgroup_cpu_limit(dir, "0::/a/b\n"), 2);
	put_file(dir, "a/cpu.max", "100000 100000\n");
	assert_int_equal(weft__cgroup_cpu_limit(dir, "0::/a/b\n"), 1);
	put_file(dir, "a/b/cpu.max", "max 100000\n");
	put_file(dir, "a/cpu.max", "max 100000\n");
	assert_int_equal(weft__cgroup_cpu_limit(dir, "0::/a/b\n"), 0);
	put_file(dir, "cpu.max", "50000 100000\n");   /* the root's own */
	assert_int_equal(weft__cgroup_cpu_limit(dir, "0::/\n"), 1);
	remove_tree(dir);
}

/* cgroup v1: cfs_quota_us over cfs_period_us, rounded up; -1 is no limit;
 * only a hierarchy that lists the cpu controller counts. */
static void cgroup_v1_cfs_quota_counts_only_for_the_cpu_controller(void **state)
{
	(void)state;
	char dir[] = "/tmp/weft-cgroup-XXXXXX";
	assert_non_null(mkdtemp(dir));
	put_file(dir, "cpu,cpuacct/x/cpu.cfs_quota_us", "250000\n");
	put_file(dir, "cpu,cpuacct/x/cpu.cfs_period_us", "100000\n");
	assert_int_equal(weft__cgroup_cpu_limit(dir, "4:cpu,cpuacct:/x\n"), 3);
	assert_int_equal(weft__cgroup_cpu_limit(dir, "4:memory:/x\n"), 0);
	put_file(dir, "cpu,cpuacct/x/cpu.cfs_quota_us", "-1\n");
	assert_int_equal(weft__cgroup_cpu_limit(dir, "4:cpu,cpuacct:/x\n"), 0);
	remove_tree(dir);
}

/* Text that is not what the kernel writes means no limit, never a crash. */
static void cgroup_text_that_does_not_parse_means_no_limit(void **state)
{
	(void)state;
	char dir[] = "/tmp/weft-cgroup-XXXXXX";
	assert_non_null(mkdtemp(dir));
	put_file(dir, "a/cpu.max", "lots 100000\n");
	const char *texts[] = { "", "\n", "0::", "0::a", ":::", "0::/a", "garbage",
				"1:cpu:", "0::/../../etc\n" };
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		assert_int_equal(weft__cgroup_cpu_limit(dir, texts[i]), 0);
	put_file(dir, "a/cpu.max", "0 100000\n");
	assert_int_equal(weft__cgroup_cpu_limit(dir, "0::/a\n"), 0);
	remove_tree(dir);
}

/* The default worker count follows the calling thread's affinity mask:
 * a thread allowed one CPU gets the one-worker runtime. */
static void the_default_worker_count_follows_the_affinity_mask(void **state)
{
	(void)state;
	cpu_set_t old, only;
	assert_int_equal(sched_getaffinity(0, sizeof old, &old), 0);
	int first = -1;
	for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
		if (CPU_ISSET(i, &old))
			first = i;
	CPU_ZERO(&only);
	CPU_SET(first, &only);
	assert_int_equal(sched_setaffinity(0, sizeof only, &only), 0);
	weft_runtime *rt = NULL;
	int rc = weft_runtime_new(&rt, NULL);
	assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);
	assert_int_equal(rc, 0);
	weft_runtime_metrics m;
	assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
	assert_int_equal(m.workers, 1);
	weft_runtime_close(rt);
	uint32_t all = (uint32_t)CPU_COUNT(&old);
	assert_true(weft__available_cpus() >= 1 && weft__available_cpus() <= all);
}

/* @fd is non-blocking and close-on-exec. */
static void assert_nonblock_cloexec(int fd)
{
	assert_true(fd >= 0);
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0);
	assert_true(fl & O_NONBLOCK);
	int fd_fl = fcntl(fd, F_GETFD);
	assert_true(fd_fl >= 0);
	assert_true(fd_fl & FD_CLOEXEC);
}

static void socket_accept_and_pipe_are_nonblocking_and_cloexec(void **state)
{
	(void)state;
#ifdef WEFT_SIMULATE_MACOS
	print_message("(macOS socket path: accept then fcntl, pipe then fcntl)\n");
#endif
	int ls = weft__sys_socket(AF_INET, SOCK_STREAM, 0);
	assert_nonblock_cloexec(ls);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &len), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, len), 0);
	int a = -EAGAIN;
	for (int i = 0; i < 1000 && a == -EAGAIN; i++) {
		a = weft__sys_accept(ls, NULL, NULL);
		if (a == -EAGAIN)
			usleep(1000);
	}
	assert_nonblock_cloexec(a);
	int p[2];
	assert_int_equal(weft__sys_pipe(p), 0);
	assert_nonblock_cloexec(p[0]);
	assert_nonblock_cloexec(p[1]);
	close(p[0]);
	close(p[1]);
	close(a);
	close(c);
	close(ls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_armed_fault_fails_exactly_the_nth_call),
		cmocka_unit_test(runtime_new_reports_enomem_and_leaks_nothing),
		cmocka_unit_test(spawn_reports_enomem_and_the_future_stays_the_callers),
		cmocka_unit_test(sync_inits_report_a_failed_lock_init),
		cmocka_unit_test(cgroup_v2_quota_rounds_up_and_the_lowest_ancestor_wins),
		cmocka_unit_test(cgroup_v1_cfs_quota_counts_only_for_the_cpu_controller),
		cmocka_unit_test(cgroup_text_that_does_not_parse_means_no_limit),
		cmocka_unit_test(the_default_worker_count_follows_the_affinity_mask),
		cmocka_unit_test(socket_accept_and_pipe_are_nonblocking_and_cloexec),
	};
	return cmocka_run_group_tests_name("sys", tests, NULL, NULL);
}
