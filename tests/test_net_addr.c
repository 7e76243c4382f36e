/* test_net_addr.c - parsing and formatting socket addresses, including
 * bad input. */
#include "helpers.h"

#include <errno.h>
#include <string.h>

static void round_trip(const char *text)
{
	weft_addr a;
	char buf[WEFT_ADDR_STRLEN];
	assert_int_equal(weft_addr_parse(&a, text), 0);
	assert_int_equal(weft_addr_format(&a, buf, sizeof buf), (int)strlen(text));
	assert_string_equal(buf, text);
}

static void ipv4_and_ipv6_round_trip(void **state)
{
	(void)state;
	round_trip("127.0.0.1:8080");
	round_trip("0.0.0.0:0");
	round_trip("255.255.255.255:65535");
	round_trip("[::1]:0");
	round_trip("[::]:443");
	round_trip("[2001:db8::1]:80");
	round_trip("[fe80::1%2]:80");
	round_trip("[::ffff:127.0.0.1]:9");
	weft_addr a;
	assert_int_equal(weft_addr_parse(&a, "127.0.0.1:8080"), 0);
	assert_int_equal(a.u.sa.sa_family, AF_INET);
	assert_int_equal(weft_addr_port(&a), 8080);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(weft_addr_parse(&a, "[::1]:0"), 0);
	assert_int_equal(a.u.sa.sa_family, AF_INET6);
	assert_int_equal(weft_addr_port(&a), 0);
}

static void bad_input_is_rejected(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", ":", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:8o", "127.0.0.1:080808", "127.0.0.1:80 ",
		" 127.0.0.1:80", "127.0.0.256:1", "1.2.3:4", "localhost:80",
		"::1:80", "[::1]", "[::1]:", "[::1]80", "[]:80", "[::1:80",
		"[::g]:80", "[fe80::1%]:80", "[fe80::1%eth0]:80", "[127.0.0.1]:80",
		"0x7f.0.0.1:80",
	};
	weft_addr a;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (weft_addr_parse(&a, bad[i]) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(weft_addr_parse(NULL, "1.2.3.4:5"), -EINVAL);
	assert_int_equal(weft_addr_parse(&a, NULL), -EINVAL);
	char longer[300];
	memset(longer, '1', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	assert_int_equal(weft_addr_parse(&a, longer), -EINVAL);
}

static void format_reports_small_buffers_and_unknown_families(void **state)
{
	(void)state;
	weft_addr a;
	char buf[8];
	assert_int_equal(weft_addr_parse(&a, "127.0.0.1:8080"), 0);
	assert_int_equal(weft_addr_format(&a, buf, sizeof buf), -ENOSPC);
	weft_addr none = { 0 };
	char big[WEFT_ADDR_STRLEN];
	assert_int_equal(weft_addr_format(&none, big, sizeof big), -EAFNOSUPPORT);
	assert_int_equal(weft_addr_format(NULL, big, sizeof big), -EINVAL);
	assert_int_equal(weft_addr_port(&none), -EAFNOSUPPORT);
}

static void unix_addresses(void **state)
{
	(void)state;
	weft_addr a;
	char buf[WEFT_ADDR_STRLEN];
	assert_int_equal(weft_addr_unix(&a, "/tmp/weft.sock"), 0);
	assert_int_equal(weft_addr_format(&a, buf, sizeof buf), 14);
	assert_string_equal(buf, "/tmp/weft.sock");
	assert_int_equal(weft_addr_port(&a), -EAFNOSUPPORT);
	assert_int_equal(weft_addr_unix(&a, ""), -EINVAL);
	assert_int_equal(weft_addr_unix(&a, NULL), -EINVAL);
	char longer[200];
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	assert_int_equal(weft_addr_unix(&a, longer), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_and_ipv6_round_trip),
		cmocka_unit_test(bad_input_is_rejected),
		cmocka_unit_test(format_reports_small_buffers_and_unknown_families),
		cmocka_unit_test(unix_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
