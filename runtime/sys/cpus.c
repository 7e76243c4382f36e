/*
 * cpus.c - how many CPUs this process may use, for the default worker
 * count: the CPUs of the calling thread's affinity mask, lowered to the
 * cgroup CPU quota rounded up (cgroup v2 `cpu.max`, or v1
 * `cpu.cfs_quota_us` / `cpu.cfs_period_us`), the lowest quota on the way
 * from the process's cgroup up to the root. A container limited to 2 CPUs
 * on a 64-core host gets 2 workers, as with Go's runtime and Tokio.
 *
 * Part of the door to the OS: the files are read with the raw calls, not
 * through the fault-injected wrappers, so a test's armed fault is never
 * spent here. Any file that is missing or does not parse means "no limit
 * from there".
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads up to @cap - 1 bytes of @path into @buf, NUL-terminated; the
 * length, or -1. */
static ssize_t weft__read_small_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* A non-negative decimal at *@p (advanced past it); false if none or it
 * overflows. */
static bool weft__parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

/* CPUs a quota of @quota per @period allows, rounded up; 0: no limit. */
static uint32_t weft__quota_cpus(uint64_t quota, uint64_t period)
{
	if (period == 0 || quota == 0)
		return 0;
	uint64_t n = quota / period + (quota % period != 0);
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* cgroup v2 `cpu.max`: "max PERIOD" (no limit) or "QUOTA PERIOD". */
static uint32_t weft__v2_limit(const char *dir)
{
	char path[4096], buf[64];
	if ((size_t)snprintf(path, sizeof path, "%s/cpu.max", dir) >= sizeof path ||
	    weft__read_small_file(path, buf, sizeof buf) <= 0)
		return 0;
	const char *p = buf;
	uint64_t quota, period;
	if (!weft__parse_u64(&p, &quota) || *p++ != ' ' || !weft__parse_u64(&p, &period))
		return 0;
	return weft__quota_cpus(quota, period);
}

/* cgroup v1: `cpu.cfs_quota_us` (-1: no limit) over `cpu.cfs_period_us`. */
static uint32_t weft__v1_limit(const char *dir)
{
	char path[4096], buf[64];
	uint64_t quota, period;
	const char *p = buf;
	if ((size_t)snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >= sizeof path ||
	    weft__read_small_file(path, buf, sizeof buf) <= 0 || !weft__parse_u64(&p, &quota))
		return 0;
	p = buf;
	if ((size_t)snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir) >= sizeof path ||
	    weft__read_small_file(path, buf, sizeof buf) <= 0 || !weft__parse_u64(&p, &period))
		return 0;
	return weft__quota_cpus(quota, period);
}

/* The lowest limit from @base/@rel up to @base; 0: none. */
static uint32_t weft__walk_up(const char *base, const char *rel,
			      uint32_t (*limit_of)(const char *dir))
{
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof dir, "%s%s", base, rel) >= sizeof dir)
		return 0;
	size_t floor = strlen(base);
	uint32_t best = 0;
	for (;;) {
		uint32_t n = limit_of(dir);
		if (n && (!best || n < best))
			best = n;
		char *slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < floor)
			break;
		*slash = '\0';
	}
	return best;
}

/* Whether the comma-separated controller list [@s, @e) names "cpu". */
static bool weft__lists_cpu(const char *s, const char *e)
{
	while (s < e) {
		const char *c = memchr(s, ',', (size_t)(e - s));
		if (!c)
			c = e;
		if (c - s == 3 && memcmp(s, "cpu", 3) == 0)
			return true;
		s = c + 1;
	}
	return false;
}

uint32_t weft__cgroup_cpu_limit(const char *root, const char *proc_cgroup)
{
	uint32_t best = 0;
	for (const char *line = proc_cgroup; line && *line;) {
		const char *end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		/* "ID:CONTROLLERS:PATH" */
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2 && c2[1] == '/' && (size_t)(end - c2) < 2048) {
			char rel[2048], base[4096];
			memcpy(rel, c2 + 1, (size_t)(end - c2 - 1));
			rel[end - c2 - 1] = '\0';
			if (rel[1] == '\0')
				rel[0] = '\0';   /* "/": the root itself */
			uint32_t n = 0;
			if (c2 == c1 + 1) {
				/* v2 (empty controller list) */
				n = weft__walk_up(root, rel, weft__v2_limit);
			} else if (weft__lists_cpu(c1 + 1, c2)) {
				/* v1: mounted as "cpu,cpuacct" or "cpu" */
				const char *names[] = { "/cpu,cpuacct", "/cpu" };
				for (size_t i = 0; i < 2 && !n; i++)
					if ((size_t)snprintf(base, sizeof base, "%s%s", root,
							     names[i]) < sizeof base)
						n = weft__walk_up(base, rel, weft__v1_limit);
			}
			if (n && (!best || n < best))
				best = n;
		}
		line = *end ? end + 1 : end;
	}
	return best;
}

uint32_t weft__available_cpus(void)
{
	uint32_t n = 0;
#ifdef __linux__
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = (uint32_t)CPU_COUNT(&set);
#endif
	/* Elsewhere (the BSDs, macOS): the online CPUs; there is no
	 * /proc/self/cgroup either, so no quota lowers it. */
	if (n == 0) {
		long online = sysconf(_SC_NPROCESSORS_ONLN);
		n = online > 0 ? (uint32_t)online : 1;
	}
	char text[4096];
	if (weft__read_small_file("/proc/self/cgroup", text, sizeof text) > 0) {
		uint32_t quota = weft__cgroup_cpu_limit("/sys/fs/cgroup", text);
		if (quota && quota < n)
			n = quota;
	}
	return n;
}
