/*
 * weft/fs.h - whole-file reads and writes as futures, run on the
 * runtime's blocking pool (weft/blocking.h).
 *
 * Regular files are always "ready" to epoll, so there is no honest
 * non-blocking file I/O on a reactor; like Tokio, weft runs the blocking
 * calls (open, read, write, close) on a pool thread and wakes the task
 * when they are done. Each call here is one pool job.
 *
 * The futures follow the rules of weft/core.h: init only fills in fields,
 * the first poll starts the work, copying what the job needs (so the
 * caller's path and buffer are borrowed only until the work starts: the
 * first poll, unless the task's budget was already spent; to be safe,
 * until ready or dropped), a zero-filled future is valid (it completes
 * with -EINVAL),
 * drop is idempotent, and each poll takes one unit of the cooperative
 * budget (given back while waiting). Each has a weft_future first member
 * and a typed poll function for WEFT_AWAIT.
 *
 * Dropping a future mid-operation does not stop the pool thread: the
 * operation finishes in the background (a write still lands on disk) and
 * the job frees what it holds. The futures need a runtime: polled with a
 * context that has none, they complete with -EINVAL.
 *
 * Errors are negative errno values from the syscalls (-ENOENT, -EACCES,
 * -EISDIR, -ENOSPC, ...), plus -ENOMEM, -EINVAL (NULL path), -EFBIG (a
 * file too large to hold in memory), -EAGAIN (no pool thread could be
 * started), -ESHUTDOWN (runtime being closed) and -ECANCELED (the runtime
 * was closed before a pool thread took the job).
 */
#ifndef WEFT_FS_H
#define WEFT_FS_H

#include <weft/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A file job on the blocking pool (private). */
struct weft__fs_job;

/**
 * Reads a whole file into memory (Tokio's fs::read). Output, once ready:
 * result (0 or -errno) and, on success, data and len: len bytes, followed
 * by a '\0' that len does not count (so text can be used as a string),
 * allocated with malloc. The caller owns data and frees it with free();
 * drop does not free it (outputs stay readable after drop). On error data
 * is NULL and len 0.
 */
typedef struct weft_fs_read_file {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0, or a negative errno (see the file comment). */
	int result;
	/** Output: the file's bytes plus a '\0'; the caller's, free() it. */
	char *data;
	/** Output: bytes in data, not counting the '\0'. */
	size_t len;
	/** Private: do not touch. */
	struct {
		const char *path;            /* borrowed until the first poll */
		struct weft__fs_job *job;
		bool done;
	} priv;
} weft_fs_read_file;

/** Prepares a read of @path (borrowed until the first poll; does nothing
 *  else). Any thread. */
WEFT_API void weft_fs_read_file_init(weft_fs_read_file *r, const char *path);
/** Polls it (typed form, for WEFT_AWAIT): the first poll submits the
 *  job; READY once result, data and len are set. Takes one unit of the
 *  cooperative budget (given back while waiting). The owner's thread. */
WEFT_API weft_poll weft_fs_read_file_poll(weft_fs_read_file *r, weft_cx *cx);
/** Cancels a read in flight (the pool thread finishes it and frees the
 *  buffer). Idempotent; leaves the outputs (a completed read's data is
 *  still the caller's to free). The owner's thread. */
WEFT_API void weft_fs_read_file_drop(weft_fs_read_file *r);

/**
 * Writes @len bytes from @buf as the whole content of the file @path,
 * creating it (mode 0666 less the umask) or truncating it (Tokio's
 * fs::write). The bytes are copied at the first poll, so @buf, like
 * @path, is borrowed only until then. No fsync: the data is in the page
 * cache when the future is ready. Output: result, 0 or -errno.
 */
typedef struct weft_fs_write_file {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0, or a negative errno (see the file comment). */
	int result;
	/** Private: do not touch. */
	struct {
		const char *path;            /* borrowed until the first poll */
		const void *buf;             /* borrowed until the first poll */
		size_t len;
		struct weft__fs_job *job;
		bool done;
	} priv;
} weft_fs_write_file;

/** Prepares a write of @len bytes of @buf to @path (both borrowed until
 *  the first poll; does nothing else). Any thread. */
WEFT_API void weft_fs_write_file_init(weft_fs_write_file *w, const char *path,
				      const void *buf, size_t len);
/** Polls it (typed form, for WEFT_AWAIT): the first poll copies the bytes
 *  and submits the job; READY once result is set. Takes one unit of the
 *  cooperative budget (given back while waiting). The owner's thread. */
WEFT_API weft_poll weft_fs_write_file_poll(weft_fs_write_file *w, weft_cx *cx);
/** Abandons a write in flight (it still completes in the background).
 *  Idempotent; leaves the output. The owner's thread. */
WEFT_API void weft_fs_write_file_drop(weft_fs_write_file *w);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_FS_H */
