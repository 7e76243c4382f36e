/* test_install.c - the installed library works for a user: meson install
 * into a temporary DESTDIR, then a program built through pkg-config runs,
 * once against libweft.so and once against libweft.a; and the installed
 * headers compile as C++. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static void run_check(const char *mode)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "sh '%s/tests/install_check.sh' %s '%s' '%s' '%s' '%s' 2>&1",
		 WEFT_SOURCE_ROOT, mode, WEFT_BUILD_ROOT, WEFT_SOURCE_ROOT, WEFT_CC,
		 WEFT_SANITIZE);
	int rc = system(cmd);
	assert_true(WIFEXITED(rc));
	if (WEXITSTATUS(rc) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(rc), 0);
}

static void a_program_links_the_installed_shared_library_via_pkg_config(void **state)
{
	(void)state;
	run_check("shared");
}

static void a_program_links_the_installed_static_library_via_pkg_config(void **state)
{
	(void)state;
	run_check("static");
}

static void the_installed_headers_compile_as_cxx(void **state)
{
	(void)state;
	run_check("cxx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_program_links_the_installed_shared_library_via_pkg_config),
		cmocka_unit_test(a_program_links_the_installed_static_library_via_pkg_config),
		cmocka_unit_test(the_installed_headers_compile_as_cxx),
	};
	return cmocka_run_group_tests_name("install", tests, NULL, NULL);
}
