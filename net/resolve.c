/*
 * resolve.c - "host:port" to addresses: numeric text parsed in place,
 * names looked up with getaddrinfo on the runtime's name-lookup pool (a
 * small blocking pool of its own, so slow DNS never starves other
 * blocking work, nor other blocking work a lookup).
 *
 * The lookup job is a heap object shared by the future and the pool
 * thread (blocking.h): if the future is dropped mid-lookup, the pool
 * thread finishes the call and the last reference frees the job, so
 * neither side ever touches memory the other freed.
 */
#include "net_sock.h"
#include "blocking.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>

struct weft__resolve_job {
	struct weft__blocking_job job;   /* first: converted back from it */
	char host[256];
	char port[6];
	weft_addr addrs[WEFT_RESOLVE_MAX];
	size_t count;
	int result;
};

static int weft__gai_errno(int rc)
{
	switch (rc) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EIO;
	}
}

/* Runs on a pool thread. */
static void weft__resolve_run(struct weft__blocking_job *bj)
{
	struct weft__resolve_job *j = (struct weft__resolve_job *)(void *)bj;
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(j->host, j->port, &hints, &res);
	if (rc != 0) {
		j->result = weft__gai_errno(rc);
		return;
	}
	j->count = 0;
	for (struct addrinfo *ai = res; ai && j->count < WEFT_RESOLVE_MAX; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof j->addrs[0].u)
			continue;
		weft_addr *a = &j->addrs[j->count++];
		*a = (weft_addr){ 0 };
		memcpy(&a->u, ai->ai_addr, ai->ai_addrlen);
		a->len = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	j->result = j->count ? 0 : -ENOENT;
}

static void weft__resolve_free(struct weft__blocking_job *bj)
{
	weft__free(bj);
}

static weft_poll weft__resolve_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_resolve_poll((weft_resolve *)f, cx);
}

static void weft__resolve_fut_drop(weft_future *f)
{
	weft_resolve_drop((weft_resolve *)f);
}

void weft_resolve_init(weft_resolve *r, const char *name)
{
	*r = (weft_resolve){
		.fut = WEFT_FUTURE(weft__resolve_fut_poll, weft__resolve_fut_drop),
	};
	r->priv.name = name;
}

static weft_poll weft__resolve_finish(weft_resolve *r, int result)
{
	r->result = result;
	r->priv.done = true;
	return WEFT_READY;
}

/* Splits "host:port" (a name, so no brackets) and starts the lookup. */
static int weft__resolve_start(weft_resolve *r, weft_cx *cx)
{
	const char *colon = strrchr(r->priv.name, ':');
	if (!colon || colon == r->priv.name || r->priv.name[0] == '[')
		return -EINVAL;
	size_t hlen = (size_t)(colon - r->priv.name);
	size_t plen = strlen(colon + 1);
	if (plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") != plen ||
	    memchr(r->priv.name, ':', hlen))
		return -EINVAL;
	struct weft__resolve_job tmp;
	if (hlen >= sizeof tmp.host)
		return -EINVAL;
	if (!cx->runtime)
		return -EINVAL;
	struct weft__blocking_pool *pool = weft__runtime_dns_blocking(cx->runtime);
	if (!pool)
		return -ESHUTDOWN;
	struct weft__resolve_job *j = weft__calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	memcpy(j->host, r->priv.name, hlen);
	j->host[hlen] = '\0';
	memcpy(j->port, colon + 1, plen + 1);
	int rc = weft__blocking_job_init(&j->job, weft__resolve_run, weft__resolve_free);
	if (rc < 0) {
		weft__free(j);
		return rc;
	}
	rc = weft__blocking_submit(pool, &j->job);
	if (rc < 0) {
		weft__blocking_job_put(&j->job);
		weft__blocking_job_put(&j->job);
		return rc;
	}
	r->priv.job = j;
	return 0;
}

weft_poll weft_resolve_poll(weft_resolve *r, weft_cx *cx)
{
	if (r->priv.done)
		return WEFT_READY;
	if (!r->priv.job && !r->priv.name)
		return weft__resolve_finish(r, -EINVAL);
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	if (!r->priv.job) {
		if (weft_addr_parse(&r->addrs[0], r->priv.name) == 0) {
			r->count = 1;
			return weft__resolve_finish(r, 0);
		}
		int rc = weft__resolve_start(r, cx);
		if (rc < 0)
			return weft__resolve_finish(r, rc);
	}
	int status;
	if (weft__blocking_job_poll(&r->priv.job->job, cx, &status) == WEFT_PENDING) {
		weft_coop_refund(cx);   /* waiting is no progress */
		return WEFT_PENDING;
	}
	struct weft__resolve_job *j = r->priv.job;
	r->priv.job = NULL;
	int result = status;   /* -ECANCELED: the runtime shut down first */
	if (status == 0) {
		memcpy(r->addrs, j->addrs, sizeof r->addrs);
		r->count = j->count;
		result = j->result;
	}
	weft__blocking_job_put(&j->job);
	return weft__resolve_finish(r, result);
}

void weft_resolve_drop(weft_resolve *r)
{
	if (r->priv.job) {
		weft__blocking_job_put(&r->priv.job->job);
		r->priv.job = NULL;
	}
}
