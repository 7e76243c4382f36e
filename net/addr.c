/*
 * addr.c - socket addresses: parsing and formatting the numeric text
 * forms ("127.0.0.1:8080", "[::1]:0") and building Unix addresses.
 * Pure computation: no syscall, no allocation.
 */
#include <weft/net.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parses a decimal port 0..65535 that is all of @s. */
static int weft__parse_port(const char *s, uint16_t *out)
{
	if (!*s)
		return -EINVAL;
	unsigned v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || p - s >= 5)
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int weft_addr_parse(weft_addr *out, const char *text)
{
	if (!out || !text)
		return -EINVAL;
	char host[INET6_ADDRSTRLEN + 8];
	const char *port;
	size_t hlen;
	bool v6 = text[0] == '[';
	if (v6) {
		const char *end = strchr(text, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		hlen = (size_t)(end - text - 1);
		if (hlen == 0 || hlen >= sizeof host)
			return -EINVAL;
		memcpy(host, text + 1, hlen);
		port = end + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - text);
		if (hlen == 0 || hlen >= sizeof host)
			return -EINVAL;
		memcpy(host, text, hlen);
		port = colon + 1;
	}
	host[hlen] = '\0';
	uint16_t p;
	if (weft__parse_port(port, &p) < 0)
		return -EINVAL;

	weft_addr a = { 0 };
	if (!v6) {
		/* inet_pton accepts only the dotted quad, which is what we want:
		 * no "1.2.3", no hex, no leading junk. */
		if (inet_pton(AF_INET, host, &a.u.in.sin_addr) != 1)
			return -EINVAL;
		a.u.in.sin_family = AF_INET;
		a.u.in.sin_port = htons(p);
		a.len = sizeof a.u.in;
		*out = a;
		return 0;
	}
	char *pct = strchr(host, '%');
	if (pct) {
		*pct = '\0';
		const char *zone = pct + 1;
		if (!*zone)
			return -EINVAL;
		/* Numeric zone ids only: a name would need a syscall. */
		uint16_t idx;
		if (weft__parse_port(zone, &idx) < 0)
			return -EINVAL;
		a.u.in6.sin6_scope_id = idx;
	}
	if (inet_pton(AF_INET6, host, &a.u.in6.sin6_addr) != 1)
		return -EINVAL;
	a.u.in6.sin6_family = AF_INET6;
	a.u.in6.sin6_port = htons(p);
	a.len = sizeof a.u.in6;
	*out = a;
	return 0;
}

int weft_addr_format(const weft_addr *a, char *buf, size_t size)
{
	if (!a || !buf)
		return -EINVAL;
	char host[INET6_ADDRSTRLEN];
	int n;
	switch (a->len ? a->u.sa.sa_family : AF_UNSPEC) {
	case AF_INET:
		if (!inet_ntop(AF_INET, &a->u.in.sin_addr, host, sizeof host))
			return -EINVAL;
		n = snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(a->u.in.sin_port));
		break;
	case AF_INET6:
		if (!inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof host))
			return -EINVAL;
		if (a->u.in6.sin6_scope_id)
			n = snprintf(buf, size, "[%s%%%u]:%u", host,
				     (unsigned)a->u.in6.sin6_scope_id,
				     (unsigned)ntohs(a->u.in6.sin6_port));
		else
			n = snprintf(buf, size, "[%s]:%u", host,
				     (unsigned)ntohs(a->u.in6.sin6_port));
		break;
	case AF_UNIX: {
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t plen = a->len > off ? a->len - off : 0;
		const char *path = a->u.un.sun_path;
		if (plen > 0 && path[0] == '\0') {   /* abstract: "@name" */
			n = snprintf(buf, size, "@%.*s", (int)(plen - 1), path + 1);
		} else {
			size_t l = strnlen(path, plen);
			n = snprintf(buf, size, "%.*s", (int)l, path);
		}
		break;
	}
	default:
		return -EAFNOSUPPORT;
	}
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENOSPC;
	return n;
}

int weft_addr_unix(weft_addr *out, const char *path)
{
	if (!out || !path || !*path)
		return -EINVAL;
	size_t l = strlen(path);
	weft_addr a = { 0 };
	if (l >= sizeof a.u.un.sun_path)
		return -ENAMETOOLONG;
	a.u.un.sun_family = AF_UNIX;
	memcpy(a.u.un.sun_path, path, l + 1);
	a.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + 1);
	*out = a;
	return 0;
}

int weft_addr_port(const weft_addr *a)
{
	if (!a || a->len == 0)
		return -EAFNOSUPPORT;
	if (a->u.sa.sa_family == AF_INET)
		return ntohs(a->u.in.sin_port);
	if (a->u.sa.sa_family == AF_INET6)
		return ntohs(a->u.in6.sin6_port);
	return -EAFNOSUPPORT;
}
