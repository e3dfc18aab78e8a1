/*
 * Kernel features that libfuse 3.14 has no way to ask for.
 *
 * libfuse lets a daemon supply the read and writev used on /dev/fuse
 * (fuse_session_custom_io).  Through them this module sees each raw request
 * header and may amend a reply before it goes to the kernel.  It is the
 * only place that knows the wire format; everything else speaks libfuse.
 *
 * What it amends: the reply to OPEN and CREATE gains FOPEN_STREAM, so a
 * channel file has no file position at all.  Without it the kernel takes
 * the file-position lock of a regular file for every read and write on a
 * shared open file description, and a read blocked in ipcfs would stall a
 * write from another thread or a forked child through the same descriptor
 * (see ../shared/notes/kernel-fuse.md).
 */

#define FUSE_USE_VERSION 312

#include <sys/uio.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <linux/fuse.h>
#include <fuse_lowlevel.h>

#include "ipcfs.h"
#include "fs.h"

/* Requests whose replies are amended; replies follow within one request. */
#define KFEAT_SLOTS	8

static uint64_t	 kfeat_pending[KFEAT_SLOTS];
static unsigned	 kfeat_next;
static uint32_t	 kfeat_open_flags = FOPEN_STREAM;

static ssize_t
kfeat_read(int fd, void *buf, size_t len, void *userdata)
{
	const struct fuse_in_header	*in = buf;
	ssize_t				 n;

	(void)userdata;
	n = read(fd, buf, len);
	if (n < (ssize_t)sizeof *in)
		return (n);
	if (in->opcode == FUSE_OPEN || in->opcode == FUSE_CREATE) {
		kfeat_pending[kfeat_next] = in->unique;
		kfeat_next = (kfeat_next + 1) % KFEAT_SLOTS;
	}
	return (n);
}

/* Take unique off the pending list; true if it was there. */
static int
kfeat_take(uint64_t unique)
{
	unsigned	 i;

	if (unique == 0)
		return (0);
	for (i = 0; i < KFEAT_SLOTS; i++) {
		if (kfeat_pending[i] == unique) {
			kfeat_pending[i] = 0;
			return (1);
		}
	}
	return (0);
}

static ssize_t
kfeat_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	const struct fuse_out_header	*out;
	struct fuse_open_out		 oo;
	struct iovec			 v[3];
	char				 arg[sizeof(struct fuse_entry_out) +
					     sizeof(struct fuse_open_out)];
	size_t				 len;

	(void)userdata;
	if (count != 2 || iov[0].iov_len != sizeof *out)
		return (writev(fd, iov, count));
	out = iov[0].iov_base;
	if (!kfeat_take(out->unique) || out->error != 0)
		return (writev(fd, iov, count));

	/*
	 * The fuse_open_out ends the argument: alone for OPEN, after the
	 * fuse_entry_out for CREATE.  Amend a copy, not libfuse's buffer.
	 */
	len = iov[1].iov_len;
	if (len < sizeof oo || len > sizeof arg)
		return (writev(fd, iov, count));
	memcpy(arg, iov[1].iov_base, len);
	memcpy(&oo, arg + len - sizeof oo, sizeof oo);
	oo.open_flags |= kfeat_open_flags;
	memcpy(arg + len - sizeof oo, &oo, sizeof oo);
	v[0] = iov[0];
	v[1].iov_base = arg;
	v[1].iov_len = len;
	return (writev(fd, v, 2));
}

static const struct fuse_custom_io kfeat_io = {
	.read = kfeat_read,
	.writev = kfeat_writev,
};

/* Put the hooks on a mounted session's /dev/fuse descriptor. */
int
kfeat_install(struct fuse_session *se)
{
	return (fuse_session_custom_io(se, &kfeat_io, fuse_session_fd(se)));
}
