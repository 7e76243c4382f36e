/*
 * fuzz_addr.c - libFuzzer target for the address text forms of
 * weft/net.h.
 *
 * The input is a string (cut at its first NUL). Checked:
 *  - weft_addr_parse never crashes or reads past the string (the string
 *    is a heap copy of exactly its length + 1, so ASan sees one byte
 *    over), and on failure returns -EINVAL and leaves the output alone;
 *  - on success: an IPv4 or IPv6 address with the right length; it
 *    formats (weft_addr_format) into exactly its length + 1 bytes (a
 *    heap buffer of that size: ASan sees any overrun), a buffer one
 *    byte smaller gives -ENOSPC, and the text parses back to the same
 *    address, which formats to the same text (the round trip is stable
 *    after one step: "00080" becomes "80", then stays);
 *  - weft_addr_unix on the same string: a Unix address that formats
 *    back to the string itself, or -EINVAL / -ENAMETOOLONG;
 *  - weft_addr_format on the input's first bytes taken as a raw
 *    weft_addr (any family, any length): no crash, no overrun.
 * A failed check calls abort(), which libFuzzer reports as a crash.
 */
#include <weft/net.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_addr: check failed: %s (line %d)\n", \
				#cond, __LINE__);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

/* Formats @a into a heap buffer of exactly the size it needs, after
 * checking that one byte less is refused. Returns the text (free it). */
static char *format_exact(const weft_addr *a)
{
	char big[WEFT_ADDR_STRLEN];
	int n = weft_addr_format(a, big, sizeof big);
	CHECK(n >= 0 && n < WEFT_ADDR_STRLEN);
	CHECK(strlen(big) == (size_t)n);
	char *buf = malloc((size_t)n + 1);
	CHECK(buf);
	if (n > 0)
		CHECK(weft_addr_format(a, buf, (size_t)n) == -ENOSPC);
	CHECK(weft_addr_format(a, buf, (size_t)n + 1) == n);
	CHECK(memcmp(buf, big, (size_t)n + 1) == 0);
	return buf;
}

static bool same_addr(const weft_addr *a, const weft_addr *b)
{
	return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

static void check_parse(const char *text)
{
	weft_addr a, untouched;
	memset(&a, 0xa5, sizeof a);
	memcpy(&untouched, &a, sizeof a);
	int rc = weft_addr_parse(&a, text);
	if (rc != 0) {
		CHECK(rc == -EINVAL);
		CHECK(memcmp(&a, &untouched, sizeof a) == 0);
		return;
	}
	int family = a.u.sa.sa_family;
	CHECK(family == AF_INET || family == AF_INET6);
	CHECK(a.len == (family == AF_INET ? sizeof a.u.in : sizeof a.u.in6));
	CHECK(weft_addr_port(&a) >= 0 && weft_addr_port(&a) <= 65535);

	char *t1 = format_exact(&a);
	weft_addr b;
	CHECK(weft_addr_parse(&b, t1) == 0);
	CHECK(same_addr(&a, &b));
	char *t2 = format_exact(&b);
	CHECK(strcmp(t1, t2) == 0);
	free(t1);
	free(t2);
}

static void check_unix(const char *text)
{
	weft_addr a;
	int rc = weft_addr_unix(&a, text);
	size_t len = strlen(text);
	if (rc != 0) {
		CHECK(rc == (len == 0 ? -EINVAL : -ENAMETOOLONG));
		return;
	}
	CHECK(len > 0 && len < sizeof a.u.un.sun_path);
	CHECK(a.u.sa.sa_family == AF_UNIX);
	CHECK(weft_addr_port(&a) == -EAFNOSUPPORT);
	char *t = format_exact(&a);
	CHECK(strcmp(t, text) == 0);
	free(t);
}

/* The input's bytes as a raw address: formatting must stay in bounds
 * whatever the family and length say. */
static void check_raw(const uint8_t *data, size_t size)
{
	weft_addr a;
	memset(&a, 0, sizeof a);
	size_t n = size < sizeof a ? size : sizeof a;
	memcpy(&a, data, n);
	if (a.len > sizeof a.u)
		a.len = sizeof a.u;   /* the contract: len counts bytes of u */
	char buf[WEFT_ADDR_STRLEN];
	int rc = weft_addr_format(&a, buf, sizeof buf);
	CHECK(rc == -EAFNOSUPPORT || rc == -EINVAL || (rc >= 0 && rc < WEFT_ADDR_STRLEN));
	if (rc >= 0)
		CHECK(strlen(buf) == (size_t)rc);
	(void)weft_addr_port(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t len = nul ? (size_t)(nul - data) : size;
	char *text = malloc(len + 1);
	CHECK(text);
	memcpy(text, data, len);
	text[len] = '\0';
	check_parse(text);
	check_unix(text);
	free(text);
	check_raw(data, size);
	return 0;
}
