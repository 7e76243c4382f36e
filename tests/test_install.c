/* test_install.c - the README's Install section works for a new user:
 * tests/install_check.sh runs its commands word for word into a temporary
 * prefix, builds the README's program against the installed shared and
 * static libraries, runs both, and checks what the section says (see the
 * script's header). */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static void the_readme_install_section_works_as_written(void **state)
{
	char cmd[4096];
	int rc;

	(void)state;
	snprintf(cmd, sizeof cmd, "bash '%s/tests/install_check.sh' '%s' 2>&1",
		 WEFT_SOURCE_ROOT, WEFT_SOURCE_ROOT);
	rc = system(cmd);
	assert_true(WIFEXITED(rc));
	if (WEXITSTATUS(rc) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(rc), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_readme_install_section_works_as_written),
	};
	return cmocka_run_group_tests_name("install", tests, NULL, NULL);
}
