/*
 * unix.c - Unix-domain stream listeners. Their streams are weft_stream
 * (stream.c), accept is the listener's (sock.c), connect is connect.c's.
 */
#include "net_sock.h"

#include <errno.h>

int weft_unix_listen(weft_listener **out, const char *path, int backlog)
{
	if (!out)
		return -EINVAL;
	weft_addr a;
	int rc = weft_addr_unix(&a, path);
	if (rc < 0)
		return rc;
	int fd = weft__sock_bound(&a, SOCK_STREAM, backlog > 0 ? backlog : 0,
				  false, false, false);
	if (fd < 0)
		return fd;
	return weft__listener_new(fd, WEFT__SOCK_UNIX_LISTENER, out);
}
