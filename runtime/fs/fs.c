/*
 * fs.c - whole-file read and write futures: each is one job on the
 * runtime's blocking pool (blocking.h), which does the open/read/write/
 * close while the task waits.
 *
 * The job owns copies of everything it touches (the path, the bytes to
 * write, the bytes read), so the future may be dropped at any time: the
 * pool thread finishes with its own copies and the last reference frees
 * them. A read's buffer passes to the future when it takes the result
 * (the job's pointer is cleared first, so the free does not touch it).
 */
#include "sys.h"
#include "blocking.h"
#include "sched_api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <weft/fs.h>

/* Largest single read or write call (Linux caps one at about 2 GiB). */
#define WEFT__FS_CHUNK ((size_t)1 << 30)
/* First buffer for a file whose size fstat does not know (/proc, pipes). */
#define WEFT__FS_FIRST_READ 4096u

struct weft__fs_job {
	struct weft__blocking_job job;   /* first: converted back from it */
	char *data;      /* write: the bytes to write; read: the bytes read */
	size_t len;
	int result;      /* 0 or -errno, written by run */
	char path[];
};

static struct weft__fs_job *weft__fs_job_of(struct weft__blocking_job *bj)
{
	return (struct weft__fs_job *)(void *)bj;
}

static void weft__fs_job_free(struct weft__blocking_job *bj)
{
	struct weft__fs_job *j = weft__fs_job_of(bj);
	weft__free(j->data);
	weft__free(j);
}

/* Grows @*buf (holding @len bytes, room for @*cap plus a '\0') to about
 * twice its size. 0, -ENOMEM or -EFBIG. */
static int weft__fs_grow(char **buf, size_t len, size_t *cap)
{
	if (*cap > (SIZE_MAX - 1) / 2 || *cap * 2 > (size_t)SSIZE_MAX)
		return -EFBIG;
	size_t ncap = *cap * 2;
	char *n = weft__alloc(ncap + 1);
	if (!n)
		return -ENOMEM;
	memcpy(n, *buf, len);
	weft__free(*buf);
	*buf = n;
	*cap = ncap;
	return 0;
}

/* Runs on a pool thread: reads the whole file into a fresh buffer (from
 * weft__alloc, which is malloc: the caller frees it with free()). */
static void weft__fs_read_run(struct weft__blocking_job *bj)
{
	struct weft__fs_job *j = weft__fs_job_of(bj);
	int fd = weft__sys_open(j->path, O_RDONLY);
	if (fd < 0) {
		j->result = fd;
		return;
	}
	/* A regular file's size, plus one byte to see EOF without growing. */
	size_t cap = WEFT__FS_FIRST_READ;
	struct stat st;
	int rc = 0;
	if (weft__sys_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((uint64_t)st.st_size >= (uint64_t)SSIZE_MAX - 1) {
			rc = -EFBIG;
			goto out_close;
		}
		cap = (size_t)st.st_size + 1;
	}
	char *buf = weft__alloc(cap + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out_close;
	}
	size_t len = 0;
	for (;;) {
		if (len == cap) {
			rc = weft__fs_grow(&buf, len, &cap);
			if (rc < 0)
				break;
		}
		size_t want = cap - len < WEFT__FS_CHUNK ? cap - len : WEFT__FS_CHUNK;
		ssize_t n = weft__sys_read(fd, buf + len, want);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			rc = (int)n;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (rc < 0) {
		weft__free(buf);
		goto out_close;
	}
	buf[len] = '\0';
	j->data = buf;
	j->len = len;
out_close:
	weft__sys_close(fd);
	j->result = rc;
}

/* Runs on a pool thread: create or truncate, write everything, close. */
static void weft__fs_write_run(struct weft__blocking_job *bj)
{
	struct weft__fs_job *j = weft__fs_job_of(bj);
	int fd = weft__sys_open_mode(j->path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (fd < 0) {
		j->result = fd;
		return;
	}
	int rc = 0;
	size_t off = 0;
	while (off < j->len) {
		size_t want = j->len - off < WEFT__FS_CHUNK ? j->len - off : WEFT__FS_CHUNK;
		ssize_t n = weft__sys_write(fd, j->data + off, want);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			rc = (int)n;
			break;
		}
		off += (size_t)n;
	}
	/* close can report a deferred write error (NFS, quotas). */
	int crc = weft__sys_close(fd);
	if (rc == 0 && crc < 0 && crc != -EINTR)
		rc = crc;
	j->result = rc;
}

/* Copies the path (and the bytes to write) into a new job and queues it
 * on the runtime's blocking pool. */
static int weft__fs_start(weft_cx *cx, const char *path, const void *buf, size_t len,
			  void (*run)(struct weft__blocking_job *), struct weft__fs_job **out)
{
	if (!cx->runtime)
		return -EINVAL;
	struct weft__blocking_pool *pool = weft__runtime_blocking(cx->runtime);
	if (!pool)
		return -ESHUTDOWN;
	size_t plen = strlen(path);
	if (plen >= PATH_MAX)
		return -ENAMETOOLONG;
	struct weft__fs_job *j = weft__calloc(1, sizeof *j + plen + 1);
	if (!j)
		return -ENOMEM;
	memcpy(j->path, path, plen + 1);
	if (buf && len) {
		j->data = weft__alloc(len);
		if (!j->data) {
			weft__free(j);
			return -ENOMEM;
		}
		memcpy(j->data, buf, len);
		j->len = len;
	}
	int rc = weft__blocking_job_init(&j->job, run, weft__fs_job_free);
	if (rc < 0) {
		weft__free(j->data);
		weft__free(j);
		return rc;
	}
	rc = weft__blocking_submit(pool, &j->job);
	if (rc < 0) {
		/* Both references are ours: the second put frees it. */
		weft__blocking_job_put(&j->job);
		weft__blocking_job_put(&j->job);
		return rc;
	}
	*out = j;
	return 0;
}

/* ------------------------------------------------------------------ read */

static weft_poll weft__fs_read_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_fs_read_file_poll((weft_fs_read_file *)f, cx);
}

static void weft__fs_read_fut_drop(weft_future *f)
{
	weft_fs_read_file_drop((weft_fs_read_file *)f);
}

void weft_fs_read_file_init(weft_fs_read_file *r, const char *path)
{
	*r = (weft_fs_read_file){
		.fut = WEFT_FUTURE(weft__fs_read_fut_poll, weft__fs_read_fut_drop),
		.priv.path = path,
	};
}

static weft_poll weft__fs_read_finish(weft_fs_read_file *r, int result)
{
	r->result = result;
	r->priv.done = true;
	return WEFT_READY;
}

weft_poll weft_fs_read_file_poll(weft_fs_read_file *r, weft_cx *cx)
{
	if (r->priv.done)
		return WEFT_READY;
	if (!r->priv.job && !r->priv.path)
		return weft__fs_read_finish(r, -EINVAL);
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	if (!r->priv.job) {
		int rc = weft__fs_start(cx, r->priv.path, NULL, 0, weft__fs_read_run, &r->priv.job);
		if (rc < 0)
			return weft__fs_read_finish(r, rc);
	}
	int status;
	if (weft__blocking_job_poll(&r->priv.job->job, cx, &status) == WEFT_PENDING) {
		weft_coop_refund(cx);   /* waiting is no progress */
		return WEFT_PENDING;
	}
	struct weft__fs_job *j = r->priv.job;
	r->priv.job = NULL;
	int result = status;   /* -ECANCELED: never ran */
	if (status == 0) {
		result = j->result;
		r->data = j->data;   /* NULL on error */
		r->len = j->len;
		j->data = NULL;      /* now the caller's */
	}
	weft__blocking_job_put(&j->job);
	return weft__fs_read_finish(r, result);
}

void weft_fs_read_file_drop(weft_fs_read_file *r)
{
	if (r->priv.job) {
		weft__blocking_job_put(&r->priv.job->job);
		r->priv.job = NULL;
	}
}

/* ----------------------------------------------------------------- write */

static weft_poll weft__fs_write_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_fs_write_file_poll((weft_fs_write_file *)f, cx);
}

static void weft__fs_write_fut_drop(weft_future *f)
{
	weft_fs_write_file_drop((weft_fs_write_file *)f);
}

void weft_fs_write_file_init(weft_fs_write_file *w, const char *path,
			     const void *buf, size_t len)
{
	*w = (weft_fs_write_file){
		.fut = WEFT_FUTURE(weft__fs_write_fut_poll, weft__fs_write_fut_drop),
		.priv.path = path,
		.priv.buf = buf,
		.priv.len = len,
	};
}

static weft_poll weft__fs_write_finish(weft_fs_write_file *w, int result)
{
	w->result = result;
	w->priv.done = true;
	return WEFT_READY;
}

weft_poll weft_fs_write_file_poll(weft_fs_write_file *w, weft_cx *cx)
{
	if (w->priv.done)
		return WEFT_READY;
	if (!w->priv.job && (!w->priv.path || (!w->priv.buf && w->priv.len)))
		return weft__fs_write_finish(w, -EINVAL);
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	if (!w->priv.job) {
		int rc = weft__fs_start(cx, w->priv.path, w->priv.buf, w->priv.len, weft__fs_write_run,
					&w->priv.job);
		if (rc < 0)
			return weft__fs_write_finish(w, rc);
	}
	int status;
	if (weft__blocking_job_poll(&w->priv.job->job, cx, &status) == WEFT_PENDING) {
		weft_coop_refund(cx);
		return WEFT_PENDING;
	}
	struct weft__fs_job *j = w->priv.job;
	w->priv.job = NULL;
	int result = status == 0 ? j->result : status;
	weft__blocking_job_put(&j->job);
	return weft__fs_write_finish(w, result);
}

void weft_fs_write_file_drop(weft_fs_write_file *w)
{
	if (w->priv.job) {
		weft__blocking_job_put(&w->priv.job->job);
		w->priv.job = NULL;
	}
}
