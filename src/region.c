/*
 * The shared data region of a channel: the bytes an mmap of the channel
 * file maps.  Its size is the file size; write() never touches it.
 *
 * The bytes live in a memfd the daemon owns, created when the region is
 * first sized or opened and closed again once it is empty and unused, so an
 * idle channel holds no descriptor.  In passthrough mode the kernel maps the
 * memfd itself; in page-cache mode the kernel's page cache is the region
 * and the memfd keeps what the kernel writes back.  No FUSE here.
 */

#define _GNU_SOURCE

#include <sys/mman.h>

#include <errno.h>
#include <unistd.h>

#include "ipcfs.h"

static int	region_zero_tail(struct region *, uint64_t);

/* A region of size 0 with no memory behind it. */
void
region_init(struct region *r)
{
	r->size = 0;
	r->fd = -1;
	r->backing_id = 0;
	r->used = 0;
}

/* The region's memfd, created if need be; -1 with errno on failure. */
int
region_fd(struct region *r)
{
	if (r->fd != -1)
		return (r->fd);
	r->fd = memfd_create("ipcfs-region", MFD_CLOEXEC);
	if (r->fd == -1)
		return (-1);
	if (r->size > 0 && ftruncate(r->fd, (off_t)r->size) == -1) {
		close(r->fd);
		r->fd = -1;
		return (-1);
	}
	return (r->fd);
}

/*
 * Set the size.  Growing adds zeros and shrinking drops the tail, as
 * ftruncate does on the memfd.  Fails with EFBIG past the per-channel
 * limit, ENOSPC past the mount's memory limit.
 */
int
region_resize(struct region *r, struct budget *b, uint64_t size)
{
	int	 error;

	if (size > b->max_region)
		return (EFBIG);
	if (size > r->size && size - r->size > budget_left(b))
		return (ENOSPC);
	if (size == r->size)
		return (0);
	if (size > 0 || r->fd != -1) {
		if (region_fd(r) == -1)
			return (errno);
		if (ftruncate(r->fd, (off_t)size) == -1)
			return (errno);
		if (size > r->size && region_zero_tail(r, size) == -1) {
			error = errno;
			/* Back to the size the accounting says it has. */
			if (ftruncate(r->fd, (off_t)r->size) == -1)
				log_warn("%s: ftruncate back", __func__);
			return (error);
		}
	}
	b->region_used = b->region_used - r->size + size;
	if (size > 0)
		r->used = 1;
	if (size < r->size)
		budget_freed(b);
	r->size = size;
	return (0);
}

/*
 * tmpfs keeps what a mapping stored past the end of a file in its last
 * page, and shows it again when the file grows.  Grown space must be zero,
 * so clear the rest of the old last page.
 */
static int
region_zero_tail(struct region *r, uint64_t size)
{
	static const char	 zeros[4096];
	uint64_t		 end;
	long			 page = sysconf(_SC_PAGESIZE);

	if (page <= 0 || (size_t)page > sizeof zeros)
		page = sizeof zeros;
	end = (r->size + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	if (end > size)
		end = size;
	if (end <= r->size)
		return (0);
	if (pwrite(r->fd, zeros, end - r->size, (off_t)r->size) == -1)
		return (-1);
	return (0);
}

/*
 * Drop the memfd of a region that is empty and unopened.  With mapped
 * set, a mapping the daemon cannot see may still hold the memfd, so only a
 * region that never had contents, and so was never mapped, lets it go.
 */
void
region_trim(struct region *r, int mapped)
{
	if (mapped && r->used)
		return;
	if (r->size == 0 && r->fd != -1 && r->backing_id == 0) {
		close(r->fd);
		r->fd = -1;
	}
}

/* Free the region's memory; it must have no backing id left. */
void
region_free(struct region *r, struct budget *b)
{
	b->region_used -= r->size;
	if (r->fd != -1)
		close(r->fd);
	region_init(r);
}

/* Copy region bytes at off into buf, for a page-in; returns the count. */
ssize_t
region_pread(struct region *r, void *buf, size_t len, uint64_t off)
{
	if (off >= r->size || r->fd == -1)
		return (0);
	if (len > r->size - off)
		len = r->size - off;
	return (pread(r->fd, buf, len, (off_t)off));
}

/*
 * Store bytes the kernel wrote back.  The tail of a page past the end of
 * the region is dropped.  Returns the count taken, or -1 with errno.
 */
ssize_t
region_pwrite(struct region *r, const void *buf, size_t len, uint64_t off)
{
	ssize_t	 n;

	if (off >= r->size || r->fd == -1)
		return ((ssize_t)len);
	if (len > r->size - off) {
		n = pwrite(r->fd, buf, r->size - off, (off_t)off);
		return (n == -1 ? -1 : (ssize_t)len);
	}
	return (pwrite(r->fd, buf, len, (off_t)off));
}
