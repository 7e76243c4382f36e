/* test_backend.c - choosing the I/O backend: what the config field and
 * the WEFT_BACKEND environment variable ask for, what a build without the
 * backend answers (-ENOTSUP, never a silent epoll), what only AUTO may
 * fall back from, and the metrics naming the backend that runs. This
 * build compiles epoll only (meson option io_backend; io_uring not
 * implemented). */
#include "helpers.h"

#include "sys.h"

#include <errno.h>
#include <stdlib.h>

/* Each test starts and ends with WEFT_BACKEND unset, whatever the suite
 * was run with (tests/run may set it to run every suite on a backend). */
static int env_clear(void **state)
{
	(void)state;
	unsetenv("WEFT_BACKEND");
	return 0;
}

/* weft_runtime_new with @backend in the config; the runtime, if made, is
 * closed after reading which backend its metrics report into *@ran. */
static int make(uint32_t workers, uint32_t backend, uint32_t *ran)
{
	weft_runtime_config cfg = { .workers = workers, .backend = backend };
	weft_runtime *rt = NULL;
	int rc = weft_runtime_new(&rt, &cfg);
	if (rc == 0) {
		weft_runtime_metrics m;
		assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
		if (ran)
			*ran = m.backend;
		weft_runtime_close(rt);
	} else {
		assert_null(rt);
	}
	return rc;
}

static void names_are_the_spellings_weft_backend_accepts(void **state)
{
	(void)state;
	assert_string_equal(weft_backend_name(WEFT_BACKEND_AUTO), "auto");
	assert_string_equal(weft_backend_name(WEFT_BACKEND_EPOLL), "epoll");
	assert_string_equal(weft_backend_name(WEFT_BACKEND_IO_URING), "io_uring");
	assert_string_equal(weft_backend_name(WEFT_BACKEND_KQUEUE), "kqueue");
	assert_null(weft_backend_name((weft_backend)4));
	assert_null(weft_backend_name((weft_backend)-1));
}

static void auto_runs_epoll_on_linux_and_the_metrics_say_so(void **state)
{
	(void)state;
	uint32_t ran = 99;
	assert_int_equal(make(1, WEFT_BACKEND_AUTO, &ran), 0);
	assert_int_equal(ran, WEFT_BACKEND_EPOLL);
	ran = 99;
	assert_int_equal(make(2, WEFT_BACKEND_AUTO, &ran), 0);
	assert_int_equal(ran, WEFT_BACKEND_EPOLL);
	/* A NULL config is AUTO too. */
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_runtime_metrics m = { .backend = 99 };
	assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
	assert_int_equal(m.backend, WEFT_BACKEND_EPOLL);
	assert_int_equal(m.reserved3, 0);
	weft_runtime_close(rt);
}

static void epoll_asked_for_by_name_runs_epoll(void **state)
{
	(void)state;
	uint32_t ran = 99;
	assert_int_equal(make(1, WEFT_BACKEND_EPOLL, &ran), 0);
	assert_int_equal(ran, WEFT_BACKEND_EPOLL);
}

static void io_uring_and_kqueue_are_not_in_this_build(void **state)
{
	(void)state;
	assert_int_equal(make(1, WEFT_BACKEND_IO_URING, NULL), -ENOTSUP);
	assert_int_equal(make(2, WEFT_BACKEND_IO_URING, NULL), -ENOTSUP);
	assert_int_equal(make(1, WEFT_BACKEND_KQUEUE, NULL), -ENOTSUP);
	assert_int_equal(make(2, WEFT_BACKEND_KQUEUE, NULL), -ENOTSUP);
}

static void a_value_that_is_no_backend_is_einval(void **state)
{
	(void)state;
	assert_int_equal(make(1, 4, NULL), -EINVAL);
	assert_int_equal(make(1, UINT32_MAX, NULL), -EINVAL);
}

static void the_environment_overrides_the_config(void **state)
{
	(void)state;
	uint32_t ran = 99;
	/* It overrides in both directions: an unsupported name in the
	 * environment beats a good config, a good one beats a bad config. */
	setenv("WEFT_BACKEND", "io_uring", 1);
	assert_int_equal(make(1, WEFT_BACKEND_EPOLL, NULL), -ENOTSUP);
	assert_int_equal(make(1, WEFT_BACKEND_AUTO, NULL), -ENOTSUP);
	setenv("WEFT_BACKEND", "kqueue", 1);
	assert_int_equal(make(2, WEFT_BACKEND_AUTO, NULL), -ENOTSUP);
	setenv("WEFT_BACKEND", "epoll", 1);
	assert_int_equal(make(1, WEFT_BACKEND_KQUEUE, &ran), 0);
	assert_int_equal(ran, WEFT_BACKEND_EPOLL);
	setenv("WEFT_BACKEND", "auto", 1);
	ran = 99;
	assert_int_equal(make(1, WEFT_BACKEND_IO_URING, &ran), 0);
	assert_int_equal(ran, WEFT_BACKEND_EPOLL);
	/* Empty: as if unset. */
	setenv("WEFT_BACKEND", "", 1);
	assert_int_equal(make(1, WEFT_BACKEND_IO_URING, NULL), -ENOTSUP);
	assert_int_equal(make(1, WEFT_BACKEND_EPOLL, NULL), 0);
	unsetenv("WEFT_BACKEND");
}

static void a_bad_weft_backend_value_is_einval(void **state)
{
	(void)state;
	const char *bad[] = { "bogus", "EPOLL", "epoll ", "uring", "1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("WEFT_BACKEND", bad[i], 1);
		assert_int_equal(make(1, WEFT_BACKEND_EPOLL, NULL), -EINVAL);
		assert_int_equal(make(2, WEFT_BACKEND_AUTO, NULL), -EINVAL);
	}
	unsetenv("WEFT_BACKEND");
}

/* A backend asked for by name that fails to start is refused with
 * -ENOTSUP (unless the host ran out of memory or fds: that error is
 * told as it is); AUTO reports the error of the backend it tried, since
 * there is no other backend to fall back to in this build. Nothing
 * leaks either way (ASan). */
static void a_named_backend_that_cannot_start_is_enotsup(void **state)
{
	(void)state;
	weft__fault_arm(WEFT__FAULT_BACKEND, 1, EINVAL);
	assert_int_equal(make(1, WEFT_BACKEND_EPOLL, NULL), -ENOTSUP);
	weft__fault_arm(WEFT__FAULT_BACKEND_WAKE, 1, ENOSYS);
	assert_int_equal(make(2, WEFT_BACKEND_EPOLL, NULL), -ENOTSUP);
	weft__fault_arm(WEFT__FAULT_BACKEND, 1, EMFILE);
	assert_int_equal(make(1, WEFT_BACKEND_EPOLL, NULL), -EMFILE);
	weft__fault_arm(WEFT__FAULT_BACKEND, 1, EINVAL);
	assert_int_equal(make(1, WEFT_BACKEND_AUTO, NULL), -EINVAL);
	weft__fault_reset();
	assert_int_equal(make(1, WEFT_BACKEND_EPOLL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(names_are_the_spellings_weft_backend_accepts,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(auto_runs_epoll_on_linux_and_the_metrics_say_so,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(epoll_asked_for_by_name_runs_epoll,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(io_uring_and_kqueue_are_not_in_this_build,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(a_value_that_is_no_backend_is_einval,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(the_environment_overrides_the_config,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(a_bad_weft_backend_value_is_einval,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(a_named_backend_that_cannot_start_is_enotsup,
						env_clear, env_clear),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
