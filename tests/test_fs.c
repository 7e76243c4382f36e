/* test_fs.c - whole-file read and write futures on the blocking pool:
 * round trips in a private mkdtemp directory, errors (missing file,
 * missing directory, a directory, injected write failure), empty and
 * large files, files without a size (/proc), zero-filled futures, and a
 * read dropped while its pool thread is blocked. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft/fs.h>

#include "sched_runtime.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/weft-fs-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static weft_runtime *new_rt(uint32_t workers)
{
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = { .workers = workers };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	return rt;
}

/* Runs one read or write on @rt through block_on. */
static void run(weft_runtime *rt, weft_future *f)
{
	assert_int_equal(weft_block_on(rt, f), 0);
}

/* write, then read back, as one coroutine */
typedef struct round_trip {
	weft_future fut;
	weft_coro co;
	const char *path;
	const void *buf;
	size_t len;
	weft_fs_write_file w;
	weft_fs_read_file r;
} round_trip;

static weft_poll round_trip_poll(weft_future *f, weft_cx *cx)
{
	round_trip *t = (round_trip *)f;
	WEFT_BEGIN(&t->co);
	weft_fs_write_file_init(&t->w, t->path, t->buf, t->len);
	WEFT_TRY(&t->co, weft_fs_write_file_poll(&t->w, cx), t->w.result);
	weft_fs_read_file_init(&t->r, t->path);
	WEFT_TRY(&t->co, weft_fs_read_file_poll(&t->r, cx), t->r.result);
	WEFT_END(&t->co);
}

static void round_trip_drop(weft_future *f)
{
	round_trip *t = (round_trip *)f;
	weft_fs_write_file_drop(&t->w);
	weft_fs_read_file_drop(&t->r);
}

static round_trip round_trip_make(const char *path, const void *buf, size_t len)
{
	return (round_trip){ .fut = WEFT_FUTURE(round_trip_poll, round_trip_drop),
			     .path = path, .buf = buf, .len = len };
}

static void a_written_file_reads_back_the_same_bytes(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2);
	char path[PATH_MAX];
	path_in(path, sizeof path, "hello");
	static const char bytes[] = "hello\0world";   /* a NUL inside */
	round_trip t = round_trip_make(path, bytes, sizeof bytes - 1);
	run(rt, &t.fut);
	assert_int_equal(t.co.result, 0);
	assert_int_equal(t.r.len, sizeof bytes - 1);
	assert_memory_equal(t.r.data, bytes, sizeof bytes - 1);
	assert_int_equal(t.r.data[t.r.len], '\0');   /* terminated past len */
	free(t.r.data);

	/* Writing again truncates. */
	round_trip u = round_trip_make(path, "ab", 2);
	run(rt, &u.fut);
	assert_int_equal(u.co.result, 0);
	assert_int_equal(u.r.len, 2);
	assert_string_equal(u.r.data, "ab");
	free(u.r.data);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 2);
	weft_runtime_close(rt);
}

static void empty_and_large_files_round_trip(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1);
	char path[PATH_MAX];
	path_in(path, sizeof path, "empty");
	round_trip t = round_trip_make(path, NULL, 0);
	run(rt, &t.fut);
	assert_int_equal(t.co.result, 0);
	assert_int_equal(t.r.len, 0);
	assert_non_null(t.r.data);
	assert_int_equal(t.r.data[0], '\0');
	free(t.r.data);

	size_t n = 300 * 1024 + 7;
	unsigned char *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 31 + 7);
	path_in(path, sizeof path, "big");
	round_trip u = round_trip_make(path, big, n);
	run(rt, &u.fut);
	assert_int_equal(u.co.result, 0);
	assert_int_equal(u.r.len, n);
	assert_memory_equal(u.r.data, big, n);
	free(u.r.data);
	free(big);
	weft_runtime_close(rt);
}

static void a_file_without_a_size_is_read_to_its_end(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1);
	weft_fs_read_file r;
	weft_fs_read_file_init(&r, "/proc/self/status");   /* st_size is 0 */
	run(rt, &r.fut);
	assert_int_equal(r.result, 0);
	assert_true(r.len > 0);
	assert_non_null(strstr(r.data, "Name:"));
	free(r.data);
	weft_runtime_close(rt);
}

static void errors_come_back_as_negative_errno(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1);
	char path[PATH_MAX];

	path_in(path, sizeof path, "missing");
	weft_fs_read_file r;
	weft_fs_read_file_init(&r, path);
	run(rt, &r.fut);
	assert_int_equal(r.result, -ENOENT);
	assert_null(r.data);
	assert_int_equal(r.len, 0);

	path_in(path, sizeof path, "no-such-dir/file");
	weft_fs_write_file w;
	weft_fs_write_file_init(&w, path, "x", 1);
	run(rt, &w.fut);
	assert_int_equal(w.result, -ENOENT);

	weft_fs_read_file_init(&r, dir);   /* a directory */
	run(rt, &r.fut);
	assert_int_equal(r.result, -EISDIR);
	assert_null(r.data);

	path_in(path, sizeof path, "full");
	weft_fs_write_file_init(&w, path, "abc", 3);
	weft__fault_arm(WEFT__FAULT_WRITE, 1, ENOSPC);
	run(rt, &w.fut);
	weft__fault_reset();
	assert_int_equal(w.result, -ENOSPC);

	/* NULL arguments: -EINVAL, no job. */
	weft_fs_read_file_init(&r, NULL);
	run(rt, &r.fut);
	assert_int_equal(r.result, -EINVAL);
	weft_fs_write_file_init(&w, path, NULL, 5);
	run(rt, &w.fut);
	assert_int_equal(w.result, -EINVAL);

	/* A path longer than PATH_MAX. */
	char *longp = malloc(PATH_MAX + 16);
	memset(longp, 'a', PATH_MAX + 15);
	longp[PATH_MAX + 15] = '\0';
	weft_fs_read_file_init(&r, longp);
	run(rt, &r.fut);
	assert_int_equal(r.result, -ENAMETOOLONG);
	free(longp);

	weft_blocking_metrics m;
	assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	assert_int_equal(m.jobs_submitted, 4);   /* the invalid ones never queued */
	weft_runtime_close(rt);
}

static void zero_filled_futures_and_no_runtime_give_einval(void **state)
{
	(void)state;
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	weft_fs_read_file r;
	memset(&r, 0, sizeof r);
	assert_int_equal(weft_fs_read_file_poll(&r, &cx), WEFT_READY);
	assert_int_equal(r.result, -EINVAL);
	weft_fs_read_file_drop(&r);
	weft_fs_read_file_drop(&r);   /* idempotent */

	weft_fs_write_file wr;
	memset(&wr, 0, sizeof wr);
	assert_int_equal(weft_fs_write_file_poll(&wr, &cx), WEFT_READY);
	assert_int_equal(wr.result, -EINVAL);
	weft_fs_write_file_drop(&wr);

	/* A real path but no runtime in the context. */
	weft_fs_read_file_init(&r, "/proc/self/status");
	assert_int_equal(weft_fs_read_file_poll(&r, &cx), WEFT_READY);
	assert_int_equal(r.result, -EINVAL);
	weft_fs_read_file_drop(&r);
}

/* Polls a read once, then finishes (its drop drops the read). */
typedef struct poll_once {
	weft_future fut;
	weft_fs_read_file r;
	weft_poll first;
} poll_once;

static weft_poll poll_once_poll(weft_future *f, weft_cx *cx)
{
	poll_once *p = (poll_once *)f;
	p->first = weft_fs_read_file_poll(&p->r, cx);
	return WEFT_READY;
}

static void poll_once_drop(weft_future *f)
{
	weft_fs_read_file_drop(&((poll_once *)f)->r);
}

static void a_read_dropped_while_its_thread_is_blocked_finishes_and_frees_in_the_background(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1);
	char path[PATH_MAX];
	path_in(path, sizeof path, "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	/* open(O_RDONLY) on a FIFO blocks the pool thread until a writer. */
	poll_once p = { .fut = WEFT_FUTURE(poll_once_poll, poll_once_drop) };
	weft_fs_read_file_init(&p.r, path);
	run(rt, &p.fut);
	assert_int_equal(p.first, WEFT_PENDING);
	assert_null(p.r.priv.job);   /* dropped */

	weft_blocking_metrics m;
	uint64_t end = test_now_us() + 10000000u;
	do {
		assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	} while (m.running != 1 && test_now_us() < end && usleep(1000) == 0);
	assert_int_equal(m.running, 1);

	/* Become the writer: the read gets its bytes and EOF, and the job
	 * frees the buffer nobody takes (ASan would see a leak). */
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	do {
		assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	} while (m.jobs_completed != 1 && test_now_us() < end && usleep(1000) == 0);
	assert_int_equal(m.jobs_completed, 1);
	weft_runtime_close(rt);
}

/* Many reads at once from many tasks on two workers. */
typedef struct reader {
	weft_future fut;
	const char *path;
	weft_fs_read_file r;
	size_t len;
} reader;

static weft_poll reader_poll(weft_future *f, weft_cx *cx)
{
	reader *t = (reader *)f;
	if (weft_fs_read_file_poll(&t->r, cx) == WEFT_PENDING)
		return WEFT_PENDING;
	t->len = t->r.result == 0 ? t->r.len : 0;
	free(t->r.data);
	t->r.data = NULL;
	return WEFT_READY;
}

static void reader_drop(weft_future *f)
{
	weft_fs_read_file_drop(&((reader *)f)->r);
}

static void many_tasks_read_at_once_on_two_workers(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2);
	char path[PATH_MAX];
	path_in(path, sizeof path, "shared");
	weft_fs_write_file w;
	weft_fs_write_file_init(&w, path, "0123456789", 10);
	run(rt, &w.fut);
	assert_int_equal(w.result, 0);
	enum { N = 32 };
	weft_join_handle *hs[N];
	for (int i = 0; i < N; i++) {
		reader t = { .fut = WEFT_FUTURE(reader_poll, reader_drop), .path = path };
		weft_fs_read_file_init(&t.r, path);
		assert_int_equal(weft_spawn(rt, &t.fut, sizeof t, &hs[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		uint64_t end = test_now_us() + 10000000u;
		while (!weft_join_handle_is_finished(hs[i]) && test_now_us() < end)
			usleep(1000);
		weft_waker nw = weft_noop_waker();
		weft_cx cx = weft_cx_from_waker(&nw);
		int status = 1;
		assert_int_equal(weft_join_handle_poll(hs[i], &cx, &status), WEFT_READY);
		assert_int_equal(status, 0);
		assert_int_equal(((reader *)weft_join_handle_output(hs[i]))->len, 10);
		weft_join_handle_close(hs[i]);
	}
	weft_runtime_close(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_written_file_reads_back_the_same_bytes),
		cmocka_unit_test(empty_and_large_files_round_trip),
		cmocka_unit_test(a_file_without_a_size_is_read_to_its_end),
		cmocka_unit_test(errors_come_back_as_negative_errno),
		cmocka_unit_test(zero_filled_futures_and_no_runtime_give_einval),
		cmocka_unit_test(a_read_dropped_while_its_thread_is_blocked_finishes_and_frees_in_the_background),
		cmocka_unit_test(many_tasks_read_at_once_on_two_workers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
